/* SPDX-License-Identifier: MIT */
/*
 * The zfs command as child processes (include/backup/zfs.h).
 *
 * A child is started with posix_spawnp from an argv array, in a process
 * group of its own, with default handling of the signals zbak might
 * change and an empty signal mask.  Its standard error goes to a pipe that
 * a thread drains, keeping the first 4 KiB (zfs says the cause first; a
 * chatty child never blocks on it, whatever the caller does with its other
 * pipes); its standard output is a pipe for list and send, /dev/null
 * otherwise; its standard input a pipe for receive, /dev/null otherwise.
 * Every descriptor of ours is close-on-exec, so one child never holds
 * another's pipe open.
 *
 * Every zfs: the forms used are those that OpenZFS 2.x and the 2010
 * OpenSolaris zfs of zfs-fuse 0.7 both understand.  Numbers come from
 * `zfs get -H -p` (zfs-fuse's `zfs list` has no -p, and prints a guid as
 * "2.84E" without it); a dataset's snapshots from `zfs get -d 1` (zfs-fuse's
 * `zfs list -t snapshot DS` refuses a file system); what `zfs send` takes
 * from the usage text that `zfs` prints without arguments (both print
 * every subcommand's synopsis), once per process.  README.md has the
 * table of what differs.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "backup/buf.h"
#include "backup/zfs.h"

extern char **environ;

#define LIST_MAX (256u << 20) /* bytes of zfs list output we accept */
#define MAX_ARGS 12

struct child {
	pid_t pid; /* -1 once reaped (or never started) */
	int in;    /* write end of its stdin, or -1 */
	int out;   /* read end of its stdout, or -1 */
	int err;   /* read end of its stderr, or -1 */
	pthread_t drainer;
	bool draining;
	int status; /* from waitpid, once reaped */
	char head[BK_ZFS_STDERR_KEEP]; /* the first bytes of its stderr */
	size_t head_len;
	uint64_t err_bytes; /* all of them */
	char what[160]; /* "zfs receive pool/fs", for messages */
};

const char *bk_zfs_command(void)
{
	const char *c = getenv("ZBAK_ZFS");

	return c && *c ? c : "zfs";
}

static bool executable(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
	       access(path, X_OK) == 0;
}

bool bk_zfs_available(void)
{
	const char *cmd = bk_zfs_command();
	const char *path = getenv("PATH");
	char buf[4096];

	if (strchr(cmd, '/'))
		return executable(cmd);
	if (!path)
		path = "/usr/local/bin:/usr/bin:/bin";
	while (*path) {
		const char *end = strchr(path, ':');
		size_t n = end ? (size_t)(end - path) : strlen(path);
		int w;

		/* an empty element is the current directory */
		w = snprintf(buf, sizeof(buf), "%.*s%s%s", (int)n, path,
			     n ? "/" : "", cmd);
		if (w > 0 && (size_t)w < sizeof(buf) && executable(buf))
			return true;
		if (!end)
			break;
		path = end + 1;
	}
	return false;
}

/* Names go into argv: refuse what zfs could take for an option. */
static enum bk_code check_name(const char *what, const char *name,
			       struct bk_error *err)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0)
		return bk_error_set(err, BK_ERR_USAGE, "%s: empty name", what);
	if (name[0] == '-')
		return bk_error_set(err, BK_ERR_USAGE,
				    "%s: '%s' is not a dataset name", what,
				    name);
	if (n > BK_ZFS_NAME_MAX)
		return bk_error_set(err, BK_ERR_USAGE,
				    "%s: name longer than %u bytes: %.40s...",
				    what, BK_ZFS_NAME_MAX, name);
	return BK_OK;
}

/* ---- standard error ------------------------------------------------------ */

static void *drain(void *arg)
{
	struct child *c = arg;
	char buf[4096];

	for (;;) {
		ssize_t n = read(c->err, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		c->err_bytes += (uint64_t)n;
		if (c->head_len < sizeof(c->head)) {
			size_t k = sizeof(c->head) - c->head_len;

			if (k > (size_t)n)
				k = (size_t)n;
			memcpy(c->head + c->head_len, buf, k);
			c->head_len += k;
		}
	}
	return NULL;
}

/* Does line l (n bytes, leading blanks gone) start zfs's usage text? */
static bool usage_line(const char *l, size_t n)
{
	return n >= 6 && strncasecmp(l, "usage:", 6) == 0;
}

/*
 * What the child said, for a message: the first lines of its standard
 * error, blank ones skipped and nothing from a "usage:" line on (zfs
 * follows a bad option with its whole usage text; the cause is the line
 * before it), joined with "; ", control characters as '?', "..." at the
 * end when cut.  Only after the drainer was joined.  n > 4.
 */
static void said(const struct child *c, char *out, size_t n)
{
	const char *p = c->head, *end = c->head + c->head_len;
	size_t len = 0, room = n - 4; /* for "..." and the NUL */
	bool more = c->err_bytes > c->head_len; /* beyond what was kept */

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *b = p, *le = nl ? nl : end;

		p = nl ? nl + 1 : end;
		while (b < le && (*b == ' ' || *b == '\t'))
			b++;
		while (le > b && (le[-1] == '\r' || le[-1] == ' ' ||
				  le[-1] == '\t'))
			le--;
		if (le == b)
			continue;
		if (usage_line(b, (size_t)(le - b))) {
			more = false; /* the rest is the usage text */
			break;
		}
		if (len && len + 2 <= room) {
			out[len++] = ';';
			out[len++] = ' ';
		}
		for (; b < le && len < room; b++) {
			unsigned char ch = (unsigned char)*b;

			out[len++] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
		}
		if (b < le) {
			more = true;
			break;
		}
	}
	out[len] = '\0';
	if (more && len)
		memcpy(out + len, "...", 4);
}

/* "exit 1", "killed by signal 9" */
static void describe_status(int status, char *out, size_t n)
{
	if (WIFEXITED(status))
		snprintf(out, n, "exit %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(out, n, "killed by signal %d", WTERMSIG(status));
	else
		snprintf(out, n, "status %#x", (unsigned)status);
}

/* ---- starting and reaping ------------------------------------------------ */

/* The environment without zbak's secrets; the strings are borrowed. */
static char **child_env(void)
{
	static const char *const secret[] = {
		"ZBAK_PASSPHRASE=", "ZBAK_NEW_PASSPHRASE=",
		"AWS_SECRET_ACCESS_KEY=", "AWS_SESSION_TOKEN=",
	};
	size_t n = 0, k = 0;
	char **env;

	while (environ && environ[n])
		n++;
	env = calloc(n + 1, sizeof(*env));
	if (!env)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		bool drop = false;

		for (size_t s = 0; s < sizeof(secret) / sizeof(secret[0]); s++)
			if (strncmp(environ[i], secret[s], strlen(secret[s])) ==
			    0)
				drop = true;
		if (!drop)
			env[k++] = environ[i];
	}
	env[k] = NULL;
	return env;
}

static void child_init(struct child *c)
{
	memset(c, 0, sizeof(*c));
	c->pid = -1;
	c->in = c->out = c->err = -1;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* Move a descriptor of ours off 0-2, where a dup2 onto the child's
 * standard descriptors could clobber it (zbak started with one closed). */
static void off_std(int *fd)
{
	if (*fd >= 0 && *fd <= 2) {
		int n = fcntl(*fd, F_DUPFD_CLOEXEC, 3);

		close(*fd);
		*fd = n;
	}
}

/* What child_start gives the child besides /dev/null. */
enum {
	CH_IN = 1u << 0,    /* a pipe on its stdin (c->in) */
	CH_OUT = 1u << 1,   /* a pipe on its stdout (c->out) */
	CH_MERGE = 1u << 2, /* with CH_OUT: its stderr into the same pipe */
};

/* argv[0] is replaced by the command; argv ends with NULL. */
static enum bk_code child_start(struct child *c, const char **argv,
				unsigned how, struct bk_error *err)
{
	bool want_in = how & CH_IN, want_out = how & CH_OUT;
	bool merge = want_out && (how & CH_MERGE);
	int inp[2] = { -1, -1 }, outp[2] = { -1, -1 }, errp[2] = { -1, -1 };
	int devnull = -1;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	bool fa_ok = false, attr_ok = false;
	sigset_t none, def;
	char **env = NULL;
	enum bk_code rc = BK_OK;
	size_t o = 0;
	int e;

	argv[0] = bk_zfs_command();
	/* "zfs receive pool/fs" for messages: the words up to the first
	 * option-like argument would lose the target; use all of them */
	for (size_t i = 0; argv[i] && o + 1 < sizeof(c->what); i++) {
		int w = snprintf(c->what + o, sizeof(c->what) - o, "%s%s",
				 i ? " " : "", i ? argv[i] : "zfs");

		if (w < 0)
			break;
		o += (size_t)w;
	}
	if (o >= sizeof(c->what))
		c->what[sizeof(c->what) - 1] = '\0';

	env = child_env();
	if (!env) {
		rc = bk_error_set(err, BK_ERR_NOMEM, "out of memory");
		goto out;
	}
	if ((want_in && pipe2(inp, O_CLOEXEC) != 0) ||
	    (want_out && pipe2(outp, O_CLOEXEC) != 0) ||
	    (!merge && pipe2(errp, O_CLOEXEC) != 0)) {
		rc = bk_error_set(err, BK_ERR_IO, "%s: pipe: %s", c->what,
				  strerror(errno));
		goto out;
	}
	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	off_std(&inp[0]);
	off_std(&outp[1]);
	off_std(&errp[1]);
	off_std(&devnull);
	if (devnull < 0 || (want_in && inp[0] < 0) ||
	    (want_out && outp[1] < 0) || (!merge && errp[1] < 0)) {
		rc = bk_error_set(err, BK_ERR_IO, "open /dev/null: %s",
				  strerror(errno));
		goto out;
	}
	if (posix_spawn_file_actions_init(&fa) != 0 ||
	    posix_spawnattr_init(&attr) != 0) {
		rc = bk_error_set(err, BK_ERR_NOMEM, "out of memory");
		goto out;
	}
	fa_ok = attr_ok = true;
	posix_spawn_file_actions_adddup2(&fa, want_in ? inp[0] : devnull, 0);
	posix_spawn_file_actions_adddup2(&fa, want_out ? outp[1] : devnull, 1);
	posix_spawn_file_actions_adddup2(&fa, merge ? outp[1] : errp[1], 2);
	sigemptyset(&none);
	sigemptyset(&def);
	sigaddset(&def, SIGPIPE);
	sigaddset(&def, SIGINT);
	sigaddset(&def, SIGTERM);
	sigaddset(&def, SIGHUP);
	sigaddset(&def, SIGQUIT);
	sigaddset(&def, SIGCHLD);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &def);
	/* its own group: abort kills whatever it started too */
	posix_spawnattr_setpgroup(&attr, 0);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK |
						POSIX_SPAWN_SETSIGDEF |
						POSIX_SPAWN_SETPGROUP);
	e = posix_spawnp(&c->pid, argv[0], &fa, &attr, (char *const *)argv,
			 env);
	if (e != 0) {
		c->pid = -1;
		if (e == ENOENT)
			rc = bk_error_set(err, BK_ERR_NOTFOUND,
					  "%s: command not found (is ZFS "
					  "installed? $ZBAK_ZFS names another "
					  "command)",
					  argv[0]);
		else
			rc = bk_error_set(err, BK_ERR_IO, "cannot run %s: %s",
					  argv[0], strerror(e));
		goto out;
	}
	c->in = inp[1];
	inp[1] = -1;
	c->out = outp[0];
	outp[0] = -1;
	c->err = errp[0];
	errp[0] = -1;
	close_fd(&errp[1]); /* before the drainer waits for EOF on it */
	if (merge)
		goto out;
	e = pthread_create(&c->drainer, NULL, drain, c);
	if (e != 0) {
		rc = bk_error_set(err, BK_ERR_IO, "%s: thread: %s", c->what,
				  strerror(e));
		goto out;
	}
	c->draining = true;
out:
	if (fa_ok)
		posix_spawn_file_actions_destroy(&fa);
	if (attr_ok)
		posix_spawnattr_destroy(&attr);
	close_fd(&devnull);
	close_fd(&inp[0]);
	close_fd(&inp[1]);
	close_fd(&outp[0]);
	close_fd(&outp[1]);
	close_fd(&errp[0]);
	close_fd(&errp[1]);
	free(env);
	return rc;
}

/* Close our pipes, wait for the child (once) and its stderr. */
static void child_reap(struct child *c)
{
	close_fd(&c->in);
	close_fd(&c->out);
	if (c->pid > 0) {
		pid_t r;

		do
			r = waitpid(c->pid, &c->status, 0);
		while (r < 0 && errno == EINTR);
		if (r < 0)
			c->status = 0xff00; /* "exit 255": cannot know */
		c->pid = -1;
	}
	if (c->draining) {
		pthread_join(c->drainer, NULL);
		c->draining = false;
	}
	close_fd(&c->err);
}

static void child_kill(struct child *c)
{
	close_fd(&c->in);
	close_fd(&c->out);
	if (c->pid > 0) {
		/* the group (a wrapper's children too), and the child itself
		 * in case it has not made its group yet */
		kill(-c->pid, SIGKILL);
		kill(c->pid, SIGKILL);
	}
	child_reap(c);
}

/* After reaping: BK_OK for exit 0, else an error quoting stderr. */
static enum bk_code child_status(const struct child *c, const char *verb,
				 struct bk_error *err)
{
	char st[48], text[300]; /* with what and st, fits a bk_error */

	if (WIFEXITED(c->status) && WEXITSTATUS(c->status) == 0)
		return BK_OK;
	describe_status(c->status, st, sizeof(st));
	said(c, text, sizeof(text));
	if (WIFEXITED(c->status) && WEXITSTATUS(c->status) == 127 &&
	    !text[0])
		return bk_error_set(err, BK_ERR_NOTFOUND, "%s %s (%s)", c->what,
				    verb, st);
	return bk_error_set(err,
			    strstr(text, "does not exist") ? BK_ERR_NOTFOUND
							    : BK_ERR_IO,
			    "%s %s (%s)%s%s", c->what, verb, st,
			    text[0] ? ": " : "", text);
}

/*
 * Run to the end, stdout (with how = CH_OUT | CH_MERGE, stderr too) into
 * *out when out is not NULL; c is left reaped, with its status and
 * standard error, for the caller to judge (child_status).  BK_OK unless it
 * could not be run or read.
 */
static enum bk_code run_child(struct child *c, const char **argv,
			      unsigned how, struct bk_buf *out,
			      struct bk_error *err)
{
	enum bk_code rc;

	child_init(c);
	rc = child_start(c, argv, out ? how | CH_OUT : 0, err);
	while (!rc && out) {
		size_t want = out->max - out->len < 65536 ? out->max - out->len
							  : 65536;
		size_t room;
		ssize_t n;

		if (want == 0) {
			rc = bk_error_set(err, BK_ERR_LIMIT,
					  "%s: more than %zu bytes of output",
					  c->what, out->max);
			break;
		}
		rc = bk_buf_reserve(out, want, err);
		if (rc)
			break;
		room = out->cap - out->len - 1; /* the NUL's byte stays */
		if (room > out->max - out->len)
			room = out->max - out->len;
		n = read(c->out, out->data + out->len, room);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = bk_error_set(err, BK_ERR_IO, "%s: read: %s",
					  c->what, strerror(errno));
			break;
		}
		if (n == 0)
			break;
		out->len += (size_t)n;
	}
	if (rc) {
		child_kill(c);
		return rc;
	}
	child_reap(c);
	if (out && out->data)
		out->data[out->len] = '\0';
	return BK_OK;
}

/* Run to the end; stdout into *out when out is not NULL; BK_OK only for
 * exit 0. */
static enum bk_code run(const char **argv, struct bk_buf *out,
			struct bk_error *err)
{
	struct child c;
	enum bk_code rc = run_child(&c, argv, 0, out, err);

	return rc ? rc : child_status(&c, "failed", err);
}

/* ---- list ------------------------------------------------------------------ */

enum bk_code bk_zfs_exists(const char *name, bool *exists, struct bk_error *err)
{
	const char *argv[MAX_ARGS] = { NULL, "list", "-H", "-o", "name", name,
				       NULL };
	struct bk_buf out;
	enum bk_code rc;

	*exists = false;
	rc = check_name("zfs list", name, err);
	if (rc)
		return rc;
	bk_buf_init(&out, 1u << 20);
	rc = run(argv, &out, err);
	bk_buf_release(&out);
	if (rc == BK_OK)
		*exists = true;
	/* "cannot open 'x': dataset does not exist", but not a missing
	 * command, which is an error */
	if (rc == BK_ERR_NOTFOUND && err && strstr(err->msg, "does not exist")) {
		bk_error_clear(err);
		rc = BK_OK;
	}
	return rc;
}

/* Does a line (from..end) start with word w followed by a blank or its end? */
static bool starts_word(const char *l, const char *end, const char *w)
{
	size_t n = strlen(w);

	return (size_t)(end - l) >= n && memcmp(l, w, n) == 0 &&
	       ((size_t)(end - l) == n || l[n] == ' ' || l[n] == '\t');
}

void bk_zfs_parse_usage(const char *text, size_t len, struct bk_zfs_caps *out)
{
	const char *p = text, *end = text + len;
	bool in_send = false;
	size_t k = 0;

	memset(out, 0, sizeof(*out));
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *l = p, *le = nl ? nl : end;

		p = nl ? nl + 1 : end;
		while (l < le && (*l == ' ' || *l == '\t'))
			l++;
		if (starts_word(l, le, "send")) {
			in_send = true;
			out->known = true;
		} else if (!(l < le && (*l == '[' || *l == '<'))) {
			in_send = false; /* not a continuation line */
		}
		if (!in_send)
			continue;
		/* every "[-letters" group: the options of the synopsis */
		for (const char *q = l; q + 1 < le; q++) {
			if (q[0] != '[' || q[1] != '-')
				continue;
			for (q += 2; q < le && ((*q >= 'a' && *q <= 'z') ||
						(*q >= 'A' && *q <= 'Z'));
			     q++)
				if (!memchr(out->send_opts, *q, k) &&
				    k + 1 < sizeof(out->send_opts))
					out->send_opts[k++] = *q;
			q--;
		}
	}
	out->send_opts[k] = '\0';
}

bool bk_zfs_send_takes(const struct bk_zfs_caps *caps, char opt)
{
	return !caps->known || (opt && strchr(caps->send_opts, opt));
}

/*
 * What this process learned of the zfs command, for the command it was
 * learned of ($ZBAK_ZFS may change, in tests): the usage text, read once,
 * and whether `zfs get` knows createtxg (assumed until it says otherwise).
 */
static struct {
	pthread_mutex_t mu;
	char cmd[4096];
	bool have_caps;
	struct bk_zfs_caps caps;
	bool no_createtxg;
} learned = { .mu = PTHREAD_MUTEX_INITIALIZER };

/* Under learned.mu: forget what belongs to another command. */
static void learned_for_command(void)
{
	const char *cmd = bk_zfs_command();

	if (strncmp(learned.cmd, cmd, sizeof(learned.cmd)) != 0) {
		snprintf(learned.cmd, sizeof(learned.cmd), "%s", cmd);
		learned.have_caps = false;
		learned.no_createtxg = false;
	}
}

enum bk_code bk_zfs_caps(struct bk_zfs_caps *out, struct bk_error *err)
{
	const char *argv[MAX_ARGS] = { NULL, NULL };
	struct child c;
	struct bk_buf buf;
	enum bk_code rc = BK_OK;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&learned.mu);
	learned_for_command();
	if (learned.have_caps) {
		*out = learned.caps;
		goto out;
	}
	/* `zfs` alone prints the synopsis of every subcommand (and exits 2) */
	bk_buf_init(&buf, 1u << 20);
	rc = run_child(&c, argv, CH_MERGE, &buf, err);
	if (!rc && WIFEXITED(c.status) && WEXITSTATUS(c.status) == 127 &&
	    buf.len == 0)
		rc = bk_error_set(err, BK_ERR_NOTFOUND,
				  "%s: command not found", bk_zfs_command());
	if (!rc) {
		bk_zfs_parse_usage(buf.data ? (const char *)buf.data : "",
				   buf.len, out);
		learned.caps = *out;
		learned.have_caps = true;
	}
	bk_buf_release(&buf);
out:
	pthread_mutex_unlock(&learned.mu);
	return rc;
}

static enum bk_code parse_u64(const char *p, size_t n, uint64_t *v)
{
	uint64_t x = 0;

	if (n == 0 || n > 20)
		return BK_ERR_FORMAT;
	for (size_t i = 0; i < n; i++) {
		unsigned d;

		if (p[i] < '0' || p[i] > '9')
			return BK_ERR_FORMAT;
		d = (unsigned)(p[i] - '0');
		if (x > (UINT64_MAX - d) / 10)
			return BK_ERR_FORMAT;
		x = x * 10 + d;
	}
	*v = x;
	return BK_OK;
}

/* The entry being filled is complete: it must have had a guid. */
static enum bk_code snap_done(const struct bk_zfs_snap *s, bool have_guid,
			      size_t line, struct bk_error *err)
{
	if (have_guid)
		return BK_OK;
	return bk_error_set(err, BK_ERR_FORMAT,
			    "zfs get output, before line %zu: no guid for %s",
			    line, s->name);
}

enum bk_code bk_zfs_parse_snapshots(const char *text, size_t len,
				    struct bk_zfs_snap **out, size_t *n,
				    struct bk_error *err)
{
	struct bk_zfs_snap *v = NULL;
	size_t nv = 0, cap = 0, line = 0, pos = 0;
	bool have_guid = true;
	enum bk_code rc = BK_OK;

	*out = NULL;
	*n = 0;
	while (pos < len) {
		const char *l = text + pos, *nl, *t1, *t2, *end, *val;
		size_t ll, nlen, plen, vlen;
		uint64_t x = 0, *field = NULL;

		line++;
		nl = memchr(l, '\n', len - pos);
		ll = nl ? (size_t)(nl - l) : len - pos;
		pos += ll + (nl ? 1 : 0);
		end = l + ll;
		t1 = memchr(l, '\t', ll);
		t2 = t1 ? memchr(t1 + 1, '\t', (size_t)(end - t1 - 1)) : NULL;
		if (!t1 || !t2) {
			rc = bk_error_set(err, BK_ERR_FORMAT,
					  "zfs get output, line %zu: expected "
					  "name, property and value separated "
					  "by tabs",
					  line);
			goto out;
		}
		nlen = (size_t)(t1 - l);
		plen = (size_t)(t2 - t1 - 1);
		val = t2 + 1;
		vlen = (size_t)(end - val);
		if (nlen == 0 || nlen > BK_ZFS_NAME_MAX || memchr(l, '\0', nlen)) {
			rc = bk_error_set(err, BK_ERR_FORMAT,
					  "zfs get output, line %zu: not a "
					  "dataset name (at most %u bytes)",
					  line, BK_ZFS_NAME_MAX);
			goto out;
		}
		if (!memchr(l, '@', nlen))
			continue; /* the dataset itself, a child, a bookmark */
		/* which field, if any (others are left alone) */
		if (!(plen == 4 && memcmp(t1 + 1, "guid", 4) == 0) &&
		    !(plen == 9 && memcmp(t1 + 1, "createtxg", 9) == 0) &&
		    !(plen == 8 && memcmp(t1 + 1, "userrefs", 8) == 0))
			continue;
		if (!nv || strlen(v[nv - 1].name) != nlen ||
		    memcmp(v[nv - 1].name, l, nlen) != 0) {
			if (nv && (rc = snap_done(&v[nv - 1], have_guid, line,
						  err)))
				goto out;
			if (nv == cap) {
				size_t nc = cap ? cap * 2 : 16;
				struct bk_zfs_snap *nvp =
					realloc(v, nc * sizeof(*nvp));

				if (!nvp) {
					rc = bk_error_set(err, BK_ERR_NOMEM,
							  "out of memory");
					goto out;
				}
				v = nvp;
				cap = nc;
			}
			memset(&v[nv], 0, sizeof(v[nv]));
			memcpy(v[nv].name, l, nlen);
			nv++;
			have_guid = false;
		}
		if (plen == 4)
			field = &v[nv - 1].guid;
		else if (plen == 9)
			field = &v[nv - 1].createtxg;
		else
			field = &v[nv - 1].userrefs;
		if (vlen == 1 && val[0] == '-' && plen != 4)
			continue; /* not set: 0 */
		if (parse_u64(val, vlen, &x)) {
			rc = bk_error_set(err, BK_ERR_FORMAT,
					  "zfs get output, line %zu: %.*s "
					  "'%.*s' is not a decimal number",
					  line, (int)plen, t1 + 1,
					  (int)(vlen > 40 ? 40 : vlen), val);
			goto out;
		}
		*field = x;
		if (plen == 4)
			have_guid = true;
	}
	if (nv)
		rc = snap_done(&v[nv - 1], have_guid, line + 1, err);
out:
	if (rc) {
		free(v);
		return rc;
	}
	if (!nv) {
		free(v);
		v = NULL;
	}
	*out = v;
	*n = nv;
	return BK_OK;
}

/* Sorting with zfs's own order as the last key (qsort is not stable). */
struct tagged {
	struct bk_zfs_snap s;
	size_t i;
};

static int by_dataset_txg(const void *a, const void *b)
{
	const struct tagged *x = a, *y = b;
	size_t lx = strcspn(x->s.name, "@"), ly = strcspn(y->s.name, "@");
	int c = strncmp(x->s.name, y->s.name, lx < ly ? lx : ly);

	if (c)
		return c;
	if (lx != ly)
		return lx < ly ? -1 : 1;
	if (x->s.createtxg != y->s.createtxg)
		return x->s.createtxg < y->s.createtxg ? -1 : 1;
	return x->i < y->i ? -1 : x->i > y->i;
}

/* Does snapshot name belong to ds (or, recursive, to ds or below)? */
static bool snap_of(const char *name, const char *ds, bool recursive)
{
	size_t dl = strlen(ds);

	if (strncmp(name, ds, dl) != 0)
		return false;
	return name[dl] == '@' || (recursive && name[dl] == '/');
}

enum bk_code bk_zfs_list_snapshots(const char *ds, bool recursive,
				   struct bk_zfs_snap **out, size_t *n,
				   struct bk_error *err)
{
	const char *argv[MAX_ARGS] = { NULL, "get", "-H", "-p", "-o",
				       "name,property,value" };
	struct bk_zfs_snap *v = NULL;
	struct tagged *t = NULL;
	struct bk_buf buf;
	struct child c;
	size_t k = 6, nv = 0, kept = 0, props;
	bool with_txg;
	enum bk_code rc;

	*out = NULL;
	*n = 0;
	rc = check_name("zfs get", ds, err);
	if (rc)
		return rc;
	if (recursive) {
		argv[k++] = "-r";
	} else {
		/* the dataset, its children and its snapshots */
		argv[k++] = "-d";
		argv[k++] = "1";
	}
	props = k++;
	argv[k++] = ds;
	argv[k] = NULL;
	pthread_mutex_lock(&learned.mu);
	learned_for_command();
	with_txg = !learned.no_createtxg;
	pthread_mutex_unlock(&learned.mu);
	bk_buf_init(&buf, LIST_MAX);
	for (;;) {
		argv[props] = with_txg ? "guid,createtxg,userrefs"
				       : "guid,userrefs";
		buf.len = 0;
		rc = run_child(&c, argv, 0, &buf, err);
		if (rc)
			break;
		rc = child_status(&c, "failed", err);
		if (rc && with_txg && c.head_len) {
			/* "bad property list: invalid property 'createtxg'":
			 * a zfs without it; zfs lists snapshots in creation
			 * order anyway, which is then the order kept */
			char text[300];

			said(&c, text, sizeof(text));
			if (strstr(text, "propert") &&
			    strstr(text, "'createtxg'")) {
				pthread_mutex_lock(&learned.mu);
				learned.no_createtxg = true;
				pthread_mutex_unlock(&learned.mu);
				with_txg = false;
				bk_error_clear(err);
				continue;
			}
		}
		break;
	}
	if (!rc)
		rc = bk_zfs_parse_snapshots((const char *)buf.data, buf.len,
					    &v, &nv, err);
	bk_buf_release(&buf);
	if (!rc && nv && !(t = calloc(nv, sizeof(*t))))
		rc = bk_error_set(err, BK_ERR_NOMEM, "out of memory");
	if (rc) {
		free(v);
		return rc;
	}
	for (size_t i = 0; i < nv; i++)
		if (snap_of(v[i].name, ds, recursive)) {
			t[kept].s = v[i];
			t[kept].i = i;
			kept++;
		}
	if (kept > 1)
		qsort(t, kept, sizeof(*t), by_dataset_txg);
	for (size_t i = 0; i < kept; i++)
		v[i] = t[i].s;
	free(t);
	if (!kept) {
		free(v);
		v = NULL;
	}
	*out = v;
	*n = kept;
	return BK_OK;
}

/* ---- receive ---------------------------------------------------------------- */

struct bk_zfs_recv {
	struct child c;
};

enum bk_code bk_zfs_recv_begin(const char *target,
			       const struct bk_zfs_recv_opts *o,
			       struct bk_zfs_recv **out, struct bk_error *err)
{
	/* no -s: see zfs.h (a partial receive must roll back by itself) */
	const char *argv[MAX_ARGS] = { NULL, "receive" };
	struct bk_zfs_recv *rx;
	size_t k = 2;
	enum bk_code rc;

	*out = NULL;
	rc = check_name("zfs receive", target, err);
	if (rc)
		return rc;
	if (o && o->force)
		argv[k++] = "-F";
	argv[k++] = target;
	argv[k] = NULL;
	rx = calloc(1, sizeof(*rx));
	if (!rx)
		return bk_error_set(err, BK_ERR_NOMEM, "out of memory");
	child_init(&rx->c);
	rc = child_start(&rx->c, argv, CH_IN, err);
	if (rc) {
		child_kill(&rx->c);
		free(rx);
		return rc;
	}
	*out = rx;
	return BK_OK;
}

/*
 * write(2) to a pipe whose reader is gone: EPIPE, and no SIGPIPE for the
 * process.  SIGPIPE is blocked in this thread around the write; one that
 * the write raised is taken off the pending set before the mask is
 * restored (one that was pending before is left alone).  A write that
 * filled part of the pipe before the reader went away returns that part
 * and raises SIGPIPE all the same: the signal is looked for after every
 * write, not only after EPIPE.
 */
static ssize_t write_nosigpipe(int fd, const void *buf, size_t len)
{
	sigset_t pipe_set, old, pending;
	bool was_pending;
	ssize_t n;
	int e;

	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
	sigpending(&pending);
	was_pending = sigismember(&pending, SIGPIPE) == 1;
	n = write(fd, buf, len);
	e = errno;
	if (!was_pending && sigpending(&pending) == 0 &&
	    sigismember(&pending, SIGPIPE) == 1) {
		struct timespec zero = { 0, 0 };

		while (sigtimedwait(&pipe_set, NULL, &zero) < 0 &&
		       errno == EINTR)
			;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	errno = e;
	return n;
}

enum bk_code bk_zfs_recv_write(struct bk_zfs_recv *rx, const void *buf,
			       size_t len, struct bk_error *err)
{
	const uint8_t *p = buf;

	if (rx->c.in < 0)
		return bk_error_set(err, BK_ERR_INTERNAL,
				    "%s: write after the end", rx->c.what);
	while (len) {
		ssize_t n = write_nosigpipe(rx->c.in, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EPIPE) {
			/* it stopped reading: it exited, or is about to */
			child_reap(&rx->c);
			if (child_status(&rx->c, "stopped reading the stream",
					 err) == BK_OK)
				bk_error_set(err, BK_ERR_IO,
					     "%s exited before the end of the "
					     "stream",
					     rx->c.what);
			return err ? err->code : BK_ERR_IO;
		}
		if (n < 0)
			return bk_error_set(err, BK_ERR_IO, "%s: write: %s",
					    rx->c.what, strerror(errno));
		p += n;
		len -= (size_t)n;
	}
	return BK_OK;
}

enum bk_code bk_zfs_recv_finish(struct bk_zfs_recv *rx, struct bk_error *err)
{
	enum bk_code rc;

	child_reap(&rx->c);
	rc = child_status(&rx->c, "failed", err);
	free(rx);
	return rc;
}

void bk_zfs_recv_abort(struct bk_zfs_recv *rx)
{
	if (!rx)
		return;
	child_kill(&rx->c);
	free(rx);
}

/* ---- send -------------------------------------------------------------------- */

struct bk_zfs_send {
	struct child c;
};

enum bk_code bk_zfs_send_begin(const char *snap, const char *from,
			       struct bk_zfs_send **out, int *fd,
			       struct bk_error *err)
{
	return bk_zfs_send_begin_flags(snap, from, NULL, 0, out, fd, err);
}

enum bk_code bk_zfs_send_begin_flags(const char *snap, const char *from,
				     const char *const *flags, size_t nflags,
				     struct bk_zfs_send **out, int *fd,
				     struct bk_error *err)
{
	const char *argv[MAX_ARGS] = { NULL, "send" };
	struct bk_zfs_send *s;
	size_t k = 2;
	enum bk_code rc;

	*out = NULL;
	*fd = -1;
	rc = check_name("zfs send", snap, err);
	if (!rc && from)
		rc = check_name("zfs send -i", from, err);
	if (rc)
		return rc;
	if (nflags > 4)
		return bk_error_set(err, BK_ERR_USAGE,
				    "zfs send: more than 4 flags");
	for (size_t i = 0; i < nflags; i++) {
		if (strcmp(flags[i], "-c") && strcmp(flags[i], "-w") &&
		    strcmp(flags[i], "-L") && strcmp(flags[i], "-e"))
			return bk_error_set(err, BK_ERR_USAGE,
					    "zfs send: flag '%.16s' is not one "
					    "of -c -w -L -e",
					    flags[i]);
		argv[k++] = flags[i];
	}
	if (from) {
		argv[k++] = "-i";
		argv[k++] = from;
	}
	argv[k++] = snap;
	argv[k] = NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return bk_error_set(err, BK_ERR_NOMEM, "out of memory");
	child_init(&s->c);
	rc = child_start(&s->c, argv, CH_OUT, err);
	if (rc) {
		child_kill(&s->c);
		free(s);
		return rc;
	}
	*fd = s->c.out;
	*out = s;
	return BK_OK;
}

enum bk_code bk_zfs_send_finish(struct bk_zfs_send *s, struct bk_error *err)
{
	enum bk_code rc;

	child_reap(&s->c);
	rc = child_status(&s->c, "failed", err);
	free(s);
	return rc;
}

enum bk_code bk_zfs_send_cancel(struct bk_zfs_send *s, unsigned grace,
				struct bk_error *err)
{
	struct timespec pause = { 0, 50 * 1000 * 1000 };
	enum bk_code rc = BK_OK;
	bool by_itself = false;

	if (!s)
		return BK_OK;
	close_fd(&s->c.out);
	for (unsigned i = 0; s->c.pid > 0 && i < grace * 20; i++) {
		pid_t r = waitpid(s->c.pid, &s->c.status, WNOHANG);

		if (r == s->c.pid) {
			s->c.pid = -1;
			by_itself = true;
			break;
		}
		if (r < 0 && errno != EINTR)
			break;
		nanosleep(&pause, NULL);
	}
	if (by_itself) {
		child_reap(&s->c); /* the stderr drainer */
		/* SIGPIPE: it was writing when we closed the stream */
		if (!(WIFSIGNALED(s->c.status) &&
		      WTERMSIG(s->c.status) == SIGPIPE))
			rc = child_status(&s->c, "failed", err);
	} else {
		child_kill(&s->c);
	}
	free(s);
	return rc;
}

void bk_zfs_send_abort(struct bk_zfs_send *s)
{
	if (!s)
		return;
	child_kill(&s->c);
	free(s);
}

/* ---- simple commands ---------------------------------------------------------- */

enum bk_code bk_zfs_snapshot(const char *name, bool recursive,
			     struct bk_error *err)
{
	const char *argv[MAX_ARGS] = { NULL, "snapshot" };
	size_t k = 2;
	enum bk_code rc = check_name("zfs snapshot", name, err);

	if (rc)
		return rc;
	if (!strchr(name, '@'))
		return bk_error_set(err, BK_ERR_USAGE,
				    "zfs snapshot: '%s' has no @snapshot part",
				    name);
	if (recursive)
		argv[k++] = "-r";
	argv[k++] = name;
	argv[k] = NULL;
	return run(argv, NULL, err);
}

void bk_zfs_names_free(char **names, size_t n)
{
	for (size_t i = 0; names && i < n; i++)
		free(names[i]);
	free(names);
}

/*
 * Column `col` (0-based, tab-separated) of every line of text, each at
 * most BK_ZFS_NAME_MAX bytes; what names the output in messages.
 */
static enum bk_code column(const char *what, const char *text, size_t len,
			   unsigned col, char ***out, size_t *n,
			   struct bk_error *err)
{
	char **v = NULL;
	size_t nv = 0, line = 0, pos = 0;
	enum bk_code rc = BK_OK;

	while (pos < len) {
		const char *l = text + pos, *nl = memchr(l, '\n', len - pos);
		size_t ll = nl ? (size_t)(nl - l) : len - pos, fl;
		char **nvp;

		line++;
		pos += ll + (nl ? 1 : 0);
		for (unsigned c = 0; c < col; c++) {
			const char *t = memchr(l, '\t', ll);

			if (!t) {
				ll = 0;
				l = NULL;
				break;
			}
			ll -= (size_t)(t + 1 - l);
			l = t + 1;
		}
		fl = l ? strcspn(l, "\t\n") : 0;
		if (fl > ll)
			fl = ll;
		if (!l || fl == 0 || fl > BK_ZFS_NAME_MAX ||
		    memchr(l, '\0', fl)) {
			rc = bk_error_set(err, BK_ERR_FORMAT,
					  "%s output, line %zu: expected at "
					  "least %u tab-separated fields of at "
					  "most %u bytes",
					  what, line, col + 1, BK_ZFS_NAME_MAX);
			break;
		}
		nvp = realloc(v, (nv + 1) * sizeof(*nvp));
		if (!nvp) {
			rc = bk_error_set(err, BK_ERR_NOMEM, "out of memory");
			break;
		}
		v = nvp;
		v[nv] = strndup(l, fl);
		if (!v[nv]) {
			rc = bk_error_set(err, BK_ERR_NOMEM, "out of memory");
			break;
		}
		nv++;
	}
	if (rc) {
		bk_zfs_names_free(v, nv);
		return rc;
	}
	*out = v;
	*n = nv;
	return BK_OK;
}

enum bk_code bk_zfs_list_datasets(const char *ds, bool recursive,
				  char ***names, size_t *n,
				  struct bk_error *err)
{
	const char *argv[MAX_ARGS] = { NULL, "list", "-H", "-o", "name", "-t",
				       "filesystem,volume" };
	struct bk_buf buf;
	size_t k = 7;
	enum bk_code rc;

	*names = NULL;
	*n = 0;
	if ((rc = check_name("zfs list", ds, err)))
		return rc;
	if (recursive)
		argv[k++] = "-r";
	argv[k++] = ds;
	argv[k] = NULL;
	bk_buf_init(&buf, LIST_MAX);
	rc = run(argv, &buf, err);
	if (!rc)
		rc = column("zfs list", (const char *)buf.data, buf.len, 0,
			    names, n, err);
	bk_buf_release(&buf);
	return rc;
}

static enum bk_code hold_release(const char *verb, const char *tag,
				 const char *snap, struct bk_error *err)
{
	const char *argv[MAX_ARGS] = { NULL, verb, tag, snap, NULL };
	enum bk_code rc = check_name(verb, tag, err);

	if (!rc)
		rc = check_name(verb, snap, err);
	if (!rc && !strchr(snap, '@'))
		rc = bk_error_set(err, BK_ERR_USAGE,
				  "zfs %s: '%s' is not a snapshot", verb, snap);
	if (!rc)
		rc = run(argv, NULL, err);
	return rc;
}

enum bk_code bk_zfs_destroy_snapshot(const char *snap, struct bk_error *err)
{
	const char *argv[MAX_ARGS] = { NULL, "destroy", snap, NULL };
	enum bk_code rc = check_name("zfs destroy", snap, err);

	if (!rc && !strchr(snap, '@'))
		rc = bk_error_set(err, BK_ERR_USAGE,
				  "zfs destroy: '%s' is not a snapshot", snap);
	if (!rc)
		rc = run(argv, NULL, err);
	return rc;
}

enum bk_code bk_zfs_hold(const char *tag, const char *snap,
			 struct bk_error *err)
{
	return hold_release("hold", tag, snap, err);
}

enum bk_code bk_zfs_release(const char *tag, const char *snap,
			    struct bk_error *err)
{
	return hold_release("release", tag, snap, err);
}
