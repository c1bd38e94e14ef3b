/* SPDX-License-Identifier: MIT */
/*
 * Keys, sealing and ids (libsodium).
 *
 *   passphrase --argon2id(salt, opslimit, memlimit)--> KEK (key-encryption key)
 *   KEK unwraps the master keys: enc (objects), id (chunk ids), chunker
 *   (cut decisions).  Changing the passphrase rewraps them; data stays.
 *
 * Every stored object is sealed under the enc key with associated data
 * binding the repository id, the object's kind and its name, so an object
 * moved to another name or kind, or into another repository, fails to open.
 * Chunk ids are a keyed PRF of the plaintext under the id key, so the
 * storage provider cannot confirm known content.  Which primitives, is the
 * repository's format (docs/repository.md), set with bk_keys_set_format():
 *
 *   format 1: ids keyed BLAKE2b-256; seal XChaCha20-Poly1305, random
 *             192-bit nonce.
 *   format 2: ids HMAC-SHA-256 (OpenSSL; SHA extensions); seal either
 *             AES-256-GCM (OpenSSL) under a per-object subkey derived from
 *             a random 256-bit salt, chosen where the CPU has AES
 *             instructions, or XChaCha20-Poly1305 as in format 1.
 *
 * Keys live in sodium_malloc'ed memory and are wiped when freed.
 */
#ifndef BACKUP_CRYPTO_H
#define BACKUP_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include "backup/buf.h"
#include "backup/error.h"
#include "backup/export.h"

#define BK_ID_LEN 32
#define BK_REPO_ID_LEN 16
/* The most a seal adds, of any format: buffers sized with it fit every
 * sealed object; bk_seal_overhead() is the exact figure for a key set.
 *   XChaCha20-Poly1305: nonce (24) || ciphertext || tag (16)
 *   AES-256-GCM (format 2): salt (32) || ciphertext || tag (16) */
#define BK_SEAL_OVERHEAD (32 + 16)

/* The repository formats this zbak reads and writes. */
#define BK_FORMAT_MIN 1
#define BK_FORMAT_MAX 2

/* The AEAD that seals a repository's objects.  Stable numbers. */
enum bk_seal_alg {
	BK_SEAL_XCHACHA20POLY1305 = 1,
	BK_SEAL_AES256GCM = 2,
};

struct bk_id {
	uint8_t b[BK_ID_LEN];
};

/* 64 lower-case hex digits + NUL. */
BK_EXPORT void bk_id_hex(const struct bk_id *id, char out[2 * BK_ID_LEN + 1]);
/* BK_ERR_FORMAT unless exactly 64 hex digits. */
BK_EXPORT enum bk_code bk_id_parse(const char *hex, struct bk_id *id,
				   struct bk_error *err);

/* What an object is; bound into its seal.  Stable numbers. */
enum bk_obj_kind {
	BK_OBJ_CHUNK = 1,
	BK_OBJ_PACK_HEADER = 2,
	BK_OBJ_INDEX = 3,
	BK_OBJ_RECIPE = 4,
	BK_OBJ_MANIFEST = 5,
	BK_OBJ_KEYS = 6,
	BK_OBJ_CONFIG = 7,
	BK_OBJ_LOCK = 8,
	BK_OBJ_GC = 9,
	BK_OBJ_FORGOTTEN = 10,
};

struct bk_kdf_params {
	uint64_t opslimit; /* argon2id passes */
	uint64_t memlimit; /* bytes */
	/* the key file's generation (bytes 10-11, authenticated): 0 when a
	 * repository is made, one more at each passphrase change, so that a
	 * client can tell an older key file put back (0..65535) */
	unsigned generation;
};

/* Defaults: argon2id, 5 passes over 48 MiB, generation 0.  The test build
 * may lower the costs with ZBAK_KDF_INSECURE_FAST=1 (1 pass, 8 MiB); the
 * chosen costs are recorded with the wrapped keys. */
BK_EXPORT void bk_kdf_default(struct bk_kdf_params *p);

struct bk_keys; /* opaque */

/* sodium_init(); safe to call more than once, from any thread. */
BK_EXPORT enum bk_code bk_crypto_init(struct bk_error *err);

/* Fresh random master keys; free with bk_keys_free(). */
BK_EXPORT enum bk_code bk_keys_generate(struct bk_keys **out,
					struct bk_error *err);
/* Wipes and frees; NULL is fine. */
BK_EXPORT void bk_keys_free(struct bk_keys *k);

/*
 * Wrap the master keys under a passphrase: a self-describing blob (format
 * version, KDF name and costs, salt, nonce, sealed keys) appended to out.
 * repo_id is bound as associated data.
 */
BK_EXPORT enum bk_code bk_keys_wrap(const struct bk_keys *k, const char *pass,
				    size_t passlen,
				    const struct bk_kdf_params *params,
				    const uint8_t repo_id[BK_REPO_ID_LEN],
				    struct bk_buf *out, struct bk_error *err);
/*
 * Unwrap.  A wrong passphrase (or a key blob of another repository, or an
 * altered one) gives BK_ERR_AUTH; a malformed blob BK_ERR_FORMAT.  The KDF
 * costs come from the blob, bounded (memlimit <= 4 GiB, opslimit <= 64).
 * params (may be NULL) receives the costs found.
 */
BK_EXPORT enum bk_code bk_keys_unwrap(const void *blob, size_t len,
				      const char *pass, size_t passlen,
				      const uint8_t repo_id[BK_REPO_ID_LEN],
				      struct bk_keys **out,
				      struct bk_kdf_params *params,
				      struct bk_error *err);

/*
 * Which primitives k uses (default: format 1, XChaCha20-Poly1305).
 * BK_ERR_UNSUPPORTED for a format this zbak does not know, or a seal the
 * format does not have (format 1 has only XChaCha20-Poly1305).
 */
BK_EXPORT enum bk_code bk_keys_set_format(struct bk_keys *k, unsigned format,
					  enum bk_seal_alg seal,
					  struct bk_error *err);
BK_EXPORT unsigned bk_keys_format(const struct bk_keys *k);
BK_EXPORT enum bk_seal_alg bk_keys_seal_alg(const struct bk_keys *k);
/* Bytes a seal under k adds to the plaintext (<= BK_SEAL_OVERHEAD). */
BK_EXPORT size_t bk_seal_overhead(const struct bk_keys *k);

/* The seal for a new repository on this machine: AES-256-GCM when the CPU
 * has AES and carry-less multiply instructions, else XChaCha20-Poly1305
 * (faster than AES in software, and constant time).  Any machine opens
 * either: OpenSSL has AES in software too. */
BK_EXPORT enum bk_seal_alg bk_seal_preferred(void);
/* "aes-256-gcm", "xchacha20-poly1305"; NULL for an unknown number. */
BK_EXPORT const char *bk_seal_name(enum bk_seal_alg a);
/* The number for a name; 0 when unknown. */
BK_EXPORT enum bk_seal_alg bk_seal_parse(const char *name);

/* The chunk id of data under the id key: keyed BLAKE2b-256 (format 1) or
 * HMAC-SHA-256 (format 2). */
BK_EXPORT void bk_chunk_id(const struct bk_keys *k, const void *data,
			   size_t len, struct bk_id *out);
/*
 * Keyed 64-bit hash for the chunker's cut decisions (SipHash under the
 * chunker key).  Cheap: callers pass a sample of the payload.
 */
BK_EXPORT uint64_t bk_cut_hash(const struct bk_keys *k, const void *data,
			       size_t len);

/*
 * Seal plaintext (len bytes) as object `name` of `kind`; appends
 * BK_SEAL_OVERHEAD + len bytes to out.  Thread-safe for a shared k.
 */
BK_EXPORT enum bk_code bk_seal(const struct bk_keys *k, enum bk_obj_kind kind,
			       const char *name, const void *pt, size_t len,
			       struct bk_buf *out, struct bk_error *err);
/*
 * Open a sealed object; appends the plaintext to out.  BK_ERR_AUTH (message
 * naming `name`) when it was altered, sealed under another key, kind, name
 * or repository; BK_ERR_FORMAT when shorter than the overhead.
 */
BK_EXPORT enum bk_code bk_open(const struct bk_keys *k, enum bk_obj_kind kind,
			       const char *name, const void *sealed, size_t len,
			       struct bk_buf *out, struct bk_error *err);

/* The repository id the keys were unwrapped (or generated) for. */
BK_EXPORT void bk_keys_set_repo_id(struct bk_keys *k,
				   const uint8_t repo_id[BK_REPO_ID_LEN]);

/* Whole-stream hash (unkeyed BLAKE2b-256), incremental. */
struct bk_hash {
	uint8_t state[384] __attribute__((aligned(64)));
};
BK_EXPORT void bk_hash_init(struct bk_hash *h);
BK_EXPORT void bk_hash_update(struct bk_hash *h, const void *data, size_t len);
BK_EXPORT void bk_hash_final(struct bk_hash *h, struct bk_id *out);

/* Fill buf with random bytes. */
BK_EXPORT void bk_random(void *buf, size_t len);

#endif
