/*
 * What `vmm boot` prepares before the vCPU runs (boot.h): guest memory for
 * the layout, the stage-2 table that maps it, the kernel's segments copied
 * in, and the boot area with the state the guest starts in. Plain C over
 * host memory and npt: no KVM here.
 */
#include <stdio.h>
#include <string.h>

#include "boot.h"

#define PAGE 4096ull
#define MIB (1ull << 20)
#define GIB (1ull << 30)

/* SDM vol. 3 §2.5 (CR0, CR4) and §2.2.1 (EFER). */
#define CR0_PE 0x1ull
#define CR0_MP 0x2ull
#define CR0_ET 0x10ull
#define CR0_NE 0x20ull
#define CR0_WP 0x10000ull
#define CR0_PG 0x80000000ull
#define CR4_PAE 0x20ull
#define CR4_OSFXSR 0x200ull
#define CR4_OSXMMEXCPT 0x400ull
#define EFER_LME 0x100ull
#define EFER_LMA 0x400ull
#define EFER_NXE 0x800ull

/* Segment descriptors, SDM vol. 3 §3.4.5 (Figure 3-8): base 0, limit
 * 0xfffff in 4 KiB units (G), present, DPL 0, S = 1; type 0xB execute/read
 * accessed or 0x3 read/write accessed; L = 1 for 64-bit code, D/B = 1 for
 * 32-bit code and data. */
#define DESC_CODE64 0x00af9b000000ffffull
#define DESC_DATA 0x00cf93000000ffffull
#define DESC_CODE32 0x00cf9b000000ffffull

/* Multiboot Specification 0.6.96 §3.3: the information structure. */
#define MBI_MEMORY 0x1u     /* mem_lower, mem_upper */
#define MBI_MMAP 0x40u      /* mmap_length, mmap_addr */
#define MBI_LOADER 0x200u   /* boot_loader_name */
#define MBI_LOADER_OFF 0x80 /* in the information page: the name ... */
#define MBI_MMAP_OFF 0x100  /* ... and the memory map */
#define MMAP_RAM 1u
#define MMAP_RESERVED 2u

/* The area's pages: GDT, information, stack, then identity-map frames. */
#define AREA_GDT 0
#define AREA_MBI PAGE
#define AREA_STACK (2 * PAGE)
#define AREA_TABLES (AREA_STACK + BOOT_STACK)

static int backed(const struct boot_range *r)
{
	return r->kind == BOOT_RAM || r->kind == BOOT_ROM;
}

/* A range's offset in the block keeps its address's alignment up to this,
 * so that stage 2 can map it with huge leaves. */
static uint64_t range_align(const struct boot_range *r)
{
	return r->size >= GIB ? GIB : 2 * MIB;
}

static void place(const struct boot_layout *l, uint64_t *off, uint64_t *total)
{
	uint64_t cur = 0;
	unsigned i;

	for (i = 0; i < l->n; i++) {
		const struct boot_range *r = &l->r[i];
		const uint64_t a = range_align(r);

		if (!backed(r))
			continue;
		cur += (r->base - cur) & (a - 1); /* cur = base mod a */
		if (off)
			off[i] = cur;
		cur += r->size;
	}
	*total = cur;
}

uint64_t boot_mem_bytes(const struct boot_layout *l)
{
	uint64_t total;

	place(l, NULL, &total);
	return total;
}

void boot_mem_init(struct boot_mem *m, const struct boot_layout *l, void *host)
{
	memset(m, 0, sizeof(*m));
	m->l = l;
	m->host = host;
	place(l, m->off, &m->size);
}

unsigned char *boot_mem_host(const struct boot_mem *m, uint64_t gpa, uint64_t len)
{
	const struct boot_range *r = boot_layout_find(m->l, gpa);

	if (!r || !backed(r) || len > r->size - (gpa - r->base))
		return NULL;
	return m->host + m->off[r - m->l->r] + (gpa - r->base);
}

int boot_stage2(const struct boot_mem *m, struct npt_table *s2, char err[BOOT_ERR_LEN])
{
	unsigned i;

	for (i = 0; i < m->l->n; i++) {
		const struct boot_range *r = &m->l->r[i];
		const unsigned flags = NPT_R | NPT_X | (r->kind == BOOT_RAM ? NPT_W : 0);
		const unsigned opts = r->leaf == PAGE ? 0
				      : r->leaf == 2 * MIB ? NPT_MAP_2M
				      : r->leaf == GIB ? NPT_MAP_2M | NPT_MAP_1G
				      : NPT_MAP_HUGE;
		int e;

		if (!backed(r))
			continue;
		e = npt_map_region(s2, r->base, m->off[i], r->size, flags, opts);
		if (e)
			return boot_errf(err, "line %u: stage 2 refuses 0x%llx+0x%llx: %s", r->line,
					 (unsigned long long)r->base, (unsigned long long)r->size,
					 npt_strerror(e));
	}
	return 0;
}

int boot_load(const struct boot_mem *m, const struct boot_image *im, const unsigned char *file,
	      size_t len, char err[BOOT_ERR_LEN])
{
	unsigned i;

	for (i = 0; i < im->nseg; i++) {
		const struct boot_seg *s = &im->seg[i];
		uint64_t a = s->paddr, end = s->paddr + s->memsz;

		if (s->offset > len || s->filesz > len - s->offset)
			return boot_errf(err, "segment 0x%llx: past the end of the file",
					 (unsigned long long)s->paddr);
		/* piece by piece: a segment may span adjacent ranges */
		while (a < end) {
			const struct boot_range *r = boot_layout_find(m->l, a);
			uint64_t n, done = a - s->paddr, from_file;
			unsigned char *h;

			if (!r || !backed(r))
				return boot_errf(err, "segment 0x%llx+0x%llx: 0x%llx is not ram or rom",
						 (unsigned long long)s->paddr,
						 (unsigned long long)s->memsz, (unsigned long long)a);
			n = r->base + r->size - a < end - a ? r->base + r->size - a : end - a;
			h = boot_mem_host(m, a, n);
			from_file = done < s->filesz ? s->filesz - done : 0;
			if (from_file > n)
				from_file = n;
			memcpy(h, file + s->offset + done, from_file);
			memset(h + from_file, 0, n - from_file);
			a += n;
		}
	}
	return 0;
}

/* The highest BOOT_AREA-aligned window of ram below 4 GiB clear of every
 * segment; 0 with *gpa, or -1. */
static int find_area(const struct boot_mem *m, const struct boot_image *im, uint64_t *gpa)
{
	int found = 0;
	unsigned i, k;

	for (i = 0; i < m->l->n; i++) {
		const struct boot_range *r = &m->l->r[i];
		uint64_t top = r->base + r->size, a;

		if (r->kind != BOOT_RAM || r->base >= 4 * GIB)
			continue;
		if (top > 4 * GIB)
			top = 4 * GIB;
		for (a = (top - BOOT_AREA) & ~(uint64_t)(BOOT_AREA - 1);
		     top >= BOOT_AREA && a >= r->base && a + BOOT_AREA <= top; a -= BOOT_AREA) {
			for (k = 0; k < im->nseg; k++)
				if (a < im->seg[k].paddr + im->seg[k].memsz &&
				    im->seg[k].paddr < a + BOOT_AREA)
					break;
			if (k == im->nseg) {
				if (!found || a > *gpa)
					*gpa = a;
				found = 1;
				break;
			}
			if (a < BOOT_AREA)
				break;
		}
	}
	return found ? 0 : -1;
}

/* ---- the long-mode identity map: npt on the area's frames ------------------ */

struct area_mm {
	uint64_t next, end; /* guest-physical frames left */
	unsigned used;
};

static int area_alloc(void *ctx, uint64_t *pa)
{
	struct area_mm *a = ctx;

	if (a->next >= a->end)
		return -1;
	*pa = a->next;
	a->next += PAGE;
	a->used++;
	return 0;
}

static void area_free(void *ctx, uint64_t pa)
{
	(void)ctx;
	(void)pa; /* the area is the guest's once it runs; a failed call leaves the rest unused */
}

struct area_map {
	struct area_mm a;
	unsigned char *host; /* of the area */
	uint64_t base;
};

static void *area_virt(void *ctx, uint64_t pa)
{
	struct area_map *m = ctx;

	return m->host + (pa - m->base);
}

static int identity_map(const struct boot_mem *m, uint64_t area, unsigned char *area_host,
			struct boot_entry *e, char *err)
{
	static _Alignas(NPT_TABLE_ALIGN) unsigned char store[NPT_TABLE_SIZE];
	struct area_map am = { { area + AREA_TABLES, area + BOOT_AREA, 0 }, area_host, area };
	const struct npt_mm mm = {
		.ctx = &am,
		.alloc = area_alloc,
		.free = area_free,
		.phys_to_virt = area_virt,
		.flags = NPT_MM_LINEAR,
		.linear_offset = (uintptr_t)area_host - (uintptr_t)area,
	};
	const struct npt_format *f = npt_format_by_name("x86_64");
	struct npt_table *t;
	unsigned i;
	int e2;

	t = npt_init(store, sizeof(store), f, &mm, &e2);
	if (!t)
		return boot_errf(err, "the identity map: npt_init: %s", npt_strerror(e2));
	for (i = 0; i < m->l->n; i++) {
		const struct boot_range *r = &m->l->r[i];
		unsigned flags = r->kind == BOOT_RAM   ? NPT_R | NPT_W | NPT_X
				 : r->kind == BOOT_ROM ? NPT_R | NPT_X
						       : NPT_R | NPT_W | NPT_DEVICE;

		if (r->kind == BOOT_HOLE)
			continue;
		e2 = npt_map_region(t, r->base, r->base, r->size, flags, NPT_MAP_2M);
		if (e2) {
			npt_abandon(t);
			return boot_errf(err, "line %u: the identity map of 0x%llx+0x%llx: %s%s",
					 r->line, (unsigned long long)r->base,
					 (unsigned long long)r->size, npt_strerror(e2),
					 e2 == NPT_ERR_NOMEM ? " (more than the boot area holds)" : "");
		}
	}
	e->cr3 = npt_x86_cr3(t);
	e->s1_frames = am.a.used;
	npt_abandon(t); /* its frames are the guest's now */
	return 0;
}

/* ---- multiboot information ----------------------------------------------- */

static void le_put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v, p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16), p[3] = (unsigned char)(v >> 24);
}

static void le_put64(unsigned char *p, uint64_t v)
{
	le_put32(p, (uint32_t)v);
	le_put32(p + 4, (uint32_t)(v >> 32));
}

/* KiB of ram from gpa up to the first byte that is not ram (cap: limit). */
static uint64_t ram_from(const struct boot_layout *l, uint64_t gpa, uint64_t limit)
{
	const struct boot_range *r;
	uint64_t a = gpa;

	while (a < limit && (r = boot_layout_find(l, a)) && r->kind == BOOT_RAM)
		a = r->base + r->size;
	return ((a < limit ? a : limit) - gpa) / 1024;
}

static void multiboot_info(const struct boot_layout *l, uint64_t mbi, unsigned char *p)
{
	static const char name[] = "npt vmm";
	unsigned i, k, n = 0, order[BOOT_MAX_RANGES];
	uint64_t upper = ram_from(l, MIB, 4 * GIB);

	/* the memory map in address order: ram, and the rest as reserved
	 * (holes are not memory at all) */
	for (i = 0; i < l->n; i++) {
		if (l->r[i].kind == BOOT_HOLE)
			continue;
		for (k = n; k > 0 && l->r[order[k - 1]].base > l->r[i].base; k--)
			order[k] = order[k - 1];
		order[k] = i;
		n++;
	}
	le_put32(p + 0, MBI_MEMORY | MBI_MMAP | MBI_LOADER);
	le_put32(p + 4, (uint32_t)ram_from(l, 0, 640 * 1024));
	le_put32(p + 8, (uint32_t)(upper > UINT32_MAX ? UINT32_MAX : upper));
	le_put32(p + 44, n * 24);
	le_put32(p + 48, (uint32_t)(mbi + MBI_MMAP_OFF));
	le_put32(p + 64, (uint32_t)(mbi + MBI_LOADER_OFF));
	memcpy(p + MBI_LOADER_OFF, name, sizeof(name));
	for (i = 0; i < n; i++) {
		const struct boot_range *r = &l->r[order[i]];
		unsigned char *e = p + MBI_MMAP_OFF + 24 * i;

		le_put32(e, 20); /* size of the rest of the entry */
		le_put64(e + 4, r->base);
		le_put64(e + 12, r->size);
		le_put32(e + 20, r->kind == BOOT_RAM ? MMAP_RAM : MMAP_RESERVED);
	}
}

int boot_entry_build(const struct boot_mem *m, const struct boot_image *im, struct boot_entry *e,
		     char err[BOOT_ERR_LEN])
{
	unsigned char *h;
	uint64_t area = 0;

	memset(e, 0, sizeof(*e));
	if (find_area(m, im, &area))
		return boot_errf(err, "no %u KiB of ram below 4 GiB clear of the kernel for the boot area",
				 BOOT_AREA / 1024);
	h = boot_mem_host(m, area, BOOT_AREA);
	memset(h, 0, BOOT_AREA);
	le_put64(h + AREA_GDT + 8 * (BOOT_SEL_CODE64 / 8), DESC_CODE64);
	le_put64(h + AREA_GDT + 8 * (BOOT_SEL_DATA / 8), DESC_DATA);
	le_put64(h + AREA_GDT + 8 * (BOOT_SEL_CODE32 / 8), DESC_CODE32);
	e->area = area;
	e->gdt = area + AREA_GDT;
	e->gdt_limit = 4 * 8 - 1;
	e->rip = im->entry;
	e->rsp = area + AREA_STACK + BOOT_STACK;
	e->rflags = 0x2; /* bit 1 is always set; IF clear */
	e->ds = BOOT_SEL_DATA;
	e->ds_desc = DESC_DATA;
	if (im->format == BOOT_MULTIBOOT) {
		e->mbi = area + AREA_MBI;
		multiboot_info(m->l, e->mbi, h + AREA_MBI);
		e->rax = BOOT_MB_EAX;
		e->rbx = e->mbi;
		e->cr0 = CR0_PE | CR0_ET;
		e->cs = BOOT_SEL_CODE32;
		e->cs_desc = DESC_CODE32;
		return 0;
	}
	e->long_mode = 1;
	e->cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_PG;
	e->cr4 = CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT;
	e->efer = EFER_LME | EFER_LMA | EFER_NXE;
	e->cs = BOOT_SEL_CODE64;
	e->cs_desc = DESC_CODE64;
	return identity_map(m, area, h, e, err);
}
