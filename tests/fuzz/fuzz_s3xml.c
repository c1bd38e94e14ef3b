/* libFuzzer target: S3 response bodies and INI / credentials files are
 * untrusted bytes.  The first input byte picks the parser:
 *   0 ListObjectsV2 page, 1 Error body, 2 InitiateMultipartUpload,
 *   3 config file (bk_config_parse), 4 shared-credentials file;
 * a first byte 'V': a ListObjectVersions page.
 * Outputs are checked for consistency; any crash, leak or sanitizer report
 * is a bug. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backup/config.h"
#include "store/s3_impl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data + 1;
	size_t n = size ? size - 1 : 0;
	struct bk_error err;

	if (size == 0)
		return 0;
	s3_xml_init();
	if (data[0] == 'V') {
		struct s3_list_page pg;

		if (s3_xml_versions(p, n, &pg, &err) == BK_OK) {
			if (pg.truncated && !pg.next_token)
				abort();
			for (size_t i = 0; i < pg.n; i++)
				if (!pg.items[i].key || !pg.items[i].key[0] ||
				    (pg.items[i].marker && pg.items[i].size))
					abort();
			s3_list_page_release(&pg);
		} else if (!err.msg[0]) {
			abort();
		}
		return 0;
	}
	switch (data[0] % 5) {
	case 0: {
		struct s3_list_page pg;

		if (s3_xml_list(p, n, &pg, &err) == BK_OK) {
			if (pg.truncated && !pg.next_token)
				abort();
			for (size_t i = 0; i < pg.n; i++)
				if (!pg.items[i].key || !pg.items[i].key[0])
					abort();
			s3_list_page_release(&pg);
		} else if (!err.msg[0]) {
			abort();
		}
		break;
	}
	case 1: {
		char code[64], msg[128];

		if (s3_xml_error(p, n, code, sizeof(code), msg, sizeof(msg)) &&
		    (!code[0] || strlen(code) >= sizeof(code)))
			abort();
		break;
	}
	case 2: {
		char *id = NULL;

		if (s3_xml_upload_id(p, n, &id, &err) == BK_OK && (!id || !id[0]))
			abort();
		free(id);
		break;
	}
	case 3: {
		struct bk_config *c = NULL;

		if (bk_config_parse(p, n, "fuzz", &c, &err) == BK_OK) {
			(void)bk_config_get(c, "s3", "endpoint");
			bk_config_free(c);
		}
		break;
	}
	default: {
		char *a, *s, *t;

		if (s3_creds_parse(p, n, "fuzz", "default", &a, &s, &t,
				   &err) == BK_OK) {
			if (!a || !s)
				abort();
			free(a);
			free(s);
			free(t);
		}
		break;
	}
	}
	return 0;
}
