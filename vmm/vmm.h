/*
 * The tiny KVM VMM: what its files share.
 *
 *   main.c      command line, the scenario loop, the result table
 *   kvm.c       VM and VCPU bring-up, the run loop, the watchdog, teardown
 *   pool.c      frame pools: an npt_mm over a range of 4 KiB frames
 *   slots.c     the stage-2 table realised as KVM memory slots, diffed
 *   stage1.c    the guest's own page tables, built by npt in guest RAM
 *   report.c    what every file reports through: mismatch and failure
 *               lines, probe and flag names, --stats samples
 *   check.c     probes and every cross-check against the two tables
 *   walkers.c   every probe walked again: npt_translate_2d, and npt's walk
 *               against KVM_TRANSLATE
 *   scenario.h  what the scenarios share; scenarios.c their registry and
 *               the two self-tests; sc_identity.c, sc_holes.c, sc_demand.c,
 *               sc_wp.c, sc_remap.c, sc_stage1.c, sc_random.c, hostile.c,
 *               dirty.c: one scenario each
 *   boot_layout.c, boot_image.c, boot_plan.c  what `vmm boot` does before
 *               the vCPU runs: the layout file, the kernel image, guest
 *               memory, stage 2, the load and the entry state (boot.h; no
 *               KVM in them)
 *
 * Address spaces. Guest RAM is one host mmap of `mem` bytes. The stage-2
 * table maps guest-physical addresses (GPA) to *offsets* in that mmap, so its
 * output addresses stay below `mem` whatever the format's pa_bits; the host
 * address behind a GPA is ram + offset. The stage-2 table's own frames
 * follow RAM in the same mmap (`vmm run`; their addresses start at `mem`),
 * so one linear mm reads both. The stage-1 table maps guest-virtual
 * addresses to GPAs.
 *
 * Fixed guest-physical layout (stage 2 maps [0, sys_end) with offset == GPA
 * and no scenario ever changes it):
 *   GPA_MAILBOX  the mailbox page
 *   GPA_STUB     the stub image (guest/x86/stub.ld links it there)
 *   GPA_S1POOL   frames for the guest's own stage-1 table, then BOOT_FRAMES
 *                for the boot table the VMM starts it on, up to sys_end
 *                (2 MiB aligned)
 *   [sys_end, mem)            RAM the scenarios map, unmap, protect, remap
 *   [mem, mem + HOLE_TAIL)    never RAM: always a hole
 * Stage 1 maps the system part 1:1 and a window VA = TEST_VA + GPA over
 * [sys_end, gpa_end), which is where every probe goes.
 */
#ifndef NPT_VMM_H
#define NPT_VMM_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <linux/kvm.h>

#include "frames.h" /* npt's first-fit frame core (user/) */
#include "npt.h"
#include "../guest/x86/mailbox.h"

#define PAGE_SIZE 4096ull
#define MIB (1ull << 20)
#define GIB (1ull << 30)

#define GPA_MAILBOX 0x1000ull
#define GPA_STUB 0x10000ull
#define GPA_S1POOL 0x100000ull
#define BOOT_FRAMES 16
#define TEST_VA 0x8000000000ull /* 512 GiB: its own PML4 entry */
#define HOLE_TAIL (16 * MIB)
#define MEM_DEFAULT (64 * MIB)
#define MEM_MIN_TEST (8 * MIB) /* at least this much RAM above sys_end */
#define MEM_MAX (64 * GIB)

static inline uint64_t align_up(uint64_t x, uint64_t a)
{
	return (x + a - 1) & ~(a - 1);
}

/* splitmix64: the scenarios' seeded generator, and a hash for patterns. */
static inline uint64_t mix(uint64_t z)
{
	z += 0x9e3779b97f4a7c15ull;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static inline uint64_t rnd(uint64_t *state, uint64_t n)
{
	*state += 0x9e3779b97f4a7c15ull;
	return mix(*state) % n;
}

/* An unaligned 64-bit load from guest or host bytes. */
static inline uint64_t rd64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/* ---- pool.c -------------------------------------------------------------- */
/* `frames` 4 KiB frames at host address `host`, seen by their users at
 * "physical" addresses base, base + 4 KiB, ...; mm is an NPT_MM_LINEAR
 * npt_mm over them. Allocation is lowest-address-first, so frames handed
 * out in a row are contiguous (which keeps demand-paged slots coalesced). */
struct pool {
	uint8_t *host;
	struct npt_frames fr; /* which frames are out; fr.state lives on the host heap,
				 never in guest RAM, which a guest may scribble over */
	struct npt_mm mm;
};
int pool_init(struct pool *p, void *host, uint64_t base, uint64_t frames);
void pool_fini(struct pool *p);
int pool_alloc(struct pool *p, uint64_t count, uint64_t *pa); /* aligned to count*4K if a power of 2 */
void pool_free(struct pool *p, uint64_t pa, uint64_t count);
int pool_take(struct pool *p, uint64_t pa, uint64_t count); /* claim given frames; -1 if any is in use */

/* ---- options (main.c) ----------------------------------------------------- */
struct options {
	uint64_t mem;
	uint64_t seed;
	const struct npt_format *s2fmt;
	const char *s2name;
	int stats;
	int verbose;
	unsigned timeout_ms;    /* per scenario */
	const uint8_t *stub;    /* the guest image */
	size_t stub_size;
	int kvm;                /* /dev/kvm */
	double t_main;          /* when `vmm run` started (for --stats) */
};

/* main.c, for the commands in other files */
const char *host_format(char vendor[13]); /* "ept", "npt" or NULL */
void list_stage2(FILE *f);
int parse_size(const char *s, uint64_t *out);
/* The whole of a file, empty files and pipes included, at most max bytes;
 * NULL with errno set. */
uint8_t *load_file(const char *path, size_t max, size_t *len);

/* boot_run.c */
int cmd_boot(int argc, char **argv);

/* Layout from --mem (main.c validates with it before anything starts). */
uint64_t layout_s1pool_frames(uint64_t mem);
uint64_t layout_sys_end(uint64_t mem);

/* ---- the VM ---------------------------------------------------------------- */
struct counters {
	uint64_t probes;
	uint64_t exits_io, exits_mmio_r, exits_mmio_w, exits_other;
	uint64_t faults;     /* guest #PF observed (each one checked) */
	uint64_t s2_faults;  /* stage-2 faults the VMM resolved (demand, wp) */
	uint64_t slot_ops;   /* KVM_SET_USER_MEMORY_REGION calls */
	uint64_t mismatches;
	uint64_t s1_calls;          /* npt calls the guest made on its own tables */
	/* walkers.c */
	uint64_t walk_2d;           /* probes npt_translate_2d agreed on with the two queries */
	uint64_t walk_kvm;          /* translations compared with KVM_TRANSLATE */
	uint64_t walk_cpu_reserved; /* ... of them reserved on this CPU, not in npt's x86_64 */
	uint64_t walk_noncanonical; /* not compared: KVM's walker ignores the canonical form */
};

struct slot {
	uint64_t gpa, size, off;
	unsigned flags; /* the stage-2 flags of every leaf in the run */
	uint32_t id;
};

struct slots {
	struct slot *v;      /* sorted by gpa, never overlapping */
	size_t n, cap;
	uint32_t *free_ids;
	size_t nfree;
	uint32_t next_id, max_ids;
};

struct samples {
	double *v;
	size_t n, cap;
};
void samples_add(struct samples *s, double x);
double samples_median(struct samples *s);

/* demand's stage-2 fault round trips, for --stats */
struct round_trips {
	struct samples trip;  /* fault exit -> the guest's next exit */
	struct samples vmm;   /* fault exit -> VMM done (checks, npt_map, slots) */
	struct samples npt;   /* the npt_map call alone */
	struct samples slots; /* the KVM memory-slot update alone */
};
void round_trips_free(struct round_trips *r);

struct stub {
	uint64_t load, user_start, user_end, image_end;
};

struct probe {
	unsigned cmd;    /* CMD_READ/WRITE/EXEC, | CMD_USER for CPL 3 */
	uint64_t va;
	uint64_t value;  /* WRITE: value written; EXEC: value the code returns */
};

struct probe_out {
	int faulted;        /* the guest took #PF */
	uint64_t err, cr2;
	uint64_t value;     /* READ/EXEC result */
	int mmio;           /* the access exited to the VMM */
	uint64_t mmio_gpa;
};

/* A scenario's say on an MMIO exit (after it was cross-checked): MMIO_HOLE
 * completes it as an access to nothing (reads get poison(gpa), writes are
 * dropped); MMIO_COMPLETE means the hook mapped the page (and synced the
 * slots), and the VMM completes the access against the new mapping. */
enum { MMIO_HOLE = 0, MMIO_COMPLETE = 1, MMIO_ERROR = -1 };
struct vm;
typedef int (*mmio_hook_fn)(struct vm *vm, uint64_t gpa, int is_write, void *ctx);

static inline uint64_t poison(uint64_t gpa)
{
	return 0xdead000000000000ull ^ gpa;
}

struct vm {
	const struct options *opt;
	const char *scenario;
	int fd, vcpu;
	struct kvm_run *run;
	size_t run_size;
	uint8_t *ram;
	uint64_t mem, sys_end, gpa_end;
	struct stub stub;
	int has_1g;          /* guest CPUID 0x80000001 EDX[26] */
	unsigned maxphyaddr; /* guest CPUID 0x80000008 EAX[7:0] */

	/* stage 2: the source of truth for the memory slots */
	struct pool s2pool;
	struct npt_table *s2;
	struct npt_format_info s2info;
	int s2_nests_s1;     /* x86 nests stage 1 in this format (ept*, npt*): 2D walks */
	struct slots slots;

	/* stage 1: the guest builds its tables itself (stage1.c); s1 is the
	 * VMM's model of them, in host memory at the guest's frame addresses */
	const struct npt_format *s1fmt;
	struct pool s1pool;   /* the model's frames: host memory, GPA_S1POOL's addresses */
	struct npt_table *s1;
	_Alignas(NPT_TABLE_ALIGN) unsigned char s1store[NPT_TABLE_SIZE]; /* s1's handle */
	struct pool bootpool; /* the boot table's frames, in guest RAM after the pool */
	struct npt_table *s1boot;

	/* RAM frames for the scenarios: offsets in [sys_end, mem) */
	struct pool frames;

	mmio_hook_fn on_mmio;
	void *hook_ctx;
	struct probe last;   /* for the crash report */
	int have_last;
	struct counters c;
	unsigned printed;    /* mismatch lines printed (capped) */

	uint8_t *s2host;     /* backs s2pool */
	size_t s2host_size;
	uint8_t *s1host;     /* backs s1pool */
	size_t s1host_size;

	/* timing */
	double t_create;     /* vm_create started */
	double t_hello;      /* the stub's first instruction exited */
	double t_exit;       /* the last KVM_RUN returned */
	int record_rt;       /* demand: record stage-2 fault round trips */
	struct round_trips rt;
};

/* kvm.c */
int kvm_open(int *fd);                 /* 0, or 77 after printing why */
int vm_create(struct vm *vm, const struct options *o, const char *scenario);
int vm_vcpu_create(struct vm *vm, int kvm); /* vcpu, kvm_run (watched), CPUID: 0 or -1 */
uint64_t s2pool_frames(uint64_t gpa_end);   /* stage-2 frames for [0, gpa_end) */
void vm_destroy(struct vm *vm);
int kvm_cpu_info(int kvm, int *has_1g, unsigned *maxphyaddr);
int stub_parse(const uint8_t *img, size_t size, struct stub *s);
int vm_run(struct vm *vm);             /* one KVM_RUN: the exit reason, or -1 (reported) */
/* The same, reporting nothing: the exit reason, VM_RUN_TIMEOUT when the
 * watchdog fired, VM_RUN_ERROR when KVM refused to run (errno says why). */
int vm_run_raw(struct vm *vm);
#define VM_RUN_TIMEOUT (-1)
#define VM_RUN_ERROR (-2)
int vm_count_exit(struct vm *vm); /* counts the exit by kind; the exit reason */
int vm_unexpected_exit(struct vm *vm, int reason); /* reports, -1 */
void vm_dump(struct vm *vm, const char *why);
void watchdog_arm(struct vm *vm, unsigned ms);
void watchdog_disarm(void);
double now_sec(void);

/* slots.c */
int slots_sync(struct vm *vm, uint64_t gpa, uint64_t size);
int slots_sync_all(struct vm *vm);
int slots_verify(struct vm *vm);       /* slots == a fresh walk of the whole table */
void slots_fini(struct vm *vm);

/* stage1.c */
int s1_init(struct vm *vm);     /* the boot table, before the vCPU runs */
int s1_takeover(struct vm *vm); /* the guest builds its own and runs on it */
int s1_verify(struct vm *vm);   /* the guest's table == the model (a mismatch else) */
/* Each a call on the model and the same in the guest: the model's npt
 * result (a difference from the guest's is a mismatch), or S1_BROKEN when
 * the guest could not be asked (reported; fail() adds nothing). */
#define S1_BROKEN (-1000)
int s1_map(struct vm *vm, uint64_t va, uint64_t gpa, uint64_t size, unsigned flags);
int s1_map_region(struct vm *vm, uint64_t va, uint64_t gpa, uint64_t size, unsigned flags,
		  unsigned opts);
int s1_unmap_region(struct vm *vm, uint64_t va, uint64_t size);
int s1_protect_region(struct vm *vm, uint64_t va, uint64_t size, unsigned flags);
int s1_map_window(struct vm *vm, uint64_t gpa, uint64_t size, unsigned flags, unsigned opts);
unsigned s1_huge_opts(const struct vm *vm);
static inline uint64_t gpa_to_va(uint64_t gpa) { return TEST_VA + gpa; }

/* report.c (and samples_add, samples_median above) */
void mismatch(struct vm *vm, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int fail(struct vm *vm, const char *what, int err); /* an npt call failed: -1 */
const char *probe_name(unsigned cmd);
unsigned probe_access(unsigned cmd); /* a probe's access as NPT_R/W/X, NPT_U at CPL 3 */

/* walkers.c: npt_translate_2d into *d2, npt's walk through the slots and
 * KVM_TRANSLATE of va under cr3, compared; -1 if a walk cannot be made. */
int walkers_check(struct vm *vm, uint64_t cr3, uint64_t va, unsigned access, struct npt_2d *d2);
/* npt's stage-1 walk of the guest's table under cr3, read through the KVM
 * slots, for a supervisor read: 0 (the walk in *d1), or -1 if it cannot be
 * made. */
int walkers_s1_walk(struct vm *vm, uint64_t cr3, uint64_t va, struct npt_2d *d1);
/* KVM_TRANSLATE of va: 0 with *valid and *gpa, or -1 (reported). */
int kvm_translate(struct vm *vm, uint64_t va, int *valid, uint64_t *gpa);
void flags_str(unsigned flags, char *buf, size_t len);

/* check.c */
int probe(struct vm *vm, const struct probe *p, struct probe_out *out);
int vm_halt(struct vm *vm);

/* scenarios.c (the scenarios themselves: scenario.h) */
struct scenario {
	const char *name;
	const char *summary;
	int (*run)(struct vm *vm);
	int selftest; /* must fail; not run unless named */
};
extern const struct scenario scenarios[];
const struct scenario *scenario_find(const char *name);

#endif
