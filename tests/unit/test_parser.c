/* Pull parser: pieces of any size give the same records as one piece;
 * truncation, bit flips, garbage, limits; the receiver rules. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "backup/drr.h"
#include "tstream.h"

static uint64_t rng = 88172645463325252ull;

static uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

struct result {
	enum bk_code rc;
	struct bk_error err;
	struct bk_buf digest; /* type, offset, len, fnv of payload per record */
	struct bk_drr_stats stats;
};

static uint64_t fnv(const uint8_t *p, uint64_t n)
{
	uint64_t h = 1469598103934665603ull;

	for (uint64_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return h;
}

enum mode { ONE_PIECE, RANDOM_PIECES, BYTE_AT_A_TIME, ZERO_COPY };

static void parse(const uint8_t *data, size_t len, enum mode mode,
		  bool validate, struct result *res)
{
	struct bk_drr_parser_opts opts = { .validate = validate };
	struct bk_drr_parser *p;
	struct bk_drr_rec rec;
	size_t off = 0;

	memset(res, 0, sizeof(*res));
	bk_buf_init(&res->digest, 1u << 24);
	assert_int_equal(bk_drr_parser_new(&opts, &p, &res->err), BK_OK);
	for (;;) {
		enum bk_drr_status st = bk_drr_parser_next(p, &rec, &res->err);

		if (st == BK_DRR_ERROR) {
			res->rc = res->err.code;
			assert_int_not_equal(res->rc, BK_OK);
			assert_true(res->err.msg[0] != '\0');
			break;
		}
		if (st == BK_DRR_RECORD) {
			uint64_t d[4] = { rec.hdr.type, rec.offset,
					  rec.payload_len,
					  fnv(rec.payload, rec.payload_len) };

			assert_int_equal(bk_buf_append(&res->digest, d,
						       sizeof(d), NULL),
					 BK_OK);
			continue;
		}
		if (st == BK_DRR_DONE && off == len) {
			res->rc = BK_OK;
			break;
		}
		if (off == len) {
			bk_drr_parser_eof(p);
			continue;
		}
		if (mode == ZERO_COPY) {
			size_t avail, n;
			uint8_t *dst = bk_drr_parser_space(p, 1 + next_rand() % 9000,
							   &avail, NULL);

			assert_non_null(dst);
			n = 1 + next_rand() % avail;
			if (n > len - off)
				n = len - off;
			memcpy(dst, data + off, n);
			bk_drr_parser_wrote(p, n);
			off += n;
		} else {
			size_t n = len - off;

			if (mode == RANDOM_PIECES)
				n = 1 + next_rand() % 5000;
			else if (mode == BYTE_AT_A_TIME)
				n = 1;
			if (n > len - off)
				n = len - off;
			off += bk_drr_parser_feed(p, data + off, n);
		}
	}
	res->stats = *bk_drr_parser_stats(p);
	bk_drr_parser_free(p);
}

static void same(struct result *a, struct result *b)
{
	assert_int_equal(a->rc, b->rc);
	assert_int_equal(a->digest.len, b->digest.len);
	assert_memory_equal(a->digest.data, b->digest.data, a->digest.len);
	assert_memory_equal(&a->stats, &b->stats, sizeof(a->stats));
}

static void pieces_agree_on(struct bk_buf *s)
{
	struct result one, other;

	parse(s->data, s->len, ONE_PIECE, true, &one);
	assert_int_equal(one.rc, BK_OK);
	for (enum mode m = RANDOM_PIECES; m <= ZERO_COPY; m++) {
		for (int round = 0; round < (m == BYTE_AT_A_TIME ? 1 : 20);
		     round++) {
			parse(s->data, s->len, m, true, &other);
			same(&one, &other);
			bk_buf_release(&other.digest);
		}
	}
	bk_buf_release(&one.digest);
}

static void pieces_small(void **state)
{
	struct bk_buf s;

	(void)state;
	for (int swap = 0; swap < 2; swap++) {
		for (int legacy = 0; legacy < 2; legacy++) {
			bk_buf_init(&s, 1u << 26);
			assert_int_equal(tstream_small(&s, swap, legacy), 0);
			pieces_agree_on(&s);
			bk_buf_release(&s);
		}
	}
}

static void pieces_compound(void **state)
{
	struct bk_buf s;
	struct result r;

	(void)state;
	for (int swap = 0; swap < 2; swap++) {
		bk_buf_init(&s, 1u << 26);
		assert_int_equal(tstream_compound(&s, swap), 0);
		pieces_agree_on(&s);
		parse(s.data, s.len, ONE_PIECE, true, &r);
		assert_true(r.stats.compound);
		assert_int_equal(r.stats.substreams, 2);
		assert_int_equal(r.stats.count[BK_DRR_BEGIN], 3);
		assert_int_equal(r.stats.count[BK_DRR_END], 4);
		assert_int_equal(r.stats.bytes, s.len);
		bk_buf_release(&r.digest);
		bk_buf_release(&s);
	}
}

static void pieces_large_payloads(void **state)
{
	struct bk_buf s;

	(void)state;
	bk_buf_init(&s, 1u << 26);
	assert_int_equal(tstream_writes(&s, false, 40, 128 * 1024), 0);
	pieces_agree_on(&s);
	bk_buf_release(&s);
}

static void stats_and_flags(void **state)
{
	struct bk_buf s;
	struct result r;

	(void)state;
	bk_buf_init(&s, 1u << 26);
	assert_int_equal(tstream_small(&s, true, false), 0);
	parse(s.data, s.len, ONE_PIECE, true, &r);
	assert_int_equal(r.rc, BK_OK);
	assert_true(r.stats.byteswap);
	assert_false(r.stats.legacy);
	assert_false(r.stats.compound);
	assert_int_equal(r.stats.substreams, 1);
	assert_int_equal(r.stats.count[BK_DRR_WRITE], 2);
	assert_int_equal(r.stats.payload_bytes[BK_DRR_WRITE], 8192);
	assert_int_equal(r.stats.count[BK_DRR_REDACT], 1);
	assert_int_equal(r.stats.records, 11);
	assert_int_equal(r.stats.bytes, s.len);
	bk_buf_release(&r.digest);
	bk_buf_reset(&s);
	assert_int_equal(tstream_small(&s, false, true), 0);
	parse(s.data, s.len, ONE_PIECE, true, &r);
	assert_int_equal(r.rc, BK_OK);
	assert_true(r.stats.legacy);
	bk_buf_release(&r.digest);
	bk_buf_release(&s);
}

static void every_truncation(void **state)
{
	struct bk_buf s;
	struct result r;

	(void)state;
	for (int kind = 0; kind < 2; kind++) {
		bk_buf_init(&s, 1u << 26);
		if (kind == 0)
			assert_int_equal(tstream_small(&s, false, false), 0);
		else
			assert_int_equal(tstream_compound(&s, true), 0);
		for (size_t cut = 0; cut < s.len; cut++) {
			parse(s.data, cut, ONE_PIECE, false, &r);
			assert_int_equal(r.rc, BK_ERR_TRUNCATED);
			if (cut == 0)
				assert_non_null(strstr(r.err.msg, "empty"));
			else
				assert_non_null(strstr(r.err.msg, "byte"));
			bk_buf_release(&r.digest);
		}
		bk_buf_release(&s);
	}
}

static void every_bit_flip_detected(void **state)
{
	struct bk_buf s;
	struct result r;

	(void)state;
	for (int swap = 0; swap < 2; swap++) {
		bk_buf_init(&s, 1u << 26);
		assert_int_equal(tstream_small(&s, swap, false), 0);
		for (size_t i = 0; i < s.len; i++) {
			uint8_t bit = (uint8_t)(1u << (next_rand() % 8));

			s.data[i] ^= bit;
			parse(s.data, s.len, ONE_PIECE, false, &r);
			if (r.rc == BK_OK)
				fail_msg("flip of byte %zu bit 0x%x undetected",
					 i, bit);
			bk_buf_release(&r.digest);
			s.data[i] ^= bit;
		}
		bk_buf_release(&s);
	}
}

static void checksum_messages(void **state)
{
	struct bk_buf s;
	struct result r;

	(void)state;
	bk_buf_init(&s, 1u << 26);
	assert_int_equal(tstream_small(&s, false, false), 0);
	/* the first WRITE's payload: record 3 (BEGIN, OBJECT, FREE, WRITE) */
	size_t write_off = 312 + 312 + 176 + 312;
	s.data[write_off + 312 + 100] ^= 1;
	parse(s.data, s.len, ONE_PIECE, false, &r);
	assert_int_equal(r.rc, BK_ERR_CHECKSUM);
	/* the next record's trailer no longer matches */
	assert_non_null(strstr(r.err.msg, "record 4 (WRITE) at byte"));
	assert_non_null(strstr(r.err.msg, "trailer checksum mismatch"));
	bk_buf_release(&r.digest);
	s.data[write_off + 312 + 100] ^= 1;
	bk_buf_release(&s);

	/* legacy: only END can tell */
	bk_buf_init(&s, 1u << 26);
	assert_int_equal(tstream_small(&s, false, true), 0);
	s.data[312 + 312 + 176 + 40] ^= 1; /* FREE's offset field */
	parse(s.data, s.len, ONE_PIECE, false, &r);
	assert_int_equal(r.rc, BK_ERR_CHECKSUM);
	assert_non_null(strstr(r.err.msg, "(END)"));
	assert_non_null(strstr(r.err.msg, "stream checksum mismatch"));
	bk_buf_release(&r.digest);
	bk_buf_release(&s);
}

static void garbage_and_empty(void **state)
{
	uint8_t junk[4096];
	struct result r;
	struct bk_buf s;

	(void)state;
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)next_rand();
	parse(junk, sizeof(junk), ONE_PIECE, false, &r);
	assert_int_equal(r.rc, BK_ERR_FORMAT);
	assert_non_null(strstr(r.err.msg, "not a send stream"));
	bk_buf_release(&r.digest);
	parse(junk, 0, ONE_PIECE, false, &r);
	assert_int_equal(r.rc, BK_ERR_TRUNCATED);
	bk_buf_release(&r.digest);

	/* a good stream followed by junk */
	bk_buf_init(&s, 1u << 26);
	assert_int_equal(tstream_small(&s, false, false), 0);
	assert_int_equal(bk_buf_append(&s, junk, 100, NULL), BK_OK);
	parse(s.data, s.len, RANDOM_PIECES, false, &r);
	assert_int_equal(r.rc, BK_ERR_FORMAT);
	assert_non_null(strstr(r.err.msg, "trailing data"));
	bk_buf_release(&r.digest);
	/* a BEGIN where the next record should be */
	bk_buf_reset(&s);
	assert_int_equal(tstream_small(&s, false, false), 0);
	memcpy(s.data + 312, s.data, 312);
	parse(s.data, s.len, ONE_PIECE, false, &r);
	assert_int_equal(r.rc, BK_ERR_FORMAT);
	assert_non_null(strstr(r.err.msg, "BEGIN inside a substream"));
	bk_buf_release(&r.digest);
	bk_buf_release(&s);
}

static void payload_limit(void **state)
{
	uint8_t h[BK_DRR_HDR_LEN];
	struct bk_drr r;
	struct result res;
	struct bk_buf s;

	(void)state;
	bk_buf_init(&s, 1u << 26);
	tstream_begin(&r, 0, "p/f@s", 1, 0);
	bk_drr_encode(&r, false, h);
	bk_buf_append(&s, h, sizeof(h), NULL);
	memset(&r, 0, sizeof(r));
	r.type = BK_DRR_WRITE;
	r.u.write.object = 1;
	r.u.write.logical_size = 1ull << 40; /* a terabyte payload claimed */
	bk_drr_encode(&r, false, h);
	bk_buf_append(&s, h, sizeof(h), NULL);
	parse(s.data, s.len, ONE_PIECE, false, &res);
	assert_int_equal(res.rc, BK_ERR_LIMIT);
	assert_non_null(strstr(res.err.msg, "record 1 (WRITE) at byte 312"));
	bk_buf_release(&res.digest);
	/* BEGIN payload limit too */
	bk_buf_reset(&s);
	tstream_begin(&r, 0, "p/f@s", 1, 0);
	r.payloadlen = 0xffffffffu;
	bk_drr_encode(&r, false, h);
	bk_buf_append(&s, h, sizeof(h), NULL);
	parse(s.data, s.len, ONE_PIECE, false, &res);
	assert_int_equal(res.rc, BK_ERR_LIMIT);
	bk_buf_release(&res.digest);
	bk_buf_release(&s);
}

/* ---- receiver rules: one broken record each ---- */

typedef void (*mutate_fn)(struct bk_drr *r, uint64_t *features);

struct rule_case {
	const char *name;
	uint32_t type;  /* record to mutate (BEGIN = the stream's header) */
	mutate_fn fn;
	const char *expect; /* in the message */
};

#define M(n) static void n(struct bk_drr *r, uint64_t *f)

M(m_unknown_feature) { (void)r; *f |= 1ull << 40; }
M(m_dedup) { (void)r; *f |= BK_FEAT_DEDUP; }
M(m_noat) { (void)f; strcpy(r->u.begin.toname, "pool/fs"); }
M(m_objset) { (void)f; r->u.begin.objset_type = 6; }
M(m_clone) { (void)f; r->u.begin.flags |= BK_DRR_FLAG_CLONE; }
M(m_raw_embed) { (void)r; *f |= BK_FEAT_RAW | BK_FEAT_EMBED_DATA; }
M(m_raw_nospill) { *f |= BK_FEAT_RAW; *f &= ~BK_FEAT_EMBED_DATA; r->u.begin.flags = 0; }
M(m_obj_zero) { (void)f; r->u.object.object = 0; }
M(m_obj_big) { (void)f; r->u.object.object = 1ull << 48; }
M(m_obj_type) { (void)f; r->u.object.type = 0; }
M(m_obj_type2) { (void)f; r->u.object.type = 54; }
M(m_obj_bonustype) { (void)f; r->u.object.bonustype = 0x80 | 12; }
M(m_obj_bonuslen0) { (void)f; r->u.object.bonustype = 19; r->u.object.bonuslen = 0; }
M(m_obj_blksz) { (void)f; r->u.object.blksz = 1000; }
M(m_obj_blksz_large) { (void)f; r->u.object.blksz = 256 * 1024; }
M(m_obj_slots) { (void)f; r->u.object.dn_slots = 2; }
M(m_obj_cksum) { (void)f; r->u.object.checksumtype = 15; }
M(m_obj_compress) { (void)f; r->u.object.compress = 17; }
M(m_obj_bonus_big) { (void)f; r->u.object.bonuslen = 321; }
M(m_obj_flags) { (void)f; r->u.object.flags = 1; }
M(m_obj_raw_fields) { (void)f; r->u.object.nlevels = 1; }
M(m_w_small) { (void)f; r->u.write.logical_size = 256; }
M(m_w_compressed) { (void)f; r->u.write.compressiontype = 3; r->u.write.compressed_size = 512; }
M(m_w_zstd) { *f |= BK_FEAT_COMPRESSED; r->u.write.compressiontype = 16; r->u.write.compressed_size = 512; }
M(m_w_lz4) { *f |= BK_FEAT_COMPRESSED; *f &= ~BK_FEAT_LZ4; *f &= ~BK_FEAT_EMBED_DATA; r->u.write.compressiontype = 15; r->u.write.compressed_size = 512; }
M(m_w_csize0) { *f |= BK_FEAT_COMPRESSED; r->u.write.compressiontype = 3; r->u.write.compressed_size = 0; }
M(m_w_csize_unc) { (void)f; r->u.write.compressed_size = 10; }
M(m_w_overflow) { (void)f; r->u.write.offset = UINT64_MAX - 100; }
M(m_w_order) { (void)f; r->u.write.offset = 0; r->u.write.object = 1; }
M(m_free_overflow) { (void)f; r->u.free.offset = 100; r->u.free.length = UINT64_MAX - 10; }
M(m_we_noembed) { *f &= ~BK_FEAT_EMBED_DATA; (void)r; }
M(m_we_lsize) { (void)f; r->u.write_embedded.lsize = 1024; }
M(m_we_etype) { (void)f; r->u.write_embedded.etype = 3; }
M(m_we_off) { (void)f; r->u.write_embedded.compression = 2; }
M(m_spill_len) { (void)f; r->u.spill.length = 100; }
M(m_spill_csize) { (void)f; r->u.spill.compressed_size = 512; }
M(m_fo_overflow) { (void)f; r->u.freeobjects.numobjs = UINT64_MAX; }
M(m_redact_overflow) { (void)f; r->u.redact.offset = 10; r->u.redact.length = UINT64_MAX - 1; }

static const struct rule_case rules[] = {
	{ "unknown feature", BK_DRR_BEGIN, m_unknown_feature, "unknown feature" },
	{ "dedup", BK_DRR_BEGIN, m_dedup, "redup" },
	{ "toname without @", BK_DRR_BEGIN, m_noat, "no '@'" },
	{ "objset type", BK_DRR_BEGIN, m_objset, "objset type 6" },
	{ "clone without origin", BK_DRR_BEGIN, m_clone, "CLONE" },
	{ "raw+embed", BK_DRR_BEGIN, m_raw_embed, "EMBED_DATA" },
	{ "raw without SPILL_BLOCK", BK_DRR_BEGIN, m_raw_nospill, "SPILL_BLOCK" },
	{ "object 0", BK_DRR_OBJECT, m_obj_zero, "object number 0" },
	{ "object 2^48", BK_DRR_OBJECT, m_obj_big, "outside 1..2^48-1" },
	{ "object type NONE", BK_DRR_OBJECT, m_obj_type, "object type 0" },
	{ "object type 54", BK_DRR_OBJECT, m_obj_type2, "object type 54" },
	{ "bonus type", BK_DRR_OBJECT, m_obj_bonustype, "bonus type" },
	{ "bonuslen 0", BK_DRR_OBJECT, m_obj_bonuslen0, "bonus length 0" },
	{ "blksz", BK_DRR_OBJECT, m_obj_blksz, "block size 1000" },
	{ "large blksz", BK_DRR_OBJECT, m_obj_blksz_large, "LARGE_BLOCKS" },
	{ "dn_slots", BK_DRR_OBJECT, m_obj_slots, "LARGE_DNODE" },
	{ "checksum type", BK_DRR_OBJECT, m_obj_cksum, "checksum type 15" },
	{ "compress", BK_DRR_OBJECT, m_obj_compress, "compression 17" },
	{ "bonuslen capacity", BK_DRR_OBJECT, m_obj_bonus_big, "exceeds" },
	{ "object flags", BK_DRR_OBJECT, m_obj_flags, "flags 0x1" },
	{ "raw fields", BK_DRR_OBJECT, m_obj_raw_fields, "non-raw" },
	{ "write size", BK_DRR_WRITE, m_w_small, "logical size 256" },
	{ "compressed w/o feature", BK_DRR_WRITE, m_w_compressed, "COMPRESSED" },
	{ "zstd w/o feature", BK_DRR_WRITE, m_w_zstd, "ZSTD" },
	{ "lz4 w/o feature", BK_DRR_WRITE, m_w_lz4, "LZ4" },
	{ "compressed size 0", BK_DRR_WRITE, m_w_csize0, "compressed size 0" },
	{ "uncompressed with csize", BK_DRR_WRITE, m_w_csize_unc, "uncompressed write" },
	{ "write overflow", BK_DRR_WRITE, m_w_overflow, "overflows" },
	{ "write order", BK_DRR_WRITE, m_w_order, "in order" },
	{ "free overflow", BK_DRR_FREE, m_free_overflow, "overflows" },
	{ "embedded w/o feature", BK_DRR_WRITE_EMBEDDED, m_we_noembed, "EMBED_DATA" },
	{ "embedded lsize", BK_DRR_WRITE_EMBEDDED, m_we_lsize, "lsize" },
	{ "embedded etype", BK_DRR_WRITE_EMBEDDED, m_we_etype, "embedded type 3" },
	{ "embedded off size", BK_DRR_WRITE_EMBEDDED, m_we_off, "lsize 512 != psize 27" },
	{ "spill length", BK_DRR_SPILL, m_spill_len, "spill length 100" },
	{ "spill csize", BK_DRR_SPILL, m_spill_csize, "non-raw spill" },
	{ "freeobjects overflow", BK_DRR_FREEOBJECTS, m_fo_overflow, "overflows" },
	{ "redact overflow", BK_DRR_REDACT, m_redact_overflow, "overflows" },
};

/* Rewrite the small stream with one record changed, through the writer so
 * that checksums stay right and only the rule can object. */
struct rewrite {
	const struct rule_case *rc;
	struct bk_drr_writer w;
	bool done;
	int second_write;
};

static void rebuild(const struct rule_case *rc, struct bk_buf *out)
{
	struct bk_buf src;
	struct bk_drr_parser *p;
	struct bk_drr_rec rec;
	struct bk_drr_writer w;
	bool done = false;
	unsigned writes = 0;

	bk_buf_init(&src, 1u << 26);
	assert_int_equal(tstream_small(&src, false, false), 0);
	bk_drr_writer_init(&w, bk_drr_sink_buf, out, false, false);
	assert_int_equal(bk_drr_parser_new(NULL, &p, NULL), BK_OK);
	assert_int_equal(bk_drr_parser_feed(p, src.data, src.len), src.len);
	bk_drr_parser_eof(p);
	while (bk_drr_parser_next(p, &rec, NULL) == BK_DRR_RECORD) {
		struct bk_drr r = rec.hdr;
		uint64_t f = BK_DRR_FEATURES(r.u.begin.versioninfo);
		bool hit = r.type == rc->type && !done;

		if (rc->fn == m_w_order) /* the second WRITE goes backwards */
			hit = r.type == BK_DRR_WRITE && ++writes == 2;
		if (rc->type != BK_DRR_BEGIN && r.type == BK_DRR_BEGIN &&
		    (rc->fn == m_we_noembed || rc->fn == m_w_zstd ||
		     rc->fn == m_w_lz4 || rc->fn == m_w_csize0)) {
			/* these change the stream's features */
			struct bk_drr dummy;

			memset(&dummy, 0, sizeof(dummy));
			rc->fn(&dummy, &f);
			r.u.begin.versioninfo =
				BK_DRR_VERSIONINFO(BK_DRR_SUBSTREAM, f);
		}
		if (hit) {
			if (r.type == BK_DRR_BEGIN) {
				rc->fn(&r, &f);
				r.u.begin.versioninfo =
					BK_DRR_VERSIONINFO(BK_DRR_SUBSTREAM, f);
			} else {
				uint64_t ignored = f;

				rc->fn(&r, &ignored);
			}
			done = true;
		}
		{
			uint64_t want = 0;

			/* keep the payload length consistent with the header */
			if (bk_drr_payload_len(&r, &want, NULL) == BK_OK &&
			    want == rec.payload_len)
				assert_int_equal(bk_drr_write(&w, &r, rec.payload,
							      rec.payload_len, NULL),
						 BK_OK);
			else {
				uint8_t *pl = calloc(1, want ? want : 1);

				assert_int_equal(bk_drr_write(&w, &r, pl, want,
							      NULL),
						 BK_OK);
				free(pl);
			}
		}
	}
	bk_drr_parser_free(p);
	bk_buf_release(&src);
}

static void receiver_rules(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
		struct bk_buf s;
		struct result r;

		bk_buf_init(&s, 1u << 26);
		rebuild(&rules[i], &s);
		/* without validation the stream is sound */
		parse(s.data, s.len, ONE_PIECE, false, &r);
		if (r.rc != BK_OK)
			fail_msg("%s: unvalidated parse failed: %s",
				 rules[i].name, r.err.msg);
		bk_buf_release(&r.digest);
		parse(s.data, s.len, ONE_PIECE, true, &r);
		if (r.rc != BK_ERR_RULE || !strstr(r.err.msg, rules[i].expect))
			fail_msg("%s: expected a rule error with '%s', got %d: %s",
				 rules[i].name, rules[i].expect, r.rc, r.err.msg);
		assert_non_null(strstr(r.err.msg, "record "));
		assert_non_null(strstr(r.err.msg, " at byte "));
		bk_buf_release(&r.digest);
		bk_buf_release(&s);
	}
}

static void byref_rejected(void **state)
{
	struct bk_buf s;
	struct bk_drr_writer w;
	struct bk_drr r;
	struct result res;

	(void)state;
	bk_buf_init(&s, 1u << 26);
	bk_drr_writer_init(&w, bk_drr_sink_buf, &s, false, false);
	tstream_begin(&r, 0, "p/f@s", 1, 0);
	assert_int_equal(bk_drr_write(&w, &r, NULL, 0, NULL), BK_OK);
	memset(&r, 0, sizeof(r));
	r.type = BK_DRR_WRITE_BYREF;
	r.u.write_byref.object = 1;
	assert_int_equal(bk_drr_write(&w, &r, NULL, 0, NULL), BK_OK);
	memset(&r, 0, sizeof(r));
	r.type = BK_DRR_END;
	assert_int_equal(bk_drr_write(&w, &r, NULL, 0, NULL), BK_OK);
	parse(s.data, s.len, ONE_PIECE, false, &res);
	assert_int_equal(res.rc, BK_OK);
	bk_buf_release(&res.digest);
	parse(s.data, s.len, ONE_PIECE, true, &res);
	assert_int_equal(res.rc, BK_ERR_RULE);
	assert_non_null(strstr(res.err.msg, "WRITE_BYREF"));
	bk_buf_release(&res.digest);
	bk_buf_release(&s);
}

/* A receiver that resolves references (the local pool) asks for DEDUP
 * streams; the rules still check each WRITE_BYREF's fields. */
static void byref_with_dedup(void **state)
{
	struct bk_drr_vstate vs;
	struct bk_drr b, r;
	struct bk_error err;

	(void)state;
	tstream_begin(&b, BK_FEAT_DEDUP, "p/f@s", 7, 0);
	memset(&vs, 0, sizeof(vs));
	assert_int_equal(bk_drr_validate(&vs, &b, &err), BK_ERR_RULE);
	assert_non_null(strstr(err.msg, "redup"));
	vs.dedup = true;
	assert_int_equal(bk_drr_validate(&vs, &b, &err), BK_OK);
	assert_true(vs.dedup); /* BEGIN keeps it */
	memset(&r, 0, sizeof(r));
	r.type = BK_DRR_WRITE_BYREF;
	r.u.write_byref.object = 2;
	r.u.write_byref.length = 4096;
	r.u.write_byref.refguid = 7;
	r.u.write_byref.refobject = 1;
	assert_int_equal(bk_drr_validate(&vs, &r, &err), BK_OK);
	r.u.write_byref.length = 256;
	assert_int_equal(bk_drr_validate(&vs, &r, &err), BK_ERR_RULE);
	r.u.write_byref.length = 4096;
	r.u.write_byref.refobject = 0;
	assert_int_equal(bk_drr_validate(&vs, &r, &err), BK_ERR_RULE);
	r.u.write_byref.refobject = 1;
	r.u.write_byref.refguid = 0;
	assert_int_equal(bk_drr_validate(&vs, &r, &err), BK_ERR_RULE);
	r.u.write_byref.refguid = 7;
	r.u.write_byref.refoffset = UINT64_MAX - 100;
	assert_int_equal(bk_drr_validate(&vs, &r, &err), BK_ERR_RULE);
	r.u.write_byref.refoffset = 0;
	/* a stream without DEDUP holds no references */
	tstream_begin(&b, 0, "p/f@s", 7, 0);
	assert_int_equal(bk_drr_validate(&vs, &b, &err), BK_OK);
	assert_int_equal(bk_drr_validate(&vs, &r, &err), BK_ERR_RULE);
	assert_non_null(strstr(err.msg, "without the DEDUP"));
}

static void writer_rejects_wrong_payload(void **state)
{
	struct bk_buf s;
	struct bk_drr_writer w;
	struct bk_drr r;
	struct bk_error err;
	uint8_t pl[100] = { 0 };

	(void)state;
	bk_buf_init(&s, 1u << 20);
	bk_drr_writer_init(&w, bk_drr_sink_buf, &s, false, false);
	memset(&r, 0, sizeof(r));
	r.type = BK_DRR_WRITE;
	r.u.write.logical_size = 512;
	assert_int_equal(bk_drr_write(&w, &r, pl, sizeof(pl), &err),
			 BK_ERR_USAGE);
	assert_int_equal(s.len, 0);
	bk_buf_release(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(pieces_small),
		cmocka_unit_test(pieces_compound),
		cmocka_unit_test(pieces_large_payloads),
		cmocka_unit_test(stats_and_flags),
		cmocka_unit_test(every_truncation),
		cmocka_unit_test(every_bit_flip_detected),
		cmocka_unit_test(checksum_messages),
		cmocka_unit_test(garbage_and_empty),
		cmocka_unit_test(payload_limit),
		cmocka_unit_test(receiver_rules),
		cmocka_unit_test(byref_rejected),
		cmocka_unit_test(byref_with_dedup),
		cmocka_unit_test(writer_rejects_wrong_payload),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
