/* SPDX-License-Identifier: MIT */
/*
 * A read-only reader of the ZFS POSIX layer (ZPL): the files of a dataset,
 * read from the objects that a chain of send streams leaves behind.  It
 * reads the master node, micro and fat ZAPs, directory entries, znodes
 * (the bonus buffer of ZPL versions up to 4), symlinks and file blocks.
 * and the system attributes of ZPL 5 (bonus type DMU_OT_SA: the registry
 * and the layouts found through the master node's SA_ATTRS, and spill
 * blocks from the source); bk_zpl_stat is the one place that knows both.
 *
 * The reader knows nothing of where objects are kept: it asks an object
 * source (struct bk_zpl_source), a small table of operations.  The local
 * pool is one (include/backup/lpool_zpl.h).  Everything it reads is
 * untrusted: every count, offset, length and chain is bounded, and a
 * hostile dataset gets BK_ERR_FORMAT (or BK_ERR_LIMIT), never a crash or
 * an endless loop.  Facts of the on-disk format: docs/zpl.md.
 */
#ifndef BACKUP_ZPL_H
#define BACKUP_ZPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backup/error.h"
#include "backup/export.h"

/* dnode types (DMU_OT_*) that the ZPL uses */
#define BK_ZPL_OT_ZNODE 17u
#define BK_ZPL_OT_PLAIN_FILE 19u
#define BK_ZPL_OT_DIRECTORY 20u
#define BK_ZPL_OT_MASTER_NODE 21u
#define BK_ZPL_OT_ZVOL 23u      /* a volume's data (object 1) */
#define BK_ZPL_OT_ZVOL_PROP 24u /* a volume's properties (object 2) */
#define BK_ZPL_ZVOL_OBJ 1u      /* a volume's data: its one file */
#define BK_ZPL_OT_SA 44u

#define BK_ZPL_BLOCK_MAX (16u << 20) /* the largest ZFS block */
#define BK_ZPL_NAME_MAX 1024u        /* a name, with longname (NUL aside) */
#define BK_ZPL_ZNODE_SIZE 264u       /* znode_phys_t */

/* ---- the object source ------------------------------------------------ */

struct bk_zpl_object {
	uint32_t type;      /* DMU_OT_* of the dnode */
	uint32_t bonustype; /* DMU_OT_* of the bonus buffer */
	uint32_t blksz;     /* data block size */
	uint64_t maxblkid;  /* blocks 0..maxblkid may hold data */
	const uint8_t *bonus; /* valid while the source is open */
	uint32_t bonuslen;
};

struct bk_zpl_source_ops {
	/* The dnode of object obj; BK_ERR_NOTFOUND when there is none. */
	enum bk_code (*object)(void *ctx, uint64_t obj,
			       struct bk_zpl_object *out,
			       struct bk_error *err);
	/*
	 * The logical (decompressed) bytes of block blkid of object obj into
	 * buf[len] (len is the object's blksz); zeros past the block's data.
	 * *hole: nothing is stored there (buf is all zeros).
	 */
	enum bk_code (*read_block)(void *ctx, uint64_t obj, uint64_t blkid,
				   uint8_t *buf, size_t len, bool *hole,
				   struct bk_error *err);
	/*
	 * The first block at or after `from` of object obj that holds data
	 * (*blkid UINT64_MAX when none): readers skip holes with it, so that
	 * a huge sparse file costs what its data costs.
	 */
	enum bk_code (*next_block)(void *ctx, uint64_t obj, uint64_t from,
				   uint64_t *blkid, struct bk_error *err);
	void (*close)(void *ctx);
	/*
	 * The spill block of object obj (ZPL 5: the system attributes that
	 * did not fit its bonus buffer): its logical bytes into buf[cap]
	 * (cap is BK_SA_SPILL_MAX), *len 0 when the object has none.  NULL
	 * for a source that keeps none: such attributes are then an error.
	 */
	enum bk_code (*spill)(void *ctx, uint64_t obj, uint8_t *buf,
			      size_t cap, size_t *len, struct bk_error *err);
};

struct bk_zpl_source {
	const struct bk_zpl_source_ops *ops;
	void *ctx;
	bool bigendian; /* the byte order of the bonus buffers and ZAPs */
};

/*
 * ZFS's compressed block formats into dst[dstlen] (the logical size),
 * by ZIO_COMPRESS_* number: off/inherit/empty (src copied), lzjb (3),
 * gzip-1..9 (5..13, zlib streams), zle (14, level 64), lz4 (15: a 4-byte
 * big-endian length, then an LZ4 block), zstd (16: OpenZFS's 8-byte
 * header, then a magicless frame).  Never writes past dst[dstlen]; a
 * short result is zero-filled.  A block that does not decode is
 * BK_ERR_FORMAT naming the algorithm; other numbers are
 * BK_ERR_UNSUPPORTED naming them.  For sources (docs/zpl.md).
 */
BK_EXPORT enum bk_code bk_zpl_decompress(unsigned compress, const void *src,
					 size_t srclen, void *dst,
					 size_t dstlen, struct bk_error *err);

/* ---- the reader ------------------------------------------------------- */

struct bk_zpl;

/*
 * Open the file system behind src (which the reader owns from now on,
 * and closes, even on failure): reads the master node (object 1) for the
 * ZPL version and the root directory.
 */
BK_EXPORT enum bk_code bk_zpl_open(const struct bk_zpl_source *src,
				   struct bk_zpl **out, struct bk_error *err);
BK_EXPORT void bk_zpl_close(struct bk_zpl *z); /* NULL is fine */
BK_EXPORT uint64_t bk_zpl_version(const struct bk_zpl *z);
BK_EXPORT uint64_t bk_zpl_root(const struct bk_zpl *z);
/*
 * A volume (zvol) is read as one file: its root is a directory holding a
 * single regular file (mode 0600, owner root, times 0) of the volume's
 * size, named "volume" until bk_zpl_volume_name names it (the caller
 * knows the dataset's name; the objects do not).  Its holes read as
 * zeros and next_block skips them; the file is object BK_ZPL_ZVOL_OBJ.
 * Extracting the root writes the file, leaving the target directory's
 * own mode and times alone.  bk_zpl_is_volume: whether it is one,
 * and its size into *size (may be NULL).
 */
BK_EXPORT bool bk_zpl_is_volume(const struct bk_zpl *z, uint64_t *size);
BK_EXPORT enum bk_code bk_zpl_volume_name(struct bk_zpl *z, const char *name,
					  struct bk_error *err);

struct bk_zpl_time {
	int64_t sec;
	uint32_t nsec;
};

struct bk_zpl_stat {
	uint64_t object;
	uint64_t mode; /* type and permission bits, as st_mode */
	uint64_t uid, gid, size, links, parent, xattr, rdev, gen, flags;
	struct bk_zpl_time atime, mtime, ctime, crtime;
	uint32_t blksz;    /* of the object's data */
	uint64_t maxblkid; /* of the object's data */
};

/* The attributes of object obj (a znode in its bonus buffer). */
BK_EXPORT enum bk_code bk_zpl_stat(struct bk_zpl *z, uint64_t obj,
				   struct bk_zpl_stat *st,
				   struct bk_error *err);

/*
 * Each entry of directory dir: its name (checked by bk_zpl_name_ok), the
 * object and the type bits of the entry (DT_*, as readdir's d_type).
 * fn returns nonzero to stop (bk_zpl_readdir then returns BK_OK).
 */
typedef int (*bk_zpl_dirent_fn)(void *ctx, const char *name, uint64_t obj,
				unsigned dtype);
BK_EXPORT enum bk_code bk_zpl_readdir(struct bk_zpl *z, uint64_t dir,
				      bk_zpl_dirent_fn fn, void *ctx,
				      struct bk_error *err);
/* The object of name in dir; BK_ERR_NOTFOUND when there is none. */
BK_EXPORT enum bk_code bk_zpl_lookup(struct bk_zpl *z, uint64_t dir,
				     const char *name, uint64_t *obj,
				     struct bk_error *err);
/*
 * The object of path ("/", "/etc/passwd", "etc/passwd": from the root;
 * empty and "." components are skipped, ".." is refused).  Symlinks are
 * not followed: a path through one is BK_ERR_NOTFOUND naming it.
 */
BK_EXPORT enum bk_code bk_zpl_walk(struct bk_zpl *z, const char *path,
				   uint64_t *obj, struct bk_error *err);
/* The first block at or after from holding data (UINT64_MAX: none). */
BK_EXPORT enum bk_code bk_zpl_next_block(struct bk_zpl *z,
					 const struct bk_zpl_stat *st,
					 uint64_t from, uint64_t *blkid,
					 struct bk_error *err);
/* The target of symlink obj into buf[n] (NUL-terminated). */
BK_EXPORT enum bk_code bk_zpl_readlink(struct bk_zpl *z, uint64_t obj,
				       char *buf, size_t n,
				       struct bk_error *err);
/*
 * Block blkid of a file's data into buf[st->blksz] (st from bk_zpl_stat);
 * *hole: none stored (zeros).  Blocks past maxblkid are holes.
 */
BK_EXPORT enum bk_code bk_zpl_read_block(struct bk_zpl *z,
					 const struct bk_zpl_stat *st,
					 uint64_t blkid, uint8_t *buf,
					 bool *hole, struct bk_error *err);

/*
 * Is name safe to create in a directory: not empty, not "." or "..", no
 * '/', no NUL before its end, at most BK_ZPL_NAME_MAX bytes.  Names come
 * from the stream, so a restore checks every one.
 */
BK_EXPORT bool bk_zpl_name_ok(const char *name, size_t len);

/* ---- xattrs ----------------------------------------------------------- */

#define BK_ZPL_XATTR_MAX 65536u  /* a value, as Linux allows at most */
#define BK_ZPL_XATTR_NAME 255u   /* a name, namespace included */
#define BK_ZPL_XATTRS_MAX 4096u  /* xattrs of one file */

/*
 * Each xattr of object obj: first those in its ZPL_DXATTR system attribute
 * (an nvlist of byte arrays), then the files of its xattr directory.  The
 * name is Linux's: ZFS keeps user.* names without their prefix, so a
 * stored name that starts with no namespace ("user.", "trusted.",
 * "security.", "system.") gets "user.".  Names with '/' or NUL, values
 * over BK_ZPL_XATTR_MAX and entries of an xattr directory that are not
 * plain files are BK_ERR_FORMAT.  fn returns nonzero to stop.
 */
typedef int (*bk_zpl_xattr_fn)(void *ctx, const char *name,
			       const uint8_t *value, size_t len);
BK_EXPORT enum bk_code bk_zpl_xattrs(struct bk_zpl *z, uint64_t obj,
				     bk_zpl_xattr_fn fn, void *ctx,
				     struct bk_error *err);

/* ---- trees ------------------------------------------------------------ */

#define BK_ZPL_DEPTH_MAX 256u /* directories below the start of a walk */
#define BK_ZPL_PATH_MAX 4096u /* a path that a walk or extract builds */

/*
 * Visit obj (whose path is `path`, "/" for the root) and, with recursive,
 * everything below it, depth first, entries sorted by name (bytewise).
 * A directory met twice (a cycle, or two names for one directory), depth
 * past BK_ZPL_DEPTH_MAX or a path past BK_ZPL_PATH_MAX is BK_ERR_FORMAT:
 * a hostile dataset cannot make a walk loop.  Without recursive, a
 * directory's own entries are visited, not the directory.  fn returns
 * nonzero to stop.  target: a symlink's target, else NULL.
 */
typedef int (*bk_zpl_visit_fn)(void *ctx, const char *path,
			       const struct bk_zpl_stat *st,
			       const char *target);
BK_EXPORT enum bk_code bk_zpl_tree(struct bk_zpl *z, uint64_t obj,
				   const char *path, bool recursive,
				   bk_zpl_visit_fn fn, void *ctx,
				   struct bk_error *err);

struct bk_zpl_extract_result {
	uint64_t files, dirs, symlinks, hardlinks, specials, skipped;
	uint64_t bytes; /* of file contents written (holes aside) */
	uint64_t xattrs;  /* set on files and directories */
	uint64_t xattrs_refused; /* refused by the target, or on a symlink
				  * or fifo (Linux keeps user.* off them) */
	char xattr_warning[256]; /* the first refusal, "" when none */
};

/*
 * Restore object obj as `name` in directory dirfd (name NULL: obj is a
 * directory whose contents and attributes go into dirfd itself): files
 * with their contents (only blocks that are not holes are written, then
 * ftruncate, so sparse files stay sparse), directories, symlinks, fifos,
 * hard links (as links to the first name restored), modes, times, xattrs
 * (bk_zpl_xattrs, on files and directories; one the target refuses is
 * counted and named in res, not an error), and owners when running as
 * root.  Devices and sockets are skipped (counted).
 *
 * Nothing is ever written outside dirfd: every name is checked
 * (bk_zpl_name_ok), every file is made with openat/mkdirat/symlinkat
 * relative to its directory's descriptor, directories are opened with
 * O_NOFOLLOW|O_DIRECTORY, files created with O_EXCL|O_NOFOLLOW (an entry
 * already there is unlinked first, never followed, and a directory is
 * never replaced), and hard links resolve their first name the same way.
 */
BK_EXPORT enum bk_code bk_zpl_extract(struct bk_zpl *z, uint64_t obj,
				      int dirfd, const char *name,
				      struct bk_zpl_extract_result *res,
				      struct bk_error *err);

/* ---- the parsers, on bytes (unit tests and fuzzing use them) ---------- */

/*
 * One ZAP entry: its name (NUL-terminated, name_len bytes before the NUL)
 * and its value as stored (val_len bytes; integers of intlen bytes,
 * big-endian in a fat ZAP, in the dataset's order in a micro ZAP), and
 * the first integer of the value.  Return nonzero to stop.
 */
struct bk_zap_entry {
	const char *name;
	size_t name_len;
	unsigned intlen;
	uint64_t numints;
	uint64_t value; /* the first integer */
	const uint8_t *val; /* the value's numints * intlen bytes */
	bool val_be;        /* its integers are big-endian */
};
typedef int (*bk_zap_fn)(void *ctx, const struct bk_zap_entry *e);

#define BK_ZAP_MICRO (UINT64_C(1) << 63 | 3)  /* ZBT_MICRO */
#define BK_ZAP_HEADER (UINT64_C(1) << 63 | 1) /* ZBT_HEADER */
#define BK_ZAP_LEAF (UINT64_C(1) << 63 | 0)   /* ZBT_LEAF */

/* A micro ZAP (block 0 of its object, len bytes). 1 from bk_zap_fn: stop */
BK_EXPORT enum bk_code bk_zap_micro_parse(const uint8_t *blk, size_t len,
					  bool bigendian, bk_zap_fn fn,
					  void *ctx, struct bk_error *err);

struct bk_zap_header {
	uint64_t ptrtbl_blk, ptrtbl_numblks, ptrtbl_shift;
	uint64_t num_leafs, num_entries, flags;
};
/* The header block of a fat ZAP (block 0, len bytes: a power of 2). */
BK_EXPORT enum bk_code bk_zap_header_parse(const uint8_t *blk, size_t len,
					   bool bigendian,
					   struct bk_zap_header *h,
					   struct bk_error *err);
/* Entry idx of the pointer table embedded in the header block. */
BK_EXPORT uint64_t bk_zap_embedded_ptr(const uint8_t *blk, size_t len,
				       bool bigendian, uint64_t idx);
/* A fat ZAP's leaf block (len bytes, a power of 2): each entry to fn. */
BK_EXPORT enum bk_code bk_zap_leaf_parse(const uint8_t *blk, size_t len,
					 bool bigendian, bk_zap_fn fn,
					 void *ctx, struct bk_error *err);
/*
 * Every entry of ZAP object obj, micro or fat.  Leaves named twice by the
 * pointer table are read once.
 */
BK_EXPORT enum bk_code bk_zap_iterate(struct bk_zpl *z, uint64_t obj,
				      bk_zap_fn fn, void *ctx,
				      struct bk_error *err);
/*
 * The xattrs of a ZPL_DXATTR value (a packed nvlist, XDR or native, of
 * name -> byte array) to fn, named as bk_zpl_xattrs names them.
 */
BK_EXPORT enum bk_code bk_zpl_dxattr_parse(const uint8_t *p, size_t len,
					   bk_zpl_xattr_fn fn, void *ctx,
					   struct bk_error *err);
/* A znode_phys_t (ZPL <= 4) from a bonus buffer of len bytes. */
BK_EXPORT enum bk_code bk_zpl_znode_parse(const uint8_t *bonus, size_t len,
					  bool bigendian,
					  struct bk_zpl_stat *st,
					  struct bk_error *err);


/* ---- system attributes (ZPL 5; docs/zpl.md) ----------------------------- */

#define BK_SA_MAGIC 0x2F505Au
#define BK_SA_LAYOUT_MAX 1024u     /* layout numbers are 10 bits */
#define BK_SA_SPILL_MAX (128u << 10) /* a spill block, at most */

/* The ZPL's attributes, by name (ZPL_ATIME ...); the first 16 are the
 * legacy ones, whose numbers are fixed when the registry lacks them. */
enum bk_sa_zpl {
	BK_SA_ATIME, BK_SA_MTIME, BK_SA_CTIME, BK_SA_CRTIME, BK_SA_GEN,
	BK_SA_MODE, BK_SA_SIZE, BK_SA_PARENT, BK_SA_LINKS, BK_SA_XATTR,
	BK_SA_RDEV, BK_SA_FLAGS, BK_SA_UID, BK_SA_GID, BK_SA_PAD,
	BK_SA_ZNODE_ACL, BK_SA_DACL_COUNT, BK_SA_SYMLINK, BK_SA_SCANSTAMP,
	BK_SA_DACL_ACES, BK_SA_DXATTR, BK_SA_PROJID,
	BK_SA_NZPL
};

/* The attribute numbers, lengths and layouts of one file system. */
struct bk_sa_registry;

BK_EXPORT enum bk_code bk_sa_registry_new(struct bk_sa_registry **out,
					  struct bk_error *err);
BK_EXPORT void bk_sa_registry_free(struct bk_sa_registry *r);
/*
 * One entry of the REGISTRY ZAP: an attribute's name and its u64 (bits
 * 0-15 its number, 16-23 its byte-swap type, 24-39 its length; 0: of
 * variable length).
 */
BK_EXPORT enum bk_code bk_sa_registry_attr(struct bk_sa_registry *r,
					   const char *name, uint64_t value,
					   struct bk_error *err);
/*
 * One entry of the LAYOUTS ZAP: the layout number in decimal, and n
 * attribute numbers (u16, big-endian when be) in the order of the data.
 */
BK_EXPORT enum bk_code bk_sa_registry_layout(struct bk_sa_registry *r,
					     const char *name,
					     const uint8_t *val, size_t n,
					     bool be, struct bk_error *err);

struct bk_sa_value {
	const uint8_t *p; /* into the buffer parsed */
	uint32_t len;
	bool be;  /* the byte order of its integers */
	bool set;
};
struct bk_sa_values {
	struct bk_sa_value v[BK_SA_NZPL];
};

/*
 * One SA buffer (a bonus or a spill block of len bytes; be: the dataset's
 * byte order, though the magic decides): each ZPL attribute it holds that
 * vals does not hold yet goes into vals (pointing into buf).  A bad magic,
 * an unknown layout or attribute, a header or an attribute past the end
 * are BK_ERR_FORMAT naming them.
 */
BK_EXPORT enum bk_code bk_sa_parse(const struct bk_sa_registry *r,
				   const uint8_t *buf, size_t len, bool be,
				   struct bk_sa_values *vals,
				   struct bk_error *err);
/* The stat fields from vals (MODE and SIZE must be there). */
BK_EXPORT enum bk_code bk_sa_stat(const struct bk_sa_values *vals,
				  struct bk_zpl_stat *st,
				  struct bk_error *err);

#endif
