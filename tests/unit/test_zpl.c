/* The ZPL reader's parsers on hand-built blocks (micro ZAP, fat ZAP header
 * and leaves, znodes, names, lz4 blocks), in both byte orders, and hostile
 * ones: names without their end, chunk chains that loop or leave the leaf,
 * tables larger than their blocks.  Then the reader over an in-memory
 * object source: master node, a fat root directory, a file with a hole, a
 * short symlink, and a directory cycle that a walk must refuse.  System
 * attributes (ZPL 5): registry, layouts, SA buffers and spill blocks in
 * both byte orders, and hostile ones (bad magic, header sizes past the
 * buffer or short of its lengths, unknown layouts and attributes, lengths
 * past the buffer, wrong registered lengths). */
#include <lz4.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "backup/zpl.h"

static void put(uint8_t *p, unsigned n, uint64_t v, bool be)
{
	for (unsigned i = 0; i < n; i++)
		p[be ? n - 1 - i : i] = (uint8_t)(v >> (8 * i));
}

/* ---- micro ZAP --------------------------------------------------------- */

static void mz_init(uint8_t *b, size_t len, bool be)
{
	memset(b, 0, len);
	put(b, 8, BK_ZAP_MICRO, be);
}

static void mz_add(uint8_t *b, unsigned slot, const char *name, uint64_t v,
		   bool be)
{
	uint8_t *e = b + 64 + 64 * slot;

	put(e, 8, v, be);
	memcpy(e + 14, name, strlen(name));
}

struct seen {
	char names[8][64];
	uint64_t values[8];
	unsigned n;
};

static int collect(void *ctx, const struct bk_zap_entry *e)
{
	struct seen *s = ctx;

	if (s->n < 8) {
		snprintf(s->names[s->n], 64, "%s", e->name);
		s->values[s->n] = e->value;
	}
	s->n++;
	return 0;
}

static void micro_zap(void **state)
{
	uint8_t b[512];
	struct bk_error err;
	struct seen s;

	(void)state;
	for (int be = 0; be < 2; be++) {
		mz_init(b, sizeof(b), be);
		mz_add(b, 0, "ROOT", 34, be);
		mz_add(b, 3, "VERSION", 4, be); /* slots 1, 2 free */
		memset(&s, 0, sizeof(s));
		assert_int_equal(bk_zap_micro_parse(b, sizeof(b), be, collect,
						    &s, &err),
				 BK_OK);
		assert_int_equal(s.n, 2);
		assert_string_equal(s.names[0], "ROOT");
		assert_int_equal(s.values[0], 34);
		assert_string_equal(s.names[1], "VERSION");
		assert_int_equal(s.values[1], 4);
	}
	/* a name filling its 50 bytes has no end: refused */
	mz_init(b, sizeof(b), false);
	memset(b + 64 + 14, 'x', 50);
	assert_int_equal(bk_zap_micro_parse(b, sizeof(b), false, collect, &s,
					    &err),
			 BK_ERR_FORMAT);
	/* odd sizes and another block type */
	mz_init(b, sizeof(b), false);
	assert_int_equal(bk_zap_micro_parse(b, 100, false, collect, &s, &err),
			 BK_ERR_FORMAT);
	assert_int_equal(bk_zap_micro_parse(b, 64, false, collect, &s, &err),
			 BK_ERR_FORMAT);
	put(b, 8, BK_ZAP_LEAF, false);
	assert_int_equal(bk_zap_micro_parse(b, sizeof(b), false, collect, &s,
					    &err),
			 BK_ERR_FORMAT);
}

/* ---- fat ZAP ----------------------------------------------------------- */

#define LEAF 512u
#define CHUNKS_AT 80u /* header 48 + 16 hash entries of 2 bytes */
#define NCHUNKS 18u

static uint8_t *chunk(uint8_t *leaf, unsigned i)
{
	return leaf + CHUNKS_AT + 24 * i;
}

static void leaf_init(uint8_t *l, bool be)
{
	memset(l, 0, LEAF);
	put(l, 8, BK_ZAP_LEAF, be);
	put(l + 24, 4, 0x2AB1EAF, be);
}

/* An array of bytes from chunk `at` on; returns the next free chunk. */
static unsigned leaf_array(uint8_t *l, unsigned at, const uint8_t *p,
			   size_t n, bool be)
{
	while (n) {
		uint8_t *c = chunk(l, at);
		size_t k = n < 21 ? n : 21;

		c[0] = 251;
		memcpy(c + 1, p, k);
		p += k;
		n -= k;
		put(c + 22, 2, n ? at + 1 : 0xffff, be);
		at++;
	}
	return at;
}

/* An entry at chunk `at` (name and a u64 value after it). */
static unsigned leaf_entry(uint8_t *l, unsigned at, const char *name,
			   uint64_t v, bool be)
{
	uint8_t *e = chunk(l, at), val[8];
	unsigned nlen = (unsigned)strlen(name) + 1, next;

	e[0] = 252;
	e[1] = 8;
	put(e + 2, 2, 0xffff, be);
	put(e + 4, 2, at + 1, be);
	put(e + 6, 2, nlen, be);
	next = leaf_array(l, at + 1, (const uint8_t *)name, nlen, be);
	put(e + 8, 2, next, be);
	put(e + 10, 2, 1, be);
	put(val, 8, v, true); /* leaf values are big-endian always */
	return leaf_array(l, next, val, 8, be);
}

static void fat_header(uint8_t *h, unsigned shift, bool be)
{
	memset(h, 0, LEAF);
	put(h, 8, BK_ZAP_HEADER, be);
	put(h + 8, 8, 0x2F52AB2ABull, be);
	put(h + 32, 8, shift, be);
	/* every pointer of the embedded table names leaf 1 */
	for (unsigned i = 0; i < (1u << shift); i++)
		put(h + LEAF / 2 + 8 * i, 8, 1, be);
}

static void fat_zap(void **state)
{
	uint8_t l[LEAF], h[LEAF];
	struct bk_zap_header zh;
	struct bk_error err;
	struct seen s;
	const char *longname = "a-name-longer-than-twenty-one-bytes-so-it-"
			       "takes-three-chunks";

	(void)state;
	for (int be = 0; be < 2; be++) {
		unsigned at;

		leaf_init(l, be);
		at = leaf_entry(l, 0, "a", (UINT64_C(8) << 60) | 3, be);
		leaf_entry(l, at, longname, (UINT64_C(4) << 60) | 4, be);
		memset(&s, 0, sizeof(s));
		assert_int_equal(bk_zap_leaf_parse(l, LEAF, be, collect, &s,
						   &err),
				 BK_OK);
		assert_int_equal(s.n, 2);
		assert_string_equal(s.names[0], "a");
		assert_int_equal(s.values[0], (UINT64_C(8) << 60) | 3);
		assert_string_equal(s.names[1], longname);
		fat_header(h, 2, be);
		assert_int_equal(bk_zap_header_parse(h, LEAF, be, &zh, &err),
				 BK_OK);
		assert_int_equal(zh.ptrtbl_shift, 2);
		assert_int_equal(bk_zap_embedded_ptr(h, LEAF, be, 3), 1);
	}
	/* a name chain that loops on itself */
	leaf_init(l, false);
	leaf_entry(l, 0, "looping-name-of-more-than-21-bytes", 1, false);
	put(chunk(l, 1) + 22, 2, 1, false);
	assert_int_equal(bk_zap_leaf_parse(l, LEAF, false, collect, &s, &err),
			 BK_ERR_FORMAT);
	/* a chain that leaves the leaf */
	leaf_init(l, false);
	leaf_entry(l, 0, "x", 1, false);
	put(chunk(l, 0) + 4, 2, NCHUNKS, false);
	assert_int_equal(bk_zap_leaf_parse(l, LEAF, false, collect, &s, &err),
			 BK_ERR_FORMAT);
	/* a name without its NUL, a value of 3-byte integers */
	leaf_init(l, false);
	leaf_entry(l, 0, "abc", 1, false);
	put(chunk(l, 0) + 6, 2, 3, false);
	assert_int_equal(bk_zap_leaf_parse(l, LEAF, false, collect, &s, &err),
			 BK_ERR_FORMAT);
	leaf_init(l, false);
	leaf_entry(l, 0, "abc", 1, false);
	chunk(l, 0)[1] = 3;
	assert_int_equal(bk_zap_leaf_parse(l, LEAF, false, collect, &s, &err),
			 BK_ERR_FORMAT);
	/* a NUL inside a name (found by fuzz_zap): refused, not shortened */
	leaf_init(l, false);
	leaf_entry(l, 0, "abc", 1, false);
	chunk(l, 1)[2] = 0; /* "a\0c" */
	assert_int_equal(bk_zap_leaf_parse(l, LEAF, false, collect, &s, &err),
			 BK_ERR_FORMAT);
	assert_non_null(strstr(err.msg, "NUL"));
	/* not a leaf; a leaf of an odd size */
	put(l + 24, 4, 0x12345678, false);
	assert_int_equal(bk_zap_leaf_parse(l, LEAF, false, collect, &s, &err),
			 BK_ERR_FORMAT);
	assert_int_equal(bk_zap_leaf_parse(l, 500, false, collect, &s, &err),
			 BK_ERR_FORMAT);
	/* pointer tables larger than their room */
	fat_header(h, 2, false);
	put(h + 32, 8, 6, false); /* 64 entries in a 512-byte header: 32 fit */
	assert_int_equal(bk_zap_header_parse(h, LEAF, false, &zh, &err),
			 BK_ERR_FORMAT);
	put(h + 24, 8, 1, false); /* one external block: 64 entries fit */
	put(h + 16, 8, 2, false);
	assert_int_equal(bk_zap_header_parse(h, LEAF, false, &zh, &err),
			 BK_OK);
	put(h + 32, 8, 7, false);
	assert_int_equal(bk_zap_header_parse(h, LEAF, false, &zh, &err),
			 BK_ERR_FORMAT);
	put(h + 32, 8, 200, false);
	assert_int_equal(bk_zap_header_parse(h, LEAF, false, &zh, &err),
			 BK_ERR_FORMAT);
	put(h + 8, 8, 0, false);
	assert_int_equal(bk_zap_header_parse(h, LEAF, false, &zh, &err),
			 BK_ERR_FORMAT);
}

/* ---- znodes, names, lz4 ------------------------------------------------ */

static void znode_bytes(uint8_t *b, uint64_t mode, uint64_t size, bool be)
{
	memset(b, 0, BK_ZPL_ZNODE_SIZE);
	put(b + 16, 8, 1580702706, be); /* mtime */
	put(b + 24, 8, 123456789, be);
	put(b + 72, 8, mode, be);
	put(b + 80, 8, size, be);
	put(b + 96, 8, 1, be);
	put(b + 128, 8, 1234, be);
	put(b + 136, 8, 5678, be);
}

static void znode(void **state)
{
	uint8_t b[BK_ZPL_ZNODE_SIZE + 8];
	struct bk_zpl_stat st;
	struct bk_error err;

	(void)state;
	for (int be = 0; be < 2; be++) {
		znode_bytes(b, S_IFREG | 04751, 108894, be);
		assert_int_equal(bk_zpl_znode_parse(b, sizeof(b), be, &st,
						    &err),
				 BK_OK);
		assert_int_equal(st.mode, S_IFREG | 04751);
		assert_int_equal(st.size, 108894);
		assert_int_equal(st.uid, 1234);
		assert_int_equal(st.gid, 5678);
		assert_int_equal(st.links, 1);
		assert_int_equal(st.mtime.sec, 1580702706);
		assert_int_equal(st.mtime.nsec, 123456789);
	}
	assert_int_equal(bk_zpl_znode_parse(b, BK_ZPL_ZNODE_SIZE - 1, false,
					    &st, &err),
			 BK_ERR_FORMAT);
	znode_bytes(b, S_IFREG, 1, false);
	put(b + 24, 8, 1000000000, false);
	assert_int_equal(bk_zpl_znode_parse(b, sizeof(b), false, &st, &err),
			 BK_ERR_FORMAT);
}

static void names(void **state)
{
	char big[BK_ZPL_NAME_MAX + 2];

	(void)state;
	assert_true(bk_zpl_name_ok("a", 1));
	assert_true(bk_zpl_name_ok("...", 3));
	assert_true(bk_zpl_name_ok(".hidden", 7));
	assert_false(bk_zpl_name_ok("", 0));
	assert_false(bk_zpl_name_ok(".", 1));
	assert_false(bk_zpl_name_ok("..", 2));
	assert_false(bk_zpl_name_ok("a/b", 3));
	assert_false(bk_zpl_name_ok("/", 1));
	assert_false(bk_zpl_name_ok("a\0b", 3));
	memset(big, 'x', sizeof(big));
	assert_true(bk_zpl_name_ok(big, BK_ZPL_NAME_MAX));
	assert_false(bk_zpl_name_ok(big, BK_ZPL_NAME_MAX + 1));
}

static void lz4_blocks(void **state)
{
	char in[4096], out[4096], z[4096 + 64];
	struct bk_error err;
	int n;

	(void)state;
	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (char)(i % 7);
	n = LZ4_compress_default(in, z + 4, sizeof(in), sizeof(z) - 4);
	assert_true(n > 0);
	put((uint8_t *)z, 4, (uint64_t)n, true);
	assert_int_equal(bk_zpl_decompress(15, z, (size_t)n + 4, out,
					   sizeof(out), &err),
			 BK_OK);
	assert_memory_equal(in, out, sizeof(in));
	/* a length past the payload; garbage; an unknown compression */
	put((uint8_t *)z, 4, (uint64_t)n + 1, true);
	assert_int_equal(bk_zpl_decompress(15, z, (size_t)n + 4, out,
					   sizeof(out), &err),
			 BK_ERR_FORMAT);
	memset(z, 0xff, sizeof(z));
	put((uint8_t *)z, 4, 100, true);
	assert_int_equal(bk_zpl_decompress(15, z, 104, out, sizeof(out), &err),
			 BK_ERR_FORMAT);
	assert_int_equal(bk_zpl_decompress(6, z, 104, out, sizeof(out), &err),
			 BK_ERR_FORMAT);
	assert_non_null(strstr(err.msg, "gzip-2"));
	assert_int_equal(bk_zpl_decompress(17, z, 104, out, sizeof(out), &err),
			 BK_ERR_UNSUPPORTED);
	/* uncompressed: copied, the rest zeros; longer than the block: no */
	assert_int_equal(bk_zpl_decompress(2, "abc", 3, out, 8, &err), BK_OK);
	assert_memory_equal(out, "abc\0\0\0\0\0", 8);
	assert_int_equal(bk_zpl_decompress(2, in, 9, out, 8, &err),
			 BK_ERR_FORMAT);
}

/* ---- the reader over a source in memory -------------------------------- */

struct mobj {
	uint64_t obj;
	uint32_t type, bonustype, blksz;
	uint8_t bonus[BK_ZPL_ZNODE_SIZE + 16];
	uint32_t bonuslen;
	uint8_t blocks[3][LEAF]; /* all-zero blocks are holes */
};

static struct mobj mem[6];

static struct mobj *mfind(uint64_t obj)
{
	for (size_t i = 0; i < 6; i++)
		if (mem[i].obj == obj)
			return &mem[i];
	return NULL;
}

static bool is_hole(const uint8_t *b)
{
	for (unsigned i = 0; i < LEAF; i++)
		if (b[i])
			return false;
	return true;
}

static enum bk_code m_object(void *ctx, uint64_t obj,
			     struct bk_zpl_object *out, struct bk_error *err)
{
	struct mobj *o = mfind(obj);

	(void)ctx;
	if (!o)
		return bk_error_set(err, BK_ERR_NOTFOUND, "no %llu",
				    (unsigned long long)obj);
	out->type = o->type;
	out->bonustype = o->bonustype;
	out->blksz = o->blksz;
	out->maxblkid = 2;
	out->bonus = o->bonus;
	out->bonuslen = o->bonuslen;
	return BK_OK;
}

static enum bk_code m_read(void *ctx, uint64_t obj, uint64_t blkid,
			   uint8_t *buf, size_t len, bool *hole,
			   struct bk_error *err)
{
	struct mobj *o = mfind(obj);

	(void)ctx;
	(void)err;
	memset(buf, 0, len);
	*hole = true;
	if (o && blkid < 3 && !is_hole(o->blocks[blkid])) {
		memcpy(buf, o->blocks[blkid], len < LEAF ? len : LEAF);
		*hole = false;
	}
	return BK_OK;
}

static enum bk_code m_next(void *ctx, uint64_t obj, uint64_t from,
			   uint64_t *blkid, struct bk_error *err)
{
	struct mobj *o = mfind(obj);

	(void)ctx;
	(void)err;
	*blkid = UINT64_MAX;
	for (uint64_t b = from; o && b < 3; b++)
		if (!is_hole(o->blocks[b])) {
			*blkid = b;
			break;
		}
	return BK_OK;
}

static int closed;
static void m_close(void *ctx)
{
	(void)ctx;
	closed++;
}

static const struct bk_zpl_source_ops mops = { m_object, m_read, m_next,
					       m_close, NULL };

static void build_fs(void)
{
	unsigned at;

	memset(mem, 0, sizeof(mem));
	/* 1: the master node; 2: the root, a fat ZAP; 3: a file with a hole;
	 * 4: a directory whose entry "up" names the root (a cycle); 5: a
	 * symlink with its target in the bonus */
	mem[0] = (struct mobj){ .obj = 1, .type = BK_ZPL_OT_MASTER_NODE,
				.blksz = LEAF };
	mz_init(mem[0].blocks[0], LEAF, false);
	mz_add(mem[0].blocks[0], 0, "VERSION", 4, false);
	mz_add(mem[0].blocks[0], 1, "ROOT", 2, false);
	mem[1] = (struct mobj){ .obj = 2, .type = BK_ZPL_OT_DIRECTORY,
				.bonustype = BK_ZPL_OT_ZNODE, .blksz = LEAF,
				.bonuslen = BK_ZPL_ZNODE_SIZE };
	znode_bytes(mem[1].bonus, S_IFDIR | 0755, 5, false);
	fat_header(mem[1].blocks[0], 1, false);
	leaf_init(mem[1].blocks[1], false);
	at = leaf_entry(mem[1].blocks[1], 0, "file", UINT64_C(8) << 60 | 3,
			false);
	at = leaf_entry(mem[1].blocks[1], at, "sub", UINT64_C(4) << 60 | 4,
			false);
	leaf_entry(mem[1].blocks[1], at, "link", UINT64_C(10) << 60 | 5,
		   false);
	mem[2] = (struct mobj){ .obj = 3, .type = BK_ZPL_OT_PLAIN_FILE,
				.bonustype = BK_ZPL_OT_ZNODE, .blksz = LEAF,
				.bonuslen = BK_ZPL_ZNODE_SIZE };
	znode_bytes(mem[2].bonus, S_IFREG | 0644, 2 * LEAF + 10, false);
	memset(mem[2].blocks[0], 'a', LEAF);
	memset(mem[2].blocks[2], 'c', LEAF);
	mem[3] = (struct mobj){ .obj = 4, .type = BK_ZPL_OT_DIRECTORY,
				.bonustype = BK_ZPL_OT_ZNODE, .blksz = LEAF,
				.bonuslen = BK_ZPL_ZNODE_SIZE };
	znode_bytes(mem[3].bonus, S_IFDIR | 0700, 3, false);
	mz_init(mem[3].blocks[0], LEAF, false);
	mz_add(mem[3].blocks[0], 0, "up", UINT64_C(4) << 60 | 2, false);
	mem[4] = (struct mobj){ .obj = 5, .type = BK_ZPL_OT_PLAIN_FILE,
				.bonustype = BK_ZPL_OT_ZNODE, .blksz = LEAF,
				.bonuslen = BK_ZPL_ZNODE_SIZE + 6 };
	znode_bytes(mem[4].bonus, S_IFLNK | 0777, 6, false);
	memcpy(mem[4].bonus + BK_ZPL_ZNODE_SIZE, "target", 6);
}

struct visits {
	unsigned n;
	char last[64];
};

static int visit(void *ctx, const char *path, const struct bk_zpl_stat *st,
		 const char *target)
{
	struct visits *v = ctx;

	(void)st;
	(void)target;
	v->n++;
	snprintf(v->last, sizeof(v->last), "%s", path);
	return 0;
}

static void reader(void **state)
{
	struct bk_zpl_source src = { &mops, NULL, false };
	struct bk_zpl *z;
	struct bk_zpl_stat st;
	struct bk_error err;
	struct visits v = { 0 };
	uint8_t buf[LEAF];
	uint64_t obj, b;
	char target[64];
	bool hole;

	(void)state;
	build_fs();
	closed = 0;
	assert_int_equal(bk_zpl_open(&src, &z, &err), BK_OK);
	assert_int_equal(bk_zpl_version(z), 4);
	assert_int_equal(bk_zpl_root(z), 2);
	assert_int_equal(bk_zpl_walk(z, "/file", &obj, &err), BK_OK);
	assert_int_equal(obj, 3);
	assert_int_equal(bk_zpl_stat(z, obj, &st, &err), BK_OK);
	assert_int_equal(st.size, 2 * LEAF + 10);
	assert_int_equal(bk_zpl_next_block(z, &st, 1, &b, &err), BK_OK);
	assert_int_equal(b, 2);
	assert_int_equal(bk_zpl_read_block(z, &st, 1, buf, &hole, &err),
			 BK_OK);
	assert_true(hole);
	assert_int_equal(bk_zpl_read_block(z, &st, 2, buf, &hole, &err),
			 BK_OK);
	assert_false(hole);
	assert_int_equal(buf[0], 'c');
	assert_int_equal(bk_zpl_walk(z, "link", &obj, &err), BK_OK);
	assert_int_equal(bk_zpl_readlink(z, obj, target, sizeof(target), &err),
			 BK_OK);
	assert_string_equal(target, "target");
	assert_int_equal(bk_zpl_walk(z, "/nothing", &obj, &err),
			 BK_ERR_NOTFOUND);
	assert_int_equal(bk_zpl_walk(z, "/sub/../file", &obj, &err),
			 BK_ERR_USAGE);
	assert_int_equal(bk_zpl_walk(z, "/file/x", &obj, &err),
			 BK_ERR_NOTFOUND);
	/* one level is fine; recursion meets the root again: refused */
	assert_int_equal(bk_zpl_tree(z, 2, "/", false, visit, &v, &err),
			 BK_OK);
	assert_int_equal(v.n, 3);
	assert_int_equal(bk_zpl_tree(z, 2, "/", true, visit, &v, &err),
			 BK_ERR_FORMAT);
	assert_non_null(strstr(err.msg, "twice"));
	bk_zpl_close(z);
	assert_int_equal(closed, 1);

	/* no master node: not a file system, and the source is closed */
	build_fs();
	mem[0].type = BK_ZPL_OT_DIRECTORY;
	assert_int_equal(bk_zpl_open(&src, &z, &err), BK_ERR_FORMAT);
	assert_int_equal(closed, 2);
	/* a hostile name in the root is refused when listed */
	build_fs();
	memcpy(chunk(mem[1].blocks[1], 1) + 1, "../.", 4);
	assert_int_equal(bk_zpl_open(&src, &z, &err), BK_OK);
	assert_int_equal(bk_zpl_tree(z, 2, "/", false, visit, &v, &err),
			 BK_ERR_FORMAT);
	assert_non_null(strstr(err.msg, "not a safe name"));
	bk_zpl_close(z);
	/* the root's pointer table in a block of its own (block 2), every
	 * entry naming leaf 1: read once; one naming a hole: refused */
	build_fs();
	put(mem[1].blocks[0] + 16, 8, 2, false); /* first block */
	put(mem[1].blocks[0] + 24, 8, 1, false); /* one block */
	put(mem[1].blocks[0] + 32, 8, 6, false); /* 64 entries */
	for (unsigned i = 0; i < 64; i++)
		put(mem[1].blocks[2] + 8 * i, 8, 1, false);
	v.n = 0;
	assert_int_equal(bk_zpl_open(&src, &z, &err), BK_OK);
	assert_int_equal(bk_zpl_tree(z, 2, "/", false, visit, &v, &err),
			 BK_OK);
	assert_int_equal(v.n, 3);
	put(mem[1].blocks[2] + 8 * 5, 8, 0, false); /* the header block */
	assert_int_equal(bk_zpl_tree(z, 2, "/", false, visit, &v, &err),
			 BK_ERR_FORMAT);
	bk_zpl_close(z);
	/* an SA bonus in a file system whose master node names no SA
	 * registry: refused, naming what is missing */
	build_fs();
	mem[2].bonustype = BK_ZPL_OT_SA;
	assert_int_equal(bk_zpl_open(&src, &z, &err), BK_OK);
	assert_int_equal(bk_zpl_stat(z, 3, &st, &err), BK_ERR_FORMAT);
	assert_non_null(strstr(err.msg, "SA_ATTRS"));
	bk_zpl_close(z);
}

/* ---- volumes ------------------------------------------------------------ */

/* 1: a volume's data (blocks 0 and 2, a hole between); 2: its ZAP */
static void build_vol(uint64_t size, const char *key)
{
	memset(mem, 0, sizeof(mem));
	mem[0] = (struct mobj){ .obj = 1, .type = BK_ZPL_OT_ZVOL,
				.blksz = LEAF };
	memset(mem[0].blocks[0], 'a', LEAF);
	memset(mem[0].blocks[2], 'c', LEAF);
	mem[1] = (struct mobj){ .obj = 2, .type = BK_ZPL_OT_ZVOL_PROP,
				.blksz = LEAF };
	mz_init(mem[1].blocks[0], LEAF, false);
	mz_add(mem[1].blocks[0], 0, key, size, false);
}

static int one_entry(void *ctx, const char *name, uint64_t obj,
		     unsigned dtype)
{
	char *out = ctx;

	snprintf(out, 64, "%s %llu %u", name, (unsigned long long)obj, dtype);
	return 0;
}

static void volume(void **state)
{
	struct bk_zpl_source src = { &mops, NULL, false };
	struct bk_zpl *z;
	struct bk_zpl_stat st;
	struct bk_error err;
	struct visits v = { 0 };
	uint8_t buf[LEAF];
	uint64_t obj, b, size;
	char ent[64];
	bool hole;

	(void)state;
	build_vol(3 * LEAF - 100, "size");
	assert_int_equal(bk_zpl_open(&src, &z, &err), BK_OK);
	assert_true(bk_zpl_is_volume(z, &size));
	assert_int_equal(size, 3 * LEAF - 100);
	assert_int_equal(bk_zpl_root(z), 2);
	/* one regular file in the root, "volume" until it is named */
	assert_int_equal(bk_zpl_readdir(z, 2, one_entry, ent, &err), BK_OK);
	assert_string_equal(ent, "volume 1 8");
	assert_int_equal(bk_zpl_volume_name(z, "../x", &err), BK_ERR_USAGE);
	assert_int_equal(bk_zpl_volume_name(z, "disk", &err), BK_OK);
	assert_int_equal(bk_zpl_walk(z, "/disk", &obj, &err), BK_OK);
	assert_int_equal(obj, BK_ZPL_ZVOL_OBJ);
	assert_int_equal(bk_zpl_walk(z, "/volume", &obj, &err),
			 BK_ERR_NOTFOUND);
	assert_int_equal(bk_zpl_stat(z, obj = 1, &st, &err), BK_OK);
	assert_true(S_ISREG(st.mode));
	assert_int_equal(st.size, 3 * LEAF - 100);
	assert_int_equal(st.blksz, LEAF);
	/* holes are skipped and read as zeros */
	assert_int_equal(bk_zpl_next_block(z, &st, 1, &b, &err), BK_OK);
	assert_int_equal(b, 2);
	assert_int_equal(bk_zpl_read_block(z, &st, 1, buf, &hole, &err),
			 BK_OK);
	assert_true(hole);
	assert_int_equal(bk_zpl_read_block(z, &st, 2, buf, &hole, &err),
			 BK_OK);
	assert_false(hole);
	assert_int_equal(buf[0], 'c');
	assert_int_equal(bk_zpl_stat(z, 2, &st, &err), BK_OK);
	assert_true(S_ISDIR(st.mode));
	assert_int_equal(bk_zpl_stat(z, 3, &st, &err), BK_ERR_NOTFOUND);
	assert_int_equal(bk_zpl_readdir(z, 1, one_entry, ent, &err),
			 BK_ERR_FORMAT);
	assert_int_equal(bk_zpl_tree(z, 2, "/", true, visit, &v, &err),
			 BK_OK);
	assert_int_equal(v.n, 2);
	assert_string_equal(v.last, "/disk");
	bk_zpl_close(z);

	/* hostile volumes: no size, a size no off_t holds, no ZAP */
	build_vol(1, "sizes");
	assert_int_equal(bk_zpl_open(&src, &z, &err), BK_ERR_FORMAT);
	assert_non_null(strstr(err.msg, "no size"));
	build_vol(UINT64_MAX, "size");
	assert_int_equal(bk_zpl_open(&src, &z, &err), BK_ERR_FORMAT);
	build_vol(1, "size");
	mem[1].type = BK_ZPL_OT_DIRECTORY;
	assert_int_equal(bk_zpl_open(&src, &z, &err), BK_ERR_FORMAT);
	assert_non_null(strstr(err.msg, "object 2"));
	build_vol(1, "size");
	mem[0].blksz = 0;
	assert_int_equal(bk_zpl_open(&src, &z, &err), BK_ERR_FORMAT);
	/* a file system is not a volume */
	build_fs();
	assert_int_equal(bk_zpl_open(&src, &z, &err), BK_OK);
	assert_false(bk_zpl_is_volume(z, NULL));
	assert_int_equal(bk_zpl_volume_name(z, "x", &err), BK_ERR_USAGE);
	bk_zpl_close(z);
}

/* ---- system attributes -------------------------------------------------- */

/* attribute numbers of the registry below (not the legacy ones: the
 * registry decides) */
enum { T_MODE = 30, T_SIZE = 31, T_SYMLINK = 32, T_MTIME = 33,
       T_DXATTR = 34, T_UID = 35 };

static struct bk_sa_registry *test_registry(bool be)
{
	static const struct {
		const char *name;
		unsigned num, len;
	} attrs[] = {
		{ "ZPL_MODE", T_MODE, 8 },     { "ZPL_SIZE", T_SIZE, 8 },
		{ "ZPL_SYMLINK", T_SYMLINK, 0 }, { "ZPL_MTIME", T_MTIME, 16 },
		{ "ZPL_DXATTR", T_DXATTR, 0 }, { "ZPL_UID", T_UID, 8 },
	};
	/* layout 2: mode, size, symlink, mtime, dxattr; 3: uid */
	static const uint16_t l2[] = { T_MODE, T_SIZE, T_SYMLINK, T_MTIME,
				       T_DXATTR };
	uint8_t raw[16];
	struct bk_sa_registry *r;
	struct bk_error err;

	assert_int_equal(bk_sa_registry_new(&r, &err), BK_OK);
	for (size_t i = 0; i < sizeof(attrs) / sizeof(attrs[0]); i++)
		assert_int_equal(bk_sa_registry_attr(r, attrs[i].name,
						     attrs[i].num |
							     (uint64_t)attrs[i].len
								     << 24,
						     &err),
				 BK_OK);
	for (size_t i = 0; i < 5; i++)
		put(raw + 2 * i, 2, l2[i], be);
	assert_int_equal(bk_sa_registry_layout(r, "2", raw, 5, be, &err),
			 BK_OK);
	put(raw, 2, T_UID, be);
	assert_int_equal(bk_sa_registry_layout(r, "3", raw, 1, be, &err),
			 BK_OK);
	return r;
}

/* An SA buffer of layout 2 in byte order be: its length. */
static size_t sa_buf(uint8_t *b, size_t cap, bool be)
{
	memset(b, 0, cap);
	put(b, 4, BK_SA_MAGIC, be);
	put(b + 4, 2, 2 | (16 / 8) << 10, be); /* two lengths: 16 bytes */
	put(b + 6, 2, 5, be);                  /* symlink */
	put(b + 8, 2, 3, be);                  /* dxattr */
	put(b + 16, 8, S_IFLNK | 0777, be);
	put(b + 24, 8, 5, be);
	memcpy(b + 32, "hello", 5);            /* then padding to 40 */
	put(b + 40, 8, 1700000000, be);
	put(b + 48, 8, 123456789, be);
	memcpy(b + 56, "xyz", 3);
	return 64;
}

static void sa_values(void **state)
{
	uint8_t b[256];
	struct bk_sa_values v;
	struct bk_zpl_stat st;
	struct bk_error err;

	(void)state;
	for (int be = 0; be < 2; be++) {
		/* the registry's ZAP says be; the buffer may be either: its
		 * magic decides */
		struct bk_sa_registry *r = test_registry(be);

		for (int bbe = 0; bbe < 2; bbe++) {
			size_t len = sa_buf(b, sizeof(b), bbe);

			memset(&v, 0, sizeof(v));
			memset(&st, 0, sizeof(st));
			assert_int_equal(bk_sa_parse(r, b, len, be, &v, &err),
					 BK_OK);
			assert_int_equal(bk_sa_stat(&v, &st, &err), BK_OK);
			assert_int_equal(st.mode, S_IFLNK | 0777);
			assert_int_equal(st.size, 5);
			assert_int_equal(st.mtime.sec, 1700000000);
			assert_int_equal(st.mtime.nsec, 123456789);
			assert_int_equal(st.uid, 0); /* absent: 0 */
			assert_true(v.v[BK_SA_SYMLINK].set);
			assert_int_equal(v.v[BK_SA_SYMLINK].len, 5);
			assert_memory_equal(v.v[BK_SA_SYMLINK].p, "hello", 5);
			assert_int_equal(v.v[BK_SA_DXATTR].len, 3);
			assert_memory_equal(v.v[BK_SA_DXATTR].p, "xyz", 3);
			/* a spill block of layout 3 adds the uid; what the
			 * bonus said stays */
			memset(b + 128, 0, 24);
			put(b + 128, 4, BK_SA_MAGIC, bbe);
			put(b + 132, 2, 3 | 1 << 10, bbe);
			put(b + 136, 8, 1234, bbe);
			assert_int_equal(bk_sa_parse(r, b + 128, 16, be, &v,
						     &err),
					 BK_OK);
			assert_int_equal(bk_sa_stat(&v, &st, &err), BK_OK);
			assert_int_equal(st.uid, 1234);
			assert_int_equal(st.mode, S_IFLNK | 0777);
		}
		bk_sa_registry_free(r);
	}
}

/* One hostile buffer: parse (and stat) must fail with BK_ERR_FORMAT and
 * a message holding what. */
static void sa_bad(struct bk_sa_registry *r, const uint8_t *b, size_t len,
		   const char *what)
{
	struct bk_sa_values v;
	struct bk_zpl_stat st;
	struct bk_error err;
	enum bk_code rc;

	memset(&v, 0, sizeof(v));
	rc = bk_sa_parse(r, b, len, false, &v, &err);
	if (rc == BK_OK)
		rc = bk_sa_stat(&v, &st, &err);
	assert_int_equal(rc, BK_ERR_FORMAT);
	if (!strstr(err.msg, what))
		fail_msg("\"%s\" does not say \"%s\"", err.msg, what);
}

static void sa_hostile(void **state)
{
	struct bk_sa_registry *r = test_registry(false);
	struct bk_error err;
	uint8_t b[256], raw[4] = { 0 };
	size_t len;

	(void)state;
	len = sa_buf(b, sizeof(b), false);
	sa_bad(r, b, 7, "buffer");
	b[0] ^= 1;
	sa_bad(r, b, len, "magic");
	b[0] ^= 1;
	/* header size past the buffer, and too small for its lengths */
	put(b + 4, 2, 2 | 63u << 10, false);
	sa_bad(r, b, len, "header");
	put(b + 4, 2, 2 | 1u << 10, false);
	sa_bad(r, b, len, "header too short");
	put(b + 4, 2, 2 | 0u << 10, false);
	sa_bad(r, b, len, "header");
	/* an unknown layout; layout 0 (empty): no mode */
	put(b + 4, 2, 7 | 2u << 10, false);
	sa_bad(r, b, len, "unknown layout 7");
	put(b + 4, 2, 0 | 2u << 10, false);
	sa_bad(r, b, len, "without ZPL_MODE");
	put(b + 4, 2, 2 | 2u << 10, false);
	/* a variable length past the buffer, and one just at its end */
	put(b + 8, 2, 1000, false);
	sa_bad(r, b, len, "past the buffer");
	put(b + 8, 2, 8, false);
	{
		struct bk_sa_values v;

		memset(&v, 0, sizeof(v));
		assert_int_equal(bk_sa_parse(r, b, len, false, &v, &err),
				 BK_OK);
	}
	put(b + 8, 2, 9, false);
	sa_bad(r, b, len, "past the buffer");
	put(b + 8, 2, 3, false);
	/* the buffer cut inside the fixed-size mtime */
	sa_bad(r, b, 48, "past the buffer");
	/* a time with too many nanoseconds */
	put(b + 48, 8, 1000000000, false);
	sa_bad(r, b, len, "nanoseconds");
	put(b + 48, 8, 0, false);
	/* a layout naming an attribute the registry does not have */
	put(raw, 2, 999, false);
	assert_int_equal(bk_sa_registry_layout(r, "4", raw, 1, false, &err),
			 BK_OK);
	put(b + 4, 2, 4 | 1u << 10, false);
	sa_bad(r, b, len, "unregistered attribute 999");
	/* ZPL_MODE registered with the wrong length */
	assert_int_equal(bk_sa_registry_attr(r, "ZPL_MODE",
					     T_MODE | UINT64_C(4) << 24, &err),
			 BK_OK);
	len = sa_buf(b, sizeof(b), false);
	sa_bad(r, b, len, "ZPL_MODE of 4 bytes");
	/* layout names that are not numbers, or out of range */
	assert_int_equal(bk_sa_registry_layout(r, "x2", raw, 1, false, &err),
			 BK_ERR_FORMAT);
	assert_int_equal(bk_sa_registry_layout(r, "1024", raw, 1, false,
					       &err),
			 BK_ERR_FORMAT);
	assert_int_equal(bk_sa_registry_layout(r, "", raw, 1, false, &err),
			 BK_ERR_FORMAT);
	assert_int_equal(bk_sa_registry_layout(r, "00000000002", raw, 1,
					       false, &err),
			 BK_ERR_FORMAT);
	assert_int_equal(bk_sa_registry_layout(r, "5", raw, 5000, false,
					       &err),
			 BK_ERR_FORMAT);
	bk_sa_registry_free(r);
	/* without a registry, the legacy numbers: layouts still needed */
	assert_int_equal(bk_sa_registry_new(&r, &err), BK_OK);
	raw[0] = 5, raw[1] = 0, raw[2] = 6, raw[3] = 0; /* MODE, SIZE */
	assert_int_equal(bk_sa_registry_layout(r, "2", raw, 2, false, &err),
			 BK_OK);
	memset(b, 0, sizeof(b));
	put(b, 4, BK_SA_MAGIC, false);
	put(b + 4, 2, 2 | 1u << 10, false);
	put(b + 8, 8, S_IFREG | 0600, false);
	put(b + 16, 8, 77, false);
	{
		struct bk_sa_values v;
		struct bk_zpl_stat st;

		memset(&v, 0, sizeof(v));
		assert_int_equal(bk_sa_parse(r, b, 24, false, &v, &err),
				 BK_OK);
		assert_int_equal(bk_sa_stat(&v, &st, &err), BK_OK);
		assert_int_equal(st.size, 77);
	}
	bk_sa_registry_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(micro_zap),  cmocka_unit_test(fat_zap),
		cmocka_unit_test(znode),      cmocka_unit_test(names),
		cmocka_unit_test(lz4_blocks), cmocka_unit_test(reader),
		cmocka_unit_test(volume),
		cmocka_unit_test(sa_values),  cmocka_unit_test(sa_hostile),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
