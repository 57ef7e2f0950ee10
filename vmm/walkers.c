/*
 * Two more walkers for every guest-virtual probe: npt_translate_2d, and
 * KVM's own walk of the guest's tables (KVM_TRANSLATE).
 *
 * For each probe the VMM makes three walks of the table the guest's CR3
 * points at:
 *  - d2: npt_translate_2d over stage 1 and the stage-2 table, the
 *    two-dimensional walk the hardware makes (every stage-1 entry read at
 *    the host address stage 2 gives its guest-physical one);
 *  - d1: npt_translate_raw over stage 1 alone, each entry read through the
 *    KVM memory slots the VMM made (as KVM's software walker reads guest
 *    memory), for a supervisor read;
 *  - KVM_TRANSLATE (kvm_arch_vcpu_ioctl_translate: a supervisor walk with
 *    no permission checks; of its answer only `valid` and the address mean
 *    anything, `writeable` and `usermode` are constants).
 * KVM must agree with d1; d2, where it finished stage 1, with both.
 *
 * npt's x86_64 format is the architecture's widest CPU: MAXPHYADDR 52 and
 * 1 GiB pages. The guest's CPU may have less (vm->maxphyaddr from CPUID
 * 0x80000008, vm->has_1g from 0x80000001 EDX[26]); on it, address bits at
 * and above MAXPHYADDR and a PS bit in a PDPTE are reserved (Intel SDM vol.
 * 3A §4.5.4, Tables 4-14 to 4-20; AMD APM vol. 2 §5.3.3). Where d1's path
 * holds such an entry, KVM must fault where npt goes on: that case is
 * predicted, counted, and checked like any other.
 */
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#include "vmm.h"

#define X86_ADDR_BITS 52
#define X86_PS (1ull << 7)
#define X86_P  1ull

/* The host page behind gpa through the KVM slots, or NULL where no slot is
 * (KVM's walker fails there too). */
static void *slot_virt(void *ctx, uint64_t gpa)
{
	const struct vm *vm = ctx;
	size_t lo = 0, hi = vm->slots.n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct slot *s = &vm->slots.v[mid];

		if (gpa < s->gpa)
			hi = mid;
		else if (gpa - s->gpa >= s->size)
			lo = mid + 1;
		else
			return vm->ram + s->off + (gpa - s->gpa);
	}
	return NULL;
}

/* Does the walk d1 made pass an entry this guest CPU finds reserved and
 * npt's widest x86 does not? */
static int cpu_reserved(const struct vm *vm, const struct npt_2d *d1)
{
	uint64_t high = vm->maxphyaddr < X86_ADDR_BITS ?
				((1ull << X86_ADDR_BITS) - 1) & ~((1ull << vm->maxphyaddr) - 1) : 0;

	for (unsigned i = 0; i < d1->nrefs && i < NPT_2D_MAX_REFS; i++) {
		const uint8_t *p = slot_virt((void *)vm, d1->refs[i].addr & ~(PAGE_SIZE - 1));
		uint64_t pte;

		if (!p)
			continue;
		memcpy(&pte, p + (d1->refs[i].addr & (PAGE_SIZE - 1)), 8);
		if (!(pte & X86_P))
			continue;
		if (pte & high)
			return 1;
		if (d1->refs[i].level == 2 && (pte & X86_PS) && !vm->has_1g)
			return 1;
	}
	return 0;
}

int kvm_translate(struct vm *vm, uint64_t va, int *valid, uint64_t *gpa)
{
	struct kvm_translation tr;

	memset(&tr, 0, sizeof(tr));
	tr.linear_address = va;
	if (ioctl(vm->vcpu, KVM_TRANSLATE, &tr) < 0) {
		perror("vmm: KVM_TRANSLATE");
		return -1;
	}
	*valid = tr.valid;
	*gpa = tr.physical_address;
	return 0;
}

/* d finished stage 1: it has the guest-physical address. */
static int s1_done(const struct npt_2d *d)
{
	return !d->fault || (d->fault_stage == 2 && d->gpa && d->fault_addr == d->gpa);
}

#define CR3_ROOT 0x000ffffffffff000ull

int walkers_s1_walk(struct vm *vm, uint64_t cr3, uint64_t va, struct npt_2d *d1)
{
	struct npt_mm mem = { .ctx = vm, .phys_to_virt = slot_virt };

	npt_translate_raw(vm->s1fmt, cr3 & CR3_ROOT, NULL, 0, &mem, va, NPT_R, d1);
	return d1->fault == NPT_ERR_INVAL ?
		       fail(vm, "npt_translate_raw (stage 1 through the slots)", d1->fault) : 0;
}

int walkers_check(struct vm *vm, uint64_t cr3, uint64_t va, unsigned access,
		  struct npt_2d *d2)
{
	struct npt_2d d1;
	uint64_t kgpa;
	int valid, want;

	/* A stage 2 of another family (the VMM runs any) is data to KVM, not
	 * a table x86 nests: no two-dimensional walk. */
	memset(d2, 0, sizeof(*d2));
	if (vm->s2_nests_s1) {
		npt_translate_2d(vm->s1fmt, cr3 & CR3_ROOT, vm->s2, va, access, d2);
		if (d2->fault == NPT_ERR_INVAL)
			return fail(vm, "npt_translate_2d", d2->fault);
	}
	if (walkers_s1_walk(vm, cr3, va, &d1) < 0 || kvm_translate(vm, va, &valid, &kgpa) < 0)
		return -1;

	/* KVM's walker indexes with bits 47:0 and checks no canonical form. */
	if (d1.fault == NPT_ERR_RANGE && d1.fault_stage == 1) {
		vm->c.walk_noncanonical++;
		return 0;
	}
	want = !d1.fault;
	if (want && cpu_reserved(vm, &d1)) {
		want = 0;
		vm->c.walk_cpu_reserved++;
	}
	if (valid != want || (valid && kgpa != d1.gpa)) {
		char k[48], n[48];

		if (valid)
			snprintf(k, sizeof(k), "GPA %#llx", (unsigned long long)kgpa);
		else
			snprintf(k, sizeof(k), "no translation");
		if (want)
			snprintf(n, sizeof(n), "GPA %#llx", (unsigned long long)d1.gpa);
		else if (d1.fault)
			snprintf(n, sizeof(n), "faults (npt error %d, level %u)", d1.fault,
				 d1.fault_level);
		else
			snprintf(n, sizeof(n), "meets an entry reserved on this CPU");
		mismatch(vm, "va %#llx (CR3 %#llx): KVM_TRANSLATE gives %s, npt's walk through "
			 "the slots %s", (unsigned long long)va, (unsigned long long)cr3, k, n);
	}
	vm->c.walk_kvm++;

	/* The two-dimensional walk read the same entries; where it finished
	 * stage 1, it found what d1 found. Where it stopped at stage 2 while
	 * reading a stage-1 entry (x86 stage-1 reads are writes at stage 2:
	 * the processor may set accessed and dirty flags), d1 may go on. */
	if (!vm->s2_nests_s1)
		return 0;
	if (s1_done(d2) && (d1.fault || d1.gpa != d2->gpa))
		mismatch(vm, "va %#llx: npt_translate_2d gives GPA %#llx, the walk through the "
			 "slots %s %#llx", (unsigned long long)va, (unsigned long long)d2->gpa,
			 d1.fault ? "faults, error" : "gives GPA",
			 d1.fault ? (unsigned long long)(unsigned)-d1.fault :
				    (unsigned long long)d1.gpa);
	if (d2->fault && d2->fault_stage == 1 && d2->fault != NPT_ERR_PERM &&
	    d2->fault != d1.fault)
		mismatch(vm, "va %#llx: npt_translate_2d faults at stage 1 (error %d, level %u), "
			 "the walk through the slots %s", (unsigned long long)va, d2->fault,
			 d2->fault_level, d1.fault ? "faults otherwise" : "does not");
	return 0;
}
