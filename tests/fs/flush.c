/*
 * tests/fs: the kernel flush helpers of this target (npt/npt_flush_*.h),
 * compiled as kernel code and linked into the no-libc tests, which never
 * call them (their instructions are privileged). The in-hypervisor tests
 * execute them; here the freestanding build proves they compile.
 */
#include "npt.h"

#if defined(__x86_64__)
#include "npt_flush_x86.h"
void fs_flush_helpers(const struct npt_flush *f);
void fs_flush_helpers(const struct npt_flush *f)
{
	npt_x86_flush(f, 0, 0, 64);
	npt_x86_flush(f, 1, 5, 64);
	(void)npt_ept_flush(f, 0x1e, 1);
	(void)npt_vmx_flush_guest(f, 1, 64);
	(void)npt_svm_tlb_control(f, 1);
	(void)npt_svm_flush_guest(f, 1, 1, 64);
}
#elif defined(__aarch64__)
#include "npt_flush_arm.h"
void fs_flush_helpers(const struct npt_flush *f);
void fs_flush_helpers(const struct npt_flush *f)
{
	int ttl = npt_arm_has_ttl();

	npt_arm_flush_s1(f, 1, ttl, 64);
	npt_arm_flush_s2(f, ttl, 64);
	npt_arm_bbm(f, 1, 0, ttl);
}
#elif defined(__riscv)
#include "npt_flush_riscv.h"
void fs_flush_helpers(const struct npt_flush *f);
void fs_flush_helpers(const struct npt_flush *f)
{
	npt_rv_flush(f, NPT_RV_STAGE1, 1, 64);
	npt_rv_flush(f, NPT_RV_GSTAGE, 1, 64);
	npt_rv_flush(f, NPT_RV_VSSTAGE, 1, 64);
}
#elif defined(__loongarch64)
#include "npt_flush_loongarch.h"
void fs_flush_helpers(const struct npt_flush *f);
void fs_flush_helpers(const struct npt_flush *f)
{
	npt_la_flush(f, 1, 0, 64);
	npt_la_flush(f, 1, 1, 64);
}
#endif
