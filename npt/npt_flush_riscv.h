/*
 * npt_flush_riscv.h -- kernel / hypervisor helpers that turn a struct
 * npt_flush (npt.h) into RISC-V address-translation fences. Optional, for
 * S-mode (stage 1) or HS-mode (G-stage, VS-stage) code; user-space programs
 * never include it. Everything is static inline; nothing here is in libnpt.
 * The fences are local to the hart: other harts need an IPI (or SBI remote
 * fence) doing the same.
 *
 * References (RISC-V privileged specification 20211203):
 *  - §4.2.1 "Supervisor Memory-Management Fence Instruction": SFENCE.VMA
 *    rs1 = virtual address, rs2 = ASID; rs1 = x0 for every address.
 *  - §8.3.2 "Hypervisor Memory-Management Fence Instructions": HFENCE.GVMA
 *    rs1 = guest-physical address shifted right by 2, rs2 = VMID (orders
 *    G-stage table updates and drops cached G-stage and combined
 *    translations); HFENCE.VVMA rs1 = guest virtual address, rs2 = ASID,
 *    for the VS-stage of the VMID in hgatp.
 * Encodings (Table 25.x, "RV32/RV64 Privileged Instructions"): SFENCE.VMA
 * funct7 0001001, HFENCE.VVMA 0010001, HFENCE.GVMA 0110001, all with
 * funct3 0, rd 0, opcode SYSTEM (1110011). They are written with .insn so
 * that a build without the H extension in -march assembles them.
 *
 * A fence with rs1 = address covers every TLB entry for that address, of any
 * page size; a run with NPT_FLUSH_TABLE (a subtree removed, leaves of any
 * size below) is fenced 4 KiB at a time. Past max_ops a record becomes one
 * fence of the whole ASID / VMID.
 */
#ifndef NPT_FLUSH_RISCV_H
#define NPT_FLUSH_RISCV_H

#include <stdint.h>

#include "npt.h"

#if !defined(__riscv) || __riscv_xlen != 64
#error "npt_flush_riscv.h: RV64 only"
#endif

static inline void npt_rv_sfence_vma(uint64_t va, uint64_t asid)
{
	__asm__ volatile(".insn r 0x73, 0, 0x09, x0, %0, %1" : : "r"(va), "r"(asid) : "memory");
}

static inline void npt_rv_sfence_vma_asid(uint64_t asid)
{
	__asm__ volatile(".insn r 0x73, 0, 0x09, x0, x0, %0" : : "r"(asid) : "memory");
}

static inline void npt_rv_hfence_gvma(uint64_t gpa, uint64_t vmid)
{
	__asm__ volatile(".insn r 0x73, 0, 0x31, x0, %0, %1" : : "r"(gpa >> 2), "r"(vmid)
			 : "memory");
}

static inline void npt_rv_hfence_gvma_vmid(uint64_t vmid)
{
	__asm__ volatile(".insn r 0x73, 0, 0x31, x0, x0, %0" : : "r"(vmid) : "memory");
}

static inline void npt_rv_hfence_vvma(uint64_t va, uint64_t asid)
{
	__asm__ volatile(".insn r 0x73, 0, 0x11, x0, %0, %1" : : "r"(va), "r"(asid) : "memory");
}

static inline void npt_rv_hfence_vvma_asid(uint64_t asid)
{
	__asm__ volatile(".insn r 0x73, 0, 0x11, x0, x0, %0" : : "r"(asid) : "memory");
}

/* Fences the record takes: each entry of a leaf run, each 4 KiB of a table
 * run. */
static inline uint64_t npt_rv_flush_ops(const struct npt_flush *f)
{
	uint64_t n = 0;
	unsigned i;

	for (i = 0; f->kind == NPT_FLUSH_RANGE && i < f->nranges; i++)
		n += f->ranges[i].size >>
		     (f->ranges[i].flags & NPT_FLUSH_TABLE ? 12 : 12 + 9 * f->ranges[i].level);
	return n;
}

enum { NPT_RV_STAGE1 = 0, NPT_RV_GSTAGE = 1, NPT_RV_VSSTAGE = 2 };

/* One record: of a table in satp (NPT_RV_STAGE1, id = ASID), a G-stage table
 * in hgatp (NPT_RV_GSTAGE, id = VMID), or a guest's table in vsatp
 * (NPT_RV_VSSTAGE, id = its ASID, under the VMID now in hgatp). */
static inline void npt_rv_flush(const struct npt_flush *f, unsigned which, uint64_t id,
				uint64_t max_ops)
{
	unsigned i;

	if (f->kind == NPT_FLUSH_NONE)
		return;
	if (f->kind == NPT_FLUSH_ALL || npt_rv_flush_ops(f) > max_ops) {
		if (which == NPT_RV_GSTAGE)
			npt_rv_hfence_gvma_vmid(id);
		else if (which == NPT_RV_VSSTAGE)
			npt_rv_hfence_vvma_asid(id);
		else
			npt_rv_sfence_vma_asid(id);
		return;
	}
	for (i = 0; i < f->nranges; i++) {
		const struct npt_flush_range *r = &f->ranges[i];
		const uint64_t step = 1ull << (r->flags & NPT_FLUSH_TABLE ? 12 : 12 + 9 * r->level);
		uint64_t off;

		for (off = 0; off < r->size; off += step) {
			if (which == NPT_RV_GSTAGE)
				npt_rv_hfence_gvma(r->va + off, id);
			else if (which == NPT_RV_VSSTAGE)
				npt_rv_hfence_vvma(r->va + off, id);
			else
				npt_rv_sfence_vma(r->va + off, id);
		}
	}
}

#endif
