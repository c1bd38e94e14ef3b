/* SPDX-License-Identifier: MIT */
/*
 * Record header codec.  Each record type is a table of fields (offset in the
 * 312-byte header, width, place in struct bk_drr); decode and encode walk the
 * same table, so they cannot disagree.  Offsets: docs/stream-format.md.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "backup/drr.h"

enum fkind { F_U8, F_U32, F_U64, F_BYTES, F_CKSUM, F_NAME };

struct field {
	uint16_t off;   /* in the header */
	uint8_t kind;
	uint8_t len;    /* F_BYTES only */
	uint16_t where; /* offsetof(struct bk_drr, ...) */
};

#define U8(o, m) { o, F_U8, 1, offsetof(struct bk_drr, m) }
#define U32(o, m) { o, F_U32, 4, offsetof(struct bk_drr, m) }
#define U64(o, m) { o, F_U64, 8, offsetof(struct bk_drr, m) }
#define BYTES(o, n, m) { o, F_BYTES, n, offsetof(struct bk_drr, m) }
#define CKSUM(o, m) { o, F_CKSUM, 32, offsetof(struct bk_drr, m) }
#define END_FIELDS { 0, 0, 0, 0 }

static const struct field f_begin[] = {
	U64(8, u.begin.magic), U64(16, u.begin.versioninfo),
	U64(24, u.begin.creation_time), U32(32, u.begin.objset_type),
	U32(36, u.begin.flags), U64(40, u.begin.toguid),
	U64(48, u.begin.fromguid),
	{ 56, F_NAME, 0, offsetof(struct bk_drr, u.begin.toname) },
	END_FIELDS
};

static const struct field f_object[] = {
	U64(8, u.object.object), U32(16, u.object.type),
	U32(20, u.object.bonustype), U32(24, u.object.blksz),
	U32(28, u.object.bonuslen), U8(32, u.object.checksumtype),
	U8(33, u.object.compress), U8(34, u.object.dn_slots),
	U8(35, u.object.flags), U32(36, u.object.raw_bonuslen),
	U64(40, u.object.toguid), U8(48, u.object.indblkshift),
	U8(49, u.object.nlevels), U8(50, u.object.nblkptr),
	U64(56, u.object.maxblkid), END_FIELDS
};

static const struct field f_freeobjects[] = {
	U64(8, u.freeobjects.firstobj), U64(16, u.freeobjects.numobjs),
	U64(24, u.freeobjects.toguid), END_FIELDS
};

static const struct field f_write[] = {
	U64(8, u.write.object), U32(16, u.write.type),
	U64(24, u.write.offset), U64(32, u.write.logical_size),
	U64(40, u.write.toguid), U8(48, u.write.checksumtype),
	U8(49, u.write.flags), U8(50, u.write.compressiontype),
	CKSUM(56, u.write.key_cksum), U64(88, u.write.key_prop),
	U64(96, u.write.compressed_size), BYTES(104, 8, u.write.salt),
	BYTES(112, 12, u.write.iv), BYTES(124, 16, u.write.mac), END_FIELDS
};

static const struct field f_free[] = {
	U64(8, u.free.object), U64(16, u.free.offset),
	U64(24, u.free.length), U64(32, u.free.toguid), END_FIELDS
};

static const struct field f_end[] = {
	CKSUM(8, u.end.checksum), U64(40, u.end.toguid), END_FIELDS
};

static const struct field f_write_byref[] = {
	U64(8, u.write_byref.object), U64(16, u.write_byref.offset),
	U64(24, u.write_byref.length), U64(32, u.write_byref.toguid),
	U64(40, u.write_byref.refguid), U64(48, u.write_byref.refobject),
	U64(56, u.write_byref.refoffset), U8(64, u.write_byref.checksumtype),
	U8(65, u.write_byref.flags), CKSUM(72, u.write_byref.key_cksum),
	U64(104, u.write_byref.key_prop), END_FIELDS
};

static const struct field f_spill[] = {
	U64(8, u.spill.object), U64(16, u.spill.length),
	U64(24, u.spill.toguid), U8(32, u.spill.flags),
	U8(33, u.spill.compressiontype), U64(40, u.spill.compressed_size),
	BYTES(48, 8, u.spill.salt), BYTES(56, 12, u.spill.iv),
	BYTES(68, 16, u.spill.mac), U32(84, u.spill.type), END_FIELDS
};

static const struct field f_write_embedded[] = {
	U64(8, u.write_embedded.object), U64(16, u.write_embedded.offset),
	U64(24, u.write_embedded.length), U64(32, u.write_embedded.toguid),
	U8(40, u.write_embedded.compression), U8(41, u.write_embedded.etype),
	U32(48, u.write_embedded.lsize), U32(52, u.write_embedded.psize),
	END_FIELDS
};

static const struct field f_object_range[] = {
	U64(8, u.object_range.firstobj), U64(16, u.object_range.numslots),
	U64(24, u.object_range.toguid), BYTES(32, 8, u.object_range.salt),
	BYTES(40, 12, u.object_range.iv), BYTES(52, 16, u.object_range.mac),
	U8(68, u.object_range.flags), END_FIELDS
};

static const struct field f_redact[] = {
	U64(8, u.redact.object), U64(16, u.redact.offset),
	U64(24, u.redact.length), U64(32, u.redact.toguid), END_FIELDS
};

static const struct field *const layouts[BK_DRR_NUMTYPES] = {
	[BK_DRR_BEGIN] = f_begin,
	[BK_DRR_OBJECT] = f_object,
	[BK_DRR_FREEOBJECTS] = f_freeobjects,
	[BK_DRR_WRITE] = f_write,
	[BK_DRR_FREE] = f_free,
	[BK_DRR_END] = f_end,
	[BK_DRR_WRITE_BYREF] = f_write_byref,
	[BK_DRR_SPILL] = f_spill,
	[BK_DRR_WRITE_EMBEDDED] = f_write_embedded,
	[BK_DRR_OBJECT_RANGE] = f_object_range,
	[BK_DRR_REDACT] = f_redact,
};

static const char *const type_names[BK_DRR_NUMTYPES] = {
	"BEGIN", "OBJECT", "FREEOBJECTS", "WRITE", "FREE", "END",
	"WRITE_BYREF", "SPILL", "WRITE_EMBEDDED", "OBJECT_RANGE", "REDACT",
};

const char *bk_drr_type_name(uint32_t type)
{
	return type < BK_DRR_NUMTYPES ? type_names[type] : "UNKNOWN";
}

static const struct {
	unsigned bit;
	const char *name;
} feature_names[] = {
	{ 0, "DEDUP" },	      { 1, "DEDUPPROPS" },	  { 2, "SA_SPILL" },
	{ 16, "EMBED_DATA" }, { 17, "LZ4" },		  { 19, "LARGE_BLOCKS" },
	{ 20, "RESUMING" },   { 21, "REDACTED" },	  { 22, "COMPRESSED" },
	{ 23, "LARGE_DNODE" }, { 24, "RAW" },		  { 25, "ZSTD" },
	{ 26, "HOLDS" },      { 27, "SWITCH_TO_LARGE_BLOCKS" },
	{ 28, "LONGNAME" },   { 29, "LARGE_MICROZAP" },
};

void bk_drr_feature_names(uint64_t features, char *out, size_t n)
{
	size_t used = 0;

	if (n == 0)
		return;
	out[0] = '\0';
	for (unsigned bit = 0; bit < 64; bit++) {
		const char *name = NULL;
		char tmp[16];
		int w;

		if (!(features & (1ull << bit)))
			continue;
		for (size_t i = 0;
		     i < sizeof(feature_names) / sizeof(feature_names[0]); i++)
			if (feature_names[i].bit == bit)
				name = feature_names[i].name;
		if (!name) {
			snprintf(tmp, sizeof(tmp), "bit%u", bit);
			name = tmp;
		}
		w = snprintf(out + used, n - used, "%s%s", used ? " " : "",
			     name);
		if (w < 0 || (size_t)w >= n - used)
			return; /* truncated, still terminated */
		used += (size_t)w;
	}
}

static uint32_t get32(const uint8_t *p, bool swap)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return swap ? __builtin_bswap32(v) : v;
}

static uint64_t get64(const uint8_t *p, bool swap)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return swap ? __builtin_bswap64(v) : v;
}

static void put32(uint8_t *p, uint32_t v, bool swap)
{
	if (swap)
		v = __builtin_bswap32(v);
	memcpy(p, &v, 4);
}

static void put64(uint8_t *p, uint64_t v, bool swap)
{
	if (swap)
		v = __builtin_bswap64(v);
	memcpy(p, &v, 8);
}

static void get_cksum(struct bk_cksum *c, const uint8_t *p, bool swap)
{
	for (int i = 0; i < 4; i++)
		c->word[i] = get64(p + 8 * i, swap);
}

static void put_cksum(uint8_t *p, const struct bk_cksum *c, bool swap)
{
	for (int i = 0; i < 4; i++)
		put64(p + 8 * i, c->word[i], swap);
}

void bk_drr_decode(const uint8_t hdr[BK_DRR_HDR_LEN], bool swap,
		   struct bk_drr *out)
{
	uint8_t *base = (uint8_t *)out;
	const struct field *f;

	memset(out, 0, sizeof(*out));
	out->type = get32(hdr, swap);
	out->payloadlen = get32(hdr + 4, swap);
	if (out->type >= BK_DRR_NUMTYPES)
		return;
	for (f = layouts[out->type]; f->kind || f->off; f++) {
		uint8_t *dst = base + f->where;

		switch ((enum fkind)f->kind) {
		case F_U8: *dst = hdr[f->off]; break;
		case F_U32: {
			uint32_t v = get32(hdr + f->off, swap);

			memcpy(dst, &v, 4);
			break;
		}
		case F_U64: {
			uint64_t v = get64(hdr + f->off, swap);

			memcpy(dst, &v, 8);
			break;
		}
		case F_BYTES: memcpy(dst, hdr + f->off, f->len); break;
		case F_CKSUM: get_cksum((struct bk_cksum *)(void *)dst,
					hdr + f->off, swap);
			break;
		case F_NAME:
			memcpy(dst, hdr + f->off, BK_DRR_NAME_LEN);
			dst[BK_DRR_NAME_LEN] = '\0';
			break;
		}
	}
	if (out->type != BK_DRR_BEGIN)
		get_cksum(&out->trailer, hdr + BK_DRR_TRAILER_OFF, swap);
}

void bk_drr_encode(const struct bk_drr *r, bool swap,
		   uint8_t hdr[BK_DRR_HDR_LEN])
{
	const uint8_t *base = (const uint8_t *)r;
	const struct field *f;

	memset(hdr, 0, BK_DRR_HDR_LEN);
	put32(hdr, r->type, swap);
	put32(hdr + 4, r->payloadlen, swap);
	if (r->type >= BK_DRR_NUMTYPES)
		return;
	for (f = layouts[r->type]; f->kind || f->off; f++) {
		const uint8_t *src = base + f->where;

		switch ((enum fkind)f->kind) {
		case F_U8: hdr[f->off] = *src; break;
		case F_U32: {
			uint32_t v;

			memcpy(&v, src, 4);
			put32(hdr + f->off, v, swap);
			break;
		}
		case F_U64: {
			uint64_t v;

			memcpy(&v, src, 8);
			put64(hdr + f->off, v, swap);
			break;
		}
		case F_BYTES: memcpy(hdr + f->off, src, f->len); break;
		case F_CKSUM:
			put_cksum(hdr + f->off,
				  (const struct bk_cksum *)(const void *)src,
				  swap);
			break;
		case F_NAME:
			/* strnlen: the name may fill all 256 bytes */
			memcpy(hdr + f->off, src,
			       strnlen((const char *)src, BK_DRR_NAME_LEN));
			break;
		}
	}
	if (r->type != BK_DRR_BEGIN)
		put_cksum(hdr + BK_DRR_TRAILER_OFF, &r->trailer, swap);
}

int bk_drr_detect_byteswap(const uint8_t hdr[BK_DRR_HDR_LEN])
{
	if (get32(hdr, false) == BK_DRR_BEGIN &&
	    get64(hdr + 8, false) == BK_DRR_MAGIC)
		return 0;
	if (get32(hdr, true) == BK_DRR_BEGIN &&
	    get64(hdr + 8, true) == BK_DRR_MAGIC)
		return 1;
	return -1;
}

enum bk_code bk_drr_payload_len(const struct bk_drr *r, uint64_t *len,
				struct bk_error *err)
{
	*len = 0;
	switch (r->type) {
	case BK_DRR_BEGIN:
		*len = r->payloadlen;
		break;
	case BK_DRR_OBJECT:
		if (r->u.object.raw_bonuslen)
			*len = r->u.object.raw_bonuslen;
		else
			*len = ((uint64_t)r->u.object.bonuslen + 7) & ~7ull;
		break;
	case BK_DRR_WRITE:
		*len = r->u.write.compressiontype ? r->u.write.compressed_size
						  : r->u.write.logical_size;
		break;
	case BK_DRR_SPILL:
		*len = r->u.spill.compressed_size ? r->u.spill.compressed_size
						  : r->u.spill.length;
		break;
	case BK_DRR_WRITE_EMBEDDED:
		if (r->u.write_embedded.psize > 112)
			return bk_error_set(err, BK_ERR_FORMAT,
					    "embedded psize %u is over 112",
					    r->u.write_embedded.psize);
		*len = ((uint64_t)r->u.write_embedded.psize + 7) & ~7ull;
		break;
	case BK_DRR_FREEOBJECTS:
	case BK_DRR_FREE:
	case BK_DRR_END:
	case BK_DRR_WRITE_BYREF:
	case BK_DRR_OBJECT_RANGE:
	case BK_DRR_REDACT:
		break;
	default:
		return bk_error_set(err, BK_ERR_FORMAT,
				    "unknown record type %u", r->type);
	}
	return BK_OK;
}
