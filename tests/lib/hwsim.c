/* A CPU's view of npt's leaves — see hwsim.h. */
#include "hwsim.h"

#include "internal.h"

uint64_t *hw_slot(const struct npt_table *t, uint64_t va, unsigned *level)
{
	const struct npt_format *f = t->fmt;
	uint64_t ia = va & t->ia_mask;
	unsigned l = npt_root_level(t);
	uint64_t *tbl = t->root;
	uint64_t *slot = &tbl[(ia >> npt_level_shift(l)) & (t->root_entries - 1)];

	for (;;) {
		uint64_t pte = __atomic_load_n(slot, __ATOMIC_ACQUIRE);

		if (!npt_pte_present(f, pte))
			return NULL;
		if (npt_pte_leaf(f, l, pte)) {
			if (level)
				*level = l;
			return slot;
		}
		l--;
		tbl = npt_virt(t, npt_pte_addr(f, pte));
		slot = &tbl[(ia >> npt_level_shift(l)) & (NPT_ENTRIES - 1)];
	}
}

int hw_access(const struct npt_table *t, uint64_t va, int write)
{
	const struct npt_format *f = t->fmt;
	uint64_t *slot = hw_slot(t, va, NULL);
	uint64_t pte;

	if (!slot)
		return HW_FAULT_NOT_MAPPED;
	pte = __atomic_load_n(slot, __ATOMIC_RELAXED);
	if (write && !npt_pte_writable(f, pte)) {
		if (!(pte & f->dbm_bit))
			return HW_FAULT_WRITE;
		/* D8.4.6: a write through a writable-clean DBM leaf makes it
		 * writable-dirty. */
		__atomic_fetch_and(slot, ~f->w_clear, __ATOMIC_RELAXED);
		__atomic_fetch_or(slot, f->w_set, __ATOMIC_RELAXED);
	}
	__atomic_fetch_or(slot, f->accessed_bit | (write ? f->dirty_bit : 0), __ATOMIC_RELAXED);
	return HW_OK;
}

uint64_t hw_pte(const struct npt_table *t, uint64_t va)
{
	uint64_t *slot = hw_slot(t, va, NULL);

	return slot ? __atomic_load_n(slot, __ATOMIC_RELAXED) : 0;
}

uint64_t hw_accessed_bit(const struct npt_table *t)
{
	return t->fmt->accessed_bit;
}

uint64_t hw_dirty_bit(const struct npt_table *t)
{
	return t->fmt->dirty_bit;
}

uint64_t hw_dbm_bit(const struct npt_table *t)
{
	return t->fmt->dbm_bit;
}

uint64_t hw_sw_log_bit(const struct npt_table *t)
{
	return t->fmt->sw_log_bit;
}

int hw_writable(const struct npt_table *t, uint64_t pte)
{
	return npt_pte_writable(t->fmt, pte);
}
