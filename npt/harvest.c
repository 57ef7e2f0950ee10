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
#include "walk.h"

struct harvest {
	struct npt_walk w;      /* first: the walk's w is the harvest */
	uint64_t *bitmap;       /* bit i: page first + i * 4 KiB */
	uint64_t bit;           /* accessed_bit or dirty_bit; 0: Arm DBM */
	int peek;               /* read only */
};

/* The dirty state of an Arm leaf (no dirty bit): a DBM leaf is dirty when
 * hardware (or npt_log_write_fault) gave the write permission back; a
 * writable leaf without DBM has unknown history and counts as dirty. Clearing
 * makes the leaf writable-clean: DBM set, write permission off (D8.4.6). A
 * leaf npt_log_start write-protected belongs to the log and is left alone. */
static int dbm_harvest(const struct harvest *h, uint64_t *slot, uint64_t pte)
{
	const struct npt_format *f = h->w.f;
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
		npt_flush_note(h->w.t, base + ((uint64_t)lo << NPT_PAGE_SHIFT),
			       base + ((uint64_t)hi << NPT_PAGE_SHIFT) + NPT_PAGE_SIZE - 1, 0, 0);
}

/* A run of a leaf table: the loop harvests spend their time in. */
static int harvest_leaves(struct npt_walk *w, const struct npt_tref *tr, uint64_t base,
			  unsigned lo, unsigned hi)
{
	struct harvest *h = (struct harvest *)(void *)w;
	uint64_t *tbl = tr->tbl;
	const uint64_t present = w->f->present_mask;
	/* bit of entry lo: the table may start before the range */
	const uint64_t page_lo = (base + ((uint64_t)lo << NPT_PAGE_SHIFT) - w->first) >> NPT_PAGE_SHIFT;
	unsigned i, run = hi + 1; /* first entry of the run of cleared entries being built */

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
	return 0;
}

/* A huge leaf sets the bit of each of its pages in the range. */
static NPT_ALWAYS_INLINE int harvest_visit(struct npt_walk *w, struct npt_ctx *c, unsigned kind)
{
	struct harvest *h = (struct harvest *)(void *)w;
	const uint64_t last = c->base + (npt_level_size(c->level) - 1);
	uint64_t a, b;

	(void)kind;
	if (!leaf_state(h, c->slot, c->old))
		return 0;
	a = c->base > w->first ? c->base : w->first;
	b = last < w->last ? last : w->last;
	npt_bitmap_set(h->bitmap, (a - w->first) >> NPT_PAGE_SHIFT, (b - w->first) >> NPT_PAGE_SHIFT);
	if (!h->peek)
		npt_flush_note(w->t, c->base, last, c->level, 0);
	return 0;
}

static const struct npt_walk_ops harvest_ops = {
	.which = NPT_V_LEAF,
	.visit = harvest_visit,
	.leaves = harvest_leaves,
};
NPT_WALKER(harvest_walk, &harvest_ops)

/* A huge leaf that holds first or last but reaches outside the range:
 * clearing its state would lose it for pages the caller did not ask about. */
static int partial_leaf(const struct npt_table *t, uint64_t ia, uint64_t first, uint64_t last)
{
	struct npt_seek s;
	uint64_t base, size;

	npt_seek(t, ia, &s);
	if (!npt_pte_present(t->fmt, s.pte))
		return 0;
	size = npt_level_size(s.level);
	base = ia & ~(size - 1);
	return base < first || base + (size - 1) > last;
}

static int harvest_call(struct npt_table *t, uint64_t va, uint64_t size, unsigned what, uint64_t *bitmap)
{
	struct harvest h;
	int err;

	if (!t || !bitmap)
		return NPT_ERR_INVAL;
	npt_memset(&h, 0, sizeof(h));
	h.w.t = t;
	h.w.f = t->fmt;
	h.bitmap = bitmap;
	h.peek = (what & NPT_HARVEST_PEEK) != 0;
	switch (what & ~NPT_HARVEST_PEEK) {
	case NPT_A:
		if (!h.w.f->accessed_bit)
			return NPT_ERR_UNSUPPORTED;
		h.bit = h.w.f->accessed_bit;
		break;
	case NPT_D:
		if (!h.w.f->dirty_bit && !h.w.f->dbm_bit)
			return NPT_ERR_UNSUPPORTED;
		h.bit = h.w.f->dirty_bit; /* 0: DBM */
		break;
	default:
		return NPT_ERR_INVAL;
	}
	err = npt_check_input(t, va, size, &h.w.first, &h.w.last);
	if (err)
		return err;
	if (!h.peek) {
		if (npt_range_shared(t, h.w.first, h.w.last))
			return NPT_ERR_SHARED;
		if (partial_leaf(t, h.w.first, h.w.first, h.w.last) ||
		    partial_leaf(t, h.w.last, h.w.first, h.w.last))
			return NPT_ERR_HUGE;
	}

	npt_memset(bitmap, 0, (size_t)((size / NPT_PAGE_SIZE + 63) / 64) * sizeof(*bitmap));
	if (!h.peek)
		npt_flush_begin(t);
	npt_walk_root(&h.w, harvest_walk);
	if (!h.peek)
		npt_flush_end(t, 0, 0, 0);
	return 0;
}

int npt_harvest(struct npt_table *t, uint64_t va, uint64_t size, unsigned what, uint64_t *bitmap)
{
	return npt_done(t, harvest_call(t, va, size, what, bitmap));
}
