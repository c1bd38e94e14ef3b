/* SPDX-License-Identifier: MIT */
/* zbak verify */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

static void report(void *ctx, const char *problem)
{
	(void)ctx;
	fprintf(stderr, "problem: %s\n", problem);
}

static void warn(void *ctx, const char *line)
{
	(void)ctx;
	fprintf(stderr, "warning: %s\n", line);
}

int cmd_verify(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "read-data", optional_argument, NULL, 'd' },
		{ NULL, 0, NULL, 0 },
	};
	const struct cmd *self = find_cmd("verify");
	struct bk_verify_opts o = { .report = report, .warn = warn };
	struct bk_verify_result res;
	struct bk_repo *r = NULL;
	struct bk_error err;
	enum bk_code rc;
	int c, ret;

	optind = 0;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (c == 'd') {
			char pct[32];
			size_t n = optarg ? strlen(optarg) : 0;
			uint64_t p = 100;

			/* "--read-data 10" as well as "--read-data=10": the
			 * next word, when it is a percentage (verify takes
			 * no arguments of its own) */
			if (!optarg && optind < argc && argv[optind][0] >= '0' &&
			    argv[optind][0] <= '9') {
				optarg = argv[optind++];
				n = strlen(optarg);
			}
			/* "--read-data=10" or "--read-data=10%" */
			if (n && optarg[n - 1] == '%')
				n--;
			if (optarg) {
				const char *num = optarg; /* too long: as is */

				if (n < sizeof(pct)) {
					memcpy(pct, optarg, n);
					pct[n] = '\0';
					num = pct;
				}
				if ((ret = parse_number("--read-data", num, 1,
							100, &p)))
					return ret;
			}
			o.read_data_percent = (unsigned)p;
		} else {
			return usage_error(self, NULL);
		}
	}
	if (optind != argc)
		return usage_error(self, "verify takes no arguments");
	ret = open_repo(&r);
	if (ret)
		return ret;
	rc = bk_verify(r, &o, &res, &err);
	if (!g.quiet)
		printf("%" PRIu64 " snapshots, %" PRIu64 " indexes, %" PRIu64
		       " packs, %" PRIu64 " chunks checked; %" PRIu64
		       " packs (%" PRIu64 " chunks) read and authenticated; "
		       "%" PRIu64 " problems\n",
		       res.snapshots, res.indexes, res.packs, res.chunks,
		       res.packs_read, res.chunks_read, res.problems);
	/* not damage: a warning, which alone does not change the exit */
	if (!g.quiet && res.unindexed_packs)
		printf("%" PRIu64 " packs are in no index (left by a push "
		       "that did not finish): unused, garbage for a later "
		       "collection; a warning, not a problem\n",
		       res.unindexed_packs);
	if (rc) {
		msg("verify failed: %s", err.msg);
		ret = exit_for(rc);
	} else {
		ret = EXIT_OK;
	}
	bk_repo_close(r);
	return ret;
}
