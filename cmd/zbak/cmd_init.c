/* SPDX-License-Identifier: MIT */
/* zbak init, zbak key passwd */
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
	if (get_passphrase("ZBAK_PASSPHRASE", passphrase_file(), true,
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
	memset(&s, 0, sizeof(s));
	if (get_passphrase("ZBAK_NEW_PASSPHRASE", newfile, true,
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
