/*
 * hv's scenario, top to bottom:
 *  1. its own address space: an x86_64 table npt builds (1 GiB leaves over
 *     the first 4 GiB) replaces the boot tables in CR3;
 *  2. the guest's stage 2: an `npt` table built with map_region (2 MiB
 *     leaves, 4 KiB leaves, a read-only range, an uncached range, a hole
 *     mapped on demand), nCR3 from npt_x86_cr3;
 *  3. probes from a seeded plan (loads, stores, fetches), each checked
 *     against npt_query: a fault where query allows the access, an access
 *     that completes where query says no, a nested page fault at another
 *     address or of another kind, a value that is not the byte behind the
 *     translation -- each is a mismatch; a fault in the hole is resolved
 *     by npt_map and the probe runs again;
 *  4. dirty logging: npt_log_start, rounds of stores whose write faults
 *     npt_log_write_fault resolves, npt_log_harvest against the pages
 *     written; npt_log_stop and npt_collapse after;
 *  5. remaps and unmaps, with the flush each record asks for;
 *  6. negative controls: a remap whose flush is skipped (does the TLB serve
 *     the old page?), and a write permission cleared behind npt's back
 *     (the walk must fault where query says writable);
 *  7. every table frame back to the allocator.
 * Every flush record becomes the next VMRUN's TLB_CONTROL through the
 * flush hook. Results go to COM1, one `hv FORMAT:` line each; hv exits through
 * isa-debug-exit with 0 when nothing mismatched.
 */
#include "hv.h"
#include "npt_flush_x86.h"

/* hv.bin runs 4-level paging, hv5.bin 5-level (CR4.LA57): the nested walk
 * follows the host's paging mode (APM vol. 2 §15.25.3), so its stage 2 is
 * npt5 and its own table x86_64-la57. */
#ifdef HV_LA57
#define S1 "x86_64-la57"
#define S2 "npt5"
#else
#define S1 "x86_64"
#define S2 "npt"
#endif
#define TAG "hv " S2 ": "

/* Guest-physical layout */
#define G_CODE      0x1000ull         /* the probe stubs, R|X */
#define G_RAM_A     (2ull << 20)      /* 16 MiB of 2 MiB leaves: dirty logging */
#define G_RAM_A_SZ  (16ull << 20)
#define G_RO        (18ull << 20)     /* 1 MiB read/execute */
#define G_DEV       (19ull << 20)     /* 1 MiB uncached */
#define G_RAM_B     (20ull << 20)     /* 2 MiB of 4 KiB leaves: remaps, unmaps */
#define G_RAM_B_SZ  (2ull << 20)
#define G_HOLE      (32ull << 20)     /* 16 MiB mapped on demand */
#define G_HOLE_SZ   (16ull << 20)
#define G_MMIO      0xfee00000ull     /* never mapped: the VMM emulates, the access is skipped */
#define RWX         (NPT_R | NPT_W | NPT_X)

enum { LOAD, STORE, FETCH };
static const char *const kind_name[] = { "load", "store", "fetch" };
/* mov (%eax),%bl; hlt -- mov %bl,(%eax); hlt -- jmp *%eax (onto a hlt) */
static const uint8_t stubs[] = { 0x8a, 0x18, 0xf4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
				 0x88, 0x18, 0xf4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
				 0xff, 0xe0 };

static struct npt_table *s2;
static unsigned tlb_next;  /* TLB_CONTROL the next VMRUN carries */
static int drop_flush;     /* negative control: forget the next flush record */

static struct {
	unsigned probes, completed, npf, demand, perm, mmio, mismatches;
	unsigned rounds, dirty_pages, remaps, unmaps, collapsed;
	unsigned stale, fresh, flips_seen, flips;
} n;

static void flush_hook(void *arg, const struct npt_flush *f)
{
	(void)arg;
	if (drop_flush) {
		drop_flush = 0;
		return;
	}
	if (f->kind != NPT_FLUSH_NONE)
		tlb_next = npt_svm_tlb_control(f, 0);
}

static uint8_t pattern(uint64_t hpa)
{
	return (uint8_t)((hpa >> 12) * 31 + (hpa & 0xfff));
}

static void fill(uint64_t hpa, uint64_t size)
{
	uint64_t i;

	for (i = 0; i < size; i++)
		*(volatile uint8_t *)(uintptr_t)(hpa + i) = pattern(hpa + i);
}

static void check(int ok, const char *what, uint64_t gpa, uint64_t a, uint64_t b)
{
	if (ok)
		return;
	n.mismatches++;
	if (n.mismatches <= 20)
		hv_printf(TAG "MISMATCH %s at gpa %llx (%llx, %llx)\n", what,
			  (unsigned long long)gpa, (unsigned long long)a, (unsigned long long)b);
}

static void must(int r, const char *what)
{
	if (r) {
		hv_printf(TAG "FAIL %s: %s\n", what, npt_strerror(r));
		hv_exit(2);
	}
}

static void run(unsigned kind, uint64_t gpa, uint8_t value, struct hv_exit *e, uint8_t *bl)
{
	uint64_t rbx = 0;

	hv_svm_run(G_CODE + 0x10 * kind, gpa, value, tlb_next, e, &rbx);
	tlb_next = 0;
	*bl = (uint8_t)rbx;
}

static unsigned need(unsigned kind)
{
	return kind == LOAD ? NPT_R : kind == STORE ? NPT_W : NPT_X;
}

/* One access, checked against npt_query. Returns 1 when it completed, 0
 * on a nested page fault (fault_present: the entry was there). */
static int probe(unsigned kind, uint64_t gpa, int *fault_present)
{
	uint64_t hpa = 0;
	unsigned flags = 0;
	const int q = npt_query(s2, gpa, &hpa, &flags, NULL);
	const int allowed = !q && (flags & need(kind)) == need(kind);
	const uint8_t value = (uint8_t)hv_rnd();
	struct hv_exit e;
	uint8_t bl;

	if (kind == FETCH && !q)
		*(volatile uint8_t *)(uintptr_t)hpa = 0xf4; /* hlt at the target */
	run(kind, gpa, value, &e, &bl);
	if (e.code == HV_EXIT_HLT) {
		check(allowed, "completed where npt_query does not allow it", gpa, q, flags);
		if (!allowed)
			return 1;
		if (kind == LOAD)
			check(bl == *(volatile uint8_t *)(uintptr_t)hpa, "load: not the byte behind the translation",
			      gpa, bl, *(volatile uint8_t *)(uintptr_t)hpa);
		if (kind == STORE)
			check(*(volatile uint8_t *)(uintptr_t)hpa == value, "store: not at the translation", gpa,
			      value, *(volatile uint8_t *)(uintptr_t)hpa);
		if (kind == FETCH)
			check(e.rip == gpa, "fetch: halted elsewhere", gpa, e.rip, 0);
		n.completed++;
		return 1;
	}
	if (e.code != HV_EXIT_NPF) {
		check(0, "unexpected exit", gpa, e.code, e.info1);
		hv_printf(TAG "exit %llx info %llx %llx rip %llx after a %s\n",
			  (unsigned long long)e.code, (unsigned long long)e.info1,
			  (unsigned long long)e.info2, (unsigned long long)e.rip, kind_name[kind]);
		hv_exit(2);
	}
	n.npf++;
	check(!allowed, "a nested page fault where npt_query allows the access", gpa, flags,
	      e.info1);
	check(e.info2 == gpa, "the fault reports another guest-physical address", gpa, e.info2, 0);
	check(!(e.info1 & HV_NPF_P) == (q != 0), "the fault's P bit is not npt_query's", gpa, e.info1,
	      q);
	check(!!(e.info1 & HV_NPF_W) == (kind == STORE), "the fault's W bit is not the access", gpa,
	      e.info1, kind);
	*fault_present = (e.info1 & HV_NPF_P) != 0;
	return 0;
}

/* A probe as the VMM handles it: a fault in the hole is mapped on demand
 * and the access runs again; any other fault is the VMM's to emulate
 * (skipped). */
static void handle(unsigned kind, uint64_t gpa)
{
	int present = 0;

	n.probes++;
	if (probe(kind, gpa, &present))
		return;
	if (present) {
		n.perm++;
		return;
	}
	if (gpa < G_HOLE || gpa >= G_HOLE + G_HOLE_SZ) {
		n.mmio++;
		return;
	}
	{
		const uint64_t page = hv_ram_page();

		if (!page) {
			hv_printf(TAG "FAIL out of guest RAM\n");
			hv_exit(2);
		}
		fill(page, 4096);
		must(npt_map(s2, gpa & ~0xfffull, page, 4096, RWX), "demand npt_map");
		n.demand++;
		check(probe(kind, gpa, &present), "a demand-mapped access faulted again", gpa, 0, 0);
	}
}

static uint64_t pick_gpa(void)
{
	const uint64_t r = hv_rnd();

	switch (r % 20) {
	case 0: case 1: case 2: case 3: case 4:
		return G_RAM_A + (r >> 8) % G_RAM_A_SZ;
	case 5: case 6:
		return G_RO + (r >> 8) % (1u << 20);
	case 7: case 8:
		return G_DEV + (r >> 8) % (1u << 20);
	case 9: case 10: case 11:
		return G_RAM_B + (r >> 8) % G_RAM_B_SZ;
	case 12: case 13: case 14: case 15: case 16:
		return G_HOLE + (r >> 8) % G_HOLE_SZ;
	case 17:
		return G_MMIO + (r >> 8) % 4096;
	default:
		return 0x2000 + (r >> 8) % (64ull << 20); /* anywhere, the stubs' page aside */
	}
}

/* ---- 1. hv's own address space ------------------------------------------------ */

static void own_tables(void)
{
	int err;
	struct npt_table *t = npt_new(npt_format_by_name(S1), &hv_mm, &err);

	if (!t)
		must(err, "npt_new " S1);
	must(npt_map_region(t, 0, 0, 4ull << 30, RWX | NPT_G, NPT_MAP_1G), S1 " map_region");
	__asm__ volatile("mov %0, %%cr3" : : "r"(npt_x86_cr3(t)) : "memory");
	hv_printf(TAG "%s stage 1 of 4 1 GiB leaves in CR3 (%llu frames)\n", S1,
		  (unsigned long long)npt_table_frames(t));
}

/* ---- 2. the guest's stage 2 ----------------------------------------------------- */

static void stage2(void)
{
	const uint64_t code = hv_ram_page(), ram_a = hv_ram_block(G_RAM_A_SZ, 2ull << 20);
	const uint64_t ro = hv_ram_block(1u << 20, 4096), dev = hv_ram_block(1u << 20, 4096);
	const uint64_t ram_b = hv_ram_block(G_RAM_B_SZ, 4096);
	int err;

	s2 = npt_new(npt_format_by_name(S2), &hv_mm, &err);
	if (!s2)
		must(err, "npt_new " S2);
	npt_set_flush_hook(s2, flush_hook, NULL, 0);
	memset((void *)(uintptr_t)code, 0, 4096);
	memcpy((void *)(uintptr_t)code, stubs, sizeof(stubs));
	fill(ram_a, G_RAM_A_SZ);
	fill(ro, 1u << 20);
	fill(dev, 1u << 20);
	fill(ram_b, G_RAM_B_SZ);
	must(npt_map(s2, G_CODE, code, 4096, NPT_R | NPT_X), "map the stubs");
	must(npt_map_region(s2, G_RAM_A, ram_a, G_RAM_A_SZ, RWX, NPT_MAP_2M), "map RAM A");
	must(npt_map_region(s2, G_RO, ro, 1u << 20, NPT_R | NPT_X, 0), "map the read-only range");
	must(npt_map_region(s2, G_DEV, dev, 1u << 20, NPT_R | NPT_W | NPT_DEVICE, 0),
	     "map the uncached range");
	must(npt_map_region(s2, G_RAM_B, ram_b, G_RAM_B_SZ, RWX, 0), "map RAM B");
	hv_svm_guest(npt_x86_cr3(s2));
	tlb_next = 1;
	hv_printf(TAG "stage 2 built at run time (%llu frames), nCR3 %llx\n",
		  (unsigned long long)npt_table_frames(s2), (unsigned long long)npt_x86_cr3(s2));
}

/* ---- 4. dirty logging ----------------------------------------------------------- */

static void dirty_logging(void)
{
	static uint64_t written[G_RAM_A_SZ / 4096 / 64], bitmap[G_RAM_A_SZ / 4096 / 64];
	unsigned round, k, i, leaves = 0;
	struct npt_cursor c;

	must(npt_log_start(s2, G_RAM_A, G_RAM_A_SZ, NPT_LOG_LAZY), "npt_log_start");
	for (round = 0; round < 4; round++) {
		memset(written, 0, sizeof(written));
		for (k = 0; k < 150; k++) {
			const uint64_t page = hv_rnd() % (G_RAM_A_SZ / 4096);
			const uint64_t gpa = G_RAM_A + page * 4096 + hv_rnd() % 4096;
			int present = 0;

			n.probes++;
			if (!probe(STORE, gpa, &present)) {
				check(present, "a logged page faulted not present", gpa, 0, 0);
				must(npt_log_write_fault(s2, gpa), "npt_log_write_fault");
				check(probe(STORE, gpa, &present), "a store faulted after npt_log_write_fault",
				      gpa, 0, 0);
			}
			written[page / 64] |= 1ull << (page % 64);
		}
		must(npt_log_harvest(s2, G_RAM_A, G_RAM_A_SZ, bitmap), "npt_log_harvest");
		for (i = 0; i < G_RAM_A_SZ / 4096 / 64; i++) {
			check(bitmap[i] == written[i], "npt_log_harvest is not the pages written",
			      G_RAM_A + i * 64 * 4096, bitmap[i], written[i]);
			n.dirty_pages += (unsigned)__builtin_popcountll(bitmap[i]);
		}
		n.rounds++;
	}
	must(npt_log_stop(s2, G_RAM_A, G_RAM_A_SZ), "npt_log_stop");
	must(npt_collapse(s2, G_RAM_A, G_RAM_A_SZ), "npt_collapse");
	npt_cursor_init(&c, s2, G_RAM_A, G_RAM_A_SZ, NPT_WALK_LEAF);
	while (npt_cursor_next(&c))
		leaves++;
	n.collapsed = leaves;
	check(leaves == G_RAM_A_SZ >> 21, "npt_collapse did not rebuild the 2 MiB leaves", G_RAM_A,
	      leaves, 0);
}

/* ---- 5. remaps and unmaps ------------------------------------------------------- */

static void remaps(void)
{
	unsigned k;
	int present;

	for (k = 0; k < 60; k++) {
		const uint64_t gpa = G_RAM_B + (hv_rnd() % (G_RAM_B_SZ / 4096)) * 4096 + hv_rnd() % 4096;
		const uint64_t page = hv_ram_page();
		uint64_t hpa;

		if (npt_query(s2, gpa, &hpa, NULL, NULL))
			continue;
		n.probes++;
		probe(LOAD, gpa, &present); /* the old translation, in the TLB */
		fill(page, 4096);
		must(npt_remap(s2, gpa & ~0xfffull, page, RWX), "npt_remap");
		n.remaps++;
		n.probes++;
		check(probe(LOAD, gpa, &present), "a remapped page faulted", gpa, 0, 0);
		check(npt_query(s2, gpa, &hpa, NULL, NULL) == 0 && hpa == page + (gpa & 0xfff),
		      "npt_query does not say the new page", gpa, hpa, page);
	}
	for (k = 0; k < 20; k++) {
		const uint64_t gpa = G_RAM_B + (hv_rnd() % (G_RAM_B_SZ / 4096)) * 4096;

		if (npt_query(s2, gpa, NULL, NULL, NULL))
			continue;
		n.probes++;
		probe(LOAD, gpa, &present);
		must(npt_unmap(s2, gpa, NULL, NULL), "npt_unmap");
		n.unmaps++;
		n.probes++;
		check(!probe(LOAD, gpa, &present) && !present, "an unmapped page did not fault", gpa, 0,
		      0);
	}
}

/* ---- 6. negative controls ------------------------------------------------------- */

static uint64_t *leaf_slot(uint64_t gpa)
{
	struct npt_cursor c;
	uint64_t table = 0;

	npt_cursor_init(&c, s2, gpa & ~0xfffull, 4096, NPT_WALK_TABLE_PRE);
	while (npt_cursor_next(&c))
		if (c.v.level == 1)
			table = c.v.pa;
	return table ? (uint64_t *)(uintptr_t)(table + ((gpa >> 12) & 511) * 8) : NULL;
}

static void negative_controls(void)
{
	unsigned k;
	int present;

	/* a remap whose flush is dropped: the old page may still answer */
	for (k = 0; k < 10; k++) {
		const uint64_t gpa = G_RAM_B + (hv_rnd() % (G_RAM_B_SZ / 4096)) * 4096 + 0x123;
		const uint64_t page = hv_ram_page();
		uint64_t old;
		struct hv_exit e;
		uint8_t bl;

		if (npt_query(s2, gpa, &old, NULL, NULL))
			continue;
		fill(page, 4096);
		*(volatile uint8_t *)(uintptr_t)(page + 0x123) = (uint8_t)~*(volatile uint8_t *)(uintptr_t)old;
		run(LOAD, gpa, 0, &e, &bl); /* in the TLB now */
		drop_flush = 1;
		must(npt_remap(s2, gpa & ~0xfffull, page, RWX), "npt_remap");
		run(LOAD, gpa, 0, &e, &bl);
		if (e.code == HV_EXIT_HLT && bl == *(volatile uint8_t *)(uintptr_t)old)
			n.stale++;
		else if (e.code == HV_EXIT_HLT && bl == *(volatile uint8_t *)(uintptr_t)(page + 0x123))
			n.fresh++;
		tlb_next = 1;
		n.probes++;
		check(probe(LOAD, gpa, &present), "the remapped page faulted after its flush", gpa, 0, 0);
	}
	/* write permission cleared in the entry behind npt's back: the walk must
	 * fault although npt_query says writable */
	for (k = 0; k < 10; k++) {
		const uint64_t gpa = G_RAM_B + (hv_rnd() % (G_RAM_B_SZ / 4096)) * 4096;
		uint64_t *slot = leaf_slot(gpa), old;
		unsigned flags;
		struct hv_exit e;
		uint8_t bl;

		if (!slot || npt_query(s2, gpa, NULL, &flags, NULL) || !(flags & NPT_W))
			continue;
		old = *slot;
		*slot = old & ~2ull; /* R/W */
		tlb_next = 1;
		run(STORE, gpa, 0x5a, &e, &bl);
		n.flips++;
		if (e.code == HV_EXIT_NPF && e.info2 == gpa && (e.info1 & (HV_NPF_P | HV_NPF_W)) ==
								       (HV_NPF_P | HV_NPF_W))
			n.flips_seen++;
		*slot = old;
		tlb_next = 1;
		n.probes++;
		check(probe(STORE, gpa, &present), "a store faulted after the entry came back", gpa, 0, 0);
	}
}

void hv_main(void);

void hv_main(void)
{
	unsigned k;
	uint64_t frames;

	hv_seed(1);
	hv_printf(TAG "start\n");
	own_tables();
	if (hv_svm_init()) {
		hv_printf(TAG "FAIL no SVM with nested paging (-cpu ...,+svm,+npt)\n");
		hv_exit(2);
	}
	frames = hv_mm_live();
	stage2();
	for (k = 0; k < 3000; k++) {
		uint64_t gpa = pick_gpa();
		unsigned kind = (unsigned)(hv_rnd() % 20);

		kind = kind < 10 ? LOAD : kind < 17 ? STORE : FETCH;
		handle(kind, gpa);
	}
	hv_printf(TAG "probes %u completed %u npf %u demand %u perm %u mmio %u\n", n.probes,
		  n.completed, n.npf, n.demand, n.perm, n.mmio);
	dirty_logging();
	hv_printf(TAG "dirty rounds %u pages %u collapsed %u\n", n.rounds, n.dirty_pages,
		  n.collapsed);
	remaps();
	hv_printf(TAG "remaps %u unmaps %u\n", n.remaps, n.unmaps);
	negative_controls();
	hv_printf(TAG "negative flush stale %u fresh %u; negative permission %u of %u faulted\n",
		  n.stale, n.fresh, n.flips_seen, n.flips);
	npt_free(s2);
	check(hv_mm_live() == frames, "npt_free did not give every frame back", 0, hv_mm_live(),
	      frames);
	hv_printf(TAG "mismatches %u\n", n.mismatches);
	hv_exit(n.mismatches ? 1 : 0);
}
