/* libFuzzer target: the repository's parsers of opened objects (manifests,
 * pack headers, index objects, recipe segments).  They are authenticated
 * before parsing, but a bug or a key holder's mistake must not turn into a
 * crash: every bound is checked. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "repo/repo_impl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
enum bk_code repo_fuzz_index(const uint8_t *p, size_t len);
enum bk_code repo_fuzz_recipe(const uint8_t *p, size_t len);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct manifest m;
	struct pack_entry *e = NULL;
	size_t n = 0;

	if (size < 1)
		return 0;
	switch (data[0] % 4) {
	case 0:
		if (manifest_parse(data + 1, size - 1, &m, NULL) == BK_OK) {
			struct bk_buf b;

			bk_buf_init(&b, 1u << 24);
			manifest_encode(&m, &b, NULL);
			bk_buf_release(&b);
			manifest_release(&m);
		}
		break;
	case 1:
		pack_parse_header(data + 1, size - 1, &e, &n, NULL);
		free(e);
		break;
	case 2:
		repo_fuzz_index(data + 1, size - 1);
		break;
	case 3:
		repo_fuzz_recipe(data + 1, size - 1);
		break;
	}
	return 0;
}
