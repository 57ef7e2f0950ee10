/*
 * invariants — a structural checker that reads the real tables, frame by
 * frame, straight out of a testmm pool (it needs the engine's private
 * struct npt_table, so it includes "internal.h"), and raw snapshots of a pool
 * for "a failed call changes nothing".
 *
 * inv_check(mm, tables, n, opts, msg, len) verifies, for tables that all
 * allocate from mm:
 *  - the root: root_pa aligned to its size, every root frame allocated in
 *    the pool, t->root == the pool's view of root_pa, root_frames /
 *    root_entries as npt_format_info() says;
 *  - every entry: absent entries are all-zero words; a present entry is a
 *    leaf only at one of the format's leaf levels (level 0 always), a leaf's
 *    output (its address field masked to its size: below it some formats
 *    keep flags) is inside pa_bits, and the leaf is exactly what
 *    npt_encode_leaf() writes for its decoded flags and that output (no
 *    stray bits, no address bits below the leaf size); a table entry is exactly table_bits | address, pointing to a
 *    4 KiB frame allocated singly (not part of a contiguous block) in the
 *    pool;
 *  - every table is reached exactly once over the whole set (no frame under
 *    two parents, no frame in two tables, no cycle), except through root
 *    entries shared by npt_copy_from, which are not descended: a shared slot
 *    holds a present entry, and (with INV_COMPLETE) a shared table entry
 *    points to a table owned by another table of the set at the same root
 *    index;
 *  - no table is empty (the root may be);
 *  - npt_table_frames(t) = the root frames plus the tables t owns;
 *  - with INV_COMPLETE (tables[] is every table allocated from mm): the
 *    pool's live-frame count equals the frames all tables own, i.e. no frame
 *    leaked and none freed while still reachable.
 * Returns 0, or -1 with the first violation described in msg (with the path
 * of root/table indices that leads to it).
 *
 * Snapshots: inv_snap_take copies which frames of the pool are allocated,
 * the bytes of every allocated frame, the live count and the engine's
 * struct npt_table of each table (all but the TLB record); inv_snap_cmp
 * reports the first difference.
 */
#ifndef NPT_TESTS_INVARIANTS_H
#define NPT_TESTS_INVARIANTS_H

#include <stddef.h>
#include <stdint.h>

#include "npt.h"
#include "testmm.h"

#define INV_MAX_TABLES 8

#define INV_COMPLETE 0x1u /* tables[] holds every table allocated from mm */

int inv_check(struct testmm *mm, struct npt_table *const *tables, unsigned n, unsigned opts,
	      char *msg, size_t len);

/* Tables owned (reached through non-shared entries) by t, root frames
 * included, as the checker counts them; 0 on a violation. */
uint64_t inv_owned_frames(struct testmm *mm, struct npt_table *t);

struct inv_snap {
	size_t nframes;
	unsigned char *state;       /* copy of the pool's frame states */
	unsigned char *bytes;       /* every allocated frame, in pool order */
	size_t nbytes;
	size_t live;
	unsigned n;
	void *tables[INV_MAX_TABLES]; /* copies of struct npt_table */
};
void inv_snap_take(struct inv_snap *s, struct testmm *mm, struct npt_table *const *tables,
		   unsigned n);
/* 0 when the pool and tables are as in s, else -1 with the difference in msg. */
int inv_snap_cmp(const struct inv_snap *s, struct testmm *mm, struct npt_table *const *tables,
		 unsigned n, char *msg, size_t len);
void inv_snap_free(struct inv_snap *s);

/* libcheck helpers: fail the running test with the message. */
#define INV_ASSERT(mm, tables, n, opts, what)                                        \
	do {                                                                         \
		char inv_msg_[512];                                                  \
		ck_assert_msg(inv_check((mm), (tables), (n), (opts), inv_msg_,       \
					sizeof(inv_msg_)) == 0,                      \
			      "%s: %s", (what), inv_msg_);                           \
	} while (0)

#endif
