/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "backup/error.h"

void bk_error_clear(struct bk_error *err)
{
	if (!err)
		return;
	err->code = BK_OK;
	err->msg[0] = '\0';
}

enum bk_code bk_error_set(struct bk_error *err, enum bk_code code,
			  const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return code;
	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return code;
}

void bk_error_prefix(struct bk_error *err, const char *fmt, ...)
{
	char old[BK_ERROR_MSG_MAX];
	size_t n, m;
	va_list ap;

	if (!err)
		return;
	memcpy(old, err->msg, sizeof(old));
	old[sizeof(old) - 1] = '\0';
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	n = strlen(err->msg);
	m = strlen(old);
	if (m == 0 || n + 2 >= sizeof(err->msg))
		return;
	/* append ": old", cut to fit */
	err->msg[n++] = ':';
	err->msg[n++] = ' ';
	if (m > sizeof(err->msg) - 1 - n)
		m = sizeof(err->msg) - 1 - n;
	memcpy(err->msg + n, old, m);
	err->msg[n + m] = '\0';
}

const char *bk_strerror(enum bk_code code)
{
	switch (code) {
	case BK_OK: return "success";
	case BK_ERR_NOMEM: return "out of memory";
	case BK_ERR_IO: return "input/output error";
	case BK_ERR_USAGE: return "invalid usage";
	case BK_ERR_TRUNCATED: return "truncated input";
	case BK_ERR_CHECKSUM: return "checksum mismatch";
	case BK_ERR_FORMAT: return "malformed input";
	case BK_ERR_RULE: return "rejected by receiver rules";
	case BK_ERR_LIMIT: return "size limit exceeded";
	case BK_ERR_UNSUPPORTED: return "unsupported";
	case BK_ERR_INTERNAL: return "internal error";
	case BK_ERR_NOTFOUND: return "not found";
	case BK_ERR_AUTH: return "authentication failed";
	case BK_ERR_EXISTS: return "already exists";
	case BK_ERR_STORAGE: return "storage unavailable";
	case BK_ERR_BUSY: return "busy";
	case BK_ERR_MISSING: return "missing object";
	case BK_ERR_PASSPHRASE: return "wrong passphrase";
	case BK_ERR_APPEND_ONLY: return "refused: append-only";
	case BK_ERR_RETAINED: return "under retention";
	}
	return "unknown error";
}
