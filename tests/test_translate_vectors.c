/*
 * npt_translate_2d against the manuals: entries npt wrote, changed by hand
 * into what the walk must judge as the hardware does -- reserved bits and
 * encodings, rights taken away by table entries, access flags, misaligned
 * superpages, EPT misconfigurations, Arm's PTW and FEAT_XNX, the G-stage's
 * U bit. Each vector pokes one entry (stage 1 on the probe's path, or
 * stage 2 on the path of the final guest-physical address or of one
 * stage-1 entry), probes one address, checks the fault, its stage, level
 * and address and the rights reported, and puts the entry back.
 *
 * Stage 1 maps, in every family: P4K, a 4 KiB page R|W|X|U; P2M, a 2 MiB
 * leaf R|W|X; P1G, a 1 GiB leaf R|W|X. Stage 2 maps guest RAM with 4 KiB
 * pages, the stage-1 tables in the first 2 MiB, the data elsewhere.
 */
#include <string.h>

#include "lib/check_main.h"
#include "lib/tutil.h"
#include "lib/twod.h"

#define VA4K 0x1000003000ull
#define VA2M 0x2000200000ull
#define VA1G 0x3000000000ull
#define D4K  (RAM_BASE + 3 * CHUNK + 5 * PG) /* P4K's page */
#define D2M  (RAM_BASE + 2 * CHUNK)          /* P2M's leaf */
#define D1G  RAM_BASE                        /* P1G's leaf */

enum { P4K, P2M, P1G, PBAD }; /* probes */
static const uint64_t probe_va[] = { VA4K + 0x123, VA2M + 0x1040, VA1G + 3 * CHUNK + 0x7008,
				     0x8000000000003000ull };
static const uint64_t probe_gpa[] = { D4K + 0x123, D2M + 0x1040, D1G + 3 * CHUNK + 0x7008, 0 };

enum { NONE, S1, S2_DATA, S2_TABLE }; /* which entry a vector changes */
#define ROOT 9u                        /* the root level of that table */

struct vec {
	const char *what;
	const char *only;  /* stage-2 format name prefix the vector is for, or NULL */
	int where;
	unsigned level;    /* of the entry changed */
	unsigned s1level;  /* S2_TABLE: the stage-1 entry whose read goes through it */
	uint64_t set, clear;
	unsigned probe, access;
	int fault;
	unsigned stage, flevel;
	unsigned has, lacks; /* bits out->flags must have, and lack */
};

#define R NPT_R
#define W NPT_W
#define X NPT_X
#define U NPT_U
#define DEV NPT_DEVICE
#define B(n) (1ull << (n))
#define RSVD NPT_ERR_RESERVED
#define NOMAP NPT_ERR_NOT_MAPPED
#define PERM NPT_ERR_PERM
#define ACC NPT_ERR_ACCESSED

/* Intel SDM vol. 3A Tables 4-14..4-20 (x86_64, x86_64-la57; npt as stage
 * 2), SDM vol. 3C §29.3 (EPT). */
static const struct vec x86_vecs[] = {
	{ "PS in a PML4E is reserved", 0, S1, 3, 0, B(7), 0, P4K, R, RSVD, 1, 3, 0, 0 },
	{ "bit 13 of a 2 MiB leaf is reserved", 0, S1, 1, 0, B(13), 0, P2M, R, RSVD, 1, 1, 0, 0 },
	{ "bit 20 of a 2 MiB leaf is reserved", 0, S1, 1, 0, B(20), 0, P2M, R, RSVD, 1, 1, 0, 0 },
	{ "bit 29 of a 1 GiB leaf is reserved", 0, S1, 2, 0, B(29), 0, P1G, R, RSVD, 1, 2, 0, 0 },
	{ "bit 12 of a 1 GiB leaf is PAT", 0, S1, 2, 0, B(12), 0, P1G, R, 0, 0, 0, R, 0 },
	{ "bit 7 of a PTE is PAT (index 4: WB)", 0, S1, 0, 0, B(7), 0, P4K, R, 0, 0, 0, R, DEV },
	{ "bits 62:52 are ignored", 0, S1, 0, 0, 0x7ffull << 52, 0, P4K, R, 0, 0, 0, R | W, 0 },
	{ "PCD: uncached", 0, S1, 0, 0, B(4), 0, P4K, R, 0, 0, 0, DEV, 0 },
	{ "a PDE without R/W stops supervisor writes (CR0.WP = 1)", 0, S1, 1, 0, 0, B(1), P4K, W,
	  PERM, 1, 0, R, W },
	{ "a PDE without R/W leaves reads", 0, S1, 1, 0, 0, B(1), P4K, R, 0, 0, 0, R, W },
	{ "a PDPTE without U/S shuts user mode out", 0, S1, 2, 0, 0, B(2), P4K, R | U, PERM, 1, 0,
	  0, U | R },
	{ "a PDPTE without U/S leaves supervisor reads", 0, S1, 2, 0, 0, B(2), P4K, R, 0, 0, 0, R,
	  U },
	{ "XD in a PML4E stops fetches", 0, S1, 3, 0, B(63), 0, P4K, X, PERM, 1, 0, R, X },
	{ "supervisor fetch from a user page (SMEP = 0)", 0, NONE, 0, 0, 0, 0, P4K, X, 0, 0, 0,
	  U | X, 0 },
	{ "user read of a supervisor page", 0, NONE, 0, 0, 0, 0, P2M, R | U, PERM, 1, 1, 0, R },
	{ "P = 0 in a PTE", 0, S1, 0, 0, 0, B(0), P4K, R, NOMAP, 1, 0, 0, 0 },
	{ "P = 0 in a PDE, reserved bits or not", 0, S1, 1, 0, B(7) | B(13), B(0), P4K, R, NOMAP,
	  1, 1, 0, 0 },
	{ "a non-canonical address", 0, NONE, 0, 0, 0, 0, PBAD, R, NPT_ERR_RANGE, 1, ROOT, 0, 0 },

	{ "EPT: W without R is a misconfiguration", "ept", S2_DATA, 0, 0, 0, B(0), P4K, R, RSVD,
	  2, 0, 0, 0 },
	{ "EPT: memory type 2 is a misconfiguration", "ept", S2_DATA, 0, 0, 2 << 3, 7 << 3, P4K, R,
	  RSVD, 2, 0, 0, 0 },
	{ "EPT: memory type 7 is a misconfiguration", "ept", S2_DATA, 0, 0, 7 << 3, 0, P4K, R,
	  RSVD, 2, 0, 0, 0 },
	{ "EPT: memory type 0 is UC", "ept", S2_DATA, 0, 0, 0, 7 << 3, P4K, R, 0, 0, 0, DEV, 0 },
	{ "EPT: bit 3 of a table entry is reserved", "ept", S2_DATA, 1, 0, B(3), 0, P4K, R, RSVD,
	  2, 1, 0, 0 },
	{ "EPT: bit 7 of the root entry is reserved", "ept", S2_TABLE, ROOT, ROOT, B(7), 0, P4K, R,
	  RSVD, 2, ROOT, 0, 0 },
	{ "EPT: a table entry without X stops fetches", "ept", S2_DATA, 1, 0, 0, B(2), P4K, X, PERM,
	  2, 0, R, X },
	{ "EPT: execute-only, a read faults", "ept", S2_DATA, 0, 0, 0, B(0) | B(1), P4K, R, PERM, 2,
	  0, X, R },
	{ "EPT: execute-only, a fetch passes", "ept", S2_DATA, 0, 0, 0, B(0) | B(1), P4K, X, 0, 0,
	  0, X, R },
	{ "EPT: R = W = X = 0 is not present", "ept", S2_DATA, 0, 0, 0, 7, P4K, R, NOMAP, 2, 0, 0,
	  R },
	{ "EPT: a read-only stage-1 table faults the walk (it writes A/D)", "ept", S2_TABLE, 0, 0,
	  0, B(1), P4K, R, PERM, 2, 0, 0, 0 },
	{ "EPT: a stage-1 table in UC memory is not readable here", "ept", S2_TABLE, 0, 0, 0,
	  7 << 3, P4K, R, NPT_ERR_UNSUPPORTED, 2, 0, 0, 0 },

	{ "NPT: U/S = 0 in a nested table entry faults every access", "npt", S2_DATA, 1, 0, 0, B(2),
	  P4K, R, PERM, 2, 0, 0, R },
	{ "NPT: R/W = 0 in a nested table entry stops writes", "npt", S2_DATA, 1, 0, 0, B(1), P4K,
	  W, PERM, 2, 0, R, W },
	{ "NPT: NX in a nested PDE stops fetches", "npt", S2_DATA, 1, 0, B(63), 0, P4K, X, PERM, 2,
	  0, R, X },
	{ "NPT: PS in the nested root entry is reserved", "npt", S2_TABLE, ROOT, ROOT, B(7), 0, P4K,
	  R, RSVD, 2, ROOT, 0, 0 },
	{ "NPT: a read-only stage-1 table faults the walk", "npt", S2_TABLE, 0, 0, 0, B(1), P4K, R,
	  PERM, 2, 0, 0, 0 },
	{ "NPT: a stage-1 table in UC memory is not readable here", "npt", S2_TABLE, 0, 0, B(4), 0,
	  P4K, R, NPT_ERR_UNSUPPORTED, 2, 0, 0, 0 },
	{ 0 },
};

/* Arm ARM D8.3 (descriptors), D8.4 (rights, hierarchical control, AF). */
#define AP1 B(6)
#define AP2 B(7)
#define AF B(10)
static const struct vec arm_vecs[] = {
	{ "a block at level 0 is invalid (4 KiB granule)", 0, S1, 3, 0, 0, B(1), P4K, R, NOMAP, 1,
	  3, 0, 0 },
	{ "0b01 at level 3 is invalid", 0, S1, 0, 0, 0, B(1), P4K, R, NOMAP, 1, 0, 0, 0 },
	{ "APTable[0] shuts EL0 out", 0, S1, 1, 0, B(61), 0, P4K, R | U, PERM, 1, 0, 0, U | R },
	{ "APTable[0] leaves EL1 in", 0, S1, 1, 0, B(61), 0, P4K, R, 0, 0, 0, R | W, U },
	{ "APTable[1] stops writes", 0, S1, 2, 0, B(62), 0, P4K, W, PERM, 1, 0, R, W },
	{ "UXNTable stops EL0 fetches", 0, S1, 1, 0, B(60), 0, P4K, X | U, PERM, 1, 0, R, X },
	{ "EL0 fetches its own page", 0, NONE, 0, 0, 0, 0, P4K, X | U, 0, 0, 0, X | U, 0 },
	{ "PXNTable stops EL1 fetches", 0, S1, 2, 0, B(59), 0, P2M, X, PERM, 1, 1, R, X },
	{ "UXNTable leaves EL1 fetches", 0, S1, 2, 0, B(60), 0, P2M, X, 0, 0, 0, X, 0 },
	{ "AF = 0: an Access flag fault", 0, S1, 0, 0, 0, AF, P4K, R, ACC, 1, 0, 0, 0 },
	{ "the Access flag fault comes before the Permission fault", 0, S1, 0, 0, AP2, AF, P4K, W,
	  ACC, 1, 0, 0, W },
	{ "EL1 never executes what EL0 may write", 0, S1, 0, 0, 0, B(53), P4K, X, PERM, 1, 0, U, X },
	{ "... once EL0 may not write, EL1 executes", 0, S1, 0, 0, AP2, B(53), P4K, X, 0, 0, 0, X,
	  W },
	{ "DBM does not make a read-only page writable", 0, S1, 0, 0, B(51) | AP2, 0, P4K, W, PERM,
	  1, 0, R, W },
	{ "AttrIndx 3 is device (MAIR Attr3 = 0x00)", 0, S1, 0, 0, 3 << 2, 7 << 2, P4K, R, 0, 0, 0,
	  DEV, 0 },
	{ "AttrIndx 1 is normal non-cacheable", 0, S1, 0, 0, 1 << 2, 7 << 2, P4K, R, 0, 0, 0, R,
	  DEV },
	{ "VA bits 63:48 neither all 0 nor all 1", 0, NONE, 0, 0, 0, 0, PBAD, R, NPT_ERR_RANGE, 1,
	  ROOT, 0, 0 },

	{ "S2: AF = 0 faults", 0, S2_DATA, 0, 0, 0, AF, P4K, R, ACC, 2, 0, 0, 0 },
	{ "S2: a stage-1 table without S2AP read faults the walk", 0, S2_TABLE, 0, 0, 0, B(6), P4K,
	  R, PERM, 2, 0, 0, 0 },
	{ "S2: a read-only stage-1 table is walked (walks read)", 0, S2_TABLE, 0, 0, 0, B(7), P4K,
	  W, 0, 0, 0, W, 0 },
	{ "S2: XN = 0b01 stops EL1 fetches", 0, S2_DATA, 0, 0, B(53), 0, P2M, X, PERM, 2, 0, R, X },
	{ "S2: XN = 0b01 lets EL0 fetch", 0, S2_DATA, 0, 0, B(53), 0, P4K, X | U, 0, 0, 0, X, 0 },
	{ "S2: XN = 0b11 stops EL0 fetches", 0, S2_DATA, 0, 0, 3ull << 53, 0, P4K, X | U, PERM, 2,
	  0, R, X },
	{ "S2: XN = 0b11 lets EL1 fetch", 0, S2_DATA, 0, 0, 3ull << 53, 0, P2M, X, 0, 0, 0, X, 0 },
	{ "S2: a stage-1 table in Device memory faults (HCR_EL2.PTW)", 0, S2_TABLE, 0, 0, 1 << 2,
	  0xf << 2, P4K, R, PERM, 2, 0, 0, 0 },
	{ "S2: a block at level 0 is invalid", "aarch64-s2-48", S2_TABLE, ROOT, ROOT, 0, B(1), P4K,
	  R, NOMAP, 2, ROOT, 0, 0 },
	{ 0 },
};

/* RISC-V privileged spec §4.3.2 (steps 3-7), §4.4.1, Svpbmt; §8.5.1. */
#define RV_R B(1)
#define RV_W B(2)
#define RV_X B(3)
#define RV_U B(4)
#define RV_A B(6)
#define RV_D B(7)
static const struct vec rv_vecs[] = {
	{ "W without R is reserved", 0, S1, 0, 0, 0, RV_R, P4K, W | U, RSVD, 1, 0, 0, 0 },
	{ "bit 54 is reserved", 0, S1, 0, 0, B(54), 0, P4K, R | U, RSVD, 1, 0, 0, 0 },
	{ "N without Svnapot is reserved", 0, S1, 0, 0, B(63), 0, P4K, R | U, RSVD, 1, 0, 0, 0 },
	{ "PBMT = 3 is reserved", 0, S1, 0, 0, 3ull << 61, 0, P4K, R | U, RSVD, 1, 0, 0, 0 },
	{ "PBMT = 1 (NC) is normal memory", 0, S1, 0, 0, 1ull << 61, 0, P4K, R | U, 0, 0, 0, R,
	  DEV },
	{ "PBMT = 2 (IO) is device", 0, S1, 0, 0, 2ull << 61, 0, P4K, R | U, 0, 0, 0, DEV, 0 },
	{ "A in a pointer is reserved", 0, S1, 1, 0, RV_A, 0, P4K, R | U, RSVD, 1, 1, 0, 0 },
	{ "U in a pointer is reserved", 0, S1, 1, 0, RV_U, 0, P4K, R | U, RSVD, 1, 1, 0, 0 },
	{ "PBMT in a pointer is reserved", 0, S1, 1, 0, 1ull << 61, 0, P4K, R | U, RSVD, 1, 1, 0,
	  0 },
	{ "a pointer at level 0 ends the walk", 0, S1, 0, 0, 0, 0xfe, P4K, R | U, NOMAP, 1, 0, 0,
	  0 },
	{ "a misaligned megapage", 0, S1, 1, 0, B(10), 0, P2M, R, RSVD, 1, 1, 0, 0 },
	{ "the permission check comes before the alignment check", 0, S1, 1, 0, B(10), 0, P2M,
	  R | U, PERM, 1, 1, 0, R },
	{ "A = 0 faults (no Svadu)", 0, S1, 0, 0, 0, RV_A, P4K, R | U, ACC, 1, 0, R, 0 },
	{ "D = 0 faults a store", 0, S1, 0, 0, 0, RV_D, P4K, W | U, ACC, 1, 0, W, 0 },
	{ "D = 0 leaves loads", 0, S1, 0, 0, 0, RV_D, P4K, R | U, 0, 0, 0, R, 0 },
	{ "the permission check comes before A/D", 0, S1, 0, 0, 0, RV_A | RV_W, P4K, W | U, PERM, 1,
	  0, R, W },
	{ "S-mode never loads from a U page (SUM = 0)", 0, NONE, 0, 0, 0, 0, P4K, R, PERM, 1, 0, U,
	  R },
	{ "U-mode never loads from an S page", 0, NONE, 0, 0, 0, 0, P2M, R | U, PERM, 1, 1, 0, R },
	{ "U-mode loads from its page", 0, NONE, 0, 0, 0, 0, P4K, R | U, 0, 0, 0, R | U, 0 },
	{ "a non-canonical address", 0, NONE, 0, 0, 0, 0, PBAD, R, NPT_ERR_RANGE, 1, ROOT, 0, 0 },

	{ "G-stage: a leaf without U faults", 0, S2_DATA, 0, 0, 0, RV_U, P4K, R | U, PERM, 2, 0, 0,
	  R },
	{ "G-stage: A = 0 on a stage-1 table faults the walk", 0, S2_TABLE, 0, 0, 0, RV_A, P4K,
	  R | U, ACC, 2, 0, 0, 0 },
	{ "G-stage: a read-only stage-1 table is walked", 0, S2_TABLE, 0, 0, 0, RV_W, P4K, R | U, 0,
	  0, 0, R, 0 },
	{ "G-stage: W without R is reserved", 0, S2_DATA, 0, 0, 0, RV_R, P4K, R | U, RSVD, 2, 0, 0,
	  0 },
	{ "G-stage: A in a pointer is reserved", 0, S2_DATA, 1, 0, RV_A, 0, P4K, R | U, RSVD, 2, 1,
	  0, 0 },
	{ "G-stage: D = 0 faults a store", 0, S2_DATA, 0, 0, 0, RV_D, P4K, W | U, ACC, 2, 0, 0, 0 },
	{ 0 },
};

static const char *const vpairs[][2] = {
	{ "x86_64", "ept" },     { "x86_64-la57", "ept5" }, { "x86_64", "npt" },
	{ "x86_64-la57", "npt5" }, { "aarch64", "aarch64-s2" }, { "aarch64", "aarch64-s2-48" },
	{ "sv39", "sv39x4" },    { "sv48", "sv48x4" },       { "sv57", "sv57x4" },
};

/* The guest-physical address of the stage-1 entry at level on va's path. */
static uint64_t s1_entry_gpa(struct world *w, uint64_t va, unsigned level)
{
	uint64_t table = npt_root(w->s1);
	unsigned l;

	for (l = w->i1.levels - 1;; l--) {
		unsigned n = l == w->i1.levels - 1 ? w->i1.root_entries : 512;
		uint64_t gpa = table + 8 * ((va >> (12 + 9 * l)) & (n - 1)), pte, pa;
		int leaf;

		if (l == level)
			return gpa;
		pte = *(uint64_t *)w->gmm.phys_to_virt(w, gpa);
		ck_assert_int_eq(npt_decode(w->f1, l, pte, &pa, NULL, &leaf), 0);
		ck_assert_msg(!leaf, "no table below level %u", l);
		table = pa;
	}
}

struct s2path {
	unsigned n;
	uint64_t table[8];
};

static int s2path_visit(const struct npt_visit *v, void *arg)
{
	struct s2path *p = arg;

	if (v->kind == NPT_WALK_TABLE_PRE)
		p->table[p->n++] = v->pa;
	return 0;
}

/* The stage-2 entry at level on gpa's path, in host memory. */
static uint64_t *s2_entry(struct world *w, uint64_t gpa, unsigned level)
{
	const unsigned root = w->i2.levels - 1;
	struct s2path p = { 0 };
	uint64_t table;

	ck_assert_int_eq(npt_walk(w->s2, gpa & ~(PG - 1), PG, NPT_WALK_TABLE_PRE, s2path_visit,
				  &p), 0);
	ck_assert_uint_ge(p.n, root - level);
	table = level == root ? npt_root(w->s2) : p.table[root - level - 1];
	return testmm_va(&w->host, table + 8 * ((gpa >> (12 + 9 * level)) &
					       ((level == root ? w->i2.root_entries : 512) - 1)));
}

static void run_vec(struct world *w, const struct vec *v)
{
	const unsigned root1 = w->i1.levels - 1, root2 = w->i2.levels - 1;
	const uint64_t va = probe_va[v->probe];
	uint64_t *slot = NULL, old = 0, want_addr = va;
	unsigned level = 0, flevel;
	struct npt_2d o;
	int r;

	if (v->where == S1) {
		level = v->level == ROOT ? root1 : v->level;
		slot = w->gmm.phys_to_virt(w, s1_entry_gpa(w, va, level));
	} else if (v->where == S2_DATA) {
		level = v->level == ROOT ? root2 : v->level;
		slot = s2_entry(w, probe_gpa[v->probe], level);
	} else if (v->where == S2_TABLE) {
		uint64_t egpa = s1_entry_gpa(w, va, v->s1level == ROOT ? root1 : v->s1level);

		level = v->level == ROOT ? root2 : v->level;
		slot = s2_entry(w, egpa, level);
		want_addr = egpa;
	}
	if (v->stage == 2 && v->where == S2_DATA)
		want_addr = probe_gpa[v->probe];
	if (slot) {
		old = *slot;
		*slot = (old & ~v->clear) | v->set;
	}
	r = npt_translate_2d(w->f1, npt_root(w->s1), w->s2, va, v->access, &o);
	if (slot)
		*slot = old;
	flevel = v->flevel == ROOT ? (v->stage == 2 ? root2 : root1) : v->flevel;
	ck_assert_msg(r == v->fault && o.fault == v->fault, "%s over %s: %s: fault %d, want %d",
		      w->i1.name, w->i2.name, v->what, o.fault, v->fault);
	if (v->fault) {
		ck_assert_msg(o.fault_stage == v->stage && o.fault_level == flevel &&
				      o.fault_addr == want_addr,
			      "%s over %s: %s: stage %u level %u addr %#llx, want %u %u %#llx",
			      w->i1.name, w->i2.name, v->what, o.fault_stage, o.fault_level,
			      (unsigned long long)o.fault_addr, v->stage, flevel,
			      (unsigned long long)want_addr);
	} else {
		ck_assert_uint_eq(o.gpa, probe_gpa[v->probe]);
		ck_assert_uint_eq(o.hpa, w->hpa_of[(o.gpa - RAM_BASE) / PG] + (o.gpa & (PG - 1)));
		ck_assert_uint_eq(o.page_size, PG);
	}
	ck_assert_msg((o.flags & v->has) == v->has && !(o.flags & v->lacks),
		      "%s over %s: %s: flags %#x, want %#x and not %#x", w->i1.name, w->i2.name,
		      v->what, o.flags, v->has, v->lacks);
}

START_TEST(t_vectors)
{
	const struct vec *v;
	struct world w;
	unsigned n = 0;

	world_init(&w, vpairs[_i][0], vpairs[_i][1], 3, 1);
	ck_assert_int_eq(npt_map(w.s1, VA4K, D4K, PG, R | W | X | U), 0);
	ck_assert_int_eq(npt_map(w.s1, VA2M, D2M, 2 * CHUNK / 2, R | W | X), 0);
	ck_assert_int_eq(npt_map(w.s1, VA1G, D1G, 1ull << 30, R | W | X), 0);
	v = w.fam == FAM_X86 ? x86_vecs : w.fam == FAM_ARM ? arm_vecs : rv_vecs;
	for (; v->what; v++) {
		if (v->only && strncmp(w.i2.name, v->only, strlen(v->only)))
			continue;
		run_vec(&w, v);
		n++;
	}
	ck_assert_uint_gt(n, 15);
	world_fini(&w);
}
END_TEST

static Suite *vectors_suite(void)
{
	Suite *s = suite_create("translate_2d vectors");
	TCase *tc = tcase_create("vectors");

	tcase_add_loop_test(tc, t_vectors, 0, sizeof(vpairs) / sizeof(vpairs[0]));
	suite_add_tcase(s, tc);
	return s;
}

NPT_CHECK_MAIN(vectors_suite)
