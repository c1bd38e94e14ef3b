/* SPDX-License-Identifier: MIT */
/*
 * Repository and passphrase from the environment, a file or a prompt;
 * never from argv.  Passphrases are wiped after use.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "cli.h"

struct global g;

void secret_wipe(struct secret *s)
{
	explicit_bzero(s->buf, sizeof(s->buf));
	s->len = 0;
}

static int from_file(const char *path, struct secret *s)
{
	struct stat st;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		msg("cannot open passphrase file %s: %s", path,
		    strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == 0 && (st.st_mode & 077))
		msg("warning: passphrase file %s is readable by others "
		    "(chmod 600 it)", path);
	n = read(fd, s->buf, sizeof(s->buf) - 1);
	close(fd);
	if (n < 0) {
		msg("cannot read %s: %s", path, strerror(errno));
		return -1;
	}
	s->len = (size_t)n;
	/* the first line is the passphrase */
	for (size_t i = 0; i < s->len; i++)
		if (s->buf[i] == '\n' || s->buf[i] == '\r') {
			s->len = i;
			break;
		}
	s->buf[s->len] = '\0';
	return 0;
}

static int prompt(const char *question, struct secret *s)
{
	struct termios old, quiet;
	FILE *tty = fopen("/dev/tty", "r+");
	int ok = -1;

	if (!tty)
		return -1;
	fputs(question, tty);
	fflush(tty);
	if (tcgetattr(fileno(tty), &old) == 0) {
		quiet = old;
		quiet.c_lflag &= (tcflag_t) ~ECHO;
		tcsetattr(fileno(tty), TCSAFLUSH, &quiet);
	}
	if (fgets(s->buf, sizeof(s->buf), tty)) {
		s->len = strcspn(s->buf, "\r\n");
		s->buf[s->len] = '\0';
		ok = 0;
	}
	tcsetattr(fileno(tty), TCSAFLUSH, &old);
	fputc('\n', tty);
	fclose(tty);
	return ok;
}

static int have_tty(void)
{
	int fd = open("/dev/tty", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return 0;
	close(fd);
	return 1;
}

int get_passphrase(const char *env, const char *file, bool twice,
		   const char *what, struct secret *s)
{
	const char *e = getenv(env);

	secret_wipe(s);
	if (file)
		return from_file(file, s);
	if (e) {
		size_t l = strlen(e);

		if (l >= sizeof(s->buf)) {
			msg("%s is too long", env);
			return -1;
		}
		memcpy(s->buf, e, l + 1);
		s->len = l;
		return 0;
	}
	if (have_tty()) {
		char q[128];
		struct secret again;

		snprintf(q, sizeof(q), "%s: ", what);
		if (prompt(q, s))
			return -1;
		if (!twice)
			return 0;
		snprintf(q, sizeof(q), "%s again: ", what);
		memset(&again, 0, sizeof(again));
		if (prompt(q, &again) || again.len != s->len ||
		    memcmp(again.buf, s->buf, s->len) != 0) {
			secret_wipe(&again);
			secret_wipe(s);
			msg("the passphrases do not match");
			return -1;
		}
		secret_wipe(&again);
		if (s->len == 0) {
			msg("an empty passphrase is not allowed");
			return -1;
		}
		return 0;
	}
	msg("no passphrase: set %s, use --passphrase-file FILE, or run on "
	    "a terminal",
	    env);
	return -1;
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
	return r;
}

const char *passphrase_file(void)
{
	static char from_config[1024];

	if (g.passfile)
		return g.passfile;
	if (getenv("ZBAK_PASSPHRASE"))
		return NULL; /* the environment wins over the config */
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
	if (get_passphrase("ZBAK_PASSPHRASE", passphrase_file(), false,
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
	return EXIT_OK;
}
