/*
 * Walks that are not changing operations: one address (npt_seek), freeing
 * a subtree, and the public visitor walk npt_walk. All of them the walker
 * of walk.h, or its step down.
 */
#include "walk.h"

/* The vt of a real table new to the call (walk.h, npt_tref_fresh). */
const struct npt_vtable npt_vt_fresh;

void npt_seek_general(const struct npt_table *t, uint64_t ia, unsigned stop, struct npt_seek *s)
{
	const struct npt_format *f = t->fmt;
	unsigned level = npt_root_level(t);
	uint64_t *slot = &t->root[(ia >> npt_level_shift(level)) & (t->root_entries - 1)];
	uint64_t pte;

	s->root_idx = (unsigned)(slot - t->root);
	s->parent = NULL;
	for (;;) {
		pte = npt_pte_get(slot);
		if (level == stop || !npt_pte_present(f, pte) || npt_pte_leaf(f, level, pte))
			break;
		level--;
		s->parent = slot;
		slot = &((uint64_t *)npt_next_table(t, pte))[(ia >> npt_level_shift(level)) &
							      (NPT_ENTRIES - 1)];
	}
	s->slot = slot;
	s->pte = pte;
	s->level = level;
}

/* ---- freeing a subtree ---------------------------------------------------------
 * Every table frame below, read only where it can hold table entries: a
 * leaf table is freed unread. */

/* The leaf tables a level-1 table points to: one loop over its entries,
 * where a walker step per entry costs more than the free itself. */
static void free_leaf_tables(struct npt_table *t, const uint64_t *tbl)
{
	const struct npt_format *f = t->fmt;
	unsigned i;

	for (i = 0; i < NPT_ENTRIES; i++) {
		const uint64_t pte = npt_pte_get(&tbl[i]);

		if (npt_pte_present(f, pte) && !npt_pte_leaf(f, 1, pte))
			npt_frame_free(t, npt_pte_addr(f, pte));
	}
}

static NPT_ALWAYS_INLINE int free_visit(struct npt_walk *w, struct npt_ctx *c, unsigned kind)
{
	const uint64_t pa = npt_pte_addr(w->f, c->old);

	if (kind == NPT_V_PRE) {
		if (c->level > 2)
			return 0;
		if (c->level == 2) /* a level-1 table: its leaf tables, then itself */
			free_leaf_tables(w->t, npt_virt(w->t, pa));
		c->skip = 1;
	}
	npt_frame_free(w->t, pa);
	return 0;
}

static const struct npt_walk_ops free_ops = { .which = NPT_V_PRE | NPT_V_POST, .visit = free_visit };
NPT_WALKER(free_walk, &free_ops)

void npt_free_subtree(struct npt_table *t, unsigned level, uint64_t table_pa)
{
	struct npt_walk w = { .t = t, .f = t->fmt, .first = 0, .last = ~0ull, .apply = 1 };

	if (level > 0)
		free_walk(&w, level, npt_tref_real(npt_virt(t, table_pa)), 0, 0);
	npt_frame_free(t, table_pa);
}

/* The whole table, but shared root entries (their tables belong to the
 * lender). */
static NPT_ALWAYS_INLINE int free_all_visit(struct npt_walk *w, struct npt_ctx *c, unsigned kind)
{
	if (kind == NPT_V_PRE && c->shared) {
		c->skip = 1;
		return 0;
	}
	return free_visit(w, c, kind);
}

static const struct npt_walk_ops free_all_ops = { .which = NPT_V_PRE | NPT_V_POST,
						  .visit = free_all_visit };
NPT_WALKER(free_all_walk, &free_all_ops)

void npt_free_tables(struct npt_table *t)
{
	struct npt_walk w = { .t = t, .f = t->fmt, .first = 0, .last = t->ia_mask, .apply = 1 };

	npt_walk_root(&w, free_all_walk);
}

/* ---- npt_walk ------------------------------------------------------------------- */

struct pwalk {
	struct npt_walk w;
	unsigned which;
	int (*visit)(const struct npt_visit *v, void *arg);
	void *arg;
	/* NPT_WALK_RUNS: the run being gathered (open), the input address just
	 * past it, and the entry a 4 KiB leaf extending it would be (0 when none
	 * can: another level, or the output address field would overflow). */
	struct npt_visit run;
	int open;
	uint64_t run_end, expect;
	/* The last leaf decoded: neighbouring leaves nearly always carry the
	 * same flag bits, and decode reads nothing else (not the address), so
	 * its result is reused instead of an indirect call per leaf. */
	uint64_t memo_bits;
	unsigned memo_level, memo_flags;
	int memo_valid;
};

/* f->decode(f, level, pte), remembered for the last flag bits seen. */
static unsigned pwalk_decode(struct pwalk *p, unsigned level, uint64_t pte, uint64_t esz)
{
	const struct npt_format *f = p->w.f;
	/* everything but the leaf's own address bits */
	const uint64_t bits = pte & ~(f->addr_mask & ~((esz >> f->addr_shift) - 1));

	if (!p->memo_valid || bits != p->memo_bits || level != p->memo_level) {
		p->memo_flags = f->decode(f, level, pte);
		p->memo_bits = bits;
		p->memo_level = level;
		p->memo_valid = 1;
	}
	return p->memo_flags;
}

/* ---- runs ---------------------------------------------------------------------
 * NPT_WALK_RUNS gathers leaves into runs (same level, flags and sharing,
 * input and output both contiguous) and visits each run once, when the next
 * leaf cannot extend it, before a table visit, and at the end. */
static int run_close(struct pwalk *p)
{
	if (!p->open)
		return 0;
	p->open = 0;
	p->expect = 0;
	return p->visit(&p->run, p->arg);
}

/* The entry after pte in a run of 4 KiB leaves. */
static uint64_t run_next(const struct npt_format *f, uint64_t pte)
{
	const uint64_t a = (pte & f->addr_mask) + (NPT_PAGE_SIZE >> f->addr_shift);

	return a & ~f->addr_mask ? 0 : (pte & ~f->addr_mask) | a;
}

/* The leaf pte at level, input address ia (reduced): extends the open run
 * or closes it and opens its own. */
static int run_add(struct pwalk *p, unsigned level, uint64_t ia, uint64_t pte, int shared)
{
	const struct npt_format *f = p->w.f;
	const uint64_t esz = npt_level_size(level);
	const uint64_t pa = npt_pte_addr(f, pte) & ~(esz - 1);
	const unsigned flags = pwalk_decode(p, level, pte, esz);
	int r;

	if (p->open && level == p->run.level && flags == p->run.flags && shared == p->run.shared &&
	    ia == p->run_end && pa == p->run.pa + p->run.size) {
		p->run.size += esz;
		p->run_end += esz;
		p->expect = level ? 0 : run_next(f, pte);
		return 0;
	}
	r = run_close(p);
	if (r)
		return r;
	p->run.kind = NPT_WALK_RUNS;
	p->run.level = level;
	p->run.va = npt_ia_to_va(p->w.t, ia);
	p->run.size = esz;
	p->run.pte = pte;
	p->run.pa = pa;
	p->run.flags = flags;
	p->run.shared = shared;
	p->run_end = ia + esz;
	p->expect = level ? 0 : run_next(f, pte);
	p->open = 1;
	return 0;
}

/* Leaves lo..hi of a leaf table into runs: the loop a walk of runs spends
 * its time in, one compare per entry while the run goes on. */
static int run_leaves(struct pwalk *p, const uint64_t *tbl, uint64_t base, unsigned lo,
		      unsigned hi)
{
	const struct npt_format *f = p->w.f;
	const uint64_t step = NPT_PAGE_SIZE >> f->addr_shift;
	unsigned i = lo;
	int r;

	if (p->open && (p->run_end != base + ((uint64_t)lo << NPT_PAGE_SHIFT) ||
			p->run.shared != p->w.shared)) {
		r = run_close(p);
		if (r)
			return r;
	}
	while (i <= hi) {
		uint64_t pte = npt_pte_get(&tbl[i]);

		if (pte == p->expect && p->expect) {
			/* as far as it goes without the address field overflowing */
			const uint64_t room = ((f->addr_mask - (pte & f->addr_mask)) / step);
			const unsigned end = room < hi - i ? i + (unsigned)room : hi;
			unsigned j = i + 1;
			uint64_t next = pte + step;

			while (j <= end && npt_pte_get(&tbl[j]) == next) {
				next += step;
				j++;
			}
			p->run.size += (uint64_t)(j - i) << NPT_PAGE_SHIFT;
			p->run_end += (uint64_t)(j - i) << NPT_PAGE_SHIFT;
			p->expect = run_next(f, next - step);
			i = j;
			continue;
		}
		if (!npt_pte_present(f, pte)) {
			r = run_close(p);
			i++;
		} else {
			r = run_add(p, 0, base + ((uint64_t)i << NPT_PAGE_SHIFT), pte, p->w.shared);
			i++;
		}
		if (r)
			return r;
	}
	return 0;
}

static NPT_ALWAYS_INLINE int pwalk_visit(struct npt_walk *w, struct npt_ctx *c, unsigned kind)
{
	struct pwalk *p = (struct pwalk *)(void *)w;
	const uint64_t esz = npt_level_size(c->level);
	struct npt_visit v;
	int r;

	if (kind == NPT_V_LEAF && (p->which & NPT_WALK_RUNS))
		return run_add(p, c->level, c->base, c->old, c->shared);
	if (!(p->which & (kind == NPT_V_LEAF  ? NPT_WALK_LEAF
			  : kind == NPT_V_PRE ? NPT_WALK_TABLE_PRE
					      : NPT_WALK_TABLE_POST)))
		return 0;
	r = run_close(p); /* a run comes before the table visit after it */
	if (r)
		return r;
	v.level = c->level;
	v.va = npt_ia_to_va(w->t, c->base);
	v.size = esz;
	v.pte = c->old;
	v.shared = c->shared;
	if (kind == NPT_V_LEAF) {
		v.kind = NPT_WALK_LEAF;
		v.pa = npt_pte_addr(w->f, c->old) & ~(esz - 1);
		v.flags = pwalk_decode(p, c->level, c->old, esz);
	} else {
		v.kind = kind == NPT_V_PRE ? NPT_WALK_TABLE_PRE : NPT_WALK_TABLE_POST;
		v.pa = npt_pte_addr(w->f, c->old);
		v.flags = 0;
	}
	return p->visit(&v, p->arg);
}

/* A run of a leaf table: the loop a walk of 4 KiB leaves spends its time
 * in, one visitor call per present leaf. */
static int pwalk_leaves(struct npt_walk *w, const struct npt_tref *tr, uint64_t base, unsigned lo,
			unsigned hi)
{
	struct pwalk *p = (struct pwalk *)(void *)w;
	const struct npt_format *f = w->f;
	const uint64_t *tbl = tr->tbl;
	/* pwalk_decode's memo test, inline: the flag bits of a 4 KiB leaf */
	const uint64_t keep = ~(f->addr_mask & ~((NPT_PAGE_SIZE >> f->addr_shift) - 1));
	struct npt_visit v;
	unsigned i;
	int r;

	if (p->which & NPT_WALK_RUNS)
		return run_leaves(p, tbl, base, lo, hi);
	if (!(p->which & NPT_WALK_LEAF))
		return 0;
	v.kind = NPT_WALK_LEAF;
	v.level = 0;
	v.size = NPT_PAGE_SIZE;
	v.shared = w->shared;
	for (i = lo; i <= hi; i++) {
		const uint64_t pte = npt_pte_get(&tbl[i]);

		if (!npt_pte_present(f, pte))
			continue;
		v.va = npt_ia_to_va(w->t, base + ((uint64_t)i << NPT_PAGE_SHIFT));
		v.pte = pte;
		v.pa = npt_pte_addr(f, pte) & ~(NPT_PAGE_SIZE - 1);
		v.flags = p->memo_valid && p->memo_level == 0 && (pte & keep) == p->memo_bits
				  ? p->memo_flags
				  : pwalk_decode(p, 0, pte, NPT_PAGE_SIZE);
		r = p->visit(&v, p->arg);
		if (r)
			return r;
	}
	return 0;
}

static const struct npt_walk_ops pwalk_ops = {
	.which = NPT_V_LEAF | NPT_V_PRE | NPT_V_POST,
	.visit = pwalk_visit,
	.leaves = pwalk_leaves,
};
NPT_WALKER(pwalk_walk, &pwalk_ops)

int npt_walk(const struct npt_table *t, uint64_t va, uint64_t size, unsigned which,
	     int (*visit)(const struct npt_visit *v, void *arg), void *arg)
{
	struct pwalk p;
	int err;

	if (!t || !visit ||
	    (which & ~(NPT_WALK_LEAF | NPT_WALK_TABLE_PRE | NPT_WALK_TABLE_POST | NPT_WALK_RUNS)) ||
	    ((which & NPT_WALK_LEAF) && (which & NPT_WALK_RUNS)))
		return NPT_ERR_INVAL;
	p.w.t = (struct npt_table *)t; /* the visitor writes nothing */
	p.w.f = t->fmt;
	p.w.apply = 0;
	err = npt_check_input(t, va, size, &p.w.first, &p.w.last);
	if (err)
		return err;
	p.which = which;
	p.visit = visit;
	p.arg = arg;
	p.memo_valid = 0;
	p.open = 0;
	p.expect = 0;
	err = npt_walk_root(&p.w, pwalk_walk);
	return err ? err : run_close(&p);
}
