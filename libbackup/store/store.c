/* SPDX-License-Identifier: MIT */
/*
 * The store front end: URL dispatch to a backend, and the key rules every
 * backend relies on.  A key is 1..BK_STORE_KEY_MAX bytes of
 * [A-Za-z0-9._-@%+=,~] and '/', split by '/' into non-empty components
 * that are neither "." nor ".." and do not start with ".tmp-"; so no key
 * can name anything outside the store or collide with a temporary file.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/store_impl.h"

static bool key_char_ok(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return true;
	return c != '\0' && strchr("._-@%+=,~", c) != NULL;
}

bool bk_store_component_ok(const char *name, size_t len)
{
	size_t tl = sizeof(BK_STORE_TMP_PREFIX) - 1;

	if (len == 0 || len > 255)
		return false;
	if ((len == 1 && name[0] == '.') ||
	    (len == 2 && name[0] == '.' && name[1] == '.'))
		return false;
	if (len >= tl && memcmp(name, BK_STORE_TMP_PREFIX, tl) == 0)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!key_char_ok((unsigned char)name[i]))
			return false;
	return true;
}

/*
 * partial_last: the text after the last '/' is a prefix of a component
 * (may be empty, is only checked for its characters).
 */
static enum bk_code check_name(const char *what, const char *key,
			       bool partial_last, struct bk_error *err)
{
	size_t n, start = 0;

	if (!key)
		return bk_error_set(err, BK_ERR_USAGE, "%s: key missing", what);
	n = strlen(key);
	if (n > BK_STORE_KEY_MAX)
		return bk_error_set(err, BK_ERR_USAGE,
				    "%s %.64s...: key longer than %d bytes",
				    what, key, BK_STORE_KEY_MAX);
	if (n == 0 && !partial_last)
		return bk_error_set(err, BK_ERR_USAGE, "%s: empty key", what);
	for (size_t i = 0; i <= n; i++) {
		if (i < n && key[i] != '/')
			continue;
		if (i == n && partial_last) {
			for (size_t j = start; j < n; j++)
				if (!key_char_ok((unsigned char)key[j]))
					goto bad;
			break;
		}
		if (!bk_store_component_ok(key + start, i - start))
			goto bad;
		start = i + 1;
	}
	return BK_OK;
bad:
	return bk_error_set(err, BK_ERR_USAGE,
			    "%s %s: invalid key (allowed: relative '/'-separated names of [A-Za-z0-9._-@%%+=,~], no empty, '.', '..' or '.tmp-' components)",
			    what, key);
}

/* Length of a URL scheme followed by "://", or 0. */
static size_t scheme_len(const char *url)
{
	size_t i = 0;

	if (!((url[0] >= 'a' && url[0] <= 'z') ||
	      (url[0] >= 'A' && url[0] <= 'Z')))
		return 0;
	for (i = 1; url[i]; i++) {
		char c = url[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.')
			continue;
		break;
	}
	return strncmp(url + i, "://", 3) == 0 ? i : 0;
}

enum bk_code bk_store_open(const char *url, bool create, struct bk_store **out,
			   struct bk_error *err)
{
	return bk_store_open_config(url, create, NULL, out, err);
}

enum bk_code bk_store_open_config(const char *url, bool create,
				  const struct bk_config *cfg,
				  struct bk_store **out, struct bk_error *err)
{
	struct bk_store *s = NULL;
	const char *path = NULL;
	bool s3 = false;
	size_t sl;
	enum bk_code rc;

	*out = NULL;
	if (!url || !url[0]) {
		rc = bk_error_set(err, BK_ERR_USAGE, "repository URL missing");
		goto out;
	}
	sl = scheme_len(url);
	if (sl == 4 && strncmp(url, "file", 4) == 0) {
		path = url + 7;
		if (path[0] != '/') {
			rc = bk_error_set(err, BK_ERR_USAGE,
					  "%s: file URLs must be file:///absolute/path",
					  url);
			goto out;
		}
	} else if (sl == 2 && strncmp(url, "s3", 2) == 0) {
		s3 = true;
	} else if (sl) {
		/* only the scheme: the rest may hold credentials */
		rc = bk_error_set(err, BK_ERR_UNSUPPORTED,
				  "unsupported repository URL (scheme %.*s://)",
				  (int)sl, url);
		goto out;
	} else {
		path = url;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		rc = bk_error_set(err, BK_ERR_NOMEM, "cannot allocate a store");
		goto out;
	}
	if (s3)
		rc = bk_store_s3_open(url + 5, create, cfg, s, err);
	else
		rc = bk_store_local_open(path, create, s, err);
	if (rc)
		goto out;
	*out = s;
	s = NULL;
out:
	free(s); /* a failed backend open leaves nothing behind */
	return rc;
}

void bk_store_close(struct bk_store *s)
{
	if (!s)
		return;
	if (s->ops && s->ops->close)
		s->ops->close(s->priv);
	free(s->desc);
	free(s);
}

unsigned bk_store_concurrency(const struct bk_store *s)
{
	long n;

	if (s && s->concurrency)
		return s->concurrency;
	n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (unsigned)n : 1;
}

bool bk_store_remote(const struct bk_store *s)
{
	return s && s->remote;
}

void bk_store_set_append_only(struct bk_store *s, bool on)
{
	s->append_only = on;
}

bool bk_store_append_only(const struct bk_store *s)
{
	return s && s->append_only;
}

unsigned bk_store_lock_days(const struct bk_store *s)
{
	return s && s->ops->retain ? s->lock_days : 0;
}

enum bk_code bk_store_retention(struct bk_store *s, const char *key,
				uint64_t *until, struct bk_error *err)
{
	enum bk_code rc = check_name("head", key, false, err);

	*until = 0;
	if (rc || !s->ops->retention)
		return rc;
	return s->ops->retention(s->priv, key, until, err);
}

enum bk_code bk_store_versions(struct bk_store *s, const char *prefix,
				bk_store_version_fn fn, void *ctx,
				struct bk_error *err)
{
	enum bk_code rc = check_name("list", prefix, true, err);

	if (rc)
		return rc;
	if (!s->ops->versions)
		return bk_error_set(err, BK_ERR_UNSUPPORTED,
				    "%s keeps no versions", bk_store_describe(s));
	return s->ops->versions(s->priv, prefix, fn, ctx, err);
}

enum bk_code bk_store_retain(struct bk_store *s, const char *key,
			     uint64_t until, struct bk_error *err)
{
	enum bk_code rc = check_name("put", key, false, err);

	if (rc)
		return rc;
	if (!s->ops->retain)
		return bk_error_set(err, BK_ERR_UNSUPPORTED,
				    "%s: the store has no Object Lock", key);
	return s->ops->retain(s->priv, key, until, err);
}

const char *bk_store_describe(const struct bk_store *s)
{
	return s && s->desc ? s->desc : "store";
}

/* Every put: the key checked, then the backend with the flags. */
static enum bk_code put(struct bk_store *s, const char *key, const void *data,
			size_t len, unsigned flags, struct bk_error *err)
{
	enum bk_code rc = check_name("put", key, false, err);

	if (rc)
		return rc;
	if (!data && len)
		return bk_error_set(err, BK_ERR_USAGE, "put %s: no data", key);
	if (s->append_only)
		flags &= ~BK_PUT_REPLACE; /* create, never replace */
	return s->ops->put(s->priv, key, data, len, flags, err);
}

enum bk_code bk_store_put(struct bk_store *s, const char *key,
			  const void *data, size_t len, struct bk_error *err)
{
	return put(s, key, data, len, BK_PUT_REPLACE, err);
}

enum bk_code bk_store_put_nosync(struct bk_store *s, const char *key,
				 const void *data, size_t len,
				 struct bk_error *err)
{
	return put(s, key, data, len, BK_PUT_REPLACE | BK_PUT_NOSYNC, err);
}

enum bk_code bk_store_put_new(struct bk_store *s, const char *key,
			      const void *data, size_t len,
			      struct bk_error *err)
{
	return put(s, key, data, len, 0, err);
}

enum bk_code bk_store_put_transient(struct bk_store *s, const char *key,
				    const void *data, size_t len, bool replace,
				    struct bk_error *err)
{
	return put(s, key, data, len,
		   BK_PUT_TRANSIENT | (replace ? BK_PUT_REPLACE : 0), err);
}

enum bk_code bk_store_sync(struct bk_store *s, struct bk_error *err)
{
	return s->ops->sync ? s->ops->sync(s->priv, err) : BK_OK;
}

enum bk_code bk_store_get(struct bk_store *s, const char *key,
			  struct bk_buf *out, struct bk_error *err)
{
	enum bk_code rc = check_name("get", key, false, err);
	size_t had = out->len;

	if (rc)
		return rc;
	s->reads++;
	rc = s->ops->get(s->priv, key, true, 0, 0, out, err);
	if (!rc && out->len > had)
		s->read_bytes += out->len - had;
	return rc;
}

enum bk_code bk_store_get_range(struct bk_store *s, const char *key,
				uint64_t off, uint64_t len, struct bk_buf *out,
				struct bk_error *err)
{
	enum bk_code rc = check_name("get", key, false, err);
	size_t had = out->len;

	if (rc)
		return rc;
	s->reads++;
	rc = s->ops->get(s->priv, key, false, off, len, out, err);
	if (!rc && out->len > had)
		s->read_bytes += out->len - had;
	return rc;
}

enum bk_code bk_store_head(struct bk_store *s, const char *key,
			   uint64_t *size, struct bk_error *err)
{
	enum bk_code rc = check_name("head", key, false, err);

	if (rc)
		return rc;
	s->reads++;
	return s->ops->head(s->priv, key, size, err);
}

void bk_store_counters(const struct bk_store *s, uint64_t *reads,
		       uint64_t *bytes)
{
	*reads = s->reads;
	*bytes = s->read_bytes;
}

enum bk_code bk_store_delete(struct bk_store *s, const char *key,
			     struct bk_error *err)
{
	enum bk_code rc = check_name("delete", key, false, err);

	if (rc)
		return rc;
	if (s->append_only)
		return bk_error_set(err, BK_ERR_APPEND_ONLY,
				    "%s: not deleted: the repository is "
				    "append-only, and only an admin run "
				    "(--admin) deletes",
				    key);
	return s->ops->del(s->priv, key, err);
}

enum bk_code bk_store_cleanup(struct bk_store *s, uint64_t min_age,
			      uint64_t *removed, struct bk_error *err)
{
	*removed = 0;
	if (!s->ops->cleanup || s->append_only)
		return BK_OK; /* temporaries are an admin's to remove */
	return s->ops->cleanup(s->priv, min_age, removed, err);
}

enum bk_code bk_store_find_any(struct bk_store *s, char *what, size_t n,
			       struct bk_error *err)
{
	enum bk_code rc;

	if (!what || n < 2) /* room for one byte of a name */
		return bk_error_set(err, BK_ERR_USAGE, "find_any: no room");
	what[0] = '\0';
	rc = s->ops->any(s->priv, what, n, err);
	/* a name from the store, for a message: nothing a terminal obeys */
	for (char *p = what; !rc && *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p == 0x7f)
			*p = '?';
	return rc;
}

enum bk_code bk_store_list(struct bk_store *s, const char *prefix,
			   bk_store_list_fn fn, void *ctx, struct bk_error *err)
{
	enum bk_code rc;

	if (!prefix)
		prefix = "";
	rc = check_name("list", prefix, true, err);
	if (rc)
		return rc;
	s->reads++;
	if (!fn)
		return bk_error_set(err, BK_ERR_USAGE, "list %s: no callback",
				    prefix);
	return s->ops->list(s->priv, prefix, fn, ctx, err);
}
