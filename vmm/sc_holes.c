/*
 * The holes scenario (vmm run holes): probes into unmapped guest-physical
 * ranges: MMIO exits, reads return poison.
 */
#include "scenario.h"

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

int sc_holes(struct vm *vm)
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
