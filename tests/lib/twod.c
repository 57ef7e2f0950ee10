#include <check.h>
#include <string.h>

#include "twod.h"

#define PG 4096ull
#define POOL_FRAMES 4096u

const char *const twod_pairs[][2] = {
	{ "x86_64", "ept" },        { "x86_64", "ept5" },        { "x86_64", "npt" },
	{ "x86_64", "npt5" },       { "x86_64-la57", "ept" },    { "x86_64-la57", "ept5" },
	{ "x86_64-la57", "npt" },   { "x86_64-la57", "npt5" },   { "aarch64", "aarch64-s2" },
	{ "aarch64", "aarch64-s2-48" }, { "sv39", "sv39x4" },    { "sv39", "sv48x4" },
	{ "sv39", "sv57x4" },       { "sv48", "sv39x4" },        { "sv48", "sv48x4" },
	{ "sv48", "sv57x4" },       { "sv57", "sv39x4" },        { "sv57", "sv48x4" },
	{ "sv57", "sv57x4" },
};
const unsigned twod_npairs = sizeof(twod_pairs) / sizeof(twod_pairs[0]);

uint64_t twod_rnd(struct world *w)
{
	w->rng ^= w->rng << 13;
	w->rng ^= w->rng >> 7;
	w->rng ^= w->rng << 17;
	return w->rng;
}

static int fam_of(const char *name)
{
	if (!strncmp(name, "x86", 3) || !strncmp(name, "ept", 3) || !strncmp(name, "npt", 3))
		return FAM_X86;
	return !strncmp(name, "aarch64", 7) ? FAM_ARM : FAM_RV;
}

/* ---- the guest's allocator ---------------------------------------------------- */

static int g_alloc(void *ctx, uint64_t *pa)
{
	struct world *w = ctx;
	unsigned tries;

	for (tries = 0; tries < 4 * w->table_pages; tries++) {
		unsigned i = (unsigned)(twod_rnd(w) % w->table_pages);

		if (!w->used[i]) {
			w->used[i] = 1;
			*pa = RAM_BASE + (uint64_t)i * PG;
			return 0;
		}
	}
	return -1;
}

static void g_free(void *ctx, uint64_t pa)
{
	struct world *w = ctx;

	w->used[(pa - RAM_BASE) / PG] = 0;
}

static void *g_virt(void *ctx, uint64_t pa)
{
	struct world *w = ctx;
	uint64_t i = (pa - RAM_BASE) / PG;

	if (pa < RAM_BASE || i >= RAM_PAGES)
		return NULL;
	return (char *)testmm_va(&w->host, w->hpa_of[i]) + (pa & (PG - 1));
}

/* ---- building a world ------------------------------------------------------------ */

/* Stage 2: RAM chunks in shuffled order, each as one 2 MiB leaf or as 512
 * shuffled 4 KiB pages (all 4 KiB when small is set), R|W|X; the MMIO
 * window as device memory. */
void world_init(struct world *w, const char *n1, const char *n2, uint64_t seed, int small)
{
	unsigned c, j, order[CHUNKS] = { 0, 1, 2, 3 };
	int err;

	memset(w, 0, sizeof(*w));
	w->rng = seed * 0x9e3779b97f4a7c15ull + 1;
	w->f1 = npt_format_by_name(n1);
	w->f2 = npt_format_by_name(n2);
	ck_assert_msg(w->f1 && w->f2, "formats %s / %s", n1, n2);
	npt_format_info(w->f1, &w->i1);
	npt_format_info(w->f2, &w->i2);
	w->fam = fam_of(n1);
	ck_assert_int_eq(testmm_init(&w->host, 0x100000000ull, POOL_FRAMES), 0);
	for (c = 0; c < CHUNKS; c++)
		ck_assert_int_eq(w->host.mm.alloc_contig(w->host.mm.ctx, 512, &w->chunk_hpa[c]), 0);
	w->s2 = npt_new(w->f2, &w->host.mm, &err);
	ck_assert_msg(w->s2, "npt_new(%s): %d", n2, err);
	for (c = CHUNKS - 1; c > 0; c--) {
		unsigned k = (unsigned)(twod_rnd(w) % (c + 1)), t = order[c];

		order[c] = order[k];
		order[k] = t;
	}
	for (c = 0; c < CHUNKS; c++) {
		uint64_t gpa = RAM_BASE + c * CHUNK, hpa = w->chunk_hpa[order[c]];
		unsigned perm[512];

		if (!small && twod_rnd(w) % 2) {
			ck_assert_int_eq(npt_map_region(w->s2, gpa, hpa, CHUNK, NPT_R | NPT_W | NPT_X,
							NPT_MAP_2M), 0);
			for (j = 0; j < 512; j++)
				w->hpa_of[c * 512 + j] = hpa + j * PG;
			continue;
		}
		for (j = 0; j < 512; j++)
			perm[j] = j;
		for (j = 511; j > 0; j--) {
			unsigned k = (unsigned)(twod_rnd(w) % (j + 1)), t = perm[j];

			perm[j] = perm[k];
			perm[k] = t;
		}
		for (j = 0; j < 512; j++) {
			w->hpa_of[c * 512 + j] = hpa + perm[j] * PG;
			ck_assert_int_eq(npt_map(w->s2, gpa + j * PG, hpa + perm[j] * PG, PG,
						 NPT_R | NPT_W | NPT_X), 0);
		}
	}
	ck_assert_int_eq(npt_map_region(w->s2, MMIO_GPA, MMIO_HPA, 16 * PG,
					NPT_R | NPT_W | NPT_DEVICE, 0), 0);
	w->table_pages = small ? 512 : RAM_PAGES;
	w->gmm.ctx = w;
	w->gmm.alloc = g_alloc;
	w->gmm.free = g_free;
	w->gmm.phys_to_virt = g_virt;
	w->s1 = npt_new(w->f1, &w->gmm, &err);
	ck_assert_msg(w->s1, "npt_new(%s): %d", n1, err);
}

void world_fini(struct world *w)
{
	npt_abandon(w->s1); /* its frames are guest RAM, which goes with the pool */
	npt_free(w->s2);
	testmm_destroy(&w->host);
}

