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
extern const struct npt_format npt_fmt_npt5;

/* arch/ept.c: Intel EPT (Intel SDM vol. 3C §29.3). */
extern const struct npt_format npt_fmt_ept;
extern const struct npt_format npt_fmt_ept5;

/* Other families: declare their formats here, one block per arch/ file. */

/* arch/aarch64.c: AArch64 VMSAv8-64 stage 1 and stage 2 (Arm ARM D8). */
extern const struct npt_format npt_fmt_aarch64;
extern const struct npt_format npt_fmt_aarch64_s2;
extern const struct npt_format npt_fmt_aarch64_s2_48;

/* arch/riscv.c: RISC-V Sv39/Sv48/Sv57 and the G-stage x4 formats
 * (privileged spec §4.4-4.6, §8.5). */
extern const struct npt_format npt_fmt_sv39;
extern const struct npt_format npt_fmt_sv48;
extern const struct npt_format npt_fmt_sv57;
extern const struct npt_format npt_fmt_sv39x4;
extern const struct npt_format npt_fmt_sv48x4;
extern const struct npt_format npt_fmt_sv57x4;

/* arch/loongarch.c: LoongArch64 (reference manual vol. 1 §5.4, §7.5). */
extern const struct npt_format npt_fmt_loongarch64;

/* A leaf may be encoded at level: the level exists and leaf_levels allows it. */
static inline int npt_arch_leaf_level(const struct npt_format *f, unsigned level)
{
	return level < f->levels && (f->leaf_levels >> level) & 1u;
}

#endif
