/*
 * The scenarios. Each one gets a freshly booted VM (system part mapped, the
 * stub waiting in its probe loop), lays out stage 2 and the stage-1 window
 * with npt, and drives probes. check.c cross-checks every probe against the
 * tables; the scenarios add checks of their own that do not go through
 * npt_query at all (what they know they mapped, wrote, or made fault), so a
 * table that reads back wrong is caught too.
 *
 * Stage-2 changes are always followed by slots_sync over the changed range:
 * the table changes first, KVM follows.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmm.h"

#define RWX (NPT_R | NPT_W | NPT_X)
#define RX (NPT_R | NPT_X)
#define RWXU (RWX | NPT_U)
#define SZ_2M (2 * MIB)
#define SZ_64K (64 * 1024ull)

static uint64_t align_down(uint64_t x, uint64_t a)
{
	return x & ~(a - 1);
}

/* Offset in a page for the n-th probe of a page: 8-aligned, with room
 * for an execute probe's 11 bytes of code. */
static uint64_t in_page(uint64_t n)
{
	return (n * 8) % (PAGE_SIZE - 16);
}

/* ---- stage-2 changes, each followed by the slot update ------------------------ */

static int s2_map(struct vm *vm, uint64_t gpa, uint64_t off, uint64_t size, unsigned flags,
		  unsigned opts)
{
	int e = npt_map_region(vm->s2, gpa, off, size, flags, opts);

	return e ? fail(vm, "npt_map_region (stage 2)", e) : slots_sync(vm, gpa, size);
}

static int s2_protect(struct vm *vm, uint64_t gpa, uint64_t size, unsigned flags)
{
	int e = npt_protect_region(vm->s2, gpa, size, flags);

	return e ? fail(vm, "npt_protect_region (stage 2)", e) : slots_sync(vm, gpa, size);
}

static int pr(struct vm *vm, unsigned cmd, uint64_t va, uint64_t value, struct probe_out *o)
{
	struct probe p = { .cmd = cmd, .va = va, .value = value };
	struct probe_out tmp;

	return probe(vm, &p, o ? o : &tmp);
}

/* Fill RAM frames with a pattern the scenario can predict: tag(offset). */
static uint64_t tag(uint64_t off)
{
	return 0xc0ffee0000000000ull ^ off;
}

static void fill_tags(struct vm *vm, uint64_t off, uint64_t size)
{
	for (uint64_t a = off; a < off + size; a += 8) {
		uint64_t v = tag(a);
		memcpy(vm->ram + a, &v, 8);
	}
}

/* ---- 1. identity ------------------------------------------------------------- */

/* RAM mapped GPA == offset with 2 MiB leaves on one half and 4 KiB leaves
 * on the other (stage 1 crosswise), so one run of equal flags spans all of
 * it: the whole guest must end up in a single KVM slot. The guest writes a
 * pattern to every page and reads it back. */
static int sc_identity(struct vm *vm)
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

/* ---- 2. holes ---------------------------------------------------------------- */

struct holes {
	uint64_t lo, hi, big;
};

/* The layout, known without asking npt: every fourth 64 KiB chunk missing,
 * one whole 2 MiB range missing, nothing above RAM. */
static int is_hole(const struct holes *h, uint64_t g)
{
	return g >= h->hi || (g >= h->big && g < h->big + SZ_2M) ||
	       ((g - h->lo) / SZ_64K) % 4 == 3;
}

static int hole_probe(struct vm *vm, const struct holes *h, unsigned cmd, uint64_t g,
		      uint64_t value)
{
	struct probe_out o;

	if (pr(vm, cmd, gpa_to_va(g), value, &o))
		return -1;
	if (o.mmio != is_hole(h, g))
		mismatch(vm, "%s GPA %#llx: the layout has %s there, observed %s", probe_name(cmd),
			 (unsigned long long)g, is_hole(h, g) ? "a hole" : "RAM",
			 o.mmio ? "an MMIO exit" : "a memory access");
	if (cmd == CMD_READ && is_hole(h, g) && o.value != poison(g))
		mismatch(vm, "read from the hole at GPA %#llx: expected poison %#llx, read %#llx",
			 (unsigned long long)g, (unsigned long long)poison(g),
			 (unsigned long long)o.value);
	return 0;
}

static int sc_holes(struct vm *vm)
{
	struct holes h = { vm->sys_end, vm->mem, align_up(vm->sys_end + 4 * MIB, SZ_2M) };
	uint64_t seed = vm->opt->seed ^ 0x401e5;

	if (h.big + SZ_2M > h.hi)
		h.big = h.hi; /* no room: no big hole */
	for (uint64_t g = h.lo; g < h.hi; g += SZ_64K)
		if (!is_hole(&h, g) && s2_map(vm, g, g, SZ_64K, RWX, 0))
			return -1;
	if (s1_map_window(vm, h.lo, vm->gpa_end - h.lo, RWX, s1_huge_opts(vm)))
		return -1;
	fill_tags(vm, h.lo, h.hi - h.lo);

	/* Every chunk once (every kind of hole is hit), then at random. */
	for (uint64_t g = h.lo, n = 0; g < vm->gpa_end; g += SZ_64K, n++) {
		if (hole_probe(vm, &h, CMD_READ, g + in_page(n), 0) ||
		    hole_probe(vm, &h, CMD_WRITE, g + PAGE_SIZE + in_page(n), mix(g)))
			return -1;
	}
	for (int i = 0; i < 3000; i++) {
		uint64_t g = h.lo + rnd(&seed, (vm->gpa_end - h.lo) / 8) * 8;
		if (hole_probe(vm, &h, rnd(&seed, 2) ? CMD_READ : CMD_WRITE, g, mix(g)))
			return -1;
	}
	return 0;
}

/* ---- 3. demand --------------------------------------------------------------- */

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
	e = npt_map(vm->s2, page, off, PAGE_SIZE, RWX);
	if (e)
		return fail(vm, "npt_map (stage 2, demand)", e);
	if (slots_sync(vm, page, PAGE_SIZE) < 0)
		return MMIO_ERROR;
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

static int sc_demand(struct vm *vm)
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

/* ---- 4. wp ------------------------------------------------------------------- */

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

static int sc_wp(struct vm *vm)
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

/* ---- 5. remap ---------------------------------------------------------------- */

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
static int sc_remap(struct vm *vm)
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

/* ---- 6. stage1 --------------------------------------------------------------- */

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

/* Stage-1 flags a random change may set: present means readable on x86. */
static unsigned random_s1_flags(uint64_t *seed)
{
	unsigned f = NPT_R;

	if (rnd(seed, 2))
		f |= NPT_W;
	if (rnd(seed, 2))
		f |= NPT_X;
	if (rnd(seed, 2))
		f |= NPT_U;
	return f;
}

static int sc_stage1(struct vm *vm)
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
		e = cases[c].present ? npt_protect_region(vm->s1, va, PAGE_SIZE, cases[c].flags)
				     : npt_unmap_region(vm->s1, va, PAGE_SIZE);
		if (e)
			return fail(vm, "npt_protect_region/npt_unmap_region (stage 1)", e);
	}
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++)
		for (size_t k = 0; k < sizeof(all_cmds) / sizeof(all_cmds[0]); k++)
			if (s1_probe_model(vm, all_cmds[k], gpa_to_va(base + c * PAGE_SIZE + 0x100 + 16 * k),
					   cases[c].present, cases[c].flags, mix(c * 8 + k)))
				return -1;

	/* A whole 2 MiB leaf read-only and supervisor-only; another gone. */
	e = npt_protect_region(vm->s1, gpa_to_va(huge), SZ_2M, NPT_R | NPT_X);
	if (!e)
		e = npt_unmap_region(vm->s1, gpa_to_va(gone), SZ_2M);
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
			e = npt_unmap_region(vm->s1, va, PAGE_SIZE);
			model[p] = 0;
		} else {
			unsigned f = random_s1_flags(&seed);
			e = model[p] ? npt_protect_region(vm->s1, va, PAGE_SIZE, f)
				     : npt_map(vm->s1, va, area + p * PAGE_SIZE, PAGE_SIZE, f);
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

/* ---- 7. random --------------------------------------------------------------- */

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
			e = npt_protect_region(vm->s1, va, PAGE_SIZE, random_s1_flags(&r->seed));
		break;
	case 1: /* gone */
		if (mapped)
			e = npt_unmap_region(vm->s1, va, PAGE_SIZE);
		break;
	case 2: { /* back, to its own GPA or another */
		uint64_t to = rnd(&r->seed, 2) ? g :
			r->lo + rnd(&r->seed, (r->end - r->lo) / PAGE_SIZE) * PAGE_SIZE;
		if (!mapped)
			e = npt_map(vm->s1, va, to, PAGE_SIZE, random_s1_flags(&r->seed));
		break;
	}
	case 3: { /* a 2 MiB range at once: protect_region refuses (and changes
		   * nothing) unless every page of it is mapped */
		uint64_t gl = align_down(g, SZ_2M);
		if (gl < r->lo || gl + SZ_2M > r->end)
			break;
		e = npt_protect_region(vm->s1, gpa_to_va(gl), SZ_2M, random_s1_flags(&r->seed));
		if (e == NPT_ERR_NOT_MAPPED)
			e = 0;
		break;
	}
	}
	return e ? fail(vm, "random stage-1 change", e) : 0;
}

static int sc_random(struct vm *vm)
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

/* ---- self-tests: the VMM's own failure paths --------------------------------- */

static int sc_hang(struct vm *vm)
{
	watchdog_arm(vm, 300);
	pr(vm, CMD_SPIN, 0, 0, NULL);
	return -1;
}

static int sc_triple(struct vm *vm)
{
	pr(vm, CMD_CRASH, 0, 0, NULL);
	return -1;
}

int sc_hostile(struct vm *vm); /* hostile.c */
int sc_dirty(struct vm *vm);   /* dirty.c */

const struct scenario scenarios[] = {
	{ "identity", "RAM mapped 1:1 with 4 KiB and 2 MiB leaves, one coalesced slot; "
		      "pattern written and read back", sc_identity, 0 },
	{ "holes", "probes into unmapped guest-physical ranges: MMIO exits, reads return poison",
	  sc_holes, 0 },
	{ "demand", "stage 2 starts empty; every first touch exits, the VMM maps a frame",
	  sc_demand, 0 },
	{ "wp", "write-protect RAM, writes exit, make the page writable, retry "
		"(the dirty-tracking cycle)", sc_wp, 0 },
	{ "remap", "pages and 2 MiB leaves move to other frames while the guest runs",
	  sc_remap, 0 },
	{ "stage1", "guest #PF from its own tables: not present, read-only, supervisor-only, "
		    "no-execute", sc_stage1, 0 },
	{ "random", "seeded mix of map/unmap/protect/remap on both stages and random probes",
	  sc_random, 0 },
	{ "hostile", "the guest probes random 64-bit addresses, scribbles over its page tables "
		     "and IDT, runs random code; every outcome counted, stage 2 must hold",
	  sc_hostile, 0 },
	{ "dirty", "migration-style dirty logging: npt_log_* write-protects, the guest writes "
		   "random pages in rounds, harvests must match; then stop, collapse, read back",
	  sc_dirty, 0 },
	{ "hang", "self-test: the guest spins; the watchdog must stop it (exits non-zero)",
	  sc_hang, 1 },
	{ "triple", "self-test: the guest triple-faults (exits non-zero)", sc_triple, 1 },
	{ NULL, NULL, NULL, 0 },
};

const struct scenario *scenario_find(const char *name)
{
	for (const struct scenario *s = scenarios; s->name; s++)
		if (strcmp(s->name, name) == 0)
			return s;
	return NULL;
}
