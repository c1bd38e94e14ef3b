/* SPDX-License-Identifier: MIT */
/*
 * The real ZFS, through its command: `zfs list`, `receive`, `send`,
 * `snapshot`, `hold` and `release` run as child processes (never through a
 * shell; argv is built from arrays).  The command is $ZBAK_ZFS, else "zfs"
 * looked up in PATH.
 *
 * Children run in their own process group with default signal handling;
 * their standard error is kept (the last 4 KiB) and quoted in error
 * messages: "zfs receive pool/fs failed (exit 1): cannot receive ...".
 * The environment they get is zbak's without its secrets
 * (ZBAK_PASSPHRASE, ZBAK_NEW_PASSPHRASE, AWS_SECRET_ACCESS_KEY,
 * AWS_SESSION_TOKEN).  Writing into a child that went away is EPIPE, never
 * SIGPIPE: zbak's signal handling is left as it is.
 *
 * Errors: BK_ERR_NOTFOUND when the command is missing or zfs says the
 * dataset does not exist, BK_ERR_FORMAT for output that cannot be parsed,
 * BK_ERR_IO when the command fails or cannot be run.
 */
#ifndef BACKUP_ZFS_H
#define BACKUP_ZFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backup/error.h"
#include "backup/export.h"

#define BK_ZFS_NAME_MAX 255u /* ZFS_MAX_DATASET_NAME_LEN - 1, "@snap" included */
#define BK_ZFS_STDERR_KEEP 4096u

/* The command in use: $ZBAK_ZFS when set and not empty, else "zfs". */
BK_EXPORT const char *bk_zfs_command(void);

/* Whether the command can be run: a path that is executable, or a name
 * found executable in PATH.  Does not run it. */
BK_EXPORT bool bk_zfs_available(void);

/*
 * Does `name` (pool, dataset or snapshot) exist: `zfs list -H -o name NAME`.
 * BK_OK with *exists true when it succeeds, false when zfs says that it
 * does not exist; other failures (no command, no kernel module) are errors.
 */
BK_EXPORT enum bk_code bk_zfs_exists(const char *name, bool *exists,
				     struct bk_error *err);

struct bk_zfs_snap {
	char name[BK_ZFS_NAME_MAX + 1]; /* pool/fs@snap */
	uint64_t guid;
	uint64_t createtxg;
};

/*
 * The snapshots of dataset `ds` (and of its descendants when recursive):
 * `zfs list -H -p -o name,guid,createtxg -t snapshot [-r] DS`, sorted by
 * dataset name, then createtxg.  BK_ERR_NOTFOUND when ds does not exist.
 * Free *out with free().
 */
BK_EXPORT enum bk_code bk_zfs_list_snapshots(const char *ds, bool recursive,
					     struct bk_zfs_snap **out,
					     size_t *n, struct bk_error *err);

/*
 * Parse that command's output: one snapshot a line, "name TAB guid TAB
 * createtxg", decimal numbers, nothing else.  A line that does not fit is
 * an error naming its number (BK_ERR_FORMAT).  Entries stay in the order
 * given.  Free *out with free() (NULL when there are none).
 */
BK_EXPORT enum bk_code bk_zfs_parse_snapshots(const char *text, size_t len,
					      struct bk_zfs_snap **out,
					      size_t *n, struct bk_error *err);

/* ---- receive: feed a stream to `zfs receive` ---------------------------- */

/*
 * zbak never passes -s (resumable receive).  It does not resume from
 * tokens: a restore that fails starts its stream again.  Without -s a
 * `zfs receive` that is killed or sees its input end early destroys what it
 * had received and leaves the target as it was; with -s it keeps the
 * partial state, which makes the next receive into the target fail until
 * someone runs `zfs receive -A`.
 */
struct bk_zfs_recv;

struct bk_zfs_recv_opts {
	bool force; /* -F */
};

/* Start `zfs receive [-F] TARGET` with a pipe on its standard input. */
BK_EXPORT enum bk_code bk_zfs_recv_begin(const char *target,
					 const struct bk_zfs_recv_opts *o,
					 struct bk_zfs_recv **out,
					 struct bk_error *err);
/* Write stream bytes.  When zfs receive stopped reading (it rejected the
 * stream), the error quotes its exit status and standard error.  On error
 * the receive is dead: call abort. */
BK_EXPORT enum bk_code bk_zfs_recv_write(struct bk_zfs_recv *rx,
					 const void *buf, size_t len,
					 struct bk_error *err);
/* Close its input and wait for it; anything but exit 0 is an error quoting
 * its standard error.  Frees rx whatever the outcome. */
BK_EXPORT enum bk_code bk_zfs_recv_finish(struct bk_zfs_recv *rx,
					  struct bk_error *err);
/* Kill it (SIGKILL to its process group) and wait: zfs rolls the partial
 * receive back.  Frees rx; NULL is fine. */
BK_EXPORT void bk_zfs_recv_abort(struct bk_zfs_recv *rx);

/* ---- send: read a stream from `zfs send` -------------------------------- */

struct bk_zfs_send;

/*
 * Start `zfs send [-i FROM] SNAP`; *fd is the read end of its standard
 * output (owned by the send: closed by finish or abort).
 */
BK_EXPORT enum bk_code bk_zfs_send_begin(const char *snap, const char *from,
					 struct bk_zfs_send **out, int *fd,
					 struct bk_error *err);
/*
 * The same with send flags: flags[0..nflags) among "-c", "-w", "-L", "-e"
 * (anything else is BK_ERR_USAGE), passed before -i.
 */
BK_EXPORT enum bk_code bk_zfs_send_begin_flags(const char *snap,
					       const char *from,
					       const char *const *flags,
					       size_t nflags,
					       struct bk_zfs_send **out,
					       int *fd, struct bk_error *err);
/* Wait for it; anything but exit 0 is an error quoting its standard
 * error.  Frees s whatever the outcome. */
BK_EXPORT enum bk_code bk_zfs_send_finish(struct bk_zfs_send *s,
					  struct bk_error *err);
/* Kill it and wait.  Frees s; NULL is fine. */
BK_EXPORT void bk_zfs_send_abort(struct bk_zfs_send *s);
/*
 * The reader gave up: close the stream, give zfs send up to `grace`
 * seconds to end by itself, then kill it.  When it had failed by itself
 * (the likely cause of a stream that ended early), its error is returned
 * (quoting its standard error); BK_OK otherwise.  Frees s; NULL is fine.
 */
BK_EXPORT enum bk_code bk_zfs_send_cancel(struct bk_zfs_send *s,
					  unsigned grace,
					  struct bk_error *err);

/* ---- simple commands ------------------------------------------------------ */

/* zfs snapshot [-r] NAME */
BK_EXPORT enum bk_code bk_zfs_snapshot(const char *name, bool recursive,
				       struct bk_error *err);
/*
 * The dataset and, when recursive, its descendants (file systems and
 * volumes): `zfs list -H -p -o name -t filesystem,volume [-r] DS`, in the
 * order zfs gives.  BK_ERR_NOTFOUND when ds does not exist.  Free with
 * bk_zfs_names_free().
 */
BK_EXPORT enum bk_code bk_zfs_list_datasets(const char *ds, bool recursive,
					    char ***names, size_t *n,
					    struct bk_error *err);
BK_EXPORT void bk_zfs_names_free(char **names, size_t n);
/*
 * The tags of the holds on a snapshot: `zfs holds -H SNAP`, whose lines
 * are "NAME TAB TAG TAB TIMESTAMP".  Free with bk_zfs_names_free().
 */
BK_EXPORT enum bk_code bk_zfs_holds(const char *snap, char ***tags, size_t *n,
				    struct bk_error *err);
/*
 * The snapshots of ds that have holds, with how many:
 * `zfs list -H -p -o name,userrefs -t snapshot DS`, entries with
 * userrefs 0 left out.  names[i] has refs[i] holds.  Free names with
 * bk_zfs_names_free() and refs with free().
 */
BK_EXPORT enum bk_code bk_zfs_held_snapshots(const char *ds, char ***names,
					     uint64_t **refs, size_t *n,
					     struct bk_error *err);
/* zfs destroy SNAP: one snapshot (a name without '@' is refused). */
BK_EXPORT enum bk_code bk_zfs_destroy_snapshot(const char *snap,
					       struct bk_error *err);
/* zfs hold TAG SNAP */
BK_EXPORT enum bk_code bk_zfs_hold(const char *tag, const char *snap,
				   struct bk_error *err);
/* zfs release TAG SNAP */
BK_EXPORT enum bk_code bk_zfs_release(const char *tag, const char *snap,
				      struct bk_error *err);

#endif
