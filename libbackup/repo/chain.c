/* SPDX-License-Identifier: MIT */
/*
 * Chains: the one rule for which stored snapshot a stream needs (chain.h).
 * docs/repository.md ("Chains") says the same for users.
 *
 * A manifest records the guids of the snapshot's own BEGIN: toguid, the
 * snapshot it makes, and fromguid, the one it is incremental from (0 for a
 * full stream).  A package (compound, zfs send -R) records those of its
 * substream of the snapshot it is named after, which is incremental from
 * the previous snapshot of that dataset whenever the package holds more
 * than one: that fromguid alone does not say what the package needs.  Its
 * top-level BEGIN has no guids; its nvlist names a "fromsnap" only when it
 * was sent with -i or -I, and push records that as the manifest's
 * "package full" or "package incremental" (repo_package_kind).  So:
 *
 *   1. A stream needs a parent when it has a fromguid, unless it is a
 *      package recorded as full: zfs receive takes a package as one unit,
 *      and a full one carries every snapshot its substreams build on.  A
 *      full stream and a full package start a chain.  A package whose
 *      manifest does not say (pushed by an older zbak) counts as
 *      incremental when it has a fromguid: keeping a source too many is
 *      safe, dropping one a package needs is not.
 *   2. Its parent is a stored snapshot, other than itself, whose toguid is
 *      its fromguid.  The dataset does not matter: a clone's stream is
 *      incremental from its origin, in another dataset, and a stream may
 *      be pushed under another name than its source.  Among several (the
 *      same snapshot stored twice): one of its own dataset first, then a
 *      single stream before a package, then the smallest manifest key, so
 *      the answer does not depend on the listing's order.
 *   3. Its chain is it, its parent, that one's parent, and so on back to a
 *      start: whole.  It is broken where a snapshot needing a parent has
 *      none stored, and (hostile or damaged manifests only) where the
 *      parents come back to a snapshot already in it; walks are bounded by
 *      the number of snapshots either way.
 *
 * Pure: no I/O; memory only for index arrays (and, for push, the
 * package header's nvlist).
 */
#include <stdlib.h>
#include <string.h>

#include "backup/chain.h"
#include "backup/nvlist.h"
#include "repo/repo_impl.h"

bool bk_chain_needs_parent(const struct bk_snapshot *s)
{
	return s->fromguid != 0 && !(s->compound && s->package_full);
}

uint8_t repo_package_kind(const void *header_payload, size_t len)
{
	struct bk_nvlist *nvl;
	struct bk_error e;
	uint8_t kind;

	if (bk_nvlist_unpack(header_payload, len, &nvl, &e))
		return MANIFEST_PACKAGE_UNKNOWN;
	kind = bk_nvlist_exists(nvl, "fromsnap") ? MANIFEST_PACKAGE_INCREMENTAL
						 : MANIFEST_PACKAGE_FULL;
	bk_nvlist_free(nvl);
	return kind;
}

/* Whether candidate a is a better parent of s than b (both have the right
 * toguid): rule 2's order, total so that the choice is the same in any
 * listing order. */
static bool better(const struct bk_snapshot *s, const struct bk_snapshot *a,
		   const struct bk_snapshot *b)
{
	int sa = (strcmp(a->dataset, s->dataset) == 0) * 2 + !a->compound;
	int sb = (strcmp(b->dataset, s->dataset) == 0) * 2 + !b->compound;
	int c;

	if (sa != sb)
		return sa > sb;
	if ((c = strcmp(a->key, b->key)))
		return c < 0;
	if ((c = strcmp(a->dataset, b->dataset)))
		return c < 0;
	return strcmp(a->snap, b->snap) < 0;
}

size_t bk_chain_parent(const struct bk_snapshot *v, size_t n, size_t i,
		       const bool *absent)
{
	size_t best = BK_CHAIN_NONE;

	if (i >= n || !bk_chain_needs_parent(&v[i]))
		return BK_CHAIN_NONE;
	for (size_t j = 0; j < n; j++) {
		if (j == i || v[j].toguid != v[i].fromguid ||
		    (absent && absent[j]))
			continue;
		if (best == BK_CHAIN_NONE || better(&v[i], &v[j], &v[best]))
			best = j;
	}
	return best;
}

struct by_guid_ctx {
	const struct bk_snapshot *v;
	size_t i;
};

static int by_toguid(const void *a, const void *b)
{
	const struct by_guid_ctx *x = a, *y = b;
	uint64_t gx = x->v[x->i].toguid, gy = y->v[y->i].toguid;

	if (gx != gy)
		return gx < gy ? -1 : 1;
	return x->i < y->i ? -1 : x->i > y->i;
}

enum bk_code bk_chain_parents(const struct bk_snapshot *v, size_t n,
			      size_t *parent, struct bk_error *err)
{
	struct by_guid_ctx *ord = calloc(n ? n : 1, sizeof(*ord));

	if (!ord)
		return bk_error_set(err, BK_ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		ord[i].v = v;
		ord[i].i = i;
	}
	if (n > 1)
		qsort(ord, n, sizeof(*ord), by_toguid);
	for (size_t i = 0; i < n; i++) {
		size_t lo = 0, hi = n, best = BK_CHAIN_NONE;

		parent[i] = BK_CHAIN_NONE;
		if (!bk_chain_needs_parent(&v[i]))
			continue;
		/* the first with toguid >= fromguid */
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;

			if (v[ord[mid].i].toguid < v[i].fromguid)
				lo = mid + 1;
			else
				hi = mid;
		}
		for (; lo < n && v[ord[lo].i].toguid == v[i].fromguid; lo++) {
			size_t j = ord[lo].i;

			if (j != i && (best == BK_CHAIN_NONE ||
				       better(&v[i], &v[j], &v[best])))
				best = j;
		}
		parent[i] = best;
	}
	free(ord);
	return BK_OK;
}

enum bk_code bk_chain_cycles(const size_t *parent, size_t n, bool *cyclic,
			     struct bk_error *err)
{
	/* 0: not seen; 1: on the path being walked; 2: done */
	unsigned char *state = calloc(n ? n : 1, 1);

	if (!state)
		return bk_error_set(err, BK_ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < n; i++)
		cyclic[i] = false;
	for (size_t i = 0; i < n; i++) {
		size_t j = i;

		while (j < n && !state[j]) {
			state[j] = 1;
			j = parent[j];
		}
		if (j < n && state[j] == 1) {
			/* back on this walk's own path: j is on a cycle */
			size_t k = j;

			do {
				cyclic[k] = true;
				k = parent[k];
			} while (k != j);
		}
		for (j = i; j < n && state[j] == 1; j = parent[j])
			state[j] = 2;
	}
	free(state);
	return BK_OK;
}

enum bk_code bk_chain_walk(const struct bk_snapshot *v, size_t n, size_t i,
			   bk_chain_stop_fn stop, void *ctx,
			   struct bk_chain *c, struct bk_error *err)
{
	bool *seen;

	memset(c, 0, sizeof(*c));
	if (i >= n)
		return bk_error_set(err, BK_ERR_INTERNAL,
				    "no snapshot %zu of %zu", i, n);
	c->idx = calloc(n, sizeof(*c->idx));
	seen = calloc(n, sizeof(*seen));
	if (!c->idx || !seen) {
		free(seen);
		bk_chain_release(c);
		return bk_error_set(err, BK_ERR_NOMEM, "out of memory");
	}
	for (size_t cur = i;;) {
		size_t p;

		c->idx[c->len++] = cur;
		seen[cur] = true;
		if (stop && stop(ctx, &v[cur])) {
			c->status = BK_CHAIN_STOPPED;
			break;
		}
		if (!bk_chain_needs_parent(&v[cur])) {
			c->status = BK_CHAIN_WHOLE;
			break;
		}
		p = bk_chain_parent(v, n, cur, NULL);
		if (p == BK_CHAIN_NONE) {
			c->status = BK_CHAIN_BROKEN;
			break;
		}
		if (seen[p]) {
			c->status = BK_CHAIN_LOOP;
			break;
		}
		cur = p;
	}
	free(seen);
	return BK_OK;
}

void bk_chain_release(struct bk_chain *c)
{
	free(c->idx);
	c->idx = NULL;
	c->len = 0;
}
