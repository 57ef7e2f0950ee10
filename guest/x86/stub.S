/*
 * The x86-64 guest stub: a probe loop driven by the VMM through a port-I/O
 * mailbox (mailbox.h).
 *
 * The VMM starts it directly in 64-bit mode (paging on, CR3 = a table npt
 * built) with RIP = _start and RDI = the mailbox's address. The stub loads
 * its own GDT (with user segments and a TSS, so probes can run at CPL 3) and
 * an IDT whose handlers report every exception -- vector, error code, CR2,
 * RIP -- through the mailbox, then loops: report the last result, `out` to
 * the mailbox port, carry out the command the VMM wrote, report again.
 *
 * A faulting probe is abandoned, not resumed: the handler records the fault
 * and jumps back into the loop with a fresh stack. Nothing is ever resumed
 * after an exception, so no handler needs to preserve registers.
 *
 * References: Intel SDM vol. 3 §3.4.5 (segment descriptors), §6.14.1
 * (64-bit IDT gates), §7.2.3 (64-bit TSS descriptor), §8.7 (64-bit TSS);
 * AMD APM vol. 2 §4.8, §8.9.
 */
#include "mailbox.h"

#define SEL_KCODE 0x08
#define SEL_KDATA 0x10
#define SEL_UDATA (0x18 | 3)
#define SEL_UCODE (0x20 | 3)
#define SEL_TSS   0x28

#define GATE_KERNEL 0x8e00 /* P=1, DPL=0, type 0xE (64-bit interrupt gate) */
#define GATE_USER   0xee00 /* P=1, DPL=3: reachable with `int` from CPL 3 */

	.code64

	.section .text.entry, "ax"
	.globl _start
_start:
	/* The very first instruction: the VMM timestamps this exit. */
	outb %al, $MB_PORT_HELLO
	jmp init

	/* Header at offset 8 (STUB_HDR_OFFSET), read by the VMM. */
	.balign 8
	.ascii STUB_MAGIC
	.quad _start       /* load address and entry point */
	.quad __user_start /* [user_start, user_end): map with NPT_U */
	.quad __user_end
	.quad __image_end  /* everything up to here is the image (bss included) */

	.text
init:
	movq %rdi, mailbox(%rip)
	leaq kstack_top(%rip), %rsp

	/* 64-bit TSS descriptor, 16 bytes (SDM §7.2.3): limit 103, type 9
	 * (available 64-bit TSS), P=1, base split over four fields. */
	leaq tss(%rip), %rax
	leaq gdt + SEL_TSS(%rip), %rdi
	movw $103, (%rdi)
	movw %ax, 2(%rdi)
	shrq $16, %rax
	movb %al, 4(%rdi)
	movb $0x89, 5(%rdi)
	movb $0, 6(%rdi)
	movb %ah, 7(%rdi)
	shrq $16, %rax
	movl %eax, 8(%rdi)
	movl $0, 12(%rdi)

	/* TSS: RSP0 is where the CPU switches on an exception from CPL 3;
	 * the I/O map base past the limit means "no I/O bitmap". */
	leaq kstack_top(%rip), %rax
	movq %rax, tss + 4(%rip)
	movw $104, tss + 102(%rip)

	lgdt gdtr(%rip)
	/* Reload CS from our own GDT (the VMM set only the hidden part). */
	pushq $SEL_KCODE
	leaq 1f(%rip), %rax
	pushq %rax
	lretq
1:	movl $SEL_KDATA, %eax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	movw %ax, %fs
	movw %ax, %gs
	movw $SEL_TSS, %ax
	ltr %ax

	/* IDT: vectors 0-31 to the exception stubs, then USER_RETURN_VECTOR
	 * (#BP) again, to the CPL-3 return gate, reachable from CPL 3. */
	leaq idt(%rip), %rdi
	leaq exc_stubs(%rip), %rax
	movl $32, %ecx
	movl $GATE_KERNEL, %edx
2:	call set_gate
	addq $16, %rdi
	addq $16, %rax
	decl %ecx
	jnz 2b
	leaq idt + USER_RETURN_VECTOR * 16(%rip), %rdi
	leaq user_return(%rip), %rax
	movl $GATE_USER, %edx
	call set_gate
	lidt idtr(%rip)

	movq mailbox(%rip), %rdi
	movq $ST_NONE, MB_STATUS(%rdi)
	jmp report

/* set_gate: rdi = gate, rax = handler, dx = type/attributes (SDM §6.14.1).
 * Clobbers nothing but the gate. */
set_gate:
	pushq %rax
	movw %ax, (%rdi)
	movw $SEL_KCODE, 2(%rdi)
	movw %dx, 4(%rdi)
	shrq $16, %rax
	movw %ax, 6(%rdi)
	shrq $16, %rax
	movl %eax, 8(%rdi)
	movl $0, 12(%rdi)
	popq %rax
	ret

/* ---- the probe loop ------------------------------------------------------ */

/* Report the mailbox result, receive the next command. */
report:
	leaq kstack_top(%rip), %rsp
	movq mailbox(%rip), %rdi
	outb %al, $MB_PORT

	/* A CR3 reload first when the VMM asks: the hostile scenario's guest
	 * writes its page tables by hand. npt's own changes are flushed by
	 * kernel.c as it makes them. */
	cmpq $FLUSH_ALL, MB_FLUSH(%rdi)
	jne dispatch
	movq %cr3, %rax
	movq %rax, %cr3

dispatch:
	movq MB_CMD(%rdi), %rax
	movq MB_VA(%rdi), %rbx
	movq MB_VALUE(%rdi), %rcx
	testq $CMD_USER, %rax
	jnz user_probe
	cmpq $CMD_READ, %rax
	je k_read
	cmpq $CMD_WRITE, %rax
	je k_write
	cmpq $CMD_EXEC, %rax
	je k_exec
	cmpq $CMD_HALT, %rax
	je halt
	cmpq $CMD_SPIN, %rax
	je spin
	cmpq $CMD_CRASH, %rax
	je crash
	cmpq $CMD_S1, %rax
	je k_s1
	/* Unknown command: report it as vector 255 so the VMM notices. */
	movq $255, MB_VECTOR(%rdi)
	movq %rax, MB_ERROR(%rdi)
	movq $ST_FAULT, MB_STATUS(%rdi)
	jmp report

k_read:
	movq (%rbx), %rax
	jmp done
k_write:
	movq %rcx, (%rbx)
	xorl %eax, %eax
	jmp done
k_exec:
	call *%rbx
	jmp done
/* A change to our own page tables: kernel.c, with the mailbox. The stack is
 * the fresh, 16-byte aligned kstack_top, so the call meets the C ABI. */
k_s1:
	call kernel_s1
	jmp done

/* Every successful probe ends here with its value in rax. */
done:
	movq mailbox(%rip), %rdi
	movq %rax, MB_RESULT(%rdi)
	movq $ST_OK, MB_STATUS(%rdi)
	jmp report

halt:
	hlt
	jmp report

spin:
	jmp spin

/* No IDT, then a page fault (page 0 is never mapped): #PF cannot be
 * delivered -> #DF cannot either -> triple fault, KVM_EXIT_SHUTDOWN. */
crash:
	lidt empty_idtr(%rip)
	movq 0, %rax
	jmp crash

/* CPL-3 probe: iretq into the user page with rbx = address, rcx = value;
 * the user code comes back with int3 (rax = result)
 * or through a fault, which the CPU delivers on TSS.RSP0. */
user_probe:
	andl $0xff, %eax
	leaq user_read(%rip), %rdx
	cmpl $CMD_READ, %eax
	je 4f
	leaq user_write(%rip), %rdx
	cmpl $CMD_WRITE, %eax
	je 4f
	leaq user_exec(%rip), %rdx
	cmpl $CMD_EXEC, %eax
	je 4f
	movq $255, MB_VECTOR(%rdi)
	movq %rax, MB_ERROR(%rdi)
	movq $ST_FAULT, MB_STATUS(%rdi)
	jmp report
4:	leaq ustack_top(%rip), %rsi
	pushq $SEL_UDATA /* SS */
	pushq %rsi       /* RSP */
	pushq $0x2       /* RFLAGS: IF=0, IOPL=0 */
	pushq $SEL_UCODE /* CS */
	pushq %rdx       /* RIP */
	iretq

/* #BP: from the user page it is the end of a CPL-3 probe (rax = result);
 * from anywhere else a real breakpoint, reported like any exception.
 * Stack: RIP, CS, RFLAGS, RSP, SS (no error code). */
user_return:
	cmpq $SEL_UCODE, 8(%rsp)
	je done
	pushq $0
	pushq $USER_RETURN_VECTOR
	jmp exc_common

/* ---- exceptions ---------------------------------------------------------- */

/* One 16-byte stub per vector 0-31; those the CPU gives no error code push
 * a zero so exc_common sees one frame layout (SDM §6.13, table 6-1). */
	.balign 16
exc_stubs:
	.set vector, 0
	.rept 32
	.balign 16
	.if vector == 8 || (vector >= 10 && vector <= 14) || vector == 17 || vector == 21 || vector == 29 || vector == 30
	.else
	pushq $0
	.endif
	pushq $vector
	jmp exc_common
	.set vector, vector + 1
	.endr

/* Stack: vector, error code, RIP, CS, RFLAGS, RSP, SS. */
exc_common:
	movq mailbox(%rip), %rdi
	popq %rax
	movq %rax, MB_VECTOR(%rdi)
	popq %rax
	movq %rax, MB_ERROR(%rdi)
	popq %rax
	movq %rax, MB_FAULT_RIP(%rdi)
	movq %cr2, %rax
	movq %rax, MB_CR2(%rdi)
	movq $ST_FAULT, MB_STATUS(%rdi)
	jmp report

/* ---- CPL 3 --------------------------------------------------------------- */

	.section .user.text, "ax"
user_read:
	movq (%rbx), %rax
	int3
user_write:
	movq %rcx, (%rbx)
	xorl %eax, %eax
	int3
user_exec:
	call *%rbx
	int3

	.section .user.stack, "aw"
	.balign 4096
	.skip 4096
ustack_top:

/* ---- data ---------------------------------------------------------------- */

	.data
	.balign 8
mailbox:
	.quad 0

	/* Flat 64-bit segments (SDM §3.4.5): L=1 for code, DPL 0 or 3. */
	.balign 16
gdt:
	.quad 0
	.quad 0x00af9a000000ffff /* 0x08 kernel code */
	.quad 0x00cf92000000ffff /* 0x10 kernel data */
	.quad 0x00cff2000000ffff /* 0x18 user data */
	.quad 0x00affa000000ffff /* 0x20 user code */
	.quad 0, 0               /* 0x28 TSS, filled in by init */
gdt_end:

	.balign 8
	.word 0, 0, 0
gdtr:
	.word gdt_end - gdt - 1
	.quad gdt

	.word 0, 0, 0
idtr:
	.word 256 * 16 - 1
	.quad idt

	.word 0, 0, 0
empty_idtr:
	.word 0
	.quad 0

	.bss
	.balign 4096
idt:
	.skip 256 * 16
	.balign 16
tss:
	.skip 104
	.balign 4096
	.skip 16384
kstack_top:
