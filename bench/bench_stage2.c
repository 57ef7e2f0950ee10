/*
 * ninja bench, stage-2 features: npt_harvest, npt_collapse and dirty
 * logging (npt_log_*) on 1 GiB of guest memory, per 4 KiB page (or per
 * call), against a floor measured in the same run: the same work on a flat
 * array of the leaf entries, with no tree around it (harvest: test, clear
 * and record the bit of every entry; collapse: read every leaf entry once).
 *
 * Figures are the best and the median of REPS repetitions after one warm-up;
 * the table is rebuilt (untimed) between repetitions where the operation
 * consumes it. Frames come from the benches' pool (bench/pool.h: a free stack
 * and a bump pointer over one pre-faulted mmap, NPT_MM_LINEAR), so the
 * allocator does not dominate.
 *
 *   build-release/bench/bench_stage2 [--reps N]
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
#define SPAN GiB                 /* guest memory per measurement */
#define NPAGES (SPAN / PAGE)
#define POOL_PA (64 * GiB)
#define POOL_FRAMES (1u << 16)   /* 256 MiB of table frames */
#define RW (NPT_R | NPT_W | NPT_X)
#define MAXREP 64

static const char *const formats[] = { "x86_64", "ept", "aarch64-s2", "sv39x4" };

/* ---- pool (pool.h) ------------------------------------------------------------- */

static struct bench_pool pool;
static struct npt_mm mm;

static void pool_init(void)
{
	if (bench_pool_init(&pool, NULL, POOL_PA, POOL_FRAMES)) {
		fprintf(stderr, "bench_stage2: no memory for the pool\n");
		exit(1);
	}
	mm = bench_pool_mm(&pool);
}

/* ---- timing ------------------------------------------------------------------ */

static unsigned reps = 9;

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static void check(int err, const char *what)
{
	if (err) {
		fprintf(stderr, "bench_stage2: %s: %s\n", what, npt_strerror(err));
		exit(1);
	}
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

struct result {
	double best, median;
};

/* setup (untimed) then op (timed), reps times after a warm-up; per unit. */
static struct result measure(void (*setup)(void *), void (*op)(void *), void *arg, double units)
{
	double t[MAXREP + 1];
	struct result r;
	unsigned i;

	for (i = 0; i <= reps; i++) {
		double t0;

		if (setup)
			setup(arg);
		t0 = now_ns();
		op(arg);
		t[i] = (now_ns() - t0) / units;
	}
	qsort(t + 1, reps, sizeof(double), cmp);
	r.best = t[1];
	r.median = t[1 + reps / 2];
	return r;
}

static void row(const char *fmt, const char *what, const char *unit, struct result npt,
		const struct result *floor)
{
	char fl[32] = "", ratio[16] = "";

	if (floor) {
		snprintf(fl, sizeof(fl), "%9.2f", floor->best);
		snprintf(ratio, sizeof(ratio), "%7.1fx", npt.best / floor->best);
	}
	printf("%-11s %-36s %-5s %9.2f %9.2f %9s %8s\n", fmt, what, unit, npt.best, npt.median, fl,
	       ratio);
}

/* ---- the cases ------------------------------------------------------------------ */

struct ctx {
	const struct npt_format *f;
	struct npt_table *t;
	unsigned what;           /* NPT_D if the format has it, else NPT_A */
	uint64_t *bitmap;
	uint64_t *flat;          /* the floor's entries */
	uint64_t bit;
	unsigned opts;
	volatile uint64_t sink;
};

static void fresh(struct ctx *c, unsigned opts)
{
	if (c->t)
		npt_free(c->t);
	c->t = npt_new(c->f, &mm, NULL);
	if (!c->t)
		check(NPT_ERR_NOMEM, "npt_new");
	check(npt_map_region(c->t, 0, 4 * GiB, SPAN, RW, opts), "npt_map_region");
}

/* Every leaf dirty (and accessed) again: protect rewrites each with the state
 * a fresh map has plus NPT_A/NPT_D where the format takes them; on Arm it
 * drops DBM, which harvest counts as dirty. */
static void redirty(void *arg)
{
	struct ctx *c = arg;
	struct npt_format_info fi;

	npt_format_info(c->f, &fi);
	check(npt_protect_region(c->t, 0, SPAN, RW | (fi.flags & (NPT_A | NPT_D))),
	      "npt_protect_region");
}

static void op_harvest(void *arg)
{
	struct ctx *c = arg;

	check(npt_harvest(c->t, 0, SPAN, c->what, c->bitmap), "npt_harvest");
}

static void floor_harvest(void *arg)
{
	struct ctx *c = arg;
	uint64_t i;

	memset(c->bitmap, 0, NPAGES / 8);
	for (i = 0; i < NPAGES; i++) {
		uint64_t e = c->flat[i];

		if (e & c->bit) {
			c->flat[i] = e & ~c->bit;
			c->bitmap[i / 64] |= 1ull << (i % 64);
		}
	}
}

static void floor_redirty(void *arg)
{
	struct ctx *c = arg;
	uint64_t i;

	for (i = 0; i < NPAGES; i++)
		c->flat[i] |= c->bit;
}

static void setup_small(void *arg)
{
	fresh(arg, 0);
}

static void op_collapse(void *arg)
{
	struct ctx *c = arg;

	check(npt_collapse(c->t, 0, SPAN), "npt_collapse");
}

static void floor_read(void *arg)
{
	struct ctx *c = arg;
	uint64_t i, acc = 0;

	for (i = 0; i < NPAGES; i++)
		acc += c->flat[i];
	c->sink = acc;
}

static void op_log_start(void *arg)
{
	struct ctx *c = arg;

	check(npt_log_start(c->t, 0, SPAN, c->opts), "npt_log_start");
}

static void setup_logged_written(void *arg)
{
	struct ctx *c = arg;
	uint64_t va;

	fresh(c, 0);
	check(npt_log_start(c->t, 0, SPAN, NPT_LOG_LAZY), "npt_log_start");
	for (va = 0; va < SPAN; va += PAGE)
		check(npt_log_write_fault(c->t, va), "npt_log_write_fault");
}

static void op_log_harvest(void *arg)
{
	struct ctx *c = arg;

	check(npt_log_harvest(c->t, 0, SPAN, c->bitmap), "npt_log_harvest");
}

static void setup_logged_huge(void *arg)
{
	struct ctx *c = arg;

	fresh(c, NPT_MAP_2M);
	check(npt_log_start(c->t, 0, SPAN, NPT_LOG_LAZY), "npt_log_start");
}

/* The first write into each 2 MiB leaf: a split along the path per call. */
static void op_fault_split(void *arg)
{
	struct ctx *c = arg;
	uint64_t va;

	for (va = 0; va < SPAN; va += 2 * MiB)
		check(npt_log_write_fault(c->t, va + 5 * PAGE), "npt_log_write_fault");
}

static void run_format(const char *name)
{
	struct ctx c;
	struct npt_format_info fi;
	struct result h, fl;
	uint64_t i;

	memset(&c, 0, sizeof(c));
	c.f = npt_format_by_name(name);
	if (!c.f)
		return;
	npt_format_info(c.f, &fi);
	c.bitmap = malloc(NPAGES / 8);
	c.flat = malloc(NPAGES * sizeof(uint64_t));
	if (!c.bitmap || !c.flat)
		check(NPT_ERR_NOMEM, "malloc");
	for (i = 0; i < NPAGES; i++)
		c.flat[i] = 0x8000000000000067ull | ((4 * GiB + i * PAGE) & 0x000ffffffffff000ull);
	c.bit = 1ull << 6;

	if (fi.features & (NPT_FEATURE_DIRTY | NPT_FEATURE_ACCESSED)) {
		c.what = (fi.features & NPT_FEATURE_DIRTY) ? NPT_D : NPT_A;
		fl = measure(floor_redirty, floor_harvest, &c, NPAGES);
		fresh(&c, 0);
		h = measure(redirty, op_harvest, &c, NPAGES);
		row(name, c.what == NPT_D ? "harvest D, 4K pages, all dirty" : "harvest A, 4K, all set",
		    "page", h, &fl);
		fl = measure(NULL, floor_harvest, &c, NPAGES); /* flat bits now clear */
		h = measure(NULL, op_harvest, &c, NPAGES);
		row(name, "harvest, 4K pages, none set", "page", h, &fl);
		fresh(&c, NPT_MAP_2M);
		h = measure(redirty, op_harvest, &c, NPAGES);
		row(name, "harvest, 2M leaves, all set", "page", h, NULL);
	}

	fl = measure(NULL, floor_read, &c, NPAGES);
	h = measure(setup_small, op_collapse, &c, NPAGES);
	row(name, fi.leaf_sizes & GiB ? "collapse 4K -> 2M -> 1G" : "collapse 4K -> 2M", "page", h,
	    &fl);
	/* the last page of each 2 MiB read-only: every entry checked, no table
	 * qualifies */
	fresh(&c, 0);
	for (i = 0; i < SPAN; i += 2 * MiB)
		check(npt_protect(c.t, i + 511 * PAGE, NPT_R), "npt_protect");
	h = measure(NULL, op_collapse, &c, NPAGES);
	row(name, "collapse, no table qualifies", "page", h, &fl);

	c.opts = NPT_LOG_LAZY;
	h = measure(setup_small, op_log_start, &c, NPAGES);
	row(name, "log_start, 4K pages", "page", h, NULL);
	c.opts = NPT_LOG_EAGER;
	{
		unsigned saved = reps;

		reps = reps < 5 ? reps : 5; /* each rebuilds 1 GiB of 4K tables */
		h = measure(setup_logged_huge, op_log_start, &c, NPAGES);
		reps = saved;
	}
	row(name, "log_start eager, 2M leaves split", "page", h, NULL);
	h = measure(setup_logged_huge, op_fault_split, &c, SPAN / (2 * MiB));
	row(name, "log_write_fault splitting a 2M leaf", "call", h, NULL);
	h = measure(setup_logged_written, op_log_harvest, &c, NPAGES);
	row(name, "log_harvest, every page written", "page", h, NULL);

	npt_free(c.t);
	free(c.bitmap);
	free(c.flat);
}

int main(int argc, char **argv)
{
	unsigned i;

	for (i = 1; i < (unsigned)argc; i++) {
		if (!strcmp(argv[i], "--reps") && i + 1 < (unsigned)argc)
			reps = (unsigned)strtoul(argv[++i], NULL, 0);
		else {
			fprintf(stderr, "usage: %s [--reps N]\n", argv[0]);
			return 2;
		}
	}
	if (reps < 1)
		reps = 1;
	if (reps > MAXREP)
		reps = MAXREP;
	pool_init();
	printf("npt stage-2 bench: 1 GiB per measurement, ns per 4 KiB page (or per call),\n"
	       "best and median of %u repetitions; floor = the same work on a flat array of\n"
	       "the leaf entries (harvest: test, clear and record each bit; collapse: read each)\n\n",
	       reps);
	printf("%-11s %-36s %-5s %9s %9s %9s %8s\n", "format", "operation", "per", "npt best",
	       "median", "floor", "x floor");
	for (i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
		run_format(formats[i]);
	return 0;
}
