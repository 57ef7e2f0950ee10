/*
 * npt_log_* on every format: write protection and the mark, write faults
 * giving pages back (and splitting marked huge leaves along the path, or the
 * whole range up front with NPT_LOG_EAGER), the log harvest, stopping, the
 * faults npt_harvest's software-managed state causes, allocation failure at
 * every allocation of a split, and refusals that change nothing.
 *
 * The CPU is tests/lib/hwsim: a write through a leaf without write
 * permission faults, as it would under the guest.
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
#define NP 64
#define NPT_ENTRIES 512u

static int bit(const uint64_t *bm, uint64_t i)
{
	return (int)(bm[i / 64] >> (i % 64) & 1);
}

static int marked(const struct npt_table *t, uint64_t va)
{
	return (hw_pte(t, va) & hw_sw_log_bit(t)) != 0;
}

/* [va, va + size) maps [pa, ...) with flags rwx, whatever accessed/dirty
 * state the hardware (hwsim) or the log left in the leaves. */
static void check_rwx(struct fctx *c, const struct npt_table *t, uint64_t va, uint64_t pa,
		      uint64_t size, unsigned rwx, int line)
{
	struct leaf *l = NULL;
	size_t n = collect_leaves(c, t, va, size, &l), i;
	uint64_t cur = va;

	for (i = 0; i < n; i++) {
		uint64_t off = cur - l[i].va, end = l[i].va + l[i].size;

		ck_assert_msg(l[i].va <= cur && off < l[i].size,
			      "[%s] line %d: 0x%llx not mapped", c->name, line,
			      (unsigned long long)cur);
		ck_assert_msg(l[i].pa + off == pa + (cur - va) &&
				      (l[i].flags & ~(NPT_A | NPT_D)) == (rwx & ~(NPT_A | NPT_D)),
			      "[%s] line %d: 0x%llx maps 0x%llx flags 0x%x, expected 0x%llx 0x%x",
			      c->name, line, (unsigned long long)cur,
			      (unsigned long long)(l[i].pa + off), l[i].flags,
			      (unsigned long long)(pa + (cur - va)), rwx);
		cur = end;
		if (cur - va >= size)
			break;
	}
	ck_assert_msg(n && cur - va >= size, "[%s] line %d: [0x%llx +0x%llx) not all mapped",
		      c->name, line, (unsigned long long)va, (unsigned long long)size);
	free(l);
}

/* Leaves per level of the whole table. */
static void leaves(struct fctx *c, struct npt_table *t, unsigned long *per_level)
{
	struct tree_stats st;
	unsigned l;

	memset(&st, 0, sizeof(st));
	check_tree(c, t, 0, &st);
	for (l = 0; l < c->info.levels; l++)
		per_level[l] = st.leaves[l];
}

/* ---- 4 KiB pages ------------------------------------------------------------------ */

START_TEST(t_pages)
{
	struct fctx c;
	struct npt_table *t;
	uint64_t bm[2], va, pa;
	struct npt_flush f;
	struct npt_log_fault lf;
	unsigned i, flags;

	fctx_init(&c, (unsigned)_i, POOL, 1);
	t = fctx_new(&c);
	va = fctx_area(&c, lsize(1), (NP + 1) * PG);
	pa = fctx_pa(&c, lsize(1), (NP + 1) * PG);
	EXPECT_OK(&c, npt_map_region(t, va, pa, NP * PG, c.rw, 0));
	EXPECT_OK(&c, npt_map(t, va + NP * PG, pa, PG, c.ro));

	EXPECT_OK(&c, npt_log_start(t, va, (NP + 1) * PG, NPT_LOG_LAZY));
	npt_last_flush(t, &f);
	ck_assert_msg(f.kind == NPT_FLUSH_RANGE && f.nranges == 1 && f.ranges[0].va == va &&
			      f.ranges[0].size == NP * PG && f.ranges[0].level == 0,
		      "[%s] log_start flush: kind %u, %u runs", c.name, f.kind, f.nranges);
	for (i = 0; i < NP; i++) {
		ck_assert_msg(marked(t, va + i * PG), "[%s] page %u not marked", c.name, i);
		ck_assert_int_eq(hw_access(t, va + i * PG, 1), HW_FAULT_WRITE);
		ck_assert_int_eq(hw_access(t, va + i * PG, 0), HW_OK);
		EXPECT_OK(&c, npt_query(t, va + i * PG, NULL, &flags, NULL));
		ck_assert_msg(!(flags & NPT_W), "[%s] a logged page decodes writable", c.name);
	}
	/* the read-only page is not the log's */
	ck_assert_msg(!marked(t, va + NP * PG), "[%s] read-only page marked", c.name);
	EXPECT_FAIL(&c, t, npt_log_write_fault(t, va + NP * PG), NPT_ERR_PERM);
	EXPECT_FAIL(&c, t, npt_log_write_fault(t, va + (NP + 1) * PG), NPT_ERR_NOT_MAPPED);

	/* faults: the page is writable again, and nothing else */
	memset(&lf, 0xee, sizeof(lf));
	EXPECT_OK(&c, npt_log_write_fault_info(t, va + 5 * PG + 0x123, &lf));
	ck_assert_msg(lf.did == NPT_LOG_GRANTED && lf.page_size == PG,
		      "[%s] write fault reported did 0x%x, page size 0x%llx", c.name, lf.did,
		      (unsigned long long)lf.page_size);
	npt_last_flush(t, &f);
	ck_assert_msg(f.kind == NPT_FLUSH_RANGE && f.va == va + 5 * PG && f.size == PG,
		      "[%s] write fault flush", c.name);
	ck_assert_int_eq(hw_access(t, va + 5 * PG, 1), HW_OK);
	ck_assert_int_eq(hw_access(t, va + 6 * PG, 1), HW_FAULT_WRITE);
	/* a second vCPU: resolved already, nothing done */
	EXPECT_OK(&c, npt_log_write_fault_info(t, va + 5 * PG, &lf));
	ck_assert_msg(lf.did == 0 && lf.page_size == PG, "[%s] resolved fault reported did 0x%x",
		      c.name, lf.did);
	/* ... but a stale TLB entry may have raised it: the page is to flush */
	npt_last_flush(t, &f);
	ck_assert_msg(f.kind == NPT_FLUSH_RANGE && f.nranges == 1 && f.ranges[0].va == va + 5 * PG &&
			      f.ranges[0].size == PG && f.ranges[0].level == 0,
		      "[%s] resolved fault flush: kind %u, %u runs", c.name, f.kind, f.nranges);
	EXPECT_OK(&c, npt_log_write_fault(t, va + 40 * PG));
	EXPECT_OK(&c, npt_log_write_fault(t, va + 41 * PG));
	EXPECT_OK(&c, npt_query(t, va + 40 * PG, NULL, &flags, NULL));
	ck_assert_msg(flags & NPT_W, "[%s] a page given back decodes read-only", c.name);

	memset(bm, 0xee, sizeof(bm));
	EXPECT_OK(&c, npt_log_harvest(t, va, (NP + 1) * PG, bm));
	for (i = 0; i <= NP; i++)
		ck_assert_msg(bit(bm, i) == (i == 5 || i == 40 || i == 41), "[%s] page %u: bit %d",
			      c.name, i, bit(bm, i));
	for (i = NP + 1; i < 128; i++)
		ck_assert_msg(!bit(bm, i), "[%s] bit %u past the range", c.name, i);
	npt_last_flush(t, &f);
	ck_assert_msg(f.kind == NPT_FLUSH_RANGE && f.nranges == 2 && f.ranges[0].va == va + 5 * PG &&
			      f.ranges[0].size == PG && f.ranges[1].va == va + 40 * PG &&
			      f.ranges[1].size == 2 * PG,
		      "[%s] log harvest flush: kind %u, %u runs", c.name, f.kind, f.nranges);
	/* write-protected again, still marked */
	ck_assert_int_eq(hw_access(t, va + 5 * PG, 1), HW_FAULT_WRITE);
	ck_assert_msg(marked(t, va + 5 * PG), "[%s] harvest dropped the mark", c.name);
	EXPECT_OK(&c, npt_log_harvest(t, va, (NP + 1) * PG, bm));
	ck_assert_msg(bm[0] == 0 && bm[1] == 0, "[%s] second log harvest not empty", c.name);
	npt_last_flush(t, &f);
	ck_assert_uint_eq(f.kind, NPT_FLUSH_NONE);

	/* stop: every page writable and unmarked; the log reads nothing */
	EXPECT_OK(&c, npt_log_write_fault(t, va + 7 * PG));
	EXPECT_OK(&c, npt_log_stop(t, va, (NP + 1) * PG));
	for (i = 0; i < NP; i++) {
		ck_assert_msg(!marked(t, va + i * PG), "[%s] page %u still marked", c.name, i);
		ck_assert_int_eq(hw_access(t, va + i * PG, 1), HW_OK);
	}
	check_rwx(&c, t, va, pa, NP * PG, c.rw, __LINE__);
	ck_assert_int_eq(hw_access(t, va + NP * PG, 1), HW_FAULT_WRITE);
	EXPECT_OK(&c, npt_log_harvest(t, va, (NP + 1) * PG, bm));
	ck_assert_msg(bm[0] == 0 && bm[1] == 0, "[%s] log harvest after stop", c.name);
	EXPECT_FAIL(&c, t, npt_log_write_fault(t, va + NP * PG), NPT_ERR_PERM);
	check_tree(&c, t, 0, NULL);
	npt_free(t);
	ck_assert_uint_eq(testmm_live(&c.mm), 0);
	fctx_fini(&c);
}
END_TEST

/* ---- huge leaves, lazily ------------------------------------------------------------- */

static void lazy_case(struct fctx *c, unsigned level)
{
	const uint64_t hs = lsize(level);
	struct npt_table *t = fctx_new(c);
	uint64_t va = fctx_area(c, hs, hs), pa = fctx_pa(c, hs, hs), *bm, frames;
	unsigned long n[TU_MAX_LEVELS];
	struct npt_flush f;
	struct npt_log_fault lf;
	uint64_t p = 7 * PG + (level > 1 ? 3 * lsize(1) : 0); /* the page written */
	unsigned l;
	long k;

	bm = calloc(hs / PG / 64, sizeof(*bm));
	TU_CTX("level %u", level);
	EXPECT_OK(c, npt_map(t, va, pa, hs, c->rw));
	EXPECT_OK(c, npt_log_start(t, va, hs, NPT_LOG_LAZY));
	leaves(c, t, n);
	ck_assert_msg(n[level] == 1, "[%s] lazy start split the huge leaf", c->name);
	ck_assert_msg(marked(t, va) && hw_access(t, va + p, 1) == HW_FAULT_WRITE,
		      "[%s] huge leaf not marked read-only", c->name);
	frames = npt_table_frames(t);

	/* allocation failure at each allocation of the split: nothing changes */
	for (k = 0; k < (long)level; k++) {
		testmm_fail_after(&c->mm, k);
		EXPECT_FAIL(c, t, npt_log_write_fault(t, va + p), NPT_ERR_NOMEM);
	}
	testmm_fail_after(&c->mm, -1);

	memset(&lf, 0xee, sizeof(lf));
	EXPECT_OK(c, npt_log_write_fault_info(t, va + p, &lf));
	ck_assert_msg(lf.did == (NPT_LOG_SPLIT | NPT_LOG_GRANTED) && lf.page_size == PG,
		      "[%s] split fault reported did 0x%x, page size 0x%llx", c->name, lf.did,
		      (unsigned long long)lf.page_size);
	ck_assert_msg(npt_table_frames(t) == frames + level,
		      "[%s] split along the path took %llu frames, expected %u", c->name,
		      (unsigned long long)(npt_table_frames(t) - frames), level);
	leaves(c, t, n);
	ck_assert_msg(n[0] == NPT_ENTRIES, "[%s] %lu 4 KiB leaves after the fault", c->name, n[0]);
	for (l = 1; l < level; l++)
		ck_assert_msg(n[l] == NPT_ENTRIES - 1, "[%s] %lu level-%u leaves after the fault",
			      c->name, n[l], l);
	ck_assert_msg(n[level] == 0, "[%s] the huge leaf survived", c->name);
	/* the translation is the same everywhere */
	check_rwx(c, t, va, pa, p, c->rw & ~NPT_W, __LINE__);
	check_rwx(c, t, va + p, pa + p, PG, c->rw, __LINE__);
	check_rwx(c, t, va + p + PG, pa + p + PG, hs - p - PG, c->rw & ~NPT_W, __LINE__);
	ck_assert_int_eq(hw_access(t, va + p, 1), HW_OK);
	ck_assert_int_eq(hw_access(t, va + p + PG, 1), HW_FAULT_WRITE);
	ck_assert_int_eq(hw_access(t, va + hs - PG, 1), HW_FAULT_WRITE);
	/* the old huge leaf is in the flush record */
	npt_last_flush(t, &f);
	ck_assert_msg(f.kind == NPT_FLUSH_RANGE && f.nranges >= 1 && f.ranges[0].va == va &&
			      f.ranges[0].size == hs && f.ranges[0].level == level,
		      "[%s] split flush: kind %u, %u runs, first [0x%llx +0x%llx) level %u", c->name,
		      f.kind, f.nranges, (unsigned long long)f.ranges[0].va,
		      (unsigned long long)f.ranges[0].size, f.ranges[0].level);

	EXPECT_OK(c, npt_log_harvest(t, va, hs, bm));
	for (k = 0; k < (long)(hs / PG); k++)
		ck_assert_msg(bit(bm, (uint64_t)k) == (k == (long)(p / PG)), "[%s] page %ld: bit %d",
			      c->name, k, bit(bm, (uint64_t)k));
	/* a write in another 2 MiB part of a 1 GiB leaf splits that part */
	if (level > 1) {
		frames = npt_table_frames(t);
		EXPECT_OK(c, npt_log_write_fault(t, va + hs - PG));
		ck_assert_uint_eq(npt_table_frames(t), frames + 1);
	}
	EXPECT_OK(c, npt_log_stop(t, va, hs));
	check_rwx(c, t, va, pa, hs, c->rw, __LINE__);
	tu_ctx[0] = 0;
	free(bm);
	npt_free(t);
	ck_assert_uint_eq(testmm_live(&c->mm), 0);
}

START_TEST(t_lazy)
{
	struct fctx c;

	fctx_init(&c, (unsigned)_i, POOL, 1);
	if (fctx_has_leaf(&c, 1))
		lazy_case(&c, 1);
	if (fctx_has_leaf(&c, 2) && fctx_fits(&c, lsize(2), lsize(2)))
		lazy_case(&c, 2);
	fctx_fini(&c);
}
END_TEST

/* ---- eager: every huge leaf split up front ------------------------------------------- */

START_TEST(t_eager)
{
	struct fctx c;
	struct npt_table *t;
	uint64_t va, pa, hs, frames, want;
	unsigned long n[TU_MAX_LEVELS];
	unsigned level, l;
	long k;

	fctx_init(&c, (unsigned)_i, 2 * POOL, 1);
	if (!fctx_has_leaf(&c, 1)) {
		fctx_fini(&c);
		return;
	}
	level = fctx_has_leaf(&c, 2) && fctx_fits(&c, lsize(2), 2 * lsize(2)) ? 2 : 1;
	hs = lsize(level);
	t = fctx_new(&c);
	va = fctx_area(&c, hs, 2 * hs);
	pa = fctx_pa(&c, hs, 2 * hs);
	EXPECT_OK(&c, npt_map(t, va, pa, hs, c.rw));
	EXPECT_OK(&c, npt_map(t, va + hs, pa + hs, lsize(1), c.ro)); /* read-only: stays huge */
	frames = npt_table_frames(t);
	want = level == 2 ? 1 + NPT_ENTRIES : 1;

	/* allocation failure at the first, a middle and the last allocation */
	for (k = 0; k < 3; k++) {
		testmm_fail_after(&c.mm, k == 0 ? 0 : k == 1 ? (long)want / 2 : (long)want - 1);
		EXPECT_FAIL(&c, t, npt_log_start(t, va, hs + lsize(1), NPT_LOG_EAGER), NPT_ERR_NOMEM);
	}
	testmm_fail_after(&c.mm, -1);
	EXPECT_FAIL(&c, t, npt_log_start(t, va, hs, 2), NPT_ERR_INVAL);

	EXPECT_OK(&c, npt_log_start(t, va, hs + lsize(1), NPT_LOG_EAGER));
	ck_assert_msg(npt_table_frames(t) == frames + want, "[%s] eager split took %llu frames",
		      c.name, (unsigned long long)(npt_table_frames(t) - frames));
	leaves(&c, t, n);
	ck_assert_msg(n[0] == hs / PG, "[%s] %lu 4 KiB leaves", c.name, n[0]);
	for (l = 2; l <= level; l++)
		ck_assert_msg(n[l] == 0, "[%s] %lu level-%u leaves", c.name, n[l], l);
	ck_assert_msg(n[1] == 1, "[%s] the read-only 2 MiB leaf was split", c.name);
	for (k = 0; k < (long)(hs / PG); k += 4099)
		ck_assert_msg(marked(t, va + (uint64_t)k * PG) &&
				      hw_access(t, va + (uint64_t)k * PG, 1) == HW_FAULT_WRITE,
			      "[%s] page %ld not logged", c.name, k);
	check_rwx(&c, t, va, pa, hs, c.rw & ~NPT_W, __LINE__);
	/* a fault is a page now: no split, no frame */
	frames = npt_table_frames(t);
	EXPECT_OK(&c, npt_log_write_fault(t, va + 3 * PG));
	ck_assert_uint_eq(npt_table_frames(t), frames);
	npt_free(t);
	ck_assert_uint_eq(testmm_live(&c.mm), 0);
	fctx_fini(&c);
}
END_TEST

/* ---- ranges that cut huge leaves ----------------------------------------------------- */

START_TEST(t_edges)
{
	struct fctx c;
	struct npt_table *t;
	uint64_t va, pa, hs, bm[16];
	unsigned i;

	fctx_init(&c, (unsigned)_i, POOL, 1);
	if (!fctx_has_leaf(&c, 1)) {
		fctx_fini(&c);
		return;
	}
	hs = lsize(1);
	t = fctx_new(&c);
	va = fctx_area(&c, hs, 2 * hs);
	pa = fctx_pa(&c, hs, 2 * hs);
	EXPECT_OK(&c, npt_map_region(t, va, pa, 2 * hs, c.rw, NPT_MAP_2M));
	/* the last 3 pages of the first leaf and the first 5 of the second */
	EXPECT_OK(&c, npt_log_start(t, va + hs - 3 * PG, 8 * PG, NPT_LOG_LAZY));
	for (i = 0; i < 16; i++) {
		uint64_t a = va + hs - 8 * PG + i * PG;
		int in = i >= 5 && i < 13;

		ck_assert_msg(marked(t, a) == in, "[%s] page %u: marked %d", c.name, i, marked(t, a));
		ck_assert_int_eq(hw_access(t, a, 1), in ? HW_FAULT_WRITE : HW_OK);
	}
	check_rwx(&c, t, va, pa, hs - 3 * PG, c.rw, __LINE__);
	check_rwx(&c, t, va + hs + 5 * PG, pa + hs + 5 * PG, hs - 5 * PG, c.rw, __LINE__);
	EXPECT_OK(&c, npt_log_write_fault(t, va + hs));
	EXPECT_OK(&c, npt_log_harvest(t, va + hs - 3 * PG, 8 * PG, bm));
	ck_assert_msg(bm[0] == 1u << 3, "[%s] edges harvest 0x%llx", c.name,
		      (unsigned long long)bm[0]);
	EXPECT_OK(&c, npt_log_stop(t, va + hs - 3 * PG, 8 * PG));
	check_rwx(&c, t, va, pa, 2 * hs, c.rw, __LINE__);
	check_tree(&c, t, 0, NULL);

	/* a marked huge leaf reaching outside: harvest (once written) and stop refuse */
	EXPECT_OK(&c, npt_unmap_region(t, va, 2 * hs));
	EXPECT_OK(&c, npt_map(t, va, pa, hs, c.rw));
	EXPECT_OK(&c, npt_log_start(t, va, hs, NPT_LOG_LAZY));
	EXPECT_OK(&c, npt_log_harvest(t, va + PG, PG, bm)); /* clean: nothing to clear */
	EXPECT_FAIL(&c, t, npt_log_stop(t, va + PG, PG), NPT_ERR_HUGE);
	EXPECT_FAIL(&c, t, npt_log_stop(t, va, hs - PG), NPT_ERR_HUGE);
	EXPECT_OK(&c, npt_log_stop(t, va, hs));
	npt_free(t);
	ck_assert_uint_eq(testmm_live(&c.mm), 0);
	fctx_fini(&c);
}
END_TEST

/* ---- the faults npt_harvest's software-managed state causes -------------------------- */

START_TEST(t_soft_state)
{
	struct fctx c;
	struct npt_table *t;
	uint64_t va, pa, bm[1], pte;

	fctx_init(&c, (unsigned)_i, POOL, 1);
	t = fctx_new(&c);
	va = fctx_area(&c, lsize(1), 4 * PG);
	pa = fctx_pa(&c, lsize(1), 4 * PG);
	EXPECT_OK(&c, npt_map_region(t, va, pa, 2 * PG, c.rw, 0));
	EXPECT_OK(&c, npt_map(t, va + 2 * PG, pa, PG, c.ro));
	if (c.info.features & NPT_FEATURE_DIRTY) {
		EXPECT_OK(&c, npt_harvest(t, va, 3 * PG, NPT_D, bm));
		/* hardware without dirty management would fault on the write: the
		 * handler gives it back and the next harvest sees it */
		EXPECT_OK(&c, npt_log_write_fault(t, va + PG));
		pte = hw_pte(t, va + PG);
		ck_assert_msg(hw_writable(t, pte) && (!hw_dirty_bit(t) || (pte & hw_dirty_bit(t))),
			      "[%s] write fault did not record the write: 0x%llx", c.name,
			      (unsigned long long)pte);
		EXPECT_OK(&c, npt_harvest(t, va, 3 * PG, NPT_D, bm));
		ck_assert_msg(bm[0] == 2, "[%s] harvest after a soft write fault: 0x%llx", c.name,
			      (unsigned long long)bm[0]);
		EXPECT_FAIL(&c, t, npt_log_write_fault(t, va + 2 * PG), NPT_ERR_PERM);
	}
	if (c.info.features & NPT_FEATURE_ACCESSED) {
		EXPECT_OK(&c, npt_harvest(t, va, 3 * PG, NPT_A, bm));
		EXPECT_OK(&c, npt_log_access_fault(t, va + 2 * PG + 5));
		ck_assert_msg(hw_pte(t, va + 2 * PG) & hw_accessed_bit(t),
			      "[%s] access fault did not set A", c.name);
		EXPECT_OK(&c, npt_harvest(t, va, 3 * PG, NPT_A, bm));
		ck_assert_msg(bm[0] == 4, "[%s] harvest after an access fault: 0x%llx", c.name,
			      (unsigned long long)bm[0]);
	} else {
		EXPECT_FAIL(&c, t, npt_log_access_fault(t, va), NPT_ERR_UNSUPPORTED);
	}
	EXPECT_FAIL2(&c, t, npt_log_access_fault(t, va + 3 * PG), NPT_ERR_NOT_MAPPED,
		     NPT_ERR_UNSUPPORTED);
	npt_free(t);
	fctx_fini(&c);
}
END_TEST

/* ---- refusals ---------------------------------------------------------------------------- */

START_TEST(t_bad)
{
	struct fctx c;
	struct npt_table *t;
	uint64_t va, pa, bm[2];

	fctx_init(&c, (unsigned)_i, POOL, 1);
	t = fctx_new(&c);
	va = fctx_area(&c, lsize(1), 8 * PG);
	pa = fctx_pa(&c, lsize(1), 8 * PG);
	EXPECT_OK(&c, npt_map_region(t, va, pa, 8 * PG, c.rw, 0));
	EXPECT_OK(&c, npt_log_start(t, va, 4 * PG, NPT_LOG_LAZY));

	EXPECT_RC(&c, npt_log_start(NULL, va, PG, 0), NPT_ERR_INVAL);
	EXPECT_RC(&c, npt_log_write_fault(NULL, va), NPT_ERR_INVAL);
	EXPECT_RC(&c, npt_log_write_fault_info(NULL, va, NULL), NPT_ERR_INVAL);
	EXPECT_RC(&c, npt_log_access_fault(NULL, va), NPT_ERR_INVAL);
	EXPECT_RC(&c, npt_log_harvest(NULL, va, PG, bm), NPT_ERR_INVAL);
	EXPECT_RC(&c, npt_log_stop(NULL, va, PG), NPT_ERR_INVAL);
	EXPECT_FAIL(&c, t, npt_log_start(t, va, PG, 7), NPT_ERR_INVAL);
	EXPECT_FAIL(&c, t, npt_log_harvest(t, va, PG, NULL), NPT_ERR_INVAL);
	EXPECT_FAIL(&c, t, npt_log_start(t, va + 1, PG, 0), NPT_ERR_ALIGN);
	EXPECT_FAIL(&c, t, npt_log_start(t, va, 0, 0), NPT_ERR_RANGE);
	EXPECT_FAIL(&c, t, npt_log_harvest(t, va, PG + 5, bm), NPT_ERR_ALIGN);
	EXPECT_FAIL(&c, t, npt_log_stop(t, va + 8, PG), NPT_ERR_ALIGN);
	EXPECT_FAIL(&c, t, npt_log_stop(t, 0 - PG, 2 * PG), NPT_ERR_RANGE);
	if (c.info.canonical) {
		EXPECT_FAIL(&c, t, npt_log_write_fault(t, c.lo_end), NPT_ERR_RANGE);
		EXPECT_FAIL(&c, t, npt_log_start(t, c.lo_end, PG, 0), NPT_ERR_RANGE);
	} else if (c.info.va_bits < 64) {
		EXPECT_FAIL(&c, t, npt_log_write_fault(t, 1ull << c.info.va_bits), NPT_ERR_RANGE);
		EXPECT_FAIL(&c, t, npt_log_harvest(t, 1ull << c.info.va_bits, PG, bm),
			    NPT_ERR_RANGE);
	}
	/* shared from another table */
	if (fctx_fits(&c, c.root_esize, 2 * c.root_esize) &&
	    c.root_esize != (va & ~(c.root_esize - 1))) {
		struct npt_table *src = fctx_new(&c);
		uint64_t k = c.root_esize;

		EXPECT_OK(&c, npt_map(src, k, pa, PG, c.rw));
		EXPECT_OK(&c, npt_copy_from(t, src, k, c.root_esize));
		EXPECT_FAIL(&c, t, npt_log_start(t, k, PG, 0), NPT_ERR_SHARED);
		EXPECT_FAIL(&c, t, npt_log_write_fault(t, k), NPT_ERR_SHARED);
		EXPECT_FAIL(&c, t, npt_log_harvest(t, k, PG, bm), NPT_ERR_SHARED);
		EXPECT_FAIL(&c, t, npt_log_stop(t, k, PG), NPT_ERR_SHARED);
		if (c.info.features & NPT_FEATURE_ACCESSED)
			EXPECT_FAIL(&c, t, npt_log_access_fault(t, k), NPT_ERR_SHARED);
		EXPECT_OK(&c, npt_unmap_region(t, k, c.root_esize));
		npt_free(src);
	}
	npt_free(t);
	ck_assert_uint_eq(testmm_live(&c.mm), 0);
	fctx_fini(&c);
}
END_TEST

static Suite *log_suite(void)
{
	Suite *s = suite_create("log");
	TCase *tc = tcase_create("log");

	tcase_set_timeout(tc, 120);
	ADD_FMT_TEST(tc, t_pages);
	ADD_FMT_TEST(tc, t_lazy);
	ADD_FMT_TEST(tc, t_eager);
	ADD_FMT_TEST(tc, t_edges);
	ADD_FMT_TEST(tc, t_soft_state);
	ADD_FMT_TEST(tc, t_bad);
	suite_add_tcase(s, tc);
	return s;
}

NPT_CHECK_MAIN(log_suite)
