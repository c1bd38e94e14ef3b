/* The repository module's internals (libbackup/repo, repo_impl.h), until
 * now reached only through the shell tests: manifests (round trip of every
 * field, the package line and its absence, unknown lines, refusal of
 * damaged, truncated and over-long text); snapshot names and their object
 * keys (round trips, refusals, no path tricks in a key); chunk encoding and
 * sealing with real keys (flipped bits, wrong ids, truncation); pack
 * headers, crafted and from the real packer; the in-memory chunk index;
 * and, through a repository in a temporary directory, an index object
 * written and loaded back, a damaged one skipped, a manifest stored and
 * loaded (and refused under another name). */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "repo/repo_impl.h"

/* ---- helpers ---- */

static void rm_rf(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	char sub[4096];

	if (!d) {
		unlink(path);
		return;
	}
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
		rm_rf(sub);
	}
	closedir(d);
	rmdir(path);
}

/* A deterministic id whose first 8 bytes (the index's hash) differ. */
static void make_id(struct bk_id *id, uint32_t n, uint8_t salt)
{
	for (size_t i = 0; i < sizeof(id->b); i++)
		id->b[i] = (uint8_t)(salt + i * 7u);
	/* spread n over the hashed bytes so that the table is exercised */
	id->b[0] = (uint8_t)(n * 2654435761u >> 24);
	id->b[1] = (uint8_t)(n >> 8);
	id->b[2] = (uint8_t)n;
	id->b[3] = (uint8_t)(n >> 16);
	id->b[4] = (uint8_t)(n >> 24);
}

/* A manifest with every field set to something recognisable. */
static void full_manifest(struct manifest *m, struct bk_id *segs, size_t n)
{
	memset(m, 0, sizeof(*m));
	snprintf(m->name, sizeof(m->name), "tank/home@daily-1");
	snprintf(m->dataset, sizeof(m->dataset), "tank/home");
	snprintf(m->snap, sizeof(m->snap), "daily-1");
	m->toguid = 0xfedcba9876543210ull;
	m->fromguid = 0x0123456789abcdefull;
	m->creation_time = 1700000000;
	m->stream_bytes = 123456789012ull;
	m->records = 4242;
	for (int t = 0; t < BK_DRR_NUMTYPES; t++)
		m->count[t] = 1000u + (uint64_t)t * 3u;
	m->substreams = 7;
	m->compound = true;
	m->package = MANIFEST_PACKAGE_FULL;
	m->end_checksum.word[0] = 0x1111111111111111ull;
	m->end_checksum.word[1] = 0x2222222222222222ull;
	m->end_checksum.word[2] = 0xffffffffffffffffull;
	m->end_checksum.word[3] = 0;
	make_id(&m->digest, 99, 0x55);
	m->chunks = 31337;
	m->new_bytes = 999999;
	m->started = 1700000100;
	m->finished = 1700000200;
	for (size_t i = 0; i < n; i++)
		make_id(&segs[i], (uint32_t)i, 0x10);
	m->segments = segs;
	m->nsegments = n;
}

static void assert_manifest_equal(const struct manifest *a,
				  const struct manifest *b)
{
	assert_string_equal(a->name, b->name);
	assert_string_equal(a->dataset, b->dataset);
	assert_string_equal(a->snap, b->snap);
	assert_true(a->toguid == b->toguid);
	assert_true(a->fromguid == b->fromguid);
	assert_true(a->creation_time == b->creation_time);
	assert_true(a->stream_bytes == b->stream_bytes);
	assert_true(a->records == b->records);
	assert_memory_equal(a->count, b->count, sizeof(a->count));
	assert_int_equal(a->substreams, b->substreams);
	assert_int_equal(a->compound, b->compound);
	assert_int_equal(a->package, b->package);
	assert_memory_equal(&a->end_checksum, &b->end_checksum,
			    sizeof(a->end_checksum));
	assert_memory_equal(&a->digest, &b->digest, sizeof(a->digest));
	assert_true(a->chunks == b->chunks);
	assert_true(a->new_bytes == b->new_bytes);
	assert_true(a->started == b->started);
	assert_true(a->finished == b->finished);
	assert_int_equal(a->nsegments, b->nsegments);
	assert_memory_equal(a->segments, b->segments,
			    a->nsegments * sizeof(*a->segments));
}

static enum bk_code parse_str(const char *s, struct manifest *m)
{
	struct bk_error err;

	return manifest_parse((const uint8_t *)s, strlen(s), m, &err);
}

/* ---- manifests ---- */

/* Every field survives encode and parse, for a full and an incremental
 * package, with several recipe segments in order; the "tool" line the
 * encoder writes is a key the parser does not know and skips. */
static void manifest_round_trip(void **state)
{
	static const uint8_t kinds[] = { MANIFEST_PACKAGE_FULL,
					 MANIFEST_PACKAGE_INCREMENTAL };
	struct bk_id segs[5];
	struct manifest m, got;
	struct bk_buf b;
	struct bk_error err;

	(void)state;
	for (size_t k = 0; k < sizeof(kinds); k++) {
		full_manifest(&m, segs, 5);
		m.package = kinds[k];
		bk_buf_init(&b, MAX_MANIFEST);
		assert_int_equal(manifest_encode(&m, &b, &err), BK_OK);
		assert_non_null(strstr((char *)b.data,
				       k ? "\npackage incremental\n"
					 : "\npackage full\n"));
		assert_non_null(strstr((char *)b.data, "\ntool zbak "));
		assert_int_equal(manifest_parse(b.data, b.len, &got, &err),
				 BK_OK);
		assert_manifest_equal(&m, &got);
		manifest_release(&got);
		assert_null(got.segments);
		bk_buf_release(&b);
	}
}

/* A manifest as an older zbak wrote it (no package line) parses with the
 * kind unknown; the encoder itself writes no package line for an unknown
 * kind, nor for a stream that is not a package (compound 0). */
static void manifest_without_package(void **state)
{
	struct bk_id segs[2];
	struct manifest m, got;
	struct bk_buf b;
	struct bk_error err;
	char *line, *end;

	(void)state;
	/* take a full package's text and cut its package line out */
	full_manifest(&m, segs, 2);
	bk_buf_init(&b, MAX_MANIFEST);
	assert_int_equal(manifest_encode(&m, &b, &err), BK_OK);
	line = strstr((char *)b.data, "\npackage full\n");
	assert_non_null(line);
	end = line + strlen("\npackage full");
	memmove(line, end, strlen(end) + 1);
	b.len = strlen((char *)b.data);
	assert_int_equal(manifest_parse(b.data, b.len, &got, &err), BK_OK);
	assert_int_equal(got.package, MANIFEST_PACKAGE_UNKNOWN);
	assert_true(got.compound);
	m.package = MANIFEST_PACKAGE_UNKNOWN;
	assert_manifest_equal(&m, &got);
	manifest_release(&got);

	/* unknown kind, and a plain stream: no package line written */
	for (int plain = 0; plain < 2; plain++) {
		full_manifest(&m, segs, 2);
		if (plain)
			m.compound = false; /* package stays FULL: ignored */
		else
			m.package = MANIFEST_PACKAGE_UNKNOWN;
		bk_buf_reset(&b);
		assert_int_equal(manifest_encode(&m, &b, &err), BK_OK);
		assert_null(strstr((char *)b.data, "package"));
		assert_int_equal(manifest_parse(b.data, b.len, &got, &err),
				 BK_OK);
		assert_int_equal(got.package, MANIFEST_PACKAGE_UNKNOWN);
		assert_int_equal(got.compound, !plain);
		manifest_release(&got);
	}
	bk_buf_release(&b);
}

/* Unknown "key value" lines (a later version's fields) are skipped, as
 * manifest.c documents; an unknown package kind reads as unknown. */
static void manifest_unknown_lines(void **state)
{
	struct bk_id segs[1];
	struct manifest m, got;
	struct bk_buf b, t;
	struct bk_error err;
	const char *nl;

	(void)state;
	full_manifest(&m, segs, 1);
	bk_buf_init(&b, MAX_MANIFEST);
	bk_buf_init(&t, MAX_MANIFEST);
	assert_int_equal(manifest_encode(&m, &b, &err), BK_OK);
	nl = strchr((char *)b.data, '\n');
	assert_non_null(nl);
	/* magic, then new lines, then the rest, then one more at the end */
	assert_int_equal(bk_buf_append(&t, b.data,
				       (size_t)(nl + 1 - (char *)b.data),
				       &err),
			 BK_OK);
	assert_int_equal(bk_buf_printf(&t, &err,
				       "future_field some value\n"
				       "x-vendor 1 2 3\n"),
			 BK_OK);
	assert_int_equal(bk_buf_append(&t, nl + 1,
				       b.len - (size_t)(nl + 1 -
							(char *)b.data),
				       &err),
			 BK_OK);
	assert_int_equal(bk_buf_printf(&t, &err, "zzz last\n"), BK_OK);
	assert_int_equal(manifest_parse(t.data, t.len, &got, &err), BK_OK);
	assert_manifest_equal(&m, &got);
	manifest_release(&got);

	/* a package kind this version does not know */
	bk_buf_reset(&t);
	assert_int_equal(bk_buf_append(&t, b.data, b.len, &err), BK_OK);
	assert_int_equal(bk_buf_printf(&t, &err, "package sideways\n"),
			 BK_OK);
	assert_int_equal(manifest_parse(t.data, t.len, &got, &err), BK_OK);
	assert_int_equal(got.package, MANIFEST_PACKAGE_UNKNOWN);
	manifest_release(&got);
	bk_buf_release(&b);
	bk_buf_release(&t);
}

/* Damaged text is refused with BK_ERR_FORMAT and a message, never a crash:
 * wrong magic, NUL bytes, over-long input and fields, bad numbers, missing
 * required lines, bad ids; and every prefix of a good manifest either is
 * refused or (cut at a line end after a complete recipe line) parses to
 * the same fields with no more segments. */
static void manifest_refusals(void **state)
{
	static const char hex64[] =
		"00112233445566778899aabbccddeeff"
		"00112233445566778899aabbccddeeff";
	char good_tail[512], text[4096], longname[700];
	struct bk_id segs[3];
	struct manifest m, got;
	struct bk_buf b;
	struct bk_error err;
	uint8_t *big;

	(void)state;
	snprintf(good_tail, sizeof(good_tail), "name p@s\ndigest %s\nrecipe %s\n",
		 hex64, hex64);
	/* the minimum that parses */
	snprintf(text, sizeof(text), "zbak-manifest 1\n%s", good_tail);
	assert_int_equal(parse_str(text, &got), BK_OK);
	assert_int_equal(got.nsegments, 1);
	manifest_release(&got);

	{
		/* each line appended to the minimum makes it bad */
		static const char *const bad[] = {
			"toguid zz\n",
			"toguid -1\n",
			"toguid 1ffffffffffffffff\n", /* > 64 bits */
			"creation_time 12abc\n",
			"records \n",
			"substreams 4294967296\n",
			"end_checksum 1/2/3\n",
			"counts 1 2 3\n", /* fewer than BK_DRR_NUMTYPES */
			"digest 0011\n",
			"recipe nothex\n",
			"noSpaceHere\n",
		};

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			snprintf(text, sizeof(text), "zbak-manifest 1\n%s%s",
				 good_tail, bad[i]);
			bk_error_clear(&err);
			assert_int_equal(manifest_parse((uint8_t *)text,
							strlen(text), &got,
							&err),
					 BK_ERR_FORMAT);
			assert_true(err.msg[0] != '\0');
			assert_null(got.segments);
		}
	}
	/* wrong magic / version, empty input */
	snprintf(text, sizeof(text), "zbak-manifest 2\n%s", good_tail);
	assert_int_equal(parse_str(text, &got), BK_ERR_FORMAT);
	assert_int_equal(parse_str("", &got), BK_ERR_FORMAT);
	assert_int_equal(parse_str("\n\n\n", &got), BK_ERR_FORMAT);
	/* each required line missing */
	snprintf(text, sizeof(text),
		 "zbak-manifest 1\ndigest %s\nrecipe %s\n", hex64, hex64);
	assert_int_equal(parse_str(text, &got), BK_ERR_FORMAT);
	snprintf(text, sizeof(text), "zbak-manifest 1\nname p@s\nrecipe %s\n",
		 hex64);
	assert_int_equal(parse_str(text, &got), BK_ERR_FORMAT);
	snprintf(text, sizeof(text), "zbak-manifest 1\nname p@s\ndigest %s\n",
		 hex64);
	assert_int_equal(parse_str(text, &got), BK_ERR_FORMAT);
	/* a name too long for the struct */
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	snprintf(text, sizeof(text),
		 "zbak-manifest 1\nname %s\ndigest %s\nrecipe %s\n", longname,
		 hex64, hex64);
	assert_int_equal(parse_str(text, &got), BK_ERR_FORMAT);
	/* a NUL byte inside */
	snprintf(text, sizeof(text), "zbak-manifest 1\n%s", good_tail);
	text[20] = '\0';
	assert_int_equal(manifest_parse((uint8_t *)text,
					strlen(text + 21) + 21, &got, &err),
			 BK_ERR_FORMAT);
	/* more than MAX_MANIFEST bytes */
	big = malloc(MAX_MANIFEST + 1);
	assert_non_null(big);
	memset(big, '\n', MAX_MANIFEST + 1);
	memcpy(big, "zbak-manifest 1\n", 16);
	assert_int_equal(manifest_parse(big, MAX_MANIFEST + 1, &got, &err),
			 BK_ERR_FORMAT);
	free(big);

	/* every truncation of a real manifest */
	full_manifest(&m, segs, 3);
	bk_buf_init(&b, MAX_MANIFEST);
	assert_int_equal(manifest_encode(&m, &b, &err), BK_OK);
	for (size_t cut = 0; cut < b.len; cut++) {
		enum bk_code rc = manifest_parse(b.data, cut, &got, &err);

		if (rc == BK_OK) {
			/* only at the end of a complete recipe line (with or
			 * without its newline) */
			const char *last = memchr(b.data + cut, '\n',
						  b.len - cut);
			size_t n = got.nsegments;

			assert_non_null(last);
			assert_true(n >= 1 && n <= 3);
			assert_true(cut == b.len - 1 ||
				    b.data[cut] == '\n' ||
				    b.data[cut - 1] == '\n');
			got.nsegments = m.nsegments = n;
			assert_manifest_equal(&m, &got);
			m.nsegments = 3;
			manifest_release(&got);
		} else {
			assert_int_equal(rc, BK_ERR_FORMAT);
			assert_null(got.segments);
		}
	}
	bk_buf_release(&b);
}

/* ---- names and keys ---- */

/* Ordinary and odd-but-legal names map to a key under snapshots/ and back
 * to themselves; the key has no "." path component (no "../" or "./"
 * tricks) and the snapshot part no '/'; the longest legal parts fit. */
static void names_round_trip(void **state)
{
	static const char *const names[] = {
		"tank/home@daily-2024-01-01",
		"pool@s",
		"pool/fs.with.dots@snap_1",
		"pool/my fs:x@snap with space",
		"pool/.hidden@..",
		"pool/../etc@x",   /* split accepts it: the key must be safe */
		"pool/./a/..@./b", /* likewise */
		"pool/caf\xc3\xa9@\xc3\x9f", /* UTF-8 */
		"pool/a%41b@100%",
	};
	char key[BK_REPO_KEY_MAX], back[BK_REPO_NAME_MAX];
	char ds[256], sn[256], name[600];
	struct bk_error err;

	(void)state;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		const char *at;

		assert_int_equal(repo_manifest_key(names[i], key, sizeof(key),
						   &err),
				 BK_OK);
		assert_int_equal(strncmp(key, "snapshots/", 10), 0);
		assert_true(key[10] != '.');
		assert_null(strstr(key, "/."));
		assert_null(strstr(key, "@."));
		at = strchr(key, '@');
		assert_non_null(at);
		assert_null(strchr(at, '/'));
		assert_null(strchr(at + 1, '@'));
		assert_int_equal(repo_name_from_key(key, back, sizeof(back),
						    &err),
				 BK_OK);
		assert_string_equal(back, names[i]);
		assert_int_equal(repo_split_name(names[i], ds, sizeof(ds), sn,
						 sizeof(sn), &err),
				 BK_OK);
		snprintf(name, sizeof(name), "%s@%s", ds, sn);
		assert_string_equal(name, names[i]);
	}
	/* an ordinary name stays readable in its key */
	assert_int_equal(repo_manifest_key("tank/home@daily-1", key,
					   sizeof(key), &err),
			 BK_OK);
	assert_string_equal(key, "snapshots/tank/home@daily-1");

	/* 255-byte dataset and snapshot names: the longest legal ones */
	memset(name, 'a', 255);
	name[255] = '@';
	memset(name + 256, 'b', 255);
	name[511] = '\0';
	assert_int_equal(repo_manifest_key(name, key, sizeof(key), &err),
			 BK_OK);
	assert_int_equal(repo_name_from_key(key, back, sizeof(back), &err),
			 BK_OK);
	assert_string_equal(back, name);
}

/* Bad names are refused with BK_ERR_USAGE by both split and key: no '@',
 * two '@', empty parts, leading, trailing or doubled '/', control
 * characters, parts too long (and a legal name whose escaped key would
 * not fit); bad keys are refused by repo_name_from_key. */
static void names_refused(void **state)
{
	static const char *const bad[] = {
		"",		"nosnap",      "a@b@c",	      "@snap",
		"pool@",	"/pool@s",     "pool/@s",     "pool//fs@s",
		"pool/fs/@s",	"pool\n@s",    "pool@s\t",    "pool\x7f@s",
		"@",
	};
	static const char *const badkeys[] = {
		"data/00/00",	      "snapshot/p@s",	  "snapshots/a%",
		"snapshots/a%4",      "snapshots/%zz@s",  "snapshots/%@s",
	};
	char key[BK_REPO_KEY_MAX], back[BK_REPO_NAME_MAX];
	char ds[256], sn[256], name[800];
	struct bk_error err;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		bk_error_clear(&err);
		assert_int_equal(repo_split_name(bad[i], ds, sizeof(ds), sn,
						 sizeof(sn), &err),
				 BK_ERR_USAGE);
		assert_true(err.msg[0] != '\0');
		assert_int_equal(repo_manifest_key(bad[i], key, sizeof(key),
						   &err),
				 BK_ERR_USAGE);
	}
	/* 256-byte dataset, then 256-byte snapshot */
	memset(name, 'a', 256);
	snprintf(name + 256, sizeof(name) - 256, "@s");
	assert_int_equal(repo_manifest_key(name, key, sizeof(key), &err),
			 BK_ERR_USAGE);
	snprintf(name, sizeof(name), "p@");
	memset(name + 2, 'b', 256);
	name[258] = '\0';
	assert_int_equal(repo_manifest_key(name, key, sizeof(key), &err),
			 BK_ERR_USAGE);
	/* legal lengths, but every byte escaped: the key would not fit */
	memset(name, ':', 255);
	snprintf(name + 255, sizeof(name) - 255, "@s");
	assert_int_equal(repo_split_name(name, ds, sizeof(ds), sn, sizeof(sn),
					 &err),
			 BK_OK);
	assert_int_equal(repo_manifest_key(name, key, sizeof(key), &err),
			 BK_ERR_USAGE);
	/* a short output buffer */
	assert_int_equal(repo_manifest_key("pool/fs@snap", key, 12, &err),
			 BK_ERR_USAGE);

	for (size_t i = 0; i < sizeof(badkeys) / sizeof(badkeys[0]); i++)
		assert_int_equal(repo_name_from_key(badkeys[i], back,
						    sizeof(back), &err),
				 BK_ERR_FORMAT);
	/* a name that does not fit the caller's buffer */
	assert_int_equal(repo_name_from_key("snapshots/pool/fs@snap", back, 8,
					    &err),
			 BK_ERR_FORMAT);
}

/* repo_name_from_key takes only the key zbak writes for a name: two hex
 * digits per escape, no NUL, a name repo_split_name takes, and one spelling
 * per name (an escape of a character that needs none is a second key). */
static void names_from_key_strict(void **state)
{
	static const char *const bad[] = {
		"snapshots/p%1G@s",	/* one digit, and the G swallowed */
		"snapshots/p% 1@s",	/* a blank */
		"snapshots/p%-1@s",	/* a sign */
		"snapshots/p%00x@s",	/* a NUL would cut the name short */
		"snapshots/pool@%61",	/* "pool@a" spelt a second way */
		"snapshots/pool@",	/* no snapshot part */
		"snapshots/p%",		/* an escape cut off */
	};
	char back[BK_REPO_NAME_MAX];
	struct bk_error err;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(repo_name_from_key(bad[i], back, sizeof(back),
						    &err),
				 BK_ERR_FORMAT);
}

/* ---- chunks ---- */

struct keyfix {
	struct bk_keys *k, *other;
};

static int keys_setup(void **state)
{
	static const uint8_t rid[BK_REPO_ID_LEN] = "test-repo-id-001";
	struct keyfix *f = calloc(1, sizeof(*f));
	struct bk_error err;

	if (!f || bk_crypto_init(&err) || bk_keys_generate(&f->k, &err) ||
	    bk_keys_generate(&f->other, &err))
		return -1;
	bk_keys_set_repo_id(f->k, rid);
	bk_keys_set_repo_id(f->other, rid);
	*state = f;
	return 0;
}

static int keys_teardown(void **state)
{
	struct keyfix *f = *state;

	bk_keys_free(f->k);
	bk_keys_free(f->other);
	free(f);
	return 0;
}

/* What chunk_encode stores raw: a random chunk, and one LZ4 would shrink
 * by less than 1/64 (not worth a decompression at every restore); and
 * what it compresses: mostly random chunks with compressible stretches.
 * Every one decodes to its bytes. */
static void chunk_raw_or_lz4(void **state)
{
	struct keyfix *f = *state;
	const size_t len = 128u << 10;
	uint8_t *data = malloc(len);
	struct bk_buf enc, out;
	struct bk_error err;
	struct bk_id id;

	assert_non_null(data);
	bk_buf_init(&enc, BK_DRR_MAX_PAYLOAD + 64);
	bk_buf_init(&out, BK_DRR_MAX_PAYLOAD + 1);
	for (int c = 0; c < 4; c++) {
		bk_random(data, len);
		if (c == 1) /* 1 KiB of zeros: LZ4 saves under 1/64 */
			memset(data + 5000, 0, 1024);
		if (c == 2) /* a quarter zeros, at the end */
			memset(data + len - len / 4, 0, len / 4);
		if (c == 3) /* 16 KiB of zeros every 32 KiB */
			for (size_t o = 0; o < len; o += 32u << 10)
				memset(data + o + (8u << 10), 0, 16u << 10);
		assert_int_equal(chunk_encode(data, len, &enc, &err), BK_OK);
		assert_int_equal(enc.data[0], c < 2 ? CHUNK_RAW : CHUNK_LZ4);
		if (c >= 2)
			assert_true(enc.len < len - len / 5);
		bk_chunk_id(f->k, data, len, &id);
		assert_int_equal(chunk_decode(f->k, &id, enc.data, enc.len,
					      &out, &err), BK_OK);
		assert_memory_equal(out.data, data, len);
	}
	bk_buf_release(&enc);
	bk_buf_release(&out);
	free(data);
}

/* Encode, seal, open and decode give the chunk back, LZ4 for compressible
 * data and raw for random data; the raw length is recorded either way. */
static void chunk_round_trip(void **state)
{
	struct keyfix *f = *state;
	const size_t sizes[] = { 1, 4096, 65536, 1u << 20 };
	struct bk_buf enc, sealed, plain, out;
	struct bk_error err;
	char hex[2 * BK_ID_LEN + 1];
	uint8_t *data = malloc(1u << 20);

	assert_non_null(data);
	bk_buf_init(&enc, BK_DRR_MAX_PAYLOAD + 64);
	bk_buf_init(&sealed, BK_DRR_MAX_PAYLOAD + 128);
	bk_buf_init(&plain, BK_DRR_MAX_PAYLOAD + 64);
	bk_buf_init(&out, BK_DRR_MAX_PAYLOAD + 1);
	for (int random = 0; random < 2; random++) {
		for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
			size_t len = sizes[s];
			struct bk_id id;

			if (random)
				bk_random(data, len);
			else
				for (size_t i = 0; i < len; i++)
					data[i] = (uint8_t)("abcd"[i % 4]);
			bk_chunk_id(f->k, data, len, &id);
			assert_int_equal(chunk_encode(data, len, &enc, &err),
					 BK_OK);
			assert_int_equal(get_le32(enc.data + 1), len);
			if (random || len < 64)
				assert_int_equal(enc.data[0], CHUNK_RAW);
			else {
				assert_int_equal(enc.data[0], CHUNK_LZ4);
				assert_true(enc.len < len / 4);
			}
			assert_int_equal(chunk_decode(f->k, &id, enc.data,
						      enc.len, &out, &err),
					 BK_OK);
			assert_int_equal(out.len, len);
			assert_memory_equal(out.data, data, len);

			bk_id_hex(&id, hex);
			bk_buf_reset(&sealed);
			assert_int_equal(bk_seal(f->k, BK_OBJ_CHUNK, hex,
						 enc.data, enc.len, &sealed,
						 &err),
					 BK_OK);
			assert_int_equal(chunk_open_blob(f->k, &id, "test", 0,
							 sealed.data,
							 sealed.len, &plain,
							 &out, &err),
					 BK_OK);
			assert_int_equal(out.len, len);
			assert_memory_equal(out.data, data, len);
		}
	}
	/* larger than a record's payload may be: refused */
	assert_int_equal(chunk_encode(data, BK_DRR_MAX_PAYLOAD + 1, &enc,
				      &err),
			 BK_ERR_INTERNAL);
	free(data);
	bk_buf_release(&enc);
	bk_buf_release(&sealed);
	bk_buf_release(&plain);
	bk_buf_release(&out);
}

/* Damage is refused, never accepted or crashed on: a flipped bit anywhere
 * in a sealed blob (BK_ERR_AUTH), a wrong id (the seal names the id:
 * AUTH; after the seal: CHECKSUM), other keys, a truncated blob; and in
 * the encoded chunk itself a bad flag, a short header, lying lengths and
 * damaged LZ4 data (FORMAT or CHECKSUM, with a message). */
static void chunk_damage_refused(void **state)
{
	struct keyfix *f = *state;
	struct bk_buf enc, sealed, plain, out, bad;
	struct bk_error err;
	struct bk_id id, wrong;
	char hex[2 * BK_ID_LEN + 1];
	uint8_t data[8192];
	enum bk_code rc;

	bk_buf_init(&enc, BK_DRR_MAX_PAYLOAD + 64);
	bk_buf_init(&sealed, BK_DRR_MAX_PAYLOAD + 128);
	bk_buf_init(&plain, BK_DRR_MAX_PAYLOAD + 64);
	bk_buf_init(&out, BK_DRR_MAX_PAYLOAD + 1);
	bk_buf_init(&bad, BK_DRR_MAX_PAYLOAD + 128);
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i / 100); /* compressible: LZ4 */
	bk_chunk_id(f->k, data, sizeof(data), &id);
	assert_int_equal(chunk_encode(data, sizeof(data), &enc, &err), BK_OK);
	assert_int_equal(enc.data[0], CHUNK_LZ4);
	bk_id_hex(&id, hex);
	assert_int_equal(bk_seal(f->k, BK_OBJ_CHUNK, hex, enc.data, enc.len,
				 &sealed, &err),
			 BK_OK);

	/* one flipped bit at every byte of the sealed blob */
	for (size_t i = 0; i < sealed.len; i++) {
		bk_buf_reset(&bad);
		assert_int_equal(bk_buf_append(&bad, sealed.data, sealed.len,
					       &err),
				 BK_OK);
		bad.data[i] ^= (uint8_t)(1u << (i % 8));
		bk_error_clear(&err);
		assert_int_equal(chunk_open_blob(f->k, &id, "pack", 77,
						 bad.data, bad.len, &plain,
						 &out, &err),
				 BK_ERR_AUTH);
		assert_non_null(strstr(err.msg, "offset 77"));
	}
	/* every truncation */
	for (size_t cut = 0; cut < sealed.len; cut++) {
		rc = chunk_open_blob(f->k, &id, "pack", 0, sealed.data, cut,
				     &plain, &out, &err);
		assert_true(rc == BK_ERR_AUTH || rc == BK_ERR_FORMAT);
	}
	/* the wrong id, other keys */
	wrong = id;
	wrong.b[31] ^= 1;
	assert_int_equal(chunk_open_blob(f->k, &wrong, "pack", 0, sealed.data,
					 sealed.len, &plain, &out, &err),
			 BK_ERR_AUTH);
	assert_int_equal(chunk_open_blob(f->other, &id, "pack", 0,
					 sealed.data, sealed.len, &plain,
					 &out, &err),
			 BK_ERR_AUTH);
	assert_int_equal(chunk_decode(f->k, &wrong, enc.data, enc.len, &out,
				      &err),
			 BK_ERR_CHECKSUM);
	/* keyed ids: the other keys' id of the same bytes does not match */
	assert_int_equal(chunk_decode(f->other, &id, enc.data, enc.len, &out,
				      &err),
			 BK_ERR_CHECKSUM);

	/* the encoded chunk itself (what a seal would protect) */
	for (size_t i = 0; i < enc.len; i++) {
		bk_buf_reset(&bad);
		assert_int_equal(bk_buf_append(&bad, enc.data, enc.len, &err),
				 BK_OK);
		bad.data[i] ^= 0x20;
		bk_error_clear(&err);
		rc = chunk_decode(f->k, &id, bad.data, bad.len, &out, &err);
		assert_true(rc == BK_ERR_FORMAT || rc == BK_ERR_CHECKSUM ||
			    rc == BK_ERR_LIMIT);
		assert_true(err.msg[0] != '\0');
	}
	for (size_t cut = 0; cut < enc.len; cut++) {
		rc = chunk_decode(f->k, &id, enc.data, cut, &out, &err);
		assert_true(rc == BK_ERR_FORMAT || rc == BK_ERR_CHECKSUM);
	}
	/* a flag no version wrote */
	bk_buf_reset(&bad);
	assert_int_equal(bk_buf_append(&bad, enc.data, enc.len, &err), BK_OK);
	bad.data[0] = 2;
	assert_int_equal(chunk_decode(f->k, &id, bad.data, bad.len, &out,
				      &err),
			 BK_ERR_FORMAT);
	/* a raw length of 4 GiB - 1: bounded by out's maximum, not allocated */
	put_le32(bad.data + 1, 0xffffffffu);
	bad.data[0] = CHUNK_LZ4;
	rc = chunk_decode(f->k, &id, bad.data, bad.len, &out, &err);
	assert_true(rc == BK_ERR_LIMIT || rc == BK_ERR_FORMAT);
	/* a raw chunk whose length field is one more than its bytes */
	bk_random(data, 100);
	assert_int_equal(chunk_encode(data, 100, &enc, &err), BK_OK);
	bk_chunk_id(f->k, data, 100, &id);
	assert_int_equal(enc.data[0], CHUNK_RAW);
	put_le32(enc.data + 1, 101);
	assert_int_equal(chunk_decode(f->k, &id, enc.data, enc.len, &out,
				      &err),
			 BK_ERR_FORMAT);

	bk_buf_release(&enc);
	bk_buf_release(&sealed);
	bk_buf_release(&plain);
	bk_buf_release(&out);
	bk_buf_release(&bad);
}

/* An empty chunk encodes to its bare header and decodes back to zero
 * bytes under the sanitizers (no NULL pointer reaches memcpy). */
static void chunk_empty(void **state)
{
	struct keyfix *f = *state;
	struct bk_buf enc, out;
	struct bk_error err;
	struct bk_id id;

	bk_buf_init(&enc, 64);
	bk_buf_init(&out, 64);
	bk_chunk_id(f->k, "", 0, &id);
	assert_int_equal(chunk_encode((const uint8_t *)"", 0, &enc, &err),
			 BK_OK);
	assert_int_equal(enc.len, CHUNK_HDR);
	assert_int_equal(chunk_decode(f->k, &id, enc.data, enc.len, &out,
				      &err),
			 BK_OK);
	assert_int_equal(out.len, 0);
	bk_buf_release(&enc);
	bk_buf_release(&out);
}

/* ---- pack headers ---- */

static void put_entry(uint8_t *q, uint32_t i)
{
	struct bk_id id;

	make_id(&id, i, 0x77);
	memcpy(q, id.b, 32);
	put_le64(q + 32, (uint64_t)i * 1000u + 0x100000000ull);
	put_le32(q + 40, 500u + i);
	put_le32(q + 44, 4096u + i);
}

/* A crafted header parses entry by entry; zero entries is a valid empty
 * header; a count larger or smaller than the bytes, a truncated header,
 * bad magic and a 4-billion count are refused (no allocation of it). */
static void pack_header_bounds(void **state)
{
	enum { N = 5 };
	uint8_t h[12 + N * 48];
	struct pack_entry *e;
	struct bk_error err;
	size_t n;

	(void)state;
	memcpy(h, "ZBKPH001", 8);
	put_le32(h + 8, N);
	for (uint32_t i = 0; i < N; i++)
		put_entry(h + 12 + i * 48, i);
	assert_int_equal(pack_parse_header(h, sizeof(h), &e, &n, &err), BK_OK);
	assert_int_equal(n, N);
	for (uint32_t i = 0; i < N; i++) {
		struct bk_id id;

		make_id(&id, i, 0x77);
		assert_memory_equal(&e[i].id, &id, sizeof(id));
		assert_true(e[i].off == (uint64_t)i * 1000u + 0x100000000ull);
		assert_int_equal(e[i].len, 500u + i);
		assert_int_equal(e[i].rawlen, 4096u + i);
	}
	free(e);

	/* zero entries */
	put_le32(h + 8, 0);
	assert_int_equal(pack_parse_header(h, 12, &e, &n, &err), BK_OK);
	assert_int_equal(n, 0);
	free(e);

	/* count disagrees with the bytes */
	put_le32(h + 8, N + 1);
	assert_int_equal(pack_parse_header(h, sizeof(h), &e, &n, &err),
			 BK_ERR_FORMAT);
	assert_null(e);
	assert_int_equal(n, 0);
	put_le32(h + 8, N - 1);
	assert_int_equal(pack_parse_header(h, sizeof(h), &e, &n, &err),
			 BK_ERR_FORMAT);
	put_le32(h + 8, 0xffffffffu);
	assert_int_equal(pack_parse_header(h, sizeof(h), &e, &n, &err),
			 BK_ERR_FORMAT);
	assert_int_equal(pack_parse_header(h, 12, &e, &n, &err),
			 BK_ERR_FORMAT);
	/* every truncation of a good header */
	put_le32(h + 8, N);
	for (size_t cut = 0; cut < sizeof(h); cut++) {
		enum bk_code rc = pack_parse_header(h, cut, &e, &n, &err);

		assert_int_equal(rc, BK_ERR_FORMAT);
		assert_null(e);
	}
	/* bad magic */
	h[0] = 'X';
	assert_int_equal(pack_parse_header(h, sizeof(h), &e, &n, &err),
			 BK_ERR_FORMAT);
}

/* ---- the in-memory index ---- */

struct collect {
	size_t n;
	struct bk_index *other; /* every entry must be in it, same place */
};

static enum bk_code collect_fn(void *ctx, const struct bk_id *id,
			       const struct bk_loc *loc, struct bk_error *err)
{
	struct collect *c = ctx;
	struct bk_loc o;

	(void)err;
	c->n++;
	if (c->other) {
		assert_true(index_get(c->other, id, &o));
		assert_memory_equal(&o, loc, sizeof(o));
	}
	return BK_OK;
}

static enum bk_code stop_fn(void *ctx, const struct bk_id *id,
			    const struct bk_loc *loc, struct bk_error *err)
{
	size_t *n = ctx;

	(void)id;
	(void)loc;
	return ++*n == 3 ? bk_error_set(err, BK_ERR_IO, "stop") : BK_OK;
}

/* claim/set/get: a claimed chunk exists for further claims but is not
 * found (pending) nor visited; set makes it found with its place; counts
 * include pending claims; foreach visits each stored entry once and stops
 * at a callback's error; no pack is "listed" before index_load. */
static void index_memory_basics(void **state)
{
	struct bk_index *idx;
	struct bk_error err;
	struct bk_id a, b, pk;
	struct bk_loc loc, got;
	struct collect c = { 0, NULL };
	size_t stops = 0;

	(void)state;
	assert_int_equal(index_new(&idx, &err), BK_OK);
	make_id(&a, 1, 0);
	make_id(&b, 2, 0);
	make_id(&pk, 3, 0xaa);
	assert_int_equal(index_count(idx), 0);
	assert_false(index_get(idx, &a, &got));

	assert_int_equal(index_claim(idx, &a, &err), BK_OK);
	assert_int_equal(index_claim(idx, &a, &err), BK_ERR_EXISTS);
	assert_int_equal(index_count(idx), 1);
	assert_false(index_get(idx, &a, &got)); /* pending */
	assert_int_equal(index_foreach(idx, collect_fn, &c, &err), BK_OK);
	assert_int_equal(c.n, 0);

	loc = (struct bk_loc){ pk, 4096, 321, 8192 };
	index_set(idx, &a, &loc, IDX_NEW);
	assert_true(index_get(idx, &a, &got));
	assert_memory_equal(&got, &loc, sizeof(loc));
	assert_true(index_get(idx, &a, NULL));
	assert_int_equal(index_claim(idx, &a, &err), BK_ERR_EXISTS);

	/* set without a claim; then moved to another place */
	index_set(idx, &b, &loc, 0);
	loc.off = 1;
	index_set(idx, &b, &loc, 0);
	assert_true(index_get(idx, &b, &got));
	assert_true(got.off == 1);
	assert_int_equal(index_count(idx), 2);
	c.n = 0;
	assert_int_equal(index_foreach(idx, collect_fn, &c, &err), BK_OK);
	assert_int_equal(c.n, 2);
	assert_false(index_pack_listed(idx, &pk));
	assert_int_equal(index_objects(idx), 0);

	/* a callback's error stops the walk and is returned */
	for (uint32_t i = 10; i < 20; i++) {
		make_id(&b, i, 0);
		index_set(idx, &b, &loc, 0);
	}
	bk_error_clear(&err);
	assert_int_equal(index_foreach(idx, stop_fn, &stops, &err),
			 BK_ERR_IO);
	assert_int_equal(stops, 3);
	assert_string_equal(err.msg, "stop");
	index_free(idx);
	index_free(NULL);
}

/* Many chunks over many packs: the tables grow (chunks past 1024 slots,
 * packs past 256) and every entry keeps its place. */
static void index_memory_growth(void **state)
{
	enum { CHUNKS = 20000, PACKS = 700 };
	struct bk_index *idx;
	struct bk_error err;
	struct collect c = { 0, NULL };

	(void)state;
	assert_int_equal(index_new(&idx, &err), BK_OK);
	for (uint32_t i = 0; i < CHUNKS; i++) {
		struct bk_id id;
		struct bk_loc loc;

		make_id(&id, i, 1);
		make_id(&loc.pack, i % PACKS, 2);
		loc.off = (uint64_t)i << 20;
		loc.len = i;
		loc.rawlen = i + 1;
		if (i % 3 == 0)
			assert_int_equal(index_claim(idx, &id, &err), BK_OK);
		index_set(idx, &id, &loc, IDX_NEW);
	}
	assert_int_equal(index_count(idx), CHUNKS);
	for (uint32_t i = 0; i < CHUNKS; i++) {
		struct bk_id id, pack;
		struct bk_loc got;

		make_id(&id, i, 1);
		make_id(&pack, i % PACKS, 2);
		assert_true(index_get(idx, &id, &got));
		assert_memory_equal(&got.pack, &pack, sizeof(pack));
		assert_true(got.off == (uint64_t)i << 20);
		assert_int_equal(got.len, i);
		assert_int_equal(got.rawlen, i + 1);
	}
	assert_int_equal(index_foreach(idx, collect_fn, &c, &err), BK_OK);
	assert_int_equal(c.n, CHUNKS);
	index_free(idx);
}

/* ---- through a repository in a temporary directory ---- */

static const char pass[] = "correct horse battery staple";

struct repofix {
	char dir[64], url[128];
	struct bk_repo *r;
};

static int repo_setup(void **state)
{
	struct repofix *f = calloc(1, sizeof(*f));
	struct bk_error err;

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/zbak-repo-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->url, sizeof(f->url), "%s/repo", f->dir);
	if (bk_repo_init(f->url, pass, strlen(pass), NULL, &err) ||
	    bk_repo_open(f->url, pass, strlen(pass), &f->r, &err)) {
		fprintf(stderr, "%s\n", err.msg);
		return -1;
	}
	*state = f;
	return 0;
}

static int repo_teardown(void **state)
{
	struct repofix *f = *state;

	bk_repo_close(f->r);
	rm_rf(f->dir);
	free(f);
	return 0;
}

static void count_damage(void *ctx, const char *line)
{
	size_t *n = ctx;

	assert_non_null(strstr(line, "does not open"));
	++*n;
}

/* index_write stores the NEW entries (not the plain or pending ones) as
 * one object; index_load of a fresh index reads back exactly those, with
 * their packs listed; writing again with nothing new stores nothing; a
 * damaged index object is reported through the callback and skipped, not
 * fatal. */
static void index_store_round_trip(void **state)
{
	struct repofix *f = *state;
	struct bk_index *idx, *back;
	struct keylist keys = { 0 };
	struct bk_error err;
	struct collect c = { 0, NULL };
	struct bk_id id, pk, unknown;
	uint64_t stored = 0;
	size_t damaged = 0;
	char path[600];
	FILE *fp;
	int ch;

	assert_int_equal(index_new(&idx, &err), BK_OK);
	for (uint32_t i = 0; i < 1500; i++) {
		struct bk_loc loc;

		make_id(&id, i, 3);
		make_id(&loc.pack, i % 40, 4);
		loc.off = (uint64_t)i * 9000u;
		loc.len = 1000u + i;
		loc.rawlen = 2000u + i;
		index_set(idx, &id, &loc, IDX_NEW);
	}
	make_id(&pk, 1, 6);
	make_id(&id, 5000, 3); /* known already: not written */
	index_set(idx, &id, &(struct bk_loc){ pk, 0, 1, 1 }, 0);
	make_id(&id, 5001, 3); /* pending: not written */
	assert_int_equal(index_claim(idx, &id, &err), BK_OK);

	assert_int_equal(index_write(f->r, idx, &stored, &err), BK_OK);
	assert_true(stored > 1500u * 80u);
	assert_int_equal(index_objects(idx), 1);
	/* the entries are ordinary now: a second write has nothing to do */
	stored = 0;
	assert_int_equal(index_write(f->r, idx, &stored, &err), BK_OK);
	assert_true(stored == 0);
	assert_int_equal(keylist_collect(f->r->store, "index/", &keys, &err),
			 BK_OK);
	assert_int_equal(keys.n, 1);

	assert_int_equal(index_new(&back, &err), BK_OK);
	assert_int_equal(index_load(f->r, back, false, false, count_damage,
				    &damaged, &err),
			 BK_OK);
	assert_int_equal(damaged, 0);
	assert_int_equal(index_objects(back), 1);
	assert_int_equal(index_count(back), 1500);
	c.other = idx;
	assert_int_equal(index_foreach(back, collect_fn, &c, &err), BK_OK);
	assert_int_equal(c.n, 1500);
	make_id(&id, 5000, 3);
	assert_false(index_get(back, &id, NULL));
	make_id(&pk, 7, 4);
	assert_true(index_pack_listed(back, &pk));
	make_id(&unknown, 7, 5);
	assert_false(index_pack_listed(back, &unknown));
	index_free(back);

	/* damage the stored object: skipped and reported */
	snprintf(path, sizeof(path), "%s/%s", f->url, keys.key[0]);
	fp = fopen(path, "r+b");
	assert_non_null(fp);
	assert_int_equal(fseek(fp, 40, SEEK_SET), 0);
	ch = fgetc(fp);
	assert_int_equal(fseek(fp, 40, SEEK_SET), 0);
	fputc(ch ^ 0x01, fp);
	fclose(fp);
	assert_int_equal(index_new(&back, &err), BK_OK);
	assert_int_equal(index_load(f->r, back, false, false, count_damage,
				    &damaged, &err),
			 BK_OK);
	assert_int_equal(damaged, 1);
	assert_int_equal(index_objects(back), 0);
	assert_int_equal(index_count(back), 0);
	index_free(back);
	keylist_free(&keys);
	index_free(idx);
}

/* The real packer writes a pack whose header pack_read_header opens and
 * parses: one entry per chunk added, at offsets where chunk_open_blob
 * finds each chunk back; the repository's index places each chunk in
 * that pack (IDX_NEW). */
static void pack_real_writer(void **state)
{
	enum { N = 6 };
	struct repofix *f = *state;
	struct packer *pk;
	struct bk_index *idx;
	struct pack_entry *e;
	struct keylist packs = { 0 };
	struct bk_buf enc, raw, plain, out;
	struct bk_error err;
	struct bk_id ids[N], pack;
	struct bk_loc loc;
	uint8_t data[N][3000];
	size_t n;

	bk_buf_init(&enc, BK_DRR_MAX_PAYLOAD + 64);
	bk_buf_init(&raw, 64u << 20);
	bk_buf_init(&plain, BK_DRR_MAX_PAYLOAD + 64);
	bk_buf_init(&out, BK_DRR_MAX_PAYLOAD + 1);
	assert_int_equal(packer_new(f->r, &pk, &err), BK_OK);
	for (int i = 0; i < N; i++) {
		if (i % 2)
			bk_random(data[i], sizeof(data[i]));
		else
			memset(data[i], 'a' + i, sizeof(data[i]));
		bk_chunk_id(f->r->keys, data[i], sizeof(data[i]), &ids[i]);
		assert_int_equal(chunk_encode(data[i], sizeof(data[i]), &enc,
					      &err),
				 BK_OK);
		assert_int_equal(packer_add(pk, &ids[i], enc.data, enc.len,
					    sizeof(data[i]), &err),
				 BK_OK);
	}
	assert_int_equal(packer_finish(pk, &err), BK_OK);
	assert_int_equal(packer_packs(pk), 1);
	assert_false(packer_failed(pk, &err));
	packer_free(pk);

	assert_int_equal(keylist_collect(f->r->store, "data/", &packs, &err),
			 BK_OK);
	assert_int_equal(packs.n, 1);
	assert_int_equal(bk_id_parse(strrchr(packs.key[0], '/') + 1, &pack,
				     &err),
			 BK_OK);
	assert_int_equal(pack_read_header(f->r, &pack, packs.size[0], &e, &n,
					  &err),
			 BK_OK);
	assert_int_equal(n, N);
	assert_int_equal(bk_store_get(f->r->store, packs.key[0], &raw, &err),
			 BK_OK);
	assert_int_equal(repo_index(f->r, &idx, &err), BK_OK);
	for (size_t j = 0; j < n; j++) {
		int i = -1;

		for (int k = 0; k < N; k++)
			if (!memcmp(&ids[k], &e[j].id, sizeof(ids[k])))
				i = k;
		assert_true(i >= 0);
		assert_int_equal(e[j].rawlen, sizeof(data[i]));
		assert_true(e[j].off + e[j].len <= raw.len);
		assert_int_equal(chunk_open_blob(f->r->keys, &e[j].id,
						 packs.key[0], e[j].off,
						 raw.data + e[j].off,
						 e[j].len, &plain, &out,
						 &err),
				 BK_OK);
		assert_memory_equal(out.data, data[i], sizeof(data[i]));
		assert_true(index_get(idx, &e[j].id, &loc));
		assert_memory_equal(&loc.pack, &pack, sizeof(pack));
		assert_true(loc.off == e[j].off);
		assert_int_equal(loc.len, e[j].len);
	}
	/* a size that cuts the trailer off, and one too short for it */
	free(e);
	assert_int_equal(pack_read_header(f->r, &pack, packs.size[0] - 1, &e,
					  &n, &err),
			 BK_ERR_FORMAT);
	assert_int_equal(pack_read_header(f->r, &pack, 5, &e, &n, &err),
			 BK_ERR_FORMAT);
	keylist_free(&packs);
	bk_buf_release(&enc);
	bk_buf_release(&raw);
	bk_buf_release(&plain);
	bk_buf_release(&out);
}

/* A manifest stored sealed under its key loads back with every field and
 * the sealed object's identity; the same bytes copied under another
 * snapshot's key are refused (the seal binds the key). */
static void manifest_store_round_trip(void **state)
{
	struct repofix *f = *state;
	struct bk_id segs[3], ident;
	struct manifest m, got;
	struct bk_buf b, sealed;
	struct bk_error err;
	char key[BK_REPO_KEY_MAX], other[BK_REPO_KEY_MAX];

	full_manifest(&m, segs, 3);
	bk_buf_init(&b, MAX_MANIFEST);
	bk_buf_init(&sealed, MAX_MANIFEST + BK_SEAL_OVERHEAD);
	assert_int_equal(manifest_encode(&m, &b, &err), BK_OK);
	assert_int_equal(repo_manifest_key(m.name, key, sizeof(key), &err),
			 BK_OK);
	assert_int_equal(repo_put_sealed_id(f->r, BK_OBJ_MANIFEST, key, b.data,
					    b.len, true, NULL, &ident, &err),
			 BK_OK);
	/* excl: a second one under the same name is refused */
	assert_int_equal(repo_put_sealed(f->r, BK_OBJ_MANIFEST, key, b.data,
					 b.len, true, NULL, &err),
			 BK_ERR_EXISTS);
	assert_int_equal(manifest_load(f->r, key, &got, &err), BK_OK);
	assert_manifest_equal(&m, &got);
	assert_memory_equal(&got.ident, &ident, sizeof(ident));
	manifest_release(&got);

	assert_int_equal(bk_store_get(f->r->store, key, &sealed, &err), BK_OK);
	assert_int_equal(repo_manifest_key("tank/home@daily-2", other,
					   sizeof(other), &err),
			 BK_OK);
	assert_int_equal(bk_store_put(f->r->store, other, sealed.data,
				      sealed.len, &err),
			 BK_OK);
	bk_error_clear(&err);
	assert_int_equal(manifest_load(f->r, other, &got, &err), BK_ERR_AUTH);
	assert_non_null(strstr(err.msg, "moved from another name"));
	assert_null(got.segments);
	assert_int_equal(manifest_load(f->r, "snapshots/none@x", &got, &err),
			 BK_ERR_NOTFOUND);
	bk_buf_release(&b);
	bk_buf_release(&sealed);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(manifest_round_trip),
		cmocka_unit_test(manifest_without_package),
		cmocka_unit_test(manifest_unknown_lines),
		cmocka_unit_test(manifest_refusals),
		cmocka_unit_test(names_round_trip),
		cmocka_unit_test(names_refused),
		cmocka_unit_test(names_from_key_strict),
		cmocka_unit_test(pack_header_bounds),
		cmocka_unit_test(index_memory_basics),
		cmocka_unit_test(index_memory_growth),
		cmocka_unit_test_setup_teardown(chunk_raw_or_lz4, keys_setup,
						keys_teardown),
		cmocka_unit_test_setup_teardown(chunk_round_trip, keys_setup,
						keys_teardown),
		cmocka_unit_test_setup_teardown(chunk_damage_refused,
						keys_setup, keys_teardown),
		cmocka_unit_test_setup_teardown(chunk_empty, keys_setup,
						keys_teardown),
		cmocka_unit_test_setup_teardown(index_store_round_trip,
						repo_setup, repo_teardown),
		cmocka_unit_test_setup_teardown(pack_real_writer, repo_setup,
						repo_teardown),
		cmocka_unit_test_setup_teardown(manifest_store_round_trip,
						repo_setup, repo_teardown),
	};

	setenv("ZBAK_KDF_INSECURE_FAST", "1", 1);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
