/* The zfs adapter: the `zfs get -H -p` parser (a table of good and bad
 * input), the usage text parser (OpenZFS 2.x's and zfs-fuse's synopses),
 * and the child processes against a fake zfs (a shell script named by
 * $ZBAK_ZFS whose behaviour $FAKE_MODE picks): argv, existence, stdout
 * capture, a zfs without createtxg (asked once, then not again), what send
 * takes learned once, receive (bytes through, a child that stops reading
 * is EPIPE and its stderr quoted, no SIGPIPE, also when a large write was
 * half done), abort of a hung child, the cause quoted rather than the
 * usage text, bounded stderr, no secrets in the child's environment, send,
 * names refused. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "backup/zfs.h"

static char dir[64];

static const char fake[] =
	"#!/bin/sh\n"
	"printf '%s\\n' \"$@\" >\"$FAKE_DIR/args\"\n"
	"case $FAKE_MODE in\n"
	"list) printf 'p/fs\\tguid\\t-\\np/fs@b\\tguid\\t22\\n"
	"p/fs@b\\tcreatetxg\\t9\\np/fs@b\\tuserrefs\\t1\\n"
	"p/fs@a\\tguid\\t18446744073709551615\\np/fs@a\\tcreatetxg\\t5\\n"
	"p/fs@a\\tuserrefs\\t0\\np/fs/kid@a\\tguid\\t7\\n"
	"p/fsx@a\\tguid\\t8\\n' ;;\n"
	"notxg) case \"$*\" in *createtxg*) echo \"bad property list: invalid "
	"property 'createtxg'\" >&2; echo usage: >&2; echo '\\tget ...' >&2;"
	" exit 2 ;; esac; printf 'p/fs@b\\tguid\\t2\\np/fs@a\\tguid\\t1\\n"
	"p/fs@c\\tguid\\t3\\n' ;;\n"
	"usage-openzfs) printf 'missing command\\nusage: zfs command args ...\\n"
	"\\tlist [-Hp] [-r|-d max]\\n\\tsend [-DLPbcehnpsVvw] [-i|-I snapshot]\\n"
	"\\t     [-R [-X dataset[,dataset]...]]     <snapshot>\\n"
	"\\tsend [-DnVvPLecw] [-i snapshot|bookmark] <filesystem>\\n"
	"\\treceive [-vMnsFhu] [-o <property>=<value>]\\n' >&2; exit 2 ;;\n"
	"usage-fuse) printf 'missing command\\nusage: zfs command args ...\\n"
	"\\tsend [-RDp] [-[iI] snapshot] <snapshot>\\n"
	"\\treceive [-vnF] <filesystem|volume|snapshot>\\n' >&2; exit 2 ;;\n"
	"badopt) echo \"invalid option 'p'\" >&2; echo 'usage:' >&2;"
	" echo '\\tlist [-rH][-d max] ...' >&2; echo 'The {user|group} (:).' >&2;"
	" exit 2 ;;\n"
	"missing) echo \"cannot open '$3': dataset does not exist\" >&2; exit 1 ;;\n"
	"nomodule) echo 'The ZFS modules are not loaded.' >&2; exit 1 ;;\n"
	"garbage) printf 'p/fs@a\\tguid\\t12x\\n' ;;\n"
	"cat) cat >\"$FAKE_DIR/in\" ;;\n"
	"reject) head -c 100 >/dev/null; echo 'cannot receive: invalid stream'"
	" >&2; exit 1 ;;\n"
	"hang) sleep 30 & echo $! >\"$FAKE_DIR/sleeper\"; wait;"
	" echo late >&2 ;;\n"
	"env) env >\"$FAKE_DIR/env\" ;;\n"
	"chatty) i=0; while [ $i -lt 3000 ]; do echo \"line $i of noise\" >&2;"
	" i=$((i+1)); done; echo 'the last word' >&2; exit 3 ;;\n"
	"send) printf 'STREAM' ;;\n"
	"datasets) printf 'p/fs\\np/fs/a b\\np/fs/v\\n' ;;\n"
	"flood) head -c 3000000 /dev/zero; sleep 30 ;;\n"
	"sendfail) echo 'cannot send: no such snapshot' >&2; exit 1 ;;\n"
	"ok) ;;\n"
	"*) echo \"fake zfs: unknown mode $FAKE_MODE\" >&2; exit 99 ;;\n"
	"esac\n";

static char *slurp(const char *name, size_t *len)
{
	char path[128];
	FILE *f;
	char *buf;
	long n;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "rb");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	if (len)
		*len = (size_t)n;
	return buf;
}

static void expect_args(const char *want)
{
	char *got = slurp("args", NULL);

	assert_string_equal(got, want);
	free(got);
}

static int setup(void **state)
{
	char path[128];
	FILE *f;

	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/zbak-zfs-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof(path), "%s/zfs", dir);
	f = fopen(path, "w");
	if (!f)
		return -1;
	fputs(fake, f);
	fclose(f);
	chmod(path, 0755);
	setenv("ZBAK_ZFS", path, 1);
	setenv("FAKE_DIR", dir, 1);
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* ---- the parser ------------------------------------------------------------ */

static void parse_good(void **state)
{
	static const char text[] =
		"pool/fs\tguid\t-\n"		  /* the dataset: skipped */
		"pool/fs@a\tguid\t1\n"
		"pool/fs@a\tcreatetxg\t10\n"
		"pool/fs@a\tuserrefs\t2\n"
		"pool/fs@b\tguid\t18446744073709551615\n"
		"pool/fs@b\tcreatetxg\t11\n"
		"pool/fs@b\tused\t4096\n"	  /* not asked for: skipped */
		"pool/fs#bm\tguid\t5\n"		  /* a bookmark: skipped */
		"pool/fs/child@a b\tcreatetxg\t-\n" /* "-": not set */
		"pool/fs/child@a b\tguid\t00042"; /* no final \n */
	struct bk_zfs_snap *v = NULL;
	struct bk_error err;
	size_t n = 0;

	(void)state;
	assert_int_equal(bk_zfs_parse_snapshots(text, strlen(text), &v, &n,
						&err),
			 BK_OK);
	assert_int_equal(n, 3);
	assert_string_equal(v[0].name, "pool/fs@a");
	assert_true(v[0].guid == 1 && v[0].createtxg == 10 &&
		    v[0].userrefs == 2);
	assert_true(v[1].guid == UINT64_MAX && v[1].createtxg == 11 &&
		    v[1].userrefs == 0);
	assert_string_equal(v[2].name, "pool/fs/child@a b");
	assert_true(v[2].guid == 42 && v[2].createtxg == 0);
	free(v);

	assert_int_equal(bk_zfs_parse_snapshots("", 0, &v, &n, &err), BK_OK);
	assert_int_equal(n, 0);
	assert_null(v);
	/* datasets only */
	assert_int_equal(bk_zfs_parse_snapshots("p\tguid\t-\n", 9, &v, &n,
						&err),
			 BK_OK);
	assert_int_equal(n, 0);
	assert_null(v);
}

static void parse_bad(void **state)
{
	static const struct {
		const char *text, *msg;
	} cases[] = {
		{ "p/fs@a\tguid\n", "line 1: expected name, property and value" },
		{ "p/fs@a guid 1\n", "line 1: expected" },
		{ "p/fs@a\tguid\t2\n\n", "line 2: expected" },
		{ "p/fs@a\tguid\t1\np/fs@b\tguid\t-1\n", "line 2: guid '-1'" },
		{ "p/fs@a\tguid\t18446744073709551616\n",
		  "guid '18446744073709551616'" },
		{ "p/fs@a\tguid\t0x10\n", "guid '0x10'" },
		{ "p/fs@a\tguid\t\n", "guid ''" },
		{ "p/fs@a\tguid\t-\n", "guid '-'" },
		{ "p/fs@a\tguid\t1\tx\n", "guid '1\tx'" },
		{ "p/fs@a\tguid\t1\np/fs@a\tcreatetxg\t2 \n",
		  "line 2: createtxg '2 '" },
		{ "p/fs@a\tguid\t1\np/fs@a\tuserrefs\tmany\n",
		  "line 2: userrefs 'many'" },
		{ "p/fs@a\tguid\t1\r\n", "guid" },
		{ "p/fs@a\tcreatetxg\t1\n", "no guid for p/fs@a" },
		{ "p/fs@a\tcreatetxg\t1\np/fs@b\tguid\t2\n",
		  "before line 2: no guid for p/fs@a" },
		{ "\tguid\t2\n", "line 1: not a dataset name" },
	};
	struct bk_zfs_snap *v;
	struct bk_error err;
	size_t n;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		v = (void *)1;
		n = 99;
		bk_error_clear(&err);
		assert_int_equal(bk_zfs_parse_snapshots(cases[i].text,
							strlen(cases[i].text),
							&v, &n, &err),
				 BK_ERR_FORMAT);
		if (!strstr(err.msg, cases[i].msg))
			fail_msg("case %zu: '%s' lacks '%s'", i, err.msg,
				 cases[i].msg);
		assert_null(v);
		assert_int_equal(n, 0);
	}
}

static void parse_long_name(void **state)
{
	char text[600];
	struct bk_zfs_snap *v;
	struct bk_error err;
	size_t n, k;

	(void)state;
	memset(text, 'a', sizeof(text));
	text[0] = 'p';
	text[1] = '@';
	/* 255 bytes: fits */
	k = BK_ZFS_NAME_MAX;
	memcpy(text + k, "\tguid\t1\n", 8);
	assert_int_equal(bk_zfs_parse_snapshots(text, k + 8, &v, &n, &err),
			 BK_OK);
	assert_int_equal(strlen(v[0].name), BK_ZFS_NAME_MAX);
	free(v);
	/* 256: refused */
	memset(text, 'a', sizeof(text));
	text[0] = 'p';
	text[1] = '@';
	k = BK_ZFS_NAME_MAX + 1;
	memcpy(text + k, "\tguid\t1\n", 8);
	assert_int_equal(bk_zfs_parse_snapshots(text, k + 8, &v, &n, &err),
			 BK_ERR_FORMAT);
	assert_non_null(strstr(err.msg, "at most 255 bytes"));
	/* a NUL inside a name */
	assert_int_equal(bk_zfs_parse_snapshots("p@a\0b\tguid\t1\n", 13, &v,
						&n, &err),
			 BK_ERR_FORMAT);
}

/* The synopses `zfs` prints without arguments: what send takes. */
static void usage_text(void **state)
{
	static const char openzfs[] =
		"missing command\n"
		"usage: zfs command args ...\n"
		"where 'command' is one of the following:\n\n"
		"\tlist [-Hp] [-r|-d max] [-o property[,...]]\n"
		"\tsend [-DLPbcehnpsVvw] [-i|-I snapshot]\n"
		"\t     [-R [-X dataset[,dataset]...]]     <snapshot>\n"
		"\tsend [-DnVvPLecw] [-i snapshot|bookmark] "
		"<filesystem|volume|snapshot>\n"
		"\tsend [-nVvPe] -t <receive_resume_token>\n"
		"\treceive [-vMnsFhu] [-o <property>=<value>] ...\n"
		"\t    [-d | -e] <filesystem>\n";
	static const char fuse[] =
		"\tsend [-RDp] [-[iI] snapshot] <snapshot>\n"
		"\treceive [-vnF] <filesystem|volume|snapshot>\n"
		"\tallow [-ldug] <\"everyone\"|user|group>[,...]\n";
	struct bk_zfs_caps c;

	(void)state;
	bk_zfs_parse_usage(openzfs, strlen(openzfs), &c);
	assert_true(c.known);
	assert_string_equal(c.send_opts, "DLPbcehnpsVvwiRX");
	assert_true(bk_zfs_send_takes(&c, 'c') && bk_zfs_send_takes(&c, 'L') &&
		    bk_zfs_send_takes(&c, 'e') && bk_zfs_send_takes(&c, 'w'));
	assert_false(bk_zfs_send_takes(&c, 'u')); /* receive's, not send's */
	assert_false(bk_zfs_send_takes(&c, 'd'));
	bk_zfs_parse_usage(fuse, strlen(fuse), &c);
	assert_true(c.known);
	assert_string_equal(c.send_opts, "RDp");
	assert_false(bk_zfs_send_takes(&c, 'c'));
	assert_false(bk_zfs_send_takes(&c, 'l'));
	/* no send synopsis: nothing known, nothing refused */
	bk_zfs_parse_usage("hello\n", 6, &c);
	assert_false(c.known);
	assert_true(bk_zfs_send_takes(&c, 'c'));
	bk_zfs_parse_usage("\tsender [-c]\n\tsend\n", 19, &c);
	assert_true(c.known);
	assert_string_equal(c.send_opts, "");
}

/* ---- children ------------------------------------------------------------------ */

static void list_and_exists(void **state)
{
	struct bk_zfs_snap *v;
	struct bk_error err;
	size_t n;
	bool ex;

	(void)state;
	setenv("FAKE_MODE", "list", 1);
	assert_int_equal(bk_zfs_list_snapshots("p/fs", false, &v, &n, &err),
			 BK_OK);
	expect_args("get\n-H\n-p\n-o\nname,property,value\n-d\n1\n"
		    "guid,createtxg,userrefs\np/fs\n");
	assert_int_equal(n, 2);
	/* its own only (not p/fs/kid's, not p/fsx's), sorted by createtxg */
	assert_string_equal(v[0].name, "p/fs@a");
	assert_true(v[0].guid == UINT64_MAX && v[0].createtxg == 5 &&
		    v[0].userrefs == 0);
	assert_string_equal(v[1].name, "p/fs@b");
	assert_true(v[1].userrefs == 1);
	free(v);
	assert_int_equal(bk_zfs_list_snapshots("p/fs", true, &v, &n, &err),
			 BK_OK);
	expect_args("get\n-H\n-p\n-o\nname,property,value\n-r\n"
		    "guid,createtxg,userrefs\np/fs\n");
	assert_int_equal(n, 3);
	assert_string_equal(v[2].name, "p/fs/kid@a");
	free(v);

	assert_int_equal(bk_zfs_exists("p", &ex, &err), BK_OK);
	assert_true(ex);
	expect_args("list\n-H\n-o\nname\np\n");

	setenv("FAKE_MODE", "missing", 1);
	assert_int_equal(bk_zfs_exists("p", &ex, &err), BK_OK);
	assert_false(ex);
	assert_int_equal(bk_zfs_list_snapshots("p/fs", false, &v, &n, &err),
			 BK_ERR_NOTFOUND);
	assert_non_null(strstr(err.msg, "dataset does not exist"));
	assert_null(v);

	setenv("FAKE_MODE", "nomodule", 1);
	assert_int_equal(bk_zfs_exists("p", &ex, &err), BK_ERR_IO);
	assert_false(ex);
	assert_non_null(strstr(err.msg, "(exit 1): The ZFS modules are not loaded."));

	/* more output than zfs list -o name can have: stopped, killed */
	setenv("FAKE_MODE", "flood", 1);
	assert_int_equal(bk_zfs_exists("p", &ex, &err), BK_ERR_LIMIT);
	assert_non_null(strstr(err.msg, "more than 1048576 bytes of output"));

	setenv("FAKE_MODE", "garbage", 1);
	assert_int_equal(bk_zfs_list_snapshots("p/fs", false, &v, &n, &err),
			 BK_ERR_FORMAT);
	assert_non_null(strstr(err.msg, "line 1: guid '12x'"));

	/* a bad option: the cause, not the usage text that follows it */
	setenv("FAKE_MODE", "badopt", 1);
	assert_int_equal(bk_zfs_exists("p", &ex, &err), BK_ERR_IO);
	assert_string_equal(err.msg, "zfs list -H -o name p failed (exit 2): "
				     "invalid option 'p'");
}

/* The same fake under another name: what is learned per command starts
 * afresh for it. */
static void use_command(const char *name)
{
	char path[128], target[128];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	snprintf(target, sizeof(target), "%s/zfs", dir);
	if (access(path, F_OK) != 0)
		assert_int_equal(symlink(target, path), 0);
	setenv("ZBAK_ZFS", path, 1);
}

/* A zfs whose get does not know createtxg: asked once, then not again;
 * its snapshots in the order it lists them. */
static void without_createtxg(void **state)
{
	char saved[128];
	struct bk_zfs_snap *v;
	struct bk_error err;
	size_t n;

	(void)state;
	snprintf(saved, sizeof(saved), "%s", getenv("ZBAK_ZFS"));
	use_command("zfs-notxg");
	setenv("FAKE_MODE", "notxg", 1);
	assert_int_equal(bk_zfs_list_snapshots("p/fs", false, &v, &n, &err),
			 BK_OK);
	expect_args("get\n-H\n-p\n-o\nname,property,value\n-d\n1\n"
		    "guid,userrefs\np/fs\n");
	assert_int_equal(n, 3);
	assert_string_equal(v[0].name, "p/fs@b");
	assert_string_equal(v[1].name, "p/fs@a");
	assert_string_equal(v[2].name, "p/fs@c");
	assert_true(v[0].createtxg == 0 && v[2].guid == 3);
	free(v);
	assert_int_equal(bk_zfs_list_snapshots("p/fs", true, &v, &n, &err),
			 BK_OK);
	expect_args("get\n-H\n-p\n-o\nname,property,value\n-r\n"
		    "guid,userrefs\np/fs\n");
	free(v);
	/* another command is asked for createtxg again */
	setenv("ZBAK_ZFS", saved, 1);
	setenv("FAKE_MODE", "list", 1);
	assert_int_equal(bk_zfs_list_snapshots("p/fs", false, &v, &n, &err),
			 BK_OK);
	expect_args("get\n-H\n-p\n-o\nname,property,value\n-d\n1\n"
		    "guid,createtxg,userrefs\np/fs\n");
	free(v);
}

/* What send takes, from `zfs` without arguments, once per command. */
static void caps_learned(void **state)
{
	char saved[128];
	struct bk_zfs_caps c;
	struct bk_error err;

	(void)state;
	snprintf(saved, sizeof(saved), "%s", getenv("ZBAK_ZFS"));
	use_command("zfs-openzfs");
	setenv("FAKE_MODE", "usage-openzfs", 1);
	assert_int_equal(bk_zfs_caps(&c, &err), BK_OK);
	expect_args("\n"); /* no arguments at all */
	assert_true(c.known);
	assert_true(bk_zfs_send_takes(&c, 'c'));
	/* learned: not asked again, whatever it would say now */
	setenv("FAKE_MODE", "usage-fuse", 1);
	assert_int_equal(bk_zfs_caps(&c, &err), BK_OK);
	assert_true(bk_zfs_send_takes(&c, 'c'));

	use_command("zfs-fuse-like");
	assert_int_equal(bk_zfs_caps(&c, &err), BK_OK);
	assert_true(c.known);
	assert_string_equal(c.send_opts, "RDp");
	assert_false(bk_zfs_send_takes(&c, 'L'));

	setenv("ZBAK_ZFS", "/nonexistent/zfs", 1);
	assert_int_equal(bk_zfs_caps(&c, &err), BK_ERR_NOTFOUND);
	setenv("ZBAK_ZFS", saved, 1);
}

static void missing_command(void **state)
{
	char saved[128];
	struct bk_error err;
	bool ex = true;

	(void)state;
	snprintf(saved, sizeof(saved), "%s", getenv("ZBAK_ZFS"));
	assert_true(bk_zfs_available());
	setenv("ZBAK_ZFS", "/nonexistent/zfs", 1);
	assert_false(bk_zfs_available());
	assert_int_equal(bk_zfs_exists("p", &ex, &err), BK_ERR_NOTFOUND);
	assert_false(ex);
	assert_non_null(strstr(err.msg, "command not found"));
	/* a name looked up in PATH */
	setenv("ZBAK_ZFS", "zbak-no-such-command-here", 1);
	assert_false(bk_zfs_available());
	setenv("ZBAK_ZFS", "sh", 1);
	assert_true(bk_zfs_available());
	unsetenv("ZBAK_ZFS");
	assert_string_equal(bk_zfs_command(), "zfs");
	setenv("ZBAK_ZFS", saved, 1);
}

static void receive_ok(void **state)
{
	struct bk_zfs_recv_opts o = { .force = true };
	struct bk_zfs_recv *rx;
	struct bk_error err;
	uint8_t *data = malloc(3u << 20);
	char *got;
	size_t len;

	(void)state;
	assert_non_null(data);
	for (size_t i = 0; i < (3u << 20); i++)
		data[i] = (uint8_t)(i * 7 + (i >> 13));
	setenv("FAKE_MODE", "cat", 1);
	assert_int_equal(bk_zfs_recv_begin("p/restored", &o, &rx, &err), BK_OK);
	for (size_t off = 0; off < (3u << 20); off += 100000) {
		size_t n = (3u << 20) - off < 100000 ? (3u << 20) - off : 100000;

		assert_int_equal(bk_zfs_recv_write(rx, data + off, n, &err),
				 BK_OK);
	}
	assert_int_equal(bk_zfs_recv_finish(rx, &err), BK_OK);
	expect_args("receive\n-F\np/restored\n");
	got = slurp("in", &len);
	assert_int_equal(len, 3u << 20);
	assert_memory_equal(got, data, len);
	free(got);
	free(data);
}

static void receive_rejected(void **state)
{
	struct sigaction sa, old;
	struct bk_zfs_recv *rx;
	struct bk_error err;
	uint8_t buf[65536];
	enum bk_code rc = BK_OK;

	(void)state;
	/* SIGPIPE at its default: it would kill the test if it came */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigaction(SIGPIPE, &sa, &old);
	memset(buf, 0x5a, sizeof(buf));
	setenv("FAKE_MODE", "reject", 1);
	assert_int_equal(bk_zfs_recv_begin("p/fs", NULL, &rx, &err), BK_OK);
	for (int i = 0; i < 400 && !rc; i++)
		rc = bk_zfs_recv_write(rx, buf, sizeof(buf), &err);
	assert_int_equal(rc, BK_ERR_IO);
	expect_args("receive\np/fs\n");
	assert_string_equal(err.msg, "zfs receive p/fs stopped reading the "
				     "stream (exit 1): cannot receive: "
				     "invalid stream");
	bk_zfs_recv_abort(rx); /* already reaped: just frees */

	/* a write larger than the pipe, half done when zfs goes away: the
	 * part written is returned and SIGPIPE raised all the same */
	{
		size_t big = 4u << 20;
		uint8_t *lot = calloc(1, big);

		assert_non_null(lot);
		assert_int_equal(bk_zfs_recv_begin("p/fs", NULL, &rx, &err),
				 BK_OK);
		rc = BK_OK;
		for (int i = 0; i < 8 && !rc; i++)
			rc = bk_zfs_recv_write(rx, lot, big, &err);
		assert_int_equal(rc, BK_ERR_IO);
		assert_non_null(strstr(err.msg, "cannot receive: invalid stream"));
		bk_zfs_recv_abort(rx);
		free(lot);
	}

	/* the same failure seen at finish */
	assert_int_equal(bk_zfs_recv_begin("p/fs", NULL, &rx, &err), BK_OK);
	assert_int_equal(bk_zfs_recv_finish(rx, &err), BK_ERR_IO);
	assert_string_equal(err.msg, "zfs receive p/fs failed (exit 1): "
				     "cannot receive: invalid stream");
	sigaction(SIGPIPE, &old, NULL);
}

static void abort_hung(void **state)
{
	struct bk_zfs_recv *rx;
	struct bk_error err;
	struct timespec t0, t1;
	char path[128];

	(void)state;
	setenv("FAKE_MODE", "hang", 1);
	snprintf(path, sizeof(path), "%s/sleeper", dir);
	unlink(path);
	assert_int_equal(bk_zfs_recv_begin("p/fs", NULL, &rx, &err), BK_OK);
	assert_int_equal(bk_zfs_recv_write(rx, "x", 1, &err), BK_OK);
	/* wait until the fake has started its own child */
	for (int i = 0; i < 500 && access(path, F_OK) != 0; i++)
		usleep(10000);
	assert_int_equal(access(path, F_OK), 0);
	usleep(50000);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	bk_zfs_recv_abort(rx);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	/* the fake sleeps 30 s, in a child of its own: the group went */
	assert_true(t1.tv_sec - t0.tv_sec < 5);
	bk_zfs_recv_abort(NULL);
}

static void stderr_bounded(void **state)
{
	struct bk_error err;

	(void)state;
	setenv("FAKE_MODE", "chatty", 1);
	assert_int_equal(bk_zfs_snapshot("p/fs@x", true, &err), BK_ERR_IO);
	expect_args("snapshot\n-r\np/fs@x\n");
	assert_true(strlen(err.msg) < BK_ERROR_MSG_MAX);
	/* the first lines (zfs says the cause first), cut with "..." */
	assert_non_null(strstr(err.msg, "zfs snapshot -r p/fs@x failed (exit 3): "
					"line 0 of noise; line 1 of noise; "));
	assert_non_null(strstr(err.msg, "..."));
	assert_null(strstr(err.msg, "the last word"));
}

static void environment(void **state)
{
	struct bk_error err;
	char *env;

	(void)state;
	setenv("ZBAK_PASSPHRASE", "correct horse", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "s3cr3t", 1);
	setenv("ZBAK_NOT_SECRET", "visible", 1);
	setenv("FAKE_MODE", "env", 1);
	assert_int_equal(bk_zfs_hold("zbak", "p/fs@a", &err), BK_OK);
	expect_args("hold\nzbak\np/fs@a\n");
	env = slurp("env", NULL);
	assert_null(strstr(env, "correct horse"));
	assert_null(strstr(env, "s3cr3t"));
	assert_non_null(strstr(env, "ZBAK_NOT_SECRET=visible"));
	free(env);
	unsetenv("ZBAK_PASSPHRASE");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	setenv("FAKE_MODE", "ok", 1);
	assert_int_equal(bk_zfs_release("zbak", "p/fs@a", &err), BK_OK);
	expect_args("release\nzbak\np/fs@a\n");
}

static void send(void **state)
{
	struct bk_zfs_send *s;
	struct bk_error err;
	char buf[64];
	ssize_t n, got = 0;
	int fd;

	(void)state;
	setenv("FAKE_MODE", "send", 1);
	assert_int_equal(bk_zfs_send_begin("p/fs@b", "@a", &s, &fd, &err),
			 BK_OK);
	while ((n = read(fd, buf + got, sizeof(buf) - (size_t)got)) > 0)
		got += n;
	assert_int_equal(got, 6);
	assert_memory_equal(buf, "STREAM", 6);
	assert_int_equal(bk_zfs_send_finish(s, &err), BK_OK);
	expect_args("send\n-i\n@a\np/fs@b\n");

	setenv("FAKE_MODE", "sendfail", 1);
	assert_int_equal(bk_zfs_send_begin("p/fs@b", NULL, &s, &fd, &err),
			 BK_OK);
	assert_int_equal(bk_zfs_send_finish(s, &err), BK_ERR_IO);
	assert_string_equal(err.msg, "zfs send p/fs@b failed (exit 1): "
				     "cannot send: no such snapshot");
	expect_args("send\np/fs@b\n");

	setenv("FAKE_MODE", "hang", 1);
	assert_int_equal(bk_zfs_send_begin("p/fs@b", NULL, &s, &fd, &err),
			 BK_OK);
	bk_zfs_send_abort(s);
}

static void datasets_and_send_flags(void **state)
{
	struct bk_zfs_send *s;
	struct bk_error err;
	const char *flags[] = { "-c", "-L", "-e", "-w" }, *bad[] = { "-R" };
	char **v = NULL;
	size_t n = 0;
	int fd;

	(void)state;
	setenv("FAKE_MODE", "datasets", 1);
	assert_int_equal(bk_zfs_list_datasets("p/fs", true, &v, &n, &err),
			 BK_OK);
	expect_args("list\n-H\n-o\nname\n-t\nfilesystem,volume\n-r\np/fs\n");
	assert_int_equal(n, 3);
	assert_string_equal(v[1], "p/fs/a b");
	bk_zfs_names_free(v, n);
	setenv("FAKE_MODE", "missing", 1);
	assert_int_equal(bk_zfs_list_datasets("p/x", false, &v, &n, &err),
			 BK_ERR_NOTFOUND);

	setenv("FAKE_MODE", "send", 1);
	assert_int_equal(bk_zfs_send_begin_flags("p/fs@b", "@a", flags, 4, &s,
						 &fd, &err),
			 BK_OK);
	{
		char buf[16];

		while (read(fd, buf, sizeof(buf)) > 0)
			;
	}
	assert_int_equal(bk_zfs_send_finish(s, &err), BK_OK);
	expect_args("send\n-c\n-L\n-e\n-w\n-i\n@a\np/fs@b\n");
	assert_int_equal(bk_zfs_send_begin_flags("p/fs@b", NULL, bad, 1, &s,
						 &fd, &err),
			 BK_ERR_USAGE);
	assert_null(s);
}

static void names_refused(void **state)
{
	struct bk_zfs_recv *rx;
	struct bk_zfs_snap *v;
	struct bk_error err;
	size_t n;
	char longname[300];

	(void)state;
	setenv("FAKE_MODE", "ok", 1);
	assert_int_equal(bk_zfs_recv_begin("-F", NULL, &rx, &err),
			 BK_ERR_USAGE);
	assert_null(rx);
	assert_int_equal(bk_zfs_recv_begin("", NULL, &rx, &err), BK_ERR_USAGE);
	assert_int_equal(bk_zfs_list_snapshots("-r", false, &v, &n, &err),
			 BK_ERR_USAGE);
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_int_equal(bk_zfs_snapshot(longname, false, &err), BK_ERR_USAGE);
	assert_int_equal(bk_zfs_snapshot("p/fs", false, &err), BK_ERR_USAGE);
	assert_int_equal(bk_zfs_hold("zbak", "p/fs", &err), BK_ERR_USAGE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parse_good),
		cmocka_unit_test(parse_bad),
		cmocka_unit_test(parse_long_name),
		cmocka_unit_test(usage_text),
		cmocka_unit_test(list_and_exists),
		cmocka_unit_test(without_createtxg),
		cmocka_unit_test(caps_learned),
		cmocka_unit_test(missing_command),
		cmocka_unit_test(receive_ok),
		cmocka_unit_test(receive_rejected),
		cmocka_unit_test(abort_hung),
		cmocka_unit_test(stderr_bounded),
		cmocka_unit_test(environment),
		cmocka_unit_test(send),
		cmocka_unit_test(datasets_and_send_flags),
		cmocka_unit_test(names_refused),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
