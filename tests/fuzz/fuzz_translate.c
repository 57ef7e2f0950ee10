/*
 * libFuzzer target: npt_translate_2d over stage-1 tables the input writes
 * into guest RAM (tests/fuzz/translate_fz.c says what an input is and what
 * each translation is checked for). A failed check prints it and aborts,
 * which libFuzzer reports as a crash and saves the input.
 */
#include <stdio.h>
#include <stdlib.h>

#include "translate_fz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char msg[512];

	if (fzt_run(data, size, msg, sizeof(msg))) {
		fprintf(stderr, "npt translate fuzz: %s\n", msg);
		abort();
	}
	return 0;
}
