/*
 * npt_query and npt_query_batch: the translation of one address, through
 * the walker's step down (npt_seek) or, in the common cases, one of the
 * walks query_fast.c compiles per format shape (picked once per table by
 * npt_query_prepare, t->q).
 *
 * Both may run while another thread changes the table: each entry is read
 * once, with an acquire load (npt_pte_get), so a table reached through an
 * entry is seen as complete as it was when the entry was published.
 */
#include "walk.h"
#include "query.h"

/* The page holding va is in range: the check npt_check_input makes of one
 * page comes down to va's top bits. */
static inline int va_in_range(const struct npt_format *f, uint64_t va)
{
	if (f->canonical) {
		const unsigned s = 64u - f->va_bits;

		return (uint64_t)((int64_t)(va << s) >> s) == va;
	}
	return !(va >> f->va_bits);
}

/* npt_query for every case: any allocator, flags decoded. */
int npt_query_general(const struct npt_table *t, uint64_t va, uint64_t *pa, unsigned *flags,
			 uint64_t *page_size)
{
	const struct npt_format *f;
	struct npt_seek s;
	uint64_t size;

	if (!t)
		return NPT_ERR_INVAL;
	f = t->fmt;
	if (!va_in_range(f, va))
		return NPT_ERR_RANGE;
	npt_seek(t, va & t->ia_mask, &s);
	if (!npt_pte_present(f, s.pte))
		return NPT_ERR_NOT_MAPPED;
	size = npt_level_size(s.level);
	if (pa)
		*pa = (npt_pte_addr(f, s.pte) & ~(size - 1)) | (va & (size - 1));
	if (flags)
		*flags = f->decode(f, s.level, s.pte);
	if (page_size)
		*page_size = size;
	return 0;
}


int npt_query(const struct npt_table *t, uint64_t va, uint64_t *pa, unsigned *flags,
	      uint64_t *page_size)
{
	if (NPT_LIKELY(t && pa && !flags && !page_size))
		return t->q.walk(t, va, pa);
	if (!t || flags || !t->q.fast)
		return npt_query_general(t, va, pa, flags, page_size);
	return npt_query_linear(t, va, pa, page_size);
}

int npt_query_batch(const struct npt_table *t, const uint64_t *va, size_t n, uint64_t *pa,
		    int *err)
{
	size_t i;

	if (!t)
		return NPT_ERR_INVAL;
	if (!n)
		return 0;
	if (!va || !pa || !err)
		return NPT_ERR_INVAL;
	if (t->q.batch) {
		t->q.batch(t, va, n, pa, err);
		return 0;
	}
	for (i = 0; i < n; i++) {
		uint64_t p = 0;
		int e = npt_query_general(t, va[i], &p, NULL, NULL);

		pa[i] = e ? 0 : p;
		err[i] = e;
	}
	return 0;
}

