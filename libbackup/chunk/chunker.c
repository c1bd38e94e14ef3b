/* SPDX-License-Identifier: MIT */
#include <string.h>

#include "backup/chunk.h"
#include "util/le.h"

#define SAMPLE 256u

void bk_chunker_init(struct bk_chunker *c, const struct bk_keys *k)
{
	c->keys = k;
	c->cur = 0;
}

void bk_chunker_reset(struct bk_chunker *c)
{
	c->cur = 0;
}

bool bk_chunker_cut_before(const struct bk_chunker *c, size_t len)
{
	return c->cur > 0 && c->cur + len > BK_CHUNK_MAX;
}

bool bk_chunker_add(struct bk_chunker *c, const uint8_t *payload, size_t len)
{
	uint8_t sample[2 * SAMPLE + 8];
	size_t n = 0;
	uint64_t h, threshold, l = len;

	c->cur += len;
	if (c->cur >= BK_CHUNK_MAX)
		return true;
	if (c->cur < BK_CHUNK_MIN)
		return false;
	if (len >= BK_CHUNK_AVG)
		return true; /* probability len/avg >= 1 */
	/* first and last 256 bytes and the length: a payload's decision
	 * depends on the payload alone, and costs the same at any size */
	if (len <= 2 * SAMPLE) {
		memcpy(sample, payload, len);
		n = len;
	} else {
		memcpy(sample, payload, SAMPLE);
		memcpy(sample + SAMPLE, payload + len - SAMPLE, SAMPLE);
		n = 2 * SAMPLE;
	}
	put_le64(sample + n, l);
	n += 8;
	h = bk_cut_hash(c->keys, sample, n);
	/* cut with probability len / BK_CHUNK_AVG */
	threshold = (UINT64_MAX / BK_CHUNK_AVG) * len;
	return h < threshold;
}
