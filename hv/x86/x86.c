/*
 * hv on x86-64: the console (COM1), the exit (QEMU's isa-debug-exit, or
 * Bochs' shutdown port), its own address space built by npt, and the guest
 * run, with AMD SVM (nested paging: npt, npt5) or Intel VMX (EPT: ept,
 * ept5), whichever the processor has: a 32-bit protected-mode guest with
 * paging off, so every access goes through the stage-2 table alone,
 * running one of three stubs per access. SVM: each flush record becomes
 * the next VMRUN's TLB_CONTROL. VMX: INVEPT single-context.
 */
#include "svm.h"
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

#define COM1 0x3f8

/* 115200 8N1: QEMU ignores the line settings, Bochs' 8250 keeps 5-bit
 * characters until told otherwise. */
static void uart_init(void)
{
	hv_outb(COM1 + 3, 0x80); /* LCR: DLAB */
	hv_outb(COM1 + 0, 1);    /* divisor 1 */
	hv_outb(COM1 + 1, 0);
	hv_outb(COM1 + 3, 0x03); /* 8 bits, no parity, one stop bit */
	hv_outb(COM1 + 2, 0xc7); /* FIFOs on, cleared */
	hv_outb(COM1 + 4, 0x03); /* DTR, RTS */
}

void hv_putc(char c)
{
	while (!(hv_inb(COM1 + 5) & 0x20)) /* LSR: transmit holding register empty */
		;
	hv_outb(COM1, (uint8_t)c);
}

/* QEMU -device isa-debug-exit,iobase=0xf4: exits with (code << 1) | 1.
 * Bochs has no such device: "Shutdown" written to port 0x8900 ends its
 * simulation (the test reads the verdict from the console). */
void hv_exit(unsigned code)
{
	const char *s = "Shutdown";

	while (!(hv_inb(COM1 + 5) & 0x40)) /* LSR: transmitter empty, the report all out */
		;
	hv_outl(0xf4, code);
	while (*s)
		hv_outb(0x8900, (uint8_t)*s++);
	for (;;)
		__asm__ volatile("cli; hlt");
}

/* mov (%eax),%bl; hlt -- mov %bl,(%eax); hlt -- jmp *%eax (onto a hlt),
 * at the start of a page the guest sees at G_STUBS */
#define G_STUBS 0x1000ull
static const uint8_t stubs[4096] __attribute__((aligned(4096))) = {
	0x8a, 0x18, 0xf4, [0x10] = 0x88, 0x18, 0xf4, [0x20] = 0xff, 0xe0,
};
static const uint8_t hlt[] = { 0xf4 };
static unsigned tlb_next; /* TLB_CONTROL the next VMRUN carries */

/* A #PF of the guest's own stage 1: the error code's P (bit 0) tells a
 * missing entry from a permission, W/R (bit 1) a write (SDM vol. 3A §4.7). */
static void page_fault(uint64_t error, uint64_t cr2, struct hv_result *r)
{
	r->stage = 1;
	r->va = cr2;
	r->fault = error & 1 ? HV_F_PERMISSION : HV_F_TRANSLATION;
	r->write = (error & 2) != 0;
	if (error & 8) /* RSVD: npt wrote no reserved bit */
		r->other = "a page fault on a reserved bit";
}

static uint64_t eptp; /* VMX: the EPTP in the VMCS */

#ifdef HV_LA57
#define LA57 1
#else
#define LA57 0
#endif

static void guest_s1(const struct npt_table *s1)
{
	hv_svm_guest_paging(s1 ? npt_x86_cr3(s1) : 0, LA57);
	tlb_next = NPT_SVM_TLB_ALL;
}

static void vmx_guest_s1(const struct npt_table *s1)
{
	hv_vmx_guest_paging(s1 ? npt_x86_cr3(s1) : 0, LA57);
	hv_vmx_invept(eptp);
}

static void guest(struct npt_table *t)
{
	hv_svm_guest(npt_x86_cr3(t));
}

static void flush(const struct npt_flush *f)
{
	tlb_next = npt_svm_tlb_control(f, 0);
}

static void flush_all(void)
{
	tlb_next = NPT_SVM_TLB_ALL;
}

static void run(unsigned kind, uint64_t gpa, uint8_t value, struct hv_result *r)
{
	struct hv_exit e;
	uint64_t rbx = 0;

	hv_svm_run(G_STUBS + 0x10 * kind, gpa, value, tlb_next, &e, &rbx);
	tlb_next = NPT_SVM_TLB_NOTHING;
	*r = (struct hv_result){ .level = -1 };
	if (e.code == HV_EXIT_HLT) {
		r->done = 1;
		r->value = (uint8_t)rbx;
		r->pc = e.rip;
	} else if (e.code == HV_EXIT_NPF) {
		r->stage = 2;
		r->fault = e.info1 & HV_NPF_P ? HV_F_PERMISSION : HV_F_TRANSLATION;
		r->gpa = e.info2;
		r->write = (e.info1 & HV_NPF_W) != 0;
	} else if (e.code == 0x40 + 14) { /* #PF: the guest's own stage 1 */
		page_fault(e.info1, e.info2, r);
	} else {
		r->other = e.code == HV_EXIT_SHUTDOWN ? "a shutdown exit" : "an unexpected exit";
	}
}

/* ---- VMX ---- */

static void vmx_guest(struct npt_table *t)
{
	eptp = npt_ept_pointer(t, 1); /* with EPT accessed and dirty flags */
	hv_vmx_guest(eptp);
}

static void vmx_flush(const struct npt_flush *f)
{
	if (f->kind != NPT_FLUSH_NONE)
		hv_vmx_invept(eptp);
}

static void vmx_flush_all(void)
{
	hv_vmx_invept(eptp);
}

/* EPT violation exit qualification (SDM vol. 3C table 28-7): bit 1 the
 * access was a write; bits 5:3 the entry's read, write and execute
 * permissions (all 0: nothing mapped there). */
static void vmx_run(unsigned kind, uint64_t gpa, uint8_t value, struct hv_result *r)
{
	struct hv_exit e;
	uint64_t rbx = 0;

	hv_vmx_run(G_STUBS + 0x10 * kind, gpa, value, &e, &rbx);
	*r = (struct hv_result){ .level = -1 };
	if (e.code == 12) { /* HLT */
		r->done = 1;
		r->value = (uint8_t)rbx;
		r->pc = e.rip;
	} else if (e.code == 48) { /* EPT violation */
		r->stage = 2;
		r->fault = e.info1 & (7u << 3) ? HV_F_PERMISSION : HV_F_TRANSLATION;
		r->gpa = e.info2;
		r->write = (e.info1 & 2) != 0;
	} else if (e.code == 0 && (e.intr & 0x800000ffu) == (0x80000000u | 14)) { /* #PF */
		page_fault(e.error, e.info1, r);
	} else {
		hv_printf("hv: VM exit %llx qualification %llx rip %llx\n", (unsigned long long)e.code,
			  (unsigned long long)e.info1, (unsigned long long)e.rip);
		r->other = e.code == ~0ull ? "a failed VM entry" : e.code == 49 ? "an EPT misconfiguration"
									  : "an unexpected VM exit";
	}
}

static const struct hv_arch vmx = {
	.name = "x86-64 VMX",
	.stubs_gpa = G_STUBS,
	.stubs_pa = (uint64_t)(uintptr_t)stubs,
	.stub_size = 4096,
	.ret = hlt,
	.ret_size = 1,
	.w_bit = 1ull << 1, /* EPT write access (SDM vol. 3C §29.3.2) */
	.af_faults = 0,     /* EPT A/D on (EPTP bit 6): the processor sets A */
	.guest = vmx_guest,
	.flush = vmx_flush,
	.flush_all = vmx_flush_all,
	.run = vmx_run,
	.s1 = S1,
	.guest_s1 = vmx_guest_s1,
};

/* ---- the TSS VMX wants in the host's TR (SDM vol. 3C §28.2.3) ---- */

extern uint64_t hv_gdt[];
static uint8_t tss[104] __attribute__((aligned(16)));

uint64_t hv_tss_base(void)
{
	return (uint64_t)(uintptr_t)tss;
}

static void tss_init(void)
{
	const uint64_t base = hv_tss_base(), limit = sizeof(tss) - 1;

	/* a 64-bit available TSS (type 9), present (SDM vol. 3A §8.2.3) */
	hv_gdt[3] = (limit & 0xffff) | (base & 0xffffff) << 16 | 0x89ull << 40 |
		    ((limit >> 16) & 0xf) << 48 | ((base >> 24) & 0xff) << 56;
	hv_gdt[4] = base >> 32;
	__asm__ volatile("ltr %w0" : : "r"(0x18));
}

static const struct hv_arch x86 = {
	.name = "x86-64 SVM",
	.stubs_gpa = G_STUBS,
	.stubs_pa = (uint64_t)(uintptr_t)stubs,
	.stub_size = 4096,
	.ret = hlt,
	.ret_size = 1,
	.w_bit = 1ull << 1, /* R/W (APM vol. 2 §5.4.1) */
	.af_faults = 0,     /* the processor sets A itself */
	.guest = guest,
	.flush = flush,
	.flush_all = flush_all,
	.run = run,
	.s1 = S1,
	.guest_s1 = guest_s1,
};

/* hv's own address space: an npt table of 1 GiB leaves over the first 4 GiB
 * replaces the boot tables in CR3. */
static void own_tables(void)
{
	int err;
	struct npt_table *t = npt_new(npt_format_by_name(S1), &hv_mm, &err);

	if (!t || npt_map_region(t, 0, 0, 4ull << 30, NPT_R | NPT_W | NPT_X | NPT_G, NPT_MAP_1G)) {
		hv_printf("hv " S2 ": FAIL building the " S1 " table\n");
		hv_exit(2);
	}
	__asm__ volatile("mov %0, %%cr3" : : "r"(npt_x86_cr3(t)) : "memory");
	hv_printf("hv " S2 ": " S1 " stage 1 of 4 1 GiB leaves in CR3 (%llu frames)\n",
		  (unsigned long long)npt_table_frames(t));
}

void hv_main(void);

void hv_main(void)
{
	unsigned bad;
	int r;

	uart_init();
	tss_init();
	hv_printf("hv " S2 ": start\n");
	own_tables();
	if (!hv_svm_init()) {
		hv_exit(hv_scenario(&x86, S2) ? 1 : 0);
	}
	r = hv_vmx_init();
	if (r) {
		hv_printf("hv " S2 ": FAIL neither SVM with nested paging nor VMX with EPT (%d)\n", r);
		hv_exit(2);
	}
	hv_printf("hv ept: VMX with EPT, 5-level EPT %s\n", hv_vmx_has_ept5() ? "yes" : "no");
	bad = hv_scenario(&vmx, "ept");
	if (hv_vmx_has_ept5())
		bad += hv_scenario(&vmx, "ept5");
	hv_exit(bad ? 1 : 0);
}
