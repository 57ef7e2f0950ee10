/*
 * A boot sector for Bochs (tests/hv.sh), which has no -kernel: the
 * BIOS loads it at 0x7c00 from a disk image whose next sectors hold a
 * multiboot image with the a.out kludge (hv/x86/hv.bin). It reads them to
 * 0x10000 with the BIOS's extended read (int 13h AH=42h), opens A20,
 * enters 32-bit protected mode, copies the image to the load address its
 * multiboot header names, zeroes its bss and jumps to its entry: what
 * QEMU's multiboot loader does.
 */
	.set SECTORS, 480       /* 240 KiB: the image may not be larger */
	.set BUF, 0x10000

	.code16
	.section .text
	.globl _start
_start:
	cli
	xor %ax, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss
	mov $0x7c00, %sp
	mov %dl, drive
	in $0x92, %al           /* fast A20 */
	or $2, %al
	out %al, $0x92
	mov $SECTORS, %cx
1:	mov drive, %dl
	mov $dap, %si
	mov $0x42, %ah
	int $0x13
	jc fail
	addw $0x800, dap_seg    /* 64 sectors = 32 KiB further */
	addl $64, dap_lba
	sub $64, %cx
	ja 1b
	lgdt gdt_desc
	mov %cr0, %eax
	or $1, %eax
	mov %eax, %cr0
	ljmp $0x08, $pm

fail:
	mov $0xe9, %dx          /* Bochs' port e9: say why */
	mov $'R', %al
	out %al, %dx
	hlt
	jmp fail

	.code32
pm:
	mov $0x10, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss
	mov $0x7c00, %esp
	mov $BUF, %esi
	mov 16(%esi), %edi      /* multiboot header: load_addr */
	mov 20(%esi), %ecx      /* load_end_addr */
	sub %edi, %ecx
	cld
	rep movsb
	mov $BUF, %esi
	mov 20(%esi), %edi      /* bss: load_end_addr .. bss_end_addr */
	mov 24(%esi), %ecx
	sub %edi, %ecx
	xor %eax, %eax
	rep stosb
	mov $BUF, %esi
	jmp *28(%esi)           /* entry_addr */

	.align 4
dap:
	.byte 16, 0
	.word 64                /* sectors per read */
	.word 0                 /* offset */
dap_seg:
	.word BUF >> 4          /* segment */
dap_lba:
	.long 1, 0              /* LBA */
drive:
	.byte 0
	.align 8
gdt:
	.quad 0
	.quad 0x00cf9a000000ffff /* 0x08: 32-bit code */
	.quad 0x00cf92000000ffff /* 0x10: data */
gdt_desc:
	.word gdt_desc - gdt - 1
	.long gdt

	.org 510
	.byte 0x55, 0xaa
