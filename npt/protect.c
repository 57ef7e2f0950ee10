/*
 * npt_protect_region, npt_protect and npt_remap: the protect and remap
 * visitors of the walker (op.h).
 *
 * protect: every page of the range must be mapped (npt_protect_sparse skips
 * holes and writes only the entries that are there); each leaf takes the new
 * flags re-encoded for its level (a huge leaf the range covers in part is
 * split first), written only where it changes; a level-1 entry with
 * full_bit proves its leaf table mapped, and a whole such table is written
 * from entry 0 without being read (runs.c). Changes that need
 * break-before-make (Arm: a new memory type) get it.
 *
 * remap: one whole leaf (npt_one_leaf) gets a new output address and
 * flags, through break-before-make where the format needs it.
 */
#include "op.h"
#include "runs.h"

/* The leaf table the next entry of a level-1 table points to, if the range
 * goes on into it: prefetched while this one is rewritten. */
static const uint64_t *next_leaf_table(const struct npt_walk *w, const struct npt_ctx *c)
{
	uint64_t pte;

	if (c->idx + 1 >= NPT_ENTRIES || c->base + npt_level_size(1) > w->last)
		return NULL;
	pte = c->slot[1];
	if (!npt_pte_present(w->f, pte) || npt_pte_leaf(w->f, 1, pte))
		return NULL;
	return npt_next_table(w->t, pte);
}

/* A leaf the range covers whole gets npte: in a table being built a plain
 * store, else a replacement (with break-before-make where needed). */
static void leaf_set(struct npt_op *o, struct npt_ctx *c, uint64_t npte)
{
	if (o->building)
		npt_pte_set(c->slot, npte);
	else
		npt_entry_replace(o->w.t, c->slot, c->old, npte, c->level, c->base);
}

static NPT_ALWAYS_INLINE int protect_visit(struct npt_walk *w, struct npt_ctx *c, unsigned kind)
{
	struct npt_op *o = npt_op_of(w);
	const struct npt_format *f = w->f;
	uint64_t npte;

	switch (kind) {
	case NPT_V_EMPTY:
		return o->sparse ? 0 : NPT_ERR_NOT_MAPPED;
	case NPT_V_LEAF:
		if (c->shared)
			return NPT_ERR_SHARED;
		npte = o->tmpl[c->level] |
		       npt_addr_bits(f, npt_pte_addr(f, c->old) & ~(npt_level_size(c->level) - 1));
		if (npte == c->old)
			return 0; /* no change, and no split needed */
		if (!c->full)
			return npt_op_new_child(o, c, 1);
		if (w->apply)
			leaf_set(o, c, npte);
		return 0;
	case NPT_V_PRE:
		if (c->shared)
			return NPT_ERR_SHARED;
		if (!w->apply && c->level == 1 && (c->old & f->full_bit))
			c->skip = 1; /* every leaf below is present */
		else if (w->apply && c->level == 1) {
			o->next_leaves = next_leaf_table(w, c);
			o->leaf_run = (c->old & f->full_bit) != 0;
		}
		return 0;
	default: /* NPT_V_POST */
		if (w->apply && c->descend)
			npt_op_publish(o, c);
		o->next_leaves = NULL;
		o->leaf_run = 0;
		return 0;
	}
}

/* On a format that needs break-before-make for some changes (Arm: a new
 * memory type): entry by entry, each change that needs it broken and made
 * again, the others written in place. */
static void protect_bbm(struct npt_op *o, uint64_t *tbl, uint64_t base, unsigned lo, unsigned hi)
{
	const uint64_t amask = o->w.f->addr_mask;
	unsigned i;

	for (i = lo; i <= hi; i++) {
		uint64_t pte = tbl[i], npte = o->tmpl[0] | (pte & amask);

		if (npte != pte)
			npt_entry_replace(o->w.t, &tbl[i], pte, npte, 0,
					  base + ((uint64_t)i << NPT_PAGE_SHIFT));
	}
}

static int protect_leaves(struct npt_walk *w, const struct npt_tref *tr, uint64_t base,
			  unsigned lo, unsigned hi)
{
	struct npt_op *o = npt_op_of(w);
	const struct npt_format *f = w->f;
	const uint64_t amask = f->addr_mask;
	uint64_t *tbl = tr->tbl;
	int changed;

	if (!w->apply) {
		if (!tbl)
			return tr->vt->split || o->sparse ? 0 : NPT_ERR_NOT_MAPPED;
		return o->sparse || npt_run_all_present(f, tbl, lo, hi) ? 0 : NPT_ERR_NOT_MAPPED;
	}
	if (o->sparse && !npt_run_all_present(f, tbl, lo, hi)) {
		/* the kernels below rewrite every entry: holes stay holes */
		return npt_op_present_runs(w, tr, base, lo, hi, protect_leaves);
	}
	if (f->bbm && w->t->bbm_hook && !o->building) {
		protect_bbm(o, tbl, base, lo, hi);
		return 0;
	}
	if (o->leaf_run && lo == 0 && hi == NPT_ENTRIES - 1 && !(o->tmpl[0] & amask) &&
	    ((tbl[0] ^ o->tmpl[0]) & ~amask)) {
		/* The whole of a full run whose entry 0 changes: every entry
		 * follows from entry 0, no need to read them (the flush run may
		 * then include entries rewritten as they were, in a table whose
		 * leaves were not all alike). */
		npt_run_protect_seq(tbl, o->tmpl[0], tbl[0] & amask, NPT_PAGE_SIZE >> f->addr_shift,
				    o->next_leaves);
		changed = 1;
	} else {
		changed = npt_run_protect(tbl, lo, hi, o->tmpl[0], amask, o->next_leaves);
	}
	if (changed)
		npt_op_note(o, base + ((uint64_t)lo << NPT_PAGE_SHIFT),
			    base + ((uint64_t)hi << NPT_PAGE_SHIFT) + NPT_PAGE_SIZE - 1, 0, 0);
	return 0;
}

static const struct npt_walk_ops protect_ops = {
	.which = NPT_V_EMPTY | NPT_V_LEAF | NPT_V_PRE | NPT_V_POST,
	.visit = protect_visit,
	.leaves = protect_leaves,
};
NPT_WALKER(protect_walk, &protect_ops)

static int protect_range(struct npt_table *t, uint64_t va, uint64_t size, unsigned flags,
			 int sparse)
{
	struct npt_op o;
	int err;

	if (!t)
		return NPT_ERR_INVAL;
	npt_op_init(&o, t, NPT_OP_PROTECT);
	o.sparse = sparse;
	err = npt_check_input(t, va, size, &o.w.first, &o.w.last);
	if (!err)
		err = npt_op_flags(&o, flags, t->fmt->leaf_levels);
	return err ? err : npt_op_run(&o, protect_walk);
}

int npt_protect_region(struct npt_table *t, uint64_t va, uint64_t size, unsigned flags)
{
	return npt_done(t, protect_range(t, va, size, flags, 0));
}

int npt_protect_sparse(struct npt_table *t, uint64_t va, uint64_t size, unsigned flags)
{
	return npt_done(t, protect_range(t, va, size, flags, 1));
}

/* leaf_one's kept case applies: nothing shared, no break-before-make hook,
 * and for a remap in a leaf table the frame word the table keeps. */
static NPT_ALWAYS_INLINE int leaf_kept(const struct npt_table *t, const struct npt_seek *s,
				       int remap)
{
	return !npt_is_shared(t, npt_root_level(t), s->root_idx) && !(t->fmt->bbm && t->bbm_hook) &&
	       (!remap || s->level != 0 || npt_leaf_word_kept(t, npt_pte_addr(t->fmt, *s->parent)));
}

/* npt_protect's and npt_remap's shortcut (op.h): the leaf npt_seek found
 * gets npte in place (with break-before-make where the format needs it);
 * remap also moves the counts of a leaf table, whose sequence it may break.
 * NPT_OP_TELL when the record is the hook's to hear. kept: the common cases
 * of npt_protect and npt_remap, where leaf_kept holds (checked first, so
 * that nothing here is a call). */
static NPT_ALWAYS_INLINE int leaf_one(struct npt_table *t, const struct npt_seek *s, uint64_t base,
				      uint64_t npte, int remap, int kept)
{
	const struct npt_format *f = t->fmt;
	const unsigned i = (unsigned)(base >> NPT_PAGE_SHIFT) & (NPT_ENTRIES - 1);
	const uint64_t *tbl = s->slot - i;
	const int counts = remap && s->level == 0;
	uint32_t *word = NULL;
	int dgood = 0, bbm;

	if (!kept && npt_is_shared(t, npt_root_level(t), s->root_idx))
		return NPT_OP_SLOW;
	/* a remap is reported even to the same entry, as the whole way does */
	if (!remap && npte == s->pte) {
		npt_flush_begin(t);
		return 0;
	}
	if (counts) {
		/* kept: leaf_kept found it to be the one the table keeps */
		word = kept ? t->word : npt_leaf_word(t, npt_pte_addr(f, *s->parent));
		dgood = npt_leaf_good_moved(f, tbl, i, s->pte & f->addr_mask, npte & f->addr_mask);
	}
	/* Without break-before-make the record is the one run of this leaf,
	 * made at once; with it, the hook's own record comes first. */
	bbm = !kept && npt_needs_bbm(t, s->level, s->pte, npte);
	if (bbm) {
		npt_flush_begin(t);
		npt_entry_replace(t, s->slot, s->pte, npte, s->level, base);
	} else {
		/* what the hardware may have set meanwhile is replaced either way */
		npt_pte_publish(s->slot, npte);
	}
	if (counts)
		npt_leaf_adjust_in(t, word, s->parent, tbl, 0, dgood, 0);
	if (bbm) {
		npt_flush_end(t, 0, 0, 0);
		return 0;
	}
	npt_flush_single_record(t, base, base + (npt_level_size(s->level) - 1), s->level, 0);
	return NPT_OP_TELL;
}

/* The whole way for the leaf [first, last] at level the shortcut left. */
static NPT_NOINLINE int leaf_slow(struct npt_table *t, enum npt_op_kind kind, uint64_t first,
				  uint64_t last, unsigned level, unsigned flags, uint64_t pa,
				  npt_walk_fn *walk)
{
	struct npt_op o;
	int err;

	npt_op_init_one(&o, t, kind, first, last);
	err = npt_op_flags(&o, flags, 1u << level);
	if (err)
		return err;
	o.pa = pa;
	return npt_op_run(&o, walk);
}

static NPT_ALWAYS_INLINE int protect_call(struct npt_table *t, uint64_t va, unsigned flags)
{
	struct npt_seek s;
	uint64_t bits, first, last;
	int err;

	if (!t)
		return NPT_ERR_INVAL;
	err = npt_one_leaf(t, va, &s, &first, &last);
	if (!err)
		err = npt_op_encode(t, s.level, flags, &bits);
	if (!err)
		err = leaf_one(t, &s, first, bits | npt_addr_bits(t->fmt, npt_seek_leaf_pa(t->fmt, &s)), 0,
			       0);
	if (err == NPT_OP_TELL)
		return npt_op_told(t);
	if (err != NPT_OP_SLOW)
		return err;
	return leaf_slow(t, NPT_OP_PROTECT, first, last, s.level, flags, 0, protect_walk);
}

/* npt_protect beyond its common case below: every check and error. */
static NPT_NOINLINE int protect_other(struct npt_table *t, uint64_t va, unsigned flags)
{
	return npt_done(t, protect_call(t, va, flags));
}

/* The common case -- a table with a shape (shape.h), the flags' bits in the
 * encode cache, leaf_one's kept case -- makes no call but tail calls, so
 * that nothing lives across a call; anything else is protect_other's,
 * which decides it from the start. */
int npt_protect(struct npt_table *t, uint64_t va, unsigned flags)
{
	struct npt_seek s;
	uint64_t first, last;
	int r;

	if (!t || !t->q.shape || npt_one_leaf_shaped(t, va, &s, &first, &last) ||
	    t->enc_key != npt_enc_key(s.level, flags) || !leaf_kept(t, &s, 0))
		return protect_other(t, va, flags);
	r = leaf_one(t, &s, first, t->enc_bits | npt_addr_bits(t->fmt, npt_seek_leaf_pa(t->fmt, &s)),
		     0, 1);
	return r == NPT_OP_TELL ? npt_op_told(t) : r;
}
/* ---- remap ----------------------------------------------------------------- */

static NPT_ALWAYS_INLINE int remap_visit(struct npt_walk *w, struct npt_ctx *c, unsigned kind)
{
	struct npt_op *o = npt_op_of(w);

	switch (kind) {
	case NPT_V_EMPTY:
		return NPT_ERR_NOT_MAPPED;
	case NPT_V_LEAF:
		if (c->shared)
			return NPT_ERR_SHARED;
		if (!c->full)
			return NPT_ERR_HUGE;
		if (w->apply)
			leaf_set(o, c, o->tmpl[c->level] | npt_addr_bits(w->f, o->pa));
		return 0;
	case NPT_V_PRE:
		return c->shared ? NPT_ERR_SHARED : 0;
	default: /* NPT_V_POST: the page's leaf table, maybe out of sequence now */
		if (w->apply && c->level == 1)
			npt_leaf_settle(w->t, c->slot, npt_next_table(w->t, c->old),
					npt_pte_addr(w->f, c->old), 0);
		return 0;
	}
}

/* The one page of a leaf table: a new output address, so break-before-make
 * where the format needs it (npt_entry_replace notes the flush). */
static int remap_leaves(struct npt_walk *w, const struct npt_tref *tr, uint64_t base, unsigned lo,
			unsigned hi)
{
	struct npt_op *o = npt_op_of(w);
	uint64_t npte = o->tmpl[0] | npt_addr_bits(w->f, o->pa);

	(void)hi;
	if (!w->apply)
		return npt_pte_present(w->f, npt_tref_get(w, tr, 0, lo)) ? 0 : NPT_ERR_NOT_MAPPED;
	if (o->building)
		tr->tbl[lo] = npte;
	else
		npt_entry_replace(w->t, &tr->tbl[lo], tr->tbl[lo], npte, 0,
				  base + ((uint64_t)lo << NPT_PAGE_SHIFT));
	return 0;
}

static const struct npt_walk_ops remap_ops = {
	.which = NPT_V_EMPTY | NPT_V_LEAF | NPT_V_PRE | NPT_V_POST,
	.visit = remap_visit,
	.leaves = remap_leaves,
};
NPT_WALKER(remap_walk, &remap_ops)

static NPT_ALWAYS_INLINE int remap_call(struct npt_table *t, uint64_t va, uint64_t pa,
					unsigned flags)
{
	struct npt_seek s;
	uint64_t size, bits, first, last;
	int err;

	if (!t)
		return NPT_ERR_INVAL;
	err = npt_one_leaf(t, va, &s, &first, &last);
	if (err)
		return err;
	size = npt_level_size(s.level);
	if (pa & (size - 1))
		return NPT_ERR_ALIGN;
	err = s.level == 0 ? npt_check_output(t->fmt, pa, NPT_PAGE_SIZE)
			   : npt_check_output(t->fmt, pa, size);
	if (!err)
		err = npt_op_encode(t, s.level, flags, &bits);
	if (!err)
		err = leaf_one(t, &s, first, bits | npt_addr_bits(t->fmt, pa), 1, 0);
	if (err == NPT_OP_TELL)
		return npt_op_told(t);
	if (err != NPT_OP_SLOW)
		return err;
	return leaf_slow(t, NPT_OP_REMAP, first, last, s.level, flags, pa, remap_walk);
}

/* npt_remap beyond its common case below: every check and error. */
static NPT_NOINLINE int remap_other(struct npt_table *t, uint64_t va, uint64_t pa, unsigned flags)
{
	return npt_done(t, remap_call(t, va, pa, flags));
}

/* The common case -- a table with a shape (shape.h), a 4 KiB leaf, the
 * flags' bits in the encode cache, leaf_one's kept case -- makes no call
 * but tail calls, so that nothing lives across a call; anything else is
 * remap_other's, which decides it from the start. */
int npt_remap(struct npt_table *t, uint64_t va, uint64_t pa, unsigned flags)
{
	struct npt_seek s;
	uint64_t first, last;
	int r;

	if (!t || !t->q.shape || npt_one_leaf_shaped(t, va, &s, &first, &last) || s.level != 0 ||
	    npt_check_output(t->fmt, pa, NPT_PAGE_SIZE) || t->enc_key != npt_enc_key(0, flags) ||
	    !leaf_kept(t, &s, 1))
		return remap_other(t, va, pa, flags);
	r = leaf_one(t, &s, first, t->enc_bits | npt_addr_bits(t->fmt, pa), 1, 1);
	return r == NPT_OP_TELL ? npt_op_told(t) : r;
}
