/* libFuzzer target: wrapped-key blobs and sealed objects are untrusted
 * bytes.  The first input byte picks a mode:
 *   0: the rest is a key blob for bk_keys_unwrap (in-range KDF costs are
 *      scaled down to argon2id's minimum so runs stay fast; out-of-range
 *      ones are kept, and must be refused before anything is allocated);
 *   1: the rest is XORed over a valid key blob made at start-up (explores
 *      everything behind the header checks); only a no-op may unwrap;
 *   2: the rest is a sealed object for bk_open under a name from the input;
 *   3: the rest is XORed over a valid sealed object; only a no-op may open.
 * Bits 2-3 of the first byte pick the keys' repository format for modes 2
 * and 3: format 1, format 2 with AES-256-GCM (salt, subkey), format 2
 * with XChaCha20-Poly1305.
 * Any other outcome than OK / FORMAT / AUTH with a message aborts. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backup/crypto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t repo[BK_REPO_ID_LEN] = "fuzz-repository";
static const char pass[] = "fuzz passphrase";
static const char plain[] = "a manifest that must never be forged";

#define NFMT 3
static const struct {
	unsigned format;
	enum bk_seal_alg seal;
} fmts[NFMT] = {
	{ 1, BK_SEAL_XCHACHA20POLY1305 },
	{ 2, BK_SEAL_AES256GCM },
	{ 2, BK_SEAL_XCHACHA20POLY1305 },
};

static struct bk_keys *keys, *fmt_keys[NFMT];
static uint8_t blob[256];
static size_t blob_len;
static uint8_t fmt_sealed[NFMT][256];
static size_t fmt_sealed_len[NFMT];
/* the format this input runs under */
static struct bk_keys *cur_keys;
static uint8_t *sealed;
static size_t sealed_len;

static void init_once(void)
{
	struct bk_kdf_params p = { 1, 8192, 0 };
	struct bk_error err;
	struct bk_buf b;

	if (keys)
		return;
	if (bk_crypto_init(&err) || bk_keys_generate(&keys, &err))
		abort();
	bk_keys_set_repo_id(keys, repo);
	bk_buf_init(&b, sizeof(blob));
	if (bk_keys_wrap(keys, pass, strlen(pass), &p, repo, &b, &err))
		abort();
	memcpy(blob, b.data, b.len);
	blob_len = b.len;
	for (int i = 0; i < NFMT; i++) {
		bk_buf_reset(&b);
		if (bk_keys_unwrap(blob, blob_len, pass, strlen(pass), repo,
				   &fmt_keys[i], NULL, &err) ||
		    bk_keys_set_format(fmt_keys[i], fmts[i].format,
				       fmts[i].seal, &err) ||
		    bk_seal(fmt_keys[i], BK_OBJ_MANIFEST, "snapshots/x", plain,
			    sizeof(plain), &b, &err) ||
		    b.len > sizeof(fmt_sealed[i]))
			abort();
		memcpy(fmt_sealed[i], b.data, b.len);
		fmt_sealed_len[i] = b.len;
	}
	bk_buf_release(&b);
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void check_result(enum bk_code rc, const struct bk_error *err)
{
	if (rc != BK_OK && rc != BK_ERR_FORMAT && rc != BK_ERR_AUTH)
		abort();
	if (rc != BK_OK && (err->code != rc || err->msg[0] == '\0'))
		abort();
}

static void unwrap(const uint8_t *p, size_t n, int must_fail)
{
	struct bk_keys *k = NULL;
	struct bk_kdf_params got;
	struct bk_error err;
	enum bk_code rc;

	rc = bk_keys_unwrap(p, n, pass, strlen(pass), repo, &k, &got, &err);
	check_result(rc, &err);
	if ((rc == BK_OK) != (k != NULL))
		abort();
	if (rc == BK_OK && must_fail)
		abort();
	bk_keys_free(k);
}

static void fuzz_blob(const uint8_t *data, size_t size)
{
	uint8_t *copy = malloc(size ? size : 1);

	if (!copy)
		return;
	memcpy(copy, data, size);
	/* "ZBAKKEY1", ids, reserved: the costs sit at 12 and 20 */
	if (size >= 28) {
		uint64_t ops = get64(copy + 12), mem = get64(copy + 20);

		if (ops >= 1 && ops <= 64)
			put64(copy + 12, 1 + (ops & 1));
		if (mem >= 8192 && mem <= (4ull << 30))
			put64(copy + 20, 8192 + (mem & 0xffff));
	}
	unwrap(copy, size, 1); /* cannot know the passphrase's seal */
	free(copy);
}

static void fuzz_blob_edit(const uint8_t *data, size_t size)
{
	uint8_t copy[sizeof(blob)];
	size_t n = size < blob_len ? size : blob_len;

	memcpy(copy, blob, blob_len);
	for (size_t i = 0; i < n; i++)
		copy[i] ^= data[i];
	/* keep legal costs cheap */
	if (get64(copy + 20) > (1u << 20) && get64(copy + 20) <= (4ull << 30))
		put64(copy + 20, 8192 + (get64(copy + 20) & 0xffff));
	if (get64(copy + 12) > 4 && get64(copy + 12) <= 64)
		put64(copy + 12, 1 + (get64(copy + 12) & 3));
	/* only the original blob may unwrap */
	unwrap(copy, blob_len, memcmp(copy, blob, blob_len) != 0);
}

static void open_one(const uint8_t *p, size_t n, const char *name,
		     enum bk_obj_kind kind, int must_fail)
{
	struct bk_error err;
	struct bk_buf out;
	enum bk_code rc;

	bk_buf_init(&out, 1 << 16);
	rc = bk_open(cur_keys, kind, name, p, n, &out, &err);
	if (rc == BK_ERR_LIMIT)
		rc = BK_ERR_FORMAT; /* larger than the buffer: fine */
	check_result(rc, &err);
	if (rc == BK_OK &&
	    (must_fail || out.len != sizeof(plain) ||
	     memcmp(out.data, plain, sizeof(plain)) != 0))
		abort();
	if (rc != BK_OK && out.len != 0)
		abort();
	bk_buf_release(&out);
}

static void fuzz_open(const uint8_t *data, size_t size)
{
	char name[32];
	size_t nlen = size ? data[0] % sizeof(name) : 0;

	if (size < 1 + nlen + 1)
		nlen = 0;
	for (size_t i = 0; i < nlen; i++)
		name[i] = (char)(data[1 + i] | 1); /* no NUL */
	name[nlen] = '\0';
	if (size > 1 + nlen + 1) {
		const uint8_t *p = data + 1 + nlen;
		size_t n = size - 1 - nlen;

		open_one(p + 1, n - 1, name, (enum bk_obj_kind)p[0], 1);
	} else {
		open_one(data, size, name, BK_OBJ_CHUNK, 1);
	}
}

static void fuzz_open_edit(const uint8_t *data, size_t size)
{
	uint8_t copy[sizeof(fmt_sealed[0])];
	size_t n = size < sealed_len ? size : sealed_len;

	memcpy(copy, sealed, sealed_len);
	for (size_t i = 0; i < n; i++)
		copy[i] ^= data[i];
	open_one(copy, sealed_len, "snapshots/x", BK_OBJ_MANIFEST,
		 memcmp(copy, sealed, sealed_len) != 0);
	/* and every truncation the input asks for */
	if (size > sealed_len)
		open_one(copy, data[sealed_len] % sealed_len, "snapshots/x",
			 BK_OBJ_MANIFEST, 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	init_once();
	cur_keys = fmt_keys[(data[0] >> 2) % NFMT];
	sealed = fmt_sealed[(data[0] >> 2) % NFMT];
	sealed_len = fmt_sealed_len[(data[0] >> 2) % NFMT];
	switch (data[0] & 3) {
	case 0:
		fuzz_blob(data + 1, size - 1);
		break;
	case 1:
		fuzz_blob_edit(data + 1, size - 1);
		break;
	case 2:
		fuzz_open(data + 1, size - 1);
		break;
	default:
		fuzz_open_edit(data + 1, size - 1);
		break;
	}
	return 0;
}
