/*
 * testmm — the frame pool of the test suites (user/frames.h) with failure
 * injection, poison and checks.
 *
 * Frames get fake physical addresses base_pa + i * 4096 inside one mmap'ed
 * pool (MAP_NORESERVE, touched lazily), so tables never depend on host
 * pointers and stay inside small output widths. phys_to_virt is
 * pool + (pa - base_pa), and NPT_MM_LINEAR is set with the matching
 * linear_offset.
 *
 * Each frame has a frame word (npt_mm.frame_word), 0xa5a5a5a5 when handed
 * out and refused (abort) for a frame not allocated.
 *
 * Checks: a freshly handed-out frame is filled with 0xA5 (the engine must
 * zero what it allocates); a freed frame is filled with 0xDB; free,
 * free_contig and phys_to_virt abort with a message on a double free, a frame
 * never allocated, a misaligned or out-of-pool address, a free/free_contig
 * mismatch.
 */
#ifndef NPT_TESTS_TESTMM_H
#define NPT_TESTS_TESTMM_H

#include <stddef.h>
#include <stdint.h>

#include "frames.h" /* the first-fit core of every frame pool (user/) */
#include "npt.h"

#define TESTMM_FILL_ALLOC 0xA5u
#define TESTMM_FILL_FREE  0xDBu

struct testmm {
	struct npt_mm mm; /* filled by testmm_init */
	/* private */
	unsigned char *pool;
	uint64_t base_pa;
	size_t nframes;
	struct npt_frames fr;   /* which frames are out, and as what (fr.state) */
	uint32_t *words;        /* per frame: npt_mm.frame_word */
	unsigned long allocs;   /* successful alloc + alloc_contig calls */
	unsigned long frees;    /* free + free_contig calls */
	unsigned long attempts; /* alloc + alloc_contig calls */
	unsigned long injected; /* failures injected */
	unsigned long exhausted;/* failures because the pool was full */
	long fail_after;        /* -1: never */
	unsigned fail_percent;
	uint64_t rng;
	int check_p2v;          /* phys_to_virt aborts on a frame not allocated (default 1) */
};

int testmm_init(struct testmm *m, uint64_t base_pa, size_t nframes); /* 0 or -1 */
void testmm_destroy(struct testmm *m);
size_t testmm_live(const struct testmm *m);          /* frames allocated and not yet freed */
unsigned long testmm_allocs(const struct testmm *m); /* successful allocations so far */
unsigned long testmm_injected(const struct testmm *m); /* failures injected so far */
/* The n-th next allocation (0 = the very next) fails, and only that one; -1 = never. */
void testmm_fail_after(struct testmm *m, long n);
/* Every allocation fails with probability percent/100 (0 = never), seeded. */
void testmm_fail_rate(struct testmm *m, unsigned percent, uint64_t seed);
/* Pointer to the frame containing pa, NULL outside the pool. */
void *testmm_va(struct testmm *m, uint64_t pa);
/* 1 if the frame containing pa is allocated. */
int testmm_is_allocated(const struct testmm *m, uint64_t pa);

#endif
