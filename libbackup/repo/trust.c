/* SPDX-License-Identifier: MIT */
/*
 * What the storage cannot take back (docs/repository.md, "Threat model"):
 * whoever can write the bucket cannot forge or alter an object, but can
 * delete objects and put old ones back.  What zbak does about it:
 *
 *   a forgotten snapshot put back   `zbak forget` leaves a sealed record,
 *                                   forgotten/<manifest id>, for every
 *                                   manifest it removes, before removing
 *                                   it.  A manifest with such a record is
 *                                   never used again by any client: not
 *                                   listed (a warning says why), not
 *                                   restored (exit 3), not kept alive by
 *                                   gc; `zbak forget` removes it.  It is
 *                                   what a forget that did not finish
 *                                   leaves too, so it is no refusal;
 *   a snapshot deleted, or replaced this machine remembers every manifest
 *                                   it saw (state.c, "seen"); one that is
 *                                   gone, or another manifest under a name
 *                                   it saw, without a forget record of
 *                                   what it saw, is refused;
 *   an older key file put back      the key file has a generation, one
 *                                   more at every passphrase change; a
 *                                   generation below the highest this
 *                                   machine saw is refused.
 *
 * A manifest's id is the BLAKE2b-256 of its sealed bytes (random nonce:
 * every push's manifest has its own).  Refusals are BK_ERR_AUTH (exit 3);
 * `zbak accept-changes` (bk_repo_accept_changes) reports the changes and
 * makes this machine remember the repository as it is now.  What a
 * machine never saw it cannot miss: that limit is documented.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backup/clock.h"
#include "repo/repo_impl.h"

#define SEEN_FILE "seen"
#define SEEN_MAGIC "zbak-seen 1"
#define FORGOTTEN "forgotten/"
#define RECORD_MAX 4096

struct seen_snap {
	char key[BK_REPO_KEY_MAX];
	struct bk_id ident;
	uint64_t since; /* first seen, this machine's clock */
};

struct seen {
	bool have_keys;
	unsigned keys_generation;
	struct seen_snap *v;
	size_t n, cap;
};

static void seen_free(struct seen *s)
{
	free(s->v);
	memset(s, 0, sizeof(*s));
}

static int seen_add(struct seen *s, const char *key, const struct bk_id *id,
		    uint64_t since)
{
	if (s->n == s->cap) {
		size_t nc = s->cap ? 2 * s->cap : 64;
		struct seen_snap *nv = realloc(s->v, nc * sizeof(*nv));

		if (!nv)
			return -1;
		s->v = nv;
		s->cap = nc;
	}
	snprintf(s->v[s->n].key, sizeof(s->v[0].key), "%s", key);
	s->v[s->n].ident = *id;
	s->v[s->n].since = since;
	s->n++;
	return 0;
}

/* What this machine remembers (nothing, when it never looked or has no
 * state directory). */
static void seen_load(struct bk_repo *r, struct seen *s)
{
	char path[1100], line[800];
	FILE *f;

	memset(s, 0, sizeof(*s));
	if (repo_state_path(r, SEEN_FILE, path, sizeof(path)) ||
	    !(f = fopen(path, "re")))
		return;
	if (!fgets(line, sizeof(line), f) ||
	    strncmp(line, SEEN_MAGIC, strlen(SEEN_MAGIC)) != 0) {
		fclose(f);
		return;
	}
	while (fgets(line, sizeof(line), f)) {
		char hex[80], key[700];
		unsigned long long since;
		unsigned gen;
		struct bk_id id;

		line[strcspn(line, "\n")] = '\0';
		if (sscanf(line, "keys %u", &gen) == 1) {
			s->have_keys = true;
			s->keys_generation = gen;
		} else if (sscanf(line, "snap %79s %llu %699s", hex, &since,
				  key) == 3 &&
			   bk_id_parse(hex, &id, NULL) == BK_OK) {
			if (seen_add(s, key, &id, since))
				break;
		}
	}
	fclose(f);
}

static void seen_save(struct bk_repo *r, const struct seen *s)
{
	char hex[2 * BK_ID_LEN + 1];
	struct state_file sf;
	FILE *f = repo_state_create(r, SEEN_FILE, &sf);

	if (!f)
		return;
	fprintf(f, "%s\n", SEEN_MAGIC);
	if (s->have_keys)
		fprintf(f, "keys %u\n", s->keys_generation);
	for (size_t i = 0; i < s->n; i++) {
		bk_id_hex(&s->v[i].ident, hex);
		fprintf(f, "snap %s %" PRIu64 " %s\n", hex, s->v[i].since,
			s->v[i].key);
	}
	repo_state_commit(f, &sf);
}

/* ---- forget records ---------------------------------------------------------- */

/* The manifest ids that have a forget record, sorted (for bsearch). */
struct forgotten {
	struct bk_id *v;
	size_t n;
};

static int cmp_id(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct bk_id));
}

static enum bk_code forgotten_load(struct bk_repo *r, struct forgotten *fg,
				   struct bk_error *err)
{
	struct keylist keys = { 0 };
	enum bk_code rc;

	memset(fg, 0, sizeof(*fg));
	rc = keylist_collect(r->store, FORGOTTEN, &keys, err);
	if (!rc && keys.n && !(fg->v = calloc(keys.n, sizeof(*fg->v))))
		rc = bk_error_set(err, BK_ERR_NOMEM, "out of memory");
	for (size_t i = 0; !rc && i < keys.n; i++)
		if (bk_id_parse(keys.key[i] + strlen(FORGOTTEN),
				&fg->v[fg->n], NULL) == BK_OK)
			fg->n++;
	if (fg->n > 1)
		qsort(fg->v, fg->n, sizeof(*fg->v), cmp_id);
	keylist_free(&keys);
	return rc;
}

static bool is_forgotten(const struct forgotten *fg, const struct bk_id *id)
{
	return fg->n && bsearch(id, fg->v, fg->n, sizeof(*fg->v), cmp_id);
}

enum bk_code repo_forget_record(struct bk_repo *r, const char *name,
				const struct bk_id *ident,
				struct bk_error *err)
{
	char hex[2 * BK_ID_LEN + 1], key[96], body[RECORD_MAX], host[256] = "?";
	enum bk_code rc;

	bk_id_hex(ident, hex);
	snprintf(key, sizeof(key), FORGOTTEN "%s", hex);
	gethostname(host, sizeof(host) - 1);
	host[sizeof(host) - 1] = '\0';
	snprintf(body, sizeof(body),
		 "zbak-forgotten 1\nname %s\nmanifest %s\nforgot %" PRIu64
		 "\nhost %s\n",
		 name, hex, bk_now(), host);
	rc = repo_put_sealed(r, BK_OBJ_FORGOTTEN, key, body, strlen(body),
			     true, NULL, err);
	return rc == BK_ERR_EXISTS ? BK_OK : rc; /* a forget repeated */
}

/* "pool/fs@a, forgotten 2026-12-03 20:15 UTC on host h" for a message */
static void forgotten_when(struct bk_repo *r, const struct bk_id *ident,
			   char *out, size_t n)
{
	char hex[2 * BK_ID_LEN + 1], key[96], stamp[40] = "?", host[256] = "?";
	struct bk_buf b;
	struct bk_error e2;
	unsigned long long t = 0;
	const char *p;

	bk_id_hex(ident, hex);
	snprintf(key, sizeof(key), FORGOTTEN "%s", hex);
	bk_buf_init(&b, RECORD_MAX);
	if (repo_get_opened(r, BK_OBJ_FORGOTTEN, key, RECORD_MAX, &b, &e2) ==
	    BK_OK) {
		if ((p = strstr((const char *)b.data, "\nforgot ")))
			t = strtoull(p + 8, NULL, 10);
		if ((p = strstr((const char *)b.data, "\nhost ")))
			snprintf(host, sizeof(host), "%.*s",
				 (int)strcspn(p + 6, "\n"), p + 6);
	}
	bk_buf_release(&b);
	if (t) {
		time_t tt = (time_t)t;
		struct tm tm;

		if (gmtime_r(&tt, &tm))
			strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M UTC",
				 &tm);
	}
	snprintf(out, n, "forgotten %s on %s", stamp, host);
}

enum bk_code repo_manifest_forgotten(struct bk_repo *r,
				     const struct bk_id *ident, bool *yes,
				     struct bk_error *err)
{
	char hex[2 * BK_ID_LEN + 1], key[96];
	uint64_t size;
	enum bk_code rc;

	bk_id_hex(ident, hex);
	snprintf(key, sizeof(key), FORGOTTEN "%s", hex);
	rc = bk_store_head(r->store, key, &size, err);
	*yes = rc == BK_OK;
	return rc == BK_ERR_NOTFOUND ? BK_OK : rc;
}

enum bk_code repo_forgotten_name(struct bk_repo *r, const char *name,
				 bool *found, struct bk_error *err)
{
	struct keylist keys = { 0 };
	struct bk_buf b;
	char want[sizeof("\nname \n") + BK_REPO_NAME_MAX];
	enum bk_code rc;

	*found = false;
	snprintf(want, sizeof(want), "\nname %s\n", name);
	rc = keylist_collect(r->store, FORGOTTEN, &keys, err);
	bk_buf_init(&b, RECORD_MAX);
	for (size_t i = 0; !rc && !*found && i < keys.n; i++) {
		struct bk_error e2;

		if (repo_get_opened(r, BK_OBJ_FORGOTTEN, keys.key[i],
				    RECORD_MAX, &b, &e2) == BK_OK &&
		    strstr((const char *)b.data, want))
			*found = true;
	}
	bk_buf_release(&b);
	keylist_free(&keys);
	return rc;
}

/* ---- the checks -------------------------------------------------------------- */

struct verdict {
	struct bk_repo *r;
	size_t changes;
	char first[BK_ERROR_MSG_MAX];
};

static void change(struct verdict *vd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void change(struct verdict *vd, const char *fmt, ...)
{
	char line[BK_ERROR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	vd->r->trust_changes++;
	if (vd->r->accept_changes)
		repo_warn(vd->r, "accepted: %s", line);
	else if (!vd->changes) /* in the error */
		snprintf(vd->first, sizeof(vd->first), "%s", line);
	else
		repo_warn(vd->r, "also: %s", line);
	vd->changes++;
}

/* The refusal, when there were changes and they are not being accepted. */
static enum bk_code verdict(struct verdict *vd, struct bk_error *err)
{
	if (!vd->changes || vd->r->accept_changes)
		return BK_OK;
	return bk_error_set(err, BK_ERR_AUTH,
			    "the repository changed in a way zbak never "
			    "changes it: %s%s (if this was your doing, "
			    "'zbak accept-changes' makes this machine accept "
			    "the repository as it is now)",
			    vd->first,
			    vd->changes > 1 ? "; and more (above)" : "");
}

static void check_keys(struct verdict *vd, const struct seen *s)
{
	if (s->have_keys && vd->r->keys_generation < s->keys_generation)
		change(vd,
		       "the key file is of generation %u, but this machine "
		       "saw generation %u: an older key file was put back "
		       "(a passphrase change undone)",
		       vd->r->keys_generation, s->keys_generation);
}

enum bk_code repo_trust_keys(struct bk_repo *r, struct bk_error *err)
{
	struct verdict vd = { r, 0, "" };
	struct seen s;
	enum bk_code rc;

	seen_load(r, &s);
	check_keys(&vd, &s);
	rc = verdict(&vd, err);
	if (!rc && (!s.have_keys || s.keys_generation != r->keys_generation)) {
		s.have_keys = true;
		s.keys_generation = r->keys_generation;
		seen_save(r, &s);
	}
	seen_free(&s);
	return rc;
}

void repo_trust_keys_changed(struct bk_repo *r)
{
	struct seen s;

	seen_load(r, &s);
	s.have_keys = true;
	s.keys_generation = r->keys_generation;
	seen_save(r, &s);
	seen_free(&s);
}

/* Lookups by key in O(log n): a repository holds thousands of snapshots. */
static int cmp_seen_key(const void *a, const void *b)
{
	return strcmp(((const struct seen_snap *)a)->key,
		      ((const struct seen_snap *)b)->key);
}

static int cmp_snap_ptr(const void *a, const void *b)
{
	return strcmp((*(const struct trust_snap *const *)a)->key,
		      (*(const struct trust_snap *const *)b)->key);
}

static const struct trust_snap *listed(const struct trust_snap **by_key,
				       size_t n, const char *key)
{
	struct trust_snap want = { key, { { 0 } }, false, false };
	const struct trust_snap *w = &want, **hit;

	hit = n ? bsearch(&w, by_key, n, sizeof(*by_key), cmp_snap_ptr) : NULL;
	return hit ? *hit : NULL;
}

/* The entry of s (sorted by key) for key, or NULL. */
static const struct seen_snap *seen_find(const struct seen *s, const char *key)
{
	struct seen_snap want;

	snprintf(want.key, sizeof(want.key), "%s", key);
	return s->n ? bsearch(&want, s->v, s->n, sizeof(*s->v), cmp_seen_key)
		    : NULL;
}

struct trust_state {
	struct seen s;
};

struct trust_state *repo_trust_begin(struct bk_repo *r)
{
	struct trust_state *st = calloc(1, sizeof(*st));

	if (st)
		seen_load(r, &st->s);
	return st;
}

void repo_trust_abandon(struct trust_state *st)
{
	if (!st)
		return;
	seen_free(&st->s);
	free(st);
}

enum bk_code repo_trust_listing(struct bk_repo *r, struct trust_state *st,
				struct trust_snap *v, size_t n,
				struct bk_error *err)
{
	struct verdict vd = { r, 0, "" };
	const struct trust_snap **by_key = NULL;
	struct forgotten fg;
	struct seen s, next;
	char when[300];
	uint64_t now = bk_now();
	enum bk_code rc;

	memset(&s, 0, sizeof(s));
	if (st) { /* what it saw, read before the listing */
		s = st->s;
		free(st);
	}
	rc = forgotten_load(r, &fg, err);
	if (rc) {
		seen_free(&s);
		return rc;
	}
	if (n && !(by_key = calloc(n, sizeof(*by_key)))) {
		seen_free(&s);
		free(fg.v);
		return bk_error_set(err, BK_ERR_NOMEM, "out of memory");
	}
	for (size_t i = 0; i < n; i++)
		by_key[i] = &v[i];
	if (n > 1)
		qsort(by_key, n, sizeof(*by_key), cmp_snap_ptr);
	if (s.n > 1)
		qsort(s.v, s.n, sizeof(*s.v), cmp_seen_key);
	memset(&next, 0, sizeof(next));
	check_keys(&vd, &s);
	/* forgotten manifests still (or again) there: never used */
	for (size_t i = 0; i < n; i++) {
		v[i].forgotten = v[i].opened && is_forgotten(&fg, &v[i].ident);
		if (!v[i].forgotten)
			continue;
		/* under Object Lock it stays until its retention ends: as
		 * expected, and gc deletes it then */
		if (bk_store_lock_days(r->store))
			continue;
		forgotten_when(r, &v[i].ident, when, sizeof(when));
		repo_warn(r,
			  "%s was %s, but its manifest is there: a forget that "
			  "did not finish, or an old manifest put back; it is "
			  "not used ('zbak forget' of that snapshot removes "
			  "it)",
			  v[i].key, when);
	}
	/* what this machine saw: gone, or replaced, without a forget */
	for (size_t i = 0; i < s.n; i++) {
		const struct seen_snap *o = &s.v[i];
		const struct trust_snap *t = listed(by_key, n, o->key);

		if (t && (!t->opened ||
			  !memcmp(&t->ident, &o->ident, sizeof(o->ident))))
			continue; /* the same (or unreadable: reported) */
		if (is_forgotten(&fg, &o->ident))
			continue; /* forgotten, maybe pushed again since */
		if (!t)
			change(&vd,
			       "%s, which this machine saw, is gone without a "
			       "zbak forget (deleted behind zbak's back)",
			       o->key);
		else
			change(&vd,
			       "%s holds another manifest than the one this "
			       "machine saw there, which was never forgotten "
			       "(replaced behind zbak's back)",
			       o->key);
	}
	rc = verdict(&vd, err);
	if (!rc) {
		/* remember the repository as it is now */
		next.have_keys = true;
		next.keys_generation = r->keys_generation;
		for (size_t i = 0; i < n && !rc; i++) {
			const struct seen_snap *o = seen_find(&s, v[i].key);
			uint64_t since = now;

			if (!v[i].opened || v[i].forgotten)
				continue;
			if (o && !memcmp(&o->ident, &v[i].ident,
					 sizeof(v[i].ident)))
				since = o->since;
			if (seen_add(&next, v[i].key, &v[i].ident, since))
				rc = bk_error_set(err, BK_ERR_NOMEM,
						  "out of memory");
		}
		/* what did not open stays as it was remembered */
		for (size_t i = 0; i < s.n && !rc; i++) {
			const struct trust_snap *t =
				listed(by_key, n, s.v[i].key);

			if (t && !t->opened &&
			    seen_add(&next, s.v[i].key, &s.v[i].ident,
				     s.v[i].since))
				rc = bk_error_set(err, BK_ERR_NOMEM,
						  "out of memory");
		}
		if (!rc)
			seen_save(r, &next);
	}
	seen_free(&next);
	seen_free(&s);
	free(fg.v);
	free(by_key);
	return rc;
}

enum bk_code repo_trust_manifest(struct bk_repo *r, const char *key,
				 const struct bk_id *ident,
				 struct bk_error *err)
{
	struct verdict vd = { r, 0, "" };
	struct forgotten fg;
	struct seen s;
	char when[300];
	enum bk_code rc;

	rc = forgotten_load(r, &fg, err);
	if (rc)
		return rc;
	seen_load(r, &s);
	check_keys(&vd, &s);
	if (is_forgotten(&fg, ident)) {
		forgotten_when(r, ident, when, sizeof(when));
		change(&vd,
		       "%s was %s: its manifest is a leftover of a forget "
		       "that did not finish, or an old one put back, and is "
		       "not used ('zbak forget' of that snapshot removes it)",
		       key, when);
	}
	for (size_t i = 0; i < s.n; i++)
		if (!strcmp(s.v[i].key, key) &&
		    memcmp(&s.v[i].ident, ident, sizeof(*ident)) &&
		    !is_forgotten(&fg, &s.v[i].ident))
			change(&vd,
			       "%s holds another manifest than the one this "
			       "machine saw there, which was never forgotten "
			       "(replaced behind zbak's back)",
			       key);
	rc = verdict(&vd, err);
	seen_free(&s);
	free(fg.v);
	return rc;
}

void repo_trust_pushed(struct bk_repo *r, const char *key,
		       const struct bk_id *ident)
{
	struct seen s;

	seen_load(r, &s);
	if (!seen_add(&s, key, ident, bk_now()))
		seen_save(r, &s);
	seen_free(&s);
}

enum bk_code bk_repo_accept_changes(struct bk_repo *r, size_t *changes,
				    struct bk_error *err)
{
	struct bk_snapshot *v = NULL;
	size_t n = 0;
	enum bk_code rc;

	r->accept_changes = true;
	r->trust_changes = 0;
	repo_mode_accept(r);
	rc = bk_list(r, &v, &n, err);
	free(v);
	r->accept_changes = false;
	*changes = r->trust_changes;
	return rc;
}
