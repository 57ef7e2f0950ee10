/*
 * Every public call of the engine on every format: success paths, each error
 * path, and "a failed call changes nothing and keeps no frame" (snapshot of
 * every walked entry plus the raw bytes of every table, npt_table_frames and
 * the pool's live count, compared before and after).
 *
 * Readings of npt.h this suite relies on (where the header leaves room):
 *  - Output pointers of npt_query / npt_unmap may be NULL.
 *  - npt_map of a page inside (or at the base of) a larger leaf may fail
 *    with NPT_ERR_ALREADY_MAPPED or NPT_ERR_HUGE; both describe it.
 *  - npt_map with a page_size that is not a leaf size of the format fails
 *    with NPT_ERR_ALIGN, NPT_ERR_INVAL or NPT_ERR_UNSUPPORTED (the header
 *    names none; all three are accepted, nothing may change).
 *  - Single-entry npt_unmap frees the tables it empties, like the region
 *    form (a VMM unmapping 4 KiB pages one by one must not leak tables).
 *  - A range may end exactly at 2^64 (the top of a canonical high half);
 *    only a range whose last byte wraps is a wrap-around.
 *  - npt_free(NULL) does nothing.
 *  - The flush hook is called only after a call that succeeded and needs a
 *    flush; a partial split must flush the whole huge leaf it replaced.
 *  - Dropping a share with npt_unmap_region works whatever src maps below
 *    the shared entry (sparse is the normal case).
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

/* ---- formats, info, strerror ----------------------------------------------- */

START_TEST(t_formats)
{
	const char *const *names = npt_format_names();
	struct npt_format_info info;
	static const int codes[] = {
		NPT_OK, NPT_ERR_NOMEM, NPT_ERR_ALIGN, NPT_ERR_NOT_MAPPED, NPT_ERR_ALREADY_MAPPED,
		NPT_ERR_HUGE, NPT_ERR_RANGE, NPT_ERR_FLAGS, NPT_ERR_INVAL, NPT_ERR_SHARED,
		NPT_ERR_UNSUPPORTED, NPT_ERR_PERM, NPT_ERR_RESERVED, NPT_ERR_ACCESSED,
	};
	unsigned i, j, n = fmt_count();

	ck_assert_ptr_nonnull(names);
	ck_assert_msg(n > 0, "no formats");
	for (i = 0; i < n; i++) {
		const struct npt_format *f = npt_format_by_name(names[i]);

		ck_assert_msg(f != NULL, "npt_format_by_name(\"%s\") = NULL", names[i]);
		ck_assert_int_eq(npt_format_info(f, &info), 0);
		ck_assert_str_eq(info.name, names[i]);
		ck_assert_ptr_nonnull(info.description);
		for (j = 0; j < i; j++) {
			ck_assert_msg(strcmp(names[i], names[j]) != 0, "format %s listed twice",
				      names[i]);
			ck_assert_msg(npt_format_by_name(names[j]) != f, "two names, one format");
		}
	}
	ck_assert_ptr_null(npt_format_by_name("no-such-format"));
	ck_assert_ptr_null(npt_format_by_name(""));
	ck_assert_ptr_null(npt_format_by_name(NULL));
	ck_assert_int_eq(npt_format_info(NULL, &info), NPT_ERR_INVAL);
	ck_assert_int_eq(npt_format_info(npt_format_by_name(names[0]), NULL), NPT_ERR_INVAL);

	for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		const char *s = npt_strerror(codes[i]);

		ck_assert_msg(s && *s, "npt_strerror(%d) empty", codes[i]);
		for (j = 0; j < i; j++)
			ck_assert_msg(strcmp(s, npt_strerror(codes[j])) != 0,
				      "npt_strerror(%d) == npt_strerror(%d)", codes[i], codes[j]);
	}
	ck_assert_ptr_nonnull(npt_strerror(-12345));
	ck_assert_ptr_nonnull(npt_strerror(12345));
}
END_TEST

START_TEST(t_info)
{
	struct fctx c;
	const struct npt_format_info *in;
	unsigned l, root_bits;

	fctx_init(&c, (unsigned)_i, 64, 1);
	in = &c.info;
	ck_assert_msg(in->levels >= 2 && in->levels <= 5, "[%s] levels %u", c.name, in->levels);
	root_bits = in->va_bits - (12 + 9 * (in->levels - 1));
	ck_assert_msg(in->va_bits > 12 + 9 * (in->levels - 1) && root_bits <= 13,
		      "[%s] va_bits %u does not fit %u levels", c.name, in->va_bits, in->levels);
	ck_assert_msg(in->root_entries == 1u << root_bits, "[%s] root_entries %u, expected %u",
		      c.name, in->root_entries, 1u << root_bits);
	ck_assert_msg(in->root_frames == (in->root_entries > 512 ? in->root_entries / 512 : 1),
		      "[%s] root_frames %u for %u entries", c.name, in->root_frames,
		      in->root_entries);
	ck_assert_msg(in->pa_bits >= 32 && in->pa_bits <= 64, "[%s] pa_bits %u", c.name,
		      in->pa_bits);
	ck_assert_msg(in->leaf_sizes & (1ull << 12), "[%s] no 4 KiB leaves", c.name);
	for (l = 0; l < 64; l++)
		if (in->leaf_sizes >> l & 1)
			ck_assert_msg(l >= 12 && (l - 12) % 9 == 0 && (l - 12) / 9 < in->levels,
				      "[%s] leaf size 2^%u is not a level size", c.name, l);
	ck_assert_msg(in->flags & NPT_R, "[%s] format does not know NPT_R", c.name);
	ck_assert_msg((in->flags & ~NPT_FLAGS_ALL) == 0, "[%s] unknown flags 0x%x", c.name,
		      in->flags);
	if (in->stage2)
		ck_assert_msg(!(in->flags & (NPT_U | NPT_G)),
			      "[%s] stage-2 format claims NPT_U/NPT_G", c.name);
	fctx_fini(&c);
}
END_TEST

/* ---- npt_new / npt_free --------------------------------------------------- */

static int fail_alloc(void *ctx, uint64_t *pa)
{
	(void)ctx;
	(void)pa;
	return -1;
}

START_TEST(t_new_free)
{
	struct fctx c;
	struct npt_table *t, *t2;
	struct npt_mm mm;
	const unsigned char *root;
	uint64_t rpa;
	size_t i;
	int err;

	fctx_init(&c, (unsigned)_i, 256, 1);
	t = fctx_new(&c);
	ck_assert_ptr_eq(npt_table_format(t), c.fmt);
	ck_assert_msg(testmm_live(&c.mm) == c.info.root_frames + HANDLE_FRAMES,
		      "[%s] live %zu after npt_new",
		      c.name, testmm_live(&c.mm));
	ck_assert_uint_eq(npt_table_frames(t), c.info.root_frames);
	rpa = npt_root(t);
	ck_assert_msg(rpa % (c.info.root_frames * PG) == 0, "[%s] root 0x%llx misaligned", c.name,
		      (unsigned long long)rpa);
	for (i = 0; i < c.info.root_frames; i++)
		ck_assert_msg(testmm_is_allocated(&c.mm, rpa + i * PG),
			      "[%s] root frame %zu not allocated", c.name, i);
	root = testmm_va(&c.mm, rpa);
	for (i = 0; i < c.info.root_frames * PG; i++)
		ck_assert_msg(root[i] == 0, "[%s] root byte %zu = 0x%x: root not zeroed", c.name,
			      i, root[i]);
	check_tree(&c, t, 0, NULL);

	/* two tables from one pool do not share a root */
	t2 = fctx_new(&c);
	ck_assert_msg(npt_root(t2) != rpa, "[%s] two tables, one root", c.name);
	ck_assert_uint_eq(testmm_live(&c.mm), 2 * (c.info.root_frames + HANDLE_FRAMES));
	npt_free(t2);
	npt_free(t);
	ck_assert_msg(testmm_live(&c.mm) == 0, "[%s] npt_free left %zu frames", c.name,
		      testmm_live(&c.mm));
	npt_free(NULL);

	/* NULL format, NULL mm, an mm without its functions */
	err = 0;
	ck_assert_ptr_null(npt_new(NULL, &c.mm.mm, &err));
	ck_assert_int_eq(err, NPT_ERR_INVAL);
	err = 0;
	ck_assert_ptr_null(npt_new(c.fmt, NULL, &err));
	ck_assert_int_eq(err, NPT_ERR_INVAL);
	mm = c.mm.mm;
	mm.alloc = NULL;
	err = 0;
	ck_assert_ptr_null(npt_new(c.fmt, &mm, &err));
	ck_assert_int_eq(err, NPT_ERR_INVAL);
	mm = c.mm.mm;
	mm.free = NULL;
	err = 0;
	ck_assert_ptr_null(npt_new(c.fmt, &mm, &err));
	ck_assert_int_eq(err, NPT_ERR_INVAL);
	mm = c.mm.mm;
	mm.phys_to_virt = NULL;
	mm.flags = 0;
	err = 0;
	ck_assert_ptr_null(npt_new(c.fmt, &mm, &err));
	ck_assert_int_eq(err, NPT_ERR_INVAL);
	ck_assert_uint_eq(testmm_live(&c.mm), 0);

	/* a multi-frame root needs alloc_contig */
	if (c.info.root_frames > 1) {
		mm = c.mm.mm;
		mm.alloc_contig = NULL;
		mm.free_contig = NULL;
		err = 0;
		t = npt_new(c.fmt, &mm, &err);
		ck_assert_msg(t == NULL && err == NPT_ERR_INVAL,
			      "[%s] %u-frame root without alloc_contig: err %d", c.name,
			      c.info.root_frames, err);
		ck_assert_uint_eq(testmm_live(&c.mm), 0);
	}

	/* the allocator says no */
	mm = c.mm.mm;
	mm.alloc = fail_alloc;
	if (c.info.root_frames > 1)
		testmm_fail_after(&c.mm, 0);
	err = 0;
	t = npt_new(c.fmt, &mm, &err);
	ck_assert_msg(t == NULL && err == NPT_ERR_NOMEM, "[%s] npt_new with a failing mm: err %d",
		      c.name, err);
	testmm_fail_after(&c.mm, -1);
	ck_assert_uint_eq(testmm_live(&c.mm), 0);

	/* err may be NULL */
	t = npt_new(c.fmt, &c.mm.mm, NULL);
	ck_assert_ptr_nonnull(t);
	npt_free(t);
	ck_assert_ptr_null(npt_new(NULL, &c.mm.mm, NULL));
	ck_assert_uint_eq(testmm_live(&c.mm), 0);
	fctx_fini(&c);
}
END_TEST

/* npt_abandon: the handle goes, nothing else. Every table frame is
 * overwritten with garbage (present entries pointing nowhere: npt_free
 * would follow them, and testmm aborts on a frame it never handed out); the
 * call must read none of it and give back no frame but the handle's own
 * (npt_new took it from the pool: it is the frame holding t). */
START_TEST(t_abandon)
{
	struct fctx c;
	struct npt_table *t;
	uint64_t va = 0, step = lsize(1);
	unsigned long frees;
	size_t live, i;

	fctx_init(&c, (unsigned)_i, 256, 1);
	t = fctx_new(&c);
	for (i = 0; i < 8 && va + PG <= c.lo_end; i++, va += step)
		ck_assert_int_eq(npt_map(t, va, PG * (i + 1), PG, NPT_R), 0);
	live = testmm_live(&c.mm);
	ck_assert_msg(live > c.info.root_frames, "[%s] no tables below the root", c.name);
	for (i = 0; i < c.mm.nframes; i++) {
		uint64_t pa = c.mm.base_pa + i * PG;
		if (testmm_is_allocated(&c.mm, pa) && testmm_va(&c.mm, pa) != (void *)t)
			memset(testmm_va(&c.mm, pa), 0xff, PG);
	}
	frees = c.mm.frees;
	npt_abandon(t);
	npt_abandon(NULL);
	ck_assert_msg(testmm_live(&c.mm) == live - HANDLE_FRAMES && c.mm.frees == frees + HANDLE_FRAMES,
		      "[%s] npt_abandon gave table frames back: live %zu -> %zu", c.name, live,
		      testmm_live(&c.mm));
	fctx_fini(&c);
}
END_TEST

/* ---- raw entries ------------------------------------------------------------ */

START_TEST(t_encode_decode)
{
	struct fctx c;
	unsigned i, l, flags;
	uint64_t pte, pa;
	int leaf, rc;

	fctx_init(&c, (unsigned)_i, 64, 1);
	for (l = 0; l < c.info.levels; l++) {
		uint64_t s = lsize(l);
		uint64_t p = fctx_pa(&c, s, s);

		if (!fctx_has_leaf(&c, l)) {
			rc = npt_encode_leaf(c.fmt, l, 0, c.ro, &pte);
			ck_assert_msg(rc != 0, "[%s] npt_encode_leaf at non-leaf level %u succeeded",
				      c.name, l);
			continue;
		}
		for (i = 0; i < c.nvalid; i++) {
			flags = c.valid[i];
			ck_assert_int_eq(npt_encode_leaf(c.fmt, l, p, flags, &pte), 0);
			pa = 1;
			leaf = -1;
			ck_assert_int_eq(npt_decode(c.fmt, l, pte, &pa, &flags, &leaf), 0);
			ck_assert_msg(leaf == 1 && pa == p && flags == fctx_norm(&c, c.valid[i]),
				      "[%s] level %u flags 0x%x: decode gives leaf %d pa 0x%llx flags "
				      "0x%x",
				      c.name, l, c.valid[i], leaf, (unsigned long long)pa, flags);
			ck_assert_int_eq(npt_decode(c.fmt, l, pte, NULL, NULL, NULL), 0);
		}
		if (l > 0)
			ck_assert_int_eq(npt_encode_leaf(c.fmt, l, p + PG, c.ro, &pte),
					 NPT_ERR_ALIGN);
		if (c.info.pa_bits < 64)
			ck_assert_int_eq(npt_encode_leaf(c.fmt, l, 1ull << c.info.pa_bits, c.ro,
							 &pte),
					 NPT_ERR_RANGE);
		ck_assert_int_eq(npt_encode_leaf(c.fmt, l, p, 0x100, &pte), NPT_ERR_FLAGS);
		ck_assert_int_eq(npt_decode(c.fmt, l, 0, &pa, &flags, &leaf), NPT_ERR_NOT_MAPPED);
	}
	ck_assert_int_eq(npt_encode_leaf(NULL, 0, 0, c.ro, &pte), NPT_ERR_INVAL);
	ck_assert_int_eq(npt_encode_leaf(c.fmt, 0, 0, c.ro, NULL), NPT_ERR_INVAL);
	ck_assert_int_eq(npt_decode(NULL, 0, 0, &pa, &flags, &leaf), NPT_ERR_INVAL);
	fctx_fini(&c);
}
END_TEST

/* ---- NULL arguments -------------------------------------------------------- */

static int count_visit(const struct npt_visit *v, void *arg)
{
	(void)v;
	(*(unsigned long *)arg)++;
	return 0;
}

START_TEST(t_null_args)
{
	struct fctx c;
	struct npt_table *t;
	uint64_t va;
	unsigned long n = 0;

	fctx_init(&c, (unsigned)_i, 256, 1);
	t = fctx_new(&c);
	va = fctx_area(&c, lsize(1), lsize(1));
	EXPECT_OK(&c, npt_map(t, va, 0, PG, c.rw));
	EXPECT_RC(&c, npt_map(NULL, va + PG, 0, PG, c.rw), NPT_ERR_INVAL);
	EXPECT_RC(&c, npt_unmap(NULL, va, NULL, NULL), NPT_ERR_INVAL);
	EXPECT_RC(&c, npt_query(NULL, va, NULL, NULL, NULL), NPT_ERR_INVAL);
	EXPECT_RC(&c, npt_protect(NULL, va, c.ro), NPT_ERR_INVAL);
	EXPECT_RC(&c, npt_remap(NULL, va, 0, c.ro), NPT_ERR_INVAL);
	EXPECT_RC(&c, npt_map_region(NULL, va, 0, PG, c.rw, 0), NPT_ERR_INVAL);
	EXPECT_RC(&c, npt_unmap_region(NULL, va, PG), NPT_ERR_INVAL);
	EXPECT_RC(&c, npt_protect_region(NULL, va, PG, c.ro), NPT_ERR_INVAL);
	EXPECT_RC(&c, npt_walk(NULL, va, PG, NPT_WALK_LEAF, count_visit, &n), NPT_ERR_INVAL);
	EXPECT_FAIL(&c, t, npt_walk(t, va, PG, NPT_WALK_LEAF, NULL, NULL), NPT_ERR_INVAL);
	EXPECT_FAIL(&c, t, npt_copy_from(t, NULL, 0, c.root_esize), NPT_ERR_INVAL);
	EXPECT_RC(&c, npt_copy_from(NULL, t, 0, c.root_esize), NPT_ERR_INVAL);
	ck_assert_uint_eq(n, 0);
	/* outputs are optional */
	EXPECT_OK(&c, npt_query(t, va, NULL, NULL, NULL));
	EXPECT_OK(&c, npt_unmap(t, va, NULL, NULL));
	npt_free(t);
	ck_assert_uint_eq(testmm_live(&c.mm), 0);
	fctx_fini(&c);
}
END_TEST

/* ---- map / query / unmap at every leaf size -------------------------------- */

START_TEST(t_map_query)
{
	struct fctx c;
	unsigned l;

	fctx_init(&c, (unsigned)_i, POOL, 1);
	for (l = 0; l < c.info.levels; l++) {
		struct npt_table *t;
		uint64_t s = lsize(l), va, pa, qpa, qps, upa, ups;
		unsigned qf;

		if (!fctx_has_leaf(&c, l) || !fctx_fits(&c, s, 4 * s))
			continue;
		t = fctx_new(&c);
		va = fctx_area(&c, s, 4 * s) + s;
		pa = fctx_pa(&c, s, 4 * s) + s;
		EXPECT_OK(&c, npt_map(t, va, pa, s, c.rw));
		check_mapped(&c, t, va, pa, s, c.rw, __LINE__);
		qps = 0;
		EXPECT_OK(&c, npt_query(t, va + s - 1, &qpa, &qf, &qps));
		ck_assert_msg(qps == s && qpa == pa + s - 1, "[%s] query in a level-%u leaf: pa "
			      "0x%llx size 0x%llx", c.name, l, (unsigned long long)qpa,
			      (unsigned long long)qps);
		EXPECT_RC(&c, npt_query(t, va - 1, NULL, NULL, NULL), NPT_ERR_NOT_MAPPED);
		EXPECT_RC(&c, npt_query(t, va + s, NULL, NULL, NULL), NPT_ERR_NOT_MAPPED);
		EXPECT_FAIL(&c, t, npt_map(t, va, pa, s, c.rw), NPT_ERR_ALREADY_MAPPED);
		EXPECT_FAIL(&c, t, npt_map(t, va, pa + 2 * s, s, c.ro), NPT_ERR_ALREADY_MAPPED);
		if (l > 0) {
			EXPECT_FAIL2(&c, t, npt_map(t, va + PG, pa, PG, c.rw),
				     NPT_ERR_ALREADY_MAPPED, NPT_ERR_HUGE);
			EXPECT_FAIL2(&c, t, npt_map(t, va, pa, PG, c.rw), NPT_ERR_ALREADY_MAPPED,
				     NPT_ERR_HUGE);
			EXPECT_FAIL2(&c, t, npt_map(t, va + s - PG, pa, PG, c.rw),
				     NPT_ERR_ALREADY_MAPPED, NPT_ERR_HUGE);
			/* the neighbours stay free */
			EXPECT_OK(&c, npt_map(t, va - PG, pa - PG, PG, c.ro));
			EXPECT_OK(&c, npt_map(t, va + s, pa + s, PG, c.ro));
			check_mapped(&c, t, va - PG, pa - PG, PG, c.ro, __LINE__);
			check_mapped(&c, t, va + s, pa + s, PG, c.ro, __LINE__);
			check_mapped(&c, t, va, pa, s, c.rw, __LINE__);
			/* a bigger page over it */
			if (l + 1 < c.info.levels && fctx_has_leaf(&c, l + 1) &&
			    (va & (lsize(l + 1) - 1)) == 0)
				EXPECT_FAIL(&c, t, npt_map(t, va, pa, lsize(l + 1), c.rw),
					    NPT_ERR_ALREADY_MAPPED);
		}
		/* a smaller page under a table: a bigger page over it collides */
		if (l == 0 && fctx_has_leaf(&c, 1)) {
			uint64_t big = va & ~(lsize(1) - 1);

			EXPECT_FAIL(&c, t, npt_map(t, big, fctx_pa(&c, lsize(1), lsize(1)),
						   lsize(1), c.rw),
				    NPT_ERR_ALREADY_MAPPED);
		}
		check_tree(&c, t, 0, NULL);
		upa = ups = 0;
		EXPECT_OK(&c, npt_unmap(t, va, &upa, &ups));
		ck_assert_msg(upa == pa && ups == s, "[%s] npt_unmap of a level-%u leaf returned pa "
			      "0x%llx size 0x%llx", c.name, l, (unsigned long long)upa,
			      (unsigned long long)ups);
		check_unmapped(&c, t, va, s, __LINE__);
		EXPECT_RC(&c, npt_unmap(t, va, NULL, NULL), NPT_ERR_NOT_MAPPED);
		if (l > 0) {
			EXPECT_OK(&c, npt_unmap(t, va - PG, &upa, &ups));
			ck_assert_msg(upa == pa - PG && ups == PG, "[%s] npt_unmap 4K: 0x%llx 0x%llx",
				      c.name, (unsigned long long)upa, (unsigned long long)ups);
			EXPECT_OK(&c, npt_unmap(t, va + s, NULL, NULL));
		}
		/* npt_unmap frees the tables it empties */
		check_tree(&c, t, 0, NULL);
		ck_assert_msg(npt_table_frames(t) == c.info.root_frames,
			      "[%s] level %u: %llu frames after unmapping everything", c.name, l,
			      (unsigned long long)npt_table_frames(t));
		ck_assert_uint_eq(testmm_live(&c.mm), c.info.root_frames + HANDLE_FRAMES);
		/* and the same address maps again, now as 4 KiB */
		EXPECT_OK(&c, npt_map(t, va + s - PG, pa, PG, c.rw));
		check_mapped(&c, t, va + s - PG, pa, PG, c.rw, __LINE__);
		npt_free(t);
		ck_assert_uint_eq(testmm_live(&c.mm), 0);
	}
	fctx_fini(&c);
}
END_TEST

/* ---- flags ---------------------------------------------------------------- */

START_TEST(t_flags_roundtrip)
{
	struct fctx c;
	struct npt_table *t;
	unsigned i, l, must[4], nmust = 0;
	uint64_t va, pa;

	fctx_init(&c, (unsigned)_i, POOL, 1);
	/* Formats add only A/D on a fresh map (RISC-V sets both, AArch64 sets AF). */
	ck_assert_msg(((c.extra_rw | c.extra_ro) & ~(NPT_A | NPT_D)) == 0,
		      "[%s] a fresh map reports extra flags 0x%x / 0x%x beyond A/D", c.name,
		      c.extra_rw, c.extra_ro);
	/* the basic permission sets must be encodable */
	must[nmust++] = NPT_R;
	must[nmust++] = NPT_R | NPT_W;
	if (c.info.flags & NPT_X) {
		must[nmust++] = NPT_R | NPT_X;
		must[nmust++] = NPT_R | NPT_W | NPT_X;
	}
	for (i = 0; i < nmust; i++) {
		unsigned j, found = 0;

		for (j = 0; j < c.nvalid; j++)
			found |= c.valid[j] == must[i];
		ck_assert_msg(found, "[%s] flags 0x%x not encodable", c.name, must[i]);
	}
	for (i = 0; i < c.nvalid; i++) {
		if (c.info.stage2)
			ck_assert_msg(!(c.valid[i] & (NPT_U | NPT_G)),
				      "[%s] stage-2 format encodes 0x%x", c.name, c.valid[i]);
		/* A/D passed in are kept */
		ck_assert_msg((fctx_norm(&c, c.valid[i]) & c.valid[i]) == c.valid[i],
			      "[%s] flags 0x%x lose bits", c.name, c.valid[i]);
	}

	for (l = 0; l < c.info.levels; l++) {
		uint64_t s = lsize(l);

		if (!fctx_has_leaf(&c, l) || !fctx_fits(&c, s, (c.nvalid + 2) * s))
			continue;
		t = fctx_new(&c);
		va = fctx_area(&c, s, (c.nvalid + 2) * s);
		pa = fctx_pa(&c, s, (c.nvalid + 2) * s);
		for (i = 0; i < c.nvalid; i++) {
			EXPECT_OK(&c, npt_map(t, va + i * s, pa + i * s, s, c.valid[i]));
			check_mapped(&c, t, va + i * s, pa + i * s, s, c.valid[i], __LINE__);
		}
		/* protect each to the next set, remap each to a new pa with the one after */
		for (i = 0; i < c.nvalid; i++) {
			unsigned f1 = c.valid[(i + 1) % c.nvalid], f2 = c.valid[(i + 2) % c.nvalid];

			EXPECT_OK(&c, npt_protect(t, va + i * s, f1));
			check_mapped(&c, t, va + i * s, pa + i * s, s, f1, __LINE__);
			EXPECT_OK(&c, npt_remap(t, va + i * s, pa + (c.nvalid + 1) * s, f2));
			check_mapped(&c, t, va + i * s, pa + (c.nvalid + 1) * s, s, f2, __LINE__);
		}
		check_tree(&c, t, 0, NULL);
		npt_free(t);
	}
	/* map_region / protect_region with every set */
	t = fctx_new(&c);
	va = fctx_area(&c, lsize(1), 4 * c.nvalid * PG);
	pa = fctx_pa(&c, lsize(1), 4 * c.nvalid * PG);
	for (i = 0; i < c.nvalid; i++) {
		EXPECT_OK(&c, npt_map_region(t, va + 4 * i * PG, pa + 4 * i * PG, 3 * PG, c.valid[i],
					     0));
		check_mapped(&c, t, va + 4 * i * PG, pa + 4 * i * PG, 3 * PG, c.valid[i], __LINE__);
	}
	for (i = 0; i < c.nvalid; i++) {
		unsigned f = c.valid[(i + 3) % c.nvalid];

		EXPECT_OK(&c, npt_protect_region(t, va + 4 * i * PG, 3 * PG, f));
		check_mapped(&c, t, va + 4 * i * PG, pa + 4 * i * PG, 3 * PG, f, __LINE__);
	}
	npt_free(t);
	ck_assert_uint_eq(testmm_live(&c.mm), 0);
	fctx_fini(&c);
}
END_TEST

/* Every call that takes flags refuses what the format cannot encode and
 * changes nothing. */
START_TEST(t_flags_refused)
{
	struct fctx c;
	struct npt_table *t;
	unsigned bad[300], nbad = 0, i, b;
	uint64_t va, pa, hva = 0, hpa = 0, hs = 0;
	uint64_t pte;

	fctx_init(&c, (unsigned)_i, POOL, 1);
	/* (write-only is encodable on some formats: AArch64 S2AP = 0b10, LoongArch NR) */
	bad[nbad++] = NPT_R | 0x100;         /* not a flag at all */
	bad[nbad++] = NPT_R | NPT_W | 0x8000;
	for (b = 0; b < 8; b++)              /* flags the format does not know */
		if (!(c.info.flags & (1u << b)))
			bad[nbad++] = NPT_R | (1u << b);
	if (c.info.stage2) {
		bad[nbad++] = NPT_R | NPT_U;
		bad[nbad++] = NPT_R | NPT_G;
		bad[nbad++] = NPT_R | NPT_W | NPT_U;
	}
	/* and whatever the format's own encoder refuses at every leaf level */
	for (b = 0; b <= 0xff; b++) {
		unsigned l, refused = 1;

		for (l = 0; l < c.info.levels; l++)
			if (fctx_has_leaf(&c, l) && npt_encode_leaf(c.fmt, l, 0, b, &pte) != NPT_ERR_FLAGS)
				refused = 0;
		if (refused)
			bad[nbad++] = b;
	}

	t = fctx_new(&c);
	va = fctx_area(&c, lsize(1), 4 * lsize(1));
	pa = fctx_pa(&c, lsize(1), 4 * lsize(1));
	EXPECT_OK(&c, npt_map(t, va, pa, PG, c.rw));
	if (fctx_has_leaf(&c, 1)) {
		hs = lsize(1);
		hva = va + 2 * hs;
		hpa = pa + 2 * hs;
		EXPECT_OK(&c, npt_map(t, hva, hpa, hs, c.rw));
	}
	for (i = 0; i < nbad; i++) {
		unsigned f = bad[i];

		TU_CTX("flags 0x%x", f);
		EXPECT_FAIL(&c, t, npt_map(t, va + PG, pa, PG, f), NPT_ERR_FLAGS);
		EXPECT_FAIL(&c, t, npt_map_region(t, va + PG, pa, 2 * PG, f, 0), NPT_ERR_FLAGS);
		EXPECT_FAIL(&c, t, npt_protect(t, va, f), NPT_ERR_FLAGS);
		EXPECT_FAIL(&c, t, npt_protect_region(t, va, PG, f), NPT_ERR_FLAGS);
		EXPECT_FAIL(&c, t, npt_remap(t, va, pa + PG, f), NPT_ERR_FLAGS);
		if (hs) {
			EXPECT_FAIL(&c, t, npt_map(t, hva + hs, hpa, hs, f), NPT_ERR_FLAGS);
			EXPECT_FAIL(&c, t, npt_map_region(t, hva + hs, hpa, hs, f, NPT_MAP_HUGE),
				    NPT_ERR_FLAGS);
			EXPECT_FAIL(&c, t, npt_protect(t, hva, f), NPT_ERR_FLAGS);
			/* a split that would need the refused flags */
			EXPECT_FAIL(&c, t, npt_protect_region(t, hva + PG, PG, f), NPT_ERR_FLAGS);
			EXPECT_FAIL(&c, t, npt_remap(t, hva, hpa + hs, f), NPT_ERR_FLAGS);
		}
	}
	check_mapped(&c, t, va, pa, PG, c.rw, __LINE__);
	npt_free(t);
	ck_assert_uint_eq(testmm_live(&c.mm), 0);
	fctx_fini(&c);
}
END_TEST

/* ---- argument errors of the changing calls ---------------------------------- */

START_TEST(t_map_errors)
{
	struct fctx c;
	struct npt_table *t;
	uint64_t va, pa, top_pa = 0;
	unsigned l;

	fctx_init(&c, (unsigned)_i, POOL, 1);
	t = fctx_new(&c);
	va = fctx_area(&c, lsize(1), 4 * lsize(1));
	pa = fctx_pa(&c, lsize(1), 4 * lsize(1));
	EXPECT_OK(&c, npt_map(t, va, pa, PG, c.rw)); /* something to keep intact */
	if (c.info.pa_bits < 64)
		top_pa = 1ull << c.info.pa_bits;

	/* alignment */
	EXPECT_FAIL(&c, t, npt_map(t, va + PG + 0x800, pa, PG, c.rw), NPT_ERR_ALIGN);
	EXPECT_FAIL(&c, t, npt_map(t, va + PG + 8, pa, PG, c.rw), NPT_ERR_ALIGN);
	EXPECT_FAIL(&c, t, npt_map(t, va + PG, pa + 0x800, PG, c.rw), NPT_ERR_ALIGN);
	EXPECT_FAIL(&c, t, npt_map(t, va + PG, pa + 1, PG, c.rw), NPT_ERR_ALIGN);
	EXPECT_FAIL(&c, t, npt_map_region(t, va + PG + 0x800, pa, PG, c.rw, 0), NPT_ERR_ALIGN);
	EXPECT_FAIL(&c, t, npt_map_region(t, va + PG, pa + 0x10, PG, c.rw, 0), NPT_ERR_ALIGN);
	EXPECT_FAIL(&c, t, npt_map_region(t, va + PG, pa, PG + 0x800, c.rw, 0), NPT_ERR_ALIGN);
	EXPECT_FAIL(&c, t, npt_map_region(t, va + PG, pa, 0x800, c.rw, 0), NPT_ERR_ALIGN);
	for (l = 1; l < c.info.levels; l++) {
		uint64_t s = lsize(l), hva, hpa;

		if (!fctx_has_leaf(&c, l) || !fctx_fits(&c, s, 4 * s))
			continue;
		hva = fctx_area(&c, s, 4 * s) + 2 * s;
		hpa = fctx_pa(&c, s, 4 * s) + 2 * s;
		EXPECT_FAIL(&c, t, npt_map(t, hva + PG, hpa, s, c.rw), NPT_ERR_ALIGN);
		EXPECT_FAIL(&c, t, npt_map(t, hva + lsize(l - 1), hpa, s, c.rw), NPT_ERR_ALIGN);
		EXPECT_FAIL(&c, t, npt_map(t, hva, hpa + PG, s, c.rw), NPT_ERR_ALIGN);
		EXPECT_FAIL(&c, t, npt_map(t, hva, hpa + lsize(l - 1), s, c.rw), NPT_ERR_ALIGN);
	}
	/* page sizes that are no leaf size */
	{
		static const uint64_t odd[] = { 0, 1, 0x800, 0x2000, 0x3000, 0x10000, 0x400000 };
		unsigned k;

		for (k = 0; k < sizeof(odd) / sizeof(odd[0]); k++) {
			int rc;
			struct snap b, a;

			snap_take(&c, t, &b);
			rc = npt_map(t, 0, 0, odd[k], c.rw);
			ck_assert_msg(rc == NPT_ERR_ALIGN || rc == NPT_ERR_INVAL ||
					      rc == NPT_ERR_UNSUPPORTED,
				      "[%s] npt_map(page_size 0x%llx) = %d (%s)", c.name,
				      (unsigned long long)odd[k], rc, npt_strerror(rc));
			snap_take(&c, t, &a);
			snap_assert_equal(&c, &b, &a, "npt_map(odd page size)", __LINE__);
			snap_free(&b);
			snap_free(&a);
		}
		for (l = 0; l < c.info.levels + 1 && l < 6; l++) {
			int rc;

			if (l < c.info.levels && fctx_has_leaf(&c, l))
				continue;
			rc = npt_map(t, 0, 0, lsize(l), c.rw);
			ck_assert_msg(rc == NPT_ERR_ALIGN || rc == NPT_ERR_INVAL ||
					      rc == NPT_ERR_UNSUPPORTED,
				      "[%s] npt_map(page_size 0x%llx, no such leaf) = %d (%s)",
				      c.name, (unsigned long long)lsize(l), rc, npt_strerror(rc));
		}
	}

	/* input width */
	EXPECT_FAIL(&c, t, npt_map_region(t, va + PG, pa, 0, c.rw, 0), NPT_ERR_RANGE);
	if (c.info.canonical) {
		EXPECT_FAIL(&c, t, npt_map(t, c.lo_end, pa, PG, c.rw), NPT_ERR_RANGE);
		EXPECT_FAIL(&c, t, npt_map(t, c.hi_start - PG, pa, PG, c.rw), NPT_ERR_RANGE);
		EXPECT_FAIL(&c, t, npt_map(t, 1ull << 63, pa, PG, c.rw), NPT_ERR_RANGE);
		/* across the hole, in either direction */
		EXPECT_FAIL(&c, t, npt_map_region(t, c.lo_end - PG, pa, 2 * PG, c.rw, 0),
			    NPT_ERR_RANGE);
		EXPECT_FAIL(&c, t, npt_map_region(t, c.hi_start - PG, pa, 2 * PG, c.rw, 0),
			    NPT_ERR_RANGE);
		EXPECT_FAIL(&c, t, npt_map_region(t, c.lo_end - PG, pa, c.hi_start - c.lo_end + 2 * PG,
						  c.rw, 0),
			    NPT_ERR_RANGE);
		/* wrap-around past 2^64 */
		EXPECT_FAIL(&c, t, npt_map_region(t, 0 - PG, pa, 2 * PG, c.rw, 0), NPT_ERR_RANGE);
	} else {
		EXPECT_FAIL(&c, t, npt_map(t, c.lo_end, pa, PG, c.rw), NPT_ERR_RANGE);
		EXPECT_FAIL(&c, t, npt_map(t, 0 - PG, pa, PG, c.rw), NPT_ERR_RANGE);
		EXPECT_FAIL(&c, t, npt_map(t, 1ull << 63, pa, PG, c.rw), NPT_ERR_RANGE);
		EXPECT_FAIL(&c, t, npt_map_region(t, c.lo_end - PG, pa, 2 * PG, c.rw, 0),
			    NPT_ERR_RANGE);
		EXPECT_FAIL(&c, t, npt_map_region(t, c.lo_end - PG, pa, 0 - c.lo_end + 2 * PG, c.rw,
						  0),
			    NPT_ERR_RANGE);
		EXPECT_FAIL(&c, t, npt_map_region(t, 0 - PG, pa, 2 * PG, c.rw, 0), NPT_ERR_RANGE);
	}
	/* output width */
	if (top_pa) {
		EXPECT_FAIL(&c, t, npt_map(t, va + PG, top_pa, PG, c.rw), NPT_ERR_RANGE);
		EXPECT_FAIL(&c, t, npt_map(t, va + PG, 1ull << 63, PG, c.rw), NPT_ERR_RANGE);
		EXPECT_FAIL(&c, t, npt_map_region(t, va + PG, top_pa - PG, 2 * PG, c.rw, 0),
			    NPT_ERR_RANGE);
		EXPECT_FAIL(&c, t, npt_map_region(t, va + PG, top_pa, PG, c.rw, 0), NPT_ERR_RANGE);
		/* the last frame is fine */
		EXPECT_OK(&c, npt_map(t, va + PG, top_pa - PG, PG, c.rw));
		check_mapped(&c, t, va + PG, top_pa - PG, PG, c.rw, __LINE__);
		EXPECT_OK(&c, npt_unmap(t, va + PG, NULL, NULL));
	}
	EXPECT_FAIL(&c, t, npt_map_region(t, va + PG, 0 - PG, 2 * PG, c.rw, 0), NPT_ERR_RANGE);

	/* already mapped: the single page, and a region overlapping it at either end */
	EXPECT_FAIL(&c, t, npt_map(t, va, pa + PG, PG, c.rw), NPT_ERR_ALREADY_MAPPED);
	EXPECT_FAIL(&c, t, npt_map_region(t, va - 4 * PG, pa, 5 * PG, c.rw, 0),
		    NPT_ERR_ALREADY_MAPPED);
	EXPECT_FAIL(&c, t, npt_map_region(t, va, pa, 5 * PG, c.rw, 0), NPT_ERR_ALREADY_MAPPED);
	EXPECT_FAIL(&c, t, npt_map_region(t, va - lsize(1), pa, 3 * lsize(1), c.rw, NPT_MAP_HUGE),
		    NPT_ERR_ALREADY_MAPPED);

	check_mapped(&c, t, va, pa, PG, c.rw, __LINE__);
	check_tree(&c, t, 0, NULL);
	npt_free(t);
	ck_assert_uint_eq(testmm_live(&c.mm), 0);
	fctx_fini(&c);
}
END_TEST

/* Input-range errors shared by unmap, protect, remap, query, the regions. */
static void range_errors(struct fctx *c, struct npt_table *t, uint64_t pa)
{
	uint64_t bad[4];
	unsigned n = 0, k;

	bad[n++] = c->lo_end;
	if (c->info.canonical)
		bad[n++] = c->hi_start - PG;
	else
		bad[n++] = 0 - PG;
	bad[n++] = 1ull << 63;
	for (k = 0; k < n; k++) {
		EXPECT_FAIL(c, t, npt_unmap(t, bad[k], NULL, NULL), NPT_ERR_RANGE);
		EXPECT_FAIL(c, t, npt_protect(t, bad[k], c->ro), NPT_ERR_RANGE);
		EXPECT_FAIL(c, t, npt_remap(t, bad[k], pa, c->ro), NPT_ERR_RANGE);
		EXPECT_FAIL(c, t, npt_query(t, bad[k], NULL, NULL, NULL), NPT_ERR_RANGE);
		EXPECT_FAIL(c, t, npt_query(t, bad[k] + 0x123, NULL, NULL, NULL), NPT_ERR_RANGE);
		EXPECT_FAIL(c, t, npt_unmap_region(t, bad[k], PG), NPT_ERR_RANGE);
		EXPECT_FAIL(c, t, npt_protect_region(t, bad[k], PG, c->ro), NPT_ERR_RANGE);
	}
	/* crossing the end of the low half / of the space, wrapping */
	EXPECT_FAIL(c, t, npt_unmap_region(t, c->lo_end - PG, 2 * PG), NPT_ERR_RANGE);
	EXPECT_FAIL(c, t, npt_protect_region(t, c->lo_end - PG, 2 * PG, c->ro), NPT_ERR_RANGE);
	EXPECT_FAIL(c, t, npt_unmap_region(t, 0 - PG, 2 * PG), NPT_ERR_RANGE);
	EXPECT_FAIL(c, t, npt_protect_region(t, 0 - PG, 2 * PG, c->ro), NPT_ERR_RANGE);
	EXPECT_FAIL(c, t, npt_unmap_region(t, PG, 0), NPT_ERR_RANGE);
	EXPECT_FAIL(c, t, npt_protect_region(t, PG, 0, c->ro), NPT_ERR_RANGE);
}

START_TEST(t_unmap_protect_remap_errors)
{
	struct fctx c;
	struct npt_table *t;
	uint64_t va, pa;
	unsigned l, other;

	fctx_init(&c, (unsigned)_i, POOL, 1);
	ck_assert_msg(fctx_other_flags(&c, c.rw, &other) >= 0, "[%s] one flag set only", c.name);
	t = fctx_new(&c);
	va = fctx_area(&c, lsize(1), 4 * lsize(1));
	pa = fctx_pa(&c, lsize(1), 4 * lsize(1));
	EXPECT_OK(&c, npt_map_region(t, va, pa, 4 * PG, c.rw, 0));

	/* misaligned */
	EXPECT_FAIL(&c, t, npt_unmap(t, va + 0x800, NULL, NULL), NPT_ERR_ALIGN);
	EXPECT_FAIL(&c, t, npt_protect(t, va + 0x800, other), NPT_ERR_ALIGN);
	EXPECT_FAIL(&c, t, npt_remap(t, va + 0x800, pa, other), NPT_ERR_ALIGN);
	EXPECT_FAIL(&c, t, npt_remap(t, va, pa + 0x800, other), NPT_ERR_ALIGN);
	EXPECT_FAIL(&c, t, npt_unmap_region(t, va + 0x800, PG), NPT_ERR_ALIGN);
	EXPECT_FAIL(&c, t, npt_unmap_region(t, va, PG + 0x800), NPT_ERR_ALIGN);
	EXPECT_FAIL(&c, t, npt_protect_region(t, va + 8, PG, other), NPT_ERR_ALIGN);
	EXPECT_FAIL(&c, t, npt_protect_region(t, va, 0x800, other), NPT_ERR_ALIGN);
	/* out of range */
	range_errors(&c, t, pa);
	if (c.info.pa_bits < 64) {
		EXPECT_FAIL(&c, t, npt_remap(t, va, 1ull << c.info.pa_bits, other), NPT_ERR_RANGE);
		EXPECT_FAIL(&c, t, npt_remap(t, va, 0 - PG, other), NPT_ERR_RANGE);
	}
	/* not mapped: single pages, regions with a hole at either end or inside */
	EXPECT_FAIL(&c, t, npt_unmap(t, va + 4 * PG, NULL, NULL), NPT_ERR_NOT_MAPPED);
	EXPECT_FAIL(&c, t, npt_unmap(t, va - PG, NULL, NULL), NPT_ERR_NOT_MAPPED);
	EXPECT_FAIL(&c, t, npt_protect(t, va + 4 * PG, other), NPT_ERR_NOT_MAPPED);
	EXPECT_FAIL(&c, t, npt_remap(t, va + 4 * PG, pa, other), NPT_ERR_NOT_MAPPED);
	EXPECT_FAIL(&c, t, npt_query(t, va + 4 * PG, NULL, NULL, NULL), NPT_ERR_NOT_MAPPED);
	EXPECT_FAIL(&c, t, npt_unmap_region(t, va, 5 * PG), NPT_ERR_NOT_MAPPED);
	EXPECT_FAIL(&c, t, npt_unmap_region(t, va - PG, 2 * PG), NPT_ERR_NOT_MAPPED);
	EXPECT_FAIL(&c, t, npt_protect_region(t, va, 5 * PG, other), NPT_ERR_NOT_MAPPED);
	EXPECT_FAIL(&c, t, npt_protect_region(t, va - PG, 5 * PG, other), NPT_ERR_NOT_MAPPED);
	EXPECT_FAIL(&c, t, npt_unmap_region(t, va + lsize(1), PG), NPT_ERR_NOT_MAPPED);
	EXPECT_FAIL(&c, t, npt_unmap_region(t, c.lo_end - PG, PG), NPT_ERR_NOT_MAPPED);
	EXPECT_OK(&c, npt_unmap(t, va + 2 * PG, NULL, NULL));
	EXPECT_FAIL(&c, t, npt_unmap_region(t, va, 4 * PG), NPT_ERR_NOT_MAPPED);
	EXPECT_FAIL(&c, t, npt_protect_region(t, va, 4 * PG, other), NPT_ERR_NOT_MAPPED);
	EXPECT_FAIL(&c, t, npt_protect_region(t, va + PG, 2 * PG, other), NPT_ERR_NOT_MAPPED);

	/* huge leaves: single-entry calls only at the base */
	for (l = 1; l < c.info.levels; l++) {
		uint64_t s = lsize(l), hva, hpa;

		if (!fctx_has_leaf(&c, l) || !fctx_fits(&c, s, 8 * s))
			continue;
		hva = fctx_area(&c, s, 8 * s) + 4 * s;
		hpa = fctx_pa(&c, s, 8 * s) + 4 * s;
		EXPECT_OK(&c, npt_map(t, hva, hpa, s, c.rw));
		EXPECT_FAIL(&c, t, npt_unmap(t, hva + PG, NULL, NULL), NPT_ERR_HUGE);
		EXPECT_FAIL(&c, t, npt_unmap(t, hva + s - PG, NULL, NULL), NPT_ERR_HUGE);
		EXPECT_FAIL(&c, t, npt_unmap(t, hva + lsize(l - 1), NULL, NULL), NPT_ERR_HUGE);
		EXPECT_FAIL(&c, t, npt_protect(t, hva + PG, other), NPT_ERR_HUGE);
		EXPECT_FAIL(&c, t, npt_protect(t, hva + s / 2, other), NPT_ERR_HUGE);
		EXPECT_FAIL(&c, t, npt_remap(t, hva + PG, hpa, other), NPT_ERR_HUGE);
		EXPECT_FAIL(&c, t, npt_remap(t, hva + lsize(l - 1), hpa, other), NPT_ERR_HUGE);
		/* remap of a huge leaf: pa aligned to the leaf, inside the output width */
		EXPECT_FAIL(&c, t, npt_remap(t, hva, hpa + PG, other), NPT_ERR_ALIGN);
		EXPECT_FAIL(&c, t, npt_remap(t, hva, hpa + lsize(l - 1), other), NPT_ERR_ALIGN);
		if (c.info.pa_bits < 64)
			EXPECT_FAIL(&c, t, npt_remap(t, hva, 1ull << c.info.pa_bits, other),
				    NPT_ERR_RANGE);
		/* query inside is fine */
		{
			uint64_t qpa, qps;

			EXPECT_OK(&c, npt_query(t, hva + s - PG + 0x42, &qpa, NULL, &qps));
			ck_assert_msg(qpa == hpa + s - PG + 0x42 && qps == s, "[%s] query in huge",
				      c.name);
		}
		/* at the base they act on the whole leaf */
		EXPECT_OK(&c, npt_protect(t, hva, other));
		check_mapped(&c, t, hva, hpa, s, other, __LINE__);
		EXPECT_OK(&c, npt_remap(t, hva, hpa + s, c.rw));
		check_mapped(&c, t, hva, hpa + s, s, c.rw, __LINE__);
		EXPECT_OK(&c, npt_remap(t, hva, hpa, c.ro));
		check_mapped(&c, t, hva, hpa, s, c.ro, __LINE__);
		{
			uint64_t upa = 0, ups = 0;

			EXPECT_OK(&c, npt_unmap(t, hva, &upa, &ups));
			ck_assert_msg(upa == hpa && ups == s, "[%s] unmap of huge: 0x%llx 0x%llx",
				      c.name, (unsigned long long)upa, (unsigned long long)ups);
		}
		check_unmapped(&c, t, hva, s, __LINE__);
	}
	/* successful single-page protect / remap */
	EXPECT_OK(&c, npt_protect(t, va, other));
	check_mapped(&c, t, va, pa, PG, other, __LINE__);
	check_mapped(&c, t, va + PG, pa + PG, PG, c.rw, __LINE__);
	EXPECT_OK(&c, npt_remap(t, va + PG, pa + 100 * PG, c.ro));
	check_mapped(&c, t, va + PG, pa + 100 * PG, PG, c.ro, __LINE__);
	check_mapped(&c, t, va, pa, PG, other, __LINE__);
	check_tree(&c, t, 0, NULL);
	npt_free(t);
	ck_assert_uint_eq(testmm_live(&c.mm), 0);
	fctx_fini(&c);
}
END_TEST

/* ---- query ----------------------------------------------------------------- */

START_TEST(t_query)
{
	struct fctx c;
	struct npt_table *t;
	uint64_t va, pa, qpa, qps, off;
	unsigned qf;

	fctx_init(&c, (unsigned)_i, POOL, 1);
	t = fctx_new(&c);
	va = fctx_area(&c, lsize(1), 2 * lsize(1));
	pa = fctx_pa(&c, lsize(1), 2 * lsize(1)) + 7 * PG;
	EXPECT_OK(&c, npt_map(t, va, pa, PG, c.rw));
	for (off = 0; off < PG; off += 0x3ff) {
		qpa = qps = 0;
		qf = 0;
		EXPECT_OK(&c, npt_query(t, va + off, &qpa, &qf, &qps));
		ck_assert_msg(qpa == pa + off && qps == PG && qf == fctx_norm(&c, c.rw),
			      "[%s] npt_query(va+0x%llx): pa 0x%llx size 0x%llx flags 0x%x", c.name,
			      (unsigned long long)off, (unsigned long long)qpa,
			      (unsigned long long)qps, qf);
	}
	EXPECT_OK(&c, npt_query(t, va + PG - 1, &qpa, NULL, NULL));
	ck_assert_uint_eq(qpa, pa + PG - 1);
	EXPECT_OK(&c, npt_query(t, va, NULL, &qf, NULL));
	EXPECT_OK(&c, npt_query(t, va, NULL, NULL, &qps));
	EXPECT_RC(&c, npt_query(t, va + PG, &qpa, &qf, &qps), NPT_ERR_NOT_MAPPED);
	EXPECT_RC(&c, npt_query(t, va - 1, &qpa, &qf, &qps), NPT_ERR_NOT_MAPPED);
	EXPECT_RC(&c, npt_query(t, 0, &qpa, &qf, &qps), NPT_ERR_NOT_MAPPED);
	EXPECT_RC(&c, npt_query(t, c.lo_end - 1, &qpa, &qf, &qps), NPT_ERR_NOT_MAPPED);
	if (c.info.canonical)
		EXPECT_RC(&c, npt_query(t, ~0ull, &qpa, &qf, &qps), NPT_ERR_NOT_MAPPED);
	range_errors(&c, t, pa);
	npt_free(t);
	fctx_fini(&c);
}
END_TEST

/* ---- walk ------------------------------------------------------------------ */

struct rec {
	struct npt_visit v[4096];
	unsigned n;
	unsigned stop_at; /* return stop_val at visit number stop_at (1-based), 0 = never */
	int stop_val;
};

static int rec_visit(const struct npt_visit *v, void *arg)
{
	struct rec *r = arg;

	if (r->n < 4096)
		r->v[r->n] = *v;
	r->n++;
	if (r->stop_at && r->n == r->stop_at)
		return r->stop_val;
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

START_TEST(t_walk)
{
	struct fctx c;
	struct npt_table *t;
	struct tree_stats st;
	struct rec *r = calloc(1, sizeof(*r));
	struct leaf *lv = NULL;
	/* expected leaves: va, size, pa */
	uint64_t ev[16], es[16], ep[16];
	unsigned en = 0, i, k, big = 1;
	uint64_t A, P, span;
	size_t n;
	int rc;

	ck_assert_ptr_nonnull(r);
	fctx_init(&c, (unsigned)_i, POOL, 1);
	t = fctx_new(&c);
	if (fctx_has_leaf(&c, 2) && fctx_fits(&c, lsize(2), 4 * lsize(2)))
		big = 2;
	span = 4 * lsize(big);
	A = fctx_area(&c, lsize(big), span);
	P = fctx_pa(&c, lsize(big), span);
#define ADD(va_, pa_, s_)                                                        \
	do {                                                                     \
		EXPECT_OK(&c, npt_map(t, (va_), (pa_), (s_), c.rw));             \
		ev[en] = (va_);                                                  \
		es[en] = (s_);                                                   \
		ep[en] = (pa_);                                                  \
		en++;                                                            \
	} while (0)
	ADD(A + 5 * PG, P + 9 * PG, PG);
	ADD(A, P, PG);
	ADD(A + 511 * PG, P + 3 * PG, PG);   /* last entry of a level-0 table */
	ADD(A + 512 * PG, P + 4 * PG, PG);   /* first entry of the next */
	if (fctx_has_leaf(&c, 1))
		ADD(A + 2 * lsize(1), P + 2 * lsize(1), lsize(1));
	else
		ADD(A + 2 * lsize(1), P + 2 * lsize(1), PG);
	if (big == 2) {
		ADD(A + 2 * lsize(2), P + 2 * lsize(2), lsize(2));
		ADD(A + 3 * lsize(2) + 17 * PG, P, PG);
	}
	if (c.info.canonical) {
		ADD(c.hi_start, P + 40 * PG, PG);
		ADD(0 - 2 * PG, P + 41 * PG, PG);
	} else {
		ADD(c.lo_end - PG, P + 40 * PG, PG);
	}
	check_tree(&c, t, 0, &st);

	/* the leaves, exactly, in ascending (sign-extended) order */
	n = collect_all_leaves(&c, t, &lv);
	ck_assert_msg(n == en, "[%s] walk found %zu leaves, expected %u", c.name, n, en);
	{
		uint64_t sorted[16], sv[16];

		memcpy(sorted, ev, sizeof(sorted));
		/* canonical high-half addresses sort after the low half */
		qsort(sorted, en, sizeof(uint64_t), cmp_u64);
		memcpy(sv, sorted, sizeof(sv));
		for (i = 0; i < en; i++) {
			for (k = 0; k < en; k++)
				if (ev[k] == sv[i])
					break;
			ck_assert_msg(lv[i].va == ev[k] && lv[i].size == es[k] && lv[i].pa == ep[k] &&
					      lv[i].flags == fctx_norm(&c, c.rw),
				      "[%s] leaf %u: va 0x%llx size 0x%llx pa 0x%llx flags 0x%x, "
				      "expected va 0x%llx size 0x%llx pa 0x%llx",
				      c.name, i, (unsigned long long)lv[i].va,
				      (unsigned long long)lv[i].size, (unsigned long long)lv[i].pa,
				      lv[i].flags, (unsigned long long)ev[k],
				      (unsigned long long)es[k], (unsigned long long)ep[k]);
			ck_assert_msg(!lv[i].shared, "[%s] leaf marked shared", c.name);
		}
	}
	free(lv);

	/* `which` filters */
	memset(r, 0, sizeof(*r));
	EXPECT_OK(&c, npt_walk(t, 0, c.lo_end, NPT_WALK_TABLE_PRE, rec_visit, r));
	for (i = 0; i < r->n; i++)
		ck_assert_uint_eq(r->v[i].kind, NPT_WALK_TABLE_PRE);
	k = r->n;
	memset(r, 0, sizeof(*r));
	EXPECT_OK(&c, npt_walk(t, 0, c.lo_end, NPT_WALK_TABLE_POST, rec_visit, r));
	for (i = 0; i < r->n; i++)
		ck_assert_uint_eq(r->v[i].kind, NPT_WALK_TABLE_POST);
	ck_assert_uint_eq(r->n, k);
	memset(r, 0, sizeof(*r));
	EXPECT_OK(&c, npt_walk(t, 0, c.lo_end, NPT_WALK_LEAF, rec_visit, r));
	for (i = 0; i < r->n; i++)
		ck_assert_uint_eq(r->v[i].kind, NPT_WALK_LEAF);
	memset(r, 0, sizeof(*r));
	EXPECT_OK(&c, npt_walk(t, 0, c.lo_end, NPT_WALK_TABLE_PRE | NPT_WALK_TABLE_POST, rec_visit,
			       r));
	ck_assert_uint_eq(r->n, 2 * k);
	memset(r, 0, sizeof(*r));
	EXPECT_OK(&c, npt_walk(t, 0, c.lo_end, 0, rec_visit, r));
	ck_assert_uint_eq(r->n, 0);

	/* a sub-range: the page at A + 5 pages, and the tables above it */
	memset(r, 0, sizeof(*r));
	EXPECT_OK(&c, npt_walk(t, A + 5 * PG, PG, NPT_WALK_LEAF | NPT_WALK_TABLE_PRE |
			       NPT_WALK_TABLE_POST, rec_visit, r));
	ck_assert_msg(r->n == 2 * (c.info.levels - 1) + 1, "[%s] walk of one page: %u visits",
		      c.name, r->n);
	for (i = 0; i < c.info.levels - 1; i++) {
		ck_assert_uint_eq(r->v[i].kind, NPT_WALK_TABLE_PRE);
		ck_assert_uint_eq(r->v[i].level, c.root_level - i);
		ck_assert_msg(r->v[i].va <= A + 5 * PG && A + 5 * PG - r->v[i].va < r->v[i].size,
			      "[%s] table entry does not cover the page", c.name);
		ck_assert_uint_eq(r->v[r->n - 1 - i].kind, NPT_WALK_TABLE_POST);
		ck_assert_uint_eq(r->v[r->n - 1 - i].level, c.root_level - i);
	}
	ck_assert_uint_eq(r->v[c.info.levels - 1].kind, NPT_WALK_LEAF);
	ck_assert_uint_eq(r->v[c.info.levels - 1].va, A + 5 * PG);
	ck_assert_uint_eq(r->v[c.info.levels - 1].pa, P + 9 * PG);
	ck_assert_uint_eq(r->v[c.info.levels - 1].level, 0);
	/* an unmapped page inside a mapped table: the tables, no leaf */
	memset(r, 0, sizeof(*r));
	EXPECT_OK(&c, npt_walk(t, A + PG, PG, NPT_WALK_LEAF | NPT_WALK_TABLE_PRE |
			       NPT_WALK_TABLE_POST, rec_visit, r));
	ck_assert_msg(r->n == 2 * (c.info.levels - 1), "[%s] walk of an empty slot: %u visits",
		      c.name, r->n);
	/* leaves overlapping the range are visited even if they start before it */
	if (fctx_has_leaf(&c, 1)) {
		memset(r, 0, sizeof(*r));
		EXPECT_OK(&c, npt_walk(t, A + 2 * lsize(1) + 7 * PG, 2 * PG, NPT_WALK_LEAF, rec_visit,
				       r));
		ck_assert_msg(r->n == 1 && r->v[0].va == A + 2 * lsize(1) && r->v[0].level == 1 &&
				      r->v[0].size == lsize(1) && r->v[0].pa == P + 2 * lsize(1),
			      "[%s] walk inside a 2M leaf: %u visits", c.name, r->n);
	}
	/* leaves in range [A, A + 2 pages + ...) in order */
	memset(r, 0, sizeof(*r));
	EXPECT_OK(&c, npt_walk(t, A, 513 * PG, NPT_WALK_LEAF, rec_visit, r));
	ck_assert_uint_eq(r->n, 4);
	ck_assert_uint_eq(r->v[0].va, A);
	ck_assert_uint_eq(r->v[1].va, A + 5 * PG);
	ck_assert_uint_eq(r->v[2].va, A + 511 * PG);
	ck_assert_uint_eq(r->v[3].va, A + 512 * PG);

	/* early stop: the visitor's value comes back, nothing more is visited */
	for (k = 1; k <= 5; k++) {
		memset(r, 0, sizeof(*r));
		r->stop_at = k;
		r->stop_val = 40 + (int)k;
		rc = npt_walk(t, 0, c.lo_end, NPT_WALK_LEAF | NPT_WALK_TABLE_PRE |
			      NPT_WALK_TABLE_POST, rec_visit, r);
		ck_assert_msg(rc == 40 + (int)k && r->n == k,
			      "[%s] stop at visit %u: walk returned %d after %u visits", c.name, k, rc,
			      r->n);
		memset(r, 0, sizeof(*r));
		r->stop_at = k;
		r->stop_val = -7;
		rc = npt_walk(t, 0, c.lo_end, NPT_WALK_LEAF, rec_visit, r);
		ck_assert_msg(rc == -7 && r->n == k, "[%s] stop at leaf %u: %d after %u", c.name,
			      k, rc, r->n);
	}

	/* errors */
	EXPECT_RC(&c, npt_walk(t, A, 0, NPT_WALK_LEAF, rec_visit, r), NPT_ERR_RANGE);
	EXPECT_RC(&c, npt_walk(t, c.lo_end, PG, NPT_WALK_LEAF, rec_visit, r), NPT_ERR_RANGE);
	EXPECT_RC(&c, npt_walk(t, c.lo_end - PG, 2 * PG, NPT_WALK_LEAF, rec_visit, r),
		  NPT_ERR_RANGE);
	EXPECT_RC(&c, npt_walk(t, 0 - PG, 2 * PG, NPT_WALK_LEAF, rec_visit, r), NPT_ERR_RANGE);
	EXPECT_RC(&c, npt_walk(t, A, PG, NPT_WALK_LEAF, NULL, r), NPT_ERR_INVAL);
	EXPECT_RC(&c, npt_walk(NULL, A, PG, NPT_WALK_LEAF, rec_visit, r), NPT_ERR_INVAL);
	npt_free(t);
	free(r);
	fctx_fini(&c);
#undef ADD
}
END_TEST

/* ---- TLB reporting ---------------------------------------------------------- */

struct hookrec {
	unsigned calls;
	struct npt_flush last;
};

static void hook(void *arg, const struct npt_flush *f)
{
	struct hookrec *h = arg;

	h->calls++;
	h->last = *f;
}

/* The last flush is a RANGE covering [va, va + size) and the hook saw it. */
static void expect_range(struct fctx *c, struct npt_table *t, struct hookrec *h,
			 unsigned calls_before, uint64_t va, uint64_t size, const char *what)
{
	struct npt_flush f;

	memset(&f, 0xff, sizeof(f));
	npt_last_flush(t, &f);
	ck_assert_msg(f.kind == NPT_FLUSH_RANGE, "[%s] %s: flush kind %u, expected RANGE", c->name,
		      what, f.kind);
	ck_assert_msg(f.size > 0 && f.va <= va && va + size - 1 <= f.va + (f.size - 1),
		      "[%s] %s: flush [0x%llx +0x%llx) does not cover [0x%llx +0x%llx)", c->name,
		      what, (unsigned long long)f.va, (unsigned long long)f.size,
		      (unsigned long long)va, (unsigned long long)size);
	ck_assert_msg(h->calls == calls_before + 1, "[%s] %s: hook called %u times", c->name, what,
		      h->calls - calls_before);
	ck_assert_msg(h->last.kind == f.kind && h->last.va == f.va && h->last.size == f.size,
		      "[%s] %s: hook saw a different flush than npt_last_flush", c->name, what);
}

static void expect_none(struct fctx *c, struct npt_table *t, struct hookrec *h,
			unsigned calls_before, const char *what)
{
	struct npt_flush f;

	memset(&f, 0xff, sizeof(f));
	npt_last_flush(t, &f);
	ck_assert_msg(f.kind == NPT_FLUSH_NONE, "[%s] %s: flush kind %u, expected NONE", c->name,
		      what, f.kind);
	ck_assert_msg(h->calls == calls_before, "[%s] %s: hook called", c->name, what);
}

START_TEST(t_flush)
{
	struct fctx c;
	struct npt_table *t;
	struct hookrec h = { 0 };
	struct npt_flush f;
	uint64_t va, pa;
	unsigned other, n;

	fctx_init(&c, (unsigned)_i, POOL, 1);
	ck_assert_int_ge(fctx_other_flags(&c, c.rw, &other), 0);
	t = fctx_new(&c);
	npt_last_flush(t, &f);
	ck_assert_uint_eq(f.kind, NPT_FLUSH_NONE);
	npt_set_flush_hook(t, hook, &h, 0);
	va = fctx_area(&c, lsize(1), 8 * lsize(1));
	pa = fctx_pa(&c, lsize(1), 8 * lsize(1));

	n = h.calls;
	EXPECT_OK(&c, npt_map(t, va, pa, PG, c.rw));
	expect_none(&c, t, &h, n, "map into empty space");
	EXPECT_OK(&c, npt_map_region(t, va + PG, pa + PG, 31 * PG, c.rw, 0));
	expect_none(&c, t, &h, n, "map_region into empty space");

	n = h.calls;
	EXPECT_OK(&c, npt_unmap(t, va + 3 * PG, NULL, NULL));
	expect_range(&c, t, &h, n, va + 3 * PG, PG, "unmap");
	n = h.calls;
	EXPECT_OK(&c, npt_protect(t, va + 4 * PG, other));
	expect_range(&c, t, &h, n, va + 4 * PG, PG, "protect");
	n = h.calls;
	EXPECT_OK(&c, npt_remap(t, va + 5 * PG, pa + 100 * PG, c.rw));
	expect_range(&c, t, &h, n, va + 5 * PG, PG, "remap");
	n = h.calls;
	EXPECT_OK(&c, npt_protect_region(t, va + 8 * PG, 8 * PG, other));
	expect_range(&c, t, &h, n, va + 8 * PG, 8 * PG, "protect_region");
	n = h.calls;
	EXPECT_OK(&c, npt_unmap_region(t, va + 16 * PG, 16 * PG));
	expect_range(&c, t, &h, n, va + 16 * PG, 16 * PG, "unmap_region");
	/* a map next to existing pages needs nothing */
	n = h.calls;
	EXPECT_OK(&c, npt_map(t, va + 3 * PG, pa, PG, c.rw));
	expect_none(&c, t, &h, n, "map into a hole");
	/* a failed call does not call the hook */
	n = h.calls;
	EXPECT_RC(&c, npt_unmap(t, va + 40 * PG, NULL, NULL), NPT_ERR_NOT_MAPPED);
	EXPECT_RC(&c, npt_unmap_region(t, va, 64 * PG), NPT_ERR_NOT_MAPPED);
	EXPECT_RC(&c, npt_map(t, va, pa, PG, c.rw), NPT_ERR_ALREADY_MAPPED);
	ck_assert_msg(h.calls == n, "[%s] hook called after a failed call", c.name);

	/* a split flushes the whole huge leaf it replaced */
	if (fctx_has_leaf(&c, 1)) {
		uint64_t hva = va + 4 * lsize(1), hpa = pa + 4 * lsize(1);

		n = h.calls;
		EXPECT_OK(&c, npt_map(t, hva, hpa, lsize(1), c.rw));
		expect_none(&c, t, &h, n, "huge map");
		EXPECT_OK(&c, npt_protect_region(t, hva + 9 * PG, 2 * PG, other));
		expect_range(&c, t, &h, n, hva, lsize(1), "protect_region splitting a 2M leaf");
		n = h.calls;
		EXPECT_OK(&c, npt_unmap_region(t, hva + 30 * PG, PG));
		expect_range(&c, t, &h, n, hva + 30 * PG, PG, "unmap_region in a split leaf");
		EXPECT_OK(&c, npt_map(t, hva + lsize(1), hpa, lsize(1), c.rw));
		n = h.calls;
		EXPECT_OK(&c, npt_unmap_region(t, hva + lsize(1) + PG, PG));
		expect_range(&c, t, &h, n, hva + lsize(1), lsize(1),
			     "unmap_region splitting a 2M leaf");
	}
	/* the high half reports sign-extended addresses */
	if (c.info.canonical) {
		n = h.calls;
		EXPECT_OK(&c, npt_map_region(t, c.hi_start + PG, pa, 2 * PG, c.rw, 0));
		EXPECT_OK(&c, npt_unmap(t, c.hi_start + 2 * PG, NULL, NULL));
		expect_range(&c, t, &h, n, c.hi_start + 2 * PG, PG, "unmap in the high half");
		n = h.calls;
		EXPECT_OK(&c, npt_map(t, 0 - PG, pa, PG, c.rw));
		EXPECT_OK(&c, npt_protect(t, 0 - PG, other));
		expect_range(&c, t, &h, n, 0 - PG, PG, "protect of the top page");
	}

	/* above all_threshold bytes: FLUSH_ALL */
	npt_set_flush_hook(t, hook, &h, 8 * PG);
	EXPECT_OK(&c, npt_map_region(t, va + 64 * PG, pa, 32 * PG, c.rw, 0));
	n = h.calls;
	EXPECT_OK(&c, npt_unmap_region(t, va + 64 * PG, 16 * PG));
	npt_last_flush(t, &f);
	ck_assert_msg(f.kind == NPT_FLUSH_ALL && h.calls == n + 1 && h.last.kind == NPT_FLUSH_ALL,
		      "[%s] 16 pages over a threshold of 8: kind %u, hook calls %u", c.name, f.kind,
		      h.calls - n);
	n = h.calls;
	EXPECT_OK(&c, npt_unmap_region(t, va + 80 * PG, 8 * PG));
	expect_range(&c, t, &h, n, va + 80 * PG, 8 * PG, "8 pages at a threshold of 8");
	n = h.calls;
	EXPECT_OK(&c, npt_unmap(t, va + 88 * PG, NULL, NULL));
	expect_range(&c, t, &h, n, va + 88 * PG, PG, "one page under the threshold");
	/* without a hook, the record is still kept */
	npt_set_flush_hook(t, NULL, NULL, 0);
	n = h.calls;
	EXPECT_OK(&c, npt_unmap(t, va + 89 * PG, NULL, NULL));
	npt_last_flush(t, &f);
	ck_assert_msg(f.kind == NPT_FLUSH_RANGE && f.va <= va + 89 * PG &&
			      va + 90 * PG - 1 <= f.va + f.size - 1 && h.calls == n,
		      "[%s] flush without a hook", c.name);
	npt_free(t);
	fctx_fini(&c);
}
END_TEST

/* npt_init on caller storage: npt_table_size() bytes at NPT_TABLE_ALIGN
 * are enough, less or misaligned is refused with nothing allocated, and
 * npt_free gives every frame back and leaves the storage. */
START_TEST(t_init_storage)
{
	static _Alignas(NPT_TABLE_ALIGN) unsigned char store[NPT_TABLE_SIZE + NPT_TABLE_ALIGN];
	struct fctx c;
	struct npt_table *t;
	const size_t need = npt_table_size();
	uint64_t va, pa, qpa = 0;
	int err = 0;

	fctx_init(&c, (unsigned)_i, POOL, 1);
	ck_assert_msg(need > 0 && need <= NPT_TABLE_SIZE, "npt_table_size() = %zu", need);
	ck_assert_ptr_null(npt_init(store, need - 1, c.fmt, &c.mm.mm, &err));
	ck_assert_int_eq(err, NPT_ERR_INVAL);
	ck_assert_ptr_null(npt_init(store + 8, need, c.fmt, &c.mm.mm, &err));
	ck_assert_int_eq(err, NPT_ERR_INVAL);
	ck_assert_ptr_null(npt_init(NULL, need, c.fmt, &c.mm.mm, &err));
	ck_assert_uint_eq(testmm_live(&c.mm), 0);
	t = npt_init(store, need, c.fmt, &c.mm.mm, &err);
	ck_assert_msg(t == (void *)store && err == 0, "[%s] npt_init: %d", c.name, err);
	ck_assert_uint_eq(testmm_live(&c.mm), c.info.root_frames);
	va = fctx_area(&c, lsize(1), lsize(1));
	pa = fctx_pa(&c, lsize(1), lsize(1));
	EXPECT_OK(&c, npt_map(t, va, pa, PG, c.rw));
	EXPECT_OK(&c, npt_query(t, va, &qpa, NULL, NULL));
	ck_assert_uint_eq(qpa, pa);
	npt_free(t);
	ck_assert_uint_eq(testmm_live(&c.mm), 0);
	fctx_fini(&c);
}
END_TEST

/* A huge leaf split into a table is one run of the leaf's level without
 * NPT_FLUSH_TABLE (npt.h: what a TLB may hold of it is the leaf), whatever
 * changes inside the new table before it is published. */
START_TEST(t_flush_split)
{
	struct fctx c;
	struct npt_table *t;
	struct npt_flush f;
	unsigned L, other, op;

	fctx_init(&c, (unsigned)_i, POOL, 1);
	ck_assert_int_ge(fctx_other_flags(&c, c.rw, &other), 0);
	for (L = 1; L < c.info.levels; L++) {
		const uint64_t S = lsize(L);
		uint64_t va, pa;

		if (!fctx_has_leaf(&c, L) || !fctx_fits(&c, S, 2 * S))
			continue;
		va = fctx_area(&c, S, 2 * S);
		pa = fctx_pa(&c, S, 2 * S);
		for (op = 0; op < 3; op++) {
			const char *const what[] = { "protect_region", "unmap_region", "log_start" };

			t = fctx_new(&c);
			EXPECT_OK(&c, npt_map(t, va, pa, S, c.rw));
			if (op == 0)
				EXPECT_OK(&c, npt_protect_region(t, va + S / 2 + PG, PG, other));
			else if (op == 1)
				EXPECT_OK(&c, npt_unmap_region(t, va + S / 2 + PG, PG));
			else
				EXPECT_OK(&c, npt_log_start(t, va + S / 2 + PG, PG, NPT_LOG_LAZY));
			npt_last_flush(t, &f);
			ck_assert_msg(f.kind == NPT_FLUSH_RANGE && f.nranges == 1 &&
					      f.ranges[0].va == va && f.ranges[0].size == S &&
					      f.ranges[0].level == L && f.ranges[0].flags == 0,
				      "[%s] %s splitting a level-%u leaf: kind %u, %u runs, the "
				      "first [0x%llx +0x%llx) level %u flags %u",
				      c.name, what[op], L, f.kind, f.nranges,
				      (unsigned long long)f.ranges[0].va,
				      (unsigned long long)f.ranges[0].size, f.ranges[0].level,
				      f.ranges[0].flags);
			npt_free(t);
		}
	}
	ck_assert_uint_eq(testmm_live(&c.mm), 0);
	fctx_fini(&c);
}
END_TEST

/* A failed call leaves NPT_FLUSH_NONE, never the record of the call before
 * it: each changing call, failing for its arguments or for the table's
 * state, right after a call that recorded a RANGE. */
START_TEST(t_flush_after_failure)
{
	struct fctx c;
	struct npt_table *t;
	struct hookrec h = { 0 };
	uint64_t va, pa, bm[8];
	unsigned other, n, i, flip = 0;

	fctx_init(&c, (unsigned)_i, POOL, 1);
	ck_assert_int_ge(fctx_other_flags(&c, c.rw, &other), 0);
	t = fctx_new(&c);
	npt_set_flush_hook(t, hook, &h, 0);
	va = fctx_area(&c, lsize(1), 8 * lsize(1));
	pa = fctx_pa(&c, lsize(1), 8 * lsize(1));
	EXPECT_OK(&c, npt_map_region(t, va, pa, 32 * PG, c.rw, 0));
	for (i = 0;; i++) {
		const char *what;
		int rc;

		/* a RANGE record first: page 0 flips between two flag sets */
		n = h.calls;
		EXPECT_OK(&c, npt_protect(t, va, flip ? c.rw : other));
		flip = !flip;
		expect_range(&c, t, &h, n, va, PG, "protect before a failing call");
		n = h.calls;
		switch (i) {
		case 0: what = "npt_map over a page"; rc = npt_map(t, va + PG, pa, PG, c.rw); break;
		case 1: what = "npt_map misaligned"; rc = npt_map(t, va + 1, pa, PG, c.rw); break;
		case 2: what = "npt_map_region over pages";
			rc = npt_map_region(t, va, pa, 2 * PG, c.rw, 0); break;
		case 3: what = "npt_unmap of a hole"; rc = npt_unmap(t, va + 40 * PG, NULL, NULL); break;
		case 4: what = "npt_unmap_region over a hole";
			rc = npt_unmap_region(t, va, 40 * PG); break;
		case 5: what = "npt_unmap_sparse of size 0"; rc = npt_unmap_sparse(t, va, 0); break;
		case 6: what = "npt_protect of a hole"; rc = npt_protect(t, va + 40 * PG, c.ro); break;
		case 7: what = "npt_protect_region over a hole";
			rc = npt_protect_region(t, va, 40 * PG, c.ro); break;
		case 8: what = "npt_protect_sparse with flags no format has";
			rc = npt_protect_sparse(t, va, 40 * PG, 0x80000000u); break;
		case 9: what = "npt_remap of a hole"; rc = npt_remap(t, va + 40 * PG, pa, c.rw); break;
		case 10: what = "npt_copy_from of a misaligned range";
			rc = npt_copy_from(t, t, va + PG, PG); break;
		case 11: what = "npt_harvest misaligned";
			rc = npt_harvest(t, va + 1, PG, NPT_A, bm); break;
		case 12: what = "npt_log_start misaligned";
			rc = npt_log_start(t, va + 1, PG, NPT_LOG_LAZY); break;
		case 13: what = "npt_log_write_fault of a hole";
			rc = npt_log_write_fault(t, va + 40 * PG); break;
		case 14: what = "npt_log_access_fault of a hole";
			rc = npt_log_access_fault(t, va + 40 * PG); break;
		case 15: what = "npt_log_harvest misaligned";
			rc = npt_log_harvest(t, va + 1, PG, bm); break;
		case 16: what = "npt_log_stop misaligned"; rc = npt_log_stop(t, va + 1, PG); break;
		case 17: what = "npt_collapse misaligned"; rc = npt_collapse(t, va + 1, PG); break;
		default: what = NULL; rc = 0; break;
		}
		if (!what)
			break;
		ck_assert_msg(rc != 0, "[%s] %s succeeded", c.name, what);
		expect_none(&c, t, &h, n, what);
	}
	npt_free(t);
	ck_assert_uint_eq(testmm_live(&c.mm), 0);
	fctx_fini(&c);
}
END_TEST

/* ---- npt_copy_from ---------------------------------------------------------- */

static void shared_calls_refused(struct fctx *c, struct npt_table *t, uint64_t K, uint64_t pa,
				 unsigned other)
{
	EXPECT_FAIL(c, t, npt_map(t, K + 9 * PG, pa, PG, c->rw), NPT_ERR_SHARED);
	EXPECT_FAIL(c, t, npt_map_region(t, K + 9 * PG, pa, 2 * PG, c->rw, 0), NPT_ERR_SHARED);
	EXPECT_FAIL(c, t, npt_unmap(t, K + 5 * PG, NULL, NULL), NPT_ERR_SHARED);
	EXPECT_FAIL(c, t, npt_protect(t, K + 5 * PG, other), NPT_ERR_SHARED);
	EXPECT_FAIL(c, t, npt_remap(t, K + 5 * PG, pa, other), NPT_ERR_SHARED);
	EXPECT_FAIL(c, t, npt_unmap_region(t, K + 5 * PG, PG), NPT_ERR_SHARED);
	EXPECT_FAIL(c, t, npt_protect_region(t, K + 5 * PG, PG, other), NPT_ERR_SHARED);
	if (c->root_esize > 2 * PG)
		EXPECT_FAIL(c, t, npt_unmap_region(t, K, c->root_esize / 2), NPT_ERR_SHARED);
}

START_TEST(t_copy_from)
{
	struct fctx c;
	struct npt_table *src, *t, *o;
	uint64_t R, K, P, qpa, before, tf;
	unsigned other, qf;
	struct leaf *lv = NULL;
	size_t n, i;
	struct npt_flush f;

	fctx_init(&c, (unsigned)_i, POOL, 1);
	ck_assert_int_ge(fctx_other_flags(&c, c.rw, &other), 0);
	R = c.root_esize;
	K = fctx_area(&c, R, 3 * R);
	P = fctx_pa(&c, lsize(1), 64 * PG);
	src = fctx_new(&c);
	t = fctx_new(&c);
	EXPECT_OK(&c, npt_map(src, K + 5 * PG, P + 5 * PG, PG, c.rw));
	EXPECT_OK(&c, npt_map_region(src, K + lsize(1), P, 8 * PG, c.ro, 0));
	EXPECT_OK(&c, npt_map(src, K + R + PG, P + PG, PG, c.rw)); /* next root entry */

	before = testmm_live(&c.mm);
	EXPECT_OK(&c, npt_copy_from(t, src, K, R));
	npt_last_flush(t, &f);
	ck_assert_msg(f.kind == NPT_FLUSH_NONE, "[%s] copy into empty space needs a flush", c.name);
	ck_assert_msg(testmm_live(&c.mm) == before, "[%s] npt_copy_from allocated", c.name);
	ck_assert_msg(npt_table_frames(t) == c.info.root_frames,
		      "[%s] shared frames counted as t's own: %llu", c.name,
		      (unsigned long long)npt_table_frames(t));
	EXPECT_OK(&c, npt_query(t, K + 5 * PG + 3, &qpa, &qf, NULL));
	ck_assert_msg(qpa == P + 5 * PG + 3 && qf == fctx_norm(&c, c.rw), "[%s] shared query",
		      c.name);
	check_mapped(&c, t, K + lsize(1), P, 8 * PG, c.ro, __LINE__);
	EXPECT_RC(&c, npt_query(t, K + R + PG, NULL, NULL, NULL), NPT_ERR_NOT_MAPPED);
	/* the walk marks what it reaches through the shared entry */
	n = collect_leaves(&c, t, K, R, &lv);
	ck_assert_uint_eq(n, 9);
	for (i = 0; i < n; i++)
		ck_assert_msg(lv[i].shared, "[%s] leaf 0x%llx through a shared entry not marked",
			      c.name, (unsigned long long)lv[i].va);
	free(lv);
	check_tree(&c, t, 0, NULL);

	/* later changes in src under the shared entry show through */
	EXPECT_OK(&c, npt_map(src, K + 7 * PG, P + 7 * PG, PG, c.rw));
	check_mapped(&c, t, K + 7 * PG, P + 7 * PG, PG, c.rw, __LINE__);
	EXPECT_OK(&c, npt_protect(src, K + 5 * PG, other));
	check_mapped(&c, t, K + 5 * PG, P + 5 * PG, PG, other, __LINE__);
	EXPECT_OK(&c, npt_map(src, K + 2 * lsize(1), P, PG, c.rw)); /* needs a new table */
	check_mapped(&c, t, K + 2 * lsize(1), P, PG, c.rw, __LINE__);

	/* t cannot change anything in there */
	shared_calls_refused(&c, t, K, P, other);

	/* errors of npt_copy_from itself */
	if (R > PG) {
		EXPECT_FAIL(&c, t, npt_copy_from(t, src, K + R + PG, R), NPT_ERR_ALIGN);
		EXPECT_FAIL(&c, t, npt_copy_from(t, src, K + R, R / 2), NPT_ERR_ALIGN);
		EXPECT_FAIL(&c, t, npt_copy_from(t, src, K + R, R + PG), NPT_ERR_ALIGN);
	}
	EXPECT_FAIL(&c, t, npt_copy_from(t, src, K + R, 0), NPT_ERR_RANGE);
	EXPECT_FAIL(&c, t, npt_copy_from(t, src, c.lo_end, R), NPT_ERR_RANGE);
	if (fmt_count() > 1) {
		struct fctx c2;

		fctx_init(&c2, (c.idx + 1) % fmt_count(), 64, 1);
		o = npt_new(c2.fmt, &c.mm.mm, NULL); /* same pool, another format */
		ck_assert_ptr_nonnull(o);
		EXPECT_FAIL(&c, t, npt_copy_from(t, o, K + R, R), NPT_ERR_INVAL);
		npt_free(o);
		fctx_fini(&c2);
	}
	/* over an owned present entry */
	EXPECT_OK(&c, npt_map(t, K + R + 3 * PG, P, PG, c.rw));
	EXPECT_FAIL(&c, t, npt_copy_from(t, src, K + R, R), NPT_ERR_ALREADY_MAPPED);
	EXPECT_FAIL(&c, t, npt_copy_from(t, src, K, 2 * R), NPT_ERR_ALREADY_MAPPED);
	EXPECT_OK(&c, npt_unmap(t, K + R + 3 * PG, NULL, NULL));

	/* npt_free(t) frees none of src's frames */
	tf = npt_table_frames(t);
	before = testmm_live(&c.mm);
	npt_free(t);
	ck_assert_msg(testmm_live(&c.mm) == before - tf - HANDLE_FRAMES,
		      "[%s] npt_free of a sharing table freed %llu frames, owned %llu", c.name,
		      (unsigned long long)(before - testmm_live(&c.mm)), (unsigned long long)tf);
	check_tree(&c, src, 0, NULL);
	check_mapped(&c, src, K + 5 * PG, P + 5 * PG, PG, other, __LINE__);

	/* unmap_region over the whole shared entry drops the share */
	t = fctx_new(&c);
	EXPECT_OK(&c, npt_copy_from(t, src, K, 2 * R));
	check_mapped(&c, t, K + R + PG, P + PG, PG, c.rw, __LINE__);
	before = testmm_live(&c.mm);
	EXPECT_OK(&c, npt_unmap_region(t, K, R));
	npt_last_flush(t, &f);
	ck_assert_msg(f.kind == NPT_FLUSH_ALL ||
			      (f.kind == NPT_FLUSH_RANGE && f.va <= K && K + R - 1 <= f.va + f.size - 1),
		      "[%s] dropping a share: flush kind %u [0x%llx +0x%llx)", c.name, f.kind,
		      (unsigned long long)f.va, (unsigned long long)f.size);
	ck_assert_msg(testmm_live(&c.mm) == before, "[%s] dropping a share freed frames", c.name);
	check_unmapped(&c, t, K, R, __LINE__);
	check_mapped(&c, src, K + 5 * PG, P + 5 * PG, PG, other, __LINE__);
	check_mapped(&c, src, K + lsize(1), P, 8 * PG, c.ro, __LINE__);
	check_tree(&c, src, 0, NULL);
	/* the other shared entry is still shared; t owns the dropped one again */
	check_mapped(&c, t, K + R + PG, P + PG, PG, c.rw, __LINE__);
	EXPECT_OK(&c, npt_map(t, K + 5 * PG, P + 40 * PG, PG, c.ro));
	check_mapped(&c, t, K + 5 * PG, P + 40 * PG, PG, c.ro, __LINE__);
	check_mapped(&c, src, K + 5 * PG, P + 5 * PG, PG, other, __LINE__);
	EXPECT_FAIL(&c, t, npt_map(t, K + R + 9 * PG, P, PG, c.rw), NPT_ERR_SHARED);
	npt_free(t);

	/* the kernel-half pattern: share the whole high half of a canonical format */
	if (c.info.canonical) {
		EXPECT_OK(&c, npt_map(src, c.hi_start + PG, P + 50 * PG, PG, c.rw));
		EXPECT_OK(&c, npt_map(src, 0 - PG, P + 51 * PG, PG, c.rw));
		t = fctx_new(&c);
		EXPECT_OK(&c, npt_copy_from(t, src, c.hi_start, 0 - c.hi_start));
		check_mapped(&c, t, c.hi_start + PG, P + 50 * PG, PG, c.rw, __LINE__);
		check_mapped(&c, t, 0 - PG, P + 51 * PG, PG, c.rw, __LINE__);
		EXPECT_FAIL(&c, t, npt_map(t, 0 - 2 * PG, P, PG, c.rw), NPT_ERR_SHARED);
		EXPECT_OK(&c, npt_map(t, K, P, PG, c.rw)); /* the low half is t's own */
		EXPECT_OK(&c, npt_unmap_region(t, 0 - R, R));
		check_unmapped(&c, t, 0 - R, R, __LINE__);
		check_mapped(&c, src, 0 - PG, P + 51 * PG, PG, c.rw, __LINE__);
		npt_free(t);
	}
	npt_free(src);
	ck_assert_uint_eq(testmm_live(&c.mm), 0);
	fctx_fini(&c);
}
END_TEST

/* src empties the subtree under a shared entry (its last page goes): t shares
 * that entry, so t must see the range unmapped, not a freed frame, and see
 * src's next map there. Run without NPT_MM_LINEAR: phys_to_virt aborts on a
 * frame that is not allocated. */
START_TEST(t_copy_from_src_empties)
{
	struct fctx c;
	struct npt_table *src, *t;
	uint64_t R, K, P;
	int rc;

	fctx_init(&c, (unsigned)_i, POOL, 0);
	R = c.root_esize;
	K = fctx_area(&c, R, 3 * R);
	P = fctx_pa(&c, lsize(1), 64 * PG);
	src = fctx_new(&c);
	t = fctx_new(&c);
	EXPECT_OK(&c, npt_map(src, K + 5 * PG, P + 5 * PG, PG, c.rw));
	EXPECT_OK(&c, npt_copy_from(t, src, K, R));
	check_mapped(&c, t, K + 5 * PG, P + 5 * PG, PG, c.rw, __LINE__);
	/* the last page under the shared entry goes from src */
	EXPECT_OK(&c, npt_unmap_region(src, K + 5 * PG, PG));
	{
		/* t's root entry for K: absent, or pointing to a frame still allocated */
		const uint64_t *root = testmm_va(&c.mm, npt_root(t));
		unsigned idx = (unsigned)((K >> (12 + 9 * c.root_level)) & (c.info.root_entries - 1));
		uint64_t next = 0;
		int leaf = 0;

		if (npt_decode(c.fmt, c.root_level, root[idx], &next, NULL, &leaf) == 0 && !leaf)
			ck_assert_msg(testmm_is_allocated(&c.mm, next),
				      "[%s] src unmapped the only page under root entry %u, which t "
				      "shares: src freed the table at pa 0x%llx, t's entry still "
				      "points to it (use after free)",
				      c.name, idx, (unsigned long long)next);
	}
	rc = npt_query(t, K + 5 * PG, NULL, NULL, NULL);
	ck_assert_msg(rc == NPT_ERR_NOT_MAPPED,
		      "[%s] src unmapped the only page under an entry t shares; t's npt_query = %d "
		      "(%s), expected NOT_MAPPED", c.name, rc, npt_strerror(rc));
	check_tree(&c, t, 1, NULL);
	/* and what src maps there next shows through */
	EXPECT_OK(&c, npt_map(src, K + 9 * PG, P + 9 * PG, PG, c.rw));
	check_mapped(&c, t, K + 9 * PG, P + 9 * PG, PG, c.rw, __LINE__);
	npt_free(t);
	npt_free(src);
	ck_assert_uint_eq(testmm_live(&c.mm), 0);
	fctx_fini(&c);
}
END_TEST

/* A root-level leaf (Sv39 1 GiB, Sv48 512 GiB, ...) shared. */
START_TEST(t_copy_from_leaf)
{
	struct fctx c;
	struct npt_table *src, *t;
	uint64_t R, K, P;
	unsigned other;

	fctx_init(&c, (unsigned)_i, POOL, 1);
	R = c.root_esize;
	if (!fctx_has_leaf(&c, c.root_level) || !fctx_fits(&c, R, 3 * R)) {
		fctx_fini(&c);
		return;
	}
	ck_assert_int_ge(fctx_other_flags(&c, c.rw, &other), 0);
	K = fctx_area(&c, R, 3 * R);
	P = fctx_pa(&c, R, 2 * R);
	src = fctx_new(&c);
	t = fctx_new(&c);
	EXPECT_OK(&c, npt_map(src, K, P, R, c.rw));
	EXPECT_OK(&c, npt_copy_from(t, src, K, R));
	check_mapped(&c, t, K, P, R, c.rw, __LINE__);
	EXPECT_FAIL(&c, t, npt_protect(t, K, other), NPT_ERR_SHARED);
	EXPECT_FAIL(&c, t, npt_remap(t, K, P + R, other), NPT_ERR_SHARED);
	EXPECT_FAIL(&c, t, npt_protect_region(t, K, R, other), NPT_ERR_SHARED);
	EXPECT_FAIL(&c, t, npt_unmap_region(t, K + PG, PG), NPT_ERR_SHARED);
	EXPECT_FAIL(&c, t, npt_protect_region(t, K + PG, PG, other), NPT_ERR_SHARED);
	/* (a root-level leaf is shared by value: a later change of the entry
	 * itself in src is not "under" it, npt.h promises nothing for t) */
	EXPECT_OK(&c, npt_protect(src, K, other));
	check_mapped(&c, src, K, P, R, other, __LINE__);
	EXPECT_OK(&c, npt_unmap_region(t, K, R));
	check_unmapped(&c, t, K, R, __LINE__);
	check_mapped(&c, src, K, P, R, other, __LINE__);
	ck_assert_uint_eq(npt_table_frames(t), c.info.root_frames);
	/* npt.h: only npt_unmap_region over the whole entry drops a share; the
	 * single-entry npt_unmap is a changing call like the others */
	EXPECT_OK(&c, npt_copy_from(t, src, K, R));
	EXPECT_FAIL(&c, t, npt_unmap(t, K, NULL, NULL), NPT_ERR_SHARED);
	npt_free(t);
	npt_free(src);
	ck_assert_uint_eq(testmm_live(&c.mm), 0);
	fctx_fini(&c);
}
END_TEST

/* The last root entry (on a multi-frame root: in the last root frame). */
START_TEST(t_copy_from_last_entry)
{
	struct fctx c;
	struct npt_table *src, *t;
	uint64_t R, K, P;

	fctx_init(&c, (unsigned)_i, POOL, 1);
	R = c.root_esize;
	K = (c.info.canonical ? 0 : c.lo_end) - R;
	P = fctx_pa(&c, lsize(1), 64 * PG);
	src = fctx_new(&c);
	t = fctx_new(&c);
	EXPECT_OK(&c, npt_map(src, K + R - PG, P, PG, c.rw));
	EXPECT_OK(&c, npt_map(src, K, P + PG, PG, c.ro));
	EXPECT_OK(&c, npt_copy_from(t, src, K, R));
	check_mapped(&c, t, K + R - PG, P, PG, c.rw, __LINE__);
	check_mapped(&c, t, K, P + PG, PG, c.ro, __LINE__);
	EXPECT_FAIL(&c, t, npt_map(t, K + PG, P, PG, c.rw), NPT_ERR_SHARED);
	check_tree(&c, t, 0, NULL);
	EXPECT_OK(&c, npt_unmap_region(t, K, R));
	check_unmapped(&c, t, K, R, __LINE__);
	check_mapped(&c, src, K + R - PG, P, PG, c.rw, __LINE__);
	npt_free(t);
	npt_free(src);
	ck_assert_uint_eq(testmm_live(&c.mm), 0);
	fctx_fini(&c);
}
END_TEST

/* ---- the edges of the input space ------------------------------------------ */

START_TEST(t_edges)
{
	struct fctx c;
	struct npt_table *t;
	uint64_t top, qpa, qps, s1 = lsize(1);
	struct leaf *lv = NULL;
	size_t n;

	fctx_init(&c, (unsigned)_i, POOL, 1);
	t = fctx_new(&c);
	top = c.info.canonical ? 0 - PG : c.lo_end - PG;

	/* va 0 and pa 0 are ordinary */
	EXPECT_OK(&c, npt_map(t, 0, 0, PG, c.rw));
	EXPECT_OK(&c, npt_query(t, 0x10, &qpa, NULL, &qps));
	ck_assert_msg(qpa == 0x10 && qps == PG, "[%s] query at va 0x10: pa 0x%llx", c.name,
		      (unsigned long long)qpa);
	/* the last page of the space; on canonical formats the range ends at 2^64 */
	EXPECT_OK(&c, npt_map(t, top, 5 * PG, PG, c.rw));
	EXPECT_OK(&c, npt_query(t, top + PG - 1, &qpa, NULL, &qps));
	ck_assert_uint_eq(qpa, 6 * PG - 1);
	n = collect_leaves(&c, t, top, PG, &lv);
	ck_assert_msg(n == 1 && lv[0].va == top, "[%s] walk of the top page: %zu leaves", c.name,
		      n);
	free(lv);
	check_tree(&c, t, 0, NULL);
	EXPECT_OK(&c, npt_protect_region(t, top, PG, c.ro));
	check_mapped(&c, t, top, 5 * PG, PG, c.ro, __LINE__);
	EXPECT_OK(&c, npt_unmap_region(t, top, PG));
	EXPECT_OK(&c, npt_unmap_region(t, 0, PG));
	ck_assert_uint_eq(npt_table_frames(t), c.info.root_frames);
	if (fctx_has_leaf(&c, 1)) {
		uint64_t hpa = fctx_pa(&c, s1, 2 * s1);

		EXPECT_OK(&c, npt_map_region(t, top + PG - 2 * s1, hpa, 2 * s1, c.rw, NPT_MAP_2M));
		n = collect_leaves(&c, t, top + PG - 2 * s1, 2 * s1, &lv);
		ck_assert_msg(n == 2 && lv[0].size == s1 && lv[1].size == s1,
			      "[%s] 2 x 2M at the top: %zu leaves", c.name, n);
		free(lv);
		check_mapped(&c, t, top + PG - 2 * s1, hpa, 2 * s1, c.rw, __LINE__);
		EXPECT_OK(&c, npt_unmap_region(t, top + PG - s1 - PG, 2 * PG));
		check_mapped(&c, t, top + PG - 2 * s1, hpa, s1 - PG, c.rw, __LINE__);
		check_mapped(&c, t, top + PG - s1 + PG, hpa + s1 + PG, s1 - PG, c.rw, __LINE__);
		check_unmapped(&c, t, top + PG - s1 - PG, 2 * PG, __LINE__);
		EXPECT_OK(&c, npt_unmap_region(t, top + PG - 2 * s1, s1 - PG));
		EXPECT_OK(&c, npt_unmap_region(t, top + PG - s1 + PG, s1 - PG));
		ck_assert_uint_eq(npt_table_frames(t), c.info.root_frames);
	}
	if (c.info.canonical) {
		/* the first page of the high half and the last of the low half */
		EXPECT_OK(&c, npt_map(t, c.hi_start, PG, PG, c.rw));
		EXPECT_OK(&c, npt_map(t, c.lo_end - PG, 2 * PG, PG, c.rw));
		check_mapped(&c, t, c.hi_start, PG, PG, c.rw, __LINE__);
		check_mapped(&c, t, c.lo_end - PG, 2 * PG, PG, c.rw, __LINE__);
		EXPECT_OK(&c, npt_unmap_region(t, c.hi_start, PG));
		EXPECT_OK(&c, npt_unmap_region(t, c.lo_end - PG, PG));
		ck_assert_uint_eq(npt_table_frames(t), c.info.root_frames);
	}
	npt_free(t);
	ck_assert_uint_eq(testmm_live(&c.mm), 0);
	fctx_fini(&c);
}
END_TEST

/* ---- register values -------------------------------------------------------- */

START_TEST(t_regs)
{
	struct fctx c;
	struct npt_table *t;
	uint64_t cr3, eptp;

	fctx_init(&c, (unsigned)_i, 64, 1);
	t = fctx_new(&c);
	cr3 = npt_x86_cr3(t);
	eptp = npt_ept_pointer(t, 0);
	/* Only the formats a register belongs to return non-zero (npt.h names them). */
	if (!strcmp(c.name, "x86_64") || !strcmp(c.name, "x86_64-la57") || !strcmp(c.name, "npt") ||
	    !strcmp(c.name, "npt5"))
		ck_assert_msg(cr3 == npt_root(t), "[%s] cr3 0x%llx, root 0x%llx", c.name,
			      (unsigned long long)cr3, (unsigned long long)npt_root(t));
	if (!strcmp(c.name, "ept") || !strcmp(c.name, "ept5")) {
		ck_assert_msg((eptp & ~0xfffull) == npt_root(t) && (eptp & 7) == 6 &&
				      ((eptp >> 3) & 7) == c.info.levels - 1 && !(eptp & 0x40),
			      "[%s] eptp 0x%llx", c.name, (unsigned long long)eptp);
		eptp = npt_ept_pointer(t, 1);
		ck_assert_msg(eptp & 0x40, "[%s] eptp with A/D: 0x%llx", c.name,
			      (unsigned long long)eptp);
	}
	ck_assert_uint_eq(npt_x86_cr3(NULL), 0);
	ck_assert_uint_eq(npt_ept_pointer(NULL, 1), 0);
	ck_assert_uint_eq(npt_root(NULL), 0);
	ck_assert_uint_eq(npt_table_frames(NULL), 0);
	ck_assert_ptr_null(npt_table_format(NULL));
	npt_free(t);
	fctx_fini(&c);
}
END_TEST

static Suite *api_suite(void)
{
	Suite *s = suite_create("api");
	TCase *tc = tcase_create("formats");

	tcase_add_test(tc, t_formats);
	ADD_FMT_TEST(tc, t_info);
	ADD_FMT_TEST(tc, t_encode_decode);
	ADD_FMT_TEST(tc, t_regs);
	suite_add_tcase(s, tc);

	tc = tcase_create("calls");
	tcase_set_timeout(tc, 60);
	ADD_FMT_TEST(tc, t_new_free);
	ADD_FMT_TEST(tc, t_abandon);
	ADD_FMT_TEST(tc, t_null_args);
	ADD_FMT_TEST(tc, t_map_query);
	ADD_FMT_TEST(tc, t_query);
	ADD_FMT_TEST(tc, t_map_errors);
	ADD_FMT_TEST(tc, t_unmap_protect_remap_errors);
	ADD_FMT_TEST(tc, t_edges);
	suite_add_tcase(s, tc);

	tc = tcase_create("flags");
	tcase_set_timeout(tc, 60);
	ADD_FMT_TEST(tc, t_flags_roundtrip);
	ADD_FMT_TEST(tc, t_flags_refused);
	suite_add_tcase(s, tc);

	tc = tcase_create("walk_flush_share");
	tcase_set_timeout(tc, 60);
	ADD_FMT_TEST(tc, t_walk);
	ADD_FMT_TEST(tc, t_flush);
	ADD_FMT_TEST(tc, t_flush_after_failure);
	ADD_FMT_TEST(tc, t_flush_split);
	ADD_FMT_TEST(tc, t_init_storage);
	ADD_FMT_TEST(tc, t_copy_from);
	ADD_FMT_TEST(tc, t_copy_from_leaf);
	ADD_FMT_TEST(tc, t_copy_from_last_entry);
	suite_add_tcase(s, tc);

	tc = tcase_create("share_src_empties");
	tcase_set_timeout(tc, 60);
	ADD_FMT_TEST(tc, t_copy_from_src_empties);
	suite_add_tcase(s, tc);
	return s;
}

NPT_CHECK_MAIN(api_suite)
