/*
 * Raw-entry vectors for the AArch64 formats (arch/aarch64.c), checked bit by
 * bit against the Arm Architecture Reference Manual (DDI 0487):
 *  - D8.3.1 descriptor types: bits 1:0 = 0b11 table / page, 0b01 block.
 *  - D8.3.2 stage-1 attributes: AttrIndx 4:2, NS 5, AP[2:1] 7:6, SH 9:8,
 *    AF 10, nG 11, PXN 53, UXN 54.
 *  - D8.3.3 stage-2 attributes: MemAttr 5:2, S2AP 7:6, SH 9:8, AF 10,
 *    XN[1:0] 54:53.
 *  - D17.2 VTCR_EL2, TCR_EL1, VTTBR_EL2; MAIR_EL1 Attr<n> encodings.
 *
 * The expected values are written out independently of arch/ (no shared
 * macros), so a wrong constant there shows up here.
 */
#include <check.h>
#include <stdint.h>

#include "npt.h"
#include "format.h"
#include "../arch/arch.h"
#include "lib/check_main.h"
#include "lib/testmm.h"
#include "lib/vectors.h"

#define VALID   0x1ull                 /* bit 0     valid */
#define TBL     0x2ull                 /* bit 1     table / page (1), block (0) */
#define IDX(n)  ((uint64_t)(n) << 2)   /* bits 4:2  AttrIndx */
#define AP1     0x40ull                /* bit 6     AP[1]: EL0 access */
#define AP2     0x80ull                /* bit 7     AP[2]: read-only */
#define SH_IS   0x300ull               /* bits 9:8  0b11 inner shareable */
#define AF      0x400ull               /* bit 10    access flag */
#define NG      0x800ull               /* bit 11    not global */
#define PXN     (1ull << 53)           /* bit 53    privileged execute-never */
#define UXN     (1ull << 54)           /* bit 54    unprivileged execute-never */
#define MEMATTR(n) ((uint64_t)(n) << 2) /* bits 5:2 stage-2 MemAttr */
#define S2R     0x40ull                /* bit 6     S2AP[0] read */
#define S2W     0x80ull                /* bit 7     S2AP[1] write */
#define XN10    (1ull << 54)           /* XN[1:0] = 0b10: never executable */
#define ADDR_47_12 0x0000fffffffff000ull

static const struct npt_format *const all[] = { &npt_fmt_aarch64, &npt_fmt_aarch64_s2,
						&npt_fmt_aarch64_s2_48 };
static const struct npt_format *const s2[] = { &npt_fmt_aarch64_s2, &npt_fmt_aarch64_s2_48 };

static int valid_s1(unsigned fl)
{
	if (fl & ~(NPT_R | NPT_W | NPT_X | NPT_U | NPT_DEVICE | NPT_A | NPT_G))
		return 0;           /* NPT_D unknown */
	return (fl & NPT_R) != 0;   /* a valid stage-1 entry is readable at EL1 */
}

static int valid_s2(unsigned fl)
{
	/* Every R/W/X combination (S2AP and XN are independent), no U / G / D. */
	return !(fl & ~(NPT_R | NPT_W | NPT_X | NPT_DEVICE | NPT_A));
}

START_TEST(formats_data)
{
	/* page, 2 MiB block, 1 GiB block */
#define ARM(NAME, FMT, LEVELS, VA, CAN, S2, FLAGS, RF, RE)                                 \
	{ NAME, FMT, LEVELS, VA, 48, CAN, S2, 0x7, FLAGS, 0, ADDR_47_12, VALID, TBL, TBL,       \
	  VALID | TBL, RF, RE }
	static const struct vec_facts want[] = {
		ARM("aarch64", &npt_fmt_aarch64, 4, 48, 1, 0,
		    NPT_R | NPT_W | NPT_X | NPT_U | NPT_DEVICE | NPT_A | NPT_G, 1, 512),
		ARM("aarch64-s2", &npt_fmt_aarch64_s2, 3, 40, 0, 1,
		    NPT_R | NPT_W | NPT_X | NPT_DEVICE | NPT_A, 2, 1024),
		ARM("aarch64-s2-48", &npt_fmt_aarch64_s2_48, 4, 48, 0, 1,
		    NPT_R | NPT_W | NPT_X | NPT_DEVICE | NPT_A, 1, 512),
	};
#undef ARM

	for (unsigned i = 0; i < NELEM(want); i++)
		vec_check_facts(&want[i]);
}
END_TEST

/* Stage 1, written out: D8.3.1 / D8.3.2, MAIR layout of NPT_ARM_MAIR. */
START_TEST(s1_vectors)
{
	const struct npt_format *f = &npt_fmt_aarch64;

	/* EL1 code, normal WB (AttrIndx 0), inner shareable, AF, nG, UXN: 0x0040000000000f03. */
	ck_assert_uint_eq(vec_enc_ok(f, 0, NPT_R | NPT_W | NPT_X),
			  VALID | TBL | IDX(0) | SH_IS | AF | NG | UXN);
	ck_assert_uint_eq(vec_enc_ok(f, 0, NPT_R | NPT_W | NPT_X), 0x0040000000000f03ull);
	/* Read-only global 2 MiB block, never executable: 0x0060000000000781. */
	ck_assert_uint_eq(vec_enc_ok(f, 1, NPT_R | NPT_G), VALID | AP2 | SH_IS | AF | PXN | UXN);
	ck_assert_uint_eq(vec_enc_ok(f, 1, NPT_R | NPT_G), 0x0060000000000781ull);
	/* EL0 read/write code on a device 1 GiB block: AttrIndx 2, SH 0, PXN only. */
	ck_assert_uint_eq(vec_enc_ok(f, 2, NPT_R | NPT_W | NPT_X | NPT_U | NPT_DEVICE | NPT_G),
			  VALID | IDX(2) | AP1 | AF | PXN);
	ck_assert_uint_eq(vec_enc_ok(f, 2, NPT_R | NPT_W | NPT_X | NPT_U | NPT_DEVICE | NPT_G),
			  0x0020000000000449ull);
	/* EL0 read-only data page: AP = 0b11. */
	ck_assert_uint_eq(vec_enc_ok(f, 0, NPT_R | NPT_U),
			  VALID | TBL | AP1 | AP2 | SH_IS | AF | NG | PXN | UXN);
	ck_assert_uint_eq(vec_enc_ok(f, 0, NPT_R | NPT_U), 0x0060000000000fc3ull);
	/* NPT_A changes nothing (AF is always set). */
	ck_assert_uint_eq(vec_enc_ok(f, 0, NPT_R | NPT_A), vec_enc_ok(f, 0, NPT_R));

	/* Decode of hand-made entries. */
	ck_assert_uint_eq(vec_dec_leaf(f, 0, VALID | TBL | AP2 | NG | PXN | UXN, 0), NPT_R);
	ck_assert_uint_eq(vec_dec_leaf(f, 1, VALID | AF, 0), NPT_R | NPT_W | NPT_X | NPT_A | NPT_G);
	/* Normal non-cacheable (AttrIndx 1) is not DEVICE. */
	ck_assert_uint_eq(vec_dec_leaf(f, 0, VALID | TBL | IDX(1) | AF | NG | PXN | UXN, 0) &
			  NPT_DEVICE, 0);
	/* EL0-accessible: X follows UXN, PXN ignored; otherwise X follows PXN. */
	ck_assert_uint_eq(vec_dec_leaf(f, 0, VALID | TBL | AP1 | PXN, 0) & NPT_X, NPT_X);
	ck_assert_uint_eq(vec_dec_leaf(f, 0, VALID | TBL | AP1 | UXN, 0) & NPT_X, 0);
	ck_assert_uint_eq(vec_dec_leaf(f, 0, VALID | TBL | UXN, 0) & NPT_X, NPT_X);
	ck_assert_uint_eq(vec_dec_leaf(f, 0, VALID | TBL | PXN, 0) & NPT_X, 0);
}
END_TEST

START_TEST(s1_refused)
{
	const struct npt_format *f = &npt_fmt_aarch64;

	for (unsigned lvl = 0; lvl <= 2; lvl++) {
		vec_enc_refused(f, lvl, 0);
		vec_enc_refused(f, lvl, NPT_W);
		vec_enc_refused(f, lvl, NPT_X);
		vec_enc_refused(f, lvl, NPT_W | NPT_X | NPT_U);
		vec_enc_refused(f, lvl, NPT_R | NPT_D);
		vec_enc_refused(f, lvl, NPT_R | 0x100);
	}
}
END_TEST

/* Stage 2, written out: D8.3.3. */
START_TEST(s2_vectors)
{
	const struct npt_format *f = s2[_i];

	/* RWX normal page: MemAttr 0xF, S2AP 0b11, SH 0b11, AF, XN 0b00: 0x7ff. */
	ck_assert_uint_eq(vec_enc_ok(f, 0, NPT_R | NPT_W | NPT_X),
			  VALID | TBL | MEMATTR(0xf) | S2R | S2W | SH_IS | AF);
	ck_assert_uint_eq(vec_enc_ok(f, 0, NPT_R | NPT_W | NPT_X), 0x7ffull);
	/* Read-only Device-nGnRE 2 MiB block: MemAttr 0b0001, SH 0, XN 0b10. */
	ck_assert_uint_eq(vec_enc_ok(f, 1, NPT_R | NPT_DEVICE),
			  VALID | MEMATTR(1) | S2R | AF | XN10);
	ck_assert_uint_eq(vec_enc_ok(f, 1, NPT_R | NPT_DEVICE), 0x0040000000000445ull);
	/* No access at all: still a valid block (Permission fault on use). */
	ck_assert_uint_eq(vec_enc_ok(f, 2, 0), VALID | MEMATTR(0xf) | SH_IS | AF | XN10);
	ck_assert_uint_eq(vec_enc_ok(f, 2, 0), 0x004000000000073dull);
	/* Execute-only and write-only exist at stage 2. */
	ck_assert_uint_eq(vec_enc_ok(f, 0, NPT_X), 0x73full);
	ck_assert_uint_eq(vec_enc_ok(f, 1, NPT_W), 0x00400000000007bdull);
	ck_assert_uint_eq(vec_enc_ok(f, 0, NPT_R | NPT_A), vec_enc_ok(f, 0, NPT_R));

	/* Decode: XN 0b01 / 0b11 (FEAT_XNX, executable at one EL only) is not X. */
	ck_assert_uint_eq(vec_dec_leaf(f, 0, VALID | TBL | MEMATTR(0xf) | S2R | AF, 0),
			  NPT_R | NPT_X | NPT_A);
	ck_assert_uint_eq(vec_dec_leaf(f, 0, VALID | TBL | MEMATTR(0xf) | S2R | (1ull << 53), 0),
			  NPT_R);
	ck_assert_uint_eq(vec_dec_leaf(f, 0, VALID | TBL | MEMATTR(0xf) | S2R | (3ull << 53), 0),
			  NPT_R);
	/* Every Device type (MemAttr[3:2] = 0b00) is DEVICE; normal NC (0b0101) is not. */
	for (unsigned t = 0; t < 4; t++)
		ck_assert_uint_eq(vec_dec_leaf(f, 1, VALID | MEMATTR(t) | XN10, 0), NPT_DEVICE);
	ck_assert_uint_eq(vec_dec_leaf(f, 1, VALID | MEMATTR(5) | XN10, 0), 0);
}
END_TEST

START_TEST(s2_refused)
{
	const struct npt_format *f = s2[_i];

	for (unsigned lvl = 0; lvl <= 2; lvl++) {
		vec_enc_refused(f, lvl, NPT_R | NPT_U);
		vec_enc_refused(f, lvl, NPT_R | NPT_G);
		vec_enc_refused(f, lvl, NPT_R | NPT_W | NPT_D);
		vec_enc_refused(f, lvl, NPT_R | 0x100);
	}
}
END_TEST

/* Every flag combination: refused iff invalid; decode gives back flags | A. */
START_TEST(round_trip)
{
	const struct npt_format *f = all[_i];
	unsigned valid = 0;

	for (unsigned lvl = 0; lvl <= 2; lvl++) {
		for (unsigned fl = 0; fl < 0x100; fl++) {
			uint64_t pte;

			if (!(f->stage2 ? valid_s2(fl) : valid_s1(fl))) {
				vec_enc_refused(f, lvl, fl);
				continue;
			}
			valid++;
			pte = vec_enc_ok(f, lvl, fl);
			ck_assert_uint_eq(pte & ADDR_47_12, 0);
			ck_assert_uint_eq(pte & 3, lvl == 0 ? 3 : 1); /* page / block */
			ck_assert(pte & AF);
			ck_assert(npt_pte_present(f, pte));
			ck_assert(npt_pte_leaf(f, lvl, pte));
			ck_assert_uint_eq(vec_dec_leaf(f, lvl, pte, 0), fl | NPT_A);
		}
	}
	/* s1: R × {W, X, U, DEVICE, A, G} = 64; s2: {R, W, X, DEVICE, A} = 32. */
	ck_assert_uint_eq(valid, 3 * (f->stage2 ? 32 : 64));
}
END_TEST

START_TEST(addresses)
{
	static const uint64_t pas[] = { 0, 0x40000000ull, 0x123440000000ull,
					0x0000ffffc0000000ull /* highest 1 GiB block */ };

	vec_addresses(all[_i], NPT_R | NPT_W, pas, NELEM(pas), vec_field_in_place, 1);
}
END_TEST

/* Table descriptors (0b11) and the present / leaf tests on hand-made entries. */
START_TEST(masks)
{
	const struct npt_format *f = all[_i];
	const uint64_t next = 0x0000fffffffff000ull;

	for (unsigned lvl = 1; lvl < f->levels; lvl++) {
		vec_table_entry(f, lvl, f->table_bits | npt_addr_bits(f, next), next);
		vec_table_entry(f, lvl, VALID | TBL | 0x40000000ull, 0x40000000ull);
		/* Bit 1 clear: a block. */
		ck_assert(npt_pte_leaf(f, lvl, VALID));
		ck_assert(npt_pte_leaf(f, lvl, VALID | AF | 0x40000000ull));
	}
	/* Bit 0 decides presence. */
	ck_assert(!npt_pte_present(f, 0));
	ck_assert(!npt_pte_present(f, ~VALID));
	ck_assert(npt_pte_present(f, VALID));
	ck_assert_int_eq(npt_decode(f, 0, TBL | AF, NULL, NULL, NULL), NPT_ERR_NOT_MAPPED);
}
END_TEST

/* Register values (D17.2). */
START_TEST(registers)
{
	struct testmm m;
	struct npt_table *t;
	uint64_t root;
	int err = 1;

	ck_assert_uint_eq(NPT_ARM_MAIR, 0x444ffull); /* Attr0 0xFF, Attr1 0x44, Attr2 0x04 */
	ck_assert_int_eq(testmm_init(&m, 0x40000000ull, 64), 0);

	/* aarch64-s2: T0SZ 24, SL0 1 (start level 1), IRGN0/ORGN0 WBWA, SH0 inner,
	 * TG0 4K, PS 0b101 (48 bits), RES1 bit 31. Root: 2 frames, 8 KiB aligned. */
	t = npt_new(&npt_fmt_aarch64_s2, &m.mm, &err);
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(err, 0);
	root = npt_root(t);
	ck_assert_uint_eq(root % 8192, 0);
	ck_assert_uint_eq(npt_table_frames(t), 2);
	ck_assert_uint_eq(npt_arm_vtcr(t), 0x80053558ull);
	ck_assert_uint_eq(npt_arm_vttbr(t, 0), root);
	ck_assert_uint_eq(npt_arm_vttbr(t, 0x1234), root | 0x1234000000000000ull);
	ck_assert_uint_eq(npt_arm_tcr(t), 0);
	ck_assert_uint_eq(npt_riscv_hgatp(t, 0), 0);
	/* 1 GiB block at the top of the 40-bit IPA space: root index 1023, second frame. */
	ck_assert_int_eq(npt_map(t, 0xffc0000000ull, 0x80000000ull, 1ull << 30, NPT_R), 0);
	ck_assert_uint_eq(((uint64_t *)testmm_va(&m, root + 4096))[511] & ~0xfffull,
			  0x80000000ull | XN10);
	npt_free(t);

	/* aarch64-s2-48: T0SZ 16, SL0 2 (start level 0). */
	t = npt_new(&npt_fmt_aarch64_s2_48, &m.mm, &err);
	ck_assert_ptr_nonnull(t);
	ck_assert_uint_eq(npt_table_frames(t), 1);
	ck_assert_uint_eq(npt_arm_vtcr(t), 0x80053590ull);
	npt_free(t);

	/* aarch64: TCR_EL1 T0SZ = T1SZ = 16, WBWA inner-shareable walks, TG0 4K,
	 * TG1 4K (0b10), IPS 0b101. */
	t = npt_new(&npt_fmt_aarch64, &m.mm, &err);
	ck_assert_ptr_nonnull(t);
	ck_assert_uint_eq(npt_arm_tcr(t), 0x00000005b5103510ull);
	ck_assert_uint_eq(npt_arm_vtcr(t), 0);
	ck_assert_uint_eq(npt_arm_vttbr(t, 1), 0);
	npt_free(t);

	ck_assert_uint_eq(testmm_live(&m), 0);
	testmm_destroy(&m);
	ck_assert_uint_eq(npt_arm_vtcr(NULL), 0);
	ck_assert_uint_eq(npt_arm_vttbr(NULL, 0), 0);
	ck_assert_uint_eq(npt_arm_tcr(NULL), 0);
}
END_TEST

static Suite *vectors_aarch64_suite(void)
{
	Suite *s = suite_create("vectors_aarch64");
	TCase *tc = tcase_create("aarch64");

	tcase_add_test(tc, formats_data);
	tcase_add_test(tc, s1_vectors);
	tcase_add_test(tc, s1_refused);
	tcase_add_loop_test(tc, s2_vectors, 0, NELEM(s2));
	tcase_add_loop_test(tc, s2_refused, 0, NELEM(s2));
	tcase_add_loop_test(tc, round_trip, 0, NELEM(all));
	tcase_add_loop_test(tc, addresses, 0, NELEM(all));
	tcase_add_loop_test(tc, masks, 0, NELEM(all));
	tcase_add_test(tc, registers);
	suite_add_tcase(s, tc);
	return s;
}

NPT_CHECK_MAIN(vectors_aarch64_suite)
