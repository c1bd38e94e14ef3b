/* SPDX-License-Identifier: MIT */
/*
 * zbak debug gen: write a synthetic send stream (tests, benchmarks, fuzz).
 * zbak debug content: what a stream carries, as sorted text lines.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backup/crypto.h"
#include "backup/drr.h"
#include "backup/gen.h"
#include "backup/job.h"
#include "backup/util.h"
#include "cli.h"

#define OUT_BUF (1u << 20)

static const char gen_help[] =
	"usage: zbak debug gen [options]\n"
	"write a synthetic send stream to stdout (or -o FILE)\n"
	"  --name FS            dataset name (default pool/fs)\n"
	"  --objects N          files in version 1 (default: from --size, else 16)\n"
	"  --size BYTES[K|M|G|T] file data in version 1, about (default 16 blocks per file)\n"
	"  --blocksize B[K|M]   power of two, 512..16M (default 128K; LARGE_BLOCKS over 128K)\n"
	"  --compressible F     fraction of text blocks (LZ4 compresses them 2-4x), 0..1 (default 0)\n"
	"  --version V          snapshot to send, 1 = the first (default 1)\n"
	"  --from V0            incremental from version V0 (V0 < V)\n"
	"  --change F           fraction of blocks rewritten per version, 0..1 (default 0.01)\n"
	"  --seed S             any 64-bit number, decimal (default 0)\n"
	"  --snap-prefix P      snapshots are FS@P<version> (default v)\n"
	"  --byteswap           write the other byte order\n"
	"  --legacy             the 2008 format (no trailers, no features)\n"
	"  --compound           a zfs send -R package of FS and FS/child\n"
	"  --write-compress ALG WRITEs as zfs send -c sends them from a pool with\n"
	"                       compression=ALG (lzjb, gzip, gzip-1..9, zle, lz4, zstd)\n"
	"  -o, --output FILE    write to FILE instead of stdout\n"
	"the same options always give the same bytes\n";

static int parse_fraction(const char *s, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= 0 && v <= 1))
		return -1;
	*out = v;
	return 0;
}

static int parse_u32(const char *s, uint32_t *out)
{
	uint64_t v;

	if (parse_size(s, &v) || v > UINT32_MAX)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

static const char *opt_name(const struct option *opts, int val)
{
	for (; opts->name; opts++)
		if (opts->val == val)
			return opts->name;
	return "?";
}

static int cmd_gen(int argc, char **argv)
{
	enum { O_NAME = 256, O_OBJECTS, O_SIZE, O_BS, O_COMP, O_VERSION,
	       O_FROM, O_CHANGE, O_SEED, O_PREFIX, O_BSWAP, O_LEGACY,
	       O_COMPOUND, O_WCOMP };
	static const struct option longopts[] = {
		{ "name", required_argument, NULL, O_NAME },
		{ "objects", required_argument, NULL, O_OBJECTS },
		{ "size", required_argument, NULL, O_SIZE },
		{ "blocksize", required_argument, NULL, O_BS },
		{ "compressible", required_argument, NULL, O_COMP },
		{ "version", required_argument, NULL, O_VERSION },
		{ "from", required_argument, NULL, O_FROM },
		{ "change", required_argument, NULL, O_CHANGE },
		{ "seed", required_argument, NULL, O_SEED },
		{ "snap-prefix", required_argument, NULL, O_PREFIX },
		{ "byteswap", no_argument, NULL, O_BSWAP },
		{ "legacy", no_argument, NULL, O_LEGACY },
		{ "compound", no_argument, NULL, O_COMPOUND },
		{ "write-compress", required_argument, NULL, O_WCOMP },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const struct cmd *self = find_cmd("debug");
	struct bk_gen_opts o;
	struct bk_error err;
	struct bk_drr_fdbuf out = { .fd = -1 };
	const char *path = NULL;
	bool created = false;
	int c, ret = EXIT_FAIL;
	enum bk_code rc;

	bk_error_clear(&err);
	bk_gen_opts_init(&o);
	optind = 0; /* full reset: glibc keeps the global parse's mode otherwise */
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":o:h", longopts, NULL)) != -1) {
		const char *a = optarg;
		int bad = 0;

		switch (c) {
		case O_NAME: o.name = a; break;
		case O_PREFIX: o.snap_prefix = a; break;
		case O_OBJECTS: bad = parse_size(a, &o.objects) || !o.objects; break;
		case O_SIZE: bad = parse_size(a, &o.size) || !o.size; break;
		case O_BS: bad = parse_u32(a, &o.blocksize) || !o.blocksize; break;
		case O_COMP: bad = parse_fraction(a, &o.compressible); break;
		case O_CHANGE: bad = parse_fraction(a, &o.change); break;
		case O_VERSION: bad = parse_u32(a, &o.version) || !o.version; break;
		case O_FROM: bad = parse_u32(a, &o.from) || !o.from; break;
		case O_SEED:
			bad = bk_parse_uint(a, UINT64_MAX, &o.seed, NULL) != BK_OK;
			break;
		case O_BSWAP: o.byteswap = true; break;
		case O_LEGACY: o.legacy = true; break;
		case O_COMPOUND: o.compound = true; break;
		case O_WCOMP: bad = !(o.write_compress = zbak_zio_compress(a)); break;
		case 'o': path = a; break;
		case 'h':
			fputs(gen_help, stdout);
			ret = EXIT_OK;
			goto out;
		case ':':
			ret = usage_error(self, "gen: option '%s' needs a value",
					  argv[optind - 1]);
			goto out;
		default:
			ret = usage_error(self, "gen: unknown option '%s'",
					  argv[optind - 1]);
			goto out;
		}
		if (bad) {
			ret = usage_error(self, "gen: bad value '%s' for --%s",
					  a, opt_name(longopts, c));
			goto out;
		}
	}
	if (optind < argc) {
		ret = usage_error(self, "gen: unexpected argument '%s'",
				  argv[optind]);
		goto out;
	}
	if (!path && isatty(STDOUT_FILENO)) {
		msg("refusing to write a binary stream to a terminal "
		    "(redirect stdout or use -o FILE)");
		ret = EXIT_USAGE;
		goto out;
	}
	if (path) {
		out.fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
			      0644);
		if (out.fd < 0) {
			msg("cannot open %s: %s", path, strerror(errno));
			goto out;
		}
		created = true;
	} else {
		out.fd = STDOUT_FILENO;
	}
	rc = bk_gen_stream(&o, bk_drr_sink_fdbuf, &out, &err);
	if (rc)
		out.len = 0;
	if (bk_drr_fdbuf_flush(&out, &err) && !rc)
		rc = err.code;
	if (!rc && path && close(out.fd) != 0)
		rc = bk_error_set(&err, BK_ERR_IO, "close: %s", strerror(errno));
	if (path)
		out.fd = -1;
	if (rc) {
		if (rc == BK_ERR_USAGE) {
			ret = usage_error(self, "gen: %s", err.msg);
		} else {
			if (rc == BK_ERR_IO)
				bk_error_prefix(&err, "%s",
						path ? path : "stdout");
			msg("%s", err.msg);
			ret = exit_for(rc);
		}
		goto out;
	}
	created = false;
	ret = EXIT_OK;
out:
	if (path && out.fd >= 0)
		close(out.fd);
	if (created)
		unlink(path); /* no half-written stream left behind */
	out.len = 0;
	bk_drr_fdbuf_flush(&out, &err); /* only frees the buffer */
	return ret;
}


/* ---- debug content ------------------------------------------------------ */

static const char content_help[] =
	"usage: zbak debug content [FILE|-]\n"
	"print what a send stream carries, one line per item, sorted: the\n"
	"BEGIN fields (features without the stream-only DEDUP, DEDUPPROPS,\n"
	"RESUMING and HOLDS), OBJECT, WRITE, WRITE_EMBEDDED, SPILL, REDACT and\n"
	"OBJECT_RANGE records with BLAKE2b-256 hashes of their payloads; FREE\n"
	"and FREEOBJECTS are left out.  Each line starts with the substream's\n"
	"toname; dn_slots 0 (2008 format) reads as 1.  Two streams that carry the same data print the same lines\n"
	"whatever the order of their records.  The stream is checked as zbak\n"
	"inspect checks it (checksums and receiver rules): on a failure nothing\n"
	"is printed and the exit status is 3.\n";

/* Feature bits that say how a stream was made, not what it holds. */
#define CONTENT_STREAM_ONLY \
	(BK_FEAT_DEDUP | BK_FEAT_DEDUPPROPS | BK_FEAT_RESUMING | BK_FEAT_HOLDS)

struct content {
	char **lines;
	size_t n, cap;
	char toname[BK_DRR_NAME_LEN + 1]; /* of the current substream */
};

static void content_release(struct content *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->lines[i]);
	free(c->lines);
	c->lines = NULL;
	c->n = c->cap = 0;
}

static enum bk_code content_add(struct content *c, struct bk_error *err,
				const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static enum bk_code content_add(struct content *c, struct bk_error *err,
				const char *fmt, ...)
{
	va_list ap;
	char *body = NULL, *line = NULL;
	int k;

	if (c->n == c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 1024;
		char **l = realloc(c->lines, cap * sizeof(*l));

		if (!l)
			return bk_error_set(err, BK_ERR_NOMEM, "out of memory");
		c->lines = l;
		c->cap = cap;
	}
	va_start(ap, fmt);
	k = vasprintf(&body, fmt, ap);
	va_end(ap);
	if (k < 0)
		return bk_error_set(err, BK_ERR_NOMEM, "out of memory");
	k = asprintf(&line, "%s %s", c->toname, body);
	free(body);
	if (k < 0)
		return bk_error_set(err, BK_ERR_NOMEM, "out of memory");
	c->lines[c->n++] = line;
	return BK_OK;
}

/* "h=" and the BLAKE2b-256 of the payload in hex. */
static void payload_hash(const struct bk_drr_rec *rec, char out[2 * BK_ID_LEN + 1])
{
	struct bk_hash h;
	struct bk_id id;

	bk_hash_init(&h);
	if (rec->payload_len)
		bk_hash_update(&h, rec->payload, (size_t)rec->payload_len);
	bk_hash_final(&h, &id);
	bk_id_hex(&id, out);
}

static enum bk_code content_record(struct content *c,
				   const struct bk_drr_rec *rec,
				   struct bk_error *err)
{
	const struct bk_drr *r = &rec->hdr;
	char h[2 * BK_ID_LEN + 1], salt[17], iv[25], mac[33];
	char feat[BK_DRR_FEATURE_NAMES_MAX];

	if (rec->substream == 0)
		return BK_OK; /* compound header, its END, the final END */
	switch (r->type) {
	case BK_DRR_BEGIN:
		snprintf(c->toname, sizeof(c->toname), "%s",
			 r->u.begin.toname);
		bk_drr_feature_names(BK_DRR_FEATURES(r->u.begin.versioninfo) &
					     ~CONTENT_STREAM_ONLY,
				     feat, sizeof(feat));
		return content_add(c, err,
				   "BEGIN toguid=%" PRIu64 " fromguid=%" PRIu64
				   " creation_time=%" PRIu64 " type=%" PRIu32
				   " features=%s",
				   r->u.begin.toguid, r->u.begin.fromguid,
				   r->u.begin.creation_time,
				   r->u.begin.objset_type,
				   feat[0] ? feat : "-");
	case BK_DRR_OBJECT:
		payload_hash(rec, h);
		return content_add(c, err,
				   "OBJECT object=%" PRIu64 " type=%" PRIu32
				   " bonustype=%" PRIu32 " blksz=%" PRIu32
				   " bonuslen=%" PRIu32 " checksumtype=%u"
				   " compress=%u dn_slots=%u flags=%u"
				   " raw_bonuslen=%" PRIu32 " indblkshift=%u"
				   " nlevels=%u nblkptr=%u maxblkid=%" PRIu64
				   " bonus=%s",
				   r->u.object.object, r->u.object.type,
				   r->u.object.bonustype, r->u.object.blksz,
				   r->u.object.bonuslen,
				   r->u.object.checksumtype,
				   r->u.object.compress,
				   /* 0 (the 2008 format): one slot */
				   r->u.object.dn_slots ? r->u.object.dn_slots
							: 1u,
				   r->u.object.flags, r->u.object.raw_bonuslen,
				   r->u.object.indblkshift,
				   r->u.object.nlevels, r->u.object.nblkptr,
				   r->u.object.maxblkid, h);
	case BK_DRR_WRITE:
		payload_hash(rec, h);
		bk_hex(r->u.write.salt, sizeof(r->u.write.salt), salt);
		bk_hex(r->u.write.iv, sizeof(r->u.write.iv), iv);
		bk_hex(r->u.write.mac, sizeof(r->u.write.mac), mac);
		return content_add(c, err,
				   "WRITE object=%" PRIu64 " offset=%" PRIu64
				   " logical_size=%" PRIu64
				   " compressed_size=%" PRIu64
				   " compressiontype=%u checksumtype=%u"
				   " flags=%u salt=%s iv=%s mac=%s data=%s",
				   r->u.write.object, r->u.write.offset,
				   r->u.write.logical_size,
				   r->u.write.compressed_size,
				   r->u.write.compressiontype,
				   r->u.write.checksumtype, r->u.write.flags,
				   salt, iv, mac, h);
	case BK_DRR_WRITE_EMBEDDED:
		payload_hash(rec, h);
		return content_add(c, err,
				   "WRITE_EMBEDDED object=%" PRIu64
				   " offset=%" PRIu64 " length=%" PRIu64
				   " compression=%u etype=%u lsize=%" PRIu32
				   " psize=%" PRIu32 " data=%s",
				   r->u.write_embedded.object,
				   r->u.write_embedded.offset,
				   r->u.write_embedded.length,
				   r->u.write_embedded.compression,
				   r->u.write_embedded.etype,
				   r->u.write_embedded.lsize,
				   r->u.write_embedded.psize, h);
	case BK_DRR_SPILL:
		payload_hash(rec, h);
		bk_hex(r->u.spill.salt, sizeof(r->u.spill.salt), salt);
		bk_hex(r->u.spill.iv, sizeof(r->u.spill.iv), iv);
		bk_hex(r->u.spill.mac, sizeof(r->u.spill.mac), mac);
		return content_add(c, err,
				   "SPILL object=%" PRIu64 " length=%" PRIu64
				   " type=%" PRIu32 " flags=%u compression=%u"
				   " compressed_size=%" PRIu64
				   " salt=%s iv=%s mac=%s data=%s",
				   r->u.spill.object, r->u.spill.length,
				   r->u.spill.type, r->u.spill.flags,
				   r->u.spill.compressiontype,
				   r->u.spill.compressed_size, salt, iv, mac,
				   h);
	case BK_DRR_REDACT:
		return content_add(c, err,
				   "REDACT object=%" PRIu64 " offset=%" PRIu64
				   " length=%" PRIu64,
				   r->u.redact.object, r->u.redact.offset,
				   r->u.redact.length);
	case BK_DRR_OBJECT_RANGE:
		bk_hex(r->u.object_range.salt, sizeof(r->u.object_range.salt),
		       salt);
		bk_hex(r->u.object_range.iv, sizeof(r->u.object_range.iv), iv);
		bk_hex(r->u.object_range.mac, sizeof(r->u.object_range.mac),
		       mac);
		return content_add(c, err,
				   "OBJECT_RANGE firstobj=%" PRIu64
				   " numslots=%" PRIu64 " flags=%u"
				   " salt=%s iv=%s mac=%s",
				   r->u.object_range.firstobj,
				   r->u.object_range.numslots,
				   r->u.object_range.flags, salt, iv, mac);
	default:
		return BK_OK; /* FREE, FREEOBJECTS, END */
	}
}

static int line_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static enum bk_code content_scan(struct content *c, int fd, const char *path,
				 struct bk_drr_parser *p, struct bk_error *err)
{
	struct bk_drr_rec rec;
	bool eof = false;
	char what[BK_ERROR_MSG_MAX];

	snprintf(what, sizeof(what), "read %s", path);
	for (;;) {
		enum bk_drr_status st = bk_drr_parser_next(p, &rec, err);

		if (st == BK_DRR_ERROR)
			return err->code;
		if (st == BK_DRR_RECORD) {
			enum bk_code rc = content_record(c, &rec, err);

			if (rc)
				return rc;
			continue;
		}
		if (st == BK_DRR_DONE && eof)
			return BK_OK;
		if (bk_drr_parser_read_fd(p, fd, OUT_BUF, what, &eof, err))
			return err->code;
	}
}

static int cmd_content(int argc, char **argv)
{
	const struct cmd *self = find_cmd("debug");
	struct bk_drr_parser_opts opts = { .validate = true };
	struct bk_drr_parser *p = NULL;
	struct content c = { .lines = NULL };
	struct bk_error err;
	const char *path = "-";
	int fd = -1, ret = EXIT_FAIL;
	enum bk_code rc;

	bk_error_clear(&err);
	if (argc == 2 && (strcmp(argv[1], "-h") == 0 ||
			  strcmp(argv[1], "--help") == 0)) {
		fputs(content_help, stdout);
		return EXIT_OK;
	}
	if (argc > 2)
		return usage_error(self, "content takes one FILE (or -)");
	if (argc == 2)
		path = argv[1];
	if (strcmp(path, "-") == 0) {
		fd = STDIN_FILENO;
		path = "(stdin)";
	} else {
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			msg("cannot open %s: %s", path, strerror(errno));
			return EXIT_FAIL;
		}
	}
	rc = bk_drr_parser_new(&opts, &p, &err);
	if (!rc)
		rc = content_scan(&c, fd, path, p, &err);
	if (rc) {
		msg("%s: %s", path, err.msg);
		ret = exit_for(rc);
		goto out;
	}
	qsort(c.lines, c.n, sizeof(*c.lines), line_cmp);
	for (size_t i = 0; i < c.n; i++)
		if (puts(c.lines[i]) == EOF)
			break;
	if (fflush(stdout) != 0 || ferror(stdout)) {
		msg("write to stdout: %s", strerror(errno));
		goto out;
	}
	ret = EXIT_OK;
out:
	if (fd > STDIN_FILENO)
		close(fd);
	bk_drr_parser_free(p);
	content_release(&c);
	return ret;
}

int cmd_debug(int argc, char **argv)
{
	if (argc < 2)
		return usage_error(find_cmd("debug"), "debug: which tool?");
	if (strcmp(argv[1], "gen") == 0)
		return cmd_gen(argc - 1, argv + 1);
	if (strcmp(argv[1], "content") == 0)
		return cmd_content(argc - 1, argv + 1);
	if (strcmp(argv[1], "gen-zpl") == 0)
		return cmd_debug_gen_zpl(argc - 1, argv + 1);
	if (strcmp(argv[1], "store") == 0)
		return cmd_debug_store(argc - 1, argv + 1);
	if (strcmp(argv[1], "recompress") == 0)
		return cmd_debug_recompress(argc - 1, argv + 1);
	return usage_error(find_cmd("debug"), "debug: unknown tool '%s'",
			   argv[1]);
}
