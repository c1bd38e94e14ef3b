/* SPDX-License-Identifier: MIT */
/*
 * Plans: what restore --to and prune would do, decided here and only
 * printed (a dry run) or carried out by the caller; the backup job's twins
 * (job.h).  Plan, then execute, as restic's PlanPrune and Execute.
 */
#ifndef BACKUP_PLAN_H
#define BACKUP_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backup/chain.h"
#include "backup/error.h"
#include "backup/export.h"
#include "backup/job.h"
#include "backup/receiver.h"
#include "backup/repo.h"

/* ---- restore --to ------------------------------------------------------- */

/* The stored snapshot called name (pool/fs@snap) in v, or BK_CHAIN_NONE. */
BK_EXPORT size_t bk_plan_find(const struct bk_snapshot *v, size_t n,
			      const char *name);

enum bk_restore_verdict {
	BK_RESTORE_GO,         /* receive chain[0..len) in that order */
	BK_RESTORE_HAVE,       /* the target has the snapshot: ts[have] */
	BK_RESTORE_BROKEN,     /* chain[0] needs a parent that is not stored */
	BK_RESTORE_LOOP,       /* chain[0]'s parent is already in the chain */
	BK_RESTORE_DIVERGED,   /* the target has snapshots after ts[base] */
	BK_RESTORE_UNRELATED,  /* the target has snapshots, none of the chain,
				* and the chain starts with a full stream */
	BK_RESTORE_NEEDS_FORCE /* the full stream chain[0] would replace the
				* existing target: -F only */
};

struct bk_restore_plan {
	enum bk_restore_verdict verdict;
	size_t *chain; /* indexes into v, oldest first */
	size_t len;
	long base; /* ts index the first stream goes onto, or -1 */
	long have; /* BK_RESTORE_HAVE: ts index of the snapshot, else -1 */
	bool first_package; /* chain[0] is a package */
};

/* The streams that bring the target (exists: whether it does; ts[0..nt)
 * its snapshots, oldest first) to v[want]: back through the chain
 * (chain.c) to a start or to a snapshot the target has the source of.
 * force: receive -F.  BK_ERR_NOMEM only; the verdict says the rest.
 * bk_restore_plan_release frees. */
BK_EXPORT enum bk_code bk_restore_plan(const struct bk_snapshot *v, size_t n,
				       size_t want,
				       const struct bk_receiver_snap *ts,
				       size_t nt, bool exists, bool force,
				       struct bk_restore_plan *p,
				       struct bk_error *err);
BK_EXPORT void bk_restore_plan_release(struct bk_restore_plan *p);

/* ---- prune -------------------------------------------------------------- */

/* One dataset of a prune plan: the listing's v[first..first+n). */
struct bk_prune_dataset {
	size_t first, n;
	bool *keep;                    /* n of them */
	struct bk_retention_why *why;  /* n; needed_by counts from first */
	size_t only_needed; /* kept for no rule, only as a chain's source */
};

struct bk_prune_plan {
	bool keep_all; /* the job sets no keep_*: everything stays */
	struct bk_prune_dataset *ds;
	size_t nds;
	char **forget; /* pool/fs@snap of each snapshot to forget */
	size_t nforget;
};

/* What job's retention keeps and forgets of v[0..n) (bk_list's listing,
 * sorted by dataset): each dataset of the job's (and below them when
 * recursive) on its own.  BK_ERR_NOMEM only.  bk_prune_plan_release
 * frees. */
BK_EXPORT enum bk_code bk_prune_plan(const struct bk_job *job,
				     const struct bk_snapshot *v, size_t n,
				     uint64_t now, struct bk_prune_plan *p,
				     struct bk_error *err);
/* Carry the plan out: bk_forget of its snapshots (dry_run: count only). */
BK_EXPORT enum bk_code bk_prune_execute(struct bk_repo *r,
					const struct bk_prune_plan *p,
					bool dry_run,
					struct bk_forget_result *res,
					struct bk_error *err);
BK_EXPORT void bk_prune_plan_release(struct bk_prune_plan *p);

#endif
