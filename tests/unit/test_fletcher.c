/* fletcher-4: known values, every implementation against the plain loop,
 * incremental updates, and the byte-swapping variant. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "backup/drr.h"

static const char *const impls[] = { "scalar", "scalar-4way", "avx2" };

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void fill(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)next_rand();
}

static void known_small(void **state)
{
	/* words 1,2,3,4: a = 10, b = 1+3+6+10, c = 1+4+10+20, d = 1+5+15+35 */
	uint32_t w[4] = { 1, 2, 3, 4 };
	struct bk_fletcher4 f;

	(void)state;
	bk_fletcher4_init(&f, false);
	bk_fletcher4_update(&f, w, sizeof(w));
	assert_int_equal(f.ck.word[0], 10);
	assert_int_equal(f.ck.word[1], 20);
	assert_int_equal(f.ck.word[2], 35);
	assert_int_equal(f.ck.word[3], 56);
}

static void known_ones(void **state)
{
	/* n words of 1: a = n, b = n(n+1)/2, c = C(n+2,3), d = C(n+3,4);
	 * n = 4096 crosses every fast path's block size */
	enum { N = 4096 };
	uint32_t *w = malloc(N * 4);
	uint64_t n = N;

	(void)state;
	for (size_t i = 0; i < N; i++)
		w[i] = 1;
	for (size_t k = 0; k < sizeof(impls) / sizeof(impls[0]); k++) {
		struct bk_fletcher4 f;

		if (bk_fletcher4_select(impls[k]) != 0)
			continue;
		bk_fletcher4_init(&f, false);
		bk_fletcher4_update(&f, w, N * 4);
		assert_int_equal(f.ck.word[0], n);
		assert_int_equal(f.ck.word[1], n * (n + 1) / 2);
		assert_int_equal(f.ck.word[2], n * (n + 1) * (n + 2) / 6);
		assert_int_equal(f.ck.word[3],
				 n * (n + 1) * (n + 2) * (n + 3) / 24);
	}
	free(w);
	bk_fletcher4_select("scalar");
}

static void known_max_words(void **state)
{
	/* all-ones words wrap the 64-bit sums: check against 128-bit math */
	enum { N = 1000 };
	uint32_t *w = malloc(N * 4);
	unsigned __int128 a = 0, b = 0, c = 0, d = 0;
	const unsigned __int128 mod = (unsigned __int128)1 << 64;

	(void)state;
	for (size_t i = 0; i < N; i++) {
		w[i] = 0xffffffffu;
		a = (a + 0xffffffffu) % mod;
		b = (b + a) % mod;
		c = (c + b) % mod;
		d = (d + c) % mod;
	}
	for (size_t k = 0; k < sizeof(impls) / sizeof(impls[0]); k++) {
		struct bk_fletcher4 f;

		if (bk_fletcher4_select(impls[k]) != 0)
			continue;
		bk_fletcher4_init(&f, false);
		bk_fletcher4_update(&f, w, N * 4);
		assert_true(f.ck.word[0] == (uint64_t)a);
		assert_true(f.ck.word[1] == (uint64_t)b);
		assert_true(f.ck.word[2] == (uint64_t)c);
		assert_true(f.ck.word[3] == (uint64_t)d);
	}
	free(w);
}

static void impls_agree(void **state)
{
	enum { MAX = 1 << 16 };
	uint8_t *buf = malloc(MAX);

	(void)state;
	for (int round = 0; round < 300; round++) {
		size_t len = next_rand() % MAX;
		size_t skip = next_rand() % 4; /* unaligned starts */
		int swap = round & 1;
		struct bk_fletcher4 ref, f;

		if (len < skip)
			len = skip;
		fill(buf, len);
		bk_fletcher4_select("scalar");
		bk_fletcher4_init(&ref, swap);
		/* seed with a non-zero state so the fold's carry-in is tested */
		bk_fletcher4_update(&ref, buf, 40);
		bk_fletcher4_update(&ref, buf + skip, len - skip);
		for (size_t k = 1; k < sizeof(impls) / sizeof(impls[0]); k++) {
			if (bk_fletcher4_select(impls[k]) != 0)
				continue;
			bk_fletcher4_init(&f, swap);
			bk_fletcher4_update(&f, buf, 40);
			bk_fletcher4_update(&f, buf + skip, len - skip);
			assert_memory_equal(&f.ck, &ref.ck, sizeof(f.ck));
		}
	}
	bk_fletcher4_select("scalar");
	free(buf);
}

static void incremental_equals_whole(void **state)
{
	enum { LEN = 300000 };
	uint8_t *buf = malloc(LEN);
	struct bk_fletcher4 whole, parts;

	(void)state;
	fill(buf, LEN);
	for (size_t k = 0; k < sizeof(impls) / sizeof(impls[0]); k++) {
		size_t off = 0;

		if (bk_fletcher4_select(impls[k]) != 0)
			continue;
		bk_fletcher4_init(&whole, false);
		bk_fletcher4_update(&whole, buf, LEN);
		bk_fletcher4_init(&parts, false);
		while (off < LEN) {
			size_t n = (next_rand() % 5000) * 4;

			if (n > LEN - off)
				n = LEN - off;
			bk_fletcher4_update(&parts, buf + off, n);
			off += n;
		}
		assert_memory_equal(&whole.ck, &parts.ck, sizeof(whole.ck));
	}
	free(buf);
}

static void byteswap_variant(void **state)
{
	enum { LEN = 65536 };
	uint8_t *a = malloc(LEN), *b = malloc(LEN);
	struct bk_fletcher4 fa, fb;

	(void)state;
	fill(a, LEN);
	for (size_t i = 0; i < LEN; i += 4) {
		b[i] = a[i + 3];
		b[i + 1] = a[i + 2];
		b[i + 2] = a[i + 1];
		b[i + 3] = a[i];
	}
	for (size_t k = 0; k < sizeof(impls) / sizeof(impls[0]); k++) {
		if (bk_fletcher4_select(impls[k]) != 0)
			continue;
		bk_fletcher4_init(&fa, false);
		bk_fletcher4_update(&fa, a, LEN);
		bk_fletcher4_init(&fb, true);
		bk_fletcher4_update(&fb, b, LEN);
		assert_memory_equal(&fa.ck, &fb.ck, sizeof(fa.ck));
	}
	free(a);
	free(b);
}

static void trailing_bytes_ignored(void **state)
{
	uint8_t buf[11] = { 1, 0, 0, 0, 2, 0, 0, 0, 0xff, 0xff, 0xff };
	struct bk_fletcher4 f, g;

	(void)state;
	bk_fletcher4_init(&f, false);
	bk_fletcher4_update(&f, buf, 11);
	bk_fletcher4_init(&g, false);
	bk_fletcher4_update(&g, buf, 8);
	assert_memory_equal(&f.ck, &g.ck, sizeof(f.ck));
	assert_int_equal(bk_fletcher4_select("no-such"), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(known_small),
		cmocka_unit_test(known_ones),
		cmocka_unit_test(known_max_words),
		cmocka_unit_test(impls_agree),
		cmocka_unit_test(incremental_equals_whole),
		cmocka_unit_test(byteswap_variant),
		cmocka_unit_test(trailing_bytes_ignored),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
