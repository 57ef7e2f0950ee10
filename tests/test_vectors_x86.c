/*
 * Raw-entry vectors for the x86 formats (arch/x86.c, arch/ept.c), checked bit
 * by bit against the manuals:
 *  - x86_64, x86_64-la57: Intel SDM vol. 3A §4.5, Tables 4-14..4-20.
 *  - npt: AMD APM vol. 2 §5.3 (entry layout) and §15.25 (nested paging).
 *  - ept, ept5: Intel SDM vol. 3C §29.3 (EPT), §25.6.11 (EPTP).
 *
 * The expected bit values below are written out independently of arch/ (no
 * shared macros), so a wrong constant there shows up here.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "npt.h"
#include "format.h"
#include "../arch/arch.h"
#include "lib/check_main.h"
#include "lib/testmm.h"
#include "lib/vectors.h"

/* ---- the manual's bits, written out once ---------------------------------- */

/* x86-64 paging entries: SDM vol. 3A Tables 4-14..4-20, APM vol. 2 §5.4.1. */
#define P    0x1ull                 /* bit 0  P    present */
#define RW   0x2ull                 /* bit 1  R/W  read/write */
#define US   0x4ull                 /* bit 2  U/S  user/supervisor */
#define PWT  0x8ull                 /* bit 3  PWT  page-level write-through */
#define PCD  0x10ull                /* bit 4  PCD  page-level cache disable */
#define ACC  0x20ull                /* bit 5  A    accessed */
#define DRT  0x40ull                /* bit 6  D    dirty */
#define PS   0x80ull                /* bit 7  PS   page size (PDE/PDPTE); PAT in a PTE */
#define GLB  0x100ull               /* bit 8  G    global */
#define PAT_HUGE 0x1000ull          /* bit 12 PAT  in a 2 MiB / 1 GiB leaf */
#define NX   0x8000000000000000ull  /* bit 63 XD   execute disable */

/* EPT entries: SDM vol. 3C §29.3.2 (Tables "Format of an EPT ... Entry"). */
#define ER   0x1ull                 /* bit 0    read access */
#define EW   0x2ull                 /* bit 1    write access */
#define EX   0x4ull                 /* bit 2    execute access */
#define EMT_WB (6ull << 3)          /* bits 5:3 EPT memory type 6 = WB */
#define EMT_UC (0ull << 3)          /* bits 5:3 EPT memory type 0 = UC */
#define EMT_WT (4ull << 3)          /* bits 5:3 EPT memory type 4 = WT */
#define EIPAT 0x40ull               /* bit 6    ignore PAT memory type */
#define ELEAF 0x80ull               /* bit 7    page (PDE/PDPTE); ignored in a PTE */
#define EACC 0x100ull               /* bit 8    accessed */
#define EDRT 0x200ull               /* bit 9    dirty */
#define EUX  0x400ull               /* bit 10   user-mode execute (MBEC) */
#define ESVE 0x8000000000000000ull  /* bit 63   suppress #VE */

#define ADDR_51_12 0x000ffffffffff000ull /* address bits 51:12 */

static const struct npt_format *const x86_s1[] = { &npt_fmt_x86_64, &npt_fmt_x86_64_la57 };
static const struct npt_format *const x86_all[] = { &npt_fmt_x86_64, &npt_fmt_x86_64_la57,
						   &npt_fmt_npt, &npt_fmt_npt5 };
static const struct npt_format *const npts[] = { &npt_fmt_npt, &npt_fmt_npt5 };
static const struct npt_format *const epts[] = { &npt_fmt_ept, &npt_fmt_ept5 };
static const struct npt_format *const all5[] = { &npt_fmt_x86_64, &npt_fmt_x86_64_la57,
						&npt_fmt_npt, &npt_fmt_ept, &npt_fmt_ept5,
						&npt_fmt_npt5 };
/* The validity rules, restated from the brief / manuals independently of arch/. */
static int valid_x86_s1(unsigned fl)
{
	if (fl & ~0xffu)
		return 0;
	if (!(fl & NPT_R))                          /* P implies readable */
		return 0;
	if ((fl & (NPT_W | NPT_D)) == NPT_D)        /* R/W=0 D=1: CET shadow stack (§4.6.1) */
		return 0;
	return 1;
}

static int valid_npt(unsigned fl)
{
	if (fl & ~0xffu)
		return 0;
	if (fl & (NPT_U | NPT_G))                   /* stage 2 */
		return 0;
	return (fl & NPT_R) != 0;
}

static int valid_ept(unsigned fl)
{
	if (fl & ~0xffu)
		return 0;
	if (fl & (NPT_U | NPT_G))                   /* stage 2 */
		return 0;
	if (!(fl & (NPT_R | NPT_W | NPT_X)))        /* not present */
		return 0;
	if ((fl & (NPT_R | NPT_W)) == NPT_W)        /* §29.3.3.1 misconfiguration */
		return 0;
	return 1;
}

static int is_ept(const struct npt_format *f)
{
	return f == &npt_fmt_ept || f == &npt_fmt_ept5;
}

static int valid_for(const struct npt_format *f, unsigned fl)
{
	if (f == &npt_fmt_npt || f == &npt_fmt_npt5)
		return valid_npt(fl);
	if (is_ept(f))
		return valid_ept(fl);
	return valid_x86_s1(fl);
}

/* ---- format data ------------------------------------------------------------ */

START_TEST(formats_list)
{
	static const char *const names[] = { "x86_64", "x86_64-la57", "npt", "ept", "ept5",
					      "npt5" };
	const char *const *pub = npt_format_names();
	unsigned i;

	for (i = 0; i < NELEM(names); i++) {
		ck_assert_ptr_nonnull(npt_formats[i]);
		ck_assert_str_eq(npt_formats[i]->name, names[i]);
		ck_assert_ptr_eq(npt_formats[i], all5[i]);
		ck_assert_ptr_eq(npt_format_by_name(names[i]), all5[i]);
		ck_assert_str_eq(pub[i], names[i]);
	}
	/* Names are unique across the whole list (other families included). */
	for (i = 0; npt_formats[i]; i++)
		for (unsigned j = i + 1; npt_formats[j]; j++)
			ck_assert_str_ne(npt_formats[i]->name, npt_formats[j]->name);
}
END_TEST

START_TEST(formats_data)
{
	/* 4K, 2M and 1G leaves; a root of 512 entries in one frame */
#define X86(NAME, FMT, LEVELS, VA, CAN, S2, FLAGS, P_, LEAF, TABLE)                      \
	{ NAME, FMT, LEVELS, VA, 52, CAN, S2, 0x7, FLAGS, 0, ADDR_51_12, P_, LEAF, 0, TABLE, 1, 512 }
	static const struct vec_facts want[] = {
		X86("x86_64", &npt_fmt_x86_64, 4, 48, 1, 0, 0xff, P, PS, P | RW | US),
		X86("x86_64-la57", &npt_fmt_x86_64_la57, 5, 57, 1, 0, 0xff, P, PS, P | RW | US),
		X86("npt", &npt_fmt_npt, 4, 48, 0, 1, NPT_R | NPT_W | NPT_X | NPT_DEVICE | NPT_A | NPT_D, P, PS, P | RW | US),
		X86("ept", &npt_fmt_ept, 4, 48, 0, 1, NPT_R | NPT_W | NPT_X | NPT_DEVICE | NPT_A | NPT_D, ER | EW | EX, ELEAF, ER | EW | EX),
		X86("ept5", &npt_fmt_ept5, 5, 57, 0, 1, NPT_R | NPT_W | NPT_X | NPT_DEVICE | NPT_A | NPT_D, ER | EW | EX, ELEAF, ER | EW | EX),
		X86("npt5", &npt_fmt_npt5, 5, 57, 0, 1, NPT_R | NPT_W | NPT_X | NPT_DEVICE | NPT_A | NPT_D, P, PS, P | RW | US),
	};
#undef X86

	for (unsigned i = 0; i < NELEM(want); i++)
		vec_check_facts(&want[i]);
}
END_TEST

/* ---- x86_64 / x86_64-la57 ---------------------------------------------------- */

START_TEST(x86_s1_vectors)
{
	const struct npt_format *f = x86_s1[_i];

	for (unsigned lvl = 0; lvl <= 2; lvl++) {
		/* PS (bit 7) marks a 2M/1G leaf (Tables 4-16, 4-18); a 4K PTE has PAT
		 * there (Table 4-20), never set. */
		uint64_t ps = lvl ? PS : 0;

		ck_assert_uint_eq(vec_enc_ok(f, lvl, NPT_R), P | NX | ps);
		ck_assert_uint_eq(vec_enc_ok(f, lvl, NPT_R | NPT_W), P | RW | NX | ps);
		ck_assert_uint_eq(vec_enc_ok(f, lvl, NPT_R | NPT_X), P | ps);
		ck_assert_uint_eq(vec_enc_ok(f, lvl, NPT_R | NPT_U), P | US | NX | ps);
		/* DEVICE: PCD=1 PWT=1 -> PAT entry 3 = UC with the power-up PAT. */
		ck_assert_uint_eq(vec_enc_ok(f, lvl, NPT_R | NPT_DEVICE), P | PWT | PCD | NX | ps);
		ck_assert_uint_eq(vec_enc_ok(f, lvl, NPT_R | NPT_A), P | ACC | NX | ps);
		ck_assert_uint_eq(vec_enc_ok(f, lvl, NPT_R | NPT_W | NPT_D), P | RW | DRT | NX | ps);
		ck_assert_uint_eq(vec_enc_ok(f, lvl, NPT_R | NPT_G), P | GLB | NX | ps);
		/* Everything: bits 8:0 all set at levels 1/2, bit 7 clear at level 0. */
		ck_assert_uint_eq(vec_enc_ok(f, lvl, 0xff), lvl ? 0x1ffull : 0x17full);
	}
	/* Levels 1/2 never carry the huge-page PAT bit (bit 12), level 0 never bit 7. */
	for (unsigned fl = 0; fl < 0x100; fl++) {
		uint64_t pte;

		if (!valid_x86_s1(fl))
			continue;
		pte = vec_enc_ok(f, 0, fl);
		ck_assert_uint_eq(pte & (PS | PAT_HUGE), 0);
		for (unsigned lvl = 1; lvl <= 2; lvl++) {
			pte = vec_enc_ok(f, lvl, fl);
			ck_assert_uint_eq(pte & PS, PS);
			ck_assert_uint_eq(pte & ADDR_51_12, 0);
		}
	}
}
END_TEST

START_TEST(x86_s1_refused)
{
	const struct npt_format *f = x86_s1[_i];

	for (unsigned lvl = 0; lvl <= 2; lvl++) {
		/* Present implies readable: nothing without NPT_R. */
		for (unsigned fl = 0; fl < 0x100; fl++)
			if (!(fl & NPT_R))
				vec_enc_refused(f, lvl, fl);
		/* R/W = 0 with D = 1 would be a CET shadow-stack page (SDM §4.6.1). */
		vec_enc_refused(f, lvl, NPT_R | NPT_D);
		vec_enc_refused(f, lvl, NPT_R | NPT_X | NPT_A | NPT_D | NPT_U | NPT_G);
		/* Unknown flags. */
		vec_enc_refused(f, lvl, NPT_R | 0x100u);
		vec_enc_refused(f, lvl, NPT_R | 0x80000000u);
	}
	/* No leaves above level 2 (PML4E/PML5E bit 7 is reserved). */
	vec_bad_levels(f);
}
END_TEST

/* ---- npt ---------------------------------------------------------------------- */

START_TEST(npt_vectors)
{
	const struct npt_format *f = npts[_i];

	for (unsigned lvl = 0; lvl <= 2; lvl++) {
		uint64_t ps = lvl ? PS : 0;

		/* U/S on every leaf: nested walks are user accesses (APM §15.25.5). */
		ck_assert_uint_eq(vec_enc_ok(f, lvl, NPT_R), P | US | NX | ps);
		ck_assert_uint_eq(vec_enc_ok(f, lvl, NPT_R | NPT_W), P | RW | US | NX | ps);
		ck_assert_uint_eq(vec_enc_ok(f, lvl, NPT_R | NPT_X), P | US | ps);
		ck_assert_uint_eq(vec_enc_ok(f, lvl, NPT_R | NPT_DEVICE), P | US | PWT | PCD | NX | ps);
		ck_assert_uint_eq(vec_enc_ok(f, lvl, NPT_R | NPT_A), P | US | ACC | NX | ps);
		ck_assert_uint_eq(vec_enc_ok(f, lvl, NPT_R | NPT_W | NPT_D), P | RW | US | DRT | NX | ps);
		/* No CET meaning in nested tables: D without W is encoded. */
		ck_assert_uint_eq(vec_enc_ok(f, lvl, NPT_R | NPT_D), P | US | DRT | NX | ps);
		ck_assert_uint_eq(vec_enc_ok(f, lvl, NPT_R | NPT_W | NPT_X | NPT_DEVICE | NPT_A | NPT_D),
				  P | RW | US | PWT | PCD | ACC | DRT | ps);
		/* G never set. */
		for (unsigned fl = 0; fl < 0x100; fl++)
			if (valid_npt(fl))
				ck_assert_uint_eq(vec_enc_ok(f, lvl, fl) & (GLB | PAT_HUGE), 0);
	}
}
END_TEST

START_TEST(npt_refused)
{
	const struct npt_format *f = npts[_i];

	for (unsigned lvl = 0; lvl <= 2; lvl++) {
		for (unsigned fl = 0; fl < 0x100; fl++)
			if (!(fl & NPT_R))
				vec_enc_refused(f, lvl, fl);
		/* Stage 2: no user/global (npt.h). */
		vec_enc_refused(f, lvl, NPT_R | NPT_U);
		vec_enc_refused(f, lvl, NPT_R | NPT_G);
		vec_enc_refused(f, lvl, NPT_R | NPT_W | NPT_X | NPT_U | NPT_G);
		vec_enc_refused(f, lvl, NPT_R | 0x100u);
	}
	vec_bad_levels(f);
}
END_TEST

START_TEST(npt_decode_hides_us_g)
{
	const struct npt_format *f = npts[_i];

	/* U/S is npt's own; G (hand-set) is ignored in nested tables. */
	ck_assert_uint_eq(vec_dec_leaf(f, 0, P | US | GLB | NX, 0), NPT_R);
	ck_assert_uint_eq(vec_dec_leaf(f, 0, P | NX, 0), NPT_R);
	ck_assert_uint_eq(vec_dec_leaf(f, 1, P | RW | US | GLB | PS, 0), NPT_R | NPT_W | NPT_X);
}
END_TEST

/* ---- ept / ept5 --------------------------------------------------------------- */

START_TEST(ept_vectors)
{
	const struct npt_format *f = epts[_i];

	for (unsigned lvl = 0; lvl <= 2; lvl++) {
		/* Bit 7: "must be 1 (otherwise references a page directory/table)" in a
		 * PDE/PDPTE that maps a page; ignored in a PTE — left 0 there. */
		uint64_t lf = lvl ? ELEAF : 0;

		ck_assert_uint_eq(vec_enc_ok(f, lvl, NPT_R), ER | EMT_WB | lf);
		ck_assert_uint_eq(vec_enc_ok(f, lvl, NPT_R | NPT_W), ER | EW | EMT_WB | lf);
		ck_assert_uint_eq(vec_enc_ok(f, lvl, NPT_R | NPT_X), ER | EX | EMT_WB | lf);
		ck_assert_uint_eq(vec_enc_ok(f, lvl, NPT_R | NPT_W | NPT_X), ER | EW | EX | EMT_WB | lf);
		/* Execute-only (needs IA32_VMX_EPT_VPID_CAP bit 0). */
		ck_assert_uint_eq(vec_enc_ok(f, lvl, NPT_X), EX | EMT_WB | lf);
		/* DEVICE: memory type UC (0) and ignore-PAT (§29.3.7.2). */
		ck_assert_uint_eq(vec_enc_ok(f, lvl, NPT_R | NPT_DEVICE), ER | EMT_UC | EIPAT | lf);
		ck_assert_uint_eq(vec_enc_ok(f, lvl, NPT_R | NPT_W | NPT_DEVICE),
				  ER | EW | EMT_UC | EIPAT | lf);
		/* A bit 8, D bit 9 (§29.3.5). */
		ck_assert_uint_eq(vec_enc_ok(f, lvl, NPT_R | NPT_A), ER | EMT_WB | EACC | lf);
		ck_assert_uint_eq(vec_enc_ok(f, lvl, NPT_R | NPT_W | NPT_A | NPT_D),
				  ER | EW | EMT_WB | EACC | EDRT | lf);
		ck_assert_uint_eq(vec_enc_ok(f, lvl, NPT_R | NPT_D), ER | EMT_WB | EDRT | lf);
		ck_assert_uint_eq(vec_enc_ok(f, lvl, NPT_R | NPT_W | NPT_X | NPT_DEVICE | NPT_A | NPT_D),
				  ER | EW | EX | EIPAT | EACC | EDRT | lf);
		/* Never: user-execute (bit 10), suppress-#VE (bit 63), address bits. */
		for (unsigned fl = 0; fl < 0x100; fl++)
			if (valid_ept(fl))
				ck_assert_uint_eq(vec_enc_ok(f, lvl, fl) & (EUX | ESVE | ADDR_51_12), 0);
	}
}
END_TEST

START_TEST(ept_refused)
{
	const struct npt_format *f = epts[_i];

	for (unsigned lvl = 0; lvl <= 2; lvl++) {
		/* No access at all: the entry would not be present. */
		vec_enc_refused(f, lvl, 0);
		vec_enc_refused(f, lvl, NPT_DEVICE | NPT_A | NPT_D);
		/* Write without read: EPT misconfiguration (§29.3.3.1). */
		vec_enc_refused(f, lvl, NPT_W);
		vec_enc_refused(f, lvl, NPT_W | NPT_X);
		vec_enc_refused(f, lvl, NPT_W | NPT_X | NPT_DEVICE | NPT_A | NPT_D);
		/* Stage 2: no user/global. */
		vec_enc_refused(f, lvl, NPT_R | NPT_U);
		vec_enc_refused(f, lvl, NPT_R | NPT_G);
		vec_enc_refused(f, lvl, NPT_X | NPT_U);
		vec_enc_refused(f, lvl, NPT_R | 0x100u);
	}
	vec_bad_levels(f);
}
END_TEST

START_TEST(ept_decode_memtype)
{
	const struct npt_format *f = epts[_i];

	/* WB with or without ignore-PAT is normal memory. */
	ck_assert_uint_eq(vec_dec_leaf(f, 0, ER | EMT_WB, 0), NPT_R);
	ck_assert_uint_eq(vec_dec_leaf(f, 0, ER | EMT_WB | EIPAT, 0), NPT_R);
	/* Any other type is not normal write-back. */
	ck_assert_uint_eq(vec_dec_leaf(f, 0, ER | EMT_UC, 0), NPT_R | NPT_DEVICE);
	ck_assert_uint_eq(vec_dec_leaf(f, 0, ER | EMT_WT, 0), NPT_R | NPT_DEVICE);
	ck_assert_uint_eq(vec_dec_leaf(f, 0, ER | (1ull << 3) /* WC */, 0), NPT_R | NPT_DEVICE);
	/* Bits npt does not use are not reported. */
	ck_assert_uint_eq(vec_dec_leaf(f, 0, EX | EMT_WB | EUX | ESVE, 0), NPT_X);
}
END_TEST

/* ---- every format --------------------------------------------------------------- */

START_TEST(round_trip_all)
{
	const struct npt_format *f = all5[_i];
	unsigned valid = 0;

	for (unsigned lvl = 0; lvl <= 2; lvl++) {
		for (unsigned fl = 0; fl < 0x100; fl++) {
			uint64_t pte;

			if (!valid_for(f, fl)) {
				vec_enc_refused(f, lvl, fl);
				continue;
			}
			valid++;
			pte = vec_enc_ok(f, lvl, fl);
			ck_assert_uint_eq(pte & ADDR_51_12, 0);
			ck_assert(npt_pte_present(f, pte));
			ck_assert(npt_pte_leaf(f, lvl, pte));
			ck_assert_uint_eq(f->decode(f, lvl, pte), fl);
			ck_assert_uint_eq(vec_dec_leaf(f, lvl, pte, 0), fl);
		}
	}
	/* 3 levels × valid combinations: x86 s1 = R × {W,X,U,DEV,A,G} × D only with W
	 * = 64 + 32 = 96; npt = R × {W,X,DEV,A,D} = 32; ept = {R,RW,RX,RWX,X} × 8 = 40. */
	if (f == &npt_fmt_npt || f == &npt_fmt_npt5)
		ck_assert_uint_eq(valid, 3 * 32);
	else if (is_ept(f))
		ck_assert_uint_eq(valid, 3 * 40);
	else
		ck_assert_uint_eq(valid, 3 * 96);
}
END_TEST

/* Hardware sets A and D; decode reports them on entries npt wrote without them. */
START_TEST(hardware_ad)
{
	const struct npt_format *f = all5[_i];
	uint64_t a = is_ept(f) ? EACC : ACC;
	uint64_t d = is_ept(f) ? EDRT : DRT;

	for (unsigned lvl = 0; lvl <= 2; lvl++) {
		uint64_t pte = vec_enc_ok(f, lvl, NPT_R | NPT_W | NPT_X);

		ck_assert_uint_eq(vec_dec_leaf(f, lvl, pte | a, 0), NPT_R | NPT_W | NPT_X | NPT_A);
		ck_assert_uint_eq(vec_dec_leaf(f, lvl, pte | a | d, 0),
				  NPT_R | NPT_W | NPT_X | NPT_A | NPT_D);
	}
}
END_TEST

/* Address bits 51:12 through the public encoder and decoder. */
START_TEST(addresses)
{
	static const uint64_t pas[] = { 0, 0x40000000ull, 0x123440000000ull,
					0x000fffffc0000000ull /* highest 1 GiB frame */ };

	vec_addresses(all5[_i], NPT_R | NPT_W, pas, NELEM(pas), vec_field_in_place, 1);
}
END_TEST

/* Table entries: present, not leaves, permissions wide open, address round trip. */
START_TEST(table_entries)
{
	const struct npt_format *f = all5[_i];
	uint64_t want = is_ept(f) ? ER | EW | EX : P | RW | US;
	const uint64_t next = 0x000ffffffffff000ull;

	ck_assert_uint_eq(f->table_bits, want);
	for (unsigned lvl = 1; lvl < f->levels; lvl++) {
		uint64_t pte = f->table_bits | npt_addr_bits(f, next);
		uint64_t pa = 0;
		unsigned flags = 0;
		int is_leaf = -1;

		ck_assert(npt_pte_present(f, pte));
		ck_assert(!npt_pte_leaf(f, lvl, pte));
		ck_assert_uint_eq(npt_pte_addr(f, pte), next);
		ck_assert_int_eq(npt_decode(f, lvl, pte, &pa, &flags, &is_leaf), 0);
		ck_assert_int_eq(is_leaf, 0);
		ck_assert_uint_eq(pa, next);
		/* Hardware-set A on a table entry changes nothing. */
		ck_assert(!npt_pte_leaf(f, lvl, pte | (is_ept(f) ? EACC : ACC)));
	}
}
END_TEST

/* present_mask / leaf_mask on hand-made entries. */
START_TEST(masks_x86)
{
	const struct npt_format *f = x86_all[_i];

	ck_assert(!npt_pte_present(f, 0));
	/* P = 0: not present whatever else is set. */
	ck_assert(!npt_pte_present(f, ~P));
	ck_assert(!npt_pte_present(f, RW | US | ACC | DRT | PS | GLB | NX | 0x1000ull));
	ck_assert(npt_pte_present(f, P));
	ck_assert(npt_pte_present(f, P | NX));
	/* Level 0 is always a leaf, PS or not (bit 7 is PAT there). */
	ck_assert(npt_pte_leaf(f, 0, P));
	ck_assert(npt_pte_leaf(f, 0, P | PS));
	/* Levels 1, 2: PS decides. */
	ck_assert(npt_pte_leaf(f, 1, P | PS));
	ck_assert(!npt_pte_leaf(f, 1, P | RW | US));
	ck_assert(npt_pte_leaf(f, 2, P | PS));
	ck_assert(!npt_pte_leaf(f, 2, P | RW | US | ACC));
	/* A 2 MiB leaf with the PAT bit (bit 12) set by hand still decodes its
	 * flags; memory type PWT-only = WT -> not write-back -> DEVICE. */
	ck_assert_uint_eq(f->decode(f, 1, P | PS | PAT_HUGE | NX), NPT_R);
	ck_assert_uint_eq(f->decode(f, 1, P | PWT | PS | NX) & NPT_DEVICE, NPT_DEVICE);
	ck_assert_uint_eq(f->decode(f, 1, P | PCD | PS | PAT_HUGE | NX) & NPT_DEVICE, NPT_DEVICE);
	ck_assert_uint_eq(f->decode(f, 0, P | NX) & NPT_DEVICE, 0);
}
END_TEST

START_TEST(masks_ept)
{
	const struct npt_format *f = epts[_i];

	ck_assert(!npt_pte_present(f, 0));
	/* None of bits 2:0: not present whatever else is set. */
	ck_assert(!npt_pte_present(f, ~(ER | EW | EX)));
	ck_assert(!npt_pte_present(f, EMT_WB | EIPAT | ELEAF | EACC | EDRT | EUX | 0x1000ull));
	/* Execute-only is present (§29.3.2: present iff any of bits 2:0). */
	ck_assert(npt_pte_present(f, EX));
	ck_assert(npt_pte_present(f, ER));
	/* Write-only is present too — a misconfiguration, never written by npt. */
	ck_assert(npt_pte_present(f, EW));
	/* Bit 7 decides at levels 1, 2; level 0 is always a leaf. */
	ck_assert(npt_pte_leaf(f, 0, EX | EMT_WB));
	ck_assert(npt_pte_leaf(f, 0, EX | EMT_WB | ELEAF));
	ck_assert(npt_pte_leaf(f, 1, ER | EMT_WB | ELEAF));
	ck_assert(!npt_pte_leaf(f, 1, ER | EW | EX));
	ck_assert(npt_pte_leaf(f, 2, EX | ELEAF));
	ck_assert(!npt_pte_leaf(f, 2, ER | EW | EX | EACC));
}
END_TEST

/* ---- register helpers ------------------------------------------------------------ */

#define TEST_BASE_PA 0x000ffff000000000ull /* high frames: every CR3/EPTP address bit in play */

START_TEST(registers)
{
	const struct npt_format *f = all5[_i];
	struct testmm m;
	struct npt_table *t;
	uint64_t root;
	int err = 1;

	ck_assert_int_eq(testmm_init(&m, TEST_BASE_PA, 64), 0);
	t = npt_new(f, &m.mm, &err);
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(err, 0);
	root = npt_root(t);
	ck_assert_uint_ge(root, TEST_BASE_PA);
	ck_assert_uint_eq(root & 0xfffu, 0);

	if (is_ept(f)) {
		/* EPTP (SDM §25.6.11): bits 2:0 memory type WB = 6; bits 5:3 walk
		 * length - 1 (3 or 4); bit 6 A/D enable; bits 51:12 root. */
		uint64_t walk = (uint64_t)(f->levels - 1) << 3;

		ck_assert_uint_eq(walk, f == &npt_fmt_ept ? 0x18 : 0x20);
		ck_assert_uint_eq(npt_ept_pointer(t, 0), root | walk | 6);
		ck_assert_uint_eq(npt_ept_pointer(t, 1), root | walk | 6 | 0x40);
		ck_assert_uint_eq(npt_ept_pointer(t, 7), root | walk | 6 | 0x40);
		ck_assert_uint_eq(npt_x86_cr3(t), 0);
	} else {
		/* CR3 (SDM Table 4-12, PCIDE = 0): root in bits 51:12, PWT = PCD = 0. */
		ck_assert_uint_eq(npt_x86_cr3(t), root);
		ck_assert_uint_eq(npt_ept_pointer(t, 0), 0);
		ck_assert_uint_eq(npt_ept_pointer(t, 1), 0);
	}
	npt_free(t);
	ck_assert_uint_eq(testmm_live(&m), 0);
	testmm_destroy(&m);

	ck_assert_uint_eq(npt_x86_cr3(NULL), 0);
	ck_assert_uint_eq(npt_ept_pointer(NULL, 1), 0);
}
END_TEST

static Suite *vectors_x86_suite(void)
{
	Suite *s = suite_create("vectors_x86");
	TCase *tc;

	tc = tcase_create("formats");
	tcase_add_test(tc, formats_list);
	tcase_add_test(tc, formats_data);
	suite_add_tcase(s, tc);

	tc = tcase_create("x86_64");
	tcase_add_loop_test(tc, x86_s1_vectors, 0, NELEM(x86_s1));
	tcase_add_loop_test(tc, x86_s1_refused, 0, NELEM(x86_s1));
	tcase_add_loop_test(tc, masks_x86, 0, NELEM(x86_all));
	suite_add_tcase(s, tc);

	tc = tcase_create("npt");
	tcase_add_loop_test(tc, npt_vectors, 0, NELEM(npts));
	tcase_add_loop_test(tc, npt_refused, 0, NELEM(npts));
	tcase_add_loop_test(tc, npt_decode_hides_us_g, 0, NELEM(npts));
	suite_add_tcase(s, tc);

	tc = tcase_create("ept");
	tcase_add_loop_test(tc, ept_vectors, 0, NELEM(epts));
	tcase_add_loop_test(tc, ept_refused, 0, NELEM(epts));
	tcase_add_loop_test(tc, ept_decode_memtype, 0, NELEM(epts));
	tcase_add_loop_test(tc, masks_ept, 0, NELEM(epts));
	suite_add_tcase(s, tc);

	tc = tcase_create("all");
	tcase_add_loop_test(tc, round_trip_all, 0, NELEM(all5));
	tcase_add_loop_test(tc, hardware_ad, 0, NELEM(all5));
	tcase_add_loop_test(tc, addresses, 0, NELEM(all5));
	tcase_add_loop_test(tc, table_entries, 0, NELEM(all5));
	tcase_add_loop_test(tc, registers, 0, NELEM(all5));
	suite_add_tcase(s, tc);
	return s;
}

NPT_CHECK_MAIN(vectors_x86_suite)
