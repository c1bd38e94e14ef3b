/* SPDX-License-Identifier: MIT */
/*
 * Stream writer: encodes records, computes every trailer and END checksum
 * as a sender does, and hands the bytes to a sink.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backup/drr.h"

void bk_drr_writer_init(struct bk_drr_writer *w, bk_drr_sink_fn sink,
			void *ctx, bool byteswap, bool legacy)
{
	memset(w, 0, sizeof(*w));
	w->sink = sink;
	w->ctx = ctx;
	w->byteswap = byteswap;
	w->legacy = legacy;
	bk_fletcher4_init(&w->ck, byteswap);
}

static enum bk_code emit(struct bk_drr_writer *w, const void *buf, size_t len,
			 struct bk_error *err)
{
	enum bk_code rc;

	if (len == 0)
		return BK_OK;
	rc = w->sink(w->ctx, buf, len, err);
	if (rc == BK_OK)
		w->bytes += len;
	return rc;
}

enum bk_code bk_drr_write(struct bk_drr_writer *w, const struct bk_drr *r,
			  const void *payload, size_t payload_len,
			  struct bk_error *err)
{
	struct bk_drr rec = *r;
	uint8_t hdr[BK_DRR_HDR_LEN];
	uint64_t want;
	enum bk_code rc;

	if (rec.type == BK_DRR_BEGIN) {
		if (payload_len > UINT32_MAX)
			return bk_error_set(err, BK_ERR_USAGE,
					    "BEGIN payload too large");
		rec.payloadlen = (uint32_t)payload_len;
	}
	rc = bk_drr_payload_len(&rec, &want, err);
	if (rc)
		return rc;
	if (want != payload_len)
		return bk_error_set(err, BK_ERR_USAGE,
				    "%s record implies a %" PRIu64
				    "-byte payload, %zu given",
				    bk_drr_type_name(rec.type), want,
				    payload_len);
	if (rec.type == BK_DRR_BEGIN) {
		bk_fletcher4_init(&w->ck, w->byteswap);
		w->in_compound_header = BK_DRR_HDRTYPE(rec.u.begin.versioninfo) ==
				      BK_DRR_COMPOUNDSTREAM;
		bk_drr_encode(&rec, w->byteswap, hdr);
		bk_fletcher4_update(&w->ck, hdr, sizeof(hdr));
	} else {
		bool no_trailer = w->legacy ||
				  (rec.type == BK_DRR_END && w->in_compound_header);

		if (rec.type == BK_DRR_END) {
			rec.u.end.checksum = w->ck.ck;
			w->in_compound_header = false;
		}
		memset(&rec.trailer, 0, sizeof(rec.trailer));
		bk_drr_encode(&rec, w->byteswap, hdr);
		bk_fletcher4_update(&w->ck, hdr, BK_DRR_TRAILER_OFF);
		if (!no_trailer) {
			rec.trailer = w->ck.ck;
			bk_drr_encode(&rec, w->byteswap, hdr);
		}
		bk_fletcher4_update(&w->ck, hdr + BK_DRR_TRAILER_OFF,
				    BK_DRR_HDR_LEN - BK_DRR_TRAILER_OFF);
	}
	if (payload_len)
		bk_fletcher4_update(&w->ck, payload, payload_len);
	rc = emit(w, hdr, sizeof(hdr), err);
	if (!rc)
		rc = emit(w, payload, payload_len, err);
	if (!rc)
		w->records++;
	return rc;
}

enum bk_code bk_drr_write_final_end(struct bk_drr_writer *w,
				    struct bk_error *err)
{
	uint8_t hdr[BK_DRR_HDR_LEN];
	struct bk_drr rec;
	enum bk_code rc;

	memset(&rec, 0, sizeof(rec));
	rec.type = BK_DRR_END;
	bk_drr_encode(&rec, w->byteswap, hdr); /* type 5, all else zero */
	rc = emit(w, hdr, sizeof(hdr), err);
	if (!rc)
		w->records++;
	return rc;
}

enum bk_code bk_drr_sink_buf(void *ctx, const void *buf, size_t len,
			     struct bk_error *err)
{
	return bk_buf_append(ctx, buf, len, err);
}

enum bk_code bk_drr_sink_fd(void *ctx, const void *buf, size_t len,
			    struct bk_error *err)
{
	int fd = *(int *)ctx;
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EPIPE)
			return bk_error_set(err, BK_ERR_IO,
					    "writing the stream: the reader "
					    "went away (broken pipe)");
		if (n < 0)
			return bk_error_set(err, BK_ERR_IO,
					    "writing the stream: %s",
					    strerror(errno));
		p += n;
		len -= (size_t)n;
	}
	return BK_OK;
}

#define FDBUF_SIZE (1u << 20)

static enum bk_code fdbuf_drain(struct bk_drr_fdbuf *o, struct bk_error *err)
{
	enum bk_code rc = bk_drr_sink_fd(&o->fd, o->buf, o->len, err);

	o->len = 0;
	return rc;
}

enum bk_code bk_drr_sink_fdbuf(void *ctx, const void *buf, size_t len,
			       struct bk_error *err)
{
	struct bk_drr_fdbuf *o = ctx;
	enum bk_code rc;

	if (len >= FDBUF_SIZE / 4) { /* large: straight through */
		if (o->len && (rc = fdbuf_drain(o, err)))
			return rc;
		return bk_drr_sink_fd(&o->fd, buf, len, err);
	}
	if (!o->buf && !(o->buf = malloc(FDBUF_SIZE)))
		return bk_error_set(err, BK_ERR_NOMEM, "out of memory");
	if (o->len + len > FDBUF_SIZE && (rc = fdbuf_drain(o, err)))
		return rc;
	memcpy(o->buf + o->len, buf, len);
	o->len += len;
	return BK_OK;
}

enum bk_code bk_drr_fdbuf_flush(struct bk_drr_fdbuf *o, struct bk_error *err)
{
	enum bk_code rc = o->len ? fdbuf_drain(o, err) : BK_OK;

	free(o->buf);
	o->buf = NULL;
	return rc;
}

