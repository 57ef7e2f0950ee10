/*
 * npt_translate_2d on every stage-1 / stage-2 pair the hardware nests:
 * x86_64 and x86_64-la57 over ept, ept5, npt and npt5; aarch64 over
 * aarch64-s2 and aarch64-s2-48; sv39, sv48 and sv57 over sv39x4, sv48x4 and
 * sv57x4.
 *
 * The guest's stage-1 table lives in guest RAM: npt builds it through an
 * allocator whose frames are guest-physical pages, and stage 2 maps those
 * pages (4 KiB pages shuffled, or 2 MiB leaves) onto host frames of a test
 * pool, which is also the host memory the walk reads.
 *
 *  - t_random: random stage-1 and stage-2 maps (huge leaves, holes, device
 *    and read-only ranges, stage-1 tables in pages stage 2 leaves out or
 *    write-protects, outputs beyond stage 2's width, accessed and dirty
 *    flags harvested) and thousands of probes, each compared field by
 *    field -- fault, stage, level, address, flags, gpa, hpa, page size and
 *    every reference -- with an oracle of this file: the stage-1 walk done
 *    with npt_decode on the raw entries, every stage-2 step with npt_walk
 *    and npt_query, and the rights each family grants.
 *  - t_vectors_*: entries changed by hand as the manuals describe (reserved
 *    bits, hierarchical rights, access flags, misaligned superpages,
 *    EPT misconfigurations, Arm's PTW and FEAT_XNX, RISC-V's G-stage U).
 *  - t_refs: 24 references for 4 over 4 levels, 35 for 5 over 5, in the
 *    hardware's order.
 *  - t_args: the refusals.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/check_main.h"
#include "lib/tutil.h"
#include "lib/twod.h"
#include "fuzz/translate_fz.c"

/* ---- the oracle ------------------------------------------------------------------ */

struct path {
	unsigned n;            /* tables below the root on the way */
	uint64_t table[8];     /* their addresses, ... */
	unsigned level[8];     /* ... and levels */
	int leaf;
	unsigned leaf_level, flags;
	uint64_t leaf_pa;
};

static int path_visit(const struct npt_visit *v, void *arg)
{
	struct path *p = arg;

	if (v->kind == NPT_WALK_TABLE_PRE) {
		p->table[p->n] = v->pa;
		p->level[p->n++] = v->level - 1;
	} else if (v->kind == NPT_WALK_LEAF) {
		p->leaf = 1;
		p->leaf_level = v->level;
		p->flags = v->flags;
		p->leaf_pa = v->pa;
	}
	return 0;
}

static unsigned idx_of(const struct npt_format_info *i, unsigned level, uint64_t a)
{
	unsigned n = level == i->levels - 1 ? i->root_entries : 512;

	return (unsigned)(a >> (12 + 9 * level)) & (n - 1);
}

static int efault(struct npt_2d *o, int err, unsigned stage, unsigned level, uint64_t addr)
{
	o->fault = err;
	o->fault_stage = stage;
	o->fault_level = level;
	o->fault_addr = addr;
	return err;
}

static void eref(struct npt_2d *o, unsigned stage, unsigned level, uint64_t addr)
{
	ck_assert_uint_lt(o->nrefs, NPT_2D_MAX_REFS);
	o->refs[o->nrefs].stage = stage;
	o->refs[o->nrefs].level = level;
	o->refs[o->nrefs++].addr = addr;
}

/* Stage 2 of gpa for an access needing `need`: its references from
 * npt_walk's path, then the leaf's rights. */
static int o_stage2(struct world *w, uint64_t gpa, unsigned need, int walk, uint64_t *hpa,
		    uint64_t *size, unsigned *flags, struct npt_2d *o)
{
	const unsigned root = w->i2.levels - 1;
	struct path p = { 0 };
	uint64_t q = 0, qsize = 0;
	unsigned k, qflags = 0;
	int qr;

	if (gpa >> w->i2.va_bits)
		return efault(o, NPT_ERR_RANGE, 2, root, gpa);
	ck_assert_int_eq(npt_walk(w->s2, gpa & ~(PG - 1), PG, NPT_WALK_TABLE_PRE | NPT_WALK_LEAF,
				  path_visit, &p), 0);
	eref(o, 2, root, npt_root(w->s2) + 8 * idx_of(&w->i2, root, gpa));
	for (k = 0; k < p.n; k++)
		eref(o, 2, p.level[k], p.table[k] + 8 * idx_of(&w->i2, p.level[k], gpa));
	qr = npt_query(w->s2, gpa, &q, &qflags, &qsize);
	ck_assert_int_eq(qr, p.leaf ? 0 : NPT_ERR_NOT_MAPPED);
	if (!p.leaf)
		return efault(o, NPT_ERR_NOT_MAPPED, 2, p.n ? p.level[p.n - 1] : root, gpa);
	ck_assert_uint_eq(qflags, p.flags);
	*hpa = q;
	*size = qsize;
	*flags = qflags & (NPT_R | NPT_W | NPT_X | NPT_DEVICE);
	if (need & ~qflags & (NPT_R | NPT_W | NPT_X))
		return efault(o, NPT_ERR_PERM, 2, p.leaf_level, gpa);
	if (walk && (qflags & NPT_DEVICE))
		return efault(o, w->fam == FAM_ARM ? NPT_ERR_PERM : NPT_ERR_UNSUPPORTED, 2,
			      p.leaf_level, gpa);
	return 0;
}

/* What a leaf npt wrote grants the access's privilege (npt's encodings
 * only: its table entries restrict nothing). */
static unsigned o_rights(const struct world *w, unsigned f, uint64_t pte, unsigned user)
{
	unsigned rwx = f & (NPT_R | NPT_W | NPT_X);

	switch (w->fam) {
	case FAM_X86:
		return user && !(f & NPT_U) ? 0 : rwx;
	case FAM_ARM:
		/* decode reports X from UXN on EL0 pages, PXN otherwise; npt
		 * sets PXN on every EL0 page. A writable-clean leaf (DBM) is
		 * read-only to hardware without dirty-state management. */
		if (pte & (1ull << 7))
			rwx &= ~NPT_W;
		if (user)
			return (f & NPT_U) ? rwx : 0;
		return (f & NPT_U) ? rwx & ~NPT_X : rwx;
	default:
		return !user != !(f & NPT_U) ? 0 : rwx;
	}
}

static int o_input_ok(const struct world *w, uint64_t va)
{
	unsigned sb = w->fam == FAM_ARM ? 48 : w->i1.va_bits - 1, s = 63 - sb;

	return (uint64_t)((int64_t)(va << s) >> s) == va;
}

static void oracle(struct world *w, uint64_t va, unsigned access, struct npt_2d *o)
{
	const unsigned root = w->i1.levels - 1;
	const unsigned user = access & NPT_U;
	const unsigned walk_need = w->fam == FAM_X86 ? NPT_R | NPT_W : NPT_R;
	uint64_t table = npt_root(w->s1), hpa = 0, size2 = 0, pa = 0, pte = 0;
	unsigned level = root, f1 = 0, f2 = 0, rights;
	int leaf = 0, r;

	memset(o, 0, sizeof(*o));
	if (!o_input_ok(w, va)) {
		efault(o, NPT_ERR_RANGE, 1, root, va);
		return;
	}
	for (;; level--) {
		uint64_t egpa = table + 8 * idx_of(&w->i1, level, va);
		unsigned fl;

		if (o_stage2(w, egpa, walk_need, 1, &hpa, &size2, &fl, o))
			return;
		pte = *(uint64_t *)testmm_va(&w->host, hpa);
		eref(o, 1, level, egpa);
		if (npt_decode(w->f1, level, pte, &pa, &f1, &leaf)) {
			efault(o, NPT_ERR_NOT_MAPPED, 1, level, va);
			return;
		}
		if (leaf)
			break;
		table = pa;
	}
	rights = o_rights(w, f1, pte, user);
	o->flags = rights | (f1 & (NPT_U | NPT_DEVICE));
	if (w->fam == FAM_ARM && !(f1 & NPT_A)) {
		efault(o, NPT_ERR_ACCESSED, 1, level, va);
		return;
	}
	if (access & ~rights & (NPT_R | NPT_W | NPT_X)) {
		efault(o, NPT_ERR_PERM, 1, level, va);
		return;
	}
	if (w->fam == FAM_RV && (!(f1 & NPT_A) || ((access & NPT_W) && !(f1 & NPT_D)))) {
		efault(o, NPT_ERR_ACCESSED, 1, level, va);
		return;
	}
	o->gpa = pa | (va & (lsize(level) - 1));
	/* a stage 2 without a leaf grants nothing (f2 stays 0) */
	r = o_stage2(w, o->gpa, access, 0, &hpa, &size2, &f2, o);
	o->flags = (rights & f2) | (f1 & NPT_U) | ((f1 | f2) & NPT_DEVICE);
	if (r)
		return;
	o->hpa = hpa;
	o->page_size = lsize(level) < size2 ? lsize(level) : size2;
}

static const char *access_name(unsigned a)
{
	static char s[8];
	char *p = s;

	if (a & NPT_R)
		*p++ = 'r';
	if (a & NPT_W)
		*p++ = 'w';
	if (a & NPT_X)
		*p++ = 'x';
	if (a & NPT_U)
		*p++ = 'u';
	*p = 0;
	return s;
}

/* Outcomes seen, by stage and fault: t_random checks that each kind the
 * pair can produce came up. */
static unsigned long seen[3][16];

/* Host memory for npt_translate_raw: the pool, looked up page by page
 * (no NPT_MM_LINEAR), NULL outside it. */
static void *raw_virt(void *ctx, uint64_t pa)
{
	return testmm_va(ctx, pa);
}

static void compare(struct world *w, uint64_t va, unsigned access)
{
	struct npt_2d got, want, raw;
	const struct npt_mm host = { .ctx = &w->host, .phys_to_virt = raw_virt };
	int r = npt_translate_2d(w->f1, npt_root(w->s1), w->s2, va, access, &got);
	unsigned i;

	/* the raw walk of the same tables reads the same entries */
	ck_assert_int_eq(npt_translate_raw(w->f1, npt_root(w->s1), w->f2, npt_root(w->s2), &host, va,
					   access, &raw), r);
	ck_assert_msg(same(&got, &raw), "%s over %s, va %#llx: npt_translate_raw differs",
		      w->i1.name, w->i2.name, (unsigned long long)va);

	oracle(w, va, access, &want);
#define SAME(field)                                                                              \
	ck_assert_msg(got.field == want.field,                                                   \
		      "%s over %s, va %#llx %s: " #field " %#llx, oracle %#llx (fault %d/%d)",    \
		      w->i1.name, w->i2.name, (unsigned long long)va, access_name(access),        \
		      (unsigned long long)got.field, (unsigned long long)want.field, got.fault,   \
		      want.fault)
	ck_assert_int_eq(r, got.fault);
	seen[got.fault_stage % 3][-got.fault & 15]++;
	SAME(fault);
	SAME(fault_stage);
	SAME(fault_level);
	SAME(fault_addr);
	SAME(flags);
	SAME(gpa);
	SAME(hpa);
	SAME(page_size);
	SAME(nrefs);
	for (i = 0; i < want.nrefs; i++) {
		SAME(refs[i].stage);
		SAME(refs[i].level);
		SAME(refs[i].addr);
	}
#undef SAME
}

/* ---- random tables ----------------------------------------------------------------- */

/* A random canonical input address of the stage-1 format, page aligned
 * to align. */
static uint64_t rand_va(struct world *w, uint64_t align)
{
	const unsigned bits = w->i1.va_bits;
	uint64_t va = twod_rnd(w) & ((1ull << (bits - 1)) - 1) & ~(align - 1);

	/* the low half mostly, sometimes a small address, sometimes the high half */
	switch (twod_rnd(w) % 4) {
	case 0:
		va &= (1ull << 32) - 1;
		break;
	case 1:
		va |= ~0ull << (bits - 1);
		break;
	}
	return va;
}

static unsigned rand_s1_flags(struct world *w, unsigned level)
{
	for (;;) {
		unsigned f = (unsigned)twod_rnd(w) & (NPT_R | NPT_W | NPT_X | NPT_U | NPT_DEVICE | NPT_G);
		uint64_t pte;

		if (twod_rnd(w) % 3)
			f |= NPT_R;
		if (w->fam == FAM_X86 && (f & NPT_W))
			f |= NPT_D * (unsigned)(twod_rnd(w) & 1);
		f &= w->i1.flags;
		if (!npt_encode_leaf(w->f1, level, 0, f, &pte))
			return f;
	}
}

/* A guest-physical target for a stage-1 map of size bytes: RAM mostly, the
 * MMIO window, a hole, or beyond stage 2's input width. */
static uint64_t rand_gpa(struct world *w, uint64_t size)
{
	uint64_t beyond = 1ull << w->i2.va_bits;

	switch (twod_rnd(w) % 10) {
	case 0:
		return size <= 16 * PG ? MMIO_GPA : HOLE_GPA;
	case 1:
		return HOLE_GPA & ~(size - 1);
	case 2:
		if (w->i2.va_bits < w->i1.pa_bits)
			return beyond;
		/* fall through */
	default:
		if (size >= CHUNKS * CHUNK)
			return RAM_BASE & ~(size - 1);
		return RAM_BASE + (twod_rnd(w) % (CHUNKS * CHUNK / size)) * size;
	}
}

static void random_world(struct world *w)
{
	static uint64_t bitmap[8]; /* 2 MiB of pages */
	unsigned k;

	/* stage 1: 4 KiB runs, 2 MiB and 1 GiB leaves; on Arm and RISC-V some
	 * with the accessed flag harvested (hardware faults on it), on RISC-V
	 * some with the dirty flag harvested */
	for (k = 0; k < TWOD_REGIONS; k++) {
		unsigned r8 = (unsigned)(twod_rnd(w) % 8);
		unsigned level = r8 < 5 ? 0 : r8 < 7 ? 1 : 2;
		uint64_t size = level ? lsize(level) : PG * (1 + twod_rnd(w) % 64);
		uint64_t va = rand_va(w, level ? lsize(level) : PG);
		uint64_t gpa = rand_gpa(w, level ? size : PG);
		unsigned fl = rand_s1_flags(w, level);
		int r = npt_map_region(w->s1, va, gpa, size, fl, level ? NPT_MAP_HUGE : 0);

		ck_assert_msg(r == 0 || r == NPT_ERR_ALREADY_MAPPED || r == NPT_ERR_HUGE,
			      "%s map_region: %d", w->i1.name, r);
		if (r)
			continue;
		w->region_va[w->nregions] = va;
		w->region_size[w->nregions++] = size;
		if (size > 512 * PG)
			continue;
		if (w->fam != FAM_X86 && twod_rnd(w) % 4 == 0)
			ck_assert_int_eq(npt_harvest(w->s1, va, size, NPT_A, bitmap), 0);
		if (w->fam == FAM_RV && twod_rnd(w) % 4 == 0)
			ck_assert_int_eq(npt_harvest(w->s1, va, size, NPT_D, bitmap), 0);
	}
	/* stage 2: some RAM pages left out, read-only or device, every third
	 * one a page that holds a stage-1 table */
	for (k = 0; k < 40; k++) {
		unsigned i = (unsigned)(twod_rnd(w) % RAM_PAGES);
		uint64_t gpa;

		while (k % 3 == 0 && !w->used[i])
			i = (i + 1) % RAM_PAGES;
		gpa = RAM_BASE + (uint64_t)i * PG;
		switch (twod_rnd(w) % 3) {
		case 0:
			ck_assert_int_eq(npt_unmap_sparse(w->s2, gpa, PG), 0);
			break;
		case 1:
			ck_assert_int_eq(npt_protect_sparse(w->s2, gpa, PG, NPT_R | NPT_X), 0);
			break;
		default:
			ck_assert_int_eq(npt_protect_sparse(w->s2, gpa, PG,
							    NPT_R | NPT_W | NPT_DEVICE), 0);
			break;
		}
	}
	ck_assert_uint_gt(w->nregions, TWOD_REGIONS / 2);
}

START_TEST(t_random)
{
	const unsigned accesses[] = { NPT_R, NPT_W, NPT_X, NPT_R | NPT_W };
	struct world w;
	unsigned seed;

	memset(seen, 0, sizeof(seen));
	for (seed = 1; seed <= 3; seed++) {
		unsigned k;

		world_init(&w, twod_pairs[_i][0], twod_pairs[_i][1], seed * 100 + _i, 0);
		random_world(&w);
		for (k = 0; k < 4000; k++) {
			unsigned r4 = (unsigned)(twod_rnd(&w) % 4), n;
			uint64_t va;

			if (r4 == 0) {        /* anywhere */
				va = rand_va(&w, 1);
			} else if (r4 == 1) { /* non-canonical, or any 64 bits */
				va = twod_rnd(&w);
			} else {              /* inside a stage-1 map */
				n = (unsigned)(twod_rnd(&w) % w.nregions);
				va = w.region_va[n] + twod_rnd(&w) % w.region_size[n];
			}
			compare(&w, va, accesses[twod_rnd(&w) % 4] | (twod_rnd(&w) % 2 ? NPT_U : 0));
		}
		world_fini(&w);
	}
	/* every outcome the pair can produce came up */
	ck_assert_uint_gt(seen[0][0], 100);
	ck_assert_uint_gt(seen[1][-NPT_ERR_NOT_MAPPED], 0);
	ck_assert_uint_gt(seen[1][-NPT_ERR_RANGE], 0);
	ck_assert_uint_gt(seen[1][-NPT_ERR_PERM], 0);
	ck_assert_uint_gt(seen[2][-NPT_ERR_NOT_MAPPED], 0);
	ck_assert_uint_gt(seen[2][-NPT_ERR_PERM], 0);
	if (w.i2.va_bits < w.i1.pa_bits)
		ck_assert_uint_gt(seen[2][-NPT_ERR_RANGE], 0);
	if (w.fam != FAM_ARM)
		ck_assert_uint_gt(seen[2][-NPT_ERR_UNSUPPORTED], 0);
	if (w.fam != FAM_X86)
		ck_assert_uint_gt(seen[1][-NPT_ERR_ACCESSED], 0);
}
END_TEST

/* ---- references -------------------------------------------------------------------- */

START_TEST(t_refs)
{
	static const char *const deep[][2] = {
		{ "x86_64", "ept" }, { "x86_64-la57", "ept5" }, { "x86_64", "npt" },
		{ "x86_64-la57", "npt5" }, { "aarch64", "aarch64-s2-48" }, { "sv57", "sv57x4" },
	};
	unsigned p;

	for (p = 0; p < sizeof(deep) / sizeof(deep[0]); p++) {
		struct world w;
		struct npt_2d o;
		const uint64_t va = 0x1000003000ull;
		unsigned l1, l2, k = 0, n1, n2;

		world_init(&w, deep[p][0], deep[p][1], 7, 1);
		n1 = w.i1.levels;
		n2 = w.i2.levels;
		ck_assert_int_eq(npt_map(w.s1, va, RAM_BASE + CHUNK + 5 * PG, PG, NPT_R | NPT_W), 0);
		ck_assert_int_eq(npt_translate_2d(w.f1, npt_root(w.s1), w.s2, va, NPT_R, &o), 0);
		ck_assert_uint_eq(o.nrefs, n1 * (n2 + 1) + n2);
		if (n1 == 4 && n2 == 4)
			ck_assert_uint_eq(o.nrefs, 24);
		if (n1 == 5 && n2 == 5)
			ck_assert_uint_eq(o.nrefs, 35);
		for (l1 = n1; l1-- > 0;) {
			for (l2 = n2; l2-- > 0; k++) {
				ck_assert_uint_eq(o.refs[k].stage, 2);
				ck_assert_uint_eq(o.refs[k].level, l2);
			}
			ck_assert_uint_eq(o.refs[k].stage, 1);
			ck_assert_uint_eq(o.refs[k++].level, l1);
		}
		for (l2 = n2; l2-- > 0; k++) {
			ck_assert_uint_eq(o.refs[k].stage, 2);
			ck_assert_uint_eq(o.refs[k].level, l2);
		}
		ck_assert_uint_eq(o.gpa, RAM_BASE + CHUNK + 5 * PG);
		ck_assert_uint_eq(o.hpa, w.hpa_of[512 + 5]);
		ck_assert_uint_eq(o.page_size, PG);
		ck_assert_uint_eq(o.flags, NPT_R | NPT_W);
		compare(&w, va, NPT_R);
		world_fini(&w);
	}
}
END_TEST

/* ---- arguments --------------------------------------------------------------------- */

START_TEST(t_args)
{
	struct world w;
	struct npt_2d o;
	const struct npt_format *la = npt_format_by_name("loongarch64");
	uint64_t root;

	world_init(&w, "x86_64", "ept", 1, 1);
	root = npt_root(w.s1);
	ck_assert_int_eq(npt_translate_2d(w.f1, root, w.s2, 0, NPT_R, NULL), NPT_ERR_INVAL);
#define REFUSED(call)                                                 \
	do {                                                          \
		memset(&o, 0x5a, sizeof(o));                          \
		ck_assert_int_eq(call, NPT_ERR_INVAL);                \
		ck_assert_int_eq(o.fault, NPT_ERR_INVAL);             \
		ck_assert_uint_eq(o.fault_stage, 0);                  \
		ck_assert_uint_eq(o.nrefs, 0);                        \
	} while (0)
	REFUSED(npt_translate_2d(NULL, root, w.s2, 0, NPT_R, &o));
	REFUSED(npt_translate_2d(w.f1, root, NULL, 0, NPT_R, &o));
	REFUSED(npt_translate_2d(w.f2, root, w.s2, 0, NPT_R, &o));               /* stage 2 as stage 1 */
	REFUSED(npt_translate_2d(npt_format_by_name("aarch64"), root, w.s2, 0, NPT_R, &o)); /* family */
	REFUSED(npt_translate_2d(npt_format_by_name("sv48"), root, w.s2, 0, NPT_R, &o));
	REFUSED(npt_translate_2d(la, root, w.s2, 0, NPT_R, &o));
	REFUSED(npt_translate_2d(w.f1, root, w.s2, 0, 0, &o));                   /* no access */
	REFUSED(npt_translate_2d(w.f1, root, w.s2, 0, NPT_U, &o));
	REFUSED(npt_translate_2d(w.f1, root, w.s2, 0, NPT_R | NPT_DEVICE, &o));
	REFUSED(npt_translate_2d(w.f1, root, w.s2, 0, NPT_R | 0x100, &o));
#undef REFUSED
	/* the stage-1 root's low bits are ignored, as CR3's */
	ck_assert_int_eq(npt_map(w.s1, 0x5000, RAM_BASE + CHUNK, PG, NPT_R), 0);
	ck_assert_int_eq(npt_translate_2d(w.f1, root | 0x18, w.s2, 0x5123, NPT_R, &o), 0);
	ck_assert_uint_eq(o.gpa, RAM_BASE + CHUNK + 0x123);
	/* a root outside guest RAM faults at stage 2 reading its entry */
	ck_assert_int_eq(npt_translate_2d(w.f1, HOLE_GPA, w.s2, 0x5123, NPT_R, &o),
			 NPT_ERR_NOT_MAPPED);
	ck_assert_uint_eq(o.fault_stage, 2);
	ck_assert_uint_eq(o.fault_addr, HOLE_GPA);
	ck_assert_uint_eq(o.fault_level, 1); /* RAM's 1 GiB has a table, the hole's 2 MiB none */
	ck_assert_uint_eq(o.nrefs, 3);
	/* in the MMIO window: npt cannot read it */
	ck_assert_int_eq(npt_translate_2d(w.f1, MMIO_GPA, w.s2, 0x5123, NPT_R, &o),
			 NPT_ERR_UNSUPPORTED);
	ck_assert_uint_eq(o.fault_stage, 2);
	ck_assert_uint_eq(o.fault_level, 0);
	/* beyond stage 2's width */
	ck_assert_int_eq(npt_translate_2d(w.f1, 1ull << 50, w.s2, 0x5123, NPT_R, &o),
			 NPT_ERR_RANGE);
	ck_assert_uint_eq(o.fault_stage, 2);
	ck_assert_uint_eq(o.fault_level, 3);
	ck_assert_uint_eq(o.fault_addr, 1ull << 50);
	/* non-canonical input */
	ck_assert_int_eq(npt_translate_2d(w.f1, root, w.s2, 0x0000800000000000ull, NPT_R, &o),
			 NPT_ERR_RANGE);
	ck_assert_uint_eq(o.fault_stage, 1);
	ck_assert_uint_eq(o.fault_addr, 0x0000800000000000ull);
	world_fini(&w);
}
END_TEST

/* ---- one stage --------------------------------------------------------------------- */

/* npt_translate_raw with no stage 2, on every format with a hardware
 * model, against npt_query: a page npt mapped readable translates to where
 * query says, with one reference per level walked; an unmapped one faults
 * NOT_MAPPED; one without R faults PERM. */
START_TEST(t_one_stage)
{
	const char *name = npt_format_names()[_i];
	const struct npt_format *f = npt_format_by_name(name);
	struct npt_format_info fi;
	struct testmm m;
	struct npt_table *t;
	const struct npt_mm host = { .ctx = &m, .phys_to_virt = raw_virt };
	uint64_t rng = 0x1234567 + _i, va, pa, size, mva[200], msize[200];
	unsigned k, fl, counted = 0;
	struct npt_2d o;
	int err, r, q;

	npt_format_info(f, &fi);
	ck_assert_int_eq(testmm_init(&m, 0x100000000ull, 2048), 0);
	t = npt_new(f, &m.mm, &err);
	ck_assert_ptr_nonnull(t);
	if (!strcmp(name, "loongarch64")) {
		ck_assert_int_eq(npt_translate_raw(f, npt_root(t), NULL, 0, &host, 0, NPT_R, &o),
				 NPT_ERR_INVAL);
		goto out;
	}
	for (k = 0; k < 200; k++) {
		unsigned want = NPT_R | (rng & 1 ? NPT_W : 0) | (rng & 2 ? NPT_X : 0) |
				(!fi.stage2 && (rng & 4) ? NPT_U : 0);

		rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
		if (k % 7 == 6 && fi.stage2)
			want &= ~NPT_R; /* write-only or execute-only where the format has it */
		/* the whole input space of a guest-physical format, the low half of
		 * a canonical one */
		mva[k] = (rng % (1ull << (fi.va_bits - fi.canonical))) & ~0x1fffffull;
		msize[k] = (1 + k % 3) << 21;
		if (npt_map_region(t, mva[k], (rng >> 7) % (1ull << 40) & ~0x1fffffull, msize[k],
				   want | (fi.flags & (NPT_A | NPT_D)), k % 2 ? NPT_MAP_2M : 0))
			msize[k] = 0;
	}
	for (k = 0; k < 20000; k++) {
		rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
		va = rng % (1ull << (fi.va_bits - fi.canonical));
		if (k % 4 && msize[rng % 200])
			va = mva[rng % 200] + (rng >> 8) % msize[rng % 200];
		fl = 0; /* query leaves it unwritten for an unmapped va */
		q = npt_query(t, va, &pa, &fl, &size);
		r = npt_translate_raw(f, npt_root(t), NULL, 0, &host, va,
				      NPT_R | (fl & NPT_U), &o);
		if (q == NPT_ERR_NOT_MAPPED) {
			ck_assert_int_eq(r, NPT_ERR_NOT_MAPPED);
			ck_assert_uint_eq(o.fault_stage, 1);
			continue;
		}
		ck_assert_int_eq(q, 0);
		ck_assert_uint_eq(o.nrefs, fi.levels - (63 - __builtin_clzll(size) - 12) / 9);
		ck_assert_uint_eq(o.refs[0].addr, npt_root(t) + 8 * ((va >> (12 + 9 * (fi.levels - 1))) &
								     (fi.root_entries - 1)));
		if (!(fl & NPT_R)) {
			ck_assert_int_eq(r, NPT_ERR_PERM);
			continue;
		}
		ck_assert_msg(r == 0, "%s: va %#llx: %d", name, (unsigned long long)va, r);
		ck_assert_uint_eq(o.hpa, pa);
		ck_assert_uint_eq(o.gpa, pa);
		ck_assert_uint_eq(o.page_size, size);
		ck_assert_uint_eq(o.flags & (NPT_R | NPT_W | NPT_X), fl & (NPT_R | NPT_W | NPT_X));
		counted++;
	}
	ck_assert_uint_gt(counted, 1000);
	/* a root outside mem */
	ck_assert_int_eq(npt_translate_raw(f, 0x7000, NULL, 0, &host, 0, NPT_R, &o),
			 NPT_ERR_UNSUPPORTED);
	ck_assert_uint_eq(o.nrefs, 1);
	ck_assert_uint_eq(o.refs[0].addr, 0x7000);
	ck_assert_int_eq(npt_translate_raw(f, npt_root(t), NULL, 0, NULL, 0, NPT_R, &o), NPT_ERR_INVAL);
out:
	npt_free(t);
	testmm_destroy(&m);
}
END_TEST

/* ---- the fuzz target's corpus ------------------------------------------------------
 * Each committed seed of fuzz_translate, then 2000 mutants of each (bytes
 * flipped, replaced, inserted and cut, seeded): the target's checks without
 * libFuzzer. */

START_TEST(t_fuzz_corpus)
{
	const char *dir = "tests/fuzz/corpus-translate";
	DIR *d = opendir(dir);
	struct dirent *e;
	unsigned seeds = 0;
	uint64_t rng = 0x2545f4914f6cdd1dull;

	ck_assert_msg(d != NULL, "%s: run from the top of the tree", dir);
	while ((e = readdir(d))) {
		unsigned char in[4096], mut[4096];
		char path[512], msg[512];
		size_t n, m, k;
		unsigned i;
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		f = fopen(path, "rb");
		ck_assert_ptr_nonnull(f);
		n = fread(in, 1, sizeof(in), f);
		fclose(f);
		ck_assert_msg(fzt_run(in, n, msg, sizeof(msg)) == 0, "%s: %s", path, msg);
		seeds++;
		for (i = 0; i < 2000; i++) {
			memcpy(mut, in, n);
			m = n;
			for (k = 0; k < 1 + i % 8; k++) {
				size_t at;

				rng ^= rng << 13;
				rng ^= rng >> 7;
				rng ^= rng << 17;
				at = (size_t)(rng >> 20) % (m ? m : 1);
				switch (rng % 4) {
				case 0:
					mut[at] ^= (unsigned char)(1u << (rng >> 8) % 8);
					break;
				case 1:
					mut[at] = (unsigned char)(rng >> 32);
					break;
				case 2:
					if (m < sizeof(mut)) {
						memmove(mut + at + 1, mut + at, m - at);
						mut[at] = (unsigned char)(rng >> 40);
						m++;
					}
					break;
				default:
					m = at + 1 < m ? m - 1 : m;
					break;
				}
			}
			ck_assert_msg(fzt_run(mut, m, msg, sizeof(msg)) == 0, "mutant %u of %s: %s", i,
				      path, msg);
		}
	}
	closedir(d);
	ck_assert_uint_ge(seeds, 20);
}
END_TEST

static Suite *translate_suite(void)
{
	Suite *s = suite_create("translate_2d");
	TCase *tc = tcase_create("translate_2d");

	tcase_set_timeout(tc, 300);
	tcase_add_loop_test(tc, t_random, 0, twod_npairs);
	tcase_add_test(tc, t_refs);
	tcase_add_test(tc, t_args);
	tcase_add_test(tc, t_fuzz_corpus);
	tcase_add_loop_test(tc, t_one_stage, 0, fmt_count());
	suite_add_tcase(s, tc);
	return s;
}

NPT_CHECK_MAIN(translate_suite)
