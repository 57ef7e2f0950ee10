/*
 * A guest for two-dimensional walks (tests/test_translate*.c): guest RAM of
 * 4 chunks of 2 MiB at guest-physical RAM_BASE, backed by host frames of a
 * testmm pool in shuffled order (each chunk one 2 MiB stage-2 leaf or 512
 * shuffled 4 KiB pages); an MMIO window mapped as device memory; and a
 * stage-1 table that npt builds in guest RAM through the guest's own
 * allocator (guest-physical frames, written through the host frames
 * behind them).
 */
#ifndef NPT_TESTS_TWOD_H
#define NPT_TESTS_TWOD_H

#include <stdint.h>

#include "npt.h"
#include "testmm.h"

#define RAM_BASE    0x40000000ull /* guest-physical RAM */
#define CHUNKS      4u
#define CHUNK       (2ull << 20)
#define RAM_PAGES   (CHUNKS * 512u)
#define MMIO_GPA    0xfee00000ull /* 16 pages of device memory in stage 2 */
#define MMIO_HPA    0xfee00000ull
#define HOLE_GPA    0x50000000ull /* nothing in stage 2 */
#define TWOD_REGIONS 64u

enum { FAM_X86, FAM_ARM, FAM_RV };

struct world {
	const struct npt_format *f1, *f2;
	struct npt_format_info i1, i2;
	int fam;
	struct testmm host;
	struct npt_table *s2, *s1;
	uint64_t chunk_hpa[CHUNKS];
	uint64_t hpa_of[RAM_PAGES]; /* host frame behind each guest page */
	unsigned char used[RAM_PAGES];
	unsigned table_pages;       /* the guest allocator takes pages below this index */
	struct npt_mm gmm;          /* the guest's allocator: guest-physical frames */
	uint64_t rng;
	unsigned nregions;          /* what tests mapped in stage 1, for probes */
	uint64_t region_va[TWOD_REGIONS], region_size[TWOD_REGIONS];
};

/* The stage-1 / stage-2 pairs the hardware nests. */
extern const char *const twod_pairs[][2];
extern const unsigned twod_npairs;

uint64_t twod_rnd(struct world *w);
/* small: every chunk as 4 KiB pages, stage-1 tables in the first chunk. */
void world_init(struct world *w, const char *s1, const char *s2, uint64_t seed, int small);
void world_fini(struct world *w);

#endif
