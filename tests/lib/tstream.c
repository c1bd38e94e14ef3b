#include <string.h>

#include "tstream.h"

void tstream_begin(struct bk_drr *r, uint64_t features, const char *name,
		   uint64_t toguid, uint64_t fromguid)
{
	memset(r, 0, sizeof(*r));
	r->type = BK_DRR_BEGIN;
	r->u.begin.magic = BK_DRR_MAGIC;
	r->u.begin.versioninfo = BK_DRR_VERSIONINFO(BK_DRR_SUBSTREAM, features);
	r->u.begin.creation_time = 1700000000;
	r->u.begin.objset_type = 2;
	r->u.begin.flags = BK_DRR_FLAG_FREERECORDS | BK_DRR_FLAG_SPILL_BLOCK;
	r->u.begin.toguid = toguid;
	r->u.begin.fromguid = fromguid;
	strncpy(r->u.begin.toname, name, BK_DRR_NAME_LEN);
}

static int put(struct bk_drr_writer *w, const struct bk_drr *r,
	       const void *payload, size_t len)
{
	return bk_drr_write(w, r, payload, len, NULL) == BK_OK ? 0 : -1;
}

static int body(struct bk_drr_writer *w, bool legacy, uint64_t guid,
		uint64_t seed)
{
	static uint8_t data[4096];
	struct bk_drr r;

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7 + seed);

	memset(&r, 0, sizeof(r));
	r.type = BK_DRR_OBJECT;
	r.u.object.object = 2;
	r.u.object.type = 19;
	r.u.object.bonustype = 44;
	r.u.object.blksz = 4096;
	r.u.object.bonuslen = 170; /* payload 176 */
	r.u.object.checksumtype = 7;
	r.u.object.compress = 15;
	r.u.object.dn_slots = legacy ? 0 : 1;
	r.u.object.toguid = legacy ? 0 : guid;
	if (put(w, &r, data, 176))
		return -1;

	memset(&r, 0, sizeof(r));
	r.type = BK_DRR_FREE;
	r.u.free.object = 2;
	r.u.free.offset = 8192;
	r.u.free.length = UINT64_MAX;
	r.u.free.toguid = legacy ? 0 : guid;
	if (put(w, &r, NULL, 0))
		return -1;

	for (int blk = 0; blk < 2; blk++) {
		memset(&r, 0, sizeof(r));
		r.type = BK_DRR_WRITE;
		r.u.write.object = 2;
		r.u.write.type = 19;
		r.u.write.offset = (uint64_t)blk * 4096;
		r.u.write.logical_size = 4096;
		r.u.write.toguid = legacy ? 0 : guid;
		r.u.write.checksumtype = legacy ? 0 : 7;
		r.u.write.key_prop = legacy ? 0 : 0x200070007ull;
		if (put(w, &r, data, 4096))
			return -1;
	}
	if (!legacy) {
		memset(&r, 0, sizeof(r));
		r.type = BK_DRR_SPILL;
		r.u.spill.object = 2;
		r.u.spill.length = 512;
		r.u.spill.toguid = guid;
		r.u.spill.type = 44;
		if (put(w, &r, data, 512))
			return -1;

		memset(&r, 0, sizeof(r));
		r.type = BK_DRR_OBJECT;
		r.u.object.object = 3;
		r.u.object.type = 19;
		r.u.object.bonustype = 44;
		r.u.object.blksz = 512;
		r.u.object.bonuslen = 168;
		r.u.object.checksumtype = 7;
		r.u.object.compress = 15;
		r.u.object.dn_slots = 1;
		r.u.object.toguid = guid;
		if (put(w, &r, data, 168))
			return -1;

		memset(&r, 0, sizeof(r));
		r.type = BK_DRR_WRITE_EMBEDDED;
		r.u.write_embedded.object = 3;
		r.u.write_embedded.length = 512;
		r.u.write_embedded.toguid = guid;
		r.u.write_embedded.compression = 15;
		r.u.write_embedded.lsize = 512;
		r.u.write_embedded.psize = 27;
		if (put(w, &r, data, 32))
			return -1;

		memset(&r, 0, sizeof(r));
		r.type = BK_DRR_REDACT;
		r.u.redact.object = 3;
		r.u.redact.offset = 512;
		r.u.redact.length = 512;
		r.u.redact.toguid = guid;
		if (put(w, &r, NULL, 0))
			return -1;
	}
	memset(&r, 0, sizeof(r));
	r.type = BK_DRR_FREEOBJECTS;
	r.u.freeobjects.firstobj = 4;
	r.u.freeobjects.numobjs = 28;
	r.u.freeobjects.toguid = legacy ? 0 : guid;
	if (put(w, &r, NULL, 0))
		return -1;

	memset(&r, 0, sizeof(r));
	r.type = BK_DRR_END;
	r.u.end.toguid = legacy ? 0 : guid;
	return put(w, &r, NULL, 0);
}

#define FEATS (BK_FEAT_SA_SPILL | BK_FEAT_EMBED_DATA | BK_FEAT_LZ4 | \
	       BK_FEAT_REDACTED)

int tstream_small(struct bk_buf *out, bool byteswap, bool legacy)
{
	struct bk_drr_writer w;
	struct bk_drr r;

	bk_drr_writer_init(&w, bk_drr_sink_buf, out, byteswap, legacy);
	tstream_begin(&r, legacy ? 0 : FEATS, "pool/fs@snap", 0x1234, 0);
	if (legacy) {
		r.u.begin.versioninfo = 1;
		r.u.begin.flags = 0;
	}
	if (put(&w, &r, NULL, 0))
		return -1;
	return body(&w, legacy, 0x1234, 1);
}

int tstream_compound(struct bk_buf *out, bool byteswap)
{
	/* a tiny packed nvlist stands in for the real header's: the
	 * parser treats BEGIN payloads as opaque bytes */
	static const uint8_t nvl[24] = { 0, 1, 0, 0 };
	struct bk_drr_writer w;
	struct bk_drr r;

	bk_drr_writer_init(&w, bk_drr_sink_buf, out, byteswap, false);
	tstream_begin(&r, 0, "pool/fs@snap", 0, 0);
	r.u.begin.versioninfo = BK_DRR_VERSIONINFO(BK_DRR_COMPOUNDSTREAM, 0);
	r.u.begin.objset_type = 0;
	r.u.begin.flags = 0;
	if (put(&w, &r, nvl, sizeof(nvl)))
		return -1;
	memset(&r, 0, sizeof(r));
	r.type = BK_DRR_END;
	if (put(&w, &r, NULL, 0))
		return -1;
	tstream_begin(&r, FEATS, "pool/fs@snap", 0x1111, 0);
	if (put(&w, &r, NULL, 0) || body(&w, false, 0x1111, 2))
		return -1;
	tstream_begin(&r, FEATS, "pool/fs/child@snap", 0x2222, 0);
	if (put(&w, &r, NULL, 0) || body(&w, false, 0x2222, 3))
		return -1;
	return bk_drr_write_final_end(&w, NULL) == BK_OK ? 0 : -1;
}

int tstream_writes(struct bk_buf *out, bool byteswap, unsigned nwrites,
		   uint32_t blksz)
{
	struct bk_drr_writer w;
	struct bk_drr r;
	static uint8_t data[1 << 17];

	if (blksz > sizeof(data))
		return -1;
	bk_drr_writer_init(&w, bk_drr_sink_buf, out, byteswap, false);
	tstream_begin(&r, FEATS, "pool/fs@big", 0x77, 0);
	if (put(&w, &r, NULL, 0))
		return -1;
	memset(&r, 0, sizeof(r));
	r.type = BK_DRR_OBJECT;
	r.u.object.object = 2;
	r.u.object.type = 19;
	r.u.object.bonustype = 44;
	r.u.object.blksz = blksz;
	r.u.object.bonuslen = 168;
	r.u.object.dn_slots = 1;
	r.u.object.toguid = 0x77;
	if (put(&w, &r, data, 168))
		return -1;
	for (unsigned i = 0; i < nwrites; i++) {
		for (uint32_t k = 0; k < blksz; k += 4)
			memcpy(data + k, &(uint32_t){ i * 2654435761u + k }, 4);
		memset(&r, 0, sizeof(r));
		r.type = BK_DRR_WRITE;
		r.u.write.object = 2;
		r.u.write.type = 19;
		r.u.write.offset = (uint64_t)i * blksz;
		r.u.write.logical_size = blksz;
		r.u.write.toguid = 0x77;
		if (put(&w, &r, data, blksz))
			return -1;
	}
	memset(&r, 0, sizeof(r));
	r.type = BK_DRR_END;
	r.u.end.toguid = 0x77;
	return put(&w, &r, NULL, 0);
}
