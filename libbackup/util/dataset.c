/* SPDX-License-Identifier: MIT */
#include <string.h>

#include "backup/util.h"

bool bk_dataset_below(const char *name, const char *of)
{
	size_t n = strlen(of);

	/* the '/' right after the prefix is what keeps "pool/ab" out */
	return strncmp(name, of, n) == 0 && name[n] == '/';
}
