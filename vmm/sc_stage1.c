/*
 * The stage1 scenario (vmm run stage1): guest #PF from its own tables: not
 * present, read-only, supervisor-only, no-execute.
 */
#include "scenario.h"

/* What the CPU must do, from the flags the scenario set (not from
 * npt_query): -1 for no fault, else the #PF error code. */
static int model_fault(int present, unsigned flags, unsigned cmd)
{
	unsigned kind = cmd & 0xff, user = !!(cmd & CMD_USER);
	unsigned access = (kind == CMD_WRITE ? 2u : 0) | (user ? 4u : 0) | (kind == CMD_EXEC ? 0x10u : 0);

	if (!present)
		return (int)access;
	if ((user && !(flags & NPT_U)) || (kind == CMD_WRITE && !(flags & NPT_W)) ||
	    (kind == CMD_EXEC && !(flags & NPT_X)))
		return (int)(1u | access);
	return -1;
}

static const unsigned all_cmds[] = {
	CMD_READ, CMD_WRITE, CMD_EXEC, CMD_READ | CMD_USER, CMD_WRITE | CMD_USER, CMD_EXEC | CMD_USER,
};

static int s1_probe_model(struct vm *vm, unsigned cmd, uint64_t va, int present, unsigned flags,
			  uint64_t value)
{
	struct probe_out o;
	int want = model_fault(present, flags, cmd);
	char fs[16];

	if (pr(vm, cmd, va, value, &o))
		return -1;
	flags_str(flags, fs, sizeof(fs));
	if (want < 0 && o.faulted)
		mismatch(vm, "%s va %#llx (set %s): expected no fault, observed #PF error %#llx",
			 probe_name(cmd), (unsigned long long)va, present ? fs : "not present",
			 (unsigned long long)o.err);
	else if (want >= 0 && (!o.faulted || o.err != (uint64_t)want))
		mismatch(vm, "%s va %#llx (set %s): expected #PF error %#x, observed %s %#llx",
			 probe_name(cmd), (unsigned long long)va, present ? fs : "not present", want,
			 o.faulted ? "#PF error" : "no fault, value", o.faulted ?
			 (unsigned long long)o.err : (unsigned long long)o.value);
	return 0;
}


int sc_stage1(struct vm *vm)
{
	uint64_t lo = vm->sys_end, hi = vm->mem, seed = vm->opt->seed ^ 0x51;
	uint64_t base = align_up(lo + SZ_2M, SZ_2M); /* 4 KiB cases, in a split 2 MiB leaf */
	uint64_t huge = base + SZ_2M, gone = huge + SZ_2M, area = gone + SZ_2M;
	uint64_t npages = 2048; /* the random phase's area: 8 MiB */
	static const struct { int present; unsigned flags; } cases[] = {
		{ 0, 0 },                     /* not present */
		{ 1, NPT_R | NPT_X | NPT_U }, /* read-only */
		{ 1, NPT_R | NPT_W | NPT_X }, /* supervisor only */
		{ 1, NPT_R | NPT_W | NPT_U }, /* no-execute */
		{ 1, NPT_R | NPT_U },         /* read-only, no-execute */
		{ 1, NPT_R },                 /* supervisor, read-only, no-execute */
		{ 1, RWXU },                  /* everything: no fault */
	};
	uint8_t *model = NULL; /* random phase: flags of each page, 0 = not present */
	int rc = -1, e;

	if (area + npages * PAGE_SIZE > hi) {
		fprintf(stderr, "vmm: %s: needs more RAM\n", vm->scenario);
		return -1;
	}
	if (s2_map(vm, lo, lo, hi - lo, RWX, NPT_MAP_2M) ||
	    s1_map_window(vm, lo, hi - lo, RWXU, s1_huge_opts(vm)))
		return -1;

	/* Single 4 KiB pages (npt splits the 2 MiB leaf around them). */
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		uint64_t va = gpa_to_va(base + c * PAGE_SIZE);
		e = cases[c].present ? s1_protect_region(vm, va, PAGE_SIZE, cases[c].flags)
				     : s1_unmap_region(vm, va, PAGE_SIZE);
		if (e)
			return fail(vm, "npt_protect_region/npt_unmap_region (stage 1)", e);
	}
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++)
		for (size_t k = 0; k < sizeof(all_cmds) / sizeof(all_cmds[0]); k++)
			if (s1_probe_model(vm, all_cmds[k], gpa_to_va(base + c * PAGE_SIZE + 0x100 + 16 * k),
					   cases[c].present, cases[c].flags, mix(c * 8 + k)))
				return -1;

	/* A whole 2 MiB leaf read-only and supervisor-only; another gone. */
	e = s1_protect_region(vm, gpa_to_va(huge), SZ_2M, NPT_R | NPT_X);
	if (!e)
		e = s1_unmap_region(vm, gpa_to_va(gone), SZ_2M);
	if (e)
		return fail(vm, "npt_protect_region/npt_unmap_region (stage 1, 2 MiB)", e);
	for (int i = 0; i < 64; i++) {
		uint64_t a = rnd(&seed, SZ_2M / 16) * 16 % (SZ_2M - 16);
		unsigned cmd = all_cmds[rnd(&seed, 6)];
		if (s1_probe_model(vm, cmd, gpa_to_va(huge + a), 1, NPT_R | NPT_X, mix(a)) ||
		    s1_probe_model(vm, cmd, gpa_to_va(gone + a), 0, 0, mix(a)))
			return -1;
	}

	/* Random phase: a change, then probes, against the scenario's model. */
	model = malloc(npages);
	if (!model)
		return -1;
	memset(model, RWXU, npages);
	for (int i = 0; i < 1500; i++) {
		uint64_t p = rnd(&seed, npages), va = gpa_to_va(area + p * PAGE_SIZE);

		if (model[p] && rnd(&seed, 4) == 0) {
			e = s1_unmap_region(vm, va, PAGE_SIZE);
			model[p] = 0;
		} else {
			unsigned f = random_s1_flags(&seed);
			e = model[p] ? s1_protect_region(vm, va, PAGE_SIZE, f)
				     : s1_map(vm, va, area + p * PAGE_SIZE, PAGE_SIZE, f);
			model[p] = (uint8_t)f;
		}
		if (e) {
			fail(vm, "stage-1 change", e);
			goto out;
		}
		for (int k = 0; k < 2; k++) {
			uint64_t q = k ? p : rnd(&seed, npages);
			unsigned cmd = all_cmds[rnd(&seed, 6)];
			uint64_t a = gpa_to_va(area + q * PAGE_SIZE + in_page((uint64_t)i));
			if (s1_probe_model(vm, cmd, a, model[q] != 0, model[q], mix(a)))
				goto out;
		}
	}
	rc = 0;
out:
	free(model);
	return rc;
}
