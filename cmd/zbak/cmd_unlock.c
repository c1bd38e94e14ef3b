/* SPDX-License-Identifier: MIT */
/* zbak unlock: remove the locks of zbak processes that are gone. */
#include <getopt.h>
#include <stdio.h>

#include "cli.h"

static void report(void *ctx, const char *line)
{
	(void)ctx;
	if (!g.quiet)
		printf("%s\n", line);
}

int cmd_unlock(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "remove-all", no_argument, NULL, 'a' },
		{ NULL, 0, NULL, 0 },
	};
	const struct cmd *self = find_cmd("unlock");
	struct bk_unlock_result res;
	struct bk_repo *r = NULL;
	struct bk_error err;
	enum bk_code rc;
	bool all = false;
	int c, ret;

	optind = 0;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (c != 'a')
			return usage_error(self, NULL);
		all = true;
	}
	if (optind != argc)
		return usage_error(self, "unlock takes no arguments");
	if ((ret = open_repo(&r)))
		return ret;
	if ((ret = need_admin(r, "unlock deletes locks (a host ends its "
				 "own when it lets go; an admin's gc "
				 "removes them)"))) {
		bk_repo_close(r);
		return ret;
	}
	rc = bk_repo_unlock(r, all, report, NULL, &res, &err);
	bk_repo_close(r);
	if (rc) {
		msg("%s", err.msg);
		return exit_for(rc);
	}
	if (!g.quiet)
		printf("%zu lock%s removed, %zu kept\n", res.removed,
		       res.removed == 1 ? "" : "s", res.kept);
	return EXIT_OK;
}
