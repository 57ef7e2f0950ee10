/*
 * The allocators of npt_user.h (libnpt_user.a): every format builds, maps,
 * queries and frees a table with each, and gets every frame back; the
 * addresses they hand out fit the format's output width and contiguous
 * blocks are aligned; a pool that runs dry is NPT_ERR_NOMEM with nothing
 * changed; bad pools are refused; a bad free stops the process; two
 * threads share one mm. And the first-fit core every pool of the tree
 * stands on (frames.h): placement, claims, splits, and each refused give
 * with its reason and nothing changed.
 */
#include <check.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "npt.h"
#include "frames.h"
#include "npt_user.h"
#include "lib/check_main.h"
#include "lib/tutil.h"

#define POOL_BYTES (16u << 20)

enum { HEAP, POOL };

struct env {
	void *mem;
	struct npt_mm *mm;
};

static void env_init(struct env *e, int kind)
{
	e->mem = NULL;
	if (kind == HEAP) {
		e->mm = npt_user_malloc_mm();
	} else {
		e->mem = aligned_alloc(4096, POOL_BYTES);
		ck_assert_ptr_nonnull(e->mem);
		e->mm = npt_user_pool_mm(e->mem, POOL_BYTES, 0x40000000);
	}
	ck_assert_ptr_nonnull(e->mm);
}

static void env_fini(struct env *e)
{
	npt_user_mm_delete(e->mm);
	free(e->mem);
}

/* Every format with either allocator: a region with the largest leaves it
 * takes, 4 KiB pages, queries of both, an unmap that empties tables, and
 * every frame back after npt_free. */
static void one_format(unsigned idx, int kind)
{
	const char *name = npt_format_names()[idx];
	const struct npt_format *f = npt_format_by_name(name);
	struct npt_format_info info;
	struct npt_table *t;
	struct env e;
	uint64_t pa, size, va = 0, big = 1ull << 30;
	int err;

	ck_assert_int_eq(npt_format_info(f, &info), 0);
	env_init(&e, kind);
	t = npt_new(f, e.mm, &err);
	ck_assert_msg(t != NULL, "%s: npt_new: %s", name, npt_strerror(err));
	ck_assert_msg(npt_root(t) >> info.pa_bits == 0, "%s: root 0x%llx beyond %u bits", name,
		      (unsigned long long)npt_root(t), info.pa_bits);
	ck_assert_msg((npt_root(t) & (info.root_frames * 4096ull - 1)) == 0,
		      "%s: root 0x%llx not aligned to its %u frames", name,
		      (unsigned long long)npt_root(t), info.root_frames);
	if (info.canonical && info.va_bits < 64)
		va = 0; /* the low half */
	err = npt_map_region(t, va, big, big, NPT_R | NPT_W, NPT_MAP_HUGE);
	ck_assert_msg(err == 0, "%s: map_region: %s", name, npt_strerror(err));
	err = npt_map_region(t, va + 2 * big, 3 * big, 64 * PG, NPT_R, 0);
	ck_assert_msg(err == 0, "%s: map_region 4K: %s", name, npt_strerror(err));
	ck_assert_int_eq(npt_query(t, va + 12345 * PG, &pa, NULL, &size), 0);
	ck_assert_uint_eq(pa, big + 12345 * PG);
	ck_assert_int_eq(npt_query(t, va + 2 * big + 63 * PG + 5, &pa, NULL, &size), 0);
	ck_assert_uint_eq(pa, 3 * big + 63 * PG + 5);
	ck_assert_uint_eq(size, PG);
	ck_assert_uint_eq(npt_user_mm_frames(e.mm), npt_table_frames(t) + 1 /* handle */);
	err = npt_unmap_region(t, va + 2 * big, 64 * PG);
	ck_assert_msg(err == 0, "%s: unmap_region: %s", name, npt_strerror(err));
	ck_assert_int_eq(npt_query(t, va + 2 * big, NULL, NULL, NULL), NPT_ERR_NOT_MAPPED);
	npt_free(t);
	ck_assert_msg(npt_user_mm_frames(e.mm) == 0, "%s: %llu frames not given back", name,
		      (unsigned long long)npt_user_mm_frames(e.mm));
	env_fini(&e);
}

START_TEST(t_heap_formats)
{
	one_format((unsigned)_i, HEAP);
}
END_TEST

START_TEST(t_pool_formats)
{
	one_format((unsigned)_i, POOL);
}
END_TEST

/* Blocks aligned to their size (rounded up to a power of two) in physical
 * addresses, each frame of a block at the next address in memory, the
 * frame word beside each frame, and numbers given back used again. */
static void blocks(int kind)
{
	static const unsigned counts[] = { 1, 2, 4, 3, 8, 1, 16, 2 };
	uint64_t pa[8], again;
	struct env e;
	unsigned i, k;

	env_init(&e, kind);
	for (i = 0; i < 8; i++) {
		unsigned align = 1;
		unsigned char *v;

		while (align < counts[i])
			align <<= 1;
		if (counts[i] == 1)
			ck_assert_int_eq(e.mm->alloc(e.mm->ctx, &pa[i]), 0);
		else
			ck_assert_int_eq(e.mm->alloc_contig(e.mm->ctx, counts[i], &pa[i]), 0);
		ck_assert_msg(pa[i] && (pa[i] & (align * PG - 1)) == 0, "block of %u at 0x%llx",
			      counts[i], (unsigned long long)pa[i]);
		v = e.mm->phys_to_virt(e.mm->ctx, pa[i]);
		ck_assert_ptr_nonnull(v);
		for (k = 0; k < counts[i]; k++) {
			ck_assert_ptr_eq(e.mm->phys_to_virt(e.mm->ctx, pa[i] + k * PG), v + k * PG);
			memset(v + k * PG, 0x5a, PG); /* the whole frame is ours */
			*e.mm->frame_word(e.mm->ctx, pa[i] + k * PG) = i;
		}
		if (e.mm->flags & NPT_MM_LINEAR)
			ck_assert_ptr_eq((void *)(uintptr_t)(pa[i] + e.mm->linear_offset), v);
	}
	for (i = 0; i < 8; i++)
		ck_assert_uint_eq(*e.mm->frame_word(e.mm->ctx, pa[i]), i);
	ck_assert_uint_eq(npt_user_mm_frames(e.mm), 1 + 2 + 4 + 3 + 8 + 1 + 16 + 2);
	e.mm->free_contig(e.mm->ctx, pa[4], 8);
	ck_assert_int_eq(e.mm->alloc_contig(e.mm->ctx, 8, &again), 0);
	ck_assert_uint_eq(again, pa[4]);
	e.mm->free(e.mm->ctx, pa[0]);
	ck_assert_int_eq(e.mm->alloc(e.mm->ctx, &again), 0);
	ck_assert_uint_eq(again, pa[0]);
	for (i = 0; i < 8; i++) {
		if (counts[i] == 1)
			e.mm->free(e.mm->ctx, pa[i]);
		else
			e.mm->free_contig(e.mm->ctx, pa[i], counts[i]);
	}
	ck_assert_uint_eq(npt_user_mm_frames(e.mm), 0);
	env_fini(&e);
}

START_TEST(t_blocks)
{
	blocks(_i);
}
END_TEST

/* A pool that runs dry: the call that needs one frame too many fails with
 * NOMEM and changes nothing, the table and the pool's count as they were. */
START_TEST(t_pool_dry)
{
	const size_t bytes = 64 * 4096;
	void *mem = aligned_alloc(4096, bytes);
	struct npt_mm *mm = npt_user_pool_mm(mem, bytes, 0x1000);
	const struct npt_format *f = npt_format_by_name("ept");
	struct npt_table *t;
	uint64_t va, frames = 0, avail;
	int err = 0;

	ck_assert_ptr_nonnull(mm);
	avail = npt_user_mm_available(mm);
	ck_assert_msg(avail > 50 && avail < 64, "a 64-frame pool offers %llu",
		      (unsigned long long)avail);
	t = npt_new(f, mm, &err);
	ck_assert_ptr_nonnull(t);
	/* each 1 GiB step needs a new level-2 and leaf table */
	for (va = 0; err == 0; va += 1ull << 30) {
		frames = npt_user_mm_frames(mm);
		err = npt_map(t, va, 0x100000, PG, NPT_R);
	}
	ck_assert_int_eq(err, NPT_ERR_NOMEM);
	ck_assert_uint_eq(npt_user_mm_frames(mm), frames);
	ck_assert_int_eq(npt_query(t, va - (1ull << 30), NULL, NULL, NULL), NPT_ERR_NOT_MAPPED);
	ck_assert_int_eq(npt_query(t, va - 2 * (1ull << 30), NULL, NULL, NULL), 0);
	npt_free(t);
	ck_assert_uint_eq(npt_user_mm_frames(mm), 0);
	ck_assert_uint_eq(npt_user_mm_available(mm), avail);
	free(mem);
}
END_TEST

START_TEST(t_pool_refused)
{
	unsigned char *mem = aligned_alloc(4096, 8 * 4096);

	ck_assert_ptr_null(npt_user_pool_mm(NULL, 8 * 4096, 0));
	ck_assert_ptr_null(npt_user_pool_mm(mem + 8, 7 * 4096, 0));     /* misaligned memory */
	ck_assert_ptr_null(npt_user_pool_mm(mem, 8 * 4096, 0x1800));    /* misaligned base */
	ck_assert_ptr_null(npt_user_pool_mm(mem, 4096, 0));             /* no room for a frame */
	ck_assert_ptr_null(npt_user_pool_mm(mem, 8 * 4096, -4096ull)); /* wraps */
	ck_assert_ptr_nonnull(npt_user_pool_mm(mem, 8 * 4096, 0));
	ck_assert_uint_eq(npt_user_mm_frames(NULL), 0);
	npt_user_mm_delete(NULL);
	free(mem);
}
END_TEST

/* Freeing what is not allocated, or with the wrong size, stops the process
 * (a child of its own: the test also runs with CK_FORK=no, under valgrind). */
static void bad_free(int kind, int how)
{
	struct env e;
	uint64_t pa;

	env_init(&e, kind);
	switch (how) {
	case 0: /* twice */
		ck_assert_int_eq(e.mm->alloc(e.mm->ctx, &pa), 0);
		e.mm->free(e.mm->ctx, pa);
		e.mm->free(e.mm->ctx, pa);
		break;
	case 1: /* a block as a single frame */
		ck_assert_int_eq(e.mm->alloc_contig(e.mm->ctx, 4, &pa), 0);
		e.mm->free(e.mm->ctx, pa);
		break;
	default: /* never handed out */
		ck_assert_int_eq(e.mm->alloc(e.mm->ctx, &pa), 0);
		e.mm->free(e.mm->ctx, pa + 64 * PG);
		break;
	}
}

START_TEST(t_bad_free)
{
	int status = 0;
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		/* the message goes to a pipe nobody reads: keep the log clean */
		if (!freopen("/dev/null", "w", stderr))
			_exit(3);
		bad_free(_i / 3, _i % 3);
		_exit(0); /* not stopped: the parent sees exit 0 */
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT,
		      "bad free %d of allocator %d: status 0x%x, not stopped by SIGABRT", _i % 3,
		      _i / 3, status);
}
END_TEST

static void *churn(void *arg)
{
	struct npt_mm *mm = arg;
	uint64_t pa[64];
	unsigned r, i;

	for (r = 0; r < 2000; r++) {
		for (i = 0; i < 64; i++)
			if (mm->alloc(mm->ctx, &pa[i]))
				return (void *)1;
		for (i = 0; i < 64; i++)
			*(uint64_t *)mm->phys_to_virt(mm->ctx, pa[i]) = pa[i];
		for (i = 0; i < 64; i++)
			if (*(uint64_t *)mm->phys_to_virt(mm->ctx, pa[i]) != pa[i])
				return (void *)2; /* a frame handed out twice */
		for (i = 0; i < 64; i++)
			mm->free(mm->ctx, pa[i]);
	}
	return NULL;
}

START_TEST(t_threads)
{
	struct env e;
	pthread_t th[2];
	void *ret[2];
	int k;

	env_init(&e, _i);
	for (k = 0; k < 2; k++)
		ck_assert_int_eq(pthread_create(&th[k], NULL, churn, e.mm), 0);
	for (k = 0; k < 2; k++) {
		pthread_join(th[k], &ret[k]);
		ck_assert_ptr_null(ret[k]);
	}
	ck_assert_uint_eq(npt_user_mm_frames(e.mm), 0);
	env_fini(&e);
}
END_TEST

/* The core's refusals change nothing: the states and counts are compared
 * whole before and after. */
static void give_refused(struct npt_frames *fr, uint64_t pa, uint64_t count, const char *why)
{
	unsigned char before[64];
	const uint64_t used = fr->used, hint = fr->hint;
	const char *got;

	memcpy(before, fr->state, sizeof(before));
	got = npt_frames_give(fr, pa, count);
	ck_assert_msg(got && strcmp(got, why) == 0, "give 0x%llx+%llu: \"%s\", want \"%s\"",
		      (unsigned long long)pa, (unsigned long long)count, got ? got : "(given)", why);
	ck_assert(memcmp(before, fr->state, sizeof(before)) == 0);
	ck_assert_uint_eq(fr->used, used);
	ck_assert_uint_eq(fr->hint, hint);
}

START_TEST(t_frames_core)
{
	enum { BASE = 0x11000 }; /* frame 0x11: blocks align in physical addresses */
	unsigned char state[64];
	struct npt_frames fr;
	uint64_t pa, a, b, c;

	npt_frames_init(&fr, state, BASE, 64);
	/* singles first fit, a block at the first address aligned to it */
	ck_assert_int_eq(npt_frames_take(&fr, 1, 1, &a), 0);
	ck_assert_uint_eq(a, BASE);
	ck_assert_int_eq(npt_frames_take(&fr, 4, 4, &b), 0);
	ck_assert_uint_eq(b, 0x14000);
	ck_assert_int_eq(npt_frames_take(&fr, 1, 1, &c), 0);
	ck_assert_uint_eq(c, 0x12000);
	ck_assert_uint_eq(fr.used, 6);
	ck_assert_int_eq(npt_frames_take(&fr, 3, 3, &pa), -1); /* align not a power of two */
	ck_assert_int_eq(npt_frames_take(&fr, 0, 1, &pa), -1);
	ck_assert_int_eq(npt_frames_take(&fr, 65, 1, &pa), -1);
	/* gives: only what was handed out, as it was handed out */
	give_refused(&fr, b, 1, "freed with another size than it was allocated");
	give_refused(&fr, b, 2, "freed with another size than it was allocated");
	give_refused(&fr, b + 0x1000, 3, "freed with another size than it was allocated");
	give_refused(&fr, b, 5, "freeing a frame that is not allocated"); /* 0x18000 */
	give_refused(&fr, 0x13000, 1, "freeing a frame that is not allocated");
	give_refused(&fr, BASE - 0x1000, 1, "freeing a frame outside the pool");
	give_refused(&fr, BASE + 64 * 0x1000, 1, "freeing a frame outside the pool");
	give_refused(&fr, BASE + 63 * 0x1000, 2, "freeing a frame outside the pool");
	give_refused(&fr, a + 8, 1, "freeing a frame outside the pool");
	give_refused(&fr, a, 0, "freeing a frame outside the pool");
	ck_assert_ptr_null(npt_frames_give(&fr, b, 4));
	ck_assert_ptr_null(npt_frames_give(&fr, a, 1));
	give_refused(&fr, a, 1, "freeing a frame that is not allocated");
	ck_assert_uint_eq(fr.used, 1);
	ck_assert_int_eq(npt_frames_take(&fr, 1, 1, &pa), 0); /* the lowest free again */
	ck_assert_uint_eq(pa, a);
	/* claims: free frames only, all or none; split blocks go back frame by frame */
	ck_assert_int_eq(npt_frames_claim(&fr, 0x13000, 2), 0);
	ck_assert_int_eq(npt_frames_claim(&fr, 0x14000, 2), -1); /* 0x14000 out, 0x15000 free */
	ck_assert_uint_eq(state[4], NPT_FRAME_FREE);
	ck_assert_int_eq(npt_frames_claim(&fr, BASE + 63 * 0x1000, 2), -1);
	ck_assert_int_eq(npt_frames_take(&fr, 8, 8, &b), 0);
	ck_assert_uint_eq(b, 0x18000);
	npt_frames_split(&fr, b, 8);
	give_refused(&fr, b, 8, "freed with another size than it was allocated");
	for (pa = b; pa < b + 8 * 0x1000; pa += 0x1000)
		ck_assert_ptr_null(npt_frames_give(&fr, pa, 1));
	ck_assert_ptr_null(npt_frames_give(&fr, 0x13000, 1));
	ck_assert_ptr_null(npt_frames_give(&fr, 0x14000, 1));
	ck_assert_ptr_null(npt_frames_give(&fr, a, 1));
	ck_assert_ptr_null(npt_frames_give(&fr, c, 1));
	ck_assert_uint_eq(fr.used, 0);
	for (pa = 0; pa < 64; pa++)
		ck_assert_uint_eq(state[pa], NPT_FRAME_FREE);
	/* the whole run, then nothing */
	ck_assert_int_eq(npt_frames_take(&fr, 64, 1, &pa), 0);
	ck_assert_int_eq(npt_frames_take(&fr, 1, 1, &pa), -1);
}
END_TEST

static Suite *user_suite(void)
{
	Suite *s = suite_create("user");
	TCase *tc = tcase_create("user");

	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, t_heap_formats, 0, (int)fmt_count());
	tcase_add_loop_test(tc, t_pool_formats, 0, (int)fmt_count());
	tcase_add_loop_test(tc, t_blocks, HEAP, POOL + 1);
	tcase_add_test(tc, t_pool_dry);
	tcase_add_test(tc, t_pool_refused);
	tcase_add_loop_test(tc, t_bad_free, 0, 6);
	tcase_add_loop_test(tc, t_threads, HEAP, POOL + 1);
	tcase_add_test(tc, t_frames_core);
	suite_add_tcase(s, tc);
	return s;
}

NPT_CHECK_MAIN(user_suite)
