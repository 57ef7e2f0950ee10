/*
 * The remap scenario (vmm run remap): pages and 2 MiB leaves move to other
 * frames while the guest runs.
 */
#include "scenario.h"

static int remap_read(struct vm *vm, uint64_t g, uint64_t off, const char *when)
{
	struct probe_out o;

	if (pr(vm, CMD_READ, gpa_to_va(g), 0, &o))
		return -1;
	if (o.value != tag(off))
		mismatch(vm, "read GPA %#llx %s: frame at offset %#llx holds %#llx, the guest read "
			 "%#llx", (unsigned long long)g, when, (unsigned long long)off,
			 (unsigned long long)tag(off), (unsigned long long)o.value);
	return 0;
}

/* Pages and 2 MiB leaves move to other frames while the guest runs; the
 * guest must see the new frame's contents right after the slot update. */
int sc_remap(struct vm *vm)
{
	uint64_t lo = vm->sys_end, half = align_down((vm->mem - lo) / 2, SZ_2M);
	uint64_t small = align_down(half / 2, SZ_2M); /* [lo, lo+small): 4 KiB leaves */
	uint64_t npages = half / PAGE_SIZE, seed = vm->opt->seed ^ 0x7e3a9;
	uint64_t *off = malloc(npages * sizeof(*off)); /* current frame of each page */
	int rc = -1, e;

	if (!off)
		return -1;
	if (pool_take(&vm->frames, lo, half / PAGE_SIZE) < 0)
		goto out;
	fill_tags(vm, lo, vm->mem - lo);
	for (uint64_t i = 0; i < npages; i++)
		off[i] = lo + i * PAGE_SIZE;
	if (s2_map(vm, lo, lo, small, RWX, 0) ||
	    s2_map(vm, lo + small, lo + small, half - small, RWX, NPT_MAP_2M) ||
	    s1_map_window(vm, lo, half, RWX, s1_huge_opts(vm)))
		goto out;

	for (int i = 0; i < 1500; i++) {
		uint64_t p = rnd(&seed, small / PAGE_SIZE), g = lo + p * PAGE_SIZE;
		/* Reads in the first half of a page, writes in the second: a
		 * page written before it moved is read again only where the
		 * tags are intact. */
		uint64_t o8 = ((uint64_t)i * 8) % (PAGE_SIZE / 2), nf;

		if (remap_read(vm, g + o8, off[p] + o8, "before remap"))
			goto out;
		if (pool_alloc(&vm->frames, 1, &nf) < 0) {
			fprintf(stderr, "vmm: %s: out of RAM frames\n", vm->scenario);
			goto out;
		}
		fill_tags(vm, nf, PAGE_SIZE);
		if (i % 2) {
			e = npt_remap(vm->s2, g, nf, RWX);
			if (e) {
				fail(vm, "npt_remap (stage 2)", e);
				goto out;
			}
		} else {
			uint64_t old = 0, ps = 0;
			e = npt_unmap(vm->s2, g, &old, &ps);
			if (!e && (old != off[p] || ps != PAGE_SIZE))
				mismatch(vm, "npt_unmap GPA %#llx: returned offset %#llx size %#llx, "
					 "mapped was %#llx size 4 KiB", (unsigned long long)g,
					 (unsigned long long)old, (unsigned long long)ps,
					 (unsigned long long)off[p]);
			if (!e)
				e = npt_map(vm->s2, g, nf, PAGE_SIZE, RWX);
			if (e) {
				fail(vm, "npt_unmap/npt_map (stage 2)", e);
				goto out;
			}
		}
		if (slots_sync(vm, g, PAGE_SIZE) < 0)
			goto out;
		pool_free(&vm->frames, off[p], 1);
		off[p] = nf;
		if (remap_read(vm, g + o8, nf + o8, "after remap") ||
		    pr(vm, CMD_WRITE, gpa_to_va(g + PAGE_SIZE / 2 + o8), mix(g), NULL))
			goto out;

		/* Now and then a whole 2 MiB leaf moves. */
		if (i % 100 == 50 && half > small) {
			uint64_t l = rnd(&seed, (half - small) / SZ_2M), gl = lo + small + l * SZ_2M;
			uint64_t pl = (gl - lo) / PAGE_SIZE, nr;

			if (pool_alloc(&vm->frames, SZ_2M / PAGE_SIZE, &nr) < 0)
				continue; /* fragmented: try again later */
			fill_tags(vm, nr, SZ_2M);
			e = npt_remap(vm->s2, gl, nr, RWX);
			if (e) {
				fail(vm, "npt_remap (stage 2, 2 MiB leaf)", e);
				goto out;
			}
			if (slots_sync(vm, gl, SZ_2M) < 0)
				goto out;
			pool_free(&vm->frames, off[pl], SZ_2M / PAGE_SIZE);
			for (uint64_t k = 0; k < SZ_2M / PAGE_SIZE; k++)
				off[pl + k] = nr + k * PAGE_SIZE;
			for (int k = 0; k < 8; k++) {
				uint64_t a = rnd(&seed, SZ_2M / 8) * 8;
				if (remap_read(vm, gl + a, nr + a, "after moving its 2 MiB leaf"))
					goto out;
			}
		}
	}
	rc = 0;
out:
	free(off);
	return rc;
}
