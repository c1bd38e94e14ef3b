/* SPDX-License-Identifier: MIT */
/*
 * zbak forget: delete snapshots' manifests and their recipe segments.
 * Chains go whole: a snapshot that stays keeps its incremental source.
 * Chunks and packs are left to bk_gc.
 *
 * Each manifest leaves a forget record (trust.c) before it goes, so that
 * every client knows it went on purpose and refuses it should it come
 * back.  Dependents go before what they depend on (the deepest of a chain
 * first): an interrupted forget never leaves an incremental without its
 * source, and the same forget again finishes the job (a name already
 * forgotten, which its record proves, is no error).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backup/chain.h"
#include "repo/repo_impl.h"

/* How many stored sources lie below snapshot i (bounded by n). */
static size_t depth(const struct bk_snapshot *s, size_t n, size_t i)
{
	size_t d = 0;

	while (d < n && (i = bk_chain_parent(s, n, i, NULL)) != BK_CHAIN_NONE)
		d++;
	return d;
}

struct order {
	size_t i, depth;
};

static int deepest_first(const void *a, const void *b)
{
	const struct order *x = a, *y = b;

	if (x->depth != y->depth)
		return x->depth > y->depth ? -1 : 1;
	return x->i < y->i ? -1 : x->i > y->i;
}

/* Under Object Lock an object whose retention has not ended stays: the
 * forget record already makes the snapshot gone, gc deletes it later. */
static enum bk_code retained_ok(enum bk_code rc, struct bk_forget_result *res)
{
	if (rc != BK_ERR_RETAINED)
		return rc;
	res->retained++;
	return BK_OK;
}

/* One snapshot: its record, then its manifest, then its segments. */
static enum bk_code forget_one(struct bk_repo *r, const struct bk_snapshot *s,
			       bool dry_run, struct bk_forget_result *res,
			       struct bk_error *err)
{
	struct manifest m;
	char name[BK_REPO_NAME_MAX];
	enum bk_code rc;

	memset(&m, 0, sizeof(m));
	if ((rc = manifest_load(r, s->key, &m, err)))
		return rc;
	res->snapshots++;
	res->recipes += m.nsegments;
	snprintf(name, sizeof(name), "%s@%s", s->dataset, s->snap);
	if (!dry_run)
		rc = repo_forget_record(r, name, &m.ident, err);
	/* the manifest next: the snapshot is gone at once, and a failure
	 * later leaves only unreferenced segments, which gc collects */
	if (!rc && !dry_run)
		rc = retained_ok(bk_store_delete(r->store, s->key, err), res);
	for (size_t i = 0; !rc && !dry_run && i < m.nsegments; i++) {
		char hex[2 * BK_ID_LEN + 1], key[96];

		bk_id_hex(&m.segments[i], hex);
		snprintf(key, sizeof(key), "recipes/%s", hex);
		rc = retained_ok(bk_store_delete(r->store, key, err), res);
	}
	manifest_release(&m);
	return rc;
}

enum bk_code bk_forget(struct bk_repo *r, const char *const *names, size_t n,
		       bool dry_run, struct bk_forget_result *res,
		       struct bk_error *err)
{
	struct bk_snapshot *snaps = NULL;
	struct repo_lock *lock = NULL;
	struct order *ord = NULL;
	size_t ns = 0, no = 0;
	bool *go = NULL;
	enum bk_code rc;

	memset(res, 0, sizeof(*res));
	if (!dry_run && (rc = repo_lock_take(r, true, &lock, err)))
		return rc;
	/* every manifest must open: one we cannot read might depend on a
	 * snapshot we are asked to remove */
	rc = bk_list(r, &snaps, &ns, err);
	if (rc) {
		bk_error_prefix(err, "cannot forget safely");
		goto out;
	}
	go = calloc(ns ? ns : 1, sizeof(*go));
	ord = calloc(ns ? ns : 1, sizeof(*ord));
	if (!go || !ord) {
		rc = bk_error_set(err, BK_ERR_NOMEM, "out of memory");
		goto out;
	}
	for (size_t k = 0; k < n; k++) {
		bool found = false, gone = false;

		for (size_t i = 0; i < ns; i++) {
			char full[520];

			snprintf(full, sizeof(full), "%s@%s", snaps[i].dataset,
				 snaps[i].snap);
			if (!strcmp(full, names[k])) {
				go[i] = found = true;
				break;
			}
		}
		if (found)
			continue;
		/* forgotten already (a forget interrupted, repeated)? */
		rc = repo_forgotten_name(r, names[k], &gone, err);
		if (rc)
			goto out;
		if (gone) {
			struct bk_snapshot left;
			uint64_t size;

			/* its manifest may be left over: finish the job */
			memset(&left, 0, sizeof(left));
			rc = repo_manifest_key(names[k], left.key,
					       sizeof(left.key), err);
			if (!rc)
				rc = repo_split_name(names[k], left.dataset,
						     sizeof(left.dataset),
						     left.snap,
						     sizeof(left.snap), err);
			if (rc)
				goto out;
			if (bk_store_head(r->store, left.key, &size, err) ==
			    BK_OK) {
				rc = forget_one(r, &left, dry_run, res, err);
			} else {
				bk_error_clear(err);
				res->already++;
			}
			if (rc)
				goto out;
			continue;
		}
		rc = bk_error_set(err, BK_ERR_NOTFOUND,
				  "no snapshot %s in the repository",
				  names[k]);
		goto out;
	}
	/* a snapshot that stays must keep its source (chain.c): its parent,
	 * or another copy of it that stays */
	for (size_t i = 0; i < ns; i++) {
		size_t p;

		if (go[i])
			continue;
		p = bk_chain_parent(snaps, ns, i, NULL);
		if (p == BK_CHAIN_NONE || !go[p] ||
		    bk_chain_parent(snaps, ns, i, go) != BK_CHAIN_NONE)
			continue;
		rc = bk_error_set(err, BK_ERR_EXISTS,
				  "cannot forget %s@%s: %s@%s, which stays, is "
				  "incremental from it (forget the whole chain)",
				  snaps[p].dataset, snaps[p].snap,
				  snaps[i].dataset, snaps[i].snap);
		goto out;
	}
	/* dependents first: the deepest of each chain */
	for (size_t i = 0; i < ns; i++)
		if (go[i]) {
			ord[no].i = i;
			ord[no++].depth = depth(snaps, ns, i);
		}
	if (no > 1)
		qsort(ord, no, sizeof(*ord), deepest_first);
	for (size_t k = 0; !rc && k < no; k++)
		rc = forget_one(r, &snaps[ord[k].i], dry_run, res, err);
out:
	free(go);
	free(ord);
	free(snaps);
	repo_lock_release(lock);
	return rc;
}
