/*
 * npt_query_batch on every format, with a linear and a non-linear allocator:
 * for every address, err[i] and pa[i] are what npt_query(t, va[i], &pa, NULL,
 * NULL) says (pa[i] = 0 where it fails), for random mixes of mapped 4 KiB
 * pages, pages inside huge leaves, unmapped addresses, addresses above the
 * input width and non-canonical ones, in batches of 0 to 1000 (below, at and
 * around the pipeline's distance of 16 and its multiples, so that every
 * prologue and tail is taken), all mapped and mixed; translation in place
 * (pa == va); NULL arguments.
 */
#include <stdlib.h>
#include <string.h>

#include "lib/check_main.h"
#include "lib/tutil.h"

#define MAXN 1000

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

struct layout {
	uint64_t va4k, pa4k, size4k;   /* 4 KiB leaves */
	uint64_t vahuge, sizehuge;     /* leaves of the lowest huge size, or size 0 */
	unsigned huge_level;
	uint64_t hole;                 /* an unmapped area of 2 MiB next to va4k's table */
};

static void build(struct fctx *c, struct npt_table *t, struct layout *l)
{
	unsigned lv;

	memset(l, 0, sizeof(*l));
	l->size4k = 64 * PG;
	l->va4k = fctx_area(c, lsize(1), 4 * lsize(1));
	l->pa4k = fctx_pa(c, lsize(1), 4 * lsize(1));
	/* pages 0..63 of the first 2 MiB, with holes at every 5th page */
	EXPECT_OK(c, npt_map_region(t, l->va4k, l->pa4k, l->size4k, c->rw, 0));
	for (lv = 0; lv < 64; lv += 5)
		EXPECT_OK(c, npt_unmap(t, l->va4k + lv * PG, NULL, NULL));
	l->hole = l->va4k + 2 * lsize(1);
	for (lv = 1; lv < TU_MAX_LEVELS; lv++)
		if (fctx_has_leaf(c, lv))
			break;
	if (lv < TU_MAX_LEVELS && lsize(lv) <= lsize(1)) {
		l->huge_level = lv;
		l->sizehuge = lsize(lv);
		l->vahuge = l->va4k + lsize(1);
		EXPECT_OK(c, npt_map_region(t, l->vahuge, l->pa4k + lsize(1), l->sizehuge, c->rw,
					    fctx_opts(c, 1u << lv)));
	}
}

/* A random address of one of the kinds the batch must agree on. */
static uint64_t pick(const struct fctx *c, const struct layout *l, uint64_t *s, int mapped_only)
{
	uint64_t r = rnd(s);
	unsigned kind = mapped_only ? 0 : (unsigned)(r % 9);

	r = rnd(s);
	switch (kind) {
	case 0:
	case 1:
	case 2: /* 4 KiB area: mapped, or one of its holes when not mapped_only */
		for (;;) {
			uint64_t page = r % 64;

			if (!mapped_only || page % 5)
				return l->va4k + page * PG + (r >> 32) % PG;
			r = rnd(s);
		}
	case 3: /* inside a huge leaf, or the rest of its 2 MiB */
		return l->vahuge + r % lsize(1);
	case 4: /* unmapped, table present above it */
		return l->va4k + 64 * PG + r % (lsize(1) - 64 * PG);
	case 5: /* unmapped, no table */
		return l->hole + r % lsize(1);
	case 6: /* anywhere at all: mostly out of range or non-canonical */
		return r;
	case 7: /* just past the low half (non-canonical or above the width) */
		return c->lo_end + r % (1ull << 20);
	default: /* the high half (canonical) or the top of the space */
		return c->hi_start ? c->hi_start + r % (1ull << 30) : ~0ull - r % (1ull << 20);
	}
}

static void compare(struct fctx *c, const struct npt_table *t, const uint64_t *va, size_t n,
		    const char *what)
{
	static uint64_t pa[MAXN], inplace[MAXN];
	static int err[MAXN];
	size_t i;

	for (i = 0; i < n; i++) {
		pa[i] = 0x5a5a5a5a5a5a5a5aull;
		err[i] = 12345;
	}
	EXPECT_OK(c, npt_query_batch(t, va, n, pa, err));
	for (i = 0; i < n; i++) {
		uint64_t p = 0;
		int e = npt_query(t, va[i], &p, NULL, NULL);

		ck_assert_msg(err[i] == e && pa[i] == (e ? 0 : p),
			      "[%s] %s n=%zu [%zu] va=%#llx: batch err %d pa %#llx, npt_query %d pa %#llx",
			      c->name, what, n, i, (unsigned long long)va[i], err[i],
			      (unsigned long long)pa[i], e, (unsigned long long)p);
	}
	/* in place */
	memcpy(inplace, va, n * sizeof(*va));
	EXPECT_OK(c, npt_query_batch(t, inplace, n, inplace, err));
	for (i = 0; i < n; i++)
		ck_assert_msg(inplace[i] == pa[i], "[%s] %s n=%zu [%zu]: in place %#llx, not %#llx",
			      c->name, what, n, i, (unsigned long long)inplace[i],
			      (unsigned long long)pa[i]);
}

static void run(int idx, int linear)
{
	static const size_t sizes[] = { 0,  1,  2,  7,  8,  9,  15, 16, 17, 23, 31, 32,
					33, 40, 47, 48, 49, 63, 64, 65, 255, 256, 257, 1000 };
	static uint64_t va[MAXN];
	struct fctx c;
	struct npt_table *t;
	struct layout l;
	uint64_t s = 0x243f6a8885a308d3ull ^ (uint64_t)idx * 0x9e3779b97f4a7c15ull;
	size_t z, i;
	int round;

	fctx_init(&c, (unsigned)idx, 512, linear);
	t = fctx_new(&c);
	build(&c, t, &l);
	for (z = 0; z < sizeof(sizes) / sizeof(sizes[0]); z++) {
		for (round = 0; round < 40; round++) {
			int mapped_only = round % 4 == 0;

			for (i = 0; i < sizes[z]; i++)
				va[i] = pick(&c, &l, &s, mapped_only);
			/* now and then one odd address in an otherwise mapped group */
			if (mapped_only && sizes[z] && round % 8 == 4)
				va[rnd(&s) % sizes[z]] = pick(&c, &l, &s, 0);
			TU_CTX("linear=%d round=%d", linear, round);
			compare(&c, t, va, sizes[z], mapped_only ? "mapped" : "mixed");
		}
	}
	/* every page of the 4 KiB area in order, huge area's pages too */
	for (i = 0; i < MAXN; i++)
		va[i] = l.va4k + (i % 128) * PG + i;
	compare(&c, t, va, MAXN, "sweep");
	tu_ctx[0] = 0;
	npt_free(t);
	ck_assert_uint_eq(testmm_live(&c.mm), 0);
	fctx_fini(&c);
}

START_TEST(t_batch_linear)
{
	run(_i, 1);
}
END_TEST

START_TEST(t_batch_nonlinear)
{
	run(_i, 0);
}
END_TEST

START_TEST(t_batch_null)
{
	struct fctx c;
	struct npt_table *t;
	uint64_t va[2], pa[2] = { 7, 7 };
	int err[2] = { 7, 7 };

	fctx_init(&c, (unsigned)_i, 64, 1);
	t = fctx_new(&c);
	va[0] = fctx_area(&c, lsize(1), lsize(1));
	va[1] = va[0] + PG;
	EXPECT_OK(&c, npt_map(t, va[0], 0, PG, c.rw));
	EXPECT_RC(&c, npt_query_batch(NULL, va, 2, pa, err), NPT_ERR_INVAL);
	EXPECT_RC(&c, npt_query_batch(NULL, NULL, 0, NULL, NULL), NPT_ERR_INVAL);
	EXPECT_RC(&c, npt_query_batch(t, NULL, 2, pa, err), NPT_ERR_INVAL);
	EXPECT_RC(&c, npt_query_batch(t, va, 2, NULL, err), NPT_ERR_INVAL);
	EXPECT_RC(&c, npt_query_batch(t, va, 2, pa, NULL), NPT_ERR_INVAL);
	ck_assert_msg(pa[0] == 7 && pa[1] == 7 && err[0] == 7 && err[1] == 7,
		      "[%s] a refused call wrote its outputs", c.name);
	EXPECT_OK(&c, npt_query_batch(t, NULL, 0, NULL, NULL));
	EXPECT_OK(&c, npt_query_batch(t, va, 0, pa, err));
	ck_assert_msg(pa[0] == 7 && err[0] == 7, "[%s] n = 0 wrote its outputs", c.name);
	EXPECT_OK(&c, npt_query_batch(t, va, 2, pa, err));
	ck_assert_msg(err[0] == 0 && pa[0] == 0 && err[1] == NPT_ERR_NOT_MAPPED && pa[1] == 0,
		      "[%s] err %d %d pa %#llx %#llx", c.name, err[0], err[1],
		      (unsigned long long)pa[0], (unsigned long long)pa[1]);
	npt_free(t);
	fctx_fini(&c);
}
END_TEST

static Suite *batch_suite(void)
{
	Suite *s = suite_create("query_batch");
	TCase *tc = tcase_create("batch");

	tcase_set_timeout(tc, 60);
	ADD_FMT_TEST(tc, t_batch_linear);
	ADD_FMT_TEST(tc, t_batch_nonlinear);
	ADD_FMT_TEST(tc, t_batch_null);
	suite_add_tcase(s, tc);
	return s;
}

NPT_CHECK_MAIN(batch_suite)
