/*
 * A run of 4 KiB frames and the state of each: the first-fit core under
 * every frame pool of npt's tree -- npt_user_pool_mm (pool.c), the VMM's
 * pools (vmm/pool.c) and the tests' testmm (tests/lib/testmm.c). Each adds
 * only what is its own: a lock and bookkeeping inside the memory (pool.c),
 * claims of given frames (the VMM), failure injection and poison (testmm).
 *
 * A frame is free, a single frame, or the head or a tail of a block, so a
 * free of the wrong size, a double free and a free of a frame never handed
 * out are all told apart. No lock: the caller's.
 */
#ifndef NPT_USER_FRAMES_H
#define NPT_USER_FRAMES_H

#include <stdint.h>

enum { NPT_FRAME_FREE = 0, NPT_FRAME_SINGLE = 1, NPT_FRAME_HEAD = 2, NPT_FRAME_TAIL = 3 };

struct npt_frames {
	unsigned char *state; /* per frame: NPT_FRAME_* */
	uint64_t base_pa;     /* of frame 0 */
	uint64_t frames;      /* in the run */
	uint64_t hint;        /* no free frame below it */
	uint64_t used;        /* frames not free */
};

/* Frame i of the run is at base_pa + i * 4 KiB; state has frames bytes,
 * every frame free. */
void npt_frames_init(struct npt_frames *fr, unsigned char *state, uint64_t base_pa,
		     uint64_t frames);
/* A block's alignment in npt_user_pool_mm and testmm: count frames rounded
 * up to a power of two (npt's multi-frame roots need their size). */
static inline uint64_t npt_frames_block_align(uint64_t count)
{
	uint64_t align = 1;

	while (align < count)
		align <<= 1;
	return align;
}
/* The lowest count free frames in a row whose physical address is a
 * multiple of align frames (a power of two): one single frame, or a block.
 * 0, or -1 when there is no such run. */
int npt_frames_take(struct npt_frames *fr, uint64_t count, uint64_t align, uint64_t *pa);
/* The frames [pa, pa + count * 4 KiB) out as single frames, each given
 * back on its own: 0, or -1 (nothing changed) when one is outside the run
 * or not free. */
int npt_frames_claim(struct npt_frames *fr, uint64_t pa, uint64_t count);
/* A block that take handed out becomes count single frames, each given
 * back on its own (the caller's block, known good). */
void npt_frames_split(struct npt_frames *fr, uint64_t pa, uint64_t count);
/* NULL when [pa, count frames) is what one take or claim handed out (a
 * single frame for count 1, a whole block else); else why not, and nothing
 * changed. */
const char *npt_frames_give(struct npt_frames *fr, uint64_t pa, uint64_t count);
/* The frame index of pa, or UINT64_MAX when pa is outside the run. */
uint64_t npt_frames_index(const struct npt_frames *fr, uint64_t pa);

#endif
