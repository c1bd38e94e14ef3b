/* SPDX-License-Identifier: MIT */
/*
 * Synthetic send streams (backup/gen.h).
 *
 * Everything derives from a counter-based hash (the splitmix64 finalizer)
 * of (dataset seed, object slot, block, version, purpose), so any piece of
 * any version can be computed on its own, in any order, on any host.
 *
 * A dataset is a row of object slots; slot s is object number s + 1.  The
 * first `nobj` non-gap slots hold the files of version 1; about one slot in
 * 40 before them is a gap, and nobj/64 + 1 slots after them start empty, so
 * later versions have free numbers to create files in.
 *
 * From version u-1 to u (u >= 2), for each slot:
 *   - a live file is deleted with probability change/4; otherwise it is
 *     "touched" with probability ptouch = min(1, max(8 * change, 8 / files))
 *     and then each of its blocks is rewritten with probability
 *     change / ptouch, so about `change` of all blocks change, clustered in
 *     a few files as in real use (but in 8 files at least, so that a small
 *     dataset changes steadily too); independently, it is cut or extended
 *     by up to 1/8 of its blocks with probability change/2;
 *   - an empty slot gets a new file with probability min(1, 6 * change).
 * A block's content is named by (slot, block, the version that last wrote
 * it), which is what makes unchanged blocks byte-identical across versions.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backup/gen.h"
#include "backup/nvlist.h"
#include "util/le.h"

#define GOLDEN UINT64_C(0x9E3779B97F4A7C15)
#define MAX_BLOCKSIZE (16u << 20)
#define OLD_MAX_BLOCKSIZE (128u << 10)
#define AVG_FILE_BYTES (8u << 20)
#define DEFAULT_BLOCKS_PER_FILE 16u
#define POOL_SIZE (32u << 10) /* text pool */
#define CHUNK_MIN 24u         /* text copied from the pool in pieces */
#define CHUNK_MAX 200u
#define CREATION_BASE UINT64_C(1704067200) /* 2024-01-01 */
#define MAX_LISTED_SNAPS 1000u /* compound header: newest snapshots listed */
#define BONUS_MAX 320u

#define DMU_OT_PLAIN_FILE_CONTENTS 19u
#define DMU_OT_ZNODE 17u
#define DMU_OT_SA 44u
#define DMU_OST_ZFS 2u
#define ZIO_CHECKSUM_FLETCHER_4 7u
#define ZIO_COMPRESS_OFF 2u
#define ZIO_COMPRESS_LZ4 15u
#define ZIO_COMPRESS_ZSTD 16u

/* What a hash is for: keeps the streams of values apart. */
enum tag {
	T_DS = 1, T_GUID, T_TIME, T_GAP, T_OBJ, T_RESIZE, T_CREATE, T_SMALL,
	T_SIZE, T_BLK, T_DATA, T_TEXT, T_BONUS, T_POOL, T_PSIZE,
};

static inline uint64_t mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
	return z ^ (z >> 31);
}

static uint64_t hash4(uint64_t seed, uint64_t a, uint64_t b, uint64_t c,
		      enum tag t)
{
	uint64_t h = mix64(seed + (uint64_t)t * GOLDEN);

	h = mix64(h ^ a);
	h = mix64(h + b * GOLDEN);
	return mix64(h ^ (c + UINT64_C(0x632BE59BD9B4E019)));
}

/* Uniform in [0, 1). */
static inline double unit(uint64_t h)
{
	return (double)(h >> 11) * 0x1p-53;
}

static uint64_t name_hash(const char *s)
{
	uint64_t h = UINT64_C(1469598103934665603);

	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * UINT64_C(1099511628211);
	return h;
}

/* n is a multiple of 8. */
static void fill_random(uint8_t *p, size_t n, uint64_t x)
{
	size_t i = 0;

	for (; i + 32 <= n; i += 32) {
		put_le64(p + i, mix64(x + GOLDEN));
		put_le64(p + i + 8, mix64(x + 2 * GOLDEN));
		put_le64(p + i + 16, mix64(x + 3 * GOLDEN));
		put_le64(p + i + 24, mix64(x + 4 * GOLDEN));
		x += 4 * GOLDEN;
	}
	for (; i < n; i += 8) {
		x += GOLDEN;
		put_le64(p + i, mix64(x));
	}
}

static void fill_text(const uint8_t *pool, uint8_t *p, size_t n, uint64_t x)
{
	size_t i = 0;

	while (i < n) {
		uint64_t r = mix64(x += GOLDEN);
		size_t off = (size_t)(r % (POOL_SIZE - CHUNK_MAX));
		size_t len = CHUNK_MIN + (size_t)((r >> 40) %
						   (CHUNK_MAX - CHUNK_MIN));

		if (len > n - i)
			len = n - i;
		memcpy(p + i, pool + off, len);
		i += len;
	}
}

static const char *const vocabulary[] = {
	"the", "of", "and", "to", "in", "is", "that", "for", "it", "as",
	"with", "was", "on", "be", "at", "by", "this", "had", "not", "are",
	"but", "from", "or", "have", "an", "they", "which", "one", "you",
	"were", "all", "we", "her", "she", "there", "would", "their", "will",
	"when", "who", "him", "been", "has", "more", "if", "no", "out", "so",
	"said", "what", "up", "its", "about", "than", "into", "them", "can",
	"only", "other", "time", "new", "some", "could", "these", "two", "may",
	"first", "then", "do", "any", "like", "my", "now", "over", "such",
	"our", "man", "me", "even", "most", "made", "after", "also", "did",
	"many", "before", "must", "through", "back", "years", "where", "much",
	"your", "way", "well", "down", "should", "because", "each", "just",
	"those", "people", "how", "too", "little", "state", "good", "very",
	"make", "world", "still", "own", "see", "men", "work", "long", "get",
	"here", "between", "both", "life", "being", "under", "never", "day",
	"same", "another", "know", "while", "last", "might", "us", "great",
	"old", "year", "off", "come", "since", "against", "go", "came",
	"right", "used", "take", "three", "snapshot", "dataset", "pool",
	"block", "record", "stream", "backup", "restore", "checksum",
};

/* POOL_SIZE bytes of words, sentences and lines, from the seed. */
static void make_pool(uint8_t *pool, uint64_t seed)
{
	const size_t nwords = sizeof(vocabulary) / sizeof(vocabulary[0]);
	uint64_t x = hash4(seed, 0, 0, 0, T_POOL);
	size_t i = 0, col = 0;
	bool cap = true;

	while (i < POOL_SIZE) {
		uint64_t r = mix64(x += GOLDEN);
		const char *w = vocabulary[r % nwords];
		size_t wl = strlen(w);

		for (size_t k = 0; k < wl && i < POOL_SIZE; k++, col++)
			pool[i++] = (uint8_t)(k == 0 && cap && w[k] >= 'a'
						      ? w[k] - 'a' + 'A'
						      : w[k]);
		cap = false;
		if (i >= POOL_SIZE)
			break;
		if ((r >> 20) % 11 == 0) {
			pool[i++] = '.';
			cap = true;
		} else if ((r >> 20) % 13 == 0) {
			pool[i++] = ',';
		}
		if (i < POOL_SIZE) {
			pool[i++] = col > 66 ? '\n' : ' ';
			col = col > 66 ? 0 : col + 1;
		}
	}
}

/* ---- the model ---------------------------------------------------------- */

struct ds {
	char name[BK_DRR_NAME_LEN];
	uint64_t dseed;
	uint64_t nobj; /* files in version 1 */
	uint64_t avg;  /* blocks of a full-size file, on average */
	uint64_t toguid, fromguid; /* of BEGIN */
	uint64_t recguid;          /* toguid of the other records (0 legacy) */
	double ptouch, pblock;     /* files touched, blocks rewritten in them */
};

struct gen {
	const struct bk_gen_opts *o;
	const char *prefix;
	struct bk_drr_writer w;
	uint32_t bs;
	uint32_t version, from;
	double pdel, pcreate, presize;
	uint64_t features;
	uint32_t begin_flags;
	uint8_t *block; /* bs bytes */
	uint8_t *cblock; /* bs bytes, with write_compress: the -c payload */
	uint8_t *pool;  /* POOL_SIZE bytes */
	/* history of the current slot, index 0..version (0: before v1) */
	uint64_t *nb;      /* blocks; 0 when there is no file */
	uint32_t *gen;     /* version the file was created in */
	uint8_t *touched;  /* MODIFIED, REWRITES in that version */
	uint64_t idx;      /* rank of the slot's file among those of v1 */
};

#define MODIFIED 1u /* created, resized or written: sent in an incremental */
#define REWRITES 2u /* some blocks may be rewritten (with pblock each) */

struct attrs {
	uint32_t blksz;
	uint64_t nblocks;
	bool small;
};

/* Shape of the file created in slot s at version g. */
static void file_attrs(const struct gen *G, const struct ds *d, uint64_t s,
		       uint32_t g, struct attrs *a)
{
	uint64_t h = hash4(d->dseed, s, g, 0, T_SMALL);

	a->small = G->bs > 512 && d->nobj >= 8 && h % 32 == 0;
	if (a->small) {
		a->blksz = 512u * (uint32_t)(1 + (h >> 8) % (G->bs / 512 - 1));
		a->nblocks = 1;
		return;
	}
	a->blksz = G->bs;
	if (d->avg <= 1 || d->nobj < 2) {
		a->nblocks = d->avg;
	} else {
		/* Pairs of files (by their rank in version 1) vary in
		 * opposite directions, so the total stays close to
		 * nobj * avg. */
		uint64_t i = g == 1 ? G->idx : s;
		double dev = unit(hash4(d->dseed, i >> 1, g, 0, T_SIZE)) * 0.75;

		if (g == 1 && (d->nobj & 1) && i == d->nobj - 1)
			dev = 0; /* the odd one out has no partner */
		double f = (i & 1) ? 1.0 - dev : 1.0 + dev;
		/* 32/31: make up for the small files */
		double k = d->nobj >= 8 ? 32.0 / 31 : 1;
		uint64_t n = (uint64_t)llround((double)d->avg * f * k);

		a->nblocks = n ? n : 1;
	}
}

/* Fill G->nb, gen, touched for slot s over versions 1..G->version. */
static void history(struct gen *G, const struct ds *d, uint64_t s,
		    bool present1)
{
	struct attrs a;

	G->nb[0] = 0;
	G->gen[0] = 0;
	G->touched[0] = 0;
	for (uint32_t u = 1; u <= G->version; u++) {
		uint64_t n = G->nb[u - 1];
		uint32_t g = G->gen[u - 1];
		uint8_t t = 0;

		if (u == 1) {
			if (present1) {
				file_attrs(G, d, s, 1, &a);
				n = a.nblocks;
				g = 1;
				t = MODIFIED;
			}
		} else if (n) {
			double r = unit(hash4(d->dseed, s, u, 0, T_OBJ));
			uint64_t h = hash4(d->dseed, s, u, 0, T_RESIZE);

			if (r < G->pdel) {
				n = 0;
				g = 0;
			} else {
				if (r < G->pdel + d->ptouch)
					t = MODIFIED | REWRITES;
				file_attrs(G, d, s, g, &a);
				if (!a.small &&
				    unit(h) < G->presize) {
					/* cut or extend by up to 1/8 */
					uint64_t k = 1 + (h >> 1) % (n / 8 + 1);

					if (h & 1)
						n += k;
					else
						n = n > k ? n - k : 1;
					t |= MODIFIED;
				}
			}
		} else if (unit(hash4(d->dseed, s, u, 0, T_CREATE)) <
			   G->pcreate) {
			file_attrs(G, d, s, u, &a);
			n = a.nblocks;
			g = u;
			t = MODIFIED;
		}
		G->nb[u] = n;
		G->gen[u] = g;
		G->touched[u] = t;
	}
}

/*
 * The version that last wrote block b of slot s as of version v (the file
 * exists at v and has the block), looking back no further than `floor`:
 * returns floor when nothing wrote it after floor.
 */
static uint32_t block_version(const struct gen *G, const struct ds *d,
			      uint64_t s, uint64_t b, uint32_t v,
			      uint32_t floor)
{
	uint32_t g = G->gen[v];

	for (uint32_t u = v; u > floor; u--) {
		if (u == g || G->nb[u - 1] <= b)
			return u; /* created, or grown into */
		if ((G->touched[u] & REWRITES) &&
		    unit(hash4(d->dseed, s, b, u, T_BLK)) < d->pblock)
			return u;
	}
	return floor;
}

/* ---- records ------------------------------------------------------------ */

static enum bk_code put(struct gen *G, const struct bk_drr *r,
			const void *payload, size_t len, struct bk_error *err)
{
	return bk_drr_write(&G->w, r, payload, len, err);
}

static enum bk_code put_freeobjects(struct gen *G, const struct ds *d,
				    uint64_t first, uint64_t n,
				    struct bk_error *err)
{
	struct bk_drr r;

	if (n == 0)
		return BK_OK;
	memset(&r, 0, sizeof(r));
	r.type = BK_DRR_FREEOBJECTS;
	r.u.freeobjects.firstobj = first;
	r.u.freeobjects.numobjs = n;
	r.u.freeobjects.toguid = d->recguid;
	return put(G, &r, NULL, 0, err);
}

static void snap_name(const struct gen *G, const char *fs, uint32_t v,
		      char *out, size_t n)
{
	/* lengths were checked by check_opts(): never truncates */
	if (snprintf(out, n, "%s@%s%" PRIu32, fs, G->prefix, v) >= (int)n)
		out[n - 1] = '\0';
}

static enum bk_code put_begin(struct gen *G, const struct ds *d,
			      struct bk_error *err)
{
	struct bk_drr r;

	memset(&r, 0, sizeof(r));
	r.type = BK_DRR_BEGIN;
	r.u.begin.magic = BK_DRR_MAGIC;
	r.u.begin.versioninfo = BK_DRR_VERSIONINFO(BK_DRR_SUBSTREAM,
						   G->features);
	r.u.begin.creation_time =
		CREATION_BASE + (uint64_t)G->version * 86400u +
		hash4(G->o->seed, name_hash(d->name), G->version, 0, T_TIME) %
			3600u;
	r.u.begin.objset_type = DMU_OST_ZFS;
	r.u.begin.flags = G->begin_flags;
	r.u.begin.toguid = d->toguid;
	r.u.begin.fromguid = d->fromguid;
	snap_name(G, d->name, G->version, r.u.begin.toname,
		  sizeof(r.u.begin.toname));
	return put(G, &r, NULL, 0, err);
}

static enum bk_code put_end(struct gen *G, const struct ds *d,
			    struct bk_error *err)
{
	struct bk_drr r;

	memset(&r, 0, sizeof(r));
	r.type = BK_DRR_END;
	r.u.end.toguid = d->recguid;
	return put(G, &r, NULL, 0, err);
}

/* OBJECT, then FREE past the end (as zfs send does), for the file in slot s
 * at G->version. */
static enum bk_code put_object(struct gen *G, const struct ds *d, uint64_t s,
			       const struct attrs *a, struct bk_error *err)
{
	uint8_t bonus[BONUS_MAX];
	uint32_t v = G->version, mtime = v, bonuslen;
	uint64_t n = G->nb[v], h;
	struct bk_drr r;
	enum bk_code rc;

	while (mtime > G->gen[v] && !G->touched[mtime])
		mtime--;
	h = hash4(d->dseed, s, G->gen[v], mtime, T_BONUS);
	memset(&r, 0, sizeof(r));
	r.type = BK_DRR_OBJECT;
	r.u.object.object = s + 1;
	r.u.object.type = DMU_OT_PLAIN_FILE_CONTENTS;
	r.u.object.blksz = a->blksz;
	r.u.object.checksumtype = ZIO_CHECKSUM_FLETCHER_4;
	if (G->o->legacy) {
		/* a znode_phys_t bonus, as ZPL files had before SA */
		r.u.object.bonustype = DMU_OT_ZNODE;
		bonuslen = 264;
	} else {
		r.u.object.bonustype = DMU_OT_SA;
		bonuslen = 168 + (uint32_t)(h % 25);
		r.u.object.compress = ZIO_COMPRESS_LZ4;
		r.u.object.dn_slots = 1;
		r.u.object.toguid = d->toguid;
		r.u.object.maxblkid = n - 1; /* not in the 2008 record */
	}
	r.u.object.bonuslen = bonuslen;
	memset(bonus, 0, sizeof(bonus));
	fill_random(bonus, bonuslen & ~7u, h);
	if (G->o->legacy) {
		/* atime, mtime, ctime, crtime (sec, nsec) then gen, mode,
		 * size as znode_phys_t lays them out */
		for (int i = 0; i < 8; i += 2) {
			put_le64(bonus + 8 * i, CREATION_BASE + mtime * 86400u);
			put_le64(bonus + 8 * i + 8, h % 1000000000u);
		}
		put_le64(bonus + 64, G->gen[v]);
		put_le64(bonus + 72, 0100644);
		put_le64(bonus + 80, n * a->blksz);
	} else {
		/* SA header: magic, layout 2, header size 8 */
		put_le64(bonus, UINT64_C(0x2F505A) | (UINT64_C(0x0802) << 32));
		put_le64(bonus + 8, 0100644);
		put_le64(bonus + 16, n * a->blksz);
		put_le64(bonus + 24, G->gen[v]);
		put_le64(bonus + 32, CREATION_BASE + mtime * 86400u);
	}
	rc = put(G, &r, bonus, (bonuslen + 7) & ~7u, err);
	if (rc)
		return rc;
	memset(&r, 0, sizeof(r));
	r.type = BK_DRR_FREE;
	r.u.free.object = s + 1;
	r.u.free.offset = n * a->blksz;
	r.u.free.length = UINT64_MAX;
	r.u.free.toguid = d->recguid;
	return put(G, &r, NULL, 0, err);
}

/*
 * A WRITE as `zfs send -c` sends it from a pool whose blocks are
 * compressed with o->write_compress: the block compressed for real, padded
 * with zeros to whole 512-byte sectors, kept only when that saves an
 * eighth as ZFS wants, else sent as it is.
 */
static enum bk_code put_write_c(struct gen *G, const struct ds *d,
				struct bk_drr *r, uint32_t blksz,
				struct bk_error *err)
{
	unsigned alg = G->o->write_compress;
	size_t n = bk_gen_compress(alg, G->block, blksz, G->cblock,
				   blksz - blksz / 8);
	size_t padded = (n + 511) / 512 * 512;
	const uint8_t *pay = G->block;
	size_t paylen = blksz;
	uint64_t comp = ZIO_COMPRESS_OFF;
	struct bk_fletcher4 f;

	if (n && padded < blksz) {
		memset(G->cblock + n, 0, padded - n);
		pay = G->cblock;
		paylen = padded;
		comp = alg;
		r->u.write.compressiontype = (uint8_t)alg;
		r->u.write.compressed_size = padded;
	}
	r->u.write.toguid = d->toguid;
	r->u.write.checksumtype = ZIO_CHECKSUM_FLETCHER_4;
	r->u.write.key_prop = (uint64_t)(blksz / 512 - 1) |
			      (uint64_t)(paylen / 512 - 1) << 16 | comp << 32;
	/* the checksum of the block as stored: its compressed bytes */
	bk_fletcher4_init(&f, G->o->byteswap);
	bk_fletcher4_update(&f, pay, paylen);
	r->u.write.key_cksum = f.ck;
	return put(G, r, pay, paylen, err);
}

static enum bk_code put_write(struct gen *G, const struct ds *d, uint64_t s,
			      uint64_t b, uint32_t cv, uint32_t blksz,
			      struct bk_error *err)
{
	uint64_t id = hash4(d->dseed, s, b, cv, T_DATA);
	bool text = unit(hash4(d->dseed, s, b, cv, T_TEXT)) <
		    G->o->compressible;
	struct bk_drr r;

	if (text)
		fill_text(G->pool, G->block, blksz, id);
	else
		fill_random(G->block, blksz, id);
	memset(&r, 0, sizeof(r));
	r.type = BK_DRR_WRITE;
	r.u.write.object = s + 1;
	r.u.write.type = DMU_OT_PLAIN_FILE_CONTENTS;
	r.u.write.offset = b * blksz;
	r.u.write.logical_size = blksz;
	if (!G->o->legacy && G->o->write_compress)
		return put_write_c(G, d, &r, blksz, err);
	if (!G->o->legacy) {
		/* The block pointer's properties as a pool with lz4 would
		 * store them: text compressed to 25-50% (in 512-byte
		 * sectors), random data stored uncompressed. */
		uint64_t lsz = blksz >> 9, psz = lsz, comp = ZIO_COMPRESS_OFF;
		struct bk_fletcher4 f;

		if (text) {
			double ratio = 0.25 + 0.25 * unit(mix64(id ^ T_PSIZE));

			psz = (uint64_t)((double)lsz * ratio);
			psz = psz ? psz : 1;
			comp = ZIO_COMPRESS_LZ4;
		}
		r.u.write.toguid = d->toguid;
		r.u.write.checksumtype = ZIO_CHECKSUM_FLETCHER_4;
		r.u.write.key_prop = (lsz - 1) | ((psz - 1) << 16) |
				     (comp << 32);
		if (text) {
			/* the checksum of compressed bytes we do not make:
			 * a stand-in that is the same for the same block */
			for (int i = 0; i < 4; i++)
				r.u.write.key_cksum.word[i] =
					mix64(id + (uint64_t)(i + 1) * GOLDEN);
		} else {
			bk_fletcher4_init(&f, G->o->byteswap);
			bk_fletcher4_update(&f, G->block, blksz);
			r.u.write.key_cksum = f.ck;
		}
	}
	return put(G, &r, G->block, blksz, err);
}

/*
 * The records of slot s (which holds a file at G->version) in a stream to
 * G->version: everything (from == 0) or what changed after `from`.
 */
static enum bk_code put_file(struct gen *G, const struct ds *d, uint64_t s,
			     uint32_t from, struct bk_error *err)
{
	uint32_t v = G->version, g = G->gen[v];
	uint64_t n = G->nb[v];
	struct attrs a;
	enum bk_code rc;

	if (from && g <= from) {
		bool changed = false;

		for (uint32_t u = v; u > from && !changed; u--)
			changed = G->touched[u] != 0;
		if (!changed)
			return BK_OK;
	} else {
		from = 0; /* new since from: send it all */
	}
	file_attrs(G, d, s, g, &a);
	rc = put_object(G, d, s, &a, err);
	for (uint64_t b = 0; b < n && !rc; b++) {
		uint32_t cv = block_version(G, d, s, b, v, from);

		if (cv > from)
			rc = put_write(G, d, s, b, cv, a.blksz, err);
	}
	return rc;
}

static enum bk_code put_substream(struct gen *G, const struct ds *d,
				  struct bk_error *err)
{
	uint64_t live = 0, extra = 0, nextra = d->nobj / 64 + 1;
	uint64_t last = 0;          /* full: last object number sent */
	uint64_t run_first = 0, run_n = 0; /* incremental: deleted objects */
	uint32_t v = G->version, from = G->from;
	enum bk_code rc;

	rc = put_begin(G, d, err);
	for (uint64_t s = 0; !rc && (live < d->nobj || extra < nextra); s++) {
		bool present1 = false, exists, existed;

		if (live < d->nobj) {
			present1 = unit(hash4(d->dseed, s, 0, 0, T_GAP)) >=
				   1.0 / 40;
			live += present1;
		} else {
			extra++;
		}
		G->idx = live - 1;
		history(G, d, s, present1);
		exists = G->nb[v] != 0;
		if (!from) {
			if (!exists)
				continue;
			rc = put_freeobjects(G, d, last + 1, s - last, err);
			if (!rc)
				rc = put_file(G, d, s, 0, err);
			last = s + 1;
			continue;
		}
		existed = G->nb[from] != 0;
		if (!exists && existed) {
			if (run_n && run_first + run_n == s + 1) {
				run_n++;
			} else {
				rc = put_freeobjects(G, d, run_first, run_n,
						     err);
				run_first = s + 1;
				run_n = 1;
			}
			continue;
		}
		if (!exists)
			continue;
		/* keep the records in object order */
		rc = put_freeobjects(G, d, run_first, run_n, err);
		run_n = 0;
		if (!rc)
			rc = put_file(G, d, s, from, err);
	}
	if (!rc && from)
		rc = put_freeobjects(G, d, run_first, run_n, err);
	/* full: free the rest of the last dnode block, as zfs send does */
	if (!rc && !from && (last + 1) % 32)
		rc = put_freeobjects(G, d, last + 1, 32 - (last + 1) % 32,
				     err);
	if (!rc)
		rc = put_end(G, d, err);
	return rc;
}

/* ---- compound package --------------------------------------------------- */

/* fss entry of one dataset: name, parentfromsnap, props, snaps, snapprops. */
static enum bk_code fs_entry(struct gen *G, const struct ds *d,
			     uint64_t parentfromsnap, struct bk_nvlist *fss,
			     struct bk_error *err)
{
	struct bk_nvlist *fs = NULL, *props = NULL, *snaps = NULL,
			 *snapprops = NULL;
	char key[32], snap[64];
	uint32_t first = G->version > MAX_LISTED_SNAPS
				 ? G->version - MAX_LISTED_SNAPS + 1
				 : 1;
	enum bk_code rc;

	rc = bk_nvlist_new(&fs, err);
	if (!rc)
		rc = bk_nvlist_new(&props, err);
	if (!rc)
		rc = bk_nvlist_new(&snaps, err);
	if (!rc)
		rc = bk_nvlist_new(&snapprops, err);
	if (rc)
		goto out;
	for (uint32_t v = first; v <= G->version && !rc; v++) {
		snprintf(snap, sizeof(snap), "%s%" PRIu32, G->prefix, v);
		rc = bk_nvlist_add_uint64(snaps, snap,
					  bk_gen_guid(G->o, d->name, v), err);
		if (!rc)
			rc = bk_nvlist_add_nvlist(snapprops, snap, props, err);
	}
	if (!rc)
		rc = bk_nvlist_add_string(fs, "name", d->name, err);
	if (!rc)
		rc = bk_nvlist_add_uint64(fs, "parentfromsnap", parentfromsnap,
					  err);
	if (!rc)
		rc = bk_nvlist_add_nvlist(fs, "props", props, err);
	if (!rc)
		rc = bk_nvlist_add_nvlist(fs, "snaps", snaps, err);
	if (!rc)
		rc = bk_nvlist_add_nvlist(fs, "snapprops", snapprops, err);
	snprintf(key, sizeof(key), "0x%" PRIx64,
		 hash4(G->o->seed, name_hash(d->name), 0, 0, T_GUID) | 1);
	if (!rc)
		rc = bk_nvlist_add_nvlist(fss, key, fs, err);
out:
	bk_nvlist_free(fs);
	bk_nvlist_free(props);
	bk_nvlist_free(snaps);
	bk_nvlist_free(snapprops);
	return rc;
}

static enum bk_code put_compound_header(struct gen *G, const struct ds *top,
					const struct ds *child,
					struct bk_error *err)
{
	struct bk_nvlist *nvl = NULL, *fss = NULL;
	struct bk_buf packed;
	struct bk_drr r;
	char snap[64];
	enum bk_code rc;

	bk_buf_init(&packed, 64u << 20);
	rc = bk_nvlist_new(&nvl, err);
	if (!rc)
		rc = bk_nvlist_new(&fss, err);
	if (rc)
		goto out;
	if (G->from) {
		snprintf(snap, sizeof(snap), "%s%" PRIu32, G->prefix, G->from);
		rc = bk_nvlist_add_string(nvl, "fromsnap", snap, err);
	}
	snprintf(snap, sizeof(snap), "%s%" PRIu32, G->prefix, G->version);
	if (!rc)
		rc = bk_nvlist_add_string(nvl, "tosnap", snap, err);
	if (!rc)
		rc = fs_entry(G, top, 0, fss, err);
	if (!rc)
		rc = fs_entry(G, child, top->fromguid, fss, err);
	if (!rc)
		rc = bk_nvlist_add_nvlist(nvl, "fss", fss, err);
	/* NATIVE as OpenZFS 2.x sends it (not padded); the 2008 format used
	 * XDR, and its payloads are multiples of 8 */
	if (!rc)
		rc = bk_nvlist_pack(nvl, G->o->legacy ? BK_NV_XDR : BK_NV_NATIVE,
				    G->o->byteswap, &packed, err);
	while (!rc && G->o->legacy && packed.len % 8)
		rc = bk_buf_append(&packed, "", 1, err);
	if (rc)
		goto out;
	memset(&r, 0, sizeof(r));
	r.type = BK_DRR_BEGIN;
	r.u.begin.magic = BK_DRR_MAGIC;
	r.u.begin.versioninfo = BK_DRR_VERSIONINFO(BK_DRR_COMPOUNDSTREAM, 0);
	snap_name(G, top->name, G->version, r.u.begin.toname,
		  sizeof(r.u.begin.toname));
	rc = put(G, &r, packed.data, packed.len, err);
	if (rc)
		goto out;
	memset(&r, 0, sizeof(r));
	r.type = BK_DRR_END;
	rc = put(G, &r, NULL, 0, err);
out:
	bk_nvlist_free(nvl);
	bk_nvlist_free(fss);
	bk_buf_release(&packed);
	return rc;
}

/* ---- entry points ------------------------------------------------------- */

void bk_gen_opts_init(struct bk_gen_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->name = "pool/fs";
	o->snap_prefix = "v";
	o->blocksize = BK_GEN_DEFAULT_BLOCKSIZE;
	o->change = BK_GEN_DEFAULT_CHANGE;
	o->version = 1;
}

uint64_t bk_gen_guid(const struct bk_gen_opts *o, const char *name,
		     uint32_t version)
{
	if (!name)
		name = o->name ? o->name : "pool/fs";
	return hash4(o->seed, name_hash(name), version, 0, T_GUID) | 1;
}

static void ds_init(const struct gen *G, struct ds *d, const char *name,
		    uint64_t nobj, uint64_t avg)
{
	memset(d, 0, sizeof(*d));
	snprintf(d->name, sizeof(d->name), "%s", name);
	d->dseed = hash4(G->o->seed, name_hash(name), 0, 0, T_DS);
	d->nobj = nobj;
	d->avg = avg;
	/* Rewrites cluster in about 8 * change of the files, but in at least
	 * 8 files a version, so a small dataset changes steadily too. */
	if (G->o->change > 0)
		d->ptouch = fmin(1.0, fmax(8 * G->o->change,
					   8.0 / (double)nobj));
	d->pblock = d->ptouch > 0 ? G->o->change / d->ptouch : 0;
	d->toguid = bk_gen_guid(G->o, name, G->version);
	d->recguid = G->o->legacy ? 0 : d->toguid;
	if (G->from)
		d->fromguid = bk_gen_guid(G->o, name, G->from);
}

static enum bk_code check_opts(const struct bk_gen_opts *o, const char *name,
			       const char *prefix, struct bk_error *err)
{
	uint32_t bs = o->blocksize ? o->blocksize : BK_GEN_DEFAULT_BLOCKSIZE;
	uint32_t v = o->version ? o->version : 1;
	size_t room = strlen(name) + strlen(prefix) + 1 + 10 +
		      (o->compound ? strlen("/child") : 0);

	if (!*name || strchr(name, '@') || name[strlen(name) - 1] == '/')
		return bk_error_set(err, BK_ERR_USAGE,
				    "dataset name '%s' is not valid", name);
	if (strchr(prefix, '@') || strchr(prefix, '/'))
		return bk_error_set(err, BK_ERR_USAGE,
				    "snapshot prefix '%s' is not valid",
				    prefix);
	if (room >= BK_DRR_NAME_LEN || strlen(prefix) > 40)
		return bk_error_set(err, BK_ERR_USAGE,
				    "dataset or snapshot name too long");
	if (bs < 512 || bs > MAX_BLOCKSIZE || (bs & (bs - 1)))
		return bk_error_set(err, BK_ERR_USAGE,
				    "block size %" PRIu32 " is not a power of "
				    "two in 512..16M", bs);
	if (o->legacy && bs > OLD_MAX_BLOCKSIZE)
		return bk_error_set(err, BK_ERR_USAGE,
				    "block size %" PRIu32 " is over 128K, "
				    "which the 2008 format cannot carry", bs);
	if (!(o->compressible >= 0 && o->compressible <= 1))
		return bk_error_set(err, BK_ERR_USAGE,
				    "compressible fraction %g is not in 0..1",
				    o->compressible);
	/* an algorithm the generator makes compresses 8 bytes into 64 */
	if (o->write_compress &&
	    (o->legacy || !bk_gen_compress(o->write_compress, "xxxxxxxx", 8,
					   (uint8_t[64]){ 0 }, 64)))
		return bk_error_set(err, BK_ERR_USAGE,
				    "write compression %u is not one the "
				    "generator makes%s",
				    o->write_compress,
				    o->legacy ? " (and not in the 2008 format)"
					      : "");
	if (!(o->change >= 0 && o->change <= 1))
		return bk_error_set(err, BK_ERR_USAGE,
				    "change fraction %g is not in 0..1",
				    o->change);
	if (v > BK_GEN_MAX_VERSION)
		return bk_error_set(err, BK_ERR_USAGE,
				    "version %" PRIu32 " is over %u", v,
				    BK_GEN_MAX_VERSION);
	if (o->from >= v)
		return bk_error_set(err, BK_ERR_USAGE,
				    "incremental source version %" PRIu32
				    " is not before version %" PRIu32,
				    o->from, v);
	if (o->objects > BK_GEN_MAX_OBJECTS)
		return bk_error_set(err, BK_ERR_USAGE,
				    "%" PRIu64 " objects is over %" PRIu64,
				    o->objects, BK_GEN_MAX_OBJECTS);
	if (o->size > (UINT64_C(1) << 50))
		return bk_error_set(err, BK_ERR_USAGE,
				    "size %" PRIu64 " is over 1 PiB", o->size);
	return BK_OK;
}

enum bk_code bk_gen_stream(const struct bk_gen_opts *o, bk_drr_sink_fn sink,
			   void *ctx, struct bk_error *err)
{
	const char *name = o->name ? o->name : "pool/fs";
	const char *prefix = o->snap_prefix ? o->snap_prefix : "v";
	struct gen G;
	struct ds *top = NULL, *child = NULL;
	char childname[BK_DRR_NAME_LEN];
	uint64_t nobj, avg;
	enum bk_code rc;

	memset(&G, 0, sizeof(G));
	rc = check_opts(o, name, prefix, err);
	if (rc)
		goto out;
	G.o = o;
	G.prefix = prefix;
	G.bs = o->blocksize ? o->blocksize : BK_GEN_DEFAULT_BLOCKSIZE;
	G.version = o->version ? o->version : 1;
	G.from = o->from;
	if (!o->legacy) {
		G.features = BK_FEAT_SA_SPILL;
		if (G.bs > OLD_MAX_BLOCKSIZE)
			G.features |= BK_FEAT_LARGE_BLOCKS;
		G.begin_flags = BK_DRR_FLAG_FREERECORDS |
				BK_DRR_FLAG_SPILL_BLOCK;
		if (o->write_compress) /* as zfs send -c sets them */
			G.features |= BK_FEAT_COMPRESSED | BK_FEAT_LZ4 |
				      (o->write_compress == ZIO_COMPRESS_ZSTD
					       ? BK_FEAT_ZSTD
					       : 0);
	}

	/* Files and blocks per file. */
	if (o->size) {
		uint64_t blocks = o->size / G.bs ? o->size / G.bs : 1;

		if (o->objects) {
			nobj = o->objects;
			avg = (blocks + nobj / 2) / nobj;
		} else {
			avg = AVG_FILE_BYTES / G.bs ? AVG_FILE_BYTES / G.bs : 1;
			if (avg > blocks)
				avg = blocks;
			nobj = (blocks + avg / 2) / avg;
			nobj = nobj ? nobj : 1;
			avg = (blocks + nobj / 2) / nobj;
		}
	} else {
		nobj = o->objects ? o->objects : BK_GEN_DEFAULT_OBJECTS;
		avg = DEFAULT_BLOCKS_PER_FILE;
	}
	nobj = nobj ? nobj : 1;
	avg = avg ? avg : 1;
	G.pdel = o->change / 4;
	G.presize = o->change / 2;
	G.pcreate = fmin(1.0, 6 * o->change);

	G.block = malloc(G.bs);
	if (o->write_compress && !(G.cblock = malloc(G.bs))) {
		rc = bk_error_set(err, BK_ERR_NOMEM,
				  "cannot allocate generator buffers");
		goto out;
	}
	G.pool = malloc(POOL_SIZE);
	G.nb = calloc((size_t)G.version + 1, sizeof(*G.nb));
	G.gen = calloc((size_t)G.version + 1, sizeof(*G.gen));
	G.touched = calloc((size_t)G.version + 1, 1);
	top = malloc(sizeof(*top));
	child = malloc(sizeof(*child));
	if (!G.block || !G.pool || !G.nb || !G.gen || !G.touched || !top ||
	    !child) {
		rc = bk_error_set(err, BK_ERR_NOMEM,
				  "cannot allocate generator buffers");
		goto out;
	}
	make_pool(G.pool, o->seed);
	ds_init(&G, top, name, nobj, avg);
	snprintf(childname, sizeof(childname), "%s/child", name);
	ds_init(&G, child, childname, nobj / 4 ? nobj / 4 : 1, avg);
	bk_drr_writer_init(&G.w, sink, ctx, o->byteswap, o->legacy);

	if (o->compound) {
		rc = put_compound_header(&G, top, child, err);
		if (!rc)
			rc = put_substream(&G, top, err);
		if (!rc)
			rc = put_substream(&G, child, err);
		if (!rc)
			rc = bk_drr_write_final_end(&G.w, err);
	} else {
		rc = put_substream(&G, top, err);
	}
out:
	free(G.block);
	free(G.cblock);
	free(G.pool);
	free(G.nb);
	free(G.gen);
	free(G.touched);
	free(top);
	free(child);
	return rc;
}
