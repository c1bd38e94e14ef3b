/* The decoders of ZFS's block compressions (bk_zpl_decompress,
 * libbackup/zpl/zcodec.c), one by one: gzip-1..9 and zstd blocks made with
 * zlib and libzstd the way OpenZFS makes them, a zstd block that a real
 * OpenZFS wrote (checked against the zstd tool), lzjb and zle blocks from
 * the small compressors below (written from the format descriptions) and
 * by hand.  Then hostile blocks: each must be BK_ERR_FORMAT naming its
 * algorithm, and no decoder may write past the block it was given (guard
 * bytes after it must stay as they were). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>
#include <zlib.h>
#define ZSTD_STATIC_LINKING_ONLY
#include <zstd.h>

#include "backup/zpl.h"

enum { C_OFF = 2, C_LZJB = 3, C_GZIP1 = 5, C_ZLE = 14, C_LZ4 = 15,
       C_ZSTD = 16 };
#define GUARD 64

/* dst[dstlen] and GUARD bytes of 0xa5 after it, which must stay */
static enum bk_code dec(unsigned c, const void *src, size_t srclen,
			uint8_t **out, size_t dstlen, struct bk_error *err)
{
	uint8_t *d = malloc(dstlen + GUARD);
	enum bk_code rc;

	assert_non_null(d);
	memset(d, 0x5a, dstlen);
	memset(d + dstlen, 0xa5, GUARD);
	rc = bk_zpl_decompress(c, src, srclen, d, dstlen, err);
	for (size_t i = 0; i < GUARD; i++)
		assert_int_equal(d[dstlen + i], 0xa5);
	if (rc != BK_OK)
		assert_true(err->msg[0] != 0);
	*out = d;
	return rc;
}

/* as dec(), expecting BK_ERR_FORMAT with the algorithm's name */
static void bad(unsigned c, const void *src, size_t srclen, size_t dstlen,
		const char *name)
{
	struct bk_error err = { 0 };
	uint8_t *d;

	assert_int_equal(dec(c, src, srclen, &d, dstlen, &err), BK_ERR_FORMAT);
	if (!strstr(err.msg, name))
		fail_msg("'%s' does not name %s", err.msg, name);
	free(d);
}

static void good(unsigned c, const void *src, size_t srclen,
		 const void *want, size_t dstlen)
{
	struct bk_error err = { 0 };
	uint8_t *d;

	if (dec(c, src, srclen, &d, dstlen, &err) != BK_OK)
		fail_msg("codec %u: %s", c, err.msg);
	assert_memory_equal(d, want, dstlen);
	free(d);
}

/* text, zeros and noise: what compresses well and what does not */
static void sample(uint8_t *p, size_t n, unsigned seed)
{
	static const char words[] = "ut enim ad minima veniam, quis nostrum ";
	uint32_t x = seed * 2654435761u + 1;

	for (size_t i = 0; i < n; i++) {
		size_t part = (i / 1000) % 4;

		x = x * 1103515245u + 12345u;
		p[i] = part == 0   ? (uint8_t)words[i % (sizeof(words) - 1)]
		       : part == 1 ? 0
		       : part == 2 ? (uint8_t)(x >> 16)
				   : (uint8_t)(i % 3 ? 0 : x >> 24);
	}
}

/* ---- lzjb and zle compressors, for round trips ------------------------- */

/* lzjb: greedy, the longest match within 1023 bytes back (3..66 bytes) */
static size_t lzjb_pack(const uint8_t *s, size_t n, uint8_t *d)
{
	size_t in = 0, out = 0, mapat = 0;
	unsigned bit = 8;

	while (in < n) {
		size_t best = 0, bestdist = 0;

		if (bit == 8) {
			mapat = out++;
			d[mapat] = 0;
			bit = 0;
		}
		for (size_t dist = 1; dist <= 1023 && dist <= in; dist++) {
			size_t l = 0;

			while (l < 66 && in + l < n && s[in + l] == s[in + l - dist])
				l++;
			if (l > best) {
				best = l;
				bestdist = dist;
			}
		}
		if (best >= 3) {
			d[mapat] |= (uint8_t)(1u << bit);
			d[out++] = (uint8_t)((best - 3) << 2 | bestdist >> 8);
			d[out++] = (uint8_t)bestdist;
			in += best;
		} else {
			d[out++] = s[in++];
		}
		bit++;
	}
	return out;
}

/* zle, level 64: zero runs of 2..192 as one byte, the rest literal runs */
static size_t zle_pack(const uint8_t *s, size_t n, uint8_t *d)
{
	size_t in = 0, out = 0;

	while (in < n) {
		size_t z = 0, l = 0;

		while (in + z < n && s[in + z] == 0 && z < 192)
			z++;
		if (z >= 2) {
			d[out++] = (uint8_t)(z + 64 - 1);
			in += z;
			continue;
		}
		while (in + l < n && l < 64 &&
		       !(s[in + l] == 0 && in + l + 1 < n && s[in + l + 1] == 0))
			l++;
		if (l == 0)
			l = 1; /* a lone zero at the end */
		d[out++] = (uint8_t)(l - 1);
		memcpy(d + out, s + in, l);
		out += l;
		in += l;
	}
	return out;
}

/* ---- gzip -------------------------------------------------------------- */

static void gzip_levels(void **state)
{
	static const uint8_t hello[] = { 0x78, 0x9c, 0xcb, 0x48, 0xcd, 0xc9,
					 0xc9, 0x07, 0x00, 0x06, 0x2c, 0x02,
					 0x15 };
	size_t n = 128 * 1024;
	uint8_t *in = malloc(n), *z = malloc(n + 1024);

	(void)state;
	/* a known vector: zlib's stream of "hello", into a 512-byte block */
	uint8_t want[512] = "hello";
	good(C_GZIP1 + 5, hello, sizeof(hello), want, sizeof(want));
	sample(in, n, 1);
	for (unsigned lvl = 1; lvl <= 9; lvl++) {
		uLongf zl = n + 1024;

		assert_int_equal(compress2(z, &zl, in, n, (int)lvl), Z_OK);
		/* padded to a 512-byte sector, as the block is on disk */
		size_t padded = (zl + 511) / 512 * 512;
		memset(z + zl, 0, padded - zl);
		good(C_GZIP1 + lvl - 1, z, padded, in, n);
		/* the level in the number does not matter to the decoder */
		good(C_GZIP1 + (lvl % 9), z, zl, in, n);
		/* cut short; bytes flipped; into a block too small */
		bad(C_GZIP1 + lvl - 1, z, zl / 2, n, "gzip-");
		z[zl / 2] ^= 0x55;
		z[zl / 2 + 1] ^= 0x55;
		bad(C_GZIP1 + lvl - 1, z, zl, n, "gzip-");
		z[zl / 2] ^= 0x55;
		z[zl / 2 + 1] ^= 0x55;
		bad(C_GZIP1 + lvl - 1, z, zl, n - 512, "gzip-");
	}
	/* a raw deflate stream (no zlib header) is not ZFS's gzip */
	bad(C_GZIP1, hello + 2, sizeof(hello) - 2, 512, "gzip-1");
	bad(C_GZIP1 + 8, "", 0, 512, "gzip-9");
	free(in);
	free(z);
}

/* ---- zstd -------------------------------------------------------------- */

/* The block of object 2 of OpenZFS's decompress.zsend fixture (`zfs send
 * -c` of a zstd-5 dataset, OpenZFS 2.4): 40448 bytes of text.  The frame
 * with the zstd magic put back, through `zstd -d`, has this SHA-256. */
static const uint8_t real_zstd[] = {
	0x00, 0x00, 0x01, 0x5d, 0x05, 0x00, 0x29, 0x0b, 0x00, 0x30, 0xc5, 0x0a,
	0x00, 0xf6, 0x18, 0x3d, 0x19, 0x90, 0x27, 0xcd, 0x01, 0x60, 0x89, 0xc8,
	0xb5, 0x5b, 0x64, 0x63, 0x89, 0x90, 0xe5, 0x26, 0xe0, 0x9b, 0x8e, 0xda,
	0xfe, 0xd5, 0x9d, 0xef, 0x7b, 0xfd, 0x35, 0x00, 0x34, 0x00, 0x36, 0x00,
	0xc5, 0xa4, 0x46, 0x97, 0x66, 0x83, 0xbd, 0x98, 0x8a, 0x13, 0x2b, 0x4c,
	0xc3, 0xa8, 0x04, 0xe2, 0x8b, 0xb3, 0x9a, 0xca, 0xcb, 0x2b, 0x47, 0x6a,
	0x6c, 0xf7, 0xac, 0xfc, 0x40, 0x3e, 0xb8, 0x84, 0xb3, 0xf2, 0xa4, 0x72,
	0x86, 0xba, 0x9e, 0xe8, 0x72, 0xa6, 0x4e, 0x85, 0x72, 0x8d, 0x3c, 0x8a,
	0x50, 0x63, 0xd4, 0x03, 0x41, 0x85, 0x62, 0xb2, 0x1b, 0xc2, 0xa4, 0x93,
	0x33, 0xe6, 0x46, 0xb3, 0x4a, 0xf1, 0x79, 0xb1, 0xa1, 0x1f, 0xf8, 0x73,
	0x52, 0x3d, 0xb8, 0x4f, 0x85, 0x96, 0xb9, 0xdd, 0xa4, 0x25, 0xf2, 0x61,
	0x6f, 0xfa, 0x66, 0x83, 0x8b, 0x29, 0x07, 0x71, 0x89, 0xe9, 0xc7, 0x38,
	0x5b, 0xa7, 0xa4, 0x51, 0xbc, 0x99, 0xeb, 0xf3, 0xe6, 0x1f, 0x27, 0x10,
	0xae, 0x04, 0xbe, 0x9c, 0x18, 0x91, 0xd1, 0xa4, 0x79, 0x72, 0x25, 0xf2,
	0xd8, 0xfc, 0xf9, 0xc0, 0x84, 0xbd, 0x19, 0x94, 0xe9, 0x15, 0x35, 0x5e,
	0xce, 0xc1, 0xa8, 0x0e, 0x5a, 0x46, 0xe9, 0x3d, 0x63, 0x2b, 0x1e, 0xdd,
	0x41, 0x37, 0x8a, 0xe9, 0x04, 0x15, 0x30, 0xe9, 0x78, 0xc3, 0x63, 0xa5,
	0x42, 0x2f, 0x05, 0x00, 0x01, 0x01, 0x03, 0xf8, 0x3c, 0x88, 0x7c, 0x8a,
	0x7f, 0x9e, 0x58, 0x95, 0xa2, 0x28, 0xa5, 0x73, 0x18, 0x2d, 0x95, 0x9d,
	0x95, 0x70, 0x65, 0xb9, 0xa8, 0xbd, 0x45, 0x95, 0x1e, 0xb2, 0x21, 0x5f,
	0x34, 0xba, 0x23, 0x1f, 0xac, 0x93, 0x44, 0xde, 0xa2, 0xdc, 0x82, 0x0e,
	0x9c, 0x98, 0x0d, 0x5e, 0x5c, 0x52, 0x2d, 0x57, 0x24, 0x20, 0x10, 0x12,
	0xa1, 0x53, 0x5e, 0x0f, 0x52, 0x40, 0x09, 0x5e, 0x8d, 0x1b, 0xd1, 0xa3,
	0x45, 0x1f, 0x82, 0xb0, 0xe3, 0xca, 0xab, 0xd9, 0xf1, 0x93, 0xa7, 0x0e,
	0xee, 0xe0, 0x00, 0xe4, 0xfe, 0xcb, 0x33, 0xdc, 0x42, 0xa7, 0x0a, 0xd8,
	0xbd, 0x32, 0x4c, 0x1a, 0x4a, 0x64, 0xf3, 0x5b, 0x87, 0x41, 0x59, 0x00,
	0x73, 0xad, 0xf0, 0xd8, 0x8f, 0x64, 0xcd, 0x88, 0x3b, 0x0c, 0x96, 0x87,
	0xf7, 0x48, 0xce, 0x66, 0xb1, 0x94, 0x52, 0xd4, 0x4e, 0x5e, 0x9b, 0x34,
	0x06, 0x05, 0x4a, 0x4d, 0xc6, 0x08, 0xfc, 0xee, 0x79, 0x43, 0x80, 0x2e,
	0x0d, 0x15, 0xcf, 0xad, 0x4f, 0xe6, 0x16, 0xdf, 0x03,
};
static const char real_zstd_sha256[] =
	"5097700359a5153f40eb15a4a831049283ece7ec021a961ffbc73fea7ec9817f";

static void zstd_real_block(void **state)
{
	struct bk_error err = { 0 };
	unsigned char h[crypto_hash_sha256_BYTES];
	char hex[2 * sizeof(h) + 1];
	uint8_t *d, padded[4096] = { 0 };

	(void)state;
	assert_true(sodium_init() >= 0);
	memcpy(padded, real_zstd, sizeof(real_zstd));
	/* as the stream carries it: padded to 4096 bytes */
	assert_int_equal(dec(C_ZSTD, padded, sizeof(padded), &d, 40448, &err),
			 BK_OK);
	crypto_hash_sha256(h, d, 40448);
	sodium_bin2hex(hex, sizeof(hex), h, sizeof(h));
	assert_string_equal(hex, real_zstd_sha256);
	assert_memory_equal(d, "Ex rem facere eaque", 19);
	free(d);
	/* the length past the payload; one byte short; a byte flipped */
	bad(C_ZSTD, real_zstd, sizeof(real_zstd) - 1, 40448, "zstd");
	padded[3]--;
	bad(C_ZSTD, padded, sizeof(padded), 40448, "zstd");
	padded[3]++;
	/* the frame header's reserved bit (a flipped byte elsewhere may well
	 * decode: ZFS's frames carry no checksum, the block pointer has it) */
	padded[8] ^= 0x08;
	bad(C_ZSTD, padded, sizeof(padded), 40448, "zstd");
	padded[8] ^= 0x08;
	/* a block too small for it */
	bad(C_ZSTD, padded, sizeof(padded), 40447, "zstd");
	bad(C_ZSTD, padded, 7, 40448, "zstd");
}

/* what OpenZFS writes: the header, then a frame without magic, checksum or
 * content size */
static size_t zstd_pack(const uint8_t *s, size_t n, uint8_t *d, size_t cap,
			int level)
{
	ZSTD_CCtx *cc = ZSTD_createCCtx();
	size_t r;

	assert_non_null(cc);
	ZSTD_CCtx_setParameter(cc, ZSTD_c_compressionLevel, level);
	ZSTD_CCtx_setParameter(cc, ZSTD_c_format, ZSTD_f_zstd1_magicless);
	ZSTD_CCtx_setParameter(cc, ZSTD_c_checksumFlag, 0);
	ZSTD_CCtx_setParameter(cc, ZSTD_c_contentSizeFlag, 0);
	r = ZSTD_compress2(cc, d + 8, cap - 8, s, n);
	ZSTD_freeCCtx(cc);
	assert_false(ZSTD_isError(r));
	uint32_t w = (uint32_t)level << 24 | ZSTD_versionNumber();
	for (int i = 0; i < 4; i++) {
		d[i] = (uint8_t)(r >> (24 - 8 * i));
		d[4 + i] = (uint8_t)(w >> (24 - 8 * i));
	}
	return r + 8;
}

static void zstd_levels(void **state)
{
	size_t n = 128 * 1024, cap = ZSTD_compressBound(n) + 8;
	uint8_t *in = malloc(n), *z = malloc(cap + 4);

	(void)state;
	sample(in, n, 2);
	for (int lvl = 1; lvl <= 19; lvl += 3) {
		size_t zl = zstd_pack(in, n, z, cap, lvl);

		good(C_ZSTD, z, zl, in, n);
		bad(C_ZSTD, z, zl, n - 1, "zstd");
		bad(C_ZSTD, z, zl - 1, n, "zstd");
		/* a frame with its magic is not what ZFS writes */
		memmove(z + 12, z + 8, zl - 8);
		memcpy(z + 8, "\x28\xb5\x2f\xfd", 4);
		z[3] = (uint8_t)(z[3] + 4); /* the length, 4 more (no carry: */
		assert_true(z[3] >= 4);     /* the test would say so) */
		bad(C_ZSTD, z, zl + 4, n, "zstd");
	}
	free(in);
	free(z);
}

/* ---- lzjb -------------------------------------------------------------- */

static void lzjb_blocks(void **state)
{
	/* by hand: "abc", then 9 bytes 3 back ("abcabcabc"), then "d" */
	static const uint8_t v1[] = { 0x08, 'a', 'b', 'c', (9 - 3) << 2, 3,
				      'd' };
	/* eight literals and a second map: a run of one byte, overlapping */
	static const uint8_t v2[] = { 0x00, '1', '2', '3', '4', '5', '6', '7',
				      '8', 0x01, (66 - 3) << 2, 1 };
	uint8_t want2[8 + 66];
	size_t n = 64 * 1024;
	uint8_t *in = malloc(n), *z = malloc(n + n / 8 + 16);

	(void)state;
	good(C_LZJB, v1, sizeof(v1), "abcabcabcabcd", 13);
	memcpy(want2, "12345678", 8);
	memset(want2 + 8, '8', 66);
	good(C_LZJB, v2, sizeof(v2), want2, sizeof(want2));
	/* the last copy is cut at the block's end; padding after is left */
	good(C_LZJB, v2, sizeof(v2), want2, 20);
	/* round trips, of text and noise, padded */
	for (unsigned seed = 0; seed < 3; seed++) {
		size_t m = seed == 2 ? 4096 : n;

		sample(in, m, seed);
		size_t zl = lzjb_pack(in, m, z);
		memset(z + zl, 0, 16);
		good(C_LZJB, z, zl + 16, in, m);
		good(C_LZJB, z, zl, in, m);
		bad(C_LZJB, z, zl - 1, m, "lzjb");
	}
	/* hostile: a reference before the start, a distance of 0, input
	 * that ends before the block is full, a map byte with nothing after */
	static const uint8_t h1[] = { 0x02, 'a', 0x00, 0x02 };
	static const uint8_t h2[] = { 0x02, 'a', 0x00, 0x00 };
	static const uint8_t h3[] = { 0x02, 'a', 0x00 };
	static const uint8_t h4[] = { 0x01 };
	bad(C_LZJB, h1, sizeof(h1), 16, "lzjb");
	bad(C_LZJB, h2, sizeof(h2), 16, "lzjb");
	bad(C_LZJB, h3, sizeof(h3), 16, "lzjb");
	bad(C_LZJB, h4, sizeof(h4), 16, "lzjb");
	bad(C_LZJB, v1, sizeof(v1), 14, "lzjb");
	bad(C_LZJB, "", 0, 1, "lzjb");
	free(in);
	free(z);
}

/* ---- zle --------------------------------------------------------------- */

static void zle_blocks(void **state)
{
	/* by hand: 3 literals, 5 zeros (64 + 5 - 1), 1 literal, 192 zeros */
	static const uint8_t v1[] = { 2, 'a', 'b', 'c', 68, 0, 'z', 255 };
	uint8_t want[3 + 5 + 1 + 192] = "abc";
	size_t n = 64 * 1024;
	uint8_t *in = malloc(n), *z = malloc(n + n / 32 + 16);

	(void)state;
	want[8] = 'z';
	good(C_ZLE, v1, sizeof(v1), want, sizeof(want));
	/* padding after a whole block is left alone */
	good(C_ZLE, v1, sizeof(v1), want, 9);
	for (unsigned seed = 0; seed < 3; seed++) {
		sample(in, n, seed);
		size_t zl = zle_pack(in, n, z);
		memset(z + zl, 0, 16);
		good(C_ZLE, z, zl + 16, in, n);
		bad(C_ZLE, z, zl - 1, n, "zle");
	}
	/* hostile: a literal run past the input, zeros past the block,
	 * literals past the block, input that ends early */
	static const uint8_t h1[] = { 5, 'a', 'b' };
	static const uint8_t h2[] = { 255 };
	static const uint8_t h3[] = { 63 };
	bad(C_ZLE, h1, sizeof(h1), 16, "zle");
	bad(C_ZLE, h2, sizeof(h2), 191, "zle");
	bad(C_ZLE, h3, 64 + 1, 63, "zle");
	bad(C_ZLE, v1, sizeof(v1), sizeof(want) + 1, "zle");
	free(in);
	free(z);
}

/* ---- the rest ---------------------------------------------------------- */

static void others(void **state)
{
	struct bk_error err = { 0 };
	uint8_t *d;

	(void)state;
	/* "on" never names a block's algorithm; 17 is none yet */
	assert_int_equal(dec(1, "x", 1, &d, 512, &err), BK_ERR_UNSUPPORTED);
	free(d);
	assert_int_equal(dec(17, "x", 1, &d, 512, &err), BK_ERR_UNSUPPORTED);
	assert_non_null(strstr(err.msg, "17"));
	free(d);
	bad(C_LZ4, "\0\0\0\x10zz", 6, 512, "lz4");
	bad(C_OFF, "abc", 3, 2, "block of 3 bytes");
	/* a zero-length block is all zeros for every algorithm that allows it */
	static const uint8_t zeros[512];
	good(C_OFF, "", 0, zeros, sizeof(zeros));
	/* an empty payload may come as NULL (the map's empty inline bytes;
	 * found by fuzz_map): no codec reads through it or writes past 0 */
	for (unsigned c = 0; c < 17; c++) {
		uint8_t one[1] = { 0xa5 };

		memset(&err, 0, sizeof(err));
		(void)bk_zpl_decompress(c, NULL, 0, one, 0, &err);
		assert_int_equal(one[0], 0xa5);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(gzip_levels),  cmocka_unit_test(zstd_real_block),
		cmocka_unit_test(zstd_levels),  cmocka_unit_test(lzjb_blocks),
		cmocka_unit_test(zle_blocks),   cmocka_unit_test(others),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
