/* SPDX-License-Identifier: MIT */
#include <stdlib.h>
#include <string.h>

#include "util/idset.h"

/* The keys are hashes: their first bytes are as good as any hash of them. */
static size_t slot_of(const void *key, size_t cap)
{
	uint64_t v;

	memcpy(&v, key, sizeof(v));
	return (size_t)v & (cap - 1);
}

static void insert(struct bk_idset *s, const void *key)
{
	size_t j = slot_of(key, s->cap);

	while (s->used[j])
		j = (j + 1) & (s->cap - 1);
	memcpy(s->keys[j], key, BK_IDSET_KEY);
	s->used[j] = 1;
	s->n++;
}

enum bk_code bk_idset_add(struct bk_idset *s, const void *key,
			  struct bk_error *err)
{
	if (bk_idset_has(s, key))
		return BK_OK;
	if (2 * (s->n + 1) > s->cap) {
		struct bk_idset ns = { 0 };

		ns.cap = s->cap ? 2 * s->cap : 1024;
		ns.keys = malloc(ns.cap * BK_IDSET_KEY);
		ns.used = calloc(ns.cap, 1);
		if (!ns.keys || !ns.used) {
			free(ns.keys);
			free(ns.used);
			return bk_error_set(err, BK_ERR_NOMEM, "out of memory");
		}
		for (size_t i = 0; i < s->cap; i++)
			if (s->used[i])
				insert(&ns, s->keys[i]);
		bk_idset_free(s);
		*s = ns;
	}
	insert(s, key);
	return BK_OK;
}

bool bk_idset_has(const struct bk_idset *s, const void *key)
{
	size_t j;

	if (!s->cap)
		return false;
	for (j = slot_of(key, s->cap); s->used[j]; j = (j + 1) & (s->cap - 1))
		if (memcmp(s->keys[j], key, BK_IDSET_KEY) == 0)
			return true;
	return false;
}

void bk_idset_free(struct bk_idset *s)
{
	free(s->keys);
	free(s->used);
	memset(s, 0, sizeof(*s));
}
