/* SPDX-License-Identifier: MIT */
/* zbak forget */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>

#include "cli.h"

int cmd_forget(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "dry-run", no_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 },
	};
	const struct cmd *self = find_cmd("forget");
	struct bk_forget_result res;
	struct bk_repo *r = NULL;
	struct bk_error err;
	enum bk_code rc;
	bool dry = false;
	int c, ret;

	optind = 0;
	while ((c = getopt_long(argc, argv, "n", longopts, NULL)) != -1) {
		if (c != 'n')
			return usage_error(self, NULL);
		dry = true;
	}
	if (optind >= argc)
		return usage_error(self, "forget takes one or more snapshots");
	if ((ret = open_repo(&r)))
		return ret;
	if (!dry && (ret = need_admin(r, "forget deletes manifests"))) {
		bk_repo_close(r);
		return ret;
	}
	rc = bk_forget(r, (const char *const *)argv + optind,
		       (size_t)(argc - optind), dry, &res, &err);
	bk_repo_close(r);
	if (rc) {
		msg("%s", err.msg);
		return exit_for(rc);
	}
	if (!g.quiet && res.already)
		printf("%" PRIu64 " of them forgotten already (a forget "
		       "finished now)\n",
		       res.already);
	if (!g.quiet)
		printf("%s %" PRIu64 " snapshot%s (%" PRIu64
		       " recipe segments); zbak gc frees their data\n",
		       dry ? "would forget" : "forgot", res.snapshots,
		       res.snapshots == 1 ? "" : "s", res.recipes);
	if (!g.quiet && res.retained)
		printf("%" PRIu64 " of their objects stay under Object Lock "
		       "retention (they count as forgotten; gc deletes them "
		       "when it ends)\n",
		       res.retained);
	return EXIT_OK;
}
