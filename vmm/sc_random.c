/*
 * The random scenario (vmm run random): a seeded mix of
 * map/unmap/protect/remap on both stages, and random probes.
 */
#include "scenario.h"

struct rstate {
	struct vm *vm;
	uint64_t seed, lo, hi, end;
	uint16_t *ref; /* mappings per RAM frame (stage 2 may alias) */
};

static uint16_t *ref_of(struct rstate *r, uint64_t off)
{
	return &r->ref[(off - r->lo) / PAGE_SIZE];
}

static void frame_put(struct rstate *r, uint64_t off, uint64_t n)
{
	for (uint64_t k = 0; k < n; k++, off += PAGE_SIZE)
		if (--*ref_of(r, off) == 0)
			pool_free(&r->vm->frames, off, 1);
}

static int frame_get(struct rstate *r, uint64_t n, uint64_t *off)
{
	if (pool_alloc(&r->vm->frames, n, off) < 0)
		return -1;
	fill_tags(r->vm, *off, n * PAGE_SIZE);
	for (uint64_t k = 0; k < n; k++)
		*ref_of(r, *off + k * PAGE_SIZE) = 1;
	return 0;
}

static int count_leaf(const struct npt_visit *v, void *arg)
{
	(void)v;
	++*(uint64_t *)arg;
	return 0;
}

/* One random stage-2 change; the slots follow and are verified against a
 * full walk. */
static int random_s2_op(struct rstate *r)
{
	struct vm *vm = r->vm;
	uint64_t g = r->lo + rnd(&r->seed, (r->end - r->lo) / PAGE_SIZE) * PAGE_SIZE;
	uint64_t off, ps, nf;
	unsigned f, nflags = rnd(&r->seed, 4) ? RWX : RX;
	int mapped = npt_query(vm->s2, g, &off, &f, &ps) == 0, e = 0;
	unsigned op = (unsigned)rnd(&r->seed, 6);
	static const char *const names[] = {
		"stage-2 map", "stage-2 map", "stage-2 unmap", "stage-2 protect", "stage-2 remap",
	};

	switch (op) {
	case 0: case 1: /* map a page: a fresh frame, or alias one already mapped */
		if (mapped)
			return 0;
		if (rnd(&r->seed, 5) == 0) {
			uint64_t h = r->lo + rnd(&r->seed, (r->hi - r->lo) / PAGE_SIZE) * PAGE_SIZE;
			if (npt_query(vm->s2, h, &nf, NULL, NULL))
				return 0;
			nf = align_down(nf, PAGE_SIZE);
			++*ref_of(r, nf);
		} else if (frame_get(r, 1, &nf) < 0) {
			return 0;
		}
		e = npt_map(vm->s2, g, nf, PAGE_SIZE, nflags);
		break;
	case 2: /* unmap a page (splitting a huge leaf) */
		if (!mapped)
			return 0;
		e = npt_unmap_region(vm->s2, g, PAGE_SIZE);
		if (!e)
			frame_put(r, align_down(off, PAGE_SIZE), 1);
		break;
	case 3: /* protect a page */
		if (!mapped)
			return 0;
		e = npt_protect_region(vm->s2, g, PAGE_SIZE, nflags);
		break;
	case 4: /* move a page to another frame */
		if (!mapped || frame_get(r, 1, &nf) < 0)
			return 0;
		/* npt_remap acts on whole leaves and npt has no "split" call
		 * (protect_region with unchanged flags leaves a huge leaf
		 * whole): a page inside a huge leaf moves by unmap + map. */
		if (ps > PAGE_SIZE) {
			e = npt_unmap_region(vm->s2, g, PAGE_SIZE);
			if (!e)
				e = npt_map(vm->s2, g, nf, PAGE_SIZE, nflags);
		} else {
			e = npt_remap(vm->s2, g, nf, nflags);
		}
		if (!e)
			frame_put(r, align_down(off, PAGE_SIZE), 1);
		else
			frame_put(r, nf, 1);
		break;
	case 5: { /* a 2 MiB range: map it as one leaf if empty, else empty it */
		uint64_t gl = align_down(g, SZ_2M), leaves = 0;
		g = gl;
		if (gl < r->lo || gl + SZ_2M > r->end)
			return 0;
		e = npt_walk(vm->s2, gl, SZ_2M, NPT_WALK_LEAF, count_leaf, &leaves);
		if (e)
			break;
		if (!leaves) {
			if (frame_get(r, SZ_2M / PAGE_SIZE, &nf) < 0)
				return 0;
			e = npt_map_region(vm->s2, gl, nf, SZ_2M, nflags, NPT_MAP_2M);
		} else {
			for (uint64_t a = gl; !e && a < gl + SZ_2M; a += PAGE_SIZE) {
				if (npt_query(vm->s2, a, &off, NULL, &ps))
					continue;
				e = npt_unmap_region(vm->s2, a, PAGE_SIZE);
				if (!e)
					frame_put(r, align_down(off, PAGE_SIZE), 1);
			}
		}
		if (e)
			return fail(vm, "random 2 MiB stage-2 change", e);
		if (slots_sync(vm, gl, SZ_2M) < 0)
			return -1;
		slots_verify(vm);
		return 0;
	}
	}
	if (e) {
		char what[96];
		snprintf(what, sizeof(what), "random %s at GPA %#llx (leaf %#llx bytes)", names[op],
			 (unsigned long long)g, (unsigned long long)ps);
		return fail(vm, what, e);
	}
	if (slots_sync(vm, g, PAGE_SIZE) < 0)
		return -1;
	slots_verify(vm); /* a difference is a mismatch, already counted */
	return 0;
}

static int random_s1_op(struct rstate *r)
{
	struct vm *vm = r->vm;
	uint64_t g = r->lo + rnd(&r->seed, (r->end - r->lo) / PAGE_SIZE) * PAGE_SIZE;
	uint64_t va = gpa_to_va(g);
	int mapped = npt_query(vm->s1, va, NULL, NULL, NULL) == 0, e = 0;

	switch (rnd(&r->seed, 4)) {
	case 0: /* new flags */
		if (mapped)
			e = s1_protect_region(vm, va, PAGE_SIZE, random_s1_flags(&r->seed));
		break;
	case 1: /* gone */
		if (mapped)
			e = s1_unmap_region(vm, va, PAGE_SIZE);
		break;
	case 2: { /* back, to its own GPA or another */
		uint64_t to = rnd(&r->seed, 2) ? g :
			r->lo + rnd(&r->seed, (r->end - r->lo) / PAGE_SIZE) * PAGE_SIZE;
		if (!mapped)
			e = s1_map(vm, va, to, PAGE_SIZE, random_s1_flags(&r->seed));
		break;
	}
	case 3: { /* a 2 MiB range at once: protect_region refuses (and changes
		   * nothing) unless every page of it is mapped */
		uint64_t gl = align_down(g, SZ_2M);
		if (gl < r->lo || gl + SZ_2M > r->end)
			break;
		e = s1_protect_region(vm, gpa_to_va(gl), SZ_2M, random_s1_flags(&r->seed));
		if (e == NPT_ERR_NOT_MAPPED)
			e = 0;
		break;
	}
	}
	return e ? fail(vm, "random stage-1 change", e) : 0;
}

int sc_random(struct vm *vm)
{
	struct rstate r = { vm, vm->opt->seed, vm->sys_end, vm->mem, vm->gpa_end, NULL };
	uint64_t quarter = align_down((r.hi - r.lo) / 4, SZ_2M);
	int rc = -1;

	r.ref = calloc((r.hi - r.lo) / PAGE_SIZE, sizeof(*r.ref));
	if (!r.ref)
		return -1;
	fill_tags(vm, r.lo, r.hi - r.lo);
	/* Start: a quarter of RAM 1:1 in 2 MiB leaves, 500 pages scattered. */
	if (pool_take(&vm->frames, r.lo, quarter / PAGE_SIZE) < 0)
		goto out;
	for (uint64_t k = 0; k < quarter / PAGE_SIZE; k++)
		r.ref[k] = 1;
	if (s2_map(vm, r.lo, r.lo, quarter, RWX, NPT_MAP_2M))
		goto out;
	for (int i = 0; i < 500; i++) {
		uint64_t g = r.lo + quarter + rnd(&r.seed, (r.end - r.lo - quarter) / PAGE_SIZE) * PAGE_SIZE, nf;
		if (npt_query(vm->s2, g, NULL, NULL, NULL) == 0 || frame_get(&r, 1, &nf) < 0)
			continue;
		if (s2_map(vm, g, nf, PAGE_SIZE, RWX, 0))
			goto out;
	}
	if (s1_map_window(vm, r.lo, r.end - r.lo, RWXU, s1_huge_opts(vm)))
		goto out;

	for (int i = 0; i < 6000; i++) {
		uint64_t g = r.lo + rnd(&r.seed, (r.end - r.lo) / PAGE_SIZE) * PAGE_SIZE;
		uint64_t va = gpa_to_va(g + in_page(rnd(&r.seed, 512)));
		unsigned k = (unsigned)rnd(&r.seed, 20);
		unsigned cmd = k < 9 ? CMD_READ : k < 17 ? CMD_WRITE : CMD_EXEC;
		uint64_t gpa;
		unsigned f;

		if (rnd(&r.seed, 4) == 0 &&
		    (rnd(&r.seed, 3) ? random_s2_op(&r) : random_s1_op(&r)) < 0)
			goto out;
		if (rnd(&r.seed, 10) < 3)
			cmd |= CMD_USER;
		/* An instruction fetch from a stage-2 hole cannot be completed by
		 * KVM: such probes become reads. */
		if ((cmd & 0xff) == CMD_EXEC && npt_query(vm->s1, va, &gpa, &f, NULL) == 0 &&
		    npt_query(vm->s2, gpa, NULL, NULL, NULL) != 0)
			cmd = (cmd & CMD_USER) | CMD_READ;
		if (pr(vm, cmd, va, mix(va ^ (uint64_t)i), NULL))
			goto out;
	}
	slots_verify(vm);
	rc = 0;
out:
	free(r.ref);
	return rc;
}
