/* SPDX-License-Identifier: MIT */
/* zbak ls */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backup/buf.h"
#include "backup/chain.h"
#include "cli.h"

static void when(uint64_t t, char *out, size_t n)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!gmtime_r(&tt, &tm) || !strftime(out, n, "%Y-%m-%d %H:%M", &tm))
		snprintf(out, n, "%" PRIu64, t);
}

static int print_json(const struct bk_snapshot *v, size_t n)
{
	struct bk_buf b;
	struct bk_error err;
	enum bk_code rc;

	bk_buf_init(&b, 1u << 30);
	rc = bk_buf_printf(&b, &err, "[");
	for (size_t i = 0; !rc && i < n; i++) {
		char dig[2 * BK_ID_LEN + 1], name[BK_REPO_NAME_MAX];

		bk_id_hex(&v[i].digest, dig);
		snprintf(name, sizeof(name), "%s@%s", v[i].dataset, v[i].snap);
		rc = bk_buf_printf(&b, &err, "%s{\"name\":", i ? "," : "");
		if (!rc)
			rc = bk_buf_json_str(&b, name, &err);
		if (!rc)
			rc = bk_buf_printf(&b, &err, ",\"dataset\":");
		if (!rc)
			rc = bk_buf_json_str(&b, v[i].dataset, &err);
		if (!rc)
			rc = bk_buf_printf(&b, &err, ",\"snapshot\":");
		if (!rc)
			rc = bk_buf_json_str(&b, v[i].snap, &err);
		if (!rc)
			rc = bk_buf_printf(&b, &err, ",\"parent\":");
		if (!rc && v[i].parent[0])
			rc = bk_buf_json_str(&b, v[i].parent, &err);
		else if (!rc)
			rc = bk_buf_printf(&b, &err, "null");
		if (!rc)
			rc = bk_buf_printf(
				&b, &err,
				",\"toguid\":\"%016" PRIx64
				"\",\"fromguid\":\"%016" PRIx64
				"\",\"creation_time\":%" PRIu64
				",\"pushed_at\":%" PRIu64
				",\"stream_bytes\":%" PRIu64
				",\"stored_bytes\":%" PRIu64
				",\"chunks\":%" PRIu64 ",\"substreams\":%" PRIu32
				",\"compound\":%s,\"digest\":\"%s\"}",
				v[i].toguid, v[i].fromguid, v[i].creation_time,
				v[i].pushed_at, v[i].stream_bytes,
				v[i].new_bytes, v[i].chunks, v[i].substreams,
				v[i].compound ? "true" : "false", dig);
	}
	if (!rc)
		rc = bk_buf_printf(&b, &err, "]\n");
	if (!rc)
		fwrite(b.data, 1, b.len, stdout);
	bk_buf_release(&b);
	if (rc)
		msg("%s", err.msg);
	return rc ? EXIT_FAIL : EXIT_OK;
}

/* Whether snapshot x is one the arguments ask for: its dataset, or it by
 * its whole name. */
static bool wanted(const struct bk_snapshot *x, char **args, int nargs)
{
	char name[BK_REPO_NAME_MAX];

	if (nargs == 0)
		return true;
	snprintf(name, sizeof(name), "%s@%s", x->dataset, x->snap);
	for (int i = 0; i < nargs; i++)
		if (!strcmp(args[i], x->dataset) || !strcmp(args[i], name))
			return true;
	return false;
}

int cmd_ls(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	const struct cmd *self = find_cmd("ls");
	struct bk_repo *r = NULL;
	struct bk_snapshot *v = NULL;
	struct bk_error err;
	size_t n = 0;
	bool json = false;
	enum bk_code rc;
	int c, ret;

	optind = 0;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (c == 'j')
			json = true;
		else
			return usage_error(self, NULL);
	}
	ret = open_repo(&r);
	if (ret)
		return ret;
	rc = bk_list(r, &v, &n, &err);
	if (rc && !v && n == 0 && rc == BK_ERR_NOMEM) {
		msg("%s", err.msg);
		ret = exit_for(rc);
		goto out;
	}
	/* only the datasets (or snapshots) named, in the same order */
	{
		size_t k = 0;

		for (size_t i = 0; i < n; i++)
			if (wanted(&v[i], argv + optind, argc - optind))
				v[k++] = v[i];
		n = k;
	}
	if (json)
		ret = print_json(v, n);
	else if (n == 0 && !rc && !g.quiet && optind == argc)
		fprintf(stderr, "no snapshots in %s\n", repo_url());
	else if (n == 0 && !rc && !g.quiet)
		fprintf(stderr, "no snapshots of %s%s in %s\n", argv[optind],
		       argc - optind > 1 ? " (or the others named)" : "",
		       repo_url());
	for (size_t i = 0; !json && i < n; i++) {
		char t[32], s1[32], s2[32];

		if (i == 0 || strcmp(v[i].dataset, v[i - 1].dataset) != 0)
			printf("%s%s\n  %-24s %-24s %-17s %11s %11s\n",
			       i ? "\n" : "", v[i].dataset, "SNAPSHOT",
			       "PARENT", "CREATED (UTC)", "STREAM", "ADDED");
		when(v[i].creation_time, t, sizeof(t));
		human_bytes(v[i].stream_bytes, s1, sizeof(s1));
		human_bytes(v[i].new_bytes, s2, sizeof(s2));
		printf("  %-24s %-24s %-17s %11s %11s\n", v[i].snap,
		       bk_chain_needs_parent(&v[i])
			       ? (v[i].parent[0] ? strchr(v[i].parent, '@') + 1
						 : "(not stored)")
			       : "-",
		       t, s1, s2);
	}
	if (!json)
		ret = EXIT_OK;
	if (rc) {
		/* listed what could be read; a damaged manifest is an error */
		msg("%s", err.msg);
		ret = exit_for(rc);
	}
out:
	free(v);
	bk_repo_close(r);
	return ret;
}
