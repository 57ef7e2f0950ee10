/*
 * Frames for npt's tables: a free stack over [HV_FRAMES_PA, + size), the
 * memory identity-mapped, so NPT_MM_LINEAR with offset 0. Aligned blocks
 * (concatenated Arm stage-2 roots) come from the bump pointer and go back
 * frame by frame. Guest RAM pages come from a bump pointer of their own.
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

static int mm_alloc_contig(void *ctx, unsigned count, uint64_t *pa)
{
	const uint64_t align = count;

	(void)ctx;
	while (bump % align) /* the frames skipped go onto the free stack */
		free_stack[nfree++] = (uint32_t)bump++;
	if (bump + count > NFRAMES)
		return -1;
	*pa = HV_FRAMES_PA + bump * 4096;
	bump += count;
	live += count;
	return 0;
}

static void mm_free_contig(void *ctx, uint64_t pa, unsigned count)
{
	while (count--)
		mm_free(ctx, pa + (uint64_t)count * 4096);
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
	.alloc_contig = mm_alloc_contig,
	.free_contig = mm_free_contig,
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

	if (pa + size > HV_RAM_PA + HV_RAM_SIZE) {
		hv_printf("hv: FAIL out of guest RAM\n");
		hv_exit(2);
	}
	ram_next = pa + size;
	return pa;
}

uint64_t hv_ram_page(void)
{
	return hv_ram_block(4096, 4096);
}
