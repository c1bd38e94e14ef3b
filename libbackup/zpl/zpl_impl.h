/* SPDX-License-Identifier: MIT */
/* Internals of the ZPL reader (include/backup/zpl.h). */
#ifndef ZPL_IMPL_H
#define ZPL_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backup/zpl.h"

struct bk_zpl {
	struct bk_zpl_source src;
	uint64_t version, root;
	uint8_t *blk; /* one block, BK_ZPL_BLOCK_MAX at most */
	size_t blkcap;
	struct bk_sa_registry *sa; /* ZPL 5: from SA_ATTRS; else NULL */
	uint8_t *spill;            /* BK_SA_SPILL_MAX, when one is read */
	bool vol;                  /* a volume: one file (zvol.c) */
	uint64_t volsize;
	char volname[256];
};

/* Integers of the dataset's byte order (ZAP headers, znodes): the
 * receiver kept payloads as they came, never byte-swapped. */
static inline uint64_t zpl_get(const uint8_t *p, unsigned n, bool be)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < n; i++)
		v |= (uint64_t)p[be ? n - 1 - i : i] << (8 * i);
	return v;
}

static inline uint64_t zpl_u64(const uint8_t *p, bool be)
{
	return zpl_get(p, 8, be);
}

static inline uint32_t zpl_u32(const uint8_t *p, bool be)
{
	return (uint32_t)zpl_get(p, 4, be);
}

static inline uint16_t zpl_u16(const uint8_t *p, bool be)
{
	return (uint16_t)zpl_get(p, 2, be);
}

/* The block buffer of z, grown to len (bounded by BK_ZPL_BLOCK_MAX). */
enum bk_code zpl_block_buf(struct bk_zpl *z, size_t len, uint8_t **out,
			   struct bk_error *err);

/* The registry and layouts of SA master object master into z->sa (sa.c). */
enum bk_code zpl_sa_load(struct bk_zpl *z, uint64_t master,
			 struct bk_error *err);
/* The ZPL attributes of object obj (bonus type SA, dnode o): its bonus,
 * then its spill block.  Values point into o's bonus and z->spill. */
enum bk_code zpl_sa_values(struct bk_zpl *z, uint64_t obj,
			   const struct bk_zpl_object *o,
			   struct bk_sa_values *vals, struct bk_error *err);

/* A volume (object 1 is DMU_OT_ZVOL): its size and a root of one file,
 * and that root's and file's stat and entries (zvol.c). */
enum bk_code zpl_vol_open(struct bk_zpl *z, struct bk_error *err);
enum bk_code zpl_vol_stat(struct bk_zpl *z, uint64_t obj,
			  struct bk_zpl_stat *st, struct bk_error *err);
enum bk_code zpl_vol_readdir(struct bk_zpl *z, uint64_t dir,
			     bk_zpl_dirent_fn fn, void *ctx,
			     struct bk_error *err);

/* A directory's entries, sorted by name (tree.c). */
struct zpl_ent {
	char *name;
	uint64_t obj;
};
struct zpl_ents {
	struct zpl_ent *v;
	size_t n, cap;
	bool nomem;
};
enum bk_code zpl_dir_entries(struct bk_zpl *z, uint64_t dir,
			     struct zpl_ents *out, struct bk_error *err);
void zpl_ents_free(struct zpl_ents *e);

/* Directories a walk has entered: each may be entered once. */
struct zpl_seen {
	uint64_t *v; /* sorted */
	size_t n, cap;
};
/* BK_ERR_FORMAT when obj was entered before (a cycle). */
enum bk_code zpl_seen_add(struct zpl_seen *s, uint64_t obj,
			  struct bk_error *err);
void zpl_seen_free(struct zpl_seen *s);

#endif
