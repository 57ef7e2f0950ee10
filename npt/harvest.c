/*
 * npt_harvest: read and clear the accessed or dirty state the hardware keeps
 * in leaves, one bit per 4 KiB page.
 *
 * A harvest changes only accessed/dirty state (and, on Arm, the write
 * permission of DBM leaves), never a table: it needs no frame and cannot
 * fail once its checks pass. Each bit is cleared with an atomic
 * read-modify-write, so a bit the hardware sets while the harvest runs is
 * either reported now or left set for the next harvest, never lost.
 */
#include "internal.h"

struct harvest {
	struct npt_table *t;
	const struct npt_format *f;
	uint64_t first, last;   /* inclusive input range */
	uint64_t *bitmap;       /* bit i: page first + i * 4 KiB */
	uint64_t bit;           /* accessed_bit or dirty_bit; 0: Arm DBM */
	int peek;               /* read only */
};

/* Sets bits [lo, hi] of the bitmap. */
static void set_bits(uint64_t *bm, uint64_t lo, uint64_t hi)
{
	uint64_t w = lo / 64, wl = hi / 64;

	if (w == wl) {
		bm[w] |= (~0ull >> (63 - (hi - lo))) << (lo % 64);
		return;
	}
	bm[w++] |= ~0ull << (lo % 64);
	for (; w < wl; w++)
		bm[w] = ~0ull;
	bm[wl] |= ~0ull >> (63 - hi % 64);
}

/* The dirty state of an Arm leaf (no dirty bit): a DBM leaf is dirty when
 * hardware (or npt_log_write_fault) gave the write permission back; a
 * writable leaf without DBM has unknown history and counts as dirty. Clearing
 * makes the leaf writable-clean: DBM set, write permission off (D8.4.6). A
 * leaf npt_log_start write-protected belongs to the log and is left alone. */
static int dbm_harvest(const struct harvest *h, uint64_t *slot, uint64_t pte)
{
	const struct npt_format *f = h->f;
	uint64_t old;

	if ((pte & f->sw_log_bit) || !npt_pte_writable(f, pte))
		return 0;
	if (h->peek)
		return 1;
	old = npt_pte_update(slot, f->w_set, f->w_clear | f->dbm_bit);
	return npt_pte_writable(f, old);
}

/* One leaf: 1 if its state was set (and is now clear unless peeking). */
static int leaf_state(const struct harvest *h, uint64_t *slot, uint64_t pte)
{
	if (!h->bit)
		return dbm_harvest(h, slot, pte);
	if (!(pte & h->bit))
		return 0;
	if (h->peek)
		return 1;
	return (__atomic_fetch_and(slot, ~h->bit, __ATOMIC_RELAXED) & h->bit) != 0;
}

/* Entries lo..hi of the level-0 table at base were cleared: one flush run. */
static void note_run(struct harvest *h, uint64_t base, unsigned lo, unsigned hi)
{
	if (!h->peek)
		npt_flush_note(h->t, base + ((uint64_t)lo << NPT_PAGE_SHIFT),
			       base + ((uint64_t)hi << NPT_PAGE_SHIFT) + NPT_PAGE_SIZE - 1, 0, 0);
}

/* Level 0: the loop harvests spend their time in. */
static void harvest_pages(struct harvest *h, uint64_t *tbl, uint64_t base, unsigned lo,
			  unsigned hi)
{
	const uint64_t present = h->f->present_mask;
	/* Bit of entry lo: the table may start before the range. */
	const uint64_t page_lo = (base + ((uint64_t)lo << NPT_PAGE_SHIFT) - h->first) >> NPT_PAGE_SHIFT;
	unsigned i;

	unsigned run = hi + 1; /* first entry of the run of cleared entries being built */

	for (i = lo; i <= hi; i++) {
		uint64_t pte = __atomic_load_n(&tbl[i], __ATOMIC_RELAXED);
		uint64_t page = page_lo + (i - lo);

		if (!(pte & present) || !leaf_state(h, &tbl[i], pte)) {
			if (run <= hi) {
				note_run(h, base, run, i - 1);
				run = hi + 1;
			}
			continue;
		}
		h->bitmap[page / 64] |= 1ull << (page % 64);
		if (run > hi)
			run = i;
	}
	if (run <= hi)
		note_run(h, base, run, hi);
}

static void harvest_level(struct harvest *h, unsigned level, uint64_t *tbl, uint64_t base)
{
	const struct npt_format *f = h->f;
	const uint64_t esz = npt_level_size(level);
	unsigned i, lo, hi;

	npt_slice(h->t, level, base, h->first, h->last, &lo, &hi);
	if (level == 0) {
		harvest_pages(h, tbl, base, lo, hi);
		return;
	}
	for (i = lo; i <= hi; i++) {
		const uint64_t ebase = base + (uint64_t)i * esz, elast = ebase + esz - 1;
		uint64_t pte = npt_pte_get(&tbl[i]);
		uint64_t a, b;

		if (!npt_pte_present(f, pte))
			continue;
		if (!npt_pte_leaf(f, level, pte)) {
			harvest_level(h, level - 1, npt_virt(h->t, npt_pte_addr(f, pte)), ebase);
			continue;
		}
		if (!leaf_state(h, &tbl[i], pte))
			continue;
		/* A huge leaf sets the bit of each of its pages in the range. */
		a = ebase > h->first ? ebase : h->first;
		b = elast < h->last ? elast : h->last;
		set_bits(h->bitmap, (a - h->first) >> NPT_PAGE_SHIFT, (b - h->first) >> NPT_PAGE_SHIFT);
		if (!h->peek)
			npt_flush_note(h->t, ebase, elast, level, 0);
	}
}

/* A huge leaf that holds first or last but reaches outside the range:
 * clearing its state would lose it for pages the caller did not ask about. */
static int partial_leaf(const struct npt_table *t, uint64_t ia, uint64_t first, uint64_t last)
{
	struct npt_lookup l;
	uint64_t base, size;

	if (npt_lookup(t, ia, &l))
		return 0;
	size = npt_level_size(l.level);
	base = ia & ~(size - 1);
	return base < first || base + (size - 1) > last;
}

/* 1 if a present root entry in [first, last] is shared from another table. */
int npt_range_shared(const struct npt_table *t, uint64_t first, uint64_t last)
{
	unsigned root = npt_root_level(t), i, lo, hi;

	npt_slice(t, root, 0, first, last, &lo, &hi);
	for (i = lo; i <= hi; i++)
		if (npt_is_shared(t, root, i) && npt_pte_present(t->fmt, t->root[i]))
			return 1;
	return 0;
}

int npt_harvest(struct npt_table *t, uint64_t va, uint64_t size, unsigned what, uint64_t *bitmap)
{
	struct harvest h;
	int err;

	if (!t || !bitmap)
		return NPT_ERR_INVAL;
	npt_memset(&h, 0, sizeof(h));
	h.t = t;
	h.f = t->fmt;
	h.bitmap = bitmap;
	h.peek = (what & NPT_HARVEST_PEEK) != 0;
	switch (what & ~NPT_HARVEST_PEEK) {
	case NPT_A:
		if (!h.f->accessed_bit)
			return NPT_ERR_UNSUPPORTED;
		h.bit = h.f->accessed_bit;
		break;
	case NPT_D:
		if (!h.f->dirty_bit && !h.f->dbm_bit)
			return NPT_ERR_UNSUPPORTED;
		h.bit = h.f->dirty_bit; /* 0: DBM */
		break;
	default:
		return NPT_ERR_INVAL;
	}
	err = npt_check_input(t, va, size, &h.first, &h.last);
	if (err)
		return err;
	if (!h.peek) {
		if (npt_range_shared(t, h.first, h.last))
			return NPT_ERR_SHARED;
		if (partial_leaf(t, h.first, h.first, h.last) || partial_leaf(t, h.last, h.first, h.last))
			return NPT_ERR_HUGE;
	}

	npt_memset(bitmap, 0, (size_t)((size / NPT_PAGE_SIZE + 63) / 64) * sizeof(*bitmap));
	if (!h.peek)
		npt_flush_begin(t);
	harvest_level(&h, npt_root_level(t), t->root, 0);
	if (!h.peek)
		npt_flush_end(t, 0, 0, 0);
	return 0;
}
