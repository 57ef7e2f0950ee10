/*
 * npt_user_malloc_mm: 4 KiB frames from the C heap, under physical
 * addresses this allocator numbers itself (frame number << 12, from 1 up:
 * dense and small, so every format's output width takes them, and never 0,
 * which LoongArch directory entries cannot name).
 *
 * phys_to_virt is a two-level array indexed by frame number whose chunks
 * never move once made, so a reader needs no lock while the writer
 * allocates. Numbers given back are used again: single frames from a stack,
 * contiguous blocks by their size.
 */
#include <string.h>

#include "user_mm.h"

#define CHUNK_SHIFT 14u                   /* frames per chunk: 16384 */
#define CHUNKS 4096u                      /* 2^26 frames: 256 GiB of tables */
#define MAX_FRAME ((uint64_t)CHUNKS << CHUNK_SHIFT)
#define TAIL UINT32_MAX                   /* slot.count of a block's later frames */

struct slot {
	void *virt;
	uint32_t word;  /* frame_word */
	uint32_t count; /* 0 free, 1 a single frame, n the head of a block of n, TAIL */
};

struct block {
	uint64_t fn;
	unsigned count;
};

struct heap {
	struct npt_user_mm h;
	struct slot *chunk[CHUNKS];
	uint64_t next; /* first frame number never handed out */
	uint64_t *singles;
	size_t nsingles, csingles;
	struct block *blocks;
	size_t nblocks, cblocks;
};

static struct slot *slot_of(const struct heap *m, uint64_t fn)
{
	const struct slot *c;

	if (fn == 0 || fn >= MAX_FRAME)
		return NULL;
	c = __atomic_load_n(&m->chunk[fn >> CHUNK_SHIFT], __ATOMIC_ACQUIRE);
	return c ? (struct slot *)&c[fn & ((1u << CHUNK_SHIFT) - 1)] : NULL;
}

/* The chunks of frames [fn, fn + n) made. */
static int chunks_for(struct heap *m, uint64_t fn, uint64_t n)
{
	uint64_t k;

	if (fn + n > MAX_FRAME)
		return -1;
	for (k = fn >> CHUNK_SHIFT; k <= (fn + n - 1) >> CHUNK_SHIFT; k++) {
		struct slot *c;

		if (m->chunk[k])
			continue;
		c = calloc((size_t)1 << CHUNK_SHIFT, sizeof(*c));
		if (!c)
			return -1;
		__atomic_store_n(&m->chunk[k], c, __ATOMIC_RELEASE);
	}
	return 0;
}

static int grow(void **arr, size_t *cap, size_t n, size_t elem)
{
	void *p;
	size_t c;

	if (n < *cap)
		return 0;
	c = *cap ? *cap * 2 : 64;
	p = realloc(*arr, c * elem);
	if (!p)
		return -1;
	*arr = p;
	*cap = c;
	return 0;
}

/* A frame number for a block of count frames aligned to align frames. */
static int number(struct heap *m, unsigned count, uint64_t align, uint64_t *fn)
{
	uint64_t f, k;
	size_t i;

	if (count == 1 && m->nsingles) {
		*fn = m->singles[--m->nsingles];
		return 0;
	}
	for (i = 0; count > 1 && i < m->nblocks; i++) {
		if (m->blocks[i].count == count) {
			*fn = m->blocks[i].fn;
			m->blocks[i] = m->blocks[--m->nblocks];
			return 0;
		}
	}
	f = (m->next + align - 1) & ~(align - 1);
	if (chunks_for(m, m->next, f + count - m->next))
		return -1;
	/* the numbers skipped for alignment serve later single frames */
	for (k = m->next; k < f; k++) {
		if (grow((void **)&m->singles, &m->csingles, m->nsingles, sizeof(*m->singles)))
			break;
		m->singles[m->nsingles++] = k;
	}
	m->next = f + count;
	*fn = f;
	return 0;
}

static void unnumber(struct heap *m, uint64_t fn, unsigned count)
{
	if (count == 1) {
		if (!grow((void **)&m->singles, &m->csingles, m->nsingles, sizeof(*m->singles)))
			m->singles[m->nsingles++] = fn;
	} else if (!grow((void **)&m->blocks, &m->cblocks, m->nblocks, sizeof(*m->blocks))) {
		m->blocks[m->nblocks].fn = fn;
		m->blocks[m->nblocks++].count = count;
	}
	/* else the number is lost, not the memory */
}

static int take(struct npt_user_mm *h, unsigned count, uint64_t *pa)
{
	struct heap *m = (struct heap *)h;
	uint64_t align = 1, fn;
	unsigned char *mem;
	unsigned k;

	if (count == 0 || count > (1u << CHUNK_SHIFT))
		return -1;
	while (align < count)
		align <<= 1;
	mem = aligned_alloc(NPT_USER_FRAME, (size_t)count * NPT_USER_FRAME);
	if (!mem)
		return -1;
	npt_user_lock(&m->h);
	if (number(m, count, align, &fn)) {
		npt_user_unlock(&m->h);
		free(mem);
		return -1;
	}
	for (k = 0; k < count; k++) {
		struct slot *s = slot_of(m, fn + k);

		s->count = k ? TAIL : count;
		__atomic_store_n(&s->virt, mem + (size_t)k * NPT_USER_FRAME, __ATOMIC_RELEASE);
	}
	m->h.used += count;
	npt_user_unlock(&m->h);
	*pa = fn << 12;
	return 0;
}

static void give(struct npt_user_mm *h, uint64_t pa, unsigned count)
{
	struct heap *m = (struct heap *)h;
	struct slot *s = (pa & (NPT_USER_FRAME - 1)) ? NULL : slot_of(m, pa >> 12);
	void *mem;
	unsigned k;

	npt_user_lock(&m->h);
	if (!s || s->count != count)
		npt_user_bad_free("heap", s && s->count ? "freed with another size than it was allocated"
					 : "freeing a frame that is not allocated", pa);
	mem = s->virt;
	for (k = 0; k < count; k++) {
		struct slot *t = slot_of(m, (pa >> 12) + k);

		t->count = 0;
		__atomic_store_n(&t->virt, NULL, __ATOMIC_RELAXED);
	}
	unnumber(m, pa >> 12, count);
	m->h.used -= count;
	npt_user_unlock(&m->h);
	free(mem);
}

static void *heap_virt(void *ctx, uint64_t pa)
{
	const struct slot *s = slot_of(ctx, pa >> 12);
	unsigned char *v = s ? __atomic_load_n(&s->virt, __ATOMIC_ACQUIRE) : NULL;

	return v ? v + (pa & (NPT_USER_FRAME - 1)) : NULL;
}

static uint32_t *heap_word(void *ctx, uint64_t pa)
{
	struct slot *s = slot_of(ctx, pa >> 12);

	return s ? &s->word : NULL;
}

struct npt_mm *npt_user_malloc_mm(void)
{
	struct heap *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->next = 1;
	m->h.kind = NPT_USER_HEAP;
	m->h.capacity = UINT64_MAX;
	m->h.take = take;
	m->h.give = give;
	npt_user_mm_calls(&m->h);
	m->h.mm.phys_to_virt = heap_virt;
	m->h.mm.frame_word = heap_word;
	return &m->h.mm;
}

void npt_user_heap_delete(struct npt_user_mm *h)
{
	struct heap *m = (struct heap *)h;
	uint64_t fn;
	unsigned k;

	for (fn = 1; fn < m->next; fn++) {
		const struct slot *s = slot_of(m, fn);

		if (s && s->count && s->count != TAIL)
			free(s->virt);
	}
	for (k = 0; k < CHUNKS; k++)
		free(m->chunk[k]);
	free(m->singles);
	free(m->blocks);
	free(m);
}
