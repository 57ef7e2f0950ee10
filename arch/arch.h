/*
 * The formats each arch/ file exports, and small helpers shared by arch/.
 * Internal to npt/ and arch/ (and the format tests); programs find formats
 * with npt_format_by_name().
 */
#ifndef NPT_ARCH_H
#define NPT_ARCH_H

#include "format.h"

/* The entry bits a walk tests -- presence, leaf, address -- of the formats
 * npt/query_fast.c compiles walks for; the arch files build their formats
 * from the same definitions. */
/* Intel SDM vol. 3A Tables 4-14..4-20, AMD APM vol. 2 §5.3.3 / §5.4.1 */
#define NPT_X86_P    (1ull << 0)  /* P: present */
#define NPT_X86_PS   (1ull << 7)  /* PS: page size, leaf at levels 1, 2; PAT in a 4 KiB PTE */
#define NPT_X86_ADDR 0x000ffffffffff000ull /* address bits 51:12 (M-1:12, M <= 52) */
/* Intel SDM vol. 3C §29.3.2, the EPT entry-format tables */
#define NPT_EPT_RWX  0x7ull        /* read, write, execute: present iff any is set */
#define NPT_EPT_LEAF (1ull << 7)   /* maps a page (levels 1, 2); ignored in a 4 KiB PTE */
/* Arm ARM D8.3.1: descriptor type, bits 1:0; output address bits 47:12 */
#define NPT_ARM_VALID      (1ull << 0)
#define NPT_ARM_TABLE_PAGE (1ull << 1) /* 1: table (levels 0-2) / page (level 3); 0: block */
#define NPT_ARM_ADDR       0x0000fffffffff000ull

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

/* A leaf's verdict once w->allow is final: a permission fault when the
 * access needs what it lacks. */
static inline int npt_hw_leaf(const struct npt_hw *w)
{
	return (w->access & (NPT_R | NPT_W | NPT_X) & ~w->allow) ? NPT_ERR_PERM : NPT_HW_LEAF;
}

/* Bits (size - 1):low of a leaf of level: below a huge leaf's address,
 * above its attribute bits. */
static inline uint64_t npt_hw_low_bits(unsigned level, unsigned low)
{
	return ((1ull << npt_level_shift(level)) - 1u) & ~((1ull << low) - 1u);
}

#endif
