/*
 * The kernel image of `vmm boot` (boot.h): a multiboot v1 header, or else
 * an ELF64 x86-64 executable, read field by field in little-endian order,
 * every offset and size checked against the file before it is used.
 */
#include <stdio.h>
#include <string.h>

#include "boot.h"

#define MB_MAGIC 0x1BADB002u   /* Multiboot Specification 0.6.96 §3.1.1 */
#define MB_SEARCH 8192u        /* the header lies in the first 8 KiB ... */
#define MB_ALIGN 4u            /* ... 32-bit aligned */
#define MB_PAGE_ALIGN 0x1u     /* flags bit 0: modules page aligned (we load none) */
#define MB_MEMINFO 0x2u        /* flags bit 1: mem_* in the info (we give them) */
#define MB_ADDRS 0x10000u      /* flags bit 16: the address fields are valid */
#define MB_KNOWN_REQ (MB_PAGE_ALIGN | MB_MEMINFO)

#define ELF_PT_LOAD 1u
#define ELF_ET_EXEC 2u
#define ELF_EM_386 3u
#define ELF_EM_X86_64 62u

static uint32_t le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const unsigned char *p)
{
	return le32(p) | (uint64_t)le32(p + 4) << 32;
}

static uint16_t le16(const unsigned char *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

/* The segment list: sorted by paddr, none overlapping (insertion keeps it). */
static int add_seg(struct boot_image *im, uint64_t paddr, uint64_t filesz, uint64_t memsz,
		   uint64_t offset, size_t len, char *err)
{
	unsigned i, k;

	if (filesz > memsz)
		return boot_errf(err, "segment at 0x%llx: file size 0x%llx above its memory size 0x%llx",
			    (unsigned long long)paddr, (unsigned long long)filesz,
			    (unsigned long long)memsz);
	if (offset > len || filesz > len - offset)
		return boot_errf(err, "segment at 0x%llx: file bytes 0x%llx+0x%llx past the end of the file (0x%zx)",
			    (unsigned long long)paddr, (unsigned long long)offset,
			    (unsigned long long)filesz, len);
	if (memsz == 0)
		return 0;
	if (paddr + memsz < paddr)
		return boot_errf(err, "segment at 0x%llx: size 0x%llx wraps", (unsigned long long)paddr,
			    (unsigned long long)memsz);
	if (im->nseg == BOOT_MAX_SEGS)
		return boot_errf(err, "more than %u loadable segments", BOOT_MAX_SEGS);
	for (i = 0; i < im->nseg && im->seg[i].paddr < paddr; i++)
		;
	if ((i > 0 && im->seg[i - 1].paddr + im->seg[i - 1].memsz > paddr) ||
	    (i < im->nseg && paddr + memsz > im->seg[i].paddr))
		return boot_errf(err, "segment at 0x%llx overlaps another", (unsigned long long)paddr);
	for (k = im->nseg; k > i; k--)
		im->seg[k] = im->seg[k - 1];
	im->seg[i] = (struct boot_seg){ paddr, filesz, memsz, offset };
	im->nseg++;
	return 0;
}

/* The ELF program headers, ELF32 (i386) or ELF64 (x86-64), into im; the
 * entry translated through the segment that holds it (paddr - vaddr).
 * identity: every segment's vaddr must be its paddr. */
static int elf_load(const unsigned char *buf, size_t len, struct boot_image *im, int identity,
		    char *err)
{
	const int is64 = buf[4] == 2;
	const size_t ehsize = is64 ? 64 : 52, phsize = is64 ? 56 : 32;
	uint64_t entry, phoff;
	unsigned phnum, i;

	if (len < ehsize)
		return boot_errf(err, "ELF header cut short (%zu bytes)", len);
	if (buf[5] != 1 || buf[6] != 1)
		return boot_errf(err, "ELF: not little-endian version 1");
	if (le16(buf + 16) != ELF_ET_EXEC)
		return boot_errf(err, "ELF: e_type %u is not ET_EXEC", le16(buf + 16));
	if (le16(buf + 18) != (is64 ? ELF_EM_X86_64 : ELF_EM_386))
		return boot_errf(err, "ELF: e_machine %u is not %s", le16(buf + 18),
			    is64 ? "EM_X86_64" : "EM_386");
	entry = is64 ? le64(buf + 24) : le32(buf + 24);
	phoff = is64 ? le64(buf + 32) : le32(buf + 28);
	phnum = le16(buf + (is64 ? 56 : 44));
	if (le16(buf + (is64 ? 54 : 42)) != phsize)
		return boot_errf(err, "ELF: e_phentsize %u is not %zu", le16(buf + (is64 ? 54 : 42)), phsize);
	if (phoff > len || (uint64_t)phnum * phsize > len - phoff)
		return boot_errf(err, "ELF: program headers past the end of the file");
	im->entry = UINT64_MAX;
	for (i = 0; i < phnum; i++) {
		const unsigned char *ph = buf + phoff + (uint64_t)i * phsize;
		uint64_t off, vaddr, paddr, filesz, memsz;

		if (le32(ph) != ELF_PT_LOAD)
			continue;
		off = is64 ? le64(ph + 8) : le32(ph + 4);
		vaddr = is64 ? le64(ph + 16) : le32(ph + 8);
		paddr = is64 ? le64(ph + 24) : le32(ph + 12);
		filesz = is64 ? le64(ph + 32) : le32(ph + 16);
		memsz = is64 ? le64(ph + 40) : le32(ph + 20);
		if (identity && vaddr != paddr)
			return boot_errf(err, "ELF: segment %u has vaddr 0x%llx and paddr 0x%llx; the "
				    "long-mode entry runs on an identity map", i,
				    (unsigned long long)vaddr, (unsigned long long)paddr);
		if (add_seg(im, paddr, filesz, memsz, off, len, err))
			return -1;
		if (im->entry == UINT64_MAX && entry >= vaddr && entry - vaddr < memsz)
			im->entry = entry - vaddr + paddr;
	}
	if (!im->nseg)
		return boot_errf(err, "ELF: no loadable segment");
	if (im->entry == UINT64_MAX)
		return boot_errf(err, "ELF: entry 0x%llx is in no loadable segment", (unsigned long long)entry);
	return 0;
}

/* The multiboot header at buf + at: its checks, then the image placed by
 * its address fields (flags bit 16) or by the ELF headers. */
static int multiboot_load(const unsigned char *buf, size_t len, size_t at, struct boot_image *im,
			  char *err)
{
	const uint32_t flags = le32(buf + at + 4);
	uint32_t header_addr, load_addr, load_end, bss_end, entry;
	uint64_t offset, filesz, memsz;

	im->format = BOOT_MULTIBOOT;
	im->mb_flags = flags;
	if ((flags & 0xffffu) & ~MB_KNOWN_REQ)
		return boot_errf(err, "multiboot: required feature bits 0x%x this loader does not provide "
			    "(video mode?)", (flags & 0xffffu) & ~MB_KNOWN_REQ);
	if (!(flags & MB_ADDRS)) {
		if (len < 5 || memcmp(buf, "\177ELF", 4) || (buf[4] != 1 && buf[4] != 2))
			return boot_errf(err, "multiboot: flags bit 16 clear and no ELF headers");
		if (elf_load(buf, len, im, 0, err))
			return -1;
		if (im->entry >> 32)
			return boot_errf(err, "multiboot: entry 0x%llx above 4 GiB",
				    (unsigned long long)im->entry);
		return 0;
	}
	if (len - at < 32)
		return boot_errf(err, "multiboot: header address fields cut short");
	header_addr = le32(buf + at + 12);
	load_addr = le32(buf + at + 16);
	load_end = le32(buf + at + 20);
	bss_end = le32(buf + at + 24);
	entry = le32(buf + at + 28);
	if (load_addr > header_addr || header_addr - load_addr > at)
		return boot_errf(err, "multiboot: load_addr 0x%x puts the file start before byte 0 "
			    "(header_addr 0x%x, header at offset 0x%zx)", load_addr, header_addr, at);
	offset = at - (header_addr - load_addr);
	if (load_end == 0) {
		filesz = len - offset;
	} else {
		if (load_end <= load_addr)
			return boot_errf(err, "multiboot: load_end_addr 0x%x not above load_addr 0x%x",
				    load_end, load_addr);
		filesz = (uint64_t)load_end - load_addr;
		if (filesz > len - offset)
			return boot_errf(err, "multiboot: load_end_addr 0x%x past the end of the file", load_end);
	}
	memsz = filesz;
	if (bss_end) {
		if (bss_end < load_addr + filesz)
			return boot_errf(err, "multiboot: bss_end_addr 0x%x below the end of the load 0x%llx",
				    bss_end, (unsigned long long)(load_addr + filesz));
		memsz = (uint64_t)bss_end - load_addr;
	}
	if (entry < load_addr || entry - load_addr >= memsz)
		return boot_errf(err, "multiboot: entry_addr 0x%x outside the image 0x%x+0x%llx", entry,
			    load_addr, (unsigned long long)memsz);
	if (add_seg(im, load_addr, filesz, memsz, offset, len, err))
		return -1;
	im->entry = entry;
	return 0;
}

int boot_image_parse(const unsigned char *buf, size_t len, struct boot_image *out,
		     char err[BOOT_ERR_LEN])
{
	size_t at;

	memset(out, 0, sizeof(*out));
	for (at = 0; at + 12 <= len && at < MB_SEARCH; at += MB_ALIGN) {
		const uint32_t magic = le32(buf + at), flags = le32(buf + at + 4);

		if (magic == MB_MAGIC && (uint32_t)(magic + flags + le32(buf + at + 8)) == 0)
			return multiboot_load(buf, len, at, out, err);
	}
	if (len < 5 || memcmp(buf, "\177ELF", 4))
		return boot_errf(err, "neither a multiboot image (no header in the first 8 KiB) nor ELF");
	if (buf[4] != 2)
		return boot_errf(err, "ELF32 without a multiboot header: vmm boot enters 32-bit code "
			    "only through multiboot");
	out->format = BOOT_ELF64;
	return elf_load(buf, len, out, 1, err);
}

int boot_image_fits(const struct boot_image *im, const struct boot_layout *l,
		    char err[BOOT_ERR_LEN])
{
	unsigned i;

	for (i = 0; i < im->nseg; i++) {
		const struct boot_seg *s = &im->seg[i];
		uint64_t a = s->paddr, end = s->paddr + s->memsz;

		while (a < end) {
			const struct boot_range *r = boot_layout_find(l, a);

			if (!r || (r->kind != BOOT_RAM && r->kind != BOOT_ROM))
				return boot_errf(err, "segment 0x%llx+0x%llx: 0x%llx is not ram or rom in the layout",
					    (unsigned long long)s->paddr, (unsigned long long)s->memsz,
					    (unsigned long long)a);
			a = r->base + r->size;
		}
	}
	for (i = 0; i < im->nseg; i++)
		if (im->entry >= im->seg[i].paddr && im->entry - im->seg[i].paddr < im->seg[i].memsz)
			return 0;
	return boot_errf(err, "entry 0x%llx is in no segment", (unsigned long long)im->entry);
}
