/* tests/fs: the stdio subset the engine tests use (no buffering, no files). */
#ifndef NPT_FS_STDIO_H
#define NPT_FS_STDIO_H
#include <stdarg.h>
#include <stddef.h>

typedef struct fs_file FILE;
extern FILE *stdout, *stderr;

int printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int fprintf(FILE *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int vfprintf(FILE *f, const char *fmt, va_list ap);
int snprintf(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int vsnprintf(char *buf, size_t len, const char *fmt, va_list ap);
int puts(const char *s);
int fputs(const char *s, FILE *f);
int fflush(FILE *f);
#endif
