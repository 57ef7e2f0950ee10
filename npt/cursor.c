/*
 * Cursors: npt_walk turned inside out, for loops that want to hold the
 * iteration themselves (Linux's TDP MMU iterator, tdp_iter.c, does this for
 * KVM). The visits and their order are npt_walk's; the walker's recursion
 * becomes the explicit frames of walk.h (step down into a table, step side
 * to the next entry, step up at a table's end), kept in the caller's struct.
 */
#include "walk.h"

struct cursor {
	const struct npt_table *t;
	uint64_t first, last;
	unsigned which;
	unsigned depth;    /* frames in use */
	int just_pushed;   /* the last visit was a TABLE_PRE whose frame is on top */
	struct npt_frame st[NPT_MAX_LEVELS];
	struct npt_visit entry[NPT_MAX_LEVELS]; /* the table entry above frame k + 1 */
	int post[NPT_MAX_LEVELS]; /* frame k: entry i's subtree done, its TABLE_POST due */
};

_Static_assert(sizeof(struct cursor) <= sizeof(((struct npt_cursor *)0)->priv_),
	       "struct npt_cursor too small for the cursor state");

static struct cursor *state(struct npt_cursor *c)
{
	return (struct cursor *)(void *)c->priv_;
}

static void step_down(struct cursor *s, unsigned level, const uint64_t *tbl, uint64_t base,
		      int shared)
{
	s->post[s->depth] = 0;
	npt_frame_down(&s->st[s->depth++], s->t, level, tbl, base, shared, s->first, s->last);
}

/* The frame above gets its entry's TABLE_POST next. */
static void step_up(struct cursor *s)
{
	if (--s->depth)
		s->post[s->depth - 1] = 1;
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
	step_down(s, npt_root_level(t), t->root, 0, 0);
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
		const unsigned k = s->depth - 1;
		struct npt_frame *fr = &s->st[k];
		const struct npt_format *f = s->t->fmt;
		struct npt_ctx e;

		if (s->post[k]) { /* step side, after the TABLE_POST of entry i */
			s->post[k] = 0;
			fr->i++;
			if (s->which & NPT_WALK_TABLE_POST) {
				c->v = s->entry[k];
				c->v.kind = NPT_WALK_TABLE_POST;
				return 1;
			}
			continue;
		}
		if (fr->i > fr->hi) {
			step_up(s);
			continue;
		}
		e.old = npt_pte_get(&fr->tbl[fr->i]);
		if (!npt_pte_present(f, e.old)) {
			fr->i++;
			continue;
		}
		e.level = fr->level;
		e.base = fr->base + (uint64_t)fr->i * npt_level_size(fr->level);
		e.shared = fr->shared || npt_is_shared(s->t, fr->level, fr->i);
		npt_fill_visit(s->t, &e, &c->v);
		if (npt_pte_leaf(f, fr->level, e.old)) {
			fr->i++;
			if (!(s->which & NPT_WALK_LEAF))
				continue;
			c->v.flags = f->decode(f, fr->level, e.old);
			return 1;
		}
		c->v.kind = NPT_WALK_TABLE_PRE;
		s->entry[k] = c->v;
		step_down(s, fr->level - 1, npt_virt(s->t, c->v.pa), e.base, e.shared);
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
