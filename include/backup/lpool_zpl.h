/* SPDX-License-Identifier: MIT */
/*
 * The local pool as an object source for the ZPL reader: the files of a
 * dataset or snapshot of the pool, read without ZFS (include/backup/zpl.h).
 */
#ifndef BACKUP_LPOOL_ZPL_H
#define BACKUP_LPOOL_ZPL_H

#include <stdint.h>

#include "backup/buf.h"
#include "backup/drr.h"
#include "backup/error.h"
#include "backup/export.h"
#include "backup/lpool.h"
#include "backup/zpl.h"

/*
 * A source over `name` (pool/fs or pool/fs@snap) of pool p, which must
 * stay open while the source is.  The state is read once; the pool's
 * gc.lock is held shared until the source closes, so that the blocks it
 * names stay.  A volume is read as one file (libbackup/zpl/zvol.c).
 * Refused: a raw (zfs send -w) encrypted dataset, whose blocks cannot
 * be read without its key (BK_ERR_UNSUPPORTED saying so).
 */
BK_EXPORT enum bk_code bk_lpool_zpl_source(struct bk_lpool *p,
					   const char *name,
					   struct bk_zpl_source *out,
					   struct bk_error *err);

/*
 * A map of a snapshot stored elsewhere (a repository): the objects and
 * block lists that receiving its chain into the pool would leave, built
 * from the records alone with the pool's own receive rules, but with each
 * payload left where it is stored and named by a reference: bytes
 * pos..pos+len of the chunked payloads of stream i of the chain (0 the
 * oldest).  Then an object source reads the files, asking its loader for
 * the payloads of the blocks it reads, and nothing else.  docs/zpl.md,
 * "Maps".
 */
struct bk_lpool_map;

BK_EXPORT enum bk_code bk_lpool_map_new(struct bk_lpool_map **out,
					struct bk_error *err);
BK_EXPORT void bk_lpool_map_free(struct bk_lpool_map *m); /* NULL is fine */
/*
 * Before the first record: which dataset of a package (zfs send -R) to
 * map, as its path below the package's top dataset: "" the top (the
 * default), "/child" or "/child/grandchild" one of its children.  A plain
 * stream holds only its top; a child asked of it is BK_ERR_NOTFOUND.
 */
BK_EXPORT enum bk_code bk_lpool_map_dataset(struct bk_lpool_map *m,
					    const char *rel,
					    struct bk_error *err);
/*
 * The next record of stream `stream` (streams in chain order, records in
 * stream order): hdr its 312 header bytes as sent; its payload either
 * inline (payload[inline_len]), or chunked_len bytes at pos of the
 * stream's chunked payloads (WRITE and SPILL).  Of a package (-R), the
 * substreams of one dataset are mapped (bk_lpool_map_dataset), in
 * order; the last stream must hold it.  Everything is checked:
 * a record out of place or a length that disagrees with its header is
 * BK_ERR_FORMAT naming the record.
 */
BK_EXPORT enum bk_code bk_lpool_map_record(struct bk_lpool_map *m,
					   uint32_t stream,
					   const uint8_t hdr[BK_DRR_HDR_LEN],
					   const uint8_t *payload,
					   uint32_t inline_len, uint64_t pos,
					   uint32_t chunked_len,
					   struct bk_error *err);
/* After the last record: the last stream must have ended. */
BK_EXPORT enum bk_code bk_lpool_map_finish(struct bk_lpool_map *m,
					   struct bk_error *err);
/* Objects and blocks mapped. */
BK_EXPORT void bk_lpool_map_usage(const struct bk_lpool_map *m,
				  uint64_t *objects, uint64_t *blocks);
/* The map's bytes (to cache), and back: decode checks every count,
 * length and reference (untrusted input, fuzzed). */
BK_EXPORT enum bk_code bk_lpool_map_encode(const struct bk_lpool_map *m,
					   struct bk_buf *out,
					   struct bk_error *err);
BK_EXPORT enum bk_code bk_lpool_map_decode(const uint8_t *p, size_t len,
					   struct bk_lpool_map **out,
					   struct bk_error *err);

/* Bytes pos..pos+len of stream's chunked payloads into out (reset
 * first); called from the source's read_block. */
typedef enum bk_code (*bk_lpool_map_load_fn)(void *ctx, uint32_t stream,
					     uint64_t pos, uint32_t len,
					     struct bk_buf *out,
					     struct bk_error *err);
/*
 * An object source over map m (which it owns from now on, and frees,
 * even on failure); name for messages.  Refused as bk_lpool_zpl_source
 * refuses: a raw encrypted dataset.
 */
BK_EXPORT enum bk_code bk_lpool_map_source(struct bk_lpool_map *m,
					   bk_lpool_map_load_fn load,
					   void *ctx, const char *name,
					   struct bk_zpl_source *out,
					   struct bk_error *err);

#endif
