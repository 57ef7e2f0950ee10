/*
 * libFuzzer target: each input is one run of the differential driver
 * (tests/fuzz/driver.h) — a format, up to three tables and a sequence of
 * operations; after each, the return code, the pool (a raw snapshot around
 * every 4th call) and the leaves around the call are checked against the
 * reference model; every 8 operations and at the end, the whole of every
 * table and the invariant checker. A divergence prints the driver's message (format,
 * operation, expected, got) and aborts, which libFuzzer reports as a crash
 * and saves the input. `ninja fuzz` / scripts/fuzz.sh SECONDS run it;
 * FZ_VERBOSE=1 prints every operation (to replay one saved input:
 * FZ_VERBOSE=1 build-fuzz/fuzz_npt crash-...).
 */
#include <stdio.h>
#include <stdlib.h>

#include "driver.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int verbose = -1;
	struct fz_opts o = { .check_every = 8, .snap_every = 4, .max_ops = 2000 };
	char msg[1024];

	if (verbose < 0)
		verbose = getenv("FZ_VERBOSE") != NULL;
	o.verbose = verbose;
	if (fz_run(data, size, &o, NULL, msg, sizeof(msg))) {
		fprintf(stderr, "npt fuzz divergence: %s\n", msg);
		abort();
	}
	return 0;
}
