/* SPDX-License-Identifier: MIT */
/*
 * Private: the S3 backend's pure parts, kept apart from the transfers so
 * unit tests and fuzz targets reach them without a server.
 *
 *   s3_settings.c  settings from the environment, the config file and the
 *                  shared-credentials file; URL, addressing and encoding
 *   s3_xml.c       ListObjectsV2, Error and InitiateMultipartUpload bodies
 *   s3_etag.c      MD5 and ETags: did a request whose answer was lost land?
 *   s3.c           libcurl: signing, retries, the store operations
 */
#ifndef BACKUP_S3_IMPL_H
#define BACKUP_S3_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backup/buf.h"
#include "backup/config.h"
#include "backup/error.h"
#include "store/store_impl.h"

enum s3_addressing {
	S3_ADDR_AUTO = 0,
	S3_ADDR_PATH,
	S3_ADDR_VIRTUAL,
};

#define S3_MIB ((uint64_t)1 << 20)
#define S3_PART_MIN (5 * S3_MIB)
#define S3_PARTS_MAX 10000
#define S3_CONCURRENCY_MAX 256

struct s3_settings {
	char *scheme;    /* "http" or "https" */
	char *hostport;  /* "127.0.0.1:4568", "s3.eu-west-1.amazonaws.com" */
	char *region;
	enum s3_addressing addressing; /* never AUTO once resolved */
	char *access_key;    /* secret-ish: never printed */
	char *secret_key;    /* secret */
	char *session_token; /* secret, may be NULL */
	char *ca_bundle;     /* may be NULL: the system's */
	const char *cred_source; /* "environment", "config file", path... */
	unsigned concurrency;
	long connect_timeout; /* seconds */
	long stall_timeout;   /* seconds without a byte moving */
	long retry_time;      /* seconds, total for one request's retries */
	uint64_t multipart_threshold;
	uint64_t part_size;
	/* sent with every object written: a canned ACL (NULL: none), and
	 * S3 Object Lock retention (docs/repository.md, "Object Lock") */
	char *object_acl;
	enum s3_lock { S3_LOCK_NONE, S3_LOCK_GOVERNANCE, S3_LOCK_COMPLIANCE }
		object_lock;
	unsigned object_lock_days;
};

/* The environment, injectable for tests (getenv's signature). */
typedef char *(*s3_getenv_fn)(const char *name);

/*
 * Resolve every setting (precedence in s3_settings.c).  bucket decides
 * "auto" addressing (a name that is not a DNS label forces path style).
 * Frees nothing on failure that the caller must release: call
 * s3_settings_release either way.
 */
enum bk_code s3_settings_resolve(const struct bk_config *cfg,
				 s3_getenv_fn env, const char *bucket,
				 struct s3_settings *st, struct bk_error *err);
/* Wipes the secrets and frees every string. */
void s3_settings_release(struct s3_settings *st);

/*
 * Credentials of profile from an AWS shared-credentials file's text
 * ([profile] or [profile NAME] sections; aws_access_key_id,
 * aws_secret_access_key, aws_session_token).  BK_ERR_NOTFOUND when the
 * profile or its keys are missing.
 */
enum bk_code s3_creds_parse(const char *text, size_t len, const char *name,
			    const char *profile, char **access_key,
			    char **secret_key, char **session_token,
			    struct bk_error *err);

/* True for an IPv4 or bracketed IPv6 literal or "localhost" (a port after
 * ':' is ignored). */
bool s3_host_is_local_or_ip(const char *hostport);
/* True when bucket can be a DNS label under virtual-host addressing. */
bool s3_bucket_dns_ok(const char *bucket);
/* Split "s3://bucket/prefix" (the part after "s3://"): bucket 3..63 of
 * [a-z0-9.-_A-Z]; prefix of key components, "" when none. */
enum bk_code s3_parse_url(const char *rest, char **bucket, char **prefix,
			  struct bk_error *err);

/* Append s percent-encoded (RFC 3986 unreserved kept); keep_slash for
 * paths. */
enum bk_code s3_encode(struct bk_buf *b, const char *s, bool keep_slash,
		       struct bk_error *err);

/* One query parameter (value NULL or "" both give "name="). */
struct s3_param {
	const char *name;
	const char *value;
};
/* The canonical query: encoded, sorted by name then value, joined by '&',
 * "name=" for empty values; the same string is sent and signed. */
enum bk_code s3_canon_query(struct bk_buf *b, const struct s3_param *p,
			    size_t n, struct bk_error *err);

/*
 * The request URL: scheme://host/bucket/<encoded key>?query (path) or
 * scheme://bucket.host/<encoded key>?query (virtual).  key may be NULL
 * (the bucket itself); query may be NULL or "".
 */
enum bk_code s3_build_url(struct bk_buf *b, const struct s3_settings *st,
			  const char *bucket, const char *key,
			  const char *query, struct bk_error *err);

/* Retry classification. */
bool s3_http_retryable(long status, const char *s3code);
bool s3_curl_retryable(int curlcode);
/*
 * Whether a failed attempt may nevertheless have taken effect on the
 * server: the connection broke or timed out after the request may have
 * been sent (not a failure to connect), or a 500, 502 or 504 (not 503
 * SlowDown or 429: those are refusals).
 */
bool s3_curl_may_have_landed(int curlcode);
bool s3_http_may_have_landed(long status);
/* Upper bound of the wait before retry number attempt (0-based): 100 ms
 * doubling, capped at 10 s; s3_backoff_ms picks uniformly in [0, cap]
 * from rnd (full jitter). */
uint32_t s3_backoff_cap_ms(unsigned attempt);
uint32_t s3_backoff_ms(unsigned attempt, uint32_t rnd);

/* ETags (s3_etag.c).  S3 gives the MD5 of the body for a single PUT
 * (unless the object is encrypted with SSE-KMS or SSE-C), and for a
 * multipart upload the MD5 of the parts' binary MD5s followed by "-N";
 * some servers (s3rver) give the whole object's MD5 for both. */
#define S3_MD5_LEN 16
#define S3_ETAG_MAX 128
void s3_md5(const void *data, size_t len, uint8_t out[S3_MD5_LEN]);
enum s3_etag_form {
	S3_ETAG_OTHER = 0, /* absent, or a form we cannot compute */
	S3_ETAG_MD5,       /* 32 hex digits: md5 */
	S3_ETAG_MULTIPART, /* 32 hex digits, '-', the number of parts */
};
/* The form of etag (quoted or not, any case; NULL is OTHER), its 16 bytes
 * in md5 and the number of parts in *nparts (0 unless MULTIPART). */
enum s3_etag_form s3_etag_parse(const char *etag, uint8_t md5[S3_MD5_LEN],
				unsigned *nparts);
/* The digest in the ETag of a multipart upload of n parts whose ETags are
 * parts[]: false when one of them is not an MD5 ETag. */
bool s3_etag_multipart(const char (*parts)[S3_ETAG_MAX], unsigned n,
		       uint8_t out[S3_MD5_LEN]);

/* XML bodies (s3_xml.c).  Inputs over S3_XML_MAX or with a DTD are
 * refused; no network, no entity expansion. */
#define S3_XML_MAX ((size_t)16 << 20)
#define S3_LIST_ITEMS_MAX 100000

struct s3_list_item {
	char *key;
	uint64_t size;
	bool marker; /* versions: a delete marker */
};
struct s3_list_page {
	bool truncated;
	char *next_token; /* NULL when none */
	char *next_version; /* versions: NextVersionIdMarker */
	struct s3_list_item *items;
	size_t n;
};
enum bk_code s3_xml_list(const char *buf, size_t len, struct s3_list_page *out,
			 struct bk_error *err);
void s3_list_page_release(struct s3_list_page *p);
/* A ListVersionsResult page: every Version and DeleteMarker (marker set),
 * next_token the NextKeyMarker, next_version the NextVersionIdMarker. */
enum bk_code s3_xml_versions(const char *buf, size_t len,
			     struct s3_list_page *out, struct bk_error *err);
/* An <Error> body: code and message copied (truncated, control bytes
 * replaced); false when buf is not one. */
bool s3_xml_error(const char *buf, size_t len, char *code, size_t codecap,
		  char *message, size_t msgcap);
/* <InitiateMultipartUploadResult><UploadId>. */
enum bk_code s3_xml_upload_id(const char *buf, size_t len, char **upload_id,
			      struct bk_error *err);
/* Call once before threads use the XML parser (idempotent). */
void s3_xml_init(void);

/* The backend (s3.c). */
enum bk_code bk_store_s3_open(const char *rest, bool create,
			      const struct bk_config *cfg, struct bk_store *s,
			      struct bk_error *err);

#endif
