/* SPDX-License-Identifier: MIT */
/*
 * The pool directory: lock, metadata file, state files, block files and
 * garbage collection.
 *
 *   DIR/meta             datasets and snapshots (meta.c), replaced by rename
 *   DIR/lock             flock()ed: shared to read, exclusive to change
 *   DIR/dirty            present while files may exist that meta does not
 *                        reference (a change in progress, or one killed)
 *   DIR/states/<hash>    dataset states (state.c), named by their BLAKE2b
 *   DIR/blocks/xx/<hash> payloads as they came, named by their BLAKE2b
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backup/util.h"
#include "lpool_impl.h"
#include "util/idset.h"

#define META_MAX (256u << 20)

const char *bk_lpool_default_dir(char *buf, size_t n)
{
	const char *env = getenv("ZBAK_POOL_DIR"), *xdg, *home;
	int len;

	if (env && *env)
		len = snprintf(buf, n, "%s", env);
	else if (geteuid() == 0)
		len = snprintf(buf, n, "/var/lib/zbak/pool");
	else if ((xdg = getenv("XDG_DATA_HOME")) && *xdg == '/')
		len = snprintf(buf, n, "%s/zbak/pool", xdg);
	else if ((home = getenv("HOME")) && *home)
		len = snprintf(buf, n, "%s/.local/share/zbak/pool", home);
	else
		len = snprintf(buf, n, "/tmp/zbak-pool-%u",
			       (unsigned)geteuid());
	return len > 0 && (size_t)len < n ? buf : NULL;
}

static enum bk_code io_err(struct bk_error *err, const char *what,
			   const char *dir, const char *name)
{
	int e = errno;

	return bk_error_set(err, e == ENOSPC ? BK_ERR_STORAGE : BK_ERR_IO,
			    "%s %s/%s: %s", what, dir, name, strerror(e));
}

static enum bk_code write_file_at(int dfd, const char *dirname,
				  const char *name, const void *data,
				  size_t len, bool sync, struct bk_error *err)
{
	char prefix[128];
	struct bk_afile f;
	enum bk_code rc = BK_OK;

	snprintf(prefix, sizeof(prefix), ".tmp-%s-", name);
	if (bk_afile_open(&f, dfd, prefix, 0600) != 0)
		return io_err(err, "create", dirname, prefix);
	if (bk_afile_write(&f, data, len) != 0 || bk_afile_close(&f, sync) != 0)
		rc = io_err(err, "write", dirname, f.tmp);
	else if (bk_afile_commit(&f, name, 0) != 0)
		rc = io_err(err, "rename", dirname, f.tmp);
	bk_afile_abort(&f);
	return rc;
}

/* Read a whole file (at most max bytes) into out. */
static enum bk_code read_file_at(int dfd, const char *dirname,
				 const char *name, size_t max,
				 struct bk_buf *out, struct bk_error *err)
{
	int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC);
	struct stat st;
	enum bk_code rc = BK_OK;

	bk_buf_reset(out);
	if (fd < 0) {
		if (errno == ENOENT)
			return bk_error_set(err, BK_ERR_NOTFOUND,
					    "%s/%s is missing", dirname, name);
		return io_err(err, "open", dirname, name);
	}
	if (fstat(fd, &st) != 0) {
		rc = io_err(err, "stat", dirname, name);
		goto out;
	}
	if ((uint64_t)st.st_size > max) {
		rc = bk_error_set(err, BK_ERR_LIMIT, "%s/%s is too large",
				  dirname, name);
		goto out;
	}
	if ((rc = bk_buf_reserve(out, (size_t)st.st_size, err)))
		goto out;
	while (out->len < (size_t)st.st_size) {
		ssize_t n = read(fd, out->data + out->len,
				 (size_t)st.st_size - out->len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = io_err(err, "read", dirname, name);
			goto out;
		}
		if (n == 0)
			break;
		out->len += (size_t)n;
	}
	out->data[out->len] = 0;
out:
	close(fd);
	return rc;
}

static const char META_EMPTY[] = "zbak-lpool 1\ntxg 0\n";

enum bk_code bk_lpool_open(const char *dir, bool create, struct bk_lpool **out,
			   struct bk_error *err)
{
	struct bk_lpool *p;
	enum bk_code rc;
	struct stat st;

	*out = NULL;
	if (!dir || !*dir)
		return bk_error_set(err, BK_ERR_USAGE, "no pool directory");
	if (stat(dir, &st) != 0) {
		if (errno != ENOENT)
			return bk_error_set(err, BK_ERR_IO, "%s: %s", dir,
					    strerror(errno));
		if (!create)
			return bk_error_set(err, BK_ERR_NOTFOUND,
					    "no local pool at %s (zbak pool "
					    "create NAME makes one)",
					    dir);
		/* make the parents too, as mkdir -p */
		char *d = strdup(dir);

		if (!d)
			return bk_error_set(err, BK_ERR_NOMEM, "out of memory");
		for (char *s = d + 1; *s; s++) {
			if (*s != '/')
				continue;
			*s = '\0';
			if (mkdir(d, 0755) != 0 && errno != EEXIST) {
				rc = bk_error_set(err, BK_ERR_IO,
						  "mkdir %s: %s", d,
						  strerror(errno));
				free(d);
				return rc;
			}
			*s = '/';
		}
		free(d);
		if (mkdir(dir, 0700) != 0 && errno != EEXIST)
			return bk_error_set(err, BK_ERR_IO, "mkdir %s: %s",
					    dir, strerror(errno));
	} else if (!S_ISDIR(st.st_mode)) {
		return bk_error_set(err, BK_ERR_FORMAT,
				    "%s is not a directory", dir);
	}
	p = calloc(1, sizeof(*p));
	if (!p || !(p->dir = strdup(dir))) {
		free(p);
		return bk_error_set(err, BK_ERR_NOMEM, "out of memory");
	}
	p->lockfd = -1;
	p->gcfd = -1;
	p->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (p->dirfd < 0) {
		rc = bk_error_set(err, BK_ERR_IO, "open %s: %s", dir,
				  strerror(errno));
		goto fail;
	}
	if (faccessat(p->dirfd, "meta", F_OK, 0) != 0) {
		DIR *dh;
		struct dirent *de;
		bool empty = true;

		if (!create) {
			rc = bk_error_set(err, BK_ERR_NOTFOUND,
					  "%s is not a zbak pool directory "
					  "(no meta file)",
					  dir);
			goto fail;
		}
		dh = opendir(dir);
		while (dh && (de = readdir(dh)))
			if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
			    strcmp(de->d_name, "lock") && strcmp(de->d_name, "gc.lock") &&
			    strncmp(de->d_name, ".tmp-", 5) &&
			    strcmp(de->d_name, "states") &&
			    strcmp(de->d_name, "blocks"))
				empty = false;
		if (dh)
			closedir(dh);
		if (!empty) {
			rc = bk_error_set(err, BK_ERR_FORMAT,
					  "%s is neither empty nor a zbak pool "
					  "directory: not using it",
					  dir);
			goto fail;
		}
		if ((mkdirat(p->dirfd, "states", 0700) != 0 && errno != EEXIST) ||
		    (mkdirat(p->dirfd, "blocks", 0700) != 0 && errno != EEXIST)) {
			rc = bk_error_set(err, BK_ERR_IO, "mkdir in %s: %s",
					  dir, strerror(errno));
			goto fail;
		}
		rc = write_file_at(p->dirfd, dir, "meta", META_EMPTY,
				   sizeof(META_EMPTY) - 1, true, err);
		if (rc)
			goto fail;
		fsync(p->dirfd);
	}
	p->lockfd = openat(p->dirfd, "lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (p->lockfd < 0) {
		rc = bk_error_set(err, BK_ERR_IO, "open %s/lock: %s", dir,
				  strerror(errno));
		goto fail;
	}
	p->gcfd = openat(p->dirfd, "gc.lock", O_RDWR | O_CREAT | O_CLOEXEC,
			 0600);
	if (p->gcfd < 0) {
		rc = bk_error_set(err, BK_ERR_IO, "open %s/gc.lock: %s", dir,
				  strerror(errno));
		goto fail;
	}
	*out = p;
	return BK_OK;
fail:
	bk_lpool_close(p);
	return rc;
}

void bk_lpool_close(struct bk_lpool *p)
{
	if (!p)
		return;
	lp_unlock(p);
	if (p->lockfd >= 0)
		close(p->lockfd);
	if (p->gcfd >= 0)
		close(p->gcfd);
	if (p->dirfd >= 0)
		close(p->dirfd);
	free(p->dir);
	free(p);
}

const char *bk_lpool_dir(const struct bk_lpool *p)
{
	return p->dir;
}

enum bk_code lp_lock(struct bk_lpool *p, int how, struct bk_error *err)
{
	const char *w = getenv("ZBAK_POOL_LOCK_WAIT");
	long wait_ms = (w && *w ? atol(w) : LP_LOCK_WAIT) * 1000L;
	struct timespec ts = { 0, 50 * 1000 * 1000 };

	for (long waited = 0;; waited += 50) {
		if (flock(p->lockfd, how | LOCK_NB) == 0)
			break;
		if (errno != EWOULDBLOCK && errno != EINTR)
			return bk_error_set(err, BK_ERR_IO, "lock %s/lock: %s",
					    p->dir, strerror(errno));
		if (waited >= wait_ms)
			return bk_error_set(err, BK_ERR_BUSY,
					    "the local pool %s is busy: another "
					    "zbak command holds %s/lock",
					    p->dir, p->dir);
		nanosleep(&ts, NULL);
	}
	p->locked = how;
	if (how == LOCK_EX && faccessat(p->dirfd, "dirty", F_OK, 0) == 0) {
		/* a change died half way: collect what it left */
		enum bk_code rc = lp_gc(p, err);

		if (rc) {
			lp_unlock(p);
			return rc;
		}
	}
	return BK_OK;
}

void lp_unlock(struct bk_lpool *p)
{
	if (p->locked) {
		flock(p->lockfd, LOCK_UN);
		p->locked = 0;
	}
}

enum bk_code lp_meta_load(struct bk_lpool *p, struct lp_meta *m,
			  struct bk_error *err)
{
	struct bk_buf b;
	enum bk_code rc;

	bk_buf_init(&b, META_MAX);
	rc = read_file_at(p->dirfd, p->dir, "meta", META_MAX, &b, err);
	if (!rc)
		rc = lp_meta_decode((const char *)b.data, b.len, m, err);
	if (rc == BK_ERR_FORMAT)
		bk_error_prefix(err, "%s/meta: ", p->dir);
	bk_buf_release(&b);
	return rc;
}

/*
 * A held snapshot may not go, whatever the change (destroy, rollback -r,
 * receive -F, the destroy of its dataset): compare with the metadata on
 * disk, under the exclusive lock the caller holds.
 */
static enum bk_code check_holds(struct bk_lpool *p, const struct lp_meta *m,
				struct bk_error *err)
{
	struct lp_meta old;
	enum bk_code rc = lp_meta_load(p, &old, err);

	if (rc)
		return rc;
	for (size_t i = 0; !rc && i < old.nds; i++) {
		const struct lp_ds *od = &old.ds[i];
		const struct lp_ds *nd = lp_meta_ds(m, od->name);

		for (size_t j = 0; !rc && j < od->nsnaps; j++) {
			const struct lp_snap *os = &od->snaps[j];
			const struct lp_snap *ns =
				nd ? lp_ds_snap(nd, os->name) : NULL;

			if (!os->holds[0] || (ns && ns->guid == os->guid))
				continue;
			rc = bk_error_set(err, BK_ERR_BUSY,
					  "snapshot %s@%s is held (%s): "
					  "release it first (zbak pool release "
					  "TAG %s@%s)",
					  od->name, os->name, os->holds,
					  od->name, os->name);
		}
	}
	lp_meta_free(&old);
	return rc;
}

enum bk_code lp_meta_commit(struct bk_lpool *p, const struct lp_meta *m,
			    struct bk_error *err)
{
	struct bk_buf b;
	enum bk_code rc;

	rc = check_holds(p, m, err);
	if (rc)
		return rc;
	bk_buf_init(&b, META_MAX);
	rc = lp_meta_encode(m, &b, err);
	/* every state and block file written so far reaches the disk before
	 * the metadata that refers to them */
	if (!rc && syncfs(p->dirfd) != 0)
		rc = bk_error_set(err, BK_ERR_IO, "syncfs %s: %s", p->dir,
				  strerror(errno));
	if (!rc)
		rc = write_file_at(p->dirfd, p->dir, "meta", b.data, b.len,
				   true, err);
	if (!rc && fsync(p->dirfd) != 0)
		rc = bk_error_set(err, BK_ERR_IO, "fsync %s: %s", p->dir,
				  strerror(errno));
	bk_buf_release(&b);
	return rc;
}

static void hexname(const uint8_t *h, char out[2 * BK_ID_LEN + 1])
{
	struct bk_id id;

	memcpy(id.b, h, BK_ID_LEN);
	bk_id_hex(&id, out);
}

enum bk_code lp_state_load(struct bk_lpool *p, const struct bk_id *id,
			   struct lp_state *s, struct bk_error *err)
{
	char name[8 + 2 * BK_ID_LEN + 1], hex[2 * BK_ID_LEN + 1];
	struct bk_buf b;
	struct bk_hash h;
	struct bk_id got;
	enum bk_code rc;

	bk_id_hex(id, hex);
	snprintf(name, sizeof(name), "states/%s", hex);
	bk_buf_init(&b, (size_t)LP_STATE_MAX);
	rc = read_file_at(p->dirfd, p->dir, name, (size_t)LP_STATE_MAX, &b, err);
	if (!rc) {
		bk_hash_init(&h);
		bk_hash_update(&h, b.data, b.len);
		bk_hash_final(&h, &got);
		if (memcmp(got.b, id->b, BK_ID_LEN) != 0)
			rc = bk_error_set(err, BK_ERR_CHECKSUM,
					  "%s/%s is damaged (its contents do "
					  "not match its name)",
					  p->dir, name);
	}
	if (!rc) {
		rc = lp_state_decode(b.data, b.len, s, err);
		if (rc)
			bk_error_prefix(err, "%s/%s: ", p->dir, name);
	}
	bk_buf_release(&b);
	return rc;
}

enum bk_code lp_state_store(struct bk_lpool *p, const struct lp_state *s,
			    struct bk_id *id, struct bk_error *err)
{
	char hex[2 * BK_ID_LEN + 1], dname[128];
	struct bk_buf b;
	struct bk_hash h;
	enum bk_code rc;
	int dfd;

	bk_buf_init(&b, (size_t)LP_STATE_MAX);
	rc = lp_state_encode(s, &b, err);
	if (rc)
		goto out;
	bk_hash_init(&h);
	bk_hash_update(&h, b.data, b.len);
	bk_hash_final(&h, id);
	bk_id_hex(id, hex);
	dfd = openat(p->dirfd, "states", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		rc = io_err(err, "open", p->dir, "states");
		goto out;
	}
	snprintf(dname, sizeof(dname), "%s/states", p->dir);
	if (faccessat(dfd, hex, F_OK, 0) != 0)
		rc = write_file_at(dfd, dname, hex, b.data, b.len, false, err);
	close(dfd);
out:
	bk_buf_release(&b);
	return rc;
}

enum bk_code lp_block_store(struct bk_lpool *p, const void *data, size_t len,
			    uint8_t hash[BK_ID_LEN], bool *created,
			    struct bk_error *err)
{
	char hex[2 * BK_ID_LEN + 1], sub[16], dname[4200];
	struct bk_hash h;
	struct bk_id id;
	enum bk_code rc;
	int dfd;

	bk_hash_init(&h);
	bk_hash_update(&h, data, len);
	bk_hash_final(&h, &id);
	memcpy(hash, id.b, BK_ID_LEN);
	bk_id_hex(&id, hex);
	snprintf(sub, sizeof(sub), "blocks/%.2s", hex);
	*created = false;
	if (faccessat(p->dirfd, sub, F_OK, 0) != 0 &&
	    mkdirat(p->dirfd, sub, 0700) != 0 && errno != EEXIST)
		return io_err(err, "mkdir", p->dir, sub);
	dfd = openat(p->dirfd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return io_err(err, "open", p->dir, sub);
	if (faccessat(dfd, hex + 2, F_OK, 0) == 0) {
		close(dfd);
		return BK_OK;
	}
	snprintf(dname, sizeof(dname), "%s/%s", p->dir, sub);
	rc = write_file_at(dfd, dname, hex + 2, data, len, false, err);
	close(dfd);
	if (!rc)
		*created = true;
	return rc;
}

enum bk_code lp_block_load(struct bk_lpool *p, const uint8_t hash[BK_ID_LEN],
			   size_t len, struct bk_buf *out, struct bk_error *err)
{
	char hex[2 * BK_ID_LEN + 1], name[80];
	struct bk_hash h;
	struct bk_id got;
	enum bk_code rc;

	hexname(hash, hex);
	snprintf(name, sizeof(name), "blocks/%.2s/%s", hex, hex + 2);
	rc = read_file_at(p->dirfd, p->dir, name, BK_DRR_MAX_PAYLOAD, out, err);
	if (rc)
		return rc;
	bk_hash_init(&h);
	bk_hash_update(&h, out->data, out->len);
	bk_hash_final(&h, &got);
	if (out->len != len || memcmp(got.b, hash, BK_ID_LEN) != 0)
		return bk_error_set(err, BK_ERR_CHECKSUM,
				    "%s/%s is damaged (%zu bytes, expected "
				    "%zu with that hash)",
				    p->dir, name, out->len, len);
	return BK_OK;
}

enum bk_code lp_dirty(struct bk_lpool *p, struct bk_error *err)
{
	int fd;

	if (faccessat(p->dirfd, "dirty", F_OK, 0) == 0)
		return BK_OK;
	fd = openat(p->dirfd, "dirty", O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return io_err(err, "create", p->dir, "dirty");
	close(fd);
	if (fsync(p->dirfd) != 0)
		return io_err(err, "fsync", p->dir, ".");
	return BK_OK;
}

/* ---- garbage collection ------------------------------------------------ */

static enum bk_code mark_state(struct bk_lpool *p, const struct bk_id *id,
			       struct bk_idset *states, struct bk_idset *blocks,
			       struct bk_error *err)
{
	struct lp_state s;
	enum bk_code rc;

	if (bk_idset_has(states, id->b))
		return BK_OK;
	if ((rc = bk_idset_add(states, id->b, err)))
		return rc;
	if ((rc = lp_state_load(p, id, &s, err)))
		return rc;
	for (size_t i = 0; !rc && i < s.nobjs; i++) {
		const struct lp_object *o = &s.objs[i];

		if (o->has_spill)
			rc = bk_idset_add(blocks, o->spill.hash, err);
		for (size_t j = 0; !rc && j < o->nblocks; j++)
			if (o->blocks[j].kind != LP_REDACT)
				rc = bk_idset_add(blocks, o->blocks[j].hash, err);
	}
	lp_state_free(&s);
	return rc;
}

/* Remove from directory sub every file whose name (prefix + name) is not
 * in keep, and every temporary file. */
static enum bk_code sweep(struct bk_lpool *p, const char *sub,
			  const char *prefix, const struct bk_idset *keep,
			  struct bk_error *err)
{
	int dfd = openat(p->dirfd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *dh;
	struct dirent *de;
	size_t plen = strlen(prefix);

	if (dfd < 0)
		return errno == ENOENT ? BK_OK : io_err(err, "open", p->dir, sub);
	dh = fdopendir(dfd);
	if (!dh) {
		close(dfd);
		return io_err(err, "open", p->dir, sub);
	}
	while ((de = readdir(dh))) {
		char full[2 * BK_ID_LEN + 300];
		uint8_t h[BK_ID_LEN];

		if (de->d_name[0] == '.' && strncmp(de->d_name, ".tmp-", 5))
			continue;
		snprintf(full, sizeof(full), "%s%s", prefix, de->d_name);
		if (strncmp(de->d_name, ".tmp-", 5) == 0 ||
		    strlen(de->d_name) + plen != 2 * BK_ID_LEN ||
		    !bk_unhex(full, BK_ID_LEN, h) || !bk_idset_has(keep, h))
			unlinkat(dirfd(dh), de->d_name, 0);
	}
	closedir(dh);
	return BK_OK;
}

enum bk_code lp_pin(struct bk_lpool *p, struct bk_error *err)
{
	while (flock(p->gcfd, LOCK_SH) != 0)
		if (errno != EINTR)
			return bk_error_set(err, BK_ERR_IO,
					    "lock %s/gc.lock: %s", p->dir,
					    strerror(errno));
	return BK_OK;
}

void lp_unpin(struct bk_lpool *p)
{
	flock(p->gcfd, LOCK_UN);
}

enum bk_code lp_gc(struct bk_lpool *p, struct bk_error *err)
{
	struct lp_meta m;
	struct bk_idset states = { 0 }, blocks = { 0 };
	enum bk_code rc;

	/* a send is reading blocks: leave the collection to a later change */
	if (flock(p->gcfd, LOCK_EX | LOCK_NB) != 0)
		return lp_dirty(p, err);
	rc = lp_meta_load(p, &m, err);
	if (rc) {
		flock(p->gcfd, LOCK_UN);
		return rc;
	}
	for (size_t i = 0; !rc && i < m.nds; i++) {
		rc = mark_state(p, &m.ds[i].state, &states, &blocks, err);
		for (size_t j = 0; !rc && j < m.ds[i].nsnaps; j++)
			rc = mark_state(p, &m.ds[i].snaps[j].state, &states,
					&blocks, err);
	}
	lp_meta_free(&m);
	if (!rc)
		rc = sweep(p, "states", "", &states, err);
	for (int i = 0; !rc && i < 256; i++) {
		char sub[16], pre[3];

		snprintf(sub, sizeof(sub), "blocks/%02x", i);
		snprintf(pre, sizeof(pre), "%02x", i);
		rc = sweep(p, sub, pre, &blocks, err);
	}
	/* leftovers of a metadata write */
	if (!rc) {
		DIR *dh = opendir(p->dir);
		struct dirent *de;

		while (dh && (de = readdir(dh)))
			if (strncmp(de->d_name, ".tmp-", 5) == 0)
				unlinkat(p->dirfd, de->d_name, 0);
		if (dh)
			closedir(dh);
	}
	if (!rc && unlinkat(p->dirfd, "dirty", 0) == 0)
		fsync(p->dirfd);
	flock(p->gcfd, LOCK_UN);
	bk_idset_free(&states);
	bk_idset_free(&blocks);
	return rc;
}

enum bk_code lp_split(const char *name, char *ds, size_t dsn, char *snap,
		      size_t snapn, struct bk_error *err)
{
	const char *at = strchr(name, '@');
	size_t n = at ? (size_t)(at - name) : strlen(name);

	if (n >= dsn || (at && strlen(at + 1) >= snapn))
		return bk_error_set(err, BK_ERR_USAGE, "'%s': name too long",
				    name);
	memcpy(ds, name, n);
	ds[n] = '\0';
	snprintf(snap, snapn, "%s", at ? at + 1 : "");
	return BK_OK;
}
