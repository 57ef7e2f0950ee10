/* What the two allocators of npt_user.h share: the header every context
 * starts with (npt_user_mm_frames reads it through mm), the lock, and the
 * message a caller's bug stops on. */
#ifndef NPT_USER_MM_H
#define NPT_USER_MM_H

#include <stdio.h>
#include <stdlib.h>

#include "npt_user.h"

#define NPT_USER_FRAME 4096u

enum { NPT_USER_HEAP = 1, NPT_USER_POOL = 2 };

struct npt_user_mm {
	struct npt_mm mm; /* first: mm->ctx is this header */
	int kind;
	char lock;
	uint64_t used;     /* frames out */
	uint64_t capacity; /* frames it can hand out at all (heap: UINT64_MAX) */
	/* the allocator's own: count frames (a block of them for count > 1) */
	int (*take)(struct npt_user_mm *h, unsigned count, uint64_t *pa);
	void (*give)(struct npt_user_mm *h, uint64_t pa, unsigned count);
};

static inline struct npt_user_mm *npt_user_of(const struct npt_mm *mm)
{
	return mm ? (struct npt_user_mm *)mm->ctx : NULL;
}

static inline void npt_user_lock(struct npt_user_mm *h)
{
	while (__atomic_test_and_set(&h->lock, __ATOMIC_ACQUIRE))
		;
}

static inline void npt_user_unlock(struct npt_user_mm *h)
{
	__atomic_clear(&h->lock, __ATOMIC_RELEASE);
}

/* A frame handed back that this allocator does not hold as allocated. */
static inline void npt_user_bad_free(const char *mm, const char *what, uint64_t pa)
{
	fprintf(stderr, "npt_user %s: %s (pa 0x%llx)\n", mm, what, (unsigned long long)pa);
	abort();
}

void npt_user_heap_delete(struct npt_user_mm *h);
/* mm's alloc, free, alloc_contig and free_contig, through h->take and
 * h->give. */
void npt_user_mm_calls(struct npt_user_mm *h);

#endif
