/* tests/fs: anonymous mappings through the raw system calls. */
#ifndef NPT_FS_SYS_MMAN_H
#define NPT_FS_SYS_MMAN_H
#include <stddef.h>

#define PROT_READ 0x1
#define PROT_WRITE 0x2
#define MAP_PRIVATE 0x02
#define MAP_ANONYMOUS 0x20
#define MAP_NORESERVE 0x4000
#define MAP_FAILED ((void *)-1)

void *mmap(void *addr, size_t len, int prot, int flags, int fd, long off);
int munmap(void *addr, size_t len);
#endif
