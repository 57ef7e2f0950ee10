/*
 * The region calls on every format: which leaf sizes npt_map_region picks,
 * splitting of huge leaves by partial npt_unmap_region / npt_protect_region,
 * and freeing of the tables a region call leaves empty.
 *
 * Expected leaves are computed independently: "the largest leaf that
 * alignment and opts allow" is the greedy decomposition of [va, va + size)
 * into blocks aligned (in va and pa alike) to their size. A partial unmap or
 * protect "splits a huge leaf only partly covered", so afterwards every
 * untouched part (and every re-protected part) is again exactly the greedy
 * decomposition of that part: an aligned block that lies wholly inside a part
 * is never split. The suite asserts that exact structure, not only the
 * translations.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "npt.h"
#include "lib/check_main.h"
#include "lib/testmm.h"
#include "lib/invariants.h"
#include "lib/tutil.h"

#define POOL 32768

/* Leaf levels allowed by opts on this format (bit L). */
static unsigned allowed_levels(const struct fctx *c, unsigned opts)
{
	unsigned l, mask = 1;

	for (l = 1; l < c->info.levels; l++)
		if (fctx_has_leaf(c, l) && (opts & opt_for_level(l)))
			mask |= 1u << l;
	return mask;
}

struct exp_leaf {
	uint64_t va, pa;
	unsigned level;
};

/* The greedy decomposition; returns the number of leaves (and fills out
 * when not NULL, up to max). */
static size_t greedy(const struct fctx *c, uint64_t va, uint64_t pa, uint64_t size,
		     unsigned levels, struct exp_leaf *out, size_t max, unsigned long *counts)
{
	uint64_t cur = 0;
	size_t n = 0;

	while (cur < size) {
		int l;

		if (!out && !counts && n > 20000)
			return n; /* only counting, and already too many */
		for (l = (int)c->info.levels - 1; l >= 0; l--) {
			uint64_t s = lsize((unsigned)l);

			if (!(levels >> l & 1u))
				continue;
			if (((va + cur) & (s - 1)) || ((pa + cur) & (s - 1)) || size - cur < s)
				continue;
			if (out && n < max) {
				out[n].va = va + cur;
				out[n].pa = pa + cur;
				out[n].level = (unsigned)l;
			}
			if (counts)
				counts[l]++;
			n++;
			cur += s;
			break;
		}
	}
	return n;
}

/* [va, va + size) holds exactly the greedy leaves (levels mask) with flags. */
static void expect_structure(struct fctx *c, const struct npt_table *t, uint64_t va,
			     uint64_t pa, uint64_t size, unsigned levels, unsigned flags,
			     const char *what, int line)
{
	size_t n = greedy(c, va, pa, size, levels, NULL, 0, NULL), got, i;
	struct exp_leaf *e = calloc(n ? n : 1, sizeof(*e));
	struct leaf *l = NULL;
	unsigned want = fctx_norm(c, flags);

	ck_assert_ptr_nonnull(e);
	greedy(c, va, pa, size, levels, e, n, NULL);
	got = collect_leaves(c, t, va, size, &l);
	for (i = 0; i < n && i < got; i++)
		ck_assert_msg(l[i].va == e[i].va && l[i].level == e[i].level && l[i].pa == e[i].pa &&
				      l[i].flags == want,
			      "[%s] line %d (%s): leaf %zu is va 0x%llx level %u pa 0x%llx flags 0x%x, "
			      "expected va 0x%llx level %u pa 0x%llx flags 0x%x",
			      c->name, line, what, i, (unsigned long long)l[i].va, l[i].level,
			      (unsigned long long)l[i].pa, l[i].flags, (unsigned long long)e[i].va,
			      e[i].level, (unsigned long long)e[i].pa, want);
	ck_assert_msg(got == n, "[%s] line %d (%s): %zu leaves in [0x%llx +0x%llx), expected %zu",
		      c->name, line, what, got, (unsigned long long)va, (unsigned long long)size,
		      n);
	free(e);
	free(l);
}

static void expect_empty_table(struct fctx *c, struct npt_table *t, const char *what)
{
	check_tree(c, t, 0, NULL);
	ck_assert_msg(npt_table_frames(t) == c->info.root_frames,
		      "[%s] %s: %llu frames left, root has %u", c->name, what,
		      (unsigned long long)npt_table_frames(t), c->info.root_frames);
	ck_assert_msg(testmm_live(&c->mm) == c->info.root_frames + HANDLE_FRAMES,
		      "[%s] %s: %zu frames live",
		      c->name, what, testmm_live(&c->mm));
}

/* ---- leaf sizes picked by npt_map_region ----------------------------------- */

static void one_layout(struct fctx *c, uint64_t va, uint64_t pa, uint64_t size, unsigned opts,
		       const char *what)
{
	struct npt_table *t;
	unsigned levels = allowed_levels(c, opts);
	unsigned long want[TU_MAX_LEVELS] = { 0 };
	struct tree_stats st;
	unsigned l;

	/* (a layout with a gap in the allowed levels can need millions of leaves) */
	if (greedy(c, va, pa, size, levels, NULL, 0, NULL) > 20000)
		return;
	t = fctx_new(c);
	TU_CTX("%s: va 0x%llx pa 0x%llx size 0x%llx opts 0x%x", what, (unsigned long long)va,
	       (unsigned long long)pa, (unsigned long long)size, opts);
	EXPECT_OK(c, npt_map_region(t, va, pa, size, c->rw, opts));
	greedy(c, va, pa, size, levels, NULL, 0, want);
	check_tree(c, t, 0, &st);
	for (l = 0; l < c->info.levels; l++)
		ck_assert_msg(st.leaves[l] == want[l],
			      "[%s] %s: %lu leaves at level %u, expected %lu", c->name, tu_ctx,
			      st.leaves[l], l, want[l]);
	expect_structure(c, t, va, pa, size, levels, c->rw, what, __LINE__);
	check_mapped(c, t, va, pa, size, c->rw, __LINE__);
	check_unmapped(c, t, va - PG, PG, __LINE__);
	check_unmapped(c, t, va + size, PG, __LINE__);
	EXPECT_OK(c, npt_unmap_region(t, va, size));
	expect_empty_table(c, t, what);
	npt_free(t);
	tu_ctx[0] = 0;
}

START_TEST(t_leaf_sizes)
{
	struct fctx c;
	unsigned seen[64], nseen = 0, k, i;
	static const unsigned optsets[] = {
		0, NPT_MAP_2M, NPT_MAP_1G, NPT_MAP_2M | NPT_MAP_1G, NPT_MAP_512G,
		NPT_MAP_2M | NPT_MAP_512G, NPT_MAP_256T, NPT_MAP_HUGE,
		NPT_MAP_2M | NPT_MAP_1G | NPT_MAP_512G,
	};

	fctx_init(&c, (unsigned)_i, POOL, 1);
	for (k = 0; k < sizeof(optsets) / sizeof(optsets[0]); k++) {
		unsigned opts = optsets[k], levels = allowed_levels(&c, opts), top = 0, lower = 0;
		int dup = 0, l;
		uint64_t S, e1, e2, A, P;

		for (i = 0; i < nseen; i++)
			dup |= seen[i] == levels;
		if (dup)
			continue;
		seen[nseen++] = levels;
		for (l = 0; l < (int)c.info.levels; l++)
			if (levels >> l & 1)
				top = (unsigned)l;
		for (l = (int)top - 1; l > 0; l--)
			if (levels >> l & 1) {
				lower = (unsigned)l;
				break;
			}
		if (top == 0) {
			/* 4 KiB only, over two whole aligned 2 MiB blocks */
			A = fctx_area(&c, lsize(1), 4 * lsize(1));
			P = fctx_pa(&c, lsize(1), 4 * lsize(1));
			one_layout(&c, A + lsize(1) - 3 * PG, P + lsize(1) - 3 * PG,
				   2 * lsize(1) + 8 * PG, opts, "4K only");
			continue;
		}
		S = lsize(top);
		e1 = 3 * PG + (lower ? lsize(lower) : 0);
		e2 = 5 * PG + (lower ? 2 * lsize(lower) : 0);
		if (!fctx_fits(&c, S, 6 * S))
			continue;
		A = fctx_area(&c, S, 6 * S) + 2 * S;
		P = fctx_pa(&c, S, 6 * S) + 2 * S;
		/* unaligned edges around two top-size leaves */
		one_layout(&c, A - e1, P - e1, e1 + 2 * S + e2, opts, "edges");
		/* exactly one top-size leaf */
		one_layout(&c, A, P, S, opts, "one leaf");
		/* one page short of a top-size leaf: nothing at the top level */
		one_layout(&c, A, P, S - PG, opts, "one page short");
	}
	/* va and pa differently aligned: no huge leaf can be used */
	if (fctx_has_leaf(&c, 1)) {
		uint64_t A = fctx_area(&c, lsize(1), 4 * lsize(1));
		uint64_t P = fctx_pa(&c, lsize(1), 4 * lsize(1));

		one_layout(&c, A, P + PG, 2 * lsize(1), NPT_MAP_HUGE, "pa off by a page");
		one_layout(&c, A + PG, P, 2 * lsize(1), NPT_MAP_HUGE, "va off by a page");
	}
	/* an entry above the 2 MiB level covered whole, 2 MiB leaves allowed:
	 * made as whole tables below it, of 2 MiB leaves where pa is aligned
	 * for them, else of 4 KiB leaves (too many for one_layout's greedy) */
	if (fctx_has_leaf(&c, 1) && c.info.levels > 2 && fctx_fits(&c, lsize(2), 4 * lsize(2))) {
		uint64_t A = fctx_area(&c, lsize(2), 4 * lsize(2)) + lsize(2);
		uint64_t P = fctx_pa(&c, lsize(2), 4 * lsize(2)) + lsize(2);
		const uint64_t off[] = { 0, lsize(1), PG };

		for (k = 0; k < 3; k++) {
			struct npt_table *t = fctx_new(&c);
			struct tree_stats st;

			TU_CTX("a whole level-2 entry, pa + 0x%llx, NPT_MAP_2M",
			       (unsigned long long)off[k]);
			EXPECT_OK(&c, npt_map_region(t, A, P + off[k], lsize(2), c.rw, NPT_MAP_2M));
			check_tree(&c, t, 0, &st);
			ck_assert_msg(st.leaves[1] == (off[k] % lsize(1) ? 0 : 512) &&
					      st.leaves[0] == (off[k] % lsize(1) ? 512 * 512 : 0),
				      "[%s] %s: %lu 2 MiB and %lu 4 KiB leaves", c.name, tu_ctx,
				      st.leaves[1], st.leaves[0]);
			check_mapped(&c, t, A, P + off[k], lsize(2), c.rw, __LINE__);
			EXPECT_OK(&c, npt_unmap_region(t, A, lsize(2)));
			expect_empty_table(&c, t, tu_ctx);
			npt_free(t);
			tu_ctx[0] = 0;
		}
	}
	/* aligned for 2 MiB but not for 1 GiB: 2 MiB leaves only */
	if (fctx_has_leaf(&c, 1) && fctx_has_leaf(&c, 2) && fctx_fits(&c, lsize(2), 6 * lsize(2))) {
		uint64_t A = fctx_area(&c, lsize(2), 6 * lsize(2)) + lsize(2);
		uint64_t P = fctx_pa(&c, lsize(2), 6 * lsize(2)) + lsize(2);

		one_layout(&c, A, P + lsize(1), 2 * lsize(2), NPT_MAP_HUGE, "pa off by 2M");
		one_layout(&c, A - lsize(1), P, 2 * lsize(2) + lsize(1), NPT_MAP_HUGE,
			   "va off by 2M");
	}
	ck_assert_uint_eq(testmm_live(&c.mm), 0);
	fctx_fini(&c);
}
END_TEST

/* ---- splitting --------------------------------------------------------------- */

enum { OP_UNMAP, OP_PROTECT, OP_PROTECT_SAME };

static void one_split(struct fctx *c, unsigned L, uint64_t off, uint64_t len, int op,
		      unsigned other)
{
	uint64_t S = lsize(L);
	uint64_t A = fctx_area(c, S, 4 * S) + S, P = fctx_pa(c, S, 4 * S) + 2 * S;
	unsigned below = c->leaf_levels & ((1u << L) - 1); /* levels a split can use */
	int exact = below == (1u << L) - 1;                 /* every level below is a leaf level */
	struct npt_table *t = fctx_new(c);
	static const char *const names[] = { "unmap_region", "protect_region",
					     "protect_region(same flags)" };

	TU_CTX("level-%u leaf, %s of [+0x%llx, +0x%llx)", L, names[op], (unsigned long long)off,
	       (unsigned long long)(off + len));
	EXPECT_OK(c, npt_map(t, A, P, S, c->rw));
	if (op == OP_UNMAP)
		EXPECT_OK(c, npt_unmap_region(t, A + off, len));
	else
		EXPECT_OK(c, npt_protect_region(t, A + off, len, op == OP_PROTECT ? other : c->rw));
	check_tree(c, t, 0, NULL);

	/* the rest keeps its mapping */
	if (off)
		check_mapped(c, t, A, P, off, c->rw, __LINE__);
	if (off + len < S)
		check_mapped(c, t, A + off + len, P + off + len, S - off - len, c->rw, __LINE__);
	/* the changed part has the new state */
	if (op == OP_UNMAP)
		check_unmapped(c, t, A + off, len, __LINE__);
	else
		check_mapped(c, t, A + off, P + off, len, op == OP_PROTECT ? other : c->rw,
			     __LINE__);
	/* only what is partly covered was split */
	if (exact && op != OP_PROTECT_SAME) {
		if (off)
			expect_structure(c, t, A, P, off, below, c->rw, tu_ctx, __LINE__);
		if (off + len < S)
			expect_structure(c, t, A + off + len, P + off + len, S - off - len, below,
					 c->rw, tu_ctx, __LINE__);
		if (op == OP_PROTECT)
			expect_structure(c, t, A + off, P + off, len, below, other, tu_ctx,
					 __LINE__);
	}
	/* unmapping the rest frees every table */
	if (op != OP_UNMAP) {
		EXPECT_OK(c, npt_unmap_region(t, A, S));
	} else {
		if (off)
			EXPECT_OK(c, npt_unmap_region(t, A, off));
		if (off + len < S)
			EXPECT_OK(c, npt_unmap_region(t, A + off + len, S - off - len));
	}
	expect_empty_table(c, t, tu_ctx);
	npt_free(t);
	tu_ctx[0] = 0;
}

START_TEST(t_split)
{
	struct fctx c;
	unsigned L, other, v;
	int op;

	fctx_init(&c, (unsigned)_i, POOL, 1);
	ck_assert_int_ge(fctx_other_flags(&c, c.rw, &other), 0);
	for (L = 1; L < c.info.levels; L++) {
		uint64_t S = lsize(L), s = lsize(L - 1);
		const uint64_t var[][2] = {
			{ PG, PG },              /* one page inside: split down to 4 KiB */
			{ 0, s },                /* the first child exactly */
			{ S - PG, PG },          /* the last page */
			{ s, S - 2 * s },        /* all but the first and last child */
			{ s - PG, 2 * PG },      /* across the first child boundary */
			{ 0, S - PG },           /* all but the last page */
			{ PG, S - PG },          /* all but the first page */
			{ 3 * s + 5 * PG, 7 * s }, /* unaligned, several children */
		};

		if (!fctx_has_leaf(&c, L) || !fctx_fits(&c, S, 4 * S))
			continue;
		for (v = 0; v < sizeof(var) / sizeof(var[0]); v++)
			for (op = OP_UNMAP; op <= OP_PROTECT_SAME; op++)
				one_split(&c, L, var[v][0], var[v][1], op, other);
	}
	ck_assert_uint_eq(testmm_live(&c.mm), 0);
	fctx_fini(&c);
}
END_TEST

/* A range from the middle of one huge leaf to the middle of another, over
 * whole leaves in between: both ends split, the middle just goes. */
START_TEST(t_split_across_leaves)
{
	struct fctx c;
	struct npt_table *t;
	unsigned top = 0, l, other, levels;
	uint64_t S, A, P, lo, hi;

	fctx_init(&c, (unsigned)_i, POOL, 1);
	ck_assert_int_ge(fctx_other_flags(&c, c.rw, &other), 0);
	for (l = 1; l < c.info.levels && l <= 2; l++)
		if (fctx_has_leaf(&c, l) && fctx_fits(&c, lsize(l), 8 * lsize(l)))
			top = l;
	if (top == 0) {
		fctx_fini(&c);
		return;
	}
	levels = c.leaf_levels & ((2u << top) - 1);
	S = lsize(top);
	A = fctx_area(&c, S, 8 * S) + S;
	P = fctx_pa(&c, S, 8 * S) + S;
	lo = S / 2 + lsize(top - 1) * 3 + 5 * PG; /* inside leaf 0 */
	hi = 3 * S + lsize(top - 1) * 2 + 7 * PG;  /* inside leaf 3 */

	t = fctx_new(&c);
	EXPECT_OK(&c, npt_map_region(t, A, P, 4 * S, c.rw, NPT_MAP_HUGE));
	expect_structure(&c, t, A, P, 4 * S, levels, c.rw, "4 huge leaves", __LINE__);
	/* a hole after the range: NOT_MAPPED, and no split left behind */
	EXPECT_FAIL(&c, t, npt_unmap_region(t, A + lo, 4 * S - lo + PG), NPT_ERR_NOT_MAPPED);
	EXPECT_FAIL(&c, t, npt_protect_region(t, A + lo, 4 * S - lo + PG, other),
		    NPT_ERR_NOT_MAPPED);
	EXPECT_FAIL(&c, t, npt_unmap_region(t, A - PG, lo), NPT_ERR_NOT_MAPPED);
	/* whole leaves: protect changes them in place */
	EXPECT_OK(&c, npt_protect_region(t, A + S, 2 * S, other));
	expect_structure(&c, t, A, P, S, levels, c.rw, "leaf 0", __LINE__);
	expect_structure(&c, t, A + S, P + S, 2 * S, levels, other, "leaves 1-2", __LINE__);
	expect_structure(&c, t, A + 3 * S, P + 3 * S, S, levels, c.rw, "leaf 3", __LINE__);
	EXPECT_OK(&c, npt_protect_region(t, A + S, 2 * S, c.rw));
	/* protect across, then unmap across */
	EXPECT_OK(&c, npt_protect_region(t, A + lo, hi - lo, other));
	check_tree(&c, t, 0, NULL);
	expect_structure(&c, t, A, P, lo, levels, c.rw, "left of protect", __LINE__);
	expect_structure(&c, t, A + lo, P + lo, hi - lo, levels, other, "protected", __LINE__);
	expect_structure(&c, t, A + hi, P + hi, 4 * S - hi, levels, c.rw, "right of protect",
			 __LINE__);
	EXPECT_OK(&c, npt_unmap_region(t, A + lo + PG, hi - lo - 2 * PG));
	check_tree(&c, t, 0, NULL);
	expect_structure(&c, t, A, P, lo, levels, c.rw, "left of unmap", __LINE__);
	expect_structure(&c, t, A + lo, P + lo, PG, levels, other, "first page", __LINE__);
	check_unmapped(&c, t, A + lo + PG, hi - lo - 2 * PG, __LINE__);
	expect_structure(&c, t, A + hi - PG, P + hi - PG, PG, levels, other, "last page",
			 __LINE__);
	expect_structure(&c, t, A + hi, P + hi, 4 * S - hi, levels, c.rw, "right of unmap",
			 __LINE__);
	EXPECT_OK(&c, npt_unmap_region(t, A, lo + PG));
	EXPECT_OK(&c, npt_unmap_region(t, A + hi - PG, 4 * S - hi + PG));
	expect_empty_table(&c, t, "after unmapping both ends");
	npt_free(t);
	ck_assert_uint_eq(testmm_live(&c.mm), 0);
	fctx_fini(&c);
}
END_TEST

/* ---- freeing empty tables ------------------------------------------------------ */

START_TEST(t_free_tables)
{
	struct fctx c;
	struct npt_table *t;
	uint64_t R = 0, B, P;
	unsigned lvl;

	fctx_init(&c, (unsigned)_i, POOL, 1);
	/* a boundary of the biggest table below the root, crossed with 4 KiB pages */
	for (lvl = c.root_level; lvl >= 1; lvl--) {
		R = lsize(lvl);
		if (fctx_fits(&c, R, 3 * R))
			break;
	}
	B = fctx_area(&c, R, 3 * R) + R;
	P = fctx_pa(&c, lsize(1), 4 * lsize(1));
	t = fctx_new(&c);

	/* one region across the boundary: tables at every level on both sides */
	EXPECT_OK(&c, npt_map_region(t, B - 600 * PG, P, 1300 * PG, c.rw, 0));
	check_tree(&c, t, 0, NULL);
	ck_assert_msg(npt_table_frames(t) >= c.info.root_frames + 2 * (c.info.levels - 1),
		      "[%s] %llu frames for a region across a level-%u boundary", c.name,
		      (unsigned long long)npt_table_frames(t), lvl);
	/* unmap in pieces; no empty table may stay behind at any point */
	EXPECT_OK(&c, npt_unmap_region(t, B - 10 * PG, 20 * PG));
	check_tree(&c, t, 0, NULL);
	EXPECT_OK(&c, npt_unmap_region(t, B + 10 * PG, 690 * PG));
	check_tree(&c, t, 0, NULL);
	check_unmapped(&c, t, B, 700 * PG, __LINE__);
	EXPECT_OK(&c, npt_unmap_region(t, B - 600 * PG, 590 * PG));
	expect_empty_table(&c, t, "after unmapping a region across a boundary in pieces");

	/* huge and small leaves mixed, unmapped in one call */
	EXPECT_OK(&c, npt_map_region(t, B - 3 * lsize(1) - 3 * PG, P, 6 * lsize(1) + 7 * PG, c.rw,
				     NPT_MAP_HUGE));
	EXPECT_OK(&c, npt_map(t, B + 4 * lsize(1), P, PG, c.rw));
	check_tree(&c, t, 0, NULL);
	EXPECT_OK(&c, npt_unmap_region(t, B - 3 * lsize(1) - 3 * PG, 6 * lsize(1) + 7 * PG));
	EXPECT_OK(&c, npt_unmap_region(t, B + 4 * lsize(1), PG));
	expect_empty_table(&c, t, "after unmapping mixed leaves");

	/* single pages mapped one by one and unmapped one by one */
	{
		unsigned i;

		for (i = 0; i < 40; i++)
			EXPECT_OK(&c, npt_map(t, B - 20 * PG + i * PG, P + i * PG, PG, c.rw));
		for (i = 0; i < 40; i++)
			EXPECT_OK(&c, npt_unmap_region(t, B - 20 * PG + ((i * 7) % 40) * PG, PG));
		expect_empty_table(&c, t, "after unmapping page by page");
	}
	npt_free(t);
	ck_assert_uint_eq(testmm_live(&c.mm), 0);
	fctx_fini(&c);
}
END_TEST

/* ---- the sparse forms ------------------------------------------------------------ */

/* The record of the last call is exactly runs want[0..n) of {va, size,
 * level, flags}, or NONE with n == 0. */
struct run4 {
	uint64_t va, size;
	unsigned level, flags;
};

static void expect_record(struct fctx *c, const struct npt_table *t, const struct run4 *want,
			  unsigned n, const char *what)
{
	struct npt_flush f;
	unsigned i;

	npt_last_flush(t, &f);
	ck_assert_msg(n ? f.kind == NPT_FLUSH_RANGE && f.nranges == n : f.kind == NPT_FLUSH_NONE,
		      "[%s] %s: flush kind %u with %u runs, expected %u runs", c->name, what,
		      f.kind, f.nranges, n);
	for (i = 0; i < n; i++)
		ck_assert_msg(f.ranges[i].va == want[i].va && f.ranges[i].size == want[i].size &&
				      f.ranges[i].level == want[i].level &&
				      f.ranges[i].flags == want[i].flags,
			      "[%s] %s: run %u is [0x%llx +0x%llx) level %u flags %u, expected "
			      "[0x%llx +0x%llx) level %u flags %u",
			      c->name, what, i, (unsigned long long)f.ranges[i].va,
			      (unsigned long long)f.ranges[i].size, f.ranges[i].level,
			      f.ranges[i].flags, (unsigned long long)want[i].va,
			      (unsigned long long)want[i].size, want[i].level, want[i].flags);
}

/* The same with 4 KiB runs and no table runs: want[] holds {va, size}
 * pairs. */
static void expect_runs(struct fctx *c, const struct npt_table *t, const uint64_t *want, unsigned n,
			const char *what)
{
	struct run4 r[NPT_FLUSH_RANGES];
	unsigned i;

	ck_assert_uint_le(n, NPT_FLUSH_RANGES);
	for (i = 0; i < n; i++)
		r[i] = (struct run4){ want[2 * i], want[2 * i + 1], 0, 0 };
	expect_record(c, t, r, n, what);
}

START_TEST(t_sparse)
{
	struct fctx c;
	struct npt_table *t;
	uint64_t B, P;
	unsigned other;

	fctx_init(&c, (unsigned)_i, POOL, _i % 2);
	ck_assert_int_ge(fctx_other_flags(&c, c.rw, &other), 0);
	B = fctx_area(&c, lsize(1), 4 * lsize(1));
	P = fctx_pa(&c, lsize(1), 4 * lsize(1));
	t = fctx_new(&c);

	/* nothing mapped: nothing to do, nothing to flush, never NOT_MAPPED */
	EXPECT_OK(&c, npt_protect_sparse(t, B, 3 * lsize(1), c.ro));
	expect_runs(&c, t, NULL, 0, "protect_sparse over nothing");
	EXPECT_OK(&c, npt_unmap_sparse(t, B, 3 * lsize(1)));
	expect_runs(&c, t, NULL, 0, "unmap_sparse over nothing");
	ck_assert_uint_eq(npt_table_frames(t), c.info.root_frames);

	/* pages 2-4 and 10-11 of one leaf table, page 0 of the next */
	EXPECT_OK(&c, npt_map_region(t, B + 2 * PG, P + 2 * PG, 3 * PG, c.rw, 0));
	EXPECT_OK(&c, npt_map_region(t, B + 10 * PG, P + 10 * PG, 2 * PG, c.rw, 0));
	EXPECT_OK(&c, npt_map(t, B + lsize(1), P, PG, c.rw));
	/* the dense forms refuse the holes, and change nothing */
	EXPECT_FAIL(&c, t, npt_protect_region(t, B, 16 * PG, other), NPT_ERR_NOT_MAPPED);
	EXPECT_FAIL(&c, t, npt_unmap_region(t, B, 16 * PG), NPT_ERR_NOT_MAPPED);
	{
		const uint64_t runs[] = { B + 2 * PG, 3 * PG,
					  B + 10 * PG, 2 * PG };

		EXPECT_OK(&c, npt_protect_sparse(t, B, 16 * PG, other));
		expect_runs(&c, t, runs, 2, "protect_sparse over two runs");
		check_mapped(&c, t, B + 2 * PG, P + 2 * PG, 3 * PG, other, __LINE__);
		check_mapped(&c, t, B + 10 * PG, P + 10 * PG, 2 * PG, other, __LINE__);
		check_unmapped(&c, t, B, 2 * PG, __LINE__);
		check_unmapped(&c, t, B + 5 * PG, 5 * PG, __LINE__);
		check_unmapped(&c, t, B + 12 * PG, 4 * PG, __LINE__);
		/* the same flags again: nothing changes, nothing to flush */
		EXPECT_OK(&c, npt_protect_sparse(t, B, 16 * PG, other));
		expect_runs(&c, t, NULL, 0, "protect_sparse with the flags already there");
		EXPECT_OK(&c, npt_unmap_sparse(t, B + PG, 10 * PG));
	}
	{
		const uint64_t runs[] = { B + 2 * PG, 3 * PG,
					  B + 10 * PG, PG };

		expect_runs(&c, t, runs, 2, "unmap_sparse over two runs");
	}
	check_unmapped(&c, t, B, 11 * PG, __LINE__);
	check_mapped(&c, t, B + 11 * PG, P + 11 * PG, PG, other, __LINE__);
	check_mapped(&c, t, B + lsize(1), P, PG, c.rw, __LINE__);
	check_tree(&c, t, 0, NULL);
	/* both leaf tables emptied in one call: freed, with the tables above */
	EXPECT_OK(&c, npt_unmap_sparse(t, B, 3 * lsize(1)));
	check_unmapped(&c, t, B, 3 * lsize(1), __LINE__);
	ck_assert_msg(npt_table_frames(t) == c.info.root_frames,
		      "[%s] unmap_sparse left %llu frames, the root has %u", c.name,
		      (unsigned long long)npt_table_frames(t), c.info.root_frames);
	npt_free(t);
	ck_assert_uint_eq(testmm_live(&c.mm), 0);
	fctx_fini(&c);
}
END_TEST

/* ---- NPT_MAP_REPLACE --------------------------------------------------------------- */

/* The engine's own structure (tests/lib/invariants.c): full_bit and the
 * frame-word counts included, every frame accounted for. */
static void expect_invariants(struct fctx *c, struct npt_table *t, int line)
{
	char msg[256];

	ck_assert_msg(inv_check(&c->mm, (struct npt_table *const[]){ t }, 1, INV_COMPLETE, msg,
				sizeof(msg)) == 0,
		      "[%s] line %d: %s", c->name, line, msg);
}

static unsigned bbm_calls;

static void count_bbm(void *arg, const struct npt_flush *f)
{
	(void)arg;
	(void)f;
	bbm_calls++;
}

START_TEST(t_replace)
{
	const uint64_t M = lsize(1);
	struct fctx c;
	struct npt_table *t;
	uint64_t B, P, Q, frames;
	unsigned other;

	fctx_init(&c, (unsigned)_i, POOL, _i % 2);
	ck_assert_int_ge(fctx_other_flags(&c, c.rw, &other), 0);
	B = fctx_area(&c, M, 8 * M);
	P = fctx_pa(&c, M, 16 * M);
	Q = P + 8 * M; /* the new output */
	t = fctx_new(&c);

	/* two 2 MiB leaves, then 16 pages of a leaf table */
	EXPECT_OK(&c, npt_map_region(t, B, P, 2 * M, c.rw, NPT_MAP_2M));
	EXPECT_OK(&c, npt_map_region(t, B + 4 * M, P + 4 * M, 16 * PG, c.rw, 0));
	/* without the bit: refused; an unknown bit: refused */
	EXPECT_FAIL(&c, t, npt_map_region(t, B, Q, 2 * M, c.rw, 0), NPT_ERR_ALREADY_MAPPED);
	EXPECT_FAIL(&c, t, npt_map_region(t, B, Q, 2 * M, c.rw, NPT_MAP_REPLACE << 1),
		    NPT_ERR_INVAL);

	/* 4 KiB leaves over [B + 1 page, B + 2M + 3 pages): both leaves only
	 * partly covered, both split: one run of the two at level 1 */
	{
		const struct run4 want[] = { { B, 2 * M, 1, 0 } };

		EXPECT_OK(&c, npt_map_region(t, B + PG, Q + PG, M + 2 * PG, other, NPT_MAP_REPLACE));
		expect_record(&c, t, want, 1, "replace across two 2M leaves");
	}
	check_mapped(&c, t, B, P, PG, c.rw, __LINE__);
	expect_structure(&c, t, B + PG, Q + PG, M + 2 * PG, 1, other, "replaced", __LINE__);
	check_mapped(&c, t, B + M + 3 * PG, P + M + 3 * PG, M - 3 * PG, c.rw, __LINE__);
	check_tree(&c, t, 0, NULL);
	expect_invariants(&c, t, __LINE__);

	/* the same again: nothing changes, nothing to flush */
	EXPECT_OK(&c, npt_map_region(t, B + PG, Q + PG, M + 2 * PG, other, NPT_MAP_REPLACE));
	expect_record(&c, t, NULL, 0, "replace with what is there");
	/* over nothing: a plain map */
	EXPECT_OK(&c, npt_map_region(t, B + 6 * M, Q, 3 * PG, other, NPT_MAP_REPLACE));
	expect_record(&c, t, NULL, 0, "replace over nothing");
	check_mapped(&c, t, B + 6 * M, Q, 3 * PG, other, __LINE__);

	/* pages 12-19 of the leaf table whose pages 0-15 are mapped: only the
	 * four present ones are named */
	{
		const struct run4 want[] = { { B + 4 * M + 12 * PG, 4 * PG, 0, 0 } };

		EXPECT_OK(&c, npt_map_region(t, B + 4 * M + 12 * PG, Q + 12 * PG, 8 * PG, c.rw,
					     NPT_MAP_REPLACE));
		expect_record(&c, t, want, 1, "replace of 4 present pages and 4 empty ones");
	}
	check_mapped(&c, t, B + 4 * M, P + 4 * M, 12 * PG, c.rw, __LINE__);
	check_mapped(&c, t, B + 4 * M + 12 * PG, Q + 12 * PG, 8 * PG, c.rw, __LINE__);
	expect_invariants(&c, t, __LINE__);

	/* that leaf table replaced by one 2 MiB leaf: a table run, the table freed */
	frames = npt_table_frames(t);
	{
		const struct run4 want[] = { { B + 4 * M, M, 1, NPT_FLUSH_TABLE } };

		EXPECT_OK(&c, npt_map_region(t, B + 4 * M, Q, M, c.rw, NPT_MAP_2M | NPT_MAP_REPLACE));
		expect_record(&c, t, want, 1, "a leaf table replaced by a 2M leaf");
	}
	ck_assert_uint_eq(npt_table_frames(t), frames - 1);
	expect_structure(&c, t, B + 4 * M, Q, M, 3, c.rw, "table to leaf", __LINE__);
	expect_invariants(&c, t, __LINE__);

	/* break-before-make where the format needs it: each changed leaf is
	 * broken through the hook, and not named again in the record */
	npt_set_bbm_hook(t, count_bbm, NULL);
	bbm_calls = 0;
	EXPECT_OK(&c, npt_map_region(t, B + 6 * M, P, 3 * PG, other, NPT_MAP_REPLACE));
	if (c.info.features & NPT_FEATURE_BBM) {
		ck_assert_uint_eq(bbm_calls, 3);
		expect_record(&c, t, NULL, 0, "replace through break-before-make");
	} else {
		const struct run4 want[] = { { B + 6 * M, 3 * PG, 0, 0 } };

		ck_assert_uint_eq(bbm_calls, 0);
		expect_record(&c, t, want, 1, "replace without break-before-make");
	}
	check_mapped(&c, t, B + 6 * M, P, 3 * PG, other, __LINE__);
	check_tree(&c, t, 0, NULL);
	expect_invariants(&c, t, __LINE__);
	npt_free(t);
	ck_assert_uint_eq(testmm_live(&c.mm), 0);
	fctx_fini(&c);
}
END_TEST

/* ---- npt_map_sg -------------------------------------------------------------------- */

START_TEST(t_sg)
{
	const uint64_t M = lsize(1);
	struct fctx c;
	struct npt_table *t;
	uint64_t B, P;
	unsigned other;

	fctx_init(&c, (unsigned)_i, POOL, _i % 2);
	ck_assert_int_ge(fctx_other_flags(&c, c.rw, &other), 0);
	B = fctx_area(&c, M, 10 * M);
	P = fctx_pa(&c, M, 16 * M);
	t = fctx_new(&c);
	{
		/* a 2 MiB piece, two pieces that follow on (one range), and a
		 * 2 MiB-aligned piece at a va that is not: 4 KiB leaves */
		const struct npt_sg sg[] = { { P + 8 * M, M },
					     { P + 3 * PG, 3 * PG },
					     { P + 6 * PG, PG },
					     { P + 2 * M, M } };
		uint64_t frames;

		EXPECT_OK(&c, npt_map_sg(t, B, sg, 4, c.rw, NPT_MAP_HUGE));
		expect_record(&c, t, NULL, 0, "map_sg over nothing");
		expect_structure(&c, t, B, P + 8 * M, M, c.leaf_levels, c.rw, "sg piece 0", __LINE__);
		expect_structure(&c, t, B + M, P + 3 * PG, 4 * PG, 1, c.rw, "sg pieces 1+2",
				 __LINE__);
		expect_structure(&c, t, B + M + 4 * PG, P + 2 * M, M, 1, c.rw, "sg piece 3", __LINE__);
		check_unmapped(&c, t, B + 2 * M + 4 * PG, PG, __LINE__);
		expect_invariants(&c, t, __LINE__);

		/* all or nothing: the last piece collides, the first three
		 * would not: nothing changes */
		EXPECT_OK(&c, npt_map(t, B + 7 * M + 5 * PG, P, PG, c.rw));
		EXPECT_FAIL(&c, t, npt_map_sg(t, B + 6 * M, sg, 4, c.rw, 0), NPT_ERR_ALREADY_MAPPED);
		EXPECT_OK(&c, npt_unmap(t, B + 7 * M + 5 * PG, NULL, NULL));
		frames = npt_table_frames(t);
		/* replace the same range the other way round */
		EXPECT_OK(&c, npt_map_sg(t, B, sg + 1, 3, other, NPT_MAP_REPLACE));
		expect_structure(&c, t, B, P + 3 * PG, 4 * PG, 1, other, "replaced 1+2", __LINE__);
		expect_structure(&c, t, B + 4 * PG, P + 2 * M, M, 1, other, "replaced 3", __LINE__);
		check_mapped(&c, t, B + M + 4 * PG, P + 2 * M, M, c.rw, __LINE__);
		expect_invariants(&c, t, __LINE__);
		ck_assert_uint_ge(npt_table_frames(t), frames);
	}
	{
		const struct npt_sg bad_pa[] = { { P, PG }, { P + 0x800, PG } };
		const struct npt_sg bad_size[] = { { P, PG }, { P + PG, 0 } };
		const struct npt_sg wide[] = { { P, PG }, { 1ull << c.info.pa_bits, PG } };
		const struct npt_sg wrap[] = { { P, -PG }, { P, 2 * PG } };
		const uint64_t E = B + 6 * M;

		EXPECT_FAIL(&c, t, npt_map_sg(t, E, bad_pa, 2, c.rw, 0), NPT_ERR_ALIGN);
		EXPECT_FAIL(&c, t, npt_map_sg(t, E, bad_size, 2, c.rw, 0), NPT_ERR_RANGE);
		if (c.info.pa_bits < 64)
			EXPECT_FAIL(&c, t, npt_map_sg(t, E, wide, 2, c.rw, 0), NPT_ERR_RANGE);
		EXPECT_FAIL(&c, t, npt_map_sg(t, E, wrap, 2, c.rw, 0), NPT_ERR_RANGE);
		EXPECT_FAIL(&c, t, npt_map_sg(t, E, bad_pa, 0, c.rw, 0), NPT_ERR_RANGE);
		EXPECT_FAIL(&c, t, npt_map_sg(t, E, NULL, 1, c.rw, 0), NPT_ERR_INVAL);
		EXPECT_FAIL(&c, t, npt_map_sg(t, E + 0x800, bad_size, 1, c.rw, 0), NPT_ERR_ALIGN);
		EXPECT_FAIL(&c, t, npt_map_sg(t, E, bad_size, 1, c.rw, NPT_MAP_REPLACE << 1),
			    NPT_ERR_INVAL);
		EXPECT_FAIL(&c, t, npt_map_sg(t, E, bad_size, 1, NPT_FLAGS_ALL + 1, 0), NPT_ERR_FLAGS);
		ck_assert_int_eq(npt_map_sg(NULL, E, bad_size, 1, c.rw, 0), NPT_ERR_INVAL);
	}
	npt_free(t);
	ck_assert_uint_eq(testmm_live(&c.mm), 0);
	fctx_fini(&c);
}
END_TEST

/* ---- regions across boundaries and in the high half ---------------------------- */

START_TEST(t_region_places)
{
	struct fctx c;
	struct npt_table *t;
	uint64_t P, base[4];
	unsigned n = 0, k, other;

	fctx_init(&c, (unsigned)_i, POOL, 1);
	ck_assert_int_ge(fctx_other_flags(&c, c.rw, &other), 0);
	P = fctx_pa(&c, lsize(1), 8 * lsize(1));
	/* the first root entry boundary, the top of the low half, the high half */
	if (c.root_esize < c.lo_end)
		base[n++] = c.root_esize - 2 * lsize(1) - 5 * PG;
	base[n++] = c.lo_end - 4 * lsize(1) - 3 * PG;
	if (c.info.canonical) {
		base[n++] = c.hi_start + 5 * PG;
		base[n++] = 0 - 4 * lsize(1) - 3 * PG;
	}
	t = fctx_new(&c);
	for (k = 0; k < n; k++) {
		uint64_t va = base[k], size = 4 * lsize(1) + 3 * PG;
		uint64_t pa = P + (va & (lsize(1) - 1)); /* same offset: 2 MiB leaves fit */

		TU_CTX("region at 0x%llx", (unsigned long long)va);
		EXPECT_OK(&c, npt_map_region(t, va, pa, size, c.rw, NPT_MAP_HUGE));
		expect_structure(&c, t, va, pa, size, c.leaf_levels, c.rw, tu_ctx, __LINE__);
		check_mapped(&c, t, va, pa, size, c.rw, __LINE__);
		EXPECT_OK(&c, npt_protect_region(t, va + PG, size - 2 * PG, other));
		check_mapped(&c, t, va + PG, pa + PG, size - 2 * PG, other, __LINE__);
		check_mapped(&c, t, va, pa, PG, c.rw, __LINE__);
		check_mapped(&c, t, va + size - PG, pa + size - PG, PG, c.rw, __LINE__);
		check_tree(&c, t, 0, NULL);
		EXPECT_OK(&c, npt_unmap_region(t, va, size));
		expect_empty_table(&c, t, tu_ctx);
	}
	npt_free(t);
	ck_assert_uint_eq(testmm_live(&c.mm), 0);
	fctx_fini(&c);
}
END_TEST

static Suite *region_suite(void)
{
	Suite *s = suite_create("region");
	TCase *tc = tcase_create("region");

	tcase_set_timeout(tc, 120);
	ADD_FMT_TEST(tc, t_leaf_sizes);
	ADD_FMT_TEST(tc, t_split);
	ADD_FMT_TEST(tc, t_split_across_leaves);
	ADD_FMT_TEST(tc, t_free_tables);
	ADD_FMT_TEST(tc, t_sparse);
	ADD_FMT_TEST(tc, t_replace);
	ADD_FMT_TEST(tc, t_sg);
	ADD_FMT_TEST(tc, t_region_places);
	suite_add_tcase(s, tc);
	return s;
}

NPT_CHECK_MAIN(region_suite)
