/*
 * npt_harvest on every format: the features each format reports, bits read
 * and cleared for exactly the pages the (simulated) hardware touched, huge
 * leaves setting every bit, peeking, the TLB record of what was cleared, and
 * every refusal leaving table, pool and bitmap as they were.
 *
 * The hardware is tests/lib/hwsim: it sets A/D bits (or, on Arm, grants
 * the write permission of a DBM leaf) the way an MMU with hardware
 * accessed/dirty management does.
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
#define NP 64 /* pages in the test area */

static const struct {
	const char *name;
	unsigned features;
} expected_features[] = {
	{ "x86_64", NPT_FEATURE_ACCESSED | NPT_FEATURE_DIRTY | NPT_FEATURE_LOG },
	{ "x86_64-la57", NPT_FEATURE_ACCESSED | NPT_FEATURE_DIRTY | NPT_FEATURE_LOG },
	{ "npt", NPT_FEATURE_ACCESSED | NPT_FEATURE_DIRTY | NPT_FEATURE_LOG },
	{ "npt5", NPT_FEATURE_ACCESSED | NPT_FEATURE_DIRTY | NPT_FEATURE_LOG },
	{ "ept", NPT_FEATURE_ACCESSED | NPT_FEATURE_DIRTY | NPT_FEATURE_LOG },
	{ "ept5", NPT_FEATURE_ACCESSED | NPT_FEATURE_DIRTY | NPT_FEATURE_LOG },
	{ "aarch64", NPT_FEATURE_ACCESSED | NPT_FEATURE_DIRTY | NPT_FEATURE_LOG | NPT_FEATURE_BBM },
	{ "aarch64-s2", NPT_FEATURE_ACCESSED | NPT_FEATURE_DIRTY | NPT_FEATURE_LOG | NPT_FEATURE_BBM },
	{ "aarch64-s2-48",
	  NPT_FEATURE_ACCESSED | NPT_FEATURE_DIRTY | NPT_FEATURE_LOG | NPT_FEATURE_BBM },
	{ "sv39", NPT_FEATURE_ACCESSED | NPT_FEATURE_DIRTY | NPT_FEATURE_LOG },
	{ "sv48", NPT_FEATURE_ACCESSED | NPT_FEATURE_DIRTY | NPT_FEATURE_LOG },
	{ "sv57", NPT_FEATURE_ACCESSED | NPT_FEATURE_DIRTY | NPT_FEATURE_LOG },
	{ "sv39x4", NPT_FEATURE_ACCESSED | NPT_FEATURE_DIRTY | NPT_FEATURE_LOG },
	{ "sv48x4", NPT_FEATURE_ACCESSED | NPT_FEATURE_DIRTY | NPT_FEATURE_LOG },
	{ "sv57x4", NPT_FEATURE_ACCESSED | NPT_FEATURE_DIRTY | NPT_FEATURE_LOG },
	{ "loongarch64", NPT_FEATURE_LOG },
};

START_TEST(t_features)
{
	const char *const *names = npt_format_names();
	struct npt_format_info info;
	unsigned i, j, seen = 0;

	for (i = 0; names[i]; i++) {
		ck_assert_int_eq(npt_format_info(npt_format_by_name(names[i]), &info), 0);
		for (j = 0; j < sizeof(expected_features) / sizeof(expected_features[0]); j++) {
			if (strcmp(expected_features[j].name, names[i]))
				continue;
			ck_assert_msg(info.features == expected_features[j].features,
				      "%s: features 0x%x, expected 0x%x", names[i], info.features,
				      expected_features[j].features);
			seen++;
		}
	}
	ck_assert_msg(seen == i, "%u formats, %u with expected features", i, seen);
}
END_TEST

/* ---- helpers ------------------------------------------------------------------ */

struct rec {
	unsigned calls;
	struct npt_flush last;
};

static void rec_hook(void *arg, const struct npt_flush *f)
{
	struct rec *r = arg;

	r->calls++;
	r->last = *f;
}

static int bit(const uint64_t *bm, unsigned i)
{
	return (int)(bm[i / 64] >> (i % 64) & 1);
}

/* The bitmap holds exactly the pages in want[0..n). */
static void expect_bits(const struct fctx *c, const uint64_t *bm, unsigned npages,
			const unsigned *want, unsigned n, const char *what)
{
	unsigned i, k;

	for (i = 0; i < npages; i++) {
		int w = 0;

		for (k = 0; k < n; k++)
			w |= want[k] == i;
		ck_assert_msg(bit(bm, i) == w, "[%s] %s: page %u bit %d, expected %d", c->name, what,
			      i, bit(bm, i), w);
	}
	for (; i % 64; i++)
		ck_assert_msg(!bit(bm, i), "[%s] %s: bit %u past the range set", c->name, what, i);
}

/* A flush record of exactly the level-0 runs of the pages in want (sorted,
 * adjacent ones merged). */
static void expect_page_runs(const struct fctx *c, struct npt_table *t, uint64_t va,
			     const unsigned *want, unsigned n, const char *what)
{
	struct npt_flush f;
	unsigned k, r = 0;

	npt_last_flush(t, &f);
	ck_assert_msg(f.kind == NPT_FLUSH_RANGE, "[%s] %s: flush kind %u", c->name, what, f.kind);
	for (k = 0; k < n; k++) {
		unsigned e = k;

		while (e + 1 < n && want[e + 1] == want[e] + 1)
			e++;
		ck_assert_msg(r < f.nranges, "[%s] %s: %u runs reported, more expected", c->name,
			      what, f.nranges);
		ck_assert_msg(f.ranges[r].va == va + want[k] * PG &&
				      f.ranges[r].size == (e - k + 1) * PG && f.ranges[r].level == 0 &&
				      f.ranges[r].flags == 0,
			      "[%s] %s: run %u = [0x%llx +0x%llx) level %u flags %u, expected page %u "
			      "+%u pages level 0",
			      c->name, what, r, (unsigned long long)f.ranges[r].va,
			      (unsigned long long)f.ranges[r].size, f.ranges[r].level,
			      f.ranges[r].flags, want[k], e - k + 1);
		r++;
		k = e;
	}
	ck_assert_msg(r == f.nranges, "[%s] %s: %u runs, expected %u", c->name, what, f.nranges, r);
	ck_assert_msg(f.va == va + want[0] * PG && f.size == (want[n - 1] - want[0] + 1) * PG,
		      "[%s] %s: bounding range", c->name, what);
}

static int has(const struct fctx *c, unsigned feature)
{
	return (c->info.features & feature) != 0;
}

/* ---- harvest of 4 KiB pages --------------------------------------------------- */

static void pages_case(struct fctx *c, unsigned what)
{
	static const unsigned writes[] = { 3, 17, 18, 40 };
	static const unsigned reads[] = { 5, 63 };
	static const unsigned accessed[] = { 3, 5, 17, 18, 40, 63 };
	struct npt_table *t = fctx_new(c);
	struct rec r = { 0 };
	uint64_t bm[NP / 64 + 1], va = fctx_area(c, lsize(1), NP * PG);
	uint64_t pa = fctx_pa(c, lsize(1), NP * PG);
	unsigned i, n0;

	EXPECT_OK(c, npt_map_region(t, va, pa, NP * PG, c->rw, 0));
	EXPECT_OK(c, npt_map(t, va + NP * PG, pa, PG, c->ro)); /* a read-only page past it */
	npt_set_flush_hook(t, rec_hook, &r, 0);
	/* The first harvest takes whatever npt preset (RISC-V A/D, Arm AF, Arm
	 * writable leaves without DBM): afterwards nothing is set. */
	EXPECT_OK(c, npt_harvest(t, va, (NP + 1) * PG, what, bm));
	n0 = r.calls;
	EXPECT_OK(c, npt_harvest(t, va, (NP + 1) * PG, what, bm));
	expect_bits(c, bm, NP + 1, NULL, 0, "second harvest");
	ck_assert_msg(r.calls == n0, "[%s] a harvest that cleared nothing called the hook", c->name);

	for (i = 0; i < sizeof(writes) / sizeof(writes[0]); i++)
		ck_assert_int_eq(hw_access(t, va + writes[i] * PG + 8, 1), HW_OK);
	for (i = 0; i < sizeof(reads) / sizeof(reads[0]); i++)
		ck_assert_int_eq(hw_access(t, va + reads[i] * PG, 0), HW_OK);
	ck_assert_int_eq(hw_access(t, va + NP * PG, 1), HW_FAULT_WRITE);
	ck_assert_int_eq(hw_access(t, va + NP * PG, 0), HW_OK);

	/* peek: reported, kept, nothing to flush */
	memset(bm, 0xa5, sizeof(bm));
	EXPECT_OK(c, npt_harvest(t, va, NP * PG, what | NPT_HARVEST_PEEK, bm));
	if (what == NPT_D)
		expect_bits(c, bm, NP, writes, 4, "peek D");
	else
		expect_bits(c, bm, NP, accessed, 6, "peek A");
	ck_assert_msg(r.calls == n0, "[%s] peek called the flush hook", c->name);

	memset(bm, 0xa5, sizeof(bm));
	EXPECT_OK(c, npt_harvest(t, va, NP * PG, what, bm));
	if (what == NPT_D) {
		expect_bits(c, bm, NP, writes, 4, "harvest D");
		expect_page_runs(c, t, va, writes, 4, "harvest D");
	} else {
		expect_bits(c, bm, NP, accessed, 6, "harvest A");
		expect_page_runs(c, t, va, accessed, 6, "harvest A");
	}
	ck_assert_msg(r.calls == n0 + 1 && r.last.kind == NPT_FLUSH_RANGE,
		      "[%s] the hook did not see the harvest's flush", c->name);
	/* cleared: the next harvest finds nothing */
	EXPECT_OK(c, npt_harvest(t, va, NP * PG, what, bm));
	expect_bits(c, bm, NP, NULL, 0, "harvest after harvest");
	/* the translation itself is untouched */
	for (i = 0; i < NP; i++) {
		uint64_t qpa;
		unsigned qf;

		EXPECT_OK(c, npt_query(t, va + i * PG, &qpa, &qf, NULL));
		ck_assert_msg(qpa == pa + i * PG && (qf & (NPT_R | NPT_W | NPT_X)) == c->rw,
			      "[%s] page %u changed by harvest: pa 0x%llx flags 0x%x", c->name, i,
			      (unsigned long long)qpa, qf);
		if (what == NPT_D)
			ck_assert_int_eq(hw_access(t, va + i * PG, 1), HW_OK);
	}
	/* the read-only page: accessed, never dirty */
	EXPECT_OK(c, npt_harvest(t, va + NP * PG, PG, what, bm));
	ck_assert_int_eq(bit(bm, 0), what == NPT_A);
	if (what == NPT_D) {
		/* every page written since the last harvest */
		EXPECT_OK(c, npt_harvest(t, va, NP * PG, what, bm));
		for (i = 0; i < NP / 64; i++)
			ck_assert_msg(bm[i] == ~0ull, "[%s] word %u = 0x%llx after writing every page",
				      c->name, i, (unsigned long long)bm[i]);
	}
	check_tree(c, t, 0, NULL);
	npt_free(t);
	ck_assert_uint_eq(testmm_live(&c->mm), 0);
}

START_TEST(t_pages)
{
	struct fctx c;

	fctx_init(&c, (unsigned)_i, POOL, 1);
	if (has(&c, NPT_FEATURE_ACCESSED))
		pages_case(&c, NPT_A);
	if (has(&c, NPT_FEATURE_DIRTY))
		pages_case(&c, NPT_D);
	fctx_fini(&c);
}
END_TEST

/* ---- huge leaves ----------------------------------------------------------------- */

START_TEST(t_huge)
{
	struct fctx c;
	struct npt_table *t;
	uint64_t *bm, va, pa, hs;
	unsigned what, i, level;
	struct npt_flush f;

	fctx_init(&c, (unsigned)_i, POOL, 1);
	if (!fctx_has_leaf(&c, 1) || !has(&c, NPT_FEATURE_ACCESSED | NPT_FEATURE_DIRTY)) {
		fctx_fini(&c);
		return;
	}
	level = fctx_has_leaf(&c, 2) && fctx_fits(&c, lsize(2), 2 * lsize(2)) ? 2 : 1;
	hs = lsize(level);
	bm = calloc(2 * hs / PG / 64 + 1, sizeof(*bm));
	for (what = NPT_A; what <= NPT_D; what <<= 1) {
		if (!has(&c, what == NPT_A ? NPT_FEATURE_ACCESSED : NPT_FEATURE_DIRTY))
			continue;
		t = fctx_new(&c);
		va = fctx_area(&c, hs, 2 * hs);
		pa = fctx_pa(&c, hs, 2 * hs);
		TU_CTX("what %#x level %u", what, level);
		EXPECT_OK(&c, npt_map(t, va, pa, hs, c.rw));
		EXPECT_OK(&c, npt_map_region(t, va + hs, pa + hs, 4 * PG, c.rw, 0));
		EXPECT_OK(&c, npt_harvest(t, va, hs + 4 * PG, what, bm));
		EXPECT_OK(&c, npt_harvest(t, va, hs + 4 * PG, what, bm));
		for (i = 0; i < (hs + 4 * PG) / PG; i++)
			ck_assert_msg(!bit(bm, i), "[%s] bit %u set after two harvests", c.name, i);

		/* one write anywhere in the huge leaf: all of its pages */
		ck_assert_int_eq(hw_access(t, va + 7 * PG + 0x10, what == NPT_D), HW_OK);
		ck_assert_int_eq(hw_access(t, va + hs + 2 * PG, what == NPT_D), HW_OK);
		/* a part of it: refused unless peeking */
		EXPECT_FAIL(&c, t, npt_harvest(t, va + PG, hs, what, bm), NPT_ERR_HUGE);
		EXPECT_FAIL(&c, t, npt_harvest(t, va, 2 * PG, what, bm), NPT_ERR_HUGE);
		EXPECT_OK(&c, npt_harvest(t, va + hs - 2 * PG, 4 * PG, what | NPT_HARVEST_PEEK, bm));
		ck_assert_msg(bit(bm, 0) && bit(bm, 1) && !bit(bm, 2) && bit(bm, 3) == 0,
			      "[%s] peek across the huge leaf's end: bits %d%d%d%d", c.name,
			      bit(bm, 0), bit(bm, 1), bit(bm, 2), bit(bm, 3));
		EXPECT_OK(&c, npt_harvest(t, va, hs + 4 * PG, what, bm));
		for (i = 0; i < (hs + 4 * PG) / PG; i++)
			ck_assert_msg(bit(bm, i) == (i < hs / PG || i == hs / PG + 2),
				      "[%s] page %u: bit %d", c.name, i, bit(bm, i));
		npt_last_flush(t, &f);
		ck_assert_msg(f.kind == NPT_FLUSH_RANGE && f.nranges == 2 && f.ranges[0].va == va &&
				      f.ranges[0].size == hs && f.ranges[0].level == level &&
				      f.ranges[1].va == va + hs + 2 * PG && f.ranges[1].size == PG &&
				      f.ranges[1].level == 0,
			      "[%s] flush after a huge harvest: kind %u, %u runs", c.name, f.kind,
			      f.nranges);
		EXPECT_OK(&c, npt_harvest(t, va, hs + 4 * PG, what, bm));
		for (i = 0; i < (hs + 4 * PG) / PG; i++)
			ck_assert_msg(!bit(bm, i), "[%s] bit %u set after the harvest", c.name, i);
		check_tree(&c, t, 0, NULL);
		npt_free(t);
		ck_assert_uint_eq(testmm_live(&c.mm), 0);
	}
	tu_ctx[0] = 0;
	free(bm);
	fctx_fini(&c);
}
END_TEST

/* ---- Arm DBM: the dirty state is the write permission --------------------------- */

START_TEST(t_dbm)
{
	struct fctx c;
	struct npt_table *t;
	uint64_t bm[1], va, pa, pte;
	unsigned flags;

	fctx_init(&c, (unsigned)_i, POOL, 1);
	t = fctx_new(&c);
	if (!hw_dbm_bit(t)) {
		npt_free(t);
		fctx_fini(&c);
		return;
	}
	va = fctx_area(&c, lsize(1), 4 * PG);
	pa = fctx_pa(&c, lsize(1), 4 * PG);
	EXPECT_OK(&c, npt_map_region(t, va, pa, 2 * PG, c.rw, 0));
	EXPECT_OK(&c, npt_map(t, va + 2 * PG, pa, PG, c.ro));
	pte = hw_pte(t, va);
	ck_assert_msg(!(pte & hw_dbm_bit(t)), "[%s] a fresh leaf has DBM", c.name);
	/* first harvest: writable without DBM counts dirty, and arms DBM */
	EXPECT_OK(&c, npt_harvest(t, va, 3 * PG, NPT_D, bm));
	ck_assert_msg(bm[0] == 3, "[%s] first DBM harvest 0x%llx", c.name, (unsigned long long)bm[0]);
	pte = hw_pte(t, va);
	ck_assert_msg((pte & hw_dbm_bit(t)) && !hw_writable(t, pte),
		      "[%s] not writable-clean after harvest: 0x%llx", c.name,
		      (unsigned long long)pte);
	/* still writable to the caller */
	EXPECT_OK(&c, npt_query(t, va, NULL, &flags, NULL));
	ck_assert_msg(flags & NPT_W, "[%s] a writable-clean leaf decodes read-only", c.name);
	/* the read-only leaf is never armed */
	ck_assert_msg(!(hw_pte(t, va + 2 * PG) & hw_dbm_bit(t)), "[%s] DBM on a read-only leaf",
		      c.name);
	ck_assert_int_eq(hw_access(t, va + 2 * PG, 1), HW_FAULT_WRITE);
	/* a write makes it writable-dirty; harvest reports and cleans it */
	ck_assert_int_eq(hw_access(t, va + PG, 1), HW_OK);
	ck_assert_msg(hw_writable(t, hw_pte(t, va + PG)), "[%s] hwsim did not grant the write",
		      c.name);
	EXPECT_OK(&c, npt_harvest(t, va, 3 * PG, NPT_D, bm));
	ck_assert_msg(bm[0] == 2, "[%s] DBM harvest 0x%llx", c.name, (unsigned long long)bm[0]);
	ck_assert_msg(!hw_writable(t, hw_pte(t, va + PG)), "[%s] not cleaned", c.name);
	/* npt_protect_region to the same flags makes it plainly writable again
	 * (no DBM): the next harvest counts it dirty */
	EXPECT_OK(&c, npt_protect_region(t, va, PG, c.rw));
	EXPECT_OK(&c, npt_harvest(t, va, 3 * PG, NPT_D, bm));
	ck_assert_msg(bm[0] == 1, "[%s] harvest after protect 0x%llx", c.name,
		      (unsigned long long)bm[0]);
	/* protect to read-only drops DBM: hardware must not grant writes */
	EXPECT_OK(&c, npt_protect_region(t, va, 2 * PG, c.ro));
	ck_assert_msg(!(hw_pte(t, va) & hw_dbm_bit(t)) && !(hw_pte(t, va + PG) & hw_dbm_bit(t)),
		      "[%s] DBM kept on a read-only leaf", c.name);
	ck_assert_int_eq(hw_access(t, va, 1), HW_FAULT_WRITE);
	check_tree(&c, t, 0, NULL);
	npt_free(t);
	fctx_fini(&c);
}
END_TEST

/* ---- refusals -------------------------------------------------------------------- */

START_TEST(t_bad)
{
	struct fctx c;
	struct npt_table *t;
	uint64_t bm[2], va, pa;
	unsigned what;
	int i;

	fctx_init(&c, (unsigned)_i, POOL, 1);
	t = fctx_new(&c);
	va = fctx_area(&c, lsize(1), 64 * PG);
	pa = fctx_pa(&c, lsize(1), 64 * PG);
	EXPECT_OK(&c, npt_map_region(t, va, pa, 64 * PG, c.rw, 0));
	what = has(&c, NPT_FEATURE_DIRTY) ? NPT_D : NPT_A;
	for (i = 0; i < 2; i++)
		bm[i] = 0x5a5a5a5a5a5a5a5aull;

	EXPECT_RC(&c, npt_harvest(NULL, va, PG, NPT_A, bm), NPT_ERR_INVAL);
	EXPECT_FAIL(&c, t, npt_harvest(t, va, PG, NPT_A, NULL), NPT_ERR_INVAL);
	EXPECT_FAIL(&c, t, npt_harvest(t, va, PG, 0, bm), NPT_ERR_INVAL);
	EXPECT_FAIL(&c, t, npt_harvest(t, va, PG, NPT_A | NPT_D, bm), NPT_ERR_INVAL);
	EXPECT_FAIL(&c, t, npt_harvest(t, va, PG, NPT_W, bm), NPT_ERR_INVAL);
	EXPECT_FAIL(&c, t, npt_harvest(t, va, PG, NPT_HARVEST_PEEK, bm), NPT_ERR_INVAL);
	if (has(&c, NPT_FEATURE_ACCESSED | NPT_FEATURE_DIRTY)) {
		EXPECT_FAIL(&c, t, npt_harvest(t, va + 1, PG, what, bm), NPT_ERR_ALIGN);
		EXPECT_FAIL(&c, t, npt_harvest(t, va, PG + 1, what, bm), NPT_ERR_ALIGN);
		EXPECT_FAIL(&c, t, npt_harvest(t, va, 0, what, bm), NPT_ERR_RANGE);
		EXPECT_FAIL(&c, t, npt_harvest(t, 0 - PG, 2 * PG, what, bm), NPT_ERR_RANGE);
		if (!c.info.canonical && c.info.va_bits < 64)
			EXPECT_FAIL(&c, t, npt_harvest(t, 1ull << c.info.va_bits, PG, what, bm),
				    NPT_ERR_RANGE);
		if (c.info.canonical)
			EXPECT_FAIL(&c, t, npt_harvest(t, c.lo_end, PG, what, bm), NPT_ERR_RANGE);
	}
	if (!has(&c, NPT_FEATURE_ACCESSED))
		EXPECT_FAIL(&c, t, npt_harvest(t, va, PG, NPT_A, bm), NPT_ERR_UNSUPPORTED);
	if (!has(&c, NPT_FEATURE_DIRTY))
		EXPECT_FAIL(&c, t, npt_harvest(t, va, PG, NPT_D, bm), NPT_ERR_UNSUPPORTED);
	if (!has(&c, NPT_FEATURE_ACCESSED) && !has(&c, NPT_FEATURE_DIRTY))
		EXPECT_FAIL(&c, t, npt_harvest(t, va, PG, NPT_D | NPT_HARVEST_PEEK, bm),
			    NPT_ERR_UNSUPPORTED);
	/* a failed call leaves the bitmap alone */
	for (i = 0; i < 2; i++)
		ck_assert_msg(bm[i] == 0x5a5a5a5a5a5a5a5aull, "[%s] a refused harvest wrote the bitmap",
			      c.name);

	/* shared from another table: refused (peeking is fine) */
	if (has(&c, NPT_FEATURE_ACCESSED | NPT_FEATURE_DIRTY) &&
	    fctx_fits(&c, c.root_esize, 2 * c.root_esize)) {
		struct npt_table *src = fctx_new(&c);
		uint64_t k = c.root_esize;

		EXPECT_OK(&c, npt_map(src, k, pa, PG, c.rw));
		if (k != (va & ~(c.root_esize - 1))) {
			EXPECT_OK(&c, npt_copy_from(t, src, k, c.root_esize));
			EXPECT_FAIL(&c, t, npt_harvest(t, k, PG, what, bm), NPT_ERR_SHARED);
			EXPECT_OK(&c, npt_harvest(t, k, PG, what | NPT_HARVEST_PEEK, bm));
			EXPECT_OK(&c, npt_unmap_region(t, k, c.root_esize));
		}
		npt_free(src);
	}
	npt_free(t);
	ck_assert_uint_eq(testmm_live(&c.mm), 0);
	fctx_fini(&c);
}
END_TEST

/* Unmapped pages read 0, and the whole bitmap is written. */
START_TEST(t_holes)
{
	struct fctx c;
	struct npt_table *t;
	uint64_t bm[3], va, pa;
	unsigned what;

	fctx_init(&c, (unsigned)_i, POOL, 1);
	if (!has(&c, NPT_FEATURE_ACCESSED)) {
		fctx_fini(&c);
		return;
	}
	what = NPT_A;
	t = fctx_new(&c);
	va = fctx_area(&c, lsize(1), 130 * PG);
	pa = fctx_pa(&c, lsize(1), 130 * PG);
	memset(bm, 0xff, sizeof(bm));
	EXPECT_OK(&c, npt_harvest(t, va, 130 * PG, what, bm));
	ck_assert_msg(bm[0] == 0 && bm[1] == 0 && bm[2] == 0, "[%s] empty table: bits set", c.name);
	/* NPT_A: formats that do not preset it (x86, EPT) map it as asked */
	EXPECT_OK(&c, npt_map(t, va + 70 * PG, pa, PG, c.rw | (c.info.flags & NPT_A)));
	EXPECT_OK(&c, npt_map(t, va + 129 * PG, pa, PG, c.rw | (c.info.flags & NPT_A)));
	memset(bm, 0xff, sizeof(bm));
	EXPECT_OK(&c, npt_harvest(t, va, 130 * PG, what | NPT_HARVEST_PEEK, bm));
	ck_assert_msg(bm[0] == 0 && bm[1] == 1ull << 6 && bm[2] == 1ull << 1,
		      "[%s] holes: 0x%llx 0x%llx 0x%llx", c.name, (unsigned long long)bm[0],
		      (unsigned long long)bm[1], (unsigned long long)bm[2]);
	npt_free(t);
	fctx_fini(&c);
}
END_TEST

static Suite *harvest_suite(void)
{
	Suite *s = suite_create("harvest");
	TCase *tc = tcase_create("harvest");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, t_features);
	ADD_FMT_TEST(tc, t_pages);
	ADD_FMT_TEST(tc, t_huge);
	ADD_FMT_TEST(tc, t_dbm);
	ADD_FMT_TEST(tc, t_bad);
	ADD_FMT_TEST(tc, t_holes);
	suite_add_tcase(s, tc);
	return s;
}

NPT_CHECK_MAIN(harvest_suite)
