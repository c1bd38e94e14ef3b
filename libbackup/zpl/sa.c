/* SPDX-License-Identifier: MIT */
/*
 * System attributes (ZPL 5), as docs/zpl.md describes them: the registry
 * of attribute numbers and lengths, the layouts (which attributes, in which
 * order, a buffer holds), and SA buffers (a bonus or a spill block: a
 * header naming the layout and the lengths of its variable-length
 * attributes, then the attributes, each 8-byte aligned).  Every number
 * comes from a stream: layouts, lengths and offsets are checked against
 * the buffer before anything is read.
 */
#include <stdlib.h>
#include <string.h>

#include "zpl_impl.h"

#define SA_HDR_MIN 8u     /* magic (4), layout info (2), one length (2) */
#define SA_ATTRS_MAX 65536u /* attribute numbers are 16 bits */
#define SA_LAYOUT_ATTRS_MAX 4096u

struct sa_attr {
	uint16_t len;   /* 0: variable length */
	uint8_t bswap;
	int8_t zpl;     /* enum bk_sa_zpl, -1: not one of the ZPL's */
	bool known;
};

struct sa_layout {
	uint16_t *attrs;
	uint32_t n;
	bool set;
};

struct bk_sa_registry {
	struct sa_attr *attr; /* by attribute number */
	uint32_t nattr;
	struct sa_layout layout[BK_SA_LAYOUT_MAX];
};

static const struct {
	const char *name;
	uint16_t len; /* of the legacy ones (the first 16) */
} zpl_attrs[BK_SA_NZPL] = {
	{ "ZPL_ATIME", 16 },    { "ZPL_MTIME", 16 },  { "ZPL_CTIME", 16 },
	{ "ZPL_CRTIME", 16 },   { "ZPL_GEN", 8 },     { "ZPL_MODE", 8 },
	{ "ZPL_SIZE", 8 },      { "ZPL_PARENT", 8 },  { "ZPL_LINKS", 8 },
	{ "ZPL_XATTR", 8 },     { "ZPL_RDEV", 8 },    { "ZPL_FLAGS", 8 },
	{ "ZPL_UID", 8 },       { "ZPL_GID", 8 },     { "ZPL_PAD", 32 },
	{ "ZPL_ZNODE_ACL", 88 }, { "ZPL_DACL_COUNT", 0 }, { "ZPL_SYMLINK", 0 },
	{ "ZPL_SCANSTAMP", 0 }, { "ZPL_DACL_ACES", 0 }, { "ZPL_DXATTR", 0 },
	{ "ZPL_PROJID", 0 },
};
#define SA_LEGACY 16u /* ZPL_ATIME .. ZPL_ZNODE_ACL: numbers 0..15 */

static enum bk_code sa_grow(struct bk_sa_registry *r, uint32_t n,
			    struct bk_error *err)
{
	struct sa_attr *a;

	if (n <= r->nattr)
		return BK_OK;
	a = realloc(r->attr, n * sizeof(*a));
	if (!a)
		return bk_error_set(err, BK_ERR_NOMEM, "out of memory");
	memset(a + r->nattr, 0, (n - r->nattr) * sizeof(*a));
	for (uint32_t i = r->nattr; i < n; i++)
		a[i].zpl = -1;
	r->attr = a;
	r->nattr = n;
	return BK_OK;
}

enum bk_code bk_sa_registry_new(struct bk_sa_registry **out,
				struct bk_error *err)
{
	struct bk_sa_registry *r = calloc(1, sizeof(*r));
	enum bk_code rc;

	*out = NULL;
	if (!r)
		return bk_error_set(err, BK_ERR_NOMEM, "out of memory");
	/* the legacy attributes have fixed numbers, registered or not */
	if ((rc = sa_grow(r, SA_LEGACY, err))) {
		free(r);
		return rc;
	}
	for (unsigned i = 0; i < SA_LEGACY; i++) {
		r->attr[i].len = zpl_attrs[i].len;
		r->attr[i].zpl = (int8_t)i;
		r->attr[i].known = true;
	}
	*out = r;
	return BK_OK;
}

void bk_sa_registry_free(struct bk_sa_registry *r)
{
	if (!r)
		return;
	for (unsigned i = 0; i < BK_SA_LAYOUT_MAX; i++)
		free(r->layout[i].attrs);
	free(r->attr);
	free(r);
}

enum bk_code bk_sa_registry_attr(struct bk_sa_registry *r, const char *name,
				 uint64_t value, struct bk_error *err)
{
	uint32_t num = (uint32_t)(value & 0xffff);
	struct sa_attr *a;
	enum bk_code rc;

	if ((rc = sa_grow(r, num + 1, err)))
		return rc;
	a = &r->attr[num];
	a->len = (uint16_t)(value >> 24);
	a->bswap = (uint8_t)(value >> 16);
	a->known = true;
	a->zpl = -1;
	for (unsigned i = 0; i < BK_SA_NZPL; i++)
		if (!strcmp(name, zpl_attrs[i].name))
			a->zpl = (int8_t)i;
	return BK_OK;
}

enum bk_code bk_sa_registry_layout(struct bk_sa_registry *r, const char *name,
				   const uint8_t *val, size_t n, bool be,
				   struct bk_error *err)
{
	uint64_t num = 0;
	struct sa_layout *l;
	size_t i;

	for (i = 0; name[i]; i++) {
		if (name[i] < '0' || name[i] > '9' || i > 6)
			return bk_error_set(err, BK_ERR_FORMAT,
					    "SA layout named \"%.16s\": not a "
					    "number",
					    name);
		num = num * 10 + (uint64_t)(name[i] - '0');
	}
	if (i == 0 || num >= BK_SA_LAYOUT_MAX)
		return bk_error_set(err, BK_ERR_FORMAT,
				    "SA layout number \"%.16s\" out of range",
				    name);
	if (n > SA_LAYOUT_ATTRS_MAX)
		return bk_error_set(err, BK_ERR_FORMAT,
				    "SA layout %llu of %zu attributes",
				    (unsigned long long)num, n);
	l = &r->layout[num];
	free(l->attrs);
	l->attrs = NULL;
	l->n = 0;
	l->set = true;
	if (n && !(l->attrs = malloc(n * sizeof(*l->attrs))))
		return bk_error_set(err, BK_ERR_NOMEM, "out of memory");
	for (i = 0; i < n; i++)
		l->attrs[i] = zpl_u16(val + 2 * i, be);
	l->n = (uint32_t)n;
	return BK_OK;
}

static enum bk_code sa_bad(struct bk_error *err, const char *what,
			   unsigned long long n)
{
	return bk_error_set(err, BK_ERR_FORMAT, "damaged system attributes: "
						"%s %llu",
			    what, n);
}

enum bk_code bk_sa_parse(const struct bk_sa_registry *r, const uint8_t *buf,
			 size_t len, bool be, struct bk_sa_values *vals,
			 struct bk_error *err)
{
	const struct sa_layout *l;
	uint16_t info;
	unsigned layout, hdrsz, nvar = 0, vi = 0;
	size_t off;

	if (len < SA_HDR_MIN)
		return sa_bad(err, "buffer of bytes:", len);
	/* the writer's byte order: its magic says which */
	if (zpl_u32(buf, be) != BK_SA_MAGIC) {
		if (zpl_u32(buf, !be) != BK_SA_MAGIC)
			return sa_bad(err, "magic", zpl_u32(buf, be));
		be = !be;
	}
	info = zpl_u16(buf + 4, be);
	layout = info & 0x3ff;
	hdrsz = (unsigned)(info >> 10) * 8u;
	if (hdrsz < SA_HDR_MIN || hdrsz > len)
		return sa_bad(err, "header of bytes:", hdrsz);
	/* 0 and 1: the empty layout (a file with no attributes yet) */
	if (layout <= 1)
		return BK_OK;
	l = &r->layout[layout];
	if (!l->set)
		return sa_bad(err, "unknown layout", layout);
	for (uint32_t i = 0; i < l->n; i++) {
		if (l->attrs[i] >= r->nattr || !r->attr[l->attrs[i]].known)
			return sa_bad(err, "unregistered attribute",
				      l->attrs[i]);
		nvar += r->attr[l->attrs[i]].len == 0;
	}
	/* the lengths of variable-length attributes follow the layout info;
	 * the data starts at the next multiple of 8 */
	off = (6u + 2u * nvar + 7u) & ~(size_t)7;
	if (off > hdrsz)
		return sa_bad(err, "header too short for its lengths:", hdrsz);
	for (uint32_t i = 0; i < l->n; i++) {
		const struct sa_attr *a = &r->attr[l->attrs[i]];
		size_t alen = a->len ? a->len : zpl_u16(buf + 6 + 2 * vi++, be);

		if (off > len || alen > len - off)
			return sa_bad(err, "attribute past the buffer:",
				      l->attrs[i]);
		if (a->zpl >= 0 && !vals->v[a->zpl].set) {
			struct bk_sa_value *v = &vals->v[a->zpl];

			v->p = buf + off;
			v->len = (uint32_t)alen;
			v->be = be;
			v->set = true;
		}
		off = (off + alen + 7u) & ~(size_t)7;
	}
	return BK_OK;
}

/* Attribute k as a u64 (0 when absent); false when its length is wrong. */
static bool sa_u64(const struct bk_sa_values *vals, enum bk_sa_zpl k,
		   uint64_t *out)
{
	const struct bk_sa_value *v = &vals->v[k];

	*out = 0;
	if (!v->set)
		return true;
	if (v->len != 8)
		return false;
	*out = zpl_u64(v->p, v->be);
	return true;
}

static bool sa_time(const struct bk_sa_values *vals, enum bk_sa_zpl k,
		    struct bk_zpl_time *t)
{
	const struct bk_sa_value *v = &vals->v[k];

	t->sec = 0;
	t->nsec = 0;
	if (!v->set)
		return true;
	if (v->len != 16)
		return false;
	t->sec = (int64_t)zpl_u64(v->p, v->be);
	if (zpl_u64(v->p + 8, v->be) >= 1000000000u)
		return false;
	t->nsec = (uint32_t)zpl_u64(v->p + 8, v->be);
	return true;
}

enum bk_code bk_sa_stat(const struct bk_sa_values *vals,
			struct bk_zpl_stat *st, struct bk_error *err)
{
	static const struct {
		enum bk_sa_zpl k;
		size_t off;
	} ints[] = {
		{ BK_SA_GEN, offsetof(struct bk_zpl_stat, gen) },
		{ BK_SA_MODE, offsetof(struct bk_zpl_stat, mode) },
		{ BK_SA_SIZE, offsetof(struct bk_zpl_stat, size) },
		{ BK_SA_PARENT, offsetof(struct bk_zpl_stat, parent) },
		{ BK_SA_LINKS, offsetof(struct bk_zpl_stat, links) },
		{ BK_SA_XATTR, offsetof(struct bk_zpl_stat, xattr) },
		{ BK_SA_RDEV, offsetof(struct bk_zpl_stat, rdev) },
		{ BK_SA_FLAGS, offsetof(struct bk_zpl_stat, flags) },
		{ BK_SA_UID, offsetof(struct bk_zpl_stat, uid) },
		{ BK_SA_GID, offsetof(struct bk_zpl_stat, gid) },
	};
	static const struct {
		enum bk_sa_zpl k;
		size_t off;
	} times[] = {
		{ BK_SA_ATIME, offsetof(struct bk_zpl_stat, atime) },
		{ BK_SA_MTIME, offsetof(struct bk_zpl_stat, mtime) },
		{ BK_SA_CTIME, offsetof(struct bk_zpl_stat, ctime) },
		{ BK_SA_CRTIME, offsetof(struct bk_zpl_stat, crtime) },
	};

	if (!vals->v[BK_SA_MODE].set || !vals->v[BK_SA_SIZE].set)
		return bk_error_set(err, BK_ERR_FORMAT,
				    "system attributes without %s",
				    vals->v[BK_SA_MODE].set ? "ZPL_SIZE"
							    : "ZPL_MODE");
	for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++)
		if (!sa_u64(vals, ints[i].k,
			    (uint64_t *)((char *)st + ints[i].off)))
			return bk_error_set(err, BK_ERR_FORMAT,
					    "%s of %u bytes",
					    zpl_attrs[ints[i].k].name,
					    vals->v[ints[i].k].len);
	for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++)
		if (!sa_time(vals, times[i].k,
			     (struct bk_zpl_time *)((char *)st +
						    times[i].off)))
			return bk_error_set(err, BK_ERR_FORMAT,
					    "%s of %u bytes or too many "
					    "nanoseconds",
					    zpl_attrs[times[i].k].name,
					    vals->v[times[i].k].len);
	return BK_OK;
}

/* ---- the registry of a file system ------------------------------------ */

struct sa_load {
	struct bk_sa_registry *r;
	struct bk_error *err;
	enum bk_code rc;
	uint64_t reg, lay;
};

static int sa_master_fn(void *ctx, const struct bk_zap_entry *e)
{
	struct sa_load *s = ctx;

	if (e->intlen != 8 || e->numints != 1)
		return 0;
	if (!strcmp(e->name, "REGISTRY"))
		s->reg = e->value;
	else if (!strcmp(e->name, "LAYOUTS"))
		s->lay = e->value;
	return 0;
}

static int sa_reg_fn(void *ctx, const struct bk_zap_entry *e)
{
	struct sa_load *s = ctx;

	if (e->intlen != 8 || e->numints != 1) {
		s->rc = bk_error_set(s->err, BK_ERR_FORMAT,
				     "SA registry entry %.32s is not one u64",
				     e->name);
		return 1;
	}
	s->rc = bk_sa_registry_attr(s->r, e->name, e->value, s->err);
	return s->rc != BK_OK;
}

static int sa_lay_fn(void *ctx, const struct bk_zap_entry *e)
{
	struct sa_load *s = ctx;

	if (e->intlen != 2) {
		s->rc = bk_error_set(s->err, BK_ERR_FORMAT,
				     "SA layout %.32s is not of u16",
				     e->name);
		return 1;
	}
	s->rc = bk_sa_registry_layout(s->r, e->name, e->val, e->numints,
				      e->val_be, s->err);
	return s->rc != BK_OK;
}

enum bk_code zpl_sa_load(struct bk_zpl *z, uint64_t master,
			 struct bk_error *err)
{
	struct sa_load s = { NULL, err, BK_OK, 0, 0 };
	enum bk_code rc;

	if ((rc = bk_sa_registry_new(&s.r, err)))
		return rc;
	z->sa = s.r;
	if ((rc = bk_zap_iterate(z, master, sa_master_fn, &s, err)))
		goto fail;
	if (s.reg && ((rc = bk_zap_iterate(z, s.reg, sa_reg_fn, &s, err)) ||
		      (rc = s.rc)))
		goto fail;
	if (s.lay && ((rc = bk_zap_iterate(z, s.lay, sa_lay_fn, &s, err)) ||
		      (rc = s.rc)))
		goto fail;
	return BK_OK;
fail:
	bk_error_prefix(err, "SA registry (object %llu)",
			(unsigned long long)master);
	return rc;
}

enum bk_code zpl_sa_values(struct bk_zpl *z, uint64_t obj,
			   const struct bk_zpl_object *o,
			   struct bk_sa_values *vals, struct bk_error *err)
{
	enum bk_code rc;
	size_t len = 0;

	memset(vals, 0, sizeof(*vals));
	if (!z->sa)
		return bk_error_set(err, BK_ERR_FORMAT,
				    "object %llu has system attributes but "
				    "the master node has no SA_ATTRS",
				    (unsigned long long)obj);
	if ((rc = bk_sa_parse(z->sa, o->bonus, o->bonuslen, z->src.bigendian,
			      vals, err)))
		goto fail;
	if (z->src.ops->spill) {
		if (!z->spill && !(z->spill = malloc(BK_SA_SPILL_MAX)))
			return bk_error_set(err, BK_ERR_NOMEM,
					    "out of memory");
		if ((rc = z->src.ops->spill(z->src.ctx, obj, z->spill,
					    BK_SA_SPILL_MAX, &len, err)))
			goto fail;
		/* the spill block holds what the bonus could not: what the
		 * bonus set stays */
		if (len && (rc = bk_sa_parse(z->sa, z->spill, len,
					     z->src.bigendian, vals, err))) {
			bk_error_prefix(err, "spill block");
			goto fail;
		}
	}
	return BK_OK;
fail:
	bk_error_prefix(err, "object %llu", (unsigned long long)obj);
	return rc;
}
