/* SPDX-License-Identifier: MIT */
/*
 * zbak files ls|cat|extract: the files of a snapshot, read without ZFS by
 * the ZPL reader (include/backup/zpl.h).  `zbak ls` lists a repository's
 * snapshots, so the file commands are a family of their own (zbak(1),
 * "FILES").  They read a snapshot or dataset of the local pool (--pool),
 * or a repository's snapshot, whose chain is received first into a
 * temporary local pool under the cache directory (the whole chain: a map
 * to fetch only what a command reads is future work, issue 13).
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backup/buf.h"
#include "backup/lpool.h"
#include "backup/lpool_zpl.h"
#include "backup/plan.h"
#include "backup/receiver.h"
#include "backup/repo.h"
#include "backup/zpl.h"
#include "cli.h"
#include "files.h"

static const struct cmd *self(void)
{
	return find_cmd("files");
}

static int fail(enum bk_code rc, const struct bk_error *err)
{
	msg("%s", err->msg);
	return exit_for(rc);
}

/* An open file system: the reader and what it reads from. */
struct fs {
	struct bk_lpool *pool;
	struct bk_zpl *z;
	char tmp[1024]; /* a temporary pool directory to remove, or "" */
};

static int rm_one(const char *path, const struct stat *st, int flag,
		  struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void fs_close(struct fs *f)
{
	bk_zpl_close(f->z);
	bk_lpool_close(f->pool);
	if (f->tmp[0])
		nftw(f->tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	memset(f, 0, sizeof(*f));
}

/* mkdir -p (0700 for what it makes) */
static int mkdirs(const char *dir)
{
	char p[1024];

	if (snprintf(p, sizeof(p), "%s", dir) >= (int)sizeof(p))
		return -1;
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = 0;
		if (mkdir(p, 0700) && errno != EEXIST)
			return -1;
		*s = '/';
	}
	return mkdir(p, 0700) && errno != EEXIST ? -1 : 0;
}

/* Receive the streams of plan pl (from r) into rv, oldest first. */
static int fetch_chain(struct bk_repo *r, const struct bk_snapshot *all,
		       const struct bk_restore_plan *pl,
		       struct bk_receiver *rv)
{
	struct bk_restore_opts o = { 0 };
	struct bk_error err;
	enum bk_code rc;
	char nm[BK_REPO_NAME_MAX];

	for (size_t i = 0; i < pl->len; i++) {
		const struct bk_snapshot *s = &all[pl->chain[i]];
		struct bk_restore_result res;
		struct bk_receiver_result rr;

		snprintf(nm, sizeof(nm), "%s@%s", s->dataset, s->snap);
		rc = bk_receiver_begin(rv, &err);
		if (!rc)
			rc = bk_restore_sink(r, nm, bk_receiver_write, rv, &o,
					     &res, &err);
		if (!rc)
			rc = bk_receiver_finish(rv, &rr, &err);
		if (rc) {
			bk_receiver_abort(rv);
			msg("%s: %s", nm, err.msg);
			return exit_for(rc);
		}
	}
	return EXIT_OK;
}

/*
 * The chain of repository snapshot `name` into a new local pool under the
 * cache directory (f->tmp, removed by fs_close), as dataset f/d; the
 * local name of the snapshot into lname.  The restore plan decides the
 * chain, as for restore --to.
 */
static int fetch(const char *name, struct fs *f, char *lname, size_t ln)
{
	struct bk_receiver_opts ro = { .kind = BK_RECEIVER_LOCAL };
	struct bk_restore_plan pl = { 0 };
	struct bk_receiver *rv = NULL;
	struct bk_snapshot *all = NULL;
	struct bk_repo *r = NULL;
	struct bk_lpool *p = NULL;
	struct bk_error err, lerr;
	enum bk_code lrc;
	const char *at = strchr(name, '@');
	char base[900];
	size_t n = 0, cur;
	int ret;

	if (!at)
		return usage_error(self(), "a repository's snapshot is "
					   "POOL/FS@SNAP");
	if (bk_cache_dir(base, sizeof(base)) || mkdirs(base)) {
		msg("no cache directory to fetch %s into (ZBAK_CACHE_DIR)",
		    name);
		return EXIT_FAIL;
	}
	if ((ret = open_repo(&r)))
		return ret;
	lrc = bk_list(r, &all, &n, &lerr);
	if ((cur = bk_plan_find(all, n, name)) == BK_CHAIN_NONE) {
		if (lrc)
			msg("cannot list the repository: %s", lerr.msg);
		else
			msg("no snapshot %s in the repository", name);
		ret = lrc ? exit_for(lrc) : EXIT_FAIL;
		goto out;
	}
	snprintf(f->tmp, sizeof(f->tmp), "%s/files-XXXXXX", base);
	if (!mkdtemp(f->tmp)) {
		msg("mkdtemp %s: %s", f->tmp, strerror(errno));
		f->tmp[0] = 0;
		ret = EXIT_FAIL;
		goto out;
	}
	ro.pool_dir = f->tmp;
	if ((lrc = bk_lpool_open(f->tmp, true, &p, &err)) ||
	    (lrc = bk_lpool_create(p, "f", false, &err)) ||
	    (lrc = bk_receiver_open("f/d", &ro, &rv, &err)) ||
	    (lrc = bk_restore_plan(all, n, cur, NULL, 0, false, false, &pl,
				   &err))) {
		msg("%s", err.msg);
		ret = exit_for(lrc);
		goto out;
	}
	if (pl.verdict != BK_RESTORE_GO) {
		msg("the chain of %s cannot be restored (broken, or it "
		    "loops): 'zbak verify' says more",
		    name);
		ret = EXIT_VERIFY;
		goto out;
	}
	if (!g.quiet)
		fprintf(stderr, "fetching %zu stream%s of %s into a temporary "
				"local pool\n",
			pl.len, pl.len == 1 ? "" : "s", name);
	ret = fetch_chain(r, all, &pl, rv);
	snprintf(lname, ln, "f/d@%s", at + 1);
out:
	bk_receiver_close(rv);
	bk_lpool_close(p);
	bk_repo_close(r);
	bk_restore_plan_release(&pl);
	free(all);
	return ret;
}

/* Open snapshot or dataset `name` of the local pool (pool), else snapshot
 * `name` of the repository; an exit status. */
int fs_open(const char *name, bool pool, struct fs *f)
{
	struct bk_zpl_source src;
	struct bk_error err;
	enum bk_code rc;
	char lname[2 * BK_LPOOL_NAME_MAX + 8];
	int ret;

	memset(f, 0, sizeof(*f));
	if (pool) {
		ret = open_lpool(&f->pool, false);
		snprintf(lname, sizeof(lname), "%s", name);
	} else if (!(ret = fetch(name, f, lname, sizeof(lname)))) {
		rc = bk_lpool_open(f->tmp, false, &f->pool, &err);
		if (rc) {
			fs_close(f);
			return fail(rc, &err);
		}
	}
	if (ret) {
		fs_close(f);
		return ret;
	}
	if ((rc = bk_lpool_zpl_source(f->pool, lname, &src, &err)) ||
	    (rc = bk_zpl_open(&src, &f->z, &err))) {
		bk_error_prefix(&err, "%s", name);
		fs_close(f);
		return fail(rc, &err);
	}
	return EXIT_OK;
}

struct fs *fs_alloc(void)
{
	return calloc(1, sizeof(struct fs));
}

struct bk_zpl *fs_zpl(struct fs *f)
{
	return f->z;
}

/* ---- ls ---------------------------------------------------------------- */

struct lsopt {
	struct bk_zpl *z; /* for xattrs */
	bool l, json;
	size_t n; /* entries printed (JSON commas) */
	int status;
};

static char type_char(uint64_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFDIR: return 'd';
	case S_IFLNK: return 'l';
	case S_IFIFO: return 'p';
	case S_IFCHR: return 'c';
	case S_IFBLK: return 'b';
	case S_IFSOCK: return 's';
	default: return '-';
	}
}

static const char *type_name(uint64_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFDIR: return "dir";
	case S_IFLNK: return "symlink";
	case S_IFIFO: return "fifo";
	case S_IFCHR: return "char";
	case S_IFBLK: return "block";
	case S_IFSOCK: return "socket";
	case S_IFREG: return "file";
	default: return "unknown";
	}
}

/* "drwxr-xr-x", with s/S and t/T as ls(1) shows them */
static void mode_string(uint64_t m, char out[11])
{
	static const char rwx[] = "rwxrwxrwx";

	out[0] = type_char(m);
	for (int i = 0; i < 9; i++)
		out[1 + i] = m & (0400u >> i) ? rwx[i] : '-';
	if (m & 04000)
		out[3] = m & 0100 ? 's' : 'S';
	if (m & 02000)
		out[6] = m & 0010 ? 's' : 'S';
	if (m & 01000)
		out[9] = m & 0001 ? 't' : 'T';
	out[10] = 0;
}

struct jx {
	struct bk_buf *b;
	struct bk_error *err;
	enum bk_code rc;
	size_t n;
};

/* One xattr of an entry, as {"name":..,"size":..} (values stay out: a
 * listing names them, `files extract` restores them). */
static int ls_xattr_fn(void *ctx, const char *name, const uint8_t *value,
		       size_t len)
{
	struct jx *j = ctx;

	(void)value;
	j->rc = bk_buf_printf(j->b, j->err, "%s{\"name\":",
			      j->n++ ? "," : ",\"xattrs\":[");
	if (!j->rc)
		j->rc = bk_buf_json_str(j->b, name, j->err);
	if (!j->rc)
		j->rc = bk_buf_printf(j->b, j->err, ",\"size\":%zu}", len);
	return j->rc != BK_OK;
}

static int ls_json(struct lsopt *o, const char *path,
		   const struct bk_zpl_stat *st, const char *target)
{
	struct bk_buf b;
	struct bk_error err;
	enum bk_code rc;

	bk_buf_init(&b, 1u << 20);
	rc = bk_buf_printf(&b, &err, "%s{\"path\":", o->n ? ",\n" : "");
	if (!rc)
		rc = bk_buf_json_str(&b, path, &err);
	if (!rc)
		rc = bk_buf_printf(
			&b, &err,
			",\"type\":\"%s\",\"mode\":%" PRIu64 ",\"links\":%" PRIu64
			",\"uid\":%" PRIu64 ",\"gid\":%" PRIu64
			",\"size\":%" PRIu64 ",\"mtime\":%" PRId64
			",\"mtime_nsec\":%" PRIu32 ",\"object\":%" PRIu64,
			type_name(st->mode), st->mode & 07777, st->links,
			st->uid, st->gid, st->size, st->mtime.sec,
			st->mtime.nsec, st->object);
	if (!rc && target) {
		rc = bk_buf_printf(&b, &err, ",\"target\":");
		if (!rc)
			rc = bk_buf_json_str(&b, target, &err);
	}
	if (!rc) {
		struct jx j = { &b, &err, BK_OK, 0 };

		rc = bk_zpl_xattrs(o->z, st->object, ls_xattr_fn, &j, &err);
		if (!rc)
			rc = j.rc;
		if (!rc && j.n)
			rc = bk_buf_printf(&b, &err, "]");
	}
	if (!rc)
		rc = bk_buf_printf(&b, &err, "}");
	if (!rc)
		fwrite(b.data, 1, b.len, stdout);
	bk_buf_release(&b);
	if (rc) {
		msg("%s", err.msg);
		o->status = exit_for(rc);
		return 1;
	}
	return 0;
}

static int ls_visit(void *ctx, const char *path, const struct bk_zpl_stat *st,
		    const char *target)
{
	struct lsopt *o = ctx;
	char mode[11], when[32];
	time_t t = (time_t)st->mtime.sec;
	struct tm tm;

	if (o->json) {
		if (ls_json(o, path, st, target))
			return 1;
	} else if (!o->l) {
		printf("%s\n", path);
	} else {
		mode_string(st->mode, mode);
		if (!gmtime_r(&t, &tm) ||
		    !strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm))
			snprintf(when, sizeof(when), "%" PRId64, st->mtime.sec);
		printf("%s %3" PRIu64 " %5" PRIu64 " %5" PRIu64 " %10" PRIu64
		       " %s %s%s%s\n",
		       mode, st->links, st->uid, st->gid, st->size, when, path,
		       target ? " -> " : "", target ? target : "");
	}
	o->n++;
	return ferror(stdout) ? 1 : 0;
}

/* "/" + path without a trailing '/' (the form ls prints) into out. */
static int norm_path(const char *path, char *out, size_t n)
{
	size_t len;

	if (snprintf(out, n, "%s%s", path[0] == '/' ? "" : "/", path) >= (int)n)
		return -1;
	len = strlen(out);
	while (len > 1 && out[len - 1] == '/')
		out[--len] = 0;
	return 0;
}

static int files_ls(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "pool", no_argument, NULL, 'P' },
		{ "long", no_argument, NULL, 'l' },
		{ "recursive", no_argument, NULL, 'R' },
		{ NULL, 0, NULL, 0 },
	};
	struct lsopt o = { 0 };
	bool pool = false, recursive = false;
	char path[BK_ZPL_PATH_MAX + 2];
	struct bk_error err;
	struct fs f;
	enum bk_code rc;
	uint64_t obj;
	int c, ret;

	optind = 0;
	while ((c = getopt_long(argc, argv, "lR", lo, NULL)) != -1) {
		if (c == 'l')
			o.l = true;
		else if (c == 'R')
			recursive = true;
		else if (c == 'j')
			o.json = true;
		else if (c == 'P')
			pool = true;
		else
			return usage_error(self(), NULL);
	}
	if (optind != argc - 1 && optind != argc - 2)
		return usage_error(self(), "files ls takes a snapshot and a path");
	if (norm_path(optind + 1 < argc ? argv[optind + 1] : "/", path,
		      sizeof(path)))
		return usage_error(self(), "path too long");
	if ((ret = fs_open(argv[optind], pool, &f)))
		return ret;
	rc = bk_zpl_walk(f.z, path, &obj, &err);
	if (!rc && o.json)
		printf("[");
	o.z = f.z;
	if (!rc)
		rc = bk_zpl_tree(f.z, obj, path, recursive, ls_visit, &o, &err);
	if (!rc && o.json)
		printf("%s]\n", o.n ? "\n" : "");
	fs_close(&f);
	if (rc)
		return fail(rc, &err);
	if (fflush(stdout) || ferror(stdout)) {
		msg("write: %s", strerror(errno));
		return EXIT_FAIL;
	}
	return o.status;
}

/* ---- cat --------------------------------------------------------------- */

static int write_all(const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = write(STDOUT_FILENO, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			msg("write: %s", strerror(errno));
			return EXIT_FAIL;
		}
		p += w;
		n -= (size_t)w;
	}
	return EXIT_OK;
}

/* Zeros for a hole of n bytes. */
static int write_zeros(uint64_t n)
{
	static const uint8_t zeros[65536];
	int ret = EXIT_OK;

	while (!ret && n) {
		size_t k = n < sizeof(zeros) ? (size_t)n : sizeof(zeros);

		ret = write_all(zeros, k);
		n -= k;
	}
	return ret;
}

/* The file's bytes to stdout: its blocks, and zeros for its holes. */
static int cat_file(struct bk_zpl *z, const struct bk_zpl_stat *st)
{
	struct bk_error err;
	enum bk_code rc = BK_OK;
	uint64_t pos = 0, b = 0;
	uint8_t *buf;
	bool hole;
	int ret = EXIT_OK;

	if (!st->size)
		return EXIT_OK;
	if (!st->blksz || st->blksz > BK_ZPL_BLOCK_MAX) {
		msg("object %" PRIu64 ": block size %" PRIu32, st->object,
		    st->blksz);
		return EXIT_VERIFY;
	}
	if (!(buf = malloc(st->blksz))) {
		msg("out of memory");
		return EXIT_FAIL;
	}
	while (!ret && pos < st->size) {
		if ((rc = bk_zpl_next_block(z, st, pos / st->blksz, &b, &err)))
			break;
		if (b == UINT64_MAX || b >= (st->size - 1) / st->blksz + 1) {
			ret = write_zeros(st->size - pos);
			break;
		}
		if (b * st->blksz > pos)
			ret = write_zeros(b * st->blksz - pos);
		if (ret || (rc = bk_zpl_read_block(z, st, b, buf, &hole, &err)))
			break;
		pos = b * st->blksz;
		size_t n = st->size - pos < st->blksz ? st->size - pos
						      : st->blksz;
		ret = write_all(buf, n);
		pos += n;
	}
	free(buf);
	return rc ? fail(rc, &err) : ret;
}

static int files_cat(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "pool", no_argument, NULL, 'P' },
		{ NULL, 0, NULL, 0 },
	};
	struct bk_zpl_stat st;
	struct bk_error err;
	struct fs f;
	enum bk_code rc;
	bool pool = false;
	uint64_t obj;
	int c, ret;

	optind = 0;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		if (c != 'P')
			return usage_error(self(), NULL);
		pool = true;
	}
	if (optind != argc - 2)
		return usage_error(self(), "files cat takes a snapshot and a path");
	if ((ret = fs_open(argv[optind], pool, &f)))
		return ret;
	if (!(rc = bk_zpl_walk(f.z, argv[optind + 1], &obj, &err)) &&
	    !(rc = bk_zpl_stat(f.z, obj, &st, &err)) && !S_ISREG(st.mode))
		rc = bk_error_set(&err, BK_ERR_USAGE, "%s: not a regular file "
						      "(a %s)",
				  argv[optind + 1], type_name(st.mode));
	ret = rc ? fail(rc, &err) : cat_file(f.z, &st);
	fs_close(&f);
	return ret;
}

/* ---- extract ------------------------------------------------------------ */

/* The last component of path: "" for the root, and for a path that ends
 * in "." (its directory's contents go into the target, as for the root). */
static const char *last_name(const char *path, char *buf, size_t n)
{
	size_t len;
	const char *s;

	snprintf(buf, n, "%s", path);
	len = strlen(buf);
	while (len && buf[len - 1] == '/')
		buf[--len] = 0;
	s = strrchr(buf, '/');
	s = s ? s + 1 : buf;
	return strcmp(s, ".") ? s : "";
}

static int files_extract(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "pool", no_argument, NULL, 'P' },
		{ "target", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	struct bk_zpl_extract_result res;
	const char *target = NULL, *path = "/", *name;
	char nbuf[BK_ZPL_PATH_MAX + 1];
	struct bk_error err;
	struct fs f;
	enum bk_code rc;
	bool pool = false;
	uint64_t obj;
	int c, ret, fd;

	optind = 0;
	while ((c = getopt_long(argc, argv, "t:", lo, NULL)) != -1) {
		if (c == 'P')
			pool = true;
		else if (c == 't')
			target = optarg;
		else
			return usage_error(self(), NULL);
	}
	if (!target)
		return usage_error(self(), "files extract needs --target DIR");
	if (optind != argc - 1 && optind != argc - 2)
		return usage_error(self(), "files extract takes a snapshot and "
					   "a path");
	if (optind + 1 < argc)
		path = argv[optind + 1];
	if (strlen(path) > BK_ZPL_PATH_MAX)
		return usage_error(self(), "path too long");
	if (mkdir(target, 0700) && errno != EEXIST) {
		msg("mkdir %s: %s", target, strerror(errno));
		return EXIT_FAIL;
	}
	if ((fd = open(target, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		msg("open %s: %s", target, strerror(errno));
		return EXIT_FAIL;
	}
	if ((ret = fs_open(argv[optind], pool, &f))) {
		close(fd);
		return ret;
	}
	name = last_name(path, nbuf, sizeof(nbuf));
	rc = bk_zpl_walk(f.z, path, &obj, &err);
	if (!rc)
		rc = bk_zpl_extract(f.z, obj, fd, *name ? name : NULL, &res,
				    &err);
	fs_close(&f);
	close(fd);
	if (rc)
		return fail(rc, &err);
	if (!g.quiet)
		fprintf(stderr,
			"restored %" PRIu64 " files (%" PRIu64 " bytes), %" PRIu64
			" directories, %" PRIu64 " symlinks, %" PRIu64
			" hard links, %" PRIu64 " fifos into %s%s\n",
			res.files, res.bytes, res.dirs, res.symlinks,
			res.hardlinks, res.specials, target,
			res.skipped ? " (devices and sockets skipped)" : "");
	if (res.xattrs_refused)
		msg("warning: %" PRIu64 " xattrs not restored (first: %s)",
		    res.xattrs_refused, res.xattr_warning);
	return EXIT_OK;
}

int cmd_files(int argc, char **argv)
{
	if (argc < 2)
		return usage_error(self(), "files needs a subcommand");
	if (!strcmp(argv[1], "ls"))
		return files_ls(argc - 1, argv + 1);
	if (!strcmp(argv[1], "cat") || !strcmp(argv[1], "dump"))
		return files_cat(argc - 1, argv + 1);
	if (!strcmp(argv[1], "extract") || !strcmp(argv[1], "restore"))
		return files_extract(argc - 1, argv + 1);
	return usage_error(self(), "files: no subcommand %s", argv[1]);
}
