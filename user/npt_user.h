/*
 * npt_user.h: ready frame allocators (struct npt_mm) for user space, in
 * libnpt_user.a beside libnpt (pkg-config npt links both).
 *
 *  - npt_user_malloc_mm: frames from the C library's heap. Their "physical"
 *    addresses are numbers this allocator hands out (from 4 KiB up, dense),
 *    not host addresses, so they fit every format's output width, 40-bit
 *    aarch64-s2 included; phys_to_virt finds the memory. It has
 *    alloc_contig, so every format works with it, and frame_word, so
 *    single-page calls decide full_bit in O(1).
 *  - npt_user_pool_mm: frames carved from memory the caller owns (a
 *    mmap'ed region, a guest's RAM, a static array) whose physical address
 *    the caller names: frame k of mem is base_pa + k * 4 KiB. Its own
 *    bookkeeping sits at the start of mem; nothing is allocated elsewhere,
 *    so it also works where there is no heap. NPT_MM_LINEAR.
 *
 * Both are safe to call from several threads (a spin lock around alloc and
 * free; phys_to_virt takes none, so npt's concurrent readers never wait).
 * Handing back a frame the allocator does not hold as allocated is the
 * caller's bug: the process stops (abort) with a message naming it.
 */
#ifndef NPT_USER_H
#define NPT_USER_H

#include <stddef.h>
#include <stdint.h>

#include "npt.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A new heap allocator; NULL when the heap is out of memory. */
struct npt_mm *npt_user_malloc_mm(void);
/* Frames from mem[0, size) (mem 4 KiB aligned, base_pa 4 KiB aligned):
 * NULL when mem is misaligned or too small for its bookkeeping and one
 * frame. The mm lives inside mem; drop it by dropping mem. */
struct npt_mm *npt_user_pool_mm(void *mem, size_t size, uint64_t base_pa);
/* Frames handed out and not yet back (a count of 4 KiB frames; a contiguous
 * block counts each of its frames). 0 after npt_free of every table. */
uint64_t npt_user_mm_frames(const struct npt_mm *mm);
/* Frames a pool can still hand out (for a heap mm: UINT64_MAX). */
uint64_t npt_user_mm_available(const struct npt_mm *mm);
/* The heap allocator gives back everything, frames still held included;
 * for a pool it does nothing. */
void npt_user_mm_delete(struct npt_mm *mm);

#ifdef __cplusplus
}
#endif

#endif
