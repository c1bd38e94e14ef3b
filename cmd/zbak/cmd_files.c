/* SPDX-License-Identifier: MIT */
/*
 * zbak files ls|cat|extract: the files of a snapshot, read without ZFS by
 * the ZPL reader (include/backup/zpl.h).  `zbak ls` lists a repository's
 * snapshots, so the file commands are a family of their own (zbak(1),
 * "FILES").  They read a snapshot or dataset of the local pool (--pool),
 * or a repository's snapshot, read in place: a map of its objects from
 * the recipes of its chain (cached), then only the chunks of the blocks
 * a command reads (include/backup/repo_zpl.h, docs/zpl.md "Maps").
 */
#include <errno.h>
#include <fcntl.h>
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
#include "backup/repo.h"
#include "backup/repo_zpl.h"
#include "backup/snapread.h"
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
	struct bk_lpool *pool; /* --pool */
	struct bk_repo *repo;  /* a repository's snapshot, read in place */
	struct bk_zpl *z;
};

/* --stats and --no-cache, of every subcommand (fs_open reads them). */
static bool opt_stats, opt_no_cache;
static struct bk_repo_zpl_info info;

void fs_close(struct fs *f)
{
	bk_zpl_close(f->z);
	bk_lpool_close(f->pool);
	if (f->repo && opt_stats) {
		uint64_t reads, bytes;

		bk_repo_store_counters(f->repo, &reads, &bytes);
		fprintf(stderr,
			"stats: %" PRIu64 " store reads, %" PRIu64
			" bytes fetched; map %s (%zu stream%s, %" PRIu64
			" stream bytes, %" PRIu64 " recipe bytes read, %" PRIu64
			" map bytes, %" PRIu64 " objects, %" PRIu64
			" blocks)%s%s\n",
			reads, bytes, info.cached ? "from the cache" : "built",
			info.streams, info.streams == 1 ? "" : "s",
			info.stream_bytes, info.recipe_bytes, info.map_bytes,
			info.objects, info.blocks,
			info.rebuilt ? "; cached map refused: " : "",
			info.rebuilt ? info.why : "");
	}
	bk_repo_close(f->repo);
	memset(f, 0, sizeof(*f));
}

/*
 * A volume's one file takes the volume's name (pool/vol@snap: "vol"), as
 * ls shows it and extract writes it.  An exit status.
 */
static int name_volume(struct fs *f, const char *name)
{
	struct bk_error err;
	enum bk_code rc;
	char buf[256];
	size_t n = strcspn(name, "@");
	const char *s;

	if (!bk_zpl_is_volume(f->z, NULL))
		return EXIT_OK;
	snprintf(buf, sizeof(buf), "%.*s", (int)n, name);
	s = strrchr(buf, '/');
	if ((rc = bk_zpl_volume_name(f->z, s ? s + 1 : buf, &err))) {
		fs_close(f);
		return fail(rc, &err);
	}
	return EXIT_OK;
}

/*
 * Open snapshot or dataset `name` of the local pool (pool), else snapshot
 * `name` of the repository, read in place: its map (from the cache, or
 * built from the chain's recipes) and then only the chunks of the blocks
 * read (include/backup/repo_zpl.h).  An exit status.
 */
int fs_open(const char *name, bool pool, struct fs *f)
{
	struct bk_zpl_source src;
	struct bk_error err;
	enum bk_code rc;
	int ret;

	memset(f, 0, sizeof(*f));
	if (!pool) {
		if (!strchr(name, '@'))
			return usage_error(self(), "a repository's snapshot "
						   "is POOL/FS@SNAP");
		if ((ret = open_repo(&f->repo)))
			return ret;
		rc = bk_repo_zpl_open(f->repo, name, opt_no_cache, &f->z, &info,
				      &err);
		if (rc) {
			bk_error_prefix(&err, "%s", name);
			fs_close(f);
			return fail(rc, &err);
		}
		if (info.rebuilt && !g.quiet)
			msg("the cached map of %s was refused and built "
			    "again: %s",
			    name, info.why);
		return name_volume(f, name);
	}
	if ((ret = open_lpool(&f->pool, false))) {
		fs_close(f);
		return ret;
	}
	if ((rc = bk_lpool_zpl_source(f->pool, name, &src, &err)) ||
	    (rc = bk_zpl_open(&src, &f->z, &err))) {
		bk_error_prefix(&err, "%s", name);
		fs_close(f);
		return fail(rc, &err);
	}
	return name_volume(f, name);
}

struct fs *fs_alloc(void)
{
	return calloc(1, sizeof(struct fs));
}

struct bk_zpl *fs_zpl(struct fs *f)
{
	return f->z;
}

/* --stats, --no-cache: taken (true) or not one of them. */
static bool common_opt(int c)
{
	if (c == 'S')
		opt_stats = true;
	else if (c == 'N')
		opt_no_cache = true;
	else
		return false;
	return true;
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
		{ "stats", no_argument, NULL, 'S' },
		{ "no-cache", no_argument, NULL, 'N' },
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
		else if (!common_opt(c))
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
		{ "stats", no_argument, NULL, 'S' },
		{ "no-cache", no_argument, NULL, 'N' },
		{ NULL, 0, NULL, 0 },
	};
	struct bk_zpl_stat st;
	struct bk_error err;
	struct fs f;
	enum bk_code rc;
	bool pool = false;
	const char *path;
	uint64_t obj;
	int c, ret;

	optind = 0;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		if (c == 'P')
			pool = true;
		else if (!common_opt(c))
			return usage_error(self(), NULL);
	}
	if (optind != argc - 2 && optind != argc - 1)
		return usage_error(self(), "files cat takes a snapshot and a path");
	path = optind + 1 < argc ? argv[optind + 1] : NULL;
	if ((ret = fs_open(argv[optind], pool, &f)))
		return ret;
	/* a volume is one file: no path, or its root, means that file */
	if (bk_zpl_is_volume(f.z, NULL)) {
		rc = path ? bk_zpl_walk(f.z, path, &obj, &err) : BK_OK;
		if (!rc && (!path || obj == bk_zpl_root(f.z)))
			obj = BK_ZPL_ZVOL_OBJ;
	} else if (!path) {
		fs_close(&f);
		return usage_error(self(), "files cat takes a snapshot and a "
					   "path (a volume alone needs none)");
	} else {
		rc = bk_zpl_walk(f.z, path, &obj, &err);
	}
	if (!rc && !(rc = bk_zpl_stat(f.z, obj, &st, &err)) &&
	    !S_ISREG(st.mode))
		rc = bk_error_set(&err, BK_ERR_USAGE, "%s: not a regular file "
						      "(a %s)",
				  path, type_name(st.mode));
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
		{ "stats", no_argument, NULL, 'S' },
		{ "no-cache", no_argument, NULL, 'N' },
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
		else if (!common_opt(c))
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
