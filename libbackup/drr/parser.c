/* SPDX-License-Identifier: MIT */
/*
 * Pull parser for send streams.  Bytes go in (in pieces of any size, copied
 * or read straight into the parser's buffer); whole records come out, each
 * with its payload in one piece, every trailer and END checksum verified.
 *
 * Memory: the buffer holds at most one record plus one read ahead, so it is
 * bounded by 312 + the payload limit + READ_AHEAD whatever the input.
 *
 * Structure it enforces:
 *   plain stream:   BEGIN(hdrtype 1) records... END
 *   compound (-R):  BEGIN(hdrtype 2)+nvlist END  { BEGIN(1) ... END }*  END(final)
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backup/drr.h"

#define READ_AHEAD (1u << 20)

enum pstate {
	ST_START,    /* expecting the first BEGIN */
	ST_SUB,      /* inside a substream: anything but BEGIN */
	ST_CHDR,     /* after a compound BEGIN: expecting its END */
	ST_BETWEEN,  /* compound: a substream BEGIN or the final END */
	ST_DONE,
	ST_DEAD,
};

struct bk_drr_parser {
	struct bk_drr_parser_opts opts;
	uint8_t *buf;
	size_t cap, start, end; /* buffered bytes are buf[start, end) */
	size_t pending;         /* size of the record last yielded */
	size_t need;            /* bytes the next record needs in all */
	uint64_t base;          /* stream offset of buf[start] */
	bool eof;
	enum pstate state;
	bool swap;
	struct bk_fletcher4 ck;
	struct bk_drr begin;
	struct bk_drr_vstate vs;
	struct bk_drr_stats stats;
	uint32_t substream;
	struct bk_error dead; /* the error that killed the parser */
};

enum bk_code bk_drr_parser_new(const struct bk_drr_parser_opts *opts,
			       struct bk_drr_parser **out,
			       struct bk_error *err)
{
	struct bk_drr_parser *p = calloc(1, sizeof(*p));

	*out = NULL;
	if (!p)
		return bk_error_set(err, BK_ERR_NOMEM, "cannot allocate parser");
	if (opts)
		p->opts = *opts;
	if (!p->opts.max_payload || p->opts.max_payload > BK_DRR_MAX_PAYLOAD)
		p->opts.max_payload = BK_DRR_MAX_PAYLOAD;
	if (!p->opts.max_begin_payload ||
	    p->opts.max_begin_payload > BK_DRR_MAX_BEGIN_PAYLOAD)
		p->opts.max_begin_payload = BK_DRR_MAX_BEGIN_PAYLOAD;
	p->state = ST_START;
	p->need = BK_DRR_HDR_LEN;
	p->stats.legacy = true;
	*out = p;
	return BK_OK;
}

void bk_drr_parser_free(struct bk_drr_parser *p)
{
	if (!p)
		return;
	free(p->buf);
	free(p);
}

/* The most the buffer may ever hold. */
static size_t buf_limit(const struct bk_drr_parser *p)
{
	uint32_t m = p->opts.max_payload > p->opts.max_begin_payload
			     ? p->opts.max_payload
			     : p->opts.max_begin_payload;

	return (size_t)BK_DRR_HDR_LEN + m + READ_AHEAD;
}

static void drop_pending(struct bk_drr_parser *p)
{
	p->start += p->pending;
	p->base += p->pending;
	p->pending = 0;
	if (p->start == p->end)
		p->start = p->end = 0;
}

uint8_t *bk_drr_parser_space(struct bk_drr_parser *p, size_t want,
			     size_t *avail, struct bk_error *err)
{
	size_t buffered, limit = buf_limit(p), room, ncap;
	uint8_t *nb;

	*avail = 0;
	drop_pending(p);
	buffered = p->end - p->start;
	if (want < 1)
		want = 1;
	/* What the current record still needs counts too, so one call can
	 * bring in a whole large payload. */
	if (p->need > buffered && p->need - buffered > want)
		want = p->need - buffered;
	if (buffered >= limit) {
		bk_error_set(err, BK_ERR_LIMIT,
			     "parser buffer full (%zu bytes): drain records first",
			     buffered);
		return NULL;
	}
	room = want < limit - buffered ? want : limit - buffered;
	if (p->cap - p->end < room && p->start > 0) {
		memmove(p->buf, p->buf + p->start, buffered);
		p->start = 0;
		p->end = buffered;
	}
	if (p->cap - p->end < room) {
		ncap = p->cap ? p->cap : 64 * 1024;
		while (ncap < p->end + room)
			ncap *= 2;
		if (ncap > limit)
			ncap = limit;
		nb = realloc(p->buf, ncap);
		if (!nb) {
			bk_error_set(err, BK_ERR_NOMEM,
				     "cannot grow parser buffer to %zu bytes",
				     ncap);
			return NULL;
		}
		p->buf = nb;
		p->cap = ncap;
	}
	*avail = p->cap - p->end;
	return p->buf + p->end;
}

void bk_drr_parser_wrote(struct bk_drr_parser *p, size_t n)
{
	p->end += n;
}

size_t bk_drr_parser_feed(struct bk_drr_parser *p, const void *buf, size_t len)
{
	size_t avail;
	uint8_t *dst;

	if (len == 0)
		return 0;
	dst = bk_drr_parser_space(p, len, &avail, NULL);
	if (!dst)
		return 0;
	if (avail > len)
		avail = len;
	memcpy(dst, buf, avail);
	p->end += avail;
	return avail;
}

void bk_drr_parser_eof(struct bk_drr_parser *p)
{
	p->eof = true;
}

enum bk_code bk_drr_parser_read_fd(struct bk_drr_parser *p, int fd,
				   size_t want, const char *what, bool *eof,
				   struct bk_error *err)
{
	size_t avail;
	uint8_t *dst = bk_drr_parser_space(p, want, &avail, err);
	ssize_t n;

	*eof = false;
	if (!dst)
		return err->code;
	do
		n = read(fd, dst, avail);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return bk_error_set(err, BK_ERR_IO, "%s: %s", what,
				    strerror(errno));
	if (n == 0) {
		*eof = true;
		bk_drr_parser_eof(p);
	} else {
		bk_drr_parser_wrote(p, (size_t)n);
	}
	return BK_OK;
}

const struct bk_drr_stats *bk_drr_parser_stats(const struct bk_drr_parser *p)
{
	return &p->stats;
}

const struct bk_drr *bk_drr_parser_begin(const struct bk_drr_parser *p)
{
	return &p->begin;
}

static bool cksum_zero(const struct bk_cksum *c)
{
	return !(c->word[0] | c->word[1] | c->word[2] | c->word[3]);
}

static bool cksum_eq(const struct bk_cksum *a, const struct bk_cksum *b)
{
	return memcmp(a, b, sizeof(*a)) == 0;
}

#define CKFMT "%" PRIx64 "/%" PRIx64 "/%" PRIx64 "/%" PRIx64
#define CKARGS(c) (c).word[0], (c).word[1], (c).word[2], (c).word[3]

static enum bk_drr_status die(struct bk_drr_parser *p, struct bk_error *err,
			      enum bk_code code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static enum bk_drr_status die(struct bk_drr_parser *p, struct bk_error *err,
			      enum bk_code code, const char *fmt, ...)
{
	va_list ap;

	p->dead.code = code;
	va_start(ap, fmt);
	vsnprintf(p->dead.msg, sizeof(p->dead.msg), fmt, ap);
	va_end(ap);
	p->state = ST_DEAD;
	if (err)
		*err = p->dead;
	return BK_DRR_ERROR;
}

/* "record 12 (WRITE) at byte 4096" */
#define AT "record %" PRIu64 " (%s) at byte %" PRIu64
#define ATARGS(r) p->stats.records, bk_drr_type_name((r)->type), p->base

static const char *state_expect(enum pstate s)
{
	switch (s) {
	case ST_START: return "a BEGIN record";
	case ST_CHDR: return "the END of the compound stream header";
	case ST_BETWEEN: return "a substream BEGIN or the final END";
	default: return "END";
	}
}

/* Fewer bytes than a header: wait for more, or say what was cut off. */
static enum bk_drr_status short_header(struct bk_drr_parser *p, size_t avail,
				       struct bk_error *err)
{
	if (!p->eof)
		return BK_DRR_NEED_MORE;
	if (p->base == 0 && avail == 0)
		return die(p, err, BK_ERR_TRUNCATED,
			   "empty input: not a send stream");
	if (avail == 0)
		return die(p, err, BK_ERR_TRUNCATED,
			   "stream truncated at byte %" PRIu64
			   " after record %" PRIu64
			   ": expected %s",
			   p->base, p->stats.records - 1,
			   state_expect(p->state));
	if (avail >= 4) {
		uint32_t t;

		memcpy(&t, p->buf + p->start, 4);
		if (p->swap)
			t = __builtin_bswap32(t);
		if (t < BK_DRR_NUMTYPES)
			return die(p, err, BK_ERR_TRUNCATED,
				   "record %" PRIu64 " (%s) at byte %"
				   PRIu64 ": truncated header (%zu of "
				   "%u bytes)",
				   p->stats.records,
				   bk_drr_type_name(t), p->base, avail,
				   BK_DRR_HDR_LEN);
	}
	return die(p, err, BK_ERR_TRUNCATED,
		   "record %" PRIu64 " at byte %" PRIu64
		   ": truncated header (%zu of %u bytes)",
		   p->stats.records, p->base, avail, BK_DRR_HDR_LEN);
}

/* Is record r allowed here (plain and compound structure, above)?
 * BK_DRR_RECORD if so. */
static enum bk_drr_status check_order(struct bk_drr_parser *p,
				      const struct bk_drr *r,
				      struct bk_error *err)
{
	switch (p->state) {
	case ST_START:
	case ST_BETWEEN:
		if (r->type == BK_DRR_BEGIN) {
			uint32_t ht = BK_DRR_HDRTYPE(r->u.begin.versioninfo);

			if (r->u.begin.magic != BK_DRR_MAGIC)
				return die(p, err, BK_ERR_FORMAT,
					   AT ": bad magic 0x%" PRIx64,
					   ATARGS(r), r->u.begin.magic);
			if (ht != BK_DRR_SUBSTREAM &&
			    !(ht == BK_DRR_COMPOUNDSTREAM &&
			      p->state == ST_START))
				return die(p, err, BK_ERR_FORMAT,
					   AT ": header type %" PRIu32
					   " where %s was expected",
					   ATARGS(r), ht,
					   p->state == ST_START
						   ? "1 (substream) or 2 (compound)"
						   : "1 (substream)");
			return BK_DRR_RECORD;
		}
		if (r->type == BK_DRR_END && p->state == ST_BETWEEN)
			return BK_DRR_RECORD;
		return die(p, err, BK_ERR_FORMAT,
			   AT ": expected %s", ATARGS(r),
			   state_expect(p->state));
	case ST_CHDR:
		if (r->type != BK_DRR_END)
			return die(p, err, BK_ERR_FORMAT,
				   AT ": expected %s", ATARGS(r),
				   state_expect(p->state));
		return BK_DRR_RECORD;
	case ST_SUB:
		if (r->type == BK_DRR_BEGIN)
			return die(p, err, BK_ERR_FORMAT,
				   AT ": BEGIN inside a substream (the "
				   "previous substream has no END)",
				   ATARGS(r));
		return BK_DRR_RECORD;
	default:
		return die(p, err, BK_ERR_INTERNAL, "parser in a bad state");
	}
}

/* The running fletcher-4: a BEGIN restarts it; an END of a substream must
 * carry it; a non-zero trailer must equal it up to the trailer. */
static enum bk_drr_status check_sums(struct bk_drr_parser *p,
				     struct bk_drr_rec *rec,
				     struct bk_error *err)
{
	const struct bk_drr *r = &rec->hdr;
	const uint8_t *hdr = rec->raw;
	size_t plen = rec->payload_len;
	bool final_end;

	if (r->type == BK_DRR_BEGIN) {
		bk_fletcher4_init(&p->ck, p->swap);
		bk_fletcher4_update(&p->ck, hdr, BK_DRR_HDR_LEN);
		bk_fletcher4_update(&p->ck, rec->payload, plen);
		rec->running = p->ck.ck;
		return BK_DRR_RECORD;
	}
	final_end = r->type == BK_DRR_END && p->state == ST_BETWEEN;
	if (r->type == BK_DRR_END && !final_end) {
		rec->running = p->ck.ck;
		if (!cksum_eq(&r->u.end.checksum, &p->ck.ck))
			return die(p, err, BK_ERR_CHECKSUM,
				   AT ": stream checksum mismatch: "
				   "END says " CKFMT
				   ", the stream sums to " CKFMT,
				   ATARGS(r),
				   CKARGS(r->u.end.checksum),
				   CKARGS(p->ck.ck));
	}
	bk_fletcher4_update(&p->ck, hdr, BK_DRR_TRAILER_OFF);
	if (r->type != BK_DRR_END)
		rec->running = p->ck.ck;
	if (!cksum_zero(&r->trailer)) {
		if (!cksum_eq(&r->trailer, &p->ck.ck))
			return die(p, err, BK_ERR_CHECKSUM,
				   AT ": trailer checksum mismatch: "
				   "expected " CKFMT ", found " CKFMT,
				   ATARGS(r), CKARGS(p->ck.ck),
				   CKARGS(r->trailer));
		rec->trailer_checked = true;
		p->stats.legacy = false;
	}
	bk_fletcher4_update(&p->ck, hdr + BK_DRR_TRAILER_OFF,
			    BK_DRR_HDR_LEN - BK_DRR_TRAILER_OFF);
	if (plen)
		bk_fletcher4_update(&p->ck, rec->payload, plen);
	return BK_DRR_RECORD;
}

/* The structure moves on after an accepted BEGIN or END. */
static void advance(struct bk_drr_parser *p, const struct bk_drr *r)
{
	switch (r->type) {
	case BK_DRR_BEGIN:
		p->begin = *r;
		if (p->state == ST_START)
			p->stats.byteswap = p->swap;
		if (BK_DRR_HDRTYPE(r->u.begin.versioninfo) ==
		    BK_DRR_COMPOUNDSTREAM) {
			p->stats.compound = true;
			p->state = ST_CHDR;
			p->substream = 0;
		} else {
			p->state = ST_SUB;
			p->substream++;
			p->stats.substreams++;
		}
		break;
	case BK_DRR_END:
		if (p->state == ST_CHDR)
			p->state = ST_BETWEEN;
		else if (p->state == ST_BETWEEN)
			p->state = ST_DONE;
		else if (p->stats.compound)
			p->state = ST_BETWEEN;
		else
			p->state = ST_DONE;
		break;
	default:
		break;
	}
}

enum bk_drr_status bk_drr_parser_next(struct bk_drr_parser *p,
				      struct bk_drr_rec *rec,
				      struct bk_error *err)
{
	const uint8_t *hdr;
	struct bk_drr *r = &rec->hdr;
	uint64_t plen;
	size_t avail;
	uint32_t limit;
	struct bk_error perr;
	enum bk_drr_status st;
	int sw;

	if (p->state == ST_DEAD) {
		if (err)
			*err = p->dead;
		return BK_DRR_ERROR;
	}
	drop_pending(p);
	avail = p->end - p->start;
	if (p->state == ST_DONE) {
		if (avail)
			return die(p, err, BK_ERR_FORMAT,
				   "%zu bytes of trailing data after the end "
				   "of the stream at byte %" PRIu64,
				   avail, p->base);
		return BK_DRR_DONE;
	}
	p->need = BK_DRR_HDR_LEN;
	if (avail < BK_DRR_HDR_LEN)
		return short_header(p, avail, err);
	hdr = p->buf + p->start;

	/* A BEGIN settles the byte order of what follows. */
	if (p->state == ST_START || p->state == ST_BETWEEN) {
		sw = bk_drr_detect_byteswap(hdr);
		if (sw >= 0)
			p->swap = sw;
		else if (p->state == ST_START)
			return die(p, err, BK_ERR_FORMAT,
				   "not a send stream: no BEGIN record with "
				   "magic 0x2f5bacbac at byte %" PRIu64,
				   p->base);
	}
	bk_drr_decode(hdr, p->swap, r);
	if (r->type >= BK_DRR_NUMTYPES)
		return die(p, err, BK_ERR_FORMAT,
			   "record %" PRIu64 " at byte %" PRIu64
			   ": unknown record type %" PRIu32
			   " (garbage or a damaged stream)",
			   p->stats.records, p->base, r->type);
	if ((st = check_order(p, r, err)) != BK_DRR_RECORD)
		return st;

	if (bk_drr_payload_len(r, &plen, &perr))
		return die(p, err, BK_ERR_FORMAT, AT ": %s", ATARGS(r),
			   perr.msg);
	limit = r->type == BK_DRR_BEGIN ? p->opts.max_begin_payload
					: p->opts.max_payload;
	if (plen > limit)
		return die(p, err, BK_ERR_LIMIT,
			   AT ": payload of %" PRIu64
			   " bytes exceeds the limit of %" PRIu32,
			   ATARGS(r), plen, limit);
	p->need = BK_DRR_HDR_LEN + (size_t)plen;
	if (avail < p->need) {
		if (!p->eof)
			return BK_DRR_NEED_MORE;
		return die(p, err, BK_ERR_TRUNCATED,
			   AT ": truncated payload (%zu of %" PRIu64
			   " bytes)",
			   ATARGS(r), avail - BK_DRR_HDR_LEN, plen);
	}

	rec->raw = hdr;
	rec->payload = hdr + BK_DRR_HDR_LEN;
	rec->payload_len = plen;
	rec->index = p->stats.records;
	rec->offset = p->base;
	rec->trailer_checked = false;
	if ((st = check_sums(p, rec, err)) != BK_DRR_RECORD)
		return st;

	/* Receiver rules, on request. */
	if (r->type == BK_DRR_BEGIN) {
		memset(&p->vs, 0, sizeof(p->vs));
		p->vs.dedup = p->opts.dedup;
	}
	if (p->opts.validate && !(r->type == BK_DRR_END &&
				  p->state != ST_SUB)) {
		if (bk_drr_validate(&p->vs, r, &perr))
			return die(p, err, perr.code, AT ": %s", ATARGS(r),
				   perr.msg);
	}

	advance(p, r);
	rec->byteswap = p->swap;
	rec->substream = (r->type == BK_DRR_END && p->state == ST_DONE &&
			  p->stats.compound)
				 ? 0
				 : p->substream;

	p->stats.count[r->type]++;
	p->stats.payload_bytes[r->type] += plen;
	p->stats.records++;
	p->stats.bytes = p->base + p->need;
	p->pending = p->need;
	p->need = BK_DRR_HDR_LEN;
	return BK_DRR_RECORD;
}
