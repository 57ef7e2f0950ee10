/*
 * The single-page calls' cost in what a test can count: the allocator calls
 * npt makes. On every format, with an mm without NPT_MM_LINEAR, npt_map (4
 * KiB into an existing leaf table), npt_unmap, npt_protect, npt_remap and
 * npt_log_write_fault each go through phys_to_virt exactly once per level
 * below the root (the step down; the root is held) and ask for at most one
 * frame word (the leaf table's counts), whether the leaf table is all but
 * empty or all but full -- the cost of keeping full_bit right does not grow
 * with the table. The same without frame words (where npt reads the leaf
 * table itself instead, through the pointer it has). Each call's result is
 * checked through npt_query.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/check_main.h"
#include "lib/tutil.h"

static unsigned long p2v_calls, word_calls;
static void *(*real_p2v)(void *ctx, uint64_t pa);
static uint32_t *(*real_word)(void *ctx, uint64_t pa);

static void *count_p2v(void *ctx, uint64_t pa)
{
	p2v_calls++;
	return real_p2v(ctx, pa);
}

static uint32_t *count_word(void *ctx, uint64_t pa)
{
	word_calls++;
	return real_word(ctx, pa);
}

/* The counts of one call, checked against what it may cost. */
#define CALL(c, what, expr)                                                                   \
	do {                                                                                  \
		int err_;                                                                     \
		p2v_calls = word_calls = 0;                                                   \
		err_ = (expr);                                                                \
		ck_assert_msg(!err_, "[%s] %s: %s", (c)->name, what, npt_strerror(err_));     \
		ck_assert_msg(p2v_calls == (c)->root_level,                                  \
			      "[%s] %s: %lu phys_to_virt calls, one per level below the root " \
			      "(%u) expected", (c)->name, what, p2v_calls, (c)->root_level);  \
		ck_assert_msg(word_calls <= 1, "[%s] %s: %lu frame words asked for",          \
			      (c)->name, what, word_calls);                                  \
	} while (0)

static void expect(const struct fctx *c, struct npt_table *t, uint64_t va, int mapped,
		   uint64_t pa, unsigned flags)
{
	uint64_t got = 0;
	unsigned fl = 0;
	int err = npt_query(t, va, &got, &fl, NULL);

	if (!mapped) {
		ck_assert_msg(err == NPT_ERR_NOT_MAPPED, "[%s] 0x%llx: %s, not mapped expected",
			      c->name, (unsigned long long)va, npt_strerror(err));
		return;
	}
	ck_assert_msg(!err && got == pa && (fl & (NPT_R | NPT_W)) == (flags & (NPT_R | NPT_W)),
		      "[%s] 0x%llx: %s pa 0x%llx flags 0x%x", c->name, (unsigned long long)va,
		      npt_strerror(err), (unsigned long long)got, fl);
}

/* On a leaf table holding `present` (at least 1) pages at its start
 * besides page k. */
static void one_table(struct fctx *c, unsigned present, unsigned k)
{
	struct npt_table *t = fctx_new(c);
	const uint64_t va = fctx_area(c, lsize(1), lsize(1)), pa = fctx_pa(c, lsize(1), 2 * lsize(1));
	const uint64_t page = va + k * PG, ppa = pa + k * PG, moved = pa + lsize(1) + k * PG;
	int logs;

	ck_assert_int_eq(npt_map_region(t, va, pa, present * PG, c->rw, 0), 0);
	CALL(c, "npt_map", npt_map(t, page, ppa, PG, c->rw));
	expect(c, t, page, 1, ppa, c->rw);
	CALL(c, "npt_protect", npt_protect(t, page, c->ro));
	expect(c, t, page, 1, ppa, c->ro);
	CALL(c, "npt_remap", npt_remap(t, page, moved, c->rw));
	expect(c, t, page, 1, moved, c->rw);
	logs = npt_log_start(t, va, lsize(1), NPT_LOG_LAZY) == 0;
	if (logs) {
		CALL(c, "npt_log_write_fault", npt_log_write_fault(t, page));
		expect(c, t, page, 1, moved, c->rw);
		ck_assert_int_eq(npt_log_stop(t, va, lsize(1)), 0);
	}
	CALL(c, "npt_unmap", npt_unmap(t, page, NULL, NULL));
	expect(c, t, page, 0, 0, 0);
	npt_free(t);
}

START_TEST(t_single_counts)
{
	struct fctx c;

	int words;

	for (words = 1; words >= 0; words--) {
		/* a linear pool's mm with its linear mapping taken away, its
		 * frame words kept (or not) */
		fctx_init(&c, (unsigned)_i, 4096, 1);
		if (!fctx_has_leaf(&c, 0) || !fctx_fits(&c, lsize(1), lsize(1))) {
			fctx_fini(&c);
			return;
		}
		c.mm.mm.flags &= ~NPT_MM_LINEAR;
		c.mm.mm.linear_offset = 0;
		real_p2v = c.mm.mm.phys_to_virt;
		real_word = c.mm.mm.frame_word;
		ck_assert_ptr_nonnull(real_word);
		c.mm.mm.phys_to_virt = count_p2v;
		c.mm.mm.frame_word = words ? count_word : NULL;
		one_table(&c, 1, 7);     /* all but empty */
		one_table(&c, 256, 300); /* half */
		one_table(&c, 511, 511); /* all but full: the call completes the run */
		fctx_fini(&c);
	}
}
END_TEST

static Suite *single_suite(void)
{
	Suite *s = suite_create("single");
	TCase *tc = tcase_create("single");

	ADD_FMT_TEST(tc, t_single_counts);
	suite_add_tcase(s, tc);
	return s;
}

NPT_CHECK_MAIN(single_suite)
