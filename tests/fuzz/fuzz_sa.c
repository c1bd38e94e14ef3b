/* libFuzzer target: the system attributes (ZPL 5) of the ZPL reader
 * (include/backup/zpl.h), on bytes a hostile stream chooses.  The first
 * input byte picks a mode, the second the byte order:
 *   0: a registry and layouts from the input (bk_sa_registry_attr,
 *      bk_sa_registry_layout), then the rest as a bonus and a spill block
 *      (bk_sa_parse both, bk_sa_stat);
 *   1: the rest is a ZPL_DXATTR value (bk_zpl_dxattr_parse);
 *   2: a whole ZPL 5 file system in memory: a valid master node, root and
 *      SA master node, a registry and a layouts ZAP whose entries come from
 *      the input, and objects 6 to 10 (a file, a symlink, a directory, an
 *      xattr directory and its file) whose bonus buffers, spill blocks and
 *      data are the input's; walked recursively, every file read, every
 *      symlink read and every object's xattrs listed.
 * Anything but BK_OK or an error with a message, a crash, a leak or a
 * hang is a bug. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "backup/zpl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define BS 4096u
#define NOBJ 10
static const char *const names[] = {
	"ZPL_ATIME",   "ZPL_MTIME",      "ZPL_CTIME",     "ZPL_CRTIME",
	"ZPL_GEN",     "ZPL_MODE",       "ZPL_SIZE",      "ZPL_PARENT",
	"ZPL_LINKS",   "ZPL_XATTR",      "ZPL_RDEV",      "ZPL_FLAGS",
	"ZPL_UID",     "ZPL_GID",        "ZPL_PAD",       "ZPL_ZNODE_ACL",
	"ZPL_DACL_COUNT", "ZPL_SYMLINK", "ZPL_SCANSTAMP", "ZPL_DACL_ACES",
	"ZPL_DXATTR",  "ZPL_PROJID",     "OTHER",
};
#define NNAMES (sizeof(names) / sizeof(names[0]))

struct input {
	const uint8_t *p;
	size_t n;
};

static unsigned take(struct input *in)
{
	unsigned v;

	if (!in->n)
		return 0;
	v = in->p[0];
	in->p++;
	in->n--;
	return v;
}

/* Up to max bytes (their count first) of the input. */
static const uint8_t *take_bytes(struct input *in, size_t max, size_t *len)
{
	size_t k = take(in) * 4u;
	const uint8_t *p = in->p;

	k = k > max ? max : k;
	k = k > in->n ? in->n : k;
	in->p += k;
	in->n -= k;
	*len = k;
	return p;
}

static void check(enum bk_code rc, const struct bk_error *err)
{
	if (rc != BK_OK && (rc != err->code || !err->msg[0]))
		abort();
}

static void put(uint8_t *p, unsigned n, uint64_t v, bool be)
{
	for (unsigned i = 0; i < n; i++)
		p[be ? n - 1 - i : i] = (uint8_t)(v >> (8 * i));
}

static int xattr_fn(void *ctx, const char *name, const uint8_t *value,
		    size_t len)
{
	size_t *n = ctx;

	/* what the reader hands out must hold what it says */
	if (strlen(name) > BK_ZPL_XATTR_NAME || strchr(name, '/') ||
	    len > BK_ZPL_XATTR_MAX || (len && !value))
		abort();
	if (len)
		*n += value[0] + value[len - 1];
	return 0;
}

/* ---- mode 0 ------------------------------------------------------------ */

static void registry_entries(struct bk_sa_registry *r, struct input *in,
			     bool be)
{
	struct bk_error err;
	unsigned k = take(in) % 24, m;

	for (unsigned i = 0; i < k; i++) {
		unsigned name = take(in) % NNAMES, num = take(in),
			 len = take(in);

		check(bk_sa_registry_attr(r, names[name],
					  num | (uint64_t)len << 24, &err),
		      &err);
	}
	m = take(in) % 5;
	for (unsigned i = 0; i < m; i++) {
		char lname[8] = { (char)('0' + take(in) % 10), 0 };
		size_t len;
		const uint8_t *a = take_bytes(in, 64, &len);

		check(bk_sa_registry_layout(r, lname, a, len / 2, be, &err),
		      &err);
	}
}

static void mode_parse(struct input *in, bool be)
{
	struct bk_sa_registry *r;
	struct bk_sa_values v;
	struct bk_zpl_stat st;
	struct bk_error err;
	const uint8_t *bonus;
	size_t blen;
	enum bk_code rc;

	if (bk_sa_registry_new(&r, &err))
		abort();
	registry_entries(r, in, be);
	bonus = take_bytes(in, 320, &blen);
	memset(&v, 0, sizeof(v));
	rc = bk_sa_parse(r, bonus, blen, be, &v, &err);
	check(rc, &err);
	if (!rc) {
		rc = bk_sa_parse(r, in->p, in->n, be, &v, &err);
		check(rc, &err);
	}
	if (!rc) {
		/* every value must lie inside what was parsed */
		for (unsigned i = 0; i < BK_SA_NZPL; i++) {
			const struct bk_sa_value *x = &v.v[i];
			bool inb = x->p >= bonus && x->p + x->len <= bonus + blen;
			bool ins = x->p >= in->p && x->p + x->len <= in->p + in->n;

			if (x->set && !inb && !ins)
				abort();
		}
		check(bk_sa_stat(&v, &st, &err), &err);
	}
	bk_sa_registry_free(r);
}

/* ---- mode 2: a whole file system ---------------------------------------- */

struct fobj {
	uint32_t type, bonustype;
	uint8_t bonus[320];
	uint32_t bonuslen;
	uint8_t block[2][BS]; /* block 0 (and a fat ZAP's leaf) */
	unsigned nblocks;
	const uint8_t *spill;
	size_t spilllen;
};

static struct fobj objs[NOBJ + 1];

static enum bk_code f_object(void *ctx, uint64_t obj,
			     struct bk_zpl_object *out, struct bk_error *err)
{
	(void)ctx;
	if (obj == 0 || obj > NOBJ || !objs[obj].type)
		return bk_error_set(err, BK_ERR_NOTFOUND, "no object");
	out->type = objs[obj].type;
	out->bonustype = objs[obj].bonustype;
	out->blksz = BS;
	out->maxblkid = objs[obj].nblocks ? objs[obj].nblocks - 1 : 0;
	out->bonus = objs[obj].bonus;
	out->bonuslen = objs[obj].bonuslen;
	return BK_OK;
}

static enum bk_code f_read(void *ctx, uint64_t obj, uint64_t blkid,
			   uint8_t *buf, size_t len, bool *hole,
			   struct bk_error *err)
{
	(void)ctx;
	memset(buf, 0, len);
	*hole = true;
	if (obj == 0 || obj > NOBJ || !objs[obj].type)
		return bk_error_set(err, BK_ERR_NOTFOUND, "no object");
	if (len != BS)
		abort();
	if (blkid < objs[obj].nblocks) {
		memcpy(buf, objs[obj].block[blkid], BS);
		*hole = false;
	}
	return BK_OK;
}

static enum bk_code f_next(void *ctx, uint64_t obj, uint64_t from,
			   uint64_t *blkid, struct bk_error *err)
{
	(void)ctx;
	(void)err;
	*blkid = obj <= NOBJ && from < objs[obj].nblocks ? from : UINT64_MAX;
	return BK_OK;
}

static enum bk_code f_spill(void *ctx, uint64_t obj, uint8_t *buf,
			    size_t cap, size_t *len, struct bk_error *err)
{
	(void)ctx;
	(void)err;
	*len = 0;
	if (obj <= NOBJ && objs[obj].spilllen <= cap) {
		memcpy(buf, objs[obj].spill, objs[obj].spilllen);
		*len = objs[obj].spilllen;
	}
	return BK_OK;
}

static const struct bk_zpl_source_ops fops = { f_object, f_read, f_next,
					       NULL, f_spill };

static void micro(struct fobj *o, uint32_t type, const char *const *n,
		  const uint64_t *v, unsigned k, bool be)
{
	o->type = type;
	o->nblocks = 1;
	put(o->block[0], 8, BK_ZAP_MICRO, be);
	for (unsigned i = 0; i < k; i++) {
		put(o->block[0] + 64 * (i + 1), 8, v[i], be);
		memcpy(o->block[0] + 64 * (i + 1) + 14, n[i], strlen(n[i]));
	}
}

/* The layouts ZAP: a fat ZAP of one leaf, entries "2".."5" of u16 arrays
 * from the input. */
static void layouts(struct fobj *o, struct input *in, bool be)
{
	const unsigned hashents = BS / 32, nch = (BS - 2 * hashents) / 24 - 2;
	uint8_t *h = o->block[0], *l = o->block[1];
	uint8_t *ch = l + 48 + 2 * hashents;
	unsigned next = 0, n = 1 + take(in) % 4;

	o->type = 47;
	o->nblocks = 2;
	put(h, 8, BK_ZAP_HEADER, be);
	put(h + 8, 8, 0x2F52AB2ABull, be);
	put(h + BS / 2, 8, 1, be); /* shift 0: one pointer, to leaf 1 */
	put(l, 8, BK_ZAP_LEAF, be);
	put(l + 24, 4, 0x2AB1EAF, be);
	for (unsigned i = 0; i < n && next + 4 < nch; i++) {
		size_t len;
		const uint8_t *a = take_bytes(in, 42, &len);
		uint8_t *e = ch + 24 * next;

		len &= ~(size_t)1;
		e[0] = 252;
		e[1] = 2;
		put(e + 4, 2, next + 1, be);
		put(e + 6, 2, 2, be); /* "2\0" */
		put(e + 8, 2, next + 2, be);
		put(e + 10, 2, len / 2, be);
		ch[24 * (next + 1)] = 251;
		ch[24 * (next + 1) + 1] = (uint8_t)('2' + i);
		put(ch + 24 * (next + 1) + 22, 2, 0xffff, be);
		ch[24 * (next + 2)] = 251;
		memcpy(ch + 24 * (next + 2) + 1, a, len < 21 ? len : 21);
		put(ch + 24 * (next + 2) + 22, 2, len > 21 ? next + 3 : 0xffff,
		    be);
		ch[24 * (next + 3)] = 251;
		if (len > 21)
			memcpy(ch + 24 * (next + 3) + 1, a + 21, len - 21);
		put(ch + 24 * (next + 3) + 22, 2, 0xffff, be);
		next += 4;
	}
}

/* Objects 1-10: the ZAPs valid (their entries the input's), every bonus,
 * spill block and data block the input's. */
static void build(struct input *in, bool be)
{
	static const char *const mn[] = { "VERSION", "ROOT", "SA_ATTRS" };
	static const uint64_t mv[] = { 5, 2, 3 };
	static const char *const sn[] = { "REGISTRY", "LAYOUTS" };
	static const uint64_t sv[] = { 4, 5 };
	static const char *const rn[] = { "f", "l", "d" };
	static const uint64_t rv[] = { UINT64_C(8) << 60 | 6,
				       UINT64_C(10) << 60 | 7,
				       UINT64_C(4) << 60 | 8 };
	static const char *const xn[] = { "user.a" };
	static const uint64_t xv[] = { UINT64_C(8) << 60 | 10 };
	const char *regn[24];
	uint64_t regv[24];
	unsigned k;

	memset(objs, 0, sizeof(objs));
	micro(&objs[1], 21, mn, mv, 3, be);
	micro(&objs[3], 45, sn, sv, 2, be);
	k = take(in) % 24;
	for (unsigned i = 0; i < k; i++) {
		regn[i] = names[take(in) % NNAMES];
		regv[i] = take(in) | (uint64_t)take(in) << 24 |
			  (uint64_t)take(in) << 16;
	}
	micro(&objs[4], 46, regn, regv, k, be);
	layouts(&objs[5], in, be);
	micro(&objs[2], 20, rn, rv, 3, be);
	micro(&objs[9], 20, xn, xv, 1, be);
	objs[8].type = 20;
	objs[8].nblocks = 1;
	put(objs[8].block[0], 8, BK_ZAP_MICRO, be);
	objs[6].type = objs[7].type = objs[10].type = 19;
	for (unsigned o = 2; o <= NOBJ; o++) {
		size_t len;
		const uint8_t *b;

		if (o == 3 || o == 4 || o == 5)
			continue;
		objs[o].bonustype = BK_ZPL_OT_SA;
		b = take_bytes(in, sizeof(objs[o].bonus), &len);
		memcpy(objs[o].bonus, b, len);
		objs[o].bonuslen = (uint32_t)len;
		objs[o].spill = take_bytes(in, 1024, &objs[o].spilllen);
	}
	/* the data of the file and of the xattr file */
	for (unsigned o = 6; o <= 10; o += 4) {
		size_t len;
		const uint8_t *b = take_bytes(in, BS, &len);

		memcpy(objs[o].block[0], b, len);
		objs[o].nblocks = 1;
	}
}

static int visit(void *ctx, const char *path, const struct bk_zpl_stat *st,
		 const char *target)
{
	struct bk_zpl *z = ctx;
	struct bk_error err;
	uint8_t buf[BS];
	char link[BK_ZPL_PATH_MAX + 1];
	size_t n = 0;
	bool hole;

	(void)path;
	(void)target;
	check(bk_zpl_xattrs(z, st->object, xattr_fn, &n, &err), &err);
	if (S_ISLNK(st->mode))
		check(bk_zpl_readlink(z, st->object, link, sizeof(link), &err),
		      &err);
	if (S_ISREG(st->mode) && st->blksz == BS)
		check(bk_zpl_read_block(z, st, 0, buf, &hole, &err), &err);
	return 0;
}

static void mode_whole(struct input *in, bool be)
{
	struct bk_zpl_source src = { &fops, NULL, be };
	struct bk_zpl *z;
	struct bk_error err;
	enum bk_code rc;

	build(in, be);
	rc = bk_zpl_open(&src, &z, &err);
	check(rc, &err);
	if (rc)
		return;
	check(bk_zpl_tree(z, bk_zpl_root(z), "/", true, visit, z, &err),
	      &err);
	/* the xattr directory's file, read as an xattr of everything */
	for (uint64_t o = 6; o <= NOBJ; o++) {
		size_t n = 0;

		check(bk_zpl_xattrs(z, o, xattr_fn, &n, &err), &err);
	}
	bk_zpl_close(z);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = { data + 2, size - 2 };
	struct bk_error err;
	size_t n = 0;
	bool be;

	if (size < 2)
		return 0;
	be = data[1] & 1;
	switch (data[0] % 3) {
	case 0:
		mode_parse(&in, be);
		break;
	case 1:
		check(bk_zpl_dxattr_parse(in.p, in.n, xattr_fn, &n, &err),
		      &err);
		break;
	default:
		mode_whole(&in, be);
		break;
	}
	return 0;
}
