/* SPDX-License-Identifier: MIT */
/*
 * What the pipeline (push, restore) needs of a repository, and nothing more:
 * the recipe format (one writer, one iterator), the manifest it fills or
 * checks against, and a table of operations on an opaque repository.  The
 * real repository provides one implementation (repo_pipe_real, in
 * repo_pipe.c); the unit tests provide an in-memory one.  A header of
 * libbackup's own: not installed.
 */
#ifndef BK_REPO_PIPE_H
#define BK_REPO_PIPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backup/buf.h"
#include "backup/chunk.h"
#include "backup/crypto.h"
#include "backup/drr.h"
#include "backup/error.h"
#include "backup/repo.h"

#define RECIPE_SEGMENT (4u << 20)

/* ---- manifests ---- */

struct manifest {
	char name[BK_REPO_NAME_MAX];
	char dataset[256];
	char snap[256];
	uint64_t toguid, fromguid, creation_time;
	uint64_t stream_bytes, records;
	uint64_t count[BK_DRR_NUMTYPES];
	uint32_t substreams;
	bool compound;
	uint8_t package; /* MANIFEST_PACKAGE_*: what a package needs */
	struct bk_cksum end_checksum;
	struct bk_id digest;
	uint64_t chunks, new_bytes;
	uint64_t started, finished;
	struct bk_id *segments; /* recipe segment ids, in order */
	size_t nsegments;
	struct bk_id ident; /* manifest_load: the sealed object's hash */
};

/* A package's kind, from its header's nvlist (chain.c): full (no
 * "fromsnap") needs nothing; incremental (zfs send -R -i/-I) needs its
 * source; unknown (not a package, or an older zbak's manifest) counts as
 * incremental when it has a fromguid. */
#define MANIFEST_PACKAGE_UNKNOWN 0
#define MANIFEST_PACKAGE_FULL 1
#define MANIFEST_PACKAGE_INCREMENTAL 2
uint8_t repo_package_kind(const void *header_payload, size_t len);

void manifest_release(struct manifest *m); /* frees segments */

/* Split and check "pool/fs@snap"; BK_ERR_USAGE with a reason. */
enum bk_code repo_split_name(const char *name, char *dataset, size_t dn,
			     char *snap, size_t sn, struct bk_error *err);

/* ---- recipes ---- */

/*
 * A recipe is the stream with the payloads of WRITE and SPILL records
 * replaced by references to chunks.  Its plaintext is a run of entries:
 *   'C' [32-byte chunk id][u32 raw length]     a chunk, consumed by the
 *                                              chunked records after it
 *   'R' [u32 inline length][u32 chunked length][312-byte header]
 *       [inline payload]                       a record
 * (little-endian), cut into segments of at most RECIPE_SEGMENT bytes
 * between entries.  The writer and the iterator below are the only code
 * that knows this layout.
 */
#define RECIPE_REC 'R'
#define RECIPE_CHUNK 'C'
#define RECIPE_REC_HDR 9u /* 'R' u32 inline length, u32 chunked length */
#define RECIPE_CHUNK_LEN (1u + BK_ID_LEN + 4u)

/* Payload of this record kept in chunks (vs inline in the recipe)? */
static inline bool record_chunked(const struct bk_drr *h, uint64_t plen)
{
	return plen > 0 && (h->type == BK_DRR_WRITE || h->type == BK_DRR_SPILL);
}

/* Append one entry to b. */
enum bk_code recipe_put_chunk(struct bk_buf *b, const struct bk_id *id,
			      uint32_t rawlen, struct bk_error *err);
/* The record's header, and its payload unless chunked (then its length
 * only: the bytes are in the chunks before it). */
enum bk_code recipe_put_record(struct bk_buf *b, const struct bk_drr_rec *rec,
			       bool chunked, struct bk_error *err);

struct recipe_entry {
	char kind; /* RECIPE_CHUNK or RECIPE_REC */
	/* RECIPE_CHUNK */
	struct bk_id id;
	uint32_t rawlen;
	/* RECIPE_REC: the header (BK_DRR_HDR_LEN bytes) and inline_len bytes
	 * of payload after it; chunked_len bytes come from the chunks */
	const uint8_t *hdr, *payload;
	uint32_t inline_len, chunked_len;
};

struct recipe_iter {
	const uint8_t *p;
	size_t len;
	size_t pos;   /* of the next entry; of the damaged one after a stop */
	bool damaged; /* recipe_next stopped on an entry that does not fit */
};

void recipe_iter_init(struct recipe_iter *it, const uint8_t *p, size_t len);
/* The next entry into e: true; false at the end or on a damaged entry
 * (it->damaged, it->pos its offset), and on every call after that.  Only
 * the layout is checked: what the fields mean is for the caller. */
bool recipe_next(struct recipe_iter *it, struct recipe_entry *e);

/* ---- the repository, as the pipeline sees it ---- */

/* Where a chunk is stored. */
struct bk_loc {
	struct bk_id pack;
	uint64_t off;
	uint32_t len;
	uint32_t rawlen;
};

/* One chunk of a load_chunks request. */
struct repo_blob {
	struct bk_id id;
	uint64_t off; /* in the pack */
	uint32_t len; /* sealed */
	struct bk_buf *out;   /* the chunk, decoded into it (reset first) */
	enum bk_code rc;      /* set by load_chunks */
	struct bk_error *err; /* rc's message */
};

/*
 * The operations.  `repo` is the implementation's repository; `sess` the
 * state of one push or one restore it returned from push_open or
 * restore_open.  Ops marked (threads) are called from several worker
 * threads at once.
 */
struct repo_pipe_ops {
	/* ---- push ---- */
	/* Ready to store: the repository locked (shared) and trusted, its
	 * index loaded, a pack being filled. */
	enum bk_code (*push_open)(void *repo, void **sess,
				  struct bk_error *err);
	/* After the last save_chunk returned; committed: the manifest (or
	 * the one already there) stands. */
	void (*push_close)(void *sess, bool committed);
	/* The chunker keyed like the repository's chunks. */
	void (*chunker_init)(void *sess, struct bk_chunker *ck);
	/* (threads) Save a chunk: its id, claimed in the index, and, when
	 * new, compressed (in scratch), sealed and packed (a full pack is
	 * uploaded on the way); *reused when it was there already. */
	enum bk_code (*save_chunk)(void *sess, const uint8_t *data,
				   size_t len, struct bk_buf *scratch,
				   struct bk_id *id, bool *reused,
				   struct bk_error *err);
	/* An upload failed (its error in err)? */
	bool (*save_failed)(void *sess, struct bk_error *err);
	/* Bytes of packs uploaded so far. */
	uint64_t (*saved_bytes)(void *sess);
	/* The last pack out, every pack durable, then the index of the new
	 * chunks: what recipes may refer to.  *stored += what was added
	 * besides the packs. */
	enum bk_code (*save_finish)(void *sess, uint64_t *stored,
				    struct bk_error *err);
	/* Store one recipe segment (plaintext); its new id.  *stored +=. */
	enum bk_code (*put_recipe)(void *sess, const uint8_t *plain,
				   size_t len, struct bk_id *id,
				   uint64_t *stored, struct bk_error *err);
	/* The manifest of snapshot m->name, written unless one is there
	 * (BK_ERR_EXISTS).  *stored +=. */
	enum bk_code (*put_manifest)(void *sess, const struct manifest *m,
				     uint64_t *stored, struct bk_error *err);
	/* Snapshot name's manifest (manifest_release), BK_ERR_NOTFOUND. */
	enum bk_code (*get_manifest)(void *sess, const char *name,
				     struct manifest *m, struct bk_error *err);

	/* ---- restore ---- */
	/* Ready to read snapshot name: its manifest, checked (and trusted),
	 * into m; the index loaded. */
	enum bk_code (*restore_open)(void *repo, const char *name, void **sess,
				     struct manifest *m, struct bk_error *err);
	void (*restore_close)(void *sess); /* NULL is fine */
	/* How many reads the storage wants in flight. */
	unsigned (*concurrency)(void *sess);
	/* One recipe segment's plaintext into out (reset first). */
	enum bk_code (*get_recipe)(void *sess, const struct bk_id *id,
				   struct bk_buf *out, struct bk_error *err);
	/* Where chunk id is stored; false when nowhere. */
	bool (*locate)(void *sess, const struct bk_id *id, struct bk_loc *loc);
	/* (threads) Chunks of one pack, read with one ranged read of the
	 * union of their ranges (restic's LoadBlobsFromPack): each opened,
	 * decoded into its out and checked against its id; every b[i].rc
	 * set.  sealed and plain are the caller's scratch buffers. */
	void (*load_chunks)(void *sess, const struct bk_id *pack,
			    struct repo_blob *b, size_t n,
			    struct bk_buf *sealed, struct bk_buf *plain);
};

/* The real repository's (repo is a struct bk_repo *). */
extern const struct repo_pipe_ops repo_pipe_real;

/*
 * Cuts the recipe of a push into segments and stores them through
 * ops->put_recipe; digest over all entries.  Entries are appended whole
 * (one or several per call); segments are cut between calls.
 */
struct recipe_writer {
	const struct repo_pipe_ops *ops;
	void *sess;
	bool dry; /* compute the digest, store nothing */
	struct bk_buf seg;
	struct bk_hash digest;
	struct bk_id *ids;
	size_t nids, capids;
	uint64_t stored;
};

void recipe_writer_init(struct recipe_writer *w,
			const struct repo_pipe_ops *ops, void *sess);
enum bk_code recipe_append(struct recipe_writer *w, const void *p, size_t len,
			   struct bk_error *err);
enum bk_code recipe_finish(struct recipe_writer *w, struct bk_id *digest,
			   struct bk_error *err);
void recipe_writer_release(struct recipe_writer *w);

#endif
