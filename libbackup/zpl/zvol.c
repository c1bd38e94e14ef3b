/* SPDX-License-Identifier: MIT */
/*
 * A volume (zvol) read as one file.  A volume's objset holds two objects:
 * its data (object 1, DMU_OT_ZVOL) and a ZAP (object 2, DMU_OT_ZVOL_PROP)
 * whose "size" entry is the volume's size in bytes.  The reader shows it
 * as a root directory (object 2) holding one regular file (object 1),
 * named after the volume, so that ls, cat, extract and the mount read it
 * like any file, holes skipped by next_block (docs/zpl.md, "Volumes").
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <dirent.h>

#include "zpl_impl.h"

#define ZVOL_OBJ 1u
#define ZVOL_ZAP_OBJ 2u

struct volsize {
	uint64_t size;
	bool found;
};

static int size_fn(void *ctx, const struct bk_zap_entry *e)
{
	struct volsize *v = ctx;

	if (strcmp(e->name, "size") || e->intlen != 8 || e->numints != 1)
		return 0;
	v->size = e->value;
	v->found = true;
	return 1;
}

enum bk_code zpl_vol_open(struct bk_zpl *z, struct bk_error *err)
{
	struct bk_zpl_object o;
	struct volsize v = { 0, false };
	enum bk_code rc;

	if ((rc = z->src.ops->object(z->src.ctx, ZVOL_OBJ, &o, err)))
		return rc;
	if (!o.blksz || o.blksz > BK_ZPL_BLOCK_MAX)
		return bk_error_set(err, BK_ERR_FORMAT,
				    "the volume's data (object 1) has blocks "
				    "of %u bytes", o.blksz);
	rc = z->src.ops->object(z->src.ctx, ZVOL_ZAP_OBJ, &o, err);
	if (rc == BK_ERR_NOTFOUND || (!rc && o.type != BK_ZPL_OT_ZVOL_PROP))
		return bk_error_set(err, BK_ERR_FORMAT,
				    "a volume without its properties "
				    "(object 2)");
	if (rc || (rc = bk_zap_iterate(z, ZVOL_ZAP_OBJ, size_fn, &v, err)))
		return rc;
	if (!v.found)
		return bk_error_set(err, BK_ERR_FORMAT,
				    "the volume's properties have no size");
	/* a st_size and an off_t must hold it */
	if (v.size > (uint64_t)INT64_MAX)
		return bk_error_set(err, BK_ERR_FORMAT,
				    "a volume of %llu bytes",
				    (unsigned long long)v.size);
	z->vol = true;
	z->volsize = v.size;
	z->root = ZVOL_ZAP_OBJ;
	snprintf(z->volname, sizeof(z->volname), "volume");
	return BK_OK;
}

bool bk_zpl_is_volume(const struct bk_zpl *z, uint64_t *size)
{
	if (z->vol && size)
		*size = z->volsize;
	return z->vol;
}

enum bk_code bk_zpl_volume_name(struct bk_zpl *z, const char *name,
				struct bk_error *err)
{
	size_t len = strlen(name);

	if (!z->vol)
		return bk_error_set(err, BK_ERR_USAGE, "not a volume");
	if (len >= sizeof(z->volname) || !bk_zpl_name_ok(name, len))
		return bk_error_set(err, BK_ERR_USAGE,
				    "\"%s\" cannot name a volume's file", name);
	memcpy(z->volname, name, len + 1);
	return BK_OK;
}

enum bk_code zpl_vol_stat(struct bk_zpl *z, uint64_t obj,
			  struct bk_zpl_stat *st, struct bk_error *err)
{
	struct bk_zpl_object o;
	enum bk_code rc;

	memset(st, 0, sizeof(*st));
	if (obj != ZVOL_OBJ && obj != ZVOL_ZAP_OBJ)
		return bk_error_set(err, BK_ERR_NOTFOUND, "no object %llu",
				    (unsigned long long)obj);
	if ((rc = z->src.ops->object(z->src.ctx, obj, &o, err)))
		return rc;
	st->object = obj;
	st->parent = ZVOL_ZAP_OBJ;
	/* a volume keeps no owner, mode or times: root's, and the epoch */
	if (obj == ZVOL_ZAP_OBJ) {
		st->mode = S_IFDIR | 0755;
		st->links = 2;
		return BK_OK;
	}
	st->mode = S_IFREG | 0600;
	st->links = 1;
	st->size = z->volsize;
	st->blksz = o.blksz;
	st->maxblkid = o.maxblkid;
	return BK_OK;
}

enum bk_code zpl_vol_readdir(struct bk_zpl *z, uint64_t dir,
			     bk_zpl_dirent_fn fn, void *ctx,
			     struct bk_error *err)
{
	if (dir != ZVOL_ZAP_OBJ)
		return bk_error_set(err, BK_ERR_FORMAT,
				    "object %llu is not a directory",
				    (unsigned long long)dir);
	fn(ctx, z->volname, ZVOL_OBJ, DT_REG);
	return BK_OK;
}
