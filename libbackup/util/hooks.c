/* SPDX-License-Identifier: MIT */
/* Test hooks (hooks.h): present only in the test build. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/hooks.h"

#ifdef ZBAK_TEST_HOOKS
/* Decimal digits only; anything else is no hook. */
static bool number(const char *name, uint64_t *v)
{
	const char *s = getenv(name);
	char *end;

	if (!s || *s < '0' || *s > '9')
		return false;
	errno = 0;
	*v = strtoull(s, &end, 10);
	return errno == 0 && *end == '\0';
}

bool bk_hook_now(uint64_t *now)
{
	return number("ZBAK_NOW", now);
}

bool bk_hook_kdf_fast(void)
{
	const char *s = getenv("ZBAK_KDF_INSECURE_FAST");

	return s && strcmp(s, "1") == 0;
}

bool bk_hook_gc_margin(uint64_t *seconds)
{
	return number("ZBAK_GC_MARGIN", seconds);
}
#else
bool bk_hook_now(uint64_t *now)
{
	(void)now;
	return false;
}

bool bk_hook_kdf_fast(void)
{
	return false;
}

bool bk_hook_gc_margin(uint64_t *seconds)
{
	(void)seconds;
	return false;
}
#endif
