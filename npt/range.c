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
	int building;              /* apply: inside a table not published yet */
	int drop_shares;           /* UNMAP: a whole shared root entry is dropped, not refused */
	uint64_t flush_first, flush_last;
};

static inline void publish(uint64_t *slot, uint64_t pte)
{
	__atomic_store_n(slot, pte, __ATOMIC_RELEASE);
}

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

/* ---- run kernels ------------------------------------------------------------
 * The loops over a run of entries of one table, where range operations spend
 * their time. Written with GNU vector extensions (two entries per vector, four
 * vectors per cache line, independent of one another): a scalar loop is held
 * to about one entry per cycle by its single dependency chain, a quarter of
 * what the stores and loads can do (see `ninja bench`). Vector stores go only
 * to tables no reader can see yet (fresh tables, published afterwards); an
 * entry readers may see is written with one atomic 64-bit store
 * (npt_pte_set, internal.h). Tables may be 8-byte aligned only in virtual
 * memory (phys_to_virt promises no more), hence aligned(8). */
#if defined(__GNUC__)
#define NPT_VEC 1
typedef uint64_t v2u64 __attribute__((vector_size(16), aligned(8), may_alias));
#define V2(x) ((v2u64){ (x), (x) })
#endif

/* tbl[lo..hi] = bits | (addr + k * step) for k = 0, 1, ...: a run of leaves
 * of consecutive output addresses (addr and step already in entry bits; the
 * addresses stay inside amask, the format's address field), in a table no
 * reader can see yet. */
static void fill_run(uint64_t *tbl, unsigned lo, unsigned hi, uint64_t bits, uint64_t addr,
		     uint64_t step, uint64_t amask)
{
	uint64_t *p = &tbl[lo];
	uint64_t *const end = &tbl[hi] + 1;

#ifdef NPT_VEC
	/* Leaf bits outside the address field (every format's encoding): then
	 * bits | addr == bits + addr, and the entries themselves can be stepped. */
	if (!(bits & amask) && end - p >= 16) {
		uint64_t pte = bits | addr;

		for (; (uintptr_t)p & 63; p++, pte += step)
			*p = pte;
		{
			const v2u64 s8 = V2(8 * step);
			v2u64 a0 = { pte, pte + step };
			v2u64 a1 = a0 + V2(2 * step), a2 = a0 + V2(4 * step), a3 = a0 + V2(6 * step);

			for (; end - p >= 8; p += 8) {
				((v2u64 *)p)[0] = a0;
				((v2u64 *)p)[1] = a1;
				((v2u64 *)p)[2] = a2;
				((v2u64 *)p)[3] = a3;
				a0 += s8, a1 += s8, a2 += s8, a3 += s8;
			}
			addr = a0[0] & ~bits;
		}
	}
#else
	(void)amask;
#endif
	for (; p < end; p++, addr += step)
		*p = bits | addr;
}

/* The two entries at p[k], p[k + 1] as one vector. */
#define V2AT(p, k) (*(const v2u64 *)((p) + (k)))

/* 1 if every entry of tbl[lo..hi] is present. */
static int run_all_present(const struct npt_format *f, const uint64_t *tbl, unsigned lo,
			   unsigned hi)
{
	const uint64_t m = f->present_mask;
	const uint64_t *p = &tbl[lo], *const end = &tbl[hi] + 1;

#ifdef NPT_VEC
	if (end - p >= 16) {
		/* A present bit set in the AND of all entries is set in each: then
		 * all are present (one operation per two entries). With a single
		 * present bit that is also the only way; with several (EPT's R, W,
		 * X) an entry may use another, so a miss is decided exactly below. */
		const uint64_t *const start = p;
		v2u64 all = V2(~0ull);

		for (; end - p >= 8; p += 8)
			all &= V2AT(p, 0) & V2AT(p, 2) & V2AT(p, 4) & V2AT(p, 6);
		if (!(all[0] & all[1] & m)) {
			if (!(m & (m - 1)))
				return 0;
			p = start;
			if (!(m >> 63)) {
				/* x = entry & m < 2^63: x - 1 has bit 63 set iff x == 0. */
				const v2u64 vm = V2(m), one = V2(1);
				v2u64 acc = V2(0);

				for (; end - p >= 8; p += 8)
					acc |= ((V2AT(p, 0) & vm) - one) | ((V2AT(p, 2) & vm) - one) |
					       ((V2AT(p, 4) & vm) - one) | ((V2AT(p, 6) & vm) - one);
				if ((acc[0] | acc[1]) >> 63)
					return 0;
			} else {
				/* x | -x has bit 63 set iff x != 0, for any x. */
				const v2u64 vm = V2(m), zero = V2(0);
				v2u64 acc = V2(~0ull), x0, x1, x2, x3;

				for (; end - p >= 8; p += 8) {
					x0 = V2AT(p, 0) & vm;
					x1 = V2AT(p, 2) & vm;
					x2 = V2AT(p, 4) & vm;
					x3 = V2AT(p, 6) & vm;
					acc &= (x0 | (zero - x0)) & (x1 | (zero - x1)) &
					       (x2 | (zero - x2)) & (x3 | (zero - x3));
				}
				if (!(acc[0] & acc[1] & (1ull << 63)))
					return 0;
			}
		}
	}
#endif
	for (; p < end; p++)
		if (!(*p & m))
			return 0;
	return 1;
}

/* 1 if any entry of tbl[lo..hi] is present. */
static int run_any_present(const struct npt_format *f, const uint64_t *tbl, unsigned lo,
			   unsigned hi)
{
	const uint64_t m = f->present_mask;
	const uint64_t *p = &tbl[lo], *const end = &tbl[hi] + 1;

#ifdef NPT_VEC
	if (end - p >= 16) {
		v2u64 acc = V2(0);

		for (; end - p >= 8; p += 8)
			acc |= V2AT(p, 0) | V2AT(p, 2) | V2AT(p, 4) | V2AT(p, 6);
		if ((acc[0] | acc[1]) & m)
			return 1;
	}
#endif
	for (; p < end; p++)
		if (*p & m)
			return 1;
	return 0;
}

/* tbl[i] = bits | (tbl[i] & amask) for i in [i, end), writing only the
 * entries that change (an unchanged entry is never stored to, so an A/D bit
 * the hardware sets in it meanwhile stays). Returns 1 if any entry changed. */
static int protect_entries(uint64_t *tbl, unsigned i, unsigned end, uint64_t bits,
			   uint64_t amask)
{
	int changed = 0;

	for (; i < end; i++) {
		uint64_t pte = bits | (tbl[i] & amask);
		if (pte != tbl[i]) {
			npt_pte_set(&tbl[i], pte);
			changed = 1;
		}
	}
	return changed;
}

/* protect_entries over lo..hi, a cache line at a time where all of its
 * entries change (the usual case: a run of pages mapped alike). With no
 * address bit in bits, an entry changes iff entry ^ bits has a bit outside
 * the address; a bit outside the address set in the AND of entry ^ bits over
 * a line is set for every entry of it: all eight change (two operations per
 * two entries), each stored with one atomic 64-bit store. Otherwise the line
 * goes entry by entry. */
static int protect_run(uint64_t *tbl, unsigned lo, unsigned hi, uint64_t bits, uint64_t amask)
{
	uint64_t *p = &tbl[lo], *const end = &tbl[hi] + 1;
	int changed = 0;

#ifdef NPT_VEC
	if (!(bits & amask)) {
		const v2u64 vb = V2(bits), vm = V2(amask);

		for (; end - p >= 8; p += 8) {
			const v2u64 *v = (const v2u64 *)p;
			const v2u64 o0 = v[0], o1 = v[1], o2 = v[2], o3 = v[3];
			const v2u64 all = (o0 ^ vb) & (o1 ^ vb) & (o2 ^ vb) & (o3 ^ vb);
			v2u64 n0, n1, n2, n3;

			if (!(all[0] & all[1] & ~amask)) {
				changed |= protect_entries(p, 0, 8, bits, amask);
				continue;
			}
			n0 = (o0 & vm) | vb, n1 = (o1 & vm) | vb;
			n2 = (o2 & vm) | vb, n3 = (o3 & vm) | vb;
			npt_pte_set(&p[0], n0[0]), npt_pte_set(&p[1], n0[1]);
			npt_pte_set(&p[2], n1[0]), npt_pte_set(&p[3], n1[1]);
			npt_pte_set(&p[4], n2[0]), npt_pte_set(&p[5], n2[1]);
			npt_pte_set(&p[6], n3[0]), npt_pte_set(&p[7], n3[1]);
			changed = 1;
		}
	}
#endif
	return protect_entries(p, 0, (unsigned)(end - p), bits, amask) | changed;
}

static uint64_t table_entry(const struct op *o, uint64_t pa)
{
	return o->f->table_bits | npt_addr_bits(o->f, pa);
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
			return tbl && run_any_present(f, tbl, lo, hi) ? NPT_ERR_ALREADY_MAPPED : 0;
		if (!tbl)
			return v->split ? 0 : NPT_ERR_NOT_MAPPED;
		return run_all_present(f, tbl, lo, hi) ? 0 : NPT_ERR_NOT_MAPPED;
	}

	switch (o->kind) {
	case OP_MAP: {
		uint64_t addr = npt_addr_bits(f, o->pa + (first - o->first));
		unsigned i;

		if (fresh) {
			fill_run(tbl, lo, hi, o->tmpl[0], addr, step, f->addr_mask);
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
	case OP_UNMAP: {
		unsigned i;

		/* One atomic store per entry, never memset: a string store may
		 * write an entry a byte at a time under a walker's eyes. */
		for (i = lo; i <= hi; i++)
			npt_pte_set(&tbl[i], 0);
		changed = 1;
		break;
	}
	case OP_PROTECT:
		if (f->bbm && o->t->bbm_hook && !o->building)
			protect_bbm(o, tbl, base, lo, hi);
		else
			changed = protect_run(tbl, lo, hi, o->tmpl[0], amask);
		break;
	}
	if (changed)
		note_flush(o, first, last, 0, 0);
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
	o->building++;
	err = op_level(o, level - 1, child, NULL, ebase, !v->split);
	o->building--;
	assert(!err);
	if (v->split && !o->building)
		/* A huge leaf becomes a table: a block-size change, with
		 * break-before-make where the format needs it. */
		npt_entry_replace(o->t, slot, *slot, table_entry(o, pa), level, ebase);
	else
		publish(slot, table_entry(o, pa));
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
					fill_run(tbl, (unsigned)flo, (unsigned)fhi, o->tmpl[level],
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

					fill_run(npt_virt(o->t, pa), 0, NPT_ENTRIES - 1, o->tmpl[0],
						 npt_addr_bits(f, ebase + delta + (uint64_t)k * esz),
						 NPT_PAGE_SIZE >> f->addr_shift, f->addr_mask);
					publish(&tbl[flo + k], table_entry(o, pa));
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
		memset(tbl, 0, lo * sizeof(*tbl));
		memset(&tbl[hi + 1], 0, (NPT_ENTRIES - hi - 1) * sizeof(*tbl));
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
			if (o->apply && o->kind == OP_UNMAP && full && !keep) {
				publish(&tbl[i], 0);
				npt_free_subtree(t, level - 1, cpa);
				note_flush(o, ebase, elast, level, NPT_FLUSH_TABLE);
				continue;
			}
			err = op_level(o, level - 1, child, NULL, ebase, 0);
			if (err)
				return err;
			if (o->apply && o->kind == OP_UNMAP && !keep && table_empty(f, child)) {
				/* Walk caches may hold the table entry: a table run. */
				publish(&tbl[i], 0);
				npt_frame_free(t, cpa);
				note_flush(o, ebase, elast, level, NPT_FLUSH_TABLE);
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
