/* SPDX-License-Identifier: MIT */
/*
 * zbak gc: remove what no snapshot references (docs/repository.md,
 * "Garbage collection").  Under the exclusive lock:
 *
 *   1. every manifest and recipe segment is read: the live chunks;
 *   2. the indexes (and the headers of unindexed packs) say where chunks
 *      are: per pack, its live bytes;
 *   3. packs that are mostly garbage are repacked: their live chunks go
 *      into new packs (sealed again), which are synced;
 *   4. one new index covering exactly the live chunks replaces the old
 *      ones (written first, then the old ones deleted);
 *   5. packs without live chunks, and recipe segments no manifest names,
 *      are deleted once they have been garbage for the safety margin
 *      (gc/pending remembers since when); temporaries of killed uploads
 *      older than the margin too.
 *
 * A crash at any step leaves more than needed, never less: nothing live is
 * deleted before what replaces it is durable.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backup/clock.h"
#include "repo/repo_impl.h"
#include "util/hooks.h"
#include "util/idset.h"

#define PENDING_KEY "gc/pending"
#define PENDING_MAX (64u << 20)

struct gpack {
	struct bk_id id;
	uint64_t size, live_bytes, live_chunks, chunks;
	bool repack;
	bool unindexed; /* no index object names it: a push died */
};

struct pending {
	char key[96];
	uint64_t since;
};

struct gc {
	struct bk_repo *r;
	const struct bk_gc_opts *o;
	struct bk_gc_result *res;
	struct bk_idset live;     /* chunk ids some recipe names */
	struct bk_idset segments; /* recipe segment ids some manifest names */
	struct gpack *packs;   /* sorted by id */
	size_t npacks;
	struct pending *pend; /* from gc/pending */
	size_t npend;
	struct pending *next; /* what the new gc/pending will hold */
	size_t nnext, capnext;
	struct keylist leftovers; /* forgotten manifests still there */
	struct keylist manifests; /* the others: live */
	uint64_t now, margin;
};

static void say(struct gc *g, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void say(struct gc *g, const char *fmt, ...)
{
	char line[BK_REPORT_MAX];
	va_list ap;

	if (!g->o || !g->o->report)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	g->o->report(g->o->report_ctx, line);
}

/* ---- 1. what is live ---------------------------------------------------- */

static enum bk_code mark_chunk(void *ctx, const struct recipe_entry *e,
			       struct bk_error *err)
{
	struct gc *g = ctx;

	return bk_idset_add(&g->live, e->id.b, err);
}

static enum bk_code scan_recipe(struct gc *g, const struct bk_buf *seg,
				const char *what, struct bk_error *err)
{
	enum bk_code rc = recipe_scan(seg->data, seg->len, what, mark_chunk, g,
				      err);

	if (rc == BK_ERR_FORMAT)
		bk_error_prefix(err, "not collecting anything");
	return rc;
}

static enum bk_code mark_live(struct gc *g, struct bk_error *err)
{
	struct keylist keys = { 0 };
	struct trust_snap *t = NULL;
	struct trust_state *st;
	struct manifest *ms = NULL;
	struct bk_buf seg;
	enum bk_code rc;

	bk_buf_init(&seg, RECIPE_SEGMENT + BK_DRR_MAX_BEGIN_PAYLOAD + 2048);
	st = repo_trust_begin(g->r); /* before the listing */
	rc = keylist_collect(g->r->store, "snapshots/", &keys, err);
	if (!rc && keys.n &&
	    (!(t = calloc(keys.n, sizeof(*t))) ||
	     !(ms = calloc(keys.n, sizeof(*ms)))))
		rc = bk_error_set(err, BK_ERR_NOMEM, "out of memory");
	for (size_t i = 0; !rc && i < keys.n; i++) {
		rc = manifest_load(g->r, keys.key[i], &ms[i], err);
		if (rc) {
			/* what it references is unknown: stop before harm */
			bk_error_prefix(err, "cannot collect garbage");
			break;
		}
		t[i].key = keys.key[i];
		t[i].ident = ms[i].ident;
		t[i].opened = true;
	}
	/* a snapshot deleted behind zbak's back would have its data
	 * collected here: refuse instead; a forgotten manifest still there
	 * keeps nothing alive (trust.c) */
	if (!rc) {
		rc = repo_trust_listing(g->r, st, t, keys.n, err);
		st = NULL;
		if (rc)
			bk_error_prefix(err, "cannot collect garbage");
	}
	repo_trust_abandon(st);
	for (size_t i = 0; !rc && i < keys.n; i++) {
		if (t[i].forgotten) {
			rc = keylist_add(&g->leftovers, keys.key[i], 0, err);
			continue;
		}
		rc = keylist_add(&g->manifests, keys.key[i], 0, err);
		for (size_t s = 0; !rc && s < ms[i].nsegments; s++) {
			struct bk_hash h;

			rc = bk_idset_add(&g->segments, &ms[i].segments[s], err);
			if (!rc) {
				bk_hash_init(&h);
				rc = recipe_load_segment(g->r, &ms[i].segments[s],
							 &seg, &h, err);
			}
			if (!rc)
				rc = scan_recipe(g, &seg, keys.key[i], err);
		}
	}
	for (size_t i = 0; ms && i < keys.n; i++)
		manifest_release(&ms[i]);
	free(ms);
	free(t);
	keylist_free(&keys);
	bk_buf_release(&seg);
	return rc;
}

/* ---- 2. where chunks are ------------------------------------------------ */

static int cmp_gpack(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct bk_id));
}

static struct gpack *find_gpack(struct gc *g, const struct bk_id *id)
{
	return g->npacks ? bsearch(id, g->packs, g->npacks, sizeof(*g->packs),
				   cmp_gpack)
			 : NULL;
}

static enum bk_code count_entry(void *ctx, const struct bk_id *id,
				const struct bk_loc *loc, struct bk_error *err)
{
	struct gc *g = ctx;
	struct gpack *p = find_gpack(g, &loc->pack);

	(void)err;
	if (!p)
		return BK_OK; /* an index naming a missing pack: verify says so */
	p->chunks++;
	if (bk_idset_has(&g->live, id)) {
		p->live_bytes += loc->len;
		p->live_chunks++;
	}
	return BK_OK;
}

/* ---- pending deletions -------------------------------------------------- */

/*
 * gc/pending: since when each garbage object has been garbage, by the
 * clock of the machine that first found it (its machine id on the first
 * line).  A gc on another machine starts every entry again from its own
 * now: two clocks never meet in one subtraction, so a clock that is hours
 * off cannot make young garbage old.  A gc/pending that does not open
 * (damaged, or not ours) is set aside the same way, with a warning: it
 * only ever delays deletions.
 */
static enum bk_code load_pending(struct gc *g, struct bk_error *err)
{
	struct bk_buf b;
	enum bk_code rc;
	char *line, *save = NULL, mine[64];
	bool same_clock = false;

	repo_machine_id(mine, sizeof(mine));
	bk_buf_init(&b, PENDING_MAX);
	rc = repo_get_opened(g->r, BK_OBJ_GC, PENDING_KEY, PENDING_MAX, &b, err);
	if (rc == BK_ERR_NOTFOUND) {
		bk_buf_release(&b);
		return BK_OK;
	}
	if (rc == BK_ERR_AUTH || rc == BK_ERR_FORMAT || rc == BK_ERR_LIMIT ||
	    rc == BK_ERR_TRUNCATED) {
		snprintf(g->res->pending_problem,
			 sizeof(g->res->pending_problem), "%s", err->msg);
		bk_error_clear(err);
		bk_buf_release(&b);
		return BK_OK;
	}
	if (rc) {
		bk_buf_release(&b);
		return rc;
	}
	for (line = strtok_r((char *)b.data, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char key[96];
		unsigned long long since;
		struct pending *np;

		if (!strncmp(line, "machine ", 8)) {
			same_clock = mine[0] && !strcmp(line + 8, mine);
			continue;
		}
		if (sscanf(line, "%95s %llu", key, &since) != 2 ||
		    (strncmp(key, "data/", 5) && strncmp(key, "recipes/", 8)))
			continue; /* tolerate: it only delays a deletion */
		np = realloc(g->pend, (g->npend + 1) * sizeof(*np));
		if (!np) {
			bk_buf_release(&b);
			return bk_error_set(err, BK_ERR_NOMEM, "out of memory");
		}
		g->pend = np;
		snprintf(g->pend[g->npend].key, sizeof(g->pend[0].key), "%s",
			 key);
		g->pend[g->npend++].since = since;
	}
	/* another machine's clock (or an older zbak's, which did not say):
	 * every entry counts from now */
	for (size_t i = 0; !same_clock && i < g->npend; i++)
		g->pend[i].since = g->now;
	bk_buf_release(&b);
	return BK_OK;
}

/* Since when key has been garbage (now when it is new). */
static uint64_t garbage_since(struct gc *g, const char *key)
{
	for (size_t i = 0; i < g->npend; i++)
		if (!strcmp(g->pend[i].key, key))
			return g->pend[i].since;
	return g->now;
}

/* A delete that Object Lock retention refused: kept, counted, said. */
static enum bk_code kept_retained(struct gc *g, enum bk_code rc,
				  struct bk_error *err)
{
	if (rc != BK_ERR_RETAINED)
		return rc;
	g->res->retained++;
	say(g, "keep %s", err->msg);
	return BK_OK;
}

/* What collect() did with a garbage object. */
enum fate { GONE, KEPT_YOUNG, KEPT_RETAINED };

/* Delete key when it has been garbage long enough, else remember it (also
 * when its Object Lock retention keeps it). */
static enum bk_code collect(struct gc *g, const char *key, enum fate *fate,
			    struct bk_error *err)
{
	uint64_t since = garbage_since(g, key);

	*fate = KEPT_YOUNG;
	if (since + g->margin <= g->now) {
		enum bk_code rc = g->o->dry_run
					  ? BK_OK
					  : bk_store_delete(g->r->store, key, err);

		if (!rc) {
			*fate = GONE;
			return BK_OK;
		}
		if (rc != BK_ERR_RETAINED)
			return rc;
		*fate = KEPT_RETAINED;
		kept_retained(g, rc, err);
	}
	if (g->nnext == g->capnext) {
		size_t nc = g->capnext ? 2 * g->capnext : 64;
		struct pending *np = realloc(g->next, nc * sizeof(*np));

		if (!np)
			return bk_error_set(err, BK_ERR_NOMEM, "out of memory");
		g->next = np;
		g->capnext = nc;
	}
	snprintf(g->next[g->nnext].key, sizeof(g->next[0].key), "%s", key);
	g->next[g->nnext++].since = since;
	return BK_OK;
}

static enum bk_code save_pending(struct gc *g, struct bk_error *err)
{
	struct bk_buf b;
	enum bk_code rc = BK_OK;
	char mine[64];

	if (g->o->dry_run)
		return BK_OK;
	if (!g->nnext)
		return bk_store_delete(g->r->store, PENDING_KEY, err);
	bk_buf_init(&b, PENDING_MAX);
	repo_machine_id(mine, sizeof(mine));
	if (mine[0])
		rc = bk_buf_printf(&b, err, "machine %s\n", mine);
	for (size_t i = 0; !rc && i < g->nnext; i++)
		rc = bk_buf_printf(&b, err, "%s %" PRIu64 "\n", g->next[i].key,
				   g->next[i].since);
	if (!rc)
		rc = repo_put_sealed_transient(g->r, BK_OBJ_GC, PENDING_KEY,
					       b.data, b.len, false, err);
	bk_buf_release(&b);
	return rc;
}

/* ---- 3. repack ----------------------------------------------------------- */

static enum bk_code repack(struct gc *g, struct bk_index *idx,
			   struct packer *pk, struct gpack *gp,
			   struct bk_error *err)
{
	struct pack_entry *ents = NULL;
	struct bk_buf raw, plain;
	char key[80], hex[2 * BK_ID_LEN + 1];
	size_t n = 0;
	enum bk_code rc;

	repo_pack_key(&gp->id, key);
	bk_buf_init(&raw, PACK_TARGET + BK_DRR_MAX_PAYLOAD + (1u << 20));
	bk_buf_init(&plain, BK_CHUNK_MAX + 64);
	rc = pack_read_header(g->r, &gp->id, gp->size, &ents, &n, err);
	if (!rc)
		rc = bk_store_get(g->r->store, key, &raw, err);
	for (size_t i = 0; !rc && i < n; i++) {
		struct bk_loc loc;

		/* the live copies this pack holds (the index's copy of a chunk
		 * may be in another pack) */
		if (!bk_idset_has(&g->live, &ents[i].id) ||
		    !index_get(idx, &ents[i].id, &loc) ||
		    memcmp(&loc.pack, &gp->id, sizeof(gp->id)) ||
		    loc.off != ents[i].off)
			continue;
		if (ents[i].off + ents[i].len > raw.len) {
			rc = bk_error_set(err, BK_ERR_FORMAT,
					  "%s: entry past the end", key);
			break;
		}
		bk_id_hex(&ents[i].id, hex);
		bk_buf_reset(&plain);
		rc = bk_open(g->r->keys, BK_OBJ_CHUNK, hex,
			     raw.data + ents[i].off, ents[i].len, &plain, err);
		if (!rc)
			rc = packer_add(pk, &ents[i].id, plain.data, plain.len,
					ents[i].rawlen, err);
	}
	free(ents);
	bk_buf_release(&raw);
	bk_buf_release(&plain);
	return rc;
}

/* ---- the whole run -------------------------------------------------------- */

static enum bk_code note_pack(void *ctx, const char *key, uint64_t size,
			      struct bk_error *err)
{
	struct gc *g = ctx;
	const char *base = strrchr(key, '/');
	struct bk_id id;
	struct gpack *np;

	if (!base || bk_id_parse(base + 1, &id, NULL) != BK_OK)
		return BK_OK; /* not a pack: not ours to touch */
	np = realloc(g->packs, (g->npacks + 1) * sizeof(*np));
	if (!np)
		return bk_error_set(err, BK_ERR_NOMEM, "out of memory");
	g->packs = np;
	memset(&g->packs[g->npacks], 0, sizeof(*np));
	g->packs[g->npacks].id = id;
	g->packs[g->npacks++].size = size;
	return BK_OK;
}

struct flagged {
	struct bk_id id;
	struct bk_loc loc;
	bool live;
};

struct mark_ctx {
	struct gc *g;
	struct flagged *v;
	size_t n, cap;
};

/* Every live chunk must be somewhere: else stop, and say which. */
static enum bk_code check_live(struct gc *g, struct bk_index *idx,
			       struct bk_error *err)
{
	for (size_t i = 0; i < g->live.cap; i++) {
		struct bk_loc loc;
		struct bk_id id;

		if (!g->live.used[i])
			continue;
		memcpy(id.b, g->live.keys[i], BK_ID_LEN);
		if (!index_get(idx, &id, &loc) ||
		    !find_gpack(g, &loc.pack)) {
			char hex[2 * BK_ID_LEN + 1];

			bk_id_hex(&id, hex);
			return bk_error_set(err, BK_ERR_MISSING,
					    "chunk %s, which a snapshot "
					    "needs, is in no pack: not "
					    "collecting anything (run zbak "
					    "verify)",
					    hex);
		}
	}
	return BK_OK;
}

/* Collect the entries (the index is read-locked during the walk), then
 * flag what the new index must hold: every live chunk, nothing else. */
static enum bk_code flag_entry(void *ctx, const struct bk_id *id,
			       const struct bk_loc *loc, struct bk_error *err)
{
	struct mark_ctx *mc = ctx;

	if (mc->n == mc->cap) {
		size_t nc = mc->cap ? 2 * mc->cap : 4096;
		struct flagged *nv = realloc(mc->v, nc * sizeof(*nv));

		if (!nv)
			return bk_error_set(err, BK_ERR_NOMEM, "out of memory");
		mc->v = nv;
		mc->cap = nc;
	}
	mc->v[mc->n].id = *id;
	mc->v[mc->n].loc = *loc;
	mc->v[mc->n++].live = bk_idset_has(&mc->g->live, id);
	return BK_OK;
}

/* 2. what each pack holds: live bytes, in an index or not, to repack */
static void weigh_packs(struct gc *g, struct bk_index *idx, unsigned pct)
{
	struct bk_gc_result *res = g->res;

	res->packs = g->npacks;
	for (size_t i = 0; i < g->npacks; i++) {
		struct gpack *p = &g->packs[i];

		res->bytes_before += p->size;
		p->unindexed = !index_pack_listed(idx, &p->id);
		res->packs_unindexed += p->unindexed;
		if (p->live_chunks &&
		    (p->size - p->live_bytes) * 100 > (uint64_t)pct * p->size)
			p->repack = true;
		if (p->chunks > p->live_chunks)
			res->chunks_deleted += p->chunks - p->live_chunks;
	}
}

/* 3. the live chunks of mostly dead packs into new packs */
static enum bk_code repack_packs(struct gc *g, struct bk_index *idx,
				 struct bk_error *err)
{
	struct packer *pk = NULL;
	enum bk_code rc = BK_OK;

	for (size_t i = 0; !rc && i < g->npacks; i++) {
		char hex[2 * BK_ID_LEN + 1];

		if (!g->packs[i].repack)
			continue;
		bk_id_hex(&g->packs[i].id, hex);
		say(g, "repack data/%.2s/%s: %" PRIu64 " of %" PRIu64
		       " bytes live",
		    hex, hex, g->packs[i].live_bytes, g->packs[i].size);
		g->res->packs_repacked++;
		if (g->o->dry_run)
			continue;
		if (!pk)
			rc = packer_new(g->r, &pk, err);
		if (!rc)
			rc = repack(g, idx, pk, &g->packs[i], err);
	}
	if (!rc && pk) {
		rc = packer_finish(pk, err);
		if (!rc)
			rc = bk_store_sync(g->r->store, err);
		if (!rc)
			g->res->bytes_after += packer_uploaded(pk);
	}
	if (pk)
		packer_free(pk);
	return rc;
}

/* 4. one index for the live chunks, then the old ones go */
static enum bk_code rewrite_index(struct gc *g, struct bk_index *idx,
				  const struct keylist *old_idx,
				  struct bk_error *err)
{
	struct mark_ctx mc = { g, NULL, 0, 0 };
	enum bk_code rc;

	if (g->o->dry_run) {
		g->res->indexes_after = old_idx->n;
		return BK_OK;
	}
	rc = index_foreach(idx, flag_entry, &mc, err);
	for (size_t i = 0; !rc && i < mc.n; i++)
		index_set(idx, &mc.v[i].id, &mc.v[i].loc,
			  mc.v[i].live ? IDX_NEW : 0);
	free(mc.v);
	if (!rc)
		rc = index_write(g->r, idx, NULL, err);
	/* an old index kept by its retention does no harm: a chunk two
	 * indexes place is looked up in the pack that is there */
	for (size_t i = 0; !rc && i < old_idx->n; i++)
		rc = kept_retained(
			g, bk_store_delete(g->r->store, old_idx->key[i], err),
			err);
	if (!rc)
		g->res->indexes_after = g->live.n ? 1 : 0;
	return rc;
}

/* 5. dead packs (repacked ones included), unreferenced segments */
static enum bk_code collect_packs(struct gc *g, struct bk_error *err)
{
	struct bk_gc_result *res = g->res;

	for (size_t i = 0; i < g->npacks; i++) {
		struct gpack *p = &g->packs[i];
		char key[80];
		enum fate fate;
		enum bk_code rc;

		if (p->live_chunks && !p->repack) {
			res->bytes_after += p->size;
			continue;
		}
		repo_pack_key(&p->id, key);
		if ((rc = collect(g, key, &fate, err)))
			return rc;
		if (fate == GONE) {
			res->packs_deleted++;
			res->unindexed_deleted += p->unindexed;
			say(g, "%s %s (%" PRIu64 " bytes%s%s)",
			    g->o->dry_run ? "would delete" : "deleted", key,
			    p->size, p->repack ? ", repacked" : "",
			    p->unindexed ? ", in no index" : "");
		} else if (fate == KEPT_RETAINED) {
			res->bytes_after += p->size; /* counted as retained */
		} else {
			res->packs_kept_recent++;
			res->bytes_after += p->size;
			say(g, "keep %s for now: garbage for less than the "
			       "margin (%" PRIu64 " s)",
			    key, g->margin);
		}
	}
	return BK_OK;
}

/* Forgotten manifests still there: no client uses them, they go now. */
static enum bk_code collect_leftovers(struct gc *g, struct bk_error *err)
{
	enum bk_code rc = BK_OK;

	for (size_t i = 0; !rc && i < g->leftovers.n; i++) {
		if (g->o->dry_run) {
			g->res->leftovers_deleted++;
			continue;
		}
		rc = bk_store_delete(g->r->store, g->leftovers.key[i], err);
		if (!rc) {
			g->res->leftovers_deleted++;
			say(g, "deleted %s (forgotten)", g->leftovers.key[i]);
		}
		rc = kept_retained(g, rc, err);
	}
	return rc;
}

static enum bk_code collect_recipes(struct gc *g, struct bk_error *err)
{
	struct keylist recipes = { 0 };
	enum bk_code rc;

	rc = keylist_collect(g->r->store, "recipes/", &recipes, err);
	for (size_t i = 0; !rc && i < recipes.n; i++) {
		struct bk_id id;
		enum fate fate;

		if (bk_id_parse(recipes.key[i] + 8, &id, NULL) != BK_OK ||
		    bk_idset_has(&g->segments, &id))
			continue;
		rc = collect(g, recipes.key[i], &fate, err);
		if (!rc && fate == GONE)
			g->res->recipes_deleted++;
	}
	keylist_free(&recipes);
	return rc;
}

/*
 * Object Lock: what kept snapshots still need keeps its protection.  Each
 * live object whose retention ends within half the configured days gets
 * the full days again from now (a HEAD each, a PutObjectRetention for
 * those), so that protection never lapses for data still needed while
 * garbage stops being extended and can go once its own retention ends.
 */
struct extend_ctx {
	struct gc *g;
	uint64_t until, threshold;
};

static enum bk_code extend_one(void *ctx, const char *key, uint64_t size,
			       struct bk_error *err)
{
	struct extend_ctx *x = ctx;
	uint64_t until;
	enum bk_code rc;

	(void)size;
	x->g->res->lock_checked++;
	rc = bk_store_retention(x->g->r->store, key, &until, err);
	if (rc == BK_ERR_NOTFOUND)
		return BK_OK; /* gone meanwhile: nothing to protect */
	if (rc || until >= x->threshold)
		return rc;
	x->g->res->extended++;
	if (x->g->o->dry_run)
		return BK_OK;
	return bk_store_retain(x->g->r->store, key, x->until, err);
}

/* recipes/<id>: only the segments a live manifest names */
static enum bk_code extend_segment(void *ctx, const char *key, uint64_t size,
				   struct bk_error *err)
{
	struct extend_ctx *x = ctx;
	struct bk_id id;

	if (strncmp(key, "recipes/", 8) != 0 ||
	    bk_id_parse(key + 8, &id, NULL) != BK_OK ||
	    !bk_idset_has(&x->g->segments, &id))
		return BK_OK;
	return extend_one(ctx, key, size, err);
}

static enum bk_code extend_retention(struct gc *g, struct bk_error *err)
{
	uint64_t days = bk_store_lock_days(g->r->store);
	/* retention is the server's real time, never a simulated one */
	uint64_t now = (uint64_t)time(NULL);
	struct extend_ctx x = { g, now + days * 86400, now + days * 86400 / 2 };
	enum bk_code rc = BK_OK;
	static const char *const fixed[] = { "config", "keys" };
	static const char *const lists[] = { "index/", "forgotten/" };

	for (size_t i = 0; !rc && i < 2; i++)
		rc = extend_one(&x, fixed[i], 0, err);
	for (size_t i = 0; !rc && i < 2; i++)
		rc = bk_store_list(g->r->store, lists[i], extend_one, &x, err);
	for (size_t i = 0; !rc && i < g->manifests.n; i++)
		rc = extend_one(&x, g->manifests.key[i], 0, err);
	for (size_t i = 0; !rc && i < g->npacks; i++) {
		char key[80];

		if (!g->packs[i].live_chunks || g->packs[i].repack)
			continue;
		repo_pack_key(&g->packs[i].id, key);
		rc = extend_one(&x, key, 0, err);
	}
	if (!rc)
		rc = bk_store_list(g->r->store, "recipes/", extend_segment, &x,
				   err);
	if (rc)
		bk_error_prefix(err, "extending Object Lock retention");
	return rc;
}

/* The cache keeps copies of index objects: only the new one remains. */
static void prune_cache(struct bk_repo *r, struct bk_error *err)
{
	struct keylist now_idx = { 0 };

	if (keylist_collect(r->store, "index/", &now_idx, err) == BK_OK)
		repo_cache_prune(r, now_idx.key, now_idx.n);
	keylist_free(&now_idx);
}

/* 1. what is live, what is stored, and a fresh index of it */
static enum bk_code survey(struct gc *g, struct keylist *old_idx,
			   struct bk_index **idx, struct bk_error *err)
{
	enum bk_code rc;

	rc = load_pending(g, err);
	if (!rc)
		rc = mark_live(g, err);
	if (!rc)
		rc = keylist_collect(g->r->store, "index/", old_idx, err);
	if (!rc)
		rc = bk_store_list(g->r->store, "data/", note_pack, g, err);
	if (rc)
		return rc;
	if (g->npacks > 1)
		qsort(g->packs, g->npacks, sizeof(*g->packs), cmp_gpack);
	/* a fresh index (the repository's own, so that the packer adds the
	 * repacked locations to it), with the unindexed packs' headers */
	rc = repo_index(g->r, idx, err);
	if (!rc)
		rc = check_live(g, *idx, err);
	if (!rc)
		rc = index_foreach(*idx, count_entry, g, err);
	return rc;
}

enum bk_code bk_gc(struct bk_repo *r, const struct bk_gc_opts *o,
		   struct bk_gc_result *res, struct bk_error *err)
{
	static const struct bk_gc_opts defaults = { 0 };
	struct gc g;
	struct repo_lock *lock = NULL;
	struct bk_index *idx = NULL;
	struct keylist old_idx = { 0 };
	unsigned pct;
	enum bk_code rc;
	uint64_t removed;

	memset(&g, 0, sizeof(g));
	memset(res, 0, sizeof(*res));
	g.r = r;
	g.o = o ? o : &defaults;
	g.res = res;
	g.now = bk_now();
	g.margin = g.o->margin_set ? g.o->margin_seconds : 3600;
	bk_hook_gc_margin(&g.margin); /* tests only: 0 collects at once */
	pct = g.o->repack_percent ? g.o->repack_percent : 50;

	rc = repo_lock_take(r, !g.o->dry_run, &lock, err);
	if (!rc)
		rc = survey(&g, &old_idx, &idx, err);
	if (!rc) {
		res->indexes_before = old_idx.n;
		res->chunks_live = g.live.n;
		weigh_packs(&g, idx, pct);
		rc = repack_packs(&g, idx, err);
	}
	if (!rc)
		rc = rewrite_index(&g, idx, &old_idx, err);
	if (!rc)
		rc = collect_packs(&g, err);
	if (!rc)
		rc = collect_recipes(&g, err);
	if (!rc)
		rc = collect_leftovers(&g, err);
	if (!rc && bk_store_lock_days(r->store))
		rc = extend_retention(&g, err);
	if (!rc && !g.o->dry_run) {
		rc = bk_store_cleanup(r->store, g.margin, &removed, err);
		if (!rc)
			res->temporary_deleted = removed;
	}
	if (!rc)
		rc = save_pending(&g, err);
	if (!rc && !g.o->dry_run && r->cache)
		prune_cache(r, err);
	/* the in-memory index still names what is gone: the next user of
	 * this repository handle loads it again */
	pthread_mutex_lock(&r->index_mu);
	if (r->index && !g.o->dry_run) {
		index_free(r->index);
		r->index = NULL;
	}
	pthread_mutex_unlock(&r->index_mu);
	keylist_free(&old_idx);
	keylist_free(&g.leftovers);
	keylist_free(&g.manifests);
	bk_idset_free(&g.live);
	bk_idset_free(&g.segments);
	free(g.packs);
	free(g.pend);
	free(g.next);
	repo_lock_release(lock);
	return rc;
}
