/* SPDX-License-Identifier: MIT */
/*
 * Chains: which stored snapshot a stream is received on top of.  One rule,
 * for ls, restore, verify, forget, retention and the nightly job; it is
 * written down at the top of libbackup/repo/chain.c and in
 * docs/repository.md ("Chains").
 */
#ifndef BACKUP_CHAIN_H
#define BACKUP_CHAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backup/error.h"
#include "backup/export.h"
#include "backup/repo.h"

/* No such snapshot: a chain's start, or a parent that is not stored. */
#define BK_CHAIN_NONE SIZE_MAX

/* Whether s needs a parent: it has a fromguid and is no package of a full
 * zfs send -R.  A full stream and a full package start a chain. */
BK_EXPORT bool bk_chain_needs_parent(const struct bk_snapshot *s);

/* The index of v[i]'s parent in v[0..n), or BK_CHAIN_NONE (it needs none,
 * or it is not stored).  absent: NULL, or the snapshots to leave out (what
 * a forget would remove).  O(n). */
BK_EXPORT size_t bk_chain_parent(const struct bk_snapshot *v, size_t n,
				 size_t i, const bool *absent);

/* Every snapshot's parent at once into parent[0..n): the same answers as
 * bk_chain_parent, in O(n log n).  BK_ERR_NOMEM only. */
BK_EXPORT enum bk_code bk_chain_parents(const struct bk_snapshot *v, size_t n,
					size_t *parent, struct bk_error *err);

/* Which snapshots lie on a cycle of parents (only hostile or damaged
 * manifests make one): cyclic[i] set for those.  parent as
 * bk_chain_parents fills it.  BK_ERR_NOMEM only. */
BK_EXPORT enum bk_code bk_chain_cycles(const size_t *parent, size_t n,
				       bool *cyclic, struct bk_error *err);

enum bk_chain_status {
	BK_CHAIN_WHOLE,   /* back to a full stream or a package */
	BK_CHAIN_STOPPED, /* stop() said enough (restore: the target has it) */
	BK_CHAIN_BROKEN,  /* the last one's parent is not stored */
	BK_CHAIN_LOOP,    /* the parents come back to the last one */
};

/* After a snapshot joins the chain: whether to end the walk there. */
typedef bool (*bk_chain_stop_fn)(void *ctx, const struct bk_snapshot *s);

struct bk_chain {
	size_t *idx; /* indexes into v, the snapshot first, its start last */
	size_t len;
	enum bk_chain_status status;
};

/* The chain of v[i]: v[i], its parent, that one's parent, ... until a
 * snapshot needing no parent, one stop (may be NULL) accepts, one whose
 * parent is missing, or one already in the chain; at most n steps.
 * c->idx allocated (bk_chain_release frees).  BK_ERR_NOMEM only. */
BK_EXPORT enum bk_code bk_chain_walk(const struct bk_snapshot *v, size_t n,
				     size_t i, bk_chain_stop_fn stop,
				     void *ctx, struct bk_chain *c,
				     struct bk_error *err);
BK_EXPORT void bk_chain_release(struct bk_chain *c);

#endif
