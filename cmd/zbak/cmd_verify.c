/* SPDX-License-Identifier: MIT */
/* zbak verify */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "backup/buf.h"
#include "cli.h"
#include "progress.h"

/* What verify found, for --json besides stderr. */
struct found {
	struct progress *pg;
	bool json;
	struct bk_buf problems, warnings; /* JSON strings, comma-separated */
};

static void note(struct found *f, struct bk_buf *b, const char *line)
{
	struct bk_error err;

	if (!f->json)
		return;
	if (b->len)
		bk_buf_printf(b, &err, ",");
	bk_buf_json_str(b, line, &err);
}

static void report(void *ctx, const char *problem)
{
	struct found *f = ctx;

	progress_clear(f->pg);
	fprintf(stderr, "problem: %s\n", problem);
	note(f, &f->problems, problem);
}

static void warn(void *ctx, const char *line)
{
	struct found *f = ctx;

	progress_clear(f->pg);
	fprintf(stderr, "warning: %s\n", line);
	note(f, &f->warnings, line);
}

static int print_json(const struct bk_verify_result *res, int ret,
		      const char *error, const struct found *f)
{
	struct bk_buf b;
	struct bk_error err;
	enum bk_code rc = json_begin(&b, "verify", ret);

	if (!rc)
		rc = bk_buf_printf(
			&b, &err,
			",\"snapshots\":%" PRIu64 ",\"indexes\":%" PRIu64
			",\"packs\":%" PRIu64 ",\"chunks\":%" PRIu64
			",\"packs_read\":%" PRIu64 ",\"chunks_read\":%" PRIu64
			",\"bytes_read\":%" PRIu64
			",\"unindexed_packs\":%" PRIu64 ",\"problems\":%" PRIu64
			",\"problem_messages\":[%.*s],\"warnings\":[%.*s]"
			",\"error\":",
			res->snapshots, res->indexes, res->packs, res->chunks,
			res->packs_read, res->chunks_read, res->bytes_read,
			res->unindexed_packs, res->problems,
			(int)f->problems.len,
			f->problems.len ? (char *)f->problems.data : "",
			(int)f->warnings.len,
			f->warnings.len ? (char *)f->warnings.data : "");
	if (!rc && error)
		rc = bk_buf_json_str(&b, error, &err);
	else if (!rc)
		rc = bk_buf_printf(&b, &err, "null");
	return json_end(&b, rc, stdout, ret);
}

int cmd_verify(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "read-data", optional_argument, NULL, 'd' },
		{ "json", no_argument, NULL, 'j' },
		PROGRESS_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	const struct cmd *self = find_cmd("verify");
	enum progress_mode pm = PROGRESS_AUTO;
	struct progress pg = { 0 };
	struct found f = { .pg = &pg };
	struct bk_verify_opts o = { .report = report, .warn = warn,
				    .report_ctx = &f };
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
		} else if (c == 'j') {
			f.json = true;
		} else if (c == PROGRESS_OPT_ON || c == PROGRESS_OPT_OFF) {
			pm = c == PROGRESS_OPT_ON ? PROGRESS_ON : PROGRESS_OFF;
		} else {
			return usage_error(self, NULL);
		}
	}
	if (optind != argc)
		return usage_error(self, "verify takes no arguments");
	bk_buf_init(&f.problems, 64u << 20);
	bk_buf_init(&f.warnings, 64u << 20);
	ret = open_repo(&r);
	if (ret) {
		if (f.json)
			json_failure(stdout, "verify", ret, NULL);
		return ret;
	}
	/* only reading the data takes long enough to need it */
	progress_start(&pg, o.read_data_percent ? pm : PROGRESS_OFF, f.json,
		       "verify", NULL, 0);
	if (pg.on) {
		o.progress = progress_cb_total;
		o.progress_ctx = &pg;
	}
	rc = bk_verify(r, &o, &res, &err);
	if (pg.on && !rc)
		progress_part_done(&pg, res.bytes_read);
	progress_end(&pg);
	if (f.json) {
		ret = print_json(&res, rc ? exit_for(rc) : EXIT_OK,
				 rc ? err.msg : NULL, &f);
		if (rc)
			msg("verify failed: %s", err.msg);
		goto out;
	}
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
out:
	bk_buf_release(&f.problems);
	bk_buf_release(&f.warnings);
	bk_repo_close(r);
	return ret;
}
