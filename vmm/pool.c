/*
 * Frame pools: a run of 4 KiB frames handed out first fit by npt's frame
 * core (user/frames.h), and the npt_mm that lets npt build tables in them.
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

/* A run comes out as single frames: the scenarios give back parts of runs
 * (a frame whose last mapping went, a 2 MiB leaf moved off claimed frames),
 * so a frame, not a run, is what pool_free checks. */
int pool_alloc(struct pool *p, uint64_t count, uint64_t *pa)
{
	/* Contiguous runs are aligned to their size when that is a power of
	 * two: npt's multi-frame roots need it, and 2 MiB runs can then back
	 * 2 MiB leaves. */
	if (npt_frames_take(&p->fr, count, (count & (count - 1)) ? 1 : count, pa))
		return -1;
	npt_frames_split(&p->fr, *pa, count);
	return 0;
}

/* Freeing frames the pool does not hold, or holds free, is the VMM's own
 * bug: stop at once rather than hand a frame out twice. */
void pool_free(struct pool *p, uint64_t pa, uint64_t count)
{
	for (uint64_t k = 0; k < count; k++) {
		const char *bad = npt_frames_give(&p->fr, pa + k * PAGE_SIZE, 1);

		if (bad) {
			fprintf(stderr, "vmm: pool_free of 0x%llx + %llu frames: frame 0x%llx: %s\n",
				(unsigned long long)pa, (unsigned long long)count,
				(unsigned long long)(pa + k * PAGE_SIZE), bad);
			abort();
		}
	}
}

int pool_take(struct pool *p, uint64_t pa, uint64_t count)
{
	return npt_frames_claim(&p->fr, pa, count);
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

	return p->host + (pa - p->fr.base_pa);
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
	unsigned char *state = malloc(frames ? frames : 1);

	memset(p, 0, sizeof(*p));
	if (!state)
		return -1;
	npt_frames_init(&p->fr, state, base, frames);
	p->host = host;
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
	free(p->fr.state);
	p->fr.state = NULL;
}
