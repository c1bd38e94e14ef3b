/* Retention (bk_retention_select, bk_retention_explain): tables over years
 * of daily and months of hourly snapshots, checked against the buckets
 * they must fill (the newest of each hour, day, ISO week, month, year);
 * ISO week edges (Sunday to Monday, a week across New Year), leap days,
 * equal times, snapshots in the future, the all-zero policy; chains: a kept
 * incremental keeps its source back to the full, a missing source and a
 * cycle of guids are harmless, and the reasons name the rule or the
 * snapshot that needs one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "backup/repo.h"

static uint64_t utc(int y, int mo, int d, int h, int mi, int s)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = s;
	return (uint64_t)timegm(&tm);
}

/* n snapshots from t0, every step seconds; each a full stream */
static struct bk_snapshot *series(uint64_t t0, uint64_t step, size_t n)
{
	struct bk_snapshot *s = calloc(n ? n : 1, sizeof(*s));

	assert_non_null(s);
	for (size_t i = 0; i < n; i++) {
		snprintf(s[i].dataset, sizeof(s[i].dataset), "tank/fs");
		snprintf(s[i].snap, sizeof(s[i].snap), "s%zu", i);
		s[i].creation_time = t0 + i * step;
		s[i].toguid = 1000 + i;
	}
	return s;
}

static size_t count_kept(const bool *keep, size_t n)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++)
		k += keep[i];
	return k;
}

static struct tm at(uint64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	return tm;
}

static void empty_and_all_zero(void **state)
{
	struct bk_retention none = { 0 }, some = { .daily = 3 };
	struct bk_snapshot *s = series(utc(2026, 1, 1, 2, 0, 0), 86400, 40);
	struct bk_retention_why why[40];
	bool keep[40];

	(void)state;
	bk_retention_select(s, 0, &some, 0, keep); /* nothing, no crash */
	bk_retention_explain(s, 40, &none, utc(2027, 1, 1, 0, 0, 0), keep, why);
	assert_int_equal(count_kept(keep, 40), 40);
	for (size_t i = 0; i < 40; i++)
		assert_int_equal(why[i].rules, BK_KEEP_ALL);
	free(s);
}

/* Two years of daily snapshots at 02:00 UTC. */
static void years_of_dailies(void **state)
{
	const uint64_t t0 = utc(2025, 1, 1, 2, 0, 0);
	const size_t n = 731; /* 2025-01-01 .. 2027-01-01 */
	struct bk_snapshot *s = series(t0, 86400, n);
	const uint64_t now = s[n - 1].creation_time + 3600;
	bool *keep = calloc(n, sizeof(*keep));
	struct bk_retention_why *why = calloc(n, sizeof(*why));
	static const struct {
		struct bk_retention p;
		size_t kept;
	} table[] = {
		{ { .last = 7 }, 7 },
		{ { .daily = 14 }, 14 },
		{ { .last = 7, .daily = 14 }, 14 },
		{ { .weekly = 8 }, 8 },
		{ { .monthly = 12 }, 12 },
		{ { .yearly = 3 }, 3 },        /* 2027, 2026, 2025 */
		{ { .yearly = 10 }, 3 },       /* only three years have one */
		{ { .daily = 5000 }, 731 },    /* more than there are */
		{ { .hourly = 24 }, 24 },      /* one a day: 24 hours with one */
		/* 7 days, then Sundays of 8 weeks (one is among the 7 days,
		 * and 2027-01-01 is a Friday, its week's newest: 6 more),
		 * month ends February to November 2026 (10 more) */
		{ { .daily = 7, .weekly = 8, .monthly = 12 }, 7 + 6 + 10 },
	};

	(void)state;
	assert_non_null(keep);
	assert_non_null(why);
	for (size_t t = 0; t < sizeof(table) / sizeof(table[0]); t++) {
		bk_retention_explain(s, n, &table[t].p, now, keep, why);
		if (count_kept(keep, n) != table[t].kept)
			fail_msg("row %zu: kept %zu, expected %zu", t,
				 count_kept(keep, n), table[t].kept);
		/* whatever a rule kept, the newest is among them */
		assert_true(keep[n - 1]);
	}

	/* daily 14: exactly the newest 14 */
	bk_retention_explain(s, n, &(struct bk_retention){ .daily = 14 }, now,
			     keep, why);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(keep[i], i >= n - 14);
		assert_int_equal(why[i].rules, i >= n - 14 ? BK_KEEP_DAILY : 0u);
	}

	/* weekly: the newest snapshot is the Friday 2027-01-01; the others
	 * kept are Sundays, the last day of their ISO week */
	bk_retention_select(s, n, &(struct bk_retention){ .weekly = 8 }, now,
			    keep);
	for (size_t i = 0; i < n - 1; i++) {
		if (!keep[i])
			continue;
		assert_int_equal(at(s[i].creation_time).tm_wday, 0);
		assert_true(i >= n - 1 - 7 * 7 - 3);
	}

	/* monthly: the last day of each month, February to December 2026 */
	bk_retention_select(s, n, &(struct bk_retention){ .monthly = 12 }, now,
			    keep);
	for (size_t i = 0; i < n - 1; i++) {
		struct tm a = at(s[i].creation_time),
			  b = at(s[i + 1].creation_time);

		assert_int_equal(keep[i], a.tm_mon != b.tm_mon &&
						  a.tm_year == 126 && a.tm_mon >= 1);
	}

	/* yearly: 2027-01-01, 2026-12-31, 2025-12-31 */
	bk_retention_select(s, n, &(struct bk_retention){ .yearly = 3 }, now,
			    keep);
	assert_true(keep[n - 1] && keep[n - 2] && keep[n - 2 - 365]);
	assert_int_equal(count_kept(keep, n), 3);
	free(s);
	free(keep);
	free(why);
}

/* Ninety days of hourly snapshots at minute 17. */
static void months_of_hourlies(void **state)
{
	const size_t n = 90 * 24;
	struct bk_snapshot *s = series(utc(2026, 3, 1, 0, 17, 0), 3600, n);
	const uint64_t now = s[n - 1].creation_time + 60;
	bool *keep = calloc(n, sizeof(*keep));
	size_t days = 0;

	(void)state;
	assert_non_null(keep);
	bk_retention_select(s, n, &(struct bk_retention){ .hourly = 48 }, now,
			    keep);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(keep[i], i >= n - 48);

	/* daily 30: the 23:17 snapshot of each of the last 30 days (the
	 * newest is itself 23:17, the last day being complete) */
	bk_retention_select(s, n, &(struct bk_retention){ .daily = 30 }, now,
			    keep);
	for (size_t i = 0; i < n; i++) {
		if (!keep[i])
			continue;
		days++;
		assert_int_equal(at(s[i].creation_time).tm_hour, 23);
	}
	assert_int_equal(days, 30);

	/* hourly 24 + daily 7: 24 + 6 more (today's 23:17 is shared) */
	bk_retention_select(s, n,
			    &(struct bk_retention){ .hourly = 24, .daily = 7 },
			    now, keep);
	assert_int_equal(count_kept(keep, n), 30);

	/* monthly 6: March, April, May (its last hour, May 29 23:17) */
	bk_retention_select(s, n, &(struct bk_retention){ .monthly = 6 }, now,
			    keep);
	assert_int_equal(count_kept(keep, n), 3);
	assert_true(keep[31 * 24 - 1] && keep[61 * 24 - 1] && keep[n - 1]);
	free(s);
	free(keep);
}

/* Bucket edges. */
static void edges(void **state)
{
	struct bk_snapshot s[6];
	bool keep[6];

	(void)state;
	memset(s, 0, sizeof(s));
	for (size_t i = 0; i < 6; i++)
		s[i].toguid = 1 + i;
	/* Sunday 23:59:59 and Monday 00:00:00: two ISO weeks */
	s[0].creation_time = utc(2026, 11, 22, 23, 59, 59);
	s[1].creation_time = utc(2026, 11, 23, 0, 0, 0);
	bk_retention_select(s, 2, &(struct bk_retention){ .weekly = 2 },
			    s[1].creation_time, keep);
	assert_true(keep[0] && keep[1]);
	/* Monday 2026-12-28 .. Sunday 2027-01-03 is one ISO week (2026-W53):
	 * one bucket across New Year, but two years and months */
	s[0].creation_time = utc(2026, 12, 21, 12, 0, 0); /* the week before */
	s[1].creation_time = utc(2026, 12, 28, 0, 0, 0);
	s[2].creation_time = utc(2026, 12, 31, 23, 0, 0);
	s[3].creation_time = utc(2027, 1, 3, 23, 59, 59);
	bk_retention_select(s, 4, &(struct bk_retention){ .weekly = 2 },
			    s[3].creation_time, keep);
	assert_true(keep[0] && !keep[1] && !keep[2] && keep[3]);
	bk_retention_select(s, 4, &(struct bk_retention){ .yearly = 2 },
			    s[3].creation_time, keep);
	assert_true(!keep[0] && !keep[1] && keep[2] && keep[3]);
	bk_retention_select(s, 4, &(struct bk_retention){ .monthly = 5 },
			    s[3].creation_time, keep);
	assert_true(!keep[0] && !keep[1] && keep[2] && keep[3]);
	/* a leap day is its own day and belongs to February */
	s[0].creation_time = utc(2028, 2, 28, 10, 0, 0);
	s[1].creation_time = utc(2028, 2, 29, 10, 0, 0);
	s[2].creation_time = utc(2028, 2, 29, 11, 0, 0);
	s[3].creation_time = utc(2028, 3, 1, 0, 0, 0);
	bk_retention_select(s, 4, &(struct bk_retention){ .daily = 3 },
			    s[3].creation_time, keep);
	assert_true(keep[0] && !keep[1] && keep[2] && keep[3]);
	bk_retention_select(s, 4, &(struct bk_retention){ .monthly = 2 },
			    s[3].creation_time, keep);
	assert_true(!keep[0] && !keep[1] && keep[2] && keep[3]);
	/* 2100 is not a leap year: Feb 28 then Mar 1 */
	s[0].creation_time = utc(2100, 2, 28, 23, 0, 0);
	s[1].creation_time = utc(2100, 3, 1, 1, 0, 0);
	bk_retention_select(s, 2, &(struct bk_retention){ .monthly = 2 },
			    s[1].creation_time, keep);
	assert_true(keep[0] && keep[1]);
	/* equal times: the one listed later counts as newer */
	s[0].creation_time = s[1].creation_time = s[2].creation_time =
		utc(2026, 5, 5, 5, 5, 5);
	bk_retention_select(s, 3, &(struct bk_retention){ .last = 1 },
			    s[0].creation_time, keep);
	assert_true(!keep[0] && !keep[1] && keep[2]);
	bk_retention_select(s, 3, &(struct bk_retention){ .last = 2 },
			    s[0].creation_time, keep);
	assert_true(!keep[0] && keep[1] && keep[2]);
	/* unsorted input is fine */
	s[0].creation_time = utc(2026, 5, 7, 0, 0, 0);
	s[1].creation_time = utc(2026, 5, 5, 0, 0, 0);
	s[2].creation_time = utc(2026, 5, 6, 0, 0, 0);
	bk_retention_select(s, 3, &(struct bk_retention){ .daily = 2 },
			    s[0].creation_time, keep);
	assert_true(keep[0] && !keep[1] && keep[2]);
	/* time 0 and the far future do not break the buckets */
	s[0].creation_time = 0;
	s[1].creation_time = UINT64_MAX / 2;
	bk_retention_select(s, 2, &(struct bk_retention){ .yearly = 5 },
			    UINT64_MAX, keep);
	assert_true(keep[0] && keep[1]);
}

static void future(void **state)
{
	struct bk_snapshot *s = series(utc(2026, 6, 1, 0, 0, 0), 86400, 10);
	struct bk_retention_why why[10];
	bool keep[10];

	(void)state;
	/* "now" is day 5: days 6..9 are in the future and stay; the rules
	 * count from day 5 */
	bk_retention_explain(s, 10, &(struct bk_retention){ .last = 2 },
			     s[5].creation_time, keep, why);
	for (size_t i = 0; i < 10; i++)
		assert_int_equal(keep[i], i >= 4);
	assert_int_equal(why[4].rules, BK_KEEP_LAST);
	assert_int_equal(why[5].rules, BK_KEEP_LAST);
	assert_int_equal(why[7].rules, BK_KEEP_FUTURE);
	free(s);
}

/*
 * A chain: a full every 7 days, incrementals from the previous snapshot in
 * between (guid i+1 from guid i).
 */
static struct bk_snapshot *chains(size_t n)
{
	struct bk_snapshot *s = series(utc(2026, 1, 5, 1, 0, 0), 86400, n);

	for (size_t i = 0; i < n; i++)
		if (i % 7)
			s[i].fromguid = s[i - 1].toguid;
	return s;
}

static void dependency_closure(void **state)
{
	const size_t n = 30;
	struct bk_snapshot *s = chains(n);
	struct bk_retention_why why[30];
	bool keep[30];

	(void)state;
	/* the newest (day 29, incremental, its full is day 28) */
	bk_retention_explain(s, n, &(struct bk_retention){ .last = 1 },
			     s[n - 1].creation_time, keep, why);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(keep[i], i >= 28);
	assert_int_equal(why[28].rules, BK_KEEP_NEEDED);
	assert_int_equal(why[28].needed_by, 29);
	assert_int_equal(why[29].needed_by, SIZE_MAX);

	/* weekly 2 keeps day 27 (Sunday, the end of the chain 21..27) and
	 * day 29: the chain 21..27 whole, and 28 */
	bk_retention_explain(s, n, &(struct bk_retention){ .weekly = 2 },
			     s[n - 1].creation_time, keep, why);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(keep[i], i >= 21);
	assert_int_equal(why[27].rules, BK_KEEP_WEEKLY);
	assert_int_equal(why[26].rules, BK_KEEP_NEEDED);
	assert_int_equal(why[26].needed_by, 27);
	assert_int_equal(why[21].needed_by, 22);

	/* a kept snapshot whose source is not listed (another dataset, or
	 * forgotten): nothing more */
	s[14].fromguid = 999999;
	bk_retention_select(s, n, &(struct bk_retention){ .last = 1 },
			    s[n - 1].creation_time, keep);
	assert_int_equal(count_kept(keep, n), 2);

	/* a cycle of guids (a damaged listing) ends */
	s[0].fromguid = s[1].toguid;
	s[1].fromguid = s[0].toguid;
	bk_retention_select(s, 2, &(struct bk_retention){ .last = 1 },
			    s[1].creation_time, keep);
	assert_true(keep[0] && keep[1]);
	free(s);
}

/* One long incremental chain of a year of dailies, a full on the first
 * day only: any kept snapshot keeps every older one. */
static void one_long_chain(void **state)
{
	const size_t n = 365;
	struct bk_snapshot *s = series(utc(2026, 1, 1, 3, 0, 0), 86400, n);
	bool *keep = calloc(n, sizeof(*keep));

	(void)state;
	assert_non_null(keep);
	for (size_t i = 1; i < n; i++)
		s[i].fromguid = s[i - 1].toguid;
	bk_retention_select(s, n, &(struct bk_retention){ .daily = 1 },
			    s[n - 1].creation_time, keep);
	assert_int_equal(count_kept(keep, n), n);
	/* the input order reversed: the same verdicts */
	for (size_t i = 0; i < n / 2; i++) {
		struct bk_snapshot t = s[i];

		s[i] = s[n - 1 - i];
		s[n - 1 - i] = t;
	}
	bk_retention_select(s, n, &(struct bk_retention){ .daily = 1 },
			    s[0].creation_time, keep);
	assert_int_equal(count_kept(keep, n), n);
	free(s);
	free(keep);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(empty_and_all_zero),
		cmocka_unit_test(years_of_dailies),
		cmocka_unit_test(months_of_hourlies),
		cmocka_unit_test(edges),
		cmocka_unit_test(future),
		cmocka_unit_test(dependency_closure),
		cmocka_unit_test(one_long_chain),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
