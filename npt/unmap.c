/*
 * npt_unmap_region and npt_unmap: the unmap visitor of the walker (op.h).
 *
 *  - every page of the range must be mapped (else NPT_ERR_NOT_MAPPED, in
 *    the plan, nothing changed); a level-1 entry with full_bit proves its
 *    leaf table mapped without reading it. npt_unmap_sparse skips holes
 *    instead, and clears (and flushes) only the entries that are there;
 *  - a leaf the range covers whole is cleared, a huge one it covers in part
 *    is split one level down and the walk goes on in the split;
 *  - a table the range covers whole is unpublished and freed with its
 *    subtree (leaf tables unread); a table left empty is freed too, but for
 *    one another table shares (share.c), which stays;
 *  - a whole shared root entry is dropped (npt_unmap_region only).
 */
#include "op.h"
#include "runs.h"

/* A root entry shared from another table: only a whole one may be dropped,
 * and only by npt_unmap_region. */
static int drop_share(struct npt_op *o, struct npt_ctx *c)
{
	struct npt_table *t = o->w.t;

	if (!o->drop_shares || !c->full)
		return NPT_ERR_SHARED;
	c->skip = 1;
	if (o->w.apply) {
		npt_pte_set(c->slot, 0);
		t->shared[c->idx / 64] &= ~(1ull << (c->idx % 64));
		npt_op_note(o, c->base, c->base + (npt_level_size(c->level) - 1), c->level,
			    npt_pte_leaf(o->w.f, c->level, c->old) ? 0 : NPT_FLUSH_TABLE);
	}
	return 0;
}

/* Takes the table entry c visits out (walk caches may hold it: a table run)
 * and frees the table below, whole (subtree) or emptied (frame). */
static void remove_table(struct npt_op *o, struct npt_ctx *c, int subtree)
{
	const uint64_t cpa = npt_pte_addr(o->w.f, c->old);

	npt_pte_publish(c->slot, 0);
	if (subtree)
		npt_free_subtree(o->w.t, c->level - 1, cpa);
	else
		npt_frame_free(o->w.t, cpa);
	npt_op_note(o, c->base, c->base + (npt_level_size(c->level) - 1), c->level,
		    NPT_FLUSH_TABLE);
}

static NPT_ALWAYS_INLINE int unmap_visit(struct npt_walk *w, struct npt_ctx *c, unsigned kind)
{
	struct npt_op *o = npt_op_of(w);
	const int keep = npt_is_exported(w->t, c->level, c->idx);

	switch (kind) {
	case NPT_V_EMPTY:
		return o->sparse ? 0 : NPT_ERR_NOT_MAPPED;
	case NPT_V_LEAF:
		if (c->shared)
			return drop_share(o, c);
		if (!c->full)
			return npt_op_new_child(o, c, 1);
		if (w->apply) {
			npt_pte_set(c->slot, 0);
			npt_op_note(o, c->base, c->base + (npt_level_size(c->level) - 1), c->level, 0);
		}
		return 0;
	case NPT_V_PRE:
		if (c->shared)
			return drop_share(o, c);
		if (!w->apply && c->level == 1 && (c->old & w->f->full_bit)) {
			c->skip = 1; /* every leaf below is present */
			return 0;
		}
		if (w->apply && c->full && !keep) {
			remove_table(o, c, 1);
			c->skip = 1;
		}
		return 0;
	default: /* NPT_V_POST */
		if (!w->apply)
			return 0;
		if (c->descend)
			npt_op_publish(o, c);
		else if (c->level == 1 ? !npt_leaf_settle(w->t, c->slot, npt_next_table(w->t, c->old),
							  npt_pte_addr(w->f, c->old), 0) && !keep
				       : !keep && npt_table_empty(w->f, npt_next_table(w->t, c->old)))
			remove_table(o, c, 0);
		return 0;
	}
}

/* A run of a leaf table: all present in the plan (a split one is), cleared
 * in the apply pass, entry by entry with whole stores. */
static int unmap_leaves(struct npt_walk *w, const struct npt_tref *tr, uint64_t base, unsigned lo,
			unsigned hi)
{
	struct npt_op *o = npt_op_of(w);

	if (!w->apply) {
		if (!tr->tbl)
			return tr->vt->split || o->sparse ? 0 : NPT_ERR_NOT_MAPPED;
		return o->sparse || npt_run_all_present(w->f, tr->tbl, lo, hi) ? 0
									      : NPT_ERR_NOT_MAPPED;
	}
	if (o->sparse && !npt_run_all_present(w->f, tr->tbl, lo, hi)) {
		/* only what is there changes, and only that is flushed */
		return npt_op_present_runs(w, tr, base, lo, hi, unmap_leaves);
	}
	npt_run_clear(tr->tbl, lo, hi);
	npt_op_note(o, base + ((uint64_t)lo << NPT_PAGE_SHIFT),
		    base + ((uint64_t)hi << NPT_PAGE_SHIFT) + NPT_PAGE_SIZE - 1, 0, 0);
	return 0;
}

static const struct npt_walk_ops unmap_ops = {
	.which = NPT_V_EMPTY | NPT_V_LEAF | NPT_V_PRE | NPT_V_POST,
	.visit = unmap_visit,
	.leaves = unmap_leaves,
};
NPT_WALKER(unmap_walk, &unmap_ops)

static int unmap_range(struct npt_table *t, uint64_t va, uint64_t size, int sparse)
{
	struct npt_op o;
	int err;

	if (!t)
		return NPT_ERR_INVAL;
	npt_op_init(&o, t, NPT_OP_UNMAP);
	o.drop_shares = 1;
	o.sparse = sparse;
	err = npt_check_input(t, va, size, &o.w.first, &o.w.last);
	return err ? err : npt_op_run(&o, unmap_walk);
}

int npt_unmap_region(struct npt_table *t, uint64_t va, uint64_t size)
{
	return npt_done(t, unmap_range(t, va, size, 0));
}

int npt_unmap_sparse(struct npt_table *t, uint64_t va, uint64_t size)
{
	return npt_done(t, unmap_range(t, va, size, 1));
}

/* npt_unmap's shortcut (op.h): a 4 KiB leaf whose table keeps other
 * entries (emptying one goes the whole way, which frees it and what empties
 * above). NPT_OP_TELL when done. kept: the common case of npt_unmap, which
 * takes only the frame word the table keeps (no call). */
static NPT_ALWAYS_INLINE int unmap_one(struct npt_table *t, const struct npt_seek *s, uint64_t ia,
				       int kept)
{
	const struct npt_format *f = t->fmt;
	const unsigned i = (unsigned)(ia >> NPT_PAGE_SHIFT) & (NPT_ENTRIES - 1);
	uint64_t *tbl = s->slot - i, table_pa;
	uint32_t *word;
	struct npt_counts n;
	unsigned k;

	if (s->level != 0 || npt_is_shared(t, npt_root_level(t), s->root_idx))
		return NPT_OP_SLOW;
	table_pa = npt_pte_addr(f, *s->parent);
	word = kept ? npt_leaf_word_kept(t, table_pa) : npt_leaf_word(t, table_pa);
	if (word) {
		npt_counts_get(word, &n);
		if (n.present == 1)
			return NPT_OP_SLOW;
		n.present--;
		n.good -= (unsigned)npt_leaf_good_at(f, tbl, i, s->pte & f->addr_mask);
	} else if (kept) {
		return NPT_OP_SLOW;
	} else {
		for (k = 0; k < NPT_ENTRIES && (k == i || !npt_pte_present(f, tbl[k])); k++)
			;
		if (k == NPT_ENTRIES)
			return NPT_OP_SLOW;
	}
	npt_pte_set(s->slot, 0);
	if (word)
		npt_counts_put(word, &n);
	if (*s->parent & f->full_bit)
		__atomic_fetch_and(s->parent, ~f->full_bit, __ATOMIC_RELAXED);
	npt_flush_single_record(t, ia, ia + NPT_PAGE_SIZE - 1, 0, 0);
	return NPT_OP_TELL;
}

/* The whole way for what the shortcut leaves. */
static NPT_NOINLINE int unmap_slow(struct npt_table *t, uint64_t first, uint64_t last)
{
	struct npt_op o;

	npt_op_init_one(&o, t, NPT_OP_UNMAP, first, last);
	return npt_op_run(&o, unmap_walk);
}

/* npt_unmap beyond its common case below: every check and error. */
static NPT_NOINLINE int unmap_other(struct npt_table *t, uint64_t va, uint64_t *pa,
				    uint64_t *page_size)
{
	struct npt_seek s;
	uint64_t first, last;
	int err;

	if (!t)
		return NPT_ERR_INVAL;
	err = npt_one_leaf(t, va, &s, &first, &last);
	if (!err) {
		err = unmap_one(t, &s, first, 0);
		if (err == NPT_OP_SLOW)
			err = unmap_slow(t, first, last);
		else
			err = npt_op_told(t);
	}
	if (err)
		return npt_done(t, err);
	if (pa)
		*pa = npt_seek_leaf_pa(t->fmt, &s);
	if (page_size)
		*page_size = npt_level_size(s.level);
	return 0;
}

/* The common case -- a table with a shape (shape.h), unmap_one's case with
 * the frame word the table keeps -- makes no call but tail calls, so that
 * nothing lives across a call; anything else is unmap_other's, which
 * decides it from the start. */
int npt_unmap(struct npt_table *t, uint64_t va, uint64_t *pa, uint64_t *page_size)
{
	struct npt_seek s;
	uint64_t first, last;

	if (!t || !t->q.shape || npt_one_leaf_shaped(t, va, &s, &first, &last) ||
	    unmap_one(t, &s, first, 1) != NPT_OP_TELL)
		return unmap_other(t, va, pa, page_size);
	if (pa)
		*pa = npt_pte_addr(t->fmt, s.pte);
	if (page_size)
		*page_size = NPT_PAGE_SIZE;
	return npt_op_told(t);
}
