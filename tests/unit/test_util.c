/* util helpers: hex both ways, little-endian get/put, files replaced whole
 * (and no temporary left behind when that fails), the dataset-below test,
 * the monotonic clock. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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

#include "backup/clock.h"
#include "backup/util.h"
#include "util/le.h"

static void hex_round_trip(void **state)
{
	uint8_t in[256], out[256];
	char h[2 * sizeof(in) + 1];

	(void)state;
	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)i;
	bk_hex(in, sizeof(in), h);
	assert_int_equal(strlen(h), 2 * sizeof(in));
	assert_memory_equal(h, "000102", 6);
	assert_string_equal(h + 2 * 250, "fafbfcfdfeff");
	assert_true(bk_unhex(h, sizeof(in), out));
	assert_memory_equal(in, out, sizeof(in));

	bk_hex(in, 0, h);
	assert_string_equal(h, "");
}

static void unhex_refuses(void **state)
{
	uint8_t out[2];

	(void)state;
	assert_true(bk_unhex("0aff", 2, out));
	assert_int_equal(out[0], 0x0a);
	assert_int_equal(out[1], 0xff);
	/* lower case only, as every writer writes it */
	assert_false(bk_unhex("0AFF", 2, out));
	assert_false(bk_unhex("0g00", 2, out));
	assert_false(bk_unhex("0a 0", 2, out));
	/* one digit of either case (ids and ETags): its value or -1 */
	assert_int_equal(bk_hexval('0'), 0);
	assert_int_equal(bk_hexval('f'), 15);
	assert_int_equal(bk_hexval('F'), 15);
	assert_int_equal(bk_hexval('g'), -1);
	assert_int_equal(bk_hexval('\0'), -1);
	/* short input: the terminator is no digit */
	assert_false(bk_unhex("0a", 2, out));
	/* what follows the digits is not looked at */
	assert_true(bk_unhex("0aff\n", 2, out));
	assert_true(bk_unhex("0affzz", 2, out));
}

static void little_endian(void **state)
{
	uint8_t b[8];

	(void)state;
	put_le32(b, 0x04030201u);
	assert_memory_equal(b, "\x01\x02\x03\x04", 4);
	assert_int_equal(get_le32(b), 0x04030201u);
	put_le64(b, UINT64_C(0x0807060504030201));
	assert_memory_equal(b, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
	assert_true(get_le64(b) == UINT64_C(0x0807060504030201));
	put_le64(b, UINT64_MAX);
	assert_true(get_le64(b) == UINT64_MAX);
	assert_int_equal(get_le32(b + 4), UINT32_MAX);
	/* unaligned */
	{
		uint8_t u[13] = { 0 };

		put_le64(u + 3, UINT64_C(0x1122334455667788));
		assert_int_equal(u[3], 0x88);
		assert_int_equal(u[10], 0x11);
		assert_true(get_le64(u + 3) == UINT64_C(0x1122334455667788));
		put_le32(u + 1, 0xdeadbeefu);
		assert_int_equal(get_le32(u + 1), 0xdeadbeefu);
	}
}

static void dataset_below(void **state)
{
	(void)state;
	assert_true(bk_dataset_below("pool/a/b", "pool/a"));
	assert_true(bk_dataset_below("pool/a/b/c", "pool/a"));
	assert_true(bk_dataset_below("pool/a", "pool"));
	assert_false(bk_dataset_below("pool/ab", "pool/a"));
	assert_false(bk_dataset_below("pool/a", "pool/a"));
	assert_false(bk_dataset_below("pool/a@s", "pool/a"));
	assert_false(bk_dataset_below("pool", "pool/a"));
	assert_false(bk_dataset_below("other/a/b", "pool/a"));
	assert_false(bk_dataset_below("pool2/a", "pool"));
}

/* Entries of dir other than "." and "..": their count, and whether one
 * starts with prefix. */
static int entries(const char *dir, const char *prefix, bool *seen)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	*seen = false;
	assert_non_null(d);
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		n++;
		if (!strncmp(de->d_name, prefix, strlen(prefix)))
			*seen = true;
	}
	closedir(d);
	return n;
}

static void read_back(int dfd, const char *name, const char *want)
{
	char buf[64];
	int fd = openat(dfd, name, O_RDONLY);
	ssize_t n;

	assert_true(fd >= 0);
	n = read(fd, buf, sizeof(buf));
	close(fd);
	assert_int_equal(n, strlen(want));
	assert_memory_equal(buf, want, (size_t)n);
}

/* bk_afile_stream: the bytes land whole across odd-sized writes; every
 * 8 MiB written goes to writeback and the steps two behind are dropped; a
 * pipe cannot do it and is simply written; a bad descriptor is an error,
 * not "cannot". */
static void afile_stream(void **state)
{
	char dir[] = "/tmp/zbak-util-XXXXXX", path[64];
	const size_t piece = 300007, total = 40u << 20;
	uint8_t *buf = malloc(piece), *back = malloc(piece);
	struct bk_afile f;
	struct stat st;
	int dfd, fds[2], fd;

	(void)state;
	assert_non_null(buf);
	assert_non_null(back);
	assert_non_null(mkdtemp(dir));
	dfd = open(dir, O_RDONLY | O_DIRECTORY);
	assert_true(dfd >= 0);
	assert_int_equal(bk_afile_open(&f, dfd, ".tmp-s-", 0600), 0);
	for (size_t done = 0; done < total;) {
		size_t n = total - done < piece ? total - done : piece;

		for (size_t i = 0; i < n; i++)
			buf[i] = (uint8_t)((done + i) * 7 >> 3);
		assert_int_equal(bk_afile_stream(&f, buf, n), 0);
		done += n;
		assert_int_equal(f.off, done);
		/* whole 8 MiB steps handed over, two still in flight */
		assert_int_equal(f.kicked, done / (8u << 20) * (8u << 20));
		assert_true(f.kicked - f.dropped <= (16u << 20));
		assert_true(f.kicked < (16u << 20) || f.dropped >= f.kicked - (16u << 20));
	}
	assert_int_equal(f.dropped, 24u << 20);
	assert_int_equal(bk_afile_close(&f, true), 0);
	assert_int_equal(bk_afile_commit(&f, "s", 0), 0);
	snprintf(path, sizeof(path), "%s/s", dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal((size_t)st.st_size, total);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	for (size_t done = 0; done < total;) {
		size_t n = total - done < piece ? total - done : piece;

		assert_int_equal(read(fd, back, n), (ssize_t)n);
		for (size_t i = 0; i < n; i++)
			if (back[i] != (uint8_t)((done + i) * 7 >> 3))
				fail_msg("byte %zu differs", done + i);
		done += n;
	}
	close(fd);
	unlink(path);
	close(dfd);
	rmdir(dir);

	/* a pipe: no writeback there, the bytes still go through */
	assert_int_equal(pipe(fds), 0);
	assert_int_equal(bk_writeback(fds[1], 0, 0, false), 1);
	f = (struct bk_afile){ .dfd = AT_FDCWD, .fd = fds[1] };
	memset(buf, 'p', 4096);
	for (int i = 0; i < 2; i++) /* 8 KiB: fits in the pipe */
		assert_int_equal(bk_afile_stream(&f, buf, 4096), 0);
	close(fds[1]);
	assert_int_equal(read(fds[0], back, 8192), 8192);
	close(fds[0]);

	/* not a descriptor at all: an error, for the caller to fail on */
	assert_int_equal(bk_writeback(-1, 0, 0, true), -1);
	assert_int_equal(errno, EBADF);
	free(buf);
	free(back);
}

static void afile(void **state)
{
	char dir[] = "/tmp/zbak-util-XXXXXX";
	struct bk_afile f;
	struct stat st;
	bool tmp_seen;
	int dfd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	dfd = open(dir, O_RDONLY | O_DIRECTORY);
	assert_true(dfd >= 0);

	/* a new file, then replaced */
	assert_int_equal(bk_afile_open(&f, dfd, ".tmp-x-", 0600), 0);
	assert_int_equal(strncmp(f.tmp, ".tmp-x-", 7), 0);
	assert_int_equal(strlen(f.tmp), 7 + 16);
	assert_int_equal(bk_afile_write(&f, "one", 3), 0);
	assert_int_equal(bk_afile_close(&f, true), 0);
	assert_int_equal(bk_afile_commit(&f, "x", BK_AFILE_SYNC_DIR), 0);
	bk_afile_abort(&f); /* after a commit: nothing to do */
	read_back(dfd, "x", "one");
	assert_int_equal(fstatat(dfd, "x", &st, 0), 0);
	assert_int_equal(st.st_mode & 0777, 0600);

	assert_int_equal(bk_afile_open(&f, dfd, ".tmp-x-", 0600), 0);
	assert_int_equal(bk_afile_write(&f, "two!", 4), 0);
	assert_int_equal(bk_afile_close(&f, false), 0);
	assert_int_equal(bk_afile_commit(&f, "x", 0), 0);
	read_back(dfd, "x", "two!");
	assert_int_equal(entries(dir, ".tmp-", &tmp_seen), 1);
	assert_false(tmp_seen);

	/* NOREPLACE: EEXIST, the old file stays, no temporary is left */
	assert_int_equal(bk_afile_open(&f, dfd, ".tmp-x-", 0600), 0);
	assert_int_equal(bk_afile_write(&f, "three", 5), 0);
	assert_int_equal(bk_afile_close(&f, true), 0);
	assert_int_equal(bk_afile_commit(&f, "x", BK_AFILE_NOREPLACE), -1);
	assert_int_equal(errno, EEXIST);
	bk_afile_abort(&f);
	assert_int_equal(errno, EEXIST); /* kept for the caller's message */
	read_back(dfd, "x", "two!");
	assert_int_equal(entries(dir, ".tmp-", &tmp_seen), 1);
	assert_false(tmp_seen);

	/* NOREPLACE to a new name works */
	assert_int_equal(bk_afile_open(&f, dfd, ".tmp-y-", 0600), 0);
	assert_int_equal(bk_afile_close(&f, false), 0);
	assert_int_equal(bk_afile_commit(&f, "y", BK_AFILE_NOREPLACE), 0);
	read_back(dfd, "y", "");

	/* a failed rename (into a missing directory): the temporary goes */
	assert_int_equal(bk_afile_open(&f, dfd, ".tmp-z-", 0600), 0);
	assert_int_equal(bk_afile_write(&f, "z", 1), 0);
	assert_int_equal(bk_afile_close(&f, false), 0);
	assert_int_equal(bk_afile_commit(&f, "nodir/z", 0), -1);
	assert_int_equal(errno, ENOENT);
	bk_afile_abort(&f);
	assert_int_equal(entries(dir, ".tmp-", &tmp_seen), 2);
	assert_false(tmp_seen);

	/* abandoned while open: the temporary goes */
	assert_int_equal(bk_afile_open(&f, dfd, ".tmp-w-", 0600), 0);
	assert_int_equal(bk_afile_write(&f, "w", 1), 0);
	bk_afile_abort(&f);
	assert_int_equal(f.fd, -1);
	assert_int_equal(entries(dir, ".tmp-", &tmp_seen), 2);
	assert_false(tmp_seen);

	/* a write to a closed descriptor fails; abort still cleans up */
	assert_int_equal(bk_afile_open(&f, dfd, ".tmp-v-", 0600), 0);
	close(f.fd);
	assert_int_equal(bk_afile_write(&f, "v", 1), -1);
	assert_int_equal(errno, EBADF);
	f.fd = -1;
	bk_afile_abort(&f);
	assert_int_equal(entries(dir, ".tmp-", &tmp_seen), 2);
	assert_false(tmp_seen);

	/* paths relative to the working directory (AT_FDCWD) */
	{
		char prefix[64], target[64];

		snprintf(prefix, sizeof(prefix), "%s/.y.zbak-", dir);
		snprintf(target, sizeof(target), "%s/y", dir);
		assert_int_equal(bk_afile_open(&f, AT_FDCWD, prefix, 0600), 0);
		assert_int_equal(bk_afile_write(&f, "cwd", 3), 0);
		assert_int_equal(bk_afile_close(&f, true), 0);
		assert_int_equal(bk_afile_commit(&f, target, 0), 0);
		read_back(dfd, "y", "cwd");
	}

	/* a directory that cannot take the file: open fails, nothing made */
	assert_int_equal(bk_afile_open(&f, dfd, "nodir/.tmp-", 0600), -1);
	assert_int_equal(errno, ENOENT);
	bk_afile_abort(&f);

	unlinkat(dfd, "x", 0);
	unlinkat(dfd, "y", 0);
	close(dfd);
	assert_int_equal(rmdir(dir), 0);
}

static void mono_clock(void **state)
{
	double a = bk_mono(), b = bk_mono();

	(void)state;
	assert_true(a > 0);
	assert_true(b >= a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(hex_round_trip),
		cmocka_unit_test(unhex_refuses),
		cmocka_unit_test(little_endian),
		cmocka_unit_test(dataset_below),
		cmocka_unit_test(afile),
		cmocka_unit_test(afile_stream),
		cmocka_unit_test(mono_clock),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
