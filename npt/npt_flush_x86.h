/*
 * npt_flush_x86.h -- kernel / hypervisor helpers that turn a struct
 * npt_flush (npt.h) into x86 TLB maintenance. Optional and for code running
 * at CPL 0 (VMX root or SVM host for the EPT / NPT parts); user-space
 * programs never include it. Everything is static inline; nothing here is
 * in libnpt.
 *
 * What each record needs:
 *  - x86_64 / x86_64-la57 tables the CPU itself walks: INVLPG of every entry
 *    of a run (one INVLPG with any address in a page removes the whole
 *    page's TLB entry, whatever its size, and also every paging-structure-
 *    cache entry of the current PCID: SDM vol. 3A §4.10.4.1 "Operations that
 *    Invalidate TLBs and Paging-Structure Caches"), or INVPCID. A run with
 *    NPT_FLUSH_TABLE may hide leaves of any size below it, so it is walked
 *    4 KiB at a time; past max_pages the helper drops everything instead.
 *  - ept / ept5: INVEPT single-context, which removes every guest-physical
 *    and combined mapping tagged with the EPTP (SDM vol. 3C §29.4.3.1
 *    "Operations that Invalidate Cached Mappings", INVEPT in vol. 2A):
 *    there is no INVEPT of one guest-physical address. INVVPID removes the
 *    guest's linear and combined mappings of one VPID (a hypervisor that
 *    keeps the guest's own stage-1 tables with npt).
 *  - npt / npt5 (AMD): nested-table changes are flushed by the next VMRUN,
 *    as the VMCB's TLB_CONTROL asks (APM vol. 2 §15.16.1 "TLB Flush", VMCB
 *    offset 058h bits 39:32): npt_svm_tlb_control() says which value. INVLPGA
 *    removes one guest-virtual mapping of one ASID (APM vol. 2 §15.16.2,
 *    INVLPGA in vol. 3), for a guest's stage-1 table kept with npt.
 */
#ifndef NPT_FLUSH_X86_H
#define NPT_FLUSH_X86_H

#include <stdint.h>

#include "npt.h"

#if !defined(__x86_64__)
#error "npt_flush_x86.h: x86-64 only"
#endif

/* The addresses of each TLB entry a record may have cached, stepping by the
 * run's entry size, or 4 KiB under a NPT_FLUSH_TABLE run. Returns the number
 * of steps the record takes; 0 for NPT_FLUSH_NONE. */
static inline uint64_t npt_x86_flush_steps(const struct npt_flush *f)
{
	uint64_t n = 0;
	unsigned i;

	if (f->kind != NPT_FLUSH_RANGE)
		return 0;
	for (i = 0; i < f->nranges; i++) {
		const struct npt_flush_range *r = &f->ranges[i];
		unsigned shift = r->flags & NPT_FLUSH_TABLE ? 12 : 12 + 9 * r->level;

		n += r->size >> shift;
	}
	return n;
}

/* INVLPG m (SDM vol. 2A): the TLB entries of va's page, and the
 * paging-structure caches of the current PCID. */
static inline void npt_x86_invlpg(uint64_t va)
{
	__asm__ volatile("invlpg (%0)" : : "r"(va) : "memory");
}

/* INVPCID type, descriptor {pcid, va} (SDM vol. 2A, INVPCID): 0 one address
 * of one PCID, 1 one PCID, 2 every PCID with globals, 3 every PCID but
 * globals. Needs CPUID.(EAX=07H,ECX=0):EBX.INVPCID[10]. */
enum { NPT_INVPCID_ADDR = 0, NPT_INVPCID_SINGLE = 1, NPT_INVPCID_ALL_GLOBAL = 2,
       NPT_INVPCID_ALL = 3 };
static inline void npt_x86_invpcid(unsigned long type, uint64_t pcid, uint64_t va)
{
	struct {
		uint64_t pcid, va;
	} d = { pcid & 0xfff, va };

	__asm__ volatile("invpcid %0, %1" : : "m"(d), "r"(type) : "memory");
}

/* Every non-global TLB entry of the current PCID (MOV to CR3 with the same
 * value, SDM vol. 3A §4.10.4.1); global ones need INVPCID type 2 or a
 * CR4.PGE toggle. */
static inline void npt_x86_reload_cr3(void)
{
	uint64_t cr3;

	__asm__ volatile("mov %%cr3, %0\n\tmov %0, %%cr3" : "=r"(cr3) : : "memory");
}

/* A record of an x86_64 / x86_64-la57 table loaded in this CPU's CR3. With
 * use_invpcid, INVPCID (pcid) is used for single addresses and for the
 * whole-TLB case (type 2: globals too); without it INVLPG and a CR3 reload
 * (which keeps global entries: pass use_invpcid for tables with NPT_G
 * leaves). max_pages bounds the INVLPGs of one record. */
static inline void npt_x86_flush(const struct npt_flush *f, int use_invpcid, uint64_t pcid,
				 uint64_t max_pages)
{
	unsigned i;

	if (f->kind == NPT_FLUSH_NONE)
		return;
	if (f->kind == NPT_FLUSH_ALL || npt_x86_flush_steps(f) > max_pages) {
		if (use_invpcid)
			npt_x86_invpcid(NPT_INVPCID_ALL_GLOBAL, 0, 0);
		else
			npt_x86_reload_cr3();
		return;
	}
	for (i = 0; i < f->nranges; i++) {
		const struct npt_flush_range *r = &f->ranges[i];
		const uint64_t step = 1ull << (r->flags & NPT_FLUSH_TABLE ? 12 : 12 + 9 * r->level);
		uint64_t off;

		for (off = 0; off < r->size; off += step) {
			if (use_invpcid)
				npt_x86_invpcid(NPT_INVPCID_ADDR, pcid, r->va + off);
			else
				npt_x86_invlpg(r->va + off);
		}
	}
}

/* ---- EPT (VMX root) ------------------------------------------------------- */

/* INVEPT type, {eptp, 0} (SDM vol. 2A, INVEPT; types in vol. 3C §29.4.3.1):
 * 1 single-context (IA32_VMX_EPT_VPID_CAP bit 25), 2 all-context (bit 26).
 * Returns 0, or -1 when the instruction failed (VMfailInvalid / VMfailValid:
 * CF or ZF set). */
enum { NPT_INVEPT_SINGLE = 1, NPT_INVEPT_ALL = 2 };
static inline int npt_x86_invept(unsigned long type, uint64_t eptp)
{
	struct {
		uint64_t eptp, zero;
	} d = { eptp, 0 };
	unsigned char failed;

	__asm__ volatile("invept %1, %2\n\tsetna %0" : "=qm"(failed) : "m"(d), "r"(type)
			 : "cc", "memory");
	return failed ? -1 : 0;
}

/* INVVPID type, {vpid, va} (SDM vol. 2A, INVVPID): 0 one linear address, 1
 * single-context, 2 all-context, 3 single-context but globals. Returns 0 or
 * -1 as npt_x86_invept. */
enum { NPT_INVVPID_ADDR = 0, NPT_INVVPID_SINGLE = 1, NPT_INVVPID_ALL = 2,
       NPT_INVVPID_SINGLE_NONGLOBAL = 3 };
static inline int npt_x86_invvpid(unsigned long type, uint16_t vpid, uint64_t va)
{
	struct {
		uint64_t vpid, va;
	} d = { vpid, va };
	unsigned char failed;

	__asm__ volatile("invvpid %1, %2\n\tsetna %0" : "=qm"(failed) : "m"(d), "r"(type)
			 : "cc", "memory");
	return failed ? -1 : 0;
}

/* A record of an ept / ept5 table used through eptp: INVEPT single-context
 * (all-context if the CPU lacks the single-context type). */
static inline int npt_ept_flush(const struct npt_flush *f, uint64_t eptp, int single_context)
{
	if (f->kind == NPT_FLUSH_NONE)
		return 0;
	return npt_x86_invept(single_context ? NPT_INVEPT_SINGLE : NPT_INVEPT_ALL, eptp);
}

/* A record of a guest's x86_64 stage-1 table (its linear addresses) run under
 * vpid: INVVPID of each page, or of the whole VPID past max_pages. */
static inline int npt_vmx_flush_guest(const struct npt_flush *f, uint16_t vpid,
				      uint64_t max_pages)
{
	unsigned i;
	int err = 0;

	if (f->kind == NPT_FLUSH_NONE)
		return 0;
	if (f->kind == NPT_FLUSH_ALL || npt_x86_flush_steps(f) > max_pages)
		return npt_x86_invvpid(NPT_INVVPID_SINGLE, vpid, 0);
	for (i = 0; i < f->nranges; i++) {
		const struct npt_flush_range *r = &f->ranges[i];
		const uint64_t step = 1ull << (r->flags & NPT_FLUSH_TABLE ? 12 : 12 + 9 * r->level);
		uint64_t off;

		for (off = 0; off < r->size; off += step)
			err |= npt_x86_invvpid(NPT_INVVPID_ADDR, vpid, r->va + off);
	}
	return err;
}

/* ---- AMD SVM ----------------------------------------------------------------- */

/* VMCB TLB_CONTROL values (APM vol. 2 §15.16.1 and Table B-1, offset 058h):
 * 3 and 7 need the FlushByAsid feature, CPUID Fn8000_000A_EDX[6]. */
enum { NPT_SVM_TLB_NOTHING = 0, NPT_SVM_TLB_ALL = 1, NPT_SVM_TLB_ASID = 3,
       NPT_SVM_TLB_ASID_NONGLOBAL = 7 };

/* The TLB_CONTROL the next VMRUN of the guest needs after a change to its
 * npt / npt5 table: its whole ASID (there is no per-GPA invalidation), or
 * the whole TLB without FlushByAsid. NPT_SVM_TLB_NOTHING for no change. */
static inline unsigned npt_svm_tlb_control(const struct npt_flush *f, int flush_by_asid)
{
	if (f->kind == NPT_FLUSH_NONE)
		return NPT_SVM_TLB_NOTHING;
	return flush_by_asid ? NPT_SVM_TLB_ASID : NPT_SVM_TLB_ALL;
}

/* INVLPGA rAX = guest virtual address, ECX = ASID (APM vol. 3). */
static inline void npt_svm_invlpga(uint64_t va, uint32_t asid)
{
	__asm__ volatile("invlpga %0, %1" : : "a"(va), "c"(asid) : "memory");
}

/* A record of a guest's x86_64 stage-1 table run under asid: INVLPGA of each
 * page now, returning NPT_SVM_TLB_NOTHING; past max_pages (or a whole-TLB
 * record) nothing is executed and the TLB_CONTROL to set is returned. */
static inline unsigned npt_svm_flush_guest(const struct npt_flush *f, uint32_t asid,
					   int flush_by_asid, uint64_t max_pages)
{
	unsigned i;

	if (f->kind == NPT_FLUSH_NONE)
		return NPT_SVM_TLB_NOTHING;
	if (f->kind == NPT_FLUSH_ALL || npt_x86_flush_steps(f) > max_pages)
		return flush_by_asid ? NPT_SVM_TLB_ASID : NPT_SVM_TLB_ALL;
	for (i = 0; i < f->nranges; i++) {
		const struct npt_flush_range *r = &f->ranges[i];
		const uint64_t step = 1ull << (r->flags & NPT_FLUSH_TABLE ? 12 : 12 + 9 * r->level);
		uint64_t off;

		for (off = 0; off < r->size; off += step)
			npt_svm_invlpga(r->va + off, asid);
	}
	return NPT_SVM_TLB_NOTHING;
}

#endif
