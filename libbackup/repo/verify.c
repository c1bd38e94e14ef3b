/* SPDX-License-Identifier: MIT */
/*
 * zbak verify: every manifest opens and parses, every recipe segment opens
 * and every chunk it names is indexed, every indexed chunk lies inside an
 * existing pack, every incremental's source is stored; with read_data, packs
 * are downloaded and every chunk authenticated and checked against its id.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backup/chain.h"
#include "backup/clock.h"
#include "repo/repo_impl.h"

struct packsz {
	struct bk_id id;
	uint64_t size;
	bool indexed;
};

struct vctx {
	struct bk_repo *r;
	const struct bk_verify_opts *o;
	struct bk_verify_result *res;
	enum bk_code first;
	struct bk_error first_err;
	struct packsz *packs;
	size_t npacks, cap;
};

static void problem(struct vctx *c, enum bk_code code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void problem(struct vctx *c, enum bk_code code, const char *fmt, ...)
{
	char msg[BK_ERROR_MSG_MAX + 128];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	c->res->problems++;
	if (!c->first) {
		c->first = code;
		bk_error_set(&c->first_err, code, "%s", msg);
	}
	if (c->o && c->o->report)
		c->o->report(c->o->report_ctx, msg);
}

/*
 * Tampering that versions show (a versioned bucket: Object Lock needs one,
 * and an append-only repository wants one): an object zbak writes once
 * (packs, indexes, recipe segments, manifests, forget records) that has
 * more than one version was written again, by someone holding the keys
 * (a compromised host may overwrite what it may put) or by a fault.
 * S3 lists the versions of one key together, newest first.
 */
struct vers_ctx {
	struct vctx *c;
	char last[BK_REPO_KEY_MAX];
	unsigned n;
};

static bool written_once(const char *key)
{
	static const char *const pfx[] = { "data/", "index/", "recipes/",
					   "snapshots/", "forgotten/" };

	for (size_t i = 0; i < sizeof(pfx) / sizeof(pfx[0]); i++)
		if (!strncmp(key, pfx[i], strlen(pfx[i])))
			return true;
	return false;
}

static void vers_flush(struct vers_ctx *v)
{
	if (v->n > 1 && written_once(v->last))
		problem(v->c, BK_ERR_AUTH,
			"%s: %u versions: an object zbak writes once was "
			"written again (tampering by someone holding the "
			"keys, or a storage fault)",
			v->last, v->n);
}

static enum bk_code on_version(void *ctx, const char *key, uint64_t size,
			       bool marker, struct bk_error *err)
{
	struct vers_ctx *v = ctx;

	(void)size;
	(void)err;
	if (strcmp(key, v->last) != 0) {
		vers_flush(v);
		snprintf(v->last, sizeof(v->last), "%s", key);
		v->n = 0;
	}
	if (!marker)
		v->n++;
	return BK_OK;
}

static void check_versions(struct vctx *c)
{
	struct vers_ctx v = { c, "", 0 };
	struct bk_error e;
	enum bk_code rc;

	if (!bk_repo_append_only(c->r) && !bk_store_lock_days(c->r->store))
		return;
	rc = bk_store_versions(c->r->store, "", on_version, &v, &e);
	if (!rc)
		vers_flush(&v);
	else if (rc != BK_ERR_UNSUPPORTED)
		repo_warn(c->r, "object versions not checked: %s", e.msg);
}

/* An index object that does not open: damage (index_load goes on without
 * it and finds its chunks from the packs). */
static void index_problem(void *ctx, const char *line)
{
	problem(ctx, BK_ERR_AUTH, "%s", line);
}

static enum bk_code note_pack(void *vctx, const char *key, uint64_t size,
			      struct bk_error *err)
{
	struct vctx *c = vctx;
	const char *base = strrchr(key, '/');
	struct bk_id id;

	if (!base || bk_id_parse(base + 1, &id, NULL) != BK_OK) {
		problem(c, BK_ERR_FORMAT, "%s: not a pack name", key);
		return BK_OK;
	}
	if (c->npacks == c->cap) {
		size_t nc = c->cap ? c->cap * 2 : 256;
		struct packsz *np = realloc(c->packs, nc * sizeof(*np));

		if (!np)
			return bk_error_set(err, BK_ERR_NOMEM, "out of memory");
		c->packs = np;
		c->cap = nc;
	}
	c->packs[c->npacks].id = id;
	c->packs[c->npacks].indexed = false;
	c->packs[c->npacks++].size = size;
	return BK_OK;
}

static int cmp_pack(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct bk_id));
}

static struct packsz *find_pack(struct vctx *c, const struct bk_id *id)
{
	if (!c->npacks)
		return NULL;
	return bsearch(id, c->packs, c->npacks, sizeof(*c->packs), cmp_pack);
}

static enum bk_code check_entry(void *vctx, const struct bk_id *id,
				const struct bk_loc *loc, struct bk_error *err)
{
	struct vctx *c = vctx;
	struct packsz *p = find_pack(c, &loc->pack);
	char h[2 * BK_ID_LEN + 1], ph[2 * BK_ID_LEN + 1];

	(void)err;
	c->res->chunks++;
	bk_id_hex(id, h);
	bk_id_hex(&loc->pack, ph);
	if (!p) {
		problem(c, BK_ERR_MISSING,
			"chunk %s: its pack data/%.2s/%s is missing", h, ph,
			ph);
		return BK_OK;
	}
	p->indexed = true;
	if (loc->off + loc->len + PACK_TRAILER_LEN > p->size)
		problem(c, BK_ERR_FORMAT,
			"chunk %s: lies past the end of pack %s", h, ph);
	return BK_OK;
}

static void check_snapshot(struct vctx *c, struct bk_index *idx,
			   const char *key, struct manifest *m,
			   struct bk_buf *seg)
{
	struct bk_hash digest;
	struct bk_id got;
	uint64_t chunks = 0;

	bk_hash_init(&digest);
	for (size_t i = 0; i < m->nsegments; i++) {
		struct bk_error err;
		struct recipe_iter it;
		struct recipe_entry e;

		if (recipe_load_segment(c->r, &m->segments[i], seg, &digest,
					&err)) {
			problem(c, err.code, "%s: %s", m->name, err.msg);
			return;
		}
		recipe_iter_init(&it, seg->data, seg->len);
		while (recipe_next(&it, &e)) {
			struct bk_loc loc;

			if (e.kind != RECIPE_CHUNK)
				continue;
			if (!index_get(idx, &e.id, &loc)) {
				char h[2 * BK_ID_LEN + 1];

				bk_id_hex(&e.id, h);
				problem(c, BK_ERR_MISSING,
					"%s: chunk %s is in no index",
					m->name, h);
			} else if (loc.rawlen != e.rawlen) {
				problem(c, BK_ERR_FORMAT,
					"%s: chunk length differs "
					"from the index",
					m->name);
			}
			chunks++;
		}
		if (it.damaged) {
			problem(c, BK_ERR_FORMAT,
				"%s: damaged recipe segment", m->name);
			return;
		}
	}
	bk_hash_final(&digest, &got);
	if (memcmp(&got, &m->digest, sizeof(got)) != 0)
		problem(c, BK_ERR_CHECKSUM,
			"%s: recipe does not match the manifest's digest",
			m->name);
	if (chunks != m->chunks)
		problem(c, BK_ERR_FORMAT,
			"%s: recipe names %" PRIu64 " chunks, manifest %" PRIu64,
			m->name, chunks, m->chunks);
	(void)key;
}

/* Download whole packs and check every blob. */
static void read_pack(struct vctx *c, struct bk_index *idx,
		      const struct packsz *p)
{
	char key[80];
	struct bk_buf raw, plain, chunk;
	struct pack_entry *e = NULL;
	size_t n = 0;
	struct bk_error err;
	char hex[2 * BK_ID_LEN + 1];

	repo_pack_key(&p->id, key);
	bk_buf_init(&raw, p->size + 1);
	bk_buf_init(&plain, BK_DRR_MAX_PAYLOAD + 64);
	bk_buf_init(&chunk, BK_DRR_MAX_PAYLOAD + 1);
	if (pack_read_header(c->r, &p->id, p->size, &e, &n, &err)) {
		problem(c, err.code, "%s", err.msg);
		goto out;
	}
	if (bk_store_get(c->r->store, key, &raw, &err)) {
		problem(c, err.code, "%s", err.msg);
		goto out;
	}
	c->res->packs_read++;
	c->res->bytes_read += raw.len;
	for (size_t i = 0; i < n; i++) {
		struct bk_loc loc;

		bk_id_hex(&e[i].id, hex);
		if (e[i].off + e[i].len > raw.len) {
			problem(c, BK_ERR_FORMAT, "%s: chunk %s out of bounds",
				key, hex);
			continue;
		}
		if (chunk_open_blob(c->r->keys, &e[i].id, key, e[i].off,
				    raw.data + e[i].off, e[i].len, &plain,
				    &chunk, &err)) {
			problem(c, err.code, "%s", err.msg);
			continue;
		}
		c->res->chunks_read++;
		if (index_get(idx, &e[i].id, &loc) &&
		    memcmp(&loc.pack, &p->id, sizeof(loc.pack)) == 0 &&
		    (loc.off != e[i].off || loc.len != e[i].len))
			problem(c, BK_ERR_FORMAT,
				"%s: chunk %s: index and pack header disagree",
				key, hex);
	}
out:
	free(e);
	bk_buf_release(&raw);
	bk_buf_release(&plain);
	bk_buf_release(&chunk);
}

/* Chains (chain.c): every stream that needs a parent has one stored, and
 * no parents loop. */
static enum bk_code check_chains(struct vctx *c, const struct manifest *ms,
				 const bool *ok, const struct keylist *keys,
				 struct bk_error *err)
{
	struct bk_snapshot *v = calloc(keys->n ? keys->n : 1, sizeof(*v));
	size_t *at = calloc(keys->n ? keys->n : 1, sizeof(*at));
	size_t *parent = calloc(keys->n ? keys->n : 1, sizeof(*parent));
	bool *cyclic = calloc(keys->n ? keys->n : 1, sizeof(*cyclic));
	size_t n = 0;
	enum bk_code rc = BK_OK;

	if (!v || !at || !parent || !cyclic) {
		rc = bk_error_set(err, BK_ERR_NOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < keys->n; i++) {
		if (!ok[i])
			continue;
		snprintf(v[n].dataset, sizeof(v[n].dataset), "%s",
			 ms[i].dataset);
		snprintf(v[n].snap, sizeof(v[n].snap), "%s", ms[i].snap);
		snprintf(v[n].key, sizeof(v[n].key), "%s", keys->key[i]);
		v[n].toguid = ms[i].toguid;
		v[n].fromguid = ms[i].fromguid;
		v[n].compound = ms[i].compound;
		v[n].package_full = ms[i].package == MANIFEST_PACKAGE_FULL;
		at[n++] = i;
	}
	rc = bk_chain_parents(v, n, parent, err);
	if (!rc)
		rc = bk_chain_cycles(parent, n, cyclic, err);
	for (size_t k = 0; !rc && k < n; k++) {
		const struct manifest *m = &ms[at[k]];

		if (bk_chain_needs_parent(&v[k]) && parent[k] == BK_CHAIN_NONE)
			problem(c, BK_ERR_MISSING,
				"%s: chain broken: its source (guid %016" PRIx64
				") is not in the repository",
				m->name, m->fromguid);
		else if (cyclic[k])
			problem(c, BK_ERR_MISSING,
				"%s: chain broken: its sources lead back to "
				"it, never to a full stream",
				m->name);
	}
out:
	free(v);
	free(at);
	free(parent);
	free(cyclic);
	return rc;
}

/* The indexes alone (chunks only in unindexed packs do not count), as
 * the repository holds them, not the local cache's copies; then the packs,
 * and every index entry against them. */
static enum bk_code check_store(struct vctx *c, struct bk_index **idx,
				struct bk_error *err)
{
	enum bk_code rc;

	rc = index_new(idx, err);
	if (!rc)
		rc = index_load(c->r, *idx, false, false, index_problem, c,
				err);
	if (rc)
		return rc;
	c->res->indexes = index_objects(*idx);
	rc = bk_store_list(c->r->store, "data/", note_pack, c, err);
	if (rc)
		return rc;
	if (c->npacks)
		qsort(c->packs, c->npacks, sizeof(*c->packs), cmp_pack);
	c->res->packs = c->npacks;
	return index_foreach(*idx, check_entry, c, err);
}

/* Each manifest: opened, under its own name, and all it needs present. */
static void check_snapshots(struct vctx *c, struct bk_index *idx,
			    const struct keylist *keys, struct manifest *ms,
			    bool *ok, struct bk_buf *seg)
{
	for (size_t i = 0; i < keys->n; i++) {
		struct bk_error e;
		char name[BK_REPO_KEY_MAX];

		c->res->snapshots++;
		if (manifest_load(c->r, keys->key[i], &ms[i], &e)) {
			problem(c, e.code, "%s", e.msg);
			continue;
		}
		/* the manifest must name the key it is stored under */
		if (repo_name_from_key(keys->key[i], name, sizeof(name), &e) ||
		    strcmp(name, ms[i].name) != 0) {
			problem(c, BK_ERR_AUTH, "%s holds the manifest of %s",
				keys->key[i], ms[i].name);
			continue;
		}
		ok[i] = true;
		check_snapshot(c, idx, keys->key[i], &ms[i], seg);
	}
}

/* A forgotten manifest that Object Lock retention still keeps is as
 * expected: gc deletes it when the retention ends. */
static bool kept_by_retention(struct vctx *c, const char *key)
{
	uint64_t until;
	struct bk_error e;

	return bk_store_lock_days(c->r->store) &&
	       bk_store_retention(c->r->store, key, &until, &e) == BK_OK &&
	       until > (uint64_t)time(NULL);
}

/* Nothing deleted, replaced or put back behind zbak's back (trust.c);
 * takes st over. */
static enum bk_code check_trust(struct vctx *c, struct trust_state *st,
				const struct keylist *keys,
				const struct manifest *ms, const bool *ok,
				struct bk_error *err)
{
	struct trust_snap *t = calloc(keys->n ? keys->n : 1, sizeof(*t));
	struct bk_error e;

	if (!t) {
		repo_trust_abandon(st);
		return bk_error_set(err, BK_ERR_NOMEM, "out of memory");
	}
	for (size_t i = 0; i < keys->n; i++) {
		t[i].key = keys->key[i];
		t[i].opened = ok[i];
		t[i].ident = ms[i].ident;
	}
	if (repo_trust_listing(c->r, st, t, keys->n, &e))
		problem(c, e.code, "%s", e.msg);
	for (size_t i = 0; i < keys->n; i++)
		if (t[i].forgotten && !kept_by_retention(c, keys->key[i]))
			problem(c, BK_ERR_AUTH,
				"%s was forgotten, but its manifest is "
				"there: a forget that did not finish, "
				"or an old manifest put back ('zbak "
				"forget %s' removes it)",
				keys->key[i], ms[i].name);
	free(t);
	return BK_OK;
}

/* Packs in no index: garbage for gc, or a push in progress. */
static void report_unindexed(struct vctx *c)
{
	for (size_t i = 0; i < c->npacks; i++) {
		char key[80], line[200];

		if (c->packs[i].indexed)
			continue;
		c->res->unindexed_packs++;
		repo_pack_key(&c->packs[i].id, key);
		snprintf(line, sizeof(line),
			 "%s (%" PRIu64 " bytes) is in no index: left by a "
			 "push that did not finish (or one in progress), "
			 "garbage for gc",
			 key, c->packs[i].size);
		if (c->o && c->o->warn)
			c->o->warn(c->o->report_ctx, line);
	}
}

/* --read-data: a random sample of the packs that matter, from a random
 * start, in id order. */
static void read_sample(struct vctx *c, struct bk_index *idx)
{
	uint64_t indexed = c->npacks - c->res->unindexed_packs;
	uint64_t want = (indexed * (uint64_t)c->o->read_data_percent + 99) /
			100;
	size_t start = 0;
	uint64_t total = 0, left = want;
	double last = 0;
	bk_progress_fn progress = c->o->progress;

	if (c->npacks) {
		uint32_t rnd;

		bk_random(&rnd, sizeof(rnd));
		start = rnd % c->npacks;
	}
	/* the sample's bytes first, so that progress has a total */
	for (size_t i = 0; progress && i < c->npacks && left; i++) {
		struct packsz *p = &c->packs[(start + i) % c->npacks];

		if (p->indexed) {
			total += p->size;
			left--;
		}
	}
	if (progress)
		progress(c->o->progress_ctx, 0, total);
	for (size_t i = 0; i < c->npacks && want; i++) {
		struct packsz *p = &c->packs[(start + i) % c->npacks];

		if (!p->indexed)
			continue;
		read_pack(c, idx, p);
		want--;
		if (progress &&
		    (!want || bk_mono() - last >= BK_PROGRESS_EVERY)) {
			last = bk_mono();
			progress(c->o->progress_ctx, c->res->bytes_read, total);
		}
	}
}

enum bk_code bk_verify(struct bk_repo *r, const struct bk_verify_opts *o,
		       struct bk_verify_result *res, struct bk_error *err)
{
	struct trust_state *st = NULL;
	struct vctx c = { .r = r, .o = o, .res = res };
	struct bk_index *idx = NULL;
	struct keylist keys = { 0 };
	struct manifest *ms = NULL;
	bool *ok = NULL;
	struct bk_buf seg;
	struct repo_lock *lock = NULL;
	enum bk_code rc;

	memset(res, 0, sizeof(*res));
	bk_buf_init(&seg, RECIPE_SEGMENT + BK_DRR_MAX_BEGIN_PAYLOAD + 2048);
	/* shared: a gc running beside us would make its deletions look like
	 * damage */
	rc = repo_lock_take(r, false, &lock, err);
	if (rc && rc != BK_ERR_BUSY)
		rc = BK_OK; /* a store we may only read: verify it anyway */
	if (rc)
		goto out;
	/* Snapshots first, then indexes, then packs: a push writes packs,
	 * then its index, then its manifest, so in this order everything a
	 * listed manifest needs is found even while pushes run beside us. */
	st = repo_trust_begin(r); /* before the listing (repo_impl.h) */
	rc = keylist_collect(r->store, "snapshots/", &keys, err);
	if (!rc)
		rc = check_store(&c, &idx, err);
	if (rc)
		goto out;
	ms = calloc(keys.n ? keys.n : 1, sizeof(*ms));
	ok = calloc(keys.n ? keys.n : 1, sizeof(*ok));
	if (!ms || !ok) {
		rc = bk_error_set(err, BK_ERR_NOMEM, "out of memory");
		goto out;
	}
	check_snapshots(&c, idx, &keys, ms, ok, &seg);
	rc = check_trust(&c, st, &keys, ms, ok, err);
	st = NULL;
	/* chains: every incremental's source is stored */
	if (!rc)
		rc = check_chains(&c, ms, ok, &keys, err);
	if (rc)
		goto out;
	report_unindexed(&c);
	check_versions(&c);
	if (r->mode_dropped)
		problem(&c, BK_ERR_AUTH,
			"config: append_only is gone, but this machine saw the "
			"repository append-only (an admin's change: 'zbak "
			"accept-changes'; otherwise the config was altered)");
	if (o && o->read_data_percent)
		read_sample(&c, idx);
	rc = BK_OK;
out:
	for (size_t i = 0; ms && i < keys.n; i++)
		manifest_release(&ms[i]);
	keylist_free(&keys);
	free(ms);
	free(ok);
	free(c.packs);
	index_free(idx);
	bk_buf_release(&seg);
	repo_trust_abandon(st);
	repo_lock_release(lock);
	if (!rc && res->problems) {
		*err = c.first_err;
		rc = c.first ? c.first : BK_ERR_CHECKSUM;
	}
	return rc;
}
