/*
 * The long-mode hello-world guest of `vmm boot`: an ELF64 x86-64
 * executable (no multiboot header), entered as boot.h documents -- 64-bit
 * mode on the identity map npt built, rsp the top of the boot area's stack.
 * It prints one line on COM1 and exits through port 0xf4 with the value 0
 * (`vmm boot` ends with status 1). Linked at 1 MiB (guest/x86/hello64.ld);
 * `vmm boot` loads build/guest/x86/hello64.elf.
 */
#include "multiboot.h"
	.set EXIT_PORT, 0xf4

	.section .text
	.code64
	.globl _start
_start:
	cli
	lea hello(%rip), %rsi
	call puts
	mov %cr0, %rax          /* CR0.PG: the identity map is in use */
	bt $31, %rax
	jnc 1f
	lea paging(%rip), %rsi
	call puts
1:	xor %eax, %eax          /* status 0 */
	mov $EXIT_PORT, %dx
	outb %al, %dx
2:	hlt
	jmp 2b

	COM1_PUTS

hello:	.asciz "Hello from a long-mode guest on npt's stage 2"
paging:	.asciz ", paging through npt's identity map\n"
