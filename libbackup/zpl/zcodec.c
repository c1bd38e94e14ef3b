/* SPDX-License-Identifier: MIT */
/*
 * ZFS's compressed block formats, as `zfs send -c` carries them and the
 * local pool keeps them (docs/zpl.md, "Compressed blocks").  Every
 * decoder writes into dst[dstlen] (the block's logical size) and never
 * past it, reads src[srclen] and never past it, and answers a block that
 * does not decode with BK_ERR_FORMAT naming the algorithm: the bytes come
 * from a stream and nothing has checked them against a block pointer.
 *
 * Our own decoders, written from the public descriptions of the formats
 * (lzjb, zle); gzip through zlib, zstd through libzstd, lz4 through liblz4.
 */
#include <limits.h>
#include <lz4.h>
#include <string.h>
#include <zlib.h>
/* ZSTD_d_format, to read the frames OpenZFS writes without their magic */
#define ZSTD_STATIC_LINKING_ONLY
#include <zstd.h>

#include "zpl_impl.h"

/* zio_compress.h's numbering, as block pointers and WRITE records carry it */
#define ZIO_COMPRESS_INHERIT 0u
#define ZIO_COMPRESS_ON 1u
#define ZIO_COMPRESS_OFF 2u
#define ZIO_COMPRESS_LZJB 3u
#define ZIO_COMPRESS_EMPTY 4u
#define ZIO_COMPRESS_GZIP_1 5u
#define ZIO_COMPRESS_GZIP_9 13u
#define ZIO_COMPRESS_ZLE 14u
#define ZIO_COMPRESS_LZ4 15u
#define ZIO_COMPRESS_ZSTD 16u

/* zle's run-length split: the level of ZIO_COMPRESS_ZLE in ZFS's table */
#define ZLE_LEVEL 64u

/* lzjb: a 6-bit length (+3) and a 10-bit distance per back reference */
#define LZJB_MATCH_BITS 6u
#define LZJB_MATCH_MIN 3u
#define LZJB_OFFSET_MASK ((1u << 10) - 1)

static const char *compress_name(unsigned c)
{
	static const char *const names[] = {
		"inherit", "on", "off", "lzjb", "empty", "gzip-1", "gzip-2",
		"gzip-3", "gzip-4", "gzip-5", "gzip-6", "gzip-7", "gzip-8",
		"gzip-9", "zle", "lz4", "zstd",
	};

	return c < sizeof(names) / sizeof(names[0]) ? names[c] : "unknown";
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

/* ZFS's lz4 blocks: the compressed length, big-endian, then one LZ4 block */
static enum bk_code dec_lz4(const uint8_t *s, size_t srclen, uint8_t *dst,
			    size_t dstlen, size_t *got, struct bk_error *err)
{
	uint32_t n;
	int r;

	if (srclen < 4)
		return bk_error_set(err, BK_ERR_FORMAT, "lz4 block too short");
	n = be32(s);
	if (n > srclen - 4 || n > INT32_MAX || dstlen > INT32_MAX)
		return bk_error_set(err, BK_ERR_FORMAT,
				    "lz4 block: length %u of %zu bytes", n,
				    srclen - 4);
	r = LZ4_decompress_safe((const char *)s + 4, (char *)dst, (int)n,
				(int)dstlen);
	if (r < 0)
		return bk_error_set(err, BK_ERR_FORMAT,
				    "lz4 block does not decompress");
	*got = (size_t)r;
	return BK_OK;
}

/*
 * gzip-N: zlib's compress2() output (a zlib stream: 2-byte header, deflate,
 * Adler-32), which ZFS reads back with uncompress().  The block may be
 * padded to its allocation size after the stream's end; that is ignored.
 */
static enum bk_code dec_gzip(const char *name, const uint8_t *s,
			     size_t srclen, uint8_t *dst, size_t dstlen,
			     size_t *got, struct bk_error *err)
{
	z_stream z;
	int r;

	if (srclen > UINT_MAX || dstlen > UINT_MAX)
		return bk_error_set(err, BK_ERR_FORMAT, "%s block too large",
				    name);
	memset(&z, 0, sizeof(z));
	if (inflateInit(&z) != Z_OK)
		return bk_error_set(err, BK_ERR_NOMEM,
				    "%s: zlib does not start", name);
	z.next_in = (Bytef *)s;
	z.avail_in = (uInt)srclen;
	z.next_out = dst;
	z.avail_out = (uInt)dstlen;
	r = inflate(&z, Z_FINISH);
	*got = dstlen - z.avail_out;
	inflateEnd(&z);
	if (r == Z_STREAM_END)
		return BK_OK;
	if (r == Z_MEM_ERROR)
		return bk_error_set(err, BK_ERR_NOMEM, "%s: out of memory",
				    name);
	if (z.avail_out == 0)
		return bk_error_set(err, BK_ERR_FORMAT,
				    "%s block decompresses past %zu bytes",
				    name, dstlen);
	return bk_error_set(err, BK_ERR_FORMAT,
			    "%s block does not decompress (%s)", name,
			    z.msg ? z.msg : r == Z_BUF_ERROR ? "truncated"
							     : "bad data");
}

/*
 * zstd: OpenZFS's 8-byte header, then a zstd frame without its magic
 * number (the "magicless" format).  The header: the frame's length and a
 * word whose top byte is the level and whose low 24 bits the zstd version
 * that wrote it, both big-endian.  Neither the level nor the version is
 * needed to decode.
 */
static enum bk_code dec_zstd(const uint8_t *s, size_t srclen, uint8_t *dst,
			     size_t dstlen, size_t *got, struct bk_error *err)
{
	ZSTD_DCtx *dc;
	uint32_t n;
	size_t r;

	if (srclen < 8)
		return bk_error_set(err, BK_ERR_FORMAT,
				    "zstd block too short (%zu bytes)", srclen);
	n = be32(s);
	if (n > srclen - 8)
		return bk_error_set(err, BK_ERR_FORMAT,
				    "zstd block: length %u of %zu bytes", n,
				    srclen - 8);
	dc = ZSTD_createDCtx();
	if (!dc)
		return bk_error_set(err, BK_ERR_NOMEM,
				    "zstd: out of memory");
	r = ZSTD_DCtx_setParameter(dc, ZSTD_d_format, ZSTD_f_zstd1_magicless);
	if (!ZSTD_isError(r))
		r = ZSTD_decompressDCtx(dc, dst, dstlen, s + 8, n);
	ZSTD_freeDCtx(dc);
	if (ZSTD_isError(r))
		return bk_error_set(err, BK_ERR_FORMAT,
				    "zstd block does not decompress (%s)",
				    ZSTD_getErrorName(r));
	*got = r;
	return BK_OK;
}

/*
 * lzjb: groups of up to eight items, each group led by a byte whose bits,
 * lowest first, say which items are literals (0: one byte) and which are
 * back references (1: two bytes, big-endian: 6 bits of length - 3, then a
 * 10-bit distance back into the output).  It ends when the output is full;
 * bytes after that are padding.
 */
static enum bk_code dec_lzjb(const uint8_t *s, size_t srclen, uint8_t *dst,
			     size_t dstlen, size_t *got, struct bk_error *err)
{
	size_t in = 0, out = 0;
	unsigned map = 0, bit = 8;

	while (out < dstlen) {
		if (bit == 8) {
			if (in >= srclen)
				goto short_input;
			map = s[in++];
			bit = 0;
		}
		if (!(map >> bit++ & 1)) {
			if (in >= srclen)
				goto short_input;
			dst[out++] = s[in++];
			continue;
		}
		if (srclen - in < 2)
			goto short_input;
		size_t len = (s[in] >> (8 - LZJB_MATCH_BITS)) + LZJB_MATCH_MIN;
		size_t dist = ((size_t)s[in] << 8 | s[in + 1]) &
			      LZJB_OFFSET_MASK;
		in += 2;
		if (dist == 0 || dist > out)
			return bk_error_set(err, BK_ERR_FORMAT,
					    "lzjb block: reference %zu bytes "
					    "back at output byte %zu",
					    dist, out);
		if (len > dstlen - out)
			len = dstlen - out; /* ZFS clips the last copy too */
		/* byte by byte: a reference may overlap what it writes */
		for (size_t i = 0; i < len; i++, out++)
			dst[out] = dst[out - dist];
	}
	*got = out;
	return BK_OK;
short_input:
	return bk_error_set(err, BK_ERR_FORMAT,
			    "lzjb block ends after %zu of %zu bytes", out,
			    dstlen);
}

/*
 * zle (zero-length encoding) of level n: each run starts with a byte b;
 * b < n is b + 1 literal bytes following, b >= n is b + 1 - n zeros.  The
 * output must come out whole, as ZFS requires; padding after it is
 * ignored.
 */
static enum bk_code dec_zle(const uint8_t *s, size_t srclen, uint8_t *dst,
			    size_t dstlen, unsigned n, size_t *got,
			    struct bk_error *err)
{
	size_t in = 0, out = 0;

	while (out < dstlen) {
		size_t len;

		if (in >= srclen)
			return bk_error_set(err, BK_ERR_FORMAT,
					    "zle block ends after %zu of %zu "
					    "bytes", out, dstlen);
		len = (size_t)s[in++] + 1;
		if (len <= n) {
			if (len > srclen - in || len > dstlen - out)
				return bk_error_set(err, BK_ERR_FORMAT,
						    "zle block: %zu literal "
						    "bytes at input byte %zu "
						    "do not fit", len, in - 1);
			memcpy(dst + out, s + in, len);
			in += len;
		} else {
			len -= n;
			if (len > dstlen - out)
				return bk_error_set(err, BK_ERR_FORMAT,
						    "zle block: %zu zeros at "
						    "input byte %zu do not fit",
						    len, in - 1);
			memset(dst + out, 0, len);
		}
		out += len;
	}
	*got = out;
	return BK_OK;
}

enum bk_code bk_zpl_decompress(unsigned compress, const void *src,
			       size_t srclen, void *dst, size_t dstlen,
			       struct bk_error *err)
{
	static const uint8_t none[1];
	const uint8_t *s = srclen ? src : none;
	size_t got = 0;
	enum bk_code rc;

	/* an empty payload may come as NULL; no decoder or memcpy sees that */
	switch (compress) {
	case ZIO_COMPRESS_OFF:
	case ZIO_COMPRESS_INHERIT:
	case ZIO_COMPRESS_EMPTY:
		if (srclen > dstlen)
			return bk_error_set(err, BK_ERR_FORMAT,
					    "block of %zu bytes, %zu expected",
					    srclen, dstlen);
		if (srclen)
			memcpy(dst, s, srclen);
		got = srclen;
		rc = BK_OK;
		break;
	case ZIO_COMPRESS_LZ4:
		rc = dec_lz4(s, srclen, dst, dstlen, &got, err);
		break;
	case ZIO_COMPRESS_ZSTD:
		rc = dec_zstd(s, srclen, dst, dstlen, &got, err);
		break;
	case ZIO_COMPRESS_LZJB:
		rc = dec_lzjb(s, srclen, dst, dstlen, &got, err);
		break;
	case ZIO_COMPRESS_ZLE:
		rc = dec_zle(s, srclen, dst, dstlen, ZLE_LEVEL, &got, err);
		break;
	default:
		if (compress >= ZIO_COMPRESS_GZIP_1 &&
		    compress <= ZIO_COMPRESS_GZIP_9) {
			rc = dec_gzip(compress_name(compress), s, srclen, dst,
				      dstlen, &got, err);
			break;
		}
		/* "on" never names a block's algorithm; 17 and up are unknown */
		return bk_error_set(err, BK_ERR_UNSUPPORTED,
				    "blocks compressed with %s (%u) are not "
				    "read", compress_name(compress), compress);
	}
	if (rc != BK_OK)
		return rc;
	/* a block that decodes short reads as zeros after its end */
	memset((uint8_t *)dst + got, 0, dstlen - got);
	return BK_OK;
}
