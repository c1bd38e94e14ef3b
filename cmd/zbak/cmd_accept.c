/* SPDX-License-Identifier: MIT */
/* zbak accept-changes: this machine accepts the repository as it is now. */
#include <stdio.h>

#include "cli.h"

static void report(void *ctx, const char *line)
{
	(void)ctx;
	printf("%s\n", line);
}

int cmd_accept(int argc, char **argv)
{
	const struct cmd *self = find_cmd("accept-changes");
	struct bk_repo *r = NULL;
	struct bk_error err;
	enum bk_code rc;
	size_t n = 0;
	int ret;

	if (argc != 1)
		return usage_error(self, "%s takes no arguments", argv[0]);
	if ((ret = open_repo(&r)))
		return ret;
	bk_repo_set_warn(r, report, NULL);
	rc = bk_repo_accept_changes(r, &n, &err);
	bk_repo_close(r);
	if (rc) {
		msg("%s", err.msg);
		return exit_for(rc);
	}
	if (g.quiet)
		return EXIT_OK;
	if (n)
		printf("%zu change%s accepted: this machine takes the "
		       "repository as it is now\n",
		       n, n == 1 ? "" : "s");
	else
		printf("nothing to accept: the repository is as this machine "
		       "saw it\n");
	return EXIT_OK;
}
