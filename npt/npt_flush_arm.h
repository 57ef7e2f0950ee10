/*
 * npt_flush_arm.h -- kernel / hypervisor helpers that turn a struct
 * npt_flush (npt.h) into AArch64 TLB maintenance, the way Linux's
 * __flush_tlb_range and __kvm_tlb_flush_vmid_ipa do it. Optional, for code
 * at EL1 (stage 1) or EL2 (stage 2); user-space programs never include it.
 * Everything is static inline; nothing here is in libnpt.
 *
 * References (Arm ARM, DDI 0487): D8.16 "Translation Lookaside Buffers"
 * and D8.16.4 "TLB maintenance" (the TTL hint of FEAT_TTL), C5.5 "A64
 * System instructions for TLB maintenance" (TLBI VAE1IS, VALE1IS, IPAS2E1IS,
 * IPAS2LE1IS, VMALLE1IS, VMALLS12E1IS, ASIDE1IS operands), B2.3.12 / D8.14.1
 * (the DSB / ISB a table update and its invalidation need: the entry's
 * store completes before the TLBI (DSB ISHST), the TLBI completes before
 * anything relies on it (DSB ISH), and the context sees it (ISB)).
 *
 * A run of leaves (no NPT_FLUSH_TABLE) is invalidated with the last-level
 * forms (VALE1IS, IPAS2LE1IS) and, with FEAT_TTL, the level as the TTL hint;
 * a run with NPT_FLUSH_TABLE with the all-level forms, 4 KiB at a time (the
 * subtree it removed may have held leaves of any size). Past max_ops TLBIs a
 * record becomes one whole-context invalidation.
 */
#ifndef NPT_FLUSH_ARM_H
#define NPT_FLUSH_ARM_H

#include <stdint.h>

#include "npt.h"

#if !defined(__aarch64__)
#error "npt_flush_arm.h: AArch64 only"
#endif

/* FEAT_TTL: ID_AA64MMFR2_EL1.TTL, bits 51:48 (D19 register description). */
static inline int npt_arm_has_ttl(void)
{
	uint64_t v;

	__asm__ volatile("mrs %0, id_aa64mmfr2_el1" : "=r"(v));
	return ((v >> 48) & 0xf) != 0;
}

/* TTL, bits 47:44 of a TLBI by-address operand (4 KiB granule: TTL[3:2] =
 * 0b01, TTL[1:0] = Arm lookup level 1..3 = npt level 2..0). 0 = no hint. */
static inline uint64_t npt_arm_ttl(unsigned npt_level, int has_ttl)
{
	if (!has_ttl || npt_level > 2)
		return 0;
	return (uint64_t)(0x4u | (3u - npt_level)) << 44;
}

static inline void npt_arm_dsb_ishst(void)
{
	__asm__ volatile("dsb ishst" : : : "memory");
}

static inline void npt_arm_dsb_ish_isb(void)
{
	__asm__ volatile("dsb ish\n\tisb" : : : "memory");
}

/* By-address operations the record takes, counting each entry of a leaf
 * run and each 4 KiB of a table run. */
static inline uint64_t npt_arm_flush_ops(const struct npt_flush *f)
{
	uint64_t n = 0;
	unsigned i;

	for (i = 0; f->kind == NPT_FLUSH_RANGE && i < f->nranges; i++)
		n += f->ranges[i].size >>
		     (f->ranges[i].flags & NPT_FLUSH_TABLE ? 12 : 12 + 9 * f->ranges[i].level);
	return n;
}

/* ---- stage 1 (aarch64 tables in TTBR0_EL1 / TTBR1_EL1, from EL1) ---------- */

/* A record of an aarch64 table in use by this EL1&0 regime with asid,
 * inner shareable. */
static inline void npt_arm_flush_s1(const struct npt_flush *f, uint16_t asid, int has_ttl,
				    uint64_t max_ops)
{
	const uint64_t tag = (uint64_t)asid << 48;
	unsigned i;

	if (f->kind == NPT_FLUSH_NONE)
		return;
	npt_arm_dsb_ishst();
	if (f->kind == NPT_FLUSH_ALL || npt_arm_flush_ops(f) > max_ops) {
		__asm__ volatile("tlbi aside1is, %0" : : "r"(tag) : "memory");
	} else {
		for (i = 0; i < f->nranges; i++) {
			const struct npt_flush_range *r = &f->ranges[i];
			const int table = (r->flags & NPT_FLUSH_TABLE) != 0;
			const uint64_t step = 1ull << (table ? 12 : 12 + 9 * r->level);
			const uint64_t hint = table ? 0 : npt_arm_ttl(r->level, has_ttl);
			uint64_t off;

			for (off = 0; off < r->size; off += step) {
				/* VA[55:12] in bits 43:0 */
				uint64_t x = tag | hint | (((r->va + off) >> 12) & 0xfffffffffffull);

				if (table)
					__asm__ volatile("tlbi vae1is, %0" : : "r"(x) : "memory");
				else
					__asm__ volatile("tlbi vale1is, %0" : : "r"(x) : "memory");
			}
		}
	}
	npt_arm_dsb_ish_isb();
}

/* ---- stage 2 (aarch64-s2 / -48 tables in VTTBR_EL2, from EL2) --------------- */

/* A record of the stage-2 table of the VMID now in VTTBR_EL2: the IPAs by
 * IPAS2(L)E1IS, then -- stage 1 entries cached with the old stage-2 output
 * (combined entries) -- VMALLE1IS, as Linux's __kvm_tlb_flush_vmid_ipa. A
 * whole-context record is VMALLS12E1IS. */
static inline void npt_arm_flush_s2(const struct npt_flush *f, int has_ttl, uint64_t max_ops)
{
	unsigned i;

	if (f->kind == NPT_FLUSH_NONE)
		return;
	npt_arm_dsb_ishst();
	if (f->kind == NPT_FLUSH_ALL || npt_arm_flush_ops(f) > max_ops) {
		__asm__ volatile("tlbi vmalls12e1is" : : : "memory");
		npt_arm_dsb_ish_isb();
		return;
	}
	for (i = 0; i < f->nranges; i++) {
		const struct npt_flush_range *r = &f->ranges[i];
		const int table = (r->flags & NPT_FLUSH_TABLE) != 0;
		const uint64_t step = 1ull << (table ? 12 : 12 + 9 * r->level);
		const uint64_t hint = table ? 0 : npt_arm_ttl(r->level, has_ttl);
		uint64_t off;

		for (off = 0; off < r->size; off += step) {
			/* IPA[51:12] in bits 39:0 */
			uint64_t x = hint | (((r->va + off) >> 12) & 0xffffffffffull);

			if (table)
				__asm__ volatile("tlbi ipas2e1is, %0" : : "r"(x) : "memory");
			else
				__asm__ volatile("tlbi ipas2le1is, %0" : : "r"(x) : "memory");
		}
	}
	__asm__ volatile("dsb ish\n\ttlbi vmalle1is" : : : "memory");
	npt_arm_dsb_ish_isb();
}

/* The break-before-make hook's work (npt_set_bbm_hook): the one run it was
 * handed, invalidated and waited for, on a stage-2 (s2 = 1) or stage-1
 * table. */
static inline void npt_arm_bbm(const struct npt_flush *f, int s2, uint16_t asid, int has_ttl)
{
	if (s2)
		npt_arm_flush_s2(f, has_ttl, ~0ull);
	else
		npt_arm_flush_s1(f, asid, has_ttl, ~0ull);
}

#endif
