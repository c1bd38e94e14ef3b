/* The pipeline (push, restore) against an in-memory repository behind
 * repo_pipe.h's operations: no store, no keys file, no index, no locks.
 * That it works proves the operations are all the pipeline needs; the
 * fake's counters show what it asked for (chunks saved and reused, ranged
 * reads of several chunks), and its faults what the pipeline does with the
 * repository's errors. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "pipeline/pipeline.h"
#include "tstream.h"

#define PACK_CHUNKS 4 /* chunks per fake pack: ranged reads cover several */
#define BIG (1u << 30) /* buffer limit */

struct fchunk {
	struct bk_id id;
	uint32_t pack, off, len;
};

struct fseg {
	struct bk_id id;
	struct bk_buf plain;
};

/* The fake repository. */
struct fake {
	struct bk_keys *keys; /* the chunker's and the chunk ids' */
	pthread_mutex_t mu;
	struct fchunk chunks[4096];
	size_t nchunks;
	struct bk_buf packs[1024]; /* chunk bytes, as they are */
	struct fseg segs[64];
	size_t nsegs;
	struct manifest mans[8];
	size_t nmans;
	/* what the pipeline asked for */
	unsigned opened, closed, committed;
	unsigned saved, reused, loads, blobs_loaded, recipes_read;
	/* faults */
	unsigned fail_save_after; /* 0: never */
	bool lose_chunks;         /* locate finds nothing */
};

static struct fake *F; /* the fake is the repository; sessions are it too */

static struct fchunk *find_chunk(struct fake *f, const struct bk_id *id)
{
	for (size_t i = 0; i < f->nchunks; i++)
		if (!memcmp(&f->chunks[i].id, id, sizeof(*id)))
			return &f->chunks[i];
	return NULL;
}

static enum bk_code f_push_open(void *repo, void **sess, struct bk_error *err)
{
	(void)err;
	((struct fake *)repo)->opened++;
	*sess = repo;
	return BK_OK;
}

static void f_push_close(void *sess, bool committed)
{
	struct fake *f = sess;

	f->closed++;
	f->committed += committed;
}

static void f_chunker_init(void *sess, struct bk_chunker *ck)
{
	bk_chunker_init(ck, ((struct fake *)sess)->keys);
}

static enum bk_code f_save_chunk(void *sess, const uint8_t *data, size_t len,
				 struct bk_buf *scratch, struct bk_id *id,
				 bool *reused, struct bk_error *err)
{
	struct fake *f = sess;
	struct fchunk *c;
	enum bk_code rc = BK_OK;

	(void)scratch;
	bk_chunk_id(f->keys, data, len, id);
	pthread_mutex_lock(&f->mu);
	if (f->fail_save_after && f->saved + f->reused >= f->fail_save_after) {
		rc = bk_error_set(err, BK_ERR_STORAGE, "fake: store gone");
	} else if (find_chunk(f, id)) {
		*reused = true;
		f->reused++;
	} else {
		struct bk_buf *pack;

		if (f->nchunks == 4096) { /* no cmocka asserts in workers */
			pthread_mutex_unlock(&f->mu);
			return bk_error_set(err, BK_ERR_NOMEM, "fake: full");
		}
		c = &f->chunks[f->nchunks];
		c->id = *id;
		c->pack = (uint32_t)(f->nchunks / PACK_CHUNKS);
		pack = &f->packs[c->pack];
		if (f->nchunks % PACK_CHUNKS == 0)
			bk_buf_init(pack, BIG);
		c->off = (uint32_t)pack->len;
		c->len = (uint32_t)len;
		rc = bk_buf_append(pack, data, len, err);
		f->nchunks++;
		*reused = false;
		f->saved++;
	}
	pthread_mutex_unlock(&f->mu);
	return rc;
}

static bool f_save_failed(void *sess, struct bk_error *err)
{
	(void)sess;
	(void)err;
	return false;
}

static uint64_t f_saved_bytes(void *sess)
{
	(void)sess;
	return 0;
}

static enum bk_code f_save_finish(void *sess, uint64_t *stored,
				  struct bk_error *err)
{
	(void)sess;
	(void)stored;
	(void)err;
	return BK_OK;
}

static enum bk_code f_put_recipe(void *sess, const uint8_t *plain, size_t len,
				 struct bk_id *id, uint64_t *stored,
				 struct bk_error *err)
{
	struct fake *f = sess;
	struct fseg *s;

	assert_true(f->nsegs < 64);
	s = &f->segs[f->nsegs];
	bk_random(s->id.b, sizeof(s->id.b));
	bk_buf_init(&s->plain, BIG);
	*id = s->id;
	*stored += len;
	f->nsegs++;
	return bk_buf_append(&s->plain, plain, len, err);
}

static struct manifest *find_man(struct fake *f, const char *name)
{
	for (size_t i = 0; i < f->nmans; i++)
		if (!strcmp(f->mans[i].name, name))
			return &f->mans[i];
	return NULL;
}

static void copy_man(struct manifest *to, const struct manifest *from)
{
	*to = *from;
	to->segments = calloc(from->nsegments + 1, sizeof(struct bk_id));
	assert_non_null(to->segments);
	memcpy(to->segments, from->segments,
	       from->nsegments * sizeof(struct bk_id));
}

static enum bk_code f_put_manifest(void *sess, const struct manifest *m,
				   uint64_t *stored, struct bk_error *err)
{
	struct fake *f = sess;

	(void)stored;
	if (find_man(f, m->name))
		return bk_error_set(err, BK_ERR_EXISTS, "fake: exists");
	assert_true(f->nmans < 8);
	copy_man(&f->mans[f->nmans++], m);
	return BK_OK;
}

static enum bk_code f_get_manifest(void *sess, const char *name,
				   struct manifest *m, struct bk_error *err)
{
	struct manifest *have = find_man(sess, name);

	if (!have)
		return bk_error_set(err, BK_ERR_NOTFOUND, "fake: no %s", name);
	copy_man(m, have);
	return BK_OK;
}

static enum bk_code f_restore_open(void *repo, const char *name, void **sess,
				   struct manifest *m, struct bk_error *err)
{
	enum bk_code rc = f_get_manifest(repo, name, m, err);

	*sess = rc ? NULL : repo;
	if (!rc)
		((struct fake *)repo)->opened++;
	return rc;
}

static void f_restore_close(void *sess)
{
	if (sess)
		((struct fake *)sess)->closed++;
}

static unsigned f_concurrency(void *sess)
{
	(void)sess;
	return 2;
}

static enum bk_code f_get_recipe(void *sess, const struct bk_id *id,
				 struct bk_buf *out, struct bk_error *err)
{
	struct fake *f = sess;

	for (size_t i = 0; i < f->nsegs; i++) {
		if (memcmp(&f->segs[i].id, id, sizeof(*id)))
			continue;
		f->recipes_read++;
		bk_buf_reset(out);
		return bk_buf_append(out, f->segs[i].plain.data,
				     f->segs[i].plain.len, err);
	}
	return bk_error_set(err, BK_ERR_MISSING, "fake: no segment");
}

static bool f_locate(void *sess, const struct bk_id *id, struct bk_loc *loc)
{
	struct fake *f = sess;
	struct fchunk *c;

	if (f->lose_chunks)
		return false;
	pthread_mutex_lock(&f->mu);
	c = find_chunk(f, id);
	if (c) {
		memset(&loc->pack, 0, sizeof(loc->pack));
		memcpy(loc->pack.b, &c->pack, sizeof(c->pack));
		loc->off = c->off;
		loc->len = c->len;
		loc->rawlen = c->len;
	}
	pthread_mutex_unlock(&f->mu);
	return c != NULL;
}

static void f_load_chunks(void *sess, const struct bk_id *pack,
			  struct repo_blob *b, size_t n, struct bk_buf *sealed,
			  struct bk_buf *plain)
{
	struct fake *f = sess;
	uint32_t p;

	(void)sealed;
	(void)plain;
	memcpy(&p, pack->b, sizeof(p));
	pthread_mutex_lock(&f->mu);
	f->loads++;
	f->blobs_loaded += (unsigned)n;
	pthread_mutex_unlock(&f->mu);
	for (size_t i = 0; i < n; i++) {
		struct bk_id got;

		bk_buf_reset(b[i].out);
		b[i].rc = bk_buf_append(b[i].out, f->packs[p].data + b[i].off,
					b[i].len, b[i].err);
		bk_chunk_id(f->keys, b[i].out->data, b[i].out->len, &got);
		if (!b[i].rc && memcmp(&got, &b[i].id, sizeof(got)))
			b[i].rc = bk_error_set(b[i].err, BK_ERR_AUTH,
					       "fake: chunk altered");
	}
}

static const struct repo_pipe_ops fake_ops = {
	.push_open = f_push_open,
	.push_close = f_push_close,
	.chunker_init = f_chunker_init,
	.save_chunk = f_save_chunk,
	.save_failed = f_save_failed,
	.saved_bytes = f_saved_bytes,
	.save_finish = f_save_finish,
	.put_recipe = f_put_recipe,
	.put_manifest = f_put_manifest,
	.get_manifest = f_get_manifest,
	.restore_open = f_restore_open,
	.restore_close = f_restore_close,
	.concurrency = f_concurrency,
	.get_recipe = f_get_recipe,
	.locate = f_locate,
	.load_chunks = f_load_chunks,
};

static int setup(void **state)
{
	struct bk_error err;

	F = calloc(1, sizeof(*F));
	if (!F || bk_crypto_init(&err) || bk_keys_generate(&F->keys, &err))
		return -1;
	pthread_mutex_init(&F->mu, NULL);
	*state = F;
	return 0;
}

static int teardown(void **state)
{
	struct fake *f = *state;

	for (size_t i = 0; i < (f->nchunks + PACK_CHUNKS - 1) / PACK_CHUNKS; i++)
		bk_buf_release(&f->packs[i]);
	for (size_t i = 0; i < f->nsegs; i++)
		bk_buf_release(&f->segs[i].plain);
	for (size_t i = 0; i < f->nmans; i++)
		manifest_release(&f->mans[i]);
	bk_keys_free(f->keys);
	pthread_mutex_destroy(&f->mu);
	free(f);
	return 0;
}

/* Push the bytes of s through the pipeline (from a file, as zbak does). */
static enum bk_code push(struct fake *f, const struct bk_buf *s,
			 const char *name, struct bk_push_result *res,
			 struct bk_error *err)
{
	struct bk_push_opts o = { .name = name, .threads = 3 };
	FILE *tmp = tmpfile();
	enum bk_code rc;

	assert_non_null(tmp);
	assert_int_equal(fwrite(s->data, 1, s->len, tmp), s->len);
	assert_int_equal(fflush(tmp), 0);
	rewind(tmp);
	rc = pipe_push(&fake_ops, f, fileno(tmp), &o, res, err);
	fclose(tmp);
	return rc;
}

static enum bk_code restore(struct fake *f, const char *name,
			    struct bk_buf *out, struct bk_error *err)
{
	struct bk_restore_opts o = { .threads = 2 };
	struct bk_restore_result res;

	bk_buf_reset(out);
	return pipe_restore(&fake_ops, f, name, bk_drr_sink_buf, out, &o,
			    &res, err);
}

/* Enough 4K writes for several chunks and (over 4 MiB of recipe) segments:
 * each WRITE costs 321 recipe bytes. */
static void big_stream(struct bk_buf *s)
{
	bk_buf_init(s, BIG);
	assert_int_equal(tstream_writes(s, false, 14000, 4096), 0);
}

static void test_roundtrip(void **state)
{
	struct fake *f = *state;
	struct bk_buf s, out;
	struct bk_push_result res;
	struct bk_error err;

	big_stream(&s);
	bk_buf_init(&out, BIG);
	assert_int_equal(push(f, &s, NULL, &res, &err), BK_OK);
	assert_string_equal(res.name, "pool/fs@big");
	assert_int_equal(res.stream_bytes, s.len);
	assert_true(res.chunks > 4);
	assert_int_equal(res.new_chunks, res.chunks);
	assert_int_equal(f->saved, res.chunks);
	assert_true(f->nsegs >= 2); /* the recipe was cut */
	assert_int_equal(f->nmans, 1);
	assert_int_equal(f->mans[0].nsegments, f->nsegs);
	assert_int_equal(f->mans[0].toguid, 0x77);
	assert_int_equal(f->mans[0].chunks, res.chunks);
	assert_int_equal(f->committed, 1);
	assert_int_equal(f->opened, f->closed);

	assert_int_equal(restore(f, "pool/fs@big", &out, &err), BK_OK);
	assert_int_equal(out.len, s.len);
	assert_memory_equal(out.data, s.data, s.len);
	assert_int_equal(f->recipes_read, f->nsegs);
	assert_int_equal(f->blobs_loaded, res.chunks);
	/* neighbours in a pack came in one ranged read */
	assert_true(f->loads < f->blobs_loaded);
	assert_int_equal(f->opened, f->closed);
	bk_buf_release(&s);
	bk_buf_release(&out);
}

/* Every record type, a compound package, byteswapped: the bytes back. */
static void test_roundtrip_kinds(void **state)
{
	struct fake *f = *state;
	struct bk_buf s, out;
	struct bk_push_result res;
	struct bk_error err;
	const char *names[] = { "a/x@1", "a/x@2", "a/x@3" };

	bk_buf_init(&out, BIG);
	for (int k = 0; k < 3; k++) {
		bk_buf_init(&s, BIG);
		assert_int_equal(k == 0   ? tstream_small(&s, false, false)
				 : k == 1 ? tstream_compound(&s, true)
					  : tstream_small(&s, true, true),
				 0);
		assert_int_equal(push(f, &s, names[k], &res, &err), BK_OK);
		assert_int_equal(restore(f, names[k], &out, &err), BK_OK);
		assert_int_equal(out.len, s.len);
		assert_memory_equal(out.data, s.data, s.len);
		bk_buf_release(&s);
	}
	assert_true(find_man(f, "a/x@2")->compound);
	bk_buf_release(&out);
}

/* The same stream again: every chunk reused, no recipe stored, fine. */
static void test_push_again(void **state)
{
	struct fake *f = *state;
	struct bk_buf s;
	struct bk_push_result res;
	struct bk_error err;
	size_t segs;

	big_stream(&s);
	assert_int_equal(push(f, &s, NULL, &res, &err), BK_OK);
	segs = f->nsegs;
	assert_int_equal(push(f, &s, NULL, &res, &err), BK_OK);
	assert_true(res.already);
	assert_int_equal(res.new_chunks, 0);
	assert_int_equal(res.reused_bytes, res.chunk_bytes);
	assert_int_equal(f->reused, res.chunks);
	assert_int_equal(f->nsegs, segs);
	assert_int_equal(f->committed, 2);
	/* the same name for another snapshot (another guid) */
	bk_buf_reset(&s);
	assert_int_equal(tstream_small(&s, false, false), 0);
	assert_int_equal(push(f, &s, "pool/fs@big", &res, &err),
			 BK_ERR_EXISTS);
	assert_non_null(strstr(err.msg, "another guid"));
	/* the same snapshot, another stream */
	bk_buf_reset(&s);
	assert_int_equal(tstream_writes(&s, false, 3, 4096), 0);
	assert_int_equal(push(f, &s, NULL, &res, &err), BK_ERR_EXISTS);
	assert_non_null(strstr(err.msg, "another stream"));
	assert_int_equal(f->committed, 2);
	assert_int_equal(f->opened, f->closed);
	bk_buf_release(&s);
}

/* The repository fails to save: the push fails, writes no manifest. */
static void test_save_fails(void **state)
{
	struct fake *f = *state;
	struct bk_buf s;
	struct bk_push_result res;
	struct bk_error err;

	big_stream(&s);
	f->fail_save_after = 3;
	assert_int_equal(push(f, &s, NULL, &res, &err), BK_ERR_STORAGE);
	assert_string_equal(err.msg, "fake: store gone");
	assert_int_equal(f->nmans, 0);
	assert_int_equal(f->nsegs, 0);
	assert_int_equal(f->committed, 0);
	assert_int_equal(f->opened, 1);
	assert_int_equal(f->closed, 1);
	bk_buf_release(&s);
}

/* A stream that does not verify is not stored. */
static void test_bad_stream(void **state)
{
	struct fake *f = *state;
	struct bk_buf s;
	struct bk_push_result res;
	struct bk_error err;

	bk_buf_init(&s, BIG);
	assert_int_equal(tstream_small(&s, false, false), 0);
	s.data[s.len - 10] ^= 1; /* the END's checksum */
	assert_int_not_equal(push(f, &s, NULL, &res, &err), BK_OK);
	assert_int_equal(f->nmans, 0);
	assert_int_equal(f->committed, 0);
	bk_buf_release(&s);
}

/* What the repository cannot give back ends the restore with its error. */
static void test_restore_faults(void **state)
{
	struct fake *f = *state;
	struct bk_buf s, out;
	struct bk_push_result res;
	struct bk_error err;

	big_stream(&s);
	bk_buf_init(&out, BIG);
	assert_int_equal(push(f, &s, NULL, &res, &err), BK_OK);

	assert_int_equal(restore(f, "pool/fs@none", &out, &err),
			 BK_ERR_NOTFOUND);

	f->lose_chunks = true;
	assert_int_equal(restore(f, "pool/fs@big", &out, &err),
			 BK_ERR_MISSING);
	assert_non_null(strstr(err.msg, "is in no index"));
	f->lose_chunks = false;

	f->packs[1].data[7] ^= 1; /* a chunk altered */
	assert_int_equal(restore(f, "pool/fs@big", &out, &err), BK_ERR_AUTH);
	f->packs[1].data[7] ^= 1;

	f->segs[0].plain.data[0] = 'X';
	assert_int_equal(restore(f, "pool/fs@big", &out, &err),
			 BK_ERR_FORMAT);
	assert_string_equal(err.msg, "recipe: damaged recipe entry at byte 0");
	f->segs[0].plain.data[0] = RECIPE_REC;

	f->segs[0].plain.len -= 1; /* cut: damaged too */
	assert_int_equal(restore(f, "pool/fs@big", &out, &err),
			 BK_ERR_FORMAT);
	assert_int_equal(f->opened, f->closed);
	bk_buf_release(&s);
	bk_buf_release(&out);
}

/* A recipe that decodes but lies: caught by the restore's own checks. */
static void test_restore_recipe_lies(void **state)
{
	struct fake *f = *state;
	struct bk_buf s, out;
	struct bk_push_result res;
	struct bk_error err;
	struct manifest *m;

	bk_buf_init(&s, BIG);
	bk_buf_init(&out, BIG);
	assert_int_equal(tstream_writes(&s, false, 40, 4096), 0);
	assert_int_equal(push(f, &s, NULL, &res, &err), BK_OK);
	m = find_man(f, "pool/fs@big");
	m->digest.b[0] ^= 1;
	assert_int_equal(restore(f, "pool/fs@big", &out, &err),
			 BK_ERR_CHECKSUM);
	assert_non_null(strstr(err.msg, "digest"));
	m->digest.b[0] ^= 1;
	m->records++;
	assert_int_equal(restore(f, "pool/fs@big", &out, &err),
			 BK_ERR_CHECKSUM);
	m->records--;
	assert_int_equal(restore(f, "pool/fs@big", &out, &err), BK_OK);
	assert_memory_equal(out.data, s.data, s.len);
	bk_buf_release(&s);
	bk_buf_release(&out);
}

/* What a progress callback saw. */
struct calls {
	size_t n;
	uint64_t first_done, first_second, last_done, last_second;
	bool monotone, same_second;
};

static void record(void *ctx, uint64_t done, uint64_t second)
{
	struct calls *c = ctx;

	if (!c->n) {
		c->first_done = done;
		c->first_second = second;
		c->monotone = c->same_second = true;
	} else {
		c->monotone &= done >= c->last_done;
		c->same_second &= second == c->last_second;
	}
	c->n++;
	c->last_done = done;
	c->last_second = second;
}

/* Progress: push's last call has the whole stream; restore gives its total
 * (the manifest's length) before the first byte and ends at it, so a
 * caller's percentage runs from 0 to 100. */
static void test_progress(void **state)
{
	struct fake *f = *state;
	struct bk_buf s, out;
	struct bk_push_result res;
	struct bk_restore_result rres;
	struct bk_error err;
	struct calls pc = { 0 }, rc = { 0 };
	struct bk_push_opts po = { .threads = 2, .progress = record,
				   .progress_ctx = &pc };
	struct bk_restore_opts ro = { .threads = 2, .progress = record,
				      .progress_ctx = &rc };
	FILE *tmp = tmpfile();

	big_stream(&s);
	bk_buf_init(&out, BIG);
	assert_non_null(tmp);
	assert_int_equal(fwrite(s.data, 1, s.len, tmp), s.len);
	assert_int_equal(fflush(tmp), 0);
	rewind(tmp);
	assert_int_equal(pipe_push(&fake_ops, f, fileno(tmp), &po, &res, &err),
			 BK_OK);
	fclose(tmp);
	assert_true(pc.n >= 1);
	assert_true(pc.monotone);
	assert_int_equal(pc.last_done, s.len);

	assert_int_equal(pipe_restore(&fake_ops, f, "pool/fs@big",
				      bk_drr_sink_buf, &out, &ro, &rres, &err),
			 BK_OK);
	assert_true(rc.n >= 2);
	assert_int_equal(rc.first_done, 0);
	assert_int_equal(rc.first_second, s.len);
	assert_true(rc.same_second); /* the total never changes */
	assert_true(rc.monotone);
	assert_int_equal(rc.last_done, s.len);
	bk_buf_release(&s);
	bk_buf_release(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_roundtrip, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_roundtrip_kinds, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_push_again, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_save_fails, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_bad_stream, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_restore_faults, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_restore_recipe_lies, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_progress, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
