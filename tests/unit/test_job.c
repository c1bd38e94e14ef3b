/* The nightly job's settings: the example configuration reads as it says;
 * a table of files that must be refused, each with the words the message
 * must carry (file, section, key, what was expected); values: booleans,
 * numbers, sizes, dataset lists, send flags; defaults.  The metrics file:
 * written atomically with mode 0644 whatever the umask, label values
 * escaped and read back, a failed dataset's last success kept, jobs gone
 * from the config dropped, a damaged file replaced, bad lines refused.
 * The token bucket holds a stream to its rate. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "backup/job.h"

static enum bk_code load(const char *text, struct bk_settings **out,
			 struct bk_error *err)
{
	struct bk_config *c = NULL;
	enum bk_code rc;

	rc = bk_config_parse(text, strlen(text), "t.conf", &c, err);
	if (rc)
		fail_msg("config: %s", err->msg);
	rc = bk_settings_load(c, "t.conf", out, err);
	bk_config_free(c);
	return rc;
}

static void example(void **state)
{
	struct bk_settings *s = NULL;
	struct bk_config *c = NULL;
	struct bk_error err;
	const struct bk_job *j;
	const char *argv[4];
	char path[512];

	(void)state;
	/* the example configuration of the project (tests run from the top
	 * or from build/: try both) */
	snprintf(path, sizeof(path), "conf/zbak.conf");
	if (bk_config_load(path, &c, &err) == BK_ERR_NOTFOUND)
		skip();
	assert_int_equal(bk_settings_load(c, path, &s, &err), BK_OK);
	assert_string_equal(s->repository, "/srv/backup/zbak");
	assert_string_equal(s->passphrase_file, "/etc/zbak/passphrase");
	assert_string_equal(s->lock_file, "/run/zbak/zbak.lock");
	assert_int_equal(s->lock_wait, 60);
	assert_int_equal(s->njobs, 1);
	j = bk_settings_job(s, "home");
	assert_non_null(j);
	assert_null(bk_settings_job(s, "www"));
	assert_int_equal(j->ndatasets, 1);
	assert_string_equal(j->datasets[0], "tank/home");
	assert_true(j->recursive);
	assert_string_equal(j->prefix, "zbak-");
	assert_int_equal(j->send_flags,
			 BK_SEND_COMPRESSED | BK_SEND_LARGE | BK_SEND_EMBED);
	assert_int_equal(bk_send_flags_argv(j->send_flags, argv), 3);
	assert_string_equal(argv[0], "-c");
	assert_string_equal(argv[1], "-L");
	assert_string_equal(argv[2], "-e");
	assert_int_equal(j->full_every_days, 30);
	assert_int_equal(j->full_every, 0);
	assert_int_equal(j->concurrency, 8);
	assert_int_equal(j->bandwidth_limit, 0);
	assert_int_equal(j->keep.last, 7);
	assert_int_equal(j->keep.hourly, 0);
	assert_int_equal(j->keep.daily, 14);
	assert_int_equal(j->keep.weekly, 8);
	assert_int_equal(j->keep.monthly, 12);
	assert_int_equal(j->keep.yearly, 3);
	bk_settings_free(s);
	bk_config_free(c);
}

static void defaults_and_values(void **state)
{
	struct bk_settings *s = NULL;
	struct bk_error err;
	const struct bk_job *j;

	(void)state;
	assert_int_equal(load("[zbak]\nrepository = s3://b/p\n"
			      "[job a]\ndatasets = tank/a,tank/b  tank/c ,, "
			      "tank/d\n"
			      "RECURSIVE = True\nbandwidth_limit = 10M\n"
			      "send_flags = -w\n"
			      "[job b]\ndatasets = p\nbandwidth_limit =\n"
			      "recursive = 0\nsnapshot_prefix = nightly.\n"
			      "repository = /other\n"
			      "[s3]\nanything = goes\n[pool]\ndir = /x\n",
			      &s, &err),
			 BK_OK);
	assert_int_equal(s->lock_wait, 60);
	assert_string_equal(s->lock_file, "");
	assert_int_equal(s->njobs, 2);
	j = &s->jobs[0];
	assert_string_equal(j->name, "a");
	assert_int_equal(j->ndatasets, 4);
	assert_string_equal(j->datasets[3], "tank/d");
	assert_true(j->recursive);
	assert_int_equal(j->bandwidth_limit, 10u << 20);
	assert_int_equal(j->send_flags, BK_SEND_RAW);
	assert_string_equal(j->prefix, "zbak-");
	assert_int_equal(j->keep.daily, 0);
	assert_int_equal(j->concurrency, 8);
	j = &s->jobs[1];
	/* the defaults of zbak.conf(5) */
	assert_int_equal(j->send_flags,
			 BK_SEND_COMPRESSED | BK_SEND_LARGE | BK_SEND_EMBED);
	assert_int_equal(j->full_every_days, 30);
	assert_int_equal(j->full_every, 0);
	assert_false(j->recursive);
	assert_int_equal(j->bandwidth_limit, 0);
	assert_string_equal(j->prefix, "nightly.");
	assert_string_equal(j->repository, "/other");
	bk_settings_free(s);

	{
		uint64_t v;
		bool b;

		assert_int_equal(bk_parse_size("0", &v, &err), BK_OK);
		assert_int_equal(v, 0);
		assert_int_equal(bk_parse_size("3k", &v, &err), BK_OK);
		assert_int_equal(v, 3072);
		assert_int_equal(bk_parse_size("2G", &v, &err), BK_OK);
		assert_int_equal(v, 2ull << 30);
		assert_int_equal(bk_parse_size("16777215T", &v, &err), BK_OK);
		assert_int_not_equal(bk_parse_size("16777216T", &v, &err), BK_OK);
		assert_int_not_equal(bk_parse_size("1.5M", &v, &err), BK_OK);
		assert_int_not_equal(bk_parse_size("M", &v, &err), BK_OK);
		assert_int_not_equal(bk_parse_size("-1", &v, &err), BK_OK);
		assert_int_not_equal(bk_parse_size("10 M", &v, &err), BK_OK);
		assert_int_equal(bk_parse_size("64MiB", &v, &err), BK_OK);
		assert_int_equal(v, UINT64_C(64) << 20);
		assert_int_equal(bk_parse_size("4KB", &v, &err), BK_OK);
		assert_int_equal(v, 4096);
		assert_int_not_equal(bk_parse_size("4B", &v, &err), BK_OK);
		assert_int_not_equal(bk_parse_size("iB", &v, &err), BK_OK);
		assert_int_equal(bk_parse_uint("18446744073709551615",
					       UINT64_MAX, &v, &err),
				 BK_OK);
		assert_int_not_equal(bk_parse_uint("18446744073709551616",
						   UINT64_MAX, &v, &err),
				     BK_OK);
		assert_int_not_equal(bk_parse_uint("11", 10, &v, &err), BK_OK);
		assert_non_null(strstr(err.msg, "at most 10"));
		assert_int_equal(bk_parse_bool("NO", &b, &err), BK_OK);
		assert_false(b);
		assert_int_not_equal(bk_parse_bool("on", &b, &err), BK_OK);
		assert_int_not_equal(bk_parse_bool("", &b, &err), BK_OK);
	}
}

/* snapshots = existing, snapshot_match, the hook keys */
static void existing_and_hooks(void **state)
{
	static const struct {
		const char *text, *word;
	} bad[] = {
		{ "[job a]\ndatasets = t/a\nsnapshots = existing\n",
		  "needs snapshot_match" },
		{ "[job a]\ndatasets = t/a\nsnapshot_match = x*\n",
		  "only with snapshots = existing" },
		{ "[job a]\ndatasets = t/a\nsnapshots = existing\n"
		  "snapshot_match = x*\nsnapshot_prefix = y-\n",
		  "[job a] snapshot_prefix: zbak takes no snapshot" },
		{ "[job a]\ndatasets = t/a\nsnapshots = some\n",
		  "[job a] snapshots: 'some'" },
		{ "[job a]\ndatasets = t/a\nsnapshots = existing\n"
		  "snapshot_match = a/b\n",
		  "[job a] snapshot_match: 'a/b'" },
		{ "[zbak]\non_failure = alert\n",
		  "[zbak] on_failure: 'alert' does not start with an absolute" },
		{ "[zbak]\nhook_timeout = 1m\n", "[zbak] hook_timeout" },
	};
	struct bk_settings *s = NULL;
	struct bk_error err;
	const struct bk_job *j;

	(void)state;
	assert_int_equal(load("[zbak]\non_failure = /bin/alert -x  a\n"
			      "[job a]\ndatasets = t/a\n"
			      "snapshots = Existing\n"
			      "snapshot_match = autosnap_*_daily zrepl_*\n"
			      "[job b]\ndatasets = t/b\nsnapshots = own\n",
			      &s, &err),
			 BK_OK);
	assert_string_equal(s->on_failure, "/bin/alert -x  a");
	assert_string_equal(s->on_success, "");
	assert_int_equal(s->hook_timeout, 60);
	assert_string_equal(bk_hook_command(s, 5), "/bin/alert -x  a");
	assert_null(bk_hook_command(s, 0));
	j = bk_settings_job(s, "a");
	assert_true(j->existing);
	assert_string_equal(j->match, "autosnap_*_daily zrepl_*");
	assert_false(bk_settings_job(s, "b")->existing);
	bk_settings_free(s);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		s = NULL;
		assert_int_equal(load(bad[i].text, &s, &err), BK_ERR_USAGE);
		assert_null(s);
		if (!strstr(err.msg, bad[i].word))
			fail_msg("%zu: %s", i, err.msg);
	}
}

static void refused(void **state)
{
	static const struct {
		const char *text;
		const char *words[3]; /* each must be in the message */
	} table[] = {
		{ "[job home]\ndatasets = t/h\nkeep_dialy = 7\n",
		  { "t.conf: [job home] keep_dialy: unknown key",
		    "did you mean keep_daily?" } },
		{ "[zbak]\nrepo = /x\n", { "t.conf: [zbak] repo: unknown key" } },
		{ "[zbak]\nlock_wait = soon\n",
		  { "t.conf: [zbak] lock_wait", "not a number" } },
		{ "[zbak]\nlock_wait = 99999999\n",
		  { "[zbak] lock_wait", "too large" } },
		{ "[zbak]\nlock_file = run/x\n",
		  { "[zbak] lock_file", "absolute path" } },
		{ "[job a]\ndatasets = t/a\nrecursive = maybe\n",
		  { "t.conf: [job a] recursive", "not a boolean" } },
		{ "[job a]\ndatasets = t/a\nkeep_daily = -1\n",
		  { "[job a] keep_daily", "not a number" } },
		{ "[job a]\ndatasets = t/a\nkeep_daily = 7d\n",
		  { "[job a] keep_daily" } },
		{ "[job a]\ndatasets = t/a\nbandwidth_limit = 5 MB/s\n",
		  { "[job a] bandwidth_limit", "not a size" } },
		{ "[job a]\ndatasets = t/a\nsend_flags = -c -R\n",
		  { "[job a] send_flags", "'-R'", "-c -w -L -e" } },
		{ "[job a]\ndatasets = t/a\nsend_flags = -cL\n",
		  { "[job a] send_flags", "'-cL'" } },
		{ "[job a]\ndatasets = t/a@snap\n", { "[job a] datasets" } },
		{ "[job a]\ndatasets = t//a\n", { "[job a] datasets" } },
		{ "[job a]\ndatasets = t/a t/b t/a\n",
		  { "[job a] datasets", "t/a is listed twice" } },
		{ "[job a]\ndatasets = , ,\n", { "[job a] datasets", "no dataset" } },
		{ "[job a]\nrecursive = yes\n",
		  { "t.conf: [job a]: datasets missing" } },
		{ "[job a]\n", { "[job a]: datasets missing" } },
		{ "[job a]\ndatasets = t/a\nsnapshot_prefix = a b\n",
		  { "[job a] snapshot_prefix" } },
		{ "[job a]\ndatasets = t/a\nsnapshot_prefix =\n",
		  { "[job a] snapshot_prefix", "empty prefix" } },
		{ "[job a]\ndatasets = t/a\nconcurrency = 1000\n",
		  { "[job a] concurrency", "at most 256" } },
		{ "[job]\ndatasets = t/a\n", { "[job]: a job needs a name" } },
		{ "[job a/b]\ndatasets = t/a\n", { "[job a/b]: a job name" } },
		{ "[jobs a]\ndatasets = t/a\n",
		  { "t.conf: [jobs a]: unknown section" } },
		{ "[zbak ]\n", { "unknown section" } },
		{ "x = 1\n[zbak]\n", { "t.conf: x: a key before any [section]" } },
		{ "[job a]\ndatasets = t/a\n[job b]\ndatasets = t/b, t/a\n",
		  { "t/a is in [job a] and in [job b]" } },
		{ "[job a]\ndatasets = t/a\nrecursive = yes\n[job b]\n"
		  "datasets = t/a/b\n",
		  { "t/a/b of [job b] is under t/a, which [job a] backs up "
		    "recursively" } },
		{ "[job a]\ndatasets = t t/x\nrecursive = yes\n",
		  { "t/x of [job a] is under t" } },
		{ "[job a]\ndatasets = t/a\nzzzzzzzzzz = 1\n",
		  { "[job a] zzzzzzzzzz: unknown key", "see zbak(1)" } },
	};

	(void)state;
	for (size_t t = 0; t < sizeof(table) / sizeof(table[0]); t++) {
		struct bk_settings *s = NULL;
		struct bk_error err;
		enum bk_code rc = load(table[t].text, &s, &err);

		if (rc != BK_ERR_USAGE)
			fail_msg("row %zu: code %d, expected a usage error", t,
				 rc);
		assert_null(s);
		for (size_t w = 0; w < 3 && table[t].words[w]; w++)
			if (!strstr(err.msg, table[t].words[w]))
				fail_msg("row %zu: '%s' is not in '%s'", t,
					 table[t].words[w], err.msg);
	}
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static void metrics(void **state)
{
	char dir[] = "/tmp/zbak-metrics-XXXXXX", path[128], cmd[160];
	struct bk_metric run[2], *v = NULL;
	const char *jobs[] = { "home", "www" };
	struct bk_error err;
	struct stat st;
	size_t n = 0, len;
	char *text;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/zbak.prom", dir);
	memset(run, 0, sizeof(run));
	snprintf(run[0].job, sizeof(run[0].job), "home");
	snprintf(run[0].dataset, sizeof(run[0].dataset), "tank/a\"b\\c");
	run[0].ok = true;
	run[0].last_success = run[0].last_run = 1000;
	run[0].duration = 1.5;
	run[0].sent = 123;
	run[0].stored = 45;
	run[1] = run[0];
	snprintf(run[1].job, sizeof(run[1].job), "www");
	snprintf(run[1].dataset, sizeof(run[1].dataset), "tank/www");
	umask(077);
	assert_int_equal(bk_metrics_update(path, run, 2, jobs, 2, &err), BK_OK);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0644);
	umask(022);
	text = slurp(path, &len);
	assert_non_null(strstr(text, "zbak_backup_sent_bytes{job=\"home\",dataset=\"tank/a\\\"b\\\\c\"} 123\n"));
	assert_int_equal(bk_metrics_parse(text, len, &v, &n, &err), BK_OK);
	assert_int_equal(n, 2);
	assert_string_equal(v[0].dataset, "tank/a\"b\\c");
	assert_true(v[0].ok && v[0].last_success == 1000 && v[0].sent == 123 &&
		    v[0].stored == 45 && v[0].last_run == 1000);
	free(v);
	free(text);

	/* www fails later: its last success stays; home, not run, stays */
	memset(&run[1], 0, sizeof(run[1]));
	snprintf(run[1].job, sizeof(run[1].job), "www");
	snprintf(run[1].dataset, sizeof(run[1].dataset), "tank/www");
	run[1].last_run = 2000;
	assert_int_equal(bk_metrics_update(path, &run[1], 1, jobs, 2, &err),
			 BK_OK);
	text = slurp(path, &len);
	assert_int_equal(bk_metrics_parse(text, len, &v, &n, &err), BK_OK);
	assert_int_equal(n, 2);
	assert_string_equal(v[0].dataset, "tank/www");
	assert_true(!v[0].ok && v[0].last_success == 1000 &&
		    v[0].last_run == 2000);
	assert_true(v[1].ok && v[1].last_success == 1000);
	free(v);
	free(text);
	/* a job no longer in the config: its series go */
	assert_int_equal(bk_metrics_update(path, NULL, 0, jobs + 1, 1, &err),
			 BK_OK);
	text = slurp(path, &len);
	assert_null(strstr(text, "job=\"home\""));
	free(text);

	/* a damaged previous file is replaced, not an error */
	{
		FILE *f = fopen(path, "w");

		fputs("zbak_backup_status{job=\"x\" 1\n", f);
		fclose(f);
	}
	assert_int_equal(bk_metrics_update(path, run, 1, jobs, 2, &err),
			 BK_OK);
	/* the parser refuses what is not ours, with the line */
	{
		static const char *const bad[] = {
			"zbak_backup_status{job=\"a\"} 1\n",
			"zbak_backup_status{job=\"a\",dataset=\"b\"} x\n",
			"zbak_backup_status{job=\"a\",dataset=\"b} 1\n",
			"zbak_backup_status{job=\"a\",dataset=\"b\"} -1\n",
			"zbak_backup_status{job=\"a\\q\",dataset=\"b\"} 1\n",
		};

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			assert_int_equal(bk_metrics_parse(bad[i], strlen(bad[i]),
							  &v, &n, &err),
					 BK_ERR_FORMAT);
			assert_non_null(strstr(err.msg, "line 1"));
		}
		/* other exporters' lines and comments are skipped */
		assert_int_equal(bk_metrics_parse("# x\nnode_x 1\n", 14, &v,
						  &n, &err),
				 BK_OK);
		assert_int_equal(n, 0);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

static void throttle(void **state)
{
	struct bk_throttle *t;
	struct bk_error err;
	struct timespec a, b;
	char buf[65536];
	int p[2], rd;
	size_t got = 0;
	double secs;

	(void)state;
	assert_int_equal(pipe(p), 0);
	/* 400 KiB at 200 KiB/s (64 KiB at once to start): about 1.7 s */
	if (fork() == 0) {
		memset(buf, 'x', sizeof(buf));
		close(p[0]);
		for (int i = 0; i < 400 * 1024 / (int)sizeof(buf) + 1; i++)
			if (write(p[1], buf, i < 6 ? sizeof(buf) : 16384) < 0)
				_exit(1);
		_exit(0);
	}
	close(p[1]);
	clock_gettime(CLOCK_MONOTONIC, &a);
	assert_int_equal(bk_throttle_start(p[0], 200 * 1024, &t, &rd, &err),
			 BK_OK);
	close(p[0]); /* the throttle has its own */
	for (;;) {
		ssize_t n = read(rd, buf, sizeof(buf));

		assert_true(n >= 0);
		if (n == 0)
			break;
		got += (size_t)n;
	}
	assert_int_equal(bk_throttle_finish(t, &err), BK_OK);
	clock_gettime(CLOCK_MONOTONIC, &b);
	wait(NULL);
	secs = (double)(b.tv_sec - a.tv_sec) +
	       (double)(b.tv_nsec - a.tv_nsec) / 1e9;
	assert_int_equal(got, 6 * 65536 + 16384);
	if (secs < 1.3 || secs > 4)
		fail_msg("400 KiB at 200 KiB/s took %.2f s", secs);
	assert_int_equal(bk_throttle_start(0, 0, &t, &rd, &err), BK_ERR_USAGE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(example),
		cmocka_unit_test(metrics),
		cmocka_unit_test(throttle),
		cmocka_unit_test(defaults_and_values),
		cmocka_unit_test(refused),
		cmocka_unit_test(existing_and_hooks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
