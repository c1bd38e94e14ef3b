/* SPDX-License-Identifier: MIT */
/*
 * A stored snapshot read in place (include/backup/snapread.h): its recipe
 * walked and its chunks fetched by id, through the same restore operations
 * as a restore (repo_pipe.h: restore_open, get_recipe, locate,
 * load_chunks), so the same checks apply.  And the local cache of derived
 * data, sealed with the repository's keys.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backup/snapread.h"
#include "repo/repo_impl.h"

/* A ranged read spans chunks of one pack with gaps of at most GAP_MAX
 * between them (a bigger gap: two reads, rather than fetching what lies
 * between); the whole range is bounded all the same. */
#define GAP_MAX (256u << 10)
#define SNAPREAD_RANGE_MAX ((size_t)1 << 30)

struct bk_snapread {
	struct bk_repo *r;
	void *sess;
	struct manifest m;
	struct bk_buf sealed, plain; /* load_chunks' scratch */
};

enum bk_code bk_snapread_open(struct bk_repo *r, const char *name,
			      struct bk_snapread **out, struct bk_error *err)
{
	struct bk_snapread *s = calloc(1, sizeof(*s));
	enum bk_code rc;

	*out = NULL;
	if (!s)
		return bk_error_set(err, BK_ERR_NOMEM, "out of memory");
	s->r = r;
	rc = repo_pipe_real.restore_open(r, name, &s->sess, &s->m, err);
	if (rc) {
		free(s);
		return rc;
	}
	bk_buf_init(&s->sealed, SNAPREAD_RANGE_MAX);
	bk_buf_init(&s->plain, BK_DRR_MAX_PAYLOAD + BK_CHUNK_MAX + 64);
	*out = s;
	return BK_OK;
}

void bk_snapread_close(struct bk_snapread *s)
{
	if (!s)
		return;
	repo_pipe_real.restore_close(s->sess);
	manifest_release(&s->m);
	bk_buf_release(&s->sealed);
	bk_buf_release(&s->plain);
	free(s);
}

void bk_snapread_ident(const struct bk_snapread *s, struct bk_id *id)
{
	*id = s->m.ident;
}

uint64_t bk_snapread_stream_bytes(const struct bk_snapread *s)
{
	return s->m.stream_bytes;
}

enum bk_code bk_snapread_walk(struct bk_snapread *s, bk_snapread_fn fn,
			      void *ctx, uint64_t *recipe_bytes,
			      struct bk_error *err)
{
	struct bk_buf seg;
	struct bk_hash digest;
	struct bk_id got;
	enum bk_code rc = BK_OK;

	*recipe_bytes = 0;
	bk_buf_init(&seg, RECIPE_SEGMENT + BK_DRR_MAX_BEGIN_PAYLOAD + 1024);
	bk_hash_init(&digest);
	for (size_t i = 0; !rc && i < s->m.nsegments; i++) {
		struct recipe_iter it;
		struct recipe_entry e;
		struct bk_snapread_entry x;

		rc = repo_pipe_real.get_recipe(s->sess, &s->m.segments[i], &seg,
					       err);
		if (rc)
			break;
		bk_hash_update(&digest, seg.data, seg.len);
		*recipe_bytes += seg.len;
		recipe_iter_init(&it, seg.data, seg.len);
		while (!rc && recipe_next(&it, &e)) {
			memset(&x, 0, sizeof(x));
			x.chunk = e.kind == RECIPE_CHUNK;
			x.id = e.id;
			x.rawlen = e.rawlen;
			x.hdr = e.hdr;
			x.payload = e.payload;
			x.inline_len = e.inline_len;
			x.chunked_len = e.chunked_len;
			rc = fn(ctx, &x, err);
		}
		if (!rc && it.damaged)
			rc = bk_error_set(err, BK_ERR_FORMAT,
					  "%s: recipe segment %zu: a damaged "
					  "entry at byte %zu",
					  s->m.name, i, it.pos);
	}
	bk_buf_release(&seg);
	if (rc)
		return rc;
	bk_hash_final(&digest, &got);
	if (memcmp(&got, &s->m.digest, sizeof(got)) != 0)
		return bk_error_set(err, BK_ERR_CHECKSUM,
				    "%s: the recipe's digest does not match "
				    "the manifest",
				    s->m.name);
	return BK_OK;
}

struct want {
	struct bk_loc loc;
	size_t i; /* in ids */
};

static int by_pack(const void *a, const void *b)
{
	const struct want *x = a, *y = b;
	int c = memcmp(&x->loc.pack, &y->loc.pack, sizeof(x->loc.pack));

	if (c)
		return c;
	return x->loc.off < y->loc.off ? -1 : x->loc.off > y->loc.off;
}

/* The chunks of w[0..n), all in one pack, with one ranged read. */
static enum bk_code load_pack(struct bk_snapread *s, const struct want *w,
			      size_t n, const struct bk_id *ids,
			      struct bk_buf *out, struct bk_error *err)
{
	struct repo_blob *b = calloc(n, sizeof(*b));
	struct bk_error *errs = calloc(n, sizeof(*errs));
	enum bk_code rc = BK_OK;

	if (!b || !errs) {
		free(b);
		free(errs);
		return bk_error_set(err, BK_ERR_NOMEM, "out of memory");
	}
	for (size_t k = 0; k < n; k++) {
		b[k].id = ids[w[k].i];
		b[k].off = w[k].loc.off;
		b[k].len = w[k].loc.len;
		b[k].out = &out[w[k].i];
		b[k].err = &errs[k];
		bk_buf_reset(b[k].out);
	}
	repo_pipe_real.load_chunks(s->sess, &w[0].loc.pack, b, n, &s->sealed,
				   &s->plain);
	for (size_t k = 0; k < n && !rc; k++)
		if (b[k].rc) {
			*err = errs[k];
			rc = b[k].rc;
		}
	free(b);
	free(errs);
	return rc;
}

enum bk_code bk_snapread_load(struct bk_snapread *s, const struct bk_id *ids,
			      size_t n, struct bk_buf *out,
			      struct bk_error *err)
{
	struct want *w;
	enum bk_code rc = BK_OK;
	size_t a = 0;

	if (!n)
		return BK_OK;
	if (!(w = calloc(n, sizeof(*w))))
		return bk_error_set(err, BK_ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < n && !rc; i++) {
		w[i].i = i;
		if (!repo_pipe_real.locate(s->sess, &ids[i], &w[i].loc)) {
			char hex[2 * BK_ID_LEN + 1];

			bk_id_hex(&ids[i], hex);
			rc = bk_error_set(err, BK_ERR_MISSING,
					  "%s: chunk %s is in no pack",
					  s->m.name, hex);
		}
	}
	if (!rc)
		qsort(w, n, sizeof(*w), by_pack);
	for (size_t i = 1; !rc && i <= n; i++)
		if (i == n ||
		    memcmp(&w[i].loc.pack, &w[a].loc.pack,
			   sizeof(w[a].loc.pack)) != 0 ||
		    w[i].loc.off > w[i - 1].loc.off + w[i - 1].loc.len + GAP_MAX) {
			rc = load_pack(s, w + a, i - a, ids, out, err);
			a = i;
		}
	free(w);
	return rc;
}

/* ---- the cache of derived data ---- */

static enum bk_code cache_path(struct bk_repo *r, const char *name,
			       char *dir, size_t dn, char *path, size_t pn,
			       struct bk_error *err)
{
	char base[900], idhex[2 * BK_REPO_ID_LEN + 1];

	for (const char *p = name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '-' || *p == '.') ||
		    name[0] == '.')
			return bk_error_set(err, BK_ERR_USAGE,
					    "cache name '%s'", name);
	if (!name[0] || bk_cache_dir(base, sizeof(base)))
		return bk_error_set(err, BK_ERR_NOTFOUND,
				    "no cache directory (ZBAK_CACHE_DIR)");
	for (int i = 0; i < BK_REPO_ID_LEN; i++)
		snprintf(idhex + 2 * i, 3, "%02x", r->id[i]);
	if (snprintf(dir, dn, "%s/%s/derived", base, idhex) >= (int)dn ||
	    snprintf(path, pn, "%s/%s", dir, name) >= (int)pn)
		return bk_error_set(err, BK_ERR_LIMIT, "cache path too long");
	return BK_OK;
}

/* mkdir -p, 0700 */
static int mkdirs(char *p)
{
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = 0;
		if (mkdir(p, 0700) && errno != EEXIST) {
			*s = '/';
			return -1;
		}
		*s = '/';
	}
	return mkdir(p, 0700) && errno != EEXIST ? -1 : 0;
}

/* The name a cached file is sealed under: its own, in its own space, so
 * that no repository object's seal opens as a cached file or back. */
static void seal_name(const char *name, char *out, size_t n)
{
	snprintf(out, n, "cache/derived/%s", name);
}

enum bk_code bk_repo_cache_put(struct bk_repo *r, const char *name,
			       const void *data, size_t len,
			       struct bk_error *err)
{
	char dir[1000], path[1200], tmp[1300], sn[300];
	struct bk_buf b;
	enum bk_code rc;
	int fd;

	if ((rc = cache_path(r, name, dir, sizeof(dir), path, sizeof(path),
			     err)))
		return rc;
	if (mkdirs(dir))
		return bk_error_set(err, BK_ERR_IO, "%s: %s", dir,
				    strerror(errno));
	seal_name(name, sn, sizeof(sn));
	bk_buf_init(&b, len + BK_SEAL_OVERHEAD);
	rc = bk_seal(r->keys, BK_OBJ_RECIPE, sn, data, len, &b, err);
	snprintf(tmp, sizeof(tmp), "%s.tmp-%d", path, (int)getpid());
	if (!rc) {
		fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd < 0 || write(fd, b.data, b.len) != (ssize_t)b.len ||
		    close(fd) || rename(tmp, path)) {
			rc = bk_error_set(err, BK_ERR_IO, "%s: %s", path,
					  strerror(errno));
			if (fd >= 0)
				unlink(tmp);
		}
	}
	bk_buf_release(&b);
	return rc;
}

enum bk_code bk_repo_cache_get(struct bk_repo *r, const char *name,
			       size_t max, struct bk_buf *out,
			       struct bk_error *err)
{
	char dir[1000], path[1200], sn[300];
	struct bk_buf b;
	struct stat st;
	enum bk_code rc;
	int fd;

	if ((rc = cache_path(r, name, dir, sizeof(dir), path, sizeof(path),
			     err)))
		return rc;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return bk_error_set(err, BK_ERR_NOTFOUND, "%s: %s", path,
				    strerror(errno));
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) ||
	    (uint64_t)st.st_size > (uint64_t)max + BK_SEAL_OVERHEAD) {
		close(fd);
		return bk_error_set(err, BK_ERR_FORMAT,
				    "%s: not a cached file of at most %zu "
				    "bytes",
				    path, max);
	}
	bk_buf_init(&b, (size_t)st.st_size + 1);
	rc = bk_buf_reserve(&b, (size_t)st.st_size, err);
	if (!rc && read(fd, b.data, (size_t)st.st_size) != st.st_size)
		rc = bk_error_set(err, BK_ERR_IO, "%s: short read", path);
	close(fd);
	b.len = (size_t)st.st_size;
	seal_name(name, sn, sizeof(sn));
	bk_buf_reset(out);
	if (!rc)
		rc = bk_open(r->keys, BK_OBJ_RECIPE, sn, b.data, b.len, out,
			     err);
	bk_buf_release(&b);
	return rc;
}

void bk_repo_store_counters(const struct bk_repo *r, uint64_t *requests,
			    uint64_t *bytes)
{
	bk_store_counters(r->store, requests, bytes);
}
