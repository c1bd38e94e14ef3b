/* SPDX-License-Identifier: MIT */
/* zbak init */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

int cmd_init(int argc, char **argv)
{
	const struct cmd *self = find_cmd("init");
	const char *url;
	struct bk_config *cfg = NULL;
	struct secret s;
	int ret;
	struct bk_error err;
	enum bk_code rc;

	if (argc != 1)
		return usage_error(self, "init takes no arguments, not '%s'",
				   argv[1]);
	url = repo_url();
	if (!url)
		return EXIT_USAGE;
	memset(&s, 0, sizeof(s));
	/* never empty: get_passphrase refuses that */
	if (get_passphrase("ZBAK_PASSPHRASE", passphrase_file(),
			   passphrase_command(), true,
			   "new repository passphrase", &s))
		return EXIT_USAGE;
	ret = load_config(&cfg);
	if (ret) {
		secret_wipe(&s);
		return ret;
	}
	rc = bk_repo_init_config(url, cfg, s.buf, s.len, NULL, &err);
	secret_wipe(&s);
	bk_config_free(cfg);
	if (rc) {
		msg("%s", err.msg);
		return exit_for(rc);
	}
	if (!g.quiet)
		printf("created repository %s\n"
		       "keep the passphrase safe: without it the backups "
		       "cannot be read\n",
		       url);
	return EXIT_OK;
}
