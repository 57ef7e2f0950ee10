/*
 * What the scenarios share (sc_*.c, hostile.c, dirty.c; the registry is
 * scenarios.c): flag shorthands, the stage-2 changes that keep the memory
 * slots in step, one probe, and RAM patterns a scenario can predict.
 *
 * Each scenario gets a freshly booted VM (system part mapped, the stub
 * waiting in its probe loop), lays out stage 2 and the stage-1 window with
 * npt, and drives probes. check.c cross-checks every probe against the
 * tables; the scenarios add checks of their own that do not go through
 * npt_query at all (what they know they mapped, wrote, or made fault), so a
 * table that reads back wrong is caught too.
 *
 * Stage-2 changes are always followed by slots_sync over the changed range:
 * the table changes first, KVM follows.
 */
#ifndef NPT_VMM_SCENARIO_H
#define NPT_VMM_SCENARIO_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmm.h"

#define RWX (NPT_R | NPT_W | NPT_X)
#define RX (NPT_R | NPT_X)
#define RWXU (RWX | NPT_U)
#define SZ_2M (2 * MIB)
#define SZ_64K (64 * 1024ull)

static inline uint64_t align_down(uint64_t x, uint64_t a)
{
	return x & ~(a - 1);
}

/* Offset in a page for the n-th probe of a page: 8-aligned, with room
 * for an execute probe's 11 bytes of code. */
static inline uint64_t in_page(uint64_t n)
{
	return (n * 8) % (PAGE_SIZE - 16);
}

/* ---- stage-2 changes, each followed by the slot update ------------------------ */

static inline int s2_map(struct vm *vm, uint64_t gpa, uint64_t off, uint64_t size,
			 unsigned flags, unsigned opts)
{
	int e = npt_map_region(vm->s2, gpa, off, size, flags, opts);

	return e ? fail(vm, "npt_map_region (stage 2)", e) : slots_sync(vm, gpa, size);
}

static inline int s2_protect(struct vm *vm, uint64_t gpa, uint64_t size, unsigned flags)
{
	int e = npt_protect_region(vm->s2, gpa, size, flags);

	return e ? fail(vm, "npt_protect_region (stage 2)", e) : slots_sync(vm, gpa, size);
}

static inline int pr(struct vm *vm, unsigned cmd, uint64_t va, uint64_t value, struct probe_out *o)
{
	struct probe p = { .cmd = cmd, .va = va, .value = value };
	struct probe_out tmp;

	return probe(vm, &p, o ? o : &tmp);
}

/* Fill RAM frames with a pattern the scenario can predict: tag(offset). */
static inline uint64_t tag(uint64_t off)
{
	return 0xc0ffee0000000000ull ^ off;
}

static inline void fill_tags(struct vm *vm, uint64_t off, uint64_t size)
{
	for (uint64_t a = off; a < off + size; a += 8) {
		uint64_t v = tag(a);
		memcpy(vm->ram + a, &v, 8);
	}
}

/* Stage-1 flags a random change may set: present means readable on x86. */
static inline unsigned random_s1_flags(uint64_t *seed)
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

/* The scenarios, one file each. */
int sc_identity(struct vm *vm);
int sc_holes(struct vm *vm);
int sc_demand(struct vm *vm);
int sc_wp(struct vm *vm);
int sc_remap(struct vm *vm);
int sc_stage1(struct vm *vm);
int sc_random(struct vm *vm);
int sc_hostile(struct vm *vm);
int sc_dirty(struct vm *vm);

#endif
