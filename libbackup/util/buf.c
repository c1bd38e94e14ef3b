/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backup/buf.h"

void bk_buf_init(struct bk_buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
}

void bk_buf_release(struct bk_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

void bk_buf_reset(struct bk_buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

enum bk_code bk_buf_reserve(struct bk_buf *b, size_t n, struct bk_error *err)
{
	size_t want, ncap;
	uint8_t *p;

	if (n > b->max || b->len > b->max - n)
		return bk_error_set(err, BK_ERR_LIMIT,
				    "buffer would exceed its limit of %zu bytes",
				    b->max);
	want = b->len + n + 1; /* room for the terminating NUL */
	if (want <= b->cap)
		return BK_OK;
	ncap = b->cap ? b->cap : 64;
	while (ncap < want)
		ncap = ncap > SIZE_MAX / 2 ? want : ncap * 2;
	if (ncap > b->max + 1)
		ncap = b->max + 1;
	p = realloc(b->data, ncap);
	if (!p)
		return bk_error_set(err, BK_ERR_NOMEM,
				    "cannot allocate %zu bytes", ncap);
	b->data = p;
	b->cap = ncap;
	return BK_OK;
}

enum bk_code bk_buf_append(struct bk_buf *b, const void *p, size_t n,
			   struct bk_error *err)
{
	enum bk_code rc = bk_buf_reserve(b, n, err);

	if (rc)
		return rc;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return BK_OK;
}

enum bk_code bk_buf_vprintf(struct bk_buf *b, struct bk_error *err,
			    const char *fmt, va_list ap)
{
	va_list ap2;
	int n;
	enum bk_code rc;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return bk_error_set(err, BK_ERR_INTERNAL, "bad format string");
	rc = bk_buf_reserve(b, (size_t)n, err);
	if (rc)
		return rc;
	vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return BK_OK;
}

enum bk_code bk_buf_printf(struct bk_buf *b, struct bk_error *err,
			   const char *fmt, ...)
{
	va_list ap;
	enum bk_code rc;

	va_start(ap, fmt);
	rc = bk_buf_vprintf(b, err, fmt, ap);
	va_end(ap);
	return rc;
}

enum bk_code bk_buf_json_str(struct bk_buf *b, const char *s,
			     struct bk_error *err)
{
	enum bk_code rc = bk_buf_append(b, "\"", 1, err);

	for (; !rc && *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			rc = bk_buf_printf(b, err, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			rc = bk_buf_printf(b, err, "\\u%04x", c);
		else
			rc = bk_buf_append(b, s, 1, err);
	}
	return rc ? rc : bk_buf_append(b, "\"", 1, err);
}
