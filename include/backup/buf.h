/* SPDX-License-Identifier: MIT */
/*
 * Growable byte buffer with a hard maximum (after curl's dynbuf): code that
 * parses untrusted input can never be talked into unbounded allocation.
 */
#ifndef BACKUP_BUF_H
#define BACKUP_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "backup/error.h"
#include "backup/export.h"

struct bk_buf {
	uint8_t *data; /* NUL-terminated after every append (not counted in len) */
	size_t len;
	size_t cap;
	size_t max; /* len never exceeds this */
};

/* Embedded init: no allocation until the first append. */
BK_EXPORT void bk_buf_init(struct bk_buf *b, size_t max);
BK_EXPORT void bk_buf_release(struct bk_buf *b);
/* Keep the allocation, drop the contents. */
BK_EXPORT void bk_buf_reset(struct bk_buf *b);

/* Make room for n more bytes; BK_ERR_LIMIT past max, BK_ERR_NOMEM. */
BK_EXPORT enum bk_code bk_buf_reserve(struct bk_buf *b, size_t n,
				      struct bk_error *err);
BK_EXPORT enum bk_code bk_buf_append(struct bk_buf *b, const void *p,
				     size_t n, struct bk_error *err);
BK_EXPORT enum bk_code bk_buf_printf(struct bk_buf *b, struct bk_error *err,
				     const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
BK_EXPORT enum bk_code bk_buf_vprintf(struct bk_buf *b, struct bk_error *err,
				      const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));
/* Append s as a JSON string literal (quotes and escapes included). */
BK_EXPORT enum bk_code bk_buf_json_str(struct bk_buf *b, const char *s,
				       struct bk_error *err);

#endif
