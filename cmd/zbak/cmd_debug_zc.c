/* SPDX-License-Identifier: MIT */
/*
 * zbak debug recompress ALG [FILE]: a send stream as `zfs send -c` of a
 * pool compressed with ALG would have sent it.  zfs-fuse (the real ZFS of
 * the tests) has no -c and sends every block decompressed, so this is how
 * a test gets compressed WRITE payloads of a real file system: each
 * uncompressed WRITE is compressed (bk_gen_compress), padded to 512-byte
 * sectors and kept when that saves an eighth, as ZFS keeps it; BEGIN gets
 * COMPRESSED and LZ4 (and ZSTD); checksums are written anew.  Output to
 * stdout, in this host's byte order, with record trailers.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backup/drr.h"
#include "backup/gen.h"
#include "backup/util.h"
#include "cli.h"

#define IN_BUF (1u << 20)

static const char recompress_help[] =
	"usage: zbak debug recompress ALG [FILE|-]\n"
	"  a send stream with its WRITE payloads compressed as zfs send -c sends\n"
	"  them from a pool with compression=ALG: lzjb, gzip (gzip-6), gzip-1..gzip-9,\n"
	"  zle, lz4, zstd (level 3); to stdout\n";

/* ALG's ZIO_COMPRESS_* number, 0 when unknown */
unsigned zbak_zio_compress(const char *name)
{
	static const char *const names[] = {
		[3] = "lzjb",	 [5] = "gzip-1", [6] = "gzip-2", [7] = "gzip-3",
		[8] = "gzip-4",	 [9] = "gzip-5", [10] = "gzip-6",
		[11] = "gzip-7", [12] = "gzip-8", [13] = "gzip-9",
		[14] = "zle",	 [15] = "lz4",	  [16] = "zstd",
	};

	if (!strcmp(name, "gzip"))
		return 10;
	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i] && !strcmp(names[i], name))
			return i;
	return 0;
}

struct rz {
	struct bk_drr_writer w;
	unsigned alg;
	bool in_sub; /* a substream began: the next substream-0 END is final */
	uint8_t *cbuf; /* BK_DRR_MAX_PAYLOAD bytes */
	uint64_t compressed, kept;
};

static enum bk_code rz_write(struct rz *z, const struct bk_drr_rec *rec,
			     struct bk_error *err)
{
	struct bk_drr r = rec->hdr;
	const uint8_t *pay = rec->payload;
	size_t len = (size_t)rec->payload_len;

	if (r.type == BK_DRR_BEGIN) {
		if (BK_DRR_HDRTYPE(r.u.begin.versioninfo) != BK_DRR_COMPOUNDSTREAM) {
			z->in_sub = true;
			r.u.begin.versioninfo |=
				(BK_FEAT_COMPRESSED | BK_FEAT_LZ4 |
				 (z->alg == 16 ? BK_FEAT_ZSTD : 0))
				<< 2;
		}
	} else if (r.type == BK_DRR_END && rec->substream == 0 && z->in_sub) {
		return bk_drr_write_final_end(&z->w, err);
	} else if (r.type == BK_DRR_WRITE && r.u.write.compressiontype == 0 &&
		   len == r.u.write.logical_size) {
		size_t n = bk_gen_compress(z->alg, pay, len, z->cbuf,
					   len - len / 8);
		size_t padded = (n + 511) / 512 * 512;

		if (n && padded < len) {
			memset(z->cbuf + n, 0, padded - n);
			r.u.write.compressiontype = (uint8_t)z->alg;
			r.u.write.compressed_size = padded;
			pay = z->cbuf;
			len = padded;
			z->compressed++;
		} else {
			z->kept++;
		}
	}
	return bk_drr_write(&z->w, &r, pay, len, err);
}

static enum bk_code rz_run(struct rz *z, int fd, struct bk_drr_parser *p,
			   struct bk_error *err)
{
	struct bk_drr_rec rec;
	bool eof = false;

	for (;;) {
		enum bk_drr_status st = bk_drr_parser_next(p, &rec, err);

		if (st == BK_DRR_ERROR)
			return err->code;
		if (st == BK_DRR_RECORD) {
			enum bk_code rc = rz_write(z, &rec, err);

			if (rc)
				return rc;
			continue;
		}
		if (st == BK_DRR_DONE && eof)
			return BK_OK;
		if (bk_drr_parser_read_fd(p, fd, IN_BUF, "read input", &eof,
					  err))
			return err->code;
	}
}

int cmd_debug_recompress(int argc, char **argv)
{
	const struct cmd *self = find_cmd("debug");
	struct bk_drr_parser_opts opts = { .validate = false };
	struct bk_drr_parser *p = NULL;
	struct bk_drr_fdbuf out = { .fd = STDOUT_FILENO };
	struct rz z;
	struct bk_error err;
	const char *path = "-";
	int fd = STDIN_FILENO, ret = EXIT_FAIL;
	enum bk_code rc;

	bk_error_clear(&err);
	memset(&z, 0, sizeof(z));
	if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		fputs(recompress_help, stdout);
		return EXIT_OK;
	}
	if (argc < 2 || argc > 3)
		return usage_error(self, "recompress takes ALG and one FILE (or -)");
	z.alg = zbak_zio_compress(argv[1]);
	if (!z.alg)
		return usage_error(self, "recompress: unknown algorithm '%s'",
				   argv[1]);
	if (argc == 3)
		path = argv[2];
	if (isatty(STDOUT_FILENO)) {
		msg("refusing to write a binary stream to a terminal");
		return EXIT_USAGE;
	}
	if (strcmp(path, "-") != 0 &&
	    (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		msg("cannot open %s: %s", path, strerror(errno));
		return EXIT_FAIL;
	}
	z.cbuf = malloc(BK_DRR_MAX_PAYLOAD);
	if (!z.cbuf) {
		msg("out of memory");
		goto out;
	}
	bk_drr_writer_init(&z.w, bk_drr_sink_fdbuf, &out, false, false);
	rc = bk_drr_parser_new(&opts, &p, &err);
	if (!rc)
		rc = rz_run(&z, fd, p, &err);
	if (rc)
		out.len = 0;
	if (bk_drr_fdbuf_flush(&out, &err) && !rc)
		rc = err.code;
	if (rc) {
		msg("%s: %s", path, err.msg);
		ret = exit_for(rc);
		goto out;
	}
	msg("%s: %" PRIu64 " blocks compressed with %s, %" PRIu64
	    " kept as they were", path, z.compressed, argv[1], z.kept);
	ret = EXIT_OK;
out:
	if (fd > STDIN_FILENO)
		close(fd);
	free(z.cbuf);
	bk_drr_parser_free(p);
	return ret;
}
