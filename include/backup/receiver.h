/* SPDX-License-Identifier: MIT */
/*
 * Where a restored stream goes: one interface over the local pool
 * (backup/lpool.h) and the real `zfs receive` (backup/zfs.h).
 *
 *   bk_receiver_open(target)            choose and check the receiver
 *   bk_receiver_snapshots()             what the target already has
 *   for each stream:
 *     bk_receiver_begin()
 *     bk_receiver_write() ...           (a bk_drr_sink_fn)
 *     bk_receiver_finish() or bk_receiver_abort()
 *   bk_receiver_close()
 *
 * Nothing is committed before finish.  The local pool commits only in
 * bk_lpool_recv_finish.  zfs receive commits when it reads a stream's END,
 * so the zfs receiver holds the last BK_RECEIVER_HOLD_BACK bytes of every
 * stream back until finish: the caller verifies the whole stream (length
 * and digest, which bk_restore_sink checks after the last bytes were
 * written) before zfs sees its END.  That covers a single stream and the
 * last substream of a compound package (its END and the final END are
 * 624 bytes); zfs commits the earlier substreams of a package as their
 * ENDs arrive, after their records were verified.  An abort kills zfs
 * receive, which then rolls back what it had received.
 */
#ifndef BACKUP_RECEIVER_H
#define BACKUP_RECEIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backup/error.h"
#include "backup/export.h"

#define BK_RECEIVER_HOLD_BACK 1024u
#define BK_RECEIVER_NAME_MAX 512u /* pool/fs@snap, terminated */

enum bk_receiver_kind {
	BK_RECEIVER_AUTO = 0,  /* zfs when the target's pool is a ZFS pool */
	BK_RECEIVER_LOCAL = 1, /* the local pool */
	BK_RECEIVER_ZFS = 2,   /* zfs receive */
};

/* "auto", "local", "zfs" -> kind: BK_OK, or BK_ERR_USAGE. */
BK_EXPORT enum bk_code bk_receiver_kind_parse(const char *s,
					      enum bk_receiver_kind *out,
					      struct bk_error *err);
BK_EXPORT const char *bk_receiver_kind_name(enum bk_receiver_kind k);

struct bk_receiver_opts {
	enum bk_receiver_kind kind;
	const char *pool_dir; /* local pool; NULL: bk_lpool_default_dir() */
	bool force;           /* receive -F, for every stream */
};

struct bk_receiver;

/*
 * A receiver for dataset `target` (pool/fs; borrowed for the receiver's
 * life).  AUTO picks zfs when the zfs command is there and
 * `zfs list -H -o name POOL` succeeds for the target's pool, else the
 * local pool.  ZFS fails when the command is missing; LOCAL when there is
 * no local pool directory.  Free with bk_receiver_close().
 */
BK_EXPORT enum bk_code bk_receiver_open(const char *target,
					const struct bk_receiver_opts *o,
					struct bk_receiver **out,
					struct bk_error *err);
/* Aborts a stream still open.  NULL is fine. */
BK_EXPORT void bk_receiver_close(struct bk_receiver *rv);
/* LOCAL or ZFS (what AUTO chose). */
BK_EXPORT enum bk_receiver_kind bk_receiver_kind(const struct bk_receiver *rv);
/* "the local pool /var/lib/zbak/pool", "zfs receive (zfs)" */
BK_EXPORT const char *bk_receiver_describe(const struct bk_receiver *rv);

struct bk_receiver_snap {
	char name[BK_RECEIVER_NAME_MAX]; /* pool/fs@snap */
	uint64_t guid;
	uint64_t createtxg; /* 0 when the zfs command does not report it */
};

/*
 * The target's own snapshots, oldest first (by createtxg; with a zfs that
 * does not report it, in the order zfs lists them, which is creation
 * order).  *exists false
 * (and none) when the target dataset does not exist.  Free *out with
 * free().
 */
BK_EXPORT enum bk_code bk_receiver_snapshots(struct bk_receiver *rv,
					     bool *exists,
					     struct bk_receiver_snap **out,
					     size_t *n, struct bk_error *err);

/* Start receiving one stream (or compound package) into the target. */
BK_EXPORT enum bk_code bk_receiver_begin(struct bk_receiver *rv,
					 struct bk_error *err);
/* Stream bytes; a bk_drr_sink_fn (ctx: the receiver).  After an error the
 * stream is dead: call bk_receiver_abort. */
BK_EXPORT enum bk_code bk_receiver_write(void *rv, const void *buf,
					 size_t len, struct bk_error *err);

struct bk_receiver_result {
	char name[BK_RECEIVER_NAME_MAX]; /* the snapshot made ("" if unknown) */
	uint64_t bytes;                  /* stream bytes the receiver took */
};

/* The stream ended and verified: let the receiver commit.  The stream is
 * over whatever the outcome; on error nothing of it was committed (for a
 * compound package into zfs: see above). */
BK_EXPORT enum bk_code bk_receiver_finish(struct bk_receiver *rv,
					  struct bk_receiver_result *res,
					  struct bk_error *err);
/* Drop the stream: nothing of it is committed.  No stream open: nothing. */
BK_EXPORT void bk_receiver_abort(struct bk_receiver *rv);

#endif
