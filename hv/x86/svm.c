/*
 * SVM (AMD APM vol. 2 chapter 15): one guest in 32-bit protected mode with
 * paging off, so its addresses are guest-physical and every access goes
 * through the nested table alone. The VMCB layout is APM vol. 2 appendix
 * B, "Layout of VMCB".
 */
#include "svm.h"

#define MSR_EFER        0xc0000080
#define EFER_SVME       (1ull << 12)
#define MSR_VM_HSAVE_PA 0xc0010117

/* Control area (APM vol. 2 table B-1) */
#define VMCB_INTERCEPT_EXC 0x008 /* bit n: exception n exits */
#define VMCB_INTERCEPT1  0x00c /* bit 24 HLT, bit 31 SHUTDOWN */
#define VMCB_INTERCEPT2  0x010 /* bit 0 VMRUN (required) */
#define VMCB_ASID        0x058
#define VMCB_TLB_CONTROL 0x05c
#define VMCB_EXITCODE    0x070
#define VMCB_EXITINFO1   0x078
#define VMCB_EXITINFO2   0x080
#define VMCB_NP_ENABLE   0x090 /* bit 0 */
#define VMCB_NCR3        0x0b0
#define VMCB_CLEAN       0x0c0
/* State save area (table B-2): segments {selector, attrib, limit, base} */
#define VMCB_ES     0x400
#define VMCB_CS     0x410
#define VMCB_SS     0x420
#define VMCB_DS     0x430
#define VMCB_FS     0x440
#define VMCB_GS     0x450
#define VMCB_GDTR   0x460
#define VMCB_LDTR   0x470
#define VMCB_IDTR   0x480
#define VMCB_TR     0x490
#define VMCB_CPL    0x4cb
#define VMCB_EFER   0x4d0
#define VMCB_CR4    0x548
#define VMCB_CR3    0x550
#define VMCB_CR0    0x558
#define VMCB_DR7    0x560
#define VMCB_DR6    0x568
#define VMCB_RFLAGS 0x570
#define VMCB_RIP    0x578
#define VMCB_RSP    0x5d8
#define VMCB_RAX    0x5f8
#define VMCB_GPAT   0x668

static uint8_t vmcb[4096] __attribute__((aligned(4096)));
static uint8_t hsave[4096] __attribute__((aligned(4096)));
static struct hv_gprs gprs;

#define F(type, off) (*(volatile type *)(vmcb + (off)))

static void segment(unsigned off, uint16_t sel, uint16_t attrib, uint32_t limit, uint64_t base)
{
	F(uint16_t, off) = sel;
	F(uint16_t, off + 2) = attrib;
	F(uint32_t, off + 4) = limit;
	F(uint64_t, off + 8) = base;
}

int hv_svm_init(void)
{
	uint32_t r[4];

	hv_cpuid(0x80000001, r);
	if (!(r[2] & (1u << 2))) /* ECX bit 2: SVM */
		return -1;
	hv_cpuid(0x8000000a, r);
	if (!(r[3] & 1u)) /* EDX bit 0: nested paging */
		return -1;
	hv_wrmsr(MSR_EFER, hv_rdmsr(MSR_EFER) | EFER_SVME);
	hv_wrmsr(MSR_VM_HSAVE_PA, (uint64_t)(uintptr_t)hsave);
	return 0;
}

void hv_svm_guest(uint64_t ncr3)
{
	memset(vmcb, 0, sizeof(vmcb));
	F(uint32_t, VMCB_INTERCEPT1) = (1u << 24) | (1u << 31); /* HLT, SHUTDOWN */
	F(uint32_t, VMCB_INTERCEPT2) = 1u << 0;                 /* VMRUN */
	F(uint32_t, VMCB_ASID) = 1;
	F(uint64_t, VMCB_NP_ENABLE) = 1;
	F(uint64_t, VMCB_NCR3) = ncr3;
	/* flat 4 GiB segments: code 0x9b / data 0x93 with G and D/B */
	segment(VMCB_CS, 0x08, 0xc9b, 0xffffffff, 0);
	segment(VMCB_DS, 0x10, 0xc93, 0xffffffff, 0);
	segment(VMCB_ES, 0x10, 0xc93, 0xffffffff, 0);
	segment(VMCB_SS, 0x10, 0xc93, 0xffffffff, 0);
	segment(VMCB_FS, 0x10, 0xc93, 0xffffffff, 0);
	segment(VMCB_GS, 0x10, 0xc93, 0xffffffff, 0);
	segment(VMCB_GDTR, 0, 0, 0xffff, 0);
	segment(VMCB_IDTR, 0, 0, 0xffff, 0);
	segment(VMCB_LDTR, 0, 0x82, 0xffff, 0);
	segment(VMCB_TR, 0, 0x8b, 0xffff, 0);
	F(uint8_t, VMCB_CPL) = 0;
	F(uint64_t, VMCB_EFER) = EFER_SVME; /* the guest's EFER must have it (APM §15.5.1) */
	F(uint64_t, VMCB_CR0) = 0x11;        /* PE | ET: protected mode, paging off */
	F(uint64_t, VMCB_CR4) = 0;
	F(uint64_t, VMCB_CR3) = 0;
	F(uint64_t, VMCB_DR7) = 0x400;
	F(uint64_t, VMCB_DR6) = 0xffff0ff0;
	F(uint64_t, VMCB_RFLAGS) = 2;
	F(uint64_t, VMCB_RSP) = 0;
	F(uint64_t, VMCB_GPAT) = 0x0007040600070406ull; /* the power-up PAT */
}

/* The guest on its own stage 1 (cr3 a guest-physical root; 0: back to
 * paging off): long mode, CR0.WP, EFER.NXE, 5-level with la57; its page
 * faults exit (#VMEXIT 0x4e: EXITINFO1 the error code, EXITINFO2 CR2). */
void hv_svm_guest_paging(uint64_t cr3, int la57)
{
	if (cr3) {
		F(uint64_t, VMCB_CR0) = 0x80010031;                 /* PG WP NE ET PE */
		F(uint64_t, VMCB_CR4) = 0x20 | (la57 ? 0x1000 : 0); /* PAE, LA57 */
		F(uint64_t, VMCB_CR3) = cr3;
		F(uint64_t, VMCB_EFER) = EFER_SVME | 0xd00;         /* NXE LMA LME */
		segment(VMCB_CS, 0x08, 0xa9b, 0xffffffff, 0);       /* 64-bit code: L */
		F(uint32_t, VMCB_INTERCEPT_EXC) = 1u << 14;
	} else {
		F(uint64_t, VMCB_CR0) = 0x11;
		F(uint64_t, VMCB_CR4) = 0;
		F(uint64_t, VMCB_CR3) = 0;
		F(uint64_t, VMCB_EFER) = EFER_SVME;
		segment(VMCB_CS, 0x08, 0xc9b, 0xffffffff, 0);
		F(uint32_t, VMCB_INTERCEPT_EXC) = 0;
	}
}

void hv_svm_run(uint64_t rip, uint64_t rax, uint64_t rbx, unsigned tlb, struct hv_exit *e,
		uint64_t *rbx_out)
{
	F(uint64_t, VMCB_RIP) = rip;
	F(uint64_t, VMCB_RAX) = rax;
	F(uint8_t, VMCB_TLB_CONTROL) = (uint8_t)tlb;
	F(uint32_t, VMCB_CLEAN) = 0; /* nothing cached: every field is reloaded */
	gprs.rbx = rbx;
	hv_vmrun((uint64_t)(uintptr_t)vmcb, &gprs);
	e->code = F(uint64_t, VMCB_EXITCODE);
	e->info1 = F(uint64_t, VMCB_EXITINFO1);
	e->info2 = F(uint64_t, VMCB_EXITINFO2);
	e->rip = F(uint64_t, VMCB_RIP);
	if (rbx_out)
		*rbx_out = gprs.rbx;
}
