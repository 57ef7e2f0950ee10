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

/* Keeps the full_bit of the level-1 entry c visits true after the apply
 * pass changed part of its leaf table: an unmap or a remap clears it (the
 * table has a hole, or an address out of sequence; protect changes
 * neither); a map sets it once the table is one full run. That takes a read
 * of the whole table, made only when the entries on both sides of the run
 * just mapped are present: a table filled page by page in order is read
 * once, at its last page. */
void npt_op_full_hint(struct npt_op *o, struct npt_ctx *c)
{
	const struct npt_format *f = o->w.f;
	const uint64_t bit = f->full_bit;
	const uint64_t *child;
	unsigned lo, hi;

	if (!bit || o->kind == NPT_OP_PROTECT || o->kind == NPT_OP_LOG)
		return;
	if (o->kind != NPT_OP_MAP) {
		if (*c->slot & bit)
			__atomic_fetch_and(c->slot, ~bit, __ATOMIC_RELAXED);
		return;
	}
	if (*c->slot & bit)
		return;
	child = npt_next_table(o->w.t, c->old);
	npt_slice(o->w.t, 0, c->base, o->w.first, o->w.last, &lo, &hi);
	if ((lo && !npt_pte_present(f, child[lo - 1])) ||
	    (hi < NPT_ENTRIES - 1 && !npt_pte_present(f, child[hi + 1])))
		return;
	if (npt_run_is_full_run(f, child))
		__atomic_fetch_or(c->slot, bit, __ATOMIC_RELAXED);
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
	const struct npt_format *f = o->w.t->fmt;
	unsigned level;
	int err;

	if (flags & ~f->flags)
		return NPT_ERR_FLAGS;
	for (level = 0; level < f->levels; level++) {
		if (!(levels >> level & 1))
			continue;
		err = f->encode(f, level, flags, &o->tmpl[level]);
		if (err)
			return err;
	}
	return 0;
}

int npt_op_single_leaf(struct npt_op *o, uint64_t va, unsigned *level, uint64_t *leaf_pa)
{
	struct npt_table *t = o->w.t;
	struct npt_seek s;
	uint64_t size;
	int err;

	err = npt_check_input(t, va, NPT_PAGE_SIZE, &o->w.first, &o->w.last);
	if (err)
		return err;
	npt_seek(t, o->w.first, &s);
	if (!npt_pte_present(t->fmt, s.pte))
		return NPT_ERR_NOT_MAPPED;
	size = npt_level_size(s.level);
	if (o->w.first & (size - 1))
		return NPT_ERR_HUGE;
	o->w.last = o->w.first + size - 1;
	*level = s.level;
	*leaf_pa = npt_pte_addr(t->fmt, s.pte) & ~(size - 1);
	return 0;
}
