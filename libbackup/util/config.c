/* SPDX-License-Identifier: MIT */
/*
 * The INI configuration file, parsed by libinih.  Debian's libinih is
 * built with lines of at most INI_MAX_LINE (200) bytes and splits longer
 * ones; session tokens are longer than that.  So before parsing, every
 * long "key = value" line has its value moved to a side table and
 * replaced by a marker ("\x01<index>") that the handler looks up.  The
 * text handed to libinih is thus never longer per line than it can take,
 * and has as many lines as the file: libinih reads it line by line through
 * read_line, which counts them, so that the handler knows the line of
 * each key (a key given twice is an error naming both lines).  Leading
 * blanks are dropped: an indented line is a line like any other, never
 * libinih's continuation of the previous value (which would silently
 * replace that value).
 */
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backup/buf.h"
#include "util/config_impl.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif

/* Lines at least this long go through the side table. */
#define LONG_LINE 160
#define MARK '\x01'

struct entry {
	char *section;
	char *key;
	char *value;
	size_t line; /* where it was set */
};

struct bk_config {
	struct entry *e;
	size_t n, cap;
	char *secret_key; /* first secret key seen (for the message) */
	char **sections;  /* every [section] header, first appearance order */
	size_t nsections;
};

struct parse {
	struct bk_config *c;
	char **side; /* long values */
	size_t nside;
	const char *text; /* what read_line hands to libinih next */
	size_t line;      /* the line it handed last (from 1) */
	bool at_bol;      /* the next read starts a line */
	enum bk_code rc;  /* the handler's first error, */
	char why[BK_ERROR_MSG_MAX / 2];
	size_t why_line; /* on this line */
};

static void wipe_free(char *s)
{
	if (!s)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}

void bk_config_free(struct bk_config *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++) {
		free(c->e[i].section);
		free(c->e[i].key);
		wipe_free(c->e[i].value);
	}
	free(c->e);
	free(c->secret_key);
	for (size_t i = 0; i < c->nsections; i++)
		free(c->sections[i]);
	free(c->sections);
	free(c);
}

bool bk_config_key_is_secret(const char *key)
{
	return strcasestr(key, "secret") || strcasestr(key, "token") ||
	       strcasestr(key, "password");
}

/* The handler refuses: the first refusal is kept, with its line. */
static int refuse(struct parse *p, enum bk_code rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int refuse(struct parse *p, enum bk_code rc, const char *fmt, ...)
{
	va_list ap;

	if (p->why[0])
		return 0;
	va_start(ap, fmt);
	vsnprintf(p->why, sizeof(p->why), fmt, ap);
	va_end(ap);
	p->rc = rc;
	p->why_line = p->line;
	return 0;
}

static int handler(void *user, const char *section, const char *name,
		   const char *value)
{
	struct parse *p = user;
	struct bk_config *c = p->c;
	struct entry *e;

	if (value[0] == MARK) {
		char *end;
		unsigned long i = strtoul(value + 1, &end, 10);

		if (*end || i >= p->nside)
			return refuse(p, BK_ERR_FORMAT, "bad value");
		value = p->side[i];
	}
	for (size_t i = 0; i < c->n; i++) {
		e = &c->e[i];
		if (strcmp(e->section, section) == 0 &&
		    strcasecmp(e->key, name) == 0) {
			/* which of the two was meant is anyone's guess */
			return refuse(p, BK_ERR_FORMAT,
				      "%.64s given twice in %s%.64s%s (first "
				      "on line %zu)",
				      name, section[0] ? "[" : "",
				      section[0] ? section
						 : "the lines before any "
						   "[section]",
				      section[0] ? "]" : "", e->line);
		}
	}
	if (c->n >= BK_CONFIG_ENTRIES_MAX)
		return refuse(p, BK_ERR_LIMIT, "more than %d entries",
			      BK_CONFIG_ENTRIES_MAX);
	if (c->n == c->cap) {
		size_t ncap = c->cap ? c->cap * 2 : 16;
		struct entry *ne = realloc(c->e, ncap * sizeof(*ne));

		if (!ne)
			goto nomem;
		c->e = ne;
		c->cap = ncap;
	}
	e = &c->e[c->n];
	e->section = strdup(section);
	e->key = strdup(name);
	e->value = strdup(value);
	e->line = p->line;
	if (!e->section || !e->key || !e->value) {
		free(e->section);
		free(e->key);
		wipe_free(e->value);
		goto nomem;
	}
	c->n++;
	if (value[0] && !c->secret_key && bk_config_key_is_secret(name)) {
		c->secret_key = strdup(name);
		if (!c->secret_key)
			goto nomem;
	}
	return 1;
nomem:
	return refuse(p, BK_ERR_NOMEM, "out of memory");
}

static bool blank(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r';
}

/*
 * Remember the name of a "[section]" line (as libinih reads it: the bytes
 * between '[' and the first ']'), so that a section without keys is known
 * too.  Lines that are not headers are left alone.
 */
static enum bk_code note_section(struct bk_config *c, const char *s, size_t n,
				 struct bk_error *err)
{
	const char *end;
	char *name, **ns;

	while (n && blank(*s)) {
		s++;
		n--;
	}
	if (n < 2 || *s != '[')
		return BK_OK;
	end = memchr(s + 1, ']', n - 1);
	if (!end)
		return BK_OK; /* libinih will say what is wrong */
	for (size_t i = 0; i < c->nsections; i++)
		if (strlen(c->sections[i]) == (size_t)(end - s - 1) &&
		    memcmp(c->sections[i], s + 1, (size_t)(end - s - 1)) == 0)
			return BK_OK;
	if (c->nsections >= BK_CONFIG_ENTRIES_MAX)
		return bk_error_set(err, BK_ERR_LIMIT,
				    "more than %d sections",
				    BK_CONFIG_ENTRIES_MAX);
	name = strndup(s + 1, (size_t)(end - s - 1));
	ns = realloc(c->sections, (c->nsections + 1) * sizeof(*ns));
	if (!name || !ns) {
		free(name);
		if (ns)
			c->sections = ns;
		return bk_error_set(err, BK_ERR_NOMEM, "out of memory");
	}
	c->sections = ns;
	c->sections[c->nsections++] = name;
	return BK_OK;
}

/*
 * Copy text into out, moving the values of long lines to p->side.  Lines
 * are numbered from 1; *bad_line is set on an error.
 */
static enum bk_code prepare(const char *text, size_t len, struct parse *p,
			    struct bk_buf *out, size_t *bad_line,
			    struct bk_error *err)
{
	size_t line = 0, pos = 0;
	enum bk_code rc = BK_OK;

	while (pos < len && !rc) {
		const char *s = text + pos, *nl = memchr(s, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - s) : len - pos;
		const char *sep, *k0, *k1, *v0, *v1;
		char **side, c0;

		line++;
		pos += n + (nl ? 1 : 0);
		for (size_t i = 0; i < n; i++)
			if (s[i] == '\0' || s[i] == MARK) {
				*bad_line = line;
				return bk_error_set(err, BK_ERR_FORMAT,
						    "control character");
			}
		rc = note_section(p->c, s, n, err);
		if (rc) {
			*bad_line = line;
			return rc;
		}
		if (n < LONG_LINE) {
			size_t b = 0;

			while (b < n && blank(s[b]))
				b++; /* no continuation lines */
			rc = bk_buf_append(out, s + b, n - b, err);
			if (!rc)
				rc = bk_buf_append(out, "\n", 1, err);
			continue;
		}
		sep = NULL;
		for (size_t i = 0; i < n && !sep; i++)
			if (s[i] == '=' || s[i] == ':')
				sep = s + i;
		k0 = s;
		while (k0 < s + n && blank(*k0))
			k0++;
		c0 = k0 < s + n ? *k0 : '\0'; /* a blank line ends at s + n */
		if (!sep || c0 == '[' || c0 == ';' || c0 == '#') {
			if (c0 == ';' || c0 == '#' || c0 == '\0') {
				/* a long comment or blank line: an empty
				 * one keeps the numbering */
				rc = bk_buf_append(out, "\n", 1, err);
				continue;
			}
			*bad_line = line;
			return bk_error_set(err, BK_ERR_FORMAT,
					    "long line that is not key = value");
		}
		k1 = sep;
		while (k1 > k0 && blank(k1[-1]))
			k1--;
		v0 = sep + 1;
		while (v0 < s + n && blank(*v0))
			v0++;
		v1 = v0;
		while (v1 < s + n && !(*v1 == ';' && v1 > v0 && blank(v1[-1])))
			v1++;
		while (v1 > v0 && blank(v1[-1]))
			v1--;
		if (k1 == k0 || (size_t)(k1 - k0) >= LONG_LINE / 2) {
			*bad_line = line;
			return bk_error_set(err, BK_ERR_FORMAT,
					    "key missing or too long");
		}
		side = realloc(p->side, (p->nside + 1) * sizeof(*side));
		if (!side)
			return bk_error_set(err, BK_ERR_NOMEM, "out of memory");
		p->side = side;
		side[p->nside] = strndup(v0, (size_t)(v1 - v0));
		if (!side[p->nside])
			return bk_error_set(err, BK_ERR_NOMEM, "out of memory");
		p->nside++;
		rc = bk_buf_append(out, k0, (size_t)(k1 - k0), err);
		if (!rc)
			rc = bk_buf_printf(out, err, " = %c%zu\n", MARK,
					   p->nside - 1);
	}
	return rc;
}

/* libinih's reader (fgets's contract) over p->text, counting lines. */
static char *read_line(char *str, int num, void *stream)
{
	struct parse *p = stream;
	size_t n = 0, max = num > 1 ? (size_t)num - 1 : 0;

	if (!*p->text || !max)
		return NULL;
	while (n < max && p->text[n] && p->text[n] != '\n')
		n++;
	if (n < max && p->text[n] == '\n')
		n++;
	memcpy(str, p->text, n);
	str[n] = '\0';
	if (p->at_bol)
		p->line++;
	p->at_bol = str[n - 1] == '\n';
	p->text += n;
	return str;
}

enum bk_code bk_config_parse(const char *text, size_t len, const char *name,
			     struct bk_config **out, struct bk_error *err)
{
	struct parse p;
	struct bk_buf b;
	size_t bad_line = 0;
	enum bk_code rc;
	int line;

	*out = NULL;
	memset(&p, 0, sizeof(p));
	bk_buf_init(&b, 2 * BK_CONFIG_FILE_MAX);
	if (!name)
		name = "config";
	if (len > BK_CONFIG_FILE_MAX) {
		rc = bk_error_set(err, BK_ERR_LIMIT,
				  "%s: larger than %zu bytes", name,
				  BK_CONFIG_FILE_MAX);
		goto out;
	}
	p.c = calloc(1, sizeof(*p.c));
	if (!p.c) {
		rc = bk_error_set(err, BK_ERR_NOMEM, "%s: out of memory", name);
		goto out;
	}
	rc = prepare(text, len, &p, &b, &bad_line, err);
	if (!rc)
		rc = bk_buf_append(&b, "", 0, err); /* a NUL even when empty */
	if (rc) {
		if (bad_line)
			bk_error_prefix(err, "%s line %zu", name, bad_line);
		else
			bk_error_prefix(err, "%s", name);
		goto out;
	}
	p.text = (const char *)b.data;
	p.at_bol = true;
	line = ini_parse_stream(read_line, &p, handler, &p);
	if (line != 0) {
		/* libinih gives the first line it or the handler refused */
		bool ours = p.why[0] && p.why_line == (size_t)line;

		rc = bk_error_set(err, ours ? p.rc : BK_ERR_FORMAT,
				  "%s line %d: %s", name, line,
				  ours ? p.why
				       : "not a [section] or key = value");
		goto out;
	}
	*out = p.c;
	p.c = NULL;
out:
	if (b.data)
		explicit_bzero(b.data, b.len);
	bk_buf_release(&b);
	for (size_t i = 0; i < p.nside; i++)
		wipe_free(p.side[i]);
	free(p.side);
	bk_config_free(p.c);
	return rc;
}

enum bk_code bk_config_load_file(const char *path, bool check_perms,
				 struct bk_config **out, struct bk_error *err)
{
	struct bk_config *c = NULL;
	struct stat st;
	char *text = NULL;
	size_t got = 0;
	int fd = -1;
	enum bk_code rc = BK_OK;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		rc = bk_error_set(err,
				  errno == ENOENT ? BK_ERR_NOTFOUND : BK_ERR_IO,
				  "config %s: %s", path, strerror(errno));
		goto out;
	}
	if (fstat(fd, &st) != 0) {
		rc = bk_error_set(err, BK_ERR_IO, "config %s: %s", path,
				  strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = bk_error_set(err, BK_ERR_USAGE,
				  "config %s: not a regular file", path);
		goto out;
	}
	if ((uint64_t)st.st_size > BK_CONFIG_FILE_MAX) {
		rc = bk_error_set(err, BK_ERR_LIMIT,
				  "config %s: larger than %zu bytes", path,
				  BK_CONFIG_FILE_MAX);
		goto out;
	}
	text = malloc(BK_CONFIG_FILE_MAX + 1);
	if (!text) {
		rc = bk_error_set(err, BK_ERR_NOMEM, "config %s: out of memory",
				  path);
		goto out;
	}
	for (;;) {
		ssize_t n = read(fd, text + got, BK_CONFIG_FILE_MAX + 1 - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = bk_error_set(err, BK_ERR_IO, "config %s: %s", path,
					  strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		got += (size_t)n;
		if (got > BK_CONFIG_FILE_MAX) {
			rc = bk_error_set(err, BK_ERR_LIMIT,
					  "config %s: larger than %zu bytes",
					  path, BK_CONFIG_FILE_MAX);
			goto out;
		}
	}
	rc = bk_config_parse(text, got, path, &c, err);
	if (rc)
		goto out;
	if (check_perms && c->secret_key &&
	    (st.st_mode & (S_IRGRP | S_IROTH))) {
		rc = bk_error_set(err, BK_ERR_USAGE,
				  "config %s holds a secret (%s) but group or others may read it (mode %04o): chmod 600 it",
				  path, c->secret_key,
				  (unsigned)(st.st_mode & 07777));
		goto out;
	}
	*out = c;
	c = NULL;
out:
	if (text) {
		explicit_bzero(text, got);
		free(text);
	}
	if (fd >= 0)
		close(fd);
	bk_config_free(c);
	return rc;
}

enum bk_code bk_config_load(const char *path, struct bk_config **out,
			    struct bk_error *err)
{
	if (!path) {
		*out = NULL;
		return bk_error_set(err, BK_ERR_USAGE, "config file missing");
	}
	return bk_config_load_file(path, true, out, err);
}

const char *bk_config_get(const struct bk_config *c, const char *section,
			  const char *key)
{
	if (!c || !section || !key)
		return NULL;
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->e[i].section, section) == 0 &&
		    strcasecmp(c->e[i].key, key) == 0)
			return c->e[i].value;
	return NULL;
}

int bk_config_has_section(const struct bk_config *c, const char *section)
{
	if (!c || !section)
		return 0;
	for (size_t i = 0; i < c->nsections; i++)
		if (strcmp(c->sections[i], section) == 0)
			return 1;
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->e[i].section, section) == 0)
			return 1;
	return 0;
}

size_t bk_config_section_count(const struct bk_config *c)
{
	return c ? c->nsections : 0;
}

const char *bk_config_section(const struct bk_config *c, size_t i)
{
	return c && i < c->nsections ? c->sections[i] : NULL;
}

size_t bk_config_key_count(const struct bk_config *c, const char *section)
{
	size_t k = 0;

	for (size_t i = 0; c && section && i < c->n; i++)
		k += strcmp(c->e[i].section, section) == 0;
	return k;
}

const char *bk_config_key(const struct bk_config *c, const char *section,
			  size_t i, const char **value)
{
	for (size_t j = 0; c && section && j < c->n; j++) {
		if (strcmp(c->e[j].section, section) != 0)
			continue;
		if (i-- == 0) {
			if (value)
				*value = c->e[j].value;
			return c->e[j].key;
		}
	}
	if (value)
		*value = NULL;
	return NULL;
}

const char *bk_config_default_path(void)
{
	static const char sys[] = SYSCONFDIR "/zbak/zbak.conf";
	const char *e = getenv("ZBAK_CONFIG");

	if (e && *e)
		return e;
	return access(sys, F_OK) == 0 ? sys : NULL;
}
