/* SPDX-License-Identifier: MIT */
/*
 * zbak push: stream in, repository objects out.
 *
 * The calling thread reads the stream into the parser (every trailer and END
 * checked) and cuts WRITE/SPILL payloads into chunks.  Each chunk becomes a
 * job for the workers: compute its id, claim it in the index (a duplicate
 * costs one hash, and, once per pack it is in, a question to the store
 * whether that pack is there: a chunk of a missing pack is stored again),
 * and if new compress, seal and pack it,
 * uploading full packs.  Jobs finish out of order; the calling thread keeps
 * them in a FIFO and writes each one's recipe entries ('C' with the id, then
 * the records that follow it) in stream order.  Memory is bounded: the
 * parser's buffer, the jobs in the FIFO (their buffers are recycled) and
 * the packs being uploaded.
 * Commit order: packs, index, recipe segments, manifest (put_new).
 */
#include <errno.h>
#include <poll.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backup/chunk.h"
#include "repo/repo_impl.h"
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
	struct bk_repo *r;
	struct bk_index *idx;
	struct packcheck *pc; /* the packs of the chunks it reuses are there */
	struct packer *pk;
	struct bk_pool *pool;
	struct recipe_writer rw;
	struct bk_chunker ck;
	struct bk_buf chunk;   /* the chunk being filled */
	struct bk_buf pending; /* recipe entries that follow its 'C' entry */
	struct bk_buf entry;   /* scratch for one entry */
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

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

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

	if (!atomic_load(&ps->failed)) {
		bk_chunk_id(ps->r->keys, j->data.data, j->data.len, &j->id);
		/* a chunk the index knows is reused only when its pack is
		 * there: never a snapshot that points at missing data */
		rc = index_claim_present(ps->idx, &j->id, ps->pc, &err);
		if (rc == BK_ERR_EXISTS) {
			j->reused = true;
			rc = BK_OK;
		} else if (rc == BK_OK) {
			rc = chunk_encode(j->data.data, j->data.len, &j->enc,
					  &err);
			if (!rc)
				rc = packer_add(ps->pk, &j->id, j->enc.data,
						j->enc.len,
						(uint32_t)j->data.len, &err);
		}
	}
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
		uint8_t entry[RECIPE_CHUNK_LEN];

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
		entry[0] = RECIPE_CHUNK;
		memcpy(entry + 1, j->id.b, BK_ID_LEN);
		le32(entry + 1 + BK_ID_LEN, (uint32_t)j->data.len);
		rc = recipe_append(&ps->rw, entry, sizeof(entry), err);
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
	char key[600];
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
	rc = repo_manifest_key(ps->m.name, key, sizeof(key), err);
	if (!rc)
		rc = manifest_load(ps->r, key, &old, err);
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

/* 'R' [u32 inline length][u32 chunked length][header][inline payload] */
static enum bk_code rec_entry(struct bk_buf *b, const struct bk_drr_rec *rec,
			      bool chunked, struct bk_error *err)
{
	uint8_t head[RECIPE_REC_HDR];
	enum bk_code rc;

	head[0] = RECIPE_REC;
	le32(head + 1, chunked ? 0 : (uint32_t)rec->payload_len);
	le32(head + 5, chunked ? (uint32_t)rec->payload_len : 0);
	rc = bk_buf_append(b, head, sizeof(head), err);
	if (!rc)
		rc = bk_buf_append(b, rec->raw,
				   BK_DRR_HDR_LEN +
					   (chunked ? 0 : rec->payload_len),
				   err);
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
			rc = rec_entry(&ps->pending, rec, true, err);
		if (!rc && bk_chunker_add(&ps->ck, rec->payload,
					  rec->payload_len))
			rc = finish_chunk(ps, err);
		return rc;
	}
	if (ps->chunk.len) {
		/* a chunk is open: this record must follow its 'C' entry */
		rc = rec_entry(&ps->pending, rec, false, err);
		if (!rc && ps->pending.len > PENDING_MAX)
			rc = finish_chunk(ps, err);
		return rc;
	}
	bk_buf_reset(&ps->entry);
	rc = rec_entry(&ps->entry, rec, false, err);
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

		if (packer_failed(ps->pk, &uerr))
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
	double last = now();

	for (;;) {
		enum bk_drr_status st = bk_drr_parser_next(p, &rec, err);
		size_t avail;
		uint8_t *dst;
		ssize_t n;

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
		if (st == BK_DRR_DONE && eof)
			return BK_OK;
		if (o && o->progress && now() - last >= 1.0) {
			last = now();
			o->progress(o->progress_ctx,
				    bk_drr_parser_stats(p)->bytes,
				    packer_uploaded(ps->pk));
		}
		dst = bk_drr_parser_space(p, READ_SIZE, &avail, err);
		if (!dst)
			return err->code;
		/* a pipe may stay quiet for long (a sender that pauses):
		 * wait in slices, so that a failure of the workers (the
		 * store gone) ends the push without waiting for input */
		if (wait_readable(ps, fd)) {
			*err = ps->werr;
			return err->code;
		}
		do
			n = read(fd, dst, avail);
		while (n < 0 && errno == EINTR);
		if (n < 0)
			return bk_error_set(err, BK_ERR_IO,
					    "reading the stream: %s",
					    strerror(errno));
		if (n == 0) {
			eof = true;
			bk_drr_parser_eof(p);
		} else {
			bk_drr_parser_wrote(p, (size_t)n);
		}
	}
}

enum bk_code bk_push(struct bk_repo *r, int fd, const struct bk_push_opts *o,
		     struct bk_push_result *res, struct bk_error *err)
{
	struct bk_id ident;
	struct push ps;
	struct bk_drr_parser *p = NULL;
	const struct bk_drr_stats *st;
	char key[600], marker[64] = "";
	struct bk_buf mb;
	double t0 = now();
	unsigned threads = o && o->threads ? o->threads : bk_ncpus();
	struct repo_lock *lock = NULL;
	enum bk_code rc;

	memset(&ps, 0, sizeof(ps));
	memset(res, 0, sizeof(*res));
	ps.r = r;
	ps.res = res;
	pthread_mutex_init(&ps.mu, NULL);
	pthread_cond_init(&ps.cv, NULL);
	bk_buf_init(&ps.chunk, BK_DRR_MAX_PAYLOAD + BK_CHUNK_MAX);
	bk_buf_init(&ps.pending, PENDING_MAX + BK_DRR_MAX_BEGIN_PAYLOAD + 1024);
	bk_buf_init(&mb, MAX_MANIFEST);
	bk_buf_init(&ps.entry, BK_DRR_MAX_BEGIN_PAYLOAD + 1024);
	recipe_writer_init(&ps.rw, r, err);
	ps.m.started = (uint64_t)time(NULL);

	/* a shared lock: gc (exclusive) must not remove what this push finds
	 * in the index and refers to */
	rc = repo_lock_take(r, false, &lock, err);
	/* not into a repository whose key file was rolled back */
	if (!rc)
		rc = repo_trust_keys(r, err);
	if (!rc)
		rc = repo_index(r, &ps.idx, err);
	/* while this push runs, its marker tells later pushes on this
	 * machine that unindexed packs may be its, not a dead push's */
	if (!rc)
		repo_cache_mark(r, marker, sizeof(marker));
	if (!rc)
		rc = packer_new(r, &ps.pk, err);
	if (!rc)
		rc = packcheck_new(r, &ps.pc, err);
	if (!rc)
		rc = bk_pool_new(threads, FIFO_MAX, &ps.pool, err);
	ps.fifo_cap = 4 * (size_t)threads + 4 < FIFO_MAX
			      ? 4 * (size_t)threads + 4
			      : FIFO_MAX;
	if (!rc)
		rc = bk_drr_parser_new(NULL, &p, err);
	if (rc)
		goto out;
	bk_chunker_init(&ps.ck, r->keys);

	rc = read_all(&ps, fd, o, p, err);
	if (!rc)
		rc = finish_chunk(&ps, err);
	if (!rc)
		rc = drain(&ps, true, err);
	/* the workers finish what they have, even after an error, so that
	 * what was uploaded is whole */
	bk_pool_wait(ps.pool);
	if (!rc && atomic_load(&ps.failed)) {
		*err = ps.werr;
		rc = err->code;
	}
	if (!rc)
		rc = packer_finish(ps.pk, err);
	if (rc)
		goto out;

	st = bk_drr_parser_stats(p);
	res->stream_bytes = st->bytes;
	res->records = st->records;
	/* packs went out unsynced: make them durable before anything that
	 * refers to them */
	rc = bk_store_sync(r->store, err);
	if (!rc)
		rc = index_write(r, ps.idx, &res->new_bytes, err);
	if (!rc)
		rc = recipe_finish(&ps.rw, &ps.m.digest, err);
	if (rc)
		goto out;
	res->new_bytes += packer_uploaded(ps.pk) + ps.rw.stored;

	ps.m.stream_bytes = st->bytes;
	ps.m.records = st->records;
	memcpy(ps.m.count, st->count, sizeof(ps.m.count));
	ps.m.substreams = st->substreams;
	ps.m.chunks = res->chunks;
	ps.m.segments = ps.rw.ids;
	ps.m.nsegments = ps.rw.nids;
	ps.m.finished = (uint64_t)time(NULL);
	rc = repo_manifest_key(ps.m.name, key, sizeof(key), err);
	if (rc)
		goto out;
	/* new_bytes in the manifest: what this push added, manifest aside */
	ps.m.new_bytes = res->new_bytes;
	rc = manifest_encode(&ps.m, &mb, err);
	if (!rc)
		rc = ps.rw.dry ? BK_ERR_EXISTS
			       : repo_put_sealed_id(r, BK_OBJ_MANIFEST, key,
						    mb.data, mb.len, true,
						    &res->new_bytes, &ident,
						    err);
	if (!rc) /* this machine remembers what it wrote (trust.c) */
		repo_trust_pushed(r, key, &ident);
	if (rc == BK_ERR_EXISTS) {
		/* the same snapshot (same guid, checked at BEGIN) raced in or
		 * was pushed before: fine if it is the same stream */
		struct manifest old;

		rc = manifest_load(r, key, &old, err);
		if (!rc && memcmp(&old.digest, &ps.m.digest,
				  sizeof(old.digest)) == 0) {
			res->already = true;
		} else if (!rc) {
			rc = bk_error_set(err, BK_ERR_EXISTS,
					  "%s is already in the repository "
					  "from another stream (a full and an "
					  "incremental of one snapshot, say)",
					  ps.m.name);
		}
		manifest_release(&old);
	}
out:
	if (!rc) /* committed: nothing of it is left unindexed */
		repo_cache_unmark(r, marker);
	else
		repo_cache_failed(r, marker);
	bk_pool_free(ps.pool); /* waits for every job */
	for (size_t i = 0; i < ps.n; i++)
		job_free(ps.fifo[(ps.head + i) % FIFO_MAX]);
	while (ps.free_jobs) {
		struct job *j = ps.free_jobs;

		ps.free_jobs = j->next_free;
		job_free(j);
	}
	packer_free(ps.pk);
	packcheck_free(ps.pc);
	bk_drr_parser_free(p);
	ps.m.segments = NULL;
	recipe_writer_release(&ps.rw);
	bk_buf_release(&ps.chunk);
	bk_buf_release(&ps.pending);
	bk_buf_release(&ps.entry);
	bk_buf_release(&mb);
	pthread_mutex_destroy(&ps.mu);
	pthread_cond_destroy(&ps.cv);
	res->seconds = now() - t0;
	repo_lock_release(lock);
	return rc;
}
