/* SPDX-License-Identifier: MIT */
/*
 * Text and JSON renderings of an nvlist, built on the public iteration API.
 *
 * The text is what `zstream dump -v` prints for a BEGIN payload: an
 * "nvlist encoding = ..." line, then libnvpair's nvlist_print() layout:
 * "nvlist version: N" at the list's indent, one line per pair one tab
 * deeper ("name = value"; arrays space-separated on one line, an empty
 * array printing only the line break), nested lists as
 * "name = (embedded nvlist)", the list one level in, "(end name)" and a
 * blank line; nvlist arrays as "(array of embedded nvlists)" with
 * "(start name[i])" / "(end name[i])" around each and one blank line after.
 */
#include <math.h>
#include <stdio.h>

#include "backup/nvlist.h"

static enum bk_code tabs(struct bk_buf *out, unsigned n, struct bk_error *err)
{
	static const char t[] = "\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t";
	enum bk_code rc = BK_OK;
	unsigned k;

	while (n && !rc) {
		k = n > sizeof(t) - 1 ? (unsigned)sizeof(t) - 1 : n;
		rc = bk_buf_append(out, t, k, err);
		n -= k;
	}
	return rc;
}

/* Element i of p in nvlist_print()'s format for its type. */
static enum bk_code print_elem(struct bk_buf *out, const struct bk_nvpair *p,
			       uint32_t i, struct bk_error *err)
{
	uint64_t v = 0;
	double dv = 0;

	switch (bk_nvpair_type(p)) {
	case BK_NV_STRING:
	case BK_NV_STRING_ARRAY:
		return bk_buf_printf(out, err, "%s", bk_nvpair_string(p, i));
	case BK_NV_DOUBLE:
		bk_nvpair_double(p, &dv);
		return bk_buf_printf(out, err, "0x%f", dv);
	case BK_NV_BOOLEAN:
		return bk_buf_printf(out, err, "%d", 1);
	default:
		break;
	}
	if (!bk_nvpair_integer(p, i, &v))
		return bk_error_set(err, BK_ERR_INTERNAL,
				    "nvpair %s: no value %u",
				    bk_nvpair_name(p), i);
	switch (bk_nvpair_type(p)) {
	case BK_NV_BYTE:
	case BK_NV_BYTE_ARRAY:
		return bk_buf_printf(out, err, "0x%2.2x", (unsigned)(uint8_t)v);
	case BK_NV_UINT8:
	case BK_NV_UINT8_ARRAY:
	case BK_NV_UINT16:
	case BK_NV_UINT16_ARRAY:
	case BK_NV_UINT32:
	case BK_NV_UINT32_ARRAY:
		return bk_buf_printf(out, err, "0x%x", (unsigned)v);
	case BK_NV_UINT64:
	case BK_NV_UINT64_ARRAY:
	case BK_NV_HRTIME:
		return bk_buf_printf(out, err, "0x%llx", (unsigned long long)v);
	case BK_NV_INT64:
	case BK_NV_INT64_ARRAY:
		return bk_buf_printf(out, err, "%lld", (long long)(int64_t)v);
	default: /* int8/16/32 and booleans */
		return bk_buf_printf(out, err, "%d", (int)(int64_t)v);
	}
}

static enum bk_code print_list(const struct bk_nvlist *nvl, unsigned indent,
			       struct bk_buf *out, struct bk_error *err);

static enum bk_code print_pair(const struct bk_nvpair *p, unsigned indent,
			       struct bk_buf *out, struct bk_error *err)
{
	const char *name = bk_nvpair_name(p);
	enum bk_nv_type type = bk_nvpair_type(p);
	uint32_t i, n = bk_nvpair_nelem(p);
	enum bk_code rc = BK_OK;

	if (type == BK_NV_NVLIST) {
		rc = tabs(out, indent + 1, err);
		if (!rc)
			rc = bk_buf_printf(out, err, "%s = (embedded nvlist)\n",
					   name);
		if (!rc)
			rc = print_list(bk_nvpair_nvlist(p, 0), indent + 1, out,
					err);
		if (!rc)
			rc = tabs(out, indent + 1, err);
		if (!rc)
			rc = bk_buf_printf(out, err, "(end %s)\n\n", name);
		return rc;
	}
	if (type == BK_NV_NVLIST_ARRAY) {
		rc = tabs(out, indent + 1, err);
		if (!rc)
			rc = bk_buf_printf(out, err,
					   "%s = (array of embedded nvlists)\n",
					   name);
		for (i = 0; i < n && !rc; i++) {
			rc = tabs(out, indent + 1, err);
			if (!rc)
				rc = bk_buf_printf(out, err, "(start %s[%u])\n",
						   name, i);
			if (!rc)
				rc = print_list(bk_nvpair_nvlist(p, i),
						indent + 1, out, err);
			if (!rc)
				rc = tabs(out, indent + 1, err);
			if (!rc)
				rc = bk_buf_printf(out, err, "(end %s[%u])\n",
						   name, i);
		}
		return rc ? rc : bk_buf_append(out, "\n", 1, err);
	}
	if (!bk_nv_type_is_array(type))
		n = 1; /* BOOLEAN has no element but prints one */
	/* an empty array prints no name, only the line break */
	for (i = 0; i < n && !rc; i++) {
		if (i == 0) {
			rc = tabs(out, indent + 1, err);
			if (!rc)
				rc = bk_buf_printf(out, err, "%s = ", name);
		} else {
			rc = bk_buf_append(out, " ", 1, err);
		}
		if (!rc)
			rc = print_elem(out, p, i, err);
	}
	return rc ? rc : bk_buf_append(out, "\n", 1, err);
}

static enum bk_code print_list(const struct bk_nvlist *nvl, unsigned indent,
			       struct bk_buf *out, struct bk_error *err)
{
	const struct bk_nvpair *p;
	enum bk_code rc = tabs(out, indent, err);

	if (!rc)
		rc = bk_buf_printf(out, err, "nvlist version: %d\n",
				   (int)bk_nvlist_version(nvl));
	for (p = bk_nvlist_next(nvl, NULL); p && !rc; p = bk_nvlist_next(nvl, p))
		rc = print_pair(p, indent, out, err);
	return rc;
}

enum bk_code bk_nvlist_print(const struct bk_nvlist *nvl, struct bk_buf *out,
			     struct bk_error *err)
{
	return print_list(nvl, 0, out, err);
}

enum bk_code bk_nvlist_dump(const struct bk_nvlist *nvl, struct bk_buf *out,
			    struct bk_error *err)
{
	enum bk_code rc;

	if (bk_nvlist_encoding(nvl) == BK_NV_XDR)
		rc = bk_buf_printf(out, err, "nvlist encoding = NV_ENCODE_XDR\n");
	else
		rc = bk_buf_printf(out, err,
				   "nvlist encoding = NV_ENCODE_NATIVE (%s)\n",
				   bk_nvlist_bigendian(nvl) ? "big-endian"
							    : "little-endian");
	return rc ? rc : print_list(nvl, 0, out, err);
}

/* ---- JSON -------------------------------------------------------------- */

static enum bk_code json_list(const struct bk_nvlist *nvl, struct bk_buf *out,
			      struct bk_error *err);

static enum bk_code json_elem(const struct bk_nvpair *p, uint32_t i,
			      struct bk_buf *out, struct bk_error *err)
{
	enum bk_nv_type type = bk_nvpair_type(p);
	uint64_t v = 0;
	double dv = 0;

	switch (type) {
	case BK_NV_BOOLEAN:
		return bk_buf_append(out, "true", 4, err);
	case BK_NV_STRING:
	case BK_NV_STRING_ARRAY:
		return bk_buf_json_str(out, bk_nvpair_string(p, i), err);
	case BK_NV_NVLIST:
	case BK_NV_NVLIST_ARRAY:
		return json_list(bk_nvpair_nvlist(p, i), out, err);
	case BK_NV_DOUBLE:
		bk_nvpair_double(p, &dv);
		if (!isfinite(dv))
			return bk_buf_append(out, "null", 4, err);
		return bk_buf_printf(out, err, "%.17g", dv);
	default:
		break;
	}
	if (!bk_nvpair_integer(p, i, &v))
		return bk_error_set(err, BK_ERR_INTERNAL,
				    "nvpair %s: no value %u",
				    bk_nvpair_name(p), i);
	switch (type) {
	case BK_NV_BOOLEAN_VALUE:
	case BK_NV_BOOLEAN_ARRAY:
		return v ? bk_buf_append(out, "true", 4, err)
			 : bk_buf_append(out, "false", 5, err);
	case BK_NV_INT8:
	case BK_NV_INT8_ARRAY:
	case BK_NV_INT16:
	case BK_NV_INT16_ARRAY:
	case BK_NV_INT32:
	case BK_NV_INT32_ARRAY:
	case BK_NV_INT64:
	case BK_NV_INT64_ARRAY:
	case BK_NV_HRTIME:
		return bk_buf_printf(out, err, "%lld", (long long)(int64_t)v);
	default:
		return bk_buf_printf(out, err, "%llu", (unsigned long long)v);
	}
}

static enum bk_code json_pair(const struct bk_nvpair *p, struct bk_buf *out,
			      struct bk_error *err)
{
	uint32_t i, n = bk_nvpair_nelem(p);
	enum bk_code rc = bk_buf_json_str(out, bk_nvpair_name(p), err);

	if (!rc)
		rc = bk_buf_append(out, ": ", 2, err);
	if (rc || !bk_nv_type_is_array(bk_nvpair_type(p)))
		return rc ? rc : json_elem(p, 0, out, err);
	rc = bk_buf_append(out, "[", 1, err);
	for (i = 0; i < n && !rc; i++) {
		if (i)
			rc = bk_buf_append(out, ", ", 2, err);
		if (!rc)
			rc = json_elem(p, i, out, err);
	}
	return rc ? rc : bk_buf_append(out, "]", 1, err);
}

static enum bk_code json_list(const struct bk_nvlist *nvl, struct bk_buf *out,
			      struct bk_error *err)
{
	const struct bk_nvpair *p;
	enum bk_code rc = bk_buf_append(out, "{", 1, err);

	for (p = bk_nvlist_next(nvl, NULL); p && !rc;
	     p = bk_nvlist_next(nvl, p)) {
		if (p != bk_nvlist_next(nvl, NULL))
			rc = bk_buf_append(out, ", ", 2, err);
		if (!rc)
			rc = json_pair(p, out, err);
	}
	return rc ? rc : bk_buf_append(out, "}", 1, err);
}

enum bk_code bk_nvlist_to_json(const struct bk_nvlist *nvl,
			       struct bk_buf *out, struct bk_error *err)
{
	return json_list(nvl, out, err);
}
