/* SPDX-License-Identifier: MIT */
/* zbak push */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static void progress(void *ctx, uint64_t in, uint64_t stored)
{
	char a[32], b[32];

	(void)ctx;
	human_bytes(in, a, sizeof(a));
	human_bytes(stored, b, sizeof(b));
	fprintf(stderr, "\r%s read, %s stored   ", a, b);
	fflush(stderr);
}

int cmd_push(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "name", required_argument, NULL, 'n' },
		{ "threads", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	const struct cmd *self = find_cmd("push");
	struct bk_push_opts o = { 0 };
	struct bk_push_result res;
	struct bk_repo *r = NULL;
	struct bk_error err;
	const char *path = "-";
	char s1[32], s2[32];
	enum bk_code rc;
	uint64_t n;
	int c, fd = STDIN_FILENO, ret;

	optind = 0;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'n': o.name = optarg; break;
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
			return EXIT_FAIL;
		}
	} else if (isatty(STDIN_FILENO)) {
		msg("the stream comes on standard input: zfs send pool/fs@snap "
		    "| zbak push");
		return EXIT_USAGE;
	}
	ret = open_repo(&r);
	if (ret)
		goto out;
	if (!g.quiet && isatty(STDERR_FILENO))
		o.progress = progress;
	rc = bk_push(r, fd, &o, &res, &err);
	if (o.progress)
		fprintf(stderr, "\r\033[K");
	if (rc) {
		msg("push failed: %s", err.msg);
		msg("nothing was committed: no manifest was written");
		ret = exit_for(rc);
		goto out;
	}
	if (!g.quiet) {
		double dedup = res.chunk_bytes
				       ? 100.0 * (double)res.reused_bytes /
						 (double)res.chunk_bytes
				       : 0;

		human_bytes(res.stream_bytes, s1, sizeof(s1));
		human_bytes(res.new_bytes, s2, sizeof(s2));
		printf("%s %s: %s stream, %" PRIu64 " records, %" PRIu64
		       " chunks (%" PRIu64 " new), %s added, %.1f%% of the "
		       "data already stored, %.2f s (%.0f MiB/s)\n",
		       res.already ? "already stored" : "stored", res.name,
		       s1, res.records, res.chunks, res.new_chunks, s2, dedup,
		       res.seconds,
		       res.seconds > 0 ? (double)res.stream_bytes / res.seconds /
						 1048576.0
				       : 0.0);
	}
	ret = EXIT_OK;
out:
	bk_repo_close(r);
	if (fd > STDIN_FILENO)
		close(fd);
	return ret;
}
