/*
 * Shared layout of the QEMU probe stubs (guest/aarch64/stub.S,
 * guest/riscv/stub.S) and the host test (tests/test_qemu.c): the host writes
 * a header and a probe list at HDR, the stub runs each probe and writes one
 * result record per probe at RES, then writes the records to the host file
 * named in the header (semihosting) and exits.
 *
 * Header (u64 words at HDR):
 */
#ifndef NPT_GUEST_PROBE_H
#define NPT_GUEST_PROBE_H

/* Guest-physical memory (QEMU virt, -m 256M): stub code (identity-mapped by
 * the tables under test), header + probes, results, the table frames, and the
 * scratch RAM that loads / stores / fetches of mapped pages land in. */
#define ARM_RAM      0x40000000 /* the DTB sits at the start of RAM */
#define ARM_STUB     0x40200000 /* 2 MiB */
#define ARM_HDR      0x40400000 /* 4 MiB */
#define ARM_RES      0x40800000 /* 8 MiB */
#define ARM_POOL     0x41000000 /* 48 MiB of table frames */
#define ARM_SCRATCH  0x44000000 /* to ARM_RAM_END */
#define ARM_RAM_END  0x50000000
#define RV_RAM       0x80000000
#define RV_STUB      0x80000000 /* entry; 2 MiB */
#define RV_HDR       0x80200000
#define RV_RES       0x80600000
#define RV_POOL      0x81000000
#define RV_SCRATCH   0x84000000
#define RV_RAM_END   0x90000000

#define PROBE_MAGIC  0x3145425250544e50 /* "NPTPRBE1" little-endian */

#define HDR_MAGIC    0x00
#define HDR_COUNT    0x08 /* number of probes */
#define HDR_R0       0x10 /* register values, per architecture (below) */
#define HDR_R1       0x18
#define HDR_R2       0x20
#define HDR_R3       0x28
#define HDR_R4       0x30
#define HDR_R5       0x38
#define HDR_R6       0x40
#define HDR_R7       0x48
#define HDR_PATH     0x100 /* NUL-terminated host path of the result file */
#define HDR_PROBES   0x1000
#define PROBE_SIZE   24    /* u64 addr, u64 op, u64 pa (expected output address, or ~0) */
#define RESULT_SIZE  48    /* u64 r[6] */

/* AArch64: R0 = HCR_EL2, R1 = VTCR_EL2, R2 = VTTBR_EL2, R3 = SCTLR_EL1,
 * R4 = TCR_EL1, R5 = MAIR_EL1, R6 = TTBR0_EL1, R7 = TTBR1_EL1.
 * Ops: AT S12E1R / S12E1W / S12E0R / S12E0W (r0 = PAR_EL1); EL1 load,
 * store, execute (r0 = status: 0 done, 1 exception taken to EL2, 2 exception
 * taken to EL1; r1 = ESR_EL2 / ESR_EL1; r2 = HPFAR_EL2 / FAR_EL1;
 * r3 = FAR_EL2; r4 = the value loaded / the value at pa after a store). */
#define ARM_OP_AT_E1R 0
#define ARM_OP_AT_E1W 1
#define ARM_OP_AT_E0R 2
#define ARM_OP_AT_E0W 3
#define ARM_OP_LOAD   4
#define ARM_OP_STORE  5
#define ARM_OP_EXEC   6

/* RISC-V: R0 = hgatp, R1 = vsatp, R2 = henvcfg, R3 = vsstatus, R4 = the
 * address of a user (U) alias of the stub's 2 MiB for VU-mode probes (0:
 * none).
 * Ops: HLV.D / HSV.D / HLVX.WU as VS (SPVP = 1) or VU (SPVP = 0); real
 * VS-mode and VU-mode load, store, execute. r0 = status (0 done, 1 trap), r1 = scause,
 * r2 = stval, r3 = htval, r4 = the value loaded / the value at pa after a
 * store. */
#define RV_OP_HLV_VS   0
#define RV_OP_HSV_VS   1
#define RV_OP_HLVX_VS  2
#define RV_OP_HLV_VU   3
#define RV_OP_HSV_VU   4
#define RV_OP_HLVX_VU  5
#define RV_OP_LOAD     6
#define RV_OP_STORE    7
#define RV_OP_EXEC     8
#define RV_OP_U_LOAD   9  /* the real ops again, from VU: op - 3 */
#define RV_OP_U_STORE  10
#define RV_OP_U_EXEC   11

/* The tag a load expects at pa / a store writes: addr ^ PROBE_TAG. */
#define PROBE_TAG    0x5a5aa5a5c3c33c3c

#endif
