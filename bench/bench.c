/*
 * ninja bench: npt's range operations against two baselines measured in the
 * same run, on the same machine:
 *
 *  - floor: what the operation cannot avoid. For a writing operation that is
 *    memset() of exactly the bytes it must write (every new table in full --
 *    its leaf entries plus the zeroes around them -- or the leaf entries it
 *    rewrites or clears), on a buffer of the same size from the same pool.
 *    For walk, a read of the leaf tables' bytes; for query, one load of the
 *    leaf entry through a flat array of the leaf tables (what a walk costs
 *    when every upper level is free); for npt_free, the allocator's free of
 *    each frame.
 *  - naive: the same work one page at a time through npt_map / npt_unmap /
 *    npt_protect / npt_query (a walk from the root for every page).
 *
 * Every figure is per page (per leaf entry of the operation's leaf size) or
 * per call, the best and the median of --reps repetitions (default 15; naive
 * of the slow operations: 5); ratios are best against best. npt and floor
 * alternate within each repetition after WARMUP untimed ones; naive runs
 * after them (see run_job). Frames come from a pool allocator defined here
 * (free stack + bump over one pre-faulted mmap, NPT_MM_LINEAR,
 * alloc_contig), so the allocator does not dominate. The end of the output
 * checks the targets below.
 *
 *   build-release/bench/bench [--json FILE] [--reps N] [--formats a,b,...] [--only a,b,...]
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "npt.h"
#include "pool.h"

#define KiB (1ull << 10)
#define MiB (1ull << 20)
#define GiB (1ull << 30)
#define PAGE 4096ull

/* Formats to measure, as data: each row is a list of alternatives, the first
 * one this build has is used (the third row: whichever non-x86 stage-2
 * format exists). --formats replaces the list. */
static const char *const format_rows[][4] = {
	{ "x86_64" },
	{ "ept" },
	{ "aarch64-s2", "sv39x4" },
};

#define VA_BASE 0ull            /* input address of every map */
#define PA_BASE (2ull * GiB)    /* output address of VA_BASE: 1 GiB aligned */
#define RW (NPT_R | NPT_W | NPT_X)
#define RO (NPT_R | NPT_X)
#define NQUERY (1u << 20)
#define MAXREP 64

/* ---- the bench allocator (pool.h) ------------------------------------------ */
#define POOL_PA (64ull * GiB)

static struct bench_pool pool;
static struct npt_mm mm;

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("bench: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

/* Contiguous frames for the baselines' buffers, never given back. */
static void *pool_reserve(size_t bytes)
{
	void *v = bench_pool_reserve(&pool, bytes);

	if (!v)
		die("pool exhausted reserving %zu bytes", bytes);
	return v;
}

/* ---- helpers --------------------------------------------------------------- */
static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void check(int err, const char *what)
{
	if (err)
		die("%s: %s", what, npt_strerror(err));
}

/* Keeps a value alive without letting the compiler see through it. */
static volatile uint64_t sink;
static volatile uint64_t zero_v; /* always 0: ties a query chain together */

static struct npt_table *new_table(const struct npt_format *f)
{
	int err;
	struct npt_table *t = npt_new(f, &mm, &err);

	check(err, "npt_new");
	return t;
}

/* Page sizes, in bytes, for leaf level 0, 1, 2. */
static uint64_t lsize(unsigned level)
{
	return 1ull << (12 + 9 * level);
}

static unsigned map_opts(unsigned level)
{
	return level == 0 ? 0 : level == 1 ? NPT_MAP_2M : NPT_MAP_HUGE;
}

static struct npt_table *mapped(const struct npt_format *f, uint64_t size, unsigned level)
{
	struct npt_table *t = new_table(f);

	check(npt_map_region(t, VA_BASE, PA_BASE, size, RW, map_opts(level)), "npt_map_region");
	return t;
}

/* ---- measurements -----------------------------------------------------------
 * Each returns the nanoseconds of its timed part; setup and teardown are not
 * timed. `units` is the number of pages (or calls) the timed part covers. */
enum variant { V_NPT, V_FLOOR, V_NAIVE, NVARIANT };
static const char *const variant_name[NVARIANT] = { "npt", "floor", "naive" };

struct fctx {
	const struct npt_format *f;
	const char *name;
	/* the 1 GiB 4 KiB map, kept for query and walk */
	struct npt_table *t4k;
	uint64_t *leafptr[512]; /* its leaf tables, by va >> 21 */
	uint64_t *addrs;        /* NQUERY random input addresses in it */
	uint64_t addr_sum;
	unsigned char *buf;     /* floor buffers */
	size_t buf_size;
	uint64_t root_frames;   /* frames of an empty table */
};

struct mapcase {
	uint64_t size;
	unsigned level; /* leaf level */
	unsigned batch; /* tables per timed sample */
	uint64_t new_frames; /* frames one map allocates, measured once */
	uint64_t bytes;      /* bytes one map must write: new tables + entries in the root */
};

static double m_map(struct fctx *c, const struct mapcase *m, int v, double *units)
{
	struct npt_table *tt[256];
	uint64_t psz = lsize(m->level), n = m->size / psz, i;
	size_t bytes = m->bytes;
	unsigned b;
	double t0, t1;

	*units = (double)n * m->batch;
	if (v == V_FLOOR) {
		memset(c->buf, 1, bytes * m->batch); /* warm, like the pool's recycled frames */
		t0 = now_ns();
		for (b = 0; b < m->batch; b++)
			memset(c->buf + b * bytes, 0, bytes);
		t1 = now_ns();
		sink = c->buf[bytes - 1];
		return t1 - t0;
	}
	for (b = 0; b < m->batch; b++)
		tt[b] = new_table(c->f);
	t0 = now_ns();
	for (b = 0; b < m->batch; b++) {
		if (v == V_NPT) {
			check(npt_map_region(tt[b], VA_BASE, PA_BASE, m->size, RW, map_opts(m->level)),
			      "map_region");
			continue;
		}
		for (i = 0; i < n; i++)
			check(npt_map(tt[b], VA_BASE + i * psz, PA_BASE + i * psz, psz, RW), "npt_map");
	}
	t1 = now_ns();
	for (b = 0; b < m->batch; b++) {
		if (npt_table_frames(tt[b]) != m->new_frames + c->root_frames)
			die("%s: tables differ", variant_name[v]);
		npt_free(tt[b]);
	}
	return t1 - t0;
}

#define BATCH_SMALL 16 /* tables per sample for operations that take microseconds */

/* protect_region / unmap_region / npt_free of the 1 GiB 4 KiB map. */
enum change { C_PROTECT, C_UNMAP, C_FREE };

static double m_change(struct fctx *c, enum change k, int v, double *units)
{
	struct npt_table *tt[BATCH_SMALL];
	const uint64_t n = GiB / PAGE;
	const size_t leaf_bytes = 512 * PAGE;
	/* npt_free takes microseconds (it reads no leaf table): batch it. The
	 * others read all 2 MiB of leaves, one table per sample; more at once
	 * would not fit the caches the floor's buffer fits in. */
	unsigned batch = k == C_FREE && v != V_NAIVE ? BATCH_SMALL : 1, b;
	uint64_t i, frames = 0;
	double t0, t1;

	*units = (double)n * batch;
	if (v == V_FLOOR && k != C_FREE) {
		/* protect rewrites and unmap clears the 2 MiB of leaf entries. */
		*units = (double)n;
		memset(c->buf, 1, leaf_bytes);
		t0 = now_ns();
		memset(c->buf, k == C_PROTECT ? 0x55 : 0, leaf_bytes);
		t1 = now_ns();
		sink = c->buf[leaf_bytes - 1];
		return t1 - t0;
	}
	for (b = 0; b < batch; b++)
		tt[b] = mapped(c->f, GiB, 0);
	if (v == V_FLOOR) {
		/* npt_free: the allocator's own free of the same frames */
		static uint64_t pas[BATCH_SMALL * 1024];
		uint64_t *lp = pas;

		for (b = 0; b < batch; b++) {
			frames = npt_table_frames(tt[b]);
			npt_free(tt[b]);
		}
		if (frames * batch > sizeof(pas) / sizeof(pas[0]))
			die("free floor: %llu frames", (unsigned long long)frames);
		for (i = 0; i < frames * batch; i++)
			check(bench_pool_alloc(&pool, &pas[i]), "pool_alloc");
		t0 = now_ns();
		for (i = 0; i < frames * batch; i++)
			mm.free(mm.ctx, lp[i]);
		t1 = now_ns();
		return t1 - t0;
	}
	t0 = now_ns();
	for (b = 0; b < batch; b++) {
		struct npt_table *t = tt[b];

		if (v == V_NPT) {
			switch (k) {
			case C_PROTECT: check(npt_protect_region(t, VA_BASE, GiB, RO), "protect_region"); break;
			case C_UNMAP: check(npt_unmap_region(t, VA_BASE, GiB), "unmap_region"); break;
			case C_FREE: npt_free(t); break;
			}
			continue;
		}
		for (i = 0; i < n; i++) {
			if (k == C_PROTECT)
				check(npt_protect(t, VA_BASE + i * PAGE, RO), "npt_protect");
			else
				check(npt_unmap(t, VA_BASE + i * PAGE, NULL, NULL), "npt_unmap");
		}
		if (k == C_FREE)
			npt_free(t);
	}
	t1 = now_ns();
	if (k == C_FREE)
		return t1 - t0;
	for (b = 0; b < batch; b++) {
		uint64_t pa = 0;
		unsigned fl = 0;
		int err = npt_query(tt[b], VA_BASE + 12345 * PAGE, &pa, &fl, NULL);

		/* unmap leaves the root alone; protect keeps the address */
		if (k == C_UNMAP ? (err != NPT_ERR_NOT_MAPPED || npt_table_frames(tt[b]) != c->root_frames)
				 : (err || (fl & RW) != RO || pa != PA_BASE + 12345 * PAGE))
			die("%s %s: wrong result", variant_name[v], k == C_UNMAP ? "unmap" : "protect");
		npt_free(tt[b]);
	}
	return t1 - t0;
}

static double m_query(struct fctx *c, int dep, int v, double *units)
{
	const uint64_t *a = c->addrs;
	/* a caller keeps the table pointer in a register; read through c it
	 * would be reloaded after every call */
	const struct npt_table *const t = c->t4k;
	uint64_t sum = 0, pa = 0, x = 0;
	const uint64_t z = zero_v;
	unsigned i;
	double t0, t1;

	*units = NQUERY;
	if (v == V_NAIVE)
		return -1;
	t0 = now_ns();
	if (v == V_NPT && !dep) {
		for (i = 0; i < NQUERY; i++) {
			check(npt_query(t, a[i], &pa, NULL, NULL), "npt_query");
			sum += pa;
		}
	} else if (v == V_NPT) {
		for (i = 0; i < NQUERY; i++) {
			check(npt_query(t, a[i] ^ (pa & z), &pa, NULL, NULL), "npt_query");
			sum += pa;
		}
	} else if (!dep) {
		for (i = 0; i < NQUERY; i++)
			sum += c->leafptr[a[i] >> 21 & 511][a[i] >> 12 & 511];
	} else {
		for (i = 0; i < NQUERY; i++) {
			uint64_t va = a[i] ^ (x & z);
			x = c->leafptr[va >> 21 & 511][va >> 12 & 511];
			sum += x;
		}
	}
	t1 = now_ns();
	if (v == V_NPT && sum != c->addr_sum + (uint64_t)NQUERY * (PA_BASE - VA_BASE))
		die("query: wrong addresses");
	sink = sum;
	return t1 - t0;
}

/* The independent queries through npt_query_batch, QBATCH addresses a call
 * (results in small buffers that stay in L1); the floor is m_query's. */
#define QBATCH 256
static double m_query_batch(struct fctx *c, int v, double *units)
{
	const uint64_t *a = c->addrs;
	uint64_t sum = 0, pa[QBATCH];
	int err[QBATCH];
	unsigned i, k;
	double t0, t1;

	if (v != V_NPT)
		return m_query(c, 0, v, units);
	*units = NQUERY;
	t0 = now_ns();
	for (i = 0; i < NQUERY; i += QBATCH) {
		unsigned n = NQUERY - i < QBATCH ? NQUERY - i : QBATCH;
		int bad = 0;

		check(npt_query_batch(c->t4k, a + i, n, pa, err), "npt_query_batch");
		for (k = 0; k < n; k++) {
			sum += pa[k];
			bad |= err[k];
		}
		check(bad, "npt_query_batch");
	}
	t1 = now_ns();
	if (sum != c->addr_sum + (uint64_t)NQUERY * (PA_BASE - VA_BASE))
		die("query batch: wrong addresses");
	sink = sum;
	return t1 - t0;
}

static int walk_leaf(const struct npt_visit *v, void *arg)
{
	*(uint64_t *)arg += v->pa;
	return 0;
}

/* NPT_WALK_RUNS: the run's bytes and a count of runs. */
static int walk_run(const struct npt_visit *v, void *arg)
{
	uint64_t *s = arg;

	s[0] += v->size;
	s[1]++;
	return 0;
}

static double m_walk(struct fctx *c, int v, double *units)
{
	const uint64_t n = GiB / PAGE;
	uint64_t sum = 0, pa, i;
	double t0, t1;

	*units = (double)n;
	if (v == V_FLOOR) {
		const uint64_t *w = (const uint64_t *)c->buf;
		for (i = 0; i < n; i++)
			sum += w[i];
		t0 = now_ns();
		for (i = 0; i < n; i++)
			sum += w[i];
		t1 = now_ns();
		sink = sum;
		return t1 - t0;
	}
	t0 = now_ns();
	if (v == V_NPT) {
		check(npt_walk(c->t4k, VA_BASE, GiB, NPT_WALK_LEAF, walk_leaf, &sum), "npt_walk");
	} else {
		for (i = 0; i < n; i++) {
			check(npt_query(c->t4k, VA_BASE + i * PAGE, &pa, NULL, NULL), "npt_query");
			sum += pa;
		}
	}
	t1 = now_ns();
	if (sum != n * PA_BASE + (n - 1) * n / 2 * PAGE)
		die("walk %s: wrong sum", variant_name[v]);
	return t1 - t0;
}

/* NPT_WALK_RUNS over the 1 GiB of 4 KiB leaves mapped alike: one visit.
 * Floor as walk's (the leaf tables' bytes summed); naive, the same walk
 * one visit per leaf (NPT_WALK_LEAF). */
static double m_walk_runs(struct fctx *c, int v, double *units)
{
	uint64_t s[2] = { 0, 0 };
	double t0, t1;

	if (v != V_NPT)
		return m_walk(c, v == V_NAIVE ? V_NPT : v, units);
	*units = (double)(GiB / PAGE);
	t0 = now_ns();
	check(npt_walk(c->t4k, VA_BASE, GiB, NPT_WALK_RUNS, walk_run, s), "npt_walk runs");
	t1 = now_ns();
	if (s[0] != GiB || s[1] != 1)
		die("walk runs: %llu bytes in %llu runs", (unsigned long long)s[0],
		    (unsigned long long)s[1]);
	return t1 - t0;
}

/* ---- single-page calls ------------------------------------------------------
 * One call per page over the 1 GiB 4 KiB map, against a floor that walks to
 * the same entry inline (the upper entries' address bits straight to the
 * pool's memory) and makes one store. The map rows fill the odd pages of a
 * table whose even pages are mapped (every call completes a pair of
 * neighbours, the case a scan for full_bit would pay most), and map the
 * first page of new leaf tables (the floor: the same walk, a frame from
 * the pool zeroed, two stores). */
enum single { S_MAP, S_MAP_NEW, S_UNMAP, S_PROTECT, S_REMAP, S_LOG, NSINGLE };
#define S_NEW_TABLES 8 /* tables per new-leaf-table sample: 511 calls each */

/* The entry of va at level stop, walked inline. */
static inline uint64_t *floor_slot(const struct npt_table *t, const struct npt_format_info *fi,
				   uint64_t va, unsigned stop)
{
	unsigned l = fi->levels - 1;
	uint64_t *tbl = bench_pool_virt(&pool, npt_root(t));
	uint64_t *slot = &tbl[(va >> (12 + 9 * l)) & (fi->root_entries - 1)];

	while (l-- > stop) {
		tbl = bench_pool_virt(&pool, *slot & 0x000ffffffffff000ull);
		slot = &tbl[(va >> (12 + 9 * l)) & 511];
	}
	return slot;
}

static double m_single(struct fctx *c, enum single k, int v, double *units)
{
	struct npt_format_info fi;
	struct npt_table *tt[S_NEW_TABLES];
	const uint64_t n = GiB / PAGE;
	uint64_t i, calls = 0, tbits = 0, lbits = 0;
	unsigned b, nt = k == S_MAP_NEW ? S_NEW_TABLES : 1;
	double t0, t1;

	if (v == V_NAIVE)
		return -1;
	npt_format_info(c->f, &fi);
	for (b = 0; b < nt; b++) {
		if (k == S_MAP_NEW) {
			tt[b] = new_table(c->f);
			check(npt_map(tt[b], VA_BASE, PA_BASE, PAGE, RW), "npt_map");
			continue;
		}
		tt[b] = mapped(c->f, GiB, 0);
		if (k == S_MAP)
			for (i = 1; i < n; i += 2)
				check(npt_unmap(tt[b], VA_BASE + i * PAGE, NULL, NULL), "npt_unmap");
		if (k == S_LOG)
			check(npt_log_start(tt[b], VA_BASE, GiB, NPT_LOG_LAZY), "npt_log_start");
	}
	/* the floor's bits: a leaf's and a level-1 table entry's, without address */
	lbits = *floor_slot(tt[0], &fi, VA_BASE, 0) & ~0x000ffffffffff000ull;
	tbits = *floor_slot(tt[0], &fi, VA_BASE, 1) & ~0x000ffffffffff000ull;
	t0 = now_ns();
	for (b = 0; b < nt; b++) {
		struct npt_table *t = tt[b];

		switch (k) {
		case S_MAP:
			for (i = 1; i < n; i += 2, calls++) {
				if (v == V_NPT)
					check(npt_map(t, VA_BASE + i * PAGE, PA_BASE + i * PAGE, PAGE, RW),
					      "npt_map");
				else
					*floor_slot(t, &fi, VA_BASE + i * PAGE, 0) = lbits | (PA_BASE + i * PAGE);
			}
			break;
		case S_MAP_NEW:
			for (i = 1; i < 512; i++, calls++) {
				const uint64_t va = VA_BASE + i * 2 * MiB;

				if (v == V_NPT) {
					check(npt_map(t, va, PA_BASE + va, PAGE, RW), "npt_map");
				} else {
					uint64_t pa, *slot = floor_slot(t, &fi, va, 1), *leaf;

					check(bench_pool_alloc(&pool, &pa), "pool_alloc");
					leaf = bench_pool_virt(&pool, pa);
					memset(leaf, 0, PAGE);
					leaf[0] = lbits | (PA_BASE + va);
					*slot = tbits | pa;
				}
			}
			break;
		case S_UNMAP:
			for (i = 1; i < n; i += 2, calls++) {
				if (v == V_NPT)
					check(npt_unmap(t, VA_BASE + i * PAGE, NULL, NULL), "npt_unmap");
				else
					*floor_slot(t, &fi, VA_BASE + i * PAGE, 0) = 0;
			}
			break;
		case S_PROTECT:
			for (i = 0; i < n; i++, calls++) {
				if (v == V_NPT) {
					check(npt_protect(t, VA_BASE + i * PAGE, RO), "npt_protect");
				} else {
					uint64_t *slot = floor_slot(t, &fi, VA_BASE + i * PAGE, 0);

					*slot ^= 2; /* a write-permission bit of every format here */
				}
			}
			break;
		case S_REMAP:
			for (i = 0; i < n; i++, calls++) {
				if (v == V_NPT) {
					check(npt_remap(t, VA_BASE + i * PAGE, PA_BASE + GiB + i * PAGE, RW),
					      "npt_remap");
				} else {
					uint64_t *slot = floor_slot(t, &fi, VA_BASE + i * PAGE, 0);

					*slot += GiB;
				}
			}
			break;
		case S_LOG:
			for (i = 0; i < n; i++, calls++) {
				if (v == V_NPT) {
					check(npt_log_write_fault(t, VA_BASE + i * PAGE), "npt_log_write_fault");
				} else {
					uint64_t *slot = floor_slot(t, &fi, VA_BASE + i * PAGE, 0);

					*slot |= 2;
				}
			}
			break;
		case NSINGLE:
			break;
		}
	}
	t1 = now_ns();
	*units = (double)calls;
	for (b = 0; b < nt; b++) {
		if (v == V_NPT) {
			uint64_t pa = 0, va = k == S_MAP_NEW ? VA_BASE + 77 * 2 * MiB : VA_BASE + 777 * PAGE;
			unsigned fl = 0;
			int err = npt_query(tt[b], va, &pa, &fl, NULL);
			uint64_t want = k == S_REMAP ? PA_BASE + GiB + (va - VA_BASE) : PA_BASE + (va - VA_BASE);

			if (k == S_UNMAP ? err != NPT_ERR_NOT_MAPPED
					 : (err || pa != want || ((fl & RW) != (k == S_PROTECT ? RO : RW))))
				die("single %d: wrong result", (int)k);
		}
		npt_free(tt[b]);
	}
	return t1 - t0;
}

static double j_single(struct fctx *c, const void *a, int v, double *u)
{
	return m_single(c, (enum single)(uintptr_t)a, v, u);
}

/* ---- results ------------------------------------------------------------------ */
/* The targets, checked on every run. */
enum target {
	T_NONE,
	T_RANGE,  /* within 2x of the floor and at least 3x faster than naive */
	T_QUERY,  /* independent queries under 2.5 ns */
	T_MEMORY, /* exactly the minimum table memory */
	T_SINGLE, /* a single-page call within 2x of its floor */
	T_SINGLE8, /* ... and under 8 ns */
	T_WALK_RUNS, /* a walk of runs within 2x of the floor */
};

struct fig {
	enum target target;
	char format[32];
	char op[48];
	const char *unit;
	int has[NVARIANT];
	double best[NVARIANT], median[NVARIANT]; /* ns per unit */
	/* memory rows */
	int memory;
	uint64_t bytes_per_gib, min_per_gib, frames, min_frames;
};

static struct fig figs[512];
static unsigned nfigs;

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

typedef double (*measure_fn)(struct fctx *c, const void *arg, int v, double *units);

struct job {
	const char *op;
	const char *unit;
	measure_fn fn;
	const void *arg;
	unsigned naive_reps; /* 0: as many as the others */
	enum target target;
};

static unsigned reps = 15;
static const char *only; /* --only: run the jobs whose name starts with one of these */

static int job_chosen(const char *op)
{
	const char *p = only;

	if (!only)
		return 1;
	for (;;) {
		size_t n = strcspn(p, ",");

		if (n && !strncmp(op, p, n))
			return 1;
		if (!p[n])
			return 0;
		p += n + 1;
	}
}
#define WARMUP 8 /* untimed repetitions of npt and floor before the timed ones */

static struct fig *new_fig(void)
{
	if (nfigs == sizeof(figs) / sizeof(figs[0]))
		die("too many figures");
	return &figs[nfigs++];
}

static void run_job(struct fctx *c, const struct job *j)
{
	struct fig *g;
	double s[NVARIANT][MAXREP];
	unsigned n[NVARIANT] = { 0 }, r, v;

	if (!job_chosen(j->op))
		return;
	g = new_fig();
	memset(g, 0, sizeof(*g));
	snprintf(g->format, sizeof(g->format), "%s", c->name);
	snprintf(g->op, sizeof(g->op), "%s", j->op);
	g->unit = j->unit;
	g->target = j->target;
	/* npt and floor interleaved within each repetition, so that a noisy
	 * moment on the shared machine hits both alike, after WARMUP untimed
	 * repetitions: the frames npt writes come back from the pool as they
	 * were left, and reach a steady state in the caches only after a few
	 * rounds (the floor's buffer is warmed before each timed memset). The
	 * naive runs come last: page-at-a-time work leaves the table frames
	 * colder, which would slow the npt runs that follow it. */
	for (r = 0; r < WARMUP + reps; r++) {
		for (v = 0; v < V_NAIVE; v++) {
			double units, ns = j->fn(c, j->arg, (int)v, &units);

			if (ns >= 0 && r >= WARMUP)
				s[v][n[v]++] = ns / units;
		}
	}
	for (r = 0; r < reps && (!j->naive_reps || r < j->naive_reps); r++) {
		double units, ns = j->fn(c, j->arg, V_NAIVE, &units);

		if (ns < 0)
			break;
		s[V_NAIVE][n[V_NAIVE]++] = ns / units;
	}
	for (v = 0; v < NVARIANT; v++) {
		if (!n[v])
			continue;
		qsort(s[v], n[v], sizeof(double), cmp_double);
		g->has[v] = 1;
		g->best[v] = s[v][0];
		g->median[v] = n[v] % 2 ? s[v][n[v] / 2] : (s[v][n[v] / 2 - 1] + s[v][n[v] / 2]) / 2;
	}
}

/* Adapters from the generic job signature. */
static double j_map(struct fctx *c, const void *a, int v, double *u) { return m_map(c, a, v, u); }
static double j_query_dep(struct fctx *c, const void *a, int v, double *u) { (void)a; return m_query(c, 1, v, u); }
static double j_query_ind(struct fctx *c, const void *a, int v, double *u) { (void)a; return m_query(c, 0, v, u); }
static double j_query_batch(struct fctx *c, const void *a, int v, double *u) { (void)a; return m_query_batch(c, v, u); }
static double j_protect(struct fctx *c, const void *a, int v, double *u) { (void)a; return m_change(c, C_PROTECT, v, u); }
static double j_unmap(struct fctx *c, const void *a, int v, double *u) { (void)a; return m_change(c, C_UNMAP, v, u); }
static double j_free(struct fctx *c, const void *a, int v, double *u) { (void)a; return m_change(c, C_FREE, v, u); }
static double j_walk(struct fctx *c, const void *a, int v, double *u) { (void)a; return m_walk(c, v, u); }
static double j_walk_runs(struct fctx *c, const void *a, int v, double *u)
{
	(void)a;
	return m_walk_runs(c, v, u);
}

/* The fewest frames a map of `size` at VA_BASE with leaves at `level` can
 * use: at every level from the leaves' up to below the root, one table per
 * 512 entries of that level, plus the root. */
static uint64_t min_frames(const struct npt_format_info *fi, uint64_t size, unsigned level)
{
	uint64_t frames = fi->root_frames;
	unsigned l;

	for (l = level; l + 1 < fi->levels; l++) {
		uint64_t span = lsize(l) * 512;
		frames += (size + span - 1) / span;
	}
	return frames;
}

static int rec_leaf_table(const struct npt_visit *v, void *arg)
{
	struct fctx *c = arg;

	if (v->level == 1 && v->kind == NPT_WALK_TABLE_PRE)
		c->leafptr[(v->va - VA_BASE) >> 21 & 511] = bench_pool_virt(&pool, v->pa);
	return 0;
}

static void run_format(const char *name)
{
	const struct npt_format *f = npt_format_by_name(name);
	struct npt_format_info fi;
	struct fctx c;
	struct mapcase mc[3] = {
		{ .size = GiB, .level = 0, .batch = 1 },
		{ .size = GiB, .level = 1, .batch = 64 },
		{ .size = 64 * GiB, .level = 2, .batch = 128 },
	};
	static const char *const map_op[3] = {
		"map_region 1G, 4K leaves", "map_region 1G, 2M leaves", "map_region 64G, 1G leaves",
	};
	uint64_t rng = 0x9e3779b97f4a7c15ull;
	unsigned i;

	if (!f || npt_format_info(f, &fi))
		die("no format %s", name);
	memset(&c, 0, sizeof(c));
	c.f = f;
	c.name = name;

	/* Memory: one map per leaf size, against the minimum. */
	for (i = 0; i < 3; i++) {
		struct npt_table *t;
		struct fig *g;
		uint64_t root;

		if (!(fi.leaf_sizes & lsize(mc[i].level)))
			continue;
		t = new_table(f);
		root = npt_table_frames(t);
		check(npt_map_region(t, VA_BASE, PA_BASE, mc[i].size, RW, map_opts(mc[i].level)),
		      "npt_map_region");
		mc[i].new_frames = npt_table_frames(t) - root;
		c.root_frames = root;
		{
			uint64_t rsz = lsize(fi.levels - 1); /* bytes a root entry covers */
			mc[i].bytes = mc[i].new_frames * PAGE + (mc[i].size + rsz - 1) / rsz * 8;
		}
		g = new_fig();
		memset(g, 0, sizeof(*g));
		snprintf(g->format, sizeof(g->format), "%s", name);
		snprintf(g->op, sizeof(g->op), "table memory, %s leaves",
			 i == 0 ? "4K" : i == 1 ? "2M" : "1G");
		g->unit = "B/GiB";
		g->memory = 1;
		g->target = T_MEMORY;
		g->frames = npt_table_frames(t);
		g->min_frames = min_frames(&fi, mc[i].size, mc[i].level);
		g->bytes_per_gib = g->frames * PAGE * GiB / mc[i].size;
		g->min_per_gib = g->min_frames * PAGE * GiB / mc[i].size;
		npt_free(t);
	}

	/* The 1 GiB 4 KiB map that query and walk read, and the floors' buffer. */
	c.t4k = mapped(f, GiB, 0);
	check(npt_walk(c.t4k, VA_BASE, GiB, NPT_WALK_TABLE_PRE, rec_leaf_table, &c), "npt_walk");
	c.addrs = malloc(NQUERY * sizeof(*c.addrs));
	if (!c.addrs)
		die("out of memory");
	for (i = 0; i < NQUERY; i++) {
		rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
		c.addrs[i] = VA_BASE + (rng % GiB);
		c.addr_sum += c.addrs[i];
	}
	c.buf_size = 0;
	for (i = 0; i < 3; i++)
		if (mc[i].bytes * mc[i].batch > c.buf_size)
			c.buf_size = mc[i].bytes * mc[i].batch;
	if (c.buf_size < 512 * PAGE)
		c.buf_size = 512 * PAGE;
	c.buf = pool_reserve(c.buf_size);

	for (i = 0; i < 3; i++) {
		struct job j = { map_op[i], "page", j_map, &mc[i], 0, i == 0 ? T_RANGE : T_NONE };
		if (mc[i].bytes)
			run_job(&c, &j);
	}
	{
		const struct job jobs[] = {
			{ "query, dependent (latency)", "call", j_query_dep, NULL, 0, T_NONE },
			{ "query, independent", "call", j_query_ind, NULL, 0, T_QUERY },
			/* the target on both: per call, and through the batch API */
			{ "query, independent (batch)", "call", j_query_batch, NULL, 0, T_QUERY },
			{ "protect_region 1G, 4K", "page", j_protect, NULL, 5, T_RANGE },
			{ "unmap_region 1G, 4K", "page", j_unmap, NULL, 5, T_RANGE },
			{ "npt_free 1G, 4K", "page", j_free, NULL, 5, T_NONE },
			{ "walk 1G, 4K leaves", "page", j_walk, NULL, 5, T_NONE },
			{ "walk runs 1G, 4K leaves", "page", j_walk_runs, NULL, 5, T_WALK_RUNS },
			{ "map 4K, leaf table there", "call", j_single, (void *)S_MAP, 0, T_SINGLE8 },
			{ "map 4K, new leaf table", "call", j_single, (void *)S_MAP_NEW, 0, T_SINGLE },
			{ "unmap 4K", "call", j_single, (void *)S_UNMAP, 0, T_SINGLE },
			{ "protect 4K", "call", j_single, (void *)S_PROTECT, 0, T_SINGLE },
			{ "remap 4K", "call", j_single, (void *)S_REMAP, 0, T_SINGLE },
			{ "log_write_fault 4K, marked", "call", j_single, (void *)S_LOG, 0, T_SINGLE },
		};
		for (i = 0; i < sizeof(jobs) / sizeof(jobs[0]); i++)
			run_job(&c, &jobs[i]);
	}
	npt_free(c.t4k);
	free(c.addrs);
	if (pool.live)
		die("%s: %zu frames leaked", name, pool.live);
}

/* ---- output ---------------------------------------------------------------------- */
static const char *compiler(void)
{
#ifdef __clang__
	return "clang " __clang_version__;
#elif defined(__GNUC__)
	return "gcc " __VERSION__;
#else
	return "unknown";
#endif
}

static void cpu_model(char *out, size_t len)
{
	FILE *fp = fopen("/proc/cpuinfo", "r");
	char line[256];

	snprintf(out, len, "unknown");
	if (!fp)
		return;
	while (fgets(line, sizeof(line), fp)) {
		char *p = strchr(line, ':');
		if (!strncmp(line, "model name", 10) && p) {
			p += 2;
			p[strcspn(p, "\n")] = 0;
			snprintf(out, len, "%s", p);
			break;
		}
	}
	fclose(fp);
}

static void fmt_ns(char *out, size_t len, double ns)
{
	if (ns >= 1000)
		snprintf(out, len, "%.0f", ns);
	else if (ns >= 10)
		snprintf(out, len, "%.1f", ns);
	else if (ns >= 0.1)
		snprintf(out, len, "%.2f", ns);
	else
		snprintf(out, len, "%.4f", ns);
}

/* 1 if the figure meets its target; text describes the figure. */
static int target_met(const struct fig *g, char *text, size_t len)
{
	double rf, rn;

	switch (g->target) {
	case T_RANGE:
		rf = g->best[V_NPT] / g->best[V_FLOOR];
		rn = g->best[V_NAIVE] / g->best[V_NPT];
		snprintf(text, len, "%.2fx floor (<= 2), %.0fx faster than naive (>= 3)", rf, rn);
		return rf <= 2.0 && rn >= 3.0;
	case T_WALK_RUNS:
		rf = g->best[V_NPT] / g->best[V_FLOOR];
		snprintf(text, len, "%.2fx floor (<= 2)", rf);
		return rf <= 2.0;
	case T_QUERY:
		snprintf(text, len, "%.2f ns per query (< 2.5)", g->best[V_NPT]);
		return g->best[V_NPT] < 2.5;
	case T_MEMORY:
		snprintf(text, len, "%.3fx the minimum (%llu frames, minimum %llu)",
			 (double)g->bytes_per_gib / (double)g->min_per_gib,
			 (unsigned long long)g->frames, (unsigned long long)g->min_frames);
		return g->frames == g->min_frames;
	case T_SINGLE:
	case T_SINGLE8:
		rf = g->best[V_NPT] / g->best[V_FLOOR];
		if (g->target == T_SINGLE8) {
			snprintf(text, len, "%.2fx floor (<= 2), %.2f ns (< 8)", rf, g->best[V_NPT]);
			return rf <= 2.0 && g->best[V_NPT] < 8.0;
		}
		snprintf(text, len, "%.2fx floor (<= 2)", rf);
		return rf <= 2.0;
	case T_NONE:
		break;
	}
	text[0] = 0;
	return 1;
}

static void print_targets(void)
{
	unsigned i;

	printf("\ntargets, best figures of this run:\n");
	for (i = 0; i < nfigs; i++) {
		const struct fig *g = &figs[i];
		char text[128];
		int met;

		if (g->target == T_NONE)
			continue;
		met = target_met(g, text, sizeof(text));
		printf("%-11s %-27s %-6s %s\n", g->format, g->op, met ? "met" : "MISSED", text);
	}
}

static void print_table(void)
{
	char cpu[128];
	unsigned i;

	cpu_model(cpu, sizeof(cpu));
	printf("npt bench: %ld cores (%s), %s, -O2 release build\n",
	       sysconf(_SC_NPROCESSORS_ONLN), cpu, compiler());
	printf("frames from the bench's own pool allocator (free stack + bump over one pre-faulted\n"
	       "mmap, NPT_MM_LINEAR, alloc_contig), so the allocator does not dominate\n");
	printf("ns per page (per call for query), best and median of %u repetitions (naive: up to 5);\n"
	       "x floor = npt best / floor best (lower is better), naive/npt = naive best / npt best\n\n",
	       reps);
	printf("%-11s %-27s %9s %9s %9s %8s %10s %9s\n", "format", "operation", "npt best", "median",
	       "floor", "x floor", "naive", "naive/npt");
	for (i = 0; i < nfigs; i++) {
		const struct fig *g = &figs[i];
		char b[32], m[32], fl[32], nv[32], rf[32], rn[32];

		if (g->memory)
			continue;
		fmt_ns(b, sizeof(b), g->best[V_NPT]);
		fmt_ns(m, sizeof(m), g->median[V_NPT]);
		snprintf(fl, sizeof(fl), "-");
		snprintf(rf, sizeof(rf), "-");
		snprintf(nv, sizeof(nv), "-");
		snprintf(rn, sizeof(rn), "-");
		if (g->has[V_FLOOR]) {
			fmt_ns(fl, sizeof(fl), g->best[V_FLOOR]);
			snprintf(rf, sizeof(rf), "%.2f", g->best[V_NPT] / g->best[V_FLOOR]);
		}
		if (g->has[V_NAIVE]) {
			fmt_ns(nv, sizeof(nv), g->best[V_NAIVE]);
			snprintf(rn, sizeof(rn), "%.1f", g->best[V_NAIVE] / g->best[V_NPT]);
		}
		printf("%-11s %-27s %9s %9s %9s %8s %10s %9s\n", g->format, g->op, b, m, fl, rf, nv, rn);
	}
	printf("\n%-11s %-27s %12s %12s %7s %8s\n", "format", "table memory", "bytes/GiB", "minimum",
	       "ratio", "frames");
	for (i = 0; i < nfigs; i++) {
		const struct fig *g = &figs[i];

		if (!g->memory)
			continue;
		printf("%-11s %-27s %12llu %12llu %7.3f %8llu\n", g->format, g->op,
		       (unsigned long long)g->bytes_per_gib, (unsigned long long)g->min_per_gib,
		       (double)g->bytes_per_gib / (double)g->min_per_gib,
		       (unsigned long long)g->frames);
	}
	printf("\nfloors: map = memset of every new table (leaf entries + zeroes); protect, unmap =\n"
	       "memset of the 2 MiB of leaf entries (unmap_region frees whole leaf tables instead of\n"
	       "clearing them, so it can beat this floor); npt_free = the pool's free of each frame;\n"
	       "walk = summing the leaf tables' bytes; query = one load of the leaf entry through a\n"
	       "flat array of leaf-table pointers. Dependent queries: each address depends on the\n"
	       "previous result. Query = npt_query(t, va, &pa, NULL, NULL); batch = npt_query_batch,\n"
	       "256 addresses a call.\n");
}

static void json_str(FILE *fp, const char *s)
{
	fputc('"', fp);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', fp);
		fputc(*s, fp);
	}
	fputc('"', fp);
}

static void write_json(const char *path)
{
	FILE *fp = fopen(path, "w");
	char cpu[128];
	unsigned i, v;

	if (!fp)
		die("%s: %s", path, strerror(errno));
	cpu_model(cpu, sizeof(cpu));
	fprintf(fp, "{\n  \"cores\": %ld,\n  \"cpu\": ", sysconf(_SC_NPROCESSORS_ONLN));
	json_str(fp, cpu);
	fprintf(fp, ",\n  \"compiler\": ");
	json_str(fp, compiler());
	fprintf(fp, ",\n  \"allocator\": \"bench pool: free stack + bump over one pre-faulted mmap, "
		    "NPT_MM_LINEAR, alloc_contig\",\n  \"reps\": %u,\n  \"figures\": [\n", reps);
	for (i = 0; i < nfigs; i++) {
		const struct fig *g = &figs[i];

		fprintf(fp, "    {\"format\": ");
		json_str(fp, g->format);
		fprintf(fp, ", \"op\": ");
		json_str(fp, g->op);
		fprintf(fp, ", \"unit\": ");
		json_str(fp, g->unit);
		if (g->memory) {
			fprintf(fp, ", \"bytes_per_gib\": %llu, \"min_bytes_per_gib\": %llu, "
				    "\"ratio\": %.4f, \"frames\": %llu, \"min_frames\": %llu",
				(unsigned long long)g->bytes_per_gib, (unsigned long long)g->min_per_gib,
				(double)g->bytes_per_gib / (double)g->min_per_gib,
				(unsigned long long)g->frames, (unsigned long long)g->min_frames);
		} else {
			for (v = 0; v < NVARIANT; v++) {
				if (!g->has[v])
					continue;
				fprintf(fp, ", \"%s_best_ns\": %.6g, \"%s_median_ns\": %.6g", variant_name[v],
					g->best[v], variant_name[v], g->median[v]);
			}
			if (g->has[V_FLOOR])
				fprintf(fp, ", \"x_floor\": %.4g", g->best[V_NPT] / g->best[V_FLOOR]);
			if (g->has[V_NAIVE])
				fprintf(fp, ", \"naive_over_npt\": %.4g", g->best[V_NAIVE] / g->best[V_NPT]);
		}
		if (g->target != T_NONE) {
			char text[128];
			int met = target_met(g, text, sizeof(text));

			fprintf(fp, ", \"target\": ");
			json_str(fp, text);
			fprintf(fp, ", \"met\": %s", met ? "true" : "false");
		}
		fprintf(fp, "}%s\n", i + 1 < nfigs ? "," : "");
	}
	fprintf(fp, "  ]\n}\n");
	if (fclose(fp))
		die("%s: write failed", path);
}

static int has_format(const char *name)
{
	const char *const *n;

	for (n = npt_format_names(); *n; n++)
		if (!strcmp(*n, name))
			return 1;
	return 0;
}

int main(int argc, char **argv)
{
	const char *json = NULL, *list = NULL;
	const char *chosen[32];
	unsigned nchosen = 0, i, k;
	int a;

	for (a = 1; a < argc; a++) {
		if (!strcmp(argv[a], "--json") && a + 1 < argc) {
			json = argv[++a];
		} else if (!strcmp(argv[a], "--reps") && a + 1 < argc) {
			reps = (unsigned)atoi(argv[++a]);
			if (reps < 1 || reps > MAXREP)
				die("--reps: 1..%d", MAXREP);
		} else if (!strcmp(argv[a], "--formats") && a + 1 < argc) {
			list = argv[++a];
		} else if (!strcmp(argv[a], "--only") && a + 1 < argc) {
			only = argv[++a];
		} else {
			fprintf(stderr, "usage: %s [--json FILE] [--reps N] [--formats a,b,...] [--only a,b,...]\n",
				argv[0]);
			return 2;
		}
	}
	if (list) {
		static char copy[512];
		char *tok;

		snprintf(copy, sizeof(copy), "%s", list);
		for (tok = strtok(copy, ","); tok && nchosen < 32; tok = strtok(NULL, ","))
			chosen[nchosen++] = tok;
	} else {
		for (i = 0; i < sizeof(format_rows) / sizeof(format_rows[0]); i++)
			for (k = 0; k < 4 && format_rows[i][k]; k++)
				if (has_format(format_rows[i][k])) {
					chosen[nchosen++] = format_rows[i][k];
					break;
				}
	}

	if (bench_pool_init(&pool, NULL, POOL_PA, 256 * MiB / PAGE))
		die("no memory for the pool: %s", strerror(errno));
	mm = bench_pool_mm(&pool);
	for (i = 0; i < nchosen; i++)
		run_format(chosen[i]);
	print_table();
	print_targets();
	if (json)
		write_json(json);
	return 0;
}
