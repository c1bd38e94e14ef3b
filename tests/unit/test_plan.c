/* The plans (plan.h).  restore --to: a chain from its start into an empty
 * target, a partial one onto the snapshot the target has, nothing to do,
 * a broken and a looping chain, a full package as start and an
 * incremental one that needs its source, and the target refusals (later
 * snapshots, unrelated snapshots, an existing dataset without -F).
 * prune: only the job's datasets (recursive or not), each on its own,
 * the names to forget in listing order, the chain closure, a job without
 * keep_* keeping everything. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "backup/plan.h"

static void snap(struct bk_snapshot *s, const char *name, uint64_t to,
		 uint64_t from, uint64_t t)
{
	size_t dl = strcspn(name, "@");

	memset(s, 0, sizeof(*s));
	snprintf(s->dataset, sizeof(s->dataset), "%.*s", (int)dl, name);
	snprintf(s->snap, sizeof(s->snap), "%s", name + dl + 1);
	snprintf(s->key, sizeof(s->key), "snapshots/%s", name);
	s->toguid = to;
	s->fromguid = from;
	s->creation_time = t;
}

static void tsnap(struct bk_receiver_snap *t, const char *name, uint64_t g)
{
	memset(t, 0, sizeof(*t));
	snprintf(t->name, sizeof(t->name), "%s", name);
	t->guid = g;
}

/* tank/fs: a full, b c d incrementals; e: a full package; f from e */
static struct bk_snapshot v[6];

static int setup(void **state)
{
	(void)state;
	snap(&v[0], "tank/fs@a", 10, 0, 100);
	snap(&v[1], "tank/fs@b", 11, 10, 200);
	snap(&v[2], "tank/fs@c", 12, 11, 300);
	snap(&v[3], "tank/fs@d", 13, 12, 400);
	snap(&v[4], "tank/fs@e", 14, 13, 500);
	v[4].compound = v[4].package_full = true;
	snap(&v[5], "tank/fs@f", 15, 14, 600);
	return 0;
}

static void plan(size_t want, const struct bk_receiver_snap *ts, size_t nt,
		 bool exists, bool force, enum bk_restore_verdict verdict,
		 size_t len, long base, struct bk_restore_plan *p)
{
	struct bk_error err;

	assert_int_equal(bk_restore_plan(v, 6, want, ts, nt, exists, force, p,
					 &err),
			 BK_OK);
	assert_int_equal(p->verdict, verdict);
	assert_int_equal(p->len, len);
	assert_int_equal(p->base, base);
}

static void restore_find(void **state)
{
	(void)state;
	assert_int_equal(bk_plan_find(v, 6, "tank/fs@c"), 2);
	assert_int_equal(bk_plan_find(v, 6, "tank/fs@x"), BK_CHAIN_NONE);
	assert_int_equal(bk_plan_find(v, 6, "tank/fs"), BK_CHAIN_NONE);
	assert_int_equal(bk_plan_find(v, 6, "tank@c"), BK_CHAIN_NONE);
}

static void restore_chains(void **state)
{
	struct bk_receiver_snap ts[3];
	struct bk_restore_plan p;

	(void)state;
	/* into nothing: the whole chain, oldest first */
	plan(3, NULL, 0, false, false, BK_RESTORE_GO, 4, -1, &p);
	for (size_t i = 0; i < 4; i++)
		assert_int_equal(p.chain[i], i);
	assert_false(p.first_package);
	bk_restore_plan_release(&p);
	/* the target has b: c and d onto it */
	tsnap(&ts[0], "new/fs@a", 10);
	tsnap(&ts[1], "new/fs@b", 11);
	plan(3, ts, 2, true, false, BK_RESTORE_GO, 2, 1, &p);
	assert_int_equal(p.chain[0], 2);
	bk_restore_plan_release(&p);
	/* it has d already */
	tsnap(&ts[2], "new/fs@d", 13);
	plan(3, ts, 3, true, false, BK_RESTORE_HAVE, 0, -1, &p);
	assert_int_equal(p.have, 2);
	bk_restore_plan_release(&p);
	/* a full package starts a chain: f is e then f */
	plan(5, NULL, 0, false, false, BK_RESTORE_GO, 2, -1, &p);
	assert_int_equal(p.chain[0], 4);
	assert_true(p.first_package);
	bk_restore_plan_release(&p);
	/* an incremental package needs its source: d's chain and then e */
	v[4].package_full = false;
	plan(4, NULL, 0, false, false, BK_RESTORE_GO, 5, -1, &p);
	assert_int_equal(p.chain[0], 0);
	assert_false(p.first_package);
	bk_restore_plan_release(&p);
	v[4].package_full = true;
}

static void restore_broken(void **state)
{
	struct bk_restore_plan p;
	uint64_t from = v[2].fromguid;

	(void)state;
	v[2].fromguid = 99; /* c's source is not stored */
	plan(3, NULL, 0, false, false, BK_RESTORE_BROKEN, 2, -1, &p);
	assert_int_equal(p.chain[0], 2); /* the one whose source is missing */
	bk_restore_plan_release(&p);
	v[2].fromguid = v[3].toguid; /* c from d, d from c */
	plan(3, NULL, 0, false, false, BK_RESTORE_LOOP, 2, -1, &p);
	bk_restore_plan_release(&p);
	v[2].fromguid = from;
}

static void restore_refusals(void **state)
{
	struct bk_receiver_snap ts[3];
	struct bk_restore_plan p;

	(void)state;
	/* the target has b and later snapshots */
	tsnap(&ts[0], "new/fs@b", 11);
	tsnap(&ts[1], "new/fs@x", 77);
	plan(3, ts, 2, true, false, BK_RESTORE_DIVERGED, 2, 0, &p);
	bk_restore_plan_release(&p);
	plan(3, ts, 2, true, true, BK_RESTORE_GO, 2, 0, &p);
	bk_restore_plan_release(&p);
	/* none of the chain, with or without -F */
	tsnap(&ts[0], "new/fs@y", 78);
	plan(3, ts, 2, true, false, BK_RESTORE_UNRELATED, 4, -1, &p);
	bk_restore_plan_release(&p);
	plan(3, ts, 2, true, true, BK_RESTORE_UNRELATED, 4, -1, &p);
	bk_restore_plan_release(&p);
	/* an existing dataset without snapshots: only with -F */
	plan(3, NULL, 0, true, false, BK_RESTORE_NEEDS_FORCE, 4, -1, &p);
	bk_restore_plan_release(&p);
	plan(3, NULL, 0, true, true, BK_RESTORE_GO, 4, -1, &p);
	bk_restore_plan_release(&p);
	/* a package goes in as one, whatever the target holds */
	plan(4, ts, 2, true, false, BK_RESTORE_GO, 1, -1, &p);
	bk_restore_plan_release(&p);
}

static void prune_plan(void **state)
{
	struct bk_snapshot w[7];
	char *dsets[] = { "tank/fs" };
	struct bk_job job;
	struct bk_prune_plan p;
	struct bk_error err;
	uint64_t day = 86400;

	(void)state;
	/* sorted by dataset, as bk_list gives them */
	snap(&w[0], "other/x@a", 50, 0, 1 * day);
	snap(&w[1], "tank/fs@a", 10, 0, 1 * day);
	snap(&w[2], "tank/fs@b", 11, 10, 2 * day);
	snap(&w[3], "tank/fs@c", 12, 0, 3 * day);
	snap(&w[4], "tank/fs@d", 13, 12, 4 * day);
	snap(&w[5], "tank/fs/child@a", 60, 0, 1 * day);
	snap(&w[6], "tank/fs/child@b", 61, 0, 2 * day);
	memset(&job, 0, sizeof(job));
	snprintf(job.name, sizeof(job.name), "nightly");
	job.datasets = dsets;
	job.ndatasets = 1;
	job.keep.last = 1;
	assert_int_equal(bk_prune_plan(&job, w, 7, 5 * day, &p, &err), BK_OK);
	assert_false(p.keep_all);
	assert_int_equal(p.nds, 1);
	assert_int_equal(p.ds[0].first, 1);
	assert_int_equal(p.ds[0].n, 4);
	/* d is the last; c stays as its source */
	assert_false(p.ds[0].keep[0] || p.ds[0].keep[1]);
	assert_true(p.ds[0].keep[2] && p.ds[0].keep[3]);
	assert_int_equal(p.ds[0].why[2].rules, BK_KEEP_NEEDED);
	assert_int_equal(p.ds[0].why[2].needed_by, 3);
	assert_int_equal(p.ds[0].only_needed, 1);
	assert_int_equal(p.nforget, 2);
	assert_string_equal(p.forget[0], "tank/fs@a");
	assert_string_equal(p.forget[1], "tank/fs@b");
	bk_prune_plan_release(&p);
	/* recursive: the child on its own */
	job.recursive = true;
	assert_int_equal(bk_prune_plan(&job, w, 7, 5 * day, &p, &err), BK_OK);
	assert_int_equal(p.nds, 2);
	assert_int_equal(p.ds[1].first, 5);
	assert_int_equal(p.nforget, 3);
	assert_string_equal(p.forget[2], "tank/fs/child@a");
	bk_prune_plan_release(&p);
	/* no keep_*: everything stays */
	memset(&job.keep, 0, sizeof(job.keep));
	assert_int_equal(bk_prune_plan(&job, w, 7, 5 * day, &p, &err), BK_OK);
	assert_true(p.keep_all);
	assert_int_equal(p.nforget, 0);
	bk_prune_plan_release(&p);
	/* nothing stored */
	assert_int_equal(bk_prune_plan(&job, w, 0, 5 * day, &p, &err), BK_OK);
	assert_int_equal(p.nds, 0);
	bk_prune_plan_release(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(restore_find),
		cmocka_unit_test(restore_chains),
		cmocka_unit_test(restore_broken),
		cmocka_unit_test(restore_refusals),
		cmocka_unit_test(prune_plan),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
