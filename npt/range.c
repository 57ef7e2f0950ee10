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
#include <assert.h>
#include <string.h>

#include "internal.h"

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
	int changed;               /* apply: a present entry changed: TLB flush needed */
	uint64_t flush_first, flush_last;
};

static inline void publish(uint64_t *slot, uint64_t pte)
{
	__atomic_store_n(slot, pte, __ATOMIC_RELEASE);
}

static void note_flush(struct op *o, uint64_t first, uint64_t last)
{
	if (!o->changed || first < o->flush_first)
		o->flush_first = first;
	if (!o->changed || last > o->flush_last)
		o->flush_last = last;
	o->changed = 1;
}

/* Frames preallocated by the plan, linked through their first word. Physical
 * address 0 may be a valid frame, so links are stored with bit 0 set and the
 * empty list is 0. */
static uint64_t cache_take(struct op *o)
{
	uint64_t pa = o->cache & ~1ull;

	assert(o->cache);
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
		*(uint64_t *)npt_virt(o->t, pa) = o->cache;
		o->cache = pa | 1;
	}
	return 0;
}

static uint64_t table_entry(const struct op *o, uint64_t pa)
{
	return o->f->table_bits | npt_addr_bits(o->f, pa);
}

/* The split of a huge leaf at `level` into leaves one level down: same
 * output range, same flags (re-encoded for the lower level). */
static int make_split(const struct op *o, unsigned level, uint64_t pte, struct vtable *v)
{
	const struct npt_format *f = o->f;
	unsigned flags = f->decode(f, level, pte);

	v->split = 1;
	v->pa = npt_pte_addr(f, pte) & ~(npt_level_size(level) - 1);
	return f->encode(f, level - 1, flags, &v->tmpl);
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

/* Level 0: tight loops over a run of entries, one per kind. */
static int op_leaves(struct op *o, uint64_t *tbl, const struct vtable *v, uint64_t base,
		     unsigned lo, unsigned hi)
{
	const struct npt_format *f = o->f;
	const uint64_t present = f->present_mask, amask = f->addr_mask;
	const uint64_t step = NPT_PAGE_SIZE >> f->addr_shift;
	const uint64_t first = base + (uint64_t)lo * NPT_PAGE_SIZE;
	const uint64_t last = base + (uint64_t)hi * NPT_PAGE_SIZE + NPT_PAGE_SIZE - 1;
	uint64_t bits;
	unsigned i;
	int changed = 0;

	if (!o->apply) {
		if (o->kind == OP_MAP) {
			for (i = lo; tbl && i <= hi; i++)
				if (tbl[i] & present)
					return NPT_ERR_ALREADY_MAPPED;
			return 0;
		}
		if (!tbl)
			return v->split ? 0 : NPT_ERR_NOT_MAPPED;
		for (i = lo; i <= hi; i++)
			if (!(tbl[i] & present))
				return NPT_ERR_NOT_MAPPED;
		return 0;
	}

	switch (o->kind) {
	case OP_MAP:
		bits = o->tmpl[0] | npt_addr_bits(f, o->pa + (first - o->first));
		for (i = lo; i <= hi; i++, bits += step)
			tbl[i] = bits;
		break;
	case OP_REMAP:
		tbl[lo] = o->tmpl[0] | npt_addr_bits(f, o->pa);
		changed = 1;
		break;
	case OP_UNMAP:
		memset(&tbl[lo], 0, (size_t)(hi - lo + 1) * sizeof(*tbl));
		changed = 1;
		break;
	case OP_PROTECT:
		for (i = lo; i <= hi; i++) {
			uint64_t pte = o->tmpl[0] | (tbl[i] & amask);
			if (pte != tbl[i]) {
				tbl[i] = pte;
				changed = 1;
			}
		}
		break;
	}
	if (changed)
		note_flush(o, first, last);
	return 0;
}

static int op_level(struct op *o, unsigned level, uint64_t *tbl, const struct vtable *v,
		    uint64_t base, int fresh);

/* Descends into a table that is created or split by this call. */
static int op_new_child(struct op *o, unsigned level, uint64_t *slot, uint64_t ebase,
			const struct vtable *v)
{
	uint64_t pa;
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
	err = op_level(o, level - 1, child, NULL, ebase, !v->split);
	assert(!err);
	publish(slot, table_entry(o, pa));
	return err;
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
		memset(tbl, 0, lo * sizeof(*tbl));
		memset(&tbl[hi + 1], 0, (NPT_ENTRIES - hi - 1) * sizeof(*tbl));
	}
	if (level == 0)
		return op_leaves(o, tbl, v, base, lo, hi);

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
					tbl[i] = o->tmpl[level] | npt_addr_bits(f, pa);
				continue;
			}
			sub.split = 0;
			err = op_new_child(o, level, tbl ? &tbl[i] : NULL, ebase, &sub);
			if (err)
				return err;
			continue;
		}

		if (npt_is_shared(t, level, i)) {
			/* Only a whole shared entry may be dropped, and only by unmap. */
			if (o->kind != OP_UNMAP || !full)
				return NPT_ERR_SHARED;
			if (o->apply) {
				tbl[i] = 0;
				t->shared[i / 64] &= ~(1ull << (i % 64));
				note_flush(o, ebase, elast);
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
				if (o->apply) {
					publish(&tbl[i], npte);
					note_flush(o, ebase, elast);
				}
				continue;
			}
			/* A huge leaf only partly covered: split it one level down. */
			err = make_split(o, level, pte, &sub);
			if (err)
				return err;
			err = op_new_child(o, level, tbl ? &tbl[i] : NULL, ebase, &sub);
			if (err)
				return err;
			if (o->apply)
				note_flush(o, ebase, elast);
			continue;
		}

		/* A table. Tables are never left empty, so mapping over a whole one
		 * always collides with something. */
		if (o->kind == OP_MAP && full)
			return NPT_ERR_ALREADY_MAPPED;
		{
			uint64_t cpa = npt_pte_addr(f, pte);
			uint64_t *child = npt_virt(t, cpa);

			if (o->apply && o->kind == OP_UNMAP && full) {
				publish(&tbl[i], 0);
				npt_free_subtree(t, level - 1, cpa);
				note_flush(o, ebase, elast);
				continue;
			}
			err = op_level(o, level - 1, child, NULL, ebase, 0);
			if (err)
				return err;
			if (o->apply && o->kind == OP_UNMAP && table_empty(f, child)) {
				publish(&tbl[i], 0);
				npt_frame_free(t, cpa);
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
	err = op_level(o, root, t->root, NULL, 0, 0);
	if (err)
		return err;
	err = cache_fill(o, o->need);
	if (err)
		return err;
	o->apply = 1;
	err = op_level(o, root, t->root, NULL, 0, 0);
	assert(!err && !o->cache);
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
	struct op o = { .t = t, .kind = OP_UNMAP };
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

/* The leaf that maps va, which must be its first page. */
static int single_leaf(struct npt_table *t, uint64_t va, struct op *o, unsigned *level)
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
	err = single_leaf(t, va, &o, &level);
	if (err)
		return err;
	err = npt_query(t, va, &out, NULL, NULL);
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
	unsigned level;
	int err;

	if (!t)
		return NPT_ERR_INVAL;
	err = single_leaf(t, va, &o, &level);
	if (!err)
		err = op_flags(&o, flags, 1u << level);
	return err ? err : op_run(&o);
}

int npt_remap(struct npt_table *t, uint64_t va, uint64_t pa, unsigned flags)
{
	struct op o = { .t = t, .kind = OP_REMAP };
	unsigned level;
	uint64_t size;
	int err;

	if (!t)
		return NPT_ERR_INVAL;
	err = single_leaf(t, va, &o, &level);
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
