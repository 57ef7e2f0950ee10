/*
 * Frame pools: a run of 4 KiB frames handed out by a bitmap, and the npt_mm
 * that lets npt build tables in them.
 *
 * The VMM uses three: the stage-1 pool (frames inside guest RAM, so the
 * guest's CPU walks what npt wrote; "physical" = guest-physical), the
 * stage-2 pool (plain host memory; only the VMM reads that table) and the
 * RAM frames the scenarios map into the guest (their "physical" address is
 * the offset in guest RAM). Every pool is linear -- host = pa + offset -- so
 * the npt_mm says NPT_MM_LINEAR and the engine skips phys_to_virt.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmm.h"

static int bit(const struct pool *p, uint64_t i)
{
	return (p->bitmap[i / 64] >> (i % 64)) & 1;
}

static void set_bits(struct pool *p, uint64_t i, uint64_t n, int on)
{
	for (uint64_t k = i; k < i + n; k++) {
		if (on)
			p->bitmap[k / 64] |= 1ull << (k % 64);
		else
			p->bitmap[k / 64] &= ~(1ull << (k % 64));
	}
	if (on)
		p->used += n;
	else
		p->used -= n;
}

int pool_alloc(struct pool *p, uint64_t count, uint64_t *pa)
{
	/* Contiguous runs are aligned to their size when that is a power of
	 * two: npt's multi-frame roots need it, and 2 MiB runs can then back
	 * 2 MiB leaves. Alignment is of the physical address, not the index. */
	uint64_t align = (count & (count - 1)) ? 1 : count;
	uint64_t first = p->base / PAGE_SIZE;

	if (count == 0)
		return -1;
	for (uint64_t i = p->hint; i + count <= p->frames;) {
		uint64_t skew = (first + i) % align;
		if (skew) {
			i += align - skew;
			continue;
		}
		uint64_t k = 0;
		while (k < count && !bit(p, i + k))
			k++;
		if (k == count) {
			set_bits(p, i, count, 1);
			if (count == 1) /* everything in [hint, i) was in use */
				p->hint = i + 1;
			*pa = p->base + i * PAGE_SIZE;
			return 0;
		}
		i += k + 1;
	}
	return -1;
}

/* Freeing frames the pool does not hold, or holds free, is the VMM's own
 * bug: stop at once rather than corrupt the bitmap and hand a frame out
 * twice. */
void pool_free(struct pool *p, uint64_t pa, uint64_t count)
{
	uint64_t i = (pa - p->base) / PAGE_SIZE;

	if (pa < p->base || pa % PAGE_SIZE || i + count > p->frames || i + count < i) {
		fprintf(stderr, "vmm: pool_free of 0x%llx + %llu frames outside the pool\n",
			(unsigned long long)pa, (unsigned long long)count);
		abort();
	}
	for (uint64_t k = 0; k < count; k++) {
		if (!bit(p, i + k)) {
			fprintf(stderr, "vmm: pool_free of frame 0x%llx, which is free\n",
				(unsigned long long)(pa + k * PAGE_SIZE));
			abort();
		}
	}
	set_bits(p, i, count, 0);
	if (i < p->hint)
		p->hint = i;
}

int pool_take(struct pool *p, uint64_t pa, uint64_t count)
{
	uint64_t i = (pa - p->base) / PAGE_SIZE;

	if (pa < p->base || pa % PAGE_SIZE || i + count > p->frames)
		return -1;
	for (uint64_t k = 0; k < count; k++)
		if (bit(p, i + k))
			return -1;
	set_bits(p, i, count, 1);
	return 0;
}

/* ---- npt_mm callbacks ------------------------------------------------------ */

static int mm_alloc(void *ctx, uint64_t *pa)
{
	return pool_alloc(ctx, 1, pa);
}

static void mm_free(void *ctx, uint64_t pa)
{
	pool_free(ctx, pa, 1);
}

static void *mm_virt(void *ctx, uint64_t pa)
{
	struct pool *p = ctx;

	return p->host + (pa - p->base);
}

static int mm_alloc_contig(void *ctx, unsigned count, uint64_t *pa)
{
	return pool_alloc(ctx, count, pa);
}

static void mm_free_contig(void *ctx, uint64_t pa, unsigned count)
{
	pool_free(ctx, pa, count);
}

int pool_init(struct pool *p, void *host, uint64_t base, uint64_t frames)
{
	memset(p, 0, sizeof(*p));
	p->bitmap = calloc((frames + 63) / 64 + 1, sizeof(uint64_t));
	if (!p->bitmap)
		return -1;
	p->host = host;
	p->base = base;
	p->frames = frames;
	p->mm.ctx = p;
	p->mm.alloc = mm_alloc;
	p->mm.free = mm_free;
	p->mm.phys_to_virt = mm_virt;
	p->mm.alloc_contig = mm_alloc_contig;
	p->mm.free_contig = mm_free_contig;
	p->mm.flags = NPT_MM_LINEAR;
	p->mm.linear_offset = (uintptr_t)host - (uintptr_t)base;
	return 0;
}

void pool_fini(struct pool *p)
{
	free(p->bitmap);
	p->bitmap = NULL;
}
