/*
 * tests/fs: a work-alike of the part of libcheck the engine tests use, for
 * builds with no libc. Tests run one after another in one process (no
 * fork); the first failed assertion prints libcheck's "file:line:F:..."
 * line and ends the program with status 1. CK_RUN_CASE=NAME runs one test.
 */
#ifndef NPT_FS_CHECK_H
#define NPT_FS_CHECK_H
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct fs_test {
	const char *name;
	void (*fn)(int _i);
};
typedef struct fs_tcase TCase;
typedef struct fs_suite Suite;
typedef struct fs_srunner SRunner;
enum print_output { CK_SILENT, CK_MINIMAL, CK_NORMAL, CK_VERBOSE };

Suite *suite_create(const char *name);
TCase *tcase_create(const char *name);
void suite_add_tcase(Suite *s, TCase *tc);
void fs_tcase_add(TCase *tc, const struct fs_test *t, int start, int end);
#define tcase_add_test(tc, t) fs_tcase_add((tc), (t), 0, 1)
#define tcase_add_loop_test(tc, t, s, e) fs_tcase_add((tc), (t), (s), (e))
/* tests/run.sh's timeout covers the whole program (and no FP here) */
#define tcase_set_timeout(tc, seconds) ((void)(tc))
SRunner *srunner_create(Suite *s);
void srunner_run_all(SRunner *r, enum print_output mode);
int srunner_ntests_failed(SRunner *r);
void srunner_free(SRunner *r);

#define START_TEST(name)                                                          \
	static void name##_fn(int _i);                                             \
	static const struct fs_test name##_t = { #name, name##_fn };               \
	static const struct fs_test *const name = &name##_t;                       \
	static void name##_fn(int _i __attribute__((unused)))
#define END_TEST

__attribute__((noreturn, format(printf, 4, 5))) void fs_ck_fail(const char *file, int line,
								  const char *expr,
								  const char *fmt, ...);

#define ck_assert_msg(expr, ...)                                                  \
	do {                                                                       \
		if (!(expr))                                                       \
			fs_ck_fail(__FILE__, __LINE__, #expr, __VA_ARGS__);        \
	} while (0)
#define ck_assert(expr) ck_assert_msg(expr, "%s", "")
#define ck_abort_msg(...) fs_ck_fail(__FILE__, __LINE__, "abort", __VA_ARGS__)

#define FS_CK_CMP(T, F, X, OP, Y)                                                 \
	do {                                                                       \
		T fs_x_ = (T)(X);                                                  \
		T fs_y_ = (T)(Y);                                                  \
		ck_assert_msg(fs_x_ OP fs_y_, "%s == " F ", %s == " F, #X, fs_x_, #Y, fs_y_); \
	} while (0)
#define ck_assert_int_eq(X, Y) FS_CK_CMP(long long, "%lld", X, ==, Y)
#define ck_assert_int_ne(X, Y) FS_CK_CMP(long long, "%lld", X, !=, Y)
#define ck_assert_int_lt(X, Y) FS_CK_CMP(long long, "%lld", X, <, Y)
#define ck_assert_int_le(X, Y) FS_CK_CMP(long long, "%lld", X, <=, Y)
#define ck_assert_int_gt(X, Y) FS_CK_CMP(long long, "%lld", X, >, Y)
#define ck_assert_int_ge(X, Y) FS_CK_CMP(long long, "%lld", X, >=, Y)
#define ck_assert_uint_eq(X, Y) FS_CK_CMP(unsigned long long, "%llu", X, ==, Y)
#define ck_assert_uint_ne(X, Y) FS_CK_CMP(unsigned long long, "%llu", X, !=, Y)
#define ck_assert_uint_ge(X, Y) FS_CK_CMP(unsigned long long, "%llu", X, >=, Y)
#define ck_assert_uint_le(X, Y) FS_CK_CMP(unsigned long long, "%llu", X, <=, Y)
#define ck_assert_ptr_eq(X, Y) FS_CK_CMP(const void *, "%p", X, ==, Y)
#define ck_assert_ptr_ne(X, Y) FS_CK_CMP(const void *, "%p", X, !=, Y)
#define ck_assert_ptr_null(X) ck_assert_msg((X) == NULL, "%s is not NULL", #X)
#define ck_assert_ptr_nonnull(X) ck_assert_msg((X) != NULL, "%s is NULL", #X)
#define ck_assert_str_eq(X, Y)                                                    \
	do {                                                                       \
		const char *fs_a_ = (X), *fs_b_ = (Y);                             \
		ck_assert_msg(!strcmp(fs_a_, fs_b_), "%s == \"%s\", %s == \"%s\"", #X, fs_a_, #Y, \
			      fs_b_);                                              \
	} while (0)
#endif
