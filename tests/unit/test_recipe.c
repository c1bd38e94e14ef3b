/* The recipe format's one writer (recipe_put_chunk, recipe_put_record,
 * recipe_writer) and one iterator (recipe_next): round trips, every cut of
 * a recipe, entries that do not fit, segments cut between appends. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "repo/repo_pipe.h"

#define BIG (1u << 30)

/* A record as the parser hands it: header and payload in one piece. */
struct trec {
	uint8_t raw[BK_DRR_HDR_LEN + 8192];
	struct bk_drr_rec rec;
};

static void make_rec(struct trec *t, enum bk_drr_type type, uint32_t plen,
		     uint8_t fill)
{
	memset(t, 0, sizeof(*t));
	memset(t->raw, fill, BK_DRR_HDR_LEN);
	for (uint32_t i = 0; i < plen; i++)
		t->raw[BK_DRR_HDR_LEN + i] = (uint8_t)(fill + i);
	t->rec.hdr.type = type;
	t->rec.raw = t->raw;
	t->rec.payload = t->raw + BK_DRR_HDR_LEN;
	t->rec.payload_len = plen;
}

/* R (inline 100) C R (chunked 4096) R (no payload) C */
static void sample(struct bk_buf *b, struct trec *r1, struct trec *r2,
		   struct trec *r3, struct bk_id *c1, struct bk_id *c2)
{
	make_rec(r1, BK_DRR_OBJECT, 100, 0x11);
	make_rec(r2, BK_DRR_WRITE, 4096, 0x22);
	make_rec(r3, BK_DRR_FREE, 0, 0x33);
	memset(c1->b, 0xc1, sizeof(c1->b));
	memset(c2->b, 0xc2, sizeof(c2->b));
	bk_buf_init(b, BIG);
	assert_int_equal(recipe_put_record(b, &r1->rec, false, NULL), BK_OK);
	assert_int_equal(recipe_put_chunk(b, c1, 4096, NULL), BK_OK);
	assert_int_equal(recipe_put_record(b, &r2->rec, true, NULL), BK_OK);
	assert_int_equal(recipe_put_record(b, &r3->rec, false, NULL), BK_OK);
	assert_int_equal(recipe_put_chunk(b, c2, 0xfffffffeu, NULL), BK_OK);
}

static const size_t sample_ends[] = {
	RECIPE_REC_HDR + BK_DRR_HDR_LEN + 100,
	RECIPE_REC_HDR + BK_DRR_HDR_LEN + 100 + RECIPE_CHUNK_LEN,
	2 * (RECIPE_REC_HDR + BK_DRR_HDR_LEN) + 100 + RECIPE_CHUNK_LEN,
	3 * (RECIPE_REC_HDR + BK_DRR_HDR_LEN) + 100 + RECIPE_CHUNK_LEN,
	3 * (RECIPE_REC_HDR + BK_DRR_HDR_LEN) + 100 + 2 * RECIPE_CHUNK_LEN,
};

static void test_roundtrip(void **state)
{
	struct trec r1, r2, r3;
	struct bk_id c1, c2;
	struct bk_buf b;
	struct recipe_iter it;
	struct recipe_entry e;

	(void)state;
	sample(&b, &r1, &r2, &r3, &c1, &c2);
	assert_int_equal(b.len, sample_ends[4]);
	recipe_iter_init(&it, b.data, b.len);

	assert_true(recipe_next(&it, &e));
	assert_int_equal(e.kind, RECIPE_REC);
	assert_int_equal(e.inline_len, 100);
	assert_int_equal(e.chunked_len, 0);
	assert_memory_equal(e.hdr, r1.raw, BK_DRR_HDR_LEN + 100);
	assert_ptr_equal(e.payload, e.hdr + BK_DRR_HDR_LEN);
	assert_int_equal(it.pos, sample_ends[0]);

	assert_true(recipe_next(&it, &e));
	assert_int_equal(e.kind, RECIPE_CHUNK);
	assert_memory_equal(&e.id, &c1, sizeof(c1));
	assert_int_equal(e.rawlen, 4096);

	assert_true(recipe_next(&it, &e));
	assert_int_equal(e.kind, RECIPE_REC);
	assert_int_equal(e.inline_len, 0);
	assert_int_equal(e.chunked_len, 4096);
	assert_memory_equal(e.hdr, r2.raw, BK_DRR_HDR_LEN);

	assert_true(recipe_next(&it, &e));
	assert_int_equal(e.kind, RECIPE_REC);
	assert_int_equal(e.inline_len, 0);
	assert_int_equal(e.chunked_len, 0);
	assert_memory_equal(e.hdr, r3.raw, BK_DRR_HDR_LEN);

	assert_true(recipe_next(&it, &e));
	assert_int_equal(e.kind, RECIPE_CHUNK);
	assert_memory_equal(&e.id, &c2, sizeof(c2));
	assert_int_equal(e.rawlen, 0xfffffffeu);

	assert_false(recipe_next(&it, &e));
	assert_false(it.damaged);
	assert_int_equal(it.pos, b.len);
	assert_false(recipe_next(&it, &e)); /* and stays at the end */

	recipe_iter_init(&it, b.data, 0); /* an empty recipe is one */
	assert_false(recipe_next(&it, &e));
	assert_false(it.damaged);
	bk_buf_release(&b);
}

/* Every cut: the whole entries before it, then the end (a cut between
 * entries) or damage at the cut entry. */
static void test_truncated(void **state)
{
	struct trec r1, r2, r3;
	struct bk_id c1, c2;
	struct bk_buf b;

	(void)state;
	sample(&b, &r1, &r2, &r3, &c1, &c2);
	for (size_t cut = 0; cut <= b.len; cut++) {
		/* a copy of exactly cut bytes: ASan sees a read past it */
		uint8_t *p = malloc(cut ? cut : 1);
		struct recipe_iter it;
		struct recipe_entry e;
		size_t n = 0, whole = 0;
		bool boundary = cut == 0;

		assert_non_null(p);
		memcpy(p, b.data, cut);
		for (size_t k = 0; k < 5; k++) {
			if (sample_ends[k] <= cut)
				whole = k + 1;
			if (sample_ends[k] == cut)
				boundary = true;
		}
		recipe_iter_init(&it, p, cut);
		while (recipe_next(&it, &e))
			n++;
		assert_int_equal(n, whole);
		assert_int_equal(it.damaged, !boundary);
		assert_int_equal(it.pos, whole ? sample_ends[whole - 1] : 0);
		assert_false(recipe_next(&it, &e));
		free(p);
	}
	bk_buf_release(&b);
}

static void test_bad_entries(void **state)
{
	uint8_t p[RECIPE_REC_HDR + BK_DRR_HDR_LEN + 16];
	struct recipe_iter it;
	struct recipe_entry e;

	(void)state;
	/* an unknown kind */
	memset(p, 0, sizeof(p));
	p[0] = 'X';
	recipe_iter_init(&it, p, sizeof(p));
	assert_false(recipe_next(&it, &e));
	assert_true(it.damaged);
	assert_int_equal(it.pos, 0);

	/* a record whose inline payload runs past the end, by one byte and
	 * by far (no overflow) */
	p[0] = RECIPE_REC;
	for (int k = 0; k < 3; k++) {
		uint32_t inl = k == 0 ? 17 : k == 1 ? 0x7fffffffu : 0xffffffffu;

		for (int i = 0; i < 4; i++)
			p[1 + i] = (uint8_t)(inl >> (8 * i));
		recipe_iter_init(&it, p, sizeof(p));
		assert_false(recipe_next(&it, &e));
		assert_true(it.damaged);
	}
	p[1] = 16; /* exactly fits */
	p[2] = p[3] = p[4] = 0;
	recipe_iter_init(&it, p, sizeof(p));
	assert_true(recipe_next(&it, &e));
	assert_int_equal(e.inline_len, 16);
	assert_false(recipe_next(&it, &e));
	assert_false(it.damaged);

	/* a good entry, then garbage: the first comes, then damage there */
	p[1] = 0;
	p[RECIPE_REC_HDR + BK_DRR_HDR_LEN] = RECIPE_CHUNK; /* short */
	recipe_iter_init(&it, p, sizeof(p));
	assert_true(recipe_next(&it, &e));
	assert_false(recipe_next(&it, &e));
	assert_true(it.damaged);
	assert_int_equal(it.pos, RECIPE_REC_HDR + BK_DRR_HDR_LEN);
}

/* The segment writer, over a put_recipe that keeps the segments. */
struct segs {
	struct bk_buf all;
	size_t n, largest;
};

static enum bk_code keep_segment(void *sess, const uint8_t *plain, size_t len,
				 struct bk_id *id, uint64_t *stored,
				 struct bk_error *err)
{
	struct segs *s = sess;

	memset(id->b, (int)s->n, sizeof(id->b));
	s->n++;
	if (len > s->largest)
		s->largest = len;
	*stored += len;
	return bk_buf_append(&s->all, plain, len, err);
}

static void test_writer_segments(void **state)
{
	const struct repo_pipe_ops ops = { .put_recipe = keep_segment };
	struct recipe_writer w;
	struct segs s = { .n = 0 };
	struct bk_buf entries;
	struct bk_hash h;
	struct bk_id want, got;
	struct trec r;
	uint64_t total = 0;

	(void)state;
	bk_buf_init(&s.all, BIG);
	bk_buf_init(&entries, BIG);
	bk_hash_init(&h);
	recipe_writer_init(&w, &ops, &s);
	make_rec(&r, BK_DRR_OBJECT, 4000, 0x44);
	/* 3 segments' worth, in appends of one to three entries */
	while (total < 3 * (uint64_t)RECIPE_SEGMENT) {
		bk_buf_reset(&entries);
		for (int k = 0; k <= (int)(total % 3); k++)
			assert_int_equal(recipe_put_record(&entries, &r.rec,
							   false, NULL),
					 BK_OK);
		assert_int_equal(recipe_append(&w, entries.data, entries.len,
					       NULL),
				 BK_OK);
		bk_hash_update(&h, entries.data, entries.len);
		total += entries.len;
	}
	assert_int_equal(recipe_finish(&w, &got, NULL), BK_OK);
	bk_hash_final(&h, &want);
	assert_memory_equal(&got, &want, sizeof(got));
	assert_int_equal(s.all.len, total);
	assert_int_equal(w.stored, total);
	assert_int_equal(w.nids, s.n);
	assert_true(s.n >= 3);
	assert_true(s.largest <= RECIPE_SEGMENT);
	for (size_t i = 0; i < w.nids; i++)
		assert_int_equal(w.ids[i].b[0], (uint8_t)i);
	/* cut between entries: each segment walks on its own (the whole
	 * does, and every segment starts where an entry does) */
	{
		struct recipe_iter it;
		struct recipe_entry e;
		size_t n = 0;

		recipe_iter_init(&it, s.all.data, s.all.len);
		while (recipe_next(&it, &e))
			n++;
		assert_false(it.damaged);
		assert_int_equal(n * (RECIPE_REC_HDR + BK_DRR_HDR_LEN + 4000),
				 total);
	}
	recipe_writer_release(&w);

	/* dry: the same digest, nothing stored */
	s.n = 0;
	recipe_writer_init(&w, &ops, &s);
	w.dry = true;
	assert_int_equal(recipe_append(&w, s.all.data, 10 * 4321, NULL),
			 BK_OK);
	assert_int_equal(recipe_finish(&w, &got, NULL), BK_OK);
	assert_int_equal(s.n, 0);
	assert_int_equal(w.nids, 0);
	recipe_writer_release(&w);
	bk_buf_release(&s.all);
	bk_buf_release(&entries);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_bad_entries),
		cmocka_unit_test(test_writer_segments),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
