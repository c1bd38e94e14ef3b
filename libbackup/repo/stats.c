/* SPDX-License-Identifier: MIT */
/* Repository totals (zbak stats): what the snapshots hold, what is stored. */
#include <string.h>

#include "repo/repo_impl.h"

static enum bk_code add_object(void *ctx, const char *key, uint64_t size,
			       struct bk_error *err)
{
	uint64_t *v = ctx;

	(void)key;
	(void)err;
	v[0]++;
	v[1] += size;
	return BK_OK;
}

enum bk_code bk_repo_stats(struct bk_repo *r, struct bk_repo_stats *st,
			   struct bk_error *err)
{
	uint64_t packs[2] = { 0, 0 }, other[2] = { 0, 0 };
	static const char *const prefixes[] = { "index/", "recipes/",
						"snapshots/" };
	struct bk_index *idx = NULL;
	enum bk_code rc;

	memset(st, 0, sizeof(*st));
	rc = bk_store_list(r->store, "data/", add_object, packs, err);
	for (size_t i = 0; !rc && i < sizeof(prefixes) / sizeof(prefixes[0]);
	     i++)
		rc = bk_store_list(r->store, prefixes[i], add_object, other,
				   err);
	if (!rc)
		rc = repo_index(r, &idx, err);
	if (rc)
		return rc;
	st->packs = packs[0];
	st->pack_bytes = packs[1];
	st->other_objects = other[0];
	st->other_bytes = other[1];
	st->chunks = index_count(idx);
	return BK_OK;
}
