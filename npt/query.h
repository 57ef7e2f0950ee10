/*
 * Between query.c and query_fast.c: the general translation and the fast
 * walks' entry points.
 */
#ifndef NPT_QUERY_H
#define NPT_QUERY_H

#include "internal.h"

/* npt_query for every case: any allocator, flags decoded. */
int npt_query_general(const struct npt_table *t, uint64_t va, uint64_t *pa, unsigned *flags,
		      uint64_t *page_size);
/* npt_query with a page size wanted, on a t->q.fast table. */
int npt_query_linear(const struct npt_table *t, uint64_t va, uint64_t *pa, uint64_t *page_size);

#endif
