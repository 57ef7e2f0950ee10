/*
 * npt_user_pool_mm: frames from memory the caller owns, frame k of mem at
 * physical address base_pa + k * 4 KiB. The bookkeeping (this context, one
 * state byte and one frame_word per frame) takes the first frames of mem;
 * the rest are handed out first fit, a contiguous block aligned to its size
 * rounded up to a power of two, in physical addresses.
 */
#include <string.h>

#include "user_mm.h"

enum { FREE = 0, SINGLE = 1, HEAD = 2, TAIL = 3 };

struct pool {
	struct npt_user_mm h;
	unsigned char *mem;
	uint64_t base_pa;
	uint64_t frames; /* in mem, bookkeeping included */
	uint64_t first;  /* first frame it hands out */
	uint64_t hint;   /* no free frame below it */
	unsigned char *state;
	uint32_t *words;
};

static int take(struct npt_user_mm *h, unsigned count, uint64_t *pa)
{
	struct pool *p = (struct pool *)h;
	uint64_t align = 1, i, k;

	if (count == 0)
		return -1;
	while (align < count)
		align <<= 1;
	npt_user_lock(&p->h);
	for (i = p->hint; i + count <= p->frames;) {
		uint64_t skew = ((p->base_pa >> 12) + i) & (align - 1);

		if (skew) {
			i += align - skew;
			continue;
		}
		for (k = 0; k < count && p->state[i + k] == FREE; k++)
			;
		if (k == count)
			break;
		i += k + 1;
	}
	if (i + count > p->frames) {
		npt_user_unlock(&p->h);
		return -1;
	}
	for (k = 0; k < count; k++)
		p->state[i + k] = count == 1 ? SINGLE : k ? TAIL : HEAD;
	if (count == 1 && i == p->hint)
		p->hint = i + 1;
	p->h.used += count;
	npt_user_unlock(&p->h);
	*pa = p->base_pa + i * NPT_USER_FRAME;
	return 0;
}

static void give(struct npt_user_mm *h, uint64_t pa, unsigned count)
{
	struct pool *p = (struct pool *)h;
	const uint64_t i = (pa - p->base_pa) / NPT_USER_FRAME;
	uint64_t k;

	npt_user_lock(&p->h);
	if (pa < p->base_pa || (pa & (NPT_USER_FRAME - 1)) || i < p->first || count == 0 ||
	    i + count > p->frames || i + count < i)
		npt_user_bad_free("pool", "freeing a frame outside the pool", pa);
	for (k = 0; k < count; k++) {
		const unsigned want = count == 1 ? SINGLE : k ? TAIL : HEAD;

		if (p->state[i + k] != want)
			npt_user_bad_free("pool", p->state[i + k] == FREE
				? "freeing a frame that is not allocated"
				: "freed with another size than it was allocated", pa);
	}
	if (count > 1 && i + count < p->frames && p->state[i + count] == TAIL)
		npt_user_bad_free("pool", "freed with another size than it was allocated", pa);
	memset(p->state + i, FREE, count);
	if (i < p->hint)
		p->hint = i;
	p->h.used -= count;
	npt_user_unlock(&p->h);
}

static void *pool_virt(void *ctx, uint64_t pa)
{
	struct pool *p = ctx;

	return pa >= p->base_pa && (pa - p->base_pa) / NPT_USER_FRAME < p->frames
		       ? p->mem + (pa - p->base_pa)
		       : NULL;
}

static uint32_t *pool_word(void *ctx, uint64_t pa)
{
	struct pool *p = ctx;

	return &p->words[(pa - p->base_pa) / NPT_USER_FRAME];
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
	p->base_pa = base_pa;
	p->frames = frames;
	p->first = p->hint = meta;
	p->words = (uint32_t *)(void *)(p + 1);
	p->state = (unsigned char *)(p->words + frames);
	memset(p->state, FREE, frames);
	memset(p->state, SINGLE, meta); /* the bookkeeping's own frames, never free */
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
