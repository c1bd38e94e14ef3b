/* libFuzzer target: the decoders of ZFS's block compressions
 * (bk_zpl_decompress, libbackup/zpl/zcodec.c) on blocks a hostile stream
 * chooses.  The first input byte picks the ZIO_COMPRESS_* number (mod 18:
 * every algorithm and an unknown one), the next two the logical size - 1
 * (1..65536 bytes), the rest is the block.  The output buffer is exactly
 * the logical size, so that a write past it is ASan's to see.  Anything
 * but BK_OK or an error with a message, a crash, a leak or a hang is a
 * bug. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backup/zpl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bk_error err;
	enum bk_code rc;
	unsigned c;
	size_t dstlen;
	uint8_t *dst, *src;

	if (size < 3)
		return 0;
	c = data[0] % 18u;
	dstlen = ((size_t)data[1] | (size_t)data[2] << 8) + 1;
	/* the block in a buffer of its own size: a read past it is caught */
	src = malloc(size - 3 ? size - 3 : 1);
	dst = malloc(dstlen);
	if (!src || !dst)
		abort();
	memcpy(src, data + 3, size - 3);
	memset(&err, 0, sizeof(err));
	rc = bk_zpl_decompress(c, src, size - 3, dst, dstlen, &err);
	if (rc != BK_OK && (err.code != rc || !err.msg[0]))
		abort();
	if (rc != BK_OK && rc != BK_ERR_FORMAT && rc != BK_ERR_UNSUPPORTED &&
	    rc != BK_ERR_NOMEM)
		abort();
	free(src);
	free(dst);
	return 0;
}
