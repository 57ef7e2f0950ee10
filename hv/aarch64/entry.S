/*
 * hv (AArch64): EL2 entry, the EL1 stubs the guest runs, and the switch to
 * EL1 and back.
 *
 * QEMU's virt board with virtualization=on starts the ELF at EL2 with the
 * MMU off. _start sets the stack and VBAR_EL2 and calls hv_main.
 *
 * run_el1(pc, x0, x1) saves hv's callee-saved registers and stack pointer,
 * and ERETs to pc at EL1h (interrupts masked) with x0 and x1 set. The next
 * exception from EL1 comes to el2_vectors (lower EL, AArch64, at +0x400),
 * which stores the guest's x1, restores hv's registers and returns from
 * run_el1 with the guest's x1; the caller reads ESR_EL2, FAR_EL2,
 * HPFAR_EL2 and ELR_EL2.
 */
	.section .text.boot, "ax"
	.global _start
_start:
	ldr	x0, =stack_top
	mov	sp, x0
	adr	x0, el2_vectors
	msr	vbar_el2, x0
	isb
	bl	hv_main
1:	wfi
	b	1b

	.text
	.global run_el1
run_el1:
	adr	x9, el2_ctx
	stp	x19, x20, [x9, #0]
	stp	x21, x22, [x9, #16]
	stp	x23, x24, [x9, #32]
	stp	x25, x26, [x9, #48]
	stp	x27, x28, [x9, #64]
	stp	x29, x30, [x9, #80]
	mov	x10, sp
	str	x10, [x9, #96]
	msr	elr_el2, x0
	mov	x10, #0x3c5		/* EL1h, D A I F masked */
	msr	spsr_el2, x10
	mov	x0, x1
	mov	x1, x2
	isb
	eret

el2_return:
	adr	x9, el2_ctx
	ldp	x19, x20, [x9, #0]
	ldp	x21, x22, [x9, #16]
	ldp	x23, x24, [x9, #32]
	ldp	x25, x26, [x9, #48]
	ldp	x27, x28, [x9, #64]
	ldp	x29, x30, [x9, #80]
	ldr	x10, [x9, #96]
	mov	sp, x10
	ret				/* x0: the guest's x1 */

	.balign 2048
el2_vectors:
	.rept 8				/* current EL: hv itself never traps */
	.balign 128
	b	.
	.endr
	.balign 128			/* lower EL, AArch64, synchronous */
	mov	x0, x1
	b	el2_return
	.rept 3
	.balign 128
	mov	x0, #-1
	b	el2_return
	.endr
	.rept 4				/* lower EL, AArch32 */
	.balign 128
	b	.
	.endr

/* The guest's stubs, one page the stage 2 maps at its own address:
 * ldrb w1, [x0]; hvc #0 -- strb w1, [x0]; hvc #0 -- br x0 (onto an hvc) */
	.section .stubs, "ax"
	.global el1_stubs
el1_stubs:
	ldrb	w1, [x0]
	hvc	#0
	.balign 16
	strb	w1, [x0]
	hvc	#0
	.balign 16
	br	x0
/* EL1's vectors, for the guest's own stage 1: every exception taken at EL1
 * (a stage-1 fault) goes back to EL2 with HVC #1, where ESR_EL1 and
 * FAR_EL1 say what it was. */
	.balign 2048
	.global el1_vectors
el1_vectors:
	.rept 16
	.balign 128
	hvc	#1
	.endr
	.balign 4096

	.bss
	.balign 16
el2_ctx:
	.skip 112
	.balign 16
	.skip 65536
stack_top:
