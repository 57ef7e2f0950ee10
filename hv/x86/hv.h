/*
 * hv: a bare-metal hypervisor for x86-64 with AMD SVM and nested paging,
 * run by QEMU TCG (tests/test_hv_x86.c). Everything it knows about its
 * guest's memory is an npt table it builds and changes at run time with the
 * freestanding libnpt, and it checks every exit against npt_query.
 *
 * Physical memory (QEMU -m 256M), identity-mapped:
 *   1 MiB    hv itself (code, data, bss, boot tables and stack)
 *   32 MiB   frames for npt's tables (hv_mm)
 *   64 MiB   guest RAM, 160 MiB of host frames handed out in order
 */
#ifndef HV_H
#define HV_H

#include <stddef.h>
#include <stdint.h>

#include "npt.h"

#define HV_FRAMES_PA   (32ull << 20)
#define HV_FRAMES_SIZE (32ull << 20)
#define HV_RAM_PA      (64ull << 20)
#define HV_RAM_SIZE    (160ull << 20)

/* lib.c: what a kernel has */
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
void hv_putc(char c);
void hv_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void hv_exit(unsigned code) __attribute__((noreturn));
uint64_t hv_rnd(void);
void hv_seed(uint64_t seed);

/* mm.c: 4 KiB frames for npt's tables, and host pages for guest RAM */
extern struct npt_mm hv_mm;
uint64_t hv_mm_live(void);
uint64_t hv_ram_page(void); /* a fresh host page for guest RAM, 0 when none is left */
uint64_t hv_ram_block(uint64_t size, uint64_t align);

/* x86.c */
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

/* svm.c: one guest, one VMCB */
struct hv_gprs {
	uint64_t rbx, rcx, rdx, rsi, rdi, rbp, r8, r9, r10, r11, r12, r13, r14, r15;
};
int hv_vmrun(uint64_t vmcb_pa, struct hv_gprs *g);

struct hv_exit {
	uint64_t code, info1, info2, rip;
};
int hv_svm_init(void);                      /* 0, or -1 without SVM or NPT */
void hv_svm_guest(uint64_t ncr3);           /* a 32-bit protected-mode guest, paging off */
/* Runs the guest from rip with rax and rbx, until its next #VMEXIT;
 * tlb is the TLB_CONTROL for this VMRUN. */
void hv_svm_run(uint64_t rip, uint64_t rax, uint64_t rbx, unsigned tlb, struct hv_exit *e,
		uint64_t *rbx_out);

#define HV_EXIT_HLT      0x78
#define HV_EXIT_SHUTDOWN 0x7f
#define HV_EXIT_NPF      0x400
#define HV_NPF_P         (1ull << 0)
#define HV_NPF_W         (1ull << 1)
#define HV_NPF_ID        (1ull << 4)
#define HV_NPF_FINAL     (1ull << 32)
#define HV_NPF_TABLE     (1ull << 33)

#endif
