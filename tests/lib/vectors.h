/*
 * Helpers for the raw-entry vector tests (tests/test_vectors_*.c): encode and
 * decode one leaf through the public calls and through the format's own
 * functions, and check that both agree.
 */
#ifndef NPT_TESTS_VECTORS_H
#define NPT_TESTS_VECTORS_H

#include <check.h>
#include <stdint.h>

#include "npt.h"
#include "format.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* Leaf bits for flags at level (pa = 0), public call and format agreeing. */
static inline uint64_t vec_enc_ok(const struct npt_format *f, unsigned level, unsigned flags)
{
	uint64_t pte = 0xdeadull, raw = 0xbeefull;
	int r = npt_encode_leaf(f, level, 0, flags, &pte);

	ck_assert_msg(r == 0, "%s level %u flags %#x: %d", f->name, level, flags, r);
	ck_assert_int_eq(f->encode(f, level, flags, &raw), 0);
	ck_assert_msg(raw == pte, "%s level %u flags %#x: %#llx vs %#llx", f->name, level, flags,
		      (unsigned long long)raw, (unsigned long long)pte);
	return pte;
}

/* flags at level are refused with NPT_ERR_FLAGS, and nothing is written. */
static inline void vec_enc_refused(const struct npt_format *f, unsigned level, unsigned flags)
{
	uint64_t pte = 0x5a5aull, raw = 0xa5a5ull;

	ck_assert_msg(npt_encode_leaf(f, level, 0, flags, &pte) == NPT_ERR_FLAGS,
		      "%s level %u flags %#x accepted", f->name, level, flags);
	ck_assert_msg(f->encode(f, level, flags, &raw) == NPT_ERR_FLAGS,
		      "%s encode level %u flags %#x accepted", f->name, level, flags);
	ck_assert_uint_eq(pte, 0x5a5aull);
	ck_assert_uint_eq(raw, 0xa5a5ull);
}

/* Decode a present leaf through the public call: is_leaf, pa and flags. */
static inline unsigned vec_dec_leaf(const struct npt_format *f, unsigned level, uint64_t pte,
				    uint64_t want_pa)
{
	uint64_t pa = 1;
	unsigned flags = 0x1234;
	int is_leaf = -1;

	ck_assert_int_eq(npt_decode(f, level, pte, &pa, &flags, &is_leaf), 0);
	ck_assert_int_eq(is_leaf, 1);
	ck_assert_uint_eq(pa, want_pa);
	ck_assert_uint_eq(flags, f->decode(f, level, pte));
	return flags;
}

/* A table entry pointing at next: present, not a leaf at level, address back. */
static inline void vec_table_entry(const struct npt_format *f, unsigned level, uint64_t pte,
				   uint64_t next)
{
	uint64_t pa = 0;
	unsigned flags = 0x1234;
	int is_leaf = -1;

	ck_assert(npt_pte_present(f, pte));
	ck_assert(!npt_pte_leaf(f, level, pte));
	ck_assert_int_eq(npt_decode(f, level, pte, &pa, &flags, &is_leaf), 0);
	ck_assert_int_eq(is_leaf, 0);
	ck_assert_uint_eq(pa, next);
	ck_assert_uint_eq(flags, 0);
}

/* Levels the format cannot hold a leaf at: the public call says
 * NPT_ERR_INVAL, the format's encode NPT_ERR_FLAGS. */
static inline void vec_bad_levels(const struct npt_format *f)
{
	for (unsigned lvl = 0; lvl < 70; lvl++) {
		uint64_t pte = 0x5a5aull, raw = 0xa5a5ull;

		if (lvl < f->levels && (f->leaf_levels >> lvl & 1))
			continue;
		ck_assert_int_eq(npt_encode_leaf(f, lvl, 0, NPT_R, &pte), NPT_ERR_INVAL);
		ck_assert_int_eq(f->encode(f, lvl, NPT_R, &raw), NPT_ERR_FLAGS);
		ck_assert_uint_eq(pte, 0x5a5aull);
		ck_assert_uint_eq(raw, 0xa5a5ull);
	}
}

#endif
