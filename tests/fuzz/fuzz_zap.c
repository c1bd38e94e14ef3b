/* libFuzzer target: the ZPL reader's parsers (include/backup/zpl.h), on
 * blocks a hostile stream chooses.  The first input byte picks a mode, the
 * second the byte order:
 *   0: the rest is a micro ZAP block;
 *   1: the rest is a fat ZAP leaf (cut to a power of two, 512 at least);
 *   2: the rest is a fat ZAP header block, its embedded table read whole;
 *   3: the rest is a znode (a bonus buffer);
 *   4: the rest describes a whole file system, objects 1 to 8 (each: type,
 *      bonus type, block shift, bonus length, the bonus, a block count and
 *      the blocks), walked from its root recursively, every file's data
 *      blocks and every symlink read.
 * Anything but BK_OK or an error with a message, a crash, a leak or a
 * hang is a bug. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "backup/zpl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NOBJ 8
#define NBLK 4

struct fobj {
	bool present;
	uint32_t type, bonustype, blksz, bonuslen;
	const uint8_t *bonus;
	const uint8_t *blocks[NBLK]; /* NULL: a hole */
	size_t blen[NBLK];           /* bytes of the input (rest zeros) */
	unsigned nblocks;
};

static struct fobj objs[NOBJ + 1];

static int count_fn(void *ctx, const struct bk_zap_entry *e)
{
	size_t *n = ctx;

	/* the entry must be what it says it is */
	if (strlen(e->name) != e->name_len)
		abort();
	(*n)++;
	return 0;
}

static void check(enum bk_code rc, const struct bk_error *err)
{
	if (rc != BK_OK && (rc != err->code || !err->msg[0]))
		abort();
}

static enum bk_code f_object(void *ctx, uint64_t obj,
			     struct bk_zpl_object *out, struct bk_error *err)
{
	(void)ctx;
	if (obj > NOBJ || !objs[obj].present)
		return bk_error_set(err, BK_ERR_NOTFOUND, "no object");
	out->type = objs[obj].type;
	out->bonustype = objs[obj].bonustype;
	out->blksz = objs[obj].blksz;
	out->maxblkid = objs[obj].nblocks ? objs[obj].nblocks - 1 : 0;
	out->bonus = objs[obj].bonus;
	out->bonuslen = objs[obj].bonuslen;
	return BK_OK;
}

static enum bk_code f_read(void *ctx, uint64_t obj, uint64_t blkid,
			   uint8_t *buf, size_t len, bool *hole,
			   struct bk_error *err)
{
	const struct fobj *o = obj <= NOBJ ? &objs[obj] : NULL;

	(void)ctx;
	memset(buf, 0, len);
	*hole = true;
	if (!o || !o->present)
		return bk_error_set(err, BK_ERR_NOTFOUND, "no object");
	if (len != o->blksz)
		abort(); /* the reader asked with another block size */
	if (blkid < o->nblocks && o->blocks[blkid]) {
		memcpy(buf, o->blocks[blkid], o->blen[blkid]);
		*hole = false;
	}
	return BK_OK;
}

static enum bk_code f_next(void *ctx, uint64_t obj, uint64_t from,
			   uint64_t *blkid, struct bk_error *err)
{
	const struct fobj *o = obj <= NOBJ ? &objs[obj] : NULL;

	(void)ctx;
	(void)err;
	*blkid = UINT64_MAX;
	for (uint64_t b = from; o && b < o->nblocks; b++)
		if (o->blocks[b]) {
			*blkid = b;
			break;
		}
	return BK_OK;
}

static const struct bk_zpl_source_ops fops = { f_object, f_read, f_next,
					       NULL, NULL };

/* Objects 1..NOBJ from the input. */
static void parse_objects(const uint8_t *p, size_t n)
{
	memset(objs, 0, sizeof(objs));
	for (unsigned i = 1; i <= NOBJ && n >= 5; i++) {
		struct fobj *o = &objs[i];

		o->present = p[0] != 0xff;
		o->type = p[0];
		o->bonustype = p[1];
		o->blksz = 512u << (p[2] % 4);
		o->bonuslen = (uint32_t)p[3] * 2;
		o->nblocks = p[4] % (NBLK + 1);
		p += 5;
		n -= 5;
		if (o->bonuslen > n)
			o->bonuslen = (uint32_t)n;
		o->bonus = p;
		p += o->bonuslen;
		n -= o->bonuslen;
		for (unsigned b = 0; b < o->nblocks; b++) {
			size_t k;

			if (!n || p[0] == 0) { /* a hole */
				p += n ? 1 : 0;
				n -= n ? 1 : 0;
				continue;
			}
			p++;
			n--;
			k = n < o->blksz ? n : o->blksz;
			o->blocks[b] = p;
			o->blen[b] = k;
			p += k;
			n -= k;
		}
	}
}

static int visit(void *ctx, const char *path, const struct bk_zpl_stat *st,
		 const char *target)
{
	struct bk_zpl *z = ctx;
	struct bk_error err;
	uint8_t *buf;
	uint64_t b;
	bool hole;

	(void)path;
	(void)target;
	if (!S_ISREG(st->mode) || !st->blksz || st->blksz > (64u << 10))
		return 0;
	if (!(buf = malloc(st->blksz)))
		abort();
	for (enum bk_code rc = bk_zpl_next_block(z, st, 0, &b, &err);
	     !rc && b != UINT64_MAX;
	     rc = bk_zpl_next_block(z, st, b + 1, &b, &err)) {
		rc = bk_zpl_read_block(z, st, b, buf, &hole, &err);
		check(rc, &err);
		if (rc)
			break;
	}
	free(buf);
	return 0;
}

static void whole(const uint8_t *p, size_t n, bool be)
{
	struct bk_zpl_source src = { &fops, NULL, be };
	struct bk_zpl *z;
	struct bk_error err;
	enum bk_code rc;

	parse_objects(p, n);
	rc = bk_zpl_open(&src, &z, &err);
	check(rc, &err);
	if (rc)
		return;
	rc = bk_zpl_tree(z, bk_zpl_root(z), "/", true, visit, z, &err);
	check(rc, &err);
	bk_zpl_close(z);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bk_error err;
	struct bk_zap_header h;
	struct bk_zpl_stat st;
	enum bk_code rc = BK_OK;
	size_t n = 0, len;
	bool be;

	if (size < 2)
		return 0;
	be = data[1] & 1;
	data += 2;
	size -= 2;
	switch (data[-2] % 5) {
	case 0:
		rc = bk_zap_micro_parse(data, size - size % 64, be, count_fn,
					&n, &err);
		break;
	case 1:
	case 2:
		for (len = 512; len * 2 <= size && len < (1u << 17);)
			len *= 2;
		if (size < 512)
			return 0;
		if (data[-2] % 5 == 1) {
			rc = bk_zap_leaf_parse(data, len, be, count_fn, &n,
					       &err);
			break;
		}
		rc = bk_zap_header_parse(data, len, be, &h, &err);
		if (!rc && h.ptrtbl_numblks == 0)
			for (uint64_t i = 0; i < (UINT64_C(1) << h.ptrtbl_shift);
			     i++)
				n += bk_zap_embedded_ptr(data, len, be, i) != 0;
		break;
	case 3:
		rc = bk_zpl_znode_parse(data, size, be, &st, &err);
		break;
	default:
		whole(data, size, be);
		return 0;
	}
	check(rc, &err);
	return 0;
}
