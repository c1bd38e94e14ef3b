/* SPDX-License-Identifier: MIT */
/*
 * zbak forget: delete snapshots' manifests and their recipe segments.
 * Chains go whole: a snapshot that stays keeps its incremental source.
 * Chunks and packs are left to bk_gc.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "repo/repo_impl.h"

/* A snapshot other than i that stays and has toguid g. */
static bool stays_with_guid(const struct bk_snapshot *s, size_t n,
			    const bool *go, uint64_t g)
{
	for (size_t i = 0; i < n; i++)
		if (!go[i] && s[i].toguid == g)
			return true;
	return false;
}

enum bk_code bk_forget(struct bk_repo *r, const char *const *names, size_t n,
		       bool dry_run, struct bk_forget_result *res,
		       struct bk_error *err)
{
	struct bk_snapshot *snaps = NULL;
	struct repo_lock *lock = NULL;
	size_t ns = 0;
	bool *go = NULL;
	enum bk_code rc;

	memset(res, 0, sizeof(*res));
	if (!dry_run && (rc = repo_lock_take(r, true, &lock, err)))
		return rc;
	/* every manifest must open: one we cannot read might depend on a
	 * snapshot we are asked to remove */
	rc = bk_list(r, &snaps, &ns, err);
	if (rc) {
		bk_error_prefix(err, "cannot forget safely: ");
		goto out;
	}
	go = calloc(ns ? ns : 1, sizeof(*go));
	if (!go) {
		rc = bk_error_set(err, BK_ERR_NOMEM, "out of memory");
		goto out;
	}
	for (size_t k = 0; k < n; k++) {
		bool found = false;

		for (size_t i = 0; i < ns; i++) {
			char full[520];

			snprintf(full, sizeof(full), "%s@%s", snaps[i].dataset,
				 snaps[i].snap);
			if (!strcmp(full, names[k])) {
				go[i] = found = true;
				break;
			}
		}
		if (!found) {
			rc = bk_error_set(err, BK_ERR_NOTFOUND,
					  "no snapshot %s in the repository",
					  names[k]);
			goto out;
		}
	}
	/* a snapshot that stays must keep its source */
	for (size_t i = 0; i < ns; i++) {
		if (go[i] || !snaps[i].fromguid)
			continue;
		if (stays_with_guid(snaps, ns, go, snaps[i].fromguid))
			continue;
		for (size_t j = 0; j < ns; j++)
			if (go[j] && snaps[j].toguid == snaps[i].fromguid) {
				rc = bk_error_set(
					err, BK_ERR_EXISTS,
					"cannot forget %s@%s: %s@%s, which "
					"stays, is incremental from it "
					"(forget the whole chain)",
					snaps[j].dataset, snaps[j].snap,
					snaps[i].dataset, snaps[i].snap);
				goto out;
			}
	}
	for (size_t i = 0; i < ns; i++) {
		struct manifest m;

		if (!go[i])
			continue;
		res->snapshots++;
		memset(&m, 0, sizeof(m));
		if ((rc = manifest_load(r, snaps[i].key, &m, err)))
			goto out;
		res->recipes += m.nsegments;
		if (!dry_run) {
			/* the manifest first: the snapshot is gone at once,
			 * and a failure later leaves only unreferenced
			 * segments, which gc collects */
			rc = bk_store_delete(r->store, snaps[i].key, err);
			for (size_t s = 0; !rc && s < m.nsegments; s++) {
				char hex[2 * BK_ID_LEN + 1], key[96];

				bk_id_hex(&m.segments[s], hex);
				snprintf(key, sizeof(key), "recipes/%s", hex);
				rc = bk_store_delete(r->store, key, err);
			}
		}
		manifest_release(&m);
		if (rc)
			goto out;
	}
out:
	free(go);
	free(snaps);
	repo_lock_release(lock);
	return rc;
}
