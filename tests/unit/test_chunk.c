/* chunker: cuts fall between payloads only, chunk sizes stay within
 * BK_CHUNK_MIN..BK_CHUNK_MAX, the same payloads with the same keys cut the
 * same way, a decision depends on the payload alone (not on where it
 * falls), feeding a stream in two runs equals feeding it at once, and
 * other keys cut elsewhere. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "backup/chunk.h"

#define NPAY 2000
#define PAY_MAX (64u << 10)

struct fixture {
	struct bk_keys *k, *other;
	uint8_t *data;        /* all payloads, back to back */
	size_t off[NPAY + 1]; /* payload i is data[off[i]..off[i + 1]) */
};

struct cuts {
	size_t n;
	size_t after[NPAY + 1]; /* a chunk ends after payload after[i] */
	size_t bytes[NPAY + 1]; /* of that many bytes */
};

static uint64_t next(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct bk_error err;
	uint64_t x = 0x9E3779B97F4A7C15u;

	if (!f || bk_crypto_init(&err) || bk_keys_generate(&f->k, &err) ||
	    bk_keys_generate(&f->other, &err))
		return -1;
	/* payload lengths from 512 bytes to 64 KiB, as WRITE records */
	for (size_t i = 0; i < NPAY; i++)
		f->off[i + 1] = f->off[i] + 512 + next(&x) % (PAY_MAX - 511);
	f->data = malloc(f->off[NPAY]);
	if (!f->data)
		return -1;
	for (size_t i = 0; i < f->off[NPAY]; i++)
		f->data[i] = (uint8_t)next(&x);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	bk_keys_free(f->k);
	bk_keys_free(f->other);
	free(f->data);
	free(f);
	return 0;
}

static size_t len_of(const struct fixture *f, size_t i)
{
	return f->off[i + 1] - f->off[i];
}

/* Payloads from..to through c as push drives it: a cut before a payload
 * that would overflow, and after one the chunker ends the chunk with. */
static void feed(const struct fixture *f, struct bk_chunker *c, size_t from,
		 size_t to, struct cuts *out)
{
	for (size_t i = from; i < to; i++) {
		size_t len = len_of(f, i);

		if (bk_chunker_cut_before(c, len)) {
			out->after[out->n] = i - 1;
			out->bytes[out->n++] = c->cur;
			bk_chunker_reset(c);
		}
		if (bk_chunker_add(c, f->data + f->off[i], len)) {
			out->after[out->n] = i;
			out->bytes[out->n++] = c->cur;
			bk_chunker_reset(c);
		}
	}
}

static void cut(const struct fixture *f, const struct bk_keys *k,
		struct cuts *out)
{
	struct bk_chunker c;

	memset(out, 0, sizeof(*out));
	bk_chunker_init(&c, k);
	feed(f, &c, 0, NPAY, out);
	if (c.cur) {
		out->after[out->n] = NPAY - 1;
		out->bytes[out->n++] = c.cur;
	}
}

static void at_boundaries_and_bounded(void **state)
{
	const struct fixture *f = *state;
	static struct cuts cs;
	size_t first = 0, total = 0;

	cut(f, f->k, &cs);
	assert_true(cs.n > 10);
	for (size_t i = 0; i < cs.n; i++) {
		size_t sum = 0;

		/* a chunk is whole payloads: first..after[i] */
		assert_true(cs.after[i] >= first);
		for (size_t j = first; j <= cs.after[i]; j++)
			sum += len_of(f, j);
		assert_int_equal(sum, cs.bytes[i]);
		assert_true(cs.bytes[i] <= BK_CHUNK_MAX);
		if (i + 1 < cs.n)
			assert_true(cs.bytes[i] >= BK_CHUNK_MIN);
		total += sum;
		first = cs.after[i] + 1;
	}
	assert_int_equal(first, NPAY);
	assert_int_equal(total, f->off[NPAY]);
}

static void deterministic(void **state)
{
	const struct fixture *f = *state;
	static struct cuts a, b, o;

	cut(f, f->k, &a);
	cut(f, f->k, &b);
	assert_int_equal(a.n, b.n);
	assert_memory_equal(a.after, b.after, a.n * sizeof(a.after[0]));
	/* keyed: another repository's keys cut elsewhere */
	cut(f, f->other, &o);
	assert_false(a.n == o.n &&
		     !memcmp(a.after, o.after, a.n * sizeof(a.after[0])));
}

static void pieces_equal_whole(void **state)
{
	const struct fixture *f = *state;
	static struct cuts whole, parts;
	struct bk_chunker c;

	cut(f, f->k, &whole);
	/* the same stream in two runs, the chunker kept in between */
	memset(&parts, 0, sizeof(parts));
	bk_chunker_init(&c, f->k);
	feed(f, &c, 0, NPAY / 3, &parts);
	feed(f, &c, NPAY / 3, NPAY, &parts);
	if (c.cur) {
		parts.after[parts.n] = NPAY - 1;
		parts.bytes[parts.n++] = c.cur;
	}
	assert_int_equal(whole.n, parts.n);
	assert_memory_equal(whole.after, parts.after,
			    whole.n * sizeof(whole.after[0]));
	assert_memory_equal(whole.bytes, parts.bytes,
			    whole.n * sizeof(whole.bytes[0]));
}

static void decision_is_local(void **state)
{
	const struct fixture *f = *state;
	size_t cuts = 0;

	/* between MIN and MAX, whether a chunk ends after a payload does not
	 * depend on what came before it in the chunk */
	for (size_t i = 0; i < NPAY; i++) {
		struct bk_chunker a, b;
		size_t len = len_of(f, i);
		bool ra, rb;

		bk_chunker_init(&a, f->k);
		bk_chunker_init(&b, f->k);
		a.cur = BK_CHUNK_MIN;
		b.cur = BK_CHUNK_MAX - PAY_MAX - 1;
		ra = bk_chunker_add(&a, f->data + f->off[i], len);
		rb = bk_chunker_add(&b, f->data + f->off[i], len);
		assert_int_equal(ra, rb);
		cuts += ra;
	}
	/* and about len / AVG of them end one: between 1/10 and 1/2 here */
	assert_true(cuts > NPAY / 10 && cuts < NPAY / 2);
}

static void limits(void **state)
{
	const struct fixture *f = *state;
	struct bk_chunker c;

	bk_chunker_init(&c, f->k);
	/* below MIN, never a cut */
	assert_false(bk_chunker_add(&c, f->data, BK_CHUNK_MIN - 1));
	/* a payload of AVG or more ends a chunk past MIN */
	assert_true(bk_chunker_add(&c, f->data, BK_CHUNK_AVG));
	bk_chunker_reset(&c);
	assert_int_equal(c.cur, 0);
	/* an empty chunk takes any payload, even one over MAX... */
	assert_false(bk_chunker_cut_before(&c, BK_CHUNK_MAX + 1));
	/* ...and reaching MAX ends it */
	c.cur = BK_CHUNK_MAX - 100;
	assert_false(bk_chunker_cut_before(&c, 100));
	assert_true(bk_chunker_cut_before(&c, 101));
	assert_true(bk_chunker_add(&c, f->data, 100));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(at_boundaries_and_bounded),
		cmocka_unit_test(deterministic),
		cmocka_unit_test(pieces_equal_whole),
		cmocka_unit_test(decision_is_local),
		cmocka_unit_test(limits),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
