/* SPDX-License-Identifier: MIT */
/*
 * Text form of records, field for field as OpenZFS's `zstream dump -v`
 * prints them, so that the two can be compared line by line.
 */
#include <inttypes.h>

#include "backup/drr.h"
#include "backup/util.h"

enum bk_code bk_drr_dump_record(const struct bk_drr_rec *rec,
				struct bk_buf *out, struct bk_error *err)
{
	const struct bk_drr *r = &rec->hdr;
	char salt[17], iv[25], mac[33];

	switch (r->type) {
	case BK_DRR_BEGIN:
		return bk_buf_printf(
			out, err,
			"BEGIN record\n\thdrtype = %" PRIu32
			"\n\tfeatures = %" PRIx64 "\n\tmagic = %" PRIx64
			"\n\tcreation_time = %" PRIx64 "\n\ttype = %" PRIu32
			"\n\tflags = 0x%" PRIx32 "\n\ttoguid = %" PRIx64
			"\n\tfromguid = %" PRIx64
			"\n\ttoname = %s\n\tpayloadlen = %" PRIu32 "\n\n",
			BK_DRR_HDRTYPE(r->u.begin.versioninfo),
			BK_DRR_FEATURES(r->u.begin.versioninfo),
			r->u.begin.magic, r->u.begin.creation_time,
			r->u.begin.objset_type, r->u.begin.flags,
			r->u.begin.toguid, r->u.begin.fromguid,
			r->u.begin.toname, r->payloadlen);
	case BK_DRR_END:
		return bk_buf_printf(out, err,
				     "END checksum = %" PRIx64 "/%" PRIx64
				     "/%" PRIx64 "/%" PRIx64 "\n",
				     r->u.end.checksum.word[0],
				     r->u.end.checksum.word[1],
				     r->u.end.checksum.word[2],
				     r->u.end.checksum.word[3]);
	case BK_DRR_OBJECT:
		return bk_buf_printf(
			out, err,
			"OBJECT object = %" PRIu64 " type = %" PRIu32
			" bonustype = %" PRIu32 " blksz = %" PRIu32
			" bonuslen = %" PRIu32 " dn_slots = %u"
			" raw_bonuslen = %" PRIu32 " flags = %u"
			" maxblkid = %" PRIu64 " indblkshift = %u"
			" nlevels = %u nblkptr = %u\n",
			r->u.object.object, r->u.object.type,
			r->u.object.bonustype, r->u.object.blksz,
			r->u.object.bonuslen, r->u.object.dn_slots,
			r->u.object.raw_bonuslen, r->u.object.flags,
			r->u.object.maxblkid, r->u.object.indblkshift,
			r->u.object.nlevels, r->u.object.nblkptr);
	case BK_DRR_FREEOBJECTS:
		return bk_buf_printf(out, err,
				     "FREEOBJECTS firstobj = %" PRIu64
				     " numobjs = %" PRIu64 "\n",
				     r->u.freeobjects.firstobj,
				     r->u.freeobjects.numobjs);
	case BK_DRR_WRITE:
		bk_hex(r->u.write.salt, sizeof(r->u.write.salt), salt);
		bk_hex(r->u.write.iv, sizeof(r->u.write.iv), iv);
		bk_hex(r->u.write.mac, sizeof(r->u.write.mac), mac);
		return bk_buf_printf(
			out, err,
			"WRITE object = %" PRIu64 " type = %" PRIu32
			" checksum type = %u compression type = %u"
			" flags = %u offset = %" PRIu64
			" logical_size = %" PRIu64
			" compressed_size = %" PRIu64
			" payload_size = %" PRIu64 " props = %" PRIx64
			" salt = %s iv = %s mac = %s\n",
			r->u.write.object, r->u.write.type,
			r->u.write.checksumtype, r->u.write.compressiontype,
			r->u.write.flags, r->u.write.offset,
			r->u.write.logical_size, r->u.write.compressed_size,
			rec->payload_len, r->u.write.key_prop, salt, iv, mac);
	case BK_DRR_WRITE_BYREF:
		return bk_buf_printf(
			out, err,
			"WRITE_BYREF object = %" PRIu64
			" checksum type = %u props = %" PRIx64
			" offset = %" PRIu64 " length = %" PRIu64
			" toguid = %" PRIx64 " refguid = %" PRIx64
			" refobject = %" PRIu64 " refoffset = %" PRIu64 "\n",
			r->u.write_byref.object, r->u.write_byref.checksumtype,
			r->u.write_byref.key_prop, r->u.write_byref.offset,
			r->u.write_byref.length, r->u.write_byref.toguid,
			r->u.write_byref.refguid, r->u.write_byref.refobject,
			r->u.write_byref.refoffset);
	case BK_DRR_FREE:
		return bk_buf_printf(out, err,
				     "FREE object = %" PRIu64
				     " offset = %" PRIu64 " length = %" PRId64
				     "\n",
				     r->u.free.object, r->u.free.offset,
				     (int64_t)r->u.free.length);
	case BK_DRR_SPILL:
		bk_hex(r->u.spill.salt, sizeof(r->u.spill.salt), salt);
		bk_hex(r->u.spill.iv, sizeof(r->u.spill.iv), iv);
		bk_hex(r->u.spill.mac, sizeof(r->u.spill.mac), mac);
		return bk_buf_printf(
			out, err,
			"SPILL block for object = %" PRIu64
			" length = %" PRIu64 " flags = %u"
			" compression type = %u compressed_size = %" PRIu64
			" payload_size = %" PRIu64
			" salt = %s iv = %s mac = %s\n",
			r->u.spill.object, r->u.spill.length,
			r->u.spill.flags, r->u.spill.compressiontype,
			r->u.spill.compressed_size, rec->payload_len, salt,
			iv, mac);
	case BK_DRR_WRITE_EMBEDDED:
		return bk_buf_printf(
			out, err,
			"WRITE_EMBEDDED object = %" PRIu64
			" offset = %" PRIu64 " length = %" PRIu64
			" toguid = %" PRIx64 " comp = %u etype = %u"
			" lsize = %" PRIu32 " psize = %" PRIu32 "\n",
			r->u.write_embedded.object, r->u.write_embedded.offset,
			r->u.write_embedded.length, r->u.write_embedded.toguid,
			r->u.write_embedded.compression,
			r->u.write_embedded.etype, r->u.write_embedded.lsize,
			r->u.write_embedded.psize);
	case BK_DRR_OBJECT_RANGE:
		bk_hex(r->u.object_range.salt,
		       sizeof(r->u.object_range.salt), salt);
		bk_hex(r->u.object_range.iv, sizeof(r->u.object_range.iv), iv);
		bk_hex(r->u.object_range.mac,
		       sizeof(r->u.object_range.mac), mac);
		return bk_buf_printf(out, err,
				     "OBJECT_RANGE firstobj = %" PRIu64
				     " numslots = %" PRIu64 " flags = %u"
				     " salt = %s iv = %s mac = %s\n",
				     r->u.object_range.firstobj,
				     r->u.object_range.numslots,
				     r->u.object_range.flags, salt, iv, mac);
	case BK_DRR_REDACT:
		return bk_buf_printf(out, err,
				     "REDACT object = %" PRIu64
				     " offset = %" PRIu64 " length = %" PRIu64
				     "\n",
				     r->u.redact.object, r->u.redact.offset,
				     r->u.redact.length);
	default:
		return bk_buf_printf(out, err, "UNKNOWN record type %" PRIu32
				     "\n", r->type);
	}
}

enum bk_code bk_drr_dump_summary(const struct bk_drr_stats *st,
				 struct bk_buf *out, struct bk_error *err)
{
	/* zstream dump's order */
	static const uint32_t order[] = {
		BK_DRR_BEGIN,	   BK_DRR_END,		  BK_DRR_OBJECT,
		BK_DRR_FREEOBJECTS, BK_DRR_WRITE,	  BK_DRR_WRITE_BYREF,
		BK_DRR_WRITE_EMBEDDED, BK_DRR_FREE,	  BK_DRR_SPILL,
		BK_DRR_OBJECT_RANGE, BK_DRR_REDACT,
	};
	uint64_t payload = 0, overhead = st->records * BK_DRR_HDR_LEN;
	enum bk_code rc = bk_buf_printf(out, err, "SUMMARY:\n");

	for (size_t i = 0; !rc && i < sizeof(order) / sizeof(order[0]); i++) {
		uint32_t t = order[i];

		payload += st->payload_bytes[t];
		rc = bk_buf_printf(out, err,
				   "\tTotal DRR_%s records = %" PRIu64
				   " (%" PRIu64 " bytes)\n",
				   bk_drr_type_name(t), st->count[t],
				   st->payload_bytes[t]);
	}
	if (!rc)
		rc = bk_buf_printf(
			out, err,
			"\tTotal records = %" PRIu64
			"\n\tTotal payload size = %" PRIu64 " (0x%" PRIx64
			")\n\tTotal header overhead = %" PRIu64 " (0x%" PRIx64
			")\n\tTotal stream length = %" PRIu64 " (0x%" PRIx64
			")\n",
			st->records, payload, payload, overhead, overhead,
			payload + overhead, payload + overhead);
	return rc;
}
