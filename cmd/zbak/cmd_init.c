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

	static const struct option longopts[] = {
		{ "append-only", no_argument, NULL, 'a' },
		{ NULL, 0, NULL, 0 },
	};
	bool append_only = false;
	int c;

	optind = 0;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (c != 'a')
			return usage_error(self, NULL);
		append_only = true;
	}
	if (optind != argc)
		return usage_error(self, "init takes no arguments, not '%s'",
				   argv[optind]);
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
	rc = bk_repo_init_mode(url, cfg, s.buf, s.len, NULL, append_only, &err);
	secret_wipe(&s);
	bk_config_free(cfg);
	if (rc) {
		msg("%s", err.msg);
		return exit_for(rc);
	}
	if (!g.quiet)
		printf("created %srepository %s\n"
		       "keep the passphrase safe: without it the backups "
		       "cannot be read\n",
		       append_only ? "append-only " : "", url);
	return EXIT_OK;
}
