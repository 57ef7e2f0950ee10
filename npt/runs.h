/*
 * Run kernels (runs.c): loops over a run tbl[lo..hi] of entries of one table,
 * for the walker's table-wide actions (walk.h). amask is the format's address field.
 */
#ifndef NPT_RUNS_H
#define NPT_RUNS_H

#include "internal.h"

/* tbl[lo..hi] = bits | (addr + k * step), k = 0, 1, ...: leaves of
 * consecutive output addresses (addr and step in entry bits), in a table no
 * reader can see yet (plain vector stores). */
void npt_run_fill(uint64_t *tbl, unsigned lo, unsigned hi, uint64_t bits, uint64_t addr,
		  uint64_t step, uint64_t amask);
/* 1 if every / any entry of tbl[lo..hi] is present. */
int npt_run_all_present(const struct npt_format *f, const uint64_t *tbl, unsigned lo,
			unsigned hi);
int npt_run_any_present(const struct npt_format *f, const uint64_t *tbl, unsigned lo,
			unsigned hi);
/* tbl[i] = bits | (tbl[i] & amask) over lo..hi, in a table readers may see:
 * each entry written whole, an unchanged one not at all. next: the table the
 * range goes on into (prefetched), or NULL. Returns 1 if any entry changed. */
int npt_run_protect(uint64_t *tbl, unsigned lo, unsigned hi, uint64_t bits, uint64_t amask,
		    const uint64_t *next);
/* The whole of tbl (NPT_ENTRIES entries) = bits | (addr + i * step), in a
 * table readers may see: each entry written whole, without reading any. */
void npt_run_protect_seq(uint64_t *tbl, uint64_t bits, uint64_t addr, uint64_t step,
			 const uint64_t *next);
/* 1 if tbl is one full run (format.h, full_bit): every entry present, entry
 * i's address that of entry 0 plus i pages. */
int npt_run_is_full_run(const struct npt_format *f, const uint64_t *tbl);
/* tbl[lo..hi] = 0, in a table readers may see: each entry written whole
 * (never memset, which may write an entry a byte at a time). */
void npt_run_clear(uint64_t *tbl, unsigned lo, unsigned hi);

#endif
