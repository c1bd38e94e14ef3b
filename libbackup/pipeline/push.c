/* SPDX-License-Identifier: MIT */
/*
 * zbak push: stream in, repository objects out.
 *
 * The calling thread reads the stream into the parser (every trailer and END
 * checked) and cuts WRITE/SPILL payloads into chunks.  Each chunk becomes a
 * job for the workers: the repository saves it (repo_pipe.h's save_chunk:
 * compute its id, claim it in the index (a duplicate costs one hash, and,
 * once per pack it is in, a question to the store whether that pack is
 * there: a chunk of a missing pack is stored again), and if new compress,
 * seal and pack it, uploading full packs).  Jobs finish out of order; the calling thread keeps
 * them in a FIFO and writes each one's recipe entries ('C' with the id, then
 * the records that follow it) in stream order.  Memory is bounded: the
 * parser's buffer, the jobs in the FIFO (their buffers are recycled) and
 * the packs being uploaded.
 * Commit order: packs, index, recipe segments, manifest (put_new).
 * The repository is only ever reached through repo_pipe.h's operations.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backup/chunk.h"
#include "backup/clock.h"
#include "pipeline/pipeline.h"
#include "util/pool.h"

#define READ_SIZE (1u << 20)
#define PENDING_MAX (1u << 20) /* recipe bytes waiting for an open chunk */

struct push;

struct job {
	struct push *ps;
	struct bk_buf data; /* the chunk */
	struct bk_buf tail; /* recipe entries after its 'C' entry */
	struct bk_buf enc;  /* worker scratch */
	struct bk_id id;
	bool done, reused;
	struct job *next_free;
};

#define FIFO_MAX 64

struct push {
	const struct repo_pipe_ops *ops; /* the repository (repo_pipe.h) */
	void *sess;
	struct bk_pool *pool;
	struct recipe_writer rw;
	struct bk_chunker ck;
	struct bk_buf chunk;   /* the chunk being filled */
	struct bk_buf pending; /* recipe entries that follow its 'C' entry */
	struct bk_buf entry;   /* scratch for one entry */
	struct bk_buf centry;  /* scratch for one 'C' entry (drain) */
	struct manifest m;
	struct bk_push_result *res;
	bool have_name, have_guid;
	char toname[BK_DRR_NAME_LEN + 1]; /* of the first BEGIN */
	/* jobs in stream order; head..head+n-1 */
	struct job *fifo[FIFO_MAX];
	size_t head, n, fifo_cap;
	struct job *free_jobs;
	/* worker side */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	atomic_bool failed;
	struct bk_error werr;
};

static void fail(struct push *ps, const struct bk_error *err)
{
	pthread_mutex_lock(&ps->mu);
	if (!atomic_load(&ps->failed)) {
		ps->werr = *err;
		atomic_store(&ps->failed, true);
	}
	pthread_mutex_unlock(&ps->mu);
}

static void worker(void *arg)
{
	struct job *j = arg;
	struct push *ps = j->ps;
	struct bk_error err;
	enum bk_code rc = BK_OK;

	if (!atomic_load(&ps->failed))
		rc = ps->ops->save_chunk(ps->sess, j->data.data, j->data.len,
					 &j->enc, &j->id, &j->reused, &err);
	if (rc)
		fail(ps, &err);
	pthread_mutex_lock(&ps->mu);
	j->done = true;
	pthread_cond_broadcast(&ps->cv);
	pthread_mutex_unlock(&ps->mu);
}

static struct job *job_get(struct push *ps)
{
	struct job *j = ps->free_jobs;

	if (j) {
		ps->free_jobs = j->next_free;
	} else {
		j = calloc(1, sizeof(*j));
		if (!j)
			return NULL;
		j->ps = ps;
		bk_buf_init(&j->data, BK_DRR_MAX_PAYLOAD + BK_CHUNK_MAX);
		bk_buf_init(&j->tail,
			    PENDING_MAX + BK_DRR_MAX_BEGIN_PAYLOAD + 1024);
		bk_buf_init(&j->enc, 2 * (BK_DRR_MAX_PAYLOAD + BK_CHUNK_MAX));
	}
	j->done = j->reused = false;
	bk_buf_reset(&j->data);
	bk_buf_reset(&j->tail);
	return j;
}

static void job_free(struct job *j)
{
	bk_buf_release(&j->data);
	bk_buf_release(&j->tail);
	bk_buf_release(&j->enc);
	free(j);
}

/* Write the recipe entries of finished jobs at the head of the FIFO, in
 * order; wait for the head when `all`, or while the FIFO is full. */
static enum bk_code drain(struct push *ps, bool all, struct bk_error *err)
{
	enum bk_code rc = BK_OK;

	while (ps->n) {
		struct job *j = ps->fifo[ps->head];

		pthread_mutex_lock(&ps->mu);
		while (!j->done && (all || ps->n == ps->fifo_cap))
			pthread_cond_wait(&ps->cv, &ps->mu);
		pthread_mutex_unlock(&ps->mu);
		if (!j->done)
			break;
		if (atomic_load(&ps->failed)) {
			*err = ps->werr;
			return err->code;
		}
		bk_buf_reset(&ps->centry);
		rc = recipe_put_chunk(&ps->centry, &j->id,
				      (uint32_t)j->data.len, err);
		if (!rc)
			rc = recipe_append(&ps->rw, ps->centry.data,
					   ps->centry.len, err);
		if (!rc && j->tail.len)
			rc = recipe_append(&ps->rw, j->tail.data, j->tail.len,
					   err);
		if (rc)
			return rc;
		ps->res->chunks++;
		ps->res->chunk_bytes += j->data.len;
		if (j->reused)
			ps->res->reused_bytes += j->data.len;
		else
			ps->res->new_chunks++;
		ps->head = (ps->head + 1) % FIFO_MAX;
		ps->n--;
		j->next_free = ps->free_jobs;
		ps->free_jobs = j;
	}
	return BK_OK;
}

/* End the current chunk: it becomes a job; what waited for it goes along
 * as the entries that follow its 'C' entry. */
static enum bk_code finish_chunk(struct push *ps, struct bk_error *err)
{
	struct job *j;
	struct bk_buf t;
	enum bk_code rc;

	if (ps->chunk.len == 0)
		return BK_OK;
	rc = drain(ps, false, err); /* makes room when the FIFO is full */
	if (rc)
		return rc;
	j = job_get(ps);
	if (!j)
		return bk_error_set(err, BK_ERR_NOMEM, "out of memory");
	/* swap buffers: the job takes the chunk and the pending entries */
	t = j->data;
	j->data = ps->chunk;
	ps->chunk = t;
	t = j->tail;
	j->tail = ps->pending;
	ps->pending = t;
	ps->fifo[(ps->head + ps->n) % FIFO_MAX] = j;
	ps->n++;
	bk_pool_submit(ps->pool, worker, j);
	bk_chunker_reset(&ps->ck);
	return BK_OK;
}

/* Recipe bytes of a record while no chunk is open: straight into the
 * recipe when no job is waiting, else behind the last job. */
static enum bk_code append_unchunked(struct push *ps, const struct bk_buf *b,
				     struct bk_error *err)
{
	enum bk_code rc = BK_OK;

	if (ps->n) {
		struct job *last = ps->fifo[(ps->head + ps->n - 1) % FIFO_MAX];

		if (last->tail.len + b->len <= PENDING_MAX)
			return bk_buf_append(&last->tail, b->data, b->len, err);
		rc = drain(ps, true, err);
	}
	if (!rc)
		rc = recipe_append(&ps->rw, b->data, b->len, err);
	return rc;
}

/* The snapshot's identity: the first BEGIN names it; a compound package's
 * guids come from its substream of that name (the header has none). */
static enum bk_code on_begin(struct push *ps, const struct bk_push_opts *o,
			     const struct bk_drr *b, struct bk_error *err)
{
	const char *name = o && o->name ? o->name : b->u.begin.toname;
	bool header = BK_DRR_HDRTYPE(b->u.begin.versioninfo) ==
		      BK_DRR_COMPOUNDSTREAM;
	struct manifest old;
	enum bk_code rc;

	if (!ps->have_name) {
		rc = repo_split_name(name, ps->m.dataset, sizeof(ps->m.dataset),
				     ps->m.snap, sizeof(ps->m.snap), err);
		if (rc) {
			if (!(o && o->name))
				bk_error_prefix(err, "the stream's name cannot "
					       "be used (give one with --name)");
			return rc;
		}
		snprintf(ps->m.name, sizeof(ps->m.name), "%s", name);
		snprintf(ps->res->name, sizeof(ps->res->name), "%s", name);
		snprintf(ps->toname, sizeof(ps->toname), "%s",
			 b->u.begin.toname);
		ps->have_name = true;
		if (header)
			return BK_OK; /* guids come with the substream */
	} else if (ps->have_guid ||
		   strcmp(b->u.begin.toname, ps->toname) != 0) {
		return BK_OK;
	}
	ps->m.toguid = b->u.begin.toguid;
	ps->m.fromguid = b->u.begin.fromguid;
	ps->m.creation_time = b->u.begin.creation_time;
	ps->have_guid = true;
	/* fail early when another snapshot holds the name */
	rc = ps->ops->get_manifest(ps->sess, ps->m.name, &old, err);
	if (rc == BK_ERR_NOTFOUND)
		return BK_OK;
	if (rc)
		return rc;
	if (old.toguid != ps->m.toguid)
		rc = bk_error_set(err, BK_ERR_EXISTS,
				  "%s is already in the repository with "
				  "another guid (%016" PRIx64 ", this stream "
				  "%016" PRIx64 ")",
				  ps->m.name, old.toguid, ps->m.toguid);
	/* the same snapshot again: check it is the same stream, but upload
	 * no recipe (the stored one stands) */
	ps->rw.dry = true;
	manifest_release(&old);
	return rc;
}

static enum bk_code on_record(struct push *ps, const struct bk_push_opts *o,
			      const struct bk_drr_rec *rec,
			      struct bk_error *err)
{
	const struct bk_drr *h = &rec->hdr;
	enum bk_code rc = BK_OK;

	if (h->type == BK_DRR_BEGIN) {
		rc = on_begin(ps, o, h, err);
		if (rc)
			return rc;
		if (BK_DRR_HDRTYPE(h->u.begin.versioninfo) ==
		    BK_DRR_COMPOUNDSTREAM) {
			ps->m.compound = true;
			ps->m.package = repo_package_kind(
				rec->payload, (size_t)rec->payload_len);
		}
	}
	if (h->type == BK_DRR_END && rec->substream != 0)
		ps->m.end_checksum = h->u.end.checksum;

	if (record_chunked(h, rec->payload_len)) {
		if (bk_chunker_cut_before(&ps->ck, rec->payload_len))
			rc = finish_chunk(ps, err);
		if (!rc)
			rc = bk_buf_append(&ps->chunk, rec->payload,
					   rec->payload_len, err);
		if (!rc)
			rc = recipe_put_record(&ps->pending, rec, true, err);
		if (!rc && bk_chunker_add(&ps->ck, rec->payload,
					  rec->payload_len))
			rc = finish_chunk(ps, err);
		return rc;
	}
	if (ps->chunk.len) {
		/* a chunk is open: this record must follow its 'C' entry */
		rc = recipe_put_record(&ps->pending, rec, false, err);
		if (!rc && ps->pending.len > PENDING_MAX)
			rc = finish_chunk(ps, err);
		return rc;
	}
	bk_buf_reset(&ps->entry);
	rc = recipe_put_record(&ps->entry, rec, false, err);
	if (!rc)
		rc = append_unchunked(ps, &ps->entry, err);
	if (!rc)
		rc = drain(ps, false, err);
	return rc;
}

/* Wait until fd has input (or EOF); -1 when the workers or an upload
 * failed first. */
static int wait_readable(struct push *ps, int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	for (;;) {
		int n = poll(&pfd, 1, 250);
		struct bk_error uerr;

		if (ps->ops->save_failed(ps->sess, &uerr))
			fail(ps, &uerr);
		if (atomic_load(&ps->failed))
			return -1;
		/* ready, hung up, or poll cannot wait on this fd: read */
		if (n != 0 && !(n < 0 && errno == EINTR))
			return 0;
	}
}

static enum bk_code read_all(struct push *ps, int fd,
			     const struct bk_push_opts *o,
			     struct bk_drr_parser *p, struct bk_error *err)
{
	struct bk_drr_rec rec;
	bool eof = false;
	double last = bk_mono();

	for (;;) {
		enum bk_drr_status st = bk_drr_parser_next(p, &rec, err);

		if (st == BK_DRR_ERROR)
			return err->code;
		if (atomic_load(&ps->failed)) {
			*err = ps->werr;
			return err->code;
		}
		if (st == BK_DRR_RECORD) {
			enum bk_code rc = on_record(ps, o, &rec, err);

			if (rc)
				return rc;
			continue;
		}
		if (st == BK_DRR_DONE && eof) {
			if (o && o->progress)
				o->progress(o->progress_ctx,
					    bk_drr_parser_stats(p)->bytes,
					    ps->ops->saved_bytes(ps->sess));
			return BK_OK;
		}
		if (o && o->progress && bk_mono() - last >= BK_PROGRESS_EVERY) {
			last = bk_mono();
			o->progress(o->progress_ctx,
				    bk_drr_parser_stats(p)->bytes,
				    ps->ops->saved_bytes(ps->sess));
		}
		/* a pipe may stay quiet for long (a sender that pauses):
		 * wait in slices, so that a failure of the workers (the
		 * store gone) ends the push without waiting for input */
		if (wait_readable(ps, fd)) {
			*err = ps->werr;
			return err->code;
		}
		if (bk_drr_parser_read_fd(p, fd, READ_SIZE,
					  "reading the stream", &eof, err))
			return err->code;
	}
}

/* The manifest last: the commit.  The same snapshot stored already is
 * fine when it came from the same stream. */
static enum bk_code commit(struct push *ps, struct bk_push_result *res,
			   struct bk_error *err)
{
	struct manifest old;
	uint64_t manifest_bytes = 0;
	enum bk_code rc;

	/* new_bytes in the manifest: what this push added, manifest aside;
	 * the result says the same, so that push and ls give one number */
	ps->m.new_bytes = res->new_bytes;
	rc = ps->rw.dry ? BK_ERR_EXISTS
			: ps->ops->put_manifest(ps->sess, &ps->m,
						&manifest_bytes, err);
	if (rc != BK_ERR_EXISTS)
		return rc;
	/* the same snapshot (same guid, checked at BEGIN) raced in or was
	 * pushed before: fine if it is the same stream */
	rc = ps->ops->get_manifest(ps->sess, ps->m.name, &old, err);
	if (!rc && memcmp(&old.digest, &ps->m.digest, sizeof(old.digest)) == 0) {
		res->already = true;
	} else if (!rc) {
		rc = bk_error_set(err, BK_ERR_EXISTS,
				  "%s is already in the repository "
				  "from another stream (a full and an "
				  "incremental of one snapshot, say)",
				  ps->m.name);
	}
	manifest_release(&old);
	return rc;
}

/* The stream in, its chunks and recipe stored, the manifest written. */
static enum bk_code store(struct push *ps, int fd, const struct bk_push_opts *o,
			  struct bk_drr_parser *p, struct bk_push_result *res,
			  struct bk_error *err)
{
	const struct bk_drr_stats *st;
	enum bk_code rc;

	ps->ops->chunker_init(ps->sess, &ps->ck);
	rc = read_all(ps, fd, o, p, err);
	if (!rc)
		rc = finish_chunk(ps, err);
	if (!rc)
		rc = drain(ps, true, err);
	/* the workers finish what they have, even after an error, so that
	 * what was uploaded is whole */
	bk_pool_wait(ps->pool);
	if (!rc && atomic_load(&ps->failed)) {
		*err = ps->werr;
		rc = err->code;
	}
	if (rc)
		return rc;
	st = bk_drr_parser_stats(p);
	res->stream_bytes = st->bytes;
	res->records = st->records;
	/* commit order: packs, index, recipe segments, manifest */
	rc = ps->ops->save_finish(ps->sess, &res->new_bytes, err);
	if (!rc)
		rc = recipe_finish(&ps->rw, &ps->m.digest, err);
	if (rc)
		return rc;
	res->new_bytes += ps->ops->saved_bytes(ps->sess) + ps->rw.stored;

	ps->m.stream_bytes = st->bytes;
	ps->m.records = st->records;
	memcpy(ps->m.count, st->count, sizeof(ps->m.count));
	ps->m.substreams = st->substreams;
	ps->m.chunks = res->chunks;
	ps->m.segments = ps->rw.ids;
	ps->m.nsegments = ps->rw.nids;
	ps->m.finished = (uint64_t)time(NULL);
	return commit(ps, res, err);
}

enum bk_code pipe_push(const struct repo_pipe_ops *ops, void *repo, int fd,
		       const struct bk_push_opts *o,
		       struct bk_push_result *res, struct bk_error *err)
{
	struct push ps;
	struct bk_drr_parser *p = NULL;
	double t0 = bk_mono();
	unsigned threads = o && o->threads ? o->threads : bk_ncpus();
	enum bk_code rc;

	memset(&ps, 0, sizeof(ps));
	memset(res, 0, sizeof(*res));
	ps.ops = ops;
	ps.res = res;
	pthread_mutex_init(&ps.mu, NULL);
	pthread_cond_init(&ps.cv, NULL);
	bk_buf_init(&ps.chunk, BK_DRR_MAX_PAYLOAD + BK_CHUNK_MAX);
	bk_buf_init(&ps.pending, PENDING_MAX + BK_DRR_MAX_BEGIN_PAYLOAD + 1024);
	bk_buf_init(&ps.entry, BK_DRR_MAX_BEGIN_PAYLOAD + 1024);
	bk_buf_init(&ps.centry, RECIPE_CHUNK_LEN);
	ps.m.started = (uint64_t)time(NULL);

	rc = ops->push_open(repo, &ps.sess, err);
	recipe_writer_init(&ps.rw, ops, ps.sess);
	if (!rc)
		rc = bk_pool_new(threads, FIFO_MAX, &ps.pool, err);
	ps.fifo_cap = 4 * (size_t)threads + 4 < FIFO_MAX
			      ? 4 * (size_t)threads + 4
			      : FIFO_MAX;
	if (!rc)
		rc = bk_drr_parser_new(NULL, &p, err);
	if (!rc)
		rc = store(&ps, fd, o, p, res, err);

	bk_pool_free(ps.pool); /* waits for every job */
	for (size_t i = 0; i < ps.n; i++)
		job_free(ps.fifo[(ps.head + i) % FIFO_MAX]);
	while (ps.free_jobs) {
		struct job *j = ps.free_jobs;

		ps.free_jobs = j->next_free;
		job_free(j);
	}
	bk_drr_parser_free(p);
	ps.m.segments = NULL;
	recipe_writer_release(&ps.rw);
	bk_buf_release(&ps.chunk);
	bk_buf_release(&ps.pending);
	bk_buf_release(&ps.entry);
	bk_buf_release(&ps.centry);
	pthread_mutex_destroy(&ps.mu);
	pthread_cond_destroy(&ps.cv);
	res->seconds = bk_mono() - t0;
	ops->push_close(ps.sess, rc == BK_OK);
	return rc;
}

enum bk_code bk_push(struct bk_repo *r, int fd, const struct bk_push_opts *o,
		     struct bk_push_result *res, struct bk_error *err)
{
	return pipe_push(&repo_pipe_real, r, fd, o, res, err);
}
