/* SPDX-License-Identifier: MIT */
/* zbak stats: repository totals, the dedup ratio, and each dataset's share. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backup/buf.h"
#include "cli.h"

struct ds_total {
	const char *name; /* into the snapshot list */
	uint64_t snapshots, stream_bytes, added_bytes;
};

/* One total per dataset, in the list's order (bk_list sorts by dataset). */
static size_t per_dataset(const struct bk_snapshot *v, size_t n,
			  struct ds_total *d)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		if (!k || strcmp(d[k - 1].name, v[i].dataset) != 0) {
			memset(&d[k], 0, sizeof(d[k]));
			d[k++].name = v[i].dataset;
		}
		d[k - 1].snapshots++;
		d[k - 1].stream_bytes += v[i].stream_bytes;
		d[k - 1].added_bytes += v[i].new_bytes;
	}
	return k;
}

static double ratio(uint64_t logical, uint64_t stored)
{
	return stored ? (double)logical / (double)stored : 0.0;
}

static int print_json(const struct bk_repo_stats *st, uint64_t nsnap,
		      uint64_t logical, const struct ds_total *d, size_t nd)
{
	struct bk_buf b;
	struct bk_error err;
	uint64_t stored = st->pack_bytes + st->other_bytes;
	enum bk_code rc;

	bk_buf_init(&b, 1u << 30);
	rc = bk_buf_printf(&b, &err,
			   "{\"snapshots\":%" PRIu64 ",\"datasets\":%zu,"
			   "\"stream_bytes\":%" PRIu64 ",\"stored_bytes\":%" PRIu64
			   ",\"packs\":%" PRIu64 ",\"pack_bytes\":%" PRIu64
			   ",\"other_objects\":%" PRIu64 ",\"other_bytes\":%" PRIu64
			   ",\"chunks\":%" PRIu64 ",\"ratio\":%.3f,\"per_dataset\":[",
			   nsnap, nd, logical, stored, st->packs, st->pack_bytes,
			   st->other_objects, st->other_bytes, st->chunks,
			   ratio(logical, stored));
	for (size_t i = 0; !rc && i < nd; i++) {
		rc = bk_buf_printf(&b, &err, "%s{\"dataset\":", i ? "," : "");
		if (!rc)
			rc = bk_buf_json_str(&b, d[i].name, &err);
		if (!rc)
			rc = bk_buf_printf(&b, &err,
					   ",\"snapshots\":%" PRIu64
					   ",\"stream_bytes\":%" PRIu64
					   ",\"added_bytes\":%" PRIu64 "}",
					   d[i].snapshots, d[i].stream_bytes,
					   d[i].added_bytes);
	}
	if (!rc)
		rc = bk_buf_printf(&b, &err, "]}\n");
	if (!rc && fwrite(b.data, 1, b.len, stdout) != b.len)
		rc = BK_ERR_IO;
	bk_buf_release(&b);
	if (rc) {
		msg("writing the JSON failed");
		return EXIT_FAIL;
	}
	return EXIT_OK;
}

static void print_text(const struct bk_repo_stats *st, uint64_t nsnap,
		       uint64_t logical, const struct ds_total *d, size_t nd)
{
	uint64_t stored = st->pack_bytes + st->other_bytes;
	char a[32], b[32], c[32];

	human_bytes(logical, a, sizeof(a));
	human_bytes(stored, b, sizeof(b));
	printf("repository %s\n", repo_url());
	printf("  snapshots   %" PRIu64 " in %zu dataset%s\n", nsnap, nd,
	       nd == 1 ? "" : "s");
	printf("  streams     %s (what restoring every snapshot writes)\n", a);
	human_bytes(st->pack_bytes, a, sizeof(a));
	human_bytes(st->other_bytes, c, sizeof(c));
	printf("  stored      %s: %s in %" PRIu64 " packs, %s in %" PRIu64
	       " other objects\n",
	       b, a, st->packs, c, st->other_objects);
	printf("  chunks      %" PRIu64 "\n", st->chunks);
	if (stored)
		printf("  ratio       %.2fx (streams / stored: dedup and "
		       "compression)\n",
		       ratio(logical, stored));
	if (!nd)
		return;
	printf("\n  %-32s %9s %11s %11s\n", "DATASET", "SNAPSHOTS", "STREAMS",
	       "ADDED");
	for (size_t i = 0; i < nd; i++) {
		human_bytes(d[i].stream_bytes, a, sizeof(a));
		human_bytes(d[i].added_bytes, b, sizeof(b));
		printf("  %-32s %9" PRIu64 " %11s %11s\n", d[i].name,
		       d[i].snapshots, a, b);
	}
}

int cmd_stats(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	const struct cmd *self = find_cmd("stats");
	struct bk_repo *r = NULL;
	struct bk_snapshot *v = NULL;
	struct bk_repo_stats st;
	struct ds_total *d = NULL;
	struct bk_error err;
	uint64_t logical = 0;
	size_t n = 0, nd = 0;
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
	if (optind != argc)
		return usage_error(self, "stats takes no arguments");
	ret = open_repo(&r);
	if (ret)
		return ret;
	rc = bk_list(r, &v, &n, &err);
	if (!rc)
		rc = bk_repo_stats(r, &st, &err);
	if (!rc && n && !(d = calloc(n, sizeof(*d))))
		rc = bk_error_set(&err, BK_ERR_NOMEM, "out of memory");
	if (rc) {
		/* totals over what could not all be read would mislead */
		msg("%s", err.msg);
		ret = exit_for(rc);
		goto out;
	}
	nd = per_dataset(v, n, d);
	for (size_t i = 0; i < n; i++)
		logical += v[i].stream_bytes;
	if (json)
		ret = print_json(&st, n, logical, d, nd);
	else
		print_text(&st, n, logical, d, nd);
out:
	free(d);
	free(v);
	bk_repo_close(r);
	return ret;
}
