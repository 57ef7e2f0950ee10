/*
 * tests/fs: program start and the four Linux system calls the harness needs
 * (write, exit_group, mmap, munmap), per architecture. The programs run
 * under qemu-user, statically linked, with no libc at all: this file is
 * where they meet the kernel.
 */
#include <stddef.h>
#include <stdint.h>

long fs_syscall(long nr, long a, long b, long c, long d, long e, long f);
void fs_start(long *sp) __attribute__((noreturn, used));

#if defined(__x86_64__)
enum { SYS_WRITE = 1, SYS_MMAP = 9, SYS_MUNMAP = 11, SYS_EXIT_GROUP = 231 };
__asm__(".text\n.globl _start\n_start:\n"
	"  xor %rbp, %rbp\n  mov %rsp, %rdi\n  and $-16, %rsp\n  call fs_start\n  hlt\n");

long fs_syscall(long nr, long a, long b, long c, long d, long e, long f)
{
	register long r10 __asm__("r10") = d, r8 __asm__("r8") = e, r9 __asm__("r9") = f;
	long ret;

	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return ret;
}
#else
/* aarch64, riscv64 and loongarch64 share the generic system call table */
enum { SYS_WRITE = 64, SYS_MUNMAP = 215, SYS_MMAP = 222, SYS_EXIT_GROUP = 94 };
#if defined(__aarch64__)
__asm__(".text\n.globl _start\n_start:\n  mov x29, #0\n  mov x0, sp\n  bl fs_start\n");
#define SYSCALL_INSN "svc #0"
#define NR "x8"
#define A0 "x0"
#define A1 "x1"
#define A2 "x2"
#define A3 "x3"
#define A4 "x4"
#define A5 "x5"
#elif defined(__riscv)
__asm__(".text\n.globl _start\n_start:\n  li fp, 0\n  mv a0, sp\n  call fs_start\n");
#define SYSCALL_INSN "ecall"
#define NR "a7"
#define A0 "a0"
#define A1 "a1"
#define A2 "a2"
#define A3 "a3"
#define A4 "a4"
#define A5 "a5"
#elif defined(__loongarch__)
__asm__(".text\n.globl _start\n_start:\n  move $fp, $zero\n  move $a0, $sp\n  bl fs_start\n");
#define SYSCALL_INSN "syscall 0"
#define NR "$a7"
#define A0 "$a0"
#define A1 "$a1"
#define A2 "$a2"
#define A3 "$a3"
#define A4 "$a4"
#define A5 "$a5"
#else
#error "tests/fs: no start-up code for this architecture"
#endif

long fs_syscall(long nr, long a, long b, long c, long d, long e, long f)
{
	register long rn __asm__(NR) = nr;
	register long r0 __asm__(A0) = a;
	register long r1 __asm__(A1) = b;
	register long r2 __asm__(A2) = c;
	register long r3 __asm__(A3) = d;
	register long r4 __asm__(A4) = e;
	register long r5 __asm__(A5) = f;

	__asm__ volatile(SYSCALL_INSN
			 : "+r"(r0)
			 : "r"(rn), "r"(r1), "r"(r2), "r"(r3), "r"(r4), "r"(r5)
			 : "memory"
#if defined(__loongarch__)
			   , "$t0", "$t1", "$t2", "$t3", "$t4", "$t5", "$t6", "$t7", "$t8"
#endif
	);
	return r0;
}
#endif

long fs_write(int fd, const void *buf, size_t n)
{
	return fs_syscall(SYS_WRITE, fd, (long)buf, (long)n, 0, 0, 0);
}

void *fs_mmap(void *addr, size_t len, int prot, int flags, int fd, long off)
{
	return (void *)fs_syscall(SYS_MMAP, (long)addr, (long)len, prot, flags, fd, off);
}

int fs_munmap(void *addr, size_t len)
{
	return (int)fs_syscall(SYS_MUNMAP, (long)addr, (long)len, 0, 0, 0, 0);
}

__attribute__((noreturn)) void fs_exit(int code)
{
	for (;;)
		fs_syscall(SYS_EXIT_GROUP, code, 0, 0, 0, 0, 0);
}

extern char **fs_environ;
int main(int argc, char **argv);

/* The initial stack: argc, argv[], NULL, envp[], NULL, auxv. */
void fs_start(long *sp)
{
	int argc = (int)sp[0];
	char **argv = (char **)(sp + 1);

	fs_environ = argv + argc + 1;
	fs_exit(main(argc, argv));
}
