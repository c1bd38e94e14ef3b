/* SPDX-License-Identifier: MIT */
/* zbak gc */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backup/buf.h"
#include "cli.h"
#include "progress.h"

/* What gc does, one line each: printed, or with --json kept for the
 * object's "actions" (stdout holds one JSON object and nothing else). */
static void report(void *ctx, const char *line)
{
	struct bk_buf *js = ctx;
	struct bk_error err;

	if (!js) {
		printf("%s\n", line);
		return;
	}
	if (js->len)
		bk_buf_printf(js, &err, ",");
	bk_buf_json_str(js, line, &err);
}

static int print_json(const struct bk_gc_result *res, bool dry_run,
		      const struct bk_buf *actions)
{
	struct bk_buf b;
	struct bk_error err;
	enum bk_code rc = json_begin(&b, "gc", EXIT_OK);

	if (!rc)
		rc = bk_buf_printf(
			&b, &err,
			",\"dry_run\":%s,\"packs\":%" PRIu64
			",\"packs_deleted\":%" PRIu64 ",\"packs_repacked\":%" PRIu64
			",\"packs_kept_recent\":%" PRIu64
			",\"packs_unindexed\":%" PRIu64
			",\"unindexed_deleted\":%" PRIu64
			",\"chunks_live\":%" PRIu64 ",\"chunks_deleted\":%" PRIu64
			",\"recipes_deleted\":%" PRIu64
			",\"temporary_deleted\":%" PRIu64
			",\"indexes_before\":%" PRIu64 ",\"indexes_after\":%" PRIu64
			",\"bytes_before\":%" PRIu64 ",\"bytes_after\":%" PRIu64
			",\"actions\":[%.*s],\"warnings\":[",
			dry_run ? "true" : "false", res->packs,
			res->packs_deleted, res->packs_repacked,
			res->packs_kept_recent, res->packs_unindexed,
			res->unindexed_deleted, res->chunks_live,
			res->chunks_deleted, res->recipes_deleted,
			res->temporary_deleted, res->indexes_before,
			res->indexes_after, res->bytes_before, res->bytes_after,
			(int)actions->len,
			actions->len ? (char *)actions->data : "");
	if (!rc && res->pending_problem[0])
		rc = bk_buf_json_str(&b, res->pending_problem, &err);
	if (!rc)
		rc = bk_buf_printf(&b, &err, "]");
	return json_end(&b, rc, stdout, EXIT_OK);
}

int cmd_gc(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "dry-run", no_argument, NULL, 'n' },
		{ "margin", required_argument, NULL, 'm' },
		{ "repack", required_argument, NULL, 'p' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	struct bk_buf actions;
	bool json = false;
	const struct cmd *self = find_cmd("gc");
	struct bk_gc_opts o = { 0 };
	struct bk_gc_result res;
	struct bk_repo *r = NULL;
	struct bk_error err;
	enum bk_code rc;
	bool verbose = false;
	uint64_t n;
	int c, ret;
	char a[32], b[32];

	optind = 0;
	while ((c = getopt_long(argc, argv, "nv", longopts, NULL)) != -1) {
		switch (c) {
		case 'n': o.dry_run = true; break;
		case 'v': verbose = true; break;
		case 'j': json = true; break;
		case 'm':
			if ((ret = parse_number("--margin", optarg, 0,
						GC_MARGIN_MAX, &n)))
				return ret;
			o.margin_seconds = n;
			o.margin_set = true; /* 0: at once */
			break;
		case 'p':
			/* 0 would be the library's "default" (50) */
			if ((ret = parse_number("--repack", optarg, 1, 100, &n)))
				return ret;
			o.repack_percent = (unsigned)n;
			break;
		default: return usage_error(self, NULL);
		}
	}
	if (optind != argc)
		return usage_error(self, "gc takes no arguments");
	if ((ret = open_repo(&r))) {
		if (json)
			json_failure(stdout, "gc", ret, NULL);
		return ret;
	}
	if (!o.dry_run &&
	    (ret = need_admin(r, "gc deletes what no snapshot needs"))) {
		bk_repo_close(r);
		if (json)
			json_failure(stdout, "gc", ret, NULL);
		return ret;
	}
	bk_buf_init(&actions, 64u << 20);
	if (verbose || o.dry_run || json) {
		o.report = report;
		o.report_ctx = json ? &actions : NULL;
	}
	rc = bk_gc(r, &o, &res, &err);
	bk_repo_close(r);
	if (res.pending_problem[0])
		msg("warning: gc/pending did not open (%s): set aside; garbage "
		    "counts from now, which only delays its deletion",
		    res.pending_problem);
	if (rc) {
		msg("%s", err.msg);
		bk_buf_release(&actions);
		if (json)
			return json_failure(stdout, "gc", exit_for(rc),
					    err.msg);
		return exit_for(rc);
	}
	if (json) {
		ret = print_json(&res, o.dry_run, &actions);
		bk_buf_release(&actions);
		return ret;
	}
	bk_buf_release(&actions);
	if (!g.quiet) {
		human_bytes(res.bytes_before, a, sizeof(a));
		human_bytes(res.bytes_after, b, sizeof(b));
		printf("%s: %" PRIu64 " packs, %" PRIu64 " deleted, %" PRIu64
		       " repacked, %" PRIu64 " kept until the margin passes; "
		       "%" PRIu64 " live chunks, %" PRIu64 " garbage; "
		       "%" PRIu64 " recipe segments and %" PRIu64
		       " temporaries removed; indexes %" PRIu64 " -> %" PRIu64
		       "; data %s -> %s\n",
		       o.dry_run ? "gc (dry run)" : "gc", res.packs,
		       res.packs_deleted, res.packs_repacked,
		       res.packs_kept_recent, res.chunks_live,
		       res.chunks_deleted, res.recipes_deleted,
		       res.temporary_deleted, res.indexes_before,
		       res.indexes_after, a, b);
		if (res.packs_unindexed)
			printf("%s: %" PRIu64 " of the packs %s in no index "
			       "(left by pushes that did not finish): %" PRIu64
			       " %s\n",
			       o.dry_run ? "gc (dry run)" : "gc",
			       res.packs_unindexed, o.dry_run ? "are" : "were",
			       res.unindexed_deleted,
			       o.dry_run ? "would be deleted" : "deleted");
		if (res.leftovers_deleted)
			printf("%s: %" PRIu64 " forgotten manifest%s still "
			       "there %s\n",
			       o.dry_run ? "gc (dry run)" : "gc",
			       res.leftovers_deleted,
			       res.leftovers_deleted == 1 ? "" : "s",
			       o.dry_run ? "would be deleted" : "deleted");
		if (res.lock_checked)
			printf("%s: Object Lock: %" PRIu64 " garbage object%s "
			       "kept until %s retention ends; retention of "
			       "%" PRIu64 " of %" PRIu64 " live objects %s\n",
			       o.dry_run ? "gc (dry run)" : "gc", res.retained,
			       res.retained == 1 ? "" : "s",
			       res.retained == 1 ? "its" : "their",
			       res.extended, res.lock_checked,
			       o.dry_run ? "would be extended" : "extended");
	}
	return EXIT_OK;
}
