/*
 * Changing operations: the state every range operation's visitor keeps, and
 * the steps they share (op.c).
 *
 * Each operation is one visitor of the walker (walk.h) run twice, the way
 * Hafnium's mm.c prepares and then commits:
 *  1. plan:  checks every entry the call would touch and counts the frames it
 *            needs, writing nothing. Tables that do not exist yet (a new
 *            subtree, or the table a huge leaf splits into) are walked as
 *            virtual tables whose entries are computed, not read.
 *  2. apply: after those frames are allocated up front, performs the change;
 *            it cannot fail (NPT_CHECK keeps that promise in every build).
 * So a call either returns an error with the table and the allocator exactly
 * as they were, or succeeds completely (KVM's arm64 stage-2 code tops up a
 * memcache before a walk for the same reason). New subtrees are built
 * completely before the store that publishes them, so a concurrent reader
 * never sees a half-built table.
 */
#ifndef NPT_OP_H
#define NPT_OP_H

#include "walk.h"

enum npt_op_kind { NPT_OP_MAP, NPT_OP_UNMAP, NPT_OP_PROTECT, NPT_OP_REMAP, NPT_OP_LOG };

struct npt_op {
	struct npt_walk w;         /* first: a visitor's w is its op */
	enum npt_op_kind kind;
	uint64_t pa;               /* MAP / REMAP: output address of w.first */
	unsigned leaf_levels;      /* MAP: levels where new leaves may go */
	uint64_t tmpl[NPT_MAX_LEVELS]; /* leaf bits (no address) per leaf level */
	uint64_t need;             /* plan: frames the apply pass takes */
	struct npt_prealloc cache; /* apply: those frames */
	int changed;               /* apply: a present entry changed */
	int building;              /* apply: inside a table not published yet */
	int drop_shares;           /* UNMAP: a whole shared root entry is dropped, not refused */
	const uint64_t *next_leaves; /* PROTECT: the range's next leaf table, to prefetch */
	int leaf_run;              /* PROTECT: the leaf table in hand is one full run */
	int log_eager, log_mark;   /* LOG: split everything to 4 KiB; mark writable leaves */
	int flush_open;            /* the caller notes more and ends the flush record itself */
	uint64_t flush_first, flush_last;
	struct npt_vtable vt[NPT_MAX_LEVELS]; /* plan: virtual tables, by level */
};

static inline struct npt_op *npt_op_of(struct npt_walk *w)
{
	return (struct npt_op *)(void *)w;
}

/* Every field a call reads before it writes it (tmpl and vt are written on
 * use): no memset of the whole state on the single-page paths. */
static inline void npt_op_init(struct npt_op *o, struct npt_table *t, enum npt_op_kind kind)
{
	o->w.t = t;
	o->w.f = t ? t->fmt : NULL;
	o->w.apply = 0;
	o->kind = kind;
	o->pa = 0;
	o->leaf_levels = 0;
	o->drop_shares = 0;
	o->next_leaves = NULL;
	o->leaf_run = 0;
	o->log_eager = 0;
	o->log_mark = 0;
	o->flush_open = 0;
}

/* Plan, allocate, apply: the whole call. */
int npt_op_run(struct npt_op *o, npt_walk_fn *fn);
/* Leaf bits for every level in levels (NPT_ERR_FLAGS if flags don't encode). */
int npt_op_flags(struct npt_op *o, unsigned flags, unsigned levels);
/* The split template: leaf bits of the children of the huge leaf pte at
 * level (its flags re-encoded one level down, the state hardware and npt
 * keep in leaves carried over: accessed/dirty, DBM and write permission,
 * the log mark). */
int npt_split_template(const struct npt_format *f, unsigned level, uint64_t pte, uint64_t *tmpl);
/* Hardware state that changed in a split leaf while it was replaced, into
 * the new leaves (npt_op_publish). */
void npt_op_fixup(struct npt_op *o, const struct npt_ctx *c, uint64_t final, uint64_t hw);

/* The helpers below are inline: the visitors call them with the visit
 * context, which then need not live in memory on the common paths. */

/* Entries at level changed over [first, last] (NPT_FLUSH_TABLE when a table
 * entry did): noted unless inside a table no walker has seen yet. */
static inline void npt_op_note(struct npt_op *o, uint64_t first, uint64_t last, unsigned level,
			       unsigned flags)
{
	if (o->building)
		return;
	npt_flush_note(o->w.t, first, last, level, flags);
	if (!o->changed || first < o->flush_first)
		o->flush_first = first;
	if (!o->changed || last > o->flush_last)
		o->flush_last = last;
	o->changed = 1;
}

/* The entry c visits gets a new table below it: empty or the split of its
 * huge leaf c->old. Plan: counted and walked virtually; apply: taken from
 * the cache, filled, walked; published at NPT_V_POST by npt_op_publish. */
static inline int npt_op_new_child(struct npt_op *o, struct npt_ctx *c, int split)
{
	const struct npt_format *f = o->w.f;
	const unsigned cl = c->level - 1;
	struct npt_vtable v = { 0, 0, split };
	uint64_t *tbl;
	unsigned i;

	if (split) {
		int err = npt_split_template(f, c->level, c->old, &v.tmpl);

		if (err)
			return err;
		v.pa = npt_pte_addr(f, c->old) & ~(npt_level_size(c->level) - 1);
	}
	c->descend = 1;
	if (!o->w.apply) {
		o->need++;
		/* an empty leaf table cannot conflict with anything */
		if (cl == 0 && !split && o->kind == NPT_OP_MAP) {
			c->descend = 0;
			return 0;
		}
		o->vt[cl] = v;
		c->child = (struct npt_tref){ NULL, &o->vt[cl], 0 };
		return 0;
	}
	c->child_pa = npt_prealloc_take(o->w.t, &o->cache);
	tbl = npt_virt(o->w.t, c->child_pa);
	if (split)
		for (i = 0; i < NPT_ENTRIES; i++)
			tbl[i] = v.tmpl | npt_addr_bits(f, v.pa + (uint64_t)i * npt_level_size(cl));
	c->child = (struct npt_tref){ tbl, NULL, !split };
	o->building++;
	return 0;
}

static inline void npt_op_publish(struct npt_op *o, struct npt_ctx *c)
{
	const struct npt_format *f = o->w.f;
	const int split = !c->child.fresh;
	uint64_t entry, final, hw;

	o->building--;
	/* A split leaves holes only where it unmaps; a new table is a full run
	 * where the map covers all of it. */
	entry = npt_table_pte(f, c->child_pa, c->level, split ? o->kind != NPT_OP_UNMAP : c->full);
	if (!split || o->building) {
		npt_pte_publish(c->slot, entry);
		return;
	}
	/* A huge leaf becomes a table: a block-size change, with
	 * break-before-make where the format needs it. */
	final = npt_entry_replace(o->w.t, c->slot, c->old, entry, c->level, c->base);
	hw = f->accessed_bit | f->dirty_bit;
	if (c->old & f->dbm_bit)
		hw |= f->w_set | f->w_clear;
	if (o->kind == NPT_OP_LOG && ((final ^ c->old) & hw))
		npt_op_fixup(o, c, final, hw);
}

/* Keeps the level-1 entry c visits right about full_bit after its leaf
 * table changed. */
void npt_op_full_hint(struct npt_op *o, struct npt_ctx *c);
/* The leaf that maps one page at va, which must be its first page: the
 * range of o becomes exactly that leaf; its level and output address. */
int npt_op_single_leaf(struct npt_op *o, uint64_t va, unsigned *level, uint64_t *leaf_pa);

#endif
