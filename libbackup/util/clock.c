/* SPDX-License-Identifier: MIT */
#include <time.h>

#include "backup/clock.h"
#include "util/hooks.h"

uint64_t bk_now(void)
{
	uint64_t fake;

	if (bk_hook_now(&fake))
		return fake;
	return (uint64_t)time(NULL);
}

double bk_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
