/* SPDX-License-Identifier: MIT */
/*
 * The real repository behind the pipeline's interface (repo_pipe.h): each
 * operation is the repository's own functions in the order push and restore
 * always called them.  What a push or a restore holds (the lock, the index,
 * the packer) lives in its session.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lz4.h>

#include "repo/repo_impl.h"

/* ---- push ---- */

struct push_sess {
	struct bk_repo *r;
	struct repo_lock *lock;
	struct bk_index *idx;  /* the repository's, not ours to free */
	struct packcheck *pc;  /* the packs of the chunks it reuses are there */
	struct packer *pk;
	char marker[64];
	struct bk_buf packed; /* a recipe segment, compressed */
};

static void push_close(void *sess, bool committed)
{
	struct push_sess *s = sess;

	if (!s)
		return;
	if (committed) /* nothing of it is left unindexed */
		repo_cache_unmark(s->r, s->marker);
	else
		repo_cache_failed(s->r, s->marker);
	packer_free(s->pk);
	packcheck_free(s->pc);
	bk_buf_release(&s->packed);
	repo_lock_release(s->lock);
	free(s);
}

static enum bk_code push_open(void *repo, void **sess, struct bk_error *err)
{
	struct bk_repo *r = repo;
	struct push_sess *s = calloc(1, sizeof(*s));
	enum bk_code rc;

	*sess = NULL;
	if (!s)
		return bk_error_set(err, BK_ERR_NOMEM, "out of memory");
	s->r = r;
	bk_buf_init(&s->packed, 8 + (size_t)LZ4_compressBound(
					    (int)(RECIPE_SEGMENT +
						  BK_DRR_MAX_BEGIN_PAYLOAD +
						  1024)));
	/* a shared lock: gc (exclusive) must not remove what this push finds
	 * in the index and refers to */
	rc = repo_lock_take(r, false, &s->lock, err);
	/* not into a repository whose key file was rolled back */
	if (!rc)
		rc = repo_trust_keys(r, err);
	if (!rc)
		rc = repo_index(r, &s->idx, err);
	/* while this push runs, its marker tells later pushes on this
	 * machine that unindexed packs may be its, not a dead push's */
	if (!rc)
		repo_cache_mark(r, s->marker, sizeof(s->marker));
	if (!rc)
		rc = packer_new(r, &s->pk, err);
	if (!rc)
		rc = packcheck_new(r, &s->pc, err);
	if (rc) {
		push_close(s, false);
		return rc;
	}
	*sess = s;
	return BK_OK;
}

static void chunker_init(void *sess, struct bk_chunker *ck)
{
	struct push_sess *s = sess;

	bk_chunker_init(ck, s->r->keys);
}

static enum bk_code save_chunk(void *sess, const uint8_t *data, size_t len,
			       struct bk_buf *scratch, struct bk_id *id,
			       bool *reused, struct bk_error *err)
{
	struct push_sess *s = sess;
	enum bk_code rc;

	bk_chunk_id(s->r->keys, data, len, id);
	/* a chunk the index knows is reused only when its pack is there:
	 * never a snapshot that points at missing data */
	rc = index_claim_present(s->idx, id, s->pc, err);
	*reused = rc == BK_ERR_EXISTS;
	if (rc)
		return *reused ? BK_OK : rc;
	rc = chunk_encode(data, len, scratch, err);
	if (!rc)
		rc = packer_add(s->pk, id, scratch->data, scratch->len,
				(uint32_t)len, err);
	return rc;
}

static bool save_failed(void *sess, struct bk_error *err)
{
	return packer_failed(((struct push_sess *)sess)->pk, err);
}

static uint64_t saved_bytes(void *sess)
{
	return packer_uploaded(((struct push_sess *)sess)->pk);
}

static enum bk_code save_finish(void *sess, uint64_t *stored,
				struct bk_error *err)
{
	struct push_sess *s = sess;
	enum bk_code rc = packer_finish(s->pk, err);

	/* packs went out unsynced: make them durable before anything that
	 * refers to them */
	if (!rc)
		rc = bk_store_sync(s->r->store, err);
	if (!rc)
		rc = index_write(s->r, s->idx, stored, err);
	return rc;
}

static enum bk_code put_recipe(void *sess, const uint8_t *plain, size_t len,
			       struct bk_id *id, uint64_t *stored,
			       struct bk_error *err)
{
	struct push_sess *s = sess;

	return recipe_store_segment(s->r, plain, len, &s->packed, id, stored,
				    err);
}

static enum bk_code put_manifest(void *sess, const struct manifest *m,
				 uint64_t *stored, struct bk_error *err)
{
	struct push_sess *s = sess;
	struct bk_id ident;
	struct bk_buf mb;
	char key[BK_REPO_KEY_MAX];
	enum bk_code rc;

	bk_buf_init(&mb, MAX_MANIFEST);
	rc = repo_manifest_key(m->name, key, sizeof(key), err);
	if (!rc)
		rc = manifest_encode(m, &mb, err);
	if (!rc)
		rc = repo_put_sealed_id(s->r, BK_OBJ_MANIFEST, key, mb.data,
					mb.len, true, stored, &ident, err);
	if (!rc) /* this machine remembers what it wrote (trust.c) */
		repo_trust_pushed(s->r, key, &ident);
	bk_buf_release(&mb);
	return rc;
}

static enum bk_code get_manifest(void *sess, const char *name,
				 struct manifest *m, struct bk_error *err)
{
	struct push_sess *s = sess;
	char key[BK_REPO_KEY_MAX];
	enum bk_code rc = repo_manifest_key(name, key, sizeof(key), err);
	bool gone = false;

	if (!rc)
		rc = manifest_load(s->r, key, m, err);
	if (!rc)
		rc = repo_manifest_forgotten(s->r, &m->ident, &gone, err);
	/* a forgotten manifest still there is no snapshot, and its name
	 * cannot be written again while it stays */
	if (!rc && gone)
		rc = bk_error_set(
			err, BK_ERR_EXISTS,
			"%s was forgotten, but its old manifest is still there "
			"(%s), so the name cannot be stored again yet",
			name,
			bk_store_lock_days(s->r->store)
				? "kept by Object Lock retention: gc deletes "
				  "it when that ends; or push under another name"
				: "a forget that did not finish: 'zbak forget' "
				  "of that snapshot removes it");
	return rc;
}

/* ---- restore ---- */

struct restore_sess {
	struct bk_repo *r;
	struct repo_lock *lock;
	struct bk_index *idx; /* the repository's */
};

static void restore_close(void *sess)
{
	struct restore_sess *s = sess;

	if (!s)
		return;
	repo_lock_release(s->lock);
	free(s);
}

static enum bk_code restore_open(void *repo, const char *name, void **sess,
				 struct manifest *m, struct bk_error *err)
{
	struct bk_repo *r = repo;
	struct restore_sess *s = calloc(1, sizeof(*s));
	char key[BK_REPO_KEY_MAX];
	enum bk_code rc;

	*sess = NULL;
	if (!s)
		return bk_error_set(err, BK_ERR_NOMEM, "out of memory");
	s->r = r;
	/* shared: gc must not take packs away while they are read (a store
	 * we may only read cannot hold a lock: restore from it all the same) */
	rc = repo_lock_take(r, false, &s->lock, err);
	if (rc && rc != BK_ERR_BUSY)
		rc = BK_OK;
	if (!rc)
		rc = repo_manifest_key(name, key, sizeof(key), err);
	if (!rc)
		rc = manifest_load(r, key, m, err);
	if (rc == BK_ERR_NOTFOUND)
		rc = bk_error_set(err, BK_ERR_NOTFOUND,
				  "no snapshot %s in the repository", name);
	if (!rc && strcmp(m->name, name) != 0)
		rc = bk_error_set(err, BK_ERR_AUTH, "manifest %s names %s",
				  key, m->name);
	/* not one forgotten and put back, nor one put in the place of the
	 * manifest this machine saw there (trust.c) */
	if (!rc)
		rc = repo_trust_manifest(r, key, &m->ident, err);
	if (!rc)
		rc = repo_index(r, &s->idx, err);
	if (rc) {
		restore_close(s);
		return rc;
	}
	*sess = s;
	return BK_OK;
}

static unsigned concurrency(void *sess)
{
	return bk_store_concurrency(((struct restore_sess *)sess)->r->store);
}

static enum bk_code get_recipe(void *sess, const struct bk_id *id,
			       struct bk_buf *out, struct bk_error *err)
{
	return recipe_load_segment(((struct restore_sess *)sess)->r, id, out,
				   NULL, err);
}

static bool locate(void *sess, const struct bk_id *id, struct bk_loc *loc)
{
	return index_get(((struct restore_sess *)sess)->idx, id, loc);
}

static void load_chunks(void *sess, const struct bk_id *pack,
			struct repo_blob *b, size_t n, struct bk_buf *sealed,
			struct bk_buf *plain)
{
	struct restore_sess *s = sess;
	uint64_t lo = UINT64_MAX, hi = 0;
	struct bk_error err;
	char key[80];
	enum bk_code rc;

	for (size_t i = 0; i < n; i++) {
		if (b[i].off < lo)
			lo = b[i].off;
		if (b[i].off + b[i].len > hi)
			hi = b[i].off + b[i].len;
	}
	repo_pack_key(pack, key);
	bk_buf_reset(sealed);
	rc = n ? bk_store_get_range(s->r->store, key, lo, hi - lo, sealed,
				    &err)
	       : BK_OK;
	if (rc == BK_ERR_NOTFOUND)
		rc = bk_error_set(&err, BK_ERR_MISSING, "pack %s is missing",
				  key);
	for (size_t i = 0; i < n; i++) {
		b[i].rc = rc;
		if (rc) {
			*b[i].err = err;
			continue;
		}
		b[i].rc = chunk_open_blob(s->r->keys, &b[i].id, key, b[i].off,
					  sealed->data + (b[i].off - lo),
					  b[i].len, plain, b[i].out, b[i].err);
	}
}

const struct repo_pipe_ops repo_pipe_real = {
	.push_open = push_open,
	.push_close = push_close,
	.chunker_init = chunker_init,
	.save_chunk = save_chunk,
	.save_failed = save_failed,
	.saved_bytes = saved_bytes,
	.save_finish = save_finish,
	.put_recipe = put_recipe,
	.put_manifest = put_manifest,
	.get_manifest = get_manifest,
	.restore_open = restore_open,
	.restore_close = restore_close,
	.concurrency = concurrency,
	.get_recipe = get_recipe,
	.locate = locate,
	.load_chunks = load_chunks,
};
