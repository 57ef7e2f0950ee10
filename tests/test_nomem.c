/*
 * Allocation failure at every allocation of every call that allocates, on
 * every format: for n = 0, 1, 2, ... the n-th allocation of the call fails
 * (testmm_fail_after) until the call succeeds. Each failing call must return
 * NPT_ERR_NOMEM, leave the table exactly as it was (every walked entry and
 * the raw bytes of every table) and keep no frame; the successful call must
 * make exactly n allocations and produce the right mapping.
 *
 * Also: an allocator that runs out for real, and one that hands out frames
 * the format cannot point at (beyond pa_bits: NPT_ERR_INVAL, nothing kept).
 * Half the tests run without NPT_MM_LINEAR, so the engine goes through
 * phys_to_virt, which aborts on a frame that is not allocated.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "npt.h"
#include "lib/check_main.h"
#include "lib/testmm.h"
#include "lib/tutil.h"

#define POOL 16384

struct call {
	int kind;
	uint64_t va, pa, size;
	unsigned flags, opts;
	const struct npt_sg *sg; /* C_SG: sg[0..size) */
};
enum { C_MAP, C_MAP_REGION, C_UNMAP_REGION, C_PROTECT_REGION, C_PROTECT, C_REMAP, C_UNMAP,
       C_UNMAP_SPARSE, C_PROTECT_SPARSE, C_REPLACE, C_SG };

static int do_call(struct npt_table *t, const struct call *k)
{
	switch (k->kind) {
	case C_MAP: return npt_map(t, k->va, k->pa, k->size, k->flags);
	case C_MAP_REGION: return npt_map_region(t, k->va, k->pa, k->size, k->flags, k->opts);
	case C_UNMAP_REGION: return npt_unmap_region(t, k->va, k->size);
	case C_PROTECT_REGION: return npt_protect_region(t, k->va, k->size, k->flags);
	case C_PROTECT: return npt_protect(t, k->va, k->flags);
	case C_REMAP: return npt_remap(t, k->va, k->pa, k->flags);
	case C_UNMAP: return npt_unmap(t, k->va, NULL, NULL);
	case C_UNMAP_SPARSE: return npt_unmap_sparse(t, k->va, k->size);
	case C_PROTECT_SPARSE: return npt_protect_sparse(t, k->va, k->size, k->flags);
	case C_REPLACE:
		return npt_map_region(t, k->va, k->pa, k->size, k->flags, k->opts | NPT_MAP_REPLACE);
	case C_SG: return npt_map_sg(t, k->va, k->sg, (size_t)k->size, k->flags, k->opts);
	}
	return -100;
}

static const char *const kind_names[] = { "npt_map", "npt_map_region", "npt_unmap_region",
					  "npt_protect_region", "npt_protect", "npt_remap",
					  "npt_unmap", "npt_unmap_sparse", "npt_protect_sparse",
					  "npt_map_region(NPT_MAP_REPLACE)", "npt_map_sg" };

/* Fails allocation 0, 1, 2, ... of the call until it succeeds; returns the
 * number of allocations the successful call made. */
static unsigned fail_each(struct fctx *c, struct npt_table *t, const struct call *k,
			  const char *what)
{
	unsigned n;

	for (n = 0;; n++) {
		struct snap b, a;
		unsigned long inj = testmm_injected(&c->mm), allocs = testmm_allocs(&c->mm);
		int rc;

		TU_CTX("%s: %s(va 0x%llx, pa 0x%llx, size 0x%llx, flags 0x%x, opts 0x%x) with "
		       "allocation %u failing",
		       what, kind_names[k->kind], (unsigned long long)k->va,
		       (unsigned long long)k->pa, (unsigned long long)k->size, k->flags, k->opts, n);
		ck_assert_msg(n < 100000, "[%s] %s: never succeeds", c->name, tu_ctx);
		snap_take(c, t, &b);
		testmm_fail_after(&c->mm, (long)n);
		rc = do_call(t, k);
		testmm_fail_after(&c->mm, -1);
		if (rc == 0) {
			ck_assert_msg(testmm_injected(&c->mm) == inj,
				      "[%s] %s: succeeded although the allocation failed", c->name,
				      tu_ctx);
			ck_assert_msg(testmm_allocs(&c->mm) - allocs == n,
				      "[%s] %s: the successful call made %lu allocations, the failing "
				      "ones at least %u",
				      c->name, tu_ctx, testmm_allocs(&c->mm) - allocs, n);
			snap_free(&b);
			tu_ctx[0] = 0;
			return n;
		}
		ck_assert_msg(rc == NPT_ERR_NOMEM, "[%s] %s: returned %d (%s), expected NOMEM",
			      c->name, tu_ctx, rc, npt_strerror(rc));
		ck_assert_msg(testmm_injected(&c->mm) == inj + 1,
			      "[%s] %s: NOMEM without the allocation failing", c->name, tu_ctx);
		snap_take(c, t, &a);
		snap_assert_equal(c, &b, &a, tu_ctx, __LINE__);
		check_tree(c, t, 0, NULL);
		snap_free(&b);
		snap_free(&a);
	}
}

/* ---- npt_new ------------------------------------------------------------------ */

START_TEST(t_nomem_new)
{
	struct fctx c;
	struct npt_table *t;
	int err;

	fctx_init(&c, (unsigned)_i, 64, _i % 2);
	testmm_fail_after(&c.mm, 0);
	err = 0;
	t = npt_new(c.fmt, &c.mm.mm, &err);
	ck_assert_msg(t == NULL && err == NPT_ERR_NOMEM, "[%s] npt_new, root allocation failing: "
		      "%p err %d", c.name, (void *)t, err);
	ck_assert_uint_eq(testmm_live(&c.mm), 0);
	ck_assert_uint_eq(testmm_injected(&c.mm), 1);
	t = fctx_new(&c);
	ck_assert_uint_eq(testmm_live(&c.mm), c.info.root_frames + HANDLE_FRAMES);
	npt_free(t);
	fctx_fini(&c);
}
END_TEST

/* ---- maps into empty and partly filled space ------------------------------------ */

START_TEST(t_nomem_map)
{
	struct fctx c;
	struct npt_table *t;
	struct call k;
	unsigned l, n;

	fctx_init(&c, (unsigned)_i, POOL, _i % 2);
	for (l = 0; l < c.info.levels; l++) {
		uint64_t s = lsize(l);

		if (!fctx_has_leaf(&c, l) || !fctx_fits(&c, s, 4 * s))
			continue;
		t = fctx_new(&c);
		k.kind = C_MAP;
		k.va = fctx_area(&c, s, 4 * s) + s;
		k.pa = fctx_pa(&c, s, 4 * s) + s;
		k.size = s;
		k.flags = c.rw;
		k.opts = 0;
		n = fail_each(&c, t, &k, "map into empty space");
		ck_assert_msg(n == c.root_level - l, "[%s] a level-%u leaf into empty space took %u "
			      "allocations, expected %u", c.name, l, n, c.root_level - l);
		check_mapped(&c, t, k.va, k.pa, s, c.rw, __LINE__);
		/* next to it: at most the tables below the shared ones */
		if (l + 1 < c.info.levels) {
			k.va += lsize(l + 1);
			k.pa += lsize(l + 1);
			if (k.va + s <= c.lo_end) {
				n = fail_each(&c, t, &k, "map beside");
				check_mapped(&c, t, k.va, k.pa, s, c.rw, __LINE__);
			}
		}
		check_tree(&c, t, 0, NULL);
		npt_free(t);
		ck_assert_uint_eq(testmm_live(&c.mm), 0);
	}
	fctx_fini(&c);
}
END_TEST

START_TEST(t_nomem_map_region)
{
	struct fctx c;
	struct npt_table *t;
	struct call k;
	uint64_t R = 0, B;
	unsigned lvl, n;

	fctx_init(&c, (unsigned)_i, POOL, _i % 2);
	for (lvl = c.root_level; lvl >= 1; lvl--) {
		R = lsize(lvl);
		if (fctx_fits(&c, R, 3 * R))
			break;
	}
	B = fctx_area(&c, R, 3 * R) + R;
	t = fctx_new(&c);
	/* something already there, so some tables exist and some do not */
	EXPECT_OK(&c, npt_map(t, B - 700 * PG, 0, PG, c.rw));

	/* 4 KiB pages across a root-entry (or the biggest) boundary */
	k.kind = C_MAP_REGION;
	k.va = B - 600 * PG;
	k.pa = fctx_pa(&c, lsize(1), 4 * lsize(1)) + PG;
	k.size = 1300 * PG;
	k.flags = c.rw;
	k.opts = 0;
	n = fail_each(&c, t, &k, "4K region across a boundary");
	ck_assert_msg(n >= c.info.levels, "[%s] region across a boundary: only %u allocations",
		      c.name, n);
	check_mapped(&c, t, k.va, k.pa, k.size, c.rw, __LINE__);

	/* huge leaves with ragged edges, beside it */
	if (fctx_has_leaf(&c, 1)) {
		k.va = B + 2 * lsize(1) - 3 * PG;
		k.pa = fctx_pa(&c, lsize(1), 8 * lsize(1)) + 2 * lsize(1) - 3 * PG;
		k.size = 4 * lsize(1) + 9 * PG;
		k.opts = NPT_MAP_HUGE;
		n = fail_each(&c, t, &k, "huge region with edges");
		check_mapped(&c, t, k.va, k.pa, k.size, c.rw, __LINE__);
	}
	check_tree(&c, t, 0, NULL);
	npt_free(t);
	ck_assert_uint_eq(testmm_live(&c.mm), 0);
	fctx_fini(&c);
}
END_TEST

/* ---- splits -------------------------------------------------------------------- */

/* body(c, L, S, A, P, other, op) for op 0 and 1 at every huge leaf level L
 * (S its size) with room for 4 S: A, P the input and output 2 S into it. */
static void each_huge_level(unsigned idx,
			    void (*body)(struct fctx *c, unsigned L, uint64_t S, uint64_t A,
					 uint64_t P, unsigned other, unsigned op))
{
	struct fctx c;
	unsigned L, other, op;

	fctx_init(&c, idx, POOL, idx % 2);
	ck_assert_int_ge(fctx_other_flags(&c, c.rw, &other), 0);
	for (L = 1; L < c.info.levels; L++) {
		const uint64_t S = lsize(L);

		if (!fctx_has_leaf(&c, L) || !fctx_fits(&c, S, 4 * S))
			continue;
		for (op = 0; op < 2; op++)
			body(&c, L, S, fctx_area(&c, S, 4 * S) + S, fctx_pa(&c, S, 4 * S) + S, other,
			     op);
	}
	fctx_fini(&c);
}

/* The end of a body: the table checked, freed, and every frame back. */
static void body_done(struct fctx *c, struct npt_table *t)
{
	check_tree(c, t, 0, NULL);
	npt_free(t);
	ck_assert_uint_eq(testmm_live(&c->mm), 0);
}

/* A table with two level-L leaves of size S at A and A + 2S (output P and
 * P + 2S) and a hole between them. */
static struct npt_table *two_leaves(struct fctx *c, uint64_t S, uint64_t A, uint64_t P)
{
	struct npt_table *t = fctx_new(c);

	EXPECT_OK(c, npt_map(t, A, P, S, c->rw));
	EXPECT_OK(c, npt_map(t, A + 2 * S, P + 2 * S, S, c->rw));
	return t;
}

/* op 1: protect_region, else unmap_region */
static void split_body(struct fctx *c, unsigned L, uint64_t S, uint64_t A, uint64_t P,
		       unsigned other, unsigned op)
{
	struct npt_table *t;
	struct call k;
	unsigned n;

	t = fctx_new(c);
	EXPECT_OK(c, npt_map(t, A, P, S, c->rw));
	/* one page deep inside: one new table per level down */
	k.kind = op ? C_PROTECT_REGION : C_UNMAP_REGION;
	k.va = A + S / 2 + PG;
	k.pa = 0;
	k.size = PG;
	k.flags = other;
	k.opts = 0;
	n = fail_each(c, t, &k, "split of one huge leaf down to 4K");
	ck_assert_msg(n >= 1 && n <= L, "[%s] a split of a level-%u leaf made %u "
		      "allocations", c->name, L, n);
	check_mapped(c, t, A, P, S / 2 + PG, c->rw, __LINE__);
	check_mapped(c, t, A + S / 2 + 2 * PG, P + S / 2 + 2 * PG,
		     S / 2 - 2 * PG, c->rw, __LINE__);
	if (op)
		check_mapped(c, t, k.va, P + S / 2 + PG, PG, other, __LINE__);
	else
		check_unmapped(c, t, k.va, PG, __LINE__);
	check_tree(c, t, 0, NULL);

	/* and across two huge leaves, both ends partial */
	EXPECT_OK(c, npt_map(t, A + S, P + S, S, c->rw));
	k.va = A + S - 3 * PG;
	k.size = 7 * PG;
	n = fail_each(c, t, &k, "split of two huge leaves");
	ck_assert_msg(n >= 1 && n <= 2 * L, "[%s] splitting two leaves made %u "
		      "allocations", c->name, n);
	check_mapped(c, t, A + S + 4 * PG, P + S + 4 * PG, S - 4 * PG, c->rw,
		     __LINE__);
	if (op)
		check_mapped(c, t, k.va, P + S - 3 * PG, 7 * PG, other, __LINE__);
	else
		check_unmapped(c, t, k.va, 7 * PG, __LINE__);
	body_done(c, t);
}

START_TEST(t_nomem_split)
{
	each_huge_level((unsigned)_i, split_body);
}
END_TEST

/* The sparse forms (op 1: protect, else unmap): two huge leaves with a hole
 * between them, the range ending inside each (a split at both ends) and
 * across the hole. */
static void sparse_body(struct fctx *c, unsigned L, uint64_t S, uint64_t A, uint64_t P,
			unsigned other, unsigned op)
{
	struct npt_table *t;
	struct call k;
	unsigned n;

	t = two_leaves(c, S, A, P);
	k.kind = op ? C_PROTECT_SPARSE : C_UNMAP_SPARSE;
	k.va = A + S - 3 * PG;
	k.pa = 0;
	k.size = S + 7 * PG;
	k.flags = other;
	k.opts = 0;
	n = fail_each(c, t, &k, "sparse across a hole, splitting both ends");
	ck_assert_msg(n >= 2 && n <= 2 * L, "[%s] sparse over two level-%u leaves "
		      "made %u allocations", c->name, L, n);
	check_mapped(c, t, A, P, S - 3 * PG, c->rw, __LINE__);
	check_unmapped(c, t, A + S, S, __LINE__);
	check_mapped(c, t, A + 2 * S + 4 * PG, P + 2 * S + 4 * PG, S - 4 * PG,
		     c->rw, __LINE__);
	if (op) {
		check_mapped(c, t, k.va, P + S - 3 * PG, 3 * PG, other, __LINE__);
		check_mapped(c, t, A + 2 * S, P + 2 * S, 4 * PG, other, __LINE__);
	} else {
		check_unmapped(c, t, k.va, k.size, __LINE__);
	}
	body_done(c, t);
}

START_TEST(t_nomem_sparse)
{
	each_huge_level((unsigned)_i, sparse_body);
}
END_TEST

/* NPT_MAP_REPLACE across two huge leaves and the hole between them, both
 * ends partial: op 0 with the hole's output aligned for one huge leaf, op 1
 * one level lower. */
static void replace_body(struct fctx *c, unsigned L, uint64_t S, uint64_t A, uint64_t P,
			 unsigned other, unsigned op)
{
	struct npt_table *t;
	struct call k;
	unsigned n;

	t = two_leaves(c, S, A, P);
	k.kind = C_REPLACE;
	k.va = A + S - 3 * PG;
	k.pa = P - 3 * PG + (op ? lsize(L - 1) : 0);
	k.size = S + 7 * PG;
	k.flags = other;
	k.opts = NPT_MAP_HUGE;
	n = fail_each(c, t, &k, "replace across a hole, splitting both ends");
	ck_assert_msg(n >= 2 && n <= 2 * L + 1, "[%s] replace over two level-%u leaves "
		      "made %u allocations", c->name, L, n);
	check_mapped(c, t, A, P, S - 3 * PG, c->rw, __LINE__);
	check_mapped(c, t, k.va, k.pa, k.size, other, __LINE__);
	check_mapped(c, t, A + 2 * S + 4 * PG, P + 2 * S + 4 * PG, S - 4 * PG, c->rw, __LINE__);
	body_done(c, t);
}

START_TEST(t_nomem_replace)
{
	each_huge_level((unsigned)_i, replace_body);
}
END_TEST

/* npt_map_sg of three pieces: half a huge leaf's worth, a whole aligned
 * one, and a page; op 0 into nothing, op 1 replacing the first page of a
 * huge leaf. */
static void sg_body(struct fctx *c, unsigned L, uint64_t S, uint64_t A, uint64_t P,
		    unsigned other, unsigned op)
{
	const struct npt_sg sg[] = { { P + S / 2, S / 2 }, { P + 2 * S, S }, { P + PG, PG } };
	struct npt_table *t;
	struct call k;
	unsigned n;

	t = fctx_new(c);
	if (op)
		EXPECT_OK(c, npt_map(t, A + 2 * S, P + S, S, c->rw));
	k.kind = C_SG;
	k.va = A + S / 2;
	k.pa = 0;
	k.sg = sg;
	k.size = 3;
	k.flags = other;
	k.opts = NPT_MAP_HUGE | (op ? NPT_MAP_REPLACE : 0);
	n = fail_each(c, t, &k, op ? "map_sg replacing part of a huge leaf" : "map_sg");
	ck_assert_msg(n >= 1 && n <= 3 * L + 2, "[%s] map_sg over level-%u pieces made %u "
		      "allocations", c->name, L, n);
	check_mapped(c, t, A + S / 2, P + S / 2, S / 2, other, __LINE__);
	check_mapped(c, t, A + S, P + 2 * S, S, other, __LINE__);
	check_mapped(c, t, A + 2 * S, P + PG, PG, other, __LINE__);
	if (op)
		check_mapped(c, t, A + 2 * S + PG, P + S + PG, S - PG, c->rw, __LINE__);
	body_done(c, t);
}

START_TEST(t_nomem_sg)
{
	each_huge_level((unsigned)_i, sg_body);
}
END_TEST

/* ---- a reserved frame cache ------------------------------------------------------ */

/* The call k with a cache of n frames for n = 0, 1, ... until it succeeds:
 * mm->alloc is never called; a NOMEM leaves table and cache exactly as they
 * were; the successful call takes at most npt_frames_needed. Returns the
 * frames it took. */
static unsigned cache_each(struct fctx *c, struct npt_table *t, const struct call *k,
			   const char *what)
{
	const uint64_t bound = npt_frames_needed(t, k->va, k->size < PG ? PG : k->size);
	/* a bound for any call on the range: a huge leaf's covers the small
	 * tables a 4 KiB map of it would need, and the sweep stops before */
	const unsigned cap = bound < 1024 ? (unsigned)bound : 1024;
	uint64_t *pa = calloc(cap, sizeof(*pa)), *copy = calloc(cap, sizeof(*copy));
	struct npt_frame_cache fc = { pa, 0, cap };
	unsigned n;

	ck_assert_msg(bound > 0 && pa && copy, "[%s] %s: npt_frames_needed %llu", c->name, what,
		      (unsigned long long)bound);
	for (n = 0;; n++) {
		struct snap b, a;
		unsigned long allocs;
		int rc;

		TU_CTX("%s: %s with a cache of %u frames", what, kind_names[k->kind], n);
		ck_assert_msg(n <= cap, "[%s] %s: more than npt_frames_needed (%llu) or 1024",
			      c->name, tu_ctx, (unsigned long long)bound);
		EXPECT_OK(c, npt_cache_topup(t, &fc, n));
		ck_assert_uint_eq(fc.n, n);
		memcpy(copy, pa, cap * sizeof(*pa));
		snap_take(c, t, &b);
		allocs = testmm_allocs(&c->mm);
		EXPECT_OK(c, npt_set_frame_cache(t, &fc));
		rc = do_call(t, k);
		EXPECT_OK(c, npt_set_frame_cache(t, NULL));
		ck_assert_msg(testmm_allocs(&c->mm) == allocs, "[%s] %s: mm->alloc called",
			      c->name, tu_ctx);
		if (rc == 0) {
			snap_free(&b);
			tu_ctx[0] = 0;
			n -= fc.n;
			npt_cache_drain(t, &fc);
			free(pa);
			free(copy);
			return n;
		}
		ck_assert_msg(rc == NPT_ERR_NOMEM, "[%s] %s: returned %d (%s)", c->name, tu_ctx, rc,
			      npt_strerror(rc));
		ck_assert_msg(fc.n == n && memcmp(copy, pa, n * sizeof(*pa)) == 0,
			      "[%s] %s: the cache changed (%u frames now)", c->name, tu_ctx, fc.n);
		snap_take(c, t, &a);
		snap_assert_equal(c, &b, &a, tu_ctx, __LINE__);
		snap_free(&b);
		snap_free(&a);
	}
}

START_TEST(t_frame_cache)
{
	struct fctx c;
	struct npt_table *t;
	struct call k;
	unsigned L, other, n;
	uint64_t pa[4];
	struct npt_frame_cache fc = { pa, 0, 4 };

	fctx_init(&c, (unsigned)_i, POOL, _i % 2);
	ck_assert_int_ge(fctx_other_flags(&c, c.rw, &other), 0);
	t = fctx_new(&c);
	/* bad arguments */
	EXPECT_RC(&c, npt_cache_topup(t, &fc, 5), NPT_ERR_INVAL);
	EXPECT_RC(&c, npt_cache_topup(NULL, &fc, 1), NPT_ERR_INVAL);
	EXPECT_RC(&c, npt_set_frame_cache(NULL, &fc), NPT_ERR_INVAL);
	fc.n = 5;
	EXPECT_RC(&c, npt_set_frame_cache(t, &fc), NPT_ERR_INVAL);
	fc.n = 0;
	ck_assert_uint_eq(npt_frames_needed(t, 1, PG), 0);
	ck_assert_uint_eq(npt_frames_needed(NULL, 0, PG), 0);
	ck_assert_uint_eq(testmm_live(&c.mm), c.info.root_frames + HANDLE_FRAMES);
	for (L = 0; L < c.info.levels; L++) {
		const uint64_t S = lsize(L);
		uint64_t A, P;

		if (!fctx_has_leaf(&c, L) || !fctx_fits(&c, S, 4 * S))
			continue;
		A = fctx_area(&c, S, 4 * S) + S;
		P = fctx_pa(&c, S, 4 * S) + S;
		memset(&k, 0, sizeof(k));
		k.kind = C_MAP;
		k.va = A;
		k.pa = P;
		k.size = S;
		k.flags = c.rw;
		n = cache_each(&c, t, &k, "map into empty space");
		ck_assert_msg(n <= c.root_level - L, "[%s] level-%u map took %u frames", c.name, L, n);
		if (L > 0) {
			k.kind = C_UNMAP_REGION;
			k.va = A + S / 2 + PG;
			k.size = PG;
			cache_each(&c, t, &k, "split of a huge leaf");
			k.kind = C_PROTECT_SPARSE;
			k.va = A + S - 2 * PG;
			k.size = 4 * PG;
			k.flags = other;
			cache_each(&c, t, &k, "sparse protect splitting the leaf's end");
		}
		check_tree(&c, t, 0, NULL);
	}
	npt_free(t);
	ck_assert_uint_eq(testmm_live(&c.mm), 0);
	fctx_fini(&c);
}
END_TEST

/* Calls that need no frame do not ask for one. */
START_TEST(t_nomem_no_alloc)
{
	struct fctx c;
	struct npt_table *t;
	struct call k;
	uint64_t va, pa;
	unsigned other;

	fctx_init(&c, (unsigned)_i, POOL, _i % 2);
	ck_assert_int_ge(fctx_other_flags(&c, c.rw, &other), 0);
	t = fctx_new(&c);
	va = fctx_area(&c, lsize(1), 4 * lsize(1));
	pa = fctx_pa(&c, lsize(1), 4 * lsize(1));
	EXPECT_OK(&c, npt_map_region(t, va, pa, 16 * PG, c.rw, 0));
	memset(&k, 0, sizeof(k));
	k.va = va + 2 * PG;
	k.pa = pa + 40 * PG;
	k.flags = other;
	k.kind = C_PROTECT;
	ck_assert_uint_eq(fail_each(&c, t, &k, "protect"), 0);
	k.kind = C_REMAP;
	ck_assert_uint_eq(fail_each(&c, t, &k, "remap"), 0);
	k.kind = C_UNMAP;
	ck_assert_uint_eq(fail_each(&c, t, &k, "unmap"), 0);
	k.kind = C_PROTECT_REGION;
	k.va = va + 4 * PG;
	k.size = 8 * PG;
	ck_assert_uint_eq(fail_each(&c, t, &k, "protect_region"), 0);
	k.kind = C_UNMAP_REGION;
	ck_assert_uint_eq(fail_each(&c, t, &k, "unmap_region"), 0);
	k.kind = C_PROTECT_SPARSE;
	k.va = va;
	k.size = 40 * PG;
	ck_assert_uint_eq(fail_each(&c, t, &k, "protect_sparse over holes"), 0);
	k.kind = C_UNMAP_SPARSE;
	k.size = 14 * PG;
	ck_assert_uint_eq(fail_each(&c, t, &k, "unmap_sparse over holes"), 0);
	check_unmapped(&c, t, va, 14 * PG, __LINE__);
	check_mapped(&c, t, va + 14 * PG, pa + 14 * PG, 2 * PG, other, __LINE__);
	k.kind = C_MAP;
	k.va = va + 5 * PG;
	k.size = PG;
	ck_assert_uint_eq(fail_each(&c, t, &k, "map into an existing table"), 0);
	check_tree(&c, t, 0, NULL);
	npt_free(t);
	ck_assert_uint_eq(testmm_live(&c.mm), 0);
	fctx_fini(&c);
}
END_TEST

/* ---- a pool that really runs out --------------------------------------------------- */

START_TEST(t_nomem_exhausted)
{
	struct fctx c;
	struct npt_table *t;
	uint64_t va;

	fctx_init(&c, (unsigned)_i, 64, _i % 2);
	if (c.info.levels < 3 || !fctx_fits(&c, lsize(2), 4 * lsize(2))) {
		fctx_fini(&c);
		return;
	}
	/* the handle, the root, one path of tables, and one frame more */
	fctx_repool(&c, 0x40000000ull, HANDLE_FRAMES + c.info.root_frames + c.root_level + 1);
	t = fctx_new(&c);
	va = fctx_area(&c, lsize(2), 4 * lsize(2));
	EXPECT_OK(&c, npt_map(t, va, 0, PG, c.rw));
	/* needs two tables, one is left: nothing may stay allocated */
	EXPECT_FAIL(&c, t, npt_map(t, va + lsize(2), 0, PG, c.rw), NPT_ERR_NOMEM);
	EXPECT_FAIL(&c, t, npt_map_region(t, va + lsize(2) - PG, 0, 2 * PG, c.rw, 0),
		    NPT_ERR_NOMEM);
	ck_assert_uint_eq(testmm_live(&c.mm), HANDLE_FRAMES + c.info.root_frames + c.root_level);
	EXPECT_OK(&c, npt_map(t, va + PG, 0, PG, c.rw));    /* needs none */
	EXPECT_OK(&c, npt_map(t, va + lsize(1), 0, PG, c.rw)); /* takes the last */
	EXPECT_FAIL(&c, t, npt_map(t, va + 2 * lsize(1), 0, PG, c.rw), NPT_ERR_NOMEM);
	if (fctx_has_leaf(&c, 1)) {
		/* a split needs a frame too */
		EXPECT_OK(&c, npt_map(t, va + 2 * lsize(1), 0, lsize(1), c.rw));
		EXPECT_FAIL(&c, t, npt_unmap_region(t, va + 2 * lsize(1) + PG, PG), NPT_ERR_NOMEM);
		EXPECT_FAIL(&c, t, npt_protect_region(t, va + 2 * lsize(1), PG, c.ro),
			    NPT_ERR_NOMEM);
		/* whole leaves need none */
		EXPECT_OK(&c, npt_protect_region(t, va + 2 * lsize(1), lsize(1), c.ro));
		EXPECT_OK(&c, npt_unmap_region(t, va + 2 * lsize(1), lsize(1)));
	}
	check_tree(&c, t, 0, NULL);
	npt_free(t);
	ck_assert_uint_eq(testmm_live(&c.mm), 0);
	fctx_fini(&c);
}
END_TEST

/* ---- frames the format cannot point at -------------------------------------------- */

struct badmm {
	struct testmm *good, *bad;
	long good_left; /* allocations served from the good pool before switching */
	struct npt_mm mm;
};

static struct testmm *which(struct badmm *b, uint64_t pa)
{
	return testmm_va(b->good, pa) ? b->good : b->bad;
}

static int bad_alloc(void *ctx, uint64_t *pa)
{
	struct badmm *b = ctx;
	struct testmm *m = b->good_left-- > 0 ? b->good : b->bad;

	return m->mm.alloc(m->mm.ctx, pa);
}

static void bad_free(void *ctx, uint64_t pa)
{
	struct testmm *m = which(ctx, pa);

	m->mm.free(m->mm.ctx, pa);
}

static void *bad_p2v(void *ctx, uint64_t pa)
{
	struct testmm *m = which(ctx, pa);

	return m->mm.phys_to_virt(m->mm.ctx, pa);
}

static int bad_alloc_contig(void *ctx, unsigned count, uint64_t *pa)
{
	struct badmm *b = ctx;
	struct testmm *m = b->good_left-- > 0 ? b->good : b->bad;

	return m->mm.alloc_contig(m->mm.ctx, count, pa);
}

static void bad_free_contig(void *ctx, uint64_t pa, unsigned count)
{
	struct testmm *m = which(ctx, pa);

	m->mm.free_contig(m->mm.ctx, pa, count);
}

START_TEST(t_unusable_frames)
{
	struct fctx c;
	struct testmm bad;
	struct badmm b;
	struct npt_table *t;
	struct snap sb, sa;
	uint64_t va;
	int err, rc;

	fctx_init(&c, (unsigned)_i, 256, 1);
	if (c.info.pa_bits > 62) {
		fctx_fini(&c);
		return;
	}
	/* every frame of this pool lies at or above 2^pa_bits */
	ck_assert_int_eq(testmm_init(&bad, 1ull << c.info.pa_bits, 64), 0);
	b.good = &c.mm;
	b.bad = &bad;
	memset(&b.mm, 0, sizeof(b.mm));
	b.mm.ctx = &b;
	b.mm.alloc = bad_alloc;
	b.mm.free = bad_free;
	b.mm.phys_to_virt = bad_p2v;
	b.mm.alloc_contig = bad_alloc_contig;
	b.mm.free_contig = bad_free_contig;

	/* the root */
	b.good_left = 0;
	err = 0;
	t = npt_new(c.fmt, &b.mm, &err);
	ck_assert_msg(t == NULL && err == NPT_ERR_INVAL,
		      "[%s] npt_new with a root beyond pa_bits: %p err %d", c.name, (void *)t, err);
	ck_assert_uint_eq(testmm_live(&bad), 0);
	ck_assert_uint_eq(testmm_live(&c.mm), 0);

	/* a table in the middle of a map */
	b.good_left = 2;
	t = npt_new(c.fmt, &b.mm, &err);
	ck_assert_ptr_nonnull(t);
	va = fctx_area(&c, lsize(1), lsize(1));
	snap_take(&c, t, &sb);
	rc = npt_map(t, va, 0, PG, c.rw);
	snap_take(&c, t, &sa);
	if (c.info.levels > 2) {
		ck_assert_msg(rc == NPT_ERR_INVAL, "[%s] map with the second table beyond pa_bits: "
			      "%d (%s)", c.name, rc, npt_strerror(rc));
		snap_assert_equal(&c, &sb, &sa, "npt_map with an unusable frame", __LINE__);
		ck_assert_uint_eq(testmm_live(&bad), 0);
	}
	snap_free(&sb);
	snap_free(&sa);
	npt_free(t);
	ck_assert_uint_eq(testmm_live(&bad), 0);
	ck_assert_uint_eq(testmm_live(&c.mm), 0);
	testmm_destroy(&bad);
	fctx_fini(&c);
}
END_TEST

static Suite *nomem_suite(void)
{
	Suite *s = suite_create("nomem");
	TCase *tc = tcase_create("nomem");

	tcase_set_timeout(tc, 120);
	ADD_FMT_TEST(tc, t_nomem_new);
	ADD_FMT_TEST(tc, t_nomem_map);
	ADD_FMT_TEST(tc, t_nomem_map_region);
	ADD_FMT_TEST(tc, t_nomem_split);
	ADD_FMT_TEST(tc, t_nomem_sparse);
	ADD_FMT_TEST(tc, t_nomem_replace);
	ADD_FMT_TEST(tc, t_nomem_sg);
	ADD_FMT_TEST(tc, t_frame_cache);
	ADD_FMT_TEST(tc, t_nomem_no_alloc);
	ADD_FMT_TEST(tc, t_nomem_exhausted);
	ADD_FMT_TEST(tc, t_unusable_frames);
	suite_add_tcase(s, tc);
	return s;
}

NPT_CHECK_MAIN(nomem_suite)
