/* SPDX-License-Identifier: MIT */
/*
 * The files of a repository's snapshot, read in place: an object source of
 * the ZPL reader (include/backup/zpl.h) that fetches only what it reads.
 * Its map (the objects and their blocks, include/backup/lpool_zpl.h) is
 * built from the recipes of the snapshot's chain, oldest first, and kept
 * in the cache directory, sealed, under a name made of the manifests of
 * the whole chain; a block is read by fetching the chunks that hold its
 * payload, those of one pack with one ranged read.  docs/zpl.md, "Maps".
 */
#ifndef BACKUP_REPO_ZPL_H
#define BACKUP_REPO_ZPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backup/error.h"
#include "backup/export.h"
#include "backup/repo.h"
#include "backup/zpl.h"

struct bk_repo_zpl_info {
	size_t streams;        /* in the chain */
	bool cached;           /* the map came from the cache */
	bool rebuilt;          /* a cached map was refused (its reason in
				* why) and built again */
	char why[512];
	uint64_t recipe_bytes; /* of recipes walked (0 when cached) */
	uint64_t map_bytes;    /* the cached map's plaintext */
	uint64_t stream_bytes; /* of the chain's streams */
	uint64_t objects, blocks;
};

/*
 * Open snapshot `name` (pool/fs@snap) of r, which must stay open until
 * the source closes.  info may be NULL.  no_cache: neither read nor write
 * the cached map.
 */
BK_EXPORT enum bk_code bk_repo_zpl_source(struct bk_repo *r, const char *name,
					  bool no_cache,
					  struct bk_zpl_source *out,
					  struct bk_repo_zpl_info *info,
					  struct bk_error *err);
/* The same, opened by the reader (bk_zpl_open). */
BK_EXPORT enum bk_code bk_repo_zpl_open(struct bk_repo *r, const char *name,
					bool no_cache, struct bk_zpl **out,
					struct bk_repo_zpl_info *info,
					struct bk_error *err);

#endif
