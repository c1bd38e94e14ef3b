/* SPDX-License-Identifier: MIT */
/*
 * Packed nvlists: the in-memory tree, lookups, the builder, and the NATIVE
 * and XDR codecs, written from the format as described below (facts taken
 * from the public record, no code); the printers are in nvlist_print.c.
 *
 * Untrusted input: every read is bounds-checked against len; nesting stops
 * at BK_NVLIST_MAX_DEPTH; every allocation is charged to a budget of 16
 * bytes per input byte (valid lists use under 6), so pair counts and memory
 * stay proportional to the input; array counts are checked against the
 * bytes left before anything is allocated for them.
 *
 * Wire format, as relied on here:
 *  - 4-byte header: encoding (0 NATIVE, 1 XDR), endian (1 little, 0 big),
 *    two reserved bytes.
 *  - NATIVE: int32 nvl_version, uint32 nvl_nvflag, then pairs, then a zero
 *    int32.  A pair is the in-memory nvpair: int32 size, int16 name size
 *    (NUL included), int16 reserved, int32 element count, int32 type, the
 *    name padded to 8, the value padded to 8; its size is exactly that.
 *    Integers are in the header's byte order, booleans are 4 bytes, a
 *    string array keeps one zeroed 8-byte slot per element before the
 *    strings, a nested list is a 24-byte nvlist_t (version, flags, zeroes)
 *    whose pairs and zero terminator follow the pair itself; an nvlist
 *    array has 8 zero bytes then one 24-byte nvlist_t per element, the
 *    lists following the pair in order.
 *  - XDR (big-endian 4-byte units): int32 version, uint32 flags, pairs,
 *    two zero int32s.  A pair is: encoded size (ignored on decode), the
 *    NATIVE size it decodes to (checked), the name as an XDR string (length,
 *    bytes, padding to 4), type, element count, then unless the count is 0
 *    the value: 8/16/32-bit integers as one 4-byte unit, 64-bit ones and
 *    doubles as 8 bytes, a string as an XDR string, a byte array as opaque
 *    bytes padded to 4, other arrays as a count then the elements, a string
 *    array as one XDR string per element, a nested list (or each list of an
 *    array) as a full list with its own version, flags and terminator.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backup/nvlist.h"

#define NVP_HDR 16u          /* the fixed part of a NATIVE pair */
#define NVL_STRUCT 24u       /* sizeof (nvlist_t) */
#define NAME_MAX_LEN 32766u  /* name size (NUL included) is an int16 */
#define PAIR_MAX 0x7fffffffu /* sizes are int32 */

struct bk_nvpair {
	struct bk_nvpair *next;
	char *name;
	enum bk_nv_type type;
	uint32_t nelem;
	union {
		uint64_t u;               /* integer scalars, sign-extended */
		double d;
		char *s;
		struct bk_nvlist *nvl;
		uint8_t *bytes;           /* 8-bit arrays */
		uint64_t *ints;           /* wider integer and boolean arrays */
		char **strs;              /* one block: pointers, then strings */
		struct bk_nvlist **nvls;
	} v;
};

struct bk_nvlist {
	struct bk_nvpair *head, *tail;
	size_t count;
	int32_t version;
	uint32_t nvflag;
	enum bk_nv_encoding enc;
	bool bigendian;
	unsigned height; /* nesting below this list, 0 when flat */
};

/* ---- types ------------------------------------------------------------- */

enum kind { K_FLAG, K_INT, K_DOUBLE, K_STR, K_NVL, K_BYTES, K_INTS, K_STRS,
	    K_NVLS };

struct tinfo {
	const char *name;
	uint8_t kind;
	uint8_t size;    /* NATIVE bytes per element (nvlist: 24, 32 array) */
	uint8_t is_signed;
};

static const struct tinfo types[] = {
	[BK_NV_BOOLEAN] = { "boolean", K_FLAG, 0, 0 },
	[BK_NV_BYTE] = { "byte", K_INT, 1, 0 },
	[BK_NV_INT16] = { "int16", K_INT, 2, 1 },
	[BK_NV_UINT16] = { "uint16", K_INT, 2, 0 },
	[BK_NV_INT32] = { "int32", K_INT, 4, 1 },
	[BK_NV_UINT32] = { "uint32", K_INT, 4, 0 },
	[BK_NV_INT64] = { "int64", K_INT, 8, 1 },
	[BK_NV_UINT64] = { "uint64", K_INT, 8, 0 },
	[BK_NV_STRING] = { "string", K_STR, 0, 0 },
	[BK_NV_BYTE_ARRAY] = { "byte array", K_BYTES, 1, 0 },
	[BK_NV_INT16_ARRAY] = { "int16 array", K_INTS, 2, 1 },
	[BK_NV_UINT16_ARRAY] = { "uint16 array", K_INTS, 2, 0 },
	[BK_NV_INT32_ARRAY] = { "int32 array", K_INTS, 4, 1 },
	[BK_NV_UINT32_ARRAY] = { "uint32 array", K_INTS, 4, 0 },
	[BK_NV_INT64_ARRAY] = { "int64 array", K_INTS, 8, 1 },
	[BK_NV_UINT64_ARRAY] = { "uint64 array", K_INTS, 8, 0 },
	[BK_NV_STRING_ARRAY] = { "string array", K_STRS, 8, 0 },
	[BK_NV_HRTIME] = { "hrtime", K_INT, 8, 1 },
	[BK_NV_NVLIST] = { "nvlist", K_NVL, NVL_STRUCT, 0 },
	[BK_NV_NVLIST_ARRAY] = { "nvlist array", K_NVLS, 8 + NVL_STRUCT, 0 },
	[BK_NV_BOOLEAN_VALUE] = { "boolean value", K_INT, 4, 1 },
	[BK_NV_INT8] = { "int8", K_INT, 1, 1 },
	[BK_NV_UINT8] = { "uint8", K_INT, 1, 0 },
	[BK_NV_BOOLEAN_ARRAY] = { "boolean array", K_INTS, 4, 1 },
	[BK_NV_INT8_ARRAY] = { "int8 array", K_BYTES, 1, 1 },
	[BK_NV_UINT8_ARRAY] = { "uint8 array", K_BYTES, 1, 0 },
	[BK_NV_DOUBLE] = { "double", K_DOUBLE, 8, 0 },
};

static const struct tinfo *tinfo(int32_t t)
{
	if (t < BK_NV_BOOLEAN || t > BK_NV_DOUBLE)
		return NULL;
	return &types[t];
}

static bool kind_is_array(unsigned k)
{
	return k == K_BYTES || k == K_INTS || k == K_STRS || k == K_NVLS;
}

bool bk_nv_type_is_array(enum bk_nv_type t)
{
	const struct tinfo *ti = tinfo((int32_t)t);

	return ti && kind_is_array(ti->kind);
}

const char *bk_nv_type_name(enum bk_nv_type t)
{
	const struct tinfo *ti = tinfo((int32_t)t);

	return ti ? ti->name : "unknown";
}

static uint64_t align8(uint64_t x)
{
	return (x + 7) & ~(uint64_t)7;
}

static uint64_t align4(uint64_t x)
{
	return (x + 3) & ~(uint64_t)3;
}

/* Sign- or zero-extend the low bytes*8 bits of v. */
static uint64_t extend(uint64_t v, unsigned bytes, bool is_signed)
{
	unsigned bits = bytes * 8;
	uint64_t mask, sign;

	if (bits >= 64)
		return v;
	mask = ((uint64_t)1 << bits) - 1;
	v &= mask;
	sign = (uint64_t)1 << (bits - 1);
	if (is_signed && (v & sign))
		v |= ~mask;
	return v;
}

static bool host_bigendian(void)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	return true;
#else
	return false;
#endif
}

/* ---- lifetime ---------------------------------------------------------- */

static void pair_free(struct bk_nvpair *p);

void bk_nvlist_free(struct bk_nvlist *nvl)
{
	struct bk_nvpair *p, *next;

	if (!nvl)
		return;
	for (p = nvl->head; p; p = next) {
		next = p->next;
		pair_free(p);
	}
	free(nvl);
}

static void pair_free(struct bk_nvpair *p)
{
	uint32_t i;

	if (!p)
		return;
	switch (types[p->type].kind) {
	case K_STR:
		free(p->v.s);
		break;
	case K_NVL:
		bk_nvlist_free(p->v.nvl);
		break;
	case K_BYTES:
		free(p->v.bytes);
		break;
	case K_INTS:
		free(p->v.ints);
		break;
	case K_STRS:
		free(p->v.strs);
		break;
	case K_NVLS:
		if (p->v.nvls)
			for (i = 0; i < p->nelem; i++)
				bk_nvlist_free(p->v.nvls[i]);
		free(p->v.nvls);
		break;
	default:
		break;
	}
	free(p->name);
	free(p);
}

static struct bk_nvlist *list_alloc(void)
{
	struct bk_nvlist *nvl = calloc(1, sizeof(*nvl));

	if (nvl) {
		nvl->enc = BK_NV_NATIVE;
		nvl->bigendian = host_bigendian();
	}
	return nvl;
}

static void list_append(struct bk_nvlist *nvl, struct bk_nvpair *p)
{
	p->next = NULL;
	if (nvl->tail)
		nvl->tail->next = p;
	else
		nvl->head = p;
	nvl->tail = p;
	nvl->count++;
}

/* ---- accessors --------------------------------------------------------- */

enum bk_nv_encoding bk_nvlist_encoding(const struct bk_nvlist *nvl)
{
	return nvl->enc;
}

bool bk_nvlist_bigendian(const struct bk_nvlist *nvl)
{
	return nvl->bigendian;
}

int32_t bk_nvlist_version(const struct bk_nvlist *nvl)
{
	return nvl->version;
}

uint32_t bk_nvlist_nvflag(const struct bk_nvlist *nvl)
{
	return nvl->nvflag;
}

size_t bk_nvlist_count(const struct bk_nvlist *nvl)
{
	return nvl->count;
}

const struct bk_nvpair *bk_nvlist_next(const struct bk_nvlist *nvl,
				       const struct bk_nvpair *prev)
{
	return prev ? prev->next : nvl->head;
}

const char *bk_nvpair_name(const struct bk_nvpair *p)
{
	return p->name;
}

enum bk_nv_type bk_nvpair_type(const struct bk_nvpair *p)
{
	return p->type;
}

uint32_t bk_nvpair_nelem(const struct bk_nvpair *p)
{
	return p->nelem;
}

bool bk_nvpair_integer(const struct bk_nvpair *p, uint32_t i, uint64_t *val)
{
	switch (types[p->type].kind) {
	case K_INT:
		if (i != 0)
			return false;
		*val = p->v.u;
		return true;
	case K_BYTES:
		if (i >= p->nelem)
			return false;
		*val = extend(p->v.bytes[i], 1, types[p->type].is_signed);
		return true;
	case K_INTS:
		if (i >= p->nelem)
			return false;
		*val = p->v.ints[i];
		return true;
	default:
		return false;
	}
}

bool bk_nvpair_double(const struct bk_nvpair *p, double *val)
{
	if (p->type != BK_NV_DOUBLE)
		return false;
	*val = p->v.d;
	return true;
}

const char *bk_nvpair_string(const struct bk_nvpair *p, uint32_t i)
{
	if (p->type == BK_NV_STRING)
		return i == 0 ? p->v.s : NULL;
	if (p->type == BK_NV_STRING_ARRAY && i < p->nelem)
		return p->v.strs[i];
	return NULL;
}

const struct bk_nvlist *bk_nvpair_nvlist(const struct bk_nvpair *p,
					 uint32_t i)
{
	if (p->type == BK_NV_NVLIST)
		return i == 0 ? p->v.nvl : NULL;
	if (p->type == BK_NV_NVLIST_ARRAY && i < p->nelem)
		return p->v.nvls[i];
	return NULL;
}

const uint8_t *bk_nvpair_bytes(const struct bk_nvpair *p, uint32_t *nelem)
{
	if (types[p->type].kind != K_BYTES)
		return NULL;
	*nelem = p->nelem;
	return p->v.bytes;
}

/* ---- lookups ----------------------------------------------------------- */

const struct bk_nvpair *bk_nvlist_lookup_pair(const struct bk_nvlist *nvl,
					      const char *name)
{
	const struct bk_nvpair *p;

	for (p = nvl->head; p; p = p->next)
		if (strcmp(p->name, name) == 0)
			return p;
	return NULL;
}

static const struct bk_nvpair *lookup_typed(const struct bk_nvlist *nvl,
					    const char *name,
					    enum bk_nv_type type)
{
	const struct bk_nvpair *p = bk_nvlist_lookup_pair(nvl, name);

	return p && p->type == type ? p : NULL;
}

bool bk_nvlist_exists(const struct bk_nvlist *nvl, const char *name)
{
	return bk_nvlist_lookup_pair(nvl, name) != NULL;
}

bool bk_nvlist_lookup_boolean(const struct bk_nvlist *nvl, const char *name)
{
	return lookup_typed(nvl, name, BK_NV_BOOLEAN) != NULL;
}

bool bk_nvlist_lookup_boolean_value(const struct bk_nvlist *nvl,
				    const char *name, bool *val)
{
	const struct bk_nvpair *p = lookup_typed(nvl, name,
						 BK_NV_BOOLEAN_VALUE);

	if (!p)
		return false;
	*val = p->v.u != 0;
	return true;
}

bool bk_nvlist_lookup_string(const struct bk_nvlist *nvl, const char *name,
			     const char **val)
{
	const struct bk_nvpair *p = lookup_typed(nvl, name, BK_NV_STRING);

	if (!p)
		return false;
	*val = p->v.s;
	return true;
}

bool bk_nvlist_lookup_uint64(const struct bk_nvlist *nvl, const char *name,
			     uint64_t *val)
{
	const struct bk_nvpair *p = lookup_typed(nvl, name, BK_NV_UINT64);

	if (!p)
		return false;
	*val = p->v.u;
	return true;
}

bool bk_nvlist_lookup_int64(const struct bk_nvlist *nvl, const char *name,
			    int64_t *val)
{
	const struct bk_nvpair *p = lookup_typed(nvl, name, BK_NV_INT64);

	if (!p)
		return false;
	*val = (int64_t)p->v.u;
	return true;
}

bool bk_nvlist_lookup_uint32(const struct bk_nvlist *nvl, const char *name,
			     uint32_t *val)
{
	const struct bk_nvpair *p = lookup_typed(nvl, name, BK_NV_UINT32);

	if (!p)
		return false;
	*val = (uint32_t)p->v.u;
	return true;
}

bool bk_nvlist_lookup_nvlist(const struct bk_nvlist *nvl, const char *name,
			     const struct bk_nvlist **val)
{
	const struct bk_nvpair *p = lookup_typed(nvl, name, BK_NV_NVLIST);

	if (!p)
		return false;
	*val = p->v.nvl;
	return true;
}

bool bk_nvlist_lookup_uint8_array(const struct bk_nvlist *nvl,
				  const char *name, const uint8_t **val,
				  uint32_t *nelem)
{
	const struct bk_nvpair *p = lookup_typed(nvl, name,
						 BK_NV_UINT8_ARRAY);

	if (!p)
		return false;
	*val = p->v.bytes;
	*nelem = p->nelem;
	return true;
}

bool bk_nvlist_lookup_uint64_array(const struct bk_nvlist *nvl,
				   const char *name, const uint64_t **val,
				   uint32_t *nelem)
{
	const struct bk_nvpair *p = lookup_typed(nvl, name,
						 BK_NV_UINT64_ARRAY);

	if (!p)
		return false;
	*val = p->v.ints;
	*nelem = p->nelem;
	return true;
}

/* ---- building ---------------------------------------------------------- */

enum bk_code bk_nvlist_new(struct bk_nvlist **out, struct bk_error *err)
{
	*out = list_alloc();
	if (!*out)
		return bk_error_set(err, BK_ERR_NOMEM, "cannot allocate nvlist");
	(*out)->nvflag = BK_NV_UNIQUE_NAME;
	return BK_OK;
}

/* Bytes a value takes in a NATIVE pair (before padding). */
static uint64_t native_value_size(const struct bk_nvpair *p)
{
	const struct tinfo *ti = &types[p->type];
	uint64_t n = 0;
	uint32_t i;

	switch (ti->kind) {
	case K_FLAG:
		return 0;
	case K_INT:
	case K_DOUBLE:
	case K_NVL:
		return ti->size;
	case K_STR:
		return (uint64_t)strlen(p->v.s) + 1;
	case K_STRS:
		n = (uint64_t)p->nelem * 8;
		for (i = 0; i < p->nelem; i++)
			n += (uint64_t)strlen(p->v.strs[i]) + 1;
		return n;
	default:
		return (uint64_t)p->nelem * ti->size;
	}
}

static uint64_t native_pair_size(const struct bk_nvpair *p)
{
	return align8(NVP_HDR + strlen(p->name) + 1) +
	       align8(native_value_size(p));
}

static enum bk_code list_copy(const struct bk_nvlist *src,
			      struct bk_nvlist **out, struct bk_error *err);

/* A string array in one block: n pointers, then the strings. */
static char **strs_copy(const char *const *src, uint32_t n)
{
	size_t total = (size_t)n * sizeof(char *), len;
	char **strs;
	char *q;
	uint32_t i;

	for (i = 0; i < n; i++)
		total += strlen(src[i]) + 1;
	strs = malloc(total ? total : 1);
	if (!strs)
		return NULL;
	q = (char *)(strs + n);
	for (i = 0; i < n; i++) {
		len = strlen(src[i]) + 1;
		memcpy(q, src[i], len);
		strs[i] = q;
		q += len;
	}
	return strs;
}

/*
 * Copy a value into p (type, nelem set).  For K_INT data points to a
 * uint64_t, K_DOUBLE a double, K_STR a string, K_NVL a list, K_BYTES bytes,
 * K_INTS uint64_t elements, K_STRS strings, K_NVLS lists.
 */
static enum bk_code value_copy(struct bk_nvpair *p, const void *data,
			       struct bk_error *err)
{
	enum bk_code rc = BK_OK;
	uint32_t n = p->nelem, i;
	bool nomem = false;

	switch (types[p->type].kind) {
	case K_FLAG:
		break;
	case K_INT:
		p->v.u = *(const uint64_t *)data;
		break;
	case K_DOUBLE:
		p->v.d = *(const double *)data;
		break;
	case K_STR:
		p->v.s = strdup(data);
		nomem = !p->v.s;
		break;
	case K_NVL:
		rc = list_copy(data, &p->v.nvl, err);
		break;
	case K_BYTES:
		if (n == 0)
			break;
		p->v.bytes = malloc(n);
		if (p->v.bytes)
			memcpy(p->v.bytes, data, n);
		nomem = !p->v.bytes;
		break;
	case K_INTS:
		if (n == 0)
			break;
		p->v.ints = malloc((size_t)n * sizeof(uint64_t));
		if (p->v.ints)
			memcpy(p->v.ints, data, (size_t)n * sizeof(uint64_t));
		nomem = !p->v.ints;
		break;
	case K_STRS:
		if (n == 0)
			break;
		p->v.strs = strs_copy(data, n);
		nomem = !p->v.strs;
		break;
	case K_NVLS:
		if (n == 0)
			break;
		p->v.nvls = calloc(n, sizeof(*p->v.nvls));
		nomem = !p->v.nvls;
		for (i = 0; i < n && !rc && !nomem; i++)
			rc = list_copy(((const struct bk_nvlist *const *)data)[i],
				       &p->v.nvls[i], err);
		break;
	default:
		break;
	}
	if (nomem)
		rc = bk_error_set(err, BK_ERR_NOMEM,
				  "cannot allocate nvpair value");
	return rc;
}

/* The data argument value_copy wants for an existing pair's value. */
static const void *value_data(const struct bk_nvpair *p)
{
	switch (types[p->type].kind) {
	case K_INT:
		return &p->v.u;
	case K_DOUBLE:
		return &p->v.d;
	case K_STR:
		return p->v.s;
	case K_NVL:
		return p->v.nvl;
	case K_BYTES:
		return p->v.bytes;
	case K_INTS:
		return p->v.ints;
	case K_STRS:
		return p->v.strs;
	case K_NVLS:
		return p->v.nvls;
	default:
		return NULL;
	}
}

static enum bk_code list_copy(const struct bk_nvlist *src,
			      struct bk_nvlist **out, struct bk_error *err)
{
	struct bk_nvlist *nvl = NULL;
	struct bk_nvpair *p = NULL;
	const struct bk_nvpair *sp;
	enum bk_code rc = BK_OK;

	nvl = list_alloc();
	if (!nvl) {
		rc = bk_error_set(err, BK_ERR_NOMEM, "cannot allocate nvlist");
		goto out;
	}
	nvl->version = src->version;
	nvl->nvflag = src->nvflag;
	nvl->enc = src->enc;
	nvl->bigendian = src->bigendian;
	nvl->height = src->height;
	for (sp = src->head; sp; sp = sp->next) {
		p = calloc(1, sizeof(*p));
		if (!p || !(p->name = strdup(sp->name))) {
			rc = bk_error_set(err, BK_ERR_NOMEM,
					  "cannot allocate nvpair");
			goto out;
		}
		p->type = sp->type;
		p->nelem = sp->nelem;
		rc = value_copy(p, value_data(sp), err);
		if (rc)
			goto out;
		list_append(nvl, p);
		p = NULL;
	}
	*out = nvl;
	nvl = NULL;
out:
	pair_free(p);
	bk_nvlist_free(nvl);
	return rc;
}

enum bk_code bk_nvlist_dup(const struct bk_nvlist *nvl, struct bk_nvlist **out,
			   struct bk_error *err)
{
	*out = NULL;
	return list_copy(nvl, out, err);
}

static void remove_matching(struct bk_nvlist *nvl, const char *name,
			    bool by_type, enum bk_nv_type type, bool *found)
{
	struct bk_nvpair **pp = &nvl->head, *p;

	nvl->tail = NULL;
	while ((p = *pp) != NULL) {
		if (strcmp(p->name, name) == 0 && (!by_type || p->type == type)) {
			*pp = p->next;
			nvl->count--;
			pair_free(p);
			*found = true;
			continue;
		}
		nvl->tail = p;
		pp = &p->next;
	}
}

bool bk_nvlist_remove(struct bk_nvlist *nvl, const char *name)
{
	bool found = false;

	remove_matching(nvl, name, false, BK_NV_BOOLEAN, &found);
	return found;
}

static unsigned value_height(enum bk_nv_type type, const void *data,
			     uint32_t n)
{
	unsigned h = 0, i;

	if (type == BK_NV_NVLIST)
		return ((const struct bk_nvlist *)data)->height + 1;
	if (type == BK_NV_NVLIST_ARRAY)
		for (i = 0; i < n; i++) {
			const struct bk_nvlist *c =
				((const struct bk_nvlist *const *)data)[i];

			if (c->height + 1 > h)
				h = c->height + 1;
		}
	return h;
}

static enum bk_code add_common(struct bk_nvlist *nvl, const char *name,
			       enum bk_nv_type type, uint32_t nelem,
			       const void *data, struct bk_error *err)
{
	struct bk_nvpair *p = NULL;
	enum bk_code rc = BK_OK;
	unsigned h;
	bool found = false;
	uint32_t i;

	if (!name || strlen(name) > NAME_MAX_LEN) {
		rc = bk_error_set(err, BK_ERR_USAGE,
				  "nvpair name missing or over %u bytes",
				  NAME_MAX_LEN);
		goto out;
	}
	if (type == BK_NV_STRING && !data) {
		rc = bk_error_set(err, BK_ERR_USAGE, "nvpair %s: missing string",
				  name);
		goto out;
	}
	if (type == BK_NV_NVLIST && !data) {
		rc = bk_error_set(err, BK_ERR_USAGE, "nvpair %s: missing nvlist",
				  name);
		goto out;
	}
	if (nelem > PAIR_MAX || (nelem && !data && type != BK_NV_BOOLEAN)) {
		rc = bk_error_set(err, BK_ERR_USAGE,
				  "nvpair %s: bad element count %u", name,
				  nelem);
		goto out;
	}
	if (type == BK_NV_STRING_ARRAY)
		for (i = 0; i < nelem; i++)
			if (!((const char *const *)data)[i]) {
				rc = bk_error_set(err, BK_ERR_USAGE,
						  "nvpair %s: missing string", name);
				goto out;
			}
	if (type == BK_NV_NVLIST_ARRAY)
		for (i = 0; i < nelem; i++)
			if (!((const struct bk_nvlist *const *)data)[i]) {
				rc = bk_error_set(err, BK_ERR_USAGE,
						  "nvpair %s: missing nvlist", name);
				goto out;
			}
	h = value_height(type, data, nelem);
	if (h > BK_NVLIST_MAX_DEPTH) {
		rc = bk_error_set(err, BK_ERR_LIMIT,
				  "nvpair %s: nesting deeper than %d", name,
				  BK_NVLIST_MAX_DEPTH);
		goto out;
	}
	p = calloc(1, sizeof(*p));
	if (!p || !(p->name = strdup(name))) {
		rc = bk_error_set(err, BK_ERR_NOMEM, "cannot allocate nvpair");
		goto out;
	}
	p->type = type;
	p->nelem = nelem;
	rc = value_copy(p, data, err);
	if (rc)
		goto out;
	if (native_pair_size(p) > PAIR_MAX) {
		rc = bk_error_set(err, BK_ERR_LIMIT,
				  "nvpair %s: value too large to pack", name);
		goto out;
	}
	if (nvl->nvflag & BK_NV_UNIQUE_NAME)
		remove_matching(nvl, name, false, type, &found);
	else if (nvl->nvflag & BK_NV_UNIQUE_NAME_TYPE)
		remove_matching(nvl, name, true, type, &found);
	if (h > nvl->height)
		nvl->height = h;
	list_append(nvl, p);
	p = NULL;
out:
	pair_free(p);
	return rc;
}

static enum bk_code add_int(struct bk_nvlist *nvl, const char *name,
			    enum bk_nv_type type, uint64_t v,
			    struct bk_error *err)
{
	return add_common(nvl, name, type, 1, &v, err);
}

enum bk_code bk_nvlist_add_boolean(struct bk_nvlist *nvl, const char *name,
				   struct bk_error *err)
{
	return add_common(nvl, name, BK_NV_BOOLEAN, 0, NULL, err);
}

enum bk_code bk_nvlist_add_boolean_value(struct bk_nvlist *nvl,
					 const char *name, bool val,
					 struct bk_error *err)
{
	return add_int(nvl, name, BK_NV_BOOLEAN_VALUE, val ? 1 : 0, err);
}

enum bk_code bk_nvlist_add_byte(struct bk_nvlist *nvl, const char *name,
				uint8_t val, struct bk_error *err)
{
	return add_int(nvl, name, BK_NV_BYTE, val, err);
}

enum bk_code bk_nvlist_add_int8(struct bk_nvlist *nvl, const char *name,
				int8_t val, struct bk_error *err)
{
	return add_int(nvl, name, BK_NV_INT8, (uint64_t)(int64_t)val, err);
}

enum bk_code bk_nvlist_add_uint8(struct bk_nvlist *nvl, const char *name,
				 uint8_t val, struct bk_error *err)
{
	return add_int(nvl, name, BK_NV_UINT8, val, err);
}

enum bk_code bk_nvlist_add_int16(struct bk_nvlist *nvl, const char *name,
				 int16_t val, struct bk_error *err)
{
	return add_int(nvl, name, BK_NV_INT16, (uint64_t)(int64_t)val, err);
}

enum bk_code bk_nvlist_add_uint16(struct bk_nvlist *nvl, const char *name,
				  uint16_t val, struct bk_error *err)
{
	return add_int(nvl, name, BK_NV_UINT16, val, err);
}

enum bk_code bk_nvlist_add_int32(struct bk_nvlist *nvl, const char *name,
				 int32_t val, struct bk_error *err)
{
	return add_int(nvl, name, BK_NV_INT32, (uint64_t)(int64_t)val, err);
}

enum bk_code bk_nvlist_add_uint32(struct bk_nvlist *nvl, const char *name,
				  uint32_t val, struct bk_error *err)
{
	return add_int(nvl, name, BK_NV_UINT32, val, err);
}

enum bk_code bk_nvlist_add_int64(struct bk_nvlist *nvl, const char *name,
				 int64_t val, struct bk_error *err)
{
	return add_int(nvl, name, BK_NV_INT64, (uint64_t)val, err);
}

enum bk_code bk_nvlist_add_uint64(struct bk_nvlist *nvl, const char *name,
				  uint64_t val, struct bk_error *err)
{
	return add_int(nvl, name, BK_NV_UINT64, val, err);
}

enum bk_code bk_nvlist_add_hrtime(struct bk_nvlist *nvl, const char *name,
				  int64_t val, struct bk_error *err)
{
	return add_int(nvl, name, BK_NV_HRTIME, (uint64_t)val, err);
}

enum bk_code bk_nvlist_add_double(struct bk_nvlist *nvl, const char *name,
				  double val, struct bk_error *err)
{
	return add_common(nvl, name, BK_NV_DOUBLE, 1, &val, err);
}

enum bk_code bk_nvlist_add_string(struct bk_nvlist *nvl, const char *name,
				  const char *val, struct bk_error *err)
{
	return add_common(nvl, name, BK_NV_STRING, 1, val, err);
}

enum bk_code bk_nvlist_add_nvlist(struct bk_nvlist *nvl, const char *name,
				  const struct bk_nvlist *val,
				  struct bk_error *err)
{
	return add_common(nvl, name, BK_NV_NVLIST, 1, val, err);
}

enum bk_code bk_nvlist_add_byte_array(struct bk_nvlist *nvl, const char *name,
				      const uint8_t *val, uint32_t n,
				      struct bk_error *err)
{
	return add_common(nvl, name, BK_NV_BYTE_ARRAY, n, val, err);
}

enum bk_code bk_nvlist_add_int8_array(struct bk_nvlist *nvl, const char *name,
				      const int8_t *val, uint32_t n,
				      struct bk_error *err)
{
	return add_common(nvl, name, BK_NV_INT8_ARRAY, n, val, err);
}

enum bk_code bk_nvlist_add_uint8_array(struct bk_nvlist *nvl,
				       const char *name, const uint8_t *val,
				       uint32_t n, struct bk_error *err)
{
	return add_common(nvl, name, BK_NV_UINT8_ARRAY, n, val, err);
}

/* Widen n elements to uint64_t (sign-extending) and add them. */
#define ADD_WIDE_ARRAY(fn, ctype, type, conv)                                 \
	enum bk_code fn(struct bk_nvlist *nvl, const char *name,              \
			const ctype *val, uint32_t n, struct bk_error *err)   \
	{                                                                     \
		uint64_t *tmp = NULL;                                         \
		enum bk_code rc;                                              \
		uint32_t i;                                                   \
                                                                              \
		if (n && val) {                                               \
			tmp = malloc((size_t)n * sizeof(*tmp));               \
			if (!tmp) {                                           \
				rc = bk_error_set(err, BK_ERR_NOMEM,          \
						  "cannot allocate array");   \
				goto out;                                     \
			}                                                     \
			for (i = 0; i < n; i++)                               \
				tmp[i] = conv(val[i]);                        \
		}                                                             \
		rc = add_common(nvl, name, type, n, tmp, err);                \
	out:                                                                  \
		free(tmp);                                                    \
		return rc;                                                    \
	}

#define CONV_S(x) ((uint64_t)(int64_t)(x))
#define CONV_U(x) ((uint64_t)(x))
#define CONV_B(x) ((uint64_t)((x) ? 1 : 0))

ADD_WIDE_ARRAY(bk_nvlist_add_boolean_array, bool, BK_NV_BOOLEAN_ARRAY, CONV_B)
ADD_WIDE_ARRAY(bk_nvlist_add_int16_array, int16_t, BK_NV_INT16_ARRAY, CONV_S)
ADD_WIDE_ARRAY(bk_nvlist_add_uint16_array, uint16_t, BK_NV_UINT16_ARRAY,
	       CONV_U)
ADD_WIDE_ARRAY(bk_nvlist_add_int32_array, int32_t, BK_NV_INT32_ARRAY, CONV_S)
ADD_WIDE_ARRAY(bk_nvlist_add_uint32_array, uint32_t, BK_NV_UINT32_ARRAY,
	       CONV_U)
ADD_WIDE_ARRAY(bk_nvlist_add_int64_array, int64_t, BK_NV_INT64_ARRAY, CONV_S)
ADD_WIDE_ARRAY(bk_nvlist_add_uint64_array, uint64_t, BK_NV_UINT64_ARRAY,
	       CONV_U)

enum bk_code bk_nvlist_add_string_array(struct bk_nvlist *nvl,
					const char *name,
					const char *const *val, uint32_t n,
					struct bk_error *err)
{
	return add_common(nvl, name, BK_NV_STRING_ARRAY, n, val, err);
}

enum bk_code bk_nvlist_add_nvlist_array(struct bk_nvlist *nvl,
					const char *name,
					const struct bk_nvlist *const *val,
					uint32_t n, struct bk_error *err)
{
	return add_common(nvl, name, BK_NV_NVLIST_ARRAY, n, val, err);
}

/* ---- decoding ---------------------------------------------------------- */

struct dec {
	const uint8_t *buf;
	size_t len;
	size_t pos;
	bool be;               /* NATIVE byte order */
	enum bk_nv_encoding enc;
	size_t budget;         /* bytes the result may still allocate */
	struct bk_error *err;
};

static enum bk_code derr(struct dec *d, enum bk_code code, size_t off,
			 const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static enum bk_code derr(struct dec *d, enum bk_code code, size_t off,
			 const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return bk_error_set(d->err, code, "nvlist at byte %zu: %s", off, msg);
}

/* calloc against the budget; NULL with the error set. */
static void *dalloc(struct dec *d, size_t n, size_t size, size_t off)
{
	size_t total;
	void *p;

	/* count some allocator overhead too */
	if ((size && n > (SIZE_MAX - 64) / size) ||
	    (total = n * size + 32) > d->budget) {
		derr(d, BK_ERR_LIMIT, off, "decoded nvlist would be too large");
		return NULL;
	}
	d->budget -= total;
	p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		bk_error_set(d->err, BK_ERR_NOMEM, "cannot allocate %zu bytes",
			     n * size);
	return p;
}

static size_t avail(const struct dec *d)
{
	return d->len - d->pos;
}

static uint32_t get32(const struct dec *d, size_t off, bool be)
{
	const uint8_t *b = d->buf + off;

	if (be)
		return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 |
		       (uint32_t)b[2] << 8 | b[3];
	return (uint32_t)b[3] << 24 | (uint32_t)b[2] << 16 |
	       (uint32_t)b[1] << 8 | b[0];
}

static uint16_t get16(const struct dec *d, size_t off, bool be)
{
	const uint8_t *b = d->buf + off;

	return be ? (uint16_t)(b[0] << 8 | b[1]) : (uint16_t)(b[1] << 8 | b[0]);
}

static uint64_t get64(const struct dec *d, size_t off, bool be)
{
	uint64_t hi, lo;

	if (be) {
		hi = get32(d, off, true);
		lo = get32(d, off + 4, true);
	} else {
		lo = get32(d, off, false);
		hi = get32(d, off + 4, false);
	}
	return hi << 32 | lo;
}

/* An integer element of ti->size bytes, NATIVE. */
static uint64_t get_native_int(const struct dec *d, size_t off,
			       const struct tinfo *ti)
{
	uint64_t v;

	switch (ti->size) {
	case 1:
		v = d->buf[off];
		break;
	case 2:
		v = get16(d, off, d->be);
		break;
	case 4:
		v = get32(d, off, d->be);
		break;
	default:
		v = get64(d, off, d->be);
		break;
	}
	return extend(v, ti->size, ti->is_signed);
}

static enum bk_code check_bool(struct dec *d, uint64_t v, size_t off)
{
	if (v != 0 && v != 1)
		return derr(d, BK_ERR_FORMAT, off,
			    "boolean value %lld is not 0 or 1",
			    (long long)(int64_t)v);
	return BK_OK;
}

static enum bk_code check_type(struct dec *d, int32_t type, uint32_t nelem,
			       size_t off, const struct tinfo **ti)
{
	*ti = tinfo(type);
	if (!*ti)
		return derr(d, BK_ERR_FORMAT, off, "unknown data type %d",
			    (int)type);
	if ((*ti)->kind == K_FLAG ? nelem != 0
				  : !kind_is_array((*ti)->kind) && nelem != 1)
		return derr(d, BK_ERR_FORMAT, off,
			    "%s value with %u elements", (*ti)->name, nelem);
	return BK_OK;
}

static struct bk_nvlist *new_child(struct dec *d, int32_t version,
				   uint32_t nvflag, size_t off)
{
	struct bk_nvlist *c = dalloc(d, 1, sizeof(*c), off);

	if (c) {
		c->version = version;
		c->nvflag = nvflag;
		c->enc = d->enc;
		c->bigendian = d->be;
	}
	return c;
}

static enum bk_code native_pairs(struct dec *d, struct bk_nvlist *nvl,
				 unsigned depth);

/* Nested list contents of a NATIVE NVLIST/NVLIST_ARRAY pair. */
static enum bk_code native_nested(struct dec *d, struct bk_nvlist *nvl,
				  struct bk_nvlist *child, unsigned depth)
{
	enum bk_code rc;

	if (depth + 1 > BK_NVLIST_MAX_DEPTH)
		return derr(d, BK_ERR_LIMIT, d->pos,
			    "nvlists nested deeper than %d",
			    BK_NVLIST_MAX_DEPTH);
	rc = native_pairs(d, child, depth + 1);
	if (!rc && child->height + 1 > nvl->height)
		nvl->height = child->height + 1;
	return rc;
}

/* The 24-byte nvlist_t of an embedded list, at off. */
static enum bk_code native_embedded(struct dec *d, size_t off,
				    struct bk_nvlist **out)
{
	int32_t version = (int32_t)get32(d, off, d->be);

	if (version != 0)
		return derr(d, BK_ERR_FORMAT, off,
			    "embedded nvlist version %d is not 0",
			    (int)version);
	*out = new_child(d, version, get32(d, off + 4, d->be), off);
	return *out ? BK_OK : d->err->code;
}

static enum bk_code native_value(struct dec *d, struct bk_nvpair *p,
				 const struct tinfo *ti, size_t voff,
				 size_t area)
{
	uint64_t vsize = 0, v;
	size_t off, slen, total;
	uint32_t i, n = p->nelem;
	const uint8_t *nul;
	char *q;
	enum bk_code rc = BK_OK;

	switch (ti->kind) {
	case K_FLAG:
		vsize = 0;
		break;
	case K_INT:
	case K_DOUBLE:
		vsize = ti->size;
		if (area < vsize)
			break;
		v = get_native_int(d, voff, ti);
		if (ti->kind == K_DOUBLE)
			memcpy(&p->v.d, &v, sizeof(v));
		else
			p->v.u = v;
		if (p->type == BK_NV_BOOLEAN_VALUE)
			rc = check_bool(d, v, voff);
		break;
	case K_STR:
		nul = memchr(d->buf + voff, 0, area);
		if (!nul)
			return derr(d, BK_ERR_FORMAT, voff,
				    "string value is not terminated");
		slen = (size_t)(nul - (d->buf + voff));
		vsize = slen + 1;
		p->v.s = dalloc(d, slen + 1, 1, voff);
		if (!p->v.s)
			return d->err->code;
		memcpy(p->v.s, d->buf + voff, slen);
		break;
	case K_BYTES:
	case K_INTS:
		vsize = (uint64_t)n * ti->size;
		if (vsize > area || n == 0)
			break;
		if (ti->kind == K_BYTES) {
			p->v.bytes = dalloc(d, n, 1, voff);
			if (!p->v.bytes)
				return d->err->code;
			memcpy(p->v.bytes, d->buf + voff, n);
			break;
		}
		p->v.ints = dalloc(d, n, sizeof(uint64_t), voff);
		if (!p->v.ints)
			return d->err->code;
		for (i = 0; i < n && !rc; i++) {
			off = voff + (size_t)i * ti->size;
			p->v.ints[i] = get_native_int(d, off, ti);
			if (p->type == BK_NV_BOOLEAN_ARRAY)
				rc = check_bool(d, p->v.ints[i], off);
		}
		break;
	case K_STRS:
		vsize = (uint64_t)n * 8;
		if (vsize > area || n == 0)
			break;
		/* measure, then copy into one block */
		off = voff + (size_t)vsize;
		for (i = 0; i < n; i++) {
			nul = memchr(d->buf + off, 0, voff + area - off);
			if (!nul)
				return derr(d, BK_ERR_FORMAT, off,
					    "string %u of %u is not terminated",
					    i, n);
			off = (size_t)(nul - d->buf) + 1;
		}
		total = off - (voff + (size_t)vsize);
		vsize += total;
		p->v.strs = dalloc(d, 1, (size_t)n * sizeof(char *) + total,
				   voff);
		if (!p->v.strs)
			return d->err->code;
		q = (char *)(p->v.strs + n);
		memcpy(q, d->buf + voff + (size_t)n * 8, total);
		for (i = 0; i < n; i++) {
			p->v.strs[i] = q;
			q += strlen(q) + 1;
		}
		break;
	case K_NVL:
		vsize = NVL_STRUCT;
		if (area < vsize)
			break;
		rc = native_embedded(d, voff, &p->v.nvl);
		break;
	case K_NVLS:
		vsize = (uint64_t)n * (8 + NVL_STRUCT);
		if (vsize > area || n == 0)
			break;
		p->v.nvls = dalloc(d, n, sizeof(*p->v.nvls), voff);
		if (!p->v.nvls)
			return d->err->code;
		off = voff + (size_t)n * 8;
		for (i = 0; i < n && !rc; i++, off += NVL_STRUCT)
			rc = native_embedded(d, off, &p->v.nvls[i]);
		break;
	default:
		break;
	}
	if (rc)
		return rc;
	if (align8(vsize) != area)
		return derr(d, BK_ERR_FORMAT, voff,
			    "%s value of %llu bytes does not fill its %zu",
			    ti->name, (unsigned long long)vsize, area);
	return BK_OK;
}

/* One NATIVE pair at d->pos (size already checked to be in bounds). */
static enum bk_code native_pair(struct dec *d, struct bk_nvlist *nvl,
				int32_t size, unsigned depth)
{
	size_t off = d->pos, valoff, namelen;
	int16_t name_sz = (int16_t)get16(d, off + 4, d->be);
	uint32_t nelem = get32(d, off + 8, d->be), i;
	int32_t type = (int32_t)get32(d, off + 12, d->be);
	const struct tinfo *ti;
	struct bk_nvpair *p = NULL;
	const uint8_t *name;
	enum bk_code rc;

	valoff = name_sz > 0 ? (size_t)align8(NVP_HDR + (size_t)name_sz) : 0;
	if (name_sz <= 0 || valoff > (size_t)size) {
		rc = derr(d, BK_ERR_FORMAT, off + 4,
			  "name size %d does not fit pair size %d",
			  (int)name_sz, (int)size);
		goto out;
	}
	name = d->buf + off + NVP_HDR;
	namelen = strnlen((const char *)name, (size_t)name_sz);
	if (namelen != (size_t)name_sz - 1) {
		rc = derr(d, BK_ERR_FORMAT, off + NVP_HDR,
			  "name is not %d bytes and a NUL", (int)name_sz - 1);
		goto out;
	}
	rc = check_type(d, type, nelem, off + 12, &ti);
	if (rc)
		goto out;
	p = dalloc(d, 1, sizeof(*p), off);
	if (!p || !(p->name = dalloc(d, namelen + 1, 1, off))) {
		rc = d->err->code;
		goto out;
	}
	memcpy(p->name, name, namelen);
	p->type = (enum bk_nv_type)type;
	p->nelem = nelem;
	rc = native_value(d, p, ti, off + valoff, (size_t)size - valoff);
	if (rc)
		goto out;
	d->pos += (size_t)size;
	if (ti->kind == K_NVL)
		rc = native_nested(d, nvl, p->v.nvl, depth);
	for (i = 0; ti->kind == K_NVLS && i < nelem && !rc; i++)
		rc = native_nested(d, nvl, p->v.nvls[i], depth);
	if (rc)
		goto out;
	list_append(nvl, p);
	p = NULL;
out:
	pair_free(p);
	return rc;
}

static enum bk_code native_pairs(struct dec *d, struct bk_nvlist *nvl,
				 unsigned depth)
{
	enum bk_code rc = BK_OK;
	int32_t size;

	for (;;) {
		if (avail(d) < 4) {
			rc = derr(d, BK_ERR_FORMAT, d->pos,
				  "list runs past the end (%zu bytes) without "
				  "its terminator", d->len);
			break;
		}
		size = (int32_t)get32(d, d->pos, d->be);
		if (size == 0) {
			d->pos += 4;
			break;
		}
		if (size < 0 || (size_t)size > avail(d)) {
			rc = derr(d, BK_ERR_FORMAT, d->pos,
				  "pair size %d runs past the end (%zu bytes)",
				  (int)size, d->len);
			break;
		}
		if ((size_t)size < NVP_HDR + 8) {
			rc = derr(d, BK_ERR_FORMAT, d->pos,
				  "pair size %d is below the minimum of %u",
				  (int)size, NVP_HDR + 8);
			break;
		}
		rc = native_pair(d, nvl, size, depth);
		if (rc)
			break;
	}
	return rc;
}

/* ---- XDR decoding ---- */

static enum bk_code xdr_need(struct dec *d, uint64_t n, const char *what)
{
	if (n > avail(d))
		return derr(d, BK_ERR_FORMAT, d->pos,
			    "%s of %llu bytes runs past the end (%zu bytes)",
			    what, (unsigned long long)n, d->len);
	return BK_OK;
}

static enum bk_code xdr_u32(struct dec *d, uint32_t *v, const char *what)
{
	enum bk_code rc = xdr_need(d, 4, what);

	if (rc)
		return rc;
	*v = get32(d, d->pos, true);
	d->pos += 4;
	return BK_OK;
}

/* An XDR string at d->pos; *s allocated (NULL when store is false). */
static enum bk_code xdr_string(struct dec *d, char **s, size_t *lenp,
			       size_t maxlen, const char *what)
{
	size_t off = d->pos, slen;
	uint32_t n;
	enum bk_code rc = xdr_u32(d, &n, what);

	if (rc)
		return rc;
	if (n > maxlen)
		return derr(d, BK_ERR_FORMAT, off, "%s of %u bytes is too long",
			    what, n);
	rc = xdr_need(d, align4(n), what);
	if (rc)
		return rc;
	slen = n;
	if (memchr(d->buf + d->pos, 0, slen))
		return derr(d, BK_ERR_FORMAT, d->pos,
			    "%s contains a NUL byte", what);
	if (s) {
		*s = dalloc(d, slen + 1, 1, off);
		if (!*s)
			return d->err->code;
		memcpy(*s, d->buf + d->pos, slen);
	}
	*lenp = slen;
	d->pos += (size_t)align4(n);
	return BK_OK;
}

static enum bk_code xdr_list(struct dec *d, struct bk_nvlist *nvl,
			     unsigned depth);

static enum bk_code xdr_nested(struct dec *d, struct bk_nvlist *nvl,
			       struct bk_nvlist **out, unsigned depth)
{
	size_t off = d->pos;
	enum bk_code rc;

	if (depth + 1 > BK_NVLIST_MAX_DEPTH)
		return derr(d, BK_ERR_LIMIT, d->pos,
			    "nvlists nested deeper than %d",
			    BK_NVLIST_MAX_DEPTH);
	*out = new_child(d, 0, 0, d->pos);
	if (!*out)
		return d->err->code;
	rc = xdr_list(d, *out, depth + 1);
	if (!rc && (*out)->version != 0)
		/* libnvpair lets XDR through here, but could never pack the
		 * list as NATIVE again: refuse it as NATIVE is refused */
		rc = derr(d, BK_ERR_FORMAT, off,
			  "embedded nvlist version %d is not 0",
			  (int)(*out)->version);
	if (!rc && (*out)->height + 1 > nvl->height)
		nvl->height = (*out)->height + 1;
	return rc;
}

/* The value of an XDR pair; *vsize gets its NATIVE size. */
static enum bk_code xdr_value(struct dec *d, struct bk_nvlist *nvl,
			      struct bk_nvpair *p, const struct tinfo *ti,
			      unsigned depth, uint64_t *vsize)
{
	uint32_t n = p->nelem, i, count;
	unsigned unit = ti->size == 8 ? 8 : 4;
	size_t off = d->pos, slen, total;
	uint64_t v;
	char *q;
	enum bk_code rc = BK_OK;

	switch (ti->kind) {
	case K_FLAG:
		*vsize = 0;
		return BK_OK;
	case K_INT:
	case K_DOUBLE:
		*vsize = ti->size;
		rc = xdr_need(d, unit, ti->name);
		if (rc)
			return rc;
		v = unit == 8 ? get64(d, off, true) : get32(d, off, true);
		d->pos += unit;
		if (ti->kind == K_DOUBLE) {
			memcpy(&p->v.d, &v, sizeof(v));
			return BK_OK;
		}
		p->v.u = extend(v, ti->size, ti->is_signed);
		return p->type == BK_NV_BOOLEAN_VALUE ? check_bool(d, v, off)
						      : BK_OK;
	case K_STR:
		rc = xdr_string(d, &p->v.s, &slen, SIZE_MAX, "string value");
		*vsize = (uint64_t)slen + 1;
		return rc;
	default:
		break;
	}
	*vsize = (uint64_t)n * ti->size;
	if (n == 0) /* empty arrays carry nothing at all */
		return BK_OK;
	if (p->type == BK_NV_BYTE_ARRAY) { /* opaque bytes, no count */
		rc = xdr_need(d, align4(n), ti->name);
		if (rc)
			return rc;
		p->v.bytes = dalloc(d, n, 1, off);
		if (!p->v.bytes)
			return d->err->code;
		memcpy(p->v.bytes, d->buf + off, n);
		d->pos += (size_t)align4(n);
		return BK_OK;
	}
	switch (ti->kind) {
	case K_BYTES: /* int8/uint8 arrays: counted 4-byte units */
	case K_INTS:
		rc = xdr_u32(d, &count, ti->name);
		if (rc)
			return rc;
		if (count != n)
			return derr(d, BK_ERR_FORMAT, off,
				    "%s count %u differs from its %u elements",
				    ti->name, count, n);
		rc = xdr_need(d, (uint64_t)n * unit, ti->name);
		if (rc)
			return rc;
		if (ti->kind == K_BYTES) {
			p->v.bytes = dalloc(d, n, 1, off);
			if (!p->v.bytes)
				return d->err->code;
		} else {
			p->v.ints = dalloc(d, n, sizeof(uint64_t), off);
			if (!p->v.ints)
				return d->err->code;
		}
		for (i = 0; i < n && !rc; i++) {
			off = d->pos;
			v = unit == 8 ? get64(d, off, true)
				      : get32(d, off, true);
			d->pos += unit;
			if (ti->kind == K_BYTES) {
				p->v.bytes[i] = (uint8_t)v;
				continue;
			}
			p->v.ints[i] = extend(v, ti->size, ti->is_signed);
			if (p->type == BK_NV_BOOLEAN_ARRAY)
				rc = check_bool(d, v, off);
		}
		return rc;
	case K_STRS:
		/* each string takes 4 bytes or more: bound n first */
		rc = xdr_need(d, (uint64_t)n * 4, ti->name);
		if (rc)
			return rc;
		total = 0;
		for (i = 0; i < n && !rc; i++) {
			rc = xdr_string(d, NULL, &slen, SIZE_MAX, "string");
			total += slen + 1;
		}
		if (rc)
			return rc;
		*vsize += total;
		p->v.strs = dalloc(d, 1, (size_t)n * sizeof(char *) + total,
				   off);
		if (!p->v.strs)
			return d->err->code;
		q = (char *)(p->v.strs + n);
		d->pos = off;
		for (i = 0; i < n; i++) {
			slen = get32(d, d->pos, true);
			memcpy(q, d->buf + d->pos + 4, slen);
			q[slen] = '\0';
			p->v.strs[i] = q;
			q += slen + 1;
			d->pos += 4 + (size_t)align4(slen);
		}
		return BK_OK;
	case K_NVL:
		*vsize = NVL_STRUCT;
		return xdr_nested(d, nvl, &p->v.nvl, depth);
	case K_NVLS:
		/* each list takes 16 bytes or more: bound n first */
		rc = xdr_need(d, (uint64_t)n * 16, ti->name);
		if (rc)
			return rc;
		p->v.nvls = dalloc(d, n, sizeof(*p->v.nvls), off);
		if (!p->v.nvls)
			return d->err->code;
		for (i = 0; i < n && !rc; i++)
			rc = xdr_nested(d, nvl, &p->v.nvls[i], depth);
		return rc;
	default:
		return BK_OK;
	}
}

static enum bk_code xdr_pair(struct dec *d, struct bk_nvlist *nvl,
			     int32_t dsize, unsigned depth)
{
	size_t off = d->pos - 8, namelen;
	struct bk_nvpair *p = NULL;
	const struct tinfo *ti;
	uint32_t type, nelem;
	uint64_t vsize = 0, want;
	enum bk_code rc;

	p = dalloc(d, 1, sizeof(*p), off);
	if (!p) {
		rc = d->err->code;
		goto out;
	}
	rc = xdr_string(d, &p->name, &namelen, NAME_MAX_LEN, "name");
	if (rc)
		goto out;
	rc = xdr_u32(d, &type, "type");
	if (!rc)
		rc = xdr_u32(d, &nelem, "element count");
	if (!rc)
		rc = check_type(d, (int32_t)type, nelem, d->pos - 8, &ti);
	if (rc)
		goto out;
	p->type = (enum bk_nv_type)type;
	p->nelem = nelem;
	rc = xdr_value(d, nvl, p, ti, depth, &vsize);
	if (rc)
		goto out;
	want = align8(NVP_HDR + namelen + 1) + align8(vsize);
	if (want != (uint64_t)dsize) {
		rc = derr(d, BK_ERR_FORMAT, off + 4,
			  "decoded size %d of pair %s should be %llu",
			  (int)dsize, p->name, (unsigned long long)want);
		goto out;
	}
	list_append(nvl, p);
	p = NULL;
out:
	pair_free(p);
	return rc;
}

static enum bk_code xdr_list(struct dec *d, struct bk_nvlist *nvl,
			     unsigned depth)
{
	uint32_t version, nvflag, esize, dsize;
	enum bk_code rc;

	rc = xdr_u32(d, &version, "list header");
	if (!rc)
		rc = xdr_u32(d, &nvflag, "list header");
	if (rc)
		return rc;
	nvl->version = (int32_t)version;
	nvl->nvflag = nvflag;
	for (;;) {
		if (avail(d) < 8)
			return derr(d, BK_ERR_FORMAT, d->pos,
				    "list runs past the end (%zu bytes) "
				    "without its terminator", d->len);
		esize = get32(d, d->pos, true);
		dsize = get32(d, d->pos + 4, true);
		(void)esize; /* informational: decoders ignore it */
		d->pos += 8;
		if (dsize == 0)
			return BK_OK;
		if ((int32_t)dsize < (int32_t)(NVP_HDR + 8))
			return derr(d, BK_ERR_FORMAT, d->pos - 4,
				    "decoded pair size %d is below the "
				    "minimum of %u", (int)(int32_t)dsize,
				    NVP_HDR + 8);
		rc = xdr_pair(d, nvl, (int32_t)dsize, depth);
		if (rc)
			return rc;
	}
}

enum bk_code bk_nvlist_unpack(const void *buf, size_t len,
			      struct bk_nvlist **out, struct bk_error *err)
{
	struct bk_error local;
	struct dec d;
	struct bk_nvlist *nvl = NULL;
	enum bk_code rc = BK_OK;

	*out = NULL;
	memset(&d, 0, sizeof(d));
	d.buf = buf;
	d.len = len;
	d.err = err ? err : &local;
	d.budget = len > (SIZE_MAX - 4096) / 16 ? SIZE_MAX : 16 * len + 4096;
	if (len < 4 || !buf) {
		rc = derr(&d, BK_ERR_FORMAT, 0,
			  "header runs past the end (%zu bytes)", len);
		goto out;
	}
	if (d.buf[0] > BK_NV_XDR) {
		rc = derr(&d, BK_ERR_FORMAT, 0, "unknown encoding %u",
			  d.buf[0]);
		goto out;
	}
	d.enc = (enum bk_nv_encoding)d.buf[0];
	if (d.enc == BK_NV_NATIVE && d.buf[1] > 1) {
		rc = derr(&d, BK_ERR_FORMAT, 1, "unknown byte order %u",
			  d.buf[1]);
		goto out;
	}
	d.be = d.buf[1] == 0;
	d.pos = 4;
	nvl = new_child(&d, 0, 0, 0);
	if (!nvl) {
		rc = d.err->code;
		goto out;
	}
	if (d.enc == BK_NV_XDR) {
		rc = xdr_list(&d, nvl, 0);
		goto out;
	}
	if (avail(&d) < 8) {
		rc = derr(&d, BK_ERR_FORMAT, d.pos,
			  "list header runs past the end (%zu bytes)", len);
		goto out;
	}
	nvl->version = (int32_t)get32(&d, d.pos, d.be);
	nvl->nvflag = get32(&d, d.pos + 4, d.be);
	d.pos += 8;
	rc = native_pairs(&d, nvl, 0);
out:
	if (rc) {
		bk_nvlist_free(nvl);
		nvl = NULL;
	}
	*out = nvl;
	return rc;
}

/* ---- packing ----------------------------------------------------------- */

struct enc {
	struct bk_buf *out;
	bool be;       /* NATIVE byte order */
	bool xdr;
	struct bk_error *err;
};

static enum bk_code put_n(struct enc *e, uint64_t v, unsigned n, bool be)
{
	uint8_t b[8];
	unsigned i;

	for (i = 0; i < n; i++)
		b[be ? n - 1 - i : i] = (uint8_t)(v >> (8 * i));
	return bk_buf_append(e->out, b, n, e->err);
}

static enum bk_code put_zero(struct enc *e, uint64_t n)
{
	static const uint8_t zero[64];
	enum bk_code rc = BK_OK;
	size_t k;

	while (n && !rc) {
		k = n > sizeof(zero) ? sizeof(zero) : (size_t)n;
		rc = bk_buf_append(e->out, zero, k, e->err);
		n -= k;
	}
	return rc;
}

/* Native integer of the element size, or an XDR unit. */
static enum bk_code put_int(struct enc *e, uint64_t v, unsigned size)
{
	if (!e->xdr)
		return put_n(e, v, size, e->be);
	if (size == 8)
		return put_n(e, v, 8, true);
	/* 8- and 16-bit values go zero-extended, as the kernel wants */
	if (size < 4)
		v &= ((uint64_t)1 << (8 * size)) - 1;
	return put_n(e, v, 4, true);
}

static enum bk_code pack_pairs(struct enc *e, const struct bk_nvlist *nvl);

static enum bk_code pack_list(struct enc *e, const struct bk_nvlist *nvl)
{
	enum bk_code rc;

	if (e->xdr) {
		rc = put_n(e, (uint32_t)nvl->version, 4, true);
		if (!rc)
			rc = put_n(e, nvl->nvflag, 4, true);
		if (!rc)
			rc = pack_pairs(e, nvl);
		return rc ? rc : put_zero(e, 8);
	}
	/* NATIVE embedded lists: pairs and a terminator only */
	rc = pack_pairs(e, nvl);
	return rc ? rc : put_zero(e, 4);
}

static enum bk_code put_xdr_string(struct enc *e, const char *s)
{
	size_t n = strlen(s);
	enum bk_code rc = put_n(e, n, 4, true);

	if (!rc)
		rc = bk_buf_append(e->out, s, n, e->err);
	return rc ? rc : put_zero(e, align4(n) - n);
}

static enum bk_code put_nvl_struct(struct enc *e, const struct bk_nvlist *c)
{
	enum bk_code rc = put_n(e, (uint32_t)c->version, 4, e->be);

	if (!rc)
		rc = put_n(e, c->nvflag, 4, e->be);
	return rc ? rc : put_zero(e, NVL_STRUCT - 8);
}

static enum bk_code pack_value(struct enc *e, const struct bk_nvpair *p)
{
	const struct tinfo *ti = &types[p->type];
	enum bk_code rc = BK_OK;
	uint64_t v;
	size_t slen;
	uint32_t i, n = p->nelem;

	switch (ti->kind) {
	case K_INT:
		return put_int(e, p->v.u, ti->size);
	case K_DOUBLE:
		memcpy(&v, &p->v.d, sizeof(v));
		return put_int(e, v, 8);
	case K_STR:
		if (e->xdr)
			return put_xdr_string(e, p->v.s);
		return bk_buf_append(e->out, p->v.s, strlen(p->v.s) + 1,
				     e->err);
	case K_NVL:
		if (e->xdr)
			return pack_list(e, p->v.nvl);
		return put_nvl_struct(e, p->v.nvl);
	default:
		break;
	}
	if (e->xdr && n == 0)
		return BK_OK;
	if (e->xdr && ti->kind != K_STRS && ti->kind != K_NVLS &&
	    p->type != BK_NV_BYTE_ARRAY)
		rc = put_n(e, n, 4, true); /* the array's count */
	switch (ti->kind) {
	case K_BYTES:
		if (!e->xdr || p->type == BK_NV_BYTE_ARRAY) {
			if (!rc)
				rc = bk_buf_append(e->out, p->v.bytes, n,
						   e->err);
			if (!rc && e->xdr)
				rc = put_zero(e, align4(n) - n);
			break;
		}
		for (i = 0; i < n && !rc; i++)
			rc = put_int(e, p->v.bytes[i], 1);
		break;
	case K_INTS:
		for (i = 0; i < n && !rc; i++)
			rc = put_int(e, p->v.ints[i], ti->size);
		break;
	case K_STRS:
		if (!e->xdr)
			rc = put_zero(e, (uint64_t)n * 8);
		for (i = 0; i < n && !rc; i++) {
			slen = strlen(p->v.strs[i]);
			if (e->xdr)
				rc = put_xdr_string(e, p->v.strs[i]);
			else
				rc = bk_buf_append(e->out, p->v.strs[i],
						   slen + 1, e->err);
		}
		break;
	case K_NVLS:
		if (e->xdr) {
			for (i = 0; i < n && !rc; i++)
				rc = pack_list(e, p->v.nvls[i]);
			break;
		}
		rc = put_zero(e, (uint64_t)n * 8);
		for (i = 0; i < n && !rc; i++)
			rc = put_nvl_struct(e, p->v.nvls[i]);
		break;
	default:
		break;
	}
	return rc;
}

static enum bk_code pack_pair(struct enc *e, const struct bk_nvpair *p)
{
	const struct tinfo *ti = &types[p->type];
	uint64_t size = native_pair_size(p), vsize = native_value_size(p);
	size_t namelen = strlen(p->name), start = e->out->len;
	enum bk_code rc;
	uint64_t esize;
	uint32_t i;

	if (size > PAIR_MAX)
		return bk_error_set(e->err, BK_ERR_LIMIT,
				    "nvpair %s too large to pack", p->name);
	if (e->xdr) {
		rc = put_zero(e, 4); /* encoded size, patched below */
		if (!rc)
			rc = put_n(e, size, 4, true);
		if (!rc)
			rc = put_xdr_string(e, p->name);
		if (!rc)
			rc = put_n(e, (uint32_t)p->type, 4, true);
		if (!rc)
			rc = put_n(e, p->nelem, 4, true);
		if (!rc)
			rc = pack_value(e, p);
		if (rc)
			return rc;
		esize = e->out->len - start;
		/* libnvpair counts an array's count word even when empty */
		if (p->nelem == 0 && (ti->kind == K_INTS ||
				      (ti->kind == K_BYTES &&
				       p->type != BK_NV_BYTE_ARRAY)))
			esize += 4;
		if (esize > PAIR_MAX)
			return bk_error_set(e->err, BK_ERR_LIMIT,
					    "nvpair %s too large to pack",
					    p->name);
		for (i = 0; i < 4; i++)
			e->out->data[start + i] =
				(uint8_t)(esize >> (8 * (3 - i)));
		return BK_OK;
	}
	rc = put_n(e, size, 4, e->be);
	if (!rc)
		rc = put_n(e, namelen + 1, 2, e->be);
	if (!rc)
		rc = put_zero(e, 2);
	if (!rc)
		rc = put_n(e, p->nelem, 4, e->be);
	if (!rc)
		rc = put_n(e, (uint32_t)p->type, 4, e->be);
	if (!rc)
		rc = bk_buf_append(e->out, p->name, namelen, e->err);
	if (!rc)
		rc = put_zero(e, align8(NVP_HDR + namelen + 1) - NVP_HDR -
				      namelen);
	if (!rc)
		rc = pack_value(e, p);
	if (!rc)
		rc = put_zero(e, align8(vsize) - vsize);
	if (rc)
		return rc;
	/* nested lists follow the pair */
	if (ti->kind == K_NVL)
		return pack_list(e, p->v.nvl);
	for (i = 0; ti->kind == K_NVLS && i < p->nelem && !rc; i++)
		rc = pack_list(e, p->v.nvls[i]);
	return rc;
}

static enum bk_code pack_pairs(struct enc *e, const struct bk_nvlist *nvl)
{
	const struct bk_nvpair *p;
	enum bk_code rc = BK_OK;

	for (p = nvl->head; p && !rc; p = p->next)
		rc = pack_pair(e, p);
	return rc;
}

enum bk_code bk_nvlist_pack(const struct bk_nvlist *nvl,
			    enum bk_nv_encoding enc, bool bigendian,
			    struct bk_buf *out, struct bk_error *err)
{
	struct enc e;
	uint8_t hdr[4];
	size_t start = out->len;
	enum bk_code rc;

	if (enc != BK_NV_NATIVE && enc != BK_NV_XDR)
		return bk_error_set(err, BK_ERR_USAGE,
				    "unknown nvlist encoding %d", (int)enc);
	e.out = out;
	e.be = bigendian;
	e.xdr = enc == BK_NV_XDR;
	e.err = err;
	hdr[0] = (uint8_t)enc;
	hdr[1] = bigendian ? 0 : 1;
	hdr[2] = 0;
	hdr[3] = 0;
	rc = bk_buf_append(out, hdr, sizeof(hdr), err);
	if (rc)
		goto out;
	if (e.xdr) {
		rc = pack_list(&e, nvl);
		goto out;
	}
	rc = put_n(&e, (uint32_t)nvl->version, 4, e.be);
	if (!rc)
		rc = put_n(&e, nvl->nvflag, 4, e.be);
	if (!rc)
		rc = pack_pairs(&e, nvl);
	if (!rc)
		rc = put_zero(&e, 4);
out:
	if (!rc && out->len - start > PAIR_MAX)
		rc = bk_error_set(err, BK_ERR_LIMIT,
				  "packed nvlist over %u bytes", PAIR_MAX);
	return rc;
}
