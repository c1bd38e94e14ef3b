/* SPDX-License-Identifier: MIT */
/*
 * restore --to, planned (plan.h): which stored streams, in which order,
 * and whether the target takes them, decided before anything moves.  The
 * chain is chain.c's; this file adds only what the target has.
 */
#include <stdlib.h>
#include <string.h>

#include "backup/plan.h"

size_t bk_plan_find(const struct bk_snapshot *all, size_t n, const char *name)
{
	size_t dl = strcspn(name, "@");

	if (!name[dl])
		return BK_CHAIN_NONE;
	for (size_t i = 0; i < n; i++)
		if (strlen(all[i].dataset) == dl &&
		    strncmp(all[i].dataset, name, dl) == 0 &&
		    strcmp(all[i].snap, name + dl + 1) == 0)
			return i;
	return BK_CHAIN_NONE;
}

static long target_has(const struct bk_receiver_snap *ts, size_t nt,
		       uint64_t guid)
{
	for (size_t i = 0; i < nt; i++)
		if (ts[i].guid == guid)
			return (long)i;
	return -1;
}

struct target {
	const struct bk_receiver_snap *ts;
	size_t nt;
	long base;
};

/* The walk ends at a stream whose source the target has. */
static bool on_target(void *ctx, const struct bk_snapshot *s)
{
	struct target *t = ctx;

	if (s->fromguid)
		t->base = target_has(t->ts, t->nt, s->fromguid);
	return t->base >= 0;
}

enum bk_code bk_restore_plan(const struct bk_snapshot *v, size_t n,
			     size_t want, const struct bk_receiver_snap *ts,
			     size_t nt, bool exists, bool force,
			     struct bk_restore_plan *p, struct bk_error *err)
{
	struct target t = { ts, nt, -1 };
	struct bk_chain ch;
	enum bk_code rc;

	memset(p, 0, sizeof(*p));
	p->base = p->have = -1;
	if ((p->have = target_has(ts, nt, v[want].toguid)) >= 0) {
		p->verdict = BK_RESTORE_HAVE;
		return BK_OK;
	}
	/* newest first: back to a start or to what the target has */
	rc = bk_chain_walk(v, n, want, on_target, &t, &ch, err);
	if (rc)
		return rc;
	/* oldest first */
	for (size_t i = 0; i < ch.len / 2; i++) {
		size_t x = ch.idx[i];

		ch.idx[i] = ch.idx[ch.len - 1 - i];
		ch.idx[ch.len - 1 - i] = x;
	}
	p->chain = ch.idx;
	p->len = ch.len;
	p->base = t.base;
	p->first_package = v[p->chain[0]].compound;
	if (ch.status == BK_CHAIN_BROKEN)
		p->verdict = BK_RESTORE_BROKEN;
	else if (ch.status == BK_CHAIN_LOOP)
		p->verdict = BK_RESTORE_LOOP;
	/* what the receiver would refuse */
	else if (p->base >= 0 && (size_t)p->base != nt - 1 && !force)
		p->verdict = BK_RESTORE_DIVERGED;
	else if (p->base < 0 && exists && !p->first_package && nt > 0)
		p->verdict = BK_RESTORE_UNRELATED;
	else if (p->base < 0 && exists && !p->first_package && !force)
		p->verdict = BK_RESTORE_NEEDS_FORCE;
	else
		p->verdict = BK_RESTORE_GO;
	return BK_OK;
}

void bk_restore_plan_release(struct bk_restore_plan *p)
{
	free(p->chain);
	p->chain = NULL;
	p->len = 0;
}
