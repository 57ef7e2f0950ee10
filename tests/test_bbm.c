/*
 * Break-before-make, with a recording hook: on the Arm formats every
 * valid-to-valid change of an output address, a memory type or a block size
 * (remap, protect to/from device memory, a split, a collapse, the splits of
 * dirty logging) calls the BBM hook exactly once per entry, with that entry
 * already invalid (readers see it unmapped, as the hardware would), and
 * writes the new entry only after the hook returns; permission, access-flag
 * and dirty-state changes are made in place and go to the flush record.
 * Without a hook nothing is broken; formats that need no BBM never call it.
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
#define MAXEV 16

struct event {
	int bbm;                 /* 1: BBM hook, 0: flush hook */
	struct npt_flush_range r;
	unsigned nranges, kind;
	int mapped_during;       /* some page of the broken run translated during the hook */
};

struct rec {
	const struct npt_table *t;
	unsigned n;
	struct event ev[MAXEV];
};

static struct rec rec;

static void bbm_hook(void *arg, const struct npt_flush *f)
{
	struct rec *r = arg;
	struct event *e;
	uint64_t off;

	ck_assert_uint_lt(r->n, MAXEV);
	e = &r->ev[r->n++];
	e->bbm = 1;
	e->kind = f->kind;
	e->nranges = f->nranges;
	e->r = f->ranges[0];
	e->mapped_during = 0;
	/* the whole run is invalid now: first, last and a few pages between */
	for (off = 0; off < f->ranges[0].size; off += f->ranges[0].size / 4 + PG)
		e->mapped_during |= npt_query(r->t, f->ranges[0].va + off, NULL, NULL, NULL) == 0;
	e->mapped_during |=
		npt_query(r->t, f->ranges[0].va + f->ranges[0].size - 1, NULL, NULL, NULL) == 0;
}

static void flush_hook(void *arg, const struct npt_flush *f)
{
	struct rec *r = arg;
	struct event *e;

	ck_assert_uint_lt(r->n, MAXEV);
	e = &r->ev[r->n++];
	e->bbm = 0;
	e->kind = f->kind;
	e->nranges = f->nranges;
	memset(&e->r, 0, sizeof(e->r));
	if (f->nranges)
		e->r = f->ranges[0];
}

static int is_bbm(const struct fctx *c)
{
	return (c->info.features & NPT_FEATURE_BBM) != 0;
}

/* The call broke exactly one run [va, va + size) at level (flags), and then
 * reported no flush of its own, or (flush_after) one flush after it. */
static void expect_break(const struct fctx *c, uint64_t va, uint64_t size, unsigned level,
			 unsigned flags, int flush_after, const char *what)
{
	const struct event *e = &rec.ev[0];

	if (!is_bbm(c)) {
		unsigned i;

		for (i = 0; i < rec.n; i++)
			ck_assert_msg(!rec.ev[i].bbm, "[%s] %s: BBM hook called", c->name, what);
		rec.n = 0;
		return;
	}
	ck_assert_msg(rec.n >= 1 && e->bbm, "[%s] %s: no break (%u events)", c->name, what, rec.n);
	ck_assert_msg(e->kind == NPT_FLUSH_RANGE && e->nranges == 1 && e->r.va == va &&
			      e->r.size == size && e->r.level == level && e->r.flags == flags,
		      "[%s] %s: broke [0x%llx +0x%llx) level %u flags %u, expected [0x%llx +0x%llx) "
		      "level %u flags %u",
		      c->name, what, (unsigned long long)e->r.va, (unsigned long long)e->r.size,
		      e->r.level, e->r.flags, (unsigned long long)va, (unsigned long long)size, level,
		      flags);
	ck_assert_msg(!e->mapped_during, "[%s] %s: the run still translated in the hook", c->name,
		      what);
	ck_assert_msg(rec.n == 1 + (unsigned)flush_after, "[%s] %s: %u events, expected %d",
		      c->name, what, rec.n, 1 + flush_after);
	if (flush_after)
		ck_assert_msg(!rec.ev[1].bbm, "[%s] %s: second break", c->name, what);
	rec.n = 0;
}

/* No break; one flush record (or none). */
static void expect_in_place(const struct fctx *c, int flush, const char *what)
{
	ck_assert_msg(rec.n == (unsigned)flush && (!flush || !rec.ev[0].bbm),
		      "[%s] %s: %u events (%s), expected %d flush", c->name, what, rec.n,
		      rec.n && rec.ev[0].bbm ? "a break" : "no break", flush);
	rec.n = 0;
}

START_TEST(t_changes)
{
	struct fctx c;
	struct npt_table *t;
	uint64_t va, pa, hs = lsize(1), got, bm[8];
	unsigned flags;

	fctx_init(&c, (unsigned)_i, POOL, 1);
	t = fctx_new(&c);
	memset(&rec, 0, sizeof(rec));
	rec.t = t;
	npt_set_bbm_hook(t, bbm_hook, &rec);
	npt_set_flush_hook(t, flush_hook, &rec, 0);
	va = fctx_area(&c, hs, 4 * hs);
	pa = fctx_pa(&c, hs, 4 * hs);
	EXPECT_OK(&c, npt_map_region(t, va, pa, hs, c.rw, 0));
	EXPECT_OK(&c, npt_map(t, va + hs, pa + hs, hs, c.rw));
	expect_in_place(&c, 0, "maps into empty space");

	/* a new output address */
	EXPECT_OK(&c, npt_remap(t, va + 3 * PG, pa + 3 * hs, c.rw));
	expect_break(&c, va + 3 * PG, PG, 0, 0, 0, "remap 4K");
	EXPECT_OK(&c, npt_query(t, va + 3 * PG, &got, NULL, NULL));
	ck_assert_uint_eq(got, pa + 3 * hs);
	EXPECT_OK(&c, npt_remap(t, va + hs, pa + 2 * hs, c.rw));
	expect_break(&c, va + hs, hs, 1, 0, 0, "remap 2M");
	EXPECT_OK(&c, npt_query(t, va + hs + 5, &got, NULL, NULL));
	ck_assert_uint_eq(got, pa + 2 * hs + 5);

	/* a new memory type, and a permission */
	if (c.info.flags & NPT_DEVICE) {
		EXPECT_OK(&c, npt_protect(t, va + 4 * PG, c.rw | NPT_DEVICE));
		expect_break(&c, va + 4 * PG, PG, 0, 0, 0, "protect 4K to device");
		EXPECT_OK(&c, npt_query(t, va + 4 * PG, NULL, &flags, NULL));
		ck_assert_msg(flags & NPT_DEVICE, "[%s] device protect lost", c.name);
		EXPECT_OK(&c, npt_protect_region(t, va + hs, hs, c.rw | NPT_DEVICE));
		expect_break(&c, va + hs, hs, 1, 0, 0, "protect 2M to device");
	}
	EXPECT_OK(&c, npt_protect(t, va + 5 * PG, c.rw & ~NPT_W));
	expect_in_place(&c, 1, "protect 4K read-only");
	EXPECT_OK(&c, npt_protect_region(t, va + hs, hs, c.rw));
	if (c.info.flags & NPT_DEVICE)
		expect_break(&c, va + hs, hs, 1, 0, 0, "protect 2M back to normal");
	EXPECT_OK(&c, npt_protect_region(t, va + hs, hs, c.rw & ~NPT_W));
	expect_in_place(&c, 1, "protect 2M read-only");

	/* a block becomes a table: the split */
	EXPECT_OK(&c, npt_protect_region(t, va + hs + 9 * PG, PG, c.rw));
	expect_break(&c, va + hs, hs, 1, 0, 0, "split by protect_region");
	EXPECT_OK(&c, npt_query(t, va + hs + 9 * PG, &got, &flags, NULL));
	ck_assert_msg(got == pa + 2 * hs + 9 * PG && (flags & NPT_W), "[%s] split result",
		      c.name);

	/* removing needs no break */
	EXPECT_OK(&c, npt_unmap(t, va + 6 * PG, NULL, NULL));
	expect_in_place(&c, 1, "unmap");
	EXPECT_OK(&c, npt_map(t, va + 6 * PG, pa + 6 * PG, PG, c.rw));
	expect_in_place(&c, 0, "map into a hole");

	/* a table becomes a block: the collapse */
	EXPECT_OK(&c, npt_remap(t, va + 3 * PG, pa + 3 * PG, c.rw));
	EXPECT_OK(&c, npt_protect(t, va + 4 * PG, c.rw));
	EXPECT_OK(&c, npt_protect(t, va + 5 * PG, c.rw));
	rec.n = 0;
	EXPECT_OK(&c, npt_collapse(t, va, hs));
	expect_break(&c, va, hs, 1, NPT_FLUSH_TABLE, 0, "collapse");
	check_mapped(&c, t, va, pa, hs, c.rw, __LINE__);

	/* state changes are made in place */
	if (c.info.features & NPT_FEATURE_ACCESSED) {
		/* a flush where there was state to clear: npt's presets */
		EXPECT_OK(&c, npt_harvest(t, va, hs, NPT_A, bm));
		expect_in_place(&c, (c.extra_rw & NPT_A) ? 1 : 0, "harvest A");
	}
	if (c.info.features & NPT_FEATURE_DIRTY) {
		EXPECT_OK(&c, npt_harvest(t, va, hs, NPT_D, bm));
		expect_in_place(&c, (c.info.features & NPT_FEATURE_BBM) || (c.extra_rw & NPT_D) ? 1 : 0,
				"harvest D");
	}

	/* dirty logging's splits */
	EXPECT_OK(&c, npt_log_start(t, va, hs, NPT_LOG_LAZY));
	expect_in_place(&c, 1, "log start on a huge leaf (lazy)");
	EXPECT_OK(&c, npt_log_write_fault(t, va + 7 * PG));
	expect_break(&c, va, hs, 1, 0, 1, "lazy log split");
	EXPECT_OK(&c, npt_log_stop(t, va, hs));
	rec.n = 0;
	EXPECT_OK(&c, npt_collapse(t, va, hs));
	expect_break(&c, va, hs, 1, NPT_FLUSH_TABLE, 0, "collapse after logging");
	EXPECT_OK(&c, npt_log_start(t, va, hs, NPT_LOG_EAGER));
	expect_break(&c, va, hs, 1, 0, 0, "eager log split");
	npt_free(t);
	ck_assert_uint_eq(testmm_live(&c.mm), 0);
	fctx_fini(&c);
}
END_TEST

/* npt_copy_from taking a shared root entry over from another lender changes
 * a valid table address: broken first on the Arm formats, a flushed table
 * run elsewhere. */
START_TEST(t_copy_from)
{
	struct fctx c;
	struct npt_table *a, *b, *t;
	uint64_t pa, got = 0;
	struct npt_flush f;

	fctx_init(&c, (unsigned)_i, POOL, 1);
	a = fctx_new(&c);
	b = fctx_new(&c);
	t = fctx_new(&c);
	pa = fctx_pa(&c, PG, 2 * PG);
	EXPECT_OK(&c, npt_map(a, PG, pa, PG, c.rw));
	EXPECT_OK(&c, npt_map(b, PG, pa + PG, PG, c.rw));
	memset(&rec, 0, sizeof(rec));
	rec.t = t;
	npt_set_bbm_hook(t, bbm_hook, &rec);
	npt_set_flush_hook(t, flush_hook, &rec, 0);
	EXPECT_OK(&c, npt_copy_from(t, a, 0, c.root_esize));
	expect_in_place(&c, 0, "first share of an empty slot");
	EXPECT_OK(&c, npt_copy_from(t, b, 0, c.root_esize));
	if (!is_bbm(&c)) {
		expect_in_place(&c, 1, "share taken over from another lender");
		npt_last_flush(t, &f);
		ck_assert_msg(f.kind == NPT_FLUSH_RANGE && f.nranges >= 1 && f.ranges[0].va == 0 &&
				      f.ranges[0].size == c.root_esize &&
				      (f.ranges[0].flags & NPT_FLUSH_TABLE),
			      "[%s] re-share flush", c.name);
	} else {
		expect_break(&c, 0, c.root_esize, c.root_level, NPT_FLUSH_TABLE, 0,
			     "share taken over from another lender");
	}
	EXPECT_OK(&c, npt_query(t, PG, &got, NULL, NULL));
	ck_assert_uint_eq(got, pa + PG);
	npt_free(t);
	npt_free(b);
	npt_free(a);
	ck_assert_uint_eq(testmm_live(&c.mm), 0);
	fctx_fini(&c);
}
END_TEST

/* Without a hook nothing is broken: the flush record covers the change. */
START_TEST(t_no_hook)
{
	struct fctx c;
	struct npt_table *t;
	uint64_t va, pa, hs = lsize(1);
	struct npt_flush f;

	fctx_init(&c, (unsigned)_i, POOL, 1);
	t = fctx_new(&c);
	memset(&rec, 0, sizeof(rec));
	rec.t = t;
	npt_set_flush_hook(t, flush_hook, &rec, 0);
	va = fctx_area(&c, hs, 2 * hs);
	pa = fctx_pa(&c, hs, 4 * hs);
	EXPECT_OK(&c, npt_map(t, va, pa, hs, c.rw));
	EXPECT_OK(&c, npt_remap(t, va, pa + 2 * hs, c.rw));
	expect_in_place(&c, 1, "remap without a hook");
	npt_last_flush(t, &f);
	ck_assert_msg(f.kind == NPT_FLUSH_RANGE && f.nranges == 1 && f.ranges[0].va == va &&
			      f.ranges[0].size == hs && f.ranges[0].level == 1,
		      "[%s] remap flush without a hook", c.name);
	EXPECT_OK(&c, npt_protect_region(t, va + PG, PG, c.rw & ~NPT_W));
	expect_in_place(&c, 1, "split without a hook");
	/* a hook set and removed again */
	npt_set_bbm_hook(t, bbm_hook, &rec);
	npt_set_bbm_hook(t, NULL, NULL);
	EXPECT_OK(&c, npt_protect_region(t, va + PG, PG, c.rw));
	rec.n = 0;
	EXPECT_OK(&c, npt_collapse(t, va, hs));
	expect_in_place(&c, 1, "collapse without a hook");
	npt_free(t);
	fctx_fini(&c);
}
END_TEST

static Suite *bbm_suite(void)
{
	Suite *s = suite_create("bbm");
	TCase *tc = tcase_create("bbm");

	tcase_set_timeout(tc, 60);
	ADD_FMT_TEST(tc, t_changes);
	ADD_FMT_TEST(tc, t_no_hook);
	ADD_FMT_TEST(tc, t_copy_from);
	suite_add_tcase(s, tc);
	return s;
}

NPT_CHECK_MAIN(bbm_suite)
