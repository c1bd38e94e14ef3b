/* SPDX-License-Identifier: MIT */
/*
 * The nightly job's settings: the [zbak] section and one [job NAME]
 * section per set of datasets of the configuration file (conf/zbak.conf,
 * zbak(1)), read strictly.  A key that zbak does not know in [zbak] or in a
 * [job] is an error naming the file, the section and the key (with the
 * nearest known key when one is close): a typo must not silently turn
 * retention off.  So is a section zbak does not know ([zbak], [s3], [pool]
 * and [job NAME] are), and a value that does not parse:
 *
 *   numbers      decimal digits (keep_*, full_every, lock_wait, ...)
 *   sizes        digits with an optional K, M, G or T (powers of 1024)
 *   booleans     yes, no, true, false, 1, 0 (any case)
 *   datasets     names separated by spaces and/or commas
 *   send_flags   among -c -w -L -e, separated by spaces
 */
#ifndef BACKUP_JOB_H
#define BACKUP_JOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backup/config.h"
#include "backup/error.h"
#include "backup/export.h"
#include "backup/repo.h"

#define BK_JOB_NAME_MAX 64u
#define BK_JOB_PREFIX_MAX 64u
#define BK_JOB_DATASETS_MAX 1024u
#define BK_JOB_PATH_MAX 1024u

/* zfs send flags a job may ask for */
enum {
	BK_SEND_COMPRESSED = 1u << 0, /* -c */
	BK_SEND_RAW = 1u << 1,        /* -w */
	BK_SEND_LARGE = 1u << 2,      /* -L */
	BK_SEND_EMBED = 1u << 3,      /* -e */
};

struct bk_job {
	char name[BK_JOB_NAME_MAX + 1];
	char **datasets; /* pool/fs, in the order given, no duplicates */
	size_t ndatasets;
	bool recursive;
	/* defaults as zbak.conf(5) has them */
	char prefix[BK_JOB_PREFIX_MAX + 1]; /* snapshot_prefix ("zbak-") */
	unsigned send_flags;                /* BK_SEND_* (-c -L -e) */
	bool send_flags_set;                /* send_flags is in the file */
	unsigned full_every_days;           /* 0: never by age (30) */
	unsigned full_every;                /* 0: never by count (0) */
	unsigned concurrency;               /* 0: one per CPU (8) */
	uint64_t bandwidth_limit;           /* bytes per second, 0: none */
	struct bk_retention keep;
	char repository[BK_JOB_PATH_MAX];      /* "" : the [zbak] one */
	char passphrase_file[BK_JOB_PATH_MAX]; /* "" : the [zbak] one */
	/* snapshots = existing: take no snapshot, send those of another
	 * tool (sanoid, zrepl, zfs-auto-snapshot) whose name after '@'
	 * matches one of the globs of snapshot_match (blank-separated) */
	bool existing;
	char match[BK_JOB_PATH_MAX];
};

struct bk_settings {
	char repository[BK_JOB_PATH_MAX];
	char passphrase_file[BK_JOB_PATH_MAX];
	char lock_file[BK_JOB_PATH_MAX];    /* "": the caller's default */
	unsigned lock_wait;                 /* seconds (default 60) */
	char metrics_file[BK_JOB_PATH_MAX]; /* "": none */
	char pool_dir[BK_JOB_PATH_MAX];
	struct bk_job *jobs; /* in the order of the file */
	size_t njobs;
	/* the alert hook: a command (absolute path, then arguments split at
	 * blanks, no shell) run after a backup or prune that failed (or
	 * succeeded), with the run's JSON account on its standard input */
	char on_failure[BK_JOB_PATH_MAX]; /* "": none */
	char on_success[BK_JOB_PATH_MAX]; /* "": none */
	unsigned hook_timeout;            /* seconds (default 60) */
};

/*
 * Read and check the settings of cfg (borrowed); file names the file in
 * messages ("/etc/zbak/zbak.conf: [job home] keep_dialy: unknown key (did
 * you mean keep_daily?)").  BK_ERR_USAGE for what the file gets wrong.
 * A config without any [job] is fine here (the caller decides).  Free
 * *out with bk_settings_free().
 */
BK_EXPORT enum bk_code bk_settings_load(const struct bk_config *cfg,
					const char *file,
					struct bk_settings **out,
					struct bk_error *err);
BK_EXPORT void bk_settings_free(struct bk_settings *s); /* NULL is fine */
/* The [zbak] section alone, as strictly as bk_settings_load reads it (an
 * unknown key named, with the key it may have meant): for the commands
 * that need only the repository and the passphrase file from it. */
BK_EXPORT enum bk_code bk_settings_check_zbak(const struct bk_config *cfg,
					      const char *file,
					      struct bk_error *err);
/* The job of that name, or NULL. */
BK_EXPORT const struct bk_job *bk_settings_job(const struct bk_settings *s,
					       const char *name);
/* "-c", "-w", "-L", "-e" for the flags set, into argv (at most 4);
 * returns how many. */
BK_EXPORT size_t bk_send_flags_argv(unsigned flags, const char **argv);

struct bk_zfs_caps;
/*
 * The send flags job uses with a zfs whose send takes what caps says
 * (backup/zfs.h): send_flags set in the config must all be taken, else
 * BK_ERR_USAGE naming the flag ("-c is not an option of this zfs's send
 * (it takes -D -R -p -i -I)").  The default (-c -L -e) loses what zfs
 * lacks: *flags without them, and dropped says which ("-c -L -e"; ""
 * when none).
 */
BK_EXPORT enum bk_code bk_job_send_flags(const struct bk_job *job,
					 const struct bk_zfs_caps *caps,
					 unsigned *flags, char *dropped,
					 size_t n, struct bk_error *err);

/* ---- the nightly backup of one job (zbak backup) -------------------------- */

enum bk_backup_kind { BK_BACKUP_NONE = 0, BK_BACKUP_FULL, BK_BACKUP_INCREMENTAL };
enum bk_backup_status { BK_BACKUP_OK = 0, BK_BACKUP_FAILED, BK_BACKUP_SKIPPED };

struct bk_backup_result {
	char job[BK_JOB_NAME_MAX + 1];
	char dataset[256];
	/* pool/fs@snap made or sent (or that would be, in a dry run); ""
	 * when none exists: a failure before the snapshot was taken, or
	 * after it was destroyed again */
	char snapshot[BK_REPO_NAME_MAX];
	char base[BK_REPO_NAME_MAX]; /* the incremental source, "" for a full */
	char reason[640];   /* why full, why skipped ("" otherwise) */
	enum bk_backup_kind kind;
	enum bk_backup_status status;
	enum bk_code code;  /* of the failure */
	char error[BK_ERROR_MSG_MAX];
	uint64_t bytes_sent;   /* stream bytes */
	uint64_t bytes_stored; /* what the push added to the repository */
	double seconds;
	uint64_t finished; /* unix time (the run's `now` clock) */
};

typedef void (*bk_backup_result_fn)(void *ctx,
				    const struct bk_backup_result *res);

struct bk_backup_opts {
	uint64_t now;         /* unix seconds: snapshot names, full_every_days */
	bool dry_run;         /* plan only: no snapshot, no send, no hold */
	const char *hold_tag; /* NULL: "zbak" */
	bk_progress_fn progress; /* per push (dataset in the ctx's hands) */
	void *progress_ctx;
	/* the dataset being sent, for progress lines (may be NULL) */
	void (*starting)(void *ctx, const char *snapshot);
	bk_report_fn warn; /* problems that fail nothing: holds, cleanup */
	void *warn_ctx;
	/* one call per dataset; with snapshots = existing, one per
	 * snapshot sent (or one saying why none was) */
	bk_backup_result_fn result;
	void *result_ctx;
};

/* "zbak-20261124T020000Z": the job's prefix and the UTC time. */
BK_EXPORT void bk_backup_snapname(const struct bk_job *job, uint64_t now,
				  char *out, size_t n);

/*
 * Back up every dataset of a job into r, as zbak(1) describes under
 * backup: per dataset (with recursive, the snapshot is taken with
 * `zfs snapshot -r` on each listed dataset, then every descendant is sent
 * on its own), the snapshot, the newest local snapshot whose guid is
 * stored, an incremental send from it or a full one, the push, then the
 * hold moved to the new snapshot.  A dataset that fails does not stop the
 * others; each gets one call of o->result.  Returns how many failed.
 * With job->existing no snapshot is taken: each dataset's snapshots that
 * match job->match and are newer than the newest stored one are sent in
 * creation order, each incremental from the one before, and none is ever
 * destroyed (zbak(1), "snapshots = existing").
 */
BK_EXPORT size_t bk_backup_job(struct bk_repo *r, const struct bk_job *job,
			       const struct bk_backup_opts *o);

/* ---- the alert hook (on_failure, on_success) ------------------------------- */

/* The command for a run that ended with this exit status: on_success for
 * 0, on_failure for any other; NULL when that one is not set. */
BK_EXPORT const char *bk_hook_command(const struct bk_settings *s,
				      int status);
/*
 * Run command (an absolute path, then arguments split at blanks; no
 * shell) with input[0..len) on its standard input, its standard output
 * sent to our standard error, in its own process group, and zbak's
 * environment without its secrets (ZBAK_PASSPHRASE, ZBAK_NEW_PASSPHRASE,
 * ZBAK_PASSPHRASE_COMMAND, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN) plus
 * extra_env ("NAME=value" strings, NULL-terminated; may be NULL).  After
 * `timeout` seconds it gets SIGTERM, two seconds later SIGKILL.  BK_OK when
 * it exited 0; otherwise an error saying what happened (it could not be
 * run, its exit status or signal, the timeout).
 */
BK_EXPORT enum bk_code bk_hook_run(const char *command,
				   const char *const *extra_env,
				   const void *input, size_t len,
				   unsigned timeout, struct bk_error *err);

/* ---- reading a stream at a bounded rate ----------------------------------- */

struct bk_throttle;

/*
 * A token bucket between a descriptor and its reader: a thread reads `in`
 * (borrowed: it takes a duplicate) and writes into a pipe whose read end
 * is *out (owned by the throttle), at most `rate` bytes per second on
 * average, with bursts of at most one second's worth (and at least 64
 * KiB).  Stop with bk_throttle_finish: after the reader saw EOF, or to
 * give up (it closes *out first, so that the thread stops).
 */
BK_EXPORT enum bk_code bk_throttle_start(int in, uint64_t rate,
					 struct bk_throttle **t, int *out,
					 struct bk_error *err);
/* Join and free; a read error of the thread is returned.  NULL is fine. */
BK_EXPORT enum bk_code bk_throttle_finish(struct bk_throttle *t,
					  struct bk_error *err);

/* ---- the Prometheus textfile ----------------------------------------------- */

struct bk_metric {
	char job[BK_JOB_NAME_MAX + 1];
	char dataset[256];
	bool ok;                /* zbak_backup_status */
	uint64_t last_success;  /* 0: never (the previous file's is kept) */
	uint64_t last_run;
	double duration;
	uint64_t sent, stored;
};

/*
 * Write the textfile of node_exporter atomically (a temporary file in the
 * same directory, fsync, rename; mode 0644): the gauges of run[0..n) and,
 * read back from the file that is there (bounded: 4 MiB, lines of 2 KiB),
 * those of datasets of the jobs in keep_jobs[0..nkeep) that this run did
 * not touch.  A dataset of the run without a success (last_success 0)
 * keeps its last success time from that file.  A previous file that
 * cannot be parsed is replaced (its lines are not carried over).
 */
BK_EXPORT enum bk_code bk_metrics_update(const char *path,
					 const struct bk_metric *run, size_t n,
					 const char *const *keep_jobs,
					 size_t nkeep, struct bk_error *err);
/* Parse such a file (for tests and the above): every series of the six
 * gauges, merged per (job, dataset).  Free *out with free(). */
BK_EXPORT enum bk_code bk_metrics_parse(const char *text, size_t len,
					struct bk_metric **out, size_t *n,
					struct bk_error *err);

/* The value parsers, for other settings and for tests: BK_OK or
 * BK_ERR_USAGE with a message saying what was expected. */
BK_EXPORT enum bk_code bk_parse_bool(const char *s, bool *out,
				     struct bk_error *err);
BK_EXPORT enum bk_code bk_parse_uint(const char *s, uint64_t max,
				     uint64_t *out, struct bk_error *err);
/* Decimal digits with an optional K, M, G or T (powers of 1024), which may
 * be followed by "iB" or "B". */
BK_EXPORT enum bk_code bk_parse_size(const char *s, uint64_t *out,
				     struct bk_error *err);

#endif
