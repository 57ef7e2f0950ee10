/*
 * ninja bench, two-dimensional walks: npt_translate_2d of random addresses
 * of 1 GiB of guest memory (4 KiB stage-1 leaves, the stage-1 tables in
 * guest RAM), against a floor measured in the same run: the two single
 * walks it composes, npt_query of the stage-1 table and npt_query of stage
 * 2 (which read the same entries but judge nothing, record no reference,
 * and walk stage 2 once instead of once per stage-1 level). Stage 2 maps
 * guest RAM with 2 MiB leaves, then with 4 KiB leaves.
 *
 * Figures are ns per translation, the best and the median of REPS
 * repetitions after one warm-up; the ratio is best against best. Host
 * memory is one mmap: guest RAM at host-physical 0, the stage-2 tables
 * above it, each side's frames from a bench pool (bench/pool.h).
 *
 *   build-release/bench/bench_2d [--reps N]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "npt.h"
#include "pool.h"

#define PAGE 4096ull
#define MiB (1ull << 20)
#define GiB (1ull << 30)
#define VA_BASE (16 * GiB)       /* guest-virtual 1 GiB, mapped to guest-physical 0 */
#define GUEST_TABLES (GiB - 64 * MiB) /* where the guest's allocator takes stage-1 frames */
#define HOST_TABLES GiB          /* stage-2 frames above guest RAM */
#define HOST_SIZE (GiB + 64 * MiB)
#define NQ (1u << 16)
#define MAXREP 64

static const char *const pairs[][2] = {
	{ "x86_64", "ept" }, { "x86_64", "npt" }, { "aarch64", "aarch64-s2" }, { "sv48", "sv48x4" },
};

static unsigned char *host;
static unsigned reps = 9;
/* stage-2 frames above guest RAM; the guest's stage-1 frames in its RAM,
 * at guest-physical (= host-physical) addresses: two bench pools (pool.h) */
static struct bench_pool hpool, gpool;
static struct npt_mm hmm, gmm;

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static void check(int err, const char *what)
{
	if (err) {
		fprintf(stderr, "bench_2d: %s: %s\n", what, npt_strerror(err));
		exit(1);
	}
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static volatile uint64_t sink;

static double run(const struct npt_format *f1, struct npt_table *s1, struct npt_table *s2,
		  const uint64_t *va, int floor)
{
	uint64_t sum = 0;
	double t0 = now_ns();
	unsigned i;

	if (floor) {
		for (i = 0; i < NQ; i++) {
			uint64_t gpa, hpa;

			check(npt_query(s1, va[i], &gpa, NULL, NULL), "npt_query stage 1");
			check(npt_query(s2, gpa, &hpa, NULL, NULL), "npt_query stage 2");
			sum += hpa;
		}
	} else {
		for (i = 0; i < NQ; i++) {
			struct npt_2d o;

			check(npt_translate_2d(f1, npt_root(s1), s2, va[i], NPT_R, &o),
			      "npt_translate_2d");
			sum += o.hpa;
		}
	}
	sink = sum;
	return (now_ns() - t0) / NQ;
}

static void pair(const char *n1, const char *n2, unsigned s2_level, const uint64_t *va)
{
	const struct npt_format *f1 = npt_format_by_name(n1), *f2 = npt_format_by_name(n2);
	double s[2][MAXREP], best[2], med[2];
	struct npt_table *s1, *s2;
	unsigned r, v;
	int err;

	bench_pool_reset(&hpool);
	bench_pool_reset(&gpool);
	s2 = npt_new(f2, &hmm, &err);
	s1 = npt_new(f1, &gmm, &err);
	if (!s1 || !s2)
		check(err, "npt_new");
	check(npt_map_region(s2, 0, 0, GiB, NPT_R | NPT_W | NPT_X, s2_level ? NPT_MAP_2M : 0),
	      "stage-2 map");
	check(npt_map_region(s1, VA_BASE, 0, GiB, NPT_R | NPT_W, 0), "stage-1 map");
	for (r = 0; r <= reps; r++)
		for (v = 0; v < 2; v++) {
			double ns = run(f1, s1, s2, va, (int)v);

			if (r)
				s[v][r - 1] = ns;
		}
	for (v = 0; v < 2; v++) {
		qsort(s[v], reps, sizeof(double), cmp);
		best[v] = s[v][0];
		med[v] = reps % 2 ? s[v][reps / 2] : (s[v][reps / 2 - 1] + s[v][reps / 2]) / 2;
	}
	printf("%-8s %-14s %-9s %9.1f %9.1f %9.1f %8.2f\n", n1, n2, s2_level ? "2M" : "4K",
	       best[0], med[0], best[1], best[0] / best[1]);
	npt_abandon(s1);
	npt_abandon(s2);
}

int main(int argc, char **argv)
{
	uint64_t *va = malloc(NQ * sizeof(*va)), rng = 0x9e3779b97f4a7c15ull;
	unsigned i, l;

	if (argc == 3 && !strcmp(argv[1], "--reps"))
		reps = (unsigned)atoi(argv[2]);
	if (reps < 1 || reps > MAXREP || !va) {
		fprintf(stderr, "usage: bench_2d [--reps 1..%d]\n", MAXREP);
		return 2;
	}
	host = mmap(NULL, HOST_SIZE, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (host == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	if (bench_pool_init(&hpool, host + HOST_TABLES, HOST_TABLES, (HOST_SIZE - HOST_TABLES) / PAGE) ||
	    bench_pool_init(&gpool, host + GUEST_TABLES, GUEST_TABLES, (GiB - GUEST_TABLES) / PAGE)) {
		fprintf(stderr, "bench_2d: out of memory\n");
		return 1;
	}
	hmm = bench_pool_mm(&hpool);
	gmm = bench_pool_mm(&gpool);
	for (i = 0; i < NQ; i++) {
		rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
		va[i] = VA_BASE + rng % GiB;
	}
	printf("npt_translate_2d of random addresses in 1 GiB of 4 KiB stage-1 leaves, ns per call,\n"
	       "best and median of %u repetitions; floor = npt_query of stage 1 + npt_query of\n"
	       "stage 2 (best); x floor = 2d best / floor best\n\n", reps);
	printf("%-8s %-14s %-9s %9s %9s %9s %8s\n", "stage 1", "stage 2", "s2 leaves", "2d best",
	       "median", "floor", "x floor");
	for (i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++)
		for (l = 2; l-- > 0;)
			pair(pairs[i][0], pairs[i][1], l, va);
	free(va);
	return 0;
}
