/* Receivers: kind names; the zfs receiver holds the last 1024 bytes of a
 * stream back until finish (a fake zfs that copies its input to a file
 * shows what zfs receive has been given), passes everything in order at
 * finish, and gives nothing more on abort; auto picks the local pool when
 * the zfs command is missing or does not know the pool, zfs when it does;
 * targets that are not dataset names are refused. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "backup/lpool.h"
#include "backup/receiver.h"

static char dir[64], zfs[128], got[128], pooldir[128];

static const char fake[] =
	"#!/bin/sh\n"
	"case $1 in\n"
	"list) [ \"$FAKE_KNOWS\" = \"$5\" ] && { echo \"$5\"; exit 0; }\n"
	"      echo \"cannot open '$5': dataset does not exist\" >&2; exit 1 ;;\n"
	"receive) cat >\"$FAKE_DIR/got\" ;;\n"
	"*) exit 2 ;;\n"
	"esac\n";

static int setup(void **state)
{
	struct bk_lpool *p;
	struct bk_error err;
	FILE *f;

	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/zbak-rcv-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(zfs, sizeof(zfs), "%s/zfs", dir);
	snprintf(got, sizeof(got), "%s/got", dir);
	snprintf(pooldir, sizeof(pooldir), "%s/pool", dir);
	f = fopen(zfs, "w");
	if (!f)
		return -1;
	fputs(fake, f);
	fclose(f);
	chmod(zfs, 0755);
	setenv("ZBAK_ZFS", zfs, 1);
	setenv("FAKE_DIR", dir, 1);
	if (bk_lpool_open(pooldir, true, &p, &err) != BK_OK) {
		fprintf(stderr, "%s\n", err.msg);
		return -1;
	}
	bk_lpool_close(p);
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static long size_of(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

/* Wait until the fake has written at least n bytes (it copies as it
 * reads), then a little more, and return the size. */
static long settle(long n)
{
	for (int i = 0; i < 300 && size_of(got) < n; i++)
		usleep(10000);
	usleep(200000);
	return size_of(got);
}

static void kinds(void **state)
{
	enum bk_receiver_kind k;
	struct bk_error err;

	(void)state;
	assert_int_equal(bk_receiver_kind_parse("auto", &k, &err), BK_OK);
	assert_int_equal(k, BK_RECEIVER_AUTO);
	assert_int_equal(bk_receiver_kind_parse("zfs", &k, &err), BK_OK);
	assert_int_equal(k, BK_RECEIVER_ZFS);
	assert_int_equal(bk_receiver_kind_parse("local", &k, &err), BK_OK);
	assert_int_equal(k, BK_RECEIVER_LOCAL);
	assert_int_equal(bk_receiver_kind_parse("ZFS", &k, &err), BK_ERR_USAGE);
	assert_non_null(strstr(err.msg, "auto, zfs or local"));
	assert_string_equal(bk_receiver_kind_name(BK_RECEIVER_LOCAL), "local");
}

static void hold_back(void **state)
{
	struct bk_receiver_opts o = { .kind = BK_RECEIVER_ZFS };
	struct bk_receiver_result res;
	struct bk_receiver *rv;
	struct bk_error err;
	static uint8_t data[300000];
	size_t pieces[] = { 1, 100, 1000, 23, 5000, 70000, 3, 1024, 1025 };
	size_t off = 0;
	FILE *f;

	(void)state;
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 131 + (i >> 9));
	assert_int_equal(bk_receiver_open("p/fs", &o, &rv, &err), BK_OK);
	assert_int_equal(bk_receiver_kind(rv), BK_RECEIVER_ZFS);

	/* less than the hold-back: nothing reaches zfs */
	unlink(got);
	assert_int_equal(bk_receiver_begin(rv, &err), BK_OK);
	assert_int_equal(bk_receiver_write(rv, data, 1000, &err), BK_OK);
	assert_int_equal(settle(0), 0);
	assert_int_equal(bk_receiver_finish(rv, &res, &err), BK_OK);
	assert_int_equal(res.bytes, 1000);
	assert_int_equal(size_of(got), 1000);

	/* pieces of every size: all but the last 1024 bytes, in order */
	unlink(got);
	assert_int_equal(bk_receiver_begin(rv, &err), BK_OK);
	for (size_t i = 0; off < sizeof(data); i++) {
		size_t n = pieces[i % (sizeof(pieces) / sizeof(pieces[0]))];

		if (n > sizeof(data) - off)
			n = sizeof(data) - off;
		assert_int_equal(bk_receiver_write(rv, data + off, n, &err),
				 BK_OK);
		off += n;
	}
	assert_int_equal(settle((long)sizeof(data) - BK_RECEIVER_HOLD_BACK),
			 (long)sizeof(data) - BK_RECEIVER_HOLD_BACK);
	assert_int_equal(bk_receiver_finish(rv, &res, &err), BK_OK);
	assert_int_equal(res.bytes, sizeof(data));
	{
		static uint8_t back[sizeof(data) + 1];

		f = fopen(got, "rb");
		assert_non_null(f);
		assert_int_equal(fread(back, 1, sizeof(back), f), sizeof(data));
		fclose(f);
		assert_memory_equal(back, data, sizeof(data));
	}

	/* abort: what was held back never goes */
	unlink(got);
	assert_int_equal(bk_receiver_begin(rv, &err), BK_OK);
	assert_int_equal(bk_receiver_write(rv, data, 50000, &err), BK_OK);
	assert_int_equal(settle(50000 - BK_RECEIVER_HOLD_BACK),
			 50000 - BK_RECEIVER_HOLD_BACK);
	bk_receiver_abort(rv);
	assert_int_equal(size_of(got), 50000 - BK_RECEIVER_HOLD_BACK);
	/* no stream open now */
	assert_int_equal(bk_receiver_write(rv, data, 1, &err), BK_ERR_INTERNAL);
	assert_int_equal(bk_receiver_finish(rv, &res, &err), BK_ERR_INTERNAL);
	/* a stream left open is aborted by close */
	assert_int_equal(bk_receiver_begin(rv, &err), BK_OK);
	assert_int_equal(bk_receiver_begin(rv, &err), BK_ERR_INTERNAL);
	bk_receiver_close(rv);
}

static void auto_choice(void **state)
{
	struct bk_receiver_opts o = { .kind = BK_RECEIVER_AUTO,
				      .pool_dir = pooldir };
	struct bk_receiver *rv;
	struct bk_error err;

	(void)state;
	/* zfs is there but does not know pool p */
	unsetenv("FAKE_KNOWS");
	assert_int_equal(bk_receiver_open("p/fs", &o, &rv, &err), BK_OK);
	assert_int_equal(bk_receiver_kind(rv), BK_RECEIVER_LOCAL);
	assert_non_null(strstr(bk_receiver_describe(rv), pooldir));
	bk_receiver_close(rv);
	/* it knows it */
	setenv("FAKE_KNOWS", "p", 1);
	assert_int_equal(bk_receiver_open("p/fs", &o, &rv, &err), BK_OK);
	assert_int_equal(bk_receiver_kind(rv), BK_RECEIVER_ZFS);
	bk_receiver_close(rv);
	/* no zfs command */
	setenv("ZBAK_ZFS", "/nonexistent/zfs", 1);
	assert_int_equal(bk_receiver_open("p/fs", &o, &rv, &err), BK_OK);
	assert_int_equal(bk_receiver_kind(rv), BK_RECEIVER_LOCAL);
	bk_receiver_close(rv);
	o.kind = BK_RECEIVER_ZFS;
	assert_int_equal(bk_receiver_open("p/fs", &o, &rv, &err),
			 BK_ERR_NOTFOUND);
	assert_null(rv);
	assert_non_null(strstr(err.msg, "'/nonexistent/zfs' was not found"));
	setenv("ZBAK_ZFS", zfs, 1);
	unsetenv("FAKE_KNOWS");
	/* no local pool */
	o.kind = BK_RECEIVER_LOCAL;
	o.pool_dir = "/nonexistent/pool";
	assert_int_equal(bk_receiver_open("p/fs", &o, &rv, &err),
			 BK_ERR_NOTFOUND);
	assert_non_null(strstr(err.msg, "no local pool in /nonexistent/pool"));
}

static void targets(void **state)
{
	static const char *const bad[] = { "", "p/fs@s", "p/fs#b", "/p", "p/",
					   "p//fs", "-F" };
	struct bk_receiver_opts o = { .kind = BK_RECEIVER_ZFS };
	struct bk_receiver *rv;
	struct bk_error err;
	char longname[300];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(bk_receiver_open(bad[i], &o, &rv, &err),
				 BK_ERR_USAGE);
		assert_null(rv);
	}
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_int_equal(bk_receiver_open(longname, &o, &rv, &err),
			 BK_ERR_USAGE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(kinds),
		cmocka_unit_test(hold_back),
		cmocka_unit_test(auto_choice),
		cmocka_unit_test(targets),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
