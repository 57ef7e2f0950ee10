/*
 * The guest's own page tables (stage 1): the guest builds them, with npt.
 *
 * The stub links npt freestanding (guest/x86/kernel.c) and builds and
 * changes its tables itself, as an OS kernel would, flushing its own TLB
 * from npt's flush records. The VMM only asks, through the mailbox
 * (CMD_S1), and applies every call to a model of its own first: vm->s1, in
 * host memory, whose frames have the guest's frame addresses (the pool
 * [GPA_S1POOL, + layout_s1pool_frames) as "physical" addresses) and come
 * out of the same first-fit choices. So the model is the guest's table
 * byte for byte, up to the accessed and dirty flags the CPU sets: check.c
 * predicts every probe from it, and s1_verify compares the two.
 *
 * The stub starts on a boot table the VMM builds in guest RAM (the frames
 * after the pool, as a boot loader does), which maps the system part it
 * needs 1:1; s1_takeover then has the guest build the same map in its own
 * table and load CR3 with it.
 */
#include <stdio.h>
#include <string.h>

#include "vmm.h"

/* The system part at the addresses the stub was linked for, plus the pool
 * the guest's npt takes its frames from, which it reaches 1:1. */
struct part {
	uint64_t start, end;
	unsigned flags;
	const char *what;
};

static unsigned system_parts(const struct vm *vm, struct part *p)
{
	const struct stub *st = &vm->stub;
	const struct part parts[] = {
		/* The mailbox: supervisor data. */
		{ GPA_MAILBOX, GPA_MAILBOX + PAGE_SIZE, NPT_R | NPT_W, "mailbox" },
		/* The stub's kernel text, its CPL-3 pages, its data and stacks. */
		{ st->load, st->user_start, NPT_R | NPT_X, "stub text" },
		{ st->user_start, st->user_end, NPT_R | NPT_W | NPT_X | NPT_U, "stub user pages" },
		{ st->user_end, st->image_end, NPT_R | NPT_W, "stub data" },
		{ GPA_S1POOL, GPA_S1POOL + vm->s1pool.fr.frames * PAGE_SIZE, NPT_R | NPT_W,
		  "stage-1 pool" },
	};
	unsigned n = 0;

	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
		if (parts[i].end > parts[i].start)
			p[n++] = parts[i];
	return n;
}

unsigned s1_huge_opts(const struct vm *vm)
{
	/* 1 GiB leaves only where the guest CPUID has them
	 * (0x80000001 EDX[26]); else such an entry faults with RSVD. */
	return NPT_MAP_2M | (vm->has_1g ? NPT_MAP_1G : 0);
}

/* ---- the boot table ----------------------------------------------------------- */

/* The system part into the boot table, or (own) through the guest into its
 * own table and the model. */
static int map_system(struct vm *vm, int own)
{
	struct part p[8];
	unsigned n = system_parts(vm, p);

	for (unsigned i = 0; i < n; i++) {
		uint64_t size = p[i].end - p[i].start;
		int err = own ? s1_map_region(vm, p[i].start, p[i].start, size, p[i].flags, NPT_MAP_2M)
			      : npt_map_region(vm->s1boot, p[i].start, p[i].start, size, p[i].flags,
					       NPT_MAP_2M);

		if (err) {
			char what[64];
			snprintf(what, sizeof(what), "npt_map_region (%s, %s)",
				 own ? "stage 1" : "boot table", p[i].what);
			return fail(vm, what, err);
		}
	}
	return 0;
}

int s1_init(struct vm *vm)
{
	const struct npt_format *fmt = npt_format_by_name("x86_64");
	int err;

	if (!fmt) {
		fprintf(stderr, "vmm: npt has no x86_64 format\n");
		return -1;
	}
	vm->s1fmt = fmt;
	vm->s1boot = npt_new(fmt, &vm->bootpool.mm, &err);
	if (!vm->s1boot)
		return fail(vm, "npt_new (stage-1 boot table)", err);
	return map_system(vm, 0);
}

/* ---- asking the guest ------------------------------------------------------------ */

/* One CMD_S1 round: the guest runs op and reports; its value, or -1 after
 * a report when it did not come back as it should. */
static int s1_remote(struct vm *vm, uint64_t op, uint64_t va, uint64_t pa, uint64_t size,
		     unsigned flags, unsigned opts, int64_t *value)
{
	volatile uint64_t *mb = (volatile uint64_t *)(vm->ram + GPA_MAILBOX);
	int x;

	mb[MB_CMD / 8] = CMD_S1;
	mb[MB_S1_OP / 8] = op;
	mb[MB_S1_VA / 8] = va;
	mb[MB_S1_PA / 8] = pa;
	mb[MB_S1_SIZE / 8] = size;
	mb[MB_S1_FLAGS / 8] = flags;
	mb[MB_S1_OPTS / 8] = opts;
	mb[MB_FLUSH / 8] = FLUSH_NONE;
	mb[MB_STATUS / 8] = ST_NONE;
	vm->last = (struct probe){ .cmd = CMD_S1, .va = va, .value = op };
	vm->have_last = 1;
	x = vm_run(vm);
	if (x < 0)
		return -1;
	if (x != KVM_EXIT_IO || vm->run->io.port != MB_PORT)
		return vm_unexpected_exit(vm, x);
	if (mb[MB_STATUS / 8] != ST_OK) {
		fprintf(stderr, "vmm: %s: the guest's npt call %llu at va %#llx ended in exception "
			"%llu at RIP %#llx\n", vm->scenario, (unsigned long long)op,
			(unsigned long long)va, (unsigned long long)mb[MB_VECTOR / 8],
			(unsigned long long)mb[MB_FAULT_RIP / 8]);
		return -1;
	}
	*value = (int64_t)mb[MB_RESULT / 8];
	vm->c.s1_calls++;
	return 0;
}

static const char *const op_name[] = {
	[S1_MAP] = "npt_map", [S1_MAP_REGION] = "npt_map_region",
	[S1_UNMAP_REGION] = "npt_unmap_region", [S1_PROTECT_REGION] = "npt_protect_region",
};

/* op on the model, then in the guest: the model's result, or a negative
 * value below every NPT_ERR_* (S1_BROKEN) when the guest could not be
 * asked (reported). The two must agree; a difference is a mismatch. */
static int s1_call(struct vm *vm, unsigned op, uint64_t va, uint64_t pa, uint64_t size,
		   unsigned flags, unsigned opts)
{
	int64_t guest;
	int e;

	switch (op) {
	case S1_MAP: e = npt_map(vm->s1, va, pa, size, flags); break;
	case S1_MAP_REGION: e = npt_map_region(vm->s1, va, pa, size, flags, opts); break;
	case S1_UNMAP_REGION: e = npt_unmap_region(vm->s1, va, size); break;
	default: e = npt_protect_region(vm->s1, va, size, flags); break;
	}
	if (s1_remote(vm, op, va, pa, size, flags, opts, &guest) < 0)
		return S1_BROKEN;
	if (guest != e)
		mismatch(vm, "%s(va %#llx, pa %#llx, size %#llx, flags %#x): the VMM's model "
			 "returns %d, the guest's npt %lld", op_name[op], (unsigned long long)va,
			 (unsigned long long)pa, (unsigned long long)size, flags, e,
			 (long long)guest);
	return e;
}

int s1_map(struct vm *vm, uint64_t va, uint64_t gpa, uint64_t size, unsigned flags)
{
	return s1_call(vm, S1_MAP, va, gpa, size, flags, 0);
}

int s1_map_region(struct vm *vm, uint64_t va, uint64_t gpa, uint64_t size, unsigned flags,
		  unsigned opts)
{
	return s1_call(vm, S1_MAP_REGION, va, gpa, size, flags, opts);
}

int s1_unmap_region(struct vm *vm, uint64_t va, uint64_t size)
{
	return s1_call(vm, S1_UNMAP_REGION, va, 0, size, 0, 0);
}

int s1_protect_region(struct vm *vm, uint64_t va, uint64_t size, unsigned flags)
{
	return s1_call(vm, S1_PROTECT_REGION, va, 0, size, flags, 0);
}

int s1_map_window(struct vm *vm, uint64_t gpa, uint64_t size, unsigned flags, unsigned opts)
{
	int err = s1_map_region(vm, gpa_to_va(gpa), gpa, size, flags, opts);

	return err ? fail(vm, "npt_map_region (stage 1 window)", err) : 0;
}

/* ---- the guest takes over ------------------------------------------------------- */

int s1_takeover(struct vm *vm)
{
	uint64_t pool = vm->s1pool.fr.frames * PAGE_SIZE;
	int64_t root, cr3;
	int err;

	/* The model: the handle and its frames in host memory, never in guest
	 * RAM, which a guest may overwrite (hostile). */
	vm->s1 = npt_init(vm->s1store, sizeof(vm->s1store), vm->s1fmt, &vm->s1pool.mm, &err);
	if (!vm->s1)
		return fail(vm, "npt_init (stage-1 model)", err);
	if (s1_remote(vm, S1_INIT, 0, GPA_S1POOL, pool, 0, 0, &root) < 0)
		return -1;
	if (root < 0)
		return fail(vm, "npt_init (in the guest)", (int)root);
	if ((uint64_t)root != npt_x86_cr3(vm->s1))
		mismatch(vm, "the guest's stage-1 root is at %#llx, the model's at %#llx",
			 (unsigned long long)root, (unsigned long long)npt_x86_cr3(vm->s1));
	if (map_system(vm, 1) < 0)
		return -1;
	if (s1_remote(vm, S1_LOAD, 0, 0, 0, 0, 0, &cr3) < 0)
		return -1;
	if ((uint64_t)cr3 != npt_x86_cr3(vm->s1))
		mismatch(vm, "the guest runs on CR3 %#llx, its table's root is %#llx",
			 (unsigned long long)cr3, (unsigned long long)npt_x86_cr3(vm->s1));
	/* The boot table is done with: its frames go back to the pool. */
	npt_free(vm->s1boot);
	vm->s1boot = NULL;
	return 0;
}

/* The guest's table against the model, page by page over every address
 * the scenarios use (the system part 1:1 and the window): the same
 * translation and the same rights, read from the guest's memory as KVM
 * reads it (walkers.c). The frames themselves may differ: npt keeps the
 * accessed and dirty flags the CPU sets in the guest's entries, and a
 * later call may then split or merge there otherwise than in the model. */
int s1_verify(struct vm *vm)
{
	const uint64_t rights = NPT_R | NPT_W | NPT_X | NPT_U;
	struct {
		uint64_t va, end;
	} span[] = { { GPA_MAILBOX, vm->sys_end },
		     { gpa_to_va(vm->sys_end), gpa_to_va(vm->gpa_end) } };
	uint64_t differ = 0, first = 0, cr3 = npt_x86_cr3(vm->s1);

	for (size_t i = 0; i < sizeof(span) / sizeof(span[0]); i++) {
		for (uint64_t va = span[i].va; va < span[i].end; va += PAGE_SIZE) {
			uint64_t gpa = 0;
			unsigned f = 0;
			struct npt_2d d;
			int q = npt_query(vm->s1, va, &gpa, &f, NULL);

			if (q && q != NPT_ERR_NOT_MAPPED)
				return fail(vm, "npt_query (stage-1 model)", q);
			if (walkers_s1_walk(vm, cr3, va, &d) < 0)
				return -1;
			if (q ? d.fault != NPT_ERR_NOT_MAPPED :
				d.fault || d.gpa != gpa || (d.flags & rights) != (f & rights)) {
				if (!differ++)
					first = va;
			}
		}
	}
	if (differ)
		mismatch(vm, "the guest's stage-1 table and the VMM's model disagree on %llu "
			 "pages, the first at va %#llx", (unsigned long long)differ,
			 (unsigned long long)first);
	return 0;
}
