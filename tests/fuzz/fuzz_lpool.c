/* libFuzzer target: the local pool's parsers and its receiver.  The first
 * input byte picks a mode:
 *   0: the rest is a state file for lp_state_decode (pool files are
 *      untrusted: a damaged disk or a hand edit);
 *   1: the rest is a metadata file for lp_meta_decode (datasets,
 *      snapshots and their holds);
 *   2: the rest is a send stream, fed in pieces of a size taken from the
 *      next byte, received with -F into a dataset of a pool made at
 *      start-up.  When it is accepted, sending the snapshot back and
 *      receiving that must succeed too, and the two must hold the same
 *      data; when it is refused, the pool must be as it was.
 * Anything else than BK_OK or a refusal with a message aborts. */
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../libbackup/lpool/lpool_impl.h"
#include "backup/lpool.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct bk_lpool *pool;
static char pool_dir[64];

static int rm_one(const char *path, const struct stat *st, int flag,
		  struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void cleanup(void)
{
	bk_lpool_close(pool);
	nftw(pool_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void init_once(void)
{
	char tmpl[] = "/tmp/zbak-fuzz-lpool.XXXXXX";
	struct bk_error err;

	if (pool)
		return;
	if (!mkdtemp(tmpl) || bk_lpool_open(tmpl, true, &pool, &err) ||
	    bk_lpool_create(pool, "f", false, &err)) {
		fprintf(stderr, "fuzz_lpool: cannot make a pool in %s\n", tmpl);
		abort();
	}
	snprintf(pool_dir, sizeof(pool_dir), "%s", tmpl);
	atexit(cleanup);
}

static void check_err(enum bk_code rc, const struct bk_error *err)
{
	if (rc == BK_ERR_INTERNAL || rc == BK_ERR_NOMEM || !err->msg[0]) {
		fprintf(stderr, "unexpected: %d %s\n", rc, err->msg);
		abort();
	}
}

static enum bk_code to_buf(void *ctx, const void *p, size_t n,
			   struct bk_error *err)
{
	return bk_buf_append(ctx, p, n, err);
}

static void list_names(struct bk_buf *out)
{
	struct bk_lpool_entry *v;
	size_t n;
	struct bk_error err;

	bk_buf_reset(out);
	if (bk_lpool_list(pool, NULL, true, BK_LPOOL_FILESYSTEM | BK_LPOOL_SNAPSHOT,
			  &v, &n, &err))
		abort();
	for (size_t i = 0; i < n; i++)
		bk_buf_printf(out, &err, "%s %llx\n", v[i].name,
			      (unsigned long long)v[i].guid);
	free(v);
}

static void receive(const uint8_t *data, size_t size)
{
	struct bk_lpool_recv *rx;
	struct bk_lpool_recv_opts o = { .force = true };
	struct bk_lpool_recv_result res;
	struct bk_error err;
	struct bk_buf before, after, sent;
	enum bk_code rc;
	size_t piece = size ? (size_t)data[0] * 7 + 1 : 1;
	uint64_t diffs;

	if (size) {
		data++;
		size--;
	}
	bk_buf_init(&before, 1 << 20);
	bk_buf_init(&after, 1 << 20);
	bk_buf_init(&sent, 64u << 20);
	list_names(&before);
	rc = bk_lpool_recv_begin(pool, "f/x", &o, &rx, &err);
	if (rc)
		abort();
	for (size_t off = 0; !rc && off < size; off += piece)
		rc = bk_lpool_recv_write(rx, data + off,
					 size - off < piece ? size - off : piece,
					 &err);
	if (rc) {
		check_err(rc, &err);
		bk_lpool_recv_abort(rx);
	} else {
		rc = bk_lpool_recv_finish(rx, &res, &err);
		if (rc)
			check_err(rc, &err);
	}
	list_names(&after);
	if (rc && (before.len != after.len ||
		   memcmp(before.data, after.data, before.len))) {
		fprintf(stderr, "a refused stream changed the pool:\n%s--\n%s",
			before.data, after.data);
		abort();
	}
	if (!rc && !strchr(res.name, '/'))
		abort();
	if (!rc && strncmp(res.name, "f/x@", 4) == 0) {
		rc = bk_lpool_send(pool, res.name, NULL, to_buf, &sent, NULL,
				   &err);
		if (rc == BK_ERR_LIMIT) /* a send over 64 MiB: not here */
			goto clean;
		if (rc) {
			fprintf(stderr, "send of %s: %s\n", res.name, err.msg);
			abort();
		}
		if (bk_lpool_recv_begin(pool, "f/y", &o, &rx, &err) ||
		    bk_lpool_recv_write(rx, sent.data, sent.len, &err) ||
		    bk_lpool_recv_finish(rx, NULL, &err)) {
			fprintf(stderr, "receiving our own send: %s\n", err.msg);
			abort();
		}
		char yname[600];

		snprintf(yname, sizeof(yname), "f/y@%s", strchr(res.name, '@') + 1);
		if (bk_lpool_diff(pool, res.name, pool, yname, NULL, NULL, &diffs,
				  &err) || diffs) {
			fprintf(stderr, "send(receive(s)) differs: %s\n", err.msg);
			abort();
		}
	}
clean:
	if (!rc) {
		bk_lpool_destroy(pool, "f/x", true, true, &err);
		bk_lpool_destroy(pool, "f/y", true, true, &err);
	}
	bk_buf_release(&before);
	bk_buf_release(&after);
	bk_buf_release(&sent);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bk_error err;

	init_once();
	if (size < 1)
		return 0;
	if (data[0] == 0) {
		struct lp_state s;
		struct bk_buf b;

		if (lp_state_decode(data + 1, size - 1, &s, &err) == BK_OK) {
			/* what decodes encodes to the same bytes */
			bk_buf_init(&b, size + 1);
			if (lp_state_encode(&s, &b, &err) || b.len != size - 1 ||
			    memcmp(b.data, data + 1, b.len))
				abort();
			bk_buf_release(&b);
			lp_state_free(&s);
		} else {
			check_err(err.code, &err);
		}
	} else if (data[0] == 1) {
		struct lp_meta m;

		if (lp_meta_decode((const char *)data + 1, size - 1, &m, &err) ==
		    BK_OK)
			lp_meta_free(&m);
		else
			check_err(err.code, &err);
	} else if (data[0] == 2) {
		receive(data + 1, size - 1);
	}
	return 0;
}
