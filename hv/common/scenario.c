/*
 * The scenario every hv runs, top to bottom, on one stage-2 format:
 *  1. the guest's stage 2 built at run time with map_region (2 MiB leaves,
 *     4 KiB leaves, a read-only range, a device range, a hole mapped on
 *     demand) and loaded by the architecture;
 *  2. probes from a seeded plan (loads, stores, fetches), each checked
 *     against npt_query: an access that completes where query does not
 *     allow it, a fault where query allows it, a fault of another kind (not
 *     mapped, permission, access flag), at another address or level, or
 *     for a store that did not write, a load that read another byte than
 *     the one behind the translation -- each is a mismatch. A fault in the
 *     hole is mapped on demand (npt_map) and the access runs again;
 *  3. accessed flags harvested (npt_harvest): where the hardware faults on
 *     a clear one, the fault is resolved by npt_log_access_fault;
 *  4. dirty logging: npt_log_start, rounds of stores whose write faults
 *     npt_log_write_fault resolves, npt_log_harvest against the pages
 *     written; npt_log_stop and npt_collapse after;
 *  5. remaps and unmaps;
 *  6. negative controls: a remap whose flush is dropped (the TLB may serve
 *     the old page: counted), and a write permission cleared behind npt's
 *     back (the walk must fault although npt_query says writable);
 *  7. the guest on a stage-1 table of its own: one npt builds in guest
 *     memory, turned on, and accesses through both
 *     stages checked against npt_translate_2d -- completed at the hpa it
 *     says, or the fault at the stage, address, kind and level it says;
 *  8. every table frame back to the allocator.
 * Every flush record goes to the architecture's flush (the flush hook, and
 * the break-before-make hook where the format needs it). Results go to the
 * console, one `hv FORMAT:` line each.
 */
#include "hv.h"

/* Guest-physical layout */
#define G_RAM_A     (2ull << 20)      /* 16 MiB of 2 MiB leaves: dirty logging */
#define G_RAM_A_SZ  (16ull << 20)
#define G_RO        (18ull << 20)     /* 1 MiB read/execute */
#define G_DEV       (19ull << 20)     /* 1 MiB device memory */
#define G_RAM_B     (20ull << 20)     /* 2 MiB of 4 KiB leaves: accessed flags, remaps, unmaps */
#define G_RAM_B_SZ  (2ull << 20)
#define G_HOLE      (32ull << 20)     /* 16 MiB mapped on demand */
#define G_HOLE_SZ   (16ull << 20)
#define G_MMIO      0xfee00000ull     /* never mapped: the VMM emulates, the access is skipped */
#define RWX         (NPT_R | NPT_W | NPT_X)

static const char *const kind_name[] = { "load", "store", "fetch" };
static const char *const fault_name[] = { "none", "not mapped", "permission", "access flag",
					   "unknown" };

static const struct hv_arch *arch;
static const char *fmt;
static struct npt_table *s2;
static int af_faults;  /* the format has an accessed flag hardware faults on when clear */
static int drop_flush; /* negative control: forget the next flush record */

static struct {
	unsigned probes, completed, faults, demand, perm, access, hw_a, mmio, mismatches;
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
		arch->flush(f);
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

static uint8_t byte_at(uint64_t hpa)
{
	return *(volatile uint8_t *)(uintptr_t)hpa;
}

static void check(int ok, const char *what, uint64_t gpa, uint64_t a, uint64_t b)
{
	if (ok)
		return;
	n.mismatches++;
	if (n.mismatches <= 20)
		hv_printf("hv %s: MISMATCH %s at gpa %llx (%llx, %llx)\n", fmt, what,
			  (unsigned long long)gpa, (unsigned long long)a, (unsigned long long)b);
}

static void must(int r, const char *what)
{
	if (r) {
		hv_printf("hv %s: FAIL %s: %s\n", fmt, what, npt_strerror(r));
		hv_exit(2);
	}
}

static unsigned need(unsigned kind)
{
	return kind == HV_LOAD ? NPT_R : kind == HV_STORE ? NPT_W : NPT_X;
}

struct path {
	unsigned lowest; /* the lowest table level on the way, levels when none */
};

static int path_visit(const struct npt_visit *v, void *arg)
{
	struct path *p = arg;

	if (v->level < p->lowest)
		p->lowest = v->level;
	return 0;
}

/* The level of the entry a walk of gpa ends at, in npt's numbering. */
static int walk_level(uint64_t gpa)
{
	struct npt_format_info fi;
	struct path p;
	uint64_t size;

	npt_format_info(npt_table_format(s2), &fi);
	if (!npt_query(s2, gpa, NULL, NULL, &size))
		return (__builtin_ctzll(size) - 12) / 9; /* size = 2^(12 + 9 * level) */
	p.lowest = fi.levels;
	npt_walk(s2, gpa & ~0xfffull, 4096, NPT_WALK_TABLE_PRE, path_visit, &p);
	return (int)p.lowest - 1;
}

/* The fault npt_query says an access of kind at gpa takes, 0 for none;
 * a_clear: the leaf's accessed flag is clear. */
static int expected_a(unsigned kind, uint64_t gpa, uint64_t *hpa, int *a_clear)
{
	unsigned flags = 0;

	*a_clear = 0;
	if (npt_query(s2, gpa, hpa, &flags, NULL))
		return HV_F_TRANSLATION;
	if (af_faults && !(flags & NPT_A))
		return HV_F_ACCESS; /* Arm: before a permission fault (translate.c, arm_s2_hw) */
	if ((flags & need(kind)) != need(kind))
		return HV_F_PERMISSION;
	*a_clear = !(flags & NPT_A);
	return 0;
}

static int expected(unsigned kind, uint64_t gpa, uint64_t *hpa)
{
	int a_clear;

	return expected_a(kind, gpa, hpa, &a_clear);
}

/* One access, checked against npt_query. Returns 0 when it completed, else
 * the fault it took. */
static int probe(unsigned kind, uint64_t gpa)
{
	uint64_t hpa = 0;
	int a_clear;
	const int want = expected_a(kind, gpa, &hpa, &a_clear);
	const uint8_t value = (uint8_t)hv_rnd();
	struct hv_result r;
	unsigned flags = 0;

	if (kind == HV_FETCH && want != HV_F_TRANSLATION)
		memcpy((void *)(uintptr_t)hpa, arch->ret, arch->ret_size);
	arch->run(kind, gpa, value, &r);
	if (r.other) {
		hv_printf("hv %s: FAIL %s after a %s of gpa %llx\n", fmt, r.other, kind_name[kind],
			  (unsigned long long)gpa);
		hv_exit(2);
	}
	if (r.done) {
		check(!want, "completed where npt_query says it faults", gpa, want, 0);
		if (want)
			return 0;
		if (kind == HV_LOAD)
			check(r.value == byte_at(hpa), "load: not the byte behind the translation", gpa,
			      r.value, byte_at(hpa));
		if (kind == HV_STORE)
			check(byte_at(hpa) == value, "store: not at the translation", gpa, value,
			      byte_at(hpa));
		if (kind == HV_FETCH)
			check(r.pc == gpa, "fetch: stopped elsewhere", gpa, r.pc, 0);
		if (a_clear) {
			/* the hardware manages the accessed flag: it set it in npt's leaf */
			npt_query(s2, gpa, NULL, &flags, NULL);
			check(flags & NPT_A, "an access left the accessed flag clear", gpa, flags, 0);
			n.hw_a++;
		}
		n.completed++;
		return 0;
	}
	n.faults++;
	if (r.fault == HV_F_UNKNOWN) {
		/* RISC-V's guest-page faults do not say why: the VMM asks its table */
		check(want != 0, "a fault where npt_query allows the access", gpa, 0, 0);
		r.fault = want ? want : HV_F_UNKNOWN;
	}
	if (r.fault != want && n.mismatches < 20)
		hv_printf("hv %s: a %s of gpa %llx: fault %s, npt_query says %s\n", fmt, kind_name[kind],
			  (unsigned long long)gpa, fault_name[r.fault], fault_name[want]);
	check(r.fault == want, "the fault is not the one npt_query says", gpa, r.fault, want);
	check(r.gpa == gpa, "the fault reports another guest-physical address", gpa, r.gpa, 0);
	check(r.write == (kind == HV_STORE), "the fault's write bit is not the access's", gpa,
	      r.write, kind);
	if (r.level >= 0)
		check(r.level == walk_level(gpa), "the fault's level is not the walk's", gpa,
		      (uint64_t)r.level, (uint64_t)walk_level(gpa));
	return r.fault;
}

/* A probe as the VMM handles it: a fault in the hole is mapped on demand
 * and an access-flag fault resolved, and the access runs again; any other
 * fault is the VMM's to emulate (skipped). */
static void handle(unsigned kind, uint64_t gpa)
{
	int f;

	n.probes++;
	f = probe(kind, gpa);
	if (!f)
		return;
	if (f == HV_F_ACCESS) {
		n.access++;
		must(npt_log_access_fault(s2, gpa), "npt_log_access_fault");
		check(probe(kind, gpa) != HV_F_ACCESS, "an access-flag fault came back", gpa, 0, 0);
		return;
	}
	if (f == HV_F_PERMISSION) {
		n.perm++;
		return;
	}
	if (gpa < G_HOLE || gpa >= G_HOLE + G_HOLE_SZ) {
		n.mmio++;
		return;
	}
	{
		const uint64_t page = hv_ram_page();

		fill(page, 4096);
		must(npt_map(s2, gpa & ~0xfffull, page, 4096, RWX), "demand npt_map");
		n.demand++;
		check(!probe(kind, gpa), "a demand-mapped access faulted again", gpa, 0, 0);
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
		return 0x2000 + (r >> 8) % (64ull << 20); /* anywhere, the first pages aside */
	}
}

/* ---- 1. the guest's stage 2 ----------------------------------------------------- */

static void build(void)
{
	const uint64_t ram_a = hv_ram_block(G_RAM_A_SZ, 2ull << 20);
	const uint64_t ro = hv_ram_block(1u << 20, 4096), dev = hv_ram_block(1u << 20, 4096);
	const uint64_t ram_b = hv_ram_block(G_RAM_B_SZ, 4096);
	struct npt_format_info fi;
	int err;

	s2 = npt_new(npt_format_by_name(fmt), &hv_mm, &err);
	if (!s2)
		must(err, "npt_new");
	npt_format_info(npt_table_format(s2), &fi);
	npt_set_flush_hook(s2, flush_hook, NULL, 0);
	if (fi.features & NPT_FEATURE_BBM)
		npt_set_bbm_hook(s2, flush_hook, NULL);
	fill(ram_a, G_RAM_A_SZ);
	fill(ro, 1u << 20);
	fill(dev, 1u << 20);
	fill(ram_b, G_RAM_B_SZ);
	must(npt_map_region(s2, arch->stubs_gpa, arch->stubs_pa, arch->stub_size, NPT_R | NPT_X, 0),
	     "map the stubs");
	must(npt_map_region(s2, G_RAM_A, ram_a, G_RAM_A_SZ, RWX, NPT_MAP_2M), "map RAM A");
	must(npt_map_region(s2, G_RO, ro, 1u << 20, NPT_R | NPT_X, 0), "map the read-only range");
	must(npt_map_region(s2, G_DEV, dev, 1u << 20, NPT_R | NPT_W | NPT_DEVICE, 0),
	     "map the device range");
	must(npt_map_region(s2, G_RAM_B, ram_b, G_RAM_B_SZ, RWX, 0), "map RAM B");
	arch->guest(s2);
	arch->flush_all();
	hv_printf("hv %s: stage 2 built at run time (%llu frames)\n", fmt,
		  (unsigned long long)npt_table_frames(s2));
}

/* ---- 3. accessed flags ---------------------------------------------------------- */

static void accessed(void)
{
	static uint64_t bitmap[G_RAM_B_SZ / 4096 / 64];
	unsigned k, before = n.access, hw_before = n.hw_a;

	must(npt_harvest(s2, G_RAM_B, G_RAM_B_SZ, NPT_A, bitmap), "npt_harvest");
	for (k = 0; k < 300; k++)
		handle(hv_rnd() % 2 ? HV_LOAD : HV_STORE, G_RAM_B + hv_rnd() % G_RAM_B_SZ);
	hv_printf("hv %s: accessed flags harvested, %u access-flag faults resolved, %u set by the "
		  "hardware\n", fmt, n.access - before, n.hw_a - hw_before);
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
			int f;

			n.probes++;
			f = probe(HV_STORE, gpa);
			if (f) {
				check(f == HV_F_PERMISSION, "a logged page took another fault", gpa, f, 0);
				must(npt_log_write_fault(s2, gpa), "npt_log_write_fault");
				check(!probe(HV_STORE, gpa), "a store faulted after npt_log_write_fault", gpa,
				      0, 0);
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

	for (k = 0; k < 60; k++) {
		const uint64_t gpa = G_RAM_B + (hv_rnd() % (G_RAM_B_SZ / 4096)) * 4096 + hv_rnd() % 4096;
		const uint64_t page = hv_ram_page();
		uint64_t hpa;

		if (expected(HV_LOAD, gpa, &hpa))
			continue;
		n.probes += 2;
		probe(HV_LOAD, gpa); /* the old translation, in the TLB */
		fill(page, 4096);
		must(npt_remap(s2, gpa & ~0xfffull, page, RWX), "npt_remap");
		n.remaps++;
		check(!probe(HV_LOAD, gpa), "a remapped page faulted", gpa, 0, 0);
		check(npt_query(s2, gpa, &hpa, NULL, NULL) == 0 && hpa == page + (gpa & 0xfff),
		      "npt_query does not say the new page", gpa, hpa, page);
	}
	for (k = 0; k < 20; k++) {
		const uint64_t gpa = G_RAM_B + (hv_rnd() % (G_RAM_B_SZ / 4096)) * 4096;
		uint64_t hpa;

		if (expected(HV_LOAD, gpa, &hpa))
			continue;
		n.probes += 2;
		probe(HV_LOAD, gpa);
		must(npt_unmap(s2, gpa, NULL, NULL), "npt_unmap");
		n.unmaps++;
		check(probe(HV_LOAD, gpa) == HV_F_TRANSLATION, "an unmapped page did not fault", gpa,
		      0, 0);
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

	/* a remap whose flush is dropped: the old page may still answer */
	for (k = 0; k < 10; k++) {
		const uint64_t gpa = G_RAM_B + (hv_rnd() % (G_RAM_B_SZ / 4096)) * 4096 + 0x120;
		const uint64_t page = hv_ram_page();
		uint64_t old;
		struct hv_result r;

		if (expected(HV_LOAD, gpa, &old)) {
			k--;
			continue;
		}
		fill(page, 4096);
		*(volatile uint8_t *)(uintptr_t)(page + 0x120) = (uint8_t)~byte_at(old);
		arch->run(HV_LOAD, gpa, 0, &r); /* in the TLB now */
		drop_flush = 1;
		must(npt_remap(s2, gpa & ~0xfffull, page, RWX), "npt_remap");
		drop_flush = 0; /* a format without break-before-make flushes once */
		arch->run(HV_LOAD, gpa, 0, &r);
		if (r.done && r.value == byte_at(old))
			n.stale++;
		else if (r.done && r.value == byte_at(page + 0x120))
			n.fresh++;
		arch->flush_all();
		n.probes++;
		check(!probe(HV_LOAD, gpa), "the remapped page faulted after its flush", gpa, 0, 0);
	}
	/* write permission cleared in the entry behind npt's back: the walk must
	 * fault although npt_query says writable */
	for (k = 0; k < 10; k++) {
		const uint64_t gpa = G_RAM_B + (hv_rnd() % (G_RAM_B_SZ / 4096)) * 4096;
		uint64_t *slot = leaf_slot(gpa), old, hpa;
		struct hv_result r;

		if (!slot || expected(HV_STORE, gpa, &hpa)) {
			k--;
			continue;
		}
		old = *slot;
		*slot = old & ~arch->w_bit;
		arch->flush_all();
		arch->run(HV_STORE, gpa, 0x5a, &r);
		n.flips++;
		if (!r.done && (r.fault == HV_F_PERMISSION || r.fault == HV_F_UNKNOWN) && r.gpa == gpa &&
		    r.write)
			n.flips_seen++;
		*slot = old;
		arch->flush_all();
		n.probes++;
		check(!probe(HV_STORE, gpa), "a store faulted after the entry came back", gpa, 0, 0);
	}
}

/* ---- 7. the guest's own stage 1, two walks: npt_translate_2d ------------------ */

#define G_S1     (48ull << 20) /* 1 MiB of guest RAM for the stage-1 table */
#define G_S1_SZ  (1ull << 20)

static uint64_t s1_next;

static int s1_alloc(void *ctx, uint64_t *pa)
{
	(void)ctx;
	if (s1_next >= G_S1 + G_S1_SZ)
		return -1;
	*pa = s1_next;
	s1_next += 4096;
	return 0;
}

static void s1_free(void *ctx, uint64_t pa)
{
	(void)ctx;
	(void)pa;
}

/* The guest's frames are guest-physical: written through stage 2. */
static void *s1_virt(void *ctx, uint64_t gpa)
{
	uint64_t hpa;

	(void)ctx;
	return npt_query(s2, gpa, &hpa, NULL, NULL) ? NULL : (void *)(uintptr_t)hpa;
}

static const struct npt_mm s1_mm = { .alloc = s1_alloc, .free = s1_free, .phys_to_virt = s1_virt };

struct s1_map {
	uint64_t va, gpa, size;
	unsigned flags;
};

static struct {
	unsigned probes, done, s1, s2, walk, hw_ad;
} t2;

/* One access through both stages, against npt_translate_2d. */
static void probe_2d(const struct npt_table *s1, unsigned kind, uint64_t va)
{
	const uint8_t value = (uint8_t)hv_rnd();
	struct npt_2d o;
	struct hv_result r;
	int walk;

	uint64_t hpa = 0;
	int hw_ad = 0;

	npt_translate_2d(npt_table_format(s1), npt_root(s1), s2, va, need(kind), &o);
	hpa = o.hpa;
	/* npt_translate_2d models hardware that faults on a clear accessed
	 * flag; where the hardware sets it itself (af_faults 0: QEMU's RISC-V
	 * G-stage), such an access goes through. Accepted in exactly that
	 * form -- a stage-2 access-flag fault of the model, the access
	 * completed -- and counted. */
	if (!arch->af_faults && o.fault == NPT_ERR_ACCESSED && o.fault_stage == 2 && o.gpa &&
	    !npt_query(s2, o.gpa, &hpa, NULL, NULL))
		hw_ad = 1;
	if (kind == HV_FETCH && (!o.fault || hw_ad))
		memcpy((void *)(uintptr_t)hpa, arch->ret, arch->ret_size);
	arch->run(kind, va, value, &r);
	t2.probes++;
	if (r.other) {
		hv_printf("hv %s: FAIL %s after a %s of va %llx\n", fmt, r.other, kind_name[kind],
			  (unsigned long long)va);
		hv_exit(2);
	}
	if (r.done && hw_ad) {
		t2.hw_ad++;
		o.fault = 0;
		o.hpa = hpa;
	}
	if (r.done) {
		check(!o.fault, "two stages: completed where npt_translate_2d faults", va, o.fault,
		      o.fault_stage);
		if (o.fault)
			return;
		if (kind == HV_LOAD)
			check(r.value == byte_at(o.hpa), "two stages: load, not the byte at hpa", va,
			      r.value, o.hpa);
		if (kind == HV_STORE)
			check(byte_at(o.hpa) == value, "two stages: store, not at hpa", va, o.hpa, value);
		if (kind == HV_FETCH)
			check(r.pc == va, "two stages: fetch stopped elsewhere", va, r.pc, 0);
		t2.done++;
		return;
	}
	check(o.fault != 0, "two stages: a fault where npt_translate_2d translates", va, r.stage,
	      r.gpa);
	if (!o.fault)
		return;
	check(r.stage == (int)o.fault_stage, "two stages: the fault's stage is not npt_translate_2d's",
	      va, r.stage, o.fault_stage);
	if (r.stage == 1) {
		t2.s1++;
		check(r.va == va, "two stages: the stage-1 fault reports another address", va, r.va, 0);
		if (r.fault != HV_F_UNKNOWN)
			check(r.fault == (o.fault == NPT_ERR_NOT_MAPPED ? HV_F_TRANSLATION
					  : o.fault == NPT_ERR_PERM    ? HV_F_PERMISSION
					  : o.fault == NPT_ERR_ACCESSED ? HV_F_ACCESS : -1),
			      "two stages: the stage-1 fault's kind is not npt_translate_2d's", va, r.fault,
			      (uint64_t)o.fault);
	} else {
		/* a fault reading a stage-1 entry reports that entry's page */
		walk = o.fault_addr != o.gpa || !o.gpa;
		t2.s2++;
		t2.walk += walk;
		check(walk ? r.gpa >> 12 == o.fault_addr >> 12 : r.gpa == o.fault_addr,
		      "two stages: the stage-2 fault reports another address", va, r.gpa, o.fault_addr);
	}
	if (r.level >= 0)
		check(r.level == (int)o.fault_level, "two stages: the fault's level is not npt_translate_2d's",
		      va, (uint64_t)r.level, o.fault_level);
}

static void two_stage(void)
{
	const uint64_t pages = hv_ram_block(G_S1_SZ, 4096);
	static const struct s1_map maps[] = {
		{ 0x10000000, G_RAM_B, G_RAM_B_SZ, RWX },                 /* 4 KiB leaves */
		{ 0x10400000, G_RAM_A, G_RAM_A_SZ, NPT_R | NPT_W },      /* 2 MiB leaves */
		{ 0x12000000, G_RO, 1u << 20, NPT_R | NPT_X },            /* stage-2 read-only */
		{ 0x12200000, G_RAM_B, G_RAM_B_SZ, NPT_R },               /* stage-1 read-only */
		{ 0x12400000, G_HOLE, 2u << 20, NPT_R | NPT_W },          /* stage 2 mostly empty */
		{ 0x12600000, G_MMIO, 4096, NPT_R | NPT_W },              /* stage 2 never mapped */
		{ 0x14000000, G_RAM_B, 4096, NPT_R | NPT_W },             /* its table unmapped in stage 2 */
	};
	struct npt_table *s1;
	struct npt_cursor c;
	unsigned k, i, before = n.mismatches;
	int err;

	if (!arch->s1)
		return;
	memset(&t2, 0, sizeof(t2));
	fill(pages, G_S1_SZ);
	must(npt_map_region(s2, G_S1, pages, G_S1_SZ, RWX, 0), "map the stage-1 table's memory");
	s1_next = G_S1;
	s1 = npt_new(npt_format_by_name(arch->s1), &s1_mm, &err);
	if (!s1)
		must(err, "npt_new stage 1");
	must(npt_map_region(s1, arch->stubs_gpa, arch->stubs_gpa, arch->stub_size, NPT_R | NPT_X, 0),
	     "stage 1: the stubs");
	for (i = 0; i < sizeof(maps) / sizeof(maps[0]); i++)
		must(npt_map_region(s1, maps[i].va, maps[i].gpa, maps[i].size, maps[i].flags,
				    NPT_MAP_2M), "stage 1 map");
	/* the leaf table of the last map goes from stage 2: walks fault reading it */
	npt_cursor_init(&c, s1, 0x14000000, 4096, NPT_WALK_TABLE_PRE);
	while (npt_cursor_next(&c))
		if (c.v.level == 1)
			must(npt_unmap(s2, c.v.pa, NULL, NULL), "unmap a stage-1 table from stage 2");
	arch->flush_all();
	arch->guest_s1(s1);
	for (k = 0; k < 1500; k++) {
		const unsigned m = (unsigned)(hv_rnd() % (sizeof(maps) / sizeof(maps[0]) + 1));
		const unsigned r = (unsigned)(hv_rnd() % 10);
		unsigned kind = r < 5 ? HV_LOAD : r < 9 ? HV_STORE : HV_FETCH;
		uint64_t va = m < sizeof(maps) / sizeof(maps[0])
				      ? maps[m].va + hv_rnd() % maps[m].size
				      : 0x16000000 + hv_rnd() % (1u << 24); /* nothing at stage 1 */

		if (kind == HV_FETCH)
			va &= ~3ull;
		probe_2d(s1, kind, va);
	}
	arch->guest_s1(NULL);
	npt_abandon(s1); /* its frames are guest RAM */
	hv_printf("hv %s: two stages, %s over %s: probes %u completed %u stage-1 faults %u "
		  "stage-2 faults %u (walk %u) hardware A %u, npt_translate_2d mismatches %u\n",
		  fmt, arch->s1, fmt, t2.probes, t2.done, t2.s1, t2.s2, t2.walk, t2.hw_ad,
		  n.mismatches - before);
}

unsigned hv_scenario(const struct hv_arch *a, const char *s2_format)
{
	const uint64_t frames = hv_mm_live();
	unsigned k;

	arch = a;
	fmt = s2_format;
	af_faults = a->af_faults;
	memset(&n, 0, sizeof(n));
	hv_seed(1);
	build();
	for (k = 0; k < 3000; k++) {
		const unsigned r = (unsigned)(hv_rnd() % 20);
		const unsigned kind = r < 10 ? HV_LOAD : r < 17 ? HV_STORE : HV_FETCH;

		handle(kind, kind == HV_FETCH ? pick_gpa() & ~3ull : pick_gpa());
	}
	hv_printf("hv %s: probes %u completed %u faults %u demand %u perm %u mmio %u\n", fmt,
		  n.probes, n.completed, n.faults, n.demand, n.perm, n.mmio);
	accessed();
	dirty_logging();
	hv_printf("hv %s: dirty rounds %u pages %u collapsed %u\n", fmt, n.rounds, n.dirty_pages,
		  n.collapsed);
	remaps();
	hv_printf("hv %s: remaps %u unmaps %u\n", fmt, n.remaps, n.unmaps);
	negative_controls();
	hv_printf("hv %s: negative flush stale %u fresh %u; negative permission %u of %u faulted\n",
		  fmt, n.stale, n.fresh, n.flips_seen, n.flips);
	two_stage();
	npt_free(s2);
	check(hv_mm_live() == frames, "npt_free did not give every frame back", 0, hv_mm_live(),
	      frames);
	hv_printf("hv %s: mismatches %u\n", fmt, n.mismatches);
	return n.mismatches;
}
