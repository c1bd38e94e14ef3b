/* SPDX-License-Identifier: MIT */
/* zbak forget */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>

#include "backup/buf.h"
#include "cli.h"
#include "progress.h"

static int print_json(const struct bk_forget_result *res, bool dry,
		      char **names, int n)
{
	struct bk_buf b;
	struct bk_error err;
	enum bk_code rc = json_begin(&b, "forget", EXIT_OK);

	if (!rc)
		rc = bk_buf_printf(&b, &err,
				   ",\"dry_run\":%s,\"snapshots\":%" PRIu64
				   ",\"recipes\":%" PRIu64
				   ",\"already_forgotten\":%" PRIu64 ",\"names\":[",
				   dry ? "true" : "false", res->snapshots,
				   res->recipes, res->already);
	for (int i = 0; !rc && i < n; i++) {
		if (i)
			rc = bk_buf_printf(&b, &err, ",");
		if (!rc)
			rc = bk_buf_json_str(&b, names[i], &err);
	}
	if (!rc)
		rc = bk_buf_printf(&b, &err, "]");
	return json_end(&b, rc, stdout, EXIT_OK);
}

int cmd_forget(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "dry-run", no_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	bool json = false;
	const struct cmd *self = find_cmd("forget");
	struct bk_forget_result res;
	struct bk_repo *r = NULL;
	struct bk_error err;
	enum bk_code rc;
	bool dry = false;
	int c, ret;

	optind = 0;
	while ((c = getopt_long(argc, argv, "n", longopts, NULL)) != -1) {
		if (c == 'j')
			json = true;
		else if (c == 'n')
			dry = true;
		else
			return usage_error(self, NULL);
	}
	if (optind >= argc)
		return usage_error(self, "forget takes one or more snapshots");
	if ((ret = open_repo(&r))) {
		if (json)
			json_failure(stdout, "forget", ret, NULL);
		return ret;
	}
	if (!dry && (ret = need_admin(r, "forget deletes manifests"))) {
		bk_repo_close(r);
		if (json)
			json_failure(stdout, "forget", ret, NULL);
		return ret;
	}
	rc = bk_forget(r, (const char *const *)argv + optind,
		       (size_t)(argc - optind), dry, &res, &err);
	bk_repo_close(r);
	if (rc) {
		msg("%s", err.msg);
		if (json)
			return json_failure(stdout, "forget", exit_for(rc),
					    err.msg);
		return exit_for(rc);
	}
	if (json)
		return print_json(&res, dry, argv + optind, argc - optind);
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
