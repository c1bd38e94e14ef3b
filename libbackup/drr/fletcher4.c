/* SPDX-License-Identifier: MIT */
/*
 * Running fletcher-4 over 32-bit words, in either byte order.
 *
 *   a += w; b += a; c += b; d += c      (all mod 2^64)
 *
 * The plain loop is one long dependency chain.  The fast paths split the
 * words into 4 interleaved lanes (word k goes to lane k mod 4), run an
 * independent fletcher-4 per lane, and fold the lanes back into the serial
 * result.  With n = 4m words and lane j (u = j, 0..3) holding words at
 * positions 4i+u, the weight a word at lane-position p (p = m-i, 1..m
 * counted from the end) carries in the serial sums is a polynomial in p;
 * written in the lane's own basis (1, p, C(p+1,2), C(p+2,3)) it gives
 *
 *   A = sum_u A_u
 *   B = sum_u (4 B_u - u A_u)
 *   C = sum_u (16 C_u - (6 + 4u) B_u + u(u-1)/2 A_u)
 *   D = sum_u (64 D_u + beta_u C_u + gamma_u B_u + delta_u A_u)
 *       beta = -48 -64 -80 -96, gamma = 4 10 20 34, delta = 0 0 0 -1
 *
 * and the state before the block enters as for n serial words:
 *   a' = a + A, b' = b + n a + B, c' = c + n b + C(n+1,2) a + C,
 *   d' = d + n c + C(n+1,2) b + C(n+2,3) a + D.
 * Every coefficient is an integer, so the identities hold mod 2^64.  The
 * tests check each path against the plain loop on random data and lengths.
 */
#include <stdint.h>
#include <string.h>

#include "backup/drr.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define HAVE_X86_SIMD 1
#else
#define HAVE_X86_SIMD 0
#endif

static inline uint32_t load32(const uint8_t *p, int swap)
{
	uint32_t w;

	memcpy(&w, p, 4);
	return swap ? __builtin_bswap32(w) : w;
}

/* The reference: one word at a time. */
static void f4_scalar(struct bk_cksum *ck, const uint8_t *p, size_t nwords,
		      int swap)
{
	uint64_t a = ck->word[0], b = ck->word[1], c = ck->word[2],
		 d = ck->word[3];

	for (size_t i = 0; i < nwords; i++, p += 4) {
		a += load32(p, swap);
		b += a;
		c += b;
		d += c;
	}
	ck->word[0] = a;
	ck->word[1] = b;
	ck->word[2] = c;
	ck->word[3] = d;
}

/* Fold 4 lane states into *ck, which covered everything before the block. */
static void f4_combine(struct bk_cksum *ck, const uint64_t A[4],
		       const uint64_t B[4], const uint64_t C[4],
		       const uint64_t D[4], uint64_t nwords)
{
	static const uint64_t beta[4] = { (uint64_t)-48, (uint64_t)-64,
					  (uint64_t)-80, (uint64_t)-96 };
	static const uint64_t gamma[4] = { 4, 10, 20, 34 };
	static const uint64_t delta[4] = { 0, 0, 0, (uint64_t)-1 };
	uint64_t sa = 0, sb = 0, sc = 0, sd = 0;
	uint64_t n = nwords, a = ck->word[0], b = ck->word[1],
		 c = ck->word[2], d = ck->word[3];
	uint64_t n1c2, n2c3;

	for (uint64_t u = 0; u < 4; u++) {
		sa += A[u];
		sb += 4 * B[u] - u * A[u];
		sc += 16 * C[u] - (6 + 4 * u) * B[u] + (u * (u - 1) / 2) * A[u];
		sd += 64 * D[u] + beta[u] * C[u] + gamma[u] * B[u] +
		      delta[u] * A[u];
	}
	/* C(n+1,2) and C(n+2,3) mod 2^64: divide before multiplying. */
	n1c2 = (n % 2 == 0) ? (n / 2) * (n + 1) : n * ((n + 1) / 2);
	{
		uint64_t x = n, y = n + 1, z = n + 2;

		if (x % 2 == 0)
			x /= 2;
		else
			y /= 2;
		if (x % 3 == 0)
			x /= 3;
		else if (y % 3 == 0)
			y /= 3;
		else
			z /= 3;
		n2c3 = x * y * z;
	}
	ck->word[0] = a + sa;
	ck->word[1] = b + n * a + sb;
	ck->word[2] = c + n * b + n1c2 * a + sc;
	ck->word[3] = d + n * c + n1c2 * b + n2c3 * a + sd;
}

/* Portable 4-lane version: independent chains the CPU can overlap. */
static void f4_lanes(struct bk_cksum *ck, const uint8_t *p, size_t nwords,
		     int swap)
{
	uint64_t A[4] = { 0 }, B[4] = { 0 }, C[4] = { 0 }, D[4] = { 0 };
	size_t blocks = nwords / 4;

	for (size_t i = 0; i < blocks; i++, p += 16) {
		for (int u = 0; u < 4; u++) {
			A[u] += load32(p + 4 * u, swap);
			B[u] += A[u];
			C[u] += B[u];
			D[u] += C[u];
		}
	}
	if (blocks)
		f4_combine(ck, A, B, C, D, (uint64_t)blocks * 4);
	f4_scalar(ck, p, nwords % 4, swap);
}

#if HAVE_X86_SIMD
__attribute__((target("avx2"))) static void
f4_avx2(struct bk_cksum *ck, const uint8_t *p, size_t nwords, int swap)
{
	const __m128i bswap = _mm_setr_epi8(3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9,
					    8, 15, 14, 13, 12);
	__m256i a = _mm256_setzero_si256(), b = a, c = a, d = a;
	/* Two independent lane sets (8 lanes) would need a different fold;
	 * 4 lanes x 64 bits already run at memory speed on one core. */
	size_t blocks = nwords / 4;
	uint64_t A[4], B[4], C[4], D[4];

	for (size_t i = 0; i < blocks; i++, p += 16) {
		__m128i w = _mm_loadu_si128((const __m128i *)(const void *)p);

		if (swap)
			w = _mm_shuffle_epi8(w, bswap);
		a = _mm256_add_epi64(a, _mm256_cvtepu32_epi64(w));
		b = _mm256_add_epi64(b, a);
		c = _mm256_add_epi64(c, b);
		d = _mm256_add_epi64(d, c);
	}
	_mm256_storeu_si256((__m256i *)(void *)A, a);
	_mm256_storeu_si256((__m256i *)(void *)B, b);
	_mm256_storeu_si256((__m256i *)(void *)C, c);
	_mm256_storeu_si256((__m256i *)(void *)D, d);
	if (blocks)
		f4_combine(ck, A, B, C, D, (uint64_t)blocks * 4);
	f4_scalar(ck, p, nwords % 4, swap);
}
#endif

typedef void (*f4_fn)(struct bk_cksum *, const uint8_t *, size_t, int);

struct f4_impl {
	const char *name;
	f4_fn fn;
	int (*usable)(void);
};

static int always(void)
{
	return 1;
}

#if HAVE_X86_SIMD
static int has_avx2(void)
{
	__builtin_cpu_init();
	return __builtin_cpu_supports("avx2");
}
#endif

static const struct f4_impl impls[] = {
#if HAVE_X86_SIMD
	{ "avx2", f4_avx2, has_avx2 },
#endif
	{ "scalar-4way", f4_lanes, always },
	{ "scalar", f4_scalar, always },
};

static const struct f4_impl *current;

static const struct f4_impl *impl(void)
{
	const struct f4_impl *cur = __atomic_load_n(&current, __ATOMIC_ACQUIRE);

	if (!cur) {
		for (size_t i = 0; i < sizeof(impls) / sizeof(impls[0]); i++) {
			if (impls[i].usable()) {
				cur = &impls[i];
				break;
			}
		}
		__atomic_store_n(&current, cur, __ATOMIC_RELEASE);
	}
	return cur;
}

const char *bk_fletcher4_impl(void)
{
	return impl()->name;
}

int bk_fletcher4_select(const char *name)
{
	for (size_t i = 0; i < sizeof(impls) / sizeof(impls[0]); i++) {
		if (strcmp(impls[i].name, name) == 0 && impls[i].usable()) {
			__atomic_store_n(&current, &impls[i], __ATOMIC_RELEASE);
			return 0;
		}
	}
	return -1;
}

void bk_fletcher4_init(struct bk_fletcher4 *f, bool byteswap)
{
	memset(&f->ck, 0, sizeof(f->ck));
	f->byteswap = byteswap;
}

void bk_fletcher4_update(struct bk_fletcher4 *f, const void *buf, size_t len)
{
	size_t nwords = len / 4;
	int swap = f->byteswap;

	/* Short updates (headers) do not pay for the lane fold. */
	if (nwords < 64)
		f4_scalar(&f->ck, buf, nwords, swap);
	else
		impl()->fn(&f->ck, buf, nwords, swap);
}
