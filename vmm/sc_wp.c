/*
 * The wp scenario (vmm run wp): write-protect RAM, writes exit, make the page
 * writable, retry (the dirty-tracking cycle).
 */
#include "scenario.h"

struct wp {
	uint64_t lo, hi;
	uint8_t *dirty;  /* what the exits said */
	uint64_t exits;
};

/* A write to a write-protected page: note it dirty and make the page
 * writable again; the write itself did not happen (KVM completed it as
 * MMIO), the guest retries it. */
static int wp_hook(struct vm *vm, uint64_t gpa, int is_write, void *ctx)
{
	struct wp *w = ctx;
	uint64_t page = align_down(gpa, PAGE_SIZE);
	int e;

	if (!is_write || page < w->lo || page >= w->hi)
		return MMIO_HOLE;
	w->dirty[(page - w->lo) / PAGE_SIZE] = 1;
	w->exits++;
	vm->c.s2_faults++;
	e = npt_protect_region(vm->s2, page, PAGE_SIZE, RWX);
	if (e)
		return fail(vm, "npt_protect_region (stage 2, wp)", e);
	return slots_sync(vm, page, PAGE_SIZE) < 0 ? MMIO_ERROR : MMIO_HOLE;
}

int sc_wp(struct vm *vm)
{
	struct wp w = { vm->sys_end, vm->mem, NULL, 0 };
	uint64_t pages = (w.hi - w.lo) / PAGE_SIZE, seed = vm->opt->seed ^ 0x3b;
	uint64_t set = pages < 512 ? pages : 512; /* the pages the guest works on */
	uint8_t *expect = calloc(pages, 1);
	struct probe_out o;
	int rc = -1;

	w.dirty = calloc(pages, 1);
	if (!expect || !w.dirty)
		goto out;
	if (s2_map(vm, w.lo, w.lo, w.hi - w.lo, RWX, NPT_MAP_2M) ||
	    s1_map_window(vm, w.lo, w.hi - w.lo, RWX, s1_huge_opts(vm)))
		goto out;
	vm->on_mmio = wp_hook;
	vm->hook_ctx = &w;

	for (int round = 0; round < 4; round++) {
		/* Start (or restart) tracking: everything read-only again. */
		if (s2_protect(vm, w.lo, w.hi - w.lo, RX))
			goto out;
		memset(w.dirty, 0, pages);
		memset(expect, 0, pages);
		for (int i = 0; i < 600; i++) {
			uint64_t p = rnd(&seed, set) * (pages / set);
			uint64_t a = w.lo + p * PAGE_SIZE + in_page((uint64_t)i);

			if (rnd(&seed, 3) == 0) { /* reads never exit */
				if (pr(vm, CMD_READ, gpa_to_va(a), 0, &o))
					goto out;
				if (o.mmio)
					mismatch(vm, "read of write-protected GPA %#llx exited",
						 (unsigned long long)a);
				continue;
			}
			if (pr(vm, CMD_WRITE, gpa_to_va(a), mix(a + (uint64_t)round), &o))
				goto out;
			if (o.mmio == expect[p])
				mismatch(vm, "write to GPA %#llx, %s in this round: %s",
					 (unsigned long long)a, expect[p] ? "dirty" : "clean",
					 o.mmio ? "exited" : "did not exit");
			if (o.mmio) {
				expect[p] = 1;
				/* The retry lands (check.c checks memory). */
				if (pr(vm, CMD_WRITE, gpa_to_va(a), mix(a + (uint64_t)round), &o))
					goto out;
				if (o.mmio)
					mismatch(vm, "retried write to GPA %#llx exited again",
						 (unsigned long long)a);
			}
		}
		/* The dirty log must be exactly the pages written. */
		for (uint64_t p = 0; p < pages; p++)
			if (w.dirty[p] != expect[p])
				mismatch(vm, "round %d: page GPA %#llx: dirty log says %d, the guest %s it",
					 round, (unsigned long long)(w.lo + p * PAGE_SIZE), w.dirty[p],
					 expect[p] ? "wrote" : "did not write");
	}
	/* Tracking off: everything writable, no exits. */
	if (s2_protect(vm, w.lo, w.hi - w.lo, RWX))
		goto out;
	for (uint64_t p = 0; p < pages; p += pages / set) {
		uint64_t a = w.lo + p * PAGE_SIZE;
		if (pr(vm, CMD_WRITE, gpa_to_va(a), mix(a), &o))
			goto out;
		if (o.mmio)
			mismatch(vm, "write to GPA %#llx exited after tracking stopped",
				 (unsigned long long)a);
	}
	rc = 0;
out:
	vm->on_mmio = NULL;
	free(expect);
	free(w.dirty);
	return rc;
}
