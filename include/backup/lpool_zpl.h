/* SPDX-License-Identifier: MIT */
/*
 * The local pool as an object source for the ZPL reader: the files of a
 * dataset or snapshot of the pool, read without ZFS (include/backup/zpl.h).
 */
#ifndef BACKUP_LPOOL_ZPL_H
#define BACKUP_LPOOL_ZPL_H

#include "backup/error.h"
#include "backup/export.h"
#include "backup/lpool.h"
#include "backup/zpl.h"

/*
 * A source over `name` (pool/fs or pool/fs@snap) of pool p, which must
 * stay open while the source is.  The state is read once; the pool's
 * gc.lock is held shared until the source closes, so that the blocks it
 * names stay.  Refused: a volume, or a raw (zfs send -w) encrypted
 * dataset, whose blocks cannot be read without its key (BK_ERR_UNSUPPORTED
 * saying so).
 */
BK_EXPORT enum bk_code bk_lpool_zpl_source(struct bk_lpool *p,
					   const char *name,
					   struct bk_zpl_source *out,
					   struct bk_error *err);

#endif
