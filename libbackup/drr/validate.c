/* SPDX-License-Identifier: MIT */
/*
 * What OpenZFS's receiver rejects, record by record (docs/stream-format.md,
 * "What zbak holds a stream to").  Rules that depend on the target
 * (fromguid, whether the dataset exists) belong to the receiver and are not
 * checked here.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "backup/drr.h"

#define SPA_MINBLOCKSIZE 512u
#define SPA_OLD_MAXBLOCKSIZE (128u * 1024)
#define SPA_MAXBLOCKSIZE (16u * 1024 * 1024)
#define DMU_OT_NUMTYPES 54u
#define DMU_OT_SA 44u
#define DMU_OT_NEWTYPE 0x80u
#define DMU_OT_METADATA 0x40u
#define DMU_OT_BYTESWAP_MASK 0x1fu
#define DMU_BSWAP_NUMFUNCS 10u
#define DMU_OTN_UINT64_METADATA (DMU_OT_NEWTYPE | DMU_OT_METADATA | 3u)
#define DMU_OST_NUMTYPES 6u
#define ZIO_CHECKSUM_FUNCTIONS 15u
#define ZIO_COMPRESS_OFF 2u
#define ZIO_COMPRESS_LZ4 15u
#define ZIO_COMPRESS_ZSTD 16u
#define ZIO_COMPRESS_FUNCTIONS 17u
#define BPE_PAYLOAD_SIZE 112u
#define NUM_BP_EMBEDDED_TYPES 3u
#define DNODES_PER_BLOCK 32u
#define DNODE_SHIFT 9u
#define DNODE_MAX_SLOTS 32u
/* bonus space of a dnode of n slots: n * 512 - 64 (core) - 128 (one bp) */
#define SLOTS_TO_BONUSLEN(n) (((uint64_t)(n) << DNODE_SHIFT) - 192u)

static bool ot_valid(uint32_t ot)
{
	if (ot & DMU_OT_NEWTYPE)
		return ot < 0x100u && (ot & DMU_OT_BYTESWAP_MASK) < DMU_BSWAP_NUMFUNCS;
	return ot < DMU_OT_NUMTYPES;
}

static enum bk_code bad(struct bk_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static enum bk_code bad(struct bk_error *err, const char *fmt, ...)
{
	va_list ap;

	if (err) {
		err->code = BK_ERR_RULE;
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
	}
	return BK_ERR_RULE;
}

static enum bk_code check_object_number(uint64_t obj, struct bk_error *err)
{
	if (obj < 1 || obj > BK_DRR_MAX_OBJECT)
		return bad(err, "object number %" PRIu64
			   " outside 1..2^48-1", obj);
	return BK_OK;
}

static enum bk_code v_begin(struct bk_drr_vstate *vs, const struct bk_drr *r,
			    struct bk_error *err)
{
	uint64_t feat = BK_DRR_FEATURES(r->u.begin.versioninfo);
	uint64_t unknown = feat & ~BK_FEAT_KNOWN & ((1ull << 56) - 1);

	bool dedup = vs->dedup;

	memset(vs, 0, sizeof(*vs));
	vs->dedup = dedup;
	vs->features = feat;
	vs->begin_flags = r->u.begin.flags;
	vs->raw = (feat & BK_FEAT_RAW) != 0;
	if (unknown)
		return bad(err, "unknown feature flags 0x%" PRIx64, unknown);
	if ((feat & BK_FEAT_DEDUP) && !vs->dedup)
		return bad(err, "deduplicated stream (DEDUP feature): no "
			   "receiver since OpenZFS 2.0 accepts it; convert "
			   "it with 'zstream redup' first");
	if (!strchr(r->u.begin.toname, '@'))
		return bad(err, "toname '%s' is not a snapshot name "
			   "(no '@')", r->u.begin.toname);
	if (r->u.begin.objset_type >= DMU_OST_NUMTYPES)
		return bad(err, "objset type %" PRIu32 " is not valid",
			   r->u.begin.objset_type);
	if ((r->u.begin.flags & BK_DRR_FLAG_CLONE) && r->u.begin.fromguid == 0)
		return bad(err, "CLONE flag without an origin (fromguid 0)");
	if (r->payloadlen > 256u * 1024 * 1024)
		return bad(err, "BEGIN payload of %" PRIu32
			   " bytes is over 256 MiB", r->payloadlen);
	if (vs->raw && (feat & BK_FEAT_EMBED_DATA))
		return bad(err, "raw stream with EMBED_DATA");
	if (vs->raw && BK_DRR_HDRTYPE(r->u.begin.versioninfo) ==
			       BK_DRR_SUBSTREAM &&
	    !(r->u.begin.flags & BK_DRR_FLAG_SPILL_BLOCK))
		return bad(err, "raw stream without the SPILL_BLOCK flag");
	return BK_OK;
}

static enum bk_code v_object(const struct bk_drr_vstate *vs,
			     const struct bk_drr *r, struct bk_error *err)
{
	const __typeof__(r->u.object) *o = &r->u.object;
	unsigned slots = o->dn_slots ? o->dn_slots : 1;

	if (check_object_number(o->object, err))
		return BK_ERR_RULE;
	if (o->type == 0 || !ot_valid(o->type))
		return bad(err, "object type %" PRIu32 " is not valid", o->type);
	if (!ot_valid(o->bonustype))
		return bad(err, "bonus type %" PRIu32 " is not valid",
			   o->bonustype);
	if (o->bonuslen == 0 && o->bonustype != 0 &&
	    o->bonustype != DMU_OT_SA &&
	    o->bonustype != DMU_OTN_UINT64_METADATA)
		return bad(err, "bonus length 0 with bonus type %" PRIu32,
			   o->bonustype);
	if (o->blksz < SPA_MINBLOCKSIZE || o->blksz > SPA_MAXBLOCKSIZE ||
	    o->blksz % SPA_MINBLOCKSIZE)
		return bad(err, "block size %" PRIu32 " is not a multiple "
			   "of 512 in 512..16M", o->blksz);
	if (o->blksz > SPA_OLD_MAXBLOCKSIZE &&
	    !(vs->features & BK_FEAT_LARGE_BLOCKS))
		return bad(err, "block size %" PRIu32
			   " over 128K without LARGE_BLOCKS", o->blksz);
	if (o->dn_slots > DNODE_MAX_SLOTS)
		return bad(err, "dn_slots %u is over %u", o->dn_slots,
			   DNODE_MAX_SLOTS);
	if (o->dn_slots > 1 && !(vs->features & BK_FEAT_LARGE_DNODE))
		return bad(err, "dn_slots %u without LARGE_DNODE", o->dn_slots);
	if (o->checksumtype >= ZIO_CHECKSUM_FUNCTIONS)
		return bad(err, "checksum type %u is not valid",
			   o->checksumtype);
	if (o->compress >= ZIO_COMPRESS_FUNCTIONS)
		return bad(err, "compression %u is not valid", o->compress);
	if (o->bonuslen > SLOTS_TO_BONUSLEN(slots))
		return bad(err, "bonus length %" PRIu32
			   " exceeds the %" PRIu64 " bytes of a %u-slot dnode",
			   o->bonuslen, SLOTS_TO_BONUSLEN(slots), slots);
	if (!vs->raw) {
		if (o->flags & ~BK_DRR_RFLAG_SPILL)
			return bad(err, "flags 0x%x not allowed in a non-raw "
				   "stream", o->flags);
		if (o->raw_bonuslen || o->indblkshift || o->nlevels ||
		    o->nblkptr)
			return bad(err, "raw fields (raw_bonuslen %" PRIu32
				   ", indblkshift %u, nlevels %u, nblkptr %u) "
				   "set in a non-raw stream",
				   o->raw_bonuslen, o->indblkshift,
				   o->nlevels, o->nblkptr);
	}
	return BK_OK;
}

static enum bk_code v_write(struct bk_drr_vstate *vs, const struct bk_drr *r,
			    struct bk_error *err)
{
	const __typeof__(r->u.write) *w = &r->u.write;
	uint8_t ct = w->compressiontype;

	if (check_object_number(w->object, err))
		return BK_ERR_RULE;
	if (w->logical_size < SPA_MINBLOCKSIZE ||
	    w->logical_size > SPA_MAXBLOCKSIZE)
		return bad(err, "logical size %" PRIu64 " outside 512..16M",
			   w->logical_size);
	if (w->logical_size > SPA_OLD_MAXBLOCKSIZE &&
	    !(vs->features & BK_FEAT_LARGE_BLOCKS))
		return bad(err, "logical size %" PRIu64
			   " over 128K without LARGE_BLOCKS", w->logical_size);
	if (ct >= ZIO_COMPRESS_FUNCTIONS)
		return bad(err, "compression type %u is not valid", ct);
	if (ct && !vs->raw && !(vs->features & BK_FEAT_COMPRESSED))
		return bad(err, "compressed payload (type %u) without the "
			   "COMPRESSED feature", ct);
	if (ct == ZIO_COMPRESS_ZSTD && !(vs->features & BK_FEAT_ZSTD))
		return bad(err, "zstd payload without the ZSTD feature");
	if (ct >= ZIO_COMPRESS_LZ4 && !(vs->features & BK_FEAT_LZ4))
		return bad(err, "lz4 (or later) payload without the LZ4 "
			   "feature");
	if (ct && w->compressed_size == 0)
		return bad(err, "compressed write with compressed size 0");
	if (!ct && w->compressed_size)
		return bad(err, "uncompressed write with compressed size %"
			   PRIu64, w->compressed_size);
	if (w->logical_size < w->compressed_size)
		return bad(err, "compressed size %" PRIu64
			   " over logical size %" PRIu64,
			   w->compressed_size, w->logical_size);
	if (w->offset + w->logical_size < w->offset)
		return bad(err, "offset %" PRIu64 " + length %" PRIu64
			   " overflows", w->offset, w->logical_size);
	if (vs->have_write &&
	    (w->object < vs->last_write_object ||
	     (w->object == vs->last_write_object &&
	      w->offset < vs->last_write_offset)))
		return bad(err, "write of object %" PRIu64 " offset %" PRIu64
			   " comes after object %" PRIu64 " offset %" PRIu64
			   " (writes must be in order)",
			   w->object, w->offset, vs->last_write_object,
			   vs->last_write_offset);
	vs->have_write = true;
	vs->last_write_object = w->object;
	vs->last_write_offset = w->offset;
	return BK_OK;
}

static enum bk_code v_embedded(const struct bk_drr_vstate *vs,
			       const struct bk_drr *r, struct bk_error *err)
{
	const __typeof__(r->u.write_embedded) *e = &r->u.write_embedded;

	if (check_object_number(e->object, err))
		return BK_ERR_RULE;
	if (vs->raw)
		return bad(err, "embedded write in a raw stream");
	if (!(vs->features & BK_FEAT_EMBED_DATA))
		return bad(err, "embedded write without the EMBED_DATA feature");
	if (e->psize > BPE_PAYLOAD_SIZE)
		return bad(err, "embedded psize %" PRIu32 " is over 112",
			   e->psize);
	if (e->compression >= ZIO_COMPRESS_FUNCTIONS)
		return bad(err, "compression %u is not valid", e->compression);
	if (e->compression == ZIO_COMPRESS_OFF && e->lsize != e->psize)
		return bad(err, "uncompressed embedded write with lsize %"
			   PRIu32 " != psize %" PRIu32, e->lsize, e->psize);
	if (e->lsize > e->length)
		return bad(err, "embedded lsize %" PRIu32
			   " over length %" PRIu64, e->lsize, e->length);
	if (e->etype >= NUM_BP_EMBEDDED_TYPES)
		return bad(err, "embedded type %u is not valid", e->etype);
	if (e->offset + e->length < e->offset)
		return bad(err, "offset + length overflows");
	return BK_OK;
}

/* A deduplicated write: a copy of a block written before, in this stream
 * or in the snapshot refguid names (the receiver finds it). */
static enum bk_code v_byref(const struct bk_drr_vstate *vs,
			    const struct bk_drr *r, struct bk_error *err)
{
	const __typeof__(r->u.write_byref) *w = &r->u.write_byref;

	if (!vs->dedup)
		return bad(err, "WRITE_BYREF (deduplicated write): no receiver "
			   "since OpenZFS 2.0 accepts it");
	if (!(vs->features & BK_FEAT_DEDUP))
		return bad(err, "WRITE_BYREF in a stream without the DEDUP "
			   "feature");
	if (check_object_number(w->object, err) ||
	    check_object_number(w->refobject, err))
		return BK_ERR_RULE;
	if (w->length < SPA_MINBLOCKSIZE || w->length > SPA_MAXBLOCKSIZE)
		return bad(err, "length %" PRIu64 " outside 512..16M",
			   w->length);
	if (w->offset + w->length < w->offset ||
	    w->refoffset + w->length < w->refoffset)
		return bad(err, "offset + length overflows");
	if (w->refguid == 0)
		return bad(err, "WRITE_BYREF with refguid 0");
	return BK_OK;
}

static enum bk_code v_spill(const struct bk_drr_vstate *vs,
			    const struct bk_drr *r, struct bk_error *err)
{
	const __typeof__(r->u.spill) *s = &r->u.spill;

	if (check_object_number(s->object, err))
		return BK_ERR_RULE;
	if (s->length < SPA_MINBLOCKSIZE || s->length > SPA_MAXBLOCKSIZE)
		return bad(err, "spill length %" PRIu64 " outside 512..16M",
			   s->length);
	if (vs->raw) {
		if (!ot_valid(s->type))
			return bad(err, "spill type %" PRIu32 " is not valid",
				   s->type);
		if (s->compressiontype >= ZIO_COMPRESS_FUNCTIONS ||
		    s->compressed_size == 0)
			return bad(err, "raw spill needs a valid compression "
				   "and a compressed size");
	} else if (s->compressed_size) {
		return bad(err, "compressed size %" PRIu64
			   " in a non-raw spill", s->compressed_size);
	}
	return BK_OK;
}

enum bk_code bk_drr_validate(struct bk_drr_vstate *vs, const struct bk_drr *r,
			     struct bk_error *err)
{
	switch (r->type) {
	case BK_DRR_BEGIN:
		return v_begin(vs, r, err);
	case BK_DRR_OBJECT:
		return v_object(vs, r, err);
	case BK_DRR_FREEOBJECTS:
		if (r->u.freeobjects.firstobj + r->u.freeobjects.numobjs <
		    r->u.freeobjects.firstobj)
			return bad(err, "firstobj %" PRIu64 " + numobjs %" PRIu64
				   " overflows", r->u.freeobjects.firstobj,
				   r->u.freeobjects.numobjs);
		return BK_OK;
	case BK_DRR_WRITE:
		return v_write(vs, r, err);
	case BK_DRR_FREE:
		if (check_object_number(r->u.free.object, err))
			return BK_ERR_RULE;
		if (r->u.free.length != UINT64_MAX &&
		    r->u.free.offset + r->u.free.length < r->u.free.offset)
			return bad(err, "offset %" PRIu64 " + length %" PRIu64
				   " overflows", r->u.free.offset,
				   r->u.free.length);
		return BK_OK;
	case BK_DRR_END:
		return BK_OK;
	case BK_DRR_WRITE_BYREF:
		return v_byref(vs, r, err);
	case BK_DRR_SPILL:
		return v_spill(vs, r, err);
	case BK_DRR_WRITE_EMBEDDED:
		return v_embedded(vs, r, err);
	case BK_DRR_OBJECT_RANGE:
		if (!vs->raw)
			return bad(err, "OBJECT_RANGE in a non-raw stream");
		if (r->u.object_range.numslots != DNODES_PER_BLOCK)
			return bad(err, "numslots %" PRIu64 " is not 32",
				   r->u.object_range.numslots);
		if (r->u.object_range.firstobj % DNODES_PER_BLOCK)
			return bad(err, "firstobj %" PRIu64
				   " is not a multiple of 32",
				   r->u.object_range.firstobj);
		return BK_OK;
	case BK_DRR_REDACT:
		if (check_object_number(r->u.redact.object, err))
			return BK_ERR_RULE;
		if (r->u.redact.length != UINT64_MAX &&
		    r->u.redact.offset + r->u.redact.length < r->u.redact.offset)
			return bad(err, "offset + length overflows");
		return BK_OK;
	default:
		return bad(err, "unknown record type %" PRIu32, r->type);
	}
}
