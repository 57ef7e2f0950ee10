/*
 * The format shapes the fast paths are compiled for: a format's root level,
 * input width and the presence, leaf and address bits of arch/arch.h, as
 * constants, so that every mask is an immediate. npt_query_prepare
 * (query_fast.c) matches a table's format against them field by field, never
 * by name, and keeps the shape's number in t->q.shape.
 */
#ifndef NPT_SHAPE_H
#define NPT_SHAPE_H

#include "walk.h"
#include "../arch/arch.h"

/* The byte offset of va's entry in a level-L table plus the allocator's
 * linear offset: worked out from va alone, beside the chain of loads. */
static NPT_ALWAYS_INLINE uintptr_t qp_offset(uint64_t va, unsigned level, uintptr_t off)
{
	uintptr_t o = (uintptr_t)((va >> (npt_level_shift(level) - 3)) &
				  ((NPT_ENTRIES - 1) * sizeof(uint64_t))) + off;

#if defined(__GNUC__)
	/* Kept whole, so that the table address takes one add in the load's
	 * addressing instead of two on the chain. */
	__asm__("" : "+r"(o));
#endif
	return o;
}

static NPT_ALWAYS_INLINE const uint64_t *qp_slot(uint64_t table_pa, uintptr_t offset)
{
	/* integer arithmetic: the sum wraps where the linear offset is
	 * "negative" (memory below the frames' addresses), which pointer
	 * arithmetic may not */
	return (const uint64_t *)(uintptr_t)((uintptr_t)table_pa + offset);
}

/* npt_pte_leaf above level 0; a one-bit leaf_mask known at compile time
 * comes down to one bit test. */
static NPT_ALWAYS_INLINE int qp_leaf(uint64_t pte, uint64_t leaf_mask, uint64_t leaf_xor)
{
	if (__builtin_constant_p(leaf_mask) && __builtin_constant_p(leaf_xor) && leaf_mask &&
	    !(leaf_mask & (leaf_mask - 1)))
		return (leaf_xor & leaf_mask) ? !(pte & leaf_mask) : (pte & leaf_mask) != 0;
	return ((pte ^ leaf_xor) & leaf_mask) != 0;
}

/* The format facts a query_pa walk is compiled for. A shape whose fields are
 * constants gives a walk with every mask an immediate; the generic shape
 * reads them from t->q at run time. */
struct qshape {
	unsigned root;       /* root level */
	int generic;         /* the fields below are t->q's, not constants */
	unsigned va_bits;
	int canonical;
	uint64_t addr_mask, present, leaf_mask, leaf_xor;
};

/* Shapes of common formats, each matched field by field against the
 * table's format by npt_query_prepare (never by name). */
#define X86_SHAPE NPT_X86_ADDR, NPT_X86_P, NPT_X86_PS, 0
#define EPT_SHAPE NPT_X86_ADDR, NPT_EPT_RWX, NPT_EPT_LEAF, 0
#define ARM_SHAPE NPT_ARM_ADDR, NPT_ARM_VALID, NPT_ARM_TABLE_PAGE, NPT_ARM_TABLE_PAGE
#define QSHAPES(X)                                                           \
	X(x86_48c, 3, 48, 1, X86_SHAPE) /* x86_64 */                        \
	X(x86_48, 3, 48, 0, X86_SHAPE)  /* npt */                           \
	X(ept_48, 3, 48, 0, EPT_SHAPE)  /* ept */                           \
	X(x86_57c, 4, 57, 1, X86_SHAPE) /* x86_64-la57 */                   \
	X(arm_48c, 3, 48, 1, ARM_SHAPE) /* aarch64 */                       \
	X(arm_48, 3, 48, 0, ARM_SHAPE)  /* aarch64-s2-48 */                 \
	X(arm_40, 2, 40, 0, ARM_SHAPE)  /* aarch64-s2 */

#define QSHAPE(ROOT, VA, CAN, AM, P, LM, LX)                                     \
	((struct qshape){ .root = (ROOT), .va_bits = (VA), .canonical = (CAN),   \
			  .addr_mask = (AM), .present = (P), .leaf_mask = (LM), \
			  .leaf_xor = (LX) })
enum {
	NPT_SHAPE_NONE,
#define QSHAPE_ENUM(NAME, ...) NPT_SHAPE_##NAME,
	QSHAPES(QSHAPE_ENUM)
#undef QSHAPE_ENUM
};

/* npt_seek_level compiled for a shape: the step down of the single-page
 * calls (their ia already checked and reduced), unrolled with the masks as
 * constants. */
static NPT_ALWAYS_INLINE void seek_shape(const struct npt_table *t, uint64_t ia, unsigned stop,
					 struct npt_seek *s, const struct qshape sh)
{
	const uint64_t addr_mask = sh.generic ? t->q.addr_mask : sh.addr_mask;
	const uint64_t present = sh.generic ? t->q.present : sh.present;
	const uint64_t leaf_mask = sh.generic ? t->q.leaf_mask : sh.leaf_mask;
	const uint64_t leaf_xor = sh.generic ? t->q.leaf_xor : sh.leaf_xor;
	const uintptr_t off = t->q.off;
	const unsigned idx = (unsigned)(ia >> npt_level_shift(sh.root)) & (t->root_entries - 1);
	uint64_t *slot = &t->root[idx], *parent = NULL, pte = npt_pte_get(slot);
	unsigned level = sh.root;

	/* One step from level L + 1 to L, unless the entry in hand ends the walk. */
#define SEEK_STEP(L)                                                                      \
	do {                                                                              \
		if (sh.root <= (L))                                                       \
			break;                                                            \
		if ((L) + 1 == stop || !(pte & present) || qp_leaf(pte, leaf_mask, leaf_xor)) \
			goto out;                                                         \
		parent = slot;                                                            \
		level = (L);                                                              \
		slot = (uint64_t *)(uintptr_t)qp_slot(pte & addr_mask, qp_offset(ia, L, off)); \
		pte = npt_pte_get(slot);                                                  \
	} while (0)
	SEEK_STEP(3);
	SEEK_STEP(2);
	SEEK_STEP(1);
	SEEK_STEP(0);
#undef SEEK_STEP
out:
	s->slot = slot;
	s->pte = pte;
	s->level = level;
	s->parent = parent;
	s->root_idx = idx;
}

/* npt_seek_level on a table with a shape (t->q.shape set), the shape
 * compiled in, inline: for the single-page calls, whose step down then
 * keeps its answer in registers and makes no call. */
static NPT_ALWAYS_INLINE void npt_seek_in_shape(const struct npt_table *t, uint64_t ia,
						unsigned stop, struct npt_seek *s)
{
	switch (t->q.shape) {
#define QSHAPE_CASE(NAME, ROOT, VA, CAN, ...) QSHAPE_CASE_(NAME, ROOT, VA, CAN, __VA_ARGS__)
#define QSHAPE_CASE_(NAME, ROOT, VA, CAN, AM, P, LM, LX)                             \
	case NPT_SHAPE_##NAME:                                                      \
		seek_shape(t, ia, stop, s, QSHAPE(ROOT, VA, CAN, AM, P, LM, LX));     \
		return;
		QSHAPES(QSHAPE_CASE)
#undef QSHAPE_CASE
#undef QSHAPE_CASE_
	default:
		__builtin_unreachable();
	}
}

/* The same on any table: the general walk where it has no shape. */
static NPT_ALWAYS_INLINE void npt_seek_shaped(const struct npt_table *t, uint64_t ia,
					      unsigned stop, struct npt_seek *s)
{
	if (t->q.shape) {
		npt_seek_in_shape(t, ia, stop, s);
	} else {
		/* through a copy: s itself never escapes, so it can live in
		 * registers */
		struct npt_seek g;

		npt_seek_general(t, ia, stop, &g);
		*s = g;
	}
}

#endif
