/* hv on x86-64: port and MSR access, SVM (svm.c) and VMX (vmx.c). */
#ifndef HV_SVM_H
#define HV_SVM_H

#include "hv.h"

static inline void hv_outl(uint16_t port, uint32_t v)
{
	__asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port));
}
static inline void hv_outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}
static inline uint8_t hv_inb(uint16_t port)
{
	uint8_t v;

	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}
static inline uint64_t hv_rdmsr(uint32_t msr)
{
	uint32_t lo, hi;

	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return (uint64_t)hi << 32 | lo;
}
static inline void hv_wrmsr(uint32_t msr, uint64_t v)
{
	__asm__ volatile("wrmsr" : : "c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)));
}
static inline void hv_cpuid(uint32_t leaf, uint32_t r[4])
{
	__asm__ volatile("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3]) : "a"(leaf), "c"(0));
}

/* entry.S */
struct hv_gprs {
	uint64_t rbx, rcx, rdx, rsi, rdi, rbp, r8, r9, r10, r11, r12, r13, r14, r15;
};
int hv_vmrun(uint64_t vmcb_pa, struct hv_gprs *g);

/* svm.c: one guest in 32-bit protected mode with paging off, one VMCB */
struct hv_exit {
	uint64_t code, info1, info2, rip;
	uint64_t intr, error; /* VMX: the exit's interruption information and error code */
};
int hv_svm_init(void);            /* 0, or -1 without SVM or nested paging */
void hv_svm_guest(uint64_t ncr3);
void hv_svm_guest_paging(uint64_t cr3, int la57);
/* Runs the guest from rip with rax and rbx until its next #VMEXIT; tlb is
 * this VMRUN's TLB_CONTROL. */
void hv_svm_run(uint64_t rip, uint64_t rax, uint64_t rbx, unsigned tlb, struct hv_exit *e,
		uint64_t *rbx_out);

/* vmx.c: one guest in 32-bit protected mode with paging off (an
 * unrestricted guest), one VMCS */
struct hv_vmx_gprs {
	uint64_t rax, rbx, rcx, rdx, rsi, rdi, rbp, r8, r9, r10, r11, r12, r13, r14, r15;
};
int hv_vmx_enter(struct hv_vmx_gprs *g, int launched); /* entry.S: 0 after an exit */
int hv_vmx_init(void);           /* 0, or < 0 without VMX with EPT and unrestricted guests */
int hv_vmx_has_ept5(void);
void hv_vmx_guest(uint64_t eptp);
void hv_vmx_guest_paging(uint64_t cr3, int la57);
/* Runs the guest from rip with eax and ebx until its next VM exit:
 * e->code the basic exit reason (~0: the VM entry failed, info1 its VM-
 * instruction error), info1 the exit qualification, info2 the guest-
 * physical address. */
void hv_vmx_run(uint64_t rip, uint64_t rax, uint64_t rbx, struct hv_exit *e, uint64_t *rbx_out);
void hv_vmx_invept(uint64_t eptp);
uint64_t hv_tss_base(void);      /* x86.c: the host TSS VMX needs in TR */

#define HV_EXIT_HLT      0x78
#define HV_EXIT_SHUTDOWN 0x7f
#define HV_EXIT_NPF      0x400
#define HV_NPF_P         (1ull << 0)   /* APM vol. 2 §15.25.6: EXITINFO1 */
#define HV_NPF_W         (1ull << 1)

#endif
