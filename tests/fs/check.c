/*
 * tests/fs: the libcheck work-alike's runner (include/check.h). Every test
 * of every loop index runs in this one process, in the order added; the
 * first failure ends the program (fs_ck_fail). The summary line is
 * libcheck's, so tests/run.sh reports both kinds of build alike.
 */
#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TESTS 128
#define MAX_CASES 32

struct entry {
	const struct fs_test *t;
	int start, end;
};
struct fs_tcase {
	const char *name;
	struct entry e[MAX_TESTS];
	unsigned n;
};
struct fs_suite {
	const char *name;
	TCase *tc[MAX_CASES];
	unsigned n;
};
struct fs_srunner {
	Suite *s;
	unsigned long checks;
};

static struct fs_tcase cases[MAX_CASES];
static unsigned ncases;
static struct fs_suite the_suite;
static struct fs_srunner the_runner;
static const char *cur_case = "", *cur_test = "";
static int cur_i;

Suite *suite_create(const char *name)
{
	the_suite.name = name;
	return &the_suite;
}

TCase *tcase_create(const char *name)
{
	if (ncases == MAX_CASES)
		abort();
	cases[ncases].name = name;
	return &cases[ncases++];
}

void suite_add_tcase(Suite *s, TCase *tc)
{
	if (s->n == MAX_CASES)
		abort();
	s->tc[s->n++] = tc;
}

void fs_tcase_add(TCase *tc, const struct fs_test *t, int start, int end)
{
	if (tc->n == MAX_TESTS)
		abort();
	tc->e[tc->n++] = (struct entry){ t, start, end };
}

SRunner *srunner_create(Suite *s)
{
	the_runner.s = s;
	return &the_runner;
}

void fs_ck_fail(const char *file, int line, const char *expr, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stdout, "%s:%d:F:%s:%s:%d: Assertion '%s' failed%s%s\n", file, line, cur_case,
		cur_test, cur_i, expr, msg[0] ? ": " : "", msg);
	fprintf(stdout, "%lu checks run before the failure\n", the_runner.checks);
	exit(1);
}

void srunner_run_all(SRunner *r, enum print_output mode)
{
	const char *only = getenv("CK_RUN_CASE");
	unsigned c, k;
	int i;

	(void)mode;
	printf("Running suite(s): %s (tests/fs: one process, no libc)\n", r->s->name);
	for (c = 0; c < r->s->n; c++) {
		TCase *tc = r->s->tc[c];

		if (only && strcmp(only, tc->name))
			continue;
		cur_case = tc->name;
		for (k = 0; k < tc->n; k++) {
			cur_test = tc->e[k].t->name;
			for (i = tc->e[k].start; i < tc->e[k].end; i++) {
				cur_i = i;
				tc->e[k].t->fn(i);
				r->checks++;
			}
		}
	}
	printf("100%%: Checks: %lu, Failures: 0, Errors: 0\n", r->checks);
}

int srunner_ntests_failed(SRunner *r)
{
	(void)r;
	return 0; /* a failure never gets here */
}

void srunner_free(SRunner *r)
{
	(void)r;
}
