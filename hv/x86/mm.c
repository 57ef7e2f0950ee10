/*
 * Frames for npt's tables: a free stack over [HV_FRAMES_PA, + size), the
 * memory identity-mapped, so NPT_MM_LINEAR with offset 0; alloc_contig is
 * not needed by the x86 formats. Guest RAM pages come from a bump pointer.
 */
#include "hv.h"

#define NFRAMES (HV_FRAMES_SIZE / 4096)

static uint32_t free_stack[NFRAMES];
static uint64_t nfree, bump, live;
static uint64_t ram_next = HV_RAM_PA;

static int mm_alloc(void *ctx, uint64_t *pa)
{
	(void)ctx;
	if (nfree)
		*pa = HV_FRAMES_PA + (uint64_t)free_stack[--nfree] * 4096;
	else if (bump < NFRAMES)
		*pa = HV_FRAMES_PA + bump++ * 4096;
	else
		return -1;
	live++;
	return 0;
}

static void mm_free(void *ctx, uint64_t pa)
{
	(void)ctx;
	free_stack[nfree++] = (uint32_t)((pa - HV_FRAMES_PA) / 4096);
	live--;
}

static void *mm_virt(void *ctx, uint64_t pa)
{
	(void)ctx;
	return (void *)(uintptr_t)pa;
}

struct npt_mm hv_mm = {
	.alloc = mm_alloc,
	.free = mm_free,
	.phys_to_virt = mm_virt,
	.flags = NPT_MM_LINEAR,
	.linear_offset = 0,
};

uint64_t hv_mm_live(void)
{
	return live;
}

uint64_t hv_ram_block(uint64_t size, uint64_t align)
{
	uint64_t pa = (ram_next + align - 1) & ~(align - 1);

	if (pa + size > HV_RAM_PA + HV_RAM_SIZE)
		return 0;
	ram_next = pa + size;
	return pa;
}

uint64_t hv_ram_page(void)
{
	return hv_ram_block(4096, 4096);
}
