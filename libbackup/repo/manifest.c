/* SPDX-License-Identifier: MIT */
/*
 * Manifests: sealed text, one "key value" per line (docs/repository.md).
 * Parsed with every value checked; unknown keys are ignored so that later
 * versions can add fields.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "repo/repo_impl.h"

#define MANIFEST_MAGIC "zbak-manifest 1"

enum bk_code manifest_encode(const struct manifest *m, struct bk_buf *out,
			     struct bk_error *err)
{
	char dig[2 * BK_ID_LEN + 1];
	enum bk_code rc;

	bk_id_hex(&m->digest, dig);
	rc = bk_buf_printf(
		out, err,
		MANIFEST_MAGIC "\nname %s\ndataset %s\nsnapshot %s\n"
		"toguid %016" PRIx64 "\nfromguid %016" PRIx64
		"\ncreation_time %" PRIu64 "\nstream_bytes %" PRIu64
		"\nrecords %" PRIu64 "\nsubstreams %" PRIu32
		"\ncompound %d\nend_checksum %" PRIx64 "/%" PRIx64 "/%" PRIx64
		"/%" PRIx64 "\ndigest %s\nchunks %" PRIu64
		"\nnew_bytes %" PRIu64 "\nstarted %" PRIu64
		"\nfinished %" PRIu64 "\ntool zbak " ZBAK_VERSION "\ncounts",
		m->name, m->dataset, m->snap, m->toguid, m->fromguid,
		m->creation_time, m->stream_bytes, m->records, m->substreams,
		m->compound ? 1 : 0, m->end_checksum.word[0],
		m->end_checksum.word[1], m->end_checksum.word[2],
		m->end_checksum.word[3], dig, m->chunks, m->new_bytes,
		m->started, m->finished);
	for (int t = 0; !rc && t < BK_DRR_NUMTYPES; t++)
		rc = bk_buf_printf(out, err, " %" PRIu64, m->count[t]);
	if (!rc)
		rc = bk_buf_printf(out, err, "\n");
	/* a line older readers skip; without it a package counts as
	 * incremental (chain.c) */
	if (!rc && m->compound && m->package != MANIFEST_PACKAGE_UNKNOWN)
		rc = bk_buf_printf(out, err, "package %s\n",
				   m->package == MANIFEST_PACKAGE_FULL
					   ? "full"
					   : "incremental");
	for (size_t i = 0; !rc && i < m->nsegments; i++) {
		bk_id_hex(&m->segments[i], dig);
		rc = bk_buf_printf(out, err, "recipe %s\n", dig);
	}
	return rc;
}

static int u64val(const char *s, int base, uint64_t *v)
{
	char *end;

	if (!*s || *s == '-' || *s == ' ')
		return -1;
	errno = 0;
	*v = strtoull(s, &end, base);
	return errno || *end ? -1 : 0;
}

static int strval(const char *s, char *dst, size_t n)
{
	size_t l = strlen(s);

	if (l >= n)
		return -1;
	memcpy(dst, s, l + 1);
	return 0;
}

enum bk_code manifest_parse(const uint8_t *p, size_t len, struct manifest *m,
			    struct bk_error *err)
{
	char *text = NULL, *line, *save = NULL;
	size_t cap = 0;
	enum bk_code rc = BK_OK;
	unsigned lineno = 0;
	bool have_digest = false, have_name = false;

	memset(m, 0, sizeof(*m));
	if (len > MAX_MANIFEST || memchr(p, '\0', len))
		return bk_error_set(err, BK_ERR_FORMAT, "manifest: bad size "
				    "or NUL byte");
	text = malloc(len + 1);
	if (!text)
		return bk_error_set(err, BK_ERR_NOMEM, "out of memory");
	memcpy(text, p, len);
	text[len] = '\0';
	for (line = strtok_r(text, "\n", &save); line && !rc;
	     line = strtok_r(NULL, "\n", &save)) {
		char *val = strchr(line, ' ');
		int bad = 0;

		lineno++;
		if (lineno == 1) {
			if (strcmp(line, MANIFEST_MAGIC) != 0)
				rc = bk_error_set(err, BK_ERR_FORMAT,
						  "not a version 1 manifest");
			continue;
		}
		if (!val) {
			bad = 1;
			goto check;
		}
		*val++ = '\0';
		if (!strcmp(line, "name")) {
			bad = strval(val, m->name, sizeof(m->name));
			have_name = !bad;
		} else if (!strcmp(line, "dataset"))
			bad = strval(val, m->dataset, sizeof(m->dataset));
		else if (!strcmp(line, "snapshot"))
			bad = strval(val, m->snap, sizeof(m->snap));
		else if (!strcmp(line, "toguid"))
			bad = u64val(val, 16, &m->toguid);
		else if (!strcmp(line, "fromguid"))
			bad = u64val(val, 16, &m->fromguid);
		else if (!strcmp(line, "creation_time"))
			bad = u64val(val, 10, &m->creation_time);
		else if (!strcmp(line, "stream_bytes"))
			bad = u64val(val, 10, &m->stream_bytes);
		else if (!strcmp(line, "records"))
			bad = u64val(val, 10, &m->records);
		else if (!strcmp(line, "substreams")) {
			uint64_t v;

			bad = u64val(val, 10, &v) || v > UINT32_MAX;
			m->substreams = (uint32_t)v;
		} else if (!strcmp(line, "compound"))
			m->compound = !strcmp(val, "1");
		else if (!strcmp(line, "package"))
			m->package = !strcmp(val, "full")
					     ? MANIFEST_PACKAGE_FULL
				     : !strcmp(val, "incremental")
					     ? MANIFEST_PACKAGE_INCREMENTAL
					     : MANIFEST_PACKAGE_UNKNOWN;
		else if (!strcmp(line, "end_checksum"))
			bad = sscanf(val, "%" SCNx64 "/%" SCNx64 "/%" SCNx64
				     "/%" SCNx64,
				     &m->end_checksum.word[0],
				     &m->end_checksum.word[1],
				     &m->end_checksum.word[2],
				     &m->end_checksum.word[3]) != 4;
		else if (!strcmp(line, "digest")) {
			bad = bk_id_parse(val, &m->digest, NULL) != BK_OK;
			have_digest = !bad;
		} else if (!strcmp(line, "chunks"))
			bad = u64val(val, 10, &m->chunks);
		else if (!strcmp(line, "new_bytes"))
			bad = u64val(val, 10, &m->new_bytes);
		else if (!strcmp(line, "started"))
			bad = u64val(val, 10, &m->started);
		else if (!strcmp(line, "finished"))
			bad = u64val(val, 10, &m->finished);
		else if (!strcmp(line, "counts")) {
			char *s = val, *tok, *sv = NULL;

			for (int t = 0; t < BK_DRR_NUMTYPES && !bad; t++) {
				tok = strtok_r(t ? NULL : s, " ", &sv);
				bad = !tok || u64val(tok, 10, &m->count[t]);
			}
		} else if (!strcmp(line, "recipe")) {
			if (m->nsegments == cap) {
				size_t nc = cap ? cap * 2 : 8;
				struct bk_id *ns = realloc(
					m->segments, nc * sizeof(*ns));

				if (!ns) {
					rc = bk_error_set(err, BK_ERR_NOMEM,
							  "out of memory");
					break;
				}
				m->segments = ns;
				cap = nc;
			}
			bad = bk_id_parse(val, &m->segments[m->nsegments],
					  NULL) != BK_OK;
			m->nsegments += !bad;
		}
check:
		if (bad && !rc)
			rc = bk_error_set(err, BK_ERR_FORMAT,
					  "manifest line %u: bad value",
					  lineno);
	}
	if (!rc && (!have_name || !have_digest || !m->nsegments))
		rc = bk_error_set(err, BK_ERR_FORMAT,
				  "manifest: name, digest or recipe missing");
	free(text);
	if (rc)
		manifest_release(m);
	return rc;
}

void manifest_release(struct manifest *m)
{
	free(m->segments);
	m->segments = NULL;
	m->nsegments = 0;
}

enum bk_code manifest_load(struct bk_repo *r, const char *key,
			   struct manifest *m, struct bk_error *err)
{
	struct bk_buf b;
	struct bk_id ident;
	enum bk_code rc;

	memset(m, 0, sizeof(*m));
	bk_buf_init(&b, MAX_MANIFEST);
	rc = repo_get_opened_id(r, BK_OBJ_MANIFEST, key, MAX_MANIFEST, &b,
				&ident, err);
	/* (not when the storage refused the request: its answer says why) */
	if (rc == BK_ERR_AUTH && !strstr(err->msg, " answered "))
		rc = bk_error_set(err, BK_ERR_AUTH,
				  "manifest %s: authentication failed (altered, "
				  "or moved from another name)",
				  key);
	if (!rc) {
		rc = manifest_parse(b.data, b.len, m, err);
		if (rc)
			bk_error_prefix(err, "%s", key);
		m->ident = ident;
	}
	bk_buf_release(&b);
	return rc;
}
