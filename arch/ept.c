/*
 * Intel EPT: ept (4-level, 48-bit guest-physical) and ept5 (5-level, 57-bit),
 * one encode/decode for both; they differ only in levels / va_bits.
 *
 * References: Intel SDM vol. 3C §29.3 "The Extended Page Table Mechanism
 * (EPT)" (chapter 28 in older editions): §29.3.2 and its tables "Format of an
 * EPT PML5/PML4 Entry", "... EPT Page-Directory-Pointer-Table Entry (PDPTE)
 * that Maps a 1-GByte Page", "... EPT Page-Directory Entry (PDE) that Maps a
 * 2-MByte Page", "... EPT Page-Table Entry that Maps a 4-KByte Page";
 * §29.3.3.1 "EPT Misconfigurations"; §29.3.5 "Accessed and Dirty Flags for
 * EPT"; §29.3.7 "EPT and Memory Typing".
 *
 * Encoding choices (leaf):
 *  - NPT_R/W/X -> bits 0/1/2. X is bit 2, "execute access" — for supervisor-
 *    mode linear addresses only when mode-based execute control is enabled;
 *    bit 10 (user-mode execute) is never set.
 *  - W without R is an EPT misconfiguration (§29.3.3.1) and is refused; so
 *    is an entry with none of R/W/X (it would not be present). Execute-only
 *    (X alone) is encoded; it needs IA32_VMX_EPT_VPID_CAP bit 0, which the
 *    caller checks.
 *  - Memory type (bits 5:3, §29.3.7.2): WB (6) for normal memory with
 *    ignore-PAT (bit 6) clear, so the guest's PAT still combines with WB as
 *    on bare metal (a guest can make its own RAM WC/UC). NPT_DEVICE -> UC (0)
 *    with ignore-PAT set: the effective type is UC whatever the guest's PAT
 *    says, so a guest cannot make an MMIO range cacheable. (With UC in the
 *    EPT the combination would come out UC anyway for most guest types —
 *    ignore-PAT makes it independent of the guest, which is what "device"
 *    means here.)
 *  - NPT_A / NPT_D preset bits 8 / 9; they only mean something when EPTP
 *    bit 6 enables A/D flags (§29.3.5). npt_ept_pointer() sets that bit on
 *    request.
 *  - Bit 7 marks a 1 GiB / 2 MiB leaf; in a 4 KiB EPT PTE it is ignored and
 *    stays 0. Bit 63 (suppress #VE) is never set.
 *  - Table entries are R|W|X (7): permissions are decided at the leaf.
 */
#include <stddef.h>

#include "format.h"
#include "arch.h"

/* SDM vol. 3C §29.3.2, the EPT entry-format tables. */
#define EPT_R        (1ull << 0) /* read access */
#define EPT_W        (1ull << 1) /* write access */
#define EPT_X        (1ull << 2) /* (supervisor-mode) execute access */
#define EPT_RWX      NPT_EPT_RWX
#define EPT_MT_SHIFT 3           /* bits 5:3: EPT memory type (leaves) */
#define EPT_MT_MASK  (7ull << EPT_MT_SHIFT)
#define EPT_MT_UC    0ull        /* §29.3.7.2, memory type encodings as in the PAT */
#define EPT_MT_WB    6ull
#define EPT_IPAT     (1ull << 6) /* ignore PAT memory type (leaves) */
#define EPT_LEAF     NPT_EPT_LEAF /* maps a page (levels 1, 2); ignored in a 4 KiB PTE */
#define EPT_A        (1ull << 8) /* accessed (EPTP bit 6) */
#define EPT_D        (1ull << 9) /* dirty (leaves, EPTP bit 6) */
#define EPT_ADDR     NPT_X86_ADDR /* address bits 51:12 (N-1:12) */
#define EPT_SW_LOG   (1ull << 11) /* ignored in every EPT leaf (§29.3.2 tables): npt_log_start's mark */
/* Bits 63:52 are ignored in an EPT entry that references a table (§29.3.2,
 * the PML5E/PML4E/PDPTE/PDE-referencing-a-table formats): bit 52 is npt's
 * "the leaf table below is one
 * full run" hint (format.h, full_bit). */
#define EPT_FULL     (1ull << 52)

/* §29.3.5: with EPTP bit 6 the processor sets A (bit 8) on any access and D
 * (bit 9) on a write through the leaf; without it both bits are ignored and
 * npt_harvest reads back what npt wrote. W (bit 1) grants writes. */
#define EPT_STATE                                                        \
	.accessed_bit = EPT_A, .dirty_bit = EPT_D, .w_set = EPT_W, .sw_log_bit = EPT_SW_LOG, \
	.full_bit = EPT_FULL

#define EPT_FLAGS (NPT_R | NPT_W | NPT_X | NPT_DEVICE | NPT_A | NPT_D)

static int ept_encode(const struct npt_format *f, unsigned level, unsigned flags, uint64_t *bits)
{
	uint64_t b = 0;

	if (!npt_arch_leaf_level(f, level))
		return NPT_ERR_FLAGS;
	/* Unknown flags, and NPT_U / NPT_G (stage 2: no such concept). */
	if (flags & ~f->flags)
		return NPT_ERR_FLAGS;
	/* Not present at all, or write without read: misconfiguration (§29.3.3.1). */
	if (!(flags & (NPT_R | NPT_W | NPT_X)) || (flags & (NPT_R | NPT_W)) == NPT_W)
		return NPT_ERR_FLAGS;

	if (flags & NPT_R)
		b |= EPT_R;
	if (flags & NPT_W)
		b |= EPT_W;
	if (flags & NPT_X)
		b |= EPT_X;
	/* §29.3.7.2: UC + ignore-PAT for devices, WB + guest PAT otherwise. */
	if (flags & NPT_DEVICE)
		b |= (EPT_MT_UC << EPT_MT_SHIFT) | EPT_IPAT;
	else
		b |= EPT_MT_WB << EPT_MT_SHIFT;
	if (flags & NPT_A)
		b |= EPT_A;
	if (flags & NPT_D)
		b |= EPT_D;
	if (level > 0)
		b |= EPT_LEAF;
	*bits = b;
	return 0;
}

static unsigned ept_decode(const struct npt_format *f, unsigned level, uint64_t pte)
{
	unsigned flags = 0;

	(void)f;
	(void)level; /* the leaf bits are the same at every leaf level */
	if (pte & EPT_R)
		flags |= NPT_R;
	if (pte & EPT_W)
		flags |= NPT_W;
	if (pte & EPT_X)
		flags |= NPT_X;
	/* Any memory type but WB reads back as DEVICE (UC, WC, WT, WP). */
	if ((pte & EPT_MT_MASK) != EPT_MT_WB << EPT_MT_SHIFT)
		flags |= NPT_DEVICE;
	if (pte & EPT_A)
		flags |= NPT_A;
	if (pte & EPT_D)
		flags |= NPT_D;
	return flags;
}

/* The hardware's walk (npt_translate_2d), SDM vol. 3C §29.3.3:
 *  - Misconfigurations (§29.3.3.1), NPT_ERR_RESERVED: write without read;
 *    address bits 51:MAXPHYADDR (the format's pa_bits); bits 7:3 of an
 *    entry that references a table (a PML5E or PML4E with bit 7 set
 *    included); memory type 2, 3 or 7 in a leaf; bits 29:12 of a 1 GiB and
 *    20:12 of a 2 MiB leaf (the §29.3.2 tables). Execute-only is allowed
 *    (IA32_VMX_EPT_VPID_CAP bit 0), mode-based execute control is off (bit
 *    2 governs every fetch, bit 10 is ignored).
 *  - Violations (§29.3.3.2): R, W and X of every level ANDed.
 *  - Memory type: anything but WB (6) is not write-back. */
static int ept_hw(const struct npt_format *f, unsigned level, uint64_t pte, struct npt_hw *w)
{
	const int leaf = level == 0 || (level < 3 && (pte & EPT_LEAF));
	const uint64_t mt = (pte & EPT_MT_MASK) >> EPT_MT_SHIFT;
	uint64_t rsvd = EPT_ADDR & ~((1ull << f->pa_bits) - 1u);

	if (!(pte & EPT_RWX))
		return NPT_ERR_NOT_MAPPED;
	if ((pte & (EPT_R | EPT_W)) == EPT_W)
		return NPT_ERR_RESERVED;
	if (!leaf)
		rsvd |= EPT_LEAF | EPT_IPAT | EPT_MT_MASK;
	else if (mt == 2 || mt == 3 || mt == 7)
		return NPT_ERR_RESERVED;
	else if (level)
		rsvd |= npt_hw_low_bits(level, 12);
	if (pte & rsvd)
		return NPT_ERR_RESERVED;
	if (!(pte & EPT_R))
		w->allow &= ~NPT_R;
	if (!(pte & EPT_W))
		w->allow &= ~NPT_W;
	if (!(pte & EPT_X))
		w->allow &= ~NPT_X;
	if (!leaf)
		return NPT_HW_TABLE;
	if (mt != EPT_MT_WB)
		w->allow |= NPT_DEVICE;
	return npt_hw_leaf(w);
}

/* ept and ept5 differ only in depth and width. */
#define EPT_COMMON                                                       \
	.pa_bits = 52, .canonical = 0, .stage2 = 1, .addr_shift = 0,      \
	/* 1G leaves need IA32_VMX_EPT_VPID_CAP bit 17 */                  \
	.leaf_levels = 0x7, .flags = EPT_FLAGS, .addr_mask = EPT_ADDR,    \
	/* present iff any of bits 2:0 (§29.3.2) */                        \
	.present_mask = EPT_RWX, .leaf_mask = EPT_LEAF, .leaf_xor = 0,    \
	.table_bits = EPT_RWX, .encode = ept_encode, .decode = ept_decode, \
	.priv = NULL, EPT_STATE, .family = NPT_FAMILY_X86, .hw_entry = ept_hw

const struct npt_format npt_fmt_ept = {
	.name = "ept",
	.description = "Intel EPT, 4-level (48-bit guest-physical, 4K/2M/1G leaves)",
	.levels = 4,
	.va_bits = 48,
	EPT_COMMON,
};

const struct npt_format npt_fmt_ept5 = {
	.name = "ept5",
	.description = "Intel EPT, 5-level (57-bit guest-physical, 4K/2M/1G leaves)",
	.levels = 5, /* needs IA32_VMX_EPT_VPID_CAP bit 7 */
	.va_bits = 57,
	EPT_COMMON,
};
