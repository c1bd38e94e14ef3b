/* SPDX-License-Identifier: MIT */
#include "backup/util.h"

void bk_hex(const uint8_t *p, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

int bk_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Lower case only: the names zbak writes have one spelling each.  Each
 * digit is looked at before the next, so a string that ends early is never
 * read past its '\0'. */
static int lower_hexval(char c)
{
	return c >= 'A' && c <= 'F' ? -1 : bk_hexval(c);
}

bool bk_unhex(const char *s, size_t n, uint8_t *out)
{
	for (size_t i = 0; i < n; i++) {
		int hi = lower_hexval(s[2 * i]), lo;

		if (hi < 0 || (lo = lower_hexval(s[2 * i + 1])) < 0)
			return false;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return true;
}
