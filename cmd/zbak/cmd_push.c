/* SPDX-License-Identifier: MIT */
/* zbak push */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "progress.h"

static int print_json(const struct bk_push_result *res)
{
	struct bk_buf b;
	struct bk_error err;
	enum bk_code rc = json_begin(&b, "push", EXIT_OK);

	if (!rc)
		rc = bk_buf_printf(&b, &err, ",\"snapshot\":");
	if (!rc)
		rc = bk_buf_json_str(&b, res->name, &err);
	if (!rc)
		rc = bk_buf_printf(
			&b, &err,
			",\"already_stored\":%s,\"stream_bytes\":%" PRIu64
			",\"records\":%" PRIu64 ",\"chunks\":%" PRIu64
			",\"new_chunks\":%" PRIu64 ",\"chunk_bytes\":%" PRIu64
			",\"reused_bytes\":%" PRIu64 ",\"added_bytes\":%" PRIu64
			",\"seconds\":%.3f",
			res->already ? "true" : "false", res->stream_bytes,
			res->records, res->chunks, res->new_chunks,
			res->chunk_bytes, res->reused_bytes, res->new_bytes,
			res->seconds);
	return json_end(&b, rc, stdout, EXIT_OK);
}

int cmd_push(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "name", required_argument, NULL, 'n' },
		{ "threads", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		PROGRESS_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	const struct cmd *self = find_cmd("push");
	enum progress_mode pm = PROGRESS_AUTO;
	struct progress pg;
	struct stat sb;
	uint64_t total = 0;
	bool json = false;
	struct bk_push_opts o = { 0 };
	struct bk_push_result res;
	struct bk_repo *r = NULL;
	struct bk_error err;
	const char *path = "-", *why = NULL;
	char s1[32], s2[32], s3[40];
	enum bk_code rc;
	uint64_t n;
	int c, fd = STDIN_FILENO, ret;

	optind = 0;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'n': o.name = optarg; break;
		case 'j': json = true; break;
		case PROGRESS_OPT_ON: pm = PROGRESS_ON; break;
		case PROGRESS_OPT_OFF: pm = PROGRESS_OFF; break;
		case 't':
			if ((ret = parse_number("--threads", optarg, 1,
						THREADS_MAX, &n)))
				return ret;
			o.threads = (unsigned)n;
			break;
		default: return usage_error(self, NULL);
		}
	}
	if (optind < argc - 1)
		return usage_error(self, "push takes at most one FILE");
	if (optind == argc - 1)
		path = argv[optind];
	if (strcmp(path, "-") != 0) {
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			msg("cannot open %s: %s", path, strerror(errno));
			ret = EXIT_FAIL;
			goto out;
		}
	} else if (isatty(STDIN_FILENO)) {
		msg("the stream comes on standard input: zfs send pool/fs@snap "
		    "| zbak push");
		return EXIT_USAGE;
	}
	ret = open_repo(&r);
	if (ret)
		goto out;
	/* a file's size is the stream's: a total for the percentage */
	if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode))
		total = (uint64_t)sb.st_size;
	progress_start(&pg, pm, json, "push", NULL, total);
	if (pg.on) {
		o.progress = progress_cb_push;
		o.progress_ctx = &pg;
	}
	rc = bk_push(r, fd, &o, &res, &err);
	if (!rc)
		progress_part_done(&pg, res.stream_bytes);
	progress_end(&pg);
	if (rc) {
		msg("push failed: %s", err.msg);
		msg("nothing was committed: no manifest was written");
		ret = exit_for(rc);
		why = err.msg;
		goto out;
	}
	if (json) {
		ret = print_json(&res);
		goto done;
	}
	if (!g.quiet) {
		double dedup = res.chunk_bytes
				       ? 100.0 * (double)res.reused_bytes /
						 (double)res.chunk_bytes
				       : 0;

		human_bytes(res.stream_bytes, s1, sizeof(s1));
		human_bytes(res.new_bytes, s2, sizeof(s2));
		human_rate(res.stream_bytes, res.seconds, s3, sizeof(s3));
		printf("%s %s: %s stream, %" PRIu64 " records, %" PRIu64
		       " chunks (%" PRIu64 " new), %s added after dedup and "
		       "compression, %.1f%% of the data already stored, %.2f s "
		       "(%s)\n",
		       res.already ? "already stored" : "stored", res.name,
		       s1, res.records, res.chunks, res.new_chunks, s2, dedup,
		       res.seconds, s3);
	}
	ret = EXIT_OK;
	goto done;
out:
	/* a failure is a JSON object too, for a script that reads stdout */
	if (json)
		json_failure(stdout, "push", ret, why);
done:
	bk_repo_close(r);
	if (fd > STDIN_FILENO)
		close(fd);
	return ret;
}
