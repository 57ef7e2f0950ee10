/*
 * npt_collapse on every format: 4 KiB leaves back into a 2 MiB leaf, both
 * steps up to 1 GiB in one call, every reason a table must stay (a hole,
 * a foreign page, different attributes, misalignment, the range), the
 * accessed/dirty state kept, the way back from dirty logging, the flush
 * record, the free hook, and refusals that change nothing.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "npt.h"
#include "lib/check_main.h"
#include "lib/hwsim.h"
#include "lib/testmm.h"
#include "lib/tutil.h"

#define POOL 4096

static unsigned long leaves_at(struct fctx *c, struct npt_table *t, unsigned level)
{
	struct tree_stats st;

	memset(&st, 0, sizeof(st));
	check_tree(c, t, 0, &st);
	return st.leaves[level];
}

/* Nothing changes and nothing is flushed. */
#define EXPECT_NO_COLLAPSE(c, t, va, size)                                              \
	do {                                                                            \
		struct npt_flush f_;                                                    \
		EXPECT_FAIL(c, t, npt_collapse(t, va, size), NPT_OK);                   \
		npt_last_flush(t, &f_);                                                 \
		ck_assert_msg(f_.kind == NPT_FLUSH_NONE, "[%s] line %d: flush kind %u",  \
			      (c)->name, __LINE__, f_.kind);                            \
	} while (0)

START_TEST(t_pages)
{
	struct fctx c;
	struct npt_table *t;
	uint64_t va, pa, hs = lsize(1), frames;
	struct npt_flush f;
	unsigned other;

	fctx_init(&c, (unsigned)_i, POOL, 1);
	t = fctx_new(&c);
	va = fctx_area(&c, hs, 4 * hs);
	pa = fctx_pa(&c, hs, 4 * hs);
	/* four 2 MiB blocks of 4 KiB pages: the first collapses */
	EXPECT_OK(&c, npt_map_region(t, va, pa, 4 * hs, c.rw, 0));
	ck_assert_uint_eq(leaves_at(&c, t, 0), 4 * 512);
	/* the second has a hole */
	EXPECT_OK(&c, npt_unmap(t, va + hs + 77 * PG, NULL, NULL));
	/* the third a page from elsewhere */
	EXPECT_OK(&c, npt_remap(t, va + 2 * hs + 5 * PG, pa + 100 * hs, c.rw));
	/* the fourth a page with other attributes */
	ck_assert_int_ge(fctx_other_flags(&c, c.rw, &other), 0);
	EXPECT_OK(&c, npt_protect(t, va + 3 * hs + 511 * PG, other));

	/* a range that does not cover a whole table collapses nothing */
	EXPECT_NO_COLLAPSE(&c, t, va, hs - PG);
	EXPECT_NO_COLLAPSE(&c, t, va + PG, hs);
	EXPECT_NO_COLLAPSE(&c, t, va + hs, 3 * hs);

	frames = npt_table_frames(t);
	EXPECT_OK(&c, npt_collapse(t, va, 4 * hs));
	ck_assert_uint_eq(npt_table_frames(t), frames - 1);
	ck_assert_uint_eq(leaves_at(&c, t, 1), 1);
	ck_assert_uint_eq(leaves_at(&c, t, 0), 3 * 512 - 1);
	check_mapped(&c, t, va, pa, hs, c.rw, __LINE__);
	npt_last_flush(t, &f);
	ck_assert_msg(f.kind == NPT_FLUSH_RANGE && f.nranges == 1 && f.ranges[0].va == va &&
			      f.ranges[0].size == hs && f.ranges[0].level == 1 &&
			      f.ranges[0].flags == NPT_FLUSH_TABLE,
		      "[%s] collapse flush: kind %u, %u runs", c.name, f.kind, f.nranges);
	/* again: nothing left to do */
	EXPECT_NO_COLLAPSE(&c, t, va, 4 * hs);

	/* repaired, each collapses */
	EXPECT_OK(&c, npt_map(t, va + hs + 77 * PG, pa + hs + 77 * PG, PG, c.rw));
	EXPECT_OK(&c, npt_remap(t, va + 2 * hs + 5 * PG, pa + 2 * hs + 5 * PG, c.rw));
	EXPECT_OK(&c, npt_protect(t, va + 3 * hs + 511 * PG, c.rw));
	EXPECT_OK(&c, npt_collapse(t, va, 4 * hs));
	ck_assert_uint_eq(leaves_at(&c, t, 1), 4);
	ck_assert_uint_eq(leaves_at(&c, t, 0), 0);
	check_mapped(&c, t, va, pa, 4 * hs, c.rw, __LINE__);
	npt_free(t);
	ck_assert_uint_eq(testmm_live(&c.mm), 0);
	fctx_fini(&c);
}
END_TEST

/* Output not aligned to 2 MiB: contiguous, but no 2 MiB leaf can map it. */
START_TEST(t_misaligned)
{
	struct fctx c;
	struct npt_table *t;
	uint64_t va, pa, hs = lsize(1);

	fctx_init(&c, (unsigned)_i, POOL, 1);
	t = fctx_new(&c);
	va = fctx_area(&c, hs, hs);
	pa = fctx_pa(&c, hs, 2 * hs) + PG;
	EXPECT_OK(&c, npt_map_region(t, va, pa, hs, c.rw, NPT_MAP_HUGE));
	EXPECT_NO_COLLAPSE(&c, t, va, hs);
	npt_free(t);
	fctx_fini(&c);
}
END_TEST

/* 4 KiB -> 2 MiB -> 1 GiB in one call. */
START_TEST(t_two_levels)
{
	struct fctx c;
	struct npt_table *t;
	uint64_t va, pa, gs = lsize(2), hs = lsize(1), frames;
	struct npt_flush f;
	unsigned other;

	fctx_init(&c, (unsigned)_i, POOL, 1);
	if (!fctx_has_leaf(&c, 2) || !fctx_fits(&c, gs, gs)) {
		fctx_fini(&c);
		return;
	}
	t = fctx_new(&c);
	va = fctx_area(&c, gs, gs);
	pa = fctx_pa(&c, gs, gs);
	EXPECT_OK(&c, npt_map_region(t, va, pa, gs, c.rw, NPT_MAP_2M));
	ck_assert_int_ge(fctx_other_flags(&c, c.rw, &other), 0);
	/* two 2 MiB leaves split into 4 KiB pages and put back */
	EXPECT_OK(&c, npt_protect_region(t, va + 7 * hs + PG, PG, other));
	EXPECT_OK(&c, npt_protect_region(t, va + 7 * hs + PG, PG, c.rw));
	EXPECT_OK(&c, npt_protect_region(t, va + 300 * hs, PG, other));
	EXPECT_OK(&c, npt_protect_region(t, va + 300 * hs, PG, c.rw));
	ck_assert_uint_eq(leaves_at(&c, t, 0), 1024);
	frames = npt_table_frames(t);
	EXPECT_OK(&c, npt_collapse(t, va, gs));
	ck_assert_uint_eq(npt_table_frames(t), frames - 3);
	ck_assert_uint_eq(leaves_at(&c, t, 2), 1);
	ck_assert_uint_eq(leaves_at(&c, t, 1) + leaves_at(&c, t, 0), 0);
	check_mapped(&c, t, va, pa, gs, c.rw, __LINE__);
	/* one run: the 1 GiB table run covers the 2 MiB ones inside it */
	npt_last_flush(t, &f);
	ck_assert_msg(f.kind == NPT_FLUSH_RANGE && f.nranges == 1 && f.ranges[0].va == va &&
			      f.ranges[0].size == gs && f.ranges[0].level == 2 &&
			      f.ranges[0].flags == NPT_FLUSH_TABLE,
		      "[%s] two-level collapse flush: kind %u, %u runs", c.name, f.kind,
		      f.nranges);
	npt_free(t);
	ck_assert_uint_eq(testmm_live(&c.mm), 0);
	fctx_fini(&c);
}
END_TEST

/* Accessed/dirty state: differing state still collapses, and none is lost. */
START_TEST(t_state)
{
	struct fctx c;
	struct npt_table *t;
	uint64_t va, pa, hs = lsize(1), *bm;
	unsigned what, i;

	fctx_init(&c, (unsigned)_i, POOL, 1);
	bm = calloc(hs / PG / 64, sizeof(*bm));
	for (what = NPT_A; what <= NPT_D; what <<= 1) {
		if (!(c.info.features & (what == NPT_A ? NPT_FEATURE_ACCESSED : NPT_FEATURE_DIRTY)))
			continue;
		t = fctx_new(&c);
		va = fctx_area(&c, hs, hs);
		pa = fctx_pa(&c, hs, hs);
		EXPECT_OK(&c, npt_map_region(t, va, pa, hs, c.rw, 0));
		EXPECT_OK(&c, npt_harvest(t, va, hs, what, bm));
		/* Arm's harvest(NPT_D) leaves every leaf writable-clean: equal */
		ck_assert_int_eq(hw_access(t, va + 9 * PG, what == NPT_D), HW_OK);
		EXPECT_OK(&c, npt_collapse(t, va, hs));
		ck_assert_uint_eq(leaves_at(&c, t, 1), 1);
		EXPECT_OK(&c, npt_harvest(t, va, hs, what, bm));
		for (i = 0; i < hs / PG / 64; i++)
			ck_assert_msg(bm[i] == ~0ull, "[%s] what %#x: state lost in the collapse",
				      c.name, what);
		EXPECT_OK(&c, npt_harvest(t, va, hs, what, bm));
		ck_assert_msg(bm[0] == 0, "[%s] what %#x: state not cleared", c.name, what);
		npt_free(t);
	}
	free(bm);
	fctx_fini(&c);
}
END_TEST

/* The way back from dirty logging: log, write, stop, collapse. */
START_TEST(t_after_log)
{
	struct fctx c;
	struct npt_table *t;
	uint64_t va, pa, hs = lsize(1), bm[8];

	fctx_init(&c, (unsigned)_i, POOL, 1);
	t = fctx_new(&c);
	va = fctx_area(&c, hs, hs);
	pa = fctx_pa(&c, hs, hs);
	EXPECT_OK(&c, npt_map(t, va, pa, hs, c.rw));
	EXPECT_OK(&c, npt_log_start(t, va, hs, NPT_LOG_EAGER));
	ck_assert_uint_eq(leaves_at(&c, t, 0), 512);
	/* all clean: they are equal and would collapse into a marked huge
	 * leaf; one written page keeps the table */
	EXPECT_OK(&c, npt_log_write_fault(t, va + 3 * PG));
	EXPECT_NO_COLLAPSE(&c, t, va, hs);
	EXPECT_OK(&c, npt_log_harvest(t, va, hs, bm));
	EXPECT_OK(&c, npt_collapse(t, va, hs));
	ck_assert_uint_eq(leaves_at(&c, t, 1), 1);
	ck_assert_int_eq(hw_access(t, va, 1), HW_FAULT_WRITE); /* still logged, lazily */
	EXPECT_OK(&c, npt_log_write_fault(t, va));
	ck_assert_uint_eq(leaves_at(&c, t, 0), 512);
	EXPECT_OK(&c, npt_log_stop(t, va, hs));
	EXPECT_OK(&c, npt_collapse(t, va, hs));
	ck_assert_uint_eq(leaves_at(&c, t, 1), 1);
	ck_assert_int_eq(hw_access(t, va + 100 * PG, 1), HW_OK);
	npt_free(t);
	ck_assert_uint_eq(testmm_live(&c.mm), 0);
	fctx_fini(&c);
}
END_TEST

/* Freed tables go through the free hook. */
struct freed {
	unsigned n;
	uint64_t pa[8];
	struct testmm *mm;
};

static void free_hook(void *arg, uint64_t pa)
{
	struct freed *fr = arg;

	ck_assert_msg(testmm_is_allocated(fr->mm, pa), "free hook got a frame not allocated");
	ck_assert_uint_lt(fr->n, 8);
	fr->pa[fr->n++] = pa;
}

START_TEST(t_free_hook)
{
	struct fctx c;
	struct npt_table *t;
	struct freed fr;
	uint64_t va, pa, hs = lsize(1);
	size_t live;
	unsigned i;

	fctx_init(&c, (unsigned)_i, POOL, 1);
	memset(&fr, 0, sizeof(fr));
	fr.mm = &c.mm;
	t = fctx_new(&c);
	npt_set_free_hook(t, free_hook, &fr);
	va = fctx_area(&c, hs, 2 * hs);
	pa = fctx_pa(&c, hs, 2 * hs);
	EXPECT_OK(&c, npt_map_region(t, va, pa, 2 * hs, c.rw, 0));
	live = testmm_live(&c.mm);
	EXPECT_OK(&c, npt_collapse(t, va, 2 * hs));
	ck_assert_uint_eq(fr.n, 2);
	/* the table let go of them; the caller still holds them */
	ck_assert_uint_eq(testmm_live(&c.mm), live);
	ck_assert_uint_eq(npt_table_frames(t), live - 2 - HANDLE_FRAMES);
	for (i = 0; i < fr.n; i++)
		c.mm.mm.free(c.mm.mm.ctx, fr.pa[i]);
	/* and unmap's frees too */
	fr.n = 0;
	EXPECT_OK(&c, npt_unmap_region(t, va, 2 * hs));
	ck_assert_uint_ge(fr.n, 1);
	for (i = 0; i < fr.n; i++)
		c.mm.mm.free(c.mm.mm.ctx, fr.pa[i]);
	/* npt_free returns everything directly */
	fr.n = 0;
	EXPECT_OK(&c, npt_map_region(t, va, pa, PG, c.rw, 0));
	npt_free(t);
	ck_assert_uint_eq(fr.n, 0);
	ck_assert_uint_eq(testmm_live(&c.mm), 0);
	fctx_fini(&c);
}
END_TEST

START_TEST(t_bad)
{
	struct fctx c;
	struct npt_table *t;
	uint64_t va, pa, hs = lsize(1);

	fctx_init(&c, (unsigned)_i, POOL, 1);
	t = fctx_new(&c);
	va = fctx_area(&c, hs, hs);
	pa = fctx_pa(&c, hs, hs);
	EXPECT_OK(&c, npt_map_region(t, va, pa, hs, c.rw, 0));
	EXPECT_RC(&c, npt_collapse(NULL, va, hs), NPT_ERR_INVAL);
	EXPECT_FAIL(&c, t, npt_collapse(t, va + 1, hs), NPT_ERR_ALIGN);
	EXPECT_FAIL(&c, t, npt_collapse(t, va, hs - 1), NPT_ERR_ALIGN);
	EXPECT_FAIL(&c, t, npt_collapse(t, va, 0), NPT_ERR_RANGE);
	EXPECT_FAIL(&c, t, npt_collapse(t, 0 - hs, 2 * hs), NPT_ERR_RANGE);
	if (c.info.canonical)
		EXPECT_FAIL(&c, t, npt_collapse(t, c.lo_end, hs), NPT_ERR_RANGE);
	else if (c.info.va_bits < 64)
		EXPECT_FAIL(&c, t, npt_collapse(t, 1ull << c.info.va_bits, hs), NPT_ERR_RANGE);
	if (fctx_fits(&c, c.root_esize, 2 * c.root_esize) &&
	    c.root_esize != (va & ~(c.root_esize - 1))) {
		struct npt_table *src = fctx_new(&c);
		uint64_t k = c.root_esize;

		EXPECT_OK(&c, npt_map_region(src, k, pa, hs, c.rw, 0));
		EXPECT_OK(&c, npt_copy_from(t, src, k, c.root_esize));
		EXPECT_FAIL(&c, t, npt_collapse(t, k, hs), NPT_ERR_SHARED);
		EXPECT_OK(&c, npt_unmap_region(t, k, c.root_esize));
		npt_free(src);
	}
	npt_free(t);
	ck_assert_uint_eq(testmm_live(&c.mm), 0);
	fctx_fini(&c);
}
END_TEST

static Suite *collapse_suite(void)
{
	Suite *s = suite_create("collapse");
	TCase *tc = tcase_create("collapse");

	tcase_set_timeout(tc, 120);
	ADD_FMT_TEST(tc, t_pages);
	ADD_FMT_TEST(tc, t_misaligned);
	ADD_FMT_TEST(tc, t_two_levels);
	ADD_FMT_TEST(tc, t_state);
	ADD_FMT_TEST(tc, t_after_log);
	ADD_FMT_TEST(tc, t_free_hook);
	ADD_FMT_TEST(tc, t_bad);
	suite_add_tcase(s, tc);
	return s;
}

NPT_CHECK_MAIN(collapse_suite)
