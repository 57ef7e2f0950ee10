/*
 * Helpers shared by the engine suites (test_api, test_region, test_nomem,
 * test_random): a per-format context derived from npt_format_info() alone,
 * table snapshots for "a failed call changes nothing", a full structural
 * check of a table through npt_walk, and expectation macros that name the
 * format, the call and both error codes.
 *
 * Every suite runs each test once per name in npt_format_names() (libcheck
 * loop tests, the loop index `_i` selects the format), so nothing here
 * assumes x86: leaf sizes, widths, canonical halves, stage 2 and multi-frame
 * roots all come from the format's info.
 */
#ifndef NPT_TESTS_TUTIL_H
#define NPT_TESTS_TUTIL_H

#include <check.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "npt.h"
#include "testmm.h"

/* libcheck's ck_assert* send a message to the parent process for every
 * *passing* check (one write(2) each); these suites check millions of
 * entries, so only failures are reported. Same message as libcheck's.
 * (tests/fs's work-alike reports only failures already.) */
#ifndef NPT_FS_HARNESS
#undef ck_assert_msg
#define ck_assert_msg(expr, ...)                                                       \
	do {                                                                           \
		if (!(expr))                                                           \
			_ck_assert_failed(__FILE__, __LINE__, "Assertion '" #expr "' failed", \
					  ##__VA_ARGS__);                              \
	} while (0)
#endif

#define PG 4096ull
#define TU_MAX_LEVELS 6

static inline uint64_t lsize(unsigned level)
{
	return 1ull << (12 + 9 * level);
}

/* NPT_MAP_* option bit that allows leaves at level (0 for level 0). */
static inline unsigned opt_for_level(unsigned level)
{
	return level ? 1u << (level - 1) : 0;
}

struct fctx {
	unsigned idx;
	const char *name;
	const struct npt_format *fmt;
	struct npt_format_info info;
	struct testmm mm;
	int linear;            /* the pool is NPT_MM_LINEAR */
	unsigned root_level;
	uint64_t root_esize;   /* bytes one root entry covers */
	unsigned leaf_levels;  /* bit L: leaves at level L */
	unsigned top_leaf;     /* highest leaf level */
	uint64_t lo_end;       /* end of the low half (canonical) or of the whole input space */
	uint64_t hi_start;     /* canonical: first address of the high half; else 0 */
	unsigned rw;           /* NPT_R | NPT_W, plus NPT_X where the format knows it */
	unsigned ro;           /* NPT_R */
	/* Bits the format adds to the flags a fresh map asked for, learnt from the
	 * first map of rw and of ro (see fctx_norm). */
	unsigned extra_rw, extra_ro;
	unsigned nvalid;
	unsigned valid[256];   /* every flag set encodable at every leaf level */
};

/* Number of formats, for tcase_add_loop_test(tc, fn, 0, fmt_count()). */
unsigned fmt_count(void);

/* Sets up the context for format idx with a pool of pool_frames frames at
 * 0x40000000 (linear: NPT_MM_LINEAR on, else phys_to_virt is called). */
void fctx_init(struct fctx *c, unsigned idx, size_t pool_frames, int linear);
void fctx_fini(struct fctx *c);
/* Replaces the (empty) pool by one of frames frames at base_pa. */
void fctx_repool(struct fctx *c, uint64_t base_pa, size_t frames);
/* npt_new on the context's pool; fails the test on error. */
/* The frame npt_new takes from mm for the handle itself (npt.h): in a
 * pool's live count beside the table's npt_table_frames(). */
#define HANDLE_FRAMES 1u
struct npt_table *fctx_new(struct fctx *c);

/* The flags npt_query must report for a fresh map with `flags`. A format may
 * add only A/D (RISC-V sets both on every leaf); what it adds is learnt from
 * the first maps in fctx_init, and the dedicated test checks it is A/D only. */
unsigned fctx_norm(const struct fctx *c, unsigned flags);
/* Index into valid[] of a flag set different from (norm of) flags, or -1. */
int fctx_other_flags(const struct fctx *c, unsigned flags, unsigned *out);

int fctx_has_leaf(const struct fctx *c, unsigned level);
/* The NPT_MAP_* options allowing exactly the format's leaf levels in mask. */
unsigned fctx_opts(const struct fctx *c, unsigned level_mask);

/* An input address aligned to align with [va, va + span) in the low half,
 * not 0 where possible; fails the test if the format has no room. */
uint64_t fctx_area(const struct fctx *c, uint64_t align, uint64_t span);
/* An output address aligned to align with [pa, pa + span) below 2^pa_bits,
 * different from the area's va where possible. */
uint64_t fctx_pa(const struct fctx *c, uint64_t align, uint64_t span);
/* 1 if [va, va+span) at alignment align fits in the low half. */
int fctx_fits(const struct fctx *c, uint64_t align, uint64_t span);

/* ---- snapshots -------------------------------------------------------- */
struct snap_ent {
	unsigned kind, level;
	uint64_t va, size, pte, pa;
	unsigned flags;
	int shared;
};
struct snap {
	struct snap_ent *e;
	size_t n, cap;
	unsigned char *bytes; /* root frames, then every table in walk order */
	size_t nbytes, bcap;
	uint64_t frames;
	size_t live;
	int partial;
};
void snap_take(struct fctx *c, const struct npt_table *t, struct snap *s);
void snap_free(struct snap *s);
/* Fails the test (naming what) when a and b differ. */
void snap_assert_equal(const struct fctx *c, const struct snap *a, const struct snap *b,
		       const char *what, int line);

/* ---- structural check -------------------------------------------------
 * Walks the whole table with LEAF|TABLE_PRE|TABLE_POST and checks: address
 * order, nesting, levels, sizes, alignment, leaves only at leaf levels,
 * npt_decode agreeing with the visit, tables allocated, every table frame
 * holding exactly as many non-zero words as present entries (catches a
 * missing zeroing and stale entries), npt_table_frames() = root frames +
 * tables (when nothing is shared), and, unless allow_empty, no empty table. */
struct tree_stats {
	unsigned long leaves[TU_MAX_LEVELS];
	unsigned long tables;
	unsigned long empty_tables;
	unsigned long shared_visits;
};
void check_tree(struct fctx *c, const struct npt_table *t, int allow_empty,
		struct tree_stats *st);

/* Leaves in [va, va + size), in walk order. */
struct leaf {
	uint64_t va, size, pa;
	unsigned level, flags;
	int shared;
};
size_t collect_leaves(struct fctx *c, const struct npt_table *t, uint64_t va, uint64_t size,
		      struct leaf **out);
/* All leaves of the table (both halves on canonical formats). */
size_t collect_all_leaves(struct fctx *c, const struct npt_table *t, struct leaf **out);

/* Checks that every page of [va, va+size) translates to pa + offset with
 * norm(flags), through npt_query at the edges and npt_walk for all pages. */
void check_mapped(struct fctx *c, const struct npt_table *t, uint64_t va, uint64_t pa,
		  uint64_t size, unsigned flags, int line);
/* Checks that no page of [va, va + size) is mapped. */
void check_unmapped(struct fctx *c, const struct npt_table *t, uint64_t va, uint64_t size,
		    int line);

/* ---- expectations ------------------------------------------------------ */
/* Context printed with every failed expectation (loop variables and such). */
extern char tu_ctx[256];
#define TU_CTX(...) snprintf(tu_ctx, sizeof(tu_ctx), __VA_ARGS__)

#define EXPECT_RC(c, call, exp)                                                        \
	do {                                                                           \
		int rc_ = (call);                                                      \
		int exp_ = (exp);                                                      \
		ck_assert_msg(rc_ == exp_, "[%s]%s%s %s = %d (%s), expected %d (%s)", \
			      (c)->name, tu_ctx[0] ? " " : "", tu_ctx, #call, rc_,       \
			      npt_strerror(rc_), exp_, npt_strerror(exp_));             \
	} while (0)

#define EXPECT_OK(c, call) EXPECT_RC(c, call, NPT_OK)

/* The call fails with exp and leaves the table (and the pool) as it was. */
#define EXPECT_FAIL(c, t, call, exp)                                                   \
	do {                                                                           \
		struct snap b_, a_;                                                    \
		snap_take((c), (t), &b_);                                              \
		EXPECT_RC(c, call, exp);                                               \
		snap_take((c), (t), &a_);                                              \
		snap_assert_equal((c), &b_, &a_, #call, __LINE__);                     \
		snap_free(&b_);                                                        \
		snap_free(&a_);                                                        \
	} while (0)

/* Same, accepting either of two codes (only where npt.h does not decide). */
#define EXPECT_FAIL2(c, t, call, e1, e2)                                               \
	do {                                                                           \
		struct snap b_, a_;                                                    \
		int rc_;                                                               \
		snap_take((c), (t), &b_);                                              \
		rc_ = (call);                                                          \
		ck_assert_msg(rc_ == (e1) || rc_ == (e2),                              \
			      "[%s]%s%s %s = %d (%s), expected %d (%s) or %d (%s)",    \
			      (c)->name, tu_ctx[0] ? " " : "", tu_ctx, #call, rc_,       \
			      npt_strerror(rc_), (e1),                                 \
			      npt_strerror(e1), (e2), npt_strerror(e2));               \
		snap_take((c), (t), &a_);                                              \
		snap_assert_equal((c), &b_, &a_, #call, __LINE__);                     \
		snap_free(&b_);                                                        \
		snap_free(&a_);                                                        \
	} while (0)

/* Adds a loop test over every format. */
#define ADD_FMT_TEST(tc, fn) tcase_add_loop_test((tc), (fn), 0, (int)fmt_count())

#endif
