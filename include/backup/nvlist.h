/* SPDX-License-Identifier: MIT */
/*
 * Packed nvlists (libnvpair's nvlist_pack format), as carried by a ZFS send
 * stream's BEGIN payload: decode from untrusted bytes, print the way
 * `zstream dump -v` does, render as JSON, look up values, and build and pack
 * new lists (NATIVE in either byte order, or XDR) that `zfs receive` accepts.
 *
 * Ownership: a struct bk_nvlist from bk_nvlist_unpack() or bk_nvlist_new() is
 * owned by the caller and freed with bk_nvlist_free().  Everything reached
 * through it (pairs, names, strings, arrays, nested lists) is borrowed: valid
 * until that top-level list is freed or modified, never freed by the caller.
 * Adding a nested list copies it; the caller keeps the original.
 */
#ifndef BACKUP_NVLIST_H
#define BACKUP_NVLIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backup/buf.h"
#include "backup/error.h"
#include "backup/export.h"

struct bk_nvlist;  /* a decoded or built list of (name, typed value) pairs */
struct bk_nvpair;  /* one pair of a list */

enum bk_nv_encoding { BK_NV_NATIVE = 0, BK_NV_XDR = 1 };

/* Value types; the numbers are libnvpair's data_type_t, as on the wire. */
enum bk_nv_type {
	BK_NV_BOOLEAN = 1,        /* a flag: present, no value */
	BK_NV_BYTE = 2,
	BK_NV_INT16 = 3,
	BK_NV_UINT16 = 4,
	BK_NV_INT32 = 5,
	BK_NV_UINT32 = 6,
	BK_NV_INT64 = 7,
	BK_NV_UINT64 = 8,
	BK_NV_STRING = 9,
	BK_NV_BYTE_ARRAY = 10,
	BK_NV_INT16_ARRAY = 11,
	BK_NV_UINT16_ARRAY = 12,
	BK_NV_INT32_ARRAY = 13,
	BK_NV_UINT32_ARRAY = 14,
	BK_NV_INT64_ARRAY = 15,
	BK_NV_UINT64_ARRAY = 16,
	BK_NV_STRING_ARRAY = 17,
	BK_NV_HRTIME = 18,
	BK_NV_NVLIST = 19,
	BK_NV_NVLIST_ARRAY = 20,
	BK_NV_BOOLEAN_VALUE = 21,
	BK_NV_INT8 = 22,
	BK_NV_UINT8 = 23,
	BK_NV_BOOLEAN_ARRAY = 24,
	BK_NV_INT8_ARRAY = 25,
	BK_NV_UINT8_ARRAY = 26,
	BK_NV_DOUBLE = 27,
};

/* Deepest nesting of lists accepted by unpack and by the builder. */
#define BK_NVLIST_MAX_DEPTH 64

/* libnvpair's persistent list flags (bk_nvlist_new sets UNIQUE_NAME). */
#define BK_NV_UNIQUE_NAME 0x1u
#define BK_NV_UNIQUE_NAME_TYPE 0x2u

/* ---- decoding ---------------------------------------------------------- */

/*
 * Decode a packed nvlist: NATIVE (either byte order) or XDR.  Bytes past the
 * end of the list are ignored (senders pad).  Every length, count and offset
 * is checked against len, nesting is bounded by BK_NVLIST_MAX_DEPTH and the
 * memory used by the result grows at most linearly with len.
 * Errors: BK_ERR_FORMAT ("nvlist at byte 40: pair size 9000 runs past the
 * end (120 bytes)"), BK_ERR_LIMIT (nesting or size bound), BK_ERR_NOMEM.
 * On success *out is the caller's, to free with bk_nvlist_free(); on error
 * *out is NULL.  buf is only read during the call.
 */
BK_EXPORT enum bk_code bk_nvlist_unpack(const void *buf, size_t len,
					struct bk_nvlist **out,
					struct bk_error *err);

/* Free a list and everything in it.  NULL is fine. */
BK_EXPORT void bk_nvlist_free(struct bk_nvlist *nvl);

/* The encoding it was decoded from (BK_NV_NATIVE for a built list). */
BK_EXPORT enum bk_nv_encoding bk_nvlist_encoding(const struct bk_nvlist *nvl);
/* Byte order of a NATIVE encoding (the host's for a built list). */
BK_EXPORT bool bk_nvlist_bigendian(const struct bk_nvlist *nvl);
/* nvl_version as stored (0 in practice) and the persistent flags. */
BK_EXPORT int32_t bk_nvlist_version(const struct bk_nvlist *nvl);
BK_EXPORT uint32_t bk_nvlist_nvflag(const struct bk_nvlist *nvl);

/* ---- output ------------------------------------------------------------ */

/*
 * Append `zstream dump -v`'s text for this list to out: the
 * "nvlist encoding = ..." line, then libnvpair's nvlist_print() output
 * ("nvlist version: 0", one "\tname = value" line per pair, ...).
 * Errors: those of bk_buf (BK_ERR_LIMIT, BK_ERR_NOMEM).
 */
BK_EXPORT enum bk_code bk_nvlist_dump(const struct bk_nvlist *nvl,
				      struct bk_buf *out,
				      struct bk_error *err);
/* The same without the encoding line: nvlist_print() alone. */
BK_EXPORT enum bk_code bk_nvlist_print(const struct bk_nvlist *nvl,
				       struct bk_buf *out,
				       struct bk_error *err);

/*
 * Append a JSON object {"name": value, ...} in pair order: integers (uint64
 * included) as JSON numbers, boolean_value as true/false, a BOOLEAN flag as
 * true, doubles as numbers (null when not finite), strings as strings,
 * arrays (byte and uint8 arrays included) as arrays, nested lists as
 * objects.  Duplicate names are kept as they are.
 */
BK_EXPORT enum bk_code bk_nvlist_to_json(const struct bk_nvlist *nvl,
					 struct bk_buf *out,
					 struct bk_error *err);

/* ---- lookups (first pair of that name; false when absent or of another
 * type; *val untouched then; results borrowed from nvl) ------------------ */

BK_EXPORT bool bk_nvlist_exists(const struct bk_nvlist *nvl,
				const char *name);
BK_EXPORT const struct bk_nvpair *bk_nvlist_lookup_pair(
	const struct bk_nvlist *nvl, const char *name);
/* A BOOLEAN (flag) pair of that name exists. */
BK_EXPORT bool bk_nvlist_lookup_boolean(const struct bk_nvlist *nvl,
					const char *name);
BK_EXPORT bool bk_nvlist_lookup_boolean_value(const struct bk_nvlist *nvl,
					      const char *name, bool *val);
BK_EXPORT bool bk_nvlist_lookup_string(const struct bk_nvlist *nvl,
				       const char *name, const char **val);
BK_EXPORT bool bk_nvlist_lookup_uint64(const struct bk_nvlist *nvl,
				       const char *name, uint64_t *val);
BK_EXPORT bool bk_nvlist_lookup_int64(const struct bk_nvlist *nvl,
				      const char *name, int64_t *val);
BK_EXPORT bool bk_nvlist_lookup_uint32(const struct bk_nvlist *nvl,
				       const char *name, uint32_t *val);
BK_EXPORT bool bk_nvlist_lookup_nvlist(const struct bk_nvlist *nvl,
				       const char *name,
				       const struct bk_nvlist **val);
BK_EXPORT bool bk_nvlist_lookup_uint8_array(const struct bk_nvlist *nvl,
					    const char *name,
					    const uint8_t **val,
					    uint32_t *nelem);
BK_EXPORT bool bk_nvlist_lookup_uint64_array(const struct bk_nvlist *nvl,
					     const char *name,
					     const uint64_t **val,
					     uint32_t *nelem);

/* ---- iteration --------------------------------------------------------- */

/* Number of pairs (not counting nested lists' pairs). */
BK_EXPORT size_t bk_nvlist_count(const struct bk_nvlist *nvl);
/* The pair after prev, the first when prev is NULL; NULL at the end:
 *   for (p = bk_nvlist_next(nvl, NULL); p; p = bk_nvlist_next(nvl, p)) */
BK_EXPORT const struct bk_nvpair *bk_nvlist_next(const struct bk_nvlist *nvl,
						 const struct bk_nvpair *prev);
BK_EXPORT const char *bk_nvpair_name(const struct bk_nvpair *p);
BK_EXPORT enum bk_nv_type bk_nvpair_type(const struct bk_nvpair *p);
/* libnvpair's "number of elements": 0 for BOOLEAN, 1 for other scalars and
 * nested lists, the length for arrays. */
BK_EXPORT uint32_t bk_nvpair_nelem(const struct bk_nvpair *p);
BK_EXPORT bool bk_nv_type_is_array(enum bk_nv_type t);
/* A short name for a type ("uint64", "nvlist array", ...). */
BK_EXPORT const char *bk_nv_type_name(enum bk_nv_type t);
/*
 * Element i of an integer value: the scalar types (i == 0) BYTE, INT8..
 * UINT64, HRTIME, BOOLEAN_VALUE and the integer and boolean arrays.  Signed
 * values are sign-extended (cast the result to int64_t).  False otherwise.
 */
BK_EXPORT bool bk_nvpair_integer(const struct bk_nvpair *p, uint32_t i,
				 uint64_t *val);
BK_EXPORT bool bk_nvpair_double(const struct bk_nvpair *p, double *val);
/* STRING (i == 0) or element i of a STRING_ARRAY; NULL otherwise. */
BK_EXPORT const char *bk_nvpair_string(const struct bk_nvpair *p, uint32_t i);
/* NVLIST (i == 0) or element i of an NVLIST_ARRAY; NULL otherwise. */
BK_EXPORT const struct bk_nvlist *bk_nvpair_nvlist(const struct bk_nvpair *p,
						   uint32_t i);
/* The bytes of a BYTE_ARRAY, INT8_ARRAY or UINT8_ARRAY; NULL otherwise
 * (and for an empty array, with *nelem 0). */
BK_EXPORT const uint8_t *bk_nvpair_bytes(const struct bk_nvpair *p,
					 uint32_t *nelem);

/* ---- building ---------------------------------------------------------- */

/* A new empty list (version 0, flags BK_NV_UNIQUE_NAME), the caller's. */
BK_EXPORT enum bk_code bk_nvlist_new(struct bk_nvlist **out,
				     struct bk_error *err);

/*
 * Append a pair.  With BK_NV_UNIQUE_NAME set (the default) an earlier pair
 * of the same name is removed first, as libnvpair does.  name and values are
 * copied.  Errors: BK_ERR_USAGE (NULL name, name over 32766 bytes, boolean
 * array element not 0/1), BK_ERR_LIMIT (pair over 2 GiB packed, nesting over
 * BK_NVLIST_MAX_DEPTH), BK_ERR_NOMEM.  On error nvl is unchanged.
 */
BK_EXPORT enum bk_code bk_nvlist_add_boolean(struct bk_nvlist *nvl,
					     const char *name,
					     struct bk_error *err);
BK_EXPORT enum bk_code bk_nvlist_add_boolean_value(struct bk_nvlist *nvl,
						   const char *name, bool val,
						   struct bk_error *err);
BK_EXPORT enum bk_code bk_nvlist_add_byte(struct bk_nvlist *nvl,
					  const char *name, uint8_t val,
					  struct bk_error *err);
BK_EXPORT enum bk_code bk_nvlist_add_int8(struct bk_nvlist *nvl,
					  const char *name, int8_t val,
					  struct bk_error *err);
BK_EXPORT enum bk_code bk_nvlist_add_uint8(struct bk_nvlist *nvl,
					   const char *name, uint8_t val,
					   struct bk_error *err);
BK_EXPORT enum bk_code bk_nvlist_add_int16(struct bk_nvlist *nvl,
					   const char *name, int16_t val,
					   struct bk_error *err);
BK_EXPORT enum bk_code bk_nvlist_add_uint16(struct bk_nvlist *nvl,
					    const char *name, uint16_t val,
					    struct bk_error *err);
BK_EXPORT enum bk_code bk_nvlist_add_int32(struct bk_nvlist *nvl,
					   const char *name, int32_t val,
					   struct bk_error *err);
BK_EXPORT enum bk_code bk_nvlist_add_uint32(struct bk_nvlist *nvl,
					    const char *name, uint32_t val,
					    struct bk_error *err);
BK_EXPORT enum bk_code bk_nvlist_add_int64(struct bk_nvlist *nvl,
					   const char *name, int64_t val,
					   struct bk_error *err);
BK_EXPORT enum bk_code bk_nvlist_add_uint64(struct bk_nvlist *nvl,
					    const char *name, uint64_t val,
					    struct bk_error *err);
BK_EXPORT enum bk_code bk_nvlist_add_hrtime(struct bk_nvlist *nvl,
					    const char *name, int64_t val,
					    struct bk_error *err);
BK_EXPORT enum bk_code bk_nvlist_add_double(struct bk_nvlist *nvl,
					    const char *name, double val,
					    struct bk_error *err);
BK_EXPORT enum bk_code bk_nvlist_add_string(struct bk_nvlist *nvl,
					    const char *name, const char *val,
					    struct bk_error *err);
/* Adds a deep copy of val (which may be nvl itself). */
BK_EXPORT enum bk_code bk_nvlist_add_nvlist(struct bk_nvlist *nvl,
					    const char *name,
					    const struct bk_nvlist *val,
					    struct bk_error *err);
/* Arrays: n elements from val (val may be NULL when n is 0). */
BK_EXPORT enum bk_code bk_nvlist_add_boolean_array(struct bk_nvlist *nvl,
						   const char *name,
						   const bool *val, uint32_t n,
						   struct bk_error *err);
BK_EXPORT enum bk_code bk_nvlist_add_byte_array(struct bk_nvlist *nvl,
						const char *name,
						const uint8_t *val, uint32_t n,
						struct bk_error *err);
BK_EXPORT enum bk_code bk_nvlist_add_int8_array(struct bk_nvlist *nvl,
						const char *name,
						const int8_t *val, uint32_t n,
						struct bk_error *err);
BK_EXPORT enum bk_code bk_nvlist_add_uint8_array(struct bk_nvlist *nvl,
						 const char *name,
						 const uint8_t *val,
						 uint32_t n,
						 struct bk_error *err);
BK_EXPORT enum bk_code bk_nvlist_add_int16_array(struct bk_nvlist *nvl,
						 const char *name,
						 const int16_t *val,
						 uint32_t n,
						 struct bk_error *err);
BK_EXPORT enum bk_code bk_nvlist_add_uint16_array(struct bk_nvlist *nvl,
						  const char *name,
						  const uint16_t *val,
						  uint32_t n,
						  struct bk_error *err);
BK_EXPORT enum bk_code bk_nvlist_add_int32_array(struct bk_nvlist *nvl,
						 const char *name,
						 const int32_t *val,
						 uint32_t n,
						 struct bk_error *err);
BK_EXPORT enum bk_code bk_nvlist_add_uint32_array(struct bk_nvlist *nvl,
						  const char *name,
						  const uint32_t *val,
						  uint32_t n,
						  struct bk_error *err);
BK_EXPORT enum bk_code bk_nvlist_add_int64_array(struct bk_nvlist *nvl,
						 const char *name,
						 const int64_t *val,
						 uint32_t n,
						 struct bk_error *err);
BK_EXPORT enum bk_code bk_nvlist_add_uint64_array(struct bk_nvlist *nvl,
						  const char *name,
						  const uint64_t *val,
						  uint32_t n,
						  struct bk_error *err);
BK_EXPORT enum bk_code bk_nvlist_add_string_array(struct bk_nvlist *nvl,
						  const char *name,
						  const char *const *val,
						  uint32_t n,
						  struct bk_error *err);
/* Adds deep copies of the n lists. */
BK_EXPORT enum bk_code bk_nvlist_add_nvlist_array(
	struct bk_nvlist *nvl, const char *name,
	const struct bk_nvlist *const *val, uint32_t n, struct bk_error *err);

/* Remove every pair of that name; true when one was removed. */
BK_EXPORT bool bk_nvlist_remove(struct bk_nvlist *nvl, const char *name);

/* A deep copy, the caller's.  Errors: BK_ERR_NOMEM. */
BK_EXPORT enum bk_code bk_nvlist_dup(const struct bk_nvlist *nvl,
				     struct bk_nvlist **out,
				     struct bk_error *err);

/*
 * Append the packed form to out, byte for byte what libnvpair's
 * nvlist_pack() writes: enc BK_NV_NATIVE in the byte order bigendian asks
 * for, or BK_NV_XDR (bigendian then only sets the header's endian byte).
 * Errors: BK_ERR_LIMIT (over 2 GiB, or out's maximum), BK_ERR_NOMEM,
 * BK_ERR_USAGE (unknown encoding).  On error out may hold a partial list.
 */
BK_EXPORT enum bk_code bk_nvlist_pack(const struct bk_nvlist *nvl,
				      enum bk_nv_encoding enc, bool bigendian,
				      struct bk_buf *out, struct bk_error *err);

#endif
