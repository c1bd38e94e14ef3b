/* SPDX-License-Identifier: MIT */
/*
 * ZFS send streams (DRR records): codec, running fletcher-4, pull parser,
 * receiver rules and writer.  The format is described in
 * docs/stream-format.md.  Memory in, records out: nothing here
 * touches a file descriptor.
 */
#ifndef BACKUP_DRR_H
#define BACKUP_DRR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backup/buf.h"
#include "backup/error.h"
#include "backup/export.h"

#define BK_DRR_HDR_LEN 312u
#define BK_DRR_TRAILER_OFF 280u
#define BK_DRR_MAGIC UINT64_C(0x2F5BACBAC)
#define BK_DRR_NAME_LEN 256u
#define BK_DRR_MAX_PAYLOAD (16u << 20)       /* WRITE/SPILL with LARGE_BLOCKS */
#define BK_DRR_MAX_BEGIN_PAYLOAD (64u << 20) /* BEGIN nvlist */
#define BK_DRR_MAX_OBJECT ((UINT64_C(1) << 48) - 1)

enum bk_drr_type {
	BK_DRR_BEGIN = 0,
	BK_DRR_OBJECT = 1,
	BK_DRR_FREEOBJECTS = 2,
	BK_DRR_WRITE = 3,
	BK_DRR_FREE = 4,
	BK_DRR_END = 5,
	BK_DRR_WRITE_BYREF = 6,
	BK_DRR_SPILL = 7,
	BK_DRR_WRITE_EMBEDDED = 8,
	BK_DRR_OBJECT_RANGE = 9,
	BK_DRR_REDACT = 10,
	BK_DRR_NUMTYPES = 11,
};

/* "WRITE", or "UNKNOWN" for an out-of-range value. */
BK_EXPORT const char *bk_drr_type_name(uint32_t type);

/* versioninfo: bits 0-1 header type, bits 2.. features. */
#define BK_DRR_HDRTYPE(vi) ((uint32_t)((vi) & 3u))
#define BK_DRR_FEATURES(vi) ((vi) >> 2)
#define BK_DRR_VERSIONINFO(hdrtype, features) \
	(((uint64_t)(features) << 2) | (uint64_t)(hdrtype))
#define BK_DRR_SUBSTREAM 1u
#define BK_DRR_COMPOUNDSTREAM 2u

/* Feature flags, already shifted down by 2 (BK_DRR_FEATURES()). */
#define BK_FEAT_DEDUP (1ull << 0)
#define BK_FEAT_DEDUPPROPS (1ull << 1)
#define BK_FEAT_SA_SPILL (1ull << 2)
#define BK_FEAT_EMBED_DATA (1ull << 16)
#define BK_FEAT_LZ4 (1ull << 17)
#define BK_FEAT_LARGE_BLOCKS (1ull << 19)
#define BK_FEAT_RESUMING (1ull << 20)
#define BK_FEAT_REDACTED (1ull << 21)
#define BK_FEAT_COMPRESSED (1ull << 22)
#define BK_FEAT_LARGE_DNODE (1ull << 23)
#define BK_FEAT_RAW (1ull << 24)
#define BK_FEAT_ZSTD (1ull << 25)
#define BK_FEAT_HOLDS (1ull << 26)
#define BK_FEAT_SWITCH_TO_LARGE_BLOCKS (1ull << 27)
#define BK_FEAT_LONGNAME (1ull << 28)
#define BK_FEAT_LARGE_MICROZAP (1ull << 29)
#define BK_FEAT_KNOWN                                                      \
	(BK_FEAT_DEDUP | BK_FEAT_DEDUPPROPS | BK_FEAT_SA_SPILL |           \
	 BK_FEAT_EMBED_DATA | BK_FEAT_LZ4 | BK_FEAT_LARGE_BLOCKS |         \
	 BK_FEAT_RESUMING | BK_FEAT_REDACTED | BK_FEAT_COMPRESSED |        \
	 BK_FEAT_LARGE_DNODE | BK_FEAT_RAW | BK_FEAT_ZSTD | BK_FEAT_HOLDS | \
	 BK_FEAT_SWITCH_TO_LARGE_BLOCKS | BK_FEAT_LONGNAME |               \
	 BK_FEAT_LARGE_MICROZAP)

/*
 * Write space-separated feature names ("SA_SPILL EMBED_DATA LZ4") into out
 * (always NUL-terminated); unknown bits appear as "bit37".
 * BK_DRR_FEATURE_NAMES_MAX: a size that holds all the known names.
 */
#define BK_DRR_FEATURE_NAMES_MAX 512u
BK_EXPORT void bk_drr_feature_names(uint64_t features, char *out, size_t n);

/* BEGIN flags */
#define BK_DRR_FLAG_CLONE 0x1u
#define BK_DRR_FLAG_CI_DATA 0x2u
#define BK_DRR_FLAG_FREERECORDS 0x4u
#define BK_DRR_FLAG_SPILL_BLOCK 0x8u
/* Per-record flags (WRITE, OBJECT, SPILL) */
#define BK_DRR_RFLAG_CHECKSUM_DEDUP 0x1u
#define BK_DRR_RFLAG_RAW_BYTESWAP 0x2u
#define BK_DRR_RFLAG_SPILL 0x4u /* OBJECT_SPILL / SPILL_UNMODIFIED */

/* fletcher-4: four 64-bit running sums over 32-bit words. */
struct bk_cksum {
	uint64_t word[4];
};

/* Running checksum; start from all zeros. */
struct bk_fletcher4 {
	struct bk_cksum ck;
	bool byteswap; /* words are in the other byte order than the host */
};

BK_EXPORT void bk_fletcher4_init(struct bk_fletcher4 *f, bool byteswap);
/*
 * Fold in buf.  len must be a multiple of 4 except for the last update of a
 * run: trailing 1-3 bytes are ignored, as OpenZFS does.
 */
BK_EXPORT void bk_fletcher4_update(struct bk_fletcher4 *f, const void *buf,
				   size_t len);
/* Name of the implementation in use ("avx2", "scalar-4way", ...). */
BK_EXPORT const char *bk_fletcher4_impl(void);
/* Force an implementation (tests, benchmarks): 0 ok, -1 unknown/unsupported. */
BK_EXPORT int bk_fletcher4_select(const char *name);

/*
 * A decoded record header, every integer in host order.  Fields a type does
 * not carry stay zero.  Only the fields of the record's type are meaningful.
 */
struct bk_drr {
	uint32_t type;
	uint32_t payloadlen; /* BEGIN only */
	union {
		struct {
			uint64_t magic;
			uint64_t versioninfo;
			uint64_t creation_time;
			uint32_t objset_type;
			uint32_t flags;
			uint64_t toguid;
			uint64_t fromguid;
			char toname[BK_DRR_NAME_LEN + 1]; /* always terminated */
		} begin;
		struct {
			uint64_t object;
			uint32_t type;
			uint32_t bonustype;
			uint32_t blksz;
			uint32_t bonuslen;
			uint8_t checksumtype;
			uint8_t compress;
			uint8_t dn_slots;
			uint8_t flags;
			uint32_t raw_bonuslen;
			uint64_t toguid;
			uint8_t indblkshift;
			uint8_t nlevels;
			uint8_t nblkptr;
			uint64_t maxblkid;
		} object;
		struct {
			uint64_t firstobj;
			uint64_t numobjs;
			uint64_t toguid;
		} freeobjects;
		struct {
			uint64_t object;
			uint32_t type;
			uint64_t offset;
			uint64_t logical_size;
			uint64_t toguid;
			uint8_t checksumtype;
			uint8_t flags;
			uint8_t compressiontype;
			struct bk_cksum key_cksum;
			uint64_t key_prop;
			uint64_t compressed_size;
			uint8_t salt[8];
			uint8_t iv[12];
			uint8_t mac[16];
		} write;
		struct {
			uint64_t object;
			uint64_t offset;
			uint64_t length;
			uint64_t toguid;
		} free;
		struct {
			struct bk_cksum checksum;
			uint64_t toguid;
		} end;
		struct {
			uint64_t object;
			uint64_t offset;
			uint64_t length;
			uint64_t toguid;
			uint64_t refguid;
			uint64_t refobject;
			uint64_t refoffset;
			uint8_t checksumtype;
			uint8_t flags;
			struct bk_cksum key_cksum;
			uint64_t key_prop;
		} write_byref;
		struct {
			uint64_t object;
			uint64_t length;
			uint64_t toguid;
			uint8_t flags;
			uint8_t compressiontype;
			uint64_t compressed_size;
			uint8_t salt[8];
			uint8_t iv[12];
			uint8_t mac[16];
			uint32_t type;
		} spill;
		struct {
			uint64_t object;
			uint64_t offset;
			uint64_t length;
			uint64_t toguid;
			uint8_t compression;
			uint8_t etype;
			uint32_t lsize;
			uint32_t psize;
		} write_embedded;
		struct {
			uint64_t firstobj;
			uint64_t numslots;
			uint64_t toguid;
			uint8_t salt[8];
			uint8_t iv[12];
			uint8_t mac[16];
			uint8_t flags;
		} object_range;
		struct {
			uint64_t object;
			uint64_t offset;
			uint64_t length;
			uint64_t toguid;
		} redact;
	} u;
	struct bk_cksum trailer; /* bytes 280..311; not for BEGIN */
};

/*
 * Decode 312 header bytes.  byteswap: the sender's byte order is not the
 * host's.  Never fails: a type >= BK_DRR_NUMTYPES decodes the common
 * fields only (the caller rejects it).
 */
BK_EXPORT void bk_drr_decode(const uint8_t hdr[BK_DRR_HDR_LEN], bool byteswap,
			     struct bk_drr *out);
/*
 * Encode into 312 bytes (zeroed first; padding stays zero).  The trailer is
 * written from r->trailer; writers normally let bk_drr_writer fill it.
 */
BK_EXPORT void bk_drr_encode(const struct bk_drr *r, bool byteswap,
			     uint8_t hdr[BK_DRR_HDR_LEN]);

/*
 * The payload length a header implies (BEGIN: payloadlen).  Returns
 * BK_ERR_FORMAT for an unknown type or an impossible length (e.g. a
 * WRITE_EMBEDDED psize over 112); does not apply the size limits.
 */
BK_EXPORT enum bk_code bk_drr_payload_len(const struct bk_drr *r,
					  uint64_t *len, struct bk_error *err);

/* Guess the byte order from a BEGIN header: 0 native, 1 swapped, -1 neither. */
BK_EXPORT int bk_drr_detect_byteswap(const uint8_t hdr[BK_DRR_HDR_LEN]);

/* ---- pull parser ----------------------------------------------------- */

struct bk_drr_parser;

struct bk_drr_parser_opts {
	bool validate; /* apply the receiver rules (bk_drr_validate) */
	/* with validate: accept deduplicated streams (DEDUP, WRITE_BYREF),
	 * for a receiver that resolves the references itself */
	bool dedup;
	/* Bounds; 0 means the defaults above. */
	uint32_t max_payload;
	uint32_t max_begin_payload;
};

/* Where a record sits in the stream. */
struct bk_drr_rec {
	struct bk_drr hdr;
	const uint8_t *raw;     /* the 312 header bytes as they were read */
	const uint8_t *payload; /* payload_len bytes; valid until the next call */
	uint64_t payload_len;
	uint64_t index;  /* record number from 0 over the whole input */
	uint64_t offset; /* byte offset of the header in the input */
	bool byteswap;   /* of the substream this record belongs to */
	uint32_t substream; /* 1.. (a plain stream is substream 1); 0 for the
			     * compound header, its END and the final END */
	/* The running checksum before this record's trailer (= what a non-zero
	 * trailer must equal); for END the value its checksum must equal. */
	struct bk_cksum running;
	bool trailer_checked; /* trailer was non-zero and verified */
};

/* Status from bk_drr_parser_next(). */
enum bk_drr_status {
	BK_DRR_ERROR = -1, /* err filled; the parser is dead from then on */
	BK_DRR_NEED_MORE = 0,
	BK_DRR_RECORD = 1,
	BK_DRR_DONE = 2, /* the final END was read; nothing else may follow */
};

/* Summary kept by the parser as it goes. */
struct bk_drr_stats {
	uint64_t count[BK_DRR_NUMTYPES];
	uint64_t payload_bytes[BK_DRR_NUMTYPES];
	uint64_t records;
	uint64_t bytes; /* consumed so far */
	uint32_t substreams; /* BEGIN records of substreams (1 for a plain stream) */
	bool compound;
	bool byteswap; /* of the first BEGIN */
	bool legacy;   /* no record carried a trailer */
};

BK_EXPORT enum bk_code bk_drr_parser_new(const struct bk_drr_parser_opts *opts,
					 struct bk_drr_parser **out,
					 struct bk_error *err);
BK_EXPORT void bk_drr_parser_free(struct bk_drr_parser *p);

/*
 * Zero-copy input: get writable space for at least `want` bytes (the parser
 * may give more; *avail says how much), read into it, then report how much
 * was written with bk_drr_parser_wrote().  The space is bounded: when the
 * parser holds a whole record already, drain it with _next() first.
 */
BK_EXPORT uint8_t *bk_drr_parser_space(struct bk_drr_parser *p, size_t want,
				       size_t *avail, struct bk_error *err);
BK_EXPORT void bk_drr_parser_wrote(struct bk_drr_parser *p, size_t n);
/*
 * Copying input: takes as many of the len bytes as fit and returns that
 * count (0 when the parser must be drained with _next() first).
 */
BK_EXPORT size_t bk_drr_parser_feed(struct bk_drr_parser *p, const void *buf,
				    size_t len);
/* No more input will come: _next() then reports truncation or garbage. */
BK_EXPORT void bk_drr_parser_eof(struct bk_drr_parser *p);
/*
 * Input from a file descriptor, the mirror of bk_drr_sink_fd: one read(2),
 * across EINTR, into space for at least `want` bytes (as _space()).  At
 * the end of the input the parser is told (_eof()) and *eof set.  A failed
 * read is BK_ERR_IO "<what>: <strerror>".  Drain with _next() in between.
 */
BK_EXPORT enum bk_code bk_drr_parser_read_fd(struct bk_drr_parser *p, int fd,
					     size_t want, const char *what,
					     bool *eof, struct bk_error *err);

/*
 * Yield the next record.  rec stays valid until the next call.  After
 * BK_DRR_DONE, bytes still buffered or fed are an error ("trailing data").
 */
BK_EXPORT enum bk_drr_status bk_drr_parser_next(struct bk_drr_parser *p,
						struct bk_drr_rec *rec,
						struct bk_error *err);
BK_EXPORT const struct bk_drr_stats *bk_drr_parser_stats(
	const struct bk_drr_parser *p);
/* The BEGIN record of the current substream (or of the stream). */
BK_EXPORT const struct bk_drr *bk_drr_parser_begin(const struct bk_drr_parser *p);

/* ---- text form ---------------------------------------------------------- */

/*
 * Append a record's line(s) in the form of OpenZFS's `zstream dump -v`
 * (BEGIN: the indented field block and a blank line; its nvlist payload is
 * printed by bk_nvlist_dump()).
 */
BK_EXPORT enum bk_code bk_drr_dump_record(const struct bk_drr_rec *rec,
					  struct bk_buf *out,
					  struct bk_error *err);
/* Append zstream dump's SUMMARY block for the records seen so far. */
BK_EXPORT enum bk_code bk_drr_dump_summary(const struct bk_drr_stats *st,
					   struct bk_buf *out,
					   struct bk_error *err);

/* ---- receiver rules -------------------------------------------------- */

/*
 * Context a validator carries across the records of one substream.  Zero
 * it at the start of each substream (the parser does so itself).
 */
struct bk_drr_vstate {
	bool dedup; /* set by the caller; kept across BEGINs (parser opts) */
	uint64_t features;
	uint32_t begin_flags;
	bool raw;
	bool have_write;
	uint64_t last_write_object;
	uint64_t last_write_offset;
};

/*
 * Check one record against the rules of OpenZFS's receiver
 * (docs/stream-format.md, "What zbak holds a stream to").  Rules that need
 * the target dataset (fromguid, existence) are the receiver's business, not
 * checked here.  Returns BK_ERR_RULE with a message naming the field and
 * the value.
 */
BK_EXPORT enum bk_code bk_drr_validate(struct bk_drr_vstate *vs,
				       const struct bk_drr *r,
				       struct bk_error *err);

/* ---- writer ------------------------------------------------------------ */

/*
 * Encodes records into a byte stream, computing trailers and END checksums.
 * Output goes to a callback so callers can write to a buffer, a pipe or a
 * file descriptor.
 */
typedef enum bk_code (*bk_drr_sink_fn)(void *ctx, const void *buf, size_t len,
				       struct bk_error *err);

struct bk_drr_writer {
	bk_drr_sink_fn sink;
	void *ctx;
	bool byteswap; /* write the other byte order */
	bool legacy;   /* 2008 format: no trailers */
	bool in_compound_header; /* after a hdrtype-2 BEGIN, before its END */
	struct bk_fletcher4 ck;
	uint64_t bytes;   /* written so far */
	uint64_t records; /* written so far */
};

BK_EXPORT void bk_drr_writer_init(struct bk_drr_writer *w, bk_drr_sink_fn sink,
				  void *ctx, bool byteswap, bool legacy);
/*
 * Write one record.  BEGIN restarts the checksum; END's checksum field is
 * set from the running value (r->u.end.checksum is ignored unless
 * `final_end` below); every non-BEGIN trailer is computed (zero if legacy).
 * The payload length must match what the header implies.
 */
BK_EXPORT enum bk_code bk_drr_write(struct bk_drr_writer *w, const struct bk_drr *r,
				    const void *payload, size_t payload_len,
				    struct bk_error *err);
/* The all-zero END that closes a compound package. */
BK_EXPORT enum bk_code bk_drr_write_final_end(struct bk_drr_writer *w,
					      struct bk_error *err);
/* A sink that appends to a struct bk_buf (ctx). */
BK_EXPORT enum bk_code bk_drr_sink_buf(void *ctx, const void *buf, size_t len,
				       struct bk_error *err);
/* A sink that writes everything to a file descriptor (ctx: int *),
 * across short writes and EINTR. */
BK_EXPORT enum bk_code bk_drr_sink_fd(void *ctx, const void *buf, size_t len,
				      struct bk_error *err);

/* A file descriptor behind a buffer: record headers and small payloads
 * are gathered, large payloads go straight out.  Zero it, set fd, use
 * bk_drr_sink_fdbuf as the sink (ctx: the struct), end with
 * bk_drr_fdbuf_flush (which also frees the buffer, on error too). */
struct bk_drr_fdbuf {
	int fd;
	size_t len;
	uint8_t *buf;
};
BK_EXPORT enum bk_code bk_drr_sink_fdbuf(void *ctx, const void *buf,
					 size_t len, struct bk_error *err);
BK_EXPORT enum bk_code bk_drr_fdbuf_flush(struct bk_drr_fdbuf *o,
					  struct bk_error *err);

#endif
