/*
 * The engine's one walker, modelled on Linux's arm64 KVM walker
 * (arch/arm64/kvm/hyp/pgtable.c: __kvm_pgtable_walk / __kvm_pgtable_visit
 * with a writable kvm_pgtable_visit_ctx): every operation of npt -- map,
 * unmap, protect, remap, harvest, the log calls, collapse, free, the public
 * walk -- is a visitor of it, and the cursor steps through the same frames.
 *
 * A walk covers the inclusive input range [first, last]. In each table it
 * visits the entries overlapping that range, in address order:
 *  - a table entry: NPT_V_PRE, then (unless the visitor set skip) the table
 *    below, then NPT_V_POST;
 *  - a leaf: NPT_V_LEAF; an empty entry: NPT_V_EMPTY. The visitor may hand
 *    the walker a table to walk below it (descend + child: a split, or a new
 *    table), then gets NPT_V_POST for the entry (to publish that table).
 * Each visit sees a writable struct npt_ctx: the entry's slot and its value
 * as read, its level and covered range, whether the range covers it whole.
 *
 * Two actions let an operation do a table's worth of work at once, so that
 * the hot loops stay loops (runs.c):
 *  - leaves: the run [lo, hi] of a level-0 table, instead of one visit per
 *    entry;
 *  - empty: the empty entries of a table above level 0, all of them in a
 *    new table or a virtual one the plan pass walks: the action may claim
 *    a run of entries the range covers whole ([*done_lo, *done_hi]), which
 *    it has checked are empty where the table is live; the others are
 *    visited as usual.
 *
 * Tables a walk reads are real (in memory), fresh (allocated for this call:
 * the entries in range count as empty without being read, the others are
 * zeroed here) or virtual: tables a plan pass walks that do not exist yet,
 * their entries computed (all empty, or the split of a huge leaf).
 *
 * npt_walk_table() is the walker. It is always inlined into a small
 * recursive function per operation ("NPT_WALKER(name, ops)"), with ops a
 * constant, so that each visitor is inlined into its own copy of the loop:
 * one walker in the source, no indirect call per entry at run time.
 */
#ifndef NPT_WALK_H
#define NPT_WALK_H

#include "internal.h"

#if defined(__GNUC__)
#define NPT_ALWAYS_INLINE inline __attribute__((always_inline))
#define NPT_NOINLINE __attribute__((noinline))
#else
#define NPT_ALWAYS_INLINE inline
#define NPT_NOINLINE
#endif

enum {
	NPT_V_LEAF = 0x1u,
	NPT_V_PRE = 0x2u,
	NPT_V_POST = 0x4u,
	NPT_V_EMPTY = 0x8u,
};

/* A table the walker walks. */
struct npt_vtable {
	uint64_t tmpl; /* split: leaf bits of every entry */
	uint64_t pa;   /* split: output address of entry 0 */
	int split;     /* 0: every entry empty; 1: a huge leaf split one level down */
};
/* Two pointers, so that it travels in two registers: a larger struct is
 * passed in memory, copied there with a 16-byte load of what 8-byte stores
 * just wrote -- a store-forwarding stall on every descent. */
struct npt_tref {
	uint64_t *tbl;               /* NULL: virtual */
	const struct npt_vtable *vt; /* virtual: what its entries are; real: NULL, or
					&npt_vt_fresh for a table new to this call
					(entries in range empty, unread) */
};
extern const struct npt_vtable npt_vt_fresh;
static inline int npt_tref_fresh(const struct npt_tref *tr)
{
	return tr->vt == &npt_vt_fresh;
}

/* The entry being visited. Fields marked (w) are the visitor's to set. */
struct npt_ctx {
	uint64_t *slot;    /* NULL inside a virtual table */
	uint64_t old;      /* the entry as read */
	uint64_t base;     /* first input address (reduced to va_bits) it covers */
	unsigned level, idx;
	int full;          /* [base, base + size) lies inside [first, last] */
	int shared;        /* at or under a root entry shared by npt_copy_from */
	int skip;          /* (w) NPT_V_PRE: do not walk the table below, no NPT_V_POST */
	int descend;       /* (w) walk child below this entry, then visit NPT_V_POST */
	struct npt_tref child; /* (w) with descend */
	uint64_t child_pa; /* (w) the visitor's own note of child's address */
};

struct npt_walk;
struct npt_walk_ops {
	unsigned which; /* NPT_V_* visits wanted */
	int (*visit)(struct npt_walk *w, struct npt_ctx *c, unsigned kind);
	/* optional: a run of a level-0 table */
	int (*leaves)(struct npt_walk *w, const struct npt_tref *tr, uint64_t base, unsigned lo,
		      unsigned hi);
	/* optional: a table above level 0 (every entry empty where
	 * npt_tref_empty) with entries flo..fhi covered whole by the range;
	 * claims [*done_lo, *done_hi] of them (*done_lo > *done_hi: nothing) */
	int (*empty)(struct npt_walk *w, unsigned level, const struct npt_tref *tr, uint64_t base,
		     unsigned flo, unsigned fhi, unsigned *done_lo, unsigned *done_hi);
};

/* A walk in progress; operations embed it first in their own state. */
struct npt_walk {
	struct npt_table *t;
	const struct npt_format *f;
	uint64_t first, last; /* inclusive input range */
	int apply;            /* range operations: 0 plan, 1 apply */
	int shared;           /* set for a leaves action: the table is under a shared root entry */
};

typedef int npt_walk_fn(struct npt_walk *w, unsigned level, struct npt_tref tr, uint64_t base,
			int shared);

static inline struct npt_tref npt_tref_real(uint64_t *tbl)
{
	return (struct npt_tref){ tbl, NULL };
}

static inline int npt_tref_empty(const struct npt_tref *tr)
{
	return npt_tref_fresh(tr) || (!tr->tbl && !tr->vt->split);
}

/* Entry i of a table at level, as the walker sees it. */
static NPT_ALWAYS_INLINE uint64_t npt_tref_get(const struct npt_walk *w, const struct npt_tref *tr,
					       unsigned level, unsigned i)
{
	if (npt_tref_fresh(tr))
		return 0;
	if (tr->tbl)
		return npt_pte_get(&tr->tbl[i]);
	if (!tr->vt->split)
		return 0;
	return tr->vt->tmpl | npt_addr_bits(w->f, tr->vt->pa + (uint64_t)i * npt_level_size(level));
}

/* The table a present table entry points to. */
static inline uint64_t *npt_next_table(const struct npt_table *t, uint64_t pte)
{
	return npt_virt(t, npt_pte_addr(t->fmt, pte));
}

/* One entry: the visits of __kvm_pgtable_visit. kind: NPT_V_EMPTY,
 * NPT_V_LEAF, or NPT_V_PRE for a table entry. */
static NPT_ALWAYS_INLINE int npt_visit_entry(struct npt_walk *w, const struct npt_walk_ops *ops,
					     struct npt_ctx *c, unsigned kind, npt_walk_fn *self)
{
	int r;

	if (kind != NPT_V_PRE) {
		r = ops->visit(w, c, kind);
	} else {
		if (ops->which & NPT_V_PRE) {
			r = ops->visit(w, c, NPT_V_PRE);
			if (r || c->skip)
				return r;
		}
		if (!c->descend)
			c->child = npt_tref_real(npt_next_table(w->t, c->old));
		r = self(w, c->level - 1, c->child, c->base, c->shared);
		if (r || !(ops->which & NPT_V_POST))
			return r;
		return ops->visit(w, c, NPT_V_POST);
	}
	if (r || !c->descend)
		return r;
	r = self(w, c->level - 1, c->child, c->base, c->shared);
	return r ? r : ops->visit(w, c, NPT_V_POST);
}

/* The entries lo..hi of one table; real: tr is a table in memory, read as
 * it is (a constant, so that each case gets its own loop). */
static NPT_ALWAYS_INLINE int npt_walk_entries(struct npt_walk *w, const struct npt_walk_ops *ops,
					      unsigned level, const struct npt_tref *tr,
					      uint64_t base, int shared, unsigned lo, unsigned hi,
					      int lo_full, int hi_full, unsigned dlo, unsigned dhi,
					      int real, npt_walk_fn *self)
{
	struct npt_table *t = w->t;
	const uint64_t esz = npt_level_size(level);
	const int root = level == npt_root_level(t);
	uint64_t ebase = base + (uint64_t)lo * esz;
	unsigned i, kind;
	int r;

	if (dlo > dhi)
		dlo = NPT_ROOT_MAX_ENTRIES; /* nothing claimed: no i is dlo */
	for (i = lo; i <= hi; i++, ebase += esz) {
		struct npt_ctx c;

		if (ops->empty && i == dlo) { /* only an empty action claims */
			ebase += (uint64_t)(dhi - i) * esz;
			i = dhi;
			continue;
		}
		c.old = real ? npt_pte_get(&tr->tbl[i]) : npt_tref_get(w, tr, level, i);
		/* the entries no visit wants cost one test */
		if (!npt_pte_present(w->f, c.old)) {
			if (!(ops->which & NPT_V_EMPTY))
				continue;
			kind = NPT_V_EMPTY;
			c.shared = shared; /* only present entries are shared */
		} else {
			kind = npt_pte_leaf(w->f, level, c.old) ? NPT_V_LEAF : NPT_V_PRE;
			if (kind == NPT_V_LEAF && !(ops->which & NPT_V_LEAF))
				continue;
			c.shared = shared || (root && npt_is_shared(t, level, i));
		}
		c.slot = tr->tbl ? &tr->tbl[i] : NULL;
		c.base = ebase;
		c.level = level;
		c.idx = i;
		c.full = (i != lo || lo_full) && (i != hi || hi_full);
		c.skip = 0;
		c.descend = 0;
		r = npt_visit_entry(w, ops, &c, kind, self);
		if (r)
			return r;
	}
	return 0;
}

/* The walker: the table tr at level, whose first input address is base. */
static NPT_ALWAYS_INLINE int npt_walk_table(struct npt_walk *w, const struct npt_walk_ops *ops,
					    unsigned level, struct npt_tref tr, uint64_t base,
					    int shared, npt_walk_fn *self)
{
	const uint64_t esz = npt_level_size(level);
	unsigned lo, hi, dlo = NPT_ROOT_MAX_ENTRIES, dhi = 0;
	int lo_full, hi_full, r;

	npt_slice(w->t, level, base, w->first, w->last, &lo, &hi);
	/* Only the first and the last entry can stick out of the range: the
	 * two tests once, not one pair per entry. */
	lo_full = w->first <= base + (uint64_t)lo * esz;
	hi_full = base + (uint64_t)hi * esz + (esz - 1) <= w->last;
	if (npt_tref_fresh(&tr)) {
		/* entries out of range: zeroed; in range: the walk writes them */
		npt_memset(tr.tbl, 0, lo * sizeof(uint64_t));
		npt_memset(&tr.tbl[hi + 1], 0, (NPT_ENTRIES - hi - 1) * sizeof(uint64_t));
	}
	if (level == 0 && ops->leaves) {
		w->shared = shared;
		return ops->leaves(w, &tr, base, lo, hi);
	}
	if (ops->empty && lo + !lo_full + !hi_full <= hi) { /* an entry covered whole */
		r = ops->empty(w, level, &tr, base, lo + !lo_full, hi - !hi_full, &dlo, &dhi);
		if (r || (dlo == lo && dhi == hi))
			return r; /* an error, or every entry claimed */
	}
	if (tr.tbl && !npt_tref_fresh(&tr))
		return npt_walk_entries(w, ops, level, &tr, base, shared, lo, hi, lo_full, hi_full,
					dlo, dhi, 1, self);
	return npt_walk_entries(w, ops, level, &tr, base, shared, lo, hi, lo_full, hi_full, dlo,
				dhi, 0, self);
}

/* The recursive function that instantiates the walker for one set of ops. */
#define NPT_WALKER(name, ops)                                                              \
	static int name(struct npt_walk *w, unsigned level, struct npt_tref tr, uint64_t base, \
			int shared)                                                        \
	{                                                                                  \
		return npt_walk_table(w, (ops), level, tr, base, shared, name);            \
	}

/* A whole walk from the root over [w->first, w->last]. */
static inline int npt_walk_root(struct npt_walk *w, npt_walk_fn *fn)
{
	return fn(w, npt_root_level(w->t), npt_tref_real(w->t->root), 0, 0);
}

/* ---- one address: the step-down of a walk along one path ------------------
 * The slot of the entry that translates ia: the leaf, or the empty entry
 * where the path ends; its level and value. Every read is an acquire load,
 * safe beside a concurrent writer. */
struct npt_seek {
	uint64_t *slot;
	uint64_t pte;
	unsigned level;
	unsigned root_idx;
	uint64_t *parent; /* the slot of the table entry above (NULL at the root) */
};
void npt_seek_general(const struct npt_table *t, uint64_t ia, unsigned stop, struct npt_seek *s);
/* The same, stopping at level stop (the entry there may be a table): the
 * table's compiled shape (query_fast.c) where it has one. */
static inline void npt_seek_level(const struct npt_table *t, uint64_t ia, unsigned stop,
				  struct npt_seek *s)
{
	if (t->q.seek)
		t->q.seek(t, ia, stop, s);
	else
		npt_seek_general(t, ia, stop, s);
}
static inline void npt_seek(const struct npt_table *t, uint64_t ia, struct npt_seek *s)
{
	npt_seek_level(t, ia, 0, s);
}

/* The struct npt_visit of the entry c (kind and flags of a leaf left to the
 * caller), for npt_walk and the cursor. */
static inline void npt_fill_visit(const struct npt_table *t, const struct npt_ctx *c,
				  struct npt_visit *v)
{
	const struct npt_format *f = t->fmt;
	const uint64_t esz = npt_level_size(c->level);

	v->level = c->level;
	v->va = npt_ia_to_va(t, c->base);
	v->size = esz;
	v->pte = c->old;
	v->shared = c->shared;
	if (npt_pte_leaf(f, c->level, c->old)) {
		v->kind = NPT_WALK_LEAF;
		v->pa = npt_pte_addr(f, c->old) & ~(esz - 1);
	} else {
		v->pa = npt_pte_addr(f, c->old);
		v->flags = 0;
	}
}

/* ---- the cursor's stepping ------------------------------------------------
 * The same frames, held explicitly (tdp_iter's step down / side / up), for
 * walks that must stop between visits. */
struct npt_frame {
	const uint64_t *tbl;
	uint64_t base;   /* input address of entry 0 */
	unsigned i, hi;  /* next entry, last one in range */
	unsigned level;
	int shared;
};
static inline void npt_frame_down(struct npt_frame *fr, const struct npt_table *t,
				  unsigned level, const uint64_t *tbl, uint64_t base, int shared,
				  uint64_t first, uint64_t last)
{
	fr->tbl = tbl;
	fr->base = base;
	fr->level = level;
	fr->shared = shared;
	npt_slice(t, level, base, first, last, &fr->i, &fr->hi);
}

#endif
