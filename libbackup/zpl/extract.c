/* SPDX-License-Identifier: MIT */
/*
 * Restoring files from a dataset into a directory (bk_zpl_extract).  The
 * names come from a stream, which may be hostile: each is checked, and
 * every file is made relative to its directory's descriptor, never by a
 * path, never through a symlink (O_NOFOLLOW), so that nothing lands
 * outside the target whatever the names and the links say.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "zpl_impl.h"

struct xlink {
	uint64_t obj;
	char *rel; /* the first name restored, relative to the root fd */
};

struct xctx {
	struct bk_zpl *z;
	int rootfd;
	bool owners; /* root: chown too */
	struct bk_zpl_extract_result *res;
	struct zpl_seen seen;
	struct xlink *links;
	size_t nlinks, lcap;
	uint8_t *buf;
	char rel[BK_ZPL_PATH_MAX + 1]; /* of the entry being restored */
};

static enum bk_code sys_err(const char *what, const char *rel,
			    struct bk_error *err)
{
	return bk_error_set(err, BK_ERR_IO, "%s %s: %s", what, rel,
			    strerror(errno));
}

static void to_ts(struct timespec ts[2], const struct bk_zpl_stat *st)
{
	ts[0].tv_sec = (time_t)st->atime.sec;
	ts[0].tv_nsec = st->atime.nsec;
	ts[1].tv_sec = (time_t)st->mtime.sec;
	ts[1].tv_nsec = st->mtime.nsec;
}

static void xattr_refused(struct xctx *x, const char *name, const char *why)
{
	x->res->xattrs_refused++;
	if (!x->res->xattr_warning[0])
		snprintf(x->res->xattr_warning, sizeof(x->res->xattr_warning),
			 "%.80s: xattr %.60s: %.50s", x->rel, name, why);
}

struct xset {
	struct xctx *x;
	int fd; /* -1: a symlink or a fifo, which get none */
};

static int xattr_fn(void *ctx, const char *name, const uint8_t *value,
		    size_t len)
{
	struct xset *s = ctx;

	if (s->fd < 0)
		xattr_refused(s->x, name, "not restored on a symlink or fifo");
	else if (fsetxattr(s->fd, name, value, len, 0))
		xattr_refused(s->x, name, strerror(errno));
	else
		s->x->res->xattrs++;
	return 0;
}

/* The xattrs of st's object onto fd: what the target refuses is a
 * warning (another file system, no privilege), not a failed restore. */
static enum bk_code xattrs_fd(struct xctx *x, int fd,
			      const struct bk_zpl_stat *st,
			      struct bk_error *err)
{
	struct xset s = { x, fd };
	enum bk_code rc = bk_zpl_xattrs(x->z, st->object, xattr_fn, &s, err);

	if (rc)
		bk_error_prefix(err, "%s", x->rel);
	return rc;
}

/* Owner, then xattrs and mode (a chown clears setuid bits and
 * capabilities; a read-only mode would refuse user.* xattrs), then times
 * (setting xattrs changes ctime only). */
static enum bk_code attrs_fd(struct xctx *x, int fd,
			     const struct bk_zpl_stat *st, struct bk_error *err)
{
	struct timespec ts[2];
	enum bk_code rc;

	if (x->owners && fchown(fd, (uid_t)st->uid, (gid_t)st->gid))
		return sys_err("chown", x->rel, err);
	if ((rc = xattrs_fd(x, fd, st, err)))
		return rc;
	if (fchmod(fd, (mode_t)(st->mode & 07777)))
		return sys_err("chmod", x->rel, err);
	to_ts(ts, st);
	if (futimens(fd, ts))
		return sys_err("set times of", x->rel, err);
	return BK_OK;
}

/* The same, for a symlink or a fifo (no descriptor to hold). */
static enum bk_code attrs_at(struct xctx *x, int dirfd, const char *name,
			     const struct bk_zpl_stat *st, bool link,
			     struct bk_error *err)
{
	struct timespec ts[2];
	enum bk_code rc;

	if (x->owners && fchownat(dirfd, name, (uid_t)st->uid,
				  (gid_t)st->gid, AT_SYMLINK_NOFOLLOW))
		return sys_err("chown", x->rel, err);
	if ((rc = xattrs_fd(x, -1, st, err)))
		return rc;
	/* Linux has no mode on symlinks; a fifo we just made is no link */
	if (!link && fchmodat(dirfd, name, (mode_t)(st->mode & 07777), 0))
		return sys_err("chmod", x->rel, err);
	to_ts(ts, st);
	if (utimensat(dirfd, name, ts, AT_SYMLINK_NOFOLLOW))
		return sys_err("set times of", x->rel, err);
	return BK_OK;
}

/* Make way for name: a file or link there goes (never a directory). */
static enum bk_code make_way(struct xctx *x, int dirfd, const char *name,
			     struct bk_error *err)
{
	if (unlinkat(dirfd, name, 0) && errno != ENOENT)
		return sys_err("replace", x->rel, err);
	return BK_OK;
}

/* Open the directory holding rel (relative to the root), walking each
 * component with O_NOFOLLOW; *base: rel's last component. */
static int open_parent(struct xctx *x, const char *rel, const char **base)
{
	char comp[BK_ZPL_NAME_MAX + 1];
	const char *p = rel, *slash;
	int fd = dup(x->rootfd);

	while (fd >= 0 && (slash = strchr(p, '/'))) {
		size_t n = (size_t)(slash - p);
		int next;

		if (n > BK_ZPL_NAME_MAX) {
			close(fd);
			return -1;
		}
		memcpy(comp, p, n);
		comp[n] = 0;
		next = openat(fd, comp,
			      O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		close(fd);
		fd = next;
		p = slash + 1;
	}
	*base = p;
	return fd;
}

static struct xlink *find_link(struct xctx *x, uint64_t obj)
{
	for (size_t i = 0; i < x->nlinks; i++)
		if (x->links[i].obj == obj)
			return &x->links[i];
	return NULL;
}

static enum bk_code add_link(struct xctx *x, uint64_t obj,
			     struct bk_error *err)
{
	if (x->nlinks == x->lcap) {
		size_t cap = x->lcap ? 2 * x->lcap : 16;
		struct xlink *v = realloc(x->links, cap * sizeof(*v));

		if (!v)
			return bk_error_set(err, BK_ERR_NOMEM, "out of memory");
		x->links = v;
		x->lcap = cap;
	}
	if (!(x->links[x->nlinks].rel = strdup(x->rel)))
		return bk_error_set(err, BK_ERR_NOMEM, "out of memory");
	x->links[x->nlinks++].obj = obj;
	return BK_OK;
}

/* A second name of a file restored before: a hard link to its first. */
static enum bk_code hard_link(struct xctx *x, int dirfd, const char *name,
			      const struct xlink *l, struct bk_error *err)
{
	const char *base;
	int pfd = open_parent(x, l->rel, &base);
	enum bk_code rc = BK_OK;

	if (pfd < 0)
		return sys_err("open the directory of", l->rel, err);
	if ((rc = make_way(x, dirfd, name, err)) == BK_OK &&
	    linkat(pfd, base, dirfd, name, 0))
		rc = sys_err("link", x->rel, err);
	close(pfd);
	if (!rc)
		x->res->hardlinks++;
	return rc;
}

/* The data blocks of a file (holes skipped), then its size. */
static enum bk_code file_data(struct xctx *x, int fd,
			      const struct bk_zpl_stat *st,
			      struct bk_error *err)
{
	uint64_t b;
	enum bk_code rc;
	bool hole;

	if (st->size && (st->blksz == 0 || st->blksz > BK_ZPL_BLOCK_MAX))
		return bk_error_set(err, BK_ERR_FORMAT,
				    "%s: block size %u", x->rel, st->blksz);
	if ((rc = zpl_block_buf(x->z, st->blksz ? st->blksz : 512, &x->buf,
				err)))
		return rc;
	rc = st->size ? bk_zpl_next_block(x->z, st, 0, &b, err) : BK_OK;
	while (!rc && st->size && b != UINT64_MAX &&
	       b < (st->size - 1) / st->blksz + 1) {
		uint64_t off = b * st->blksz;
		size_t n = st->size - off < st->blksz ? st->size - off
						      : st->blksz;

		if ((rc = bk_zpl_read_block(x->z, st, b, x->buf, &hole, err)))
			break;
		if (!hole) {
			for (size_t done = 0; done < n;) {
				ssize_t w = pwrite(fd, x->buf + done, n - done,
						   (off_t)(off + done));
				if (w < 0 && errno == EINTR)
					continue;
				if (w <= 0)
					return sys_err("write", x->rel, err);
				done += (size_t)w;
			}
			x->res->bytes += n;
		}
		rc = bk_zpl_next_block(x->z, st, b + 1, &b, err);
	}
	if (!rc && ftruncate(fd, (off_t)st->size))
		rc = sys_err("truncate", x->rel, err);
	return rc;
}

static enum bk_code x_file(struct xctx *x, int dirfd, const char *name,
			   const struct bk_zpl_stat *st, struct bk_error *err)
{
	const int fl = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
	struct xlink *l = st->links > 1 ? find_link(x, st->object) : NULL;
	enum bk_code rc;
	int fd;

	if (l)
		return hard_link(x, dirfd, name, l, err);
	fd = openat(dirfd, name, fl, 0600);
	if (fd < 0 && errno == EEXIST) {
		if ((rc = make_way(x, dirfd, name, err)))
			return rc;
		fd = openat(dirfd, name, fl, 0600);
	}
	if (fd < 0)
		return sys_err("create", x->rel, err);
	rc = file_data(x, fd, st, err);
	if (!rc)
		rc = attrs_fd(x, fd, st, err);
	if (close(fd) && !rc)
		rc = sys_err("close", x->rel, err);
	if (!rc && st->links > 1)
		rc = add_link(x, st->object, err);
	if (!rc)
		x->res->files++;
	return rc;
}

static enum bk_code x_symlink(struct xctx *x, int dirfd, const char *name,
			      const struct bk_zpl_stat *st,
			      struct bk_error *err)
{
	char target[BK_ZPL_PATH_MAX + 1];
	enum bk_code rc;

	/* the target is only text: it is written, never followed */
	if ((rc = bk_zpl_readlink(x->z, st->object, target, sizeof(target),
				  err)))
		return rc;
	if (symlinkat(target, dirfd, name)) {
		if (errno != EEXIST)
			return sys_err("symlink", x->rel, err);
		if ((rc = make_way(x, dirfd, name, err)))
			return rc;
		if (symlinkat(target, dirfd, name))
			return sys_err("symlink", x->rel, err);
	}
	x->res->symlinks++;
	return attrs_at(x, dirfd, name, st, true, err);
}

static enum bk_code x_fifo(struct xctx *x, int dirfd, const char *name,
			   const struct bk_zpl_stat *st, struct bk_error *err)
{
	enum bk_code rc;

	if (mkfifoat(dirfd, name, 0600)) {
		if (errno != EEXIST)
			return sys_err("mkfifo", x->rel, err);
		if ((rc = make_way(x, dirfd, name, err)))
			return rc;
		if (mkfifoat(dirfd, name, 0600))
			return sys_err("mkfifo", x->rel, err);
	}
	x->res->specials++;
	return attrs_at(x, dirfd, name, st, false, err);
}

static enum bk_code x_contents(struct xctx *x, uint64_t dir, int fd,
			       size_t rlen, unsigned depth,
			       struct bk_error *err);

static enum bk_code x_dir(struct xctx *x, int dirfd, const char *name,
			  const struct bk_zpl_stat *st, size_t rlen,
			  unsigned depth, struct bk_error *err)
{
	enum bk_code rc;
	int fd;

	if (mkdirat(dirfd, name, 0700) && errno != EEXIST)
		return sys_err("mkdir", x->rel, err);
	/* one that was there already is used if it is a directory, and
	 * never followed if it is a symlink */
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
					  O_CLOEXEC);
	if (fd < 0)
		return sys_err("open directory", x->rel, err);
	rc = x_contents(x, st->object, fd, rlen, depth + 1, err);
	if (!rc)
		rc = attrs_fd(x, fd, st, err);
	close(fd);
	if (!rc)
		x->res->dirs++;
	return rc;
}

static enum bk_code x_entry(struct xctx *x, int dirfd, const char *name,
			    const struct bk_zpl_stat *st, size_t rlen,
			    unsigned depth, struct bk_error *err)
{
	if (!bk_zpl_name_ok(name, strlen(name)))
		return bk_error_set(err, BK_ERR_FORMAT,
				    "%s: not a name that can be restored",
				    x->rel);
	switch (st->mode & S_IFMT) {
	case S_IFREG:
		return x_file(x, dirfd, name, st, err);
	case S_IFDIR:
		return x_dir(x, dirfd, name, st, rlen, depth, err);
	case S_IFLNK:
		return x_symlink(x, dirfd, name, st, err);
	case S_IFIFO:
		return x_fifo(x, dirfd, name, st, err);
	default: /* devices, sockets: not made by a file restore */
		x->res->skipped++;
		return BK_OK;
	}
}

static enum bk_code x_contents(struct xctx *x, uint64_t dir, int fd,
			       size_t rlen, unsigned depth,
			       struct bk_error *err)
{
	struct zpl_ents e;
	struct bk_zpl_stat st;
	enum bk_code rc;

	if (depth > BK_ZPL_DEPTH_MAX)
		return bk_error_set(err, BK_ERR_FORMAT,
				    "%s: more than %u directories deep",
				    x->rel, BK_ZPL_DEPTH_MAX);
	if ((rc = zpl_seen_add(&x->seen, dir, err)) ||
	    (rc = zpl_dir_entries(x->z, dir, &e, err)))
		return rc;
	for (size_t i = 0; !rc && i < e.n; i++) {
		size_t n = strlen(e.v[i].name), at = rlen ? rlen + 1 : 0;

		if (at + n > BK_ZPL_PATH_MAX) {
			rc = bk_error_set(err, BK_ERR_FORMAT,
					  "%s: a path longer than %u bytes",
					  x->rel, BK_ZPL_PATH_MAX);
			break;
		}
		if (rlen)
			x->rel[rlen] = '/';
		memcpy(x->rel + at, e.v[i].name, n + 1);
		rc = bk_zpl_stat(x->z, e.v[i].obj, &st, err);
		if (rc)
			bk_error_prefix(err, "%s", x->rel);
		else
			rc = x_entry(x, fd, e.v[i].name, &st, at + n, depth,
				     err);
		x->rel[rlen] = 0;
	}
	zpl_ents_free(&e);
	return rc;
}

enum bk_code bk_zpl_extract(struct bk_zpl *z, uint64_t obj, int dirfd,
			    const char *name,
			    struct bk_zpl_extract_result *res,
			    struct bk_error *err)
{
	struct xctx *x = calloc(1, sizeof(*x));
	struct bk_zpl_stat st;
	enum bk_code rc;

	memset(res, 0, sizeof(*res));
	if (!x)
		return bk_error_set(err, BK_ERR_NOMEM, "out of memory");
	x->z = z;
	x->rootfd = dirfd;
	x->owners = geteuid() == 0;
	x->res = res;
	if ((rc = bk_zpl_stat(z, obj, &st, err)))
		goto out;
	if (name) {
		size_t n = strlen(name);

		if (n > BK_ZPL_NAME_MAX) {
			rc = bk_error_set(err, BK_ERR_USAGE, "name too long");
			goto out;
		}
		memcpy(x->rel, name, n + 1);
		rc = x_entry(x, dirfd, name, &st, n, 0, err);
	} else if (!S_ISDIR(st.mode)) {
		rc = bk_error_set(err, BK_ERR_USAGE,
				  "object %llu is not a directory",
				  (unsigned long long)obj);
	} else {
		strcpy(x->rel, ".");
		rc = x_contents(x, obj, dirfd, 0, 1, err);
		/* a volume's root is made up: it gives the target no mode
		 * or times of its own */
		if (!rc && !z->vol)
			rc = attrs_fd(x, dirfd, &st, err);
	}
out:
	for (size_t i = 0; i < x->nlinks; i++)
		free(x->links[i].rel);
	free(x->links);
	zpl_seen_free(&x->seen);
	free(x);
	return rc;
}
