/* SPDX-License-Identifier: MIT */
/*
 * Recipes: their entries (one writer, one iterator: the layout is in
 * repo_pipe.h), and their segments, LZ4-compressed, sealed, at most 4 MiB
 * raw each.
 */
#include <inttypes.h>
#include <lz4.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "repo/repo_impl.h"

/* ---- the entries: the only writer ---- */

enum bk_code recipe_put_chunk(struct bk_buf *b, const struct bk_id *id,
			      uint32_t rawlen, struct bk_error *err)
{
	uint8_t entry[RECIPE_CHUNK_LEN];

	entry[0] = RECIPE_CHUNK;
	memcpy(entry + 1, id->b, BK_ID_LEN);
	put_le32(entry + 1 + BK_ID_LEN, rawlen);
	return bk_buf_append(b, entry, sizeof(entry), err);
}

enum bk_code recipe_put_record(struct bk_buf *b, const struct bk_drr_rec *rec,
			       bool chunked, struct bk_error *err)
{
	uint8_t head[RECIPE_REC_HDR];
	enum bk_code rc;

	head[0] = RECIPE_REC;
	put_le32(head + 1, chunked ? 0 : (uint32_t)rec->payload_len);
	put_le32(head + 5, chunked ? (uint32_t)rec->payload_len : 0);
	rc = bk_buf_append(b, head, sizeof(head), err);
	if (!rc)
		rc = bk_buf_append(b, rec->raw,
				   BK_DRR_HDR_LEN +
					   (chunked ? 0 : rec->payload_len),
				   err);
	return rc;
}

/* ---- the entries: the only reader ---- */

void recipe_iter_init(struct recipe_iter *it, const uint8_t *p, size_t len)
{
	it->p = p;
	it->len = len;
	it->pos = 0;
	it->damaged = false;
}

bool recipe_next(struct recipe_iter *it, struct recipe_entry *e)
{
	const uint8_t *p = it->p + it->pos;
	size_t left = it->len - it->pos;

	if (it->damaged || left == 0)
		return false;
	if (p[0] == RECIPE_CHUNK && left >= RECIPE_CHUNK_LEN) {
		e->kind = RECIPE_CHUNK;
		memcpy(e->id.b, p + 1, BK_ID_LEN);
		e->rawlen = get_le32(p + 1 + BK_ID_LEN);
		it->pos += RECIPE_CHUNK_LEN;
		return true;
	}
	if (p[0] == RECIPE_REC && left >= RECIPE_REC_HDR + BK_DRR_HDR_LEN &&
	    get_le32(p + 1) <= left - RECIPE_REC_HDR - BK_DRR_HDR_LEN) {
		e->kind = RECIPE_REC;
		e->inline_len = get_le32(p + 1);
		e->chunked_len = get_le32(p + 5);
		e->hdr = p + RECIPE_REC_HDR;
		e->payload = e->hdr + BK_DRR_HDR_LEN;
		it->pos += RECIPE_REC_HDR + BK_DRR_HDR_LEN + e->inline_len;
		return true;
	}
	it->damaged = true;
	return false;
}

enum bk_code recipe_scan(const uint8_t *p, size_t len, const char *what,
			 recipe_chunk_fn fn, void *ctx, struct bk_error *err)
{
	struct recipe_iter it;
	struct recipe_entry e;

	recipe_iter_init(&it, p, len);
	while (recipe_next(&it, &e)) {
		enum bk_code rc = e.kind == RECIPE_CHUNK ? fn(ctx, &e, err)
							 : BK_OK;

		if (rc)
			return rc;
	}
	if (it.damaged)
		return bk_error_set(err, BK_ERR_FORMAT,
				    "%s: damaged recipe entry at byte %zu",
				    what, it.pos);
	return BK_OK;
}

/* ---- segments ---- */

void recipe_writer_init(struct recipe_writer *w,
			const struct repo_pipe_ops *ops, void *sess)
{
	memset(w, 0, sizeof(*w));
	w->ops = ops;
	w->sess = sess;
	/* one entry may be a record with a BEGIN payload (64 MiB) */
	bk_buf_init(&w->seg, RECIPE_SEGMENT + BK_DRR_MAX_BEGIN_PAYLOAD + 1024);
	bk_hash_init(&w->digest);
}

static enum bk_code flush(struct recipe_writer *w, struct bk_error *err)
{
	enum bk_code rc;

	if (w->seg.len == 0)
		return BK_OK;
	if (w->dry) {
		bk_buf_reset(&w->seg);
		return BK_OK;
	}
	if (w->nids == w->capids) {
		size_t nc = w->capids ? w->capids * 2 : 8;
		struct bk_id *ni = realloc(w->ids, nc * sizeof(*ni));

		if (!ni)
			return bk_error_set(err, BK_ERR_NOMEM, "out of memory");
		w->ids = ni;
		w->capids = nc;
	}
	rc = w->ops->put_recipe(w->sess, w->seg.data, w->seg.len,
				&w->ids[w->nids], &w->stored, err);
	if (rc)
		return rc;
	w->nids++;
	bk_buf_reset(&w->seg);
	return BK_OK;
}

enum bk_code recipe_append(struct recipe_writer *w, const void *p, size_t len,
			   struct bk_error *err)
{
	enum bk_code rc = BK_OK;

	if (w->seg.len && w->seg.len + len > RECIPE_SEGMENT)
		rc = flush(w, err);
	if (!rc)
		rc = bk_buf_append(&w->seg, p, len, err);
	if (!rc)
		bk_hash_update(&w->digest, p, len);
	return rc;
}

enum bk_code recipe_finish(struct recipe_writer *w, struct bk_id *digest,
			   struct bk_error *err)
{
	enum bk_code rc = flush(w, err);

	if (!rc)
		bk_hash_final(&w->digest, digest);
	return rc;
}

void recipe_writer_release(struct recipe_writer *w)
{
	bk_buf_release(&w->seg);
	free(w->ids);
	w->ids = NULL;
}

enum bk_code recipe_store_segment(struct bk_repo *r, const uint8_t *plain,
				  size_t len, struct bk_buf *packed,
				  struct bk_id *id, uint64_t *stored,
				  struct bk_error *err)
{
	char hex[2 * BK_ID_LEN + 1], key[96];
	int bound, n;
	enum bk_code rc;

	bound = LZ4_compressBound((int)len);
	bk_buf_reset(packed);
	rc = bk_buf_reserve(packed, 4 + (size_t)bound, err);
	if (rc)
		return rc;
	put_le32(packed->data, (uint32_t)len);
	n = LZ4_compress_default((const char *)plain, (char *)packed->data + 4,
				 (int)len, bound);
	if (n <= 0)
		return bk_error_set(err, BK_ERR_INTERNAL,
				    "lz4 compression failed");
	packed->len = 4 + (size_t)n;
	bk_random(id->b, sizeof(id->b));
	bk_id_hex(id, hex);
	snprintf(key, sizeof(key), "recipes/%s", hex);
	return repo_put_sealed(r, BK_OBJ_RECIPE, key, packed->data, packed->len,
			       true, stored, err);
}

enum bk_code recipe_load_segment(struct bk_repo *r, const struct bk_id *seg,
				 struct bk_buf *out, struct bk_hash *digest,
				 struct bk_error *err)
{
	char hex[2 * BK_ID_LEN + 1], key[96];
	struct bk_buf packed;
	uint32_t raw;
	int n;
	enum bk_code rc;

	bk_id_hex(seg, hex);
	snprintf(key, sizeof(key), "recipes/%s", hex);
	bk_buf_init(&packed, MAX_SEGMENT_SEALED + BK_DRR_MAX_BEGIN_PAYLOAD * 2);
	rc = repo_get_opened(r, BK_OBJ_RECIPE, key, packed.max, &packed, err);
	if (rc == BK_ERR_NOTFOUND)
		rc = bk_error_set(err, BK_ERR_MISSING,
				  "recipe segment %s is missing", key);
	if (rc)
		goto out;
	if (packed.len < 4) {
		rc = bk_error_set(err, BK_ERR_FORMAT, "%s: too short", key);
		goto out;
	}
	raw = get_le32(packed.data);
	bk_buf_reset(out);
	rc = bk_buf_reserve(out, raw, err);
	if (rc)
		goto out;
	n = LZ4_decompress_safe((const char *)packed.data + 4,
				(char *)out->data, (int)(packed.len - 4),
				(int)raw);
	if (n < 0 || (uint32_t)n != raw) {
		rc = bk_error_set(err, BK_ERR_FORMAT, "%s: damaged", key);
		goto out;
	}
	out->len = raw;
	if (digest)
		bk_hash_update(digest, out->data, out->len);
out:
	bk_buf_release(&packed);
	return rc;
}

/* For the fuzz target of fuzz_repo.c: walk a segment's plaintext. */
enum bk_code repo_fuzz_recipe(const uint8_t *p, size_t len);
enum bk_code repo_fuzz_recipe(const uint8_t *p, size_t len)
{
	struct recipe_iter it;
	struct recipe_entry e;

	recipe_iter_init(&it, p, len);
	while (recipe_next(&it, &e))
		;
	return it.damaged ? BK_ERR_FORMAT : BK_OK;
}
