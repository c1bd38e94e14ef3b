/* SPDX-License-Identifier: MIT */
/*
 * A ZPL file system as a send stream, from a description of its tree
 * (include/backup/gen.h, "ZPL file systems"; the on-disk facts are those of
 * docs/zpl.md).  Objects: 1 the master node; with ZPL 5, 2 the SA master
 * node, 3 its registry, 4 its layouts; then each file in the order of the
 * nodes, each followed by its xattr directory and that directory's files.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backup/gen.h"
#include "backup/nvlist.h"

#define OT_PLAIN 19u
#define OT_DIR 20u
#define OT_MASTER 21u
#define OT_ZNODE 17u
#define OT_SA 44u
#define OT_SA_MASTER 45u
#define OT_SA_REG 46u
#define OT_SA_LAYOUTS 47u
#define DMU_OST_ZFS 2u
#define DMU_OST_ZVOL 3u
#define OT_ZVOL 23u
#define OT_ZVOL_PROP 24u
#define CKSUM_FLETCHER_4 7u

#define FIRST_OBJ 8u
#define BONUS_MAX 320u  /* a 512-byte dnode's bonus */
#define BONUS_SPILL 192u /* the same, less the spill block pointer */
#define ZNODE 264u
#define MZ_NAME 50u
#define FAT_BS 16384u
#define FAT_SHIFT 14
#define CHUNK 24u
#define LAYOUTS_MAX 256u
#define SPILL_MAX (128u << 10)
#define ZFS_XATTR_FLAG (UINT64_C(1) << 33) /* ZFS_XATTR: an xattr dir */
#define S_IFMT_ 0170000u
#define S_IFDIR_ 0040000u
#define S_IFREG_ 0100000u
#define S_IFLNK_ 0120000u

/* ZPL attribute numbers as the registry below gives them */
enum { A_ATIME, A_MTIME, A_CTIME, A_CRTIME, A_GEN, A_MODE, A_SIZE, A_PARENT,
       A_LINKS, A_XATTR, A_RDEV, A_FLAGS, A_UID, A_GID, A_PAD, A_ZNODE_ACL,
       A_DACL_COUNT, A_SYMLINK, A_SCANSTAMP, A_DACL_ACES, A_DXATTR,
       A_PROJID, A_N };
static const struct {
	const char *name;
	uint16_t len;
	uint8_t bswap; /* 0 u64 array, 3 u8 array, 4 ACL */
} reg[A_N] = {
	{ "ZPL_ATIME", 16, 0 },   { "ZPL_MTIME", 16, 0 },
	{ "ZPL_CTIME", 16, 0 },   { "ZPL_CRTIME", 16, 0 },
	{ "ZPL_GEN", 8, 0 },      { "ZPL_MODE", 8, 0 },
	{ "ZPL_SIZE", 8, 0 },     { "ZPL_PARENT", 8, 0 },
	{ "ZPL_LINKS", 8, 0 },    { "ZPL_XATTR", 8, 0 },
	{ "ZPL_RDEV", 8, 0 },     { "ZPL_FLAGS", 8, 0 },
	{ "ZPL_UID", 8, 0 },      { "ZPL_GID", 8, 0 },
	{ "ZPL_PAD", 32, 0 },     { "ZPL_ZNODE_ACL", 88, 3 },
	{ "ZPL_DACL_COUNT", 8, 0 }, { "ZPL_SYMLINK", 0, 3 },
	{ "ZPL_SCANSTAMP", 32, 3 }, { "ZPL_DACL_ACES", 0, 4 },
	{ "ZPL_DXATTR", 0, 3 },   { "ZPL_PROJID", 8, 0 },
};

/* One object of the file system: a node, an xattr dir or an xattr file. */
struct zobj {
	uint64_t obj, links, xdir;
	bool sa_xattrs;
};

struct layout {
	uint16_t a[A_N];
	unsigned n;
};

struct zg {
	const struct bk_gen_zpl_opts *o;
	const struct bk_gen_zpl_node *nodes;
	size_t n;
	struct zobj *zo;      /* by node */
	struct bk_drr_writer w;
	bool be;              /* payload byte order */
	uint64_t guid;
	uint32_t bs;
	struct layout lay[LAYOUTS_MAX]; /* number i + 2 */
	unsigned nlay;
	uint8_t *blk;         /* a block being built (128K at most) */
	struct bk_buf nv;     /* a packed DXATTR */
};

static void put_n(uint8_t *p, uint64_t v, unsigned n, bool be)
{
	for (unsigned i = 0; i < n; i++)
		p[be ? n - 1 - i : i] = (uint8_t)(v >> (8 * i));
}

static size_t node_target(const struct zg *G, size_t i)
{
	return G->nodes[i].link == SIZE_MAX ? i : G->nodes[i].link;
}

/* ---- records -------------------------------------------------------- */

static enum bk_code put_object(struct zg *G, uint64_t obj, uint32_t type,
			       uint32_t bonustype, uint32_t blksz,
			       uint64_t maxblkid, const uint8_t *bonus,
			       uint32_t bonuslen, struct bk_error *err)
{
	uint8_t pad[BONUS_MAX];
	struct bk_drr r;
	uint32_t plen = (bonuslen + 7u) & ~7u;

	memset(pad, 0, sizeof(pad));
	if (bonuslen) /* ZAPs of the SA and the master node have none */
		memcpy(pad, bonus, bonuslen);
	memset(&r, 0, sizeof(r));
	r.type = BK_DRR_OBJECT;
	r.u.object.object = obj;
	r.u.object.type = type;
	r.u.object.bonustype = bonustype;
	r.u.object.blksz = blksz;
	r.u.object.bonuslen = bonuslen;
	r.u.object.checksumtype = CKSUM_FLETCHER_4;
	r.u.object.compress = 2; /* off */
	r.u.object.dn_slots = 1;
	r.u.object.toguid = G->guid;
	r.u.object.maxblkid = maxblkid;
	return bk_drr_write(&G->w, &r, pad, plen, err);
}

static enum bk_code put_block(struct zg *G, uint64_t obj, uint32_t type,
			      uint64_t off, const uint8_t *data,
			      uint32_t len, struct bk_error *err)
{
	struct bk_drr r;

	memset(&r, 0, sizeof(r));
	r.type = BK_DRR_WRITE;
	r.u.write.object = obj;
	r.u.write.type = type;
	r.u.write.offset = off;
	r.u.write.logical_size = len;
	r.u.write.toguid = G->guid;
	r.u.write.checksumtype = CKSUM_FLETCHER_4;
	return bk_drr_write(&G->w, &r, data, len, err);
}

static enum bk_code put_spill(struct zg *G, uint64_t obj, const uint8_t *data,
			      uint32_t len, struct bk_error *err)
{
	struct bk_drr r;

	memset(&r, 0, sizeof(r));
	r.type = BK_DRR_SPILL;
	r.u.spill.object = obj;
	r.u.spill.length = len;
	r.u.spill.toguid = G->guid;
	r.u.spill.type = OT_SA;
	return bk_drr_write(&G->w, &r, data, len, err);
}

/* ---- ZAPs ----------------------------------------------------------- */

struct zent {
	const char *name;
	unsigned intlen;  /* 8 or 2 */
	uint32_t num;
	uint64_t v;       /* a single u64 */
	const uint16_t *a; /* else: num u16 */
};

/* A micro ZAP: every value one u64, every name short. */
static bool zap_micro_ok(const struct zent *e, size_t n)
{
	if (n > 2000)
		return false;
	for (size_t i = 0; i < n; i++)
		if (e[i].intlen != 8 || e[i].num != 1 ||
		    strlen(e[i].name) >= MZ_NAME)
			return false;
	return true;
}

/* Chunks an array of len bytes takes in a leaf. */
static size_t chunks_of(size_t len)
{
	return (len + 20) / 21;
}

/* Array bytes b[len] into chunks from *next on; returns the first. */
static uint16_t leaf_array(uint8_t *chunks, size_t *next, const uint8_t *b,
			   size_t len, bool be)
{
	uint16_t first = (uint16_t)*next;

	for (size_t off = 0; off < len; off += 21) {
		uint8_t *c = chunks + *next * CHUNK;
		size_t k = len - off < 21 ? len - off : 21;

		c[0] = 251;
		memcpy(c + 1, b + off, k);
		(*next)++;
		put_n(c + 22, off + 21 < len ? *next : 0xffff, 2, be);
	}
	return first;
}

/* Leaf `id` (prefix id of `shift` bits) of a fat ZAP with entries e[n). */
static void zap_leaf(struct zg *G, uint8_t *blk, uint64_t id, unsigned shift,
		     const struct zent *e, size_t n)
{
	size_t hashents = (size_t)1 << (FAT_SHIFT - 5);
	size_t nch = (FAT_BS - 2 * hashents) / CHUNK - 2, next = 0;
	uint8_t *chunks = blk + 48 + 2 * hashents;
	uint8_t val[2 * A_N * 4 + 8];
	bool be = G->be;

	memset(blk, 0, FAT_BS);
	put_n(blk, UINT64_C(1) << 63, 8, be); /* ZBT_LEAF */
	put_n(blk + 16, id, 8, be);
	put_n(blk + 24, 0x2AB1EAF, 4, be);
	put_n(blk + 30, n, 2, be);
	put_n(blk + 32, shift, 2, be);
	memset(blk + 48, 0xff, 2 * hashents); /* empty hash chains */
	for (size_t i = 0; i < n; i++) {
		uint8_t *c = chunks + next * CHUNK;
		size_t nl = strlen(e[i].name) + 1, vl;
		size_t bucket = i % hashents;
		uint16_t at = (uint16_t)next, nc, vc;

		next++;
		if (e[i].intlen == 8) {
			put_n(val, e[i].v, 8, true);
			vl = 8;
		} else {
			for (uint32_t k = 0; k < e[i].num; k++)
				put_n(val + 2 * k, e[i].a[k], 2, true);
			vl = 2u * e[i].num;
		}
		nc = leaf_array(chunks, &next, (const uint8_t *)e[i].name, nl,
				be);
		vc = leaf_array(chunks, &next, val, vl, be);
		c[0] = 252;
		c[1] = (uint8_t)e[i].intlen;
		/* chain onto the bucket's list */
		memcpy(c + 2, blk + 48 + 2 * bucket, 2);
		put_n(blk + 48 + 2 * bucket, at, 2, be);
		put_n(c + 4, nc, 2, be);
		put_n(c + 6, nl, 2, be);
		put_n(c + 8, vc, 2, be);
		put_n(c + 10, e[i].num, 2, be);
		/* le_hash (c + 16) stays 0: zbak's reader scans chunks */
	}
	/* the rest is the free list */
	put_n(blk + 28, nch - next, 2, be);
	put_n(blk + 34, next < nch ? next : 0xffff, 2, be);
	for (size_t k = next; k < nch; k++) {
		uint8_t *c = chunks + k * CHUNK;

		c[0] = 253;
		put_n(c + 22, k + 1 < nch ? k + 1 : 0xffff, 2, be);
	}
}

/* ZAP object obj (of type) holding e[n): micro or fat. */
static enum bk_code put_zap(struct zg *G, uint64_t obj, uint32_t type,
			    uint32_t bonustype, const uint8_t *bonus,
			    uint32_t bonuslen, const struct zent *e, size_t n,
			    struct bk_error *err)
{
	size_t hashents = (size_t)1 << (FAT_SHIFT - 5);
	size_t nch = (FAT_BS - 2 * hashents) / CHUNK - 2;
	uint64_t nleaves = 1, used = 0;
	unsigned shift = 0;
	size_t *first;
	enum bk_code rc;
	bool be = G->be;

	if (zap_micro_ok(e, n)) {
		uint32_t bs = 512;

		while (bs < 64u * (n + 1))
			bs *= 2;
		memset(G->blk, 0, bs);
		put_n(G->blk, UINT64_C(1) << 63 | 3, 8, be);
		for (size_t i = 0; i < n; i++) {
			uint8_t *m = G->blk + 64 * (i + 1);

			put_n(m, e[i].v, 8, be);
			put_n(m + 8, 0, 4, be);
			memcpy(m + 14, e[i].name, strlen(e[i].name) + 1);
		}
		rc = put_object(G, obj, type, bonustype, bs, 0, bonus,
				bonuslen, err);
		return rc ? rc : put_block(G, obj, type, 0, G->blk, bs, err);
	}
	/* fat: how many leaves, filled in order */
	if (!(first = calloc(n + 2, sizeof(*first))))
		return bk_error_set(err, BK_ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		size_t vl = e[i].intlen == 8 ? 8 : 2u * e[i].num;
		size_t need = 1 + chunks_of(strlen(e[i].name) + 1) +
			      chunks_of(vl);

		if (used + need > nch) {
			first[nleaves++] = i;
			used = 0;
		}
		used += need;
	}
	first[nleaves] = n;
	while (((uint64_t)1 << shift) < nleaves)
		shift++;
	if (shift > FAT_SHIFT - 4) {
		free(first);
		return bk_error_set(err, BK_ERR_USAGE,
				    "object %" PRIu64 ": too many entries",
				    obj);
	}
	rc = put_object(G, obj, type, bonustype, FAT_BS,
			((uint64_t)1 << shift), bonus, bonuslen, err);
	/* the header, its pointer table embedded: one pointer per leaf
	 * (empty leaves pad the count to a power of two) */
	memset(G->blk, 0, FAT_BS);
	put_n(G->blk, UINT64_C(1) << 63 | 1, 8, be);
	put_n(G->blk + 8, UINT64_C(0x2F52AB2AB), 8, be);
	put_n(G->blk + 32, shift, 8, be);
	put_n(G->blk + 56, ((uint64_t)1 << shift) + 1, 8, be);
	put_n(G->blk + 64, (uint64_t)1 << shift, 8, be);
	put_n(G->blk + 72, n, 8, be);
	put_n(G->blk + 80, 0x5a17, 8, be);
	for (uint64_t i = 0; i < ((uint64_t)1 << shift); i++)
		put_n(G->blk + FAT_BS / 2 + 8 * i, i + 1, 8, be);
	if (!rc)
		rc = put_block(G, obj, type, 0, G->blk, FAT_BS, err);
	for (uint64_t l = 0; !rc && l < ((uint64_t)1 << shift); l++) {
		size_t a = l < nleaves ? first[l] : n;
		size_t b = l < nleaves ? first[l + 1] : n;

		zap_leaf(G, G->blk, l, shift, e + a, b - a);
		rc = put_block(G, obj, type, (l + 1) * FAT_BS, G->blk, FAT_BS,
			       err);
	}
	free(first);
	return rc;
}

/* ---- bonus buffers -------------------------------------------------- */

/* What one object's bonus says. */
struct fattrs {
	uint64_t v[A_N]; /* the u64 attributes, by number */
	int64_t t[4];    /* atime, mtime, ctime, crtime */
	uint32_t tn[4];
	const uint8_t *symlink; /* a symlink's target */
	size_t symlen;
	const uint8_t *dxattr; /* a packed nvlist of xattrs */
	size_t dxlen;
};

struct sa_item {
	uint16_t a;
	const uint8_t *p;
	size_t len;
};

/* The layout number of attrs a[n), added when new. */
static enum bk_code sa_layout(struct zg *G, const struct sa_item *it,
			      unsigned n, unsigned *num, struct bk_error *err)
{
	unsigned i;

	for (i = 0; i < G->nlay; i++) {
		unsigned k = 0;

		if (G->lay[i].n != n)
			continue;
		while (k < n && G->lay[i].a[k] == it[k].a)
			k++;
		if (k == n)
			break;
	}
	if (i == G->nlay) {
		if (G->nlay == LAYOUTS_MAX)
			return bk_error_set(err, BK_ERR_USAGE,
					    "too many SA layouts");
		for (unsigned k = 0; k < n; k++)
			G->lay[i].a[k] = it[k].a;
		G->lay[i].n = n;
		G->nlay++;
	}
	*num = i + 2; /* 0 and 1 are the legacy layouts */
	return BK_OK;
}

/* An SA buffer of it[n) into out; its length. */
static enum bk_code sa_write(struct zg *G, const struct sa_item *it,
			     unsigned n, uint8_t *out, size_t *len,
			     struct bk_error *err)
{
	unsigned nvar = 0, num = 0, v = 0;
	size_t hdr, off;
	enum bk_code rc;

	for (unsigned i = 0; i < n; i++)
		nvar += reg[it[i].a].len == 0;
	hdr = (6u + 2u * nvar + 7u) & ~(size_t)7;
	if ((rc = sa_layout(G, it, n, &num, err)))
		return rc;
	put_n(out, 0x2F505A, 4, G->be);
	put_n(out + 4, num | (hdr / 8) << 10, 2, G->be);
	off = hdr;
	for (unsigned i = 0; i < n; i++) {
		if (reg[it[i].a].len == 0)
			put_n(out + 6 + 2 * v++, it[i].len, 2, G->be);
		if (it[i].len)
			memcpy(out + off, it[i].p, it[i].len);
		memset(out + off + it[i].len, 0,
		       ((it[i].len + 7) & ~(size_t)7) - it[i].len);
		off += (it[i].len + 7) & ~(size_t)7;
	}
	*len = off;
	return BK_OK;
}

static size_t sa_size(const struct sa_item *it, unsigned n)
{
	unsigned nvar = 0;
	size_t sz = 0;

	for (unsigned i = 0; i < n; i++) {
		nvar += reg[it[i].a].len == 0;
		sz += (it[i].len + 7) & ~(size_t)7;
	}
	return ((6u + 2u * nvar + 7u) & ~(size_t)7) + sz;
}

/*
 * The SA bonus of f into bonus[BONUS_MAX], and the spill block (spill[
 * SPILL_MAX], *spilllen 0 when none) when it does not fit: the
 * attributes in ZFS's order, the first ones in the bonus.
 */
static enum bk_code sa_bonus(struct zg *G, const struct fattrs *f,
			     uint8_t *bonus, uint32_t *bonuslen,
			     uint8_t *spill, uint32_t *spilllen,
			     struct bk_error *err)
{
	static const uint8_t order[] = { A_MODE, A_SIZE, A_GEN, A_UID, A_GID,
					 A_PARENT, A_FLAGS, A_ATIME, A_MTIME,
					 A_CTIME, A_CRTIME, A_LINKS };
	uint8_t vals[A_N][16];
	struct sa_item it[A_N];
	unsigned n = 0, k;
	size_t len;
	enum bk_code rc;

	for (size_t i = 0; i < sizeof(order); i++) {
		unsigned a = order[i];

		if (a <= A_CRTIME) { /* the times come first */
			put_n(vals[a], (uint64_t)f->t[a - A_ATIME], 8, G->be);
			put_n(vals[a] + 8, f->tn[a - A_ATIME], 8, G->be);
		} else {
			put_n(vals[a], f->v[a], 8, G->be);
		}
		it[n++] = (struct sa_item){ (uint16_t)a, vals[a], reg[a].len };
	}
	if (f->v[A_RDEV]) {
		put_n(vals[A_RDEV], f->v[A_RDEV], 8, G->be);
		it[n++] = (struct sa_item){ A_RDEV, vals[A_RDEV], 8 };
	}
	if (f->v[A_XATTR]) {
		put_n(vals[A_XATTR], f->v[A_XATTR], 8, G->be);
		it[n++] = (struct sa_item){ A_XATTR, vals[A_XATTR], 8 };
	}
	if (f->symlink)
		it[n++] = (struct sa_item){ A_SYMLINK, f->symlink, f->symlen };
	if (f->dxattr)
		it[n++] = (struct sa_item){ A_DXATTR, f->dxattr, f->dxlen };
	*spilllen = 0;
	if (sa_size(it, n) <= BONUS_MAX) {
		rc = sa_write(G, it, n, bonus, &len, err);
		*bonuslen = (uint32_t)len;
		return rc;
	}
	/* as many as fit beside the spill block pointer; the rest spills */
	for (k = n; k > 1 && sa_size(it, k) > BONUS_SPILL; k--)
		;
	if (sa_size(it + k, n - k) > SPILL_MAX)
		return bk_error_set(err, BK_ERR_USAGE,
				    "attributes of %zu bytes: too many for a "
				    "spill block",
				    sa_size(it + k, n - k));
	if ((rc = sa_write(G, it, k, bonus, &len, err)))
		return rc;
	*bonuslen = (uint32_t)len;
	if ((rc = sa_write(G, it + k, n - k, spill, &len, err)))
		return rc;
	memset(spill + len, 0, ((len + 511) & ~(size_t)511) - len);
	*spilllen = (uint32_t)((len + 511) & ~(size_t)511);
	return BK_OK;
}

/* A znode_phys_t (and a short symlink's target) into bonus. */
static uint32_t znode_bonus(struct zg *G, const struct fattrs *f,
			    uint8_t *bonus)
{
	static const uint8_t at[] = { A_GEN, A_MODE, A_SIZE, A_PARENT,
				      A_LINKS, A_XATTR, A_RDEV, A_FLAGS,
				      A_UID, A_GID };

	memset(bonus, 0, BONUS_MAX);
	for (int i = 0; i < 4; i++) {
		put_n(bonus + 16 * i, (uint64_t)f->t[i], 8, G->be);
		put_n(bonus + 16 * i + 8, f->tn[i], 8, G->be);
	}
	for (size_t i = 0; i < sizeof(at); i++)
		put_n(bonus + 64 + 8 * i, f->v[at[i]], 8, G->be);
	if (f->symlink && ZNODE + f->symlen <= BONUS_MAX) {
		memcpy(bonus + ZNODE, f->symlink, f->symlen);
		return (uint32_t)(ZNODE + f->symlen);
	}
	return ZNODE;
}

/* ---- objects -------------------------------------------------------- */

/* The bonus of f (and its spill block) with the object record. */
static enum bk_code put_file_object(struct zg *G, uint64_t obj, uint32_t type,
				    uint32_t blksz, uint64_t maxblkid,
				    const struct fattrs *f,
				    const struct zent *e, size_t ne,
				    uint8_t *spill, uint32_t *spilllen,
				    struct bk_error *err)
{
	uint8_t bonus[BONUS_MAX];
	uint32_t bonuslen = 0, bt = OT_SA;
	enum bk_code rc;

	*spilllen = 0;
	if (G->o->version >= 5) {
		rc = sa_bonus(G, f, bonus, &bonuslen, spill, spilllen, err);
		if (rc)
			return rc;
	} else {
		bonuslen = znode_bonus(G, f, bonus);
		bt = OT_ZNODE;
	}
	if (e)
		return put_zap(G, obj, type, bt, bonus, bonuslen, e, ne, err);
	return put_object(G, obj, type, bt, blksz, maxblkid, bonus, bonuslen,
			  err);
}

/* A file's contents: its blocks that are not all zeros. */
static enum bk_code put_contents(struct zg *G, uint64_t obj,
				 const uint8_t *data, uint64_t size,
				 uint32_t blksz, struct bk_error *err)
{
	enum bk_code rc = BK_OK;

	for (uint64_t off = 0; !rc && off < size; off += blksz) {
		size_t k = size - off < blksz ? (size_t)(size - off) : blksz;
		size_t z = 0;

		while (z < k && !data[off + z])
			z++;
		if (z == k)
			continue; /* a hole */
		memcpy(G->blk, data + off, k);
		memset(G->blk + k, 0, blksz - k);
		rc = put_block(G, obj, OT_PLAIN, off, G->blk, blksz, err);
	}
	return rc;
}

/* ZFS keeps user.* names without their prefix, the others whole. */
static const char *xattr_stored(const char *name)
{
	return strncmp(name, "user.", 5) ? name : name + 5;
}

static void node_attrs(const struct zg *G, size_t i, struct fattrs *f)
{
	const struct bk_gen_zpl_node *d = &G->nodes[i];

	memset(f, 0, sizeof(*f));
	f->v[A_MODE] = d->mode;
	f->v[A_UID] = d->uid;
	f->v[A_GID] = d->gid;
	f->v[A_RDEV] = d->rdev;
	f->v[A_GEN] = 4;
	f->v[A_LINKS] = G->zo[i].links;
	f->v[A_XATTR] = G->zo[i].xdir;
	f->v[A_PARENT] = G->zo[d->parent].obj;
	f->t[0] = d->atime, f->tn[0] = d->atime_ns;
	f->t[1] = d->mtime, f->tn[1] = d->mtime_ns;
	f->t[2] = d->ctime, f->tn[2] = d->ctime_ns;
	f->t[3] = d->crtime, f->tn[3] = d->crtime_ns;
}

/* Node i's xattr directory and its files (one per xattr). */
static enum bk_code put_xattr_dir(struct zg *G, size_t i, uint8_t *spill,
				  struct bk_error *err)
{
	const struct bk_gen_zpl_node *d = &G->nodes[i];
	uint64_t xd = G->zo[i].xdir;
	struct zent *e = calloc(d->nxattrs + 1, sizeof(*e));
	struct fattrs f;
	uint32_t sl;
	enum bk_code rc;

	if (!e)
		return bk_error_set(err, BK_ERR_NOMEM, "out of memory");
	node_attrs(G, i, &f);
	f.v[A_MODE] = S_IFDIR_ | 01777;
	f.v[A_FLAGS] = ZFS_XATTR_FLAG;
	f.v[A_SIZE] = d->nxattrs + 2;
	f.v[A_LINKS] = 2;
	f.v[A_PARENT] = G->zo[i].obj;
	f.v[A_XATTR] = 0;
	f.v[A_RDEV] = 0;
	for (size_t k = 0; k < d->nxattrs; k++)
		e[k] = (struct zent){ xattr_stored(d->xattrs[k].name), 8, 1,
				      UINT64_C(8) << 60 | (xd + 1 + k), NULL };
	rc = put_file_object(G, xd, OT_DIR, 0, 0, &f, e, d->nxattrs, spill,
			     &sl, err);
	free(e);
	if (!rc && sl)
		rc = put_spill(G, xd, spill, sl, err);
	for (size_t k = 0; !rc && k < d->nxattrs; k++) {
		const struct bk_gen_zpl_xattr *x = &d->xattrs[k];
		uint32_t bs = (uint32_t)((x->len + 511) & ~(size_t)511);

		bs = bs ? bs : 512;
		f.v[A_MODE] = S_IFREG_ | 0644;
		f.v[A_FLAGS] = 0;
		f.v[A_SIZE] = x->len;
		f.v[A_LINKS] = 1;
		f.v[A_PARENT] = xd;
		rc = put_file_object(G, xd + 1 + k, OT_PLAIN, bs, 0, &f, NULL,
				     0, spill, &sl, err);
		if (!rc && sl)
			rc = put_spill(G, xd + 1 + k, spill, sl, err);
		if (!rc)
			rc = put_contents(G, xd + 1 + k, x->value, x->len, bs,
					  err);
	}
	return rc;
}

/* The SA xattrs of node i, packed (XDR, as ZFS packs them) into G->nv. */
static enum bk_code pack_xattrs(struct zg *G, size_t i, struct bk_error *err)
{
	const struct bk_gen_zpl_node *d = &G->nodes[i];
	struct bk_nvlist *nvl;
	enum bk_code rc;

	bk_buf_reset(&G->nv);
	if ((rc = bk_nvlist_new(&nvl, err)))
		return rc;
	for (size_t k = 0; !rc && k < d->nxattrs; k++)
		rc = bk_nvlist_add_byte_array(nvl,
					      xattr_stored(d->xattrs[k].name),
					      d->xattrs[k].value,
					      (uint32_t)d->xattrs[k].len, err);
	if (!rc)
		rc = bk_nvlist_pack(nvl, BK_NV_XDR, G->be, &G->nv, err);
	bk_nvlist_free(nvl);
	return rc;
}

/* The entries of directory node i. */
static enum bk_code dir_entries(const struct zg *G, size_t i, struct zent **out,
				size_t *n, struct bk_error *err)
{
	size_t k = 0;

	*out = calloc(G->n, sizeof(**out));
	if (!*out)
		return bk_error_set(err, BK_ERR_NOMEM, "out of memory");
	for (size_t j = 1; j < G->n; j++) {
		size_t t = node_target(G, j);

		if (G->nodes[j].parent != i)
			continue;
		(*out)[k++] = (struct zent){
			G->nodes[j].name, 8, 1,
			(uint64_t)((G->nodes[t].mode & S_IFMT_) >> 12) << 60 |
				G->zo[t].obj,
			NULL };
	}
	*n = k;
	return BK_OK;
}

/* Node i (not a link): its object, contents, spill block, xattr dir. */
static enum bk_code put_node(struct zg *G, size_t i, uint8_t *spill,
			     struct bk_error *err)
{
	const struct bk_gen_zpl_node *d = &G->nodes[i];
	uint64_t obj = G->zo[i].obj, type = d->mode & S_IFMT_;
	uint32_t blksz = 512, sl;
	uint64_t maxblkid = 0;
	struct zent *e = NULL;
	size_t ne = 0;
	struct fattrs f;
	enum bk_code rc;

	node_attrs(G, i, &f);
	f.v[A_SIZE] = d->size;
	if (G->zo[i].sa_xattrs && d->nxattrs) {
		if ((rc = pack_xattrs(G, i, err)))
			return rc;
		f.dxattr = G->nv.data;
		f.dxlen = G->nv.len;
	}
	if (type == S_IFDIR_) {
		if ((rc = dir_entries(G, i, &e, &ne, err)))
			return rc;
		f.v[A_SIZE] = ne + 2;
		rc = put_file_object(G, obj, OT_DIR, 0, 0, &f, e, ne, spill,
				     &sl, err);
		free(e);
	} else {
		bool inblock = false;

		if (type == S_IFLNK_) {
			f.symlink = d->data;
			f.symlen = d->size;
			/* ZPL 4 keeps a long target in block 0 */
			inblock = G->o->version < 5 &&
				  ZNODE + d->size > BONUS_MAX;
		}
		if (type == S_IFREG_ || inblock) {
			if (d->size > G->bs) {
				blksz = G->bs;
				maxblkid = (d->size - 1) / G->bs;
			} else if (d->size) {
				blksz = (uint32_t)((d->size + 511) & ~511u);
			}
		}
		rc = put_file_object(G, obj, OT_PLAIN, blksz, maxblkid, &f,
				     NULL, 0, spill, &sl, err);
		if (!rc && (type == S_IFREG_ || inblock))
			rc = put_contents(G, obj, d->data, d->size, blksz,
					  err);
	}
	if (!rc && sl)
		rc = put_spill(G, obj, spill, sl, err);
	if (!rc && G->zo[i].xdir)
		rc = put_xattr_dir(G, i, spill, err);
	return rc;
}

/* ---- the stream ----------------------------------------------------- */

static enum bk_code null_sink(void *ctx, const void *buf, size_t len,
			      struct bk_error *err)
{
	(void)ctx, (void)buf, (void)len, (void)err;
	return BK_OK;
}

static enum bk_code bad_node(struct bk_error *err, size_t i, const char *why)
{
	return bk_error_set(err, BK_ERR_USAGE, "node %zu: %s", i, why);
}

/* A tree, or BK_ERR_USAGE naming the node that breaks it. */
static enum bk_code check_nodes(const struct bk_gen_zpl_node *nodes, size_t n,
				struct bk_error *err)
{
	if (n == 0 || (nodes[0].mode & S_IFMT_) != S_IFDIR_)
		return bad_node(err, 0, "the root must be a directory");
	for (size_t i = 1; i < n; i++) {
		const struct bk_gen_zpl_node *d = &nodes[i];
		size_t len = d->name ? strlen(d->name) : 0;

		if (d->parent >= i ||
		    (nodes[d->parent].mode & S_IFMT_) != S_IFDIR_ ||
		    nodes[d->parent].link != SIZE_MAX)
			return bad_node(err, i, "its parent is not an earlier "
						"directory");
		if (!len || len > 1023 || strchr(d->name, '/') ||
		    !strcmp(d->name, ".") || !strcmp(d->name, ".."))
			return bad_node(err, i, "not a name");
		if (d->link != SIZE_MAX &&
		    (d->link >= i || nodes[d->link].link != SIZE_MAX ||
		     (nodes[d->link].mode & S_IFMT_) == S_IFDIR_))
			return bad_node(err, i, "a link to what cannot have "
						"one");
		if (d->link == SIZE_MAX && d->size && !d->data &&
		    (d->mode & S_IFMT_) != S_IFDIR_)
			return bad_node(err, i, "a size without data");
		for (size_t j = 1; j < i; j++)
			if (nodes[j].parent == d->parent &&
			    !strcmp(nodes[j].name, d->name))
				return bad_node(err, i, "a name twice");
	}
	return BK_OK;
}

/* Object numbers and link counts. */
static void number(struct zg *G)
{
	uint64_t next = FIRST_OBJ;

	for (size_t i = 0; i < G->n; i++) {
		const struct bk_gen_zpl_node *d = &G->nodes[i];
		bool isdir = (d->mode & S_IFMT_) == S_IFDIR_;

		if (d->link != SIZE_MAX) {
			G->zo[d->link].links++;
			continue;
		}
		G->zo[i].obj = next++;
		G->zo[i].links += isdir ? 2 : 1;
		if (isdir && i)
			G->zo[d->parent].links++;
		if (!d->nxattrs)
			continue;
		if (G->o->version >= 5 && !G->o->dir_xattrs) {
			G->zo[i].sa_xattrs = true;
		} else {
			G->zo[i].xdir = next;
			next += 1 + d->nxattrs;
		}
	}
}

static enum bk_code put_begin(struct zg *G, struct bk_error *err)
{
	const char *snap = G->o->snapshot ? G->o->snapshot : "pool/fs@zpl";
	struct bk_drr r;

	memset(&r, 0, sizeof(r));
	r.type = BK_DRR_BEGIN;
	r.u.begin.magic = BK_DRR_MAGIC;
	r.u.begin.versioninfo =
		BK_DRR_VERSIONINFO(BK_DRR_SUBSTREAM, BK_FEAT_SA_SPILL);
	r.u.begin.creation_time = G->o->creation_time;
	r.u.begin.objset_type = G->nodes ? DMU_OST_ZFS : DMU_OST_ZVOL;
	r.u.begin.flags = BK_DRR_FLAG_FREERECORDS | BK_DRR_FLAG_SPILL_BLOCK;
	r.u.begin.toguid = G->guid;
	if (strlen(snap) >= sizeof(r.u.begin.toname) || !strchr(snap, '@'))
		return bk_error_set(err, BK_ERR_USAGE,
				    "%s: not a snapshot name", snap);
	strcpy(r.u.begin.toname, snap);
	return bk_drr_write(&G->w, &r, NULL, 0, err);
}

/* The master node and, with ZPL 5, the SA master, registry, layouts. */
static enum bk_code put_meta(struct zg *G, struct bk_error *err)
{
	struct zent m[] = {
		{ "VERSION", 8, 1, G->o->version, NULL },
		{ "ROOT", 8, 1, G->zo[0].obj, NULL },
		{ "normalization", 8, 1, 0, NULL },
		{ "utf8only", 8, 1, 0, NULL },
		{ "casesensitivity", 8, 1, 0, NULL },
		{ "SA_ATTRS", 8, 1, 2, NULL },
	};
	struct zent sa[] = { { "LAYOUTS", 8, 1, 4, NULL },
			     { "REGISTRY", 8, 1, 3, NULL } };
	struct zent r[A_N], l[LAYOUTS_MAX];
	char names[LAYOUTS_MAX][8];
	bool v5 = G->o->version >= 5;
	enum bk_code rc;

	rc = put_zap(G, 1, OT_MASTER, 0, NULL, 0, m, v5 ? 6 : 5, err);
	if (rc || !v5)
		return rc;
	for (unsigned i = 0; i < A_N; i++)
		r[i] = (struct zent){ reg[i].name, 8, 1,
				      i | (uint64_t)reg[i].bswap << 16 |
					      (uint64_t)reg[i].len << 24,
				      NULL };
	for (unsigned i = 0; i < G->nlay; i++) {
		snprintf(names[i], sizeof(names[i]), "%u", i + 2);
		l[i] = (struct zent){ names[i], 2, G->lay[i].n, 0,
				      G->lay[i].a };
	}
	if ((rc = put_zap(G, 2, OT_SA_MASTER, 0, NULL, 0, sa, 2, err)) ||
	    (rc = put_zap(G, 3, OT_SA_REG, 0, NULL, 0, r, A_N, err)))
		return rc;
	return put_zap(G, 4, OT_SA_LAYOUTS, 0, NULL, 0, l, G->nlay, err);
}

/* Every record after BEGIN. */
static enum bk_code put_all(struct zg *G, uint8_t *spill, struct bk_error *err)
{
	struct bk_drr r;
	enum bk_code rc = put_meta(G, err);

	for (size_t i = 0; !rc && i < G->n; i++)
		if (G->nodes[i].link == SIZE_MAX)
			rc = put_node(G, i, spill, err);
	if (rc)
		return rc;
	memset(&r, 0, sizeof(r));
	r.type = BK_DRR_END;
	r.u.end.toguid = G->guid;
	return bk_drr_write(&G->w, &r, NULL, 0, err);
}

enum bk_code bk_gen_zpl_stream(const struct bk_gen_zpl_opts *o,
			       const struct bk_gen_zpl_node *nodes, size_t n,
			       bk_drr_sink_fn sink, void *ctx,
			       struct bk_error *err)
{
	struct zg *G = calloc(1, sizeof(*G));
	uint8_t *spill = malloc(SPILL_MAX);
	uint16_t one = 1;
	enum bk_code rc;

	if (!G || !spill || !(G->blk = malloc(128u << 10)) ||
	    !(G->zo = calloc(n ? n : 1, sizeof(*G->zo)))) {
		rc = bk_error_set(err, BK_ERR_NOMEM, "out of memory");
		goto out;
	}
	if (o->version != 4 && o->version != 5) {
		rc = bk_error_set(err, BK_ERR_USAGE,
				  "ZPL version %u: 4 or 5 are written",
				  o->version);
		goto out;
	}
	if ((rc = check_nodes(nodes, n, err)))
		goto out;
	G->o = o;
	G->nodes = nodes;
	G->n = n;
	G->bs = o->blocksize ? o->blocksize : 128u << 10;
	if (G->bs < 512 || G->bs > (128u << 10) || (G->bs & (G->bs - 1))) {
		rc = bk_error_set(err, BK_ERR_USAGE,
				  "block size %u: a power of 2, 512 to 128K",
				  G->bs);
		goto out;
	}
	G->be = (*(uint8_t *)&one == 0) != o->byteswap;
	G->guid = o->guid ? o->guid : UINT64_C(0x5a9e0c0ffee) ^ n;
	bk_buf_init(&G->nv, SPILL_MAX);
	number(G);
	/* a first pass without output finds the SA layouts, which the
	 * layouts object (written before the files) must hold */
	bk_drr_writer_init(&G->w, null_sink, NULL, o->byteswap, false);
	rc = put_begin(G, err);
	if (!rc)
		rc = put_all(G, spill, err);
	bk_drr_writer_init(&G->w, sink, ctx, o->byteswap, false);
	if (!rc)
		rc = put_begin(G, err);
	if (!rc)
		rc = put_all(G, spill, err);
	bk_buf_release(&G->nv);
out:
	if (G) {
		free(G->blk);
		free(G->zo);
	}
	free(G);
	free(spill);
	return rc;
}

/* ---- volumes -------------------------------------------------------- */

/* Object 1 (the data, its blocks that are not all zeros) and object 2
 * (a ZAP whose "size" is the volume's size), as a zvol's objset. */
static enum bk_code put_volume(struct zg *G, const uint8_t *data,
			       uint64_t volsize, struct bk_error *err)
{
	struct zent e[] = { { "size", 8, 1, volsize, NULL } };
	struct bk_drr r;
	enum bk_code rc;

	rc = put_object(G, 1, OT_ZVOL, 0, G->bs,
			volsize ? (volsize - 1) / G->bs : 0, NULL, 0, err);
	for (uint64_t off = 0; !rc && off < volsize; off += G->bs) {
		size_t k = volsize - off < G->bs ? (size_t)(volsize - off)
						 : G->bs;
		size_t z = 0;

		while (z < k && !data[off + z])
			z++;
		if (z == k)
			continue; /* a hole */
		memcpy(G->blk, data + off, k);
		memset(G->blk + k, 0, G->bs - k);
		rc = put_block(G, 1, OT_ZVOL, off, G->blk, G->bs, err);
	}
	/* after object 1's writes: a stream's writes go in object order */
	if (rc || (rc = put_zap(G, 2, OT_ZVOL_PROP, 0, NULL, 0, e, 1, err)))
		return rc;
	memset(&r, 0, sizeof(r));
	r.type = BK_DRR_END;
	r.u.end.toguid = G->guid;
	return bk_drr_write(&G->w, &r, NULL, 0, err);
}

enum bk_code bk_gen_zvol_stream(const struct bk_gen_zpl_opts *o,
				const uint8_t *data, uint64_t volsize,
				bk_drr_sink_fn sink, void *ctx,
				struct bk_error *err)
{
	struct zg G;
	uint16_t one = 1;
	enum bk_code rc;

	memset(&G, 0, sizeof(G));
	G.o = o;
	G.bs = o->blocksize ? o->blocksize : 8u << 10;
	if (G.bs < 512 || G.bs > (128u << 10) || (G.bs & (G.bs - 1)))
		return bk_error_set(err, BK_ERR_USAGE,
				    "block size %u: a power of 2, 512 to 128K",
				    G.bs);
	if (!(G.blk = malloc(128u << 10)))
		return bk_error_set(err, BK_ERR_NOMEM, "out of memory");
	G.be = (*(uint8_t *)&one == 0) != o->byteswap;
	G.guid = o->guid ? o->guid : UINT64_C(0x5a9e0c0ffee) ^ volsize;
	bk_drr_writer_init(&G.w, sink, ctx, o->byteswap, false);
	rc = put_begin(&G, err);
	if (!rc)
		rc = put_volume(&G, data, volsize, err);
	free(G.blk);
	return rc;
}
