/* SPDX-License-Identifier: MIT */
/*
 * prune, planned (plan.h): what a job's retention keeps and forgets, each
 * of its datasets on its own, decided here; the caller prints the plan (a
 * dry run) or carries it out with bk_prune_execute.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backup/plan.h"
#include "backup/util.h"

static bool under(const char *ds, const char *top, bool recursive)
{
	return !strcmp(ds, top) || (recursive && bk_dataset_below(ds, top));
}

static bool mine(const struct bk_job *job, const char *ds)
{
	for (size_t d = 0; d < job->ndatasets; d++)
		if (under(ds, job->datasets[d], job->recursive))
			return true;
	return false;
}

/* Plan v[first..first+m), one dataset, into a new p->ds entry. */
static enum bk_code plan_dataset(const struct bk_job *job,
				 const struct bk_snapshot *v, size_t first,
				 size_t m, uint64_t now,
				 struct bk_prune_plan *p, struct bk_error *err)
{
	struct bk_prune_dataset *ds, *nds;

	nds = realloc(p->ds, (p->nds + 1) * sizeof(*nds));
	if (!nds)
		return bk_error_set(err, BK_ERR_NOMEM, "out of memory");
	p->ds = nds;
	ds = &p->ds[p->nds];
	memset(ds, 0, sizeof(*ds));
	ds->first = first;
	ds->n = m;
	ds->keep = calloc(m, sizeof(*ds->keep));
	ds->why = calloc(m, sizeof(*ds->why));
	p->nds++; /* from here bk_prune_plan_release frees it */
	if (!ds->keep || !ds->why)
		return bk_error_set(err, BK_ERR_NOMEM, "out of memory");
	bk_retention_explain(v + first, m, &job->keep, now, ds->keep,
			     ds->why);
	for (size_t k = 0; k < m; k++) {
		const struct bk_snapshot *s = &v[first + k];
		char **nf;

		ds->only_needed += ds->why[k].rules == BK_KEEP_NEEDED;
		if (ds->keep[k])
			continue;
		nf = realloc(p->forget, (p->nforget + 1) * sizeof(*nf));
		if (!nf)
			return bk_error_set(err, BK_ERR_NOMEM,
					    "out of memory");
		p->forget = nf;
		if (!(nf[p->nforget] = malloc(strlen(s->dataset) +
					      strlen(s->snap) + 2)))
			return bk_error_set(err, BK_ERR_NOMEM,
					    "out of memory");
		sprintf(nf[p->nforget++], "%s@%s", s->dataset, s->snap);
	}
	return BK_OK;
}

enum bk_code bk_prune_plan(const struct bk_job *job,
			   const struct bk_snapshot *v, size_t n,
			   uint64_t now, struct bk_prune_plan *p,
			   struct bk_error *err)
{
	enum bk_code rc = BK_OK;

	memset(p, 0, sizeof(*p));
	p->keep_all = !job->keep.last && !job->keep.hourly &&
		      !job->keep.daily && !job->keep.weekly &&
		      !job->keep.monthly && !job->keep.yearly;
	/* the datasets stored under the job's, each on its own */
	for (size_t i = 0; !rc && i < n;) {
		size_t j = i;

		while (j < n && !strcmp(v[j].dataset, v[i].dataset))
			j++;
		if (mine(job, v[i].dataset))
			rc = plan_dataset(job, v, i, j - i, now, p, err);
		i = j;
	}
	if (rc)
		bk_prune_plan_release(p);
	return rc;
}

enum bk_code bk_prune_execute(struct bk_repo *r, const struct bk_prune_plan *p,
			      bool dry_run, struct bk_forget_result *res,
			      struct bk_error *err)
{
	return bk_forget(r, (const char *const *)p->forget, p->nforget,
			 dry_run, res, err);
}

void bk_prune_plan_release(struct bk_prune_plan *p)
{
	for (size_t i = 0; i < p->nds; i++) {
		free(p->ds[i].keep);
		free(p->ds[i].why);
	}
	for (size_t i = 0; i < p->nforget; i++)
		free(p->forget[i]);
	free(p->ds);
	free(p->forget);
	memset(p, 0, sizeof(*p));
}
