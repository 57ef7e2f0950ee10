/*
 * hv on x86-64 with AMD SVM: the console (COM1), the exit (QEMU's
 * isa-debug-exit), its own address space built by npt, and the guest run:
 * a 32-bit protected-mode guest with paging off, so every access goes
 * through the nested table alone, running one of three stubs per access.
 * Each flush record becomes the next VMRUN's TLB_CONTROL.
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
		r->fault = e.info1 & HV_NPF_P ? HV_F_PERMISSION : HV_F_TRANSLATION;
		r->gpa = e.info2;
		r->write = (e.info1 & HV_NPF_W) != 0;
	} else {
		r->other = e.code == HV_EXIT_SHUTDOWN ? "a shutdown exit" : "an unexpected exit";
	}
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
	uart_init();
	hv_printf("hv " S2 ": start\n");
	own_tables();
	if (hv_svm_init()) {
		hv_printf("hv " S2 ": FAIL no SVM with nested paging (-cpu ...,+svm,+npt)\n");
		hv_exit(2);
	}
	hv_exit(hv_scenario(&x86, S2) ? 1 : 0);
}
