/* Synthetic streams: determinism, validity in every form (full, incremental,
 * byte-swapped, 2008, compound), incrementals that hold exactly the changed
 * blocks, sharing between versions, compressibility, option errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <lz4.h>

#include "backup/drr.h"
#include "backup/gen.h"
#include "backup/nvlist.h"
#include "backup/zpl.h"

static uint64_t fnv(const void *buf, size_t n, uint64_t h)
{
	const uint8_t *p = buf;

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return h;
}

/* ---- a small hash map (key -> value), keys never 0 ---------------------- */

struct map {
	uint64_t *key, *val;
	size_t cap, n;
};

static void map_init(struct map *m, size_t cap)
{
	m->cap = cap;
	m->n = 0;
	m->key = calloc(cap, sizeof(uint64_t));
	m->val = calloc(cap, sizeof(uint64_t));
	assert_non_null(m->key);
	assert_non_null(m->val);
}

static void map_free(struct map *m)
{
	free(m->key);
	free(m->val);
}

static size_t map_slot(const struct map *m, uint64_t k)
{
	size_t i = (size_t)((k * 0x9E3779B97F4A7C15ull) % m->cap);

	while (m->key[i] && m->key[i] != k)
		i = (i + 1) % m->cap;
	return i;
}

static void map_put(struct map *m, uint64_t k, uint64_t v)
{
	size_t i = map_slot(m, k);

	if (!m->key[i]) {
		assert_true(m->n + 1 < m->cap / 2);
		m->key[i] = k;
		m->n++;
	}
	m->val[i] = v;
}

static bool map_get(const struct map *m, uint64_t k, uint64_t *v)
{
	size_t i = map_slot(m, k);

	if (!m->key[i])
		return false;
	if (v)
		*v = m->val[i];
	return true;
}

/* ---- generate into the parser, record by record ------------------------- */

typedef void (*rec_fn)(const struct bk_drr_rec *rec, void *arg);

struct run {
	struct bk_drr_parser *p;
	rec_fn fn;
	void *arg;
	uint64_t hash;  /* of every byte */
	uint64_t bytes;
	bool done;
	struct bk_drr_stats stats;
};

static enum bk_code drain(struct run *r, struct bk_error *err)
{
	struct bk_drr_rec rec;

	for (;;) {
		enum bk_drr_status st = bk_drr_parser_next(r->p, &rec, err);

		if (st == BK_DRR_ERROR)
			return err->code;
		if (st == BK_DRR_NEED_MORE)
			return BK_OK;
		if (st == BK_DRR_DONE) {
			r->done = true;
			return BK_OK;
		}
		if (r->fn)
			r->fn(&rec, r->arg);
	}
}

static enum bk_code run_sink(void *ctx, const void *buf, size_t len,
			     struct bk_error *err)
{
	struct run *r = ctx;
	const uint8_t *p = buf;
	enum bk_code rc;

	r->hash = fnv(buf, len, r->hash);
	r->bytes += len;
	while (len) {
		size_t n = bk_drr_parser_feed(r->p, p, len);

		p += n;
		len -= n;
		rc = drain(r, err);
		if (rc)
			return rc;
	}
	return BK_OK;
}

/* Generate o through a validating parser; fails the test on any error. */
static void run_gen(const struct bk_gen_opts *o, rec_fn fn, void *arg,
		    struct run *r)
{
	struct bk_drr_parser_opts po = { .validate = true };
	struct bk_error err;
	enum bk_code rc;

	memset(r, 0, sizeof(*r));
	r->fn = fn;
	r->arg = arg;
	r->hash = 1469598103934665603ull;
	assert_int_equal(bk_drr_parser_new(&po, &r->p, &err), BK_OK);
	rc = bk_gen_stream(o, run_sink, r, &err);
	if (rc)
		fail_msg("generate: %s", err.msg);
	bk_drr_parser_eof(r->p);
	rc = drain(r, &err);
	if (rc)
		fail_msg("parse: %s", err.msg);
	assert_true(r->done);
	r->stats = *bk_drr_parser_stats(r->p);
	assert_int_equal(r->stats.bytes, r->bytes);
	bk_drr_parser_free(r->p);
	r->p = NULL;
}

static void small_opts(struct bk_gen_opts *o)
{
	bk_gen_opts_init(o);
	o->objects = 40;
	o->blocksize = 4096;
	o->compressible = 0.5;
	o->seed = 7;
}

/* ---- compressed WRITEs (write_compress) ---------------------------------- */

struct wblocks {
	uint64_t n, compressed;
	uint64_t *h;           /* fnv of each WRITE's logical bytes */
	uint8_t buf[1u << 17]; /* one block, decompressed */
};

static void collect_write(const struct bk_drr_rec *rec, void *arg)
{
	struct wblocks *w = arg;
	const uint8_t *p = rec->payload;
	size_t lsize;

	if (rec->hdr.type == BK_DRR_BEGIN && rec->hdr.u.begin.versioninfo &&
	    w->h) {
		uint64_t f = BK_DRR_FEATURES(rec->hdr.u.begin.versioninfo);

		assert_true(f & BK_FEAT_COMPRESSED);
		assert_true(f & BK_FEAT_LZ4);
	}
	if (rec->hdr.type != BK_DRR_WRITE)
		return;
	lsize = (size_t)rec->hdr.u.write.logical_size;
	assert_true(lsize <= sizeof(w->buf));
	if (rec->hdr.u.write.compressiontype) {
		struct bk_error err;

		assert_true(rec->payload_len % 512 == 0);
		assert_true(rec->payload_len <= lsize - lsize / 8);
		assert_true((rec->hdr.u.write.key_prop >> 32 & 0xff) ==
			    rec->hdr.u.write.compressiontype);
		if (bk_zpl_decompress(rec->hdr.u.write.compressiontype, p,
				      (size_t)rec->payload_len, w->buf, lsize,
				      &err))
			fail_msg("block %" PRIu64 ": %s", w->n, err.msg);
		p = w->buf;
		w->compressed++;
	}
	w->h = realloc(w->h, (size_t)(w->n + 1) * sizeof(*w->h));
	assert_non_null(w->h);
	w->h[w->n++] = fnv(p, lsize, 1469598103934665603ull);
}

/* Every algorithm: the same logical blocks as without compression, each
 * compressed one read back by the ZPL reader's decoders; some blocks are
 * compressed (text; zle only where there are zeros) and random ones not. */
static void test_write_compress(void **state)
{
	static const unsigned algs[] = { 3, 5, 10, 13, 14, 15, 16 };
	struct bk_gen_opts o;
	struct wblocks *plain = calloc(1, sizeof(*plain));
	struct wblocks *c = calloc(1, sizeof(*c));
	struct run r;

	(void)state;
	assert_non_null(plain);
	assert_non_null(c);
	small_opts(&o);
	o.blocksize = 16384;
	run_gen(&o, collect_write, plain, &r);
	assert_int_equal(plain->compressed, 0);
	for (size_t i = 0; i < sizeof(algs) / sizeof(algs[0]); i++) {
		c->n = c->compressed = 0;
		o.write_compress = algs[i];
		run_gen(&o, collect_write, c, &r);
		assert_int_equal(c->n, plain->n);
		assert_memory_equal(c->h, plain->h, plain->n * sizeof(*c->h));
		if (algs[i] != 14)
			assert_true(c->compressed > plain->n / 4);
		assert_true(c->compressed < plain->n);
	}
	/* not a block compression; not in the 2008 format */
	struct bk_error err;
	o.write_compress = 4;
	assert_int_equal(bk_gen_stream(&o, run_sink, &r, &err), BK_ERR_USAGE);
	o.write_compress = 15;
	o.legacy = true;
	assert_int_equal(bk_gen_stream(&o, run_sink, &r, &err), BK_ERR_USAGE);
	free(plain->h);
	free(c->h);
	free(plain);
	free(c);
}

/* ---- tests ---------------------------------------------------------------- */

static void test_deterministic(void **state)
{
	struct bk_gen_opts o;
	struct run a, b, c;

	(void)state;
	small_opts(&o);
	o.version = 3;
	run_gen(&o, NULL, NULL, &a);
	run_gen(&o, NULL, NULL, &b);
	assert_true(a.hash == b.hash);
	assert_true(a.bytes == b.bytes);
	o.seed = 8;
	run_gen(&o, NULL, NULL, &c);
	assert_true(a.hash != c.hash);
	/* incremental and compound too */
	small_opts(&o);
	o.version = 4;
	o.from = 2;
	o.compound = true;
	run_gen(&o, NULL, NULL, &a);
	run_gen(&o, NULL, NULL, &b);
	assert_true(a.hash == b.hash);
}

struct shape {
	uint64_t features;
	uint32_t hdrtype_seen[4];
	uint64_t fromguid[8];
	uint64_t toguid[8];
	unsigned nbegin;
	bool zero_trailers;   /* every non-BEGIN trailer zero */
	bool nonbegin_toguid; /* some non-BEGIN record carries a toguid */
	bool payloads8;       /* every payload a multiple of 8 */
	uint32_t max_type, max_blksz, max_bonuslen;
	uint64_t writes, write_bytes;
	struct bk_nvlist *header; /* compound header nvlist */
	char toname[BK_DRR_NAME_LEN + 1]; /* of the first substream */
	uint64_t last_obj;  /* object order within a substream */
	bool unordered;
};

static void order(struct shape *s, uint64_t obj)
{
	if (obj < s->last_obj)
		s->unordered = true;
	s->last_obj = obj;
}

static void on_shape(const struct bk_drr_rec *rec, void *arg)
{
	struct shape *s = arg;
	const struct bk_drr *r = &rec->hdr;
	static const uint8_t zero[32];

	if (r->type > s->max_type)
		s->max_type = r->type;
	if (rec->payload_len % 8)
		s->payloads8 = false;
	switch (r->type) {
	case BK_DRR_BEGIN:
		s->last_obj = 0;
		s->hdrtype_seen[BK_DRR_HDRTYPE(r->u.begin.versioninfo)]++;
		if (BK_DRR_HDRTYPE(r->u.begin.versioninfo) ==
		    BK_DRR_COMPOUNDSTREAM) {
			struct bk_error err;

			assert_int_equal(bk_nvlist_unpack(rec->payload,
							  rec->payload_len,
							  &s->header, &err),
					 BK_OK);
		} else if (s->nbegin < 8) {
			if (s->nbegin == 0)
				memcpy(s->toname, r->u.begin.toname,
				       sizeof(s->toname));
			s->features |= BK_DRR_FEATURES(r->u.begin.versioninfo);
			s->fromguid[s->nbegin] = r->u.begin.fromguid;
			s->toguid[s->nbegin] = r->u.begin.toguid;
			s->nbegin++;
		}
		return;
	case BK_DRR_OBJECT:
		order(s, r->u.object.object);
		if (r->u.object.blksz > s->max_blksz)
			s->max_blksz = r->u.object.blksz;
		if (r->u.object.bonuslen > s->max_bonuslen)
			s->max_bonuslen = r->u.object.bonuslen;
		if (r->u.object.toguid)
			s->nonbegin_toguid = true;
		break;
	case BK_DRR_WRITE:
		order(s, r->u.write.object);
		s->writes++;
		s->write_bytes += rec->payload_len;
		if (r->u.write.toguid)
			s->nonbegin_toguid = true;
		break;
	case BK_DRR_FREE:
		order(s, r->u.free.object);
		if (r->u.free.toguid)
			s->nonbegin_toguid = true;
		break;
	case BK_DRR_FREEOBJECTS:
		order(s, r->u.freeobjects.firstobj);
		if (r->u.freeobjects.toguid)
			s->nonbegin_toguid = true;
		break;
	case BK_DRR_END:
		if (r->u.end.toguid)
			s->nonbegin_toguid = true;
		break;
	default:
		break;
	}
	if (memcmp(rec->raw + BK_DRR_TRAILER_OFF, zero, 32) != 0)
		s->zero_trailers = false;
}

static void shape_of(const struct bk_gen_opts *o, struct shape *s,
		     struct run *r)
{
	memset(s, 0, sizeof(*s));
	s->zero_trailers = true;
	s->payloads8 = true;
	run_gen(o, on_shape, s, r);
}

static void test_full_valid(void **state)
{
	struct bk_gen_opts o;
	struct shape s;
	struct run r;

	(void)state;
	small_opts(&o);
	shape_of(&o, &s, &r);
	assert_false(r.stats.compound);
	assert_false(r.stats.legacy);
	assert_false(r.stats.byteswap);
	assert_int_equal(r.stats.substreams, 1);
	assert_int_equal(s.features, BK_FEAT_SA_SPILL);
	assert_int_equal(s.fromguid[0], 0);
	assert_true(s.toguid[0] == bk_gen_guid(&o, NULL, 1));
	assert_false(s.zero_trailers);
	assert_true(r.stats.count[BK_DRR_OBJECT] >= 40);
	assert_true(r.stats.count[BK_DRR_FREE] == r.stats.count[BK_DRR_OBJECT]);
	assert_true(r.stats.count[BK_DRR_FREEOBJECTS] >= 1);
	assert_true(s.max_blksz <= 4096);
	assert_true(s.max_bonuslen >= 168 && s.max_bonuslen <= 192);
	/* about 16 blocks a file */
	assert_true(s.writes > 40 * 8 && s.writes < 40 * 32);
}

static void test_byteswap_valid(void **state)
{
	struct bk_gen_opts o;
	struct run a, b;
	struct shape s;

	(void)state;
	small_opts(&o);
	run_gen(&o, NULL, NULL, &a);
	o.byteswap = true;
	shape_of(&o, &s, &b);
	assert_true(b.stats.byteswap);
	assert_true(a.bytes == b.bytes);
	assert_true(a.hash != b.hash);
	assert_true(s.toguid[0] == bk_gen_guid(&o, NULL, 1));
	/* incremental and compound in the other byte order too */
	o.version = 3;
	o.from = 1;
	o.compound = true;
	shape_of(&o, &s, &b);
	assert_true(b.stats.byteswap && b.stats.compound);
	assert_non_null(s.header);
	bk_nvlist_free(s.header);
}

static void test_large_blocks(void **state)
{
	struct bk_gen_opts o;
	struct shape s;
	struct run r;

	(void)state;
	bk_gen_opts_init(&o);
	o.objects = 3;
	o.size = 12u << 20;
	o.blocksize = 1u << 20;
	shape_of(&o, &s, &r);
	assert_true(s.features & BK_FEAT_LARGE_BLOCKS);
	assert_int_equal(s.max_blksz, 1u << 20);
	/* 128K: no LARGE_BLOCKS */
	o.blocksize = 128u << 10;
	shape_of(&o, &s, &r);
	assert_false(s.features & BK_FEAT_LARGE_BLOCKS);
	/* the smallest blocks */
	o.blocksize = 512;
	o.size = 64u << 10;
	shape_of(&o, &s, &r);
	assert_int_equal(s.max_blksz, 512);
}

static void test_legacy(void **state)
{
	struct bk_gen_opts o;
	struct shape s;
	struct run r;

	(void)state;
	small_opts(&o);
	o.legacy = true;
	o.blocksize = 128u << 10;
	o.objects = 6;
	for (int form = 0; form < 3; form++) {
		o.compound = form == 2;
		o.version = form ? 3 : 1;
		o.from = form ? 2 : 0;
		o.change = 0.3;
		shape_of(&o, &s, &r);
		assert_true(r.stats.legacy);
		assert_true(s.zero_trailers);
		assert_true(s.max_type <= BK_DRR_END);
		assert_int_equal(s.features, 0);
		assert_false(s.nonbegin_toguid);
		assert_true(s.payloads8);
		assert_true(s.max_blksz <= 128u << 10);
		assert_true(s.max_bonuslen <= 320);
		assert_int_equal(r.stats.compound, o.compound);
		bk_nvlist_free(s.header);
	}
}

static void test_compound(void **state)
{
	struct bk_gen_opts o;
	struct shape s;
	struct run r;
	const struct bk_nvlist *fss = NULL;
	const char *str = NULL;

	(void)state;
	small_opts(&o);
	o.compound = true;
	o.version = 5;
	o.from = 3;
	shape_of(&o, &s, &r);
	assert_true(r.stats.compound);
	assert_int_equal(r.stats.substreams, 2);
	assert_int_equal(s.hdrtype_seen[BK_DRR_COMPOUNDSTREAM], 1);
	assert_int_equal(s.nbegin, 2);
	assert_true(s.fromguid[0] == bk_gen_guid(&o, "pool/fs", 3));
	assert_true(s.fromguid[1] == bk_gen_guid(&o, "pool/fs/child", 3));
	assert_true(s.toguid[1] == bk_gen_guid(&o, "pool/fs/child", 5));
	assert_non_null(s.header);
	assert_true(bk_nvlist_lookup_string(s.header, "tosnap", &str));
	assert_string_equal(str, "v5");
	assert_true(bk_nvlist_lookup_string(s.header, "fromsnap", &str));
	assert_string_equal(str, "v3");
	assert_true(bk_nvlist_lookup_nvlist(s.header, "fss", &fss));
	assert_int_equal(bk_nvlist_count(fss), 2);
	bk_nvlist_free(s.header);
}

/* ---- applying an incremental ------------------------------------------------ */

/* A dataset as the records build it: per object, its block size and the
 * payload hash of every block (0: none). */
#define MAXOBJ 4096

struct image {
	uint32_t blksz[MAXOBJ];
	uint64_t *blk[MAXOBJ];
	uint64_t nblk[MAXOBJ];
	uint64_t writes;
	uint64_t changed_writes; /* WRITEs whose content differs from base */
	const struct image *base;
};

static uint64_t image_get(const struct image *im, uint64_t obj, uint64_t b)
{
	return b < im->nblk[obj] ? im->blk[obj][b] : 0;
}

static void on_apply(const struct bk_drr_rec *rec, void *arg)
{
	struct image *im = arg;
	const struct bk_drr *r = &rec->hdr;
	uint64_t h, obj, b;

	switch (r->type) {
	case BK_DRR_OBJECT:
		assert_true(r->u.object.object < MAXOBJ);
		im->blksz[r->u.object.object] = r->u.object.blksz;
		break;
	case BK_DRR_FREEOBJECTS:
		for (uint64_t i = 0; i < r->u.freeobjects.numobjs &&
				     r->u.freeobjects.firstobj + i < MAXOBJ; i++) {
			obj = r->u.freeobjects.firstobj + i;
			im->blksz[obj] = 0;
			im->nblk[obj] = 0;
		}
		break;
	case BK_DRR_FREE:
		assert_true(r->u.free.length == UINT64_MAX);
		obj = r->u.free.object;
		b = r->u.free.offset / im->blksz[obj];
		if (im->nblk[obj] > b)
			im->nblk[obj] = b;
		break;
	case BK_DRR_WRITE:
		obj = r->u.write.object;
		assert_true(im->blksz[obj] == r->u.write.logical_size);
		b = r->u.write.offset / r->u.write.logical_size;
		h = fnv(rec->payload, rec->payload_len, 1469598103934665603ull) | 1;
		if (b >= im->nblk[obj]) {
			uint64_t *n = realloc(im->blk[obj],
					      (b + 1) * sizeof(uint64_t));

			assert_non_null(n);
			im->blk[obj] = n;
			memset(n + im->nblk[obj], 0,
			       (b + 1 - im->nblk[obj]) * sizeof(uint64_t));
			im->nblk[obj] = b + 1;
		}
		im->blk[obj][b] = h;
		im->writes++;
		if (im->base && image_get(im->base, obj, b) != h)
			im->changed_writes++;
		break;
	default:
		break;
	}
}

static void image_free(struct image *im)
{
	for (size_t i = 0; i < MAXOBJ; i++)
		free(im->blk[i]);
	memset(im, 0, sizeof(*im));
}

static void test_incremental_apply(void **state)
{
	static struct image v0, v1, inc;
	struct bk_gen_opts o;
	struct run r;

	(void)state;
	bk_gen_opts_init(&o);
	o.objects = 1000;
	o.blocksize = 512;
	o.compressible = 0.5;
	o.seed = 42;
	o.change = 0.01;

	for (uint32_t from = 1; from <= 2; from++) {
		uint32_t to = from == 1 ? 2 : 6;
		uint64_t differ = 0, rewritten = 0, base_blocks = 0;
		double expect;

		o.from = 0;
		o.version = from;
		run_gen(&o, on_apply, &v0, &r);
		run_gen(&o, on_apply, &inc, &r); /* to apply the increment on */
		o.version = to;
		run_gen(&o, on_apply, &v1, &r);
		o.from = from;
		inc.base = &v0;
		inc.writes = 0;
		run_gen(&o, on_apply, &inc, &r);

		/* V0 + incremental == V */
		assert_memory_equal(inc.blksz, v1.blksz, sizeof(v1.blksz));
		for (uint64_t obj = 0; obj < MAXOBJ; obj++) {
			assert_int_equal(inc.nblk[obj], v1.nblk[obj]);
			base_blocks += v0.nblk[obj];
			for (uint64_t b = 0; b < v1.nblk[obj]; b++) {
				uint64_t h = v1.blk[obj][b], old;

				assert_true(h != 0);
				assert_true(inc.blk[obj][b] == h);
				old = image_get(&v0, obj, b);
				if (old != h)
					differ++;
				if (old && old != h)
					rewritten++;
			}
		}
		/* exactly the changed blocks were sent */
		assert_int_equal(inc.writes, differ);
		assert_int_equal(inc.changed_writes, inc.writes);
		/* about `change` of the blocks rewritten per version */
		expect = o.change * (double)base_blocks * (to - from);
		print_message("# v%u -> v%u: %" PRIu64 " of %" PRIu64
			      " blocks rewritten (%.0f expected), %" PRIu64
			      " writes\n", from, to, rewritten, base_blocks,
			      expect, inc.writes);
		assert_true((double)rewritten > expect * 0.5);
		assert_true((double)rewritten < expect * 1.6);
		image_free(&v0);
		image_free(&v1);
		image_free(&inc);
	}
}

/* ---- sharing between versions ------------------------------------------- */

struct payloads {
	struct map *seen; /* payload hash -> 1 */
	uint64_t writes, shared;
};

static void on_payload(const struct bk_drr_rec *rec, void *arg)
{
	struct payloads *pl = arg;
	uint64_t h;

	if (rec->hdr.type != BK_DRR_WRITE)
		return;
	h = fnv(rec->payload, rec->payload_len, 1469598103934665603ull) | 1;
	pl->writes++;
	if (map_get(pl->seen, h, NULL))
		pl->shared++;
	else
		map_put(pl->seen, h, 1);
}

static void test_versions_share(void **state)
{
	struct bk_gen_opts o;
	struct map seen;
	struct payloads pl;
	struct run r;

	(void)state;
	bk_gen_opts_init(&o);
	o.size = 64u << 20;
	o.blocksize = 16384;
	o.compressible = 0.5;
	o.seed = 3;
	map_init(&seen, 1u << 15);
	memset(&pl, 0, sizeof(pl));
	pl.seen = &seen;
	o.version = 4;
	run_gen(&o, on_payload, &pl, &r);
	assert_int_equal(pl.shared, 0); /* every block of a version differs */
	pl.writes = 0;
	o.version = 5;
	run_gen(&o, on_payload, &pl, &r);
	assert_true(pl.shared >= pl.writes * 95 / 100);
	assert_true(pl.shared < pl.writes); /* and some did change */
	map_free(&seen);
}

/* ---- content --------------------------------------------------------------- */

struct lz {
	uint64_t in, out, blocks;
	char *dst;
	int cap;
};

static void on_lz4(const struct bk_drr_rec *rec, void *arg)
{
	struct lz *z = arg;
	int n;

	if (rec->hdr.type != BK_DRR_WRITE)
		return;
	n = LZ4_compress_default((const char *)rec->payload, z->dst,
				 (int)rec->payload_len, z->cap);
	assert_true(n > 0);
	z->in += rec->payload_len;
	z->out += (uint64_t)n;
	z->blocks++;
}

static void test_compressibility(void **state)
{
	struct bk_gen_opts o;
	struct lz z;
	struct run r;
	double ratio;

	(void)state;
	bk_gen_opts_init(&o);
	o.size = 8u << 20;
	memset(&z, 0, sizeof(z));
	z.cap = LZ4_compressBound(128 << 10);
	z.dst = malloc((size_t)z.cap);
	assert_non_null(z.dst);

	o.compressible = 1;
	run_gen(&o, on_lz4, &z, &r);
	ratio = (double)z.in / (double)z.out;
	print_message("# text blocks: lz4 ratio %.2f\n", ratio);
	assert_true(ratio >= 2.0 && ratio <= 4.5);

	memset(&z.in, 0, 3 * sizeof(uint64_t));
	o.compressible = 0;
	run_gen(&o, on_lz4, &z, &r);
	ratio = (double)z.in / (double)z.out;
	assert_true(ratio < 1.01);

	memset(&z.in, 0, 3 * sizeof(uint64_t));
	o.compressible = 0.5;
	o.size = 32u << 20;
	run_gen(&o, on_lz4, &z, &r);
	ratio = (double)z.in / (double)z.out;
	print_message("# half text: lz4 ratio %.2f\n", ratio);
	assert_true(ratio > 1.3 && ratio < 2.0);
	free(z.dst);
}

static void test_size(void **state)
{
	struct bk_gen_opts o;
	struct shape s;
	struct run r;

	(void)state;
	bk_gen_opts_init(&o);
	o.size = 256u << 20;
	shape_of(&o, &s, &r);
	assert_true(s.write_bytes > o.size * 9 / 10 &&
		    s.write_bytes < o.size * 11 / 10);
	o.objects = 100;
	o.blocksize = 65536;
	shape_of(&o, &s, &r);
	assert_true(s.write_bytes > o.size * 9 / 10 &&
		    s.write_bytes < o.size * 11 / 10);
	assert_true(r.stats.count[BK_DRR_OBJECT] == 100);
}

static void test_many_versions(void **state)
{
	struct bk_gen_opts o;
	struct shape s;
	struct run r;

	(void)state;
	small_opts(&o);
	o.change = 0.2; /* many deletions, creations, truncations */
	for (uint32_t v = 1; v <= 12; v++) {
		o.version = v;
		o.from = 0;
		shape_of(&o, &s, &r);
		assert_false(s.unordered);
		o.from = v > 1 ? v - 1 : 1;
		o.from = v > 3 ? v - 3 : o.from;
		if (v > 1) {
			shape_of(&o, &s, &r);
			assert_false(s.unordered);
		}
	}
	o.change = 1;
	o.version = 3;
	o.from = 1;
	run_gen(&o, NULL, NULL, &r);
	o.change = 0;
	o.from = 2;
	run_gen(&o, NULL, NULL, &r);
	assert_int_equal(r.stats.count[BK_DRR_WRITE], 0);
	assert_int_equal(r.stats.count[BK_DRR_OBJECT], 0);
}

static enum bk_code null_sink(void *ctx, const void *buf, size_t len,
			      struct bk_error *err)
{
	(void)ctx;
	(void)buf;
	(void)len;
	(void)err;
	return BK_OK;
}

static enum bk_code failing_sink(void *ctx, const void *buf, size_t len,
				 struct bk_error *err)
{
	uint64_t *left = ctx;

	(void)buf;
	if (len > *left)
		return bk_error_set(err, BK_ERR_IO, "disk full");
	*left -= len;
	return BK_OK;
}

static void test_errors(void **state)
{
	struct bk_gen_opts o;
	struct bk_error err;
	uint64_t left = 100000;

	(void)state;
	small_opts(&o);
	o.blocksize = 1000;
	assert_int_equal(bk_gen_stream(&o, null_sink, NULL, &err),
			 BK_ERR_USAGE);
	assert_non_null(strstr(err.msg, "block size"));
	o.blocksize = 32u << 20;
	assert_int_equal(bk_gen_stream(&o, null_sink, NULL, &err),
			 BK_ERR_USAGE);
	o.blocksize = 1u << 20;
	o.legacy = true;
	assert_int_equal(bk_gen_stream(&o, null_sink, NULL, &err),
			 BK_ERR_USAGE);
	small_opts(&o);
	o.version = 2;
	o.from = 2;
	assert_int_equal(bk_gen_stream(&o, null_sink, NULL, &err),
			 BK_ERR_USAGE);
	o.from = 0;
	o.compressible = 1.5;
	assert_int_equal(bk_gen_stream(&o, null_sink, NULL, &err),
			 BK_ERR_USAGE);
	small_opts(&o);
	o.name = "pool/fs@snap";
	assert_int_equal(bk_gen_stream(&o, null_sink, NULL, &err),
			 BK_ERR_USAGE);
	o.name = "";
	assert_int_equal(bk_gen_stream(&o, null_sink, NULL, &err),
			 BK_ERR_USAGE);
	small_opts(&o);
	o.version = BK_GEN_MAX_VERSION + 1;
	assert_int_equal(bk_gen_stream(&o, null_sink, NULL, &err),
			 BK_ERR_USAGE);
	/* the sink's error comes back as it was */
	small_opts(&o);
	assert_int_equal(bk_gen_stream(&o, failing_sink, &left, &err),
			 BK_ERR_IO);
	assert_string_equal(err.msg, "disk full");
}

static void test_names(void **state)
{
	struct bk_gen_opts o;
	struct shape s;
	struct run r;

	(void)state;
	small_opts(&o);
	o.name = "tank/home/alice";
	o.snap_prefix = "daily-";
	o.version = 9;
	shape_of(&o, &s, &r);
	assert_true(s.toguid[0] == bk_gen_guid(&o, "tank/home/alice", 9));
	assert_string_equal(s.toname, "tank/home/alice@daily-9");
	assert_true(bk_gen_guid(&o, NULL, 9) != bk_gen_guid(&o, NULL, 8));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_deterministic),
		cmocka_unit_test(test_full_valid),
		cmocka_unit_test(test_byteswap_valid),
		cmocka_unit_test(test_large_blocks),
		cmocka_unit_test(test_legacy),
		cmocka_unit_test(test_compound),
		cmocka_unit_test(test_incremental_apply),
		cmocka_unit_test(test_versions_share),
		cmocka_unit_test(test_compressibility),
		cmocka_unit_test(test_size),
		cmocka_unit_test(test_many_versions),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_write_compress),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
