/*
 * The identity scenario (vmm run identity): RAM mapped 1:1 with 4 KiB and 2
 * MiB leaves, one coalesced slot; a pattern written and read back.
 */
#include "scenario.h"

/* RAM mapped GPA == offset with 2 MiB leaves on one half and 4 KiB leaves
 * on the other (stage 1 crosswise), so one run of equal flags spans all of
 * it: the whole guest must end up in a single KVM slot. The guest writes a
 * pattern to every page and reads it back. */
int sc_identity(struct vm *vm)
{
	uint64_t lo = vm->sys_end, hi = vm->mem;
	uint64_t mid = align_down(lo + (hi - lo) / 2, SZ_2M);
	uint64_t q = align_down(lo + (hi - lo) / 4, SZ_2M);
	struct probe_out o;

	if (s2_map(vm, lo, lo, mid - lo, RWX, NPT_MAP_2M) || s2_map(vm, mid, mid, hi - mid, RWX, 0))
		return -1;
	if (s1_map_window(vm, lo, q - lo, RWXU, 0) ||
	    s1_map_window(vm, q, hi - q, RWXU, s1_huge_opts(vm)))
		return -1;
	if (vm->slots.n != 1)
		mismatch(vm, "identity map of [0, %#llx) with equal flags: expected 1 memory slot, "
			 "have %zu", (unsigned long long)hi, vm->slots.n);

	for (uint64_t g = lo, n = 0; g < hi; g += PAGE_SIZE, n++)
		if (pr(vm, CMD_WRITE, gpa_to_va(g + in_page(n)), mix(g), NULL))
			return -1;
	for (uint64_t g = lo, n = 0; g < hi; g += PAGE_SIZE, n++) {
		if (pr(vm, CMD_READ, gpa_to_va(g + in_page(n)), 0, &o))
			return -1;
		if (!o.faulted && o.value != mix(g))
			mismatch(vm, "read back GPA %#llx: wrote %#llx, read %#llx",
				 (unsigned long long)(g + in_page(n)), (unsigned long long)mix(g),
				 (unsigned long long)o.value);
		/* Now and then the same page from CPL 3, and as code. */
		if (n % 64 == 0) {
			if (pr(vm, CMD_READ | CMD_USER, gpa_to_va(g + in_page(n)), 0, NULL) ||
			    pr(vm, CMD_EXEC, gpa_to_va(g + 0x800), mix(g + 1), NULL) ||
			    pr(vm, CMD_EXEC | CMD_USER, gpa_to_va(g + 0x800), mix(g + 2), NULL))
				return -1;
		}
	}
	return 0;
}
