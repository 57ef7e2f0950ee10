/*
 * VMX with EPT (Intel SDM vol. 3C chapters 24-29; field encodings from
 * appendix B, capability MSRs from appendix A): one guest in 32-bit
 * protected mode with paging off -- an unrestricted guest, so its
 * addresses are guest-physical and every access goes through EPT alone --
 * running the same stubs as the SVM guest. Each control is adjusted to
 * what the processor allows (SDM A.3-A.5, the TRUE_ MSRs when
 * IA32_VMX_BASIC bit 55 says so).
 */
#include "svm.h"
#include "npt_flush_x86.h"

#define MSR_FEATURE_CONTROL 0x03a
#define MSR_VMX_BASIC       0x480
#define MSR_VMX_PIN         0x481
#define MSR_VMX_PROC        0x482
#define MSR_VMX_EXIT        0x483
#define MSR_VMX_ENTRY       0x484
#define MSR_CR0_FIXED0      0x486
#define MSR_CR0_FIXED1      0x487
#define MSR_CR4_FIXED0      0x488
#define MSR_CR4_FIXED1      0x489
#define MSR_VMX_PROC2       0x48b
#define MSR_EPT_VPID_CAP    0x48c
#define MSR_VMX_TRUE_PIN    0x48d
#define MSR_VMX_TRUE_PROC   0x48e
#define MSR_VMX_TRUE_EXIT   0x48f
#define MSR_VMX_TRUE_ENTRY  0x490
#define MSR_EFER            0xc0000080

/* VMCS fields (SDM vol. 3C appendix B) */
enum {
	G_ES_SEL = 0x800, G_CS_SEL = 0x802, G_SS_SEL = 0x804, G_DS_SEL = 0x806,
	G_FS_SEL = 0x808, G_GS_SEL = 0x80a, G_LDTR_SEL = 0x80c, G_TR_SEL = 0x80e,
	H_ES_SEL = 0xc00, H_CS_SEL = 0xc02, H_SS_SEL = 0xc04, H_DS_SEL = 0xc06,
	H_FS_SEL = 0xc08, H_GS_SEL = 0xc0a, H_TR_SEL = 0xc0c,
	EPTP = 0x201a, GUEST_PA = 0x2400,
	LINK_PTR = 0x2800, G_EFER = 0x2806, H_EFER = 0x2c02,
	PIN = 0x4000, PROC = 0x4002, EXC_BITMAP = 0x4004, EXIT_CTL = 0x400c,
	ENTRY_CTL = 0x4012, PROC2 = 0x401e,
	INSN_ERROR = 0x4400, EXIT_REASON = 0x4402, EXIT_INTR_INFO = 0x4404, EXIT_INTR_ERROR = 0x4406,
	G_ES_LIM = 0x4800, G_LDTR_LIM = 0x480c, G_TR_LIM = 0x480e, G_GDTR_LIM = 0x4810,
	G_IDTR_LIM = 0x4812, G_ES_AR = 0x4814, G_CS_AR = 0x4816, G_LDTR_AR = 0x4820,
	G_TR_AR = 0x4822, G_ACTIVITY = 0x4826,
	CR0_MASK = 0x6000, CR4_MASK = 0x6002, CR0_SHADOW = 0x6004, CR4_SHADOW = 0x6006,
	EXIT_QUAL = 0x6400,
	G_CR0 = 0x6800, G_CR3 = 0x6802, G_CR4 = 0x6804, G_ES_BASE = 0x6806,
	G_TR_BASE = 0x6814, G_GDTR_BASE = 0x6816, G_IDTR_BASE = 0x6818, G_DR7 = 0x681a,
	G_RSP = 0x681c, G_RIP = 0x681e, G_RFLAGS = 0x6820,
	H_CR0 = 0x6c00, H_CR3 = 0x6c02, H_CR4 = 0x6c04, H_FS_BASE = 0x6c06, H_GS_BASE = 0x6c08,
	H_TR_BASE = 0x6c0a, H_GDTR_BASE = 0x6c0c, H_IDTR_BASE = 0x6c0e,
};

#define PROC_HLT        (1u << 7)
#define PROC_SECONDARY  (1u << 31)
#define PROC2_EPT       (1u << 1)
#define PROC2_UNRESTRICTED (1u << 7)
#define EXIT_HOST_64    (1u << 9)
#define EXIT_LOAD_EFER  (1u << 21)
#define ENTRY_LOAD_EFER (1u << 15)

#define EXIT_EXCEPTION   0
#define EXIT_TRIPLE      2
#define EXIT_HLT         12
#define EXIT_EPT_VIOL    48
#define EXIT_EPT_MISCONF 49

static uint8_t vmxon_region[4096] __attribute__((aligned(4096)));
static uint8_t vmcs[4096] __attribute__((aligned(4096)));
static struct hv_vmx_gprs gprs;
static int launched;

static void vmwrite(uint64_t field, uint64_t v)
{
	__asm__ volatile("vmwrite %1, %0" : : "r"(field), "rm"(v) : "cc", "memory");
}

static uint64_t vmread(uint64_t field)
{
	uint64_t v;

	__asm__ volatile("vmread %1, %0" : "=rm"(v) : "r"(field) : "cc");
	return v;
}

/* A control with the bits the processor forces set and those it forbids
 * clear (SDM A.3.1: low half allowed 0-settings, high half allowed 1s). */
static uint32_t adjust(uint32_t want, uint32_t msr)
{
	const uint64_t cap = hv_rdmsr(msr);

	return (want | (uint32_t)cap) & (uint32_t)(cap >> 32);
}

static uint32_t allowed(uint32_t want, uint32_t msr)
{
	return (uint32_t)(hv_rdmsr(msr) >> 32) & want;
}

int hv_vmx_init(void)
{
	uint32_t r[4];
	uint64_t fc, cr0, cr4, basic;
	uint8_t ok;

	hv_cpuid(1, r);
	if (!(r[2] & (1u << 5))) /* ECX bit 5: VMX */
		return -1;
	basic = hv_rdmsr(MSR_VMX_BASIC);
	if (!allowed(PROC_SECONDARY, MSR_VMX_PROC) ||
	    allowed(PROC2_EPT | PROC2_UNRESTRICTED, MSR_VMX_PROC2) != (PROC2_EPT | PROC2_UNRESTRICTED))
		return -1;
	fc = hv_rdmsr(MSR_FEATURE_CONTROL);
	if (!(fc & 1))
		hv_wrmsr(MSR_FEATURE_CONTROL, fc | 1 | 4); /* lock, VMX outside SMX */
	__asm__ volatile("mov %%cr0, %0" : "=r"(cr0));
	__asm__ volatile("mov %%cr4, %0" : "=r"(cr4));
	cr0 = (cr0 | hv_rdmsr(MSR_CR0_FIXED0)) & hv_rdmsr(MSR_CR0_FIXED1);
	cr4 = (cr4 | hv_rdmsr(MSR_CR4_FIXED0) | (1u << 13)) & hv_rdmsr(MSR_CR4_FIXED1);
	__asm__ volatile("mov %0, %%cr0" : : "r"(cr0));
	__asm__ volatile("mov %0, %%cr4" : : "r"(cr4));
	*(uint32_t *)vmxon_region = (uint32_t)basic & 0x7fffffff;
	*(uint32_t *)vmcs = (uint32_t)basic & 0x7fffffff;
	{
		uint64_t pa = (uint64_t)(uintptr_t)vmxon_region;

		__asm__ volatile("vmxon %1; setna %0" : "=r"(ok) : "m"(pa) : "cc", "memory");
		if (ok)
			return -2;
		pa = (uint64_t)(uintptr_t)vmcs;
		__asm__ volatile("vmclear %1; setna %0" : "=r"(ok) : "m"(pa) : "cc", "memory");
		if (ok)
			return -3;
		__asm__ volatile("vmptrld %1; setna %0" : "=r"(ok) : "m"(pa) : "cc", "memory");
		if (ok)
			return -4;
	}
	return 0;
}

/* 5-level EPT (a page-walk length of 5): IA32_VMX_EPT_VPID_CAP bit 7. */
int hv_vmx_has_ept5(void)
{
	return (hv_rdmsr(MSR_EPT_VPID_CAP) >> 7) & 1;
}

void hv_vmx_guest(uint64_t eptp)
{
	const int use_true = (hv_rdmsr(MSR_VMX_BASIC) >> 55) & 1;
	uint64_t cr0, cr3, cr4, v;
	struct {
		uint16_t limit;
		uint64_t base;
	} __attribute__((packed)) gdtr;
	unsigned i;

	vmwrite(PIN, adjust(0, use_true ? MSR_VMX_TRUE_PIN : MSR_VMX_PIN));
	vmwrite(PROC, adjust(PROC_HLT | PROC_SECONDARY, use_true ? MSR_VMX_TRUE_PROC : MSR_VMX_PROC));
	vmwrite(PROC2, adjust(PROC2_EPT | PROC2_UNRESTRICTED, MSR_VMX_PROC2));
	vmwrite(EXIT_CTL, adjust(EXIT_HOST_64 | EXIT_LOAD_EFER,
				 use_true ? MSR_VMX_TRUE_EXIT : MSR_VMX_EXIT));
	vmwrite(ENTRY_CTL, adjust(ENTRY_LOAD_EFER, use_true ? MSR_VMX_TRUE_ENTRY : MSR_VMX_ENTRY));
	vmwrite(EXC_BITMAP, 0xffffffff); /* any guest exception exits: none is expected */
	vmwrite(EPTP, eptp);
	vmwrite(LINK_PTR, ~0ull);

	/* host state: this CPU as it is now */
	__asm__ volatile("mov %%cr0, %0" : "=r"(cr0));
	__asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
	__asm__ volatile("mov %%cr4, %0" : "=r"(cr4));
	__asm__ volatile("sgdt %0" : "=m"(gdtr));
	vmwrite(H_CR0, cr0);
	vmwrite(H_CR3, cr3);
	vmwrite(H_CR4, cr4);
	vmwrite(H_CS_SEL, 0x08);
	vmwrite(H_SS_SEL, 0x10);
	vmwrite(H_DS_SEL, 0x10);
	vmwrite(H_ES_SEL, 0x10);
	vmwrite(H_FS_SEL, 0x10);
	vmwrite(H_GS_SEL, 0x10);
	vmwrite(H_TR_SEL, 0x18);
	vmwrite(H_TR_BASE, hv_tss_base());
	vmwrite(H_GDTR_BASE, gdtr.base);
	vmwrite(H_IDTR_BASE, 0);
	vmwrite(H_FS_BASE, 0);
	vmwrite(H_GS_BASE, 0);
	vmwrite(H_EFER, hv_rdmsr(MSR_EFER));

	/* the guest: flat 32-bit protected mode, paging off (unrestricted) */
	v = (0x31 | hv_rdmsr(MSR_CR0_FIXED0)) & ~(1ull << 31) & hv_rdmsr(MSR_CR0_FIXED1);
	vmwrite(G_CR0, v); /* PE, ET, NE and what VMX fixes; PG off */
	vmwrite(CR0_SHADOW, v);
	v = hv_rdmsr(MSR_CR4_FIXED0); /* VMXE, which VMX operation fixes */
	vmwrite(G_CR4, v);
	vmwrite(CR4_SHADOW, 0);
	vmwrite(CR4_MASK, 1u << 13);
	vmwrite(G_CR3, 0);
	vmwrite(G_DR7, 0x400);
	vmwrite(G_RFLAGS, 2);
	vmwrite(G_RSP, 0);
	vmwrite(G_EFER, 0);
	for (i = 0; i < 6; i++) { /* ES CS SS DS FS GS */
		vmwrite(G_ES_SEL + 2 * i, i == 1 ? 0x08 : 0x10);
		vmwrite(G_ES_LIM + 2 * i, 0xffffffff);
		vmwrite(G_ES_AR + 2 * i, i == 1 ? 0xc09b : 0xc093);
		vmwrite(G_ES_BASE + 2 * i, 0);
	}
	vmwrite(G_LDTR_SEL, 0);
	vmwrite(G_LDTR_AR, 1u << 16); /* unusable */
	vmwrite(G_TR_SEL, 0);
	vmwrite(G_TR_LIM, 0x67);
	vmwrite(G_TR_AR, 0x8b); /* a busy 32-bit TSS */
	vmwrite(G_TR_BASE, 0);
	vmwrite(G_GDTR_LIM, 0xffff);
	vmwrite(G_IDTR_LIM, 0xffff);
	vmwrite(G_GDTR_BASE, 0);
	vmwrite(G_IDTR_BASE, 0);
	vmwrite(G_ACTIVITY, 0);
	launched = 0;
}

/* The guest on its own stage 1 (cr3 a guest-physical root; 0: back to
 * paging off): long mode ("IA-32e mode guest"), CR0.WP, EFER.NXE, 5-level
 * with la57; its page faults exit through the exception bitmap (basic
 * reason 0, vector 14, the exit qualification CR2). */
void hv_vmx_guest_paging(uint64_t cr3, int la57)
{
	const int use_true = (hv_rdmsr(MSR_VMX_BASIC) >> 55) & 1;
	const uint32_t entry = use_true ? MSR_VMX_TRUE_ENTRY : MSR_VMX_ENTRY;
	uint64_t cr0 = (0x31 | hv_rdmsr(MSR_CR0_FIXED0)) & hv_rdmsr(MSR_CR0_FIXED1);

	if (cr3) {
		cr0 |= (1ull << 31) | (1ull << 16); /* PG, WP */
		vmwrite(G_CR0, cr0);
		vmwrite(CR0_SHADOW, cr0);
		vmwrite(G_CR4, hv_rdmsr(MSR_CR4_FIXED0) | 0x20 | (la57 ? 0x1000 : 0));
		vmwrite(G_CR3, cr3);
		vmwrite(G_EFER, 0xd00); /* NXE LMA LME */
		vmwrite(G_ES_AR + 2, 0xa09b); /* CS: 64-bit code */
		vmwrite(ENTRY_CTL, adjust(ENTRY_LOAD_EFER | (1u << 9), entry));
	} else {
		cr0 &= ~(1ull << 31);
		vmwrite(G_CR0, cr0);
		vmwrite(CR0_SHADOW, cr0);
		vmwrite(G_CR4, hv_rdmsr(MSR_CR4_FIXED0));
		vmwrite(G_CR3, 0);
		vmwrite(G_EFER, 0);
		vmwrite(G_ES_AR + 2, 0xc09b);
		vmwrite(ENTRY_CTL, adjust(ENTRY_LOAD_EFER, entry));
	}
}

void hv_vmx_run(uint64_t rip, uint64_t rax, uint64_t rbx, struct hv_exit *e, uint64_t *rbx_out)
{
	vmwrite(G_RIP, rip);
	gprs.rax = rax;
	gprs.rbx = rbx;
	if (hv_vmx_enter(&gprs, launched)) {
		e->code = ~0ull;
		e->info1 = vmread(INSN_ERROR);
		return;
	}
	launched = 1;
	e->code = vmread(EXIT_REASON) & 0xffff;
	e->info1 = vmread(EXIT_QUAL);
	e->info2 = vmread(GUEST_PA);
	e->intr = vmread(EXIT_INTR_INFO);
	e->error = vmread(EXIT_INTR_ERROR);
	e->rip = vmread(G_RIP);
	*rbx_out = gprs.rbx;
}

void hv_vmx_invept(uint64_t eptp)
{
	npt_x86_invept(NPT_INVEPT_SINGLE, eptp);
}
