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

/* Lower case only: the names zbak writes have one spelling each. */
bool bk_unhex(const char *s, size_t n, uint8_t *out)
{
	for (size_t i = 0; i < n; i++) {
		char hi = s[2 * i], lo = s[2 * i + 1];

		if ((hi >= 'A' && hi <= 'F') || (lo >= 'A' && lo <= 'F') ||
		    bk_hexval(hi) < 0 || bk_hexval(lo) < 0)
			return false;
		out[i] = (uint8_t)(bk_hexval(hi) << 4 | bk_hexval(lo));
	}
	return true;
}
