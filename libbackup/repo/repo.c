/* SPDX-License-Identifier: MIT */
/* Repository life cycle, object names, sealed get/put. */
#include <inttypes.h>
#include <stdarg.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backup/util.h"
#include "repo/repo_impl.h"

#define CONFIG_KEY "config"
#define KEYS_KEY "keys"
#define MAX_KEYS_BLOB (64u << 10)
#define MAX_CONFIG_BLOB 512u

enum bk_code repo_split_name(const char *name, char *dataset, size_t dn,
			     char *snap, size_t sn, struct bk_error *err)
{
	const char *at = strchr(name, '@');
	size_t dlen;

	if (!at || strchr(at + 1, '@'))
		return bk_error_set(err, BK_ERR_USAGE,
				    "'%s' is not a snapshot name "
				    "(pool/fs@snap)", name);
	dlen = (size_t)(at - name);
	if (dlen == 0 || at[1] == '\0')
		return bk_error_set(err, BK_ERR_USAGE,
				    "'%s': empty dataset or snapshot name",
				    name);
	if (dlen >= dn || strlen(at + 1) >= sn)
		return bk_error_set(err, BK_ERR_USAGE, "'%s': name too long",
				    name);
	for (const char *c = name; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			return bk_error_set(err, BK_ERR_USAGE,
					    "snapshot name has a control "
					    "character");
	if (name[0] == '/' || at[-1] == '/' || strstr(name, "//"))
		return bk_error_set(err, BK_ERR_USAGE,
				    "'%s': bad dataset name", name);
	memcpy(dataset, name, dlen);
	dataset[dlen] = '\0';
	memcpy(snap, at + 1, strlen(at + 1) + 1); /* length checked above */
	return BK_OK;
}

static int plain_char(char c, bool slash_ok)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-' ||
	       (slash_ok && c == '/');
}

static size_t encode(const char *s, bool slash_ok, char *out, size_t n)
{
	size_t o = 0;

	for (; *s; s++) {
		if (plain_char(*s, slash_ok) && !(*s == '.' && (o == 0 || out[o - 1] == '/'))) {
			if (o + 1 >= n)
				return 0;
			out[o++] = *s;
		} else {
			if (o + 3 >= n)
				return 0;
			snprintf(out + o, 4, "%%%02X", (unsigned char)*s);
			o += 3;
		}
	}
	out[o] = '\0';
	return o;
}

enum bk_code repo_manifest_key(const char *name, char *out, size_t n,
			       struct bk_error *err)
{
	char ds[256], sn[256], eds[800], esn[800];
	enum bk_code rc = repo_split_name(name, ds, sizeof(ds), sn, sizeof(sn),
					  err);

	if (rc)
		return rc;
	if (!encode(ds, true, eds, sizeof(eds)) ||
	    !encode(sn, false, esn, sizeof(esn)) ||
	    (size_t)snprintf(out, n, "snapshots/%s@%s", eds, esn) >= n)
		return bk_error_set(err, BK_ERR_USAGE, "'%s': name too long",
				    name);
	return BK_OK;
}

/* The name a manifest key stands for.  Only a key that zbak would write for
 * that name is one (repo_manifest_key gives it back to the letter): one
 * spelling per name, and no escape that hides a NUL, a sign or a blank. */
enum bk_code repo_name_from_key(const char *key, char *out, size_t n,
				struct bk_error *err)
{
	char canon[BK_REPO_KEY_MAX];
	const char *p = key;
	size_t o = 0;

	if (strncmp(p, "snapshots/", 10) != 0)
		return bk_error_set(err, BK_ERR_FORMAT, "%s: not a manifest",
				    key);
	for (p += 10; *p; p++) {
		char c = *p;

		if (c == '%') {
			int hi = bk_hexval(p[1]);
			int lo = hi < 0 ? -1 : bk_hexval(p[2]);

			if (hi < 0 || lo < 0 || (hi | lo) == 0)
				return bk_error_set(err, BK_ERR_FORMAT,
						    "%s: bad escape", key);
			c = (char)(hi << 4 | lo);
			p += 2;
		}
		if (o + 1 >= n)
			return bk_error_set(err, BK_ERR_FORMAT,
					    "%s: name too long", key);
		out[o++] = c;
	}
	out[o] = '\0';
	if (repo_manifest_key(out, canon, sizeof(canon), NULL) != BK_OK ||
	    strcmp(canon, key) != 0)
		return bk_error_set(err, BK_ERR_FORMAT,
				    "%s: not a key zbak writes for a snapshot "
				    "name",
				    key);
	return BK_OK;
}

void repo_pack_key(const struct bk_id *pack, char out[80])
{
	char h[2 * BK_ID_LEN + 1];

	bk_id_hex(pack, h);
	snprintf(out, 80, "data/%.2s/%s", h, h);
}

/* The identity of a sealed object: BLAKE2b-256 of its bytes. */
static void sealed_ident(const struct bk_buf *b, struct bk_id *ident)
{
	struct bk_hash h;

	bk_hash_init(&h);
	bk_hash_update(&h, b->data, b->len);
	bk_hash_final(&h, ident);
}

static enum bk_code put_sealed(struct bk_repo *r, enum bk_obj_kind kind,
			       const char *key, const void *plain, size_t len,
			       bool excl, bool transient, uint64_t *stored,
			       struct bk_id *ident, struct bk_error *err);

enum bk_code repo_put_sealed(struct bk_repo *r, enum bk_obj_kind kind,
			     const char *key, const void *plain, size_t len,
			     bool excl, uint64_t *stored, struct bk_error *err)
{
	return repo_put_sealed_id(r, kind, key, plain, len, excl, stored, NULL,
				  err);
}

enum bk_code repo_put_sealed_transient(struct bk_repo *r,
				       enum bk_obj_kind kind, const char *key,
				       const void *plain, size_t len, bool excl,
				       struct bk_error *err)
{
	return put_sealed(r, kind, key, plain, len, excl, true, NULL, NULL,
			  err);
}

enum bk_code repo_put_sealed_id(struct bk_repo *r, enum bk_obj_kind kind,
				const char *key, const void *plain, size_t len,
				bool excl, uint64_t *stored,
				struct bk_id *ident, struct bk_error *err)
{
	return put_sealed(r, kind, key, plain, len, excl, false, stored, ident,
			  err);
}

static enum bk_code put_sealed(struct bk_repo *r, enum bk_obj_kind kind,
			       const char *key, const void *plain, size_t len,
			       bool excl, bool transient, uint64_t *stored,
			       struct bk_id *ident, struct bk_error *err)
{
	struct bk_buf b;
	enum bk_code rc;

	bk_buf_init(&b, len + BK_SEAL_OVERHEAD + 1);
	rc = bk_seal(r->keys, kind, key, plain, len, &b, err);
	if (!rc && ident)
		sealed_ident(&b, ident);
	if (!rc && transient)
		rc = bk_store_put_transient(r->store, key, b.data, b.len, !excl,
					    err);
	else if (!rc)
		rc = excl ? bk_store_put_new(r->store, key, b.data, b.len, err)
			  : bk_store_put(r->store, key, b.data, b.len, err);
	if (!rc && stored)
		*stored += b.len;
	bk_buf_release(&b);
	return rc;
}

enum bk_code repo_get_opened(struct bk_repo *r, enum bk_obj_kind kind,
			     const char *key, size_t max, struct bk_buf *out,
			     struct bk_error *err)
{
	return repo_get_opened_id(r, kind, key, max, out, NULL, err);
}

enum bk_code repo_get_opened_id(struct bk_repo *r, enum bk_obj_kind kind,
				const char *key, size_t max,
				struct bk_buf *out, struct bk_id *ident,
				struct bk_error *err)
{
	struct bk_buf b;
	enum bk_code rc;

	bk_buf_init(&b, max + BK_SEAL_OVERHEAD);
	bk_buf_reset(out);
	rc = bk_store_get(r->store, key, &b, err);
	if (!rc)
		rc = bk_open(r->keys, kind, key, b.data, b.len, out, err);
	if (!rc && ident)
		sealed_ident(&b, ident);
	bk_buf_release(&b);
	return rc;
}

enum bk_code keylist_add(void *ctx, const char *key, uint64_t size,
			 struct bk_error *err)
{
	struct keylist *l = ctx;

	if (l->n == l->cap) {
		size_t nc = l->cap ? 2 * l->cap : 64;
		char **nk = realloc(l->key, nc * sizeof(*nk));
		uint64_t *ns;

		if (!nk)
			return bk_error_set(err, BK_ERR_NOMEM, "out of memory");
		l->key = nk;
		ns = realloc(l->size, nc * sizeof(*ns));
		if (!ns)
			return bk_error_set(err, BK_ERR_NOMEM, "out of memory");
		l->size = ns;
		l->cap = nc;
	}
	l->key[l->n] = strdup(key);
	if (!l->key[l->n])
		return bk_error_set(err, BK_ERR_NOMEM, "out of memory");
	l->size[l->n++] = size;
	return BK_OK;
}

enum bk_code keylist_collect(struct bk_store *s, const char *prefix,
			     struct keylist *l, struct bk_error *err)
{
	return bk_store_list(s, prefix, keylist_add, l, err);
}

void keylist_free(struct keylist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->key[i]);
	free(l->key);
	free(l->size);
	memset(l, 0, sizeof(*l));
}

/* ---- config ---- */

/*
 * The config object: "zbak-repository <format>", "id <hex>", "created
 * <time>", then optional lines; "append_only yes" puts every client that
 * is not an admin run into append-only mode (docs/repository.md,
 * "Append-only").  zbak before that line ignores it, so an append-only
 * repository wants this version or later on every machine that writes to
 * it.  Format 2 names its primitives: "chunk_id hmac-sha256" and "seal
 * aes-256-gcm|xchacha20-poly1305"; both are bound into every seal, so an
 * altered line only makes everything fail to open.
 */
static enum bk_code parse_config(const uint8_t *p, size_t len,
				 uint8_t id[BK_REPO_ID_LEN], bool *append_only,
				 struct bk_repo_format *fmt,
				 struct bk_error *err)
{
	char text[MAX_CONFIG_BLOB], idhex[2 * BK_REPO_ID_LEN + 1], seal[32];
	const char *line;
	unsigned version;

	if (len >= sizeof(text))
		return bk_error_set(err, BK_ERR_FORMAT, "config: too large");
	memcpy(text, p, len);
	text[len] = '\0';
	if (sscanf(text, "zbak-repository %u\nid %32s", &version, idhex) != 2)
		return bk_error_set(err, BK_ERR_FORMAT,
				    "config: not a zbak repository");
	if (version < BK_FORMAT_MIN || version > BK_FORMAT_MAX)
		return bk_error_set(err, BK_ERR_UNSUPPORTED,
				    "repository format version %u (this zbak "
				    "reads versions %d to %d)",
				    version, BK_FORMAT_MIN, BK_FORMAT_MAX);
	if (strlen(idhex) != 2 * BK_REPO_ID_LEN ||
	    !bk_unhex(idhex, BK_REPO_ID_LEN, id))
		return bk_error_set(err, BK_ERR_FORMAT, "config: bad id");
	*append_only = strstr(text, "\nappend_only yes\n") != NULL;
	fmt->version = version;
	fmt->seal = BK_SEAL_XCHACHA20POLY1305;
	if (version == 1)
		return BK_OK;
	if (!strstr(text, "\nchunk_id hmac-sha256\n"))
		return bk_error_set(err, BK_ERR_FORMAT,
				    "config: format 2 without \"chunk_id "
				    "hmac-sha256\"");
	line = strstr(text, "\nseal ");
	if (!line || sscanf(line, "\nseal %31s", seal) != 1 ||
	    !(fmt->seal = bk_seal_parse(seal)))
		return bk_error_set(err, BK_ERR_UNSUPPORTED,
				    "config: format 2 without a seal this zbak "
				    "knows (%.40s)",
				    line ? line + 6 : "no seal line");
	return BK_OK;
}

enum bk_code bk_repo_init(const char *url, const char *pass, size_t passlen,
			  const struct bk_kdf_params *kdf,
			  struct bk_error *err)
{
	return bk_repo_init_config(url, NULL, pass, passlen, kdf, err);
}

enum bk_code bk_repo_init_config(const char *url, const struct bk_config *cfg,
				 const char *pass, size_t passlen,
				 const struct bk_kdf_params *kdf,
				 struct bk_error *err)
{
	return bk_repo_init_mode(url, cfg, pass, passlen, kdf, false, err);
}

enum bk_code bk_repo_init_mode(const char *url, const struct bk_config *cfg,
			       const char *pass, size_t passlen,
			       const struct bk_kdf_params *kdf, bool append_only,
			       struct bk_error *err)
{
	return bk_repo_init_format(url, cfg, pass, passlen, kdf, append_only,
				   NULL, err);
}

void bk_repo_format_default(struct bk_repo_format *fmt)
{
	fmt->version = BK_FORMAT_MAX;
	fmt->seal = bk_seal_preferred();
}

/* The format-dependent lines of a new config object. */
static enum bk_code config_format_lines(const struct bk_repo_format *fmt,
					char *out, size_t n,
					struct bk_error *err)
{
	if (fmt->version < BK_FORMAT_MIN || fmt->version > BK_FORMAT_MAX)
		return bk_error_set(err, BK_ERR_USAGE,
				    "repository format %u: this zbak makes "
				    "versions %d to %d",
				    fmt->version, BK_FORMAT_MIN, BK_FORMAT_MAX);
	if (fmt->version == 1) {
		if (fmt->seal != BK_SEAL_XCHACHA20POLY1305)
			return bk_error_set(err, BK_ERR_USAGE,
					    "repository format 1 seals only "
					    "with xchacha20-poly1305");
		out[0] = '\0';
		return BK_OK;
	}
	if (!bk_seal_name(fmt->seal))
		return bk_error_set(err, BK_ERR_USAGE, "unknown cipher %d",
				    (int)fmt->seal);
	snprintf(out, n, "chunk_id hmac-sha256\nseal %s\n",
		 bk_seal_name(fmt->seal));
	return BK_OK;
}

enum bk_code bk_repo_init_format(const char *url, const struct bk_config *cfg,
				 const char *pass, size_t passlen,
				 const struct bk_kdf_params *kdf,
				 bool append_only,
				 const struct bk_repo_format *fmt,
				 struct bk_error *err)
{
	struct bk_repo_format deffmt;
	char fmtlines[96];
	struct bk_store *s = NULL;
	struct bk_keys *k = NULL;
	struct bk_buf blob;
	uint8_t id[BK_REPO_ID_LEN];
	char idhex[2 * BK_REPO_ID_LEN + 1], config[256], what[128];
	struct bk_kdf_params def;
	uint64_t size;
	enum bk_code rc;
	int n;

	bk_buf_init(&blob, MAX_KEYS_BLOB);
	if (!kdf) {
		bk_kdf_default(&def);
		kdf = &def;
	}
	if (!fmt) {
		bk_repo_format_default(&deffmt);
		fmt = &deffmt;
	}
	rc = config_format_lines(fmt, fmtlines, sizeof(fmtlines), err);
	if (!rc)
		rc = bk_crypto_init(err);
	if (!rc)
		rc = bk_store_open_config(url, true, cfg, &s, err);
	if (rc)
		goto out;
	rc = bk_store_head(s, CONFIG_KEY, &size, err);
	if (rc == BK_OK) {
		rc = bk_error_set(err, BK_ERR_EXISTS,
				  "a repository already exists at %s", url);
		goto out;
	}
	if (rc != BK_ERR_NOTFOUND)
		goto out;
	/* a repository goes into an empty place: not over other data, which
	 * gc would one day take for garbage, nor beside it */
	rc = bk_store_find_any(s, what, sizeof(what), err);
	if (rc)
		goto out;
	if (what[0]) {
		rc = bk_error_set(err, BK_ERR_EXISTS,
				  "%s is not empty (it holds %s): create a "
				  "repository in an empty or new directory or "
				  "S3 prefix",
				  url, what);
		goto out;
	}
	bk_random(id, sizeof(id));
	rc = bk_keys_generate(&k, err);
	if (!rc) {
		bk_keys_set_repo_id(k, id);
		rc = bk_keys_wrap(k, pass, passlen, kdf, id, &blob, err);
	}
	if (!rc)
		rc = bk_store_put_new(s, KEYS_KEY, blob.data, blob.len, err);
	if (rc == BK_ERR_EXISTS)
		rc = bk_error_set(err, BK_ERR_EXISTS,
				  "%s holds keys but no config: an incomplete "
				  "repository; remove it first",
				  url);
	if (rc)
		goto out;
	bk_hex(id, sizeof(id), idhex);
	n = snprintf(config, sizeof(config),
		     "zbak-repository %u\nid %s\ncreated %lld\n%s%s",
		     fmt->version, idhex, (long long)time(NULL), fmtlines,
		     append_only ? "append_only yes\n" : "");
	rc = bk_store_put_new(s, CONFIG_KEY, config, (size_t)n, err);
out:
	bk_buf_release(&blob);
	bk_keys_free(k);
	bk_store_close(s);
	return rc;
}

/*
 * A machine that once saw the repository append-only keeps it so, even
 * when config no longer says it (config is not sealed: whoever can write
 * the store can drop the line): ransomware cannot switch a host back to
 * deleting.  An admin's `config append_only no` is taken by each host
 * with `zbak accept-changes`; until then every command warns.
 */
#define MODE_FILE "append-only"

static void mode_remembered(struct bk_repo *r)
{
	char path[1100];
	struct state_file sf;
	FILE *f;

	if (repo_state_path(r, MODE_FILE, path, sizeof(path)))
		return;
	if (r->append_only) {
		if (access(path, F_OK) != 0 &&
		    (f = repo_state_create(r, MODE_FILE, &sf)))
			repo_state_commit(f, &sf);
		return;
	}
	if (access(path, F_OK) != 0)
		return;
	/* said once the caller listens (bk_repo_set_warn) */
	r->append_only = r->mode_dropped = true;
	bk_store_set_append_only(r->store, true);
}

static void mode_forget(struct bk_repo *r)
{
	char path[1100];

	if (!repo_state_path(r, MODE_FILE, path, sizeof(path)))
		unlink(path);
}

void repo_mode_accept(struct bk_repo *r)
{
	if (!r->mode_dropped)
		return;
	mode_forget(r);
	r->mode_dropped = r->append_only = false;
	bk_store_set_append_only(r->store, false);
	r->trust_changes++;
}

void repo_mode_warn(struct bk_repo *r)
{
	if (r->mode_dropped)
		repo_warn(r, "config says the repository is not append-only, "
			     "but this machine saw it append-only, and keeps "
			     "it so: if an admin turned it off, 'zbak "
			     "accept-changes' takes that; if not, the config "
			     "object was altered");
}

enum bk_code bk_repo_open(const char *url, const char *pass, size_t passlen,
			  struct bk_repo **out, struct bk_error *err)
{
	return bk_repo_open_config(url, NULL, pass, passlen, out, err);
}

enum bk_code bk_repo_open_config(const char *url, const struct bk_config *cfg,
				 const char *pass, size_t passlen,
				 struct bk_repo **out, struct bk_error *err)
{
	struct bk_kdf_params kdf;
	struct bk_repo *r = calloc(1, sizeof(*r));
	struct bk_buf b;
	enum bk_code rc;

	*out = NULL;
	bk_buf_init(&b, MAX_KEYS_BLOB);
	if (!r)
		return bk_error_set(err, BK_ERR_NOMEM, "out of memory");
	pthread_mutex_init(&r->index_mu, NULL);
	snprintf(r->url, sizeof(r->url), "%s", url);
	rc = bk_crypto_init(err);
	if (!rc)
		rc = bk_store_open_config(url, false, cfg, &r->store, err);
	if (rc == BK_ERR_NOTFOUND)
		rc = bk_error_set(err, BK_ERR_NOTFOUND,
				  "no repository at %s (create one with "
				  "'zbak -r %s init')",
				  url, url);
	if (rc)
		goto out;
	rc = bk_store_get(r->store, CONFIG_KEY, &b, err);
	if (rc == BK_ERR_NOTFOUND)
		rc = bk_error_set(err, BK_ERR_NOTFOUND,
				  "no repository at %s (no config object)",
				  url);
	if (!rc)
		rc = parse_config(b.data, b.len, r->id, &r->append_only,
				  &r->format, err);
	if (rc)
		goto out;
	if (b.len < sizeof(r->config)) {
		memcpy(r->config, b.data, b.len);
		r->config[b.len] = '\0';
	}
	/* every client is a host until it says it is an admin run */
	bk_store_set_append_only(r->store, r->append_only);
	bk_buf_reset(&b);
	rc = bk_store_get(r->store, KEYS_KEY, &b, err);
	if (rc == BK_ERR_NOTFOUND)
		rc = bk_error_set(err, BK_ERR_MISSING,
				  "repository at %s has no keys object", url);
	if (!rc)
		rc = bk_keys_unwrap(b.data, b.len, pass, passlen, r->id,
				    &r->keys, &kdf, err);
	if (!rc)
		r->keys_generation = kdf.generation;
	/* every id and seal from here on with the repository's primitives,
	 * whatever this machine would choose for a new one */
	if (!rc)
		rc = bk_keys_set_format(r->keys, r->format.version,
					r->format.seal, err);
	/* the one failure a script must tell from damage: a passphrase that
	 * does not open the keys (an altered keys object looks the same, and
	 * the message says so) */
	if (rc == BK_ERR_AUTH)
		rc = bk_error_set(err, BK_ERR_PASSPHRASE,
				  "wrong passphrase for the repository at %s "
				  "(or its keys or config object were altered)",
				  url);
	if (!rc)
		repo_cache_open(r);
	if (!rc)
		mode_remembered(r);
out:
	bk_buf_release(&b);
	if (rc) {
		bk_repo_close(r);
		return rc;
	}
	*out = r;
	return BK_OK;
}

void bk_repo_close(struct bk_repo *r)
{
	if (!r)
		return;
	index_free(r->index);
	repo_cache_close(r);
	bk_keys_free(r->keys);
	bk_store_close(r->store);
	pthread_mutex_destroy(&r->index_mu);
	free(r);
}

void bk_repo_get_format(const struct bk_repo *r, struct bk_repo_format *fmt)
{
	*fmt = r->format;
}

const char *bk_repo_describe(const struct bk_repo *r)
{
	return r->url;
}

bool bk_repo_append_only(const struct bk_repo *r)
{
	return r->append_only;
}

static void mode_remembered(struct bk_repo *r);

void bk_repo_admin(struct bk_repo *r)
{
	r->admin = true;
	bk_store_set_append_only(r->store, false);
}

bool bk_repo_is_admin(const struct bk_repo *r)
{
	return r->admin;
}

/* The config object again, with its append_only line set or dropped: the
 * one rewrite of config, an admin's (the id and the rest stay). */
enum bk_code bk_repo_set_append_only(struct bk_repo *r, bool on,
				     struct bk_error *err)
{
	char text[MAX_CONFIG_BLOB], *line;
	size_t n = 0;
	enum bk_code rc;

	if (r->append_only && !r->admin && !r->mode_dropped)
		return bk_error_set(err, BK_ERR_APPEND_ONLY,
				    "config: not rewritten: the repository is "
				    "append-only, and only an admin run "
				    "(--admin) changes its mode");
	if (!r->config[0])
		return bk_error_set(err, BK_ERR_INTERNAL, "config not kept");
	/* every line but append_only, then the new one */
	for (char *p = r->config; *p; p = line + 1) {
		line = strchr(p, '\n');
		if (!line)
			break;
		if (!strncmp(p, "append_only ", 12))
			continue;
		if (n + (size_t)(line + 1 - p) >= sizeof(text))
			return bk_error_set(err, BK_ERR_LIMIT,
					    "config: too large");
		memcpy(text + n, p, (size_t)(line + 1 - p));
		n += (size_t)(line + 1 - p);
	}
	if (on) {
		if (n + 17 >= sizeof(text))
			return bk_error_set(err, BK_ERR_LIMIT,
					    "config: too large");
		memcpy(text + n, "append_only yes\n", 16);
		n += 16;
	}
	text[n] = '\0';
	rc = bk_store_put(r->store, CONFIG_KEY, text, n, err);
	if (!rc) {
		memcpy(r->config, text, n + 1);
		r->append_only = on;
		r->mode_dropped = false;
		if (!r->admin)
			bk_store_set_append_only(r->store, on);
		if (on)
			mode_remembered(r);
		else
			mode_forget(r);
	}
	return rc;
}

enum bk_code bk_repo_passwd(struct bk_repo *r, const char *pass,
			    size_t passlen, const struct bk_kdf_params *kdf,
			    struct bk_error *err)
{
	struct bk_buf blob;
	struct bk_kdf_params p;
	enum bk_code rc;

	if (r->append_only && !r->admin)
		return bk_error_set(err, BK_ERR_APPEND_ONLY,
				    "keys: not rewritten: the repository is "
				    "append-only, and only an admin run "
				    "(--admin) changes the passphrase");
	if (kdf)
		p = *kdf;
	else
		bk_kdf_default(&p);
	/* one generation more: a client that saw this one refuses the older
	 * key file, should it be put back (trust.c) */
	if (r->keys_generation >= 0xffff)
		return bk_error_set(err, BK_ERR_LIMIT,
				    "the key file has had 65535 passphrases: "
				    "make a new repository");
	p.generation = r->keys_generation + 1;
	bk_buf_init(&blob, MAX_KEYS_BLOB);
	rc = bk_keys_wrap(r->keys, pass, passlen, &p, r->id, &blob, err);
	if (!rc) /* atomic replace: the old keys object stays until then */
		rc = bk_store_put(r->store, KEYS_KEY, blob.data, blob.len, err);
	if (!rc) {
		r->keys_generation = p.generation;
		repo_trust_keys_changed(r);
	}
	bk_buf_release(&blob);
	return rc;
}

void bk_repo_set_warn(struct bk_repo *r, bk_report_fn fn, void *ctx)
{
	r->warn = fn;
	r->warn_ctx = ctx;
	repo_mode_warn(r);
}

void repo_warn(struct bk_repo *r, const char *fmt, ...)
{
	char line[BK_ERROR_MSG_MAX + 512];
	va_list ap;

	if (!r->warn)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	r->warn(r->warn_ctx, line);
}

static void index_damaged(void *ctx, const char *line)
{
	repo_warn(ctx, "%s", line);
}

enum bk_code repo_index(struct bk_repo *r, struct bk_index **out,
			struct bk_error *err)
{
	enum bk_code rc = BK_OK;

	pthread_mutex_lock(&r->index_mu);
	if (!r->index) {
		struct bk_index *idx = NULL;

		rc = index_new(&idx, err);
		if (!rc)
			rc = index_load(r, idx, true, true, index_damaged, r,
					err);
		if (rc)
			index_free(idx);
		else
			r->index = idx;
	}
	*out = r->index;
	pthread_mutex_unlock(&r->index_mu);
	return rc;
}
