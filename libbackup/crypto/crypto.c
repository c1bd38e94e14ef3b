/* SPDX-License-Identifier: MIT */
/*
 * Keys, sealing and ids on libsodium.
 *
 * Wrapped-key blob, version 1 (all integers little-endian), 180 bytes:
 *
 *   off  len  field
 *     0    8  magic "ZBAKKEY1"
 *     8    1  KDF id: 1 = argon2id v1.3 (crypto_pwhash_ALG_ARGON2ID13)
 *     9    1  AEAD id: 1 = XChaCha20-Poly1305 (IETF)
 *    10    2  generation (u16): 0 at init, +1 at each passphrase change
 *    12    8  opslimit
 *    20    8  memlimit (bytes)
 *    28   16  salt
 *    44   24  nonce
 *    68  112  sealed master keys: enc (32) || id (32) || chunker (32), + tag (16)
 *
 * KEK = argon2id13(passphrase, salt, opslimit, memlimit), 32 bytes.  The
 * associated data of the key seal is bytes [0, 44) of the blob (magic, ids,
 * reserved, costs, salt) followed by the 16-byte repository id, so altering
 * any header byte, or presenting the blob to another repository, fails the
 * authentication even where the KDF would ignore the change.
 *
 * Object seal, format 1: nonce (24) || ciphertext || tag (16),
 * XChaCha20-Poly1305 under the enc key with associated data
 *
 *   "zbak-obj-v1" (11 bytes, no NUL) || repo id (16) || kind (1 byte)
 *   || name length (u32 LE) || name bytes
 *
 * Format 2 binds the format and the seal into the associated data:
 *
 *   "zbak-obj-v2" || seal alg (1 byte) || repo id || kind || name length
 *   || name
 *
 * so that a config object altered to name another format or cipher makes
 * every object fail to open.  Sealed with XChaCha20-Poly1305 the layout is
 * format 1's; with AES-256-GCM it is
 *
 *   salt (32, random) || ciphertext || tag (16)
 *
 * under key || nonce = BLAKE2b-352 keyed with the enc key over
 * "zbak-gcm-subkey" || salt (32 + 12 bytes): a fresh key for every object,
 * so GCM's 96-bit nonce is never a concern (docs/repository.md).
 *
 * Nothing here keeps mutable state: a bk_keys is written once (generate,
 * unwrap, set_repo_id) and only read afterwards, so sharing it between
 * threads is safe.
 */
#include <limits.h>
#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <sodium.h>

#include "backup/crypto.h"
#include "backup/util.h"
#include "util/hooks.h"
#include "util/le.h"

#define KEY_LEN 32

#define BLOB_MAGIC "ZBAKKEY1"
#define BLOB_MAGIC_LEN 8
#define BLOB_KDF_ARGON2ID13 1
#define BLOB_AEAD_XCHACHA20POLY1305 1
#define BLOB_OFF_KDF 8
#define BLOB_OFF_AEAD 9
#define BLOB_OFF_RESERVED 10
#define BLOB_OFF_OPS 12
#define BLOB_OFF_MEM 20
#define BLOB_OFF_SALT 28
#define BLOB_SALT_LEN 16
#define BLOB_OFF_NONCE 44
#define BLOB_NONCE_LEN 24
#define BLOB_OFF_SEALED 68
#define BLOB_PT_LEN (3 * KEY_LEN)
#define BLOB_TAG_LEN 16
#define BLOB_LEN (BLOB_OFF_SEALED + BLOB_PT_LEN + BLOB_TAG_LEN)
#define BLOB_HDR_LEN BLOB_OFF_NONCE /* the bytes bound as associated data */

#define KDF_OPS_MAX 64u
#define KDF_MEM_MAX (4ull << 30)
#define KDF_FAST_MEM (8u << 20)

#define OBJ_AD_PREFIX "zbak-obj-v1"
#define OBJ_AD_PREFIX2 "zbak-obj-v2"
#define OBJ_AD_PREFIX_LEN (sizeof(OBJ_AD_PREFIX) - 1)
/* the longest fixed part: format 2's, with its seal byte */
#define OBJ_AD_FIXED (OBJ_AD_PREFIX_LEN + 1 + BK_REPO_ID_LEN + 1 + 4)
#define OBJ_AD_STACK 320

#define XC_NONCE crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define XC_TAG crypto_aead_xchacha20poly1305_ietf_ABYTES
#define GCM_SALT 32
#define GCM_KEY 32
#define GCM_IV 12
#define GCM_TAG 16
#define GCM_LABEL "zbak-gcm-subkey"
#define GCM_LABEL_LEN (sizeof(GCM_LABEL) - 1)
/* GCM's limit per key and nonce is 2^39 - 256 bits; EVP takes an int per
 * call, so longer plaintexts go through in steps */
#define GCM_MAX_PT ((1ull << 36) - 32)
#define GCM_STEP (1u << 30)

_Static_assert(BK_SEAL_OVERHEAD >= XC_NONCE + XC_TAG &&
		       BK_SEAL_OVERHEAD >= GCM_SALT + GCM_TAG,
	       "BK_SEAL_OVERHEAD must cover every seal");
_Static_assert(GCM_KEY + GCM_IV <= crypto_generichash_BYTES_MAX,
	       "one BLAKE2b output gives the GCM subkey and nonce");
_Static_assert(BK_ID_LEN == crypto_auth_hmacsha256_BYTES,
	       "HMAC-SHA-256 ids are BK_ID_LEN bytes");
_Static_assert(KEY_LEN == crypto_auth_hmacsha256_KEYBYTES, "id key size");
_Static_assert(BLOB_NONCE_LEN == crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
	       "key blob nonce size");
_Static_assert(BLOB_TAG_LEN == crypto_aead_xchacha20poly1305_ietf_ABYTES,
	       "key blob tag size");
_Static_assert(KEY_LEN == crypto_aead_xchacha20poly1305_ietf_KEYBYTES,
	       "enc key size");
_Static_assert(BLOB_SALT_LEN == crypto_pwhash_argon2id_SALTBYTES,
	       "argon2id salt size");
_Static_assert(KEY_LEN >= crypto_generichash_KEYBYTES_MIN &&
		       KEY_LEN <= crypto_generichash_KEYBYTES_MAX,
	       "id key size");
_Static_assert(KEY_LEN >= crypto_shorthash_KEYBYTES, "chunker key size");
_Static_assert(crypto_shorthash_BYTES == 8, "shorthash output size");
_Static_assert(BK_ID_LEN >= crypto_generichash_BYTES_MIN &&
		       BK_ID_LEN <= crypto_generichash_BYTES_MAX,
	       "id size");
_Static_assert(sizeof(((struct bk_hash *)0)->state) >=
		       sizeof(crypto_generichash_state),
	       "struct bk_hash too small for crypto_generichash_state");
_Static_assert(alignof(struct bk_hash) >= alignof(crypto_generichash_state),
	       "struct bk_hash under-aligned for crypto_generichash_state");

struct bk_keys {
	uint8_t enc[KEY_LEN];
	uint8_t id[KEY_LEN];
	uint8_t chunker[KEY_LEN];
	uint8_t repo_id[BK_REPO_ID_LEN];
	uint8_t format; /* 1 or 2 (bk_keys_set_format) */
	uint8_t seal;   /* enum bk_seal_alg */
};

/* Scratch for secrets of one wrap/unwrap, in guarded, locked memory. */
struct kek_scratch {
	uint8_t kek[KEY_LEN];
	uint8_t pt[BLOB_PT_LEN];
};

enum bk_code bk_crypto_init(struct bk_error *err)
{
	/* sodium_init() takes its own lock: safe from any thread, any
	 * number of times (1 = already initialised). */
	if (sodium_init() < 0)
		return bk_error_set(err, BK_ERR_INTERNAL,
				    "libsodium could not be initialised");
	return BK_OK;
}

void bk_kdf_default(struct bk_kdf_params *p)
{
	p->generation = 0;
	if (bk_hook_kdf_fast()) { /* tests only: util/hooks.h */
		p->opslimit = crypto_pwhash_argon2id_OPSLIMIT_MIN;
		p->memlimit = KDF_FAST_MEM;
		return;
	}
	/* 5 passes over 48 MiB, about 0.1 s here.  libsodium's MODERATE
	 * (3 x 256 MiB) would make key derivation most of the peak memory of
	 * every command (a push needs about 60 MiB); RFC 9106's second
	 * recommendation is 3 passes over 64 MiB, and extra passes trade back
	 * some of the memory hardness given up. */
	p->opslimit = 5;
	p->memlimit = 48u << 20;
}

/* BK_OK when the costs are ones we accept (and libsodium does). */
static enum bk_code check_kdf(uint64_t ops, uint64_t mem, struct bk_error *err,
			      enum bk_code code)
{
	if (ops < crypto_pwhash_argon2id_OPSLIMIT_MIN || ops > KDF_OPS_MAX)
		return bk_error_set(err, code,
				    "key derivation opslimit %llu outside [%u, %u]",
				    (unsigned long long)ops,
				    (unsigned)crypto_pwhash_argon2id_OPSLIMIT_MIN,
				    KDF_OPS_MAX);
	if (mem < crypto_pwhash_argon2id_MEMLIMIT_MIN || mem > KDF_MEM_MAX ||
	    mem > SIZE_MAX || mem > crypto_pwhash_argon2id_MEMLIMIT_MAX)
		return bk_error_set(err, code,
				    "key derivation memlimit %llu bytes outside [%u, %llu]",
				    (unsigned long long)mem,
				    (unsigned)crypto_pwhash_argon2id_MEMLIMIT_MIN,
				    (unsigned long long)KDF_MEM_MAX);
	return BK_OK;
}

static struct bk_keys *keys_alloc(struct bk_error *err)
{
	struct bk_keys *k;

	if (bk_crypto_init(err))
		return NULL;
	k = sodium_malloc(sizeof(*k));
	if (!k) {
		bk_error_set(err, BK_ERR_NOMEM,
			     "cannot allocate secure memory for keys");
		return NULL;
	}
	sodium_memzero(k, sizeof(*k));
	k->format = 1;
	k->seal = BK_SEAL_XCHACHA20POLY1305;
	return k;
}

enum bk_code bk_keys_generate(struct bk_keys **out, struct bk_error *err)
{
	struct bk_keys *k = NULL;
	enum bk_code rc = BK_OK;

	*out = NULL;
	k = keys_alloc(err);
	if (!k) {
		rc = err ? err->code : BK_ERR_NOMEM;
		goto out;
	}
	randombytes_buf(k->enc, sizeof(k->enc));
	randombytes_buf(k->id, sizeof(k->id));
	randombytes_buf(k->chunker, sizeof(k->chunker));
	sodium_mprotect_readonly(k);
	*out = k;
	k = NULL;
out:
	bk_keys_free(k);
	return rc;
}

void bk_keys_free(struct bk_keys *k)
{
	if (!k)
		return;
	/* sodium_free wipes the region before unmapping it; make it
	 * writable first in case it was left read-only. */
	sodium_mprotect_readwrite(k);
	sodium_free(k);
}

void bk_keys_set_repo_id(struct bk_keys *k,
			 const uint8_t repo_id[BK_REPO_ID_LEN])
{
	sodium_mprotect_readwrite(k);
	memcpy(k->repo_id, repo_id, BK_REPO_ID_LEN);
	sodium_mprotect_readonly(k);
}

static enum bk_code derive_kek(struct kek_scratch *s, const char *pass,
			       size_t passlen, const uint8_t *salt,
			       uint64_t ops, uint64_t mem, struct bk_error *err)
{
	static const char empty[1] = "";

	if (passlen > crypto_pwhash_argon2id_PASSWD_MAX)
		return bk_error_set(err, BK_ERR_USAGE, "passphrase too long");
	if (crypto_pwhash(s->kek, sizeof(s->kek), pass ? pass : empty, passlen,
			  salt, (unsigned long long)ops, (size_t)mem,
			  crypto_pwhash_ALG_ARGON2ID13) != 0)
		return bk_error_set(err, BK_ERR_NOMEM,
				    "key derivation failed (argon2id with %llu bytes of memory)",
				    (unsigned long long)mem);
	return BK_OK;
}

static void blob_ad(const uint8_t *hdr, const uint8_t repo_id[BK_REPO_ID_LEN],
		    uint8_t ad[BLOB_HDR_LEN + BK_REPO_ID_LEN])
{
	memcpy(ad, hdr, BLOB_HDR_LEN);
	memcpy(ad + BLOB_HDR_LEN, repo_id, BK_REPO_ID_LEN);
}

enum bk_code bk_keys_wrap(const struct bk_keys *k, const char *pass,
			  size_t passlen, const struct bk_kdf_params *params,
			  const uint8_t repo_id[BK_REPO_ID_LEN],
			  struct bk_buf *out, struct bk_error *err)
{
	struct kek_scratch *s = NULL;
	struct bk_kdf_params def;
	uint8_t ad[BLOB_HDR_LEN + BK_REPO_ID_LEN];
	uint8_t *b;
	enum bk_code rc;

	if (!pass && passlen) {
		rc = bk_error_set(err, BK_ERR_USAGE, "passphrase missing");
		goto out;
	}
	if (!params) {
		bk_kdf_default(&def);
		params = &def;
	}
	rc = check_kdf(params->opslimit, params->memlimit, err, BK_ERR_USAGE);
	if (rc)
		goto out;
	rc = bk_crypto_init(err);
	if (rc)
		goto out;
	rc = bk_buf_reserve(out, BLOB_LEN, err);
	if (rc)
		goto out;
	s = sodium_malloc(sizeof(*s));
	if (!s) {
		rc = bk_error_set(err, BK_ERR_NOMEM,
				  "cannot allocate secure memory for keys");
		goto out;
	}
	b = out->data + out->len;
	memcpy(b, BLOB_MAGIC, BLOB_MAGIC_LEN);
	b[BLOB_OFF_KDF] = BLOB_KDF_ARGON2ID13;
	b[BLOB_OFF_AEAD] = BLOB_AEAD_XCHACHA20POLY1305;
	if (params->generation > 0xffff) {
		rc = bk_error_set(err, BK_ERR_USAGE,
				  "key file generation %u past 65535",
				  params->generation);
		goto out;
	}
	b[BLOB_OFF_RESERVED] = (uint8_t)params->generation;
	b[BLOB_OFF_RESERVED + 1] = (uint8_t)(params->generation >> 8);
	put_le64(b + BLOB_OFF_OPS, params->opslimit);
	put_le64(b + BLOB_OFF_MEM, params->memlimit);
	randombytes_buf(b + BLOB_OFF_SALT, BLOB_SALT_LEN);
	randombytes_buf(b + BLOB_OFF_NONCE, BLOB_NONCE_LEN);

	rc = derive_kek(s, pass, passlen, b + BLOB_OFF_SALT, params->opslimit,
			params->memlimit, err);
	if (rc)
		goto out;
	memcpy(s->pt, k->enc, KEY_LEN);
	memcpy(s->pt + KEY_LEN, k->id, KEY_LEN);
	memcpy(s->pt + 2 * KEY_LEN, k->chunker, KEY_LEN);
	blob_ad(b, repo_id, ad);
	crypto_aead_xchacha20poly1305_ietf_encrypt(
		b + BLOB_OFF_SEALED, NULL, s->pt, sizeof(s->pt), ad, sizeof(ad),
		NULL, b + BLOB_OFF_NONCE, s->kek);
	out->len += BLOB_LEN;
	out->data[out->len] = '\0';
out:
	if (s) {
		sodium_memzero(s, sizeof(*s));
		sodium_free(s);
	}
	return rc;
}

enum bk_code bk_keys_unwrap(const void *blob, size_t len, const char *pass,
			    size_t passlen,
			    const uint8_t repo_id[BK_REPO_ID_LEN],
			    struct bk_keys **out, struct bk_kdf_params *params,
			    struct bk_error *err)
{
	const uint8_t *b = blob;
	struct kek_scratch *s = NULL;
	struct bk_keys *k = NULL;
	uint8_t ad[BLOB_HDR_LEN + BK_REPO_ID_LEN];
	uint64_t ops, mem;
	enum bk_code rc;

	*out = NULL;
	if (!pass && passlen) {
		rc = bk_error_set(err, BK_ERR_USAGE, "passphrase missing");
		goto out;
	}
	if (!b || len < BLOB_MAGIC_LEN || memcmp(b, BLOB_MAGIC, BLOB_MAGIC_LEN)) {
		rc = bk_error_set(err, BK_ERR_FORMAT,
				  "key file: not a zbak key file (bad magic)");
		goto out;
	}
	if (len != BLOB_LEN) {
		rc = bk_error_set(err, BK_ERR_FORMAT,
				  "key file: %zu bytes, expected %d", len,
				  BLOB_LEN);
		goto out;
	}
	if (b[BLOB_OFF_KDF] != BLOB_KDF_ARGON2ID13) {
		rc = bk_error_set(err, BK_ERR_FORMAT,
				  "key file: unknown key derivation function %u",
				  b[BLOB_OFF_KDF]);
		goto out;
	}
	if (b[BLOB_OFF_AEAD] != BLOB_AEAD_XCHACHA20POLY1305) {
		rc = bk_error_set(err, BK_ERR_FORMAT,
				  "key file: unknown cipher %u",
				  b[BLOB_OFF_AEAD]);
		goto out;
	}
	ops = get_le64(b + BLOB_OFF_OPS);
	mem = get_le64(b + BLOB_OFF_MEM);
	/* before anything is allocated: a hostile blob must not make us
	 * spend unbounded memory or time */
	rc = check_kdf(ops, mem, err, BK_ERR_FORMAT);
	if (rc) {
		bk_error_prefix(err, "key file");
		goto out;
	}
	if (params) {
		params->opslimit = ops;
		params->memlimit = mem;
		params->generation = (unsigned)b[BLOB_OFF_RESERVED] |
				     (unsigned)b[BLOB_OFF_RESERVED + 1] << 8;
	}
	k = keys_alloc(err);
	if (!k) {
		rc = err ? err->code : BK_ERR_NOMEM;
		goto out;
	}
	s = sodium_malloc(sizeof(*s));
	if (!s) {
		rc = bk_error_set(err, BK_ERR_NOMEM,
				  "cannot allocate secure memory for keys");
		goto out;
	}
	rc = derive_kek(s, pass, passlen, b + BLOB_OFF_SALT, ops, mem, err);
	if (rc)
		goto out;
	blob_ad(b, repo_id, ad);
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(
		    s->pt, NULL, NULL, b + BLOB_OFF_SEALED,
		    BLOB_PT_LEN + BLOB_TAG_LEN, ad, sizeof(ad),
		    b + BLOB_OFF_NONCE, s->kek) != 0) {
		rc = bk_error_set(err, BK_ERR_AUTH,
				  "wrong passphrase (or a key file of another repository)");
		goto out;
	}
	memcpy(k->enc, s->pt, KEY_LEN);
	memcpy(k->id, s->pt + KEY_LEN, KEY_LEN);
	memcpy(k->chunker, s->pt + 2 * KEY_LEN, KEY_LEN);
	memcpy(k->repo_id, repo_id, BK_REPO_ID_LEN);
	sodium_mprotect_readonly(k);
	*out = k;
	k = NULL;
out:
	if (s) {
		sodium_memzero(s, sizeof(*s));
		sodium_free(s);
	}
	bk_keys_free(k);
	return rc;
}

/* ---- formats ---- */

enum bk_code bk_keys_set_format(struct bk_keys *k, unsigned format,
				enum bk_seal_alg seal, struct bk_error *err)
{
	if (format < BK_FORMAT_MIN || format > BK_FORMAT_MAX)
		return bk_error_set(err, BK_ERR_UNSUPPORTED,
				    "repository format version %u (this zbak "
				    "reads versions %d to %d)",
				    format, BK_FORMAT_MIN, BK_FORMAT_MAX);
	if (!bk_seal_name(seal) ||
	    (format == 1 && seal != BK_SEAL_XCHACHA20POLY1305))
		return bk_error_set(err, BK_ERR_UNSUPPORTED,
				    "repository format %u has no cipher %d",
				    format, (int)seal);
	sodium_mprotect_readwrite(k);
	k->format = (uint8_t)format;
	k->seal = (uint8_t)seal;
	sodium_mprotect_readonly(k);
	return BK_OK;
}

unsigned bk_keys_format(const struct bk_keys *k)
{
	return k->format;
}

enum bk_seal_alg bk_keys_seal_alg(const struct bk_keys *k)
{
	return (enum bk_seal_alg)k->seal;
}

size_t bk_seal_overhead(const struct bk_keys *k)
{
	return k->seal == BK_SEAL_AES256GCM ? GCM_SALT + GCM_TAG
					    : XC_NONCE + XC_TAG;
}

enum bk_seal_alg bk_seal_preferred(void)
{
	/* libsodium's probe of the CPU (cpuid on x86, 0 elsewhere): AES-NI
	 * for the cipher, PCLMULQDQ for GHASH; OpenSSL uses both (and VAES
	 * where there is) on its own.  Without them OpenSSL's AES is a
	 * table-free bitsliced or table one, slower than ChaCha20. */
	if (sodium_init() >= 0 && sodium_runtime_has_aesni() &&
	    sodium_runtime_has_pclmul())
		return BK_SEAL_AES256GCM;
	return BK_SEAL_XCHACHA20POLY1305;
}

const char *bk_seal_name(enum bk_seal_alg a)
{
	switch (a) {
	case BK_SEAL_XCHACHA20POLY1305:
		return "xchacha20-poly1305";
	case BK_SEAL_AES256GCM:
		return "aes-256-gcm";
	}
	return NULL;
}

enum bk_seal_alg bk_seal_parse(const char *name)
{
	if (name && !strcmp(name, "xchacha20-poly1305"))
		return BK_SEAL_XCHACHA20POLY1305;
	if (name && !strcmp(name, "aes-256-gcm"))
		return BK_SEAL_AES256GCM;
	return (enum bk_seal_alg)0;
}

/* OpenSSL's AES-256-GCM, fetched once for the process: fetching it at each
 * seal would take a lock in the provider store per chunk. */
static pthread_once_t gcm_once = PTHREAD_ONCE_INIT;
static EVP_CIPHER *gcm_cipher;

static void gcm_fetch(void)
{
	gcm_cipher = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
}

static const EVP_CIPHER *gcm(void)
{
	pthread_once(&gcm_once, gcm_fetch);
	return gcm_cipher;
}

void bk_chunk_id(const struct bk_keys *k, const void *data, size_t len,
		 struct bk_id *out)
{
	unsigned olen = 0;

	if (k->format == 1) {
		crypto_generichash(out->b, sizeof(out->b), data, len, k->id,
				   sizeof(k->id));
		return;
	}
	/* OpenSSL's HMAC-SHA-256 uses the SHA extensions (2-3 times
	 * libsodium's); it can fail only to allocate, and then libsodium's,
	 * the same function, gives the same id */
	if (!HMAC(EVP_sha256(), k->id, (int)sizeof(k->id),
		  data ? data : (const void *)"", len, out->b, &olen) ||
	    olen != sizeof(out->b))
		crypto_auth_hmacsha256(out->b, data, len, k->id);
}

uint64_t bk_cut_hash(const struct bk_keys *k, const void *data, size_t len)
{
	uint8_t h[crypto_shorthash_BYTES];
	uint64_t v = 0;

	crypto_shorthash(h, data, len, k->chunker);
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | h[i];
	return v;
}

/*
 * Build the object associated data into stack (when it fits) or a heap
 * buffer; *adp points at the result, *heap is what to free.
 */
static enum bk_code obj_ad(const struct bk_keys *k, enum bk_obj_kind kind,
			   const char *name, uint8_t *stack, uint8_t **adp,
			   size_t *adlen, uint8_t **heap, struct bk_error *err)
{
	size_t nlen, total, fixed, o;
	uint8_t *ad;

	*heap = NULL;
	if (!name)
		return bk_error_set(err, BK_ERR_USAGE, "object name missing");
	if ((unsigned)kind > UINT8_MAX)
		return bk_error_set(err, BK_ERR_USAGE,
				    "object %s: invalid kind %d", name,
				    (int)kind);
	/* format 1's associated data stays as it was, byte for byte */
	fixed = k->format == 1 ? OBJ_AD_FIXED - 1 : OBJ_AD_FIXED;
	nlen = strlen(name);
	if (nlen > UINT32_MAX || nlen > SIZE_MAX - OBJ_AD_FIXED)
		return bk_error_set(err, BK_ERR_USAGE, "object name too long");
	total = fixed + nlen;
	if (total <= OBJ_AD_STACK) {
		ad = stack;
	} else {
		ad = malloc(total);
		if (!ad)
			return bk_error_set(err, BK_ERR_NOMEM,
					    "cannot allocate %zu bytes", total);
		*heap = ad;
	}
	memcpy(ad, k->format == 1 ? OBJ_AD_PREFIX : OBJ_AD_PREFIX2,
	       OBJ_AD_PREFIX_LEN);
	o = OBJ_AD_PREFIX_LEN;
	if (k->format != 1)
		ad[o++] = k->seal;
	memcpy(ad + o, k->repo_id, BK_REPO_ID_LEN);
	o += BK_REPO_ID_LEN;
	ad[o++] = (uint8_t)kind;
	for (int i = 0; i < 4; i++)
		ad[o++] = (uint8_t)((uint64_t)nlen >> (8 * i));
	memcpy(ad + o, name, nlen);
	*adp = ad;
	*adlen = total;
	return BK_OK;
}

/* The key and nonce of one AES-GCM object, from its salt. */
static void gcm_subkey(const struct bk_keys *k, const uint8_t *salt,
		       uint8_t sub[GCM_KEY + GCM_IV])
{
	uint8_t msg[GCM_LABEL_LEN + GCM_SALT];

	memcpy(msg, GCM_LABEL, GCM_LABEL_LEN);
	memcpy(msg + GCM_LABEL_LEN, salt, GCM_SALT);
	crypto_generichash(sub, GCM_KEY + GCM_IV, msg, sizeof(msg), k->enc,
			   sizeof(k->enc));
}

/*
 * AES-256-GCM over src (len bytes) into dst under the subkey of salt: the
 * tag goes to tag (sealing) or is checked against it (opening).  0 on
 * success; -1 when the tag did not match (or a step of OpenSSL failed
 * after the key was set); -2 when OpenSSL could not set up the cipher.
 */
static int gcm_run(const struct bk_keys *k, bool seal, const uint8_t *salt,
		   const uint8_t *ad, size_t adlen, const uint8_t *src,
		   size_t len, uint8_t *dst, uint8_t *tag)
{
	uint8_t sub[GCM_KEY + GCM_IV];
	const EVP_CIPHER *c = gcm();
	EVP_CIPHER_CTX *ctx = c ? EVP_CIPHER_CTX_new() : NULL;
	int ok = 0, n;
	size_t done = 0;

	gcm_subkey(k, salt, sub);
	if (!ctx || adlen > INT_MAX ||
	    !EVP_CipherInit_ex2(ctx, c, sub, sub + GCM_KEY, seal, NULL)) {
		ok = -2;
		goto out;
	}
	if (!EVP_CipherUpdate(ctx, NULL, &n, ad, (int)adlen))
		goto out;
	while (done < len) {
		size_t step = len - done < GCM_STEP ? len - done : GCM_STEP;

		if (!EVP_CipherUpdate(ctx, dst + done, &n, src + done,
				      (int)step) ||
		    (size_t)n != step)
			goto out;
		done += step;
	}
	if (!seal && !EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, GCM_TAG,
					  tag))
		goto out;
	if (EVP_CipherFinal_ex(ctx, dst + done, &n) != 1 || n != 0)
		goto out;
	ok = 1;
	if (seal && !EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, GCM_TAG,
					 tag))
		ok = 0;
out:
	/* the subkey on the stack, and OpenSSL's key schedule (freed with
	 * the context, which cleanses it) */
	OPENSSL_cleanse(sub, sizeof(sub));
	EVP_CIPHER_CTX_free(ctx);
	return ok == 1 ? 0 : ok == -2 ? -2 : -1;
}

enum bk_code bk_seal(const struct bk_keys *k, enum bk_obj_kind kind,
		     const char *name, const void *pt, size_t len,
		     struct bk_buf *out, struct bk_error *err)
{
	uint8_t stack[OBJ_AD_STACK];
	uint8_t *ad = NULL, *heap = NULL, *dst;
	size_t adlen = 0, over = bk_seal_overhead(k);
	bool aes = k->seal == BK_SEAL_AES256GCM;
	enum bk_code rc;

	rc = obj_ad(k, kind, name, stack, &ad, &adlen, &heap, err);
	if (rc)
		goto out;
	if (!pt && len) {
		rc = bk_error_set(err, BK_ERR_USAGE,
				  "object %s: no plaintext", name);
		goto out;
	}
	if (len > SIZE_MAX - BK_SEAL_OVERHEAD - 1 ||
	    len > crypto_aead_xchacha20poly1305_ietf_MESSAGEBYTES_MAX ||
	    (aes && len > GCM_MAX_PT)) {
		rc = bk_error_set(err, BK_ERR_LIMIT,
				  "object %s: too large to seal", name);
		goto out;
	}
	rc = bk_buf_reserve(out, over + len, err);
	if (rc) {
		bk_error_prefix(err, "object %s", name);
		goto out;
	}
	dst = out->data + out->len;
	if (aes) {
		randombytes_buf(dst, GCM_SALT);
		if (gcm_run(k, true, dst, ad, adlen, pt ? pt : (const void *)"",
			    len, dst + GCM_SALT, dst + GCM_SALT + len)) {
			rc = bk_error_set(err, BK_ERR_INTERNAL,
					  "object %s: AES-256-GCM failed "
					  "(OpenSSL)", name);
			goto out;
		}
	} else {
		randombytes_buf(dst, XC_NONCE);
		crypto_aead_xchacha20poly1305_ietf_encrypt(
			dst + XC_NONCE, NULL, pt ? pt : (const void *)"", len,
			ad, adlen, NULL, dst, k->enc);
	}
	out->len += over + len;
	out->data[out->len] = '\0';
out:
	free(heap);
	return rc;
}

enum bk_code bk_open(const struct bk_keys *k, enum bk_obj_kind kind,
		     const char *name, const void *sealed, size_t len,
		     struct bk_buf *out, struct bk_error *err)
{
	const uint8_t *src = sealed;
	uint8_t stack[OBJ_AD_STACK];
	uint8_t *ad = NULL, *heap = NULL, *dst;
	size_t adlen = 0, ptlen, over = bk_seal_overhead(k);
	uint8_t tag[GCM_TAG];
	enum bk_code rc;
	int bad;

	rc = obj_ad(k, kind, name, stack, &ad, &adlen, &heap, err);
	if (rc)
		goto out;
	if (!src || len < over) {
		rc = bk_error_set(err, BK_ERR_FORMAT,
				  "object %s: %zu bytes, shorter than a sealed object",
				  name, src ? len : 0);
		goto out;
	}
	ptlen = len - over;
	rc = bk_buf_reserve(out, ptlen, err);
	if (rc) {
		bk_error_prefix(err, "object %s", name);
		goto out;
	}
	dst = out->data + out->len;
	if (k->seal == BK_SEAL_AES256GCM) {
		memcpy(tag, src + len - GCM_TAG, GCM_TAG);
		bad = ptlen > GCM_MAX_PT
			      ? -1
			      : gcm_run(k, false, src, ad, adlen,
					src + GCM_SALT, ptlen, dst, tag);
	} else
		bad = crypto_aead_xchacha20poly1305_ietf_decrypt(
			dst, NULL, NULL, src + XC_NONCE, len - XC_NONCE, ad,
			adlen, src, k->enc);
	if (bad) {
		sodium_memzero(dst, ptlen);
		out->data[out->len] = '\0';
		if (bad == -2)
			rc = bk_error_set(err, BK_ERR_INTERNAL,
					  "object %s: AES-256-GCM unavailable "
					  "(OpenSSL)", name);
		else
			rc = bk_error_set(err, BK_ERR_AUTH,
					  "object %s: authentication failed (altered, or stored under another name or key)",
					  name);
		goto out;
	}
	out->len += ptlen;
	out->data[out->len] = '\0';
out:
	free(heap);
	return rc;
}

void bk_hash_init(struct bk_hash *h)
{
	crypto_generichash_init((crypto_generichash_state *)(void *)h->state,
				NULL, 0, BK_ID_LEN);
}

void bk_hash_update(struct bk_hash *h, const void *data, size_t len)
{
	crypto_generichash_update((crypto_generichash_state *)(void *)h->state,
				  data, len);
}

void bk_hash_final(struct bk_hash *h, struct bk_id *out)
{
	crypto_generichash_final((crypto_generichash_state *)(void *)h->state,
				 out->b, sizeof(out->b));
}

void bk_id_hex(const struct bk_id *id, char out[2 * BK_ID_LEN + 1])
{
	sodium_bin2hex(out, 2 * BK_ID_LEN + 1, id->b, sizeof(id->b));
}

enum bk_code bk_id_parse(const char *hex, struct bk_id *id,
			 struct bk_error *err)
{
	struct bk_id tmp;
	size_t i;

	if (!hex)
		return bk_error_set(err, BK_ERR_FORMAT, "id missing");
	for (i = 0; i < 2 * BK_ID_LEN; i += 2) {
		int hi, lo;

		if (hex[i] == '\0')
			break;
		hi = bk_hexval(hex[i]);
		lo = hex[i + 1] == '\0' ? -1 : bk_hexval(hex[i + 1]);
		if (hi < 0 || lo < 0)
			break;
		tmp.b[i / 2] = (uint8_t)(hi << 4 | lo);
	}
	if (i != 2 * BK_ID_LEN || hex[i] != '\0')
		return bk_error_set(err, BK_ERR_FORMAT,
				    "id \"%.80s\": expected %d hex digits", hex,
				    2 * BK_ID_LEN);
	*id = tmp;
	return BK_OK;
}

void bk_random(void *buf, size_t len)
{
	randombytes_buf(buf, len);
}
