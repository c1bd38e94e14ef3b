/* SPDX-License-Identifier: MIT */
/*
 * Dataset operations of the local pool: create, snapshot, rollback,
 * destroy, write, free, list, diff.  Each one loads the metadata under the
 * pool's lock, changes a copy and commits it with one rename.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "backup/clock.h"
#include "backup/util.h"
#include "lpool_impl.h"

/* Start a change: the exclusive lock and the metadata. */
static enum bk_code begin_change(struct bk_lpool *p, struct lp_meta *m,
				 struct bk_error *err)
{
	enum bk_code rc = lp_lock(p, LOCK_EX, err);

	if (rc)
		return rc;
	rc = lp_meta_load(p, m, err);
	if (rc)
		lp_unlock(p);
	return rc;
}

/* Commit m; collect garbage when the change dropped references. */
static enum bk_code end_change(struct bk_lpool *p, struct lp_meta *m,
			       enum bk_code rc, bool gc, struct bk_error *err)
{
	if (!rc)
		rc = lp_meta_commit(p, m, err);
	if (gc || rc) {
		struct bk_error e2;

		/* a failure leaves files nothing refers to: collect them (an
		 * error here does not hide the first one) */
		if (lp_gc(p, rc ? &e2 : err) && !rc)
			rc = err->code;
	}
	lp_meta_free(m);
	lp_unlock(p);
	return rc;
}

static enum bk_code empty_state_id(struct bk_lpool *p, struct bk_id *id,
				   struct bk_error *err)
{
	struct lp_state s;

	lp_state_init(&s);
	return lp_state_store(p, &s, id, err);
}

enum bk_code bk_lpool_create(struct bk_lpool *p, const char *name,
			     bool parents, struct bk_error *err)
{
	struct lp_meta m;
	struct bk_id empty;
	enum bk_code rc;
	char part[BK_LPOOL_NAME_MAX + 1];

	if ((rc = lp_check_name(name, false, err)))
		return rc;
	if ((rc = begin_change(p, &m, err)))
		return rc;
	if (lp_meta_ds(&m, name)) {
		rc = bk_error_set(err, BK_ERR_EXISTS,
				  "dataset %s already exists", name);
		goto out;
	}
	if ((rc = lp_dirty(p, err)) || (rc = empty_state_id(p, &empty, err)))
		goto out;
	m.txg++;
	/* each missing ancestor (only with parents), then the dataset */
	for (const char *s = strchr(name, '/');; s = strchr(s + 1, '/')) {
		size_t n = s ? (size_t)(s - name) : strlen(name);
		struct lp_ds *d;

		memcpy(part, name, n);
		part[n] = '\0';
		if (lp_meta_ds(&m, part)) {
			if (!s)
				break;
			continue;
		}
		if (s && !parents) {
			rc = bk_error_set(err, BK_ERR_NOTFOUND,
					  "cannot create %s: %s %s does not "
					  "exist (zbak pool create -p creates "
					  "parents)",
					  name, strchr(part, '/') ? "parent" : "pool",
					  part);
			goto out;
		}
		if ((rc = lp_meta_add_ds(&m, part, &d, err)))
			goto out;
		d->createtxg = m.txg;
		d->creation = bk_now();
		d->state = empty;
		if (!s)
			break;
	}
out:
	return end_change(p, &m, rc, false, err);
}

static enum bk_code find_ds(struct lp_meta *m, const char *name,
			    struct lp_ds **out, struct bk_error *err)
{
	*out = lp_meta_ds(m, name);
	if (!*out)
		return bk_error_set(err, BK_ERR_NOTFOUND,
				    "dataset %s does not exist", name);
	return BK_OK;
}

static uint64_t new_guid(const struct lp_meta *m)
{
	for (;;) {
		uint64_t g;
		bool used = false;

		bk_random(&g, sizeof(g));
		for (size_t i = 0; g && !used && i < m->nds; i++)
			used = lp_ds_snap_guid(&m->ds[i], g) != NULL;
		if (g && !used)
			return g;
	}
}

enum bk_code bk_lpool_snapshot(struct bk_lpool *p, const char *name,
			       bool recursive, struct bk_error *err)
{
	struct lp_meta m;
	struct lp_ds *d;
	enum bk_code rc;
	char ds[BK_LPOOL_NAME_MAX + 1], snap[BK_LPOOL_NAME_MAX + 1];
	uint64_t now = bk_now();

	if ((rc = lp_check_name(name, true, err)) ||
	    (rc = lp_split(name, ds, sizeof(ds), snap, sizeof(snap), err)))
		return rc;
	if ((rc = begin_change(p, &m, err)))
		return rc;
	if ((rc = find_ds(&m, ds, &d, err)))
		goto out;
	m.txg++;
	for (size_t i = 0; i < m.nds; i++) {
		struct lp_ds *x = &m.ds[i];
		struct lp_snap s;

		if (strcmp(x->name, ds) != 0 &&
		    !(recursive && bk_dataset_below(x->name, ds)))
			continue;
		if (lp_ds_snap(x, snap)) {
			rc = bk_error_set(err, BK_ERR_EXISTS,
					  "snapshot %s@%s already exists",
					  x->name, snap);
			goto out;
		}
		memset(&s, 0, sizeof(s));
		snprintf(s.name, sizeof(s.name), "%s", snap);
		s.guid = new_guid(&m);
		s.createtxg = m.txg;
		s.creation = now;
		s.refer = x->refer;
		s.objects = x->objects;
		s.state = x->state;
		if ((rc = lp_ds_add_snap(x, &s, err)))
			goto out;
	}
out:
	return end_change(p, &m, rc, false, err);
}

/* Clones (datasets whose origin is ds@snap). */
static struct lp_ds *first_clone(const struct lp_meta *m, const char *ds,
				 const char *snap)
{
	char full[LP_NAME_MAX];

	snprintf(full, sizeof(full), "%s@%s", ds, snap);
	for (size_t i = 0; i < m->nds; i++)
		if (strcmp(m->ds[i].origin, full) == 0)
			return &m->ds[i];
	return NULL;
}

enum bk_code bk_lpool_rollback(struct bk_lpool *p, const char *name,
			       bool destroy_later, struct bk_error *err)
{
	struct lp_meta m;
	struct lp_ds *d;
	struct lp_snap *s;
	enum bk_code rc;
	const char *ds;
	size_t i;

	if ((rc = lp_check_name(name, true, err)))
		return rc;
	if ((rc = begin_change(p, &m, err)))
		return rc;
	if ((rc = lp_meta_snap(&m, name, &d, &s, err)))
		goto out;
	ds = d->name;
	i = (size_t)(s - d->snaps);
	if (i + 1 < d->nsnaps && !destroy_later) {
		rc = bk_error_set(err, BK_ERR_EXISTS,
				  "cannot roll back to %s: more recent "
				  "snapshots exist (%s@%s); use -r to destroy "
				  "them",
				  name, ds, d->snaps[d->nsnaps - 1].name);
		goto out;
	}
	for (size_t j = i + 1; j < d->nsnaps; j++) {
		struct lp_ds *c = first_clone(&m, ds, d->snaps[j].name);

		if (c) {
			rc = bk_error_set(err, BK_ERR_EXISTS,
					  "cannot roll back to %s: %s@%s has "
					  "a dependent clone %s",
					  name, ds, d->snaps[j].name, c->name);
			goto out;
		}
	}
	d->nsnaps = i + 1;
	d->state = d->snaps[i].state;
	d->refer = d->snaps[i].refer;
	d->objects = d->snaps[i].objects;
	m.txg++;
out:
	return end_change(p, &m, rc, !rc, err);
}

/* Remove dataset `top` and its descendants from m.  Clones of their
 * snapshots outside the tree go too with dependents, else refuse. */
static enum bk_code destroy_tree(struct lp_meta *m, const char *name,
				 bool dependents, struct bk_error *err)
{
	char top[BK_LPOOL_NAME_MAX + 1];

	snprintf(top, sizeof(top), "%s", name);
again:
	for (size_t i = 0; i < m->nds; i++) {
		struct lp_ds *d = &m->ds[i];

		if (strcmp(d->name, top) && !bk_dataset_below(d->name, top))
			continue;
		for (size_t j = 0; j < d->nsnaps; j++) {
			struct lp_ds *c = first_clone(m, d->name,
						      d->snaps[j].name);
			char cn[BK_LPOOL_NAME_MAX + 1];
			enum bk_code rc;

			if (!c || !strcmp(c->name, top) ||
			    bk_dataset_below(c->name, top))
				continue;
			if (!dependents)
				return bk_error_set(
					err, BK_ERR_EXISTS,
					"cannot destroy %s: snapshot %s@%s has "
					"a dependent clone %s (use -R to "
					"destroy it too)",
					top, d->name, d->snaps[j].name, c->name);
			snprintf(cn, sizeof(cn), "%s", c->name);
			if ((rc = destroy_tree(m, cn, true, err)))
				return rc;
			goto again; /* m changed */
		}
	}
	for (size_t i = m->nds; i-- > 0;) {
		struct lp_ds *d = &m->ds[i];

		if (!strcmp(d->name, top) || bk_dataset_below(d->name, top))
			lp_meta_remove_ds(m, d);
	}
	return BK_OK;
}

/* Remove snapshot ds@snap (and its clones, with dependents). */
static enum bk_code destroy_snap(struct lp_meta *m, const char *ds,
				 const char *snap, bool dependents,
				 struct bk_error *err)
{
	struct lp_ds *d, *c;
	struct lp_snap *s;

	while ((c = first_clone(m, ds, snap))) {
		char cn[BK_LPOOL_NAME_MAX + 1];
		enum bk_code rc;

		if (!dependents)
			return bk_error_set(err, BK_ERR_EXISTS,
					    "cannot destroy %s@%s: it has a "
					    "dependent clone %s (use -R to "
					    "destroy it too)",
					    ds, snap, c->name);
		snprintf(cn, sizeof(cn), "%s", c->name);
		if ((rc = destroy_tree(m, cn, true, err)))
			return rc;
	}
	d = lp_meta_ds(m, ds);
	s = d ? lp_ds_snap(d, snap) : NULL;
	if (s)
		lp_ds_remove_snap(d, (size_t)(s - d->snaps));
	return BK_OK;
}

enum bk_code bk_lpool_destroy(struct bk_lpool *p, const char *name,
			      bool recursive, bool dependents,
			      struct bk_error *err)
{
	struct lp_meta m;
	struct lp_ds *d;
	enum bk_code rc;
	char ds[BK_LPOOL_NAME_MAX + 1], snap[BK_LPOOL_NAME_MAX + 1];
	bool is_snap = strchr(name, '@') != NULL;

	if ((rc = lp_check_name(name, is_snap, err)) ||
	    (rc = lp_split(name, ds, sizeof(ds), snap, sizeof(snap), err)))
		return rc;
	if ((rc = begin_change(p, &m, err)))
		return rc;
	if ((rc = find_ds(&m, ds, &d, err)))
		goto out;
	if (is_snap) {
		char names[64][BK_LPOOL_NAME_MAX + 1];
		size_t n = 0;

		if (!lp_ds_snap(d, snap)) {
			rc = bk_error_set(err, BK_ERR_NOTFOUND,
					  "snapshot %s does not exist", name);
			goto out;
		}
		/* this dataset's, then with -r every descendant's of the name */
		for (size_t i = 0; i < m.nds; i++) {
			struct lp_ds *x = &m.ds[i];

			if ((!strcmp(x->name, ds) ||
			     (recursive && bk_dataset_below(x->name, ds))) &&
			    lp_ds_snap(x, snap)) {
				if (n == sizeof(names) / sizeof(names[0])) {
					rc = bk_error_set(
						err, BK_ERR_LIMIT,
						"more than %zu snapshots named "
						"@%s: destroy them in parts",
						n, snap);
					goto out;
				}
				snprintf(names[n++], sizeof(names[0]), "%s",
					 x->name);
			}
		}
		for (size_t i = 0; !rc && i < n; i++)
			if (lp_meta_ds(&m, names[i]))
				rc = destroy_snap(&m, names[i], snap,
						  dependents, err);
		if (rc)
			goto out;
	} else {
		if (!recursive) {
			for (size_t i = 0; i < m.nds; i++)
				if (bk_dataset_below(m.ds[i].name, ds)) {
					rc = bk_error_set(
						err, BK_ERR_EXISTS,
						"cannot destroy %s: it has "
						"children (%s); use -r",
						ds, m.ds[i].name);
					goto out;
				}
			if (d->nsnaps) {
				rc = bk_error_set(err, BK_ERR_EXISTS,
						  "cannot destroy %s: it has "
						  "snapshots (%s@%s); use -r",
						  ds, ds, d->snaps[0].name);
				goto out;
			}
		}
		if ((rc = destroy_tree(&m, ds, dependents, err)))
			goto out;
	}
	m.txg++;
out:
	return end_change(p, &m, rc, !rc, err);
}

/* ---- write and free ---------------------------------------------------- */

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

static enum bk_code check_plain(const struct lp_object *o,
				const struct lp_block *b, const char *what,
				struct bk_error *err)
{
	if (b->kind == LP_DATA && b->psize == 0 && b->compression == 0 &&
	    b->paylen == b->lsize && all_zero(b->mac, sizeof(b->mac)) &&
	    all_zero(b->iv, sizeof(b->iv)))
		return BK_OK;
	return bk_error_set(err, BK_ERR_UNSUPPORTED,
			    "cannot %s part of the block at offset %" PRIu64
			    " of object %" PRIu64
			    ": it is kept %s, as it was received; %s whole "
			    "blocks instead",
			    what, b->offset, o->object,
			    b->kind == LP_EMBEDDED ? "embedded"
			    : b->kind == LP_REDACT ? "redacted"
						   : "compressed or encrypted",
			    what);
}

struct changer {
	struct bk_lpool *p;
	struct lp_object *o;
	uint64_t txg;
	struct bk_buf blk;  /* the block being assembled */
	uint64_t blkid;     /* which one */
	uint32_t lo, hi;    /* bytes of it written so far */
	bool have;
};

/* Store the assembled block (merged with the old one when partial). */
static enum bk_code flush_block(struct changer *c, struct bk_error *err)
{
	struct lp_object *o = c->o;
	uint64_t off = c->blkid * o->blksz;
	long i = lp_object_find_block(o, off, NULL);
	struct lp_block b;
	bool created;
	enum bk_code rc;

	if (!c->have)
		return BK_OK;
	c->have = false;
	if ((c->lo > 0 || c->hi < o->blksz) && i >= 0 &&
	    o->blocks[i].kind != LP_REDACT) {
		struct bk_buf old;

		if ((rc = check_plain(o, &o->blocks[i], "write", err)))
			return rc;
		bk_buf_init(&old, BK_DRR_MAX_PAYLOAD);
		rc = lp_block_load(c->p, o->blocks[i].hash, o->blocks[i].paylen,
				   &old, err);
		if (!rc) {
			memcpy(c->blk.data, old.data,
			       old.len < c->lo ? old.len : c->lo);
			if (old.len > c->hi)
				memcpy(c->blk.data + c->hi, old.data + c->hi,
				       old.len - c->hi);
		}
		bk_buf_release(&old);
		if (rc)
			return rc;
	}
	memset(&b, 0, sizeof(b));
	b.offset = off;
	b.birth = c->txg;
	b.lsize = o->blksz;
	b.paylen = o->blksz;
	b.kind = LP_DATA;
	b.type = 19;
	rc = lp_block_store(c->p, c->blk.data, o->blksz, b.hash, &created, err);
	if (!rc)
		rc = lp_object_put_block(o, &b, err);
	if (!rc && c->blkid > o->maxblkid)
		o->maxblkid = c->blkid;
	return rc;
}

static enum bk_code start_block(struct changer *c, uint64_t blkid,
				struct bk_error *err)
{
	enum bk_code rc = bk_buf_reserve(&c->blk, c->o->blksz, err);

	if (rc)
		return rc;
	memset(c->blk.data, 0, c->o->blksz);
	c->blkid = blkid;
	c->lo = c->o->blksz;
	c->hi = 0;
	c->have = true;
	return BK_OK;
}

/* Load ds's live state for a change. */
static enum bk_code live_state(struct bk_lpool *p, struct lp_meta *m,
			       const char *ds, struct lp_ds **d,
			       struct lp_state *s, struct bk_error *err)
{
	enum bk_code rc = find_ds(m, ds, d, err);

	if (!rc)
		rc = lp_state_load(p, &(*d)->state, s, err);
	return rc;
}

static enum bk_code save_live(struct bk_lpool *p, struct lp_ds *d,
			      struct lp_state *s, struct bk_error *err)
{
	enum bk_code rc = lp_state_store(p, s, &d->state, err);

	if (!rc)
		lp_state_usage(s, &d->refer, &d->objects);
	return rc;
}

enum bk_code bk_lpool_write(struct bk_lpool *p, const char *dsname,
			    uint64_t object, uint64_t offset, int fd,
			    uint32_t blksz, struct bk_error *err)
{
	struct lp_meta m;
	struct lp_ds *d;
	struct lp_state s;
	struct changer c;
	enum bk_code rc;
	uint8_t *in = NULL;
	uint64_t pos = offset;
	long oi;
	size_t at;

	lp_state_init(&s);
	memset(&c, 0, sizeof(c));
	bk_buf_init(&c.blk, BK_DRR_MAX_PAYLOAD + 1);
	if (object == 0 || object > BK_DRR_MAX_OBJECT)
		return bk_error_set(err, BK_ERR_USAGE,
				    "object number %" PRIu64
				    " is outside 1..2^48-1",
				    object);
	if (blksz && (blksz % 512 || blksz > BK_DRR_MAX_PAYLOAD ||
		      (blksz > 131072 && (blksz & (blksz - 1)))))
		return bk_error_set(err, BK_ERR_USAGE,
				    "block size %u: a multiple of 512 up to "
				    "128K, or a power of two up to 16M",
				    blksz);
	if ((rc = lp_check_name(dsname, false, err)))
		return rc;
	if ((rc = begin_change(p, &m, err)))
		return rc;
	if ((rc = live_state(p, &m, dsname, &d, &s, err)) ||
	    (rc = lp_dirty(p, err)))
		goto out;
	if (s.features & BK_FEAT_RAW) {
		rc = bk_error_set(err, BK_ERR_UNSUPPORTED,
				  "%s holds raw (encrypted) data as it was "
				  "received: plaintext written into it could "
				  "never be sent as a valid raw stream",
				  dsname);
		goto out;
	}
	m.txg++;
	oi = lp_state_find(&s, object, &at);
	if (oi < 0) {
		struct lp_object *o;

		if ((rc = lp_state_insert(&s, at, object, &o, err)))
			goto out;
		o->type = 19;      /* plain file contents */
		o->bonustype = 44; /* SA */
		o->blksz = blksz ? blksz : BK_LPOOL_DEFAULT_BLKSZ;
		o->dn_slots = 1;
		oi = (long)at;
	} else if (blksz && s.objs[oi].blksz != blksz) {
		rc = bk_error_set(err, BK_ERR_USAGE,
				  "object %" PRIu64 " has block size %u, not %u",
				  object, s.objs[oi].blksz, blksz);
		goto out;
	}
	c.p = p;
	c.o = &s.objs[oi];
	c.o->birth = m.txg;
	c.txg = m.txg;
	in = malloc(1u << 20);
	if (!in) {
		rc = bk_error_set(err, BK_ERR_NOMEM, "out of memory");
		goto out;
	}
	for (;;) {
		ssize_t n = read(fd, in, 1u << 20);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = bk_error_set(err, BK_ERR_IO, "reading the data: %s",
					  strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		if (pos + (uint64_t)n < pos ||
		    (pos + (uint64_t)n) / c.o->blksz > (UINT64_C(1) << 40)) {
			rc = bk_error_set(err, BK_ERR_USAGE,
					  "write past the largest offset");
			goto out;
		}
		for (size_t done = 0; done < (size_t)n;) {
			uint64_t blkid = pos / c.o->blksz;
			uint32_t boff = (uint32_t)(pos % c.o->blksz);
			size_t take = c.o->blksz - boff;

			if (take > (size_t)n - done)
				take = (size_t)n - done;
			if (!c.have || c.blkid != blkid) {
				if ((rc = flush_block(&c, err)) ||
				    (rc = start_block(&c, blkid, err)))
					goto out;
			}
			memcpy(c.blk.data + boff, in + done, take);
			if (boff < c.lo)
				c.lo = boff;
			if (boff + take > c.hi)
				c.hi = (uint32_t)(boff + take);
			done += take;
			pos += take;
		}
	}
	if ((rc = flush_block(&c, err)))
		goto out;
	rc = save_live(p, d, &s, err);
out:
	free(in);
	bk_buf_release(&c.blk);
	lp_state_free(&s);
	return end_change(p, &m, rc, !rc, err);
}

enum bk_code bk_lpool_free(struct bk_lpool *p, const char *dsname,
			   uint64_t object, bool whole_object, uint64_t offset,
			   uint64_t length, struct bk_error *err)
{
	struct lp_meta m;
	struct lp_ds *d;
	struct lp_state s;
	enum bk_code rc;
	long oi;
	uint64_t end = length > UINT64_MAX - offset ? UINT64_MAX
						    : offset + length;

	lp_state_init(&s);
	if ((rc = lp_check_name(dsname, false, err)))
		return rc;
	if ((rc = begin_change(p, &m, err)))
		return rc;
	if ((rc = live_state(p, &m, dsname, &d, &s, err)) ||
	    (rc = lp_dirty(p, err)))
		goto out;
	m.txg++;
	oi = lp_state_find(&s, object, NULL);
	if (oi < 0) {
		rc = bk_error_set(err, BK_ERR_NOTFOUND,
				  "%s has no object %" PRIu64, dsname, object);
		goto out;
	}
	if (whole_object) {
		lp_state_remove(&s, (size_t)oi);
	} else {
		struct lp_object *o = &s.objs[oi];
		struct bk_buf blk;

		o->birth = m.txg;
		bk_buf_init(&blk, BK_DRR_MAX_PAYLOAD + 1);
		for (size_t i = 0; !rc && i < o->nblocks;) {
			struct lp_block *b = &o->blocks[i];
			uint64_t bend = b->offset + b->lsize;
			uint64_t lo, hi;
			bool created;

			if (bend <= offset || b->offset >= end) {
				i++;
				continue;
			}
			if (b->offset >= offset && bend <= end) {
				lp_object_remove_blocks(o, i, i + 1);
				continue;
			}
			/* part of a block: zero that part */
			if ((rc = check_plain(o, b, "free", err)) ||
			    (rc = lp_block_load(p, b->hash, b->paylen, &blk,
						err)))
				break;
			lo = offset > b->offset ? offset - b->offset : 0;
			hi = (end < bend ? end : bend) - b->offset;
			memset(blk.data + lo, 0, (size_t)(hi - lo));
			rc = lp_block_store(p, blk.data, blk.len, b->hash,
					    &created, err);
			b->birth = m.txg;
			i++;
		}
		bk_buf_release(&blk);
	}
	if (!rc)
		rc = save_live(p, d, &s, err);
out:
	lp_state_free(&s);
	return end_change(p, &m, rc, !rc, err);
}

/* ---- list ---------------------------------------------------------------- */

static enum bk_code add_entry(struct bk_lpool_entry **v, size_t *n,
			      size_t *cap, struct bk_lpool_entry **out,
			      struct bk_error *err)
{
	if (*n == *cap) {
		size_t nc = *cap ? 2 * *cap : 16;
		struct bk_lpool_entry *nv = realloc(*v, nc * sizeof(*nv));

		if (!nv)
			return bk_error_set(err, BK_ERR_NOMEM, "out of memory");
		*v = nv;
		*cap = nc;
	}
	*out = &(*v)[(*n)++];
	memset(*out, 0, sizeof(**out));
	return BK_OK;
}

enum bk_code bk_lpool_list(struct bk_lpool *p, const char *root,
			   bool recursive, unsigned types,
			   struct bk_lpool_entry **out, size_t *n,
			   struct bk_error *err)
{
	struct lp_meta m;
	struct bk_lpool_entry *v = NULL, *e;
	size_t cap = 0;
	enum bk_code rc;
	char ds[BK_LPOOL_NAME_MAX + 1], snap[BK_LPOOL_NAME_MAX + 1] = "";

	*out = NULL;
	*n = 0;
	if (root) {
		bool is_snap = strchr(root, '@') != NULL;

		if ((rc = lp_check_name(root, is_snap, err)) ||
		    (rc = lp_split(root, ds, sizeof(ds), snap, sizeof(snap),
				   err)))
			return rc;
	}
	/* the metadata changes by rename: reading it needs no lock */
	if ((rc = lp_meta_load(p, &m, err)))
		return rc;
	if (root && !lp_meta_ds(&m, ds)) {
		rc = bk_error_set(err, BK_ERR_NOTFOUND,
				  "dataset %s does not exist", ds);
		goto out;
	}
	if (root && snap[0] && !lp_ds_snap(lp_meta_ds(&m, ds), snap)) {
		rc = bk_error_set(err, BK_ERR_NOTFOUND,
				  "snapshot %s does not exist", root);
		goto out;
	}
	/* as zfs list: datasets by name, each followed (with -t snapshot or
	 * all) by its snapshots by createtxg */
	for (size_t i = 0; i < m.nds; i++) {
		const struct lp_ds *d = &m.ds[i];
		bool in = !root || !strcmp(d->name, ds) ||
			  (recursive && bk_dataset_below(d->name, ds));

		if (!in)
			continue;
		if ((types & BK_LPOOL_FILESYSTEM) && !snap[0]) {
			if ((rc = add_entry(&v, n, &cap, &e, err)))
				goto out;
			snprintf(e->name, sizeof(e->name), "%s", d->name);
			e->type = BK_LPOOL_FILESYSTEM;
			e->createtxg = d->createtxg;
			e->creation = d->creation;
			e->referenced = d->refer;
			e->objects = d->objects;
			snprintf(e->origin, sizeof(e->origin), "%s", d->origin);
			e->modified =
				d->nsnaps ? memcmp(&d->state,
						   &d->snaps[d->nsnaps - 1].state,
						   sizeof(d->state)) != 0
					  : d->objects != 0;
		}
		if (!(types & BK_LPOOL_SNAPSHOT))
			continue;
		for (size_t j = 0; j < d->nsnaps; j++) {
			const struct lp_snap *s = &d->snaps[j];

			if (snap[0] && strcmp(s->name, snap))
				continue;
			if ((rc = add_entry(&v, n, &cap, &e, err)))
				goto out;
			snprintf(e->name, sizeof(e->name), "%s@%s", d->name,
				 s->name);
			e->type = BK_LPOOL_SNAPSHOT;
			e->guid = s->guid;
			e->createtxg = s->createtxg;
			e->creation = s->creation;
			e->referenced = s->refer;
			e->objects = s->objects;
			for (const char *t = s->holds; *t; t++)
				e->userrefs += t == s->holds || t[-1] == ' ';
		}
	}
out:
	lp_meta_free(&m);
	if (rc) {
		free(v);
		*n = 0;
		return rc;
	}
	*out = v;
	return BK_OK;
}

/* ---- diff ---------------------------------------------------------------- */

/* Resolve pool/fs or pool/fs@snap to a state id (shared lock held). */
static enum bk_code resolve(struct bk_lpool *p, const char *name,
			    struct bk_id *id, struct bk_error *err)
{
	struct lp_meta m;
	struct lp_ds *d;
	struct lp_snap *s;
	enum bk_code rc;

	if ((rc = lp_check_name(name, strchr(name, '@') != NULL, err)) ||
	    (rc = lp_meta_load(p, &m, err)))
		return rc;
	if (strchr(name, '@')) {
		if (!(rc = lp_meta_snap(&m, name, &d, &s, err)))
			*id = s->state;
	} else if (!(rc = find_ds(&m, name, &d, err))) {
		*id = d->state;
	}
	lp_meta_free(&m);
	return rc;
}

struct differ {
	bk_lpool_diff_fn fn;
	void *ctx;
	uint64_t count;
};

static void differ_say(struct differ *df, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void differ_say(struct differ *df, const char *fmt, ...)
{
	char line[BK_LPOOL_DIFF_MAX];
	va_list ap;

	df->count++;
	if (!df->fn || df->count > 1000)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	df->fn(df->ctx, line);
}

static bool block_equal(const struct lp_block *a, const struct lp_block *b)
{
	return a->offset == b->offset && a->lsize == b->lsize &&
	       a->psize == b->psize && a->kind == b->kind &&
	       a->type == b->type && a->checksumtype == b->checksumtype &&
	       a->flags == b->flags && a->compression == b->compression &&
	       a->etype == b->etype && a->key_prop == b->key_prop &&
	       !memcmp(&a->key_cksum, &b->key_cksum, sizeof(a->key_cksum)) &&
	       !memcmp(a->salt, b->salt, 8) && !memcmp(a->iv, b->iv, 12) &&
	       !memcmp(a->mac, b->mac, 16) && a->paylen == b->paylen &&
	       !memcmp(a->hash, b->hash, BK_ID_LEN);
}

static void diff_object(struct differ *df, const struct lp_object *a,
			const struct lp_object *b)
{
	size_t i = 0, j = 0;

#define F(f)                                                             \
	if (a->f != b->f)                                                \
		differ_say(df, "object %" PRIu64 ": " #f " %" PRIu64       \
			       " != %" PRIu64,                             \
			   a->object, (uint64_t)a->f, (uint64_t)b->f);
	F(type) F(bonustype) F(blksz) F(bonuslen) F(raw_bonuslen)
	F(checksumtype) F(compress) F(dn_slots) F(flags) F(indblkshift)
	F(nlevels) F(nblkptr) F(maxblkid)
#undef F
	if (a->bonus_paylen != b->bonus_paylen ||
	    (a->bonus_paylen && memcmp(a->bonus, b->bonus, a->bonus_paylen)))
		differ_say(df, "object %" PRIu64 ": bonus buffers differ",
			   a->object);
	if (a->has_spill != b->has_spill ||
	    (a->has_spill &&
	     (a->spill.length != b->spill.length ||
	      a->spill.type != b->spill.type ||
	      a->spill.flags != b->spill.flags ||
	      a->spill.compression != b->spill.compression ||
	      a->spill.compressed_size != b->spill.compressed_size ||
	      memcmp(a->spill.hash, b->spill.hash, BK_ID_LEN))))
		differ_say(df, "object %" PRIu64 ": spill blocks differ",
			   a->object);
	while (i < a->nblocks || j < b->nblocks) {
		const struct lp_block *x = i < a->nblocks ? &a->blocks[i] : NULL;
		const struct lp_block *y = j < b->nblocks ? &b->blocks[j] : NULL;

		if (x && (!y || x->offset < y->offset)) {
			differ_say(df, "object %" PRIu64 " offset %" PRIu64
				       ": only in the first",
				   a->object, x->offset);
			i++;
		} else if (y && (!x || y->offset < x->offset)) {
			differ_say(df, "object %" PRIu64 " offset %" PRIu64
				       ": only in the second",
				   a->object, y->offset);
			j++;
		} else {
			if (!block_equal(x, y))
				differ_say(df, "object %" PRIu64
					       " offset %" PRIu64 ": differs",
					   a->object, x->offset);
			i++;
			j++;
		}
	}
}

enum bk_code bk_lpool_diff(struct bk_lpool *pa, const char *na,
			   struct bk_lpool *pb, const char *nb,
			   bk_lpool_diff_fn fn, void *ctx,
			   uint64_t *differences, struct bk_error *err)
{
	struct lp_state a, b;
	struct bk_id ia, ib;
	struct differ df = { fn, ctx, 0 };
	enum bk_code rc;
	size_t i = 0, j = 0;

	lp_state_init(&a);
	lp_state_init(&b);
	*differences = 0;
	/* pinned, the files the metadata names stay while we read them */
	if ((rc = lp_pin(pa, err)))
		return rc;
	rc = resolve(pa, na, &ia, err);
	if (!rc)
		rc = lp_state_load(pa, &ia, &a, err);
	lp_unpin(pa);
	if (rc)
		return rc;
	if ((rc = lp_pin(pb, err)))
		goto out;
	rc = resolve(pb, nb, &ib, err);
	if (!rc)
		rc = lp_state_load(pb, &ib, &b, err);
	lp_unpin(pb);
	if (rc)
		goto out;
	while (i < a.nobjs || j < b.nobjs) {
		const struct lp_object *x = i < a.nobjs ? &a.objs[i] : NULL;
		const struct lp_object *y = j < b.nobjs ? &b.objs[j] : NULL;

		if (x && (!y || x->object < y->object)) {
			differ_say(&df, "object %" PRIu64 ": only in %s",
				   x->object, na);
			i++;
		} else if (y && (!x || y->object < x->object)) {
			differ_say(&df, "object %" PRIu64 ": only in %s",
				   y->object, nb);
			j++;
		} else {
			diff_object(&df, x, y);
			i++;
			j++;
		}
	}
	if (a.nranges != b.nranges)
		differ_say(&df, "object ranges: %zu != %zu", a.nranges,
			   b.nranges);
	for (size_t k = 0; k < a.nranges && k < b.nranges; k++)
		if (a.ranges[k].firstobj != b.ranges[k].firstobj ||
		    a.ranges[k].numslots != b.ranges[k].numslots ||
		    a.ranges[k].flags != b.ranges[k].flags ||
		    memcmp(a.ranges[k].salt, b.ranges[k].salt, 8) ||
		    memcmp(a.ranges[k].iv, b.ranges[k].iv, 12) ||
		    memcmp(a.ranges[k].mac, b.ranges[k].mac, 16))
			differ_say(&df, "object range at %" PRIu64 " differs",
				   a.ranges[k].firstobj);
	*differences = df.count;
out:
	lp_state_free(&a);
	lp_state_free(&b);
	return rc;
}

/* ---- holds ---------------------------------------------------------------- */

static enum bk_code find_snap(struct lp_meta *m, const char *name,
			      struct lp_snap **out, struct bk_error *err)
{
	struct lp_ds *d;

	return lp_meta_snap(m, name, &d, out, err);
}

static enum bk_code add_hold(struct lp_snap *s, const char *snap,
			     const char *tag, struct bk_error *err)
{
	if (lp_holds_has(s->holds, tag))
		return bk_error_set(err, BK_ERR_EXISTS,
				    "cannot hold %s: tag %s already exists on "
				    "it",
				    snap, tag);
	if (!lp_holds_add(s->holds, tag))
		return bk_error_set(err, BK_ERR_LIMIT,
				    "cannot hold %s: too many holds (%s)", snap,
				    s->holds);
	return BK_OK;
}

static enum bk_code drop_hold(struct lp_snap *s, const char *snap,
			      const char *tag, struct bk_error *err)
{
	char kept[BK_LPOOL_HOLDS_MAX + 1] = "";
	size_t k = 0;

	if (!lp_holds_has(s->holds, tag))
		return bk_error_set(err, BK_ERR_NOTFOUND,
				    "cannot release %s: no such tag %s on it",
				    snap, tag);
	for (const char *t = s->holds; *t;) {
		size_t n = strcspn(t, " ");

		if (!(n == strlen(tag) && memcmp(t, tag, n) == 0)) {
			k += (size_t)snprintf(kept + k, sizeof(kept) - k,
					      "%s%.*s", k ? " " : "", (int)n,
					      t);
		}
		t += n;
		while (*t == ' ')
			t++;
	}
	memcpy(s->holds, kept, sizeof(kept));
	return BK_OK;
}

/* A hold put on (hold) or taken off a snapshot, in one change. */
static enum bk_code change_hold(struct bk_lpool *p, const char *snap,
				const char *tag, bool hold,
				struct bk_error *err)
{
	struct lp_meta m;
	struct lp_snap *s;
	enum bk_code rc;

	if ((rc = lp_check_tag(tag, err)) ||
	    (rc = lp_check_name(snap, true, err)))
		return rc;
	if ((rc = begin_change(p, &m, err)))
		return rc;
	rc = find_snap(&m, snap, &s, err);
	if (!rc)
		rc = hold ? add_hold(s, snap, tag, err)
			  : drop_hold(s, snap, tag, err);
	return end_change(p, &m, rc, false, err);
}

enum bk_code bk_lpool_hold(struct bk_lpool *p, const char *snap,
			   const char *tag, struct bk_error *err)
{
	return change_hold(p, snap, tag, true, err);
}

enum bk_code bk_lpool_release(struct bk_lpool *p, const char *snap,
			      const char *tag, struct bk_error *err)
{
	return change_hold(p, snap, tag, false, err);
}

enum bk_code bk_lpool_holds(struct bk_lpool *p, const char *snap, char *out,
			    size_t n, struct bk_error *err)
{
	struct lp_meta m;
	struct lp_snap *s;
	enum bk_code rc;

	if (n)
		out[0] = '\0';
	if (n <= BK_LPOOL_HOLDS_MAX)
		return bk_error_set(err, BK_ERR_USAGE,
				    "bk_lpool_holds: buffer too small");
	if ((rc = lp_check_name(snap, true, err)))
		return rc;
	if ((rc = lp_meta_load(p, &m, err)))
		return rc;
	rc = find_snap(&m, snap, &s, err);
	if (!rc)
		snprintf(out, n, "%s", s->holds);
	lp_meta_free(&m);
	return rc;
}
