/*
 * hv (RISC-V): M-mode entry, the VS stubs the guest runs, and the switch to
 * VS-mode and back.
 *
 * QEMU -bios none enters _start in M-mode. It opens PMP over everything,
 * delegates to HS the exceptions a guest causes (ecall from VS, guest-page
 * faults, and the rest a VMM would see), enables Svpbmt for HS and below
 * (menvcfg.PBMTE), and mrets to hs_entry in HS-mode, which sets stvec and
 * calls hv_main. Other harts park.
 *
 * run_vs(pc, a0, a1) saves hv's callee-saved registers and stack pointer,
 * and srets to pc in VS-mode (hstatus.SPV = 1, sstatus.SPP = 1) with a0 and
 * a1 set. The next trap from VS comes to hs_trap, which restores hv's
 * registers and returns from run_vs with the guest's a1; the caller reads
 * scause, stval, htval and sepc.
 */
#define CSR_MENVCFG 0x30a

	.option norvc
	.section .text.boot, "ax"
	.global _start
_start:
	csrr	t0, mhartid
	bnez	t0, park
	la	sp, stack_top
	la	t0, m_trap
	csrw	mtvec, t0
	li	t0, -1
	csrw	pmpaddr0, t0
	li	t0, 0x1f			/* NAPOT, R W X */
	csrw	pmpcfg0, t0
	/* to HS: misaligned, access faults, illegal instruction, breakpoint,
	 * ecall from U and VS, page faults, guest-page faults, virtual
	 * instruction */
	li	t0, 0xff | (1 << 8) | (1 << 10) | (1 << 12) | (1 << 13) | (1 << 15) | (1 << 20) | (1 << 21) | (1 << 22) | (1 << 23)
	csrw	medeleg, t0
	csrw	mideleg, zero
	csrw	mie, zero
	li	t0, 1
	slli	t0, t0, 62			/* menvcfg.PBMTE (Svpbmt) */
	csrs	CSR_MENVCFG, t0
	li	t0, 3 << 11
	csrc	mstatus, t0
	li	t0, 1 << 11			/* MPP = S, MPV = 0: HS */
	csrs	mstatus, t0
	la	t0, hs_entry
	csrw	mepc, t0
	mret

park:
	wfi
	j	park

/* M-mode traps are hv's own bugs: exit through the test device with 3. */
	.balign 4
m_trap:
	li	t0, 0x100000
	li	t1, (3 << 16) | 0x3333
	sw	t1, 0(t0)
	j	park

hs_entry:
	la	t0, hs_trap
	csrw	stvec, t0
	csrw	sie, zero
	call	hv_main
	j	park

	.text
	.global run_vs
run_vs:
	la	t0, hs_ctx
	sd	ra, 0(t0)
	sd	sp, 8(t0)
	sd	s0, 16(t0)
	sd	s1, 24(t0)
	sd	s2, 32(t0)
	sd	s3, 40(t0)
	sd	s4, 48(t0)
	sd	s5, 56(t0)
	sd	s6, 64(t0)
	sd	s7, 72(t0)
	sd	s8, 80(t0)
	sd	s9, 88(t0)
	sd	s10, 96(t0)
	sd	s11, 104(t0)
	csrw	sepc, a0
	li	t0, 1 << 7			/* hstatus.SPV: sret to V = 1 */
	csrs	hstatus, t0
	li	t0, 1 << 8			/* sstatus.SPP: to VS, not VU */
	csrs	sstatus, t0
	mv	a0, a1
	mv	a1, a2
	sret

	.balign 4
hs_trap:
	la	t0, hs_ctx
	ld	ra, 0(t0)
	ld	sp, 8(t0)
	ld	s0, 16(t0)
	ld	s1, 24(t0)
	ld	s2, 32(t0)
	ld	s3, 40(t0)
	ld	s4, 48(t0)
	ld	s5, 56(t0)
	ld	s6, 64(t0)
	ld	s7, 72(t0)
	ld	s8, 80(t0)
	ld	s9, 88(t0)
	ld	s10, 96(t0)
	ld	s11, 104(t0)
	mv	a0, a1				/* the guest's a1 */
	ret

/* The guest's stubs, one page the G-stage maps at its own address:
 * lbu a1, 0(a0); ecall -- sb a1, 0(a0); ecall -- jr a0 (onto an ecall) */
	.section .stubs, "ax"
	.global vs_stubs
vs_stubs:
	lbu	a1, 0(a0)
	ecall
	.balign 16
	sb	a1, 0(a0)
	ecall
	.balign 16
	jalr	zero, 0(a0)
	.balign 4096

	.bss
	.balign 16
hs_ctx:
	.skip 112
	.balign 16
	.skip 65536
stack_top:
