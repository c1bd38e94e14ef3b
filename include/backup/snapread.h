/* SPDX-License-Identifier: MIT */
/*
 * A stored snapshot read in place, a piece at a time: its recipe walked
 * entry by entry, and chunks fetched by id, those of one pack with one
 * ranged read.  What a reader of files needs to fetch only what it reads
 * (docs/zpl.md, "Maps"), without receiving the whole stream.  Everything
 * comes through the repository's checks: the manifest is trusted as for
 * a restore, the recipe matches the manifest's digest, and every chunk
 * is opened and checked against its id.
 */
#ifndef BACKUP_SNAPREAD_H
#define BACKUP_SNAPREAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backup/buf.h"
#include "backup/crypto.h"
#include "backup/error.h"
#include "backup/export.h"
#include "backup/repo.h"

struct bk_snapread;

/* Snapshot name of r (which must stay open): its manifest loaded and
 * trusted, the index loaded, a shared lock held until close. */
BK_EXPORT enum bk_code bk_snapread_open(struct bk_repo *r, const char *name,
					struct bk_snapread **out,
					struct bk_error *err);
BK_EXPORT void bk_snapread_close(struct bk_snapread *s); /* NULL is fine */
/* The hash of the snapshot's sealed manifest: what names this version of
 * it (a snapshot forgotten and pushed again gets another). */
BK_EXPORT void bk_snapread_ident(const struct bk_snapread *s,
				 struct bk_id *id);
/* Bytes the stream had and the recipe's segments. */
BK_EXPORT uint64_t bk_snapread_stream_bytes(const struct bk_snapread *s);

/* One entry of the recipe (docs/repository.md, "Recipes"). */
struct bk_snapread_entry {
	bool chunk; /* a chunk (id, rawlen), else a record */
	struct bk_id id;
	uint32_t rawlen;
	const uint8_t *hdr; /* BK_DRR_HDR_LEN bytes */
	const uint8_t *payload;
	uint32_t inline_len, chunked_len;
};
typedef enum bk_code (*bk_snapread_fn)(void *ctx,
				       const struct bk_snapread_entry *e,
				       struct bk_error *err);
/* Every entry in order; then the digest over them must be the
 * manifest's (BK_ERR_CHECKSUM).  *recipe_bytes: plaintext walked. */
BK_EXPORT enum bk_code bk_snapread_walk(struct bk_snapread *s,
					bk_snapread_fn fn, void *ctx,
					uint64_t *recipe_bytes,
					struct bk_error *err);

/* Chunks ids[0..n) into out[0..n) (each reset first), decoded and
 * checked; those of one pack with one ranged read.  BK_ERR_MISSING for a
 * chunk the index does not know. */
BK_EXPORT enum bk_code bk_snapread_load(struct bk_snapread *s,
					const struct bk_id *ids, size_t n,
					struct bk_buf *out,
					struct bk_error *err);

/*
 * The local cache of derived data (docs/repository.md, "Cache"), for any
 * repository: file `name` (letters, digits, '-', '.') under the cache
 * directory's folder of this repository, sealed with the repository's
 * keys and bound to its name, so that a cached file that was changed or
 * moved is BK_ERR_AUTH on get, never trusted.  put is best effort (no
 * cache directory: BK_ERR_NOTFOUND).
 */
BK_EXPORT enum bk_code bk_repo_cache_put(struct bk_repo *r, const char *name,
					 const void *data, size_t len,
					 struct bk_error *err);
BK_EXPORT enum bk_code bk_repo_cache_get(struct bk_repo *r, const char *name,
					 size_t max, struct bk_buf *out,
					 struct bk_error *err);

/* Requests to the repository's store and bytes they read, so far. */
BK_EXPORT void bk_repo_store_counters(const struct bk_repo *r,
				      uint64_t *requests, uint64_t *bytes);

#endif
