/* SPDX-License-Identifier: MIT */
/*
 * S3 response bodies, parsed with libxml2 from memory: no network
 * (XML_PARSE_NONET), no entity substitution (no XML_PARSE_NOENT), no DTD
 * loading, no "huge" mode, errors not printed.  S3 never sends a DTD, so
 * a body containing "<!DOCTYPE" or "<!ENTITY" is refused before parsing;
 * bodies are bounded by S3_XML_MAX.  Elements are matched by local name,
 * whatever their namespace.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "store/s3_impl.h"

#define TEXT_MAX 4096 /* longest key, token or id we accept */

void s3_xml_init(void)
{
	xmlInitParser();
}

static bool has_dtd(const char *buf, size_t len)
{
	return memmem(buf, len, "<!DOCTYPE", 9) || memmem(buf, len, "<!ENTITY", 8);
}

static enum bk_code parse(const char *buf, size_t len, const char *what,
			  xmlDocPtr *doc, struct bk_error *err)
{
	*doc = NULL;
	if (len > S3_XML_MAX)
		return bk_error_set(err, BK_ERR_LIMIT,
				    "s3 %s: response of %zu bytes exceeds %zu",
				    what, len, S3_XML_MAX);
	if (len == 0)
		return bk_error_set(err, BK_ERR_FORMAT, "s3 %s: empty response",
				    what);
	if (has_dtd(buf, len))
		return bk_error_set(err, BK_ERR_FORMAT,
				    "s3 %s: response has a DTD", what);
	*doc = xmlReadMemory(buf, (int)len, "s3.xml", NULL,
			     XML_PARSE_NONET | XML_PARSE_NOERROR |
				     XML_PARSE_NOWARNING | XML_PARSE_NOCDATA);
	if (!*doc || !xmlDocGetRootElement(*doc)) {
		xmlFreeDoc(*doc);
		*doc = NULL;
		return bk_error_set(err, BK_ERR_FORMAT,
				    "s3 %s: response is not XML", what);
	}
	return BK_OK;
}

static bool named(xmlNodePtr n, const char *name)
{
	return n->type == XML_ELEMENT_NODE &&
	       strcmp((const char *)n->name, name) == 0;
}

static xmlNodePtr child(xmlNodePtr parent, const char *name)
{
	for (xmlNodePtr n = parent->children; n; n = n->next)
		if (named(n, name))
			return n;
	return NULL;
}

/* The text of an element (text and CDATA children only), malloc'ed; NULL
 * when longer than TEXT_MAX or out of memory.  *toolong tells which. */
static char *text_of(xmlNodePtr e, bool *toolong)
{
	size_t len = 0;
	char *s;

	*toolong = false;
	for (xmlNodePtr n = e->children; n; n = n->next)
		if ((n->type == XML_TEXT_NODE ||
		     n->type == XML_CDATA_SECTION_NODE) && n->content) {
			len += strlen((const char *)n->content);
			if (len > TEXT_MAX) {
				*toolong = true;
				return NULL;
			}
		}
	s = malloc(len + 1);
	if (!s)
		return NULL;
	len = 0;
	for (xmlNodePtr n = e->children; n; n = n->next)
		if ((n->type == XML_TEXT_NODE ||
		     n->type == XML_CDATA_SECTION_NODE) && n->content) {
			size_t l = strlen((const char *)n->content);

			memcpy(s + len, n->content, l);
			len += l;
		}
	s[len] = '\0';
	return s;
}

static enum bk_code text_child(xmlNodePtr parent, const char *name,
			       const char *what, char **out,
			       struct bk_error *err)
{
	xmlNodePtr e = child(parent, name);
	bool toolong;

	*out = NULL;
	if (!e)
		return BK_OK;
	*out = text_of(e, &toolong);
	if (*out)
		return BK_OK;
	return toolong ? bk_error_set(err, BK_ERR_LIMIT,
				      "s3 %s: %s longer than %d bytes", what,
				      name, TEXT_MAX)
		       : bk_error_set(err, BK_ERR_NOMEM, "s3 %s: out of memory",
				      what);
}

void s3_list_page_release(struct s3_list_page *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->items[i].key);
	free(p->items);
	free(p->next_token);
	free(p->next_version);
	memset(p, 0, sizeof(*p));
}

static enum bk_code parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || s[0] < '0' || s[0] > '9')
		return BK_ERR_FORMAT;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end)
		return BK_ERR_FORMAT;
	*out = v;
	return BK_OK;
}

/* One entry of a listing page (a ListBucketResult's Contents, a
 * ListVersionsResult's Version or DeleteMarker, which has no Size): its
 * key and size appended to out, whose items have room for *cap. */
static enum bk_code add_item(struct s3_list_page *out, size_t *cap,
			     xmlNodePtr n, bool marker, const char *what,
			     struct bk_error *err)
{
	struct s3_list_item *it;
	char *key = NULL, *size = NULL;
	enum bk_code rc;

	if (out->n >= S3_LIST_ITEMS_MAX)
		return bk_error_set(err, BK_ERR_LIMIT,
				    "s3 %s: more than %d keys in one page",
				    what, S3_LIST_ITEMS_MAX);
	if (out->n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 64;

		it = realloc(out->items, ncap * sizeof(*it));
		if (!it)
			return bk_error_set(err, BK_ERR_NOMEM,
					    "s3 %s: out of memory", what);
		out->items = it;
		*cap = ncap;
	}
	rc = text_child(n, "Key", what, &key, err);
	if (!rc && !marker)
		rc = text_child(n, "Size", what, &size, err);
	if (!rc && (!key || !key[0]))
		rc = bk_error_set(err, BK_ERR_FORMAT,
				  "s3 %s: an entry without a key", what);
	it = &out->items[out->n];
	it->size = 0;
	it->marker = marker;
	if (!rc && !marker && parse_size(size, &it->size))
		rc = bk_error_set(err, BK_ERR_FORMAT,
				  "s3 %s: entry %.200s: bad size", what, key);
	free(size);
	if (rc) {
		free(key);
		return rc;
	}
	it->key = key;
	out->n++;
	return BK_OK;
}

enum bk_code s3_xml_list(const char *buf, size_t len, struct s3_list_page *out,
			 struct bk_error *err)
{
	xmlDocPtr doc = NULL;
	xmlNodePtr root;
	char *t = NULL;
	size_t cap = 0;
	enum bk_code rc;

	memset(out, 0, sizeof(*out));
	rc = parse(buf, len, "list", &doc, err);
	if (rc)
		goto out;
	root = xmlDocGetRootElement(doc);
	if (!named(root, "ListBucketResult")) {
		rc = bk_error_set(err, BK_ERR_FORMAT,
				  "s3 list: response is not a ListBucketResult");
		goto out;
	}
	rc = text_child(root, "IsTruncated", "list", &t, err);
	if (rc)
		goto out;
	out->truncated = t && strcmp(t, "true") == 0;
	free(t);
	t = NULL;
	rc = text_child(root, "NextContinuationToken", "list",
			&out->next_token, err);
	if (rc)
		goto out;
	if (out->truncated && (!out->next_token || !out->next_token[0])) {
		rc = bk_error_set(err, BK_ERR_FORMAT,
				  "s3 list: truncated listing without a continuation token");
		goto out;
	}
	for (xmlNodePtr n = root->children; !rc && n; n = n->next)
		if (named(n, "Contents"))
			rc = add_item(out, &cap, n, false, "list", err);
out:
	free(t);
	if (rc)
		s3_list_page_release(out);
	xmlFreeDoc(doc);
	return rc;
}

enum bk_code s3_xml_versions(const char *buf, size_t len,
			     struct s3_list_page *out, struct bk_error *err)
{
	xmlDocPtr doc = NULL;
	xmlNodePtr root;
	char *t = NULL;
	size_t cap = 0;
	enum bk_code rc;

	memset(out, 0, sizeof(*out));
	rc = parse(buf, len, "versions", &doc, err);
	if (rc)
		goto out;
	root = xmlDocGetRootElement(doc);
	if (!named(root, "ListVersionsResult")) {
		rc = bk_error_set(err, BK_ERR_UNSUPPORTED,
				  "s3 versions: response is not a "
				  "ListVersionsResult");
		goto out;
	}
	rc = text_child(root, "IsTruncated", "versions", &t, err);
	if (!rc)
		out->truncated = t && strcmp(t, "true") == 0;
	if (!rc)
		rc = text_child(root, "NextKeyMarker", "versions",
				&out->next_token, err);
	if (!rc)
		rc = text_child(root, "NextVersionIdMarker", "versions",
				&out->next_version, err);
	if (!rc && out->truncated &&
	    (!out->next_token || !out->next_token[0]))
		rc = bk_error_set(err, BK_ERR_FORMAT,
				  "s3 versions: truncated without a marker");
	for (xmlNodePtr n = root->children; !rc && n; n = n->next) {
		bool marker = named(n, "DeleteMarker");

		if (marker || named(n, "Version"))
			rc = add_item(out, &cap, n, marker, "versions", err);
	}
out:
	free(t);
	if (rc)
		s3_list_page_release(out);
	xmlFreeDoc(doc);
	return rc;
}

/* Copy s into out (cap bytes), control bytes replaced by '?'. */
static void copy_clean(char *out, size_t cap, const char *s)
{
	size_t i;

	if (!cap)
		return;
	for (i = 0; s && s[i] && i + 1 < cap; i++)
		out[i] = ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) ? '?'
								      : s[i];
	out[i] = '\0';
}

bool s3_xml_error(const char *buf, size_t len, char *code, size_t codecap,
		  char *message, size_t msgcap)
{
	xmlDocPtr doc = NULL;
	xmlNodePtr root;
	char *c = NULL, *m = NULL;
	bool ok = false;

	copy_clean(code, codecap, "");
	copy_clean(message, msgcap, "");
	if (parse(buf, len, "error", &doc, NULL))
		goto out;
	root = xmlDocGetRootElement(doc);
	if (!named(root, "Error"))
		goto out;
	if (text_child(root, "Code", "error", &c, NULL) ||
	    text_child(root, "Message", "error", &m, NULL))
		goto out;
	copy_clean(code, codecap, c);
	copy_clean(message, msgcap, m);
	ok = c && c[0];
out:
	free(c);
	free(m);
	xmlFreeDoc(doc);
	return ok;
}

enum bk_code s3_xml_upload_id(const char *buf, size_t len, char **upload_id,
			      struct bk_error *err)
{
	xmlDocPtr doc = NULL;
	xmlNodePtr root;
	enum bk_code rc;

	*upload_id = NULL;
	rc = parse(buf, len, "create multipart upload", &doc, err);
	if (rc)
		goto out;
	root = xmlDocGetRootElement(doc);
	if (!named(root, "InitiateMultipartUploadResult")) {
		rc = bk_error_set(err, BK_ERR_FORMAT,
				  "s3 create multipart upload: unexpected response");
		goto out;
	}
	rc = text_child(root, "UploadId", "create multipart upload", upload_id,
			err);
	if (!rc && (!*upload_id || !(*upload_id)[0]))
		rc = bk_error_set(err, BK_ERR_FORMAT,
				  "s3 create multipart upload: no UploadId");
out:
	if (rc) {
		free(*upload_id);
		*upload_id = NULL;
	}
	xmlFreeDoc(doc);
	return rc;
}
