/*
 * Allocation failure at every allocation point of every changing call, on
 * every format.
 *
 * Each scenario is a setup (a few successful calls) and one call under test.
 * The call runs with the allocator armed to fail its k-th allocation, for
 * k = 0, 1, ... until it succeeds without the failure firing. Every failed
 * run must return NPT_ERR_NOMEM and leave the pool exactly as before: the
 * same frames allocated, every allocated frame byte for byte the same, the
 * same struct npt_table (inv_snap_*), and the invariant checker green. The
 * run that succeeds must have made exactly k allocations (so every point
 * 0..k-1 was hit), and its result must equal the same call on a twin table
 * built on a second pool without any injection (leaf for leaf: address,
 * size, output, flags, share). Calls that allocate nothing (npt_unmap,
 * npt_protect, npt_remap, npt_copy_from, splitting-free region calls) run
 * once with the failure armed: it must not fire, and the call must succeed.
 *
 * Also here: the same for a second failure source — the allocator running
 * dry for real (a pool exactly one frame short) — and npt_new. The random
 * 5% failure run is in test_fuzz_replay (it needs the reference model).
 *
 * test_nomem (the tests engineer's) fails every allocation of map,
 * map_region and the splits and compares walks plus table bytes; this suite
 * adds what it does not: the whole pool compared byte for byte (frames that
 * no walk reaches included) with the struct npt_table, the invariant checker
 * (frame accounting), npt_copy_from and dropped shares, the edges of the
 * input space, the calls that must not allocate, the non-linear mm, and a
 * twin table as the judge of the successful result.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "npt.h"
#include "lib/check_main.h"
#include "lib/invariants.h"
#include "lib/testmm.h"
#include "lib/tutil.h"

#define POOL 4096

enum kind { K_MAP, K_MAP_REGION, K_UNMAP, K_UNMAP_REGION, K_PROTECT, K_PROTECT_REGION, K_REMAP,
	    K_COPY_FROM, K_UNMAP_SPARSE, K_PROTECT_SPARSE };
static const char *const kind_name[] = { "npt_map",	    "npt_map_region",	  "npt_unmap",
					 "npt_unmap_region", "npt_protect",	  "npt_protect_region",
					 "npt_remap",	    "npt_copy_from",	  "npt_unmap_sparse",
					 "npt_protect_sparse" };

struct step {
	enum kind kind;
	unsigned tbl;            /* 0 or 1; copy_from: into tbl from 1 - tbl */
	uint64_t va, pa, size;   /* size: page size for K_MAP */
	unsigned flags, opts;
};

struct scen {
	const char *name;
	struct step setup[6];
	unsigned nsetup;
	struct step call;
};

static int run_step(struct npt_table *const *tt, const struct step *s)
{
	struct npt_table *t = tt[s->tbl];

	switch (s->kind) {
	case K_MAP: return npt_map(t, s->va, s->pa, s->size, s->flags);
	case K_MAP_REGION: return npt_map_region(t, s->va, s->pa, s->size, s->flags, s->opts);
	case K_UNMAP: return npt_unmap(t, s->va, NULL, NULL);
	case K_UNMAP_REGION: return npt_unmap_region(t, s->va, s->size);
	case K_PROTECT: return npt_protect(t, s->va, s->flags);
	case K_PROTECT_REGION: return npt_protect_region(t, s->va, s->size, s->flags);
	case K_REMAP: return npt_remap(t, s->va, s->pa, s->flags);
	case K_COPY_FROM: return npt_copy_from(t, tt[1 - s->tbl], s->va, s->size);
	case K_UNMAP_SPARSE: return npt_unmap_sparse(t, s->va, s->size);
	case K_PROTECT_SPARSE: return npt_protect_sparse(t, s->va, s->size, s->flags);
	}
	return -99;
}

static int leaf_cmp(const struct leaf *a, size_t na, const struct leaf *b, size_t nb)
{
	size_t i;

	if (na != nb)
		return -1;
	for (i = 0; i < na; i++)
		if (a[i].va != b[i].va || a[i].size != b[i].size || a[i].pa != b[i].pa ||
		    a[i].flags != b[i].flags || a[i].shared != b[i].shared ||
		    a[i].level != b[i].level)
			return -1;
	return 0;
}

static unsigned long total_points, total_scenarios;

/* Runs one scenario; returns the number of allocation points it covered. */
static unsigned run_scen(struct fctx *c, const struct scen *sc)
{
	struct testmm ref;
	struct npt_table *tt[2], *rr[2];
	struct inv_snap snap;
	char msg[512];
	unsigned i, k;
	int rc, err;

	ck_assert_int_eq(testmm_init(&ref, 0x40000000ull, POOL), 0);
	tt[0] = fctx_new(c);
	tt[1] = fctx_new(c);
	rr[0] = npt_new(c->fmt, &ref.mm, &err);
	rr[1] = npt_new(c->fmt, &ref.mm, &err);
	ck_assert_ptr_nonnull(rr[0]);
	ck_assert_ptr_nonnull(rr[1]);
	for (i = 0; i < sc->nsetup; i++) {
		TU_CTX("%s: setup %u (%s va 0x%llx size 0x%llx)", sc->name, i,
		       kind_name[sc->setup[i].kind], (unsigned long long)sc->setup[i].va,
		       (unsigned long long)sc->setup[i].size);
		EXPECT_OK(c, run_step(tt, &sc->setup[i]));
		EXPECT_OK(c, run_step(rr, &sc->setup[i]));
	}
	TU_CTX("%s", sc->name);
	INV_ASSERT(&c->mm, tt, 2, INV_COMPLETE, sc->name);

	for (k = 0;; k++) {
		unsigned long inj = testmm_injected(&c->mm), att = c->mm.attempts;

		inv_snap_take(&snap, &c->mm, tt, 2);
		testmm_fail_after(&c->mm, (long)k);
		rc = run_step(tt, &sc->call);
		testmm_fail_after(&c->mm, -1);
		if (testmm_injected(&c->mm) != inj) {
			ck_assert_msg(rc == NPT_ERR_NOMEM,
				      "[%s] %s: %s with allocation %u failing returned %d (%s)",
				      c->name, sc->name, kind_name[sc->call.kind], k, rc,
				      npt_strerror(rc));
			ck_assert_msg(inv_snap_cmp(&snap, &c->mm, tt, 2, msg, sizeof(msg)) == 0,
				      "[%s] %s: %s failed at allocation %u and changed the pool: %s",
				      c->name, sc->name, kind_name[sc->call.kind], k, msg);
			INV_ASSERT(&c->mm, tt, 2, INV_COMPLETE, sc->name);
			inv_snap_free(&snap);
			ck_assert_msg(k < 100000, "[%s] %s: runaway", c->name, sc->name);
			continue;
		}
		inv_snap_free(&snap);
		ck_assert_msg(rc == 0, "[%s] %s: %s = %d (%s) without a failure", c->name, sc->name,
			      kind_name[sc->call.kind], rc, npt_strerror(rc));
		ck_assert_msg(c->mm.attempts - att == k,
			      "[%s] %s: succeeded after %lu allocations, failed at every one of the "
			      "first %u", c->name, sc->name, c->mm.attempts - att, k);
		break;
	}
	EXPECT_OK(c, run_step(rr, &sc->call));
	INV_ASSERT(&c->mm, tt, 2, INV_COMPLETE, sc->name);
	for (i = 0; i < 2; i++) {
		struct leaf *a, *b;
		size_t na = collect_all_leaves(c, tt[i], &a);
		size_t nb;
		struct fctx rc_ = *c;

		rc_.mm = ref; /* collect through the reference pool */
		nb = collect_all_leaves(&rc_, rr[i], &b);
		ck_assert_msg(leaf_cmp(a, na, b, nb) == 0,
			      "[%s] %s: table %u after the injected runs differs from its twin "
			      "(%zu leaves vs %zu)", c->name, sc->name, i, na, nb);
		free(a);
		free(b);
		ck_assert_uint_eq(npt_table_frames(tt[i]), npt_table_frames(rr[i]));
	}
	npt_free(tt[1]);
	npt_free(tt[0]);
	npt_free(rr[1]);
	npt_free(rr[0]);
	ck_assert_uint_eq(testmm_live(&c->mm), 0);
	ck_assert_uint_eq(testmm_live(&ref), 0);
	testmm_destroy(&ref);
	total_points += k;
	total_scenarios++;
	return k;
}

#define STEP(K, T, VA, PA, SZ, FL, OP) \
	((struct step){ .kind = (K), .tbl = (T), .va = (VA), .pa = (PA), .size = (SZ), .flags = (FL), .opts = (OP) })

/* The scenarios for one format: every changing call, with splits and new
 * tables at every level the format has. */
static unsigned make_scens(struct fctx *c, struct scen *out, unsigned max)
{
	unsigned n = 0, L, top = c->top_leaf;
	uint64_t topsz = lsize(top), hopts = NPT_MAP_HUGE;
	uint64_t va, pa, re = c->root_esize;
	unsigned ro = c->ro, rw = c->rw;
	struct scen *s;

#define NEW(NAME)                                 \
	do {                                      \
		ck_assert(n < max);               \
		s = &out[n++];                    \
		memset(s, 0, sizeof(*s));         \
		s->name = (NAME);                 \
	} while (0)
	/* map one leaf of every size into an empty table (tables at every level) */
	for (L = 0; L <= top; L++) {
		if (!fctx_has_leaf(c, L))
			continue;
		NEW(L == 0 ? "map 4K into empty" : L == 1 ? "map 2M into empty" :
		    L == 2 ? "map 1G into empty" : L == 3 ? "map 512G into empty" :
							    "map 256T into empty");
		va = fctx_area(c, lsize(L), lsize(L));
		s->call = STEP(K_MAP, 0, va, fctx_pa(c, lsize(L), lsize(L)), lsize(L), rw, 0);
	}
	/* map 4K beside a mapping: in its leaf table (0 allocations), its
	 * level-1 table, a neighbouring root slot */
	va = fctx_area(c, lsize(1), 4 * lsize(1));
	pa = fctx_pa(c, lsize(1), 4 * lsize(1));
	NEW("map 4K in an existing leaf table");
	s->setup[s->nsetup++] = STEP(K_MAP, 0, va, pa, PG, rw, 0);
	s->call = STEP(K_MAP, 0, va + PG, pa + PG, PG, ro, 0);
	NEW("map 4K in an existing level-1 table");
	s->setup[s->nsetup++] = STEP(K_MAP, 0, va, pa, PG, rw, 0);
	s->call = STEP(K_MAP, 0, va + 2 * lsize(1), pa, PG, ro, 0);
	if (2 * re <= c->lo_end) {
		NEW("map 4K in the next root slot");
		s->setup[s->nsetup++] = STEP(K_MAP, 0, re - PG, pa, PG, rw, 0);
		s->call = STEP(K_MAP, 0, re, pa, PG, rw, 0);
	}
	/* map_region across a root-slot boundary: 4K only, and huge where it can */
	if (2 * re <= c->lo_end) {
		NEW("map_region 4K across a root slot");
		s->call = STEP(K_MAP_REGION, 0, re - lsize(1) - 3 * PG, pa + PG,
			       2 * lsize(1) + 7 * PG, rw, 0);
		NEW("map_region huge across a root slot");
		s->call = STEP(K_MAP_REGION, 0, re - 2 * lsize(1) - 3 * PG, pa - 3 * PG,
			       4 * lsize(1) + 7 * PG, rw, hopts);
		NEW("map_region around existing pages");
		s->setup[s->nsetup++] = STEP(K_MAP, 0, re - lsize(1) - 5 * PG, pa, PG, rw, 0);
		s->setup[s->nsetup++] = STEP(K_MAP, 0, re + lsize(1) + 7 * PG, pa, PG, rw, 0);
		s->call = STEP(K_MAP_REGION, 0, re - lsize(1) - 3 * PG, pa,
			       2 * lsize(1) + 9 * PG, ro, hopts);
	}
	/* map_region of 4K pages over 8 leaf tables: many points in one call */
	NEW("map_region 4K over 8 leaf tables");
	va = fctx_area(c, lsize(1), 9 * lsize(1));
	s->call = STEP(K_MAP_REGION, 0, va + PG, fctx_pa(c, lsize(1), 9 * lsize(1)),
		       8 * lsize(1), rw, 0);
	/* map_region of 4 leaves of the top size (or as many as fit) */
	if (top >= 1 && fctx_fits(c, topsz, 4 * topsz)) {
		NEW("map_region of top-size leaves plus 4K tails");
		va = fctx_area(c, topsz, 4 * topsz);
		s->call = STEP(K_MAP_REGION, 0, va + topsz - 2 * PG, fctx_pa(c, topsz, 4 * topsz) +
			       topsz - 2 * PG, 2 * topsz + 4 * PG, rw, hopts);
	}
	/* splits: one 4K page out of the top leaf, and two partial ends of
	 * neighbouring huge leaves */
	if (top >= 1) {
		va = fctx_area(c, topsz, 2 * topsz);
		pa = fctx_pa(c, topsz, 2 * topsz);
		NEW("unmap_region 4K inside the top leaf (split at every level)");
		s->setup[s->nsetup++] = STEP(K_MAP, 0, va, pa, topsz, rw, 0);
		s->call = STEP(K_UNMAP_REGION, 0, va + topsz / 2 + 3 * PG, 0, PG, 0, 0);
		NEW("protect_region 4K inside the top leaf (split at every level)");
		s->setup[s->nsetup++] = STEP(K_MAP, 0, va, pa, topsz, rw, 0);
		s->call = STEP(K_PROTECT_REGION, 0, va + topsz / 2 + 3 * PG, 0, PG, ro, 0);
		NEW("unmap_region across two top leaves (two splits)");
		s->setup[s->nsetup++] = STEP(K_MAP_REGION, 0, va, pa, 2 * topsz, rw, hopts);
		s->call = STEP(K_UNMAP_REGION, 0, va + topsz - 5 * PG, 0, 9 * PG, 0, 0);
		NEW("protect_region across two top leaves (two splits)");
		s->setup[s->nsetup++] = STEP(K_MAP_REGION, 0, va, pa, 2 * topsz, rw, hopts);
		s->call = STEP(K_PROTECT_REGION, 0, va + lsize(1) + PG, 0, 2 * topsz - lsize(1) - 2 * PG,
			       ro, 0);
		NEW("unmap_sparse over the end of the top leaf and a hole (a split)");
		s->setup[s->nsetup++] = STEP(K_MAP, 0, va, pa, topsz, rw, 0);
		s->call = STEP(K_UNMAP_SPARSE, 0, va + topsz - 5 * PG, 0, 9 * PG, 0, 0);
		NEW("protect_sparse over a leaf, holes and a split");
		s->setup[s->nsetup++] = STEP(K_MAP, 0, va, pa, topsz, rw, 0);
		s->setup[s->nsetup++] = STEP(K_MAP, 0, va + topsz + 3 * PG, pa, PG, rw, 0);
		s->call = STEP(K_PROTECT_SPARSE, 0, va + topsz / 2 + PG, 0, topsz / 2 + 8 * PG, ro,
			       0);
		NEW("unmap_region of a whole top leaf (no split)");
		s->setup[s->nsetup++] = STEP(K_MAP_REGION, 0, va, pa, 2 * topsz, rw, hopts);
		s->call = STEP(K_UNMAP_REGION, 0, va + topsz, 0, topsz, 0, 0);
		NEW("protect_region with no change needs no split");
		s->setup[s->nsetup++] = STEP(K_MAP, 0, va, pa, topsz, rw, 0);
		s->call = STEP(K_PROTECT_REGION, 0, va + PG, 0, PG, rw, 0);
	}
	if (fctx_has_leaf(c, 1)) {
		va = fctx_area(c, lsize(1), 2 * lsize(1));
		pa = fctx_pa(c, lsize(1), 2 * lsize(1));
		NEW("unmap_region across two 2M leaves");
		s->setup[s->nsetup++] = STEP(K_MAP_REGION, 0, va, pa, 2 * lsize(1), rw, NPT_MAP_2M);
		s->call = STEP(K_UNMAP_REGION, 0, va + PG, 0, 2 * lsize(1) - 2 * PG, 0, 0);
	}
	/* single-entry calls and copy_from: no allocation */
	va = fctx_area(c, topsz, topsz);
	pa = fctx_pa(c, topsz, 2 * topsz);
	NEW("unmap of a 4K page");
	s->setup[s->nsetup++] = STEP(K_MAP_REGION, 0, va, pa, 3 * PG, rw, 0);
	s->call = STEP(K_UNMAP, 0, va + PG, 0, 0, 0, 0);
	NEW("unmap of the last page of a table");
	s->setup[s->nsetup++] = STEP(K_MAP, 0, va, pa, PG, rw, 0);
	s->call = STEP(K_UNMAP, 0, va, 0, 0, 0, 0);
	NEW("protect of a 4K page");
	s->setup[s->nsetup++] = STEP(K_MAP_REGION, 0, va, pa, 3 * PG, rw, 0);
	s->call = STEP(K_PROTECT, 0, va + PG, 0, 0, ro, 0);
	NEW("remap of a 4K page");
	s->setup[s->nsetup++] = STEP(K_MAP_REGION, 0, va, pa, 3 * PG, rw, 0);
	s->call = STEP(K_REMAP, 0, va + PG, pa + topsz, 0, ro, 0);
	if (top >= 1) {
		NEW("unmap, protect, remap of the top leaf");
		s->setup[s->nsetup++] = STEP(K_MAP, 0, va, pa, topsz, rw, 0);
		s->setup[s->nsetup++] = STEP(K_PROTECT, 0, va, 0, 0, ro, 0);
		s->setup[s->nsetup++] = STEP(K_REMAP, 0, va, pa + topsz, 0, rw, 0);
		s->call = STEP(K_UNMAP, 0, va, 0, 0, 0, 0);
		NEW("remap of the top leaf");
		s->setup[s->nsetup++] = STEP(K_MAP, 0, va, pa, topsz, rw, 0);
		s->call = STEP(K_REMAP, 0, va, pa + topsz, 0, ro, 0);
		NEW("protect of the top leaf");
		s->setup[s->nsetup++] = STEP(K_MAP, 0, va, pa, topsz, rw, 0);
		s->call = STEP(K_PROTECT, 0, va, 0, 0, ro, 0);
	}
	NEW("copy_from of a root slot, then unmap_region dropping it");
	s->setup[s->nsetup++] = STEP(K_MAP_REGION, 1, 0, pa, 5 * PG, rw, 0);
	s->setup[s->nsetup++] = STEP(K_COPY_FROM, 0, 0, 0, re, 0, 0);
	s->call = STEP(K_UNMAP_REGION, 0, 0, 0, re, 0, 0);
	NEW("copy_from of a root slot");
	s->setup[s->nsetup++] = STEP(K_MAP_REGION, 1, 0, pa, 5 * PG, rw, 0);
	s->call = STEP(K_COPY_FROM, 0, 0, 0, re, 0, 0);
	if (c->info.canonical) {
		NEW("map_region at the top of the high half");
		s->call = STEP(K_MAP_REGION, 0, 0 - lsize(1) - 2 * PG, pa, lsize(1) + PG, rw, hopts);
		NEW("protect_region at the top of the high half");
		s->setup[s->nsetup++] = STEP(K_MAP_REGION, 0, 0 - topsz, pa, topsz, rw, hopts);
		s->call = STEP(K_PROTECT_REGION, 0, 0 - 2 * PG, 0, PG, ro, 0);
	} else {
		uint64_t end = 1ull << c->info.va_bits;

		NEW("map_region at the top of the input space");
		s->call = STEP(K_MAP_REGION, 0, end - lsize(1) - 2 * PG, pa, lsize(1) + 2 * PG, rw,
			       hopts);
		NEW("unmap_region at the top of the input space");
		s->setup[s->nsetup++] = STEP(K_MAP_REGION, 0, end - topsz, pa, topsz, rw, hopts);
		s->call = STEP(K_UNMAP_REGION, 0, end - 2 * PG, 0, PG, 0, 0);
	}
#undef NEW
	return n;
}

START_TEST(t_every_point)
{
	struct fctx c;
	struct scen sc[48];
	unsigned n, i, points = 0, zero = 0;

	fctx_init(&c, (unsigned)_i, POOL, 1);
	n = make_scens(&c, sc, 48);
	for (i = 0; i < n; i++) {
		unsigned p = run_scen(&c, &sc[i]);

		points += p;
		zero += p == 0;
	}
	/* every changing call that can allocate did, somewhere */
	ck_assert_msg(points > 20, "[%s] only %u allocation points", c.name, points);
	printf("[%s] %u scenarios, %u allocation points injected, %u calls without allocation\n",
	       c.name, n, points, zero);
	fctx_fini(&c);
}
END_TEST

/* The same scenarios through an mm without NPT_MM_LINEAR: the frames are
 * reached through phys_to_virt on every path, failure paths included. */
START_TEST(t_every_point_nonlinear)
{
	struct fctx c;
	struct scen sc[48];
	unsigned n, i;

	fctx_init(&c, (unsigned)_i, POOL, 0);
	n = make_scens(&c, sc, 48);
	for (i = 0; i < n; i += 3)
		run_scen(&c, &sc[i]);
	fctx_fini(&c);
}
END_TEST

/* npt_new: the root allocation fails (single frame or contiguous block). */
START_TEST(t_new)
{
	struct fctx c;
	struct npt_table *t;
	int err;

	fctx_init(&c, (unsigned)_i, 64, 1);
	testmm_fail_after(&c.mm, 0);
	err = 0;
	t = npt_new(c.fmt, &c.mm.mm, &err);
	testmm_fail_after(&c.mm, -1);
	ck_assert_msg(t == NULL && err == NPT_ERR_NOMEM, "[%s] npt_new with its root allocation "
		      "failing: %p, err %d", c.name, (void *)t, err);
	ck_assert_uint_eq(testmm_live(&c.mm), 0);
	ck_assert_uint_eq(testmm_injected(&c.mm), 1);
	t = fctx_new(&c);
	npt_free(t);
	ck_assert_uint_eq(testmm_live(&c.mm), 0);
	fctx_fini(&c);
}
END_TEST

/* The pool runs dry for real: a map_region that needs n frames in a pool
 * with n - 1 free fails cleanly, and succeeds once one more is free. */
START_TEST(t_exhausted)
{
	struct fctx c;
	struct npt_table *t, *hog[64];
	struct inv_snap snap;
	char msg[512];
	uint64_t va, pa, before, need, size;
	size_t spare;
	unsigned nhog = 0;
	int rc;

	fctx_init(&c, (unsigned)_i, 256, 1);
	t = fctx_new(&c);
	size = 3 * lsize(1) + 4 * PG;
	va = fctx_area(&c, lsize(1), size + lsize(1)) + lsize(1) - 2 * PG;
	pa = fctx_pa(&c, lsize(1), size + lsize(1));
	/* learn the frames the call needs on an identical table */
	before = npt_table_frames(t);
	EXPECT_OK(&c, npt_map_region(t, va, pa, size, c.rw, 0));
	need = npt_table_frames(t) - before;
	EXPECT_OK(&c, npt_unmap_region(t, va, size));
	ck_assert_uint_eq(npt_table_frames(t), before);
	/* fill the pool until need - 1 frames are left */
	spare = 256 - testmm_live(&c.mm);
	while (spare > need - 1) {
		uint64_t f;

		ck_assert_int_eq(c.mm.mm.alloc(&c.mm, &f), 0);
		hog[nhog % 64] = (struct npt_table *)(uintptr_t)f;
		nhog++;
		spare--;
		if (nhog == 64)
			break;
	}
	/* the hog array only remembers 64: take the rest with tables of frames */
	while (spare > need - 1) {
		uint64_t f;

		ck_assert_int_eq(c.mm.mm.alloc(&c.mm, &f), 0);
		spare--;
	}
	inv_snap_take(&snap, &c.mm, &t, 1);
	rc = npt_map_region(t, va, pa, size, c.rw, 0);
	ck_assert_msg(rc == NPT_ERR_NOMEM, "[%s] map_region with %zu of %llu frames: %d", c.name,
		      spare, (unsigned long long)need, rc);
	ck_assert_msg(inv_snap_cmp(&snap, &c.mm, &t, 1, msg, sizeof(msg)) == 0, "[%s] %s",
		      c.name, msg);
	inv_snap_free(&snap);
	/* one frame back: it fits exactly */
	c.mm.mm.free(&c.mm, (uint64_t)(uintptr_t)hog[0]);
	EXPECT_OK(&c, npt_map_region(t, va, pa, size, c.rw, 0));
	check_mapped(&c, t, va, pa, size, c.rw, __LINE__);
	INV_ASSERT(&c.mm, &t, 1, 0, "after exhaustion");
	npt_free(t);
	fctx_fini(&c);
}
END_TEST

static Suite *inject_suite(void)
{
	Suite *s = suite_create("inject");
	TCase *tc = tcase_create("nomem");

	tcase_set_timeout(tc, 120);
	ADD_FMT_TEST(tc, t_every_point);
	ADD_FMT_TEST(tc, t_every_point_nonlinear);
	ADD_FMT_TEST(tc, t_new);
	ADD_FMT_TEST(tc, t_exhausted);
	suite_add_tcase(s, tc);
	return s;
}

NPT_CHECK_MAIN(inject_suite)
