/* SPDX-License-Identifier: MIT */
/*
 * zbak debug gen-zpl: a directory tree as the send stream of a ZPL file
 * system (ZPL 4 or 5), so that tests can check tree -> stream -> zbak ->
 * the same tree where no real ZFS writes that layout (bk_gen_zpl_stream).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "backup/drr.h"
#include "backup/gen.h"
#include "backup/job.h"
#include "backup/util.h"
#include "cli.h"

#define GZ_FILE_MAX (256u << 20) /* the whole tree is held in memory */
#define GZ_DEPTH_MAX 64

static const char genzpl_help[] =
	"usage: zbak debug gen-zpl [options] DIR\n"
	"       zbak debug gen-zpl --volume [options] IMAGE\n"
	"write DIR's tree as a full send stream of a ZPL file system to stdout\n"
	"(or IMAGE's bytes as that of a volume, its size the volsize, blocks of\n"
	"zeros left out as holes, --blocksize default 8K)\n"
	"(or -o FILE): files, directories, symlinks, hard links, fifos, modes,\n"
	"owners, times and xattrs (a test tool: the whole tree is read into\n"
	"memory, and the stream is for zbak, not for zfs recv)\n"
	"  --zpl 4|5            znodes (4) or system attributes (5, default)\n"
	"  --dir-xattrs         ZPL 5: xattrs in xattr directories, not in SA\n"
	"  --name FS@SNAP       the snapshot's name (default pool/fs@zpl)\n"
	"  --blocksize B[K]     block size of large files, 512..128K (default 128K)\n"
	"  --time T             the stream's creation time (default 0)\n"
	"  --byteswap           write the other byte order\n"
	"  --volume             IMAGE is a volume's contents (a zvol)\n"
	"  -o, --output FILE    write to FILE instead of stdout\n";

struct gz {
	struct bk_gen_zpl_node *v;
	size_t n, cap;
	struct { dev_t dev; ino_t ino; size_t node; } *ino;
	size_t nino, capino;
	uint64_t bytes;
};

static void gz_free(struct gz *t)
{
	for (size_t i = 0; i < t->n; i++) {
		struct bk_gen_zpl_node *d = &t->v[i];

		free((char *)d->name);
		free((uint8_t *)d->data);
		for (size_t k = 0; k < d->nxattrs; k++) {
			free((char *)d->xattrs[k].name);
			free((uint8_t *)d->xattrs[k].value);
		}
		free((void *)d->xattrs);
	}
	free(t->v);
	free(t->ino);
}

/* The whole of path (a file or a symlink's target) into d. */
static int gz_data(struct gz *t, const char *path, const struct stat *st,
		   struct bk_gen_zpl_node *d)
{
	uint8_t *buf;
	ssize_t got = 0;
	int fd;

	if ((uint64_t)st->st_size > GZ_FILE_MAX - t->bytes) {
		msg("%s: the tree is too large for gen-zpl", path);
		return -1;
	}
	t->bytes += (uint64_t)st->st_size;
	if (!(buf = malloc(st->st_size ? (size_t)st->st_size + 1 : 1)))
		return -1;
	d->data = buf;
	d->size = (uint64_t)st->st_size;
	if (S_ISLNK(st->st_mode)) {
		got = readlink(path, (char *)buf, (size_t)st->st_size + 1);
		if (got < 0 || (off_t)got != st->st_size) {
			msg("%s: readlink: %s", path, strerror(errno));
			return -1;
		}
		return 0;
	}
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
		msg("%s: %s", path, strerror(errno));
		return -1;
	}
	for (size_t off = 0; off < d->size; off += (size_t)got) {
		got = read(fd, buf + off, d->size - off);
		if (got <= 0) {
			msg("%s: read: %s", path,
			    got ? strerror(errno) : "file shrank");
			close(fd);
			return -1;
		}
	}
	close(fd);
	return 0;
}

/* The xattrs of path (not followed) into d. */
static int gz_xattrs(const char *path, struct bk_gen_zpl_node *d)
{
	char list[65536];
	ssize_t n = llistxattr(path, list, sizeof(list));
	struct bk_gen_zpl_xattr *x;

	if (n <= 0)
		return 0; /* none, or a file system without them */
	for (ssize_t off = 0; off < n; off += (ssize_t)strlen(list + off) + 1) {
		ssize_t len = lgetxattr(path, list + off, NULL, 0);
		uint8_t *val;

		if (len < 0)
			continue;
		x = realloc((void *)d->xattrs, (d->nxattrs + 1) * sizeof(*x));
		if (!x)
			return -1;
		d->xattrs = x;
		val = malloc((size_t)len + 1);
		if (!val)
			return -1;
		len = lgetxattr(path, list + off, val, (size_t)len);
		x[d->nxattrs] = (struct bk_gen_zpl_xattr){
			strdup(list + off), val, len < 0 ? 0 : (size_t)len };
		d->nxattrs++;
	}
	return 0;
}

static int gz_walk(struct gz *t, const char *path, size_t parent,
		   const char *name, int depth);

/* The entries of directory path (node idx), sorted by name. */
static int gz_dir(struct gz *t, const char *path, size_t idx, int depth)
{
	struct dirent **ents;
	int n = scandir(path, &ents, NULL, alphasort), rc = 0;

	if (n < 0) {
		msg("%s: %s", path, strerror(errno));
		return -1;
	}
	for (int i = 0; i < n; i++) {
		char *sub;

		if (!rc && strcmp(ents[i]->d_name, ".") &&
		    strcmp(ents[i]->d_name, "..")) {
			if (asprintf(&sub, "%s/%s", path, ents[i]->d_name) < 0) {
				rc = -1;
			} else {
				rc = gz_walk(t, sub, idx, ents[i]->d_name,
					     depth + 1);
				free(sub);
			}
		}
		free(ents[i]);
	}
	free(ents);
	return rc;
}

static int gz_walk(struct gz *t, const char *path, size_t parent,
		   const char *name, int depth)
{
	struct bk_gen_zpl_node *d;
	struct stat st;
	size_t idx;

	if (depth > GZ_DEPTH_MAX || lstat(path, &st) != 0) {
		msg("%s: %s", path, depth > GZ_DEPTH_MAX ? "too deep"
							  : strerror(errno));
		return -1;
	}
	if (t->n == t->cap) {
		size_t cap = t->cap ? 2 * t->cap : 64;
		struct bk_gen_zpl_node *v = realloc(t->v, cap * sizeof(*v));

		if (!v)
			return -1;
		t->v = v;
		t->cap = cap;
	}
	idx = t->n++;
	d = &t->v[idx];
	memset(d, 0, sizeof(*d));
	d->parent = parent;
	d->name = name ? strdup(name) : NULL;
	d->link = SIZE_MAX;
	/* another name of a file met before: a hard link */
	if (!S_ISDIR(st.st_mode) && st.st_nlink > 1) {
		for (size_t i = 0; i < t->nino; i++)
			if (t->ino[i].dev == st.st_dev &&
			    t->ino[i].ino == st.st_ino) {
				d->link = t->ino[i].node;
				return 0;
			}
		if (t->nino == t->capino) {
			size_t cap = t->capino ? 2 * t->capino : 16;
			void *v = realloc(t->ino, cap * sizeof(*t->ino));

			if (!v)
				return -1;
			t->ino = v;
			t->capino = cap;
		}
		t->ino[t->nino].dev = st.st_dev;
		t->ino[t->nino].ino = st.st_ino;
		t->ino[t->nino++].node = idx;
	}
	d->mode = st.st_mode;
	d->uid = st.st_uid;
	d->gid = st.st_gid;
	d->rdev = S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ? st.st_rdev : 0;
	d->atime = st.st_atim.tv_sec, d->atime_ns = (uint32_t)st.st_atim.tv_nsec;
	d->mtime = st.st_mtim.tv_sec, d->mtime_ns = (uint32_t)st.st_mtim.tv_nsec;
	d->ctime = st.st_ctim.tv_sec, d->ctime_ns = (uint32_t)st.st_ctim.tv_nsec;
	d->crtime = d->mtime, d->crtime_ns = d->mtime_ns;
	if (gz_xattrs(path, d))
		return -1;
	if ((S_ISREG(st.st_mode) || S_ISLNK(st.st_mode)) &&
	    gz_data(t, path, &st, d))
		return -1;
	if (S_ISDIR(st.st_mode))
		return gz_dir(t, path, idx, depth);
	return 0;
}

int cmd_debug_gen_zpl(int argc, char **argv)
{
	enum { O_ZPL = 256, O_DIRX, O_NAME, O_BS, O_TIME, O_BSWAP, O_VOL };
	static const struct option longopts[] = {
		{ "zpl", required_argument, NULL, O_ZPL },
		{ "dir-xattrs", no_argument, NULL, O_DIRX },
		{ "name", required_argument, NULL, O_NAME },
		{ "blocksize", required_argument, NULL, O_BS },
		{ "time", required_argument, NULL, O_TIME },
		{ "byteswap", no_argument, NULL, O_BSWAP },
		{ "volume", no_argument, NULL, O_VOL },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const struct cmd *self = find_cmd("debug");
	struct bk_gen_zpl_opts o = { .version = 5 };
	struct bk_drr_fdbuf out = { .fd = STDOUT_FILENO };
	struct gz t = { 0 };
	struct bk_error err;
	const char *path = NULL;
	bool volume = false;
	struct stat vst = { 0 };
	uint8_t *img = NULL;
	uint64_t v;
	int c, ret = EXIT_FAIL;
	enum bk_code rc;

	bk_error_clear(&err);
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":o:h", longopts, NULL)) != -1) {
		switch (c) {
		case O_ZPL:
			if (strcmp(optarg, "4") && strcmp(optarg, "5"))
				return usage_error(self, "gen-zpl: --zpl 4 or 5");
			o.version = (unsigned)atoi(optarg);
			break;
		case O_DIRX: o.dir_xattrs = true; break;
		case O_NAME: o.snapshot = optarg; break;
		case O_BSWAP: o.byteswap = true; break;
		case O_VOL: volume = true; break;
		case O_BS:
			if (parse_size(optarg, &v) || v > (128u << 10))
				return usage_error(self, "gen-zpl: bad "
							 "--blocksize");
			o.blocksize = (uint32_t)v;
			break;
		case O_TIME:
			if (bk_parse_uint(optarg, UINT64_MAX, &o.creation_time,
					  NULL))
				return usage_error(self, "gen-zpl: bad --time");
			break;
		case 'o': path = optarg; break;
		case 'h': fputs(genzpl_help, stdout); return EXIT_OK;
		default:
			return usage_error(self, "gen-zpl: bad option '%s'",
					   argv[optind - 1]);
		}
	}
	if (optind + 1 != argc)
		return usage_error(self, "gen-zpl takes one DIR");
	if (!path && isatty(STDOUT_FILENO)) {
		msg("refusing to write a binary stream to a terminal "
		    "(redirect stdout or use -o FILE)");
		return EXIT_USAGE;
	}
	if (volume) {
		/* mapped, not read: a sparse image costs what its data costs */
		int fd;

		errno = 0;
		fd = open(argv[optind], O_RDONLY | O_CLOEXEC);
		if (fd < 0 || fstat(fd, &vst) || !S_ISREG(vst.st_mode) ||
		    (vst.st_size &&
		     (img = mmap(NULL, (size_t)vst.st_size, PROT_READ,
				 MAP_PRIVATE, fd, 0)) == MAP_FAILED)) {
			msg("gen-zpl: %s: %s", argv[optind],
			    fd < 0 || errno ? strerror(errno)
					    : "not a regular file");
			img = NULL;
			if (fd >= 0)
				close(fd);
			goto done;
		}
		close(fd);
	} else if (gz_walk(&t, argv[optind], 0, NULL, 0)) {
		goto done;
	}
	if (path && (out.fd = open(path, O_WRONLY | O_CREAT | O_TRUNC |
						 O_CLOEXEC, 0644)) < 0) {
		msg("cannot open %s: %s", path, strerror(errno));
		goto done;
	}
	if (volume)
		rc = bk_gen_zvol_stream(&o, img, (uint64_t)vst.st_size,
					bk_drr_sink_fdbuf, &out, &err);
	else
		rc = bk_gen_zpl_stream(&o, t.v, t.n, bk_drr_sink_fdbuf, &out,
				       &err);
	if (rc)
		out.len = 0;
	if (bk_drr_fdbuf_flush(&out, &err) && !rc)
		rc = err.code;
	if (path)
		close(out.fd);
	if (rc) {
		msg("gen-zpl: %s", err.msg);
		ret = exit_for(rc);
		if (path)
			unlink(path);
		goto done;
	}
	ret = EXIT_OK;
done:
	out.len = 0;
	bk_drr_fdbuf_flush(&out, &err);
	if (img)
		munmap(img, (size_t)vst.st_size);
	gz_free(&t);
	return ret;
}
