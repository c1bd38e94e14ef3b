/* SPDX-License-Identifier: MIT */
/*
 * S3 settings: where each one comes from, URLs, encoding, retry policy.
 *
 * Precedence (the AWS CLI's rule: the environment before files):
 *   endpoint   AWS_ENDPOINT_URL, else [s3] endpoint, else
 *              https://s3.REGION.amazonaws.com; either set but empty is an
 *              error (never a silent fallback to AWS)
 *   region     AWS_REGION, else AWS_DEFAULT_REGION, else [s3] region,
 *              else us-east-1
 *   CA bundle  AWS_CA_BUNDLE, else [s3] ca_bundle, else the system's
 *   credentials, the first of:
 *     1. AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN)
 *     2. AWS_PROFILE set: that profile of the shared-credentials file
 *     3. [s3] access_key_id + secret_access_key (+ session_token)
 *     4. the shared-credentials file's profile ([s3] profile, else
 *        "default"); the file is AWS_SHARED_CREDENTIALS_FILE, else
 *        [s3] credentials_file, else ~/.aws/credentials
 *   A file named explicitly (variable or key) must exist, a profile named
 *   explicitly must be in it.
 *   addressing ([s3] addressing): path, virtual, or auto (default): path
 *              for IP-literal and localhost endpoints and for buckets
 *              that are not DNS labels, virtual otherwise
 *   [s3] concurrency (8), connect_timeout (10 s), stall_timeout (30 s),
 *   retry_time (120 s), multipart_threshold (64M), part_size (16M, at
 *   least 5M): numbers, sizes with an optional K/M/G suffix (powers of 2).
 *   [s3] object_acl: a canned ACL for every object written, one of
 *   private, bucket-owner-read, bucket-owner-full-control (never a public
 *   one), for hosts whose objects the bucket's owner must read (Ceph RGW
 *   users, AWS accounts other than the bucket's).
 *   [s3] object_lock (none, governance, compliance) and object_lock_days
 *   (30): the retention every object is written with, in a bucket made
 *   with Object Lock.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "store/s3_impl.h"
#include "util/config_impl.h"

#define SEC "s3"

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static void wipe_free(char *s)
{
	if (!s)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}

void s3_settings_release(struct s3_settings *st)
{
	free(st->scheme);
	free(st->object_acl);
	free(st->hostport);
	free(st->region);
	wipe_free(st->access_key);
	wipe_free(st->secret_key);
	wipe_free(st->session_token);
	free(st->ca_bundle);
	memset(st, 0, sizeof(*st));
}

static const char *env_get(s3_getenv_fn env, const char *name)
{
	const char *v = env(name);

	return v && *v ? v : NULL;
}

/* A number with an optional K/M/G (binary) suffix and "iB"/"B". */
static enum bk_code parse_num(const char *key, const char *v, uint64_t min,
			      uint64_t max, bool size, uint64_t *out,
			      struct bk_error *err)
{
	char *end;
	unsigned long long n;
	unsigned shift = 0;

	errno = 0;
	if (!isdigit((unsigned char)v[0]))
		goto bad;
	n = strtoull(v, &end, 10);
	if (errno)
		goto bad;
	if (size && *end) {
		switch (toupper((unsigned char)*end)) {
		case 'K': shift = 10; break;
		case 'M': shift = 20; break;
		case 'G': shift = 30; break;
		default: goto bad;
		}
		end++;
		if (strcasecmp(end, "iB") == 0 || strcasecmp(end, "B") == 0)
			end += strlen(end);
	}
	if (*end || (shift && n > (UINT64_MAX >> shift)))
		goto bad;
	n <<= shift;
	if (n < min || n > max)
		return bk_error_set(err, BK_ERR_USAGE,
				    "config [s3] %s = %s: out of range %llu..%llu",
				    key, v, (unsigned long long)min,
				    (unsigned long long)max);
	*out = n;
	return BK_OK;
bad:
	return bk_error_set(err, BK_ERR_USAGE, "config [s3] %s = %s: not a %s",
			    key, v, size ? "size" : "number");
}

static enum bk_code num_setting(const struct bk_config *cfg, const char *key,
				uint64_t def, uint64_t min, uint64_t max,
				bool size, uint64_t *out, struct bk_error *err)
{
	const char *v = bk_config_get(cfg, SEC, key);

	*out = def;
	return v ? parse_num(key, v, min, max, size, out, err) : BK_OK;
}

/* Split an endpoint URL into scheme and host[:port]; no path, no user. */
static enum bk_code parse_endpoint(const char *ep, struct s3_settings *st,
				   struct bk_error *err)
{
	const char *host = ep, *end;
	size_t n;

	if (strncasecmp(ep, "https://", 8) == 0) {
		st->scheme = strdup("https");
		host = ep + 8;
	} else if (strncasecmp(ep, "http://", 7) == 0) {
		st->scheme = strdup("http");
		host = ep + 7;
	} else if (strstr(ep, "://")) {
		return bk_error_set(err, BK_ERR_USAGE,
				    "s3 endpoint %s: only http:// and https:// are supported",
				    ep);
	} else {
		st->scheme = strdup("https");
	}
	if (!st->scheme)
		return bk_error_set(err, BK_ERR_NOMEM, "out of memory");
	end = host + strcspn(host, "/?#");
	n = (size_t)(end - host);
	if (n == 0 || memchr(host, '@', n) || strspn(end, "/") != strlen(end))
		return bk_error_set(err, BK_ERR_USAGE,
				    "s3 endpoint %s: give scheme://host[:port] (no path, no user)",
				    ep);
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)host[i]) &&
		    !strchr(".-:[]_", host[i]))
			return bk_error_set(err, BK_ERR_USAGE,
					    "s3 endpoint %s: bad host name", ep);
	st->hostport = strndup(host, n);
	if (!st->hostport)
		return bk_error_set(err, BK_ERR_NOMEM, "out of memory");
	return BK_OK;
}

static char *trimmed_dup(const char *s)
{
	size_t n;

	if (!s)
		return NULL;
	while (*s == ' ' || *s == '\t')
		s++;
	n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
		n--;
	return strndup(s, n);
}

static enum bk_code creds_from(const struct bk_config *c, const char *name,
			       const char *profile, char **ak, char **sk,
			       char **tok, struct bk_error *err)
{
	char sect[256];
	const char *a, *s, *t;

	snprintf(sect, sizeof(sect), "%s", profile);
	a = bk_config_get(c, sect, "aws_access_key_id");
	if (!a && !bk_config_has_section(c, sect)) {
		snprintf(sect, sizeof(sect), "profile %s", profile);
		a = bk_config_get(c, sect, "aws_access_key_id");
	}
	s = bk_config_get(c, sect, "aws_secret_access_key");
	t = bk_config_get(c, sect, "aws_session_token");
	if (!t)
		t = bk_config_get(c, sect, "aws_security_token");
	if (!a || !s || !*a || !*s)
		return bk_error_set(err, BK_ERR_NOTFOUND,
				    "%s: profile %s not found or without aws_access_key_id and aws_secret_access_key",
				    name, profile);
	*ak = trimmed_dup(a);
	*sk = trimmed_dup(s);
	*tok = t && *t ? trimmed_dup(t) : NULL;
	if (!*ak || !*sk || (t && *t && !*tok))
		return bk_error_set(err, BK_ERR_NOMEM, "out of memory");
	return BK_OK;
}

enum bk_code s3_creds_parse(const char *text, size_t len, const char *name,
			    const char *profile, char **access_key,
			    char **secret_key, char **session_token,
			    struct bk_error *err)
{
	struct bk_config *c = NULL;
	enum bk_code rc;

	*access_key = *secret_key = *session_token = NULL;
	rc = bk_config_parse(text, len, name, &c, err);
	if (!rc)
		rc = creds_from(c, name, profile, access_key, secret_key,
				session_token, err);
	if (rc) {
		wipe_free(*access_key);
		wipe_free(*secret_key);
		wipe_free(*session_token);
		*access_key = *secret_key = *session_token = NULL;
	}
	bk_config_free(c);
	return rc;
}

/* Credentials of profile from the shared file at path. */
static enum bk_code creds_file(const char *path, bool explicit_file,
			       const char *profile, struct s3_settings *st,
			       struct bk_error *err)
{
	struct bk_config *c = NULL;
	enum bk_code rc;

	rc = bk_config_load_file(path, false, &c, err);
	if (rc == BK_ERR_NOTFOUND && !explicit_file) {
		rc = bk_error_set(err, BK_ERR_USAGE, "no credentials");
		goto out;
	}
	if (rc)
		goto out;
	rc = creds_from(c, path, profile, &st->access_key, &st->secret_key,
			&st->session_token, err);
	if (rc == BK_ERR_NOTFOUND)
		rc = bk_error_set(err, BK_ERR_USAGE,
				  "s3 credentials: profile %s not found in %s (or without aws_access_key_id and aws_secret_access_key)",
				  profile, path);
	st->cred_source = "shared credentials file";
out:
	bk_config_free(c);
	return rc;
}

static enum bk_code resolve_creds(const struct bk_config *cfg,
				  s3_getenv_fn env, struct s3_settings *st,
				  struct bk_error *err)
{
	const char *ak = env_get(env, "AWS_ACCESS_KEY_ID");
	const char *sk = env_get(env, "AWS_SECRET_ACCESS_KEY");
	const char *tok = env_get(env, "AWS_SESSION_TOKEN");
	const char *eprof = env_get(env, "AWS_PROFILE");
	const char *cprof = bk_config_get(cfg, SEC, "profile");
	const char *file = env_get(env, "AWS_SHARED_CREDENTIALS_FILE");
	const char *home = env_get(env, "HOME");
	char path[4096];
	bool explicit_file = true;
	enum bk_code rc;

	if (ak || sk) {
		if (!ak || !sk)
			return bk_error_set(err, BK_ERR_USAGE,
					    "s3 credentials: set both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY");
		st->access_key = strdup(ak);
		st->secret_key = strdup(sk);
		st->session_token = dup_or_null(tok);
		st->cred_source = "environment";
		goto check;
	}
	ak = bk_config_get(cfg, SEC, "access_key_id");
	sk = bk_config_get(cfg, SEC, "secret_access_key");
	if (!eprof && ak && sk && *ak && *sk) {
		tok = bk_config_get(cfg, SEC, "session_token");
		st->access_key = strdup(ak);
		st->secret_key = strdup(sk);
		st->session_token = tok && *tok ? strdup(tok) : NULL;
		st->cred_source = "config file";
		goto check;
	}
	if (!eprof && (ak || sk))
		return bk_error_set(err, BK_ERR_USAGE,
				    "config [s3]: give both access_key_id and secret_access_key");
	if (!file)
		file = bk_config_get(cfg, SEC, "credentials_file");
	if (!file) {
		explicit_file = false;
		if (!home)
			return bk_error_set(err, BK_ERR_USAGE,
					    "s3: no credentials (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or [s3] access_key_id and secret_access_key in the config file)");
		snprintf(path, sizeof(path), "%s/.aws/credentials", home);
		file = path;
	}
	rc = creds_file(file, explicit_file || eprof || cprof,
			eprof ? eprof : cprof ? cprof : "default", st, err);
	if (rc == BK_ERR_USAGE && !explicit_file && !eprof && !cprof)
		return bk_error_set(err, BK_ERR_USAGE,
				    "s3: no credentials (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, [s3] access_key_id and secret_access_key in the config file, or a profile in %s)",
				    file);
	if (rc)
		return rc;
check:
	if (!st->access_key || !st->secret_key ||
	    (tok && !st->session_token))
		return bk_error_set(err, BK_ERR_NOMEM, "out of memory");
	return BK_OK;
}

/* object_acl, object_lock, object_lock_days (see the top). */
static enum bk_code resolve_protection(const struct bk_config *cfg,
				       struct s3_settings *st,
				       struct bk_error *err)
{
	static const char *const acls[] = { "private", "bucket-owner-read",
					    "bucket-owner-full-control" };
	const char *v = bk_config_get(cfg, SEC, "object_acl");
	uint64_t n;
	enum bk_code rc;

	if (v && *v) {
		size_t i;

		for (i = 0; i < sizeof(acls) / sizeof(acls[0]); i++)
			if (!strcmp(v, acls[i]))
				break;
		if (i == sizeof(acls) / sizeof(acls[0]))
			return bk_error_set(err, BK_ERR_USAGE,
					    "config [s3] object_acl = %.64s: give "
					    "private, bucket-owner-read or "
					    "bucket-owner-full-control",
					    v);
		if (!(st->object_acl = strdup(v)))
			return bk_error_set(err, BK_ERR_NOMEM, "out of memory");
	}
	v = bk_config_get(cfg, SEC, "object_lock");
	if (!v || !*v || !strcasecmp(v, "none"))
		st->object_lock = S3_LOCK_NONE;
	else if (!strcasecmp(v, "governance"))
		st->object_lock = S3_LOCK_GOVERNANCE;
	else if (!strcasecmp(v, "compliance"))
		st->object_lock = S3_LOCK_COMPLIANCE;
	else
		return bk_error_set(err, BK_ERR_USAGE,
				    "config [s3] object_lock = %.64s: give none, "
				    "governance or compliance",
				    v);
	rc = num_setting(cfg, "object_lock_days", 30, 1, 36500, false, &n, err);
	st->object_lock_days = (unsigned)n;
	return rc;
}

enum bk_code s3_settings_resolve(const struct bk_config *cfg,
				 s3_getenv_fn env, const char *bucket,
				 struct s3_settings *st, struct bk_error *err)
{
	const char *v;
	char def[128];
	uint64_t n;
	enum bk_code rc;

	memset(st, 0, sizeof(*st));
	if (!env)
		env = getenv;
	v = env_get(env, "AWS_REGION");
	if (!v)
		v = env_get(env, "AWS_DEFAULT_REGION");
	if (!v)
		v = bk_config_get(cfg, SEC, "region");
	if (!v || !*v)
		v = "us-east-1";
	if (strlen(v) > 64 || strspn(v, "abcdefghijklmnopqrstuvwxyz"
				      "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") !=
				       strlen(v))
		return bk_error_set(err, BK_ERR_USAGE, "s3 region %s: invalid",
				    v);
	st->region = strdup(v);
	if (!st->region)
		return bk_error_set(err, BK_ERR_NOMEM, "out of memory");
	/* set but empty: a typo or an unset shell variable, and the data
	 * would go to AWS instead of the server meant */
	v = env("AWS_ENDPOINT_URL");
	if (v && !*v)
		return bk_error_set(err, BK_ERR_USAGE,
				    "AWS_ENDPOINT_URL is set but empty: give "
				    "the endpoint, or unset it for AWS");
	if (!v) {
		v = bk_config_get(cfg, SEC, "endpoint");
		if (v && !*v)
			return bk_error_set(err, BK_ERR_USAGE,
					    "config [s3] endpoint is empty: "
					    "give the endpoint, or remove the "
					    "line for AWS");
	}
	if (!v) {
		snprintf(def, sizeof(def), "https://s3.%s.amazonaws.com",
			 st->region);
		v = def;
	}
	rc = parse_endpoint(v, st, err);
	if (rc)
		return rc;
	v = env_get(env, "AWS_CA_BUNDLE");
	if (!v)
		v = bk_config_get(cfg, SEC, "ca_bundle");
	if (v && *v) {
		st->ca_bundle = strdup(v);
		if (!st->ca_bundle)
			return bk_error_set(err, BK_ERR_NOMEM, "out of memory");
	}
	v = bk_config_get(cfg, SEC, "addressing");
	if (!v || strcmp(v, "auto") == 0 || !*v)
		st->addressing = S3_ADDR_AUTO;
	else if (strcmp(v, "path") == 0)
		st->addressing = S3_ADDR_PATH;
	else if (strcmp(v, "virtual") == 0)
		st->addressing = S3_ADDR_VIRTUAL;
	else
		return bk_error_set(err, BK_ERR_USAGE,
				    "config [s3] addressing = %s: give auto, path or virtual",
				    v);
	if (st->addressing == S3_ADDR_AUTO)
		st->addressing = s3_host_is_local_or_ip(st->hostport) ||
						 !s3_bucket_dns_ok(bucket)
					 ? S3_ADDR_PATH
					 : S3_ADDR_VIRTUAL;
	if (st->addressing == S3_ADDR_VIRTUAL && !s3_bucket_dns_ok(bucket))
		return bk_error_set(err, BK_ERR_USAGE,
				    "s3 bucket %s: not usable with virtual-host addressing (use addressing = path)",
				    bucket);
	rc = num_setting(cfg, "concurrency", 8, 1, S3_CONCURRENCY_MAX, false,
			 &n, err);
	if (rc)
		return rc;
	st->concurrency = (unsigned)n;
	rc = num_setting(cfg, "connect_timeout", 10, 1, 3600, false, &n, err);
	if (rc)
		return rc;
	st->connect_timeout = (long)n;
	rc = num_setting(cfg, "stall_timeout", 30, 1, 3600, false, &n, err);
	if (rc)
		return rc;
	st->stall_timeout = (long)n;
	rc = num_setting(cfg, "retry_time", 120, 0, 86400, false, &n, err);
	if (rc)
		return rc;
	st->retry_time = (long)n;
	rc = num_setting(cfg, "part_size", 16 * S3_MIB, S3_PART_MIN,
			 (uint64_t)5 << 30, true, &st->part_size, err);
	if (rc)
		return rc;
	rc = num_setting(cfg, "multipart_threshold", 64 * S3_MIB, S3_PART_MIN,
			 (uint64_t)5 << 30, true, &st->multipart_threshold, err);
	if (!rc)
		rc = resolve_protection(cfg, st, err);
	if (rc)
		return rc;
	return resolve_creds(cfg, env, st, err);
}

bool s3_host_is_local_or_ip(const char *hostport)
{
	size_t n;
	int dots = 0;

	if (hostport[0] == '[')
		return true; /* IPv6 literal */
	n = strcspn(hostport, ":");
	if ((n == 9 && strncasecmp(hostport, "localhost", 9) == 0) ||
	    (n > 10 && strncasecmp(hostport + n - 10, ".localhost", 10) == 0))
		return true;
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (hostport[i] == '.')
			dots++;
		else if (!isdigit((unsigned char)hostport[i]))
			return false;
	}
	return dots == 3;
}

bool s3_bucket_dns_ok(const char *b)
{
	size_t n = strlen(b);

	if (n < 3 || n > 63 || b[0] == '-' || b[n - 1] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(islower((unsigned char)b[i]) ||
		      isdigit((unsigned char)b[i]) || b[i] == '-'))
			return false; /* dots break TLS wildcards */
	return true;
}

enum bk_code s3_parse_url(const char *rest, char **bucket, char **prefix,
			  struct bk_error *err)
{
	size_t bl = strcspn(rest, "/"), start, n;
	const char *p = rest + bl;
	enum bk_code rc = BK_OK;

	*bucket = *prefix = NULL;
	if (bl < 3 || bl > 63) {
		rc = bk_error_set(err, BK_ERR_USAGE,
				  "s3://%.80s: bucket name must be 3 to 63 characters",
				  rest);
		goto out;
	}
	for (size_t i = 0; i < bl; i++)
		if (!isalnum((unsigned char)rest[i]) && !strchr(".-_", rest[i])) {
			rc = bk_error_set(err, BK_ERR_USAGE,
					  "s3://%.80s: bucket names are letters, digits, '.', '-' and '_'",
					  rest);
			goto out;
		}
	while (*p == '/')
		p++;
	n = strlen(p);
	while (n && p[n - 1] == '/')
		n--;
	for (size_t i = 0, s = 0; i <= n; i++) {
		if (i < n && p[i] != '/')
			continue;
		start = s;
		s = i + 1;
		if (n && !bk_store_component_ok(p + start, i - start)) {
			rc = bk_error_set(err, BK_ERR_USAGE,
					  "s3://%.200s: invalid prefix (components of [A-Za-z0-9._-@%%+=,~], no empty, '.' or '..')",
					  rest);
			goto out;
		}
	}
	if (n > BK_STORE_KEY_MAX / 2) {
		rc = bk_error_set(err, BK_ERR_USAGE, "s3://%.80s...: prefix too long",
				  rest);
		goto out;
	}
	*bucket = strndup(rest, bl);
	*prefix = strndup(p, n);
	if (!*bucket || !*prefix)
		rc = bk_error_set(err, BK_ERR_NOMEM, "out of memory");
out:
	if (rc) {
		free(*bucket);
		free(*prefix);
		*bucket = *prefix = NULL;
	}
	return rc;
}

enum bk_code s3_encode(struct bk_buf *b, const char *s, bool keep_slash,
		       struct bk_error *err)
{
	static const char hex[] = "0123456789ABCDEF";
	enum bk_code rc = BK_OK;

	for (; *s && !rc; s++) {
		unsigned char c = (unsigned char)*s;
		char e[3];

		if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' ||
		    (keep_slash && c == '/')) {
			rc = bk_buf_append(b, s, 1, err);
			continue;
		}
		e[0] = '%';
		e[1] = hex[c >> 4];
		e[2] = hex[c & 15];
		rc = bk_buf_append(b, e, 3, err);
	}
	return rc;
}

static int param_cmp(const void *a, const void *b)
{
	const struct s3_param *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c)
		return c;
	return strcmp(x->value ? x->value : "", y->value ? y->value : "");
}

enum bk_code s3_canon_query(struct bk_buf *b, const struct s3_param *p,
			    size_t n, struct bk_error *err)
{
	struct s3_param sorted[16];
	enum bk_code rc = BK_OK;

	if (n > sizeof(sorted) / sizeof(sorted[0]))
		return bk_error_set(err, BK_ERR_INTERNAL,
				    "s3: too many query parameters");
	memcpy(sorted, p, n * sizeof(*p));
	/* SigV4 sorts by the encoded names; the names S3 uses are all
	 * unreserved characters, so the raw order is the encoded order */
	qsort(sorted, n, sizeof(*sorted), param_cmp);
	for (size_t i = 0; i < n && !rc; i++) {
		if (i)
			rc = bk_buf_append(b, "&", 1, err);
		if (!rc)
			rc = s3_encode(b, sorted[i].name, false, err);
		if (!rc)
			rc = bk_buf_append(b, "=", 1, err);
		if (!rc && sorted[i].value)
			rc = s3_encode(b, sorted[i].value, false, err);
	}
	return rc;
}

enum bk_code s3_build_url(struct bk_buf *b, const struct s3_settings *st,
			  const char *bucket, const char *key,
			  const char *query, struct bk_error *err)
{
	enum bk_code rc;

	if (st->addressing == S3_ADDR_VIRTUAL)
		rc = bk_buf_printf(b, err, "%s://%s.%s/", st->scheme, bucket,
				   st->hostport);
	else
		rc = bk_buf_printf(b, err, "%s://%s/%s%s", st->scheme,
				   st->hostport, bucket, key ? "/" : "");
	if (!rc && key)
		rc = s3_encode(b, key, true, err);
	if (!rc && query && *query)
		rc = bk_buf_printf(b, err, "?%s", query);
	return rc;
}

bool s3_http_retryable(long status, const char *s3code)
{
	if (status >= 500 || status == 429)
		return true;
	/* S3's idle-socket timeout comes as a 400 */
	return s3code && (strcmp(s3code, "RequestTimeout") == 0 ||
			  strcmp(s3code, "SlowDown") == 0 ||
			  strcmp(s3code, "InternalError") == 0);
}

bool s3_curl_retryable(int code)
{
	switch ((CURLcode)code) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_PARTIAL_FILE:
	case CURLE_GOT_NOTHING:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_HTTP3:
	case CURLE_QUIC_CONNECT_ERROR:
	case CURLE_AGAIN:
		return true;
	default:
		return false;
	}
}

bool s3_curl_may_have_landed(int code)
{
	switch ((CURLcode)code) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_QUIC_CONNECT_ERROR:
		return false;
	default:
		return true;
	}
}

bool s3_http_may_have_landed(long status)
{
	return status == 500 || status == 502 || status == 504;
}

uint32_t s3_backoff_cap_ms(unsigned attempt)
{
	uint32_t cap = 100;

	for (unsigned i = 0; i < attempt && cap < 10000; i++)
		cap *= 2;
	return cap > 10000 ? 10000 : cap;
}

uint32_t s3_backoff_ms(unsigned attempt, uint32_t rnd)
{
	return rnd % (s3_backoff_cap_ms(attempt) + 1);
}
