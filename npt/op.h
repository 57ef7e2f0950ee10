/*
 * Changing operations: the state every range operation's visitor keeps, and
 * the steps they share (op.c).
 *
 * Each operation is one visitor of the walker (walk.h) run twice, the way
 * Hafnium's mm.c prepares and then commits:
 *  1. plan:  checks every entry the call would touch and counts the frames it
 *            needs, writing nothing. Tables that do not exist yet (a new
 *            subtree, or the table a huge leaf splits into) are walked as
 *            virtual tables whose entries are computed, not read.
 *  2. apply: after those frames are allocated up front, performs the change;
 *            it cannot fail (NPT_CHECK keeps that promise in every build).
 * So a call either returns an error with the table and the allocator exactly
 * as they were, or succeeds completely (KVM's arm64 stage-2 code tops up a
 * memcache before a walk for the same reason). New subtrees are built
 * completely before the store that publishes them, so a concurrent reader
 * never sees a half-built table.
 */
#ifndef NPT_OP_H
#define NPT_OP_H

#include "walk.h"
#include "shape.h"

enum npt_op_kind { NPT_OP_MAP, NPT_OP_UNMAP, NPT_OP_PROTECT, NPT_OP_REMAP, NPT_OP_LOG };

struct npt_op {
	struct npt_walk w;         /* first: a visitor's w is its op */
	enum npt_op_kind kind;
	uint64_t pa;               /* MAP / REMAP: output address of w.first */
	unsigned leaf_levels;      /* MAP: levels where new leaves may go */
	uint64_t tmpl[NPT_MAX_LEVELS]; /* leaf bits (no address) per leaf level */
	uint64_t need;             /* plan: frames the apply pass takes */
	struct npt_prealloc cache; /* apply: those frames */
	int changed;               /* apply: a present entry changed */
	int building;              /* apply: inside a table not published yet */
	int drop_shares;           /* UNMAP: a whole shared root entry is dropped, not refused */
	int sparse;                /* UNMAP / PROTECT: holes are skipped, not refused */
	int replace;               /* MAP: what is mapped is replaced, not refused */
	/* MAP (npt_map_sg): the output pieces, else NULL; and a cursor on the
	 * run of pieces that follow on in the output which holds sg_ia */
	const struct npt_sg *sg;
	size_t sg_n, sg_next;      /* pieces; the first after the run */
	uint64_t sg_ia, sg_pa, sg_size; /* the run's first input and output address, size */
	const uint64_t *next_leaves; /* PROTECT: the range's next leaf table, to prefetch */
	int leaf_run;              /* PROTECT: the leaf table in hand is one full run */
	int log_eager, log_mark;   /* LOG: split everything to 4 KiB; mark writable leaves */
	int flush_open;            /* the caller notes more and ends the flush record itself */
	uint64_t flush_first, flush_last;
	struct npt_vtable vt[NPT_MAX_LEVELS]; /* plan: virtual tables, by level */
};

static inline struct npt_op *npt_op_of(struct npt_walk *w)
{
	return (struct npt_op *)(void *)w;
}

/* Every field a call reads before it writes it (tmpl and vt are written on
 * use): no memset of the whole state on the single-page paths. */
static inline void npt_op_init(struct npt_op *o, struct npt_table *t, enum npt_op_kind kind)
{
	o->w.t = t;
	o->w.f = t ? t->fmt : NULL;
	o->w.apply = 0;
	o->kind = kind;
	o->pa = 0;
	o->leaf_levels = 0;
	o->drop_shares = 0;
	o->sparse = 0;
	o->replace = 0;
	o->sg = NULL;
	o->next_leaves = NULL;
	o->leaf_run = 0;
	o->log_eager = 0;
	o->log_mark = 0;
	o->flush_open = 0;
}

/* Plan, allocate, apply: the whole call. */
int npt_op_run(struct npt_op *o, npt_walk_fn *fn);
/* Leaf bits for every level in levels (NPT_ERR_FLAGS if flags don't encode). */
int npt_op_flags(struct npt_op *o, unsigned flags, unsigned levels);
/* The split template: leaf bits of the children of the huge leaf pte at
 * level (its flags re-encoded one level down, the state hardware and npt
 * keep in leaves carried over: accessed/dirty, DBM and write permission,
 * the log mark). */
int npt_split_template(const struct npt_format *f, unsigned level, uint64_t pte, uint64_t *tmpl);
/* Hardware state that changed in a split leaf while it was replaced, into
 * the new leaves (npt_op_publish). */
void npt_op_fixup(struct npt_op *o, const struct npt_ctx *c, uint64_t final, uint64_t hw);

/* ---- leaf-table counts ---------------------------------------------------
 * Two counts per leaf table: present entries, and "good" ones -- present,
 * and entry 0 or the successor of a present left neighbour (its page the
 * next one). The table is one full run (full_bit) iff all 512 are good.
 * Kept in mm's frame word of the table where mm has one (npt.h), computed
 * by reading the table elsewhere; a single-page change moves each count by
 * a few, known from the entry and its neighbours. */
struct npt_counts {
	unsigned present, good;
};
void npt_leaf_recount(const struct npt_format *f, const uint64_t *tbl, struct npt_counts *n);
static inline uint32_t *npt_leaf_word(struct npt_table *t, uint64_t table_pa)
{
	if (t->word && t->word_pa == table_pa)
		return t->word;
	if (!t->mm.frame_word)
		return NULL;
	t->word_pa = table_pa;
	t->word = t->mm.frame_word(t->mm.ctx, table_pa);
	return t->word;
}
/* The frame word of table_pa if it is the one the table keeps (no call),
 * else NULL: the single-page calls' common cases take only that. */
static inline uint32_t *npt_leaf_word_kept(const struct npt_table *t, uint64_t table_pa)
{
	return t->word && t->word_pa == table_pa ? t->word : NULL;
}
static inline void npt_counts_put(uint32_t *word, const struct npt_counts *n)
{
	if (word)
		*word = n->present << 16 | n->good;
}
static inline void npt_counts_get(const uint32_t *word, struct npt_counts *n)
{
	n->present = *word >> 16;
	n->good = *word & 0xffffu;
}
/* full_bit of the level-1 entry *parent for a leaf table with good good
 * entries: cleared where it no longer holds, set (with may_set) where it
 * now does. */
static inline void npt_full_bit_settle(uint64_t *parent, uint64_t bit, unsigned good, int may_set)
{
	if (good != NPT_ENTRIES && (*parent & bit))
		__atomic_fetch_and(parent, ~bit, __ATOMIC_RELAXED);
	else if (good == NPT_ENTRIES && may_set && bit && !(*parent & bit))
		__atomic_fetch_or(parent, bit, __ATOMIC_RELAXED);
}
/* After a region call changed the leaf table tbl (at table_pa) below the
 * level-1 entry *slot: its counts recomputed and kept, full_bit cleared
 * where it no longer holds and, with may_set, set where it now does.
 * Returns the present count. */
unsigned npt_leaf_settle(struct npt_table *t, uint64_t *slot, const uint64_t *tbl,
			 uint64_t table_pa, int may_set);

/* ---- single-page shortcuts -------------------------------------------------
 * npt_map, npt_unmap, npt_protect and npt_remap on one leaf take one step
 * down (npt_seek_shaped) and make their visitor's change at the entry they
 * reach, when nothing needs planning: no split, no shared entry (and, for a
 * map, at most the missing tables of one path). Anything else goes the
 * whole plan / apply way, which decides every error the same. Each public
 * call's own common case goes further (map.c, unmap.c, protect.c, log.c):
 * with everything it needs cached in the table, it makes no call at all. */

/* A shortcut's answers: "take the whole way"; "done, and the flush record
 * made is the hook's to hear" (the caller tells it, so that in a common
 * case the telling can be a tail call). */
#define NPT_OP_SLOW 1
#define NPT_OP_TELL 2

/* The end of a call whose shortcut answered NPT_OP_TELL. */
static inline int npt_op_told(struct npt_table *t)
{
	return t->flush_hook ? npt_flush_tell(t) : 0;
}

/* The cache key of (level, flags): never 0. */
static inline uint64_t npt_enc_key(unsigned level, unsigned flags)
{
	return (uint64_t)(level + 1) << 32 | flags;
}
/* Leaf bits for flags at level, the last result kept in the table. */
int npt_op_encode_slow(struct npt_table *t, unsigned level, unsigned flags, uint64_t *bits);
static inline int npt_op_encode(struct npt_table *t, unsigned level, unsigned flags,
				uint64_t *bits)
{
	if (t->enc_key == npt_enc_key(level, flags)) {
		*bits = t->enc_bits;
		return 0;
	}
	return npt_op_encode_slow(t, level, flags, bits);
}
/* The level-1 entry above a leaf table changed in one entry: its counts
 * moved by (dpresent, dgood); keeps frame word and full_bit (set only with
 * may_set). Without a frame word it reads the table where it must decide: a
 * map with may_set (the entry's neighbours present: the table may be full
 * now), an unmap (empty now?). Returns the present count (without a frame
 * word, non-zero for "not empty"). */
unsigned npt_leaf_adjust_read(struct npt_table *t, uint64_t *parent, const uint64_t *tbl,
			      int dpresent, int may_set);
/* The same with the frame word in hand. */
static inline unsigned npt_leaf_adjust_word(const struct npt_format *f, uint32_t *word,
					    uint64_t *parent, int dpresent, int dgood, int may_set)
{
	struct npt_counts n;

	npt_counts_get(word, &n);
	n.present += (unsigned)dpresent;
	n.good += (unsigned)dgood;
	npt_counts_put(word, &n);
	npt_full_bit_settle(parent, f->full_bit, n.good, may_set);
	return n.present;
}
/* The same with the frame word given (NULL: the mm keeps none, read tbl). */
static inline unsigned npt_leaf_adjust_in(struct npt_table *t, uint32_t *word, uint64_t *parent,
					  const uint64_t *tbl, int dpresent, int dgood, int may_set)
{
	if (!word)
		return npt_leaf_adjust_read(t, parent, tbl, dpresent, may_set);
	return npt_leaf_adjust_word(t->fmt, word, parent, dpresent, dgood, may_set);
}
static inline unsigned npt_leaf_adjust(struct npt_table *t, uint64_t *parent, const uint64_t *tbl,
				       int dpresent, int dgood, int may_set)
{
	return npt_leaf_adjust_in(t, npt_leaf_word(t, npt_pte_addr(t->fmt, *parent)), parent, tbl,
				  dpresent, dgood, may_set);
}
int npt_table_empty(const struct npt_format *f, const uint64_t *tbl);
/* Good entries (struct npt_counts) among i and i + 1 of a leaf table if
 * entry i were present with address bits a (pte & addr_mask): the
 * neighbours read once, entry i not at all. */
static inline int npt_leaf_good_at(const struct npt_format *f, const uint64_t *tbl, unsigned i,
				   uint64_t a)
{
	const uint64_t step = NPT_PAGE_SIZE >> f->addr_shift, am = f->addr_mask;
	int good = 0;

	if (i == 0 || (npt_pte_present(f, tbl[i - 1]) && (tbl[i - 1] & am) + step == a))
		good++;
	if (i < NPT_ENTRIES - 1 && npt_pte_present(f, tbl[i + 1]) && a + step == (tbl[i + 1] & am))
		good++;
	return good;
}
/* How that count changes when entry i's address bits go from a to b. */
static inline int npt_leaf_good_moved(const struct npt_format *f, const uint64_t *tbl, unsigned i,
				      uint64_t a, uint64_t b)
{
	const uint64_t step = NPT_PAGE_SIZE >> f->addr_shift, am = f->addr_mask;
	int d = 0;

	if (i > 0 && npt_pte_present(f, tbl[i - 1])) {
		const uint64_t want = (tbl[i - 1] & am) + step;

		d += (want == b) - (want == a);
	}
	if (i < NPT_ENTRIES - 1 && npt_pte_present(f, tbl[i + 1])) {
		const uint64_t next = tbl[i + 1] & am;

		d += (b + step == next) - (a + step == next);
	}
	return d;
}

/* The sparse forms' leaf-table action, applied: fn (the operation's own
 * action) on each run of present entries of tr->tbl[lo..hi] in turn. */
static inline int npt_op_present_runs(struct npt_walk *w, const struct npt_tref *tr,
				      uint64_t base, unsigned lo, unsigned hi,
				      int (*fn)(struct npt_walk *w, const struct npt_tref *tr,
						uint64_t base, unsigned lo, unsigned hi))
{
	const struct npt_format *f = w->f;
	unsigned a = lo, b;

	for (;;) {
		while (a <= hi && !npt_pte_present(f, tr->tbl[a]))
			a++;
		if (a > hi)
			return 0;
		for (b = a; b < hi && npt_pte_present(f, tr->tbl[b + 1]); b++)
			;
		fn(w, tr, base, a, b);
		a = b + 1;
	}
}

/* The helpers below are inline: the visitors call them with the visit
 * context, which then need not live in memory on the common paths. */

/* Entries at level changed over [first, last] (NPT_FLUSH_TABLE when a table
 * entry did): noted unless inside a table no walker has seen yet. */
static inline void npt_op_note(struct npt_op *o, uint64_t first, uint64_t last, unsigned level,
			       unsigned flags)
{
	if (o->building)
		return;
	npt_flush_note(o->w.t, first, last, level, flags);
	if (!o->changed || first < o->flush_first)
		o->flush_first = first;
	if (!o->changed || last > o->flush_last)
		o->flush_last = last;
	o->changed = 1;
}

/* The entry c visits gets a new table below it: empty or the split of its
 * huge leaf c->old. Plan: counted and walked virtually; apply: taken from
 * the cache, filled, walked; published at NPT_V_POST by npt_op_publish. */
static inline int npt_op_new_child(struct npt_op *o, struct npt_ctx *c, int split)
{
	const struct npt_format *f = o->w.f;
	const unsigned cl = c->level - 1;
	struct npt_vtable v = { 0, 0, split };
	uint64_t *tbl;
	unsigned i;

	if (split) {
		int err = npt_split_template(f, c->level, c->old, &v.tmpl);

		if (err)
			return err;
		v.pa = npt_pte_addr(f, c->old) & ~(npt_level_size(c->level) - 1);
	}
	c->descend = 1;
	if (!o->w.apply) {
		o->need++;
		/* an empty leaf table cannot conflict with anything */
		if (cl == 0 && !split && o->kind == NPT_OP_MAP) {
			c->descend = 0;
			return 0;
		}
		o->vt[cl] = v;
		c->child = (struct npt_tref){ NULL, &o->vt[cl] };
		return 0;
	}
	c->child_pa = npt_prealloc_take(o->w.t, &o->cache);
	tbl = npt_virt(o->w.t, c->child_pa);
	if (split)
		for (i = 0; i < NPT_ENTRIES; i++)
			tbl[i] = v.tmpl | npt_addr_bits(f, v.pa + (uint64_t)i * npt_level_size(cl));
	c->child = (struct npt_tref){ tbl, split ? NULL : &npt_vt_fresh };
	o->building++;
	return 0;
}

static inline void npt_op_publish(struct npt_op *o, struct npt_ctx *c)
{
	const struct npt_format *f = o->w.f;
	const int split = !npt_tref_fresh(&c->child);
	uint64_t entry, final, hw;

	o->building--;
	/* A split leaves holes only where it unmaps, and other addresses only
	 * where a map replaces (and is one full run elsewhere); a new leaf
	 * table is counted. */
	if (c->level == 1 && (!split || o->kind == NPT_OP_UNMAP || o->replace)) {
		struct npt_counts n;

		npt_leaf_recount(f, c->child.tbl, &n);
		npt_counts_put(npt_leaf_word(o->w.t, c->child_pa), &n);
		entry = npt_table_pte(f, c->child_pa, 1, n.good == NPT_ENTRIES);
	} else {
		if (c->level == 1) {
			const struct npt_counts n = { NPT_ENTRIES, NPT_ENTRIES };

			npt_counts_put(npt_leaf_word(o->w.t, c->child_pa), &n);
		}
		entry = npt_table_pte(f, c->child_pa, c->level, 1);
	}
	if (!split || o->building) {
		npt_pte_publish(c->slot, entry);
		return;
	}
	/* A huge leaf becomes a table: a block-size change, with
	 * break-before-make where the format needs it. */
	final = npt_entry_replace(o->w.t, c->slot, c->old, entry, c->level, c->base);
	hw = f->accessed_bit | f->dirty_bit;
	if (c->old & f->dbm_bit)
		hw |= f->w_set | f->w_clear;
	if (o->kind == NPT_OP_LOG && ((final ^ c->old) & hw))
		npt_op_fixup(o, c, final, hw);
}


/* The leaf that maps one page at va, which must be its first page: *s where
 * npt_seek found it, and [*first, *last] the input range it covers. */
static NPT_ALWAYS_INLINE int npt_one_leaf_(struct npt_table *t, uint64_t va, struct npt_seek *s,
					    uint64_t *first, uint64_t *last, int shaped)
{
	uint64_t size;
	int err;

	err = npt_check_input(t, va, NPT_PAGE_SIZE, first, last);
	if (err)
		return err;
	if (shaped)
		npt_seek_in_shape(t, *first, 0, s);
	else
		npt_seek_shaped(t, *first, 0, s);
	if (!npt_pte_present(t->fmt, s->pte))
		return NPT_ERR_NOT_MAPPED;
	size = npt_level_size(s->level);
	if (*first & (size - 1))
		return NPT_ERR_HUGE;
	*last = *first + size - 1;
	return 0;
}
static NPT_ALWAYS_INLINE int npt_one_leaf(struct npt_table *t, uint64_t va, struct npt_seek *s,
					   uint64_t *first, uint64_t *last)
{
	return npt_one_leaf_(t, va, s, first, last, 0);
}
/* The same on a table with a shape: no call at all. */
static NPT_ALWAYS_INLINE int npt_one_leaf_shaped(struct npt_table *t, uint64_t va,
						 struct npt_seek *s, uint64_t *first, uint64_t *last)
{
	return npt_one_leaf_(t, va, s, first, last, 1);
}
/* The whole plan / apply way for the leaf npt_one_leaf found. */
static inline void npt_op_init_one(struct npt_op *o, struct npt_table *t, enum npt_op_kind kind,
				   uint64_t first, uint64_t last)
{
	npt_op_init(o, t, kind);
	o->w.first = first;
	o->w.last = last;
}
/* The output address of the leaf s found. */
static inline uint64_t npt_seek_leaf_pa(const struct npt_format *f, const struct npt_seek *s)
{
	return npt_pte_addr(f, s->pte) & ~(npt_level_size(s->level) - 1);
}

#endif
