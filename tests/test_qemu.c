/*
 * The independent check: QEMU's MMU walks tables npt wrote.
 *
 * Each case builds a table with npt (random mixes of 4 KiB / 2 MiB / 1 GiB
 * leaves, read-only, execute-only and device ranges, holes punched into huge
 * leaves, ranges re-protected) with the test allocator placed inside QEMU's
 * RAM, so the frames' fake physical addresses are real guest addresses. It
 * writes the frames and a probe list into files, runs a bare-metal stub
 * (guest/aarch64/stub.S, guest/riscv/stub.S) under QEMU with `-device
 * loader` placing both, and compares every probe's outcome — output address,
 * memory type, fault kind and level, faulting address — with what npt_query
 * and npt_walk say. Layouts and probes come from a seed printed with every
 * mismatch (NPT_QEMU_SEED=... repeats one).
 *
 * Cases: aarch64-s2 and aarch64-s2-48 (stage 2 at EL2: AT S12E1R/W and EL1
 * loads / stores / instruction fetches; HCR_EL2.DC makes PAR_EL1.ATTR show
 * the stage-2 memory type), aarch64 (stage 1: AT S1E1R/W, S1E0R/W and EL1
 * accesses, TTBR0 and TTBR1 halves), sv39x4 and sv48x4 (G-stage: HLV/HSV/
 * HLVX and VS-mode accesses; Svpbmt on, so NPT_DEVICE leaves are walked
 * too), sv39 and sv48 (stage 1, walked as the VS-stage through vsatp:
 * HLV/HSV/HLVX and real VS- and VU-mode accesses). Two negative controls
 * change npt's table after the file is written and require mismatches.
 * Arm fault levels are compared too; RISC-V reports none.
 *
 * QEMU 7.2 quirks met here. npt stays per the specification; each quirk is
 * accepted only in its exact form, only where it applies, and counted:
 *  - RISC-V, HLV/HSV/HLVX ignore hstatus.SPVP: a "VU" hypervisor access is
 *    checked as VS (priv. spec §8.3: SPVP selects VU / VS). Real VU-mode
 *    accesses check the U bit instead.
 *  - RISC-V, HLVX checks read permission like HLV instead of execute
 *    permission (§8.3: execute replaces read). Real instruction fetches
 *    check X instead.
 *  - RISC-V, HLV/HSV/HLVX from HS with satp = Bare report a VS-stage fault
 *    as a load / store access fault (5 / 7) instead of a page fault (13 /
 *    15): QEMU picks the kind from satp, not vsatp. Hence stage-1 RISC-V
 *    layouts map only RAM (an access fault would otherwise be ambiguous),
 *    and real VS-mode accesses see the right kinds.
 *  - RISC-V G-stage: a guest-physical address with its top bit set (bit 40
 *    of Sv39x4's 41, bit 49 of Sv48x4's 50) takes a guest-page fault
 *    although the input is valid (§8.5.1): the upper half of the 2048-entry
 *    root cannot be checked under 7.2. Most G-stage regions go below it.
 *  - RISC-V: A/D are set by hardware (the spec also allows a page fault
 *    instead); AArch64: no hardware Access flag (FEAT_HAFDBS), AF = 0
 *    faults. npt sets A/D and AF on every leaf, so neither shows.
 *
 * The stub needs clang (--target=aarch64-none-elf / riscv64-unknown-elf)
 * and ld.lld at build time; the test exits 77 when QEMU or a stub is absent.
 */
#include <check.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "npt.h"
#include "lib/testmm.h"
#include "../guest/qemu_probe.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define SZ_4K (1ull << 12)
#define SZ_2M (1ull << 21)
#define SZ_1G (1ull << 30)
#define POOL_FRAMES 8192u /* 32 MiB of table frames */
#define QEMU_TIMEOUT_S 20

/* ---- the machine --------------------------------------------------------- */

struct machine {
	const char *qemu;    /* binary */
	const char *stub;    /* guest/<dir>/stub.elf under the build folder */
	const char *const *args; /* machine arguments */
	uint64_t stub_base, hdr, res, pool, scratch, ram, ram_end;
	/* Device windows above 4 GiB ([start, end); none: 0, 0) that probes
	 * access, from `info mtree` of QEMU 7.2 with -m 256M. Non-RAM outputs
	 * stay out of them. Arm has some too (high ECAM, PCIe window at 512
	 * GiB), but AT never touches memory and real accesses only go to
	 * scratch or fault, so Arm keeps probing its whole output range. */
	uint64_t mmio_hi[1][2];
};

static const char *const arm_args[] = { "-M", "virt,virtualization=on", "-cpu", "max", NULL };
static const char *const rv_args[] = { "-M", "virt", "-cpu", "rv64,h=true,svpbmt=on",
				       "-bios", "none", NULL };

static const struct machine arm_machine = {
	"qemu-system-aarch64", "aarch64", arm_args,
	ARM_STUB, ARM_HDR, ARM_RES, ARM_POOL, ARM_SCRATCH, ARM_RAM, ARM_RAM_END,
	{ { 0, 0 } },
};
static const struct machine rv_machine = {
	"qemu-system-riscv64", "riscv", rv_args,
	RV_STUB, RV_HDR, RV_RES, RV_POOL, RV_SCRATCH, RV_RAM, RV_RAM_END,
	/* The PCIe high MMIO window (reads all-ones, writes ignored; hw/riscv/
	 * virt.c puts it at DRAM end rounded up to its 16 GiB size): HLV/HLVX
	 * load, and HSV store to, any mapped non-RAM address. */
	{ { 0x400000000ull, 0x800000000ull } },
};

/* ---- small helpers ------------------------------------------------------- */

static uint64_t rng_state;

static uint64_t rnd(void)
{
	/* xorshift64* */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

static uint64_t rnd_below(uint64_t n)
{
	return n ? rnd() % n : 0;
}

static char *find_in_path(const char *name)
{
	const char *path = getenv("PATH");
	char buf[4096];

	if (!path)
		path = "/usr/bin:/bin";
	while (*path) {
		const char *end = strchr(path, ':');
		size_t len = end ? (size_t)(end - path) : strlen(path);

		snprintf(buf, sizeof(buf), "%.*s/%s", (int)len, path, name);
		if (access(buf, X_OK) == 0)
			return strdup(buf);
		path += len + (end ? 1 : 0);
	}
	return NULL;
}

/* <builddir>/guest/<dir>/stub.elf, from <builddir>/tests/test_qemu. */
static char *stub_path(const char *dir)
{
	char self[4096], *slash, out[4200];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n <= 0)
		return NULL;
	self[n] = 0;
	slash = strrchr(self, '/');
	if (!slash)
		return NULL;
	*slash = 0;
	snprintf(out, sizeof(out), "%s/../guest/%s/stub.elf", self, dir);
	return access(out, R_OK) == 0 ? strdup(out) : NULL;
}

static void put64(unsigned char *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

static uint64_t get64(const unsigned char *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

static int write_file(const char *path, const void *buf, size_t len)
{
	FILE *f = fopen(path, "wb");
	int ok;

	if (!f)
		return -1;
	ok = fwrite(buf, 1, len, f) == len;
	return (fclose(f) == 0 && ok) ? 0 : -1;
}

/* ---- one case -------------------------------------------------------------- */

struct probe {
	uint64_t addr, op, pa;
};

struct region {
	uint64_t va, size;
};

struct qcase {
	const char *fmt_name;
	const struct machine *mach;
	int stage2;
	int control; /* negative control: change npt's table after writing the file */
	/* filled while running */
	const struct npt_format *fmt;
	struct npt_format_info info;
	struct testmm mm;
	struct npt_table *t;
	struct region regions[256];
	unsigned nregions;
	struct probe *probes;
	size_t nprobes, cap;
	uint64_t regs[8];
	uint64_t seed;
	/* counts */
	unsigned ok, translated, faults, real, bad;
	unsigned quirk_spvp, quirk_hlvx, quirk_hlv_fault, quirk_gpa_top;
};

static int is_arm(const struct qcase *c)
{
	return c->mach == &arm_machine;
}

static void add_probe(struct qcase *c, uint64_t addr, uint64_t op, uint64_t pa)
{
	if (c->nprobes == c->cap) {
		c->cap = c->cap ? 2 * c->cap : 1024;
		c->probes = realloc(c->probes, c->cap * sizeof(*c->probes));
		ck_assert_ptr_nonnull(c->probes);
	}
	c->probes[c->nprobes++] = (struct probe){ addr, op, pa };
}

/* Input addresses as npt sees them (sign-extended on canonical formats). */
static uint64_t canon(const struct qcase *c, uint64_t ia)
{
	unsigned s = 64u - c->info.va_bits;

	ia &= (c->info.va_bits == 64) ? ~0ull : (1ull << c->info.va_bits) - 1;
	return c->info.canonical ? (uint64_t)((int64_t)(ia << s) >> s) : ia;
}

/* npt level at which a walk of va stops on an empty entry (the translation
 * fault level), from the deepest table entry npt_walk reports. */
struct depth {
	unsigned level;
};

static int depth_visit(const struct npt_visit *v, void *arg)
{
	struct depth *d = arg;

	if (v->level - 1 < d->level)
		d->level = v->level - 1;
	return 0;
}

static unsigned fault_level(const struct qcase *c, uint64_t va)
{
	struct depth d = { c->info.levels - 1 };

	ck_assert_int_eq(npt_walk(c->t, va & ~(SZ_4K - 1), SZ_4K, NPT_WALK_TABLE_PRE, depth_visit, &d), 0);
	return d.level;
}

static unsigned level_of(uint64_t size)
{
	return size == SZ_4K ? 0 : size == SZ_2M ? 1 : size == SZ_1G ? 2 : 3;
}

/* A random flag set the format encodes (tries until npt_encode_leaf agrees). */
static unsigned random_flags(const struct qcase *c, int want_r)
{
	for (;;) {
		unsigned fl = (unsigned)rnd() & c->info.flags;
		uint64_t pte;

		/* Mostly readable; a few execute-only / write-only / none. */
		if (want_r || rnd_below(8))
			fl |= NPT_R;
		if (rnd_below(4))
			fl &= ~NPT_DEVICE;
		if (npt_encode_leaf(c->fmt, 0, 0, fl, &pte) == 0)
			return fl;
	}
}

static int in_scratch(const struct qcase *c, uint64_t pa, uint64_t len)
{
	return pa >= c->mach->scratch && pa + len <= c->mach->ram_end;
}

/* Map one random region; returns 0 when it went in. */
static int map_random_region(struct qcase *c)
{
	unsigned kind = (unsigned)rnd_below(10);
	uint64_t size, align, va, pa, ia_span = 1ull << c->info.va_bits;
	/* RISC-V stage 1 only into RAM: with QEMU 7.2's HLV fault quirk an
	 * access fault cannot tell "walk failed" from "output not memory". */
	int real = rnd_below(2) == 0 || (!is_arm(c) && !c->stage2);
	unsigned flags = random_flags(c, 0), opts = NPT_MAP_HUGE;
	int err;

	if (kind < 4) {                 /* a run of 4 KiB pages */
		size = SZ_4K * (1 + rnd_below(24));
		align = SZ_4K;
	} else if (kind < 7) {          /* 2 MiB leaves, maybe with 4 KiB edges */
		size = SZ_2M * (1 + rnd_below(3));
		align = SZ_2M;
		if (rnd_below(2))
			size += SZ_4K * (1 + rnd_below(8));
	} else if (kind < 9) {          /* a 1 GiB leaf */
		size = SZ_1G;
		align = SZ_1G;
	} else {                        /* a mixed range: 4 KiB head, 2 MiB body */
		size = SZ_2M * (1 + rnd_below(2)) + SZ_4K * (1 + rnd_below(16));
		align = SZ_4K;
		real = 1;
	}
	/* RISC-V G-stage: QEMU 7.2 cannot reach the root's upper half (quirk 3
	 * in check_rv), so most regions go below the top input bit. */
	if (!is_arm(c) && c->stage2 && rnd_below(4))
		ia_span >>= 1;
	va = canon(c, rnd_below(ia_span / align) * align);
	if (kind == 9)
		va = canon(c, (rnd_below(ia_span / SZ_2M) * SZ_2M) - SZ_4K * (1 + rnd_below(4)));
	if (real) {
		/* Output inside RAM so loads, stores and fetches are safe: 1 GiB
		 * leaves cover all of RAM (probes pick scratch offsets), smaller
		 * ones land in scratch with the same offset inside 2 MiB as va. */
		if (align == SZ_1G)
			pa = c->mach->ram & ~(SZ_1G - 1);
		else
			pa = c->mach->scratch +
			     rnd_below((c->mach->ram_end - c->mach->scratch - size - SZ_2M) / SZ_2M) *
				     SZ_2M + (va & (SZ_2M - 1));
	} else {
		unsigned pbits = c->info.pa_bits > 48 ? 48 : c->info.pa_bits;

		/* Above the low 4 GiB and off the high device windows: nothing
		 * behind a probe, so an access there is an access fault (an HLV
		 * into the RISC-V PCIe window would read all-ones instead). */
		pa = (1ull << 32) + rnd_below(((1ull << pbits) - (1ull << 32)) / align) * align;
		pa |= va & (align - 1) & (SZ_2M - 1);
		if (pa + size > (1ull << pbits))
			return -1;
		for (unsigned w = 0; w < NELEM(c->mach->mmio_hi); w++)
			if (pa < c->mach->mmio_hi[w][1] && pa + size > c->mach->mmio_hi[w][0])
				return -1;
	}
	/* Never over the stub's identity mapping or its user alias. */
	if (va < c->mach->stub_base + 2 * SZ_2M && va + size > c->mach->stub_base)
		return -1;
	err = npt_map_region(c->t, va, pa, size, flags, opts);
	if (err == NPT_ERR_ALREADY_MAPPED || err == NPT_ERR_RANGE)
		return -1;
	ck_assert_msg(err == 0, "%s: map_region %#" PRIx64 " -> %#" PRIx64 " size %#" PRIx64
		      " flags %#x: %s", c->fmt_name, va, pa, size, flags, npt_strerror(err));
	if (c->nregions < NELEM(c->regions))
		c->regions[c->nregions++] = (struct region){ va, size };
	return 0;
}

/* Punch a hole into, or re-protect part of, a mapped region. */
static void modify_region(struct qcase *c, const struct region *r)
{
	uint64_t pages = r->size / SZ_4K, first = rnd_below(pages), n = 1 + rnd_below(pages - first);
	uint64_t va = r->va + first * SZ_4K, len = n * SZ_4K;
	int err;

	if (n > 64 && rnd_below(2))
		len = SZ_4K * (1 + rnd_below(64));
	if (rnd_below(2))
		err = npt_unmap_region(c->t, va, len);
	else
		err = npt_protect_region(c->t, va, len, random_flags(c, 0));
	/* Part of it may be gone already (an earlier hole). */
	ck_assert_msg(err == 0 || err == NPT_ERR_NOT_MAPPED, "%s: modify %#" PRIx64 ": %s",
		      c->fmt_name, va, npt_strerror(err));
}

/* ---- per-architecture ops and expectations ------------------------------------ */

static void arm_registers(struct qcase *c)
{
	if (c->stage2) {
		c->regs[0] = 0x80001001ull;  /* HCR_EL2: RW, DC (stage 1 off = normal WB), VM */
		c->regs[1] = npt_arm_vtcr(c->t);
		c->regs[2] = npt_arm_vttbr(c->t, 0);
		c->regs[3] = 0x30d00800ull;  /* SCTLR_EL1: RES1 bits, MMU off */
	} else {
		c->regs[0] = 0x80000000ull;  /* HCR_EL2: RW, stage 2 off */
		c->regs[3] = 0x30d01805ull;  /* SCTLR_EL1: RES1, M, C, I */
		c->regs[4] = npt_arm_tcr(c->t);
		c->regs[5] = NPT_ARM_MAIR;
		c->regs[6] = npt_root(c->t);
		c->regs[7] = npt_root(c->t);
	}
}

static void rv_registers(struct qcase *c)
{
	c->regs[2] = 1ull << 62;                        /* henvcfg.PBMTE (Svpbmt) */
	c->regs[3] = 1ull << 18;                        /* vsstatus.SUM */
	if (c->stage2) {
		c->regs[0] = npt_riscv_hgatp(c->t, 0);
	} else {
		c->regs[1] = npt_riscv_satp(c->t, 0);   /* vsatp has satp's layout */
		c->regs[4] = c->mach->stub_base + SZ_2M; /* the stub's user alias */
	}
}

static int in_ram(const struct qcase *c, uint64_t pa)
{
	return pa >= c->mach->ram && pa < c->mach->ram_end;
}

/* Probes for one address. AArch64: every AT op (they touch no memory), plus
 * real EL1 accesses where safe: a fault, or an output address in scratch RAM.
 * RISC-V has no AT: HLV/HSV/HLVX access memory, so stores only go to scratch
 * or outside RAM and the low 4 GiB of devices (map_random_region keeps
 * non-RAM outputs above 4 GiB), loads anywhere mapped. */
static void probe_address(struct qcase *c, uint64_t va)
{
	uint64_t pa = 0, size = 0, tag_pa;
	unsigned flags = 0;
	int q, scratch, safe_store;

	va &= ~7ull;
	q = npt_query(c->t, va, &pa, &flags, &size);
	if (q == NPT_ERR_RANGE)
		return;
	ck_assert_msg(q == 0 || q == NPT_ERR_NOT_MAPPED, "query %#" PRIx64 ": %d", va, q);
	scratch = q == 0 && in_scratch(c, pa, 8);
	safe_store = q != 0 || scratch || !in_ram(c, pa);
	tag_pa = scratch ? pa : ~0ull;
	if (is_arm(c)) {
		add_probe(c, va, ARM_OP_AT_E1R, ~0ull);
		add_probe(c, va, ARM_OP_AT_E1W, ~0ull);
		if (!c->stage2) {
			add_probe(c, va, ARM_OP_AT_E0R, ~0ull);
			add_probe(c, va, ARM_OP_AT_E0W, ~0ull);
		}
	} else {
		for (unsigned user = 0; user <= !c->stage2; user++) {
			add_probe(c, va, user ? RV_OP_HLV_VU : RV_OP_HLV_VS, tag_pa);
			if (safe_store)
				add_probe(c, va, user ? RV_OP_HSV_VU : RV_OP_HSV_VS, tag_pa);
			add_probe(c, va, user ? RV_OP_HLVX_VU : RV_OP_HLVX_VS, tag_pa);
		}
	}
	if (q == 0 && !scratch)
		return;
	add_probe(c, va, is_arm(c) ? ARM_OP_LOAD : RV_OP_LOAD, tag_pa);
	add_probe(c, va, is_arm(c) ? ARM_OP_STORE : RV_OP_STORE, tag_pa);
	/* Instruction fetch from Device memory is not something to probe. */
	if (q != 0 || !(flags & NPT_DEVICE))
		add_probe(c, va, is_arm(c) ? ARM_OP_EXEC : RV_OP_EXEC, tag_pa);
	/* RISC-V stage 1: the same from VU (QEMU 7.2's HLV ignores SPVP, so
	 * only real U-mode accesses check the U bit). */
	if (!is_arm(c) && !c->stage2) {
		add_probe(c, va, RV_OP_U_LOAD, tag_pa);
		add_probe(c, va, RV_OP_U_STORE, tag_pa);
		if (q != 0 || !(flags & NPT_DEVICE))
			add_probe(c, va, RV_OP_U_EXEC, tag_pa);
	}
}

static void make_probes(struct qcase *c)
{
	for (unsigned i = 0; i < c->nregions; i++) {
		const struct region *r = &c->regions[i];

		probe_address(c, r->va);
		probe_address(c, r->va + r->size - 8);
		probe_address(c, r->va - 8);
		probe_address(c, r->va + r->size);
		for (unsigned k = 0; k < 4; k++) {
			uint64_t off = rnd_below(r->size);

			/* Inside a 1 GiB leaf onto RAM: land in scratch. */
			if (r->size == SZ_1G && rnd_below(2))
				off = (c->mach->scratch & (SZ_1G - 1)) +
				      rnd_below(c->mach->ram_end - c->mach->scratch);
			probe_address(c, r->va + off);
		}
	}
	for (unsigned k = 0; k < 200; k++)
		probe_address(c, canon(c, rnd()));
}

/* Arm fault status codes (ESR DFSC/IFSC, PAR FST): D17.2 ESR_ELx ISS. */
#define FSC_TRANSLATION(l) (0x04u | (l))
#define FSC_PERMISSION(l)  (0x0cu | (l))

struct expect {
	int mapped, allowed;
	uint64_t pa;
	unsigned flags, level; /* npt level: leaf, or where the walk stopped */
};

static void expect_of(const struct qcase *c, uint64_t va, struct expect *e)
{
	uint64_t size = 0;

	memset(e, 0, sizeof(*e));
	e->mapped = npt_query(c->t, va, &e->pa, &e->flags, &size) == 0;
	e->level = e->mapped ? level_of(size) : fault_level(c, va);
}

static int arm_allowed(const struct qcase *c, uint64_t op, unsigned fl)
{
	switch (op) {
	case ARM_OP_AT_E1R:
	case ARM_OP_LOAD:
		return !!(fl & NPT_R);
	case ARM_OP_AT_E1W:
	case ARM_OP_STORE:
		return !!(fl & NPT_W);
	case ARM_OP_AT_E0R:
		return (fl & (NPT_U | NPT_R)) == (NPT_U | NPT_R);
	case ARM_OP_AT_E0W:
		return (fl & (NPT_U | NPT_W)) == (NPT_U | NPT_W);
	default: /* EXEC at EL1: stage 1 EL0 pages are PXN (arch/aarch64.c) */
		return (fl & NPT_X) && (c->stage2 || !(fl & NPT_U));
	}
}

static int rv_allowed(const struct qcase *c, uint64_t op, unsigned fl)
{
	int user = op == RV_OP_HLV_VU || op == RV_OP_HSV_VU || op == RV_OP_HLVX_VU ||
		   op >= RV_OP_U_LOAD;

	/* G-stage: every access is a U-mode access to a U leaf (npt sets U). */
	if (!c->stage2 && user && !(fl & NPT_U))
		return 0;
	switch (op) {
	case RV_OP_HLV_VS:
	case RV_OP_HLV_VU:
	case RV_OP_LOAD:
	case RV_OP_U_LOAD:
		return !!(fl & NPT_R); /* SUM = 1: S reads U pages; MXR = 0 */
	case RV_OP_HSV_VS:
	case RV_OP_HSV_VU:
	case RV_OP_STORE:
	case RV_OP_U_STORE:
		return !!(fl & NPT_W);
	default: /* HLVX, EXEC: S-mode never executes U pages */
		return (fl & NPT_X) && (c->stage2 || user || !(fl & NPT_U));
	}
}

static int report(struct qcase *c, const struct probe *p, const uint64_t *r, const char *why)
{
	struct expect e;

	expect_of(c, p->addr, &e);
	if (c->bad++ < 20 && !c->control)
		fprintf(stderr, "%s seed %#" PRIx64 ": addr %#" PRIx64 " op %" PRIu64 ": %s "
			"(npt: %s pa %#" PRIx64 " flags %#x level %u) result %#" PRIx64 " %#" PRIx64
			" %#" PRIx64 " %#" PRIx64 " %#" PRIx64 "\n", c->fmt_name, c->seed, p->addr,
			p->op, why, e.mapped ? "mapped" : "unmapped", e.pa, e.flags, e.level, r[0],
			r[1], r[2], r[3], r[4]);
	return 0;
}

static void check_arm(struct qcase *c, const struct probe *p, const uint64_t *r)
{
	struct expect e;
	unsigned arm_level, fsc;
	uint64_t tag = p->addr ^ PROBE_TAG;

	expect_of(c, p->addr, &e);
	e.allowed = e.mapped && arm_allowed(c, p->op, e.flags);
	arm_level = 3u - e.level;
	fsc = e.mapped ? FSC_PERMISSION(arm_level) : FSC_TRANSLATION(arm_level);

	if (p->op <= ARM_OP_AT_E0W) {
		uint64_t par = r[0];

		if (e.allowed) {
			unsigned attr = (unsigned)(par >> 56);

			if (par & 1)
				return (void)report(c, p, r, "AT faulted");
			if ((par & 0x0000fffffffff000ull) != (e.pa & ~0xfffull))
				return (void)report(c, p, r, "AT output address");
			/* PAR.ATTR in MAIR form: Device iff the high nibble is 0. */
			if (!(attr & 0xf0) != !!(e.flags & NPT_DEVICE))
				return (void)report(c, p, r, "AT memory type");
			c->translated++;
		} else {
			if (!(par & 1))
				return (void)report(c, p, r, "AT translated, npt says fault");
			if (((par >> 1) & 0x3f) != fsc)
				return (void)report(c, p, r, "AT fault status");
			if (!!(par & (1u << 9)) != c->stage2)   /* PAR.S: stage-2 fault */
				return (void)report(c, p, r, "AT fault stage");
			c->faults++;
		}
		c->ok++;
		return;
	}

	c->real++;
	if (e.allowed) {
		if (r[0] != 0)
			return (void)report(c, p, r, "EL1 access faulted");
		if ((p->op == ARM_OP_LOAD || p->op == ARM_OP_STORE) && r[4] != tag)
			return (void)report(c, p, r, "EL1 data not at npt's output address");
		c->translated++;
	} else {
		unsigned ec = (unsigned)(r[1] >> 26);
		uint64_t esr = r[1];

		if (r[0] != (c->stage2 ? 1u : 2u))
			return (void)report(c, p, r, "EL1 access did not fault as expected");
		if (ec != (p->op == ARM_OP_EXEC ? (c->stage2 ? 0x20u : 0x21u)
						: (c->stage2 ? 0x24u : 0x25u)))
			return (void)report(c, p, r, "ESR exception class");
		if ((esr & 0x3f) != fsc)
			return (void)report(c, p, r, "ESR fault status");
		if (p->op != ARM_OP_EXEC && !!(esr & (1u << 6)) != (p->op == ARM_OP_STORE))
			return (void)report(c, p, r, "ESR WnR");
		if (c->stage2) {
			/* HPFAR_EL2.FIPA = IPA[47:12] in bits 43:4; FAR_EL2 = VA = IPA. */
			if (((r[2] & ~0xfull) << 8) != (p->addr & ~0xfffull))
				return (void)report(c, p, r, "HPFAR_EL2 faulting IPA");
			if (r[3] != p->addr)
				return (void)report(c, p, r, "FAR_EL2");
		} else if (r[2] != p->addr) {
			return (void)report(c, p, r, "FAR_EL1");
		}
		if (p->op == ARM_OP_STORE && p->pa != ~0ull && r[4] != 0)
			return (void)report(c, p, r, "a faulting store wrote");
		c->faults++;
	}
	c->ok++;
}

/* What a RISC-V probe should end in. */
struct rv_outcome {
	int trap;          /* 0: the access went through */
	uint64_t cause;    /* scause */
	int htval_known;   /* htval must equal htval below */
	uint64_t htval;
};

enum { RV_LOAD, RV_STORE, RV_FETCH };

static int rv_kind(uint64_t op)
{
	switch (op) {
	case RV_OP_HSV_VS:
	case RV_OP_HSV_VU:
	case RV_OP_STORE:
	case RV_OP_U_STORE:
		return RV_STORE;
	case RV_OP_EXEC:
	case RV_OP_U_EXEC:
		return RV_FETCH;
	default: /* HLV, HLVX (a load: its faults are load faults) */
		return RV_LOAD;
	}
}

/* Per the specification: page fault (12/13/15, stage 1) or guest-page fault
 * (20/21/23, htval = GPA >> 2) when npt says no; else an access fault
 * (1/5/7) when the output address is not memory; else success. */
static void rv_expect(const struct qcase *c, uint64_t op, uint64_t addr, struct rv_outcome *o)
{
	static const uint64_t page_fault[] = { 13, 15, 12 }, access_fault[] = { 5, 7, 1 };
	struct expect e;
	int kind = rv_kind(op);

	expect_of(c, addr, &e);
	memset(o, 0, sizeof(*o));
	if (!e.mapped || !rv_allowed(c, op, e.flags)) {
		o->trap = 1;
		o->cause = page_fault[kind] + (c->stage2 ? 8 : 0);
		o->htval_known = 1;
		o->htval = c->stage2 ? addr >> 2 : 0;
	} else if (!in_ram(c, e.pa)) {
		/* Not a device either: map_random_region keeps non-RAM off them. */
		ck_assert_msg(!(e.pa >= c->mach->mmio_hi[0][0] && e.pa < c->mach->mmio_hi[0][1]),
			      "%s: pa %#" PRIx64 " in a device window", c->fmt_name, e.pa);
		o->trap = 1;
		o->cause = access_fault[kind];
	}
}

static int rv_matches(const struct rv_outcome *o, const struct probe *p, const uint64_t *r)
{
	uint64_t want = (p->addr ^ PROBE_TAG);

	if (!o->trap) {
		if (r[0] != 0)
			return 0;
		if (p->op == RV_OP_HLVX_VS || p->op == RV_OP_HLVX_VU)
			want &= 0xffffffffull; /* HLVX.WU reads 32 bits */
		return p->pa == ~0ull || rv_kind(p->op) == RV_FETCH || r[4] == want;
	}
	return r[0] == 1 && r[1] == o->cause && r[2] == p->addr &&
	       (!o->htval_known || r[3] == o->htval);
}

static void check_rv(struct qcase *c, const struct probe *p, const uint64_t *r)
{
	struct rv_outcome o, q;
	int hlv = p->op < RV_OP_LOAD;

	if (!hlv)
		c->real++;
	rv_expect(c, p->op, p->addr, &o);
	if (rv_matches(&o, p, r)) {
		if (o.trap)
			c->faults++;
		else
			c->translated++;
		c->ok++;
		return;
	}
	/* QEMU 7.2 quirks, each accepted only in its exact form. */
	/* (0) HLV/HSV/HLVX ignore hstatus.SPVP: a VU probe runs as VS. */
	if (p->op == RV_OP_HLV_VU || p->op == RV_OP_HSV_VU || p->op == RV_OP_HLVX_VU) {
		struct probe vs = *p;

		vs.op = p->op - RV_OP_HLV_VU; /* the VS twin */
		rv_expect(c, vs.op, p->addr, &q);
		if (rv_matches(&q, &vs, r) ||
		    (vs.op == RV_OP_HLVX_VS && (rv_expect(c, RV_OP_HLV_VS, p->addr, &q),
						rv_matches(&q, &vs, r))) ||
		    (q.trap && q.cause == 13 && r[0] == 1 && r[1] == 5 && r[2] == p->addr) ||
		    (q.trap && q.cause == 15 && r[0] == 1 && r[1] == 7 && r[2] == p->addr)) {
			c->quirk_spvp++;
			c->ok++;
			return;
		}
	}
	/* (1) HLVX checks read permission (as a plain HLV would), not execute. */
	if (p->op == RV_OP_HLVX_VS || p->op == RV_OP_HLVX_VU) {
		rv_expect(c, p->op == RV_OP_HLVX_VS ? RV_OP_HLV_VS : RV_OP_HLV_VU, p->addr, &q);
		if (rv_matches(&q, p, r)) {
			c->quirk_hlvx++;
			c->ok++;
			return;
		}
		o = q; /* the read outcome may itself meet quirk 2 */
	}
	/* (2) HLV/HSV/HLVX from HS with satp = Bare report a VS-stage page fault
	 * as an access fault (QEMU picks the fault kind from satp, not vsatp). */
	if (hlv && !c->stage2 && o.trap && (o.cause == 13 || o.cause == 15)) {
		q = o;
		q.cause = o.cause == 13 ? 5 : 7;
		if (rv_matches(&q, p, r)) {
			c->quirk_hlv_fault++;
			c->ok++;
			return;
		}
	}
	/* (3) A G-stage GPA with its top bit set (bit 40 of Sv39x4's 41, bit
	 * 49 of Sv48x4's 50) takes a guest-page fault: the upper half of the
	 * 2048-entry root cannot be reached under QEMU 7.2. */
	if (c->stage2 && (p->addr >> (c->info.va_bits - 1)) & 1 &&
	    !(o.trap && o.cause >= 20)) {
		q.trap = 1;
		q.cause = (uint64_t[]){ 21, 23, 20 }[rv_kind(p->op)];
		q.htval_known = 1;
		q.htval = p->addr >> 2;
		if (rv_matches(&q, p, r)) {
			c->quirk_gpa_top++;
			c->ok++;
			return;
		}
	}
	report(c, p, r, o.trap ? "expected a trap" : "expected the access to go through");
}

/* ---- running QEMU ---------------------------------------------------------- */

static int run_qemu(struct qcase *c, const char *qemu, const char *stub, const char *dir,
		    const char *tables, const char *probes)
{
	char a_tables[4200], a_probes[4200], logpath[4200];
	const char *argv[40];
	unsigned n = 0;
	pid_t pid;
	int status = 0;
	struct timespec ts = { 0, 2000000 };

	snprintf(a_tables, sizeof(a_tables), "loader,file=%s,addr=%#" PRIx64 ",force-raw=on",
		 tables, c->mach->pool);
	snprintf(a_probes, sizeof(a_probes), "loader,file=%s,addr=%#" PRIx64 ",force-raw=on",
		 probes, c->mach->hdr);
	snprintf(logpath, sizeof(logpath), "%s/qemu.log", dir);
	argv[n++] = qemu;
	for (const char *const *a = c->mach->args; *a; a++)
		argv[n++] = *a;
	argv[n++] = "-m";
	argv[n++] = "256M";
	argv[n++] = "-display";
	argv[n++] = "none";
	argv[n++] = "-nic";
	argv[n++] = "none";
	argv[n++] = "-monitor";
	argv[n++] = "none";
	argv[n++] = "-serial";
	argv[n++] = "none";
	argv[n++] = "-semihosting";
	argv[n++] = "-kernel";
	argv[n++] = stub;
	argv[n++] = "-device";
	argv[n++] = a_tables;
	argv[n++] = "-device";
	argv[n++] = a_probes;
	argv[n] = NULL;

	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		FILE *log = freopen(logpath, "w", stdout);

		(void)log;
		dup2(1, 2);
		if (chdir(dir) != 0)
			_exit(126);
		execv(qemu, (char *const *)argv);
		_exit(127);
	}
	for (unsigned waited = 0;; waited++) {
		pid_t w = waitpid(pid, &status, WNOHANG);

		if (w == pid)
			break;
		if (waited > QEMU_TIMEOUT_S * 500u) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			fprintf(stderr, "%s: QEMU timed out (log %s)\n", c->fmt_name, logpath);
			return -1;
		}
		nanosleep(&ts, NULL);
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "%s: QEMU / stub failed, status %#x (log %s)\n", c->fmt_name, status,
			logpath);
		return -1;
	}
	return 0;
}

static void run_case(struct qcase *c, unsigned round)
{
	char *qemu = find_in_path(c->mach->qemu), *stub = stub_path(c->mach->stub);
	char dir[] = "/tmp/npt-qemu-XXXXXX", tables[256], probes[256], results[256];
	unsigned char *hdr, *res;
	size_t hdr_len, res_len, frames = 0;
	const char *seed_env = getenv("NPT_QEMU_SEED");
	FILE *f;
	int err = 1;

	ck_assert_msg(qemu && stub, "QEMU or stub missing (main() checks this)");
	c->fmt = npt_format_by_name(c->fmt_name);
	ck_assert_ptr_nonnull(c->fmt);
	ck_assert_int_eq(npt_format_info(c->fmt, &c->info), 0);
	ck_assert_int_eq(c->info.stage2, c->stage2);
	c->seed = seed_env ? strtoull(seed_env, NULL, 0)
			   : ((uint64_t)time(NULL) << 20) ^ ((uint64_t)getpid() << 8) ^ round;
	rng_state = c->seed * 0x9e3779b97f4a7c15ull + 1;
	if (!rng_state)
		rng_state = 1;

	ck_assert_int_eq(testmm_init(&c->mm, c->mach->pool, POOL_FRAMES), 0);
	c->t = npt_new(c->fmt, &c->mm.mm, &err);
	ck_assert_msg(c->t, "npt_new: %s", npt_strerror(err));

	/* The stub's 2 MiB, identity-mapped, kernel RWX. */
	ck_assert_int_eq(npt_map_region(c->t, c->mach->stub_base, c->mach->stub_base, SZ_2M,
					NPT_R | NPT_W | NPT_X, NPT_MAP_HUGE), 0);
	/* RISC-V stage 1: and once more as user code, for VU-mode probes. */
	if (!is_arm(c) && !c->stage2)
		ck_assert_int_eq(npt_map_region(c->t, c->mach->stub_base + SZ_2M,
						c->mach->stub_base, SZ_2M,
						NPT_R | NPT_X | NPT_U, NPT_MAP_HUGE), 0);
	for (unsigned tries = 0; c->nregions < 40 && tries < 400; tries++)
		map_random_region(c);
	for (unsigned i = 0, n = c->nregions; i < n; i++)
		if (rnd_below(3) == 0)
			modify_region(c, &c->regions[i]);
	/* Sometimes drop a whole region (frees its tables). */
	for (unsigned i = 0; i < c->nregions; i++)
		if (rnd_below(10) == 0)
			(void)npt_unmap_region(c->t, c->regions[i].va, c->regions[i].size);
	make_probes(c);
	if (is_arm(c))
		arm_registers(c);
	else
		rv_registers(c);

	/* Files: the pool's frames up to the last one in use, the header. */
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(tables, sizeof(tables), "%s/tables.bin", dir);
	snprintf(probes, sizeof(probes), "%s/probes.bin", dir);
	snprintf(results, sizeof(results), "%s/results.bin", dir);
	for (size_t i = POOL_FRAMES; i > 0; i--)
		if (testmm_is_allocated(&c->mm, c->mach->pool + (i - 1) * SZ_4K)) {
			frames = i;
			break;
		}
	ck_assert_uint_gt(frames, 0);
	ck_assert_int_eq(write_file(tables, testmm_va(&c->mm, c->mach->pool), frames * SZ_4K), 0);
	/* Negative control: QEMU now walks a table that differs from npt's in
	 * a few pages. The check must notice; else it checks nothing. */
	for (size_t i = 0, changed = 0; c->control && i < c->nprobes && changed < 8; i++) {
		uint64_t pa, va = c->probes[i].addr;
		unsigned fl;

		/* A readable page off the stub, below QEMU's G-stage top-bit quirk:
		 * its first probe (AT E1R / HLV) then goes through in QEMU. */
		if (npt_query(c->t, va, &pa, &fl, NULL) == 0 && (fl & NPT_R) &&
		    va >> 21 != c->mach->stub_base >> 21 && !((va >> (c->info.va_bits - 1)) & 1) &&
		    npt_unmap_region(c->t, va & ~(SZ_4K - 1), SZ_4K) == 0)
			changed++;
	}
	hdr_len = HDR_PROBES + c->nprobes * PROBE_SIZE;
	ck_assert_uint_le(hdr_len, c->mach->res - c->mach->hdr);
	ck_assert_uint_le(c->nprobes * RESULT_SIZE, c->mach->pool - c->mach->res);
	hdr = calloc(1, hdr_len);
	ck_assert_ptr_nonnull(hdr);
	put64(hdr + HDR_MAGIC, PROBE_MAGIC);
	put64(hdr + HDR_COUNT, c->nprobes);
	for (unsigned i = 0; i < 8; i++)
		put64(hdr + HDR_R0 + 8 * i, c->regs[i]);
	ck_assert_uint_lt(strlen(results), HDR_PROBES - HDR_PATH);
	memcpy(hdr + HDR_PATH, results, strlen(results) + 1);
	for (size_t i = 0; i < c->nprobes; i++) {
		put64(hdr + HDR_PROBES + i * PROBE_SIZE, c->probes[i].addr);
		put64(hdr + HDR_PROBES + i * PROBE_SIZE + 8, c->probes[i].op);
		put64(hdr + HDR_PROBES + i * PROBE_SIZE + 16, c->probes[i].pa);
	}
	ck_assert_int_eq(write_file(probes, hdr, hdr_len), 0);
	free(hdr);

	ck_assert_msg(run_qemu(c, qemu, stub, dir, tables, probes) == 0,
		      "%s seed %#" PRIx64 ": QEMU run failed (files kept in %s)", c->fmt_name,
		      c->seed, dir);

	res_len = c->nprobes * RESULT_SIZE;
	res = malloc(res_len + 1);
	ck_assert_ptr_nonnull(res);
	f = fopen(results, "rb");
	ck_assert_msg(f != NULL, "%s: no result file %s", c->fmt_name, results);
	ck_assert_uint_eq(fread(res, 1, res_len + 1, f), res_len);
	fclose(f);
	for (size_t i = 0; i < c->nprobes; i++) {
		uint64_t r[6];

		for (unsigned k = 0; k < 6; k++)
			r[k] = get64(res + i * RESULT_SIZE + 8 * k);
		if (is_arm(c))
			check_arm(c, &c->probes[i], r);
		else
			check_rv(c, &c->probes[i], r);
	}
	free(res);
	printf("%s: %zu probes (%u real accesses): %u went through, %u faulted, as npt says; "
	       "QEMU 7.2 quirks: %u HLV SPVP ignored, %u HLVX read-permission, %u HLV "
	       "access-for-page fault, %u GPA top bit; %u mismatches; %" PRIu64 " table frames, "
	       "seed %#" PRIx64 "\n",
	       c->fmt_name, c->nprobes, c->real, c->translated, c->faults, c->quirk_spvp, c->quirk_hlvx,
	       c->quirk_hlv_fault, c->quirk_gpa_top, c->bad, npt_table_frames(c->t), c->seed);
	if (c->control) {
		/* Every probe of a changed page now disagrees. */
		ck_assert_msg(c->bad >= 8, "%s negative control: only %u mismatches", c->fmt_name,
			      c->bad);
		printf("%s negative control: %u probes of 8 changed pages disagree, as they must\n",
		       c->fmt_name, c->bad);
	} else {
		ck_assert_msg(c->bad == 0, "%s seed %#" PRIx64 ": %u of %zu probes disagree with "
			      "npt (files kept in %s)", c->fmt_name, c->seed, c->bad, c->nprobes,
			      dir);
		ck_assert_uint_eq(c->ok, c->nprobes);
	}

	unlink(tables);
	unlink(probes);
	unlink(results);
	{
		char log[300];

		snprintf(log, sizeof(log), "%s/qemu.log", dir);
		unlink(log);
	}
	rmdir(dir);
	npt_free(c->t);
	ck_assert_uint_eq(testmm_live(&c->mm), 0);
	testmm_destroy(&c->mm);
	free(c->probes);
	free(qemu);
	free(stub);
}

/* ---- the cases ------------------------------------------------------------- */

static struct qcase cases[] = {
	{ .fmt_name = "aarch64-s2", .mach = &arm_machine, .stage2 = 1 },
	{ .fmt_name = "aarch64-s2-48", .mach = &arm_machine, .stage2 = 1 },
	{ .fmt_name = "aarch64", .mach = &arm_machine, .stage2 = 0 },
	{ .fmt_name = "sv39x4", .mach = &rv_machine, .stage2 = 1 },
	{ .fmt_name = "sv48x4", .mach = &rv_machine, .stage2 = 1 },
	{ .fmt_name = "sv39", .mach = &rv_machine, .stage2 = 0 },
	{ .fmt_name = "sv48", .mach = &rv_machine, .stage2 = 0 },
	{ .fmt_name = "aarch64-s2", .mach = &arm_machine, .stage2 = 1, .control = 1 },
	{ .fmt_name = "sv39x4", .mach = &rv_machine, .stage2 = 1, .control = 1 },
};

#define ROUNDS 3 /* QEMU runs per case, each with its own seed */

START_TEST(qemu_walks_npt)
{
	struct qcase c = cases[_i / ROUNDS];

	if (!c.fmt_name || (getenv("NPT_QEMU_SEED") && _i % ROUNDS))
		return;
	run_case(&c, (unsigned)_i);
}
END_TEST

static Suite *qemu_suite(void)
{
	Suite *s = suite_create("qemu");
	TCase *tc = tcase_create("walks");

	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, qemu_walks_npt, 0, (int)(NELEM(cases) * ROUNDS));
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr;
	int failed, have = 0;

	/* Skip (77) unless at least one QEMU and its stub are here; a case whose
	 * QEMU is missing while the other is present is filtered out below. */
	for (unsigned i = 0; i < NELEM(cases); i++) {
		char *q = find_in_path(cases[i].mach->qemu), *s = stub_path(cases[i].mach->stub);

		if (q && s)
			have++;
		else
			cases[i].fmt_name = NULL;
		free(q);
		free(s);
	}
	if (!have) {
		printf("SKIP: qemu-system-aarch64 / qemu-system-riscv64 or the guest stubs "
		       "(clang + ld.lld) are missing\n");
		return 77;
	}
	sr = srunner_create(qemu_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
