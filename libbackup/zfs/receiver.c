/* SPDX-License-Identifier: MIT */
/*
 * Receivers: the local pool or zfs receive behind one interface
 * (include/backup/receiver.h).  It sits with the zfs adapter (its layer in
 * docs/architecture.md) because it uses the local pool below it.
 */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backup/lpool.h"
#include "backup/receiver.h"
#include "backup/zfs.h"

struct bk_receiver {
	enum bk_receiver_kind kind; /* LOCAL or ZFS */
	const char *target;         /* borrowed */
	bool force;
	char describe[4200];
	/* local */
	struct bk_lpool *pool;
	struct bk_lpool_recv *lrx;
	/* zfs */
	struct bk_zfs_recv *zrx;
	uint8_t hold[BK_RECEIVER_HOLD_BACK];
	size_t held;
	/* the stream in progress */
	bool open;
	uint64_t bytes;
};

enum bk_code bk_receiver_kind_parse(const char *s, enum bk_receiver_kind *out,
				    struct bk_error *err)
{
	if (strcmp(s, "auto") == 0)
		*out = BK_RECEIVER_AUTO;
	else if (strcmp(s, "local") == 0)
		*out = BK_RECEIVER_LOCAL;
	else if (strcmp(s, "zfs") == 0)
		*out = BK_RECEIVER_ZFS;
	else
		return bk_error_set(err, BK_ERR_USAGE,
				    "receiver '%s': auto, zfs or local", s);
	return BK_OK;
}

const char *bk_receiver_kind_name(enum bk_receiver_kind k)
{
	switch (k) {
	case BK_RECEIVER_AUTO: return "auto";
	case BK_RECEIVER_LOCAL: return "local";
	case BK_RECEIVER_ZFS: return "zfs";
	}
	return "unknown";
}

/* A dataset name: pool[/fs...], no snapshot, within ZFS's length. */
static enum bk_code check_target(const char *t, struct bk_error *err)
{
	size_t n = strlen(t);

	if (n == 0 || n > BK_ZFS_NAME_MAX)
		return bk_error_set(err, BK_ERR_USAGE,
				    "target '%.60s': a dataset name of 1 to %u "
				    "bytes",
				    t, BK_ZFS_NAME_MAX);
	if (strchr(t, '@') || strchr(t, '#'))
		return bk_error_set(err, BK_ERR_USAGE,
				    "target %s: a dataset (pool/fs), not a "
				    "snapshot or bookmark",
				    t);
	if (t[0] == '/' || t[0] == '-' || t[n - 1] == '/' || strstr(t, "//"))
		return bk_error_set(err, BK_ERR_USAGE,
				    "target '%s' is not a dataset name", t);
	return BK_OK;
}

/* AUTO: zfs when there is a zfs command and the pool is a ZFS pool. */
static enum bk_receiver_kind choose(const char *target)
{
	char pool[BK_ZFS_NAME_MAX + 1];
	struct bk_error err;
	bool exists = false;

	if (!bk_zfs_available())
		return BK_RECEIVER_LOCAL;
	snprintf(pool, sizeof(pool), "%.*s", (int)strcspn(target, "/"),
		 target);
	if (bk_zfs_exists(pool, &exists, &err) != BK_OK || !exists)
		return BK_RECEIVER_LOCAL;
	return BK_RECEIVER_ZFS;
}

enum bk_code bk_receiver_open(const char *target,
			      const struct bk_receiver_opts *o,
			      struct bk_receiver **out, struct bk_error *err)
{
	struct bk_receiver *rv = NULL;
	enum bk_receiver_kind kind = o ? o->kind : BK_RECEIVER_AUTO;
	char dirbuf[4096];
	const char *dir;
	enum bk_code rc;

	*out = NULL;
	rc = check_target(target, err);
	if (rc)
		return rc;
	if (kind == BK_RECEIVER_AUTO)
		kind = choose(target);
	rv = calloc(1, sizeof(*rv));
	if (!rv)
		return bk_error_set(err, BK_ERR_NOMEM, "out of memory");
	rv->kind = kind;
	rv->target = target;
	rv->force = o && o->force;
	if (kind == BK_RECEIVER_ZFS) {
		if (!bk_zfs_available()) {
			rc = bk_error_set(err, BK_ERR_NOTFOUND,
					  "the zfs command '%s' was not found "
					  "(set $ZBAK_ZFS, or use the local "
					  "pool: --receiver local)",
					  bk_zfs_command());
			goto out;
		}
		snprintf(rv->describe, sizeof(rv->describe),
			 "zfs receive (%s)", bk_zfs_command());
		goto out;
	}
	dir = o && o->pool_dir ? o->pool_dir
			       : bk_lpool_default_dir(dirbuf, sizeof(dirbuf));
	if (!dir) {
		rc = bk_error_set(err, BK_ERR_USAGE,
				  "the local pool's directory name is too "
				  "long");
		goto out;
	}
	rc = bk_lpool_open(dir, false, &rv->pool, err);
	if (rc == BK_ERR_NOTFOUND)
		bk_error_set(err, BK_ERR_NOTFOUND,
			     "no local pool in %s (create one with 'zbak "
			     "--pool-dir %s pool create POOL', or restore with "
			     "--receiver zfs)",
			     dir, dir);
	if (rc)
		goto out;
	snprintf(rv->describe, sizeof(rv->describe), "the local pool %s", dir);
out:
	if (rc) {
		bk_receiver_close(rv);
		return rc;
	}
	*out = rv;
	return BK_OK;
}

void bk_receiver_close(struct bk_receiver *rv)
{
	if (!rv)
		return;
	bk_receiver_abort(rv);
	bk_lpool_close(rv->pool);
	free(rv);
}

enum bk_receiver_kind bk_receiver_kind(const struct bk_receiver *rv)
{
	return rv->kind;
}

const char *bk_receiver_describe(const struct bk_receiver *rv)
{
	return rv->describe;
}

static int by_txg(const void *a, const void *b)
{
	const struct bk_receiver_snap *x = a, *y = b;

	if (x->createtxg != y->createtxg)
		return x->createtxg < y->createtxg ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* One listing's snapshots as the receiver's: n entries of width size,
 * their fields at the given offsets (a zfs listing and a local pool's have
 * different types, the same three fields). */
static enum bk_code copy_snaps(const void *src, size_t n, size_t size,
			       size_t name_off, size_t guid_off,
			       size_t txg_off, struct bk_receiver_snap **out,
			       struct bk_error *err)
{
	struct bk_receiver_snap *v;

	*out = NULL;
	if (!n)
		return BK_OK;
	v = calloc(n, sizeof(*v));
	if (!v)
		return bk_error_set(err, BK_ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		const char *e = (const char *)src + i * size;

		snprintf(v[i].name, sizeof(v[i].name), "%s", e + name_off);
		memcpy(&v[i].guid, e + guid_off, sizeof(v[i].guid));
		memcpy(&v[i].createtxg, e + txg_off, sizeof(v[i].createtxg));
	}
	*out = v;
	return BK_OK;
}

_Static_assert(sizeof(((struct bk_zfs_snap *)0)->guid) == 8 &&
		       sizeof(((struct bk_zfs_snap *)0)->createtxg) == 8 &&
		       sizeof(((struct bk_lpool_entry *)0)->guid) == 8 &&
		       sizeof(((struct bk_lpool_entry *)0)->createtxg) == 8,
	       "copy_snaps copies 64-bit guids and txgs");
#define COPY_SNAPS(src, n, type, out, err)                                   \
	copy_snaps(src, n, sizeof(type), offsetof(type, name),               \
		   offsetof(type, guid), offsetof(type, createtxg), out, err)

enum bk_code bk_receiver_snapshots(struct bk_receiver *rv, bool *exists,
				   struct bk_receiver_snap **out, size_t *n,
				   struct bk_error *err)
{
	struct bk_receiver_snap *v = NULL;
	size_t nv = 0;
	enum bk_code rc;

	*exists = false;
	*out = NULL;
	*n = 0;
	if (rv->kind == BK_RECEIVER_ZFS) {
		struct bk_zfs_snap *z = NULL;
		bool ex = false;

		/* a missing dataset is an answer, not an error; a missing
		 * command or module is an error */
		rc = bk_zfs_exists(rv->target, &ex, err);
		if (!rc && ex)
			rc = bk_zfs_list_snapshots(rv->target, false, &z, &nv,
						   err);
		if (!rc)
			rc = COPY_SNAPS(z, nv, struct bk_zfs_snap, &v, err);
		free(z);
		if (rc)
			return rc;
		*exists = ex;
	} else {
		struct bk_lpool_entry *e = NULL;

		rc = bk_lpool_list(rv->pool, rv->target, false,
				   BK_LPOOL_SNAPSHOT, &e, &nv, err);
		if (rc == BK_ERR_NOTFOUND) {
			bk_error_clear(err);
			return BK_OK;
		}
		if (!rc)
			rc = COPY_SNAPS(e, nv, struct bk_lpool_entry, &v, err);
		free(e);
		if (rc)
			return rc;
		*exists = true;
		/* zfs lists oldest first already (by createtxg, which some
		 * zfs do not report) */
		if (nv > 1)
			qsort(v, nv, sizeof(*v), by_txg);
	}
	/* only the target's own (a recursive listing is not asked for, but
	 * be sure), oldest first */
	{
		size_t k = 0, tl = strlen(rv->target);

		for (size_t i = 0; i < nv; i++)
			if (strncmp(v[i].name, rv->target, tl) == 0 &&
			    v[i].name[tl] == '@')
				v[k++] = v[i];
		nv = k;
	}
	if (!nv) {
		free(v);
		v = NULL;
	}
	*out = v;
	*n = nv;
	return BK_OK;
}

enum bk_code bk_receiver_begin(struct bk_receiver *rv, struct bk_error *err)
{
	enum bk_code rc;

	if (rv->open)
		return bk_error_set(err, BK_ERR_INTERNAL,
				    "receiver: a stream is already open");
	rv->held = 0;
	rv->bytes = 0;
	if (rv->kind == BK_RECEIVER_ZFS) {
		struct bk_zfs_recv_opts zo = { .force = rv->force };

		rc = bk_zfs_recv_begin(rv->target, &zo, &rv->zrx, err);
	} else {
		struct bk_lpool_recv_opts lo = { .force = rv->force };

		rc = bk_lpool_recv_begin(rv->pool, rv->target, &lo, &rv->lrx,
					 err);
	}
	if (!rc)
		rv->open = true;
	return rc;
}

/* zfs: everything but the last BK_RECEIVER_HOLD_BACK bytes goes through. */
static enum bk_code zfs_write(struct bk_receiver *rv, const uint8_t *p,
			      size_t len, struct bk_error *err)
{
	size_t out, k;
	enum bk_code rc;

	if (rv->held + len <= sizeof(rv->hold)) {
		memcpy(rv->hold + rv->held, p, len);
		rv->held += len;
		return BK_OK;
	}
	out = rv->held + len - sizeof(rv->hold); /* bytes that may go */
	k = out < rv->held ? out : rv->held;     /* of them, held ones */
	if (k) {
		rc = bk_zfs_recv_write(rv->zrx, rv->hold, k, err);
		if (rc)
			return rc;
		memmove(rv->hold, rv->hold + k, rv->held - k);
		rv->held -= k;
		out -= k;
	}
	if (out) {
		rc = bk_zfs_recv_write(rv->zrx, p, out, err);
		if (rc)
			return rc;
	}
	memcpy(rv->hold + rv->held, p + out, len - out);
	rv->held += len - out;
	return BK_OK;
}

enum bk_code bk_receiver_write(void *ctx, const void *buf, size_t len,
			       struct bk_error *err)
{
	struct bk_receiver *rv = ctx;
	enum bk_code rc;

	if (!rv->open)
		return bk_error_set(err, BK_ERR_INTERNAL,
				    "receiver: no stream open");
	if (rv->kind == BK_RECEIVER_ZFS)
		rc = zfs_write(rv, buf, len, err);
	else
		rc = bk_lpool_recv_write(rv->lrx, buf, len, err);
	if (!rc)
		rv->bytes += len;
	return rc;
}

enum bk_code bk_receiver_finish(struct bk_receiver *rv,
				struct bk_receiver_result *res,
				struct bk_error *err)
{
	enum bk_code rc = BK_OK;

	memset(res, 0, sizeof(*res));
	if (!rv->open)
		return bk_error_set(err, BK_ERR_INTERNAL,
				    "receiver: no stream open");
	rv->open = false;
	res->bytes = rv->bytes;
	if (rv->kind == BK_RECEIVER_ZFS) {
		struct bk_zfs_recv *zrx = rv->zrx;

		rv->zrx = NULL;
		if (rv->held)
			rc = bk_zfs_recv_write(zrx, rv->hold, rv->held, err);
		rv->held = 0;
		if (rc) {
			bk_zfs_recv_abort(zrx);
			return rc;
		}
		return bk_zfs_recv_finish(zrx, err);
	} else {
		struct bk_lpool_recv_result lr;
		struct bk_lpool_recv *lrx = rv->lrx;

		rv->lrx = NULL;
		memset(&lr, 0, sizeof(lr));
		rc = bk_lpool_recv_finish(lrx, &lr, err);
		if (!rc)
			snprintf(res->name, sizeof(res->name), "%s", lr.name);
	}
	return rc;
}

void bk_receiver_abort(struct bk_receiver *rv)
{
	if (!rv || !rv->open)
		return;
	rv->open = false;
	rv->held = 0;
	bk_zfs_recv_abort(rv->zrx);
	rv->zrx = NULL;
	bk_lpool_recv_abort(rv->lrx);
	rv->lrx = NULL;
}
