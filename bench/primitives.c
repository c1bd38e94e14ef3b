/* SPDX-License-Identifier: MIT */
/*
 * bench/primitives: single-core throughput of the primitives a push and a
 * restore spend their CPU on, over 128 KiB buffers (the average chunk), so
 * that the choice of chunk-id PRF, AEAD and LZ4 mode rests on figures from
 * the machine at hand.  `make bench-primitives`; best of 5 runs of about
 * 0.2 s each, in MB/s (10^6 bytes per second).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lz4.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sodium.h>

#define BUF (128u << 10)
#define RUNS 5

static uint8_t key[32], nonce[24], out[BUF + 64 + LZ4_COMPRESSBOUND(BUF)];
static uint8_t text[BUF], rnd[BUF];
static EVP_MAC *mac;
static EVP_MAC_CTX *mac_tmpl;
static EVP_CIPHER *gcm;
static int accel = 1;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

typedef void (*op_fn)(const uint8_t *buf, size_t len);

static void op_blake2b(const uint8_t *b, size_t n)
{
	crypto_generichash(out, 32, b, n, key, 32);
}

static void op_hmac_oneshot(const uint8_t *b, size_t n)
{
	unsigned olen;

	HMAC(EVP_sha256(), key, 32, b, n, out, &olen);
}

static void op_hmac_dup(const uint8_t *b, size_t n)
{
	EVP_MAC_CTX *c = EVP_MAC_CTX_dup(mac_tmpl);
	size_t olen;

	EVP_MAC_init(c, NULL, 0, NULL);
	EVP_MAC_update(c, b, n);
	EVP_MAC_final(c, out, &olen, 32);
	EVP_MAC_CTX_free(c);
}

static void op_xchacha(const uint8_t *b, size_t n)
{
	crypto_aead_xchacha20poly1305_ietf_encrypt(out, NULL, b, n, NULL, 0,
						   NULL, nonce, key);
}

static void op_sodium_gcm(const uint8_t *b, size_t n)
{
	crypto_aead_aes256gcm_encrypt(out, NULL, b, n, NULL, 0, NULL, nonce,
				      key);
}

/* as zbak seals under AES-GCM: a subkey per object, then EVP */
static void op_evp_gcm(const uint8_t *b, size_t n)
{
	uint8_t sub[44];
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int l;

	crypto_generichash(sub, sizeof(sub), nonce, 32, key, 32);
	EVP_EncryptInit_ex2(c, gcm, sub, sub + 32, NULL);
	EVP_EncryptUpdate(c, NULL, &l, nonce, 24);
	EVP_EncryptUpdate(c, out, &l, b, (int)n);
	EVP_EncryptFinal_ex(c, out + l, &l);
	EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, out + n);
	EVP_CIPHER_CTX_free(c);
}

static size_t lz4_out;
static void op_lz4(const uint8_t *b, size_t n)
{
	lz4_out = (size_t)LZ4_compress_fast((const char *)b, (char *)out,
					    (int)n, (int)sizeof(out), accel);
}

static double rate(op_fn f, const uint8_t *b, size_t n)
{
	double best = 0;

	for (int r = 0; r < RUNS; r++) {
		double t0 = now(), t;
		size_t bytes = 0;

		do {
			for (int i = 0; i < 16; i++) {
				f(b, n);
				bytes += n;
			}
			t = now() - t0;
		} while (t < 0.2);
		if (bytes / t / 1e6 > best)
			best = bytes / t / 1e6;
	}
	return best;
}

/* Text-like: lines of words from a small vocabulary, like logs and
 * source, which LZ4 compresses about 2-3 times. */
static void make_text(void)
{
	static const char *w[] = {"the", "backup", "stream", "of", "zfs",
				  "record", "chunk", "error", "write",
				  "2026-12-07", "INFO", "object", "=", "\n"};
	size_t o = 0;

	while (o < BUF) {
		const char *s = w[randombytes_uniform(sizeof(w) / sizeof(*w))];
		size_t l = strlen(s);

		for (size_t i = 0; i <= l && o < BUF; i++)
			text[o++] = i < l ? (uint8_t)s[i] : ' ';
		if (randombytes_uniform(8) == 0 && o < BUF)
			o += (size_t)snprintf((char *)text + o, BUF - o,
					      "%u ", randombytes_random()) %
			     16;
	}
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	randombytes_buf(key, sizeof(key));
	randombytes_buf(nonce, sizeof(nonce));
	randombytes_buf(rnd, sizeof(rnd));
	make_text();
	mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	gcm = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
	mac_tmpl = EVP_MAC_CTX_new(mac);
	{
		OSSL_PARAM p[] = {OSSL_PARAM_construct_utf8_string(
					  OSSL_MAC_PARAM_DIGEST, "SHA256", 0),
				  OSSL_PARAM_construct_end()};
		EVP_MAC_init(mac_tmpl, key, 32, p);
	}
	printf("primitive over 128 KiB buffers, best of %d, MB/s\n", RUNS);
	printf("  %-38s %8.0f\n", "keyed BLAKE2b-256 (libsodium)",
	       rate(op_blake2b, rnd, BUF));
	printf("  %-38s %8.0f\n", "HMAC-SHA-256 (OpenSSL HMAC())",
	       rate(op_hmac_oneshot, rnd, BUF));
	printf("  %-38s %8.0f\n", "HMAC-SHA-256 (OpenSSL EVP_MAC dup)",
	       rate(op_hmac_dup, rnd, BUF));
	printf("  %-38s %8.0f\n", "HMAC-SHA-256 (EVP_MAC dup) 16 KiB",
	       rate(op_hmac_dup, rnd, 16 << 10));
	printf("  %-38s %8.0f\n", "HMAC-SHA-256 (HMAC()) 16 KiB",
	       rate(op_hmac_oneshot, rnd, 16 << 10));
	printf("  %-38s %8.0f\n", "keyed BLAKE2b-256 16 KiB",
	       rate(op_blake2b, rnd, 16 << 10));
	printf("  %-38s %8.0f\n", "XChaCha20-Poly1305 (libsodium)",
	       rate(op_xchacha, rnd, BUF));
	if (crypto_aead_aes256gcm_is_available())
		printf("  %-38s %8.0f\n", "AES-256-GCM (libsodium)",
		       rate(op_sodium_gcm, rnd, BUF));
	else
		printf("  %-38s %8s\n", "AES-256-GCM (libsodium)", "n/a");
	printf("  %-38s %8.0f\n", "AES-256-GCM (OpenSSL EVP, subkey)",
	       rate(op_evp_gcm, rnd, BUF));
	printf("  %-38s %8.0f\n", "AES-256-GCM (OpenSSL EVP, subkey) 16K",
	       rate(op_evp_gcm, rnd, 16 << 10));
	for (int a = 1; a <= 8; a *= 2) {
		double rt, rr;
		size_t tl, rl;

		accel = a;
		rt = rate(op_lz4, text, BUF);
		tl = lz4_out;
		rr = rate(op_lz4, rnd, BUF);
		rl = lz4_out;
		printf("  LZ4 accel %d: text %6.0f MB/s ratio %.3f; "
		       "random %6.0f MB/s out/in %.4f\n",
		       a, rt, (double)BUF / tl, rr, (double)rl / BUF);
	}
	EVP_MAC_CTX_free(mac_tmpl);
	EVP_MAC_free(mac);
	EVP_CIPHER_free(gcm);
	return 0;
}
