/* libFuzzer target: the stream parser with validation, fed in pieces whose
 * sizes come from the input itself, and the text formatter on every record. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "backup/drr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bk_drr_parser_opts opts = { .validate = true,
					   .max_payload = 1u << 20,
					   .max_begin_payload = 1u << 20 };
	struct bk_drr_parser *p = NULL;
	struct bk_drr_rec rec;
	struct bk_buf text;
	size_t off = 0, step;
	uint32_t seed;

	if (size < 1)
		return 0;
	/* first byte: piece size pattern */
	seed = data[0];
	data++;
	size--;
	step = 1 + (seed & 0x3f) * 97;
	bk_buf_init(&text, 1u << 20);
	if (bk_drr_parser_new(&opts, &p, NULL) != BK_OK)
		return 0;
	for (;;) {
		enum bk_drr_status st = bk_drr_parser_next(p, &rec, NULL);

		if (st == BK_DRR_ERROR)
			break;
		if (st == BK_DRR_RECORD) {
			bk_buf_reset(&text);
			bk_drr_dump_record(&rec, &text, NULL);
			continue;
		}
		if (off == size) {
			if (st == BK_DRR_DONE)
				break;
			bk_drr_parser_eof(p);
			continue;
		}
		{
			size_t n = size - off < step ? size - off : step;
			size_t took = bk_drr_parser_feed(p, data + off, n);

			if (took == 0 && st == BK_DRR_NEED_MORE)
				__builtin_trap(); /* the parser must take bytes */
			off += took;
		}
	}
	bk_drr_dump_summary(bk_drr_parser_stats(p), &text, NULL);
	bk_drr_parser_free(p);
	bk_buf_release(&text);
	return 0;
}
