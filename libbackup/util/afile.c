/* SPDX-License-Identifier: MIT */
/* Files replaced whole: a temporary name beside the target, one rename. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "backup/util.h"

#define WRITE_MAX ((size_t)1 << 30)
/* write-behind: hand each 8 MiB to writeback as soon as it is written; wait
 * for and drop a step once two newer ones are under way (24 MiB of page
 * cache in flight: enough to keep the disk busy, small enough to stay in
 * memory that was touched recently) */
#define WB_STEP ((uint64_t)8 << 20)
#define WB_LAG 2

/* prefix + 16 random hex digits: unguessable, so that no other writer
 * (another process, or a thread of this one) picks the same name. */
static int tmp_name(char *out, size_t n, const char *prefix)
{
	uint8_t r[8];
	char h[2 * sizeof(r) + 1];
	ssize_t got;
	int len;

	do
		got = getrandom(r, sizeof(r), 0);
	while (got < 0 && errno == EINTR);
	if (got != (ssize_t)sizeof(r))
		return -1;
	bk_hex(r, sizeof(r), h);
	len = snprintf(out, n, "%s%s", prefix, h);
	if (len < 0 || (size_t)len >= n) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

int bk_afile_open(struct bk_afile *f, int dfd, const char *prefix,
		  mode_t mode)
{
	f->dfd = dfd;
	f->fd = -1;
	f->tmp[0] = '\0';
	f->off = f->kicked = f->dropped = 0;
	f->nowb = false;
	/* a name already taken is a (very unlikely) clash: draw again */
	for (int tries = 0; f->fd < 0; tries++) {
		if (tmp_name(f->tmp, sizeof(f->tmp), prefix) != 0) {
			f->tmp[0] = '\0';
			return -1;
		}
		f->fd = openat(dfd, f->tmp,
			       O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
		if (f->fd < 0 && (errno != EEXIST || tries >= 8)) {
			f->tmp[0] = '\0';
			return -1;
		}
	}
	return 0;
}

int bk_afile_write(struct bk_afile *f, const void *data, size_t len)
{
	const uint8_t *p = data;

	while (len) {
		/* in pieces: one write(2) moves at most about 2 GiB */
		ssize_t n = write(f->fd, p, len < WRITE_MAX ? len : WRITE_MAX);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0) {
			errno = ENOSPC;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int bk_writeback(int fd, uint64_t off, uint64_t len, bool wait)
{
	unsigned how = SYNC_FILE_RANGE_WRITE;
	int rc;

	if (wait)
		how |= SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WAIT_AFTER;
	do
		rc = sync_file_range(fd, (off_t)off, (off_t)len, how);
	while (rc != 0 && errno == EINTR);
	if (rc == 0 && wait)
		/* written: the pages are clean and can go (advice only) */
		(void)posix_fadvise(fd, (off_t)off, (off_t)len,
				    POSIX_FADV_DONTNEED);
	if (rc != 0 && (errno == EINVAL || errno == ESPIPE ||
			errno == ENOSYS || errno == EOPNOTSUPP))
		return 1;
	return rc;
}

/* bk_writeback on f, once: a file that cannot is not asked again */
static int wb_range(struct bk_afile *f, uint64_t off, uint64_t len, bool wait)
{
	int rc;

	if (f->nowb)
		return 0;
	rc = bk_writeback(f->fd, off, len, wait);
	if (rc == 1)
		f->nowb = true;
	return rc < 0 ? -1 : 0;
}

int bk_afile_stream(struct bk_afile *f, const void *data, size_t len)
{
	if (bk_afile_write(f, data, len) != 0)
		return -1;
	f->off += len;
	while (f->off - f->kicked >= WB_STEP) {
		if (wb_range(f, f->kicked, WB_STEP, false) != 0)
			return -1;
		f->kicked += WB_STEP;
	}
	while (f->kicked - f->dropped > WB_LAG * WB_STEP) {
		if (wb_range(f, f->dropped, WB_STEP, true) != 0)
			return -1;
		f->dropped += WB_STEP;
	}
	return 0;
}

int bk_afile_close(struct bk_afile *f, bool sync)
{
	int fd = f->fd;

	if (sync && fsync(fd) != 0)
		return -1; /* abort closes it */
	f->fd = -1;
	return close(fd);
}

/* Move without ever replacing: EEXIST when name is there. */
static int move_noreplace(int dfd, const char *tmp, const char *name)
{
	if (renameat2(dfd, tmp, dfd, name, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP)
		return -1;
	/* the file system cannot do RENAME_NOREPLACE: link(2) fails with
	 * EEXIST just the same */
	if (linkat(dfd, tmp, dfd, name, 0) != 0)
		return -1;
	unlinkat(dfd, tmp, 0);
	return 0;
}

int bk_afile_commit(struct bk_afile *f, const char *name, unsigned flags)
{
	if (flags & BK_AFILE_NOREPLACE ? move_noreplace(f->dfd, f->tmp, name)
				       : renameat(f->dfd, f->tmp, f->dfd, name))
		return -1;
	f->tmp[0] = '\0';
	if ((flags & BK_AFILE_SYNC_DIR) && fsync(f->dfd) != 0)
		return -1;
	return 0;
}

void bk_afile_abort(struct bk_afile *f)
{
	int e = errno;

	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
	if (f->tmp[0])
		unlinkat(f->dfd, f->tmp, 0);
	f->tmp[0] = '\0';
	errno = e;
}
