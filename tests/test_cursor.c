/*
 * Cursors and walks on every format: over random tables (huge and small
 * leaves, both canonical halves, entries shared by npt_copy_from) the cursor
 * returns exactly npt_walk's visits in npt_walk's order, for every
 * combination of visit kinds and for random sub-ranges; npt_cursor_skip
 * drops exactly the subtree it is called on; NPT_WALK_RUNS gives the leaf
 * visits merged by its rules (a reference merge here), and npt_dump prints
 * them; bad arguments are refused.
 */
#include <check.h>
#include <stdio.h>
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

/* Sub-range k of a series over the low half (its length up to 2^(12 + k %
 * 28) bytes): 0 where it falls off the end. */
static int random_subrange(const struct fctx *c, uint64_t *s, unsigned k, uint64_t *a,
			   uint64_t *len)
{
	*a = rng_next(s) % (c->lo_end < (1ull << 41) ? c->lo_end : (1ull << 41));
	*len = (rng_next(s) % (1ull << (12 + (k % 28)))) + 1;
	*a &= ~(PG - 1);
	*len = (*len + PG - 1) & ~(PG - 1);
	return *a + *len <= c->lo_end && *a + *len >= *a;
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
		uint64_t a, len;

		if (random_subrange(&c, &s, k, &a, &len))
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

/* ---- NPT_WALK_RUNS and npt_dump --------------------------------------------- */

/* The visits of which | NPT_WALK_LEAF with the leaves merged by the rules of
 * NPT_WALK_RUNS (npt.h): the reference the walk's own runs must equal. */
static void merge_runs(const struct seq *in, struct seq *out)
{
	struct npt_visit run;
	int open = 0;
	size_t i;

	for (i = 0; i < in->n; i++) {
		const struct npt_visit *v = &in->v[i];

		if (v->kind == NPT_WALK_LEAF) {
			if (open && v->level == run.level && v->flags == run.flags &&
			    !v->shared == !run.shared && v->va == run.va + run.size &&
			    v->pa == run.pa + run.size) {
				run.size += v->size;
				continue;
			}
			if (open)
				seq_add(out, &run);
			run = *v;
			run.kind = NPT_WALK_RUNS;
			open = 1;
			continue;
		}
		if (open)
			seq_add(out, &run);
		open = 0;
		seq_add(out, v);
	}
	if (open)
		seq_add(out, &run);
}

static void compare_runs(struct fctx *c, const struct npt_table *t, uint64_t va, uint64_t size,
			 unsigned tables)
{
	struct seq leaves = { 0 }, want = { 0 }, got = { 0 };
	size_t i;

	EXPECT_OK(c, npt_walk(t, va, size, NPT_WALK_LEAF | tables, walk_rec, &leaves));
	merge_runs(&leaves, &want);
	EXPECT_OK(c, npt_walk(t, va, size, NPT_WALK_RUNS | tables, walk_rec, &got));
	compare(c, t, va, size, NPT_WALK_RUNS | tables); /* a cursor's runs: the walk's */
	ck_assert_msg(got.n == want.n, "[%s] runs over [0x%llx +0x%llx) tables %u: %zu visits, "
		      "expected %zu", c->name, (unsigned long long)va, (unsigned long long)size,
		      tables, got.n, want.n);
	for (i = 0; i < got.n; i++)
		ck_assert_msg(same_visit(&got.v[i], &want.v[i]),
			      "[%s] runs over [0x%llx +0x%llx) tables %u: visit %zu is kind %u "
			      "[0x%llx +0x%llx) level %u, expected kind %u [0x%llx +0x%llx) level %u",
			      c->name, (unsigned long long)va, (unsigned long long)size, tables, i,
			      got.v[i].kind, (unsigned long long)got.v[i].va,
			      (unsigned long long)got.v[i].size, got.v[i].level, want.v[i].kind,
			      (unsigned long long)want.v[i].va, (unsigned long long)want.v[i].size,
			      want.v[i].level);
	free(leaves.v);
	free(want.v);
	free(got.v);
}

START_TEST(t_runs)
{
	struct fctx c;
	struct npt_table *t, *src;
	uint64_t s = 0x2545f4914f6cdd1dull;
	unsigned tables, k;

	fctx_init(&c, (unsigned)_i, POOL, 1);
	t = random_table(&c, 0x4321 + _i, &src);
	for (tables = 0; tables <= 6; tables += 2) {
		compare_runs(&c, t, 0, c.lo_end, tables);
		if (c.info.canonical)
			compare_runs(&c, t, c.hi_start, 0 - c.hi_start, tables);
	}
	for (k = 0; k < 200; k++) {
		uint64_t a, len;

		if (random_subrange(&c, &s, k, &a, &len))
			compare_runs(&c, t, a, len, (k % 4) * 2);
	}
	npt_free(t);
	npt_free(src);
	fctx_fini(&c);
}
END_TEST

static int count_visit(const struct npt_visit *v, void *arg)
{
	struct npt_visit *last = arg;

	last->kind++; /* the count */
	last->va = v->va;
	last->size = v->size;
	last->pa = v->pa;
	last->level = v->level;
	return 0;
}

/* One visit for 1 GiB of 4 KiB leaves mapped linearly alike, across 512
 * leaf tables; a page with other flags, another output address or none
 * splits it in three. */
START_TEST(t_runs_linear)
{
	struct fctx c;
	struct npt_table *t;
	struct npt_visit n;
	uint64_t va, pa;
	unsigned other, k;

	fctx_init(&c, (unsigned)_i, POOL + 1024, 1);
	ck_assert_int_ge(fctx_other_flags(&c, c.rw, &other), 0);
	if (!fctx_fits(&c, lsize(2), lsize(2))) {
		fctx_fini(&c);
		return;
	}
	va = fctx_area(&c, lsize(2), lsize(2));
	pa = fctx_pa(&c, lsize(2), 2 * lsize(2));
	for (k = 0; k < 4; k++) {
		t = fctx_new(&c);
		EXPECT_OK(&c, npt_map_region(t, va, pa, lsize(2), c.rw, 0));
		if (k == 1)
			EXPECT_OK(&c, npt_protect(t, va + lsize(1) + 7 * PG, other));
		else if (k == 2)
			EXPECT_OK(&c, npt_remap(t, va + lsize(1) + 7 * PG, pa + lsize(2), c.rw));
		else if (k == 3)
			EXPECT_OK(&c, npt_unmap(t, va + lsize(1) + 7 * PG, NULL, NULL));
		memset(&n, 0, sizeof(n));
		EXPECT_OK(&c, npt_walk(t, va, lsize(2), NPT_WALK_RUNS, count_visit, &n));
		if (k == 0)
			ck_assert_msg(n.kind == 1 && n.va == va && n.size == lsize(2) && n.pa == pa &&
					      n.level == 0,
				      "[%s] 1 GiB of 4K leaves: %u runs, the last [0x%llx +0x%llx)",
				      c.name, n.kind, (unsigned long long)n.va,
				      (unsigned long long)n.size);
		else /* other flags or output: before, the page, after; a hole: before, after */
			ck_assert_msg(n.kind == (k == 3 ? 2u : 3u), "[%s] case %u: %u runs", c.name, k,
				      n.kind);
		npt_free(t);
	}
	ck_assert_uint_eq(testmm_live(&c.mm), 0);
	fctx_fini(&c);
}
END_TEST

struct lines {
	char text[8][128];
	unsigned n;
};

static int keep_line(void *arg, const char *text)
{
	struct lines *l = arg;

	if (l->n == 8)
		return -1000;
	strncpy(l->text[l->n], text, sizeof(l->text[0]) - 1);
	l->text[l->n++][sizeof(l->text[0]) - 1] = 0;
	return 0;
}

START_TEST(t_dump)
{
	struct fctx c;
	struct npt_table *t;
	struct lines l;
	char want[3][128];
	uint64_t va, pa;
	unsigned i, fr, fo, other;

	fctx_init(&c, (unsigned)_i, POOL, 1);
	ck_assert_int_ge(fctx_other_flags(&c, c.rw, &other), 0);
	va = fctx_area(&c, lsize(1), 4 * lsize(1));
	pa = fctx_pa(&c, lsize(1), 4 * lsize(1));
	t = fctx_new(&c);
	/* 3 pages, then 1 page with other flags, then 2 MiB elsewhere */
	EXPECT_OK(&c, npt_map_region(t, va, pa, 4 * PG, c.rw, 0));
	EXPECT_OK(&c, npt_protect(t, va + 3 * PG, other));
	EXPECT_OK(&c, npt_map_region(t, va + 2 * lsize(1), pa, lsize(1), c.rw, NPT_MAP_HUGE));
	EXPECT_OK(&c, npt_query(t, va, NULL, &fr, NULL));
	EXPECT_OK(&c, npt_query(t, va + 3 * PG, NULL, &fo, NULL));
	memset(&l, 0, sizeof(l));
	EXPECT_OK(&c, npt_dump(t, va, 4 * lsize(1), keep_line, &l));
	ck_assert_uint_eq(l.n, 3);
	{
		const unsigned fl[3] = { fr, fo, fr };
		const uint64_t a[3] = { va, va + 3 * PG, va + 2 * lsize(1) };
		const uint64_t z[3] = { 3 * PG, PG, lsize(1) };
		const uint64_t o[3] = { pa, pa + 3 * PG, pa };
		const char *const sz[3] = { "12K", "4K", "2M" };
		const char *const leaf[3] = { "4K", "4K", fctx_has_leaf(&c, 1) ? "2M" : "4K" };

		for (i = 0; i < 3; i++) {
			char letters[9];
			unsigned b;

			for (b = 0; b < 8; b++)
				letters[b] = fl[i] & (1u << b) ? "rwxumadg"[b] : '-';
			letters[8] = 0;
			snprintf(want[i], sizeof(want[i]), "%016llx-%016llx %s -> %016llx %s %s",
				 (unsigned long long)a[i], (unsigned long long)(a[i] + z[i] - 1),
				 sz[i], (unsigned long long)o[i], letters, leaf[i]);
			if (i == 2 && !fctx_has_leaf(&c, 1))
				continue; /* 512 lines of 4K leaves would be one run anyway */
			ck_assert_msg(strcmp(l.text[i], want[i]) == 0, "[%s] line %u:\n  %s\nexpected\n  %s",
				      c.name, i, l.text[i], want[i]);
		}
	}
	/* a line's non-zero return stops the dump and is returned */
	memset(&l, 0, sizeof(l));
	l.n = 8;
	EXPECT_RC(&c, npt_dump(t, va, 4 * lsize(1), keep_line, &l), -1000);
	EXPECT_RC(&c, npt_dump(t, va, 4 * lsize(1), NULL, &l), NPT_ERR_INVAL);
	EXPECT_RC(&c, npt_dump(NULL, va, PG, keep_line, &l), NPT_ERR_INVAL);
	EXPECT_RC(&c, npt_dump(t, va + 1, PG, keep_line, &l), NPT_ERR_ALIGN);
	npt_free(t);
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
	EXPECT_RC(&c, npt_cursor_init(&cur, t, 0, PG, 0x10), NPT_ERR_INVAL);
	EXPECT_RC(&c, npt_cursor_init(&cur, t, 0, PG, NPT_WALK_RUNS | NPT_WALK_LEAF), NPT_ERR_INVAL);
	EXPECT_RC(&c, npt_walk(t, 0, PG, NPT_WALK_RUNS | NPT_WALK_LEAF, walk_rec, NULL),
		  NPT_ERR_INVAL);
	EXPECT_RC(&c, npt_walk(t, 0, PG, 0x10, walk_rec, NULL), NPT_ERR_INVAL);
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
	ADD_FMT_TEST(tc, t_runs);
	ADD_FMT_TEST(tc, t_runs_linear);
	ADD_FMT_TEST(tc, t_dump);
	ADD_FMT_TEST(tc, t_bad);
	suite_add_tcase(s, tc);
	return s;
}

NPT_CHECK_MAIN(cursor_suite)
