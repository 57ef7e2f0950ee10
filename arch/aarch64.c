/*
 * AArch64 VMSAv8-64, 4 KiB granule: the stage-1 format aarch64 (48-bit VA,
 * 4 levels, TTBR0_EL1 / TTBR1_EL1) and the stage-2 formats aarch64-s2
 * (40-bit IPA, start level 1, two concatenated root tables) and
 * aarch64-s2-48 (48-bit IPA, start level 0, one root table).
 *
 * References (Arm Architecture Reference Manual for A-profile, DDI 0487):
 *  - D8.3 "Translation table descriptor formats" (D5.3 in editions before
 *    J.a): D8.3.1 "Table descriptor", "Block descriptor", "Page descriptor"
 *    — bits 1:0 are 0b11 for a table (levels 0-2) or a page (level 3), 0b01
 *    for a block (levels 1-2 with 4 KiB granule); bit 0 = 0 is invalid.
 *  - D8.3.2 "Stage 1 attribute fields": AttrIndx[2:0] bits 4:2, NS bit 5,
 *    AP[2:1] bits 7:6, SH[1:0] bits 9:8, AF bit 10, nG bit 11, PXN bit 53,
 *    UXN/XN bit 54.
 *  - D8.3.3 "Stage 2 attribute fields": MemAttr[3:0] bits 5:2, S2AP[1:0]
 *    bits 7:6, SH[1:0] bits 9:8, AF bit 10, XN[1:0] bits 54:53 (FEAT_XNX;
 *    without it only bit 54 exists).
 *  - D8.4 "Memory access control" (AP / S2AP / XN tables), D8.5 "Memory
 *    region attributes" (MAIR_ELx encodings, stage-2 MemAttr with
 *    HCR_EL2.FWB = 0), D8.2.5 "Concatenated translation tables" (stage-2
 *    initial lookup), D17 VTCR_EL2 / MAIR_EL1 register descriptions.
 *
 * Arm numbers lookup levels from the root (level 0 = 512 GiB entries with
 * 4 KiB granule); npt numbers from the leaf: npt level L is Arm level 3 - L.
 *
 * Encoding choices, stage 1 (aarch64):
 *  - Every valid stage-1 entry is readable at EL1 (AP has no "no access" for
 *    EL1): NPT_R is required, a request without it is refused.
 *  - NPT_W -> AP[2] = 0 (read/write), else AP[2] = 1 (read-only).
 *    NPT_U -> AP[1] = 1 (EL0 access with the same read/write choice).
 *  - NPT_X: without NPT_U -> PXN = 0, UXN = 1 (EL1 code); with NPT_U ->
 *    UXN = 0, PXN = 1 (EL0 code, never executed by EL1, as Linux does; a
 *    location writable at EL0 is PXN anyway, D8.4.1.3). Without NPT_X both
 *    PXN and UXN are set. Decode reports X from UXN on EL0-accessible
 *    leaves, from PXN otherwise.
 *  - Memory type through AttrIndx with the MAIR layout NPT_ARM_MAIR (npt.h):
 *    Attr0 = 0xFF normal write-back RW-allocate (normal memory), Attr1 =
 *    0x44 normal non-cacheable (never written by npt; decodes as normal),
 *    Attr2 = 0x04 Device-nGnRE (NPT_DEVICE). Normal memory is inner
 *    shareable (SH = 0b11); device memory SH = 0b00 (ignored, device memory
 *    is always outer shareable, D8.5.2).
 *  - AF is set on every leaf (the caller need not pass NPT_A; decode reports
 *    it): hardware Access-flag management (FEAT_HAFDBS) is optional and
 *    QEMU 7.2 has none, so a leaf with AF = 0 would take an Access flag
 *    fault on first use.
 *  - NPT_G -> nG = 0; without it nG = 1 (ASID-tagged). NS = 0. NPT_D is
 *    not a flag here: dirty state is DBM + AP[2], which npt_harvest(NPT_D)
 *    arms and reads (see "State in leaves" below). A writable-clean leaf
 *    (DBM = 1, AP[2] = 1) decodes as writable.
 *  - Table descriptors are 0b11 | address, with APTable / XNTable / NSTable
 *    zero: permissions are decided at the leaf alone.
 *
 * Encoding choices, stage 2 (aarch64-s2, aarch64-s2-48):
 *  - S2AP[0] (bit 6) = NPT_R, S2AP[1] (bit 7) = NPT_W; XN[1:0] = 0b00 with
 *    NPT_X (executable at EL1 and EL0), 0b10 without (bit 54: execute-never
 *    with or without FEAT_XNX). Every combination is encodable, including
 *    write-only, execute-only and none (a valid entry that takes a
 *    Permission fault). Decode reports X only for XN = 0b00.
 *  - MemAttr = 0b1111 normal, outer and inner write-back (NPT_DEVICE: 0b0001
 *    Device-nGnRE), HCR_EL2.FWB = 0 encoding; SH = 0b11 for normal memory.
 *    Decode reports DEVICE for MemAttr[3:2] = 0b00 (any Device type).
 *  - AF set on every leaf as in stage 1. NPT_U and NPT_G are refused.
 */
#include <stddef.h>

#include "format.h"
#include "arch.h"

/* D8.3.1: descriptor type, bits 1:0. */
#define ARM_VALID      NPT_ARM_VALID /* valid */
#define ARM_TABLE_PAGE NPT_ARM_TABLE_PAGE /* 1: table (levels 0-2) / page (level 3); 0: block */
#define ARM_ADDR       NPT_ARM_ADDR  /* output address bits 47:12 (48-bit OA) */

/* D8.3.2: stage-1 lower and upper attributes. */
#define ARM_ATTRIDX_SHIFT 2             /* AttrIndx[2:0], bits 4:2 -> MAIR_ELx.Attr<n> */
#define ARM_ATTRIDX_MASK  (7ull << ARM_ATTRIDX_SHIFT)
#define ARM_NS            (1ull << 5)   /* non-secure (Secure state only) */
#define ARM_AP1           (1ull << 6)   /* AP[1]: EL0 access */
#define ARM_AP2           (1ull << 7)   /* AP[2]: read-only */
#define ARM_SH_SHIFT      8             /* SH[1:0], bits 9:8 */
#define ARM_SH_INNER      (3ull << ARM_SH_SHIFT) /* 0b11 inner shareable (D8.5.2) */
#define ARM_AF            (1ull << 10)  /* Access flag */
#define ARM_NG            (1ull << 11)  /* not global */
#define ARM_PXN           (1ull << 53)  /* privileged execute-never */
#define ARM_UXN           (1ull << 54)  /* unprivileged execute-never (XN at EL2/EL3) */
#define ARM_DBM           (1ull << 51)  /* Dirty Bit Modifier, stage 1 and 2 (FEAT_HAFDBS) */
#define ARM_SW_MASK       (0xfull << 55) /* bits 58:55: reserved for software use */
#define ARM_SW_LOG        (1ull << 55)  /* npt_log_start's mark */
/* Bits 58:51 are IGNORED in a table descriptor of either stage (D8.3.1,
 * "Table descriptor format"): bit 56 is npt's "the leaf table below is one full
 * run" hint (format.h, full_bit). */
#define ARM_FULL          (1ull << 56)

/* MAIR layout (D17 MAIR_EL1 / D8.5.3): the AttrIndx values npt writes. */
#define ARM_ATTR_NORMAL 0ull /* Attr0 = 0xFF: normal, inner/outer WB non-transient RW-allocate */
#define ARM_ATTR_NC     1ull /* Attr1 = 0x44: normal, inner/outer non-cacheable */
#define ARM_ATTR_DEVICE 2ull /* Attr2 = 0x04: Device-nGnRE */

/* D8.3.3: stage-2 attributes. */
#define ARM_S2_MEMATTR_SHIFT 2               /* MemAttr[3:0], bits 5:2 */
#define ARM_S2_MEMATTR_MASK  (0xfull << ARM_S2_MEMATTR_SHIFT)
#define ARM_S2_MEMATTR_WB    0xfull          /* normal, outer WB, inner WB (D8.5.5, FWB = 0) */
#define ARM_S2_MEMATTR_DEV   0x1ull          /* Device-nGnRE (MemAttr[3:2] = 0b00, [1:0] = 0b01) */
#define ARM_S2AP_R           (1ull << 6)     /* S2AP[0]: read */
#define ARM_S2AP_W           (1ull << 7)     /* S2AP[1]: write */
#define ARM_S2_XN_SHIFT      53              /* XN[1:0], bits 54:53 (D8.4.3) */
#define ARM_S2_XN_MASK       (3ull << ARM_S2_XN_SHIFT)
#define ARM_S2_XN_NONE       (2ull << ARM_S2_XN_SHIFT) /* 0b10: execute-never at EL1 and EL0 */

#define ARM_TABLE (ARM_VALID | ARM_TABLE_PAGE)

#define ARM_FLAGS_S1 (NPT_R | NPT_W | NPT_X | NPT_U | NPT_DEVICE | NPT_A | NPT_G)
#define ARM_FLAGS_S2 (NPT_R | NPT_W | NPT_X | NPT_DEVICE | NPT_A)

/* Descriptor type of a leaf at npt level: page (0b11) at level 0, block
 * (0b01) above (D8.3.1). */
static uint64_t arm_leaf_type(unsigned level)
{
	return level == 0 ? ARM_VALID | ARM_TABLE_PAGE : ARM_VALID;
}

static int arm_s1_encode(const struct npt_format *f, unsigned level, unsigned flags, uint64_t *bits)
{
	uint64_t b = arm_leaf_type(level) | ARM_AF;

	if (!npt_arch_leaf_level(f, level) || (flags & ~f->flags))
		return NPT_ERR_FLAGS;
	/* D8.4.1: a valid entry is always readable at EL1. */
	if (!(flags & NPT_R))
		return NPT_ERR_FLAGS;

	if (!(flags & NPT_W))
		b |= ARM_AP2;
	if (flags & NPT_U)
		b |= ARM_AP1;
	/* D8.4.1.3: PXN / UXN. */
	if (!(flags & NPT_X))
		b |= ARM_PXN | ARM_UXN;
	else if (flags & NPT_U)
		b |= ARM_PXN;
	else
		b |= ARM_UXN;
	if (flags & NPT_DEVICE)
		b |= ARM_ATTR_DEVICE << ARM_ATTRIDX_SHIFT;
	else
		b |= (ARM_ATTR_NORMAL << ARM_ATTRIDX_SHIFT) | ARM_SH_INNER;
	if (!(flags & NPT_G))
		b |= ARM_NG;
	*bits = b;
	return 0;
}

static unsigned arm_s1_decode(const struct npt_format *f, unsigned level, uint64_t pte)
{
	unsigned flags = NPT_R; /* valid implies readable at EL1 */

	(void)f;
	(void)level; /* same attribute bits for blocks and pages */
	/* DBM = 1 with AP[2] = 1 is writable-clean: writable (D8.4.6). */
	if (!(pte & ARM_AP2) || (pte & ARM_DBM))
		flags |= NPT_W;
	if (pte & ARM_AP1)
		flags |= NPT_U;
	if (!(pte & ((pte & ARM_AP1) ? ARM_UXN : ARM_PXN)))
		flags |= NPT_X;
	if (((pte & ARM_ATTRIDX_MASK) >> ARM_ATTRIDX_SHIFT) == ARM_ATTR_DEVICE)
		flags |= NPT_DEVICE;
	if (pte & ARM_AF)
		flags |= NPT_A;
	if (!(pte & ARM_NG))
		flags |= NPT_G;
	return flags;
}

static int arm_s2_encode(const struct npt_format *f, unsigned level, unsigned flags, uint64_t *bits)
{
	uint64_t b = arm_leaf_type(level) | ARM_AF;

	/* Unknown flags, and NPT_U / NPT_G (stage 2: no such concept). */
	if (!npt_arch_leaf_level(f, level) || (flags & ~f->flags))
		return NPT_ERR_FLAGS;

	if (flags & NPT_R)
		b |= ARM_S2AP_R;
	if (flags & NPT_W)
		b |= ARM_S2AP_W;
	if (!(flags & NPT_X))
		b |= ARM_S2_XN_NONE;
	if (flags & NPT_DEVICE)
		b |= ARM_S2_MEMATTR_DEV << ARM_S2_MEMATTR_SHIFT;
	else
		b |= (ARM_S2_MEMATTR_WB << ARM_S2_MEMATTR_SHIFT) | ARM_SH_INNER;
	*bits = b;
	return 0;
}

static unsigned arm_s2_decode(const struct npt_format *f, unsigned level, uint64_t pte)
{
	unsigned flags = 0;

	(void)f;
	(void)level;
	if (pte & ARM_S2AP_R)
		flags |= NPT_R;
	/* DBM = 1 with S2AP[1] = 0 is writable-clean: writable (D8.4.6). */
	if (pte & (ARM_S2AP_W | ARM_DBM))
		flags |= NPT_W;
	if (!(pte & ARM_S2_XN_MASK))
		flags |= NPT_X;
	/* MemAttr[3:2] = 0b00: Device memory of any type (D8.5.5). */
	if (!(pte & (0xcull << ARM_S2_MEMATTR_SHIFT)))
		flags |= NPT_DEVICE;
	if (pte & ARM_AF)
		flags |= NPT_A;
	return flags;
}

/* The hardware's walk (npt_translate_2d).
 *  - Descriptor types (D8.3.1): bit 0 clear is invalid; 0b01 at level 3 (npt
 *    level 0) and a block where the granule allows none (level 0 with 4
 *    KiB, npt level 3) are invalid too: translation faults.
 *  - Output addresses: 48-bit descriptors hold bits 47:12 only, so with IPS
 *    = 48 none is too wide (no Address size fault); bits below a block's
 *    size are RES0 and ignored, as QEMU does.
 *  - Stage 1 (D8.4.1, D8.4.2): table descriptors take rights away below
 *    them: APTable[0] (bit 61) EL0 access, APTable[1] (bit 62) writes,
 *    UXNTable (bit 60) and PXNTable (bit 59) execution (HPD = 0). At the
 *    leaf AP[2] forbids writes, AP[1] lets EL0 in, UXN / PXN forbid
 *    execution at EL0 / EL1, and EL1 never executes what EL0 may write.
 *    PAN = 0, WXN = 0.
 *  - Stage 2 (D8.4.3): table descriptors carry no rights; S2AP[0] reads,
 *    S2AP[1] writes, XN[1:0] with FEAT_XNX: 0b00 executable, 0b01 not at
 *    EL1, 0b10 never, 0b11 not at EL0. A stage-1 walk into Device memory is
 *    a permission fault (HCR_EL2.PTW = 1, as KVM runs guests).
 *  - AF = 0 is an Access flag fault (D8.4.5: no FEAT_HAFDBS), taken before
 *    a permission fault; DBM is ignored (a writable-clean leaf is read-only
 *    to a write). */
#define ARM_PXNTABLE       (1ull << 59)
#define ARM_UXNTABLE       (1ull << 60)
#define ARM_APTABLE_NO_EL0 (1ull << 61)
#define ARM_APTABLE_RO     (1ull << 62)

static int arm_hw_type(const struct npt_format *f, unsigned level, uint64_t pte)
{
	if (!(pte & ARM_VALID))
		return NPT_ERR_NOT_MAPPED;
	if (level == 0)
		return (pte & ARM_TABLE_PAGE) ? NPT_HW_LEAF : NPT_ERR_NOT_MAPPED;
	if (pte & ARM_TABLE_PAGE)
		return NPT_HW_TABLE;
	return npt_arch_leaf_level(f, level) ? NPT_HW_LEAF : NPT_ERR_NOT_MAPPED;
}

static int arm_s1_hw(const struct npt_format *f, unsigned level, uint64_t pte, struct npt_hw *w)
{
	const int user = (w->access & NPT_U) != 0;
	const int type = arm_hw_type(f, level, pte);

	if (type != NPT_HW_LEAF) {
		if (type != NPT_HW_TABLE)
			return type;
		if (pte & ARM_APTABLE_NO_EL0)
			w->allow &= ~NPT_U;
		if (pte & ARM_APTABLE_RO)
			w->allow &= ~NPT_W;
		if (pte & (user ? ARM_UXNTABLE : ARM_PXNTABLE))
			w->allow &= ~NPT_X;
		return NPT_HW_TABLE;
	}
	/* NPT_ARM_MAIR: Attr0, Attr1 normal, Attr2..7 device (0x04, 0x00). */
	if ((pte & ARM_ATTRIDX_MASK) >> ARM_ATTRIDX_SHIFT >= ARM_ATTR_DEVICE)
		w->allow |= NPT_DEVICE;
	if (!(pte & ARM_AP1))
		w->allow &= ~NPT_U;
	if (pte & ARM_AP2)
		w->allow &= ~NPT_W;
	if (user && !(w->allow & NPT_U))
		w->allow &= ~(NPT_R | NPT_W | NPT_X);
	else if (pte & (user ? ARM_UXN : ARM_PXN))
		w->allow &= ~NPT_X;
	else if (!user && (w->allow & (NPT_U | NPT_W)) == (NPT_U | NPT_W))
		w->allow &= ~NPT_X;
	if (!(pte & ARM_AF))
		return NPT_ERR_ACCESSED;
	return npt_hw_leaf(w);
}

static int arm_s2_hw(const struct npt_format *f, unsigned level, uint64_t pte, struct npt_hw *w)
{
	const int type = arm_hw_type(f, level, pte);
	const uint64_t xn = (pte & ARM_S2_XN_MASK) >> ARM_S2_XN_SHIFT;

	if (type != NPT_HW_LEAF)
		return type;
	if (!(pte & (0xcull << ARM_S2_MEMATTR_SHIFT)))
		w->allow |= NPT_DEVICE;
	if (!(pte & ARM_S2AP_R))
		w->allow &= ~NPT_R;
	if (!(pte & ARM_S2AP_W))
		w->allow &= ~NPT_W;
	if (xn == 2 || xn == ((w->access & NPT_U) ? 3u : 1u))
		w->allow &= ~NPT_X;
	if (!(pte & ARM_AF))
		return NPT_ERR_ACCESSED;
	if (w->walk && (w->allow & NPT_DEVICE))
		return NPT_ERR_PERM;
	return npt_hw_leaf(w);
}

/* Shared data of every AArch64 format: valid bit, bit 1 clear above level 0
 * is a block (leaf_xor flips it so the leaf test is "bit 1 == 0"). */
/* State in leaves (npt_harvest, npt_log_*, break-before-make):
 *  - AF, bit 10: set by hardware on access with FEAT_HAFDBS and TCR_ELx.HA /
 *    VTCR_EL2.HA = 1, otherwise an access through AF = 0 takes an Access
 *    flag fault (D8.4.5 "Hardware management of the Access flag"). npt
 *    presets it.
 *  - Dirty state (D8.4.6 "Hardware management of the dirty state"; D8.5.2.1
 *    in later editions): a leaf with DBM = 1 and AP[2] = 1 (stage 1) /
 *    S2AP[1] = 0 (stage 2) is writable-clean; with TCR_ELx.HD / VTCR_EL2.HD
 *    = 1 the first write makes it writable-dirty by clearing AP[2] / setting
 *    S2AP[1]. There is no dirty bit: npt_harvest(NPT_D) reads the write
 *    permission of DBM leaves and arms DBM on the other writable leaves.
 *  - Bits 58:55 are reserved for software use in block and page
 *    descriptors of both stages (D8.3.2, D8.3.3).
 *  - Break-before-make (D8.14.1 "Using break-before-make when updating
 *    translation table entries", rule R_WHZWS): needed unless only the
 *    access permissions, execute-never bits, AF, DBM or software bits
 *    change. nG stays out of the free set (Linux and google/aarch64-paging
 *    break for it too). */
#define ARM_S1_BBM_FREE (ARM_AP1 | ARM_AP2 | ARM_PXN | ARM_UXN | ARM_AF | ARM_DBM | ARM_SW_MASK)
#define ARM_S2_BBM_FREE (ARM_S2AP_R | ARM_S2AP_W | ARM_S2_XN_MASK | ARM_AF | ARM_DBM | ARM_SW_MASK)

#define ARM_COMMON                                \
	.accessed_bit = ARM_AF,                   \
	.dbm_bit = ARM_DBM,                       \
	.sw_log_bit = ARM_SW_LOG,                 \
	.full_bit = ARM_FULL,                     \
	.ad_preset = ARM_AF,                      \
	.bbm = 1,                                 \
	.pa_bits = 48,                            \
	.addr_shift = 0,                          \
	.leaf_levels = 0x7, /* pages, 2 MiB and 1 GiB blocks */ \
	.addr_mask = ARM_ADDR,                    \
	.present_mask = ARM_VALID,                \
	.leaf_mask = ARM_TABLE_PAGE,              \
	.leaf_xor = ARM_TABLE_PAGE,               \
	.table_bits = ARM_TABLE,                  \
	.family = NPT_FAMILY_ARM,                 \
	.priv = NULL

const struct npt_format npt_fmt_aarch64 = {
	.name = "aarch64",
	.description = "AArch64 stage 1, 4K granule (48-bit VA, 4 levels, 4K/2M/1G leaves)",
	.levels = 4,
	.va_bits = 48,
	/* One table serves TTBR0 or TTBR1: the engine indexes VA bits 47:0 with
	 * bits 63:48 a sign extension, which is what TTBR0 (all zeros) and
	 * TTBR1 (all ones) regions with T0SZ = T1SZ = 16 accept. */
	.canonical = 1,
	.stage2 = 0,
	.flags = ARM_FLAGS_S1,
	.encode = arm_s1_encode,
	.decode = arm_s1_decode,
	.w_clear = ARM_AP2,
	.bbm_free = ARM_S1_BBM_FREE,
	.hw_entry = arm_s1_hw,
	.hw_sign_bit = 48,
	ARM_COMMON,
};

/* The stage-2 formats differ only in IPA width and start level. */
#define ARM_S2_FORMAT(NAME, DESC, LEVELS, VA_BITS)                               \
	{                                                                       \
		.name = NAME, .description = DESC, .levels = LEVELS,            \
		.va_bits = VA_BITS, .canonical = 0, .stage2 = 1,                \
		.flags = ARM_FLAGS_S2, .encode = arm_s2_encode,                 \
		.decode = arm_s2_decode, .w_set = ARM_S2AP_W,                   \
		.bbm_free = ARM_S2_BBM_FREE, .hw_entry = arm_s2_hw, ARM_COMMON, \
	}

/* Arm levels 1-3; root 2^(40-30) = 1024 entries = 2 frames. */
const struct npt_format npt_fmt_aarch64_s2 = ARM_S2_FORMAT("aarch64-s2",
	"AArch64 stage 2, 4K granule (40-bit IPA, start level 1, 2 concatenated root tables)",
	3, 40);

/* Arm levels 0-3; root 512 entries. */
const struct npt_format npt_fmt_aarch64_s2_48 = ARM_S2_FORMAT("aarch64-s2-48",
	"AArch64 stage 2, 4K granule (48-bit IPA, start level 0)", 4, 48);

/* ---- register values ------------------------------------------------------ */

/* VTCR_EL2 (D17.2 "VTCR_EL2, Virtualization Translation Control Register"). */
#define VTCR_T0SZ_SHIFT  0             /* T0SZ, bits 5:0: IPA size = 64 - T0SZ */
#define VTCR_SL0_SHIFT   6             /* SL0, bits 7:6: start level (4K: 0b00 L2, 0b01 L1, 0b10 L0) */
#define VTCR_IRGN0_WBWA  (1ull << 8)   /* IRGN0 = 0b01: walks inner write-back RW-allocate */
#define VTCR_ORGN0_WBWA  (1ull << 10)  /* ORGN0 = 0b01: walks outer write-back RW-allocate */
#define VTCR_SH0_INNER   (3ull << 12)  /* SH0 = 0b11: walks inner shareable */
#define VTCR_TG0_4K      (0ull << 14)  /* TG0 = 0b00: 4 KiB granule */
#define VTCR_PS_SHIFT    16            /* PS, bits 18:16: output (physical) address size */
#define VTCR_RES1        (1ull << 31)

/* PS / PARange encodings (D17 ID_AA64MMFR0_EL1.PARange): 32, 36, 40, 42, 44, 48, 52 bits. */
static uint64_t arm_ps(unsigned pa_bits)
{
	static const unsigned char widths[] = { 32, 36, 40, 42, 44, 48, 52 };
	uint64_t i;

	for (i = 0; i + 1 < sizeof widths && widths[i] < pa_bits; i++)
		;
	return i;
}

uint64_t npt_arm_vtcr(const struct npt_table *t)
{
	const struct npt_format *f;
	unsigned start; /* Arm start level */

	if (!t)
		return 0;
	f = npt_table_format(t);
	if (f != &npt_fmt_aarch64_s2 && f != &npt_fmt_aarch64_s2_48)
		return 0;
	start = 4u - f->levels; /* npt root level levels-1 is Arm level 4 - levels */
	return ((uint64_t)(64u - f->va_bits) << VTCR_T0SZ_SHIFT) |
	       ((uint64_t)(2u - start) << VTCR_SL0_SHIFT) | /* D17.2: SL0 for TG0 = 4K */
	       VTCR_IRGN0_WBWA | VTCR_ORGN0_WBWA | VTCR_SH0_INNER | VTCR_TG0_4K |
	       (arm_ps(f->pa_bits) << VTCR_PS_SHIFT) | VTCR_RES1;
}

/* VTTBR_EL2 (D17.2): BADDR = root (aligned to the concatenated root's size,
 * which the engine's alloc_contig guarantees), VMID in bits 63:48 (8-bit
 * VMIDs use bits 55:48). CnP = 0. */
uint64_t npt_arm_vttbr(const struct npt_table *t, unsigned vmid)
{
	const struct npt_format *f;

	if (!t)
		return 0;
	f = npt_table_format(t);
	if (f != &npt_fmt_aarch64_s2 && f != &npt_fmt_aarch64_s2_48)
		return 0;
	return ((uint64_t)(vmid & 0xffffu) << 48) | (npt_root(t) & ARM_ADDR);
}

/* TCR_EL1 (D17.2 "TCR_EL1") for an aarch64 table: T0SZ = T1SZ = 16, 4 KiB
 * granules (TG0 = 0b00, TG1 = 0b10), walks inner shareable write-back, IPS
 * from the format's 48-bit output size, 8-bit ASID (AS = 0), top-byte ignore
 * off, both halves enabled. Load npt_root() into TTBR0_EL1 and TTBR1_EL1:
 * TTBR0 then translates the low half of npt's canonical input space and
 * TTBR1 the high half, each indexing VA bits 47:39 at level 0 exactly as
 * npt does. Set EPD1 (bit 23) to use the table for the low half only.
 * Hardware picks the TTBR by VA bits 63:48 all-zero / all-one, not by
 * bit 47: a VA npt calls non-canonical (e.g. 0x0000800000000000 through
 * TTBR0) reaches a root entry too, aliasing the other half's mapping;
 * npt's own canonical addresses translate exactly as npt says (tests/
 * test_qemu probes both halves). */
uint64_t npt_arm_tcr(const struct npt_table *t)
{
	if (!t || npt_table_format(t) != &npt_fmt_aarch64)
		return 0;
	return (16ull << 0) |                     /* T0SZ */
	       (1ull << 8) | (1ull << 10) |       /* IRGN0, ORGN0 = WBWA */
	       (3ull << 12) |                     /* SH0 inner shareable */
	       (0ull << 14) |                     /* TG0 = 4 KiB */
	       (16ull << 16) |                    /* T1SZ */
	       (1ull << 24) | (1ull << 26) |      /* IRGN1, ORGN1 = WBWA */
	       (3ull << 28) |                     /* SH1 inner shareable */
	       (2ull << 30) |                     /* TG1 = 4 KiB */
	       (arm_ps(npt_fmt_aarch64.pa_bits) << 32); /* IPS */
}
