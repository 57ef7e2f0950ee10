/* tests/fs: the PRI macros the tests use (LP64 on every target). */
#ifndef NPT_FS_INTTYPES_H
#define NPT_FS_INTTYPES_H
#include <stdint.h>
#define PRIu64 "lu"
#define PRIx64 "lx"
#define PRId64 "ld"
#define PRIX64 "lX"
#endif
