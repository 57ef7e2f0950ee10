/* The differential fuzz driver — see driver.h. */
#include "driver.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "npt.h"
#include "internal.h"
#include "invariants.h"
#include "model.h"
#include "testmm.h"

#define PG 4096ull
#define NT 3                   /* tables per run, all of one format */
#define POOL_FRAMES 160
#define POOL_BASE 0x40000000ull
#define ARG_ERRS (MODEL_BIT(NPT_ERR_ALIGN) | MODEL_BIT(NPT_ERR_RANGE) | \
		  MODEL_BIT(NPT_ERR_FLAGS) | MODEL_BIT(NPT_ERR_INVAL) | MODEL_BIT(NPT_ERR_UNSUPPORTED))

struct rd {
	const uint8_t *p;
	size_t n, i;
};

static unsigned u8(struct rd *r)
{
	return r->i < r->n ? r->p[r->i++] : 0;
}

static uint64_t u64(struct rd *r)
{
	uint64_t v = 0;
	unsigned i;

	for (i = 0; i < 8; i++)
		v |= (uint64_t)u8(r) << (8 * i);
	return v;
}

struct view_leaf {
	uint64_t va, pa;
	unsigned level, flags;
	int shared;
};

struct vlist {
	struct view_leaf *l;
	size_t n, cap;
};

struct fz {
	const struct fz_opts *o;
	struct fz_stats *st;
	const struct npt_format *fmt;
	struct npt_format_info info;
	struct testmm mm;
	struct npt_table *t[NT];
	struct model m[NT];
	struct model_cfg cfg;
	signed char *owner[NT]; /* per root slot: the table owning a shared entry, -1 none */
	uint64_t *spte[NT];     /* the entry as shared */
	unsigned char *exported[NT]; /* per root slot: lent by copy_from (npt.h: kept even empty) */
	unsigned nshares;
	unsigned root_level, top_leaf, root_shift;
	uint64_t root_esize, ia_mask;
	uint64_t halves[2][2];  /* [first, last] of each half (one on non-canonical formats) */
	unsigned nhalves;
	unsigned valid[256], nvalid;
	uint64_t hist[8];
	unsigned nhist;
	char *msg;
	size_t len;
	int failed;
	unsigned long opno;
	char desc[256];
	unsigned cur_op;
	struct vlist a, b;       /* scratch for comparisons */
};

static int diverge(struct fz *z, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	if (z->failed)
		return -1;
	z->failed = 1;
	if (!z->msg || !z->len)
		return -1;
	n = (size_t)snprintf(z->msg, z->len, "[%s] op #%lu %s: ", z->info.name, z->opno, z->desc);
	if (n < z->len) {
		va_start(ap, fmt);
		vsnprintf(z->msg + n, z->len - n, fmt, ap);
		va_end(ap);
	}
	return -1;
}

static uint64_t lsz(unsigned level)
{
	return 1ull << npt_level_shift(level);
}

static int has_leaf(const struct fz *z, unsigned l)
{
	return l < z->info.levels && (z->cfg.leaf_levels >> l & 1u);
}

/* ---- address space ----------------------------------------------------------- */

static unsigned slot_of(const struct fz *z, uint64_t va)
{
	return (unsigned)((va & z->ia_mask) >> z->root_shift);
}

static uint64_t slot_va(const struct fz *z, unsigned i)
{
	uint64_t ia = (uint64_t)i << z->root_shift;
	unsigned s = 64u - z->info.va_bits;

	if (!z->info.canonical)
		return ia;
	return (uint64_t)((int64_t)(ia << s) >> s);
}

/* The engine's (and model's) input check, as a set of acceptable codes. */
static unsigned input_errs(const struct fz *z, uint64_t va, uint64_t size)
{
	uint64_t last;
	unsigned e = 0, s = 64u - z->info.va_bits;

	if (size == 0)
		return MODEL_BIT(NPT_ERR_RANGE);
	if ((va | size) & (PG - 1))
		return MODEL_BIT(NPT_ERR_ALIGN);
	last = va + (size - 1);
	if (last < va)
		return MODEL_BIT(NPT_ERR_RANGE);
	if (z->info.canonical) {
		if ((uint64_t)((int64_t)(va << s) >> s) != va ||
		    (uint64_t)((int64_t)(last << s) >> s) != last || ((va ^ last) >> 63))
			e = MODEL_BIT(NPT_ERR_RANGE);
	} else if (last >> z->info.va_bits) {
		e = MODEL_BIT(NPT_ERR_RANGE);
	}
	return e;
}

/* ---- views: what the table should hold, from the models ----------------------- */

static void vpush(struct vlist *v, uint64_t va, uint64_t pa, unsigned level, unsigned flags,
		  int shared)
{
	if (v->n == v->cap) {
		v->cap = v->cap ? 2 * v->cap : 256;
		v->l = realloc(v->l, v->cap * sizeof(*v->l));
		if (!v->l)
			abort();
	}
	v->l[v->n].va = va;
	v->l[v->n].pa = pa;
	v->l[v->n].level = level;
	v->l[v->n].flags = flags;
	v->l[v->n].shared = shared;
	v->n++;
}

/* First model leaf ending at or after a. */
static size_t mfirst(const struct model *m, uint64_t a)
{
	size_t lo = 0, hi = m->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (m->l[mid].va + (model_lsize(m->l[mid].level) - 1) < a)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Model leaves of table ti overlapping [a, last] (inside one half), shared
 * slots read through their owner's model. */
static void view(struct fz *z, unsigned ti, uint64_t a, uint64_t last, struct vlist *out)
{
	uint64_t cur = a;

	out->n = 0;
	for (;;) {
		unsigned s = slot_of(z, cur);
		uint64_t sbase = slot_va(z, s), slast = sbase + (z->root_esize - 1);
		uint64_t e = slast < last ? slast : last;
		int own = z->owner[ti][s];
		const struct model *m = &z->m[own >= 0 ? own : (int)ti];
		size_t i;

		for (i = mfirst(m, cur); i < m->n && m->l[i].va <= e; i++)
			vpush(out, m->l[i].va, m->l[i].pa, m->l[i].level, m->l[i].flags, own >= 0);
		if (e == last)
			break;
		cur = e + 1;
	}
}

static int walk_visit(const struct npt_visit *v, void *arg)
{
	struct vlist *l = arg;

	vpush(l, v->va, v->pa, v->level, v->flags, v->shared);
	return 0;
}

/* Engine and models agree on [a, last] of table ti. */
static int compare_range(struct fz *z, unsigned ti, uint64_t a, uint64_t last, const char *what)
{
	size_t i;
	int rc;

	view(z, ti, a, last, &z->a);
	z->b.n = 0;
	rc = npt_walk(z->t[ti], a, last - a + 1, NPT_WALK_LEAF, walk_visit, &z->b);
	if (rc)
		return diverge(z, "%s: npt_walk(table %u, 0x%llx, 0x%llx) = %d", what, ti,
			       (unsigned long long)a, (unsigned long long)(last - a + 1), rc);
	for (i = 0; i < z->a.n && i < z->b.n; i++) {
		const struct view_leaf *x = &z->a.l[i], *y = &z->b.l[i];

		if (x->va != y->va || x->level != y->level || x->pa != y->pa ||
		    x->flags != y->flags || x->shared != y->shared)
			return diverge(z, "%s: table %u in [0x%llx, 0x%llx]: model leaf va 0x%llx "
				       "level %u pa 0x%llx flags 0x%x%s, table leaf va 0x%llx level %u "
				       "pa 0x%llx flags 0x%x%s", what, ti, (unsigned long long)a,
				       (unsigned long long)last, (unsigned long long)x->va, x->level,
				       (unsigned long long)x->pa, x->flags, x->shared ? " shared" : "",
				       (unsigned long long)y->va, y->level, (unsigned long long)y->pa,
				       y->flags, y->shared ? " shared" : "");
	}
	if (z->a.n != z->b.n) {
		const struct view_leaf *x = i < z->a.n ? &z->a.l[i] : &z->b.l[i];

		return diverge(z, "%s: table %u in [0x%llx, 0x%llx]: model has %zu leaves, table %zu "
			       "(first extra: %s leaf va 0x%llx level %u pa 0x%llx)", what, ti,
			       (unsigned long long)a, (unsigned long long)last, z->a.n, z->b.n,
			       i < z->a.n ? "model" : "table", (unsigned long long)x->va, x->level,
			       (unsigned long long)x->pa);
	}
	return 0;
}

/* [va, va + size) and the 2 MiB around it, or both ends when it is long. */
static int compare_around(struct fz *z, unsigned ti, uint64_t va, uint64_t size)
{
	uint64_t last = va + (size - 1), w = lsz(1), lo, hi;
	unsigned h;

	if (input_errs(z, va, size))
		return 0;
	for (h = 0; h < z->nhalves; h++)
		if (va >= z->halves[h][0] && last <= z->halves[h][1])
			break;
	if (h == z->nhalves)
		return diverge(z, "range in no half");
	lo = va - z->halves[h][0] > w ? (va & ~(w - 1)) - w : z->halves[h][0];
	if (lo < z->halves[h][0])
		lo = z->halves[h][0];
	hi = z->halves[h][1] - last > 2 * w ? (last | (w - 1)) + w : z->halves[h][1];
	if (hi - lo <= 64 * w)
		return compare_range(z, ti, lo, hi, "around the call");
	if (compare_range(z, ti, lo, lo + 2 * w - 1, "around the start of the call"))
		return -1;
	return compare_range(z, ti, hi - 2 * w + 1, hi, "around the end of the call");
}

static int full_check(struct fz *z)
{
	char m[512];
	unsigned ti, h;

	z->st->full_checks++;
	for (ti = 0; ti < NT; ti++)
		for (h = 0; h < z->nhalves; h++)
			if (compare_range(z, ti, z->halves[h][0], z->halves[h][1], "full compare"))
				return -1;
	if (inv_check(&z->mm, z->t, NT, INV_COMPLETE, m, sizeof(m)))
		return diverge(z, "invariants: %s", m);
	return 0;
}

/* ---- shares ---------------------------------------------------------------------- */

static void share_clear(struct fz *z, unsigned ti, unsigned s)
{
	if (z->owner[ti][s] >= 0) {
		z->owner[ti][s] = -1;
		z->nshares--;
	}
}

/* Drops every share of another table's entry whose owner no longer holds
 * that entry (the protocol in driver.h), or, with all, every share of an
 * entry `owner` holds (before npt_free(owner)). */
static int drop_stale(struct fz *z, int owner_only, int all)
{
	unsigned tj, s;

	if (!z->nshares)
		return 0;
	for (tj = 0; tj < NT; tj++)
		for (s = 0; s < z->t[tj]->root_entries; s++) {
			int o = z->owner[tj][s];
			int rc;

			if (o < 0 || (owner_only >= 0 && o != owner_only))
				continue;
			if (!all && z->t[o]->root[s] == z->spte[tj][s])
				continue;
			rc = npt_unmap_region(z->t[tj], slot_va(z, s), z->root_esize);
			if (rc)
				return diverge(z, "dropping table %u's stale share of slot %u: "
					       "npt_unmap_region = %d", tj, s, rc);
			share_clear(z, tj, s);
		}
	return 0;
}

/* 1 if [va, va+size) (valid) touches a slot ti shares; *all_full: each such
 * slot lies inside the range. */
static int touches_shared(const struct fz *z, unsigned ti, uint64_t va, uint64_t size,
			  int *all_full)
{
	uint64_t last = va + (size - 1), cur = va;
	int any = 0;

	*all_full = 1;
	if (!z->nshares)
		return 0;
	for (;;) {
		unsigned s = slot_of(z, cur);
		uint64_t sb = slot_va(z, s), sl = sb + (z->root_esize - 1);

		if (z->owner[ti][s] >= 0) {
			any = 1;
			if (sb < va || sl > last)
				*all_full = 0;
		}
		if (sl >= last)
			break;
		cur = sl + 1;
	}
	return any;
}

/* ---- generators ------------------------------------------------------------------- */

static unsigned gen_level(struct fz *z, struct rd *r)
{
	unsigned b = u8(r) % 100, l;

	l = b < 50 ? 0 : b < 80 ? 1 : b < 95 ? 2 : 3 + b % 2;
	if (l >= z->info.levels)
		l = z->info.levels - 1;
	return l;
}

static uint64_t gen_offset(struct fz *z, struct rd *r)
{
	unsigned b = u8(r);
	uint64_t off = (uint64_t)(b & 3) * lsz(gen_level(z, r)) + (uint64_t)(b >> 2 & 3) * lsz(1) +
		       (uint64_t)(b >> 4 & 7) * PG;

	return off;
}

static void remember(struct fz *z, uint64_t va)
{
	z->hist[z->nhist++ % 8] = va;
}

static uint64_t gen_va(struct fz *z, struct rd *r)
{
	unsigned b = u8(r), sel = b % 32;
	uint64_t va, anchor;
	uint64_t in_end = z->info.canonical ? 1ull << (z->info.va_bits - 1) : 1ull << z->info.va_bits;

	if (sel < 16 && z->nhist) {
		anchor = z->hist[u8(r) % (z->nhist < 8 ? z->nhist : 8)];
	} else if (sel < 18) {
		anchor = 3 * lsz(2);
		if (anchor >= in_end)
			anchor = 3 * lsz(1);
	} else if (sel < 21) {
		anchor = 0;
	} else if (sel < 23) {
		anchor = z->root_esize; /* start of root slot 1 */
	} else if (sel < 26) {
		anchor = in_end; /* the end of the (low half of the) input space */
	} else if (sel < 28) {
		anchor = z->info.canonical ? 0 - in_end : 0 - lsz(z->top_leaf); /* high half start */
	} else if (sel < 30) {
		anchor = 0; /* with a negative offset: the top of the high half */
	} else if (sel < 31) {
		return u64(r) & ~(PG - 1);
	} else {
		return u64(r);
	}
	va = anchor + ((b & 0x20) ? gen_offset(z, r) : 0 - gen_offset(z, r));
	if (b & 0x40 && sel < 16)
		va = anchor + PG * (u8(r) % 8);
	if ((b & 0x80) && !(u8(r) % 8))
		va += (u8(r) & 1) ? 1 : 0x800; /* misaligned */
	return va;
}

static uint64_t gen_size(struct fz *z, struct rd *r, uint64_t va)
{
	unsigned b = u8(r), sel = b % 32;
	unsigned l;
	uint64_t s;

	if (sel == 0)
		return 0;
	if (sel == 1)
		return 0 - va + PG * (u8(r) % 3); /* ends at 2^64, or wraps */
	if (sel == 2)
		return u64(r) & ~(PG - 1);
	if (sel == 3)
		return PG * (1 + u8(r) % 4) + ((u8(r) & 1) ? 1 : 0x800);
	if (sel < 12)
		return PG * (1 + u8(r) % 8);
	l = gen_level(z, r);
	s = lsz(l) * (1 + (b >> 5) % 3);
	if (sel < 20)
		return s;
	if (sel < 26)
		return s + PG * (u8(r) % 4);
	s -= PG * (u8(r) % 4);
	return s ? s : PG;
}

/* For calls that need a mapping: mostly an address inside (or at the base
 * of) a leaf of table ti's model, and a size that ends inside it, at its
 * end, or at the end of a later leaf. Returns 0 to fall back to gen_va. */
static int gen_mapped(struct fz *z, struct rd *r, unsigned ti, uint64_t *va, uint64_t *size)
{
	const struct model *m = &z->m[ti];
	const struct mleaf *l, *e;
	uint64_t ls, off = 0, end;
	unsigned b = u8(r);

	if (!m->n || (b & 3) == 0)
		return 0;
	l = &m->l[(u8(r) | u8(r) << 8) % m->n];
	ls = model_lsize(l->level);
	switch (b >> 2 & 3) {
	case 0: off = 0; break;
	case 1: off = PG * (u8(r) % 8); break;
	case 2: off = (ls / 2) & ~(PG - 1); break;
	default: off = (u8(r) % 4) * lsz(1) + PG * (u8(r) % 3); break;
	}
	if (off >= ls)
		off = 0;
	*va = l->va + off;
	end = l->va + ls; /* may be 0 at the top of a canonical high half */
	switch (b >> 4 & 3) {
	case 0: *size = end - *va; break;
	case 1: *size = PG * (1 + u8(r) % 4); break;
	case 2:
		e = l + u8(r) % (size_t)(m->l + m->n - l); /* this leaf or a later one */
		*size = e->va + model_lsize(e->level) - *va - PG * (u8(r) % 2);
		break;
	default: *size = lsz(gen_level(z, r)); break;
	}
	if (!*size)
		*size = PG;
	return 1;
}

static uint64_t gen_pa(struct fz *z, struct rd *r, uint64_t va)
{
	unsigned b = u8(r), sel = b % 16, l = gen_level(z, r);
	uint64_t top = 1ull << z->info.pa_bits, s = lsz(l);

	if (sel < 9) /* congruent with va at a leaf size: huge leaves possible */
		return ((va & (s - 1)) + s * (u8(r) % 8)) & (top - 1);
	if (sel < 12)
		return PG * u8(r);
	if (sel == 12)
		return top - s * (1 + u8(r) % 2);
	if (sel == 13)
		return top + PG * (u8(r) % 2);
	if (sel == 14)
		return u64(r) & ~(PG - 1);
	return u64(r);
}

static unsigned gen_flags(struct fz *z, struct rd *r)
{
	unsigned b = u8(r) % 20;

	if (b < 16)
		return z->valid[u8(r) % z->nvalid];
	if (b < 19)
		return u8(r);
	return u8(r) | u8(r) << 8;
}

static unsigned gen_opts(struct rd *r)
{
	unsigned b = u8(r) % 16;

	if (b < 8)
		return u8(r) & NPT_MAP_HUGE;
	if (b < 12)
		return (u8(r) & NPT_MAP_HUGE) | NPT_MAP_REPLACE;
	if (b < 15)
		return 0;
	return u8(r) | u8(r) << 8;
}

static uint64_t gen_page_size(struct fz *z, struct rd *r)
{
	unsigned b = u8(r) % 16;

	if (b < 14) {
		unsigned l = gen_level(z, r);

		while (!has_leaf(z, l))
			l--;
		return lsz(l);
	}
	if (b == 14)
		return 0;
	return 1ull << (u8(r) % 64);
}

/* ---- one operation ----------------------------------------------------------------- */

static int model_set_has(unsigned set, int rc)
{
	return rc <= 0 && rc >= -31 && (set >> (unsigned)(-rc) & 1u);
}

struct call_state {
	unsigned long inj, exh;
	size_t live;
	uint64_t frames[NT];
	struct inv_snap snap;
	int snapped;
};

static void before_call(struct fz *z, struct call_state *cs)
{
	unsigned i;

	cs->inj = z->mm.injected;
	cs->exh = z->mm.exhausted;
	cs->live = testmm_live(&z->mm);
	for (i = 0; i < NT; i++)
		cs->frames[i] = npt_table_frames(z->t[i]);
	cs->snapped = z->o->snap_every && z->opno % z->o->snap_every == 0;
	if (cs->snapped)
		inv_snap_take(&cs->snap, &z->mm, z->t, NT);
}

/* Checks rc against the prediction; on failure also that nothing changed.
 * Returns 1 if the call succeeded, 0 if it failed as allowed, -1 on a
 * divergence. */
static int after_call(struct fz *z, struct call_state *cs, unsigned set, int rc)
{
	char m[512], sbuf[128];
	unsigned i;
	int allowed = model_set_has(set, rc);

	if (rc == NPT_ERR_NOMEM && (set & MODEL_OK) &&
	    (z->mm.injected != cs->inj || z->mm.exhausted != cs->exh))
		allowed = 1;
	if (!allowed) {
		if (cs->snapped)
			inv_snap_free(&cs->snap);
		return diverge(z, "expected %s, got %d (%s)", model_set_str(set, sbuf, sizeof(sbuf)),
			       rc, npt_strerror(rc));
	}
	if (rc == 0) {
		z->st->ok++;
		z->st->by_op_ok[z->cur_op]++;
		if (cs->snapped)
			inv_snap_free(&cs->snap);
		return 1;
	}
	if (rc == NPT_ERR_NOMEM)
		z->st->nomem++;
	else
		z->st->refused++;
	if (testmm_live(&z->mm) != cs->live)
		return diverge(z, "failed with %d but live frames went %zu -> %zu", rc, cs->live,
			       testmm_live(&z->mm));
	for (i = 0; i < NT; i++)
		if (npt_table_frames(z->t[i]) != cs->frames[i])
			return diverge(z, "failed with %d but table %u's frames went %llu -> %llu", rc,
				       i, (unsigned long long)cs->frames[i],
				       (unsigned long long)npt_table_frames(z->t[i]));
	if (cs->snapped) {
		int bad = inv_snap_cmp(&cs->snap, &z->mm, z->t, NT, m, sizeof(m));

		inv_snap_free(&cs->snap);
		if (bad)
			return diverge(z, "failed with %d (%s) and changed the pool: %s", rc,
				       npt_strerror(rc), m);
	}
	return 0;
}

static int check_flush(struct fz *z, unsigned ti, int want_none, uint64_t va, uint64_t size)
{
	struct npt_flush f;

	npt_last_flush(z->t[ti], &f);
	if (want_none) {
		if (f.kind != NPT_FLUSH_NONE)
			return diverge(z, "a map of empty space recorded a flush (kind %u)", f.kind);
		return 0;
	}
	if (f.kind == NPT_FLUSH_ALL)
		return 0;
	if (f.kind != NPT_FLUSH_RANGE || f.va > va || f.va + (f.size - 1) < va + (size - 1))
		return diverge(z, "flush record kind %u [0x%llx +0x%llx) does not cover the change "
			       "[0x%llx +0x%llx)", f.kind, (unsigned long long)f.va,
			       (unsigned long long)f.size, (unsigned long long)va,
			       (unsigned long long)size);
	return 0;
}

/* The expected codes of a call on ti touching a shared slot; see driver.h. */
static unsigned shared_set(unsigned own)
{
	if (own & ARG_ERRS)
		return own & ARG_ERRS;
	return (own & ~MODEL_OK) | MODEL_BIT(NPT_ERR_SHARED);
}

/* Single-entry calls at va in a slot ti shares: what the shared leaf says. */
static unsigned shared_single(struct fz *z, unsigned ti, uint64_t va, int is_unmap,
			      const struct mleaf **leaf)
{
	const struct model *m = &z->m[z->owner[ti][slot_of(z, va)]];
	const struct mleaf *l = model_find(m, va);

	*leaf = l;
	if (!l)
		return MODEL_BIT(NPT_ERR_NOT_MAPPED);
	if (l->va != va)
		return MODEL_BIT(NPT_ERR_HUGE);
	/* npt_unmap of a whole shared root-level leaf: npt.h says only that
	 * npt_unmap_region drops a share; the engine drops it here too, a
	 * reading where only the region form may would refuse: either is
	 * accepted, and checked to do what it says */
	if (is_unmap && l->level == z->root_level)
		return MODEL_OK | MODEL_BIT(NPT_ERR_SHARED);
	/* refused for the share, or for the arguments first */
	return MODEL_BIT(NPT_ERR_SHARED) | MODEL_BIT(NPT_ERR_FLAGS) | MODEL_BIT(NPT_ERR_ALIGN) |
	       MODEL_BIT(NPT_ERR_RANGE);
}

/* va is a valid page address in a slot ti shares (query: any byte of one). */
static int in_shared_slot(const struct fz *z, unsigned ti, uint64_t va)
{
	return z->nshares && !input_errs(z, va, PG) && z->owner[ti][slot_of(z, va)] >= 0;
}

static int op_map(struct fz *z, struct rd *r, unsigned ti)
{
	struct call_state cs;
	uint64_t va = gen_va(z, r), ps = gen_page_size(z, r), pa = gen_pa(z, r, va);
	unsigned flags = gen_flags(z, r), set;
	int rc, all;

	snprintf(z->desc, sizeof(z->desc), "npt_map(t%u, va 0x%llx, pa 0x%llx, 0x%llx, 0x%x)", ti,
		 (unsigned long long)va, (unsigned long long)pa, (unsigned long long)ps, flags);
	set = model_map(&z->m[ti], va, pa, ps, flags, 0);
	if (!(set & ARG_ERRS) && touches_shared(z, ti, va, ps, &all))
		set = shared_set(set);
	before_call(z, &cs);
	rc = npt_map(z->t[ti], va, pa, ps, flags);
	rc = after_call(z, &cs, set, rc);
	if (rc < 0)
		return -1;
	if (rc == 1) {
		model_map(&z->m[ti], va, pa, ps, flags, 1);
		remember(z, va);
		if (check_flush(z, ti, 1, 0, 0))
			return -1;
	}
	return compare_around(z, ti, va, ps);
}

/* The model of ti over [lo, last] taken from the table, after checking
 * both translate every page alike (where npt.h leaves the shape open). */
static int adopt_table(struct fz *z, unsigned ti, uint64_t lo, uint64_t last, const char *call)
{
	struct mleaf *ml;
	char m[256];
	size_t i;
	int rc;

	z->b.n = 0;
	rc = npt_walk(z->t[ti], lo, last - lo + 1, NPT_WALK_LEAF, walk_visit, &z->b);
	if (rc)
		return diverge(z, "resync walk = %d", rc);
	ml = malloc((z->b.n ? z->b.n : 1) * sizeof(*ml));
	if (!ml)
		abort();
	for (i = 0; i < z->b.n; i++) {
		ml[i].va = z->b.l[i].va;
		ml[i].pa = z->b.l[i].pa;
		ml[i].level = z->b.l[i].level;
		ml[i].flags = z->b.l[i].flags;
	}
	rc = model_adopt(&z->m[ti], lo, last, ml, z->b.n, m, sizeof(m));
	free(ml);
	return rc ? diverge(z, "%s left a leaf the model cannot take: %s", call, m) : 0;
}

/* [a, b] inside the runs of f (in address order), or f is ALL. */
static int record_covers(const struct npt_flush *f, uint64_t a, uint64_t b)
{
	unsigned i;

	if (f->kind == NPT_FLUSH_ALL)
		return 1;
	for (i = 0; f->kind == NPT_FLUSH_RANGE && i < f->nranges; i++) {
		const uint64_t ra = f->ranges[i].va, rb = ra + (f->ranges[i].size - 1);

		if (ra <= a && a <= rb) {
			if (b <= rb)
				return 1;
			a = rb + 1;
		}
	}
	return 0;
}

/* After an NPT_MAP_REPLACE over [va, last]: each leaf old[] held there that
 * is not in the model now, as it was, is named by the record (over its part
 * in the range); with nothing that changed the record is NONE. */
static int check_flush_replace(struct fz *z, unsigned ti, const struct mleaf *old, size_t n,
			       uint64_t va, uint64_t last)
{
	struct npt_flush f;
	size_t i, changed = 0;

	npt_last_flush(z->t[ti], &f);
	for (i = 0; i < n; i++) {
		const struct mleaf *now = model_find(&z->m[ti], old[i].va);
		const uint64_t a = old[i].va > va ? old[i].va : va;
		const uint64_t end = old[i].va + (model_lsize(old[i].level) - 1);
		const uint64_t b = end < last ? end : last;

		if (now && now->va == old[i].va && now->level == old[i].level &&
		    now->pa == old[i].pa && now->flags == old[i].flags)
			continue;
		changed++;
		if (!record_covers(&f, a, b))
			return diverge(z, "replace changed the leaf at 0x%llx (level %u) but the record "
				       "(kind %u, %u runs) does not name [0x%llx, 0x%llx]",
				       (unsigned long long)old[i].va, old[i].level, f.kind, f.nranges,
				       (unsigned long long)a, (unsigned long long)b);
	}
	if (!changed && f.kind != NPT_FLUSH_NONE)
		return diverge(z, "replace changed nothing but recorded a flush (kind %u)", f.kind);
	return 0;
}

/* A root slot of ti inside [va, last] whole that another table shares:
 * npt.h keeps it a table, where the model would put a root-level leaf. */
static int covers_exported(const struct fz *z, unsigned ti, uint64_t va, uint64_t last)
{
	unsigned s;

	for (s = 0; s < NPT_ROOT_MAX_ENTRIES; s++) {
		const uint64_t sb = slot_va(z, s);

		if (z->exported[ti][s] && va <= sb && sb + (z->root_esize - 1) <= last)
			return 1;
	}
	return 0;
}

/* The model's leaves of ti that overlap [va, va + size): what a replace
 * there may change (malloc'ed, *n of them). */
static struct mleaf *leaves_in(struct fz *z, unsigned ti, uint64_t va, uint64_t size, size_t *n)
{
	const uint64_t last = va + (size - 1);
	struct mleaf *old = malloc((z->m[ti].n ? z->m[ti].n : 1) * sizeof(*old));
	size_t i;

	if (!old)
		abort();
	*n = 0;
	for (i = 0; i < z->m[ti].n; i++) {
		const struct mleaf *l = &z->m[ti].l[i];

		if (l->va <= last && l->va + (model_lsize(l->level) - 1) >= va)
			old[(*n)++] = *l;
	}
	return old;
}

/* After a map (opts) of [va, va + size) succeeded and the model took it:
 * a plain map records nothing; a replace names what changed, and where it
 * covered a root slot another table shares, the table stays a table. */
static int after_map(struct fz *z, unsigned ti, unsigned opts, uint64_t va, uint64_t size,
		     const struct mleaf *old, size_t n)
{
	const uint64_t last = va + (size - 1);

	if (!(opts & NPT_MAP_REPLACE))
		return check_flush(z, ti, 1, 0, 0);
	if (covers_exported(z, ti, va, last))
		return adopt_table(z, ti, va, last, "map_region replace");
	return check_flush_replace(z, ti, old, n, va, last);
}

static int op_map_region(struct fz *z, struct rd *r, unsigned ti)
{
	struct call_state cs;
	uint64_t va = gen_va(z, r), size = gen_size(z, r, va), pa = gen_pa(z, r, va);
	unsigned flags = gen_flags(z, r), opts = gen_opts(r), set;
	struct mleaf *old = NULL;
	size_t n = 0;
	int rc, all;

	snprintf(z->desc, sizeof(z->desc),
		 "npt_map_region(t%u, va 0x%llx, pa 0x%llx, size 0x%llx, 0x%x, opts 0x%x)", ti,
		 (unsigned long long)va, (unsigned long long)pa, (unsigned long long)size, flags,
		 opts);
	set = model_map_region(&z->m[ti], va, pa, size, flags, opts, 0);
	if (!(set & ARG_ERRS) && touches_shared(z, ti, va, size, &all))
		set = shared_set(set);
	if ((opts & NPT_MAP_REPLACE) && set == MODEL_OK)
		old = leaves_in(z, ti, va, size, &n);
	before_call(z, &cs);
	rc = npt_map_region(z->t[ti], va, pa, size, flags, opts);
	rc = after_call(z, &cs, set, rc);
	if (rc == 1) {
		model_map_region(&z->m[ti], va, pa, size, flags, opts, 1);
		remember(z, va);
		if (after_map(z, ti, opts, va, size, old, n))
			rc = -1;
	}
	free(old);
	if (rc < 0)
		return -1;
	return compare_around(z, ti, va, size);
}

/* npt_map_sg: up to 4 pieces cut from a generated range, some following on
 * from the one before; the model takes the runs of pieces that follow on
 * as map_regions, all or none (the input range checked as a whole first). */
static int op_map_sg(struct fz *z, struct rd *r, unsigned ti)
{
	struct call_state cs;
	struct npt_sg sg[4];
	uint64_t va = gen_va(z, r), size = gen_size(z, r, va), off = 0;
	unsigned flags = gen_flags(z, r), opts = gen_opts(r), set, k = 0, i, j;
	struct mleaf *old = NULL;
	size_t n = 0;
	int rc, all;

	while (k < 4 && (k == 0 || off < size)) {
		const uint64_t left = size > off ? size - off : 0;
		uint64_t len = k == 3 || (u8(r) & 3) == 0 ? left : ((u8(r) % 8) + 1) * PG;

		if (len > left)
			len = left;
		sg[k].pa = k && (u8(r) & 1) ? sg[k - 1].pa + sg[k - 1].size : gen_pa(z, r, va + off);
		sg[k++].size = len;
		off += len;
	}
	snprintf(z->desc, sizeof(z->desc),
		 "npt_map_sg(t%u, va 0x%llx, %u pieces from pa 0x%llx, size 0x%llx, 0x%x, opts 0x%x)",
		 ti, (unsigned long long)va, k, (unsigned long long)sg[0].pa,
		 (unsigned long long)off, flags, opts);
	/* npt.h orders no argument error before another: any of them (an
	 * empty piece, the whole input, each run's output and the flags) */
	set = model_unmap_sparse(&z->m[ti], va, off, 0) & ARG_ERRS;
	for (i = 0; i < k; i++)
		if (!sg[i].size)
			set |= MODEL_BIT(NPT_ERR_RANGE);
	if (opts & ~(NPT_MAP_HUGE | NPT_MAP_REPLACE))
		set |= MODEL_BIT(NPT_ERR_INVAL);
	for (i = 0, size = 0; i < k; i = j) {
		uint64_t len;

		j = (unsigned)model_sg_run(sg, k, i, &len);
		if (len)
			set |= model_map_region(&z->m[ti], va + size, sg[i].pa, len, flags, opts, 0) &
			       ARG_ERRS;
		size += len;
	}
	/* valid arguments: the runs' state, the first refusal */
	for (i = 0, size = 0; i < k && !set; i = j) {
		uint64_t len;
		unsigned e;

		j = (unsigned)model_sg_run(sg, k, i, &len);
		e = model_map_region(&z->m[ti], va + size, sg[i].pa, len, flags, opts, 0);
		if (e != MODEL_OK)
			set = e;
		size += len;
	}
	if (!set)
		set = MODEL_OK;
	size = off;
	if (!(set & ARG_ERRS) && size && touches_shared(z, ti, va, size, &all))
		set = shared_set(set);
	if ((opts & NPT_MAP_REPLACE) && set == MODEL_OK)
		old = leaves_in(z, ti, va, size, &n);
	before_call(z, &cs);
	rc = npt_map_sg(z->t[ti], va, sg, k, flags, opts);
	rc = after_call(z, &cs, set, rc);
	if (rc == 1) {
		for (i = 0, off = 0; i < k; i = j) {
			uint64_t len;

			j = (unsigned)model_sg_run(sg, k, i, &len);
			model_map_region(&z->m[ti], va + off, sg[i].pa, len, flags, opts, 1);
			off += len;
		}
		remember(z, va);
		if (after_map(z, ti, opts, va, size, old, n))
			rc = -1;
	}
	free(old);
	if (rc < 0)
		return -1;
	return compare_around(z, ti, va, size);
}

static int op_unmap(struct fz *z, struct rd *r, unsigned ti)
{
	struct call_state cs;
	uint64_t va, sz, opa = 0, osz = 0, epa = 0, esz = 0;
	unsigned set;
	const struct mleaf *leaf = NULL;
	int rc, shared;

	if (!gen_mapped(z, r, ti, &va, &sz))
		va = gen_va(z, r);
	shared = in_shared_slot(z, ti, va);
	snprintf(z->desc, sizeof(z->desc), "npt_unmap(t%u, va 0x%llx)", ti, (unsigned long long)va);
	if (shared) {
		set = shared_single(z, ti, va, 1, &leaf);
		if (leaf) {
			epa = leaf->pa;
			esz = model_lsize(leaf->level);
		}
	} else {
		set = model_unmap(&z->m[ti], va, &epa, &esz, 0);
	}
	before_call(z, &cs);
	rc = npt_unmap(z->t[ti], va, &opa, &osz);
	rc = after_call(z, &cs, set, rc);
	if (rc < 0)
		return -1;
	if (rc == 1) {
		if (opa != epa || osz != esz)
			return diverge(z, "reported pa 0x%llx size 0x%llx, model 0x%llx 0x%llx",
				       (unsigned long long)opa, (unsigned long long)osz,
				       (unsigned long long)epa, (unsigned long long)esz);
		if (shared)
			share_clear(z, ti, slot_of(z, va));
		else
			model_unmap(&z->m[ti], va, NULL, NULL, 1);
		if (check_flush(z, ti, 0, va, esz))
			return -1;
	}
	return compare_around(z, ti, va & ~(PG - 1), PG);
}

/* The sparse forms' flush record: nothing where nothing was mapped, else a
 * record that reaches into the range. */
static int model_any(const struct model *m, uint64_t va, uint64_t size)
{
	const uint64_t last = va + (size - 1);
	size_t i;

	for (i = 0; i < m->n; i++)
		if (m->l[i].va <= last && m->l[i].va + (model_lsize(m->l[i].level) - 1) >= va)
			return 1;
	return 0;
}

static int check_flush_sparse(struct fz *z, unsigned ti, int had, uint64_t va, uint64_t size)
{
	struct npt_flush f;

	npt_last_flush(z->t[ti], &f);
	if (!had)
		return f.kind == NPT_FLUSH_NONE
			       ? 0
			       : diverge(z, "a sparse call over nothing mapped recorded a flush");
	if (f.kind == NPT_FLUSH_ALL)
		return 0;
	if (f.kind != NPT_FLUSH_RANGE || f.va > va + (size - 1) || f.va + (f.size - 1) < va)
		return diverge(z, "sparse flush record kind %u [0x%llx +0x%llx) misses [0x%llx +0x%llx)",
			       f.kind, (unsigned long long)f.va, (unsigned long long)f.size,
			       (unsigned long long)va, (unsigned long long)size);
	return 0;
}

static int op_unmap_region(struct fz *z, struct rd *r, unsigned ti)
{
	struct call_state cs;
	uint64_t va, size;
	unsigned set;
	const int sparse = u8(r) % 4 == 0;
	unsigned (*const predict)(struct model *, uint64_t, uint64_t, int) =
		sparse ? model_unmap_sparse : model_unmap_region;
	int rc, all = 0, pieces = 0, had;

	if (!gen_mapped(z, r, ti, &va, &size)) {
		va = gen_va(z, r);
		size = gen_size(z, r, va);
	}
	snprintf(z->desc, sizeof(z->desc), "npt_unmap_%s(t%u, va 0x%llx, size 0x%llx)",
		 sparse ? "sparse" : "region", ti, (unsigned long long)va,
		 (unsigned long long)size);
	had = model_any(&z->m[ti], va, size);
	set = predict(&z->m[ti], va, size, 0);
	if (!(set & ARG_ERRS) && touches_shared(z, ti, va, size, &all)) {
		if (!all) {
			set = shared_set(set);
		} else {
			/* whole shared slots are dropped; the rest must be mapped */
			uint64_t cur = va, last = va + (size - 1), ps = 0;
			int open = 0;

			set = 0;
			pieces = 1;
			for (;;) {
				unsigned s = slot_of(z, cur);
				uint64_t sl = slot_va(z, s) + (z->root_esize - 1);

				if (z->owner[ti][s] >= 0) {
					had = 1;
					if (open)
						set |= predict(&z->m[ti], ps, cur - ps, 0);
					open = 0;
				} else if (!open) {
					open = 1;
					ps = cur;
				}
				if (sl >= last)
					break;
				cur = sl + 1;
			}
			if (open)
				set |= predict(&z->m[ti], ps, last - ps + 1, 0);
			if (!set)
				set = MODEL_OK;
			else if (set != MODEL_OK)
				set &= ~MODEL_OK;
		}
	}
	before_call(z, &cs);
	rc = sparse ? npt_unmap_sparse(z->t[ti], va, size) : npt_unmap_region(z->t[ti], va, size);
	rc = after_call(z, &cs, set, rc);
	if (rc < 0)
		return -1;
	if (rc == 1) {
		if (!pieces) {
			predict(&z->m[ti], va, size, 1);
		} else {
			uint64_t cur = va, last = va + (size - 1);

			for (;;) {
				unsigned s = slot_of(z, cur);
				uint64_t sb = slot_va(z, s), sl = sb + (z->root_esize - 1);
				uint64_t a = sb > va ? sb : va, e = sl < last ? sl : last;

				if (z->owner[ti][s] >= 0)
					share_clear(z, ti, s);
				else
					predict(&z->m[ti], a, e - a + 1, 1);
				if (sl >= last)
					break;
				cur = sl + 1;
			}
		}
		if (sparse ? check_flush_sparse(z, ti, had, va, size) : check_flush(z, ti, 0, va, size))
			return -1;
	}
	return compare_around(z, ti, va, size);
}

static int op_protect(struct fz *z, struct rd *r, unsigned ti)
{
	struct call_state cs;
	uint64_t va, sz;
	unsigned flags, set;
	const struct mleaf *leaf;
	int rc, shared;

	if (!gen_mapped(z, r, ti, &va, &sz))
		va = gen_va(z, r);
	flags = gen_flags(z, r);
	shared = in_shared_slot(z, ti, va);

	snprintf(z->desc, sizeof(z->desc), "npt_protect(t%u, va 0x%llx, 0x%x)", ti,
		 (unsigned long long)va, flags);
	set = shared ? shared_single(z, ti, va, 0, &leaf) : model_protect(&z->m[ti], va, flags, 0);
	before_call(z, &cs);
	rc = npt_protect(z->t[ti], va, flags);
	rc = after_call(z, &cs, set, rc);
	if (rc < 0)
		return -1;
	if (rc == 1)
		model_protect(&z->m[ti], va, flags, 1);
	return compare_around(z, ti, va & ~(PG - 1), PG);
}

static int op_protect_region(struct fz *z, struct rd *r, unsigned ti)
{
	struct call_state cs;
	uint64_t va, size, lo = 0, last = 0;
	unsigned flags, set;
	const int sparse = u8(r) % 4 == 0;
	unsigned (*const predict)(struct model *, uint64_t, uint64_t, unsigned, int, int *,
				  uint64_t *, uint64_t *) =
		sparse ? model_protect_sparse : model_protect_region;
	int rc, all, resync = 0;

	if (!gen_mapped(z, r, ti, &va, &size)) {
		va = gen_va(z, r);
		size = gen_size(z, r, va);
	}
	flags = gen_flags(z, r);

	snprintf(z->desc, sizeof(z->desc), "npt_protect_%s(t%u, va 0x%llx, size 0x%llx, 0x%x)",
		 sparse ? "sparse" : "region", ti, (unsigned long long)va,
		 (unsigned long long)size, flags);
	set = predict(&z->m[ti], va, size, flags, 0, NULL, NULL, NULL);
	if (!(set & ARG_ERRS) && touches_shared(z, ti, va, size, &all))
		set = shared_set(set);
	before_call(z, &cs);
	rc = sparse ? npt_protect_sparse(z->t[ti], va, size, flags)
		    : npt_protect_region(z->t[ti], va, size, flags);
	rc = after_call(z, &cs, set, rc);
	if (rc < 0)
		return -1;
	if (rc == 1) {
		predict(&z->m[ti], va, size, flags, 1, &resync, &lo, &last);
		if (resync && adopt_table(z, ti, lo, last, "protect_region"))
			return -1;
	}
	return compare_around(z, ti, va, size);
}

static int op_remap(struct fz *z, struct rd *r, unsigned ti)
{
	struct call_state cs;
	uint64_t va, sz, pa;
	unsigned flags, set;
	const struct mleaf *leaf;
	int rc, shared;

	if (!gen_mapped(z, r, ti, &va, &sz))
		va = gen_va(z, r);
	pa = gen_pa(z, r, va);
	flags = gen_flags(z, r);
	shared = in_shared_slot(z, ti, va);

	snprintf(z->desc, sizeof(z->desc), "npt_remap(t%u, va 0x%llx, pa 0x%llx, 0x%x)", ti,
		 (unsigned long long)va, (unsigned long long)pa, flags);
	set = shared ? shared_single(z, ti, va, 0, &leaf) : model_remap(&z->m[ti], va, pa, flags, 0);
	if (shared && set == MODEL_OK)
		set = MODEL_BIT(NPT_ERR_SHARED);
	before_call(z, &cs);
	rc = npt_remap(z->t[ti], va, pa, flags);
	rc = after_call(z, &cs, set, rc);
	if (rc < 0)
		return -1;
	if (rc == 1) {
		const struct mleaf *l = model_find(&z->m[ti], va);
		uint64_t s = l ? model_lsize(l->level) : PG;

		model_remap(&z->m[ti], va, pa, flags, 1);
		if (check_flush(z, ti, 0, va, s))
			return -1;
	}
	return compare_around(z, ti, va & ~(PG - 1), PG);
}

static int op_copy_from(struct fz *z, struct rd *r, unsigned ti)
{
	struct call_state cs;
	unsigned b = u8(r), si = (ti + 1 + b % (NT - 1)) % NT, set, nslots = z->t[ti]->root_entries;
	unsigned k = u8(r) % 8, s;
	uint64_t va, size, last;
	int rc;

	if (b & 0x80)
		si = ti; /* copy from itself: INVAL */
	/* slot 0, 1, the last of the low half, the first of the high half, the
	 * last; or any */
	switch (k) {
	case 0: s = 0; break;
	case 1: s = 1 % nslots; break;
	case 2: s = z->info.canonical ? nslots / 2 - 1 : nslots - 1; break;
	case 3: s = z->info.canonical ? nslots / 2 : nslots - 2; break;
	case 4: s = nslots - 1; break;
	case 5:
	case 6: /* a slot where the source maps something */
		s = z->m[si].n ? slot_of(z, z->m[si].l[(u8(r) | u8(r) << 8) % z->m[si].n].va) : 0;
		break;
	default: s = slot_of(z, z->nhist ? z->hist[u8(r) % (z->nhist < 8 ? z->nhist : 8)] : 0);
	}
	va = slot_va(z, s);
	size = z->root_esize * (1 + (b >> 3) % 2);
	if ((b & 0x60) == 0x60)
		size += PG;
	if ((b & 0x60) == 0x40)
		va += (b & 1) ? PG : lsz(1);
	snprintf(z->desc, sizeof(z->desc), "npt_copy_from(t%u, t%u, va 0x%llx, size 0x%llx)", ti, si,
		 (unsigned long long)va, (unsigned long long)size);
	/* the engine's checks, in its order */
	if (si == ti) {
		set = MODEL_BIT(NPT_ERR_INVAL);
	} else if ((set = input_errs(z, va, size)) != 0) {
	} else if (((va & z->ia_mask) | size) & (z->root_esize - 1)) {
		set = MODEL_BIT(NPT_ERR_ALIGN);
	} else {
		unsigned i, lo = slot_of(z, va), hi = slot_of(z, va + (size - 1));

		set = MODEL_OK;
		for (i = lo; i <= hi; i++) {
			uint64_t sb = slot_va(z, i);
			size_t j = mfirst(&z->m[ti], sb);

			/* present in t and not shared: t's own model maps something
			 * there, or t lent the slot once and keeps its table (which
			 * may be empty now: read from the table, the one thing the
			 * model cannot tell) */
			if (z->owner[ti][i] < 0 &&
			    ((j < z->m[ti].n && z->m[ti].l[j].va <= sb + (z->root_esize - 1)) ||
			     (z->exported[ti][i] && npt_pte_present(z->fmt, z->t[ti]->root[i]))))
				set = MODEL_BIT(NPT_ERR_ALREADY_MAPPED);
		}
	}
	before_call(z, &cs);
	rc = npt_copy_from(z->t[ti], z->t[si], va, size);
	rc = after_call(z, &cs, set, rc);
	if (rc < 0)
		return -1;
	if (rc == 1) {
		unsigned i, lo = slot_of(z, va), hi = slot_of(z, va + (size - 1));

		for (i = lo; i <= hi; i++) {
			share_clear(z, ti, i);
			if (!npt_pte_present(z->fmt, z->t[si]->root[i]))
				continue;
			if (!npt_pte_leaf(z->fmt, z->root_level, z->t[si]->root[i]))
				z->exported[si][i] = 1;
			z->owner[ti][i] = (signed char)(z->owner[si][i] >= 0 ? z->owner[si][i] : (int)si);
			z->spte[ti][i] = z->t[si]->root[i];
			z->nshares++;
			z->st->shares++;
			if (z->owner[ti][i] == (int)ti)
				return diverge(z, "table %u would share its own entry", ti);
		}
	}
	last = va + (size - 1);
	if (!input_errs(z, va, size) && last - va < 4 * z->root_esize) {
		/* the copied slots: compare at their edges (they may be big) */
		if (compare_around(z, ti, va, PG) || compare_around(z, ti, last - (PG - 1), PG))
			return -1;
	}
	return 0;
}

static int op_query(struct fz *z, struct rd *r, unsigned ti)
{
	uint64_t va = gen_va(z, r) + (u8(r) & 0x3f) * 64, pa = 0, ps = 0, epa = 0, eps = 0;
	unsigned flags = 0, eflags = 0, set;
	const struct model *m = &z->m[ti];
	char sbuf[128];
	int rc;

	snprintf(z->desc, sizeof(z->desc), "npt_query(t%u, va 0x%llx)", ti, (unsigned long long)va);
	if (in_shared_slot(z, ti, va & ~(PG - 1)))
		m = &z->m[z->owner[ti][slot_of(z, va)]];
	set = model_query(m, va, &epa, &eflags, &eps);
	rc = npt_query(z->t[ti], va, &pa, &flags, &ps);
	if (!model_set_has(set, rc))
		return diverge(z, "expected %s, got %d", model_set_str(set, sbuf, sizeof(sbuf)), rc);
	if (rc == 0 && (pa != epa || flags != eflags || ps != eps))
		return diverge(z, "pa 0x%llx flags 0x%x size 0x%llx, model pa 0x%llx flags 0x%x size "
			       "0x%llx", (unsigned long long)pa, flags, (unsigned long long)ps,
			       (unsigned long long)epa, eflags, (unsigned long long)eps);
	return 0;
}

/* NPT_WALK_RUNS against the leaves of the same range: each run is the
 * longest stretch of them that the rules merge (npt.h), in order. */
struct runchk {
	const struct vlist *l;
	size_t i;
	int bad;
};

static int mergeable(const struct view_leaf *a, const struct view_leaf *b)
{
	return a->level == b->level && a->flags == b->flags && !a->shared == !b->shared &&
	       a->va + lsz(a->level) == b->va && a->pa + lsz(a->level) == b->pa;
}

static int run_visit(const struct npt_visit *v, void *arg)
{
	struct runchk *c = arg;
	const struct view_leaf *l = c->l->l;
	uint64_t got = 0;
	size_t i = c->i;

	if (i >= c->l->n || v->kind != NPT_WALK_RUNS || l[i].va != v->va || l[i].pa != v->pa ||
	    l[i].level != v->level || l[i].flags != v->flags || !l[i].shared != !v->shared) {
		c->bad = 1;
		return 1;
	}
	for (;;) {
		got += lsz(l[i].level);
		if (i + 1 >= c->l->n || !mergeable(&l[i], &l[i + 1]))
			break;
		i++;
	}
	c->i = i + 1;
	if (got != v->size)
		c->bad = 1;
	return c->bad;
}

static int check_runs(struct fz *z, unsigned ti, uint64_t a, uint64_t last)
{
	struct runchk c = { &z->b, 0, 0 };
	int rc = npt_walk(z->t[ti], a, last - a + 1, NPT_WALK_RUNS, run_visit, &c);

	if (rc && !c.bad)
		return diverge(z, "npt_walk runs = %d", rc);
	if (c.bad || c.i != z->b.n)
		return diverge(z, "npt_walk runs: not the merge of the %zu leaves (at %zu)", z->b.n,
			       c.i);
	return 0;
}

static int op_walk(struct fz *z, struct rd *r, unsigned ti)
{
	uint64_t va = gen_va(z, r), size = gen_size(z, r, va);
	unsigned which = (u8(r) % 16) ? NPT_WALK_LEAF : 0x10;
	unsigned set = which & ~7u ? MODEL_BIT(NPT_ERR_INVAL) : input_errs(z, va, size);
	char sbuf[128];
	int rc;

	snprintf(z->desc, sizeof(z->desc), "npt_walk(t%u, va 0x%llx, size 0x%llx, 0x%x)", ti,
		 (unsigned long long)va, (unsigned long long)size, which);
	if (!set) {
		uint64_t last = va + (size - 1);

		/* bounded: a walk of a whole half is the full check's job */
		if (last - va > 64 * lsz(1))
			last = va + 64 * lsz(1) - 1;
		return compare_range(z, ti, va, last, "npt_walk") || check_runs(z, ti, va, last);
	}
	z->b.n = 0;
	rc = npt_walk(z->t[ti], va, size, which, walk_visit, &z->b);
	if (!model_set_has(set, rc) || z->b.n)
		return diverge(z, "expected %s, got %d with %zu visits",
			       model_set_str(set, sbuf, sizeof(sbuf)), rc, z->b.n);
	return 0;
}

static int new_table(struct fz *z, unsigned ti)
{
	int err = 0;
	long fa = z->mm.fail_after;
	unsigned fp = z->mm.fail_percent;

	/* npt_new's own failure paths are test_inject's: here it must work */
	z->mm.fail_after = -1;
	z->mm.fail_percent = 0;
	z->t[ti] = npt_new(z->fmt, &z->mm.mm, &err);
	z->mm.fail_after = fa;
	z->mm.fail_percent = fp;
	if (!z->t[ti])
		return diverge(z, "npt_new = %d", err);
	model_init(&z->m[ti], &z->cfg);
	memset(z->owner[ti], -1, NPT_ROOT_MAX_ENTRIES);
	memset(z->exported[ti], 0, NPT_ROOT_MAX_ENTRIES);
	return 0;
}

static int op_renew(struct fz *z, unsigned ti)
{
	unsigned s;

	snprintf(z->desc, sizeof(z->desc), "npt_free(t%u) + npt_new", ti);
	if (drop_stale(z, (int)ti, 1))
		return -1;
	for (s = 0; s < z->t[ti]->root_entries; s++)
		share_clear(z, ti, s);
	npt_free(z->t[ti]);
	z->t[ti] = NULL;
	model_free(&z->m[ti]);
	return new_table(z, ti);
}

static int one_op(struct fz *z, struct rd *r)
{
	static const unsigned char weights[FZ_NOPS] = { 13, 14, 7, 14, 7, 12, 6, 6, 8, 4, 1, 4, 4 };
	unsigned b = u8(r), ti, k, acc = 0, pick = (b | u8(r) << 8) % 100;
	int rc = 0;

	for (k = 0; k < FZ_NOPS; k++) {
		acc += weights[k];
		if (pick < acc)
			break;
	}
	if (k >= FZ_NOPS)
		k = FZ_MAP_REGION;
	ti = (b & 3) == 3 ? 1 + (b >> 2) % 2 : 0;
	if (k == FZ_COPY_FROM)
		ti = (b >> 2) % NT;
	z->st->ops++;
	z->st->by_op[k]++;
	z->cur_op = k;
	z->desc[0] = 0;
	switch (k) {
	case FZ_MAP: rc = op_map(z, r, ti); break;
	case FZ_MAP_REGION: rc = op_map_region(z, r, ti); break;
	case FZ_UNMAP: rc = op_unmap(z, r, ti); break;
	case FZ_UNMAP_REGION: rc = op_unmap_region(z, r, ti); break;
	case FZ_PROTECT: rc = op_protect(z, r, ti); break;
	case FZ_PROTECT_REGION: rc = op_protect_region(z, r, ti); break;
	case FZ_REMAP: rc = op_remap(z, r, ti); break;
	case FZ_COPY_FROM: rc = op_copy_from(z, r, ti); break;
	case FZ_QUERY: rc = op_query(z, r, ti); break;
	case FZ_WALK: rc = op_walk(z, r, ti); break;
	case FZ_RENEW: rc = op_renew(z, ti); break;
	case FZ_MAP_SG: rc = op_map_sg(z, r, ti); break;
	case FZ_ARM_FAIL:
		snprintf(z->desc, sizeof(z->desc), "arm allocation failure");
		testmm_fail_after(&z->mm, (long)(u8(r) % 6));
		break;
	}
	if (z->o->verbose)
		fprintf(stderr, "fz #%lu %s\n", z->opno, z->desc);
	if (rc)
		return -1;
	/* (an armed failure stays armed until an allocation takes it) */
	if (k <= FZ_COPY_FROM) {
		if (drop_stale(z, (int)ti, 0))
			return -1;
	}
	if (z->o->check_every && z->opno % z->o->check_every == 0)
		return full_check(z);
	return 0;
}

static int setup(struct fz *z, struct rd *r)
{
	const char *const *names = npt_format_names();
	unsigned n = 0, s, l, i;
	uint64_t pte;
	unsigned hdr;

	while (names[n])
		n++;
	hdr = u8(r);
	z->fmt = npt_format_by_name(names[hdr % n]);
	if (!z->fmt || npt_format_info(z->fmt, &z->info))
		return diverge(z, "format");
	if (testmm_init(&z->mm, POOL_BASE, POOL_FRAMES))
		return diverge(z, "testmm_init");
	if (u8(r) & 1) { /* every access through phys_to_virt */
		z->mm.mm.flags = 0;
		z->mm.mm.linear_offset = 0;
	}
	if (z->o->fail_percent)
		testmm_fail_rate(&z->mm, z->o->fail_percent, 0x5eed0000u + hdr);
	else if ((u8(r) & 7) == 7)
		testmm_fail_rate(&z->mm, 5, 0x5eed0000u + hdr);

	memset(&z->cfg, 0, sizeof(z->cfg));
	z->cfg.levels = z->info.levels;
	z->cfg.canonical = z->info.canonical;
	z->cfg.va_bits = z->info.va_bits;
	z->cfg.pa_bits = z->info.pa_bits;
	for (l = 0; l < z->info.levels; l++)
		if (z->info.leaf_sizes >> npt_level_shift(l) & 1u) {
			z->cfg.leaf_levels |= 1u << l;
			z->top_leaf = l;
		}
	for (s = 0; s < 256; s++) {
		int ok = 1;

		for (l = 0; l < z->info.levels && ok; l++)
			if ((z->cfg.leaf_levels >> l & 1u) && npt_encode_leaf(z->fmt, l, 0, s, &pte))
				ok = 0;
		z->cfg.encodable[s] = (unsigned char)ok;
		if (ok)
			z->valid[z->nvalid++] = s;
	}
	if (!z->nvalid)
		return diverge(z, "no encodable flags");
	{
		unsigned rw = NPT_R | NPT_W | (z->info.flags & NPT_X), ro = NPT_R, got;

		if (npt_encode_leaf(z->fmt, 0, 0, rw, &pte) ||
		    npt_decode(z->fmt, 0, pte, NULL, &got, NULL))
			return diverge(z, "rw flags");
		z->cfg.extra_rw = got & ~rw;
		if (npt_encode_leaf(z->fmt, 0, 0, ro, &pte) ||
		    npt_decode(z->fmt, 0, pte, NULL, &got, NULL))
			return diverge(z, "ro flags");
		z->cfg.extra_ro = got & ~ro;
	}
	z->root_level = z->info.levels - 1;
	z->root_shift = npt_level_shift(z->root_level);
	z->root_esize = 1ull << z->root_shift;
	z->ia_mask = (1ull << z->info.va_bits) - 1;
	if (z->info.canonical) {
		z->nhalves = 2;
		z->halves[0][0] = 0;
		z->halves[0][1] = (1ull << (z->info.va_bits - 1)) - 1;
		z->halves[1][0] = 0 - (1ull << (z->info.va_bits - 1));
		z->halves[1][1] = ~0ull;
	} else {
		z->nhalves = 1;
		z->halves[0][0] = 0;
		z->halves[0][1] = z->ia_mask;
	}
	for (i = 0; i < NT; i++) {
		z->owner[i] = malloc(NPT_ROOT_MAX_ENTRIES);
		z->spte[i] = calloc(NPT_ROOT_MAX_ENTRIES, sizeof(uint64_t));
		z->exported[i] = calloc(NPT_ROOT_MAX_ENTRIES, 1);
		if (!z->owner[i] || !z->spte[i] || !z->exported[i])
			abort();
		if (new_table(z, i))
			return -1;
	}
	return 0;
}

static void teardown(struct fz *z)
{
	unsigned i;

	/* free sharers before owners is not needed: npt_free never reads shares */
	for (i = 0; i < NT; i++) {
		if (z->t[i])
			npt_free(z->t[i]);
		if (z->owner[i])
			model_free(&z->m[i]);
		free(z->owner[i]);
		free(z->spte[i]);
		free(z->exported[i]);
	}
	free(z->a.l);
	free(z->b.l);
	if (z->mm.pool)
		testmm_destroy(&z->mm);
}

int fz_run(const uint8_t *data, size_t size, const struct fz_opts *o, struct fz_stats *st,
	   char *msg, size_t len)
{
	static struct fz_stats dummy;
	struct rd r = { data, size, 0 };
	struct fz *z = calloc(1, sizeof(*z));
	int rc = 0;

	if (!z)
		abort();
	z->o = o;
	z->st = st ? st : &dummy;
	z->msg = msg;
	z->len = len;
	if (msg && len)
		msg[0] = 0;
	if (setup(z, &r) == 0) {
		while (r.i < r.n && (!o->max_ops || z->opno < o->max_ops)) {
			z->opno++;
			if (one_op(z, &r)) {
				rc = -1;
				break;
			}
		}
		if (!rc) {
			z->desc[0] = 0;
			snprintf(z->desc, sizeof(z->desc), "(end of sequence)");
			testmm_fail_after(&z->mm, -1);
			if (full_check(z))
				rc = -1;
		}
		if (!rc) {
			/* teardown leaks nothing */
			unsigned i;

			for (i = 0; i < NT; i++) {
				npt_free(z->t[i]);
				z->t[i] = NULL;
			}
			if (testmm_live(&z->mm))
				rc = diverge(z, "npt_free of every table left %zu frames",
					     testmm_live(&z->mm));
		}
	} else {
		rc = -1;
	}
	teardown(z);
	free(z);
	return rc;
}

void fz_bytes(uint64_t seed, uint8_t *out, size_t n)
{
	uint64_t x = seed;
	size_t i;

	for (i = 0; i < n; i += 8) {
		uint64_t v = (x += 0x9e3779b97f4a7c15ull);
		unsigned k;

		v = (v ^ (v >> 30)) * 0xbf58476d1ce4e5b9ull;
		v = (v ^ (v >> 27)) * 0x94d049bb133111ebull;
		v ^= v >> 31;
		for (k = 0; k < 8 && i + k < n; k++)
			out[i + k] = (uint8_t)(v >> (8 * k));
	}
}
