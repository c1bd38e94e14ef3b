/* SPDX-License-Identifier: MIT */
/*
 * zbak restore: a stored stream to standard output or a file, or (--to) the
 * chain that ends in a snapshot into a receiver (the local pool or zfs
 * receive).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backup/clock.h"
#include "backup/plan.h"
#include "backup/receiver.h"
#include "backup/util.h"
#include "cli.h"
#include "progress.h"

/* How the output is asked for: --json, --progress/--no-progress. */
struct how {
	bool json;
	enum progress_mode pm;
};

/* ---- restore --to: the chain into a receiver --------------------------- */

static void snap_name(const struct bk_snapshot *s, char *out, size_t n)
{
	snprintf(out, n, "%s@%s", s->dataset, s->snap);
}

/* The sink: the receiver, remembering whether it was the one that failed. */
struct into {
	struct bk_receiver *rv;
	bool failed;
};

/* restore -o: the stream into the temporary file, written behind */
static enum bk_code sink_afile(void *ctx, const void *buf, size_t len,
			       struct bk_error *err)
{
	struct bk_afile *af = ctx;

	if (bk_afile_stream(af, buf, len) != 0)
		return bk_error_set(err, BK_ERR_IO, "writing %s: %s", af->tmp,
				    strerror(errno));
	return BK_OK;
}

static enum bk_code into_sink(void *ctx, const void *buf, size_t len,
			      struct bk_error *err)
{
	struct into *in = ctx;
	enum bk_code rc = bk_receiver_write(in->rv, buf, len, err);

	if (rc)
		in->failed = true;
	return rc;
}

/* What was committed before a failure, and what that leaves. */
static void report_committed(const struct bk_snapshot *all,
			     const size_t *chain,
			     size_t done, const char *to)
{
	char nm[BK_REPO_NAME_MAX];

	if (done == 0) {
		msg("nothing was committed: %s is as it was", to);
		return;
	}
	for (size_t i = 0; i < done; i++) {
		snap_name(&all[chain[i]], nm, sizeof(nm));
		msg("committed before the failure: %s", nm);
	}
	msg("%s keeps them; run the same command again to continue from "
	    "there",
	    to);
}

/* One received stream, into the "streams" array of restore --to's JSON. */
static enum bk_code json_stream(struct bk_buf *js, const char *nm,
				const char *kind, const char *as,
				const struct bk_restore_result *res)
{
	struct bk_error err;
	enum bk_code rc;

	rc = bk_buf_printf(js, &err, "%s{\"snapshot\":", js->len ? "," : "");
	if (!rc)
		rc = bk_buf_json_str(js, nm, &err);
	if (!rc)
		rc = bk_buf_printf(js, &err, ",\"kind\":");
	if (!rc)
		rc = bk_buf_json_str(js, kind, &err);
	if (!rc)
		rc = bk_buf_printf(js, &err, ",\"received_as\":");
	if (!rc && as[0])
		rc = bk_buf_json_str(js, as, &err);
	else if (!rc)
		rc = bk_buf_printf(js, &err, "null");
	if (!rc)
		rc = bk_buf_printf(js, &err,
				   ",\"stream_bytes\":%" PRIu64
				   ",\"records\":%" PRIu64 ",\"seconds\":%.3f}",
				   res->stream_bytes, res->records,
				   res->seconds);
	return rc;
}

/*
 * restore --to's JSON: the snapshot, the target, the streams received
 * (on a failure: those committed before it) and their total; error is
 * NULL on success.
 */
static int json_to(int ret, const char *name, const char *to,
		   const char *receiver, const struct bk_buf *js,
		   uint64_t total, double seconds, const char *error)
{
	struct bk_buf b;
	struct bk_error err;
	enum bk_code rc = json_begin(&b, "restore", ret);

	if (!rc)
		rc = bk_buf_printf(&b, &err, ",\"snapshot\":");
	if (!rc)
		rc = bk_buf_json_str(&b, name, &err);
	if (!rc)
		rc = bk_buf_printf(&b, &err, ",\"target\":");
	if (!rc)
		rc = bk_buf_json_str(&b, to, &err);
	if (!rc)
		rc = bk_buf_printf(&b, &err, ",\"receiver\":");
	if (!rc && receiver)
		rc = bk_buf_json_str(&b, receiver, &err);
	else if (!rc)
		rc = bk_buf_printf(&b, &err, "null");
	if (!rc)
		rc = bk_buf_printf(&b, &err,
				   ",\"streams\":[%.*s],\"stream_bytes\":%" PRIu64
				   ",\"seconds\":%.3f,\"error\":",
				   (int)js->len, js->len ? (char *)js->data : "",
				   total, seconds);
	if (!rc && error)
		rc = bk_buf_json_str(&b, error[0] ? error : last_message(),
				     &err);
	else if (!rc)
		rc = bk_buf_printf(&b, &err, "null");
	return json_end(&b, rc, stdout, ret);
}

/* The message just said, when advice follows it: JSON's error is the
 * failure, not the advice. */
static const char *keep_first(char *buf, size_t n)
{
	snprintf(buf, n, "%s", last_message());
	return buf;
}

static int restore_to(const char *name, const char *to,
		      const struct bk_receiver_opts *ro,
		      const struct bk_restore_opts *o_in,
		      const struct how *how)
{
	struct bk_restore_opts o = *o_in;
	struct bk_repo *r = NULL;
	struct bk_receiver *rv = NULL;
	struct bk_snapshot *all = NULL;
	struct bk_receiver_snap *ts = NULL;
	struct bk_restore_plan pl = { 0 };
	struct bk_error err, lerr;
	enum bk_code rc, lrc;
	size_t n = 0, nt = 0, len = 0, done = 0, cur;
	const size_t *chain;
	long base;
	bool exists = false;
	uint64_t total = 0, chain_bytes = 0;
	double t0 = bk_mono();
	char nm[BK_REPO_NAME_MAX], s1[32];
	struct progress pg = { 0 };
	struct bk_buf js;
	const char *why = ""; /* the failure: the last message */
	char first[1024];
	int ret;

	bk_buf_init(&js, 64u << 20);

	ret = open_repo(&r);
	if (ret)
		return ret;
	/* every manifest; one that cannot be opened is left out, and its
	 * error only matters if the chain needs it */
	lrc = bk_list(r, &all, &n, &lerr);
	cur = bk_plan_find(all, n, name);
	if (cur == BK_CHAIN_NONE) {
		if (lrc) {
			msg("cannot list the repository: %s", lerr.msg);
			ret = exit_for(lrc);
		} else {
			msg("no snapshot %s in the repository", name);
			ret = EXIT_FAIL;
		}
		goto out;
	}
	rc = bk_receiver_open(to, ro, &rv, &err);
	if (!rc)
		rc = bk_receiver_snapshots(rv, &exists, &ts, &nt, &err);
	if (rc) {
		msg("cannot receive into %s: %s", to, err.msg);
		ret = rc == BK_ERR_USAGE ? EXIT_USAGE : EXIT_TARGET;
		goto out;
	}
	rc = bk_restore_plan(all, n, cur, ts, nt, exists, ro->force, &pl,
			     &err);
	if (rc) {
		msg("%s", err.msg);
		ret = exit_for(rc);
		goto out;
	}
	chain = pl.chain;
	len = pl.len;
	base = pl.base;
	if (pl.len)
		snap_name(&all[chain[0]], nm, sizeof(nm));
	switch (pl.verdict) {
	case BK_RESTORE_HAVE:
		if (!g.quiet && !how->json)
			printf("%s already has %s (as %s): nothing to do\n", to,
			       name, ts[pl.have].name);
		ret = EXIT_OK;
		goto out;
	case BK_RESTORE_BROKEN:
		msg("the chain of %s is broken: %s is incremental from "
		    "guid %016" PRIx64 ", which no snapshot in the "
		    "repository has%s",
		    name, nm, all[chain[0]].fromguid,
		    exists ? " and the target does not have either" : "");
		why = keep_first(first, sizeof(first));
		if (lrc)
			msg("(a manifest could not be read: %s)", lerr.msg);
		msg("'zbak verify' checks the repository's chains");
		ret = EXIT_VERIFY;
		goto out;
	case BK_RESTORE_LOOP:
		msg("the chain of %s loops (at %s)", name, nm);
		ret = EXIT_VERIFY;
		goto out;
	case BK_RESTORE_DIVERGED:
		msg("%s has snapshots after %s, where the chain continues: "
		    "%s%s",
		    to, ts[base].name, ts[nt - 1].name,
		    (size_t)base + 2 < nt ? " and others" : "");
		why = keep_first(first, sizeof(first));
		msg("-F rolls %s back to %s and destroys them", to,
		    ts[base].name);
		ret = EXIT_TARGET;
		goto out;
	case BK_RESTORE_UNRELATED:
		msg("%s has snapshots (%s%s) but none of the chain of %s, "
		    "which starts with the full stream %s",
		    to, ts[nt - 1].name, nt > 1 ? ", ..." : "", name, nm);
		why = keep_first(first, sizeof(first));
		msg("a full stream goes only into a new dataset or one "
		    "without snapshots: restore --to another dataset, or "
		    "destroy %s's snapshots first",
		    to);
		ret = EXIT_TARGET;
		goto out;
	case BK_RESTORE_NEEDS_FORCE:
		msg("%s exists: the full stream %s replaces it only with -F",
		    to, nm);
		ret = EXIT_TARGET;
		goto out;
	case BK_RESTORE_GO:
		break;
	}
	if (!g.quiet && !how->json) {
		if (base >= 0)
			printf("%s has %s: receiving the %zu stream%s after it "
			       "with %s\n",
			       to, ts[base].name, len, len == 1 ? "" : "s",
			       bk_receiver_describe(rv));
		else
			printf("receiving %zu stream%s into %s with %s\n",
			       len, len == 1 ? "" : "s", to,
			       bk_receiver_describe(rv));
	}
	/* the chain's total: the streams' lengths from their manifests */
	for (size_t i = 0; i < len; i++)
		chain_bytes += all[chain[i]].stream_bytes;
	progress_start(&pg, how->pm, how->json, "restore", name, chain_bytes);
	if (pg.on) {
		o.progress = progress_cb_total;
		o.progress_ctx = &pg;
	}

	for (done = 0; done < len; done++) {
		const struct bk_snapshot *s = &all[chain[done]];
		struct bk_restore_result res;
		struct bk_receiver_result rr;
		struct into in = { rv, false };
		const char *stage = "starting the receiver";
		bool receiver = true; /* its fault, not the repository's */

		snap_name(s, nm, sizeof(nm));
		rc = bk_receiver_begin(rv, &err);
		if (!rc) {
			rc = bk_restore_sink(r, nm, into_sink, &in, &o, &res,
					     &err);
			stage = in.failed ? "receiving" : "restoring from the "
							  "repository";
			receiver = in.failed;
		}
		if (!rc) {
			stage = "committing";
			receiver = true;
			rc = bk_receiver_finish(rv, &rr, &err);
		}
		if (rc) {
			progress_end(&pg);
			bk_receiver_abort(rv);
			msg("%s (stream %zu of %zu) into %s: %s failed: %s", nm,
			    done + 1, len, to, stage, err.msg);
			why = err.msg;
			report_committed(all, chain, done, to);
			ret = receiver ? EXIT_TARGET : exit_for(rc);
			goto out;
		}
		progress_part_done(&pg, res.stream_bytes);
		total += res.stream_bytes;
		{
			char kind[sizeof("incremental from ") +
				  BK_REPO_NAME_MAX];

			if (s->compound)
				snprintf(kind, sizeof(kind), "package");
			else if (!s->fromguid)
				snprintf(kind, sizeof(kind), "full");
			else if (s->parent[0])
				snprintf(kind, sizeof(kind),
					 "incremental from %s", s->parent);
			else
				snprintf(kind, sizeof(kind),
					 "incremental from guid %016" PRIx64,
					 s->fromguid);
			human_bytes(res.stream_bytes, s1, sizeof(s1));
			progress_clear(&pg);
			if (how->json &&
			    json_stream(&js, nm, kind, rr.name, &res)) {
				msg("out of memory");
				ret = EXIT_FAIL;
				goto out;
			}
			if (!g.quiet && !how->json)
				printf("received %s (%s) into %s%s%s: %s "
				       "stream, %" PRIu64
				       " records, verified, %.2f s\n",
				       nm, kind, to, rr.name[0] ? " as " : "",
				       rr.name, s1, res.records, res.seconds);
		}
	}
	progress_end(&pg);
	if (!g.quiet && !how->json) {
		human_bytes(total, s1, sizeof(s1));
		printf("restored %s into %s: %zu stream%s, %s in all, "
		       "%.2f s\n",
		       name, to, len, len == 1 ? "" : "s", s1, bk_mono() - t0);
	}
	ret = EXIT_OK;
out:
	progress_end(&pg);
	if (how->json)
		ret = json_to(ret, name, to, rv ? bk_receiver_describe(rv) : NULL,
			      &js, total, bk_mono() - t0, ret ? why : NULL);
	bk_buf_release(&js);
	bk_receiver_close(rv);
	bk_repo_close(r);
	bk_restore_plan_release(&pl);
	free(ts);
	free(all);
	return ret;
}

/* restore's JSON when the stream went to a file or a pipe. */
static int json_restored(FILE *f, const char *name, const char *out,
			 const struct bk_restore_result *res)
{
	struct bk_buf b;
	struct bk_error err;
	enum bk_code rc = json_begin(&b, "restore", EXIT_OK);

	if (!rc)
		rc = bk_buf_printf(&b, &err, ",\"snapshot\":");
	if (!rc)
		rc = bk_buf_json_str(&b, name, &err);
	if (!rc)
		rc = bk_buf_printf(&b, &err, ",\"output\":");
	if (!rc && out)
		rc = bk_buf_json_str(&b, out, &err);
	else if (!rc)
		rc = bk_buf_printf(&b, &err, "null");
	if (!rc)
		rc = bk_buf_printf(&b, &err,
				   ",\"stream_bytes\":%" PRIu64
				   ",\"records\":%" PRIu64 ",\"seconds\":%.3f",
				   res->stream_bytes, res->records,
				   res->seconds);
	return json_end(&b, rc, f, EXIT_OK);
}

int cmd_restore(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "force", no_argument, NULL, 'f' },
		{ "threads", required_argument, NULL, 't' },
		{ "to", required_argument, NULL, 'T' },
		{ "receiver", required_argument, NULL, 'R' },
		{ "json", no_argument, NULL, 'j' },
		PROGRESS_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	struct how how = { false, PROGRESS_AUTO };
	struct progress pg = { 0 };
	FILE *report;
	const struct cmd *self = find_cmd("restore");
	struct bk_restore_opts o = { 0 };
	struct bk_restore_result res;
	struct bk_receiver_opts ro = { 0 };
	struct bk_repo *r = NULL;
	struct bk_error err;
	const char *out = NULL, *name, *to = NULL, *receiver = NULL;
	char s1[32], s2[40], pdir[4096];
	struct bk_afile af = { .fd = -1 };
	bool force = false;
	enum bk_code rc;
	uint64_t n;
	int c, fd = STDOUT_FILENO, ret;

	optind = 0;
	while ((c = getopt_long(argc, argv, "o:fF", longopts, NULL)) != -1) {
		switch (c) {
		case 'o': out = optarg; break;
		case 'f': force = true; break;
		case 'F': ro.force = true; break;
		case 't':
			if ((ret = parse_number("--threads", optarg, 1,
						THREADS_MAX, &n)))
				return ret;
			o.threads = (unsigned)n;
			break;
		case 'T': to = optarg; break;
		case 'R': receiver = optarg; break;
		case 'j': how.json = true; break;
		case PROGRESS_OPT_ON: how.pm = PROGRESS_ON; break;
		case PROGRESS_OPT_OFF: how.pm = PROGRESS_OFF; break;
		default: return usage_error(self, NULL);
		}
	}
	if (optind != argc - 1)
		return usage_error(self, "restore takes one snapshot name");
	name = argv[optind];
	if (to) {
		if (out || force)
			return usage_error(self, "--to receives the chain into a "
						 "dataset: no -o or --force");
		if (receiver &&
		    bk_receiver_kind_parse(receiver, &ro.kind, &err) != BK_OK)
			return usage_error(self, "%s", err.msg);
		/* --pool-dir, $ZBAK_POOL_DIR, the config's [pool] dir, ... */
		ro.pool_dir = pool_dir(pdir, sizeof(pdir));
		if (!ro.pool_dir) {
			msg("the local pool's directory name is too long");
			return EXIT_USAGE;
		}
		return restore_to(name, to, &ro, &o, &how);
	}
	if (receiver || ro.force)
		return usage_error(self, "--receiver and -F go with --to");
	if (out && strcmp(out, "-") == 0)
		out = NULL;
	if (!out && isatty(STDOUT_FILENO)) {
		msg("refusing to write a stream to a terminal: use -o FILE or "
		    "a pipe (zbak restore %s | zfs receive ...)", name);
		return EXIT_USAGE;
	}
	/* the stream on stdout: what is said goes to stderr, JSON too */
	report = out ? stdout : stderr;
	if (out && !force && access(out, F_OK) == 0) {
		msg("%s exists: not overwriting it (use --force)", out);
		ret = EXIT_FAIL;
		goto done;
	}
	ret = open_repo(&r);
	if (ret)
		goto done;
	if (out) {
		/* a temporary name beside the target, renamed on success */
		char *dup = strdup(out), prefix[4096];

		if (!dup) {
			msg("out of memory");
			ret = EXIT_FAIL;
			goto done;
		}
		snprintf(prefix, sizeof(prefix), "%s/.%s.zbak-", dirname(dup),
			 strrchr(out, '/') ? strrchr(out, '/') + 1 : out);
		free(dup);
		if (bk_afile_open(&af, AT_FDCWD, prefix, 0600) != 0) {
			msg("cannot create a file beside %s: %s", out,
			    strerror(errno));
			ret = EXIT_FAIL;
			goto done;
		}
		fd = af.fd;
	}
	progress_start(&pg, how.pm, how.json, "restore", name, 0);
	if (pg.on) {
		o.progress = progress_cb_total;
		o.progress_ctx = &pg;
	}
	if (out) /* written behind, a few MiB of page cache at a time */
		rc = bk_restore_sink(r, name, sink_afile, &af, &o, &res, &err);
	else
		rc = bk_restore(r, name, fd, &o, &res, &err);
	if (!rc)
		progress_part_done(&pg, res.stream_bytes);
	progress_end(&pg);
	if (!rc && out && fsync(fd) != 0)
		rc = bk_error_set(&err, BK_ERR_IO, "fsync %s: %s", af.tmp,
				  strerror(errno));
	if (!rc && out) {
		if (bk_afile_close(&af, false) != 0)
			rc = bk_error_set(&err, BK_ERR_IO, "close %s: %s",
					  af.tmp, strerror(errno));
		fd = -1;
		if (!rc && bk_afile_commit(&af, out,
					   force ? 0 : BK_AFILE_NOREPLACE) != 0)
			rc = bk_error_set(&err, BK_ERR_IO, "rename to %s: %s",
					  out, strerror(errno));
	}
	if (rc) {
		msg("restore of %s failed: %s", name, err.msg);
		if (!out)
			msg("the bytes written so far are not a valid stream");
		ret = exit_for(rc);
		if (how.json)
			json_failure(report, "restore", ret, err.msg);
		goto cleanup;
	}
	if (how.json) {
		ret = json_restored(report, name, out, &res);
		goto cleanup;
	}
	if (!g.quiet) {
		human_bytes(res.stream_bytes, s1, sizeof(s1));
		human_rate(res.stream_bytes, res.seconds, s2, sizeof(s2));
		fprintf(report,
			"restored %s: %s stream, %" PRIu64 " records, verified, "
			"%.2f s (%s)\n",
			name, s1, res.records, res.seconds, s2);
	}
	ret = EXIT_OK;
	goto cleanup;
done:
	if (how.json)
		json_failure(report, "restore", ret, NULL);
cleanup:
	bk_afile_abort(&af);
	bk_repo_close(r);
	return ret;
}
