/* SPDX-License-Identifier: MIT */
/*
 * A set of 32-byte ids (hashes), open addressing: what garbage collectors
 * mark as live.  Internal to libbackup.
 */
#ifndef BK_UTIL_IDSET_H
#define BK_UTIL_IDSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backup/error.h"

#define BK_IDSET_KEY 32u

struct bk_idset {
	uint8_t (*keys)[BK_IDSET_KEY];
	uint8_t *used;
	size_t cap, n;
};

/* Zero-initialized is empty.  BK_ERR_NOMEM when it cannot grow. */
enum bk_code bk_idset_add(struct bk_idset *s, const void *key,
			  struct bk_error *err);
bool bk_idset_has(const struct bk_idset *s, const void *key);
void bk_idset_free(struct bk_idset *s);

#endif
