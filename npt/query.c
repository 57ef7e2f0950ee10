/*
 * Read-only paths: translation of one address and the visitor walk.
 *
 * The translation loop touches one entry per level and makes no indirect
 * call until the leaf is found: presence, leaf-ness and the next table's
 * address come from the format's masks, read once into locals.
 *
 * Both may run while another thread changes the table: each entry is read
 * once, with an acquire load (npt_pte_get), so a table reached through an
 * entry is seen as complete as it was when the entry was published.
 */
#include "internal.h"

int npt_lookup(const struct npt_table *t, uint64_t ia, struct npt_lookup *out)
{
	const struct npt_format *f = t->fmt;
	const uint64_t present = f->present_mask, leaf_mask = f->leaf_mask, leaf_xor = f->leaf_xor;
	const uint64_t addr_mask = f->addr_mask;
	const unsigned addr_shift = f->addr_shift;
	const int linear = (t->mm.flags & NPT_MM_LINEAR) != 0;
	unsigned level = npt_root_level(t);
	unsigned idx = (unsigned)(ia >> npt_level_shift(level)) & (t->root_entries - 1);
	const uint64_t *tbl;
	uint64_t pte = npt_pte_get(&t->root[idx]);

	out->root_idx = idx;
	for (;;) {
		uint64_t next;

		if (!(pte & present)) {
			out->level = level;
			out->pte = pte;
			return NPT_ERR_NOT_MAPPED;
		}
		if (level == 0 || ((pte ^ leaf_xor) & leaf_mask))
			break;
		level--;
		next = (pte & addr_mask) << addr_shift;
		tbl = linear ? (const uint64_t *)(uintptr_t)(next + t->mm.linear_offset)
			     : t->mm.phys_to_virt(t->mm.ctx, next);
		pte = npt_pte_get(&tbl[(ia >> npt_level_shift(level)) & (NPT_ENTRIES - 1)]);
	}
	out->level = level;
	out->pte = pte;
	return 0;
}

/* The page holding va is in range: the check npt_check_input makes of one
 * page comes down to va's top bits. */
static inline int va_in_range(const struct npt_format *f, uint64_t va)
{
	if (f->canonical) {
		const unsigned s = 64u - f->va_bits;

		return (uint64_t)((int64_t)(va << s) >> s) == va;
	}
	return !(va >> f->va_bits);
}

/* npt_query for every case: any allocator, flags decoded. */
static int query_general(const struct npt_table *t, uint64_t va, uint64_t *pa, unsigned *flags,
			 uint64_t *page_size)
{
	const struct npt_format *f;
	struct npt_lookup l;
	uint64_t size;
	int err;

	if (!t)
		return NPT_ERR_INVAL;
	f = t->fmt;
	if (!va_in_range(f, va))
		return NPT_ERR_RANGE;
	err = npt_lookup(t, va & t->ia_mask, &l);
	if (err)
		return err;
	size = npt_level_size(l.level);
	if (pa)
		*pa = (npt_pte_addr(f, l.pte) & ~(size - 1)) | (va & (size - 1));
	if (flags)
		*flags = f->decode(f, l.level, l.pte);
	if (page_size)
		*page_size = size;
	return 0;
}

#if defined(__GNUC__)
#define NPT_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define NPT_ALWAYS_INLINE inline
#endif

/* npt_query's common case: an NPT_MM_LINEAR allocator, no flags wanted, a
 * format whose address field is in place (addr_shift 0) and whose present and
 * leaf bits lie outside it. Compiled once per root level, so the walk is
 * unrolled with constant shifts; it makes no call, so it saves no registers.
 * One test per level: an entry whose present and leaf bits are those of the
 * format's table entries (table_bits) is a table, exactly as
 * npt_pte_present / npt_pte_leaf would say. Anything else -- a leaf, an empty
 * entry, a table entry written with other bits -- is classified exactly at
 * `other`, and what this path does not handle goes to query_general, which
 * makes the same checks and returns the same results. */
static NPT_ALWAYS_INLINE int query_linear(const struct npt_table *t, uint64_t va, uint64_t *pa,
					  uint64_t *page_size, const unsigned root)
{
	const uint64_t tmask = t->q.tmask, tval = t->q.tval, addr_mask = t->fmt->addr_mask;
	const uintptr_t off = t->mm.linear_offset;
	const uint64_t ia = va & t->ia_mask;
	const uint64_t *tbl;
	uint64_t pte, size;
	unsigned level;

	if ((va + t->q.range_add) >> t->q.range_shift)
		return NPT_ERR_RANGE;
	pte = npt_pte_get(&t->root[(ia >> npt_level_shift(root)) & (t->root_entries - 1)]);
#define NPT_STEP(L)                                                                  \
	do {                                                                         \
		if ((pte & tmask) != tval) {                                         \
			level = (L) + 1;                                             \
			goto other;                                                  \
		}                                                                    \
		tbl = (const uint64_t *)(uintptr_t)((pte & addr_mask) + off);        \
		pte = npt_pte_get(&tbl[(ia >> npt_level_shift(L)) & (NPT_ENTRIES - 1)]); \
	} while (0)

	if (root >= 4)
		NPT_STEP(3);
	if (root >= 3)
		NPT_STEP(2);
	if (root >= 2)
		NPT_STEP(1);
	NPT_STEP(0);
#undef NPT_STEP
	level = 0;
other:
	if (!npt_pte_present(t->fmt, pte))
		return NPT_ERR_NOT_MAPPED;
	if (!npt_pte_leaf(t->fmt, level, pte))
		return query_general(t, va, pa, NULL, page_size);
	size = npt_level_size(level);
	if (pa)
		*pa = (pte & addr_mask & ~(size - 1)) | (va & (size - 1));
	if (page_size)
		*page_size = size;
	return 0;
}

#define NPT_LIKELY(x) __builtin_expect(!!(x), 1)
#define NPT_UNLIKELY(x) __builtin_expect(!!(x), 0)

/* query_pa's leaf above level 0: exactly query_general's result for it. */
static __attribute__((noinline, cold)) int query_pa_huge(const struct npt_table *t, uint64_t va,
							 uint64_t *pa, unsigned level, uint64_t pte)
{
	const uint64_t size = npt_level_size(level);

	*pa = (npt_pte_addr(t->fmt, pte) & ~(size - 1)) | (va & (size - 1));
	return 0;
}

/* The byte offset of va's entry in a level-L table plus the allocator's
 * linear offset: worked out from va alone, beside the chain of loads. */
static NPT_ALWAYS_INLINE uintptr_t qp_offset(uint64_t va, unsigned level, uintptr_t off)
{
	uintptr_t o = (uintptr_t)((va >> (npt_level_shift(level) - 3)) &
				  ((NPT_ENTRIES - 1) * sizeof(uint64_t))) + off;

#if defined(__GNUC__)
	/* Kept whole, so that the table address takes one add in the load's
	 * addressing instead of two on the chain. */
	__asm__("" : "+r"(o));
#endif
	return o;
}

static NPT_ALWAYS_INLINE const uint64_t *qp_slot(uint64_t table_pa, uintptr_t offset)
{
	return (const uint64_t *)(const void *)((const char *)(uintptr_t)table_pa + offset);
}

/* npt_pte_leaf above level 0; a one-bit leaf_mask known at compile time
 * comes down to one bit test. */
static NPT_ALWAYS_INLINE int qp_leaf(uint64_t pte, uint64_t leaf_mask, uint64_t leaf_xor)
{
	if (__builtin_constant_p(leaf_mask) && __builtin_constant_p(leaf_xor) && leaf_mask &&
	    !(leaf_mask & (leaf_mask - 1)))
		return (leaf_xor & leaf_mask) ? !(pte & leaf_mask) : (pte & leaf_mask) != 0;
	return ((pte ^ leaf_xor) & leaf_mask) != 0;
}

/* The format facts a query_pa walk is compiled for. A shape whose fields are
 * constants gives a walk with every mask an immediate; the generic shape
 * reads them from t->q at run time. */
struct qshape {
	unsigned root;       /* root level */
	int generic;         /* the fields below are t->q's, not constants */
	unsigned va_bits;
	int canonical;
	uint64_t addr_mask, present, leaf_mask, leaf_xor;
};

/* npt_query(t, va, pa, NULL, NULL) with pa != NULL on a table with an
 * NPT_MM_LINEAR allocator and addr_shift 0: npt_lookup's walk (present?
 * leaf? else the next table) with one load per level and no call, the range
 * check of query_general and its root index from one shift. Leaves above
 * level 0 go out of line to query_pa_huge. */
static NPT_ALWAYS_INLINE int query_pa(const struct npt_table *t, uint64_t va, uint64_t *pa,
				      const struct qshape s)
{
	const uint64_t addr_mask = s.generic ? t->q.addr_mask : s.addr_mask;
	const uint64_t present = s.generic ? t->q.present : s.present;
	const uint64_t leaf_mask = s.generic ? t->q.leaf_mask : s.leaf_mask;
	const uint64_t leaf_xor = s.generic ? t->q.leaf_xor : s.leaf_xor;
	const uintptr_t off = t->q.off;
	const unsigned rs = npt_level_shift(s.root);
	uint64_t pte, idx;
	unsigned level;

	if (s.generic) {
		const uint64_t y = (va + t->q.range_add) >> rs;

		if (NPT_UNLIKELY(y >= t->q.root_entries))
			return NPT_ERR_RANGE;
		idx = y ^ t->q.root_flip;
	} else if (s.canonical) {
		/* va is canonical iff va >> rs, arithmetic, lies in
		 * [-entries/2, entries/2); its low bits are the root index */
		const uint64_t entries = 1ull << (s.va_bits - rs);
		const uint64_t r = (uint64_t)((int64_t)va >> rs);

		if (NPT_UNLIKELY(r + entries / 2 >= entries))
			return NPT_ERR_RANGE;
		idx = r & (entries - 1);
	} else {
		idx = va >> rs;
		if (NPT_UNLIKELY(idx >= 1ull << (s.va_bits - rs)))
			return NPT_ERR_RANGE;
	}
	pte = npt_pte_get(&t->q.root[idx]);
#define NPT_STEP(L)                                                                         \
	do {                                                                                \
		if (NPT_UNLIKELY(!(pte & present)))                                         \
			return NPT_ERR_NOT_MAPPED;                                          \
		if (NPT_UNLIKELY(qp_leaf(pte, leaf_mask, leaf_xor))) {                      \
			level = (L) + 1;                                                    \
			goto huge;                                                          \
		}                                                                           \
		pte = npt_pte_get(qp_slot(pte & addr_mask, qp_offset(va, L, off)));                          \
	} while (0)
	if (s.root >= 4)
		NPT_STEP(3);
	if (s.root >= 3)
		NPT_STEP(2);
	if (s.root >= 2)
		NPT_STEP(1);
	NPT_STEP(0);
#undef NPT_STEP
	/* A present level-0 entry is a leaf (npt_pte_leaf). */
	if (NPT_UNLIKELY(!(pte & present)))
		return NPT_ERR_NOT_MAPPED;
	*pa = (pte & addr_mask & ~(uint64_t)(NPT_PAGE_SIZE - 1)) | (va & (NPT_PAGE_SIZE - 1));
	return 0;
huge:
	return query_pa_huge(t, va, pa, level, pte);
}

#define QSHAPE_GENERIC(ROOT) ((struct qshape){ .root = (ROOT), .generic = 1 })

static int query_pa_g2(const struct npt_table *t, uint64_t va, uint64_t *pa)
{
	return query_pa(t, va, pa, QSHAPE_GENERIC(2));
}

static int query_pa_g3(const struct npt_table *t, uint64_t va, uint64_t *pa)
{
	return query_pa(t, va, pa, QSHAPE_GENERIC(3));
}

static int query_pa_g4(const struct npt_table *t, uint64_t va, uint64_t *pa)
{
	return query_pa(t, va, pa, QSHAPE_GENERIC(4));
}

/* Shapes of common formats, each matched field by field against the
 * table's format by npt_query_prepare (never by name). */
#define X86_ADDR 0x000ffffffffff000ull
#define ARM_ADDR 0x0000fffffffff000ull
#define QSHAPES(X)                                                           \
	X(x86_48c, 3, 48, 1, X86_ADDR, 0x1, 0x80, 0)  /* x86_64 */          \
	X(x86_48, 3, 48, 0, X86_ADDR, 0x1, 0x80, 0)   /* npt */             \
	X(ept_48, 3, 48, 0, X86_ADDR, 0x7, 0x80, 0)   /* ept */             \
	X(x86_57c, 4, 57, 1, X86_ADDR, 0x1, 0x80, 0)  /* x86_64-la57 */     \
	X(arm_48c, 3, 48, 1, ARM_ADDR, 0x1, 0x2, 0x2) /* aarch64 */         \
	X(arm_48, 3, 48, 0, ARM_ADDR, 0x1, 0x2, 0x2)  /* aarch64-s2-48 */   \
	X(arm_40, 2, 40, 0, ARM_ADDR, 0x1, 0x2, 0x2)  /* aarch64-s2 */

#define QSHAPE(ROOT, VA, CAN, AM, P, LM, LX)                                     \
	((struct qshape){ .root = (ROOT), .va_bits = (VA), .canonical = (CAN),   \
			  .addr_mask = (AM), .present = (P), .leaf_mask = (LM), \
			  .leaf_xor = (LX) })
#define QSHAPE_FN(NAME, ROOT, VA, CAN, AM, P, LM, LX)                                \
	static int query_pa_##NAME(const struct npt_table *t, uint64_t va, uint64_t *pa) \
	{                                                                            \
		return query_pa(t, va, pa, QSHAPE(ROOT, VA, CAN, AM, P, LM, LX));    \
	}
QSHAPES(QSHAPE_FN)
#undef QSHAPE_FN

static const struct {
	struct qshape s;
	int (*walk)(const struct npt_table *t, uint64_t va, uint64_t *pa);
} qshapes[] = {
#define QSHAPE_ENTRY(NAME, ROOT, VA, CAN, AM, P, LM, LX) \
	{ QSHAPE(ROOT, VA, CAN, AM, P, LM, LX), query_pa_##NAME },
	QSHAPES(QSHAPE_ENTRY)
#undef QSHAPE_ENTRY
};

static int query_pa_general(const struct npt_table *t, uint64_t va, uint64_t *pa)
{
	return query_general(t, va, pa, NULL, NULL);
}

void npt_query_prepare(struct npt_table *t)
{
	const struct npt_format *f = t->fmt;
	const unsigned root = npt_root_level(t);
	size_t i;

	t->q.tmask = f->present_mask | f->leaf_mask;
	t->q.tval = f->table_bits & t->q.tmask;
	/* canonical: va + 2^(va_bits - 1) < 2^va_bits; else va < 2^va_bits */
	t->q.range_add = f->canonical ? 1ull << (f->va_bits - 1) : 0;
	t->q.range_shift = f->va_bits;
	t->q.root_level = root;
	t->q.fast = (t->mm.flags & NPT_MM_LINEAR) && !f->addr_shift && f->va_bits < 64 &&
		    !(t->q.tmask & f->addr_mask) && root >= 2 && root <= 4;
	t->q.root = t->root;
	t->q.off = t->mm.linear_offset;
	t->q.addr_mask = f->addr_mask;
	t->q.present = f->present_mask;
	t->q.leaf_mask = f->leaf_mask;
	t->q.leaf_xor = f->leaf_xor;
	/* root_entries = 2^(va_bits - shift(root)). In range, va + range_add
	 * is below 2^va_bits, and its bits from shift(root) up are the root
	 * index, but for the canonical offset: 2^(va_bits - 1) adds half the
	 * root entries (mod root_entries), which one xor takes back off. */
	t->q.root_entries = t->root_entries;
	t->q.root_flip = f->canonical && t->root_entries >= 2 ? t->root_entries / 2 : 0;
	t->q.walk = query_pa_general;
	if (!((t->mm.flags & NPT_MM_LINEAR) && !f->addr_shift && f->va_bits < 64 && root >= 2 &&
	      root <= 4))
		return;
	t->q.walk = root == 2 ? query_pa_g2 : root == 3 ? query_pa_g3 : query_pa_g4;
	for (i = 0; i < sizeof(qshapes) / sizeof(qshapes[0]); i++) {
		const struct qshape *s = &qshapes[i].s;

		if (s->root == root && s->va_bits == f->va_bits && s->canonical == !!f->canonical &&
		    s->addr_mask == f->addr_mask && s->present == f->present_mask &&
		    s->leaf_mask == f->leaf_mask && s->leaf_xor == f->leaf_xor &&
		    t->root_entries == 1u << (s->va_bits - npt_level_shift(root)) &&
		    (!s->canonical || t->root_entries >= 2)) {
			t->q.walk = qshapes[i].walk;
			break;
		}
	}
}

int npt_query(const struct npt_table *t, uint64_t va, uint64_t *pa, unsigned *flags,
	      uint64_t *page_size)
{
	if (NPT_LIKELY(t && pa && !flags && !page_size))
		return t->q.walk(t, va, pa);
	if (!t || flags || !t->q.fast)
		return query_general(t, va, pa, flags, page_size);
	switch (t->q.root_level) {
	case 2:
		return query_linear(t, va, pa, page_size, 2);
	case 3:
		return query_linear(t, va, pa, page_size, 3);
	default:
		return query_linear(t, va, pa, page_size, 4);
	}
}

/* ---- npt_query_batch ---------------------------------------------------
 * Addresses go through in groups of QB_GROUP, level by level: every lane's
 * root entry is loaded, then every lane's next-level entry, and so on, so the
 * cache misses of different addresses are in flight together instead of one
 * walk's chain of dependent loads after another. Each lane is exactly
 * query_linear: same range check, same acquire load per level, same single
 * test per level, and the same hand-off to query_general for an entry the
 * fast path does not classify. */
#ifndef QB_GROUP
#define QB_GROUP 8
#endif
/* The lane loops are unrolled: the lanes' values live in registers. */
#if defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 8)
#define QB_UNROLL _Pragma("GCC unroll 8")
#else
#define QB_UNROLL
#endif

static void qb_general(const struct npt_table *t, uint64_t va, uint64_t *pa, int *err)
{
	uint64_t p = 0;
	int e = query_general(t, va, &p, NULL, NULL);

	*pa = e ? 0 : p;
	*err = e;
}

/* One address the way npt_query takes it, results in batch form. */
static NPT_ALWAYS_INLINE void qb_one(const struct npt_table *t, uint64_t va, uint64_t *pa,
				     int *err, const unsigned root)
{
	uint64_t p = 0;
	int e = query_linear(t, va, &p, NULL, root);

	*pa = e ? 0 : p;
	*err = e;
}

/* QB_GROUP lanes at once, for the common case only: every address in range
 * and every walk going through table entries down to a present level-0 leaf.
 * One test per level covers all lanes, so the loads of a level are a straight
 * run the CPU overlaps. As soon as any lane leaves the common case, the group
 * is redone lane by lane with query_linear (the loads made so far are only
 * discarded, so each lane's result is that of one whole walk of its own). */
static NPT_ALWAYS_INLINE void qb_group(const struct npt_table *t, const uint64_t *va, uint64_t *pa,
				       int *err, const unsigned root)
{
	const uint64_t tmask = t->q.tmask, tval = t->q.tval, addr_mask = t->fmt->addr_mask;
	const uint64_t present = t->fmt->present_mask;
	const uint64_t ia_mask = t->ia_mask, range_add = t->q.range_add;
	const unsigned range_shift = t->q.range_shift;
	const uint64_t root_mask = t->root_entries - 1;
	const uintptr_t off = t->mm.linear_offset;
	const uint64_t *const root_tbl = t->root;
	uint64_t v[QB_GROUP], pte[QB_GROUP], r[QB_GROUP], out = 0, miss = 0;
	size_t k;

	/* All of va is read before anything is written: pa may be va. */
	QB_UNROLL
	for (k = 0; k < QB_GROUP; k++) {
		v[k] = va[k];
		out |= (v[k] + range_add) >> range_shift;
	}
	if (out)
		goto slow;
	QB_UNROLL
	for (k = 0; k < QB_GROUP; k++)
		pte[k] = npt_pte_get(&root_tbl[((v[k] & ia_mask) >> npt_level_shift(root)) & root_mask]);
#define QB_STEP(L)                                                                           \
	do {                                                                                 \
		QB_UNROLL                                                                    \
		for (k = 0; k < QB_GROUP; k++)                                               \
			miss |= (pte[k] & tmask) ^ tval;                                     \
		if (miss)                                                                    \
			goto slow;                                                           \
		QB_UNROLL                                                                    \
		for (k = 0; k < QB_GROUP; k++)                                               \
			pte[k] = npt_pte_get((const uint64_t *)(uintptr_t)((pte[k] & addr_mask) + off) + \
					     ((v[k] >> npt_level_shift(L)) & (NPT_ENTRIES - 1))); \
	} while (0)

	if (root >= 4)
		QB_STEP(3);
	if (root >= 3)
		QB_STEP(2);
	if (root >= 2)
		QB_STEP(1);
	QB_STEP(0);
#undef QB_STEP
	/* A present level-0 entry is a leaf (npt_pte_leaf). */
	QB_UNROLL
	for (k = 0; k < QB_GROUP; k++) {
		miss |= !(pte[k] & present);
		r[k] = (pte[k] & addr_mask & ~(uint64_t)(NPT_PAGE_SIZE - 1)) |
		       (v[k] & (NPT_PAGE_SIZE - 1));
	}
	if (miss)
		goto slow;
	QB_UNROLL
	for (k = 0; k < QB_GROUP; k++) {
		pa[k] = r[k];
		err[k] = 0;
	}
	return;
slow:
	for (k = 0; k < QB_GROUP; k++)
		qb_one(t, v[k], &pa[k], &err[k], root);
}

static NPT_ALWAYS_INLINE void qb_linear(const struct npt_table *t, const uint64_t *va, size_t n,
					uint64_t *pa, int *err, const unsigned root)
{
	size_t i;

	for (i = 0; i + QB_GROUP <= n; i += QB_GROUP)
		qb_group(t, va + i, pa + i, err + i, root);
	for (; i < n; i++)
		qb_one(t, va[i], &pa[i], &err[i], root);
}

int npt_query_batch(const struct npt_table *t, const uint64_t *va, size_t n, uint64_t *pa,
		    int *err)
{
	size_t i;

	if (!t)
		return NPT_ERR_INVAL;
	if (!n)
		return 0;
	if (!va || !pa || !err)
		return NPT_ERR_INVAL;
	if (!t->q.fast) {
		for (i = 0; i < n; i++)
			qb_general(t, va[i], &pa[i], &err[i]);
		return 0;
	}
	switch (t->q.root_level) {
	case 2:
		qb_linear(t, va, n, pa, err, 2);
		break;
	case 3:
		qb_linear(t, va, n, pa, err, 3);
		break;
	default:
		qb_linear(t, va, n, pa, err, 4);
		break;
	}
	return 0;
}

struct walk {
	const struct npt_table *t;
	uint64_t first, last;
	unsigned which;
	int (*visit)(const struct npt_visit *v, void *arg);
	void *arg;
	/* The last leaf decoded: neighbouring leaves nearly always carry the
	 * same flag bits, and decode reads nothing else (not the address), so
	 * its result is reused instead of an indirect call per leaf. */
	uint64_t memo_bits;
	unsigned memo_level, memo_flags;
	int memo_valid;
};

/* f->decode(f, level, pte), remembered for the last flag bits seen. */
static unsigned walk_decode(struct walk *w, const struct npt_format *f, unsigned level,
			    uint64_t pte, uint64_t esz)
{
	/* Everything but the leaf's own address bits. */
	const uint64_t bits = pte & ~(f->addr_mask & ~((esz >> f->addr_shift) - 1));

	if (!w->memo_valid || bits != w->memo_bits || level != w->memo_level) {
		w->memo_flags = f->decode(f, level, pte);
		w->memo_bits = bits;
		w->memo_level = level;
		w->memo_valid = 1;
	}
	return w->memo_flags;
}

static int walk_level(struct walk *w, unsigned level, const uint64_t *tbl, uint64_t base,
		      int shared)
{
	const struct npt_table *t = w->t;
	const struct npt_format *f = t->fmt;
	uint64_t esz = npt_level_size(level);
	unsigned i, lo, hi;
	int r;

	npt_slice(t, level, base, w->first, w->last, &lo, &hi);
	for (i = lo; i <= hi; i++) {
		uint64_t pte = npt_pte_get(&tbl[i]), ebase = base + (uint64_t)i * esz;
		struct npt_visit v;

		if (!npt_pte_present(f, pte))
			continue;
		v.level = level;
		v.va = npt_ia_to_va(t, ebase);
		v.size = esz;
		v.pte = pte;
		v.shared = shared || npt_is_shared(t, level, i);
		if (npt_pte_leaf(f, level, pte)) {
			if (!(w->which & NPT_WALK_LEAF))
				continue;
			v.kind = NPT_WALK_LEAF;
			v.pa = npt_pte_addr(f, pte) & ~(esz - 1);
			v.flags = walk_decode(w, f, level, pte, esz);
			r = w->visit(&v, w->arg);
			if (r)
				return r;
			continue;
		}
		v.pa = npt_pte_addr(f, pte);
		v.flags = 0;
		if (w->which & NPT_WALK_TABLE_PRE) {
			v.kind = NPT_WALK_TABLE_PRE;
			r = w->visit(&v, w->arg);
			if (r)
				return r;
		}
		r = walk_level(w, level - 1, npt_virt(t, v.pa), ebase, v.shared);
		if (r)
			return r;
		if (w->which & NPT_WALK_TABLE_POST) {
			v.kind = NPT_WALK_TABLE_POST;
			r = w->visit(&v, w->arg);
			if (r)
				return r;
		}
	}
	return 0;
}

int npt_walk(const struct npt_table *t, uint64_t va, uint64_t size, unsigned which,
	     int (*visit)(const struct npt_visit *v, void *arg), void *arg)
{
	struct walk w;
	int err;

	if (!t || !visit || (which & ~(NPT_WALK_LEAF | NPT_WALK_TABLE_PRE | NPT_WALK_TABLE_POST)))
		return NPT_ERR_INVAL;
	err = npt_check_input(t, va, size, &w.first, &w.last);
	if (err)
		return err;
	w.t = t;
	w.which = which;
	w.visit = visit;
	w.arg = arg;
	w.memo_valid = 0;
	return walk_level(&w, npt_root_level(t), t->root, 0, 0);
}
