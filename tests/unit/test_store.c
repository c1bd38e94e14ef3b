/* store, local directory backend: put/get/get_range/head/list/delete in a
 * temporary directory, put_new (also raced by threads), key validation,
 * file modes, missing stores, buffer limits, no temporaries left behind. */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
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

#include "backup/store.h"

struct fixture {
	char dir[64];
	struct bk_store *s;
};

static void rm_rf(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	char sub[4096];

	if (!d) {
		unlink(path);
		return;
	}
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
		rm_rf(sub);
	}
	closedir(d);
	rmdir(path);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct bk_error err;
	char url[128];

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/zbak-store-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(url, sizeof(url), "%s/repo", f->dir);
	if (bk_store_open(url, true, &f->s, &err) != BK_OK) {
		fprintf(stderr, "%s\n", err.msg);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	bk_store_close(f->s);
	rm_rf(f->dir);
	free(f);
	return 0;
}

/* Count files under path whose name starts with ".tmp-". */
static int count_tmp(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	char sub[4096];
	int n = 0;

	if (!d)
		return 0;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (!strncmp(de->d_name, ".tmp-", 5))
			n++;
		snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
		n += count_tmp(sub);
	}
	closedir(d);
	return n;
}

static void put_get_head_delete(void **state)
{
	struct fixture *f = *state;
	struct bk_buf b;
	struct bk_error err;
	uint64_t size = 0;
	char path[256];
	struct stat st;

	bk_buf_init(&b, 1 << 20);
	assert_int_equal(bk_store_put(f->s, "data/ab/ab12", "hello world", 11,
				      &err), BK_OK);
	assert_int_equal(bk_store_get(f->s, "data/ab/ab12", &b, &err), BK_OK);
	assert_int_equal(b.len, 11);
	assert_memory_equal(b.data, "hello world", 11);
	assert_int_equal(bk_store_head(f->s, "data/ab/ab12", &size, &err),
			 BK_OK);
	assert_int_equal(size, 11);
	/* replace */
	assert_int_equal(bk_store_put(f->s, "data/ab/ab12", "bye", 3, &err),
			 BK_OK);
	bk_buf_reset(&b);
	assert_int_equal(bk_store_get(f->s, "data/ab/ab12", &b, &err), BK_OK);
	assert_int_equal(b.len, 3);
	assert_memory_equal(b.data, "bye", 3);
	/* an empty object */
	assert_int_equal(bk_store_put(f->s, "empty", NULL, 0, &err), BK_OK);
	bk_buf_reset(&b);
	assert_int_equal(bk_store_get(f->s, "empty", &b, &err), BK_OK);
	assert_int_equal(b.len, 0);
	/* modes */
	snprintf(path, sizeof(path), "%s/repo/data/ab/ab12", f->dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	snprintf(path, sizeof(path), "%s/repo/data/ab", f->dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	snprintf(path, sizeof(path), "%s/repo", f->dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	/* delete, twice */
	assert_int_equal(bk_store_delete(f->s, "data/ab/ab12", &err), BK_OK);
	assert_int_equal(bk_store_delete(f->s, "data/ab/ab12", &err), BK_OK);
	assert_int_equal(bk_store_delete(f->s, "no/such/dir/x", &err), BK_OK);
	bk_buf_reset(&b);
	assert_int_equal(bk_store_get(f->s, "data/ab/ab12", &b, &err),
			 BK_ERR_NOTFOUND);
	assert_string_equal(err.msg, "get data/ab/ab12: no such object");
	assert_int_equal(bk_store_head(f->s, "data/ab/ab12", &size, &err),
			 BK_ERR_NOTFOUND);
	assert_int_equal(bk_store_get(f->s, "nodir/x", &b, &err),
			 BK_ERR_NOTFOUND);
	/* a directory is not an object */
	assert_int_equal(bk_store_get(f->s, "data/ab", &b, &err),
			 BK_ERR_NOTFOUND);
	assert_int_equal(bk_store_head(f->s, "data", &size, &err),
			 BK_ERR_NOTFOUND);
	/* a file is not a directory */
	assert_int_equal(bk_store_get(f->s, "empty/x", &b, &err),
			 BK_ERR_NOTFOUND);
	assert_int_equal(bk_store_put(f->s, "empty/x", "1", 1, &err),
			 BK_ERR_IO);
	assert_non_null(strstr(err.msg, "put empty/x: "));
	assert_int_equal(count_tmp(f->dir), 0);
	bk_buf_release(&b);
}

static void ranges(void **state)
{
	struct fixture *f = *state;
	struct bk_buf b;
	struct bk_error err;

	bk_buf_init(&b, 1 << 20);
	assert_int_equal(bk_store_put(f->s, "packs/p1", "0123456789", 10,
				      &err), BK_OK);
	assert_int_equal(bk_store_get_range(f->s, "packs/p1", 2, 3, &b, &err),
			 BK_OK);
	assert_int_equal(b.len, 3);
	assert_memory_equal(b.data, "234", 3);
	/* appends */
	assert_int_equal(bk_store_get_range(f->s, "packs/p1", 9, 1, &b, &err),
			 BK_OK);
	assert_int_equal(b.len, 4);
	assert_memory_equal(b.data, "2349", 4);
	assert_int_equal(bk_store_get_range(f->s, "packs/p1", 10, 0, &b, &err),
			 BK_OK);
	assert_int_equal(b.len, 4);
	assert_int_equal(bk_store_get_range(f->s, "packs/p1", 0, 10, &b, &err),
			 BK_OK);
	assert_int_equal(b.len, 14);
	/* past the end */
	assert_int_equal(bk_store_get_range(f->s, "packs/p1", 9, 2, &b, &err),
			 BK_ERR_FORMAT);
	assert_int_equal(bk_store_get_range(f->s, "packs/p1", 11, 0, &b, &err),
			 BK_ERR_FORMAT);
	assert_int_equal(bk_store_get_range(f->s, "packs/p1", 1, UINT64_MAX,
					    &b, &err), BK_ERR_FORMAT);
	assert_int_equal(bk_store_get_range(f->s, "packs/p1", UINT64_MAX, 2,
					    &b, &err), BK_ERR_FORMAT);
	assert_int_equal(b.len, 14);
	assert_int_equal(bk_store_get_range(f->s, "packs/none", 0, 1, &b,
					    &err), BK_ERR_NOTFOUND);
	bk_buf_release(&b);
}

static void limits(void **state)
{
	struct fixture *f = *state;
	struct bk_buf b;
	struct bk_error err;
	uint8_t big[4096];

	memset(big, 'z', sizeof(big));
	assert_int_equal(bk_store_put(f->s, "big", big, sizeof(big), &err),
			 BK_OK);
	bk_buf_init(&b, 4095);
	assert_int_equal(bk_store_get(f->s, "big", &b, &err), BK_ERR_LIMIT);
	assert_non_null(strstr(err.msg, "get big: "));
	assert_int_equal(b.len, 0);
	assert_null(b.data); /* refused before allocating */
	assert_int_equal(bk_store_get_range(f->s, "big", 0, 4095, &b, &err),
			 BK_OK);
	assert_int_equal(bk_store_get_range(f->s, "big", 0, 1, &b, &err),
			 BK_ERR_LIMIT);
	assert_int_equal(b.len, 4095);
	b.max = 1 << 20;
	bk_buf_reset(&b);
	assert_int_equal(bk_store_get(f->s, "big", &b, &err), BK_OK);
	assert_int_equal(b.len, sizeof(big));
	assert_memory_equal(b.data, big, sizeof(big));
	bk_buf_release(&b);
}

static void bad_keys(void **state)
{
	struct fixture *f = *state;
	static const char *const bad[] = {
		"", "/etc/passwd", "..", "../x", "a/../../x", "a/..", "./a",
		"a/./b", "a//b", "a/", "/", "a b", "a\\b", "a\nb", "x?",
		"x*", "\xc3\xa9", ".tmp-123", "a/.tmp-x", "a:b", "a\"b",
		"a'b", "a$b",
	};
	static const char *const good[] = {
		"a", "a/b/c", "x.y", "...", "..a", ".hidden", "a-b_c@d%e+f=g,h~i",
		"snapshots/pool%2Ffs@snap", "data/ab/ab12",
	};
	struct bk_buf b;
	struct bk_error err;
	uint64_t size;
	char longkey[1100];

	bk_buf_init(&b, 1024);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(bk_store_put(f->s, bad[i], "x", 1, &err),
				 BK_ERR_USAGE);
		assert_int_equal(bk_store_put_new(f->s, bad[i], "x", 1, &err),
				 BK_ERR_USAGE);
		assert_int_equal(bk_store_get(f->s, bad[i], &b, &err),
				 BK_ERR_USAGE);
		assert_int_equal(bk_store_get_range(f->s, bad[i], 0, 1, &b,
						    &err), BK_ERR_USAGE);
		assert_int_equal(bk_store_head(f->s, bad[i], &size, &err),
				 BK_ERR_USAGE);
		assert_int_equal(bk_store_delete(f->s, bad[i], &err),
				 BK_ERR_USAGE);
	}
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		bk_buf_reset(&b);
		assert_int_equal(bk_store_put(f->s, good[i], "y", 1, &err),
				 BK_OK);
		assert_int_equal(bk_store_get(f->s, good[i], &b, &err), BK_OK);
		assert_int_equal(bk_store_delete(f->s, good[i], &err), BK_OK);
	}
	memset(longkey, 'k', sizeof(longkey) - 1);
	longkey[sizeof(longkey) - 1] = '\0';
	assert_int_equal(bk_store_put(f->s, longkey, "x", 1, &err),
			 BK_ERR_USAGE);
	/* list prefixes follow the same rules, except a partial last part */
	assert_int_equal(bk_store_list(f->s, "../", NULL, NULL, &err),
			 BK_ERR_USAGE);
	assert_int_equal(bk_store_list(f->s, "/etc", NULL, NULL, &err),
			 BK_ERR_USAGE);
	assert_int_equal(bk_store_list(f->s, "a//", NULL, NULL, &err),
			 BK_ERR_USAGE);
	/* nothing escaped the store */
	{
		char path[256];
		struct stat st;

		snprintf(path, sizeof(path), "%s/x", f->dir);
		assert_int_not_equal(stat(path, &st), 0);
		snprintf(path, sizeof(path), "%s/etc", f->dir);
		assert_int_not_equal(stat(path, &st), 0);
	}
	bk_buf_release(&b);
}

static void put_new_refuses(void **state)
{
	struct fixture *f = *state;
	struct bk_buf b;
	struct bk_error err;

	bk_buf_init(&b, 1024);
	assert_int_equal(bk_store_put_new(f->s, "config", "first", 5, &err),
			 BK_OK);
	assert_int_equal(bk_store_put_new(f->s, "config", "second", 6, &err),
			 BK_ERR_EXISTS);
	assert_string_equal(err.msg, "put config: object already exists");
	assert_int_equal(bk_store_get(f->s, "config", &b, &err), BK_OK);
	assert_int_equal(b.len, 5);
	assert_memory_equal(b.data, "first", 5);
	assert_int_equal(count_tmp(f->dir), 0);
	bk_buf_release(&b);
}

struct racer {
	struct bk_store *s;
	pthread_barrier_t *go;
	char key[64];
	char val[32];
	enum bk_code rc;
};

static void *race(void *arg)
{
	struct racer *r = arg;
	struct bk_error err;

	pthread_barrier_wait(r->go);
	r->rc = bk_store_put_new(r->s, r->key, r->val, strlen(r->val), &err);
	return NULL;
}

static void put_new_race(void **state)
{
	struct fixture *f = *state;
	enum { THREADS = 4, ROUNDS = 50 };
	struct racer r[THREADS];
	pthread_t t[THREADS];
	pthread_barrier_t go;
	struct bk_buf b;
	struct bk_error err;

	bk_buf_init(&b, 1024);
	for (int round = 0; round < ROUNDS; round++) {
		int wins = 0, winner = -1;

		pthread_barrier_init(&go, NULL, THREADS);
		for (int i = 0; i < THREADS; i++) {
			r[i].s = f->s;
			r[i].go = &go;
			snprintf(r[i].key, sizeof(r[i].key),
				 "race/r%d/lock", round);
			snprintf(r[i].val, sizeof(r[i].val), "writer %d", i);
			assert_int_equal(pthread_create(&t[i], NULL, race,
							&r[i]), 0);
		}
		for (int i = 0; i < THREADS; i++)
			pthread_join(t[i], NULL);
		pthread_barrier_destroy(&go);
		for (int i = 0; i < THREADS; i++) {
			if (r[i].rc == BK_OK) {
				wins++;
				winner = i;
			} else {
				assert_int_equal(r[i].rc, BK_ERR_EXISTS);
			}
		}
		assert_int_equal(wins, 1);
		bk_buf_reset(&b);
		assert_int_equal(bk_store_get(f->s, r[0].key, &b, &err), BK_OK);
		assert_string_equal((char *)b.data, r[winner].val);
	}
	assert_int_equal(count_tmp(f->dir), 0);
	bk_buf_release(&b);
}

struct seen {
	char keys[64][128];
	uint64_t sizes[64];
	int n;
	int stop_after;
};

static enum bk_code collect(void *ctx, const char *key, uint64_t size,
			    struct bk_error *err)
{
	struct seen *s = ctx;

	if (s->stop_after && s->n == s->stop_after)
		return bk_error_set(err, BK_ERR_BUSY, "stopped at %s", key);
	if (s->n >= 64)
		return bk_error_set(err, BK_ERR_LIMIT, "too many keys");
	snprintf(s->keys[s->n], sizeof(s->keys[0]), "%s", key);
	s->sizes[s->n] = size;
	s->n++;
	return BK_OK;
}

static int has(const struct seen *s, const char *key)
{
	for (int i = 0; i < s->n; i++)
		if (!strcmp(s->keys[i], key))
			return 1;
	return 0;
}

static void listing(void **state)
{
	struct fixture *f = *state;
	static const char *const keys[] = {
		"list/a/1", "list/a/2", "list/b/1", "list/ab", "list/c/d/e/f",
		"listx",
	};
	struct seen *s = calloc(1, sizeof(*s));
	struct bk_error err;
	char path[256];
	FILE *fp;

	assert_non_null(s);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		assert_int_equal(bk_store_put(f->s, keys[i], keys[i],
					      strlen(keys[i]), &err), BK_OK);
	/* a stray temporary and a foreign name are not keys */
	snprintf(path, sizeof(path), "%s/repo/list/a/.tmp-deadbeef", f->dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fclose(fp);
	snprintf(path, sizeof(path), "%s/repo/list/a/with space", f->dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fclose(fp);

	assert_int_equal(bk_store_list(f->s, "list/", collect, s, &err), BK_OK);
	assert_int_equal(s->n, 5);
	for (size_t i = 0; i < 5; i++)
		assert_true(has(s, keys[i]));
	for (int i = 0; i < s->n; i++)
		assert_int_equal(s->sizes[i], strlen(s->keys[i]));

	memset(s, 0, sizeof(*s));
	assert_int_equal(bk_store_list(f->s, "list/a", collect, s, &err),
			 BK_OK);
	assert_int_equal(s->n, 3);
	assert_true(has(s, "list/a/1") && has(s, "list/a/2") &&
		    has(s, "list/ab"));

	memset(s, 0, sizeof(*s));
	assert_int_equal(bk_store_list(f->s, "list", collect, s, &err), BK_OK);
	assert_int_equal(s->n, 6);
	assert_true(has(s, "listx"));

	memset(s, 0, sizeof(*s));
	assert_int_equal(bk_store_list(f->s, "list/c/d/e/f", collect, s, &err),
			 BK_OK);
	assert_int_equal(s->n, 1);

	memset(s, 0, sizeof(*s));
	assert_int_equal(bk_store_list(f->s, "nothing/here/", collect, s,
				       &err), BK_OK);
	assert_int_equal(s->n, 0);

	/* the callback can stop the walk */
	memset(s, 0, sizeof(*s));
	s->stop_after = 2;
	assert_int_equal(bk_store_list(f->s, "list/", collect, s, &err),
			 BK_ERR_BUSY);
	assert_int_equal(s->n, 2);
	free(s);
}

static void open_urls(void **state)
{
	struct fixture *f = *state;
	struct bk_store *s = NULL;
	struct bk_error err;
	struct bk_buf b;
	char url[256];

	bk_buf_init(&b, 1024);
	/* missing, without create */
	snprintf(url, sizeof(url), "%s/missing", f->dir);
	assert_int_equal(bk_store_open(url, false, &s, &err), BK_ERR_NOTFOUND);
	assert_null(s);
	assert_non_null(strstr(err.msg, "missing"));
	/* file:// of the fixture's store sees its objects */
	assert_int_equal(bk_store_put(f->s, "via-url", "u", 1, &err), BK_OK);
	snprintf(url, sizeof(url), "file://%s/repo", f->dir);
	assert_int_equal(bk_store_open(url, false, &s, &err), BK_OK);
	assert_int_equal(bk_store_get(s, "via-url", &b, &err), BK_OK);
	assert_int_equal(b.len, 1);
	assert_non_null(strstr(bk_store_describe(s), "directory /"));
	bk_store_close(s);
	s = NULL;
	/* nested creation */
	snprintf(url, sizeof(url), "file://%s/new/deeper/repo", f->dir);
	assert_int_equal(bk_store_open(url, true, &s, &err), BK_OK);
	bk_store_close(s);
	s = NULL;
	/* other schemes */
	assert_int_equal(bk_store_open("gs://bucket/prefix", false, &s, &err),
			 BK_ERR_UNSUPPORTED);
	assert_non_null(strstr(err.msg, "unsupported repository URL"));
	assert_null(strstr(err.msg, "bucket"));
	assert_int_equal(bk_store_open("https://x/y", true, &s, &err),
			 BK_ERR_UNSUPPORTED);
	assert_int_equal(bk_store_open("file://host/x", true, &s, &err),
			 BK_ERR_USAGE);
	assert_int_equal(bk_store_open("", true, &s, &err), BK_ERR_USAGE);
	/* a file where the directory should be */
	snprintf(url, sizeof(url), "%s/repo/via-url", f->dir);
	assert_int_equal(bk_store_open(url, false, &s, &err), BK_ERR_IO);
	assert_null(s);
	bk_store_close(NULL);
	bk_buf_release(&b);
}

static void relative_path(void **state)
{
	struct fixture *f = *state;
	struct bk_store *s = NULL;
	struct bk_error err;
	struct bk_buf b;
	char cwd[4096];

	bk_buf_init(&b, 1024);
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(f->dir), 0);
	assert_int_equal(bk_store_open("rel/repo", true, &s, &err), BK_OK);
	/* a later chdir does not move the store */
	assert_int_equal(chdir("/"), 0);
	assert_int_equal(bk_store_put(s, "k", "v", 1, &err), BK_OK);
	assert_int_equal(bk_store_get(s, "k", &b, &err), BK_OK);
	assert_non_null(strstr(bk_store_describe(s), "/rel/repo"));
	bk_store_close(s);
	assert_int_equal(chdir(cwd), 0);
	bk_buf_release(&b);
}

/* find_any: anything at all in the directory, listed or not. */
static void find_any(void **state)
{
	struct fixture *f = *state;
	struct bk_store *s = NULL;
	struct bk_error err;
	char dir[256], path[300], what[64];

	snprintf(dir, sizeof(dir), "%s/any", f->dir);
	assert_int_equal(bk_store_open(dir, true, &s, &err), BK_OK);
	assert_int_equal(bk_store_find_any(s, what, sizeof(what), &err), BK_OK);
	assert_string_equal(what, "");
	/* names list never reports */
	snprintf(path, sizeof(path), "%s/.hidden", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(bk_store_find_any(s, what, sizeof(what), &err), BK_OK);
	assert_string_equal(what, ".hidden");
	assert_int_equal(rmdir(path), 0);
	snprintf(path, sizeof(path), "%s/a\033[2Jb", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(bk_store_find_any(s, what, sizeof(what), &err), BK_OK);
	assert_string_equal(what, "a?[2Jb"); /* no escape reaches a terminal */
	assert_int_equal(rmdir(path), 0);
	/* an object */
	assert_int_equal(bk_store_put(s, "k/x", "1", 1, &err), BK_OK);
	assert_int_equal(bk_store_find_any(s, what, sizeof(what), &err), BK_OK);
	assert_string_equal(what, "k");
	assert_int_equal(bk_store_find_any(s, what, 2, &err), BK_OK);
	assert_string_equal(what, "k"); /* cut to fit, never "" */
	assert_int_equal(bk_store_find_any(s, what, 1, &err), BK_ERR_USAGE);
	bk_store_close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(put_get_head_delete),
		cmocka_unit_test(ranges),
		cmocka_unit_test(limits),
		cmocka_unit_test(bad_keys),
		cmocka_unit_test(put_new_refuses),
		cmocka_unit_test(put_new_race),
		cmocka_unit_test(listing),
		cmocka_unit_test(open_urls),
		cmocka_unit_test(relative_path),
		cmocka_unit_test(find_any),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
