/* SPDX-License-Identifier: MIT */
/*
 * ETags, to tell whether a request whose answer was lost took effect: MD5
 * (RFC 1321; only for comparing with what S3 reports, never for security),
 * the forms an ETag takes, and the ETag of a multipart upload.
 */
#include <string.h>

#include "backup/util.h"
#include "store/s3_impl.h"
#include "util/le.h"

struct md5 {
	uint32_t h[4];
	uint64_t len;
	uint8_t buf[64];
};

static uint32_t rol(uint32_t x, unsigned n)
{
	return (x << n) | (x >> (32 - n));
}

static void md5_block(struct md5 *m, const uint8_t *p)
{
	static const uint32_t k[64] = {
		0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf,
		0x4787c62a, 0xa8304613, 0xfd469501, 0x698098d8, 0x8b44f7af,
		0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e,
		0x49b40821, 0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa,
		0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8, 0x21e1cde6,
		0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8,
		0x676f02d9, 0x8d2a4c8a, 0xfffa3942, 0x8771f681, 0x6d9d6122,
		0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
		0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039,
		0xe6db99e5, 0x1fa27cf8, 0xc4ac5665, 0xf4292244, 0x432aff97,
		0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d,
		0x85845dd1, 0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1,
		0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
	};
	static const uint8_t r[64] = {
		7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22,
		5, 9,  14, 20, 5, 9,  14, 20, 5, 9,  14, 20, 5, 9,  14, 20,
		4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23,
		6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
	};
	uint32_t w[16], a = m->h[0], b = m->h[1], c = m->h[2], d = m->h[3];

	for (unsigned i = 0; i < 16; i++)
		w[i] = get_le32(p + 4 * i);
	for (unsigned i = 0; i < 64; i++) {
		uint32_t f, t;
		unsigned g;

		if (i < 16) {
			f = (b & c) | (~b & d);
			g = i;
		} else if (i < 32) {
			f = (d & b) | (~d & c);
			g = (5 * i + 1) % 16;
		} else if (i < 48) {
			f = b ^ c ^ d;
			g = (3 * i + 5) % 16;
		} else {
			f = c ^ (b | ~d);
			g = (7 * i) % 16;
		}
		t = d;
		d = c;
		c = b;
		b = b + rol(a + f + k[i] + w[g], r[i]);
		a = t;
	}
	m->h[0] += a;
	m->h[1] += b;
	m->h[2] += c;
	m->h[3] += d;
}

static void md5_init(struct md5 *m)
{
	m->h[0] = 0x67452301;
	m->h[1] = 0xefcdab89;
	m->h[2] = 0x98badcfe;
	m->h[3] = 0x10325476;
	m->len = 0;
}

static void md5_update(struct md5 *m, const void *data, size_t n)
{
	const uint8_t *p = data;
	size_t have = (size_t)(m->len % 64);

	m->len += n;
	if (have) {
		size_t take = 64 - have < n ? 64 - have : n;

		memcpy(m->buf + have, p, take);
		p += take;
		n -= take;
		if (have + take < 64)
			return;
		md5_block(m, m->buf);
	}
	for (; n >= 64; p += 64, n -= 64)
		md5_block(m, p);
	memcpy(m->buf, p, n);
}

static void md5_final(struct md5 *m, uint8_t out[S3_MD5_LEN])
{
	uint64_t bits = m->len * 8;
	uint8_t pad[72] = { 0x80 };
	size_t have = (size_t)(m->len % 64);
	size_t padlen = (have < 56 ? 56 : 120) - have;

	put_le64(pad + padlen, bits);
	md5_update(m, pad, padlen + 8);
	for (unsigned i = 0; i < 4; i++)
		put_le32(out + 4 * i, m->h[i]);
}

void s3_md5(const void *data, size_t len, uint8_t out[S3_MD5_LEN])
{
	struct md5 m;

	md5_init(&m);
	md5_update(&m, data, len);
	md5_final(&m, out);
}

enum s3_etag_form s3_etag_parse(const char *etag, uint8_t md5[S3_MD5_LEN],
				unsigned *nparts)
{
	const char *p = etag;
	size_t n;
	unsigned long parts = 0;

	*nparts = 0;
	if (!p)
		return S3_ETAG_OTHER;
	n = strlen(p);
	if (n >= 2 && p[0] == '"' && p[n - 1] == '"') {
		p++;
		n -= 2;
	}
	if (n < 2 * S3_MD5_LEN)
		return S3_ETAG_OTHER;
	for (unsigned i = 0; i < S3_MD5_LEN; i++) {
		int hi = bk_hexval(p[2 * i]), lo = bk_hexval(p[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return S3_ETAG_OTHER;
		md5[i] = (uint8_t)(hi << 4 | lo);
	}
	if (n == 2 * S3_MD5_LEN)
		return S3_ETAG_MD5;
	p += 2 * S3_MD5_LEN;
	n -= 2 * S3_MD5_LEN;
	if (p[0] != '-' || n < 2 || n > 6 || p[1] == '0')
		return S3_ETAG_OTHER;
	for (size_t i = 1; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return S3_ETAG_OTHER;
		parts = parts * 10 + (unsigned long)(p[i] - '0');
	}
	if (parts > S3_PARTS_MAX)
		return S3_ETAG_OTHER;
	*nparts = (unsigned)parts;
	return S3_ETAG_MULTIPART;
}

bool s3_etag_multipart(const char (*parts)[S3_ETAG_MAX], unsigned n,
		       uint8_t out[S3_MD5_LEN])
{
	struct md5 m;

	if (n == 0)
		return false;
	md5_init(&m);
	for (unsigned i = 0; i < n; i++) {
		uint8_t d[S3_MD5_LEN];
		unsigned np;

		if (s3_etag_parse(parts[i], d, &np) != S3_ETAG_MD5)
			return false;
		md5_update(&m, d, sizeof(d));
	}
	md5_final(&m, out);
	return true;
}
