/*
 * The image walker of `npt dump` (image.h). Entries are read with
 * npt_decode, so a dump shows what npt's own decode makes of each entry;
 * `npt translate` asks the hardware's model (npt_translate_raw) instead.
 */
#include <stdio.h>
#include <string.h>

#include "image.h"

const uint64_t *image_at(const struct npt_image *im, uint64_t pa)
{
	if (pa < im->base || pa - im->base > im->size || im->size - (pa - im->base) < 8 || (pa & 7))
		return NULL;
	return (const uint64_t *)(const void *)(im->mem + (pa - im->base));
}

static void *image_virt(void *ctx, uint64_t pa)
{
	const struct npt_image *im = ctx;

	if (pa < im->base || pa - im->base >= im->size || im->size - (pa - im->base) < 4096)
		return NULL;
	return (void *)(uintptr_t)(im->mem + (pa - im->base));
}

void image_mm(const struct npt_image *im, struct npt_mm *mm)
{
	memset(mm, 0, sizeof(*mm));
	mm->ctx = (void *)(uintptr_t)im;
	mm->phys_to_virt = image_virt;
}

struct dump {
	const struct npt_image *im;
	const struct npt_format *f;
	struct npt_format_info fi;
	uint64_t path[8];     /* the tables on the way down, root first */
	unsigned long budget, left; /* entries the walk may visit, and still may */
	struct npt_visit run; /* the run being gathered (size 0: none) */
	int (*line)(void *arg, const char *text);
	void *arg;
	char *err;
	size_t errlen;
};

static int flush_run(struct dump *d)
{
	char text[NPT_DUMP_LINE];

	if (!d->run.size)
		return 0;
	npt_dump_line(&d->run, text, sizeof(text));
	d->run.size = 0;
	return d->line(d->arg, text);
}

/* One leaf: it extends the run when npt_walk's NPT_WALK_RUNS would. */
static int leaf(struct dump *d, unsigned level, uint64_t va, uint64_t pa, uint64_t pte,
		unsigned flags)
{
	const uint64_t size = 1ull << (12 + 9 * level);
	struct npt_visit *r = &d->run;
	int rc;

	if (r->size && r->level == level && r->flags == flags && r->va + r->size == va &&
	    r->pa + r->size == pa) {
		r->size += size;
		return 0;
	}
	rc = flush_run(d);
	if (rc)
		return rc;
	*r = (struct npt_visit){ NPT_WALK_RUNS, level, va, size, pte, pa, flags, 0 };
	return 0;
}

static uint64_t sign_extend(const struct dump *d, uint64_t ia)
{
	const unsigned s = 64 - d->fi.va_bits;

	return d->fi.canonical ? (uint64_t)((int64_t)(ia << s) >> s) : ia;
}

static int walk(struct dump *d, unsigned level, uint64_t table, uint64_t ia)
{
	const unsigned root = d->fi.levels - 1;
	const unsigned n = level == root ? d->fi.root_entries : 512;
	unsigned i, k;

	d->path[root - level] = table;
	for (i = 0; i < n; i++) {
		const uint64_t epa = table + 8ull * i;
		const uint64_t *e = image_at(d->im, epa);
		const uint64_t eia = ia | (uint64_t)i << (12 + 9 * level);
		uint64_t pa;
		unsigned flags;
		int is_leaf, rc;

		if (!e) {
			snprintf(d->err, d->errlen, "level %u table at %#llx reaches outside the image",
				 level, (unsigned long long)table);
			return -1;
		}
		if (!d->left--) {
			snprintf(d->err, d->errlen,
				 "more than %lu entries: tables shared over and over", d->budget);
			return -1;
		}
		if (npt_decode(d->f, level, *e, &pa, &flags, &is_leaf))
			continue;
		if (is_leaf) {
			rc = leaf(d, level, sign_extend(d, eia), pa, *e, flags);
		} else {
			for (k = 0; k <= root - level; k++)
				if (d->path[k] == pa) {
					snprintf(d->err, d->errlen,
						 "loop: the level %u entry at %#llx (%#llx) points to the level %u table at %#llx on its own path",
						 level, (unsigned long long)epa, (unsigned long long)*e,
						 root - k, (unsigned long long)pa);
					return -1;
				}
			if (!image_at(d->im, pa) || !image_at(d->im, pa + 4088)) {
				snprintf(d->err, d->errlen,
					 "the level %u entry at %#llx (%#llx) points to a table at %#llx, outside the image",
					 level, (unsigned long long)epa, (unsigned long long)*e,
					 (unsigned long long)pa);
				return -1;
			}
			rc = walk(d, level - 1, pa, eia);
		}
		if (rc)
			return rc;
	}
	return 0;
}

int image_dump(const struct npt_image *im, const struct npt_format *f, uint64_t root,
	       unsigned long budget, int (*line)(void *arg, const char *text), void *arg,
	       char *err, size_t errlen)
{
	struct dump d;
	int rc;

	memset(&d, 0, sizeof(d));
	if (npt_format_info(f, &d.fi)) {
		snprintf(err, errlen, "no such format");
		return -1;
	}
	if ((root & 4095) || !image_at(im, root) ||
	    !image_at(im, root + 8ull * d.fi.root_entries - 8)) {
		snprintf(err, errlen,
			 "the root at %#llx (%u bytes) is not inside the image [%#llx, %#llx)",
			 (unsigned long long)root, 8 * d.fi.root_entries,
			 (unsigned long long)im->base, (unsigned long long)(im->base + im->size));
		return -1;
	}
	d.im = im;
	d.f = f;
	d.budget = d.left = budget;
	d.line = line;
	d.arg = arg;
	d.err = err;
	d.errlen = errlen;
	rc = walk(&d, d.fi.levels - 1, root, 0);
	return rc ? rc : flush_run(&d);
}
