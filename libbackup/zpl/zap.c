/* SPDX-License-Identifier: MIT */
/*
 * ZAP objects (name/value tables), micro and fat, as docs/zpl.md
 * describes them.  Every byte comes from a stream: each offset, count and
 * chunk chain is checked against the block before it is followed, and a
 * chain is followed at most as many steps as the leaf has chunks.
 */
#include <stdlib.h>
#include <string.h>

#include "zpl_impl.h"

#define MZ_HDR 64u      /* mzap_phys_t before its first entry */
#define MZ_ENT 64u      /* mzap_ent_phys_t */
#define MZ_NAME_OFF 14u /* value (8), cd (4), pad (2) */
#define MZ_NAME_LEN 50u

#define ZAP_MAGIC UINT64_C(0x2F52AB2AB)
#define LEAF_MAGIC 0x2AB1EAFu
#define LEAF_HDR 48u /* the leaf header: two chunks' worth */
#define CHUNK 24u
#define ARRAY_BYTES 21u /* a chunk's bytes of an array */
#define CHUNK_ENTRY 252u
#define CHUNK_ARRAY 251u
#define VALUE_MAX 8192u /* ZAP_MAXVALUELEN */
#define FLAG_UINT64_KEY 2u
#define PTRTBL_BLKS_MAX 65536u
#define ZAP_BLKID_MAX (UINT64_C(1) << 24)

static enum bk_code bad(struct bk_error *err, const char *what)
{
	return bk_error_set(err, BK_ERR_FORMAT, "damaged ZAP: %s", what);
}

/* log2 of len when it is a power of two from 512 to BK_ZPL_BLOCK_MAX */
static int block_shift(size_t len)
{
	for (int s = 9; (1ul << s) <= BK_ZPL_BLOCK_MAX; s++)
		if ((size_t)1 << s == len)
			return s;
	return -1;
}

enum bk_code bk_zap_micro_parse(const uint8_t *blk, size_t len,
				bool bigendian, bk_zap_fn fn, void *ctx,
				struct bk_error *err)
{
	char name[MZ_NAME_LEN];

	if (len < MZ_HDR + MZ_ENT || len % MZ_ENT || len > BK_ZPL_BLOCK_MAX)
		return bad(err, "micro ZAP of an odd size");
	if (zpl_u64(blk, bigendian) != BK_ZAP_MICRO)
		return bad(err, "not a micro ZAP");
	for (size_t off = MZ_HDR; off + MZ_ENT <= len; off += MZ_ENT) {
		const uint8_t *e = blk + off;
		const uint8_t *nul;
		struct bk_zap_entry ze;

		if (!e[MZ_NAME_OFF])
			continue; /* a free entry */
		nul = memchr(e + MZ_NAME_OFF, 0, MZ_NAME_LEN);
		if (!nul)
			return bad(err, "micro ZAP name without its end");
		ze.name_len = (size_t)(nul - (e + MZ_NAME_OFF));
		memcpy(name, e + MZ_NAME_OFF, ze.name_len + 1);
		ze.name = name;
		ze.intlen = 8;
		ze.numints = 1;
		ze.value = zpl_u64(e, bigendian);
		ze.val = e;
		ze.val_be = bigendian;
		if (fn(ctx, &ze))
			break;
	}
	return BK_OK;
}

enum bk_code bk_zap_header_parse(const uint8_t *blk, size_t len,
				 bool bigendian, struct bk_zap_header *h,
				 struct bk_error *err)
{
	int bs = block_shift(len);

	if (bs < 0)
		return bad(err, "fat ZAP block of an odd size");
	if (zpl_u64(blk, bigendian) != BK_ZAP_HEADER ||
	    zpl_u64(blk + 8, bigendian) != ZAP_MAGIC)
		return bad(err, "not a fat ZAP header");
	h->ptrtbl_blk = zpl_u64(blk + 16, bigendian);
	h->ptrtbl_numblks = zpl_u64(blk + 24, bigendian);
	h->ptrtbl_shift = zpl_u64(blk + 32, bigendian);
	h->num_leafs = zpl_u64(blk + 64, bigendian);
	h->num_entries = zpl_u64(blk + 72, bigendian);
	h->flags = zpl_u64(blk + 96, bigendian);
	/* the embedded table fills the second half of the block: 2^(bs-4)
	 * entries; an external one has 2^shift entries in numblks blocks */
	if (h->ptrtbl_numblks == 0) {
		if (h->ptrtbl_shift > (uint64_t)(bs - 4))
			return bad(err, "embedded pointer table too large");
	} else {
		if (h->ptrtbl_numblks > PTRTBL_BLKS_MAX ||
		    h->ptrtbl_blk > ZAP_BLKID_MAX)
			return bad(err, "pointer table out of bounds");
		if (h->ptrtbl_shift > 63 ||
		    (UINT64_C(1) << h->ptrtbl_shift) >
			    h->ptrtbl_numblks * (len / 8))
			return bad(err, "pointer table larger than its blocks");
	}
	return BK_OK;
}

uint64_t bk_zap_embedded_ptr(const uint8_t *blk, size_t len, bool bigendian,
			     uint64_t idx)
{
	size_t off = len / 2 + (size_t)idx * 8;

	return off + 8 <= len ? zpl_u64(blk + off, bigendian) : UINT64_MAX;
}

/* Copy `want` bytes of the array chained from chunk `first` into out. */
static bool leaf_array(const uint8_t *chunks, size_t nchunks, uint16_t first,
		       size_t want, uint8_t *out, bool be)
{
	size_t got = 0, steps = 0;
	size_t idx = first;

	while (got < want) {
		const uint8_t *c;
		size_t n;

		if (idx >= nchunks || ++steps > nchunks)
			return false;
		c = chunks + idx * CHUNK;
		if (c[0] != CHUNK_ARRAY)
			return false;
		n = want - got < ARRAY_BYTES ? want - got : ARRAY_BYTES;
		memcpy(out + got, c + 1, n);
		got += n;
		idx = zpl_u16(c + 22, be);
	}
	return true;
}

/* One entry chunk of a leaf into fn: 1 to stop, -1 when damaged, -2 when
 * its name holds a NUL. */
static int leaf_entry(const uint8_t *chunks, size_t nchunks, const uint8_t *c,
		      bool be, bk_zap_fn fn, void *ctx)
{
	char name[BK_ZPL_NAME_MAX + 1];
	uint8_t val[VALUE_MAX];
	struct bk_zap_entry ze;
	unsigned intlen = c[1];
	uint16_t name_chunk = zpl_u16(c + 4, be);
	uint16_t name_num = zpl_u16(c + 6, be);
	uint16_t val_chunk = zpl_u16(c + 8, be);
	uint16_t val_num = zpl_u16(c + 10, be);

	/* names are bytes with their NUL; values 1, 2, 4 or 8-byte ints */
	if (name_num < 1 || name_num > BK_ZPL_NAME_MAX + 1)
		return -1;
	if (intlen != 1 && intlen != 2 && intlen != 4 && intlen != 8)
		return -1;
	if ((size_t)val_num * intlen > VALUE_MAX)
		return -1;
	if (!leaf_array(chunks, nchunks, name_chunk, name_num,
			(uint8_t *)name, be) ||
	    name[name_num - 1] != 0)
		return -1;
	/* a name is what strlen says it is: a NUL inside it would make the
	 * entry name something shorter than the bytes it was stored with */
	if (memchr(name, 0, name_num - 1u))
		return -2;
	if (!leaf_array(chunks, nchunks, val_chunk, (size_t)val_num * intlen,
			val, be))
		return -1;
	ze.name = name;
	ze.name_len = name_num - 1u;
	ze.intlen = intlen;
	ze.numints = val_num;
	/* leaf arrays keep integers big-endian whatever the host */
	ze.value = val_num ? zpl_get(val, intlen, true) : 0;
	ze.val = val;
	ze.val_be = true;
	return fn(ctx, &ze) ? 1 : 0;
}

enum bk_code bk_zap_leaf_parse(const uint8_t *blk, size_t len,
			       bool bigendian, bk_zap_fn fn, void *ctx,
			       struct bk_error *err)
{
	int bs = block_shift(len);
	size_t hashents, nchunks;
	const uint8_t *chunks;

	if (bs < 0)
		return bad(err, "leaf of an odd size");
	if (zpl_u64(blk, bigendian) != BK_ZAP_LEAF ||
	    zpl_u32(blk + 24, bigendian) != LEAF_MAGIC)
		return bad(err, "not a leaf");
	/* a hash table of 2^(bs-5) u16 follows the header, then the chunks */
	hashents = (size_t)1 << (bs - 5);
	nchunks = (len - 2 * hashents) / CHUNK - 2;
	chunks = blk + LEAF_HDR + 2 * hashents;
	/* every entry chunk, in chunk order: no hash chain to trust */
	for (size_t i = 0; i < nchunks; i++) {
		const uint8_t *c = chunks + i * CHUNK;
		int r;

		if (c[0] != CHUNK_ENTRY)
			continue;
		r = leaf_entry(chunks, nchunks, c, bigendian, fn, ctx);
		if (r == -2)
			return bad(err, "leaf entry's name holds a NUL");
		if (r < 0)
			return bad(err, "leaf entry out of bounds");
		if (r > 0)
			return BK_OK;
	}
	return BK_OK;
}

/* ---- whole ZAP objects ---------------------------------------------- */

struct stopper {
	bk_zap_fn fn;
	void *ctx;
	bool stopped;
};

static int stop_fn(void *ctx, const struct bk_zap_entry *e)
{
	struct stopper *s = ctx;

	if (s->fn(s->ctx, e))
		s->stopped = true;
	return s->stopped;
}

/* Mark leaf blkid (from the pointer table) in the bitmap. */
static enum bk_code mark_leaf(uint8_t *seen, uint64_t maxblkid, uint64_t id,
			      struct bk_error *err)
{
	if (id == 0 || id > maxblkid)
		return bad(err, "pointer to a leaf outside the object");
	seen[id / 8] |= (uint8_t)(1u << (id % 8));
	return BK_OK;
}

/* The leaves the pointer table names, each once, into seen. */
static enum bk_code collect_leaves(struct bk_zpl *z, uint64_t obj,
				   const struct bk_zpl_object *o,
				   const uint8_t *hdr,
				   const struct bk_zap_header *h,
				   uint8_t *seen, struct bk_error *err)
{
	bool be = z->src.bigendian, hole;
	uint64_t n = UINT64_C(1) << h->ptrtbl_shift, per = o->blksz / 8;
	uint8_t *tb = NULL;
	enum bk_code rc = BK_OK;

	if (h->ptrtbl_numblks == 0) {
		for (uint64_t i = 0; !rc && i < n; i++)
			rc = mark_leaf(seen, o->maxblkid,
				       bk_zap_embedded_ptr(hdr, o->blksz, be, i),
				       err);
		return rc;
	}
	if (!(tb = malloc(o->blksz)))
		return bk_error_set(err, BK_ERR_NOMEM, "out of memory");
	for (uint64_t b = 0; !rc && b < h->ptrtbl_numblks && b * per < n; b++) {
		rc = z->src.ops->read_block(z->src.ctx, obj, h->ptrtbl_blk + b,
					    tb, o->blksz, &hole, err);
		for (uint64_t i = 0; !rc && i < per && b * per + i < n; i++)
			rc = mark_leaf(seen, o->maxblkid,
				       zpl_u64(tb + i * 8, be), err);
	}
	free(tb);
	return rc;
}

static enum bk_code fat_iterate(struct bk_zpl *z, uint64_t obj,
				const struct bk_zpl_object *o,
				const uint8_t *hdr, struct stopper *st,
				struct bk_error *err)
{
	struct bk_zap_header h;
	uint8_t *seen = NULL, *leaf = NULL;
	enum bk_code rc;
	bool hole;

	if ((rc = bk_zap_header_parse(hdr, o->blksz, z->src.bigendian, &h,
				      err)))
		return rc;
	if (h.flags & FLAG_UINT64_KEY)
		return bk_error_set(err, BK_ERR_UNSUPPORTED,
				    "ZAP object %llu has binary keys",
				    (unsigned long long)obj);
	if (o->maxblkid > ZAP_BLKID_MAX)
		return bk_error_set(err, BK_ERR_LIMIT,
				    "ZAP object %llu has too many blocks",
				    (unsigned long long)obj);
	seen = calloc(o->maxblkid / 8 + 1, 1);
	leaf = malloc(o->blksz);
	if (!seen || !leaf) {
		rc = bk_error_set(err, BK_ERR_NOMEM, "out of memory");
		goto out;
	}
	if ((rc = collect_leaves(z, obj, o, hdr, &h, seen, err)))
		goto out;
	for (uint64_t id = 1; !rc && !st->stopped && id <= o->maxblkid; id++) {
		if (!(seen[id / 8] & (1u << (id % 8))))
			continue;
		rc = z->src.ops->read_block(z->src.ctx, obj, id, leaf,
					    o->blksz, &hole, err);
		if (!rc && hole)
			rc = bad(err, "pointer to a missing leaf");
		if (!rc)
			rc = bk_zap_leaf_parse(leaf, o->blksz,
					       z->src.bigendian, stop_fn, st,
					       err);
	}
out:
	free(seen);
	free(leaf);
	return rc;
}

enum bk_code bk_zap_iterate(struct bk_zpl *z, uint64_t obj, bk_zap_fn fn,
			    void *ctx, struct bk_error *err)
{
	struct bk_zpl_object o;
	struct stopper st = { fn, ctx, false };
	uint8_t *hdr = NULL;
	enum bk_code rc;
	bool hole;
	uint64_t kind;

	if ((rc = z->src.ops->object(z->src.ctx, obj, &o, err)))
		return rc;
	if (o.blksz < 512 || o.blksz > BK_ZPL_BLOCK_MAX)
		return bk_error_set(err, BK_ERR_FORMAT,
				    "ZAP object %llu: block size %u",
				    (unsigned long long)obj, o.blksz);
	/* a copy: the leaves are read while the header is still needed */
	if (!(hdr = malloc(o.blksz)))
		return bk_error_set(err, BK_ERR_NOMEM, "out of memory");
	rc = z->src.ops->read_block(z->src.ctx, obj, 0, hdr, o.blksz, &hole,
				    err);
	if (rc)
		goto out;
	if (hole) {
		rc = bk_error_set(err, BK_ERR_FORMAT,
				  "ZAP object %llu has no header block",
				  (unsigned long long)obj);
		goto out;
	}
	kind = zpl_u64(hdr, z->src.bigendian);
	if (kind == BK_ZAP_MICRO)
		rc = bk_zap_micro_parse(hdr, o.blksz, z->src.bigendian,
					stop_fn, &st, err);
	else if (kind == BK_ZAP_HEADER)
		rc = fat_iterate(z, obj, &o, hdr, &st, err);
	else
		rc = bk_error_set(err, BK_ERR_FORMAT,
				  "object %llu is not a ZAP",
				  (unsigned long long)obj);
	if (rc)
		bk_error_prefix(err, "object %llu", (unsigned long long)obj);
out:
	free(hdr);
	return rc;
}
