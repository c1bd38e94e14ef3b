/* SPDX-License-Identifier: MIT */
/* zbak backup: the nightly job (zbak(1) "backup"). */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "backup/clock.h"
#include "backup/buf.h"
#include "backup/zfs.h"
#include "cli.h"
#include "nightly.h"
#include "progress.h"

struct run {
	bool json, dry_run, progress_on;
	enum progress_mode pm;
	struct progress pg; /* of the snapshot being sent */
	struct bk_backup_result *v; /* every dataset's result */
	size_t n, cap;
	/* the snapshot being sent, for progress */
	char current[BK_REPO_NAME_MAX];
};

static const char *kind_name(enum bk_backup_kind k)
{
	return k == BK_BACKUP_FULL		? "full"
	       : k == BK_BACKUP_INCREMENTAL ? "incremental"
					    : "none";
}

static const char *status_name(enum bk_backup_status s)
{
	return s == BK_BACKUP_OK       ? "ok"
	       : s == BK_BACKUP_FAILED ? "failed"
				       : "skipped";
}

static void clear_progress(struct run *run)
{
	progress_clear(&run->pg);
}

/* No total: zfs send -nP could estimate one, but only at the cost of a
 * second send's planning per dataset; bytes and rate suffice. */
static void on_progress(void *ctx, uint64_t in, uint64_t stored)
{
	progress_cb_push(&((struct run *)ctx)->pg, in, stored);
}

static void on_start(void *ctx, const char *snapshot)
{
	struct run *run = ctx;

	snprintf(run->current, sizeof(run->current), "%s", snapshot);
	progress_start(&run->pg, run->pm, run->json, "backup", snapshot, 0);
}

static void on_warn(void *ctx, const char *line)
{
	clear_progress(ctx);
	nlog(LOG_WARNING, stderr, "warning: %s", line);
}

static void on_result(void *ctx, const struct bk_backup_result *res)
{
	struct run *run = ctx;
	char sent[32], stored[32], how[700];

	if (res->status == BK_BACKUP_OK && !run->dry_run)
		progress_part_done(&run->pg, res->bytes_sent);
	progress_end(&run->pg);
	if (run->n == run->cap) {
		size_t nc = run->cap ? run->cap * 2 : 16;
		struct bk_backup_result *nv = realloc(run->v, nc * sizeof(*nv));

		if (!nv) {
			msg("out of memory");
			exit(EXIT_FAIL);
		}
		run->v = nv;
		run->cap = nc;
	}
	run->v[run->n++] = *res;
	human_bytes(res->bytes_sent, sent, sizeof(sent));
	human_bytes(res->bytes_stored, stored, sizeof(stored));
	if (res->kind == BK_BACKUP_INCREMENTAL)
		snprintf(how, sizeof(how), "incremental from %s",
			 strchr(res->base, '@') ? strchr(res->base, '@')
						: res->base);
	else
		snprintf(how, sizeof(how), "full (%s)", res->reason);
	switch (res->status) {
	case BK_BACKUP_FAILED:
		nlog(LOG_ERR, stderr, "[job %s] %s failed: %s", res->job,
		     res->dataset, res->error);
		break;
	case BK_BACKUP_SKIPPED:
		nlog(LOG_INFO, NULL, "[job %s] %s: nothing to do: %s",
		     res->job, res->dataset, res->reason);
		if (!run->json && !g.quiet)
			printf("nothing to do for %s: %s\n", res->dataset,
			       res->reason);
		break;
	default:
		if (run->dry_run) {
			if (!run->json && !g.quiet)
				printf("would back up %s: %s\n", res->snapshot,
				       how);
			break;
		}
		nlog(LOG_INFO, NULL,
		     "[job %s] stored %s: %s, %s sent, %s stored, %.1f s",
		     res->job, res->snapshot, how, sent, stored, res->seconds);
		if (!run->json && !g.quiet)
			printf("stored %s: %s, %s sent, %s stored, %.1f s\n",
			       res->snapshot, how, sent, stored, res->seconds);
	}
	fflush(stdout);
}

/* The run's account, for --json and the hook, into b (initialized). */
static enum bk_code json_account(const struct run *run, int status,
				 struct bk_buf *b, struct bk_error *err)
{
	enum bk_code rc;

	/* message_type and command: the summary convention of zbak(1), JSON */
	rc = bk_buf_printf(b, err, "{\"message_type\":\"summary\","
				     "\"command\":\"backup\",\"ok\":%s,"
				     "\"exit\":%d,\"dry_run\":%s,\"datasets\":[",
			   status == EXIT_OK ? "true" : "false", status,
			   run->dry_run ? "true" : "false");
	for (size_t i = 0; !rc && i < run->n; i++) {
		const struct bk_backup_result *r = &run->v[i];

		rc = bk_buf_printf(b, err, "%s{\"job\":", i ? "," : "");
		if (!rc)
			rc = bk_buf_json_str(b, r->job, err);
		if (!rc)
			rc = bk_buf_printf(b, err, ",\"name\":");
		if (!rc)
			rc = bk_buf_json_str(b, r->dataset, err);
		if (!rc)
			rc = bk_buf_printf(b, err, ",\"snapshot\":");
		if (!rc && r->snapshot[0])
			rc = bk_buf_json_str(b, r->snapshot, err);
		else if (!rc)
			rc = bk_buf_printf(b, err, "null");
		if (!rc)
			rc = bk_buf_printf(b, err, ",\"base\":");
		if (!rc && r->base[0])
			rc = bk_buf_json_str(b, r->base, err);
		else if (!rc)
			rc = bk_buf_printf(b, err, "null");
		if (!rc)
			rc = bk_buf_printf(b, err,
					   ",\"kind\":\"%s\",\"status\":\"%s\","
					   "\"reason\":",
					   kind_name(r->kind),
					   status_name(r->status));
		if (!rc && r->reason[0])
			rc = bk_buf_json_str(b, r->reason, err);
		else if (!rc)
			rc = bk_buf_printf(b, err, "null");
		if (!rc)
			rc = bk_buf_printf(b, err, ",\"error\":");
		if (!rc && r->status == BK_BACKUP_FAILED)
			rc = bk_buf_json_str(b, r->error, err);
		else if (!rc)
			rc = bk_buf_printf(b, err, "null");
		if (!rc)
			rc = bk_buf_printf(b, err,
					   ",\"bytes_sent\":%" PRIu64
					   ",\"bytes_stored\":%" PRIu64
					   ",\"seconds\":%.3f}",
					   r->bytes_sent, r->bytes_stored,
					   r->seconds);
	}
	if (!rc)
		rc = bk_buf_printf(b, err, "]}\n");
	return rc;
}

/* --json, and the hook when one is set for how the run ended */
static int account(const struct run *run, const struct bk_settings *set,
		   int status)
{
	struct bk_buf b;
	struct bk_error err;
	enum bk_code rc;

	if (!run->json && (run->dry_run || !bk_hook_command(set, status)))
		return status;
	bk_buf_init(&b, 256u << 20);
	rc = json_account(run, status, &b, &err);
	if (!rc && run->json)
		fwrite(b.data, 1, b.len, stdout);
	if (!rc && !run->dry_run) {
		fflush(stdout);
		nightly_hook(set, "backup", status, b.data, b.len);
	}
	bk_buf_release(&b);
	if (rc) {
		msg("%s", err.msg);
		return EXIT_FAIL;
	}
	return status;
}

/* A job whose repository did not open: every dataset it names failed. */
static void job_failed(struct run *run, const struct bk_job *job,
		       uint64_t now, enum bk_code code, const char *why)
{
	/* no snapshot was taken: none is named */
	for (size_t d = 0; d < job->ndatasets; d++) {
		struct bk_backup_result res;

		memset(&res, 0, sizeof(res));
		snprintf(res.job, sizeof(res.job), "%s", job->name);
		snprintf(res.dataset, sizeof(res.dataset), "%s",
			 job->datasets[d]);
		res.status = BK_BACKUP_FAILED;
		res.code = code;
		snprintf(res.error, sizeof(res.error), "%s", why);
		res.finished = now;
		on_result(run, &res);
	}
}

/*
 * Exit status: 0 when nothing failed (skipped datasets count as done); 5
 * (partial) when some failed and others succeeded; when all failed, 4 if
 * each failure was the storage, else 1.
 */
static int run_status(const struct run *run)
{
	size_t failed = 0, storage = 0;

	for (size_t i = 0; i < run->n; i++)
		if (run->v[i].status == BK_BACKUP_FAILED) {
			failed++;
			storage += run->v[i].code == BK_ERR_STORAGE;
		}
	if (!failed)
		return EXIT_OK;
	if (failed < run->n)
		return EXIT_PARTIAL;
	return storage == failed ? EXIT_STORAGE : EXIT_FAIL;
}

static void write_metrics(const struct bk_settings *set, const struct run *run,
			  uint64_t now)
{
	struct bk_metric *m = calloc(run->n + 1, sizeof(*m));
	const char **jobs = calloc(set->njobs + 1, sizeof(*jobs));
	struct bk_error err;
	size_t k = 0;

	if (!m || !jobs) {
		nlog(LOG_ERR, stderr, "metrics: out of memory");
		goto out;
	}
	for (size_t i = 0; i < run->n; i++) {
		const struct bk_backup_result *r = &run->v[i];
		size_t at = 0;

		/* snapshots = existing sends several per dataset: one
		 * series each, the run's sums, failed if one failed */
		while (at < k && (strcmp(m[at].job, r->job) ||
				  strcmp(m[at].dataset, r->dataset)))
			at++;
		if (at < k) {
			m[at].ok = m[at].ok && r->status != BK_BACKUP_FAILED;
			m[at].last_success = m[at].ok ? now : 0;
			m[at].duration += r->seconds;
			m[at].sent += r->bytes_sent;
			m[at].stored += r->bytes_stored;
			continue;
		}
		snprintf(m[k].job, sizeof(m[k].job), "%s", r->job);
		snprintf(m[k].dataset, sizeof(m[k].dataset), "%s", r->dataset);
		m[k].ok = r->status != BK_BACKUP_FAILED;
		m[k].last_success = m[k].ok ? now : 0;
		m[k].last_run = now;
		m[k].duration = r->seconds;
		m[k].sent = r->bytes_sent;
		m[k].stored = r->bytes_stored;
		k++;
	}
	for (size_t j = 0; j < set->njobs; j++)
		jobs[j] = set->jobs[j].name;
	if (bk_metrics_update(set->metrics_file, m, k, jobs, set->njobs, &err))
		nlog(LOG_ERR, stderr, "cannot write the metrics: %s", err.msg);
out:
	free(m);
	free(jobs);
}

/*
 * The send flags of each chosen job against what this zfs's send takes
 * (learned once): one set in the config that it lacks is a config error
 * (exit 2, before anything happens); the default's missing ones are left
 * out, and that is said once.  Without a zfs command nothing is decided
 * here: every dataset fails with that reason.
 */
static int resolve_send_flags(struct bk_settings *set, const bool *chosen,
			      const char *path)
{
	struct bk_zfs_caps caps;
	struct bk_error err;
	char dropped[32];
	bool said = false;

	if (bk_zfs_caps(&caps, &err))
		return EXIT_OK;
	for (size_t j = 0; j < set->njobs; j++) {
		unsigned f;

		if (!chosen[j])
			continue;
		if (bk_job_send_flags(&set->jobs[j], &caps, &f, dropped,
				      sizeof(dropped), &err)) {
			nlog(LOG_ERR, stderr, "%s: %s", path, err.msg);
			return EXIT_USAGE;
		}
		set->jobs[j].send_flags = f;
		if (dropped[0] && !said) {
			nlog(LOG_WARNING, stderr,
			     "warning: %s send does not take %s (of the "
			     "default send_flags): sending without them",
			     bk_zfs_command(), dropped);
			said = true;
		}
	}
	return EXIT_OK;
}

int cmd_backup(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'C' },
		{ "json", no_argument, NULL, 'j' },
		{ "dry-run", no_argument, NULL, 'n' },
		PROGRESS_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	const struct cmd *self = find_cmd("backup");
	const char *config = NULL;
	struct nightly nt = { .lockfd = -1 };
	struct run run;
	int c, ret;

	memset(&run, 0, sizeof(run));
	optind = 0;
	while ((c = getopt_long(argc, argv, "n", longopts, NULL)) != -1) {
		switch (c) {
		case 'C': config = optarg; break;
		case 'j': run.json = true; break;
		case 'n': run.dry_run = true; break;
		case PROGRESS_OPT_ON: run.pm = PROGRESS_ON; break;
		case PROGRESS_OPT_OFF: run.pm = PROGRESS_OFF; break;
		default: return usage_error(self, NULL);
		}
	}
	if ((ret = nightly_begin(config, argc - optind, argv + optind, run.json,
				 run.dry_run, &nt)))
		goto out;
	if ((ret = resolve_send_flags(nt.set, nt.chosen, nt.path)))
		goto out;
	run.progress_on = progress_wanted(run.pm);
	if (!run.dry_run)
		nlog(LOG_INFO, NULL, "backup started (%s)", nt.path);

	/* jobs that share a repository share one open of it */
	for (size_t j = 0; j < nt.set->njobs; j++) {
		struct bk_repo *r = NULL;
		struct bk_error err;
		enum bk_code rc;

		if (!nt.chosen[j] || nt.done[j])
			continue;
		rc = nightly_open_repo(nt.set, &nt.set->jobs[j], nt.cfg, &r,
				       &err);
		for (size_t k = j; k < nt.set->njobs; k++) {
			struct bk_backup_opts o;

			if (!nt.chosen[k] || nt.done[k] ||
			    (k != j &&
			     !nightly_same_repo(nt.set, &nt.set->jobs[j],
						&nt.set->jobs[k])))
				continue;
			nt.done[k] = true;
			if (rc) {
				job_failed(&run, &nt.set->jobs[k], nt.now, rc,
					   err.msg);
				continue;
			}
			memset(&o, 0, sizeof(o));
			o.now = nt.now;
			o.dry_run = run.dry_run;
			o.progress = run.progress_on ? on_progress : NULL;
			o.progress_ctx = &run;
			o.starting = on_start;
			o.warn = on_warn;
			o.warn_ctx = &run;
			o.result = on_result;
			o.result_ctx = &run;
			bk_backup_job(r, &nt.set->jobs[k], &o);
		}
		bk_repo_close(r);
	}
	ret = run_status(&run);
	if (!run.dry_run && nt.set->metrics_file[0])
		write_metrics(nt.set, &run, nt.now);
	if (!run.dry_run)
		nlog(ret ? LOG_ERR : LOG_INFO, NULL,
		     "backup finished: %zu datasets, exit %d", run.n, ret);
	ret = account(&run, nt.set, ret);
out:
	nightly_end(&nt);
	free(run.v);
	return ret;
}
