/*
 * Dirty logging by write protection (npt_log_*), the scheme every
 * hypervisor falls back to when the hardware has no dirty bits to harvest:
 * writable leaves are write-protected and marked with the format's software
 * bit (sw_log_bit); the first write faults, and npt_log_write_fault makes
 * the page writable again. The leaf itself is the log: a marked leaf with
 * its write permission back was written since the last npt_log_harvest.
 *
 * A marked huge leaf is split on its first write fault so that later rounds
 * log 4 KiB pages: only along the path to the faulting page (a 1 GiB leaf
 * becomes 511 marked 2 MiB leaves and a table of 4 KiB leaves, 2 frames,
 * not the 513 of a full split; the other 2 MiB leaves split when written).
 * NPT_LOG_EAGER splits every huge leaf of the range down to 4 KiB up front.
 *
 * Calls that may split run like the range engine: a plan pass checks and
 * counts frames, the frames are allocated, and an apply pass that cannot
 * fail builds every new table completely before one store publishes it.
 */
#include "internal.h"

/* A leaf the caller mapped writable, in whatever state npt or the hardware
 * keeps it: write permission on, Arm writable-clean (DBM), or marked. */
static int log_writable(const struct npt_format *f, uint64_t pte)
{
	return npt_pte_writable(f, pte) || (pte & (f->dbm_bit | f->sw_log_bit));
}

/* The marked, write-protected form of a writable leaf. */
static uint64_t log_mark(const struct npt_format *f, uint64_t pte)
{
	return npt_pte_wrprotect(f, pte) | f->sw_log_bit;
}

/* ---- splitting a huge leaf ------------------------------------------------------ */

struct split {
	uint64_t first, last; /* input range the split serves */
	int eager;            /* split every child overlapping the range down to level 0 */
	int mark;             /* mark the writable leaves inside the range (npt_log_start) */
	uint64_t snap;        /* the huge leaf as read */
	uint64_t tmpl[NPT_MAX_LEVELS]; /* leaf bits (no address) of its children, per level */
};

struct lctx {
	struct npt_table *t;
	const struct npt_format *f;
	uint64_t first, last;
	int apply;
	int eager;
	uint64_t need;
	struct npt_prealloc cache;
	uint64_t *bitmap; /* npt_log_harvest */
	int (*leaf)(struct lctx *c, uint64_t *slot, unsigned level, uint64_t pte, uint64_t ebase);
};

/* Leaf bits of the children of the huge leaf pte at level: the same
 * translation attributes re-encoded per level, the state npt and the
 * hardware keep in the leaf (accessed/dirty, write permission, DBM, the log
 * mark) carried over as it is. */
static int split_templates(const struct npt_format *f, unsigned level, uint64_t pte,
			   struct split *s)
{
	const uint64_t carry = f->accessed_bit | f->dirty_bit | f->dbm_bit | f->sw_log_bit |
			       f->w_set | f->w_clear;
	unsigned flags = f->decode(f, level, pte) & ~(NPT_A | NPT_D);
	unsigned l;
	int err;

	s->snap = pte;
	for (l = 0; l < level; l++) {
		uint64_t bits;

		if (!(f->leaf_levels >> l & 1)) /* level 0 always allows leaves */
			continue;
		err = f->encode(f, l, flags, &bits);
		if (err)
			return err;
		s->tmpl[l] = (bits & ~carry) | (pte & carry);
	}
	return 0;
}

static int overlaps(const struct split *s, uint64_t base, uint64_t last)
{
	return base <= s->last && last >= s->first;
}

static int inside(const struct split *s, uint64_t base, uint64_t last)
{
	return s->first <= base && last <= s->last;
}

/* Whether the child leaf at level (covering [base, last]) becomes a table. */
static int split_child(const struct npt_format *f, const struct split *s, unsigned level,
		       uint64_t base, uint64_t last)
{
	if (level == 0 || !overlaps(s, base, last))
		return 0;
	if (s->mark && !log_writable(f, s->snap))
		return 0; /* read-only: nothing to log, nothing to split */
	/* A level with no leaves of its own (none in npt's formats today)
	 * must be a table. */
	if (!(f->leaf_levels >> level & 1))
		return 1;
	return s->eager || !inside(s, base, last);
}

/* Frames a split of the leaf at level (covering from base) takes: its table
 * plus the tables of the children that split. */
static uint64_t split_frames(const struct npt_format *f, const struct split *s, unsigned level,
			     uint64_t base)
{
	const uint64_t esz = npt_level_size(level - 1);
	uint64_t n = 1, full = 0;
	unsigned i, l;

	/* A child split down to level 0 whole: (512^k - 1) / 511 tables. */
	for (l = 0; l + 1 < level; l++)
		full = full * NPT_ENTRIES + 1;
	for (i = 0; i < NPT_ENTRIES; i++) {
		uint64_t cb = base + (uint64_t)i * esz, cl = cb + esz - 1;

		if (!split_child(f, s, level - 1, cb, cl))
			continue;
		if (s->eager && inside(s, cb, cl) && (f->leaf_levels >> (level - 1) & 1))
			n += full;
		else
			n += split_frames(f, s, level - 1, cb);
	}
	return n;
}

/* Builds the table that replaces the leaf at level (output address pa,
 * input base); returns its address. Nothing is reachable from the live table
 * until the caller publishes it. */
static uint64_t split_build(struct lctx *c, const struct split *s, unsigned level, uint64_t pa,
			    uint64_t base)
{
	const struct npt_format *f = c->f;
	const unsigned cl = level - 1;
	const uint64_t esz = npt_level_size(cl);
	const uint64_t tpa = npt_prealloc_take(c->t, &c->cache);
	uint64_t *tbl = npt_virt(c->t, tpa);
	unsigned i;

	for (i = 0; i < NPT_ENTRIES; i++) {
		const uint64_t cb = base + (uint64_t)i * esz, cpa = pa + (uint64_t)i * esz;
		uint64_t pte;

		if (split_child(f, s, cl, cb, cb + esz - 1)) {
			/* (a split is one full run: full_bit at level 1) */
			pte = npt_table_pte(f, split_build(c, s, cl, cpa, cb), cl, 1);
		} else {
			pte = s->tmpl[cl] | npt_addr_bits(f, cpa);
			if (s->mark && inside(s, cb, cb + esz - 1) && log_writable(f, pte))
				pte = log_mark(f, pte);
		}
		tbl[i] = pte;
	}
	return tpa;
}

/* The hardware may have set accessed/dirty state (or, on Arm, granted a DBM
 * write) in the huge leaf between the read the split was built from and
 * the exchange that replaced it: carry that into the new leaves, as the
 * hardware would have had it been set a moment later. Leaves the split
 * marked for the log take only the accessed bit (they start clean). */
static void split_fixup(struct lctx *c, const struct split *s, unsigned level, uint64_t tpa,
			uint64_t set, uint64_t clear)
{
	const struct npt_format *f = c->f;
	uint64_t *tbl = npt_virt(c->t, tpa);
	unsigned i;

	for (i = 0; i < NPT_ENTRIES; i++) {
		uint64_t pte = npt_pte_get(&tbl[i]);

		if (!npt_pte_leaf(f, level - 1, pte)) {
			split_fixup(c, s, level - 1, npt_pte_addr(f, pte), set, clear);
			continue;
		}
		if ((pte & f->sw_log_bit) && !(s->snap & f->sw_log_bit))
			npt_pte_update(&tbl[i], 0, set & f->accessed_bit);
		else
			npt_pte_update(&tbl[i], clear, set);
	}
}

/* Replaces the huge leaf at *slot (level, input base) by its split. The
 * apply pass must have the frames in c->cache. */
static int split_leaf(struct lctx *c, struct split *s, uint64_t *slot, unsigned level,
		      uint64_t pte, uint64_t base)
{
	const struct npt_format *f = c->f;
	uint64_t tpa, final, hw;
	int err;

	err = split_templates(f, level, pte, s);
	if (err)
		return err;
	if (!c->apply) {
		c->need += split_frames(f, s, level, base);
		return 0;
	}
	tpa = split_build(c, s, level, npt_pte_addr(f, pte) & ~(npt_level_size(level) - 1), base);
	final = npt_entry_replace(c->t, slot, pte,
				  npt_table_pte(f, tpa, level, 1), level, base);
	/* Bits the hardware manages: A, D, and the write permission of a DBM
	 * leaf. */
	hw = f->accessed_bit | f->dirty_bit;
	if (pte & f->dbm_bit)
		hw |= f->w_set | f->w_clear;
	if ((final ^ pte) & hw)
		split_fixup(c, s, level, tpa, final & ~pte & hw, pte & ~final & hw);
	return 0;
}

/* ---- the walk ---------------------------------------------------------------------- */

static int log_level(struct lctx *c, unsigned level, uint64_t *tbl, uint64_t base)
{
	const struct npt_format *f = c->f;
	const uint64_t esz = npt_level_size(level);
	unsigned i, lo, hi;
	int err;

	npt_slice(c->t, level, base, c->first, c->last, &lo, &hi);
	for (i = lo; i <= hi; i++) {
		const uint64_t ebase = base + (uint64_t)i * esz;
		uint64_t pte = npt_pte_get(&tbl[i]);

		if (!npt_pte_present(f, pte))
			continue;
		if (!npt_pte_leaf(f, level, pte)) {
			/* The plan has nothing to count or check in 4 KiB leaves. */
			if (level == 1 && !c->apply)
				continue;
			err = log_level(c, level - 1, npt_virt(c->t, npt_pte_addr(f, pte)), ebase);
			if (err)
				return err;
			continue;
		}
		err = c->leaf(c, &tbl[i], level, pte, ebase);
		if (err)
			return err;
	}
	return 0;
}

/* Plan, allocate, apply; the flush record covers the apply pass. */
static int log_run(struct lctx *c)
{
	int err;

	if (npt_range_shared(c->t, c->first, c->last))
		return NPT_ERR_SHARED;
	c->apply = 0;
	c->need = 0;
	c->cache.head = 0;
	err = log_level(c, npt_root_level(c->t), c->t->root, 0);
	if (err)
		return err;
	err = npt_prealloc_fill(c->t, &c->cache, c->need);
	if (err)
		return err;
	npt_flush_begin(c->t);
	c->apply = 1;
	err = log_level(c, npt_root_level(c->t), c->t->root, 0);
	npt_flush_end(c->t, 0, 0, 0);
	return err;
}

static int log_init(struct lctx *c, struct npt_table *t, uint64_t va, uint64_t size)
{
	npt_memset(c, 0, sizeof(*c));
	if (!t)
		return NPT_ERR_INVAL;
	c->t = t;
	c->f = t->fmt;
	if (!c->f->sw_log_bit || !(c->f->w_set | c->f->w_clear))
		return NPT_ERR_UNSUPPORTED;
	return npt_check_input(t, va, size, &c->first, &c->last);
}

/* The leaf holding ia, its slot and level; NULL if none. */
static uint64_t *leaf_slot(const struct npt_table *t, uint64_t ia, unsigned *level,
			   uint64_t *pte)
{
	const struct npt_format *f = t->fmt;
	unsigned l = npt_root_level(t);
	uint64_t *slot = &t->root[(ia >> npt_level_shift(l)) & (t->root_entries - 1)];

	for (;;) {
		uint64_t e = npt_pte_get(slot);

		if (!npt_pte_present(f, e))
			return NULL;
		if (npt_pte_leaf(f, l, e)) {
			*level = l;
			*pte = e;
			return slot;
		}
		l--;
		slot = &((uint64_t *)npt_virt(t, npt_pte_addr(f, e)))[(ia >> npt_level_shift(l)) &
									(NPT_ENTRIES - 1)];
	}
}

/* A marked huge leaf reaching outside [first, last] at either end, whose
 * state the call would change for pages outside the range (only_dirty: only
 * if its write permission is back). */
static int marked_partial(const struct lctx *c, uint64_t ia, int only_dirty)
{
	unsigned level;
	uint64_t pte, base;

	if (!leaf_slot(c->t, ia, &level, &pte) || !(pte & c->f->sw_log_bit))
		return 0;
	if (only_dirty && !npt_pte_writable(c->f, pte))
		return 0;
	base = ia & ~(npt_level_size(level) - 1);
	return base < c->first || base + (npt_level_size(level) - 1) > c->last;
}

/* ---- npt_log_start ----------------------------------------------------------------- */

static int start_leaf(struct lctx *c, uint64_t *slot, unsigned level, uint64_t pte,
		      uint64_t ebase)
{
	const struct npt_format *f = c->f;
	const uint64_t elast = ebase + (npt_level_size(level) - 1);
	struct split s;

	if (!log_writable(f, pte))
		return 0; /* read-only: a write to it is the caller's fault to handle */
	if (level == 0 || (!c->eager && c->first <= ebase && elast <= c->last)) {
		if (c->apply) {
			uint64_t old = npt_pte_update(slot, f->w_set | f->dirty_bit | f->dbm_bit,
						      f->w_clear | f->sw_log_bit);
			if (old != log_mark(f, old))
				npt_flush_note(c->t, ebase, elast, level, 0);
		}
		return 0;
	}
	npt_memset(&s, 0, sizeof(s));
	s.first = c->first;
	s.last = c->last;
	s.eager = c->eager;
	s.mark = 1;
	return split_leaf(c, &s, slot, level, pte, ebase);
}

int npt_log_start(struct npt_table *t, uint64_t va, uint64_t size, unsigned mode)
{
	struct lctx c;
	int err;

	err = log_init(&c, t, va, size);
	if (err)
		return err;
	if (mode & ~NPT_LOG_EAGER)
		return NPT_ERR_INVAL;
	c.eager = (mode & NPT_LOG_EAGER) != 0;
	c.leaf = start_leaf;
	return log_run(&c);
}

/* ---- npt_log_harvest ----------------------------------------------------------------- */

static void set_bits(uint64_t *bm, uint64_t lo, uint64_t hi)
{
	for (; lo <= hi && lo % 64; lo++)
		bm[lo / 64] |= 1ull << (lo % 64);
	for (; lo + 63 <= hi; lo += 64)
		bm[lo / 64] = ~0ull;
	for (; lo <= hi; lo++)
		bm[lo / 64] |= 1ull << (lo % 64);
}

static int harvest_leaf(struct lctx *c, uint64_t *slot, unsigned level, uint64_t pte,
			uint64_t ebase)
{
	const struct npt_format *f = c->f;
	const uint64_t elast = ebase + (npt_level_size(level) - 1);
	uint64_t old, a, b;

	if (!(pte & f->sw_log_bit) || !npt_pte_writable(f, pte))
		return 0;
	old = npt_pte_update(slot, f->w_set | f->dirty_bit | f->dbm_bit, f->w_clear);
	if (!npt_pte_writable(f, old))
		return 0;
	a = ebase > c->first ? ebase : c->first;
	b = elast < c->last ? elast : c->last;
	set_bits(c->bitmap, (a - c->first) >> NPT_PAGE_SHIFT, (b - c->first) >> NPT_PAGE_SHIFT);
	npt_flush_note(c->t, ebase, elast, level, 0);
	return 0;
}

int npt_log_harvest(struct npt_table *t, uint64_t va, uint64_t size, uint64_t *bitmap)
{
	struct lctx c;
	int err;

	err = log_init(&c, t, va, size);
	if (err)
		return err;
	if (!bitmap)
		return NPT_ERR_INVAL;
	if (npt_range_shared(t, c.first, c.last))
		return NPT_ERR_SHARED;
	if (marked_partial(&c, c.first, 1) || marked_partial(&c, c.last, 1))
		return NPT_ERR_HUGE;
	npt_memset(bitmap, 0, (size_t)((size / NPT_PAGE_SIZE + 63) / 64) * sizeof(*bitmap));
	c.bitmap = bitmap;
	c.leaf = harvest_leaf;
	c.apply = 1;
	npt_flush_begin(t);
	err = log_level(&c, npt_root_level(t), t->root, 0);
	npt_flush_end(t, 0, 0, 0);
	return err;
}

/* ---- npt_log_stop ---------------------------------------------------------------------- */

static int stop_leaf(struct lctx *c, uint64_t *slot, unsigned level, uint64_t pte,
		     uint64_t ebase)
{
	const struct npt_format *f = c->f;

	if (!(pte & f->sw_log_bit))
		return 0;
	/* Writable again, with the accessed/dirty bits npt presets on every
	 * leaf (hardware without A/D management would fault on them). */
	npt_pte_update(slot, f->sw_log_bit | f->w_clear, f->w_set | f->ad_preset);
	if (!npt_pte_writable(f, pte))
		npt_flush_note(c->t, ebase, ebase + (npt_level_size(level) - 1), level, 0);
	return 0;
}

int npt_log_stop(struct npt_table *t, uint64_t va, uint64_t size)
{
	struct lctx c;
	int err;

	err = log_init(&c, t, va, size);
	if (err)
		return err;
	if (npt_range_shared(t, c.first, c.last))
		return NPT_ERR_SHARED;
	if (marked_partial(&c, c.first, 0) || marked_partial(&c, c.last, 0))
		return NPT_ERR_HUGE;
	c.leaf = stop_leaf;
	c.apply = 1;
	npt_flush_begin(t);
	err = log_level(&c, npt_root_level(t), t->root, 0);
	npt_flush_end(t, 0, 0, 0);
	return err;
}

/* ---- faults ---------------------------------------------------------------------------- */

int npt_log_write_fault(struct npt_table *t, uint64_t va)
{
	return npt_log_write_fault_info(t, va, NULL);
}

int npt_log_write_fault_info(struct npt_table *t, uint64_t va, struct npt_log_fault *out)
{
	const struct npt_format *f;
	unsigned did = 0;
	struct lctx c;
	struct split s;
	uint64_t *slot, pte, page, base;
	unsigned level;
	int err;

	err = log_init(&c, t, va & ~(NPT_PAGE_SIZE - 1), NPT_PAGE_SIZE);
	if (err)
		return err;
	f = t->fmt;
	page = c.first;
	if (npt_range_shared(t, page, page))
		return NPT_ERR_SHARED;
	slot = leaf_slot(t, page, &level, &pte);
	if (!slot)
		return NPT_ERR_NOT_MAPPED;
	base = page & ~(npt_level_size(level) - 1);

	if ((pte & f->sw_log_bit) && !npt_pte_writable(f, pte) && level > 0) {
		/* A marked huge leaf: split along the path to the page, every new
		 * leaf still marked, then give the page its write permission
		 * back in the new table (never a page size and a permission in
		 * one store: SDM vol. 3A §4.10.4.2). */
		npt_memset(&s, 0, sizeof(s));
		s.first = page;
		s.last = page + NPT_PAGE_SIZE - 1;
		err = split_leaf(&c, &s, slot, level, pte, base);
		if (!err)
			err = npt_prealloc_fill(t, &c.cache, c.need);
		if (err)
			return err;
		npt_flush_begin(t);
		c.apply = 1;
		split_leaf(&c, &s, slot, level, pte, base);
		slot = leaf_slot(t, page, &level, &pte);
		base = page;
		did = NPT_LOG_SPLIT;
	} else {
		if (npt_pte_writable(f, pte) && (!f->dirty_bit || (pte & f->dirty_bit))) {
			/* resolved already (another vCPU, or a stale TLB entry) */
			if (out) {
				out->did = 0;
				out->page_size = npt_level_size(level);
			}
			return 0;
		}
		if (!log_writable(f, pte))
			return NPT_ERR_PERM;
		npt_flush_begin(t);
	}
	/* A logged page, an Arm writable-clean leaf (hardware without dirty
	 * state management faults on it) or a writable leaf whose dirty bit a
	 * harvest cleared (RISC-V without Svadu): the write may go, and the
	 * leaf records it. */
	npt_pte_update(slot, f->w_clear, f->w_set | f->accessed_bit | f->dirty_bit);
	npt_flush_note(t, base, base + (npt_level_size(level) - 1), level, 0);
	npt_flush_end(t, 0, 0, 0);
	if (out) {
		out->did = did | NPT_LOG_GRANTED;
		out->page_size = npt_level_size(level);
	}
	return 0;
}

int npt_log_access_fault(struct npt_table *t, uint64_t va)
{
	uint64_t first, last, pte, *slot;
	unsigned level;
	int err;

	if (!t)
		return NPT_ERR_INVAL;
	err = npt_check_input(t, va & ~(NPT_PAGE_SIZE - 1), NPT_PAGE_SIZE, &first, &last);
	if (err)
		return err;
	if (!t->fmt->accessed_bit)
		return NPT_ERR_UNSUPPORTED;
	if (npt_range_shared(t, first, last))
		return NPT_ERR_SHARED;
	slot = leaf_slot(t, first, &level, &pte);
	if (!slot)
		return NPT_ERR_NOT_MAPPED;
	/* No flush: a TLB never holds a translation whose accessed bit is
	 * clear, the access that faulted loads the new one. */
	__atomic_fetch_or(slot, t->fmt->accessed_bit, __ATOMIC_RELAXED);
	return 0;
}
