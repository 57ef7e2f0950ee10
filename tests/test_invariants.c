/*
 * The invariant checker and the raw snapshots (tests/lib/invariants.h) on
 * every format: they accept what the engine builds (maps at every leaf size,
 * partial splits, unmaps that free tables, copy_from shares), and each
 * violation planted by hand in a real table is reported — a checker that
 * never fails proves nothing.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "npt.h"
#include "internal.h"
#include "lib/check_main.h"
#include "lib/invariants.h"
#include "lib/testmm.h"
#include "lib/tutil.h"

#define POOL 1024

struct fixture {
	struct fctx c;
	struct npt_table *t, *t2;
	uint64_t base, pa;
};

/* t: a 2 MiB (or 4 KiB) region partly split, single pages around it;
 * t2: shares t's first root slot. */
static void build(struct fixture *x, unsigned idx)
{
	struct fctx *c = &x->c;
	uint64_t span;

	fctx_init(c, idx, POOL, 1);
	x->t = fctx_new(c);
	x->t2 = fctx_new(c);
	span = 4 * lsize(1);
	x->base = fctx_area(c, lsize(2) < c->root_esize ? lsize(2) : lsize(1), span + lsize(1));
	x->pa = fctx_pa(c, lsize(1), span);
	ck_assert_msg(x->base + span <= c->root_esize, "[%s] fixture outside root slot 0", c->name);
	EXPECT_OK(c, npt_map_region(x->t, x->base, x->pa, span, c->rw, NPT_MAP_HUGE));
	/* split the second 2 MiB leaf, protect part of the third */
	EXPECT_OK(c, npt_unmap_region(x->t, x->base + lsize(1) + 5 * PG, 7 * PG));
	EXPECT_OK(c, npt_protect_region(x->t, x->base + 2 * lsize(1) + 64 * PG, 3 * PG, c->ro));
	EXPECT_OK(c, npt_map(x->t, x->base + span + PG, x->pa, PG, c->ro));
	EXPECT_OK(c, npt_copy_from(x->t2, x->t, 0, c->root_esize));
}

static void teardown(struct fixture *x)
{
	npt_free(x->t2);
	npt_free(x->t);
	ck_assert_uint_eq(testmm_live(&x->c.mm), 0);
	fctx_fini(&x->c);
}

static void expect_ok(struct fixture *x, const char *what)
{
	struct npt_table *set[2] = { x->t, x->t2 };
	char msg[512];
	int rc = inv_check(&x->c.mm, set, 2, INV_COMPLETE, msg, sizeof(msg));

	ck_assert_msg(rc == 0, "[%s] %s: checker refused a sound table: %s", x->c.name, what, msg);
}

static void expect_bad(struct fixture *x, const char *what, const char *needle)
{
	struct npt_table *set[2] = { x->t, x->t2 };
	char msg[512];
	int rc = inv_check(&x->c.mm, set, 2, INV_COMPLETE, msg, sizeof(msg));

	ck_assert_msg(rc == -1, "[%s] %s: not detected", x->c.name, what);
	ck_assert_msg(strstr(msg, needle) != NULL, "[%s] %s: reported as \"%s\", expected \"%s\"",
		      x->c.name, what, msg, needle);
}

/* Entry pointer for va at level (the table holding it must exist). */
static uint64_t *slot(struct npt_table *t, uint64_t va, unsigned level)
{
	const struct npt_format *f = t->fmt;
	unsigned l = npt_root_level(t);
	uint64_t ia = va & t->ia_mask;
	uint64_t *tbl = t->root;
	unsigned idx = (unsigned)(ia >> npt_level_shift(l)) & (t->root_entries - 1);

	while (l > level) {
		uint64_t pte = tbl[idx];

		ck_assert_msg(npt_pte_present(f, pte) && !npt_pte_leaf(f, l, pte),
			      "[%s] no table at level %u for va 0x%llx", f->name, l,
			      (unsigned long long)va);
		tbl = npt_virt(t, npt_pte_addr(f, pte));
		l--;
		idx = (unsigned)(ia >> npt_level_shift(l)) & (NPT_ENTRIES - 1);
	}
	return &tbl[idx];
}

START_TEST(t_accepts)
{
	struct fixture x;
	struct npt_table *one[1];
	char msg[512];
	unsigned l;

	build(&x, (unsigned)_i);
	expect_ok(&x, "fixture");
	one[0] = x.t;
	/* t alone: t2 is missing from the set, so the pool holds more */
	ck_assert_int_eq(inv_check(&x.c.mm, one, 1, 0, msg, sizeof(msg)), 0);
	ck_assert_int_eq(inv_check(&x.c.mm, one, 1, INV_COMPLETE, msg, sizeof(msg)), -1);
	ck_assert_uint_eq(inv_owned_frames(&x.c.mm, x.t), npt_table_frames(x.t));
	/* one leaf of every size the format has */
	for (l = 1; l <= x.c.top_leaf && l < x.c.info.levels; l++) {
		uint64_t s = lsize(l), va;

		if (!fctx_has_leaf(&x.c, l) || !fctx_fits(&x.c, s, 2 * s) || 3 * s + s > x.c.lo_end)
			continue;
		va = fctx_area(&x.c, s, s);
		if (va < x.c.root_esize && x.c.root_level > 0 && va + s > x.base && va < x.base + 5 * lsize(1))
			continue;
		if (npt_map(x.t, va, fctx_pa(&x.c, s, s), s, x.c.rw) == 0)
			expect_ok(&x, "huge leaf");
	}
	/* unmaps that empty tables free them */
	EXPECT_OK(&x.c, npt_unmap_region(x.t, x.base + 3 * lsize(1), lsize(1)));
	expect_ok(&x, "unmap_region");
	EXPECT_OK(&x.c, npt_unmap(x.t, x.base + 4 * lsize(1) + PG, NULL, NULL));
	expect_ok(&x, "unmap");
	teardown(&x);
}
END_TEST

/* Each planted violation is reported, and the table is sound again after
 * the plant is removed. */
START_TEST(t_detects)
{
	struct fixture x;
	const struct npt_format *f;
	uint64_t *e, *e2, saved, saved2, pte, lowbit;
	uint64_t leaf4k_va;
	unsigned b, l;

	build(&x, (unsigned)_i);
	f = x.t->fmt;
	leaf4k_va = x.base + lsize(1) + 4 * PG; /* inside the split 2 MiB leaf */

	/* stale bits in an absent entry */
	e = slot(x.t, x.base + lsize(1) + 5 * PG, 0);
	ck_assert_uint_eq(*e, 0);
	lowbit = ~f->present_mask & (0 - ~f->present_mask);
	if (lowbit) {
		*e = lowbit;
		expect_bad(&x, "stale bits in an absent entry", "stale bits");
	} else {
		/* every non-zero entry is present (LoongArch): garbage is a bad leaf */
		*e = 0x5a5a5ull << 40;
		expect_bad(&x, "garbage in an absent entry", "leaf");
	}
	*e = 0;
	expect_ok(&x, "restored");

	/* a leaf with a stray bit that its flags do not encode */
	e = slot(x.t, leaf4k_va, 0);
	saved = *e;
	for (b = 0; b < 64; b++) {
		uint64_t m = 1ull << b, re;
		unsigned fl;

		pte = saved ^ m;
		if ((m & f->addr_mask) || !npt_pte_present(f, pte))
			continue;
		fl = f->decode(f, 0, pte);
		if (npt_encode_leaf(f, 0, npt_pte_addr(f, pte), fl, &re) == 0 && re == pte)
			continue;
		break;
	}
	ck_assert_msg(b < 64, "[%s] no stray bit to plant", x.c.name);
	*e = pte;
	expect_bad(&x, "stray leaf bit", "leaf");
	*e = saved;
	expect_ok(&x, "restored");

	/* a huge leaf whose address is not aligned to its size */
	if (fctx_has_leaf(&x.c, 1)) {
		e = slot(x.t, x.base, 1);
		saved = *e;
		ck_assert_msg(npt_pte_leaf(f, 1, saved), "[%s] fixture: no 2 MiB leaf", x.c.name);
		/* bit 13: bit 12 may be a flag in a huge leaf (LoongArch G, x86 PAT) */
		*e = (saved & ~(f->addr_mask)) | npt_addr_bits(f, npt_pte_addr(f, saved) + 2 * PG);
		expect_bad(&x, "misaligned huge leaf", "not aligned");
		*e = saved;
		expect_ok(&x, "restored");
	}

	/* a leaf at a level that has none */
	for (l = 1; l < x.c.info.levels; l++)
		if (!fctx_has_leaf(&x.c, l))
			break;
	if (l < x.c.info.levels && l <= x.c.root_level) {
		uint64_t bits;

		/* The level-1 leaf encoding, written one level up where leaf-ness
		 * is decided by the same bit (x86 PS, Arm descriptor type ...). */
		ck_assert_int_eq(npt_encode_leaf(f, 1, 0, NPT_R, &bits), 0);
		if (npt_pte_leaf(f, l, bits)) {
			uint64_t va = l == x.c.root_level ? x.c.root_esize : x.base + lsize(l);
			uint64_t *tbl = l == x.c.root_level ? x.t->root : NULL;

			if (tbl && va / x.c.root_esize < x.t->root_entries && va < x.c.lo_end) {
				e = &tbl[va / x.c.root_esize];
				ck_assert_uint_eq(*e, 0);
				*e = bits;
				expect_bad(&x, "leaf at a non-leaf level", "not a leaf level");
				*e = 0;
				expect_ok(&x, "restored");
			}
		}
	}

	/* one table under two parents */
	e = slot(x.t, x.base + lsize(1), 1); /* the split: a table */
	ck_assert_msg(!npt_pte_leaf(f, 1, *e), "[%s] fixture: split missing", x.c.name);
	e2 = slot(x.t, x.base + 5 * lsize(1) + lsize(1), 1);
	if (e2 != e && *e2 == 0) {
		*e2 = *e;
		expect_bad(&x, "table under two parents", "reached twice");
		*e2 = 0;
		expect_ok(&x, "restored");
	}

	/* a table entry with extra bits */
	saved = *e;
	*e = saved | lowbit;
	if (npt_pte_present(f, *e) && !npt_pte_leaf(f, 1, *e) && *e != saved) {
		expect_bad(&x, "table entry with extra bits", "table_bits");
		*e = saved;
	}
	*e = saved;

	/* an empty table left behind */
	{
		uint64_t *tbl = npt_virt(x.t, npt_pte_addr(f, *e));
		uint64_t copy[NPT_ENTRIES];

		memcpy(copy, tbl, sizeof(copy));
		memset(tbl, 0, sizeof(copy));
		expect_bad(&x, "empty table", "empty");
		memcpy(tbl, copy, sizeof(copy));
		expect_ok(&x, "restored");
	}

	/* a table entry pointing to a free frame */
	saved = *e;
	*e = f->table_bits | npt_addr_bits(f, x.c.mm.base_pa + (POOL - 1) * PG);
	expect_bad(&x, "pointer to a free frame", "free");
	/* ... and outside the pool */
	*e = f->table_bits | npt_addr_bits(f, x.c.mm.base_pa + POOL * PG);
	expect_bad(&x, "pointer outside the pool", "not a frame of the pool");
	*e = saved;
	expect_ok(&x, "restored");

	/* a cycle: a table entry pointing at the root */
	if (x.c.info.root_frames == 1) {
		e2 = slot(x.t, x.base + 5 * lsize(1) + lsize(1), 1);
		if (*e2 == 0) {
			*e2 = f->table_bits | npt_addr_bits(f, npt_root(x.t));
			expect_bad(&x, "cycle to the root", "reached twice");
			*e2 = 0;
			expect_ok(&x, "restored");
		}
	}

	/* npt_table_frames off by one */
	x.t->frames++;
	expect_bad(&x, "frame count", "npt_table_frames");
	x.t->frames--;

	/* a leaked frame */
	{
		uint64_t pa;

		ck_assert_int_eq(x.c.mm.mm.alloc(&x.c.mm, &pa), 0);
		expect_bad(&x, "leaked frame", "leak");
		x.c.mm.mm.free(&x.c.mm, pa);
		expect_ok(&x, "restored");
	}

	/* a shared mark on an empty slot, and a share whose source is gone */
	if (x.t2->root_entries > 1) {
		x.t2->shared[0] |= 2ull;
		expect_bad(&x, "shared mark on an empty slot", "shared but empty");
		x.t2->shared[0] &= ~2ull;
		expect_ok(&x, "restored");
	}
	saved = x.t->root[0];
	saved2 = x.t2->root[0];
	ck_assert_uint_eq(saved, saved2);
	x.t->root[0] = 0; /* t2's share now points to a table nobody owns */
	{
		struct npt_table *set[2] = { x.t, x.t2 };
		char msg[512];

		ck_assert_int_eq(inv_check(&x.c.mm, set, 2, INV_COMPLETE, msg, sizeof(msg)), -1);
	}
	x.t->root[0] = saved;
	expect_ok(&x, "restored");
	teardown(&x);
}
END_TEST

START_TEST(t_snapshot)
{
	struct fixture x;
	struct inv_snap s;
	struct npt_table *set[2];
	char msg[512];
	uint64_t *e, saved, pa;

	build(&x, (unsigned)_i);
	set[0] = x.t;
	set[1] = x.t2;
	inv_snap_take(&s, &x.c.mm, set, 2);
	ck_assert_int_eq(inv_snap_cmp(&s, &x.c.mm, set, 2, msg, sizeof(msg)), 0);
	/* a failed call: nothing moves */
	ck_assert_int_eq(npt_map(x.t, x.base, x.pa, PG, x.c.rw), NPT_ERR_ALREADY_MAPPED);
	ck_assert_msg(inv_snap_cmp(&s, &x.c.mm, set, 2, msg, sizeof(msg)) == 0, "[%s] %s",
		      x.c.name, msg);
	/* one changed word anywhere */
	e = slot(x.t, x.base + lsize(1) + 4 * PG, 0);
	saved = *e;
	*e ^= 1ull << 62;
	ck_assert_int_eq(inv_snap_cmp(&s, &x.c.mm, set, 2, msg, sizeof(msg)), -1);
	ck_assert_msg(strstr(msg, "word") != NULL, "[%s] %s", x.c.name, msg);
	*e = saved;
	/* a frame more */
	ck_assert_int_eq(x.c.mm.mm.alloc(&x.c.mm, &pa), 0);
	ck_assert_int_eq(inv_snap_cmp(&s, &x.c.mm, set, 2, msg, sizeof(msg)), -1);
	x.c.mm.mm.free(&x.c.mm, pa);
	/* the table's own record */
	x.t->frames++;
	ck_assert_int_eq(inv_snap_cmp(&s, &x.c.mm, set, 2, msg, sizeof(msg)), -1);
	x.t->frames--;
	ck_assert_int_eq(inv_snap_cmp(&s, &x.c.mm, set, 2, msg, sizeof(msg)), 0);
	/* a successful change is seen */
	EXPECT_OK(&x.c, npt_protect(x.t, x.base + lsize(1) + 4 * PG, x.c.ro));
	ck_assert_int_eq(inv_snap_cmp(&s, &x.c.mm, set, 2, msg, sizeof(msg)), -1);
	inv_snap_free(&s);
	teardown(&x);
}
END_TEST

/* The full_bit hint (format.h): set in a level-1 entry when the engine
 * makes its leaf table one full run, whatever the call; gone as soon as a
 * leaf of it is, or maps out of sequence; and the checker reports it over a
 * table with a hole or out of sequence. The range calls trust it instead of
 * reading the leaves, so each case also checks what they then decide. */
static int full(struct npt_table *t, uint64_t va)
{
	return (*slot(t, va, 1) & t->fmt->full_bit) != 0;
}

START_TEST(t_full_bit)
{
	struct fctx c;
	struct npt_table *t, *one[1];
	const struct npt_format *f;
	const uint64_t L1 = lsize(1);
	uint64_t va, pa, *e;
	char msg[512];
	unsigned i;

	fctx_init(&c, (unsigned)_i, POOL, 1);
	t = fctx_new(&c);
	f = t->fmt;
	if (!f->full_bit) {
		/* only LoongArch: a directory entry is a bare address */
		ck_assert_str_eq(f->name, "loongarch64");
		goto out;
	}
	va = fctx_area(&c, L1, 5 * L1);
	pa = fctx_pa(&c, L1, 5 * L1);
	/* one map: a whole leaf table, then half of the next */
	EXPECT_OK(&c, npt_map_region(t, va, pa, L1 + L1 / 2, c.rw, 0));
	ck_assert_msg(full(t, va), "[%s] whole table mapped, no full_bit", c.name);
	ck_assert_msg(!full(t, va + L1), "[%s] half a table mapped, full_bit", c.name);
	/* the other half page by page: full at the last page only */
	for (i = 256; i < NPT_ENTRIES; i++) {
		EXPECT_OK(&c, npt_map(t, va + L1 + i * PG, pa + L1 + i * PG, PG, c.rw));
		ck_assert_msg(full(t, va + L1) == (i == NPT_ENTRIES - 1),
			      "[%s] page %u of 512 mapped: full_bit %d", c.name, i + 1,
			      full(t, va + L1));
	}
	/* a hole clears it, and the range calls then find the hole */
	EXPECT_OK(&c, npt_unmap(t, va + 7 * PG, NULL, NULL));
	ck_assert_msg(!full(t, va), "[%s] full_bit kept over a hole", c.name);
	EXPECT_FAIL(&c, t, npt_protect_region(t, va, 2 * L1, c.ro), NPT_ERR_NOT_MAPPED);
	EXPECT_FAIL(&c, t, npt_unmap_region(t, va, 2 * L1), NPT_ERR_NOT_MAPPED);
	/* filling the hole makes it full again */
	EXPECT_OK(&c, npt_map(t, va + 7 * PG, pa + 7 * PG, PG, c.rw));
	ck_assert_msg(full(t, va), "[%s] hole filled, no full_bit", c.name);
	/* protect keeps it, and writes the whole run from entry 0 */
	EXPECT_OK(&c, npt_protect_region(t, va, 2 * L1, c.ro));
	ck_assert_msg(full(t, va) && full(t, va + L1), "[%s] protect dropped full_bit", c.name);
	for (i = 0; i < 2 * NPT_ENTRIES; i++) {
		uint64_t qpa = 0;
		unsigned fl = 0;

		EXPECT_OK(&c, npt_query(t, va + i * PG, &qpa, &fl, NULL));
		ck_assert_msg(qpa == pa + i * PG && fl == fctx_norm(&c, c.ro),
			      "[%s] page %u after protect: pa 0x%llx flags 0x%x", c.name, i,
			      (unsigned long long)qpa, fl);
	}
	EXPECT_OK(&c, npt_protect_region(t, va, L1, c.rw));
	ck_assert_msg(inv_check(&c.mm, (struct npt_table *const[]){ t }, 1, INV_COMPLETE, msg,
				sizeof(msg)) == 0, "[%s] %s", c.name, msg);
	/* a remap breaks the sequence, a hole filled out of sequence too */
	EXPECT_OK(&c, npt_remap(t, va + 9 * PG, pa + 2 * L1, c.rw));
	ck_assert_msg(!full(t, va), "[%s] remap kept full_bit", c.name);
	EXPECT_OK(&c, npt_remap(t, va + 9 * PG, pa + 9 * PG, c.rw));
	ck_assert_msg(!full(t, va), "[%s] the hint is only set by a map", c.name);
	EXPECT_OK(&c, npt_unmap(t, va + 9 * PG, NULL, NULL));
	EXPECT_OK(&c, npt_map(t, va + 9 * PG, pa + 2 * L1, PG, c.rw));
	ck_assert_msg(!full(t, va), "[%s] out-of-sequence page, full_bit", c.name);
	EXPECT_OK(&c, npt_unmap(t, va + 9 * PG, NULL, NULL));
	EXPECT_OK(&c, npt_map(t, va + 9 * PG, pa + 9 * PG, PG, c.rw));
	ck_assert_msg(full(t, va), "[%s] sequence restored, no full_bit", c.name);
	/* a map into the full table collides */
	EXPECT_FAIL(&c, t, npt_map(t, va + 3 * PG, pa, PG, c.rw), NPT_ERR_ALREADY_MAPPED);
	EXPECT_FAIL(&c, t, npt_map_region(t, va + L1 - PG, pa, 2 * PG, c.rw, 0),
		    NPT_ERR_ALREADY_MAPPED);
	/* part of a table unmapped by a region call: cleared */
	EXPECT_OK(&c, npt_unmap_region(t, va + L1 + 8 * PG, 16 * PG));
	ck_assert_msg(!full(t, va + L1), "[%s] unmap_region kept full_bit", c.name);
	/* a 2 MiB leaf split by a partial protect is full; by a partial unmap not */
	if (fctx_has_leaf(&c, 1)) {
		const uint64_t hva = va + 2 * L1;

		EXPECT_OK(&c, npt_map(t, hva, pa + 2 * L1, L1, c.rw));
		EXPECT_OK(&c, npt_protect_region(t, hva + PG, PG, c.ro));
		ck_assert_msg(full(t, hva), "[%s] split by protect, no full_bit", c.name);
		EXPECT_OK(&c, npt_unmap_region(t, hva + 2 * PG, PG));
		ck_assert_msg(!full(t, hva), "[%s] split by unmap, full_bit", c.name);
		/* and split by dirty logging, eager or at the first write fault */
		EXPECT_OK(&c, npt_map_region(t, va + 3 * L1, pa + 3 * L1, 2 * L1, c.rw,
					     NPT_MAP_HUGE));
		EXPECT_OK(&c, npt_log_start(t, va + 3 * L1, L1, NPT_LOG_EAGER));
		ck_assert_msg(full(t, va + 3 * L1), "[%s] eager log split, no full_bit", c.name);
		EXPECT_OK(&c, npt_log_start(t, va + 4 * L1, L1, NPT_LOG_LAZY));
		EXPECT_OK(&c, npt_log_write_fault(t, va + 4 * L1 + 5 * PG));
		ck_assert_msg(full(t, va + 4 * L1), "[%s] write-fault split, no full_bit", c.name);
		EXPECT_OK(&c, npt_log_stop(t, va + 3 * L1, 2 * L1));
	}
	one[0] = t;
	ck_assert_msg(inv_check(&c.mm, one, 1, INV_COMPLETE, msg, sizeof(msg)) == 0, "[%s] %s",
		      c.name, msg);
	/* planted over the table with a hole: reported */
	e = slot(t, va + L1, 1);
	*e |= f->full_bit;
	ck_assert_int_eq(inv_check(&c.mm, one, 1, INV_COMPLETE, msg, sizeof(msg)), -1);
	ck_assert_msg(strstr(msg, "full_bit") != NULL, "[%s] %s", c.name, msg);
	*e &= ~f->full_bit;
	/* planted over a full table out of sequence: reported */
	EXPECT_OK(&c, npt_remap(t, va + 9 * PG, pa + 2 * L1, c.rw));
	e = slot(t, va, 1);
	*e |= f->full_bit;
	ck_assert_int_eq(inv_check(&c.mm, one, 1, INV_COMPLETE, msg, sizeof(msg)), -1);
	ck_assert_msg(strstr(msg, "out of sequence") != NULL, "[%s] %s", c.name, msg);
	*e &= ~f->full_bit;
out:
	npt_free(t);
	ck_assert_uint_eq(testmm_live(&c.mm), 0);
	fctx_fini(&c);
}
END_TEST

static Suite *inv_suite(void)
{
	Suite *s = suite_create("invariants");
	TCase *tc = tcase_create("checker");

	ADD_FMT_TEST(tc, t_accepts);
	ADD_FMT_TEST(tc, t_detects);
	ADD_FMT_TEST(tc, t_snapshot);
	ADD_FMT_TEST(tc, t_full_bit);
	suite_add_tcase(s, tc);
	return s;
}

NPT_CHECK_MAIN(inv_suite)
