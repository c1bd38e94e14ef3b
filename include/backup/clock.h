/* SPDX-License-Identifier: MIT */
/* The wall clock, with the test hook that simulated nights use, and the
 * monotonic clock that durations and rates are measured with. */
#ifndef BACKUP_CLOCK_H
#define BACKUP_CLOCK_H

#include <stdint.h>

#include "backup/export.h"

/* Unix seconds.  In the test build only, $ZBAK_NOW when set (a test hook,
 * libbackup/util/hooks.h: snapshot names, retention, metrics and the local
 * pool's snapshot times follow it). */
BK_EXPORT uint64_t bk_now(void);

/* Seconds on CLOCK_MONOTONIC, for durations: steady across changes of the
 * wall clock, and never faked (ZBAK_NOW leaves it alone). */
BK_EXPORT double bk_mono(void);

#endif
