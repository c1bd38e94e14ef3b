/* SPDX-License-Identifier: MIT */
/*
 * Retention: which snapshots of one dataset a policy keeps (repo.h).
 *
 * Each rule walks the snapshots from the newest to the oldest and keeps the
 * first one it meets in every bucket (an hour, a UTC day, an ISO week
 * starting on Monday, a month, a year) until it has kept its count: "the
 * newest snapshot in each of the newest N buckets that have one", as
 * restic's --keep-daily and sanoid's daily do.  The rules are independent;
 * a snapshot kept by any of them stays.  Then the dependency closure: the
 * parent (chain.c) of a kept snapshot stays, recursively, so that prune
 * never leaves a chain without its base.
 *
 * Pure: no I/O, no clock (the caller gives `now`), no allocation beyond an
 * index array (without memory the function keeps everything).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backup/chain.h"
#include "backup/repo.h"

/* Days since 1970-01-01 to a civil year and month (proleptic Gregorian),
 * the well-known era computation; valid far beyond any snapshot's time. */
static void civil(uint64_t days, uint64_t *year, unsigned *month)
{
	uint64_t z = days + 719468; /* days since 0000-03-01 */
	uint64_t era = z / 146097;
	uint64_t doe = z - era * 146097;
	uint64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	uint64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	uint64_t mp = (5 * doy + 2) / 153;
	unsigned m = (unsigned)(mp < 10 ? mp + 3 : mp - 9); /* 1..12 */

	*year = yoe + era * 400 + (m <= 2);
	*month = m;
}

enum rule { R_LAST, R_HOURLY, R_DAILY, R_WEEKLY, R_MONTHLY, R_YEARLY, R_N };

static const unsigned rule_bit[R_N] = {
	BK_KEEP_LAST,   BK_KEEP_HOURLY,  BK_KEEP_DAILY,
	BK_KEEP_WEEKLY, BK_KEEP_MONTHLY, BK_KEEP_YEARLY,
};

/* The bucket of time t under a rule; R_LAST: every snapshot its own. */
static uint64_t bucket(enum rule r, uint64_t t, size_t index)
{
	uint64_t days = t / 86400, year;
	unsigned month;

	switch (r) {
	case R_LAST: return (uint64_t)index;
	case R_HOURLY: return t / 3600;
	case R_DAILY: return days;
	/* 1970-01-01 was a Thursday: +3 makes weeks start on Mondays, as
	 * ISO 8601 weeks do (the ISO year does not matter for buckets) */
	case R_WEEKLY: return (days + 3) / 7;
	case R_MONTHLY:
		civil(days, &year, &month);
		return year * 12 + (month - 1);
	case R_YEARLY:
		civil(days, &year, &month);
		return year;
	default: return 0;
	}
}

struct order {
	uint64_t t;
	size_t i;
};

/* newest first; equal times: the later entry (as listed) first */
static int newest_first(const void *a, const void *b)
{
	const struct order *x = a, *y = b;

	if (x->t != y->t)
		return x->t < y->t ? 1 : -1;
	return x->i < y->i ? 1 : (x->i > y->i ? -1 : 0);
}

void bk_retention_explain(const struct bk_snapshot *snaps, size_t n,
			  const struct bk_retention *policy, uint64_t now,
			  bool *keep, struct bk_retention_why *why)
{
	const unsigned count[R_N] = {
		policy->last,   policy->hourly,  policy->daily,
		policy->weekly, policy->monthly, policy->yearly,
	};
	struct order *ord = NULL;
	size_t *stack = NULL, top = 0;
	bool any = false;

	for (size_t i = 0; i < n; i++) {
		keep[i] = false;
		if (why) {
			why[i].rules = 0;
			why[i].needed_by = SIZE_MAX;
		}
	}
	for (int r = 0; r < R_N; r++)
		any = any || count[r] > 0;
	if (n == 0)
		return;
	ord = malloc(n * sizeof(*ord));
	stack = malloc(n * sizeof(*stack));
	if (!any || !ord || !stack) {
		/* all zeros keeps everything; so does running out of memory
		 * (a pure function cannot fail, and keeping is safe) */
		for (size_t i = 0; i < n; i++) {
			keep[i] = true;
			if (why)
				why[i].rules = BK_KEEP_ALL;
		}
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		ord[i].t = snaps[i].creation_time;
		ord[i].i = i;
	}
	qsort(ord, n, sizeof(*ord), newest_first);

	for (int r = 0; r < R_N; r++) {
		unsigned left = count[r];
		uint64_t last = 0;
		bool have_last = false;

		for (size_t k = 0; k < n && left; k++) {
			size_t i = ord[k].i;
			uint64_t b;

			if (ord[k].t > now)
				continue; /* in the future: kept below */
			b = bucket((enum rule)r, ord[k].t, k);
			if (have_last && b == last)
				continue;
			have_last = true;
			last = b;
			left--;
			keep[i] = true;
			if (why)
				why[i].rules |= rule_bit[r];
		}
	}
	for (size_t i = 0; i < n; i++)
		if (snaps[i].creation_time > now) {
			keep[i] = true;
			if (why)
				why[i].rules |= BK_KEEP_FUTURE;
		}

	/* the closure: every kept snapshot's source stays, recursively; a
	 * stack of kept snapshots whose source is still to look at */
	for (size_t k = 0; k < n; k++)
		if (keep[ord[k].i])
			stack[top++] = ord[k].i;
	while (top) {
		size_t i = stack[--top];
		size_t j = bk_chain_parent(snaps, n, i, NULL);

		if (j == BK_CHAIN_NONE)
			continue;
		if (!keep[j]) {
			keep[j] = true;
			stack[top++] = j; /* each j enters once */
		}
		if (why && !(why[j].rules & BK_KEEP_NEEDED)) {
			why[j].rules |= BK_KEEP_NEEDED;
			why[j].needed_by = i;
		}
	}
out:
	free(ord);
	free(stack);
}

void bk_retention_select(const struct bk_snapshot *snaps, size_t n,
			 const struct bk_retention *policy, uint64_t now,
			 bool *keep)
{
	bk_retention_explain(snaps, n, policy, now, keep, NULL);
}
