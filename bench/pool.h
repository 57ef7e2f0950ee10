/*
 * The benches' frame allocator (bench.c, bench_stage2.c, bench_2d.c): frames
 * of one memory block at made-up physical addresses base_pa + offset, a stack
 * of free frame numbers (so a free never touches the frame) and a bump
 * pointer; contiguous blocks come from the bump pointer, aligned to their
 * size, and go back to a stack per size. NPT_MM_LINEAR, a frame word per
 * frame. No lock and no checks: it must not be what a bench measures.
 */
#ifndef NPT_BENCH_POOL_H
#define NPT_BENCH_POOL_H

#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "npt.h"

#define BENCH_PAGE 4096ull
#define BENCH_MAX_CONTIG 16u

/* live is kept away from top: side by side, gcc updates the two with one
 * 16-byte load and store, which the 8-byte stores of alloc then keep from
 * being forwarded, a stall in every free the npt_free row counts. */
struct bench_pool {
	unsigned char *mem; /* frame 0, at base_pa */
	size_t nframes, bump, top;
	uint32_t *stack;
	uint32_t *cstack[BENCH_MAX_CONTIG + 1];
	size_t ctop[BENCH_MAX_CONTIG + 1];
	size_t live;
	uint32_t *words; /* npt_mm.frame_word, one per frame */
	uint64_t base_pa;
};

static inline int bench_pool_alloc(void *ctx, uint64_t *pa)
{
	struct bench_pool *p = ctx;
	size_t i;

	if (p->top)
		i = p->stack[--p->top];
	else if (p->bump < p->nframes)
		i = p->bump++;
	else
		return -1;
	p->live++;
	*pa = p->base_pa + (uint64_t)i * BENCH_PAGE;
	return 0;
}

static inline void bench_pool_free(void *ctx, uint64_t pa)
{
	struct bench_pool *p = ctx;

	p->live--;
	p->stack[p->top++] = (uint32_t)((pa - p->base_pa) / BENCH_PAGE);
}

static inline void *bench_pool_virt(void *ctx, uint64_t pa)
{
	struct bench_pool *p = ctx;

	return p->mem + (pa - p->base_pa);
}

static inline uint32_t *bench_pool_word(void *ctx, uint64_t pa)
{
	struct bench_pool *p = ctx;

	return &p->words[(pa - p->base_pa) / BENCH_PAGE];
}

static inline int bench_pool_alloc_contig(void *ctx, unsigned count, uint64_t *pa)
{
	struct bench_pool *p = ctx;
	size_t i;

	if (count == 0 || count > BENCH_MAX_CONTIG)
		return -1;
	if (p->ctop[count]) {
		i = p->cstack[count][--p->ctop[count]];
	} else {
		size_t start = (p->bump + count - 1) / count * count;

		if (start + count > p->nframes)
			return -1;
		for (; p->bump < start; p->bump++) /* the alignment gap: single frames */
			p->stack[p->top++] = (uint32_t)p->bump;
		i = start;
		p->bump = start + count;
	}
	p->live += count;
	*pa = p->base_pa + (uint64_t)i * BENCH_PAGE;
	return 0;
}

static inline void bench_pool_free_contig(void *ctx, uint64_t pa, unsigned count)
{
	struct bench_pool *p = ctx;

	p->live -= count;
	p->cstack[count][p->ctop[count]++] = (uint32_t)((pa - p->base_pa) / BENCH_PAGE);
}

/* nframes frames at base_pa: of mem, or (mem NULL) of a pre-faulted mmap.
 * base_pa must be aligned to BENCH_MAX_CONTIG frames. 0, or -1. */
static inline int bench_pool_init(struct bench_pool *p, void *mem, uint64_t base_pa,
				  size_t nframes)
{
	unsigned c;

	*p = (struct bench_pool){ .base_pa = base_pa, .nframes = nframes };
	if (!mem) {
		mem = mmap(NULL, nframes * BENCH_PAGE, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
		if (mem == MAP_FAILED)
			return -1;
	}
	p->mem = mem;
	p->stack = calloc(nframes, sizeof(*p->stack));
	p->words = calloc(nframes, sizeof(*p->words));
	if (!p->stack || !p->words)
		return -1;
	for (c = 1; c <= BENCH_MAX_CONTIG; c++) {
		p->cstack[c] = calloc(nframes / c + 1, sizeof(uint32_t));
		if (!p->cstack[c])
			return -1;
	}
	return 0;
}

/* Every frame free again (the tables on it abandoned, npt_abandon). */
static inline void bench_pool_reset(struct bench_pool *p)
{
	p->bump = p->top = p->live = 0;
	for (unsigned c = 1; c <= BENCH_MAX_CONTIG; c++)
		p->ctop[c] = 0;
}

/* The npt_mm of the pool. */
static inline struct npt_mm bench_pool_mm(struct bench_pool *p)
{
	return (struct npt_mm){
		.ctx = p,
		.alloc = bench_pool_alloc,
		.free = bench_pool_free,
		.phys_to_virt = bench_pool_virt,
		.alloc_contig = bench_pool_alloc_contig,
		.free_contig = bench_pool_free_contig,
		.frame_word = bench_pool_word,
		.flags = NPT_MM_LINEAR,
		.linear_offset = (uintptr_t)p->mem - (uintptr_t)p->base_pa,
	};
}

/* Contiguous frames for the baselines' buffers, never given back; NULL
 * when the pool has no room. */
static inline void *bench_pool_reserve(struct bench_pool *p, size_t bytes)
{
	size_t n = (bytes + BENCH_PAGE - 1) / BENCH_PAGE;
	void *v;

	if (p->bump + n > p->nframes)
		return NULL;
	v = p->mem + p->bump * BENCH_PAGE;
	p->bump += n;
	return v;
}

#endif
