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

/* Leaves of flags at levels 0 to 2 for each output address of pas: exactly
 * the level's bits | field(pa) (the address field as the manual writes it),
 * decoding back to pa and flags; at level 0 the highest page too, every
 * address bit set; the first address past pa_bits refused at every level.
 * raw_addr: npt_pte_addr of the leaf is pa itself (no flag bit in the
 * address field of a huge leaf, unlike LoongArch's G in bit 12). */
static inline void vec_addresses(const struct npt_format *f, unsigned flags, const uint64_t *pas,
				 unsigned n, uint64_t (*field)(uint64_t pa), int raw_addr)
{
	const uint64_t top = (1ull << f->pa_bits) - 4096;

	for (unsigned lvl = 0; lvl <= 2; lvl++) {
		uint64_t bits = vec_enc_ok(f, lvl, flags), pte = 0;

		for (unsigned i = 0; i < n; i++) {
			ck_assert_int_eq(npt_encode_leaf(f, lvl, pas[i], flags, &pte), 0);
			ck_assert_msg(pte == (bits | field(pas[i])), "%s level %u pa %#llx: %#llx",
				      f->name, lvl, (unsigned long long)pas[i], (unsigned long long)pte);
			if (raw_addr)
				ck_assert_uint_eq(npt_pte_addr(f, pte), pas[i]);
			ck_assert_uint_eq(vec_dec_leaf(f, lvl, pte, pas[i]), f->decode(f, lvl, bits));
		}
		if (lvl == 0) {
			ck_assert_int_eq(npt_encode_leaf(f, 0, top, flags, &pte), 0);
			ck_assert_uint_eq(pte, bits | field(top));
			vec_dec_leaf(f, 0, pte, top);
		}
		ck_assert_int_eq(npt_encode_leaf(f, lvl, 1ull << f->pa_bits, flags, &pte),
				 NPT_ERR_RANGE);
	}
}

/* The address field of formats that keep the address in place. */
static inline uint64_t vec_field_in_place(uint64_t pa)
{
	return pa;
}

/* What a format's data must say, one row per format: the vector tests'
 * formats_data tables. */
struct vec_facts {
	const char *name;
	const struct npt_format *f;
	unsigned levels, va_bits, pa_bits, canonical, stage2, leaf_levels, flags, addr_shift;
	uint64_t addr_mask, present_mask, leaf_mask, leaf_xor, table_bits;
	unsigned root_frames, root_entries;
};

/* The format's data and npt_format_info against one row, and its leaf
 * levels through vec_bad_levels. */
static inline void vec_check_facts(const struct vec_facts *w)
{
	const struct npt_format *f = w->f;
	struct npt_format_info info;
	uint64_t sizes = 0;

	ck_assert_ptr_eq(npt_format_by_name(w->name), f);
	ck_assert_str_eq(f->name, w->name);
	ck_assert_ptr_nonnull(f->description);
	ck_assert_uint_eq(f->levels, w->levels);
	ck_assert_uint_eq(f->va_bits, w->va_bits);
	ck_assert_uint_eq(f->pa_bits, w->pa_bits);
	ck_assert_uint_eq(f->canonical, w->canonical);
	ck_assert_uint_eq(f->stage2, w->stage2);
	ck_assert_uint_eq(f->leaf_levels, w->leaf_levels);
	ck_assert_uint_eq(f->flags, w->flags);
	ck_assert_uint_eq(f->addr_shift, w->addr_shift);
	ck_assert_uint_eq(f->addr_mask, w->addr_mask);
	ck_assert_uint_eq(f->present_mask, w->present_mask);
	ck_assert_uint_eq(f->leaf_mask, w->leaf_mask);
	ck_assert_uint_eq(f->leaf_xor, w->leaf_xor);
	ck_assert_uint_eq(f->table_bits, w->table_bits);

	ck_assert_int_eq(npt_format_info(f, &info), 0);
	ck_assert_str_eq(info.name, w->name);
	ck_assert_uint_eq(info.levels, w->levels);
	ck_assert_uint_eq(info.va_bits, w->va_bits);
	ck_assert_uint_eq(info.pa_bits, w->pa_bits);
	ck_assert_int_eq(info.canonical, (int)w->canonical);
	ck_assert_int_eq(info.stage2, (int)w->stage2);
	ck_assert_uint_eq(info.root_frames, w->root_frames);
	ck_assert_uint_eq(info.root_entries, w->root_entries);
	ck_assert_uint_eq(info.flags, w->flags);
	for (unsigned l = 0; l < w->levels; l++)
		if (w->leaf_levels >> l & 1)
			sizes |= 1ull << (12 + 9 * l);
	ck_assert_uint_eq(info.leaf_sizes, sizes);
	vec_bad_levels(f);
}

#endif
