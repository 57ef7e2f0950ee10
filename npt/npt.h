/*
 * npt — stage-1 and stage-2 page tables for several architectures, one engine.
 *
 * The only public header. Every name here is part of the contract other
 * programs compile against: extend, never rename.
 *
 * Conventions used throughout:
 *  - Frames are 4 KiB. Addresses handed in are "input addresses" (virtual
 *    addresses for stage-1 formats, guest-physical for stage-2 formats) and
 *    "output addresses" (physical / host-physical).
 *  - Levels are numbered from the leaf: level 0 holds 4 KiB leaves, level 1
 *    2 MiB, level 2 1 GiB, level 3 512 GiB ...; the root is level
 *    (levels - 1).
 *  - Every call returns 0 or a negative NPT_ERR_*; a call that fails changes
 *    nothing and keeps no frame.
 *  - The library is freestanding: it needs no libc, no threads and no
 *    allocator of its own, only two symbols from its surroundings, memset and
 *    memcpy (a kernel provides them; user space gets them from libc). Its
 *    memory comes from struct npt_mm, or from the caller (npt_init).
 */
#ifndef NPT_NPT_H
#define NPT_NPT_H

#include <stddef.h>
#include <stdint.h>

/* Only what this header declares is exported from libnpt.so (the library
 * is built with -fvisibility=hidden). */
#if defined(__GNUC__)
#pragma GCC visibility push(default)
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---- errors ------------------------------------------------------------ */
enum {
	NPT_OK = 0,
	NPT_ERR_NOMEM = -1,          /* the allocator said no */
	NPT_ERR_ALIGN = -2,          /* va, pa or size not aligned to the page size */
	NPT_ERR_NOT_MAPPED = -3,     /* nothing mapped where the call needs a mapping */
	NPT_ERR_ALREADY_MAPPED = -4, /* something mapped where the call maps */
	NPT_ERR_HUGE = -5,           /* a huge leaf would have to change in a way the call does not allow */
	NPT_ERR_RANGE = -6,          /* outside the input/output width, non-canonical, wrap-around, zero size */
	NPT_ERR_FLAGS = -7,          /* a flag combination the format cannot encode */
	NPT_ERR_INVAL = -8,          /* NULL table/mm/format, an unusable frame from the mm, formats that differ */
	NPT_ERR_SHARED = -9,         /* the range is shared from another table by npt_copy_from */
	NPT_ERR_UNSUPPORTED = -10,   /* the format has no such feature */
	NPT_ERR_PERM = -11,          /* the mapping does not allow the access (npt_log_write_fault) */
	NPT_ERR_RESERVED = -12,      /* a reserved bit or encoding in an entry (npt_translate_2d) */
	NPT_ERR_ACCESSED = -13,      /* the accessed (or dirty) flag is clear where the hardware
					faults on that (npt_translate_2d) */
};
const char *npt_strerror(int err);

/* ---- generic flags --------------------------------------------------------
 * Each format documents how it encodes each flag (see arch/); a combination
 * it cannot encode is refused with NPT_ERR_FLAGS, never silently changed.
 * Stage-2 formats refuse NPT_U and NPT_G (no such concept in a nested table;
 * where the hardware needs a "user" bit on every entry, npt sets it itself).
 */
#define NPT_R      0x01u /* readable */
#define NPT_W      0x02u /* writable */
#define NPT_X      0x04u /* executable */
#define NPT_U      0x08u /* user-accessible (stage 1 only) */
#define NPT_DEVICE 0x10u /* device / uncached memory type; normal write-back otherwise */
#define NPT_A      0x20u /* accessed (preset, or read back as set by hardware) */
#define NPT_D      0x40u /* dirty */
#define NPT_G      0x80u /* global (stage 1 only) */
#define NPT_FLAGS_ALL 0xffu

/* ---- allocator interface --------------------------------------------------
 * 4 KiB frames; the engine zeroes what it allocates; alloc returns non-zero
 * on failure. Fields after phys_to_virt are optional (zero = absent).
 */
#define NPT_MM_LINEAR 0x1u /* phys_to_virt(pa) == (void *)(pa + linear_offset) for every frame:
                              the engine may skip the call on hot paths */
struct npt_mm {
	void *ctx;
	int (*alloc)(void *ctx, uint64_t *pa);
	void (*free)(void *ctx, uint64_t pa);
	void *(*phys_to_virt)(void *ctx, uint64_t pa);
	/* Optional: `count` physically contiguous frames aligned to count * 4 KiB,
	 * for formats whose root is larger than one frame (concatenated AArch64
	 * stage-2 roots, RISC-V x4 roots); freed with free_contig. */
	int (*alloc_contig)(void *ctx, unsigned count, uint64_t *pa);
	void (*free_contig)(void *ctx, uint64_t pa, unsigned count);
	unsigned flags;          /* NPT_MM_* */
	uintptr_t linear_offset; /* with NPT_MM_LINEAR */
	/* Optional: called when one of npt's internal checks fails (a state the
	 * engine guarantees cannot happen, such as an apply pass running out of
	 * the frames its plan counted). Such a table can no longer be trusted;
	 * a kernel stops here. msg names the check. If panic returns, or is
	 * absent, npt executes a trap instruction (__builtin_trap). The checks
	 * are on in every build, NDEBUG or not. */
	void (*panic)(void *ctx, const char *msg);
	/* Optional: a 32-bit word the allocator keeps beside each frame it hands
	 * out, the way Linux keeps counts in struct page: frame_word(ctx, pa)
	 * returns it for any frame npt holds. npt keeps two counts of each leaf
	 * table there (its present entries, and those in sequence), so that a
	 * single-page call decides full_bit and frees a table it empties in
	 * O(1). Without it such a call reads the leaf table instead when it
	 * must decide (up to 512 entries). npt writes the word before it reads
	 * it; the allocator need not clear it. */
	uint32_t *(*frame_word)(void *ctx, uint64_t pa);
};

/* ---- formats ------------------------------------------------------------- */
struct npt_format; /* opaque; defined by arch/ as plain data */

const struct npt_format *npt_format_by_name(const char *name); /* NULL if unknown */
const char *const *npt_format_names(void);                      /* NULL-terminated */

struct npt_format_info {
	const char *name;
	const char *description;
	unsigned levels;       /* levels of tables, root included */
	unsigned va_bits;      /* input address width */
	unsigned pa_bits;      /* output address width */
	int canonical;         /* inputs are sign-extended from bit va_bits-1 (x86-64, Sv*) */
	int stage2;            /* a nested / second-stage format */
	unsigned root_frames;  /* 4 KiB frames in the root (concatenated / x4 roots > 1) */
	unsigned root_entries;
	uint64_t leaf_sizes;   /* bit n set: leaves of 2^n bytes exist */
	unsigned flags;        /* the NPT_* flags the format knows at all */
	unsigned features;     /* NPT_FEATURE_*: what npt_harvest, npt_log_* and the
				  break-before-make hook can do on this format */
};
#define NPT_FEATURE_ACCESSED 0x1u /* npt_harvest(NPT_A): a hardware accessed bit */
#define NPT_FEATURE_DIRTY    0x2u /* npt_harvest(NPT_D): a hardware dirty bit or Arm DBM */
#define NPT_FEATURE_LOG      0x4u /* npt_log_*: write-protect dirty logging */
#define NPT_FEATURE_BBM      0x8u /* valid-to-valid changes need break-before-make */
int npt_format_info(const struct npt_format *fmt, struct npt_format_info *info);

/* Raw entry encoding, exposed for tests and tools that write tables by hand. */
int npt_encode_leaf(const struct npt_format *fmt, unsigned level, uint64_t pa,
		    unsigned flags, uint64_t *pte);
int npt_decode(const struct npt_format *fmt, unsigned level, uint64_t pte,
	       uint64_t *pa, unsigned *flags, int *is_leaf);

/* ---- tables -------------------------------------------------------------- */
struct npt_table;

/* npt_new allocates the root and, for the handle itself, one more frame from
 * mm (not a table frame: npt_table_frames does not count it). What mm must
 * have, else *err is NPT_ERR_INVAL and nothing is allocated:
 *  - alloc, free and phys_to_virt, always;
 *  - alloc_contig and free_contig when the format's root spans several
 *    frames (npt_format_info's root_frames > 1: aarch64-s2, aarch64-s2-48,
 *    sv39x4, sv48x4, sv57x4).
 * npt_user.h (libnpt_user.a) has ready ones for user space. */
struct npt_table *npt_new(const struct npt_format *fmt, const struct npt_mm *mm, int *err);
/* The same on caller storage: mem must hold npt_table_size() bytes (at most
 * NPT_TABLE_SIZE) aligned to NPT_TABLE_ALIGN, for example
 *     static _Alignas(NPT_TABLE_ALIGN) unsigned char store[NPT_TABLE_SIZE];
 * and stay put until npt_free (which then gives back the table's frames and
 * leaves mem to the caller). Returns mem as the table, or NULL with *err:
 * NPT_ERR_INVAL also for a NULL, too small or misaligned mem. */
#define NPT_TABLE_SIZE 4096u
#define NPT_TABLE_ALIGN 64u
size_t npt_table_size(void);
struct npt_table *npt_init(void *mem, size_t size, const struct npt_format *fmt,
			   const struct npt_mm *mm, int *err);
void npt_free(struct npt_table *t);            /* every frame back, root included */
/* Let go of the handle without reading a single entry or handing a table
 * frame back to mm: for a table whose frames can no longer be trusted (a
 * guest was given its own page tables and wrote them; npt_free would follow
 * whatever pointers it finds there) or whose frames the caller reclaims
 * wholesale (it drops the whole pool). Every table frame stays allocated as
 * far as mm knows; only the handle's own frame (npt_new) goes back. NULL
 * does nothing. */
void npt_abandon(struct npt_table *t);
uint64_t npt_root(const struct npt_table *t);  /* physical address of the root */
const struct npt_format *npt_table_format(const struct npt_table *t);
/* Table frames the table holds from mm now, root included (not the handle's
 * own frame from npt_new). */
uint64_t npt_table_frames(const struct npt_table *t);

/* Single entries. page_size must be a leaf size of the format. A call on an
 * address inside a huge leaf acts on the whole leaf only when va is its base;
 * elsewhere it returns NPT_ERR_HUGE (use the region forms to split). */
int npt_map(struct npt_table *t, uint64_t va, uint64_t pa, uint64_t page_size, unsigned flags);
int npt_unmap(struct npt_table *t, uint64_t va, uint64_t *pa, uint64_t *page_size);
int npt_query(const struct npt_table *t, uint64_t va, uint64_t *pa, unsigned *flags,
	      uint64_t *page_size);
/* npt_query(t, va[i], &pa[i], NULL, NULL) for i < n, the walks of
 * neighbouring addresses overlapped (faster than a loop of npt_query when the
 * addresses miss the cache). err[i] is what that npt_query returns: 0,
 * NPT_ERR_NOT_MAPPED or NPT_ERR_RANGE; pa[i] is the translation of va[i]
 * when err[i] is 0, else 0. err is not optional: without it a failed address
 * could not be told from one that translates to 0. pa may be va itself
 * (translation in place); no other overlap is allowed. Returns 0, or
 * NPT_ERR_INVAL with nothing written for a NULL t, or a NULL va, pa or err
 * with n > 0 (n == 0 with t set returns 0 and touches nothing). Safe against
 * concurrent changes like npt_query: each address sees the old or the new
 * translation (addresses of one 1 GiB region may share the upper entries
 * read once in the call, as a hardware walk cache shares them). */
int npt_query_batch(const struct npt_table *t, const uint64_t *va, size_t n, uint64_t *pa,
		    int *err);
int npt_protect(struct npt_table *t, uint64_t va, unsigned flags);
int npt_remap(struct npt_table *t, uint64_t va, uint64_t pa, unsigned flags);

/* Regions. map_region picks the largest leaf that alignment and opts allow;
 * unmap_region/protect_region need every page of the range mapped (else
 * NPT_ERR_NOT_MAPPED, nothing changed), split a huge leaf only partly
 * covered, and unmap_region frees tables it leaves empty. All or nothing:
 * the tables a call needs are allocated before anything is written. */
#define NPT_MAP_2M    0x1u  /* allow level-1 leaves */
#define NPT_MAP_1G    0x2u  /* allow level-2 leaves */
#define NPT_MAP_512G  0x4u  /* allow level-3 leaves (Sv48/Sv57) */
#define NPT_MAP_256T  0x8u  /* allow level-4 leaves (Sv57) */
#define NPT_MAP_HUGE  0xfu  /* every leaf size the format has */
/* Whatever is mapped in the range is replaced instead of refused, all or
 * nothing: the range ends up mapped exactly as a map_region of an empty
 * range would map it (the largest leaves alignment and opts allow), leaves
 * reaching outside it split so that their outer parts stay, tables the new
 * leaves replace freed (through the free hook). Changed entries get
 * break-before-make where the format needs it, and the flush record names
 * each entry that was present and changed: a leaf run at its level, a
 * table replaced by a leaf as an NPT_FLUSH_TABLE run, a split leaf as a run
 * of its level (entries that were empty, or already as asked, are not
 * named). A table another table shares (npt_copy_from's src side) stays a
 * table: the leaves go below it. */
#define NPT_MAP_REPLACE 0x10u
int npt_map_region(struct npt_table *t, uint64_t va, uint64_t pa, uint64_t size,
		   unsigned flags, unsigned opts);
/* Scattered output (guest RAM backed by scattered host huge pages): the
 * pieces sg[0..n) mapped back to back from va, each piece's pa and size 4
 * KiB aligned and non-zero. Pieces whose output follows on are one range;
 * each range takes the largest leaves its alignment and opts allow, as
 * npt_map_region does (opts as there, NPT_MAP_REPLACE included). All or
 * nothing over the whole list: every range is checked and its frames taken
 * before the first is written. n == 0 is NPT_ERR_RANGE (a zero size); a
 * NULL sg with n > 0 is NPT_ERR_INVAL. */
struct npt_sg {
	uint64_t pa, size;
};
int npt_map_sg(struct npt_table *t, uint64_t va, const struct npt_sg *sg, size_t n,
	       unsigned flags, unsigned opts);
int npt_unmap_region(struct npt_table *t, uint64_t va, uint64_t size);
int npt_protect_region(struct npt_table *t, uint64_t va, uint64_t size, unsigned flags);
/* The same over a range with holes (tearing down a memory slot,
 * write-protecting all of guest RAM): unmapped pages are skipped, not
 * refused. Otherwise as the region forms: all or nothing, a huge leaf only
 * partly covered split, tables left empty freed (unmap), a shared entry
 * refused (protect) or dropped whole (unmap). The flush record names only
 * entries that were there; a range with nothing mapped returns 0 and changes
 * nothing. */
int npt_unmap_sparse(struct npt_table *t, uint64_t va, uint64_t size);
int npt_protect_sparse(struct npt_table *t, uint64_t va, uint64_t size, unsigned flags);

/* ---- walking --------------------------------------------------------------
 * Visits the entries that overlap [va, va + size) in address order: a table
 * entry with TABLE_PRE before its subtree and TABLE_POST after, present leaves
 * with LEAF. A non-zero return from visit stops the walk and is returned. */
#define NPT_WALK_LEAF       0x1u
#define NPT_WALK_TABLE_PRE  0x2u
#define NPT_WALK_TABLE_POST 0x4u
/* Instead of NPT_WALK_LEAF (not with it): one visit per run of leaves of
 * one level with contiguous input and output addresses, equal flags and the
 * same sharing; va, size and pa are the run's, pte its first leaf's, level
 * its leaves'. 1 GiB of 4 KiB leaves mapped linearly alike is one visit. A
 * run closes before a TABLE_PRE or TABLE_POST visit, so with those it stays
 * inside one table. npt_walk and cursors alike. */
#define NPT_WALK_RUNS       0x8u
struct npt_visit {
	unsigned kind;   /* the NPT_WALK_* this call is for */
	unsigned level;
	uint64_t va;     /* first input address the entry covers (sign-extended where canonical) */
	uint64_t size;   /* bytes the entry covers */
	uint64_t pte;    /* raw entry */
	uint64_t pa;     /* leaf: output address of va; table: address of the next table */
	unsigned flags;  /* leaf: decoded NPT_* flags; table: 0 */
	int shared;      /* reached through an entry shared by npt_copy_from */
};
int npt_walk(const struct npt_table *t, uint64_t va, uint64_t size, unsigned which,
	     int (*visit)(const struct npt_visit *v, void *arg), void *arg);

/* The leaves of [va, va + size) as text, one line per run (NPT_WALK_RUNS),
 * passed to line without a newline; a non-zero return from line stops the
 * dump and is returned. A line reads
 *   <first va>-<last va> <size> -> <pa> <flags> <leaf size>[ shared]
 * addresses as 16 hex digits, sizes in the largest unit that divides them
 * (4K, 2M, 1G, 3M, 1028K), flags as rwxumadg with '-' for each one clear (m:
 * NPT_DEVICE). Needs no C library. Errors as npt_walk's. */
int npt_dump(const struct npt_table *t, uint64_t va, uint64_t size,
	     int (*line)(void *arg, const char *text), void *arg);
/* The line npt_dump prints for the run v (va, size, pa, flags, level,
 * shared; a single leaf is a run of one), into text (len at least
 * NPT_DUMP_LINE bytes, NUL-terminated): for tools that walk what npt_walk
 * cannot (a memory image) and print it as npt_dump does. Returns 0, or
 * NPT_ERR_INVAL for a NULL v or text or a shorter len. */
#define NPT_DUMP_LINE 128
int npt_dump_line(const struct npt_visit *v, char *text, size_t len);

/* Cursors: the same visits in the same order as npt_walk, one per call, for
 * loops that keep the iteration in their own hands (like Linux's TDP MMU
 * iterator). npt_cursor_next returns 1 with c->v filled, 0 at the end;
 * npt_cursor_skip, right after a NPT_WALK_TABLE_PRE visit, skips that
 * subtree (its TABLE_POST too). The cursor reads the table as it goes:
 * entries changed between calls are seen as they are when reached. A cursor
 * holds no resources; drop it any time. */
struct npt_cursor {
	struct npt_visit v; /* the entry the last npt_cursor_next returned */
	uint64_t priv_[64]; /* the cursor's own state */
};
int npt_cursor_init(struct npt_cursor *c, const struct npt_table *t, uint64_t va, uint64_t size,
		    unsigned which);
int npt_cursor_next(struct npt_cursor *c);
int npt_cursor_skip(struct npt_cursor *c);

/* ---- reserving frames -------------------------------------------------------
 * For a caller that must not allocate inside the section where it changes a
 * table (a spinlock, a fault handler): it reserves frames before, the way
 * KVM tops up a memory cache. npt_frames_needed is an upper bound on the
 * frames any one changing call on [va, va + size) takes (0 for bad
 * arguments). npt_cache_topup fills the caller's array c->pa (room for
 * c->cap frames) from t's mm up to min frames, each checked as npt checks
 * every frame; npt_cache_drain gives them all back. While
 * npt_set_frame_cache(t, c) is in force, t takes every frame from c and never
 * calls mm->alloc: a call c cannot serve fails with NPT_ERR_NOMEM and leaves
 * c as it was (count and order). Frames t lets go of still go to mm->free (or
 * the free hook). NULL goes back to mm->alloc. */
struct npt_frame_cache {
	uint64_t *pa;      /* the caller's array */
	unsigned n, cap;   /* frames in it, room */
};
uint64_t npt_frames_needed(const struct npt_table *t, uint64_t va, uint64_t size);
int npt_cache_topup(struct npt_table *t, struct npt_frame_cache *c, unsigned min);
void npt_cache_drain(struct npt_table *t, struct npt_frame_cache *c);
int npt_set_frame_cache(struct npt_table *t, struct npt_frame_cache *c);

/* Share src's top-level entries for [va, va + size) (aligned to the root
 * entry size). Shared entries are never freed or changed through t; an
 * npt_unmap_region covering a whole shared entry drops the share (npt_unmap
 * refuses with NPT_ERR_SHARED). src keeps the tables it lends even when they
 * empty, so t sees everything src later maps beneath a shared entry; a slot
 * that was empty (or a root-level leaf) is copied by value. src must outlive
 * t's shares. */
int npt_copy_from(struct npt_table *t, const struct npt_table *src, uint64_t va, uint64_t size);

/* ---- TLB ------------------------------------------------------------------
 * Every changing call records what must be invalidated; the engine never
 * executes privileged instructions. Entries that go from empty to present
 * need nothing. */
enum { NPT_FLUSH_NONE = 0, NPT_FLUSH_RANGE = 1, NPT_FLUSH_ALL = 2 };
/* One run of changed entries. level says how big each changed entry is
 * (2^(12 + 9 * level) bytes): only leaves of that size changed, so a TLB
 * entry for the run is at most that big (Arm's TTL hint; x86: one INVLPG per
 * entry). With NPT_FLUSH_TABLE the entry that changed was a table entry (a
 * subtree removed, or a table replaced by a leaf as npt_collapse does):
 * TLB entries of any size below it and cached walks through it (x86
 * paging-structure caches, Arm non-last-level entries) must go too.
 *
 * A huge leaf replaced by a table (a split) is a run of the leaf's level
 * without NPT_FLUSH_TABLE: what a TLB may hold of it is the leaf's
 * translation, which one invalidation at that level removes (Intel SDM vol.
 * 3A §4.10.4.2: one INVLPG suffices for a page larger than 4 KiB; §4.10.3.1:
 * no paging-structure cache entry is made for an entry that maps a page;
 * Arm ARM D8.14.1 and the TLBI by IPA with the block's level as TTL), and
 * the new table cannot be cached before it is written. */
#define NPT_FLUSH_TABLE 0x1u
#define NPT_FLUSH_RANGES 16
struct npt_flush_range {
	uint64_t va;      /* sign-extended where canonical */
	uint64_t size;    /* a multiple of the level's entry size */
	unsigned level;
	unsigned flags;   /* NPT_FLUSH_TABLE */
};
struct npt_flush {
	unsigned kind;
	uint64_t va;   /* with NPT_FLUSH_RANGE: [va, va + size) covers every changed entry */
	uint64_t size;
	/* With NPT_FLUSH_RANGE: the exact runs, in address order, adjacent runs of
	 * the same level and flags merged. A call that changes more than
	 * NPT_FLUSH_RANGES runs reports NPT_FLUSH_ALL instead. One exception:
	 * npt_protect_region over a whole 4 KiB-leaf table whose leaves map
	 * consecutive pages rewrites it without reading it, and reports it
	 * whole, which may include leaves that already had the new flags
	 * (never when its leaves were all alike, as region maps make them). */
	unsigned nranges;
	struct npt_flush_range ranges[NPT_FLUSH_RANGES];
};
/* hook (may be NULL) is called after each changing call that needs a flush;
 * a range larger than all_threshold bytes (0 = no limit) becomes NPT_FLUSH_ALL. */
void npt_set_flush_hook(struct npt_table *t, void (*hook)(void *arg, const struct npt_flush *f),
			void *arg, uint64_t all_threshold);
/* The record of the last changing call on t. A call that failed, or changed
 * nothing a TLB may hold, leaves NPT_FLUSH_NONE (never the record of the
 * call before it). */
void npt_last_flush(const struct npt_table *t, struct npt_flush *out);

/* Break-before-make. Arm requires it when a valid entry becomes another valid
 * entry with a different output address, memory type or block size (DDI 0487
 * J.a D8.14.1 "Using break-before-make when updating translation table
 * entries"); formats with NPT_FEATURE_BBM. With a hook set, npt makes such a
 * change in three steps: it writes the entry invalid, calls hook with the
 * one run it broke (kind NPT_FLUSH_RANGE, nranges 1), then writes the new
 * entry. The hook must invalidate that run and wait for completion (DSB;
 * TLBI ...IS; DSB) before it returns; what it invalidated is not reported
 * again in the call's flush record. Permission and access-flag changes are
 * made in place. Without a hook (a table no CPU uses yet) npt writes the new
 * entry directly and the flush record covers it. Readers running during the
 * break see the entry unmapped, as the hardware does. */
void npt_set_bbm_hook(struct npt_table *t, void (*hook)(void *arg, const struct npt_flush *f),
		      void *arg);

/* ---- concurrent readers ------------------------------------------------------
 * npt_query, npt_walk and cursors may run on other threads while one thread
 * changes the table: every entry is written with one atomic store, a new
 * subtree is complete before the store that publishes it, and a removed
 * subtree is unpublished before its frames are let go. A reader sees each
 * entry either as it was or as it is after the change (never a half-built
 * table), so a query returns the old or the new translation.
 *
 * A reader may still hold a pointer into a table the writer just removed,
 * and so may a hardware walker until the call's flush is done. hook, if set,
 * is called instead of mm->free for every table frame a changing call lets
 * go of; the caller returns the frame with mm->free once no reader can be
 * inside it (after the flush and an RCU-style grace period). Without a hook
 * frames go back to mm->free at once. npt_free always frees directly.
 * Changing calls still run one at a time (the caller's lock), and the
 * bookkeeping of shares (npt_copy_from, dropping a share) is not for
 * concurrent walks: a walk may report an entry's `shared` as before or after.
 * tests/test_concurrent.c checks all of this under ThreadSanitizer. */
void npt_set_free_hook(struct npt_table *t, void (*hook)(void *arg, uint64_t pa), void *arg);

/* ---- accessed and dirty state ------------------------------------------------
 * npt_harvest reads and clears the accessed (what = NPT_A) or dirty (what =
 * NPT_D) state the hardware keeps in the leaves of [va, va + size) into
 * bitmap: bit i (bitmap[i / 64] >> (i % 64) & 1) stands for the page at
 * va + i * 4 KiB, and a huge leaf sets the bit of each of its pages. All
 * (size / 4096 + 63) / 64 words are written; unmapped pages read 0. What it
 * cleared is reported like any change (flush record and hook): a TLB may
 * hold the state cached, and would not set it again.
 * With NPT_HARVEST_PEEK the state is read and left as it is (nothing to
 * flush); otherwise the call fails with NPT_ERR_HUGE, nothing changed, when
 * a huge leaf reaches outside the range (its state belongs to pages the
 * caller did not ask about), and with NPT_ERR_SHARED under npt_copy_from
 * entries. Formats without the state (npt_format_info features lack
 * NPT_FEATURE_ACCESSED / NPT_FEATURE_DIRTY) return NPT_ERR_UNSUPPORTED.
 *
 * Per format:
 *  - x86_64, x86_64-la57, npt, npt5: A (bit 5) / D (bit 6).
 *  - ept, ept5: A (bit 8) / D (bit 9), set by the processor only with
 *    npt_ept_pointer(t, 1) (EPTP bit 6).
 *  - sv*, sv*x4: A (bit 6) / D (bit 7). npt presets both on every leaf, so
 *    the first harvest reports every page; hardware without Svadu faults on
 *    an access through A = 0 (or a store through D = 0) once harvest cleared
 *    it, and the fault handler sets the bit again (the software-managed
 *    scheme of the privileged spec, §4.3.1): npt_log_write_fault /
 *    npt_log_access_fault.
 *  - aarch64, aarch64-s2(-48): NPT_A is AF (bit 10, preset by npt; without
 *    hardware AF management an access faults until npt_log_access_fault).
 *    NPT_D uses DBM (bit 51): harvest reports a DBM leaf dirty when its write
 *    permission is on (AP[2] = 0 / S2AP[1] = 1, granted by hardware with
 *    TCR_ELx.HD / VTCR_EL2.HD, or by npt_log_write_fault on hardware
 *    without it), a writable leaf without DBM as dirty (first
 *    harvest), and leaves every writable leaf writable-clean: DBM = 1,
 *    write permission off. Such a leaf still decodes as writable.
 *  - loongarch64: none (D is the write enable, never set by hardware):
 *    NPT_ERR_UNSUPPORTED. */
#define NPT_HARVEST_PEEK 0x100u
int npt_harvest(struct npt_table *t, uint64_t va, uint64_t size, unsigned what, uint64_t *bitmap);

/* ---- dirty logging by write protection ----------------------------------------
 * For hardware without dirty bits, or a caller that wants page-granular logs
 * of huge mappings (formats with NPT_FEATURE_LOG: all of them). The leaves
 * are the log: npt marks the writable leaves it write-protects with a bit
 * the hardware ignores, and a marked leaf that got its write permission back
 * was written since the last npt_log_harvest.
 *
 * npt_log_start write-protects and marks every writable leaf in
 * [va, va + size) (read-only leaves stay as they are: a write to them is the
 * caller's fault to handle). mode NPT_LOG_LAZY keeps huge leaves whole until
 * their first write fault; NPT_LOG_EAGER splits every writable huge leaf of
 * the range down to 4 KiB leaves now. A huge leaf only partly inside the
 * range is split at the range's edge either way. Needs frames: NPT_ERR_NOMEM
 * (nothing changed) is possible.
 *
 * npt_log_write_fault is the write-fault (EPT violation, NPF, stage-2
 * permission fault, store page fault, page modification exception) handler:
 * for a marked page it gives the page its write permission back and records
 * it as dirty; a marked huge leaf is first split along the path to the
 * page (4 KiB leaves around it, the rest stays in marked huge leaves that
 * split when written; NPT_ERR_NOMEM leaves everything as it was). It also
 * resolves the faults npt_harvest's software-managed state causes: an Arm
 * writable-clean (DBM) leaf on hardware without dirty state management and a
 * writable RISC-V leaf whose D bit was harvested get their write permission
 * / D bit. Returns 0 when the write may be retried (also when another vCPU
 * resolved it first), NPT_ERR_PERM when the mapping does not allow writes
 * (a real fault for the caller), NPT_ERR_NOT_MAPPED when nothing maps va.
 * npt_log_write_fault_info is the same call, saying what it did when it
 * returns 0 (out may be NULL): did = NPT_LOG_SPLIT if a marked huge leaf was
 * split on the way, | NPT_LOG_GRANTED if the leaf now mapping va got its
 * write permission (or dirty state) back, 0 if there was nothing left to do;
 * page_size = the size of that leaf. With nothing left to do the flush
 * record still names that leaf: the fault may have come from a TLB entry
 * older than the permission, which only a flush of the page removes (Arm
 * may keep such an entry; KVM flushes the IPA on such a fault too).
 * npt_log_access_fault sets the accessed bit of the leaf mapping va, for
 * hardware that faults on a cleared one (Arm AF without FEAT_HAFDBS, RISC-V
 * without Svadu); NPT_ERR_UNSUPPORTED without an accessed bit.
 *
 * npt_log_harvest writes one bit per 4 KiB page of [va, va + size) into
 * bitmap, like npt_harvest: set for each marked page written since the last
 * harvest (a huge leaf sets all its bits), and write-protects those pages
 * again. npt_log_stop gives every marked leaf of the range its write
 * permission back and drops the mark (npt_collapse then rebuilds huge
 * leaves). Both refuse with NPT_ERR_HUGE a marked huge leaf reaching outside
 * the range that they would have to change: npt_log_stop any such leaf,
 * npt_log_harvest only one written since the last harvest (a clean one has
 * nothing to report or protect, and is left alone). Every npt_log_* call
 * refuses NPT_ERR_SHARED ranges. Collapse a logged range after npt_log_stop:
 * npt_collapse keeps the mark, so a huge leaf rebuilt while logging is
 * harvested (and write-protected) whole.
 *
 * npt_protect*, npt_remap and npt_map re-encode what they change: a page
 * they change leaves the log (call npt_log_start on it again); the other
 * pages of a huge leaf they split keep their state and stay in the log. */
#define NPT_LOG_LAZY  0x0u
#define NPT_LOG_EAGER 0x1u
int npt_log_start(struct npt_table *t, uint64_t va, uint64_t size, unsigned mode);
int npt_log_write_fault(struct npt_table *t, uint64_t va);
#define NPT_LOG_GRANTED 0x1u
#define NPT_LOG_SPLIT   0x2u
struct npt_log_fault {
	unsigned did;       /* NPT_LOG_GRANTED | NPT_LOG_SPLIT */
	uint64_t page_size; /* of the leaf that maps va now */
};
int npt_log_write_fault_info(struct npt_table *t, uint64_t va, struct npt_log_fault *out);
int npt_log_access_fault(struct npt_table *t, uint64_t va);
int npt_log_harvest(struct npt_table *t, uint64_t va, uint64_t size, uint64_t *bitmap);
int npt_log_stop(struct npt_table *t, uint64_t va, uint64_t size);

/* ---- collapse ---------------------------------------------------------------
 * npt_collapse turns every table inside [va, va + size) whose entries are all
 * present leaves mapping one contiguous block, aligned to the size of a leaf
 * one level up, with equal attributes (accessed/dirty state may differ),
 * into that one leaf where the format allows leaves of its size, and frees
 * the table; bottom-up, so 4 KiB leaves become a 2 MiB leaf and 512 of
 * those a 1 GiB leaf in one call. Tables only partly inside the range, and
 * tables that do not qualify, stay. The new leaf keeps the attributes, the
 * OR of the old leaves' accessed/dirty state and npt_log_*'s mark. Each
 * collapsed table is one NPT_FLUSH_TABLE run of the flush record (or goes
 * through break-before-make); freed frames go through the free hook. Needs
 * no frame; refuses NPT_ERR_SHARED ranges. */
int npt_collapse(struct npt_table *t, uint64_t va, uint64_t size);

/* ---- two-dimensional walks ------------------------------------------------
 * npt_translate_2d walks as the hardware does under nested paging: from the
 * guest-virtual va through the stage-1 table of format s1 whose root is at
 * guest-physical s1_root_gpa, reading every stage-1 entry from guest memory
 * at the host-physical address stage 2 (s2) gives its guest-physical one,
 * then through s2 to host physical. Stage-1 entries are guest data and any
 * bit pattern is handled: the walk faults where the hardware would, and
 * reports where. It changes nothing: no accessed or dirty flag is set.
 *
 * Guest memory is read through s2's mm: phys_to_virt must return a pointer
 * for every host-physical page that s2 maps as normal memory (a kernel's
 * linear map does; so do npt_user.h's allocators for the frames they hand
 * out), or NULL where it has none. With NPT_MM_LINEAR npt computes
 * pa + linear_offset for those pages too, without asking.
 *
 * access is NPT_R (load), NPT_W (store) and/or NPT_X (fetch), with NPT_U for
 * an access from user mode (EL0, U-mode); without NPT_U the access is
 * supervisor (ring 0, EL1, S-mode). The rules are the hardware's, with the
 * control bits a kernel usually runs with:
 *  - x86_64, x86_64-la57 (Intel SDM vol. 3A §4.6, AMD APM vol. 2 §5.6):
 *    CR0.WP = 1, EFER.NXE = 1, CR4.SMEP = CR4.SMAP = CR4.PKE = 0; R/W and
 *    U/S of every level ANDed, XD of every level ORed; MAXPHYADDR is the
 *    format's 52 bits.
 *  - aarch64 (Arm ARM D8.4): EL1&0 regime with TTBR0 and TTBR1 both
 *    loaded with the root and npt_arm_tcr() (T0SZ = T1SZ = 16), PAN = 0,
 *    SCTLR_EL1.WXN = 0, no hardware AF/dirty management (AF = 0 faults,
 *    DBM is ignored), APTable/UXNTable/PXNTable honoured (HPD = 0),
 *    NPT_ARM_MAIR in MAIR_EL1 (AttrIndx 0 and 1 normal, 2 to 7 device).
 *    Stage 2: FEAT_XNX execute-never, HCR_EL2.PTW = 1 (a stage-1 table in
 *    device memory is a stage-2 permission fault).
 *  - sv39, sv48, sv57 (privileged spec §4.3.2, §8.5): sstatus.SUM = MXR = 0,
 *    Svpbmt present, Svnapot and Svadu absent (A = 0, or D = 0 on a store,
 *    faults).
 *  - Stage 2: EPT without mode-based execute control, NPT and the G-stage
 *    treating every access as a user access (APM vol. 2 §15.25.5,
 *    privileged spec §8.5.1). Stage-1 entries are read by the walk: x86
 *    stage 1 has accessed and dirty flags the processor may set in them, so
 *    stage 2 checks those reads as user writes, as KVM's nested walker does
 *    (SDM vol. 3C §29.3.3.2: with EPT A/D flags on, every access to a guest
 *    paging structure is a write); on Arm and RISC-V they are reads.
 * The combined memory type is device when either stage says device.
 *
 * out->refs[0 .. nrefs) lists every entry read (later slots are left as
 * they were), in the hardware's order: for each
 * stage-1 level the stage-2 walk of the stage-1 entry's guest-physical
 * address (stage 2, addr = that stage-2 entry's host-physical address),
 * then the stage-1 entry (stage 1, addr = its guest-physical address);
 * last the stage-2 walk of the final guest-physical address. 4-level over
 * 4-level makes 24 references, 5 over 5 makes 35.
 *
 * Faults (out->fault, also returned): NPT_ERR_NOT_MAPPED (an entry not
 * present, or a leaf where the format allows none), NPT_ERR_RESERVED (a
 * reserved bit or encoding: x86 RSVD, EPT misconfiguration, RISC-V's
 * reserved bits and misaligned superpages), NPT_ERR_PERM, NPT_ERR_ACCESSED
 * (Arm's access flag fault; RISC-V's A = 0, or D = 0 on a store), and
 * NPT_ERR_RANGE (a non-canonical va, or a guest-physical address beyond
 * stage 2's input width). fault_stage and fault_level (npt's numbering,
 * 0 = the 4 KiB level) say which entry; fault_addr is the address that
 * stage reports: va for stage 1 (CR2, FAR_EL1, stval), the guest-physical
 * address accessed for stage 2 (a stage-1 entry's own address when the
 * walk faulted reading it, as EPT violations, HPFAR_EL2 and htval report
 * it). A stage-1 table stage 2 maps as device memory, or that phys_to_virt
 * has no memory for, ends the walk with NPT_ERR_UNSUPPORTED at stage 2
 * (npt cannot read it; Arm faults it with NPT_ERR_PERM). gpa is set once
 * stage 1 translated va; hpa and page_size (the smaller of the two leaves)
 * when fault is 0; flags once the stage-1 leaf is reached: the NPT_R/W/X
 * the access's privilege has at both stages (none from a stage 2 without a
 * leaf), NPT_U where stage 1 lets user mode in, NPT_DEVICE.
 *
 * Returns 0, the fault, or NPT_ERR_INVAL (NULL s1, s2 or out; s1 not a
 * stage-1 format or s2 not a stage-2 table of the same family; access with
 * none of NPT_R/W/X or other bits) with fault set to it and fault_stage 0.
 * LoongArch has no stage-2 format: NPT_ERR_INVAL. Safe against concurrent
 * changes of either table, like npt_query: each entry is read once. */
struct npt_2d_ref {
	unsigned stage, level;
	uint64_t addr; /* stage 1: the entry's guest-physical address; stage 2: its host-physical one */
};
#define NPT_2D_MAX_REFS 48
struct npt_2d {
	uint64_t gpa, hpa, page_size; /* page_size: the smaller of the two leaves */
	unsigned flags;               /* effective NPT_* permissions of both stages */
	int fault;                    /* 0, or the NPT_ERR_* of the first failing step */
	unsigned fault_stage, fault_level;
	uint64_t fault_addr;          /* the address that stage reports (CR2-like or GPA) */
	unsigned nrefs;
	struct npt_2d_ref refs[NPT_2D_MAX_REFS];
};
int npt_translate_2d(const struct npt_format *s1, uint64_t s1_root_gpa, const struct npt_table *s2,
		     uint64_t va, unsigned access, struct npt_2d *out);
/* The same walk over tables npt did not build (a memory image, a guest's
 * or another hypervisor's tables): every entry, of either stage, is read
 * through mem->phys_to_virt (NULL where it has no memory: the walk ends
 * with NPT_ERR_UNSUPPORTED at that stage, as for device memory) and judged
 * as untrusted data. s2 (format) and s2_root (its root's physical address)
 * give stage 2; with s2 NULL the walk has one stage: the table of format s1
 * (a stage-1 or a stage-2 format) at physical s1_root, read straight from
 * mem, its output (out->gpa, out->hpa alike) physical; its references and
 * faults say stage 1, and a fault for an entry mem cannot read
 * (NPT_ERR_UNSUPPORTED) comes after that entry's reference. Returns as
 * npt_translate_2d; NPT_ERR_INVAL also for a NULL mem or phys_to_virt. */
int npt_translate_raw(const struct npt_format *s1, uint64_t s1_root, const struct npt_format *s2,
		      uint64_t s2_root, const struct npt_mm *mem, uint64_t va, unsigned access,
		      struct npt_2d *out);

/* ---- register values --------------------------------------------------- */
uint64_t npt_x86_cr3(const struct npt_table *t);               /* x86_64, x86_64-la57, npt, npt5 (nCR3) */
uint64_t npt_ept_pointer(const struct npt_table *t, int ad);   /* EPTP: WB, walk length, A/D enable */

/* ---- AArch64, RISC-V, LoongArch register values (arch/aarch64.c,
 * arch/riscv.c, arch/loongarch.c) ---------------------------------------------
 * Each returns 0 for a NULL table or a table of another format. */

/* MAIR_EL1 for the aarch64 stage-1 layout: Attr0 = 0xFF normal write-back
 * (what npt writes for normal memory), Attr1 = 0x44 normal non-cacheable
 * (never written by npt), Attr2 = 0x04 Device-nGnRE (NPT_DEVICE). */
#define NPT_ARM_MAIR 0x00000000000444ffull
/* TCR_EL1 for an aarch64 table loaded into TTBR0_EL1 and TTBR1_EL1: T0SZ =
 * T1SZ = 16, 4 KiB granules, inner-shareable write-back walks, IPS = 48 bits,
 * 8-bit ASIDs. */
uint64_t npt_arm_tcr(const struct npt_table *t);
/* VTCR_EL2 for aarch64-s2 / aarch64-s2-48: T0SZ (64 - IPA bits), SL0 (start
 * level 1 / 0), TG0 = 4 KiB, PS = 48 bits, inner-shareable write-back walks,
 * RES1 bit 31. OR in VS, HA, HD ... as the hypervisor needs. */
uint64_t npt_arm_vtcr(const struct npt_table *t);
/* VTTBR_EL2: the (concatenated) root's address with vmid in bits 63:48. */
uint64_t npt_arm_vttbr(const struct npt_table *t, unsigned vmid);
/* satp for sv39 / sv48 / sv57: MODE 8 / 9 / 10, ASID, root PPN. */
uint64_t npt_riscv_satp(const struct npt_table *t, unsigned asid);
/* hgatp for sv39x4 / sv48x4 / sv57x4: MODE 8 / 9 / 10, VMID, root PPN. */
uint64_t npt_riscv_hgatp(const struct npt_table *t, unsigned vmid);
/* CSR.PWCL / CSR.PWCH for loongarch64 (load npt_root() into PGDL and PGDH). */
uint64_t npt_loongarch_pwcl(const struct npt_table *t);
uint64_t npt_loongarch_pwch(const struct npt_table *t);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#ifdef __cplusplus
}
#endif
#endif
