/*
 * npt_copy_from: a table borrows another's top-level entries (the way a
 * kernel shares its half of the address space with every process table).
 * Borrowed entries are marked in t->shared: t never frees them and refuses
 * to change anything beneath them. The lender marks them in src->exported
 * and from then on keeps the table under such a slot even when it empties,
 * so the borrower never points at a freed frame and still sees what src
 * maps there later. (The marking is bookkeeping, not a change to src's
 * mappings: hence the cast.)
 */
#include "internal.h"

static int copy_from_call(struct npt_table *t, const struct npt_table *src, uint64_t va, uint64_t size)
{
	const struct npt_format *f;
	unsigned root, shift, i, lo, hi;
	uint64_t first, last, esz;
	int err, changed = 0;

	if (!t || !src || t->fmt != src->fmt || t == src)
		return NPT_ERR_INVAL;
	f = t->fmt;
	root = npt_root_level(t);
	shift = npt_level_shift(root);
	esz = 1ull << shift;
	err = npt_check_input(t, va, size, &first, &last);
	if (err)
		return err;
	if ((first | size) & (esz - 1))
		return NPT_ERR_ALIGN;
	lo = (unsigned)(first >> shift);
	hi = (unsigned)(last >> shift);
	for (i = lo; i <= hi; i++)
		if (npt_pte_present(f, t->root[i]) && !npt_is_shared(t, root, i))
			return NPT_ERR_ALREADY_MAPPED;

	npt_flush_begin(t);
	for (i = lo; i <= hi; i++) {
		uint64_t old = t->root[i], pte = src->root[i];
		struct npt_table *lender = (struct npt_table *)src;

		if (npt_pte_present(f, old) && npt_pte_present(f, pte) && old != pte) {
			/* A shared entry taken over from another lender: a new
			 * table address, broken first where the format needs it
			 * (flush noted by npt_entry_replace). */
			npt_entry_replace(t, &t->root[i], old, pte, root, (uint64_t)i << shift);
		} else {
			if (npt_pte_present(f, old) && old != pte)
				changed = 1;
			__atomic_store_n(&t->root[i], pte, __ATOMIC_RELEASE);
		}
		if (npt_pte_present(f, pte)) {
			t->shared[i / 64] |= 1ull << (i % 64);
			if (!npt_pte_leaf(f, root, pte))
				lender->exported[i / 64] |= 1ull << (i % 64);
		} else {
			t->shared[i / 64] &= ~(1ull << (i % 64));
		}
	}
	npt_flush_end(t, changed, first, last);
	return 0;
}

int npt_copy_from(struct npt_table *t, const struct npt_table *src, uint64_t va, uint64_t size)
{
	return npt_done(t, copy_from_call(t, src, va, size));
}

int npt_range_shared(const struct npt_table *t, uint64_t first, uint64_t last)
{
	unsigned root = npt_root_level(t), i, lo, hi;

	npt_slice(t, root, 0, first, last, &lo, &hi);
	for (i = lo; i <= hi; i++)
		if (npt_is_shared(t, root, i) && npt_pte_present(t->fmt, t->root[i]))
			return 1;
	return 0;
}
