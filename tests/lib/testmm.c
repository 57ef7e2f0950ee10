/* testmm — see testmm.h. */
#include "testmm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define TM_FRAME 4096ull

static void tm_die(const char *what, uint64_t pa)
{
	fprintf(stderr, "testmm: %s (pa 0x%llx)\n", what, (unsigned long long)pa);
	fflush(stderr);
	abort();
}

static int tm_bit(const struct testmm *m, size_t i)
{
	return m->fr.state[i] != NPT_FRAME_FREE;
}

/* Frame index of pa; aborts when pa is misaligned or outside the pool. */
static size_t tm_index(const struct testmm *m, uint64_t pa, const char *op)
{
	char msg[96];

	if (pa & (TM_FRAME - 1)) {
		snprintf(msg, sizeof msg, "%s: misaligned address", op);
		tm_die(msg, pa);
	}
	if (npt_frames_index(&m->fr, pa) == UINT64_MAX) {
		snprintf(msg, sizeof msg, "%s: address outside the pool", op);
		tm_die(msg, pa);
	}
	return (size_t)((pa - m->base_pa) / TM_FRAME);
}

static uint64_t tm_rand(struct testmm *m)
{
	/* splitmix64 */
	uint64_t z = (m->rng += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Decides whether this allocation attempt fails by injection. */
static int tm_inject(struct testmm *m)
{
	m->attempts++;
	if (m->fail_after >= 0) {
		if (m->fail_after-- == 0) {
			m->fail_after = -1;
			m->injected++;
			return 1;
		}
	}
	if (m->fail_percent && tm_rand(m) % 100 < m->fail_percent) {
		m->injected++;
		return 1;
	}
	return 0;
}

/* count frames (one, or a block aligned to its size), handed out filled
 * with TESTMM_FILL_ALLOC and their words poisoned: npt must write both
 * before it reads them. */
static int tm_take(struct testmm *m, unsigned count, uint64_t *pa)
{
	size_t i, k;

	if (!pa)
		tm_die("alloc: NULL pa pointer", 0);
	if (count == 0)
		tm_die("alloc_contig: count 0", 0);
	if (tm_inject(m))
		return -1;
	if (npt_frames_take(&m->fr, count, npt_frames_block_align(count), pa)) {
		m->exhausted++;
		return -1;
	}
	i = (size_t)((*pa - m->base_pa) / TM_FRAME);
	for (k = 0; k < count; k++)
		m->words[i + k] = 0xa5a5a5a5u;
	memset(m->pool + i * TM_FRAME, TESTMM_FILL_ALLOC, count * TM_FRAME);
	m->allocs++;
	return 0;
}

/* Gives back what one tm_take handed out, filled with TESTMM_FILL_FREE;
 * anything else aborts. */
static void tm_give(struct testmm *m, uint64_t pa, unsigned count, const char *op)
{
	const char *bad;
	char msg[96];

	tm_index(m, pa, op);
	bad = npt_frames_give(&m->fr, pa, count);
	if (bad) {
		snprintf(msg, sizeof msg, "%s: %s", op, bad);
		tm_die(msg, pa);
	}
	memset(m->pool + (pa - m->base_pa), TESTMM_FILL_FREE, (size_t)count * TM_FRAME);
	m->frees++;
}

static int tm_alloc(void *ctx, uint64_t *pa)
{
	return tm_take(ctx, 1, pa);
}

static void tm_free(void *ctx, uint64_t pa)
{
	tm_give(ctx, pa, 1, "free");
}

static int tm_alloc_contig(void *ctx, unsigned count, uint64_t *pa)
{
	return tm_take(ctx, count, pa);
}

static void tm_free_contig(void *ctx, uint64_t pa, unsigned count)
{
	tm_give(ctx, pa, count, "free_contig");
}

static void *tm_p2v(void *ctx, uint64_t pa)
{
	struct testmm *m = ctx;
	size_t i = tm_index(m, pa & ~(TM_FRAME - 1), "phys_to_virt");

	if (m->check_p2v && !tm_bit(m, i))
		tm_die("phys_to_virt: frame not allocated (use after free?)", pa);
	return m->pool + (pa - m->base_pa);
}

/* The frame word of an allocated frame (npt.h); garbage until npt writes it. */
static uint32_t *tm_word(void *ctx, uint64_t pa)
{
	struct testmm *m = ctx;
	size_t i = tm_index(m, pa, "frame_word");

	if (!tm_bit(m, i))
		tm_die("frame_word: frame not allocated", pa);
	return &m->words[i];
}

int testmm_init(struct testmm *m, uint64_t base_pa, size_t nframes)
{
	unsigned char *state;
	void *p;

	memset(m, 0, sizeof *m);
	if ((base_pa & (TM_FRAME - 1)) || nframes == 0)
		return -1;
	p = mmap(NULL, nframes * TM_FRAME, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return -1;
	m->pool = p;
	state = malloc(nframes);
	m->words = malloc(nframes * sizeof(*m->words));
	if (!state || !m->words) {
		free(state);
		free(m->words);
		munmap(p, nframes * TM_FRAME);
		memset(m, 0, sizeof *m);
		return -1;
	}
	m->base_pa = base_pa;
	m->nframes = nframes;
	npt_frames_init(&m->fr, state, base_pa, nframes);
	m->fail_after = -1;
	m->check_p2v = 1;
	m->mm.ctx = m;
	m->mm.alloc = tm_alloc;
	m->mm.free = tm_free;
	m->mm.phys_to_virt = tm_p2v;
	m->mm.alloc_contig = tm_alloc_contig;
	m->mm.free_contig = tm_free_contig;
	m->mm.frame_word = tm_word;
	m->mm.flags = NPT_MM_LINEAR;
	m->mm.linear_offset = (uintptr_t)m->pool - (uintptr_t)base_pa;
	return 0;
}

void testmm_destroy(struct testmm *m)
{
	if (m->pool)
		munmap(m->pool, m->nframes * TM_FRAME);
	free(m->fr.state);
	free(m->words);
	memset(m, 0, sizeof *m);
}

size_t testmm_live(const struct testmm *m)
{
	return (size_t)m->fr.used;
}

unsigned long testmm_allocs(const struct testmm *m)
{
	return m->allocs;
}

unsigned long testmm_injected(const struct testmm *m)
{
	return m->injected;
}

void testmm_fail_after(struct testmm *m, long n)
{
	m->fail_after = n < 0 ? -1 : n;
}

void testmm_fail_rate(struct testmm *m, unsigned percent, uint64_t seed)
{
	m->fail_percent = percent > 100 ? 100 : percent;
	m->rng = seed;
}

void *testmm_va(struct testmm *m, uint64_t pa)
{
	if (pa < m->base_pa || (pa - m->base_pa) / TM_FRAME >= m->nframes)
		return NULL;
	return m->pool + (pa - m->base_pa);
}

int testmm_is_allocated(const struct testmm *m, uint64_t pa)
{
	if (pa < m->base_pa || (pa - m->base_pa) / TM_FRAME >= m->nframes)
		return 0;
	return tm_bit(m, (size_t)((pa - m->base_pa) / TM_FRAME));
}
