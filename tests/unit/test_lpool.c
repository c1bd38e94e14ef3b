/* local pool, receive admission through the public API on a temporary
 * directory: a full stream into a new dataset, an incremental that needs
 * the matching base (and -F to roll back to an older one), a clone of a
 * snapshot in the pool, and each refusal with its code and message; a
 * refused receive changes nothing. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "backup/buf.h"
#include "backup/drr.h"
#include "backup/gen.h"
#include "backup/lpool.h"

struct fixture {
	char dir[64];
	struct bk_lpool *p;
	struct bk_buf full, incr, clone, incr23; /* streams of "src/fs" */
};

static void rm_rf(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	char sub[4096];

	if (!d) {
		unlink(path);
		return;
	}
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
		rm_rf(sub);
	}
	closedir(d);
	rmdir(path);
}

static int gen(struct bk_buf *out, uint32_t from, uint32_t version)
{
	struct bk_gen_opts o;
	struct bk_error err;

	bk_gen_opts_init(&o);
	o.name = "src/fs";
	o.objects = 4;
	o.size = 64 << 10;
	o.blocksize = 4096;
	o.change = 0.2;
	o.from = from;
	o.version = version;
	bk_buf_init(out, 64u << 20);
	return bk_gen_stream(&o, bk_drr_sink_buf, out, &err) ? -1 : 0;
}

/* The same stream with the clone flag on its BEGIN (zfs send -i origin of
 * a clone), its checksums written anew. */
static int as_clone(const struct bk_buf *in, struct bk_buf *out)
{
	struct bk_drr_parser *p;
	struct bk_drr_writer w;
	struct bk_drr_rec rec;
	struct bk_error err;
	enum bk_drr_status st;
	int rc = -1;

	if (bk_drr_parser_new(NULL, &p, &err))
		return -1;
	bk_buf_init(out, 64u << 20);
	bk_drr_writer_init(&w, bk_drr_sink_buf, out, false, false);
	if (bk_drr_parser_feed(p, in->data, in->len) != in->len)
		goto out;
	bk_drr_parser_eof(p);
	while ((st = bk_drr_parser_next(p, &rec, &err)) == BK_DRR_RECORD) {
		if (rec.hdr.type == BK_DRR_BEGIN)
			rec.hdr.u.begin.flags |= BK_DRR_FLAG_CLONE;
		if (bk_drr_write(&w, &rec.hdr, rec.payload,
				 (size_t)rec.payload_len, &err))
			goto out;
	}
	rc = st == BK_DRR_DONE ? 0 : -1;
out:
	bk_drr_parser_free(p);
	return rc;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct bk_error err;

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/zbak-lpool-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	if (bk_lpool_open(f->dir, true, &f->p, &err) ||
	    bk_lpool_create(f->p, "dst", false, &err)) {
		fprintf(stderr, "%s\n", err.msg);
		return -1;
	}
	if (gen(&f->full, 0, 1) || gen(&f->incr, 1, 2) ||
	    gen(&f->incr23, 2, 3) || as_clone(&f->incr, &f->clone))
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	bk_lpool_close(f->p);
	rm_rf(f->dir);
	bk_buf_release(&f->full);
	bk_buf_release(&f->incr);
	bk_buf_release(&f->incr23);
	bk_buf_release(&f->clone);
	free(f);
	return 0;
}

/* Receive s into target: the code, with the message in err and the
 * snapshot made in res. */
static enum bk_code recv(struct fixture *f, const char *target,
			 const struct bk_buf *s, bool force,
			 struct bk_lpool_recv_result *res, struct bk_error *err)
{
	struct bk_lpool_recv_opts o = { .force = force };
	struct bk_lpool_recv *rx;
	enum bk_code rc;

	memset(res, 0, sizeof(*res));
	bk_error_clear(err);
	if ((rc = bk_lpool_recv_begin(f->p, target, &o, &rx, err)))
		return rc;
	if ((rc = bk_lpool_recv_write(rx, s->data, s->len, err))) {
		bk_lpool_recv_abort(rx);
		return rc;
	}
	return bk_lpool_recv_finish(rx, res, err);
}

/* The snapshots of ds, space-separated after its name ("" for none). */
static void snaps(struct fixture *f, const char *ds, char *out, size_t n)
{
	struct bk_lpool_entry *v = NULL;
	struct bk_error err;
	size_t nv = 0, k = 0;

	out[0] = '\0';
	if (bk_lpool_list(f->p, ds, false, BK_LPOOL_SNAPSHOT, &v, &nv, &err))
		return;
	for (size_t i = 0; i < nv; i++) {
		const char *at = strchr(v[i].name, '@');

		k += (size_t)snprintf(out + k, n - k, "%s%s", k ? " " : "",
				      at ? at + 1 : v[i].name);
	}
	free(v);
}

#define assert_refused(rc, err, code, text)                                  \
	do {                                                                 \
		assert_int_equal(rc, code);                                  \
		if (!strstr((err).msg, text))                                \
			fail_msg("message \"%s\" lacks \"%s\"", (err).msg,   \
				 text);                                      \
	} while (0)

static void full_into_new(void **state)
{
	struct fixture *f = *state;
	struct bk_lpool_recv_result res;
	struct bk_error err;
	char s[256];

	assert_int_equal(recv(f, "dst/a", &f->full, false, &res, &err), BK_OK);
	assert_string_equal(res.name, "dst/a@v1");
	assert_int_equal(res.substreams, 1);
	snaps(f, "dst/a", s, sizeof(s));
	assert_string_equal(s, "v1");

	/* again over it: -F is needed, and then it must hold no snapshots */
	assert_refused(recv(f, "dst/a", &f->full, false, &res, &err), err,
		       BK_ERR_EXISTS,
		       "destination dst/a exists; receiving a full stream "
		       "over it needs -F");
	assert_refused(recv(f, "dst/a", &f->full, true, &res, &err), err,
		       BK_ERR_EXISTS,
		       "destination dst/a has snapshots (dst/a@v1)");
	snaps(f, "dst/a", s, sizeof(s));
	assert_string_equal(s, "v1");
}

static void full_needs_parent(void **state)
{
	struct fixture *f = *state;
	struct bk_lpool_recv_result res;
	struct bk_error err;

	assert_refused(recv(f, "nopool", &f->full, false, &res, &err), err,
		       BK_ERR_NOTFOUND,
		       "cannot receive into nopool: that is a pool");
	assert_refused(recv(f, "nopool/a", &f->full, false, &res, &err), err,
		       BK_ERR_NOTFOUND,
		       "cannot receive into nopool/a: pool nopool does not "
		       "exist");
	assert_refused(recv(f, "dst/no/a", &f->full, false, &res, &err), err,
		       BK_ERR_NOTFOUND,
		       "cannot receive into dst/no/a: parent dst/no does not "
		       "exist");
	/* the pool's root exists: a full stream over it needs -F */
	assert_refused(recv(f, "dst", &f->full, false, &res, &err), err,
		       BK_ERR_EXISTS, "destination dst exists");
}

static void incremental_needs_base(void **state)
{
	struct fixture *f = *state;
	struct bk_lpool_recv_result res;
	struct bk_error err;
	char s[256];

	/* no dataset, then a dataset without the source */
	assert_refused(recv(f, "dst/b", &f->incr, false, &res, &err), err,
		       BK_ERR_NOTFOUND,
		       "destination dst/b does not exist: an incremental "
		       "stream needs the dataset holding its source snapshot");
	assert_int_equal(bk_lpool_create(f->p, "dst/b", false, &err), BK_OK);
	assert_refused(recv(f, "dst/b", &f->incr, false, &res, &err), err,
		       BK_ERR_NOTFOUND, "destination dst/b has no snapshots");
	assert_int_equal(bk_lpool_destroy(f->p, "dst/b", false, false, &err),
			 BK_OK);

	/* v1, v1 -> v2, v2 -> v3 */
	assert_int_equal(recv(f, "dst/b", &f->full, false, &res, &err), BK_OK);
	assert_refused(recv(f, "dst/b", &f->incr23, false, &res, &err), err,
		       BK_ERR_NOTFOUND,
		       "most recent snapshot of dst/b (v1, guid");
	assert_int_equal(recv(f, "dst/b", &f->incr, false, &res, &err), BK_OK);
	assert_string_equal(res.name, "dst/b@v2");
	assert_int_equal(recv(f, "dst/b", &f->incr23, false, &res, &err),
			 BK_OK);
	snaps(f, "dst/b", s, sizeof(s));
	assert_string_equal(s, "v1 v2 v3");

	/* from an older snapshot: only with -F, which destroys the later */
	assert_refused(recv(f, "dst/b", &f->incr, false, &res, &err), err,
		       BK_ERR_NOTFOUND,
		       "; -F destroys the snapshots after it");
	snaps(f, "dst/b", s, sizeof(s));
	assert_string_equal(s, "v1 v2 v3");
	assert_int_equal(recv(f, "dst/b", &f->incr, true, &res, &err), BK_OK);
	snaps(f, "dst/b", s, sizeof(s));
	assert_string_equal(s, "v1 v2");
	/* the snapshot is there already */
	assert_refused(recv(f, "dst/b", &f->incr, false, &res, &err), err,
		       BK_ERR_NOTFOUND, "most recent snapshot of dst/b (v2");
}

static void incremental_modified(void **state)
{
	struct fixture *f = *state;
	struct bk_lpool_recv_result res;
	struct bk_error err;
	char s[256];
	int fds[2];

	assert_int_equal(recv(f, "dst/c", &f->full, false, &res, &err), BK_OK);
	/* a change after the newest snapshot */
	assert_int_equal(pipe(fds), 0);
	assert_int_equal(write(fds[1], "changed", 7), 7);
	close(fds[1]);
	assert_int_equal(bk_lpool_write(f->p, "dst/c", 1000, 0, fds[0], 0,
					&err),
			 BK_OK);
	close(fds[0]);
	assert_refused(recv(f, "dst/c", &f->incr, false, &res, &err), err,
		       BK_ERR_EXISTS,
		       "destination dst/c has been modified since its most "
		       "recent snapshot v1; -F rolls it back");
	assert_int_equal(recv(f, "dst/c", &f->incr, true, &res, &err), BK_OK);
	snaps(f, "dst/c", s, sizeof(s));
	assert_string_equal(s, "v1 v2");
}

static void clone_of_snapshot(void **state)
{
	struct fixture *f = *state;
	struct bk_lpool_recv_result res;
	struct bk_lpool_entry *v = NULL;
	struct bk_error err;
	size_t n = 0;

	/* the origin (guid of v1) is not in the pool yet */
	assert_refused(recv(f, "dst/k", &f->clone, false, &res, &err), err,
		       BK_ERR_NOTFOUND,
		       "clone stream: its origin snapshot (guid");
	assert_int_equal(recv(f, "dst/d", &f->full, false, &res, &err), BK_OK);
	assert_int_equal(recv(f, "dst/k", &f->clone, false, &res, &err),
			 BK_OK);
	assert_string_equal(res.name, "dst/k@v2");
	assert_int_equal(bk_lpool_list(f->p, "dst/k", false,
				       BK_LPOOL_FILESYSTEM, &v, &n, &err),
			 BK_OK);
	assert_int_equal(n, 1);
	assert_string_equal(v[0].origin, "dst/d@v1");
	free(v);
	/* a clone is a new dataset: not over an existing one */
	assert_refused(recv(f, "dst/k", &f->clone, false, &res, &err), err,
		       BK_ERR_EXISTS, "destination dst/k exists");
	/* and its origin cannot go while it depends on it */
	assert_int_equal(bk_lpool_destroy(f->p, "dst/d@v1", false, false, &err),
			 BK_ERR_EXISTS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		/* each on a pool of its own */
		cmocka_unit_test_setup_teardown(full_into_new, setup, teardown),
		cmocka_unit_test_setup_teardown(full_needs_parent, setup,
						teardown),
		cmocka_unit_test_setup_teardown(incremental_needs_base, setup,
						teardown),
		cmocka_unit_test_setup_teardown(incremental_modified, setup,
						teardown),
		cmocka_unit_test_setup_teardown(clone_of_snapshot, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
