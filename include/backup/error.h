/* SPDX-License-Identifier: MIT */
/*
 * Error codes and the caller-owned error record every fallible bk_ call fills.
 *
 * Codes are stable: append only, never renumber (they reach exit statuses and
 * the JSON output).  Messages are lower case, name their subject, and carry no
 * trailing period: "record 12 (WRITE) at byte 4096: trailer checksum mismatch".
 */
#ifndef BACKUP_ERROR_H
#define BACKUP_ERROR_H

#include <stddef.h>

#include "backup/export.h"

enum bk_code {
	BK_OK = 0,
	BK_ERR_NOMEM = 1,       /* allocation failed */
	BK_ERR_IO = 2,          /* read/write/open failed */
	BK_ERR_USAGE = 3,       /* bad arguments from the caller */
	BK_ERR_TRUNCATED = 4,   /* input ended early */
	BK_ERR_CHECKSUM = 5,    /* a checksum did not match */
	BK_ERR_FORMAT = 6,      /* bytes are not what the format allows */
	BK_ERR_RULE = 7,        /* well formed, but a receiver would reject it */
	BK_ERR_LIMIT = 8,       /* a size bound was exceeded */
	BK_ERR_UNSUPPORTED = 9, /* valid, but not something we handle */
	BK_ERR_INTERNAL = 10,   /* a bug: an invariant did not hold */
	BK_ERR_NOTFOUND = 11,   /* no such object, repository or snapshot */
	BK_ERR_AUTH = 12,       /* authentication failed: wrong key or altered data */
	BK_ERR_EXISTS = 13,     /* already there and may not be replaced */
	BK_ERR_STORAGE = 14,    /* storage unreachable or refusing */
	BK_ERR_BUSY = 15,       /* locked by another process */
	BK_ERR_MISSING = 16,    /* an object that another one needs is gone: damage */
	BK_ERR_PASSPHRASE = 17, /* the passphrase does not open the keys */
	BK_ERR_APPEND_ONLY = 18, /* a delete or overwrite in append-only mode */
	BK_ERR_RETAINED = 19,   /* under Object Lock retention: not deleted */
};

#define BK_ERROR_MSG_MAX 512

struct bk_error {
	enum bk_code code;
	char msg[BK_ERROR_MSG_MAX];
};

/* Reset to BK_OK with an empty message.  err may be NULL. */
BK_EXPORT void bk_error_clear(struct bk_error *err);

/*
 * Record an error and return its code, so callers can write
 * "return bk_error_set(err, BK_ERR_IO, "open %s: %s", path, strerror(errno));".
 * err may be NULL (the code is still returned).
 */
BK_EXPORT enum bk_code bk_error_set(struct bk_error *err, enum bk_code code,
				    const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Prepend "context: " to the message already in err (code unchanged). */
BK_EXPORT void bk_error_prefix(struct bk_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* A short, static name for a code ("checksum mismatch", ...). */
BK_EXPORT const char *bk_strerror(enum bk_code code);

#endif
