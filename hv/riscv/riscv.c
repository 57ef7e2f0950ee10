/*
 * hv on RISC-V in HS-mode: the console (ns16550 at 0x10000000), the exit
 * (QEMU's sifive_test device at 0x100000), and the guest run: VS-mode with
 * vsatp bare, so every access is a guest-physical address only the G-stage
 * translates, running one of three stubs per access. G-stage faults come
 * back as guest-page faults (privileged spec §8.6.3: scause 20 fetch, 21
 * load, 23 store; htval = the guest-physical address >> 2, its low bits in
 * stval). They do not say whether the entry was missing or lacked a
 * permission, nor the level: a VMM (like this scenario) asks its own
 * table. Flush records go to npt_rv_flush (HFENCE.GVMA, npt_flush_riscv.h).
 */
#include "hv.h"
#include "npt_flush_riscv.h"

#define UART 0x10000000ull /* ns16550: THR at 0, LSR at 5 (THRE bit 5) */
#define TEST 0x100000ull   /* sifive_test: 0x5555 pass, code << 16 | 0x3333 fail */
#define CSR_HENVCFG 0x60a

void hv_putc(char c)
{
	volatile uint8_t *uart = (volatile uint8_t *)(uintptr_t)UART;

	while (!(uart[5] & 0x20))
		;
	uart[0] = (uint8_t)c;
}

void hv_exit(unsigned code)
{
	*(volatile uint32_t *)(uintptr_t)TEST = code ? code << 16 | 0x3333 : 0x5555;
	for (;;)
		__asm__ volatile("wfi");
}

extern const uint8_t vs_stubs[];
uint64_t run_vs(uint64_t pc, uint64_t a0, uint64_t a1);

static const uint8_t ecall[] = { 0x73, 0x00, 0x00, 0x00 };

#define CSR_GET(name)                                            \
	({                                                       \
		uint64_t v_;                                     \
		__asm__ volatile("csrr %0, " #name : "=r"(v_));  \
		v_;                                              \
	})
#define CSR_SET(name, v) __asm__ volatile("csrw " #name ", %0" : : "r"((uint64_t)(v)))

static void guest(struct npt_table *t)
{
	CSR_SET(0x60a, 1ull << 62); /* henvcfg.PBMTE: Svpbmt in the G-stage */
	CSR_SET(vsatp, 0);
	CSR_SET(hgatp, npt_riscv_hgatp(t, 1));
}

/* The guest's own stage 1 in vsatp (npt_riscv_satp), its page faults
 * trapping to HS (hedeleg 0); NULL: bare again. */
static void guest_s1(const struct npt_table *s1)
{
	CSR_SET(vsatp, s1 ? npt_riscv_satp(s1, 0) : 0);
	npt_rv_hfence_vvma_asid(0);
	npt_rv_hfence_gvma_vmid(1);
}

static void flush(const struct npt_flush *f)
{
	npt_rv_flush(f, NPT_RV_GSTAGE, 1, 64);
}

static void flush_all(void)
{
	npt_rv_hfence_gvma_vmid(1);
}

static void run(unsigned kind, uint64_t gpa, uint8_t value, struct hv_result *r)
{
	const uint64_t a1 = run_vs((uint64_t)(uintptr_t)vs_stubs + 0x10 * kind, gpa, value);
	const uint64_t cause = CSR_GET(scause);

	*r = (struct hv_result){ .level = -1 };
	if (!(CSR_GET(hstatus) & (1u << 7))) {
		r->other = "a trap that did not come from VS";
	} else if (cause == 10) { /* ecall from VS: the stub ended */
		r->done = 1;
		r->value = (uint8_t)a1;
		r->pc = CSR_GET(sepc);
	} else if (cause == 20 || cause == 21 || cause == 23) {
		r->stage = 2;
		r->fault = HV_F_UNKNOWN;
		r->gpa = (CSR_GET(htval) << 2) | (CSR_GET(stval) & 3);
		r->write = cause == 23;
	} else if (cause == 12 || cause == 13 || cause == 15) { /* a VS-stage page fault */
		r->stage = 1;
		r->fault = HV_F_UNKNOWN;
		r->va = CSR_GET(stval);
		r->write = cause == 15;
	} else {
		r->other = "an unexpected trap";
	}
}

static const struct hv_arch rv = {
	.name = "RISC-V HS",
	.stub_size = 4096,
	.ret = ecall,
	.ret_size = 4,
	.w_bit = 1ull << 2, /* W (privileged spec §4.4.1) */
	.af_faults = 0,     /* QEMU 7.2 sets A and D itself (tests/hv.sh counts it) */
	.guest = guest,
	.flush = flush,
	.flush_all = flush_all,
	.run = run,
	.guest_s1 = guest_s1,
};

void hv_main(void);

void hv_main(void)
{
	static const char *const formats[] = { "sv39x4", "sv48x4", "sv57x4" };
	/* the guest's own stage 1 over each: sv39, sv48 and sv57 */
	static const char *const stage1[] = { "sv39", "sv48", "sv57" };
	struct hv_arch a = rv;
	unsigned i, bad = 0;

	a.stubs_gpa = a.stubs_pa = (uint64_t)(uintptr_t)vs_stubs;
	hv_printf("hv riscv: start in HS-mode\n");
	for (i = 0; i < 3; i++) {
		/* hgatp is WARL: a mode the hart lacks does not stick */
		CSR_SET(hgatp, (8ull + i) << 60);
		if (CSR_GET(hgatp) >> 60 != 8 + i) {
			hv_printf("hv %s: not walked here (hgatp MODE %u does not stick)\n", formats[i],
				  8 + i);
			continue;
		}
		CSR_SET(hgatp, 0);
		a.s1 = stage1[i];
		bad += hv_scenario(&a, formats[i]);
	}
	hv_exit(bad ? 1 : 0);
}
