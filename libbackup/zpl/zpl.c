/* SPDX-License-Identifier: MIT */
/*
 * The ZPL reader over an object source: the master node, directories,
 * znodes, symlinks and file blocks (docs/zpl.md).  Object numbers, sizes
 * and names all come from the stream, so each is checked before use.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "zpl_impl.h"

#define DIRENT_OBJ_MASK ((UINT64_C(1) << 48) - 1)
#define ZPL_SYMLINK_MAX 4096u /* MAXPATHLEN */

bool bk_zpl_name_ok(const char *name, size_t len)
{
	if (len == 0 || len > BK_ZPL_NAME_MAX || memchr(name, 0, len) ||
	    memchr(name, '/', len))
		return false;
	return !(len == 1 && name[0] == '.') &&
	       !(len == 2 && name[0] == '.' && name[1] == '.');
}

/* ---- the master node ------------------------------------------------- */

struct master {
	uint64_t version, root, sa;
	bool has_version, has_root;
};

static int master_fn(void *ctx, const struct bk_zap_entry *e)
{
	struct master *m = ctx;

	if (e->intlen != 8 || e->numints != 1)
		return 0;
	if (!strcmp(e->name, "VERSION")) {
		m->version = e->value;
		m->has_version = true;
	} else if (!strcmp(e->name, "ROOT")) {
		m->root = e->value;
		m->has_root = true;
	} else if (!strcmp(e->name, "SA_ATTRS")) {
		m->sa = e->value;
	}
	return 0;
}

static enum bk_code read_master(struct bk_zpl *z, struct bk_error *err)
{
	struct bk_zpl_object o;
	struct master m = { 0 };
	enum bk_code rc;

	rc = z->src.ops->object(z->src.ctx, 1, &o, err);
	if (!rc && o.type == BK_ZPL_OT_ZVOL)
		return zpl_vol_open(z, err);
	if (rc == BK_ERR_NOTFOUND || (!rc && o.type != BK_ZPL_OT_MASTER_NODE))
		return bk_error_set(err, BK_ERR_FORMAT,
				    "no ZPL master node (object 1): not a "
				    "file system");
	if (rc || (rc = bk_zap_iterate(z, 1, master_fn, &m, err)))
		return rc;
	if (!m.has_version || !m.has_root)
		return bk_error_set(err, BK_ERR_FORMAT,
				    "the master node has no %s",
				    m.has_root ? "VERSION" : "ROOT");
	if (m.version < 1 || m.version > 5)
		return bk_error_set(err, BK_ERR_UNSUPPORTED,
				    "ZPL version %llu is not known",
				    (unsigned long long)m.version);
	z->version = m.version;
	z->root = m.root;
	/* ZPL 5 names its system-attribute registry; every SA bonus needs it */
	if (m.sa)
		return zpl_sa_load(z, m.sa, err);
	return BK_OK;
}

enum bk_code bk_zpl_open(const struct bk_zpl_source *src, struct bk_zpl **out,
			 struct bk_error *err)
{
	struct bk_zpl *z = calloc(1, sizeof(*z));
	enum bk_code rc;

	*out = NULL;
	if (!z) {
		if (src->ops->close)
			src->ops->close(src->ctx);
		return bk_error_set(err, BK_ERR_NOMEM, "out of memory");
	}
	z->src = *src;
	if ((rc = read_master(z, err))) {
		bk_zpl_close(z);
		return rc;
	}
	*out = z;
	return BK_OK;
}

void bk_zpl_close(struct bk_zpl *z)
{
	if (!z)
		return;
	if (z->src.ops->close)
		z->src.ops->close(z->src.ctx);
	bk_sa_registry_free(z->sa);
	free(z->spill);
	free(z->blk);
	free(z);
}

uint64_t bk_zpl_version(const struct bk_zpl *z)
{
	return z->version;
}

uint64_t bk_zpl_root(const struct bk_zpl *z)
{
	return z->root;
}

enum bk_code zpl_block_buf(struct bk_zpl *z, size_t len, uint8_t **out,
			   struct bk_error *err)
{
	if (len > BK_ZPL_BLOCK_MAX)
		return bk_error_set(err, BK_ERR_FORMAT, "block of %zu bytes",
				    len);
	if (len > z->blkcap) {
		uint8_t *p = realloc(z->blk, len);

		if (!p)
			return bk_error_set(err, BK_ERR_NOMEM,
					    "out of memory");
		z->blk = p;
		z->blkcap = len;
	}
	*out = z->blk;
	return BK_OK;
}

/* ---- znodes ---------------------------------------------------------- */

static struct bk_zpl_time ztime(const uint8_t *p, bool be)
{
	struct bk_zpl_time t;

	t.sec = (int64_t)zpl_u64(p, be);
	t.nsec = (uint32_t)zpl_u64(p + 8, be);
	return t;
}

enum bk_code bk_zpl_znode_parse(const uint8_t *b, size_t len, bool be,
				struct bk_zpl_stat *st, struct bk_error *err)
{
	if (len < BK_ZPL_ZNODE_SIZE)
		return bk_error_set(err, BK_ERR_FORMAT,
				    "znode of %zu bytes, %u expected", len,
				    BK_ZPL_ZNODE_SIZE);
	st->atime = ztime(b, be);
	st->mtime = ztime(b + 16, be);
	st->ctime = ztime(b + 32, be);
	st->crtime = ztime(b + 48, be);
	st->gen = zpl_u64(b + 64, be);
	st->mode = zpl_u64(b + 72, be);
	st->size = zpl_u64(b + 80, be);
	st->parent = zpl_u64(b + 88, be);
	st->links = zpl_u64(b + 96, be);
	st->xattr = zpl_u64(b + 104, be);
	st->rdev = zpl_u64(b + 112, be);
	st->flags = zpl_u64(b + 120, be);
	st->uid = zpl_u64(b + 128, be);
	st->gid = zpl_u64(b + 136, be);
	if (st->atime.nsec >= 1000000000u || st->mtime.nsec >= 1000000000u ||
	    st->ctime.nsec >= 1000000000u)
		return bk_error_set(err, BK_ERR_FORMAT,
				    "znode time with %s nanoseconds", "too many");
	return BK_OK;
}

enum bk_code bk_zpl_stat(struct bk_zpl *z, uint64_t obj,
			 struct bk_zpl_stat *st, struct bk_error *err)
{
	struct bk_zpl_object o;
	enum bk_code rc;

	if (z->vol)
		return zpl_vol_stat(z, obj, st, err);
	memset(st, 0, sizeof(*st));
	if ((rc = z->src.ops->object(z->src.ctx, obj, &o, err)))
		return rc;
	if (o.bonustype == BK_ZPL_OT_SA) {
		struct bk_sa_values v;

		if ((rc = zpl_sa_values(z, obj, &o, &v, err)))
			return rc;
		if ((rc = bk_sa_stat(&v, st, err))) {
			bk_error_prefix(err, "object %llu",
					(unsigned long long)obj);
			return rc;
		}
	} else if (o.bonustype != BK_ZPL_OT_ZNODE) {
		return bk_error_set(err, BK_ERR_FORMAT,
				    "object %llu is not a file (bonus type "
				    "%u)",
				    (unsigned long long)obj, o.bonustype);
	} else if ((rc = bk_zpl_znode_parse(o.bonus, o.bonuslen,
					    z->src.bigendian, st, err))) {
		bk_error_prefix(err, "object %llu", (unsigned long long)obj);
		return rc;
	}
	st->object = obj;
	st->blksz = o.blksz;
	st->maxblkid = o.maxblkid;
	return BK_OK;
}

/* ---- directories ----------------------------------------------------- */

struct dir_walk {
	bk_zpl_dirent_fn fn;
	void *ctx;
	bool bad;
	char badname[64];
};

static int dirent_fn(void *ctx, const struct bk_zap_entry *e)
{
	struct dir_walk *w = ctx;

	if (e->intlen != 8 || e->numints != 1 ||
	    !bk_zpl_name_ok(e->name, e->name_len)) {
		w->bad = true;
		/* a printable prefix for the message */
		size_t i = 0;
		for (; i < e->name_len && i + 1 < sizeof(w->badname); i++)
			w->badname[i] = (e->name[i] >= 32 && e->name[i] < 127)
						? e->name[i]
						: '?';
		w->badname[i] = 0;
		return 1;
	}
	return w->fn(w->ctx, e->name, e->value & DIRENT_OBJ_MASK,
		     (unsigned)(e->value >> 60));
}

enum bk_code bk_zpl_readdir(struct bk_zpl *z, uint64_t dir,
			    bk_zpl_dirent_fn fn, void *ctx,
			    struct bk_error *err)
{
	struct bk_zpl_object o;
	struct dir_walk w = { fn, ctx, false, "" };
	enum bk_code rc;

	if (z->vol)
		return zpl_vol_readdir(z, dir, fn, ctx, err);
	if ((rc = z->src.ops->object(z->src.ctx, dir, &o, err)))
		return rc;
	if (o.type != BK_ZPL_OT_DIRECTORY)
		return bk_error_set(err, BK_ERR_FORMAT,
				    "object %llu is not a directory (type %u)",
				    (unsigned long long)dir, o.type);
	if ((rc = bk_zap_iterate(z, dir, dirent_fn, &w, err)))
		return rc;
	if (w.bad)
		return bk_error_set(err, BK_ERR_FORMAT,
				    "directory %llu holds an entry that is "
				    "not a safe name (\"%s\")",
				    (unsigned long long)dir, w.badname);
	return BK_OK;
}

struct finder {
	const char *name;
	uint64_t obj;
	bool found;
};

static int find_fn(void *ctx, const char *name, uint64_t obj, unsigned dtype)
{
	struct finder *f = ctx;

	(void)dtype;
	if (strcmp(name, f->name))
		return 0;
	f->obj = obj;
	f->found = true;
	return 1;
}

enum bk_code bk_zpl_lookup(struct bk_zpl *z, uint64_t dir, const char *name,
			   uint64_t *obj, struct bk_error *err)
{
	struct finder f = { name, 0, false };
	enum bk_code rc;

	if ((rc = bk_zpl_readdir(z, dir, find_fn, &f, err)))
		return rc;
	if (!f.found)
		return bk_error_set(err, BK_ERR_NOTFOUND, "%s: not found",
				    name);
	*obj = f.obj;
	return BK_OK;
}

enum bk_code bk_zpl_walk(struct bk_zpl *z, const char *path, uint64_t *obj,
			 struct bk_error *err)
{
	char comp[BK_ZPL_NAME_MAX + 1];
	uint64_t cur = z->root;
	const char *p = path;
	struct bk_zpl_stat st;
	enum bk_code rc;

	while (*p) {
		size_t n = strcspn(p, "/");

		if (n == 0 || (n == 1 && p[0] == '.')) {
			p += n + (p[n] == '/');
			continue;
		}
		if (n > BK_ZPL_NAME_MAX || (n == 2 && !memcmp(p, "..", 2)))
			return bk_error_set(err, BK_ERR_USAGE,
					    "%s: no '..' or names longer "
					    "than %u bytes in a path",
					    path, BK_ZPL_NAME_MAX);
		memcpy(comp, p, n);
		comp[n] = 0;
		if ((rc = bk_zpl_stat(z, cur, &st, err)))
			return rc;
		if (!S_ISDIR(st.mode))
			return bk_error_set(err, BK_ERR_NOTFOUND,
					    "%s: %.*s is not a directory",
					    path, (int)(p - path), path);
		if ((rc = bk_zpl_lookup(z, cur, comp, &cur, err))) {
			if (rc == BK_ERR_NOTFOUND)
				bk_error_set(err, rc, "%s: no such file or "
						      "directory", path);
			return rc;
		}
		p += n + (p[n] == '/');
	}
	*obj = cur;
	return BK_OK;
}

/* ---- contents -------------------------------------------------------- */

enum bk_code bk_zpl_read_block(struct bk_zpl *z, const struct bk_zpl_stat *st,
			       uint64_t blkid, uint8_t *buf, bool *hole,
			       struct bk_error *err)
{
	if (st->blksz == 0 || st->blksz > BK_ZPL_BLOCK_MAX)
		return bk_error_set(err, BK_ERR_FORMAT,
				    "object %llu: block size %u",
				    (unsigned long long)st->object, st->blksz);
	if (blkid > st->maxblkid) {
		memset(buf, 0, st->blksz);
		*hole = true;
		return BK_OK;
	}
	return z->src.ops->read_block(z->src.ctx, st->object, blkid, buf,
				      st->blksz, hole, err);
}

enum bk_code bk_zpl_next_block(struct bk_zpl *z, const struct bk_zpl_stat *st,
			       uint64_t from, uint64_t *blkid,
			       struct bk_error *err)
{
	return z->src.ops->next_block(z->src.ctx, st->object, from, blkid,
				      err);
}

enum bk_code bk_zpl_readlink(struct bk_zpl *z, uint64_t obj, char *buf,
			     size_t n, struct bk_error *err)
{
	struct bk_zpl_object o;
	struct bk_zpl_stat st;
	enum bk_code rc;
	uint8_t *blk;
	bool hole;

	if ((rc = bk_zpl_stat(z, obj, &st, err)) ||
	    (rc = z->src.ops->object(z->src.ctx, obj, &o, err)))
		return rc;
	if (!S_ISLNK(st.mode))
		return bk_error_set(err, BK_ERR_USAGE,
				    "object %llu is not a symlink",
				    (unsigned long long)obj);
	if (st.size > ZPL_SYMLINK_MAX || st.size >= n)
		return bk_error_set(err, BK_ERR_FORMAT,
				    "symlink %llu: target of %llu bytes",
				    (unsigned long long)obj,
				    (unsigned long long)st.size);
	/* ZPL 5: the target is the ZPL_SYMLINK attribute (in the spill
	 * block when long); before, a short target follows the znode in
	 * the bonus buffer, a long one is the object's first block */
	if (o.bonustype == BK_ZPL_OT_SA) {
		struct bk_sa_values v;

		if ((rc = zpl_sa_values(z, obj, &o, &v, err)))
			return rc;
		if (!v.v[BK_SA_SYMLINK].set ||
		    v.v[BK_SA_SYMLINK].len != st.size)
			return bk_error_set(err, BK_ERR_FORMAT,
					    "symlink %llu: %s",
					    (unsigned long long)obj,
					    v.v[BK_SA_SYMLINK].set
						    ? "its size and target "
						      "differ"
						    : "no ZPL_SYMLINK");
		memcpy(buf, v.v[BK_SA_SYMLINK].p, st.size);
	} else if (st.size + BK_ZPL_ZNODE_SIZE <= o.bonuslen) {
		memcpy(buf, o.bonus + BK_ZPL_ZNODE_SIZE, st.size);
	} else {
		if (st.blksz < st.size)
			return bk_error_set(err, BK_ERR_FORMAT,
					    "symlink %llu: target beyond its "
					    "block",
					    (unsigned long long)obj);
		if ((rc = zpl_block_buf(z, st.blksz, &blk, err)) ||
		    (rc = bk_zpl_read_block(z, &st, 0, blk, &hole, err)))
			return rc;
		memcpy(buf, blk, st.size);
	}
	buf[st.size] = 0;
	if (strlen(buf) != st.size || st.size == 0)
		return bk_error_set(err, BK_ERR_FORMAT,
				    "symlink %llu: a target with a NUL or "
				    "empty",
				    (unsigned long long)obj);
	return BK_OK;
}
