/* SPDX-License-Identifier: MIT */
/*
 * The pool's metadata: every dataset with its live state and snapshots, and
 * the transaction counter, in one small text file that a change replaces
 * with a rename (docs/lpool.md):
 *
 *   zbak-lpool 1
 *   txg 42
 *   D <name> <createtxg> <creation> <refer> <objects> <state> <origin|->
 *   S <snap> <guid hex> <createtxg> <creation> <refer> <objects> <state>
 *   H <tag>
 *
 * fields separated by one tab; S lines belong to the D line above them, H
 * lines (a user hold) to the S line above them.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lpool_impl.h"

void lp_meta_free(struct lp_meta *m)
{
	for (size_t i = 0; i < m->nds; i++)
		free(m->ds[i].snaps);
	free(m->ds);
	memset(m, 0, sizeof(*m));
}

enum bk_code lp_meta_copy(struct lp_meta *dst, const struct lp_meta *src,
			  struct bk_error *err)
{
	memset(dst, 0, sizeof(*dst));
	dst->txg = src->txg;
	if (!src->nds)
		return BK_OK;
	dst->ds = calloc(src->nds, sizeof(*dst->ds));
	if (!dst->ds)
		return bk_error_set(err, BK_ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < src->nds; i++) {
		dst->ds[i] = src->ds[i];
		dst->ds[i].snaps = NULL;
		dst->nds = i + 1;
		if (!src->ds[i].nsnaps)
			continue;
		dst->ds[i].snaps = malloc(src->ds[i].nsnaps *
					  sizeof(struct lp_snap));
		if (!dst->ds[i].snaps) {
			dst->ds[i].nsnaps = 0;
			lp_meta_free(dst);
			return bk_error_set(err, BK_ERR_NOMEM, "out of memory");
		}
		memcpy(dst->ds[i].snaps, src->ds[i].snaps,
		       src->ds[i].nsnaps * sizeof(struct lp_snap));
	}
	return BK_OK;
}

static bool name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.' ||
	       c == ':';
}

static bool component_ok(const char *s, size_t n)
{
	if (n == 0 || (n == 1 && s[0] == '.') ||
	    (n == 2 && s[0] == '.' && s[1] == '.'))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!name_char(s[i]))
			return false;
	return true;
}

enum bk_code lp_check_name(const char *name, bool snapshot,
			   struct bk_error *err)
{
	const char *at = strchr(name, '@');
	size_t len = strlen(name), dslen = at ? (size_t)(at - name) : len;
	const char *c = name;

	if (len == 0)
		return bk_error_set(err, BK_ERR_USAGE, "empty name");
	if (len > BK_LPOOL_NAME_MAX)
		return bk_error_set(err, BK_ERR_USAGE,
				    "'%.40s...': name is longer than %u bytes",
				    name, BK_LPOOL_NAME_MAX);
	if (snapshot && !at)
		return bk_error_set(err, BK_ERR_USAGE,
				    "'%s' is not a snapshot name (pool/fs@snap)",
				    name);
	if (!snapshot && at)
		return bk_error_set(err, BK_ERR_USAGE,
				    "'%s': a dataset name has no '@'", name);
	while (c < name + dslen) {
		const char *slash = memchr(c, '/', (size_t)(name + dslen - c));
		size_t n = slash ? (size_t)(slash - c)
				 : (size_t)(name + dslen - c);

		if (!component_ok(c, n))
			return bk_error_set(
				err, BK_ERR_USAGE,
				"'%s': bad name (components of letters, digits "
				"and _ - . :, separated by single '/')",
				name);
		c += n;
		if (slash && c + 1 == name + dslen)
			return bk_error_set(err, BK_ERR_USAGE,
					    "'%s': name ends with '/'", name);
		if (slash)
			c++;
	}
	if (dslen == 0)
		return bk_error_set(err, BK_ERR_USAGE, "'%s': no dataset name",
				    name);
	if (at && !component_ok(at + 1, strlen(at + 1)))
		return bk_error_set(err, BK_ERR_USAGE,
				    "'%s': bad snapshot name (letters, digits "
				    "and _ - . : after the '@')",
				    name);
	if (!((name[0] >= 'a' && name[0] <= 'z') ||
	      (name[0] >= 'A' && name[0] <= 'Z')))
		return bk_error_set(err, BK_ERR_USAGE,
				    "'%s': a pool name starts with a letter",
				    name);
	return BK_OK;
}

enum bk_code lp_check_tag(const char *tag, struct bk_error *err)
{
	size_t n = strlen(tag);

	if (n == 0 || n > BK_LPOOL_TAG_MAX || !component_ok(tag, n))
		return bk_error_set(err, BK_ERR_USAGE,
				    "'%.40s': a hold tag is 1 to %u letters, "
				    "digits and _ - . :",
				    tag, BK_LPOOL_TAG_MAX);
	return BK_OK;
}

bool lp_holds_add(char holds[BK_LPOOL_HOLDS_MAX + 1], const char *tag)
{
	size_t have = strlen(holds), tl = strlen(tag);

	if (have + (have ? 1 : 0) + tl > BK_LPOOL_HOLDS_MAX)
		return false;
	if (have)
		holds[have++] = ' ';
	memcpy(holds + have, tag, tl + 1);
	return true;
}

bool lp_holds_has(const char *holds, const char *tag)
{
	size_t tl = strlen(tag);

	while (*holds) {
		size_t n = strcspn(holds, " ");

		if (n == tl && memcmp(holds, tag, n) == 0)
			return true;
		holds += n;
		while (*holds == ' ')
			holds++;
	}
	return false;
}

enum bk_code bk_lpool_check_name(const char *name, bool snapshot,
				 struct bk_error *err)
{
	return lp_check_name(name, snapshot, err);
}

struct lp_ds *lp_meta_ds(const struct lp_meta *m, const char *name)
{
	for (size_t i = 0; i < m->nds; i++)
		if (strcmp(m->ds[i].name, name) == 0)
			return &m->ds[i];
	return NULL;
}

enum bk_code lp_meta_add_ds(struct lp_meta *m, const char *name,
			    struct lp_ds **out, struct bk_error *err)
{
	struct lp_ds *n = realloc(m->ds, (m->nds + 1) * sizeof(*n));
	size_t at = 0;

	if (!n)
		return bk_error_set(err, BK_ERR_NOMEM, "out of memory");
	m->ds = n;
	while (at < m->nds && strcmp(m->ds[at].name, name) < 0)
		at++;
	memmove(&m->ds[at + 1], &m->ds[at], (m->nds - at) * sizeof(*n));
	memset(&m->ds[at], 0, sizeof(*n));
	snprintf(m->ds[at].name, sizeof(m->ds[at].name), "%s", name);
	m->nds++;
	*out = &m->ds[at];
	return BK_OK;
}

void lp_meta_remove_ds(struct lp_meta *m, struct lp_ds *d)
{
	size_t at = (size_t)(d - m->ds);

	free(d->snaps);
	memmove(&m->ds[at], &m->ds[at + 1], (m->nds - at - 1) * sizeof(*d));
	m->nds--;
}

struct lp_snap *lp_ds_snap(const struct lp_ds *d, const char *snap)
{
	for (size_t i = 0; i < d->nsnaps; i++)
		if (strcmp(d->snaps[i].name, snap) == 0)
			return &d->snaps[i];
	return NULL;
}

enum bk_code lp_meta_snap(const struct lp_meta *m, const char *name,
			  struct lp_ds **d, struct lp_snap **s,
			  struct bk_error *err)
{
	char ds[BK_LPOOL_NAME_MAX + 1];
	const char *at = strchr(name, '@');
	enum bk_code rc = lp_check_name(name, true, err);

	if (rc)
		return rc;
	snprintf(ds, sizeof(ds), "%.*s", (int)(at - name), name);
	*d = lp_meta_ds(m, ds);
	if (!*d)
		return bk_error_set(err, BK_ERR_NOTFOUND,
				    "dataset %s does not exist", ds);
	*s = lp_ds_snap(*d, at + 1);
	if (!*s)
		return bk_error_set(err, BK_ERR_NOTFOUND,
				    "snapshot %s does not exist", name);
	return BK_OK;
}

struct lp_snap *lp_ds_snap_guid(const struct lp_ds *d, uint64_t guid)
{
	for (size_t i = 0; i < d->nsnaps; i++)
		if (d->snaps[i].guid == guid)
			return &d->snaps[i];
	return NULL;
}

enum bk_code lp_ds_add_snap(struct lp_ds *d, const struct lp_snap *s,
			    struct bk_error *err)
{
	struct lp_snap *n = realloc(d->snaps, (d->nsnaps + 1) * sizeof(*n));

	if (!n)
		return bk_error_set(err, BK_ERR_NOMEM, "out of memory");
	d->snaps = n;
	d->snaps[d->nsnaps++] = *s;
	return BK_OK;
}

void lp_ds_remove_snap(struct lp_ds *d, size_t i)
{
	memmove(&d->snaps[i], &d->snaps[i + 1],
		(d->nsnaps - i - 1) * sizeof(*d->snaps));
	d->nsnaps--;
}

enum bk_code lp_meta_encode(const struct lp_meta *m, struct bk_buf *out,
			    struct bk_error *err)
{
	enum bk_code rc;
	char hex[2 * BK_ID_LEN + 1];

	rc = bk_buf_printf(out, err, "zbak-lpool 1\ntxg %" PRIu64 "\n", m->txg);
	for (size_t i = 0; !rc && i < m->nds; i++) {
		const struct lp_ds *d = &m->ds[i];

		bk_id_hex(&d->state, hex);
		rc = bk_buf_printf(out, err,
				   "D\t%s\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64
				   "\t%" PRIu64 "\t%s\t%s\n",
				   d->name, d->createtxg, d->creation, d->refer,
				   d->objects, hex,
				   d->origin[0] ? d->origin : "-");
		for (size_t j = 0; !rc && j < d->nsnaps; j++) {
			const struct lp_snap *s = &d->snaps[j];

			bk_id_hex(&s->state, hex);
			rc = bk_buf_printf(out, err,
					   "S\t%s\t%016" PRIx64 "\t%" PRIu64
					   "\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64
					   "\t%s\n",
					   s->name, s->guid, s->createtxg,
					   s->creation, s->refer, s->objects,
					   hex);
			for (const char *t = s->holds; !rc && *t;) {
				size_t tl = strcspn(t, " ");

				rc = bk_buf_printf(out, err, "H\t%.*s\n",
						   (int)tl, t);
				t += tl;
				while (*t == ' ')
					t++;
			}
		}
	}
	return rc;
}

static bool num(const char *s, int base, uint64_t *out)
{
	char *end;

	if (!*s || *s == '-' || *s == '+' || *s == ' ')
		return false;
	errno = 0;
	*out = strtoull(s, &end, base);
	return errno == 0 && *end == '\0';
}

/* Split line into at most max tab-separated fields (in place). */
static size_t fields(char *line, char **f, size_t max)
{
	size_t n = 0;

	while (n < max) {
		f[n++] = line;
		line = strchr(line, '\t');
		if (!line)
			return n;
		*line++ = '\0';
	}
	return max + 1; /* too many */
}

enum bk_code lp_meta_decode(const char *p, size_t len, struct lp_meta *m,
			    struct bk_error *err)
{
	char *copy = malloc(len + 1), *line, *next;
	struct lp_ds *cur = NULL;
	enum bk_code rc = BK_OK;
	unsigned lineno = 0;

	memset(m, 0, sizeof(*m));
	if (!copy)
		return bk_error_set(err, BK_ERR_NOMEM, "out of memory");
	memcpy(copy, p, len);
	copy[len] = '\0';
	if (strlen(copy) != len || len == 0 || copy[len - 1] != '\n') {
		free(copy);
		return bk_error_set(err, BK_ERR_FORMAT,
				    "damaged pool metadata: not a text file "
				    "ending in a newline");
	}
	for (line = copy; *line; line = next) {
		char *f[9];
		size_t nf;
		struct bk_error e2;

		next = strchr(line, '\n');
		*next++ = '\0';
		lineno++;
		if (lineno == 1) {
			if (strcmp(line, "zbak-lpool 1") != 0) {
				rc = BK_ERR_FORMAT;
				break;
			}
			continue;
		}
		if (lineno == 2) {
			if (strncmp(line, "txg ", 4) != 0 ||
			    !num(line + 4, 10, &m->txg)) {
				rc = BK_ERR_FORMAT;
				break;
			}
			continue;
		}
		nf = fields(line, f, 8);
		if (nf == 8 && strcmp(f[0], "D") == 0) {
			struct lp_ds *d;

			if (lp_check_name(f[1], false, &e2) ||
			    lp_meta_ds(m, f[1]) ||
			    (m->nds && strcmp(m->ds[m->nds - 1].name, f[1]) > 0)) {
				rc = BK_ERR_FORMAT;
				break;
			}
			if ((rc = lp_meta_add_ds(m, f[1], &d, err)))
				goto out;
			if (!num(f[2], 10, &d->createtxg) ||
			    !num(f[3], 10, &d->creation) ||
			    !num(f[4], 10, &d->refer) ||
			    !num(f[5], 10, &d->objects) ||
			    bk_id_parse(f[6], &d->state, &e2) ||
			    (strcmp(f[7], "-") != 0 &&
			     lp_check_name(f[7], true, &e2))) {
				rc = BK_ERR_FORMAT;
				break;
			}
			if (strcmp(f[7], "-") != 0)
				snprintf(d->origin, sizeof(d->origin), "%s",
					 f[7]);
			cur = d;
		} else if (nf == 8 && strcmp(f[0], "S") == 0 && cur) {
			struct lp_snap s;
			char full[LP_NAME_MAX];

			memset(&s, 0, sizeof(s));
			snprintf(full, sizeof(full), "%s@%s", cur->name, f[1]);
			if (strlen(f[1]) > BK_LPOOL_NAME_MAX ||
			    lp_check_name(full, true, &e2) ||
			    lp_ds_snap(cur, f[1]) || !num(f[2], 16, &s.guid) ||
			    !num(f[3], 10, &s.createtxg) ||
			    !num(f[4], 10, &s.creation) ||
			    !num(f[5], 10, &s.refer) ||
			    !num(f[6], 10, &s.objects) ||
			    bk_id_parse(f[7], &s.state, &e2) ||
			    (cur->nsnaps &&
			     cur->snaps[cur->nsnaps - 1].createtxg >=
				     s.createtxg)) {
				rc = BK_ERR_FORMAT;
				break;
			}
			snprintf(s.name, sizeof(s.name), "%s", f[1]);
			if ((rc = lp_ds_add_snap(cur, &s, err)))
				goto out;
		} else if (nf == 2 && strcmp(f[0], "H") == 0 && cur &&
			   cur->nsnaps) {
			struct lp_snap *s = &cur->snaps[cur->nsnaps - 1];

			if (lp_check_tag(f[1], &e2) ||
			    lp_holds_has(s->holds, f[1]) ||
			    !lp_holds_add(s->holds, f[1])) {
				rc = BK_ERR_FORMAT;
				break;
			}
		} else {
			rc = BK_ERR_FORMAT;
			break;
		}
	}
	if (!rc && lineno < 2)
		rc = BK_ERR_FORMAT;
	if (rc)
		bk_error_set(err, rc, "damaged pool metadata at line %u",
			     lineno);
out:
	free(copy);
	if (rc)
		lp_meta_free(m);
	return rc;
}
