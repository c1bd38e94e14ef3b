/* SPDX-License-Identifier: MIT */
/*
 * The receive rules of one record on a dataset's state (docs/lpool.md):
 * what OBJECT, FREEOBJECTS, WRITE, WRITE_EMBEDDED, REDACT, FREE, SPILL
 * and OBJECT_RANGE do to the objects and their block lists.  One copy of
 * them, for two users that differ only in where payloads are kept: a
 * receive into the pool stores them as block files; a map of a stored
 * stream (map.c) keeps where they are in the repository's chunks.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lpool_impl.h"

enum bk_code lp_at_rec(struct bk_error *err, const struct bk_drr_rec *rec,
		       enum bk_code code, const char *fmt, ...)
{
	char m[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(m, sizeof(m), fmt, ap);
	va_end(ap);
	return bk_error_set(err, code, "record %" PRIu64 " (%s) at byte %" PRIu64
				       ": %s",
			    rec->index, bk_drr_type_name(rec->hdr.type),
			    rec->offset, m);
}

static enum bk_code need_object(struct lp_apply *a,
				const struct bk_drr_rec *rec, uint64_t obj,
				struct lp_object **o, struct bk_error *err)
{
	long i = lp_state_find(a->st, obj, NULL);

	*o = NULL;
	if (i < 0)
		return lp_at_rec(err, rec, BK_ERR_RULE,
				 "object %" PRIu64 " does not exist", obj);
	*o = &a->st->objs[i];
	return BK_OK;
}

static enum bk_code on_object(struct lp_apply *a,
			      const struct bk_drr_rec *rec,
			      struct bk_error *err)
{
	const struct bk_drr *r = &rec->hdr;
		struct lp_object *o;
	size_t at;
	long i = lp_state_find(a->st, r->u.object.object, &at);
	enum bk_code rc;

	if (rec->payload_len > LP_MAX_BONUS)
		return lp_at_rec(err, rec, BK_ERR_LIMIT,
				 "bonus buffer of %" PRIu64 " bytes",
				 rec->payload_len);
	if (i >= 0) {
		o = &a->st->objs[i];
		if (o->type != r->u.object.type ||
		    o->blksz != r->u.object.blksz ||
		    o->bonustype != r->u.object.bonustype ||
		    o->dn_slots != r->u.object.dn_slots ||
		    (a->raw && (o->indblkshift != r->u.object.indblkshift ||
				o->nlevels != r->u.object.nlevels ||
				o->nblkptr != r->u.object.nblkptr))) {
			/* reallocated: its old contents go */
			lp_object_clear(o);
			a->maybe_garbage = true;
		}
	} else {
		if ((rc = lp_state_insert(a->st, at, r->u.object.object, &o,
					  err)))
			return rc;
	}
	/* a large dnode covers the object numbers after it */
	for (uint32_t k = 1; k < r->u.object.dn_slots; k++) {
		long j = lp_state_find(a->st, r->u.object.object + k, NULL);

		if (j >= 0) {
			lp_state_remove(a->st, (size_t)j);
			a->maybe_garbage = true;
		}
	}
	i = lp_state_find(a->st, r->u.object.object, NULL);
	o = &a->st->objs[i];
	o->birth = a->txg;
	o->type = r->u.object.type;
	o->bonustype = r->u.object.bonustype;
	o->blksz = r->u.object.blksz;
	o->bonuslen = r->u.object.bonuslen;
	o->raw_bonuslen = r->u.object.raw_bonuslen;
	o->checksumtype = r->u.object.checksumtype;
	o->compress = r->u.object.compress;
	o->dn_slots = r->u.object.dn_slots;
	o->flags = r->u.object.flags;
	o->indblkshift = r->u.object.indblkshift;
	o->nlevels = r->u.object.nlevels;
	o->nblkptr = r->u.object.nblkptr;
	o->maxblkid = r->u.object.maxblkid;
	free(o->bonus);
	o->bonus = NULL;
	o->bonus_paylen = 0;
	if (rec->payload_len) {
		o->bonus = malloc(rec->payload_len);
		if (!o->bonus)
			return bk_error_set(err, BK_ERR_NOMEM, "out of memory");
		memcpy(o->bonus, rec->payload, rec->payload_len);
		o->bonus_paylen = (uint32_t)rec->payload_len;
	}
	/* with SPILL_BLOCK, an object sent without OBJECT_SPILL has none */
	if ((a->begin_flags & BK_DRR_FLAG_SPILL_BLOCK) &&
	    !(r->u.object.flags & BK_DRR_RFLAG_SPILL) && o->has_spill) {
		o->has_spill = false;
		a->maybe_garbage = true;
	}
	return BK_OK;
}

static enum bk_code on_freeobjects(struct lp_apply *a,
				   const struct bk_drr_rec *rec)
{
	struct lp_state *s = a->st;
	uint64_t first = rec->hdr.u.freeobjects.firstobj;
	uint64_t num = rec->hdr.u.freeobjects.numobjs;
	uint64_t end = num > UINT64_MAX - first ? UINT64_MAX : first + num;
	size_t at, to;

	lp_state_find(s, first, &at);
	for (to = at; to < s->nobjs && s->objs[to].object < end; to++)
		lp_object_clear(&s->objs[to]);
	if (to > at) {
		memmove(&s->objs[at], &s->objs[to],
			(s->nobjs - to) * sizeof(*s->objs));
		s->nobjs -= to - at;
		a->maybe_garbage = true;
	}
	return BK_OK;
}

static enum bk_code on_write(struct lp_apply *a,
			     const struct bk_drr_rec *rec,
			     struct bk_error *err)
{
	const struct bk_drr *r = &rec->hdr;
	struct lp_object *o;
	struct lp_block b;
	enum bk_code rc;

	memset(&b, 0, sizeof(b));
	if (r->type == BK_DRR_WRITE) {
		if ((rc = need_object(a, rec, r->u.write.object, &o, err)))
			return rc;
		b.kind = LP_DATA;
		b.offset = r->u.write.offset;
		b.lsize = r->u.write.logical_size;
		b.psize = r->u.write.compressed_size;
		b.type = r->u.write.type;
		b.checksumtype = r->u.write.checksumtype;
		b.flags = r->u.write.flags;
		b.compression = r->u.write.compressiontype;
		b.key_cksum = r->u.write.key_cksum;
		b.key_prop = r->u.write.key_prop;
		memcpy(b.salt, r->u.write.salt, 8);
		memcpy(b.iv, r->u.write.iv, 12);
		memcpy(b.mac, r->u.write.mac, 16);
	} else if (r->type == BK_DRR_WRITE_EMBEDDED) {
		if ((rc = need_object(a, rec, r->u.write_embedded.object, &o,
				      err)))
			return rc;
		b.kind = LP_EMBEDDED;
		b.offset = r->u.write_embedded.offset;
		b.lsize = r->u.write_embedded.length;
		b.psize = r->u.write_embedded.psize;
		b.type = r->u.write_embedded.lsize;
		b.compression = r->u.write_embedded.compression;
		b.etype = r->u.write_embedded.etype;
	} else { /* REDACT */
		if ((rc = need_object(a, rec, r->u.redact.object, &o, err)))
			return rc;
		b.kind = LP_REDACT;
		b.offset = r->u.redact.offset;
		b.lsize = r->u.redact.length;
	}
	b.birth = a->txg;
	b.paylen = (uint32_t)rec->payload_len;
	if (b.kind != LP_REDACT && (rc = a->keep(a->ctx, rec, b.hash, err)))
		return rc;
	if (lp_object_find_block(o, b.offset, NULL) >= 0)
		a->maybe_garbage = true;
	return lp_object_put_block(o, &b, err);
}

static enum bk_code on_free(struct lp_apply *a,
			    const struct bk_drr_rec *rec,
			    struct bk_error *err)
{
	const struct bk_drr *r = &rec->hdr;
	uint64_t off = r->u.free.offset, len = r->u.free.length;
	uint64_t end = len > UINT64_MAX - off ? UINT64_MAX : off + len;
	struct lp_object *o;
	enum bk_code rc;
	size_t i;

	if ((rc = need_object(a, rec, r->u.free.object, &o, err)))
		return rc;
	lp_object_find_block(o, off, &i);
	/* a block that starts before off may reach into the range */
	if (i > 0 && o->blocks[i - 1].offset + o->blocks[i - 1].lsize > off)
		i--;
	while (i < o->nblocks && o->blocks[i].offset < end) {
		struct lp_block *b = &o->blocks[i];
		uint64_t bend = b->offset + b->lsize;

		if (b->offset >= off && bend <= end) {
			lp_object_remove_blocks(o, i, i + 1);
			a->maybe_garbage = true;
			continue;
		}
		if (bend <= off) {
			i++;
			continue;
		}
		if (b->kind == LP_DATA && b->compression == 0 && b->psize == 0 &&
		    b->paylen == b->lsize) {
			uint64_t lo = off > b->offset ? off - b->offset : 0;
			uint64_t hi = (end < bend ? end : bend) - b->offset;

			if ((rc = a->zero(a->ctx, b, lo, hi, err)))
				return lp_at_rec(err, rec, rc, "%s", err->msg);
			b->birth = a->txg;
			i++;
			continue;
		}
		return lp_at_rec(err, rec, BK_ERR_UNSUPPORTED,
				 "frees part of the block at offset %" PRIu64
				 " of object %" PRIu64
				 ", which is kept compressed or embedded",
				 b->offset, o->object);
	}
	return BK_OK;
}

static enum bk_code on_spill(struct lp_apply *a,
			     const struct bk_drr_rec *rec,
			     struct bk_error *err)
{
	const struct bk_drr *r = &rec->hdr;
	struct lp_object *o;
	enum bk_code rc;

	if ((rc = need_object(a, rec, r->u.spill.object, &o, err)))
		return rc;
	if (o->has_spill)
		a->maybe_garbage = true;
	memset(&o->spill, 0, sizeof(o->spill));
	o->spill.birth = a->txg;
	o->spill.length = r->u.spill.length;
	o->spill.compressed_size = r->u.spill.compressed_size;
	o->spill.type = r->u.spill.type;
	o->spill.flags = r->u.spill.flags;
	o->spill.compression = r->u.spill.compressiontype;
	memcpy(o->spill.salt, r->u.spill.salt, 8);
	memcpy(o->spill.iv, r->u.spill.iv, 12);
	memcpy(o->spill.mac, r->u.spill.mac, 16);
	o->spill.paylen = (uint32_t)rec->payload_len;
	if ((rc = a->keep(a->ctx, rec, o->spill.hash, err)))
		return rc;
	o->has_spill = true;
	return BK_OK;
}

static enum bk_code on_object_range(struct lp_apply *a,
				    const struct bk_drr_rec *rec,
				    struct bk_error *err)
{
	const struct bk_drr *r = &rec->hdr;
	struct lp_range g;

	memset(&g, 0, sizeof(g));
	g.firstobj = r->u.object_range.firstobj;
	g.numslots = r->u.object_range.numslots;
	g.birth = a->txg;
	g.flags = r->u.object_range.flags;
	memcpy(g.salt, r->u.object_range.salt, 8);
	memcpy(g.iv, r->u.object_range.iv, 12);
	memcpy(g.mac, r->u.object_range.mac, 16);
	return lp_state_put_range(a->st, &g, err);
}


/* The state a WRITE_BYREF's refguid names: this substream's own, or
 * another snapshot's through a->ref_state. */
static enum bk_code byref_state(struct lp_apply *a,
				const struct bk_drr_rec *rec, uint64_t guid,
				const struct lp_state **st,
				struct bk_error *err)
{
	if (guid == a->toguid) {
		*st = a->st;
		return BK_OK;
	}
	if (!a->ref_state)
		return lp_at_rec(err, rec, BK_ERR_UNSUPPORTED,
				 "refers to snapshot guid %016" PRIx64
				 ", another stream's: read this one from a "
				 "pool it is received into",
				 guid);
	return a->ref_state(a->ctx, rec, guid, st, err);
}

/*
 * WRITE_BYREF (zfs send -D): the block at (object, offset) is a copy of
 * the one written at (refobject, refoffset) of the snapshot refguid names.
 * The local pool keeps payloads by content, so the copy is the reference's
 * entry under its new place: nothing is read, and since a copy never
 * points at another record, references cannot form a cycle.  The block
 * must be there, whole (same offset and length), and carry the checksum
 * the record says it has.
 */
static enum bk_code on_byref(struct lp_apply *a,
			     const struct bk_drr_rec *rec,
			     struct bk_error *err)
{
	const __typeof__(rec->hdr.u.write_byref) *w = &rec->hdr.u.write_byref;
	const struct lp_state *rs = NULL;
	const struct lp_object *ro;
	struct lp_object *o;
	struct lp_block b;
	long i;
	enum bk_code rc;

	if (w->refguid == a->toguid && w->refobject == w->object &&
	    w->refoffset == w->offset)
		return lp_at_rec(err, rec, BK_ERR_FORMAT,
			      "refers to itself (object %" PRIu64
			      " offset %" PRIu64 ")",
			      w->object, w->offset);
	if ((rc = need_object(a, rec, w->object, &o, err)) ||
	    (rc = byref_state(a, rec, w->refguid, &rs, err)))
		return rc;
	i = lp_state_find(rs, w->refobject, NULL);
	if (i < 0)
		return lp_at_rec(err, rec, BK_ERR_FORMAT,
			      "refers to object %" PRIu64
			      ", which snapshot %016" PRIx64 " does not have",
			      w->refobject, w->refguid);
	ro = &rs->objs[i];
	i = lp_object_find_block(ro, w->refoffset, NULL);
	if (i < 0 || ro->blocks[i].kind != LP_DATA)
		return lp_at_rec(err, rec, BK_ERR_FORMAT,
			      "refers to offset %" PRIu64 " of object %" PRIu64
			      ", where no block was written",
			      w->refoffset, w->refobject);
	b = ro->blocks[i];
	if (b.lsize != w->length)
		return lp_at_rec(err, rec, BK_ERR_FORMAT,
			      "length %" PRIu64 ", but the block it refers to "
			      "(object %" PRIu64 " offset %" PRIu64 ") is %"
			      PRIu64 " bytes",
			      w->length, w->refobject, w->refoffset, b.lsize);
	if (memcmp(&b.key_cksum, &w->key_cksum, sizeof(b.key_cksum)) != 0)
		return lp_at_rec(err, rec, BK_ERR_FORMAT,
			      "checksum differs from that of the block it "
			      "refers to (object %" PRIu64 " offset %" PRIu64
			      ")",
			      w->refobject, w->refoffset);
	b.offset = w->offset;
	b.birth = a->txg;
	if (lp_object_find_block(o, b.offset, NULL) >= 0)
		a->maybe_garbage = true;
	/* o may be the reference's own object: b is a copy, put after use */
	return lp_object_put_block(o, &b, err);
}

enum bk_code lp_apply(struct lp_apply *a, const struct bk_drr_rec *rec,
		      struct bk_error *err)
{
	switch (rec->hdr.type) {
	case BK_DRR_OBJECT:
		return on_object(a, rec, err);
	case BK_DRR_FREEOBJECTS:
		return on_freeobjects(a, rec);
	case BK_DRR_WRITE:
	case BK_DRR_WRITE_EMBEDDED:
	case BK_DRR_REDACT:
		return on_write(a, rec, err);
	case BK_DRR_FREE:
		return on_free(a, rec, err);
	case BK_DRR_SPILL:
		return on_spill(a, rec, err);
	case BK_DRR_OBJECT_RANGE:
		return on_object_range(a, rec, err);
	case BK_DRR_WRITE_BYREF:
		return on_byref(a, rec, err);
	default:
		return lp_at_rec(err, rec, BK_ERR_UNSUPPORTED,
				 "no receiver accepts this record type");
	}
}
