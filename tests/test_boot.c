/*
 * What `vmm boot` reads (vmm/boot.h): the layout file and the kernel image.
 *
 *  - t_layout: a file with every kind, comments, blank lines, CRLF, hex,
 *    decimal and suffixed numbers parses to exactly its ranges;
 *    boot_layout_find answers inside, at the edges and between them.
 *  - t_layout_refused: one malformed file per rule, each refused with its
 *    line number and the reason.
 *  - t_elf64: an ELF64 built here (two PT_LOAD, one with bss, a PT_NOTE
 *    between, given out of address order) parses to its segments sorted,
 *    the entry, and fits a layout; then one mutation per check is refused.
 *  - t_multiboot: a multiboot image with the address fields (header not at
 *    offset 0, load to end of file, bss), one with them and ELF32 program
 *    headers instead; and the refusals of the header's checks.
 *  - t_mboot_guest: guest/x86/mboot.bin, the image QEMU itself boots in
 *    test_qemu_x86, parses as that test's QEMU loads it; hello64.elf, the
 *    long-mode hello-world guest, as the ELF64 it is (where the build tree
 *    is named by $NPT_BUILDDIR).
 *  - t_plan_elf64: guest memory for a layout of every kind, stage 2 built
 *    from it (each range as npt_query tells), the segments loaded (file
 *    bytes, then zeroes), and the long-mode entry: the boot area clear of
 *    the kernel, the GDT's descriptors, and the identity map walked by
 *    npt_translate_raw through the stage-2 table as the CPU would (every
 *    stage-1 entry read through stage 2) -- every kind of range with its
 *    rights, the entry and the stack reachable.
 *  - t_plan_multiboot: the multiboot entry state and information structure
 *    (memory map in address order, mem_lower, mem_upper, loader name);
 *    and a layout with no room for the boot area refused.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "lib/check_main.h"
#include "../vmm/boot_layout.c"
#include "../vmm/boot_image.c"
#include "../vmm/boot_plan.c"
#include "npt_user.h"

#define LIMIT (1ull << 48)
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* ---- the layout ------------------------------------------------------------ */

START_TEST(t_layout)
{
	static const char text[] =
		"# a layout\n"
		"\n"
		"ram   0x0         2M            # low RAM\r\n"
		"ram   0x200000    62M    leaf=2M\n"
		"  rom 983040 64K\n" /* 0xf0000, below: a range need not come in order */
		"mmio  0xFEE00000  4K\n"
		"hole  0x4000000   16M\n"
		"ram   0x100000000 1G leaf=1G";
	struct boot_layout l;
	char err[BOOT_ERR_LEN] = "";

	/* rom 0xf0000+64K lies inside the first ram range: refused; drop it */
	ck_assert_int_eq(boot_layout_parse(text, sizeof(text) - 1, LIMIT, &l, err), -1);
	ck_assert_str_eq(err, "line 5: overlaps the range of line 3");
	{
		static const char fixed[] =
			"# a layout\n"
			"\n"
			"ram   0x0         0xf0000       # low RAM\r\n"
			"ram   0x200000    62M    leaf=2M\n"
			"  rom 983040 64K\n"
			"mmio  0xFEE00000  4K\n"
			"hole  0x4000000   16M\n"
			"ram   0x100000000 1G leaf=1G";
		static const struct boot_range want[] = {
			{ BOOT_RAM, 0, 0xf0000, 0, 3 },
			{ BOOT_RAM, 0x200000, 62ull << 20, 2ull << 20, 4 },
			{ BOOT_ROM, 0xf0000, 64 << 10, 0, 5 },
			{ BOOT_MMIO, 0xfee00000, 4096, 0, 6 },
			{ BOOT_HOLE, 0x4000000, 16 << 20, 0, 7 },
			{ BOOT_RAM, 1ull << 32, 1ull << 30, 1ull << 30, 8 },
		};
		unsigned i;

		ck_assert_msg(!boot_layout_parse(fixed, sizeof(fixed) - 1, LIMIT, &l, err), "%s", err);
		ck_assert_uint_eq(l.n, 6);
		for (i = 0; i < 6; i++) {
			ck_assert_int_eq(l.r[i].kind, want[i].kind);
			ck_assert_uint_eq(l.r[i].base, want[i].base);
			ck_assert_uint_eq(l.r[i].size, want[i].size);
			ck_assert_uint_eq(l.r[i].leaf, want[i].leaf);
			ck_assert_uint_eq(l.r[i].line, want[i].line);
		}
		ck_assert_ptr_eq(boot_layout_find(&l, 0), &l.r[0]);
		ck_assert_ptr_eq(boot_layout_find(&l, 0xeffff), &l.r[0]);
		ck_assert_ptr_eq(boot_layout_find(&l, 0xf0000), &l.r[2]);
		ck_assert_ptr_eq(boot_layout_find(&l, 0xfffff), &l.r[2]);
		ck_assert_ptr_null(boot_layout_find(&l, 0x100000));
		ck_assert_ptr_eq(boot_layout_find(&l, 0x3ffffff), &l.r[1]);
		ck_assert_ptr_eq(boot_layout_find(&l, 0x4000000), &l.r[4]);
		ck_assert_ptr_eq(boot_layout_find(&l, 0xfee00fff), &l.r[3]);
		ck_assert_ptr_null(boot_layout_find(&l, 0xfee01000));
		ck_assert_ptr_eq(boot_layout_find(&l, (1ull << 32) + (1ull << 30) - 1), &l.r[5]);
		ck_assert_ptr_null(boot_layout_find(&l, (1ull << 32) + (1ull << 30)));
	}
}
END_TEST

static const struct {
	const char *text, *err;
} refused[] = {
	{ "ram 0 2M\nbogus 0 4K\n", "line 2: unknown kind 'bogus' (ram, rom, mmio or hole)" },
	{ "ram\n", "line 1: no base address" },
	{ "ram 0x1000\n", "line 1: no size" },
	{ "ram 0x1000 4Q\n", "line 1: size '4Q' is not a number (K, M, G allowed)" },
	{ "ram 0x1g000 4K\n", "line 1: base '0x1g000' is not a number (K, M, G allowed)" },
	{ "ram 4X 4K\n", "line 1: base '4X' is not a number (K, M, G allowed)" },
	{ "ram 0x10000000000000000 4K\n", "line 1: base '0x10000000000000000' is not a number (K, M, G allowed)" },
	{ "ram 0 17179869184G\n", "line 1: size '17179869184G' is not a number (K, M, G allowed)" },
	{ "ram 0x10 4K\n", "line 1: base 0x10 and size 0x1000 must be multiples of 4K" },
	{ "ram 0 4097\n", "line 1: base 0x0 and size 0x1001 must be multiples of 4K" },
	{ "ram 0 0\n", "line 1: size is 0" },
	{ "ram 0xfffffffff000 8K\n", "line 1: range 0xfffffffff000+0x2000 ends above the limit 0x1000000000000" },
	{ "ram 0xfffffffffffff000 4K\n", "line 1: range 0xfffffffffffff000+0x1000 ends above the limit 0x1000000000000" },
	{ "ram 0 2M\n# fine\nrom 1M 2M\n", "line 3: overlaps the range of line 1" },
	{ "ram 0 2M\nmmio 0 4K leaf=2M\n", "line 2: leaf= applies to ram and rom ranges only" },
	{ "ram 0 4K leaf=8K\n", "line 1: leaf must be 4K, 2M or 1G" },
	{ "ram 0 4K leaf=\n", "line 1: leaf must be 4K, 2M or 1G" },
	{ "ram 0 4K extra\n", "line 1: unexpected 'extra' (only leaf=4K, 2M or 1G may follow)" },
	{ "ram 0 4K leaf=4K more\n", "line 1: unexpected 'more' after leaf=" },
	{ "mmio 0 4K\nhole 4K 4K\n", "line 2: no ram range in the file" },
	{ "", "line 0: no ram range in the file" },
	{ "ram 0 4K\nram 8K\0 4K\n", "line 2: a NUL byte: not a text file" },
};

START_TEST(t_layout_refused)
{
	const char *text = refused[_i].text;
	size_t len = strlen(text);
	struct boot_layout l;
	char err[BOOT_ERR_LEN] = "";

	if (strstr(refused[_i].err, "NUL"))
		len = sizeof("ram 0 4K\nram 8K\0 4K\n") - 1;
	ck_assert_int_eq(boot_layout_parse(text, len, LIMIT, &l, err), -1);
	ck_assert_str_eq(err, refused[_i].err);
}
END_TEST

START_TEST(t_layout_many)
{
	static char text[80 * 70];
	struct boot_layout l;
	char err[BOOT_ERR_LEN] = "";
	size_t len = 0;
	unsigned i;

	for (i = 0; i < BOOT_MAX_RANGES; i++)
		len += (size_t)snprintf(text + len, sizeof(text) - len, "ram 0x%x 4K\n", i * 4096);
	ck_assert_msg(!boot_layout_parse(text, len, LIMIT, &l, err), "%s", err);
	ck_assert_uint_eq(l.n, BOOT_MAX_RANGES);
	len += (size_t)snprintf(text + len, sizeof(text) - len, "ram 0x%x 4K\n", i * 4096);
	ck_assert_int_eq(boot_layout_parse(text, len, LIMIT, &l, err), -1);
	ck_assert_str_eq(err, "line 65: more than 64 ranges");
}
END_TEST

/* ---- images ----------------------------------------------------------------- */

static void put16(unsigned char *p, uint64_t v) { p[0] = (unsigned char)v; p[1] = (unsigned char)(v >> 8); }
static void put32(unsigned char *p, uint64_t v) { put16(p, v); put16(p + 2, v >> 16); }
static void put64(unsigned char *p, uint64_t v) { put32(p, v); put32(p + 4, v >> 32); }

struct phdr {
	uint32_t type;
	uint64_t offset, vaddr, paddr, filesz, memsz;
};

#define FILE_LEN 0x3000u

/* An ELF64 x86-64 executable: header, program headers at 64, payload. */
static void elf64(unsigned char *buf, uint64_t entry, const struct phdr *ph, unsigned n)
{
	unsigned i;

	memset(buf, 0, FILE_LEN);
	memcpy(buf, "\177ELF", 4);
	buf[4] = 2, buf[5] = 1, buf[6] = 1;
	put16(buf + 16, 2);  /* ET_EXEC */
	put16(buf + 18, 62); /* EM_X86_64 */
	put32(buf + 20, 1);
	put64(buf + 24, entry);
	put64(buf + 32, 64); /* e_phoff */
	put16(buf + 52, 64);
	put16(buf + 54, 56);
	put16(buf + 56, n);
	for (i = 0; i < n; i++) {
		unsigned char *p = buf + 64 + 56 * i;

		put32(p, ph[i].type);
		put64(p + 8, ph[i].offset);
		put64(p + 16, ph[i].vaddr);
		put64(p + 24, ph[i].paddr);
		put64(p + 32, ph[i].filesz);
		put64(p + 40, ph[i].memsz);
	}
}

static const struct phdr good_ph[] = {
	{ 1, 0x2000, 0x400000, 0x400000, 0x800, 0x3000 }, /* data + bss */
	{ 4, 0x100, 0, 0, 0x20, 0x20 },                    /* PT_NOTE: skipped */
	{ 1, 0x1000, 0x100000, 0x100000, 0x1000, 0x1000 }, /* text */
};

static const char layout_text[] = "ram 0 16M\n";

START_TEST(t_elf64)
{
	static unsigned char buf[FILE_LEN];
	struct boot_image im;
	struct boot_layout l;
	char err[BOOT_ERR_LEN] = "";

	elf64(buf, 0x100010, good_ph, 3);
	ck_assert_msg(!boot_image_parse(buf, FILE_LEN, &im, err), "%s", err);
	ck_assert_int_eq(im.format, BOOT_ELF64);
	ck_assert_uint_eq(im.entry, 0x100010);
	ck_assert_uint_eq(im.nseg, 2);
	ck_assert_uint_eq(im.seg[0].paddr, 0x100000);
	ck_assert_uint_eq(im.seg[0].offset, 0x1000);
	ck_assert_uint_eq(im.seg[0].filesz, 0x1000);
	ck_assert_uint_eq(im.seg[1].paddr, 0x400000);
	ck_assert_uint_eq(im.seg[1].filesz, 0x800);
	ck_assert_uint_eq(im.seg[1].memsz, 0x3000);
	ck_assert_msg(!boot_layout_parse(layout_text, sizeof(layout_text) - 1, LIMIT, &l, err), "%s", err);
	ck_assert_msg(!boot_image_fits(&im, &l, err), "%s", err);
	{
		static const char small[] = "ram 0 0x401000\nrom 0x401000 0x1000\nmmio 0x402000 4K\n";

		ck_assert_msg(!boot_layout_parse(small, sizeof(small) - 1, LIMIT, &l, err), "%s", err);
		ck_assert_int_eq(boot_image_fits(&im, &l, err), -1);
		ck_assert_str_eq(err, "segment 0x400000+0x3000: 0x402000 is not ram or rom in the layout");
	}
}
END_TEST

/* One ELF64 mutation per check: what it changes, and the message. */
static void mutate(unsigned char *buf, unsigned k, size_t *len)
{
	unsigned char *ph0 = buf + 64, *ph2 = buf + 64 + 112;

	switch (k) {
	case 0: buf[0] = 'x'; break;
	case 1: buf[4] = 1; break;
	case 2: buf[5] = 2; break;
	case 3: put16(buf + 16, 3); break;
	case 4: put16(buf + 18, 183); break;
	case 5: put16(buf + 54, 64); break;
	case 6: put64(buf + 32, FILE_LEN - 100); break;
	case 7: put64(ph0 + 32, 0x4000); break;                 /* filesz > memsz */
	case 8: put64(ph0 + 8, FILE_LEN - 0x100); break;        /* file bytes past the end */
	case 9: put64(ph2 + 24, 0x401000); put64(ph2 + 16, 0x401000); break; /* overlap */
	case 10: put64(ph2 + 16, 0xffffffff80100000ull); break; /* higher half */
	case 11: put32(ph0, 6); put32(ph2, 6); break;           /* no PT_LOAD */
	case 12: put64(buf + 24, 0x200000); break;              /* entry in no segment */
	case 13: put64(ph0 + 24, 0xfffffffffffff000ull); put64(ph0 + 16, 0xfffffffffffff000ull); break;
	case 14: *len = 40; break;
	}
}

static const char *const mutate_err[] = {
	"neither a multiboot image (no header in the first 8 KiB) nor ELF",
	"ELF32 without a multiboot header: vmm boot enters 32-bit code only through multiboot",
	"ELF: not little-endian version 1",
	"ELF: e_type 3 is not ET_EXEC",
	"ELF: e_machine 183 is not EM_X86_64",
	"ELF: e_phentsize 64 is not 56",
	"ELF: program headers past the end of the file",
	"segment at 0x400000: file size 0x4000 above its memory size 0x3000",
	"segment at 0x400000: file bytes 0x2f00+0x800 past the end of the file (0x3000)",
	"segment at 0x401000 overlaps another",
	"ELF: segment 2 has vaddr 0xffffffff80100000 and paddr 0x100000; the long-mode entry runs on an identity map",
	"ELF: no loadable segment",
	"ELF: entry 0x200000 is in no loadable segment",
	"segment at 0xfffffffffffff000: size 0x3000 wraps",
	"ELF header cut short (40 bytes)",
};

START_TEST(t_elf64_refused)
{
	static unsigned char buf[FILE_LEN];
	struct boot_image im;
	char err[BOOT_ERR_LEN] = "";
	size_t len = FILE_LEN;

	elf64(buf, 0x100010, good_ph, 3);
	mutate(buf, (unsigned)_i, &len);
	ck_assert_int_eq(boot_image_parse(buf, len, &im, err), -1);
	ck_assert_str_eq(err, mutate_err[_i]);
}
END_TEST

START_TEST(t_elf64_many)
{
	static unsigned char buf[FILE_LEN];
	struct phdr ph[BOOT_MAX_SEGS + 1];
	struct boot_image im;
	char err[BOOT_ERR_LEN] = "";
	unsigned i;

	for (i = 0; i <= BOOT_MAX_SEGS; i++)
		ph[i] = (struct phdr){ 1, 0x2000, 0x100000 + i * 0x1000ull, 0x100000 + i * 0x1000ull,
				       0x10, 0x1000 };
	elf64(buf, 0x100000, ph, BOOT_MAX_SEGS);
	ck_assert_msg(!boot_image_parse(buf, FILE_LEN, &im, err), "%s", err);
	ck_assert_uint_eq(im.nseg, BOOT_MAX_SEGS);
	elf64(buf, 0x100000, ph, BOOT_MAX_SEGS + 1);
	ck_assert_int_eq(boot_image_parse(buf, FILE_LEN, &im, err), -1);
	ck_assert_str_eq(err, "more than 16 loadable segments");
}
END_TEST

/* A multiboot header at `at`: magic, flags, checksum, address fields. */
static void mb_header(unsigned char *buf, size_t at, uint32_t flags, uint32_t header_addr,
		      uint32_t load, uint32_t load_end, uint32_t bss_end, uint32_t entry)
{
	put32(buf + at, 0x1BADB002u);
	put32(buf + at + 4, flags);
	put32(buf + at + 8, (uint32_t)-(0x1BADB002u + flags));
	put32(buf + at + 12, header_addr);
	put32(buf + at + 16, load);
	put32(buf + at + 20, load_end);
	put32(buf + at + 24, bss_end);
	put32(buf + at + 28, entry);
}

START_TEST(t_multiboot)
{
	static unsigned char buf[FILE_LEN];
	struct boot_image im;
	char err[BOOT_ERR_LEN] = "";

	/* the a.out kludge: header at 0x40 of a file loaded from byte 0x20 */
	memset(buf, 0, FILE_LEN);
	mb_header(buf, 0x40, 0x10003, 0x100020, 0x100000, 0, 0x104000, 0x100060);
	ck_assert_msg(!boot_image_parse(buf, FILE_LEN, &im, err), "%s", err);
	ck_assert_int_eq(im.format, BOOT_MULTIBOOT);
	ck_assert_uint_eq(im.mb_flags, 0x10003);
	ck_assert_uint_eq(im.entry, 0x100060);
	ck_assert_uint_eq(im.nseg, 1);
	ck_assert_uint_eq(im.seg[0].paddr, 0x100000);
	ck_assert_uint_eq(im.seg[0].offset, 0x20);
	ck_assert_uint_eq(im.seg[0].filesz, FILE_LEN - 0x20);
	ck_assert_uint_eq(im.seg[0].memsz, 0x4000);

	/* flags bit 16 clear: the ELF headers place it (ELF32, i386) */
	memset(buf, 0, FILE_LEN);
	memcpy(buf, "\177ELF", 4);
	buf[4] = 1, buf[5] = 1, buf[6] = 1;
	put16(buf + 16, 2);
	put16(buf + 18, 3);
	put32(buf + 24, 0xc0100010u); /* entry: a virtual address ... */
	put32(buf + 28, 52);
	put16(buf + 42, 32);
	put16(buf + 44, 1);
	put32(buf + 52, 1);
	put32(buf + 56, 0x1000);      /* p_offset */
	put32(buf + 60, 0xc0100000u); /* p_vaddr */
	put32(buf + 64, 0x100000);    /* p_paddr: ... loaded here */
	put32(buf + 68, 0x1000);
	put32(buf + 72, 0x2000);
	mb_header(buf, 0x1000, 0x2, 0, 0, 0, 0, 0);
	ck_assert_msg(!boot_image_parse(buf, FILE_LEN, &im, err), "%s", err);
	ck_assert_int_eq(im.format, BOOT_MULTIBOOT);
	ck_assert_uint_eq(im.entry, 0x100010); /* translated to physical */
	ck_assert_uint_eq(im.nseg, 1);
	ck_assert_uint_eq(im.seg[0].paddr, 0x100000);
	ck_assert_uint_eq(im.seg[0].memsz, 0x2000);
}
END_TEST

static const struct {
	size_t at, len; /* len: of the file, 0 for FILE_LEN */
	uint32_t flags, header_addr, load, load_end, bss_end, entry;
	const char *err;
} mb_refused[] = {
	{ 0x40, 0, 0x10004, 0x100040, 0x100000, 0, 0, 0x100080,
	  "multiboot: required feature bits 0x4 this loader does not provide (video mode?)" },
	{ 0x40, 0, 0x10000, 0x100040, 0x100080, 0, 0, 0x100080,
	  "multiboot: load_addr 0x100080 puts the file start before byte 0 (header_addr 0x100040, header at offset 0x40)" },
	{ 0x40, 0, 0x10000, 0x100040, 0x0ffff0, 0, 0, 0x100000,
	  "multiboot: load_addr 0xffff0 puts the file start before byte 0 (header_addr 0x100040, header at offset 0x40)" },
	{ 0x40, 0, 0x10000, 0x100040, 0x100000, 0x100000, 0, 0x100080,
	  "multiboot: load_end_addr 0x100000 not above load_addr 0x100000" },
	{ 0x40, 0, 0x10000, 0x100040, 0x100000, 0x104000, 0, 0x100080,
	  "multiboot: load_end_addr 0x104000 past the end of the file" },
	{ 0x40, 0, 0x10000, 0x100040, 0x100000, 0x101000, 0x100800, 0x100080,
	  "multiboot: bss_end_addr 0x100800 below the end of the load 0x101000" },
	{ 0x40, 0, 0x10000, 0x100040, 0x100000, 0x101000, 0, 0x101000,
	  "multiboot: entry_addr 0x101000 outside the image 0x100000+0x1000" },
	{ 0x40, 0, 0x00000, 0, 0, 0, 0, 0, "multiboot: flags bit 16 clear and no ELF headers" },
	{ 0x2000, 0, 0x10000, 0x102000, 0x100000, 0, 0, 0x100080,
	  "neither a multiboot image (no header in the first 8 KiB) nor ELF" },
	{ 0x40, 0x40 + 20, 0x10000, 0x100040, 0x100000, 0, 0, 0x100040,
	  "multiboot: header address fields cut short" },
};

START_TEST(t_multiboot_refused)
{
	static unsigned char buf[FILE_LEN + 32];
	struct boot_image im;
	char err[BOOT_ERR_LEN] = "";
	size_t len;

	memset(buf, 0, sizeof(buf));
	mb_header(buf, mb_refused[_i].at, mb_refused[_i].flags, mb_refused[_i].header_addr,
		  mb_refused[_i].load, mb_refused[_i].load_end, mb_refused[_i].bss_end,
		  mb_refused[_i].entry);
	len = mb_refused[_i].len ? mb_refused[_i].len : FILE_LEN;
	ck_assert_int_eq(boot_image_parse(buf, len, &im, err), -1);
	ck_assert_str_eq(err, mb_refused[_i].err);
	/* a wrong checksum: no header at all */
	put32(buf + mb_refused[_i].at + 8, 0);
	ck_assert_int_eq(boot_image_parse(buf, len, &im, err), -1);
	ck_assert_str_eq(err, "neither a multiboot image (no header in the first 8 KiB) nor ELF");
}
END_TEST

START_TEST(t_mboot_guest)
{
	const char *dir = getenv("NPT_BUILDDIR");
	static unsigned char buf[1 << 16];
	struct boot_image im;
	struct boot_layout l;
	char path[512], err[BOOT_ERR_LEN] = "";
	size_t len;
	FILE *fp;

	if (!dir)
		return;
	snprintf(path, sizeof(path), "%s/guest/x86/mboot.bin", dir);
	fp = fopen(path, "rb");
	if (!fp)
		return;
	len = fread(buf, 1, sizeof(buf), fp);
	fclose(fp);
	ck_assert_msg(!boot_image_parse(buf, len, &im, err), "%s", err);
	/* guest/x86/mboot.S: the header first, at its link address 0x100000
	 * (mboot.ld), loaded whole; _start right after the 32-byte header */
	ck_assert_int_eq(im.format, BOOT_MULTIBOOT);
	ck_assert_uint_eq(im.mb_flags, 1u << 16);
	ck_assert_uint_eq(im.nseg, 1);
	ck_assert_uint_eq(im.seg[0].paddr, 0x100000);
	ck_assert_uint_eq(im.seg[0].offset, 0);
	ck_assert_uint_eq(im.seg[0].filesz, len);
	ck_assert_uint_eq(im.entry, 0x100020);
	ck_assert_msg(!boot_layout_parse(layout_text, sizeof(layout_text) - 1, LIMIT, &l, err), "%s", err);
	ck_assert_msg(!boot_image_fits(&im, &l, err), "%s", err);

	/* guest/x86/hello64.S: an ELF64 executable at 1 MiB (hello64.ld) */
	snprintf(path, sizeof(path), "%s/guest/x86/hello64.elf", dir);
	fp = fopen(path, "rb");
	ck_assert_msg(fp != NULL, "%s", path);
	len = fread(buf, 1, sizeof(buf), fp);
	fclose(fp);
	ck_assert_msg(!boot_image_parse(buf, len, &im, err), "%s", err);
	ck_assert_int_eq(im.format, BOOT_ELF64);
	ck_assert_uint_eq(im.entry, 0x100000);
	ck_assert_uint_eq(im.nseg, 1);
	ck_assert_uint_eq(im.seg[0].paddr, 0x100000);
	ck_assert_msg(!boot_image_fits(&im, &l, err), "%s", err);
}
END_TEST

/* ---- the plan ------------------------------------------------------------- */

static const char plan_layout[] =
	"ram  0           16M\n"
	"hole 0x2000000   16M\n"
	"rom  0xf0000000  1M\n"
	"mmio 0xfee00000  4K\n"
	"ram  0x100000000 1G   leaf=2M\n"
	"ram  0x140000000 2M   leaf=4K\n";

struct plan_world {
	struct boot_layout l;
	struct boot_mem m;
	unsigned char *host, *pool;
	uint64_t bytes, pool_pa;
	struct npt_mm *mm;
	struct npt_table *s2;
};

#define POOL_BYTES (16 * MIB)

static void world_init(struct plan_world *w, const char *layout, size_t len)
{
	char err[BOOT_ERR_LEN] = "";

	ck_assert_msg(!boot_layout_parse(layout, len, LIMIT, &w->l, err), "%s", err);
	w->bytes = boot_mem_bytes(&w->l);
	w->host = mmap(NULL, w->bytes, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	ck_assert_ptr_ne(w->host, MAP_FAILED);
	boot_mem_init(&w->m, &w->l, w->host);
	/* the first range's bytes marked: the load must touch only its own */
	memset(boot_mem_host(&w->m, w->l.r[0].base, w->l.r[0].size), 0xaa, w->l.r[0].size);
	/* stage 2's own frames above the block, so that one address space
	 * (npt_translate_raw's mem) holds both */
	w->pool_pa = (w->bytes + GIB - 1) & ~(GIB - 1);
	w->pool = mmap(NULL, POOL_BYTES, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	ck_assert_ptr_ne(w->pool, MAP_FAILED);
	w->mm = npt_user_pool_mm(w->pool, POOL_BYTES, w->pool_pa);
	ck_assert_ptr_nonnull(w->mm);
	w->s2 = NULL;
}

/* The host-physical space of the world: the block from 0, stage 2's
 * frames from pool_pa (npt_translate_raw reads both stages through it). */
static void *world_virt(void *ctx, uint64_t pa)
{
	struct plan_world *w = ctx;

	if (pa < w->bytes)
		return w->host + pa;
	if (pa >= w->pool_pa && pa - w->pool_pa < POOL_BYTES)
		return w->pool + (pa - w->pool_pa);
	return NULL;
}

static void world_fini(struct plan_world *w)
{
	if (w->s2)
		npt_free(w->s2);
	munmap(w->pool, POOL_BYTES);
	munmap(w->host, w->bytes);
}

START_TEST(t_plan_elf64)
{
	static unsigned char buf[FILE_LEN];
	struct plan_world w;
	struct boot_image im;
	struct boot_entry e;
	char err[BOOT_ERR_LEN] = "";
	unsigned i, fl = 0;
	uint64_t pa = 0, size = 0;
	int rc;

	world_init(&w, plan_layout, sizeof(plan_layout) - 1);
	elf64(buf, 0x100010, good_ph, 3);
	for (i = 0x1000; i < FILE_LEN; i++)
		buf[i] = (unsigned char)(i * 7 + 1);
	ck_assert_msg(!boot_image_parse(buf, FILE_LEN, &im, err), "%s", err);
	ck_assert_msg(!boot_image_fits(&im, &w.l, err), "%s", err);

	/* stage 2: ranges at their offsets, with their rights and leaf caps */
	w.s2 = npt_new(npt_format_by_name("ept"), w.mm, &rc);
	ck_assert_ptr_nonnull(w.s2);
	ck_assert_msg(!boot_stage2(&w.m, w.s2, err), "%s", err);
	ck_assert_int_eq(npt_query(w.s2, 0x123000, &pa, &fl, &size), 0);
	ck_assert_uint_eq(pa, w.m.off[0] + 0x123000);
	ck_assert_uint_eq(fl & (NPT_R | NPT_W | NPT_X), NPT_R | NPT_W | NPT_X);
	ck_assert_int_eq(npt_query(w.s2, 0xf0001000, &pa, &fl, NULL), 0);
	ck_assert_uint_eq(pa, w.m.off[2] + 0x1000);
	ck_assert_uint_eq(fl & (NPT_R | NPT_W | NPT_X), NPT_R | NPT_X);
	ck_assert_int_eq(npt_query(w.s2, 0xfee00000, &pa, &fl, NULL), NPT_ERR_NOT_MAPPED);
	ck_assert_int_eq(npt_query(w.s2, 0x2000000, &pa, &fl, NULL), NPT_ERR_NOT_MAPPED);
	ck_assert_int_eq(npt_query(w.s2, 0x100000000 + 5 * GIB / 16, &pa, &fl, &size), 0);
	ck_assert_uint_eq(size, 2 * MIB); /* leaf=2M on a 1 GiB aligned range */
	ck_assert_uint_eq(pa % GIB, (5 * GIB / 16) % GIB); /* its offset keeps the alignment */
	ck_assert_int_eq(npt_query(w.s2, 0x140000000, &pa, &fl, &size), 0);
	ck_assert_uint_eq(size, 4096);
	ck_assert_uint_le(boot_mem_bytes(&w.l), 16 * MIB + MIB + GIB + 2 * MIB + GIB + 2 * MIB);

	/* the load: file bytes, then zeroes, nothing around them touched */
	ck_assert_msg(!boot_load(&w.m, &im, buf, FILE_LEN, err), "%s", err);
	ck_assert_int_eq(memcmp(boot_mem_host(&w.m, 0x100000, 0x1000), buf + 0x1000, 0x1000), 0);
	ck_assert_int_eq(memcmp(boot_mem_host(&w.m, 0x400000, 0x800), buf + 0x2000, 0x800), 0);
	for (i = 0x800; i < 0x3000; i++)
		ck_assert_uint_eq(boot_mem_host(&w.m, 0x400000, 0x3000)[i], 0);
	ck_assert_uint_eq(*boot_mem_host(&w.m, 0x403000, 1), 0xaa);
	ck_assert_uint_eq(*boot_mem_host(&w.m, 0xfffff, 1), 0xaa);

	/* the entry: the highest free window of ram below 4 GiB */
	ck_assert_msg(!boot_entry_build(&w.m, &im, &e, err), "%s", err);
	ck_assert_int_eq(e.long_mode, 1);
	ck_assert_uint_eq(e.area, 16 * MIB - BOOT_AREA);
	ck_assert_uint_eq(e.rip, 0x100010);
	ck_assert_uint_eq(e.rsp, e.area + 2 * 4096 + BOOT_STACK);
	ck_assert_uint_eq(e.cs, BOOT_SEL_CODE64);
	ck_assert_uint_eq(e.cs_desc >> 53 & 1, 1); /* L */
	ck_assert_uint_eq(e.cs_desc >> 54 & 1, 0); /* D/B clear with L */
	ck_assert_uint_eq(e.cr0 & 0x80000001u, 0x80000001u);
	ck_assert_uint_eq(e.cr4 & 0x20, 0x20);
	ck_assert_uint_eq(e.efer & 0x500, 0x500);
	ck_assert_uint_gt(e.s1_frames, 3);
	ck_assert_uint_eq(le64(boot_mem_host(&w.m, e.gdt + BOOT_SEL_CODE64, 8)), e.cs_desc);
	ck_assert_uint_eq(le64(boot_mem_host(&w.m, e.gdt + BOOT_SEL_DATA, 8)), e.ds_desc);
	ck_assert_uint_eq(le64(boot_mem_host(&w.m, e.gdt, 8)), 0);
	{
		/* the identity map, walked as the CPU walks it: through stage 2 */
		static const struct {
			uint64_t va;
			unsigned access;
			int fault;
			unsigned flags;
		} probes[] = {
			{ 0x100010, NPT_X, 0, NPT_R | NPT_W | NPT_X },
			{ 0x403ff8, NPT_W, 0, NPT_R | NPT_W | NPT_X },
			{ 16 * MIB - 8, NPT_W, 0, NPT_R | NPT_W | NPT_X }, /* the stack's top */
			{ 0xf0080000, NPT_R, 0, NPT_R | NPT_X },
			{ 0xf0080000, NPT_W, NPT_ERR_PERM, 0 }, /* stage 1's own read-only */
			{ 0x140001000, NPT_W, 0, NPT_R | NPT_W | NPT_X },
			{ 0x100000000 + GIB - 8, NPT_R, 0, NPT_R | NPT_W | NPT_X },
			{ 0x2000000, NPT_R, NPT_ERR_NOT_MAPPED, 0 },
			{ 0x3000000, NPT_R, NPT_ERR_NOT_MAPPED, 0 },
		};
		const struct npt_mm mem = { .ctx = &w, .phys_to_virt = world_virt };
		const struct npt_format *s1 = npt_format_by_name("x86_64");
		const struct npt_format *s2 = npt_format_by_name("ept");
		struct npt_2d d;

		for (i = 0; i < NELEM(probes); i++) {
			memset(&d, 0, sizeof(d));
			npt_translate_raw(s1, e.cr3, s2, npt_root(w.s2), &mem, probes[i].va,
					  probes[i].access, &d);
			ck_assert_msg(d.fault == probes[i].fault, "probe %u: va 0x%llx fault %d (stage %u)",
				      i, (unsigned long long)probes[i].va, d.fault, d.fault_stage);
			if (probes[i].fault) {
				/* the identity map itself refuses: rom read-only, holes absent */
				ck_assert_uint_eq(d.fault_stage, 1);
				continue;
			}
			ck_assert_uint_eq(d.gpa, probes[i].va);
			ck_assert_ptr_eq(w.host + d.hpa, boot_mem_host(&w.m, probes[i].va, 1));
			ck_assert_uint_eq(d.flags & (NPT_R | NPT_W | NPT_X), probes[i].flags);
		}
		/* the MMIO window: identity-mapped device memory, which stage 2
		 * leaves to the VMM (an exit) */
		memset(&d, 0, sizeof(d));
		npt_translate_raw(s1, e.cr3, s2, npt_root(w.s2), &mem, 0xfee00000, NPT_W, &d);
		ck_assert_int_eq(d.fault, NPT_ERR_NOT_MAPPED);
		ck_assert_uint_eq(d.fault_stage, 2);
		ck_assert_uint_eq(d.fault_addr, 0xfee00000);
		/* the map's frames are the area's, past the stack */
		ck_assert_uint_ge(e.cr3, e.area + 2 * 4096 + BOOT_STACK);
		ck_assert_uint_lt(e.cr3, e.area + BOOT_AREA);
	}
	world_fini(&w);
}
END_TEST

START_TEST(t_plan_multiboot)
{
	static unsigned char buf[FILE_LEN];
	static const char layout[] = "ram 0x100000 31M\nram 0 0x9f000\nrom 0xf0000 64K\n"
				     "hole 0x4000000 1M\nmmio 0xfee00000 4K\n";
	struct plan_world w;
	struct boot_image im;
	struct boot_entry e;
	char err[BOOT_ERR_LEN] = "";
	const unsigned char *mbi, *mm;
	unsigned i;

	world_init(&w, layout, sizeof(layout) - 1);
	memset(buf, 0, FILE_LEN);
	mb_header(buf, 0x40, 0x10003, 0x100040, 0x100000, 0, 0x104000, 0x100060);
	ck_assert_msg(!boot_image_parse(buf, FILE_LEN, &im, err), "%s", err);
	ck_assert_msg(!boot_load(&w.m, &im, buf, FILE_LEN, err), "%s", err);
	ck_assert_msg(!boot_entry_build(&w.m, &im, &e, err), "%s", err);
	ck_assert_int_eq(e.long_mode, 0);
	ck_assert_uint_eq(e.rax, 0x2BADB002u);
	ck_assert_uint_eq(e.rbx, e.mbi);
	ck_assert_uint_eq(e.rip, 0x100060);
	ck_assert_uint_eq(e.cr0 & 0x80000001u, 1); /* PE, no paging */
	ck_assert_uint_eq(e.cs, BOOT_SEL_CODE32);
	ck_assert_uint_eq(e.cs_desc >> 54 & 1, 1); /* D/B: 32-bit */
	ck_assert_uint_eq(e.area, 32 * MIB - BOOT_AREA);
	mbi = boot_mem_host(&w.m, e.mbi, 4096);
	ck_assert_ptr_nonnull(mbi);
	ck_assert_uint_eq(le32(mbi), 0x1u | 0x40u | 0x200u);
	ck_assert_uint_eq(le32(mbi + 4), 0x9f000 / 1024); /* mem_lower: 636 KiB */
	ck_assert_uint_eq(le32(mbi + 8), 31 * 1024);     /* mem_upper: from 1 MiB on */
	ck_assert_str_eq((const char *)boot_mem_host(&w.m, le32(mbi + 64), 8), "npt vmm");
	ck_assert_uint_eq(le32(mbi + 44), 4 * 24);
	mm = boot_mem_host(&w.m, le32(mbi + 48), 4 * 24);
	ck_assert_ptr_nonnull(mm);
	{
		static const uint64_t want[4][3] = {
			{ 0, 0x9f000, 1 }, { 0xf0000, 0x10000, 2 }, { 0x100000, 31 * MIB, 1 },
			{ 0xfee00000, 0x1000, 2 },
		};

		for (i = 0; i < 4; i++) {
			ck_assert_uint_eq(le32(mm + 24 * i), 20);
			ck_assert_uint_eq(le64(mm + 24 * i + 4), want[i][0]);
			ck_assert_uint_eq(le64(mm + 24 * i + 12), want[i][1]);
			ck_assert_uint_eq(le32(mm + 24 * i + 20), want[i][2]);
		}
	}
	world_fini(&w);

	/* no room: the kernel's bss covers all the ram below 4 GiB */
	{
		static const char tight[] = "ram 0x100000 1M\nram 0x100000000 1G\n";

		world_init(&w, tight, sizeof(tight) - 1);
		memset(buf, 0, FILE_LEN);
		mb_header(buf, 0x40, 0x10000, 0x100040, 0x100000, 0, 0x200000, 0x100060);
		ck_assert_msg(!boot_image_parse(buf, FILE_LEN, &im, err), "%s", err);
		ck_assert_int_eq(boot_entry_build(&w.m, &im, &e, err), -1);
		ck_assert_str_eq(err, "no 512 KiB of ram below 4 GiB clear of the kernel for the boot area");
		world_fini(&w);
	}
}
END_TEST

static Suite *boot_suite(void)
{
	Suite *s = suite_create("boot");
	TCase *tc = tcase_create("boot");

	tcase_add_test(tc, t_layout);
	tcase_add_loop_test(tc, t_layout_refused, 0, sizeof(refused) / sizeof(refused[0]));
	tcase_add_test(tc, t_layout_many);
	tcase_add_test(tc, t_elf64);
	tcase_add_loop_test(tc, t_elf64_refused, 0, sizeof(mutate_err) / sizeof(mutate_err[0]));
	tcase_add_test(tc, t_elf64_many);
	tcase_add_test(tc, t_multiboot);
	tcase_add_loop_test(tc, t_multiboot_refused, 0, sizeof(mb_refused) / sizeof(mb_refused[0]));
	tcase_add_test(tc, t_mboot_guest);
	tcase_add_test(tc, t_plan_elf64);
	tcase_add_test(tc, t_plan_multiboot);
	suite_add_tcase(s, tc);
	return s;
}

NPT_CHECK_MAIN(boot_suite)
