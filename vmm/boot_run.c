/*
 * vmm boot: a guest of the user's own on the memory a layout file
 * describes. What happens before the vCPU runs is boot_plan.c's (guest
 * memory, the stage-2 table npt builds from the layout, the load, the entry
 * state); this file is the KVM side:
 *
 *   1. options, the kernel and the layout, all checked before /dev/kvm;
 *   2. the VM: guest memory, stage 2 realised as memory slots (slots.c);
 *   3. the vCPU in the state the kernel's format asks for;
 *   4. the run loop: COM1 on the terminal, port 0xf4 to exit, every
 *      stage-2 exit checked against npt_query (and printed with --trace).
 *
 * Exit status: (value << 1) | 1 for a value the guest writes to port 0xf4
 * (QEMU's isa-debug-exit, as kvm-unit-tests use it); 0 when the guest halts
 * with interrupts off; 1 for a guest error (a triple fault, an access to a
 * hole, npt and KVM disagreeing, the time limit); 2 bad usage; 77 when KVM
 * is not usable here.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vmm.h"
#include "boot.h"

#define COM1 0x3f8u
#define EXIT_PORT 0xf4u
#define BOOT_TIMEOUT_S 30
#define KERNEL_MAX (256u << 20) /* bytes of a kernel file */
/* KVM's three-page TSS for real-mode emulation on VMX (kvmtool's place) */
#define TSS_ADDR 0xfffbd000ull

struct boot_opts {
	const char *kernel, *layout, *format;
	uint64_t mem;
	unsigned timeout_s;
	int trace;
};

static int usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "vmm boot: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nusage: vmm boot KERNEL [--mem SIZE] [--layout FILE] [--format F] "
		"[--trace] [--timeout SEC]\n");
	return 2;
}

static int parse_opts(int argc, char **argv, struct boot_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->mem = MEM_DEFAULT;
	o->timeout_s = BOOT_TIMEOUT_S;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--trace")) {
			o->trace = 1;
		} else if (!strcmp(a, "--mem") || !strcmp(a, "--layout") || !strcmp(a, "--format") ||
			   !strcmp(a, "--timeout")) {
			if (!v)
				return usage_error("%s needs a value", a);
			i++;
			if (!strcmp(a, "--mem") && parse_size(v, &o->mem) < 0)
				return usage_error("--mem %s: not a size (e.g. 64M, 1G)", v);
			if (!strcmp(a, "--layout"))
				o->layout = v;
			if (!strcmp(a, "--format"))
				o->format = v;
			if (!strcmp(a, "--timeout")) {
				char *end;
				unsigned long t = strtoul(v, &end, 10);

				if (*end || end == v || t == 0 || t > 3600)
					return usage_error("--timeout %s: seconds, 1 to 3600", v);
				o->timeout_s = (unsigned)t;
			}
		} else if (a[0] == '-' || o->kernel) {
			return usage_error("unexpected '%s'", a);
		} else {
			o->kernel = a;
		}
	}
	if (!o->kernel)
		return usage_error("%s", "no KERNEL");
	if (o->layout && o->mem != MEM_DEFAULT)
		return usage_error("%s", "--mem and --layout: the layout says how much RAM");
	return 0;
}

/* ---- COM1 ---------------------------------------------------------------------
 * A 16550 with nothing pending and no FIFO to set up (the register map of
 * the PC16550D data sheet): what the guest sends goes to stdout, what stdin
 * has is there to receive. */
struct uart {
	uint8_t lcr, ier, mcr, scr, dll, dlm;
	int eof;
};

static int stdin_ready(struct uart *u)
{
	struct pollfd p = { .fd = STDIN_FILENO, .events = POLLIN };

	return !u->eof && poll(&p, 1, 0) == 1 && (p.revents & (POLLIN | POLLHUP));
}

static void uart_io(struct uart *u, unsigned reg, int out, uint8_t *v)
{
	const int dlab = (u->lcr & 0x80) != 0;

	if (out) {
		switch (reg) {
		case 0:
			if (dlab)
				u->dll = *v;
			else if (putchar(*v) == '\n')
				fflush(stdout);
			break;
		case 1: *(dlab ? &u->dlm : &u->ier) = *v; break;
		case 3: u->lcr = *v; break;
		case 4: u->mcr = *v; break;
		case 7: u->scr = *v; break;
		default: break; /* FCR */
		}
		return;
	}
	switch (reg) {
	case 0:
		*v = dlab ? u->dll : 0;
		if (!dlab && stdin_ready(u) && read(STDIN_FILENO, v, 1) != 1)
			u->eof = 1;
		break;
	case 1: *v = dlab ? u->dlm : u->ier; break;
	case 2: *v = 0x01; break; /* IIR: no interrupt pending */
	case 3: *v = u->lcr; break;
	case 4: *v = u->mcr; break;
	case 5: *v = 0x60 | (stdin_ready(u) ? 0x01 : 0); break; /* LSR: THRE, TEMT, DR */
	case 6: *v = 0xb0; break; /* MSR: DCD, DSR, CTS */
	default: *v = u->scr; break;
	}
}

/* ---- the vCPU's first state ---------------------------------------------------- */

/* A GDT descriptor (SDM vol. 3 §3.4.5) in KVM's form. */
static void segment(struct kvm_segment *s, uint16_t sel, uint64_t d)
{
	uint32_t limit = (uint32_t)((d & 0xffff) | (d >> 32 & 0xf0000));

	memset(s, 0, sizeof(*s));
	s->base = (d >> 16 & 0xffffff) | (d >> 32 & 0xff000000);
	s->g = d >> 55 & 1;
	s->limit = s->g ? limit << 12 | 0xfff : limit;
	s->selector = sel;
	s->type = d >> 40 & 0xf;
	s->s = d >> 44 & 1;
	s->dpl = d >> 45 & 3;
	s->present = d >> 47 & 1;
	s->avl = d >> 52 & 1;
	s->l = d >> 53 & 1;
	s->db = d >> 54 & 1;
}

static int set_entry(struct vm *vm, const struct boot_entry *e)
{
	struct kvm_sregs s;
	struct kvm_regs r;

	if (ioctl(vm->vcpu, KVM_GET_SREGS, &s) < 0)
		return -1;
	segment(&s.cs, e->cs, e->cs_desc);
	segment(&s.ds, e->ds, e->ds_desc);
	s.es = s.fs = s.gs = s.ss = s.ds;
	s.gdt.base = e->gdt;
	s.gdt.limit = e->gdt_limit;
	s.idt.base = 0;
	s.idt.limit = 0; /* the guest sets its own before it takes an interrupt */
	s.cr0 = e->cr0;
	s.cr3 = e->cr3;
	s.cr4 = e->cr4;
	s.efer = e->efer;
	if (ioctl(vm->vcpu, KVM_SET_SREGS, &s) < 0)
		return -1;
	memset(&r, 0, sizeof(r));
	r.rip = e->rip;
	r.rsp = e->rsp;
	r.rax = e->rax;
	r.rbx = e->rbx;
	r.rflags = e->rflags;
	return ioctl(vm->vcpu, KVM_SET_REGS, &r);
}

/* ---- exits ----------------------------------------------------------------------- */

static const char *kind_name(const struct boot_range *r)
{
	static const char *const names[] = { "?", "ram", "rom", "mmio", "hole" };

	return r ? names[r->kind] : "outside every range";
}

/* A stage-2 exit: what npt says of gpa, which must agree with KVM's exit
 * (nothing mapped, or for a write, mapped without write permission). 0 to
 * go on, -1 after a report. */
static int stage2_exit(struct vm *vm, const struct boot_layout *l, const struct boot_opts *o)
{
	struct kvm_run *run = vm->run;
	const uint64_t gpa = run->mmio.phys_addr;
	const int w = run->mmio.is_write;
	const struct boot_range *r = boot_layout_find(l, gpa);
	uint64_t off = 0;
	unsigned flags = 0;
	int q = npt_query(vm->s2, gpa, &off, &flags, NULL);
	char answer[96];

	if (q)
		snprintf(answer, sizeof(answer), "%s", npt_strerror(q));
	else
		snprintf(answer, sizeof(answer), "offset %#llx flags %#x", (unsigned long long)off, flags);
	if (o->trace)
		fprintf(stderr, "vmm boot: stage-2 exit: %s %u bytes at GPA %#llx: npt_query: %s; "
			"layout: %s\n", w ? "write" : "read", run->mmio.len, (unsigned long long)gpa,
			answer, kind_name(r));
	if (!(q == NPT_ERR_NOT_MAPPED || (!q && w && !(flags & NPT_W)))) {
		fprintf(stderr, "vmm boot: KVM exits for a %s at GPA %#llx, which stage 2 maps (%s): "
			"the memory slots and npt disagree\n", w ? "write" : "read",
			(unsigned long long)gpa, answer);
		return -1;
	}
	if (r && (r->kind == BOOT_MMIO || (r->kind == BOOT_ROM && w))) {
		if (!w)
			memset(run->mmio.data, 0xff, sizeof(run->mmio.data)); /* no device behind it */
		return 0;
	}
	if (r)
		fprintf(stderr, "vmm boot: the guest %s GPA %#llx, in the hole of layout line %u\n",
			w ? "writes" : "reads", (unsigned long long)gpa, r->line);
	else
		fprintf(stderr, "vmm boot: the guest %s GPA %#llx, outside every range of the layout\n",
			w ? "writes" : "reads", (unsigned long long)gpa);
	vm_dump(vm, "an access to no memory");
	return -1;
}

/* Port I/O: COM1, the exit port; other ports read as all ones. 0 to go on,
 * 1 with *status when the guest asked to exit. */
static int port_exit(struct vm *vm, struct uart *u, int *status)
{
	struct kvm_run *run = vm->run;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	const int out = run->io.direction == KVM_EXIT_IO_OUT;

	for (uint32_t k = 0; k < run->io.count; k++, data += run->io.size) {
		if (run->io.port == EXIT_PORT && out) {
			uint32_t v = 0;

			memcpy(&v, data, run->io.size < 4 ? run->io.size : 4);
			*status = (int)((v << 1) | 1) & 0xff;
			return 1;
		}
		if (run->io.port >= COM1 && run->io.port < COM1 + 8 && run->io.size == 1)
			uart_io(u, run->io.port - COM1, out, data);
		else if (!out)
			memset(data, 0xff, run->io.size);
	}
	return 0;
}

static int run_guest(struct vm *vm, const struct boot_layout *l, const struct boot_opts *o)
{
	struct uart u = { 0 };
	int status = 1, x;

	watchdog_arm(vm, o->timeout_s * 1000u);
	for (;;) {
		x = vm_run(vm);
		if (x < 0)
			break; /* reported, the time limit included */
		if (x == KVM_EXIT_IO) {
			if (port_exit(vm, &u, &status))
				break;
		} else if (x == KVM_EXIT_MMIO) {
			if (stage2_exit(vm, l, o) < 0)
				break;
		} else if (x == KVM_EXIT_HLT) {
			fprintf(stderr, "vmm boot: the guest halted\n");
			status = 0;
			break;
		} else {
			vm_unexpected_exit(vm, x);
			break;
		}
	}
	watchdog_disarm();
	fflush(stdout);
	return status;
}

/* ---- the command ---------------------------------------------------------------- */

static int boot_fail(const char *what, const char *why)
{
	fprintf(stderr, "vmm boot: %s: %s\n", what, why);
	return 1;
}

/* The VM: guest memory, stage 2 from the layout as memory slots, the
 * kernel loaded, the vCPU in its entry state *e. 0, or 1 after a report. */
static int boot_vm(struct vm *vm, int kvm, const struct npt_format *f, const struct boot_layout *l,
		   const struct boot_image *im, const uint8_t *kernel, size_t klen,
		   struct boot_entry *e)
{
	struct boot_mem m;
	char err[BOOT_ERR_LEN];
	int nerr;

	memset(vm, 0, sizeof(*vm));
	vm->fd = vm->vcpu = -1;
	vm->scenario = "boot";
	vm->mem = boot_mem_bytes(l);
	vm->ram = mmap(NULL, vm->mem, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	for (unsigned i = 0; i < l->n; i++) /* stage 2's frames: enough up to the highest range */
		if (l->r[i].base + l->r[i].size > vm->gpa_end)
			vm->gpa_end = l->r[i].base + l->r[i].size;
	vm->s2host_size = s2pool_frames(vm->gpa_end) * PAGE_SIZE;
	vm->s2host = mmap(NULL, vm->s2host_size, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (vm->ram == MAP_FAILED)
		vm->ram = NULL;
	if (vm->s2host == MAP_FAILED)
		vm->s2host = NULL;
	if (!vm->ram || !vm->s2host ||
	    pool_init(&vm->s2pool, vm->s2host, PAGE_SIZE, vm->s2host_size / PAGE_SIZE))
		return boot_fail("guest memory", "out of memory");
	vm->s2 = npt_new(f, &vm->s2pool.mm, &nerr);
	if (!vm->s2)
		return boot_fail("npt_new (stage 2)", npt_strerror(nerr));
	npt_format_info(f, &vm->s2info);
	boot_mem_init(&m, l, vm->ram);
	if (boot_stage2(&m, vm->s2, err) || boot_load(&m, im, kernel, klen, err) ||
	    boot_entry_build(&m, im, e, err))
		return boot_fail("the kernel", err);

	vm->fd = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm->fd < 0)
		return boot_fail("KVM_CREATE_VM", strerror(errno));
	if (!boot_layout_find(l, TSS_ADDR) && !boot_layout_find(l, TSS_ADDR + 3 * PAGE_SIZE - 1))
		ioctl(vm->fd, KVM_SET_TSS_ADDR, (unsigned long)TSS_ADDR);
	if (slots_sync_all(vm) < 0 || vm_vcpu_create(vm, kvm) < 0)
		return 1;
	if (set_entry(vm, e) < 0)
		return boot_fail("KVM_SET_SREGS/KVM_SET_REGS", strerror(errno));
	return 0;
}

int cmd_boot(int argc, char **argv)
{
	struct boot_opts o;
	struct boot_layout l;
	struct boot_image im;
	struct boot_entry e;
	struct npt_format_info info;
	const struct npt_format *f;
	struct vm vm;
	char err[BOOT_ERR_LEN], vendor[13], text[64];
	uint8_t *kernel, *layout = NULL;
	size_t klen, llen;
	int kvm = -1, rc;

	rc = parse_opts(argc, argv, &o);
	if (rc)
		return rc;
	if (!o.format)
		o.format = host_format(vendor);
	f = o.format ? npt_format_by_name(o.format) : NULL;
	if (!f || npt_format_info(f, &info) < 0 || !info.stage2) {
		fprintf(stderr, "vmm boot: --format: stage-2 formats are");
		list_stage2(stderr);
		fprintf(stderr, "\n");
		return 2;
	}
	kernel = load_file(o.kernel, KERNEL_MAX, &klen);
	if (!kernel)
		return boot_fail(o.kernel, strerror(errno)) + 1;
	if (o.layout) {
		layout = load_file(o.layout, 1u << 20, &llen);
		if (!layout) {
			rc = boot_fail(o.layout, strerror(errno)) + 1;
			goto out_files;
		}
	} else {
		llen = (size_t)snprintf(text, sizeof(text), "ram 0 %#llx\n", (unsigned long long)o.mem);
		layout = (uint8_t *)strdup(text);
		if (!layout) {
			rc = boot_fail("--mem", strerror(errno));
			goto out_files;
		}
	}
	if (boot_layout_parse((const char *)layout, llen, 1ull << info.va_bits, &l, err)) {
		rc = boot_fail(o.layout ? o.layout : "--mem", err) + 1;
		goto out_files;
	}
	if (boot_image_parse(kernel, klen, &im, err) || boot_image_fits(&im, &l, err)) {
		rc = boot_fail(o.kernel, err) + 1;
		goto out_files;
	}
	rc = kvm_open(&kvm);
	if (rc)
		goto out_files;

	rc = boot_vm(&vm, kvm, f, &l, &im, kernel, klen, &e);
	if (rc == 0) {
		if (o.trace)
			fprintf(stderr, "vmm boot: %s entry %#llx, %s, boot area %#llx, stage 2 %s, "
				"%llu MiB of guest memory\n", o.kernel, (unsigned long long)e.rip,
				e.long_mode ? "long mode" : "multiboot", (unsigned long long)e.area,
				o.format, (unsigned long long)(vm.mem >> 20));
		rc = run_guest(&vm, &l, &o);
	}
	vm_destroy(&vm);
	close(kvm);
out_files:
	free(kernel);
	free(layout);
	return rc;
}
