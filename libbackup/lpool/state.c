/* SPDX-License-Identifier: MIT */
/*
 * A dataset's state in memory (objects with their blocks) and its file
 * form.  State files are named by the BLAKE2b of their bytes, so equal
 * states share a file and a damaged one is noticed when it is loaded.
 */
#include <stdlib.h>
#include <string.h>

#include "lpool_impl.h"

static const char STATE_MAGIC[8] = { 'Z', 'B', 'L', 'P', 'S', 'T', '0', '1' };

bool lp_host_bigendian(void)
{
	const uint16_t one = 1;

	return *(const uint8_t *)&one == 0;
}

void lp_state_init(struct lp_state *s)
{
	memset(s, 0, sizeof(*s));
	s->objset_type = 2; /* a filesystem */
}

void lp_object_clear(struct lp_object *o)
{
	free(o->blocks);
	free(o->bonus);
	o->blocks = NULL;
	o->bonus = NULL;
	o->nblocks = o->cap = 0;
	o->bonus_paylen = 0;
	o->has_spill = false;
}

void lp_state_free(struct lp_state *s)
{
	for (size_t i = 0; i < s->nobjs; i++)
		lp_object_clear(&s->objs[i]);
	free(s->objs);
	free(s->ranges);
	free(s->nvl);
	lp_state_init(s);
}

static enum bk_code nomem(struct bk_error *err)
{
	return bk_error_set(err, BK_ERR_NOMEM, "out of memory");
}

enum bk_code lp_state_copy(struct lp_state *dst, const struct lp_state *src,
			   struct bk_error *err)
{
	lp_state_init(dst);
	*dst = *src;
	dst->objs = NULL;
	dst->ranges = NULL;
	dst->nvl = NULL;
	dst->nobjs = dst->cap = dst->nranges = dst->rcap = 0;
	if (src->nvl_len) {
		dst->nvl = malloc(src->nvl_len);
		if (!dst->nvl)
			goto oom;
		memcpy(dst->nvl, src->nvl, src->nvl_len);
	}
	if (src->nranges) {
		dst->ranges = malloc(src->nranges * sizeof(*dst->ranges));
		if (!dst->ranges)
			goto oom;
		memcpy(dst->ranges, src->ranges,
		       src->nranges * sizeof(*dst->ranges));
		dst->nranges = dst->rcap = src->nranges;
	}
	if (src->nobjs) {
		dst->objs = calloc(src->nobjs, sizeof(*dst->objs));
		if (!dst->objs)
			goto oom;
		dst->cap = src->nobjs;
	}
	for (size_t i = 0; i < src->nobjs; i++) {
		const struct lp_object *so = &src->objs[i];
		struct lp_object *o = &dst->objs[i];

		*o = *so;
		o->bonus = NULL;
		o->blocks = NULL;
		o->nblocks = o->cap = 0;
		dst->nobjs = i + 1;
		if (so->bonus_paylen) {
			o->bonus = malloc(so->bonus_paylen);
			if (!o->bonus)
				goto oom;
			memcpy(o->bonus, so->bonus, so->bonus_paylen);
		}
		if (so->nblocks) {
			o->blocks = malloc(so->nblocks * sizeof(*o->blocks));
			if (!o->blocks)
				goto oom;
			memcpy(o->blocks, so->blocks,
			       so->nblocks * sizeof(*o->blocks));
			o->nblocks = o->cap = so->nblocks;
		}
	}
	return BK_OK;
oom:
	lp_state_free(dst);
	return nomem(err);
}

long lp_state_find(const struct lp_state *s, uint64_t obj, size_t *ins)
{
	size_t lo = 0, hi = s->nobjs;

	/* objects mostly arrive in order: try the end first */
	if (hi && s->objs[hi - 1].object < obj) {
		if (ins)
			*ins = hi;
		return -1;
	}
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (s->objs[mid].object < obj)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (ins)
		*ins = lo;
	return lo < s->nobjs && s->objs[lo].object == obj ? (long)lo : -1;
}

enum bk_code lp_state_insert(struct lp_state *s, size_t at, uint64_t obj,
			     struct lp_object **out, struct bk_error *err)
{
	if (s->nobjs == s->cap) {
		size_t nc = s->cap ? s->cap * 2 : 16;
		struct lp_object *n = realloc(s->objs, nc * sizeof(*n));

		if (!n)
			return nomem(err);
		s->objs = n;
		s->cap = nc;
	}
	memmove(&s->objs[at + 1], &s->objs[at],
		(s->nobjs - at) * sizeof(*s->objs));
	memset(&s->objs[at], 0, sizeof(*s->objs));
	s->objs[at].object = obj;
	s->nobjs++;
	*out = &s->objs[at];
	return BK_OK;
}

void lp_state_remove(struct lp_state *s, size_t at)
{
	lp_object_clear(&s->objs[at]);
	memmove(&s->objs[at], &s->objs[at + 1],
		(s->nobjs - at - 1) * sizeof(*s->objs));
	s->nobjs--;
}

long lp_object_find_block(const struct lp_object *o, uint64_t off,
			  size_t *ins)
{
	size_t lo = 0, hi = o->nblocks;

	if (hi && o->blocks[hi - 1].offset < off) {
		if (ins)
			*ins = hi;
		return -1;
	}
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (o->blocks[mid].offset < off)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (ins)
		*ins = lo;
	return lo < o->nblocks && o->blocks[lo].offset == off ? (long)lo : -1;
}

enum bk_code lp_object_put_block(struct lp_object *o, const struct lp_block *b,
				 struct bk_error *err)
{
	size_t at;
	long i = lp_object_find_block(o, b->offset, &at);

	if (i >= 0) {
		o->blocks[i] = *b;
		return BK_OK;
	}
	if (o->nblocks == o->cap) {
		size_t nc = o->cap ? o->cap * 2 : 8;
		struct lp_block *n = realloc(o->blocks, nc * sizeof(*n));

		if (!n)
			return nomem(err);
		o->blocks = n;
		o->cap = nc;
	}
	memmove(&o->blocks[at + 1], &o->blocks[at],
		(o->nblocks - at) * sizeof(*o->blocks));
	o->blocks[at] = *b;
	o->nblocks++;
	return BK_OK;
}

void lp_object_remove_blocks(struct lp_object *o, size_t from, size_t to)
{
	if (from >= to)
		return;
	memmove(&o->blocks[from], &o->blocks[to],
		(o->nblocks - to) * sizeof(*o->blocks));
	o->nblocks -= to - from;
}

enum bk_code lp_state_put_range(struct lp_state *s, const struct lp_range *r,
				struct bk_error *err)
{
	size_t at = 0;

	while (at < s->nranges && s->ranges[at].firstobj < r->firstobj)
		at++;
	if (at < s->nranges && s->ranges[at].firstobj == r->firstobj) {
		s->ranges[at] = *r;
		return BK_OK;
	}
	if (s->nranges == s->rcap) {
		size_t nc = s->rcap ? s->rcap * 2 : 8;
		struct lp_range *n = realloc(s->ranges, nc * sizeof(*n));

		if (!n)
			return nomem(err);
		s->ranges = n;
		s->rcap = nc;
	}
	memmove(&s->ranges[at + 1], &s->ranges[at],
		(s->nranges - at) * sizeof(*s->ranges));
	s->ranges[at] = *r;
	s->nranges++;
	return BK_OK;
}

void lp_state_usage(const struct lp_state *s, uint64_t *refer,
		    uint64_t *objects)
{
	uint64_t n = 0;

	for (size_t i = 0; i < s->nobjs; i++) {
		const struct lp_object *o = &s->objs[i];

		for (size_t j = 0; j < o->nblocks; j++)
			if (o->blocks[j].kind != LP_REDACT)
				n += o->blocks[j].lsize;
		if (o->has_spill)
			n += o->spill.length;
	}
	*refer = n;
	*objects = s->nobjs;
}

/* ---- file form ---------------------------------------------------------- */

struct enc {
	struct bk_buf *b;
	enum bk_code rc;
	struct bk_error *err;
};

static void put(struct enc *e, const void *p, size_t n)
{
	if (!e->rc)
		e->rc = bk_buf_append(e->b, p, n, e->err);
}

static void put64(struct enc *e, uint64_t v)
{
	uint8_t b[8];

	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	put(e, b, 8);
}

static void put32(struct enc *e, uint32_t v)
{
	uint8_t b[4];

	for (int i = 0; i < 4; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	put(e, b, 4);
}

static void put8(struct enc *e, uint8_t v)
{
	put(e, &v, 1);
}

enum bk_code lp_state_encode(const struct lp_state *s, struct bk_buf *out,
			     struct bk_error *err)
{
	struct enc e = { out, BK_OK, err };

	put(&e, STATE_MAGIC, sizeof(STATE_MAGIC));
	put8(&e, s->order_set);
	put8(&e, s->bigendian);
	put8(&e, 0);
	put8(&e, 0);
	put32(&e, s->objset_type);
	put32(&e, s->begin_flags);
	put64(&e, s->features);
	put32(&e, s->nvl_len);
	if (s->nvl_len)
		put(&e, s->nvl, s->nvl_len);
	put64(&e, s->nranges);
	for (size_t i = 0; i < s->nranges; i++) {
		const struct lp_range *r = &s->ranges[i];

		put64(&e, r->firstobj);
		put64(&e, r->numslots);
		put64(&e, r->birth);
		put8(&e, r->flags);
		put(&e, r->salt, 8);
		put(&e, r->iv, 12);
		put(&e, r->mac, 16);
	}
	put64(&e, s->nobjs);
	for (size_t i = 0; i < s->nobjs; i++) {
		const struct lp_object *o = &s->objs[i];

		put64(&e, o->object);
		put64(&e, o->birth);
		put64(&e, o->maxblkid);
		put32(&e, o->type);
		put32(&e, o->bonustype);
		put32(&e, o->blksz);
		put32(&e, o->bonuslen);
		put32(&e, o->raw_bonuslen);
		put8(&e, o->checksumtype);
		put8(&e, o->compress);
		put8(&e, o->dn_slots);
		put8(&e, o->flags);
		put8(&e, o->indblkshift);
		put8(&e, o->nlevels);
		put8(&e, o->nblkptr);
		put8(&e, o->has_spill);
		put32(&e, o->bonus_paylen);
		if (o->bonus_paylen)
			put(&e, o->bonus, o->bonus_paylen);
		if (o->has_spill) {
			const struct lp_spill *sp = &o->spill;

			put64(&e, sp->birth);
			put64(&e, sp->length);
			put64(&e, sp->compressed_size);
			put32(&e, sp->type);
			put8(&e, sp->flags);
			put8(&e, sp->compression);
			put(&e, sp->salt, 8);
			put(&e, sp->iv, 12);
			put(&e, sp->mac, 16);
			put(&e, sp->hash, BK_ID_LEN);
			put32(&e, sp->paylen);
		}
		put64(&e, o->nblocks);
		for (size_t j = 0; j < o->nblocks; j++) {
			const struct lp_block *b = &o->blocks[j];

			put64(&e, b->offset);
			put64(&e, b->birth);
			put64(&e, b->lsize);
			put64(&e, b->psize);
			for (int k = 0; k < 4; k++)
				put64(&e, b->key_cksum.word[k]);
			put64(&e, b->key_prop);
			put32(&e, b->type);
			put8(&e, b->kind);
			put8(&e, b->checksumtype);
			put8(&e, b->flags);
			put8(&e, b->compression);
			put8(&e, b->etype);
			put(&e, b->salt, 8);
			put(&e, b->iv, 12);
			put(&e, b->mac, 16);
			put(&e, b->hash, BK_ID_LEN);
			put32(&e, b->paylen);
		}
	}
	return e.rc;
}

struct dec {
	const uint8_t *p;
	size_t left;
	bool bad;
};

static void get(struct dec *d, void *out, size_t n)
{
	if (d->bad || d->left < n) {
		d->bad = true;
		memset(out, 0, n);
		return;
	}
	memcpy(out, d->p, n);
	d->p += n;
	d->left -= n;
}

static uint64_t get64(struct dec *d)
{
	uint8_t b[8];
	uint64_t v = 0;

	get(d, b, 8);
	for (int i = 7; i >= 0; i--)
		v = v << 8 | b[i];
	return v;
}

static uint32_t get32(struct dec *d)
{
	uint8_t b[4];

	get(d, b, 4);
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
	       (uint32_t)b[3] << 24;
}

static uint8_t get8(struct dec *d)
{
	uint8_t v;

	get(d, &v, 1);
	return v;
}

/* Smallest encodings, to bound counts by the bytes that remain. */
#define RANGE_MIN 61u
#define OBJECT_MIN 55u
#define BLOCK_MIN 141u

static enum bk_code corrupt(struct bk_error *err, const char *what)
{
	return bk_error_set(err, BK_ERR_FORMAT, "damaged state file: %s",
			    what);
}

/* The fixed head: magic, flags, BEGIN fields and the package nvlist. */
static enum bk_code decode_head(struct dec *d, struct lp_state *s,
				struct bk_error *err)
{
	char magic[8];
	uint8_t f[4];

	get(d, magic, 8);
	if (d->bad || memcmp(magic, STATE_MAGIC, 8) != 0)
		return corrupt(err, "not a state file");
	get(d, f, 4);
	if (f[0] > 1 || f[1] > 1 || f[2] || f[3])
		return corrupt(err, "flags");
	s->order_set = f[0];
	s->bigendian = f[1];
	s->objset_type = get32(d);
	s->begin_flags = get32(d);
	s->features = get64(d);
	s->nvl_len = get32(d);
	if (d->bad || s->nvl_len > d->left ||
	    s->nvl_len > BK_DRR_MAX_BEGIN_PAYLOAD) {
		s->nvl_len = 0;
		return corrupt(err, "nvlist length");
	}
	if (s->nvl_len) {
		s->nvl = malloc(s->nvl_len);
		if (!s->nvl) {
			s->nvl_len = 0;
			return nomem(err);
		}
		get(d, s->nvl, s->nvl_len);
	}
	return BK_OK;
}

/* The object ranges (FREEOBJECTS and OBJECT_RANGE), in order. */
static enum bk_code decode_ranges(struct dec *d, struct lp_state *s,
				  struct bk_error *err)
{
	uint64_t n = get64(d);

	if (d->bad || n > d->left / RANGE_MIN)
		return corrupt(err, "range count");
	if (n) {
		s->ranges = calloc(n, sizeof(*s->ranges));
		if (!s->ranges)
			return nomem(err);
		s->rcap = n;
	}
	for (uint64_t i = 0; i < n; i++) {
		struct lp_range *r = &s->ranges[i];

		r->firstobj = get64(d);
		r->numslots = get64(d);
		r->birth = get64(d);
		r->flags = get8(d);
		get(d, r->salt, 8);
		get(d, r->iv, 12);
		get(d, r->mac, 16);
		s->nranges = i + 1;
		if (i && r->firstobj <= s->ranges[i - 1].firstobj)
			return corrupt(err, "ranges out of order");
	}
	return BK_OK;
}

static enum bk_code decode_spill(struct dec *d, struct lp_spill *sp,
				 struct bk_error *err)
{
	sp->birth = get64(d);
	sp->length = get64(d);
	sp->compressed_size = get64(d);
	sp->type = get32(d);
	sp->flags = get8(d);
	sp->compression = get8(d);
	get(d, sp->salt, 8);
	get(d, sp->iv, 12);
	get(d, sp->mac, 16);
	get(d, sp->hash, BK_ID_LEN);
	sp->paylen = get32(d);
	if (sp->paylen > BK_DRR_MAX_PAYLOAD)
		return corrupt(err, "spill length");
	return BK_OK;
}

/* An object's blocks, in offset order. */
static enum bk_code decode_blocks(struct dec *d, struct lp_object *o,
				  struct bk_error *err)
{
	uint64_t nb = get64(d);

	if (d->bad || nb > d->left / BLOCK_MIN)
		return corrupt(err, "block count");
	if (nb) {
		o->blocks = calloc(nb, sizeof(*o->blocks));
		if (!o->blocks)
			return nomem(err);
		o->cap = nb;
	}
	for (uint64_t j = 0; j < nb; j++) {
		struct lp_block *b = &o->blocks[j];

		o->nblocks = j + 1;
		b->offset = get64(d);
		b->birth = get64(d);
		b->lsize = get64(d);
		b->psize = get64(d);
		for (int k = 0; k < 4; k++)
			b->key_cksum.word[k] = get64(d);
		b->key_prop = get64(d);
		b->type = get32(d);
		b->kind = get8(d);
		b->checksumtype = get8(d);
		b->flags = get8(d);
		b->compression = get8(d);
		b->etype = get8(d);
		get(d, b->salt, 8);
		get(d, b->iv, 12);
		get(d, b->mac, 16);
		get(d, b->hash, BK_ID_LEN);
		b->paylen = get32(d);
		if (d->bad || b->kind < LP_DATA || b->kind > LP_REDACT ||
		    b->paylen > BK_DRR_MAX_PAYLOAD ||
		    (j && b->offset <= o->blocks[j - 1].offset))
			return corrupt(err, "block list");
	}
	return BK_OK;
}

/* Object i: its dnode fields, bonus, spill and blocks. */
static enum bk_code decode_object(struct dec *d, struct lp_state *s,
				  uint64_t i, struct bk_error *err)
{
	struct lp_object *o = &s->objs[i];
	uint8_t hs;
	enum bk_code rc;

	s->nobjs = i + 1;
	o->object = get64(d);
	o->birth = get64(d);
	o->maxblkid = get64(d);
	o->type = get32(d);
	o->bonustype = get32(d);
	o->blksz = get32(d);
	o->bonuslen = get32(d);
	o->raw_bonuslen = get32(d);
	o->checksumtype = get8(d);
	o->compress = get8(d);
	o->dn_slots = get8(d);
	o->flags = get8(d);
	o->indblkshift = get8(d);
	o->nlevels = get8(d);
	o->nblkptr = get8(d);
	hs = get8(d);
	if (hs > 1)
		return corrupt(err, "spill flag");
	o->has_spill = hs;
	o->bonus_paylen = get32(d);
	if (d->bad || o->object == 0 || o->object > BK_DRR_MAX_OBJECT ||
	    (i && o->object <= s->objs[i - 1].object)) {
		o->bonus_paylen = 0;
		return corrupt(err, "object numbers");
	}
	if (o->bonus_paylen > LP_MAX_BONUS || o->bonus_paylen > d->left) {
		o->bonus_paylen = 0;
		return corrupt(err, "bonus length");
	}
	if (o->bonus_paylen) {
		o->bonus = malloc(o->bonus_paylen);
		if (!o->bonus) {
			o->bonus_paylen = 0;
			return nomem(err);
		}
		get(d, o->bonus, o->bonus_paylen);
	}
	if (o->has_spill && (rc = decode_spill(d, &o->spill, err)))
		return rc;
	return decode_blocks(d, o, err);
}

static enum bk_code decode_objects(struct dec *d, struct lp_state *s,
				   struct bk_error *err)
{
	uint64_t n = get64(d);
	enum bk_code rc;

	if (d->bad || n > d->left / OBJECT_MIN)
		return corrupt(err, "object count");
	if (n) {
		s->objs = calloc(n, sizeof(*s->objs));
		if (!s->objs)
			return nomem(err);
		s->cap = n;
	}
	for (uint64_t i = 0; i < n; i++)
		if ((rc = decode_object(d, s, i, err)))
			return rc;
	return BK_OK;
}

enum bk_code lp_state_decode(const uint8_t *p, size_t len, struct lp_state *s,
			     struct bk_error *err)
{
	struct dec d = { p, len, false };
	enum bk_code rc;

	lp_state_init(s);
	rc = decode_head(&d, s, err);
	if (!rc)
		rc = decode_ranges(&d, s, err);
	if (!rc)
		rc = decode_objects(&d, s, err);
	if (!rc && d.bad)
		rc = corrupt(err, "truncated");
	if (!rc && d.left)
		rc = corrupt(err, "trailing bytes");
	if (rc)
		lp_state_free(s);
	return rc;
}
