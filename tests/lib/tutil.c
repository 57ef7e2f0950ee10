/* Helpers for the engine suites — see tutil.h. */
#include "tutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TU_POOL_BASE 0x40000000ull

char tu_ctx[256];

unsigned fmt_count(void)
{
	const char *const *names = npt_format_names();
	unsigned n = 0;

	while (names && names[n])
		n++;
	return n;
}

static void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (!q) {
		fprintf(stderr, "tutil: out of memory\n");
		abort();
	}
	return q;
}

unsigned fctx_norm(const struct fctx *c, unsigned flags)
{
	return flags | ((flags & NPT_W) ? c->extra_rw : c->extra_ro);
}

int fctx_has_leaf(const struct fctx *c, unsigned level)
{
	return (c->leaf_levels >> level) & 1u;
}

unsigned fctx_opts(const struct fctx *c, unsigned level_mask)
{
	unsigned l, opts = 0;

	for (l = 1; l < c->info.levels; l++)
		if ((level_mask >> l & 1u) && fctx_has_leaf(c, l))
			opts |= opt_for_level(l);
	return opts;
}

int fctx_other_flags(const struct fctx *c, unsigned flags, unsigned *out)
{
	unsigned i, n = fctx_norm(c, flags);

	/* Prefer a set that differs in W (a "real" permission change). */
	for (i = 0; i < c->nvalid; i++)
		if (fctx_norm(c, c->valid[i]) != n &&
		    ((c->valid[i] ^ flags) & NPT_W)) {
			*out = c->valid[i];
			return (int)i;
		}
	for (i = 0; i < c->nvalid; i++)
		if (fctx_norm(c, c->valid[i]) != n) {
			*out = c->valid[i];
			return (int)i;
		}
	return -1;
}

int fctx_fits(const struct fctx *c, uint64_t align, uint64_t span)
{
	(void)align; /* fctx_area falls back to address 0, which every alignment allows */
	return span <= c->lo_end;
}

uint64_t fctx_area(const struct fctx *c, uint64_t align, uint64_t span)
{
	/* Prefer 3 * align (away from 0 and from the pa choice), then align, then 0. */
	if (align <= c->lo_end / 4 && 3 * align + span <= c->lo_end && 3 * align + span > 3 * align)
		return 3 * align;
	if (align < c->lo_end && align + span <= c->lo_end && align + span > align)
		return align;
	ck_assert_msg(span <= c->lo_end, "[%s] no room for %llu bytes of input space", c->name,
		      (unsigned long long)span);
	return 0;
}

uint64_t fctx_pa(const struct fctx *c, uint64_t align, uint64_t span)
{
	uint64_t top = c->info.pa_bits >= 64 ? ~0ull : 1ull << c->info.pa_bits;

	if (align <= top / 8 && 5 * align + span <= top)
		return 5 * align;
	if (align + span <= top)
		return align;
	ck_assert_msg(span <= top, "[%s] no room for %llu bytes of output space", c->name,
		      (unsigned long long)span);
	return 0;
}

void fctx_init(struct fctx *c, unsigned idx, size_t pool_frames, int linear)
{
	const char *const *names = npt_format_names();
	unsigned l, s;
	struct npt_table *t;
	uint64_t va, pa, ps;
	unsigned got;

	memset(c, 0, sizeof(*c));
	tu_ctx[0] = 0;
	c->idx = idx;
	ck_assert_msg(idx < fmt_count(), "format index %u out of range", idx);
	c->name = names[idx];
	c->fmt = npt_format_by_name(c->name);
	ck_assert_msg(c->fmt != NULL, "[%s] npt_format_by_name failed", c->name);
	ck_assert_int_eq(npt_format_info(c->fmt, &c->info), 0);
	ck_assert_msg(c->info.levels >= 2 && c->info.levels < TU_MAX_LEVELS,
		      "[%s] levels %u", c->name, c->info.levels);
	ck_assert_msg(testmm_init(&c->mm, TU_POOL_BASE, pool_frames) == 0, "testmm_init");
	c->linear = linear;
	if (!linear) { /* and no frame word: every optional fast path off */
		c->mm.mm.flags = 0;
		c->mm.mm.linear_offset = 0;
		c->mm.mm.frame_word = NULL;
	}
	c->root_level = c->info.levels - 1;
	c->root_esize = lsize(c->root_level);
	for (l = 0; l < c->info.levels; l++)
		if ((c->info.leaf_sizes >> (12 + 9 * l)) & 1u) {
			c->leaf_levels |= 1u << l;
			c->top_leaf = l;
		}
	if (c->info.canonical) {
		c->lo_end = 1ull << (c->info.va_bits - 1);
		c->hi_start = 0ull - c->lo_end;
	} else {
		c->lo_end = c->info.va_bits >= 64 ? ~0ull : 1ull << c->info.va_bits;
		c->hi_start = 0;
	}
	c->ro = NPT_R;
	c->rw = NPT_R | NPT_W | (c->info.flags & NPT_X);

	/* Every flag set the format encodes at every leaf level. */
	for (s = 0; s <= NPT_FLAGS_ALL; s++) {
		int ok = 1;

		if (s & ~c->info.flags)
			continue;
		for (l = 0; l < c->info.levels && ok; l++) {
			uint64_t pte;

			if (fctx_has_leaf(c, l) &&
			    npt_encode_leaf(c->fmt, l, 0, s, &pte) != 0)
				ok = 0;
		}
		if (ok)
			c->valid[c->nvalid++] = s;
	}

	/* What a fresh map reports: decided from the first map of rw and of ro.
	 * x86/EPT report exactly the flags; RISC-V presets A|D on every leaf. */
	t = fctx_new(c);
	va = fctx_area(c, lsize(1), 2 * PG);
	pa = fctx_pa(c, lsize(1), 2 * PG);
	ck_assert_msg(npt_map(t, va, pa, PG, c->rw) == 0, "[%s] first map of rw flags failed",
		      c->name);
	ck_assert_msg(npt_map(t, va + PG, pa + PG, PG, c->ro) == 0,
		      "[%s] first map of ro flags failed", c->name);
	ck_assert_int_eq(npt_query(t, va, NULL, &got, &ps), 0);
	c->extra_rw = got & ~c->rw;
	ck_assert_int_eq(npt_query(t, va + PG, NULL, &got, &ps), 0);
	c->extra_ro = got & ~c->ro;
	npt_free(t);
	ck_assert_msg(testmm_live(&c->mm) == 0, "[%s] npt_free left %zu frames", c->name,
		      testmm_live(&c->mm));
}

void fctx_repool(struct fctx *c, uint64_t base_pa, size_t frames)
{
	ck_assert_msg(testmm_live(&c->mm) == 0, "[%s] repool with %zu frames live", c->name,
		      testmm_live(&c->mm));
	testmm_destroy(&c->mm);
	ck_assert_msg(testmm_init(&c->mm, base_pa, frames) == 0, "testmm_init");
	if (!c->linear) {
		c->mm.mm.flags = 0;
		c->mm.mm.linear_offset = 0;
		c->mm.mm.frame_word = NULL;
	}
}

void fctx_fini(struct fctx *c)
{
	testmm_destroy(&c->mm);
}

struct npt_table *fctx_new(struct fctx *c)
{
	int err = 12345;
	struct npt_table *t = npt_new(c->fmt, &c->mm.mm, &err);

	ck_assert_msg(t != NULL && err == 0, "[%s] npt_new failed: %d (%s)", c->name, err,
		      npt_strerror(err));
	return t;
}

/* ---- snapshots ----------------------------------------------------------- */

struct snap_walk {
	struct fctx *c;
	struct snap *s;
};

static void snap_bytes(struct snap *s, const void *p, size_t n)
{
	if (s->nbytes + n > s->bcap) {
		s->bcap = (s->nbytes + n) * 2;
		s->bytes = xrealloc(s->bytes, s->bcap);
	}
	memcpy(s->bytes + s->nbytes, p, n);
	s->nbytes += n;
}

static int snap_visit(const struct npt_visit *v, void *arg)
{
	struct snap_walk *w = arg;
	struct snap *s = w->s;
	struct snap_ent *e;

	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 64;
		s->e = xrealloc(s->e, s->cap * sizeof(*s->e));
	}
	e = &s->e[s->n++];
	e->kind = v->kind;
	e->level = v->level;
	e->va = v->va;
	e->size = v->size;
	e->pte = v->pte;
	e->pa = v->pa;
	e->flags = v->flags;
	e->shared = v->shared;
	if (v->kind == NPT_WALK_TABLE_PRE) {
		const void *p = testmm_va(&w->c->mm, v->pa);

		ck_assert_msg(p != NULL, "[%s] table at pa 0x%llx outside the pool", w->c->name,
			      (unsigned long long)v->pa);
		snap_bytes(s, p, PG);
	}
	return 0;
}

/* Walks [va, va + size); on a canonical format's top range (ending at 2^64)
 * falls back to stopping one page short if the engine refuses the range (the
 * dedicated test in test_api reports that). */
static int walk_part(struct fctx *c, const struct npt_table *t, uint64_t va, uint64_t size,
		     unsigned which, int (*fn)(const struct npt_visit *, void *), void *arg,
		     int *partial)
{
	int rc = npt_walk(t, va, size, which, fn, arg);

	if (rc == NPT_ERR_RANGE && va + size == 0 && size > PG) {
		*partial = 1;
		rc = npt_walk(t, va, size - PG, which, fn, arg);
	}
	ck_assert_msg(rc == 0, "[%s] npt_walk(0x%llx, 0x%llx) = %d (%s)", c->name,
		      (unsigned long long)va, (unsigned long long)size, rc, npt_strerror(rc));
	return rc;
}

static void walk_all(struct fctx *c, const struct npt_table *t, unsigned which,
		     int (*fn)(const struct npt_visit *, void *), void *arg, int *partial)
{
	walk_part(c, t, 0, c->lo_end, which, fn, arg, partial);
	if (c->info.canonical)
		walk_part(c, t, c->hi_start, 0 - c->hi_start, which, fn, arg, partial);
}

void snap_take(struct fctx *c, const struct npt_table *t, struct snap *s)
{
	struct snap_walk w = { c, s };
	const void *root;

	memset(s, 0, sizeof(*s));
	root = testmm_va(&c->mm, npt_root(t));
	ck_assert_msg(root != NULL, "[%s] root outside the pool", c->name);
	snap_bytes(s, root, (size_t)c->info.root_frames * PG);
	walk_all(c, t, NPT_WALK_LEAF | NPT_WALK_TABLE_PRE | NPT_WALK_TABLE_POST, snap_visit, &w,
		 &s->partial);
	s->frames = npt_table_frames(t);
	s->live = testmm_live(&c->mm);
}

void snap_free(struct snap *s)
{
	free(s->e);
	free(s->bytes);
	memset(s, 0, sizeof(*s));
}

void snap_assert_equal(const struct fctx *c, const struct snap *a, const struct snap *b,
		       const char *what, int line)
{
	size_t i;

	ck_assert_msg(a->live == b->live,
		      "[%s] line %d: after failed %s: live frames %zu -> %zu (leak or free)",
		      c->name, line, what, a->live, b->live);
	ck_assert_msg(a->frames == b->frames,
		      "[%s] line %d: after failed %s: npt_table_frames %llu -> %llu", c->name, line,
		      what, (unsigned long long)a->frames, (unsigned long long)b->frames);
	ck_assert_msg(a->n == b->n, "[%s] line %d: after failed %s: %zu walk entries -> %zu",
		      c->name, line, what, a->n, b->n);
	for (i = 0; i < a->n; i++) {
		const struct snap_ent *x = &a->e[i], *y = &b->e[i];

		ck_assert_msg(x->kind == y->kind && x->level == y->level && x->va == y->va &&
				      x->pte == y->pte && x->pa == y->pa,
			      "[%s] line %d: after failed %s: entry %zu (kind %u level %u va 0x%llx "
			      "pte 0x%llx) became (kind %u level %u va 0x%llx pte 0x%llx)",
			      c->name, line, what, i, x->kind, x->level, (unsigned long long)x->va,
			      (unsigned long long)x->pte, y->kind, y->level,
			      (unsigned long long)y->va, (unsigned long long)y->pte);
	}
	ck_assert_msg(a->nbytes == b->nbytes && !memcmp(a->bytes, b->bytes, a->nbytes),
		      "[%s] line %d: after failed %s: table bytes differ", c->name, line, what);
}

/* ---- structural check -------------------------------------------------- */

struct tree_frame {
	unsigned level;   /* level of the entries in this table */
	uint64_t va, size; /* range the table covers */
	uint64_t pa, pte;
	unsigned long children;
};

struct tree_walk {
	struct fctx *c;
	const struct npt_table *t;
	struct tree_stats *st;
	struct tree_frame stack[TU_MAX_LEVELS];
	unsigned depth;
	int any;           /* a LEAF or PRE seen in this walk */
	uint64_t next;     /* lowest va the next LEAF/PRE may start at */
	int next_top;      /* next is 2^64: nothing more may come */
	unsigned long root_children;
	int shared_seen;
};

static unsigned long nonzero_words(const void *p, size_t frames)
{
	const uint64_t *w = p;
	unsigned long n = 0;
	size_t i;

	for (i = 0; i < frames * 512; i++)
		n += w[i] != 0;
	return n;
}

static int tree_visit(const struct npt_visit *v, void *arg)
{
	struct tree_walk *w = arg;
	struct fctx *c = w->c;
	unsigned want_level;
	uint64_t dpa = 0;
	unsigned dflags = 0;
	int leaf = -1, rc;

	want_level = w->depth ? w->stack[w->depth - 1].level - 1 : c->root_level;
	if (v->kind == NPT_WALK_TABLE_POST) {
		struct tree_frame *f;

		ck_assert_msg(w->depth > 0, "[%s] TABLE_POST without TABLE_PRE", c->name);
		f = &w->stack[w->depth - 1];
		ck_assert_msg(v->level == f->level && v->va == f->va && v->size == f->size &&
				      v->pa == f->pa && v->pte == f->pte,
			      "[%s] TABLE_POST (level %u va 0x%llx) does not match its TABLE_PRE "
			      "(level %u va 0x%llx)",
			      c->name, v->level, (unsigned long long)v->va, f->level,
			      (unsigned long long)f->va);
		{
			const void *p = testmm_va(&c->mm, f->pa);
			unsigned long nz = nonzero_words(p, 1);

			ck_assert_msg(nz == f->children,
				      "[%s] table at pa 0x%llx (level %u, va 0x%llx) has %lu non-zero "
				      "entries but %lu present ones (not zeroed / stale entries)",
				      c->name, (unsigned long long)f->pa, f->level - 1,
				      (unsigned long long)f->va, nz, f->children);
			if (f->children == 0)
				w->st->empty_tables++;
		}
		w->depth--;
		if (v->va + v->size == 0)
			w->next_top = 1;
		else
			w->next = v->va + v->size;
		return 0;
	}

	ck_assert_msg(v->kind == NPT_WALK_LEAF || v->kind == NPT_WALK_TABLE_PRE,
		      "[%s] visit kind %u", c->name, v->kind);
	ck_assert_msg(!w->next_top && (!w->any || v->va >= w->next),
		      "[%s] walk out of order: va 0x%llx (level %u) after 0x%llx", c->name,
		      (unsigned long long)v->va, v->level, (unsigned long long)w->next);
	ck_assert_msg(v->level == want_level, "[%s] entry at va 0x%llx has level %u, expected %u",
		      c->name, (unsigned long long)v->va, v->level, want_level);
	ck_assert_msg(v->size == lsize(v->level), "[%s] level %u entry reports size 0x%llx",
		      c->name, v->level, (unsigned long long)v->size);
	ck_assert_msg((v->va & (v->size - 1)) == 0, "[%s] entry va 0x%llx not aligned to 0x%llx",
		      c->name, (unsigned long long)v->va, (unsigned long long)v->size);
	if (w->depth) {
		struct tree_frame *f = &w->stack[w->depth - 1];

		ck_assert_msg(v->va >= f->va && v->va - f->va < f->size,
			      "[%s] entry va 0x%llx outside its table [0x%llx +0x%llx)", c->name,
			      (unsigned long long)v->va, (unsigned long long)f->va,
			      (unsigned long long)f->size);
		f->children++;
	} else {
		w->root_children++;
	}
	if (v->shared) {
		w->shared_seen = 1;
		w->st->shared_visits++;
	}
	w->any = 1;
	rc = npt_decode(c->fmt, v->level, v->pte, &dpa, &dflags, &leaf);
	ck_assert_msg(rc == 0, "[%s] npt_decode(level %u, 0x%llx) of a visited entry = %d", c->name,
		      v->level, (unsigned long long)v->pte, rc);

	if (v->kind == NPT_WALK_LEAF) {
		ck_assert_msg(fctx_has_leaf(c, v->level), "[%s] leaf at level %u, not a leaf level",
			      c->name, v->level);
		ck_assert_msg(leaf == 1, "[%s] leaf visit, npt_decode says table (level %u va 0x%llx)",
			      c->name, v->level, (unsigned long long)v->va);
		ck_assert_msg(dpa == v->pa && dflags == v->flags,
			      "[%s] leaf va 0x%llx: visit pa 0x%llx flags 0x%x, decode pa 0x%llx "
			      "flags 0x%x",
			      c->name, (unsigned long long)v->va, (unsigned long long)v->pa, v->flags,
			      (unsigned long long)dpa, dflags);
		ck_assert_msg((v->pa & (v->size - 1)) == 0, "[%s] leaf pa 0x%llx not aligned",
			      c->name, (unsigned long long)v->pa);
		ck_assert_msg((v->flags & ~c->info.flags) == 0,
			      "[%s] leaf flags 0x%x outside the format's 0x%x", c->name, v->flags,
			      c->info.flags);
		if (v->level < TU_MAX_LEVELS)
			w->st->leaves[v->level]++;
		if (v->va + v->size == 0)
			w->next_top = 1;
		else
			w->next = v->va + v->size;
		return 0;
	}

	/* TABLE_PRE */
	ck_assert_msg(v->level > 0, "[%s] table entry at level 0", c->name);
	ck_assert_msg(leaf == 0, "[%s] table visit, npt_decode says leaf (level %u va 0x%llx)",
		      c->name, v->level, (unsigned long long)v->va);
	ck_assert_msg(dpa == v->pa, "[%s] table entry: visit pa 0x%llx, decode 0x%llx", c->name,
		      (unsigned long long)v->pa, (unsigned long long)dpa);
	ck_assert_msg((v->pa & (PG - 1)) == 0 && testmm_is_allocated(&c->mm, v->pa),
		      "[%s] table entry points to 0x%llx: not an allocated frame", c->name,
		      (unsigned long long)v->pa);
	ck_assert_msg(w->depth < TU_MAX_LEVELS, "[%s] walk nests too deep", c->name);
	w->stack[w->depth].level = v->level;
	w->stack[w->depth].va = v->va;
	w->stack[w->depth].size = v->size;
	w->stack[w->depth].pa = v->pa;
	w->stack[w->depth].pte = v->pte;
	w->stack[w->depth].children = 0;
	w->depth++;
	w->st->tables++;
	w->next = v->va;
	return 0;
}

void check_tree(struct fctx *c, const struct npt_table *t, int allow_empty,
		struct tree_stats *st_out)
{
	struct tree_stats st;
	struct tree_walk w;
	int partial = 0;
	unsigned long nz;
	unsigned pass;

	memset(&st, 0, sizeof(st));
	memset(&w, 0, sizeof(w));
	w.c = c;
	w.t = t;
	w.st = &st;
	for (pass = 0; pass < (c->info.canonical ? 2u : 1u); pass++) {
		w.any = 0;
		w.next = 0;
		w.next_top = 0;
		if (pass == 0)
			walk_part(c, t, 0, c->lo_end, NPT_WALK_LEAF | NPT_WALK_TABLE_PRE |
				  NPT_WALK_TABLE_POST, tree_visit, &w, &partial);
		else
			walk_part(c, t, c->hi_start, 0 - c->hi_start, NPT_WALK_LEAF |
				  NPT_WALK_TABLE_PRE | NPT_WALK_TABLE_POST, tree_visit, &w,
				  &partial);
		ck_assert_msg(w.depth == 0, "[%s] walk ended inside a table", c->name);
	}
	nz = nonzero_words(testmm_va(&c->mm, npt_root(t)), c->info.root_frames);
	if (!partial)
		ck_assert_msg(nz == w.root_children,
			      "[%s] root has %lu non-zero entries but %lu present ones", c->name, nz,
			      w.root_children);
	if (!w.shared_seen)
		ck_assert_msg(npt_table_frames(t) == c->info.root_frames + st.tables,
			      "[%s] npt_table_frames = %llu, but the walk shows %u root frames + %lu "
			      "tables",
			      c->name, (unsigned long long)npt_table_frames(t), c->info.root_frames,
			      st.tables);
	if (!allow_empty)
		ck_assert_msg(st.empty_tables == 0, "[%s] %lu empty tables left in the tree", c->name,
			      st.empty_tables);
	if (st_out)
		*st_out = st;
}

/* ---- leaves ------------------------------------------------------------- */

struct leaf_list {
	struct leaf *l;
	size_t n, cap;
};

static int leaf_visit(const struct npt_visit *v, void *arg)
{
	struct leaf_list *ll = arg;

	if (v->kind != NPT_WALK_LEAF)
		return 0;
	if (ll->n == ll->cap) {
		ll->cap = ll->cap ? ll->cap * 2 : 256;
		ll->l = xrealloc(ll->l, ll->cap * sizeof(*ll->l));
	}
	ll->l[ll->n].va = v->va;
	ll->l[ll->n].size = v->size;
	ll->l[ll->n].pa = v->pa;
	ll->l[ll->n].level = v->level;
	ll->l[ll->n].flags = v->flags;
	ll->l[ll->n].shared = v->shared;
	ll->n++;
	return 0;
}

size_t collect_leaves(struct fctx *c, const struct npt_table *t, uint64_t va, uint64_t size,
		      struct leaf **out)
{
	struct leaf_list ll = { NULL, 0, 0 };
	int partial = 0;

	walk_part(c, t, va, size, NPT_WALK_LEAF, leaf_visit, &ll, &partial);
	*out = ll.l;
	return ll.n;
}

size_t collect_all_leaves(struct fctx *c, const struct npt_table *t, struct leaf **out)
{
	struct leaf_list ll = { NULL, 0, 0 };
	int partial = 0;

	walk_all(c, t, NPT_WALK_LEAF, leaf_visit, &ll, &partial);
	*out = ll.l;
	return ll.n;
}

void check_mapped(struct fctx *c, const struct npt_table *t, uint64_t va, uint64_t pa,
		  uint64_t size, unsigned flags, int line)
{
	struct leaf *l = NULL;
	size_t n, i;
	uint64_t cur = va, remaining = size;
	unsigned want = fctx_norm(c, flags);
	uint64_t probes[3];
	unsigned p;

	n = collect_leaves(c, t, va, size, &l);
	for (i = 0; i < n && remaining; i++) {
		uint64_t lo = l[i].va, covered;

		ck_assert_msg(lo <= cur && cur - lo < l[i].size,
			      "[%s] line %d: page va 0x%llx not mapped (next leaf at 0x%llx)",
			      c->name, line, (unsigned long long)cur, (unsigned long long)lo);
		ck_assert_msg(l[i].pa + (cur - lo) == pa + (cur - va),
			      "[%s] line %d: va 0x%llx maps pa 0x%llx, expected 0x%llx", c->name,
			      line, (unsigned long long)cur,
			      (unsigned long long)(l[i].pa + (cur - lo)),
			      (unsigned long long)(pa + (cur - va)));
		ck_assert_msg(l[i].flags == want,
			      "[%s] line %d: va 0x%llx has flags 0x%x, expected 0x%x", c->name, line,
			      (unsigned long long)cur, l[i].flags, want);
		covered = l[i].size - (cur - lo);
		if (covered > remaining)
			covered = remaining;
		remaining -= covered;
		cur += covered;
	}
	ck_assert_msg(remaining == 0,
		      "[%s] line %d: [0x%llx, +0x%llx) not fully mapped (hole at 0x%llx)",
		      c->name, line, (unsigned long long)va, (unsigned long long)size,
		      (unsigned long long)cur);
	free(l);

	probes[0] = va;
	probes[1] = va + size / 2 + 0x123;
	probes[2] = va + size - 1;
	for (p = 0; p < 3; p++) {
		uint64_t qpa = 0, qps = 0;
		unsigned qf = 0;
		int rc = npt_query(t, probes[p], &qpa, &qf, &qps);

		ck_assert_msg(rc == 0, "[%s] line %d: npt_query(0x%llx) = %d (%s)", c->name, line,
			      (unsigned long long)probes[p], rc, npt_strerror(rc));
		ck_assert_msg(qpa == pa + (probes[p] - va) && qf == want,
			      "[%s] line %d: npt_query(0x%llx) = pa 0x%llx flags 0x%x, expected "
			      "pa 0x%llx flags 0x%x",
			      c->name, line, (unsigned long long)probes[p], (unsigned long long)qpa,
			      qf, (unsigned long long)(pa + (probes[p] - va)), want);
		ck_assert_msg(qps && (qps & (qps - 1)) == 0 && (c->info.leaf_sizes & qps),
			      "[%s] line %d: npt_query page_size 0x%llx", c->name, line,
			      (unsigned long long)qps);
	}
}

void check_unmapped(struct fctx *c, const struct npt_table *t, uint64_t va, uint64_t size,
		    int line)
{
	struct leaf *l = NULL;
	size_t n = collect_leaves(c, t, va, size, &l);
	int rc;

	ck_assert_msg(n == 0, "[%s] line %d: [0x%llx, +0x%llx) should be unmapped, leaf at 0x%llx",
		      c->name, line, (unsigned long long)va, (unsigned long long)size,
		      (unsigned long long)(n ? l[0].va : 0));
	free(l);
	rc = npt_query(t, va, NULL, NULL, NULL);
	ck_assert_msg(rc == NPT_ERR_NOT_MAPPED, "[%s] line %d: npt_query(0x%llx) = %d, expected "
		      "NOT_MAPPED", c->name, line, (unsigned long long)va, rc);
	rc = npt_query(t, va + size - 1, NULL, NULL, NULL);
	ck_assert_msg(rc == NPT_ERR_NOT_MAPPED, "[%s] line %d: npt_query(0x%llx) = %d, expected "
		      "NOT_MAPPED", c->name, line, (unsigned long long)(va + size - 1), rc);
}
