/* SPDX-License-Identifier: MIT */
/*
 * Synthetic send streams for tests, benchmarks and fuzz seeds.
 *
 * The model: a dataset of plain files (object numbers from 1, with a few
 * gaps), each of some blocks, in versions 1, 2, ...  Version 1 is the first
 * snapshot; between consecutive versions a fraction `change` of the blocks
 * is rewritten (clustered in a few "touched" files), and a smaller fraction
 * of files is deleted, created (in free object numbers), truncated or
 * extended.  Every byte is a function of (seed, dataset name, object, block,
 * version) through a fast hash, so:
 *   - the same options always give the same bytes (on any host);
 *   - version V+1 carries every block unchanged since V with the very same
 *     payload bytes, so a deduplicating store finds them again;
 *   - an incremental from V0 to V holds exactly what changed after V0.
 *
 * A block is either "text" (words from a small vocabulary, which LZ4
 * compresses 2-4x) with probability `compressible`, or random bytes.
 *
 * Streams look like `zfs send` output (docs/stream-format.md): BEGIN (features
 * SA_SPILL, plus LARGE_BLOCKS when blocks are over 128K; flags FREERECORDS
 * and SPILL_BLOCK), then per file OBJECT (type 19, bonus type 44 SA), FREE
 * past its end, its WRITEs in offset order; FREEOBJECTS for gaps and
 * deleted files; END.  `legacy` gives the 2008 format instead, `compound` a
 * `zfs send -R` package of the dataset and one child.  Every stream passes
 * bk_drr_parser with validation on.
 *
 * Memory stays bounded whatever the size: one block buffer (at most 16 MiB),
 * a 32 KiB text pool and O(version) per-file history.  Nothing touches a
 * file descriptor; the bytes go to a bk_drr_sink_fn.
 */
#ifndef BACKUP_GEN_H
#define BACKUP_GEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backup/drr.h"
#include "backup/error.h"
#include "backup/export.h"

#define BK_GEN_MAX_VERSION 100000u
#define BK_GEN_MAX_OBJECTS (UINT64_C(1) << 32)
#define BK_GEN_DEFAULT_BLOCKSIZE 131072u
#define BK_GEN_DEFAULT_OBJECTS 16u
#define BK_GEN_DEFAULT_CHANGE 0.01

struct bk_gen_opts {
	/* Dataset name ("pool/fs"; no '@').  Borrowed for the call.  NULL
	 * means "pool/fs". */
	const char *name;
	/* Snapshot names are name@<snap_prefix><version>; NULL means "v". */
	const char *snap_prefix;
	uint64_t seed;
	/*
	 * Files in version 1.  0: chosen from size (about 8 MiB per file),
	 * or BK_GEN_DEFAULT_OBJECTS when size is 0 too.
	 */
	uint64_t objects;
	/*
	 * File data in version 1, in bytes (about: file sizes vary, and one
	 * file in 32 is a small single-block file).  0: 16 blocks per file.
	 */
	uint64_t size;
	/* Block size: a power of two, 512..16M (128K at most if legacy). */
	uint32_t blocksize;
	double compressible; /* fraction of text blocks, 0..1 */
	double change;       /* fraction of blocks rewritten per version, 0..1 */
	uint32_t version;    /* 1.. BK_GEN_MAX_VERSION: the snapshot sent */
	uint32_t from;       /* 0: full stream; else incremental from this
			      * version (1 <= from < version) */
	bool byteswap;       /* headers in the other byte order */
	bool legacy;         /* 2008 format: no trailers, types 0-5, no
			      * features, no toguid fields */
	bool compound;       /* zfs send -R package: name and name/child */
	/* 0: as before.  Else a ZIO_COMPRESS_* number (lzjb 3, gzip-1..9
	 * 5..13, zle 14, lz4 15, zstd 16): every WRITE as `zfs send -c` of
	 * a pool with that compression sends it, compressed for real
	 * (bk_gen_compress) when that saves an eighth, else uncompressed;
	 * BEGIN gets COMPRESSED, LZ4 (and ZSTD).  Not with legacy. */
	unsigned write_compress;
};

/*
 * Defaults: name "pool/fs", prefix "v", seed 0, objects and size 0 (see
 * above), blocksize 131072, compressible 0, change 0.01, version 1, a full
 * stream, native byte order, modern format, single stream.
 */
BK_EXPORT void bk_gen_opts_init(struct bk_gen_opts *o);

/*
 * Generate the stream described by o and hand it to sink(ctx, ...) in
 * pieces (record headers and payloads; a payload is at most one block).
 * Errors: BK_ERR_USAGE for options out of range (message names the option),
 * BK_ERR_NOMEM, or whatever the sink returns (its message kept).
 */
BK_EXPORT enum bk_code bk_gen_stream(const struct bk_gen_opts *o,
				     bk_drr_sink_fn sink, void *ctx,
				     struct bk_error *err);

/*
 * The guid of snapshot `version` of dataset `name` (NULL: o->name) as the
 * generator writes it (toguid, and fromguid of an incremental from it).
 */
BK_EXPORT uint64_t bk_gen_guid(const struct bk_gen_opts *o, const char *name,
			       uint32_t version);

/*
 * Compress src[len] into dst[cap] the way ZFS stores a block with
 * ZIO_COMPRESS_* algorithm alg (lzjb, gzip-1..9, zle, lz4 and zstd, in
 * the framings docs/zpl.md describes).  Returns the compressed length, or
 * 0 when it does not fit in cap or alg is none of these.
 */
BK_EXPORT size_t bk_gen_compress(unsigned alg, const void *src, size_t len,
				 void *dst, size_t cap);
/* ---- ZPL file systems ---------------------------------------------------- */

/*
 * A small ZPL file system as a full send stream, from a description of its
 * tree: the master node, the root directory and every file, directory,
 * symlink, hard link and fifo, with their attributes and xattrs, in either
 * layout of the ZPL:
 *   - version 4: a znode_phys_t in each bonus buffer, short symlink
 *     targets after it, long ones in block 0, xattrs as files of a hidden
 *     xattr directory;
 *   - version 5: system attributes (an SA master node, its registry and
 *     layouts; bonus buffers of at most 320 bytes, the rest of an object's
 *     attributes in its spill block), xattrs in ZPL_DXATTR (an XDR nvlist)
 *     or, with dir_xattrs, in xattr directories.
 * Directories of short names are micro ZAPs, others fat ZAPs (whose leaves
 * do not follow ZFS's name hashes: good for zbak's reader, which never
 * looks a name up by hash, not for a real `zfs recv`).  File blocks of
 * zeros are left out (holes).  Tests use it for round trips: tree ->
 * stream -> zbak -> the same tree (tests/shell/t0346-files-zpl-gen.sh).
 */
struct bk_gen_zpl_xattr {
	const char *name; /* as Linux names it: "user.x", "trusted.y" */
	const uint8_t *value;
	size_t len;
};

struct bk_gen_zpl_node {
	size_t parent;     /* index of its directory (< its own index) */
	const char *name;  /* its name there; NULL for node 0, the root */
	size_t link;       /* SIZE_MAX, or an earlier node: another name of
			    * that file (the fields below are then unused) */
	uint64_t mode, uid, gid, rdev;
	int64_t atime, mtime, ctime, crtime; /* seconds */
	uint32_t atime_ns, mtime_ns, ctime_ns, crtime_ns;
	const uint8_t *data; /* a file's contents, a symlink's target */
	uint64_t size;
	const struct bk_gen_zpl_xattr *xattrs;
	size_t nxattrs;
};

struct bk_gen_zpl_opts {
	const char *snapshot; /* "pool/fs@snap"; NULL: "pool/fs@zpl" */
	unsigned version;     /* ZPL 4 or 5 */
	bool dir_xattrs;      /* ZPL 5: xattrs in directories, not in SA */
	bool byteswap;        /* the other byte order, headers and payloads */
	uint64_t guid;        /* toguid; 0: one made from the name */
	uint64_t creation_time;
	uint32_t blocksize;   /* of files over one block; 0: 128K */
};

/*
 * The stream of nodes[0..n) (node 0: the root directory) to sink.
 * BK_ERR_USAGE names a node that does not make a tree (a parent that is
 * not an earlier directory, a link to a directory, a bad name, a name
 * twice in a directory).
 */
BK_EXPORT enum bk_code bk_gen_zpl_stream(const struct bk_gen_zpl_opts *o,
					 const struct bk_gen_zpl_node *nodes,
					 size_t n, bk_drr_sink_fn sink,
					 void *ctx, struct bk_error *err);

/*
 * A volume (zvol) as a full send stream: BEGIN of objset type ZVOL,
 * object 1 (DMU_OT_ZVOL) holding data[0..volsize) in blocks of
 * o->blocksize (0: 8K, ZFS's default volblocksize; blocks of zeros left
 * out, as holes), object 2 (DMU_OT_ZVOL_PROP) a micro ZAP whose "size" is
 * volsize.  Of o, only snapshot, byteswap, guid, creation_time and
 * blocksize are used.
 */
BK_EXPORT enum bk_code bk_gen_zvol_stream(const struct bk_gen_zpl_opts *o,
					  const uint8_t *data,
					  uint64_t volsize,
					  bk_drr_sink_fn sink, void *ctx,
					  struct bk_error *err);

#endif
