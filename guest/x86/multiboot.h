/*
 * For the x86 guests (assembly, included by the .S files).
 *
 * MB_AOUT_HEADER flags: a multiboot v1 header (Multiboot Specification
 * 0.6.96 §3.1.1) with the a.out kludge -- flags bit 16 -- so that a loader
 * places the file whole at its link address (the header is the file's
 * first bytes, at header_addr = load_addr) and enters it at _start.
 *
 * COM1_PUTS: a routine `puts` that sends the NUL-terminated string at
 * (e/r)si to COM1 (polling LSR for THR empty, PC16550D register map); the
 * same bytes serve 32-bit and 64-bit code.
 */
#define MB_MAGIC 0x1badb002
#define MB_ADDRS (1 << 16)
#define MB_MEMINFO (1 << 1)
#define COM1 0x3f8
#define COM1_LSR (COM1 + 5)
#define LSR_THRE 0x20

.macro MB_AOUT_HEADER flags
mb_header:
	.long MB_MAGIC
	.long \flags
	.long -(MB_MAGIC + (\flags))
	.long mb_header /* header_addr */
	.long mb_header /* load_addr */
	.long 0         /* load_end_addr: the whole file */
	.long 0         /* bss_end_addr: no bss */
	.long _start    /* entry_addr */
.endm

.macro COM1_PUTS
puts:
	lodsb
	test %al, %al
	jz 2f
	mov %al, %cl
	mov $COM1_LSR, %dx
1:	inb %dx, %al
	test $LSR_THRE, %al
	jz 1b
	mov $COM1, %dx
	mov %cl, %al
	outb %al, %dx
	jmp puts
2:	ret
.endm
