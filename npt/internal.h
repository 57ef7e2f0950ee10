/*
 * The engine's private structures, shared by the files of npt/.
 */
#ifndef NPT_INTERNAL_H
#define NPT_INTERNAL_H

#include "format.h"

/* Concatenated AArch64 stage-2 roots go up to 16 frames. */
#define NPT_ROOT_MAX_FRAMES 16u
#define NPT_ROOT_MAX_ENTRIES (NPT_ROOT_MAX_FRAMES * NPT_ENTRIES)

struct npt_table {
	const struct npt_format *fmt;
	struct npt_mm mm;
	uint64_t root_pa;
	uint64_t *root;
	unsigned root_frames;
	unsigned root_entries;
	uint64_t ia_mask;  /* input addresses are reduced to va_bits before indexing */
	uint64_t frames;   /* owned frames, root included */
	/* root slots holding an entry shared from another table (npt_copy_from) */
	uint64_t shared[NPT_ROOT_MAX_ENTRIES / 64];
	/* root slots whose table another table shares: that table is kept even
	 * when it empties, because the sharer still points at it */
	uint64_t exported[NPT_ROOT_MAX_ENTRIES / 64];
	void (*flush_hook)(void *arg, const struct npt_flush *f);
	void *flush_arg;
	uint64_t flush_threshold;
	struct npt_flush last_flush;
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
	unsigned s = 64u - t->fmt->va_bits;
	if (!t->fmt->canonical)
		return ia;
	return (uint64_t)((int64_t)(ia << s) >> s);
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

/* table.c */
int npt_check_input(const struct npt_table *t, uint64_t va, uint64_t size,
		    uint64_t *first, uint64_t *last);
int npt_check_output(const struct npt_format *f, uint64_t pa, uint64_t size);
int npt_frame_alloc(struct npt_table *t, uint64_t *pa);
void npt_frame_free(struct npt_table *t, uint64_t pa);
void npt_free_subtree(struct npt_table *t, unsigned level, uint64_t table_pa);
void npt_flush_begin(struct npt_table *t);
void npt_flush_end(struct npt_table *t, int changed, uint64_t first, uint64_t last);

/* query.c: the leaf (or the empty entry) that translates ia. */
struct npt_lookup {
	unsigned level;
	uint64_t pte;
	unsigned root_idx;
};
int npt_lookup(const struct npt_table *t, uint64_t ia, struct npt_lookup *out);

#endif
