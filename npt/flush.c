/*
 * The TLB record every changing call fills, and break-before-make.
 *
 * A call notes each run of entries it changed with the run's level (and
 * whether a table entry changed); npt_flush_end turns the notes into the
 * caller's struct npt_flush: the bounding range as before, plus the exact
 * runs. Runs arrive in address order from every walker, so merging with the
 * last run is enough to keep one run per stretch of same-level entries.
 */
#include "internal.h"

void npt_set_flush_hook(struct npt_table *t, void (*hook)(void *arg, const struct npt_flush *f),
			void *arg, uint64_t all_threshold)
{
	if (!t)
		return;
	t->flush_hook = hook;
	t->flush_arg = arg;
	t->flush_threshold = all_threshold;
}

void npt_set_bbm_hook(struct npt_table *t, void (*hook)(void *arg, const struct npt_flush *f),
		      void *arg)
{
	if (!t)
		return;
	t->bbm_hook = hook;
	t->bbm_arg = arg;
}

/* Only the runs in use are kept: the rest of the record reads as zero. */
void npt_last_flush(const struct npt_table *t, struct npt_flush *out)
{
	if (!out)
		return;
	npt_memset(out, 0, sizeof(*out));
	if (t) {
		const struct npt_flush *fl = &t->last_flush;

		out->kind = fl->kind;
		out->va = fl->va;
		out->size = fl->size;
		out->nranges = fl->nranges;
		npt_memcpy(out->ranges, fl->ranges, fl->nranges * sizeof(fl->ranges[0]));
	}
}

int npt_flush_tell(struct npt_table *t)
{
	t->flush_hook(t->flush_arg, &t->last_flush);
	return 0;
}

/* Input address (reduced to va_bits) of a run's first byte. */
static uint64_t run_ia(const struct npt_table *t, const struct npt_flush_range *r)
{
	return r->va & t->ia_mask;
}

void npt_flush_note(struct npt_table *t, uint64_t first, uint64_t last, unsigned level,
		    unsigned flags)
{
	struct npt_flush *fl = &t->last_flush;
	struct npt_flush_range *r;
	unsigned i, n;

	if (!t->flush_changed || first < t->flush_first)
		t->flush_first = first;
	if (!t->flush_changed || last > t->flush_last)
		t->flush_last = last;
	t->flush_changed = 1;
	if (t->flush_overflow)
		return;

	/* A run inside a table run already noted is covered by it (a table
	 * run drops every TLB entry below it). */
	for (i = 0; i < fl->nranges; i++) {
		r = &fl->ranges[i];
		if ((r->flags & NPT_FLUSH_TABLE) && run_ia(t, r) <= first &&
		    last <= run_ia(t, r) + (r->size - 1))
			return;
	}
	/* ... and a table run covers the runs noted inside it before. */
	if (flags & NPT_FLUSH_TABLE) {
		for (i = n = 0; i < fl->nranges; i++) {
			r = &fl->ranges[i];
			if (first <= run_ia(t, r) && run_ia(t, r) + (r->size - 1) <= last)
				continue;
			fl->ranges[n++] = *r;
		}
		fl->nranges = n;
	}
	if (fl->nranges) {
		r = &fl->ranges[fl->nranges - 1];
		if (r->level == level && r->flags == flags && run_ia(t, r) + r->size == first) {
			r->size += last - first + 1;
			return;
		}
	}
	if (fl->nranges == NPT_FLUSH_RANGES) {
		t->flush_overflow = 1;
		return;
	}
	r = &fl->ranges[fl->nranges++];
	r->va = npt_ia_to_va(t, first);
	r->size = last - first + 1;
	r->level = level;
	r->flags = flags;
}

void npt_flush_end(struct npt_table *t, int changed, uint64_t first, uint64_t last)
{
	struct npt_flush *fl = &t->last_flush;

	int overflow;

	/* A caller that does not note runs: one run, every level. */
	if (changed && !t->flush_changed)
		npt_flush_note(t, first, last, 0, NPT_FLUSH_TABLE);
	if (!t->flush_changed)
		return;
	fl->va = npt_ia_to_va(t, t->flush_first);
	fl->size = t->flush_last - t->flush_first + 1;
	fl->kind = NPT_FLUSH_RANGE;
	overflow = t->flush_overflow;
	/* Between calls the accumulator is all zero: only last_flush tells what
	 * the last call did (a failed call then changes nothing else). */
	t->flush_first = t->flush_last = 0;
	t->flush_changed = t->flush_overflow = 0;
	if (overflow || (t->flush_threshold && fl->size > t->flush_threshold)) {
		fl->va = fl->size = 0;
		fl->nranges = 0;
		fl->kind = NPT_FLUSH_ALL;
	}
	if (t->flush_hook)
		t->flush_hook(t->flush_arg, fl);
}

/* ---- break-before-make ------------------------------------------------------- */

int npt_needs_bbm_slow(const struct npt_table *t, unsigned level, uint64_t old, uint64_t new)
{
	const struct npt_format *f = t->fmt;

	if (!npt_pte_present(f, old) || !npt_pte_present(f, new))
		return 0;
	/* A block becoming a table or a table a block changes the block size;
	 * between leaves only permission and access-flag bits may change in
	 * place (DDI 0487 J.a D8.14.1, rule R_WHZWS: memory type, output
	 * address and block size changes need the break). */
	if (npt_pte_leaf(f, level, old) != npt_pte_leaf(f, level, new))
		return 1;
	if (!npt_pte_leaf(f, level, old))
		return old != new;
	return ((old ^ new) & ~f->bbm_free) != 0;
}

uint64_t npt_bbm_break(struct npt_table *t, uint64_t *slot, uint64_t old, unsigned level,
		       uint64_t first)
{
	struct npt_flush fl;

	npt_memset(&fl, 0, sizeof(fl));
	fl.kind = NPT_FLUSH_RANGE;
	fl.va = npt_ia_to_va(t, first);
	fl.size = npt_level_size(level);
	fl.nranges = 1;
	fl.ranges[0].va = fl.va;
	fl.ranges[0].size = fl.size;
	fl.ranges[0].level = level;
	fl.ranges[0].flags = npt_pte_leaf(t->fmt, level, old) ? 0 : NPT_FLUSH_TABLE;
	/* An exchange: the hardware may have set accessed/dirty state in the
	 * entry since old was read; the caller gets the final value. */
	old = __atomic_exchange_n(slot, 0, __ATOMIC_RELAXED);
	t->bbm_hook(t->bbm_arg, &fl);
	return old;
}

uint64_t npt_entry_replace(struct npt_table *t, uint64_t *slot, uint64_t old, uint64_t new,
			   unsigned level, uint64_t first)
{
	if (npt_needs_bbm(t, level, old, new)) {
		old = npt_bbm_break(t, slot, old, level, first);
		npt_pte_publish(slot, new);
		return old;
	}
	old = __atomic_exchange_n(slot, new, __ATOMIC_RELEASE);
	npt_flush_note(t, first, first + (npt_level_size(level) - 1), level,
		       npt_pte_leaf(t->fmt, level, old) ? 0 : NPT_FLUSH_TABLE);
	return old;
}
