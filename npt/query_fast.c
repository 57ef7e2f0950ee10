/*
 * The fast translation walks behind npt_query and npt_query_batch, each
 * compiled for one shape of format -- root level, input width, and the
 * presence, leaf and address bits of arch/arch.h -- so that every mask is an
 * immediate and the walk makes no call; npt_query_prepare picks a table's
 * walks once, matching the shapes against its format field by field. What
 * a shape does not cover goes to npt_query_general (query.c), which makes
 * the same checks and returns the same results.
 */
#include "walk.h"
#include "query.h"
#include "shape.h"
#include "../arch/arch.h"


/* npt_query's common case: an NPT_MM_LINEAR allocator, no flags wanted, a
 * format whose address field is in place (addr_shift 0) and whose present and
 * leaf bits lie outside it. Compiled once per root level, so the walk is
 * unrolled with constant shifts; it makes no call.
 * One test per level: an entry whose present and leaf bits are those of the
 * format's table entries (table_bits) is a table, exactly as
 * npt_pte_present / npt_pte_leaf would say. Anything else -- a leaf, an empty
 * entry, a table entry written with other bits -- is classified exactly at
 * `other`, and what this path does not handle goes to query_general, which
 * makes the same checks and returns the same results. */
static NPT_ALWAYS_INLINE int query_linear_root(const struct npt_table *t, uint64_t va, uint64_t *pa,
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
		return npt_query_general(t, va, pa, NULL, page_size);
	size = npt_level_size(level);
	if (pa)
		*pa = (pte & addr_mask & ~(size - 1)) | (va & (size - 1));
	if (page_size)
		*page_size = size;
	return 0;
}


/* query_pa's leaf above level 0: exactly query_general's result for it. */
static __attribute__((noinline, cold)) int query_pa_huge(const struct npt_table *t, uint64_t va,
							 uint64_t *pa, unsigned level, uint64_t pte)
{
	const uint64_t size = npt_level_size(level);

	*pa = (npt_pte_addr(t->fmt, pte) & ~(size - 1)) | (va & (size - 1));
	return 0;
}

/* query_pa's range check: 1 if va is out of range, else 0 with its root
 * index in *idx. */
static NPT_ALWAYS_INLINE int qp_root_index(const struct npt_qfacts *q, uint64_t va,
					   const struct qshape s, uint64_t *idx)
{
	const unsigned rs = npt_level_shift(s.root);

	if (s.generic) {
		const uint64_t y = (va + q->range_add) >> rs;

		if (NPT_UNLIKELY(y >= q->root_entries))
			return 1;
		*idx = y ^ q->root_flip;
	} else if (s.canonical) {
		/* va is canonical iff va >> rs, arithmetic, lies in
		 * [-entries/2, entries/2); its low bits are the root index */
		const uint64_t entries = 1ull << (s.va_bits - rs);
		const uint64_t r = (uint64_t)((int64_t)va >> rs);

		if (NPT_UNLIKELY(r + entries / 2 >= entries))
			return 1;
		*idx = r & (entries - 1);
	} else {
		const uint64_t i = va >> rs;

		if (NPT_UNLIKELY(i >= 1ull << (s.va_bits - rs)))
			return 1;
		*idx = i;
	}
	return 0;
}

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
	uint64_t pte, idx;
	unsigned level;

	if (NPT_UNLIKELY(qp_root_index(&t->q, va, s, &idx)))
		return NPT_ERR_RANGE;
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

/* ---- npt_query_batch ---------------------------------------------------
 * Software pipelining, as in the prefetching hash probes of databases: stage
 * A for address j + QB_DIST walks the upper levels (a handful of tables that
 * stay in L1), works out the address of its level-0 entry, prefetches it and
 * keeps the address in a ring (two halves of QB_DIST); stage B for address j
 * loads the entry stage A kept about QB_DIST addresses earlier -- in cache by
 * now -- and writes the result. The distance matters little once the
 * misses overlap: what remains is the upper levels' instructions. The leaf
 * misses of QB_DIST addresses are in flight together instead of one
 * walk's miss after another.
 *
 * Each lane is exactly query_pa: stage A is its range check and its walk down
 * to level 1, one acquire load per entry; stage B is its acquire load of the
 * level-0 entry and its last test. A lane that leaves the common case in
 * stage A (out of range; an entry above level 0 that is not present or is a
 * leaf) gets qb_sentinel as its slot and is answered in stage B by t->q.walk,
 * a whole walk of its own; so every answer comes from one walk that read each
 * of its entries once.
 *
 * Concurrency: the level-0 entry is loaded in stage B through the address of
 * a table that stage A found through entries it loaded with acquire, some
 * addresses later. That is the same as one walk taking a little longer:
 * npt_query's contract (npt.h, HACKING.md) already has readers follow a table
 * pointer while a writer may replace the entry above it, the writer's free
 * hook deferring the frame's reuse until readers that may have seen it are
 * done -- and the window between stage A and B never leaves this one
 * npt_query_batch call. The entry loaded is the current one (acquire), so the
 * lane sees the old translation or the new one, as npt_query would. */
#ifndef QB_DIST
#define QB_DIST 16
#endif
#ifndef QB_UA
#define QB_UA 2
#endif
#ifndef QB_UB
#define QB_UB 1
#endif
#define QB_PRAGMA(x) _Pragma(#x)
#define QB_UNROLL(n) QB_PRAGMA(GCC unroll n)
#if defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 8)
#define QB_UNROLL_A QB_UNROLL(QB_UA)
#define QB_UNROLL_B QB_UNROLL(QB_UB)
#else
#define QB_UNROLL_A
#define QB_UNROLL_B
#endif
#if QB_DIST < 1
#error "QB_DIST must be at least 1"
#endif
/* The block loops of stage A run two lanes per turn, so that two lanes'
 * upper-level loads overlap; stage B's loads already do. */

/* The slot of a lane stage A did not finish: reads as not present, so stage
 * B's one test sends it to qb_slow. */
static const uint64_t qb_sentinel;

/* Stage B's lane whose level-0 entry is not present, or that stage A left:
 * the first is query_pa's NPT_ERR_NOT_MAPPED at level 0, the second a whole
 * walk. */
static __attribute__((noinline, cold)) void qb_slow(const struct npt_table *t, const uint64_t *p,
						    uint64_t va, uint64_t *pa, int *err)
{
	uint64_t x = 0;
	int e = NPT_ERR_NOT_MAPPED;

	if (p == &qb_sentinel)
		e = t->q.walk(t, va, &x);
	*pa = e ? 0 : x;
	*err = e;
}

/* Stage A's walk cache, the software twin of the paging-structure caches
 * of x86 (SDM vol. 3A §4.10.3): the level-1 table the last full walk reached
 * and the 1 GiB region of input addresses (va >> shift(2), all of va's upper
 * bits) it serves. A lane in the same region starts at its level-1 entry:
 * it shares the upper entries the walk loaded with acquire a few lanes
 * earlier in this call, and is in range because that walk's va was, with the
 * same upper bits. Every format has a root at level 2 or above, so the
 * level-1 table always has an entry above it to cache. */
struct qb_memo {
	uint64_t key; /* va >> npt_level_shift(2); ~0: empty (no va shifts to it) */
	uint64_t l1;  /* the level-1 table: its entry's address bits */
};

/* Stage A: query_pa down to the level-1 entry; returns the address of va's
 * level-0 entry, prefetched, or &qb_sentinel. q is the caller's copy of
 * t->q: the stores to pa and err may alias anything, and t->q read through t
 * would be loaded again after each of them. */
static NPT_ALWAYS_INLINE const uint64_t *qb_stage_a(const struct npt_qfacts *q, uint64_t va,
						    const struct qshape s, struct qb_memo *m)
{
	const uint64_t addr_mask = s.generic ? q->addr_mask : s.addr_mask;
	const uint64_t present = s.generic ? q->present : s.present;
	const uint64_t leaf_mask = s.generic ? q->leaf_mask : s.leaf_mask;
	const uint64_t leaf_xor = s.generic ? q->leaf_xor : s.leaf_xor;
	const uintptr_t off = q->off;
	const uint64_t *slot;
	uint64_t pte, idx;

#define QB_STEP(L)                                                                          \
	do {                                                                                \
		if (NPT_UNLIKELY(!(pte & present) || qp_leaf(pte, leaf_mask, leaf_xor)))    \
			return &qb_sentinel;                                                \
		slot = qp_slot(pte & addr_mask, qp_offset(va, L, off));                     \
		if ((L) == 0)                                                               \
			break;                                                              \
		pte = npt_pte_get(slot);                                                    \
	} while (0)
	if (va >> npt_level_shift(2) == m->key) {
		pte = npt_pte_get(qp_slot(m->l1, qp_offset(va, 1, off)));
	} else {
		if (NPT_UNLIKELY(qp_root_index(q, va, s, &idx)))
			return &qb_sentinel;
		pte = npt_pte_get(&q->root[idx]);
		if (s.root >= 4)
			QB_STEP(3);
		if (s.root >= 3)
			QB_STEP(2);
		/* pte: va's level-2 entry */
		if (NPT_UNLIKELY(!(pte & present) || qp_leaf(pte, leaf_mask, leaf_xor)))
			return &qb_sentinel;
		m->key = va >> npt_level_shift(2);
		m->l1 = pte & addr_mask;
		pte = npt_pte_get(qp_slot(m->l1, qp_offset(va, 1, off)));
	}
	QB_STEP(0);
#undef QB_STEP
	__builtin_prefetch(slot, 0, 3);
	return slot;
}

/* Stage B: the level-0 entry's one acquire load and query_pa's last test. */
static NPT_ALWAYS_INLINE void qb_stage_b(const struct npt_table *t, const struct npt_qfacts *q,
					 const uint64_t *slot, uint64_t va, uint64_t *pa, int *err,
					 const struct qshape s)
{
	const uint64_t addr_mask = s.generic ? q->addr_mask : s.addr_mask;
	const uint64_t present = s.generic ? q->present : s.present;
	const uint64_t pte = npt_pte_get(slot);

	if (NPT_UNLIKELY(!(pte & present))) {
		qb_slow(t, slot, va, pa, err);
		return;
	}
	*pa = (pte & addr_mask & ~(uint64_t)(NPT_PAGE_SIZE - 1)) | (va & (NPT_PAGE_SIZE - 1));
	*err = 0;
}

/* The pipeline, in blocks of QB_DIST lanes: stage A of block b + 1, then
 * stage B of block b, the ring's two halves taking turns. Stage B of lane j
 * reads va[j] again (still in L1) and only then writes pa[j]; stage A reads
 * lanes of the next block, which no store has reached yet: pa may be va. */
static NPT_ALWAYS_INLINE void qb_pipe(const struct npt_table *t, const uint64_t *va, size_t n,
				      uint64_t *pa, int *err, const struct qshape s)
{
	const struct npt_qfacts q = t->q;
	struct qb_memo memo = { .key = ~0ull, .l1 = 0 };
	const uint64_t *ring[2][QB_DIST];
	size_t base, k, m = n < QB_DIST ? n : QB_DIST;
	unsigned h = 0;

	for (k = 0; k < m; k++)
		ring[0][k] = qb_stage_a(&q, va[k], s, &memo);
	for (base = 0;; base += QB_DIST, h ^= 1) {
		const size_t next = base + QB_DIST;

		if (n - base > 2 * QB_DIST) {
			/* the common case, both blocks whole */
			QB_UNROLL_A
			for (k = 0; k < QB_DIST; k++)
				ring[h ^ 1][k] = qb_stage_a(&q, va[next + k], s, &memo);
			QB_UNROLL_B
			for (k = 0; k < QB_DIST; k++)
				qb_stage_b(t, &q, ring[h][k], va[base + k], &pa[base + k],
					   &err[base + k], s);
			continue;
		}
		m = n - base < QB_DIST ? n - base : QB_DIST;
		if (next < n) {
			const size_t mn = n - next < QB_DIST ? n - next : QB_DIST;

			for (k = 0; k < mn; k++)
				ring[h ^ 1][k] = qb_stage_a(&q, va[next + k], s, &memo);
		}
		for (k = 0; k < m; k++)
			qb_stage_b(t, &q, ring[h][k], va[base + k], &pa[base + k], &err[base + k], s);
		if (next >= n)
			break;
	}
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

static void qb_g2(const struct npt_table *t, const uint64_t *va, size_t n, uint64_t *pa, int *err)
{
	qb_pipe(t, va, n, pa, err, QSHAPE_GENERIC(2));
}

static void qb_g3(const struct npt_table *t, const uint64_t *va, size_t n, uint64_t *pa, int *err)
{
	qb_pipe(t, va, n, pa, err, QSHAPE_GENERIC(3));
}

static void qb_g4(const struct npt_table *t, const uint64_t *va, size_t n, uint64_t *pa, int *err)
{
	qb_pipe(t, va, n, pa, err, QSHAPE_GENERIC(4));
}

/* (the shape macros expand before the argument count is taken) */
#define QSHAPE_FN(NAME, ROOT, VA, CAN, ...) QSHAPE_FN_(NAME, ROOT, VA, CAN, __VA_ARGS__)
#define QSHAPE_FN_(NAME, ROOT, VA, CAN, AM, P, LM, LX)                                \
	static int query_pa_##NAME(const struct npt_table *t, uint64_t va, uint64_t *pa) \
	{                                                                            \
		return query_pa(t, va, pa, QSHAPE(ROOT, VA, CAN, AM, P, LM, LX));    \
	}                                                                            \
	static void qb_##NAME(const struct npt_table *t, const uint64_t *va, size_t n,   \
			      uint64_t *pa, int *err)                                \
	{                                                                            \
		qb_pipe(t, va, n, pa, err, QSHAPE(ROOT, VA, CAN, AM, P, LM, LX));    \
	}                                                                            \
	static void seek_##NAME(const struct npt_table *t, uint64_t ia, unsigned stop,   \
				struct npt_seek *s)                                  \
	{                                                                            \
		seek_shape(t, ia, stop, s, QSHAPE(ROOT, VA, CAN, AM, P, LM, LX));    \
	}
QSHAPES(QSHAPE_FN)
#undef QSHAPE_FN
#undef QSHAPE_FN_

static const struct {
	struct qshape s;
	int (*walk)(const struct npt_table *t, uint64_t va, uint64_t *pa);
	void (*batch)(const struct npt_table *t, const uint64_t *va, size_t n, uint64_t *pa,
		      int *err);
	void (*seek)(const struct npt_table *t, uint64_t ia, unsigned stop, struct npt_seek *s);
} qshapes[] = {
#define QSHAPE_ENTRY(NAME, ROOT, VA, CAN, ...) QSHAPE_ENTRY_(NAME, ROOT, VA, CAN, __VA_ARGS__)
#define QSHAPE_ENTRY_(NAME, ROOT, VA, CAN, AM, P, LM, LX) \
	{ QSHAPE(ROOT, VA, CAN, AM, P, LM, LX), query_pa_##NAME, qb_##NAME, seek_##NAME },
	QSHAPES(QSHAPE_ENTRY)
#undef QSHAPE_ENTRY
#undef QSHAPE_ENTRY_
};

static int query_pa_general(const struct npt_table *t, uint64_t va, uint64_t *pa)
{
	return npt_query_general(t, va, pa, NULL, NULL);
}

void npt_query_prepare(struct npt_table *t)
{
	const struct npt_format *f = t->fmt;
	const unsigned root = npt_root_level(t);
	size_t i;
	int walkable;

	t->q.tmask = f->present_mask | f->leaf_mask;
	t->q.tval = f->table_bits & t->q.tmask;
	/* canonical: va + 2^(va_bits - 1) < 2^va_bits; else va < 2^va_bits */
	t->q.range_add = f->canonical ? 1ull << (f->va_bits - 1) : 0;
	t->q.range_shift = f->va_bits;
	t->q.root_level = root;
	/* the walkers below: a linear allocator, addresses in place */
	walkable = (t->mm.flags & NPT_MM_LINEAR) && !f->addr_shift && f->va_bits < 64 && root >= 2 &&
		   root <= 4;
	t->q.fast = walkable && !(t->q.tmask & f->addr_mask);
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
	t->q.batch = NULL;
	t->q.seek = NULL;
	t->q.shape = NPT_SHAPE_NONE;
	if (!walkable)
		return;
	t->q.walk = root == 2 ? query_pa_g2 : root == 3 ? query_pa_g3 : query_pa_g4;
	t->q.batch = root == 2 ? qb_g2 : root == 3 ? qb_g3 : qb_g4;
	for (i = 0; i < sizeof(qshapes) / sizeof(qshapes[0]); i++) {
		const struct qshape *s = &qshapes[i].s;

		if (s->root == root && s->va_bits == f->va_bits && s->canonical == !!f->canonical &&
		    s->addr_mask == f->addr_mask && s->present == f->present_mask &&
		    s->leaf_mask == f->leaf_mask && s->leaf_xor == f->leaf_xor &&
		    t->root_entries == 1u << (s->va_bits - npt_level_shift(root)) &&
		    (!s->canonical || t->root_entries >= 2)) {
			t->q.walk = qshapes[i].walk;
			t->q.batch = qshapes[i].batch;
			t->q.seek = qshapes[i].seek;
			t->q.shape = (unsigned)i + 1;
			break;
		}
	}
}


int npt_query_linear(const struct npt_table *t, uint64_t va, uint64_t *pa, uint64_t *page_size)
{
	switch (t->q.root_level) {
	case 2:
		return query_linear_root(t, va, pa, page_size, 2);
	case 3:
		return query_linear_root(t, va, pa, page_size, 3);
	default:
		return query_linear_root(t, va, pa, page_size, 4);
	}
}
