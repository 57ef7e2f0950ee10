/* The calls of npt_user.h that take either allocator. */
#include "user_mm.h"

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
