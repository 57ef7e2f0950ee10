/*
 * Every changing call is one range operation run twice over the tree:
 *
 *  1. plan:  checks every entry the call would touch and counts the frames it
 *            needs, writing nothing. Tables that do not exist yet (a new
 *            subtree, or the table a huge leaf would split into) are walked
 *            as "virtual" tables whose entries are computed, not read.
 *  2. apply: after those frames are allocated up front, performs the change;
 *            it cannot fail.
 *
 * So a call either returns an error with the table and the allocator exactly
 * as they were, or succeeds completely (KVM's arm64 stage-2 code tops up a
 * memcache before a walk for the same reason).
 *
 * New subtrees are built completely before the entry that points to them is
 * written, so a concurrent reader never sees a half-built table.
 */
#include "runs.h"

enum op_kind { OP_MAP, OP_UNMAP, OP_PROTECT, OP_REMAP };

/* A table the plan pass walks without it existing. */
struct vtable {
	uint64_t tmpl; /* split: leaf bits of each entry */
	uint64_t pa;   /* split: output address of entry 0; empty: unused */
	int split;     /* 0: every entry empty; 1: a huge leaf split one level down */
};

struct op {
	struct npt_table *t;
	const struct npt_format *f;
	enum op_kind kind;
	int apply;
	uint64_t first, last;      /* inclusive input range */
	uint64_t pa;               /* MAP/REMAP: output address of `first` */
	unsigned leaf_levels;      /* MAP: levels where new leaves may go */
	uint64_t tmpl[NPT_MAX_LEVELS]; /* leaf bits (no address) for each leaf level */
	uint64_t need;             /* plan: frames the apply pass takes */
	uint64_t cache;            /* apply: preallocated frames, linked through word 0 */
	uint64_t cache_tail;       /* the last of them */
	int changed;               /* apply: a present entry changed: TLB flush needed */
	int building;              /* apply: inside a table not published yet */
	int drop_shares;           /* UNMAP: a whole shared root entry is dropped, not refused */
	const uint64_t *next_leaves; /* apply: the leaf table after the one in hand, to prefetch */
	int leaf_run;              /* apply: the leaf table in hand is one full run (full_bit) */
	uint64_t flush_first, flush_last;
};

/* Entries at level changed over [first, last] (flags: NPT_FLUSH_TABLE when a
 * table entry changed). Nothing in a table no walker has seen yet needs it:
 * the entry that publishes the table is noted instead. */
static void note_flush(struct op *o, uint64_t first, uint64_t last, unsigned level,
		       unsigned flags)
{
	if (o->building)
		return;
	npt_flush_note(o->t, first, last, level, flags);
	if (!o->changed || first < o->flush_first)
		o->flush_first = first;
	if (!o->changed || last > o->flush_last)
		o->flush_last = last;
	o->changed = 1;
}

/* Frames preallocated by the plan, linked through their first word. Physical
 * address 0 may be a valid frame, so links are stored with bit 0 set and the
 * empty list is 0. Taken in the order they were allocated: from an allocator
 * that hands out ascending frames, the tables of a range then lie in address
 * order, which the hardware prefetchers follow best. */
static uint64_t cache_take(struct op *o)
{
	uint64_t pa = o->cache & ~1ull;

	NPT_CHECK(o->t, o->cache);
	o->cache = *(uint64_t *)npt_virt(o->t, pa);
	return pa;
}

static void cache_release(struct op *o)
{
	while (o->cache)
		npt_frame_free(o->t, cache_take(o));
}

static int cache_fill(struct op *o, uint64_t n)
{
	uint64_t pa;
	int err;

	while (n--) {
		err = npt_frame_alloc(o->t, &pa);
		if (err) {
			cache_release(o);
			return err;
		}
		*(uint64_t *)npt_virt(o->t, pa) = 0;
		if (o->cache)
			*(uint64_t *)npt_virt(o->t, o->cache_tail) = pa | 1;
		else
			o->cache = pa | 1;
		o->cache_tail = pa;
	}
	return 0;
}

/* The split of a huge leaf at `level` into leaves one level down: same
 * output range, same flags (re-encoded for the lower level), and the state
 * hardware and npt keep in the leaf carried over as it is (accessed/dirty
 * bits, Arm DBM and its write permission, npt_log_start's mark): the pages
 * of the leaf the call does not change keep their dirty state and stay in
 * the log. */
static int make_split(const struct op *o, unsigned level, uint64_t pte, struct vtable *v)
{
	const struct npt_format *f = o->f;
	const uint64_t carry = f->accessed_bit | f->dirty_bit | f->dbm_bit | f->sw_log_bit |
			       f->w_set | f->w_clear;
	unsigned flags = f->decode(f, level, pte) & ~(NPT_A | NPT_D);
	int err;

	v->split = 1;
	v->pa = npt_pte_addr(f, pte) & ~(npt_level_size(level) - 1);
	err = f->encode(f, level - 1, flags, &v->tmpl);
	v->tmpl = (v->tmpl & ~carry) | (pte & carry);
	return err;
}

static uint64_t vtable_entry(const struct op *o, const struct vtable *v, unsigned level, unsigned i)
{
	if (!v->split)
		return 0;
	return v->tmpl | npt_addr_bits(o->f, v->pa + (uint64_t)i * npt_level_size(level));
}

static void fill_split(const struct op *o, uint64_t *tbl, const struct vtable *v, unsigned level)
{
	unsigned i;

	for (i = 0; i < NPT_ENTRIES; i++)
		tbl[i] = vtable_entry(o, v, level, i);
}

static int table_empty(const struct npt_format *f, const uint64_t *tbl)
{
	unsigned i;

	for (i = 0; i < NPT_ENTRIES; i++)
		if (npt_pte_present(f, tbl[i]))
			return 0;
	return 1;
}

/* OP_PROTECT of a run on a format that needs break-before-make for some
 * changes (Arm: a new memory type): entry by entry, each change that needs
 * it broken and made again, the others written in place. */
static void protect_bbm(struct op *o, uint64_t *tbl, uint64_t base, unsigned lo, unsigned hi)
{
	const uint64_t amask = o->f->addr_mask;
	unsigned i;

	for (i = lo; i <= hi; i++) {
		uint64_t pte = tbl[i], npte = o->tmpl[0] | (pte & amask);

		if (npte != pte)
			npt_entry_replace(o->t, &tbl[i], pte, npte, 0,
					  base + ((uint64_t)i << NPT_PAGE_SHIFT));
	}
}

/* Level 0: tight loops over a run of entries, one per kind. */
static int op_leaves(struct op *o, uint64_t *tbl, const struct vtable *v, uint64_t base,
		     unsigned lo, unsigned hi, int fresh)
{
	const struct npt_format *f = o->f;
	const uint64_t amask = f->addr_mask;
	const uint64_t step = NPT_PAGE_SIZE >> f->addr_shift;
	const uint64_t first = base + (uint64_t)lo * NPT_PAGE_SIZE;
	const uint64_t last = base + (uint64_t)hi * NPT_PAGE_SIZE + NPT_PAGE_SIZE - 1;
	int changed = 0;

	if (!o->apply) {
		if (o->kind == OP_MAP)
			return tbl && npt_run_any_present(f, tbl, lo, hi) ? NPT_ERR_ALREADY_MAPPED : 0;
		if (!tbl)
			return v->split ? 0 : NPT_ERR_NOT_MAPPED;
		return npt_run_all_present(f, tbl, lo, hi) ? 0 : NPT_ERR_NOT_MAPPED;
	}

	switch (o->kind) {
	case OP_MAP: {
		uint64_t addr = npt_addr_bits(f, o->pa + (first - o->first));
		unsigned i;

		if (fresh) {
			npt_run_fill(tbl, lo, hi, o->tmpl[0], addr, step, f->addr_mask);
			break;
		}
		for (i = lo; i <= hi; i++, addr += step)
			npt_pte_set(&tbl[i], o->tmpl[0] | addr);
		break;
	}
	case OP_REMAP:
		/* A new output address: break-before-make where the format
		 * needs it (npt_entry_replace notes the flush). */
		if (o->building)
			tbl[lo] = o->tmpl[0] | npt_addr_bits(f, o->pa);
		else
			npt_entry_replace(o->t, &tbl[lo], tbl[lo], o->tmpl[0] | npt_addr_bits(f, o->pa),
					  0, first);
		break;
	case OP_UNMAP:
		npt_run_clear(tbl, lo, hi);
		changed = 1;
		break;
	case OP_PROTECT:
		if (f->bbm && o->t->bbm_hook && !o->building)
			protect_bbm(o, tbl, base, lo, hi);
		else if (o->leaf_run && lo == 0 && hi == NPT_ENTRIES - 1 && !(o->tmpl[0] & amask) &&
			 ((tbl[0] ^ o->tmpl[0]) & ~amask)) {
			/* The whole of a full run whose entry 0 changes: every
			 * entry follows from entry 0, no need to read them (the
			 * flush run may then include entries rewritten as they
			 * were, in a table whose leaves were not all alike). */
			npt_run_protect_seq(tbl, o->tmpl[0], tbl[0] & amask, step, o->next_leaves);
			changed = 1;
		} else {
			changed = npt_run_protect(tbl, lo, hi, o->tmpl[0], amask, o->next_leaves);
		}
		break;
	}
	if (changed)
		note_flush(o, first, last, 0, 0);
	return 0;
}

static int op_level(struct op *o, unsigned level, uint64_t *tbl, const struct vtable *v,
		    uint64_t base, int fresh);

/* The leaf table entry i + 1 of a level-1 table points to, if the range
 * goes on into it (hi: the range's last entry here). */
static const uint64_t *next_leaf_table(const struct op *o, const uint64_t *tbl, unsigned i,
				       unsigned hi)
{
	uint64_t pte;

	if (i >= hi)
		return NULL;
	pte = tbl[i + 1];
	if (!npt_pte_present(o->f, pte) || npt_pte_leaf(o->f, 1, pte))
		return NULL;
	return npt_virt(o->t, npt_pte_addr(o->f, pte));
}

/* Keeps the full_bit of the level-1 entry *slot true after the apply pass
 * changed part of its leaf table child (based at base): an unmap or a remap
 * clears it (the table has a hole, or an address out of sequence; protect
 * changes neither); a map sets it once the table is one full run. That takes
 * a read of the whole table, made only when the entries on both sides of the
 * run just mapped are present: a table filled page by page in order is read
 * once, at its last page. */
static void full_hint(const struct op *o, uint64_t *slot, const uint64_t *child, uint64_t base)
{
	const struct npt_format *f = o->f;
	const uint64_t bit = f->full_bit;
	unsigned lo, hi;

	if (!bit || o->kind == OP_PROTECT)
		return;
	if (o->kind != OP_MAP) {
		if (*slot & bit)
			__atomic_fetch_and(slot, ~bit, __ATOMIC_RELAXED);
		return;
	}
	if (*slot & bit)
		return;
	npt_slice(o->t, 0, base, o->first, o->last, &lo, &hi);
	if ((lo && !npt_pte_present(f, child[lo - 1])) ||
	    (hi < NPT_ENTRIES - 1 && !npt_pte_present(f, child[hi + 1])))
		return;
	if (npt_run_is_full_run(f, child))
		__atomic_fetch_or(slot, bit, __ATOMIC_RELAXED);
}

/* Descends into a table that is created or split by this call. */
static int op_new_child(struct op *o, unsigned level, uint64_t *slot, uint64_t ebase,
			const struct vtable *v)
{
	uint64_t pa, entry;
	uint64_t *child;
	int err;

	if (!o->apply) {
		o->need++;
		/* An empty subtree at level 0 cannot conflict with anything. */
		if (level - 1 == 0 && !v->split && o->kind == OP_MAP)
			return 0;
		return op_level(o, level - 1, NULL, v, ebase, 0);
	}
	pa = cache_take(o);
	child = npt_virt(o->t, pa);
	if (v->split)
		fill_split(o, child, v, level - 1);
	o->building++;
	err = op_level(o, level - 1, child, NULL, ebase, !v->split);
	o->building--;
	NPT_CHECK(o->t, !err);
	/* A split leaves holes only where it unmaps; a new table is a full
	 * run where the map covers all of it. */
	entry = npt_table_pte(o->f, pa, level,
			      v->split ? o->kind != OP_UNMAP
				       : o->first <= ebase && ebase + npt_level_size(level) - 1 <= o->last);
	if (v->split && !o->building)
		/* A huge leaf becomes a table: a block-size change, with
		 * break-before-make where the format needs it. */
		npt_entry_replace(o->t, slot, *slot, entry, level, ebase);
	else
		npt_pte_publish(slot, entry);
	return err;
}

/* OP_MAP into a table above level 0 that holds nothing: a fresh one (apply)
 * or a new subtree walked virtually (plan). Nothing can collide there, so the
 * plan reads nothing and the entries the range covers fully are done as one
 * run: leaves in one fill_run where this level allows them, otherwise, one
 * level above the leaves, leaf tables filled whole (the plan only counts
 * them). Deeper subtrees and the partly covered entry at either end take
 * op_new_child, as before. The result is exactly what the entry-by-entry loop
 * of op_level writes; only the per-entry bookkeeping is gone. */
static int map_empty(struct op *o, unsigned level, uint64_t *tbl, uint64_t base, unsigned lo,
		     unsigned hi)
{
	const struct npt_format *f = o->f;
	const uint64_t esz = npt_level_size(level);
	/* [flo, fhi]: the entries the range covers fully (flo > fhi: none). */
	const long flo = (long)lo + (o->first > base + (uint64_t)lo * esz);
	const long fhi = (long)hi - (o->last < base + (uint64_t)hi * esz + esz - 1);
	/* Output address of a fully covered entry i: o->pa + (its base - first). */
	const uint64_t delta = o->pa - o->first;
	struct vtable sub = { .split = 0 };
	long i;
	int err;

	for (i = lo; i <= (long)hi; i++) {
		const uint64_t ebase = base + (uint64_t)i * esz;

		if (i == flo && flo <= fhi) {
			const unsigned n = (unsigned)(fhi - flo + 1);

			if ((o->leaf_levels >> level & 1) && !(delta & (esz - 1))) {
				if (o->apply)
					npt_run_fill(tbl, (unsigned)flo, (unsigned)fhi, o->tmpl[level],
						 npt_addr_bits(f, ebase + delta), esz >> f->addr_shift,
						 f->addr_mask);
				i = fhi;
				continue;
			}
			if (level == 1) {
				unsigned k;

				if (!o->apply) {
					o->need += n;
					i = fhi;
					continue;
				}
				for (k = 0; k < n; k++) {
					uint64_t pa = cache_take(o);

					npt_run_fill(npt_virt(o->t, pa), 0, NPT_ENTRIES - 1, o->tmpl[0],
						 npt_addr_bits(f, ebase + delta + (uint64_t)k * esz),
						 NPT_PAGE_SIZE >> f->addr_shift, f->addr_mask);
					npt_pte_publish(&tbl[flo + k], npt_table_pte(f, pa, 1, 1));
				}
				i = fhi;
				continue;
			}
		}
		err = op_new_child(o, level, tbl ? &tbl[i] : NULL, ebase, &sub);
		if (err)
			return err;
	}
	return 0;
}

static int op_level(struct op *o, unsigned level, uint64_t *tbl, const struct vtable *v,
		    uint64_t base, int fresh)
{
	struct npt_table *t = o->t;
	const struct npt_format *f = o->f;
	const uint64_t esz = npt_level_size(level);
	unsigned i, lo, hi;
	int err;

	npt_slice(t, level, base, o->first, o->last, &lo, &hi);
	if (fresh) {
		/* Only entries outside the range need zeroing: the range is written. */
		npt_memset(tbl, 0, lo * sizeof(*tbl));
		npt_memset(&tbl[hi + 1], 0, (NPT_ENTRIES - hi - 1) * sizeof(*tbl));
	}
	if (level == 0)
		return op_leaves(o, tbl, v, base, lo, hi, fresh);
	if (o->kind == OP_MAP && (fresh || (!tbl && !v->split)))
		return map_empty(o, level, tbl, base, lo, hi);

	for (i = lo; i <= hi; i++) {
		const uint64_t ebase = base + (uint64_t)i * esz, elast = ebase + esz - 1;
		const int full = o->first <= ebase && elast <= o->last;
		const uint64_t pte = fresh ? 0 : tbl ? tbl[i] : vtable_entry(o, v, level, i);
		struct vtable sub;

		if (!npt_pte_present(f, pte)) {
			uint64_t pa;

			if (o->kind != OP_MAP)
				return NPT_ERR_NOT_MAPPED;
			pa = o->pa + ((ebase > o->first ? ebase : o->first) - o->first);
			if (full && (o->leaf_levels >> level & 1) && !(pa & (esz - 1))) {
				if (o->apply)
					npt_pte_set(&tbl[i], o->tmpl[level] | npt_addr_bits(f, pa));
				continue;
			}
			sub.split = 0;
			err = op_new_child(o, level, tbl ? &tbl[i] : NULL, ebase, &sub);
			if (err)
				return err;
			continue;
		}

		if (npt_is_shared(t, level, i)) {
			/* Only a whole shared entry may be dropped, and only by
			 * npt_unmap_region. */
			if (!o->drop_shares || !full)
				return NPT_ERR_SHARED;
			if (o->apply) {
				npt_pte_set(&tbl[i], 0);
				t->shared[i / 64] &= ~(1ull << (i % 64));
				note_flush(o, ebase, elast, level,
					   npt_pte_leaf(f, level, pte) ? 0 : NPT_FLUSH_TABLE);
			}
			continue;
		}

		if (npt_pte_leaf(f, level, pte)) {
			uint64_t lpa = npt_pte_addr(f, pte) & ~(esz - 1), npte = 0;

			switch (o->kind) {
			case OP_MAP:
				return NPT_ERR_ALREADY_MAPPED;
			case OP_REMAP:
				if (!full)
					return NPT_ERR_HUGE;
				npte = o->tmpl[level] | npt_addr_bits(f, o->pa);
				break;
			case OP_PROTECT:
				npte = o->tmpl[level] | npt_addr_bits(f, lpa);
				if (npte == pte)
					continue; /* no change, and no split needed */
				break;
			case OP_UNMAP:
				npte = 0;
				break;
			}
			if (full) {
				if (o->apply && npte && !o->building) {
					npt_entry_replace(t, &tbl[i], pte, npte, level, ebase);
				} else if (o->apply) {
					npt_pte_set(&tbl[i], npte);
					note_flush(o, ebase, elast, level, 0);
				}
				continue;
			}
			/* A huge leaf only partly covered: split it one level down. */
			err = make_split(o, level, pte, &sub);
			if (err)
				return err;
			/* (publishing the split notes the flush of the old leaf) */
			err = op_new_child(o, level, tbl ? &tbl[i] : NULL, ebase, &sub);
			if (err)
				return err;
			continue;
		}

		/* A table. Tables are never left empty (but for those another table
		 * shares, see share.c), so mapping over a whole one always collides
		 * with something. */
		{
			const int keep = npt_is_exported(t, level, i);
			uint64_t cpa = npt_pte_addr(f, pte);
			uint64_t *child = npt_virt(t, cpa);

			if (o->kind == OP_MAP && full && !keep)
				return NPT_ERR_ALREADY_MAPPED;
			if (!o->apply && level == 1 && (pte & f->full_bit)) {
				/* Every leaf below is present (full_bit): a map
				 * collides, and any other range is mapped. */
				if (o->kind == OP_MAP)
					return NPT_ERR_ALREADY_MAPPED;
				continue;
			}
			if (o->apply && o->kind == OP_UNMAP && full && !keep) {
				npt_pte_publish(&tbl[i], 0);
				npt_free_subtree(t, level - 1, cpa);
				note_flush(o, ebase, elast, level, NPT_FLUSH_TABLE);
				continue;
			}
			if (o->apply && level == 1 && o->kind == OP_PROTECT) {
				o->next_leaves = next_leaf_table(o, tbl, i, hi);
				o->leaf_run = (pte & f->full_bit) != 0;
			}
			err = op_level(o, level - 1, child, NULL, ebase, 0);
			o->next_leaves = NULL;
			o->leaf_run = 0;
			if (err)
				return err;
			if (o->apply && o->kind == OP_UNMAP && !keep && table_empty(f, child)) {
				/* Walk caches may hold the table entry: a table run. */
				npt_pte_publish(&tbl[i], 0);
				npt_frame_free(t, cpa);
				note_flush(o, ebase, elast, level, NPT_FLUSH_TABLE);
			} else if (o->apply && level == 1) {
				full_hint(o, &tbl[i], child, ebase);
			}
		}
	}
	return 0;
}

/* Runs a prepared operation: plan, allocate, apply. */
static int op_run(struct op *o)
{
	struct npt_table *t = o->t;
	unsigned root = npt_root_level(t);
	int err;

	npt_flush_begin(t);
	o->f = t->fmt;
	o->apply = 0;
	o->need = 0;
	o->cache = 0;
	o->changed = 0;
	o->building = 0;
	err = op_level(o, root, t->root, NULL, 0, 0);
	if (err)
		return err;
	err = cache_fill(o, o->need);
	if (err)
		return err;
	o->apply = 1;
	err = op_level(o, root, t->root, NULL, 0, 0);
	NPT_CHECK(t, !err && !o->cache);
	npt_flush_end(t, o->changed, o->flush_first, o->flush_last);
	return err;
}

/* Leaf bits for every level the call may write or rewrite. */
static int op_flags(struct op *o, unsigned flags, unsigned levels)
{
	const struct npt_format *f = o->t->fmt;
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

int npt_map_region(struct npt_table *t, uint64_t va, uint64_t pa, uint64_t size,
		   unsigned flags, unsigned opts)
{
	struct op o = { .t = t, .kind = OP_MAP };
	int err;

	if (!t || (opts & ~NPT_MAP_HUGE))
		return NPT_ERR_INVAL;
	err = npt_check_input(t, va, size, &o.first, &o.last);
	if (!err)
		err = npt_check_output(t->fmt, pa, size);
	if (err)
		return err;
	o.pa = pa;
	o.leaf_levels = (1u | opts << 1) & t->fmt->leaf_levels;
	err = op_flags(&o, flags, o.leaf_levels);
	return err ? err : op_run(&o);
}

int npt_map(struct npt_table *t, uint64_t va, uint64_t pa, uint64_t page_size, unsigned flags)
{
	struct op o = { .t = t, .kind = OP_MAP };
	unsigned level;
	int err;

	if (!t)
		return NPT_ERR_INVAL;
	err = leaf_level_of(t->fmt, page_size, &level);
	if (!err && ((va | pa) & (page_size - 1)))
		err = NPT_ERR_ALIGN;
	if (!err)
		err = npt_check_input(t, va, page_size, &o.first, &o.last);
	if (!err)
		err = npt_check_output(t->fmt, pa, page_size);
	if (err)
		return err;
	o.pa = pa;
	o.leaf_levels = 1u << level;
	err = op_flags(&o, flags, o.leaf_levels);
	return err ? err : op_run(&o);
}

int npt_unmap_region(struct npt_table *t, uint64_t va, uint64_t size)
{
	struct op o = { .t = t, .kind = OP_UNMAP, .drop_shares = 1 };
	int err;

	if (!t)
		return NPT_ERR_INVAL;
	err = npt_check_input(t, va, size, &o.first, &o.last);
	return err ? err : op_run(&o);
}

int npt_protect_region(struct npt_table *t, uint64_t va, uint64_t size, unsigned flags)
{
	struct op o = { .t = t, .kind = OP_PROTECT };
	int err;

	if (!t)
		return NPT_ERR_INVAL;
	err = npt_check_input(t, va, size, &o.first, &o.last);
	if (!err)
		err = op_flags(&o, flags, t->fmt->leaf_levels);
	return err ? err : op_run(&o);
}

/* The leaf that maps va, which must be its first page: its level and output
 * address. */
static int single_leaf(struct npt_table *t, uint64_t va, struct op *o, unsigned *level,
		       uint64_t *leaf_pa)
{
	struct npt_lookup l;
	uint64_t size;
	int err;

	err = npt_check_input(t, va, NPT_PAGE_SIZE, &o->first, &o->last);
	if (err)
		return err;
	err = npt_lookup(t, o->first, &l);
	if (err)
		return err;
	size = npt_level_size(l.level);
	if (o->first & (size - 1))
		return NPT_ERR_HUGE;
	o->last = o->first + size - 1;
	*level = l.level;
	*leaf_pa = npt_pte_addr(t->fmt, l.pte) & ~(size - 1);
	return 0;
}

int npt_unmap(struct npt_table *t, uint64_t va, uint64_t *pa, uint64_t *page_size)
{
	struct op o = { .t = t, .kind = OP_UNMAP };
	uint64_t out;
	unsigned level;
	int err;

	if (!t)
		return NPT_ERR_INVAL;
	err = single_leaf(t, va, &o, &level, &out);
	if (!err)
		err = op_run(&o);
	if (err)
		return err;
	if (pa)
		*pa = out;
	if (page_size)
		*page_size = npt_level_size(level);
	return 0;
}

int npt_protect(struct npt_table *t, uint64_t va, unsigned flags)
{
	struct op o = { .t = t, .kind = OP_PROTECT };
	uint64_t old_pa;
	unsigned level;
	int err;

	if (!t)
		return NPT_ERR_INVAL;
	err = single_leaf(t, va, &o, &level, &old_pa);
	if (!err)
		err = op_flags(&o, flags, 1u << level);
	return err ? err : op_run(&o);
}

int npt_remap(struct npt_table *t, uint64_t va, uint64_t pa, unsigned flags)
{
	struct op o = { .t = t, .kind = OP_REMAP };
	unsigned level;
	uint64_t size, old_pa;
	int err;

	if (!t)
		return NPT_ERR_INVAL;
	err = single_leaf(t, va, &o, &level, &old_pa);
	if (err)
		return err;
	size = npt_level_size(level);
	if (pa & (size - 1))
		return NPT_ERR_ALIGN;
	err = npt_check_output(t->fmt, pa, size);
	if (!err)
		err = op_flags(&o, flags, 1u << level);
	if (err)
		return err;
	o.pa = pa;
	return op_run(&o);
}
