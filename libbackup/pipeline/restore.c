/* SPDX-License-Identifier: MIT */
/*
 * zbak restore: manifest -> recipe -> chunks -> the stream, byte for byte.
 *
 * Chunks are fetched ahead by worker threads, neighbours in a pack with one
 * ranged read (repo_pipe.h's load_chunks: each opened, decompressed and its
 * id recomputed); the calling thread walks the recipe, rebuilds every
 * record and passes it through the stream parser, so every trailer and END
 * is checked again before the bytes are written.  At the end the length,
 * the digest over the recipe and the last END checksum must equal the
 * manifest's.  Memory: one recipe segment, the chunks in the window
 * (bounded in count and bytes), the parser's buffer.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backup/clock.h"
#include "pipeline/pipeline.h"
#include "util/pool.h"

/* chunks fetched ahead: 32 a fetching thread, at least 64 (one CPU's
 * worth of a local repository's reads), at most WINDOW_MAX (S3's 8
 * connections, each with a ranged read of a few MiB in flight) */
#define WINDOW_MIN 64
#define WINDOW_MAX 256
#define WINDOW_PER_THREAD 32
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
	const struct repo_pipe_ops *ops; /* the repository (repo_pipe.h) */
	void *sess;
	struct bk_pool *pool;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct slot slots[WINDOW_MAX];
	size_t window;    /* slots in use: chunks fetched ahead */
	size_t group_max; /* chunks a ranged read covers, at most */
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
	/* the calling thread's walk of the recipe */
	struct bk_drr_parser *p;
	struct slot *cur; /* the chunk the records take payloads from */
	size_t cur_pos;   /* bytes of it taken */
	struct bk_cksum end_ck; /* of the last END of a substream */
	double last;            /* progress reported */
	uint64_t total;         /* the manifest's stream length */
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
	struct repo_blob blobs[WINDOW_MAX];
	bool missing; /* the first chunk is in no index */
};

static void fetch_job(void *arg)
{
	struct group *gr = arg;
	struct restore *rs = gr->rs;
	struct slot *first = &rs->slots[gr->first % rs->window];
	char hex[2 * BK_ID_LEN + 1];
	struct bk_buf sealed, plain;

	take(rs, &sealed);
	take(rs, &plain);
	if (gr->missing) {
		bk_id_hex(&first->id, hex);
		first->rc = bk_error_set(&first->err, BK_ERR_MISSING,
					 "chunk %s is in no index", hex);
	} else {
		rs->ops->load_chunks(rs->sess, &gr->pack, gr->blobs, gr->count,
				     &sealed, &plain);
	}
	for (size_t i = 0; !gr->missing && i < gr->count; i++) {
		struct slot *s = &rs->slots[(gr->first + i) % rs->window];

		s->rc = gr->blobs[i].rc;
		if (!s->rc && s->data.len != s->rawlen)
			s->rc = bk_error_set(&s->err, BK_ERR_FORMAT,
					     "chunk length differs from the "
					     "recipe");
	}
	give(rs, &sealed);
	give(rs, &plain);
	pthread_mutex_lock(&rs->mu);
	for (size_t i = 0; i < gr->count; i++)
		rs->slots[(gr->first + i) % rs->window].done = true;
	pthread_cond_broadcast(&rs->cv);
	pthread_mutex_unlock(&rs->mu);
	free(gr);
}

static enum bk_code queue_chunk(struct restore *rs,
				const struct recipe_entry *e,
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
	rs->q[rs->qlen].id = e->id;
	rs->q[rs->qlen].rawlen = e->rawlen;
	rs->qlen++;
	return BK_OK;
}

static bool room_for(struct restore *rs, uint32_t rawlen)
{
	return rs->next_submit < rs->qbase + rs->qlen &&
	       rs->next_submit - rs->next_consume < rs->window &&
	       (rs->next_submit == rs->next_consume ||
		rs->inflight_bytes + rawlen <= WINDOW_BYTES);
}

/* The next slot for chunk c, which gr fetches from where loc says. */
static void take_slot(struct restore *rs, const struct centry *c,
		      struct group *gr, const struct bk_loc *loc)
{
	struct slot *s = &rs->slots[rs->next_submit % rs->window];

	if (loc) {
		struct repo_blob *b = &gr->blobs[gr->count];

		b->id = c->id;
		b->off = loc->off;
		b->len = loc->len;
		b->out = &s->data;
		b->err = &s->err;
	}
	gr->count++;
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
	    rs->next_submit - rs->next_consume > rs->window - rs->window / 4)
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
		if (!rs->ops->locate(rs->sess, &c->id, &loc)) {
			gr->missing = true;
			take_slot(rs, c, gr, NULL);
			bk_pool_submit(rs->pool, fetch_job, gr);
			continue;
		}
		gr->pack = loc.pack;
		gr->off = loc.off;
		gr->len = loc.len;
		gr->useful = loc.len;
		take_slot(rs, c, gr, &loc);
		/* a group is a share of the window, not all of it: several
		 * reads in flight, one per fetching thread (on S3 each waits
		 * on the network; locally each decodes on its own CPU) */
		while (gr->count < rs->group_max &&
		       rs->next_submit < rs->qbase + rs->qlen) {
			const struct centry *n =
				&rs->q[rs->next_submit - rs->qbase];
			struct bk_loc nl;

			uint64_t lo, hi;

			if (!room_for(rs, n->rawlen) ||
			    !rs->ops->locate(rs->sess, &n->id, &nl) ||
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
			take_slot(rs, n, gr, &nl);
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

/* Check a segment's entries and queue its chunks (fetched ahead). */
static enum bk_code queue_segment(struct restore *rs, const struct bk_buf *seg,
				  struct bk_error *err)
{
	struct recipe_iter it;
	struct recipe_entry e;

	recipe_iter_init(&it, seg->data, seg->len);
	while (recipe_next(&it, &e)) {
		enum bk_code rc = e.kind == RECIPE_CHUNK
					  ? queue_chunk(rs, &e, err)
					  : BK_OK;

		if (rc)
			return rc;
	}
	if (it.damaged)
		return bk_error_set(err, BK_ERR_FORMAT,
				    "recipe: damaged recipe entry at byte %zu",
				    it.pos);
	return BK_OK;
}

/* The current chunk is used up: its slot goes back to the window. */
static void release_chunk(struct restore *rs)
{
	struct slot *cur = rs->cur;

	rs->inflight_bytes -= cur->rawlen;
	rs->next_consume++;
	/* a large chunk's buffer is not kept for the slot's next, small one */
	if (cur->data.cap > (2u << 20)) {
		size_t max = cur->data.max;

		bk_buf_release(&cur->data);
		bk_buf_init(&cur->data, max);
	}
	submit_more(rs);
}

/* A 'C' entry: the previous chunk must be used up; wait for this one. */
static enum bk_code on_chunk(struct restore *rs, const struct recipe_entry *e,
			     struct bk_error *err)
{
	struct slot *cur = rs->cur;

	if (cur && rs->cur_pos != cur->rawlen)
		return bk_error_set(err, BK_ERR_FORMAT,
				    "recipe: %" PRIu32 " bytes of a chunk "
				    "left unused",
				    cur->rawlen - (uint32_t)rs->cur_pos);
	if (cur)
		release_chunk(rs);
	cur = rs->cur = &rs->slots[rs->next_consume % rs->window];
	pthread_mutex_lock(&rs->mu);
	while (!cur->done)
		pthread_cond_wait(&rs->cv, &rs->mu);
	pthread_mutex_unlock(&rs->mu);
	if (cur->rc) {
		*err = cur->err;
		return cur->rc;
	}
	if (memcmp(&cur->id, &e->id, sizeof(e->id)) != 0)
		return bk_error_set(err, BK_ERR_INTERNAL,
				    "restore window out of step");
	rs->cur_pos = 0;
	return BK_OK;
}

/* An 'R' entry: the record rebuilt, its payload inline or taken from the
 * current chunk, through the parser. */
static enum bk_code on_record(struct restore *rs, const struct recipe_entry *e,
			      struct bk_error *err)
{
	const uint8_t *payload = e->payload;
	uint32_t inl = e->inline_len, chk = e->chunked_len;

	if (inl && chk)
		return bk_error_set(err, BK_ERR_FORMAT,
				    "recipe: record with inline and chunked "
				    "payload");
	if (chk) {
		if (!rs->cur || rs->cur->rawlen - rs->cur_pos < chk)
			return bk_error_set(err, BK_ERR_FORMAT,
					    "recipe: a record needs %" PRIu32
					    " chunk bytes that are not there",
					    chk);
		payload = rs->cur->data.data + rs->cur_pos;
		rs->cur_pos += chk;
	}
	return through_parser(rs, rs->p, e->hdr, payload, inl ? inl : chk,
			      &rs->end_ck, err);
}

/* Rebuild the records of one segment (queued by queue_segment). */
static enum bk_code decode_segment(struct restore *rs, const struct bk_buf *seg,
				   const struct bk_restore_opts *o,
				   struct bk_error *err)
{
	struct recipe_iter it;
	struct recipe_entry e;
	enum bk_code rc = BK_OK;

	recipe_iter_init(&it, seg->data, seg->len);
	while (!rc && recipe_next(&it, &e)) {
		if (o && o->progress &&
		    bk_mono() - rs->last >= BK_PROGRESS_EVERY) {
			rs->last = bk_mono();
			o->progress(o->progress_ctx,
				    bk_drr_parser_stats(rs->p)->bytes,
				    rs->total);
		}
		rc = e.kind == RECIPE_CHUNK ? on_chunk(rs, &e, err)
					    : on_record(rs, &e, err);
	}
	return rc;
}

/* The recipe is walked: every chunk used, the stream ended, the rest of
 * the bytes out, and what was restored what the manifest says. */
static enum bk_code check_end(struct restore *rs, const struct manifest *m,
			      struct bk_hash *digest,
			      struct bk_restore_result *res,
			      struct bk_error *err)
{
	const struct bk_drr_stats *st;
	struct bk_drr_rec rec;
	enum bk_drr_status s;
	struct bk_id got;
	enum bk_code rc = BK_OK;

	if (rs->cur && rs->cur_pos != rs->cur->rawlen)
		return bk_error_set(err, BK_ERR_FORMAT,
				    "recipe: the last chunk is not used up");
	if ((rs->cur ? rs->next_consume + 1 : rs->next_consume) !=
	    rs->qbase + rs->qlen)
		return bk_error_set(err, BK_ERR_FORMAT,
				    "recipe: chunk entries without records");
	bk_drr_parser_eof(rs->p);
	s = bk_drr_parser_next(rs->p, &rec, err);
	if (s == BK_DRR_ERROR)
		return err->code;
	if (s != BK_DRR_DONE)
		return bk_error_set(err, BK_ERR_FORMAT,
				    "recipe: stream does not end");
	if (rs->out.len) {
		rc = rs->sink(rs->sink_ctx, rs->out.data, rs->out.len, err);
		bk_buf_reset(&rs->out);
		if (rc)
			return rc;
	}
	st = bk_drr_parser_stats(rs->p);
	bk_hash_final(digest, &got);
	if (st->bytes != m->stream_bytes || st->records != m->records)
		rc = bk_error_set(err, BK_ERR_CHECKSUM,
				  "%s: restored %" PRIu64 " bytes in %" PRIu64
				  " records, the manifest says %" PRIu64
				  " in %" PRIu64,
				  m->name, st->bytes, st->records,
				  m->stream_bytes, m->records);
	else if (memcmp(&got, &m->digest, sizeof(got)) != 0)
		rc = bk_error_set(err, BK_ERR_CHECKSUM,
				  "%s: stream digest does not match the "
				  "manifest",
				  m->name);
	else if (memcmp(&rs->end_ck, &m->end_checksum,
			sizeof(rs->end_ck)) != 0)
		rc = bk_error_set(err, BK_ERR_CHECKSUM,
				  "%s: END checksum does not match the "
				  "manifest",
				  m->name);
	res->stream_bytes = st->bytes;
	res->records = st->records;
	return rc;
}

enum bk_code pipe_restore(const struct repo_pipe_ops *ops, void *repo,
			  const char *name, bk_drr_sink_fn sink, void *ctx,
			  const struct bk_restore_opts *o,
			  struct bk_restore_result *res, struct bk_error *err)
{
	struct restore rs;
	struct manifest m;
	struct bk_buf seg;
	struct bk_hash digest;
	double t0 = bk_mono();
	unsigned threads = o && o->threads ? o->threads : bk_ncpus();
	enum bk_code rc;

	memset(&rs, 0, sizeof(rs));
	memset(&m, 0, sizeof(m));
	memset(res, 0, sizeof(*res));
	rs.ops = ops;
	rs.sink = sink;
	rs.sink_ctx = ctx;
	rs.last = t0;
	rs.window = WINDOW_MIN; /* set for the store below */
	rs.group_max = WINDOW_MIN;
	pthread_mutex_init(&rs.mu, NULL);
	pthread_cond_init(&rs.cv, NULL);
	for (int i = 0; i < WINDOW_MAX; i++)
		bk_buf_init(&rs.slots[i].data, BK_DRR_MAX_PAYLOAD + 1);
	bk_buf_init(&rs.out, OUTBUF + 1);
	bk_buf_init(&seg, RECIPE_SEGMENT + BK_DRR_MAX_BEGIN_PAYLOAD + 2048);
	bk_hash_init(&digest);

	rc = ops->restore_open(repo, name, &rs.sess, &m, err);
	/* fetches wait on the store as much as they compute: as many as the
	 * store wants in flight, and at least one per CPU */
	if (!rc && threads < ops->concurrency(rs.sess))
		threads = ops->concurrency(rs.sess);
	rs.window = threads * WINDOW_PER_THREAD;
	if (rs.window < WINDOW_MIN)
		rs.window = WINDOW_MIN;
	if (rs.window > WINDOW_MAX)
		rs.window = WINDOW_MAX;
	rs.group_max = rs.window / threads;
	if (rs.group_max < 8)
		rs.group_max = 8;
	if (!rc)
		rc = bk_pool_new(threads, rs.window, &rs.pool, err);
	if (!rc)
		rc = bk_drr_parser_new(NULL, &rs.p, err);
	/* the total first, for a percentage from the start */
	rs.total = m.stream_bytes;
	if (!rc && o && o->progress)
		o->progress(o->progress_ctx, 0, rs.total);

	for (size_t si = 0; !rc && si < m.nsegments; si++) {
		rc = ops->get_recipe(rs.sess, &m.segments[si], &seg, err);
		if (!rc) {
			bk_hash_update(&digest, seg.data, seg.len);
			rc = queue_segment(&rs, &seg, err);
		}
		if (!rc) {
			submit_more(&rs);
			rc = decode_segment(&rs, &seg, o, err);
		}
	}
	if (!rc)
		rc = check_end(&rs, &m, &digest, res, err);
	if (!rc && o && o->progress)
		o->progress(o->progress_ctx, res->stream_bytes, rs.total);
	bk_pool_free(rs.pool); /* waits for fetches still running */
	bk_drr_parser_free(rs.p);
	for (int i = 0; i < WINDOW_MAX; i++)
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
	ops->restore_close(rs.sess);
	return rc;
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
	return pipe_restore(&repo_pipe_real, r, name, sink, ctx, o, res, err);
}
