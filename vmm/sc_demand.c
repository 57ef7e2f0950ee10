/*
 * The demand scenario (vmm run demand): stage 2 starts empty; every first
 * touch exits, the VMM maps a frame.
 */
#include "scenario.h"

struct demand {
	uint64_t lo, hi;
	uint64_t faults;
};

static uint64_t demand_fill(uint64_t gpa)
{
	return 0xfeed000000000000ull ^ gpa;
}

/* First touch of a RAM page: a frame, filled so the guest's read can be
 * predicted, mapped with npt_map; then the slots; then KVM completes the
 * access against it (check.c). */
static int demand_hook(struct vm *vm, uint64_t gpa, int is_write, void *ctx)
{
	struct demand *d = ctx;
	uint64_t page = align_down(gpa, PAGE_SIZE), off;
	int e;

	(void)is_write;
	if (page < d->lo || page >= d->hi || npt_query(vm->s2, page, NULL, NULL, NULL) == 0)
		return MMIO_HOLE;
	if (pool_alloc(&vm->frames, 1, &off) < 0) {
		fprintf(stderr, "vmm: %s: out of RAM frames\n", vm->scenario);
		return MMIO_ERROR;
	}
	for (uint64_t i = 0; i < PAGE_SIZE; i += 8) {
		uint64_t v = demand_fill(page + i);
		memcpy(vm->ram + off + i, &v, 8);
	}
	double t0 = now_sec();
	e = npt_map(vm->s2, page, off, PAGE_SIZE, RWX);
	double t1 = now_sec();
	if (e)
		return fail(vm, "npt_map (stage 2, demand)", e);
	if (slots_sync(vm, page, PAGE_SIZE) < 0)
		return MMIO_ERROR;
	if (vm->record_rt) {
		samples_add(&vm->rt.npt, t1 - t0);
		samples_add(&vm->rt.slots, now_sec() - t1);
	}
	d->faults++;
	vm->c.s2_faults++;
	return MMIO_COMPLETE;
}

/* One probe in RAM at page p: a first touch must exit and (read) see what
 * the hook filled in; any later touch must not exit. The scenario keeps its
 * own record of touched pages, independent of the tables. */
static int demand_probe(struct vm *vm, struct demand *d, uint8_t *touched, uint64_t p,
			uint64_t n, int write)
{
	struct probe_out o;
	uint64_t a = d->lo + p * PAGE_SIZE + in_page(n);

	if (pr(vm, write ? CMD_WRITE : CMD_READ, gpa_to_va(a), mix(a), &o))
		return -1;
	if (!touched[p] && !write && o.value != demand_fill(a))
		mismatch(vm, "first read of GPA %#llx: the VMM filled in %#llx, the guest read "
			 "%#llx", (unsigned long long)a, (unsigned long long)demand_fill(a),
			 (unsigned long long)o.value);
	if (o.mmio == touched[p])
		mismatch(vm, "%s touch of GPA %#llx: %s", touched[p] ? "a later" : "the first",
			 (unsigned long long)a, o.mmio ? "exited" : "did not exit");
	touched[p] = 1;
	return 0;
}

int sc_demand(struct vm *vm)
{
	struct demand d = { vm->sys_end, vm->mem, 0 };
	uint64_t pages = (d.hi - d.lo) / PAGE_SIZE, seed = vm->opt->seed ^ 0xde3a4d;
	uint64_t seq = pages / 4 < 2048 ? pages / 4 : 2048; /* touched in order */
	uint64_t shuf = (pages - seq) / 4 < 1024 ? (pages - seq) / 4 : 1024; /* at random */
	uint64_t *perm = malloc((pages - seq) * sizeof(*perm)), ntouched = 0;
	uint8_t *touched = calloc(pages, 1);
	struct probe_out o;
	int rc = -1;

	if (!perm || !touched)
		goto out;
	if (s1_map_window(vm, d.lo, vm->gpa_end - d.lo, RWX, s1_huge_opts(vm)))
		goto out;
	vm->on_mmio = demand_hook;
	vm->hook_ctx = &d;
	vm->record_rt = 1;

	/* In order: frames come in order too, so one slot just grows. Then
	 * pages at random: a slot per page, mostly. Then probes anywhere:
	 * some pages are new, most are not, the tail above RAM is a hole. */
	for (uint64_t p = 0; p < seq; p++)
		if (demand_probe(vm, &d, touched, p, p, (int)(p % 2)))
			goto out;
	for (uint64_t i = 0; i < pages - seq; i++)
		perm[i] = seq + i;
	for (uint64_t i = 0; i < shuf; i++) {
		uint64_t j = i + rnd(&seed, pages - seq - i), t = perm[i];
		perm[i] = perm[j];
		perm[j] = t;
		if (demand_probe(vm, &d, touched, perm[i], i, (int)(i % 2)))
			goto out;
	}
	for (int i = 0; i < 3000; i++) {
		uint64_t g = d.lo + rnd(&seed, (vm->gpa_end - d.lo) / PAGE_SIZE) * PAGE_SIZE;
		int write = (int)rnd(&seed, 2);
		if (g < d.hi) {
			if (demand_probe(vm, &d, touched, (g - d.lo) / PAGE_SIZE, (uint64_t)i, write))
				goto out;
			continue;
		}
		if (pr(vm, write ? CMD_WRITE : CMD_READ, gpa_to_va(g), mix(g), &o))
			goto out;
		if (!o.mmio)
			mismatch(vm, "GPA %#llx above RAM did not exit", (unsigned long long)g);
	}
	vm->record_rt = 0;
	for (uint64_t p = 0; p < pages; p++)
		ntouched += touched[p];
	if (d.faults != ntouched)
		mismatch(vm, "%llu pages touched, %llu stage-2 faults",
			 (unsigned long long)ntouched, (unsigned long long)d.faults);
	rc = 0;
out:
	vm->on_mmio = NULL;
	vm->record_rt = 0;
	free(perm);
	free(touched);
	return rc;
}
