/* SPDX-License-Identifier: MIT */
/* Repository internals, for libbackup/repo only: the pipeline sees the
 * repository through repo_pipe.h. */
#ifndef BK_REPO_IMPL_H
#define BK_REPO_IMPL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "backup/buf.h"
#include "backup/chunk.h"
#include "backup/crypto.h"
#include "backup/drr.h"
#include "backup/repo.h"
#include "backup/store.h"
#include "util/le.h"
#include "repo/repo_pipe.h"

#define PACK_TARGET (16u << 20)
#define MAX_MANIFEST (16u << 20)
#define MAX_INDEX_OBJECT (512u << 20)
#define MAX_SEGMENT_SEALED (RECIPE_SEGMENT + (RECIPE_SEGMENT / 255) + 4096)
#define PACK_TRAILER_LEN 12u
#define PACK_MAGIC "ZBKPACK1"
#define CHUNK_HDR 5u /* [u8 compression][u32 raw length] */
#define CHUNK_RAW 0
#define CHUNK_LZ4 1

struct bk_index;

struct bk_repo {
	struct bk_store *store;
	struct bk_keys *keys;
	uint8_t id[BK_REPO_ID_LEN];
	struct bk_repo_format format; /* from config: the primitives */
	char url[1024];
	pthread_mutex_t index_mu;
	struct bk_index *index; /* loaded on first use */
	struct bk_store *cache; /* local cache of a remote repository, or NULL */
	bool cache_new;         /* just created: nothing known yet */
	bk_report_fn warn;      /* problems worked around (bk_repo_set_warn) */
	void *warn_ctx;
	unsigned keys_generation; /* of the key file that opened */
	bool accept_changes;      /* trust.c: record, do not refuse */
	bool append_only;         /* config says so (docs: "Append-only") */
	bool admin;               /* bk_repo_admin: this run may delete */
	bool mode_dropped;        /* config lost append_only: kept (repo.c) */
	char config[512];         /* the config object as read */
	size_t trust_changes;     /* trust.c: changes seen (accepted) */
};

/* The append-only mode this machine remembers (repo.c): warn that config
 * dropped it; accept that it did (accept-changes). */
void repo_mode_warn(struct bk_repo *r);
void repo_mode_accept(struct bk_repo *r);

/* A problem worked around, for the user (through bk_repo_set_warn). */
void repo_warn(struct bk_repo *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Keys (and sizes) under a prefix of a store, collected in memory. */
struct keylist {
	char **key;
	uint64_t *size;
	size_t n, cap;
};

enum bk_code keylist_collect(struct bk_store *s, const char *prefix,
			     struct keylist *l, struct bk_error *err);
void keylist_free(struct keylist *l);
/* One more key (ctx: the struct keylist; a bk_store_list_fn). */
enum bk_code keylist_add(void *ctx, const char *key, uint64_t size,
			 struct bk_error *err);

/* ---- locks (lock.c) ---- */

struct repo_lock;
/* Take a shared or an exclusive lock, waiting up to $ZBAK_LOCK_WAIT
 * seconds (60) for conflicting holders; BK_ERR_BUSY naming the holder.
 * Locks of dead processes on this machine are removed on the way, and (by
 * an exclusive taker) locks this machine has seen unchanged for 30
 * minutes (lock.c). */
enum bk_code repo_lock_take(struct bk_repo *r, bool exclusive,
			    struct repo_lock **out, struct bk_error *err);
void repo_lock_release(struct repo_lock *l); /* NULL is fine */

/* ---- what this machine remembers (state.c) ---- */

/* The path of file `file` in this machine's state directory for r (made,
 * 0700, on demand); -1 when there is none (no HOME, not writable). */
int repo_state_path(const struct bk_repo *r, const char *file, char *out,
		    size_t n);
/* /etc/machine-id, printable, or "" when unknown. */
void repo_machine_id(char *out, size_t n);
/* The first line of a small file when it is printable ASCII, else "". */
void repo_first_line(const char *path, char *out, size_t n);
/* A state file written whole or not at all: create gives a stream on a
 * temporary beside it (0600; NULL when there is no state directory),
 * commit makes it durable and renames it into place. */
struct state_file {
	char path[1100], tmp[1200];
};
FILE *repo_state_create(const struct bk_repo *r, const char *file,
			struct state_file *sf);
void repo_state_commit(FILE *f, const struct state_file *sf);

/* ---- what the storage cannot take back (trust.c) ---- */

struct trust_snap {
	const char *key;    /* snapshots/... */
	struct bk_id ident; /* the BLAKE2b-256 of the sealed manifest */
	bool opened;        /* false: it did not open (ident unknown) */
	bool forgotten;     /* set: a forget record names it: not to be used */
};

/*
 * Every manifest of a listing against what this machine saw and the
 * forget records (and the key file's generation): forgotten ones marked
 * (and warned about), BK_ERR_AUTH naming the first change no zbak makes
 * (the others through repo_warn); this machine's memory updated
 * otherwise.  Order matters with pushes and forgets running meanwhile:
 * what this machine saw is read before the listing (repo_trust_begin; a
 * push records its manifest after writing it), the forget records after
 * it (inside; a forget writes its record before deleting).  Takes st.
 */
struct trust_state;
struct trust_state *repo_trust_begin(struct bk_repo *r);
void repo_trust_abandon(struct trust_state *st); /* not used after all */
enum bk_code repo_trust_listing(struct bk_repo *r, struct trust_state *st,
				struct trust_snap *v, size_t n,
				struct bk_error *err);
/* One manifest about to be used (restore by name): refused when
 * forgotten, or not the one this machine saw under that name. */
enum bk_code repo_trust_manifest(struct bk_repo *r, const char *key,
				 const struct bk_id *ident,
				 struct bk_error *err);
/* The key file's generation alone (push, which lists nothing). */
enum bk_code repo_trust_keys(struct bk_repo *r, struct bk_error *err);
/* This machine wrote a manifest / a new key file: it remembers it. */
void repo_trust_pushed(struct bk_repo *r, const char *key,
		       const struct bk_id *ident);
void repo_trust_keys_changed(struct bk_repo *r);
/* forget's record that a manifest goes on purpose (before it goes). */
enum bk_code repo_forget_record(struct bk_repo *r, const char *name,
				const struct bk_id *ident,
				struct bk_error *err);
/* Is there a forget record for that very manifest? */
enum bk_code repo_manifest_forgotten(struct bk_repo *r,
				     const struct bk_id *ident, bool *yes,
				     struct bk_error *err);
/* Is there a forget record for a snapshot of that name? */
enum bk_code repo_forgotten_name(struct bk_repo *r, const char *name,
				 bool *found, struct bk_error *err);

/* ---- the local cache (cache.c) ---- */

void repo_cache_open(struct bk_repo *r);
void repo_cache_close(struct bk_repo *r);
/* An index object: the cached copy when its size matches, else fetched
 * (and cached). */
enum bk_code repo_cache_get_index(struct bk_repo *r, const char *key,
				  uint64_t size, struct bk_buf *sealed,
				  struct bk_error *err);
void repo_cache_prune(struct bk_repo *r, char *const *keys, size_t n);
/* Must data/ be listed for packs a dead push left without an index? */
bool repo_cache_need_scan(struct bk_repo *r);
void repo_cache_scanned(struct bk_repo *r);
/* A marker for the duration of a push ("" when there is no cache). */
void repo_cache_mark(struct bk_repo *r, char *marker, size_t n);
void repo_cache_unmark(struct bk_repo *r, const char *marker);
void repo_cache_failed(struct bk_repo *r, const char *marker);

/* ---- names ---- */

/* "snapshots/<enc dataset>@<enc snap>" */
enum bk_code repo_manifest_key(const char *name, char *out, size_t n,
			       struct bk_error *err);
/* Inverse for listings: manifest key -> "pool/fs@snap". */
enum bk_code repo_name_from_key(const char *key, char *out, size_t n,
				struct bk_error *err);
void repo_pack_key(const struct bk_id *pack, char out[80]);

/* Seal plain and put it under key (put_new when excl); ident (may be
 * NULL): the BLAKE2b-256 of the sealed bytes. */
/* The same for objects soon replaced or removed (locks, gc/pending): never
 * under Object Lock retention. */
enum bk_code repo_put_sealed_transient(struct bk_repo *r,
				       enum bk_obj_kind kind, const char *key,
				       const void *plain, size_t len, bool excl,
				       struct bk_error *err);
enum bk_code repo_put_sealed(struct bk_repo *r, enum bk_obj_kind kind,
			     const char *key, const void *plain, size_t len,
			     bool excl, uint64_t *stored, struct bk_error *err);
enum bk_code repo_put_sealed_id(struct bk_repo *r, enum bk_obj_kind kind,
				const char *key, const void *plain, size_t len,
				bool excl, uint64_t *stored,
				struct bk_id *ident, struct bk_error *err);
/* Get key and open it into out (reset first); ident as above. */
enum bk_code repo_get_opened(struct bk_repo *r, enum bk_obj_kind kind,
			     const char *key, size_t max, struct bk_buf *out,
			     struct bk_error *err);
enum bk_code repo_get_opened_id(struct bk_repo *r, enum bk_obj_kind kind,
				const char *key, size_t max,
				struct bk_buf *out, struct bk_id *ident,
				struct bk_error *err);

/* ---- chunks and packs ---- */

/* [flag][rawlen][data], LZ4 when smaller. */
enum bk_code chunk_encode(const uint8_t *data, size_t len, struct bk_buf *out,
			  struct bk_error *err);
/* Decode into out (reset first), check the raw length and the id. */
enum bk_code chunk_decode(const struct bk_keys *k, const struct bk_id *id,
			  const uint8_t *plain, size_t len, struct bk_buf *out,
			  struct bk_error *err);

struct pack_entry {
	struct bk_id id;
	uint64_t off;
	uint32_t len;    /* sealed */
	uint32_t rawlen; /* chunk bytes */
};

/* Read and open a pack's header: entries (caller frees). */
enum bk_code pack_read_header(struct bk_repo *r, const struct bk_id *pack,
			      uint64_t size, struct pack_entry **entries,
			      size_t *n, struct bk_error *err);
/* Parse an opened pack header. */
enum bk_code pack_parse_header(const uint8_t *p, size_t len,
			       struct pack_entry **entries, size_t *n,
			       struct bk_error *err);

/*
 * Which packs are in the store, asked once each (bk_store_head) and
 * remembered for the life of the object; thread-safe.  *yes when the pack
 * is there with at least `need` bytes.  Errors of the store (not a missing
 * pack) are returned.
 */
struct packcheck;
enum bk_code packcheck_new(struct bk_repo *r, struct packcheck **out,
			   struct bk_error *err);
void packcheck_free(struct packcheck *pc); /* NULL is fine */
enum bk_code packcheck_has(struct packcheck *pc, const struct bk_id *pack,
			   uint64_t need, bool *yes, struct bk_error *err);

/* The pack being filled during a push (thread-safe). */
struct packer;
enum bk_code packer_new(struct bk_repo *r, struct packer **out,
			struct bk_error *err);
/* Seal the encoded chunk and add it; uploads a full pack on the way. */
enum bk_code packer_add(struct packer *pk, const struct bk_id *id,
			const uint8_t *encoded, size_t len, uint32_t rawlen,
			struct bk_error *err);
/* Upload what is left; totals. */
enum bk_code packer_finish(struct packer *pk, struct bk_error *err);
uint64_t packer_uploaded(const struct packer *pk);
/* An upload failed (its error in err). */
bool packer_failed(struct packer *pk, struct bk_error *err);
uint64_t packer_packs(const struct packer *pk);
void packer_free(struct packer *pk);

/* ---- index ---- */

#define IDX_PENDING 1u /* claimed by this push, not uploaded yet */
#define IDX_NEW 2u     /* stored by this push: goes into its index */
#define IDX_ORPHAN 4u  /* found in a pack no index covers */

enum bk_code index_new(struct bk_index **out, struct bk_error *err);
void index_free(struct bk_index *idx);
/*
 * Load every index object (from the local cache when use_cache and it has
 * them), then (scan_orphans) the packs no index covers.  An index object
 * that does not open is not fatal: a damaged cached copy is fetched again
 * from the repository (and the cache mended); a damaged object in the
 * repository is skipped, damaged(ctx, message) is called, and the packs
 * it may have covered are scanned as orphans (also on a remote store and
 * without scan_orphans: their chunks are found from the packs).
 */
enum bk_code index_load(struct bk_repo *r, struct bk_index *idx,
			bool scan_orphans, bool use_cache,
			bk_report_fn damaged, void *ctx,
			struct bk_error *err);
bool index_get(struct bk_index *idx, const struct bk_id *id,
	       struct bk_loc *loc);
/* Mark a chunk as being stored by the caller: BK_OK (the caller stores
 * it), BK_ERR_EXISTS (already known), BK_ERR_NOMEM. */
enum bk_code index_claim(struct bk_index *idx, const struct bk_id *id,
			 struct bk_error *err);
/*
 * The same for a push, which must never reference a chunk it has not seen
 * to exist: a chunk the index places in a pack that is not in the store
 * (pc says so) is claimed again, so that the caller stores it once more,
 * and the entry no longer points at the missing pack.  BK_OK (store it),
 * BK_ERR_EXISTS (in a pack that is there, or stored or being stored by
 * this process), or the store's error.
 */
enum bk_code index_claim_present(struct bk_index *idx, const struct bk_id *id,
				 struct packcheck *pc, struct bk_error *err);
void index_set(struct bk_index *idx, const struct bk_id *id,
	       const struct bk_loc *loc, unsigned flags);
/* Write the NEW and ORPHAN entries as one index object. */
enum bk_code index_write(struct bk_repo *r, struct bk_index *idx,
			 uint64_t *stored, struct bk_error *err);
size_t index_count(struct bk_index *idx);
size_t index_objects(struct bk_index *idx);
/* Whether an index object (as index_load found them) names the pack: false
 * for a pack only the orphan scan found, or none. */
bool index_pack_listed(struct bk_index *idx, const struct bk_id *pack);
typedef enum bk_code (*index_fn)(void *ctx, const struct bk_id *id,
				 const struct bk_loc *loc,
				 struct bk_error *err);
enum bk_code index_foreach(struct bk_index *idx, index_fn fn, void *ctx,
			   struct bk_error *err);
/* The repository's index, loaded once (with orphans). */
enum bk_code repo_index(struct bk_repo *r, struct bk_index **out,
			struct bk_error *err);

/* Open a sealed chunk blob (from `where`, at `off`, for messages), decode
 * it into out and check its id. */
enum bk_code chunk_open_blob(const struct bk_keys *k, const struct bk_id *id,
			     const char *where, uint64_t off,
			     const uint8_t *sealed, size_t len,
			     struct bk_buf *plain, struct bk_buf *out,
			     struct bk_error *err);

/* ---- manifests ---- */

enum bk_code manifest_encode(const struct manifest *m, struct bk_buf *out,
			     struct bk_error *err);
/* Parse; m->segments allocated (manifest_release frees). */
enum bk_code manifest_parse(const uint8_t *p, size_t len, struct manifest *m,
			    struct bk_error *err);
/* Get, open and parse snapshot `name`'s manifest. */
enum bk_code manifest_load(struct bk_repo *r, const char *key,
			   struct manifest *m, struct bk_error *err);

/* ---- recipes (the format: repo_pipe.h) ---- */

/* Walk a segment's plaintext: fn gets each chunk entry; record entries are
 * skipped.  BK_ERR_FORMAT ("<what>: damaged recipe entry at byte N") for
 * anything else. */
typedef enum bk_code (*recipe_chunk_fn)(void *ctx,
					const struct recipe_entry *e,
					struct bk_error *err);
enum bk_code recipe_scan(const uint8_t *p, size_t len, const char *what,
			 recipe_chunk_fn fn, void *ctx, struct bk_error *err);

/* Read one segment's plaintext (reset out first) and fold it into digest
 * (may be NULL). */
enum bk_code recipe_load_segment(struct bk_repo *r, const struct bk_id *seg,
				 struct bk_buf *out, struct bk_hash *digest,
				 struct bk_error *err);
/* Store one segment's plaintext under a new random id: LZ4-compressed
 * (packed: scratch), sealed.  *stored +=. */
enum bk_code recipe_store_segment(struct bk_repo *r, const uint8_t *plain,
				  size_t len, struct bk_buf *packed,
				  struct bk_id *id, uint64_t *stored,
				  struct bk_error *err);

#endif
