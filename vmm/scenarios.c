/*
 * The registry of scenarios (one file each: sc_*.c, hostile.c, dirty.c;
 * what they share is scenario.h), and the two self-tests, which exist to
 * fail.
 */
#include "scenario.h"

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
