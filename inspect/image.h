/*
 * Page tables in a raw memory image (as QEMU's pmemsave writes one): the
 * walker behind `npt dump`, for tables npt did not build and does not
 * trust. Every read is checked against the image, a table met again on
 * its own path is a loop, and a walk that would visit more than a budget
 * of entries (tables shared over and over) stops: each ends with a
 * message, never a read outside the image or a hang.
 */
#ifndef NPT_INSPECT_IMAGE_H
#define NPT_INSPECT_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "npt.h"

struct npt_image {
	const unsigned char *mem;
	uint64_t size;  /* bytes */
	uint64_t base;  /* physical address of mem[0] */
};

/* A pointer to the 8 bytes at physical pa, or NULL outside the image. */
const uint64_t *image_at(const struct npt_image *im, uint64_t pa);

/* An allocator whose phys_to_virt reads the image (NULL outside it), for
 * npt_translate_raw. */
void image_mm(const struct npt_image *im, struct npt_mm *mm);

#define IMAGE_BUDGET (1u << 24) /* entries a dump may visit */

/* The leaves of the table of format f whose root is at physical root, in
 * address order, merged into runs as npt_walk's NPT_WALK_RUNS merges them,
 * each passed to line as npt_dump_line writes it. budget: entries the walk
 * may visit (IMAGE_BUDGET). Returns 0, line's non-zero return, or -1 with
 * the reason in err. */
int image_dump(const struct npt_image *im, const struct npt_format *f, uint64_t root,
	       unsigned long budget, int (*line)(void *arg, const char *text), void *arg,
	       char *err, size_t errlen);

#endif
