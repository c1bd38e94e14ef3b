/* SPDX-License-Identifier: MIT */
/* Internals of the local pool (docs/lpool.md). */
#ifndef LPOOL_IMPL_H
#define LPOOL_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backup/buf.h"
#include "backup/crypto.h"
#include "backup/drr.h"
#include "backup/lpool.h"
#include "backup/lpool_zpl.h"

#define LP_NAME_MAX (2 * BK_LPOOL_NAME_MAX + 2)
#define LP_MAX_BONUS (64u << 10)      /* any dnode's bonus fits */
#define LP_STATE_MAX (UINT64_C(1) << 34) /* a state file we agree to load */
#define LP_LOCK_WAIT 60               /* seconds before BK_ERR_BUSY */

/* Features a dataset keeps (the others describe the stream, not data). */
/* Features a dataset keeps (the others describe the stream, not data). */
#define LP_DATA_FEATURES                                                     \
	(BK_FEAT_SA_SPILL | BK_FEAT_EMBED_DATA | BK_FEAT_LZ4 |            \
	 BK_FEAT_LARGE_BLOCKS | BK_FEAT_REDACTED | BK_FEAT_COMPRESSED |   \
	 BK_FEAT_LARGE_DNODE | BK_FEAT_RAW | BK_FEAT_ZSTD |               \
	 BK_FEAT_LONGNAME | BK_FEAT_LARGE_MICROZAP)

/* Kinds of entries in an object's block list. */
enum lp_kind {
	LP_DATA = 1,     /* WRITE payload, kept as it came */
	LP_EMBEDDED = 2, /* WRITE_EMBEDDED payload */
	LP_REDACT = 3,   /* REDACT range: data that was not sent */
};

struct lp_block {
	uint64_t offset;
	uint64_t birth;
	uint64_t lsize;  /* logical_size / embedded length / redact length */
	uint64_t psize;  /* compressed_size (0: not compressed) / embedded psize */
	struct bk_cksum key_cksum;
	uint64_t key_prop;
	uint32_t type;   /* WRITE's drr_type; embedded: lsize field */
	uint8_t kind;
	uint8_t checksumtype, flags, compression, etype;
	uint8_t salt[8], iv[12], mac[16];
	uint8_t hash[BK_ID_LEN]; /* content of the payload (LP_DATA/EMBEDDED) */
	uint32_t paylen;         /* payload bytes */
};

struct lp_spill {
	uint64_t birth;
	uint64_t length, compressed_size;
	uint32_t type;
	uint8_t flags, compression;
	uint8_t salt[8], iv[12], mac[16];
	uint8_t hash[BK_ID_LEN];
	uint32_t paylen;
};

struct lp_object {
	uint64_t object, birth, maxblkid;
	uint32_t type, bonustype, blksz, bonuslen, raw_bonuslen;
	uint8_t checksumtype, compress, dn_slots, flags;
	uint8_t indblkshift, nlevels, nblkptr;
	bool has_spill;
	uint8_t *bonus; /* bonus_paylen bytes (the record's payload) */
	uint32_t bonus_paylen;
	struct lp_spill spill;
	struct lp_block *blocks; /* sorted by offset */
	size_t nblocks, cap;
};

struct lp_range { /* OBJECT_RANGE of a raw stream */
	uint64_t firstobj, numslots, birth;
	uint8_t flags, salt[8], iv[12], mac[16];
};

struct lp_state {
	bool order_set;  /* a stream set the byte order of the payloads */
	bool bigendian;  /* payloads and bonus buffers are big-endian */
	uint32_t objset_type;
	uint32_t begin_flags; /* CI_DATA kept */
	uint64_t features;    /* data features (no DEDUP, RESUMING...) */
	uint8_t *nvl;         /* BEGIN payload to send again (may be NULL) */
	uint32_t nvl_len;
	struct lp_object *objs; /* sorted by object number */
	size_t nobjs, cap;
	struct lp_range *ranges; /* sorted by firstobj */
	size_t nranges, rcap;
};

/* ---- state.c ---- */
void lp_state_init(struct lp_state *s);
void lp_state_free(struct lp_state *s);
enum bk_code lp_state_copy(struct lp_state *dst, const struct lp_state *src,
			   struct bk_error *err);
/* Index of object `obj`, or -1; *ins: where it would go. */
long lp_state_find(const struct lp_state *s, uint64_t obj, size_t *ins);
enum bk_code lp_state_insert(struct lp_state *s, size_t at, uint64_t obj,
			     struct lp_object **out, struct bk_error *err);
void lp_object_clear(struct lp_object *o); /* frees blocks, bonus */
void lp_state_remove(struct lp_state *s, size_t at);
long lp_object_find_block(const struct lp_object *o, uint64_t off,
			  size_t *ins);
enum bk_code lp_object_put_block(struct lp_object *o, const struct lp_block *b,
				 struct bk_error *err);
void lp_object_remove_blocks(struct lp_object *o, size_t from, size_t to);
enum bk_code lp_state_put_range(struct lp_state *s, const struct lp_range *r,
				struct bk_error *err);
/* Serialize (the file's bytes); the hash of the bytes names the file. */
enum bk_code lp_state_encode(const struct lp_state *s, struct bk_buf *out,
			     struct bk_error *err);
enum bk_code lp_state_decode(const uint8_t *p, size_t len, struct lp_state *s,
			     struct bk_error *err);
/* Logical bytes (referenced) and object count. */
void lp_state_usage(const struct lp_state *s, uint64_t *refer,
		    uint64_t *objects);
bool lp_host_bigendian(void);

/* ---- apply.c: the receive rules of one record ---- */
struct lp_apply {
	struct lp_state *st; /* the working state the records change */
	uint64_t txg;        /* the birth of what they write */
	bool raw;            /* a raw (-w) stream */
	uint32_t begin_flags;
	bool maybe_garbage; /* set when something kept went away */
	/* Keep the payload of rec (WRITE, WRITE_EMBEDDED, SPILL): its name
	 * (the hash of a block file, or a map's reference) into ref. */
	enum bk_code (*keep)(void *ctx, const struct bk_drr_rec *rec,
			     uint8_t ref[BK_ID_LEN], struct bk_error *err);
	/* Zero bytes [lo, hi) of plain (uncompressed, whole) block b: a FREE
	 * of part of it; b->hash may change. */
	enum bk_code (*zero)(void *ctx, struct lp_block *b, uint64_t lo,
			     uint64_t hi, struct bk_error *err);
	/* The state of the snapshot a WRITE_BYREF's refguid names, when it
	 * is not this substream's (toguid): NULL refuses such references. */
	enum bk_code (*ref_state)(void *ctx, const struct bk_drr_rec *rec,
				  uint64_t guid, const struct lp_state **st,
				  struct bk_error *err);
	uint64_t toguid; /* this substream's snapshot */
	void *ctx;
};

/* Apply one record that is not BEGIN or END to a->st. */
enum bk_code lp_apply(struct lp_apply *a, const struct bk_drr_rec *rec,
		      struct bk_error *err);
/* err = "record N (TYPE) at byte B: <fmt>" */
enum bk_code lp_at_rec(struct bk_error *err, const struct bk_drr_rec *rec,
		       enum bk_code code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* ---- map.c: for the map's object source ---- */
struct bk_lpool_map;
/* Move the map's state and inline bytes out; the map is freed. */
void lp_map_take(struct bk_lpool_map *m, struct lp_state *st, uint8_t **inl,
		 uint64_t *ninl);
/* The payload that a map's reference names into out (zero range applied). */
enum bk_code lp_map_payload(const uint8_t *ref, uint32_t paylen,
			    const uint8_t *inl, bk_lpool_map_load_fn load,
			    void *ctx, struct bk_buf *out, struct bk_error *err);

/* ---- meta.c: the pool's one metadata file ---- */
struct lp_snap {
	char name[BK_LPOOL_NAME_MAX + 1]; /* after '@' */
	uint64_t guid, createtxg, creation, refer, objects;
	struct bk_id state;
	/* user holds: tags separated by single spaces, "" for none
	 * (bk_lpool_hold); a held snapshot cannot be destroyed */
	char holds[BK_LPOOL_HOLDS_MAX + 1];
};

struct lp_ds {
	char name[BK_LPOOL_NAME_MAX + 1];
	uint64_t createtxg, creation, refer, objects;
	struct bk_id state; /* live state */
	char origin[LP_NAME_MAX]; /* ds@snap or "" */
	struct lp_snap *snaps;    /* by createtxg */
	size_t nsnaps;
};

struct lp_meta {
	uint64_t txg;
	struct lp_ds *ds; /* sorted by name */
	size_t nds;
};

void lp_meta_free(struct lp_meta *m);
enum bk_code lp_meta_copy(struct lp_meta *dst, const struct lp_meta *src,
			  struct bk_error *err);
enum bk_code lp_meta_encode(const struct lp_meta *m, struct bk_buf *out,
			    struct bk_error *err);
enum bk_code lp_meta_decode(const char *p, size_t len, struct lp_meta *m,
			    struct bk_error *err);
struct lp_ds *lp_meta_ds(const struct lp_meta *m, const char *name);
enum bk_code lp_meta_add_ds(struct lp_meta *m, const char *name,
			    struct lp_ds **out, struct bk_error *err);
void lp_meta_remove_ds(struct lp_meta *m, struct lp_ds *d);
struct lp_snap *lp_ds_snap(const struct lp_ds *d, const char *snap);
/* Check and find snapshot "pool/fs@snap": its dataset and itself
 * (BK_ERR_NOTFOUND naming the missing dataset or snapshot). */
enum bk_code lp_meta_snap(const struct lp_meta *m, const char *name,
			  struct lp_ds **d, struct lp_snap **s,
			  struct bk_error *err);
struct lp_snap *lp_ds_snap_guid(const struct lp_ds *d, uint64_t guid);
enum bk_code lp_ds_add_snap(struct lp_ds *d, const struct lp_snap *s,
			    struct bk_error *err);
void lp_ds_remove_snap(struct lp_ds *d, size_t i);
/* A hold tag: letters, digits and _ - . :, 1 to BK_LPOOL_TAG_MAX bytes. */
enum bk_code lp_check_tag(const char *tag, struct bk_error *err);
/* Is tag in the space-separated list? */
bool lp_holds_has(const char *holds, const char *tag);
/* Append tag; false when it does not fit. */
bool lp_holds_add(char holds[BK_LPOOL_HOLDS_MAX + 1], const char *tag);
/* "pool/fs", "pool/fs@snap": name rules of ZFS (components of
 * [A-Za-z0-9_.:-], at most 255 bytes); BK_ERR_USAGE naming the problem. */
enum bk_code lp_check_name(const char *name, bool snapshot,
			   struct bk_error *err);

/* ---- lpool.c ---- */
struct bk_lpool {
	char *dir;
	int dirfd;
	int lockfd;
	int locked; /* 0, LOCK_SH, LOCK_EX */
	int gcfd;   /* DIR/gc.lock: shared while a send reads blocks */
};

enum bk_code lp_lock(struct bk_lpool *p, int how, struct bk_error *err);
void lp_unlock(struct bk_lpool *p);
enum bk_code lp_meta_load(struct bk_lpool *p, struct lp_meta *m,
			  struct bk_error *err);
/* Make every file written so far durable, then replace the metadata. */
enum bk_code lp_meta_commit(struct bk_lpool *p, const struct lp_meta *m,
			    struct bk_error *err);
enum bk_code lp_state_load(struct bk_lpool *p, const struct bk_id *id,
			   struct lp_state *s, struct bk_error *err);
/* Write the state's file (if new); its name into *id. */
enum bk_code lp_state_store(struct bk_lpool *p, const struct lp_state *s,
			    struct bk_id *id, struct bk_error *err);
/* Store payload bytes as a block file (if new): *created says so. */
enum bk_code lp_block_store(struct bk_lpool *p, const void *data, size_t len,
			    uint8_t hash[BK_ID_LEN], bool *created,
			    struct bk_error *err);
/* Read a block file into out (replacing its contents), checked against
 * its hash and the expected length. */
enum bk_code lp_block_load(struct bk_lpool *p, const uint8_t hash[BK_ID_LEN],
			   size_t len, struct bk_buf *out,
			   struct bk_error *err);
/* Mark the pool as having files a commit may not reference (a crash then
 * makes the next change collect them); cleared by lp_gc. */
enum bk_code lp_dirty(struct bk_lpool *p, struct bk_error *err);
/* Remove state and block files the metadata does not reference, and
 * temporary files.  Lock held exclusively. */
enum bk_code lp_gc(struct bk_lpool *p, struct bk_error *err);
/* Keep blocks from being collected while reading them without the lock
 * (a send writing into a pipe that a receive into the same pool reads). */
enum bk_code lp_pin(struct bk_lpool *p, struct bk_error *err);
void lp_unpin(struct bk_lpool *p);
/* Split "pool/fs@snap"; ds gets "pool/fs", snap "snap" (or "" without @). */
enum bk_code lp_split(const char *name, char *ds, size_t dsn, char *snap,
		      size_t snapn, struct bk_error *err);

#endif
