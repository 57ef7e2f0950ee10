/*
 * NPT_CHECK_MAIN(suite_fn): the main() of a libcheck test program.
 *
 *   static Suite *map_suite(void) { ... }
 *   NPT_CHECK_MAIN(map_suite)
 *
 * Runs the Suite that suite_fn() returns with CK_NORMAL output and exits 0
 * only when no test failed. The usual libcheck variables apply: CK_FORK=no
 * to debug in one process, CK_RUN_CASE / CK_RUN_SUITE to run one part.
 */
#ifndef NPT_TESTS_CHECK_MAIN_H
#define NPT_TESTS_CHECK_MAIN_H

#include <check.h>
#include <stdlib.h>

#define NPT_CHECK_MAIN(suite_fn)                                   \
	int main(void)                                             \
	{                                                          \
		SRunner *npt_sr_ = srunner_create(suite_fn());     \
		srunner_run_all(npt_sr_, CK_NORMAL);               \
		int npt_failed_ = srunner_ntests_failed(npt_sr_);  \
		srunner_free(npt_sr_);                             \
		return npt_failed_ == 0 ? EXIT_SUCCESS : EXIT_FAILURE; \
	}

#endif
