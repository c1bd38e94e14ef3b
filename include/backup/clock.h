/* SPDX-License-Identifier: MIT */
/* The wall clock, with the test hook that simulated nights use. */
#ifndef BACKUP_CLOCK_H
#define BACKUP_CLOCK_H

#include <stdint.h>

#include "backup/export.h"

/* Unix seconds: $ZBAK_NOW when set (a test hook: snapshot names,
 * retention, metrics, lock ages and the gc margin follow it), else the
 * time. */
BK_EXPORT uint64_t bk_now(void);

#endif
