/*
 * npt_user_pool_mm: frames from memory the caller owns, frame k of mem at
 * physical address base_pa + k * 4 KiB. The bookkeeping (this context, one
 * state byte and one frame_word per frame) takes the first frames of mem;
 * the rest are handed out first fit, a contiguous block aligned to its size
 * rounded up to a power of two, in physical addresses.
 */
#include <string.h>

#include "frames.h"
#include "user_mm.h"

struct pool {
	struct npt_user_mm h;
	unsigned char *mem;
	struct npt_frames fr; /* bookkeeping frames included, taken for good */
	uint64_t first;       /* first frame it hands out */
	uint32_t *words;
};

static int take(struct npt_user_mm *h, unsigned count, uint64_t *pa)
{
	struct pool *p = (struct pool *)h;
	int err;

	npt_user_lock(&p->h);
	err = npt_frames_take(&p->fr, count, npt_frames_block_align(count), pa);
	if (!err)
		p->h.used += count;
	npt_user_unlock(&p->h);
	return err;
}

static void give(struct npt_user_mm *h, uint64_t pa, unsigned count)
{
	struct pool *p = (struct pool *)h;
	const char *bad;

	npt_user_lock(&p->h);
	bad = npt_frames_index(&p->fr, pa) < p->first ? "freeing a frame outside the pool"
						       : npt_frames_give(&p->fr, pa, count);
	if (bad)
		npt_user_bad_free("pool", bad, pa);
	p->h.used -= count;
	npt_user_unlock(&p->h);
}

static void *pool_virt(void *ctx, uint64_t pa)
{
	struct pool *p = ctx;

	return npt_frames_index(&p->fr, pa) != UINT64_MAX ? p->mem + (pa - p->fr.base_pa) : NULL;
}

static uint32_t *pool_word(void *ctx, uint64_t pa)
{
	struct pool *p = ctx;

	return &p->words[(pa - p->fr.base_pa) / NPT_USER_FRAME];
}

struct npt_mm *npt_user_pool_mm(void *mem, size_t size, uint64_t base_pa)
{
	const uint64_t frames = size / NPT_USER_FRAME;
	struct pool *p = mem;
	uint64_t meta;

	if (!mem || ((uintptr_t)mem | base_pa) & (NPT_USER_FRAME - 1) ||
	    base_pa + (uint64_t)size < base_pa)
		return NULL;
	meta = (sizeof(*p) + frames * (sizeof(*p->words) + 1) + NPT_USER_FRAME - 1) / NPT_USER_FRAME;
	if (frames <= meta)
		return NULL;
	memset(p, 0, sizeof(*p));
	p->mem = mem;
	p->first = meta;
	p->words = (uint32_t *)(void *)(p + 1);
	npt_frames_init(&p->fr, (unsigned char *)(p->words + frames), base_pa, frames);
	npt_frames_claim(&p->fr, base_pa, meta); /* the bookkeeping's own frames, never free */
	p->h.kind = NPT_USER_POOL;
	p->h.capacity = frames - meta;
	p->h.take = take;
	p->h.give = give;
	npt_user_mm_calls(&p->h);
	p->h.mm.phys_to_virt = pool_virt;
	p->h.mm.frame_word = pool_word;
	p->h.mm.flags = NPT_MM_LINEAR;
	p->h.mm.linear_offset = (uintptr_t)mem - (uintptr_t)base_pa;
	return &p->h.mm;
}
