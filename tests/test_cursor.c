/*
 * Cursors on every format: over random tables (huge and small leaves, both
 * canonical halves, entries shared by npt_copy_from) the cursor returns
 * exactly npt_walk's visits in npt_walk's order, for every combination of
 * visit kinds and for random sub-ranges; npt_cursor_skip drops exactly the
 * subtree it is called on; bad arguments are refused.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "npt.h"
#include "lib/check_main.h"
#include "lib/testmm.h"
#include "lib/tutil.h"

#define POOL 8192

struct seq {
	struct npt_visit *v;
	size_t n, cap;
};

static void seq_add(struct seq *s, const struct npt_visit *v)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 256;
		s->v = realloc(s->v, s->cap * sizeof(*s->v));
		ck_assert_ptr_nonnull(s->v);
	}
	s->v[s->n++] = *v;
}

static int walk_rec(const struct npt_visit *v, void *arg)
{
	seq_add(arg, v);
	return 0;
}

static int same_visit(const struct npt_visit *a, const struct npt_visit *b)
{
	return a->kind == b->kind && a->level == b->level && a->va == b->va && a->size == b->size &&
	       a->pte == b->pte && a->pa == b->pa && a->flags == b->flags &&
	       !a->shared == !b->shared;
}

static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Cursor and walk over [va, va + size) with which: the same visits. */
static void compare(struct fctx *c, const struct npt_table *t, uint64_t va, uint64_t size,
		    unsigned which)
{
	struct seq w = { 0 };
	struct npt_cursor cur;
	size_t i = 0;
	int r;

	EXPECT_OK(c, npt_walk(t, va, size, which, walk_rec, &w));
	EXPECT_OK(c, npt_cursor_init(&cur, t, va, size, which));
	while ((r = npt_cursor_next(&cur)) == 1) {
		ck_assert_msg(i < w.n, "[%s] cursor [0x%llx +0x%llx) which %u: more visits than walk",
			      c->name, (unsigned long long)va, (unsigned long long)size, which);
		ck_assert_msg(same_visit(&cur.v, &w.v[i]),
			      "[%s] cursor [0x%llx +0x%llx) which %u: visit %zu differs: kind %u "
			      "level %u va 0x%llx, walk kind %u level %u va 0x%llx",
			      c->name, (unsigned long long)va, (unsigned long long)size, which, i,
			      cur.v.kind, cur.v.level, (unsigned long long)cur.v.va, w.v[i].kind,
			      w.v[i].level, (unsigned long long)w.v[i].va);
		i++;
	}
	ck_assert_int_eq(r, 0);
	ck_assert_msg(i == w.n, "[%s] cursor which %u: %zu visits, walk %zu", c->name, which, i, w.n);
	ck_assert_int_eq(npt_cursor_next(&cur), 0); /* stays at the end */
	free(w.v);
}

/* A table with a bit of everything. */
static struct npt_table *random_table(struct fctx *c, uint64_t seed, struct npt_table **src)
{
	struct npt_table *t = fctx_new(c);
	uint64_t s = seed | 1, span = c->lo_end < (1ull << 40) ? c->lo_end : (1ull << 40);
	unsigned k;

	for (k = 0; k < 60; k++) {
		uint64_t r = rng_next(&s);
		unsigned level = (unsigned)(r % (c->top_leaf + 1));
		uint64_t sz = lsize(level < 2 ? level : 1) * (1 + (r >> 8) % 3);
		uint64_t va = (rng_next(&s) % span) & ~(PG - 1);
		uint64_t pa = fctx_pa(c, lsize(1), 64 * lsize(1)) + ((r >> 20) % 64) * lsize(1);

		if ((r >> 40) & 1) /* huge leaves need aligned addresses */
			va &= ~(lsize(1) - 1);
		if (va + sz > span)
			continue;
		(void)npt_map_region(t, va, pa, sz, c->valid[(r >> 30) % c->nvalid],
				     (r >> 40) & 1 ? NPT_MAP_HUGE : 0);
		if (c->info.canonical)
			(void)npt_map_region(t, c->hi_start + va, pa, sz, c->rw, NPT_MAP_HUGE);
	}
	*src = NULL;
	if (fctx_fits(c, c->root_esize, 4 * c->root_esize)) {
		uint64_t k0 = 3 * c->root_esize;

		*src = fctx_new(c);
		if (!npt_map_region(*src, k0 + 5 * PG, 0, 3 * PG, c->rw, 0))
			(void)npt_copy_from(t, *src, k0, c->root_esize);
	}
	return t;
}

START_TEST(t_same_as_walk)
{
	struct fctx c;
	struct npt_table *t, *src;
	uint64_t s = 0x9e3779b97f4a7c15ull, hi_size;
	unsigned which, k;

	fctx_init(&c, (unsigned)_i, POOL, 1);
	t = random_table(&c, 0x1234 + _i, &src);
	{
		struct seq w = { 0 };
		size_t l, leaves = 0, huge = 0, shared = 0;

		EXPECT_OK(&c, npt_walk(t, 0, c.lo_end, NPT_WALK_LEAF, walk_rec, &w));
		for (l = 0; l < w.n; l++) {
			leaves++;
			huge += w.v[l].level > 0;
			shared += w.v[l].shared != 0;
		}
		/* the table is worth comparing over */
		ck_assert_msg(leaves > 1000 && huge > 5 && (shared > 0 || !src),
			      "[%s] random table: %zu leaves, %zu huge, %zu shared", c.name, leaves,
			      huge, shared);
		free(w.v);
	}
	for (which = 0; which <= 7; which++) {
		compare(&c, t, 0, c.lo_end, which);
		if (c.info.canonical) {
			hi_size = 0 - c.hi_start;
			compare(&c, t, c.hi_start, hi_size, which);
		}
	}
	for (k = 0; k < 200; k++) {
		uint64_t a = rng_next(&s) % (c.lo_end < (1ull << 41) ? c.lo_end : (1ull << 41));
		uint64_t len = (rng_next(&s) % (1ull << (12 + (k % 28)))) + 1;

		a &= ~(PG - 1);
		len = (len + PG - 1) & ~(PG - 1);
		if (a + len > c.lo_end || a + len < a)
			continue;
		compare(&c, t, a, len, 1 + k % 7);
	}
	npt_free(t);
	npt_free(src);
	fctx_fini(&c);
}
END_TEST

/* Skipping every subtree at one level equals a walk that ignores them. */
START_TEST(t_skip)
{
	struct fctx c;
	struct npt_table *t, *src;
	struct npt_cursor cur;
	struct seq w = { 0 };
	unsigned skip_level, n, want;
	size_t i, j;
	int r;

	fctx_init(&c, (unsigned)_i, POOL, 1);
	t = random_table(&c, 0x777 + _i, &src);
	EXPECT_OK(&c, npt_walk(t, 0, c.lo_end, NPT_WALK_LEAF | NPT_WALK_TABLE_PRE |
			       NPT_WALK_TABLE_POST, walk_rec, &w));
	for (skip_level = 1; skip_level < c.info.levels; skip_level++) {
		EXPECT_OK(&c, npt_cursor_init(&cur, t, 0, c.lo_end,
					      NPT_WALK_LEAF | NPT_WALK_TABLE_PRE | NPT_WALK_TABLE_POST));
		/* skip is only valid right after a TABLE_PRE */
		EXPECT_RC(&c, npt_cursor_skip(&cur), NPT_ERR_INVAL);
		i = 0;
		n = 0;
		while ((r = npt_cursor_next(&cur)) == 1) {
			ck_assert_msg(i < w.n && same_visit(&cur.v, &w.v[i]),
				      "[%s] skip level %u: visit %zu differs", c.name, skip_level, i);
			if (cur.v.kind == NPT_WALK_TABLE_PRE && cur.v.level == skip_level) {
				/* the walk's visits up to and with the matching POST go */
				unsigned depth = 0;

				EXPECT_OK(&c, npt_cursor_skip(&cur));
				EXPECT_RC(&c, npt_cursor_skip(&cur), NPT_ERR_INVAL);
				for (j = i; j < w.n; j++) {
					if (w.v[j].kind == NPT_WALK_TABLE_PRE)
						depth++;
					if (w.v[j].kind == NPT_WALK_TABLE_POST && --depth == 0)
						break;
				}
				i = j + 1;
				n++;
				continue;
			}
			if (cur.v.kind == NPT_WALK_LEAF)
				EXPECT_RC(&c, npt_cursor_skip(&cur), NPT_ERR_INVAL);
			i++;
		}
		ck_assert_int_eq(r, 0);
		ck_assert_msg(i == w.n, "[%s] skip level %u: ended at %zu of %zu", c.name, skip_level,
			      i, w.n);
		/* every subtree at that level was skipped (none nests in another) */
		for (j = 0, want = 0; j < w.n; j++)
			want += w.v[j].kind == NPT_WALK_TABLE_PRE && w.v[j].level == skip_level;
		ck_assert_msg(n == want, "[%s] skip level %u: %u subtrees skipped of %u", c.name,
			      skip_level, n, want);
	}
	free(w.v);
	npt_free(t);
	npt_free(src);
	fctx_fini(&c);
}
END_TEST

START_TEST(t_bad)
{
	struct fctx c;
	struct npt_table *t;
	struct npt_cursor cur;

	fctx_init(&c, (unsigned)_i, POOL, 1);
	t = fctx_new(&c);
	EXPECT_RC(&c, npt_cursor_init(NULL, t, 0, PG, NPT_WALK_LEAF), NPT_ERR_INVAL);
	EXPECT_RC(&c, npt_cursor_init(&cur, NULL, 0, PG, NPT_WALK_LEAF), NPT_ERR_INVAL);
	EXPECT_RC(&c, npt_cursor_init(&cur, t, 0, PG, 0x8), NPT_ERR_INVAL);
	EXPECT_RC(&c, npt_cursor_init(&cur, t, 1, PG, NPT_WALK_LEAF), NPT_ERR_ALIGN);
	EXPECT_RC(&c, npt_cursor_init(&cur, t, 0, 0, NPT_WALK_LEAF), NPT_ERR_RANGE);
	EXPECT_RC(&c, npt_cursor_init(&cur, t, 0 - PG, 2 * PG, NPT_WALK_LEAF), NPT_ERR_RANGE);
	EXPECT_RC(&c, npt_cursor_next(NULL), NPT_ERR_INVAL);
	EXPECT_RC(&c, npt_cursor_skip(NULL), NPT_ERR_INVAL);
	/* an empty table: nothing to visit */
	EXPECT_OK(&c, npt_cursor_init(&cur, t, 0, c.lo_end, NPT_WALK_LEAF | NPT_WALK_TABLE_PRE));
	ck_assert_int_eq(npt_cursor_next(&cur), 0);
	npt_free(t);
	fctx_fini(&c);
}
END_TEST

static Suite *cursor_suite(void)
{
	Suite *s = suite_create("cursor");
	TCase *tc = tcase_create("cursor");

	tcase_set_timeout(tc, 120);
	ADD_FMT_TEST(tc, t_same_as_walk);
	ADD_FMT_TEST(tc, t_skip);
	ADD_FMT_TEST(tc, t_bad);
	suite_add_tcase(s, tc);
	return s;
}

NPT_CHECK_MAIN(cursor_suite)
