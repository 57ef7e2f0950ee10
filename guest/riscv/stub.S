/*
 * RISC-V probe stub for QEMU (-M virt -cpu rv64,h=true,svpbmt=on -bios none):
 * starts in M-mode at 0x80000000, opens PMP, delegates the exceptions below
 * to HS, enables Svpbmt (menvcfg / henvcfg PBMTE), drops to HS, loads hgatp
 * and vsatp from the header the host test computed with npt (RV_HDR, see
 * guest/qemu_probe.h), runs every probe and writes the result records to the
 * host through semihosting.
 *
 * Probes:
 *  - HLV.D / HSV.D / HLVX.WU from HS with hstatus.SPVP = 1 (as VS) or 0 (as
 *    VU): two-stage translation (VS-stage through vsatp, G-stage through
 *    hgatp) without leaving HS.
 *  - Real VS-mode accesses: HS srets to vs_probe (hstatus.SPV = 1), which
 *    loads, stores or calls the address and ends with ECALL (scause 10).
 * Faults (guest-page faults 20/21/23, page faults 12/13/15, anything else
 * delegated) trap to HS, whose handler records scause / stval / htval and
 * resumes the loop from the context run_probe saved. Before a load HS writes
 * the probe's tag at the expected address; after a store it reads it back;
 * before a call it writes RET there.
 *
 * HS runs with satp = 0 (bare): every address here is physical. The stub's
 * own 2 MiB (RV_STUB) must be identity-mapped by the table under test so VS
 * can run vs_probe.
 *
 * Written for rv64imac (clang 14 has no H extension): H instructions are
 * spelled as .word, newer CSRs by number.
 */
#include "../qemu_probe.h"

#define SH_OPEN   0x01
#define SH_CLOSE  0x02
#define SH_WRITE  0x05
#define SH_EXIT   0x18
#define ADP_Stopped_ApplicationExit 0x20026

#define CSR_MENVCFG 0x30a
#define CSR_HENVCFG 0x60a

#define HSTATUS_SPV  (1 << 7)
#define HSTATUS_SPVP (1 << 8)
#define SSTATUS_SPP  (1 << 8)

#define INSN_RET   0x00008067            /* jalr x0, 0(ra) */
#define HFENCE_GVMA .word 0x62000073     /* hfence.gvma zero, zero */
#define HFENCE_VVMA .word 0x22000073     /* hfence.vvma zero, zero */
/* HLV.D a4, (a0); HSV.D a3, (a0); HLVX.WU a4, (a0) (priv. spec §8.3). */
#define HLV_D_A4_A0   .word (0x36 << 25) | (0 << 20) | (10 << 15) | (4 << 12) | (14 << 7) | 0x73
#define HSV_D_A3_A0   .word (0x37 << 25) | (13 << 20) | (10 << 15) | (4 << 12) | (0 << 7) | 0x73
#define HLVX_WU_A4_A0 .word (0x34 << 25) | (3 << 20) | (10 << 15) | (4 << 12) | (14 << 7) | 0x73

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
	/* To HS: access faults, illegal instruction, misaligned, ecall from
	 * U / VS, page faults, guest-page faults, virtual instruction. */
	li	t0, 0xf7 | (1 << 8) | (1 << 10) | (1 << 12) | (1 << 13) | (1 << 15) | (1 << 20) | (1 << 21) | (1 << 22) | (1 << 23)
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

hs_entry:
	la	t0, hs_trap
	csrw	stvec, t0
	csrw	sie, zero
	li	s0, RV_HDR
	ld	t0, HDR_MAGIC(s0)
	li	t1, PROBE_MAGIC
	li	a2, 11
	bne	t0, t1, exit
	ld	t0, HDR_R2(s0)
	csrw	CSR_HENVCFG, t0
	ld	t0, HDR_R3(s0)
	csrw	vsstatus, t0
	ld	t0, HDR_R1(s0)
	csrw	vsatp, t0
	ld	t0, HDR_R0(s0)
	csrw	hgatp, t0
	HFENCE_GVMA
	HFENCE_VVMA

	ld	s1, HDR_COUNT(s0)
	li	t0, HDR_PROBES
	add	s2, s0, t0			/* probes */
	li	s3, RV_RES
probe_loop:
	beqz	s1, probes_done
	ld	a0, 0(s2)
	ld	a1, 8(s2)
	ld	a2, 16(s2)
	sd	zero, 0(s3)
	sd	zero, 8(s3)
	sd	zero, 16(s3)
	sd	zero, 24(s3)
	sd	zero, 32(s3)
	sd	zero, 40(s3)
	call	run_probe
	sd	a0, 0(s3)
	sd	a1, 8(s3)
	sd	a2, 16(s3)
	sd	a3, 24(s3)
	sd	a4, 32(s3)
	addi	s2, s2, PROBE_SIZE
	addi	s3, s3, RESULT_SIZE
	addi	s1, s1, -1
	j	probe_loop

probes_done:
	/* SYS_OPEN(path, "wb"), SYS_WRITE(records), SYS_CLOSE, SYS_EXIT(0). */
	addi	t0, s0, HDR_PATH
	mv	t1, t0
1:	lbu	t2, 0(t1)
	addi	t1, t1, 1
	bnez	t2, 1b
	sub	t1, t1, t0
	addi	t1, t1, -1			/* strlen */
	la	a1, sh_block
	sd	t0, 0(a1)
	li	t2, 5				/* "wb" */
	sd	t2, 8(a1)
	sd	t1, 16(a1)
	li	a0, SH_OPEN
	call	semihost
	li	t0, -1
	li	a2, 12
	beq	a0, t0, exit
	mv	s4, a0
	la	a1, sh_block
	sd	s4, 0(a1)
	li	t0, RV_RES
	sd	t0, 8(a1)
	ld	t0, HDR_COUNT(s0)
	li	t1, RESULT_SIZE
	mul	t0, t0, t1
	sd	t0, 16(a1)
	li	a0, SH_WRITE
	call	semihost
	li	a2, 13
	bnez	a0, exit
	la	a1, sh_block
	sd	s4, 0(a1)
	li	a0, SH_CLOSE
	call	semihost
	li	a2, 0

/* SYS_EXIT with exit code a2. */
exit:
	la	a1, sh_block
	li	t0, ADP_Stopped_ApplicationExit
	sd	t0, 0(a1)
	sd	a2, 8(a1)
	li	a0, SH_EXIT
	call	semihost
	j	park

/* The semihosting trap: three uncompressed instructions in one page. */
	.balign	16
semihost:
	slli	zero, zero, 0x1f
	ebreak
	srai	zero, zero, 0x7
	ret

/* a0 = address, a1 = op, a2 = expected output address (or -1).
 * Returns a0 = status, a1 = scause, a2 = stval, a3 = htval, a4 = data. */
run_probe:
	la	t0, save_area
	sd	ra, 0(t0)
	sd	sp, 8(t0)
	sd	s0, 16(t0)
	sd	s1, 24(t0)
	sd	s2, 32(t0)
	sd	s3, 40(t0)
	sd	s4, 48(t0)
	sd	a1, 56(t0)			/* op */
	sd	a2, 64(t0)			/* pa */
	li	t1, PROBE_TAG
	xor	a3, a0, t1			/* tag */
	li	a4, 0
	/* Prepare the expected output address. */
	li	t1, -1
	beq	a2, t1, 3f
	li	t1, RV_OP_HSV_VS
	beq	a1, t1, 2f
	li	t1, RV_OP_HSV_VU
	beq	a1, t1, 2f
	li	t1, RV_OP_STORE
	beq	a1, t1, 2f
	li	t1, RV_OP_U_STORE
	beq	a1, t1, 2f
	li	t1, RV_OP_EXEC
	beq	a1, t1, 1f
	li	t1, RV_OP_U_EXEC
	beq	a1, t1, 1f
	sd	a3, 0(a2)			/* loads: the tag */
	j	3f
1:	li	t1, INSN_RET			/* calls: RET */
	sw	t1, 0(a2)
	fence.i
	j	3f
2:	sd	zero, 0(a2)			/* stores: cleared */
3:	/* hstatus.SPVP: VS for *_VS and real probes, VU for *_VU. */
	li	t1, HSTATUS_SPVP
	csrs	hstatus, t1
	li	t2, RV_OP_HLV_VU
	bltu	a1, t2, 4f
	li	t2, RV_OP_LOAD
	bgeu	a1, t2, 4f
	csrc	hstatus, t1
4:	li	t1, RV_OP_HLV_VS
	beq	a1, t1, op_hlv
	li	t1, RV_OP_HLV_VU
	beq	a1, t1, op_hlv
	li	t1, RV_OP_HSV_VS
	beq	a1, t1, op_hsv
	li	t1, RV_OP_HSV_VU
	beq	a1, t1, op_hsv
	li	t1, RV_OP_HLVX_VS
	beq	a1, t1, op_hlvx
	li	t1, RV_OP_HLVX_VU
	beq	a1, t1, op_hlvx
	/* Real access: sret to vs_probe with V = 1, as VS, or as VU through
	 * the stub's user alias (HDR_R4) with op - 3. */
	li	t1, HSTATUS_SPV
	csrs	hstatus, t1
	li	t1, SSTATUS_SPP
	csrs	sstatus, t1
	la	t2, vs_probe
	li	t1, RV_OP_U_LOAD
	bltu	a1, t1, 5f
	addi	a1, a1, RV_OP_LOAD - RV_OP_U_LOAD
	li	t1, SSTATUS_SPP
	csrc	sstatus, t1
	la	t1, _start
	sub	t2, t2, t1
	li	t1, RV_HDR
	ld	t1, HDR_R4(t1)
	add	t2, t2, t1
5:	csrw	sepc, t2
	sret
op_hlv:
	HLV_D_A4_A0
	j	probe_ok
op_hsv:
	HSV_D_A3_A0
	j	probe_ok
op_hlvx:
	HLVX_WU_A4_A0
probe_ok:
	li	a0, 0
	li	a1, 0
	li	a2, 0
	li	a3, 0
	j	probe_return

/* Traps from HS (a faulting HLV/HSV/HLVX) and from VS. */
	.balign	4
hs_trap:
	csrr	t0, scause
	li	t1, 10				/* ECALL from VS: the access went through */
	beq	t0, t1, probe_ok
	li	t1, 8				/* ECALL from VU: likewise */
	beq	t0, t1, probe_ok
1:	li	a0, 1
	mv	a1, t0
	csrr	a2, stval
	csrr	a3, htval
	li	a4, 0
probe_return:
	li	t1, HSTATUS_SPV
	csrc	hstatus, t1
	la	t0, save_area
	ld	ra, 0(t0)
	ld	sp, 8(t0)
	ld	s0, 16(t0)
	ld	s1, 24(t0)
	ld	s2, 32(t0)
	ld	s3, 40(t0)
	ld	s4, 48(t0)
	/* After a store that went through, the value at the expected address. */
	bnez	a0, 2f
	ld	t1, 56(t0)			/* op */
	ld	t2, 64(t0)			/* pa */
	li	t3, -1
	beq	t2, t3, 2f
	li	t3, RV_OP_HSV_VS
	beq	t1, t3, 1f
	li	t3, RV_OP_HSV_VU
	beq	t1, t3, 1f
	li	t3, RV_OP_STORE
	beq	t1, t3, 1f
	li	t3, RV_OP_U_STORE
	bne	t1, t3, 2f
1:	ld	a4, 0(t2)
2:	ret

/* Anything trapping to M is a stub failure: exit code 20. */
	.balign	4
m_trap:
	li	a2, 20
	j	exit

/* VS (a0 = address, a1 = op, a3 = tag): one access, then ECALL. */
	.balign	64
vs_probe:
	li	t1, RV_OP_LOAD
	bne	a1, t1, 1f
	ld	a4, 0(a0)
	ecall
1:	li	t1, RV_OP_STORE
	bne	a1, t1, 2f
	sd	a3, 0(a0)
	ecall
2:	jalr	ra, 0(a0)			/* the target holds RET */
	ecall

	.bss
	.balign	16
save_area:
	.space	80
sh_block:
	.space	32
	.balign	16
stack:
	.space	4096
stack_top:
