/* SPDX-License-Identifier: MIT */
/* zbak repair: a new index from the packs; broken snapshots named. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>

#include "cli.h"

static void report(void *ctx, const char *line)
{
	(void)ctx;
	if (!g.quiet)
		printf("%s\n", line);
}

int cmd_repair(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "dry-run", no_argument, NULL, 'n' },
		{ "read-data", no_argument, NULL, 'd' },
		{ NULL, 0, NULL, 0 },
	};
	const struct cmd *self = find_cmd("repair");
	struct bk_repair_opts o = { 0 };
	struct bk_repair_result res;
	struct bk_repo *r = NULL;
	struct bk_error err;
	enum bk_code rc;
	int c, ret;

	optind = 0;
	while ((c = getopt_long(argc, argv, "n", longopts, NULL)) != -1) {
		switch (c) {
		case 'n': o.dry_run = true; break;
		case 'd': o.read_data = true; break;
		default: return usage_error(self, NULL);
		}
	}
	if (optind != argc)
		return usage_error(self, "repair takes no arguments");
	if ((ret = open_repo(&r)))
		return ret;
	if (!o.dry_run && (ret = need_admin(r, "repair rewrites the index"))) {
		bk_repo_close(r);
		return ret;
	}
	o.report = report;
	rc = bk_repair(r, &o, &res, &err);
	bk_repo_close(r);
	if (!g.quiet && (!rc || rc == BK_ERR_MISSING))
		printf("%s: %" PRIu64 " packs (%" PRIu64 " unreadable), %" PRIu64
		       " chunks indexed (%" PRIu64 " damaged, left out); "
		       "index objects %" PRIu64 " -> %" PRIu64 "; %" PRIu64
		       " snapshots, %" PRIu64 " broken\n",
		       o.dry_run ? "repair (dry run)" : "repair", res.packs,
		       res.packs_unreadable, res.chunks, res.chunks_damaged,
		       res.indexes_before, res.indexes_after, res.snapshots,
		       res.snapshots_broken);
	if (rc) {
		msg("%s", err.msg);
		return exit_for(rc);
	}
	return EXIT_OK;
}
