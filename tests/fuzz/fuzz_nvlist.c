/* libFuzzer target: the packed nvlist decoder on untrusted bytes, then the
 * zstream-dump text and the JSON of whatever it accepts, and a re-pack in
 * every encoding that must decode again (abort otherwise). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "backup/nvlist.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct {
		enum bk_nv_encoding enc;
		bool be;
	} forms[] = { { BK_NV_NATIVE, false }, { BK_NV_NATIVE, true },
		      { BK_NV_XDR, false } };
	struct bk_nvlist *nvl = NULL, *back = NULL;
	struct bk_error err;
	struct bk_buf out;
	size_t i;

	bk_buf_init(&out, 1u << 24);
	if (bk_nvlist_unpack(data, size, &nvl, &err) != BK_OK) {
		if (nvl || err.code == BK_OK || err.msg[0] == '\0')
			abort();
		goto out;
	}
	if (bk_nvlist_dump(nvl, &out, &err) != BK_OK)
		abort();
	bk_buf_reset(&out);
	if (bk_nvlist_to_json(nvl, &out, &err) != BK_OK)
		abort();
	for (i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		bk_buf_reset(&out);
		if (bk_nvlist_pack(nvl, forms[i].enc, forms[i].be, &out,
				   &err) != BK_OK)
			abort();
		if (bk_nvlist_unpack(out.data, out.len, &back, &err) != BK_OK)
			abort();
		bk_nvlist_free(back);
		back = NULL;
	}
out:
	bk_nvlist_free(nvl);
	bk_buf_release(&out);
	return 0;
}
