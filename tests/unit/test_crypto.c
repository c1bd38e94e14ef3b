/* crypto: known-answer vectors of both repository formats (ids, the
 * AES-256-GCM seal and its subkey), objects of one format never opening
 * under another; key wrapping (round trip, wrong passphrase, other repository,
 * every single-byte alteration, truncation, hostile costs), sealing (round
 * trip, other name/kind/repository/key, bit flips, short input, buffer
 * limits), keyed ids, the cut hash, the stream hash and hex ids.  Runs with
 * ZBAK_KDF_INSECURE_FAST=1 so argon2id takes milliseconds. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <sodium.h>

#include "backup/crypto.h"

static const uint8_t repo_a[BK_REPO_ID_LEN] = "repository-A-id";
static const uint8_t repo_b[BK_REPO_ID_LEN] = "repository-B-id";
static const char pass[] = "correct horse battery staple";

struct fixture {
	struct bk_keys *k;
	struct bk_buf blob;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct bk_kdf_params p;
	struct bk_error err;

	if (!f)
		return -1;
	if (bk_crypto_init(&err) || bk_keys_generate(&f->k, &err))
		return -1;
	bk_keys_set_repo_id(f->k, repo_a);
	bk_kdf_default(&p);
	bk_buf_init(&f->blob, 4096);
	if (bk_keys_wrap(f->k, pass, strlen(pass), &p, repo_a, &f->blob, &err))
		return -1;
	*state = f;
	return 0;
}

/* The same fixture, the keys set to format 2 with seal a. */
static int setup_format2(void **state, enum bk_seal_alg a)
{
	struct fixture *f;
	struct bk_error err;

	if (setup(state))
		return -1;
	f = *state;
	return bk_keys_set_format(f->k, 2, a, &err) ? -1 : 0;
}

static int setup_gcm(void **state)
{
	return setup_format2(state, BK_SEAL_AES256GCM);
}

static int setup_xchacha2(void **state)
{
	return setup_format2(state, BK_SEAL_XCHACHA20POLY1305);
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	bk_keys_free(f->k);
	bk_buf_release(&f->blob);
	free(f);
	return 0;
}

/* Seal with a, open with b: equal plaintext means the keys agree. */
static void assert_same_keys(struct bk_keys *a, struct bk_keys *b)
{
	static const char msg[] = "the same keys";
	struct bk_buf s, o;
	struct bk_error err;
	struct bk_id ia, ib;

	bk_buf_init(&s, 1024);
	bk_buf_init(&o, 1024);
	assert_int_equal(bk_seal(a, BK_OBJ_CONFIG, "config", msg, sizeof(msg),
				 &s, &err), BK_OK);
	assert_int_equal(bk_open(b, BK_OBJ_CONFIG, "config", s.data, s.len,
				 &o, &err), BK_OK);
	assert_int_equal(o.len, sizeof(msg));
	assert_memory_equal(o.data, msg, sizeof(msg));
	bk_chunk_id(a, msg, sizeof(msg), &ia);
	bk_chunk_id(b, msg, sizeof(msg), &ib);
	assert_memory_equal(ia.b, ib.b, BK_ID_LEN);
	assert_true(bk_cut_hash(a, msg, sizeof(msg)) ==
		    bk_cut_hash(b, msg, sizeof(msg)));
	bk_buf_release(&s);
	bk_buf_release(&o);
}

static void kdf_defaults(void **state)
{
	struct bk_kdf_params p;
	char *saved = getenv("ZBAK_KDF_INSECURE_FAST");

	(void)state;
	bk_kdf_default(&p);
	assert_int_equal(p.opslimit, 1);
	assert_int_equal(p.memlimit, 8u << 20);
	unsetenv("ZBAK_KDF_INSECURE_FAST");
	bk_kdf_default(&p);
	assert_int_equal(p.opslimit, 5);
	assert_int_equal(p.memlimit, 48u << 20);
	setenv("ZBAK_KDF_INSECURE_FAST", saved ? saved : "1", 1);
}

static void wrap_round_trip(void **state)
{
	struct fixture *f = *state;
	struct bk_keys *k2 = NULL;
	struct bk_kdf_params p = { 0, 0, 0 };
	struct bk_error err;

	assert_int_equal(f->blob.len, 180);
	assert_memory_equal(f->blob.data, "ZBAKKEY1", 8);
	assert_int_equal(bk_keys_unwrap(f->blob.data, f->blob.len, pass,
					strlen(pass), repo_a, &k2, &p, &err),
			 BK_OK);
	assert_non_null(k2);
	assert_int_equal(p.opslimit, 1);
	assert_int_equal(p.memlimit, 8u << 20);
	assert_same_keys(f->k, k2);
	bk_keys_free(k2);
}

/* The generation: bytes 10-11, authenticated, reported; 0..65535. */
static void wrap_generation(void **state)
{
	struct fixture *f = *state;
	struct bk_kdf_params p;
	struct bk_keys *k2 = NULL;
	struct bk_buf b2;
	struct bk_error err;

	assert_int_equal(f->blob.data[10], 0);
	assert_int_equal(f->blob.data[11], 0);
	bk_kdf_default(&p);
	p.generation = 258;
	bk_buf_init(&b2, 4096);
	assert_int_equal(bk_keys_wrap(f->k, pass, strlen(pass), &p, repo_a, &b2,
				      &err),
			 BK_OK);
	assert_int_equal(b2.data[10], 2);
	assert_int_equal(b2.data[11], 1);
	p.generation = 0;
	assert_int_equal(bk_keys_unwrap(b2.data, b2.len, pass, strlen(pass),
					repo_a, &k2, &p, &err),
			 BK_OK);
	assert_int_equal(p.generation, 258);
	bk_keys_free(k2);
	/* changed, it no longer opens: the generation is authenticated */
	b2.data[10] = 1;
	assert_int_equal(bk_keys_unwrap(b2.data, b2.len, pass, strlen(pass),
					repo_a, &k2, NULL, &err),
			 BK_ERR_AUTH);
	bk_buf_reset(&b2);
	p.generation = 65536;
	assert_int_equal(bk_keys_wrap(f->k, pass, strlen(pass), &p, repo_a, &b2,
				      &err),
			 BK_ERR_USAGE);
	bk_buf_release(&b2);
}

static void wrap_twice_differs(void **state)
{
	struct fixture *f = *state;
	struct bk_buf b2;
	struct bk_error err;
	struct bk_keys *k2 = NULL;

	/* fresh salt and nonce every time; a new passphrase rewraps */
	bk_buf_init(&b2, 4096);
	assert_int_equal(bk_keys_wrap(f->k, "other", 5, NULL, repo_a, &b2,
				      &err), BK_OK);
	assert_int_equal(b2.len, f->blob.len);
	assert_memory_not_equal(b2.data + 28, f->blob.data + 28, 40);
	assert_int_equal(bk_keys_unwrap(b2.data, b2.len, "other", 5, repo_a,
					&k2, NULL, &err), BK_OK);
	assert_same_keys(f->k, k2);
	bk_keys_free(k2);
	bk_buf_release(&b2);
}

static void unwrap_wrong_pass(void **state)
{
	struct fixture *f = *state;
	struct bk_keys *k2 = (struct bk_keys *)f; /* must be reset to NULL */
	struct bk_error err;

	assert_int_equal(bk_keys_unwrap(f->blob.data, f->blob.len, "wrong", 5,
					repo_a, &k2, NULL, &err),
			 BK_ERR_AUTH);
	assert_null(k2);
	assert_string_equal(err.msg,
			    "wrong passphrase (or a key file of another repository)");
	/* a prefix of the right passphrase is wrong too */
	assert_int_equal(bk_keys_unwrap(f->blob.data, f->blob.len, pass,
					strlen(pass) - 1, repo_a, &k2, NULL,
					&err),
			 BK_ERR_AUTH);
	assert_int_equal(bk_keys_unwrap(f->blob.data, f->blob.len, NULL, 0,
					repo_a, &k2, NULL, &err),
			 BK_ERR_AUTH);
}

static void unwrap_other_repo(void **state)
{
	struct fixture *f = *state;
	struct bk_keys *k2 = NULL;
	struct bk_error err;

	assert_int_equal(bk_keys_unwrap(f->blob.data, f->blob.len, pass,
					strlen(pass), repo_b, &k2, NULL, &err),
			 BK_ERR_AUTH);
	assert_null(k2);
}

static void unwrap_every_byte(void **state)
{
	struct fixture *f = *state;
	uint8_t *copy = malloc(f->blob.len);
	static const uint8_t flips[] = { 0x01, 0x80 };
	size_t i, j, nauth = 0, nformat = 0;

	assert_non_null(copy);
	for (i = 0; i < f->blob.len; i++) {
		for (j = 0; j < sizeof(flips); j++) {
			struct bk_keys *k2 = NULL;
			struct bk_error err;
			enum bk_code rc;

			/* the high bit of memlimit's byte 3 would ask for
			 * gigabytes legitimately: keep the test quick */
			if (i == 20 + 3 && flips[j] == 0x80)
				continue;
			memcpy(copy, f->blob.data, f->blob.len);
			copy[i] ^= flips[j];
			rc = bk_keys_unwrap(copy, f->blob.len, pass,
					    strlen(pass), repo_a, &k2, NULL,
					    &err);
			if (rc != BK_ERR_AUTH && rc != BK_ERR_FORMAT)
				fail_msg("byte %zu ^ 0x%02x: code %d (%s)", i,
					 flips[j], rc, err.msg);
			assert_null(k2);
			assert_true(err.msg[0] != '\0');
			if (rc == BK_ERR_AUTH)
				nauth++;
			else
				nformat++;
		}
	}
	assert_true(nauth > 100);
	assert_true(nformat > 10);
	free(copy);
}

static void unwrap_truncated(void **state)
{
	struct fixture *f = *state;
	uint8_t *copy = malloc(f->blob.len + 1);
	struct bk_error err;

	assert_non_null(copy);
	for (size_t n = 0; n < f->blob.len; n++) {
		struct bk_keys *k2 = NULL;

		/* each length in its own allocation so ASan catches reads
		 * past the end */
		uint8_t *t = malloc(n ? n : 1);

		assert_non_null(t);
		memcpy(t, f->blob.data, n);
		assert_int_equal(bk_keys_unwrap(t, n, pass, strlen(pass),
						repo_a, &k2, NULL, &err),
				 BK_ERR_FORMAT);
		assert_null(k2);
		free(t);
	}
	/* a trailing byte is not allowed either */
	memcpy(copy, f->blob.data, f->blob.len);
	copy[f->blob.len] = 0;
	{
		struct bk_keys *k2 = NULL;

		assert_int_equal(bk_keys_unwrap(copy, f->blob.len + 1, pass,
						strlen(pass), repo_a, &k2,
						NULL, &err),
				 BK_ERR_FORMAT);
	}
	free(copy);
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void unwrap_hostile_costs(void **state)
{
	struct fixture *f = *state;
	static const struct {
		uint64_t ops, mem;
	} bad[] = {
		{ 1, (4ull << 30) + 1 }, { 1, UINT64_MAX }, { 1, 8191 },
		{ 1, 0 }, { 0, 8u << 20 }, { 65, 8u << 20 },
		{ UINT64_MAX, 8u << 20 },
	};
	uint8_t copy[180];

	assert_int_equal(f->blob.len, sizeof(copy));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct bk_keys *k2 = NULL;
		struct bk_kdf_params p = { bad[i].ops, bad[i].mem, 0 };
		struct bk_buf b;
		struct bk_error err;

		memcpy(copy, f->blob.data, sizeof(copy));
		put64(copy + 12, bad[i].ops);
		put64(copy + 20, bad[i].mem);
		assert_int_equal(bk_keys_unwrap(copy, sizeof(copy), pass,
						strlen(pass), repo_a, &k2,
						NULL, &err),
				 BK_ERR_FORMAT);
		assert_non_null(strstr(err.msg, "key file: "));
		/* and wrap refuses to write them */
		bk_buf_init(&b, 4096);
		assert_int_equal(bk_keys_wrap(f->k, pass, strlen(pass), &p,
					      repo_a, &b, &err),
				 BK_ERR_USAGE);
		assert_int_equal(b.len, 0);
		bk_buf_release(&b);
	}
	/* not a key file at all */
	{
		struct bk_keys *k2 = NULL;
		struct bk_error err;

		memcpy(copy, f->blob.data, sizeof(copy));
		memcpy(copy, "ZBAKKEY2", 8);
		assert_int_equal(bk_keys_unwrap(copy, sizeof(copy), pass,
						strlen(pass), repo_a, &k2,
						NULL, &err),
				 BK_ERR_FORMAT);
		assert_int_equal(bk_keys_unwrap(NULL, 0, pass, strlen(pass),
						repo_a, &k2, NULL, &err),
				 BK_ERR_FORMAT);
	}
}

static void wrap_respects_buf_max(void **state)
{
	struct fixture *f = *state;
	struct bk_buf b;
	struct bk_error err;

	bk_buf_init(&b, 179);
	assert_int_equal(bk_keys_wrap(f->k, pass, strlen(pass), NULL, repo_a,
				      &b, &err),
			 BK_ERR_LIMIT);
	assert_int_equal(b.len, 0);
	bk_buf_release(&b);
}

static void seal_round_trip(void **state)
{
	struct fixture *f = *state;
	static const size_t sizes[] = { 0, 1, 15, 16, 17, 4096, 1u << 20 };
	uint8_t *pt = malloc(1u << 20);
	struct bk_buf s, o;
	struct bk_error err;

	assert_non_null(pt);
	bk_random(pt, 1u << 20);
	bk_buf_init(&s, 2u << 20);
	bk_buf_init(&o, 2u << 20);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		bk_buf_reset(&s);
		bk_buf_reset(&o);
		/* appends after what is there already */
		assert_int_equal(bk_buf_append(&o, "xy", 2, &err), BK_OK);
		assert_int_equal(bk_seal(f->k, BK_OBJ_CHUNK, "data/ab/ab12",
					 pt, sizes[i], &s, &err), BK_OK);
		assert_int_equal(s.len, sizes[i] + bk_seal_overhead(f->k));
		if (sizes[i] >= 16)
			assert_memory_not_equal(s.data + 24, pt, 16);
		assert_int_equal(bk_open(f->k, BK_OBJ_CHUNK, "data/ab/ab12",
					 s.data, s.len, &o, &err), BK_OK);
		assert_int_equal(o.len, 2 + sizes[i]);
		assert_memory_equal(o.data, "xy", 2);
		if (sizes[i])
			assert_memory_equal(o.data + 2, pt, sizes[i]);
		assert_int_equal(o.data[o.len], 0);
	}
	/* two seals of the same plaintext differ (random nonces) */
	{
		struct bk_buf s2;

		bk_buf_init(&s2, 1024);
		bk_buf_reset(&s);
		assert_int_equal(bk_seal(f->k, BK_OBJ_CHUNK, "x", pt, 32, &s,
					 &err), BK_OK);
		assert_int_equal(bk_seal(f->k, BK_OBJ_CHUNK, "x", pt, 32, &s2,
					 &err), BK_OK);
		assert_memory_not_equal(s.data, s2.data, s.len);
		bk_buf_release(&s2);
	}
	/* long names take the heap path for the associated data */
	{
		char name[2000];

		memset(name, 'n', sizeof(name) - 1);
		name[sizeof(name) - 1] = '\0';
		bk_buf_reset(&s);
		bk_buf_reset(&o);
		assert_int_equal(bk_seal(f->k, BK_OBJ_INDEX, name, pt, 100,
					 &s, &err), BK_OK);
		assert_int_equal(bk_open(f->k, BK_OBJ_INDEX, name, s.data,
					 s.len, &o, &err), BK_OK);
		name[1000] = 'm';
		bk_buf_reset(&o);
		assert_int_equal(bk_open(f->k, BK_OBJ_INDEX, name, s.data,
					 s.len, &o, &err), BK_ERR_AUTH);
	}
	free(pt);
	bk_buf_release(&s);
	bk_buf_release(&o);
}

static void open_elsewhere(void **state)
{
	struct fixture *f = *state;
	static const char msg[] = "manifest of pool/fs@snap";
	struct bk_keys *other = NULL, *same_keys_other_repo = NULL;
	struct bk_buf s, o;
	struct bk_error err;

	bk_buf_init(&s, 1024);
	bk_buf_init(&o, 1024);
	assert_int_equal(bk_seal(f->k, BK_OBJ_MANIFEST, "snapshots/abc", msg,
				 sizeof(msg), &s, &err), BK_OK);
	/* other name */
	assert_int_equal(bk_open(f->k, BK_OBJ_MANIFEST, "snapshots/abd",
				 s.data, s.len, &o, &err), BK_ERR_AUTH);
	assert_string_equal(err.msg,
			    "object snapshots/abd: authentication failed (altered, or stored under another name or key)");
	assert_int_equal(o.len, 0);
	/* other kind */
	assert_int_equal(bk_open(f->k, BK_OBJ_INDEX, "snapshots/abc", s.data,
				 s.len, &o, &err), BK_ERR_AUTH);
	/* the boundary between kind and name is unambiguous */
	assert_int_equal(bk_open(f->k, BK_OBJ_MANIFEST, "snapshots/abc/",
				 s.data, s.len, &o, &err), BK_ERR_AUTH);
	assert_int_equal(bk_open(f->k, BK_OBJ_MANIFEST, "snapshots/ab",
				 s.data, s.len, &o, &err), BK_ERR_AUTH);
	/* other key */
	assert_int_equal(bk_keys_generate(&other, &err), BK_OK);
	bk_keys_set_repo_id(other, repo_a);
	assert_int_equal(bk_open(other, BK_OBJ_MANIFEST, "snapshots/abc",
				 s.data, s.len, &o, &err), BK_ERR_AUTH);
	/* same master keys, other repository id */
	assert_int_equal(bk_keys_unwrap(f->blob.data, f->blob.len, pass,
					strlen(pass), repo_a,
					&same_keys_other_repo, NULL, &err),
			 BK_OK);
	assert_int_equal(bk_keys_set_format(same_keys_other_repo,
					    bk_keys_format(f->k),
					    bk_keys_seal_alg(f->k), &err),
			 BK_OK);
	bk_keys_set_repo_id(same_keys_other_repo, repo_b);
	assert_int_equal(bk_open(same_keys_other_repo, BK_OBJ_MANIFEST,
				 "snapshots/abc", s.data, s.len, &o, &err),
			 BK_ERR_AUTH);
	bk_keys_set_repo_id(same_keys_other_repo, repo_a);
	assert_int_equal(bk_open(same_keys_other_repo, BK_OBJ_MANIFEST,
				 "snapshots/abc", s.data, s.len, &o, &err),
			 BK_OK);
	assert_int_equal(o.len, sizeof(msg));
	bk_keys_free(other);
	bk_keys_free(same_keys_other_repo);
	bk_buf_release(&s);
	bk_buf_release(&o);
}

static void open_bit_flips(void **state)
{
	struct fixture *f = *state;
	static const char msg[] = "0123456789abcdef0123";
	struct bk_buf s, o;
	struct bk_error err;

	bk_buf_init(&s, 1024);
	bk_buf_init(&o, 1024);
	assert_int_equal(bk_seal(f->k, BK_OBJ_RECIPE, "r", msg, sizeof(msg),
				 &s, &err), BK_OK);
	for (size_t bit = 0; bit < s.len * 8; bit++) {
		s.data[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		assert_int_equal(bk_open(f->k, BK_OBJ_RECIPE, "r", s.data,
					 s.len, &o, &err), BK_ERR_AUTH);
		assert_int_equal(o.len, 0);
		s.data[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
	/* every truncation */
	for (size_t n = 0; n < s.len; n++) {
		enum bk_code rc = bk_open(f->k, BK_OBJ_RECIPE, "r", s.data, n,
					  &o, &err);

		assert_int_equal(rc, n < bk_seal_overhead(f->k)
					     ? BK_ERR_FORMAT
					     : BK_ERR_AUTH);
		assert_int_equal(o.len, 0);
	}
	assert_int_equal(bk_open(f->k, BK_OBJ_RECIPE, "r", s.data, s.len, &o,
				 &err), BK_OK);
	bk_buf_release(&s);
	bk_buf_release(&o);
}

static void seal_open_limits(void **state)
{
	struct fixture *f = *state;
	uint8_t pt[100] = { 0 };
	struct bk_buf s, o;
	struct bk_error err;

	bk_buf_init(&s, 100 + bk_seal_overhead(f->k) - 1);
	assert_int_equal(bk_seal(f->k, BK_OBJ_CHUNK, "c", pt, sizeof(pt), &s,
				 &err), BK_ERR_LIMIT);
	assert_int_equal(s.len, 0);
	s.max = 100 + bk_seal_overhead(f->k);
	assert_int_equal(bk_seal(f->k, BK_OBJ_CHUNK, "c", pt, sizeof(pt), &s,
				 &err), BK_OK);
	bk_buf_init(&o, 99);
	assert_int_equal(bk_open(f->k, BK_OBJ_CHUNK, "c", s.data, s.len, &o,
				 &err), BK_ERR_LIMIT);
	o.max = 100;
	assert_int_equal(bk_open(f->k, BK_OBJ_CHUNK, "c", s.data, s.len, &o,
				 &err), BK_OK);
	assert_int_equal(bk_seal(f->k, BK_OBJ_CHUNK, NULL, pt, 1, &s, &err),
			 BK_ERR_USAGE);
	bk_buf_release(&s);
	bk_buf_release(&o);
}

static void chunk_ids(void **state)
{
	struct fixture *f = *state;
	struct bk_keys *other = NULL;
	struct bk_error err;
	struct bk_id a, b, c;
	static const char d1[] = "block one", d2[] = "block two";
	uint8_t plain[32];

	bk_chunk_id(f->k, d1, sizeof(d1), &a);
	bk_chunk_id(f->k, d1, sizeof(d1), &b);
	assert_memory_equal(a.b, b.b, BK_ID_LEN);
	bk_chunk_id(f->k, d2, sizeof(d2), &c);
	assert_memory_not_equal(a.b, c.b, BK_ID_LEN);
	assert_int_equal(bk_keys_generate(&other, &err), BK_OK);
	bk_chunk_id(other, d1, sizeof(d1), &c);
	assert_memory_not_equal(a.b, c.b, BK_ID_LEN);
	/* keyed: not the plain BLAKE2b-256 of the data */
	{
		struct bk_hash h;
		struct bk_id u;

		bk_hash_init(&h);
		bk_hash_update(&h, d1, sizeof(d1));
		bk_hash_final(&h, &u);
		memcpy(plain, u.b, sizeof(plain));
		assert_memory_not_equal(a.b, plain, BK_ID_LEN);
	}
	/* cut hash: deterministic, key-dependent, data-dependent */
	assert_true(bk_cut_hash(f->k, d1, sizeof(d1)) ==
		    bk_cut_hash(f->k, d1, sizeof(d1)));
	assert_true(bk_cut_hash(f->k, d1, sizeof(d1)) !=
		    bk_cut_hash(f->k, d2, sizeof(d2)));
	assert_true(bk_cut_hash(f->k, d1, sizeof(d1)) !=
		    bk_cut_hash(other, d1, sizeof(d1)));
	bk_keys_free(other);
}

static void stream_hash(void **state)
{
	/* BLAKE2b-256("abc"), RFC 7693 parameters with a 32-byte digest */
	static const char abc_hex[] =
		"bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319";
	/* BLAKE2b-256("") */
	static const char empty_hex[] =
		"0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8";
	struct bk_hash h;
	struct bk_id id;
	char hex[2 * BK_ID_LEN + 1];
	uint8_t *big = malloc(100000);
	struct bk_id one, pieces;

	(void)state;
	bk_hash_init(&h);
	bk_hash_update(&h, "a", 1);
	bk_hash_update(&h, "bc", 2);
	bk_hash_final(&h, &id);
	bk_id_hex(&id, hex);
	assert_string_equal(hex, abc_hex);
	bk_hash_init(&h);
	bk_hash_final(&h, &id);
	bk_id_hex(&id, hex);
	assert_string_equal(hex, empty_hex);
	/* pieces of every size give the same result as one update */
	assert_non_null(big);
	for (size_t i = 0; i < 100000; i++)
		big[i] = (uint8_t)(i * 7 + (i >> 8));
	bk_hash_init(&h);
	bk_hash_update(&h, big, 100000);
	bk_hash_final(&h, &one);
	bk_hash_init(&h);
	for (size_t off = 0, step = 1; off < 100000; off += step, step += 37)
		bk_hash_update(&h, big + off,
			       off + step > 100000 ? 100000 - off : step);
	bk_hash_final(&h, &pieces);
	assert_memory_equal(one.b, pieces.b, BK_ID_LEN);
	free(big);
}

static void hex_ids(void **state)
{
	struct bk_id id, back;
	char hex[2 * BK_ID_LEN + 1], bad[2 * BK_ID_LEN + 2];
	struct bk_error err;

	(void)state;
	for (int i = 0; i < BK_ID_LEN; i++)
		id.b[i] = (uint8_t)(i * 9 + 0xa0);
	bk_id_hex(&id, hex);
	assert_int_equal(strlen(hex), 64);
	for (int i = 0; i < 64; i++)
		assert_true((hex[i] >= '0' && hex[i] <= '9') ||
			    (hex[i] >= 'a' && hex[i] <= 'f'));
	assert_int_equal(bk_id_parse(hex, &back, &err), BK_OK);
	assert_memory_equal(id.b, back.b, BK_ID_LEN);
	/* upper case is accepted */
	memcpy(bad, hex, sizeof(hex));
	for (int i = 0; i < 64; i++)
		if (bad[i] >= 'a' && bad[i] <= 'f')
			bad[i] = (char)(bad[i] - 'a' + 'A');
	assert_int_equal(bk_id_parse(bad, &back, &err), BK_OK);
	assert_memory_equal(id.b, back.b, BK_ID_LEN);

	memset(&back, 0x55, sizeof(back));
	/* too short, too long, odd, bad digits in every position */
	assert_int_equal(bk_id_parse("", &back, &err), BK_ERR_FORMAT);
	assert_int_equal(bk_id_parse(NULL, &back, &err), BK_ERR_FORMAT);
	memcpy(bad, hex, 63);
	bad[63] = '\0';
	assert_int_equal(bk_id_parse(bad, &back, &err), BK_ERR_FORMAT);
	memcpy(bad, hex, 64);
	bad[64] = '0';
	bad[65] = '\0';
	assert_int_equal(bk_id_parse(bad, &back, &err), BK_ERR_FORMAT);
	for (int i = 0; i < 64; i++) {
		static const char junk[] = "g /xG";

		for (size_t j = 0; j < sizeof(junk) - 1; j++) {
			memcpy(bad, hex, sizeof(hex));
			bad[i] = junk[j];
			assert_int_equal(bk_id_parse(bad, &back, &err),
					 BK_ERR_FORMAT);
		}
	}
	/* failures leave the output untouched */
	for (int i = 0; i < BK_ID_LEN; i++)
		assert_int_equal(back.b[i], 0x55);
}

struct worker {
	struct bk_keys *k;
	int id;
	int failures;
};

static void *seal_open_loop(void *arg)
{
	struct worker *w = arg;
	struct bk_buf s, o;
	struct bk_error err;
	char name[32], msg[64];

	bk_buf_init(&s, 4096);
	bk_buf_init(&o, 4096);
	for (int i = 0; i < 300; i++) {
		snprintf(name, sizeof(name), "t%d/%d", w->id, i);
		snprintf(msg, sizeof(msg), "thread %d message %d", w->id, i);
		bk_buf_reset(&s);
		bk_buf_reset(&o);
		if (bk_seal(w->k, BK_OBJ_CHUNK, name, msg, strlen(msg), &s,
			    &err) ||
		    bk_open(w->k, BK_OBJ_CHUNK, name, s.data, s.len, &o,
			    &err) ||
		    o.len != strlen(msg) || memcmp(o.data, msg, o.len) != 0)
			w->failures++;
	}
	bk_buf_release(&s);
	bk_buf_release(&o);
	return NULL;
}

static void shared_keys_threads(void **state)
{
	struct fixture *f = *state;
	enum { N = 4 };
	struct worker w[N];
	pthread_t t[N];

	for (int i = 0; i < N; i++) {
		w[i].k = f->k;
		w[i].id = i;
		w[i].failures = 0;
		assert_int_equal(pthread_create(&t[i], NULL, seal_open_loop,
						&w[i]), 0);
	}
	for (int i = 0; i < N; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(w[i].failures, 0);
	}
}

/*
 * Keys with known master keys (enc = 00..1f, id = 20..3f, chunker =
 * 40..5f), through a key file built here by the documented layout, so the
 * vectors below pin the formats down byte for byte.
 */
static struct bk_keys *known_keys(void)
{
	uint8_t blob[180] = "ZBAKKEY1", ad[44 + BK_REPO_ID_LEN], pt[96];
	uint8_t kek[32];
	struct bk_keys *k = NULL;
	struct bk_error err;
	uint64_t ops = crypto_pwhash_argon2id_OPSLIMIT_MIN, mem = 8u << 20;

	blob[8] = 1;
	blob[9] = 1;
	for (int i = 0; i < 8; i++) {
		blob[12 + i] = (uint8_t)(ops >> (8 * i));
		blob[20 + i] = (uint8_t)(mem >> (8 * i));
	}
	for (int i = 0; i < 96; i++)
		pt[i] = (uint8_t)i;
	assert_int_equal(crypto_pwhash(kek, sizeof(kek), pass, strlen(pass),
				       blob + 28, ops, mem,
				       crypto_pwhash_ALG_ARGON2ID13), 0);
	memcpy(ad, blob, 44);
	memcpy(ad + 44, repo_a, BK_REPO_ID_LEN);
	crypto_aead_xchacha20poly1305_ietf_encrypt(blob + 68, NULL, pt, 96, ad,
						   sizeof(ad), NULL, blob + 44,
						   kek);
	assert_int_equal(bk_keys_unwrap(blob, sizeof(blob), pass, strlen(pass),
					repo_a, &k, NULL, &err), BK_OK);
	return k;
}

static void unhex(const char *hex, uint8_t *out, size_t n)
{
	for (size_t i = 0; i < n; i++)
		assert_int_equal(sscanf(hex + 2 * i, "%2hhx", &out[i]), 1);
}

/* Vectors from Python's hashlib/hmac (independent implementations). */
static void kat_chunk_ids(void **state)
{
	static const char msg[] = "zbak chunk id test vector";
	struct bk_keys *k = known_keys();
	struct bk_error err;
	struct bk_id id;
	uint8_t want[32], key[32];

	(void)state;
	/* format 1: keyed BLAKE2b-256, as before format 2 existed */
	assert_int_equal(bk_keys_format(k), 1);
	bk_chunk_id(k, msg, strlen(msg), &id);
	unhex("71f55cd0adce6960061c6789669392e921f5780f728aee2f4984905315551d30",
	      want, 32);
	assert_memory_equal(id.b, want, 32);
	/* format 2: HMAC-SHA-256, whichever seal */
	assert_int_equal(bk_keys_set_format(k, 2, BK_SEAL_AES256GCM, &err),
			 BK_OK);
	bk_chunk_id(k, msg, strlen(msg), &id);
	unhex("e5e2d0517ca798829d7b405da0691775cb4331ce38dc49e51968e0827683e270",
	      want, 32);
	assert_memory_equal(id.b, want, 32);
	assert_int_equal(bk_keys_set_format(k, 2, BK_SEAL_XCHACHA20POLY1305,
					    &err), BK_OK);
	bk_chunk_id(k, msg, strlen(msg), &id);
	assert_memory_equal(id.b, want, 32);
	/* and libsodium's HMAC (the fallback) agrees, on a long input too */
	{
		static uint8_t big[200000];

		for (int i = 0; i < 32; i++)
			key[i] = (uint8_t)(32 + i);
		bk_random(big, sizeof(big));
		bk_chunk_id(k, big, sizeof(big), &id);
		crypto_auth_hmacsha256(want, big, sizeof(big), key);
		assert_memory_equal(id.b, want, 32);
		bk_chunk_id(k, NULL, 0, &id);
		crypto_auth_hmacsha256(want, (const uint8_t *)"", 0, key);
		assert_memory_equal(id.b, want, 32);
	}
	bk_keys_free(k);
}

/*
 * A format-2 AES-256-GCM object made by Python's `cryptography` from the
 * documented construction: salt 40..5f, subkey || nonce = BLAKE2b-352
 * keyed with enc over "zbak-gcm-subkey" || salt, associated data
 * "zbak-obj-v2" || 2 || repo id || kind || name length || name.
 */
static void kat_gcm_open(void **state)
{
	static const char sealed_hex[] =
		"404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f"
		"b9d87736aefac3e7414d8e62cc398a7a00fb1458e686158fc00fb5961f1de186"
		"ce1d855eb7dd8d7e";
	static const char pt[] = "a sealed chunk, format 2";
	struct bk_keys *k = known_keys();
	uint8_t sealed[72];
	struct bk_buf o;
	struct bk_error err;

	(void)state;
	unhex(sealed_hex, sealed, sizeof(sealed));
	bk_buf_init(&o, 1024);
	assert_int_equal(bk_keys_set_format(k, 2, BK_SEAL_AES256GCM, &err),
			 BK_OK);
	assert_int_equal(bk_seal_overhead(k), 48);
	assert_int_equal(bk_open(k, BK_OBJ_CHUNK, "data/ab/ab12", sealed,
				 sizeof(sealed), &o, &err), BK_OK);
	assert_int_equal(o.len, strlen(pt));
	assert_memory_equal(o.data, pt, strlen(pt));
	/* every flipped bit of salt, ciphertext or tag */
	for (size_t bit = 0; bit < sizeof(sealed) * 8; bit++) {
		bk_buf_reset(&o);
		sealed[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		assert_int_equal(bk_open(k, BK_OBJ_CHUNK, "data/ab/ab12",
					 sealed, sizeof(sealed), &o, &err),
				 BK_ERR_AUTH);
		assert_int_equal(o.len, 0);
		sealed[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
	/* the same bytes do not open as another format, seal or kind */
	assert_int_equal(bk_open(k, BK_OBJ_PACK_HEADER, "data/ab/ab12", sealed,
				 sizeof(sealed), &o, &err), BK_ERR_AUTH);
	assert_int_equal(bk_keys_set_format(k, 2, BK_SEAL_XCHACHA20POLY1305,
					    &err), BK_OK);
	assert_int_equal(bk_open(k, BK_OBJ_CHUNK, "data/ab/ab12", sealed,
				 sizeof(sealed), &o, &err), BK_ERR_AUTH);
	assert_int_equal(bk_keys_set_format(k, 1, BK_SEAL_XCHACHA20POLY1305,
					    &err), BK_OK);
	assert_int_equal(bk_open(k, BK_OBJ_CHUNK, "data/ab/ab12", sealed,
				 sizeof(sealed), &o, &err), BK_ERR_AUTH);
	bk_buf_release(&o);
	bk_keys_free(k);
}

/* Objects of one format or seal never open under another: the format and
 * seal are bound in, so an altered config cannot swap them. */
static void formats_apart(void **state)
{
	static const struct {
		unsigned format;
		enum bk_seal_alg seal;
		size_t over;
	} fm[] = {
		{ 1, BK_SEAL_XCHACHA20POLY1305, 40 },
		{ 2, BK_SEAL_XCHACHA20POLY1305, 40 },
		{ 2, BK_SEAL_AES256GCM, 48 },
	};
	static const char msg[] = "index of one push";
	struct bk_keys *k = known_keys();
	struct bk_buf s, o;
	struct bk_error err;

	(void)state;
	bk_buf_init(&s, 1024);
	bk_buf_init(&o, 1024);
	for (size_t i = 0; i < 3; i++) {
		bk_buf_reset(&s);
		assert_int_equal(bk_keys_set_format(k, fm[i].format,
						    fm[i].seal, &err), BK_OK);
		assert_int_equal(bk_seal(k, BK_OBJ_INDEX, "index/x", msg,
					 sizeof(msg), &s, &err), BK_OK);
		assert_int_equal(s.len, sizeof(msg) + fm[i].over);
		assert_true(bk_seal_overhead(k) <= BK_SEAL_OVERHEAD);
		for (size_t j = 0; j < 3; j++) {
			bk_buf_reset(&o);
			assert_int_equal(bk_keys_set_format(k, fm[j].format,
							    fm[j].seal, &err),
					 BK_OK);
			assert_int_equal(bk_open(k, BK_OBJ_INDEX, "index/x",
						 s.data, s.len, &o, &err),
					 i == j ? BK_OK : BK_ERR_AUTH);
		}
	}
	/* what this zbak does not know */
	assert_int_equal(bk_keys_set_format(k, 3, BK_SEAL_XCHACHA20POLY1305,
					    &err), BK_ERR_UNSUPPORTED);
	assert_string_equal(err.msg, "repository format version 3 (this zbak "
				     "reads versions 1 to 2)");
	assert_int_equal(bk_keys_set_format(k, 0, BK_SEAL_XCHACHA20POLY1305,
					    &err), BK_ERR_UNSUPPORTED);
	assert_int_equal(bk_keys_set_format(k, 1, BK_SEAL_AES256GCM, &err),
			 BK_ERR_UNSUPPORTED);
	assert_int_equal(bk_keys_set_format(k, 2, (enum bk_seal_alg)3, &err),
			 BK_ERR_UNSUPPORTED);
	/* a refused change leaves the keys as they were */
	assert_int_equal(bk_keys_format(k), 2);
	assert_int_equal(bk_keys_seal_alg(k), BK_SEAL_AES256GCM);
	assert_string_equal(bk_seal_name(BK_SEAL_AES256GCM), "aes-256-gcm");
	assert_int_equal(bk_seal_parse("xchacha20-poly1305"),
			 BK_SEAL_XCHACHA20POLY1305);
	assert_int_equal(bk_seal_parse("aes-128-gcm"), 0);
	assert_null(bk_seal_name((enum bk_seal_alg)9));
	bk_buf_release(&s);
	bk_buf_release(&o);
	bk_keys_free(k);
}

/* Every AES-GCM object has its own salt, hence its own key and nonce. */
static void gcm_salts_differ(void **state)
{
	struct fixture *f = *state;
	uint8_t pt[64] = { 0 };
	struct bk_buf a, b;
	struct bk_error err;

	assert_int_equal(bk_keys_seal_alg(f->k), BK_SEAL_AES256GCM);
	bk_buf_init(&a, 1024);
	bk_buf_init(&b, 1024);
	assert_int_equal(bk_seal(f->k, BK_OBJ_CHUNK, "c", pt, sizeof(pt), &a,
				 &err), BK_OK);
	assert_int_equal(bk_seal(f->k, BK_OBJ_CHUNK, "c", pt, sizeof(pt), &b,
				 &err), BK_OK);
	assert_memory_not_equal(a.data, b.data, 32);
	/* ciphertexts differ in every block: other key, other keystream */
	for (size_t off = 32; off < 32 + sizeof(pt); off += 16)
		assert_memory_not_equal(a.data + off, b.data + off, 16);
	bk_buf_release(&a);
	bk_buf_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(kdf_defaults),
		cmocka_unit_test(wrap_round_trip),
		cmocka_unit_test(wrap_generation),
		cmocka_unit_test(wrap_twice_differs),
		cmocka_unit_test(unwrap_wrong_pass),
		cmocka_unit_test(unwrap_other_repo),
		cmocka_unit_test(unwrap_every_byte),
		cmocka_unit_test(unwrap_truncated),
		cmocka_unit_test(unwrap_hostile_costs),
		cmocka_unit_test(wrap_respects_buf_max),
		cmocka_unit_test(seal_round_trip),
		cmocka_unit_test(open_elsewhere),
		cmocka_unit_test(open_bit_flips),
		cmocka_unit_test(seal_open_limits),
		cmocka_unit_test(shared_keys_threads),
		cmocka_unit_test(chunk_ids),
		cmocka_unit_test(stream_hash),
		cmocka_unit_test(hex_ids),
		cmocka_unit_test(kat_chunk_ids),
		cmocka_unit_test(kat_gcm_open),
		cmocka_unit_test(formats_apart),
		/* the sealing tests again, under format 2's two seals */
		cmocka_unit_test_setup_teardown(seal_round_trip, setup_gcm,
						teardown),
		cmocka_unit_test_setup_teardown(open_elsewhere, setup_gcm,
						teardown),
		cmocka_unit_test_setup_teardown(open_bit_flips, setup_gcm,
						teardown),
		cmocka_unit_test_setup_teardown(seal_open_limits, setup_gcm,
						teardown),
		cmocka_unit_test_setup_teardown(shared_keys_threads, setup_gcm,
						teardown),
		cmocka_unit_test_setup_teardown(chunk_ids, setup_gcm, teardown),
		cmocka_unit_test_setup_teardown(gcm_salts_differ, setup_gcm,
						teardown),
		cmocka_unit_test_setup_teardown(seal_round_trip, setup_xchacha2,
						teardown),
		cmocka_unit_test_setup_teardown(open_elsewhere, setup_xchacha2,
						teardown),
		cmocka_unit_test_setup_teardown(open_bit_flips, setup_xchacha2,
						teardown),
	};

	setenv("ZBAK_KDF_INSECURE_FAST", "1", 1);
	return cmocka_run_group_tests(tests, setup, teardown);
}
