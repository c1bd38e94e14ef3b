/* SPDX-License-Identifier: MIT */
/*
 * ZFS's block compressions, the writing side (include/backup/gen.h,
 * bk_gen_compress): what a pool stores and `zfs send -c` sends, made so
 * that tests can give the readers (libbackup/zpl/zcodec.c) compressed
 * payloads of every kind.  Formats: docs/zpl.md, "Compressed blocks".
 * The lzjb and zle encoders are ours, from the format descriptions; they
 * need not choose what ZFS would, only write what ZFS can read.
 */
#include <limits.h>
#include <lz4.h>
#include <string.h>
#include <zlib.h>
#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_c_format: frames without magic */
#include <zstd.h>

#include "backup/gen.h"

#define C_LZJB 3u
#define C_GZIP_1 5u
#define C_GZIP_9 13u
#define C_ZLE 14u
#define C_LZ4 15u
#define C_ZSTD 16u
#define ZSTD_LEVEL 3 /* zstd's and OpenZFS's default */

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* greedy: the last position of each 3-byte hash, taken when it matches
 * at least 3 bytes within 1023 back; 0 when dst[cap] is too small */
static size_t lzjb(const uint8_t *s, size_t n, uint8_t *d, size_t cap)
{
	uint32_t last[1024];
	size_t in = 0, out = 0, map = 0;
	unsigned bit = 8;

	memset(last, 0xff, sizeof(last));
	while (in < n) {
		size_t len = 0, dist = 0;

		if (bit == 8) {
			if (out >= cap)
				return 0;
			map = out++;
			d[map] = 0;
			bit = 0;
		}
		if (n - in >= 3) {
			unsigned h = ((unsigned)s[in] << 16 ^ (unsigned)s[in + 1] << 8 ^
				      s[in + 2]) * 2654435761u >> 22;
			uint32_t at = last[h];

			last[h] = (uint32_t)in;
			if (at != UINT32_MAX && in - at <= 1023) {
				dist = in - at;
				while (len < 66 && in + len < n &&
				       s[in + len] == s[in + len - dist])
					len++;
			}
		}
		if (len >= 3) {
			if (cap - out < 2)
				return 0;
			d[map] |= (uint8_t)(1u << bit);
			d[out++] = (uint8_t)((len - 3) << 2 | dist >> 8);
			d[out++] = (uint8_t)dist;
			in += len;
		} else {
			if (out >= cap)
				return 0;
			d[out++] = s[in++];
		}
		bit++;
	}
	return out;
}

/* zle of level 64: zero runs of 2..192 in one byte, literal runs of
 * 1..64 */
static size_t zle(const uint8_t *s, size_t n, uint8_t *d, size_t cap)
{
	size_t in = 0, out = 0;

	while (in < n) {
		size_t z = 0, l = 0;

		while (in + z < n && s[in + z] == 0 && z < 192)
			z++;
		if (z >= 2) {
			if (out >= cap)
				return 0;
			d[out++] = (uint8_t)(z + 63);
			in += z;
			continue;
		}
		while (in + l < n && l < 64 &&
		       !(s[in + l] == 0 && in + l + 1 < n && s[in + l + 1] == 0))
			l++;
		if (l == 0)
			l = 1; /* a lone zero at the end */
		if (cap - out < l + 1)
			return 0;
		d[out++] = (uint8_t)(l - 1);
		memcpy(d + out, s + in, l);
		out += l;
		in += l;
	}
	return out;
}

static size_t zstd(const uint8_t *s, size_t n, uint8_t *d, size_t cap)
{
	ZSTD_CCtx *cc;
	size_t r;

	if (cap < 8 || !(cc = ZSTD_createCCtx()))
		return 0;
	r = ZSTD_CCtx_setParameter(cc, ZSTD_c_compressionLevel, ZSTD_LEVEL);
	if (!ZSTD_isError(r))
		r = ZSTD_CCtx_setParameter(cc, ZSTD_c_format,
					   ZSTD_f_zstd1_magicless);
	if (!ZSTD_isError(r))
		r = ZSTD_CCtx_setParameter(cc, ZSTD_c_contentSizeFlag, 0);
	if (!ZSTD_isError(r))
		r = ZSTD_compress2(cc, d + 8, cap - 8, s, n);
	ZSTD_freeCCtx(cc);
	if (ZSTD_isError(r) || r > UINT32_MAX)
		return 0;
	put_be32(d, (uint32_t)r);
	put_be32(d + 4, (uint32_t)ZSTD_LEVEL << 24 |
				(ZSTD_versionNumber() & 0xffffffu));
	return r + 8;
}

size_t bk_gen_compress(unsigned alg, const void *src, size_t len, void *dst,
		       size_t cap)
{
	const uint8_t *s = src;
	uint8_t *d = dst;

	if (len > INT32_MAX || cap > INT32_MAX)
		return 0;
	if (alg == C_LZJB)
		return lzjb(s, len, d, cap);
	if (alg == C_ZLE)
		return zle(s, len, d, cap);
	if (alg == C_ZSTD)
		return zstd(s, len, d, cap);
	if (alg == C_LZ4) {
		int r;

		if (cap < 4)
			return 0;
		r = LZ4_compress_default(src, (char *)d + 4, (int)len,
					 (int)cap - 4);
		if (r <= 0)
			return 0;
		put_be32(d, (uint32_t)r);
		return (size_t)r + 4;
	}
	if (alg >= C_GZIP_1 && alg <= C_GZIP_9) {
		uLongf out = cap;

		if (compress2(d, &out, s, len, (int)(alg - C_GZIP_1 + 1)) !=
		    Z_OK)
			return 0;
		return out;
	}
	return 0;
}
