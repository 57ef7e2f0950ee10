/*
 * npt_flush_loongarch.h -- kernel helpers that turn a struct npt_flush
 * (npt.h) into LoongArch TLB invalidation. Optional, for PLV0 code;
 * user-space programs never include it. Everything is static inline;
 * nothing here is in libnpt. INVTLB acts on this core's TLB only: other
 * cores need an IPI doing the same.
 *
 * References (LoongArch Reference Manual, Volume 1, v1.10): §4.2.4.7
 * "INVTLB" -- op 0x0 / 0x1 every entry, 0x2 every G = 1 entry, 0x3 every
 * G = 0 entry, 0x4 G = 0 and ASID = rj, 0x5 G = 0, ASID = rj and VA = rk,
 * 0x6 (G = 1 or ASID = rj) and VA = rk; §5.4 (an STLB / MTLB entry maps an
 * even / odd page pair, any address in it matches).
 *
 * A run of leaves is invalidated one entry at a time with op 0x6 (global
 * entries too); a run with NPT_FLUSH_TABLE 4 KiB at a time (a subtree
 * removed, leaves of any size below). Past max_ops the record becomes one
 * op 0x4 (this ASID) -- or op 0x0 when the table holds NPT_G leaves.
 */
#ifndef NPT_FLUSH_LOONGARCH_H
#define NPT_FLUSH_LOONGARCH_H

#include <stdint.h>

#include "npt.h"

#if !defined(__loongarch64)
#error "npt_flush_loongarch.h: LoongArch64 only"
#endif

enum { NPT_INVTLB_ALL = 0x0, NPT_INVTLB_ASID = 0x4, NPT_INVTLB_ADDR_ASID = 0x5,
       NPT_INVTLB_ADDR = 0x6 };

#define NPT_INVTLB(op, asid, va)                                                        \
	__asm__ volatile("invtlb %0, %1, %2" : : "i"(op), "r"((uint64_t)(asid)),       \
			 "r"((uint64_t)(va)) : "memory")

static inline uint64_t npt_la_flush_ops(const struct npt_flush *f)
{
	uint64_t n = 0;
	unsigned i;

	for (i = 0; f->kind == NPT_FLUSH_RANGE && i < f->nranges; i++)
		n += f->ranges[i].size >>
		     (f->ranges[i].flags & NPT_FLUSH_TABLE ? 12 : 12 + 9 * f->ranges[i].level);
	return n;
}

/* A record of the loongarch64 table in PGDL / PGDH with asid. global: the
 * table holds NPT_G leaves, so a whole-table flush must reach them too. */
static inline void npt_la_flush(const struct npt_flush *f, uint64_t asid, int global,
				uint64_t max_ops)
{
	unsigned i;

	if (f->kind == NPT_FLUSH_NONE)
		return;
	__asm__ volatile("dbar 0" : : : "memory"); /* the entry stores before the invalidation */
	if (f->kind == NPT_FLUSH_ALL || npt_la_flush_ops(f) > max_ops) {
		if (global)
			NPT_INVTLB(NPT_INVTLB_ALL, 0, 0);
		else
			NPT_INVTLB(NPT_INVTLB_ASID, asid, 0);
		return;
	}
	for (i = 0; i < f->nranges; i++) {
		const struct npt_flush_range *r = &f->ranges[i];
		const uint64_t step = 1ull << (r->flags & NPT_FLUSH_TABLE ? 12 : 12 + 9 * r->level);
		uint64_t off;

		for (off = 0; off < r->size; off += step)
			NPT_INVTLB(NPT_INVTLB_ADDR, asid, r->va + off);
	}
}

#endif
