/* libFuzzer target: maps (include/backup/lpool_zpl.h), which come back
 * from the cache directory (untrusted, though sealed) and are built from
 * recipes (sealed, and checked all the same).  The first input byte picks
 * a mode:
 *   0: the rest is a serialized map for bk_lpool_map_decode; when it
 *      decodes, it is encoded again (it must decode to the same bytes),
 *      then every object and the first blocks of each are read through
 *      the map's object source, with a loader that returns zeros;
 *   1: the rest is a run of records for bk_lpool_map_record: per record a
 *      stream byte, a 312-byte header, a u16 inline length and that many
 *      payload bytes, and a u16 chunked length.
 * Anything else than BK_OK or a refusal with a message aborts. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backup/lpool_zpl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static enum bk_code zeros(void *ctx, uint32_t stream, uint64_t pos,
			  uint32_t len, struct bk_buf *out,
			  struct bk_error *err)
{
	(void)ctx;
	(void)stream;
	(void)pos;
	bk_buf_reset(out);
	if (bk_buf_reserve(out, len, err))
		return err->code;
	memset(out->data, 0, len);
	out->len = len;
	return BK_OK;
}

static void check(enum bk_code rc, const struct bk_error *err)
{
	if (rc != BK_OK && err->msg[0] == '\0')
		abort(); /* a refusal without a message */
}

static void read_all(struct bk_lpool_map *m)
{
	struct bk_zpl_source src;
	struct bk_error err;
	uint8_t *buf = malloc(1 << 17);

	if (!buf || bk_lpool_map_source(m, zeros, NULL, "fuzz", &src, &err)) {
		free(buf);
		return;
	}
	for (uint64_t obj = 0; obj < 64; obj++) {
		struct bk_zpl_object o;
		uint64_t next;
		bool hole;

		if (src.ops->object(src.ctx, obj, &o, &err))
			continue;
		if (o.blksz == 0 || o.blksz > (1 << 17))
			continue;
		for (uint64_t b = 0; b < 4; b++) {
			check(src.ops->read_block(src.ctx, obj, b, buf, o.blksz,
						  &hole, &err),
			      &err);
			check(src.ops->next_block(src.ctx, obj, b, &next, &err),
			      &err);
		}
	}
	src.ops->close(src.ctx);
	free(buf);
}

static void decode(const uint8_t *p, size_t n)
{
	struct bk_lpool_map *m, *m2;
	struct bk_error err;
	struct bk_buf b, b2;
	enum bk_code rc = bk_lpool_map_decode(p, n, &m, &err);

	check(rc, &err);
	if (rc)
		return;
	bk_buf_init(&b, 1u << 28);
	bk_buf_init(&b2, 1u << 28);
	if (bk_lpool_map_encode(m, &b, &err) == BK_OK) {
		if (bk_lpool_map_decode(b.data, b.len, &m2, &err) != BK_OK)
			abort(); /* what we wrote must read back */
		if (bk_lpool_map_encode(m2, &b2, &err) != BK_OK ||
		    b2.len != b.len || memcmp(b.data, b2.data, b.len) != 0)
			abort();
		bk_lpool_map_free(m2);
	}
	bk_buf_release(&b);
	bk_buf_release(&b2);
	read_all(m);
}

static void records(const uint8_t *p, size_t n)
{
	struct bk_lpool_map *m;
	struct bk_error err;
	uint64_t pos = 0;

	if (bk_lpool_map_new(&m, &err))
		return;
	while (n >= 1 + BK_DRR_HDR_LEN + 4) {
		uint32_t stream = p[0] & 3, inl, chunked;
		const uint8_t *hdr = p + 1, *pay;
		enum bk_code rc;

		p += 1 + BK_DRR_HDR_LEN;
		n -= 1 + BK_DRR_HDR_LEN;
		inl = (uint32_t)p[0] | (uint32_t)p[1] << 8;
		p += 2;
		n -= 2;
		if (inl > n)
			break;
		pay = p;
		p += inl;
		n -= inl;
		if (n < 2)
			break;
		chunked = (uint32_t)p[0] | (uint32_t)p[1] << 8;
		p += 2;
		n -= 2;
		rc = bk_lpool_map_record(m, stream, hdr, pay, inl, pos, chunked,
					 &err);
		check(rc, &err);
		pos += chunked;
		if (rc)
			break;
	}
	if (bk_lpool_map_finish(m, &err) == BK_OK)
		read_all(m);
	else
		bk_lpool_map_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (data[0] == 0)
		decode(data + 1, size - 1);
	else if (data[0] == 1)
		records(data + 1, size - 1);
	return 0;
}
