/*
 * The stub's kernel half: the guest builds and changes its own page tables
 * with npt, compiled into it freestanding the way a kernel compiles its
 * code (no libc, no red zone, general registers only), and flushes its own
 * TLB from npt's flush records, as an OS kernel does with
 * page_table_multiarch's flush_tlb.
 *
 * The VMM starts the stub on a boot table of its own, then asks for every
 * change through the mailbox (CMD_S1, mailbox.h): S1_INIT gives the frames,
 * the S1_MAP* calls build the table, S1_LOAD moves CR3 onto it. The VMM
 * applies each call to a model table of its own, over the same frame
 * addresses with the same first-fit choices (vmm/pool.c does what
 * s1_alloc below does), and predicts every probe from it; what the guest's
 * CPU walks is only what this file built.
 */
#include <stdint.h>

#include "frames.h"
#include "mailbox.h"
#include "npt.h"
#include "npt_flush_x86.h"

#define PAGE 4096u
#define MAX_FRAMES 65536u /* the VMM's largest stage-1 pool (64 GiB of RAM) fits */

static _Alignas(NPT_TABLE_ALIGN) unsigned char store[NPT_TABLE_SIZE];
static unsigned char state[MAX_FRAMES];
static struct npt_frames frames;
static struct npt_table *table;

/* ---- frames: first fit, runs handed out as single frames (vmm/pool.c) ---- */

static int s1_alloc_n(uint64_t count, uint64_t *pa)
{
	if (npt_frames_take(&frames, count, (count & (count - 1)) ? 1 : count, pa))
		return -1;
	npt_frames_split(&frames, *pa, count);
	return 0;
}

static int s1_alloc(void *ctx, uint64_t *pa)
{
	(void)ctx;
	return s1_alloc_n(1, pa);
}

static int s1_alloc_contig(void *ctx, unsigned count, uint64_t *pa)
{
	(void)ctx;
	return s1_alloc_n(count, pa);
}

/* A bad give is npt's bug or ours: stop where the VMM sees it (#UD). */
static void s1_free_contig(void *ctx, uint64_t pa, unsigned count)
{
	(void)ctx;
	for (unsigned k = 0; k < count; k++)
		if (npt_frames_give(&frames, pa + (uint64_t)k * PAGE, 1))
			__builtin_trap();
}

static void s1_free(void *ctx, uint64_t pa)
{
	s1_free_contig(ctx, pa, 1);
}

/* The frames are identity-mapped (the boot table and our own map them at
 * virtual == physical). */
static void *s1_virt(void *ctx, uint64_t pa)
{
	(void)ctx;
	return (void *)(uintptr_t)pa;
}

static struct npt_mm mm = {
	.alloc = s1_alloc,
	.free = s1_free,
	.phys_to_virt = s1_virt,
	.alloc_contig = s1_alloc_contig,
	.free_contig = s1_free_contig,
	.flags = NPT_MM_LINEAR,
	.linear_offset = 0,
};

/* ---- the TLB ----------------------------------------------------------------- */

static uint64_t read_cr3(void)
{
	uint64_t v;

	__asm__ volatile("mov %%cr3, %0" : "=r"(v));
	return v;
}

/* What npt says a change needs, done with npt_flush_x86.h: INVLPG per
 * entry of each run, or a CR3 reload past 64 pages (this stub uses no
 * global pages and no PCIDs, so that drops everything). Before S1_LOAD the
 * table is not the one CR3 holds: nothing to drop. */
static void flush_tlb(void *arg, const struct npt_flush *f)
{
	(void)arg;
	if (read_cr3() == npt_x86_cr3(table))
		npt_x86_flush(f, 0, 0, 64);
}

/* ---- the command ----------------------------------------------------------- */

static int64_t s1_init(uint64_t pa, uint64_t size)
{
	int err;

	if (table || pa % PAGE || size % PAGE || size / PAGE > MAX_FRAMES)
		return NPT_ERR_INVAL;
	npt_frames_init(&frames, state, pa, size / PAGE);
	table = npt_init(store, sizeof(store), npt_format_by_name("x86_64"), &mm, &err);
	if (!table)
		return err;
	npt_set_flush_hook(table, flush_tlb, NULL, 0);
	return (int64_t)npt_x86_cr3(table);
}

/* Called by stub.S for CMD_S1 with the mailbox; the value goes to MB_RESULT. */
int64_t kernel_s1(volatile uint64_t *mb);
int64_t kernel_s1(volatile uint64_t *mb)
{
	uint64_t op = mb[MB_S1_OP / 8], va = mb[MB_S1_VA / 8], pa = mb[MB_S1_PA / 8];
	uint64_t size = mb[MB_S1_SIZE / 8];
	unsigned flags = (unsigned)mb[MB_S1_FLAGS / 8], opts = (unsigned)mb[MB_S1_OPTS / 8];

	if (op == S1_INIT)
		return s1_init(pa, size);
	if (!table)
		return NPT_ERR_INVAL;
	switch (op) {
	case S1_MAP:
		return npt_map(table, va, pa, size, flags);
	case S1_MAP_REGION:
		return npt_map_region(table, va, pa, size, flags, opts);
	case S1_UNMAP_REGION:
		return npt_unmap_region(table, va, size);
	case S1_PROTECT_REGION:
		return npt_protect_region(table, va, size, flags);
	case S1_LOAD:
		__asm__ volatile("mov %0, %%cr3" : : "r"(npt_x86_cr3(table)) : "memory");
		return (int64_t)read_cr3();
	}
	return NPT_ERR_INVAL;
}
