/* npt_translate_2d on stage-1 tables an input writes (translate_fz.c). */
#ifndef NPT_TESTS_FUZZ_TRANSLATE_FZ_H
#define NPT_TESTS_FUZZ_TRANSLATE_FZ_H

#include <stddef.h>
#include <stdint.h>

/* 0, or -1 with the failed check in msg. */
int fzt_run(const uint8_t *data, size_t size, char *msg, size_t len);

#endif
