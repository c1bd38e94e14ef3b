/* Maps (include/backup/lpool_zpl.h): a chain's records with payloads left
 * in their chunks, built with the pool's receive rules, read back through
 * the object source, serialized and decoded; and hostile record sequences
 * and serialized maps, each refused with its code, never a crash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "backup/buf.h"
#include "backup/drr.h"
#include "backup/lpool_zpl.h"
#include "lpool/lpool_impl.h"
#include "util/le.h"

#define BLK 4096u

/* A record's header bytes (native order). */
static void hdr(const struct bk_drr *r, uint8_t out[BK_DRR_HDR_LEN])
{
	bk_drr_encode(r, false, out);
}

static struct bk_drr begin(uint64_t from)
{
	struct bk_drr r;

	memset(&r, 0, sizeof(r));
	r.type = BK_DRR_BEGIN;
	r.u.begin.magic = BK_DRR_MAGIC;
	r.u.begin.versioninfo = 1; /* a substream, no features */
	r.u.begin.objset_type = 2; /* ZFS */
	r.u.begin.toguid = from + 100;
	r.u.begin.fromguid = from;
	snprintf(r.u.begin.toname, sizeof(r.u.begin.toname), "p/fs@s%llu",
		 (unsigned long long)from);
	return r;
}

static struct bk_drr end_rec(void)
{
	struct bk_drr r;

	memset(&r, 0, sizeof(r));
	r.type = BK_DRR_END;
	return r;
}

static struct bk_drr object(uint64_t obj, uint32_t bonuslen)
{
	struct bk_drr r;

	memset(&r, 0, sizeof(r));
	r.type = BK_DRR_OBJECT;
	r.u.object.object = obj;
	r.u.object.type = 19;
	r.u.object.bonustype = 17;
	r.u.object.blksz = BLK;
	r.u.object.bonuslen = bonuslen;
	r.u.object.dn_slots = 1;
	return r;
}

static struct bk_drr write_rec(uint64_t obj, uint64_t off)
{
	struct bk_drr r;

	memset(&r, 0, sizeof(r));
	r.type = BK_DRR_WRITE;
	r.u.write.object = obj;
	r.u.write.offset = off;
	r.u.write.logical_size = BLK;
	return r;
}

/* ZBAK_MAP_RECORDS_SEED: the records of chain() in fuzz_map's mode 1 */
static FILE *seed;

static enum bk_code put(struct bk_lpool_map *m, uint32_t stream,
			const struct bk_drr *r, const uint8_t *payload,
			uint32_t inl, uint64_t pos, uint32_t chunked,
			struct bk_error *err)
{
	uint8_t h[BK_DRR_HDR_LEN];

	hdr(r, h);
	if (seed) {
		fputc((int)stream, seed);
		fwrite(h, 1, sizeof(h), seed);
		fputc((int)(inl & 0xff), seed);
		fputc((int)(inl >> 8), seed);
		if (inl)
			fwrite(payload, 1, inl, seed);
		fputc((int)(chunked & 0xff), seed);
		fputc((int)(chunked >> 8), seed);
	}
	return bk_lpool_map_record(m, stream, h, payload, inl, pos, chunked,
				   err);
}

/* The loader: stream s's chunked bytes are the byte (s * 16 + pos / BLK)
 * repeated; counts its calls. */
static unsigned loads;
static enum bk_code load(void *ctx, uint32_t stream, uint64_t pos,
			 uint32_t len, struct bk_buf *out, struct bk_error *err)
{
	(void)ctx;
	loads++;
	bk_buf_reset(out);
	if (bk_buf_reserve(out, len, err))
		return err->code;
	memset(out->data, (int)(stream * 16 + pos / BLK), len);
	out->len = len;
	return BK_OK;
}

/* Stream 0: objects 5 and 6, two blocks of 5, one of 6, an embedded one;
 * stream 1 (incremental): object 6 freed (FREEOBJECTS), the first block
 * of 5 rewritten, the second half of its second block freed. */
static struct bk_lpool_map *chain(void)
{
	struct bk_lpool_map *m;
	struct bk_error err;
	struct bk_drr r;
	uint8_t bonus[264] = { 0 }, emb[16] = { 'e', 'm', 'b' };

	assert_int_equal(bk_lpool_map_new(&m, &err), BK_OK);
	r = begin(0);
	assert_int_equal(put(m, 0, &r, NULL, 0, 0, 0, &err), BK_OK);
	r = object(5, 264);
	assert_int_equal(put(m, 0, &r, bonus, 264, 0, 0, &err), BK_OK);
	r = object(6, 264);
	assert_int_equal(put(m, 0, &r, bonus, 264, 0, 0, &err), BK_OK);
	r = write_rec(5, 0);
	assert_int_equal(put(m, 0, &r, NULL, 0, 0, BLK, &err), BK_OK);
	r = write_rec(5, BLK);
	assert_int_equal(put(m, 0, &r, NULL, 0, BLK, BLK, &err), BK_OK);
	r = write_rec(6, 0);
	assert_int_equal(put(m, 0, &r, NULL, 0, 2 * BLK, BLK, &err), BK_OK);
	memset(&r, 0, sizeof(r));
	r.type = BK_DRR_WRITE_EMBEDDED;
	r.u.write_embedded.object = 5;
	r.u.write_embedded.offset = 2 * BLK;
	r.u.write_embedded.length = BLK;
	r.u.write_embedded.lsize = 16;
	r.u.write_embedded.psize = 16;
	r.u.write_embedded.compression = 2; /* off */
	assert_int_equal(put(m, 0, &r, emb, 16, 0, 0, &err), BK_OK);
	r = end_rec();
	assert_int_equal(put(m, 0, &r, NULL, 0, 0, 0, &err), BK_OK);

	r = begin(100);
	assert_int_equal(put(m, 1, &r, NULL, 0, 0, 0, &err), BK_OK);
	memset(&r, 0, sizeof(r));
	r.type = BK_DRR_FREEOBJECTS;
	r.u.freeobjects.firstobj = 6;
	r.u.freeobjects.numobjs = 1;
	assert_int_equal(put(m, 1, &r, NULL, 0, 0, 0, &err), BK_OK);
	r = write_rec(5, 0);
	assert_int_equal(put(m, 1, &r, NULL, 0, 0, BLK, &err), BK_OK);
	memset(&r, 0, sizeof(r));
	r.type = BK_DRR_FREE;
	r.u.free.object = 5;
	r.u.free.offset = BLK + BLK / 2;
	r.u.free.length = BLK / 2;
	assert_int_equal(put(m, 1, &r, NULL, 0, 0, 0, &err), BK_OK);
	r = end_rec();
	assert_int_equal(put(m, 1, &r, NULL, 0, 0, 0, &err), BK_OK);
	assert_int_equal(bk_lpool_map_finish(m, &err), BK_OK);
	return m;
}

static void check_source(struct bk_lpool_map *m)
{
	struct bk_zpl_source src;
	struct bk_zpl_object o;
	struct bk_error err;
	uint8_t buf[BLK];
	bool hole;
	uint64_t next;

	loads = 0;
	assert_int_equal(bk_lpool_map_source(m, load, NULL, "t", &src, &err),
			 BK_OK);
	assert_int_equal(src.ops->object(src.ctx, 5, &o, &err), BK_OK);
	assert_int_equal(o.blksz, BLK);
	assert_int_equal(o.bonuslen, 264);
	assert_int_equal(src.ops->object(src.ctx, 6, &o, &err),
			 BK_ERR_NOTFOUND);
	/* block 0: stream 1's rewrite */
	assert_int_equal(src.ops->read_block(src.ctx, 5, 0, buf, BLK, &hole,
					     &err),
			 BK_OK);
	assert_false(hole);
	assert_int_equal(buf[0], 16);
	assert_int_equal(buf[BLK - 1], 16);
	/* block 1: stream 0's, its second half freed */
	assert_int_equal(src.ops->read_block(src.ctx, 5, 1, buf, BLK, &hole,
					     &err),
			 BK_OK);
	assert_int_equal(buf[0], 1);
	assert_int_equal(buf[BLK / 2 - 1], 1);
	assert_int_equal(buf[BLK / 2], 0);
	assert_int_equal(buf[BLK - 1], 0);
	assert_int_equal(loads, 2);
	/* block 2: embedded, from the map itself */
	assert_int_equal(src.ops->read_block(src.ctx, 5, 2, buf, BLK, &hole,
					     &err),
			 BK_OK);
	assert_memory_equal(buf, "emb", 3);
	assert_int_equal(buf[16], 0);
	assert_int_equal(loads, 2);
	/* block 3: a hole */
	assert_int_equal(src.ops->read_block(src.ctx, 5, 3, buf, BLK, &hole,
					     &err),
			 BK_OK);
	assert_true(hole);
	assert_int_equal(src.ops->next_block(src.ctx, 5, 3, &next, &err),
			 BK_OK);
	assert_true(next == UINT64_MAX);
	src.ops->close(src.ctx);
}

static void test_chain_read(void **state)
{
	const char *sp = getenv("ZBAK_MAP_RECORDS_SEED");

	(void)state;
	if (sp) {
		assert_non_null(seed = fopen(sp, "wb"));
		fputc(1, seed);
	}
	check_source(chain());
	if (seed)
		fclose(seed);
	seed = NULL;
}

static void test_roundtrip(void **state)
{
	struct bk_lpool_map *m = chain(), *d;
	struct bk_buf b, b2;
	struct bk_error err;
	uint64_t objs, blocks;

	(void)state;
	bk_buf_init(&b, 1 << 24);
	bk_buf_init(&b2, 1 << 24);
	assert_int_equal(bk_lpool_map_encode(m, &b, &err), BK_OK);
	if (getenv("ZBAK_MAP_SEED")) { /* the fuzz target's seed */
		FILE *f = fopen(getenv("ZBAK_MAP_SEED"), "wb");

		assert_non_null(f);
		fputc(0, f);
		fwrite(b.data, 1, b.len, f);
		fclose(f);
	}
	bk_lpool_map_usage(m, &objs, &blocks);
	assert_int_equal(objs, 1);
	assert_int_equal(blocks, 3);
	bk_lpool_map_free(m);
	assert_int_equal(bk_lpool_map_decode(b.data, b.len, &d, &err), BK_OK);
	assert_int_equal(bk_lpool_map_encode(d, &b2, &err), BK_OK);
	assert_int_equal(b.len, b2.len);
	assert_memory_equal(b.data, b2.data, b.len);
	check_source(d);
	/* every truncation, and every single byte flipped: refused or
	 * decoded, never a crash (ASan and UBSan in the sanitizer build) */
	for (size_t n = 0; n < b.len; n++) {
		if (bk_lpool_map_decode(b.data, n, &d, &err) == BK_OK)
			fail_msg("a map cut at %zu bytes decoded", n);
	}
	for (size_t i = 0; i < b.len; i++) {
		b.data[i] ^= 0x80;
		if (bk_lpool_map_decode(b.data, b.len, &d, &err) == BK_OK)
			bk_lpool_map_free(d);
		b.data[i] ^= 0x80;
	}
	bk_buf_release(&b);
	bk_buf_release(&b2);
}

/* A map whose block reference names bytes past its inline payloads. */
static void test_bad_reference(void **state)
{
	struct bk_lpool_map *m = chain(), *d;
	struct bk_buf b;
	struct bk_error err;
	size_t inl_at;

	(void)state;
	bk_buf_init(&b, 1 << 24);
	assert_int_equal(bk_lpool_map_encode(m, &b, &err), BK_OK);
	bk_lpool_map_free(m);
	/* the 16 inline bytes are the last; cut them (and fix the count) */
	inl_at = b.len - 16;
	b.data[16] = 0;
	assert_int_equal(bk_lpool_map_decode(b.data, inl_at, &d, &err),
			 BK_ERR_FORMAT);
	assert_non_null(strstr(err.msg, "bad reference"));
	bk_buf_release(&b);
}

/* One reference's payload: an inline one with its zero range applied, an
 * empty one without inline bytes at all, and a zero range past the bytes
 * refused (check_refs keeps it inside; the payload does not trust that).
 * The reference's layout is map.c's: [0] kind, [13..16] and [17..20] the
 * zero range lo and hi. */
#define REF_INLINE 2u
#define REF_ZLO 13
#define REF_ZHI 17

static void test_payload(void **state)
{
	uint8_t ref[BK_ID_LEN] = { REF_INLINE };
	struct bk_buf out;
	struct bk_error err;

	(void)state;
	bk_buf_init(&out, 64);
	put_le32(ref + REF_ZLO, 1);
	put_le32(ref + REF_ZHI, 3);
	assert_int_equal(lp_map_payload(ref, 4, (const uint8_t *)"abcd", NULL,
					NULL, &out, &err),
			 BK_OK);
	assert_int_equal(out.len, 4);
	assert_memory_equal(out.data, "a\0\0d", 4);
	put_le32(ref + REF_ZLO, 0);
	put_le32(ref + REF_ZHI, 0);
	assert_int_equal(lp_map_payload(ref, 0, NULL, NULL, NULL, &out, &err),
			 BK_OK);
	assert_int_equal(out.len, 0);
	put_le32(ref + REF_ZLO, 2);
	put_le32(ref + REF_ZHI, 10);
	assert_int_equal(lp_map_payload(ref, 4, (const uint8_t *)"abcd", NULL,
					NULL, &out, &err),
			 BK_ERR_FORMAT);
	assert_non_null(strstr(err.msg, "zeroed"));
	bk_buf_release(&out);
}

/* Each hostile sequence: the code, and nothing leaks or crashes. */
static void test_hostile(void **state)
{
	struct bk_lpool_map *m;
	struct bk_error err;
	struct bk_drr r, b0 = begin(0), e = end_rec();
	uint8_t bonus[264] = { 0 };

	(void)state;
	/* a record before any BEGIN */
	assert_int_equal(bk_lpool_map_new(&m, &err), BK_OK);
	r = object(5, 264);
	assert_int_equal(put(m, 0, &r, bonus, 264, 0, 0, &err), BK_ERR_FORMAT);
	bk_lpool_map_free(m);
	/* a WRITE to an object that does not exist */
	assert_int_equal(bk_lpool_map_new(&m, &err), BK_OK);
	assert_int_equal(put(m, 0, &b0, NULL, 0, 0, 0, &err), BK_OK);
	r = write_rec(9, 0);
	assert_int_equal(put(m, 0, &r, NULL, 0, 0, BLK, &err), BK_ERR_RULE);
	/* a WRITE whose payload is inline, or of the wrong length */
	r = object(5, 264);
	assert_int_equal(put(m, 0, &r, bonus, 264, 0, 0, &err), BK_OK);
	r = write_rec(5, 0);
	assert_int_equal(put(m, 0, &r, bonus, 200, 0, 0, &err), BK_ERR_FORMAT);
	assert_int_equal(put(m, 0, &r, NULL, 0, 0, BLK - 1, &err),
			 BK_ERR_FORMAT);
	/* an OBJECT whose bonus is said to be chunked */
	r = object(7, 264);
	assert_int_equal(put(m, 0, &r, NULL, 0, 0, 264, &err), BK_ERR_FORMAT);
	/* a BEGIN inside a substream */
	assert_int_equal(put(m, 0, &b0, NULL, 0, 0, 0, &err), BK_ERR_FORMAT);
	/* the next stream before this one ended */
	r = begin(100);
	assert_int_equal(put(m, 1, &r, NULL, 0, 0, 0, &err), BK_ERR_FORMAT);
	assert_int_equal(bk_lpool_map_finish(m, &err), BK_ERR_TRUNCATED);
	assert_int_equal(put(m, 0, &e, NULL, 0, 0, 0, &err), BK_OK);
	/* a record after the END; a stream skipped */
	r = object(8, 264);
	assert_int_equal(put(m, 0, &r, bonus, 264, 0, 0, &err), BK_ERR_FORMAT);
	r = begin(100);
	assert_int_equal(put(m, 2, &r, NULL, 0, 0, 0, &err), BK_ERR_FORMAT);
	bk_lpool_map_free(m);
	/* an incremental with nothing before it */
	assert_int_equal(bk_lpool_map_new(&m, &err), BK_OK);
	r = begin(100);
	assert_int_equal(put(m, 0, &r, NULL, 0, 0, 0, &err), BK_ERR_FORMAT);
	/* a header of no known type */
	memset(&r, 0, sizeof(r));
	r.type = 999;
	assert_int_equal(put(m, 0, &r, NULL, 0, 0, 0, &err), BK_ERR_FORMAT);
	bk_lpool_map_free(m);
	/* garbage is not a map */
	assert_int_equal(bk_lpool_map_decode((const uint8_t *)"ZBMAP1\n", 8,
					     &m, &err),
			 BK_ERR_FORMAT);
}

/* A package (zfs send -R) of p/fs@s1: its header (a compound BEGIN and
 * its END), then p/fs (object 5), p/fs/kid (objects 7 and 8) and
 * p/fs/kid/deeper (none), then the package's END; mapped for rel. */
static enum bk_code package(const char *rel, struct bk_lpool_map **out,
			    struct bk_error *err)
{
	struct bk_lpool_map *m;
	struct bk_drr r, e = end_rec();
	uint8_t bonus[264] = { 0 };
	static const char *const subs[] = { "p/fs@s1", "p/fs/kid@s1",
					    "p/fs/kid/deeper@s1" };
	enum bk_code rc;

	assert_int_equal(bk_lpool_map_new(&m, err), BK_OK);
	*out = m;
	if ((rc = bk_lpool_map_dataset(m, rel, err)))
		return rc;
	r = begin(0);
	r.u.begin.versioninfo = BK_DRR_COMPOUNDSTREAM;
	snprintf(r.u.begin.toname, sizeof(r.u.begin.toname), "p/fs@s1");
	assert_int_equal(put(m, 0, &r, NULL, 0, 0, 0, err), BK_OK);
	assert_int_equal(put(m, 0, &e, NULL, 0, 0, 0, err), BK_OK);
	for (int i = 0; i < 3; i++) {
		r = begin(0);
		snprintf(r.u.begin.toname, sizeof(r.u.begin.toname), "%s",
			 subs[i]);
		assert_int_equal(put(m, 0, &r, NULL, 0, 0, 0, err), BK_OK);
		for (int o = 0; o < (i == 0 ? 1 : i == 1 ? 2 : 0); o++) {
			struct bk_drr ob = object(i ? 7 + (uint64_t)o : 5, 264);

			assert_int_equal(put(m, 0, &ob, bonus, 264, 0, 0, err),
					 BK_OK);
		}
		assert_int_equal(put(m, 0, &e, NULL, 0, 0, 0, err), BK_OK);
	}
	assert_int_equal(put(m, 0, &e, NULL, 0, 0, 0, err), BK_OK);
	return bk_lpool_map_finish(m, err);
}

/* Each dataset of a package mapped on its own; one it lacks, and a name
 * that is no child's path, refused. */
static void test_package(void **state)
{
	static const struct {
		const char *rel;
		enum bk_code rc;
		uint64_t objects;
	} c[] = {
		{ "", BK_OK, 1 },
		{ "/kid", BK_OK, 2 },
		{ "/kid/deeper", BK_OK, 0 },
		{ "/nosuch", BK_ERR_NOTFOUND, 0 },
		{ "/ki", BK_ERR_NOTFOUND, 0 },
		{ "kid", BK_ERR_USAGE, 0 },
		{ "/kid@s1", BK_ERR_USAGE, 0 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		struct bk_lpool_map *m;
		struct bk_error err;
		uint64_t objs, blocks;

		assert_int_equal(package(c[i].rel, &m, &err), c[i].rc);
		if (!c[i].rc) {
			bk_lpool_map_usage(m, &objs, &blocks);
			assert_int_equal(objs, c[i].objects);
		} else if (c[i].rc == BK_ERR_NOTFOUND) {
			assert_non_null(strstr(err.msg, "no dataset p/fs/"));
		}
		bk_lpool_map_free(m);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_chain_read),
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_bad_reference),
		cmocka_unit_test(test_payload),
		cmocka_unit_test(test_hostile),
		cmocka_unit_test(test_package),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
