/* Packed nvlists: hand-built byte tables in each encoding, round trips of
 * every data type in NATIVE (both byte orders) and XDR, zstream-dump text and
 * JSON for every type, malformed input (truncated at every byte, random bit
 * flips, specific corruptions) giving an error or a valid result but never a
 * crash, builder semantics, and the BEGIN nvlists of the real streams in
 * $ZBAK_SHARED_STREAMS (default ../shared/streams; skipped when absent)
 * against `zstream dump -v`'s golden text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "backup/nvlist.h"

#define BUFMAX (1u << 24)

/* ---- helpers ---- */

static uint32_t rng_state = 0x2545f491u;

static uint32_t next_rand(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 17;
	rng_state ^= rng_state << 5;
	return rng_state;
}

/* Unpack from an exact-size heap copy, so ASan sees any over-read. */
static enum bk_code unpack_exact(const uint8_t *b, size_t n,
				 struct bk_nvlist **out, struct bk_error *err)
{
	uint8_t *copy = malloc(n ? n : 1);
	enum bk_code rc;

	assert_non_null(copy);
	if (n)
		memcpy(copy, b, n);
	rc = bk_nvlist_unpack(copy, n, out, err);
	free(copy);
	return rc;
}

static char *dump_str(const struct bk_nvlist *nvl)
{
	struct bk_buf b;
	struct bk_error err;
	char *s;

	bk_buf_init(&b, BUFMAX);
	assert_int_equal(bk_nvlist_dump(nvl, &b, &err), BK_OK);
	s = strdup(b.data ? (char *)b.data : "");
	bk_buf_release(&b);
	return s;
}

static char *json_str(const struct bk_nvlist *nvl)
{
	struct bk_buf b;
	struct bk_error err;
	char *s;

	bk_buf_init(&b, BUFMAX);
	assert_int_equal(bk_nvlist_to_json(nvl, &b, &err), BK_OK);
	s = strdup((char *)b.data);
	bk_buf_release(&b);
	return s;
}

static void pack_into(const struct bk_nvlist *nvl, enum bk_nv_encoding enc,
		      bool be, struct bk_buf *b)
{
	struct bk_error err;

	bk_buf_init(b, BUFMAX);
	assert_int_equal(bk_nvlist_pack(nvl, enc, be, b, &err), BK_OK);
}

static void assert_bytes(const uint8_t *got, size_t glen, const uint8_t *want,
			 size_t wlen)
{
	size_t i;

	for (i = 0; i < glen && i < wlen; i++)
		if (got[i] != want[i])
			fail_msg("byte %zu: got 0x%02x, want 0x%02x", i, got[i],
				 want[i]);
	assert_int_equal(glen, wlen);
}

/* ---- hand-built tables ---- */

/* { "a": uint64 0x0102030405060708 }, NATIVE little-endian */
static const uint8_t t_u64_le[] = {
	0x00, 0x01, 0x00, 0x00,                         /* native, little */
	0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, /* version, flags */
	0x20, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, /* size 32, name 2 */
	0x01, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, /* nelem 1, uint64 */
	'a', 0, 0, 0, 0, 0, 0, 0,
	0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01,
	0x00, 0x00, 0x00, 0x00,                         /* end */
};

/* the same, NATIVE big-endian */
static const uint8_t t_u64_be[] = {
	0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
	0x00, 0x00, 0x00, 0x20, 0x00, 0x02, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x08,
	'a', 0, 0, 0, 0, 0, 0, 0,
	0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
	0x00, 0x00, 0x00, 0x00,
};

/* { "s": "hi", "f": boolean }, XDR */
static const uint8_t t_xdr[] = {
	0x01, 0x01, 0x00, 0x00,
	0, 0, 0, 0, 0, 0, 0, 1,                  /* version, flags */
	0, 0, 0, 0x20, 0, 0, 0, 0x20,            /* encoded 32, decoded 32 */
	0, 0, 0, 1, 's', 0, 0, 0,                /* name */
	0, 0, 0, 9, 0, 0, 0, 1,                  /* string, 1 */
	0, 0, 0, 2, 'h', 'i', 0, 0,
	0, 0, 0, 0x18, 0, 0, 0, 0x18,            /* encoded 24, decoded 24 */
	0, 0, 0, 1, 'f', 0, 0, 0,
	0, 0, 0, 1, 0, 0, 0, 0,                  /* boolean, 0 elements */
	0, 0, 0, 0, 0, 0, 0, 0,                  /* end */
};

/* { "n": { "x": uint32 5 } }, NATIVE little-endian */
static const uint8_t t_nested[] = {
	0x00, 0x01, 0x00, 0x00,
	0, 0, 0, 0, 1, 0, 0, 0,
	0x30, 0, 0, 0, 2, 0, 0, 0,               /* size 48, name 2 */
	1, 0, 0, 0, 0x13, 0, 0, 0,               /* nelem 1, nvlist */
	'n', 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 1, 0, 0, 0,                  /* nvlist_t: version, flags */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0x20, 0, 0, 0, 2, 0, 0, 0,               /* nested pair, size 32 */
	1, 0, 0, 0, 6, 0, 0, 0,                  /* uint32 */
	'x', 0, 0, 0, 0, 0, 0, 0,
	5, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0,                              /* end of nested */
	0, 0, 0, 0,                              /* end */
};

static void table_case(const uint8_t *bytes, size_t len, const char *text,
		       enum bk_nv_encoding enc, bool be,
		       struct bk_nvlist *built)
{
	struct bk_nvlist *nvl = NULL;
	struct bk_error err;
	struct bk_buf b;
	char *s;

	assert_int_equal(unpack_exact(bytes, len, &nvl, &err), BK_OK);
	assert_int_equal(bk_nvlist_encoding(nvl), enc);
	if (enc == BK_NV_NATIVE)
		assert_int_equal(bk_nvlist_bigendian(nvl), be);
	s = dump_str(nvl);
	assert_string_equal(s, text);
	free(s);
	/* re-pack of the decoded list, and pack of the built one */
	pack_into(nvl, enc, be, &b);
	assert_bytes(b.data, b.len, bytes, len);
	bk_buf_release(&b);
	pack_into(built, enc, be, &b);
	assert_bytes(b.data, b.len, bytes, len);
	bk_buf_release(&b);
	bk_nvlist_free(nvl);
}

static void test_tables(void **state)
{
	struct bk_nvlist *a = NULL, *x = NULL, *n = NULL, *inner = NULL;
	struct bk_nvlist *nvl = NULL;
	struct bk_error err;
	uint64_t u = 0;
	const struct bk_nvlist *sub;
	uint32_t u32 = 0;

	(void)state;
	assert_int_equal(bk_nvlist_new(&a, &err), BK_OK);
	assert_int_equal(bk_nvlist_add_uint64(a, "a", 0x0102030405060708ull,
					      &err), BK_OK);
	table_case(t_u64_le, sizeof(t_u64_le),
		   "nvlist encoding = NV_ENCODE_NATIVE (little-endian)\n"
		   "nvlist version: 0\n\ta = 0x102030405060708\n",
		   BK_NV_NATIVE, false, a);
	table_case(t_u64_be, sizeof(t_u64_be),
		   "nvlist encoding = NV_ENCODE_NATIVE (big-endian)\n"
		   "nvlist version: 0\n\ta = 0x102030405060708\n",
		   BK_NV_NATIVE, true, a);

	assert_int_equal(bk_nvlist_new(&x, &err), BK_OK);
	assert_int_equal(bk_nvlist_add_string(x, "s", "hi", &err), BK_OK);
	assert_int_equal(bk_nvlist_add_boolean(x, "f", &err), BK_OK);
	table_case(t_xdr, sizeof(t_xdr),
		   "nvlist encoding = NV_ENCODE_XDR\n"
		   "nvlist version: 0\n\ts = hi\n\tf = 1\n",
		   BK_NV_XDR, false, x);

	assert_int_equal(bk_nvlist_new(&n, &err), BK_OK);
	assert_int_equal(bk_nvlist_new(&inner, &err), BK_OK);
	assert_int_equal(bk_nvlist_add_uint32(inner, "x", 5, &err), BK_OK);
	assert_int_equal(bk_nvlist_add_nvlist(n, "n", inner, &err), BK_OK);
	table_case(t_nested, sizeof(t_nested),
		   "nvlist encoding = NV_ENCODE_NATIVE (little-endian)\n"
		   "nvlist version: 0\n"
		   "\tn = (embedded nvlist)\n"
		   "\tnvlist version: 0\n"
		   "\t\tx = 0x5\n"
		   "\t(end n)\n\n",
		   BK_NV_NATIVE, false, n);

	/* lookups on a decoded list */
	assert_int_equal(unpack_exact(t_nested, sizeof(t_nested), &nvl, &err),
			 BK_OK);
	assert_true(bk_nvlist_lookup_nvlist(nvl, "n", &sub));
	assert_true(bk_nvlist_lookup_uint32(sub, "x", &u32));
	assert_int_equal(u32, 5);
	assert_false(bk_nvlist_lookup_uint64(sub, "x", &u));
	assert_false(bk_nvlist_lookup_uint64(nvl, "missing", &u));
	bk_nvlist_free(nvl);

	/* bytes after the list are ignored */
	{
		uint8_t padded[sizeof(t_u64_le) + 8];

		memcpy(padded, t_u64_le, sizeof(t_u64_le));
		memset(padded + sizeof(t_u64_le), 0xee, 8);
		assert_int_equal(unpack_exact(padded, sizeof(padded), &nvl,
					      &err), BK_OK);
		assert_true(bk_nvlist_lookup_uint64(nvl, "a", &u));
		assert_true(u == 0x0102030405060708ull);
		bk_nvlist_free(nvl);
	}
	bk_nvlist_free(a);
	bk_nvlist_free(x);
	bk_nvlist_free(n);
	bk_nvlist_free(inner);
}

/* ---- specific corruptions ---- */

static void expect_error(const uint8_t *b, size_t n, enum bk_code code,
			 const char *msg)
{
	struct bk_nvlist *nvl = (struct bk_nvlist *)1;
	struct bk_error err;

	bk_error_clear(&err);
	if (unpack_exact(b, n, &nvl, &err) != code)
		fail_msg("want code %d (%s), got %d (%s)", (int)code,
			 msg ? msg : "any message", (int)err.code, err.msg);
	assert_null(nvl);
	assert_int_equal(err.code, code);
	if (msg)
		assert_string_equal(err.msg, msg);
	else
		assert_true(strncmp(err.msg, "nvlist at byte ", 15) == 0);
}

static void test_corruptions(void **state)
{
	uint8_t b[256];

	(void)state;
	expect_error(t_u64_le, 0, BK_ERR_FORMAT,
		     "nvlist at byte 0: header runs past the end (0 bytes)");

	memcpy(b, t_u64_le, sizeof(t_u64_le));
	b[12] = 0x28; /* pair size 9000 */
	b[13] = 0x23;
	expect_error(b, sizeof(t_u64_le), BK_ERR_FORMAT,
		     "nvlist at byte 12: pair size 9000 runs past the end "
		     "(48 bytes)");

	memcpy(b, t_u64_le, sizeof(t_u64_le));
	b[0] = 7;
	expect_error(b, sizeof(t_u64_le), BK_ERR_FORMAT,
		     "nvlist at byte 0: unknown encoding 7");

	memcpy(b, t_u64_le, sizeof(t_u64_le));
	b[1] = 2;
	expect_error(b, sizeof(t_u64_le), BK_ERR_FORMAT,
		     "nvlist at byte 1: unknown byte order 2");

	memcpy(b, t_u64_le, sizeof(t_u64_le));
	b[24] = 99;
	expect_error(b, sizeof(t_u64_le), BK_ERR_FORMAT,
		     "nvlist at byte 24: unknown data type 99");

	memcpy(b, t_u64_le, sizeof(t_u64_le));
	b[20] = 2; /* a uint64 with 2 elements */
	expect_error(b, sizeof(t_u64_le), BK_ERR_FORMAT,
		     "nvlist at byte 24: uint64 value with 2 elements");

	memcpy(b, t_u64_le, sizeof(t_u64_le));
	b[29] = 'b'; /* name no longer NUL-terminated at name_sz */
	expect_error(b, sizeof(t_u64_le), BK_ERR_FORMAT,
		     "nvlist at byte 28: name is not 1 bytes and a NUL");

	memcpy(b, t_u64_le, sizeof(t_u64_le));
	b[12] = 0x28; /* size 40: value area larger than a uint64 */
	memset(b + 44, 0, 4);
	expect_error(b, sizeof(t_u64_le), BK_ERR_FORMAT, NULL);

	memcpy(b, t_u64_le, sizeof(t_u64_le));
	b[24] = 21; /* boolean_value 0x05060708 */
	b[12] = 0x20;
	expect_error(b, sizeof(t_u64_le), BK_ERR_FORMAT, NULL);

	/* no terminator */
	expect_error(t_u64_le, sizeof(t_u64_le) - 4, BK_ERR_FORMAT,
		     "nvlist at byte 44: list runs past the end (44 bytes) "
		     "without its terminator");

	/* embedded nvlist with version 1 */
	memcpy(b, t_nested, sizeof(t_nested));
	b[36] = 1;
	expect_error(b, sizeof(t_nested), BK_ERR_FORMAT,
		     "nvlist at byte 36: embedded nvlist version 1 is not 0");

	/* XDR: decoded size that does not match */
	memcpy(b, t_xdr, sizeof(t_xdr));
	b[19] = 0x28;
	expect_error(b, sizeof(t_xdr), BK_ERR_FORMAT,
		     "nvlist at byte 16: decoded size 40 of pair s should "
		     "be 32");
	/* XDR: negative decoded size */
	memcpy(b, t_xdr, sizeof(t_xdr));
	b[16] = 0x80;
	expect_error(b, sizeof(t_xdr), BK_ERR_FORMAT,
		     "nvlist at byte 16: decoded pair size -2147483616 is "
		     "below the minimum of 24");
	/* XDR: string length past the end */
	memcpy(b, t_xdr, sizeof(t_xdr));
	b[36] = 0x7f;
	expect_error(b, sizeof(t_xdr), BK_ERR_FORMAT, NULL);
	/* XDR: NUL inside the name */
	memcpy(b, t_xdr, sizeof(t_xdr));
	b[23] = 2;
	expect_error(b, sizeof(t_xdr), BK_ERR_FORMAT,
		     "nvlist at byte 24: name contains a NUL byte");
	/* XDR: boolean flag with an element */
	memcpy(b, t_xdr, sizeof(t_xdr));
	b[67] = 1;
	expect_error(b, sizeof(t_xdr), BK_ERR_FORMAT,
		     "nvlist at byte 60: boolean value with 1 elements");
	/* XDR: embedded list with version 1 */
	{
		struct bk_nvlist *n = NULL, *in = NULL;
		struct bk_error err;
		struct bk_buf pk;

		assert_int_equal(bk_nvlist_new(&n, &err), BK_OK);
		assert_int_equal(bk_nvlist_new(&in, &err), BK_OK);
		assert_int_equal(bk_nvlist_add_nvlist(n, "n", in, &err), 0);
		pack_into(n, BK_NV_XDR, false, &pk);
		assert_int_equal(pk.len, 60);
		pk.data[39] = 1; /* the nested list's version */
		expect_error(pk.data, pk.len, BK_ERR_FORMAT,
			     "nvlist at byte 36: embedded nvlist version 1 "
			     "is not 0");
		bk_buf_release(&pk);
		bk_nvlist_free(n);
		bk_nvlist_free(in);
	}
}

/* NATIVE LE list nested `levels` deep: { "n": { "n": ... {} } } */
static size_t make_deep(uint8_t *b, unsigned levels)
{
	size_t off = 0;
	unsigned i;

	memcpy(b, "\0\1\0\0\0\0\0\0\1\0\0\0", 12);
	off = 12;
	for (i = 0; i < levels; i++) {
		memset(b + off, 0, 48);
		b[off] = 0x30;
		b[off + 4] = 2;
		b[off + 8] = 1;
		b[off + 12] = 0x13;
		b[off + 16] = 'n';
		b[off + 28] = 1; /* nvflag */
		off += 48;
	}
	memset(b + off, 0, 4 * ((size_t)levels + 1));
	return off + 4 * ((size_t)levels + 1);
}

static void test_depth(void **state)
{
	uint8_t *b = malloc(12 + 52 * 80 + 4);
	struct bk_nvlist *nvl = NULL, *cur = NULL, *next = NULL;
	struct bk_error err;
	struct bk_buf pk;
	size_t n;
	unsigned i;

	(void)state;
	assert_non_null(b);
	n = make_deep(b, BK_NVLIST_MAX_DEPTH);
	assert_int_equal(unpack_exact(b, n, &nvl, &err), BK_OK);
	/* the builder makes the same bytes */
	assert_int_equal(bk_nvlist_new(&cur, &err), BK_OK);
	for (i = 0; i < BK_NVLIST_MAX_DEPTH; i++) {
		assert_int_equal(bk_nvlist_new(&next, &err), BK_OK);
		assert_int_equal(bk_nvlist_add_nvlist(next, "n", cur, &err),
				 BK_OK);
		bk_nvlist_free(cur);
		cur = next;
	}
	pack_into(cur, BK_NV_NATIVE, false, &pk);
	assert_bytes(pk.data, pk.len, b, n);
	bk_buf_release(&pk);
	/* one more level is refused by both */
	assert_int_equal(bk_nvlist_new(&next, &err), BK_OK);
	assert_int_equal(bk_nvlist_add_nvlist(next, "n", cur, &err),
			 BK_ERR_LIMIT);
	assert_int_equal(bk_nvlist_count(next), 0);
	bk_nvlist_free(next);
	bk_nvlist_free(cur);
	bk_nvlist_free(nvl);
	n = make_deep(b, BK_NVLIST_MAX_DEPTH + 1);
	assert_int_equal(unpack_exact(b, n, &nvl, &err), BK_ERR_LIMIT);
	assert_null(nvl);
	free(b);
}

/* ---- every data type ---- */

static struct bk_nvlist *build_all(void)
{
	static const uint8_t ba[] = { 0, 1, 0xff };
	static const int8_t i8a[] = { -1, 2 };
	static const uint8_t u8a[] = { 0xfb, 4 };
	static const int16_t i16a[] = { -2, 3 };
	static const uint16_t u16a[] = { 65535, 1 };
	static const int32_t i32a[] = { -4, 5 };
	static const uint32_t u32a[] = { 0xffffffffu };
	static const int64_t i64a[] = { INT64_MIN, 7 };
	static const uint64_t u64a[] = { UINT64_MAX, 0 };
	static const bool boa[] = { true, false, true };
	static const char *const sa[] = { "a", "", "bcd" };
	struct bk_nvlist *nvl, *nv, *deeper, *na0, *na1;
	const struct bk_nvlist *na[2];
	struct bk_error err;

	assert_int_equal(bk_nvlist_new(&nvl, &err), BK_OK);
	assert_int_equal(bk_nvlist_new(&nv, &err), BK_OK);
	assert_int_equal(bk_nvlist_new(&deeper, &err), BK_OK);
	assert_int_equal(bk_nvlist_new(&na0, &err), BK_OK);
	assert_int_equal(bk_nvlist_new(&na1, &err), BK_OK);
	assert_int_equal(bk_nvlist_add_boolean(nvl, "flag", &err), BK_OK);
	assert_int_equal(bk_nvlist_add_boolean_value(nvl, "bv", true, &err), 0);
	assert_int_equal(bk_nvlist_add_byte(nvl, "by", 5, &err), BK_OK);
	assert_int_equal(bk_nvlist_add_int8(nvl, "i8", -3, &err), BK_OK);
	assert_int_equal(bk_nvlist_add_uint8(nvl, "u8", 200, &err), BK_OK);
	assert_int_equal(bk_nvlist_add_int16(nvl, "i16", -300, &err), BK_OK);
	assert_int_equal(bk_nvlist_add_uint16(nvl, "u16", 60000, &err), 0);
	assert_int_equal(bk_nvlist_add_int32(nvl, "i32", -70000, &err), 0);
	assert_int_equal(bk_nvlist_add_uint32(nvl, "u32", 4000000000u, &err),
			 BK_OK);
	assert_int_equal(bk_nvlist_add_int64(nvl, "i64", -5000000000ll, &err),
			 BK_OK);
	assert_int_equal(bk_nvlist_add_uint64(nvl, "u64",
					      0xfedcba9876543210ull, &err), 0);
	assert_int_equal(bk_nvlist_add_hrtime(nvl, "hr", 123456789, &err), 0);
	assert_int_equal(bk_nvlist_add_double(nvl, "d", 1.5, &err), BK_OK);
	assert_int_equal(bk_nvlist_add_string(nvl, "s", "hello", &err), 0);
	assert_int_equal(bk_nvlist_add_byte_array(nvl, "ba", ba, 3, &err), 0);
	assert_int_equal(bk_nvlist_add_int8_array(nvl, "i8a", i8a, 2, &err), 0);
	assert_int_equal(bk_nvlist_add_uint8_array(nvl, "u8a", u8a, 2, &err),
			 BK_OK);
	assert_int_equal(bk_nvlist_add_int16_array(nvl, "i16a", i16a, 2, &err),
			 BK_OK);
	assert_int_equal(bk_nvlist_add_uint16_array(nvl, "u16a", u16a, 2,
						    &err), BK_OK);
	assert_int_equal(bk_nvlist_add_int32_array(nvl, "i32a", i32a, 2, &err),
			 BK_OK);
	assert_int_equal(bk_nvlist_add_uint32_array(nvl, "u32a", u32a, 1,
						    &err), BK_OK);
	assert_int_equal(bk_nvlist_add_int64_array(nvl, "i64a", i64a, 2, &err),
			 BK_OK);
	assert_int_equal(bk_nvlist_add_uint64_array(nvl, "u64a", u64a, 2,
						    &err), BK_OK);
	assert_int_equal(bk_nvlist_add_boolean_array(nvl, "boa", boa, 3, &err),
			 BK_OK);
	assert_int_equal(bk_nvlist_add_string_array(nvl, "sa", sa, 3, &err), 0);
	assert_int_equal(bk_nvlist_add_string(nv, "k", "v", &err), BK_OK);
	assert_int_equal(bk_nvlist_add_uint64(deeper, "z", 1, &err), BK_OK);
	assert_int_equal(bk_nvlist_add_nvlist(nv, "deeper", deeper, &err), 0);
	assert_int_equal(bk_nvlist_add_nvlist(nvl, "nv", nv, &err), BK_OK);
	assert_int_equal(bk_nvlist_add_uint32(na0, "i", 0, &err), BK_OK);
	na[0] = na0;
	na[1] = na1;
	assert_int_equal(bk_nvlist_add_nvlist_array(nvl, "na", na, 2, &err),
			 BK_OK);
	assert_int_equal(bk_nvlist_add_uint8_array(nvl, "e8", NULL, 0, &err),
			 BK_OK);
	assert_int_equal(bk_nvlist_add_uint64_array(nvl, "e64", NULL, 0, &err),
			 BK_OK);
	assert_int_equal(bk_nvlist_add_string_array(nvl, "es", NULL, 0, &err),
			 BK_OK);
	assert_int_equal(bk_nvlist_add_nvlist_array(nvl, "ena", NULL, 0, &err),
			 BK_OK);
	assert_int_equal(bk_nvlist_add_byte_array(nvl, "eba", NULL, 0, &err),
			 BK_OK);
	bk_nvlist_free(nv);
	bk_nvlist_free(deeper);
	bk_nvlist_free(na0);
	bk_nvlist_free(na1);
	return nvl;
}

/* nvlist_print()'s text for build_all(), from libnvpair's formats */
static const char all_text[] =
	"nvlist version: 0\n"
	"\tflag = 1\n"
	"\tbv = 1\n"
	"\tby = 0x05\n"
	"\ti8 = -3\n"
	"\tu8 = 0xc8\n"
	"\ti16 = -300\n"
	"\tu16 = 0xea60\n"
	"\ti32 = -70000\n"
	"\tu32 = 0xee6b2800\n"
	"\ti64 = -5000000000\n"
	"\tu64 = 0xfedcba9876543210\n"
	"\thr = 0x75bcd15\n"
	"\td = 0x1.500000\n"
	"\ts = hello\n"
	"\tba = 0x00 0x01 0xff\n"
	"\ti8a = -1 2\n"
	"\tu8a = 0xfb 0x4\n"
	"\ti16a = -2 3\n"
	"\tu16a = 0xffff 0x1\n"
	"\ti32a = -4 5\n"
	"\tu32a = 0xffffffff\n"
	"\ti64a = -9223372036854775808 7\n"
	"\tu64a = 0xffffffffffffffff 0x0\n"
	"\tboa = 1 0 1\n"
	"\tsa = a  bcd\n"
	"\tnv = (embedded nvlist)\n"
	"\tnvlist version: 0\n"
	"\t\tk = v\n"
	"\t\tdeeper = (embedded nvlist)\n"
	"\t\tnvlist version: 0\n"
	"\t\t\tz = 0x1\n"
	"\t\t(end deeper)\n"
	"\n"
	"\t(end nv)\n"
	"\n"
	"\tna = (array of embedded nvlists)\n"
	"\t(start na[0])\n"
	"\tnvlist version: 0\n"
	"\t\ti = 0x0\n"
	"\t(end na[0])\n"
	"\t(start na[1])\n"
	"\tnvlist version: 0\n"
	"\t(end na[1])\n"
	"\n"
	"\n"                                   /* e8: empty, no name */
	"\n"                                   /* e64 */
	"\n"                                   /* es */
	"\tena = (array of embedded nvlists)\n"
	"\n"
	"\n";                                  /* eba */

static const char all_json[] =
	"{\"flag\": true, \"bv\": true, \"by\": 5, \"i8\": -3, \"u8\": 200, "
	"\"i16\": -300, \"u16\": 60000, \"i32\": -70000, "
	"\"u32\": 4000000000, \"i64\": -5000000000, "
	"\"u64\": 18364758544493064720, \"hr\": 123456789, \"d\": 1.5, "
	"\"s\": \"hello\", \"ba\": [0, 1, 255], \"i8a\": [-1, 2], "
	"\"u8a\": [251, 4], \"i16a\": [-2, 3], \"u16a\": [65535, 1], "
	"\"i32a\": [-4, 5], \"u32a\": [4294967295], "
	"\"i64a\": [-9223372036854775808, 7], "
	"\"u64a\": [18446744073709551615, 0], "
	"\"boa\": [true, false, true], \"sa\": [\"a\", \"\", \"bcd\"], "
	"\"nv\": {\"k\": \"v\", \"deeper\": {\"z\": 1}}, "
	"\"na\": [{\"i\": 0}, {}], \"e8\": [], \"e64\": [], \"es\": [], "
	"\"ena\": [], \"eba\": []}";

static void check_all_values(const struct bk_nvlist *nvl)
{
	const struct bk_nvpair *p;
	const struct bk_nvlist *nv, *deeper;
	const uint8_t *bytes;
	const uint64_t *u64s;
	const char *s;
	uint64_t u;
	int64_t i64;
	uint32_t n;
	bool bv;
	double d;

	assert_int_equal(bk_nvlist_count(nvl), 32);
	assert_true(bk_nvlist_lookup_boolean(nvl, "flag"));
	assert_true(bk_nvlist_lookup_boolean_value(nvl, "bv", &bv) && bv);
	assert_true(bk_nvlist_lookup_uint64(nvl, "u64", &u));
	assert_true(u == 0xfedcba9876543210ull);
	assert_true(bk_nvlist_lookup_int64(nvl, "i64", &i64));
	assert_true(i64 == -5000000000ll);
	assert_true(bk_nvlist_lookup_string(nvl, "s", &s));
	assert_string_equal(s, "hello");
	assert_true(bk_nvlist_lookup_uint8_array(nvl, "u8a", &bytes, &n));
	assert_int_equal(n, 2);
	assert_int_equal(bytes[0], 0xfb);
	assert_true(bk_nvlist_lookup_uint64_array(nvl, "u64a", &u64s, &n));
	assert_int_equal(n, 2);
	assert_true(u64s[0] == UINT64_MAX);
	assert_true(bk_nvlist_lookup_nvlist(nvl, "nv", &nv));
	assert_true(bk_nvlist_lookup_nvlist(nv, "deeper", &deeper));
	assert_true(bk_nvlist_lookup_uint64(deeper, "z", &u) && u == 1);
	p = bk_nvlist_lookup_pair(nvl, "i16");
	assert_non_null(p);
	assert_int_equal(bk_nvpair_type(p), BK_NV_INT16);
	assert_true(bk_nvpair_integer(p, 0, &u));
	assert_true((int64_t)u == -300);
	assert_false(bk_nvpair_integer(p, 1, &u));
	p = bk_nvlist_lookup_pair(nvl, "i8a");
	assert_true(bk_nvpair_integer(p, 0, &u) && (int64_t)u == -1);
	p = bk_nvlist_lookup_pair(nvl, "d");
	assert_true(bk_nvpair_double(p, &d) && d == 1.5);
	p = bk_nvlist_lookup_pair(nvl, "sa");
	assert_int_equal(bk_nvpair_nelem(p), 3);
	assert_string_equal(bk_nvpair_string(p, 2), "bcd");
	assert_null(bk_nvpair_string(p, 3));
	p = bk_nvlist_lookup_pair(nvl, "na");
	assert_true(bk_nv_type_is_array(bk_nvpair_type(p)));
	assert_non_null(bk_nvpair_nvlist(p, 1));
	assert_null(bk_nvpair_nvlist(p, 2));
	p = bk_nvlist_lookup_pair(nvl, "ba");
	bytes = bk_nvpair_bytes(p, &n);
	assert_int_equal(n, 3);
	assert_int_equal(bytes[2], 0xff);
	assert_string_equal(bk_nv_type_name(BK_NV_NVLIST_ARRAY),
			    "nvlist array");
}

static void test_all_types_text(void **state)
{
	struct bk_nvlist *nvl = build_all();
	struct bk_error err;
	struct bk_buf b;
	char *s;

	(void)state;
	bk_buf_init(&b, BUFMAX);
	assert_int_equal(bk_nvlist_print(nvl, &b, &err), BK_OK);
	assert_string_equal((char *)b.data, all_text);
	bk_buf_release(&b);
	s = json_str(nvl);
	assert_string_equal(s, all_json);
	free(s);
	check_all_values(nvl);
	bk_nvlist_free(nvl);
}

struct form {
	enum bk_nv_encoding enc;
	bool be;
	const char *line;
};

static const struct form forms[] = {
	{ BK_NV_NATIVE, false,
	  "nvlist encoding = NV_ENCODE_NATIVE (little-endian)\n" },
	{ BK_NV_NATIVE, true,
	  "nvlist encoding = NV_ENCODE_NATIVE (big-endian)\n" },
	{ BK_NV_XDR, false, "nvlist encoding = NV_ENCODE_XDR\n" },
	{ BK_NV_XDR, true, "nvlist encoding = NV_ENCODE_XDR\n" },
};

static void test_round_trip(void **state)
{
	struct bk_nvlist *nvl = build_all(), *back = NULL;
	struct bk_error err;
	struct bk_buf pk, again;
	char *s, *want;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		pack_into(nvl, forms[i].enc, forms[i].be, &pk);
		assert_int_equal(pk.data[0], forms[i].enc);
		assert_int_equal(pk.data[1], forms[i].be ? 0 : 1);
		assert_int_equal(unpack_exact(pk.data, pk.len, &back, &err),
				 BK_OK);
		assert_int_equal(bk_nvlist_encoding(back), forms[i].enc);
		s = dump_str(back);
		want = malloc(strlen(forms[i].line) + sizeof(all_text));
		assert_non_null(want);
		memcpy(want, forms[i].line, strlen(forms[i].line));
		memcpy(want + strlen(forms[i].line), all_text,
		       sizeof(all_text));
		assert_string_equal(s, want);
		free(s);
		free(want);
		s = json_str(back);
		assert_string_equal(s, all_json);
		free(s);
		check_all_values(back);
		/* packing the decoded list again gives the same bytes */
		pack_into(back, forms[i].enc, forms[i].be, &again);
		assert_bytes(again.data, again.len, pk.data, pk.len);
		bk_buf_release(&again);
		bk_nvlist_free(back);
		bk_buf_release(&pk);
	}
	bk_nvlist_free(nvl);
}

/* ---- truncation and bit flips ---- */

static void check_valid(const struct bk_nvlist *nvl)
{
	struct bk_nvlist *back = NULL;
	struct bk_error err;
	struct bk_buf b;
	size_t i;
	char *s;

	s = dump_str(nvl);
	free(s);
	s = json_str(nvl);
	free(s);
	for (i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		pack_into(nvl, forms[i].enc, forms[i].be, &b);
		if (unpack_exact(b.data, b.len, &back, &err) != BK_OK)
			fail_msg("re-packed list does not unpack: %s",
				 err.msg);
		bk_nvlist_free(back);
		bk_buf_release(&b);
	}
}

static void test_truncation(void **state)
{
	struct bk_nvlist *nvl = build_all(), *out = NULL;
	struct bk_error err;
	struct bk_buf pk;
	size_t i, k;

	(void)state;
	for (i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		pack_into(nvl, forms[i].enc, forms[i].be, &pk);
		for (k = 0; k < pk.len; k++) {
			out = (struct bk_nvlist *)1;
			assert_int_equal(unpack_exact(pk.data, k, &out, &err),
					 BK_ERR_FORMAT);
			assert_null(out);
			assert_true(strncmp(err.msg, "nvlist at byte ", 15) ==
				    0);
		}
		assert_int_equal(unpack_exact(pk.data, k, &out, &err), BK_OK);
		bk_nvlist_free(out);
		bk_buf_release(&pk);
	}
	bk_nvlist_free(nvl);
}

static void test_bit_flips(void **state)
{
	struct bk_nvlist *nvl = build_all(), *out = NULL;
	struct bk_error err;
	struct bk_buf pk;
	uint8_t *b;
	size_t i, k, nflips, ok = 0, bad = 0;
	unsigned iter;
	enum bk_code rc;

	(void)state;
	for (i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		pack_into(nvl, forms[i].enc, forms[i].be, &pk);
		b = malloc(pk.len);
		assert_non_null(b);
		for (iter = 0; iter < 3000; iter++) {
			memcpy(b, pk.data, pk.len);
			nflips = 1 + next_rand() % 3;
			for (k = 0; k < nflips; k++) {
				size_t at = next_rand() % pk.len;

				/* mostly in the first bytes of words: sizes,
				 * counts and types live there */
				b[at] ^= (uint8_t)(1u << (next_rand() % 8));
			}
			rc = unpack_exact(b, pk.len, &out, &err);
			if (rc == BK_OK) {
				ok++;
				check_valid(out);
				bk_nvlist_free(out);
			} else {
				bad++;
				assert_null(out);
				assert_true(rc == BK_ERR_FORMAT ||
					    rc == BK_ERR_LIMIT);
			}
		}
		free(b);
		bk_buf_release(&pk);
	}
	assert_true(ok > 0 && bad > 0);
	/* random garbage after valid headers */
	for (iter = 0; iter < 3000; iter++) {
		uint8_t g[96];
		size_t n = 4 + next_rand() % (sizeof(g) - 4);

		for (k = 0; k < n; k++)
			g[k] = (uint8_t)(next_rand() & (k % 4 == 3 ? 0xff : 0x3));
		g[0] = (uint8_t)(iter & 1);
		g[1] = 1;
		rc = unpack_exact(g, n, &out, &err);
		if (rc == BK_OK) {
			check_valid(out);
			bk_nvlist_free(out);
		}
	}
	bk_nvlist_free(nvl);
}

/* ---- builder ---- */

static void test_builder(void **state)
{
	struct bk_nvlist *nvl = NULL, *copy = NULL;
	struct bk_error err;
	const char *s;
	uint64_t u;
	char *long_name, *a, *b;

	(void)state;
	assert_int_equal(bk_nvlist_new(&nvl, &err), BK_OK);
	assert_int_equal(bk_nvlist_nvflag(nvl), BK_NV_UNIQUE_NAME);
	assert_int_equal(bk_nvlist_add_uint64(nvl, "a", 1, &err), BK_OK);
	assert_int_equal(bk_nvlist_add_uint64(nvl, "b", 2, &err), BK_OK);
	/* same name replaces, and the new pair goes last */
	assert_int_equal(bk_nvlist_add_string(nvl, "a", "x", &err), BK_OK);
	assert_int_equal(bk_nvlist_count(nvl), 2);
	assert_false(bk_nvlist_lookup_uint64(nvl, "a", &u));
	assert_true(bk_nvlist_lookup_string(nvl, "a", &s));
	assert_string_equal(bk_nvpair_name(bk_nvlist_next(nvl, NULL)), "b");
	/* a list added to itself is copied first */
	assert_int_equal(bk_nvlist_add_nvlist(nvl, "self", nvl, &err), BK_OK);
	assert_int_equal(bk_nvlist_count(nvl), 3);
	assert_int_equal(bk_nvlist_dup(nvl, &copy, &err), BK_OK);
	a = dump_str(nvl);
	b = dump_str(copy);
	assert_string_equal(a, b);
	free(a);
	free(b);
	assert_true(bk_nvlist_remove(copy, "b"));
	assert_false(bk_nvlist_remove(copy, "b"));
	assert_int_equal(bk_nvlist_count(copy), 2);
	assert_int_equal(bk_nvlist_add_uint64(copy, "c", 3, &err), BK_OK);
	assert_string_equal(bk_nvpair_name(bk_nvlist_next(copy,
		bk_nvlist_next(copy, bk_nvlist_next(copy, NULL)))), "c");
	/* bad arguments */
	long_name = malloc(40000);
	assert_non_null(long_name);
	memset(long_name, 'n', 39999);
	long_name[39999] = '\0';
	assert_int_equal(bk_nvlist_add_uint64(nvl, long_name, 1, &err),
			 BK_ERR_USAGE);
	free(long_name);
	assert_int_equal(bk_nvlist_add_string(nvl, "s", NULL, &err),
			 BK_ERR_USAGE);
	assert_int_equal(bk_nvlist_add_uint64(nvl, NULL, 1, &err),
			 BK_ERR_USAGE);
	assert_int_equal(bk_nvlist_count(nvl), 3);
	/* a pack that does not fit the buffer's maximum */
	{
		struct bk_buf small;

		bk_buf_init(&small, 16);
		assert_int_equal(bk_nvlist_pack(nvl, BK_NV_XDR, false, &small,
						&err), BK_ERR_LIMIT);
		assert_int_equal(bk_nvlist_pack(nvl, (enum bk_nv_encoding)5,
						false, &small, &err),
				 BK_ERR_USAGE);
		bk_buf_release(&small);
	}
	bk_nvlist_free(copy);
	bk_nvlist_free(nvl);
	bk_nvlist_free(NULL);
}

/* ---- the real streams against `zstream dump -v` ---- */

struct blob {
	uint8_t *p;
	size_t n;
};

static bool read_file(const char *path, struct blob *b)
{
	FILE *f = fopen(path, "rb");
	long n;

	b->p = NULL;
	b->n = 0;
	if (!f)
		return false;
	if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) != 0) {
		fclose(f);
		return false;
	}
	b->p = malloc((size_t)n + 1);
	assert_non_null(b->p);
	b->n = fread(b->p, 1, (size_t)n, f);
	b->p[b->n] = 0;
	fclose(f);
	return b->n == (size_t)n;
}

static const char *streams_dir(void)
{
	const char *d = getenv("ZBAK_SHARED_STREAMS");

	return d && *d ? d : "../shared/streams";
}

static uint64_t rd(const uint8_t *b, unsigned width, bool be)
{
	uint64_t v = 0;
	unsigned i;

	for (i = 0; i < width; i++)
		v |= (uint64_t)b[be ? width - 1 - i : i] << (8 * i);
	return v;
}

/* Payload bytes after a record header (docs/stream-format.md). */
static uint64_t payload_len(const uint8_t *h, bool be)
{
	switch (rd(h, 4, be)) {
	case 0:
		return rd(h + 4, 4, be);
	case 1:
		return rd(h + 36, 4, be) ? rd(h + 36, 4, be)
					 : (rd(h + 28, 4, be) + 7) / 8 * 8;
	case 3:
		return h[50] ? rd(h + 96, 8, be) : rd(h + 32, 8, be);
	case 7:
		return rd(h + 40, 8, be) ? rd(h + 40, 8, be) : rd(h + 16, 8, be);
	case 8:
		return (rd(h + 52, 4, be) + 7) / 8 * 8;
	default:
		return 0;
	}
}

/* The nvlist blocks of a dump: from "nvlist encoding = " through the lines
 * of the list (indented, blank, or its "nvlist version:" line). */
static size_t dump_blocks(char *text, char **blocks, size_t max)
{
	size_t n = 0;
	char *line = text, *start, *end;

	while ((line = strstr(line, "nvlist encoding = ")) && n < max) {
		start = line;
		end = strchr(line, '\n');
		assert_non_null(end);
		line = end + 1;
		while (*line && (*line == '\t' || *line == '\n' ||
				 strncmp(line, "nvlist version: ", 16) == 0)) {
			end = strchr(line, '\n');
			assert_non_null(end);
			line = end + 1;
		}
		blocks[n] = strndup(start, (size_t)(line - start));
		n++;
	}
	return n;
}

static void golden_case(const char *stream, const char *dump, size_t want)
{
	char path[4096], *blocks[8], *s;
	struct blob zs, dt;
	struct bk_nvlist *nvl = NULL;
	struct bk_error err;
	struct stat st;
	size_t off = 0, nblocks, found = 0, i;
	uint64_t plen;
	bool be = false;

	if (stat(streams_dir(), &st) != 0) {
		skip();
		return;
	}
	snprintf(path, sizeof(path), "%s/zsend/%s", streams_dir(), stream);
	assert_true(read_file(path, &zs));
	snprintf(path, sizeof(path), "%s/dumps/%s", streams_dir(), dump);
	assert_true(read_file(path, &dt));
	nblocks = dump_blocks((char *)dt.p, blocks, 8);
	assert_int_equal(nblocks, want);
	while (off + 312 <= zs.n) {
		const uint8_t *h = zs.p + off;

		if (rd(h, 4, false) == 0 || rd(h, 4, true) == 0) {
			if (rd(h + 8, 8, false) == 0x2F5BACBACull)
				be = false;
			else if (rd(h + 8, 8, true) == 0x2F5BACBACull)
				be = true;
		}
		plen = payload_len(h, be);
		assert_true(plen <= zs.n - off - 312);
		if (rd(h, 4, be) == 0 && plen > 0) {
			assert_true(found < nblocks);
			assert_int_equal(bk_nvlist_unpack(h + 312, plen, &nvl,
							  &err), BK_OK);
			s = dump_str(nvl);
			assert_string_equal(s, blocks[found]);
			free(s);
			check_valid(nvl);
			bk_nvlist_free(nvl);
			found++;
		}
		off += 312 + (size_t)plen;
	}
	assert_int_equal(off, zs.n);
	assert_int_equal(found, want);
	for (i = 0; i < nblocks; i++)
		free(blocks[i]);
	free(zs.p);
	free(dt.p);
}

static void test_golden_le(void **state)
{
	(void)state;
	golden_case("little-endian-all-drr-types-base-NATIVE.zsend",
		    "leadtbn-new.dump", 1);
}

static void test_golden_be(void **state)
{
	(void)state;
	golden_case("big-endian-all-drr-types-base-NATIVE.zsend",
		    "beadtbn-new.dump", 1);
}

static void test_golden_compound(void **state)
{
	(void)state;
	golden_case("little-endian-all-drr-types-incr-NATIVE.zsend",
		    "leadtin-new.dump", 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tables),
		cmocka_unit_test(test_corruptions),
		cmocka_unit_test(test_depth),
		cmocka_unit_test(test_all_types_text),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_truncation),
		cmocka_unit_test(test_bit_flips),
		cmocka_unit_test(test_builder),
		cmocka_unit_test(test_golden_le),
		cmocka_unit_test(test_golden_be),
		cmocka_unit_test(test_golden_compound),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
