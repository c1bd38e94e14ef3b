/* SPDX-License-Identifier: MIT */
/*
 * Extended attributes (docs/zpl.md, "xattrs"): the ZPL_DXATTR system
 * attribute (a packed nvlist of name -> byte array) and the hidden xattr
 * directory of a file (one plain file per xattr, its contents the value).
 * Names and values come from the stream: each name is checked and mapped
 * to Linux's namespaces, each value bounded.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "backup/nvlist.h"
#include "zpl_impl.h"

/* Linux's name of a stored name into out; false when it is not one. */
static bool xattr_name(const char *stored, size_t len, char *out)
{
	static const char *const ns[] = { "user.", "trusted.", "security.",
					  "system." };
	bool prefixed = false;

	if (len == 0 || memchr(stored, 0, len) || memchr(stored, '/', len))
		return false;
	for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++)
		if (!strncmp(stored, ns[i], strlen(ns[i])) &&
		    len > strlen(ns[i]))
			prefixed = true;
	if (len + (prefixed ? 0 : 5) > BK_ZPL_XATTR_NAME)
		return false;
	snprintf(out, BK_ZPL_XATTR_NAME + 1, "%s%.*s", prefixed ? "" : "user.",
		 (int)len, stored);
	return true;
}

/* A ZPL_DXATTR value: *stop when fn said so. */
static enum bk_code dxattrs(const uint8_t *buf, size_t buflen,
			    bk_zpl_xattr_fn fn, void *ctx, bool *stop,
			    struct bk_error *err)
{
	char name[BK_ZPL_XATTR_NAME + 1];
	struct bk_nvlist *nvl;
	const struct bk_nvpair *p = NULL;
	size_t n = 0;
	enum bk_code rc;

	if ((rc = bk_nvlist_unpack(buf, buflen, &nvl, err))) {
		bk_error_prefix(err, "ZPL_DXATTR");
		return rc;
	}
	while (!rc && !*stop && (p = bk_nvlist_next(nvl, p))) {
		const char *pn = bk_nvpair_name(p);
		const uint8_t *val;
		uint32_t len = 0;

		val = bk_nvpair_bytes(p, &len);
		if (++n > BK_ZPL_XATTRS_MAX || !xattr_name(pn, strlen(pn), name) ||
		    (!val && len) ||
		    (bk_nvpair_type(p) != BK_NV_BYTE_ARRAY &&
		     bk_nvpair_type(p) != BK_NV_UINT8_ARRAY) ||
		    len > BK_ZPL_XATTR_MAX) {
			rc = bk_error_set(err, BK_ERR_FORMAT,
					  "ZPL_DXATTR: xattr %.40s is not a "
					  "name and a byte array of at most "
					  "%u bytes",
					  pn, BK_ZPL_XATTR_MAX);
			break;
		}
		*stop = fn(ctx, name, val ? val : (const uint8_t *)"", len) != 0;
	}
	bk_nvlist_free(nvl);
	return rc;
}

enum bk_code bk_zpl_dxattr_parse(const uint8_t *p, size_t len,
				 bk_zpl_xattr_fn fn, void *ctx,
				 struct bk_error *err)
{
	bool stop = false;

	return dxattrs(p, len, fn, ctx, &stop, err);
}

/* The value of xattr file obj into val (BK_ZPL_XATTR_MAX); its length. */
static enum bk_code xattr_file(struct bk_zpl *z, uint64_t obj, uint8_t *val,
			       size_t *len, struct bk_error *err)
{
	struct bk_zpl_stat st;
	uint8_t *blk = NULL;
	enum bk_code rc;
	bool hole;

	if ((rc = bk_zpl_stat(z, obj, &st, err)))
		return rc;
	if (!S_ISREG(st.mode) || st.size > BK_ZPL_XATTR_MAX)
		return bk_error_set(err, BK_ERR_FORMAT,
				    "xattr object %llu: not a file of at most "
				    "%u bytes",
				    (unsigned long long)obj, BK_ZPL_XATTR_MAX);
	*len = (size_t)st.size;
	if (!st.size)
		return BK_OK;
	if (st.blksz == 0 || st.blksz > BK_ZPL_BLOCK_MAX ||
	    !(blk = malloc(st.blksz)))
		return bk_error_set(err, st.blksz ? BK_ERR_NOMEM
						  : BK_ERR_FORMAT,
				    "xattr object %llu: block of %u bytes",
				    (unsigned long long)obj, st.blksz);
	for (uint64_t off = 0; !rc && off < st.size; off += st.blksz) {
		size_t k = st.size - off < st.blksz ? (size_t)(st.size - off)
						   : st.blksz;

		rc = bk_zpl_read_block(z, &st, off / st.blksz, blk, &hole, err);
		if (!rc)
			memcpy(val + off, blk, k);
	}
	free(blk);
	return rc;
}

static enum bk_code dir_xattrs(struct bk_zpl *z, uint64_t obj, uint64_t xdir,
			       bk_zpl_xattr_fn fn, void *ctx, bool *stop,
			       struct bk_error *err)
{
	char name[BK_ZPL_XATTR_NAME + 1];
	struct zpl_ents e;
	uint8_t *val;
	size_t len = 0;
	enum bk_code rc;

	if (xdir == obj)
		return bk_error_set(err, BK_ERR_FORMAT,
				    "object %llu is its own xattr directory",
				    (unsigned long long)obj);
	if ((rc = zpl_dir_entries(z, xdir, &e, err)))
		return rc;
	if (e.n > BK_ZPL_XATTRS_MAX || !(val = malloc(BK_ZPL_XATTR_MAX))) {
		zpl_ents_free(&e);
		return bk_error_set(err, e.n > BK_ZPL_XATTRS_MAX ? BK_ERR_LIMIT
								  : BK_ERR_NOMEM,
				    "xattr directory %llu: %zu entries",
				    (unsigned long long)xdir, e.n);
	}
	for (size_t i = 0; !rc && !*stop && i < e.n; i++) {
		if (e.v[i].obj == obj || e.v[i].obj == xdir ||
		    !xattr_name(e.v[i].name, strlen(e.v[i].name), name)) {
			rc = bk_error_set(err, BK_ERR_FORMAT,
					  "xattr directory %llu: entry %.40s",
					  (unsigned long long)xdir,
					  e.v[i].name);
			break;
		}
		if (!(rc = xattr_file(z, e.v[i].obj, val, &len, err)))
			*stop = fn(ctx, name, val, len) != 0;
	}
	free(val);
	zpl_ents_free(&e);
	return rc;
}

enum bk_code bk_zpl_xattrs(struct bk_zpl *z, uint64_t obj, bk_zpl_xattr_fn fn,
			   void *ctx, struct bk_error *err)
{
	struct bk_zpl_object o;
	struct bk_zpl_stat st;
	enum bk_code rc;
	bool stop = false;

	if (z->vol) /* a volume keeps none */
		return bk_zpl_stat(z, obj, &st, err);
	if ((rc = bk_zpl_stat(z, obj, &st, err)) ||
	    (rc = z->src.ops->object(z->src.ctx, obj, &o, err)))
		return rc;
	if (o.bonustype == BK_ZPL_OT_SA) {
		struct bk_sa_values v;

		if ((rc = zpl_sa_values(z, obj, &o, &v, err)))
			return rc;
		if (v.v[BK_SA_DXATTR].set &&
		    (rc = dxattrs(v.v[BK_SA_DXATTR].p, v.v[BK_SA_DXATTR].len,
				  fn, ctx, &stop, err))) {
			bk_error_prefix(err, "object %llu",
					(unsigned long long)obj);
			return rc;
		}
	}
	if (st.xattr && !stop)
		rc = dir_xattrs(z, obj, st.xattr, fn, ctx, &stop, err);
	return rc;
}
