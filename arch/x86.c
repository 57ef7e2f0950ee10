/*
 * x86-64 paging: the stage-1 formats x86_64 (4-level) and x86_64-la57
 * (5-level), and AMD nested paging (npt), which is the same 4-level entry
 * format walked with guest-physical input addresses. One encode/decode serves
 * all three; npt differs only by data (stage2 = 1, and a flag set without U
 * and G).
 *
 * References:
 *  - Intel SDM vol. 3A §4.5 "4-Level Paging and 5-Level Paging",
 *    Table 4-14 (PML5E), Table 4-15 (PML4E), Tables 4-16/4-17 (PDPTE: 1-GByte
 *    page / page directory), Tables 4-18/4-19 (PDE: 2-MByte page / page
 *    table), Table 4-20 (PTE: 4-KByte page).
 *  - Intel SDM vol. 3A §4.6.1 "Determination of Access Rights" (CET
 *    shadow-stack pages), §4.9 "Paging and Memory Typing" and §12.12 "Page
 *    Attribute Table (PAT)" (§11.12 in older editions) for the memory type.
 *  - AMD APM vol. 2 §5.3 "Long-Mode Page Translation", §15.25 "Nested
 *    Paging" (§15.25.5 "Nested Table Walk").
 *
 * Encoding choices (leaf):
 *  - Present implies readable on x86: NPT_R is required, a request without
 *    it is refused (there is no way to encode "present, not readable").
 *  - NPT_W -> R/W; no NPT_X -> XD/NX (bit 63, meaningful only with
 *    EFER.NXE = 1, otherwise it is a reserved bit: the caller enables NXE).
 *  - NPT_U -> U/S (stage 1 only). npt sets U/S on every entry instead:
 *    nested walks are user accesses (APM §15.25.5).
 *  - NPT_DEVICE -> PCD|PWT, PAT index 3 = UC with the power-up PAT
 *    (PA0 WB, PA1 WT, PA2 UC-, PA3 UC). Normal memory -> index 0 = WB.
 *    The PAT bit (bit 7 in a 4 KiB PTE, bit 12 in a 2M/1G leaf) is never set.
 *  - NPT_A / NPT_D preset A / D; NPT_G -> G (stage 1 only).
 *  - NPT_D without NPT_W is refused on the stage-1 formats: with CR4.CET = 1
 *    a leaf with R/W = 0 and D = 1 (reached through writable tables) is a
 *    shadow-stack page (SDM §4.6.1), which shadow-stack instructions may
 *    write — not the read-only page the caller asked for. Hardware never sets
 *    D on a read-only leaf, so decode never sees it on entries npt wrote.
 *    npt (nested) tables have no such meaning and accept it.
 *  - Table entries are P|R/W|U/S: permissions are decided at the leaf alone.
 */
#include <stddef.h>

#include "format.h"
#include "arch.h"

/* SDM vol. 3A Tables 4-14..4-20; APM vol. 2 §5.3.3 / §5.4.1 (same layout). */
#define X86_P    NPT_X86_P    /* P: present */
#define X86_RW   (1ull << 1)  /* R/W: writes allowed */
#define X86_US   (1ull << 2)  /* U/S: user-mode accesses allowed */
#define X86_PWT  (1ull << 3)  /* PWT: page-level write-through (PAT index bit 0) */
#define X86_PCD  (1ull << 4)  /* PCD: page-level cache disable (PAT index bit 1) */
#define X86_A    (1ull << 5)  /* A: accessed */
#define X86_D    (1ull << 6)  /* D: dirty (leaves only) */
#define X86_PS   NPT_X86_PS   /* PS: page size, leaf at levels 1, 2; PAT in a 4 KiB PTE */
#define X86_G    (1ull << 8)  /* G: global (leaves only) */
#define X86_NX   (1ull << 63) /* XD / NX: execute disable (EFER.NXE = 1) */
/* Bits 11:9 are ignored in every leaf (SDM Tables 4-16, 4-18, 4-20; "AVL",
 * available to software, in APM vol. 2 §5.4.1): bit 11 marks a leaf
 * npt_log_start write-protected. */
#define X86_SW_LOG (1ull << 11)
/* Bits 62:52 are ignored in an entry that references a table (SDM Tables
 * 4-15, 4-17, 4-19; "available" in APM vol. 2 §5.4.1): bit 52 is npt's
 * "the leaf table below is one
 * full run" hint (format.h, full_bit). */
#define X86_FULL (1ull << 52)
#define X86_ADDR NPT_X86_ADDR /* address bits 51:12 (M-1:12, M <= 52) */

#define X86_TABLE (X86_P | X86_RW | X86_US)

#define X86_FLAGS_S1 (NPT_R | NPT_W | NPT_X | NPT_U | NPT_DEVICE | NPT_A | NPT_D | NPT_G)
#define X86_FLAGS_S2 (NPT_R | NPT_W | NPT_X | NPT_DEVICE | NPT_A | NPT_D)

static int x86_encode(const struct npt_format *f, unsigned level, unsigned flags, uint64_t *bits)
{
	uint64_t b = X86_P;

	if (!npt_arch_leaf_level(f, level))
		return NPT_ERR_FLAGS;
	/* Unknown flags, and U / G on npt (f->flags lacks them). */
	if (flags & ~f->flags)
		return NPT_ERR_FLAGS;
	/* P = 1 always allows reads (SDM §4.6.1): "not readable" cannot be encoded. */
	if (!(flags & NPT_R))
		return NPT_ERR_FLAGS;
	/* R/W = 0, D = 1 is a shadow-stack page under CET (SDM §4.6.1). */
	if (!f->stage2 && (flags & (NPT_W | NPT_D)) == NPT_D)
		return NPT_ERR_FLAGS;

	if (flags & NPT_W)
		b |= X86_RW;
	if (!(flags & NPT_X))
		b |= X86_NX;
	/* Nested walks are user accesses: U/S on every npt entry (APM §15.25.5). */
	if ((flags & NPT_U) || f->stage2)
		b |= X86_US;
	/* PAT index 3 (PCD = 1, PWT = 1) = UC with the power-up PAT (SDM §12.12.3,
	 * §12.12.4; §11.12 in older editions). */
	if (flags & NPT_DEVICE)
		b |= X86_PCD | X86_PWT;
	if (flags & NPT_A)
		b |= X86_A;
	if (flags & NPT_D)
		b |= X86_D;
	if (flags & NPT_G)
		b |= X86_G;
	/* PS = 1 marks a 2 MiB / 1 GiB leaf (Tables 4-16, 4-18); at level 0 bit 7
	 * is PAT (Table 4-20) and stays 0. */
	if (level > 0)
		b |= X86_PS;
	*bits = b;
	return 0;
}

static unsigned x86_decode(const struct npt_format *f, unsigned level, uint64_t pte)
{
	unsigned flags = NPT_R; /* present implies readable */

	(void)level; /* A, D, G, memory type and NX sit in the same bits at every level */
	if (pte & X86_RW)
		flags |= NPT_W;
	if (!(pte & X86_NX))
		flags |= NPT_X;
	if (pte & X86_US)
		flags |= NPT_U;
	/* Anything but PAT index 0/4 (WB with the default PAT) is not normal
	 * write-back: WT, UC-, UC all read back as DEVICE. */
	if (pte & (X86_PCD | X86_PWT))
		flags |= NPT_DEVICE;
	if (pte & X86_A)
		flags |= NPT_A;
	if (pte & X86_D)
		flags |= NPT_D;
	if (pte & X86_G)
		flags |= NPT_G;
	/* npt: U/S is npt's own (always set) and G is ignored in nested tables —
	 * neither is reported (f->flags lacks both). */
	return flags & f->flags;
}

/* The hardware's walk (npt_translate_2d).
 *  - Reserved bits (SDM vol. 3A §4.5.4, Tables 4-14..4-20; APM vol. 2
 *    §5.3.3, §5.4.1): address bits 51:MAXPHYADDR (the format's pa_bits) in
 *    every entry, PS in a PML5E / PML4E (levels 4, 3), bits 29:13 of a
 *    1 GiB and 20:13 of a 2 MiB leaf (between PAT, bit 12, and the
 *    address). Bit 63 is XD (EFER.NXE = 1), bits 62:52 are ignored
 *    (CR4.PKE = 0). A reserved bit ends the walk (#PF with RSVD = 1, §4.7).
 *  - Access rights (SDM §4.6.1, APM §5.6): R/W and U/S of every level
 *    ANDed, XD ORed; CR0.WP = 1, so a supervisor write needs R/W too;
 *    SMEP = SMAP = 0; user mode needs U/S at every level. Nested (npt)
 *    walks are user accesses (APM §15.25.5).
 *  - Memory type: PCD or PWT, with the power-up PAT, is not write-back
 *    (as decode reads it). */
static int x86_hw(const struct npt_format *f, unsigned level, uint64_t pte, struct npt_hw *w)
{
	const int leaf = level == 0 || (pte & X86_PS);
	uint64_t rsvd = X86_ADDR & ~((1ull << f->pa_bits) - 1u);

	if (!(pte & X86_P))
		return NPT_ERR_NOT_MAPPED;
	if (level >= 3)
		rsvd |= X86_PS;
	else if (leaf && level)
		rsvd |= npt_hw_low_bits(level, 13);
	if (pte & rsvd)
		return NPT_ERR_RESERVED;
	if (!(pte & X86_RW))
		w->allow &= ~NPT_W;
	if (pte & X86_NX)
		w->allow &= ~NPT_X;
	if (!(pte & X86_US))
		w->allow &= ~NPT_U;
	if (!leaf)
		return NPT_HW_TABLE;
	if (pte & (X86_PCD | X86_PWT))
		w->allow |= NPT_DEVICE;
	if (((w->access & NPT_U) || f->stage2) && !(w->allow & NPT_U))
		w->allow &= ~(NPT_R | NPT_W | NPT_X);
	return npt_hw_leaf(w);
}

/* The four x86 formats differ only in depth, width and whether the input is
 * a canonical linear address or a guest-physical one. */
#define X86_FORMAT(NAME, DESC, LEVELS, VA_BITS, STAGE2)                         \
	{                                                                       \
		.name = NAME, .description = DESC, .levels = LEVELS,            \
		.va_bits = VA_BITS, .pa_bits = 52, .canonical = !(STAGE2),      \
		.stage2 = STAGE2, .addr_shift = 0,                              \
		/* 4K, 2M, 1G (1G needs CPUID.80000001H:EDX.Page1GB) */          \
		.leaf_levels = 0x7,                                             \
		.flags = (STAGE2) ? X86_FLAGS_S2 : X86_FLAGS_S1,                \
		.addr_mask = X86_ADDR, .present_mask = X86_P,                   \
		.leaf_mask = X86_PS, .leaf_xor = 0, .table_bits = X86_TABLE,    \
		.encode = x86_encode, .decode = x86_decode, .priv = NULL,       \
		/* A / D: set by the processor on access / write (SDM §4.8  \
		 * "Accessed and Dirty Flags"; APM vol. 2 §5.4.1, nested    \
		 * tables alike); R/W grants writes (SDM §4.6.1). No BBM:   \
		 * the SDM allows a changed entry to be used old or new    \
		 * (§4.10.4.2) and npt never changes a page size together  \
		 * with a frame or rights. */                              \
		.accessed_bit = X86_A, .dirty_bit = X86_D, .w_set = X86_RW,   \
		.sw_log_bit = X86_SW_LOG, .full_bit = X86_FULL,               \
		.family = NPT_FAMILY_X86, .hw_entry = x86_hw,                 \
	}

const struct npt_format npt_fmt_x86_64 = X86_FORMAT("x86_64",
	"x86-64 4-level paging (48-bit canonical VA, 4K/2M/1G leaves)", 4, 48, 0);

const struct npt_format npt_fmt_x86_64_la57 = X86_FORMAT("x86_64-la57",
	"x86-64 5-level paging, CR4.LA57 (57-bit canonical VA, 4K/2M/1G leaves)", 5, 57, 0);

/* Guest-physical input: zero-extended, not sign-extended. */
const struct npt_format npt_fmt_npt = X86_FORMAT("npt",
	"AMD nested paging, nCR3 (4-level, 48-bit guest-physical, 4K/2M/1G leaves)", 4, 48, 1);

/* A host running with CR4.LA57 walks nested tables with 5 levels too
 * (APM vol. 2 §15.25.3: the nested walk uses the host's paging mode). */
const struct npt_format npt_fmt_npt5 = X86_FORMAT("npt5",
	"AMD nested paging on a 5-level host (57-bit guest-physical, 4K/2M/1G leaves)", 5, 57, 1);

/* ---- register values ------------------------------------------------------ */

/* CR3 (SDM §4.5.2, Table 4-12 without PCID) / nCR3 (APM §15.25.3): the root's
 * address in bits 51:12; PWT = PCD = 0 (the root is read write-back); no
 * PCID. 0 for a NULL table or a format that is not x86_64, x86_64-la57 or
 * npt. */
uint64_t npt_x86_cr3(const struct npt_table *t)
{
	const struct npt_format *f;

	if (!t)
		return 0;
	f = npt_table_format(t);
	if (f != &npt_fmt_x86_64 && f != &npt_fmt_x86_64_la57 && f != &npt_fmt_npt &&
	    f != &npt_fmt_npt5)
		return 0;
	return npt_root(t) & X86_ADDR;
}

/* EPTP, SDM vol. 3C §25.6.11 "Extended-Page-Table Pointer (EPTP)" (§24.6.11
 * in older editions). */
#define EPTP_MT_WB      6ull        /* bits 2:0: memory type of the EPT structures, WB */
#define EPTP_WALK_SHIFT 3           /* bits 5:3: page-walk length minus 1 */
#define EPTP_AD         (1ull << 6) /* bit 6: enable EPT accessed/dirty flags */

/* 0 for a NULL table or a format other than ept / ept5. */
uint64_t npt_ept_pointer(const struct npt_table *t, int ad)
{
	const struct npt_format *f;
	uint64_t eptp;

	if (!t)
		return 0;
	f = npt_table_format(t);
	if (f != &npt_fmt_ept && f != &npt_fmt_ept5)
		return 0;
	eptp = EPTP_MT_WB | ((uint64_t)(f->levels - 1) << EPTP_WALK_SHIFT);
	if (ad)
		eptp |= EPTP_AD;
	return eptp | (npt_root(t) & X86_ADDR);
}
