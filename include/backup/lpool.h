/* SPDX-License-Identifier: MIT */
/*
 * The local pool: datasets kept in a directory that receive and send ZFS
 * streams with the rules of the seed's dmu_recv/dmu_sendbackup (and modern
 * OpenZFS for the newer record types), on machines without ZFS.  The layout
 * and the rules are in docs/lpool.md.
 *
 * Every change is a transaction: it holds the pool's lock, writes new files
 * beside the old ones and commits by renaming one metadata file, so that a
 * failure or a kill at any moment leaves the pool as it was.
 */
#ifndef BACKUP_LPOOL_H
#define BACKUP_LPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backup/drr.h"
#include "backup/error.h"
#include "backup/export.h"

#define BK_LPOOL_NAME_MAX 255u /* dataset or snapshot name, as in ZFS */
#define BK_LPOOL_DEFAULT_BLKSZ 131072u
#define BK_LPOOL_TAG_MAX 64u    /* a hold's tag */
#define BK_LPOOL_HOLDS_MAX 255u /* a snapshot's tags, space-separated */

struct bk_lpool;

/*
 * The directory to use when none is given: $ZBAK_POOL_DIR, else
 * $XDG_DATA_HOME/zbak/pool (~/.local/share/zbak/pool), or /var/lib/zbak/pool
 * for root.  Writes into buf; returns buf, or NULL when it does not fit.
 */
BK_EXPORT const char *bk_lpool_default_dir(char *buf, size_t n);

/*
 * Open the pool directory.  create: make it (mode 0700) when missing.
 * BK_ERR_NOTFOUND: no pool directory there; BK_ERR_FORMAT: a directory that
 * is not a pool, or a damaged one.
 */
BK_EXPORT enum bk_code bk_lpool_open(const char *dir, bool create,
				     struct bk_lpool **out,
				     struct bk_error *err);
BK_EXPORT void bk_lpool_close(struct bk_lpool *p); /* NULL is fine */
BK_EXPORT const char *bk_lpool_dir(const struct bk_lpool *p);

/* ---- datasets and snapshots ------------------------------------------- */

/* ZFS's name rules (components of letters, digits and _ - . :, at most 255
 * bytes); BK_ERR_USAGE with a message naming the problem. */
BK_EXPORT enum bk_code bk_lpool_check_name(const char *name, bool snapshot,
					   struct bk_error *err);

/*
 * Create a dataset.  A name without '/' creates a pool's root dataset.
 * parents: create missing parents too (zfs create -p).
 */
BK_EXPORT enum bk_code bk_lpool_create(struct bk_lpool *p, const char *name,
				       bool parents, struct bk_error *err);
/* Snapshot pool/fs@snap (recursive: the same name on every descendant). */
BK_EXPORT enum bk_code bk_lpool_snapshot(struct bk_lpool *p, const char *name,
					 bool recursive,
					 struct bk_error *err);
/*
 * Return the dataset to snapshot `name`.  Snapshots newer than it make this
 * fail (BK_ERR_EXISTS) unless destroy_later, which destroys them.
 */
BK_EXPORT enum bk_code bk_lpool_rollback(struct bk_lpool *p, const char *name,
					 bool destroy_later,
					 struct bk_error *err);
/*
 * Destroy a snapshot (pool/fs@snap) or a dataset, as zfs destroy does:
 * recursive (-r) takes a dataset's snapshots and children, or the snapshot
 * of the same name on every descendant; dependents (-R) also destroys the
 * clones that depend on what goes (refused without it).
 */
BK_EXPORT enum bk_code bk_lpool_destroy(struct bk_lpool *p, const char *name,
					bool recursive, bool dependents,
					struct bk_error *err);

/*
 * Write what fd yields (until EOF) into object `object` of dataset `ds`
 * from byte `offset`.  A missing object is created as a plain file
 * (type 19, bonus type SA, no bonus) with block size blksz (0: 128K).
 */
BK_EXPORT enum bk_code bk_lpool_write(struct bk_lpool *p, const char *ds,
				      uint64_t object, uint64_t offset, int fd,
				      uint32_t blksz, struct bk_error *err);
/*
 * Free bytes [offset, offset+length) of an object (whole blocks go, partial
 * ones are zeroed); whole_object frees the object itself.
 */
BK_EXPORT enum bk_code bk_lpool_free(struct bk_lpool *p, const char *ds,
				     uint64_t object, bool whole_object,
				     uint64_t offset, uint64_t length,
				     struct bk_error *err);

enum bk_lpool_type {
	BK_LPOOL_FILESYSTEM = 1,
	BK_LPOOL_SNAPSHOT = 2,
};

struct bk_lpool_entry {
	char name[2 * BK_LPOOL_NAME_MAX + 2]; /* pool/fs or pool/fs@snap */
	enum bk_lpool_type type;
	uint64_t guid;       /* snapshots (0 for a dataset) */
	uint64_t createtxg;  /* the dataset's, or the snapshot's */
	uint64_t creation;   /* unix time */
	uint64_t referenced; /* logical bytes of its blocks */
	uint64_t objects;
	char origin[2 * BK_LPOOL_NAME_MAX + 2]; /* a clone's origin, or "" */
	bool modified; /* a dataset changed since its newest snapshot */
	uint32_t userrefs; /* a snapshot's holds (bk_lpool_hold) */
};

/*
 * List datasets and/or snapshots (types: a mask of bk_lpool_type).  root
 * NULL: everything; else that dataset (or snapshot), and with recursive
 * its descendants too; with types including SNAPSHOT and root a dataset,
 * the dataset's snapshots.  Datasets sorted by name, each followed by
 * nothing else; snapshots by dataset then createtxg.  BK_ERR_NOTFOUND when
 * root does not exist.  Free *out with free().
 */
BK_EXPORT enum bk_code bk_lpool_list(struct bk_lpool *p, const char *root,
				     bool recursive, unsigned types,
				     struct bk_lpool_entry **out, size_t *n,
				     struct bk_error *err);

/* ---- holds ------------------------------------------------------------- */

/*
 * User holds, as zfs hold/release/holds have them: a snapshot with a hold
 * cannot be destroyed (destroy, rollback -r, receive -F and the destroy of
 * its dataset fail with BK_ERR_BUSY naming it and its tags) until every
 * hold is released.  Tags are letters, digits and _ - . : (at most
 * BK_LPOOL_TAG_MAX bytes); a snapshot holds at most what fits in
 * BK_LPOOL_HOLDS_MAX bytes.  Holding a tag twice is BK_ERR_EXISTS,
 * releasing one that is not there BK_ERR_NOTFOUND, as with zfs.
 */
BK_EXPORT enum bk_code bk_lpool_hold(struct bk_lpool *p, const char *snap,
				     const char *tag, struct bk_error *err);
BK_EXPORT enum bk_code bk_lpool_release(struct bk_lpool *p, const char *snap,
					const char *tag,
					struct bk_error *err);
/* The tags on snap, space-separated ("" for none), into out[n] (n >
 * BK_LPOOL_HOLDS_MAX). */
BK_EXPORT enum bk_code bk_lpool_holds(struct bk_lpool *p, const char *snap,
				      char *out, size_t n,
				      struct bk_error *err);

/* ---- send -------------------------------------------------------------- */

struct bk_lpool_send_result {
	uint64_t bytes, records;
};

/*
 * Write a stream of snapshot `snap` (pool/fs@snap): full when from is NULL,
 * else incremental from `from` ("@a", or "pool/fs@a", or the origin of a
 * clone), holding what was born after it plus FREE/FREEOBJECTS for what
 * went away.  The stream is in the byte order the dataset was received in.
 */
BK_EXPORT enum bk_code bk_lpool_send(struct bk_lpool *p, const char *snap,
				     const char *from, bk_drr_sink_fn sink,
				     void *ctx,
				     struct bk_lpool_send_result *res,
				     struct bk_error *err);

/* ---- receive (push style: feed bytes, then finish or abort) ------------- */

struct bk_lpool_recv;

struct bk_lpool_recv_opts {
	bool force; /* -F: roll back / replace as zfs receive -F does */
};

struct bk_lpool_recv_result {
	char name[2 * BK_LPOOL_NAME_MAX + 2]; /* the (first) snapshot made */
	uint64_t bytes, records;
	uint32_t substreams;
	uint64_t new_blocks, new_bytes; /* block data added to the pool */
};

/*
 * Start receiving into dataset `target` (pool/fs).  Takes the pool's lock
 * until finish or abort.  The stream's own checks come when its bytes do.
 */
BK_EXPORT enum bk_code bk_lpool_recv_begin(struct bk_lpool *p,
					   const char *target,
					   const struct bk_lpool_recv_opts *o,
					   struct bk_lpool_recv **out,
					   struct bk_error *err);
/* Feed stream bytes.  On an error the receive is dead: call abort. */
BK_EXPORT enum bk_code bk_lpool_recv_write(struct bk_lpool_recv *rx,
					   const void *buf, size_t len,
					   struct bk_error *err);
/*
 * The stream has ended: check that it ended where it should (a matching
 * END, the final END of a package) and commit every snapshot it carries in
 * one step.  Frees rx whatever the outcome; on error nothing changed.
 */
BK_EXPORT enum bk_code bk_lpool_recv_finish(struct bk_lpool_recv *rx,
					    struct bk_lpool_recv_result *res,
					    struct bk_error *err);
/* Give up: nothing changes; frees rx.  NULL is fine. */
BK_EXPORT void bk_lpool_recv_abort(struct bk_lpool_recv *rx);
/* bk_drr_sink_fn over bk_lpool_recv_write (ctx: the bk_lpool_recv). */
BK_EXPORT enum bk_code bk_lpool_recv_sink(void *ctx, const void *buf,
					  size_t len, struct bk_error *err);

/* ---- compare ----------------------------------------------------------- */

typedef void (*bk_lpool_diff_fn)(void *ctx, const char *difference);
/* The longest difference given to a bk_lpool_diff_fn, terminated: longer
 * ones are cut. */
#define BK_LPOOL_DIFF_MAX 512u

/*
 * Compare the contents of two snapshots or datasets (possibly of
 * different pools): objects with their settings, bonus, spill and blocks
 * (birth transactions, guids and names aside).  *differences counts what
 * differs; each difference (up to a limit) goes to fn.
 */
BK_EXPORT enum bk_code bk_lpool_diff(struct bk_lpool *a, const char *na,
				     struct bk_lpool *b, const char *nb,
				     bk_lpool_diff_fn fn, void *ctx,
				     uint64_t *differences,
				     struct bk_error *err);

#endif
