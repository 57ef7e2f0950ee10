/*
 * Dirty logging by write protection (npt_log_*), the scheme every
 * hypervisor falls back to when the hardware has no dirty bits to harvest:
 * writable leaves are write-protected and marked with the format's software
 * bit (sw_log_bit); the first write faults, and npt_log_write_fault makes
 * the page writable again. The leaf itself is the log: a marked leaf with
 * its write permission back was written since the last npt_log_harvest.
 *
 * A marked huge leaf is split on its first write fault so that later rounds
 * log 4 KiB pages: only along the path to the faulting page (a 1 GiB leaf
 * becomes 511 marked 2 MiB leaves and a table of 4 KiB leaves, 2 frames,
 * not the 513 of a full split; the other 2 MiB leaves split when written).
 * NPT_LOG_EAGER splits every huge leaf of the range down to 4 KiB up front.
 *
 * The calls that may split are a range operation of the walker (op.h,
 * NPT_OP_LOG): a plan that counts the frames, then an apply pass that cannot
 * fail, each split built whole before one store publishes it. Harvest and
 * stop only rewrite leaves: one pass.
 */
#include "op.h"

/* A leaf the caller mapped writable, in whatever state npt or the hardware
 * keeps it: write permission on, Arm writable-clean (DBM), or marked. */
static int log_writable(const struct npt_format *f, uint64_t pte)
{
	return npt_pte_writable(f, pte) || (pte & (f->dbm_bit | f->sw_log_bit));
}

/* The marked, write-protected form of a writable leaf. */
static uint64_t log_mark(const struct npt_format *f, uint64_t pte)
{
	return npt_pte_wrprotect(f, pte) | f->sw_log_bit;
}

static uint64_t leaf_last(const struct npt_ctx *c)
{
	return c->base + (npt_level_size(c->level) - 1);
}

/* ---- npt_log_start, and the splits of a write fault ------------------------
 * log_mark: npt_log_start marks (and write-protects) every writable leaf
 * the range covers whole, splitting a writable huge leaf it covers in part
 * (or, log_eager, any writable huge leaf) one level at a time. Without it
 * (a write fault on one page) every marked, write-protected huge leaf on the
 * path to the page is split, its new leaves marked as it was. */
static NPT_ALWAYS_INLINE int log_visit(struct npt_walk *w, struct npt_ctx *c, unsigned kind)
{
	struct npt_op *o = npt_op_of(w);
	const struct npt_format *f = w->f;

	switch (kind) {
	case NPT_V_LEAF:
		if (!log_writable(f, c->old))
			return 0; /* read-only: a write to it is the caller's fault to handle */
		if (o->log_mark && (c->level == 0 || (!o->log_eager && c->full))) {
			if (w->apply) {
				uint64_t old = npt_pte_update(c->slot, f->w_set | f->dirty_bit | f->dbm_bit,
							      f->w_clear | f->sw_log_bit);
				if (old != log_mark(f, old))
					npt_op_note(o, c->base, leaf_last(c), c->level, 0);
			}
			return 0;
		}
		if (c->level == 0 ||
		    (!o->log_mark && (!(c->old & f->sw_log_bit) || npt_pte_writable(f, c->old))))
			return 0;
		return npt_op_new_child(o, c, 1);
	case NPT_V_PRE:
		/* the plan has nothing to count or check in 4 KiB leaves */
		c->skip = !w->apply && c->level == 1;
		return 0;
	case NPT_V_POST:
		if (w->apply && c->descend)
			npt_op_publish(o, c);
		return 0;
	default:
		return 0;
	}
}

/* A run of a leaf table. Marked in a table not published yet (a split)
 * with plain stores, in a live one entry by entry with an atomic update (the
 * hardware may set accessed/dirty state meanwhile); a write fault has nothing
 * to do in one, nor has a plan. */
static int log_leaves(struct npt_walk *w, const struct npt_tref *tr, uint64_t base, unsigned lo,
		      unsigned hi)
{
	struct npt_op *o = npt_op_of(w);
	const struct npt_format *f = w->f;
	uint64_t *tbl = tr->tbl;
	unsigned i;

	if (!w->apply || !o->log_mark)
		return 0;
	for (i = lo; i <= hi; i++) {
		uint64_t pte = tbl[i], old;

		if (!npt_pte_present(f, pte) || !log_writable(f, pte))
			continue;
		if (o->building) {
			tbl[i] = log_mark(f, pte);
			continue;
		}
		old = npt_pte_update(&tbl[i], f->w_set | f->dirty_bit | f->dbm_bit,
				     f->w_clear | f->sw_log_bit);
		if (old != log_mark(f, old))
			npt_op_note(o, base + ((uint64_t)i << NPT_PAGE_SHIFT),
				    base + ((uint64_t)i << NPT_PAGE_SHIFT) + NPT_PAGE_SIZE - 1, 0, 0);
	}
	return 0;
}

static const struct npt_walk_ops log_ops = {
	.which = NPT_V_LEAF | NPT_V_PRE | NPT_V_POST,
	.visit = log_visit,
	.leaves = log_leaves,
};
NPT_WALKER(log_walk, &log_ops)

static int log_init(struct npt_op *o, struct npt_table *t, uint64_t va, uint64_t size)
{
	npt_op_init(o, t, NPT_OP_LOG);
	if (!t)
		return NPT_ERR_INVAL;
	if (!t->fmt->sw_log_bit || !(t->fmt->w_set | t->fmt->w_clear))
		return NPT_ERR_UNSUPPORTED;
	return npt_check_input(t, va, size, &o->w.first, &o->w.last);
}

static int log_start_call(struct npt_table *t, uint64_t va, uint64_t size, unsigned mode)
{
	struct npt_op o;
	int err;

	err = log_init(&o, t, va, size);
	if (err)
		return err;
	if (mode & ~NPT_LOG_EAGER)
		return NPT_ERR_INVAL;
	if (npt_range_shared(t, o.w.first, o.w.last))
		return NPT_ERR_SHARED;
	o.log_eager = (mode & NPT_LOG_EAGER) != 0;
	o.log_mark = 1;
	return npt_op_run(&o, log_walk);
}

int npt_log_start(struct npt_table *t, uint64_t va, uint64_t size, unsigned mode)
{
	return npt_done(t, log_start_call(t, va, size, mode));
}

/* A marked huge leaf reaching outside [first, last] at ia, whose state the
 * call would change for pages outside the range (only_dirty: only if its
 * write permission is back). */
static int marked_partial(const struct npt_op *o, uint64_t ia, int only_dirty)
{
	const struct npt_format *f = o->w.f;
	struct npt_seek s;
	uint64_t base;

	npt_seek(o->w.t, ia, &s);
	if (!npt_pte_present(f, s.pte) || !(s.pte & f->sw_log_bit))
		return 0;
	if (only_dirty && !npt_pte_writable(f, s.pte))
		return 0;
	base = ia & ~(npt_level_size(s.level) - 1);
	return base < o->w.first || base + (npt_level_size(s.level) - 1) > o->w.last;
}

/* ---- npt_log_harvest ------------------------------------------------------------ */

struct log_harvest {
	struct npt_op o;
	uint64_t *bitmap;
};

static NPT_ALWAYS_INLINE int harvest_visit(struct npt_walk *w, struct npt_ctx *c, unsigned kind)
{
	struct log_harvest *h = (struct log_harvest *)(void *)w;
	const struct npt_format *f = w->f;
	const uint64_t last = leaf_last(c);
	uint64_t old, a, b;

	(void)kind;
	if (!(c->old & f->sw_log_bit) || !npt_pte_writable(f, c->old))
		return 0;
	old = npt_pte_update(c->slot, f->w_set | f->dirty_bit | f->dbm_bit, f->w_clear);
	if (!npt_pte_writable(f, old))
		return 0;
	a = c->base > w->first ? c->base : w->first;
	b = last < w->last ? last : w->last;
	npt_bitmap_set(h->bitmap, (a - w->first) >> NPT_PAGE_SHIFT, (b - w->first) >> NPT_PAGE_SHIFT);
	npt_flush_note(w->t, c->base, last, c->level, 0);
	return 0;
}

static const struct npt_walk_ops harvest_ops = { .which = NPT_V_LEAF, .visit = harvest_visit };
NPT_WALKER(harvest_walk, &harvest_ops)

static int log_harvest_call(struct npt_table *t, uint64_t va, uint64_t size, uint64_t *bitmap)
{
	struct log_harvest h;
	int err;

	err = log_init(&h.o, t, va, size);
	if (err)
		return err;
	if (!bitmap)
		return NPT_ERR_INVAL;
	if (npt_range_shared(t, h.o.w.first, h.o.w.last))
		return NPT_ERR_SHARED;
	if (marked_partial(&h.o, h.o.w.first, 1) || marked_partial(&h.o, h.o.w.last, 1))
		return NPT_ERR_HUGE;
	npt_memset(bitmap, 0, (size_t)((size / NPT_PAGE_SIZE + 63) / 64) * sizeof(*bitmap));
	h.bitmap = bitmap;
	npt_flush_begin(t);
	npt_walk_root(&h.o.w, harvest_walk);
	npt_flush_end(t, 0, 0, 0);
	return 0;
}

int npt_log_harvest(struct npt_table *t, uint64_t va, uint64_t size, uint64_t *bitmap)
{
	return npt_done(t, log_harvest_call(t, va, size, bitmap));
}

/* ---- npt_log_stop ------------------------------------------------------------------ */

static NPT_ALWAYS_INLINE int stop_visit(struct npt_walk *w, struct npt_ctx *c, unsigned kind)
{
	const struct npt_format *f = w->f;

	(void)kind;
	if (!(c->old & f->sw_log_bit))
		return 0;
	/* Writable again, with the accessed/dirty bits npt presets on every
	 * leaf (hardware without A/D management would fault on them). */
	npt_pte_update(c->slot, f->sw_log_bit | f->w_clear, f->w_set | f->ad_preset);
	if (!npt_pte_writable(f, c->old))
		npt_flush_note(w->t, c->base, leaf_last(c), c->level, 0);
	return 0;
}

static const struct npt_walk_ops stop_ops = { .which = NPT_V_LEAF, .visit = stop_visit };
NPT_WALKER(stop_walk, &stop_ops)

static int log_stop_call(struct npt_table *t, uint64_t va, uint64_t size)
{
	struct npt_op o;
	int err;

	err = log_init(&o, t, va, size);
	if (err)
		return err;
	if (npt_range_shared(t, o.w.first, o.w.last))
		return NPT_ERR_SHARED;
	if (marked_partial(&o, o.w.first, 0) || marked_partial(&o, o.w.last, 0))
		return NPT_ERR_HUGE;
	npt_flush_begin(t);
	npt_walk_root(&o.w, stop_walk);
	npt_flush_end(t, 0, 0, 0);
	return 0;
}

int npt_log_stop(struct npt_table *t, uint64_t va, uint64_t size)
{
	return npt_done(t, log_stop_call(t, va, size));
}

/* ---- faults ------------------------------------------------------------------------ */

/* A marked huge leaf: split along the path to the page, every new leaf
 * still marked (the page's write permission comes back in the new table
 * afterwards: never a page size and a permission in one store, SDM vol. 3A
 * §4.10.4.2). The flush record stays open for the caller's note. */
static NPT_NOINLINE int log_split(struct npt_table *t, uint64_t page)
{
	struct npt_op o;
	int err = log_init(&o, t, page, NPT_PAGE_SIZE);

	if (err)
		return err;
	o.flush_open = 1;
	return npt_op_run(&o, log_walk);
}

/* A logged page, an Arm writable-clean leaf (hardware without dirty state
 * management faults on it) or a writable leaf whose dirty bit a harvest
 * cleared (RISC-V without Svadu): the write may go, and the leaf records
 * it. One plain store, no atomic update: the hardware only sets bits
 * (accessed, dirty, or on Arm the write permission of a DBM leaf), and
 * every bit it could set meanwhile is set here too. */
static void log_grant_store(const struct npt_format *f, uint64_t *slot, uint64_t pte)
{
	npt_pte_publish(slot, (pte & ~f->w_clear) | f->w_set | f->accessed_bit | f->dirty_bit);
}

/* The write fault on the page in the leaf s found, which needs no split:
 * granted (GRANTED into *did), or resolved already (another vCPU, or a
 * stale TLB entry: the record names the leaf, which is all that needs
 * flushing). NPT_OP_TELL with the record made, or NPT_ERR_PERM for a leaf
 * that was never writable, nothing changed. */
static NPT_ALWAYS_INLINE int log_grant(struct npt_table *t, const struct npt_seek *s,
				       uint64_t page, unsigned *did)
{
	const struct npt_format *f = t->fmt;
	const uint64_t size = npt_level_size(s->level), first = page & ~(size - 1);

	if (!npt_pte_writable(f, s->pte) || (f->dirty_bit && !(s->pte & f->dirty_bit))) {
		if (!log_writable(f, s->pte))
			return NPT_ERR_PERM;
		log_grant_store(f, s->slot, s->pte);
		*did |= NPT_LOG_GRANTED;
	}
	npt_flush_single_record(t, first, first + (size - 1), s->level, 0);
	return NPT_OP_TELL;
}

static NPT_ALWAYS_INLINE int log_write_fault_info_call(struct npt_table *t, uint64_t va,
							struct npt_log_fault *out)
{
	const struct npt_format *f;
	unsigned did = 0, root;
	struct npt_seek s;
	uint64_t page, first, last;
	int err;

	if (!t)
		return NPT_ERR_INVAL;
	f = t->fmt;
	if (!f->sw_log_bit || !(f->w_set | f->w_clear))
		return NPT_ERR_UNSUPPORTED;
	err = npt_check_input(t, va & ~(NPT_PAGE_SIZE - 1), NPT_PAGE_SIZE, &page, &last);
	if (err)
		return err;
	npt_seek_shaped(t, page, 0, &s);
	root = npt_root_level(t);
	if (npt_is_shared(t, root, s.root_idx) && npt_pte_present(f, t->root[s.root_idx]))
		return NPT_ERR_SHARED;
	if (!npt_pte_present(f, s.pte))
		return NPT_ERR_NOT_MAPPED;

	if ((s.pte & f->sw_log_bit) && !npt_pte_writable(f, s.pte) && s.level > 0) {
		err = log_split(t, page);
		if (err)
			return err;
		npt_seek(t, page, &s);
		log_grant_store(f, s.slot, s.pte);
		first = page & ~(npt_level_size(s.level) - 1);
		last = first + (npt_level_size(s.level) - 1);
		npt_flush_note(t, first, last, s.level, 0);
		npt_flush_end(t, 0, 0, 0);
		did = NPT_LOG_SPLIT | NPT_LOG_GRANTED;
	} else {
		err = log_grant(t, &s, page, &did);
		if (err != NPT_OP_TELL)
			return err;
		npt_op_told(t);
	}
	if (out) {
		out->did = did;
		out->page_size = npt_level_size(s.level);
	}
	return 0;
}

int npt_log_write_fault_info(struct npt_table *t, uint64_t va, struct npt_log_fault *out)
{
	return npt_done(t, log_write_fault_info_call(t, va, out));
}

/* npt_log_write_fault beyond its common case below: every check and error. */
static NPT_NOINLINE int log_fault_other(struct npt_table *t, uint64_t va)
{
	return npt_done(t, log_write_fault_info_call(t, va, NULL));
}

/* The common case -- a table with a shape (shape.h), a 4 KiB leaf, no
 * shared root entry, log_grant's case -- makes no call but tail calls, so
 * that nothing lives across a call; anything else is log_fault_other's,
 * which decides it from the start. */
int npt_log_write_fault(struct npt_table *t, uint64_t va)
{
	const struct npt_format *f;
	struct npt_seek s;
	uint64_t page, last;
	unsigned did = 0;

	if (!t || !t->q.shape || !t->fmt->sw_log_bit || !(t->fmt->w_set | t->fmt->w_clear) ||
	    npt_check_input(t, va & ~(NPT_PAGE_SIZE - 1), NPT_PAGE_SIZE, &page, &last))
		return log_fault_other(t, va);
	f = t->fmt;
	npt_seek_in_shape(t, page, 0, &s);
	if (s.level != 0 || !npt_pte_present(f, s.pte) ||
	    npt_is_shared(t, npt_root_level(t), s.root_idx))
		return log_fault_other(t, va);
	return log_grant(t, &s, page, &did) == NPT_OP_TELL ? npt_op_told(t) : npt_done(t, NPT_ERR_PERM);
}
static int log_access_fault_call(struct npt_table *t, uint64_t va)
{
	uint64_t first, last;
	struct npt_seek s;
	int err;

	if (!t)
		return NPT_ERR_INVAL;
	err = npt_check_input(t, va & ~(NPT_PAGE_SIZE - 1), NPT_PAGE_SIZE, &first, &last);
	if (err)
		return err;
	if (!t->fmt->accessed_bit)
		return NPT_ERR_UNSUPPORTED;
	if (npt_range_shared(t, first, last))
		return NPT_ERR_SHARED;
	npt_seek(t, first, &s);
	if (!npt_pte_present(t->fmt, s.pte))
		return NPT_ERR_NOT_MAPPED;
	/* No flush: a TLB never holds a translation whose accessed bit is
	 * clear, the access that faulted loads the new one. */
	npt_flush_begin(t);
	__atomic_fetch_or(s.slot, t->fmt->accessed_bit, __ATOMIC_RELAXED);
	return 0;
}

int npt_log_access_fault(struct npt_table *t, uint64_t va)
{
	return npt_done(t, log_access_fault_call(t, va));
}
