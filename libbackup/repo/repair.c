/* SPDX-License-Identifier: MIT */
/*
 * zbak repair (docs/repository.md, "Repair"), in the spirit of restic's
 * `repair index` and `repair snapshots`.  Under the exclusive lock:
 *
 *   1. every pack's header is read and authenticated; with read_data the
 *      whole pack too, and only chunks that open and match their ids
 *      count; a pack whose header does not open contributes nothing;
 *   2. one new index object lists exactly the chunks found (written
 *      first), then every old index object is deleted, damaged ones
 *      included, and the local cache follows;
 *   3. every snapshot is checked against it: one that names a chunk no
 *      pack holds any more is broken, and is reported with what heals it:
 *      the same stream pushed again (a push stores what the index lacks,
 *      so the snapshot's missing chunks come back), or a forget.
 *
 * Nothing that a snapshot references is ever deleted here.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "repo/repo_impl.h"

struct repair {
	struct bk_repo *r;
	const struct bk_repair_opts *o;
	struct bk_repair_result *res;
	struct bk_index *idx;
	uint64_t missing; /* chunks of the snapshot being checked */
};

static void say(struct repair *rp, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void say(struct repair *rp, const char *fmt, ...)
{
	char line[BK_ERROR_MSG_MAX + 512];
	va_list ap;

	if (!rp->o || !rp->o->report)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	rp->o->report(rp->o->report_ctx, line);
}

/* 1. the chunks of one pack */
static enum bk_code index_pack(struct repair *rp, const char *key,
			       uint64_t size, struct bk_buf *raw,
			       struct bk_buf *plain, struct bk_buf *chunk,
			       struct bk_error *err)
{
	const char *base = strrchr(key, '/');
	struct pack_entry *e = NULL;
	struct bk_error perr;
	struct bk_id pack;
	size_t n = 0;
	enum bk_code rc;

	if (!base || bk_id_parse(base + 1, &pack, NULL) != BK_OK)
		return BK_OK; /* not a pack: verify reports it */
	rp->res->packs++;
	rc = pack_read_header(rp->r, &pack, size, &e, &n, &perr);
	if (!rc && rp->o->read_data) {
		bk_buf_reset(raw);
		rc = bk_store_get(rp->r->store, key, raw, &perr);
	}
	if (rc == BK_ERR_NOMEM || rc == BK_ERR_STORAGE || rc == BK_ERR_IO) {
		free(e);
		return bk_error_set(err, rc, "%s", perr.msg);
	}
	if (rc) {
		rp->res->packs_unreadable++;
		say(rp, "%s does not open (%s): none of its chunks is indexed",
		    key, perr.msg);
		free(e);
		return BK_OK;
	}
	for (size_t j = 0; j < n; j++) {
		struct bk_loc loc = { pack, e[j].off, e[j].len, e[j].rawlen };

		if (e[j].off + e[j].len > size || index_get(rp->idx, &e[j].id,
							    NULL))
			continue;
		if (rp->o->read_data &&
		    (chunk_open_blob(rp->r->keys, &e[j].id, key, e[j].off,
				     raw->data + e[j].off, e[j].len, plain,
				     chunk, &perr) != BK_OK ||
		     chunk->len != e[j].rawlen)) {
			rp->res->chunks_damaged++;
			say(rp, "%s: a chunk at byte %" PRIu64 " is damaged "
				"(%s): left out",
			    key, e[j].off, perr.msg);
			continue;
		}
		index_set(rp->idx, &e[j].id, &loc, IDX_NEW);
		rp->res->chunks++;
	}
	free(e);
	return BK_OK;
}

/* 3. a chunk of a snapshot's recipe: is it in the new index? */
static enum bk_code count_missing(void *ctx, const struct recipe_entry *e,
				  struct bk_error *err)
{
	struct repair *rp = ctx;

	(void)err;
	if (!index_get(rp->idx, &e->id, NULL))
		rp->missing++;
	return BK_OK;
}

static enum bk_code check_snapshot(struct repair *rp, const char *key,
				   struct bk_buf *seg, struct bk_error *err)
{
	struct manifest m;
	struct bk_error e2;
	enum bk_code rc;
	bool whole = true;

	rp->res->snapshots++;
	memset(&m, 0, sizeof(m));
	rc = manifest_load(rp->r, key, &m, &e2);
	if (rc == BK_ERR_NOMEM || rc == BK_ERR_STORAGE)
		return bk_error_set(err, rc, "%s", e2.msg);
	if (rc) {
		rp->res->snapshots_broken++;
		say(rp, "broken: %s: %s (zbak forget cannot read it either: "
			"delete the object by hand, or restore it from a copy)",
		    key, e2.msg);
		return BK_OK;
	}
	rp->missing = 0;
	for (size_t i = 0; i < m.nsegments && whole; i++) {
		char what[700];

		rc = recipe_load_segment(rp->r, &m.segments[i], seg, NULL,
					 &e2);
		snprintf(what, sizeof(what), "%s, recipe segment %zu", m.name,
			 i + 1);
		if (!rc)
			rc = recipe_scan(seg->data, seg->len, what,
					 count_missing, rp, &e2);
		if (rc == BK_ERR_NOMEM || rc == BK_ERR_STORAGE) {
			manifest_release(&m);
			return bk_error_set(err, rc, "%s", e2.msg);
		}
		if (rc) {
			whole = false;
			say(rp, "broken: %s: %s (zbak forget %s removes it)",
			    m.name, e2.msg, m.name);
		}
	}
	if (whole && rp->missing) {
		whole = false;
		say(rp,
		    "broken: %s: %" PRIu64 " of its %" PRIu64 " chunks are in "
		    "no pack; push the same stream again to store them again "
		    "(zbak push --name %s-again; a push stores what the index "
		    "lacks, which heals %s too), or zbak forget %s",
		    m.name, rp->missing, m.chunks, m.name, m.name, m.name);
	}
	if (!whole)
		rp->res->snapshots_broken++;
	manifest_release(&m);
	return BK_OK;
}

enum bk_code bk_repair(struct bk_repo *r, const struct bk_repair_opts *o,
		       struct bk_repair_result *res, struct bk_error *err)
{
	static const struct bk_repair_opts defaults;
	struct repair rp = { r, o ? o : &defaults, res, NULL, 0 };
	struct keylist packs = { 0 }, old = { 0 }, now = { 0 }, snaps = { 0 };
	struct repo_lock *lock = NULL;
	struct bk_buf raw, plain, chunk, seg;
	enum bk_code rc;

	memset(res, 0, sizeof(*res));
	bk_buf_init(&raw, (64u << 20) + 1);
	bk_buf_init(&plain, BK_DRR_MAX_PAYLOAD + 64);
	bk_buf_init(&chunk, BK_DRR_MAX_PAYLOAD + 1);
	bk_buf_init(&seg, RECIPE_SEGMENT + BK_DRR_MAX_BEGIN_PAYLOAD + 2048);
	/* exclusive: no push may add chunks the new index would not list */
	rc = repo_lock_take(r, !rp.o->dry_run, &lock, err);
	if (!rc)
		rc = index_new(&rp.idx, err);
	if (!rc)
		rc = keylist_collect(r->store, "index/", &old, err);
	if (!rc)
		rc = keylist_collect(r->store, "data/", &packs, err);
	for (size_t i = 0; !rc && i < packs.n; i++)
		rc = index_pack(&rp, packs.key[i], packs.size[i], &raw, &plain,
				&chunk, err);
	if (rc)
		goto out;
	res->indexes_before = old.n;
	/* 2. the new index before the old ones go */
	if (!rp.o->dry_run) {
		rc = index_write(r, rp.idx, NULL, err);
		for (size_t i = 0; !rc && i < old.n; i++)
			rc = bk_store_delete(r->store, old.key[i], err);
		if (!rc)
			rc = keylist_collect(r->store, "index/", &now, err);
		if (rc)
			goto out;
		res->indexes_after = now.n;
		repo_cache_prune(r, now.key, now.n);
		/* what this process had loaded is out of date */
		pthread_mutex_lock(&r->index_mu);
		index_free(r->index);
		r->index = NULL;
		pthread_mutex_unlock(&r->index_mu);
	} else {
		res->indexes_after = res->chunks ? 1 : 0;
	}
	say(&rp, "index: %" PRIu64 " chunks in %" PRIu64 " packs; %" PRIu64
		 " index objects %s %s",
	    res->chunks, res->packs - res->packs_unreadable,
	    res->indexes_before,
	    rp.o->dry_run ? "would be replaced by" : "replaced by",
	    res->chunks ? "one" : "none");
	/* 3. the snapshots */
	rc = keylist_collect(r->store, "snapshots/", &snaps, err);
	for (size_t i = 0; !rc && i < snaps.n; i++)
		rc = check_snapshot(&rp, snaps.key[i], &seg, err);
	if (!rc && res->snapshots_broken)
		rc = bk_error_set(err, BK_ERR_MISSING,
				  "%" PRIu64 " of %" PRIu64 " snapshots are "
				  "broken (listed above); the index is "
				  "rebuilt",
				  res->snapshots_broken, res->snapshots);
out:
	repo_lock_release(lock);
	index_free(rp.idx);
	keylist_free(&packs);
	keylist_free(&old);
	keylist_free(&now);
	keylist_free(&snaps);
	bk_buf_release(&raw);
	bk_buf_release(&plain);
	bk_buf_release(&chunk);
	bk_buf_release(&seg);
	return rc;
}
