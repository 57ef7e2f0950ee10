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
#include "walk.h"

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
static uint64_t merged_leaf(const struct npt_format *f, unsigned level, const uint64_t *tbl)
{
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

/* The table c visits becomes one leaf, if it qualifies: whole in the range,
 * a leaf size of the format, merged_leaf() says yes. */
static void collapse_entry(struct npt_walk *w, struct npt_ctx *c)
{
	struct npt_table *t = w->t;
	const struct npt_format *f = w->f;
	const uint64_t cpa = npt_pte_addr(f, c->old);
	uint64_t *child = npt_virt(t, cpa);
	uint64_t leaf;

	if (!c->full || !(f->leaf_levels >> c->level & 1))
		return;
	leaf = merged_leaf(f, c->level, child);
	if (!leaf)
		return;
	if (npt_needs_bbm(t, c->level, c->old, leaf)) {
		/* After the break no walker reaches the old leaves: their
		 * accessed/dirty state is final. */
		npt_bbm_break(t, c->slot, c->old, c->level, c->base);
		leaf |= table_ad(f, child);
		npt_pte_publish(c->slot, leaf);
	} else {
		uint64_t late;

		npt_entry_replace(t, c->slot, c->old, leaf, c->level, c->base);
		/* A walker that cached the table may still set A/D in the old
		 * leaves until the flush: take what it set so far. */
		late = table_ad(f, child) & ~leaf;
		if (late)
			npt_pte_update(c->slot, 0, late);
	}
	npt_frame_free(t, cpa);
}

/* Bottom-up: a level-1 entry's leaf table is merged without walking it;
 * above, the table's children are collapsed first (NPT_V_POST). */
static NPT_ALWAYS_INLINE int collapse_visit(struct npt_walk *w, struct npt_ctx *c, unsigned kind)
{
	if (kind == NPT_V_PRE) {
		if (c->level == 1) {
			collapse_entry(w, c);
			c->skip = 1;
		}
		return 0;
	}
	collapse_entry(w, c);
	return 0;
}

static const struct npt_walk_ops collapse_ops = {
	.which = NPT_V_PRE | NPT_V_POST,
	.visit = collapse_visit,
};
NPT_WALKER(collapse_walk, &collapse_ops)

static int collapse_call(struct npt_table *t, uint64_t va, uint64_t size)
{
	struct npt_walk w = { .t = t, .apply = 1 };
	int err;

	if (!t)
		return NPT_ERR_INVAL;
	w.f = t->fmt;
	err = npt_check_input(t, va, size, &w.first, &w.last);
	if (err)
		return err;
	if (npt_range_shared(t, w.first, w.last))
		return NPT_ERR_SHARED;
	npt_flush_begin(t);
	npt_walk_root(&w, collapse_walk);
	npt_flush_end(t, 0, 0, 0);
	return 0;
}

int npt_collapse(struct npt_table *t, uint64_t va, uint64_t size)
{
	return npt_done(t, collapse_call(t, va, size));
}
