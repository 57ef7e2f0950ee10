/*
 * The fuzz driver (tests/fuzz/driver.h) as a deterministic libcheck test: a
 * fixed list of seeds, each expanded to a byte string by splitmix64 and run
 * as one differential sequence against the reference model and the
 * invariant checker. Per format (loop test), REPLAY_SEEDS seeds of
 * REPLAY_OPS operations: 16 formats x 40 x 1600 = 1,024,000 operations, plus
 * one run per format with every allocation failing at random 5% of the time
 * (the "thousands of random operations" of the allocation-failure brief).
 *
 * Under ASan (or with NPT_FUZZ_SCALE=N set) the operation count is divided
 * by 4 (by N): the same seeds, shorter sequences (the 5% runs keep at least
 * 1500 operations). scripts/valgrind.sh sets N = 40.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "npt.h"
#include "lib/check_main.h"
#include "fuzz/driver.c"

#define REPLAY_SEEDS 40
#define REPLAY_OPS 1600

#if defined(__SANITIZE_ADDRESS__)
#define DEFAULT_SCALE 4
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define DEFAULT_SCALE 4
#endif
#endif
#ifndef DEFAULT_SCALE
#define DEFAULT_SCALE 1
#endif

static unsigned scale(void)
{
	const char *s = getenv("NPT_FUZZ_SCALE");
	long v = s ? strtol(s, NULL, 10) : DEFAULT_SCALE;

	return v < 1 ? 1 : (unsigned)v;
}

static unsigned nformats(void)
{
	const char *const *n = npt_format_names();
	unsigned k = 0;

	while (n[k])
		k++;
	return k;
}

/* One seed: the first byte picks the format. */
static void run_seed(unsigned fmt, uint64_t seed, unsigned ops, unsigned fail_percent,
		     struct fz_stats *st)
{
	size_t len = (size_t)ops * 48 + 64;
	uint8_t *buf = malloc(len);
	struct fz_opts o = { .check_every = 64, .snap_every = 16, .max_ops = ops,
			     .fail_percent = fail_percent };
	char msg[1024];

	ck_assert_ptr_nonnull(buf);
	fz_bytes(seed, buf, len);
	buf[0] = (uint8_t)fmt;
	buf[2] &= ~7u; /* the random 5% mode only where asked */
	ck_assert_msg(fz_run(buf, len, &o, st, msg, sizeof(msg)) == 0,
		      "seed 0x%llx%s: %s", (unsigned long long)seed,
		      fail_percent ? " (5% allocation failures)" : "", msg);
	free(buf);
}

START_TEST(t_replay)
{
	struct fz_stats st;
	unsigned s, ops = REPLAY_OPS / scale();

	memset(&st, 0, sizeof(st));
	for (s = 0; s < REPLAY_SEEDS; s++)
		run_seed((unsigned)_i, 0x6e707400ull * (uint64_t)(_i + 1) + s, ops, 0, &st);
	printf("[%s] %lu operations (%lu ok, %lu refused, %lu NOMEM), %lu full checks; "
	       "map %lu map_region %lu unmap %lu unmap_region %lu protect %lu protect_region %lu "
	       "remap %lu copy_from %lu query %lu walk %lu renew %lu arm %lu\n",
	       npt_format_names()[_i], st.ops, st.ok, st.refused, st.nomem, st.full_checks,
	       st.by_op[FZ_MAP], st.by_op[FZ_MAP_REGION], st.by_op[FZ_UNMAP],
	       st.by_op[FZ_UNMAP_REGION], st.by_op[FZ_PROTECT], st.by_op[FZ_PROTECT_REGION],
	       st.by_op[FZ_REMAP], st.by_op[FZ_COPY_FROM], st.by_op[FZ_QUERY], st.by_op[FZ_WALK],
	       st.by_op[FZ_RENEW], st.by_op[FZ_ARM_FAIL]);
	ck_assert_uint_ge(st.ops, (unsigned long)REPLAY_SEEDS * ops);
}
END_TEST

/* Allocation failing at random 5% of the time; the model is checked after
 * every call (a NOMEM must leave everything as it was). */
START_TEST(t_replay_nomem)
{
	struct fz_stats st;
	unsigned ops = 4000 / scale() < 1500 ? 1500 : 4000 / scale();

	memset(&st, 0, sizeof(st));
	run_seed((unsigned)_i, 0x6e6f6d656dull + (uint64_t)_i, ops, 5, &st);
	printf("[%s] 5%% failures: %lu operations, %lu NOMEM\n", npt_format_names()[_i], st.ops,
	       st.nomem);
	ck_assert_msg(st.nomem > 0, "[%s] no allocation failed", npt_format_names()[_i]);
}
END_TEST

static Suite *replay_suite(void)
{
	Suite *s = suite_create("fuzz_replay");
	TCase *tc = tcase_create("replay");

	tcase_set_timeout(tc, 300);
	tcase_add_loop_test(tc, t_replay, 0, (int)nformats());
	tcase_add_loop_test(tc, t_replay_nomem, 0, (int)nformats());
	suite_add_tcase(s, tc);
	return s;
}

NPT_CHECK_MAIN(replay_suite)
