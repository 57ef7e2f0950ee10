/*
 * libFuzzer target: what `vmm boot` reads (vmm/boot_layout.c,
 * vmm/boot_image.c). Byte 0 picks the parser -- even: the layout file, odd:
 * the kernel image -- and the rest is the file. Either parser must end,
 * reading only the input (ASan), with 0 and a result that keeps every rule
 * boot.h states, or -1 and a message (the layout's naming a line); a second
 * parse of the same input must give the same.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../vmm/boot_layout.c"
#include "../../vmm/boot_image.c"

#define LIMIT (1ull << 48)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void bad(const char *what)
{
	fprintf(stderr, "npt boot fuzz: %s\n", what);
	abort();
}

static void check_layout(const char *text, size_t len)
{
	static struct boot_layout l, again;
	char err[BOOT_ERR_LEN] = "", err2[BOOT_ERR_LEN] = "";
	unsigned i, k, ram = 0;
	int rc = boot_layout_parse(text, len, LIMIT, &l, err);

	if (rc != boot_layout_parse(text, len, LIMIT, &again, err2) || strcmp(err, err2))
		bad("layout: a second parse differs");
	if (rc) {
		if (strncmp(err, "line ", 5))
			bad("layout: a refusal without its line");
		return;
	}
	if (memcmp(&l.r, &again.r, l.n * sizeof(l.r[0])))
		bad("layout: a second parse gives other ranges");
	for (i = 0; i < l.n; i++) {
		const struct boot_range *r = &l.r[i];

		if (!r->size || ((r->base | r->size) & 4095) || r->base >= LIMIT ||
		    r->size > LIMIT - r->base)
			bad("layout: a range breaks the rules");
		if (r->leaf && ((r->kind != BOOT_RAM && r->kind != BOOT_ROM) ||
				(r->leaf != 4096 && r->leaf != (2u << 20) && r->leaf != (1u << 30))))
			bad("layout: a leaf= breaks the rules");
		for (k = 0; k < i; k++)
			if (r->base < l.r[k].base + l.r[k].size && l.r[k].base < r->base + r->size)
				bad("layout: two ranges overlap");
		if (boot_layout_find(&l, r->base) != r || boot_layout_find(&l, r->base + r->size - 1) != r)
			bad("layout: boot_layout_find misses a range");
		ram += r->kind == BOOT_RAM;
	}
	if (!ram)
		bad("layout: accepted without ram");
}

static void check_image(const unsigned char *buf, size_t len)
{
	static struct boot_image im, again;
	char err[BOOT_ERR_LEN] = "", err2[BOOT_ERR_LEN] = "";
	unsigned i;
	int rc = boot_image_parse(buf, len, &im, err), in = 0;

	if (rc != boot_image_parse(buf, len, &again, err2) || strcmp(err, err2))
		bad("image: a second parse differs");
	if (rc) {
		if (!err[0])
			bad("image: a refusal without a message");
		return;
	}
	if (memcmp(&im, &again, sizeof(im)))
		bad("image: a second parse gives another image");
	if (!im.nseg || im.nseg > BOOT_MAX_SEGS)
		bad("image: no segment, or too many");
	for (i = 0; i < im.nseg; i++) {
		const struct boot_seg *s = &im.seg[i];

		if (!s->memsz || s->filesz > s->memsz || s->offset > len || s->filesz > len - s->offset ||
		    s->paddr + s->memsz < s->paddr)
			bad("image: a segment breaks the rules");
		if (i && im.seg[i - 1].paddr + im.seg[i - 1].memsz > s->paddr)
			bad("image: segments overlap or are out of order");
		in |= im.entry >= s->paddr && im.entry - s->paddr < s->memsz;
	}
	if (!in)
		bad("image: the entry is in no segment");
	if (im.format == BOOT_MULTIBOOT && (im.entry >> 32 || (im.mb_flags & 0xfffcu)))
		bad("image: a multiboot entry above 4 GiB, or a requirement not met");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char *copy;

	if (size < 1)
		return 0;
	/* a buffer of exactly the file's size: ASan sees a read past it */
	copy = malloc(size - 1 ? size - 1 : 1);
	if (!copy)
		return 0;
	memcpy(copy, data + 1, size - 1);
	if (data[0] & 1)
		check_image(copy, size - 1);
	else
		check_layout((const char *)copy, size - 1);
	free(copy);
	return 0;
}
