/* SPDX-License-Identifier: MIT */
/*
 * What zbak backup and zbak prune share: the strict settings of the
 * config file, the run lock, logging to stderr and syslog, the clock, and
 * opening each job's repository.
 *
 * Logging: every message goes to stderr.  It also goes to syslog (ident
 * "zbak", facility LOG_DAEMON), except when stderr is the systemd journal
 * ($JOURNAL_STREAM names the device and inode of our stderr): journald
 * records stderr already, and a second copy through syslog would double
 * every line.  So a run from cron, or by hand, is in syslog; a run as a
 * systemd service is in the journal once.  ZBAK_SYSLOG=0 turns syslog off.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "backup/clock.h"
#include "cli.h"
#include "nightly.h"

static bool use_syslog;

static bool stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (!js || sscanf(js, "%llu:%llu", &dev, &ino) != 2)
		return false;
	return fstat(STDERR_FILENO, &st) == 0 &&
	       (unsigned long long)st.st_dev == dev &&
	       (unsigned long long)st.st_ino == ino;
}

void nightly_log_open(void)
{
	const char *e = getenv("ZBAK_SYSLOG");

	use_syslog = !(e && !strcmp(e, "0")) && !stderr_is_journal();
	if (use_syslog)
		openlog("zbak", LOG_PID, LOG_DAEMON);
}

void nightly_log_close(void)
{
	if (use_syslog)
		closelog();
	use_syslog = false;
}

void nlog(int prio, FILE *to, const char *fmt, ...)
{
	char line[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (to == stderr)
		fprintf(stderr, "%s: %s\n", progname, line);
	else if (to) {
		fprintf(to, "%s\n", line);
		fflush(to);
	}
	if (use_syslog)
		syslog(prio, "%s", line);
}

int nightly_load(const char *opt_config, struct bk_config **cfg,
		 struct bk_settings **set, const char **path)
{
	struct bk_error err;

	*cfg = NULL;
	*set = NULL;
	*path = opt_config ? opt_config
			   : (g.config ? g.config : bk_config_default_path());
	if (!*path) {
		msg("no configuration file: give --config FILE, set "
		    "ZBAK_CONFIG, or write /etc/zbak/zbak.conf");
		return EXIT_USAGE;
	}
	if (bk_config_load(*path, cfg, &err)) {
		msg("%s", err.msg);
		return EXIT_USAGE;
	}
	if (bk_settings_load(*cfg, *path, set, &err)) {
		msg("%s", err.msg);
		bk_config_free(*cfg);
		*cfg = NULL;
		return EXIT_USAGE;
	}
	return EXIT_OK;
}

int nightly_select(const struct bk_settings *set, const char *path, int argc,
		   char **argv, bool *chosen)
{
	for (size_t j = 0; j < set->njobs; j++)
		chosen[j] = argc == 0;
	for (int i = 0; i < argc; i++) {
		bool found = false;

		for (size_t j = 0; j < set->njobs; j++)
			if (!strcmp(set->jobs[j].name, argv[i]))
				chosen[j] = found = true;
		if (!found) {
			char names[1024] = "";
			size_t k = 0;

			for (size_t j = 0; j < set->njobs && k < sizeof(names);
			     j++)
				k += (size_t)snprintf(names + k,
						      sizeof(names) - k, "%s%s",
						      j ? ", " : "",
						      set->jobs[j].name);
			msg("%s: no [job %s] (the jobs: %s)", path, argv[i],
			    names);
			return EXIT_USAGE;
		}
	}
	return EXIT_OK;
}

static int mkdirs(const char *dir)
{
	char buf[BK_JOB_PATH_MAX];

	snprintf(buf, sizeof(buf), "%s", dir);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) != 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return mkdir(buf, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

int nightly_lock(const struct bk_settings *set, int *fd_out)
{
	char path[BK_JOB_PATH_MAX], dir[BK_JOB_PATH_MAX], *slash;
	unsigned wait = set->lock_wait;
	struct timespec t0, now;
	int fd;

	*fd_out = -1;
	if (set->lock_file[0]) {
		snprintf(path, sizeof(path), "%s", set->lock_file);
	} else if (geteuid() == 0) {
		snprintf(path, sizeof(path), "/run/zbak/zbak.lock");
	} else if (getenv("XDG_RUNTIME_DIR") && *getenv("XDG_RUNTIME_DIR")) {
		snprintf(path, sizeof(path), "%s/zbak/zbak.lock",
			 getenv("XDG_RUNTIME_DIR"));
	} else {
		snprintf(path, sizeof(path), "%s/.cache/zbak/zbak.lock",
			 getenv("HOME") ? getenv("HOME") : "");
	}
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if (mkdirs(dir) != 0) {
			nlog(LOG_ERR, stderr, "cannot create %s for the lock: %s",
			     dir, strerror(errno));
			return EXIT_FAIL;
		}
	}
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0) {
		nlog(LOG_ERR, stderr, "cannot open the lock file %s: %s", path,
		     strerror(errno));
		return EXIT_FAIL;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct timespec pause = { 0, 100 * 1000 * 1000 };

		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			break;
		if (errno != EWOULDBLOCK && errno != EINTR) {
			nlog(LOG_ERR, stderr, "cannot lock %s: %s", path,
			     strerror(errno));
			close(fd);
			return EXIT_FAIL;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		if ((double)(now.tv_sec - t0.tv_sec) +
			    (double)(now.tv_nsec - t0.tv_nsec) / 1e9 >=
		    (double)wait) {
			char holder[32] = "";
			ssize_t n = pread(fd, holder, sizeof(holder) - 1, 0);

			holder[n > 0 ? n : 0] = '\0';
			holder[strcspn(holder, "\n")] = '\0';
			nlog(LOG_ERR, stderr,
			     "another zbak run holds %s%s%s%s; waited %u s "
			     "(lock_wait): giving up",
			     path, holder[0] ? " (pid " : "", holder,
			     holder[0] ? ")" : "", wait);
			close(fd);
			return EXIT_LOCKED;
		}
		nanosleep(&pause, NULL);
	}
	/* who holds it, for the message of the one that waits */
	if (ftruncate(fd, 0) == 0) {
		char pid[32];
		int n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());

		if (pwrite(fd, pid, (size_t)n, 0) != n)
			(void)0; /* only for messages */
	}
	*fd_out = fd;
	return EXIT_OK;
}

void nightly_unlock(int fd)
{
	if (fd < 0)
		return;
	/* no stale pid for the next one that waits */
	if (ftruncate(fd, 0) != 0)
		(void)0;
	close(fd); /* the flock goes with it */
}

/* As for every command: the command line and the environment win over
 * the config (for one run); then the job's own, then [zbak]'s. */
const char *nightly_repo_url(const struct bk_settings *set,
			     const struct bk_job *job)
{
	if (g.repo && *g.repo)
		return g.repo;
	if (getenv("ZBAK_REPO") && *getenv("ZBAK_REPO"))
		return getenv("ZBAK_REPO");
	if (job->repository[0])
		return job->repository;
	if (set->repository[0])
		return set->repository;
	return NULL;
}

static const char *pass_file(const struct bk_settings *set,
			     const struct bk_job *job)
{
	bool decided;
	const char *f = passphrase_env_file(&decided);

	if (decided)
		return f; /* NULL: get_passphrase takes what was chosen */
	if (job->passphrase_file[0])
		return job->passphrase_file;
	if (set->passphrase_file[0])
		return set->passphrase_file;
	return NULL;
}

/* What the library worked around: a warning in the log. */
static void nightly_warn(void *ctx, const char *line)
{
	(void)ctx;
	nlog(LOG_WARNING, stderr, "warning: %s", line);
}

enum bk_code nightly_open_repo(const struct bk_settings *set,
			       const struct bk_job *job,
			       const struct bk_config *cfg,
			       struct bk_repo **out, struct bk_error *err)
{
	const char *url = nightly_repo_url(set, job);
	struct secret s;
	enum bk_code rc;

	*out = NULL;
	if (!url)
		return bk_error_set(err, BK_ERR_USAGE,
				    "[job %s]: no repository (set repository "
				    "in [zbak] or in the job, or give -r)",
				    job->name);
	memset(&s, 0, sizeof(s));
	/* the passphrase never goes through argv or a log line */
	if (get_passphrase("ZBAK_PASSPHRASE", pass_file(set, job),
			   passphrase_command(), false,
			   "repository passphrase", &s))
		return bk_error_set(err, BK_ERR_USAGE,
				    "[job %s]: no passphrase for %s", job->name,
				    url);
	rc = bk_repo_open_config(url, cfg, s.buf, s.len, out, err);
	secret_wipe(&s);
	if (!rc)
		bk_repo_set_warn(*out, nightly_warn, NULL);
	if (!rc && g.admin)
		bk_repo_admin(*out);
	return rc;
}

void nightly_hook(const struct bk_settings *set, const char *event,
		  int status, const void *json, size_t len)
{
	const char *cmd = bk_hook_command(set, status);
	char ev[64], st[32];
	const char *env[] = { ev, st, NULL };
	struct bk_error err;

	if (!cmd)
		return;
	/* for a hook that wants no JSON parser: what and how it ended */
	snprintf(ev, sizeof(ev), "ZBAK_EVENT=%s", event);
	snprintf(st, sizeof(st), "ZBAK_EXIT=%d", status);
	if (bk_hook_run(cmd, env, json, len, set->hook_timeout, &err))
		nlog(LOG_WARNING, stderr, "warning: %s hook: %s",
		     status ? "on_failure" : "on_success", err.msg);
}

bool nightly_same_repo(const struct bk_settings *set, const struct bk_job *a,
		       const struct bk_job *b)
{
	const char *ua = nightly_repo_url(set, a), *ub = nightly_repo_url(set, b);
	const char *pa = pass_file(set, a), *pb = pass_file(set, b);

	return ua && ub && !strcmp(ua, ub) &&
	       ((!pa && !pb) || (pa && pb && !strcmp(pa, pb)));
}

int nightly_begin(const char *opt_config, int argc, char **argv, bool json,
		  bool dry_run, struct nightly *nt)
{
	int ret;

	memset(nt, 0, sizeof(*nt));
	nt->lockfd = -1;
	if ((ret = nightly_load(opt_config, &nt->cfg, &nt->set, &nt->path)))
		return ret;
	nt->chosen = calloc(nt->set->njobs + 1, sizeof(*nt->chosen));
	nt->done = calloc(nt->set->njobs + 1, sizeof(*nt->done));
	if (!nt->chosen || !nt->done) {
		msg("out of memory");
		return EXIT_FAIL;
	}
	if ((ret = nightly_select(nt->set, nt->path, argc, argv, nt->chosen)))
		return ret;
	if (nt->set->njobs == 0 && !json && !g.quiet)
		printf("%s has no [job NAME] section: nothing to do\n", nt->path);
	nightly_log_open();
	if (!dry_run && (ret = nightly_lock(nt->set, &nt->lockfd)))
		return ret;
	nt->now = bk_now();
	return EXIT_OK;
}

void nightly_end(struct nightly *nt)
{
	nightly_unlock(nt->lockfd);
	nightly_log_close();
	free(nt->chosen);
	free(nt->done);
	bk_settings_free(nt->set);
	bk_config_free(nt->cfg);
	memset(nt, 0, sizeof(*nt));
	nt->lockfd = -1;
}
