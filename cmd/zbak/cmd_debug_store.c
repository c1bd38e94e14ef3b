/* SPDX-License-Identifier: MIT */
/*
 * zbak debug store ls|get|put|rm|head URL [KEY]: one store operation on a
 * directory or an S3 bucket, so tests and operators can inspect and damage
 * objects the same way on either (get writes to stdout, put reads stdin).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "backup/store.h"
#include "cli.h"

#define OBJECT_MAX ((size_t)4 << 30)

static const char store_usage[] =
	"usage: zbak debug store ls URL [PREFIX]   size and key of each object\n"
	"       zbak debug store get URL KEY       the object to stdout\n"
	"       zbak debug store put URL KEY       stdin to the object (replaces it)\n"
	"       zbak debug store rm URL KEY        delete the object\n"
	"       zbak debug store head URL KEY      the object's size";

static enum bk_code print_key(void *ctx, const char *key, uint64_t size,
			      struct bk_error *err)
{
	(void)ctx;
	(void)err;
	printf("%" PRIu64 " %s\n", size, key);
	return BK_OK;
}

static enum bk_code read_stdin(struct bk_buf *b, struct bk_error *err)
{
	for (;;) {
		enum bk_code rc = bk_buf_reserve(b, 1 << 20, err);
		ssize_t n;

		if (rc)
			return rc;
		n = read(0, b->data + b->len, 1 << 20);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return bk_error_set(err, BK_ERR_IO, "stdin: %s",
					    strerror(errno));
		if (n == 0)
			return BK_OK;
		b->len += (size_t)n;
	}
}

int cmd_debug_store(int argc, char **argv)
{
	struct bk_config *cfg = NULL;
	struct bk_store *s = NULL;
	struct bk_error err;
	struct bk_buf b;
	const char *verb, *key;
	uint64_t size;
	enum bk_code rc = BK_OK;
	int ret;

	bk_buf_init(&b, OBJECT_MAX);
	if (argc < 3 || argc > 4) {
		fprintf(stderr, "%s\n", store_usage);
		return EXIT_USAGE;
	}
	verb = argv[1];
	key = argc == 4 ? argv[3] : NULL;
	if (strcmp(verb, "ls") != 0 && !key) {
		fprintf(stderr, "%s\n", store_usage);
		return EXIT_USAGE;
	}
	if (strcmp(verb, "ls") && strcmp(verb, "get") && strcmp(verb, "put") &&
	    strcmp(verb, "rm") && strcmp(verb, "head")) {
		fprintf(stderr, "zbak: debug store: unknown operation '%s'\n%s\n",
			verb, store_usage);
		return EXIT_USAGE;
	}
	ret = load_config(&cfg);
	if (ret)
		return ret;
	rc = bk_store_open_config(argv[2], false, cfg, &s, &err);
	if (rc)
		goto out;
	if (strcmp(verb, "ls") == 0) {
		rc = bk_store_list(s, key ? key : "", print_key, NULL, &err);
	} else if (strcmp(verb, "get") == 0) {
		rc = bk_store_get(s, key, &b, &err);
		if (!rc && (fwrite(b.data, 1, b.len, stdout) != b.len ||
			    fflush(stdout) != 0))
			rc = bk_error_set(&err, BK_ERR_IO, "stdout: %s",
					  strerror(errno));
	} else if (strcmp(verb, "put") == 0) {
		rc = read_stdin(&b, &err);
		if (!rc)
			rc = bk_store_put(s, key, b.data ? b.data : (uint8_t *)"",
					  b.len, &err);
	} else if (strcmp(verb, "rm") == 0) {
		rc = bk_store_delete(s, key, &err);
	} else {
		rc = bk_store_head(s, key, &size, &err);
		if (!rc)
			printf("%" PRIu64 "\n", size);
	}
out:
	if (rc)
		msg("%s", err.msg);
	bk_store_close(s);
	bk_config_free(cfg);
	bk_buf_release(&b);
	return rc ? exit_for(rc) : EXIT_OK;
}
