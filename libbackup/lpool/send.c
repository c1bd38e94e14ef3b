/* SPDX-License-Identifier: MIT */
/*
 * Send a snapshot of the local pool as a modern stream (trailers, END
 * checksum): full, or incremental from an earlier snapshot (or the origin
 * of a clone), carrying what was born after it plus FREE and FREEOBJECTS
 * for what went away.  Objects go in order; within an object OBJECT, then
 * its WRITE/WRITE_EMBEDDED/REDACT/FREE records by offset, then SPILL, as
 * OpenZFS's sender does.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>

#include "lpool_impl.h"

struct sender {
	struct bk_lpool *p;
	struct bk_drr_writer w;
	struct bk_buf blk;
	uint64_t fromtxg; /* 0: full */
	bool raw;
	uint64_t toguid;
	/* a pending FREE run */
	uint64_t free_obj, free_off, free_end;
	bool free_pending;
};

static enum bk_code emit(struct sender *s, struct bk_drr *r,
			 const void *payload, size_t len, struct bk_error *err)
{
	return bk_drr_write(&s->w, r, payload, len, err);
}

static enum bk_code flush_free(struct sender *s, struct bk_error *err)
{
	struct bk_drr r;

	if (!s->free_pending)
		return BK_OK;
	s->free_pending = false;
	memset(&r, 0, sizeof(r));
	r.type = BK_DRR_FREE;
	r.u.free.object = s->free_obj;
	r.u.free.offset = s->free_off;
	r.u.free.length = s->free_end - s->free_off;
	r.u.free.toguid = s->toguid;
	return emit(s, &r, NULL, 0, err);
}

static enum bk_code add_free(struct sender *s, uint64_t obj, uint64_t off,
			     uint64_t len, struct bk_error *err)
{
	enum bk_code rc;
	uint64_t end = len > UINT64_MAX - off ? UINT64_MAX : off + len;

	if (s->free_pending && s->free_obj == obj && s->free_end == off) {
		s->free_end = end;
		return BK_OK;
	}
	if ((rc = flush_free(s, err)))
		return rc;
	s->free_pending = true;
	s->free_obj = obj;
	s->free_off = off;
	s->free_end = end;
	return BK_OK;
}

static enum bk_code send_object_rec(struct sender *s,
				   const struct lp_object *o,
				   struct bk_error *err)
{
	struct bk_drr r;

	memset(&r, 0, sizeof(r));
	r.type = BK_DRR_OBJECT;
	r.u.object.object = o->object;
	r.u.object.type = o->type;
	r.u.object.bonustype = o->bonustype;
	r.u.object.blksz = o->blksz;
	r.u.object.bonuslen = o->bonuslen;
	r.u.object.checksumtype = o->checksumtype;
	r.u.object.compress = o->compress;
	r.u.object.dn_slots = o->dn_slots;
	r.u.object.flags = o->flags;
	r.u.object.raw_bonuslen = o->raw_bonuslen;
	r.u.object.toguid = s->toguid;
	r.u.object.indblkshift = o->indblkshift;
	r.u.object.nlevels = o->nlevels;
	r.u.object.nblkptr = o->nblkptr;
	r.u.object.maxblkid = o->maxblkid;
	return emit(s, &r, o->bonus, o->bonus_paylen, err);
}

static enum bk_code send_block(struct sender *s, const struct lp_object *o,
			       const struct lp_block *b, struct bk_error *err)
{
	struct bk_drr r;
	enum bk_code rc;

	if ((rc = flush_free(s, err)))
		return rc;
	memset(&r, 0, sizeof(r));
	if (b->kind == LP_REDACT) {
		r.type = BK_DRR_REDACT;
		r.u.redact.object = o->object;
		r.u.redact.offset = b->offset;
		r.u.redact.length = b->lsize;
		r.u.redact.toguid = s->toguid;
		return emit(s, &r, NULL, 0, err);
	}
	if ((rc = lp_block_load(s->p, b->hash, b->paylen, &s->blk, err)))
		return rc;
	if (b->kind == LP_EMBEDDED) {
		r.type = BK_DRR_WRITE_EMBEDDED;
		r.u.write_embedded.object = o->object;
		r.u.write_embedded.offset = b->offset;
		r.u.write_embedded.length = b->lsize;
		r.u.write_embedded.toguid = s->toguid;
		r.u.write_embedded.compression = b->compression;
		r.u.write_embedded.etype = b->etype;
		r.u.write_embedded.lsize = b->type;
		r.u.write_embedded.psize = (uint32_t)b->psize;
	} else {
		r.type = BK_DRR_WRITE;
		r.u.write.object = o->object;
		r.u.write.type = b->type;
		r.u.write.offset = b->offset;
		r.u.write.logical_size = b->lsize;
		r.u.write.toguid = s->toguid;
		r.u.write.checksumtype = b->checksumtype;
		r.u.write.flags = b->flags;
		r.u.write.compressiontype = b->compression;
		r.u.write.key_cksum = b->key_cksum;
		r.u.write.key_prop = b->key_prop;
		r.u.write.compressed_size = b->psize;
		memcpy(r.u.write.salt, b->salt, 8);
		memcpy(r.u.write.iv, b->iv, 12);
		memcpy(r.u.write.mac, b->mac, 16);
	}
	return emit(s, &r, s->blk.data, s->blk.len, err);
}

static enum bk_code send_spill(struct sender *s, const struct lp_object *o,
			       struct bk_error *err)
{
	struct bk_drr r;
	enum bk_code rc;

	if ((rc = flush_free(s, err)) ||
	    (rc = lp_block_load(s->p, o->spill.hash, o->spill.paylen, &s->blk,
				err)))
		return rc;
	memset(&r, 0, sizeof(r));
	r.type = BK_DRR_SPILL;
	r.u.spill.object = o->object;
	r.u.spill.length = o->spill.length;
	r.u.spill.toguid = s->toguid;
	r.u.spill.flags = o->spill.flags;
	r.u.spill.compressiontype = o->spill.compression;
	r.u.spill.compressed_size = o->spill.compressed_size;
	memcpy(r.u.spill.salt, o->spill.salt, 8);
	memcpy(r.u.spill.iv, o->spill.iv, 12);
	memcpy(r.u.spill.mac, o->spill.mac, 16);
	r.u.spill.type = o->spill.type;
	return emit(s, &r, s->blk.data, s->blk.len, err);
}

/* The receiver throws an object's contents away when these change. */
static bool reallocated(const struct sender *s, const struct lp_object *a,
			const struct lp_object *b)
{
	return a->type != b->type || a->blksz != b->blksz ||
	       a->bonustype != b->bonustype || a->dn_slots != b->dn_slots ||
	       (s->raw && (a->indblkshift != b->indblkshift ||
			   a->nlevels != b->nlevels ||
			   a->nblkptr != b->nblkptr));
}

static enum bk_code send_one(struct sender *s, const struct lp_object *a,
			     const struct lp_object *b, struct bk_error *err)
{
	bool all = !a || reallocated(s, a, b);
	enum bk_code rc;
	size_t i = 0, j = 0;

	if (all || b->birth > s->fromtxg || (a->has_spill && !b->has_spill))
		if ((rc = flush_free(s, err)) ||
		    (rc = send_object_rec(s, b, err)))
			return rc;
	if (all) {
		for (j = 0; j < b->nblocks; j++)
			if ((rc = send_block(s, b, &b->blocks[j], err)))
				return rc;
	} else {
		/* merge: new blocks born after from, FREE for removed ones */
		while (i < a->nblocks || j < b->nblocks) {
			const struct lp_block *x =
				i < a->nblocks ? &a->blocks[i] : NULL;
			const struct lp_block *y =
				j < b->nblocks ? &b->blocks[j] : NULL;

			if (x && (!y || x->offset < y->offset)) {
				if ((rc = add_free(s, b->object, x->offset,
						   x->lsize, err)))
					return rc;
				i++;
				continue;
			}
			if (x && x->offset == y->offset)
				i++;
			if (y->birth > s->fromtxg &&
			    (rc = send_block(s, b, y, err)))
				return rc;
			j++;
		}
	}
	if ((rc = flush_free(s, err)))
		return rc;
	if (b->has_spill &&
	    (all || !a->has_spill || b->spill.birth > s->fromtxg))
		return send_spill(s, b, err);
	return BK_OK;
}

static enum bk_code send_range(struct sender *s, const struct lp_range *g,
			       struct bk_error *err)
{
	struct bk_drr r;

	memset(&r, 0, sizeof(r));
	r.type = BK_DRR_OBJECT_RANGE;
	r.u.object_range.firstobj = g->firstobj;
	r.u.object_range.numslots = g->numslots;
	r.u.object_range.toguid = s->toguid;
	memcpy(r.u.object_range.salt, g->salt, 8);
	memcpy(r.u.object_range.iv, g->iv, 12);
	memcpy(r.u.object_range.mac, g->mac, 16);
	r.u.object_range.flags = g->flags;
	return emit(s, &r, NULL, 0, err);
}

static enum bk_code send_freeobjects(struct sender *s, uint64_t first,
				     uint64_t end, struct bk_error *err)
{
	struct bk_drr r;

	memset(&r, 0, sizeof(r));
	r.type = BK_DRR_FREEOBJECTS;
	r.u.freeobjects.firstobj = first;
	r.u.freeobjects.numobjs = end - first;
	r.u.freeobjects.toguid = s->toguid;
	return emit(s, &r, NULL, 0, err);
}

static enum bk_code send_body(struct sender *s, const struct lp_state *from,
			      const struct lp_state *to, struct bk_error *err)
{
	size_t i = 0, j = 0, k = 0;
	enum bk_code rc;
	uint64_t fo_first = 0, fo_end = 0;
	bool fo = false;

	while (i < (from ? from->nobjs : 0) || j < to->nobjs) {
		const struct lp_object *a =
			from && i < from->nobjs ? &from->objs[i] : NULL;
		const struct lp_object *b = j < to->nobjs ? &to->objs[j] : NULL;
		uint64_t next = b ? b->object : UINT64_MAX;

		if (a && a->object < next) {
			/* gone: FREEOBJECTS, runs merged */
			if (!fo) {
				fo = true;
				fo_first = a->object;
			}
			fo_end = a->object + 1;
			i++;
			continue;
		}
		if (fo) {
			if ((rc = send_freeobjects(s, fo_first, fo_end, err)))
				return rc;
			fo = false;
		}
		if (!b)
			break;
		/* object ranges (raw) come before the objects they cover */
		for (; k < to->nranges && to->ranges[k].firstobj <= b->object;
		     k++)
			if (to->ranges[k].birth > s->fromtxg &&
			    (rc = send_range(s, &to->ranges[k], err)))
				return rc;
		if (a && a->object != b->object)
			a = NULL;
		if ((rc = send_one(s, a, b, err)))
			return rc;
		if (a)
			i++;
		j++;
	}
	if (fo && (rc = send_freeobjects(s, fo_first, fo_end, err)))
		return rc;
	for (; k < to->nranges; k++)
		if (to->ranges[k].birth > s->fromtxg &&
		    (rc = send_range(s, &to->ranges[k], err)))
			return rc;
	return BK_OK;
}

/* Features the stream must announce for what it carries. */
static uint64_t features_for(const struct lp_state *st)
{
	uint64_t f = st->features;

	for (size_t i = 0; i < st->nobjs; i++) {
		const struct lp_object *o = &st->objs[i];

		if (o->blksz > 131072)
			f |= BK_FEAT_LARGE_BLOCKS;
		if (o->dn_slots > 1)
			f |= BK_FEAT_LARGE_DNODE;
		if (o->has_spill)
			f |= BK_FEAT_SA_SPILL;
		for (size_t j = 0; j < o->nblocks; j++) {
			if (o->blocks[j].kind == LP_EMBEDDED)
				f |= BK_FEAT_EMBED_DATA;
			if (o->blocks[j].kind == LP_DATA &&
			    o->blocks[j].lsize > 131072)
				f |= BK_FEAT_LARGE_BLOCKS;
		}
	}
	if (!st->order_set)
		f |= BK_FEAT_SA_SPILL; /* made here: as zfs send does */
	return f;
}

struct resolved {
	char ds[BK_LPOOL_NAME_MAX + 1];
	struct lp_snap snap;
	char origin[LP_NAME_MAX];
};

static enum bk_code find_snap(const struct lp_meta *m, const char *name,
			      struct resolved *out, struct bk_error *err)
{
	struct lp_ds *d;
	struct lp_snap *s;
	enum bk_code rc = lp_meta_snap(m, name, &d, &s, err);

	if (rc)
		return rc;
	snprintf(out->ds, sizeof(out->ds), "%s", d->name);
	out->snap = *s;
	snprintf(out->origin, sizeof(out->origin), "%s", d->origin);
	return BK_OK;
}

enum bk_code bk_lpool_send(struct bk_lpool *p, const char *snap,
			   const char *from, bk_drr_sink_fn sink, void *ctx,
			   struct bk_lpool_send_result *res,
			   struct bk_error *err)
{
	struct lp_meta m;
	struct resolved to, fr;
	struct lp_state st, fst;
	struct sender s;
	struct bk_drr r;
	bool have_from = from && *from, clone = false, pinned = false;
	enum bk_code rc;
	char fname[LP_NAME_MAX];

	memset(&s, 0, sizeof(s));
	lp_state_init(&st);
	lp_state_init(&fst);
	bk_buf_init(&s.blk, BK_DRR_MAX_PAYLOAD + 1);
	if (res)
		memset(res, 0, sizeof(*res));
	/* no lock: the metadata changes by rename, and pinned, the files it
	 * names stay until we are done (so that `zbak pool send | zbak pool
	 * recv` works within one pool, and a slow reader blocks nobody) */
	if ((rc = lp_pin(p, err)))
		goto out;
	pinned = true;
	rc = lp_meta_load(p, &m, err);
	if (rc)
		goto out;
	rc = find_snap(&m, snap, &to, err);
	if (!rc && have_from) {
		if (from[0] == '@')
			snprintf(fname, sizeof(fname), "%s%s", to.ds, from);
		else
			snprintf(fname, sizeof(fname), "%s", from);
		rc = find_snap(&m, fname, &fr, err);
		if (!rc && strcmp(fr.ds, to.ds) == 0) {
			if (fr.snap.createtxg >= to.snap.createtxg)
				rc = bk_error_set(
					err, BK_ERR_USAGE,
					"%s is not earlier than %s", fname,
					snap);
		} else if (!rc) {
			if (strcmp(to.origin, fname) != 0)
				rc = bk_error_set(
					err, BK_ERR_USAGE,
					"%s is neither an earlier snapshot "
					"of %s nor its origin",
					fname, to.ds);
			clone = true;
		}
	}
	if (!rc)
		rc = lp_state_load(p, &to.snap.state, &st, err);
	if (!rc && have_from)
		rc = lp_state_load(p, &fr.snap.state, &fst, err);
	lp_meta_free(&m);
	if (rc)
		goto out;
	s.p = p;
	s.toguid = to.snap.guid;
	s.fromtxg = have_from ? fr.snap.createtxg : 0;
	s.raw = (st.features & BK_FEAT_RAW) != 0;
	bk_drr_writer_init(&s.w, sink, ctx,
			   st.order_set && st.bigendian != lp_host_bigendian(),
			   false);
	memset(&r, 0, sizeof(r));
	r.type = BK_DRR_BEGIN;
	r.payloadlen = st.nvl_len;
	r.u.begin.magic = BK_DRR_MAGIC;
	r.u.begin.versioninfo =
		BK_DRR_VERSIONINFO(BK_DRR_SUBSTREAM, features_for(&st));
	r.u.begin.creation_time = to.snap.creation;
	r.u.begin.objset_type = st.objset_type;
	r.u.begin.flags = BK_DRR_FLAG_FREERECORDS | BK_DRR_FLAG_SPILL_BLOCK |
			  (st.begin_flags & BK_DRR_FLAG_CI_DATA) |
			  (clone ? BK_DRR_FLAG_CLONE : 0);
	r.u.begin.toguid = to.snap.guid;
	r.u.begin.fromguid = have_from ? fr.snap.guid : 0;
	snprintf(r.u.begin.toname, sizeof(r.u.begin.toname), "%s", snap);
	if ((rc = emit(&s, &r, st.nvl, st.nvl_len, err)))
		goto out;
	if ((rc = send_body(&s, have_from ? &fst : NULL, &st, err)))
		goto out;
	memset(&r, 0, sizeof(r));
	r.type = BK_DRR_END;
	r.u.end.toguid = to.snap.guid;
	if ((rc = emit(&s, &r, NULL, 0, err)))
		goto out;
	if (res) {
		res->bytes = s.w.bytes;
		res->records = s.w.records;
	}
out:
	if (pinned)
		lp_unpin(p);
	bk_buf_release(&s.blk);
	lp_state_free(&st);
	lp_state_free(&fst);
	return rc;
}
