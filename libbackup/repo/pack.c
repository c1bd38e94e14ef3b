/* SPDX-License-Identifier: MIT */
/*
 * Chunks and packs (docs/repository.md):
 *   chunk plaintext  [u8 0 raw | 1 lz4][u32 LE raw length][data]
 *   pack             blob... | sealed header | u32 LE header length | "ZBKPACK1"
 *   header           "ZBKPH001" u32 count, then per blob: id (32), offset
 *                    (u64), sealed length (u32), raw length (u32)
 */
#include <inttypes.h>
#include <lz4.h>
#include <stdlib.h>
#include <string.h>

#include "repo/repo_impl.h"
#include "util/pool.h"

#define PH_MAGIC "ZBKPH001"
#define PH_ENTRY 48u
#define MAX_PACK_HEADER (64u << 20)

/*
 * A chunk LZ4 cannot shrink (a `zfs send -c` block, encrypted or media
 * files) is stored raw: LZ4 gives up on such data at about 10 GB/s, so the
 * pass costs a tenth of the chunk's id and seal.  A probe of samples
 * before the full pass (measured: 2 us instead of 11 per random 128 KiB
 * chunk) stored 4% more of a stream of 4 KiB blocks, half text: samples
 * miss the compressible blocks among incompressible ones.  Not worth it.
 *
 * A compressed chunk must save at least 1/64 of its size: less is not
 * worth its LZ4 decompression at every restore.
 */
#define MIN_SAVING_SHIFT 6

enum bk_code chunk_encode(const uint8_t *data, size_t len, struct bk_buf *out,
			  struct bk_error *err)
{
	int bound, n;
	enum bk_code rc;

	if (len > BK_DRR_MAX_PAYLOAD)
		return bk_error_set(err, BK_ERR_INTERNAL, "chunk too large");
	bound = LZ4_compressBound((int)len);
	bk_buf_reset(out);
	rc = bk_buf_reserve(out, CHUNK_HDR + (size_t)bound, err);
	if (rc)
		return rc;
	/* LZ4_compress_default, not a faster acceleration: measured on
	 * text-like data (make bench-primitives), acceleration 2 is 1.5
	 * times faster but compresses 2% worse, and the ratio is kept */
	n = LZ4_compress_default((const char *)data,
				 (char *)out->data + CHUNK_HDR, (int)len,
				 bound);
	if (n > 0 && (size_t)n < len - (len >> MIN_SAVING_SHIFT)) {
		out->data[0] = CHUNK_LZ4;
		out->len = CHUNK_HDR + (size_t)n;
	} else {
		out->data[0] = CHUNK_RAW;
		memcpy(out->data + CHUNK_HDR, data, len);
		out->len = CHUNK_HDR + len;
	}
	put_le32(out->data + 1, (uint32_t)len);
	return BK_OK;
}

enum bk_code chunk_decode(const struct bk_keys *k, const struct bk_id *id,
			  const uint8_t *plain, size_t len, struct bk_buf *out,
			  struct bk_error *err)
{
	uint32_t raw;
	struct bk_id got;
	char hex[2 * BK_ID_LEN + 1];
	enum bk_code rc;

	bk_id_hex(id, hex);
	if (len < CHUNK_HDR || plain[0] > CHUNK_LZ4)
		return bk_error_set(err, BK_ERR_FORMAT,
				    "chunk %s: bad encoding", hex);
	raw = get_le32(plain + 1);
	bk_buf_reset(out);
	rc = bk_buf_reserve(out, raw, err);
	if (rc)
		return rc;
	if (plain[0] == CHUNK_RAW) {
		if (len - CHUNK_HDR != raw)
			return bk_error_set(err, BK_ERR_FORMAT,
					    "chunk %s: length mismatch", hex);
		memcpy(out->data, plain + CHUNK_HDR, raw);
	} else {
		int n = LZ4_decompress_safe((const char *)plain + CHUNK_HDR,
					    (char *)out->data,
					    (int)(len - CHUNK_HDR), (int)raw);

		if (n < 0 || (uint32_t)n != raw)
			return bk_error_set(err, BK_ERR_FORMAT,
					    "chunk %s: damaged LZ4 data", hex);
	}
	out->len = raw;
	bk_chunk_id(k, out->data, raw, &got);
	if (memcmp(&got, id, sizeof(got)) != 0)
		return bk_error_set(err, BK_ERR_CHECKSUM,
				    "chunk %s: content does not match its id",
				    hex);
	return BK_OK;
}

enum bk_code pack_parse_header(const uint8_t *p, size_t len,
			       struct pack_entry **entries, size_t *n,
			       struct bk_error *err)
{
	uint32_t count;
	struct pack_entry *e;

	*entries = NULL;
	*n = 0;
	if (len < 12 || memcmp(p, PH_MAGIC, 8) != 0)
		return bk_error_set(err, BK_ERR_FORMAT, "not a pack header");
	count = get_le32(p + 8);
	if ((len - 12) % PH_ENTRY || (len - 12) / PH_ENTRY != count)
		return bk_error_set(err, BK_ERR_FORMAT,
				    "pack header: %" PRIu32 " entries do not "
				    "fit %zu bytes",
				    count, len);
	e = calloc(count ? count : 1, sizeof(*e));
	if (!e)
		return bk_error_set(err, BK_ERR_NOMEM, "out of memory");
	for (uint32_t i = 0; i < count; i++) {
		const uint8_t *q = p + 12 + (size_t)i * PH_ENTRY;

		memcpy(e[i].id.b, q, 32);
		e[i].off = get_le64(q + 32);
		e[i].len = get_le32(q + 40);
		e[i].rawlen = get_le32(q + 44);
	}
	*entries = e;
	*n = count;
	return BK_OK;
}

enum bk_code pack_read_header(struct bk_repo *r, const struct bk_id *pack,
			      uint64_t size, struct pack_entry **entries,
			      size_t *n, struct bk_error *err)
{
	char key[80], hex[2 * BK_ID_LEN + 1];
	struct bk_buf raw, plain;
	uint32_t hlen;
	enum bk_code rc;

	*entries = NULL;
	*n = 0;
	repo_pack_key(pack, key);
	bk_id_hex(pack, hex);
	bk_buf_init(&raw, MAX_PACK_HEADER);
	bk_buf_init(&plain, MAX_PACK_HEADER);
	if (size < PACK_TRAILER_LEN) {
		rc = bk_error_set(err, BK_ERR_FORMAT, "%s: too short", key);
		goto out;
	}
	rc = bk_store_get_range(r->store, key, size - PACK_TRAILER_LEN,
				PACK_TRAILER_LEN, &raw, err);
	if (rc)
		goto out;
	hlen = get_le32(raw.data);
	if (memcmp(raw.data + 4, PACK_MAGIC, 8) != 0 ||
	    hlen > size - PACK_TRAILER_LEN || hlen > MAX_PACK_HEADER) {
		rc = bk_error_set(err, BK_ERR_FORMAT, "%s: not a pack", key);
		goto out;
	}
	bk_buf_reset(&raw);
	rc = bk_store_get_range(r->store, key, size - PACK_TRAILER_LEN - hlen,
				hlen, &raw, err);
	if (!rc)
		rc = bk_open(r->keys, BK_OBJ_PACK_HEADER, hex, raw.data,
			     raw.len, &plain, err);
	if (!rc)
		rc = pack_parse_header(plain.data, plain.len, entries, n, err);
	if (rc && rc != BK_ERR_NOMEM)
		bk_error_prefix(err, "%s", key);
out:
	bk_buf_release(&raw);
	bk_buf_release(&plain);
	return rc;
}

/* ---- the packer ---- */

struct packer {
	struct bk_repo *r;
	pthread_mutex_t mu;
	struct bk_buf data;   /* blobs of the pack being filled */
	struct bk_buf header; /* its plain header entries */
	struct pack_entry *ents;
	size_t nents, capents;
	uint64_t uploaded, packs;
	struct bk_index *idx;
	/* pack buffers returned after upload, reused (capacity kept) */
	struct bk_buf spare[16];
	size_t nspare;
	/* uploads run on their own threads, as many as the store wants in
	 * flight (8 for S3, the CPUs for a directory) */
	struct bk_pool *uploads;
	bool failed;
	struct bk_error uerr;
};

struct upload_job {
	struct packer *pk;
	struct bk_buf data;
	struct pack_entry *ents;
	size_t n;
};

#define PACK_BUF_MAX (2u * PACK_TARGET + (32u << 20))

/* A buffer for the next pack: a spare one, or a new one sized for a pack. */
static void take_buffer(struct packer *pk, struct bk_buf *b)
{
	if (pk->nspare) {
		*b = pk->spare[--pk->nspare];
		bk_buf_reset(b);
	} else {
		bk_buf_init(b, PACK_BUF_MAX);
		bk_buf_reserve(b, PACK_TARGET + (1u << 20), NULL);
	}
}

static void give_back(struct packer *pk, struct bk_buf *b)
{
	pthread_mutex_lock(&pk->mu);
	if (pk->nspare < sizeof(pk->spare) / sizeof(pk->spare[0])) {
		pk->spare[pk->nspare++] = *b;
		bk_buf_init(b, PACK_BUF_MAX);
	}
	pthread_mutex_unlock(&pk->mu);
	bk_buf_release(b);
}

enum bk_code packer_new(struct bk_repo *r, struct packer **out,
			struct bk_error *err)
{
	struct packer *pk = calloc(1, sizeof(*pk));
	enum bk_code rc;

	*out = NULL;
	if (!pk)
		return bk_error_set(err, BK_ERR_NOMEM, "out of memory");
	rc = repo_index(r, &pk->idx, err);
	if (rc) {
		free(pk);
		return rc;
	}
	pk->r = r;
	pthread_mutex_init(&pk->mu, NULL);
	/* one queued pack beyond those uploading: memory stays at about
	 * (concurrency + 2) packs, and a slow store slows the workers */
	rc = bk_pool_new(bk_store_concurrency(r->store), 1, &pk->uploads, err);
	if (rc) {
		pthread_mutex_destroy(&pk->mu);
		free(pk);
		return rc;
	}
	take_buffer(pk, &pk->data);
	*out = pk;
	return BK_OK;
}

/* Seal the header, add the trailer, upload, and index the entries.  The
 * caller owns data/ents (taken out of the packer). */
static enum bk_code upload(struct packer *pk, struct bk_buf *data,
			   struct pack_entry *ents, size_t n,
			   struct bk_error *err)
{
	struct bk_buf plain;
	struct bk_id pack;
	char hex[2 * BK_ID_LEN + 1], key[80];
	uint8_t trailer[PACK_TRAILER_LEN], e[PH_ENTRY];
	size_t before;
	enum bk_code rc;

	bk_buf_init(&plain, 12 + n * PH_ENTRY + 1);
	memcpy(trailer, PH_MAGIC, 8);
	put_le32(trailer + 8, (uint32_t)n);
	rc = bk_buf_append(&plain, trailer, 12, err);
	for (size_t i = 0; !rc && i < n; i++) {
		memcpy(e, ents[i].id.b, 32);
		put_le64(e + 32, ents[i].off);
		put_le32(e + 40, ents[i].len);
		put_le32(e + 44, ents[i].rawlen);
		rc = bk_buf_append(&plain, e, sizeof(e), err);
	}
	bk_random(pack.b, sizeof(pack.b));
	bk_id_hex(&pack, hex);
	before = data->len;
	if (!rc)
		rc = bk_seal(pk->r->keys, BK_OBJ_PACK_HEADER, hex, plain.data,
			     plain.len, data, err);
	if (!rc) {
		put_le32(trailer, (uint32_t)(data->len - before));
		memcpy(trailer + 4, PACK_MAGIC, 8);
		rc = bk_buf_append(data, trailer, sizeof(trailer), err);
	}
	repo_pack_key(&pack, key);
	/* durable at the push's sync, before its index and manifest */
	if (!rc)
		rc = bk_store_put_nosync(pk->r->store, key, data->data,
					 data->len, err);
	if (!rc) {
		for (size_t i = 0; i < n; i++) {
			struct bk_loc loc = { pack, ents[i].off, ents[i].len,
					      ents[i].rawlen };

			index_set(pk->idx, &ents[i].id, &loc, IDX_NEW);
		}
		pthread_mutex_lock(&pk->mu);
		pk->uploaded += data->len;
		pk->packs++;
		pthread_mutex_unlock(&pk->mu);
	}
	bk_buf_release(&plain);
	return rc;
}

static void upload_job(void *arg)
{
	struct upload_job *j = arg;
	struct packer *pk = j->pk;
	struct bk_error err;
	bool skip;

	pthread_mutex_lock(&pk->mu);
	skip = pk->failed;
	pthread_mutex_unlock(&pk->mu);
	if (!skip && upload(pk, &j->data, j->ents, j->n, &err)) {
		pthread_mutex_lock(&pk->mu);
		if (!pk->failed) {
			pk->failed = true;
			pk->uerr = err;
		}
		pthread_mutex_unlock(&pk->mu);
	}
	free(j->ents);
	give_back(pk, &j->data);
	free(j);
}

/* The first upload error, if any. */
static enum bk_code upload_error(struct packer *pk, struct bk_error *err)
{
	enum bk_code rc = BK_OK;

	pthread_mutex_lock(&pk->mu);
	if (pk->failed) {
		*err = pk->uerr;
		rc = err->code;
	}
	pthread_mutex_unlock(&pk->mu);
	return rc;
}

enum bk_code packer_add(struct packer *pk, const struct bk_id *id,
			const uint8_t *encoded, size_t len, uint32_t rawlen,
			struct bk_error *err)
{
	char hex[2 * BK_ID_LEN + 1];
	struct bk_buf full;
	struct pack_entry *ents = NULL;
	size_t n = 0, before;
	enum bk_code rc;

	bk_id_hex(id, hex);
	bk_buf_init(&full, 0);
	pthread_mutex_lock(&pk->mu);
	before = pk->data.len;
	rc = bk_seal(pk->r->keys, BK_OBJ_CHUNK, hex, encoded, len, &pk->data,
		     err);
	if (!rc && pk->nents == pk->capents) {
		size_t nc = pk->capents ? pk->capents * 2 : 256;
		struct pack_entry *ne = realloc(pk->ents, nc * sizeof(*ne));

		if (!ne)
			rc = bk_error_set(err, BK_ERR_NOMEM, "out of memory");
		else {
			pk->ents = ne;
			pk->capents = nc;
		}
	}
	if (!rc) {
		pk->ents[pk->nents++] = (struct pack_entry){
			*id, before, (uint32_t)(pk->data.len - before), rawlen
		};
		if (pk->data.len >= PACK_TARGET) {
			/* take the full pack out; upload without the lock */
			full = pk->data;
			take_buffer(pk, &pk->data);
			ents = pk->ents;
			n = pk->nents;
			pk->ents = NULL;
			pk->nents = pk->capents = 0;
		}
	}
	pthread_mutex_unlock(&pk->mu);
	if (!rc && ents) {
		struct upload_job *j = malloc(sizeof(*j));

		if (!j) {
			rc = bk_error_set(err, BK_ERR_NOMEM, "out of memory");
		} else {
			*j = (struct upload_job){ pk, full, ents, n };
			/* blocks while as many uploads as allowed are queued:
			 * back pressure on the workers */
			bk_pool_submit(pk->uploads, upload_job, j);
			return upload_error(pk, err);
		}
	}
	free(ents);
	if (full.data)
		give_back(pk, &full);
	return rc ? rc : upload_error(pk, err);
}

enum bk_code packer_finish(struct packer *pk, struct bk_error *err)
{
	enum bk_code rc = BK_OK;

	bk_pool_wait(pk->uploads);
	rc = upload_error(pk, err);
	if (rc)
		return rc;

	if (pk->nents)
		rc = upload(pk, &pk->data, pk->ents, pk->nents, err);
	free(pk->ents);
	pk->ents = NULL;
	pk->nents = pk->capents = 0;
	bk_buf_reset(&pk->data);
	return rc;
}

bool packer_failed(struct packer *pk, struct bk_error *err)
{
	return upload_error(pk, err) != BK_OK;
}

uint64_t packer_uploaded(const struct packer *pk)
{
	return pk->uploaded;
}

uint64_t packer_packs(const struct packer *pk)
{
	return pk->packs;
}

void packer_free(struct packer *pk)
{
	if (!pk)
		return;
	bk_pool_free(pk->uploads); /* waits for uploads in flight */
	bk_buf_release(&pk->data);
	for (size_t i = 0; i < pk->nspare; i++)
		bk_buf_release(&pk->spare[i]);
	free(pk->ents);
	pthread_mutex_destroy(&pk->mu);
	free(pk);
}

enum bk_code chunk_open_blob(const struct bk_keys *k, const struct bk_id *id,
			     const char *where, uint64_t off,
			     const uint8_t *sealed, size_t len,
			     struct bk_buf *plain, struct bk_buf *out,
			     struct bk_error *err)
{
	char hex[2 * BK_ID_LEN + 1];
	enum bk_code rc;

	bk_id_hex(id, hex);
	bk_buf_reset(plain);
	rc = bk_open(k, BK_OBJ_CHUNK, hex, sealed, len, plain, err);
	if (rc == BK_ERR_AUTH)
		rc = bk_error_set(err, BK_ERR_AUTH,
				  "chunk %s in %s at offset %" PRIu64
				  ": authentication failed (altered data)",
				  hex, where, off);
	if (!rc)
		rc = chunk_decode(k, id, plain->data, plain->len, out, err);
	return rc;
}

/* ---- which packs are there ------------------------------------------------- */

struct packcheck {
	struct bk_repo *r;
	pthread_mutex_t mu;
	struct pc_entry {
		struct bk_id pack;
		uint64_t size; /* UINT64_MAX: absent */
	} *v;
	size_t n, cap;
};

enum bk_code packcheck_new(struct bk_repo *r, struct packcheck **out,
			   struct bk_error *err)
{
	struct packcheck *pc = calloc(1, sizeof(*pc));

	*out = NULL;
	if (!pc)
		return bk_error_set(err, BK_ERR_NOMEM, "out of memory");
	pc->r = r;
	pthread_mutex_init(&pc->mu, NULL);
	*out = pc;
	return BK_OK;
}

void packcheck_free(struct packcheck *pc)
{
	if (!pc)
		return;
	pthread_mutex_destroy(&pc->mu);
	free(pc->v);
	free(pc);
}

/* Under pc->mu: the remembered size of pack, or NULL. */
static struct pc_entry *pc_find(struct packcheck *pc, const struct bk_id *pack)
{
	for (size_t i = 0; i < pc->n; i++)
		if (!memcmp(&pc->v[i].pack, pack, sizeof(*pack)))
			return &pc->v[i];
	return NULL;
}

enum bk_code packcheck_has(struct packcheck *pc, const struct bk_id *pack,
			   uint64_t need, bool *yes, struct bk_error *err)
{
	struct pc_entry *e;
	uint64_t size = 0;
	char key[80];
	enum bk_code rc;

	pthread_mutex_lock(&pc->mu);
	e = pc_find(pc, pack);
	if (e) {
		*yes = e->size != UINT64_MAX && e->size >= need;
		pthread_mutex_unlock(&pc->mu);
		return BK_OK;
	}
	pthread_mutex_unlock(&pc->mu);
	/* not under the lock: other packs are asked about meanwhile (two
	 * threads asking about one pack both ask the store: harmless) */
	repo_pack_key(pack, key);
	rc = bk_store_head(pc->r->store, key, &size, err);
	if (rc == BK_ERR_NOTFOUND) {
		bk_error_clear(err);
		size = UINT64_MAX;
	} else if (rc) {
		return rc;
	}
	pthread_mutex_lock(&pc->mu);
	if (!pc_find(pc, pack)) {
		if (pc->n == pc->cap) {
			size_t nc = pc->cap ? 2 * pc->cap : 64;
			struct pc_entry *nv = realloc(pc->v, nc * sizeof(*nv));

			if (!nv) {
				pthread_mutex_unlock(&pc->mu);
				return bk_error_set(err, BK_ERR_NOMEM,
						    "out of memory");
			}
			pc->v = nv;
			pc->cap = nc;
		}
		pc->v[pc->n].pack = *pack;
		pc->v[pc->n].size = size;
		pc->n++;
	}
	pthread_mutex_unlock(&pc->mu);
	*yes = size != UINT64_MAX && size >= need;
	return BK_OK;
}
