/* SPDX-License-Identifier: MIT */
/*
 * The chunk index: chunk id -> (pack, offset, sealed length, raw length).
 * In memory an open-addressing table under a read-write lock; in the store
 * one sealed object per push (docs/repository.md).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "repo/repo_impl.h"

#define IDX_MAGIC "ZBKIDX01"
#define IDX_ENTRY 80u

struct slot {
	struct bk_id id;
	uint64_t off;
	uint32_t pack; /* index into packs[] */
	uint32_t len, rawlen;
	uint8_t used, flags;
};

struct bk_index {
	pthread_rwlock_t lock;
	struct slot *tab;
	size_t cap, count;
	struct bk_id *packs;
	size_t npacks, packcap;
	uint32_t *packtab; /* open addressing over packs[], value+1 */
	size_t packtabcap;
	size_t objects;
	size_t listed; /* packs[0, listed) are named by index objects */
};

static uint64_t h64(const struct bk_id *id)
{
	uint64_t h;

	memcpy(&h, id->b, 8); /* ids are uniformly distributed */
	return h;
}

enum bk_code index_new(struct bk_index **out, struct bk_error *err)
{
	struct bk_index *idx = calloc(1, sizeof(*idx));

	*out = NULL;
	if (!idx)
		return bk_error_set(err, BK_ERR_NOMEM, "out of memory");
	idx->cap = 1024;
	idx->tab = calloc(idx->cap, sizeof(*idx->tab));
	idx->packtabcap = 256;
	idx->packtab = calloc(idx->packtabcap, sizeof(*idx->packtab));
	if (!idx->tab || !idx->packtab) {
		free(idx->tab);
		free(idx->packtab);
		free(idx);
		return bk_error_set(err, BK_ERR_NOMEM, "out of memory");
	}
	pthread_rwlock_init(&idx->lock, NULL);
	*out = idx;
	return BK_OK;
}

void index_free(struct bk_index *idx)
{
	if (!idx)
		return;
	pthread_rwlock_destroy(&idx->lock);
	free(idx->tab);
	free(idx->packs);
	free(idx->packtab);
	free(idx);
}

static struct slot *find(struct bk_index *idx, const struct bk_id *id)
{
	size_t mask = idx->cap - 1, i = (size_t)h64(id) & mask;

	for (;;) {
		struct slot *s = &idx->tab[i];

		if (!s->used || memcmp(&s->id, id, sizeof(*id)) == 0)
			return s;
		i = (i + 1) & mask;
	}
}

static int grow(struct bk_index *idx)
{
	struct slot *old = idx->tab;
	size_t oldcap = idx->cap;

	idx->tab = calloc(oldcap * 2, sizeof(*idx->tab));
	if (!idx->tab) {
		idx->tab = old;
		return -1;
	}
	idx->cap = oldcap * 2;
	for (size_t i = 0; i < oldcap; i++)
		if (old[i].used)
			*find(idx, &old[i].id) = old[i];
	free(old);
	return 0;
}

/* pack id -> number, adding it if new; UINT32_MAX when out of memory */
static uint32_t pack_no(struct bk_index *idx, const struct bk_id *pack)
{
	size_t mask, i;

	if (idx->npacks * 2 >= idx->packtabcap) {
		uint32_t *nt = calloc(idx->packtabcap * 2, sizeof(*nt));

		if (!nt)
			return UINT32_MAX;
		free(idx->packtab);
		idx->packtab = nt;
		idx->packtabcap *= 2;
		mask = idx->packtabcap - 1;
		for (size_t p = 0; p < idx->npacks; p++) {
			i = (size_t)h64(&idx->packs[p]) & mask;
			while (nt[i])
				i = (i + 1) & mask;
			nt[i] = (uint32_t)p + 1;
		}
	}
	mask = idx->packtabcap - 1;
	i = (size_t)h64(pack) & mask;
	while (idx->packtab[i]) {
		uint32_t p = idx->packtab[i] - 1;

		if (memcmp(&idx->packs[p], pack, sizeof(*pack)) == 0)
			return p;
		i = (i + 1) & mask;
	}
	if (idx->npacks == idx->packcap) {
		size_t nc = idx->packcap ? idx->packcap * 2 : 64;
		struct bk_id *np = realloc(idx->packs, nc * sizeof(*np));

		if (!np)
			return UINT32_MAX;
		idx->packs = np;
		idx->packcap = nc;
	}
	idx->packs[idx->npacks] = *pack;
	idx->packtab[i] = (uint32_t)idx->npacks + 1;
	return (uint32_t)idx->npacks++;
}

/* Insert or update under the write lock held by the caller. */
static int put_locked(struct bk_index *idx, const struct bk_id *id,
		      const struct bk_loc *loc, unsigned flags)
{
	struct slot *s;

	if ((idx->count + 1) * 4 >= idx->cap * 3 && grow(idx))
		return -1;
	s = find(idx, id);
	if (!s->used) {
		s->used = 1;
		s->id = *id;
		idx->count++;
	}
	s->flags = (uint8_t)flags;
	if (loc) {
		uint32_t p = pack_no(idx, &loc->pack);

		if (p == UINT32_MAX)
			return -1;
		s->pack = p;
		s->off = loc->off;
		s->len = loc->len;
		s->rawlen = loc->rawlen;
	}
	return 0;
}

bool index_get(struct bk_index *idx, const struct bk_id *id,
	       struct bk_loc *loc)
{
	struct slot *s;
	bool found;

	pthread_rwlock_rdlock(&idx->lock);
	s = find(idx, id);
	found = s->used && !(s->flags & IDX_PENDING);
	if (found && loc) {
		loc->pack = idx->packs[s->pack];
		loc->off = s->off;
		loc->len = s->len;
		loc->rawlen = s->rawlen;
	}
	pthread_rwlock_unlock(&idx->lock);
	return found;
}

enum bk_code index_claim(struct bk_index *idx, const struct bk_id *id,
			 struct bk_error *err)
{
	enum bk_code rc = BK_OK;
	struct slot *s;

	pthread_rwlock_wrlock(&idx->lock);
	s = find(idx, id);
	if (s->used)
		rc = BK_ERR_EXISTS;
	else if (put_locked(idx, id, NULL, IDX_PENDING))
		rc = bk_error_set(err, BK_ERR_NOMEM,
				  "out of memory growing the chunk index");
	pthread_rwlock_unlock(&idx->lock);
	return rc;
}

void index_set(struct bk_index *idx, const struct bk_id *id,
	       const struct bk_loc *loc, unsigned flags)
{
	pthread_rwlock_wrlock(&idx->lock);
	put_locked(idx, id, loc, flags);
	pthread_rwlock_unlock(&idx->lock);
}

size_t index_count(struct bk_index *idx)
{
	return idx->count;
}

size_t index_objects(struct bk_index *idx)
{
	return idx->objects;
}

static enum bk_code parse_index(struct bk_index *idx, const char *key,
				const uint8_t *p, size_t len, unsigned flags,
				struct bk_error *err)
{
	uint32_t n;

	if (len < 12 || memcmp(p, IDX_MAGIC, 8) != 0)
		return bk_error_set(err, BK_ERR_FORMAT, "%s: not an index",
				    key);
	n = get_le32(p + 8);
	if ((len - 12) / IDX_ENTRY != n || (len - 12) % IDX_ENTRY)
		return bk_error_set(err, BK_ERR_FORMAT,
				    "%s: %" PRIu32 " entries do not fit in "
				    "%zu bytes",
				    key, n, len);
	pthread_rwlock_wrlock(&idx->lock);
	for (uint32_t i = 0; i < n; i++) {
		const uint8_t *e = p + 12 + (size_t)i * IDX_ENTRY;
		struct bk_id id;
		struct bk_loc loc;

		memcpy(id.b, e, 32);
		memcpy(loc.pack.b, e + 32, 32);
		loc.off = get_le64(e + 64);
		loc.len = get_le32(e + 72);
		loc.rawlen = get_le32(e + 76);
		if (put_locked(idx, &id, &loc, flags)) {
			pthread_rwlock_unlock(&idx->lock);
			return bk_error_set(err, BK_ERR_NOMEM,
					    "out of memory loading %s", key);
		}
	}
	pthread_rwlock_unlock(&idx->lock);
	return BK_OK;
}

bool index_pack_listed(struct bk_index *idx, const struct bk_id *pack)
{
	size_t mask, i;
	bool listed = false;

	pthread_rwlock_rdlock(&idx->lock);
	mask = idx->packtabcap - 1;
	i = (size_t)h64(pack) & mask;
	while (idx->packtab[i]) {
		uint32_t p = idx->packtab[i] - 1;

		if (memcmp(&idx->packs[p], pack, sizeof(*pack)) == 0) {
			listed = p < idx->listed;
			break;
		}
		i = (i + 1) & mask;
	}
	pthread_rwlock_unlock(&idx->lock);
	return listed;
}

static bool pack_known(struct bk_index *idx, const struct bk_id *pack)
{
	size_t mask = idx->packtabcap - 1, i = (size_t)h64(pack) & mask;

	while (idx->packtab[i]) {
		if (memcmp(&idx->packs[idx->packtab[i] - 1], pack,
			   sizeof(*pack)) == 0)
			return true;
		i = (i + 1) & mask;
	}
	return false;
}

/* Index the chunks of an unindexed pack that open and match their ids. */
static enum bk_code orphan_pack(struct bk_repo *r, struct bk_index *idx,
				const struct bk_id *pack, uint64_t size,
				struct bk_error *err)
{
	struct pack_entry *e = NULL;
	struct bk_buf raw, plain, chunk;
	struct bk_error perr;
	char key[80];
	size_t n = 0;
	enum bk_code rc;

	repo_pack_key(pack, key);
	bk_buf_init(&raw, size + 1);
	bk_buf_init(&plain, BK_DRR_MAX_PAYLOAD + 64);
	bk_buf_init(&chunk, BK_DRR_MAX_PAYLOAD + 1);
	rc = pack_read_header(r, pack, size, &e, &n, &perr);
	if (!rc)
		rc = bk_store_get(r->store, key, &raw, &perr);
	if (rc) {
		/* unreadable (cut short by a crash, say): garbage, which
		 * verify reports and a collection removes */
		rc = rc == BK_ERR_NOMEM ? bk_error_set(err, rc, "%s", perr.msg)
					: BK_OK;
		goto out;
	}
	for (size_t j = 0; j < n; j++) {
		struct bk_loc loc = { *pack, e[j].off, e[j].len, e[j].rawlen };

		if (e[j].off + e[j].len > raw.len || index_get(idx, &e[j].id,
							       NULL))
			continue;
		if (chunk_open_blob(r->keys, &e[j].id, key, e[j].off,
				    raw.data + e[j].off, e[j].len, &plain,
				    &chunk, &perr) == BK_OK &&
		    chunk.len == e[j].rawlen)
			index_set(idx, &e[j].id, &loc, IDX_ORPHAN);
	}
out:
	free(e);
	bk_buf_release(&raw);
	bk_buf_release(&plain);
	bk_buf_release(&chunk);
	return rc;
}

enum bk_code index_load(struct bk_repo *r, struct bk_index *idx,
			bool scan_orphans, bool use_cache,
			struct bk_error *err)
{
	struct keylist keys = { 0 }, packs = { 0 };
	struct bk_buf sealed, plain;
	enum bk_code rc;

	bk_buf_init(&plain, MAX_INDEX_OBJECT);
	bk_buf_init(&sealed, MAX_INDEX_OBJECT + BK_SEAL_OVERHEAD);
	rc = keylist_collect(r->store, "index/", &keys, err);
	for (size_t i = 0; !rc && i < keys.n; i++) {
		/* a remote repository's index objects come from the local
		 * cache when it has them */
		if (use_cache) {
			rc = repo_cache_get_index(r, keys.key[i], keys.size[i],
						  &sealed, err);
		} else {
			bk_buf_reset(&sealed);
			rc = bk_store_get(r->store, keys.key[i], &sealed, err);
		}
		bk_buf_reset(&plain);
		if (!rc)
			rc = bk_open(r->keys, BK_OBJ_INDEX, keys.key[i],
				     sealed.data, sealed.len, &plain, err);
		if (!rc)
			rc = parse_index(idx, keys.key[i], plain.data,
					 plain.len, 0, err);
		if (!rc)
			idx->objects++;
	}
	/* the packs numbered so far are the ones index objects name */
	pthread_rwlock_wrlock(&idx->lock);
	idx->listed = idx->npacks;
	pthread_rwlock_unlock(&idx->lock);
	if (!rc && use_cache)
		repo_cache_prune(r, keys.key, keys.n);
	/* listing data/ is cheap on a directory; on a remote store only when
	 * a push on this machine died, or nothing is known (new cache) */
	if (rc || !scan_orphans ||
	    (bk_store_remote(r->store) && !repo_cache_need_scan(r)))
		goto out;
	rc = keylist_collect(r->store, "data/", &packs, err);
	for (size_t i = 0; !rc && i < packs.n; i++) {
		const char *base = strrchr(packs.key[i], '/');
		struct bk_id pack;
		bool known;

		if (!base || bk_id_parse(base + 1, &pack, NULL) != BK_OK)
			continue; /* not a pack: verify reports it */
		pthread_rwlock_rdlock(&idx->lock);
		known = pack_known(idx, &pack);
		pthread_rwlock_unlock(&idx->lock);
		/* a pack no index covers: a push died before its index.  It
		 * may not have been synced, so every chunk is read and
		 * authenticated before it is reused. */
		if (!known)
			rc = orphan_pack(r, idx, &pack, packs.size[i], err);
	}
	if (!rc)
		repo_cache_scanned(r);
out:
	keylist_free(&keys);
	keylist_free(&packs);
	bk_buf_release(&plain);
	bk_buf_release(&sealed);
	return rc;
}

enum bk_code index_write(struct bk_repo *r, struct bk_index *idx,
			 uint64_t *stored, struct bk_error *err)
{
	struct bk_buf b;
	uint8_t head[12], e[IDX_ENTRY], rnd[BK_ID_LEN];
	struct bk_id oid;
	char hex[2 * BK_ID_LEN + 1], key[96];
	uint32_t n = 0;
	enum bk_code rc = BK_OK;

	bk_buf_init(&b, MAX_INDEX_OBJECT);
	memcpy(head, IDX_MAGIC, 8);
	le32(head + 8, 0);
	rc = bk_buf_append(&b, head, sizeof(head), err);
	pthread_rwlock_rdlock(&idx->lock);
	for (size_t i = 0; !rc && i < idx->cap; i++) {
		const struct slot *s = &idx->tab[i];

		if (!s->used || !(s->flags & (IDX_NEW | IDX_ORPHAN)))
			continue;
		memcpy(e, s->id.b, 32);
		memcpy(e + 32, idx->packs[s->pack].b, 32);
		le64(e + 64, s->off);
		le32(e + 72, s->len);
		le32(e + 76, s->rawlen);
		rc = bk_buf_append(&b, e, sizeof(e), err);
		n++;
	}
	pthread_rwlock_unlock(&idx->lock);
	if (rc || n == 0)
		goto out;
	le32(b.data + 8, n);
	bk_random(rnd, sizeof(rnd));
	memcpy(oid.b, rnd, sizeof(rnd));
	bk_id_hex(&oid, hex);
	snprintf(key, sizeof(key), "index/%s", hex);
	rc = repo_put_sealed(r, BK_OBJ_INDEX, key, b.data, b.len, true, stored,
			     err);
	if (rc)
		goto out;
	/* written: from now on they are ordinary entries */
	pthread_rwlock_wrlock(&idx->lock);
	for (size_t i = 0; i < idx->cap; i++)
		idx->tab[i].flags &= (uint8_t)~(IDX_NEW | IDX_ORPHAN);
	idx->objects++;
	pthread_rwlock_unlock(&idx->lock);
out:
	bk_buf_release(&b);
	return rc;
}

enum bk_code index_foreach(struct bk_index *idx, index_fn fn, void *ctx,
			   struct bk_error *err)
{
	enum bk_code rc = BK_OK;

	pthread_rwlock_rdlock(&idx->lock);
	for (size_t i = 0; !rc && i < idx->cap; i++) {
		const struct slot *s = &idx->tab[i];
		struct bk_loc loc;

		if (!s->used || (s->flags & IDX_PENDING))
			continue;
		loc.pack = idx->packs[s->pack];
		loc.off = s->off;
		loc.len = s->len;
		loc.rawlen = s->rawlen;
		rc = fn(ctx, &s->id, &loc, err);
	}
	pthread_rwlock_unlock(&idx->lock);
	return rc;
}

/* For the fuzz target: parse an index object's plaintext. */
enum bk_code repo_fuzz_index(const uint8_t *p, size_t len);
enum bk_code repo_fuzz_index(const uint8_t *p, size_t len)
{
	struct bk_index *idx = NULL;
	enum bk_code rc = index_new(&idx, NULL);

	if (!rc)
		rc = parse_index(idx, "fuzz", p, len, 0, NULL);
	index_free(idx);
	return rc;
}
