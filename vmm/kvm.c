/*
 * VM and VCPU bring-up, the run loop, the watchdog and teardown.
 *
 * The VCPU starts directly in 64-bit mode: there is no firmware and no
 * mode-switch code in the guest. KVM_SET_SREGS loads CR0/CR4/EFER, CR3 (the
 * root of the stage-1 table npt built in guest RAM) and the hidden parts of
 * the segment registers; the stub loads its own GDT/IDT first thing.
 * Values measured on this machine are in shared/reference/independent-walkers.md.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "vmm.h"

/* CR0 = PE|MP|ET|NE|WP|AM|PG: WP makes supervisor writes honour read-only
 * pages, which the stage1 scenario checks (SDM vol. 3 §2.5). */
#define GUEST_CR0 0x80050033ull
#define GUEST_CR4 0x20ull             /* PAE */
#define EFER_LME (1ull << 8)
#define EFER_LMA (1ull << 10)
#define EFER_NXE (1ull << 11)         /* NPT_X absent = NX set: needs NXE */
#define CPUID_EXT1_NX (1u << 20)      /* 0x80000001 EDX */
#define CPUID_EXT1_PAGE1GB (1u << 26) /* 0x80000001 EDX */

double now_sec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- watchdog -----------------------------------------------------------------
 * SIGALRM from an interval timer. The handler sets immediate_exit in the
 * kvm_run page: a KVM_RUN in progress returns EINTR (the handler is
 * installed without SA_RESTART) and one about to start returns at once, so
 * a guest that spins can never keep the VMM waiting. */
static struct kvm_run *volatile wd_run;
static volatile sig_atomic_t wd_fired;

static void on_alarm(int sig)
{
	struct kvm_run *run = wd_run;

	(void)sig;
	wd_fired = 1;
	if (run)
		run->immediate_exit = 1;
}

void watchdog_arm(struct vm *vm, unsigned ms)
{
	struct sigaction sa;
	struct itimerval it = { { 0, 0 }, { ms / 1000, (ms % 1000) * 1000 } };

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	wd_fired = 0;
	if (vm && vm->run)
		vm->run->immediate_exit = 0;
	setitimer(ITIMER_REAL, &it, NULL);
}

void watchdog_disarm(void)
{
	struct itimerval it;

	memset(&it, 0, sizeof(it));
	setitimer(ITIMER_REAL, &it, NULL);
	wd_fired = 0;
}

/* ---- /dev/kvm ---------------------------------------------------------------- */

int kvm_open(int *out)
{
	static const struct { int cap; const char *name; } need[] = {
		{ KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY" },
		{ KVM_CAP_READONLY_MEM, "KVM_CAP_READONLY_MEM (read-only slots)" },
		{ KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT" },
		{ KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID" },
	};
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);

	if (fd < 0) {
		fprintf(stderr, "vmm: /dev/kvm: %s: KVM is not available here, skipping\n",
			strerror(errno));
		return 77;
	}
	if (ioctl(fd, KVM_GET_API_VERSION, 0) != KVM_API_VERSION) {
		fprintf(stderr, "vmm: /dev/kvm: KVM API version is not %d, skipping\n",
			KVM_API_VERSION);
		close(fd);
		return 77;
	}
	for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++) {
		if (ioctl(fd, KVM_CHECK_EXTENSION, need[i].cap) <= 0) {
			fprintf(stderr, "vmm: /dev/kvm lacks %s, skipping\n", need[i].name);
			close(fd);
			return 77;
		}
	}
	*out = fd;
	return 0;
}

/* KVM_GET_SUPPORTED_CPUID; the caller frees. Grows the buffer on E2BIG. */
static struct kvm_cpuid2 *supported_cpuid(int kvm)
{
	for (unsigned n = 64; n <= 4096; n *= 2) {
		struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + n * sizeof(c->entries[0]));

		if (!c)
			return NULL;
		c->nent = n;
		if (ioctl(kvm, KVM_GET_SUPPORTED_CPUID, c) == 0)
			return c;
		free(c);
		if (errno != E2BIG)
			return NULL;
	}
	return NULL;
}

static const struct kvm_cpuid_entry2 *cpuid_leaf(const struct kvm_cpuid2 *c, uint32_t fn)
{
	for (uint32_t i = 0; i < c->nent; i++)
		if (c->entries[i].function == fn && c->entries[i].index == 0)
			return &c->entries[i];
	return NULL;
}

int kvm_cpu_info(int kvm, int *has_1g, unsigned *maxphyaddr)
{
	struct kvm_cpuid2 *c = supported_cpuid(kvm);
	const struct kvm_cpuid_entry2 *e1, *e8;
	int ok = -1;

	if (!c) {
		fprintf(stderr, "vmm: KVM_GET_SUPPORTED_CPUID: %s\n", strerror(errno));
		return -1;
	}
	e1 = cpuid_leaf(c, 0x80000001);
	e8 = cpuid_leaf(c, 0x80000008);
	if (!e1 || !(e1->edx & CPUID_EXT1_NX)) {
		fprintf(stderr, "vmm: the guest CPUID has no NX (0x80000001 EDX[20]); "
			"stage-1 no-execute cannot be expressed\n");
	} else {
		*has_1g = !!(e1->edx & CPUID_EXT1_PAGE1GB);
		*maxphyaddr = e8 ? (e8->eax & 0xff) : 36;
		ok = 0;
	}
	free(c);
	return ok;
}

/* ---- the stub image ---------------------------------------------------------- */

int stub_parse(const uint8_t *img, size_t size, struct stub *s)
{
	uint64_t h[4];

	if (size < STUB_HDR_OFFSET + 8 + sizeof(h) ||
	    memcmp(img + STUB_HDR_OFFSET, STUB_MAGIC, 8) != 0)
		return -1;
	memcpy(h, img + STUB_HDR_OFFSET + 8, sizeof(h));
	s->load = h[0];
	s->user_start = h[1];
	s->user_end = h[2];
	s->image_end = h[3];
	if (s->load != GPA_STUB || s->user_start % PAGE_SIZE || s->user_end % PAGE_SIZE ||
	    s->image_end % PAGE_SIZE || s->user_start < s->load ||
	    s->user_end < s->user_start || s->image_end < s->user_end ||
	    s->image_end > GPA_S1POOL || s->load + size > s->image_end)
		return -1;
	return 0;
}

/* ---- registers ----------------------------------------------------------------- */

static int set_registers(struct vm *vm)
{
	struct kvm_sregs s;
	struct kvm_regs r;
	/* Flat segments; only the hidden parts matter until the stub reloads
	 * them from its own GDT, whose selectors these match (SDM vol. 3 §3.4.5). */
	struct kvm_segment code = {
		.base = 0, .limit = 0xffffffff, .selector = 0x08, .type = 11,
		.present = 1, .dpl = 0, .db = 0, .s = 1, .l = 1, .g = 1,
	};
	struct kvm_segment data = code;

	data.selector = 0x10;
	data.type = 3;
	data.db = 1;
	data.l = 0;

	if (ioctl(vm->vcpu, KVM_GET_SREGS, &s) < 0)
		return -1;
	s.cs = code;
	s.ds = s.es = s.fs = s.gs = s.ss = data;
	s.cr0 = GUEST_CR0;
	s.cr4 = GUEST_CR4;
	s.efer = EFER_LME | EFER_LMA | EFER_NXE;
	s.cr3 = npt_x86_cr3(vm->s1boot); /* the stub builds its own (s1_takeover) */
	if (ioctl(vm->vcpu, KVM_SET_SREGS, &s) < 0)
		return -1;

	memset(&r, 0, sizeof(r));
	r.rip = vm->stub.load;
	r.rdi = GPA_MAILBOX; /* the stub's one argument; mapped 1:1 */
	r.rflags = 0x2;
	return ioctl(vm->vcpu, KVM_SET_REGS, &r);
}

void vm_dump(struct vm *vm, const char *why)
{
	struct kvm_regs r;
	struct kvm_sregs s;

	fprintf(stderr, "vmm: %s: %s; VM torn down\n", vm->scenario, why);
	if (ioctl(vm->vcpu, KVM_GET_REGS, &r) == 0) {
		fprintf(stderr, "  rip %016llx rsp %016llx rflags %016llx\n", r.rip, r.rsp, r.rflags);
		fprintf(stderr, "  rax %016llx rbx %016llx rcx %016llx rdx %016llx\n",
			r.rax, r.rbx, r.rcx, r.rdx);
		fprintf(stderr, "  rsi %016llx rdi %016llx rbp %016llx r15 %016llx\n",
			r.rsi, r.rdi, r.rbp, r.r15);
	}
	if (ioctl(vm->vcpu, KVM_GET_SREGS, &s) == 0)
		fprintf(stderr, "  cr0 %016llx cr2 %016llx cr3 %016llx cr4 %016llx efer %llx cs %04x\n",
			s.cr0, s.cr2, s.cr3, s.cr4, s.efer, s.cs.selector);
	if (vm->have_last)
		fprintf(stderr, "  last probe: %s va %#llx value %#llx\n", probe_name(vm->last.cmd),
			(unsigned long long)vm->last.va, (unsigned long long)vm->last.value);
	else
		fprintf(stderr, "  last probe: none (the stub had not reached its probe loop)\n");
}

/* Counts an exit by kind for the result table; returns the exit reason. */
int vm_count_exit(struct vm *vm)
{
	switch (vm->run->exit_reason) {
	case KVM_EXIT_IO:
		vm->c.exits_io++;
		break;
	case KVM_EXIT_MMIO:
		if (vm->run->mmio.is_write)
			vm->c.exits_mmio_w++;
		else
			vm->c.exits_mmio_r++;
		break;
	default:
		vm->c.exits_other++;
		break;
	}
	return (int)vm->run->exit_reason;
}

static const char *exit_name(unsigned reason)
{
	switch (reason) {
	case KVM_EXIT_IO: return "io";
	case KVM_EXIT_MMIO: return "mmio";
	case KVM_EXIT_HLT: return "hlt";
	case KVM_EXIT_SHUTDOWN: return "shutdown (triple fault)";
	case KVM_EXIT_FAIL_ENTRY: return "fail entry";
	case KVM_EXIT_INTERNAL_ERROR: return "internal error";
	case KVM_EXIT_EXCEPTION: return "exception";
	default: return "other";
	}
}

int vm_run_raw(struct vm *vm)
{
	for (;;) {
		if (wd_fired)
			return VM_RUN_TIMEOUT;
		if (ioctl(vm->vcpu, KVM_RUN, 0) == 0)
			break;
		if (errno != EINTR)
			return VM_RUN_ERROR;
		/* the watchdog, or another signal: look again */
	}
	vm->t_exit = now_sec();
	return vm_count_exit(vm);
}

int vm_run(struct vm *vm)
{
	char why[96];
	int x = vm_run_raw(vm);

	if (x == VM_RUN_TIMEOUT) {
		vm_dump(vm, "time limit exceeded: the guest hangs");
		return -1;
	}
	if (x == VM_RUN_ERROR) {
		snprintf(why, sizeof(why), "KVM_RUN: %s", strerror(errno));
		vm_dump(vm, why);
		return -1;
	}
	return x;
}

/* Any exit that is not the one expected ends the VM with a report. */
int vm_unexpected_exit(struct vm *vm, int reason)
{
	char why[128];

	if (reason == KVM_EXIT_SHUTDOWN)
		snprintf(why, sizeof(why), "the guest triple-faulted (KVM_EXIT_SHUTDOWN)");
	else if (reason == KVM_EXIT_INTERNAL_ERROR)
		snprintf(why, sizeof(why), "unexpected exit: %s (suberror %u)",
			 exit_name((unsigned)reason), vm->run->internal.suberror);
	else if (reason == KVM_EXIT_IO)
		snprintf(why, sizeof(why), "unexpected exit: io port %#x", vm->run->io.port);
	else
		snprintf(why, sizeof(why), "unexpected exit: %s (%d)",
			 exit_name((unsigned)reason), reason);
	vm_dump(vm, why);
	return -1;
}

/* ---- create / destroy ---------------------------------------------------------- */

uint64_t layout_s1pool_frames(uint64_t mem)
{
	/* The window is mapped with 4 KiB leaves at worst: one level-0 table
	 * per 2 MiB, plus the levels above and the system part. */
	return (mem + HOLE_TAIL) / (2 * MIB) + 64;
}

uint64_t layout_sys_end(uint64_t mem)
{
	return align_up(GPA_S1POOL + (layout_s1pool_frames(mem) + BOOT_FRAMES) * PAGE_SIZE,
			2 * MIB);
}

uint64_t s2pool_frames(uint64_t gpa_end)
{
	/* Worst case 4 KiB leaves over the whole probed range, plus splits and
	 * the multi-frame roots of some formats. */
	return 2 * (gpa_end / (2 * MIB)) + 128;
}

static int boot(struct vm *vm)
{
	int x;

	/* Up to the stub's first instruction, then up to its first mailbox
	 * report: by then GDT, IDT and TSS are loaded. */
	x = vm_run(vm);
	if (x < 0)
		return -1;
	if (x != KVM_EXIT_IO || vm->run->io.port != MB_PORT_HELLO)
		return vm_unexpected_exit(vm, x);
	vm->t_hello = vm->t_exit;
	x = vm_run(vm);
	if (x < 0)
		return -1;
	if (x != KVM_EXIT_IO || vm->run->io.port != MB_PORT)
		return vm_unexpected_exit(vm, x);
	return 0;
}

static int die(struct vm *vm, const char *what)
{
	fprintf(stderr, "vmm: %s: %s: %s\n", vm->scenario, what, strerror(errno));
	return -1;
}

int vm_vcpu_create(struct vm *vm, int kvm)
{
	struct kvm_cpuid2 *cpuid;
	int err, mmap_size;

	vm->vcpu = ioctl(vm->fd, KVM_CREATE_VCPU, 0);
	if (vm->vcpu < 0)
		return die(vm, "KVM_CREATE_VCPU");
	mmap_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (mmap_size < (int)sizeof(struct kvm_run))
		return die(vm, "KVM_GET_VCPU_MMAP_SIZE");
	vm->run_size = (size_t)mmap_size;
	vm->run = mmap(NULL, vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vm->vcpu, 0);
	if (vm->run == MAP_FAILED) {
		vm->run = NULL;
		return die(vm, "mmap kvm_run");
	}
	wd_run = vm->run;
	if (wd_fired)
		vm->run->immediate_exit = 1;

	/* The guest sees what KVM supports, no more: that is also what
	 * decides whether stage 1 may use 1 GiB leaves (s1_huge_opts). */
	cpuid = supported_cpuid(kvm);
	if (!cpuid)
		return die(vm, "KVM_GET_SUPPORTED_CPUID");
	err = ioctl(vm->vcpu, KVM_SET_CPUID2, cpuid);
	free(cpuid);
	if (err < 0)
		return die(vm, "KVM_SET_CPUID2");
	return 0;
}

int vm_create(struct vm *vm, const struct options *o, const char *scenario)
{
	uint64_t s2frames, s1frames;
	int err;

	memset(vm, 0, sizeof(*vm));
	vm->fd = vm->vcpu = -1;
	vm->opt = o;
	vm->scenario = scenario;
	vm->t_create = now_sec();
	vm->mem = o->mem;
	vm->sys_end = layout_sys_end(o->mem);
	vm->gpa_end = o->mem + HOLE_TAIL;
	if (kvm_cpu_info(o->kvm, &vm->has_1g, &vm->maxphyaddr) < 0)
		return -1;

	vm->fd = ioctl(o->kvm, KVM_CREATE_VM, 0);
	if (vm->fd < 0)
		return die(vm, "KVM_CREATE_VM");
	/* Guest RAM, and after it the stage-2 table's frames, in one mmap:
	 * the frames' made-up physical addresses start at `mem`, past every
	 * RAM offset, so one linear npt_mm covers both, and npt_translate_2d
	 * reads guest memory and the stage-2 table through stage 2's mm. Only
	 * the VMM walks that table, and no slot covers it. */
	s2frames = s2pool_frames(vm->gpa_end);
	vm->s2host_size = s2frames * PAGE_SIZE;
	vm->ram = mmap(NULL, vm->mem + vm->s2host_size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (vm->ram == MAP_FAILED) {
		vm->ram = NULL;
		return die(vm, "mmap guest RAM and the stage-2 pool");
	}
	vm->s2host = vm->ram + vm->mem; /* vm_destroy unmaps the two parts */
	/* The stage-1 model's frames: host memory, at the guest's addresses. */
	s1frames = layout_s1pool_frames(vm->mem);
	vm->s1host_size = s1frames * PAGE_SIZE;
	vm->s1host = mmap(NULL, vm->s1host_size, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (vm->s1host == MAP_FAILED) {
		vm->s1host = NULL;
		return die(vm, "mmap the stage-1 model's frames");
	}
	if (pool_init(&vm->s2pool, vm->s2host, vm->mem, s2frames) ||
	    pool_init(&vm->s1pool, vm->s1host, GPA_S1POOL, s1frames) ||
	    pool_init(&vm->bootpool, vm->ram + GPA_S1POOL + s1frames * PAGE_SIZE,
		      GPA_S1POOL + s1frames * PAGE_SIZE, BOOT_FRAMES) ||
	    pool_init(&vm->frames, vm->ram + vm->sys_end, vm->sys_end,
		      (vm->mem - vm->sys_end) / PAGE_SIZE)) {
		fprintf(stderr, "vmm: %s: out of memory\n", scenario);
		return -1;
	}

	/* Stage 2: the system part, GPA == offset, never changed afterwards.
	 * Its encoding does not matter to KVM, so any leaf size will do. */
	vm->s2 = npt_new(o->s2fmt, &vm->s2pool.mm, &err);
	if (!vm->s2)
		return fail(vm, "npt_new (stage 2)", err);
	npt_format_info(o->s2fmt, &vm->s2info);
	vm->s2_nests_s1 = !strncmp(vm->s2info.name, "ept", 3) || !strncmp(vm->s2info.name, "npt", 3);
	err = npt_map_region(vm->s2, 0, 0, vm->sys_end, NPT_R | NPT_W | NPT_X, NPT_MAP_HUGE);
	if (err)
		return fail(vm, "npt_map_region (stage 2, system part)", err);

	/* The stub before stage 1: s1_init reads its header's layout. */
	memcpy(vm->ram + GPA_STUB, o->stub, o->stub_size);
	if (stub_parse(o->stub, o->stub_size, &vm->stub) < 0) {
		fprintf(stderr, "vmm: %s: bad guest stub image\n", scenario);
		return -1;
	}
	if (s1_init(vm) < 0 || slots_sync_all(vm) < 0)
		return -1;

	if (vm_vcpu_create(vm, o->kvm) < 0)
		return -1;
	if (set_registers(vm) < 0)
		return die(vm, "KVM_SET_SREGS/KVM_SET_REGS");
	if (boot(vm) < 0)
		return -1;
	return s1_takeover(vm);
}

void vm_destroy(struct vm *vm)
{
	wd_run = NULL;
	if (vm->run)
		munmap(vm->run, vm->run_size);
	if (vm->vcpu >= 0)
		close(vm->vcpu);
	if (vm->fd >= 0)
		close(vm->fd);
	/* The tables before the memory they live in. */
	if (vm->s1)
		npt_free(vm->s1);
	if (vm->s1boot)
		npt_free(vm->s1boot);
	if (vm->s2)
		npt_free(vm->s2);
	slots_fini(vm);
	pool_fini(&vm->s1pool);
	pool_fini(&vm->bootpool);
	if (vm->s1host)
		munmap(vm->s1host, vm->s1host_size);
	pool_fini(&vm->s2pool);
	pool_fini(&vm->frames);
	if (vm->ram)
		munmap(vm->ram, vm->mem);
	if (vm->s2host)
		munmap(vm->s2host, vm->s2host_size);
	round_trips_free(&vm->rt);
	memset(vm, 0, sizeof(*vm));
	vm->fd = vm->vcpu = -1;
}
