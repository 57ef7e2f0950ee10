/*
 * The hostile scenario: a guest that does what no guest
 * should -- probes random 64-bit addresses (canonical or not, mapped or
 * not, holes, MMIO beyond RAM), writes garbage over its own page tables and
 * its IDT, and executes from random places, at CPL 0 and CPL 3. The VMM
 * must classify every outcome, never crash, keep every stage-2 cross-check
 * green, and tear each VM down cleanly however it died.
 *
 * A round, on a fresh VM:
 *  1. Stage 2 lays out SPAN bytes of RAM above the system part in 64 KiB
 *     chunks and whole 2 MiB leaves: writable (random bytes: good garbage
 *     code), read-only (a pattern), or unmapped (a "secret" pattern the
 *     guest must never see). RAM above the span stays unmapped and zero.
 *     Stage 1 maps the window over all of it and over the stage-1 pool
 *     itself (supervisor, read-write), so the guest can reach its own page
 *     tables.
 *  2. Trusted phase: probes at random addresses with every cross-check of
 *     check.c (npt_query on both tables predicts the #PF, the memory
 *     access or the MMIO exit); a non-canonical address must raise #GP(0).
 *  3. Hostile phase: the guest writes garbage into page-table entries and
 *     IDT gates, executes random bytes, and probes anywhere. From the first
 *     such step the stage-1 table is the guest's: the VMM never reads it
 *     through npt again (no npt_query, no npt_walk, no npt_free: garbage
 *     entries point anywhere, and npt would follow them out of the pool).
 *     The stage-1 cross-check is off; the stage-2 checks stay on:
 *      - every MMIO exit is at a GPA stage 2 does not map (or beyond its
 *        width), or a write to a page it maps without NPT_W;
 *      - a read or write that completes is checked against the GPA KVM
 *        itself translates the address to (KVM_TRANSLATE walks the guest's
 *        tables inside KVM, before and after the probe; the guest reloads
 *        CR3 before every probe so its TLB agrees): the host bytes stage 2
 *        maps there, or the MMIO exchange at that GPA -- whenever the stub
 *        provably ran its own code (its text as loaded, at its own
 *        addresses: garbage entries remap it too); else it is counted as
 *        not checkable;
 *      - no value the guest hands the VMM (result, MMIO write) is a word of
 *        a frame stage 2 does not map.
 *     The round ends when the guest dies (triple fault, internal error,
 *     hang -> the per-probe watchdog, no report) or after HOSTILE_STEPS.
 *  4. Stage-2 isolation: every read-only and every unmapped frame of RAM
 *     still holds exactly what the VMM put there; the slots still equal a
 *     walk of the stage-2 table. The VM is torn down -- its stage-1 table
 *     handle let go with npt_abandon, its frames dropped with the pool.
 * After the last round the scenario hands back a fresh VM for the common
 * end (slot check, halt).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include "scenario.h"

#define ROUNDS 16
#define TRUSTED_PROBES 160
#define HOSTILE_STEPS 48
#define PROBE_MS 100        /* a hostile probe that takes longer: the guest hangs */
#define SPAN (16 * MIB)     /* RAM each round lays out */
#define MAX_EXITS 200000    /* per probe, besides the watchdog */
#define MAX_TABLES 256
#define MAX_SEEN 8

/* x86-64 paging-structure entry bits (Intel SDM vol. 3 §4.5, tables 4-15
 * to 4-20; AMD APM vol. 2 §5.4): present, R/W, U/S, accessed, dirty, PS
 * (a leaf above level 0), XD. */
#define PTE_P 0x1ull
#define PTE_RW 0x2ull
#define PTE_US 0x4ull
#define PTE_A 0x20ull
#define PTE_D 0x40ull
#define PTE_PS 0x80ull
#define PTE_NX (1ull << 63)

/* 64-bit interrupt gate, low quadword (SDM vol. 3 §6.14.1): offset 15:0,
 * selector, type 0xE with P=1 DPL=0, offset 31:16. */
#define GATE_LO(off) (((off) & 0xffffull) | (0x08ull << 16) | (0x8e00ull << 32) | \
		      (((off) >> 16 & 0xffffull) << 48))

#define VEC_GP 13
#define VEC_PF 14
/* #PF error code (SDM vol. 3 §4.7): P, W, U, RSVD, I. */
#define PF_P 0x1ull
#define PF_W 0x2ull
#define PF_U 0x4ull
#define PF_RSVD 0x8ull
#define PF_I 0x10ull
#define UPPER_HALF 0xffff800000000000ull

/* Patterns the VMM can recognise: never produced by the stub or by poison(). */
#define SECRET_BASE 0x5ec7e70000000000ull
#define SECRET_MASK 0xffffff0000000000ull /* secret_word(off): off / 8 in the low 40 bits */
#define RO_BASE 0x0eadab1e00000000ull

enum { K_NONE = 0, K_RW = 1, K_RO = 2 };

enum {
	O_OK, O_MMIO, O_PF, O_GP, O_EXC, O_SHUTDOWN, O_INTERNAL, O_TIMEOUT, O_LOST, O_SURVIVED,
	O_N
};
static const char *const oname[O_N] = {
	"completed", "MMIO exit", "#PF", "#GP", "other exception", "triple fault/shutdown",
	"internal error", "timeout", "lost", "survived",
};

struct ptab {
	uint64_t pa, va, span;
	unsigned level;
};

struct seen {
	uint64_t gpa, data;
	unsigned len;
	int w;
};

struct hx {
	int outcome;
	int dead;
	uint64_t vec, err, cr2, result;
	unsigned nmmio;
	struct seen mmio[MAX_SEEN];
	const char *why; /* what killed it */
};

struct hstate {
	struct vm *vm;
	const struct options *opt;
	const char *name;
	uint64_t seed;
	uint64_t lo, hi;     /* the span laid out this round */
	uint8_t *kind;       /* per page of [sys_end, mem) */
	uint64_t idt;        /* IDT base: VA == GPA (identity) */
	uint16_t idt_limit;
	uint8_t gate3[16];   /* the #BP gate CPL-3 probes return through, as booted */
	uint64_t report_rip; /* RIP of the stub's mailbox exit */
	struct ptab tab[MAX_TABLES];
	unsigned ntab, nwin; /* tables; the first nwin cover the window */
	int untrusted;       /* the guest may have written its stage-1 table */
	struct counters total;
	unsigned printed;
	double t0;

	uint64_t out[O_N];   /* probe outcomes */
	uint64_t ends[O_N];  /* how rounds ended */
	uint64_t s1_on, s1_off;
	uint64_t pt_writes, idt_writes, execs, planted;
	uint64_t mmio_checked, wild_mmio, rogue_io, port_io, hlts;
	uint64_t v_checked, v_unchecked, leaks_checked;
	uint64_t iso_pages;
	uint64_t quirk_rsvd;
	unsigned vms;
};

/* ---- generator ----------------------------------------------------------------- */

static uint64_t r64(struct hstate *h)
{
	h->seed += 0x9e3779b97f4a7c15ull;
	return mix(h->seed);
}

static uint64_t secret_word(uint64_t off)
{
	return SECRET_BASE ^ (off >> 3);
}

static uint64_t ro_word(uint64_t off)
{
	return RO_BASE ^ off;
}

static int canonical(uint64_t va)
{
	return (uint64_t)((int64_t)(va << 16) >> 16) == va;
}

/* ---- the watchdog -------------------------------------------------------------- */

/* Arm for ms, never past the scenario's own time limit. */
static int arm(struct hstate *h, struct vm *vm, unsigned ms)
{
	double left = h->opt->timeout_ms / 1e3 - (now_sec() - h->t0);

	if (left < 0.05) {
		fprintf(stderr, "vmm: %s: the scenario's time limit (%u s) is used up\n", h->name,
			h->opt->timeout_ms / 1000);
		return -1;
	}
	if (!ms || ms > left * 1e3)
		ms = (unsigned)(left * 1e3);
	watchdog_arm(vm, ms ? ms : 1);
	return 0;
}

/* ---- VMs --------------------------------------------------------------------------- */

static void add_counters(struct counters *a, const struct counters *b)
{
	a->probes += b->probes;
	a->exits_io += b->exits_io;
	a->exits_mmio_r += b->exits_mmio_r;
	a->exits_mmio_w += b->exits_mmio_w;
	a->exits_other += b->exits_other;
	a->faults += b->faults;
	a->s2_faults += b->s2_faults;
	a->slot_ops += b->slot_ops;
	a->mismatches += b->mismatches;
	a->walk_2d += b->walk_2d;
	a->walk_kvm += b->walk_kvm;
	a->walk_cpu_reserved += b->walk_cpu_reserved;
	a->walk_noncanonical += b->walk_noncanonical;
}

/* The guest's stage-1 table may hold anything now: let go of the handle
 * without reading an entry (npt_free would follow them); its frames are
 * guest RAM and go with it. */
static void forget_s1(struct hstate *h)
{
	if (h->untrusted && h->vm->s1) {
		npt_abandon(h->vm->s1);
		h->vm->s1 = NULL;
	}
	h->untrusted = 0;
}

static void drop_vm(struct hstate *h)
{
	forget_s1(h);
	add_counters(&h->total, &h->vm->c);
	h->printed = h->vm->printed;
	vm_destroy(h->vm);
}

static int fresh_vm(struct hstate *h)
{
	int rc;

	if (arm(h, NULL, 0) < 0)
		return -1;
	rc = vm_create(h->vm, h->opt, h->name);
	h->vm->printed = h->printed;
	h->vms++;
	return rc;
}

/* ---- one hostile probe ------------------------------------------------------------ */

static void leak_check(struct hstate *h, uint64_t v, const char *what)
{
	uint64_t off = (v ^ SECRET_BASE) << 3;
	struct vm *vm = h->vm;

	h->leaks_checked++;
	if ((v & SECRET_MASK) != SECRET_BASE || off < vm->sys_end || off >= h->hi)
		return;
	if (h->kind[(off - vm->sys_end) / PAGE_SIZE] == K_NONE)
		mismatch(vm, "%s carries %#llx, the word at offset %#llx of a frame stage 2 does "
			 "not map", what, (unsigned long long)v, (unsigned long long)off);
}

/* An MMIO exit, from the probe or from whatever the guest runs: stage 2
 * must justify it; reads get poison, writes go nowhere. */
static int hmmio(struct hstate *h, struct hx *x)
{
	struct vm *vm = h->vm;
	struct kvm_run *run = vm->run;
	uint64_t gpa = run->mmio.phys_addr, off, data = 0;
	unsigned len = run->mmio.len < 8 ? run->mmio.len : 8, f;
	int w = run->mmio.is_write, q;
	char fs[16];

	q = npt_query(vm->s2, gpa, &off, &f, NULL);
	if (q == 0 && !(w && !(f & NPT_W))) {
		flags_str(f, fs, sizeof(fs));
		mismatch(vm, "MMIO %s exit (%u bytes) at GPA %#llx, but stage 2 maps it %s to "
			 "offset %#llx", w ? "write" : "read", len, (unsigned long long)gpa, fs,
			 (unsigned long long)off);
	} else if (q && q != NPT_ERR_NOT_MAPPED && q != NPT_ERR_RANGE) {
		return fail(vm, "npt_query (stage 2, MMIO exit)", q);
	}
	h->mmio_checked++;
	if (gpa >= vm->mem)
		h->wild_mmio++;
	if (w) {
		memcpy(&data, run->mmio.data, len);
		if (len == 8)
			leak_check(h, data, "an MMIO write");
	} else {
		data = poison(gpa);
		memcpy(run->mmio.data, &data, len);
	}
	if (x->nmmio < MAX_SEEN)
		x->mmio[x->nmmio] = (struct seen){ gpa, data, len, w };
	x->nmmio++;
	return 0;
}

/* Post one command and run the guest until it reports or dies. -1 only
 * for a failure of the VMM itself. */
static int hprobe(struct hstate *h, unsigned cmd, uint64_t va, uint64_t value, struct hx *x)
{
	struct vm *vm = h->vm;
	volatile uint64_t *mb = (volatile uint64_t *)(vm->ram + GPA_MAILBOX);
	uint64_t status;
	struct kvm_regs regs;

	memset(x, 0, sizeof(*x));
	mb[MB_CMD / 8] = cmd;
	mb[MB_VA / 8] = va;
	mb[MB_VALUE / 8] = value;
	/* The guest's npt flushed what its calls changed; once it writes its
	 * tables by hand, a CR3 reload makes its TLB agree with them. */
	mb[MB_FLUSH / 8] = h->untrusted ? FLUSH_ALL : FLUSH_NONE;
	mb[MB_STATUS / 8] = ST_NONE;
	vm->last = (struct probe){ .cmd = cmd, .va = va, .value = value };
	vm->have_last = 1;
	vm->c.probes++;

	for (unsigned n = 0;; n++) {
		struct kvm_run *run = vm->run;
		int r;

		if (n == MAX_EXITS) {
			x->outcome = O_TIMEOUT;
			x->why = "an exit storm";
			x->dead = 1;
			break;
		}
		r = vm_run_raw(vm);
		if (r == VM_RUN_TIMEOUT) {
			x->outcome = O_TIMEOUT;
			x->why = "the watchdog";
			x->dead = 1;
			break;
		}
		if (r == VM_RUN_ERROR) {
			/* KVM refused to go on with this guest: as dead as a
			 * shutdown, and nothing the VMM did wrong. */
			fprintf(stderr, "vmm: %s: KVM_RUN: %s (the guest is given up)\n", h->name,
				strerror(errno));
			x->outcome = O_INTERNAL;
			x->why = "KVM_RUN failing";
			x->dead = 1;
			break;
		}
		if (r == KVM_EXIT_MMIO) {
			if (hmmio(h, x) < 0)
				return -1;
			continue;
		}
		if (r == KVM_EXIT_IO) {
			uint64_t n_bytes = (uint64_t)run->io.size * run->io.count;

			if (run->io.data_offset > vm->run_size ||
			    n_bytes > vm->run_size - run->io.data_offset) {
				x->outcome = O_LOST;
				x->why = "a port I/O exit KVM described out of bounds";
				x->dead = 1;
				break;
			}
			if (run->io.port == MB_PORT && run->io.direction == KVM_EXIT_IO_OUT) {
				if (ioctl(vm->vcpu, KVM_GET_REGS, &regs) < 0) {
					fprintf(stderr, "vmm: %s: KVM_GET_REGS: %s\n", h->name,
						strerror(errno));
					return -1;
				}
				if (regs.rip == h->report_rip)
					break; /* the stub's report */
				h->rogue_io++;
				continue;
			}
			h->port_io++;
			if (run->io.direction == KVM_EXIT_IO_IN) /* nothing there: all ones */
				memset((uint8_t *)run + run->io.data_offset, 0xff, n_bytes);
			continue;
		}
		if (r == KVM_EXIT_HLT) {
			h->hlts++; /* no interrupt will come; a loop of these ends in the watchdog */
			continue;
		}
		x->dead = 1;
		if (r == KVM_EXIT_SHUTDOWN) {
			x->outcome = O_SHUTDOWN;
			x->why = "KVM_EXIT_SHUTDOWN";
		} else if (r == KVM_EXIT_INTERNAL_ERROR) {
			x->outcome = O_INTERNAL;
			x->why = run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION ?
					 "KVM_EXIT_INTERNAL_ERROR (emulation)" : "KVM_EXIT_INTERNAL_ERROR";
		} else {
			x->outcome = O_LOST;
			x->why = "an exit the VMM does not serve";
		}
		break;
	}
	if (!x->dead) {
		status = mb[MB_STATUS / 8];
		if (status == ST_OK) {
			x->outcome = x->nmmio ? O_MMIO : O_OK;
			x->result = mb[MB_RESULT / 8];
			leak_check(h, x->result, "the guest's result");
		} else if (status == ST_FAULT) {
			x->vec = mb[MB_VECTOR / 8];
			x->err = mb[MB_ERROR / 8];
			x->cr2 = mb[MB_CR2 / 8];
			x->outcome = x->vec == VEC_PF ? O_PF : x->vec == VEC_GP ? O_GP : O_EXC;
		} else {
			x->outcome = O_LOST; /* reported without a result, or garbage */
		}
	}
	h->out[x->outcome]++;
	if (x->outcome == O_PF)
		vm->c.faults++;
	return 0;
}

/* ---- checks after the scribble: KVM's translation, npt's stage 2 ---------------- */

/* GPAs the stub itself writes while it reports (mailbox, stacks, GDT
 * accessed bits): a value there may be overwritten before the VMM looks. */
static int volatile_gpa(const struct hstate *h, uint64_t g)
{
	const struct stub *st = &h->vm->stub;

	if (g >= GPA_MAILBOX && g < GPA_MAILBOX + PAGE_SIZE)
		return 1;
	return g >= st->user_end && g < st->image_end && !(g >= h->idt && g < h->idt + PAGE_SIZE);
}

/* KVM's translation of va, or -1 where it has none. */
static int translate(struct vm *vm, uint64_t va, uint64_t *gpa)
{
	int valid;

	return kvm_translate(vm, va, &valid, gpa) < 0 || !valid ? -1 : 0;
}

/* Did the probe run the stub's own code? Garbage entries can remap the
 * stub's text (and garbage code can rewrite it): then whatever ran at
 * k_read/user_read was not `mov (%rbx), %rax`, and its result says nothing
 * about stage 2. Checked after the probe: the kernel text and the CPL-3
 * code page (the last page of [user_start, user_end) is the user stack,
 * stub.S/stub.ld) still hold the image's bytes and translate to
 * themselves; a CPL-3 probe also came back through the IDT's #BP gate, so
 * IDTR, the gate and the IDT page must be as booted. */
static int stub_intact(struct hstate *h, unsigned cmd)
{
	struct vm *vm = h->vm;
	const struct stub *st = &vm->stub;
	uint64_t end = st->user_end - PAGE_SIZE, g;
	struct kvm_sregs sregs;

	if (end - st->load > h->opt->stub_size ||
	    memcmp(vm->ram + st->load, h->opt->stub, end - st->load))
		return 0;
	for (uint64_t a = st->load; a < end; a += PAGE_SIZE)
		if (translate(vm, a, &g) < 0 || g != a)
			return 0;
	if (!(cmd & CMD_USER))
		return 1;
	if (ioctl(vm->vcpu, KVM_GET_SREGS, &sregs) < 0 || sregs.idt.base != h->idt ||
	    sregs.idt.limit != h->idt_limit || translate(vm, h->idt, &g) < 0 || g != h->idt)
		return 0;
	return !memcmp(vm->ram + h->idt + 16 * USER_RETURN_VECTOR, h->gate3, sizeof(h->gate3));
}

/* The tables are the guest's now: npt_translate_2d, npt's walk through the
 * slots and KVM_TRANSLATE must still agree on them (walkers.c), from the CR3
 * the guest runs with. */
static int walk_step(struct hstate *h, unsigned cmd, uint64_t va)
{
	struct kvm_sregs sregs;
	struct npt_2d d;

	if (ioctl(h->vm->vcpu, KVM_GET_SREGS, &sregs) < 0) {
		perror("vmm: KVM_GET_SREGS");
		return -1;
	}
	return walkers_check(h->vm, sregs.cr3, va, probe_access(cmd), &d);
}

static int value_check(struct hstate *h, unsigned cmd, uint64_t va, uint64_t value,
		       const struct hx *x, int before_ok, uint64_t before)
{
	struct vm *vm = h->vm;
	unsigned kind = cmd & 0xff, f;
	uint64_t g, off, m, diff;
	int q;

	if (!before_ok || translate(vm, va, &g) < 0 || g != before || va % 8 ||
	    !stub_intact(h, cmd)) {
		/* no translation, the probe rewrote its own, or the stub's
		 * code is not what ran */
		h->v_unchecked++;
		return 0;
	}
	q = npt_query(vm->s2, g, &off, &f, NULL);
	if (q && q != NPT_ERR_NOT_MAPPED && q != NPT_ERR_RANGE)
		return fail(vm, "npt_query (stage 2)", q);
	if (q == 0 && (kind == CMD_READ || (f & NPT_W))) {
		if (volatile_gpa(h, g) || off + 8 > vm->mem) {
			h->v_unchecked++;
			return 0;
		}
		m = rd64(vm->ram + off);
		diff = m ^ (kind == CMD_READ ? x->result : value);
		if (g >= GPA_S1POOL && g < vm->sys_end)
			diff &= ~(PTE_A | PTE_D); /* the walker sets them in table entries */
		if (diff)
			mismatch(vm, "%s va %#llx: KVM translates it to GPA %#llx, stage 2 maps that to "
				 "offset %#llx holding %#llx; the guest %s %#llx", probe_name(cmd),
				 (unsigned long long)va, (unsigned long long)g, (unsigned long long)off,
				 (unsigned long long)m, kind == CMD_READ ? "read" : "wrote",
				 (unsigned long long)(kind == CMD_READ ? x->result : value));
	} else {
		const struct seen *s = NULL;

		for (unsigned i = 0; i < x->nmmio && i < MAX_SEEN; i++)
			if (x->mmio[i].gpa == g && x->mmio[i].w == (kind == CMD_WRITE) &&
			    x->mmio[i].len == 8)
				s = &x->mmio[i];
		if (!s)
			mismatch(vm, "%s va %#llx: KVM translates it to GPA %#llx, which stage 2 %s: "
				 "expected an 8-byte MMIO %s exit there, observed none",
				 probe_name(cmd), (unsigned long long)va, (unsigned long long)g,
				 q ? "does not map" : "maps read-only",
				 kind == CMD_WRITE ? "write" : "read");
		else if (kind == CMD_WRITE ? s->data != value : x->result != s->data)
			mismatch(vm, "%s va %#llx: MMIO %s at GPA %#llx carried %#llx, the guest %s "
				 "%#llx", probe_name(cmd), (unsigned long long)va,
				 kind == CMD_WRITE ? "write" : "read", (unsigned long long)g,
				 (unsigned long long)s->data, kind == CMD_WRITE ? "wrote" : "read",
				 (unsigned long long)(kind == CMD_WRITE ? value : x->result));
	}
	h->v_checked++;
	return 0;
}

/* ---- a round's layout ------------------------------------------------------------- */

static void fill(struct hstate *h, uint64_t off, uint64_t size, int kind)
{
	uint8_t *p = h->vm->ram;

	for (uint64_t a = off; a < off + size; a += 8) {
		uint64_t v = kind == K_RW ? r64(h) : kind == K_RO ? ro_word(a) : secret_word(a);
		memcpy(p + a, &v, 8);
	}
}

static int collect_table(const struct npt_visit *v, void *arg)
{
	struct hstate *h = arg;

	if (h->ntab < MAX_TABLES)
		h->tab[h->ntab++] = (struct ptab){ v->pa, v->va, v->size, v->level - 1 };
	return 0;
}

static int setup(struct hstate *h)
{
	struct vm *vm = h->vm;
	uint64_t lo = vm->sys_end, npages = (vm->mem - lo) / PAGE_SIZE;
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	int e;

	h->lo = lo;
	h->hi = lo + (vm->mem - lo < SPAN ? vm->mem - lo : SPAN);
	memset(h->kind, K_NONE, npages);

	/* Per 2 MiB: a whole writable leaf, a whole hole, or 64 KiB chunks of
	 * each kind (4 KiB leaves). Everything GPA == offset: frame X is only
	 * ever reachable through GPA X. */
	for (uint64_t b = lo; b < h->hi; b += SZ_2M) {
		uint64_t end = b + SZ_2M < h->hi ? b + SZ_2M : h->hi;
		unsigned c = (unsigned)rnd(&h->seed, 8);

		for (uint64_t g = b; g < end; g += SZ_64K) {
			uint64_t n = (end - g < SZ_64K ? end - g : SZ_64K);
			int k = c < 2 && end - b == SZ_2M ? K_RW : c == 2 ? K_NONE :
				(int)(rnd(&h->seed, 4) == 0 ? K_NONE : rnd(&h->seed, 3) == 0 ? K_RO : K_RW);

			memset(h->kind + (g - lo) / PAGE_SIZE, k, n / PAGE_SIZE);
			fill(h, g, n, k);
			if (k == K_NONE)
				continue;
			e = npt_map_region(vm->s2, g, g, n, k == K_RW ? RWX : NPT_R | NPT_X,
					   c < 2 ? NPT_MAP_2M : 0);
			if (e)
				return fail(vm, "npt_map_region (stage 2)", e);
		}
	}
	if (slots_sync(vm, lo, vm->mem - lo) < 0)
		return -1;

	/* Stage 1: the window over RAM and holes, and over the stage-1 pool
	 * (supervisor, read-write, no-execute): the guest's own tables. */
	if (s1_map_window(vm, GPA_S1POOL, vm->sys_end - GPA_S1POOL, NPT_R | NPT_W, 0) ||
	    s1_map_window(vm, lo, vm->gpa_end - lo, RWX | NPT_U, s1_huge_opts(vm)))
		return -1;

	/* The tables, while npt may still read them: the window's first (the
	 * scribbles that leave the stub alive), then the rest. */
	h->ntab = 0;
	e = npt_walk(vm->s1, TEST_VA, vm->gpa_end, NPT_WALK_TABLE_PRE, collect_table, h);
	if (!e) {
		h->nwin = h->ntab;
		e = npt_walk(vm->s1, 0, TEST_VA, NPT_WALK_TABLE_PRE, collect_table, h);
	}
	if (e)
		return fail(vm, "npt_walk (stage 1)", e);
	if (h->ntab < MAX_TABLES)
		h->tab[h->ntab++] = (struct ptab){ npt_root(vm->s1), 0, 1ull << 48, 3 };
	for (unsigned i = 0; i < h->ntab; i++) {
		if (h->tab[i].pa < GPA_S1POOL || h->tab[i].pa + PAGE_SIZE > vm->sys_end) {
			fprintf(stderr, "vmm: %s: stage-1 table at %#llx outside the pool\n", h->name,
				(unsigned long long)h->tab[i].pa);
			return -1;
		}
	}

	/* Where the stub keeps its IDT and where it reports from: the VCPU is
	 * stopped at its first report. */
	if (ioctl(vm->vcpu, KVM_GET_SREGS, &sregs) < 0 || ioctl(vm->vcpu, KVM_GET_REGS, &regs) < 0) {
		fprintf(stderr, "vmm: %s: KVM_GET_SREGS/REGS: %s\n", h->name, strerror(errno));
		return -1;
	}
	h->idt = sregs.idt.base;
	h->idt_limit = sregs.idt.limit;
	h->report_rip = regs.rip;
	if (h->idt < vm->stub.user_end || h->idt + PAGE_SIZE > vm->stub.image_end ||
	    h->idt % PAGE_SIZE) {
		fprintf(stderr, "vmm: %s: the stub's IDT at %#llx is not where the VMM expects it\n",
			h->name, (unsigned long long)h->idt);
		return -1;
	}
	memcpy(h->gate3, vm->ram + h->idt + 16 * USER_RETURN_VECTOR, sizeof(h->gate3));
	return 0;
}

/* ---- addresses ---------------------------------------------------------------------- */

enum { A_RANDOM, A_EDGE, A_CANON, A_WINDOW, A_TAIL, A_POOL, A_TEXT, A_SYSTEM };

static uint64_t pick_va(struct hstate *h, int cls)
{
	static const uint64_t edges[] = {
		0x0000000000000000ull, 0x00007ffffffff000ull, 0x0000800000000000ull,
		0x7ffffffffffff000ull, 0x8000000000000000ull, 0xffff7ffffffff000ull,
		0xffff800000000000ull, 0xfffffffffffff000ull,
	};
	struct vm *vm = h->vm;

	switch (cls) {
	case A_RANDOM:
		return r64(h) & ~7ull;
	case A_EDGE:
		return edges[rnd(&h->seed, sizeof(edges) / sizeof(edges[0]))] + rnd(&h->seed, 512) * 8;
	case A_CANON:
		return (uint64_t)((int64_t)(r64(h) << 16) >> 16) & ~7ull;
	case A_WINDOW: /* mostly the span laid out; else anywhere up to 2 MiB past the window
			* (unmapped RAM, MMIO beyond RAM, nothing at all) */
		if (rnd(&h->seed, 5))
			return gpa_to_va(h->lo + rnd(&h->seed, (h->hi - h->lo) / 8) * 8);
		return gpa_to_va(vm->sys_end + rnd(&h->seed, (vm->gpa_end + SZ_2M - vm->sys_end) / 8) * 8);
	case A_TAIL: /* MMIO: the hole above RAM */
		return gpa_to_va(vm->mem + rnd(&h->seed, HOLE_TAIL / 8) * 8);
	case A_POOL:
		return gpa_to_va(GPA_S1POOL + rnd(&h->seed, (vm->sys_end - GPA_S1POOL) / 8) * 8);
	case A_TEXT:
		return vm->stub.load + rnd(&h->seed, (vm->stub.user_start - vm->stub.load) / 8) * 8;
	default:
		return rnd(&h->seed, vm->stub.image_end / 8) * 8;
	}
}

/* ---- trusted phase: npt predicts everything ----------------------------------------- */

/* A CPL-3 access to the upper canonical half, which npt's table leaves
 * empty: #PF, not present. KVM quirk on this machine (kvm_pvm): for a few
 * pages at the bottom of the upper half -- which pages varies from run to
 * run -- the fault comes with P|RSVD, as if a present entry had reserved
 * bits set. Accepted only when the guest's PML4 entry there, read raw, is
 * empty (no entry npt wrote can be the cause), and counted. */
static int upper_user_probe(struct hstate *h, unsigned cmd, uint64_t va, uint64_t value)
{
	struct vm *vm = h->vm;
	unsigned kind = cmd & 0xff;
	uint64_t want = PF_U | (kind == CMD_WRITE ? PF_W : 0) | (kind == CMD_EXEC ? PF_I : 0);
	uint64_t pml4e = rd64(vm->ram + npt_root(vm->s1) + 8 * ((va >> 39) & 511));
	struct hx x;

	if (hprobe(h, cmd, va, value, &x) < 0)
		return -1;
	if (x.outcome == O_PF && x.cr2 == va && x.err == (want | PF_P | PF_RSVD) && pml4e == 0) {
		h->quirk_rsvd++;
		return 0;
	}
	if (x.outcome != O_PF || x.cr2 != va || x.err != want)
		mismatch(vm, "%s va %#llx: stage 1 maps nothing there (PML4 entry %#llx): expected "
			 "#PF error %#llx, observed %s vector %llu error %#llx CR2 %#llx",
			 probe_name(cmd), (unsigned long long)va, (unsigned long long)pml4e,
			 (unsigned long long)want, oname[x.outcome], (unsigned long long)x.vec,
			 (unsigned long long)x.err, (unsigned long long)x.cr2);
	return x.dead ? 1 : 0;
}

static int trusted_probe(struct hstate *h)
{
	struct vm *vm = h->vm;
	volatile uint64_t *mb = (volatile uint64_t *)(vm->ram + GPA_MAILBOX);
	unsigned c = (unsigned)rnd(&h->seed, 100), k = (unsigned)rnd(&h->seed, 20), f, cmd;
	int cls = c < 12 ? A_RANDOM : c < 22 ? A_EDGE : c < 34 ? A_CANON : c < 78 ? A_WINDOW :
		  c < 84 ? A_TAIL : c < 94 ? A_POOL : A_TEXT;
	uint64_t va = pick_va(h, cls), gpa, value = r64(h);
	struct probe_out o;
	struct hx x;
	int q;

	cmd = k < 10 ? CMD_READ : k < 17 ? CMD_WRITE : CMD_EXEC;
	if (rnd(&h->seed, 10) < 3)
		cmd |= CMD_USER;
	h->s1_on++;

	if (!canonical(va)) {
		if (hprobe(h, cmd, va, value, &x) < 0)
			return -1;
		if (x.outcome != O_GP || x.err != 0)
			mismatch(vm, "%s va %#llx (not canonical): expected #GP(0), observed %s "
				 "(vector %llu error %#llx)", probe_name(cmd), (unsigned long long)va,
				 oname[x.outcome], (unsigned long long)x.vec, (unsigned long long)x.err);
		if (x.dead)
			return 1;
		return 0;
	}

	/* Keep the stub intact and every check exact: no writes or code in
	 * the system part (the stub, its tables), reads only where the stub
	 * does not write while it reports, code only in writable RAM. */
	q = npt_query(vm->s1, va, &gpa, &f, NULL);
	if (q && q != NPT_ERR_NOT_MAPPED)
		return fail(vm, "npt_query (stage 1)", q);
	if (q && (cmd & CMD_USER) && va >= UPPER_HALF)
		return upper_user_probe(h, cmd, va, value);
	if (q == 0) {
		unsigned kind = cmd & 0xff;
		int ram_rw = gpa >= vm->sys_end && gpa < vm->mem &&
			     h->kind[(gpa - vm->sys_end) / PAGE_SIZE] == K_RW;

		if (gpa < vm->sys_end && kind == CMD_WRITE && (f & NPT_W))
			cmd = (cmd & CMD_USER) | CMD_READ;
		if (kind == CMD_EXEC && (f & NPT_X) && !ram_rw)
			cmd = (cmd & CMD_USER) | CMD_READ;
		if ((cmd & 0xff) == CMD_EXEC && (va & (PAGE_SIZE - 1)) > PAGE_SIZE - 16)
			va -= 16;
		if ((cmd & 0xff) == CMD_READ && volatile_gpa(h, gpa))
			va = vm->stub.load; /* read the stub's first bytes instead */
	}
	struct probe p = { .cmd = cmd, .va = va, .value = value };
	if (probe(vm, &p, &o) < 0)
		return -1;
	if (mb[MB_STATUS / 8] == ST_OK) {
		h->out[o.mmio ? O_MMIO : O_OK]++;
		leak_check(h, o.value, "the guest's result");
	} else {
		uint64_t vec = mb[MB_VECTOR / 8];
		h->out[vec == VEC_PF ? O_PF : vec == VEC_GP ? O_GP : O_EXC]++;
	}
	return 0;
}

/* ---- hostile phase ---------------------------------------------------------------- */

/* A garbage page-table entry, from the one there now. */
static uint64_t garbage_entry(struct hstate *h, uint64_t cur)
{
	struct vm *vm = h->vm;
	uint64_t perm = PTE_P | PTE_RW | PTE_US | (rnd(&h->seed, 2) ? PTE_NX : 0);

	switch (rnd(&h->seed, 7)) {
	case 0:
		return r64(h);
	case 1: /* somewhere in guest-physical space, maybe huge */
		return perm | (rnd(&h->seed, vm->gpa_end / PAGE_SIZE) * PAGE_SIZE) | (rnd(&h->seed, 2) ? PTE_PS : 0);
	case 2: /* another table, at the wrong level or into a cycle */
		return perm | h->tab[rnd(&h->seed, h->ntab)].pa;
	case 3:
		return 0;
	case 4: /* beyond RAM: MMIO below MAXPHYADDR, or reserved bits past it */
		return perm | ((vm->mem + r64(h) % (rnd(&h->seed, 4) ? 1ull << vm->maxphyaddr : 1ull << 52)) &
			       0x000ffffffffff000ull);
	default:
		return cur ^ (1ull << rnd(&h->seed, 64));
	}
}

static int pick_present(struct hstate *h, uint64_t table_pa)
{
	const uint8_t *t = h->vm->ram + table_pa;
	unsigned idx[512], n = 0;

	for (unsigned i = 0; i < 512; i++)
		if (rd64(t + 8 * i) & PTE_P)
			idx[n++] = i;
	return n ? (int)idx[rnd(&h->seed, n)] : (int)rnd(&h->seed, 512);
}

/* Code a hostile guest plants and runs (bytes, little-endian): each hits
 * one of the VMM's exit paths hard. */
static const struct {
	uint64_t code;
	unsigned len;
} snippets[] = {
	{ 0xfeeb, 2 },         /* jmp . : the watchdog */
	{ 0xfdebf4, 3 },       /* hlt; jmp .-3 : a storm of HLT exits */
	{ 0xfceb11e6, 4 },     /* out %al, $MB_PORT; jmp .-4 : reports from the wrong place */
	{ 0xfceb80e6, 4 },     /* out %al, $0x80; jmp .-4 : a port I/O storm */
	{ 0xfceb60e4, 4 },     /* in $0x60, %al; jmp .-4 : reads from no device */
	{ 0xc31b010f, 4 },     /* lidt (%rbx); ret : an IDT made of these very bytes */
	{ 0xc3d8220f, 4 },     /* mov %rax, %cr3; ret : CR3 = the command number */
	{ 0x0b0f, 2 },         /* ud2 */
	{ 0xcc, 1 },           /* int3 at CPL 0 */
};

/* Step `step` of the hostile phase. Early steps are mostly survivable
 * (garbage in the window's tables, probes through it); what usually kills
 * the guest -- the IDT, the tables that map the stub, code from anywhere --
 * grows likelier step by step, so most rounds probe through garbage for a
 * while before they die. */
static int hostile_step(struct hstate *h, unsigned step, struct hx *x)
{
	struct vm *vm = h->vm;
	int mild = rnd(&h->seed, HOSTILE_STEPS) >= 2 * step;
	unsigned c = mild ? (rnd(&h->seed, 3) ? 60 + (unsigned)rnd(&h->seed, 40) : (unsigned)rnd(&h->seed, 30)) :
			    (unsigned)rnd(&h->seed, 100);
	uint64_t va, value = r64(h), before = 0;
	unsigned cmd = CMD_READ;
	int before_ok = 0;

	if (c < 30) { /* a page-table entry */
		const struct ptab *t = &h->tab[h->nwin && (mild || rnd(&h->seed, 10) < 7) ?
					       rnd(&h->seed, h->nwin) : rnd(&h->seed, h->ntab)];
		unsigned i = (unsigned)(rnd(&h->seed, 2) ? pick_present(h, t->pa) : (int)rnd(&h->seed, 512));

		value = garbage_entry(h, rd64(vm->ram + t->pa + 8 * i));
		cmd = CMD_WRITE;
		va = gpa_to_va(t->pa + 8 * i);
		h->pt_writes++;
	} else if (c < 40) { /* an IDT gate */
		static const unsigned vecs[] = { 3, 8, 13, 14 };
		unsigned v = rnd(&h->seed, 2) ? vecs[rnd(&h->seed, 4)] : (unsigned)rnd(&h->seed, 256);
		unsigned half = (unsigned)rnd(&h->seed, 2);
		uint64_t cur = rd64(vm->ram + h->idt + 16 * v + 8 * half);

		switch (rnd(&h->seed, 4)) {
		case 0: value = r64(h); break;
		case 1: value = cur ^ (1ull << rnd(&h->seed, 64)); break;
		case 2: value = 0; break;
		default: /* a good gate to a random place in the stub */
			value = half ? 0 : GATE_LO(vm->stub.load +
						  rnd(&h->seed, vm->stub.image_end - vm->stub.load));
			break;
		}
		cmd = CMD_WRITE;
		va = h->idt + 16 * v + 8 * half;
		h->idt_writes++;
	} else if (c < 47) { /* plant a snippet in writable RAM, then run it */
		unsigned sn = (unsigned)rnd(&h->seed, sizeof(snippets) / sizeof(snippets[0]));
		uint64_t p = rnd(&h->seed, (h->hi - h->lo) / PAGE_SIZE);

		while (h->kind[p] != K_RW)
			p = (p + 1) % ((h->hi - h->lo) / PAGE_SIZE);
		va = gpa_to_va(h->lo + p * PAGE_SIZE + rnd(&h->seed, PAGE_SIZE / 8 - 1) * 8);
		value = snippets[sn].code | (r64(h) << (8 * snippets[sn].len));
		h->untrusted = 1;
		h->s1_off++;
		h->planted++;
		if (arm(h, vm, PROBE_MS) < 0 || hprobe(h, CMD_WRITE, va, value, x) < 0)
			return -1;
		if (x->dead)
			return 0;
		cmd = CMD_EXEC | (rnd(&h->seed, 10) < 3 ? CMD_USER : 0);
	} else if (c < 60) { /* code from a random place, any byte */
		static const int cls[] = { A_WINDOW, A_WINDOW, A_WINDOW, A_TEXT, A_TEXT, A_POOL,
					   A_RANDOM, A_CANON, A_SYSTEM };
		va = pick_va(h, cls[rnd(&h->seed, sizeof(cls) / sizeof(cls[0]))]) + rnd(&h->seed, 8);
		cmd = CMD_EXEC | (rnd(&h->seed, 10) < 4 ? CMD_USER : 0);
	} else { /* a probe anywhere (no code when mild) */
		static const int cls[] = { A_RANDOM, A_EDGE, A_CANON, A_WINDOW, A_WINDOW, A_WINDOW,
					   A_TAIL, A_POOL, A_TEXT, A_SYSTEM };
		unsigned k = (unsigned)rnd(&h->seed, 20);

		va = pick_va(h, cls[rnd(&h->seed, sizeof(cls) / sizeof(cls[0]))]);
		cmd = (k < 9 ? CMD_READ : k < 16 || mild ? CMD_WRITE : CMD_EXEC) |
		      (rnd(&h->seed, 10) < 3 ? CMD_USER : 0);
	}
	if ((cmd & 0xff) == CMD_EXEC)
		h->execs++;
	h->untrusted = 1; /* from here on the stage-1 table is the guest's */
	h->s1_off++;
	if ((cmd & 0xff) != CMD_EXEC)
		before_ok = translate(vm, va, &before) == 0;
	if (walk_step(h, cmd, va) < 0 ||
	    arm(h, vm, PROBE_MS) < 0 || hprobe(h, cmd, va, value, x) < 0)
		return -1;
	if (!x->dead && (x->outcome == O_OK || x->outcome == O_MMIO) && (cmd & 0xff) != CMD_EXEC)
		return value_check(h, cmd, va, value, x, before_ok, before);
	return 0;
}

/* ---- stage-2 isolation -------------------------------------------------------------- */

static void isolation_check(struct hstate *h)
{
	static const uint8_t zero[PAGE_SIZE];
	unsigned char res[4096]; /* mincore: one byte per page */
	struct vm *vm = h->vm;
	unsigned bad = 0;

	for (uint64_t base = vm->sys_end; base < vm->mem; base += sizeof(res) * PAGE_SIZE) {
		uint64_t n = (vm->mem - base) / PAGE_SIZE;
		int have_res;

		if (n > sizeof(res))
			n = sizeof(res);
		/* Above the span nothing was written by the VMM: a page the
		 * kernel does not have resident was never written by anyone
		 * (the mapping is private anonymous memory), so only resident
		 * ones are read -- which keeps a large --mem cheap. */
		have_res = base + n * PAGE_SIZE > h->hi &&
			   mincore(vm->ram + base, n * PAGE_SIZE, res) == 0;
		for (uint64_t i = 0; i < n; i++) {
			uint64_t off = base + i * PAGE_SIZE;
			int k = h->kind[(off - vm->sys_end) / PAGE_SIZE];
			const uint8_t *p = vm->ram + off;

			if (k == K_RW)
				continue;
			h->iso_pages++;
			if (off >= h->hi) {
				if ((have_res && !(res[i] & 1)) || !memcmp(p, zero, PAGE_SIZE))
					continue;
			} else {
				uint64_t a;
				for (a = 0; a < PAGE_SIZE; a += 8)
					if (rd64(p + a) != (k == K_RO ? ro_word(off + a) :
							    secret_word(off + a)))
						break;
				if (a == PAGE_SIZE)
					continue;
			}
			if (bad++ < 4)
				mismatch(vm, "RAM frame at offset %#llx, which stage 2 %s, changed while "
					 "the guest ran", (unsigned long long)off,
					 k == K_RO ? "maps read-only" : "does not map");
		}
	}
}

/* ---- the scenario -------------------------------------------------------------------- */

static int rounds(struct hstate *h)
{
	struct vm *vm = h->vm;

	for (unsigned round = 0; round < ROUNDS; round++) {
		struct hx x;
		int end = O_SURVIVED;
		const char *why = NULL;

		if (round > 0 && fresh_vm(h) < 0)
			return -1;
		h->seed = mix(h->opt->seed ^ 0x4057113ull ^ ((uint64_t)round << 40));
		if (arm(h, vm, 0) < 0 || setup(h) < 0)
			return -1;

		for (unsigned i = 0; i < TRUSTED_PROBES; i++) {
			int r = trusted_probe(h);
			if (r < 0)
				return -1;
			if (r > 0) {
				mismatch(vm, "round %u: the guest died in the trusted phase", round);
				end = O_LOST;
				break;
			}
		}
		for (unsigned i = 0; end == O_SURVIVED && i < HOSTILE_STEPS; i++) {
			if (hostile_step(h, i, &x) < 0)
				return -1;
			if (x.dead) {
				end = x.outcome;
				why = x.why;
			}
		}
		if (arm(h, vm, 0) < 0)
			return -1;
		h->ends[end]++;
		if (h->opt->verbose)
			printf("hostile: round %u: %s%s%s%s, last: %s va %#llx value %#llx\n", round,
			       oname[end], why ? " (" : "", why ? why : "", why ? ")" : "",
			       probe_name(vm->last.cmd), (unsigned long long)vm->last.va,
			       (unsigned long long)vm->last.value);

		/* Stage 2 is the VMM's alone: whatever the guest did, it holds. */
		slots_verify(vm);
		isolation_check(h);
		drop_vm(h);
	}
	return fresh_vm(h); /* for run_one's slot check and halt */
}

int sc_hostile(struct vm *vm)
{
	struct hstate *h = calloc(1, sizeof(*h));
	int rc;

	if (!h)
		return -1;
	h->vm = vm;
	h->opt = vm->opt;
	h->name = vm->scenario;
	h->t0 = vm->t_create;
	h->vms = 1;
	h->kind = malloc((vm->mem - vm->sys_end) / PAGE_SIZE);
	rc = h->kind ? rounds(h) : -1;
	/* Whatever happened, no npt call may read a table the guest wrote. */
	forget_s1(h);
	h->printed = vm->printed;
	add_counters(&h->total, &vm->c);
	vm->c = h->total;

	printf("hostile:  seed %llu: %u rounds on %u VMs; stage-1 cross-check on for %llu probes, "
	       "off for %llu hostile steps once the guest began writing its own page tables "
	       "(npt never reads them again)\n", (unsigned long long)h->opt->seed, ROUNDS, h->vms,
	       (unsigned long long)h->s1_on, (unsigned long long)h->s1_off);
	printf("hostile:  probe outcomes:");
	for (int i = 0; i < O_SURVIVED; i++)
		printf(" %s %llu%s", oname[i], (unsigned long long)h->out[i],
		       i + 1 < O_SURVIVED ? "," : "\n");
	printf("hostile:  rounds ended by:");
	for (int i = O_SHUTDOWN; i < O_SURVIVED; i++)
		printf(" %s %llu,", oname[i], (unsigned long long)h->ends[i]);
	printf(" survived %llu\n", (unsigned long long)h->ends[O_SURVIVED]);
	printf("hostile:  the guest wrote %llu page-table entries and %llu IDT words, ran code at %llu "
	       "random places (%llu planted snippets); %llu port I/O exits (%llu posing as "
	       "reports), %llu hlt\n",
	       (unsigned long long)h->pt_writes, (unsigned long long)h->idt_writes,
	       (unsigned long long)h->execs, (unsigned long long)h->planted,
	       (unsigned long long)(h->port_io + h->rogue_io),
	       (unsigned long long)h->rogue_io, (unsigned long long)h->hlts);
	printf("hostile:  stage 2 held: %llu MMIO exits justified (%llu after the scribble, %llu of "
	       "them beyond RAM); %llu values checked after the scribble through KVM_TRANSLATE (%llu not "
	       "checkable); %llu values free of unmapped RAM; %llu read-only/unmapped pages "
	       "unchanged\n", (unsigned long long)(vm->c.exits_mmio_r + vm->c.exits_mmio_w),
	       (unsigned long long)h->mmio_checked, (unsigned long long)h->wild_mmio,
	       (unsigned long long)h->v_checked, (unsigned long long)h->v_unchecked,
	       (unsigned long long)h->leaks_checked, (unsigned long long)h->iso_pages);
	if (h->quirk_rsvd)
		printf("hostile:  KVM quirk: %llu CPL-3 #PF in the empty upper canonical half came with "
		       "P|RSVD instead of not-present (accepted: the PML4 entry is empty)\n",
		       (unsigned long long)h->quirk_rsvd);
	fflush(stdout);
	free(h->kind);
	free(h);
	return rc;
}

