/*
 * npt_collapse: tables whose entries all map one aligned, contiguous block
 * with the same attributes become one huge leaf again (KVM's huge-page
 * recovery once dirty logging stops; Hafnium's defragmentation).
 *
 * Bottom-up in one pass: a table's children are collapsed first, so 4 KiB
 * leaves become a 2 MiB leaf and 512 such leaves a 1 GiB leaf in the same
 * call. Collapsing only frees frames, so the call needs no plan: once the
 * input is checked nothing can fail.
 */
#include "internal.h"

struct collapse {
	struct npt_table *t;
	const struct npt_format *f;
	uint64_t first, last;
};

/* Accessed/dirty bits of all entries of a table, ORed. */
static uint64_t table_ad(const struct npt_format *f, const uint64_t *tbl)
{
	const uint64_t ad = f->accessed_bit | f->dirty_bit;
	uint64_t acc = 0;
	unsigned i;

	for (i = 0; i < NPT_ENTRIES; i++)
		acc |= __atomic_load_n(&tbl[i], __ATOMIC_RELAXED) & ad;
	return acc;
}

/* The leaf at level that replaces the table tbl of leaves at level - 1, or
 * 0 if tbl does not qualify: every entry a present leaf, output addresses
 * contiguous from an address aligned to the new leaf's size, every other bit
 * equal. Accessed/dirty state may differ: the new leaf takes the OR (on Arm
 * DBM leaves the write permission is that state: dirty if any was). */
static uint64_t merged_leaf(const struct collapse *c, unsigned level, const uint64_t *tbl)
{
	const struct npt_format *f = c->f;
	const unsigned cl = level - 1;
	const uint64_t csz = npt_level_size(cl);
	const uint64_t c0 = __atomic_load_n(&tbl[0], __ATOMIC_RELAXED);
	const uint64_t wbits = f->w_set | f->w_clear;
	/* hardware state: may differ between the leaves */
	const uint64_t state = f->accessed_bit | f->dirty_bit | ((c0 & f->dbm_bit) ? wbits : 0);
	/* address bits of a level-cl leaf, in entry bits: a huge leaf's field
	 * may hold other bits below its size (LoongArch's huge G, bit 12) */
	const uint64_t amask = npt_addr_bits(f, ~(csz - 1));
	const uint64_t carry = f->accessed_bit | f->dirty_bit | f->dbm_bit | f->sw_log_bit | wbits;
	const uint64_t same = c0 & ~(amask | state);
	const uint64_t pa0 = npt_pte_addr(f, c0 & amask);
	uint64_t ad = 0, bits, merged;
	int writable = 0;
	unsigned i;

	if (!npt_pte_present(f, c0) || !npt_pte_leaf(f, cl, c0) || (pa0 & (npt_level_size(level) - 1)))
		return 0;
	for (i = 0; i < NPT_ENTRIES; i++) {
		uint64_t e = __atomic_load_n(&tbl[i], __ATOMIC_RELAXED);

		if ((e & ~(amask | state)) != same || npt_pte_addr(f, e & amask) != pa0 + i * csz ||
		    !npt_pte_leaf(f, cl, e))
			return 0;
		ad |= e & (f->accessed_bit | f->dirty_bit);
		writable |= npt_pte_writable(f, e);
	}
	/* The attributes re-encoded for the bigger leaf (its leaf-type bits
	 * differ); the state npt and the hardware keep in leaves carried over. */
	if (f->encode(f, level, f->decode(f, cl, c0) & ~(NPT_A | NPT_D), &bits))
		return 0;
	merged = (bits & ~carry) | (c0 & carry & ~state) | ad | npt_addr_bits(f, pa0);
	if (c0 & f->dbm_bit)
		merged |= writable ? f->w_set : f->w_clear;
	return merged;
}

static void collapse_level(struct collapse *c, unsigned level, uint64_t *tbl, uint64_t base)
{
	struct npt_table *t = c->t;
	const struct npt_format *f = c->f;
	const uint64_t esz = npt_level_size(level);
	unsigned i, lo, hi;

	npt_slice(t, level, base, c->first, c->last, &lo, &hi);
	for (i = lo; i <= hi; i++) {
		const uint64_t ebase = base + (uint64_t)i * esz, elast = ebase + esz - 1;
		uint64_t pte = npt_pte_get(&tbl[i]), cpa, leaf;
		uint64_t *child;

		if (!npt_pte_present(f, pte) || npt_pte_leaf(f, level, pte))
			continue;
		cpa = npt_pte_addr(f, pte);
		child = npt_virt(t, cpa);
		if (level > 1)
			collapse_level(c, level - 1, child, ebase);
		if (ebase < c->first || elast > c->last || !(f->leaf_levels >> level & 1))
			continue;
		leaf = merged_leaf(c, level, child);
		if (!leaf)
			continue;
		if (npt_needs_bbm(t, level, pte, leaf)) {
			/* After the break no walker reaches the old leaves: their
			 * accessed/dirty state is final. */
			npt_bbm_break(t, &tbl[i], pte, level, ebase);
			leaf |= table_ad(f, child);
			npt_pte_publish(&tbl[i], leaf);
		} else {
			uint64_t late;

			npt_entry_replace(t, &tbl[i], pte, leaf, level, ebase);
			/* A walker that cached the table may still set A/D in the
			 * old leaves until the flush: take what it set so far. */
			late = table_ad(f, child) & ~leaf;
			if (late)
				npt_pte_update(&tbl[i], 0, late);
		}
		npt_frame_free(t, cpa);
	}
}

int npt_collapse(struct npt_table *t, uint64_t va, uint64_t size)
{
	struct collapse c;
	int err;

	if (!t)
		return NPT_ERR_INVAL;
	c.t = t;
	c.f = t->fmt;
	err = npt_check_input(t, va, size, &c.first, &c.last);
	if (err)
		return err;
	if (npt_range_shared(t, c.first, c.last))
		return NPT_ERR_SHARED;
	npt_flush_begin(t);
	collapse_level(&c, npt_root_level(t), t->root, 0);
	npt_flush_end(t, 0, 0, 0);
	return 0;
}
