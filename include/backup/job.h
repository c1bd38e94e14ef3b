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
	char prefix[BK_JOB_PREFIX_MAX + 1]; /* snapshot_prefix ("zbak-") */
	unsigned send_flags;                /* BK_SEND_* */
	unsigned full_every_days;           /* 0: never by age */
	unsigned full_every;                /* 0: never by count */
	unsigned concurrency;               /* 0: one thread per CPU */
	uint64_t bandwidth_limit;           /* bytes per second, 0: none */
	struct bk_retention keep;
	char repository[BK_JOB_PATH_MAX];      /* "" : the [zbak] one */
	char passphrase_file[BK_JOB_PATH_MAX]; /* "" : the [zbak] one */
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
/* The job of that name, or NULL. */
BK_EXPORT const struct bk_job *bk_settings_job(const struct bk_settings *s,
					       const char *name);
/* "-c", "-w", "-L", "-e" for the flags set, into argv (at most 4);
 * returns how many. */
BK_EXPORT size_t bk_send_flags_argv(unsigned flags, const char **argv);

/* The value parsers, for other settings and for tests: BK_OK or
 * BK_ERR_USAGE with a message saying what was expected. */
BK_EXPORT enum bk_code bk_parse_bool(const char *s, bool *out,
				     struct bk_error *err);
BK_EXPORT enum bk_code bk_parse_uint(const char *s, uint64_t max,
				     uint64_t *out, struct bk_error *err);
BK_EXPORT enum bk_code bk_parse_size(const char *s, uint64_t *out,
				     struct bk_error *err);

#endif
