/*
 * hv (x86-64, AMD SVM): from multiboot to C, and VMRUN.
 *
 * QEMU's multiboot loader (the a.out kludge, flags bit 16) loads the file
 * at 1 MiB, zeroes its bss and enters _start in 32-bit protected mode with
 * paging off. _start maps the first 4 GiB 1:1 with 2 MiB pages (boot
 * tables in bss; hv_main replaces them by an x86_64 table npt builds),
 * enters long mode and calls hv_main on its own stack. Built with
 * HV_LA57 (hv5.bin), it turns on 5-level paging first.
 */
	.set MB_MAGIC, 0x1badb002
	.set MB_FLAGS, 1 << 16

	.section .text.boot, "ax"
	.code32
	.globl _start
mb_header:
	.long MB_MAGIC
	.long MB_FLAGS
	.long -(MB_MAGIC + MB_FLAGS)
	.long mb_header   /* header_addr */
	.long mb_header   /* load_addr */
	.long _edata      /* load_end_addr */
	.long _end        /* bss_end_addr: the loader zeroes the bss */
	.long _start      /* entry_addr */

_start:
	cli
	mov $boot_stack_top, %esp
	/* PML4[0] -> PDPT, PDPT[0..3] -> PD 0..3, PD entries 2 MiB each */
	mov $boot_pdpt, %eax
	or $3, %eax
	mov %eax, boot_pml4
	mov $boot_pd, %eax
	or $3, %eax
	mov $boot_pdpt, %edi
	mov $4, %ecx
1:	mov %eax, (%edi)
	add $0x1000, %eax
	add $8, %edi
	loop 1b
	mov $boot_pd, %edi
	mov $0x83, %eax          /* P | RW | PS */
	xor %edx, %edx
	mov $2048, %ecx
2:	mov %eax, (%edi)
	mov %edx, 4(%edi)
	add $0x200000, %eax
	adc $0, %edx
	add $8, %edi
	loop 2b
#ifdef HV_LA57
	/* 5-level paging: PML5[0] -> the PML4 */
	mov $boot_pml4, %eax
	or $3, %eax
	mov %eax, boot_pml5
	mov $boot_pml5, %eax
	mov %eax, %cr3
	mov %cr4, %eax
	or $0x1020, %eax         /* PAE | LA57 */
#else
	mov $boot_pml4, %eax
	mov %eax, %cr3
	mov %cr4, %eax
	or $0x20, %eax           /* PAE */
#endif
	mov %eax, %cr4
	mov $0xc0000080, %ecx    /* EFER */
	rdmsr
	or $0x900, %eax          /* LME | NXE */
	wrmsr
	mov %cr0, %eax
	or $0x80010000, %eax     /* PG | WP */
	mov %eax, %cr0
	lgdt gdt_ptr
	ljmp $0x08, $long_mode

	.code64
long_mode:
	mov $0x10, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss
	mov %ax, %fs
	mov %ax, %gs
	mov $boot_stack_top, %rsp
	call hv_main
3:	cli
	hlt
	jmp 3b

/*
 * int hv_vmrun(uint64_t vmcb_pa, struct hv_gprs *g): VMRUN with the guest's
 * general registers loaded from g (rbx, rcx, rdx, rsi, rdi, rbp, r8-r15;
 * rax, rsp, rip and rflags live in the VMCB) and stored back after the
 * #VMEXIT, which restores the host's rax, rsp and rip (APM vol. 2 §15.5).
 */
	.text
	.globl hv_vmrun
hv_vmrun:
	push %rbx
	push %rbp
	push %r12
	push %r13
	push %r14
	push %r15
	push %rsi                /* g */
	mov %rdi, %rax           /* the VMCB's physical address */
	mov 0(%rsi), %rbx
	mov 8(%rsi), %rcx
	mov 16(%rsi), %rdx
	mov 32(%rsi), %rdi
	mov 40(%rsi), %rbp
	mov 48(%rsi), %r8
	mov 56(%rsi), %r9
	mov 64(%rsi), %r10
	mov 72(%rsi), %r11
	mov 80(%rsi), %r12
	mov 88(%rsi), %r13
	mov 96(%rsi), %r14
	mov 104(%rsi), %r15
	mov 24(%rsi), %rsi
	vmrun
	push %rsi
	mov 8(%rsp), %rsi        /* g */
	mov %rbx, 0(%rsi)
	mov %rcx, 8(%rsi)
	mov %rdx, 16(%rsi)
	pop %rbx
	mov %rbx, 24(%rsi)
	mov %rdi, 32(%rsi)
	mov %rbp, 40(%rsi)
	mov %r8, 48(%rsi)
	mov %r9, 56(%rsi)
	mov %r10, 64(%rsi)
	mov %r11, 72(%rsi)
	mov %r12, 80(%rsi)
	mov %r13, 88(%rsi)
	mov %r14, 96(%rsi)
	mov %r15, 104(%rsi)
	pop %rsi
	pop %r15
	pop %r14
	pop %r13
	pop %r12
	pop %rbp
	pop %rbx
	xor %eax, %eax
	ret

/*
 * int hv_vmx_enter(struct hv_vmx_gprs *g, int launched): VMLAUNCH (or
 * VMRESUME once launched) with every guest general register loaded from g
 * (rax .. r15 but rsp, which the VMCS holds), HOST_RSP and HOST_RIP set to
 * come back here; stores them back after the VM exit. Returns 0, or 1 when
 * the VM entry itself failed (RFLAGS.CF or ZF, SDM vol. 3C §31.4).
 */
	.text
	.globl hv_vmx_enter
hv_vmx_enter:
	push %rbx
	push %rbp
	push %r12
	push %r13
	push %r14
	push %r15
	push %rdi                /* g, found at (%rsp) after the exit */
	mov $0x6c14, %rax        /* HOST_RSP */
	vmwrite %rsp, %rax
	lea vmx_exit(%rip), %rdx
	mov $0x6c16, %rax        /* HOST_RIP */
	vmwrite %rdx, %rax
	mov %esi, %eax
	test %eax, %eax
	mov 8(%rdi), %rbx
	mov 16(%rdi), %rcx
	mov 24(%rdi), %rdx
	mov 32(%rdi), %rsi
	mov 48(%rdi), %rbp
	mov 56(%rdi), %r8
	mov 64(%rdi), %r9
	mov 72(%rdi), %r10
	mov 80(%rdi), %r11
	mov 88(%rdi), %r12
	mov 96(%rdi), %r13
	mov 104(%rdi), %r14
	mov 112(%rdi), %r15
	jnz 1f
	mov 0(%rdi), %rax
	mov 40(%rdi), %rdi
	vmlaunch
	jmp 2f
1:	mov 0(%rdi), %rax
	mov 40(%rdi), %rdi
	vmresume
2:	pop %rdi                 /* the entry failed */
	mov $1, %eax
	jmp 3f
vmx_exit:
	push %rdi
	mov 8(%rsp), %rdi        /* g */
	mov %rax, 0(%rdi)
	mov %rbx, 8(%rdi)
	mov %rcx, 16(%rdi)
	mov %rdx, 24(%rdi)
	mov %rsi, 32(%rdi)
	pop %rax
	mov %rax, 40(%rdi)
	mov %rbp, 48(%rdi)
	mov %r8, 56(%rdi)
	mov %r9, 64(%rdi)
	mov %r10, 72(%rdi)
	mov %r11, 80(%rdi)
	mov %r12, 88(%rdi)
	mov %r13, 96(%rdi)
	mov %r14, 104(%rdi)
	mov %r15, 112(%rdi)
	pop %rdi
	xor %eax, %eax
3:	pop %r15
	pop %r14
	pop %r13
	pop %r12
	pop %rbp
	pop %rbx
	ret

	.data
	.align 16
	.globl hv_gdt
hv_gdt:
	.quad 0
	.quad 0x00af9a000000ffff /* 0x08: 64-bit code */
	.quad 0x00cf92000000ffff /* 0x10: data */
	.quad 0, 0               /* 0x18: the TSS VMX needs in TR (x86.c fills it) */
gdt_ptr:
	.word gdt_ptr - hv_gdt - 1
	.long hv_gdt

	.section .bss
	.align 4096
boot_pml5:	.skip 4096
boot_pml4:	.skip 4096
boot_pdpt:	.skip 4096
boot_pd:	.skip 4 * 4096
boot_stack:	.skip 65536
boot_stack_top:
