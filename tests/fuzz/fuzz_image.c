/*
 * libFuzzer target: the inspector's image walker (inspect/image.c) over an
 * image the input writes. Byte 0 picks the format, byte 1 the root page;
 * then records as in translate_fz.c: 'w' page slot(2) value(8) writes a raw
 * entry, 'p' page slot(2) target-page low-bits(2) high-byte writes a
 * pointer to a page of the image (or just past it). The image is 8 pages
 * at physical 0x100000. image_dump must end -- 0 with well-formed lines,
 * or -1 with a message -- within its budget, reading only the image
 * (ASan), and npt_translate_raw of a few addresses must end too.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../inspect/image.c"
#include "translate_fz.h"

#define PAGES 8u
#define BASE 0x100000ull

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int check_line(void *arg, const char *text)
{
	unsigned long long a, b, pa;

	++*(unsigned long *)arg;
	if (sscanf(text, "%16llx-%16llx %*s -> %16llx", &a, &b, &pa) != 3 || b < a) {
		fprintf(stderr, "npt image fuzz: a malformed line: %s\n", text);
		abort();
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint64_t mem[PAGES * 512];
	const char *const *names = npt_format_names();
	const uint8_t *p = data + 2, *end = data + size;
	const struct npt_image im = { (const unsigned char *)mem, sizeof(mem), BASE };
	const struct npt_format *f;
	struct npt_mm mm;
	unsigned nformats = 0, k;
	unsigned long lines = 0;
	char err[256];
	int rc;

	if (size < 2)
		return 0;
	while (names[nformats])
		nformats++;
	f = npt_format_by_name(names[data[0] % nformats]);
	memset(mem, 0, sizeof(mem));
	while (p < end) {
		const uint8_t op = *p++;

		fz_entry_record(&p, end, op, mem, PAGES, BASE, PAGES + 1,
				!strncmp(names[data[0] % nformats], "sv", 2));
	}
	err[0] = 0;
	rc = image_dump(&im, f, BASE + (data[1] % (PAGES + 1)) * 4096, 1u << 16, check_line, &lines,
			err, sizeof(err));
	if ((rc && (rc != -1 || !err[0])) || lines > (1u << 16)) {
		fprintf(stderr, "npt image fuzz: rc %d, %lu lines, '%s'\n", rc, lines, err);
		abort();
	}
	image_mm(&im, &mm);
	for (k = 0; k < 4; k++) {
		struct npt_2d o;
		uint64_t va = (uint64_t)data[1] << (12 + 9 * k) | (uint64_t)k << 12;

		rc = npt_translate_raw(f, BASE + (data[1] % PAGES) * 4096, NULL, 0, &mm, va,
				       NPT_R | (k & 1 ? NPT_U : 0), &o);
		if (rc != o.fault || o.nrefs > 5) {
			fprintf(stderr, "npt image fuzz: translate %d, %u refs\n", rc, o.nrefs);
			abort();
		}
	}
	return 0;
}
