/*
 * The port-I/O mailbox between the VMM and the x86-64 guest stub.
 *
 * Shared by guest/x86/stub.S (preprocessed by the C compiler) and vmm/, so
 * it holds nothing but #defines. The mailbox is one 4 KiB page of guest RAM
 * whose address the VMM hands to the stub in RDI at entry. A probe round:
 * the stub writes the result of the last probe, executes `out` to
 * MB_PORT (the VMM sees KVM_EXIT_IO, checks the result and writes the next
 * command), then carries the command out.
 */
#ifndef NPT_GUEST_X86_MAILBOX_H
#define NPT_GUEST_X86_MAILBOX_H

/* Ports (imm8 `out`, so below 0x100). */
#define MB_PORT_HELLO 0x10 /* the stub's first instruction: boot-time measurement */
#define MB_PORT       0x11 /* "here is my result, what next?" */

/* Mailbox layout: 64-bit fields, byte offsets. VMM -> guest. */
#define MB_CMD         0x00 /* CMD_* | CMD_USER */
#define MB_VA          0x08 /* address to probe */
#define MB_VALUE       0x10 /* value to write */
#define MB_FLUSH       0x18 /* FLUSH_*: TLB work before the command */
/* guest -> VMM */
#define MB_STATUS      0x40 /* ST_* */
#define MB_RESULT      0x48 /* value read / returned by executed code */
#define MB_VECTOR      0x50 /* exception vector (ST_FAULT) */
#define MB_ERROR       0x58 /* exception error code (0 when the vector has none) */
#define MB_FAULT_RIP   0x60
#define MB_CR2         0x68

/* CMD_S1: a change to the stub's own page tables (guest/x86/kernel.c),
 * VMM -> guest; the npt result comes back in MB_RESULT. */
#define MB_S1_OP    0x80 /* S1_* */
#define MB_S1_VA    0x88
#define MB_S1_PA    0x90
#define MB_S1_SIZE  0x98
#define MB_S1_FLAGS 0xa0 /* NPT_R/W/X/U */
#define MB_S1_OPTS  0xa8 /* NPT_MAP_* */

/* Commands. */
#define CMD_READ   1 /* rax = *(u64 *)va */
#define CMD_WRITE  2 /* *(u64 *)va = value */
#define CMD_EXEC   3 /* call va; the code there returns a value in rax */
#define CMD_HALT   4 /* hlt: the scenario is over */
#define CMD_SPIN   5 /* self-test: loop forever (the VMM's watchdog must fire) */
#define CMD_CRASH  6 /* self-test: empty IDT + int3 = triple fault */
#define CMD_S1     7 /* MB_S1_OP on the stub's own tables (kernel.c) */
#define CMD_USER   0x100 /* run the access at CPL 3 */

/* CMD_S1 operations: MB_RESULT is the npt call's result (0 or NPT_ERR_*),
 * for S1_INIT and S1_LOAD the root's physical address (or an error). */
#define S1_INIT    1 /* npt_init over the frames [MB_S1_PA, + MB_S1_SIZE bytes) */
#define S1_MAP     2 /* npt_map(VA, PA, SIZE, FLAGS) */
#define S1_MAP_REGION 3 /* npt_map_region(VA, PA, SIZE, FLAGS, OPTS) */
#define S1_UNMAP_REGION 4 /* npt_unmap_region(VA, SIZE) */
#define S1_PROTECT_REGION 5 /* npt_protect_region(VA, SIZE, FLAGS) */
#define S1_LOAD    6 /* CR3 = the table's root: the stub runs on its own tables */

/* Status. */
#define ST_NONE  0 /* nothing to report (first round) */
#define ST_OK    1
#define ST_FAULT 2 /* an exception: vector, error code, CR2, RIP */

/* TLB work. */
#define FLUSH_NONE  0
#define FLUSH_ALL   2 /* reload CR3 */

/* The user-mode return gate: #BP (int3), the one software interrupt that
 * works from CPL 3 on every KVM we met -- under kvm_pvm `int $n` with any
 * other n raises #UD, and syscall needs MSRs. */
#define USER_RETURN_VECTOR 3

/* Stub image header, at offset 8 of the flat binary (see stub.S). */
#define STUB_MAGIC "NPTSTUB1"
#define STUB_HDR_OFFSET 8

#endif
