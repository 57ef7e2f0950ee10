/* testmm — see testmm.h. */
#include "testmm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define TM_FRAME 4096ull

enum { K_FREE = 0, K_SINGLE = 1, K_HEAD = 2, K_TAIL = 3 };

static void tm_die(const char *what, uint64_t pa)
{
	fprintf(stderr, "testmm: %s (pa 0x%llx)\n", what, (unsigned long long)pa);
	fflush(stderr);
	abort();
}

static int tm_bit(const struct testmm *m, size_t i)
{
	return (int)((m->bitmap[i / 64] >> (i % 64)) & 1u);
}

static void tm_set(struct testmm *m, size_t i, unsigned char kind)
{
	m->bitmap[i / 64] |= 1ull << (i % 64);
	m->kind[i] = kind;
	m->words[i] = 0xa5a5a5a5u; /* npt must write the word before it reads it */
}

static void tm_clear(struct testmm *m, size_t i)
{
	m->bitmap[i / 64] &= ~(1ull << (i % 64));
	m->kind[i] = K_FREE;
}

/* Frame index of pa; aborts when pa is misaligned or outside the pool. */
static size_t tm_index(const struct testmm *m, uint64_t pa, const char *op)
{
	char msg[96];

	if (pa & (TM_FRAME - 1)) {
		snprintf(msg, sizeof msg, "%s: misaligned address", op);
		tm_die(msg, pa);
	}
	if (pa < m->base_pa || (pa - m->base_pa) / TM_FRAME >= m->nframes) {
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

static int tm_alloc(void *ctx, uint64_t *pa)
{
	struct testmm *m = ctx;
	size_t w, nwords = (m->nframes + 63) / 64;

	if (!pa)
		tm_die("alloc: NULL pa pointer", 0);
	if (tm_inject(m))
		return -1;
	for (w = m->hint / 64; w < nwords; w++) {
		uint64_t free_bits = ~m->bitmap[w];
		size_t i;

		if (!free_bits)
			continue;
		i = w * 64 + (size_t)__builtin_ctzll(free_bits);
		if (i >= m->nframes)
			break;
		tm_set(m, i, K_SINGLE);
		m->hint = i + 1;
		m->live++;
		m->allocs++;
		memset(m->pool + i * TM_FRAME, TESTMM_FILL_ALLOC, TM_FRAME);
		*pa = m->base_pa + i * TM_FRAME;
		return 0;
	}
	m->hint = m->nframes;
	m->exhausted++;
	return -1;
}

static void tm_free(void *ctx, uint64_t pa)
{
	struct testmm *m = ctx;
	size_t i = tm_index(m, pa, "free");

	if (!tm_bit(m, i))
		tm_die("free: frame not allocated (double free or never allocated)", pa);
	if (m->kind[i] != K_SINGLE)
		tm_die("free: frame belongs to an alloc_contig block (use free_contig)", pa);
	tm_clear(m, i);
	memset(m->pool + i * TM_FRAME, TESTMM_FILL_FREE, TM_FRAME);
	if (i < m->hint)
		m->hint = i;
	m->live--;
	m->frees++;
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

static int tm_alloc_contig(void *ctx, unsigned count, uint64_t *pa)
{
	struct testmm *m = ctx;
	uint64_t align = (uint64_t)count * TM_FRAME;
	size_t i, j;

	if (!pa)
		tm_die("alloc_contig: NULL pa pointer", 0);
	if (count == 0)
		tm_die("alloc_contig: count 0", 0);
	if (tm_inject(m))
		return -1;
	/* first index whose pa is aligned to count frames */
	i = (size_t)(((m->base_pa + align - 1) / align * align - m->base_pa) / TM_FRAME);
	for (; i + count <= m->nframes; i += count) {
		for (j = 0; j < count; j++)
			if (tm_bit(m, i + j))
				break;
		if (j < count)
			continue;
		tm_set(m, i, K_HEAD);
		for (j = 1; j < count; j++)
			tm_set(m, i + j, K_TAIL);
		m->live += count;
		m->allocs++;
		memset(m->pool + i * TM_FRAME, TESTMM_FILL_ALLOC, count * TM_FRAME);
		*pa = m->base_pa + i * TM_FRAME;
		return 0;
	}
	m->exhausted++;
	return -1;
}

static void tm_free_contig(void *ctx, uint64_t pa, unsigned count)
{
	struct testmm *m = ctx;
	size_t i = tm_index(m, pa, "free_contig"), j;

	if (count == 0)
		tm_die("free_contig: count 0", pa);
	if (!tm_bit(m, i))
		tm_die("free_contig: frame not allocated (double free or never allocated)", pa);
	if (m->kind[i] != K_HEAD)
		tm_die("free_contig: not the first frame of an alloc_contig block", pa);
	if (i + count > m->nframes)
		tm_die("free_contig: count runs past the pool", pa);
	for (j = 1; j < count; j++)
		if (m->kind[i + j] != K_TAIL)
			tm_die("free_contig: count larger than the block", pa);
	if (i + count < m->nframes && m->kind[i + count] == K_TAIL)
		tm_die("free_contig: count smaller than the block", pa);
	for (j = 0; j < count; j++)
		tm_clear(m, i + j);
	memset(m->pool + i * TM_FRAME, TESTMM_FILL_FREE, count * TM_FRAME);
	if (i < m->hint)
		m->hint = i;
	m->live -= count;
	m->frees++;
}

int testmm_init(struct testmm *m, uint64_t base_pa, size_t nframes)
{
	void *p;

	memset(m, 0, sizeof *m);
	if ((base_pa & (TM_FRAME - 1)) || nframes == 0)
		return -1;
	p = mmap(NULL, nframes * TM_FRAME, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return -1;
	m->pool = p;
	m->bitmap = calloc((nframes + 63) / 64, sizeof *m->bitmap);
	m->kind = calloc(nframes, 1);
	m->words = malloc(nframes * sizeof(*m->words));
	if (!m->bitmap || !m->kind || !m->words) {
		free(m->bitmap);
		free(m->kind);
		free(m->words);
		munmap(p, nframes * TM_FRAME);
		memset(m, 0, sizeof *m);
		return -1;
	}
	m->base_pa = base_pa;
	m->nframes = nframes;
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
	free(m->bitmap);
	free(m->kind);
	free(m->words);
	memset(m, 0, sizeof *m);
}

size_t testmm_live(const struct testmm *m)
{
	return m->live;
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
