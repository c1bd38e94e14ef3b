/* SPDX-License-Identifier: MIT */
/*
 * What the commands share (cli.h): messages, exit statuses, numbers from
 * argv and the environment, sizes for people, the global options, and
 * opening the config, the repository and the local pool.  The commands
 * live in cmd_<verb>.c, one each; passphrases in secret.c; the command
 * table and main in main.c.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backup/config.h"
#include "backup/job.h"   /* bk_parse_size, bk_parse_uint */
#include "backup/lpool.h"
#include "cli.h"
#include "progress.h"

struct global g;

/* the last msg(), for the "error" of a command's JSON */
static char last_msg[4096];

void msg(const char *fmt, ...)
{
	va_list ap;

	progress_hide_active(); /* not mixed into a progress line */
	va_start(ap, fmt);
	vsnprintf(last_msg, sizeof(last_msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s: %s\n", progname, last_msg);
}

const char *last_message(void)
{
	return last_msg;
}

int usage_error(const struct cmd *c, const char *fmt, ...)
{
	va_list ap;

	if (fmt) {
		fprintf(stderr, "%s: ", progname);
		va_start(ap, fmt);
		vfprintf(stderr, fmt, ap);
		va_end(ap);
		fputc('\n', stderr);
	}
	if (c)
		fprintf(stderr, "usage: %s\n", c->usage);
	return EXIT_USAGE;
}

int parse_size(const char *s, uint64_t *out)
{
	struct bk_error e;

	return bk_parse_size(s, out, &e) == BK_OK ? 0 : -1;
}

int parse_number(const char *what, const char *s, uint64_t min, uint64_t max,
		 uint64_t *out)
{
	struct bk_error e;
	uint64_t v;

	if (bk_parse_uint(s, max, &v, &e) != BK_OK || v < min) {
		msg("%s '%.64s': give a whole number from %" PRIu64 " to %" PRIu64,
		    what, s, min, max);
		return EXIT_USAGE;
	}
	*out = v;
	return EXIT_OK;
}

int exit_for(enum bk_code code)
{
	switch (code) {
	case BK_OK: return EXIT_OK;
	case BK_ERR_USAGE: return EXIT_USAGE;
	case BK_ERR_TRUNCATED:
	case BK_ERR_CHECKSUM:
	case BK_ERR_FORMAT:
	case BK_ERR_RULE:
	case BK_ERR_LIMIT:
	case BK_ERR_AUTH:
	case BK_ERR_MISSING: return EXIT_VERIFY;
	case BK_ERR_STORAGE: return EXIT_STORAGE;
	case BK_ERR_PASSPHRASE: return EXIT_PASSPHRASE;
	default: return EXIT_FAIL;
	}
}

void human_bytes(uint64_t n, char *out, size_t len)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB",
					    "PiB" };
	double v = (double)n;
	int u = 0;

	while (v >= 1024 && u < 5) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(out, len, "%" PRIu64 " B", n);
	else
		snprintf(out, len, "%.2f %s", v, unit[u]);
}

void human_rate(uint64_t n, double seconds, char *out, size_t len)
{
	char b[32];

	human_bytes(seconds > 0 ? (uint64_t)((double)n / seconds) : 0, b,
		    sizeof(b));
	snprintf(out, len, "%s/s", b);
}

/* A [zbak] setting of the config file into buf ("" when none); the
 * status of loading the config (its error said). */
static int zbak_setting(const char *key, char *buf, size_t n)
{
	struct bk_config *cfg = NULL;
	const char *v;
	int ret;

	buf[0] = '\0';
	ret = load_config(&cfg);
	if (ret == EXIT_OK && cfg && (v = bk_config_get(cfg, "zbak", key)) &&
	    strlen(v) < n)
		memcpy(buf, v, strlen(v) + 1);
	bk_config_free(cfg);
	return ret;
}

const char *repo_url(void)
{
	static char from_config[1024];
	const char *r = g.repo ? g.repo : getenv("ZBAK_REPO");

	if (!r || !*r) {
		if (zbak_setting("repository", from_config,
				 sizeof(from_config)))
			return NULL; /* the config is wrong: said */
		r = from_config;
	}
	if (!*r) {
		msg("no repository: give -r REPO, set ZBAK_REPO, or set "
		    "repository in the [zbak] section of %s",
		    g.config ? g.config : "/etc/zbak/zbak.conf");
		return NULL;
	}
	/* "s3:/bucket" or "file:/path" would be taken for a relative path and
	 * make a directory "./s3:" */
	if ((!strncmp(r, "s3:", 3) && strncmp(r, "s3://", 5)) ||
	    (!strncmp(r, "file:", 5) && strncmp(r, "file://", 7))) {
		msg("%s: not a repository URL (s3://[HOST/]BUCKET[/PREFIX], "
		    "file:///PATH, or a directory)",
		    r);
		return NULL;
	}
	return r;
}

const char *passphrase_command(void)
{
	const char *e = getenv("ZBAK_PASSPHRASE_COMMAND");

	if (g.passfile)
		return NULL;
	if (g.passcmd)
		return g.passcmd;
	if (getenv("ZBAK_PASSPHRASE"))
		return NULL;
	return e && *e ? e : NULL;
}

/*
 * The systemd credential zbak-passphrase ($CREDENTIALS_DIRECTORY, set by
 * LoadCredential= or LoadCredentialEncrypted= in the unit), when the
 * service was given one: it comes with the run as the environment does,
 * so it wins over the config's passphrase_file as the environment does.
 * A credentials directory without it (the unit loads other credentials)
 * is no source.
 */
static const char *credential_file(void)
{
	static char path[4096];
	const char *d = getenv("CREDENTIALS_DIRECTORY");
	struct stat st;

	if (!d || !*d)
		return NULL;
	if ((size_t)snprintf(path, sizeof(path), "%s/zbak-passphrase", d) >=
	    sizeof(path))
		return NULL;
	return lstat(path, &st) == 0 ? path : NULL;
}

const char *passphrase_env_file(bool *decided)
{
	const char *e = getenv("ZBAK_PASSPHRASE_FILE");

	*decided = true;
	if (g.passfile)
		return g.passfile;
	if (passphrase_command() || getenv("ZBAK_PASSPHRASE"))
		return NULL; /* get_passphrase takes them */
	if (e && *e)
		return e;
	if ((e = credential_file()))
		return e;
	*decided = false;
	return NULL;
}

const char *passphrase_file(void)
{
	static char from_config[1024];
	const char *f;
	bool decided;

	f = passphrase_env_file(&decided);
	if (decided)
		return f; /* the command line and environment win over the
			   * config */
	(void)zbak_setting("passphrase_file", from_config, sizeof(from_config));
	return from_config[0] ? from_config : NULL;
}

int load_config(struct bk_config **out)
{
	const char *path = g.config ? g.config : bk_config_default_path();
	struct bk_error err;
	enum bk_code rc;

	*out = NULL;
	if (!path)
		return EXIT_OK;
	rc = bk_config_load(path, out, &err);
	/* a typo in [zbak] (repostiory =) is named, not taken for "no
	 * repository" */
	if (!rc && (rc = bk_settings_check_zbak(*out, path, &err))) {
		bk_config_free(*out);
		*out = NULL;
	}
	if (rc) {
		msg("%s", err.msg);
		/* a config that is missing or wrong is a usage error (2),
		 * as for backup and prune, not "verification failed" */
		return rc == BK_ERR_NOTFOUND || rc == BK_ERR_FORMAT ||
				       rc == BK_ERR_LIMIT
			       ? EXIT_USAGE
			       : exit_for(rc);
	}
	return EXIT_OK;
}

/* What the library worked around, for the user. */
static void warn_line(void *ctx, const char *line)
{
	(void)ctx;
	msg("warning: %s", line);
}

int open_repo(struct bk_repo **out)
{
	const char *url = repo_url();
	struct bk_config *cfg = NULL;
	struct secret s;
	int ret;
	struct bk_error err;
	enum bk_code rc;

	*out = NULL;
	if (!url)
		return EXIT_USAGE;
	ret = load_config(&cfg);
	if (ret)
		return ret;
	memset(&s, 0, sizeof(s));
	if (get_passphrase("ZBAK_PASSPHRASE", passphrase_file(),
			   passphrase_command(), false,
			   "repository passphrase", &s)) {
		bk_config_free(cfg);
		return EXIT_USAGE;
	}
	rc = bk_repo_open_config(url, cfg, s.buf, s.len, out, &err);
	secret_wipe(&s);
	bk_config_free(cfg);
	if (rc) {
		msg("%s", err.msg);
		return exit_for(rc);
	}
	bk_repo_set_warn(*out, warn_line, NULL);
	if (g.admin)
		bk_repo_admin(*out);
	return EXIT_OK;
}

int need_admin(struct bk_repo *r, const char *what)
{
	if (!bk_repo_append_only(r) || bk_repo_is_admin(r))
		return 0;
	msg("%s is append-only: %s, which only an admin run does (with "
	    "--admin, on a trusted machine whose credentials may delete)",
	    bk_repo_describe(r), what);
	return EXIT_FAIL;
}

const char *pool_dir(char *buf, size_t n)
{
	struct bk_config *cfg = NULL;
	const char *v, *def = bk_config_default_path(); /* NULL: none */

	if (g.pool_dir && *g.pool_dir) {
		snprintf(buf, n, "%s", g.pool_dir);
		return buf;
	}
	if (getenv("ZBAK_POOL_DIR") && *getenv("ZBAK_POOL_DIR"))
		return bk_lpool_default_dir(buf, n);
	/* the config's [pool] dir, when there is a config */
	if ((g.config || (def && access(def, R_OK) == 0)) &&
	    load_config(&cfg) == EXIT_OK && cfg &&
	    (((v = bk_config_get(cfg, "pool", "dir")) && *v) ||
	     ((v = bk_config_get(cfg, "zbak", "pool_dir")) && *v))) {
		snprintf(buf, n, "%s", v);
		bk_config_free(cfg);
		return buf;
	}
	bk_config_free(cfg);
	return bk_lpool_default_dir(buf, n);
}

int open_lpool(struct bk_lpool **out, bool create)
{
	char dir[4096];
	struct bk_error err;
	enum bk_code rc;

	if (!pool_dir(dir, sizeof(dir))) {
		msg("the local pool's directory name is too long");
		return EXIT_USAGE;
	}
	rc = bk_lpool_open(dir, create, out, &err);
	if (rc) {
		msg("%s", err.msg);
		return exit_for(rc);
	}
	return EXIT_OK;
}
