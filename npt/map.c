/*
 * npt_map_region, npt_map_sg and npt_map: the map visitor of the walker
 * (op.h).
 *
 *  - an empty entry the range covers whole takes a leaf where its level,
 *    opts and alignment allow one, else gets a new table below it;
 *  - a leaf or a table the range covers whole collides (NPT_ERR_ALREADY_
 *    MAPPED): tables are never left empty (but for those another table
 *    shares, share.c), and a level-1 entry with full_bit has every leaf;
 *  - with NPT_MAP_REPLACE nothing collides: a leaf or table is replaced
 *    by the leaf that fits there, else split (a leaf) or walked (a table)
 *    and replaced below;
 *  - leaf tables are checked and filled as runs (runs.c), and an all-empty
 *    table (a new one, or one the plan walks virtually) has the entries the
 *    range covers whole written as one run: leaves where its level allows,
 *    otherwise, one level above the leaves, whole leaf tables;
 *  - npt_map_sg's output is piecewise: the visitor asks map_out for the
 *    output of each address and how far it follows on.
 */
#include "op.h"
#include "runs.h"

/* npt_map_sg: the output address of ia, with *len the bytes from ia on
 * whose output follows on. A pass of the walk asks in address order, so a
 * cursor on the run of pieces holding ia moves forward only; a lower ia
 * starts the next pass from the first piece. */
static uint64_t sg_out(struct npt_op *o, uint64_t ia, uint64_t *len)
{
	if (ia < o->sg_ia) {
		o->sg_ia = o->w.first;
		o->sg_size = 0;
		o->sg_next = 0;
	}
	while (ia - o->sg_ia >= o->sg_size) {
		o->sg_ia += o->sg_size;
		o->sg_pa = o->sg[o->sg_next].pa;
		o->sg_size = o->sg[o->sg_next++].size;
		while (o->sg_next < o->sg_n && o->sg[o->sg_next].pa == o->sg_pa + o->sg_size)
			o->sg_size += o->sg[o->sg_next++].size;
	}
	*len = o->sg_size - (ia - o->sg_ia);
	return o->sg_pa + (ia - o->sg_ia);
}

/* The output address of ia (at or above the range's first), and in *len
 * the bytes from ia on that follow on in the output, to the range's end. */
static NPT_ALWAYS_INLINE uint64_t map_out(struct npt_op *o, uint64_t ia, uint64_t *len)
{
	if (o->sg)
		return sg_out(o, ia, len);
	*len = o->w.last - ia + 1;
	return o->pa + (ia - o->w.first);
}

/* The entry c visits, covered whole, takes a leaf mapping pa: its level is
 * allowed, pa is aligned to it and its output follows on over it (len). */
static NPT_ALWAYS_INLINE int leaf_fits(const struct npt_op *o, const struct npt_ctx *c,
				       uint64_t pa, uint64_t len)
{
	const uint64_t esz = npt_level_size(c->level);

	return c->full && (o->leaf_levels >> c->level & 1) && !(pa & (esz - 1)) && len >= esz;
}

/* NPT_MAP_REPLACE, a present leaf: the new leaf in its place where one
 * fits, else its split, whose entries the walk then replaces (the parts
 * outside the range stay as they were). */
static int replace_leaf(struct npt_op *o, struct npt_ctx *c, uint64_t pa, uint64_t len)
{
	uint64_t npte;

	if (!leaf_fits(o, c, pa, len))
		return npt_op_new_child(o, c, 1);
	npte = o->tmpl[c->level] | npt_addr_bits(o->w.f, pa);
	if (o->w.apply && npte != c->old) {
		if (o->building)
			npt_pte_set(c->slot, npte);
		else
			npt_entry_replace(o->w.t, c->slot, c->old, npte, c->level, c->base);
	}
	return 0;
}

/* NPT_MAP_REPLACE, a table: a leaf in its place (and the subtree freed)
 * where one fits and no other table shares it, else the walk goes on
 * below. */
static int replace_table(struct npt_op *o, struct npt_ctx *c, uint64_t pa, uint64_t len)
{
	const struct npt_format *f = o->w.f;

	if (!leaf_fits(o, c, pa, len) || npt_is_exported(o->w.t, c->level, c->idx))
		return 0;
	c->skip = 1;
	if (o->w.apply) {
		npt_entry_replace(o->w.t, c->slot, c->old,
				  o->tmpl[c->level] | npt_addr_bits(f, pa), c->level, c->base);
		npt_free_subtree(o->w.t, c->level - 1, npt_pte_addr(f, c->old));
	}
	return 0;
}

static int map_post(struct npt_walk *w, struct npt_ctx *c)
{
	if (c->descend) {
		if (w->apply)
			npt_op_publish(npt_op_of(w), c);
	} else if (w->apply && c->level == 1) {
		npt_leaf_settle(w->t, c->slot, npt_next_table(w->t, c->old),
				npt_pte_addr(w->f, c->old), 1);
	}
	return 0;
}

static NPT_ALWAYS_INLINE int map_visit(struct npt_walk *w, struct npt_ctx *c, unsigned kind)
{
	struct npt_op *o = npt_op_of(w);
	const struct npt_format *f = w->f;
	uint64_t len, pa;

	if (kind == NPT_V_POST)
		return map_post(w, c);
	/* the output address of the entry's first byte in the range */
	pa = map_out(o, c->base > w->first ? c->base : w->first, &len);
	switch (kind) {
	case NPT_V_EMPTY:
		if (leaf_fits(o, c, pa, len)) {
			if (w->apply)
				npt_pte_set(c->slot, o->tmpl[c->level] | npt_addr_bits(f, pa));
			return 0;
		}
		return npt_op_new_child(o, c, 0);
	case NPT_V_LEAF:
		if (c->shared)
			return NPT_ERR_SHARED;
		return o->replace ? replace_leaf(o, c, pa, len) : NPT_ERR_ALREADY_MAPPED;
	default: /* NPT_V_PRE */
		if (c->shared)
			return NPT_ERR_SHARED;
		if (o->replace)
			return replace_table(o, c, pa, len);
		if (c->full && !npt_is_exported(w->t, c->level, c->idx))
			return NPT_ERR_ALREADY_MAPPED;
		if (!w->apply && c->level == 1 && (c->old & f->full_bit))
			return NPT_ERR_ALREADY_MAPPED;
		return 0;
	}
}

/* Entries lo..hi of a leaf table, applied: pages from output pa on. Empty
 * to present needs no flush; a replaced entry is noted. */
static void leaves_write(struct npt_walk *w, const struct npt_tref *tr, uint64_t base,
			 unsigned lo, unsigned hi, uint64_t pa)
{
	struct npt_op *o = npt_op_of(w);
	const struct npt_format *f = w->f;
	const uint64_t step = NPT_PAGE_SIZE >> f->addr_shift;
	uint64_t addr = npt_addr_bits(f, pa);
	unsigned i;

	if (npt_tref_fresh(tr)) {
		npt_run_fill(tr->tbl, lo, hi, o->tmpl[0], addr, step, f->addr_mask);
		return;
	}
	if (o->replace && !o->building) {
		/* present entries that change: replaced (with break-before-make
		 * where needed) and noted */
		for (i = lo; i <= hi; i++, addr += step) {
			const uint64_t old = npt_pte_get(&tr->tbl[i]), npte = o->tmpl[0] | addr;

			if (!npt_pte_present(f, old))
				npt_pte_set(&tr->tbl[i], npte);
			else if (old != npte)
				npt_entry_replace(w->t, &tr->tbl[i], old, npte, 0,
						  base + ((uint64_t)i << NPT_PAGE_SHIFT));
		}
		return;
	}
	for (i = lo; i <= hi; i++, addr += step)
		npt_pte_set(&tr->tbl[i], o->tmpl[0] | addr);
}

/* A run of a leaf table: in the plan nothing in it may be present (but
 * for a replace); applied, the leaves of each stretch of output. */
static int map_leaves(struct npt_walk *w, const struct npt_tref *tr, uint64_t base, unsigned lo,
		      unsigned hi)
{
	struct npt_op *o = npt_op_of(w);
	uint64_t pa, len;
	unsigned n;

	if (!w->apply)
		return !o->replace && tr->tbl && !npt_tref_fresh(tr) &&
				       npt_run_any_present(w->f, tr->tbl, lo, hi)
			       ? NPT_ERR_ALREADY_MAPPED
			       : 0;
	/* one write per stretch whose output follows on */
	for (; lo <= hi; lo += n) {
		pa = map_out(o, base + ((uint64_t)lo << NPT_PAGE_SHIFT), &len);
		n = len >> NPT_PAGE_SHIFT < hi - lo + 1 ? (unsigned)(len >> NPT_PAGE_SHIFT) : hi - lo + 1;
		leaves_write(w, tr, base, lo, lo + n - 1, pa);
	}
	return 0;
}

/* Empty entries lo..hi at level, whose level below takes leaves the output
 * is aligned to: a new table of those leaves under each, filled before it
 * is published (a leaf table: one full run, its counts and full_bit
 * set). 0 where the level below cannot (the walk goes entry by entry). */
static int whole_tables(struct npt_walk *w, unsigned level, const struct npt_tref *tr,
			uint64_t base, unsigned lo, unsigned hi, uint64_t delta)
{
	struct npt_op *o = npt_op_of(w);
	const struct npt_format *f = w->f;
	const uint64_t esz = npt_level_size(level), bsz = npt_level_size(level - 1);
	const struct npt_counts full = { NPT_ENTRIES, NPT_ENTRIES };
	unsigned k;

	if (!(o->leaf_levels >> (level - 1) & 1) || (delta & (bsz - 1)))
		return 0;
	if (!w->apply) {
		o->need += hi - lo + 1;
		return 1;
	}
	for (k = lo; k <= hi; k++) {
		uint64_t pa = npt_prealloc_take(w->t, &o->cache);

		if (level == 1)
			npt_counts_put(npt_leaf_word(w->t, pa), &full);
		npt_run_fill(npt_virt(w->t, pa), 0, NPT_ENTRIES - 1, o->tmpl[level - 1],
			     npt_addr_bits(f, base + (uint64_t)k * esz + delta), bsz >> f->addr_shift,
			     f->addr_mask);
		npt_pte_publish(&tr->tbl[k], npt_table_pte(f, pa, level, 1));
	}
	return 1;
}

/* Empty entries lo..hi of a table at level, covered whole by one stretch
 * of output (delta: output minus input address): leaves where the level
 * allows them, else whole tables of the level below's leaves. 0 where
 * neither can go (the walk goes entry by entry). */
static int empty_stretch(struct npt_walk *w, unsigned level, const struct npt_tref *tr,
			 uint64_t base, unsigned lo, unsigned hi, uint64_t delta)
{
	struct npt_op *o = npt_op_of(w);
	const struct npt_format *f = w->f;
	const uint64_t esz = npt_level_size(level);
	unsigned k;

	if ((o->leaf_levels >> level & 1) && !(delta & (esz - 1))) {
		uint64_t addr = npt_addr_bits(f, base + (uint64_t)lo * esz + delta);

		if (!w->apply)
			return 1;
		if (npt_tref_fresh(tr)) {
			npt_run_fill(tr->tbl, lo, hi, o->tmpl[level], addr, esz >> f->addr_shift,
				     f->addr_mask);
			return 1;
		}
		/* a table readers see: each entry whole (empty to present needs
		 * no flush) */
		for (k = lo; k <= hi; k++, addr += esz >> f->addr_shift)
			npt_pte_set(&tr->tbl[k], o->tmpl[level] | addr);
		return 1;
	}
	return whole_tables(w, level, tr, base, lo, hi, delta);
}

/* A table above level 0: the entries the range covers whole (flo..fhi), up
 * to the first present one, a run for each stretch whose output follows on
 * (one for map_region; for npt_map_sg, as far as stretches end on entry
 * boundaries). Nothing can collide there, so the plan only counts; the
 * apply pass finds the same entries empty, as nothing changed between. */
static int map_empty(struct npt_walk *w, unsigned level, const struct npt_tref *tr, uint64_t base,
		     unsigned flo, unsigned fhi, unsigned *done_lo, unsigned *done_hi)
{
	struct npt_op *o = npt_op_of(w);
	const uint64_t esz = npt_level_size(level);
	unsigned k = flo;

	if (!npt_tref_empty(tr)) {
		if (!tr->tbl)
			return 0; /* a virtual split: every entry a leaf */
		for (k = flo; k <= fhi && !npt_pte_present(w->f, npt_pte_get(&tr->tbl[k])); k++)
			;
		if (k == flo)
			return 0;
		fhi = k - 1;
		k = flo;
	}
	while (k <= fhi) {
		const uint64_t ia = base + (uint64_t)k * esz;
		uint64_t len, pa = map_out(o, ia, &len);
		/* the entries from k on inside this stretch */
		const uint64_t n = len / esz < fhi - k + 1 ? len / esz : fhi - k + 1;

		if (!n || !empty_stretch(w, level, tr, base, k, k + (unsigned)n - 1, pa - ia))
			break;
		k += (unsigned)n;
	}
	if (k > flo) {
		*done_lo = flo;
		*done_hi = k - 1;
	}
	return 0;
}

static const struct npt_walk_ops map_ops = {
	.which = NPT_V_EMPTY | NPT_V_LEAF | NPT_V_PRE | NPT_V_POST,
	.visit = map_visit,
	.leaves = map_leaves,
	.empty = map_empty,
};
NPT_WALKER(map_walk, &map_ops)

static int map_region_call(struct npt_table *t, uint64_t va, uint64_t pa, uint64_t size,
			     unsigned flags, unsigned opts)
{
	struct npt_op o;
	int err;

	if (!t || (opts & ~(NPT_MAP_HUGE | NPT_MAP_REPLACE)))
		return NPT_ERR_INVAL;
	npt_op_init(&o, t, NPT_OP_MAP);
	o.replace = (opts & NPT_MAP_REPLACE) != 0;
	err = npt_check_input(t, va, size, &o.w.first, &o.w.last);
	if (!err)
		err = npt_check_output(t->fmt, pa, size);
	if (err)
		return err;
	o.pa = pa;
	o.leaf_levels = (1u | (opts & NPT_MAP_HUGE) << 1) & t->fmt->leaf_levels;
	err = npt_op_flags(&o, flags, o.leaf_levels);
	return err ? err : npt_op_run(&o, map_walk);
}

int npt_map_region(struct npt_table *t, uint64_t va, uint64_t pa, uint64_t size,
		   unsigned flags, unsigned opts)
{
	return npt_done(t, map_region_call(t, va, pa, size, flags, opts));
}

static int map_sg_call(struct npt_table *t, uint64_t va, const struct npt_sg *sg, size_t n,
		       unsigned flags, unsigned opts)
{
	struct npt_op o;
	uint64_t total = 0;
	size_t k;
	int err;

	if (!t || (!sg && n) || (opts & ~(NPT_MAP_HUGE | NPT_MAP_REPLACE)))
		return NPT_ERR_INVAL;
	for (k = 0; k < n; k++) {
		err = npt_check_output(t->fmt, sg[k].pa, sg[k].size);
		if (err)
			return err;
		if (total + sg[k].size < total)
			return NPT_ERR_RANGE;
		total += sg[k].size;
	}
	npt_op_init(&o, t, NPT_OP_MAP);
	err = npt_check_input(t, va, total, &o.w.first, &o.w.last);
	if (err)
		return err;
	o.replace = (opts & NPT_MAP_REPLACE) != 0;
	o.sg = sg;
	o.sg_n = n;
	o.sg_next = 0;
	o.sg_ia = o.w.first;
	o.sg_size = 0;
	o.leaf_levels = (1u | (opts & NPT_MAP_HUGE) << 1) & t->fmt->leaf_levels;
	err = npt_op_flags(&o, flags, o.leaf_levels);
	return err ? err : npt_op_run(&o, map_walk);
}

int npt_map_sg(struct npt_table *t, uint64_t va, const struct npt_sg *sg, size_t n,
	       unsigned flags, unsigned opts)
{
	return npt_done(t, map_sg_call(t, va, sg, n, flags, opts));
}

/* The missing tables above the leaf's level (n of them, the path ending at
 * s->slot), built bottom up before one store publishes them. */
static NPT_NOINLINE int map_path(struct npt_table *t, const struct npt_seek *s, uint64_t ia,
				 unsigned level, uint64_t bits)
{
	const struct npt_format *f = t->fmt;
	const unsigned n = s->level - level;
	uint64_t tables[NPT_MAX_LEVELS];
	unsigned k;
	int err;

	for (k = 0; k < n; k++) {
		err = npt_frame_alloc(t, &tables[k]);
		if (err) {
			while (k--)
				npt_frame_unalloc(t, tables[k]);
			return err;
		}
	}
	npt_flush_begin(t);
	/* table k holds the entries of level level + k */
	for (k = 0; k < n; k++) {
		const unsigned l = level + k, i = (unsigned)(ia >> npt_level_shift(l)) & (NPT_ENTRIES - 1);
		uint64_t *tb = npt_virt(t, tables[k]);

		npt_memset(tb, 0, NPT_PAGE_SIZE);
		tb[i] = k ? npt_table_pte(f, tables[k - 1], l, 0) : bits;
		if (l == 0) {
			const struct npt_counts one = { 1, i == 0 };

			npt_counts_put(npt_leaf_word(t, tables[0]), &one);
		}
	}
	npt_pte_publish(s->slot, npt_table_pte(f, tables[n - 1], level + n, 0));
	return 0;
}

/* map_one's kept case applies to the 4 KiB page whose empty entry s found:
 * nothing shared, the flags' bits in the encode cache, the leaf table
 * there with the frame word the table keeps. */
static NPT_ALWAYS_INLINE int map_kept(const struct npt_table *t, const struct npt_seek *s,
				      unsigned flags)
{
	return s->level == 0 && !npt_pte_present(t->fmt, s->pte) &&
	       !npt_is_shared(t, npt_root_level(t), s->root_idx) &&
	       t->enc_key == npt_enc_key(0, flags) &&
	       npt_leaf_word_kept(t, npt_pte_addr(t->fmt, *s->parent));
}

/* npt_map's shortcut (op.h): the empty entry s found at the leaf's level,
 * or the tables missing above it built on the way (map_path). Empty to
 * present: nothing to flush. kept: the common case of npt_map, where
 * map_kept holds (checked first, so that nothing here is a call). */
static NPT_ALWAYS_INLINE int map_one(struct npt_table *t, const struct npt_seek *s, uint64_t ia,
				     uint64_t pa, unsigned level, unsigned flags, int kept)
{
	const struct npt_format *f = t->fmt;
	uint64_t bits;
	int err;

	if (kept) {
		bits = t->enc_bits;
	} else {
		if (npt_pte_present(f, s->pte) || npt_is_shared(t, npt_root_level(t), s->root_idx))
			return NPT_OP_SLOW;
		err = npt_op_encode(t, level, flags, &bits);
		if (err)
			return err;
	}
	bits |= npt_addr_bits(f, pa);
	if (!kept && s->level != level)
		return map_path(t, s, ia, level, bits);
	npt_flush_begin(t);
	npt_pte_set(s->slot, bits);
	if (level == 0) {
		/* entry i and its successor (the last entry has none) became
		 * good, or not; the table can be full now only if both did */
		const unsigned i = (unsigned)(ia >> NPT_PAGE_SHIFT) & (NPT_ENTRIES - 1);
		const uint64_t *tbl = s->slot - i;
		const int good = npt_leaf_good_at(f, tbl, i, bits & f->addr_mask);
		const int may_set = good == 1 + (i < NPT_ENTRIES - 1);
		/* kept: map_kept found it to be the one the table keeps */
		uint32_t *word = kept ? t->word : npt_leaf_word(t, npt_pte_addr(f, *s->parent));

		npt_leaf_adjust_in(t, word, s->parent, tbl, 1, good, may_set);
	}
	return 0;
}

static int leaf_level_of(const struct npt_format *f, uint64_t page_size, unsigned *level)
{
	unsigned l;

	for (l = 0; l < f->levels; l++) {
		if ((f->leaf_levels >> l & 1) && page_size == npt_level_size(l)) {
			*level = l;
			return 0;
		}
	}
	return NPT_ERR_ALIGN;
}

/* The whole way: what the shortcut leaves, and every page size but 4 KiB. */
static NPT_NOINLINE int map_slow(struct npt_table *t, uint64_t va, uint64_t pa, uint64_t page_size,
				 unsigned flags, int shortcut_tried)
{
	struct npt_op o;
	uint64_t first, last;
	unsigned level;
	int err;

	err = leaf_level_of(t->fmt, page_size, &level);
	if (!err && ((va | pa) & (page_size - 1)))
		err = NPT_ERR_ALIGN;
	if (!err)
		err = npt_check_input(t, va, page_size, &first, &last);
	if (!err)
		err = npt_check_output(t->fmt, pa, page_size);
	if (err)
		return err;
	if (!shortcut_tried) {
		struct npt_seek s;

		npt_seek_shaped(t, first, level, &s);
		err = map_one(t, &s, first, pa, level, flags, 0);
		if (err != NPT_OP_SLOW)
			return err;
	}
	npt_op_init(&o, t, NPT_OP_MAP);
	o.w.first = first;
	o.w.last = last;
	o.pa = pa;
	o.leaf_levels = 1u << level;
	err = npt_op_flags(&o, flags, o.leaf_levels);
	return err ? err : npt_op_run(&o, map_walk);
}

static NPT_ALWAYS_INLINE int map_call(struct npt_table *t, uint64_t va, uint64_t pa,
				      uint64_t page_size, unsigned flags)
{
	struct npt_seek s;
	uint64_t first, last;
	int err;

	if (!t)
		return NPT_ERR_INVAL;
	if (page_size != NPT_PAGE_SIZE || !(t->fmt->leaf_levels & 1))
		return map_slow(t, va, pa, page_size, flags, 0);
	/* the common call, its checks with the size a constant */
	err = (va | pa) & (NPT_PAGE_SIZE - 1) ? NPT_ERR_ALIGN
					       : npt_check_input(t, va, NPT_PAGE_SIZE, &first, &last);
	if (!err)
		err = npt_check_output(t->fmt, pa, NPT_PAGE_SIZE);
	if (err)
		return err;
	npt_seek_shaped(t, first, 0, &s);
	err = map_one(t, &s, first, pa, 0, flags, 0);
	if (err != NPT_OP_SLOW)
		return err;
	return map_slow(t, va, pa, page_size, flags, 1);
}

/* npt_map beyond its common case below: every check and error. */
static NPT_NOINLINE int map_other(struct npt_table *t, uint64_t va, uint64_t pa, uint64_t page_size,
				  unsigned flags)
{
	return npt_done(t, map_call(t, va, pa, page_size, flags));
}

/* The common case -- a table with a shape (shape.h), a 4 KiB page, map_one's
 * kept case -- makes no call, so that nothing lives across a call; anything
 * else is map_other's, which decides it from the start. */
int npt_map(struct npt_table *t, uint64_t va, uint64_t pa, uint64_t page_size, unsigned flags)
{
	struct npt_seek s;
	uint64_t first, last;

	if (!t || !t->q.shape || page_size != NPT_PAGE_SIZE || !(t->fmt->leaf_levels & 1) ||
	    (pa & (NPT_PAGE_SIZE - 1)) || npt_check_output(t->fmt, pa, NPT_PAGE_SIZE) ||
	    npt_check_input(t, va, NPT_PAGE_SIZE, &first, &last))
		return map_other(t, va, pa, page_size, flags);
	npt_seek_in_shape(t, first, 0, &s);
	if (!map_kept(t, &s, flags))
		return map_other(t, va, pa, page_size, flags);
	return map_one(t, &s, first, pa, 0, flags, 1);
}
