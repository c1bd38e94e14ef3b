/* SPDX-License-Identifier: MIT */
/*
 * The real ZFS, through its command: `zfs list`, `receive`, `send`,
 * `snapshot`, `hold` and `release` run as child processes (never through a
 * shell; argv is built from arrays).  The command is $ZBAK_ZFS, else "zfs"
 * looked up in PATH.
 *
 * Children run in their own process group with default signal handling;
 * the first 4 KiB of their standard error are kept and its first lines
 * quoted in error messages, without the usage text zfs adds after a bad
 * option: "zfs receive pool/fs failed (exit 1): cannot receive ...".
 *
 * Every zfs: only forms that OpenZFS 2.x and zfs-fuse 0.7 (the OpenSolaris
 * zfs of 2010) both understand are used, and what differs is learned from
 * the command itself: the options of `zfs send` (bk_zfs_caps), and whether
 * `zfs get` knows createtxg (bk_zfs_list_snapshots).
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

/*
 * What the zfs command takes, learned from the synopsis that `zfs` prints
 * without arguments (OpenZFS and zfs-fuse print every subcommand's).
 */
struct bk_zfs_caps {
	bool known;         /* a `send` synopsis was found */
	char send_opts[64]; /* its one-letter options: "DLPbcehnpsVvwRX..." */
};

/*
 * Learn it: `zfs` is run once per process and command, later calls return
 * what was learned.  BK_ERR_NOTFOUND when the command is missing.
 */
BK_EXPORT enum bk_code bk_zfs_caps(struct bk_zfs_caps *out,
				   struct bk_error *err);
/* Read a usage text (exposed for tests): every "[-letters" group of the
 * `send` lines and their continuation lines. */
BK_EXPORT void bk_zfs_parse_usage(const char *text, size_t len,
				  struct bk_zfs_caps *out);
/* Does zfs send take -opt?  True for anything when caps are not known. */
BK_EXPORT bool bk_zfs_send_takes(const struct bk_zfs_caps *caps, char opt);

struct bk_zfs_snap {
	char name[BK_ZFS_NAME_MAX + 1]; /* pool/fs@snap */
	uint64_t guid;
	uint64_t createtxg; /* 0 when this zfs does not report it */
	uint64_t userrefs;  /* user holds on it */
};

/*
 * The snapshots of dataset `ds` (and of its descendants when recursive):
 * `zfs get -H -p -o name,property,value -d 1|-r guid,createtxg,userrefs
 * DS`, sorted by dataset name, then createtxg, then the order zfs lists
 * them in.  A zfs whose `zfs get` does not know createtxg (it says so
 * naming it) is asked again without it, and is not asked for it again in
 * this process: its snapshots then stay in the order zfs lists them,
 * which is creation order.  BK_ERR_NOTFOUND when ds does not exist.  Free
 * *out with free().
 */
BK_EXPORT enum bk_code bk_zfs_list_snapshots(const char *ds, bool recursive,
					     struct bk_zfs_snap **out,
					     size_t *n, struct bk_error *err);

/*
 * Parse `zfs get -H -p -o name,property,value` output: "name TAB property
 * TAB value" lines, a dataset's properties on consecutive lines.  Every
 * snapshot (a name with '@') becomes an entry, in the order given; other
 * names are skipped, and so are properties other than guid, createtxg and
 * userrefs.  Each snapshot needs a guid; createtxg and userrefs are 0 when
 * absent or "-".  A line that does not fit is an error naming its number
 * (BK_ERR_FORMAT).  Free *out with free() (NULL when there are none).
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
 * volumes): `zfs list -H -o name -t filesystem,volume [-r] DS`, in the
 * order zfs gives.  BK_ERR_NOTFOUND when ds does not exist.  Free with
 * bk_zfs_names_free().
 */
BK_EXPORT enum bk_code bk_zfs_list_datasets(const char *ds, bool recursive,
					    char ***names, size_t *n,
					    struct bk_error *err);
BK_EXPORT void bk_zfs_names_free(char **names, size_t n);
/* zfs destroy SNAP: one snapshot (a name without '@' is refused). */
BK_EXPORT enum bk_code bk_zfs_destroy_snapshot(const char *snap,
					       struct bk_error *err);
/* zfs hold TAG SNAP */
BK_EXPORT enum bk_code bk_zfs_hold(const char *tag, const char *snap,
				   struct bk_error *err);
/* zfs release TAG SNAP.  Releasing a tag the snapshot does not have is
 * an error whose message says "no such tag" (every zfs words it so). */
BK_EXPORT enum bk_code bk_zfs_release(const char *tag, const char *snap,
				      struct bk_error *err);

#endif
