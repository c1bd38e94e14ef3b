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
/* What backup and prune do first: load the settings, choose the jobs
 * named in argv (all when none), say when there is none, open the log,
 * take the run lock (not for a dry run) and read the clock.  Outputs as
 * the functions above; *chosen and *done (njobs + 1 flags) are the
 * caller's to free, also after an error. */
int nightly_begin(const char *opt_config, int argc, char **argv, bool json,
		  bool dry_run, struct bk_config **cfg,
		  struct bk_settings **set, const char **path, bool **chosen,
		  bool **done, int *lockfd, uint64_t *now);
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
/* Same repository and passphrase: one open serves both jobs. */
bool nightly_same_repo(const struct bk_settings *set, const struct bk_job *a,
		       const struct bk_job *b);

#endif
