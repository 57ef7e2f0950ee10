/*
 * Read-only paths: translation of one address and the visitor walk.
 *
 * The translation loop touches one entry per level and makes no indirect
 * call until the leaf is found: presence, leaf-ness and the next table's
 * address come from the format's masks, read once into locals.
 */
#include "internal.h"

int npt_lookup(const struct npt_table *t, uint64_t ia, struct npt_lookup *out)
{
	const struct npt_format *f = t->fmt;
	const uint64_t present = f->present_mask, leaf_mask = f->leaf_mask, leaf_xor = f->leaf_xor;
	const uint64_t addr_mask = f->addr_mask;
	const unsigned addr_shift = f->addr_shift;
	const int linear = (t->mm.flags & NPT_MM_LINEAR) != 0;
	unsigned level = npt_root_level(t);
	unsigned idx = (unsigned)(ia >> npt_level_shift(level)) & (t->root_entries - 1);
	const uint64_t *tbl;
	uint64_t pte = t->root[idx];

	out->root_idx = idx;
	for (;;) {
		uint64_t next;

		if (!(pte & present)) {
			out->level = level;
			out->pte = pte;
			return NPT_ERR_NOT_MAPPED;
		}
		if (level == 0 || ((pte ^ leaf_xor) & leaf_mask))
			break;
		level--;
		next = (pte & addr_mask) << addr_shift;
		tbl = linear ? (const uint64_t *)(uintptr_t)(next + t->mm.linear_offset)
			     : t->mm.phys_to_virt(t->mm.ctx, next);
		pte = tbl[(ia >> npt_level_shift(level)) & (NPT_ENTRIES - 1)];
	}
	out->level = level;
	out->pte = pte;
	return 0;
}

int npt_query(const struct npt_table *t, uint64_t va, uint64_t *pa, unsigned *flags,
	      uint64_t *page_size)
{
	struct npt_lookup l;
	uint64_t first, last, size;
	int err;

	if (!t)
		return NPT_ERR_INVAL;
	/* Range-check the page holding va; its offset is carried through. */
	err = npt_check_input(t, va & ~(NPT_PAGE_SIZE - 1), NPT_PAGE_SIZE, &first, &last);
	if (err)
		return err;
	err = npt_lookup(t, va & t->ia_mask, &l);
	if (err)
		return err;
	size = npt_level_size(l.level);
	if (pa)
		*pa = (npt_pte_addr(t->fmt, l.pte) & ~(size - 1)) | (va & (size - 1));
	if (flags)
		*flags = t->fmt->decode(t->fmt, l.level, l.pte);
	if (page_size)
		*page_size = size;
	return 0;
}

struct walk {
	const struct npt_table *t;
	uint64_t first, last;
	unsigned which;
	int (*visit)(const struct npt_visit *v, void *arg);
	void *arg;
};

static int walk_level(const struct walk *w, unsigned level, const uint64_t *tbl, uint64_t base,
		      int shared)
{
	const struct npt_table *t = w->t;
	const struct npt_format *f = t->fmt;
	uint64_t esz = npt_level_size(level);
	unsigned i, lo, hi;
	int r;

	npt_slice(t, level, base, w->first, w->last, &lo, &hi);
	for (i = lo; i <= hi; i++) {
		uint64_t pte = tbl[i], ebase = base + (uint64_t)i * esz;
		struct npt_visit v;

		if (!npt_pte_present(f, pte))
			continue;
		v.level = level;
		v.va = npt_ia_to_va(t, ebase);
		v.size = esz;
		v.pte = pte;
		v.shared = shared || npt_is_shared(t, level, i);
		if (npt_pte_leaf(f, level, pte)) {
			if (!(w->which & NPT_WALK_LEAF))
				continue;
			v.kind = NPT_WALK_LEAF;
			v.pa = npt_pte_addr(f, pte) & ~(esz - 1);
			v.flags = f->decode(f, level, pte);
			r = w->visit(&v, w->arg);
			if (r)
				return r;
			continue;
		}
		v.pa = npt_pte_addr(f, pte);
		v.flags = 0;
		if (w->which & NPT_WALK_TABLE_PRE) {
			v.kind = NPT_WALK_TABLE_PRE;
			r = w->visit(&v, w->arg);
			if (r)
				return r;
		}
		r = walk_level(w, level - 1, npt_virt(t, v.pa), ebase, v.shared);
		if (r)
			return r;
		if (w->which & NPT_WALK_TABLE_POST) {
			v.kind = NPT_WALK_TABLE_POST;
			r = w->visit(&v, w->arg);
			if (r)
				return r;
		}
	}
	return 0;
}

int npt_walk(const struct npt_table *t, uint64_t va, uint64_t size, unsigned which,
	     int (*visit)(const struct npt_visit *v, void *arg), void *arg)
{
	struct walk w;
	int err;

	if (!t || !visit || (which & ~(NPT_WALK_LEAF | NPT_WALK_TABLE_PRE | NPT_WALK_TABLE_POST)))
		return NPT_ERR_INVAL;
	err = npt_check_input(t, va, size, &w.first, &w.last);
	if (err)
		return err;
	w.t = t;
	w.which = which;
	w.visit = visit;
	w.arg = arg;
	return walk_level(&w, npt_root_level(t), t->root, 0, 0);
}
