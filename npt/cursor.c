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
	unsigned post;     /* bit k: frame k's entry i has its subtree done, its TABLE_POST due */
	int open;          /* NPT_WALK_RUNS: run holds leaves not visited yet */
	uint64_t run_end;  /* input address (reduced) after the run */
	struct npt_visit run;
	struct npt_frame st[NPT_MAX_LEVELS];
	struct npt_visit entry[NPT_MAX_LEVELS]; /* the table entry above frame k + 1 */
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
	s->post &= ~(1u << s->depth);
	npt_frame_down(&s->st[s->depth++], s->t, level, tbl, base, shared, s->first, s->last);
}

/* The frame above gets its entry's TABLE_POST next. */
static void step_up(struct cursor *s)
{
	if (--s->depth)
		s->post |= 1u << (s->depth - 1);
}

int npt_cursor_init(struct npt_cursor *c, const struct npt_table *t, uint64_t va, uint64_t size,
		    unsigned which)
{
	struct cursor *s;
	int err;

	if (!c || !t ||
	    (which & ~(NPT_WALK_LEAF | NPT_WALK_TABLE_PRE | NPT_WALK_TABLE_POST | NPT_WALK_RUNS)) ||
	    (which & (NPT_WALK_LEAF | NPT_WALK_RUNS)) == (NPT_WALK_LEAF | NPT_WALK_RUNS))
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

/* NPT_WALK_RUNS: the open run is the visit (it closes before a table
 * visit, when a leaf cannot extend it, and at the end). */
static int run_visit(struct npt_cursor *c, struct cursor *s)
{
	c->v = s->run;
	s->open = 0;
	return 1;
}

/* NPT_WALK_RUNS: the leaf e (its visit in v) extends the open run, or
 * opens its own; returns 1 when the run before it is due as the visit. */
static int run_leaf(struct npt_cursor *c, struct cursor *s, const struct npt_ctx *e,
		    struct npt_visit *v)
{
	const int due = s->open;

	if (s->open && e->level == s->run.level && v->flags == s->run.flags &&
	    e->shared == s->run.shared && e->base == s->run_end && v->pa == s->run.pa + s->run.size) {
		s->run.size += v->size;
		s->run_end += v->size;
		return 0;
	}
	if (due)
		c->v = s->run;
	v->kind = NPT_WALK_RUNS;
	s->run = *v;
	s->run_end = e->base + v->size;
	s->open = 1;
	return due;
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

		if (s->post >> k & 1) { /* step side, after the TABLE_POST of entry i */
			if (s->open && (s->which & NPT_WALK_TABLE_POST))
				return run_visit(c, s);
			s->post &= ~(1u << k);
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
		if (npt_pte_leaf(f, fr->level, e.old)) {
			struct npt_visit v;

			fr->i++;
			if (!(s->which & (NPT_WALK_LEAF | NPT_WALK_RUNS)))
				continue;
			npt_fill_visit(s->t, &e, &v);
			v.flags = f->decode(f, fr->level, e.old);
			if (s->which & NPT_WALK_RUNS) {
				if (run_leaf(c, s, &e, &v))
					return 1;
				continue;
			}
			c->v = v;
			return 1;
		}
		if (s->open && (s->which & NPT_WALK_TABLE_PRE))
			return run_visit(c, s); /* the entry is read again next */
		npt_fill_visit(s->t, &e, &c->v);
		c->v.kind = NPT_WALK_TABLE_PRE;
		s->entry[k] = c->v;
		step_down(s, fr->level - 1, npt_virt(s->t, c->v.pa), e.base, e.shared);
		if (s->which & NPT_WALK_TABLE_PRE) {
			s->just_pushed = 1;
			return 1;
		}
	}
	return s->open ? run_visit(c, s) : 0;
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
