/* SPDX-License-Identifier: MIT */
/*
 * zbak restore: manifest -> recipe -> chunks -> the stream, byte for byte.
 *
 * Chunks are fetched ahead by worker threads (each opened, decompressed and
 * its id recomputed); the calling thread walks the recipe, rebuilds every
 * record and passes it through the stream parser, so every trailer and END
 * is checked again before the bytes are written.  At the end the length,
 * the digest over the recipe and the last END checksum must equal the
 * manifest's.  Memory: one recipe segment, the chunks in the window
 * (bounded in count and bytes), the parser's buffer.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backup/clock.h"
#include "repo/repo_impl.h"
#include "util/pool.h"

#define WINDOW 64
#define WINDOW_BYTES (96u << 20)
#define OUTBUF (1u << 20)

struct centry {
	struct bk_id id;
	uint32_t rawlen;
};

struct slot {
	struct bk_id id;
	uint32_t rawlen;
	struct bk_buf data; /* the chunk, decoded */
	bool done;
	enum bk_code rc;
	struct bk_error err;
	struct restore *rs;
};

struct restore {
	struct bk_repo *r;
	struct bk_index *idx;
	struct bk_pool *pool;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct slot slots[WINDOW];
	/* chunk entries not submitted yet; q[0] has global number qbase */
	struct centry *q;
	size_t qbase, qlen, qcap;
	size_t next_submit, next_consume; /* global chunk numbers */
	uint64_t inflight_bytes;
	bk_drr_sink_fn sink; /* where the verified bytes go */
	void *sink_ctx;
	struct bk_buf out;
	/* buffers for fetch jobs (a range read and one opened blob), reused;
	 * at most `threads` are ever in use */
	struct bk_buf spare[2 * 64];
	size_t nspare;
};

#define SPARE_MAX (2u * (BK_DRR_MAX_PAYLOAD + (8u << 20)))

static void take(struct restore *rs, struct bk_buf *b)
{
	pthread_mutex_lock(&rs->mu);
	if (rs->nspare) {
		*b = rs->spare[--rs->nspare];
		bk_buf_reset(b);
	} else {
		bk_buf_init(b, SPARE_MAX);
	}
	pthread_mutex_unlock(&rs->mu);
}

static void give(struct restore *rs, struct bk_buf *b)
{
	pthread_mutex_lock(&rs->mu);
	if (rs->nspare < sizeof(rs->spare) / sizeof(rs->spare[0])) {
		rs->spare[rs->nspare++] = *b;
		bk_buf_init(b, 0);
	}
	pthread_mutex_unlock(&rs->mu);
	bk_buf_release(b);
}

#define GROUP_MAX (8u << 20)   /* one ranged read covers up to this */
#define GROUP_SLACK (1u << 20) /* of bytes read for other chunks */

/* Adjacent chunks of one pack, fetched with one ranged read. */
struct group {
	struct restore *rs;
	size_t first, count; /* global chunk numbers */
	struct bk_id pack;
	uint64_t off, len; /* the range read */
	uint64_t useful;   /* bytes of it the group's chunks use */
	uint64_t offs[WINDOW];
	uint32_t lens[WINDOW];
	bool missing; /* the first chunk is in no index */
};

static void fetch_job(void *arg)
{
	struct group *gr = arg;
	struct restore *rs = gr->rs;
	struct slot *first = &rs->slots[gr->first % WINDOW];
	char key[80], hex[2 * BK_ID_LEN + 1];
	struct bk_buf sealed, plain;
	struct bk_error err;
	enum bk_code rc = BK_OK;

	take(rs, &sealed);
	take(rs, &plain);
	repo_pack_key(&gr->pack, key);
	if (gr->missing) {
		bk_id_hex(&first->id, hex);
		rc = bk_error_set(&err, BK_ERR_MISSING,
				  "chunk %s is in no index", hex);
	} else {
		rc = bk_store_get_range(rs->r->store, key, gr->off, gr->len,
					&sealed, &err);
		if (rc == BK_ERR_NOTFOUND)
			rc = bk_error_set(&err, BK_ERR_MISSING,
					  "pack %s is missing", key);
	}
	for (size_t i = 0; i < gr->count; i++) {
		struct slot *s = &rs->slots[(gr->first + i) % WINDOW];

		s->rc = rc;
		if (rc) {
			s->err = err;
			continue;
		}
		s->rc = chunk_open_blob(rs->r->keys, &s->id, key, gr->offs[i],
					sealed.data + (gr->offs[i] - gr->off),
					gr->lens[i], &plain, &s->data,
					&s->err);
		if (!s->rc && s->data.len != s->rawlen)
			s->rc = bk_error_set(&s->err, BK_ERR_FORMAT,
					     "chunk length differs from the "
					     "recipe");
	}
	give(rs, &sealed);
	give(rs, &plain);
	pthread_mutex_lock(&rs->mu);
	for (size_t i = 0; i < gr->count; i++)
		rs->slots[(gr->first + i) % WINDOW].done = true;
	pthread_cond_broadcast(&rs->cv);
	pthread_mutex_unlock(&rs->mu);
	free(gr);
}

static enum bk_code queue_chunk(struct restore *rs, const uint8_t *e,
				struct bk_error *err)
{
	if (rs->qlen == rs->qcap) {
		size_t drop = rs->next_submit - rs->qbase; /* submitted */
		size_t nc;
		struct centry *nq;

		if (drop) {
			memmove(rs->q, rs->q + drop,
				(rs->qlen - drop) * sizeof(*rs->q));
			rs->qlen -= drop;
			rs->qbase += drop;
		}
		if (rs->qlen == rs->qcap) {
			nc = rs->qcap ? rs->qcap * 2 : 1024;
			nq = realloc(rs->q, nc * sizeof(*nq));
			if (!nq)
				return bk_error_set(err, BK_ERR_NOMEM,
						    "out of memory");
			rs->q = nq;
			rs->qcap = nc;
		}
	}
	memcpy(rs->q[rs->qlen].id.b, e + 1, BK_ID_LEN);
	rs->q[rs->qlen].rawlen = get_le32(e + 1 + BK_ID_LEN);
	rs->qlen++;
	return BK_OK;
}

static bool room_for(struct restore *rs, uint32_t rawlen)
{
	return rs->next_submit < rs->qbase + rs->qlen &&
	       rs->next_submit - rs->next_consume < WINDOW &&
	       (rs->next_submit == rs->next_consume ||
		rs->inflight_bytes + rawlen <= WINDOW_BYTES);
}

static void take_slot(struct restore *rs, const struct centry *c)
{
	struct slot *s = &rs->slots[rs->next_submit % WINDOW];

	s->id = c->id;
	s->rawlen = c->rawlen;
	s->done = false;
	s->rs = rs;
	rs->inflight_bytes += c->rawlen;
	rs->next_submit++;
}

/* Submit fetches while the window has room: runs of chunks lying next to
 * each other in one pack go out as one ranged read. */
static void submit_more(struct restore *rs)
{
	/* refill in batches, not one slot at a time, so that reads can
	 * cover several chunks */
	if (rs->next_submit > rs->next_consume &&
	    rs->next_submit - rs->next_consume > WINDOW - WINDOW / 4)
		return;
	while (rs->next_submit < rs->qbase + rs->qlen) {
		const struct centry *c = &rs->q[rs->next_submit - rs->qbase];
		struct group *gr;
		struct bk_loc loc;

		if (!room_for(rs, c->rawlen))
			break;
		gr = calloc(1, sizeof(*gr));
		if (!gr)
			break; /* the consumer waits; retried on its next call */
		gr->rs = rs;
		gr->first = rs->next_submit;
		if (!index_get(rs->idx, &c->id, &loc)) {
			gr->missing = true;
			gr->count = 1;
			take_slot(rs, c);
			bk_pool_submit(rs->pool, fetch_job, gr);
			continue;
		}
		gr->pack = loc.pack;
		gr->off = loc.off;
		gr->len = loc.len;
		gr->offs[0] = loc.off;
		gr->lens[0] = loc.len;
		gr->useful = loc.len;
		gr->count = 1;
		take_slot(rs, c);
		while (gr->count < WINDOW &&
		       rs->next_submit < rs->qbase + rs->qlen) {
			const struct centry *n =
				&rs->q[rs->next_submit - rs->qbase];
			struct bk_loc nl;

			uint64_t lo, hi;

			if (!room_for(rs, n->rawlen) ||
			    !index_get(rs->idx, &n->id, &nl) ||
			    memcmp(&nl.pack, &gr->pack, sizeof(nl.pack)) != 0)
				break;
			/* the union of the ranges, if it stays dense: workers
			 * pack chunks in the order they finish, so neighbours
			 * in the stream are near, not always next, in a pack */
			lo = nl.off < gr->off ? nl.off : gr->off;
			hi = nl.off + nl.len > gr->off + gr->len
				     ? nl.off + nl.len
				     : gr->off + gr->len;
			if (hi - lo > GROUP_MAX ||
			    hi - lo > gr->useful + nl.len + GROUP_SLACK)
				break;
			gr->off = lo;
			gr->len = hi - lo;
			gr->useful += nl.len;
			gr->offs[gr->count] = nl.off;
			gr->lens[gr->count] = nl.len;
			gr->count++;
			take_slot(rs, n);
		}
		bk_pool_submit(rs->pool, fetch_job, gr);
	}
}


static enum bk_code emit(struct restore *rs, const uint8_t *p, size_t len,
			 struct bk_error *err)
{
	enum bk_code rc = BK_OK;

	if (rs->out.len + len > OUTBUF) {
		rc = rs->sink(rs->sink_ctx, rs->out.data, rs->out.len, err);
		bk_buf_reset(&rs->out);
	}
	if (rc)
		return rc;
	if (len >= OUTBUF / 2) /* large: straight through */
		return rs->sink(rs->sink_ctx, p, len, err);
	return bk_buf_append(&rs->out, p, len, err);
}

/* Feed one rebuilt record to the parser and write what it verified. */
static enum bk_code through_parser(struct restore *rs, struct bk_drr_parser *p,
				   const uint8_t *hdr, const uint8_t *payload,
				   size_t plen, struct bk_cksum *end_ck,
				   struct bk_error *err)
{
	const uint8_t *parts[2] = { hdr, payload };
	size_t lens[2] = { BK_DRR_HDR_LEN, plen };
	struct bk_drr_rec rec;
	enum bk_drr_status st;

	for (int i = 0; i < 2; i++) {
		size_t off = 0;

		while (off < lens[i]) {
			size_t took = bk_drr_parser_feed(p, parts[i] + off,
							 lens[i] - off);

			if (took == 0)
				return bk_error_set(err, BK_ERR_FORMAT,
						    "recipe: a record longer "
						    "than its header says");
			off += took;
		}
	}
	while ((st = bk_drr_parser_next(p, &rec, err)) == BK_DRR_RECORD) {
		enum bk_code rc = emit(rs, rec.raw,
				       BK_DRR_HDR_LEN + rec.payload_len, err);

		if (rc)
			return rc;
		if (rec.hdr.type == BK_DRR_END && rec.substream != 0)
			*end_ck = rec.hdr.u.end.checksum;
	}
	if (st == BK_DRR_ERROR) {
		bk_error_prefix(err, "restored stream fails verification");
		return err->code;
	}
	return BK_OK;
}

/* Scan a segment: check entry bounds, queue its chunk entries. */
static enum bk_code queue_entry(void *ctx, const uint8_t *e,
				struct bk_error *err)
{
	return queue_chunk(ctx, e, err);
}

static enum bk_code scan_segment(struct restore *rs, const struct bk_buf *seg,
				 struct bk_error *err)
{
	return recipe_scan(seg->data, seg->len, "recipe", queue_entry, rs, err);
}

enum bk_code bk_restore(struct bk_repo *r, const char *name, int fd,
			const struct bk_restore_opts *o,
			struct bk_restore_result *res, struct bk_error *err)
{
	return bk_restore_sink(r, name, bk_drr_sink_fd, &fd, o, res, err);
}

enum bk_code bk_restore_sink(struct bk_repo *r, const char *name,
			     bk_drr_sink_fn sink, void *ctx,
			     const struct bk_restore_opts *o,
			     struct bk_restore_result *res,
			     struct bk_error *err)
{
	struct restore rs;
	struct manifest m;
	struct bk_drr_parser *p = NULL;
	struct bk_buf seg;
	struct bk_hash digest;
	struct bk_id got;
	struct bk_cksum end_ck = { { 0 } };
	struct slot *cur = NULL;
	size_t cur_pos = 0;
	char key[BK_REPO_KEY_MAX];
	double t0 = bk_mono(), last = t0;
	unsigned threads = o && o->threads ? o->threads : bk_ncpus();
	const struct bk_drr_stats *st;
	struct bk_drr_rec rec;
	struct repo_lock *lock = NULL;
	enum bk_code rc;

	memset(&rs, 0, sizeof(rs));
	memset(&m, 0, sizeof(m));
	memset(res, 0, sizeof(*res));
	rs.r = r;
	rs.sink = sink;
	rs.sink_ctx = ctx;
	pthread_mutex_init(&rs.mu, NULL);
	pthread_cond_init(&rs.cv, NULL);
	for (int i = 0; i < WINDOW; i++)
		bk_buf_init(&rs.slots[i].data, BK_DRR_MAX_PAYLOAD + 1);
	bk_buf_init(&rs.out, OUTBUF + 1);
	bk_buf_init(&seg, RECIPE_SEGMENT + BK_DRR_MAX_BEGIN_PAYLOAD + 2048);
	bk_hash_init(&digest);

	/* shared: gc must not take packs away while they are read (a store
	 * we may only read cannot hold a lock: restore from it all the same) */
	rc = repo_lock_take(r, false, &lock, err);
	if (rc && rc != BK_ERR_BUSY)
		rc = BK_OK;
	if (!rc)
		rc = repo_manifest_key(name, key, sizeof(key), err);
	if (!rc)
		rc = manifest_load(r, key, &m, err);
	if (rc == BK_ERR_NOTFOUND)
		rc = bk_error_set(err, BK_ERR_NOTFOUND,
				  "no snapshot %s in the repository", name);
	if (!rc && strcmp(m.name, name) != 0)
		rc = bk_error_set(err, BK_ERR_AUTH, "manifest %s names %s",
				  key, m.name);
	/* not one forgotten and put back, nor one put in the place of the
	 * manifest this machine saw there (trust.c) */
	if (!rc)
		rc = repo_trust_manifest(r, key, &m.ident, err);
	if (!rc)
		rc = repo_index(r, &rs.idx, err);
	/* fetches wait on the store as much as they compute: as many as the
	 * store wants in flight, and at least one per CPU */
	if (threads < bk_store_concurrency(r->store))
		threads = bk_store_concurrency(r->store);
	if (!rc)
		rc = bk_pool_new(threads, WINDOW, &rs.pool, err);
	if (!rc)
		rc = bk_drr_parser_new(NULL, &p, err);

	for (size_t si = 0; !rc && si < m.nsegments; si++) {
		size_t pos = 0;

		rc = recipe_load_segment(r, &m.segments[si], &seg, &digest,
					 err);
		if (!rc)
			rc = scan_segment(&rs, &seg, err);
		if (!rc)
			submit_more(&rs);
		while (!rc && pos < seg.len) {
			const uint8_t *e = seg.data + pos;

			if (o && o->progress && bk_mono() - last >= 1.0) {
				last = bk_mono();
				o->progress(o->progress_ctx,
					    bk_drr_parser_stats(p)->bytes, 0);
			}
			if (e[0] == RECIPE_CHUNK) {
				if (cur && cur_pos != cur->rawlen) {
					rc = bk_error_set(err, BK_ERR_FORMAT,
							  "recipe: %" PRIu32
							  " bytes of a chunk "
							  "left unused",
							  cur->rawlen -
								  (uint32_t)cur_pos);
					break;
				}
				if (cur) {
					rs.inflight_bytes -= cur->rawlen;
					rs.next_consume++;
					/* a large chunk's buffer is not kept
					 * for the slot's next, small one */
					if (cur->data.cap > (2u << 20)) {
						size_t max = cur->data.max;

						bk_buf_release(&cur->data);
						bk_buf_init(&cur->data, max);
					}
					submit_more(&rs);
				}
				cur = &rs.slots[rs.next_consume % WINDOW];
				pthread_mutex_lock(&rs.mu);
				while (!cur->done)
					pthread_cond_wait(&rs.cv, &rs.mu);
				pthread_mutex_unlock(&rs.mu);
				if (cur->rc) {
					*err = cur->err;
					rc = cur->rc;
					break;
				}
				if (memcmp(cur->id.b, e + 1, BK_ID_LEN) != 0) {
					rc = bk_error_set(err, BK_ERR_INTERNAL,
							  "restore window out "
							  "of step");
					break;
				}
				cur_pos = 0;
				pos += RECIPE_CHUNK_LEN;
			} else {
				uint32_t inl = get_le32(e + 1);
				uint32_t chk = get_le32(e + 5);
				const uint8_t *hdr = e + RECIPE_REC_HDR;
				const uint8_t *payload = hdr + BK_DRR_HDR_LEN;

				if (inl && chk) {
					rc = bk_error_set(err, BK_ERR_FORMAT,
							  "recipe: record with "
							  "inline and chunked "
							  "payload");
					break;
				}
				if (chk) {
					if (!cur || cur->rawlen - cur_pos < chk) {
						rc = bk_error_set(
							err, BK_ERR_FORMAT,
							"recipe: a record needs "
							"%" PRIu32 " chunk "
							"bytes that are not there",
							chk);
						break;
					}
					payload = cur->data.data + cur_pos;
					cur_pos += chk;
				}
				rc = through_parser(&rs, p, hdr, payload,
						    inl ? inl : chk, &end_ck,
						    err);
				pos += RECIPE_REC_HDR + BK_DRR_HDR_LEN + inl;
			}
		}
	}
	if (!rc && cur && cur_pos != cur->rawlen)
		rc = bk_error_set(err, BK_ERR_FORMAT,
				  "recipe: the last chunk is not used up");
	if (!rc && (cur ? rs.next_consume + 1 : rs.next_consume) !=
			   rs.qbase + rs.qlen)
		rc = bk_error_set(err, BK_ERR_FORMAT,
				  "recipe: chunk entries without records");
	if (!rc) {
		enum bk_drr_status s;

		bk_drr_parser_eof(p);
		s = bk_drr_parser_next(p, &rec, err);
		if (s == BK_DRR_ERROR)
			rc = err->code;
		else if (s != BK_DRR_DONE)
			rc = bk_error_set(err, BK_ERR_FORMAT,
					  "recipe: stream does not end");
	}
	if (!rc && rs.out.len) {
		rc = sink(ctx, rs.out.data, rs.out.len, err);
		bk_buf_reset(&rs.out);
	}
	if (!rc) {
		st = bk_drr_parser_stats(p);
		bk_hash_final(&digest, &got);
		if (st->bytes != m.stream_bytes || st->records != m.records)
			rc = bk_error_set(err, BK_ERR_CHECKSUM,
					  "%s: restored %" PRIu64
					  " bytes in %" PRIu64
					  " records, the manifest says %" PRIu64
					  " in %" PRIu64,
					  name, st->bytes, st->records,
					  m.stream_bytes, m.records);
		else if (memcmp(&got, &m.digest, sizeof(got)) != 0)
			rc = bk_error_set(err, BK_ERR_CHECKSUM,
					  "%s: stream digest does not match "
					  "the manifest",
					  name);
		else if (memcmp(&end_ck, &m.end_checksum, sizeof(end_ck)) != 0)
			rc = bk_error_set(err, BK_ERR_CHECKSUM,
					  "%s: END checksum does not match the "
					  "manifest",
					  name);
		res->stream_bytes = st->bytes;
		res->records = st->records;
	}
	bk_pool_free(rs.pool); /* waits for fetches still running */
	bk_drr_parser_free(p);
	for (int i = 0; i < WINDOW; i++)
		bk_buf_release(&rs.slots[i].data);
	for (size_t i = 0; i < rs.nspare; i++)
		bk_buf_release(&rs.spare[i]);
	bk_buf_release(&rs.out);
	bk_buf_release(&seg);
	free(rs.q);
	manifest_release(&m);
	pthread_mutex_destroy(&rs.mu);
	pthread_cond_destroy(&rs.cv);
	res->seconds = bk_mono() - t0;
	repo_lock_release(lock);
	return rc;
}

/* For the fuzz target: scan a recipe segment's plaintext. */
enum bk_code repo_fuzz_recipe(const uint8_t *p, size_t len);
enum bk_code repo_fuzz_recipe(const uint8_t *p, size_t len)
{
	struct restore rs;
	struct bk_buf seg = { (uint8_t *)p, len, len, len };
	enum bk_code rc;

	memset(&rs, 0, sizeof(rs));
	rc = scan_segment(&rs, &seg, NULL);
	free(rs.q);
	return rc;
}
