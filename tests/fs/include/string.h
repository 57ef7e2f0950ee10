/* tests/fs: the string subset the engine tests use (memset and memcpy also
 * serve libnpt, which needs nothing else). */
#ifndef NPT_FS_STRING_H
#define NPT_FS_STRING_H
#include <stddef.h>

void *memset(void *d, int c, size_t n);
void *memcpy(void *restrict d, const void *restrict s, size_t n);
void *memmove(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
void *memchr(const void *s, int c, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);
char *strchr(const char *s, int c);
char *strstr(const char *h, const char *n);
char *strerror(int err);
#endif
