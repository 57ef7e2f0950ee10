/* npt_translate_2d on stage-1 tables an input writes (translate_fz.c). */
#ifndef NPT_TESTS_FUZZ_TRANSLATE_FZ_H
#define NPT_TESTS_FUZZ_TRANSLATE_FZ_H

#include <stddef.h>
#include <stdint.h>

/* The next n bytes of [*p, end) as a little-endian number (0 past the end). */
uint64_t fz_get(const uint8_t **p, const uint8_t *end, unsigned n);

/* The operands of a 'w' or 'p' record (op already read), written into mem,
 * `pages` tables of 512 entries at physical base: page (1 byte), slot (2),
 * then for 'w' the raw entry (8), for 'p' an entry pointing at page
 * target % ntargets from base (1), its low attribute bits (2) and its top
 * byte (1); with riscv the page number goes in bits 53:10. */
void fz_entry_record(const uint8_t **p, const uint8_t *end, int op, uint64_t *mem,
		     unsigned pages, uint64_t base, unsigned ntargets, int riscv);

/* 0, or -1 with the failed check in msg. */
int fzt_run(const uint8_t *data, size_t size, char *msg, size_t len);

#endif
