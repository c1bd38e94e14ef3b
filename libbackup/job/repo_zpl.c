/* SPDX-License-Identifier: MIT */
/*
 * A repository's snapshot as an object source of the ZPL reader
 * (include/backup/repo_zpl.h): the chain from the restore plan, its
 * recipes into a map (the local pool's receive rules, lpool_zpl.h), the
 * chunk tables that turn a map's references (stream, pos, len) into
 * chunks, and a loader that fetches those chunks (snapread.h) with a small
 * cache of decoded ones.  The job layer ties them: the repository and the
 * local pool know nothing of each other.
 *
 * The cached map ("map-<hex>" in the cache, sealed with the repository's
 * keys): "ZBFMAP1\n", u32 streams, per stream u64 chunks and per chunk its
 * id (32 bytes) and raw length (u32), then the map's bytes
 * (bk_lpool_map_encode), all little-endian.  Its name is the hash of the
 * idents of the chain's manifests, so a chain that changed (a snapshot
 * forgotten and pushed again) never meets an old map.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backup/chain.h"
#include "backup/chunk.h"
#include "backup/drr.h"
#include "backup/lpool_zpl.h"
#include "backup/plan.h"
#include "backup/repo_zpl.h"
#include "backup/snapread.h"
#include "util/le.h"

#define LRU_N 16                 /* decoded chunks kept */
#define READAHEAD (512u << 10)   /* raw bytes fetched ahead when sequential */
#define MAP_CACHE_MAX ((size_t)1 << 32)
/* a chunk: up to BK_CHUNK_MAX of payloads, or one payload bigger alone */
#define CHUNK_RAW_MAX (BK_DRR_MAX_PAYLOAD + BK_CHUNK_MAX)
static const uint8_t FMAP_MAGIC[8] = { 'Z', 'B', 'F', 'M', 'A', 'P', '1', '\n' };

struct ck {
	struct bk_id id;
	uint32_t rawlen;
	uint64_t start; /* of its bytes in the stream's chunked payloads */
};

struct table {
	struct ck *c;
	size_t n, cap;
	uint64_t total;    /* bytes of all its chunks */
	uint64_t consumed; /* by the records walked so far */
};

struct lru {
	uint32_t stream;
	size_t idx; /* in the stream's table */
	uint64_t used;
	bool valid;
	struct bk_buf data;
};

struct rz {
	struct bk_snapread *sr; /* the snapshot's: the chunks are loaded
				 * through it */
	struct table *t;
	size_t nt;
	struct lru lru[LRU_N];
	uint64_t tick;
	uint32_t last_stream;
	uint64_t last_end; /* where the last load ended: sequential reads */
	unsigned streak;   /* loads in a row that went on from the last */
	struct bk_zpl_source inner;
	/* of a package (zfs send -R): the child mapped, "" the top */
	char rel[BK_REPO_NAME_MAX];
	bool package; /* the chain has a package */
};

static void rz_free(struct rz *z)
{
	if (!z)
		return;
	for (size_t i = 0; i < z->nt; i++)
		free(z->t[i].c);
	free(z->t);
	for (int i = 0; i < LRU_N; i++)
		bk_buf_release(&z->lru[i].data);
	bk_snapread_close(z->sr);
	free(z);
}

static enum bk_code table_add(struct table *t, const struct bk_id *id,
			      uint32_t rawlen, struct bk_error *err)
{
	if (t->n == t->cap) {
		size_t nc = t->cap ? t->cap * 2 : 256;
		struct ck *n = realloc(t->c, nc * sizeof(*n));

		if (!n)
			return bk_error_set(err, BK_ERR_NOMEM, "out of memory");
		t->c = n;
		t->cap = nc;
	}
	if (rawlen == 0 || rawlen > CHUNK_RAW_MAX)
		return bk_error_set(err, BK_ERR_FORMAT,
				    "a chunk of %" PRIu32 " bytes", rawlen);
	t->c[t->n].id = *id;
	t->c[t->n].rawlen = rawlen;
	t->c[t->n].start = t->total;
	t->total += rawlen;
	t->n++;
	return BK_OK;
}

/* The chunk of t holding byte pos (pos < t->total). */
static size_t table_find(const struct table *t, uint64_t pos)
{
	size_t lo = 0, hi = t->n;

	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if (t->c[mid].start <= pos)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

static struct lru *lru_get(struct rz *z, uint32_t stream, size_t idx)
{
	for (int i = 0; i < LRU_N; i++)
		if (z->lru[i].valid && z->lru[i].stream == stream &&
		    z->lru[i].idx == idx) {
			z->lru[i].used = ++z->tick;
			return &z->lru[i];
		}
	return NULL;
}

static struct lru *lru_victim(struct rz *z, uint32_t stream, size_t lo,
			      size_t hi)
{
	struct lru *v = NULL;

	for (int i = 0; i < LRU_N; i++) {
		struct lru *l = &z->lru[i];

		/* never one the current read needs */
		if (l->valid && l->stream == stream && l->idx >= lo &&
		    l->idx < hi)
			continue;
		if (!v || !l->valid || (v->valid && l->used < v->used))
			v = l;
		if (!v->valid)
			break;
	}
	return v;
}

/* Chunks [a, b) of stream s into the LRU (those not there), in one batch. */
static enum bk_code fetch(struct rz *z, uint32_t s, size_t a, size_t b,
			  struct bk_error *err)
{
	struct bk_id ids[LRU_N];
	struct bk_buf bufs[LRU_N];
	struct lru *slots[LRU_N];
	size_t n = 0;
	enum bk_code rc;

	for (size_t k = a; k < b && n < LRU_N; k++) {
		struct lru *l;

		if (lru_get(z, s, k))
			continue;
		if (!(l = lru_victim(z, s, a, b)))
			break;
		l->valid = false;
		l->stream = s;
		l->idx = k;
		l->used = ++z->tick;
		ids[n] = z->t[s].c[k].id;
		bufs[n] = l->data;
		slots[n++] = l;
		l->valid = true; /* reserved: the victim search skips it */
	}
	if (!n)
		return BK_OK;
	rc = bk_snapread_load(z->sr, ids, n, bufs, err);
	for (size_t i = 0; i < n; i++) {
		slots[i]->data = bufs[i];
		if (rc || bufs[i].len != z->t[s].c[slots[i]->idx].rawlen) {
			slots[i]->valid = false;
			if (!rc)
				rc = bk_error_set(err, BK_ERR_FORMAT,
						  "a chunk of %zu bytes, not "
						  "%" PRIu32,
						  bufs[i].len,
						  z->t[s].c[slots[i]->idx].rawlen);
		}
	}
	return rc;
}

/* The map's loader: bytes pos..pos+len of stream's chunked payloads. */
static enum bk_code rz_load(void *ctx, uint32_t stream, uint64_t pos,
			    uint32_t len, struct bk_buf *out,
			    struct bk_error *err)
{
	struct rz *z = ctx;
	const struct table *t;
	size_t a, b, ahead;
	uint64_t raw = 0;
	enum bk_code rc;

	bk_buf_reset(out);
	if (stream >= z->nt || pos > z->t[stream].total ||
	    len > z->t[stream].total - pos)
		return bk_error_set(err, BK_ERR_FORMAT,
				    "a payload past its stream's chunks");
	if (!len)
		return BK_OK;
	t = &z->t[stream];
	a = table_find(t, pos);
	b = table_find(t, pos + len - 1) + 1;
	if (b - a > LRU_N / 2)
		return bk_error_set(err, BK_ERR_LIMIT,
				    "a payload in %zu chunks", b - a);
	/* the third read in a row that goes on where the last one ended (a
	 * file read from start to end, not neighbouring metadata): fetch
	 * ahead too */
	ahead = b;
	z->streak = stream == z->last_stream && pos == z->last_end
			    ? z->streak + 1
			    : 0;
	if (z->streak >= 2)
		while (ahead < t->n && ahead - a < LRU_N / 2 &&
		       raw + t->c[ahead].rawlen <= READAHEAD)
			raw += t->c[ahead++].rawlen;
	if ((rc = fetch(z, stream, a, ahead, err)))
		return rc;
	if ((rc = bk_buf_reserve(out, len, err)))
		return rc;
	for (size_t k = a; k < b; k++) {
		const struct lru *l = lru_get(z, stream, k);
		uint64_t cs = t->c[k].start, ce = cs + t->c[k].rawlen;
		uint64_t from = pos > cs ? pos : cs;
		uint64_t to = pos + len < ce ? pos + len : ce;

		if (!l && (rc = fetch(z, stream, k, k + 1, err)))
			return rc;
		if (!l && !(l = lru_get(z, stream, k)))
			return bk_error_set(err, BK_ERR_INTERNAL,
					    "chunk cache");
		memcpy(out->data + (from - pos), l->data.data + (from - cs),
		       (size_t)(to - from));
	}
	out->len = len;
	z->last_stream = stream;
	z->last_end = pos + len;
	return BK_OK;
}

/* ---- the wrapping source: the inner one, and z freed at close ---- */

static enum bk_code w_object(void *ctx, uint64_t obj, struct bk_zpl_object *o,
			     struct bk_error *err)
{
	struct rz *z = ctx;

	return z->inner.ops->object(z->inner.ctx, obj, o, err);
}

static enum bk_code w_read_block(void *ctx, uint64_t obj, uint64_t blkid,
				 uint8_t *buf, size_t len, bool *hole,
				 struct bk_error *err)
{
	struct rz *z = ctx;

	return z->inner.ops->read_block(z->inner.ctx, obj, blkid, buf, len,
					hole, err);
}

static enum bk_code w_next_block(void *ctx, uint64_t obj, uint64_t from,
				 uint64_t *blkid, struct bk_error *err)
{
	struct rz *z = ctx;

	return z->inner.ops->next_block(z->inner.ctx, obj, from, blkid, err);
}

static enum bk_code w_spill(void *ctx, uint64_t obj, uint8_t *buf,
			     size_t cap, size_t *len, struct bk_error *err)
{
	struct rz *z = ctx;

	return z->inner.ops->spill(z->inner.ctx, obj, buf, cap, len, err);
}

static void w_close(void *ctx)
{
	struct rz *z = ctx;

	if (z->inner.ops)
		z->inner.ops->close(z->inner.ctx);
	rz_free(z);
}

static const struct bk_zpl_source_ops w_ops = {
	.object = w_object,
	.read_block = w_read_block,
	.next_block = w_next_block,
	.close = w_close,
	.spill = w_spill, /* the map's source has one: system attributes and
			   * xattrs that did not fit the bonus are there */
};

/* ---- building the map ---- */

struct walk {
	struct bk_lpool_map *m;
	struct table *t;
	uint32_t stream;
};

static enum bk_code on_entry(void *ctx, const struct bk_snapread_entry *e,
			     struct bk_error *err)
{
	struct walk *w = ctx;
	struct table *t = w->t;
	uint64_t pos = t->consumed;

	if (e->chunk)
		return table_add(t, &e->id, e->rawlen, err);
	/* a record's chunked bytes come from the chunks before it */
	if (e->chunked_len > t->total - t->consumed)
		return bk_error_set(err, BK_ERR_FORMAT,
				    "stream %u: a record of %u chunked bytes "
				    "with %" PRIu64 " left in its chunks",
				    w->stream, e->chunked_len,
				    t->total - t->consumed);
	t->consumed += e->chunked_len;
	return bk_lpool_map_record(w->m, w->stream, e->hdr, e->payload,
				   e->inline_len, pos, e->chunked_len, err);
}

/* The map of the chain: every recipe walked, oldest first. */
static enum bk_code build(struct bk_snapread **sr, size_t n, struct rz *z,
			  struct bk_lpool_map **out,
			  struct bk_repo_zpl_info *info, struct bk_error *err)
{
	struct walk w;
	enum bk_code rc;

	*out = NULL;
	if ((rc = bk_lpool_map_new(&w.m, err)))
		return rc;
	rc = bk_lpool_map_dataset(w.m, z->rel, err);
	for (size_t i = 0; !rc && i < n; i++) {
		uint64_t rb = 0;

		w.t = &z->t[i];
		w.stream = (uint32_t)i;
		rc = bk_snapread_walk(sr[i], on_entry, &w, &rb, err);
		info->recipe_bytes += rb;
		if (!rc && w.t->consumed != w.t->total)
			rc = bk_error_set(err, BK_ERR_FORMAT,
					  "stream %zu: %" PRIu64
					  " chunk bytes that no record uses",
					  i, w.t->total - w.t->consumed);
	}
	if (!rc)
		rc = bk_lpool_map_finish(w.m, err);
	if (rc) {
		bk_lpool_map_free(w.m);
		return rc;
	}
	*out = w.m;
	return BK_OK;
}

static enum bk_code encode(const struct rz *z, const struct bk_lpool_map *m,
			   struct bk_buf *out, struct bk_error *err)
{
	struct bk_buf mb;
	uint8_t b[8 + BK_ID_LEN + 4];
	enum bk_code rc;

	bk_buf_reset(out);
	rc = bk_buf_append(out, FMAP_MAGIC, 8, err);
	put_le32(b, (uint32_t)z->nt);
	if (!rc)
		rc = bk_buf_append(out, b, 4, err);
	for (size_t i = 0; !rc && i < z->nt; i++) {
		put_le64(b, z->t[i].n);
		rc = bk_buf_append(out, b, 8, err);
		for (size_t k = 0; !rc && k < z->t[i].n; k++) {
			memcpy(b, z->t[i].c[k].id.b, BK_ID_LEN);
			put_le32(b + BK_ID_LEN, z->t[i].c[k].rawlen);
			rc = bk_buf_append(out, b, BK_ID_LEN + 4, err);
		}
	}
	bk_buf_init(&mb, MAP_CACHE_MAX);
	if (!rc)
		rc = bk_lpool_map_encode(m, &mb, err);
	put_le64(b, mb.len);
	if (!rc)
		rc = bk_buf_append(out, b, 8, err);
	if (!rc)
		rc = bk_buf_append(out, mb.data, mb.len, err);
	bk_buf_release(&mb);
	return rc;
}

/* A cached map: every length checked against what is there (the cache
 * is sealed, and still read as untrusted). */
static enum bk_code decode(struct rz *z, const uint8_t *p, size_t len,
			   struct bk_lpool_map **m, struct bk_error *err)
{
	size_t at = 12;
	uint64_t ml;
	enum bk_code rc;

	if (len < 12 || memcmp(p, FMAP_MAGIC, 8) != 0 ||
	    get_le32(p + 8) != z->nt)
		return bk_error_set(err, BK_ERR_FORMAT,
				    "cached map: not one of this chain");
	for (size_t i = 0; i < z->nt; i++) {
		uint64_t n;

		if (len - at < 8)
			return bk_error_set(err, BK_ERR_FORMAT,
					    "cached map: truncated");
		n = get_le64(p + at);
		at += 8;
		if (n > (len - at) / (BK_ID_LEN + 4))
			return bk_error_set(err, BK_ERR_FORMAT,
					    "cached map: %" PRIu64
					    " chunks do not fit",
					    n);
		for (uint64_t k = 0; k < n; k++, at += BK_ID_LEN + 4) {
			struct bk_id id;

			memcpy(id.b, p + at, BK_ID_LEN);
			if ((rc = table_add(&z->t[i], &id,
					    get_le32(p + at + BK_ID_LEN), err)))
				return rc;
		}
	}
	if (len - at < 8 || (ml = get_le64(p + at)) != len - at - 8)
		return bk_error_set(err, BK_ERR_FORMAT,
				    "cached map: its map's length");
	return bk_lpool_map_decode(p + at + 8, (size_t)ml, m, err);
}

/* The cache's name for the map of this chain, and of which of its
 * packages' datasets: a chain of plain streams keeps the name it had
 * before packages' children were read. */
static void cache_name(struct bk_snapread **sr, size_t n, const struct rz *z,
		       char *out, size_t on)
{
	struct bk_hash h;
	struct bk_id id;
	char hex[2 * BK_ID_LEN + 1];

	bk_hash_init(&h);
	bk_hash_update(&h, FMAP_MAGIC, 8);
	for (size_t i = 0; i < n; i++) {
		bk_snapread_ident(sr[i], &id);
		bk_hash_update(&h, id.b, BK_ID_LEN);
	}
	if (z->package) {
		bk_hash_update(&h, "package", 8);
		bk_hash_update(&h, z->rel, strlen(z->rel) + 1);
	}
	bk_hash_final(&h, &id);
	bk_id_hex(&id, hex);
	snprintf(out, on, "map-%s", hex);
}

/* The map from the cache, or built (and cached). */
static enum bk_code get_map(struct bk_repo *r, struct bk_snapread **sr,
			    size_t n, bool no_cache, struct rz *z,
			    struct bk_lpool_map **m,
			    struct bk_repo_zpl_info *info,
			    struct bk_error *err)
{
	char name[100];
	struct bk_buf b;
	struct bk_error cerr;
	enum bk_code rc = BK_ERR_NOTFOUND;

	cache_name(sr, n, z, name, sizeof(name));
	bk_buf_init(&b, MAP_CACHE_MAX);
	if (!no_cache) {
		rc = bk_repo_cache_get(r, name, MAP_CACHE_MAX, &b, &cerr);
		if (!rc)
			rc = decode(z, b.data, b.len, m, &cerr);
		if (!rc) {
			info->cached = true;
			info->map_bytes = b.len;
		} else if (rc != BK_ERR_NOTFOUND) {
			/* changed, damaged, or another key's: not used */
			info->rebuilt = true;
			snprintf(info->why, sizeof(info->why), "%s", cerr.msg);
		}
		if (rc)
			for (size_t i = 0; i < z->nt; i++)
				z->t[i].n = z->t[i].total = z->t[i].consumed = 0;
	}
	if (rc) {
		rc = build(sr, n, z, m, info, err);
		if (!rc && (rc = encode(z, *m, &b, err)))
			bk_lpool_map_free(*m);
		if (!rc) {
			info->map_bytes = b.len;
			if (!no_cache) /* best effort: no cache is no error */
				bk_repo_cache_put(r, name, b.data, b.len,
						  &cerr);
		}
	}
	bk_buf_release(&b);
	return rc;
}

/* The stored snapshot that holds name: its own, or else a package
 * (zfs send -R) of one of its parent datasets with the same snapshot
 * name, rel then the child's path below it ("/child"). */
static size_t find_holder(const struct bk_snapshot *all, size_t n,
			  const char *name, char *rel, size_t rn)
{
	size_t dl = strcspn(name, "@"), cur;
	char nm[BK_REPO_NAME_MAX];

	rel[0] = 0;
	if ((cur = bk_plan_find(all, n, name)) != BK_CHAIN_NONE || !name[dl] ||
	    dl >= sizeof(nm))
		return cur;
	for (size_t k = dl; k-- > 0;) {
		if (name[k] != '/')
			continue;
		if ((size_t)snprintf(nm, sizeof(nm), "%.*s%s", (int)k, name,
				     name + dl) >= sizeof(nm))
			continue;
		cur = bk_plan_find(all, n, nm);
		if (cur != BK_CHAIN_NONE && all[cur].compound &&
		    dl - k < rn) {
			snprintf(rel, rn, "%.*s", (int)(dl - k), name + k);
			return cur;
		}
	}
	return BK_CHAIN_NONE;
}

/* The chain of name, oldest first, each opened; z->rel the dataset of
 * its packages, z->package whether it has any. */
static enum bk_code open_chain(struct bk_repo *r, const char *name,
			       struct rz *z, struct bk_snapread ***out,
			       size_t *nout, struct bk_error *err)
{
	struct bk_restore_plan pl = { 0 };
	struct bk_snapshot *all = NULL;
	struct bk_snapread **sr = NULL;
	size_t n = 0, cur;
	enum bk_code rc;
	char nm[BK_REPO_NAME_MAX];

	*out = NULL;
	*nout = 0;
	if ((rc = bk_list(r, &all, &n, err)))
		return rc;
	cur = find_holder(all, n, name, z->rel, sizeof(z->rel));
	if (cur == BK_CHAIN_NONE) {
		rc = bk_error_set(err, BK_ERR_NOTFOUND,
				  "no snapshot %s in the repository, nor a "
				  "package (zfs send -R) of a parent of it",
				  name);
		goto out;
	}
	if ((rc = bk_restore_plan(all, n, cur, NULL, 0, false, false, &pl,
				  err)))
		goto out;
	if (pl.verdict != BK_RESTORE_GO || !pl.len) {
		rc = bk_error_set(err, BK_ERR_MISSING,
				  "the chain of %s cannot be read (broken, "
				  "or it loops): 'zbak verify' says more",
				  name);
		goto out;
	}
	if (!(sr = calloc(pl.len, sizeof(*sr)))) {
		rc = bk_error_set(err, BK_ERR_NOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; !rc && i < pl.len; i++) {
		const struct bk_snapshot *s = &all[pl.chain[i]];

		z->package |= s->compound;
		snprintf(nm, sizeof(nm), "%s@%s", s->dataset, s->snap);
		rc = bk_snapread_open(r, nm, &sr[i], err);
	}
	*out = sr;
	*nout = pl.len;
out:
	bk_restore_plan_release(&pl);
	free(all);
	return rc;
}

enum bk_code bk_repo_zpl_source(struct bk_repo *r, const char *name,
				bool no_cache, struct bk_zpl_source *out,
				struct bk_repo_zpl_info *info,
				struct bk_error *err)
{
	struct bk_repo_zpl_info dummy;
	struct bk_snapread **sr = NULL;
	struct bk_lpool_map *m = NULL;
	struct rz *z = calloc(1, sizeof(*z));
	size_t n = 0;
	enum bk_code rc;

	if (!info)
		info = &dummy;
	memset(info, 0, sizeof(*info));
	if (!z)
		return bk_error_set(err, BK_ERR_NOMEM, "out of memory");
	for (int i = 0; i < LRU_N; i++)
		bk_buf_init(&z->lru[i].data, CHUNK_RAW_MAX + 64);
	rc = open_chain(r, name, z, &sr, &n, err);
	if (!rc && !(z->t = calloc(n, sizeof(*z->t))))
		rc = bk_error_set(err, BK_ERR_NOMEM, "out of memory");
	if (!rc) {
		z->nt = n;
		info->streams = n;
		for (size_t i = 0; i < n; i++)
			info->stream_bytes += bk_snapread_stream_bytes(sr[i]);
		rc = get_map(r, sr, n, no_cache, z, &m, info, err);
	}
	if (!rc) {
		bk_lpool_map_usage(m, &info->objects, &info->blocks);
		/* the chunks are loaded through the snapshot's own reader */
		z->sr = sr[n - 1];
		sr[n - 1] = NULL;
		rc = bk_lpool_map_source(m, rz_load, z, name, &z->inner, err);
	}
	for (size_t i = 0; sr && i < n; i++)
		bk_snapread_close(sr[i]);
	free(sr);
	if (rc) {
		z->inner.ops = NULL;
		rz_free(z);
		return rc;
	}
	out->ops = &w_ops;
	out->ctx = z;
	out->bigendian = z->inner.bigendian;
	return BK_OK;
}

enum bk_code bk_repo_zpl_open(struct bk_repo *r, const char *name,
			      bool no_cache, struct bk_zpl **out,
			      struct bk_repo_zpl_info *info,
			      struct bk_error *err)
{
	struct bk_zpl_source src;
	enum bk_code rc;

	*out = NULL;
	if ((rc = bk_repo_zpl_source(r, name, no_cache, &src, info, err)))
		return rc;
	return bk_zpl_open(&src, out, err);
}
