/* SPDX-License-Identifier: MIT */
/*
 * A map of a stored snapshot (include/backup/lpool_zpl.h, docs/zpl.md
 * "Maps"): the dataset state that receiving its chain would leave in the
 * local pool, built from the records alone, with the same rules (apply.c),
 * but where a receive stores each payload as a block file, the map keeps
 * a reference to where it is stored: bytes pos..pos+len of stream i's
 * chunked payloads, or (embedded writes, a few bytes each) a copy in the
 * map.  The reference is kept in the block's 32-byte hash field:
 *
 *   [0] kind: MAP_CHUNKED or MAP_INLINE
 *   MAP_CHUNKED: [1..4] stream (u32 LE), [5..12] pos (u64 LE)
 *   MAP_INLINE:  [5..12] offset in the map's inline bytes (u64 LE)
 *   [13..16], [17..20] zero range lo, hi (u32 LE): bytes a FREE of part
 *   of a plain block zeroed (none when hi <= lo)
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backup/lpool_zpl.h"
#include "lpool_impl.h"
#include "util/le.h"

#define MAP_CHUNKED 1u
#define MAP_INLINE 2u
#define MAP_INLINE_MAX (UINT64_C(1) << 32) /* embedded bytes a map holds */
static const uint8_t MAP_MAGIC[8] = { 'Z', 'B', 'M', 'A', 'P', '1', '\n', 0 };

struct bk_lpool_map {
	struct lp_state st;
	uint8_t *inl; /* embedded payloads, back to back */
	uint64_t ninl, capinl;
	/* the record walk */
	struct lp_apply ap;
	uint64_t txg, index, off;
	uint32_t stream;  /* of the last record */
	bool started;     /* a record came */
	bool byteswap;    /* of the current substream */
	bool package;     /* the current stream is a package */
	bool head;        /* in a package's header: its nvlist's END next */
	bool in_sub;      /* between a substream's BEGIN and END */
	bool skip;        /* in a package's substream of another dataset */
	unsigned subs;    /* substreams begun in the current stream */
	bool ended;       /* the current stream's last END came */
	bool matched;     /* a substream of the current stream was mapped */
	/* of a package, the dataset mapped: the package's top dataset (its
	 * own BEGIN's toname) followed by rel ("" the top, "/child" one of
	 * its children) */
	char rel[BK_DRR_NAME_LEN + 1];
	char top[BK_DRR_NAME_LEN + 1];
	/* the record being applied: where its payload is */
	uint64_t cur_pos;
	bool cur_chunked;
};

static void ref_put(uint8_t ref[BK_ID_LEN], unsigned kind, uint32_t stream,
		    uint64_t pos)
{
	memset(ref, 0, BK_ID_LEN);
	ref[0] = (uint8_t)kind;
	put_le32(ref + 1, stream);
	put_le64(ref + 5, pos);
}

static enum bk_code map_keep(void *ctx, const struct bk_drr_rec *rec,
			     uint8_t ref[BK_ID_LEN], struct bk_error *err)
{
	struct bk_lpool_map *m = ctx;

	if (m->cur_chunked) {
		ref_put(ref, MAP_CHUNKED, m->stream, m->cur_pos);
		return BK_OK;
	}
	if (m->ninl + rec->payload_len > MAP_INLINE_MAX)
		return lp_at_rec(err, rec, BK_ERR_LIMIT,
				 "over %" PRIu64 " bytes of embedded payloads",
				 MAP_INLINE_MAX);
	if (m->ninl + rec->payload_len > m->capinl) {
		uint64_t nc = m->capinl ? m->capinl * 2 : 4096;
		uint8_t *n;

		while (nc < m->ninl + rec->payload_len)
			nc *= 2;
		if (!(n = realloc(m->inl, (size_t)nc)))
			return bk_error_set(err, BK_ERR_NOMEM, "out of memory");
		m->inl = n;
		m->capinl = nc;
	}
	if (rec->payload_len)
		memcpy(m->inl + m->ninl, rec->payload, (size_t)rec->payload_len);
	ref_put(ref, MAP_INLINE, 0, m->ninl);
	m->ninl += rec->payload_len;
	return BK_OK;
}

/* A FREE of part of a plain block: the bytes stay where they are stored,
 * so the map keeps the range to zero when the block is read.  One range
 * per block (two FREEs that leave a gap between them: refused). */
static enum bk_code map_zero(void *ctx, struct lp_block *b, uint64_t lo,
			     uint64_t hi, struct bk_error *err)
{
	uint32_t zlo = get_le32(b->hash + 13), zhi = get_le32(b->hash + 17);

	(void)ctx;
	if (hi > UINT32_MAX || lo >= hi)
		return bk_error_set(err, BK_ERR_FORMAT, "a bad partial free");
	if (zhi > zlo) {
		if (hi < zlo || lo > zhi)
			return bk_error_set(err, BK_ERR_UNSUPPORTED,
					    "two separate partial frees of "
					    "one block");
		if (zlo < lo)
			lo = zlo;
		if (zhi > hi)
			hi = zhi;
	}
	put_le32(b->hash + 13, (uint32_t)lo);
	put_le32(b->hash + 17, (uint32_t)hi);
	return BK_OK;
}

enum bk_code bk_lpool_map_new(struct bk_lpool_map **out, struct bk_error *err)
{
	struct bk_lpool_map *m = calloc(1, sizeof(*m));

	*out = NULL;
	if (!m)
		return bk_error_set(err, BK_ERR_NOMEM, "out of memory");
	lp_state_init(&m->st);
	*out = m;
	return BK_OK;
}

enum bk_code bk_lpool_map_dataset(struct bk_lpool_map *m, const char *rel,
				  struct bk_error *err)
{
	if (m->started)
		return bk_error_set(err, BK_ERR_USAGE,
				    "map: the dataset is chosen before the "
				    "first record");
	if (strlen(rel) >= sizeof(m->rel) || (rel[0] && rel[0] != '/') ||
	    strchr(rel, '@'))
		return bk_error_set(err, BK_ERR_USAGE,
				    "map: '%s' is not a child dataset's path",
				    rel);
	snprintf(m->rel, sizeof(m->rel), "%s", rel);
	return BK_OK;
}

void bk_lpool_map_free(struct bk_lpool_map *m)
{
	if (!m)
		return;
	lp_state_free(&m->st);
	free(m->inl);
	free(m);
}

/* A substream's BEGIN: the state it starts from (the chain's so far, or
 * empty for a full stream), as a receive's start_state does. */
static enum bk_code map_begin(struct bk_lpool_map *m,
			      const struct bk_drr_rec *rec,
			      struct bk_error *err)
{
	const struct bk_drr *r = &rec->hdr;
	uint64_t feat = BK_DRR_FEATURES(r->u.begin.versioninfo);
	bool big = rec->byteswap != lp_host_bigendian();

	if (feat & BK_FEAT_RESUMING)
		return lp_at_rec(err, rec, BK_ERR_UNSUPPORTED,
				 "a resumed stream (zfs send -t)");
	if (r->u.begin.fromguid == 0 || (r->u.begin.flags & BK_DRR_FLAG_CLONE)) {
		if (r->u.begin.flags & BK_DRR_FLAG_CLONE && m->stream == 0)
			return lp_at_rec(err, rec, BK_ERR_UNSUPPORTED,
					 "a clone: its origin's files are "
					 "not in this chain");
		if (!(r->u.begin.flags & BK_DRR_FLAG_CLONE)) {
			lp_state_free(&m->st);
			lp_state_init(&m->st);
		}
	} else if (!m->st.order_set) {
		return lp_at_rec(err, rec, BK_ERR_FORMAT,
				 "an incremental stream with nothing before "
				 "it");
	}
	if (m->st.order_set && m->st.bigendian != big && m->st.nobjs)
		return lp_at_rec(err, rec, BK_ERR_UNSUPPORTED,
				 "streams of both byte orders in one chain");
	m->st.order_set = true;
	m->st.bigendian = big;
	m->st.objset_type = r->u.begin.objset_type;
	m->st.begin_flags = r->u.begin.flags & BK_DRR_FLAG_CI_DATA;
	m->st.features |= feat & LP_DATA_FEATURES;
	memset(&m->ap, 0, sizeof(m->ap));
	m->ap.st = &m->st;
	m->ap.txg = ++m->txg;
	m->ap.raw = (feat & BK_FEAT_RAW) != 0;
	m->ap.begin_flags = r->u.begin.flags;
	m->ap.keep = map_keep;
	m->ap.zero = map_zero;
	m->ap.toguid = r->u.begin.toguid;
	m->ap.ctx = m;
	m->in_sub = true;
	return BK_OK;
}

/* Is a package's substream, named toname, one of the dataset mapped?
 * Its dataset part must be the package's top dataset followed by rel. */
static bool sub_wanted(const struct bk_lpool_map *m, const char *toname)
{
	size_t tl = strlen(m->top), rl = strlen(m->rel);
	size_t dl = strcspn(toname, "@");

	return dl == tl + rl && memcmp(toname, m->top, tl) == 0 &&
	       memcmp(toname + tl, m->rel, rl) == 0;
}

/* BEGIN and END: which records of a stream are mapped.  A plain stream
 * is one substream; of a package (zfs send -R), every substream of the
 * dataset chosen (bk_lpool_map_dataset; the top one unless chosen), in
 * order: a full package of a dataset with several snapshots holds the
 * oldest in full, then each next one as an incremental. */
static enum bk_code map_frame(struct bk_lpool_map *m,
			      const struct bk_drr_rec *rec, struct bk_error *err)
{
	const struct bk_drr *r = &rec->hdr;

	if (r->type == BK_DRR_END) {
		if (m->in_sub || m->skip) {
			m->in_sub = m->skip = false;
			if (!m->package)
				m->ended = true;
		} else if (m->head) {
			m->head = false; /* the header's END: substreams next */
		} else if (m->package) {
			m->ended = true; /* the package's own END */
		} else {
			return lp_at_rec(err, rec, BK_ERR_FORMAT,
					 "END outside a substream");
		}
		return BK_OK;
	}
	if (m->in_sub || m->skip || m->ended || m->head)
		return lp_at_rec(err, rec, BK_ERR_FORMAT,
				 "BEGIN inside a substream");
	if (BK_DRR_HDRTYPE(r->u.begin.versioninfo) == BK_DRR_COMPOUNDSTREAM) {
		if (m->package || m->subs)
			return lp_at_rec(err, rec, BK_ERR_FORMAT,
					 "a package inside a stream");
		m->package = m->head = true;
		/* its toname is pool/fs@snap of the top dataset; an old
		 * sender's empty one: the first substream's dataset */
		m->top[0] = 0;
		if (strchr(r->u.begin.toname, '@'))
			snprintf(m->top, sizeof(m->top), "%.*s",
				 (int)strcspn(r->u.begin.toname, "@"),
				 r->u.begin.toname);
		return BK_OK;
	}
	if (m->subs++ && !m->package)
		return lp_at_rec(err, rec, BK_ERR_FORMAT,
				 "a second BEGIN in a plain stream");
	if (!m->package) {
		if (m->rel[0])
			return lp_at_rec(err, rec, BK_ERR_NOTFOUND,
					 "not a package (zfs send -R): no "
					 "child dataset %s in it",
					 m->rel + 1);
		m->matched = true;
		return map_begin(m, rec, err);
	}
	if (!m->top[0])
		snprintf(m->top, sizeof(m->top), "%.*s",
			 (int)strcspn(r->u.begin.toname, "@"),
			 r->u.begin.toname);
	if (!sub_wanted(m, r->u.begin.toname)) {
		m->skip = true;
		return BK_OK;
	}
	m->matched = true;
	return map_begin(m, rec, err);
}

/* Does the record's payload length agree with its header, and is it kept
 * where recipes keep it (chunked: WRITE and SPILL)? */
static enum bk_code check_payload(const struct bk_drr_rec *rec,
				  uint32_t inline_len, uint32_t chunked_len,
				  struct bk_error *err)
{
	uint64_t plen;
	struct bk_error e2;
	bool chunkable = rec->hdr.type == BK_DRR_WRITE ||
			 rec->hdr.type == BK_DRR_SPILL;

	if (rec->hdr.type >= BK_DRR_NUMTYPES ||
	    bk_drr_payload_len(&rec->hdr, &plen, &e2))
		return lp_at_rec(err, rec, BK_ERR_FORMAT, "a bad header");
	if ((inline_len && chunked_len) ||
	    plen != (uint64_t)inline_len + chunked_len ||
	    (chunked_len && !chunkable) || (inline_len && chunkable))
		return lp_at_rec(err, rec, BK_ERR_FORMAT,
				 "payload of %u inline and %u chunked bytes "
				 "for a header that says %" PRIu64,
				 inline_len, chunked_len, plen);
	return BK_OK;
}

/* The dataset chosen is in no substream of the chain's last stream (an
 * earlier one may lack it: a child made later comes in full). */
static enum bk_code no_dataset(const struct bk_lpool_map *m,
			       struct bk_error *err)
{
	return bk_error_set(err, BK_ERR_NOTFOUND,
			    "stream %u: the package holds no dataset %s%s",
			    m->stream, m->top, m->rel);
}

enum bk_code bk_lpool_map_record(struct bk_lpool_map *m, uint32_t stream,
				 const uint8_t hdr[BK_DRR_HDR_LEN],
				 const uint8_t *payload, uint32_t inline_len,
				 uint64_t pos, uint32_t chunked_len,
				 struct bk_error *err)
{
	struct bk_drr_rec rec;
	enum bk_code rc;

	if (!m->started || stream != m->stream) {
		if (m->started && (stream != m->stream + 1 || !m->ended))
			return bk_error_set(err, BK_ERR_FORMAT,
					    "stream %u: the stream before it "
					    "did not end, or one is missing",
					    stream);
		m->stream = stream;
		m->started = true;
		m->package = m->in_sub = m->skip = m->ended = false;
		m->head = false;
		m->matched = false;
		m->subs = 0;
		m->index = m->off = 0;
	}
	memset(&rec, 0, sizeof(rec));
	/* BEGIN is type 0 in either byte order */
	if (get_le32(hdr) == BK_DRR_BEGIN) {
		int bs = bk_drr_detect_byteswap(hdr);

		if (bs < 0)
			return bk_error_set(err, BK_ERR_FORMAT,
					    "stream %u, record %" PRIu64
					    ": a BEGIN of no byte order",
					    stream, m->index);
		m->byteswap = bs == 1;
	}
	rec.byteswap = m->byteswap;
	bk_drr_decode(hdr, rec.byteswap, &rec.hdr);
	rec.raw = hdr;
	rec.payload = payload;
	rec.payload_len = inline_len ? inline_len : chunked_len;
	rec.index = m->index++;
	rec.offset = m->off;
	m->off += BK_DRR_HDR_LEN + (uint64_t)inline_len + chunked_len;
	if ((rc = check_payload(&rec, inline_len, chunked_len, err)))
		return rc;
	if (m->ended)
		return lp_at_rec(err, &rec, BK_ERR_FORMAT, "after the last END");
	if (rec.hdr.type == BK_DRR_BEGIN || rec.hdr.type == BK_DRR_END)
		return map_frame(m, &rec, err);
	if (m->skip)
		return BK_OK;
	if (!m->in_sub)
		return lp_at_rec(err, &rec, BK_ERR_FORMAT, "outside a substream");
	m->cur_pos = pos;
	m->cur_chunked = chunked_len > 0;
	rc = lp_apply(&m->ap, &rec, err);
	if (rc)
		bk_error_prefix(err, "stream %u", stream);
	return rc;
}

enum bk_code bk_lpool_map_finish(struct bk_lpool_map *m, struct bk_error *err)
{
	if (!m->started || !m->ended)
		return bk_error_set(err, BK_ERR_TRUNCATED,
				    "the last stream of the chain did not end");
	if (!m->matched)
		return no_dataset(m, err);
	return BK_OK;
}

/* ---- serialized ---- */

enum bk_code bk_lpool_map_encode(const struct bk_lpool_map *m,
				 struct bk_buf *out, struct bk_error *err)
{
	struct bk_buf st;
	uint8_t head[8 + 8 + 8];
	enum bk_code rc;

	bk_buf_init(&st, LP_STATE_MAX);
	rc = lp_state_encode(&m->st, &st, err);
	memcpy(head, MAP_MAGIC, 8);
	put_le64(head + 8, st.len);
	put_le64(head + 16, m->ninl);
	bk_buf_reset(out);
	if (!rc)
		rc = bk_buf_append(out, head, sizeof(head), err);
	if (!rc)
		rc = bk_buf_append(out, st.data, st.len, err);
	if (!rc && m->ninl)
		rc = bk_buf_append(out, m->inl, (size_t)m->ninl, err);
	bk_buf_release(&st);
	return rc;
}

/* A decoded block's reference: of a kind we know, inside what it names. */
static bool ref_ok(const struct bk_lpool_map *m, const uint8_t *ref,
		   uint64_t paylen)
{
	uint64_t at = get_le64(ref + 5);
	uint32_t zlo = get_le32(ref + 13), zhi = get_le32(ref + 17);

	if (zhi > zlo && zhi > paylen)
		return false;
	if (ref[0] == MAP_CHUNKED)
		return at <= UINT64_MAX - paylen;
	return ref[0] == MAP_INLINE && at <= m->ninl && paylen <= m->ninl - at;
}

static enum bk_code check_refs(const struct bk_lpool_map *m,
			       struct bk_error *err)
{
	for (size_t i = 0; i < m->st.nobjs; i++) {
		const struct lp_object *o = &m->st.objs[i];

		if (o->has_spill && !ref_ok(m, o->spill.hash, o->spill.paylen))
			return bk_error_set(err, BK_ERR_FORMAT,
					    "map: object %" PRIu64
					    ": a bad spill reference",
					    o->object);
		for (size_t j = 0; j < o->nblocks; j++)
			if (o->blocks[j].kind != LP_REDACT &&
			    !ref_ok(m, o->blocks[j].hash, o->blocks[j].paylen))
				return bk_error_set(
					err, BK_ERR_FORMAT,
					"map: object %" PRIu64
					", block at %" PRIu64
					": a bad reference",
					o->object, o->blocks[j].offset);
	}
	return BK_OK;
}

enum bk_code bk_lpool_map_decode(const uint8_t *p, size_t len,
				 struct bk_lpool_map **out,
				 struct bk_error *err)
{
	struct bk_lpool_map *m;
	uint64_t stlen, ninl;
	enum bk_code rc;

	*out = NULL;
	if (len < 24 || memcmp(p, MAP_MAGIC, 8) != 0)
		return bk_error_set(err, BK_ERR_FORMAT, "map: not a map");
	stlen = get_le64(p + 8);
	ninl = get_le64(p + 16);
	if (stlen > len - 24 || ninl != len - 24 - stlen)
		return bk_error_set(err, BK_ERR_FORMAT,
				    "map: lengths that do not add up");
	if ((rc = bk_lpool_map_new(&m, err)))
		return rc;
	lp_state_free(&m->st);
	rc = lp_state_decode(p + 24, (size_t)stlen, &m->st, err);
	if (!rc && ninl) {
		if (!(m->inl = malloc((size_t)ninl)))
			rc = bk_error_set(err, BK_ERR_NOMEM, "out of memory");
		else
			memcpy(m->inl, p + 24 + stlen, (size_t)ninl);
		m->ninl = m->capinl = ninl;
	}
	if (!rc)
		rc = check_refs(m, err);
	if (rc) {
		bk_lpool_map_free(m);
		return rc;
	}
	m->started = m->ended = true;
	*out = m;
	return BK_OK;
}

void bk_lpool_map_usage(const struct bk_lpool_map *m, uint64_t *objects,
			uint64_t *blocks)
{
	*objects = m->st.nobjs;
	*blocks = 0;
	for (size_t i = 0; i < m->st.nobjs; i++)
		*blocks += m->st.objs[i].nblocks;
}

/* ---- for the object source (zpl_source.c) ---- */

void lp_map_take(struct bk_lpool_map *m, struct lp_state *st, uint8_t **inl,
		 uint64_t *ninl)
{
	*st = m->st;
	*inl = m->inl;
	*ninl = m->ninl;
	lp_state_init(&m->st);
	m->inl = NULL;
	m->ninl = m->capinl = 0;
	bk_lpool_map_free(m);
}

enum bk_code lp_map_payload(const uint8_t *ref, uint32_t paylen,
			    const uint8_t *inl, bk_lpool_map_load_fn load,
			    void *ctx, struct bk_buf *out, struct bk_error *err)
{
	uint32_t zlo = get_le32(ref + 13), zhi = get_le32(ref + 17);
	enum bk_code rc;

	if (ref[0] == MAP_INLINE) {
		bk_buf_reset(out);
		/* an empty payload names no bytes: inl may be NULL */
		rc = paylen ? bk_buf_append(out, inl + get_le64(ref + 5), paylen,
					    err)
			    : BK_OK;
	} else {
		rc = load(ctx, get_le32(ref + 1), get_le64(ref + 5), paylen,
			  out, err);
		if (!rc && out->len != paylen)
			rc = bk_error_set(err, BK_ERR_FORMAT,
					  "a payload of %zu bytes, not %u",
					  out->len, paylen);
	}
	if (rc || zhi <= zlo)
		return rc;
	/* check_refs keeps zhi inside paylen; a range past the bytes is a
	 * damaged reference, refused rather than left unzeroed */
	if (zhi > out->len)
		return bk_error_set(err, BK_ERR_FORMAT,
				    "map: bytes %u..%u zeroed in a payload of "
				    "%zu bytes",
				    zlo, zhi, out->len);
	memset(out->data + zlo, 0, zhi - zlo);
	return BK_OK;
}
