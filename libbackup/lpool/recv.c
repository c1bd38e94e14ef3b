/* SPDX-License-Identifier: MIT */
/*
 * Receive a stream into the local pool with the rules of the seed's
 * dmu_recv_begin/dmu_recv_stream/dmu_recv_end (docs/stream-format.md): records
 * apply to a working copy of the dataset's state; only a stream that ends
 * with matching END checksums commits, all its snapshots in one rename of
 * the metadata.  Block payloads go to their files as they arrive; a
 * failure leaves them unreferenced, and they are collected.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "backup/util.h"
#include "lpool_impl.h"

#define DATA_FEATURES LP_DATA_FEATURES

struct sub {
	bool active;
	char ds[BK_LPOOL_NAME_MAX + 1];
	char snap[BK_LPOOL_NAME_MAX + 1];
	char origin[LP_NAME_MAX];
	uint64_t toguid, creation, txg;
	bool replace;      /* a full stream over an existing dataset (-F) */
	size_t keep_snaps; /* -F incremental: snapshots kept (SIZE_MAX all) */
	bool raw;
	uint32_t begin_flags;
	struct lp_state st;
};

struct bk_lpool_recv {
	struct bk_lpool *p;
	struct lp_meta m; /* working copy, committed at finish */
	char target[BK_LPOOL_NAME_MAX + 1];
	bool force;
	struct bk_drr_parser *parser;
	char top[BK_LPOOL_NAME_MAX + 1]; /* a package's top dataset */
	struct sub cur;
	/* the snapshot WRITE_BYREF records last named, loaded once */
	uint64_t ref_guid; /* 0: none loaded */
	struct lp_state ref_st;
	struct lp_apply ap; /* the rules (apply.c), on cur.st */
	bool done;
	bool locked;       /* the pool's lock, taken at the first BEGIN */
	bool dropped;      /* references went away: collect garbage */
	bool maybe_garbage; /* blocks written then dropped */
	struct bk_buf scratch;
	struct bk_lpool_recv_result res;
};

enum bk_code bk_lpool_recv_begin(struct bk_lpool *p, const char *target,
				 const struct bk_lpool_recv_opts *o,
				 struct bk_lpool_recv **out,
				 struct bk_error *err)
{
	struct bk_lpool_recv *rx;
	struct bk_drr_parser_opts po = { .validate = true, .dedup = true };
	enum bk_code rc;

	*out = NULL;
	if ((rc = lp_check_name(target, false, err)))
		return rc;
	rx = calloc(1, sizeof(*rx));
	if (!rx)
		return bk_error_set(err, BK_ERR_NOMEM, "out of memory");
	rx->p = p;
	rx->force = o && o->force;
	snprintf(rx->target, sizeof(rx->target), "%s", target);
	lp_state_init(&rx->cur.st);
	lp_state_init(&rx->ref_st);
	bk_buf_init(&rx->scratch, BK_DRR_MAX_PAYLOAD + 1);
	if ((rc = bk_drr_parser_new(&po, &rx->parser, err)))
		goto fail;
	/* the lock comes with the first record: a sender feeding us from
	 * the same pool must be able to read it first */
	*out = rx;
	return BK_OK;
fail:
	bk_drr_parser_free(rx->parser);
	bk_buf_release(&rx->scratch);
	lp_meta_free(&rx->m);
	free(rx);
	return rc;
}

/* Components two dataset names share from the start. */
static size_t common_components(const char *a, const char *b)
{
	size_t n = 0, i = 0;

	for (;; i++) {
		bool ea = a[i] == '\0' || a[i] == '/';
		bool eb = b[i] == '\0' || b[i] == '/';

		if (ea || eb) {
			if (ea && eb)
				n++;
			if (!ea || !eb || !a[i] || !b[i])
				return n;
			continue;
		}
		if (a[i] != b[i])
			return n;
	}
}

/* The snapshot with guid g; when several datasets have it (the same
 * stream received twice), the one nearest `near`, as libzfs looks under
 * the target's parent first. */
static const struct lp_snap *find_guid(const struct lp_meta *m, uint64_t g,
				       const char *near,
				       const struct lp_ds **in)
{
	const struct lp_snap *best = NULL;
	size_t best_n = 0;

	for (size_t i = 0; i < m->nds; i++) {
		const struct lp_snap *s = lp_ds_snap_guid(&m->ds[i], g);
		size_t n;

		if (!s)
			continue;
		n = near ? common_components(m->ds[i].name, near) : 0;
		if (!best || n > best_n) {
			best = s;
			best_n = n;
			*in = &m->ds[i];
		}
	}
	return best;
}

/* A package's compound header: remember its top dataset, the name its
 * substreams are mapped from. */
static enum bk_code begin_package(struct bk_lpool_recv *rx,
				  const struct bk_drr_rec *rec,
				  struct bk_error *err)
{
	const char *toname = rec->hdr.u.begin.toname;
	const char *at = strchr(toname, '@');
	size_t n = at ? (size_t)(at - toname) : strlen(toname);

	if (n == 0 || n > BK_LPOOL_NAME_MAX)
		return lp_at_rec(err, rec, BK_ERR_FORMAT,
				 "package names no top dataset ('%s')", toname);
	memcpy(rx->top, toname, n);
	rx->top[n] = '\0';
	return BK_OK;
}

/* Name mapping: the stream's pool/fs@snap into c->ds and c->snap, the
 * target, or below it for a package's children. */
static enum bk_code map_name(struct bk_lpool_recv *rx,
			     const struct bk_drr_rec *rec, struct bk_error *err)
{
	const char *toname = rec->hdr.u.begin.toname;
	const char *at = strchr(toname, '@');
	struct sub *c = &rx->cur;
	char sds[BK_LPOOL_NAME_MAX + 1], full[LP_NAME_MAX];
	size_t n = (size_t)(at - toname);
	struct bk_error e2;

	if (n > BK_LPOOL_NAME_MAX || strlen(at + 1) > BK_LPOOL_NAME_MAX)
		return lp_at_rec(err, rec, BK_ERR_FORMAT, "toname is too long");
	memcpy(sds, toname, n);
	sds[n] = '\0';
	snprintf(c->snap, sizeof(c->snap), "%s", at + 1);
	if (!rx->top[0] || strcmp(sds, rx->top) == 0) {
		snprintf(c->ds, sizeof(c->ds), "%s", rx->target);
	} else if (bk_dataset_below(sds, rx->top)) {
		if (strlen(rx->target) + strlen(sds) - strlen(rx->top) >
		    BK_LPOOL_NAME_MAX)
			return lp_at_rec(err, rec, BK_ERR_USAGE,
					 "%s%s: name too long", rx->target,
					 sds + strlen(rx->top));
		snprintf(c->ds, sizeof(c->ds), "%s%s", rx->target,
			 sds + strlen(rx->top));
	} else {
		return lp_at_rec(err, rec, BK_ERR_FORMAT,
				 "substream %s is not below the package's top "
				 "dataset %s",
				 toname, rx->top);
	}
	snprintf(full, sizeof(full), "%s@%s", c->ds, c->snap);
	if (lp_check_name(full, true, &e2))
		return lp_at_rec(err, rec, BK_ERR_FORMAT, "%s", e2.msg);
	return BK_OK;
}

/* Full (or clone) admission: a new dataset under an existing parent, or
 * with -F over one without snapshots. */
static enum bk_code admit_full(struct bk_lpool_recv *rx,
			       const struct bk_drr_rec *rec,
			       const struct lp_ds *d, struct bk_error *err)
{
	struct sub *c = &rx->cur;
	const char *slash;
	char parent[BK_LPOOL_NAME_MAX + 1];

	if (d && !rx->force)
		return lp_at_rec(err, rec, BK_ERR_EXISTS,
				 "destination %s exists; receiving a full "
				 "stream over it needs -F",
				 c->ds);
	if (d && d->nsnaps)
		return lp_at_rec(err, rec, BK_ERR_EXISTS,
				 "destination %s has snapshots (%s@%s): "
				 "destroy them to receive a full stream "
				 "over it",
				 c->ds, c->ds, d->snaps[0].name);
	c->replace = d != NULL;
	if (d)
		return BK_OK;
	slash = strrchr(c->ds, '/');
	if (!slash)
		return lp_at_rec(err, rec, BK_ERR_NOTFOUND,
				 "cannot receive into %s: that "
				 "is a pool (zbak pool create "
				 "%s, then receive into %s/NAME)",
				 c->ds, c->ds, c->ds);
	snprintf(parent, sizeof(parent), "%.*s", (int)(slash - c->ds), c->ds);
	if (!lp_meta_ds(&rx->m, parent))
		return lp_at_rec(err, rec, BK_ERR_NOTFOUND,
				 "cannot receive into %s: %s %s does "
				 "not exist",
				 c->ds, strchr(parent, '/') ? "parent" : "pool",
				 parent);
	return BK_OK;
}

/* Clone admission: its origin snapshot must be in the pool; its state is
 * the base. */
static enum bk_code admit_clone(struct bk_lpool_recv *rx,
				const struct bk_drr_rec *rec,
				struct bk_id *base, struct bk_error *err)
{
	struct sub *c = &rx->cur;
	uint64_t from = rec->hdr.u.begin.fromguid;
	const struct lp_ds *od;
	const struct lp_snap *os = find_guid(&rx->m, from, c->ds, &od);

	if (!os)
		return lp_at_rec(err, rec, BK_ERR_NOTFOUND,
				 "clone stream: its origin "
				 "snapshot (guid %016" PRIx64
				 ") is not in the pool",
				 from);
	snprintf(c->origin, sizeof(c->origin), "%s@%s", od->name, os->name);
	*base = os->state;
	return BK_OK;
}

/* -F of an incremental from an older snapshot destroys the snapshots
 * after it: not when one of them is a clone's origin. */
static enum bk_code check_rollback(struct bk_lpool_recv *rx,
				   const struct bk_drr_rec *rec,
				   const struct lp_ds *d, size_t keep,
				   struct bk_error *err)
{
	for (size_t j = keep; j < d->nsnaps; j++) {
		char full[LP_NAME_MAX];

		snprintf(full, sizeof(full), "%s@%s", d->name,
			 d->snaps[j].name);
		for (size_t k = 0; k < rx->m.nds; k++)
			if (!strcmp(rx->m.ds[k].origin, full))
				return lp_at_rec(err, rec, BK_ERR_EXISTS,
						 "-F would destroy %s, which "
						 "has a dependent clone %s",
						 full, rx->m.ds[k].name);
	}
	return BK_OK;
}

/* Incremental admission: the destination's most recent snapshot is the
 * stream's source (or, with -F, any snapshot is, and the later ones go),
 * and the dataset is unchanged since (or -F rolls it back). */
static enum bk_code admit_incremental(struct bk_lpool_recv *rx,
				      const struct bk_drr_rec *rec,
				      const struct lp_ds *d,
				      struct bk_id *base,
				      struct bk_error *err)
{
	struct sub *c = &rx->cur;
	uint64_t from = rec->hdr.u.begin.fromguid;
	const struct lp_snap *s, *newest;
	enum bk_code rc;

	if (!d)
		return lp_at_rec(err, rec, BK_ERR_NOTFOUND,
				 "destination %s does not exist: an "
				 "incremental stream needs the dataset "
				 "holding its source snapshot (guid "
				 "%016" PRIx64 ")",
				 c->ds, from);
	s = lp_ds_snap_guid(d, from);
	newest = d->nsnaps ? &d->snaps[d->nsnaps - 1] : NULL;
	if (!s || (s != newest && !rx->force)) {
		if (!newest)
			return lp_at_rec(err, rec, BK_ERR_NOTFOUND,
					 "destination %s has no "
					 "snapshots; the stream is "
					 "incremental from guid %016" PRIx64,
					 c->ds, from);
		return lp_at_rec(err, rec, BK_ERR_NOTFOUND,
				 "most recent snapshot of %s (%s, guid "
				 "%016" PRIx64
				 ") does not match the stream's source "
				 "(guid %016" PRIx64 ")%s",
				 c->ds, newest->name, newest->guid, from,
				 s ? "; -F destroys the snapshots after "
				     "it"
				   : "");
	}
	if (s != newest) {
		c->keep_snaps = (size_t)(s - d->snaps) + 1;
		if ((rc = check_rollback(rx, rec, d, c->keep_snaps, err)))
			return rc;
	}
	if (memcmp(&d->state, &newest->state, sizeof(d->state)) != 0 &&
	    !rx->force)
		return lp_at_rec(err, rec, BK_ERR_EXISTS,
				 "destination %s has been modified since "
				 "its most recent snapshot %s; -F rolls "
				 "it back",
				 c->ds, newest->name);
	*base = s->state;
	return BK_OK;
}

/* The snapshot must not be there already, by name or by guid (unless -F
 * destroys it). */
static enum bk_code check_new_snap(struct bk_lpool_recv *rx,
				   const struct bk_drr_rec *rec,
				   const struct lp_ds *d, struct bk_error *err)
{
	struct sub *c = &rx->cur;
	const struct lp_snap *same;

	if (!d)
		return BK_OK;
	same = lp_ds_snap(d, c->snap);
	if (same && (c->keep_snaps == SIZE_MAX ||
		     (size_t)(same - d->snaps) < c->keep_snaps))
		return lp_at_rec(err, rec, BK_ERR_EXISTS,
				 "destination snapshot %s@%s already "
				 "exists",
				 c->ds, c->snap);
	if (lp_ds_snap_guid(d, rec->hdr.u.begin.toguid) &&
	    c->keep_snaps == SIZE_MAX)
		return lp_at_rec(err, rec, BK_ERR_EXISTS,
				 "%s already has the snapshot this stream "
				 "carries (guid %016" PRIx64 ")",
				 c->ds, rec->hdr.u.begin.toguid);
	return BK_OK;
}

/* The working state: the base's (or empty), with this stream's byte
 * order, features and BEGIN payload. */
static enum bk_code start_state(struct bk_lpool_recv *rx,
				const struct bk_drr_rec *rec,
				const struct bk_id *base,
				struct bk_error *err)
{
	const struct bk_drr *r = &rec->hdr;
	struct sub *c = &rx->cur;
	uint64_t feat = BK_DRR_FEATURES(r->u.begin.versioninfo);
	bool big;
	enum bk_code rc;

	if (base && (rc = lp_state_load(rx->p, base, &c->st, err)))
		return rc;
	big = rec->byteswap != lp_host_bigendian();
	if (c->st.order_set && c->st.bigendian != big && c->st.nobjs)
		return lp_at_rec(err, rec, BK_ERR_UNSUPPORTED,
				 "the stream is %s-endian but %s holds "
				 "%s-endian data; the local pool keeps payloads "
				 "as they came and cannot mix byte orders in "
				 "one dataset",
				 big ? "big" : "little", c->ds,
				 c->st.bigendian ? "big" : "little");
	c->st.order_set = true;
	c->st.bigendian = big;
	c->st.objset_type = r->u.begin.objset_type;
	c->st.begin_flags = r->u.begin.flags & BK_DRR_FLAG_CI_DATA;
	c->st.features = (base ? c->st.features : 0) | (feat & DATA_FEATURES);
	if (rec->payload_len) {
		uint8_t *nv = malloc(rec->payload_len);

		if (!nv)
			return bk_error_set(err, BK_ERR_NOMEM, "out of memory");
		memcpy(nv, rec->payload, rec->payload_len);
		free(c->st.nvl);
		c->st.nvl = nv;
		c->st.nvl_len = (uint32_t)rec->payload_len;
	}
	return BK_OK;
}

/* The rules' keep: a payload into its block file. */
static enum bk_code keep_payload(void *ctx, const struct bk_drr_rec *rec,
				 uint8_t hash[BK_ID_LEN], struct bk_error *err)
{
	struct bk_lpool_recv *rx = ctx;
	bool created;
	enum bk_code rc = lp_block_store(rx->p, rec->payload,
					 (size_t)rec->payload_len, hash,
					 &created, err);

	if (!rc && created) {
		rx->res.new_blocks++;
		rx->res.new_bytes += rec->payload_len;
	}
	return rc;
}

/* The rules' zero: the block's file, rewritten with [lo, hi) zeroed. */
static enum bk_code zero_part(void *ctx, struct lp_block *b, uint64_t lo,
			      uint64_t hi, struct bk_error *err)
{
	struct bk_lpool_recv *rx = ctx;
	bool created;
	enum bk_code rc;

	if ((rc = lp_block_load(rx->p, b->hash, b->paylen, &rx->scratch, err)))
		return rc;
	memset(rx->scratch.data + lo, 0, (size_t)(hi - lo));
	return lp_block_store(rx->p, rx->scratch.data, rx->scratch.len,
			      b->hash, &created, err);
}

static enum bk_code ref_state(void *ctx, const struct bk_drr_rec *rec,
			      uint64_t guid, const struct lp_state **st,
			      struct bk_error *err);

/* A BEGIN: a package's header, or a substream that is admitted by the
 * rules of full, incremental and clone streams, then starts its state. */
static enum bk_code on_begin(struct bk_lpool_recv *rx,
			     const struct bk_drr_rec *rec, struct bk_error *err)
{
	const struct bk_drr *r = &rec->hdr;
	struct sub *c = &rx->cur;
	uint64_t feat = BK_DRR_FEATURES(r->u.begin.versioninfo);
	const char *at = strchr(r->u.begin.toname, '@');
	bool is_new = r->u.begin.fromguid == 0 ||
		      (r->u.begin.flags & BK_DRR_FLAG_CLONE);
	struct lp_ds *d;
	struct bk_id base;
	bool have_base = false;
	enum bk_code rc;

	if (!rx->locked) {
		if ((rc = lp_lock(rx->p, LOCK_EX, err)))
			return rc;
		rx->locked = true;
		if ((rc = lp_meta_load(rx->p, &rx->m, err)) ||
		    (rc = lp_dirty(rx->p, err)))
			return rc;
	}
	if (BK_DRR_HDRTYPE(r->u.begin.versioninfo) == BK_DRR_COMPOUNDSTREAM)
		return begin_package(rx, rec, err);
	if (feat & BK_FEAT_RESUMING)
		return lp_at_rec(err, rec, BK_ERR_UNSUPPORTED,
				 "a resumed stream (zfs send -t) continues the "
				 "partial state of an interrupted zfs receive -s, "
				 "which the local pool does not keep; send the "
				 "whole snapshot again");
	if (!at || at == r->u.begin.toname)
		return lp_at_rec(err, rec, BK_ERR_FORMAT,
				 "toname '%s' names no snapshot",
				 r->u.begin.toname);
	lp_state_free(&c->st);
	memset(c, 0, sizeof(*c));
	lp_state_init(&c->st);
	c->keep_snaps = SIZE_MAX;
	if ((rc = map_name(rx, rec, err)))
		return rc;
	d = lp_meta_ds(&rx->m, c->ds);
	if (is_new) {
		rc = admit_full(rx, rec, d, err);
		if (!rc && (r->u.begin.flags & BK_DRR_FLAG_CLONE)) {
			rc = admit_clone(rx, rec, &base, err);
			have_base = true;
		}
	} else {
		rc = admit_incremental(rx, rec, d, &base, err);
		have_base = true;
	}
	if (rc || (rc = check_new_snap(rx, rec, d, err)) ||
	    (rc = start_state(rx, rec, have_base ? &base : NULL, err)))
		return rc;
	c->raw = (feat & BK_FEAT_RAW) != 0;
	c->begin_flags = r->u.begin.flags;
	c->toguid = r->u.begin.toguid;
	c->creation = r->u.begin.creation_time;
	c->txg = ++rx->m.txg;
	c->active = true;
	memset(&rx->ap, 0, sizeof(rx->ap));
	rx->ap.st = &c->st;
	rx->ap.txg = c->txg;
	rx->ap.raw = c->raw;
	rx->ap.begin_flags = c->begin_flags;
	rx->ap.keep = keep_payload;
	rx->ap.zero = zero_part;
	rx->ap.ref_state = ref_state;
	rx->ap.toguid = c->toguid;
	rx->ap.ctx = rx;
	return BK_OK;
}

/* The state WRITE_BYREF's refguid names: this substream's own, or a
 * snapshot received before (in this package or earlier), loaded once. */
static enum bk_code ref_state(void *ctx, const struct bk_drr_rec *rec,
			      uint64_t guid, const struct lp_state **st,
			      struct bk_error *err)
{
	struct bk_lpool_recv *rx = ctx;
	const struct lp_snap *snap;
	const struct lp_ds *in = NULL;
	enum bk_code rc;

	if (guid == rx->cur.toguid) {
		*st = &rx->cur.st;
		return BK_OK;
	}
	if (guid != rx->ref_guid) {
		snap = find_guid(&rx->m, guid, rx->cur.ds, &in);
		if (!snap)
			return lp_at_rec(err, rec, BK_ERR_FORMAT,
					 "refers to snapshot guid %016" PRIx64
					 ", which is neither this stream's nor "
					 "one the pool holds",
					 guid);
		lp_state_free(&rx->ref_st);
		lp_state_init(&rx->ref_st);
		rx->ref_guid = 0;
		if ((rc = lp_state_load(rx->p, &snap->state, &rx->ref_st, err)))
			return rc;
		rx->ref_guid = guid;
	}
	*st = &rx->ref_st;
	return BK_OK;
}

/* A substream's END matched: its snapshot joins the working metadata. */
static enum bk_code on_end(struct bk_lpool_recv *rx, struct bk_error *err)
{
	struct sub *c = &rx->cur;
	struct lp_ds *d;
	struct lp_snap s;
	enum bk_code rc;

	memset(&s, 0, sizeof(s));
	if ((rc = lp_state_store(rx->p, &c->st, &s.state, err)))
		return rc;
	lp_state_usage(&c->st, &s.refer, &s.objects);
	d = lp_meta_ds(&rx->m, c->ds);
	if (!d) {
		if ((rc = lp_meta_add_ds(&rx->m, c->ds, &d, err)))
			return rc;
		d->createtxg = c->txg;
		d->creation = (uint64_t)time(NULL);
	} else if (c->replace) {
		rx->dropped = true;
	}
	if (c->origin[0] || c->replace)
		snprintf(d->origin, sizeof(d->origin), "%s", c->origin);
	if (c->keep_snaps != SIZE_MAX && c->keep_snaps < d->nsnaps) {
		d->nsnaps = c->keep_snaps;
		rx->dropped = true;
	}
	if (memcmp(&d->state, &s.state, sizeof(s.state)) != 0 && d->nsnaps &&
	    memcmp(&d->state, &d->snaps[d->nsnaps - 1].state,
		   sizeof(d->state)) != 0)
		rx->dropped = true; /* -F rolled back changes */
	snprintf(s.name, sizeof(s.name), "%s", c->snap);
	s.guid = c->toguid;
	s.createtxg = c->txg;
	s.creation = c->creation;
	if ((rc = lp_ds_add_snap(d, &s, err)))
		return rc;
	d->state = s.state;
	d->refer = s.refer;
	d->objects = s.objects;
	if (!rx->res.name[0])
		snprintf(rx->res.name, sizeof(rx->res.name), "%s@%s", c->ds,
			 c->snap);
	rx->res.substreams++;
	lp_state_free(&c->st);
	c->active = false;
	return BK_OK;
}

static enum bk_code apply(struct bk_lpool_recv *rx,
			  const struct bk_drr_rec *rec, struct bk_error *err)
{
	uint32_t t = rec->hdr.type;
	enum bk_code rc;

	if (t == BK_DRR_BEGIN)
		return on_begin(rx, rec, err);
	if (t == BK_DRR_END)
		return rec->substream && rx->cur.active ? on_end(rx, err)
							: BK_OK;
	if (!rx->cur.active)
		return lp_at_rec(err, rec, BK_ERR_FORMAT, "outside a substream");
	rc = lp_apply(&rx->ap, rec, err);
	if (rx->ap.maybe_garbage)
		rx->maybe_garbage = true;
	return rc;
}

static enum bk_code drain(struct bk_lpool_recv *rx, struct bk_error *err)
{
	struct bk_drr_rec rec;

	for (;;) {
		enum bk_drr_status s = bk_drr_parser_next(rx->parser, &rec, err);
		enum bk_code rc;

		if (s == BK_DRR_NEED_MORE)
			return BK_OK;
		if (s == BK_DRR_ERROR)
			return err->code;
		if (s == BK_DRR_DONE) {
			rx->done = true;
			return BK_OK;
		}
		if ((rc = apply(rx, &rec, err)))
			return rc;
		rx->res.records++;
	}
}

enum bk_code bk_lpool_recv_write(struct bk_lpool_recv *rx, const void *buf,
				 size_t len, struct bk_error *err)
{
	const uint8_t *p = buf;
	enum bk_code rc;

	while (len) {
		size_t took = bk_drr_parser_feed(rx->parser, p, len);

		p += took;
		len -= took;
		if ((rc = drain(rx, err)))
			return rc;
	}
	return BK_OK;
}

enum bk_code bk_lpool_recv_sink(void *ctx, const void *buf, size_t len,
				struct bk_error *err)
{
	return bk_lpool_recv_write(ctx, buf, len, err);
}

static void recv_free(struct bk_lpool_recv *rx)
{
	lp_state_free(&rx->cur.st);
	lp_state_free(&rx->ref_st);
	lp_meta_free(&rx->m);
	bk_drr_parser_free(rx->parser);
	bk_buf_release(&rx->scratch);
	if (rx->locked)
		lp_unlock(rx->p);
	free(rx);
}

void bk_lpool_recv_abort(struct bk_lpool_recv *rx)
{
	struct bk_error e2;

	if (!rx)
		return;
	/* what it wrote is referenced by nothing: collect it now */
	if (rx->locked)
		lp_gc(rx->p, &e2);
	recv_free(rx);
}

enum bk_code bk_lpool_recv_finish(struct bk_lpool_recv *rx,
				  struct bk_lpool_recv_result *res,
				  struct bk_error *err)
{
	enum bk_code rc;
	struct bk_error e2;

	bk_drr_parser_eof(rx->parser);
	rc = drain(rx, err);
	if (!rc && !rx->done)
		rc = bk_error_set(err, BK_ERR_TRUNCATED,
				  rx->res.records
					  ? "the stream ended early: no END record"
					  : "empty input: no stream");
	if (!rc)
		rc = lp_meta_commit(rx->p, &rx->m, err);
	if (rc) {
		bk_lpool_recv_abort(rx);
		return rc;
	}
	rx->res.bytes = bk_drr_parser_stats(rx->parser)->bytes;
	if (res)
		*res = rx->res;
	if (rx->dropped)
		lp_gc(rx->p, &e2); /* committed: a failure here only delays */
	else if (!rx->maybe_garbage)
		unlinkat(rx->p->dirfd, "dirty", 0);
	recv_free(rx);
	return BK_OK;
}
