/* SPDX-License-Identifier: MIT */
/* zbak config: the repository's settings (docs/repository.md, "Append-only"). */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static int yes_no(const char *v, bool *out)
{
	if (!strcmp(v, "yes") || !strcmp(v, "on") || !strcmp(v, "true") ||
	    !strcmp(v, "1"))
		*out = true;
	else if (!strcmp(v, "no") || !strcmp(v, "off") ||
		 !strcmp(v, "false") || !strcmp(v, "0"))
		*out = false;
	else
		return -1;
	return 0;
}

int cmd_config(int argc, char **argv)
{
	const struct cmd *self = find_cmd("config");
	struct bk_repo *r = NULL;
	struct bk_error err;
	enum bk_code rc;
	bool on;
	int ret;

	if (argc > 3)
		return usage_error(self, "config takes a setting and a value");
	if (argc >= 2 && strcmp(argv[1], "append_only") != 0)
		return usage_error(self,
				   "unknown setting '%s' (the one there is: "
				   "append_only)",
				   argv[1]);
	if (argc == 3 && yes_no(argv[2], &on))
		return usage_error(self, "append_only: give yes or no, not '%s'",
				   argv[2]);
	if ((ret = open_repo(&r)))
		return ret;
	if (argc < 3) {
		printf("append_only %s\n", bk_repo_append_only(r) ? "yes" : "no");
		bk_repo_close(r);
		return EXIT_OK;
	}
	/* switching it off is a delete of protection: an admin's */
	if (!on && (ret = need_admin(r, "turning append_only off"))) {
		bk_repo_close(r);
		return ret;
	}
	rc = bk_repo_set_append_only(r, on, &err);
	bk_repo_close(r);
	if (rc) {
		msg("%s", err.msg);
		return exit_for(rc);
	}
	if (!g.quiet)
		printf("append_only %s\n", on ? "yes" : "no");
	return EXIT_OK;
}
