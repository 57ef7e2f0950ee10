/*
 * LoongArch64 page tables, 4 KiB pages: the format loongarch64 (48-bit VA,
 * 4 levels: PGD -> Dir3, Dir2, Dir1, PT), walked by the LDDIR / LDPTE
 * instructions of a TLB refill handler (or a hardware walker) as CSR.PWCL /
 * CSR.PWCH describe it.
 *
 * References (LoongArch Reference Manual, Volume 1: Basic Architecture,
 * v1.10):
 *  - §5.4 "Page Table Mapping Storage Management": §5.4.1 TLB entry fields
 *    (V, D, PLV, MAT, G, PPN, NR, NX, RPLV), §5.4.2 TLB-based translation
 *    (NR / NX / RPLV checks, D = 0 store -> page modification exception),
 *    §5.4.5 "Multi-level Page Table Structure Supported by Page Walking":
 *    a directory entry that is not a huge page holds the next table's
 *    physical address and nothing else; a huge-page entry in a directory
 *    has bit 6 (H) set and keeps its G bit in bit 12.
 *  - §7.5.3 / §7.5.4 "TLBELO0 / TLBELO1" (and §7.5.14 TLBRELO): V bit 0,
 *    D 1, PLV 3:2, MAT 5:4, G 6, PPN PALEN-1:12, NR 61, NX 62, RPLV 63.
 *  - §5.1 "Memory Access Types": MAT 0 = SUC (strongly-ordered uncached),
 *    1 = CC (coherent cached), 2 = WUC (weakly-ordered uncached).
 *  - §7.5.6 "PWCL" and §7.5.7 "PWCH" (page walk controller, lower / higher
 *    half): PTbase 4:0, PTwidth 9:5, Dir1_base 14:10, Dir1_width 19:15,
 *    Dir2_base 24:20, Dir2_width 29:25, PTEWidth 31:30; Dir3_base 5:0,
 *    Dir3_width 11:6, Dir4_base 17:12, Dir4_width 23:18.
 *  - §4.2.5.1 LDDIR, §4.2.5.2 LDPTE: how the refill walk reads them.
 *
 * Encoding choices (leaf):
 *  - V (bit 0) is set on every leaf, so no leaf is ever 0 and npt's walker
 *    (present_mask = ~0: any non-zero entry is present) tells leaves and
 *    directory entries from empty slots. Directory entries are the next
 *    table's physical address alone (table_bits = 0); npt never hands out
 *    a frame at physical address 0 as a table.
 *  - NPT_R -> NR = 0 (else NR = 1), NPT_X -> NX = 0 (else NX = 1), NPT_W ->
 *    D = 1: LoongArch has no separate write-enable in hardware; a store to a
 *    page with D = 0 raises a page modification exception. Every R/W/X
 *    combination is encodable (NR / NX need the implementation's RI/XI
 *    support, CPUCFG.2).
 *  - NPT_U -> PLV = 3 (reachable from every privilege level, RPLV = 0);
 *    otherwise PLV = 0 (kernel only). RPLV is never set.
 *  - NPT_DEVICE -> MAT = SUC (0); normal memory MAT = CC (1). WUC is never
 *    written and decodes as neither.
 *  - NPT_G -> G: bit 6 in a 4 KiB PTE, bit 12 in a huge leaf (bit 6 is H
 *    there, set on every level-1 / level-2 leaf). Bit 12 lies inside the PPN
 *    field but is zero in a 2 MiB / 1 GiB aligned address; the engine masks
 *    a huge leaf's address to its size.
 *  - No hardware accessed / dirty tracking in the entry: NPT_A / NPT_D are
 *    not known.
 */
#include <stddef.h>

#include "format.h"
#include "arch.h"

/* §7.5.3 TLBELO0/1 (same layout as the PTE LDPTE loads), §5.4.5 huge entries. */
#define LA_V          (1ull << 0)   /* valid */
#define LA_D          (1ull << 1)   /* dirty: stores allowed */
#define LA_PLV_SHIFT  2             /* PLV, bits 3:2 */
#define LA_PLV_MASK   (3ull << LA_PLV_SHIFT)
#define LA_PLV_USER   (3ull << LA_PLV_SHIFT)
#define LA_MAT_SHIFT  4             /* MAT, bits 5:4 (§5.1) */
#define LA_MAT_MASK   (3ull << LA_MAT_SHIFT)
#define LA_MAT_SUC    (0ull << LA_MAT_SHIFT)
#define LA_MAT_CC     (1ull << LA_MAT_SHIFT)
#define LA_G          (1ull << 6)   /* global, 4 KiB PTE */
#define LA_HUGE       (1ull << 6)   /* H: huge-page entry in a directory (§5.4.5) */
#define LA_HGLOBAL    (1ull << 12)  /* G of a huge-page entry (§5.4.5) */
#define LA_NR         (1ull << 61)  /* no read */
#define LA_NX         (1ull << 62)  /* no execute */
#define LA_RPLV       (1ull << 63)  /* restricted PLV: only PLV == entry's PLV */
#define LA_ADDR       0x0000fffffffff000ull /* PPN, bits 47:12 (PALEN = 48) */
/* Bits 11:7 of a PTE (4 KiB or huge) are not TLBELO fields the refill path
 * uses: software bits (Linux keeps _PAGE_PRESENT .. _PAGE_SPECIAL there).
 * Bit 11 marks a leaf npt_log_start write-protected. */
#define LA_SW_LOG     (1ull << 11)

#define LA_FLAGS (NPT_R | NPT_W | NPT_X | NPT_U | NPT_DEVICE | NPT_G)

static int la_encode(const struct npt_format *f, unsigned level, unsigned flags, uint64_t *bits)
{
	uint64_t b = LA_V;

	if (!npt_arch_leaf_level(f, level) || (flags & ~f->flags))
		return NPT_ERR_FLAGS;

	if (!(flags & NPT_R))
		b |= LA_NR;
	if (flags & NPT_W)
		b |= LA_D;
	if (!(flags & NPT_X))
		b |= LA_NX;
	if (flags & NPT_U)
		b |= LA_PLV_USER;
	b |= (flags & NPT_DEVICE) ? LA_MAT_SUC : LA_MAT_CC;
	if (level > 0) {
		b |= LA_HUGE;
		if (flags & NPT_G)
			b |= LA_HGLOBAL;
	} else if (flags & NPT_G) {
		b |= LA_G;
	}
	*bits = b;
	return 0;
}

static unsigned la_decode(const struct npt_format *f, unsigned level, uint64_t pte)
{
	unsigned flags = 0;

	(void)f;
	if (!(pte & LA_NR))
		flags |= NPT_R;
	if (pte & LA_D)
		flags |= NPT_W;
	if (!(pte & LA_NX))
		flags |= NPT_X;
	if ((pte & LA_PLV_MASK) == LA_PLV_USER)
		flags |= NPT_U;
	if ((pte & LA_MAT_MASK) == LA_MAT_SUC)
		flags |= NPT_DEVICE;
	if (pte & (level > 0 ? LA_HGLOBAL : LA_G))
		flags |= NPT_G;
	return flags;
}

const struct npt_format npt_fmt_loongarch64 = {
	.name = "loongarch64",
	.description = "LoongArch64 4-level (48-bit VA, 4K/2M/1G leaves, LDDIR/LDPTE walk)",
	.levels = 4,
	.va_bits = 48,
	.pa_bits = 48,
	/* VA bits 63:48 must repeat bit 47; CSR.PGDL serves the low half and
	 * CSR.PGDH the high half, both walked with Dir3 = VA bits 47:39: load
	 * npt_root() into both and one table covers npt's whole input space. */
	.canonical = 1,
	.stage2 = 0,
	.addr_shift = 0,
	.leaf_levels = 0x7, /* 4 KiB pages, 2 MiB and 1 GiB huge pages */
	.flags = LA_FLAGS,
	.addr_mask = LA_ADDR,
	.present_mask = ~0ull, /* directory entries are a bare address */
	.leaf_mask = LA_HUGE,
	.leaf_xor = 0,
	.table_bits = 0,
	.encode = la_encode,
	.decode = la_decode,
	.priv = NULL,
	.family = NPT_FAMILY_LOONGARCH, /* no stage 2: no hardware walk model */
	/* D is the write enable (§5.4.2: a store through D = 0 raises a page
	 * modification exception) and hardware never sets it: there is no
	 * hardware accessed or dirty state to harvest. Write-protect logging
	 * uses exactly that exception. */
	.w_set = LA_D,
	.sw_log_bit = LA_SW_LOG,
};

/* ---- register values ------------------------------------------------------ */

/* §7.5.6 PWCL: PT at VA bit 12 (9 bits), Dir1 at 21 (9), Dir2 at 30 (9),
 * PTEWidth = 0 (64-bit entries). */
uint64_t npt_loongarch_pwcl(const struct npt_table *t)
{
	if (!t || npt_table_format(t) != &npt_fmt_loongarch64)
		return 0;
	return (12ull << 0) | (9ull << 5) | (21ull << 10) | (9ull << 15) | (30ull << 20) |
	       (9ull << 25) | (0ull << 30);
}

/* §7.5.7 PWCH: Dir3 at VA bit 39 (9 bits), no Dir4. */
uint64_t npt_loongarch_pwch(const struct npt_table *t)
{
	if (!t || npt_table_format(t) != &npt_fmt_loongarch64)
		return 0;
	return (39ull << 0) | (9ull << 6) | (0ull << 12) | (0ull << 18);
}
