/*
 * RISC-V virtual memory, 4 KiB pages: the stage-1 formats sv39, sv48, sv57
 * (satp) and the G-stage formats sv39x4, sv48x4, sv57x4 (hgatp). One
 * encode/decode serves all six; they differ only in data.
 *
 * References (The RISC-V Instruction Set Manual, Volume II: Privileged
 * Architecture, version 20211203):
 *  - §4.1.11 "Supervisor Address Translation and Protection (satp)
 *    Register": MODE bits 63:60 (8 Sv39, 9 Sv48, 10 Sv57), ASID 59:44,
 *    PPN 43:0.
 *  - §4.4.1 "Addressing and Memory Protection" (Sv39): PTE bits V 0, R 1,
 *    W 2, X 3, U 4, G 5, A 6, D 7, RSW 9:8, PPN 53:10, reserved 60:54,
 *    PBMT 62:61 (Svpbmt), N 63 (Svnapot); Table 4.5 "Encoding of PTE
 *    R/W/X fields" (R = W = X = 0: pointer to the next level; W without R
 *    reserved); bits 63:39 of a virtual address equal bit 38.
 *  - §4.3.2 "Virtual Address Translation Process": leaves at any level
 *    (megapages, gigapages, terapages ...), A/D handling, misaligned
 *    superpages fault.
 *  - §4.5 Sv48, §4.6 Sv57: the same PTE with 4 / 5 levels.
 *  - §8.2.18 "Hypervisor Guest Address Translation and Protection Register
 *    (hgatp)": MODE 63:60 (8 Sv39x4, 9 Sv48x4, 10 Sv57x4), VMID 57:44,
 *    PPN 43:0; the root is 16 KiB and 16 KiB-aligned.
 *  - §8.5.1 "Guest Physical Address Translation": SvNNx4 widens the input
 *    by 2 bits (41 / 50 / 59), zero-extended (bits above must be zero); the
 *    root table has 2048 entries; "all memory accesses are considered U-mode
 *    accesses": a G-stage leaf needs U = 1; the G bit is unused and cleared.
 *  - Chapter 6 (Svpbmt, in later editions of the privileged spec):
 *    PBMT = 0 PMA, 1 NC, 2 IO, in leaves only; menvcfg.PBMTE (stage 1) /
 *    henvcfg.PBMTE (VS-stage and G-stage) enable it.
 *
 * Encoding choices (leaf):
 *  - NPT_R/W/X/U/G -> R/W/X/U/G. W without R (reserved, Table 4.5) and no
 *    R/W/X at all (that would be a pointer) are refused.
 *  - A and D are set on every leaf, whatever the flags say: hardware that
 *    does not update A/D (the spec allows it) raises a page fault on a leaf
 *    with A = 0, or D = 0 on a store. Decode reads the bits, so it reports
 *    NPT_A | NPT_D on every leaf npt wrote.
 *  - NPT_DEVICE -> PBMT = IO (Svpbmt): strongly ordered, non-cacheable,
 *    overriding the PMA. It needs Svpbmt and PBMTE = 1 in menvcfg (stage 1)
 *    or henvcfg (G-stage); without them bits 62:61 are reserved and the
 *    leaf faults. Without NPT_DEVICE, PBMT = 0: the PMA decides, which for
 *    an MMIO range is already I/O — pass NPT_DEVICE only on a Svpbmt hart.
 *  - G-stage (x4) formats: NPT_U and NPT_G are refused; U is set on every
 *    leaf (§8.5.1) and not reported by decode; G stays 0.
 *  - Pointer (table) entries are V alone: A, D, U are reserved there and
 *    zero (§4.3.2 note).
 */
#include <stddef.h>

#include "format.h"
#include "arch.h"

/* §4.4.1, Figure "Sv39 page table entry". */
#define RV_V    (1ull << 0) /* valid */
#define RV_R    (1ull << 1) /* readable */
#define RV_W    (1ull << 2) /* writable */
#define RV_X    (1ull << 3) /* executable */
#define RV_U    (1ull << 4) /* user-mode accessible (G-stage: required on leaves) */
#define RV_G    (1ull << 5) /* global mapping */
#define RV_A    (1ull << 6) /* accessed */
#define RV_D    (1ull << 7) /* dirty */
#define RV_RWX  (RV_R | RV_W | RV_X)
#define RV_PPN  0x003ffffffffffc00ull /* PPN, bits 53:10 (pa bits 55:12) */
#define RV_PPN_SHIFT 2                /* pa = PPN << 12 = (pte & RV_PPN) << 2 */
#define RV_PBMT_SHIFT 61              /* Svpbmt: PBMT, bits 62:61 */
#define RV_PBMT_MASK  (3ull << RV_PBMT_SHIFT)
#define RV_PBMT_IO    (2ull << RV_PBMT_SHIFT) /* IO: non-cacheable, strongly ordered */
#define RV_RSW_LOG    (1ull << 8)   /* RSW bit 8: "reserved for use by supervisor
				       software", ignored by the implementation (§4.3.1) */
#define RV_RSW_FULL   (1ull << 9)   /* RSW bit 9, in a non-leaf PTE: npt's "the leaf
				       table below is one full run" hint (format.h, full_bit) */

#define RV_FLAGS_S1 (NPT_R | NPT_W | NPT_X | NPT_U | NPT_DEVICE | NPT_A | NPT_D | NPT_G)
#define RV_FLAGS_S2 (NPT_R | NPT_W | NPT_X | NPT_DEVICE | NPT_A | NPT_D)

static int rv_encode(const struct npt_format *f, unsigned level, unsigned flags, uint64_t *bits)
{
	uint64_t b = RV_V | RV_A | RV_D;

	/* Unknown flags, and NPT_U / NPT_G on the G-stage formats. */
	if (!npt_arch_leaf_level(f, level) || (flags & ~f->flags))
		return NPT_ERR_FLAGS;
	/* Table 4.5: R = W = X = 0 is a pointer; W = 1 with R = 0 is reserved. */
	if (!(flags & (NPT_R | NPT_W | NPT_X)) || (flags & (NPT_R | NPT_W)) == NPT_W)
		return NPT_ERR_FLAGS;

	if (flags & NPT_R)
		b |= RV_R;
	if (flags & NPT_W)
		b |= RV_W;
	if (flags & NPT_X)
		b |= RV_X;
	/* §8.5.1: G-stage accesses are U-mode accesses; U on every leaf. */
	if ((flags & NPT_U) || f->stage2)
		b |= RV_U;
	if (flags & NPT_G)
		b |= RV_G;
	if (flags & NPT_DEVICE)
		b |= RV_PBMT_IO;
	*bits = b;
	return 0;
}

static unsigned rv_decode(const struct npt_format *f, unsigned level, uint64_t pte)
{
	unsigned flags = 0;

	(void)level; /* the leaf bits are the same at every level */
	if (pte & RV_R)
		flags |= NPT_R;
	if (pte & RV_W)
		flags |= NPT_W;
	if (pte & RV_X)
		flags |= NPT_X;
	if (pte & RV_U)
		flags |= NPT_U;
	if (pte & RV_G)
		flags |= NPT_G;
	if (pte & RV_A)
		flags |= NPT_A;
	if (pte & RV_D)
		flags |= NPT_D;
	if ((pte & RV_PBMT_MASK) == RV_PBMT_IO)
		flags |= NPT_DEVICE;
	/* G-stage: U is npt's own (always set), G unused — neither reported. */
	return flags & f->flags;
}

/* The hardware's walk (npt_translate_2d), §4.3.2 "Virtual Address
 * Translation Process" and §8.5.1 for the G-stage:
 *  - step 3, page fault (NPT_ERR_RESERVED): W without R; bits 60:54
 *    (reserved), N (bit 63, Svnapot absent), PBMT = 3 (reserved by
 *    Svpbmt); in a pointer (R = W = X = 0) also D, A, U and PBMT.
 *  - step 5, permissions: R, W, X; U-mode only on U = 1 leaves, S-mode
 *    never on them (sstatus.SUM = 0; S-mode never executes them); MXR =
 *    0. Every G-stage access is a U-mode one (§8.5.1).
 *  - step 6: a superpage whose PPN is not aligned to its size faults
 *    (NPT_ERR_RESERVED).
 *  - step 7 without Svadu: A = 0, or D = 0 on a store, faults
 *    (NPT_ERR_ACCESSED).
 *  - A pointer at level 0 ends the walk (step 4): npt_translate_2d makes
 *    that a fault. PBMT = IO is device memory. */
#define RV_N        (1ull << 63)
#define RV_RSVD     (0x7full << 54)

static int rv_hw(const struct npt_format *f, unsigned level, uint64_t pte, struct npt_hw *w)
{
	const int user = f->stage2 || (w->access & NPT_U);

	if (!(pte & RV_V))
		return NPT_ERR_NOT_MAPPED;
	if ((pte & (RV_R | RV_W)) == RV_W || (pte & (RV_N | RV_RSVD)) ||
	    (pte & RV_PBMT_MASK) == RV_PBMT_MASK)
		return NPT_ERR_RESERVED;
	if (!(pte & RV_RWX))
		return (pte & (RV_D | RV_A | RV_U | RV_PBMT_MASK)) ? NPT_ERR_RESERVED : NPT_HW_TABLE;
	if ((pte & RV_PBMT_MASK) == RV_PBMT_IO)
		w->allow |= NPT_DEVICE;
	if (!(pte & RV_R))
		w->allow &= ~NPT_R;
	if (!(pte & RV_W))
		w->allow &= ~NPT_W;
	if (!(pte & RV_X))
		w->allow &= ~NPT_X;
	if (!(pte & RV_U))
		w->allow &= ~NPT_U;
	if (!user != !(pte & RV_U))
		w->allow &= ~(NPT_R | NPT_W | NPT_X);
	if (npt_hw_leaf(w))
		return NPT_ERR_PERM;
	if (npt_pte_addr(f, pte) & npt_hw_low_bits(level, 12))
		return NPT_ERR_RESERVED;
	if (!(pte & RV_A) || ((w->access & NPT_W) && !(pte & RV_D)))
		return NPT_ERR_ACCESSED;
	return NPT_HW_LEAF;
}

#define RV_COMMON                                 \
	.pa_bits = 56,                            \
	.addr_shift = RV_PPN_SHIFT,               \
	.addr_mask = RV_PPN,                      \
	.present_mask = RV_V,                     \
	.leaf_mask = RV_RWX, /* any of R/W/X: leaf (Table 4.5) */ \
	.leaf_xor = 0,                            \
	.table_bits = RV_V,                       \
	.encode = rv_encode,                      \
	.decode = rv_decode,                      \
	.priv = NULL,                             \
	.family = NPT_FAMILY_RISCV,               \
	.hw_entry = rv_hw,                        \
	/* §4.3.1 (Sv32 PTE, same bits in Sv39+): A and D; with Svadu (or the \
	 * old hardware-updating choice) the hart sets them, otherwise an access \
	 * with A = 0 or a store with D = 0 faults and software sets them: npt \
	 * presets both (ad_preset), so a cleared bit is the software-managed \
	 * scheme. No break-before-make: "it is unpredictable whether the old \
	 * non-leaf PTE or the new leaf PTE is used, but the behavior is \
	 * otherwise well defined" (§4.3.2, address-translation cache note). */ \
	.accessed_bit = RV_A,                     \
	.dirty_bit = RV_D,                        \
	.w_set = RV_W,                            \
	.sw_log_bit = RV_RSW_LOG,                 \
	.full_bit = RV_RSW_FULL,                  \
	.ad_preset = RV_A | RV_D

const struct npt_format npt_fmt_sv39 = {
	.name = "sv39",
	.description = "RISC-V Sv39 (39-bit VA, 3 levels, 4K/2M/1G leaves)",
	.levels = 3,
	.va_bits = 39,
	.canonical = 1,
	.stage2 = 0,
	.leaf_levels = 0x7,
	.flags = RV_FLAGS_S1,
	RV_COMMON,
};

const struct npt_format npt_fmt_sv48 = {
	.name = "sv48",
	.description = "RISC-V Sv48 (48-bit VA, 4 levels, 4K/2M/1G/512G leaves)",
	.levels = 4,
	.va_bits = 48,
	.canonical = 1,
	.stage2 = 0,
	.leaf_levels = 0xf,
	.flags = RV_FLAGS_S1,
	RV_COMMON,
};

const struct npt_format npt_fmt_sv57 = {
	.name = "sv57",
	.description = "RISC-V Sv57 (57-bit VA, 5 levels, 4K/2M/1G/512G/256T leaves)",
	.levels = 5,
	.va_bits = 57,
	.canonical = 1,
	.stage2 = 0,
	.leaf_levels = 0x1f,
	.flags = RV_FLAGS_S1,
	RV_COMMON,
};

const struct npt_format npt_fmt_sv39x4 = {
	.name = "sv39x4",
	.description = "RISC-V G-stage Sv39x4 (41-bit guest-physical, 16K root, 4K/2M/1G leaves)",
	.levels = 3,  /* root 2^(41-30) = 2048 entries = 4 frames */
	.va_bits = 41,
	.canonical = 0, /* guest-physical input, zero-extended (§8.5.1) */
	.stage2 = 1,
	.leaf_levels = 0x7,
	.flags = RV_FLAGS_S2,
	RV_COMMON,
};

const struct npt_format npt_fmt_sv48x4 = {
	.name = "sv48x4",
	.description = "RISC-V G-stage Sv48x4 (50-bit guest-physical, 16K root, 4K/2M/1G/512G leaves)",
	.levels = 4,
	.va_bits = 50,
	.canonical = 0,
	.stage2 = 1,
	.leaf_levels = 0xf,
	.flags = RV_FLAGS_S2,
	RV_COMMON,
};

const struct npt_format npt_fmt_sv57x4 = {
	.name = "sv57x4",
	.description = "RISC-V G-stage Sv57x4 (59-bit guest-physical, 16K root, 4K..256T leaves)",
	.levels = 5,
	.va_bits = 59,
	.canonical = 0,
	.stage2 = 1,
	.leaf_levels = 0x1f,
	.flags = RV_FLAGS_S2,
	RV_COMMON,
};

/* ---- register values ------------------------------------------------------ */

#define RV_ATP_MODE_SHIFT 60 /* satp / hgatp MODE, bits 63:60 */
#define RV_ATP_ID_SHIFT   44 /* satp ASID 59:44, hgatp VMID 57:44 */
#define RV_ATP_PPN        0x00000fffffffffffull /* PPN, bits 43:0 */

/* MODE = 8 / 9 / 10 for 3 / 4 / 5 levels, in satp and in hgatp alike. */
static uint64_t rv_atp(const struct npt_table *t, uint64_t id)
{
	const struct npt_format *f = npt_table_format(t);

	return ((uint64_t)(f->levels + 5u) << RV_ATP_MODE_SHIFT) | (id << RV_ATP_ID_SHIFT) |
	       ((npt_root(t) >> NPT_PAGE_SHIFT) & RV_ATP_PPN);
}

uint64_t npt_riscv_satp(const struct npt_table *t, unsigned asid)
{
	const struct npt_format *f;

	if (!t)
		return 0;
	f = npt_table_format(t);
	if (f != &npt_fmt_sv39 && f != &npt_fmt_sv48 && f != &npt_fmt_sv57)
		return 0;
	return rv_atp(t, asid & 0xffffu); /* §4.1.11: ASIDLEN <= 16 */
}

uint64_t npt_riscv_hgatp(const struct npt_table *t, unsigned vmid)
{
	const struct npt_format *f;

	if (!t)
		return 0;
	f = npt_table_format(t);
	if (f != &npt_fmt_sv39x4 && f != &npt_fmt_sv48x4 && f != &npt_fmt_sv57x4)
		return 0;
	return rv_atp(t, vmid & 0x3fffu); /* §8.2.18: VMIDLEN <= 14 */
}
