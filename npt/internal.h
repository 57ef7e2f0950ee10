/*
 * The engine's private structures, shared by the files of npt/.
 */
#ifndef NPT_INTERNAL_H
#define NPT_INTERNAL_H

#include "format.h"

/* All npt needs from outside the compiler: memset and memcpy (npt.h). The
 * builtins let the compiler inline small fixed sizes; anything else becomes a
 * call to the kernel's or libc's memset / memcpy. */
#define npt_memset __builtin_memset
#define npt_memcpy __builtin_memcpy

#define NPT_STR_(x) #x
#define NPT_STR(x) NPT_STR_(x)
#define NPT_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define NPT_LIKELY(x) __builtin_expect(!!(x), 1)

struct npt_table;
/* An internal check failed: the engine's own state is wrong, and going on
 * could corrupt a table a CPU walks. Calls mm->panic (if set), then traps;
 * never returns. On in every build mode (NDEBUG changes nothing). */
__attribute__((noreturn, cold)) void npt_panic(const struct npt_table *t, const char *msg);
#define NPT_CHECK(t, cond)                                                                 \
	do {                                                                               \
		if (NPT_UNLIKELY(!(cond)))                                                 \
			npt_panic((t), __FILE__ ":" NPT_STR(__LINE__) ": check failed: " #cond); \
	} while (0)

/* Concatenated AArch64 stage-2 roots go up to 16 frames. */
#define NPT_ROOT_MAX_FRAMES 16u
#define NPT_ROOT_MAX_ENTRIES (NPT_ROOT_MAX_FRAMES * NPT_ENTRIES)

struct npt_seek;
struct npt_table {
	const struct npt_format *fmt;
	struct npt_mm mm;
	uint64_t root_pa;
	uint64_t *root;
	unsigned root_frames;
	unsigned root_entries;
	uint64_t ia_mask;  /* input addresses are reduced to va_bits before indexing */
	unsigned va_shift; /* canonical formats: 64 - va_bits (npt_ia_to_va), else 0 */
	uint64_t frames;   /* owned frames, root included */
	struct npt_frame_cache *cache; /* where frames come from, or NULL: mm.alloc */
	/* root slots holding an entry shared from another table (npt_copy_from) */
	uint64_t shared[NPT_ROOT_MAX_ENTRIES / 64];
	/* root slots whose table another table shares: that table is kept even
	 * when it empties, because the sharer still points at it */
	uint64_t exported[NPT_ROOT_MAX_ENTRIES / 64];
	void (*flush_hook)(void *arg, const struct npt_flush *f);
	void *flush_arg;
	uint64_t flush_threshold;
	struct npt_flush last_flush;
	/* the call in progress: bounding input range of what it changed, and
	 * whether its runs overflowed last_flush.ranges (flush.c) */
	uint64_t flush_first, flush_last;
	int flush_changed, flush_overflow;
	void (*bbm_hook)(void *arg, const struct npt_flush *f);
	void *bbm_arg;
	void (*free_hook)(void *arg, uint64_t pa);
	void *free_arg;
	int tearing_down; /* npt_free: frames go straight back to mm->free */
	int handle_frame;  /* the handle lives in a frame npt_new took from mm */
	uint64_t handle_pa;
	/* the single-page calls' leaf bits of the last flags encoded (level,
	 * flags -> bits), so a run of calls with the same flags encodes once */
	uint64_t enc_bits;
	uint64_t enc_key; /* npt_enc_key(level, flags) of enc_bits, 0: none yet */
	/* the region calls' leaf bits per level of the last flags and levels
	 * encoded (npt_op_flags), likewise */
	uint64_t tmpl[NPT_MAX_LEVELS];
	uint64_t tmpl_key; /* 1 | flags << 1 | levels << 33 of tmpl, 0: none yet */
	/* the frame word of the leaf table used last (npt_leaf_word), while
	 * the table holds that frame: the single-page calls in one leaf table
	 * make no call for it */
	uint64_t word_pa;
	uint32_t *word;
	/* Format facts npt_query's common case needs, worked out once by
	 * npt_new (query.c): no trip through fmt on every call. */
	struct npt_qfacts {
		/* npt_query(t, va, pa, NULL, NULL) with pa != NULL: a walk
		 * compiled for this table's root level (and, for common formats,
		 * its masks as constants), or the general path */
		int (*walk)(const struct npt_table *t, uint64_t va, uint64_t *pa);
		/* npt_query_batch with n > 0 and every pointer set: the
		 * pipeline compiled for the same shape as walk, or NULL where
		 * walk is the general path */
		void (*batch)(const struct npt_table *t, const uint64_t *va, size_t n,
			      uint64_t *pa, int *err);
		/* npt_seek_level for this shape, or NULL (the general loop) */
		void (*seek)(const struct npt_table *t, uint64_t ia, unsigned stop,
			     struct npt_seek *s);
		const uint64_t *root;   /* t->root */
		uintptr_t off;          /* t->mm.linear_offset */
		uint64_t addr_mask;     /* fmt->addr_mask */
		uint64_t tmask, tval;   /* a table entry: (pte & tmask) == tval */
		uint64_t range_add;     /* the page of va is in range iff */
		unsigned range_shift;   /* ((va + range_add) >> range_shift) == 0 */
		unsigned root_level;
		/* in range iff ((va + range_add) >> root shift) < root_entries;
		 * then that value ^ root_flip is the root index */
		uint64_t root_entries, root_flip;
		uint64_t present;       /* fmt->present_mask */
		uint64_t leaf_mask, leaf_xor; /* fmt->leaf_mask, fmt->leaf_xor */
		int fast;               /* the common case applies, see npt_query_prepare */
		unsigned shape;         /* the shape (shape.h) of seek, or NPT_SHAPE_NONE */
	} q;
};

static inline uint64_t npt_level_size(unsigned level)
{
	return 1ull << npt_level_shift(level);
}

static inline unsigned npt_root_level(const struct npt_table *t)
{
	return t->fmt->levels - 1u;
}

static inline unsigned npt_entries(const struct npt_table *t, unsigned level)
{
	return level == npt_root_level(t) ? t->root_entries : NPT_ENTRIES;
}

static inline void *npt_virt(const struct npt_table *t, uint64_t pa)
{
	if (t->mm.flags & NPT_MM_LINEAR)
		return (void *)(uintptr_t)(pa + t->mm.linear_offset);
	return t->mm.phys_to_virt(t->mm.ctx, pa);
}

static inline int npt_is_shared(const struct npt_table *t, unsigned level, unsigned idx)
{
	return level == npt_root_level(t) && (t->shared[idx / 64] >> (idx % 64) & 1);
}

static inline int npt_is_exported(const struct npt_table *t, unsigned level, unsigned idx)
{
	return level == npt_root_level(t) && (t->exported[idx / 64] >> (idx % 64) & 1);
}

/* Input address of the first byte an entry covers, as callers see it
 * (sign-extended on canonical formats). */
static inline uint64_t npt_ia_to_va(const struct npt_table *t, uint64_t ia)
{
	return (uint64_t)((int64_t)(ia << t->va_shift) >> t->va_shift);
}

/* The slice [*lo, *hi] of a table at `level` whose entries overlap the
 * inclusive input range [first, last]; `base` is the table's first address. */
static inline void npt_slice(const struct npt_table *t, unsigned level, uint64_t base,
			     uint64_t first, uint64_t last, unsigned *lo, unsigned *hi)
{
	unsigned shift = npt_level_shift(level);
	uint64_t tlast = base + ((uint64_t)npt_entries(t, level) << shift) - 1;
	uint64_t a = first > base ? first : base;
	uint64_t b = last < tlast ? last : tlast;
	*lo = (unsigned)((a - base) >> shift);
	*hi = (unsigned)((b - base) >> shift);
}

/* ---- entries shared with concurrent readers --------------------------------
 * Every store to an entry a reader may see is one atomic 64-bit store; a
 * store that makes new tables reachable is a release, and readers load with
 * acquire, so the tables behind an entry are complete when a reader follows
 * it. Hardware walkers read the same words: an entry is never torn. */
static inline uint64_t npt_pte_get(const uint64_t *slot)
{
	return __atomic_load_n(slot, __ATOMIC_ACQUIRE);
}

static inline void npt_pte_set(uint64_t *slot, uint64_t pte)
{
	__atomic_store_n(slot, pte, __ATOMIC_RELAXED);
}

static inline void npt_pte_publish(uint64_t *slot, uint64_t pte)
{
	__atomic_store_n(slot, pte, __ATOMIC_RELEASE);
}

/* Clears and sets bits of a live leaf in one atomic step, so that an
 * accessed/dirty bit the hardware sets meanwhile is neither lost nor
 * resurrected; returns the entry as it was. */
static inline uint64_t npt_pte_update(uint64_t *slot, uint64_t clear, uint64_t set)
{
	uint64_t old = __atomic_load_n(slot, __ATOMIC_RELAXED);

	while (!__atomic_compare_exchange_n(slot, &old, (old & ~clear) | set, 0, __ATOMIC_RELAXED,
					    __ATOMIC_RELAXED))
		;
	return old;
}

/* Sets bits [lo, hi] of a bitmap (bit i: bm[i / 64] >> (i % 64) & 1). */
static inline void npt_bitmap_set(uint64_t *bm, uint64_t lo, uint64_t hi)
{
	uint64_t w = lo / 64, wl = hi / 64;

	if (w == wl) {
		bm[w] |= (~0ull >> (63 - (hi - lo))) << (lo % 64);
		return;
	}
	bm[w++] |= ~0ull << (lo % 64);
	for (; w < wl; w++)
		bm[w] = ~0ull;
	bm[wl] |= ~0ull >> (63 - hi % 64);
}

/* The argument checks every call makes, inline so that a constant size
 * (the single-page calls) folds into them. */
static inline int npt_canonical(const struct npt_format *f, uint64_t va)
{
	const unsigned s = 64u - f->va_bits;

	return (uint64_t)((int64_t)(va << s) >> s) == va;
}

/* Inclusive input range of [va, va + size), reduced to va_bits. */
static inline int npt_check_input(const struct npt_table *t, uint64_t va, uint64_t size,
				  uint64_t *first, uint64_t *last)
{
	const struct npt_format *f = t->fmt;
	uint64_t end;

	if (__builtin_constant_p(size) && size == NPT_PAGE_SIZE) {
		/* an aligned page's last byte differs from its first only
		 * below bit 12: one check covers both, and it cannot wrap */
		if (va & (NPT_PAGE_SIZE - 1))
			return NPT_ERR_ALIGN;
		/* npt_query_prepare's range test in one step (every format's
		 * va_bits is below 64) */
		if ((va + t->q.range_add) >> t->q.range_shift)
			return NPT_ERR_RANGE;
		*first = va & t->ia_mask;
		*last = *first + (NPT_PAGE_SIZE - 1);
		return 0;
	}
	if (size == 0)
		return NPT_ERR_RANGE;
	if ((va | size) & (NPT_PAGE_SIZE - 1))
		return NPT_ERR_ALIGN;
	end = va + (size - 1);
	if (end < va)
		return NPT_ERR_RANGE;
	if (f->canonical) {
		/* Both ends canonical and in the same half: never across the hole. */
		if (!npt_canonical(f, va) || !npt_canonical(f, end) || (va ^ end) >> 63)
			return NPT_ERR_RANGE;
	} else if (end >> f->va_bits) {
		return NPT_ERR_RANGE;
	}
	*first = va & t->ia_mask;
	*last = end & t->ia_mask;
	return 0;
}

static inline int npt_check_output(const struct npt_format *f, uint64_t pa, uint64_t size)
{
	uint64_t end;

	if (__builtin_constant_p(size) && size == NPT_PAGE_SIZE) {
		if (pa & (NPT_PAGE_SIZE - 1))
			return NPT_ERR_ALIGN;
		return f->pa_bits < 64 && (pa >> f->pa_bits) != 0 ? NPT_ERR_RANGE : 0;
	}
	if (size == 0)
		return NPT_ERR_RANGE;
	if ((pa | size) & (NPT_PAGE_SIZE - 1))
		return NPT_ERR_ALIGN;
	end = pa + (size - 1);
	if (end < pa || (f->pa_bits < 64 && end >> f->pa_bits))
		return NPT_ERR_RANGE;
	return 0;
}

/* table.c */
int npt_frame_alloc(struct npt_table *t, uint64_t *pa);
void npt_frame_unalloc(struct npt_table *t, uint64_t pa);
void npt_frame_free(struct npt_table *t, uint64_t pa);
/* walk.c: a table at level and every table below it back to mm (leaf
 * tables unread); every table of t but the root and shared ones. */
void npt_free_subtree(struct npt_table *t, unsigned level, uint64_t table_pa);
void npt_free_tables(struct npt_table *t);

/* Frames allocated before an apply pass, linked through their first word
 * and taken in the order they were allocated: from an allocator that hands
 * out ascending frames, the tables of a range then lie in address order,
 * which the hardware prefetchers follow best. */
struct npt_prealloc {
	uint64_t head, tail;
};
int npt_prealloc_fill(struct npt_table *t, struct npt_prealloc *c, uint64_t n);
uint64_t npt_prealloc_take(struct npt_table *t, struct npt_prealloc *c);
void npt_prealloc_release(struct npt_table *t, struct npt_prealloc *c);

/* flush.c: the TLB record of the call in progress. npt_flush_note records a
 * run [first, last] (input addresses) of entries at level that changed;
 * npt_flush_end reports the record (a call that passes changed without
 * noting runs gets one conservative run: every level, tables included). */
static inline void npt_flush_begin(struct npt_table *t)
{
	t->last_flush.kind = NPT_FLUSH_NONE;
	t->last_flush.va = 0;
	t->last_flush.size = 0;
	t->last_flush.nranges = 0;
}
void npt_flush_note(struct npt_table *t, uint64_t first, uint64_t last, unsigned level,
		    unsigned flags);
void npt_flush_end(struct npt_table *t, int changed, uint64_t first, uint64_t last);
/* What every changing call returns: a failed one leaves the record of
 * "nothing to flush", whatever the call before it did (npt.h). */
static inline int npt_done(struct npt_table *t, int err)
{
	if (__builtin_expect(err != 0, 0) && t)
		npt_flush_begin(t);
	return err;
}
/* begin, one note and end at once: the record of a call that changed one
 * run (nothing noted since the last end), without telling the hook yet. */
static inline void npt_flush_single_record(struct npt_table *t, uint64_t first, uint64_t last,
					   unsigned level, unsigned flags)
{
	struct npt_flush *fl = &t->last_flush;
	const uint64_t size = last - first + 1;

	if (t->flush_threshold && size > t->flush_threshold) {
		fl->kind = NPT_FLUSH_ALL;
		fl->va = fl->size = 0;
		fl->nranges = 0;
	} else {
		fl->kind = NPT_FLUSH_RANGE;
		fl->va = npt_ia_to_va(t, first);
		fl->size = size;
		fl->nranges = 1;
		fl->ranges[0] = (struct npt_flush_range){ fl->va, size, level, flags };
	}
}
/* The flush hook with the record; returns 0 (a call's last step, so that
 * it can be a tail call). */
int npt_flush_tell(struct npt_table *t);
/* 1 if changing the present entry old at level into the present entry new
 * needs break-before-make on this table (format requires it, hook set). */
int npt_needs_bbm_slow(const struct npt_table *t, unsigned level, uint64_t old, uint64_t new);
static inline int npt_needs_bbm(const struct npt_table *t, unsigned level, uint64_t old,
				uint64_t new)
{
	return t->fmt->bbm && t->bbm_hook && npt_needs_bbm_slow(t, level, old, new);
}
/* Breaks the entry at *slot covering [first, first + size(level)): writes it
 * invalid and calls the BBM hook (old decides NPT_FLUSH_TABLE). Returns the
 * entry as it was at the break (hardware may have updated it since old). */
uint64_t npt_bbm_break(struct npt_table *t, uint64_t *slot, uint64_t old, unsigned level,
		       uint64_t first);
/* Replaces the present entry old at *slot by new (a leaf, or a complete
 * table): with break-before-make where needed, else one release exchange and
 * a noted flush run. Returns the entry as it was when replaced. */
uint64_t npt_entry_replace(struct npt_table *t, uint64_t *slot, uint64_t old, uint64_t new,
			   unsigned level, uint64_t first);

/* share.c: 1 if a present root entry in [first, last] is shared from
 * another table (npt_copy_from): nothing below it may change through t. */
int npt_range_shared(const struct npt_table *t, uint64_t first, uint64_t last);

/* query.c: fills t->q (once t->fmt and t->mm are set). */
void npt_query_prepare(struct npt_table *t);

#endif
