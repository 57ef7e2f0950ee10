/*
 * Cursors: npt_walk turned inside out, for loops that want to hold the
 * iteration themselves (Linux's TDP MMU iterator does this for KVM). The
 * order and the visits are exactly npt_walk's; the recursion becomes an
 * explicit stack of one frame per level, kept in the caller's struct.
 */
#include "internal.h"

struct frame {
	const uint64_t *tbl;
	uint64_t base;     /* input address of entry 0 */
	unsigned i, hi;    /* next entry to look at, last one in range */
	unsigned level;
	int shared;
	int post;          /* returning from entry i's subtree: its TABLE_POST is due */
	struct npt_visit entry; /* the table entry whose subtree is open below this frame */
};

struct cursor {
	const struct npt_table *t;
	uint64_t first, last;
	unsigned which;
	unsigned depth;    /* frames in use */
	int just_pushed;   /* the last visit was a TABLE_PRE whose frame is on top */
	struct frame st[NPT_MAX_LEVELS];
};

_Static_assert(sizeof(struct cursor) <= sizeof(((struct npt_cursor *)0)->priv_),
	       "struct npt_cursor too small for the cursor state");

static struct cursor *state(struct npt_cursor *c)
{
	return (struct cursor *)(void *)c->priv_;
}

static void push(struct cursor *s, unsigned level, const uint64_t *tbl, uint64_t base, int shared)
{
	struct frame *f = &s->st[s->depth++];

	f->tbl = tbl;
	f->base = base;
	f->level = level;
	f->shared = shared;
	f->post = 0;
	npt_slice(s->t, level, base, s->first, s->last, &f->i, &f->hi);
}

int npt_cursor_init(struct npt_cursor *c, const struct npt_table *t, uint64_t va, uint64_t size,
		    unsigned which)
{
	struct cursor *s;
	int err;

	if (!c || !t || (which & ~(NPT_WALK_LEAF | NPT_WALK_TABLE_PRE | NPT_WALK_TABLE_POST)))
		return NPT_ERR_INVAL;
	npt_memset(c, 0, sizeof(*c));
	s = state(c);
	err = npt_check_input(t, va, size, &s->first, &s->last);
	if (err)
		return err;
	s->t = t;
	s->which = which;
	push(s, npt_root_level(t), t->root, 0, 0);
	return 0;
}

int npt_cursor_next(struct npt_cursor *c)
{
	struct cursor *s;

	if (!c)
		return NPT_ERR_INVAL;
	s = state(c);
	s->just_pushed = 0;
	while (s->depth) {
		struct frame *f = &s->st[s->depth - 1];
		const struct npt_format *fmt;
		uint64_t pte, esz, ebase;
		struct npt_visit *v = &c->v;

		if (f->post) {
			f->post = 0;
			f->i++;
			if (s->which & NPT_WALK_TABLE_POST) {
				*v = f->entry;
				v->kind = NPT_WALK_TABLE_POST;
				return 1;
			}
			continue;
		}
		if (f->i > f->hi) {
			if (--s->depth)
				s->st[s->depth - 1].post = 1;
			continue;
		}
		fmt = s->t->fmt;
		pte = npt_pte_get(&f->tbl[f->i]);
		if (!npt_pte_present(fmt, pte)) {
			f->i++;
			continue;
		}
		esz = npt_level_size(f->level);
		ebase = f->base + (uint64_t)f->i * esz;
		v->level = f->level;
		v->va = npt_ia_to_va(s->t, ebase);
		v->size = esz;
		v->pte = pte;
		v->shared = f->shared || npt_is_shared(s->t, f->level, f->i);
		if (npt_pte_leaf(fmt, f->level, pte)) {
			f->i++;
			if (!(s->which & NPT_WALK_LEAF))
				continue;
			v->kind = NPT_WALK_LEAF;
			v->pa = npt_pte_addr(fmt, pte) & ~(esz - 1);
			v->flags = fmt->decode(fmt, f->level, pte);
			return 1;
		}
		v->kind = NPT_WALK_TABLE_PRE;
		v->pa = npt_pte_addr(fmt, pte);
		v->flags = 0;
		f->entry = *v;
		push(s, f->level - 1, npt_virt(s->t, v->pa), ebase, v->shared);
		if (s->which & NPT_WALK_TABLE_PRE) {
			s->just_pushed = 1;
			return 1;
		}
	}
	return 0;
}

int npt_cursor_skip(struct npt_cursor *c)
{
	struct cursor *s;

	if (!c)
		return NPT_ERR_INVAL;
	s = state(c);
	if (!s->just_pushed)
		return NPT_ERR_INVAL;
	s->just_pushed = 0;
	s->depth--;
	s->st[s->depth - 1].i++;
	return 0;
}
