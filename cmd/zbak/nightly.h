/* SPDX-License-Identifier: MIT */
/* What zbak backup and zbak prune share (nightly.c). */
#ifndef ZBAK_NIGHTLY_H
#define ZBAK_NIGHTLY_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "backup/config.h"
#include "backup/job.h"
#include "backup/repo.h"

/* syslog as well as stderr, unless stderr is the journal (nightly.c). */
void nightly_log_open(void);
void nightly_log_close(void);
/* A log line: syslog at prio (when on), and `to` (stderr: with "zbak: "
 * in front; stdout; NULL: syslog only). */
void nlog(int prio, FILE *to, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Config (--config, global --config, $ZBAK_CONFIG, /etc/zbak/zbak.conf)
 * and its strict settings; an exit status with a message. */
int nightly_load(const char *opt_config, struct bk_config **cfg,
		 struct bk_settings **set, const char **path);
/* chosen[j]: job j is named on the command line (all when none is); an
 * unknown name is a usage error. */
int nightly_select(const struct bk_settings *set, const char *path, int argc,
		   char **argv, bool *chosen);
/* What nightly_begin sets up for a run of backup or prune. */
struct nightly {
	struct bk_config *cfg;    /* the config file */
	struct bk_settings *set;  /* its settings */
	const char *path;         /* the config file's name */
	bool *chosen;             /* njobs + 1 flags: job j was named */
	bool *done;               /* njobs + 1 flags, all false: the caller's */
	int lockfd;               /* the run lock; -1: none (a dry run) */
	uint64_t now;             /* the clock, read once for the whole run */
};
/* What backup and prune do first: load the settings, choose the jobs
 * named in argv (all when none), say when there is none, open the log,
 * take the run lock (not for a dry run) and read the clock, into *nt
 * (as the functions above).  What it holds, also after an error, is
 * nightly_end's to let go of. */
int nightly_begin(const char *opt_config, int argc, char **argv, bool json,
		  bool dry_run, struct nightly *nt);
/* Unlock, close the log, free what nightly_begin set up. */
void nightly_end(struct nightly *nt);
/* The run lock (lock_file, lock_wait); EXIT_LOCKED after waiting. */
int nightly_lock(const struct bk_settings *set, int *fd);
void nightly_unlock(int fd);
/* -r, $ZBAK_REPO, the job's repository, [zbak]'s; NULL when none. */
const char *nightly_repo_url(const struct bk_settings *set,
			     const struct bk_job *job);
/* Open and unlock a job's repository (passphrase: --passphrase-file,
 * $ZBAK_PASSPHRASE, the job's passphrase_file, [zbak]'s, a prompt). */
enum bk_code nightly_open_repo(const struct bk_settings *set,
			       const struct bk_job *job,
			       const struct bk_config *cfg,
			       struct bk_repo **out, struct bk_error *err);
/* After a run of backup or prune (event) that ended with exit status
 * `status`: on_failure or on_success, when set, with the run's JSON
 * account on its standard input; what goes wrong with it is logged and
 * changes nothing else (zbak.conf(5) on_failure). */
void nightly_hook(const struct bk_settings *set, const char *event,
		  int status, const void *json, size_t len);
/* Same repository and passphrase: one open serves both jobs. */
bool nightly_same_repo(const struct bk_settings *set, const struct bk_job *a,
		       const struct bk_job *b);

#endif
