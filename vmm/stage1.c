/*
 * The guest's own page tables (stage 1), built by npt in guest RAM.
 *
 * The table is in the `x86_64` format and every frame of it comes from the
 * stage-1 pool, which is guest RAM at GPA_S1POOL: the "physical" address npt
 * writes into an entry is the guest-physical address of the next table, and
 * the VCPU (through KVM) walks exactly the bytes npt wrote. The pool lies in
 * the system part, which stage 2 maps with offset == GPA, so the npt_mm is
 * linear: host address = ram + pa.
 *
 * TLB: npt reports what each change needs invalidated through the flush
 * hook; the VMM cannot flush the guest's TLB itself, so the records are
 * merged here and handed to the guest with its next probe (the stub runs
 * invlpg over the range or reloads CR3 first).
 */
#include <stdio.h>
#include <string.h>

#include "vmm.h"

/* Above this many bytes a flush is a CR3 reload, not a loop of invlpg. */
#define FLUSH_ALL_THRESHOLD (64 * PAGE_SIZE)

static void flush_hook(void *arg, const struct npt_flush *f)
{
	struct vm *vm = arg;
	struct npt_flush *p = &vm->pending;

	if (f->kind == NPT_FLUSH_NONE || p->kind == NPT_FLUSH_ALL)
		return;
	if (f->kind == NPT_FLUSH_ALL) {
		p->kind = NPT_FLUSH_ALL;
		return;
	}
	if (p->kind == NPT_FLUSH_NONE) {
		*p = *f;
		return;
	}
	/* Two ranges: their span, or everything when that grows too large. */
	uint64_t lo = p->va < f->va ? p->va : f->va;
	uint64_t hi = p->va + p->size > f->va + f->size ? p->va + p->size : f->va + f->size;
	if (hi - lo > FLUSH_ALL_THRESHOLD) {
		p->kind = NPT_FLUSH_ALL;
	} else {
		p->va = lo;
		p->size = hi - lo;
	}
}

void s1_take_flush(struct vm *vm, uint64_t *kind, uint64_t *va, uint64_t *pages)
{
	struct npt_flush *p = &vm->pending;

	*kind = FLUSH_NONE;
	*va = 0;
	*pages = 0;
	if (p->kind == NPT_FLUSH_ALL) {
		*kind = FLUSH_ALL;
	} else if (p->kind == NPT_FLUSH_RANGE) {
		uint64_t lo = p->va & ~(PAGE_SIZE - 1);
		uint64_t hi = align_up(p->va + p->size, PAGE_SIZE);

		*kind = FLUSH_RANGE;
		*va = lo;
		*pages = (hi - lo) / PAGE_SIZE;
	}
	memset(p, 0, sizeof(*p));
}

unsigned s1_huge_opts(const struct vm *vm)
{
	/* 1 GiB leaves only where the guest CPUID has them
	 * (0x80000001 EDX[26]); else such an entry faults with RSVD. */
	return NPT_MAP_2M | (vm->has_1g ? NPT_MAP_1G : 0);
}

int s1_map_window(struct vm *vm, uint64_t gpa, uint64_t size, unsigned flags, unsigned opts)
{
	int err = npt_map_region(vm->s1, gpa_to_va(gpa), gpa, size, flags, opts);

	return err ? fail(vm, "npt_map_region (stage 1 window)", err) : 0;
}

int s1_init(struct vm *vm)
{
	const struct npt_format *fmt = npt_format_by_name("x86_64");
	const struct stub *st = &vm->stub;
	struct {
		uint64_t start, end;
		unsigned flags;
		const char *what;
	} part[] = {
		/* The mailbox: supervisor data. */
		{ GPA_MAILBOX, GPA_MAILBOX + PAGE_SIZE, NPT_R | NPT_W, "mailbox" },
		/* The stub's kernel text, its CPL-3 pages, its data and stacks. */
		{ st->load, st->user_start, NPT_R | NPT_X, "stub text" },
		{ st->user_start, st->user_end, NPT_R | NPT_W | NPT_X | NPT_U, "stub user pages" },
		{ st->user_end, st->image_end, NPT_R | NPT_W, "stub data" },
	};
	int err;

	if (!fmt) {
		fprintf(stderr, "vmm: npt has no x86_64 format\n");
		return -1;
	}
	/* The handle in host memory, not in the pool: the pool is guest RAM,
	 * which a guest may overwrite (hostile) */
	vm->s1 = npt_init(vm->s1store, sizeof(vm->s1store), fmt, &vm->s1pool.mm, &err);
	if (!vm->s1)
		return fail(vm, "npt_new (stage 1)", err);
	npt_set_flush_hook(vm->s1, flush_hook, vm, FLUSH_ALL_THRESHOLD);
	for (size_t i = 0; i < sizeof(part) / sizeof(part[0]); i++) {
		if (part[i].end == part[i].start)
			continue;
		/* Identity: the stub runs at the addresses it was linked for. */
		err = npt_map_region(vm->s1, part[i].start, part[i].start,
				     part[i].end - part[i].start, part[i].flags, 0);
		if (err) {
			char what[64];
			snprintf(what, sizeof(what), "npt_map_region (stage 1, %s)", part[i].what);
			return fail(vm, what, err);
		}
	}
	/* Mapping into an empty table needs no flush; start clean anyway. */
	memset(&vm->pending, 0, sizeof(vm->pending));
	return 0;
}
