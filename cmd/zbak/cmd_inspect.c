/* SPDX-License-Identifier: MIT */
/* zbak inspect: check a send stream and describe it. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backup/drr.h"
#include "backup/nvlist.h"
#include "cli.h"

#define READ_SIZE (1u << 20)
#define MAX_LISTED 4096 /* substreams described in full; the rest counted */

struct sub {
	struct bk_drr begin;
};

struct inspect {
	bool verbose, validate, json;
	const char *path;
	struct bk_buf out; /* -v text, flushed as it grows */
	struct sub *subs;
	size_t nsubs;
	struct bk_drr header; /* compound header BEGIN */
	bool have_header;
	bool ok;
	struct bk_error err;
};

static int flush_out(struct inspect *in)
{
	if (in->out.len && fwrite(in->out.data, 1, in->out.len, stdout) !=
				   in->out.len)
		return -1;
	bk_buf_reset(&in->out);
	return 0;
}

static enum bk_code dump_nvlist(struct inspect *in, const uint8_t *p,
				size_t len, struct bk_error *err)
{
	struct bk_nvlist *nvl = NULL;
	struct bk_error nerr;
	enum bk_code rc;

	if (bk_nvlist_unpack(p, len, &nvl, &nerr) != BK_OK)
		/* zstream dump reports and goes on; the stream may still be
		 * sound (the checksum covers the bytes, not their meaning) */
		return bk_buf_printf(&in->out, err,
				     "cannot decode BEGIN nvlist: %s\n",
				     nerr.msg);
	rc = bk_nvlist_dump(nvl, &in->out, err);
	bk_nvlist_free(nvl);
	return rc;
}

static enum bk_code on_record(struct inspect *in, const struct bk_drr_rec *rec,
			      struct bk_error *err)
{
	enum bk_code rc = BK_OK;

	if (rec->hdr.type == BK_DRR_BEGIN) {
		if (BK_DRR_HDRTYPE(rec->hdr.u.begin.versioninfo) ==
		    BK_DRR_COMPOUNDSTREAM) {
			in->header = rec->hdr;
			in->have_header = true;
		} else if (in->nsubs < MAX_LISTED) {
			struct sub *n = realloc(in->subs, (in->nsubs + 1) *
								  sizeof(*n));
			if (!n)
				return bk_error_set(err, BK_ERR_NOMEM,
						    "out of memory");
			in->subs = n;
			in->subs[in->nsubs++].begin = rec->hdr;
		}
	}
	if (!in->verbose)
		return BK_OK;
	rc = bk_drr_dump_record(rec, &in->out, err);
	if (!rc && rec->hdr.type == BK_DRR_BEGIN && rec->payload_len)
		rc = dump_nvlist(in, rec->payload, rec->payload_len, err);
	if (!rc && in->out.len > 256 * 1024 && flush_out(in))
		rc = bk_error_set(err, BK_ERR_IO, "write to stdout: %s",
				  strerror(errno));
	return rc;
}

/* Read and check the whole input.  Returns the error code (0 = ok). */
static enum bk_code scan(struct inspect *in, int fd,
			 struct bk_drr_parser *p)
{
	struct bk_drr_rec rec;
	bool eof = false;
	char what[BK_ERROR_MSG_MAX];

	snprintf(what, sizeof(what), "read %s", in->path);
	for (;;) {
		enum bk_drr_status st = bk_drr_parser_next(p, &rec, &in->err);

		if (st == BK_DRR_ERROR)
			return in->err.code;
		if (st == BK_DRR_RECORD) {
			enum bk_code rc = on_record(in, &rec, &in->err);

			if (rc)
				return rc;
			continue;
		}
		if (st == BK_DRR_DONE && eof)
			return BK_OK;
		/* NEED_MORE, or DONE and we look for trailing bytes. */
		if (bk_drr_parser_read_fd(p, fd, READ_SIZE, what, &eof,
					  &in->err))
			return in->err.code;
	}
}

static const char *objset_name(uint32_t t)
{
	switch (t) {
	case 0: return "none";
	case 2: return "filesystem";
	case 3: return "volume";
	default: return "other";
	}
}

static void flag_names(uint32_t flags, char *out, size_t n)
{
	static const char *const names[] = { "CLONE", "CI_DATA",
					     "FREERECORDS", "SPILL_BLOCK" };
	size_t used = 0;

	out[0] = '\0';
	for (unsigned i = 0; i < 32; i++) {
		int w;

		if (!(flags & (1u << i)))
			continue;
		if (i < 4)
			w = snprintf(out + used, n - used, "%s%s",
				     used ? " " : "", names[i]);
		else
			w = snprintf(out + used, n - used, "%sbit%u",
				     used ? " " : "", i);
		if (w < 0 || (size_t)w >= n - used)
			return;
		used += (size_t)w;
	}
}

static void fmt_time(uint64_t t, char *out, size_t n)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t > (uint64_t)INT64_MAX / 2 || !gmtime_r(&tt, &tm) ||
	    !strftime(out, n, "%Y-%m-%d %H:%M:%S UTC", &tm))
		snprintf(out, n, "%" PRIu64, t);
}

static void print_human(const struct inspect *in,
			const struct bk_drr_stats *st, enum bk_code rc)
{
	char feat[BK_DRR_FEATURE_NAMES_MAX], fl[128], when[64];
	bool first = true;

	printf("stream:      %s\n", in->path);
	printf("length:      %" PRIu64 " bytes\n", st->bytes);
	if (rc == BK_OK)
		printf("status:      ok (%" PRIu64 " records, every trailer and "
		       "END checksum matches%s)\n",
		       st->records,
		       in->validate ? ", no receiver rule broken" : "");
	else
		printf("status:      FAILED: %s\n", in->err.msg);
	if (st->records == 0)
		return;
	printf("byte order:  %s-endian (%s this host)\n",
	       (st->byteswap ^ (__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__))
		       ? "little"
		       : "big",
	       st->byteswap ? "swapped for" : "native to");
	printf("format:      %s\n",
	       st->legacy ? "no record trailers (2008 format or OpenZFS < 0.7)"
			  : "modern (checksummed record trailers)");
	if (st->compound)
		printf("type:        compound package (zfs send -R/-p) for %s, "
		       "%" PRIu32 " substream%s\n",
		       in->have_header ? in->header.u.begin.toname : "?",
		       st->substreams, st->substreams == 1 ? "" : "s");
	else
		printf("type:        single stream\n");
	for (size_t i = 0; i < in->nsubs; i++) {
		const struct bk_drr *b = &in->subs[i].begin;

		bk_drr_feature_names(BK_DRR_FEATURES(b->u.begin.versioninfo),
				     feat, sizeof(feat));
		flag_names(b->u.begin.flags, fl, sizeof(fl));
		fmt_time(b->u.begin.creation_time, when, sizeof(when));
		printf("substream %zu: %s\n", i + 1, b->u.begin.toname);
		if (b->u.begin.fromguid)
			printf("  kind:      incremental from guid %016" PRIx64
			       "\n", b->u.begin.fromguid);
		else
			printf("  kind:      full\n");
		printf("  toguid:    %016" PRIx64 "\n", b->u.begin.toguid);
		printf("  created:   %s\n", when);
		printf("  objset:    %s\n", objset_name(b->u.begin.objset_type));
		printf("  features:  %s\n", feat[0] ? feat : "none");
		printf("  flags:     0x%" PRIx32 "%s%s%s\n", b->u.begin.flags,
		       fl[0] ? " (" : "", fl, fl[0] ? ")" : "");
	}
	if (st->substreams > in->nsubs)
		printf("(%" PRIu32 " more substreams not listed)\n",
		       st->substreams - (uint32_t)in->nsubs);
	printf("records:     ");
	for (uint32_t t = 0; t < BK_DRR_NUMTYPES; t++) {
		if (!st->count[t])
			continue;
		printf("%s%s %" PRIu64, first ? "" : ", ",
		       bk_drr_type_name(t), st->count[t]);
		if (st->payload_bytes[t])
			printf(" (%" PRIu64 " bytes)", st->payload_bytes[t]);
		first = false;
	}
	printf("\n");
}

static enum bk_code json_out(const struct inspect *in,
			     const struct bk_drr_stats *st, enum bk_code rc,
			     struct bk_buf *j)
{
	struct bk_error e;
	enum bk_code r;

	r = bk_buf_printf(j, &e,
			  "{\"ok\":%s,\"length\":%" PRIu64
			  ",\"records_total\":%" PRIu64
			  ",\"substreams\":%" PRIu32
			  ",\"compound\":%s,\"byteorder\":\"%s\","
			  "\"legacy\":%s,\"validated\":%s,\"records\":{",
			  rc ? "false" : "true", st->bytes, st->records,
			  st->substreams, st->compound ? "true" : "false",
			  (st->byteswap ^ (__BYTE_ORDER__ ==
					   __ORDER_LITTLE_ENDIAN__))
				  ? "little"
				  : "big",
			  st->legacy ? "true" : "false",
			  in->validate ? "true" : "false");
	for (uint32_t t = 0; !r && t < BK_DRR_NUMTYPES; t++)
		r = bk_buf_printf(j, &e, "%s\"%s\":%" PRIu64, t ? "," : "",
				  bk_drr_type_name(t), st->count[t]);
	if (!r)
		r = bk_buf_printf(j, &e, "},\"payload_bytes\":{");
	for (uint32_t t = 0; !r && t < BK_DRR_NUMTYPES; t++)
		r = bk_buf_printf(j, &e, "%s\"%s\":%" PRIu64, t ? "," : "",
				  bk_drr_type_name(t), st->payload_bytes[t]);
	if (!r)
		r = bk_buf_printf(j, &e, "},\"streams\":[");
	for (size_t i = 0; !r && i < in->nsubs; i++) {
		const struct bk_drr *b = &in->subs[i].begin;
		char feat[BK_DRR_FEATURE_NAMES_MAX];

		bk_drr_feature_names(BK_DRR_FEATURES(b->u.begin.versioninfo),
				     feat, sizeof(feat));
		r = bk_buf_printf(j, &e, "%s{\"toname\":", i ? "," : "");
		if (!r)
			r = bk_buf_json_str(j, b->u.begin.toname, &e);
		if (!r)
			r = bk_buf_printf(
				j, &e,
				",\"toguid\":\"%016" PRIx64
				"\",\"fromguid\":\"%016" PRIx64
				"\",\"creation_time\":%" PRIu64
				",\"flags\":%" PRIu32 ",\"features\":",
				b->u.begin.toguid, b->u.begin.fromguid,
				b->u.begin.creation_time, b->u.begin.flags);
		if (!r)
			r = bk_buf_json_str(j, feat, &e);
		if (!r)
			r = bk_buf_printf(j, &e, "}");
	}
	if (!r)
		r = bk_buf_printf(j, &e, "],\"errors\":[");
	if (!r && rc)
		r = bk_buf_json_str(j, in->err.msg, &e);
	if (!r)
		r = bk_buf_printf(j, &e, "]}\n");
	return r;
}

int cmd_inspect(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "verbose", no_argument, NULL, 'v' },
		{ "validate", no_argument, NULL, 'V' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const struct cmd *self = find_cmd("inspect");
	struct bk_drr_parser_opts opts = { 0 };
	struct bk_drr_parser *p = NULL;
	struct inspect in;
	struct bk_buf j;
	enum bk_code rc;
	int c, fd = -1, ret = EXIT_FAIL;

	memset(&in, 0, sizeof(in));
	bk_buf_init(&in.out, 16u << 20);
	bk_buf_init(&j, 64u << 20);
	optind = 0; /* full reset: glibc keeps the global parse's mode otherwise */
	while ((c = getopt_long(argc, argv, "vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'v': in.verbose = true; break;
		case 'V': in.validate = true; break;
		case 'j': in.json = true; break;
		case 'h':
			printf("usage: %s\n", self->usage);
			ret = EXIT_OK;
			goto out;
		default:
			ret = usage_error(self, NULL);
			goto out;
		}
	}
	if (optind != argc - 1) {
		ret = usage_error(self, "inspect takes one FILE (or - for "
				  "standard input)");
		goto out;
	}
	if (in.json && in.verbose) {
		ret = usage_error(self, "-v and --json do not go together");
		goto out;
	}
	in.path = argv[optind];
	if (strcmp(in.path, "-") == 0) {
		fd = STDIN_FILENO;
		in.path = "(stdin)";
	} else {
		fd = open(in.path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			msg("cannot open %s: %s", in.path, strerror(errno));
			ret = EXIT_FAIL;
			goto out;
		}
		posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	}
	opts.validate = in.validate;
	rc = bk_drr_parser_new(&opts, &p, &in.err);
	if (!rc)
		rc = scan(&in, fd, p);
	if (in.verbose && !rc)
		rc = bk_drr_dump_summary(bk_drr_parser_stats(p), &in.out,
					 &in.err);
	if (in.verbose && flush_out(&in))
		msg("write to stdout: %s", strerror(errno));
	if (in.json) {
		if (json_out(&in, bk_drr_parser_stats(p), rc, &j) == BK_OK)
			fwrite(j.data, 1, j.len, stdout);
	} else if (!in.verbose) {
		print_human(&in, bk_drr_parser_stats(p), rc);
	}
	if (fflush(stdout) != 0 && !rc) {
		msg("write to stdout: %s", strerror(errno));
		ret = EXIT_FAIL;
		goto out;
	}
	if (rc) {
		msg("%s: %s", in.path, in.err.msg);
		ret = exit_for(rc);
		goto out;
	}
	ret = EXIT_OK;
out:
	if (fd > STDIN_FILENO)
		close(fd);
	bk_drr_parser_free(p);
	bk_buf_release(&in.out);
	bk_buf_release(&j);
	free(in.subs);
	return ret;
}
