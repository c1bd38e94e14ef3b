/* The chain resolver (chain.h): full streams and full packages start
 * chains, incremental and unrecorded packages need their source; clones
 * and streams pushed under another name find their parent in another
 * dataset, own dataset and single streams first, the same choice in any
 * listing order; missing links break a chain; hostile manifests (cycles,
 * self-references, one guid everywhere) end every walk within n steps;
 * bk_chain_parents agrees with bk_chain_parent; the absent mask. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "backup/chain.h"

/* One snapshot: name pool/fs@snap, toguid, fromguid. */
static void snap(struct bk_snapshot *s, const char *name, uint64_t to,
		 uint64_t from)
{
	size_t dl = strcspn(name, "@");

	memset(s, 0, sizeof(*s));
	snprintf(s->dataset, sizeof(s->dataset), "%.*s", (int)dl, name);
	snprintf(s->snap, sizeof(s->snap), "%s", name + dl + 1);
	snprintf(s->key, sizeof(s->key), "snapshots/%s", name);
	s->toguid = to;
	s->fromguid = from;
}

/* Every parent by bk_chain_parents equals bk_chain_parent's. */
static void parents_agree(const struct bk_snapshot *v, size_t n)
{
	size_t *p = calloc(n ? n : 1, sizeof(*p));
	struct bk_error err;

	assert_non_null(p);
	assert_int_equal(bk_chain_parents(v, n, p, &err), BK_OK);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(p[i], bk_chain_parent(v, n, i, NULL));
	free(p);
}

static void walk(const struct bk_snapshot *v, size_t n, size_t i,
		 enum bk_chain_status want, size_t len)
{
	struct bk_chain c;
	struct bk_error err;

	assert_int_equal(bk_chain_walk(v, n, i, NULL, NULL, &c, &err), BK_OK);
	assert_int_equal(c.status, want);
	assert_int_equal(c.len, len);
	assert_int_equal(c.idx[0], i);
	bk_chain_release(&c);
}

static void plain_chain(void **state)
{
	struct bk_snapshot v[4];

	(void)state;
	snap(&v[0], "tank/fs@a", 10, 0);
	snap(&v[1], "tank/fs@b", 11, 10);
	snap(&v[2], "tank/fs@c", 12, 11);
	snap(&v[3], "tank/fs@d", 13, 12);
	assert_false(bk_chain_needs_parent(&v[0]));
	assert_true(bk_chain_needs_parent(&v[3]));
	assert_int_equal(bk_chain_parent(v, 4, 0, NULL), BK_CHAIN_NONE);
	assert_int_equal(bk_chain_parent(v, 4, 3, NULL), 2);
	walk(v, 4, 3, BK_CHAIN_WHOLE, 4);
	walk(v, 4, 0, BK_CHAIN_WHOLE, 1);
	parents_agree(v, 4);
}

static void packages(void **state)
{
	struct bk_snapshot v[5];

	(void)state;
	snap(&v[0], "tank/fs@a", 10, 0);
	snap(&v[1], "tank/fs@b", 11, 10);
	/* zfs send -R tank/fs@c of a, b, c: its named substream is
	 * incremental from b, but the package needs nothing */
	snap(&v[2], "tank/fs@c", 12, 11);
	v[2].compound = v[2].package_full = true;
	/* zfs send -R -i @c tank/fs@d: needs c */
	snap(&v[3], "tank/fs@d", 13, 12);
	v[3].compound = true;
	/* a package an older zbak pushed: unknown, so it needs its source */
	snap(&v[4], "tank/fs@e", 14, 13);
	v[4].compound = true;
	assert_false(bk_chain_needs_parent(&v[2]));
	assert_int_equal(bk_chain_parent(v, 5, 2, NULL), BK_CHAIN_NONE);
	assert_true(bk_chain_needs_parent(&v[3]));
	assert_int_equal(bk_chain_parent(v, 5, 3, NULL), 2);
	assert_int_equal(bk_chain_parent(v, 5, 4, NULL), 3);
	walk(v, 5, 2, BK_CHAIN_WHOLE, 1);
	walk(v, 5, 4, BK_CHAIN_WHOLE, 3);
	/* a full package of a single snapshot: no fromguid at all */
	v[2].fromguid = 0;
	v[2].package_full = false;
	walk(v, 5, 4, BK_CHAIN_WHOLE, 3);
	parents_agree(v, 5);
}

static void clones_and_other_datasets(void **state)
{
	struct bk_snapshot v[6];

	(void)state;
	snap(&v[0], "tank/fs@a", 10, 0);
	snap(&v[1], "tank/fs@b", 11, 10);
	/* a clone of tank/fs@b: incremental from its origin */
	snap(&v[2], "tank/clone@x", 20, 11);
	snap(&v[3], "tank/clone@y", 21, 20);
	/* pushed under another name than its source */
	snap(&v[4], "other/copy@c", 12, 11);
	snap(&v[5], "tank/fs@c", 12, 11);
	assert_int_equal(bk_chain_parent(v, 6, 2, NULL), 1);
	assert_int_equal(bk_chain_parent(v, 6, 4, NULL), 1);
	walk(v, 6, 3, BK_CHAIN_WHOLE, 4);
	parents_agree(v, 6);
}

static void preference(void **state)
{
	struct bk_snapshot v[5], w[5];
	const size_t perm[5] = { 4, 2, 0, 3, 1 };

	(void)state;
	/* the same snapshot (guid 11) stored four times */
	snap(&v[0], "zzz/other@b", 11, 0);
	snap(&v[1], "tank/fs@b-pkg", 11, 0);
	v[1].compound = v[1].package_full = true;
	snap(&v[2], "tank/fs@b2", 11, 0);
	snap(&v[3], "tank/fs@b1", 11, 0);
	snap(&v[4], "tank/fs@c", 12, 11);
	/* own dataset, a single stream, the smallest key: tank/fs@b1 */
	assert_int_equal(bk_chain_parent(v, 5, 4, NULL), 3);
	parents_agree(v, 5);
	/* the same choice in another order */
	for (size_t i = 0; i < 5; i++)
		w[i] = v[perm[i]];
	assert_string_equal(w[bk_chain_parent(w, 5, 0, NULL)].snap, "b1");
	parents_agree(w, 5);
	/* without the single streams of its dataset: the package */
	{
		bool absent[5] = { false, false, true, true, false };

		assert_int_equal(bk_chain_parent(v, 5, 4, absent), 1);
		absent[1] = true;
		assert_int_equal(bk_chain_parent(v, 5, 4, absent), 0);
		absent[0] = true;
		assert_int_equal(bk_chain_parent(v, 5, 4, absent),
				 BK_CHAIN_NONE);
	}
}

static void missing_links(void **state)
{
	struct bk_snapshot v[4];
	size_t p[4];
	bool cyc[4];
	struct bk_error err;

	(void)state;
	snap(&v[0], "tank/fs@a", 10, 0);
	/* b was forgotten behind our back: c's source is gone */
	snap(&v[1], "tank/fs@c", 12, 11);
	snap(&v[2], "tank/fs@d", 13, 12);
	snap(&v[3], "tank/fs@e", 14, 13);
	assert_int_equal(bk_chain_parent(v, 4, 1, NULL), BK_CHAIN_NONE);
	walk(v, 4, 3, BK_CHAIN_BROKEN, 3);
	walk(v, 4, 1, BK_CHAIN_BROKEN, 1);
	parents_agree(v, 4);
	assert_int_equal(bk_chain_parents(v, 4, p, &err), BK_OK);
	assert_int_equal(bk_chain_cycles(p, 4, cyc, &err), BK_OK);
	for (size_t i = 0; i < 4; i++)
		assert_false(cyc[i]);
	/* nothing at all */
	assert_int_equal(bk_chain_parents(v, 0, p, &err), BK_OK);
	assert_int_equal(bk_chain_parent(v, 0, 0, NULL), BK_CHAIN_NONE);
}

/* A stop function: the target has guid *ctx. */
static bool has_source(void *ctx, const struct bk_snapshot *s)
{
	return s->fromguid == *(const uint64_t *)ctx;
}

static void stop_early(void **state)
{
	struct bk_snapshot v[4];
	struct bk_chain c;
	struct bk_error err;
	uint64_t have = 11;

	(void)state;
	snap(&v[0], "tank/fs@a", 10, 0);
	snap(&v[1], "tank/fs@b", 11, 10);
	snap(&v[2], "tank/fs@c", 12, 11);
	snap(&v[3], "tank/fs@d", 13, 12);
	assert_int_equal(bk_chain_walk(v, 4, 3, has_source, &have, &c, &err),
			 BK_OK);
	assert_int_equal(c.status, BK_CHAIN_STOPPED);
	assert_int_equal(c.len, 2);
	assert_int_equal(c.idx[1], 2);
	bk_chain_release(&c);
	assert_int_equal(bk_chain_walk(v, 4, 9, NULL, NULL, &c, &err),
			 BK_ERR_INTERNAL);
}

static void hostile(void **state)
{
	enum { N = 64 };
	struct bk_snapshot *v = calloc(N, sizeof(*v));
	size_t p[N];
	bool cyc[N];
	struct bk_error err;
	char name[64];

	(void)state;
	assert_non_null(v);
	/* a two-cycle, and a tail leading into it */
	snap(&v[0], "tank/fs@x", 1, 2);
	snap(&v[1], "tank/fs@y", 2, 1);
	snap(&v[2], "tank/fs@z", 3, 2);
	/* self-reference: not its own parent */
	snap(&v[3], "tank/fs@self", 4, 4);
	/* the same snapshot twice, each incremental from itself */
	snap(&v[4], "tank/fs@d1", 5, 5);
	snap(&v[5], "tank/fs@d2", 5, 5);
	walk(v, 6, 2, BK_CHAIN_LOOP, 3);
	walk(v, 6, 0, BK_CHAIN_LOOP, 2);
	walk(v, 6, 3, BK_CHAIN_BROKEN, 1);
	walk(v, 6, 4, BK_CHAIN_LOOP, 2);
	parents_agree(v, 6);
	assert_int_equal(bk_chain_parents(v, 6, p, &err), BK_OK);
	assert_int_equal(bk_chain_cycles(p, 6, cyc, &err), BK_OK);
	assert_true(cyc[0] && cyc[1] && cyc[4] && cyc[5]);
	assert_false(cyc[2] || cyc[3]);
	/* one guid everywhere, every one incremental from it: bounded */
	for (size_t i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "tank/fs@s%02zu", i);
		snap(&v[i], name, 7, 7);
	}
	for (size_t i = 0; i < N; i += 7) {
		struct bk_chain c;

		assert_int_equal(bk_chain_walk(v, N, i, NULL, NULL, &c, &err),
				 BK_OK);
		assert_int_equal(c.status, BK_CHAIN_LOOP);
		assert_true(c.len <= N);
		bk_chain_release(&c);
	}
	parents_agree(v, N);
	assert_int_equal(bk_chain_parents(v, N, p, &err), BK_OK);
	assert_int_equal(bk_chain_cycles(p, N, cyc, &err), BK_OK);
	/* s01 -> s00 -> s01: the two smallest keys point at each other */
	assert_true(cyc[0] && cyc[1]);
	for (size_t i = 2; i < N; i++)
		assert_false(cyc[i]);
	free(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(plain_chain),
		cmocka_unit_test(packages),
		cmocka_unit_test(clones_and_other_datasets),
		cmocka_unit_test(preference),
		cmocka_unit_test(missing_links),
		cmocka_unit_test(stop_early),
		cmocka_unit_test(hostile),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
