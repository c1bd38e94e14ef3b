/* SPDX-License-Identifier: MIT */
/*
 * Little-endian integers in byte buffers: the on-disk formats (packs,
 * indexes, recipes, key files, generated streams) are little-endian
 * whatever the host.  Internal to libbackup.
 *
 * Static inline, and memcpy on little-endian hosts, because the pack,
 * index and stream generator call these once per field of every entry.
 * The short names are the ones the format code has always used.
 */
#ifndef BK_UTIL_LE_H
#define BK_UTIL_LE_H

#include <stdint.h>
#include <string.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define BK_LE_HOST 1
#else
#define BK_LE_HOST 0
#endif

static inline void put_le32(uint8_t *p, uint32_t v)
{
	if (BK_LE_HOST) {
		memcpy(p, &v, 4);
		return;
	}
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline void put_le64(uint8_t *p, uint64_t v)
{
	if (BK_LE_HOST) {
		memcpy(p, &v, 8);
		return;
	}
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint32_t get_le32(const uint8_t *p)
{
	uint32_t v;

	if (BK_LE_HOST) {
		memcpy(&v, p, 4);
		return v;
	}
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static inline uint64_t get_le64(const uint8_t *p)
{
	uint64_t v;

	if (BK_LE_HOST) {
		memcpy(&v, p, 8);
		return v;
	}
	return (uint64_t)get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}

#endif
