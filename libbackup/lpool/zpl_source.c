/* SPDX-License-Identifier: MIT */
/*
 * The local pool as an object source of the ZPL reader: objects and their
 * blocks straight from a dataset's state (include/backup/lpool_zpl.h).
 * Payloads are kept as they came, so blocks are decompressed here.
 */
#include <stdlib.h>
#include <string.h>

#include "backup/lpool_zpl.h"
#include "lpool_impl.h"

#define DMU_OST_ZFS 2u
#define DMU_OST_ZVOL 3u

struct lz_src {
	struct bk_lpool *p; /* a pool's blocks, or (NULL) a map's */
	struct lp_state st;
	struct bk_buf pay;
	bool pinned;
	/* a map's (bk_lpool_map_source) */
	uint8_t *inl;
	bk_lpool_map_load_fn load;
	void *lctx;
};

/* The payload of a block (or spill) into s->pay. */
static enum bk_code lz_payload(struct lz_src *s, const uint8_t *hash,
			       uint32_t paylen, struct bk_error *err)
{
	if (s->p)
		return lp_block_load(s->p, hash, paylen, &s->pay, err);
	return lp_map_payload(hash, paylen, s->inl, s->load, s->lctx, &s->pay,
			      err);
}

static enum bk_code lz_object(void *ctx, uint64_t obj,
			      struct bk_zpl_object *out, struct bk_error *err)
{
	struct lz_src *s = ctx;
	long i = lp_state_find(&s->st, obj, NULL);
	const struct lp_object *o;

	if (i < 0)
		return bk_error_set(err, BK_ERR_NOTFOUND, "no object %llu",
				    (unsigned long long)obj);
	o = &s->st.objs[i];
	out->type = o->type;
	out->bonustype = o->bonustype;
	out->blksz = o->blksz;
	out->maxblkid = o->maxblkid;
	out->bonus = o->bonus;
	/* the record's bonus length, within what its payload carried */
	out->bonuslen = o->bonuslen < o->bonus_paylen ? o->bonuslen
						      : o->bonus_paylen;
	if (o->nblocks) {
		/* an old stream may leave maxblkid at 0: the blocks decide */
		const struct lp_block *last = &o->blocks[o->nblocks - 1];

		if (o->blksz && last->offset / o->blksz > out->maxblkid)
			out->maxblkid = last->offset / o->blksz;
	}
	return BK_OK;
}

/* Block b's logical bytes into buf[len]. */
static enum bk_code lz_decode(struct lz_src *s, const struct lp_block *b,
			      uint8_t *buf, size_t len, struct bk_error *err)
{
	enum bk_code rc;
	size_t out, in;

	if (b->kind == LP_REDACT)
		return bk_error_set(err, BK_ERR_UNSUPPORTED,
				    "a redacted block (its data was not sent)");
	if ((rc = lz_payload(s, b->hash, b->paylen, err)))
		return rc;
	if (b->kind == LP_EMBEDDED) {
		/* psize payload bytes make the block's lsize (kept in type) */
		out = b->type;
		in = b->psize;
	} else {
		out = b->lsize;
		in = b->psize ? b->psize : b->paylen;
	}
	if (out > len || in > s->pay.len)
		return bk_error_set(err, BK_ERR_FORMAT,
				    "block at %llu: %zu bytes in a block of %zu",
				    (unsigned long long)b->offset, out, len);
	if (b->kind == LP_DATA && !b->psize)
		rc = bk_zpl_decompress(2 /* off */, s->pay.data, in, buf, out,
				       err);
	else
		rc = bk_zpl_decompress(b->compression, s->pay.data, in, buf,
				       out, err);
	if (!rc)
		memset(buf + out, 0, len - out);
	else /* which block: the decoder names only its algorithm */
		bk_error_prefix(err, "block at %llu",
				(unsigned long long)b->offset);
	return rc;
}

static enum bk_code lz_read_block(void *ctx, uint64_t obj, uint64_t blkid,
				  uint8_t *buf, size_t len, bool *hole,
				  struct bk_error *err)
{
	struct lz_src *s = ctx;
	long i = lp_state_find(&s->st, obj, NULL), j;
	const struct lp_object *o;
	uint64_t off;
	size_t ins;
	enum bk_code rc;

	*hole = true;
	memset(buf, 0, len);
	if (i < 0)
		return bk_error_set(err, BK_ERR_NOTFOUND, "no object %llu",
				    (unsigned long long)obj);
	o = &s->st.objs[i];
	if (!o->blksz || len != o->blksz || blkid > UINT64_MAX / o->blksz)
		return bk_error_set(err, BK_ERR_FORMAT,
				    "object %llu: block %llu of %u bytes",
				    (unsigned long long)obj,
				    (unsigned long long)blkid, o->blksz);
	off = blkid * o->blksz;
	j = lp_object_find_block(o, off, &ins);
	if (j < 0) {
		/* a block that starts before and runs into this one would be
		 * read as zeros: refuse it rather than lie */
		if (ins > 0 && o->blocks[ins - 1].offset +
					       o->blocks[ins - 1].lsize > off)
			return bk_error_set(err, BK_ERR_FORMAT,
					    "object %llu: a block not on a "
					    "block boundary",
					    (unsigned long long)obj);
		return BK_OK;
	}
	if ((rc = lz_decode(s, &o->blocks[j], buf, len, err))) {
		bk_error_prefix(err, "object %llu", (unsigned long long)obj);
		return rc;
	}
	*hole = false;
	return BK_OK;
}

static enum bk_code lz_next_block(void *ctx, uint64_t obj, uint64_t from,
				  uint64_t *blkid, struct bk_error *err)
{
	struct lz_src *s = ctx;
	long i = lp_state_find(&s->st, obj, NULL);
	const struct lp_object *o;
	size_t ins;

	*blkid = UINT64_MAX;
	if (i < 0)
		return bk_error_set(err, BK_ERR_NOTFOUND, "no object %llu",
				    (unsigned long long)obj);
	o = &s->st.objs[i];
	if (!o->blksz || from > UINT64_MAX / o->blksz)
		return BK_OK;
	if (lp_object_find_block(o, from * o->blksz, &ins) >= 0)
		*blkid = from;
	else if (ins < o->nblocks)
		*blkid = o->blocks[ins].offset / o->blksz;
	return BK_OK;
}

/* The spill block (system attributes beyond the bonus) as SPILL kept it. */
static enum bk_code lz_spill(void *ctx, uint64_t obj, uint8_t *buf,
			     size_t cap, size_t *len, struct bk_error *err)
{
	struct lz_src *s = ctx;
	long i = lp_state_find(&s->st, obj, NULL);
	const struct lp_spill *sp;
	size_t in;
	enum bk_code rc;

	*len = 0;
	if (i < 0)
		return bk_error_set(err, BK_ERR_NOTFOUND, "no object %llu",
				    (unsigned long long)obj);
	if (!s->st.objs[i].has_spill)
		return BK_OK;
	sp = &s->st.objs[i].spill;
	if (sp->length > cap)
		return bk_error_set(err, BK_ERR_FORMAT,
				    "spill block of %llu bytes",
				    (unsigned long long)sp->length);
	if ((rc = lz_payload(s, sp->hash, sp->paylen, err)))
		return rc;
	/* compressed_size is set when `zfs send -c` kept it compressed */
	in = sp->compressed_size ? sp->compressed_size : s->pay.len;
	if (in > s->pay.len)
		return bk_error_set(err, BK_ERR_FORMAT,
				    "spill block of %zu bytes in %zu", in,
				    s->pay.len);
	rc = bk_zpl_decompress(sp->compressed_size ? sp->compression : 2,
			       s->pay.data, in, buf, sp->length, err);
	if (rc) {
		bk_error_prefix(err, "object %llu: spill block",
				(unsigned long long)obj);
		return rc;
	}
	*len = sp->length;
	return BK_OK;
}

static void lz_close(void *ctx)
{
	struct lz_src *s = ctx;

	if (!s)
		return;
	if (s->pinned)
		lp_unpin(s->p);
	lp_state_free(&s->st);
	bk_buf_release(&s->pay);
	free(s->inl);
	free(s);
}

static const struct bk_zpl_source_ops lz_ops = {
	.object = lz_object,
	.read_block = lz_read_block,
	.next_block = lz_next_block,
	.close = lz_close,
	.spill = lz_spill,
};

/* pool/fs or pool/fs@snap to its state (the pin held). */
static enum bk_code lz_resolve(struct bk_lpool *p, const char *name,
			       struct bk_id *id, struct bk_error *err)
{
	struct lp_meta m;
	struct lp_ds *d;
	struct lp_snap *sn;
	enum bk_code rc;
	bool snap = strchr(name, '@') != NULL;

	if ((rc = lp_check_name(name, snap, err)) ||
	    (rc = lp_meta_load(p, &m, err)))
		return rc;
	if (snap) {
		if (!(rc = lp_meta_snap(&m, name, &d, &sn, err)))
			*id = sn->state;
	} else if ((d = lp_meta_ds(&m, name))) {
		*id = d->state;
	} else {
		rc = bk_error_set(err, BK_ERR_NOTFOUND, "%s: no such dataset",
				  name);
	}
	lp_meta_free(&m);
	return rc;
}

/* What the reader cannot read: refused with the reason. */
static enum bk_code lz_check(const struct lz_src *s, const char *name,
			     struct bk_error *err)
{
	if (s->st.features & BK_FEAT_RAW)
		return bk_error_set(err, BK_ERR_UNSUPPORTED,
				    "%s is a raw (zfs send -w) encrypted "
				    "dataset: its blocks cannot be read without "
				    "its key, which zbak never has",
				    name);
	/* a volume is read as one file (libbackup/zpl/zvol.c) */
	if (s->st.objset_type != DMU_OST_ZFS &&
	    s->st.objset_type != DMU_OST_ZVOL && s->st.nobjs)
		return bk_error_set(err, BK_ERR_UNSUPPORTED,
				    "%s: objset type %u is not a file system",
				    name, s->st.objset_type);
	return BK_OK;
}

enum bk_code bk_lpool_zpl_source(struct bk_lpool *p, const char *name,
				 struct bk_zpl_source *out,
				 struct bk_error *err)
{
	struct lz_src *s = calloc(1, sizeof(*s));
	struct bk_id id;
	enum bk_code rc;

	if (!s)
		return bk_error_set(err, BK_ERR_NOMEM, "out of memory");
	s->p = p;
	lp_state_init(&s->st);
	bk_buf_init(&s->pay, BK_ZPL_BLOCK_MAX + 64);
	if ((rc = lp_pin(p, err)))
		goto fail;
	s->pinned = true;
	if ((rc = lz_resolve(p, name, &id, err)) ||
	    (rc = lp_state_load(p, &id, &s->st, err)))
		goto fail;
	if ((rc = lz_check(s, name, err)))
		goto fail;
	out->ops = &lz_ops;
	out->ctx = s;
	out->bigendian = s->st.bigendian;
	return BK_OK;
fail:
	lz_close(s);
	return rc;
}

enum bk_code bk_lpool_map_source(struct bk_lpool_map *m,
				 bk_lpool_map_load_fn load, void *ctx,
				 const char *name, struct bk_zpl_source *out,
				 struct bk_error *err)
{
	struct lz_src *s = calloc(1, sizeof(*s));
	uint64_t ninl;
	enum bk_code rc;

	if (!s) {
		bk_lpool_map_free(m);
		return bk_error_set(err, BK_ERR_NOMEM, "out of memory");
	}
	lp_map_take(m, &s->st, &s->inl, &ninl);
	bk_buf_init(&s->pay, BK_ZPL_BLOCK_MAX + 64);
	s->load = load;
	s->lctx = ctx;
	if ((rc = lz_check(s, name, err))) {
		lz_close(s);
		return rc;
	}
	out->ops = &lz_ops;
	out->ctx = s;
	out->bigendian = s->st.bigendian;
	return BK_OK;
}
