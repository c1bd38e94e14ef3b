/* libFuzzer target: the recipe iterator (recipe_next), the only reader of
 * recipe segments.  Segments are authenticated before they are read, but a
 * bug or a key holder's mistake must not become a crash: every entry it
 * gives must lie inside the input, the entries must tile the input up to
 * the end or the damaged entry, and an entry the writer can produce must
 * come out of recipe_put_chunk / recipe_put_record as the same bytes. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "repo/repo_pipe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
	if (!ok)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct recipe_iter it;
	struct recipe_entry e;
	struct bk_buf b;
	size_t start = 0;

	bk_buf_init(&b, 1u << 26);
	recipe_iter_init(&it, data, size);
	while (recipe_next(&it, &e)) {
		check(it.pos > start && it.pos <= size);
		bk_buf_reset(&b);
		if (e.kind == RECIPE_CHUNK) {
			check(it.pos - start == RECIPE_CHUNK_LEN);
			check(recipe_put_chunk(&b, &e.id, e.rawlen, NULL) ==
			      BK_OK);
		} else {
			struct bk_drr_rec rec;
			bool chunked = e.chunked_len && !e.inline_len;

			check(e.kind == RECIPE_REC);
			check(e.hdr == data + start + RECIPE_REC_HDR);
			check(e.payload + e.inline_len == data + it.pos);
			memset(&rec, 0, sizeof(rec));
			rec.raw = e.hdr;
			rec.payload = e.payload;
			rec.payload_len = chunked ? e.chunked_len : e.inline_len;
			/* both lengths set: not what the writer makes */
			if (e.chunked_len && e.inline_len)
				goto next;
			check(recipe_put_record(&b, &rec, chunked, NULL) ==
			      BK_OK);
		}
		check(b.len == it.pos - start &&
		      memcmp(b.data, data + start, b.len) == 0);
next:
		start = it.pos;
	}
	check(it.pos == start);
	check(it.damaged ? start < size : start == size);
	check(!recipe_next(&it, &e));
	bk_buf_release(&b);
	return 0;
}
