/* SPDX-License-Identifier: MIT */
/*
 * The S3 backend (s3://bucket[/prefix]) on libcurl.
 *
 * Signing: CURLOPT_AWS_SIGV4 "aws:amz:REGION:s3" with the access key and
 * secret as CURLOPT_USERNAME/PASSWORD (keys may contain ':').  libcurl
 * 7.88 signs every header we add and the path and query as given, so:
 * we send x-amz-content-sha256 ourselves (SHA-256 of the body, or of the
 * empty string), percent-encode keys ourselves, and build the query
 * already sorted and encoded ("uploads=" with its '=').  We never add a
 * header with an empty value: 7.88 signs "Expect:" (a header it then
 * removes), so Expect is left to libcurl.
 *
 * Threads: one CURLSH shares DNS, TLS sessions and connections; easy
 * handles come from a mutex-protected pool, at most `concurrency` in use,
 * so every op is thread-safe.  Each request is retried with full-jitter
 * exponential backoff (100 ms doubling, capped at 10 s) on 5xx, 429,
 * SlowDown/RequestTimeout and connection errors, timeouts and resets;
 * other 4xx answers fail at once.
 *
 * Retry time: a request gives up when the storage has been failing for
 * retry_time, counted from the request's first failure, or from an
 * earlier failure of another request when the storage has not answered
 * since (so requests that start during an outage do not each wait
 * retry_time again).  The last attempt may start just before that
 * deadline: a request fails within retry_time plus one attempt
 * (connect_timeout, then stall_timeout without a byte moving) of the
 * first failure.  Once a request has given up, the storage counts as
 * unreachable for the rest of the process and later requests fail at once
 * (the cleanup after a failed push, its lock to delete, would otherwise
 * wait retry_time once more).
 *
 * Lost answers: a PUT, a DELETE or the POST that completes a multipart
 * upload may take effect although its answer never arrives (a reset after
 * the server acted; libcurl itself silently sends a request again when a
 * reused connection closes without a byte of answer).  A DELETE is
 * harmless to repeat (absent is done).  A repeated Complete finds its
 * upload gone (NoSuchUpload, or a 500 from some servers), and a repeated
 * conditional PUT finds its own object (412).  So after an attempt that
 * may have landed, and on those answers, the object is checked first
 * (landed(): a HEAD, one attempt) and the request counts as done when the
 * object is there with our size and, when the server's ETag says it, our
 * MD5 (s3_etag.c).
 *
 * put_new: a HEAD, then a PUT with "If-None-Match: *" (a 412 is
 * BK_ERR_EXISTS).  Servers that ignore that header leave a small race
 * between the HEAD and the PUT in which two writers both succeed and the
 * later one wins; the repository only uses put_new for objects whose
 * content is fixed by their name or written once at init.
 *
 * Secrets never appear in messages; they are wiped when the store closes.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/evp.h>
#include <sodium.h>

#include "backup/clock.h"
#include "store/s3_impl.h"

#define ERRBODY_MAX (64 * 1024)
#define SMALL_BODY_MAX ((size_t)1 << 20)

struct s3 {
	struct s3_settings st;
	char *bucket;
	char *prefix; /* "" or "a/b/" (with the slash) */
	char endpoint[300];
	char sigv4[96];
	CURLSH *sh;
	pthread_mutex_t share_mu[CURL_LOCK_DATA_LAST];
	bool share_mu_ok;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool mu_ok;
	CURL **idle;
	size_t nidle, idle_cap;
	unsigned busy;
	/* under mu: when the storage began failing (monotonic seconds; 0
	 * while it answers), and whether a request has given up on it */
	double failing_since;
	bool gave_up;
};

struct req;
/*
 * Did r take effect although its answer was lost?  *done when the object
 * is there as r would have made it; BK_ERR_NOTFOUND or BK_OK with !*done
 * when it is not; BK_ERR_STORAGE when the check itself failed.
 */
typedef enum bk_code (*landed_fn)(struct s3 *s, const struct req *r,
				  bool *done, struct bk_error *err);

struct req {
	const char *method;  /* GET HEAD PUT POST DELETE */
	const char *what;    /* for messages: the relative key, "bucket" */
	const char *key;     /* relative key, NULL for the bucket */
	const char *query;   /* canonical, or NULL */
	const uint8_t *body; /* PUT and POST */
	size_t body_len;
	const char *hdr[8];
	struct bk_buf *out; /* 2xx body (bounded); NULL: dropped */
	landed_fn landed;   /* NULL: repeating it is harmless */
	const void *landed_ctx;
	bool once;          /* one attempt, no retries */
	/* results */
	long status;
	uint64_t clen;
	bool have_clen;
	char etag[S3_ETAG_MAX];
	char code[64];
	char message[200];
	char version_id[160];  /* x-amz-version-id ("" when none) */
	char lock_until[48];   /* x-amz-object-lock-retain-until-date */
};

struct xfer {
	struct req *r;
	size_t out_start;
	struct bk_buf errbody;
	size_t up_off;
	bool limit;
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_FAILED_INIT;

static void global_init(void)
{
	global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
	s3_xml_init();
	if (sodium_init() < 0)
		global_rc = CURLE_FAILED_INIT;
}

static void sleep_ms(uint32_t ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* ---- handle pool ------------------------------------------------------ */

static void share_lock(CURL *h, curl_lock_data d, curl_lock_access a, void *p)
{
	struct s3 *s = p;

	(void)h;
	(void)a;
	if ((unsigned)d < CURL_LOCK_DATA_LAST)
		pthread_mutex_lock(&s->share_mu[d]);
}

static void share_unlock(CURL *h, curl_lock_data d, void *p)
{
	struct s3 *s = p;

	(void)h;
	if ((unsigned)d < CURL_LOCK_DATA_LAST)
		pthread_mutex_unlock(&s->share_mu[d]);
}

static CURL *handle_get(struct s3 *s)
{
	CURL *h = NULL;

	pthread_mutex_lock(&s->mu);
	while (s->busy >= s->st.concurrency)
		pthread_cond_wait(&s->cv, &s->mu);
	s->busy++;
	if (s->nidle)
		h = s->idle[--s->nidle];
	pthread_mutex_unlock(&s->mu);
	if (!h) {
		h = curl_easy_init();
		if (h && curl_easy_setopt(h, CURLOPT_SHARE, s->sh) != CURLE_OK) {
			curl_easy_cleanup(h);
			h = NULL;
		}
		if (!h) {
			pthread_mutex_lock(&s->mu);
			s->busy--;
			pthread_cond_signal(&s->cv);
			pthread_mutex_unlock(&s->mu);
		}
	}
	return h;
}

static void handle_put(struct s3 *s, CURL *h)
{
	pthread_mutex_lock(&s->mu);
	if (s->nidle < s->idle_cap)
		s->idle[s->nidle++] = h;
	else
		curl_easy_cleanup(h);
	s->busy--;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

/* ---- the storage's health (see the top of the file) --------------------- */

static void storage_answered(struct s3 *s)
{
	pthread_mutex_lock(&s->mu);
	s->failing_since = 0;
	pthread_mutex_unlock(&s->mu);
}

/* An attempt failed at t: when the storage began failing. */
static double storage_failed(struct s3 *s, double t)
{
	double since;

	pthread_mutex_lock(&s->mu);
	if (s->failing_since == 0 || t < s->failing_since)
		s->failing_since = t;
	since = s->failing_since;
	pthread_mutex_unlock(&s->mu);
	return since;
}

static void storage_give_up(struct s3 *s)
{
	pthread_mutex_lock(&s->mu);
	s->gave_up = true;
	pthread_mutex_unlock(&s->mu);
}

static bool storage_given_up(struct s3 *s)
{
	bool g;

	pthread_mutex_lock(&s->mu);
	g = s->gave_up;
	pthread_mutex_unlock(&s->mu);
	return g;
}

/* ---- one transfer ----------------------------------------------------- */

static bool is_2xx(long st)
{
	return st >= 200 && st < 300;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
	struct xfer *x = ud;
	struct req *r = x->r;
	size_t len = size * n, vl;
	const char *v;

	if (len > 5 && strncmp(p, "HTTP/", 5) == 0) {
		const char *sp = memchr(p, ' ', len);

		r->status = sp ? strtol(sp + 1, NULL, 10) : 0;
		r->have_clen = false;
		r->etag[0] = '\0';
		return len;
	}
	v = memchr(p, ':', len);
	if (!v)
		return len;
	v++;
	while (v < p + len && (*v == ' ' || *v == '\t'))
		v++;
	vl = (size_t)(p + len - v);
	while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' ||
		      v[vl - 1] == ' '))
		vl--;
	if (len > 15 && strncasecmp(p, "content-length:", 15) == 0) {
		char tmp[32];

		if (vl && vl < sizeof(tmp)) {
			memcpy(tmp, v, vl);
			tmp[vl] = '\0';
			r->clen = strtoull(tmp, NULL, 10);
			r->have_clen = true;
		}
		/* refuse before anything is allocated */
		if (is_2xx(r->status) && r->out && r->have_clen &&
		    (r->out->len > r->out->max ||
		     r->clen > r->out->max - r->out->len)) {
			x->limit = true;
			return 0;
		}
	} else if (len > 5 && strncasecmp(p, "etag:", 5) == 0) {
		if (vl < sizeof(r->etag)) {
			memcpy(r->etag, v, vl);
			r->etag[vl] = '\0';
		}
	} else if (len > 17 && strncasecmp(p, "x-amz-version-id:", 17) == 0) {
		if (vl < sizeof(r->version_id)) {
			memcpy(r->version_id, v, vl);
			r->version_id[vl] = '\0';
		}
	} else if (len > 36 &&
		   strncasecmp(p, "x-amz-object-lock-retain-until-date:",
			       36) == 0) {
		if (vl < sizeof(r->lock_until)) {
			memcpy(r->lock_until, v, vl);
			r->lock_until[vl] = '\0';
		}
	}
	return len;
}

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
	struct xfer *x = ud;
	struct req *r = x->r;
	size_t len = size * n;

	if (is_2xx(r->status)) {
		if (!r->out)
			return len;
		if (bk_buf_append(r->out, p, len, NULL)) {
			x->limit = true;
			return 0;
		}
		return len;
	}
	if (x->errbody.len < ERRBODY_MAX) {
		size_t room = ERRBODY_MAX - x->errbody.len;

		bk_buf_append(&x->errbody, p, len < room ? len : room, NULL);
	}
	return len;
}

static size_t on_read(char *p, size_t size, size_t n, void *ud)
{
	struct xfer *x = ud;
	size_t want = size * n, left = x->r->body_len - x->up_off;

	if (want > left)
		want = left;
	if (want)
		memcpy(p, x->r->body + x->up_off, want);
	x->up_off += want;
	return want;
}

static int on_seek(void *ud, curl_off_t off, int origin)
{
	struct xfer *x = ud;

	if (origin != SEEK_SET || off < 0 || (uint64_t)off > x->r->body_len)
		return CURL_SEEKFUNC_FAIL;
	x->up_off = (size_t)off;
	return CURL_SEEKFUNC_OK;
}

static void slist_wipe_free(struct curl_slist *l)
{
	for (struct curl_slist *i = l; i; i = i->next)
		explicit_bzero(i->data, strlen(i->data));
	curl_slist_free_all(l);
}

/* Prepare h for r; fills *hdrs (caller frees). */
static CURLcode setup(struct s3 *s, CURL *h, struct req *r, const char *url,
		      const char *sha_hdr, struct xfer *x,
		      struct curl_slist **hdrs, char *errbuf)
{
	struct curl_slist *l = NULL, *t;
	char tokhdr[4200];
	CURLcode cc = CURLE_OK;

#define SET(opt, val)                                         \
	do {                                                  \
		if (!cc)                                      \
			cc = curl_easy_setopt(h, opt, val);   \
	} while (0)

	curl_easy_reset(h);
	l = curl_slist_append(l, sha_hdr);
	if (l && s->st.session_token) {
		snprintf(tokhdr, sizeof(tokhdr), "x-amz-security-token: %s",
			 s->st.session_token);
		t = curl_slist_append(l, tokhdr);
		explicit_bzero(tokhdr, sizeof(tokhdr));
		l = t ? t : (slist_wipe_free(l), NULL);
	}
	for (size_t i = 0; l && i < sizeof(r->hdr) / sizeof(r->hdr[0]); i++)
		if (r->hdr[i]) {
			t = curl_slist_append(l, r->hdr[i]);
			l = t ? t : (slist_wipe_free(l), NULL);
		}
	*hdrs = l;
	if (!l)
		return CURLE_OUT_OF_MEMORY;
	SET(CURLOPT_URL, url);
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_ERRORBUFFER, errbuf);
	SET(CURLOPT_CONNECTTIMEOUT, s->st.connect_timeout);
	SET(CURLOPT_LOW_SPEED_LIMIT, 1L);
	SET(CURLOPT_LOW_SPEED_TIME, s->st.stall_timeout);
	SET(CURLOPT_TCP_KEEPALIVE, 1L);
	/* the shared connection cache keeps at most this many: libcurl's
	 * default (5) is below our concurrency, so every request that
	 * finished while 5 others idled closed its connection, and the next
	 * one opened a new one (a restore: 270 connects for 376 requests) */
	SET(CURLOPT_MAXCONNECTS, (long)s->st.concurrency + 2);
	SET(CURLOPT_SSL_VERIFYPEER, 1L);
	SET(CURLOPT_SSL_VERIFYHOST, 2L);
	if (s->st.ca_bundle)
		SET(CURLOPT_CAINFO, s->st.ca_bundle);
	SET(CURLOPT_AWS_SIGV4, s->sigv4);
	SET(CURLOPT_USERNAME, s->st.access_key);
	SET(CURLOPT_PASSWORD, s->st.secret_key);
	SET(CURLOPT_HTTPHEADER, l);
	SET(CURLOPT_HEADERFUNCTION, on_header);
	SET(CURLOPT_HEADERDATA, x);
	SET(CURLOPT_WRITEFUNCTION, on_body);
	SET(CURLOPT_WRITEDATA, x);
	if (strcmp(r->method, "HEAD") == 0) {
		SET(CURLOPT_NOBODY, 1L);
	} else if (strcmp(r->method, "PUT") == 0) {
		SET(CURLOPT_UPLOAD, 1L);
		SET(CURLOPT_READFUNCTION, on_read);
		SET(CURLOPT_READDATA, x);
		SET(CURLOPT_SEEKFUNCTION, on_seek);
		SET(CURLOPT_SEEKDATA, x);
		SET(CURLOPT_INFILESIZE_LARGE, (curl_off_t)r->body_len);
	} else if (strcmp(r->method, "POST") == 0) {
		SET(CURLOPT_POST, 1L);
		SET(CURLOPT_POSTFIELDS, r->body ? (const char *)r->body : "");
		SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
	} else if (strcmp(r->method, "DELETE") == 0) {
		SET(CURLOPT_CUSTOMREQUEST, "DELETE");
	}
#undef SET
	return cc;
}

static void fmt_answer(const struct s3 *s, const struct req *r, char *out,
		       size_t cap)
{
	if (r->code[0])
		snprintf(out, cap, "%s answered %ld %s%s%s", s->endpoint,
			 r->status, r->code, r->message[0] ? ": " : "",
			 r->message);
	else
		snprintf(out, cap, "%s answered %ld%s", s->endpoint, r->status,
			 strcmp(r->method, "HEAD") == 0
				 ? " (a HEAD answer carries no error details)"
				 : "");
}

/* One attempt's state and outcome. */
struct try {
	const char *url, *sha_hdr;
	size_t out_start;
	struct xfer x;
	char errbuf[CURL_ERROR_SIZE];
	char last[720]; /* why it failed, for messages */
	bool retry;     /* another attempt may help */
	bool net;       /* the connection failed (rather than an answer) */
	bool maybe;     /* it may have landed nevertheless */
};

/*
 * One attempt at r: BK_OK for a 2xx answer.  Otherwise t says why and
 * whether to retry; when not, err holds the mapped error (404 NOTFOUND,
 * 401/403 AUTH, 412 EXISTS, 416 FORMAT, else STORAGE).
 */
static enum bk_code try_once(struct s3 *s, struct req *r, struct try *t,
			     struct bk_error *err)
{
	struct curl_slist *hdrs = NULL;
	CURL *h;
	CURLcode cc;
	enum bk_code rc = BK_ERR_STORAGE;

	t->retry = t->net = t->maybe = false;
	t->x.r = r;
	t->x.out_start = t->out_start;
	t->x.up_off = 0;
	t->x.limit = false;
	bk_buf_reset(&t->x.errbody);
	if (r->out) {
		r->out->len = t->out_start;
		if (r->out->data)
			r->out->data[t->out_start] = '\0';
	}
	r->status = 0;
	r->have_clen = false;
	r->etag[0] = r->code[0] = r->message[0] = '\0';
	r->version_id[0] = r->lock_until[0] = '\0';
	t->errbuf[0] = '\0';
	h = handle_get(s);
	if (!h)
		return bk_error_set(err, BK_ERR_NOMEM,
				    "s3 %s %s: cannot make a curl handle",
				    r->method, r->what);
	cc = setup(s, h, r, t->url, t->sha_hdr, &t->x, &hdrs, t->errbuf);
	if (!cc)
		cc = curl_easy_perform(h);
	if (!cc)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
	/* no dangling pointers to our stack in a pooled handle */
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
	handle_put(s, h);
	slist_wipe_free(hdrs);
	if (t->x.limit)
		return bk_error_set(err, BK_ERR_LIMIT,
				    "s3 %s %s: %llu bytes exceed the buffer limit of %zu bytes",
				    r->method, r->what,
				    (unsigned long long)r->clen,
				    r->out ? r->out->max : 0);
	if (cc) {
		snprintf(t->last, sizeof(t->last), "%s",
			 t->errbuf[0] ? t->errbuf : curl_easy_strerror(cc));
		t->retry = s3_curl_retryable(cc);
		t->net = true;
		t->maybe = s3_curl_may_have_landed(cc);
		if (!t->retry)
			return bk_error_set(err, BK_ERR_STORAGE,
					    "s3 %s %s: %s: %s", r->method,
					    r->what, s->endpoint, t->last);
		return BK_ERR_STORAGE;
	}
	if (is_2xx(r->status)) {
		storage_answered(s);
		return BK_OK;
	}
	s3_xml_error((const char *)t->x.errbody.data, t->x.errbody.len,
		     r->code, sizeof(r->code), r->message, sizeof(r->message));
	fmt_answer(s, r, t->last, sizeof(t->last));
	t->retry = s3_http_retryable(r->status, r->code);
	t->maybe = s3_http_may_have_landed(r->status);
	if (t->retry)
		return BK_ERR_STORAGE;
	storage_answered(s);
	if (r->status == 404)
		rc = BK_ERR_NOTFOUND;
	else if (r->status == 401 || r->status == 403)
		rc = BK_ERR_AUTH;
	else if (r->status == 412)
		rc = BK_ERR_EXISTS;
	else if (r->status == 416)
		rc = BK_ERR_FORMAT;
	return bk_error_set(err, rc, "s3 %s %s: %s", r->method, r->what,
			    t->last);
}

/*
 * Whether r landed although its answer was lost (r->landed): BK_OK when
 * it did; BK_ERR_NOTFOUND when it did not, or cannot be shown to have;
 * BK_ERR_STORAGE when the check failed as an attempt does (no answer, or
 * one worth retrying); any other code is a failure of ours (out of
 * memory), with err set.
 */
static enum bk_code check_landed(struct s3 *s, const struct req *r,
				 struct bk_error *err)
{
	bool done = false;
	enum bk_code rc = r->landed(s, r, &done, err);

	if (rc == BK_OK && !done)
		rc = BK_ERR_NOTFOUND;
	return rc;
}

/* Perform r with retries, for as long as the top of the file says. */
static enum bk_code perform(struct s3 *s, struct req *r, struct bk_error *err)
{
	struct bk_buf url;
	struct try t;
	uint8_t hash[32];
	unsigned hlen = 0;
	char sha_hdr[128];
	double start = bk_mono(), first_fail = 0;
	unsigned attempt, tries = 0;
	bool maybe = false; /* an attempt may have landed unanswered */
	enum bk_code rc = BK_OK;

	memset(&t, 0, sizeof(t));
	t.out_start = r->out ? r->out->len : 0;
	bk_buf_init(&url, 16384);
	bk_buf_init(&t.x.errbody, ERRBODY_MAX + 1);
	if (r->key) {
		struct bk_buf full;

		bk_buf_init(&full, 2 * BK_STORE_KEY_MAX + 16);
		rc = bk_buf_printf(&full, err, "%s%s", s->prefix, r->key);
		if (!rc)
			rc = s3_build_url(&url, &s->st, s->bucket,
					  (const char *)full.data, r->query, err);
		bk_buf_release(&full);
	} else {
		rc = s3_build_url(&url, &s->st, s->bucket, NULL, r->query, err);
	}
	if (rc)
		goto out;
	/* OpenSSL's SHA-256 uses the CPU's SHA extensions: 5 times
	 * libsodium's portable one here, on every byte a push sends */
	if (!EVP_Digest(r->body ? (const void *)r->body : "", r->body_len,
			hash, &hlen, EVP_sha256(), NULL) ||
	    hlen != sizeof(hash)) {
		rc = bk_error_set(err, BK_ERR_INTERNAL,
				  "s3 %s %s: SHA-256 of the body failed",
				  r->method, r->what);
		goto out;
	}
	memcpy(sha_hdr, "x-amz-content-sha256: ", 22);
	sodium_bin2hex(sha_hdr + 22, sizeof(sha_hdr) - 22, hash, sizeof(hash));
	t.url = (const char *)url.data;
	t.sha_hdr = sha_hdr;
	for (attempt = 1;; attempt++) {
		enum bk_code crc = BK_ERR_NOTFOUND;
		struct bk_error cerr;
		double now, since, deadline;
		uint32_t wait;

		if (storage_given_up(s)) {
			if (tries == 0)
				rc = bk_error_set(err, BK_ERR_STORAGE,
						  "s3 %s %s: %s unreachable: not tried, as an earlier request gave up after retry_time (%ld s)",
						  r->method, r->what,
						  s->endpoint, s->st.retry_time);
			else
				rc = bk_error_set(err, BK_ERR_STORAGE,
						  "s3 %s %s: %s unreachable after %u attempts over %.0f s: %s",
						  r->method, r->what,
						  s->endpoint, tries,
						  bk_mono() - start, t.last);
			goto out;
		}
		/* a repeat of what may have landed: is it there already? */
		if (maybe && r->landed) {
			crc = check_landed(s, r, &cerr);
			if (crc != BK_ERR_NOTFOUND && crc != BK_ERR_STORAGE) {
				rc = crc;
				if (rc && err)
					*err = cerr;
				goto out;
			}
		}
		/* a check that failed counts as this round's attempt */
		if (crc != BK_ERR_STORAGE) {
			tries++;
			rc = try_once(s, r, &t, err);
			if (rc == BK_OK)
				goto out;
			maybe = maybe || t.maybe;
			/* NoSuchUpload: a Complete that landed before; 412:
			 * our own conditional PUT, or a writer of the same
			 * bytes */
			if (!t.retry && r->landed &&
			    (r->status == 404 || r->status == 412)) {
				crc = check_landed(s, r, &cerr);
				if (crc != BK_ERR_NOTFOUND &&
				    crc != BK_ERR_STORAGE) {
					rc = crc;
					if (rc && err)
						*err = cerr;
				}
			}
			if (!t.retry)
				goto out;
		}
		now = bk_mono();
		if (first_fail == 0)
			first_fail = now;
		since = storage_failed(s, now);
		deadline = (since < first_fail ? since : first_fail) +
			   (double)s->st.retry_time;
		if (r->once || now >= deadline) {
			if (!r->once)
				storage_give_up(s);
			if (t.net)
				rc = bk_error_set(err, BK_ERR_STORAGE,
						  "s3 %s %s: %s unreachable after %u attempts over %.0f s: %s",
						  r->method, r->what,
						  s->endpoint, tries,
						  now - start, t.last);
			else
				rc = bk_error_set(err, BK_ERR_STORAGE,
						  "s3 %s %s: %s (after %u attempts over %.0f s)",
						  r->method, r->what, t.last,
						  tries, now - start);
			goto out;
		}
		/* the last attempt starts at the deadline, not after it */
		wait = s3_backoff_ms(attempt - 1, randombytes_random());
		if ((double)wait > (deadline - now) * 1000.0)
			wait = (uint32_t)((deadline - now) * 1000.0) + 1;
		sleep_ms(wait);
	}
out:
	if (rc && r->out) {
		r->out->len = t.out_start;
		if (r->out->data)
			r->out->data[t.out_start] = '\0';
	}
	bk_buf_release(&url);
	bk_buf_release(&t.x.errbody);
	return rc;
}

/* ---- operations ------------------------------------------------------- */

static enum bk_code s3_head(void *priv, const char *key, uint64_t *size,
			    struct bk_error *err)
{
	struct s3 *s = priv;
	struct req r = { .method = "HEAD", .what = key, .key = key };
	enum bk_code rc = perform(s, &r, err);

	if (rc == BK_ERR_NOTFOUND)
		return bk_error_set(err, BK_ERR_NOTFOUND,
				    "head %s: no such object", key);
	if (rc)
		return rc;
	if (!r.have_clen)
		return bk_error_set(err, BK_ERR_STORAGE,
				    "s3 HEAD %s: %s sent no Content-Length", key,
				    s->endpoint);
	*size = r.clen;
	return BK_OK;
}

/*
 * One HEAD, no retries, for the checks after a lost answer: *size and
 * etag ("" when the server sent none).  BK_ERR_STORAGE only when it failed
 * as an attempt does (the check is then retried); any other answer but
 * the object is BK_ERR_NOTFOUND (not there, or not to be seen: the caller
 * then repeats its request).
 */
static enum bk_code head_once(struct s3 *s, const char *key, uint64_t *size,
			      char etag[S3_ETAG_MAX], struct bk_error *err)
{
	struct req r = { .method = "HEAD", .what = key, .key = key,
			 .once = true };
	enum bk_code rc = perform(s, &r, err);

	etag[0] = '\0';
	if (rc == BK_OK && !r.have_clen)
		rc = BK_ERR_NOTFOUND;
	if (rc == BK_OK) {
		*size = r.clen;
		memcpy(etag, r.etag, S3_ETAG_MAX);
		return BK_OK;
	}
	if (rc == BK_ERR_NOMEM || rc == BK_ERR_LIMIT)
		return rc;
	if (rc == BK_ERR_STORAGE &&
	    (r.status == 0 || s3_http_retryable(r.status, r.code)))
		return rc;
	return BK_ERR_NOTFOUND;
}

/* A single PUT landed: the object has our size, and our MD5 when its ETag
 * is one (any other form proves nothing: the size then decides). */
static enum bk_code put_landed(struct s3 *s, const struct req *r, bool *done,
			       struct bk_error *err)
{
	uint8_t got[S3_MD5_LEN], want[S3_MD5_LEN];
	char etag[S3_ETAG_MAX];
	uint64_t size;
	unsigned np;
	enum bk_code rc = head_once(s, r->key, &size, etag, err);

	*done = false;
	if (rc || size != r->body_len)
		return rc;
	switch (s3_etag_parse(etag, got, &np)) {
	case S3_ETAG_MD5:
		s3_md5(r->body, r->body_len, want);
		*done = memcmp(got, want, sizeof(got)) == 0;
		break;
	case S3_ETAG_MULTIPART: /* not from our single PUT */
		break;
	case S3_ETAG_OTHER:
		*done = true;
		break;
	}
	return BK_OK;
}

/* What the check of a Complete needs: the object and its parts' ETags. */
struct mp_done {
	const uint8_t *data;
	size_t len;
	const char (*etags)[S3_ETAG_MAX];
	unsigned nparts;
};

/* A Complete landed: the object has our size and, when its ETag says it,
 * the ETag of our parts ("md5-N"), or our MD5 (servers that give the
 * whole object's: s3rver). */
static enum bk_code complete_landed(struct s3 *s, const struct req *r,
				    bool *done, struct bk_error *err)
{
	const struct mp_done *m = r->landed_ctx;
	uint8_t got[S3_MD5_LEN], want[S3_MD5_LEN];
	char etag[S3_ETAG_MAX];
	uint64_t size;
	unsigned np;
	enum bk_code rc = head_once(s, r->key, &size, etag, err);

	*done = false;
	if (rc || size != m->len)
		return rc;
	switch (s3_etag_parse(etag, got, &np)) {
	case S3_ETAG_MD5:
		s3_md5(m->data, m->len, want);
		*done = memcmp(got, want, sizeof(got)) == 0;
		break;
	case S3_ETAG_MULTIPART:
		if (np != m->nparts)
			break;
		/* parts whose ETags are not MD5s (SSE-KMS): the size
		 * decides */
		*done = !s3_etag_multipart(m->etags, m->nparts, want) ||
			memcmp(got, want, sizeof(got)) == 0;
		break;
	case S3_ETAG_OTHER:
		*done = true;
		break;
	}
	return BK_OK;
}

static enum bk_code s3_get(void *priv, const char *key, bool whole,
			   uint64_t off, uint64_t len, struct bk_buf *out,
			   struct bk_error *err)
{
	struct s3 *s = priv;
	struct req r = { .method = "GET", .what = key, .key = key, .out = out };
	char range[80];
	size_t start = out->len;
	uint64_t size;
	enum bk_code rc;

	if (!whole) {
		if (out->len > out->max || len > out->max - out->len)
			return bk_error_set(err, BK_ERR_LIMIT,
					    "get %s: %llu bytes exceed the buffer limit of %zu bytes",
					    key, (unsigned long long)len,
					    out->max);
		if (len == 0 || off > UINT64_MAX - len) {
			rc = s3_head(priv, key, &size, err);
			if (!rc && off > size)
				rc = bk_error_set(err, BK_ERR_FORMAT,
						  "get %s: range of 0 bytes at %llu is past the end of the object (%llu bytes)",
						  key, (unsigned long long)off,
						  (unsigned long long)size);
			if (!rc)
				rc = bk_buf_reserve(out, 0, err);
			if (!rc && out->data)
				out->data[out->len] = '\0';
			return rc;
		}
		snprintf(range, sizeof(range), "Range: bytes=%llu-%llu",
			 (unsigned long long)off,
			 (unsigned long long)(off + len - 1));
		r.hdr[0] = range;
		rc = bk_buf_reserve(out, (size_t)len, err);
		if (rc)
			return rc;
	}
	rc = perform(s, &r, err);
	if (rc == BK_ERR_NOTFOUND)
		return bk_error_set(err, BK_ERR_NOTFOUND,
				    "get %s: no such object", key);
	if (rc == BK_ERR_FORMAT && r.status == 416)
		return bk_error_set(err, BK_ERR_FORMAT,
				    "get %s: range of %llu bytes at %llu is past the end of the object",
				    key, (unsigned long long)len,
				    (unsigned long long)off);
	if (rc)
		return rc;
	if (!whole && (out->len - start != len ||
		       (r.status != 206 && off != 0))) {
		uint64_t got = out->len - start;

		out->len = start;
		out->data[start] = '\0';
		if (r.status == 206 && got < len)
			return bk_error_set(err, BK_ERR_FORMAT,
					    "get %s: range of %llu bytes at %llu is past the end of the object",
					    key, (unsigned long long)len,
					    (unsigned long long)off);
		return bk_error_set(err, BK_ERR_STORAGE,
				    "s3 GET %s: %s answered %ld with %llu bytes to a request for %llu bytes at %llu",
				    key, s->endpoint, r.status,
				    (unsigned long long)got,
				    (unsigned long long)len,
				    (unsigned long long)off);
	}
	if (whole && r.have_clen && out->len - start != r.clen) {
		out->len = start;
		out->data[start] = '\0';
		return bk_error_set(err, BK_ERR_STORAGE,
				    "s3 GET %s: short body from %s", key,
				    s->endpoint);
	}
	return BK_OK;
}

/* ---- ACLs and Object Lock ------------------------------------------------ */

/* "2026-12-17T12:00:00Z": the form S3 takes and gives (with or without
 * milliseconds, which are dropped). */
static void iso_date(uint64_t t, char *out, size_t n)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!gmtime_r(&tt, &tm) || !strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(out, n, "1970-01-01T00:00:00Z");
}

static uint64_t iso_parse(const char *v)
{
	struct tm tm;
	time_t t;

	memset(&tm, 0, sizeof(tm));
	if (sscanf(v, "%d-%d-%dT%d:%d:%d", &tm.tm_year, &tm.tm_mon,
		   &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
		return 0;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	t = timegm(&tm);
	return t > 0 ? (uint64_t)t : 0;
}

/* What a write carries besides its body: the settings' canned ACL and
 * retention (on a PUT or a multipart create), and the Content-MD5 that S3
 * wants of every body written under Object Lock (a PUT, each part, a
 * retention change). */
struct write_hdrs {
	char acl[80], mode[64], until[96], md5[64];
};

static const char *lock_mode(const struct s3 *s)
{
	return s->st.object_lock == S3_LOCK_COMPLIANCE ? "COMPLIANCE"
						       : "GOVERNANCE";
}

static void add_hdr(struct req *r, const char *h)
{
	for (size_t i = 0; i < sizeof(r->hdr) / sizeof(r->hdr[0]); i++)
		if (!r->hdr[i]) {
			r->hdr[i] = h;
			return;
		}
}

static void content_md5(struct write_hdrs *w, struct req *r,
			const void *body, size_t len)
{
	uint8_t md5[S3_MD5_LEN];
	char b64[sodium_base64_ENCODED_LEN(S3_MD5_LEN,
					   sodium_base64_VARIANT_ORIGINAL)];

	s3_md5(body, len, md5);
	sodium_bin2base64(b64, sizeof(b64), md5, sizeof(md5),
			  sodium_base64_VARIANT_ORIGINAL);
	snprintf(w->md5, sizeof(w->md5), "Content-MD5: %s", b64);
	add_hdr(r, w->md5);
}

static void object_hdrs(struct s3 *s, struct write_hdrs *w, struct req *r,
			bool retain)
{
	if (s->st.object_acl) {
		snprintf(w->acl, sizeof(w->acl), "x-amz-acl: %s",
			 s->st.object_acl);
		add_hdr(r, w->acl);
	}
	if (retain && s->st.object_lock != S3_LOCK_NONE) {
		char d[40];

		/* the server's clock decides: the real time, never a test's
		 * simulated one */
		iso_date((uint64_t)time(NULL) +
				 (uint64_t)s->st.object_lock_days * 86400,
			 d, sizeof(d));
		snprintf(w->mode, sizeof(w->mode),
			 "x-amz-object-lock-mode: %s", lock_mode(s));
		snprintf(w->until, sizeof(w->until),
			 "x-amz-object-lock-retain-until-date: %s", d);
		add_hdr(r, w->mode);
		add_hdr(r, w->until);
	}
}

/* When the object's retention ends (0: none, or no Object Lock) and its
 * version: one HEAD. */
static enum bk_code retention_of(struct s3 *s, const char *key,
				 uint64_t *until, char *version, size_t vn,
				 struct bk_error *err)
{
	struct req r = { .method = "HEAD", .what = key, .key = key };
	enum bk_code rc = perform(s, &r, err);

	*until = 0;
	if (version)
		snprintf(version, vn, "%s", rc ? "" : r.version_id);
	if (rc)
		return rc;
	if (r.lock_until[0])
		*until = iso_parse(r.lock_until);
	return BK_OK;
}

static enum bk_code s3_retention(void *priv, const char *key, uint64_t *until,
				 struct bk_error *err)
{
	return retention_of(priv, key, until, NULL, 0, err);
}

/* Retention of the current version until `until` (PutObjectRetention). */
static enum bk_code s3_retain(void *priv, const char *key, uint64_t until,
			      struct bk_error *err)
{
	struct s3 *s = priv;
	struct write_hdrs w;
	char d[40], body[320];
	struct req r = { .method = "PUT", .what = key, .key = key,
			 .query = "retention=" };
	int n;

	iso_date(until, d, sizeof(d));
	n = snprintf(body, sizeof(body),
		     "<Retention xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
		     "<Mode>%s</Mode><RetainUntilDate>%s</RetainUntilDate>"
		     "</Retention>",
		     lock_mode(s), d);
	r.body = (const uint8_t *)body;
	r.body_len = (size_t)n;
	memset(&w, 0, sizeof(w));
	content_md5(&w, &r, body, (size_t)n);
	return perform(s, &r, err);
}

/*
 * Under Object Lock (the settings say so) a plain DELETE would only hide
 * the object behind a delete marker, and free nothing: the version is
 * deleted instead, after a HEAD has shown that its retention is over
 * (BK_ERR_RETAINED, with the date, when it is not).
 */
static enum bk_code s3_del(void *priv, const char *key, struct bk_error *err)
{
	struct s3 *s = priv;
	struct req r = { .method = "DELETE", .what = key, .key = key };
	char version[160], until_s[40];
	struct bk_buf q;
	uint64_t until;
	enum bk_code rc;

	if (s->st.object_lock == S3_LOCK_NONE) {
		rc = perform(s, &r, err);
		return rc == BK_ERR_NOTFOUND ? BK_OK : rc;
	}
	rc = retention_of(s, key, &until, version, sizeof(version), err);
	if (rc)
		return rc == BK_ERR_NOTFOUND ? BK_OK : rc;
	if (until > (uint64_t)time(NULL)) {
		iso_date(until, until_s, sizeof(until_s));
		return bk_error_set(err, BK_ERR_RETAINED,
				    "%s: under Object Lock retention until %s",
				    key, until_s);
	}
	bk_buf_init(&q, 512);
	if (version[0]) {
		struct s3_param qp[1] = { { "versionId", version } };

		rc = s3_canon_query(&q, qp, 1, err);
		if (rc) {
			bk_buf_release(&q);
			return rc;
		}
		r.query = (const char *)q.data;
	}
	rc = perform(s, &r, err);
	bk_buf_release(&q);
	return rc == BK_ERR_NOTFOUND ? BK_OK : rc;
}

static enum bk_code put_simple(struct s3 *s, const char *key,
			       const void *data, size_t len, bool replace,
			       bool transient, struct bk_error *err)
{
	struct req r = { .method = "PUT", .what = key, .key = key,
			 .body = data, .body_len = len,
			 .landed = put_landed };
	struct write_hdrs w;
	enum bk_code rc;

	if (!replace)
		r.hdr[0] = "If-None-Match: *";
	memset(&w, 0, sizeof(w));
	object_hdrs(s, &w, &r, !transient);
	if (s->st.object_lock != S3_LOCK_NONE)
		content_md5(&w, &r, data, len);
	rc = perform(s, &r, err);
	if (rc == BK_ERR_EXISTS)
		return bk_error_set(err, BK_ERR_EXISTS,
				    "put %s: object already exists", key);
	return rc;
}

struct mp {
	struct s3 *s;
	const char *key;
	const char *upload_id;
	const uint8_t *data;
	size_t len, part;
	unsigned nparts;
	char (*etags)[S3_ETAG_MAX];
	pthread_mutex_t mu;
	unsigned next;
	bool failed;
	enum bk_code rc;
	struct bk_error err;
};

static void *mp_worker(void *arg)
{
	struct mp *m = arg;

	for (;;) {
		struct bk_error err;
		struct req r = { .method = "PUT", .what = m->key, .key = m->key };
		struct write_hdrs w;
		struct s3_param qp[2];
		struct bk_buf q;
		char num[16];
		unsigned i;
		enum bk_code rc;

		pthread_mutex_lock(&m->mu);
		i = m->next++;
		if (m->failed || i >= m->nparts) {
			pthread_mutex_unlock(&m->mu);
			break;
		}
		pthread_mutex_unlock(&m->mu);
		snprintf(num, sizeof(num), "%u", i + 1);
		qp[0] = (struct s3_param){ "partNumber", num };
		qp[1] = (struct s3_param){ "uploadId", m->upload_id };
		bk_buf_init(&q, 8192);
		rc = s3_canon_query(&q, qp, 2, &err);
		r.query = (const char *)q.data;
		r.body = m->data + (size_t)i * m->part;
		r.body_len = i + 1 == m->nparts ? m->len - (size_t)i * m->part
						: m->part;
		if (m->s->st.object_lock != S3_LOCK_NONE)
			content_md5(&w, &r, r.body, r.body_len);
		if (!rc)
			rc = perform(m->s, &r, &err);
		if (!rc && !r.etag[0])
			rc = bk_error_set(&err, BK_ERR_STORAGE,
					  "s3 PUT %s part %u: no ETag in the answer",
					  m->key, i + 1);
		bk_buf_release(&q);
		pthread_mutex_lock(&m->mu);
		if (rc && !m->failed) {
			m->failed = true;
			m->rc = rc;
			m->err = err;
		}
		if (!rc)
			memcpy(m->etags[i], r.etag, S3_ETAG_MAX);
		pthread_mutex_unlock(&m->mu);
	}
	return NULL;
}

static enum bk_code xml_escape(struct bk_buf *b, const char *s,
			       struct bk_error *err)
{
	enum bk_code rc = BK_OK;

	for (; *s && !rc; s++) {
		switch (*s) {
		case '"': rc = bk_buf_append(b, "&quot;", 6, err); break;
		case '&': rc = bk_buf_append(b, "&amp;", 5, err); break;
		case '<': rc = bk_buf_append(b, "&lt;", 4, err); break;
		case '>': rc = bk_buf_append(b, "&gt;", 4, err); break;
		default: rc = bk_buf_append(b, s, 1, err);
		}
	}
	return rc;
}

static enum bk_code put_multipart(struct s3 *s, const char *key,
				  const void *data, size_t len, bool replace,
				  struct bk_error *err)
{
	struct mp m;
	struct bk_buf resp, q, body;
	struct s3_param qp[1];
	pthread_t th[S3_CONCURRENCY_MAX];
	unsigned nth = 0, want;
	char *upload_id = NULL;
	char code[64], message[200];
	bool mu_ok = false;
	enum bk_code rc;

	memset(&m, 0, sizeof(m));
	bk_buf_init(&resp, SMALL_BODY_MAX);
	bk_buf_init(&q, 8192);
	bk_buf_init(&body, 64 * S3_PARTS_MAX + 256);
	m.part = (size_t)s->st.part_size;
	if ((len + m.part - 1) / m.part > S3_PARTS_MAX) /* grow, MiB-aligned */
		m.part = (size_t)(((len / S3_PARTS_MAX) / S3_MIB + 1) * S3_MIB);
	m.nparts = (unsigned)((len + m.part - 1) / m.part);
	/* create */
	{
		struct req r = { .method = "POST", .what = key, .key = key,
				 .query = "uploads=", .out = &resp };
		struct write_hdrs w;

		memset(&w, 0, sizeof(w));
		object_hdrs(s, &w, &r, true);
		rc = perform(s, &r, err);
		if (!rc)
			rc = s3_xml_upload_id((const char *)resp.data, resp.len,
					      &upload_id, err);
		if (rc)
			goto out;
	}
	m.s = s;
	m.key = key;
	m.upload_id = upload_id;
	m.data = data;
	m.len = len;
	m.etags = calloc(m.nparts, S3_ETAG_MAX);
	if (!m.etags) {
		rc = bk_error_set(err, BK_ERR_NOMEM, "put %s: out of memory",
				  key);
		goto out;
	}
	if (pthread_mutex_init(&m.mu, NULL) != 0) {
		rc = bk_error_set(err, BK_ERR_NOMEM, "put %s: no mutex", key);
		goto out;
	}
	mu_ok = true;
	want = s->st.concurrency < m.nparts ? s->st.concurrency : m.nparts;
	while (nth + 1 < want && pthread_create(&th[nth], NULL, mp_worker, &m) == 0)
		nth++;
	mp_worker(&m);
	for (unsigned i = 0; i < nth; i++)
		pthread_join(th[i], NULL);
	if (m.failed) {
		rc = m.rc;
		if (err)
			*err = m.err;
		goto out;
	}
	/* complete */
	rc = bk_buf_printf(&body, err, "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">");
	for (unsigned i = 0; i < m.nparts && !rc; i++) {
		rc = bk_buf_printf(&body, err,
				   "<Part><PartNumber>%u</PartNumber><ETag>",
				   i + 1);
		if (!rc)
			rc = xml_escape(&body, m.etags[i], err);
		if (!rc)
			rc = bk_buf_printf(&body, err, "</ETag></Part>");
	}
	if (!rc)
		rc = bk_buf_printf(&body, err, "</CompleteMultipartUpload>");
	qp[0] = (struct s3_param){ "uploadId", upload_id };
	if (!rc)
		rc = s3_canon_query(&q, qp, 1, err);
	if (rc)
		goto out;
	bk_buf_reset(&resp);
	{
		struct mp_done md = { .data = data, .len = len,
				      .etags = (const char (*)[S3_ETAG_MAX])m.etags,
				      .nparts = m.nparts };
		struct req r = { .method = "POST", .what = key, .key = key,
				 .query = (const char *)q.data,
				 .body = body.data, .body_len = body.len,
				 .out = &resp, .landed = complete_landed,
				 .landed_ctx = &md };

		r.hdr[0] = "Content-Type: application/xml";
		if (!replace)
			r.hdr[1] = "If-None-Match: *";
		rc = perform(s, &r, err);
		if (rc == BK_ERR_EXISTS)
			rc = bk_error_set(err, BK_ERR_EXISTS,
					  "put %s: object already exists", key);
		/* a 200 may still carry an error */
		if (!rc && s3_xml_error((const char *)resp.data, resp.len,
					code, sizeof(code), message,
					sizeof(message)))
			rc = bk_error_set(err, BK_ERR_STORAGE,
					  "s3 POST %s (complete multipart upload): %s answered %s: %s",
					  key, s->endpoint, code, message);
	}
out:
	if (rc && upload_id) {
		struct req r = { .method = "DELETE", .what = key, .key = key };
		struct bk_error ignored;

		bk_buf_reset(&q);
		qp[0] = (struct s3_param){ "uploadId", upload_id };
		if (!s3_canon_query(&q, qp, 1, &ignored)) {
			r.query = (const char *)q.data;
			perform(s, &r, &ignored);
		}
	}
	if (mu_ok)
		pthread_mutex_destroy(&m.mu);
	free(m.etags);
	free(upload_id);
	bk_buf_release(&resp);
	bk_buf_release(&q);
	bk_buf_release(&body);
	return rc;
}

static enum bk_code s3_put(void *priv, const char *key, const void *data,
			   size_t len, unsigned flags, struct bk_error *err)
{
	bool replace = flags & BK_PUT_REPLACE; /* an acknowledged PUT is durable */
	bool transient = flags & BK_PUT_TRANSIENT;
	struct s3 *s = priv;
	uint64_t size;
	enum bk_code rc;

	if (!replace) {
		rc = s3_head(priv, key, &size, err);
		if (rc == BK_OK)
			return bk_error_set(err, BK_ERR_EXISTS,
					    "put %s: object already exists",
					    key);
		if (rc != BK_ERR_NOTFOUND)
			return rc;
	}
	if ((uint64_t)len > s->st.multipart_threshold && !transient)
		return put_multipart(s, key, data, len, replace, err);
	return put_simple(s, key, data, len, replace, transient, err);
}

/* A listed key relative to the store's prefix, or NULL for what the
 * store does not show: keys of other prefixes, and foreign or temporary
 * names (bk_store_component_ok). */
static const char *relative_key(const struct s3 *s, const char *k)
{
	size_t plen = strlen(s->prefix), kl = strlen(k), st = 0;
	const char *rel;

	if (kl <= plen || strncmp(k, s->prefix, plen) != 0)
		return NULL;
	rel = k + plen;
	kl -= plen;
	if (kl > BK_STORE_KEY_MAX)
		return NULL;
	for (size_t j = 0; j <= kl; j++)
		if (j == kl || rel[j] == '/') {
			if (!bk_store_component_ok(rel + st, j - st))
				return NULL;
			st = j + 1;
		}
	return rel;
}

static enum bk_code s3_list(void *priv, const char *prefix,
			    bk_store_list_fn fn, void *ctx,
			    struct bk_error *err)
{
	struct s3 *s = priv;
	struct bk_buf full, q, resp;
	struct s3_list_page page;
	char *token = NULL;
	enum bk_code rc;

	memset(&page, 0, sizeof(page));
	bk_buf_init(&full, 2 * BK_STORE_KEY_MAX + 16);
	bk_buf_init(&q, 16384);
	bk_buf_init(&resp, S3_XML_MAX);
	rc = bk_buf_printf(&full, err, "%s%s", s->prefix, prefix);
	if (rc)
		goto out;
	for (;;) {
		struct s3_param qp[3] = {
			{ "list-type", "2" },
			{ "prefix", (const char *)full.data },
			{ "continuation-token", token },
		};
		struct req r = { .method = "GET", .what = "(listing)",
				 .out = &resp };

		bk_buf_reset(&q);
		bk_buf_reset(&resp);
		rc = s3_canon_query(&q, qp, token ? 3 : 2, err);
		if (rc)
			goto out;
		r.query = (const char *)q.data;
		rc = perform(s, &r, err);
		if (!rc)
			rc = s3_xml_list((const char *)resp.data, resp.len,
					 &page, err);
		if (rc) {
			bk_error_prefix(err, "list %s", prefix);
			goto out;
		}
		for (size_t i = 0; i < page.n; i++) {
			const char *rel = relative_key(s, page.items[i].key);

			if (!rel)
				continue;
			rc = fn(ctx, rel, page.items[i].size, err);
			if (rc)
				goto out;
		}
		if (!page.truncated)
			break;
		if (token && strcmp(token, page.next_token) == 0) {
			rc = bk_error_set(err, BK_ERR_STORAGE,
					  "list %s: %s repeated a continuation token",
					  prefix, s->endpoint);
			goto out;
		}
		free(token);
		token = page.next_token;
		page.next_token = NULL;
		s3_list_page_release(&page);
	}
out:
	s3_list_page_release(&page);
	free(token);
	bk_buf_release(&full);
	bk_buf_release(&q);
	bk_buf_release(&resp);
	return rc;
}

/* ListObjectVersions, page by page (key and version-id markers). */
static enum bk_code s3_versions(void *priv, const char *prefix,
				bk_store_version_fn fn, void *ctx,
				struct bk_error *err)
{
	struct s3 *s = priv;
	struct bk_buf full, q, resp;
	struct s3_list_page page;
	char *kmark = NULL, *vmark = NULL;
	enum bk_code rc;

	memset(&page, 0, sizeof(page));
	bk_buf_init(&full, 2 * BK_STORE_KEY_MAX + 16);
	bk_buf_init(&q, 16384);
	bk_buf_init(&resp, S3_XML_MAX);
	rc = bk_buf_printf(&full, err, "%s%s", s->prefix, prefix);
	while (!rc) {
		struct s3_param qp[4] = {
			{ "versions", "" },
			{ "prefix", (const char *)full.data },
			{ "key-marker", kmark },
			{ "version-id-marker", vmark },
		};
		struct req r = { .method = "GET", .what = "(versions)",
				 .out = &resp };

		bk_buf_reset(&q);
		bk_buf_reset(&resp);
		rc = s3_canon_query(&q, qp, kmark ? (vmark ? 4 : 3) : 2, err);
		r.query = (const char *)q.data;
		if (!rc)
			rc = perform(s, &r, err);
		/* a server without versions (s3rver) */
		if (rc && (r.status == 405 || r.status == 501))
			rc = bk_error_set(err, BK_ERR_UNSUPPORTED,
					  "%s keeps no versions", s->endpoint);
		if (!rc)
			rc = s3_xml_versions((const char *)resp.data, resp.len,
					     &page, err);
		for (size_t i = 0; !rc && i < page.n; i++) {
			const char *rel = relative_key(s, page.items[i].key);

			if (rel)
				rc = fn(ctx, rel, page.items[i].size,
					page.items[i].marker, err);
		}
		if (rc || !page.truncated)
			break;
		if (kmark && !strcmp(kmark, page.next_token) &&
		    (!vmark || !page.next_version ||
		     !strcmp(vmark, page.next_version))) {
			rc = bk_error_set(err, BK_ERR_STORAGE,
					  "versions: %s repeated a marker",
					  s->endpoint);
			break;
		}
		free(kmark);
		free(vmark);
		kmark = page.next_token;
		vmark = page.next_version;
		page.next_token = page.next_version = NULL;
		s3_list_page_release(&page);
	}
	s3_list_page_release(&page);
	free(kmark);
	free(vmark);
	bk_buf_release(&full);
	bk_buf_release(&q);
	bk_buf_release(&resp);
	return rc;
}

static void s3_close(void *priv)
{
	struct s3 *s = priv;

	if (!s)
		return;
	for (size_t i = 0; i < s->nidle; i++)
		curl_easy_cleanup(s->idle[i]);
	free(s->idle);
	if (s->sh)
		curl_share_cleanup(s->sh);
	if (s->share_mu_ok)
		for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
			pthread_mutex_destroy(&s->share_mu[i]);
	if (s->mu_ok) {
		pthread_mutex_destroy(&s->mu);
		pthread_cond_destroy(&s->cv);
	}
	s3_settings_release(&s->st);
	free(s->bucket);
	free(s->prefix);
	free(s);
}

/* One key under the prefix, whatever its name (list skips foreign ones). */
static enum bk_code s3_any(void *priv, char *what, size_t n,
			   struct bk_error *err)
{
	struct s3 *s = priv;
	struct bk_buf q, resp;
	struct s3_list_page page;
	struct s3_param qp[3] = {
		{ "list-type", "2" },
		{ "max-keys", "1" },
		{ "prefix", s->prefix },
	};
	struct req r = { .method = "GET", .what = "(listing)", .out = &resp };
	enum bk_code rc;

	memset(&page, 0, sizeof(page));
	bk_buf_init(&q, 4096);
	bk_buf_init(&resp, S3_XML_MAX);
	rc = s3_canon_query(&q, qp, 3, err);
	if (rc)
		goto out;
	r.query = (const char *)q.data;
	rc = perform(s, &r, err);
	if (!rc)
		rc = s3_xml_list((const char *)resp.data, resp.len, &page, err);
	if (rc) {
		bk_error_prefix(err, "list %s", s->prefix);
		goto out;
	}
	if (page.n) {
		const char *k = page.items[0].key;
		size_t pl = strlen(s->prefix);

		snprintf(what, n, "%s", strncmp(k, s->prefix, pl) ? k : k + pl);
	}
out:
	s3_list_page_release(&page);
	bk_buf_release(&q);
	bk_buf_release(&resp);
	return rc;
}

static const struct bk_store_ops s3_ops = {
	.close = s3_close,
	.put = s3_put,
	.get = s3_get,
	.head = s3_head,
	.del = s3_del,
	.list = s3_list,
	.any = s3_any,
	.retention = s3_retention,
	.retain = s3_retain,
	.versions = s3_versions,
};

/* The bucket exists (a one-key listing, which carries an error code where
 * a HEAD would not), or is made when create. */
static enum bk_code check_bucket(struct s3 *s, bool create,
				 struct bk_error *err)
{
	struct bk_buf q, body;
	struct s3_param qp[3] = {
		{ "list-type", "2" },
		{ "max-keys", "1" },
		{ "prefix", s->prefix },
	};
	struct req r = { .method = "GET" };
	char what[96];
	enum bk_code rc;

	snprintf(what, sizeof(what), "bucket %s", s->bucket);
	r.what = what;
	bk_buf_init(&q, 4096);
	bk_buf_init(&body, 1024);
	rc = s3_canon_query(&q, qp, 3, err);
	if (rc)
		goto out;
	r.query = (const char *)q.data;
	rc = perform(s, &r, err);
	if (rc != BK_ERR_NOTFOUND)
		goto out;
	if (!create) {
		rc = bk_error_set(err, BK_ERR_NOTFOUND,
				  "s3 bucket %s does not exist at %s", s->bucket,
				  s->endpoint);
		goto out;
	}
	if (strcmp(s->st.region, "us-east-1") != 0) {
		rc = bk_buf_printf(&body, err,
				   "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><LocationConstraint>%s</LocationConstraint></CreateBucketConfiguration>",
				   s->st.region);
		if (rc)
			goto out;
	}
	{
		struct req c = { .method = "PUT", .what = what,
				 .body = body.data, .body_len = body.len };

		/* a bucket zbak makes for Object Lock must be made with it */
		if (s->st.object_lock != S3_LOCK_NONE)
			c.hdr[0] = "x-amz-bucket-object-lock-enabled: true";
		rc = perform(s, &c, err);
		if (rc && c.status == 409 &&
		    strcmp(c.code, "BucketAlreadyOwnedByYou") == 0)
			rc = BK_OK;
	}
out:
	bk_buf_release(&q);
	bk_buf_release(&body);
	return rc;
}

enum bk_code bk_store_s3_open(const char *rest, bool create,
			      const struct bk_config *cfg, struct bk_store *st,
			      struct bk_error *err)
{
	struct s3 *s = NULL;
	char *prefix = NULL, *desc = NULL;
	size_t dlen;
	enum bk_code rc;

	pthread_once(&global_once, global_init);
	if (global_rc != CURLE_OK) {
		rc = bk_error_set(err, BK_ERR_INTERNAL,
				  "s3: libcurl or libsodium failed to initialise");
		goto out;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		rc = bk_error_set(err, BK_ERR_NOMEM, "cannot allocate a store");
		goto out;
	}
	rc = s3_parse_url(rest, &s->bucket, &prefix, err);
	if (rc)
		goto out;
	s->prefix = malloc(strlen(prefix) + 2);
	if (!s->prefix) {
		rc = bk_error_set(err, BK_ERR_NOMEM, "cannot allocate a store");
		goto out;
	}
	snprintf(s->prefix, strlen(prefix) + 2, "%s%s", prefix,
		 prefix[0] ? "/" : "");
	rc = s3_settings_resolve(cfg, getenv, s->bucket, &s->st, err);
	if (rc)
		goto out;
	snprintf(s->endpoint, sizeof(s->endpoint), "%s://%s", s->st.scheme,
		 s->st.hostport);
	snprintf(s->sigv4, sizeof(s->sigv4), "aws:amz:%s:s3", s->st.region);
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&s->share_mu[i], NULL);
	s->share_mu_ok = true;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	s->mu_ok = true;
	s->idle_cap = s->st.concurrency;
	s->idle = calloc(s->idle_cap, sizeof(*s->idle));
	s->sh = curl_share_init();
	if (!s->idle || !s->sh ||
	    curl_share_setopt(s->sh, CURLSHOPT_LOCKFUNC, share_lock) ||
	    curl_share_setopt(s->sh, CURLSHOPT_UNLOCKFUNC, share_unlock) ||
	    curl_share_setopt(s->sh, CURLSHOPT_USERDATA, s) ||
	    curl_share_setopt(s->sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) ||
	    curl_share_setopt(s->sh, CURLSHOPT_SHARE,
			      CURL_LOCK_DATA_SSL_SESSION) ||
	    curl_share_setopt(s->sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT)) {
		rc = bk_error_set(err, BK_ERR_NOMEM,
				  "s3: cannot set up a curl share");
		goto out;
	}
	rc = check_bucket(s, create, err);
	if (rc)
		goto out;
	dlen = strlen(s->bucket) + strlen(prefix) + strlen(s->endpoint) + 32;
	desc = malloc(dlen);
	if (!desc) {
		rc = bk_error_set(err, BK_ERR_NOMEM, "cannot allocate a store");
		goto out;
	}
	snprintf(desc, dlen, "s3://%s%s%s at %s", s->bucket,
		 prefix[0] ? "/" : "", prefix, s->endpoint);
	st->ops = &s3_ops;
	st->priv = s;
	st->desc = desc;
	st->concurrency = s->st.concurrency;
	st->remote = true;
	st->lock_days = s->st.object_lock == S3_LOCK_NONE
				? 0
				: s->st.object_lock_days;
	s = NULL;
	desc = NULL;
out:
	s3_close(s);
	free(prefix);
	free(desc);
	return rc;
}
