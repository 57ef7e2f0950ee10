/*
 * What `vmm boot` reads before it creates a VM: the guest-physical layout
 * file (boot_layout.c) and the kernel image (boot_image.c). Both parsers
 * are plain C over a buffer -- no KVM, no I/O -- so the tests and a
 * libFuzzer target (tests/fuzz/fuzz_boot.c) run them anywhere. Every
 * refusal is a return of -1 with one line in err: the layout's names its
 * line number ("line 3: ..."), the image's the header field at fault.
 *
 * The layout file: one range of guest-physical memory per line,
 *
 *     # comment (also after a range)
 *     ram   0x0         2M
 *     ram   0x200000    62M    leaf=2M
 *     rom   0xf0000     64K
 *     mmio  0xfee00000  4K
 *     hole  0x4000000   16M
 *
 * KIND BASE SIZE [leaf=4K|2M|1G]. BASE and SIZE are decimal or 0x hex and
 * may end in K, M or G (powers of 1024); both are multiples of 4 KiB,
 * SIZE is not 0 and the range ends at or below the limit the caller gives
 * (the stage-2 format's input width). Kinds:
 *   ram   guest RAM, mapped read-write-execute;
 *   rom   guest RAM mapped read-only (a write exits to the VMM);
 *   mmio  an MMIO window: never mapped, every access exits;
 *   hole  never mapped either, and an access is the guest's error.
 * leaf= caps the stage-2 leaf size of a ram or rom range (default: the
 * largest the format and the range's alignment allow). Ranges may not
 * overlap; there is at least one ram range; at most BOOT_MAX_RANGES.
 *
 * The image: a multiboot v1 kernel (Multiboot Specification 0.6.96 §3.1:
 * the header in the first 8 KiB, 4-byte aligned; with flags bit 16 its
 * address fields place it, else its ELF32 or ELF64 program headers do),
 * entered in 32-bit protected mode; or else an ELF64 x86-64 executable
 * (System V gABI, "Program Header"), its PT_LOAD segments loaded at their
 * physical addresses and entered in long mode on an identity map, so every
 * segment's virtual address must equal its physical one.
 */
#ifndef NPT_VMM_BOOT_H
#define NPT_VMM_BOOT_H

#include <stddef.h>
#include <stdint.h>

#define BOOT_MAX_RANGES 64
#define BOOT_MAX_SEGS 16
#define BOOT_ERR_LEN 160

enum boot_kind { BOOT_RAM = 1, BOOT_ROM, BOOT_MMIO, BOOT_HOLE };

struct boot_range {
	enum boot_kind kind;
	uint64_t base, size;
	uint64_t leaf; /* ram, rom: the largest leaf allowed (0: no cap) */
	unsigned line;
};

struct boot_layout {
	unsigned n;
	struct boot_range r[BOOT_MAX_RANGES];
};

/* Parses text[0, len) into *out; limit: the first guest-physical address a
 * range may not reach. 0, or -1 with the reason in err. */
int boot_layout_parse(const char *text, size_t len, uint64_t limit, struct boot_layout *out,
		      char err[BOOT_ERR_LEN]);
/* The range holding gpa, or NULL. */
const struct boot_range *boot_layout_find(const struct boot_layout *l, uint64_t gpa);

enum boot_format { BOOT_ELF64 = 1, BOOT_MULTIBOOT };

struct boot_seg {
	uint64_t paddr;  /* where it goes in guest-physical memory */
	uint64_t filesz; /* bytes from the file, at offset */
	uint64_t memsz;  /* bytes in memory: the rest (memsz - filesz) zeroed */
	uint64_t offset;
};

struct boot_image {
	enum boot_format format;
	uint64_t entry;    /* guest-physical: the first instruction */
	uint32_t mb_flags; /* multiboot: the header's flags */
	unsigned nseg;
	struct boot_seg seg[BOOT_MAX_SEGS]; /* by paddr, none overlapping */
};

/* Parses the kernel file buf[0, len) into *out. 0, or -1 with err. */
int boot_image_parse(const unsigned char *buf, size_t len, struct boot_image *out,
		     char err[BOOT_ERR_LEN]);
/* Every byte of every segment of im in a ram or rom range of l, the entry
 * inside a segment. 0, or -1 with err. */
int boot_image_fits(const struct boot_image *im, const struct boot_layout *l,
		    char err[BOOT_ERR_LEN]);

#endif
