/*
 * The hello-world guest of `vmm boot` (README): a multiboot v1 kernel that
 * prints one line on COM1 and exits through port 0xf4 with the value 0, so
 * `vmm boot` (or QEMU with -device isa-debug-exit) ends with status
 * (0 << 1) | 1 = 1. Entered in 32-bit protected mode, paging off, eax =
 * 0x2BADB002 and ebx = the multiboot information (Multiboot Specification
 * 0.6.96 §3.2): the line says how much memory the loader reported.
 *
 * The header uses the a.out kludge (flags bit 16): the file is loaded whole
 * at its link address, 1 MiB (guest/x86/hello.ld).
 */
#include "multiboot.h"
	.set EXIT_PORT, 0xf4

	.section .text
	.code32
	.globl _start
	MB_AOUT_HEADER MB_ADDRS | MB_MEMINFO /* memory information wanted */

_start:
	cli
	mov $stack_top, %esp
	cmp $0x2badb002, %eax
	jne bad_loader
	mov $hello, %esi
	call puts
	mov 8(%ebx), %eax       /* mem_upper: KiB from 1 MiB on */
	shr $10, %eax           /* MiB */
	call putdec
	mov $mib, %esi
	call puts
	xor %eax, %eax          /* status 0 */
exit:
	mov $EXIT_PORT, %dx
	outb %al, %dx
1:	hlt                     /* without an exit device: stay halted */
	jmp 1b

bad_loader:
	mov $not_mb, %esi
	call puts
	mov $1, %eax
	jmp exit

	COM1_PUTS

/* putdec: eax in decimal to COM1 */
putdec:
	mov $digits_end, %edi
	movb $0, (%edi)
	mov $10, %ecx
1:	xor %edx, %edx
	div %ecx
	add $'0', %dl
	dec %edi
	mov %dl, (%edi)
	test %eax, %eax
	jnz 1b
	mov %edi, %esi
	jmp puts

hello:	.asciz "Hello from a multiboot guest on npt's stage 2: "
mib:	.asciz " MiB above 1 MiB\n"
not_mb:	.asciz "not started by a multiboot loader\n"
digits:	.space 12
digits_end: .byte 0
	.balign 16
	.space 1024
stack_top:
