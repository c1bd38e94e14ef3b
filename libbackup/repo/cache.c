/* SPDX-License-Identifier: MIT */
/*
 * The local cache of a remote repository (docs/repository.md, "Cache").
 *
 * $ZBAK_CACHE_DIR, else $XDG_CACHE_HOME/zbak, else ~/.cache/zbak, then one
 * directory per repository id, holding:
 *   index/<id>        sealed copies of the repository's index objects
 *   pushes/<pid>-<r>  one marker per push in progress on this machine
 *
 * Index objects are written once and never change, so a copy whose size
 * matches the listing is the object; a push then costs one listing of
 * index/ instead of downloading every index.  Packs that a killed push left
 * without an index are found by listing data/, which is what the cache
 * saves: that listing runs only when a marker of a push that is no longer
 * running is found, or when the cache is new.  Deleting the cache loses
 * nothing: it is rebuilt, with one full listing.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "repo/repo_impl.h"

static int cache_base(char *out, size_t n)
{
	const char *d = getenv("ZBAK_CACHE_DIR"), *x, *h;

	if (d && *d)
		return snprintf(out, n, "%s", d) < (int)n ? 0 : -1;
	x = getenv("XDG_CACHE_HOME");
	if (x && *x)
		return snprintf(out, n, "%s/zbak", x) < (int)n ? 0 : -1;
	h = getenv("HOME");
	if (h && *h)
		return snprintf(out, n, "%s/.cache/zbak", h) < (int)n ? 0 : -1;
	return -1;
}

int bk_cache_dir(char *out, size_t n)
{
	return cache_base(out, n);
}

void repo_cache_open(struct bk_repo *r)
{
	char base[900], path[1024], idhex[2 * BK_REPO_ID_LEN + 1];
	struct bk_error err;
	uint64_t size;

	if (!bk_store_remote(r->store) || cache_base(base, sizeof(base)))
		return;
	for (int i = 0; i < BK_REPO_ID_LEN; i++)
		snprintf(idhex + 2 * i, 3, "%02x", r->id[i]);
	snprintf(path, sizeof(path), "%s/%s", base, idhex);
	/* the cache is a convenience: without one, everything still works */
	if (bk_store_open(path, true, &r->cache, &err) != BK_OK) {
		r->cache = NULL;
		return;
	}
	r->cache_new = bk_store_head(r->cache, "created", &size, &err) != BK_OK;
}

void repo_cache_close(struct bk_repo *r)
{
	bk_store_close(r->cache);
	r->cache = NULL;
}

enum bk_code repo_cache_get_index(struct bk_repo *r, const char *key,
				  uint64_t size, struct bk_buf *sealed,
				  struct bk_error *err)
{
	uint64_t have;
	struct bk_error cerr;
	enum bk_code rc;

	bk_buf_reset(sealed);
	if (r->cache && bk_store_head(r->cache, key, &have, &cerr) == BK_OK &&
	    have == size && bk_store_get(r->cache, key, sealed, &cerr) == BK_OK)
		return BK_OK;
	bk_buf_reset(sealed);
	rc = bk_store_get(r->store, key, sealed, err);
	if (!rc && r->cache) /* best effort */
		bk_store_put(r->cache, key, sealed->data, sealed->len, &cerr);
	return rc;
}

/* Drop cached copies of index objects the repository no longer has. */
void repo_cache_prune(struct bk_repo *r, char *const *keys, size_t n)
{
	struct keylist cached = { 0 };
	struct bk_error err;

	if (!r->cache ||
	    keylist_collect(r->cache, "index/", &cached, &err) != BK_OK)
		goto out;
	for (size_t i = 0; i < cached.n; i++) {
		bool found = false;

		for (size_t j = 0; j < n && !found; j++)
			found = strcmp(cached.key[i], keys[j]) == 0;
		if (!found)
			bk_store_delete(r->cache, cached.key[i], &err);
	}
out:
	keylist_free(&cached);
}

bool repo_cache_need_scan(struct bk_repo *r)
{
	struct keylist m = { 0 };
	struct bk_error err;
	bool scan = false;

	if (!r->cache || r->cache_new)
		return true;
	if (keylist_collect(r->cache, "pushes/", &m, &err) != BK_OK)
		return true;
	for (size_t i = 0; i < m.n && !scan; i++) {
		long pid = strtol(m.key[i] + strlen("pushes/"), NULL, 10);

		/* a marker of a push that is not running: it died */
		scan = pid <= 0 || (kill((pid_t)pid, 0) != 0 && errno == ESRCH);
	}
	keylist_free(&m);
	return scan;
}

/* After a full scan: markers of dead pushes are settled. */
void repo_cache_scanned(struct bk_repo *r)
{
	struct keylist m = { 0 };
	struct bk_error err;

	if (!r->cache)
		return;
	if (r->cache_new) {
		bk_store_put(r->cache, "created", "1\n", 2, &err);
		r->cache_new = false;
	}
	if (keylist_collect(r->cache, "pushes/", &m, &err) == BK_OK)
		for (size_t i = 0; i < m.n; i++) {
			long pid = strtol(m.key[i] + strlen("pushes/"), NULL,
					  10);

			if (pid <= 0 ||
			    (kill((pid_t)pid, 0) != 0 && errno == ESRCH))
				bk_store_delete(r->cache, m.key[i], &err);
		}
	keylist_free(&m);
}

void repo_cache_mark(struct bk_repo *r, char *marker, size_t n)
{
	uint32_t rnd;
	struct bk_error err;

	marker[0] = '\0';
	if (!r->cache)
		return;
	bk_random(&rnd, sizeof(rnd));
	snprintf(marker, n, "pushes/%ld-%08" PRIx32, (long)getpid(), rnd);
	if (bk_store_put(r->cache, marker, "", 0, &err) != BK_OK)
		marker[0] = '\0';
}

void repo_cache_unmark(struct bk_repo *r, const char *marker)
{
	struct bk_error err;

	if (r->cache && marker[0])
		bk_store_delete(r->cache, marker, &err);
}

/* A push failed after it may have uploaded packs: leave a marker that
 * reads as a dead push (pid 0), whatever becomes of this process. */
void repo_cache_failed(struct bk_repo *r, const char *marker)
{
	const char *dash = strchr(marker, '-');
	char dead[64];
	struct bk_error err;

	if (!r->cache || !marker[0] || !dash)
		return;
	snprintf(dead, sizeof(dead), "pushes/0%s", dash);
	bk_store_put(r->cache, dead, "", 0, &err);
	bk_store_delete(r->cache, marker, &err);
}
