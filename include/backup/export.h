/* SPDX-License-Identifier: MIT */
#ifndef BACKUP_EXPORT_H
#define BACKUP_EXPORT_H

/* Symbols of the public API; everything else in libbackup is hidden. */
#define BK_EXPORT __attribute__((visibility("default")))

#endif
