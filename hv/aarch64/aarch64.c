/*
 * hv on AArch64 at EL2: the console (PL011 at 0x09000000), the exit
 * (semihosting SYS_EXIT), and the guest run: EL1 with its MMU off, so
 * every access is an IPA that only stage 2 translates, running one of
 * three stubs per access. Stage-2 faults come back as data or instruction
 * aborts from a lower EL (Arm ARM D17 ESR_EL2: EC 0x24 / 0x20, the fault
 * status code with its level in ISS[5:0], WnR in ISS[6]; HPFAR_EL2 holds
 * the faulting IPA's page). Flush records go to npt_arm_flush_s2, which
 * also serves as the break-before-make hook (npt_flush_arm.h).
 */
#include "hv.h"
#include "npt_flush_arm.h"

#define UART 0x09000000ull /* PL011: DR at 0, FR at 0x18 (TXFF bit 5) */

void hv_putc(char c)
{
	volatile uint32_t *uart = (volatile uint32_t *)(uintptr_t)UART;

	while (uart[0x18 / 4] & (1u << 5))
		;
	uart[0] = (uint8_t)c;
}

/* Semihosting SYS_EXIT (0x18) with ADP_Stopped_ApplicationExit: QEMU
 * (-semihosting) exits with code. */
void hv_exit(unsigned code)
{
	static uint64_t block[2];

	block[0] = 0x20026;
	block[1] = code;
	__asm__ volatile("mov x0, #0x18\n\tmov x1, %0\n\thlt #0xf000" : : "r"(block) : "x0", "x1",
			 "memory");
	for (;;)
		__asm__ volatile("wfi");
}

extern const uint8_t el1_stubs[];
uint64_t run_el1(uint64_t pc, uint64_t x0, uint64_t x1);

static const uint8_t hvc[] = { 0x02, 0x00, 0x00, 0xd4 }; /* hvc #0 */
static int has_ttl;

#define SYSREG_GET(name)                                         \
	({                                                       \
		uint64_t v_;                                     \
		__asm__ volatile("mrs %0, " #name : "=r"(v_));  \
		v_;                                              \
	})
#define SYSREG_SET(name, v) __asm__ volatile("msr " #name ", %0\n\tisb" : : "r"((uint64_t)(v)))

static void guest(struct npt_table *t)
{
	SYSREG_SET(vtcr_el2, npt_arm_vtcr(t));
	SYSREG_SET(vttbr_el2, npt_arm_vttbr(t, 1));
	SYSREG_SET(sctlr_el1, 0x30d00800ull);               /* RES1 bits; MMU, caches off */
	/* RW (EL1 is AArch64), PTW (a stage-1 walk into Device memory faults,
	 * as npt_translate_2d models it), VM */
	SYSREG_SET(hcr_el2, (1ull << 31) | (1ull << 2) | (1ull << 0));
}

extern const uint8_t el1_vectors[];

/* The guest's own stage 1 (npt_arm_tcr, NPT_ARM_MAIR, TTBR0_EL1), its
 * faults through el1_vectors; NULL: the MMU off again. */
static void guest_s1(const struct npt_table *s1)
{
	if (s1) {
		SYSREG_SET(mair_el1, NPT_ARM_MAIR);
		SYSREG_SET(tcr_el1, npt_arm_tcr(s1));
		SYSREG_SET(ttbr0_el1, npt_root(s1));
		SYSREG_SET(vbar_el1, (uint64_t)(uintptr_t)el1_vectors);
	}
	SYSREG_SET(sctlr_el1, 0x30d00800ull | (s1 ? 1u : 0u)); /* M */
	__asm__ volatile("dsb ishst\n\ttlbi vmalls12e1is\n\tdsb ish\n\tisb" : : : "memory");
}

static void flush(const struct npt_flush *f)
{
	npt_arm_flush_s2(f, has_ttl, ~0ull);
}

static void flush_all(void)
{
	__asm__ volatile("dsb ishst\n\ttlbi vmalls12e1is\n\tdsb ish\n\tisb" : : : "memory");
}

/* An abort's syndrome (D17 ESR_ELx, ISS of a data or instruction abort):
 * the fault status code with the level in its low bits, WnR in bit 6. */
static void abort_kind(uint64_t esr, int data, struct hv_result *r)
{
	const uint64_t fsc = esr & 0x3f;

	r->write = data && (esr & (1u << 6));
	r->level = 3 - (int)(fsc & 3); /* Arm's level from the root, npt's from the leaf */
	switch (fsc & 0x3c) {
	case 0x04:
		r->fault = HV_F_TRANSLATION;
		break;
	case 0x08:
		r->fault = HV_F_ACCESS;
		break;
	case 0x0c:
		r->fault = HV_F_PERMISSION;
		break;
	default:
		r->other = "an abort that is not a translation, access flag or permission fault";
	}
}

static void run(unsigned kind, uint64_t gpa, uint8_t value, struct hv_result *r)
{
	const uint64_t x1 = run_el1((uint64_t)(uintptr_t)el1_stubs + 0x10 * kind, gpa, value);
	const uint64_t esr = SYSREG_GET(esr_el2), ec = esr >> 26;

	*r = (struct hv_result){ .level = -1 };
	if (x1 == ~0ull) {
		r->other = "an interrupt or SError";
	} else if (ec == 0x16 && (esr & 0xffff) == 1) { /* HVC #1: a stage-1 fault at EL1 */
		const uint64_t esr1 = SYSREG_GET(esr_el1), ec1 = esr1 >> 26;

		r->stage = 1;
		r->va = SYSREG_GET(far_el1);
		if (ec1 != 0x25 && ec1 != 0x21) /* data / instruction abort, same EL */
			r->other = "an EL1 exception that is not an abort";
		else
			abort_kind(esr1, ec1 == 0x25, r);
	} else if (ec == 0x16) { /* HVC #0: the stub ended */
		r->done = 1;
		r->value = (uint8_t)x1;
		r->pc = SYSREG_GET(elr_el2) - 4;
	} else if (ec == 0x24 || ec == 0x20) { /* data / instruction abort from a lower EL */
		const uint64_t hpfar = SYSREG_GET(hpfar_el2), far = SYSREG_GET(far_el2);

		r->stage = 2;
		r->gpa = ((hpfar & 0x00000ffffffffff0ull) << 8) | (far & 0xfff);
		abort_kind(esr, ec == 0x24, r);
	} else {
		r->other = "an unexpected exception class";
	}
}

static const struct hv_arch arm = {
	.name = "AArch64 EL2",
	.stubs_gpa = 0, /* hv_main: el1_stubs' own address */
	.stub_size = 4096,
	.ret = hvc,
	.ret_size = 4,
	.w_bit = 1ull << 7, /* S2AP[1] (Arm ARM D8.3.3) */
	.af_faults = 1,     /* no FEAT_HAFDBS here: AF = 0 faults */
	.guest = guest,
	.flush = flush,
	.flush_all = flush_all,
	.run = run,
	.s1 = "aarch64",
	.guest_s1 = guest_s1,
};

void hv_main(void);

void hv_main(void)
{
	struct hv_arch a = arm;
	unsigned bad;

	if ((SYSREG_GET(CurrentEL) >> 2) != 2) {
		hv_printf("hv aarch64: FAIL not entered at EL2 (-M virt,virtualization=on)\n");
		hv_exit(2);
	}
	has_ttl = npt_arm_has_ttl();
	a.stubs_gpa = a.stubs_pa = (uint64_t)(uintptr_t)el1_stubs;
	hv_printf("hv aarch64: start at EL2, FEAT_TTL %s\n", has_ttl ? "yes" : "no");
	bad = hv_scenario(&a, "aarch64-s2");
	bad += hv_scenario(&a, "aarch64-s2-48");
	hv_exit(bad ? 1 : 0);
}
