/*
 * Raw-entry vectors for the RISC-V formats (arch/riscv.c), checked bit by bit
 * against the privileged specification (20211203):
 *  - §4.4.1 Sv39 PTE: V 0, R 1, W 2, X 3, U 4, G 5, A 6, D 7, RSW 9:8,
 *    PPN 53:10, reserved 60:54, PBMT 62:61 (Svpbmt), N 63; Table 4.5.
 *  - §4.5 / §4.6 Sv48 / Sv57: the same PTE, 4 / 5 levels.
 *  - §4.1.11 satp, §8.2.18 hgatp, §8.5.1 G-stage (U on every leaf, 2048-entry
 *    16 KiB root).
 * The expected values are written out independently of arch/.
 */
#include <check.h>
#include <stdint.h>

#include "npt.h"
#include "format.h"
#include "../arch/arch.h"
#include "lib/check_main.h"
#include "lib/testmm.h"
#include "lib/vectors.h"

#define V  0x01ull /* bit 0 valid */
#define R  0x02ull /* bit 1 read */
#define W  0x04ull /* bit 2 write */
#define X  0x08ull /* bit 3 execute */
#define U  0x10ull /* bit 4 user */
#define G  0x20ull /* bit 5 global */
#define A  0x40ull /* bit 6 accessed */
#define D  0x80ull /* bit 7 dirty */
#define PBMT_NC (1ull << 61) /* bits 62:61 = 1 */
#define PBMT_IO (2ull << 61) /* bits 62:61 = 2 */
#define PPN_53_10 0x003ffffffffffc00ull

static const struct npt_format *const all[] = { &npt_fmt_sv39, &npt_fmt_sv48, &npt_fmt_sv57,
						&npt_fmt_sv39x4, &npt_fmt_sv48x4,
						&npt_fmt_sv57x4 };

static int valid_for(const struct npt_format *f, unsigned fl)
{
	unsigned known = NPT_R | NPT_W | NPT_X | NPT_DEVICE | NPT_A | NPT_D;

	if (!f->stage2)
		known |= NPT_U | NPT_G;
	if (fl & ~known)
		return 0;
	if (!(fl & (NPT_R | NPT_W | NPT_X)))       /* R = W = X = 0 is a pointer */
		return 0;
	return (fl & (NPT_R | NPT_W)) != NPT_W;    /* W without R reserved (Table 4.5) */
}

START_TEST(formats_data)
{
	/* §4.3.2: a leaf may sit at any level; the PPN at bit 10 (addr_shift 2) */
#define RV(NAME, FMT, LEVELS, VA, CAN, S2, FLAGS, RF, RE)                                  \
	{ NAME, FMT, LEVELS, VA, 56, CAN, S2, (1u << (LEVELS)) - 1, FLAGS, 2, PPN_53_10, V,     \
	  R | W | X, 0, V, RF, RE }
#define RV_S1 NPT_R | NPT_W | NPT_X | NPT_U | NPT_DEVICE | NPT_A | NPT_D | NPT_G
#define RV_S2 NPT_R | NPT_W | NPT_X | NPT_DEVICE | NPT_A | NPT_D
	static const struct vec_facts want[] = {
		RV("sv39", &npt_fmt_sv39, 3, 39, 1, 0, RV_S1, 1, 512),
		RV("sv48", &npt_fmt_sv48, 4, 48, 1, 0, RV_S1, 1, 512),
		RV("sv57", &npt_fmt_sv57, 5, 57, 1, 0, RV_S1, 1, 512),
		RV("sv39x4", &npt_fmt_sv39x4, 3, 41, 0, 1, RV_S2, 4, 2048),
		RV("sv48x4", &npt_fmt_sv48x4, 4, 50, 0, 1, RV_S2, 4, 2048),
		RV("sv57x4", &npt_fmt_sv57x4, 5, 59, 0, 1, RV_S2, 4, 2048),
	};
#undef RV
#undef RV_S1
#undef RV_S2

	for (unsigned i = 0; i < NELEM(want); i++)
		vec_check_facts(&want[i]);
}
END_TEST

START_TEST(s1_vectors)
{
	const struct npt_format *f = all[_i]; /* sv39, sv48, sv57 */

	/* A and D always set. */
	ck_assert_uint_eq(vec_enc_ok(f, 0, NPT_R | NPT_W | NPT_X | NPT_U | NPT_G), 0xffull);
	ck_assert_uint_eq(vec_enc_ok(f, 1, NPT_R), V | R | A | D);
	ck_assert_uint_eq(vec_enc_ok(f, 1, NPT_R), 0xc3ull);
	ck_assert_uint_eq(vec_enc_ok(f, 2, NPT_X | NPT_U), V | X | U | A | D);
	ck_assert_uint_eq(vec_enc_ok(f, 0, NPT_R | NPT_W | NPT_DEVICE), V | R | W | A | D | PBMT_IO);
	ck_assert_uint_eq(vec_enc_ok(f, 0, NPT_R | NPT_W | NPT_DEVICE), 0x40000000000000c7ull);
	ck_assert_uint_eq(vec_enc_ok(f, f->levels - 1u, NPT_R | NPT_X | NPT_A | NPT_D),
			  V | R | X | A | D);

	/* Decode reads the bits: entries written elsewhere without A/D. */
	ck_assert_uint_eq(vec_dec_leaf(f, 0, V | R | W, 0), NPT_R | NPT_W);
	ck_assert_uint_eq(vec_dec_leaf(f, 0, V | X | U | G, 0), NPT_X | NPT_U | NPT_G);
	/* PBMT NC is not DEVICE; IO is. */
	ck_assert_uint_eq(vec_dec_leaf(f, 1, V | R | PBMT_NC, 0), NPT_R);
	ck_assert_uint_eq(vec_dec_leaf(f, 1, V | R | PBMT_IO, 0), NPT_R | NPT_DEVICE);
}
END_TEST

START_TEST(x4_vectors)
{
	const struct npt_format *f = all[3 + _i]; /* sv39x4, sv48x4, sv57x4 */

	/* §8.5.1: U on every G-stage leaf; not reported. */
	ck_assert_uint_eq(vec_enc_ok(f, 0, NPT_R | NPT_W), V | R | W | U | A | D);
	ck_assert_uint_eq(vec_enc_ok(f, 0, NPT_R | NPT_W), 0xd7ull);
	ck_assert_uint_eq(vec_enc_ok(f, 2, NPT_R | NPT_W | NPT_X), 0xdfull);
	ck_assert_uint_eq(vec_enc_ok(f, 1, NPT_X), V | X | U | A | D);
	ck_assert_uint_eq(vec_dec_leaf(f, 0, 0xdfull, 0), NPT_R | NPT_W | NPT_X | NPT_A | NPT_D);
	/* G set by someone else: not reported either. */
	ck_assert_uint_eq(vec_dec_leaf(f, 0, V | R | U | G, 0), NPT_R);
	for (unsigned lvl = 0; lvl < f->levels; lvl++) {
		vec_enc_refused(f, lvl, NPT_R | NPT_U);
		vec_enc_refused(f, lvl, NPT_R | NPT_G);
	}
}
END_TEST

START_TEST(refused)
{
	const struct npt_format *f = all[_i];

	for (unsigned lvl = 0; lvl < f->levels; lvl++) {
		vec_enc_refused(f, lvl, 0);
		vec_enc_refused(f, lvl, NPT_A | NPT_D | NPT_DEVICE);
		vec_enc_refused(f, lvl, NPT_W);
		vec_enc_refused(f, lvl, NPT_W | NPT_X);
		vec_enc_refused(f, lvl, NPT_R | 0x100);
	}
}
END_TEST

START_TEST(round_trip)
{
	const struct npt_format *f = all[_i];
	unsigned valid = 0;

	for (unsigned lvl = 0; lvl < f->levels; lvl++) {
		for (unsigned fl = 0; fl < 0x100; fl++) {
			uint64_t pte;

			if (!valid_for(f, fl)) {
				vec_enc_refused(f, lvl, fl);
				continue;
			}
			valid++;
			pte = vec_enc_ok(f, lvl, fl);
			ck_assert_uint_eq(pte & PPN_53_10, 0);
			ck_assert_uint_eq(pte & (A | D), A | D);
			ck_assert_uint_eq(pte & 0x1fc0000000000300ull, 0); /* RSW, reserved, PBMT NC */
			ck_assert_uint_eq(!!(pte & U), !!((fl & NPT_U) || f->stage2));
			ck_assert(npt_pte_present(f, pte));
			ck_assert(npt_pte_leaf(f, lvl, pte));
			ck_assert_uint_eq(vec_dec_leaf(f, lvl, pte, 0), fl | NPT_A | NPT_D);
		}
	}
	/* {R, RW, X, RX, RWX} × {DEVICE, A, D} (× {U, G} at stage 1). */
	ck_assert_uint_eq(valid, f->levels * 5u * 8u * (f->stage2 ? 1u : 4u));
}
END_TEST

/* PPN = pa >> 12 in bits 53:10. */
static uint64_t ppn_field(uint64_t pa)
{
	return pa >> 12 << 10;
}

START_TEST(addresses)
{
	const struct npt_format *f = all[_i];
	static const uint64_t pas[] = { 0, 0x80000000ull, 0x123440000000ull,
					0x00ffffffc0000000ull /* highest 1 GiB frame */ };
	uint64_t pte = 0;

	vec_addresses(f, NPT_R | NPT_W, pas, NELEM(pas), ppn_field, 1);
	/* 0x80200000 in Sv39 PPN form: 0x20080000 | bits. */
	ck_assert_int_eq(npt_encode_leaf(f, 1, 0x80200000ull, NPT_R, &pte), 0);
	ck_assert_uint_eq(pte & PPN_53_10, 0x20080000ull);
}
END_TEST

START_TEST(masks)
{
	const struct npt_format *f = all[_i];

	for (unsigned lvl = 1; lvl < f->levels; lvl++) {
		/* Pointer: V alone; A/D/U/G set by someone else do not make a leaf. */
		vec_table_entry(f, lvl, V | (0x80001000ull >> 2), 0x80001000ull);
		vec_table_entry(f, lvl, V | A | D | U | G | (0x00fffffffffff000ull >> 2),
				0x00fffffffffff000ull);
		ck_assert(npt_pte_leaf(f, lvl, V | X));
		ck_assert(npt_pte_leaf(f, lvl, V | R));
	}
	ck_assert(!npt_pte_present(f, 0));
	ck_assert(!npt_pte_present(f, ~V));
	ck_assert_int_eq(npt_decode(f, 0, R | W | A | D, NULL, NULL, NULL), NPT_ERR_NOT_MAPPED);
}
END_TEST

START_TEST(registers)
{
	struct testmm m;
	int err = 1;

	ck_assert_int_eq(testmm_init(&m, 0x80000000ull, 64), 0);
	for (unsigned i = 0; i < NELEM(all); i++) {
		const struct npt_format *f = all[i];
		struct npt_table *t = npt_new(f, &m.mm, &err);
		uint64_t root, mode = f->levels == 3 ? 8 : f->levels == 4 ? 9 : 10;

		ck_assert_ptr_nonnull(t);
		ck_assert_int_eq(err, 0);
		root = npt_root(t);
		if (f->stage2) {
			/* hgatp: MODE 63:60, VMID 57:44 (14 bits), PPN 43:0; 16 KiB root. */
			ck_assert_uint_eq(root % 16384, 0);
			ck_assert_uint_eq(npt_table_frames(t), 4);
			ck_assert_uint_eq(npt_riscv_hgatp(t, 0), mode << 60 | root >> 12);
			ck_assert_uint_eq(npt_riscv_hgatp(t, 0x3fff),
					  mode << 60 | 0x3fffull << 44 | root >> 12);
			ck_assert_uint_eq(npt_riscv_hgatp(t, 0xffff),
					  mode << 60 | 0x3fffull << 44 | root >> 12);
			ck_assert_uint_eq(npt_riscv_satp(t, 0), 0);
		} else {
			/* satp: MODE 63:60, ASID 59:44 (16 bits), PPN 43:0. */
			ck_assert_uint_eq(npt_riscv_satp(t, 0x1234),
					  mode << 60 | 0x1234ull << 44 | root >> 12);
			ck_assert_uint_eq(npt_riscv_hgatp(t, 0), 0);
		}
		ck_assert_uint_eq(npt_arm_vtcr(t), 0);
		npt_free(t);
	}
	ck_assert_uint_eq(testmm_live(&m), 0);
	testmm_destroy(&m);
	ck_assert_uint_eq(npt_riscv_satp(NULL, 0), 0);
	ck_assert_uint_eq(npt_riscv_hgatp(NULL, 0), 0);
}
END_TEST

static Suite *vectors_riscv_suite(void)
{
	Suite *s = suite_create("vectors_riscv");
	TCase *tc = tcase_create("riscv");

	tcase_add_test(tc, formats_data);
	tcase_add_loop_test(tc, s1_vectors, 0, 3);
	tcase_add_loop_test(tc, x4_vectors, 0, 3);
	tcase_add_loop_test(tc, refused, 0, NELEM(all));
	tcase_add_loop_test(tc, round_trip, 0, NELEM(all));
	tcase_add_loop_test(tc, addresses, 0, NELEM(all));
	tcase_add_loop_test(tc, masks, 0, NELEM(all));
	tcase_add_test(tc, registers);
	suite_add_tcase(s, tc);
	return s;
}

NPT_CHECK_MAIN(vectors_riscv_suite)
