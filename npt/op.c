/*
 * The steps every changing operation shares (op.h): plan / allocate /
 * apply, new tables below an entry (empty or the split of a huge leaf),
 * flush notes and the full_bit hint. The operations themselves are the
 * visitors in map.c, unmap.c, protect.c and log.c.
 */
#include "op.h"
#include "runs.h"

int npt_split_template(const struct npt_format *f, unsigned level, uint64_t pte, uint64_t *tmpl)
{
	const uint64_t carry = f->accessed_bit | f->dirty_bit | f->dbm_bit | f->sw_log_bit |
			       f->w_set | f->w_clear;
	unsigned flags = f->decode(f, level, pte) & ~(NPT_A | NPT_D);
	int err = f->encode(f, level - 1, flags, tmpl);

	*tmpl = (*tmpl & ~carry) | (pte & carry);
	return err;
}

/* The hardware may have set accessed/dirty state (or, on Arm, granted a DBM
 * write) in the huge leaf between the read the split was built from and the
 * exchange that replaced it: carry that into the new leaves, as the hardware
 * would have had it come a moment later. Leaves npt_log_start marked in the
 * split take only the accessed bit (they start clean). */
struct fixup {
	struct npt_walk w;
	uint64_t set, clear, snap;
};

static NPT_ALWAYS_INLINE int fixup_visit(struct npt_walk *w, struct npt_ctx *c, unsigned kind)
{
	const struct fixup *x = (const struct fixup *)(void *)w;
	const struct npt_format *f = w->f;

	(void)kind;
	if ((c->old & f->sw_log_bit) && !(x->snap & f->sw_log_bit))
		npt_pte_update(c->slot, 0, x->set & f->accessed_bit);
	else
		npt_pte_update(c->slot, x->clear, x->set);
	return 0;
}

static const struct npt_walk_ops fixup_ops = { .which = NPT_V_LEAF, .visit = fixup_visit };
NPT_WALKER(fixup_walk, &fixup_ops)

void npt_op_fixup(struct npt_op *o, const struct npt_ctx *c, uint64_t final, uint64_t hw)
{
	struct fixup x = { { .t = o->w.t, .f = o->w.f, .first = c->base,
			     .last = c->base + (npt_level_size(c->level) - 1), .apply = 1 },
			   final & ~c->old & hw, c->old & ~final & hw, c->old };

	fixup_walk(&x.w, c->level - 1, npt_tref_real(npt_virt(o->w.t, c->child_pa)), c->base, 0);
}

void npt_leaf_recount(const struct npt_format *f, const uint64_t *tbl, struct npt_counts *n)
{
	const uint64_t amask = f->addr_mask, step = NPT_PAGE_SIZE >> f->addr_shift;
	uint64_t next = ~0ull; /* the address a good successor has */
	unsigned i;

	n->present = n->good = 0;
	for (i = 0; i < NPT_ENTRIES; i++) {
		const uint64_t pte = tbl[i];

		if (!npt_pte_present(f, pte)) {
			next = ~0ull;
			continue;
		}
		n->present++;
		n->good += i == 0 || (pte & amask) == next;
		next = (pte & amask) + step;
	}
}

unsigned npt_leaf_settle(struct npt_table *t, uint64_t *slot, const uint64_t *tbl,
			 uint64_t table_pa, int may_set)
{
	struct npt_counts n;

	npt_leaf_recount(t->fmt, tbl, &n);
	npt_counts_put(npt_leaf_word(t, table_pa), &n);
	npt_full_bit_settle(slot, t->fmt->full_bit, n.good, may_set);
	return n.present;
}

int npt_table_empty(const struct npt_format *f, const uint64_t *tbl)
{
	unsigned i;

	for (i = 0; i < NPT_ENTRIES; i++)
		if (npt_pte_present(f, tbl[i]))
			return 0;
	return 1;
}

unsigned npt_leaf_adjust_read(struct npt_table *t, uint64_t *parent, const uint64_t *tbl,
			      int dpresent, int may_set)
{
	const struct npt_format *f = t->fmt;
	const uint64_t bit = f->full_bit;
	struct npt_counts n;

	if (dpresent < 0) {
		/* a page went: the bit goes, and the table may be empty now
		 * (the first present entry ends the read) */
		if (*parent & bit)
			__atomic_fetch_and(parent, ~bit, __ATOMIC_RELAXED);
		return !npt_table_empty(f, tbl);
	} else if (dpresent == 0 || !may_set) {
		if (dpresent == 0 && (*parent & bit))
			__atomic_fetch_and(parent, ~bit, __ATOMIC_RELAXED);
		return 1;
	}
	npt_leaf_recount(f, tbl, &n);
	npt_full_bit_settle(parent, bit, n.good, may_set);
	return n.present;
}

int npt_op_encode_slow(struct npt_table *t, unsigned level, unsigned flags, uint64_t *bits)
{
	const struct npt_format *f = t->fmt;
	int err;

	if (flags & ~f->flags)
		return NPT_ERR_FLAGS;
	err = f->encode(f, level, flags, bits);
	if (err)
		return err;
	t->enc_bits = *bits;
	t->enc_key = npt_enc_key(level, flags);
	return 0;
}

int npt_op_run(struct npt_op *o, npt_walk_fn *fn)
{
	struct npt_table *t = o->w.t;
	int err;

	npt_flush_begin(t);
	o->w.f = t->fmt;
	o->w.apply = 0;
	o->need = 0;
	o->cache.head = 0;
	o->changed = 0;
	o->building = 0;
	err = npt_walk_root(&o->w, fn);
	if (err)
		return err;
	err = npt_prealloc_fill(t, &o->cache, o->need);
	if (err)
		return err;
	o->w.apply = 1;
	err = npt_walk_root(&o->w, fn);
	NPT_CHECK(t, !err && !o->cache.head && !o->building);
	if (!o->flush_open)
		npt_flush_end(t, o->changed, o->flush_first, o->flush_last);
	return 0;
}

int npt_op_flags(struct npt_op *o, unsigned flags, unsigned levels)
{
	struct npt_table *t = o->w.t;
	const struct npt_format *f = t->fmt;
	const uint64_t key = 1 | (uint64_t)flags << 1 | (uint64_t)levels << 33;
	unsigned level;
	int err;

	if (flags & ~f->flags)
		return NPT_ERR_FLAGS;
	if (t->tmpl_key == key) {
		/* the same answer as last time: encoding reads only the format */
		for (level = 0; level < f->levels; level++)
			if (levels >> level & 1)
				o->tmpl[level] = t->tmpl[level];
		return 0;
	}
	t->tmpl_key = 0; /* until every level below is in */
	for (level = 0; level < f->levels; level++) {
		if (!(levels >> level & 1))
			continue;
		err = f->encode(f, level, flags, &o->tmpl[level]);
		if (err)
			return err;
		t->tmpl[level] = o->tmpl[level];
	}
	t->tmpl_key = key;
	return 0;
}
