/* tests/fs: the stdlib subset the engine tests use. */
#ifndef NPT_FS_STDLIB_H
#define NPT_FS_STDLIB_H
#include <stddef.h>

#define EXIT_SUCCESS 0
#define EXIT_FAILURE 1

void *malloc(size_t n);
void *calloc(size_t n, size_t size);
void *realloc(void *p, size_t n);
void free(void *p);
__attribute__((noreturn)) void abort(void);
__attribute__((noreturn)) void exit(int code);
char *getenv(const char *name);
unsigned long strtoul(const char *s, char **end, int base);
unsigned long long strtoull(const char *s, char **end, int base);
long strtol(const char *s, char **end, int base);
int atoi(const char *s);
void qsort(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *));
#endif
