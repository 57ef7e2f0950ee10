/*
 * Raw-entry vectors for loongarch64 (arch/loongarch.c), checked bit by bit
 * against the LoongArch Reference Manual vol. 1 (v1.10):
 *  - §7.5.3 TLBELO0/1 (the PTE layout LDPTE loads): V 0, D 1, PLV 3:2,
 *    MAT 5:4, G 6, PPN 47:12, NR 61, NX 62, RPLV 63; §5.1 MAT 0 SUC, 1 CC.
 *  - §5.4.5 huge-page entries in a directory: H = bit 6, G in bit 12;
 *    directory entries hold the next table's address only.
 *  - §7.5.6 PWCL, §7.5.7 PWCH.
 * No QEMU run covers this format (no LoongArch assembler in Debian 12's
 * clang 14 / binutils): these vectors are its check.
 */
#include <check.h>
#include <stdint.h>

#include "npt.h"
#include "format.h"
#include "../arch/arch.h"
#include "lib/check_main.h"
#include "lib/testmm.h"
#include "lib/vectors.h"

#define V     0x1ull          /* bit 0     valid */
#define D     0x2ull          /* bit 1     dirty (stores allowed) */
#define PLV3  0xcull          /* bits 3:2  PLV 3 */
#define PLV1  0x4ull          /* bits 3:2  PLV 1 */
#define CC    0x10ull         /* bits 5:4  MAT 1 coherent cached */
#define WUC   0x20ull         /* bits 5:4  MAT 2 weakly-ordered uncached */
#define G     0x40ull         /* bit 6     G (4 KiB PTE) */
#define H     0x40ull         /* bit 6     huge (directory entry) */
#define HG    0x1000ull       /* bit 12    G of a huge entry */
#define NR    (1ull << 61)    /* no read */
#define NX    (1ull << 62)    /* no execute */
#define RPLV  (1ull << 63)    /* restricted PLV */
#define ADDR_47_12 0x0000fffffffff000ull

static const struct npt_format *const f = &npt_fmt_loongarch64;

START_TEST(format_data)
{
	static const struct vec_facts want = {
		"loongarch64", &npt_fmt_loongarch64, 4, 48, 48, 1, 0, 0x7,
		NPT_R | NPT_W | NPT_X | NPT_U | NPT_DEVICE | NPT_G, 0, ADDR_47_12, ~0ull, H, 0, 0, 1, 512,
	};

	ck_assert_ptr_eq(want.f, f);
	vec_check_facts(&want);
}
END_TEST

START_TEST(vectors)
{
	/* User RWX normal global page: V D PLV3 CC G = 0x5f. */
	ck_assert_uint_eq(vec_enc_ok(f, 0, NPT_R | NPT_W | NPT_X | NPT_U | NPT_G), 0x5full);
	/* Same as a 2 MiB huge entry: H in bit 6, G in bit 12 = 0x105f. */
	ck_assert_uint_eq(vec_enc_ok(f, 1, NPT_R | NPT_W | NPT_X | NPT_U | NPT_G), 0x105full);
	ck_assert_uint_eq(vec_enc_ok(f, 2, NPT_R | NPT_W | NPT_X | NPT_U | NPT_G),
			  V | D | PLV3 | CC | H | HG);
	/* Kernel read-only device page: MAT SUC (0), NX, PLV 0. */
	ck_assert_uint_eq(vec_enc_ok(f, 0, NPT_R | NPT_DEVICE), V | NX);
	ck_assert_uint_eq(vec_enc_ok(f, 0, NPT_R | NPT_DEVICE), 0x4000000000000001ull);
	/* No access: still a valid (non-zero) entry. */
	ck_assert_uint_eq(vec_enc_ok(f, 0, 0), V | CC | NR | NX);
	ck_assert_uint_eq(vec_enc_ok(f, 0, 0), 0x6000000000000011ull);
	ck_assert_uint_eq(vec_enc_ok(f, 1, NPT_X), V | CC | H | NR);
	/* Write-only: D without read (NR). */
	ck_assert_uint_eq(vec_enc_ok(f, 2, NPT_W), V | D | CC | H | NR | NX);

	/* Decode of hand-made entries. */
	ck_assert_uint_eq(vec_dec_leaf(f, 0, V | CC | NX, 0), NPT_R);
	ck_assert_uint_eq(vec_dec_leaf(f, 0, V | WUC | NX | NR, 0), 0);  /* WUC is not DEVICE */
	ck_assert_uint_eq(vec_dec_leaf(f, 0, V | PLV1 | CC | NX, 0), NPT_R); /* PLV 1 is not U */
	ck_assert_uint_eq(vec_dec_leaf(f, 0, V | PLV3 | CC | RPLV, 0), NPT_R | NPT_X | NPT_U);
	/* Bit 12 in a 4 KiB PTE is address; bit 6 in a huge entry is H, not G. */
	ck_assert_uint_eq(vec_dec_leaf(f, 0, V | CC | HG, 0x1000), NPT_R | NPT_X);
	ck_assert_uint_eq(vec_dec_leaf(f, 1, V | CC | H, 0), NPT_R | NPT_X);
	ck_assert_uint_eq(vec_dec_leaf(f, 1, V | CC | H | HG, 0), NPT_R | NPT_X | NPT_G);
}
END_TEST

START_TEST(refused)
{
	for (unsigned lvl = 0; lvl <= 2; lvl++) {
		vec_enc_refused(f, lvl, NPT_R | NPT_A);
		vec_enc_refused(f, lvl, NPT_R | NPT_W | NPT_D);
		vec_enc_refused(f, lvl, NPT_R | 0x100);
	}
}
END_TEST

START_TEST(round_trip)
{
	unsigned valid = 0;

	for (unsigned lvl = 0; lvl <= 2; lvl++) {
		for (unsigned fl = 0; fl < 0x100; fl++) {
			uint64_t pte;

			if (fl & (NPT_A | NPT_D)) {
				vec_enc_refused(f, lvl, fl);
				continue;
			}
			valid++;
			pte = vec_enc_ok(f, lvl, fl);
			ck_assert(pte & V);
			ck_assert_uint_eq(pte & ADDR_47_12, (fl & NPT_G) && lvl ? HG : 0);
			ck_assert_uint_eq(pte & RPLV, 0);
			if (lvl > 0)
				ck_assert(pte & H);
			else
				ck_assert_uint_eq(!!(pte & G), !!(fl & NPT_G));
			ck_assert(npt_pte_present(f, pte));
			ck_assert(npt_pte_leaf(f, lvl, pte));
			ck_assert_uint_eq(vec_dec_leaf(f, lvl, pte, 0), fl);
		}
	}
	ck_assert_uint_eq(valid, 3 * 64);
}
END_TEST

START_TEST(addresses)
{
	static const uint64_t pas[] = { 0, 0x40000000ull, 0x123440000000ull, 0x0000ffffc0000000ull };

	/* A huge leaf's G (bit 12) never leaks into its address. */
	vec_addresses(f, NPT_R | NPT_W, pas, NELEM(pas), vec_field_in_place, 0);
	vec_addresses(f, NPT_R | NPT_W | NPT_G, pas, NELEM(pas), vec_field_in_place, 0);
}
END_TEST

/* Directory entries: the bare address, present because non-zero. */
START_TEST(directories)
{
	for (unsigned lvl = 1; lvl < 4; lvl++) {
		vec_table_entry(f, lvl, 0x1000ull, 0x1000ull);
		vec_table_entry(f, lvl, ADDR_47_12, ADDR_47_12);
		vec_table_entry(f, lvl, npt_addr_bits(f, 0x40001000ull) | f->table_bits,
				0x40001000ull);
	}
	ck_assert(!npt_pte_present(f, 0));
	ck_assert_int_eq(npt_decode(f, 0, 0, NULL, NULL, NULL), NPT_ERR_NOT_MAPPED);
	ck_assert_int_eq(npt_decode(f, 3, 0, NULL, NULL, NULL), NPT_ERR_NOT_MAPPED);
}
END_TEST

START_TEST(registers)
{
	struct testmm m;
	struct npt_table *t;
	int err = 1;

	ck_assert_int_eq(testmm_init(&m, 0x90000000ull, 16), 0);
	t = npt_new(f, &m.mm, &err);
	ck_assert_ptr_nonnull(t);
	/* PWCL: PTbase 12, PTwidth 9, Dir1 21/9, Dir2 30/9, PTEWidth 0 (64-bit). */
	ck_assert_uint_eq(npt_loongarch_pwcl(t), 0x13e4d52cull);
	/* PWCH: Dir3 39/9, Dir4 none. */
	ck_assert_uint_eq(npt_loongarch_pwch(t), 0x267ull);
	/* A mapped 4 KiB page: every level's entry is non-zero. */
	ck_assert_int_eq(npt_map(t, 0x7fffffe000ull, 0x12345000ull, 4096, NPT_R), 0);
	{
		uint64_t pa = 0;
		unsigned fl = 0;

		ck_assert_int_eq(npt_query(t, 0x7fffffe123ull, &pa, &fl, NULL), 0);
		ck_assert_uint_eq(pa, 0x12345123ull);
		ck_assert_uint_eq(fl, NPT_R);
	}
	npt_free(t);
	ck_assert_uint_eq(testmm_live(&m), 0);
	testmm_destroy(&m);
	ck_assert_uint_eq(npt_loongarch_pwcl(NULL), 0);
	ck_assert_uint_eq(npt_loongarch_pwch(NULL), 0);
}
END_TEST

static Suite *vectors_loongarch_suite(void)
{
	Suite *s = suite_create("vectors_loongarch");
	TCase *tc = tcase_create("loongarch64");

	tcase_add_test(tc, format_data);
	tcase_add_test(tc, vectors);
	tcase_add_test(tc, refused);
	tcase_add_test(tc, round_trip);
	tcase_add_test(tc, addresses);
	tcase_add_test(tc, directories);
	tcase_add_test(tc, registers);
	suite_add_tcase(s, tc);
	return s;
}

NPT_CHECK_MAIN(vectors_loongarch_suite)
