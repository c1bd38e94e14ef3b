/* SPDX-License-Identifier: MIT */
/* zbak pool: the local pool (docs/lpool.md), with zfs-like subcommands. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backup/clock.h"
#include "backup/config.h"
#include "backup/lpool.h"
#include "cli.h"

static const struct cmd *self(void)
{
	return find_cmd("pool");
}

static int fail(enum bk_code rc, const struct bk_error *err)
{
	msg("%s", err->msg);
	return exit_for(rc);
}

static int pool_create(int argc, char **argv)
{
	struct bk_lpool *p;
	struct bk_error err;
	enum bk_code rc;
	bool parents = false;
	int c, ret;

	optind = 0;
	while ((c = getopt(argc, argv, "p")) != -1) {
		if (c != 'p')
			return usage_error(self(), NULL);
		parents = true;
	}
	if (optind != argc - 1)
		return usage_error(self(), "pool create takes one name");
	/* a bad name must not leave a new pool directory behind */
	if ((rc = bk_lpool_check_name(argv[optind], false, &err)))
		return fail(rc, &err);
	if ((ret = open_lpool(&p, true)))
		return ret;
	rc = bk_lpool_create(p, argv[optind], parents, &err);
	bk_lpool_close(p);
	return rc ? fail(rc, &err) : EXIT_OK;
}

/* snapshot, rollback, destroy: [-r] [-R] NAME */
static int pool_simple(int argc, char **argv)
{
	struct bk_lpool *p;
	struct bk_error err;
	enum bk_code rc;
	bool r = false, big_r = false;
	int c, ret;

	optind = 0;
	while ((c = getopt(argc, argv, "rR")) != -1) {
		if (c == 'r')
			r = true;
		else if (c == 'R' && !strcmp(argv[0], "destroy"))
			r = big_r = true;
		else
			return usage_error(self(), NULL);
	}
	if (optind != argc - 1)
		return usage_error(self(), "pool %s takes one name", argv[0]);
	if ((ret = open_lpool(&p, false)))
		return ret;
	if (!strcmp(argv[0], "snapshot") || !strcmp(argv[0], "snap"))
		rc = bk_lpool_snapshot(p, argv[optind], r, &err);
	else if (!strcmp(argv[0], "rollback"))
		rc = bk_lpool_rollback(p, argv[optind], r, &err);
	else
		rc = bk_lpool_destroy(p, argv[optind], r, big_r, &err);
	bk_lpool_close(p);
	return rc ? fail(rc, &err) : EXIT_OK;
}

/* hold TAG SNAP, release TAG SNAP, holds [-H] SNAP... */
static int pool_holds(int argc, char **argv)
{
	bool hold = !strcmp(argv[0], "hold"), list = !strcmp(argv[0], "holds");
	bool scripted = false;
	struct bk_lpool *p;
	struct bk_error err;
	enum bk_code rc = BK_OK;
	int c, ret, status = EXIT_OK;

	optind = 0;
	while ((c = getopt(argc, argv, list ? "H" : "")) != -1) {
		if (c != 'H')
			return usage_error(self(), NULL);
		scripted = true;
	}
	if (!list && optind != argc - 2)
		return usage_error(self(), "pool %s takes a tag and a snapshot",
				   argv[0]);
	if (list && optind >= argc)
		return usage_error(self(), "pool holds takes snapshots");
	if ((ret = open_lpool(&p, false)))
		return ret;
	if (!list) {
		rc = hold ? bk_lpool_hold(p, argv[optind + 1], argv[optind], &err)
			  : bk_lpool_release(p, argv[optind + 1], argv[optind],
					     &err);
		bk_lpool_close(p);
		return rc ? fail(rc, &err) : EXIT_OK;
	}
	if (!scripted)
		printf("NAME\tTAG\tTIMESTAMP\n");
	for (int i = optind; i < argc; i++) {
		char tags[BK_LPOOL_HOLDS_MAX + 1];

		rc = bk_lpool_holds(p, argv[i], tags, sizeof(tags), &err);
		if (rc) {
			msg("%s", err.msg);
			status = exit_for(rc);
			continue;
		}
		/* no time is kept for a hold: "-" */
		for (const char *t = tags; *t;) {
			size_t n = strcspn(t, " ");

			printf("%s\t%.*s\t-\n", argv[i], (int)n, t);
			t += n;
			while (*t == ' ')
				t++;
		}
	}
	bk_lpool_close(p);
	return status;
}

static int pool_write(int argc, char **argv)
{
	struct bk_lpool *p;
	struct bk_error err;
	enum bk_code rc;
	uint64_t obj, off, bs = 0;
	int c, ret;

	optind = 0;
	while ((c = getopt(argc, argv, "b:")) != -1) {
		if (c != 'b' || parse_size(optarg, &bs) || bs > UINT32_MAX)
			return usage_error(self(), c == 'b' ? "bad block size '%s'"
							   : NULL,
					   optarg);
	}
	if (optind != argc - 3)
		return usage_error(self(), "pool write takes DATASET OBJECT "
					   "OFFSET (the data on stdin)");
	if (parse_size(argv[optind + 1], &obj) ||
	    parse_size(argv[optind + 2], &off))
		return usage_error(self(), "bad object number or offset");
	if (isatty(STDIN_FILENO)) {
		msg("pool write reads the data from stdin: use a pipe or a "
		    "redirection");
		return EXIT_USAGE;
	}
	if ((ret = open_lpool(&p, false)))
		return ret;
	rc = bk_lpool_write(p, argv[optind], obj, off, STDIN_FILENO,
			    (uint32_t)bs, &err);
	bk_lpool_close(p);
	return rc ? fail(rc, &err) : EXIT_OK;
}

static int pool_free(int argc, char **argv)
{
	struct bk_lpool *p;
	struct bk_error err;
	enum bk_code rc;
	uint64_t obj, off = 0, len = UINT64_MAX;
	bool whole;
	int ret;

	if (argc != 3 && argc != 5)
		return usage_error(self(), "pool free takes DATASET OBJECT "
					   "[OFFSET LENGTH]");
	whole = argc == 3;
	if (parse_size(argv[2], &obj) ||
	    (!whole && (parse_size(argv[3], &off) ||
			(strcmp(argv[4], "end") && parse_size(argv[4], &len)))))
		return usage_error(self(), "bad object number, offset or length");
	if ((ret = open_lpool(&p, false)))
		return ret;
	rc = bk_lpool_free(p, argv[1], obj, whole, off, len, &err);
	bk_lpool_close(p);
	return rc ? fail(rc, &err) : EXIT_OK;
}

/* ---- list ---------------------------------------------------------------- */

enum col { C_NAME, C_TYPE, C_GUID, C_CREATETXG, C_CREATION, C_REFER,
	   C_OBJECTS, C_ORIGIN, C_USERREFS, C_NCOLS };
static const char *const col_names[] = { "name", "type", "guid",
					 "createtxg", "creation",
					 "referenced", "objects", "origin",
					 "userrefs" };

static int parse_cols(const char *s, enum col *cols, size_t *n)
{
	char *dup = strdup(s), *save = NULL, *tok;

	*n = 0;
	if (!dup)
		return -1;
	for (tok = strtok_r(dup, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		size_t i;

		if (!strcmp(tok, "refer"))
			tok = "referenced";
		for (i = 0; i < C_NCOLS; i++)
			if (!strcmp(tok, col_names[i]))
				break;
		if (i == C_NCOLS || *n == 16) {
			msg("unknown property '%s' (properties: name, type, "
			    "guid, createtxg, creation, referenced, objects, "
			    "origin, userrefs)",
			    tok);
			free(dup);
			return -1;
		}
		cols[(*n)++] = (enum col)i;
	}
	free(dup);
	return *n ? 0 : -1;
}

static void human(uint64_t v, char *out, size_t n)
{
	static const char units[] = "BKMGTPE";
	double d = (double)v;
	int u = 0;

	while (d >= 1024 && u < 6) {
		d /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(out, n, "%" PRIu64 "B", v);
	else
		snprintf(out, n, d < 10 ? "%.2f%c" : d < 100 ? "%.1f%c" : "%.0f%c",
			 d, units[u]);
}

/* One cell of the table: a name or a clone's origin (2 * 255 + 2) and
 * room to spare. */
#define CELL_MAX 600

static void cell(const struct bk_lpool_entry *e, enum col c, bool exact,
		 char *out, size_t n)
{
	time_t t;
	struct tm tm;

	switch (c) {
	case C_NAME: snprintf(out, n, "%s", e->name); break;
	case C_TYPE:
		snprintf(out, n, "%s",
			 e->type == BK_LPOOL_SNAPSHOT ? "snapshot" : "filesystem");
		break;
	case C_GUID:
		if (e->type == BK_LPOOL_SNAPSHOT)
			snprintf(out, n, "%" PRIu64, e->guid);
		else
			snprintf(out, n, "-");
		break;
	case C_CREATETXG: snprintf(out, n, "%" PRIu64, e->createtxg); break;
	case C_CREATION:
		if (exact) {
			snprintf(out, n, "%" PRIu64, e->creation);
			break;
		}
		t = (time_t)e->creation;
		localtime_r(&t, &tm);
		strftime(out, n, "%a %b %e %k:%M %Y", &tm);
		break;
	case C_REFER:
		if (exact)
			snprintf(out, n, "%" PRIu64, e->referenced);
		else
			human(e->referenced, out, n);
		break;
	case C_OBJECTS: snprintf(out, n, "%" PRIu64, e->objects); break;
	case C_ORIGIN: snprintf(out, n, "%s", e->origin[0] ? e->origin : "-"); break;
	case C_USERREFS:
		if (e->type == BK_LPOOL_SNAPSHOT)
			snprintf(out, n, "%" PRIu32, e->userrefs);
		else
			snprintf(out, n, "-");
		break;
	default: snprintf(out, n, "-"); break;
	}
}

static int pool_list(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	struct bk_lpool *p;
	struct bk_lpool_entry *v = NULL;
	struct bk_error err;
	enum bk_code rc;
	enum col cols[16];
	size_t ncols = 0, n = 0, width[16] = { 0 };
	bool scripted = false, exact = false, recursive = false, json = false;
	unsigned types = 0;
	const char *root = NULL;
	int c, ret;

	parse_cols("name,referenced,objects,creation", cols, &ncols);
	optind = 0;
	while ((c = getopt_long(argc, argv, "Hpro:t:", longopts, NULL)) != -1) {
		switch (c) {
		case 'H': scripted = true; break;
		case 'p': exact = true; break;
		case 'r': recursive = true; break;
		case 'j': json = true; break;
		case 'o':
			if (parse_cols(optarg, cols, &ncols))
				return EXIT_USAGE;
			break;
		case 't': {
			char *dup = strdup(optarg), *save = NULL, *tok;

			for (tok = dup ? strtok_r(dup, ",", &save) : NULL; tok;
			     tok = strtok_r(NULL, ",", &save)) {
				if (!strcmp(tok, "filesystem") || !strcmp(tok, "fs"))
					types |= BK_LPOOL_FILESYSTEM;
				else if (!strcmp(tok, "snapshot") ||
					 !strcmp(tok, "snap"))
					types |= BK_LPOOL_SNAPSHOT;
				else if (!strcmp(tok, "volume") ||
					 !strcmp(tok, "vol"))
					; /* the local pool has no volumes */
				else if (!strcmp(tok, "all"))
					types |= BK_LPOOL_FILESYSTEM |
						 BK_LPOOL_SNAPSHOT;
				else {
					int bad = usage_error(
						self(), "unknown type '%s'", tok);

					free(dup);
					return bad;
				}
			}
			free(dup);
			break;
		}
		default: return usage_error(self(), NULL);
		}
	}
	if (optind < argc - 1)
		return usage_error(self(), "pool list takes at most one name");
	if (optind == argc - 1)
		root = argv[optind];
	if (!types)
		types = root && strchr(root, '@') ? BK_LPOOL_SNAPSHOT
						  : BK_LPOOL_FILESYSTEM;
	if ((ret = open_lpool(&p, false)))
		return ret;
	rc = bk_lpool_list(p, root, recursive, types, &v, &n, &err);
	bk_lpool_close(p);
	if (rc)
		return fail(rc, &err);
	if (json) {
		printf("[");
		for (size_t i = 0; i < n; i++) {
			const struct bk_lpool_entry *e = &v[i];

			printf("%s\n {\"name\": \"%s\", \"type\": \"%s\", "
			       "\"guid\": \"%016" PRIx64 "\", \"createtxg\": "
			       "%" PRIu64 ", \"creation\": %" PRIu64
			       ", \"referenced\": %" PRIu64 ", \"objects\": "
			       "%" PRIu64 ", \"origin\": \"%s\", \"modified\": "
			       "%s}",
			       i ? "," : "", e->name,
			       e->type == BK_LPOOL_SNAPSHOT ? "snapshot"
							    : "filesystem",
			       e->guid, e->createtxg, e->creation,
			       e->referenced, e->objects, e->origin,
			       e->modified ? "true" : "false");
		}
		printf("\n]\n");
		free(v);
		return EXIT_OK;
	}
	/* aligned columns need the widths first */
	for (size_t k = 0; k < ncols; k++)
		width[k] = cols[k] == C_REFER ? 5 : strlen(col_names[cols[k]]);
	for (size_t i = 0; !scripted && i < n; i++)
		for (size_t k = 0; k < ncols; k++) {
			char b[CELL_MAX];

			cell(&v[i], cols[k], exact, b, sizeof(b));
			if (strlen(b) > width[k])
				width[k] = strlen(b);
		}
	if (!scripted) {
		for (size_t k = 0; k < ncols; k++) {
			char up[32];
			size_t j;

			for (j = 0; col_names[cols[k]][j] && j < sizeof(up) - 1; j++)
				up[j] = (char)(col_names[cols[k]][j] - 32);
			up[j] = '\0';
			if (cols[k] == C_REFER)
				snprintf(up, sizeof(up), "REFER");
			if (k + 1 < ncols)
				printf("%-*s  ", (int)width[k], up);
			else
				printf("%s\n", up);
		}
	}
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < ncols; k++) {
			char b[CELL_MAX];

			cell(&v[i], cols[k], exact, b, sizeof(b));
			if (scripted)
				printf(k + 1 < ncols ? "%s\t" : "%s\n", b);
			else if (k + 1 < ncols)
				printf("%-*s  ", (int)width[k], b);
			else
				printf("%s\n", b);
		}
	free(v);
	return EXIT_OK;
}

/* ---- send and receive ---------------------------------------------------- */

static int pool_send(int argc, char **argv)
{
	struct bk_lpool *p;
	struct bk_lpool_send_result res;
	struct bk_error err;
	enum bk_code rc;
	const char *from = NULL;
	bool verbose = false;
	struct bk_drr_fdbuf out = { .fd = STDOUT_FILENO };
	int c, ret;
	double t0 = bk_mono();

	optind = 0;
	while ((c = getopt(argc, argv, "i:v")) != -1) {
		switch (c) {
		case 'i': from = optarg; break;
		case 'v': verbose = true; break;
		default: return usage_error(self(), NULL);
		}
	}
	if (optind != argc - 1)
		return usage_error(self(), "pool send takes one snapshot");
	if (isatty(STDOUT_FILENO)) {
		msg("refusing to write a stream to a terminal: redirect it "
		    "(zbak pool send %s > FILE) or pipe it",
		    argv[optind]);
		return EXIT_USAGE;
	}
	if ((ret = open_lpool(&p, false)))
		return ret;
	rc = bk_lpool_send(p, argv[optind], from, bk_drr_sink_fdbuf, &out, &res,
			   &err);
	if (rc)
		out.len = 0; /* what is gathered is no stream: drop it */
	if (bk_drr_fdbuf_flush(&out, &err) && !rc)
		rc = err.code;
	bk_lpool_close(p);
	if (rc)
		return fail(rc, &err);
	if (verbose) {
		char b[32];

		human_bytes(res.bytes, b, sizeof(b));
		fprintf(stderr, "sent %s%s%s: %s, %" PRIu64 " records, %.2f s\n",
			argv[optind], from ? " from " : "", from ? from : "", b,
			res.records, bk_mono() - t0);
	}
	return EXIT_OK;
}

static int pool_recv(int argc, char **argv)
{
	struct bk_lpool *p;
	struct bk_lpool_recv *rx = NULL;
	struct bk_lpool_recv_opts o = { 0 };
	struct bk_lpool_recv_result res;
	struct bk_error err;
	enum bk_code rc;
	bool verbose = false;
	uint8_t *buf;
	int c, ret;
	double t0 = bk_mono();

	optind = 0;
	while ((c = getopt(argc, argv, "Fvsu")) != -1) {
		switch (c) {
		case 'F': o.force = true; break;
		case 'v': verbose = true; break;
		case 's': /* zfs receive -s: nothing to keep here */
		case 'u': /* not mounted: nothing is */
			break;
		default: return usage_error(self(), NULL);
		}
	}
	if (optind != argc - 1)
		return usage_error(self(), "pool recv takes one dataset");
	if (isatty(STDIN_FILENO)) {
		msg("pool recv reads a stream from stdin: use a pipe or a "
		    "redirection");
		return EXIT_USAGE;
	}
	buf = malloc(1u << 20);
	if (!buf) {
		msg("out of memory");
		return EXIT_FAIL;
	}
	if ((ret = open_lpool(&p, false))) {
		free(buf);
		return ret;
	}
	rc = bk_lpool_recv_begin(p, argv[optind], &o, &rx, &err);
	while (!rc) {
		ssize_t n = read(STDIN_FILENO, buf, 1u << 20);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = bk_error_set(&err, BK_ERR_IO, "reading stdin: %s",
					  strerror(errno));
			break;
		}
		if (n == 0)
			break;
		rc = bk_lpool_recv_write(rx, buf, (size_t)n, &err);
	}
	free(buf);
	if (rc) {
		bk_lpool_recv_abort(rx);
		bk_lpool_close(p);
		msg("cannot receive into %s: %s", argv[optind], err.msg);
		msg("%s is unchanged", argv[optind]);
		return exit_for(rc);
	}
	rc = bk_lpool_recv_finish(rx, &res, &err);
	bk_lpool_close(p);
	if (rc) {
		msg("cannot receive into %s: %s", argv[optind], err.msg);
		msg("%s is unchanged", argv[optind]);
		return exit_for(rc);
	}
	if (verbose) {
		char b[32], nb[32];

		human_bytes(res.bytes, b, sizeof(b));
		human_bytes(res.new_bytes, nb, sizeof(nb));
		fprintf(stderr,
			"received %s%s: %s in %" PRIu64 " records, %s of new "
			"blocks, %.2f s\n",
			res.name,
			res.substreams > 1 ? " and the package's children" : "",
			b, res.records, nb, bk_mono() - t0);
	}
	return EXIT_OK;
}

static void print_diff(void *ctx, const char *d)
{
	(void)ctx;
	printf("%s\n", d);
}

static int pool_diff(int argc, char **argv)
{
	struct bk_lpool *a, *b = NULL;
	struct bk_error err;
	enum bk_code rc;
	const char *other = NULL;
	uint64_t n;
	int c;

	optind = 0;
	while ((c = getopt(argc, argv, "d:")) != -1) {
		if (c != 'd')
			return usage_error(self(), NULL);
		other = optarg;
	}
	if (optind != argc - 2)
		return usage_error(self(), "pool diff takes two names");
	if (open_lpool(&a, false))
		return EXIT_USAGE;
	if (other) {
		rc = bk_lpool_open(other, false, &b, &err);
		if (rc) {
			bk_lpool_close(a);
			msg("%s", err.msg);
			return EXIT_USAGE;
		}
	}
	rc = bk_lpool_diff(a, argv[optind], b ? b : a, argv[optind + 1],
			   print_diff, NULL, &n, &err);
	bk_lpool_close(a);
	bk_lpool_close(b);
	if (rc) {
		/* as diff(1): 1 means "they differ", trouble is 2 */
		msg("%s", err.msg);
		return EXIT_USAGE;
	}
	if (n) {
		if (n > 1000)
			printf("... %" PRIu64 " differences in all\n", n);
		return EXIT_FAIL;
	}
	if (!g.quiet)
		fprintf(stderr, "%s and %s hold the same data\n", argv[optind],
			argv[optind + 1]);
	return EXIT_OK;
}

int cmd_pool(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(int, char **);
	} subs[] = {
		{ "create", pool_create },   { "list", pool_list },
		{ "snapshot", pool_simple }, { "snap", pool_simple },
		{ "rollback", pool_simple }, { "destroy", pool_simple },
		{ "write", pool_write },     { "free", pool_free },
		{ "send", pool_send },       { "recv", pool_recv },
		{ "receive", pool_recv },    { "diff", pool_diff },
		{ "hold", pool_holds },      { "release", pool_holds },
		{ "holds", pool_holds },
	};

	if (argc < 2)
		return usage_error(self(), "pool needs a subcommand");
	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
		if (!strcmp(argv[1], subs[i].name))
			return subs[i].fn(argc - 1, argv + 1);
	return usage_error(self(), "unknown pool subcommand '%s'", argv[1]);
}
