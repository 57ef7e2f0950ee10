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

#include "npt.h"

#define BOOT_MAX_RANGES 64
#define BOOT_MAX_SEGS 16
#define BOOT_ERR_LEN 160

/* err = the formatted message; returns -1 (boot_layout.c). */
int boot_errf(char err[BOOT_ERR_LEN], const char *fmt, ...) __attribute__((format(printf, 2, 3)));

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

/* ---- boot_plan.c: guest memory, stage 2, the load and the entry state ---- */

/* Guest memory of a layout: one host block holding its ram and rom ranges
 * one after the other in layout order; off[i] is range i's offset there
 * (the output address stage 2 maps it to). */
struct boot_mem {
	const struct boot_layout *l;
	unsigned char *host;
	uint64_t size;
	uint64_t off[BOOT_MAX_RANGES];
};

/* Bytes of host memory a layout's ram and rom ranges need. */
uint64_t boot_mem_bytes(const struct boot_layout *l);
/* m over host, which holds boot_mem_bytes(l) bytes. */
void boot_mem_init(struct boot_mem *m, const struct boot_layout *l, void *host);
/* The host bytes of [gpa, gpa + len) when it lies in one ram or rom range,
 * else NULL. */
unsigned char *boot_mem_host(const struct boot_mem *m, uint64_t gpa, uint64_t len);
/* Maps every ram range read-write-execute and every rom range
 * read-execute into s2 at its offset, in leaves no larger than the range's
 * leaf cap; mmio windows and holes stay unmapped. 0, or -1 with err. */
int boot_stage2(const struct boot_mem *m, struct npt_table *s2, char err[BOOT_ERR_LEN]);
/* Copies each segment's file bytes in and zeroes the rest of it. */
int boot_load(const struct boot_mem *m, const struct boot_image *im, const unsigned char *file,
	      size_t len, char err[BOOT_ERR_LEN]);

/* The boot area: BOOT_AREA bytes of ram below 4 GiB that no segment
 * touches, the highest such window aligned to its size. Its pages: the
 * GDT, the multiboot information (with its memory map), a stack of
 * BOOT_STACK bytes, then the frames of the long-mode identity map. */
#define BOOT_AREA (512u * 1024u)
#define BOOT_STACK (16u * 1024u)
#define BOOT_SEL_CODE64 0x08u
#define BOOT_SEL_DATA 0x10u
#define BOOT_SEL_CODE32 0x18u
#define BOOT_MB_EAX 0x2BADB002u /* Multiboot Specification 0.6.96 §3.2 */

/* The vCPU state a guest starts in (the VMM writes it with KVM_SET_SREGS
 * and KVM_SET_REGS). Segment registers hold the GDT's descriptors, whose
 * words the VMM unpacks into KVM's segment form. */
struct boot_entry {
	int long_mode;
	uint64_t rip, rsp, rax, rbx, rflags;
	uint64_t cr0, cr3, cr4, efer;
	uint64_t gdt, area;         /* guest-physical: GDT (the area's first page), the area */
	uint16_t gdt_limit;
	uint16_t cs, ds;            /* selectors; ds also for es, fs, gs, ss */
	uint64_t cs_desc, ds_desc;  /* their descriptors as the GDT holds them */
	uint64_t mbi;               /* multiboot: the information structure, else 0 */
	unsigned s1_frames;         /* long mode: frames of the identity map */
};

/* The area, its contents and the entry state for im loaded by the layout
 * of m (boot_load first: the area is written after it). Long mode (ELF64):
 * an identity map of every ram (RWX), rom (RX) and mmio range (RW, device
 * memory) in 4 KiB and 2 MiB leaves, built by npt in the x86_64 format,
 * CR0.PG|WP|NE|PE, CR4.PAE|OSFXSR|OSXMMEXCPT, EFER.LME|LMA|NXE, a 64-bit
 * code segment, rsp the top of the stack, rdi 0. Multiboot: 32-bit flat
 * segments, paging off, eax BOOT_MB_EAX, ebx the information (memory map
 * from the layout, mem_lower / mem_upper). 0, or -1 with err. */
int boot_entry_build(const struct boot_mem *m, const struct boot_image *im, struct boot_entry *e,
		     char err[BOOT_ERR_LEN]);

#endif
