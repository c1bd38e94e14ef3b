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

/* A second place an index object gives for a chunk already known. */
struct alt {
	struct bk_id id;
	struct bk_loc loc;
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
	struct alt *alts; /* while loading: resolved at the end */
	size_t nalts, altcap;
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
	free(idx->alts);
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

enum bk_code index_claim_present(struct bk_index *idx, const struct bk_id *id,
				 struct packcheck *pc, struct bk_error *err)
{
	struct slot *s;
	struct bk_id pack;
	uint64_t need;
	bool there = false;
	enum bk_code rc;

	pthread_rwlock_wrlock(&idx->lock);
	s = find(idx, id);
	if (!s->used) {
		rc = put_locked(idx, id, NULL, IDX_PENDING)
			     ? bk_error_set(err, BK_ERR_NOMEM,
					    "out of memory growing the chunk "
					    "index")
			     : BK_OK;
		pthread_rwlock_unlock(&idx->lock);
		return rc;
	}
	if (s->flags & (IDX_PENDING | IDX_NEW)) {
		pthread_rwlock_unlock(&idx->lock);
		return BK_ERR_EXISTS;
	}
	pack = idx->packs[s->pack];
	need = s->off + s->len;
	pthread_rwlock_unlock(&idx->lock);

	rc = packcheck_has(pc, &pack, need, &there, err);
	if (rc)
		return rc;
	if (there)
		return BK_ERR_EXISTS;
	/* its pack is gone (or cut short): claim it again, unless another
	 * thread did meanwhile */
	pthread_rwlock_wrlock(&idx->lock);
	s = find(idx, id);
	rc = BK_ERR_EXISTS;
	if (s->used && !(s->flags & (IDX_PENDING | IDX_NEW)) &&
	    !memcmp(&idx->packs[s->pack], &pack, sizeof(pack))) {
		s->flags = IDX_PENDING;
		rc = BK_OK;
	}
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

		struct slot *s;

		memcpy(id.b, e, 32);
		memcpy(loc.pack.b, e + 32, 32);
		loc.off = get_le64(e + 64);
		loc.len = get_le32(e + 72);
		loc.rawlen = get_le32(e + 76);
		/* a chunk another index object places in another pack (two
		 * pushes stored it, or one stored it again because its pack
		 * had gone): the first place stays, the others are kept
		 * aside for index_load to choose a pack that is there */
		s = find(idx, &id);
		if (s->used && !(s->flags & IDX_PENDING) &&
		    memcmp(&idx->packs[s->pack], &loc.pack, sizeof(loc.pack))) {
			if (idx->nalts == idx->altcap) {
				size_t nc = idx->altcap ? 2 * idx->altcap : 16;
				struct alt *na =
					realloc(idx->alts, nc * sizeof(*na));

				if (!na) {
					pthread_rwlock_unlock(&idx->lock);
					return bk_error_set(err, BK_ERR_NOMEM,
							    "out of memory "
							    "loading %s",
							    key);
				}
				idx->alts = na;
				idx->altcap = nc;
			}
			idx->alts[idx->nalts].id = id;
			idx->alts[idx->nalts++].loc = loc;
			continue;
		}
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

/* The packs of a data/ listing, sorted: which are there. */
struct present {
	struct bk_id *v;
	size_t n;
};

static int cmp_pack_id(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct bk_id));
}

static bool is_present(const struct present *p, const struct bk_id *pack)
{
	return p->n && bsearch(pack, p->v, p->n, sizeof(*p->v), cmp_pack_id);
}

/* Does the index lack this chunk, or place it in a pack that is gone? */
static bool wanted(struct bk_index *idx, const struct present *p,
		   const struct bk_id *id)
{
	struct bk_loc loc;

	return !index_get(idx, id, &loc) || !is_present(p, &loc.pack);
}

/* Index the chunks of a pack that the index lacks (or places in a pack
 * that is gone), once they open and match their ids. */
static enum bk_code orphan_pack(struct bk_repo *r, struct bk_index *idx,
				const struct present *there,
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
	if (!rc) {
		/* only what the index does not know yet is read */
		size_t unknown = 0;

		for (size_t j = 0; j < n; j++)
			unknown += wanted(idx, there, &e[j].id);
		if (!unknown)
			goto out;
		rc = bk_store_get(r->store, key, &raw, &perr);
	}
	if (rc) {
		/* unreadable (cut short by a crash, say): garbage, which
		 * verify reports and a collection removes */
		rc = rc == BK_ERR_NOMEM ? bk_error_set(err, rc, "%s", perr.msg)
					: BK_OK;
		goto out;
	}
	for (size_t j = 0; j < n; j++) {
		struct bk_loc loc = { *pack, e[j].off, e[j].len, e[j].rawlen };

		if (e[j].off + e[j].len > raw.len ||
		    !wanted(idx, there, &e[j].id))
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

/*
 * Chunks with more than one place: keep one in a pack that is there (the
 * first one when it is, another when it is not), asking the store about
 * each pack involved once.  Rare: two concurrent pushes stored a chunk
 * twice, or a push stored it again because its pack had gone.
 */
static enum bk_code resolve_alts(struct bk_repo *r, struct bk_index *idx,
				 struct bk_error *err)
{
	struct packcheck *pc = NULL;
	enum bk_code rc = BK_OK;

	if (!idx->nalts)
		return BK_OK;
	rc = packcheck_new(r, &pc, err);
	for (size_t i = 0; !rc && i < idx->nalts; i++) {
		const struct alt *a = &idx->alts[i];
		struct bk_loc cur;
		bool there = false;

		if (!index_get(idx, &a->id, &cur))
			continue;
		rc = packcheck_has(pc, &cur.pack, cur.off + cur.len, &there,
				   err);
		if (rc || there)
			continue;
		rc = packcheck_has(pc, &a->loc.pack, a->loc.off + a->loc.len,
				   &there, err);
		if (!rc && there)
			index_set(idx, &a->id, &a->loc, 0);
	}
	packcheck_free(pc);
	free(idx->alts);
	idx->alts = NULL;
	idx->nalts = idx->altcap = 0;
	return rc;
}

/* Is this failure to open an object its damage (rather than the store's
 * trouble, which must fail the command)? */
static bool damage(enum bk_code rc)
{
	return rc == BK_ERR_AUTH || rc == BK_ERR_FORMAT ||
	       rc == BK_ERR_LIMIT || rc == BK_ERR_TRUNCATED;
}

/* Open and parse one sealed index object. */
static enum bk_code load_one(struct bk_repo *r, struct bk_index *idx,
			     const char *key, const struct bk_buf *sealed,
			     struct bk_buf *plain, struct bk_error *err)
{
	enum bk_code rc;

	bk_buf_reset(plain);
	rc = bk_open(r->keys, BK_OBJ_INDEX, key, sealed->data, sealed->len,
		     plain, err);
	if (!rc)
		rc = parse_index(idx, key, plain->data, plain->len, 0, err);
	return rc;
}

enum bk_code index_load(struct bk_repo *r, struct bk_index *idx,
			bool scan_orphans, bool use_cache,
			bk_report_fn damaged, void *ctx,
			struct bk_error *err)
{
	struct keylist keys = { 0 }, packs = { 0 };
	struct present there = { NULL, 0 };
	struct bk_buf sealed, plain;
	bool skipped = false;
	enum bk_code rc;

	bk_buf_init(&plain, MAX_INDEX_OBJECT);
	bk_buf_init(&sealed, MAX_INDEX_OBJECT + BK_SEAL_OVERHEAD);
	rc = keylist_collect(r->store, "index/", &keys, err);
	for (size_t i = 0; !rc && i < keys.n; i++) {
		struct bk_error e2;
		char line[BK_ERROR_MSG_MAX + 300];

		bk_error_clear(&e2);
		/* a remote repository's index objects come from the local
		 * cache when it has them */
		if (use_cache) {
			rc = repo_cache_get_index(r, keys.key[i], keys.size[i],
						  &sealed, err);
		} else {
			bk_buf_reset(&sealed);
			rc = bk_store_get(r->store, keys.key[i], &sealed, err);
		}
		if (rc == BK_ERR_NOTFOUND) { /* gone since the listing */
			bk_error_clear(err);
			rc = BK_OK;
			continue;
		}
		if (rc)
			break; /* the store's trouble: the command fails */
		rc = load_one(r, idx, keys.key[i], &sealed, &plain, &e2);
		if (rc && damage(rc) && use_cache && r->cache) {
			/* the cached copy, or the object itself? */
			struct bk_error e3;

			bk_buf_reset(&sealed);
			if (bk_store_get(r->store, keys.key[i], &sealed, &e3) ==
				    BK_OK &&
			    load_one(r, idx, keys.key[i], &sealed, &plain,
				     &e3) == BK_OK) {
				repo_warn(r,
					  "the local cache's copy of %s was "
					  "damaged (%s): the cache was at "
					  "fault, not the repository; copy "
					  "replaced",
					  keys.key[i], e2.msg);
				bk_store_put(r->cache, keys.key[i],
					     sealed.data, sealed.len, &e3);
				rc = BK_OK;
			}
		}
		if (rc && damage(rc)) {
			snprintf(line, sizeof(line),
				 "%s does not open (%s): skipped; the chunks "
				 "it listed are found from the packs "
				 "themselves ('zbak repair' writes a new "
				 "index)",
				 keys.key[i], e2.msg);
			if (damaged)
				damaged(ctx, line);
			skipped = true;
			rc = BK_OK;
			continue;
		}
		if (rc) {
			if (err)
				*err = e2;
			break;
		}
		idx->objects++;
	}
	if (!rc)
		rc = resolve_alts(r, idx, err);
	/* the packs numbered so far are the ones index objects name */
	pthread_rwlock_wrlock(&idx->lock);
	idx->listed = idx->npacks;
	pthread_rwlock_unlock(&idx->lock);
	if (!rc && use_cache)
		repo_cache_prune(r, keys.key, keys.n);
	/* listing data/ is cheap on a directory; on a remote store only when
	 * a push on this machine died, nothing is known (new cache), or an
	 * index object was skipped */
	if (rc || (!scan_orphans && !skipped) ||
	    (bk_store_remote(r->store) && !skipped &&
	     !repo_cache_need_scan(r)))
		goto out;
	rc = keylist_collect(r->store, "data/", &packs, err);
	if (!rc && packs.n && !(there.v = calloc(packs.n, sizeof(*there.v))))
		rc = bk_error_set(err, BK_ERR_NOMEM, "out of memory");
	for (size_t i = 0; !rc && i < packs.n; i++) {
		const char *base = strrchr(packs.key[i], '/');

		if (base && bk_id_parse(base + 1, &there.v[there.n], NULL) ==
				    BK_OK)
			there.n++;
	}
	if (there.n > 1)
		qsort(there.v, there.n, sizeof(*there.v), cmp_pack_id);
	for (size_t i = 0; !rc && i < packs.n; i++) {
		const char *base = strrchr(packs.key[i], '/');
		struct bk_id pack;
		bool known;

		if (!base || bk_id_parse(base + 1, &pack, NULL) != BK_OK)
			continue; /* not a pack: verify reports it */
		pthread_rwlock_rdlock(&idx->lock);
		known = pack_known(idx, &pack);
		pthread_rwlock_unlock(&idx->lock);
		/* a pack no index covers: a push died before its index; or,
		 * when an index object did not open, any pack (the others
		 * may list only part of it): its header says which chunks
		 * it holds, and those the index lacks are read and
		 * authenticated (it may not have been synced) before they
		 * are reused */
		if (!known || skipped)
			rc = orphan_pack(r, idx, &there, &pack, packs.size[i],
					 err);
	}
	if (!rc)
		repo_cache_scanned(r);
out:
	free(there.v);
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
	put_le32(head + 8, 0);
	rc = bk_buf_append(&b, head, sizeof(head), err);
	pthread_rwlock_rdlock(&idx->lock);
	for (size_t i = 0; !rc && i < idx->cap; i++) {
		const struct slot *s = &idx->tab[i];

		if (!s->used || !(s->flags & (IDX_NEW | IDX_ORPHAN)))
			continue;
		memcpy(e, s->id.b, 32);
		memcpy(e + 32, idx->packs[s->pack].b, 32);
		put_le64(e + 64, s->off);
		put_le32(e + 72, s->len);
		put_le32(e + 76, s->rawlen);
		rc = bk_buf_append(&b, e, sizeof(e), err);
		n++;
	}
	pthread_rwlock_unlock(&idx->lock);
	if (rc || n == 0)
		goto out;
	put_le32(b.data + 8, n);
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
