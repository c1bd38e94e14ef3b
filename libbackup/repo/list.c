/* SPDX-License-Identifier: MIT */
/* Listing snapshots: every manifest, opened and parsed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backup/chain.h"
#include "repo/repo_impl.h"

static int by_dataset_time(const void *a, const void *b)
{
	const struct bk_snapshot *x = a, *y = b;
	int c = strcmp(x->dataset, y->dataset);

	if (c)
		return c;
	if (x->creation_time != y->creation_time)
		return x->creation_time < y->creation_time ? -1 : 1;
	return strcmp(x->snap, y->snap);
}

enum bk_code bk_list(struct bk_repo *r, struct bk_snapshot **out, size_t *n,
		     struct bk_error *err)
{
	struct keylist k = { 0 };
	struct bk_snapshot *v = NULL;
	struct trust_snap *t = NULL;
	struct trust_state *st;
	size_t count = 0;
	enum bk_code rc, bad = BK_OK;

	*out = NULL;
	*n = 0;
	st = repo_trust_begin(r); /* before the listing: trust.h */
	rc = keylist_collect(r->store, "snapshots/", &k, err);
	if (!rc && k.n) {
		v = calloc(k.n, sizeof(*v));
		t = calloc(k.n, sizeof(*t));
		if (!v || !t)
			rc = bk_error_set(err, BK_ERR_NOMEM, "out of memory");
	}
	for (size_t i = 0; !rc && i < k.n; i++) {
		struct manifest m;
		struct bk_snapshot *s = &v[count];
		struct bk_error e;
		enum bk_code mrc = manifest_load(r, k.key[i], &m, &e);

		t[i].key = k.key[i];
		t[i].opened = !mrc;
		t[i].ident = m.ident;
		if (mrc == BK_ERR_NOMEM) {
			rc = bk_error_set(err, mrc, "%s", e.msg);
			break;
		}
		if (mrc) {
			/* list the others; report the first bad one */
			if (!bad) {
				bad = mrc;
				*err = e;
			}
			continue;
		}
		snprintf(s->dataset, sizeof(s->dataset), "%s", m.dataset);
		snprintf(s->snap, sizeof(s->snap), "%s", m.snap);
		snprintf(s->key, sizeof(s->key), "%s", k.key[i]);
		s->toguid = m.toguid;
		s->fromguid = m.fromguid;
		s->creation_time = m.creation_time;
		s->pushed_at = m.finished;
		s->stream_bytes = m.stream_bytes;
		s->new_bytes = m.new_bytes;
		s->chunks = m.chunks;
		s->substreams = m.substreams;
		s->compound = m.compound;
		s->package_full = m.package == MANIFEST_PACKAGE_FULL;
		s->digest = m.digest;
		manifest_release(&m);
		count++;
	}
	/* nothing deleted, replaced or put back behind zbak's back; a
	 * forgotten manifest still there is left out (trust.c) */
	if (!rc)
		rc = repo_trust_listing(r, st, t, k.n, err);
	else
		repo_trust_abandon(st);
	for (size_t i = 0, j = 0; !rc && i < count; i++) {
		bool gone = false;

		for (size_t x = 0; x < k.n && !gone; x++)
			gone = t[x].forgotten && !strcmp(t[x].key, v[i].key);
		if (!gone)
			v[j++] = v[i];
		if (i + 1 == count)
			count = j;
	}
	/* parents: the one rule of chain.c (a package has none) */
	for (size_t i = 0; !rc && i < count; i++) {
		size_t p = bk_chain_parent(v, count, i, NULL);

		if (p != BK_CHAIN_NONE)
			snprintf(v[i].parent, sizeof(v[i].parent), "%s@%s",
				 v[p].dataset, v[p].snap);
	}
	keylist_free(&k);
	free(t);
	if (rc) {
		free(v);
		return rc;
	}
	if (count)
		qsort(v, count, sizeof(*v), by_dataset_time);
	*out = v;
	*n = count;
	return bad;
}
