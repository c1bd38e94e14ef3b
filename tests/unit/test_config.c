/* The configuration file: sections enumerated in order (an empty one too,
 * a repeated header once), keys of a section enumerated, lookups
 * case-insensitive for keys and not for sections, keys before any header,
 * errors naming the line (the right one after long lines), a key given
 * twice refused naming both lines, indented lines read as any other (no
 * continuation lines), bounds. */
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

#include "backup/config.h"

static struct bk_config *parse(const char *text)
{
	struct bk_config *c = NULL;
	struct bk_error err;

	if (bk_config_parse(text, strlen(text), "t.conf", &c, &err))
		fail_msg("parse: %s", err.msg);
	return c;
}

static void sections(void **state)
{
	struct bk_config *c = parse("top = 1\n"
				    "[zbak]\nrepository = /r\n"
				    "[job home]\ndatasets = tank/home\n"
				    "; a comment\n"
				    "[job empty]\n"
				    "  [job www]  \nDatasets = a, b\n"
				    "[zbak]\nlock_wait = 5\n"
				    "[job home]\nkeep_daily = 3\n");

	(void)state;
	assert_int_equal(bk_config_section_count(c), 4);
	assert_string_equal(bk_config_section(c, 0), "zbak");
	assert_string_equal(bk_config_section(c, 1), "job home");
	assert_string_equal(bk_config_section(c, 2), "job empty");
	assert_string_equal(bk_config_section(c, 3), "job www");
	assert_null(bk_config_section(c, 4));
	assert_true(bk_config_has_section(c, "job empty"));
	assert_false(bk_config_has_section(c, "Job home"));
	assert_int_equal(bk_config_key_count(c, "job empty"), 0);
	assert_null(bk_config_key(c, "job empty", 0, NULL));
	assert_int_equal(bk_config_key_count(c, "zbak"), 2);
	assert_int_equal(bk_config_key_count(c, "job home"), 2);
	{
		const char *v = NULL;
		const char *k = bk_config_key(c, "job home", 0, &v);

		assert_string_equal(k, "datasets");
		assert_string_equal(v, "tank/home");
		k = bk_config_key(c, "job home", 1, &v);
		assert_string_equal(k, "keep_daily");
		assert_string_equal(v, "3");
		assert_null(bk_config_key(c, "job home", 2, &v));
		assert_null(v);
		k = bk_config_key(c, "job www", 0, NULL);
		assert_string_equal(k, "Datasets"); /* as written */
	}
	assert_string_equal(bk_config_get(c, "job www", "datasets"), "a, b");
	assert_string_equal(bk_config_get(c, "", "top"), "1");
	assert_int_equal(bk_config_key_count(c, ""), 1);
	bk_config_free(c);
	/* NULL is fine */
	assert_int_equal(bk_config_section_count(NULL), 0);
	assert_null(bk_config_section(NULL, 0));
	assert_int_equal(bk_config_key_count(NULL, "x"), 0);
	assert_null(bk_config_key(NULL, "x", 0, NULL));
}

static void long_values_and_errors(void **state)
{
	char big[600];
	struct bk_config *c = NULL;
	struct bk_error err;
	const char *text;
	char *buf;

	(void)state;
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	buf = malloc(strlen(big) + 64);
	assert_non_null(buf);
	snprintf(buf, strlen(big) + 64, "[s3]\nsession_token = %s\n[job a]\n",
		 big);
	c = parse(buf);
	assert_string_equal(bk_config_get(c, "s3", "session_token"), big);
	assert_int_equal(bk_config_section_count(c), 2);
	assert_string_equal(bk_config_key(c, "s3", 0, NULL), "session_token");
	bk_config_free(c);
	free(buf);

	text = "[zbak]\nnot a key value\n";
	assert_int_not_equal(bk_config_parse(text, strlen(text), "t.conf", &c,
					     &err),
			     BK_OK);
	assert_null(c);
	assert_non_null(strstr(err.msg, "t.conf line 2"));
	text = "[zbak\nx = 1\n";
	assert_int_not_equal(bk_config_parse(text, strlen(text), "t.conf", &c,
					     &err),
			     BK_OK);
	assert_non_null(strstr(err.msg, "t.conf line 1"));
}

/* text must be refused with a message holding each of want[] */
static void refused(const char *text, const char *const *want)
{
	struct bk_config *c = NULL;
	struct bk_error err;

	if (bk_config_parse(text, strlen(text), "t.conf", &c, &err) == BK_OK)
		fail_msg("accepted: %s", text);
	assert_null(c);
	for (; *want; want++)
		if (!strstr(err.msg, *want))
			fail_msg("'%s' not in '%s'", *want, err.msg);
}

static void duplicates(void **state)
{
	char *buf = malloc(2048);
	char big[600];
	struct bk_config *c;

	(void)state;
	/* in one section (headers repeated or not), keys in any case */
	refused("[s3]\nendpoint = a\n[zbak]\nx = 1\n[s3]\nENDPOINT = b\n",
		(const char *const[]){ "t.conf line 6", "ENDPOINT given twice",
				       "in [s3]", "first on line 2", NULL });
	refused("[job a]\ndatasets = t/a\nkeep_daily = 1\ndatasets = t/b\n",
		(const char *const[]){ "t.conf line 4", "datasets given twice",
				       "in [job a]", "first on line 2", NULL });
	refused("a = 1\n\n# c\na = 1\n[s3]\n",
		(const char *const[]){ "t.conf line 4", "a given twice",
				       "before any [section]",
				       "first on line 1", NULL });
	/* a long value (kept aside while libinih parses) counts as a line */
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	snprintf(buf, 2048, "[s3]\nsession_token = %s\nregion = r\n"
			    "session_token = %s\n", big, big);
	refused(buf, (const char *const[]){ "t.conf line 4",
					    "session_token given twice",
					    "first on line 2", NULL });
	/* the first error is the one reported */
	refused("[s3]\nnot a key\nx = 1\nx = 2\n",
		(const char *const[]){ "t.conf line 2",
				       "not a [section] or key = value", NULL });
	refused("[s3]\nx = 1\nx = 2\nnot a key\n",
		(const char *const[]){ "t.conf line 3", "x given twice", NULL });
	/* the same key in two sections is no duplicate */
	c = parse("[a]\nx = 1\n[b]\nx = 2\n");
	assert_string_equal(bk_config_get(c, "a", "x"), "1");
	assert_string_equal(bk_config_get(c, "b", "x"), "2");
	bk_config_free(c);
	free(buf);
}

static void lines(void **state)
{
	char *buf = malloc(2048);
	char big[300];
	struct bk_config *c;

	(void)state;
	/* a long comment line still counts */
	memset(big, '-', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	snprintf(buf, 2048, "[s3]\n# %s\n\n;%s\nnot a key\n", big, big);
	refused(buf, (const char *const[]){ "t.conf line 5", NULL });
	/* an indented line is a line: never the continuation of the value
	 * above (libinih's multi-line values would replace that value) */
	c = parse("[zbak]\nrepository = /r\n  lock_wait = 5\n\t[job a]\n"
		  "\tdatasets = t/a\n");
	assert_string_equal(bk_config_get(c, "zbak", "repository"), "/r");
	assert_string_equal(bk_config_get(c, "zbak", "lock_wait"), "5");
	assert_string_equal(bk_config_get(c, "job a", "datasets"), "t/a");
	bk_config_free(c);
	refused("[job a]\ndatasets = t/a\n    t/b\n",
		(const char *const[]){ "t.conf line 3", NULL });
	free(buf);
}

/* A file holding a secret: refused when group or others may read it. */
static void secret_perms(void **state)
{
	static const char text[] = "[s3]\nsecret_access_key = k\n";
	static const mode_t bad[] = { 0640, 0604, 0644, 0660 };
	char path[] = "/tmp/zbak-test-config-XXXXXX";
	struct bk_config *c = NULL;
	struct bk_error err;
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char mode[16];

		assert_int_equal(chmod(path, bad[i]), 0);
		assert_int_equal(bk_config_load(path, &c, &err), BK_ERR_USAGE);
		assert_null(c);
		snprintf(mode, sizeof(mode), "mode %04o", (unsigned)bad[i]);
		assert_non_null(strstr(err.msg, mode));
		assert_non_null(strstr(err.msg, "chmod 600"));
		assert_non_null(strstr(err.msg, path));
	}
	assert_int_equal(chmod(path, 0600), 0);
	assert_int_equal(bk_config_load(path, &c, &err), BK_OK);
	bk_config_free(c);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(sections),
		cmocka_unit_test(long_values_and_errors),
		cmocka_unit_test(duplicates),
		cmocka_unit_test(lines),
		cmocka_unit_test(secret_perms),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
