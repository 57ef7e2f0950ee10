/*
 * The formats each arch/ file exports, and small helpers shared by arch/.
 * Internal to npt/ and arch/ (and the format tests); programs find formats
 * with npt_format_by_name().
 */
#ifndef NPT_ARCH_H
#define NPT_ARCH_H

#include "format.h"

/* arch/x86.c: x86-64 stage 1 (Intel SDM vol. 3A §4.5) and AMD nested paging
 * (AMD APM vol. 2 §15.25). */
extern const struct npt_format npt_fmt_x86_64;
extern const struct npt_format npt_fmt_x86_64_la57;
extern const struct npt_format npt_fmt_npt;

/* arch/ept.c: Intel EPT (Intel SDM vol. 3C §29.3). */
extern const struct npt_format npt_fmt_ept;
extern const struct npt_format npt_fmt_ept5;

/* Other families: declare their formats here, one block per arch/ file. */

/* A leaf may be encoded at level: the level exists and leaf_levels allows it. */
static inline int npt_arch_leaf_level(const struct npt_format *f, unsigned level)
{
	return level < f->levels && (f->leaf_levels >> level) & 1u;
}

#endif
