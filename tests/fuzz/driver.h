/*
 * The differential fuzz driver shared by the libFuzzer target
 * (tests/fuzz/fuzz_npt.c, `ninja fuzz`) and the deterministic replay test
 * (tests/test_fuzz_replay.c, part of `ninja test`).
 *
 * fz_run() decodes a byte string into one format, a pool, up to three
 * tables of that format and a sequence of operations: every public call
 * (npt_map, npt_map_region, npt_unmap, npt_unmap_region, npt_protect,
 * npt_protect_region, npt_remap, npt_copy_from, npt_query, npt_walk, npt_free
 * + npt_new, npt_last_flush), with addresses biased to table and huge-page
 * boundaries, the top of the input width and of both canonical halves, the
 * hole between them, wrap-around sizes, odd flags and options, and allocation
 * failures armed at a chosen allocation or at a random rate.
 *
 * After each operation it compares the engine with the reference model
 * (tests/lib/model.h, one per table; shared root slots are read through the
 * model of the table that owns them): the return code must be one the model
 * allows (NPT_ERR_NOMEM only when the model says the call succeeds and an
 * allocation failed), a failed call must leave the pool unchanged, and the
 * leaves in and around the operation's range must be the model's. Every
 * `check_every` operations, and at the end, the whole of every table is
 * compared and the invariant checker (tests/lib/invariants.h) runs on the
 * set of tables (INV_COMPLETE: no frame leaked).
 *
 * Shares: a shared slot reads through the model of the table that owns the
 * entry (src keeps a lent table even when it empties, npt.h); a root-level
 * leaf is copied by value, so when its owner changes it the driver drops the
 * copy at once with npt_unmap_region over the slot (the model cannot follow
 * a frozen copy), and before npt_free of a lender every share of its
 * entries is dropped (npt.h: src must outlive t's shares).
 */
#ifndef NPT_TESTS_FUZZ_DRIVER_H
#define NPT_TESTS_FUZZ_DRIVER_H

#include <stddef.h>
#include <stdint.h>

struct fz_opts {
	unsigned check_every;   /* full compare + invariants every N ops (1: after each) */
	unsigned snap_every;    /* raw pool snapshot around every N-th call (1: each) */
	unsigned fail_percent;  /* >0: every allocation fails with this probability */
	unsigned max_ops;       /* stop after this many operations (0: input length decides) */
	int verbose;            /* print each operation to stderr */
};

enum { FZ_MAP, FZ_MAP_REGION, FZ_UNMAP, FZ_UNMAP_REGION, FZ_PROTECT, FZ_PROTECT_REGION,
       FZ_REMAP, FZ_COPY_FROM, FZ_QUERY, FZ_WALK, FZ_RENEW, FZ_ARM_FAIL, FZ_MAP_SG, FZ_NOPS };

struct fz_stats {
	unsigned long ops;
	unsigned long by_op[FZ_NOPS];
	unsigned long by_op_ok[FZ_NOPS]; /* calls that succeeded */
	unsigned long ok, refused, nomem;
	unsigned long full_checks;
	unsigned long shares;     /* root entries shared by copy_from */
};

/* 0, or -1 with the divergence (format, operation, expected, got) in msg. */
int fz_run(const uint8_t *data, size_t size, const struct fz_opts *o, struct fz_stats *st,
	   char *msg, size_t len);

/* splitmix64 bytes for the replay: seed -> n pseudo-random bytes. */
void fz_bytes(uint64_t seed, uint8_t *out, size_t n);

#endif
