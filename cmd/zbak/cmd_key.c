/* SPDX-License-Identifier: MIT */
/* zbak key passwd */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

int cmd_key(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "new-passphrase-file", required_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 },
	};
	const struct cmd *self = find_cmd("key");
	const char *newfile = NULL;
	struct bk_repo *r = NULL;
	struct secret s;
	struct bk_error err;
	enum bk_code rc;
	int c, ret;

	optind = 0;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (c == 'n')
			newfile = optarg;
		else
			return usage_error(self, NULL);
	}
	if (optind != argc - 1 || strcmp(argv[optind], "passwd") != 0)
		return usage_error(self, "the key command knows 'passwd'");
	ret = open_repo(&r);
	if (ret)
		return ret;
	if ((ret = need_admin(r, "key passwd rewrites the keys object"))) {
		bk_repo_close(r);
		return ret;
	}
	memset(&s, 0, sizeof(s));
	if (get_passphrase("ZBAK_NEW_PASSPHRASE", newfile, NULL, true,
			   "new passphrase", &s)) {
		bk_repo_close(r);
		return EXIT_USAGE;
	}
	rc = bk_repo_passwd(r, s.buf, s.len, NULL, &err);
	secret_wipe(&s);
	bk_repo_close(r);
	if (rc) {
		msg("%s", err.msg);
		return exit_for(rc);
	}
	if (!g.quiet)
		printf("passphrase changed\n");
	return EXIT_OK;
}
