/* S3 backend parts that need no server: query canonicalisation and
 * encoding, URLs and addressing, settings precedence (config file vs
 * environment), shared-credentials profiles, the config parser, XML bodies
 * (good, malformed, huge), retry classification and backoff bounds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "backup/config.h"
#include "store/s3_impl.h"

/* ---- a fake environment ---- */
static const char *fake_env[32];

static char *env_fake(const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; fake_env[i]; i++)
		if (strncmp(fake_env[i], name, n) == 0 && fake_env[i][n] == '=')
			return (char *)fake_env[i] + n + 1;
	return NULL;
}

static void env_set(const char **vars)
{
	size_t i = 0;

	for (; vars && vars[i]; i++)
		fake_env[i] = vars[i];
	fake_env[i] = NULL;
}

static struct bk_config *cfg_of(const char *text)
{
	struct bk_config *c = NULL;
	struct bk_error err;

	assert_int_equal(bk_config_parse(text, strlen(text), "test.conf", &c,
					 &err),
			 BK_OK);
	return c;
}

static void test_canon_query(void **state)
{
	struct bk_buf b;
	struct bk_error err;
	struct s3_param list[3] = {
		{ "prefix", "repo/data/a b+c" },
		{ "list-type", "2" },
		{ "continuation-token", "1/aZ+==" },
	};
	struct s3_param up[1] = { { "uploads", NULL } };
	struct s3_param part[2] = { { "uploadId", "x~y_z.-" },
				    { "partNumber", "12" } };

	(void)state;
	bk_buf_init(&b, 4096);
	assert_int_equal(s3_canon_query(&b, list, 3, &err), BK_OK);
	assert_string_equal((char *)b.data,
			    "continuation-token=1%2FaZ%2B%3D%3D&list-type=2&"
			    "prefix=repo%2Fdata%2Fa%20b%2Bc");
	bk_buf_reset(&b);
	assert_int_equal(s3_canon_query(&b, up, 1, &err), BK_OK);
	assert_string_equal((char *)b.data, "uploads=");
	bk_buf_reset(&b);
	assert_int_equal(s3_canon_query(&b, part, 2, &err), BK_OK);
	assert_string_equal((char *)b.data, "partNumber=12&uploadId=x~y_z.-");
	bk_buf_reset(&b);
	assert_int_equal(s3_encode(&b, "data/ab/x@y%2C+=,~", true, &err),
			 BK_OK);
	assert_string_equal((char *)b.data, "data/ab/x%40y%252C%2B%3D%2C~");
	bk_buf_release(&b);
}

static void test_host_detection(void **state)
{
	(void)state;
	assert_true(s3_host_is_local_or_ip("127.0.0.1:4568"));
	assert_true(s3_host_is_local_or_ip("10.1.2.3"));
	assert_true(s3_host_is_local_or_ip("[::1]:9000"));
	assert_true(s3_host_is_local_or_ip("localhost"));
	assert_true(s3_host_is_local_or_ip("LOCALHOST:80"));
	assert_true(s3_host_is_local_or_ip("minio.localhost:9000"));
	assert_false(s3_host_is_local_or_ip("s3.amazonaws.com"));
	assert_false(s3_host_is_local_or_ip("1.2.3.example.com"));
	assert_false(s3_host_is_local_or_ip("1.2.3"));
	assert_false(s3_host_is_local_or_ip("notlocalhost"));
	assert_true(s3_bucket_dns_ok("my-bucket1"));
	assert_false(s3_bucket_dns_ok("My_Bucket"));
	assert_false(s3_bucket_dns_ok("a.b.c"));
	assert_false(s3_bucket_dns_ok("-ab"));
	assert_false(s3_bucket_dns_ok("ab"));
}

static void test_parse_url(void **state)
{
	char *b, *p;
	struct bk_error err;

	(void)state;
	assert_int_equal(s3_parse_url("bucket/a/b/", &b, &p, &err), BK_OK);
	assert_string_equal(b, "bucket");
	assert_string_equal(p, "a/b");
	free(b);
	free(p);
	assert_int_equal(s3_parse_url("bucket", &b, &p, &err), BK_OK);
	assert_string_equal(p, "");
	free(b);
	free(p);
	assert_int_equal(s3_parse_url("b", &b, &p, &err), BK_ERR_USAGE);
	assert_int_equal(s3_parse_url("bucket/a/../b", &b, &p, &err),
			 BK_ERR_USAGE);
	assert_int_equal(s3_parse_url("bucket/a//b", &b, &p, &err),
			 BK_ERR_USAGE);
	assert_int_equal(s3_parse_url("buc ket/a", &b, &p, &err),
			 BK_ERR_USAGE);
	assert_int_equal(s3_parse_url("bucket/.tmp-x", &b, &p, &err),
			 BK_ERR_USAGE);
}

static void resolve_ok(const char *conf, const char **env, const char *bucket,
		       struct s3_settings *st)
{
	struct bk_config *c = conf ? cfg_of(conf) : NULL;
	struct bk_error err;
	enum bk_code rc;

	env_set(env);
	rc = s3_settings_resolve(c, env_fake, bucket, st, &err);
	if (rc)
		fail_msg("%s", err.msg);
	bk_config_free(c);
}

static enum bk_code resolve_rc(const char *conf, const char **env,
			       struct bk_error *err)
{
	struct bk_config *c = conf ? cfg_of(conf) : NULL;
	struct s3_settings st;
	enum bk_code rc;

	env_set(env);
	rc = s3_settings_resolve(c, env_fake, "bucket", &st, err);
	s3_settings_release(&st);
	bk_config_free(c);
	return rc;
}

static void test_url_addressing(void **state)
{
	const char *env[] = { "AWS_ACCESS_KEY_ID=A", "AWS_SECRET_ACCESS_KEY=S",
			      NULL };
	struct s3_settings st;
	struct bk_buf b;
	struct bk_error err;

	(void)state;
	bk_buf_init(&b, 4096);
	resolve_ok("[s3]\nendpoint = http://127.0.0.1:4568/\n", env, "bkt", &st);
	assert_int_equal(st.addressing, S3_ADDR_PATH);
	assert_int_equal(s3_build_url(&b, &st, "bkt", "repo/k@1", "uploads=",
				      &err),
			 BK_OK);
	assert_string_equal((char *)b.data,
			    "http://127.0.0.1:4568/bkt/repo/k%401?uploads=");
	bk_buf_reset(&b);
	assert_int_equal(s3_build_url(&b, &st, "bkt", NULL, "list-type=2",
				      &err),
			 BK_OK);
	assert_string_equal((char *)b.data,
			    "http://127.0.0.1:4568/bkt?list-type=2");
	s3_settings_release(&st);

	bk_buf_reset(&b);
	resolve_ok("[s3]\nregion = eu-west-1\n", env, "bkt", &st);
	assert_int_equal(st.addressing, S3_ADDR_VIRTUAL);
	assert_string_equal(st.scheme, "https");
	assert_string_equal(st.hostport, "s3.eu-west-1.amazonaws.com");
	assert_int_equal(s3_build_url(&b, &st, "bkt", "k", NULL, &err), BK_OK);
	assert_string_equal((char *)b.data,
			    "https://bkt.s3.eu-west-1.amazonaws.com/k");
	s3_settings_release(&st);

	/* a bucket with dots forces path style under auto */
	resolve_ok("[s3]\nendpoint = s3.example.com\n", env, "my.bucket", &st);
	assert_int_equal(st.addressing, S3_ADDR_PATH);
	s3_settings_release(&st);
	resolve_ok("[s3]\nendpoint = http://localhost:9000\naddressing = virtual\n",
		   env, "bkt", &st);
	assert_int_equal(st.addressing, S3_ADDR_VIRTUAL);
	s3_settings_release(&st);
	resolve_ok("[s3]\nendpoint = https://s3.example.com\naddressing = path\n",
		   env, "bkt", &st);
	assert_int_equal(st.addressing, S3_ADDR_PATH);
	s3_settings_release(&st);

	assert_int_equal(resolve_rc("[s3]\naddressing = sideways\n", env, &err),
			 BK_ERR_USAGE);
	assert_int_equal(resolve_rc("[s3]\nendpoint = ftp://x\n", env, &err),
			 BK_ERR_USAGE);
	assert_int_equal(resolve_rc("[s3]\nendpoint = http://h/path\n", env,
				    &err),
			 BK_ERR_USAGE);
	assert_int_equal(resolve_rc("[s3]\nendpoint = http://u:p@h\n", env,
				    &err),
			 BK_ERR_USAGE);
	bk_buf_release(&b);
}

/* An endpoint set but empty is an error naming where, never AWS's. */
static void test_empty_endpoint(void **state)
{
	const char *env_empty[] = { "AWS_ENDPOINT_URL=", "AWS_ACCESS_KEY_ID=A",
				    "AWS_SECRET_ACCESS_KEY=S", NULL };
	const char *env_set[] = { "AWS_ENDPOINT_URL=http://127.0.0.1:9000",
				  "AWS_ACCESS_KEY_ID=A",
				  "AWS_SECRET_ACCESS_KEY=S", NULL };
	const char *env[] = { "AWS_ACCESS_KEY_ID=A", "AWS_SECRET_ACCESS_KEY=S",
			      NULL };
	struct s3_settings st;
	struct bk_error err;

	(void)state;
	assert_int_equal(resolve_rc(NULL, env_empty, &err), BK_ERR_USAGE);
	assert_non_null(strstr(err.msg, "AWS_ENDPOINT_URL"));
	assert_non_null(strstr(err.msg, "empty"));
	/* not even the config's endpoint stands in for it */
	assert_int_equal(resolve_rc("[s3]\nendpoint = http://conf:1\n",
				    env_empty, &err),
			 BK_ERR_USAGE);
	assert_non_null(strstr(err.msg, "AWS_ENDPOINT_URL"));
	assert_int_equal(resolve_rc("[s3]\nendpoint =\n", env, &err),
			 BK_ERR_USAGE);
	assert_non_null(strstr(err.msg, "[s3] endpoint"));
	assert_non_null(strstr(err.msg, "empty"));
	/* the variable wins over an empty key, as over any */
	resolve_ok("[s3]\nendpoint =\n", env_set, "bkt", &st);
	assert_string_equal(st.hostport, "127.0.0.1:9000");
	s3_settings_release(&st);
	/* neither set: AWS */
	resolve_ok(NULL, env, "bkt", &st);
	assert_string_equal(st.hostport, "s3.us-east-1.amazonaws.com");
	s3_settings_release(&st);
}

static void test_precedence(void **state)
{
	const char *conf =
		"[s3]\nendpoint = http://conf:1\nregion = conf-region\n"
		"access_key_id = CONFKEY\nsecret_access_key = CONFSECRET\n"
		"ca_bundle = /conf/ca.pem\nconcurrency = 3\nretry_time = 7\n"
		"part_size = 8M\nmultipart_threshold = 1G\n";
	const char *env_all[] = { "AWS_ENDPOINT_URL=https://env:2",
				  "AWS_REGION=env-region",
				  "AWS_DEFAULT_REGION=default-region",
				  "AWS_ACCESS_KEY_ID=ENVKEY",
				  "AWS_SECRET_ACCESS_KEY=ENVSECRET",
				  "AWS_SESSION_TOKEN=ENVTOKEN",
				  "AWS_CA_BUNDLE=/env/ca.pem", NULL };
	const char *env_def[] = { "AWS_DEFAULT_REGION=default-region",
				  "HOME=/nonexistent", NULL };
	const char *env_half[] = { "AWS_ACCESS_KEY_ID=ONLYKEY", NULL };
	struct s3_settings st;
	struct bk_error err;

	(void)state;
	resolve_ok(conf, env_all, "bkt", &st);
	assert_string_equal(st.hostport, "env:2");
	assert_string_equal(st.scheme, "https");
	assert_string_equal(st.region, "env-region");
	assert_string_equal(st.access_key, "ENVKEY");
	assert_string_equal(st.secret_key, "ENVSECRET");
	assert_string_equal(st.session_token, "ENVTOKEN");
	assert_string_equal(st.ca_bundle, "/env/ca.pem");
	assert_int_equal(st.concurrency, 3);
	assert_int_equal(st.retry_time, 7);
	assert_int_equal(st.part_size, 8 << 20);
	assert_int_equal(st.multipart_threshold, 1 << 30);
	s3_settings_release(&st);

	resolve_ok(conf, env_def, "bkt", &st);
	assert_string_equal(st.hostport, "conf:1");
	assert_string_equal(st.region, "default-region");
	assert_string_equal(st.access_key, "CONFKEY");
	assert_string_equal(st.secret_key, "CONFSECRET");
	assert_null(st.session_token);
	assert_string_equal(st.ca_bundle, "/conf/ca.pem");
	s3_settings_release(&st);

	/* defaults */
	resolve_ok("[s3]\naccess_key_id = K\nsecret_access_key = S\n", NULL,
		   "bkt", &st);
	assert_string_equal(st.region, "us-east-1");
	assert_string_equal(st.hostport, "s3.us-east-1.amazonaws.com");
	assert_int_equal(st.concurrency, 8);
	assert_int_equal(st.connect_timeout, 10);
	assert_int_equal(st.stall_timeout, 30);
	assert_int_equal(st.retry_time, 120);
	assert_int_equal(st.part_size, 16 << 20);
	assert_int_equal(st.multipart_threshold, 64 << 20);
	s3_settings_release(&st);

	assert_int_equal(resolve_rc(NULL, env_half, &err), BK_ERR_USAGE);
	assert_non_null(strstr(err.msg, "AWS_SECRET_ACCESS_KEY"));
	assert_int_equal(resolve_rc(NULL, env_def, &err), BK_ERR_USAGE);
	assert_non_null(strstr(err.msg, "no credentials"));
	assert_int_equal(resolve_rc("[s3]\naccess_key_id = K\n"
				    "secret_access_key = S\npart_size = 1M\n",
				    NULL, &err),
			 BK_ERR_USAGE);
	assert_int_equal(resolve_rc("[s3]\naccess_key_id = K\n"
				    "secret_access_key = S\nconcurrency = 0\n",
				    NULL, &err),
			 BK_ERR_USAGE);
	assert_int_equal(resolve_rc("[s3]\naccess_key_id = K\n"
				    "secret_access_key = S\nretry_time = x\n",
				    NULL, &err),
			 BK_ERR_USAGE);
	/* secrets never reach messages */
	assert_null(strstr(err.msg, "S\n"));
}

static void test_credentials_file(void **state)
{
	static const char creds[] =
		"[default]\naws_access_key_id = DEFKEY\n"
		"aws_secret_access_key = DEF:SECRET/with+chars\n"
		"\n[work]\naws_access_key_id=WORKKEY\n"
		"aws_secret_access_key=WORKSECRET\naws_session_token=TOK\n"
		"[profile other]\naws_access_key_id = OK\naws_secret_access_key = OS\n"
		"[broken]\naws_access_key_id = X\n";
	char path[] = "/tmp/zbak-creds-XXXXXX", envfile[80], envprof[32];
	const char *env1[] = { envfile, NULL };
	const char *env2[] = { envfile, envprof, NULL };
	char *a, *s, *t;
	struct s3_settings st;
	struct bk_error err;
	int fd;

	(void)state;
	assert_int_equal(s3_creds_parse(creds, strlen(creds), "c", "default",
					&a, &s, &t, &err),
			 BK_OK);
	assert_string_equal(a, "DEFKEY");
	assert_string_equal(s, "DEF:SECRET/with+chars");
	assert_null(t);
	free(a);
	free(s);
	assert_int_equal(s3_creds_parse(creds, strlen(creds), "c", "work", &a,
					&s, &t, &err),
			 BK_OK);
	assert_string_equal(t, "TOK");
	free(a);
	free(s);
	free(t);
	assert_int_equal(s3_creds_parse(creds, strlen(creds), "c", "other", &a,
					&s, &t, &err),
			 BK_OK);
	assert_string_equal(a, "OK");
	free(a);
	free(s);
	assert_int_equal(s3_creds_parse(creds, strlen(creds), "c", "broken",
					&a, &s, &t, &err),
			 BK_ERR_NOTFOUND);
	assert_int_equal(s3_creds_parse(creds, strlen(creds), "c", "nope", &a,
					&s, &t, &err),
			 BK_ERR_NOTFOUND);

	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, creds, strlen(creds)), (ssize_t)strlen(creds));
	close(fd);
	snprintf(envfile, sizeof(envfile), "AWS_SHARED_CREDENTIALS_FILE=%s",
		 path);
	resolve_ok(NULL, env1, "bkt", &st);
	assert_string_equal(st.access_key, "DEFKEY");
	s3_settings_release(&st);
	resolve_ok("[s3]\nprofile = work\n", env1, "bkt", &st);
	assert_string_equal(st.access_key, "WORKKEY");
	assert_string_equal(st.session_token, "TOK");
	s3_settings_release(&st);
	/* AWS_PROFILE beats keys in the config file */
	snprintf(envprof, sizeof(envprof), "AWS_PROFILE=other");
	resolve_ok("[s3]\naccess_key_id = C\nsecret_access_key = CS\n", env2,
		   "bkt", &st);
	assert_string_equal(st.access_key, "OK");
	s3_settings_release(&st);
	snprintf(envprof, sizeof(envprof), "AWS_PROFILE=missing");
	assert_int_equal(resolve_rc(NULL, env2, &err), BK_ERR_USAGE);
	assert_non_null(strstr(err.msg, "missing"));
	unlink(path);
	assert_int_equal(resolve_rc(NULL, env1, &err), BK_ERR_NOTFOUND);
}

static void test_config(void **state)
{
	struct bk_config *c = NULL;
	struct bk_error err;
	char *text, path[] = "/tmp/zbak-conf-XXXXXX";
	size_t n = 3000;
	int fd;

	(void)state;
	assert_null(bk_config_get(NULL, "s3", "x"));
	c = cfg_of("; comment\n# comment\n[s3]\nRegion = b ; inline\n"
		   "[other]\nregion = c\n");
	assert_string_equal(bk_config_get(c, "s3", "region"), "b");
	assert_string_equal(bk_config_get(c, "s3", "REGION"), "b");
	assert_string_equal(bk_config_get(c, "other", "region"), "c");
	assert_null(bk_config_get(c, "S3", "region"));
	bk_config_free(c);

	assert_int_equal(bk_config_parse("[s3]\nok = 1\nnot a pair\n", 21,
					 "f.conf", &c, &err),
			 BK_ERR_FORMAT);
	assert_null(c);
	assert_non_null(strstr(err.msg, "f.conf line 3"));
	/* a key given twice: which one was meant? */
	assert_int_equal(bk_config_parse("[s3]\nregion = a\nRegion = b\n", 27,
					 "f.conf", &c, &err),
			 BK_ERR_FORMAT);
	assert_null(c);
	assert_non_null(strstr(err.msg, "f.conf line 3: Region given twice"));
	assert_int_equal(bk_config_parse("[s3\n", 4, "f.conf", &c, &err),
			 BK_ERR_FORMAT);
	assert_int_equal(bk_config_parse("a\0b", 3, "f.conf", &c, &err),
			 BK_ERR_FORMAT);

	/* a value longer than libinih's line (a session token) */
	text = malloc(n + 64);
	assert_non_null(text);
	memcpy(text, "[s3]\nsession_token =  ", 22);
	for (size_t i = 22; i < n; i++)
		text[i] = (char)('A' + i % 26);
	memcpy(text + n, "  \nregion = r\n", 15);
	assert_int_equal(bk_config_parse(text, strlen(text), "t", &c, &err),
			 BK_OK);
	assert_int_equal(strlen(bk_config_get(c, "s3", "session_token")),
			 n - 22);
	assert_string_equal(bk_config_get(c, "s3", "region"), "r");
	bk_config_free(c);

	/* too big */
	assert_int_equal(bk_config_parse(text, BK_CONFIG_FILE_MAX + 1, "t", &c,
					 &err),
			 BK_ERR_LIMIT);
	free(text);

	/* a world-readable file with a secret is refused (and so is a
	 * group-readable one: test_config.c) */
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "[s3]\nsecret_access_key = x\n", 27), 27);
	close(fd);
	chmod(path, 0644);
	assert_int_equal(bk_config_load(path, &c, &err), BK_ERR_USAGE);
	assert_non_null(strstr(err.msg, "group or others may read it"));
	assert_null(strstr(err.msg, "= x"));
	chmod(path, 0600);
	assert_int_equal(bk_config_load(path, &c, &err), BK_OK);
	bk_config_free(c);
	unlink(path);
	assert_int_equal(bk_config_load(path, &c, &err), BK_ERR_NOTFOUND);
	assert_non_null(strstr(err.msg, path));

	setenv("ZBAK_CONFIG", "/some/file.conf", 1);
	assert_string_equal(bk_config_default_path(), "/some/file.conf");
	unsetenv("ZBAK_CONFIG");
}

static void test_xml_list(void **state)
{
	static const char page[] =
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
		"<Name>b</Name><Prefix>repo/</Prefix><KeyCount>2</KeyCount>"
		"<MaxKeys>2</MaxKeys><IsTruncated>true</IsTruncated>"
		"<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>"
		"<Contents><Key>repo/config</Key><LastModified>2024-01-01T00:00:00.000Z</LastModified>"
		"<ETag>&quot;abc&quot;</ETag><Size>73</Size><StorageClass>STANDARD</StorageClass></Contents>"
		"<Contents><Key>repo/a&amp;b</Key><Size>18446744073709551615</Size></Contents>"
		"</ListBucketResult>";
	static const char last[] =
		"<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>";
	struct s3_list_page p;
	struct bk_error err;
	char *big;

	(void)state;
	assert_int_equal(s3_xml_list(page, strlen(page), &p, &err), BK_OK);
	assert_true(p.truncated);
	assert_string_equal(p.next_token,
			    "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=");
	assert_int_equal(p.n, 2);
	assert_string_equal(p.items[0].key, "repo/config");
	assert_int_equal(p.items[0].size, 73);
	assert_string_equal(p.items[1].key, "repo/a&b");
	assert_true(p.items[1].size == UINT64_MAX);
	s3_list_page_release(&p);
	assert_int_equal(s3_xml_list(last, strlen(last), &p, &err), BK_OK);
	assert_false(p.truncated);
	assert_int_equal(p.n, 0);
	s3_list_page_release(&p);

#define BAD(s, code)                                                        \
	assert_int_equal(s3_xml_list(s, strlen(s), &p, &err), code)
	BAD("", BK_ERR_FORMAT);
	BAD("not xml", BK_ERR_FORMAT);
	BAD("<ListBucketResult><Contents><Key>a</Key>", BK_ERR_FORMAT);
	BAD("<Other/>", BK_ERR_FORMAT);
	BAD("<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>",
	    BK_ERR_FORMAT);
	BAD("<ListBucketResult><Contents><Key>a</Key><Size>-1</Size></Contents></ListBucketResult>",
	    BK_ERR_FORMAT);
	BAD("<ListBucketResult><Contents><Size>1</Size></Contents></ListBucketResult>",
	    BK_ERR_FORMAT);
	BAD("<!DOCTYPE x [<!ENTITY a \"aaaa\"><!ENTITY b \"&a;&a;&a;\">]>"
	    "<ListBucketResult><Contents><Key>&b;</Key><Size>1</Size></Contents></ListBucketResult>",
	    BK_ERR_FORMAT);
	BAD("<ListBucketResult><Contents><Key>&ext;</Key><Size>1</Size></Contents></ListBucketResult>",
	    BK_ERR_FORMAT);
#undef BAD
	/* huge inputs: refused by size; a huge key refused by length */
	big = malloc(S3_XML_MAX + 2);
	assert_non_null(big);
	memset(big, ' ', S3_XML_MAX + 1);
	big[S3_XML_MAX + 1] = '\0';
	assert_int_equal(s3_xml_list(big, S3_XML_MAX + 1, &p, &err),
			 BK_ERR_LIMIT);
	{
		size_t k = 100000;
		char *q = big;

		q += sprintf(q, "<ListBucketResult><Contents><Key>");
		memset(q, 'k', k);
		q += k;
		sprintf(q, "</Key><Size>1</Size></Contents></ListBucketResult>");
		assert_int_equal(s3_xml_list(big, strlen(big), &p, &err),
				 BK_ERR_LIMIT);
	}
	free(big);
}

static void test_xml_error_upload(void **state)
{
	static const char e[] =
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SignatureDoesNotMatch</Code>"
		"<Message>The request signature we calculated does not match\nthe signature</Message>"
		"<RequestId>1</RequestId></Error>";
	static const char up[] =
		"<InitiateMultipartUploadResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
		"<Bucket>b</Bucket><Key>k</Key><UploadId>VXBsb2FkIElE</UploadId>"
		"</InitiateMultipartUploadResult>";
	char code[64], msg[40], *id;
	struct bk_error err;

	(void)state;
	assert_true(s3_xml_error(e, strlen(e), code, sizeof(code), msg,
				 sizeof(msg)));
	assert_string_equal(code, "SignatureDoesNotMatch");
	assert_int_equal(strlen(msg), sizeof(msg) - 1); /* truncated */
	assert_null(strchr(msg, '\n'));
	assert_false(s3_xml_error("<Error></Error>", 15, code, sizeof(code),
				  msg, sizeof(msg)));
	assert_false(s3_xml_error("oops", 4, code, sizeof(code), msg,
				  sizeof(msg)));
	assert_false(s3_xml_error(up, strlen(up), code, sizeof(code), msg,
				  sizeof(msg)));
	assert_int_equal(s3_xml_upload_id(up, strlen(up), &id, &err), BK_OK);
	assert_string_equal(id, "VXBsb2FkIElE");
	free(id);
	assert_int_equal(s3_xml_upload_id(e, strlen(e), &id, &err),
			 BK_ERR_FORMAT);
	assert_int_equal(s3_xml_upload_id("<InitiateMultipartUploadResult/>",
					  32, &id, &err),
			 BK_ERR_FORMAT);
}

static void test_retry(void **state)
{
	uint32_t total = 0;

	(void)state;
	assert_true(s3_http_retryable(500, NULL));
	assert_true(s3_http_retryable(503, "SlowDown"));
	assert_true(s3_http_retryable(429, NULL));
	assert_true(s3_http_retryable(400, "RequestTimeout"));
	assert_false(s3_http_retryable(403, "SignatureDoesNotMatch"));
	assert_false(s3_http_retryable(403, "InvalidAccessKeyId"));
	assert_false(s3_http_retryable(404, "NoSuchKey"));
	assert_false(s3_http_retryable(400, "InvalidArgument"));
	assert_false(s3_http_retryable(412, NULL));
	assert_true(s3_curl_retryable(CURLE_COULDNT_CONNECT));
	assert_true(s3_curl_retryable(CURLE_OPERATION_TIMEDOUT));
	assert_true(s3_curl_retryable(CURLE_RECV_ERROR));
	assert_true(s3_curl_retryable(CURLE_SEND_ERROR));
	assert_true(s3_curl_retryable(CURLE_PARTIAL_FILE));
	assert_true(s3_curl_retryable(CURLE_GOT_NOTHING));
	assert_false(s3_curl_retryable(CURLE_PEER_FAILED_VERIFICATION));
	assert_false(s3_curl_retryable(CURLE_URL_MALFORMAT));
	assert_false(s3_curl_retryable(CURLE_WRITE_ERROR));
	/* may an unanswered attempt have taken effect? */
	assert_false(s3_curl_may_have_landed(CURLE_COULDNT_CONNECT));
	assert_false(s3_curl_may_have_landed(CURLE_COULDNT_RESOLVE_HOST));
	assert_true(s3_curl_may_have_landed(CURLE_GOT_NOTHING));
	assert_true(s3_curl_may_have_landed(CURLE_RECV_ERROR));
	assert_true(s3_curl_may_have_landed(CURLE_SEND_ERROR));
	assert_true(s3_curl_may_have_landed(CURLE_OPERATION_TIMEDOUT));
	assert_true(s3_curl_may_have_landed(CURLE_PARTIAL_FILE));
	assert_true(s3_http_may_have_landed(500));
	assert_true(s3_http_may_have_landed(502));
	assert_true(s3_http_may_have_landed(504));
	assert_false(s3_http_may_have_landed(503));
	assert_false(s3_http_may_have_landed(429));
	assert_false(s3_http_may_have_landed(400));
	assert_int_equal(s3_backoff_cap_ms(0), 100);
	assert_int_equal(s3_backoff_cap_ms(1), 200);
	assert_int_equal(s3_backoff_cap_ms(6), 6400);
	assert_int_equal(s3_backoff_cap_ms(7), 10000);
	assert_int_equal(s3_backoff_cap_ms(1000), 10000);
	for (unsigned a = 0; a < 40; a++) {
		assert_true(s3_backoff_ms(a, UINT32_MAX) <= s3_backoff_cap_ms(a));
		assert_int_equal(s3_backoff_ms(a, 0), 0);
		total += s3_backoff_cap_ms(a);
	}
	/* full jitter reaches the cap */
	assert_int_equal(s3_backoff_ms(3, 800), 800);
	assert_true(total > 0);
}

static void md5_hex(const void *p, size_t n, char out[2 * S3_MD5_LEN + 1])
{
	uint8_t d[S3_MD5_LEN];

	s3_md5(p, n, d);
	for (unsigned i = 0; i < S3_MD5_LEN; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* RFC 1321's test suite, lengths around the 56- and 64-byte edges, and
 * the ETag forms and the multipart ETag (values from Python's hashlib). */
static void test_md5_etag(void **state)
{
	static const char *const rfc[][2] = {
		{ "", "d41d8cd98f00b204e9800998ecf8427e" },
		{ "a", "0cc175b9c0f1b6a831c399e269772661" },
		{ "abc", "900150983cd24fb0d6963f7d28e17f72" },
		{ "message digest", "f96b697d7cb7938d525a2f31aaf161d0" },
		{ "abcdefghijklmnopqrstuvwxyz",
		  "c3fcd3d76192e4007dfb496cca67e13b" },
		{ "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
		  "d174ab98d277d9f5a5611c2c9f419d9f" },
		{ "1234567890123456789012345678901234567890123456789012345678901234567890"
		  "1234567890",
		  "57edf4a22be3c955ac49da2e2107b67a" },
	};
	char hex[2 * S3_MD5_LEN + 1];
	uint8_t *big, d[S3_MD5_LEN], want[S3_MD5_LEN];
	char parts[2][S3_ETAG_MAX] = { "\"594f803b380a41396ed63dca39503542\"",
				       "\"08F8E0260C64418510CEFB2B06EEE5CD\"" };
	unsigned np;

	(void)state;
	for (size_t i = 0; i < sizeof(rfc) / sizeof(rfc[0]); i++) {
		md5_hex(rfc[i][0], strlen(rfc[i][0]), hex);
		assert_string_equal(hex, rfc[i][1]);
	}
	big = malloc(1000000);
	assert_non_null(big);
	memset(big, 'a', 1000000);
	md5_hex(big, 1000000, hex);
	assert_string_equal(hex, "7707d6ae4e027c70eea2a935c2296f21");
	for (size_t i = 0; i < 768; i++)
		big[i] = (uint8_t)i;
	md5_hex(big, 768, hex);
	assert_string_equal(hex, "e6899eaaf06fd702f3ed3f988eb19362");
	free(big);

	assert_int_equal(s3_etag_parse("\"900150983cd24fb0d6963f7d28e17f72\"",
				       d, &np), S3_ETAG_MD5);
	assert_int_equal(np, 0);
	s3_md5("abc", 3, want);
	assert_memory_equal(d, want, S3_MD5_LEN);
	assert_int_equal(s3_etag_parse("900150983CD24FB0D6963F7D28E17F72", d,
				       &np), S3_ETAG_MD5);
	assert_memory_equal(d, want, S3_MD5_LEN);
	assert_int_equal(s3_etag_parse("\"72d27afac8e2fbd3662861b9d607a02c-2\"",
				       d, &np), S3_ETAG_MULTIPART);
	assert_int_equal(np, 2);
	assert_true(s3_etag_multipart((const char (*)[S3_ETAG_MAX])parts, 2,
				      want));
	assert_memory_equal(d, want, S3_MD5_LEN);
	assert_int_equal(s3_etag_parse("72d27afac8e2fbd3662861b9d607a02c-10000",
				       d, &np), S3_ETAG_MULTIPART);
	assert_int_equal(np, 10000);
	/* not ours to compute */
	assert_int_equal(s3_etag_parse(NULL, d, &np), S3_ETAG_OTHER);
	assert_int_equal(s3_etag_parse("", d, &np), S3_ETAG_OTHER);
	assert_int_equal(s3_etag_parse("\"\"", d, &np), S3_ETAG_OTHER);
	assert_int_equal(s3_etag_parse("\"900150983cd24fb0d6963f7d28e17f7\"", d,
				       &np), S3_ETAG_OTHER);
	assert_int_equal(s3_etag_parse("\"900150983cd24fb0d6963f7d28e17f7g\"", d,
				       &np), S3_ETAG_OTHER);
	assert_int_equal(s3_etag_parse("900150983cd24fb0d6963f7d28e17f72ab", d,
				       &np), S3_ETAG_OTHER);
	assert_int_equal(s3_etag_parse("72d27afac8e2fbd3662861b9d607a02c-", d,
				       &np), S3_ETAG_OTHER);
	assert_int_equal(s3_etag_parse("72d27afac8e2fbd3662861b9d607a02c-0", d,
				       &np), S3_ETAG_OTHER);
	assert_int_equal(s3_etag_parse("72d27afac8e2fbd3662861b9d607a02c-10001",
				       d, &np), S3_ETAG_OTHER);
	assert_int_equal(s3_etag_parse("72d27afac8e2fbd3662861b9d607a02c-2x", d,
				       &np), S3_ETAG_OTHER);
	assert_int_equal(np, 0);
	/* a part whose ETag is not an MD5: the multipart ETag is unknown */
	snprintf(parts[1], sizeof(parts[1]), "\"abc\"");
	assert_false(s3_etag_multipart((const char (*)[S3_ETAG_MAX])parts, 2,
				       want));
	assert_false(s3_etag_multipart((const char (*)[S3_ETAG_MAX])parts, 0,
				       want));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_canon_query),
		cmocka_unit_test(test_host_detection),
		cmocka_unit_test(test_parse_url),
		cmocka_unit_test(test_url_addressing),
		cmocka_unit_test(test_empty_endpoint),
		cmocka_unit_test(test_precedence),
		cmocka_unit_test(test_credentials_file),
		cmocka_unit_test(test_config),
		cmocka_unit_test(test_xml_list),
		cmocka_unit_test(test_xml_error_upload),
		cmocka_unit_test(test_retry),
		cmocka_unit_test(test_md5_etag),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
