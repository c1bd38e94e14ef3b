/* SPDX-License-Identifier: MIT */
/*
 * The local directory backend.  A key "a/b/c" is the file c in the
 * directory a/b under the root.  Writes go to a temporary ".tmp-<random>"
 * beside the target (0600; directories made 0700), which is fsynced,
 * renamed into place (put) or moved there with RENAME_NOREPLACE, falling
 * back to link(2), so an existing object is never replaced (put_new); then
 * the directory is fsynced.  Readers see an object whole or not at all.
 *
 * All calls work relative to one directory descriptor opened at open time
 * (openat and friends), and a later chdir() of the process changes
 * nothing.  The only mutable shared state, the unsynced objects being
 * written behind, is under a mutex: every call is thread-safe.
 *
 * Unsynced puts (packs; one syncfs makes them durable before anything
 * refers to them) are handed to writeback at once and, two such puts
 * later, waited for and dropped from the page cache: the disk writes while
 * the push computes, the syncfs finds little left to do, and the next
 * packs reuse the same memory instead of fresh pages (on a VM each fresh
 * page is a fault in the host: most of a push's system time).
 * Keys were validated by store.c and cannot leave the root.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "backup/util.h"
#include "store/store_impl.h"

#define DIR_MODE 0700
#define FILE_MODE 0600
#define IO_CHUNK ((size_t)1 << 30)
#define LIST_DEPTH_MAX 128
#define BEHIND_MAX 2 /* unsynced objects written behind, not yet settled */

struct local {
	int rootfd;
	pthread_mutex_t mu;
	int behind[BEHIND_MAX]; /* their descriptors, oldest first */
	unsigned nbehind;
};

static enum bk_code errno_code(int e)
{
	return (e == ENOENT || e == ENOTDIR) ? BK_ERR_NOTFOUND : BK_ERR_IO;
}

/* Split key into its directory part (copied to dir, "." when none) and
 * the final component. */
static const char *split_key(const char *key, char dir[BK_STORE_KEY_MAX + 1])
{
	const char *slash = strrchr(key, '/');
	size_t n;

	if (!slash) {
		dir[0] = '.';
		dir[1] = '\0';
		return key;
	}
	n = (size_t)(slash - key);
	memcpy(dir, key, n);
	dir[n] = '\0';
	return slash + 1;
}

/*
 * Open directory dir (relative to the root); when create, make missing
 * components (0700), fsyncing each parent that gained an entry when sync
 * (otherwise the syncfs that makes the unsynced objects durable does).
 */
static int open_dir(const struct local *l, char *dir, bool create, bool sync)
{
	int fd = -1, next = -1, saved;
	char *p, *slash = NULL;

	fd = openat(l->rootfd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0 || errno != ENOENT || !create)
		return fd;
	fd = openat(l->rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	for (p = dir; *p; p = slash ? slash + 1 : p + strlen(p)) {
		slash = strchr(p, '/');
		if (slash)
			*slash = '\0';
		if (mkdirat(fd, p, DIR_MODE) == 0) {
			if (sync && fsync(fd) != 0)
				goto fail;
		} else if (errno != EEXIST) {
			goto fail;
		}
		next = openat(fd, p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (next < 0)
			goto fail;
		close(fd);
		fd = next;
		next = -1;
		if (slash)
			*slash = '/';
	}
	return fd;
fail:
	saved = errno;
	if (slash)
		*slash = '/';
	close(fd);
	errno = saved;
	return -1;
}

/* Wait for fd's writeback, drop its pages, close it.  A write error is
 * left to the syncfs that must come before anything refers to the object
 * (it reports errors of the whole file system since the store opened). */
static void settle(int fd)
{
	(void)bk_writeback(fd, 0, 0, true);
	close(fd);
}

/* fd, an unsynced object just written (ours now): written behind, settled
 * once BEHIND_MAX newer ones are on their way. */
static void write_behind(struct local *l, int fd)
{
	int old = -1;

	if (bk_writeback(fd, 0, 0, false) != 0) {
		close(fd); /* cannot (or failed): the syncfs does it all */
		return;
	}
	pthread_mutex_lock(&l->mu);
	if (l->nbehind == BEHIND_MAX) {
		old = l->behind[0];
		memmove(l->behind, l->behind + 1,
			(BEHIND_MAX - 1) * sizeof(l->behind[0]));
		l->nbehind--;
	}
	l->behind[l->nbehind++] = fd;
	pthread_mutex_unlock(&l->mu);
	if (old >= 0)
		settle(old);
}

/* settle all that is still behind (before a sync, at close) */
static void settle_all(struct local *l)
{
	int fds[BEHIND_MAX];
	unsigned n;

	pthread_mutex_lock(&l->mu);
	n = l->nbehind;
	memcpy(fds, l->behind, n * sizeof(fds[0]));
	l->nbehind = 0;
	pthread_mutex_unlock(&l->mu);
	for (unsigned i = 0; i < n; i++)
		settle(fds[i]);
}

static enum bk_code local_put(void *priv, const char *key, const void *data,
			      size_t len, unsigned flags, struct bk_error *err)
{
	bool replace = flags & BK_PUT_REPLACE, sync = !(flags & BK_PUT_NOSYNC);
	struct local *l = priv;
	char dir[BK_STORE_KEY_MAX + 1];
	const char *base;
	struct bk_afile f;
	int dfd, behind = -1;
	enum bk_code rc = BK_OK;

	base = split_key(key, dir);
	dfd = open_dir(l, dir, true, sync);
	if (dfd < 0)
		return bk_error_set(err, BK_ERR_IO, "put %s: %s", key,
				    strerror(errno));
	if (bk_afile_open(&f, dfd, BK_STORE_TMP_PREFIX, FILE_MODE) != 0 ||
	    bk_afile_write(&f, data, len) != 0 ||
	    (!sync && (behind = dup(f.fd)) < 0) || bk_afile_close(&f, sync) != 0)
		rc = bk_error_set(err, BK_ERR_IO, "put %s: %s", key,
				  strerror(errno));
	else if (bk_afile_commit(&f, base,
				 (replace ? 0 : BK_AFILE_NOREPLACE) |
					 (sync ? BK_AFILE_SYNC_DIR : 0)) != 0)
		rc = !replace && errno == EEXIST
			     ? bk_error_set(err, BK_ERR_EXISTS,
					    "put %s: object already exists",
					    key)
			     : bk_error_set(err, BK_ERR_IO, "put %s: %s", key,
					    strerror(errno));
	bk_afile_abort(&f);
	close(dfd);
	if (behind >= 0 && !rc)
		write_behind(l, behind);
	else if (behind >= 0)
		close(behind);
	return rc;
}

/* One syncfs for everything written since: far cheaper than an fsync per
 * object (and the directory entries are included). */
static enum bk_code local_sync(void *priv, struct bk_error *err)
{
	struct local *l = priv;

	settle_all(l);
	if (syncfs(l->rootfd) != 0)
		return bk_error_set(err, BK_ERR_IO, "sync: %s",
				    strerror(errno));
	return BK_OK;
}

static enum bk_code local_get(void *priv, const char *key, bool whole,
			      uint64_t off, uint64_t len, struct bk_buf *out,
			      struct bk_error *err)
{
	const struct local *l = priv;
	struct stat st;
	uint64_t size, got = 0;
	uint8_t *dst;
	int fd = -1;
	enum bk_code rc = BK_OK;

	/* O_NONBLOCK: a FIFO planted in the directory must not hang us */
	fd = openat(l->rootfd, key, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		rc = errno_code(errno) == BK_ERR_NOTFOUND
			     ? bk_error_set(err, BK_ERR_NOTFOUND,
					    "get %s: no such object", key)
			     : bk_error_set(err, BK_ERR_IO, "get %s: %s", key,
					    strerror(errno));
		goto out;
	}
	if (fstat(fd, &st) != 0) {
		rc = bk_error_set(err, BK_ERR_IO, "get %s: %s", key,
				  strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = bk_error_set(err, BK_ERR_NOTFOUND,
				  "get %s: no such object (not a regular file)",
				  key);
		goto out;
	}
	size = (uint64_t)st.st_size;
	if (whole) {
		off = 0;
		len = size;
	} else if (off > size || len > size - off) {
		rc = bk_error_set(err, BK_ERR_FORMAT,
				  "get %s: range of %llu bytes at %llu is past the end of the object (%llu bytes)",
				  key, (unsigned long long)len,
				  (unsigned long long)off,
				  (unsigned long long)size);
		goto out;
	}
	if (out->len > out->max || len > out->max - out->len) {
		rc = bk_error_set(err, BK_ERR_LIMIT,
				  "get %s: %llu bytes exceed the buffer limit of %zu bytes",
				  key, (unsigned long long)len, out->max);
		goto out;
	}
	rc = bk_buf_reserve(out, (size_t)len, err);
	if (rc) {
		bk_error_prefix(err, "get %s", key);
		goto out;
	}
	dst = out->data + out->len;
	while (got < len) {
		size_t want = len - got < IO_CHUNK ? (size_t)(len - got) : IO_CHUNK;
		ssize_t n = pread(fd, dst + got, want, (off_t)(off + got));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = bk_error_set(err, BK_ERR_IO, "get %s: %s", key,
					  strerror(errno));
			goto out;
		}
		if (n == 0) {
			rc = bk_error_set(err, BK_ERR_IO,
					  "get %s: object shrank while being read",
					  key);
			goto out;
		}
		got += (uint64_t)n;
	}
	out->len += (size_t)len;
	out->data[out->len] = '\0';
out:
	if (rc && out->data)
		out->data[out->len] = '\0';
	if (fd >= 0)
		close(fd);
	return rc;
}

static enum bk_code local_head(void *priv, const char *key, uint64_t *size,
			       struct bk_error *err)
{
	const struct local *l = priv;
	struct stat st;

	if (fstatat(l->rootfd, key, &st, 0) != 0) {
		if (errno_code(errno) == BK_ERR_NOTFOUND)
			return bk_error_set(err, BK_ERR_NOTFOUND,
					    "head %s: no such object", key);
		return bk_error_set(err, BK_ERR_IO, "head %s: %s", key,
				    strerror(errno));
	}
	if (!S_ISREG(st.st_mode))
		return bk_error_set(err, BK_ERR_NOTFOUND,
				    "head %s: no such object (not a regular file)",
				    key);
	*size = (uint64_t)st.st_size;
	return BK_OK;
}

static enum bk_code local_del(void *priv, const char *key,
			      struct bk_error *err)
{
	const struct local *l = priv;

	if (unlinkat(l->rootfd, key, 0) != 0 &&
	    errno_code(errno) != BK_ERR_NOTFOUND)
		return bk_error_set(err, BK_ERR_IO, "delete %s: %s", key,
				    strerror(errno));
	return BK_OK;
}

struct walk {
	bk_store_list_fn fn;
	void *ctx;
	struct bk_error *err;
	char key[BK_STORE_KEY_MAX + 1];
};

/*
 * List directory dfd (takes ownership), whose key path is w->key[0,
 * keylen); match: the prefix names at this level must start with (NULL:
 * all).
 */
static enum bk_code walk_dir(struct walk *w, int dfd, size_t keylen,
			     const char *match, int depth)
{
	DIR *d = NULL;
	struct dirent *de;
	struct stat st;
	size_t mlen = match ? strlen(match) : 0;
	enum bk_code rc = BK_OK;

	if (depth > LIST_DEPTH_MAX) {
		rc = bk_error_set(w->err, BK_ERR_LIMIT,
				  "list %s: directories nested deeper than %d",
				  w->key, LIST_DEPTH_MAX);
		goto out;
	}
	d = fdopendir(dfd);
	if (!d) {
		rc = bk_error_set(w->err, BK_ERR_IO, "list %s: %s", w->key,
				  strerror(errno));
		goto out;
	}
	dfd = -1;
	for (;;) {
		const char *name;
		size_t nlen, klen;
		int sub;

		errno = 0;
		de = readdir(d);
		if (!de) {
			if (errno)
				rc = bk_error_set(w->err, BK_ERR_IO,
						  "list %s: %s", w->key,
						  strerror(errno));
			break;
		}
		name = de->d_name;
		nlen = strlen(name);
		/* skips ".", "..", temporaries and foreign names */
		if (!bk_store_component_ok(name, nlen))
			continue;
		if (match && strncmp(name, match, mlen) != 0)
			continue;
		klen = keylen + (keylen ? 1 : 0) + nlen;
		if (klen > BK_STORE_KEY_MAX)
			continue; /* cannot be a key */
		if (fstatat(dirfd(d), name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
			if (errno == ENOENT)
				continue; /* deleted meanwhile */
			rc = bk_error_set(w->err, BK_ERR_IO, "list %s%s%s: %s",
					  w->key, keylen ? "/" : "", name,
					  strerror(errno));
			break;
		}
		if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
			continue;
		if (keylen)
			w->key[keylen] = '/';
		memcpy(w->key + klen - nlen, name, nlen);
		w->key[klen] = '\0';
		if (S_ISREG(st.st_mode)) {
			rc = w->fn(w->ctx, w->key, (uint64_t)st.st_size, w->err);
		} else {
			sub = openat(dirfd(d), name,
				     O_RDONLY | O_DIRECTORY | O_CLOEXEC |
					     O_NOFOLLOW);
			if (sub >= 0)
				rc = walk_dir(w, sub, klen, NULL, depth + 1);
			else if (errno != ENOENT)
				rc = bk_error_set(w->err, BK_ERR_IO,
						  "list %s: %s", w->key,
						  strerror(errno));
		}
		w->key[keylen] = '\0';
		if (rc)
			break;
	}
out:
	if (d)
		closedir(d);
	if (dfd >= 0)
		close(dfd);
	return rc;
}

static enum bk_code local_list(void *priv, const char *prefix,
			       bk_store_list_fn fn, void *ctx,
			       struct bk_error *err)
{
	const struct local *l = priv;
	struct walk *w = NULL;
	const char *slash = strrchr(prefix, '/');
	size_t dlen = slash ? (size_t)(slash - prefix) : 0;
	int dfd = -1;
	enum bk_code rc = BK_OK;

	w = malloc(sizeof(*w));
	if (!w) {
		rc = bk_error_set(err, BK_ERR_NOMEM, "list %s: out of memory",
				  prefix);
		goto out;
	}
	w->fn = fn;
	w->ctx = ctx;
	w->err = err;
	memcpy(w->key, prefix, dlen);
	w->key[dlen] = '\0';
	dfd = openat(l->rootfd, dlen ? w->key : ".",
		     O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		if (errno_code(errno) != BK_ERR_NOTFOUND)
			rc = bk_error_set(err, BK_ERR_IO, "list %s: %s", prefix,
					  strerror(errno));
		goto out; /* nothing under a missing directory */
	}
	rc = walk_dir(w, dfd, dlen, slash ? slash + 1 : prefix, 0);
	dfd = -1;
out:
	if (dfd >= 0)
		close(dfd);
	free(w);
	return rc;
}

/* Remove .tmp-* files older than min_age under directory dfd (closed). */
static void cleanup_dir(int dfd, time_t cutoff, unsigned depth,
			uint64_t *removed)
{
	DIR *d = fdopendir(dfd);
	struct dirent *de;

	if (!d) {
		close(dfd);
		return;
	}
	while ((de = readdir(d))) {
		struct stat st;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW))
			continue;
		if (S_ISDIR(st.st_mode) && depth < 16) {
			int sub = openat(dirfd(d), de->d_name,
					 O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
						 O_CLOEXEC);

			if (sub >= 0)
				cleanup_dir(sub, cutoff, depth + 1, removed);
		} else if (S_ISREG(st.st_mode) &&
			   !strncmp(de->d_name, BK_STORE_TMP_PREFIX,
				    strlen(BK_STORE_TMP_PREFIX)) &&
			   st.st_mtime <= cutoff &&
			   unlinkat(dirfd(d), de->d_name, 0) == 0) {
			(*removed)++;
		}
	}
	closedir(d);
}

static enum bk_code local_cleanup(void *priv, uint64_t min_age,
				  uint64_t *removed, struct bk_error *err)
{
	const struct local *l = priv;
	int dfd = openat(l->rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (dfd < 0)
		return bk_error_set(err, BK_ERR_IO, "cleanup: %s",
				    strerror(errno));
	cleanup_dir(dfd, time(NULL) - (time_t)min_age, 0, removed);
	return BK_OK;
}

static void local_close(void *priv)
{
	struct local *l = priv;

	if (!l)
		return;
	settle_all(l);
	pthread_mutex_destroy(&l->mu);
	if (l->rootfd >= 0)
		close(l->rootfd);
	free(l);
}

static enum bk_code local_any(void *priv, char *what, size_t n,
			      struct bk_error *err)
{
	const struct local *l = priv;
	int fd = openat(l->rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;
	enum bk_code rc = BK_OK;

	if (!d) {
		rc = bk_error_set(err, BK_ERR_IO, "list the directory: %s",
				  strerror(errno));
		if (fd >= 0)
			close(fd);
		return rc;
	}
	for (;;) {
		errno = 0;
		de = readdir(d);
		if (!de) {
			if (errno)
				rc = bk_error_set(err, BK_ERR_IO,
						  "list the directory: %s",
						  strerror(errno));
			break;
		}
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			snprintf(what, n, "%s", de->d_name);
			break;
		}
	}
	closedir(d);
	return rc;
}

static const struct bk_store_ops local_ops = {
	.close = local_close,
	.put = local_put,
	.sync = local_sync,
	.get = local_get,
	.head = local_head,
	.del = local_del,
	.list = local_list,
	.cleanup = local_cleanup,
	.any = local_any,
};

/* mkdir -p path, 0700 for what it makes. */
static int mkdir_p(const char *path)
{
	char *copy = strdup(path);
	int rc = -1, saved;

	if (!copy)
		goto out;
	for (char *p = copy + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(copy, DIR_MODE) != 0 && errno != EEXIST)
			goto out;
		*p = '/';
	}
	if (mkdir(copy, DIR_MODE) != 0 && errno != EEXIST)
		goto out;
	rc = 0;
out:
	saved = errno;
	free(copy);
	errno = saved;
	return rc;
}

enum bk_code bk_store_local_open(const char *path, bool create,
				 struct bk_store *s, struct bk_error *err)
{
	struct local *l = NULL;
	char *real = NULL, *desc = NULL;
	size_t dlen;
	enum bk_code rc = BK_OK;

	if (!path || !path[0]) {
		rc = bk_error_set(err, BK_ERR_USAGE,
				  "repository directory missing");
		goto out;
	}
	l = malloc(sizeof(*l));
	if (!l) {
		rc = bk_error_set(err, BK_ERR_NOMEM, "cannot allocate a store");
		goto out;
	}
	l->rootfd = -1;
	pthread_mutex_init(&l->mu, NULL);
	l->nbehind = 0;
	if (create && mkdir_p(path) != 0) {
		rc = bk_error_set(err, BK_ERR_IO, "create directory %s: %s",
				  path, strerror(errno));
		goto out;
	}
	l->rootfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (l->rootfd < 0) {
		if (errno == ENOENT)
			rc = bk_error_set(err, BK_ERR_NOTFOUND,
					  "directory %s does not exist", path);
		else
			rc = bk_error_set(err, BK_ERR_IO, "directory %s: %s",
					  path, strerror(errno));
		goto out;
	}
	real = realpath(path, NULL);
	dlen = strlen(real ? real : path) + sizeof("directory ");
	desc = malloc(dlen);
	if (!desc) {
		rc = bk_error_set(err, BK_ERR_NOMEM, "cannot allocate a store");
		goto out;
	}
	snprintf(desc, dlen, "directory %s", real ? real : path);
	s->ops = &local_ops;
	s->priv = l;
	s->desc = desc;
	l = NULL;
	desc = NULL;
out:
	local_close(l);
	free(desc);
	free(real);
	return rc;
}
