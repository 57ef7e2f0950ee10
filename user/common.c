/* The calls of npt_user.h that take either allocator, and the npt_mm
 * callbacks both hand to their own take and give. */
#include "user_mm.h"

static int user_alloc(void *ctx, uint64_t *pa)
{
	struct npt_user_mm *h = ctx;

	return h->take(h, 1, pa);
}

static void user_free(void *ctx, uint64_t pa)
{
	struct npt_user_mm *h = ctx;

	h->give(h, pa, 1);
}

static int user_alloc_contig(void *ctx, unsigned count, uint64_t *pa)
{
	struct npt_user_mm *h = ctx;

	return h->take(h, count, pa);
}

static void user_free_contig(void *ctx, uint64_t pa, unsigned count)
{
	struct npt_user_mm *h = ctx;

	h->give(h, pa, count);
}

void npt_user_mm_calls(struct npt_user_mm *h)
{
	h->mm.ctx = h;
	h->mm.alloc = user_alloc;
	h->mm.free = user_free;
	h->mm.alloc_contig = user_alloc_contig;
	h->mm.free_contig = user_free_contig;
}

uint64_t npt_user_mm_frames(const struct npt_mm *mm)
{
	struct npt_user_mm *h = npt_user_of(mm);
	uint64_t n;

	if (!h)
		return 0;
	npt_user_lock(h);
	n = h->used;
	npt_user_unlock(h);
	return n;
}

uint64_t npt_user_mm_available(const struct npt_mm *mm)
{
	struct npt_user_mm *h = npt_user_of(mm);
	uint64_t n;

	if (!h)
		return 0;
	npt_user_lock(h);
	n = h->capacity == UINT64_MAX ? UINT64_MAX : h->capacity - h->used;
	npt_user_unlock(h);
	return n;
}

void npt_user_mm_delete(struct npt_mm *mm)
{
	struct npt_user_mm *h = npt_user_of(mm);

	if (h && h->kind == NPT_USER_HEAP)
		npt_user_heap_delete(h);
}
