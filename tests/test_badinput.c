/*
 * One test per row of README.md's "Bad input" table, on every format: each
 * bad argument is refused with its error code, and the pool is left exactly
 * as it was (every allocated frame byte for byte, the set of allocated
 * frames, the struct npt_table: inv_snap_*), the invariant checker green.
 *
 * The allocator rows use a wrapper mm around a testmm that hands out one bad
 * frame at a chosen allocation (misaligned, beyond the format's output
 * width, with no virtual mapping, a misaligned contiguous block), at every
 * allocation point of npt_new and of a map that builds a whole path of
 * tables: npt refuses the frame with NPT_ERR_INVAL and gives it back.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "npt.h"
#include "format.h"
#include "lib/check_main.h"
#include "lib/invariants.h"
#include "lib/testmm.h"
#include "lib/tutil.h"

#define POOL 1024

struct bfx {
	struct fctx c;
	struct npt_table *t, *t2;
	uint64_t va, pa;   /* a mapped 4K page, pa its output */
	uint64_t hva;      /* a huge leaf's base, or 0 */
	uint64_t fva;      /* a free, aligned area of 4 * lsize(1) */
	unsigned long refused;
};

static void bfx_init(struct bfx *x, unsigned idx)
{
	struct fctx *c = &x->c;

	memset(x, 0, sizeof(*x));
	fctx_init(c, idx, POOL, 1);
	x->t = fctx_new(c);
	x->t2 = fctx_new(c);
	x->va = fctx_area(c, lsize(1), 8 * lsize(1));
	x->pa = fctx_pa(c, lsize(1), 4 * lsize(1));
	EXPECT_OK(c, npt_map_region(x->t, x->va, x->pa, 3 * PG, c->rw, 0));
	if (fctx_has_leaf(c, 1)) {
		x->hva = x->va + 2 * lsize(1);
		EXPECT_OK(c, npt_map(x->t, x->hva, x->pa + lsize(1), lsize(1), c->rw));
	}
	x->fva = x->va + 4 * lsize(1);
}

static void bfx_fini(struct bfx *x)
{
	npt_free(x->t2);
	npt_free(x->t);
	ck_assert_uint_eq(testmm_live(&x->c.mm), 0);
	fctx_fini(&x->c);
}

/* The call returns exp and nothing changes. */
#define REFUSED(x, call, exp)                                                                \
	do {                                                                                 \
		struct npt_table *set_[2] = { (x)->t, (x)->t2 };                             \
		struct inv_snap s_;                                                          \
		char m_[512];                                                                \
		int rc_, exp_ = (exp);                                                       \
		inv_snap_take(&s_, &(x)->c.mm, set_, 2);                                     \
		rc_ = (call);                                                                \
		ck_assert_msg(rc_ == exp_, "[%s]%s%s %s = %d (%s), expected %d (%s)",          \
			      (x)->c.name, tu_ctx[0] ? " " : "", tu_ctx, #call, rc_,          \
			      npt_strerror(rc_), exp_, npt_strerror(exp_));                  \
		ck_assert_msg(inv_snap_cmp(&s_, &(x)->c.mm, set_, 2, m_, sizeof(m_)) == 0,     \
			      "[%s] %s changed the pool: %s", (x)->c.name, #call, m_);         \
		inv_snap_free(&s_);                                                          \
		INV_ASSERT(&(x)->c.mm, set_, 2, INV_COMPLETE, #call);                        \
		(x)->refused++;                                                              \
	} while (0)

static int nop_visit(const struct npt_visit *v, void *arg)
{
	(void)v;
	(void)arg;
	return 0;
}

/* npt_map_sg of one piece: refused as npt_map_region is. */
static int map_sg1(struct npt_table *t, uint64_t va, uint64_t pa, uint64_t size, unsigned flags,
		   unsigned opts)
{
	const struct npt_sg sg = { pa, size };

	return npt_map_sg(t, va, &sg, 1, flags, opts);
}

/* Every call that takes an input range, with [va, va + size). */
static void all_ranges(struct bfx *x, uint64_t va, uint64_t size, int exp)
{
	struct fctx *c = &x->c;

	REFUSED(x, npt_map_region(x->t, va, x->pa, size, c->rw, 0), exp);
	REFUSED(x, map_sg1(x->t, va, x->pa, size, c->rw, 0), exp);
	REFUSED(x, npt_unmap_region(x->t, va, size), exp);
	REFUSED(x, npt_protect_region(x->t, va, size, c->ro), exp);
	REFUSED(x, npt_unmap_sparse(x->t, va, size), exp);
	REFUSED(x, npt_protect_sparse(x->t, va, size, c->ro), exp);
	REFUSED(x, npt_walk(x->t, va, size, NPT_WALK_LEAF, nop_visit, NULL), exp);
}

/* Every call that takes a single input address. */
static void all_singles(struct bfx *x, uint64_t va, int exp)
{
	struct fctx *c = &x->c;

	REFUSED(x, npt_map(x->t, va, x->pa, PG, c->rw), exp);
	REFUSED(x, npt_unmap(x->t, va, NULL, NULL), exp);
	REFUSED(x, npt_protect(x->t, va, c->ro), exp);
	REFUSED(x, npt_remap(x->t, va, x->pa, c->ro), exp);
}

/* row: misaligned va / pa / size */
START_TEST(t_misaligned)
{
	struct bfx x;
	struct fctx *c = &x.c;
	static const uint64_t offs[] = { 1, 8, 0x800, PG - 1 };
	unsigned i, l;

	bfx_init(&x, (unsigned)_i);
	for (i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		uint64_t o = offs[i];

		TU_CTX("offset 0x%llx", (unsigned long long)o);
		all_singles(&x, x.va + o, NPT_ERR_ALIGN);
		all_singles(&x, x.fva + o, NPT_ERR_ALIGN);
		all_ranges(&x, x.va + o, PG, NPT_ERR_ALIGN);
		all_ranges(&x, x.va, PG + o, NPT_ERR_ALIGN);
		all_ranges(&x, x.va, o, NPT_ERR_ALIGN);
		REFUSED(&x, npt_map(x.t, x.fva, x.pa + o, PG, c->rw), NPT_ERR_ALIGN);
		REFUSED(&x, npt_map_region(x.t, x.fva, x.pa + o, PG, c->rw, 0), NPT_ERR_ALIGN);
		REFUSED(&x, map_sg1(x.t, x.fva, x.pa + o, PG, c->rw, 0), NPT_ERR_ALIGN);
		REFUSED(&x, npt_remap(x.t, x.va, x.pa + o, c->rw), NPT_ERR_ALIGN);
		REFUSED(&x, npt_copy_from(x.t2, x.t, o, c->root_esize), NPT_ERR_ALIGN);
		REFUSED(&x, npt_copy_from(x.t2, x.t, 0, c->root_esize + o), NPT_ERR_ALIGN);
	}
	TU_CTX("huge");
	/* page-aligned but not aligned to the leaf size */
	for (l = 1; l <= c->top_leaf; l++) {
		uint64_t s = lsize(l);

		if (!fctx_has_leaf(c, l) || !fctx_fits(c, s, 2 * s))
			continue;
		REFUSED(&x, npt_map(x.t, fctx_area(c, s, 2 * s) + PG, fctx_pa(c, s, s), s, c->rw),
			NPT_ERR_ALIGN);
		REFUSED(&x, npt_map(x.t, fctx_area(c, s, 2 * s), fctx_pa(c, s, s) + PG, s, c->rw),
			NPT_ERR_ALIGN);
	}
	if (x.hva)
		REFUSED(&x, npt_remap(x.t, x.hva, x.pa + PG, c->rw), NPT_ERR_ALIGN);
	/* copy_from: page-aligned, not root-entry aligned */
	REFUSED(&x, npt_copy_from(x.t2, x.t, PG, c->root_esize), NPT_ERR_ALIGN);
	REFUSED(&x, npt_copy_from(x.t2, x.t, 0, c->root_esize - PG), NPT_ERR_ALIGN);
	bfx_fini(&x);
}
END_TEST

/* row: page_size of npt_map that is no leaf size of the format */
START_TEST(t_page_size)
{
	struct bfx x;
	struct fctx *c = &x.c;
	unsigned b;

	bfx_init(&x, (unsigned)_i);
	for (b = 0; b < 64; b++) {
		uint64_t s = 1ull << b;

		if (c->info.leaf_sizes & s)
			continue;
		TU_CTX("page_size 2^%u", b);
		REFUSED(&x, npt_map(x.t, 0, 0, s, c->rw), NPT_ERR_ALIGN);
	}
	REFUSED(&x, npt_map(x.t, x.fva, x.pa, 0, c->rw), NPT_ERR_ALIGN);
	REFUSED(&x, npt_map(x.t, x.fva, x.pa, 3 * PG, c->rw), NPT_ERR_ALIGN);
	REFUSED(&x, npt_map(x.t, x.fva, x.pa, PG + lsize(1), c->rw), NPT_ERR_ALIGN);
	bfx_fini(&x);
}
END_TEST

/* rows: zero size, wrap-around */
START_TEST(t_zero_and_wrap)
{
	struct bfx x;
	struct fctx *c = &x.c;
	uint64_t top = 0 - PG;

	bfx_init(&x, (unsigned)_i);
	TU_CTX("zero size");
	all_ranges(&x, x.va, 0, NPT_ERR_RANGE);
	all_ranges(&x, 0, 0, NPT_ERR_RANGE);
	REFUSED(&x, npt_copy_from(x.t2, x.t, 0, 0), NPT_ERR_RANGE);
	TU_CTX("wrap");
	/* the last byte wraps past 2^64 */
	all_ranges(&x, top, 2 * PG, NPT_ERR_RANGE);
	all_ranges(&x, x.va, 0 - x.va + PG, NPT_ERR_RANGE);
	all_ranges(&x, x.va + PG, 0 - PG, NPT_ERR_RANGE);
	all_ranges(&x, x.va, ~0ull & ~(PG - 1), NPT_ERR_RANGE);
	REFUSED(&x, npt_copy_from(x.t2, x.t, 0 - c->root_esize, 2 * c->root_esize),
		NPT_ERR_RANGE);
	/* the output wraps */
	REFUSED(&x, npt_map_region(x.t, x.fva, 0 - PG, 2 * PG, c->rw, 0), NPT_ERR_RANGE);
	REFUSED(&x, map_sg1(x.t, x.fva, 0 - PG, 2 * PG, c->rw, 0), NPT_ERR_RANGE);
	bfx_fini(&x);
}
END_TEST

/* rows: beyond the input width; non-canonical stage-1 address */
START_TEST(t_input_width)
{
	struct bfx x;
	struct fctx *c = &x.c;
	uint64_t bad[8];
	unsigned nb = 0, i;

	bfx_init(&x, (unsigned)_i);
	if (c->info.canonical) {
		/* the hole between the halves, and ranges reaching into it */
		bad[nb++] = c->lo_end;
		bad[nb++] = c->hi_start - PG;
		bad[nb++] = c->lo_end + (c->hi_start - c->lo_end) / 2;
		bad[nb++] = 1ull << 63;
		TU_CTX("low half into the hole");
		all_ranges(&x, c->lo_end - PG, 2 * PG, NPT_ERR_RANGE);
		TU_CTX("hole into the high half");
		all_ranges(&x, c->hi_start - PG, 2 * PG, NPT_ERR_RANGE);
		TU_CTX("low half to high half");
		all_ranges(&x, c->lo_end - PG, c->hi_start - c->lo_end + 2 * PG, NPT_ERR_RANGE);
		REFUSED(&x, npt_copy_from(x.t2, x.t, c->lo_end - c->root_esize, 2 * c->root_esize),
			NPT_ERR_RANGE);
		REFUSED(&x, npt_copy_from(x.t2, x.t, c->lo_end, c->root_esize), NPT_ERR_RANGE);
	} else {
		uint64_t end = 1ull << c->info.va_bits;

		bad[nb++] = end;
		bad[nb++] = end + PG;
		bad[nb++] = 1ull << 63;
		bad[nb++] = 0 - PG;
		TU_CTX("across the end of the input space");
		all_ranges(&x, end - PG, 2 * PG, NPT_ERR_RANGE);
		all_ranges(&x, 0, end + PG, NPT_ERR_RANGE);
		REFUSED(&x, npt_copy_from(x.t2, x.t, end - c->root_esize, 2 * c->root_esize),
			NPT_ERR_RANGE);
		REFUSED(&x, npt_copy_from(x.t2, x.t, end, c->root_esize), NPT_ERR_RANGE);
	}
	for (i = 0; i < nb; i++) {
		TU_CTX("va 0x%llx", (unsigned long long)bad[i]);
		all_singles(&x, bad[i], NPT_ERR_RANGE);
		all_ranges(&x, bad[i], PG, NPT_ERR_RANGE);
		ck_assert_int_eq(npt_query(x.t, bad[i], NULL, NULL, NULL), NPT_ERR_RANGE);
		ck_assert_int_eq(npt_query(x.t, bad[i] + 0x123, NULL, NULL, NULL), NPT_ERR_RANGE);
		if (fctx_has_leaf(c, 1) && !(bad[i] & (lsize(1) - 1)))
			REFUSED(&x, npt_map(x.t, bad[i], 0, lsize(1), c->rw), NPT_ERR_RANGE);
	}
	bfx_fini(&x);
}
END_TEST

/* row: pa beyond the output width */
START_TEST(t_output_width)
{
	struct bfx x;
	struct fctx *c = &x.c;
	uint64_t end;
	unsigned l;

	bfx_init(&x, (unsigned)_i);
	ck_assert_msg(c->info.pa_bits < 64, "[%s] 64-bit output: row not testable", c->name);
	end = 1ull << c->info.pa_bits;
	REFUSED(&x, npt_map(x.t, x.fva, end, PG, c->rw), NPT_ERR_RANGE);
	REFUSED(&x, npt_map(x.t, x.fva, 1ull << 63, PG, c->rw), NPT_ERR_RANGE);
	REFUSED(&x, npt_map(x.t, x.fva, 0 - PG, PG, c->rw), NPT_ERR_RANGE);
	REFUSED(&x, npt_map_region(x.t, x.fva, end - PG, 2 * PG, c->rw, 0), NPT_ERR_RANGE);
	REFUSED(&x, map_sg1(x.t, x.fva, end - PG, 2 * PG, c->rw, 0), NPT_ERR_RANGE);
	REFUSED(&x, npt_map_region(x.t, x.fva, end, PG, c->rw, NPT_MAP_HUGE), NPT_ERR_RANGE);
	REFUSED(&x, map_sg1(x.t, x.fva, end, PG, c->rw, NPT_MAP_HUGE), NPT_ERR_RANGE);
	REFUSED(&x, npt_remap(x.t, x.va, end, c->rw), NPT_ERR_RANGE);
	REFUSED(&x, npt_remap(x.t, x.va, end | x.pa, c->rw), NPT_ERR_RANGE);
	for (l = 1; l <= c->top_leaf; l++) {
		uint64_t s = lsize(l);

		if (!fctx_has_leaf(c, l) || !fctx_fits(c, s, 2 * s))
			continue;
		REFUSED(&x, npt_map(x.t, fctx_area(c, s, s), end, s, c->rw), NPT_ERR_RANGE);
	}
	if (x.hva)
		REFUSED(&x, npt_remap(x.t, x.hva, end, c->rw), NPT_ERR_RANGE);
	/* the last page below the width is fine */
	EXPECT_OK(c, npt_map(x.t, x.fva, end - PG, PG, c->rw));
	EXPECT_OK(c, npt_unmap(x.t, x.fva, NULL, NULL));
	bfx_fini(&x);
}
END_TEST

/* row: flags the format cannot encode */
START_TEST(t_flags)
{
	struct bfx x;
	struct fctx *c = &x.c;
	unsigned s, l, n0 = 0;

	bfx_init(&x, (unsigned)_i);
	for (s = 0; s < 0x400; s++) {
		uint64_t pte;

		if (s < 0x100 && npt_encode_leaf(c->fmt, 0, 0, s, &pte) == 0)
			continue;
		TU_CTX("flags 0x%x", s);
		n0++;
		REFUSED(&x, npt_map(x.t, x.fva, x.pa, PG, s), NPT_ERR_FLAGS);
		REFUSED(&x, npt_map_region(x.t, x.fva, x.pa, 3 * PG, s, 0), NPT_ERR_FLAGS);
		REFUSED(&x, map_sg1(x.t, x.fva, x.pa, 3 * PG, s, 0), NPT_ERR_FLAGS);
		REFUSED(&x, npt_protect(x.t, x.va, s), NPT_ERR_FLAGS);
		REFUSED(&x, npt_protect_region(x.t, x.va, 3 * PG, s), NPT_ERR_FLAGS);
		REFUSED(&x, npt_protect_sparse(x.t, x.va, 3 * PG, s), NPT_ERR_FLAGS);
		REFUSED(&x, npt_remap(x.t, x.va, x.pa, s), NPT_ERR_FLAGS);
		if (x.hva) {
			REFUSED(&x, npt_protect(x.t, x.hva, s), NPT_ERR_FLAGS);
			REFUSED(&x, npt_protect_region(x.t, x.hva + PG, PG, s), NPT_ERR_FLAGS);
		}
	}
	ck_assert_msg(n0 >= 0x300, "[%s] only %u refused flag sets", c->name, n0);
	/* flags that encode at level 0 but not at a huge level */
	for (l = 1; l <= c->top_leaf; l++) {
		uint64_t sz = lsize(l), pte;

		if (!fctx_has_leaf(c, l) || !fctx_fits(c, sz, sz))
			continue;
		for (s = 0; s < 0x100; s++) {
			if (npt_encode_leaf(c->fmt, 0, 0, s, &pte) != 0 ||
			    npt_encode_leaf(c->fmt, l, 0, s, &pte) == 0)
				continue;
			TU_CTX("flags 0x%x at level %u", s, l);
			REFUSED(&x, npt_map(x.t, fctx_area(c, sz, sz), fctx_pa(c, sz, sz), sz, s),
				NPT_ERR_FLAGS);
		}
	}
	bfx_fini(&x);
}
END_TEST

/* rows: NULL table, NULL mm / format, unusable mm, unknown opts or walk
 * kinds, copy_from between tables that cannot share */
START_TEST(t_null_and_inval)
{
	struct bfx x;
	struct fctx *c = &x.c;
	struct npt_mm mm;
	struct npt_table *t3;
	struct npt_flush fl;
	const struct npt_format *other;
	unsigned long n = 0;
	int err;

	bfx_init(&x, (unsigned)_i);
	/* NULL table */
	ck_assert_int_eq(npt_map(NULL, x.fva, x.pa, PG, c->rw), NPT_ERR_INVAL);
	ck_assert_int_eq(npt_map_region(NULL, x.fva, x.pa, PG, c->rw, 0), NPT_ERR_INVAL);
	ck_assert_int_eq(map_sg1(NULL, x.fva, x.pa, PG, c->rw, 0), NPT_ERR_INVAL);
	ck_assert_int_eq(npt_unmap(NULL, x.va, NULL, NULL), NPT_ERR_INVAL);
	ck_assert_int_eq(npt_unmap_region(NULL, x.va, PG), NPT_ERR_INVAL);
	ck_assert_int_eq(npt_protect(NULL, x.va, c->ro), NPT_ERR_INVAL);
	ck_assert_int_eq(npt_protect_region(NULL, x.va, PG, c->ro), NPT_ERR_INVAL);
	ck_assert_int_eq(npt_unmap_sparse(NULL, x.va, PG), NPT_ERR_INVAL);
	ck_assert_int_eq(npt_protect_sparse(NULL, x.va, PG, c->ro), NPT_ERR_INVAL);
	ck_assert_int_eq(npt_remap(NULL, x.va, x.pa, c->ro), NPT_ERR_INVAL);
	ck_assert_int_eq(npt_query(NULL, x.va, NULL, NULL, NULL), NPT_ERR_INVAL);
	ck_assert_int_eq(npt_walk(NULL, x.va, PG, NPT_WALK_LEAF, nop_visit, &n), NPT_ERR_INVAL);
	REFUSED(&x, npt_copy_from(NULL, x.t, 0, c->root_esize), NPT_ERR_INVAL);
	REFUSED(&x, npt_copy_from(x.t2, NULL, 0, c->root_esize), NPT_ERR_INVAL);
	npt_free(NULL);
	npt_set_flush_hook(NULL, NULL, NULL, 0);
	npt_last_flush(NULL, &fl);
	ck_assert_uint_eq(fl.kind, NPT_FLUSH_NONE);
	ck_assert_uint_eq(npt_root(NULL), 0);
	ck_assert_uint_eq(npt_table_frames(NULL), 0);
	ck_assert_ptr_null(npt_table_format(NULL));
	/* NULL format or mm, an mm missing a function */
	err = 0;
	ck_assert_ptr_null(npt_new(NULL, &c->mm.mm, &err));
	ck_assert_int_eq(err, NPT_ERR_INVAL);
	err = 0;
	ck_assert_ptr_null(npt_new(c->fmt, NULL, &err));
	ck_assert_int_eq(err, NPT_ERR_INVAL);
	mm = c->mm.mm;
	mm.alloc = NULL;
	ck_assert_ptr_null(npt_new(c->fmt, &mm, &err));
	ck_assert_int_eq(err, NPT_ERR_INVAL);
	mm = c->mm.mm;
	mm.free = NULL;
	ck_assert_ptr_null(npt_new(c->fmt, &mm, &err));
	ck_assert_int_eq(err, NPT_ERR_INVAL);
	mm = c->mm.mm;
	mm.phys_to_virt = NULL;
	ck_assert_ptr_null(npt_new(c->fmt, &mm, &err));
	ck_assert_int_eq(err, NPT_ERR_INVAL);
	if (c->info.root_frames > 1) {
		mm = c->mm.mm;
		mm.alloc_contig = NULL;
		ck_assert_ptr_null(npt_new(c->fmt, &mm, &err));
		ck_assert_int_eq(err, NPT_ERR_INVAL);
		mm = c->mm.mm;
		mm.free_contig = NULL;
		ck_assert_ptr_null(npt_new(c->fmt, &mm, &err));
		ck_assert_int_eq(err, NPT_ERR_INVAL);
	}
	/* unknown options, walk kinds, NULL visitor */
	REFUSED(&x, npt_map_region(x.t, x.fva, x.pa, PG, c->rw, NPT_MAP_REPLACE << 1), NPT_ERR_INVAL);
	REFUSED(&x, map_sg1(x.t, x.fva, x.pa, PG, c->rw, NPT_MAP_REPLACE << 1), NPT_ERR_INVAL);
	REFUSED(&x, npt_map_region(x.t, x.fva, x.pa, PG, c->rw, ~0u), NPT_ERR_INVAL);
	REFUSED(&x, npt_walk(x.t, x.va, PG, 0x10, nop_visit, NULL), NPT_ERR_INVAL);
	REFUSED(&x, npt_walk(x.t, x.va, PG, NPT_WALK_LEAF | NPT_WALK_RUNS, nop_visit, NULL),
		NPT_ERR_INVAL);
	REFUSED(&x, npt_walk(x.t, x.va, PG, NPT_WALK_LEAF, NULL, NULL), NPT_ERR_INVAL);
	/* copy_from itself, or from a table of another format */
	REFUSED(&x, npt_copy_from(x.t, x.t, 0, c->root_esize), NPT_ERR_INVAL);
	other = npt_format_by_name(c->idx ? npt_format_names()[0] : npt_format_names()[1]);
	t3 = npt_new(other, &c->mm.mm, &err);
	ck_assert_ptr_nonnull(t3);
	EXPECT_OK(c, npt_map(t3, 0, 0, PG, NPT_R));
	{
		struct npt_table *set[3] = { x.t, x.t2, t3 };
		struct inv_snap s;
		char m[512];

		inv_snap_take(&s, &c->mm, set, 3);
		ck_assert_int_eq(npt_copy_from(x.t2, t3, 0, c->root_esize), NPT_ERR_INVAL);
		ck_assert_int_eq(npt_copy_from(t3, x.t, 0, c->root_esize), NPT_ERR_INVAL);
		ck_assert_msg(inv_snap_cmp(&s, &c->mm, set, 3, m, sizeof(m)) == 0, "[%s] %s", c->name,
			      m);
		inv_snap_free(&s);
	}
	npt_free(t3);
	ck_assert_uint_eq(n, 0);
	bfx_fini(&x);
}
END_TEST

/* ---- an allocator that hands out a bad frame ------------------------------- */

enum bad { BAD_MISALIGNED, BAD_HIGH, BAD_TOP_BIT, BAD_NO_VIRT, BAD_CONTIG_MISALIGNED, BAD_N };
static const char *const bad_name[] = { "misaligned frame", "frame beyond the output width",
					"frame with bit 63 set", "frame without a virtual address",
					"misaligned contiguous block" };

struct badmm {
	struct npt_mm mm;
	struct testmm *tm;
	const struct npt_format_info *info;
	enum bad mode;
	long countdown;       /* allocation number that goes bad; -1 none */
	uint64_t bad, real;   /* the bad frame handed out, and the frame behind it */
	unsigned count;       /* contig: frames behind it */
	int live, given;
};

static uint64_t make_bad(struct badmm *b, uint64_t real)
{
	switch (b->mode) {
	case BAD_MISALIGNED: return real + 8;
	case BAD_HIGH: return real | 1ull << b->info->pa_bits;
	case BAD_TOP_BIT: return real | 1ull << 63;
	case BAD_NO_VIRT: return real;
	case BAD_CONTIG_MISALIGNED: return real + PG;
	default: return real;
	}
}

static uint64_t unbad(struct badmm *b, uint64_t pa)
{
	if (b->live && pa == b->bad) {
		b->live = 0;
		return b->real;
	}
	return pa;
}

static int bad_alloc(void *ctx, uint64_t *pa)
{
	struct badmm *b = ctx;
	uint64_t real;

	if (b->tm->mm.alloc(b->tm, &real))
		return -1;
	if (b->mode != BAD_CONTIG_MISALIGNED && b->countdown >= 0 && b->countdown-- == 0) {
		ck_assert(!b->live);
		b->real = real;
		b->bad = make_bad(b, real);
		b->live = 1;
		b->given++;
		*pa = b->bad;
		return 0;
	}
	*pa = real;
	return 0;
}

static void bad_free(void *ctx, uint64_t pa)
{
	struct badmm *b = ctx;

	b->tm->mm.free(b->tm, unbad(b, pa));
}

static void *bad_p2v(void *ctx, uint64_t pa)
{
	struct badmm *b = ctx;

	if (b->live && (pa & ~(PG - 1)) == (b->bad & ~(PG - 1))) {
		if (b->mode == BAD_NO_VIRT)
			return NULL;
		return testmm_va(b->tm, b->real); /* never dereferenced by a sound engine */
	}
	return b->tm->mm.phys_to_virt(b->tm, pa);
}

static int bad_alloc_contig(void *ctx, unsigned count, uint64_t *pa)
{
	struct badmm *b = ctx;
	uint64_t real;

	if (b->mode == BAD_CONTIG_MISALIGNED) {
		/* a block one frame past an aligned one: 4K-aligned, not count-aligned */
		if (b->tm->mm.alloc_contig(b->tm, count * 2, &real))
			return -1;
		b->real = real;
		b->bad = real + PG;
		b->count = count;
		b->live = 1;
		b->given++;
		*pa = b->bad;
		return 0;
	}
	if (b->countdown >= 0 && b->countdown-- == 0) {
		if (b->tm->mm.alloc_contig(b->tm, count, &real))
			return -1;
		b->real = real;
		b->bad = make_bad(b, real);
		b->count = count;
		b->live = 1;
		b->given++;
		*pa = b->bad;
		return 0;
	}
	return b->tm->mm.alloc_contig(b->tm, count, pa);
}

static void bad_free_contig(void *ctx, uint64_t pa, unsigned count)
{
	struct badmm *b = ctx;

	if (b->live && pa == b->bad && b->mode == BAD_CONTIG_MISALIGNED) {
		ck_assert_uint_eq(count, b->count);
		b->live = 0;
		b->tm->mm.free_contig(b->tm, b->real, count * 2);
		return;
	}
	b->tm->mm.free_contig(b->tm, unbad(b, pa), count);
}

static void badmm_init(struct badmm *b, struct fctx *c, enum bad mode, long countdown)
{
	memset(b, 0, sizeof(*b));
	b->tm = &c->mm;
	b->info = &c->info;
	b->mode = mode;
	b->countdown = countdown;
	b->mm.ctx = b;
	b->mm.alloc = bad_alloc;
	b->mm.free = bad_free;
	b->mm.phys_to_virt = bad_p2v;
	b->mm.alloc_contig = bad_alloc_contig;
	b->mm.free_contig = bad_free_contig;
	b->mm.flags = 0; /* every access through phys_to_virt */
}

/* rows: an mm whose alloc returns a misaligned or out-of-range frame */
START_TEST(t_bad_frames)
{
	struct fctx c;
	struct badmm b;
	struct npt_table *t;
	struct inv_snap snap;
	char msg[512];
	unsigned mode, k, points = 0;
	uint64_t va, pa;
	int err, rc;

	fctx_init(&c, (unsigned)_i, POOL, 1);
	va = fctx_area(&c, lsize(1), 2 * lsize(1)) + lsize(1) - PG;
	pa = fctx_pa(&c, lsize(1), 2 * lsize(1));
	for (mode = 0; mode < BAD_N; mode++) {
		if (mode == BAD_HIGH && c.info.pa_bits >= 63)
			continue;
		TU_CTX("%s", bad_name[mode]);
		/* npt_new: the root is the bad frame (or block) */
		if (mode != BAD_CONTIG_MISALIGNED || c.info.root_frames > 1) {
			badmm_init(&b, &c, (enum bad)mode, 0);
			err = 0;
			t = npt_new(c.fmt, &b.mm, &err);
			ck_assert_msg(t == NULL && err == NPT_ERR_INVAL,
				      "[%s] npt_new with a %s as root: %p err %d", c.name,
				      bad_name[mode], (void *)t, err);
			ck_assert_msg(b.given == 1 && !b.live, "[%s] %s not given back", c.name,
				      bad_name[mode]);
			ck_assert_uint_eq(testmm_live(&c.mm), 0);
			points++;
		}
		if (mode == BAD_CONTIG_MISALIGNED)
			continue;
		/* a map that builds tables down to level 0 (and across two leaf
		 * tables): the bad frame at each of its allocations */
		for (k = 0;; k++) {
			badmm_init(&b, &c, (enum bad)mode, -1);
			t = npt_new(c.fmt, &b.mm, &err);
			ck_assert_ptr_nonnull(t);
			EXPECT_OK(&c, npt_map(t, va - 2 * lsize(1), pa, PG, c.rw));
			inv_snap_take(&snap, &c.mm, &t, 1);
			b.countdown = k;
			rc = npt_map_region(t, va, pa, 2 * PG, c.rw, 0);
			if (!b.given) {
				ck_assert_msg(rc == 0, "[%s] map_region = %d", c.name, rc);
				inv_snap_free(&snap);
				INV_ASSERT(&c.mm, &t, 1, INV_COMPLETE, "after the clean map");
				npt_free(t);
				break;
			}
			ck_assert_msg(rc == NPT_ERR_INVAL,
				      "[%s] map_region with a %s at allocation %u: %d (%s)", c.name,
				      bad_name[mode], k, rc, npt_strerror(rc));
			ck_assert_msg(!b.live, "[%s] %s kept by the table", c.name, bad_name[mode]);
			ck_assert_msg(inv_snap_cmp(&snap, &c.mm, &t, 1, msg, sizeof(msg)) == 0,
				      "[%s] %s at allocation %u changed the pool: %s", c.name,
				      bad_name[mode], k, msg);
			INV_ASSERT(&c.mm, &t, 1, INV_COMPLETE, bad_name[mode]);
			inv_snap_free(&snap);
			npt_free(t);
			points++;
			ck_assert_uint_eq(testmm_live(&c.mm), 0);
		}
		ck_assert_msg(k >= 2, "[%s] the map made only %u allocations", c.name, k);
	}
	ck_assert_uint_eq(testmm_live(&c.mm), 0);
	(void)points;
	fctx_fini(&c);
}
END_TEST

/* A pool that straddles the end of the output width: the frames below it
 * are used, those above refused (NPT_ERR_INVAL), and none leaks. And a pool
 * starting at physical address 0: frame 0 is an ordinary frame. */
START_TEST(t_pool_edges)
{
	struct fctx c;
	struct testmm m;
	struct npt_table *t;
	uint64_t end, va, pa;
	unsigned i, below;
	int err, rc = 0;

	fctx_init(&c, (unsigned)_i, 16, 1);
	end = 1ull << c.info.pa_bits;
	below = 4 * c.info.root_frames;
	ck_assert_int_eq(testmm_init(&m, end - below * PG, 64), 0);
	t = npt_new(c.fmt, &m.mm, &err);
	ck_assert_msg(t != NULL, "[%s] npt_new below the output width: %d", c.name, err);
	va = fctx_area(&c, lsize(1), 64 * lsize(1));
	pa = fctx_pa(&c, lsize(1), lsize(1));
	/* map pages in distinct leaf tables until the allocator's frames cross
	 * the width */
	for (i = 0; i < 64; i++) {
		struct inv_snap s;
		char msg[512];

		inv_snap_take(&s, &m, &t, 1);
		rc = npt_map(t, va + i * lsize(1), pa, PG, c.rw);
		if (rc) {
			ck_assert_msg(inv_snap_cmp(&s, &m, &t, 1, msg, sizeof(msg)) == 0, "[%s] %s",
				      c.name, msg);
			inv_snap_free(&s);
			break;
		}
		inv_snap_free(&s);
	}
	ck_assert_msg(rc == NPT_ERR_INVAL, "[%s] frames beyond the output width: map = %d after %u "
		      "maps", c.name, rc, i);
	ck_assert_msg(i > 0 || c.info.levels > 3 || below > 1, "[%s] no frame below the width used",
		      c.name);
	INV_ASSERT(&m, &t, 1, INV_COMPLETE, "straddling pool");
	npt_free(t);
	ck_assert_uint_eq(testmm_live(&m), 0);
	testmm_destroy(&m);

	/* a pool at physical 0: frame 0 is ordinary, except where a table
	 * entry holding address 0 would read as absent (LoongArch directory
	 * entries are the bare address): there npt refuses it */
	ck_assert_int_eq(testmm_init(&m, 0, 256), 0);
	t = npt_new(c.fmt, &m.mm, &err);
	if (!npt_pte_present(c.fmt, c.fmt->table_bits)) {
		ck_assert_msg(t == NULL && err == NPT_ERR_INVAL, "[%s] frame 0 as root: %d", c.name,
			      err);
		ck_assert_uint_eq(testmm_live(&m), 0);
		testmm_destroy(&m);
		fctx_fini(&c);
		return;
	}
	ck_assert_msg(t != NULL, "[%s] npt_new with frame 0 as root: %d", c.name, err);
	ck_assert_uint_eq(npt_root(t), 0);
	EXPECT_OK(&c, npt_map_region(t, va, pa, 3 * lsize(1) + PG, c.rw, 0));
	EXPECT_OK(&c, npt_unmap_region(t, va + PG, 3 * lsize(1)));
	INV_ASSERT(&m, &t, 1, INV_COMPLETE, "pool at 0");
	npt_free(t);
	ck_assert_uint_eq(testmm_live(&m), 0);
	testmm_destroy(&m);
	fctx_fini(&c);
}
END_TEST

static Suite *bad_suite(void)
{
	Suite *s = suite_create("badinput");
	TCase *tc = tcase_create("rows");

	tcase_set_timeout(tc, 120);
	ADD_FMT_TEST(tc, t_misaligned);
	ADD_FMT_TEST(tc, t_page_size);
	ADD_FMT_TEST(tc, t_zero_and_wrap);
	ADD_FMT_TEST(tc, t_input_width);
	ADD_FMT_TEST(tc, t_output_width);
	ADD_FMT_TEST(tc, t_flags);
	ADD_FMT_TEST(tc, t_null_and_inval);
	ADD_FMT_TEST(tc, t_bad_frames);
	ADD_FMT_TEST(tc, t_pool_edges);
	suite_add_tcase(s, tc);
	return s;
}

NPT_CHECK_MAIN(bad_suite)
