/* The first-fit core of the frame pools: see frames.h. */
#include <string.h>

#include "frames.h"

#define FRAME 4096u

void npt_frames_init(struct npt_frames *fr, unsigned char *state, uint64_t base_pa,
		     uint64_t frames)
{
	fr->state = state;
	fr->base_pa = base_pa;
	fr->frames = frames;
	fr->hint = 0;
	fr->used = 0;
	memset(state, NPT_FRAME_FREE, frames);
}

uint64_t npt_frames_index(const struct npt_frames *fr, uint64_t pa)
{
	if (pa < fr->base_pa || (pa - fr->base_pa) / FRAME >= fr->frames)
		return UINT64_MAX;
	return (pa - fr->base_pa) / FRAME;
}

/* The first free frame at or above i (frames when none): memchr, because
 * a long run of frames in use above the hint is the common case. */
static uint64_t next_free(const struct npt_frames *fr, uint64_t i)
{
	const unsigned char *s;

	if (i >= fr->frames)
		return fr->frames;
	s = memchr(fr->state + i, NPT_FRAME_FREE, fr->frames - i);
	return s ? (uint64_t)(s - fr->state) : fr->frames;
}

int npt_frames_take(struct npt_frames *fr, uint64_t count, uint64_t align, uint64_t *pa)
{
	const uint64_t first = fr->base_pa / FRAME;
	uint64_t i, k;

	if (count == 0 || align == 0 || (align & (align - 1)))
		return -1;
	i = next_free(fr, fr->hint);
	if (count == 1 && i < fr->frames && ((first + i) & (align - 1)) == 0) {
		/* the common case, and everything in [hint, i) is in use */
		fr->state[i] = NPT_FRAME_SINGLE;
		fr->hint = i + 1;
		fr->used++;
		*pa = fr->base_pa + i * FRAME;
		return 0;
	}
	fr->hint = i;
	while (i < fr->frames && fr->frames - i >= count) {
		const uint64_t skew = (first + i) & (align - 1);

		if (skew) {
			i += align - skew;
			continue;
		}
		for (k = 0; k < count && fr->state[i + k] == NPT_FRAME_FREE; k++)
			;
		if (k == count) {
			fr->state[i] = count == 1 ? NPT_FRAME_SINGLE : NPT_FRAME_HEAD;
			memset(fr->state + i + 1, NPT_FRAME_TAIL, count - 1);
			if (i == fr->hint)
				fr->hint = i + count;
			fr->used += count;
			*pa = fr->base_pa + i * FRAME;
			return 0;
		}
		i = next_free(fr, i + k + 1);
	}
	return -1;
}

int npt_frames_claim(struct npt_frames *fr, uint64_t pa, uint64_t count)
{
	const uint64_t i = npt_frames_index(fr, pa);
	uint64_t k;

	if (i == UINT64_MAX || pa % FRAME || count > fr->frames - i)
		return -1;
	for (k = 0; k < count; k++)
		if (fr->state[i + k] != NPT_FRAME_FREE)
			return -1;
	memset(fr->state + i, NPT_FRAME_SINGLE, count);
	fr->used += count;
	return 0;
}

void npt_frames_split(struct npt_frames *fr, uint64_t pa, uint64_t count)
{
	memset(fr->state + npt_frames_index(fr, pa), NPT_FRAME_SINGLE, count);
}

const char *npt_frames_give(struct npt_frames *fr, uint64_t pa, uint64_t count)
{
	const uint64_t i = npt_frames_index(fr, pa);
	uint64_t k;

	if (i == UINT64_MAX || pa % FRAME || count == 0 || count > fr->frames - i)
		return "freeing a frame outside the pool";
	for (k = 0; k < count; k++) {
		const unsigned want = count == 1 ? NPT_FRAME_SINGLE
					: k ? NPT_FRAME_TAIL : NPT_FRAME_HEAD;

		if (fr->state[i + k] != want)
			return fr->state[i + k] == NPT_FRAME_FREE
				       ? "freeing a frame that is not allocated"
				       : "freed with another size than it was allocated";
	}
	if (i + count < fr->frames && fr->state[i + count] == NPT_FRAME_TAIL)
		return "freed with another size than it was allocated";
	memset(fr->state + i, NPT_FRAME_FREE, count);
	if (i < fr->hint)
		fr->hint = i;
	fr->used -= count;
	return NULL;
}
