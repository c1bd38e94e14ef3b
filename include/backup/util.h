/* SPDX-License-Identifier: MIT */
/*
 * Small helpers that every layer, and the command line, share: hex digits,
 * dataset names, and files replaced whole.  One copy each, so that a fix
 * reaches every caller.
 */
#ifndef BACKUP_UTIL_H
#define BACKUP_UTIL_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "backup/export.h"

/* ---- hex ---------------------------------------------------------------- */

/* n bytes as 2n lower-case hex digits and a '\0' (out: 2n + 1 bytes). */
BK_EXPORT void bk_hex(const uint8_t *p, size_t n, char *out);
/* The 2n lower-case hex digits at s into n bytes: false on any other
 * character (out then partly written).  What follows the digits is the
 * caller's to check. */
BK_EXPORT bool bk_unhex(const char *s, size_t n, uint8_t *out);
/* One hex digit of either case: its value, or -1. */
BK_EXPORT int bk_hexval(char c);

/* ---- dataset names ------------------------------------------------------ */

/* Whether dataset name lies strictly below dataset of: "pool/a/b" is below
 * "pool/a"; "pool/ab", "pool/a" itself and "pool/a@s" are not. */
BK_EXPORT bool bk_dataset_below(const char *name, const char *of);

/*
 * Hand [off, off + len) of fd (len 0: to its end) to writeback; with wait,
 * wait until it is written and drop those pages from the page cache, so
 * that the memory is reused for what is written next.  Not durability
 * (no metadata, no disk cache flush: fsync or syncfs still do that).
 * 0 when done, 1 when fd or its file system cannot do it, -1 (errno set)
 * on a write error: the caller must fail on it, as a later fsync of the
 * same open file would no longer report it.
 */
BK_EXPORT int bk_writeback(int fd, uint64_t off, uint64_t len, bool wait);

/* ---- files replaced whole ----------------------------------------------- */

/*
 * A file written under a temporary name beside its final one, then moved
 * there in one rename, so that readers see the old file or the new one,
 * never a part: open, write (or write to .fd directly), close, commit;
 * abort on any failure (and always safe to call: it removes the temporary
 * file if there still is one).  Every call returns 0, or -1 with errno set.
 */
struct bk_afile {
	int dfd; /* the directory (AT_FDCWD: tmp is a path); not owned */
	int fd;  /* the temporary file, -1 once closed */
	char tmp[PATH_MAX]; /* its name relative to dfd; "" when there is none */
	/* bk_afile_stream's write-behind: bytes written, handed to writeback,
	 * dropped from the page cache; nowb when the file cannot do it */
	uint64_t off, kicked, dropped;
	bool nowb;
};

#define BK_AFILE_NOREPLACE 1u /* never replace name: EEXIST if it is there */
#define BK_AFILE_SYNC_DIR 2u  /* fsync dfd after the rename */

/* Create prefix + 16 random hex digits in dfd (O_EXCL, mode). */
BK_EXPORT int bk_afile_open(struct bk_afile *f, int dfd, const char *prefix,
			    mode_t mode);
/* All of data, across short writes and EINTR. */
BK_EXPORT int bk_afile_write(struct bk_afile *f, const void *data, size_t len);
/*
 * Like bk_afile_write, for a long file written front to back: every few
 * MiB the new pages are handed to writeback, and pages written out a few
 * steps back are dropped from the page cache.  The disk works while the
 * caller computes, the final fsync finds little left to do, and the file
 * reuses the same few MiB of page cache instead of filling fresh memory
 * (which on a VM costs a host page fault per page).  Durability is not
 * changed: close with sync as before.
 */
BK_EXPORT int bk_afile_stream(struct bk_afile *f, const void *data,
			      size_t len);
/* fsync first when sync; the descriptor is closed even on failure. */
BK_EXPORT int bk_afile_close(struct bk_afile *f, bool sync);
/* Move the closed file to name (flags: BK_AFILE_NOREPLACE, _SYNC_DIR).
 * After a failed directory fsync the file is in place already. */
BK_EXPORT int bk_afile_commit(struct bk_afile *f, const char *name,
			      unsigned flags);
/* Close and remove what is left; errno is kept. */
BK_EXPORT void bk_afile_abort(struct bk_afile *f);

#endif
