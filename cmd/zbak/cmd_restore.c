/* SPDX-License-Identifier: MIT */
/* zbak restore */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

static void progress(void *ctx, uint64_t out, uint64_t unused)
{
	char a[32];

	(void)ctx;
	(void)unused;
	human_bytes(out, a, sizeof(a));
	fprintf(stderr, "\r%s restored   ", a);
	fflush(stderr);
}

int cmd_restore(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "force", no_argument, NULL, 'f' },
		{ "threads", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	const struct cmd *self = find_cmd("restore");
	struct bk_restore_opts o = { 0 };
	struct bk_restore_result res;
	struct bk_repo *r = NULL;
	struct bk_error err;
	const char *out = NULL, *name;
	char tmp[4096] = "", s1[32];
	bool force = false;
	enum bk_code rc;
	int c, fd = STDOUT_FILENO, ret;

	optind = 0;
	while ((c = getopt_long(argc, argv, "o:f", longopts, NULL)) != -1) {
		switch (c) {
		case 'o': out = optarg; break;
		case 'f': force = true; break;
		case 't': o.threads = (unsigned)strtoul(optarg, NULL, 10); break;
		default: return usage_error(self, NULL);
		}
	}
	if (optind != argc - 1)
		return usage_error(self, "restore takes one snapshot name");
	name = argv[optind];
	if (out && strcmp(out, "-") == 0)
		out = NULL;
	if (!out && isatty(STDOUT_FILENO)) {
		msg("refusing to write a stream to a terminal: use -o FILE or "
		    "a pipe (zbak restore %s | zfs receive ...)", name);
		return EXIT_USAGE;
	}
	if (out && !force && access(out, F_OK) == 0) {
		msg("%s exists: not overwriting it (use --force)", out);
		return EXIT_FAIL;
	}
	ret = open_repo(&r);
	if (ret)
		return ret;
	if (out) {
		/* a temporary name beside the target, renamed on success */
		char *dup = strdup(out);

		if (!dup) {
			msg("out of memory");
			ret = EXIT_FAIL;
			goto done;
		}
		snprintf(tmp, sizeof(tmp), "%s/.%s.zbak-XXXXXX", dirname(dup),
			 strrchr(out, '/') ? strrchr(out, '/') + 1 : out);
		free(dup);
		fd = mkstemp(tmp);
		if (fd < 0) {
			msg("cannot create a file beside %s: %s", out,
			    strerror(errno));
			tmp[0] = '\0';
			ret = EXIT_FAIL;
			goto done;
		}
	}
	if (!g.quiet && isatty(STDERR_FILENO))
		o.progress = progress;
	rc = bk_restore(r, name, fd, &o, &res, &err);
	if (o.progress)
		fprintf(stderr, "\r\033[K");
	if (!rc && out && fsync(fd) != 0)
		rc = bk_error_set(&err, BK_ERR_IO, "fsync %s: %s", tmp,
				  strerror(errno));
	if (!rc && out) {
		if (close(fd) != 0)
			rc = bk_error_set(&err, BK_ERR_IO, "close %s: %s", tmp,
					  strerror(errno));
		fd = -1;
		if (!rc && (force ? rename(tmp, out)
				  : renameat2(AT_FDCWD, tmp, AT_FDCWD, out,
					      RENAME_NOREPLACE)) != 0)
			rc = bk_error_set(&err, BK_ERR_IO, "rename to %s: %s",
					  out, strerror(errno));
		if (!rc)
			tmp[0] = '\0';
	}
	if (rc) {
		msg("restore of %s failed: %s", name, err.msg);
		if (!out)
			msg("the bytes written so far are not a valid stream");
		ret = exit_for(rc);
		goto done;
	}
	if (!g.quiet) {
		human_bytes(res.stream_bytes, s1, sizeof(s1));
		fprintf(out ? stdout : stderr,
			"restored %s: %s, %" PRIu64 " records, verified, "
			"%.2f s (%.0f MiB/s)\n",
			name, s1, res.records, res.seconds,
			res.seconds > 0 ? (double)res.stream_bytes /
						  res.seconds / 1048576.0
					: 0.0);
	}
	ret = EXIT_OK;
done:
	if (out && fd >= 0)
		close(fd);
	if (tmp[0])
		unlink(tmp);
	bk_repo_close(r);
	return ret;
}
