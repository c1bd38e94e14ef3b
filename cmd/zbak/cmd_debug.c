/* SPDX-License-Identifier: MIT */
/* zbak debug gen: write a synthetic send stream (tests, benchmarks, fuzz). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backup/gen.h"
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
	"  --seed S             any 64-bit number (default 0)\n"
	"  --snap-prefix P      snapshots are FS@P<version> (default v)\n"
	"  --byteswap           write the other byte order\n"
	"  --legacy             the 2008 format (no trailers, no features)\n"
	"  --compound           a zfs send -R package of FS and FS/child\n"
	"  -o, --output FILE    write to FILE instead of stdout\n"
	"the same options always give the same bytes\n";

struct out {
	int fd;
	size_t len;
	uint8_t *buf;
};

static enum bk_code write_all(int fd, const uint8_t *p, size_t n,
			      struct bk_error *err)
{
	while (n) {
		ssize_t k = write(fd, p, n);

		if (k < 0) {
			if (errno == EINTR)
				continue;
			return bk_error_set(err, BK_ERR_IO, "write: %s",
					    strerror(errno));
		}
		p += k;
		n -= (size_t)k;
	}
	return BK_OK;
}

static enum bk_code flush(struct out *o, struct bk_error *err)
{
	enum bk_code rc = write_all(o->fd, o->buf, o->len, err);

	o->len = 0;
	return rc;
}

/* Small pieces (headers) are gathered; large payloads go straight out. */
static enum bk_code out_sink(void *ctx, const void *buf, size_t len,
			     struct bk_error *err)
{
	struct out *o = ctx;
	enum bk_code rc;

	if (o->len + len > OUT_BUF) {
		rc = flush(o, err);
		if (rc)
			return rc;
	}
	if (len >= OUT_BUF / 4)
		return write_all(o->fd, buf, len, err);
	memcpy(o->buf + o->len, buf, len);
	o->len += len;
	return BK_OK;
}

/* "64M" -> 67108864; K/M/G/T are powers of 1024, an optional "iB"/"B". */
static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	unsigned shift = 0;

	if (!*s || *s == '-')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -1;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	case 't': case 'T': shift = 40; end++; break;
	default: break;
	}
	if (shift && (strcmp(end, "iB") == 0 || strcmp(end, "B") == 0))
		end += strlen(end);
	if (*end || (shift && v > (UINT64_MAX >> shift)))
		return -1;
	*out = (uint64_t)v << shift;
	return 0;
}

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

/* A plain number (decimal, or 0x hex), no suffix. */
static int parse_u64(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!*s || *s == '-')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || *end)
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
	       O_COMPOUND };
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
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const struct cmd *self = find_cmd("debug");
	struct bk_gen_opts o;
	struct bk_error err;
	struct out out = { .fd = -1, .len = 0, .buf = NULL };
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
		case O_SEED: bad = parse_u64(a, &o.seed); break;
		case O_BSWAP: o.byteswap = true; break;
		case O_LEGACY: o.legacy = true; break;
		case O_COMPOUND: o.compound = true; break;
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
	out.buf = malloc(OUT_BUF);
	if (!out.buf) {
		msg("out of memory");
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
	rc = bk_gen_stream(&o, out_sink, &out, &err);
	if (!rc)
		rc = flush(&out, &err);
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
	free(out.buf);
	return ret;
}

int cmd_debug(int argc, char **argv)
{
	if (argc < 2)
		return usage_error(find_cmd("debug"), "debug: which tool?");
	if (strcmp(argv[1], "gen") == 0)
		return cmd_gen(argc - 1, argv + 1);
	if (strcmp(argv[1], "store") == 0)
		return cmd_debug_store(argc - 1, argv + 1);
	return usage_error(find_cmd("debug"), "debug: unknown tool '%s'",
			   argv[1]);
}
