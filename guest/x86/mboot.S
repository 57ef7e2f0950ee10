/*
 * A multiboot (v1) guest for QEMU TCG that does nothing but run on page
 * tables the host built with npt: tests/test_qemu_x86.c loads the tables
 * at 0x201000 with the root's address in the first 8 bytes of 0x200000
 * (QEMU's -device loader), boots this with -kernel, and reads the tables
 * back through QEMU's own walker (info mem, info tlb) and pmemsave.
 *
 * From the 32-bit protected mode multiboot leaves it in (paging off): CR3
 * = the root, CR4.PAE, EFER.LME | NXE, then CR0.PG | WP -- long mode
 * (compatibility mode: info mem and info tlb read CR3, CR4 and EFER.LMA,
 * and no 64-bit code is needed) -- on the host's identity map of the low 4
 * MiB. It writes 0x600dc0de to 0x200008 once paging is on, and halts.
 *
 * The multiboot header uses the a.out kludge (flags bit 16): the file is
 * loaded whole at its link address, 0x100000 (guest/x86/mboot.ld).
 */
#include "multiboot.h"
	.set MAILBOX, 0x200000

	.section .text
	.code32
	.globl _start
	MB_AOUT_HEADER MB_ADDRS

_start:
	cli
	mov MAILBOX, %eax
	mov %eax, %cr3
	mov %cr4, %eax
	or $0x20, %eax          /* PAE */
	mov %eax, %cr4
	mov $0xc0000080, %ecx   /* EFER */
	rdmsr
	or $0x900, %eax         /* LME | NXE */
	wrmsr
	mov %cr0, %eax
	or $0x80010000, %eax    /* PG | WP */
	mov %eax, %cr0
	movl $0x600dc0de, MAILBOX + 8
1:	hlt
	jmp 1b
