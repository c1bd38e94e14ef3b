/* SPDX-License-Identifier: MIT */
/*
 * Record-aware chunking (docs/repository.md): WRITE and SPILL payloads are
 * grouped into chunks, cut only between payloads, by a keyed rule that
 * depends on each payload alone.  Pure: no I/O, no allocation.
 */
#ifndef BACKUP_CHUNK_H
#define BACKUP_CHUNK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backup/crypto.h"
#include "backup/export.h"

#define BK_CHUNK_MIN (16u << 10)
#define BK_CHUNK_AVG (128u << 10)
#define BK_CHUNK_MAX (4u << 20)

struct bk_chunker {
	const struct bk_keys *keys; /* borrowed */
	size_t cur;                 /* bytes in the current chunk */
};

BK_EXPORT void bk_chunker_init(struct bk_chunker *c, const struct bk_keys *k);
/* Must the current chunk end before a payload of len bytes joins it? */
BK_EXPORT bool bk_chunker_cut_before(const struct bk_chunker *c, size_t len);
/*
 * Account for a payload just appended to the current chunk and say whether
 * the chunk ends after it.  When it does (or after bk_chunker_cut_before
 * said so), call bk_chunker_reset.
 */
BK_EXPORT bool bk_chunker_add(struct bk_chunker *c, const uint8_t *payload,
			      size_t len);
BK_EXPORT void bk_chunker_reset(struct bk_chunker *c);

#endif
