/* SPDX-License-Identifier: MIT */
/*
 * Walks over a file system's tree (bk_zpl_tree) and what they share with
 * the extraction: sorted directory entries, and the set of directories
 * entered, so that a hostile dataset whose directories form a cycle gets
 * an error instead of an endless walk.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "zpl_impl.h"

#define ENTRIES_MAX (UINT64_C(1) << 24) /* names in one directory */

static int ent_fn(void *ctx, const char *name, uint64_t obj, unsigned dtype)
{
	struct zpl_ents *e = ctx;

	(void)dtype;
	if (e->n == e->cap) {
		size_t cap = e->cap ? 2 * e->cap : 64;
		struct zpl_ent *v;

		if (cap > ENTRIES_MAX ||
		    !(v = realloc(e->v, cap * sizeof(*v)))) {
			e->nomem = true;
			return 1;
		}
		e->v = v;
		e->cap = cap;
	}
	if (!(e->v[e->n].name = strdup(name))) {
		e->nomem = true;
		return 1;
	}
	e->v[e->n++].obj = obj;
	return 0;
}

static int ent_cmp(const void *a, const void *b)
{
	return strcmp(((const struct zpl_ent *)a)->name,
		      ((const struct zpl_ent *)b)->name);
}

void zpl_ents_free(struct zpl_ents *e)
{
	for (size_t i = 0; i < e->n; i++)
		free(e->v[i].name);
	free(e->v);
	memset(e, 0, sizeof(*e));
}

enum bk_code zpl_dir_entries(struct bk_zpl *z, uint64_t dir,
			     struct zpl_ents *out, struct bk_error *err)
{
	enum bk_code rc;

	memset(out, 0, sizeof(*out));
	rc = bk_zpl_readdir(z, dir, ent_fn, out, err);
	if (!rc && out->nomem)
		rc = bk_error_set(err, BK_ERR_NOMEM,
				  "directory %llu: out of memory (or more "
				  "than %llu names)",
				  (unsigned long long)dir,
				  (unsigned long long)ENTRIES_MAX);
	if (rc) {
		zpl_ents_free(out);
		return rc;
	}
	if (out->n > 1) /* qsort of NULL is undefined, even for 0 */
		qsort(out->v, out->n, sizeof(*out->v), ent_cmp);
	/* two entries of one name would make a restore replace one with
	 * the other: a damaged or hostile directory */
	for (size_t i = 1; i < out->n; i++)
		if (!strcmp(out->v[i - 1].name, out->v[i].name)) {
			zpl_ents_free(out);
			return bk_error_set(err, BK_ERR_FORMAT,
					    "directory %llu names one entry "
					    "twice",
					    (unsigned long long)dir);
		}
	return BK_OK;
}

enum bk_code zpl_seen_add(struct zpl_seen *s, uint64_t obj,
			  struct bk_error *err)
{
	size_t lo = 0, hi = s->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (s->v[mid] < obj)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < s->n && s->v[lo] == obj)
		return bk_error_set(err, BK_ERR_FORMAT,
				    "directory %llu is reached twice (a "
				    "cycle, or a directory with two names)",
				    (unsigned long long)obj);
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 64;
		uint64_t *v = realloc(s->v, cap * sizeof(*v));

		if (!v)
			return bk_error_set(err, BK_ERR_NOMEM,
					    "out of memory");
		s->v = v;
		s->cap = cap;
	}
	memmove(s->v + lo + 1, s->v + lo, (s->n - lo) * sizeof(*s->v));
	s->v[lo] = obj;
	s->n++;
	return BK_OK;
}

void zpl_seen_free(struct zpl_seen *s)
{
	free(s->v);
	memset(s, 0, sizeof(*s));
}

/* ---- bk_zpl_tree ----------------------------------------------------- */

struct walker {
	struct bk_zpl *z;
	bk_zpl_visit_fn fn;
	void *ctx;
	bool recursive, stop;
	struct zpl_seen seen;
	char path[BK_ZPL_PATH_MAX + 1];
};

static enum bk_code list_dir(struct walker *w, uint64_t dir, size_t plen,
			     unsigned depth, struct bk_error *err);

/* obj (at w->path, plen bytes) to fn, then what is below it. */
static enum bk_code visit(struct walker *w, const struct bk_zpl_stat *st,
			  size_t plen, unsigned depth, bool descend,
			  struct bk_error *err)
{
	char target[BK_ZPL_PATH_MAX + 1];
	enum bk_code rc;

	if (S_ISLNK(st->mode) &&
	    (rc = bk_zpl_readlink(w->z, st->object, target, sizeof(target),
				  err)))
		return rc;
	if (w->fn(w->ctx, w->path, st, S_ISLNK(st->mode) ? target : NULL)) {
		w->stop = true;
		return BK_OK;
	}
	if (descend && S_ISDIR(st->mode))
		return list_dir(w, st->object, plen, depth + 1, err);
	return BK_OK;
}

static enum bk_code list_dir(struct walker *w, uint64_t dir, size_t plen,
			     unsigned depth, struct bk_error *err)
{
	struct zpl_ents e;
	struct bk_zpl_stat st;
	enum bk_code rc;
	/* "/" + name, but the root's children are "/name", not "//name" */
	size_t base = plen == 1 && w->path[0] == '/' ? 0 : plen;

	if (depth > BK_ZPL_DEPTH_MAX)
		return bk_error_set(err, BK_ERR_FORMAT,
				    "%s: more than %u directories deep",
				    w->path, BK_ZPL_DEPTH_MAX);
	if ((rc = zpl_seen_add(&w->seen, dir, err)) ||
	    (rc = zpl_dir_entries(w->z, dir, &e, err)))
		return rc;
	for (size_t i = 0; !rc && !w->stop && i < e.n; i++) {
		size_t n = strlen(e.v[i].name);

		if (base + 1 + n > BK_ZPL_PATH_MAX) {
			rc = bk_error_set(err, BK_ERR_FORMAT,
					  "%s: a path longer than %u bytes",
					  w->path, BK_ZPL_PATH_MAX);
			break;
		}
		w->path[base] = '/';
		memcpy(w->path + base + 1, e.v[i].name, n + 1);
		rc = bk_zpl_stat(w->z, e.v[i].obj, &st, err);
		if (rc)
			bk_error_prefix(err, "%s", w->path);
		else
			rc = visit(w, &st, base + 1 + n, depth, w->recursive,
				   err);
		w->path[plen] = 0;
	}
	zpl_ents_free(&e);
	return rc;
}

enum bk_code bk_zpl_tree(struct bk_zpl *z, uint64_t obj, const char *path,
			 bool recursive, bk_zpl_visit_fn fn, void *ctx,
			 struct bk_error *err)
{
	struct walker *w = calloc(1, sizeof(*w));
	struct bk_zpl_stat st;
	size_t plen = strlen(path);
	enum bk_code rc;

	if (!w)
		return bk_error_set(err, BK_ERR_NOMEM, "out of memory");
	w->z = z;
	w->fn = fn;
	w->ctx = ctx;
	w->recursive = recursive;
	if (plen == 0 || plen > BK_ZPL_PATH_MAX) {
		rc = bk_error_set(err, BK_ERR_USAGE, "a path of %zu bytes",
				  plen);
		goto out;
	}
	memcpy(w->path, path, plen + 1);
	if ((rc = bk_zpl_stat(z, obj, &st, err)))
		goto out;
	if (recursive || !S_ISDIR(st.mode))
		rc = visit(w, &st, plen, 0, recursive, err);
	else
		rc = list_dir(w, obj, plen, 1, err);
out:
	zpl_seen_free(&w->seen);
	free(w);
	return rc;
}
