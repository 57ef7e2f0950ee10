/*
 * AArch64 probe stub for QEMU (-M virt,virtualization=on -cpu max): starts at
 * EL2, loads the translation registers the host test computed with npt
 * (header at ARM_HDR, see guest/qemu_probe.h), runs every probe and writes
 * the result records to the host through semihosting.
 *
 * Probes:
 *  - AT S12E1R/W, S12E0R/W at EL2: PAR_EL1 says whether the two-stage (or,
 *    with HCR_EL2.VM = 0, stage-1) walk succeeds, the output address, the
 *    memory attributes, or the fault status code and level.
 *  - Real EL1 accesses: EL2 erets to el1_probe, which loads, stores or
 *    branches to the address and ends with HVC #0. A stage-2 fault comes
 *    back to EL2 (ESR_EL2, HPFAR_EL2, FAR_EL2); a stage-1 fault goes to
 *    VBAR_EL1, whose every vector reports ESR_EL1 / FAR_EL1 with HVC #1.
 *    Either way EL2 resumes its loop from the context run_el1 saved. Before
 *    a load, EL2 writes the probe's tag at the expected output address;
 *    after a store it reads it back; before an execute it writes RET there.
 *
 * EL2 runs with its MMU off: every address here is physical. The stub's own
 * 2 MiB (ARM_STUB) must be identity-mapped by the table under test so EL1
 * can run el1_probe and the EL1 vectors.
 */
#include "../qemu_probe.h"

#define SH_OPEN   0x01
#define SH_CLOSE  0x02
#define SH_WRITE  0x05
#define SH_EXIT   0x18
#define ADP_Stopped_ApplicationExit 0x20026

#define INSN_RET  0xd65f03c0

	.section .text.boot, "ax"
	.global _start
_start:
	mrs	x0, CurrentEL
	cmp	x0, #8			/* EL2 */
	mov	x2, #10
	b.ne	exit
	ldr	x0, =stack_top
	mov	sp, x0
	adr	x0, el2_vectors
	msr	vbar_el2, x0

	ldr	x19, =ARM_HDR
	ldr	x0, [x19, #HDR_MAGIC]
	ldr	x1, =PROBE_MAGIC
	cmp	x0, x1
	mov	x2, #11
	b.ne	exit

	/* EL1 state: vectors, then the registers the host chose. */
	adr	x0, el1_vectors
	msr	vbar_el1, x0
	ldr	x0, [x19, #HDR_R5]
	msr	mair_el1, x0
	ldr	x0, [x19, #HDR_R4]
	msr	tcr_el1, x0
	ldr	x0, [x19, #HDR_R6]
	msr	ttbr0_el1, x0
	ldr	x0, [x19, #HDR_R7]
	msr	ttbr1_el1, x0
	ldr	x0, [x19, #HDR_R1]
	msr	vtcr_el2, x0
	ldr	x0, [x19, #HDR_R2]
	msr	vttbr_el2, x0
	isb
	ldr	x0, [x19, #HDR_R3]
	msr	sctlr_el1, x0
	ldr	x0, [x19, #HDR_R0]
	msr	hcr_el2, x0
	isb
	dsb	ishst
	tlbi	alle1			/* EL1&0 regime, every VMID, both stages */
	dsb	ish
	isb

	ldr	x20, [x19, #HDR_COUNT]
	add	x21, x19, #HDR_PROBES
	ldr	x22, =ARM_RES
probe_loop:
	cbz	x20, probes_done
	ldp	x0, x1, [x21]		/* addr, op */
	ldr	x2, [x21, #16]		/* expected output address or ~0 */
	stp	xzr, xzr, [x22]
	stp	xzr, xzr, [x22, #16]
	stp	xzr, xzr, [x22, #32]
	cmp	x1, #ARM_OP_LOAD
	b.hs	1f
	bl	run_at
	str	x0, [x22]
	b	2f
1:	bl	run_el1
	stp	x0, x1, [x22]
	stp	x2, x3, [x22, #16]
	str	x4, [x22, #32]
2:	add	x21, x21, #PROBE_SIZE
	add	x22, x22, #RESULT_SIZE
	sub	x20, x20, #1
	b	probe_loop

probes_done:
	/* SYS_OPEN(path, "wb"), SYS_WRITE(records), SYS_CLOSE, SYS_EXIT(0). */
	add	x2, x19, #HDR_PATH
	mov	x3, x2
3:	ldrb	w4, [x3], #1
	cbnz	w4, 3b
	sub	x3, x3, x2
	sub	x3, x3, #1		/* strlen */
	ldr	x1, =sh_block
	mov	x4, #5			/* "wb" */
	stp	x2, x4, [x1]
	str	x3, [x1, #16]
	mov	x0, #SH_OPEN
	hlt	#0xf000
	cmn	x0, #1
	mov	x2, #12
	b.eq	exit
	mov	x23, x0
	ldr	x1, =sh_block
	ldr	x4, =ARM_RES
	ldr	x5, [x19, #HDR_COUNT]
	mov	x6, #RESULT_SIZE
	mul	x5, x5, x6
	stp	x23, x4, [x1]
	str	x5, [x1, #16]
	mov	x0, #SH_WRITE
	hlt	#0xf000
	mov	x2, #13
	cbnz	x0, exit
	ldr	x1, =sh_block
	str	x23, [x1]
	mov	x0, #SH_CLOSE
	hlt	#0xf000
	mov	x2, #0

/* SYS_EXIT with exit code x2. */
exit:
	ldr	x1, =sh_block
	ldr	x3, =ADP_Stopped_ApplicationExit
	stp	x3, x2, [x1]
	mov	x0, #SH_EXIT
	hlt	#0xf000
	b	.

/* x0 = address, x1 = AT op: returns PAR_EL1 in x0. */
run_at:
	cmp	x1, #ARM_OP_AT_E1W
	b.eq	1f
	cmp	x1, #ARM_OP_AT_E0R
	b.eq	2f
	cmp	x1, #ARM_OP_AT_E0W
	b.eq	3f
	at	s12e1r, x0
	b	4f
1:	at	s12e1w, x0
	b	4f
2:	at	s12e0r, x0
	b	4f
3:	at	s12e0w, x0
4:	isb
	mrs	x0, par_el1
	ret

/* x0 = address, x1 = EL1 op, x2 = expected output address (or ~0).
 * Returns x0..x3 as described in qemu_probe.h. */
run_el1:
	ldr	x9, =save_area
	stp	x19, x20, [x9]
	stp	x21, x22, [x9, #16]
	stp	x23, x24, [x9, #32]
	stp	x29, x30, [x9, #48]
	mov	x10, sp
	stp	x10, x1, [x9, #64]	/* sp, op */
	str	x2, [x9, #80]		/* pa */
	ldr	x11, =PROBE_TAG
	eor	x3, x0, x11		/* tag */
	cmn	x2, #1
	b.eq	2f
	cmp	x1, #ARM_OP_LOAD
	b.ne	1f
	str	x3, [x2]
	b	2f
1:	cmp	x1, #ARM_OP_STORE
	b.ne	1f
	str	xzr, [x2]
	b	2f
1:	ldr	w12, =INSN_RET
	str	w12, [x2]
	dsb	ish
	ic	iallu
	dsb	ish
	isb
2:	adr	x10, el1_probe
	msr	elr_el2, x10
	mov	x10, #0x3c5		/* EL1h, DAIF masked */
	msr	spsr_el2, x10
	isb
	eret

/* Back from EL1 (x0 = status, x1 = ESR, x2 = HPFAR_EL2 / FAR_EL1, x3 =
 * FAR_EL2, x4 = the value loaded): restore run_el1's caller context; after a
 * store, x4 = the value at the expected address. */
el1_return:
	ldr	x9, =save_area
	ldp	x19, x20, [x9]
	ldp	x21, x22, [x9, #16]
	ldp	x23, x24, [x9, #32]
	ldp	x29, x30, [x9, #48]
	ldp	x10, x11, [x9, #64]	/* sp, op */
	mov	sp, x10
	ldr	x12, [x9, #80]		/* pa */
	cmp	x11, #ARM_OP_STORE
	b.ne	1f
	cmn	x12, #1
	b.eq	1f
	ldr	x4, [x12]
1:	ret

/* Stage-2 faults and HVCs from EL1. */
lower_sync:
	mrs	x10, esr_el2
	lsr	x11, x10, #26		/* EC */
	cmp	x11, #0x16		/* HVC from AArch64 */
	b.ne	2f
	and	x12, x10, #0xffff
	cbnz	x12, 1f
	mov	x4, x2			/* HVC #0: done; x2 = value loaded */
	mov	x0, #0
	mov	x1, x10
	mov	x2, #0
	mov	x3, #0
	b	el1_return
1:	mov	x0, #2			/* HVC #1 from an EL1 vector */
	mov	x1, x4			/* ESR_EL1 */
	mov	x2, x5			/* FAR_EL1 */
	mov	x3, #0
	mov	x4, #0
	b	el1_return
2:	mov	x0, #1			/* exception taken to EL2 (stage-2 abort) */
	mov	x1, x10
	mrs	x2, hpfar_el2
	mrs	x3, far_el2
	mov	x4, #0
	b	el1_return

/* Anything else at EL2 is a stub failure: exit code 20 + vector index. */
unexpected:
	mrs	x0, esr_el2
	ldr	x1, =unexpected_esr
	str	x0, [x1]
	b	exit

	.macro	vec, target, code
	.balign	0x80
	mov	x2, #\code
	b	\target
	.endm

	.balign	2048
el2_vectors:
	vec	unexpected, 20		/* current EL, SP_EL0 */
	vec	unexpected, 21
	vec	unexpected, 22
	vec	unexpected, 23
	vec	unexpected, 24		/* current EL, SP_ELx: sync */
	vec	unexpected, 25
	vec	unexpected, 26
	vec	unexpected, 27
	.balign	0x80
	b	lower_sync		/* lower EL, AArch64: sync */
	vec	unexpected, 29
	vec	unexpected, 30
	vec	unexpected, 31
	vec	unexpected, 32		/* lower EL, AArch32 */
	vec	unexpected, 33
	vec	unexpected, 34
	vec	unexpected, 35

/* EL1: every vector reports ESR_EL1 / FAR_EL1 to EL2. */
	.balign	2048
el1_vectors:
	.rept	16
	.balign	0x80
	mrs	x4, esr_el1
	mrs	x5, far_el1
	hvc	#1
	.endr

/* EL1 (x0 = address, x1 = op, x3 = tag): one access, then HVC #0. */
	.balign	64
el1_probe:
	cmp	x1, #ARM_OP_LOAD
	b.ne	1f
	ldr	x2, [x0]
	hvc	#0
1:	cmp	x1, #ARM_OP_STORE
	b.ne	2f
	str	x3, [x0]
	hvc	#0
2:	blr	x0			/* the target holds RET */
	hvc	#0

	.ltorg

	.bss
	.balign	16
save_area:
	.space	96
sh_block:
	.space	32
unexpected_esr:
	.space	8
	.balign	16
stack:
	.space	4096
stack_top:
