/* Record codec: every field lands at the offset docs/stream-format.md
 * gives, in both byte orders; decode(encode(x)) == x; implied payload
 * lengths. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "backup/drr.h"

/* One expected field: type, offset, width (1, 4, 8), value. */
struct at {
	uint32_t type;
	unsigned off, width;
	uint64_t val;
};

/* Distinct values per field; offsets from docs/stream-format.md. */
static const struct at table[] = {
	{ BK_DRR_BEGIN, 8, 8, BK_DRR_MAGIC },
	{ BK_DRR_BEGIN, 16, 8, 0x1000011ull },
	{ BK_DRR_BEGIN, 24, 8, 0x69cb0d63ull },
	{ BK_DRR_BEGIN, 32, 4, 2 },
	{ BK_DRR_BEGIN, 36, 4, 0xc },
	{ BK_DRR_BEGIN, 40, 8, 0x421d0579cc63e574ull },
	{ BK_DRR_BEGIN, 48, 8, 0x1122334455667788ull },
	{ BK_DRR_OBJECT, 8, 8, 129 },
	{ BK_DRR_OBJECT, 16, 4, 19 },
	{ BK_DRR_OBJECT, 20, 4, 44 },
	{ BK_DRR_OBJECT, 24, 4, 131072 },
	{ BK_DRR_OBJECT, 28, 4, 192 },
	{ BK_DRR_OBJECT, 32, 1, 7 },
	{ BK_DRR_OBJECT, 33, 1, 15 },
	{ BK_DRR_OBJECT, 34, 1, 2 },
	{ BK_DRR_OBJECT, 35, 1, 4 },
	{ BK_DRR_OBJECT, 36, 4, 320 },
	{ BK_DRR_OBJECT, 40, 8, 0xabcdef01ull },
	{ BK_DRR_OBJECT, 48, 1, 17 },
	{ BK_DRR_OBJECT, 49, 1, 3 },
	{ BK_DRR_OBJECT, 50, 1, 1 },
	{ BK_DRR_OBJECT, 56, 8, 999 },
	{ BK_DRR_FREEOBJECTS, 8, 8, 5 },
	{ BK_DRR_FREEOBJECTS, 16, 8, 27 },
	{ BK_DRR_FREEOBJECTS, 24, 8, 0x77 },
	{ BK_DRR_WRITE, 8, 8, 36 },
	{ BK_DRR_WRITE, 16, 4, 47 },
	{ BK_DRR_WRITE, 24, 8, 16384 },
	{ BK_DRR_WRITE, 32, 8, 16384 },
	{ BK_DRR_WRITE, 40, 8, 0x88 },
	{ BK_DRR_WRITE, 48, 1, 7 },
	{ BK_DRR_WRITE, 49, 1, 1 },
	{ BK_DRR_WRITE, 50, 1, 15 },
	{ BK_DRR_WRITE, 56, 8, 0x101 },
	{ BK_DRR_WRITE, 64, 8, 0x102 },
	{ BK_DRR_WRITE, 72, 8, 0x103 },
	{ BK_DRR_WRITE, 80, 8, 0x104 },
	{ BK_DRR_WRITE, 88, 8, 0xf0007001full },
	{ BK_DRR_WRITE, 96, 8, 4096 },
	{ BK_DRR_FREE, 8, 8, 1 },
	{ BK_DRR_FREE, 16, 8, 1024 },
	{ BK_DRR_FREE, 24, 8, UINT64_MAX },
	{ BK_DRR_FREE, 32, 8, 0x99 },
	{ BK_DRR_END, 8, 8, 0x511108455bfull },
	{ BK_DRR_END, 16, 8, 0xd7640921872876ull },
	{ BK_DRR_END, 24, 8, 0xaa9f4dec930358c9ull },
	{ BK_DRR_END, 32, 8, 0x4e63fb8f81999076ull },
	{ BK_DRR_END, 40, 8, 0x42 },
	{ BK_DRR_WRITE_BYREF, 8, 8, 11 },
	{ BK_DRR_WRITE_BYREF, 16, 8, 12 },
	{ BK_DRR_WRITE_BYREF, 24, 8, 13 },
	{ BK_DRR_WRITE_BYREF, 32, 8, 14 },
	{ BK_DRR_WRITE_BYREF, 40, 8, 15 },
	{ BK_DRR_WRITE_BYREF, 48, 8, 16 },
	{ BK_DRR_WRITE_BYREF, 56, 8, 17 },
	{ BK_DRR_WRITE_BYREF, 64, 1, 18 },
	{ BK_DRR_WRITE_BYREF, 65, 1, 19 },
	{ BK_DRR_WRITE_BYREF, 72, 8, 20 },
	{ BK_DRR_WRITE_BYREF, 104, 8, 21 },
	{ BK_DRR_SPILL, 8, 8, 2 },
	{ BK_DRR_SPILL, 16, 8, 1536 },
	{ BK_DRR_SPILL, 24, 8, 0x55 },
	{ BK_DRR_SPILL, 32, 1, 4 },
	{ BK_DRR_SPILL, 33, 1, 15 },
	{ BK_DRR_SPILL, 40, 8, 512 },
	{ BK_DRR_SPILL, 84, 4, 44 },
	{ BK_DRR_WRITE_EMBEDDED, 8, 8, 32 },
	{ BK_DRR_WRITE_EMBEDDED, 16, 8, 0 },
	{ BK_DRR_WRITE_EMBEDDED, 24, 8, 512 },
	{ BK_DRR_WRITE_EMBEDDED, 32, 8, 0x66 },
	{ BK_DRR_WRITE_EMBEDDED, 40, 1, 15 },
	{ BK_DRR_WRITE_EMBEDDED, 41, 1, 1 },
	{ BK_DRR_WRITE_EMBEDDED, 48, 4, 512 },
	{ BK_DRR_WRITE_EMBEDDED, 52, 4, 66 },
	{ BK_DRR_OBJECT_RANGE, 8, 8, 64 },
	{ BK_DRR_OBJECT_RANGE, 16, 8, 32 },
	{ BK_DRR_OBJECT_RANGE, 24, 8, 0x44 },
	{ BK_DRR_OBJECT_RANGE, 68, 1, 1 },
	{ BK_DRR_REDACT, 8, 8, 129 },
	{ BK_DRR_REDACT, 16, 8, 0 },
	{ BK_DRR_REDACT, 24, 8, 512 },
	{ BK_DRR_REDACT, 32, 8, 0x33 },
};

static void put(uint8_t *h, unsigned off, unsigned width, uint64_t v,
		bool swap)
{
	for (unsigned i = 0; i < width; i++) {
		unsigned shift = swap ? 8 * (width - 1 - i) : 8 * i;

		h[off + i] = (uint8_t)(v >> shift);
	}
}

/* Build the expected header bytes of a type from the table alone. */
static void expected(uint32_t type, bool swap, uint8_t h[BK_DRR_HDR_LEN])
{
	memset(h, 0, BK_DRR_HDR_LEN);
	put(h, 0, 4, type, swap);
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (table[i].type == type)
			put(h, table[i].off, table[i].width, table[i].val,
			    swap);
	if (type == BK_DRR_BEGIN)
		memcpy(h + 56, "test/source@baseline", 20);
	if (type == BK_DRR_WRITE) { /* salt, iv, mac: bytes, never swapped */
		for (int i = 0; i < 8; i++)
			h[104 + i] = (uint8_t)(0xa0 + i);
		for (int i = 0; i < 12; i++)
			h[112 + i] = (uint8_t)(0xb0 + i);
		for (int i = 0; i < 16; i++)
			h[124 + i] = (uint8_t)(0xc0 + i);
	}
	if (type != BK_DRR_BEGIN) /* trailer */
		for (int i = 0; i < 4; i++)
			put(h, 280 + 8 * i, 8, 0x1000 + (uint64_t)i, swap);
}

static void layout(void **state, bool swap)
{
	(void)state;
	for (uint32_t t = 0; t < BK_DRR_NUMTYPES; t++) {
		uint8_t want[BK_DRR_HDR_LEN], got[BK_DRR_HDR_LEN];
		struct bk_drr r;

		expected(t, swap, want);
		bk_drr_decode(want, swap, &r);
		assert_int_equal(r.type, t);
		bk_drr_encode(&r, swap, got);
		/* every byte: fields where the table says, zero elsewhere */
		assert_memory_equal(got, want, BK_DRR_HDR_LEN);
	}
}

static void layout_native(void **state)
{
	layout(state, false);
}

static void layout_swapped(void **state)
{
	layout(state, true);
}

static void decoded_values(void **state)
{
	uint8_t h[BK_DRR_HDR_LEN];
	struct bk_drr r;

	(void)state;
	for (int swap = 0; swap < 2; swap++) {
		expected(BK_DRR_WRITE, swap, h);
		bk_drr_decode(h, swap, &r);
		assert_int_equal(r.u.write.object, 36);
		assert_int_equal(r.u.write.type, 47);
		assert_int_equal(r.u.write.compressiontype, 15);
		assert_int_equal(r.u.write.compressed_size, 4096);
		assert_int_equal(r.u.write.key_cksum.word[3], 0x104);
		assert_int_equal(r.u.write.salt[7], 0xa7);
		assert_int_equal(r.u.write.mac[15], 0xcf);
		assert_int_equal(r.trailer.word[2], 0x1002);

		expected(BK_DRR_BEGIN, swap, h);
		assert_int_equal(bk_drr_detect_byteswap(h), swap);
		bk_drr_decode(h, swap, &r);
		assert_string_equal(r.u.begin.toname, "test/source@baseline");
		assert_int_equal(BK_DRR_HDRTYPE(r.u.begin.versioninfo), 1);
		assert_int_equal(BK_DRR_FEATURES(r.u.begin.versioninfo),
				 0x400004);
	}
	memset(h, 0x5a, sizeof(h));
	assert_int_equal(bk_drr_detect_byteswap(h), -1);
}

static void full_length_name(void **state)
{
	struct bk_drr r, back;
	uint8_t h[BK_DRR_HDR_LEN];

	(void)state;
	memset(&r, 0, sizeof(r));
	r.type = BK_DRR_BEGIN;
	memset(r.u.begin.toname, 'x', BK_DRR_NAME_LEN); /* no NUL in 256 */
	bk_drr_encode(&r, false, h);
	assert_int_equal(h[311], 'x');
	bk_drr_decode(h, false, &back);
	assert_int_equal(strlen(back.u.begin.toname), BK_DRR_NAME_LEN);
}

static void payload_lengths(void **state)
{
	struct bk_drr r;
	uint64_t len;

	(void)state;
	memset(&r, 0, sizeof(r));
	r.type = BK_DRR_OBJECT;
	r.u.object.bonuslen = 170;
	assert_int_equal(bk_drr_payload_len(&r, &len, NULL), BK_OK);
	assert_int_equal(len, 176);
	r.u.object.raw_bonuslen = 320;
	bk_drr_payload_len(&r, &len, NULL);
	assert_int_equal(len, 320);

	memset(&r, 0, sizeof(r));
	r.type = BK_DRR_WRITE;
	r.u.write.logical_size = 6656;
	r.u.write.compressed_size = 4096;
	bk_drr_payload_len(&r, &len, NULL);
	assert_int_equal(len, 6656); /* not compressed: logical */
	r.u.write.compressiontype = 2; /* raw, compression off */
	bk_drr_payload_len(&r, &len, NULL);
	assert_int_equal(len, 4096);

	memset(&r, 0, sizeof(r));
	r.type = BK_DRR_SPILL;
	r.u.spill.length = 1536;
	bk_drr_payload_len(&r, &len, NULL);
	assert_int_equal(len, 1536);
	r.u.spill.compressed_size = 1024;
	bk_drr_payload_len(&r, &len, NULL);
	assert_int_equal(len, 1024);

	memset(&r, 0, sizeof(r));
	r.type = BK_DRR_WRITE_EMBEDDED;
	r.u.write_embedded.psize = 66;
	bk_drr_payload_len(&r, &len, NULL);
	assert_int_equal(len, 72);
	r.u.write_embedded.psize = 113;
	assert_int_equal(bk_drr_payload_len(&r, &len, NULL), BK_ERR_FORMAT);

	memset(&r, 0, sizeof(r));
	r.type = BK_DRR_BEGIN;
	r.payloadlen = 988;
	bk_drr_payload_len(&r, &len, NULL);
	assert_int_equal(len, 988);

	for (uint32_t t = 0; t < BK_DRR_NUMTYPES; t++) {
		static const uint32_t zero_types[] = {
			BK_DRR_FREEOBJECTS, BK_DRR_FREE, BK_DRR_END,
			BK_DRR_WRITE_BYREF, BK_DRR_OBJECT_RANGE, BK_DRR_REDACT
		};
		for (size_t i = 0; i < 6; i++) {
			if (zero_types[i] != t)
				continue;
			memset(&r, 0xff, sizeof(r));
			r.type = t;
			assert_int_equal(bk_drr_payload_len(&r, &len, NULL),
					 BK_OK);
			assert_int_equal(len, 0);
		}
	}
	r.type = 11;
	assert_int_equal(bk_drr_payload_len(&r, &len, NULL), BK_ERR_FORMAT);
}

static void names(void **state)
{
	char buf[256];

	(void)state;
	assert_string_equal(bk_drr_type_name(BK_DRR_WRITE_EMBEDDED),
			    "WRITE_EMBEDDED");
	assert_string_equal(bk_drr_type_name(77), "UNKNOWN");
	bk_drr_feature_names(0x630004, buf, sizeof(buf));
	assert_string_equal(buf, "SA_SPILL EMBED_DATA LZ4 REDACTED COMPRESSED");
	bk_drr_feature_names(1ull << 40, buf, sizeof(buf));
	assert_string_equal(buf, "bit40");
	bk_drr_feature_names(0x630004, buf, 12); /* truncates, terminated */
	assert_true(strlen(buf) < 12);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(layout_native),
		cmocka_unit_test(layout_swapped),
		cmocka_unit_test(decoded_values),
		cmocka_unit_test(full_length_name),
		cmocka_unit_test(payload_lengths),
		cmocka_unit_test(names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
