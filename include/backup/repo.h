/* SPDX-License-Identifier: MIT */
/*
 * The repository (docs/repository.md): init and open, push a send stream,
 * restore it byte for byte, list snapshots, verify.
 */
#ifndef BACKUP_REPO_H
#define BACKUP_REPO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backup/config.h"
#include "backup/crypto.h"
#include "backup/drr.h"
#include "backup/error.h"
#include "backup/export.h"

struct bk_repo;

/* Create a repository at url (directory or file://): config, then keys.
 * BK_ERR_EXISTS when one is already there. */
BK_EXPORT enum bk_code bk_repo_init(const char *url, const char *pass,
				    size_t passlen,
				    const struct bk_kdf_params *kdf,
				    struct bk_error *err);
/* Open and unlock.  BK_ERR_NOTFOUND: no repository there; BK_ERR_AUTH:
 * wrong passphrase. */
BK_EXPORT enum bk_code bk_repo_open(const char *url, const char *pass,
				    size_t passlen, struct bk_repo **out,
				    struct bk_error *err);
/* The same with a configuration for the store (borrowed, may be NULL;
 * [s3] settings for s3:// URLs); init also creates a missing bucket. */
BK_EXPORT enum bk_code bk_repo_init_config(const char *url,
					   const struct bk_config *cfg,
					   const char *pass, size_t passlen,
					   const struct bk_kdf_params *kdf,
					   struct bk_error *err);
/* The same, append-only from the start (bk_repo_append_only). */
BK_EXPORT enum bk_code bk_repo_init_mode(const char *url,
					 const struct bk_config *cfg,
					 const char *pass, size_t passlen,
					 const struct bk_kdf_params *kdf,
					 bool append_only, struct bk_error *err);
/* A repository's format: the version in its config and the AEAD that
 * seals its objects (docs/repository.md). */
struct bk_repo_format {
	unsigned version;      /* BK_FORMAT_MIN..BK_FORMAT_MAX */
	enum bk_seal_alg seal; /* format 1: BK_SEAL_XCHACHA20POLY1305 only */
};
/* What init makes by default: the newest format, and the seal this
 * machine runs fastest (bk_seal_preferred). */
BK_EXPORT void bk_repo_format_default(struct bk_repo_format *fmt);
/* bk_repo_init_mode in a given format (NULL: the default).  BK_ERR_USAGE
 * for a format this zbak does not make. */
BK_EXPORT enum bk_code bk_repo_init_format(const char *url,
					   const struct bk_config *cfg,
					   const char *pass, size_t passlen,
					   const struct bk_kdf_params *kdf,
					   bool append_only,
					   const struct bk_repo_format *fmt,
					   struct bk_error *err);
BK_EXPORT enum bk_code bk_repo_open_config(const char *url,
					   const struct bk_config *cfg,
					   const char *pass, size_t passlen,
					   struct bk_repo **out,
					   struct bk_error *err);
BK_EXPORT void bk_repo_close(struct bk_repo *r); /* NULL is fine */
/* The format of an open repository. */
BK_EXPORT void bk_repo_get_format(const struct bk_repo *r,
				  struct bk_repo_format *fmt);
/* Rewrap the master keys under a new passphrase (nothing else changes). */
BK_EXPORT enum bk_code bk_repo_passwd(struct bk_repo *r, const char *pass,
				      size_t passlen,
				      const struct bk_kdf_params *kdf,
				      struct bk_error *err);
BK_EXPORT const char *bk_repo_describe(const struct bk_repo *r);

/*
 * Append-only repositories (docs/repository.md, "Append-only"): a client
 * of one never deletes or replaces an object (its store refuses, see
 * bk_store_set_append_only) and its locks are written, never removed,
 * until bk_repo_admin() says that this run is the trusted one that may
 * (forget, gc, prune, repair, unlock, key passwd).
 * bk_repo_set_append_only rewrites the config object (an admin's change
 * once the repository is append-only).
 */
BK_EXPORT bool bk_repo_append_only(const struct bk_repo *r);
BK_EXPORT void bk_repo_admin(struct bk_repo *r);
BK_EXPORT bool bk_repo_is_admin(const struct bk_repo *r);
BK_EXPORT enum bk_code bk_repo_set_append_only(struct bk_repo *r, bool on,
					       struct bk_error *err);

/*
 * Progress, called from the calling thread at most every BK_PROGRESS_EVERY
 * seconds, and once more at the end of what succeeded (so that a known
 * total ends at done == total).  done counts the stream bytes read (push)
 * or written (restore), the pack bytes read (verify --read-data).  The
 * second number is push's bytes added to the store so far, or restore's
 * and verify's total of done (a restore's stream length, from its
 * manifest, given before the first byte).  The library never prints: what
 * to show, and how often, is the caller's.
 */
typedef void (*bk_progress_fn)(void *ctx, uint64_t done, uint64_t second);
#define BK_PROGRESS_EVERY 0.1

struct bk_push_opts {
	const char *name;  /* pool/fs@snap; NULL: the first BEGIN's toname */
	unsigned threads;  /* 0: one per CPU */
	bk_progress_fn progress;
	void *progress_ctx;
};

/* An object key of a repository, terminated (a manifest's key; a name
 * decoded from a key is never longer). */
#define BK_REPO_KEY_MAX 600u
/* A snapshot's full name "pool/fs@snap", terminated: a dataset and a
 * snapshot name of up to 255 bytes each (struct bk_snapshot) and the '@'. */
#define BK_REPO_NAME_MAX 512u

struct bk_push_result {
	char name[BK_REPO_NAME_MAX];
	uint64_t stream_bytes;
	uint64_t records;
	uint64_t chunks;       /* chunk references in the recipe */
	uint64_t new_chunks;   /* chunks this push stored */
	uint64_t chunk_bytes;  /* payload bytes in chunks */
	/* bytes this push added to the store after dedup and compression:
	 * packs, index, recipe; its manifest (some 500 bytes) aside, so
	 * that this is what the manifest records and ls shows */
	uint64_t new_bytes;
	uint64_t reused_bytes; /* payload bytes found already stored */
	double seconds;
	bool already;          /* the same snapshot was already stored */
};

/* Read a send stream from fd and store it.  Writes no manifest unless the
 * whole stream verified. */
BK_EXPORT enum bk_code bk_push(struct bk_repo *r, int fd,
			       const struct bk_push_opts *o,
			       struct bk_push_result *res,
			       struct bk_error *err);

struct bk_restore_opts {
	unsigned threads; /* 0: one per CPU */
	bk_progress_fn progress;
	void *progress_ctx;
};

struct bk_restore_result {
	uint64_t stream_bytes;
	uint64_t records;
	double seconds;
};

/* Write the stream of snapshot `name` to fd, verified as it goes (every
 * object authenticated, every chunk id, trailer and END, the manifest's
 * length and digest).  On error the bytes already written are not a valid
 * stream; callers writing a file remove it. */
BK_EXPORT enum bk_code bk_restore(struct bk_repo *r, const char *name, int fd,
				  const struct bk_restore_opts *o,
				  struct bk_restore_result *res,
				  struct bk_error *err);
/*
 * The same, with the bytes going to sink(ctx, ...) (called from the calling
 * thread, in order, in pieces of up to a few MiB).  Records reach the sink
 * only after the parser checked them, but the manifest's length, digest and
 * END checksum are compared after the last bytes went out: a sink that
 * commits must not do so before bk_restore_sink returned BK_OK (a receiver
 * holds the tail of the stream back, or commits at its own finish).  An
 * error from the sink stops the restore and is returned as it is.
 */
BK_EXPORT enum bk_code bk_restore_sink(struct bk_repo *r, const char *name,
				       bk_drr_sink_fn sink, void *ctx,
				       const struct bk_restore_opts *o,
				       struct bk_restore_result *res,
				       struct bk_error *err);

/* One stored snapshot, as ls shows it. */
struct bk_snapshot {
	char dataset[256];
	char snap[256];
	char key[BK_REPO_KEY_MAX]; /* object key of the manifest */
	/* pool/fs@snap of fromguid, "" for a full */
	char parent[BK_REPO_NAME_MAX];
	uint64_t toguid, fromguid;
	uint64_t creation_time;
	uint64_t pushed_at;   /* unix time the push finished */
	uint64_t stream_bytes;
	uint64_t new_bytes;   /* what its push added to the store */
	uint64_t chunks;
	uint32_t substreams;
	bool compound;
	bool package_full;    /* a package of a full zfs send -R (chain.h) */
	struct bk_id digest;
};

/* What the repository stores (zbak stats): packs and their bytes, the
 * other objects (indexes, recipe segments, manifests) and theirs, and the
 * chunks the index knows. */
struct bk_repo_stats {
	uint64_t packs, pack_bytes;
	uint64_t other_objects, other_bytes;
	uint64_t chunks;
};
BK_EXPORT enum bk_code bk_repo_stats(struct bk_repo *r,
				     struct bk_repo_stats *st,
				     struct bk_error *err);

/* The cache directory ($ZBAK_CACHE_DIR, else $XDG_CACHE_HOME/zbak, else
 * ~/.cache/zbak) into out[n]: 0, or -1 when there is none or it does not
 * fit.  Users other than the repository's own cache (the file commands'
 * temporary pools) keep below it. */
BK_EXPORT int bk_cache_dir(char *out, size_t n);

/* Every snapshot, sorted by dataset then creation time; caller frees *out
 * with free().  A manifest that cannot be opened is left out and its error
 * returned (the others are still in *out). */
BK_EXPORT enum bk_code bk_list(struct bk_repo *r, struct bk_snapshot **out,
			       size_t *n, struct bk_error *err);

typedef void (*bk_report_fn)(void *ctx, const char *problem);
/* The longest line given to a bk_report_fn, terminated: longer ones are
 * cut. */
#define BK_REPORT_MAX 600u

struct bk_verify_opts {
	unsigned read_data_percent; /* 0: structure only; 100: every pack */
	unsigned threads;
	bk_report_fn report; /* each problem found, as a message */
	void *report_ctx;
	/* what is no damage but worth a word, one line each (a pack no index
	 * lists); called with report_ctx; may be NULL */
	bk_report_fn warn;
	/* read_data_percent: (pack bytes read, of the sample's total) */
	bk_progress_fn progress;
	void *progress_ctx;
};

struct bk_verify_result {
	uint64_t snapshots, packs, chunks, indexes;
	uint64_t packs_read, chunks_read, bytes_read;
	/* packs no index covers (a push that died, or one in progress):
	 * nothing refers to them, so they are garbage for a collection, not
	 * a problem; each is also passed to o->warn */
	uint64_t unindexed_packs;
	uint64_t problems;
};

/* BK_OK when sound; BK_ERR_CHECKSUM (or the first problem's code) with the
 * count in res->problems otherwise; every problem goes to o->report. */
BK_EXPORT enum bk_code bk_verify(struct bk_repo *r,
				 const struct bk_verify_opts *o,
				 struct bk_verify_result *res,
				 struct bk_error *err);

/* ---- repair ----------------------------------------------------------------- */

struct bk_repair_opts {
	bool dry_run;
	bool read_data; /* authenticate every chunk, not only pack headers */
	bk_report_fn report; /* a line per problem and per step (may be NULL) */
	void *report_ctx;
};

struct bk_repair_result {
	uint64_t packs, packs_unreadable;
	uint64_t chunks, chunks_damaged; /* indexed; left out */
	uint64_t indexes_before, indexes_after;
	uint64_t snapshots, snapshots_broken;
};

/*
 * zbak repair: rebuild the index from the packs (their headers; with
 * read_data every chunk), replacing every index object, then check each
 * snapshot against it.  BK_OK when every snapshot is whole;
 * BK_ERR_MISSING when some are broken (each reported, with what heals it).
 */
BK_EXPORT enum bk_code bk_repair(struct bk_repo *r,
				 const struct bk_repair_opts *o,
				 struct bk_repair_result *res,
				 struct bk_error *err);

/* ---- forgetting snapshots and collecting garbage ------------------------ */

struct bk_forget_result {
	uint64_t snapshots; /* manifests deleted (or that would be) */
	uint64_t recipes;   /* recipe segments deleted */
	uint64_t already;   /* names forgotten before (a forget repeated) */
	/* objects left under Object Lock retention (the forget record
	 * still makes the snapshot gone; gc deletes them when it ends) */
	uint64_t retained;
};

/*
 * Delete the manifests and recipe segments of snapshots (pool/fs@snap).
 * Refuses (BK_ERR_EXISTS, naming both) when a snapshot that stays is
 * incremental from one that would go: chains go whole or not at all.  A
 * name that is not stored is BK_ERR_NOTFOUND.  dry_run: check only.
 * Chunks and packs stay until bk_gc.  Takes the repository's exclusive
 * lock for the deletion.
 */
BK_EXPORT enum bk_code bk_forget(struct bk_repo *r, const char *const *names,
				 size_t n, bool dry_run,
				 struct bk_forget_result *res,
				 struct bk_error *err);

/*
 * Problems a command works around without failing (an index object that
 * does not open, a damaged copy in the local cache) are reported here, one
 * line each; without it they are not reported.  fn may be NULL.
 */
BK_EXPORT void bk_repo_set_warn(struct bk_repo *r, bk_report_fn fn, void *ctx);

/*
 * zbak accept-changes: when the repository changed in a way zbak never
 * changes it (a snapshot deleted or replaced by hand, a forgotten one or
 * an older key file put back: docs/repository.md, "Threat model"), every
 * command refuses it (BK_ERR_AUTH).  This reports each change through the
 * warn function (bk_repo_set_warn), and makes this machine remember the
 * repository as it is now; *changes counts them.
 */
BK_EXPORT enum bk_code bk_repo_accept_changes(struct bk_repo *r,
					      size_t *changes,
					      struct bk_error *err);

/* ---- locks ------------------------------------------------------------------ */

/*
 * Let go of every repository lock this process holds, best effort: for
 * the thread that handles SIGINT, SIGTERM and SIGHUP before the process
 * exits.  Safe to call while other threads work (they should not go on
 * long: the locks no longer protect them).
 */
BK_EXPORT void bk_repo_release_locks(void);

struct bk_unlock_result {
	size_t removed, kept;
};

/*
 * zbak unlock: remove the locks whose holder is gone (a process of this
 * machine that is not running, or a lock this machine has seen unchanged
 * for 30 minutes), or, with all, every lock (when no zbak runs anywhere).
 * report gets a line per lock: what it is, and what happened to it.
 */
BK_EXPORT enum bk_code bk_repo_unlock(struct bk_repo *r, bool all,
				      bk_report_fn report, void *ctx,
				      struct bk_unlock_result *res,
				      struct bk_error *err);

struct bk_gc_opts {
	bool dry_run;
	/* repack a pack when more than this share of its bytes is garbage
	 * (0: the default, 50) */
	unsigned repack_percent;
	/* objects nothing references that are younger than this are left
	 * alone: a push in progress may be about to reference them
	 * (margin_set false: the default, 3600 s; set, 0 collects at once) */
	uint64_t margin_seconds;
	bool margin_set;
	unsigned threads;
	bk_report_fn report; /* what it does, one line each (may be NULL) */
	void *report_ctx;
};

struct bk_gc_result {
	uint64_t packs, packs_deleted, packs_repacked, packs_kept_recent;
	uint64_t chunks_live, chunks_deleted;
	uint64_t indexes_before, indexes_after;
	uint64_t recipes_deleted; /* segments no manifest references */
	uint64_t temporary_deleted; /* leftovers of killed uploads */
	/* of packs: in no index object (pushes that died), and of those
	 * deleted (or that would be) */
	uint64_t packs_unindexed, unindexed_deleted;
	uint64_t bytes_before, bytes_after; /* in data/ */
	/* forgotten manifests still there (a forget stopped, or kept under
	 * retention), deleted now */
	uint64_t leftovers_deleted;
	/* Object Lock: garbage kept because its retention has not ended;
	 * live objects whose retention was (or would be) extended, of those
	 * checked */
	uint64_t retained, extended, lock_checked;
	/* gc/pending did not open (why; "" when it did): set aside, every
	 * garbage object counts from now (a warning for the user) */
	char pending_problem[BK_ERROR_MSG_MAX];
};

/*
 * Remove what no snapshot references: chunks, whole packs, recipe
 * segments, temporary leftovers; repack packs that are mostly garbage; and
 * replace the indexes by one that covers exactly the live chunks.  Holds
 * the repository's exclusive lock: pushes (which hold a shared one) wait
 * for it, and it fails with BK_ERR_BUSY while one runs.
 */
BK_EXPORT enum bk_code bk_gc(struct bk_repo *r, const struct bk_gc_opts *o,
			     struct bk_gc_result *res, struct bk_error *err);

/* ---- retention ----------------------------------------------------------- */

/* Keep counts as sanoid and restic have them; 0 keeps none by that rule. */
struct bk_retention {
	unsigned last, hourly, daily, weekly, monthly, yearly;
};

/*
 * Choose which of the n snapshots of one dataset (sorted by creation time,
 * as bk_list gives them) to keep at time `now` (unix seconds, UTC buckets):
 * the newest `last`, and the newest snapshot in each of the newest
 * `hourly` hours, `daily` days, `weekly` ISO weeks, `monthly` months and
 * `yearly` years that have one; then every snapshot a kept one depends on
 * (its incremental source, recursively).  keep[i] receives the verdict; a
 * policy of all zeros keeps everything.
 */
BK_EXPORT void bk_retention_select(const struct bk_snapshot *snaps, size_t n,
				   const struct bk_retention *policy,
				   uint64_t now, bool *keep);

/* Why a snapshot stays (bits of bk_retention_why.rules). */
enum {
	BK_KEEP_ALL = 1u << 0,     /* the policy is all zeros */
	BK_KEEP_LAST = 1u << 1,
	BK_KEEP_HOURLY = 1u << 2,
	BK_KEEP_DAILY = 1u << 3,
	BK_KEEP_WEEKLY = 1u << 4,
	BK_KEEP_MONTHLY = 1u << 5,
	BK_KEEP_YEARLY = 1u << 6,
	BK_KEEP_FUTURE = 1u << 7,  /* created after `now`: a clock to fix */
	BK_KEEP_NEEDED = 1u << 8,  /* a kept snapshot is incremental from it */
};

struct bk_retention_why {
	unsigned rules;   /* BK_KEEP_* bits; 0: it goes */
	size_t needed_by; /* with BK_KEEP_NEEDED: the index of the nearest kept
			   * snapshot incremental from it (SIZE_MAX otherwise) */
};

/*
 * bk_retention_select, also saying why each snapshot stays (why may be
 * NULL).  Snapshots created after `now` are kept (BK_KEEP_FUTURE) and take
 * no bucket: a clock that jumped must not make prune delete.
 */
BK_EXPORT void bk_retention_explain(const struct bk_snapshot *snaps, size_t n,
				    const struct bk_retention *policy,
				    uint64_t now, bool *keep,
				    struct bk_retention_why *why);

#endif
