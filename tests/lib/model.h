/*
 * model — a reference model of one npt table for the random test: a sorted
 * array of leaves (va, pa, level, flags), built from npt.h alone.
 *
 * Every changing npt call has a twin that predicts its result and, when
 * asked to, applies it. A prediction is a set of acceptable results
 * (MODEL_BIT(rc)): usually exactly one; several only where npt.h does not
 * order the errors of a call that has more than one thing wrong, or
 * (npt_map inside a larger leaf) names two fitting codes. The model's rules:
 *
 *  - argument errors: NPT_ERR_ALIGN (va/pa/size not 4 KiB aligned; for
 *    npt_map not aligned to page_size), NPT_ERR_RANGE (size 0, outside the
 *    input width or canonical half, wrapping, output beyond pa_bits),
 *    NPT_ERR_FLAGS (not encodable), and for npt_map a page_size that is no
 *    leaf size (ALIGN, INVAL or UNSUPPORTED);
 *  - state errors: NPT_ERR_ALREADY_MAPPED (a map over any mapped page;
 *    HUGE accepted too for npt_map inside a larger leaf), NPT_ERR_NOT_MAPPED
 *    (a single-entry call on an unmapped page, a region call with any page
 *    unmapped), NPT_ERR_HUGE (a single-entry call inside a huge leaf, not at
 *    its base); for npt_remap then pa aligned to / fitting the leaf;
 *  - map_region writes the greedy decomposition: the largest allowed leaf
 *    whose size both va and pa are aligned to and that fits; with
 *    NPT_MAP_REPLACE, after taking out what was there as unmap_sparse does;
 *  - unmap_region / protect_region split a leaf only partly covered, one
 *    level at a time where needed, so the parts that stay (and a re-protected
 *    part) are the greedy decomposition of that part below the leaf's level;
 *    protect_region with the leaf's own flags on a partly covered leaf may or
 *    may not split (npt.h leaves it open): the model reports the range to
 *    resynchronise from the table (model_adopt) after checking it;
 *  - flags are stored as the table reports them: the flags of the call plus
 *    the A/D bits the format adds on a fresh map (cfg.extra_*).
 */
#ifndef NPT_TESTS_MODEL_H
#define NPT_TESTS_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "npt.h"

#define MODEL_BIT(rc) (1u << (unsigned)(-(rc)))
#define MODEL_OK MODEL_BIT(NPT_OK)

struct model_cfg {
	unsigned levels;
	unsigned leaf_levels;       /* bit L: leaves at level L */
	int canonical;
	unsigned va_bits, pa_bits;
	unsigned char encodable[256]; /* flag set encodable at every leaf level */
	unsigned extra_rw, extra_ro;  /* bits a fresh map adds (with / without NPT_W) */
};

struct mleaf {
	uint64_t va, pa;
	unsigned level;
	unsigned flags; /* as reported by the table */
};

struct model {
	struct model_cfg cfg;
	struct mleaf *l;
	size_t n, cap;
	/* scratch for splices */
	struct mleaf *tmp;
	size_t tcap;
};

void model_init(struct model *m, const struct model_cfg *cfg);
void model_free(struct model *m);
unsigned model_norm(const struct model *m, unsigned flags);
const char *model_set_str(unsigned set, char *buf, size_t len); /* "ALREADY_MAPPED|HUGE" */

static inline uint64_t model_lsize(unsigned level)
{
	return 1ull << (12 + 9 * level);
}

/* Predictions; with apply, a call predicted to succeed is also applied. */
unsigned model_map(struct model *m, uint64_t va, uint64_t pa, uint64_t page_size,
		   unsigned flags, int apply);
unsigned model_map_region(struct model *m, uint64_t va, uint64_t pa, uint64_t size,
			  unsigned flags, unsigned opts, int apply);
/* out_pa / out_size: the leaf npt_unmap must report */
unsigned model_unmap(struct model *m, uint64_t va, uint64_t *out_pa, uint64_t *out_size,
		     int apply);
unsigned model_unmap_region(struct model *m, uint64_t va, uint64_t size, int apply);
unsigned model_protect(struct model *m, uint64_t va, unsigned flags, int apply);
/* *resync: set when the engine may or may not have split; [*lo, *last] is
 * the range to take over from the table (see model_adopt). */
unsigned model_protect_region(struct model *m, uint64_t va, uint64_t size, unsigned flags,
			      int apply, int *resync, uint64_t *lo, uint64_t *last);
/* npt_unmap_sparse / npt_protect_sparse: as the region forms, holes skipped. */
unsigned model_unmap_sparse(struct model *m, uint64_t va, uint64_t size, int apply);
unsigned model_protect_sparse(struct model *m, uint64_t va, uint64_t size, unsigned flags,
			      int apply, int *resync, uint64_t *lo, uint64_t *last);
unsigned model_remap(struct model *m, uint64_t va, uint64_t pa, unsigned flags, int apply);
unsigned model_query(const struct model *m, uint64_t va, uint64_t *pa, unsigned *flags,
		     uint64_t *page_size);

/* npt_map_sg's list as map_regions: the run of pieces from sg[i] on whose
 * output follows on; returns the index after it, its size in *len. */
static inline size_t model_sg_run(const struct npt_sg *sg, size_t n, size_t i, uint64_t *len)
{
	size_t j;

	*len = sg[i].size;
	for (j = i + 1; j < n && sg[j].pa == sg[i].pa + *len; j++)
		*len += sg[j].size;
	return j;
}

/* The leaf containing va, or NULL. */
const struct mleaf *model_find(const struct model *m, uint64_t va);

/* Replaces the model's leaves inside [lo, last] by l[0..n) (which must lie
 * inside it), after checking both translate every page the same way.
 * Returns 0, or -1 with the first difference in msg. */
int model_adopt(struct model *m, uint64_t lo, uint64_t last, const struct mleaf *l, size_t n,
		char *msg, size_t len);

#endif
