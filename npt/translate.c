/*
 * npt_translate_2d: the two-dimensional walk of nested paging, as KVM's
 * paging_tmpl.h walks a guest's tables under nested EPT/NPT: every stage-1
 * entry is read at the host-physical address the stage-2 walk of its
 * guest-physical address gives, and the final guest-physical address goes
 * through stage 2 once more. What an entry means to the hardware --
 * present, table or leaf, reserved bits, rights -- is the format's
 * hw_entry (arch/); this file only steps, records and reports.
 *
 * Stage-1 entries are the guest's: read once each, with a relaxed load
 * (the guest may be writing them), never trusted beyond what hw_entry
 * accepted. Stage-2 entries are npt's own, read like npt_query reads them.
 */
#include "internal.h"

#define NPT_ACCESS_ALL (NPT_R | NPT_W | NPT_X | NPT_U)

static int fault(struct npt_2d *o, int err, unsigned stage, unsigned level, uint64_t addr)
{
	o->fault = err;
	o->fault_stage = stage;
	o->fault_level = level;
	o->fault_addr = addr;
	return err;
}

static void note_ref(struct npt_2d *o, unsigned stage, unsigned level, uint64_t addr)
{
	/* 5 stage-1 levels of 6 references each and a 5-level stage 2 at the
	 * end: 35 at most, NPT_2D_MAX_REFS has room. */
	struct npt_2d_ref *r = &o->refs[o->nrefs++];

	r->stage = stage;
	r->level = level;
	r->addr = addr;
}

static unsigned slot(const struct npt_format *f, unsigned level, uint64_t ia)
{
	const unsigned n = level == f->levels - 1u ? npt_fmt_root_entries(f) : NPT_ENTRIES;

	return (unsigned)(ia >> npt_level_shift(level)) & (n - 1u);
}

/* The output address of a leaf at level for input ia. */
static uint64_t leaf_out(const struct npt_format *f, unsigned level, uint64_t pte, uint64_t ia)
{
	const uint64_t size = npt_level_size(level);

	return (npt_pte_addr(f, pte) & ~(size - 1u)) | (ia & (size - 1u));
}

/* Where the walk reads: npt's own stage-2 table (its mm, acquire loads
 * like npt_query), or raw memory read through mem (a table npt did not
 * build: relaxed loads, every pointer looked up, NULL where mem has none). */
struct walk2d {
	const struct npt_format *f2; /* NULL: one stage */
	uint64_t root2;
	const struct npt_table *t2;  /* npt's own stage 2, or NULL */
	const struct npt_mm *mem;    /* with t2 NULL */
	struct npt_2d *o;
};

static int read64(const struct walk2d *c, uint64_t pa, uint64_t *v)
{
	const uint64_t page = pa & ~(NPT_PAGE_SIZE - 1u);
	const uint64_t *p = c->t2 ? npt_virt(c->t2, page) : c->mem->phys_to_virt(c->mem->ctx, page);

	if (!p)
		return -1;
	p += (pa & (NPT_PAGE_SIZE - 1u)) / 8u;
	*v = c->t2 ? npt_pte_get(p) : __atomic_load_n(p, __ATOMIC_RELAXED);
	return 0;
}

/* Stage 2 of gpa for the access w describes: its references, then the
 * leaf's translation (hpa, size) and w->allow, or the fault, recorded. */
static int stage2(const struct walk2d *c, uint64_t gpa, struct npt_hw *w, uint64_t *hpa,
		  uint64_t *size)
{
	const struct npt_format *f = c->f2;
	unsigned level = f->levels - 1u;
	uint64_t table = c->root2;

	if (gpa >> f->va_bits) {
		w->allow = 0;
		return fault(c->o, NPT_ERR_RANGE, 2, level, gpa);
	}
	for (;;) {
		const uint64_t epa = table + 8u * slot(f, level, gpa);
		uint64_t pte;
		int r;

		note_ref(c->o, 2, level, epa);
		if (read64(c, epa, &pte)) {
			w->allow = 0;
			return fault(c->o, NPT_ERR_UNSUPPORTED, 2, level, gpa);
		}
		r = f->hw_entry(f, level, pte, w);
		if (r == NPT_HW_TABLE && level == 0)
			r = NPT_ERR_NOT_MAPPED;
		if (r == NPT_HW_TABLE) {
			table = npt_pte_addr(f, pte);
			level--;
			continue;
		}
		if (r == NPT_HW_LEAF || r == NPT_ERR_PERM || r == NPT_ERR_ACCESSED) {
			*hpa = leaf_out(f, level, pte, gpa);
			*size = npt_level_size(level);
		} else {
			w->allow = 0; /* no leaf: stage 2 grants nothing */
		}
		return r ? fault(c->o, r, 2, level, gpa) : 0;
	}
}

/* The stage-1 entry at egpa, read as the hardware reads it: through stage
 * 2, as a read (or a user write where the walk may set accessed and dirty
 * flags), from memory that is not device memory; with one stage, straight
 * from memory. */
static int read_entry(const struct walk2d *c, const struct npt_format *s1, unsigned level,
		      uint64_t va, uint64_t egpa, uint64_t *pte)
{
	struct npt_hw w = { NPT_R, 1, NPT_ACCESS_ALL };
	uint64_t hpa = 0, size = 0;
	int r;

	if (!c->f2) {
		note_ref(c->o, 1, level, egpa);
		return read64(c, egpa, pte) ? fault(c->o, NPT_ERR_UNSUPPORTED, 1, level, va) : 0;
	}
	if (s1->accessed_bit && !s1->ad_preset)
		w.access = NPT_R | NPT_W | NPT_U;
	r = stage2(c, egpa, &w, &hpa, &size);
	if (r)
		return r;
	if ((w.allow & NPT_DEVICE) || read64(c, hpa, pte))
		return fault(c->o, NPT_ERR_UNSUPPORTED, 2, c->o->refs[c->o->nrefs - 1].level, egpa);
	note_ref(c->o, 1, level, egpa);
	return 0;
}

/* The input is one the hardware translates: sign-extended from its top
 * bit on a canonical format, zero-extended on a guest-physical one. */
static int input_ok(const struct npt_format *f, uint64_t va)
{
	const unsigned s = 63u - (f->hw_sign_bit ? f->hw_sign_bit : f->va_bits - 1u);

	if (!f->canonical)
		return !(va >> f->va_bits);
	return (uint64_t)((int64_t)(va << s) >> s) == va;
}

static int translate(const struct walk2d *c, const struct npt_format *s1, uint64_t s1_root,
		     uint64_t va, unsigned access)
{
	struct npt_hw w1 = { access, 0, NPT_ACCESS_ALL };
	/* The final access at stage 2: its kind and the privilege it came from. */
	struct npt_hw w2 = { access, 0, NPT_ACCESS_ALL };
	struct npt_2d *out = c->o;
	uint64_t table = s1_root & ~(NPT_PAGE_SIZE - 1u);
	uint64_t pte = 0, hpa = 0, size2 = ~0ull;
	unsigned level = s1->levels - 1u;
	int r;

	if (!input_ok(s1, va))
		return fault(out, NPT_ERR_RANGE, 1, level, va);
	for (;;) {
		r = read_entry(c, s1, level, va, table + 8u * slot(s1, level, va), &pte);
		if (r)
			return r;
		r = s1->hw_entry(s1, level, pte, &w1);
		if (r == NPT_HW_TABLE && level == 0)
			r = NPT_ERR_NOT_MAPPED;
		if (r != NPT_HW_TABLE)
			break;
		table = npt_pte_addr(s1, pte);
		level--;
	}
	if (r == NPT_HW_LEAF || r == NPT_ERR_PERM || r == NPT_ERR_ACCESSED)
		out->flags = w1.allow & (NPT_ACCESS_ALL | NPT_DEVICE) &
			     ~(s1->stage2 ? NPT_U : 0u); /* one stage of a stage-2 format */
	if (r)
		return fault(out, r, 1, level, va);
	out->gpa = leaf_out(s1, level, pte, va);
	if (c->f2) {
		r = stage2(c, out->gpa, &w2, &hpa, &size2);
		out->flags = (w1.allow & w2.allow & (NPT_R | NPT_W | NPT_X)) | (w1.allow & NPT_U) |
			     ((w1.allow | w2.allow) & NPT_DEVICE);
		if (r)
			return r;
	} else {
		hpa = out->gpa;
	}
	out->hpa = hpa;
	out->page_size = npt_level_size(level) < size2 ? npt_level_size(level) : size2;
	return 0;
}

/* Clears what a walk reports; refs[] is written as far as nrefs says
 * (zeroing all 48 would cost more than a short walk). */
static void clear(struct npt_2d *out)
{
	out->gpa = out->hpa = out->page_size = out->fault_addr = 0;
	out->flags = out->fault_stage = out->fault_level = out->nrefs = 0;
	out->fault = 0;
}

static int access_ok(unsigned access)
{
	return !(access & ~NPT_ACCESS_ALL) && (access & (NPT_R | NPT_W | NPT_X));
}

int npt_translate_2d(const struct npt_format *s1, uint64_t s1_root_gpa, const struct npt_table *s2,
		     uint64_t va, unsigned access, struct npt_2d *out)
{
	struct walk2d c;

	if (!out)
		return NPT_ERR_INVAL;
	clear(out);
	if (!s1 || !s2 || s1->stage2 || !s2->fmt->stage2 || s1->family != s2->fmt->family ||
	    !s1->hw_entry || !s2->fmt->hw_entry || !access_ok(access))
		return fault(out, NPT_ERR_INVAL, 0, 0, 0);
	c = (struct walk2d){ s2->fmt, s2->root_pa, s2, NULL, out };
	return translate(&c, s1, s1_root_gpa, va, access);
}

int npt_translate_raw(const struct npt_format *s1, uint64_t s1_root, const struct npt_format *s2,
		      uint64_t s2_root, const struct npt_mm *mem, uint64_t va, unsigned access,
		      struct npt_2d *out)
{
	struct walk2d c;

	if (!out)
		return NPT_ERR_INVAL;
	clear(out);
	if (!s1 || !s1->hw_entry || !mem || !mem->phys_to_virt || !access_ok(access) ||
	    (s2 && (s1->stage2 || !s2->stage2 || s1->family != s2->family || !s2->hw_entry)))
		return fault(out, NPT_ERR_INVAL, 0, 0, 0);
	c = (struct walk2d){ s2, s2_root & ~(NPT_PAGE_SIZE - 1u), NULL, mem, out };
	return translate(&c, s1, s1_root, va, access);
}
