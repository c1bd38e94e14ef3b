/* SPDX-License-Identifier: MIT */
/* zbak init */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
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
		{ "format", required_argument, NULL, 'f' },
		{ "cipher", required_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 },
	};
	bool append_only = false, cipher_set = false;
	struct bk_repo_format fmt;
	char *end;
	int c;

	bk_repo_format_default(&fmt);
	optind = 0;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'a':
			append_only = true;
			break;
		case 'f':
			fmt.version = (unsigned)strtoul(optarg, &end, 10);
			if (*end || end == optarg ||
			    fmt.version < BK_FORMAT_MIN ||
			    fmt.version > BK_FORMAT_MAX)
				return usage_error(self,
						   "--format takes %d to %d, "
						   "not '%s'",
						   BK_FORMAT_MIN,
						   BK_FORMAT_MAX, optarg);
			break;
		case 'c':
			fmt.seal = bk_seal_parse(optarg);
			if (!fmt.seal)
				return usage_error(self,
						   "--cipher takes aes-256-gcm "
						   "or xchacha20-poly1305, "
						   "not '%s'",
						   optarg);
			cipher_set = true;
			break;
		default:
			return usage_error(self, NULL);
		}
	}
	/* format 1 has one cipher: the default follows the format */
	if (fmt.version == 1 && !cipher_set)
		fmt.seal = BK_SEAL_XCHACHA20POLY1305;
	else if (fmt.version == 1 && fmt.seal != BK_SEAL_XCHACHA20POLY1305)
		return usage_error(self, "format 1 seals only with "
				   "xchacha20-poly1305");
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
	rc = bk_repo_init_format(url, cfg, s.buf, s.len, NULL, append_only,
				 &fmt, &err);
	secret_wipe(&s);
	bk_config_free(cfg);
	if (rc) {
		msg("%s", err.msg);
		return exit_for(rc);
	}
	if (!g.quiet)
		printf("created %srepository %s (format %u, %s)\n"
		       "keep the passphrase safe: without it the backups "
		       "cannot be read\n",
		       append_only ? "append-only " : "", url, fmt.version,
		       bk_seal_name(fmt.seal));
	return EXIT_OK;
}
