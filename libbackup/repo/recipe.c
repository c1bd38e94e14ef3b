/* SPDX-License-Identifier: MIT */
/* Recipe segments: entries, LZ4-compressed, sealed, at most 4 MiB raw each. */
#include <inttypes.h>
#include <lz4.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "repo/repo_impl.h"

enum bk_code recipe_writer_init(struct recipe_writer *w, struct bk_repo *r,
				struct bk_error *err)
{
	memset(w, 0, sizeof(*w));
	w->r = r;
	/* one entry may be a record with a BEGIN payload (64 MiB) */
	bk_buf_init(&w->seg, RECIPE_SEGMENT + BK_DRR_MAX_BEGIN_PAYLOAD + 1024);
	bk_buf_init(&w->packed, 8 + (size_t)LZ4_compressBound(
					     (int)(RECIPE_SEGMENT +
						   BK_DRR_MAX_BEGIN_PAYLOAD +
						   1024)));
	bk_hash_init(&w->digest);
	(void)err;
	return BK_OK;
}

static enum bk_code flush(struct recipe_writer *w, struct bk_error *err)
{
	struct bk_id id;
	char hex[2 * BK_ID_LEN + 1], key[96];
	int bound, n;
	enum bk_code rc;

	if (w->seg.len == 0)
		return BK_OK;
	if (w->dry) {
		bk_buf_reset(&w->seg);
		return BK_OK;
	}
	bound = LZ4_compressBound((int)w->seg.len);
	bk_buf_reset(&w->packed);
	rc = bk_buf_reserve(&w->packed, 4 + (size_t)bound, err);
	if (rc)
		return rc;
	put_le32(w->packed.data, (uint32_t)w->seg.len);
	n = LZ4_compress_default((const char *)w->seg.data,
				 (char *)w->packed.data + 4, (int)w->seg.len,
				 bound);
	if (n <= 0)
		return bk_error_set(err, BK_ERR_INTERNAL,
				    "lz4 compression failed");
	w->packed.len = 4 + (size_t)n;
	if (w->nids == w->capids) {
		size_t nc = w->capids ? w->capids * 2 : 8;
		struct bk_id *ni = realloc(w->ids, nc * sizeof(*ni));

		if (!ni)
			return bk_error_set(err, BK_ERR_NOMEM, "out of memory");
		w->ids = ni;
		w->capids = nc;
	}
	bk_random(id.b, sizeof(id.b));
	bk_id_hex(&id, hex);
	snprintf(key, sizeof(key), "recipes/%s", hex);
	rc = repo_put_sealed(w->r, BK_OBJ_RECIPE, key, w->packed.data,
			     w->packed.len, true, &w->stored, err);
	if (rc)
		return rc;
	w->ids[w->nids++] = id;
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
	bk_buf_release(&w->packed);
	free(w->ids);
	w->ids = NULL;
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

enum bk_code recipe_scan(const uint8_t *p, size_t len, const char *what,
			 recipe_chunk_fn fn, void *ctx, struct bk_error *err)
{
	size_t pos = 0;

	while (pos < len) {
		const uint8_t *e = p + pos;
		size_t left = len - pos;

		if (e[0] == RECIPE_CHUNK && left >= RECIPE_CHUNK_LEN) {
			enum bk_code rc = fn(ctx, e, err);

			if (rc)
				return rc;
			pos += RECIPE_CHUNK_LEN;
		} else if (e[0] == RECIPE_REC &&
			   left >= RECIPE_REC_HDR + BK_DRR_HDR_LEN &&
			   get_le32(e + 1) <=
				   left - RECIPE_REC_HDR - BK_DRR_HDR_LEN) {
			pos += RECIPE_REC_HDR + BK_DRR_HDR_LEN + get_le32(e + 1);
		} else {
			return bk_error_set(err, BK_ERR_FORMAT,
					    "%s: damaged recipe entry at byte "
					    "%zu",
					    what, pos);
		}
	}
	return BK_OK;
}
