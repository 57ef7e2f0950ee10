/*
 * What the engine knows about an entry format: plain data plus two small
 * functions that translate the generic NPT_* flags to and from leaf bits.
 * Internal to npt/ and arch/; programs see struct npt_format as opaque.
 *
 * The engine never asks a format anything per level on a hot path: presence,
 * leaf/table and the address are decided by the masks below, which the
 * compiler hoists out of the loops. Only leaf flag encoding (once per call and
 * level) and decoding (once per query result) go through the function
 * pointers.
 *
 * All formats use a 4 KiB granule with 9 index bits per level; the root may
 * have more (concatenated AArch64 stage-2 roots, RISC-V x4 roots) or fewer
 * entries: that follows from va_bits alone.
 */
#ifndef NPT_FORMAT_H
#define NPT_FORMAT_H

#include "npt.h"

#define NPT_PAGE_SHIFT 12
#define NPT_PAGE_SIZE (1ull << NPT_PAGE_SHIFT)
#define NPT_LEVEL_BITS 9
#define NPT_ENTRIES 512u
#define NPT_MAX_LEVELS 5

static inline unsigned npt_level_shift(unsigned level)
{
	return NPT_PAGE_SHIFT + NPT_LEVEL_BITS * level;
}

struct npt_hw;

struct npt_format {
	/* An array, not a pointer: arch/formats.c lists the names as address
	 * constants, so npt_format_names() needs no initialisation at run time. */
	char name[24];
	const char *description;
	uint8_t levels;      /* root is level levels-1 */
	uint8_t va_bits;     /* input width; root entries = 2^(va_bits - shift(root)) */
	uint8_t pa_bits;     /* output width */
	uint8_t canonical;   /* input sign-extended from bit va_bits-1 */
	uint8_t stage2;
	uint8_t addr_shift;  /* output address = (pte & addr_mask) << addr_shift */
	uint16_t leaf_levels; /* bit L: leaves allowed at level L (bit 0 always) */
	unsigned flags;       /* NPT_* flags the format knows */
	uint64_t addr_mask;
	uint64_t present_mask; /* entry present iff (pte & present_mask) != 0 */
	uint64_t leaf_mask;    /* above level 0: leaf iff ((pte ^ leaf_xor) & leaf_mask) != 0 */
	uint64_t leaf_xor;
	uint64_t table_bits;   /* a table entry is table_bits | encoded address */
	/* Leaf bits (without address) for flags at level, or NPT_ERR_FLAGS. */
	int (*encode)(const struct npt_format *f, unsigned level, unsigned flags, uint64_t *bits);
	/* Generic flags of a present leaf at level. */
	unsigned (*decode)(const struct npt_format *f, unsigned level, uint64_t pte);
	const void *priv; /* format-specific parameters (IPA width, ...) */

	/* ---- state hardware and npt keep in leaves (npt_harvest, npt_log_*,
	 * npt_collapse, break-before-make). Plain data; 0 where the format has
	 * no such thing. Each arch/ file cites the manual beside its values. */
	uint64_t accessed_bit; /* set by hardware on any access through the leaf */
	uint64_t dirty_bit;    /* set by hardware on a write through the leaf */
	uint64_t dbm_bit;      /* Arm DBM: the write permission itself is the dirty state */
	/* Write permission: a leaf is writable iff (pte & (w_set | w_clear)) ==
	 * w_set; write-protecting clears w_set and sets w_clear. */
	uint64_t w_set;
	uint64_t w_clear;
	uint64_t sw_log_bit;   /* a leaf bit hardware ignores: "write-protected by npt_log_start" */
	uint64_t ad_preset;    /* accessed/dirty bits encode() sets on every leaf */
	uint64_t bbm_free;     /* bbm: leaf bits a valid-to-valid change may touch in place */
	uint8_t bbm;           /* other valid-to-valid changes need break-before-make */

	/* A bit hardware ignores in a table entry, which npt sets in a level-1
	 * entry only when the level-0 table it points to is one full run:
	 * every entry present, entry i mapping entry 0's output address plus
	 * i * 4 KiB. Cleared by any call that may break that. A hint: set, the
	 * range engine need not read the 4 KiB of leaves to prove a protect or
	 * unmap range mapped, and a protect of the whole table writes it
	 * without reading it (its addresses follow from entry 0); clear proves
	 * nothing. 0: the format has no such bit (LoongArch directory entries
	 * are a bare address). */
	uint64_t full_bit;

	/* ---- the hardware's walk (npt_translate_2d). */
	uint8_t family;      /* NPT_FAMILY_*: a stage-1 format nests over stage 2 of its family */
	/* Inputs are sign-extended from this bit as the hardware checks them (0:
	 * va_bits - 1, canonical formats only). AArch64 picks TTBR0 or TTBR1
	 * by bits 63:48 and indexes bits 47:0: 48. */
	uint8_t hw_sign_bit;
	/* The hardware walker's reading of the entry pte met at level, for the
	 * access w describes: NPT_HW_TABLE (go on at npt_pte_addr), NPT_HW_LEAF
	 * (w->allow final, the access allowed), or the fault the hardware
	 * takes, NPT_ERR_NOT_MAPPED / _RESERVED / _PERM / _ACCESSED (w->allow
	 * final for the last two). NULL: no model (npt_translate_2d refuses). */
	int (*hw_entry)(const struct npt_format *f, unsigned level, uint64_t pte,
			struct npt_hw *w);
};

enum { NPT_FAMILY_X86 = 1, NPT_FAMILY_ARM, NPT_FAMILY_RISCV, NPT_FAMILY_LOONGARCH };

/* What the hardware walker carries from one entry to the next. */
struct npt_hw {
	unsigned access; /* NPT_R/W/X of the access; NPT_U: from user mode */
	int walk;        /* stage 2: the access reads a stage-1 entry */
	/* NPT_R/W/X the access's privilege keeps so far and NPT_U while user
	 * mode keeps access (table entries above may take them away); the leaf
	 * makes it final and adds NPT_DEVICE for a device memory type. */
	unsigned allow;
};
#define NPT_HW_LEAF  0
#define NPT_HW_TABLE 1

/* Every format, in the order npt_format_names() lists them, and their
 * names (both NULL-terminated). arch/formats.c owns the list; each arch/ file
 * exports its formats by name. */
extern const struct npt_format *const npt_formats[];
extern const char *const npt_format_name_list[];

/* The root's entry count follows from the input width alone: more than 512
 * means concatenated (AArch64) or x4 (RISC-V) root frames. */
static inline unsigned npt_fmt_root_entries(const struct npt_format *f)
{
	return 1u << (f->va_bits - npt_level_shift(f->levels - 1u));
}

static inline unsigned npt_fmt_root_frames(const struct npt_format *f)
{
	unsigned n = npt_fmt_root_entries(f);

	return n > NPT_ENTRIES ? n / NPT_ENTRIES : 1u;
}

static inline uint64_t npt_pte_addr(const struct npt_format *f, uint64_t pte)
{
	return (pte & f->addr_mask) << f->addr_shift;
}

static inline uint64_t npt_addr_bits(const struct npt_format *f, uint64_t pa)
{
	return (pa >> f->addr_shift) & f->addr_mask;
}

/* The entry at level that points to a table at pa; full_run: that table is
 * a level-0 one that is one full run (full_bit, above). */
static inline uint64_t npt_table_pte(const struct npt_format *f, uint64_t pa, unsigned level,
				     int full_run)
{
	return f->table_bits | npt_addr_bits(f, pa) | (level == 1 && full_run ? f->full_bit : 0);
}

static inline int npt_pte_present(const struct npt_format *f, uint64_t pte)
{
	return (pte & f->present_mask) != 0;
}

static inline int npt_pte_leaf(const struct npt_format *f, unsigned level, uint64_t pte)
{
	return level == 0 || ((pte ^ f->leaf_xor) & f->leaf_mask) != 0;
}

static inline int npt_pte_writable(const struct npt_format *f, uint64_t pte)
{
	return (pte & (f->w_set | f->w_clear)) == f->w_set && (f->w_set | f->w_clear);
}

/* The leaf without write permission (and without the dirty state that only a
 * writable leaf may carry: x86 stage 1 reads R/W = 0 with D = 1 as a shadow-
 * stack page, and Arm DBM would let hardware grant the write back). */
static inline uint64_t npt_pte_wrprotect(const struct npt_format *f, uint64_t pte)
{
	return (pte & ~(f->w_set | f->dirty_bit | f->dbm_bit)) | f->w_clear;
}

static inline uint64_t npt_pte_mkwrite(const struct npt_format *f, uint64_t pte)
{
	return (pte & ~f->w_clear) | f->w_set;
}

#endif
