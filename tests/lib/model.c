/* model — see model.h. */
#include "model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MPG 4096ull

static void *mrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (!q) {
		fprintf(stderr, "model: out of memory\n");
		abort();
	}
	return q;
}

void model_init(struct model *m, const struct model_cfg *cfg)
{
	memset(m, 0, sizeof(*m));
	m->cfg = *cfg;
}

void model_free(struct model *m)
{
	free(m->l);
	free(m->tmp);
	memset(m, 0, sizeof(*m));
}

unsigned model_norm(const struct model *m, unsigned flags)
{
	return flags | ((flags & NPT_W) ? m->cfg.extra_rw : m->cfg.extra_ro);
}

const char *model_set_str(unsigned set, char *buf, size_t len)
{
	static const char *const names[] = {
		"OK", "NOMEM", "ALIGN", "NOT_MAPPED", "ALREADY_MAPPED", "HUGE", "RANGE", "FLAGS",
		"INVAL", "SHARED", "UNSUPPORTED",
	};
	size_t o = 0;
	unsigned i;

	buf[0] = 0;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (set >> i & 1u)
			o += (size_t)snprintf(buf + (o < len ? o : len), o < len ? len - o : 0,
					      "%s%s", o ? "|" : "", names[i]);
	return buf;
}

/* ---- address checks ------------------------------------------------------ */

static int canonical_va(const struct model *m, uint64_t va)
{
	unsigned s = 64u - m->cfg.va_bits;

	return (uint64_t)((int64_t)(va << s) >> s) == va;
}

/* [va, last] inside the input space, in one half on canonical formats. */
static int in_range(const struct model *m, uint64_t va, uint64_t last)
{
	if (last < va)
		return 0;
	if (m->cfg.canonical)
		return canonical_va(m, va) && canonical_va(m, last) && !((va ^ last) >> 63);
	return m->cfg.va_bits >= 64 || (last >> m->cfg.va_bits) == 0;
}

/* Argument errors of an input range [va, va + size). */
static unsigned input_errors(const struct model *m, uint64_t va, uint64_t size)
{
	unsigned e = 0;

	if (size == 0)
		return MODEL_BIT(NPT_ERR_RANGE) | (((va & (MPG - 1)) ? MODEL_BIT(NPT_ERR_ALIGN) : 0));
	if ((va | size) & (MPG - 1))
		e |= MODEL_BIT(NPT_ERR_ALIGN);
	if (!in_range(m, va, va + (size - 1)))
		e |= MODEL_BIT(NPT_ERR_RANGE);
	return e;
}

static unsigned output_errors(const struct model *m, uint64_t pa, uint64_t size)
{
	unsigned e = 0;
	uint64_t last = pa + (size - 1);

	if (size == 0)
		return MODEL_BIT(NPT_ERR_RANGE);
	if (pa & (MPG - 1))
		e |= MODEL_BIT(NPT_ERR_ALIGN);
	if (last < pa || (m->cfg.pa_bits < 64 && (last >> m->cfg.pa_bits)))
		e |= MODEL_BIT(NPT_ERR_RANGE);
	return e;
}

static unsigned flag_errors(const struct model *m, unsigned flags)
{
	return flags < 256 && m->cfg.encodable[flags] ? 0 : MODEL_BIT(NPT_ERR_FLAGS);
}

/* ---- leaves ---------------------------------------------------------------- */

static uint64_t leaf_last(const struct mleaf *l)
{
	return l->va + (model_lsize(l->level) - 1);
}

/* Index of the first leaf that ends at or after a. */
static size_t find_first(const struct model *m, uint64_t a)
{
	size_t lo = 0, hi = m->n;

	while (lo < hi) { /* first leaf with va > a */
		size_t mid = lo + (hi - lo) / 2;

		if (m->l[mid].va > a)
			hi = mid;
		else
			lo = mid + 1;
	}
	if (lo > 0 && leaf_last(&m->l[lo - 1]) >= a)
		return lo - 1;
	return lo;
}

const struct mleaf *model_find(const struct model *m, uint64_t va)
{
	size_t i = find_first(m, va);

	if (i < m->n && m->l[i].va <= va && va <= leaf_last(&m->l[i]))
		return &m->l[i];
	return NULL;
}

static int any_mapped(const struct model *m, uint64_t a, uint64_t last)
{
	size_t i = find_first(m, a);

	return i < m->n && m->l[i].va <= last;
}

static int all_mapped(const struct model *m, uint64_t a, uint64_t last)
{
	size_t i = find_first(m, a);
	uint64_t cur = a;

	for (; i < m->n; i++) {
		if (m->l[i].va > cur)
			return 0;
		if (leaf_last(&m->l[i]) >= last)
			return 1;
		cur = leaf_last(&m->l[i]) + 1;
	}
	return 0;
}

struct lbuf {
	struct mleaf *l;
	size_t n, cap;
};

static void lbuf_push(struct lbuf *b, uint64_t va, uint64_t pa, unsigned level, unsigned flags)
{
	if (b->n == b->cap) {
		b->cap = b->cap ? 2 * b->cap : 64;
		b->l = mrealloc(b->l, b->cap * sizeof(*b->l));
	}
	b->l[b->n].va = va;
	b->l[b->n].pa = pa;
	b->l[b->n].level = level;
	b->l[b->n].flags = flags;
	b->n++;
}

/* Greedy decomposition of [va, va + size) into leaves of the levels in mask. */
static void greedy(const struct model *m, struct lbuf *b, uint64_t va, uint64_t pa,
		   uint64_t size, unsigned mask, unsigned flags)
{
	uint64_t cur = 0;

	while (cur < size) {
		int l;

		for (l = (int)m->cfg.levels - 1; l >= 0; l--) {
			uint64_t s = model_lsize((unsigned)l);

			if (!(mask >> l & 1u) || ((va + cur) & (s - 1)) || ((pa + cur) & (s - 1)) ||
			    size - cur < s)
				continue;
			lbuf_push(b, va + cur, pa + cur, (unsigned)l, flags);
			cur += s;
			break;
		}
		if (l < 0) { /* cannot happen: level 0 always fits */
			fprintf(stderr, "model: greedy stuck\n");
			abort();
		}
	}
}

/* Replaces leaves [i, j) by b. */
static void splice(struct model *m, size_t i, size_t j, const struct lbuf *b)
{
	size_t n = m->n - (j - i) + b->n;

	if (i == j && !b->n)
		return; /* nothing replaced by nothing (a sparse call over holes) */
	if (n > m->cap) {
		m->cap = n * 2;
		m->l = mrealloc(m->l, m->cap * sizeof(*m->l));
	}
	memmove(&m->l[i + b->n], &m->l[j], (m->n - j) * sizeof(*m->l));
	if (b->n)
		memcpy(&m->l[i], b->l, b->n * sizeof(*m->l));
	m->n = n;
}

static unsigned allowed_levels(const struct model *m, unsigned opts)
{
	unsigned l, mask = 1;

	for (l = 1; l < m->cfg.levels; l++)
		if ((m->cfg.leaf_levels >> l & 1u) && (opts & (1u << (l - 1))))
			mask |= 1u << l;
	return mask;
}

/* ---- the calls -------------------------------------------------------------- */

unsigned model_map(struct model *m, uint64_t va, uint64_t pa, uint64_t page_size,
		   unsigned flags, int apply)
{
	unsigned e = 0, level, lv = 99;
	struct lbuf b = { NULL, 0, 0 };
	const struct mleaf *hit;

	for (level = 0; level < m->cfg.levels; level++)
		if ((m->cfg.leaf_levels >> level & 1u) && page_size == model_lsize(level))
			lv = level;
	if (lv == 99)
		return MODEL_BIT(NPT_ERR_ALIGN) | MODEL_BIT(NPT_ERR_INVAL) |
		       MODEL_BIT(NPT_ERR_UNSUPPORTED);
	if ((va | pa) & (page_size - 1))
		e |= MODEL_BIT(NPT_ERR_ALIGN);
	e |= input_errors(m, va, page_size) | output_errors(m, pa, page_size) | flag_errors(m, flags);
	if (e)
		return e;
	if (any_mapped(m, va, va + (page_size - 1))) {
		hit = model_find(m, va);
		if (hit && hit->level > lv)
			return MODEL_BIT(NPT_ERR_ALREADY_MAPPED) | MODEL_BIT(NPT_ERR_HUGE);
		return MODEL_BIT(NPT_ERR_ALREADY_MAPPED);
	}
	if (apply) {
		size_t i = find_first(m, va);

		lbuf_push(&b, va, pa, lv, model_norm(m, flags));
		splice(m, i, i, &b);
		free(b.l);
	}
	return MODEL_OK;
}

static unsigned range_op(struct model *m, uint64_t va, uint64_t size, int protect, int sparse,
			 unsigned flags, int apply, int *resync, uint64_t *lo, uint64_t *last);

unsigned model_map_region(struct model *m, uint64_t va, uint64_t pa, uint64_t size,
			  unsigned flags, unsigned opts, int apply)
{
	unsigned e;
	struct lbuf b = { NULL, 0, 0 };

	if (opts & ~(NPT_MAP_HUGE | NPT_MAP_REPLACE))
		return MODEL_BIT(NPT_ERR_INVAL);
	e = input_errors(m, va, size) | output_errors(m, pa, size) | flag_errors(m, flags);
	if (e)
		return e;
	if (!(opts & NPT_MAP_REPLACE) && any_mapped(m, va, va + (size - 1)))
		return MODEL_BIT(NPT_ERR_ALREADY_MAPPED);
	if (apply) {
		size_t i;

		/* replaced: what was there goes as npt_unmap_sparse takes it
		 * (leaves reaching outside split, their outer parts kept) */
		if (opts & NPT_MAP_REPLACE)
			range_op(m, va, size, 0, 1, 0, 1, NULL, NULL, NULL);
		i = find_first(m, va);
		greedy(m, &b, va, pa, size, allowed_levels(m, opts & NPT_MAP_HUGE),
		       model_norm(m, flags));
		splice(m, i, i, &b);
		free(b.l);
	}
	return MODEL_OK;
}

/* State checks of a single-entry call at va; *idx = the leaf. */
static unsigned single_leaf(const struct model *m, uint64_t va, size_t *idx)
{
	unsigned e = input_errors(m, va, MPG);
	size_t i;

	if (e)
		return e;
	i = find_first(m, va);
	if (i >= m->n || m->l[i].va > va)
		return MODEL_BIT(NPT_ERR_NOT_MAPPED);
	if (m->l[i].va != va)
		return MODEL_BIT(NPT_ERR_HUGE);
	*idx = i;
	return 0;
}

unsigned model_unmap(struct model *m, uint64_t va, uint64_t *out_pa, uint64_t *out_size,
		     int apply)
{
	size_t i = 0;
	unsigned e = single_leaf(m, va, &i);
	struct lbuf b = { NULL, 0, 0 };

	if (e)
		return e;
	if (out_pa)
		*out_pa = m->l[i].pa;
	if (out_size)
		*out_size = model_lsize(m->l[i].level);
	if (apply)
		splice(m, i, i + 1, &b);
	return MODEL_OK;
}

unsigned model_protect(struct model *m, uint64_t va, unsigned flags, int apply)
{
	size_t i = 0;
	unsigned e = flag_errors(m, flags) | input_errors(m, va, MPG), s;

	s = single_leaf(m, va, &i);
	if (e)
		return e | (s & (MODEL_BIT(NPT_ERR_NOT_MAPPED) | MODEL_BIT(NPT_ERR_HUGE)));
	if (s)
		return s;
	if (apply)
		m->l[i].flags = model_norm(m, flags);
	return MODEL_OK;
}

unsigned model_remap(struct model *m, uint64_t va, uint64_t pa, unsigned flags, int apply)
{
	size_t i = 0;
	unsigned e = flag_errors(m, flags) | input_errors(m, va, MPG), s;
	uint64_t size;

	if (pa & (MPG - 1))
		e |= MODEL_BIT(NPT_ERR_ALIGN);
	if (m->cfg.pa_bits < 64 && (pa >> m->cfg.pa_bits))
		e |= MODEL_BIT(NPT_ERR_RANGE);
	s = single_leaf(m, va, &i);
	if (s)
		return e | s;
	size = model_lsize(m->l[i].level);
	if (pa & (size - 1))
		e |= MODEL_BIT(NPT_ERR_ALIGN);
	e |= output_errors(m, pa & ~(MPG - 1), size) & MODEL_BIT(NPT_ERR_RANGE);
	if (e)
		return e;
	if (apply) {
		m->l[i].pa = pa;
		m->l[i].flags = model_norm(m, flags);
	}
	return MODEL_OK;
}

/* unmap_region and protect_region. */
static unsigned range_op(struct model *m, uint64_t va, uint64_t size, int protect, int sparse,
			 unsigned flags, int apply, int *resync, uint64_t *rlo, uint64_t *rlast)
{
	unsigned e = input_errors(m, va, size) | (protect ? flag_errors(m, flags) : 0);
	uint64_t last;
	size_t i, j, k;
	struct lbuf b = { NULL, 0, 0 };
	unsigned nf = model_norm(m, flags);

	if (resync)
		*resync = 0;
	if (e)
		return e;
	last = va + (size - 1);
	if (!sparse && !all_mapped(m, va, last))
		return MODEL_BIT(NPT_ERR_NOT_MAPPED);
	if (!apply)
		return MODEL_OK;
	i = find_first(m, va);
	for (j = i; j < m->n && m->l[j].va <= last; j++)
		;
	for (k = i; k < j; k++) {
		const struct mleaf *l = &m->l[k];
		uint64_t lo = l->va, hi = leaf_last(l);
		uint64_t a = lo > va ? lo : va, z = hi < last ? hi : last;
		unsigned below = m->cfg.leaf_levels & ((1u << l->level) - 1);
		int partial = a != lo || z != hi;

		if (protect && partial && l->flags == nf) {
			/* may or may not split: keep it, resynchronise from the table */
			lbuf_push(&b, l->va, l->pa, l->level, l->flags);
			if (resync) {
				if (!*resync || lo < *rlo)
					*rlo = lo;
				if (!*resync || hi > *rlast)
					*rlast = hi;
				*resync = 1;
			}
			continue;
		}
		if (!partial) {
			if (protect)
				lbuf_push(&b, l->va, l->pa, l->level, nf);
			continue;
		}
		if (a > lo)
			greedy(m, &b, lo, l->pa, a - lo, below, l->flags);
		if (protect)
			greedy(m, &b, a, l->pa + (a - lo), z - a + 1, below, nf);
		if (z < hi)
			greedy(m, &b, z + 1, l->pa + (z + 1 - lo), hi - z, below, l->flags);
	}
	splice(m, i, j, &b);
	free(b.l);
	return MODEL_OK;
}

unsigned model_unmap_region(struct model *m, uint64_t va, uint64_t size, int apply)
{
	return range_op(m, va, size, 0, 0, 0, apply, NULL, NULL, NULL);
}

unsigned model_protect_region(struct model *m, uint64_t va, uint64_t size, unsigned flags,
			      int apply, int *resync, uint64_t *lo, uint64_t *last)
{
	return range_op(m, va, size, 1, 0, flags, apply, resync, lo, last);
}

unsigned model_unmap_sparse(struct model *m, uint64_t va, uint64_t size, int apply)
{
	return range_op(m, va, size, 0, 1, 0, apply, NULL, NULL, NULL);
}

unsigned model_protect_sparse(struct model *m, uint64_t va, uint64_t size, unsigned flags,
			      int apply, int *resync, uint64_t *lo, uint64_t *last)
{
	return range_op(m, va, size, 1, 1, flags, apply, resync, lo, last);
}

unsigned model_query(const struct model *m, uint64_t va, uint64_t *pa, unsigned *flags,
		     uint64_t *page_size)
{
	const struct mleaf *l;
	unsigned e = input_errors(m, va & ~(MPG - 1), MPG);

	if (e)
		return e;
	l = model_find(m, va);
	if (!l)
		return MODEL_BIT(NPT_ERR_NOT_MAPPED);
	if (pa)
		*pa = l->pa + (va - l->va);
	if (flags)
		*flags = l->flags;
	if (page_size)
		*page_size = model_lsize(l->level);
	return MODEL_OK;
}

int model_adopt(struct model *m, uint64_t lo, uint64_t last, const struct mleaf *l, size_t n,
		char *msg, size_t len)
{
	size_t i = find_first(m, lo), j, k, p;
	struct lbuf b = { NULL, 0, 0 };

	for (j = i; j < m->n && m->l[j].va <= last; j++)
		if (m->l[j].va < lo || leaf_last(&m->l[j]) > last) {
			snprintf(msg, len, "model leaf 0x%llx sticks out of [0x%llx, 0x%llx]",
				 (unsigned long long)m->l[j].va, (unsigned long long)lo,
				 (unsigned long long)last);
			return -1;
		}
	/* same pages, same translation: walk both lists in step */
	p = i;
	for (k = 0; k < n; k++) {
		const struct mleaf *x = &l[k];

		if (x->va < lo || leaf_last(x) > last) {
			snprintf(msg, len, "table leaf 0x%llx outside [0x%llx, 0x%llx]",
				 (unsigned long long)x->va, (unsigned long long)lo,
				 (unsigned long long)last);
			return -1;
		}
		while (p < j && leaf_last(&m->l[p]) < x->va)
			p++;
		if (p >= j || m->l[p].va > x->va || leaf_last(&m->l[p]) < leaf_last(x) ||
		    m->l[p].pa + (x->va - m->l[p].va) != x->pa || m->l[p].flags != x->flags) {
			snprintf(msg, len,
				 "table leaf va 0x%llx level %u pa 0x%llx flags 0x%x is not a piece "
				 "of a model leaf",
				 (unsigned long long)x->va, x->level, (unsigned long long)x->pa,
				 x->flags);
			return -1;
		}
	}
	/* and the table covers everything the model had there */
	{
		uint64_t covered = 0, had = 0;

		for (k = 0; k < n; k++)
			covered += model_lsize(l[k].level);
		for (p = i; p < j; p++)
			had += model_lsize(m->l[p].level);
		if (covered != had) {
			snprintf(msg, len, "table maps 0x%llx bytes in [0x%llx, 0x%llx], model 0x%llx",
				 (unsigned long long)covered, (unsigned long long)lo,
				 (unsigned long long)last, (unsigned long long)had);
			return -1;
		}
	}
	for (k = 0; k < n; k++)
		lbuf_push(&b, l[k].va, l[k].pa, l[k].level, l[k].flags);
	splice(m, i, j, &b);
	free(b.l);
	return 0;
}
