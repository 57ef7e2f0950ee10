/*
 * Concurrent readers on every format: one writer thread makes random changes
 * (map, unmap, protect, remap, collapse, harvest, dirty logging with its
 * splits) to 8 MiB of a table while two reader threads query it, and walk it
 * with cursors, all the time. Every translation a reader gets must be the
 * page's mapping before or after one of the writer's calls that overlapped
 * the read: never a half-built table, never a freed one (table frames go
 * through the free hook and are returned only when the readers are done,
 * RCU-style), never garbage (the pool fills fresh frames with 0xA5).
 *
 * How "before or after" is decided: the writer bumps a sequence number
 * before and after each call (seqlock-style) and, after call k, stores
 * every page's expected state in hist[k % H]. A reader notes the sequence
 * before and after its read; the read may have seen the state after any
 * call from the last one completed before it to the last one started during
 * it, and it is checked against exactly those.
 *
 * tests/all.sh also builds this test with ThreadSanitizer (clang
 * -fsanitize=thread, scripts/tsan.sh), which checks that every access
 * readers and the writer share is an atomic one.
 *
 * Knobs: NPT_CONCURRENT_OPS (calls per format, default 1000),
 * NPT_CONCURRENT_FORMAT=i (only format i), NPT_CONCURRENT_DEBUG=page (print
 * each call with the raw entry of that page, and compare every page with the
 * model after every call).
 */
#include <check.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "npt.h"
#include "lib/check_main.h"
#include "lib/hwsim.h"
#include "lib/testmm.h"
#include "lib/tutil.h"

#define NPG 2048              /* pages in the area: four 2 MiB blocks */
#define BLOCK 512             /* pages per 2 MiB */
#define NGEN 4                /* output addresses a page may map: PA0 + g * GEN_STRIDE + p * 4 KiB */
#define GEN_STRIDE (16ull << 20)
#define H 256                 /* history ring */
#define MIN_CHECKS (getenv("NPT_OPS") ? 200ul : 3000ul) /* reads each reader checks, at least */
#define POOL (1u << 16)

/* Page state: 0 unmapped; else bit 0 mapped, bits 2:1 g, bit 3 writable as
 * readers see it. */
#define ST_MAPPED 1u
#define ST_W 8u
#define ST(g, w) (ST_MAPPED | (unsigned)(g) << 1 | ((w) ? ST_W : 0u))

struct model {
	unsigned char mapped[NPG], g[NPG], w[NPG], marked[NPG], logdirty[NPG];
};

struct shared {
	struct fctx *c;
	struct npt_table *t;
	uint64_t va0, pa0;
	uint64_t seq;                 /* odd while a call runs */
	int done;
	unsigned char hist[H][NPG];
	/* reader results */
	unsigned long checked[2], skipped[2];
	char failure[2][256];
};

static unsigned char visible(const struct model *m, unsigned p)
{
	if (!m->mapped[p])
		return 0;
	return (unsigned char)ST(m->g[p], m->w[p] && (!m->marked[p] || m->logdirty[p]));
}

static uint64_t rng(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* ---- readers ---------------------------------------------------------------------- */

/* The state a translation result stands for, or 0xff for garbage. */
static unsigned char observed(const struct shared *sh, unsigned p, int rc, uint64_t pa,
			      unsigned flags)
{
	uint64_t off;

	if (rc == NPT_ERR_NOT_MAPPED)
		return 0;
	if (rc)
		return 0xff;
	off = pa - (sh->pa0 + (uint64_t)p * PG);
	if (off % GEN_STRIDE || off / GEN_STRIDE >= NGEN)
		return 0xff;
	return (unsigned char)ST(off / GEN_STRIDE, flags & NPT_W);
}

/* 1 if st is page p's state after one of the calls the read [s1, s2] may
 * have seen (comparing only the bits in mask); -1 if the history needed is
 * gone (too slow a reader). */
static int allowed(struct shared *sh, unsigned p, unsigned char st, unsigned char mask,
		   uint64_t s1, uint64_t s2)
{
	uint64_t from = s1 / 2, to = (s2 + 1) / 2, k, s3;
	int ok = 0;

	/* the history of a call is there once the call is done */
	while (__atomic_load_n(&sh->seq, __ATOMIC_ACQUIRE) < 2 * to)
		sched_yield();
	for (k = from; k <= to; k++)
		ok |= ((__atomic_load_n(&sh->hist[k % H][p], __ATOMIC_RELAXED) ^ st) & mask) == 0;
	/* seqlock: the history reads come before the second look at seq */
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	s3 = __atomic_load_n(&sh->seq, __ATOMIC_RELAXED);
	if (s3 / 2 >= from + H - 1)
		return -1;
	return ok;
}

struct reader {
	struct shared *sh;
	int id;
};

static void reader_fail(struct shared *sh, int id, const char *what, unsigned p, unsigned char st,
		 uint64_t s1, uint64_t s2)
{
	if (!sh->failure[id][0])
		snprintf(sh->failure[id], sizeof(sh->failure[id]),
			 "%s: page %u read as state 0x%x, not a state of calls %llu..%llu", what, p,
			 st, (unsigned long long)(s1 / 2), (unsigned long long)((s2 + 1) / 2));
}

static void *reader(void *arg)
{
	struct reader *r = arg;
	struct shared *sh = r->sh;
	uint64_t s = 0x2545f4914f6cdd1dull * (uint64_t)(r->id + 1);
	unsigned long n = 0;

	while (!__atomic_load_n(&sh->done, __ATOMIC_ACQUIRE)) {
		uint64_t s1, s2;
		unsigned p = (unsigned)(rng(&s) % NPG);

		if (n % 8 == 1) {
			/* npt_query_batch over random pages (its pipeline and
			 * walk cache span the whole call): each against the
			 * calls the batch overlapped */
			enum { NB = 48 };
			uint64_t va[NB], pa[NB];
			int err[NB];
			unsigned pg[NB], k;

			n++;
			for (k = 0; k < NB; k++) {
				pg[k] = (unsigned)(rng(&s) % NPG);
				va[k] = sh->va0 + (uint64_t)pg[k] * PG + 0x10;
			}
			s1 = __atomic_load_n(&sh->seq, __ATOMIC_ACQUIRE);
			if (npt_query_batch(sh->t, va, NB, pa, err))
				reader_fail(sh, r->id, "npt_query_batch", pg[0], 0xff, s1, s1);
			s2 = __atomic_load_n(&sh->seq, __ATOMIC_ACQUIRE);
			for (k = 0; k < NB; k++) {
				unsigned char st = observed(sh, pg[k], err[k], pa[k] - 0x10, 0);
				int ok = allowed(sh, pg[k], st, (unsigned char)~ST_W, s1, s2);

				if (ok < 0)
					__atomic_fetch_add(&sh->skipped[r->id], 1, __ATOMIC_RELAXED);
				else if (!ok)
					reader_fail(sh, r->id, "npt_query_batch", pg[k], st, s1, s2);
				else
					__atomic_fetch_add(&sh->checked[r->id], 1, __ATOMIC_RELAXED);
			}
		} else if (n++ % 8) {
			/* half the queries without flags: npt_query's fast path */
			const int want_flags = n % 2;
			uint64_t pa = 0;
			unsigned flags = 0;
			int rc, ok;
			unsigned char st;

			s1 = __atomic_load_n(&sh->seq, __ATOMIC_ACQUIRE);
			rc = npt_query(sh->t, sh->va0 + (uint64_t)p * PG + 0x10, &pa,
				       want_flags ? &flags : NULL, NULL);
			s2 = __atomic_load_n(&sh->seq, __ATOMIC_ACQUIRE);
			st = observed(sh, p, rc, pa - 0x10, flags);
			ok = allowed(sh, p, st, want_flags ? 0xff : (unsigned char)~ST_W, s1, s2);
			if (ok < 0)
				__atomic_fetch_add(&sh->skipped[r->id], 1, __ATOMIC_RELAXED);
			else if (!ok)
				reader_fail(sh, r->id, "npt_query", p, st, s1, s2);
			else
				__atomic_fetch_add(&sh->checked[r->id], 1, __ATOMIC_RELAXED);
		} else {
			/* a cursor over 32 pages: each leaf against each page */
			struct npt_cursor cur;
			unsigned q0 = p & ~31u;

			s1 = __atomic_load_n(&sh->seq, __ATOMIC_ACQUIRE);
			if (npt_cursor_init(&cur, sh->t, sh->va0 + (uint64_t)q0 * PG, 32 * PG,
					    NPT_WALK_LEAF))
				reader_fail(sh, r->id, "npt_cursor_init", q0, 0xff, s1, s1);
			{
				struct npt_visit seen[32];
				unsigned nseen = 0, k, q;

				while (nseen < 32 && npt_cursor_next(&cur) == 1)
					seen[nseen++] = cur.v;
				s2 = __atomic_load_n(&sh->seq, __ATOMIC_ACQUIRE);
				for (k = 0; k < nseen; k++) {
					for (q = q0; q < q0 + 32; q++) {
						uint64_t a = sh->va0 + (uint64_t)q * PG;
						unsigned char st;
						int ok;

						if (a < seen[k].va || a - seen[k].va >= seen[k].size)
							continue;
						st = observed(sh, q, 0, seen[k].pa + (a - seen[k].va),
							      seen[k].flags);
						ok = allowed(sh, q, st, 0xff, s1, s2);
						if (ok < 0)
							__atomic_fetch_add(&sh->skipped[r->id], 1, __ATOMIC_RELAXED);
						else if (!ok)
							reader_fail(sh, r->id, "cursor", q, st, s1, s2);
						else
							__atomic_fetch_add(&sh->checked[r->id], 1, __ATOMIC_RELAXED);
					}
				}
			}
		}
	}
	return NULL;
}

/* ---- the writer ---------------------------------------------------------------------- */

struct deferred {
	uint64_t *pa;
	size_t n, cap;
};

static void defer_free(void *arg, uint64_t pa)
{
	struct deferred *d = arg;

	if (d->n == d->cap) {
		d->cap = d->cap ? 2 * d->cap : 1024;
		d->pa = realloc(d->pa, d->cap * sizeof(*d->pa));
		ck_assert_ptr_nonnull(d->pa);
	}
	d->pa[d->n++] = pa;
}

static int all(const unsigned char *a, unsigned s, unsigned n, unsigned char v)
{
	unsigned i;

	for (i = s; i < s + n; i++)
		if (a[i] != v)
			return 0;
	return 1;
}

/* One random call; the model follows it. */
static uint64_t last_r;

static void write_one(struct shared *sh, struct model *m, uint64_t *s)
{
	struct fctx *c = sh->c;
	struct npt_table *t = sh->t;
	uint64_t r = rng(s), bm[NPG / 64];

	last_r = r;
	unsigned huge = (unsigned)(r >> 8) & 1;
	unsigned sp = huge ? (unsigned)(r >> 12) % 4 * BLOCK : (unsigned)(r >> 12) % NPG;
	unsigned n = huge ? BLOCK * (1 + (unsigned)(r >> 20) % 2) : 1 + (unsigned)(r >> 20) % 64;
	unsigned g = (unsigned)(r >> 28) % NGEN, w = (unsigned)(r >> 31) & 1, i;
	unsigned flags = w ? c->rw : c->rw & ~NPT_W;
	uint64_t va, pa;

	if (sp + n > NPG)
		n = NPG - sp;
	if (getenv("NPT_CONCURRENT_DEBUG"))
		fprintf(stderr, "op %llu sp %u n %u g %u w %u huge %u bit40 %u pte1537 %llx\n",
			(unsigned long long)(r % 10), sp, n, g, w, huge, (unsigned)((r >> 40) & 1),
			(unsigned long long)hw_pte(sh->t, sh->va0 + strtoull(getenv("NPT_CONCURRENT_DEBUG"), NULL, 0) * PG));
	va = sh->va0 + (uint64_t)sp * PG;
	pa = sh->pa0 + (uint64_t)g * GEN_STRIDE + (uint64_t)sp * PG;
	switch (r % 10) {
	case 0:
	case 1:
		if (!all(m->mapped, sp, n, 0))
			return;
		EXPECT_OK(c, npt_map_region(t, va, pa, (uint64_t)n * PG, flags,
					    huge ? NPT_MAP_2M : 0));
		for (i = sp; i < sp + n; i++) {
			m->mapped[i] = 1;
			m->g[i] = (unsigned char)g;
			m->w[i] = (unsigned char)w;
			m->marked[i] = m->logdirty[i] = 0;
		}
		break;
	case 2:
		if (!all(m->mapped, sp, n, 1))
			return;
		EXPECT_OK(c, npt_unmap_region(t, va, (uint64_t)n * PG));
		memset(&m->mapped[sp], 0, n);
		break;
	case 3:
		if (!all(m->mapped, sp, n, 1))
			return;
		EXPECT_OK(c, npt_protect_region(t, va, (uint64_t)n * PG, flags));
		for (i = sp; i < sp + n; i++) {
			m->w[i] = (unsigned char)w;
			m->marked[i] = m->logdirty[i] = 0;
		}
		break;
	case 4: {
		uint64_t ps, base;
		unsigned b;

		if (!m->mapped[sp] || npt_query(t, va, NULL, NULL, &ps))
			return;
		base = va & ~(ps - 1);
		b = (unsigned)((base - sh->va0) / PG);
		if (base < sh->va0 || b + ps / PG > NPG)
			return;
		EXPECT_OK(c, npt_remap(t, base, sh->pa0 + (uint64_t)g * GEN_STRIDE + (uint64_t)b * PG,
				       flags));
		for (i = b; i < b + ps / PG; i++) {
			m->g[i] = (unsigned char)g;
			m->w[i] = (unsigned char)w;
			m->marked[i] = m->logdirty[i] = 0;
		}
		break;
	}
	case 5:
		EXPECT_OK(c, npt_collapse(t, sh->va0 + (uint64_t)(sp & ~(BLOCK - 1)) * PG,
					  (uint64_t)BLOCK * PG));
		break;
	case 6:
		sp &= ~(BLOCK - 1);
		if (c->info.features & NPT_FEATURE_DIRTY)
			EXPECT_OK(c, npt_harvest(t, sh->va0 + (uint64_t)sp * PG, (uint64_t)BLOCK * PG,
						 NPT_D, bm));
		else if (c->info.features & NPT_FEATURE_ACCESSED)
			EXPECT_OK(c, npt_harvest(t, sh->va0 + (uint64_t)sp * PG, (uint64_t)BLOCK * PG,
						 NPT_A, bm));
		break;
	case 7:
		sp &= ~(BLOCK - 1);
		EXPECT_OK(c, npt_log_start(t, sh->va0 + (uint64_t)sp * PG, (uint64_t)BLOCK * PG,
					   (r >> 40) & 1 ? NPT_LOG_EAGER : NPT_LOG_LAZY));
		for (i = sp; i < sp + BLOCK; i++)
			if (m->mapped[i] && m->w[i]) {
				m->marked[i] = 1;
				m->logdirty[i] = 0;
			}
		break;
	case 8: {
		int want = !m->mapped[sp] ? NPT_ERR_NOT_MAPPED : m->w[sp] ? 0 : NPT_ERR_PERM;

		EXPECT_RC(c, npt_log_write_fault(t, va), want);
		if (!want && m->marked[sp])
			m->logdirty[sp] = 1;
		break;
	}
	case 9:
		sp &= ~(BLOCK - 1);
		if ((r >> 40) & 1) {
			EXPECT_OK(c, npt_log_harvest(t, sh->va0 + (uint64_t)sp * PG,
						     (uint64_t)BLOCK * PG, bm));
			for (i = sp; i < sp + BLOCK; i++)
				m->logdirty[i] = 0;
		} else {
			EXPECT_OK(c, npt_log_stop(t, sh->va0 + (uint64_t)sp * PG,
						  (uint64_t)BLOCK * PG));
			memset(&m->marked[sp], 0, BLOCK);
		}
		break;
	}
}

static void run_format(struct fctx *c, unsigned nops)
{
	struct shared *sh = calloc(1, sizeof(*sh));
	struct model *m = calloc(1, sizeof(*m));
	struct deferred d = { 0 };
	struct reader rd[2];
	pthread_t th[2];
	uint64_t s = 0x9e3779b97f4a7c15ull ^ c->idx, k;
	unsigned p, i;

	ck_assert_ptr_nonnull(sh);
	ck_assert_ptr_nonnull(m);
	sh->c = c;
	sh->t = fctx_new(c);
	npt_set_free_hook(sh->t, defer_free, &d);
	sh->va0 = fctx_area(c, lsize(1), NPG * PG);
	sh->pa0 = fctx_pa(c, lsize(1), NGEN * GEN_STRIDE);
	/* call 0: the empty table */
	for (i = 0; i < 2; i++) {
		rd[i].sh = sh;
		rd[i].id = (int)i;
		ck_assert_int_eq(pthread_create(&th[i], NULL, reader, &rd[i]), 0);
	}
	/* nops calls, and on until both readers have checked enough reads (on
	 * a machine with few cores the readers get the CPU late) */
	for (k = 1;; k++) {
		if (k > nops && (k > 100 * (uint64_t)nops ||
				 (__atomic_load_n(&sh->checked[0], __ATOMIC_RELAXED) >= MIN_CHECKS &&
				  __atomic_load_n(&sh->checked[1], __ATOMIC_RELAXED) >= MIN_CHECKS)))
			break;
		if (k % 16 == 0)
			sched_yield();
		__atomic_store_n(&sh->seq, 2 * k - 1, __ATOMIC_RELEASE);
		write_one(sh, m, &s);
		for (p = 0; p < NPG; p++)
			__atomic_store_n(&sh->hist[k % H][p], visible(m, p), __ATOMIC_RELAXED);
		__atomic_store_n(&sh->seq, 2 * k, __ATOMIC_RELEASE);
		/* the writer checks itself too */
		p = (unsigned)(rng(&s) % NPG);
		if (getenv("NPT_CONCURRENT_DEBUG")) {
			unsigned q;

			for (q = 0; q < NPG; q++) {
				uint64_t pa = 0;
				unsigned flags = 0;
				int rc = npt_query(sh->t, sh->va0 + (uint64_t)q * PG, &pa, &flags, NULL);

				if (observed(sh, q, rc, pa, flags) != visible(m, q)) {
					fprintf(stderr, "call %llu (kind %llu): page %u 0x%x model 0x%x\n",
						(unsigned long long)k, (unsigned long long)(last_r % 10),
						q, observed(sh, q, rc, pa, flags), visible(m, q));
					break;
				}
			}
		}
		{
			uint64_t pa = 0;
			unsigned flags = 0;
			int rc = npt_query(sh->t, sh->va0 + (uint64_t)p * PG, &pa, &flags, NULL);

			ck_assert_msg(observed(sh, p, rc, pa, flags) == visible(m, p),
				      "[%s] after call %llu: page %u reads 0x%x, model 0x%x", c->name,
				      (unsigned long long)k, p, observed(sh, p, rc, pa, flags),
				      visible(m, p));
		}
	}
	__atomic_store_n(&sh->done, 1, __ATOMIC_RELEASE);
	for (i = 0; i < 2; i++)
		ck_assert_int_eq(pthread_join(th[i], NULL), 0);
	for (i = 0; i < 2; i++)
		ck_assert_msg(!sh->failure[i][0], "[%s] reader %u: %s", c->name, i, sh->failure[i]);
	ck_assert_msg(sh->checked[0] >= MIN_CHECKS && sh->checked[1] >= MIN_CHECKS,
		      "[%s] readers checked only %lu and %lu reads (%lu, %lu skipped)", c->name,
		      sh->checked[0], sh->checked[1], sh->skipped[0], sh->skipped[1]);
	check_tree(c, sh->t, 0, NULL);
	/* readers are gone: the grace period is over */
	npt_free(sh->t);
	for (k = 0; k < d.n; k++)
		c->mm.mm.free(c->mm.mm.ctx, d.pa[k]);
	ck_assert_uint_eq(testmm_live(&c->mm), 0);
	free(d.pa);
	free(m);
	free(sh);
}

START_TEST(t_concurrent)
{
	struct fctx c;
	/* NPT_CONCURRENT_OPS: calls (default 1000); NPT_OPS (scripts/valgrind.sh's
	 * reduced workload) cuts them to 100 */
	const char *env = getenv("NPT_CONCURRENT_OPS");
	unsigned nops = env ? (unsigned)strtoul(env, NULL, 0) : getenv("NPT_OPS") ? 100 : 1000;

	const char *only = getenv("NPT_CONCURRENT_FORMAT");

	if (only && strtol(only, NULL, 0) != _i)
		return;
	fctx_init(&c, (unsigned)_i, POOL, 1);
	run_format(&c, nops);
	fctx_fini(&c);
}
END_TEST

static Suite *concurrent_suite(void)
{
	Suite *s = suite_create("concurrent");
	TCase *tc = tcase_create("concurrent");

	tcase_set_timeout(tc, 300);
	ADD_FMT_TEST(tc, t_concurrent);
	suite_add_tcase(s, tc);
	return s;
}

NPT_CHECK_MAIN(concurrent_suite)
