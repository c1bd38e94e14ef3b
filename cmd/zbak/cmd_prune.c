/* SPDX-License-Identifier: MIT */
/* zbak prune: each job's retention, then garbage collection. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "backup/clock.h"
#include "backup/buf.h"
#include "backup/plan.h"
#include "cli.h"
#include "nightly.h"

struct prune {
	bool dry_run, json, no_gc;
	struct bk_buf js; /* the datasets' JSON objects */
	size_t nds;
	size_t failed, done;
	bool gc_failed_storage, any_storage;
};

/* "daily, weekly" or "needed by pool/fs@snap" */
static void why_text(const struct bk_snapshot *sub, size_t n,
		     const struct bk_retention_why *w, char *out, size_t len)
{
	static const struct {
		unsigned bit;
		const char *name;
	} rules[] = {
		{ BK_KEEP_ALL, "no keep_* set: everything stays" },
		{ BK_KEEP_LAST, "last" },       { BK_KEEP_HOURLY, "hourly" },
		{ BK_KEEP_DAILY, "daily" },     { BK_KEEP_WEEKLY, "weekly" },
		{ BK_KEEP_MONTHLY, "monthly" }, { BK_KEEP_YEARLY, "yearly" },
		{ BK_KEEP_FUTURE, "created after now: check the clock" },
	};
	size_t k = 0;

	out[0] = '\0';
	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++)
		if ((w->rules & rules[i].bit) && k < len)
			k += (size_t)snprintf(out + k, len - k, "%s%s",
					      k ? ", " : "", rules[i].name);
	if ((w->rules & BK_KEEP_NEEDED) && w->needed_by < n && k < len)
		snprintf(out + k, len - k, "%sneeded by %s@%s", k ? ", " : "",
			 sub[w->needed_by].dataset, sub[w->needed_by].snap);
}

/* One job's plan (bk_prune_plan), said: as text, and into pr->js. */
static int plan_job(struct prune *pr, const struct bk_job *job,
		    const struct bk_snapshot *v, size_t n, uint64_t now,
		    struct bk_prune_plan *pl)
{
	struct bk_error err;

	if (bk_prune_plan(job, v, n, now, pl, &err)) {
		msg("%s", err.msg);
		return EXIT_FAIL;
	}
	if (pl->keep_all)
		nlog(LOG_INFO, pr->json || g.quiet ? NULL : stdout,
		     "[job %s]: no keep_* set: keeping every snapshot",
		     job->name);
	for (size_t d = 0; d < pl->nds; d++) {
		const struct bk_prune_dataset *ds = &pl->ds[d];
		const struct bk_snapshot *sub = v + ds->first;

		if (bk_buf_printf(&pr->js, &err,
				  "%s{\"job\":", pr->nds++ ? "," : "") ||
		    bk_buf_json_str(&pr->js, job->name, &err) ||
		    bk_buf_printf(&pr->js, &err, ",\"dataset\":") ||
		    bk_buf_json_str(&pr->js, sub->dataset, &err) ||
		    bk_buf_printf(&pr->js, &err, ",\"snapshots\":["))
			goto nomem;
		for (size_t k = 0; k < ds->n; k++) {
			const struct bk_snapshot *s = &sub[k];
			char full[520], text[700];

			snprintf(full, sizeof(full), "%s@%s", s->dataset,
				 s->snap);
			why_text(sub, ds->n, &ds->why[k], text, sizeof(text));
			if (bk_buf_printf(&pr->js, &err, "%s{\"name\":",
					  k ? "," : "") ||
			    bk_buf_json_str(&pr->js, full, &err) ||
			    bk_buf_printf(&pr->js, &err, ",\"keep\":%s,\"why\":",
					  ds->keep[k] ? "true" : "false") ||
			    bk_buf_json_str(&pr->js, text, &err) ||
			    bk_buf_printf(&pr->js, &err, "}"))
				goto nomem;
			if (!pr->json && !g.quiet) {
				if (ds->keep[k])
					printf("keep   %s (%s)\n", full, text);
				else
					printf("%s %s\n",
					       pr->dry_run ? "would forget"
							   : "forget",
					       full);
			}
		}
		if (bk_buf_printf(&pr->js, &err, "]}"))
			goto nomem;
		if (ds->only_needed && !job->full_every &&
		    !job->full_every_days)
			nlog(LOG_INFO, pr->json || g.quiet ? NULL : stdout,
			     "[job %s] %s: %zu snapshot%s kept only because "
			     "later ones are incremental from them: full_every "
			     "or full_every_days starts new chains that older "
			     "ones can be pruned from",
			     job->name, sub->dataset, ds->only_needed,
			     ds->only_needed == 1 ? "" : "s");
	}
	return EXIT_OK;
nomem:
	msg("out of memory");
	return EXIT_FAIL;
}

static void gc_report(void *ctx, const char *line)
{
	(void)ctx;
	nlog(LOG_INFO, NULL, "gc: %s", line);
}

int cmd_prune(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'C' },
		{ "json", no_argument, NULL, 'j' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "no-gc", no_argument, NULL, 'G' },
		{ NULL, 0, NULL, 0 },
	};
	const struct cmd *self = find_cmd("prune");
	struct bk_config *cfg = NULL;
	struct bk_settings *set = NULL;
	const char *config = NULL;
	struct prune pr;
	struct nightly nt;
	struct bk_buf gcjs;
	bool *chosen = NULL, *done = NULL;
	uint64_t now;
	int c, ret, lockfd = -1, status = EXIT_OK;
	size_t attempted = 0, failed = 0, storage = 0;

	memset(&pr, 0, sizeof(pr));
	bk_buf_init(&pr.js, 256u << 20);
	bk_buf_init(&gcjs, 1u << 20);
	optind = 0;
	while ((c = getopt_long(argc, argv, "n", longopts, NULL)) != -1) {
		switch (c) {
		case 'C': config = optarg; break;
		case 'j': pr.json = true; break;
		case 'n': pr.dry_run = true; break;
		case 'G': pr.no_gc = true; break;
		default: return usage_error(self, NULL);
		}
	}
	ret = nightly_begin(config, argc - optind, argv + optind, pr.json,
			    pr.dry_run, &nt);
	cfg = nt.cfg, set = nt.set, chosen = nt.chosen, done = nt.done;
	lockfd = nt.lockfd, now = nt.now;
	if (ret)
		goto out;

	/* per repository: every job's forget, then one gc */
	for (size_t j = 0; j < set->njobs; j++) {
		struct bk_repo *r = NULL;
		struct bk_snapshot *v = NULL;
		size_t n = 0;
		struct bk_error err;
		enum bk_code rc;
		bool forgot = false, repo_failed = false;

		if (!chosen[j] || done[j])
			continue;
		rc = nightly_open_repo(set, &set->jobs[j], cfg, &r, &err);
		if (!rc && !pr.dry_run && bk_repo_append_only(r) &&
		    !bk_repo_is_admin(r))
			rc = bk_error_set(&err, BK_ERR_APPEND_ONLY,
					  "%s is append-only: prune forgets "
					  "and collects, which only an admin "
					  "run does (--admin, on a trusted "
					  "machine whose credentials may "
					  "delete)",
					  bk_repo_describe(r));
		if (!rc) {
			rc = bk_list(r, &v, &n, &err);
			if (rc)
				/* one manifest we cannot read might be
				 * needed by another: nothing is forgotten */
				bk_error_prefix(&err, "listing %s",
						nightly_repo_url(set,
								 &set->jobs[j]));
		}
		for (size_t k = j; k < set->njobs; k++) {
			const struct bk_job *job = &set->jobs[k];
			struct bk_forget_result fr;
			struct bk_error e2;
			struct bk_prune_plan pl = { 0 };

			if (!chosen[k] || done[k] ||
			    (k != j &&
			     !nightly_same_repo(set, &set->jobs[j], job)))
				continue;
			done[k] = true;
			attempted++;
			if (rc) {
				nlog(LOG_ERR, stderr, "[job %s]: %s", job->name,
				     err.msg);
				failed++;
				storage += rc == BK_ERR_STORAGE;
				repo_failed = true;
				continue;
			}
			if (plan_job(&pr, job, v, n, now, &pl)) {
				failed++;
			} else if (pl.nforget) {
				enum bk_code frc = bk_prune_execute(
					r, &pl, pr.dry_run, &fr, &e2);

				if (frc) {
					nlog(LOG_ERR, stderr,
					     "[job %s]: forget failed: %s",
					     job->name, e2.msg);
					failed++;
					storage += frc == BK_ERR_STORAGE;
				} else {
					forgot = true;
					nlog(LOG_INFO, pr.json || g.quiet ? NULL : stdout,
					     "[job %s]: %s %" PRIu64
					     " snapshot%s",
					     job->name,
					     pr.dry_run ? "would forget"
							: "forgot",
					     fr.snapshots,
					     fr.snapshots == 1 ? "" : "s");
				}
			} else {
				nlog(LOG_INFO, pr.json || g.quiet ? NULL : stdout,
				     "[job %s]: nothing to forget", job->name);
			}
			bk_prune_plan_release(&pl);
		}
		/* gc even when nothing was forgotten tonight: garbage of
		 * earlier nights may have passed the margin since */
		if (!repo_failed && !pr.dry_run && !pr.no_gc) {
			struct bk_gc_opts go;
			struct bk_gc_result gr;

			memset(&go, 0, sizeof(go));
			go.report = gc_report;
			rc = bk_gc(r, &go, &gr, &err);
			if (gr.pending_problem[0])
				nlog(LOG_WARNING, stderr,
				     "warning: gc of %s: gc/pending did not "
				     "open (%s): set aside; garbage counts from "
				     "now, which only delays its deletion",
				     nightly_repo_url(set, &set->jobs[j]),
				     gr.pending_problem);
			if (rc) {
				nlog(LOG_ERR, stderr, "gc of %s failed: %s",
				     nightly_repo_url(set, &set->jobs[j]),
				     err.msg);
				failed++;
				attempted++;
				storage += rc == BK_ERR_STORAGE;
			} else {
				char a[32], b[32];

				human_bytes(gr.bytes_before, a, sizeof(a));
				human_bytes(gr.bytes_after, b, sizeof(b));
				nlog(LOG_INFO, pr.json || g.quiet ? NULL : stdout,
				     "gc %s: %" PRIu64 " packs deleted, %" PRIu64
				     " repacked, %" PRIu64
				     " kept until the margin passes; data %s "
				     "-> %s",
				     nightly_repo_url(set, &set->jobs[j]),
				     gr.packs_deleted, gr.packs_repacked,
				     gr.packs_kept_recent, a, b);
				bk_buf_printf(&gcjs, &err,
					      "%s{\"repository\":",
					      gcjs.len ? "," : "");
				bk_buf_json_str(&gcjs,
						nightly_repo_url(set,
								 &set->jobs[j]),
						&err);
				bk_buf_printf(&gcjs, &err,
					      ",\"packs_deleted\":%" PRIu64
					      ",\"packs_repacked\":%" PRIu64
					      ",\"bytes_before\":%" PRIu64
					      ",\"bytes_after\":%" PRIu64 "}",
					      gr.packs_deleted,
					      gr.packs_repacked,
					      gr.bytes_before, gr.bytes_after);
			}
		}
		(void)forgot;
		free(v);
		bk_repo_close(r);
	}
	if (!failed)
		status = EXIT_OK;
	else if (failed < attempted)
		status = EXIT_PARTIAL;
	else
		status = storage == failed ? EXIT_STORAGE : EXIT_FAIL;
	ret = status;
	if (pr.json || (!pr.dry_run && bk_hook_command(set, status))) {
		/* the account: for --json, and for the hook */
		struct bk_buf all;
		struct bk_error err;

		bk_buf_init(&all, 512u << 20);
		if (bk_buf_printf(&all, &err,
				  "{\"message_type\":\"summary\",\"command\":"
				  "\"prune\",\"ok\":%s,\"exit\":%d,"
				  "\"dry_run\":%s,\"datasets\":[%s],\"gc\":[%s]}\n",
				  status ? "false" : "true", status,
				  pr.dry_run ? "true" : "false",
				  pr.js.data ? (const char *)pr.js.data : "",
				  gcjs.data ? (const char *)gcjs.data : "")) {
			msg("%s", err.msg);
			ret = EXIT_FAIL;
		} else {
			if (pr.json)
				fwrite(all.data, 1, all.len, stdout);
			fflush(stdout);
			if (!pr.dry_run)
				nightly_hook(set, "prune", status, all.data,
					     all.len);
		}
		bk_buf_release(&all);
	}
out:
	nightly_unlock(lockfd);
	nightly_log_close();
	bk_buf_release(&pr.js);
	bk_buf_release(&gcjs);
	free(chosen);
	free(done);
	bk_settings_free(set);
	bk_config_free(cfg);
	return ret;
}
