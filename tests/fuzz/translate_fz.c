/*
 * npt_translate_2d on stage-1 tables the input writes: the libFuzzer target
 * tests/fuzz/fuzz_translate.c and the corpus replay in tests/test_translate.c
 * share this.
 *
 * One input: byte 0 picks the stage-1 / stage-2 pair, byte 1 the page of
 * the stage-1 root; then records, each an opcode byte and its operands:
 *  - 'w' page, slot (2 bytes), value (8): a raw 64-bit entry;
 *  - 'p' page, slot (2), target page, low bits (2), high byte: an entry
 *    pointing at a guest page, with whatever attribute bits the input
 *    gives (pointers are what a walk follows, and hard to guess);
 *  - 't' va (8), access (1): one translation, checked.
 * Guest RAM is 16 pages at guest-physical FZ_GPA: stage 2 maps pages 0-11
 * R|W|X, 12 read-only, 13 not at all, 14 as device memory, 15 execute-only
 * where the format has it; pages 16-31 are guest-physical addresses of a
 * 2 MiB stage-2 leaf over the same host pages (aliases); the MMIO window
 * is device memory.
 *
 * Each probe also walks, through npt_translate_raw, the same tables (the
 * result must be npt_translate_2d's), and guest RAM alone as physical
 * memory: the stage-1 table with one stage, the stage-2 format's table
 * with one stage (whatever the input wrote where its root would be), and
 * both, stage 2 rooted in guest RAM too.
 *
 * A translation must: return its fault; fault only with the codes
 * npt_translate_2d documents, at a stage and level that exist; make no
 * more references than the two walks' depths allow, in the hardware's
 * order; read stage-1 entries only from pages stage 2 maps readable as
 * normal memory (translated back with npt_query); report va at stage 1;
 * when it succeeds, land where npt_query of stage 2 says the gpa goes,
 * with the access's rights; and give the same answer twice.
 */
#include <stdio.h>
#include <string.h>

#include "npt.h"
#include "testmm.h"
#include "translate_fz.h"

#define FZ_GPA    0x200000ull   /* guest RAM: 16 pages */
#define FZ_ALIAS  0x400000ull   /* a 2 MiB stage-2 leaf over host pages 0-511 */
#define FZ_MMIO   0xfee00000ull
#define FZ_PAGES  16u
#define FZ_PG     4096ull

static const char *const fz_pairs[][2] = {
	{ "x86_64", "ept" },     { "x86_64-la57", "ept5" }, { "x86_64", "npt" },
	{ "x86_64-la57", "npt5" }, { "aarch64", "aarch64-s2" }, { "aarch64", "aarch64-s2-48" },
	{ "sv39", "sv39x4" },    { "sv48", "sv48x4" },       { "sv57", "sv57x4" },
	{ "x86_64", "aarch64-s2" }, /* refused: families differ */
	{ "loongarch64", "npt" },   /* refused: no model */
};
#define FZ_NPAIRS (sizeof(fz_pairs) / sizeof(fz_pairs[0])) /* the last 2 are refused */

static struct testmm fz_host;
static uint64_t fz_ram;        /* host frames behind guest RAM: 512 contiguous, 2 MiB aligned */
static int fz_ready;

static int fz_fail(char *msg, size_t len, const char *pair1, const char *pair2, uint64_t va,
		   unsigned access, const char *what, const struct npt_2d *o)
{
	snprintf(msg, len, "%s over %s, va %#llx access %#x: %s (fault %d stage %u level %u addr %#llx nrefs %u)",
		 pair1, pair2, (unsigned long long)va, access, what, o->fault, o->fault_stage,
		 o->fault_level, (unsigned long long)o->fault_addr, o->nrefs);
	return -1;
}

uint64_t fz_get(const uint8_t **p, const uint8_t *end, unsigned n)
{
	uint64_t v = 0;
	unsigned i;

	for (i = 0; i < n && *p < end; i++)
		v |= (uint64_t)*(*p)++ << (8 * i);
	return v;
}

void fz_entry_record(const uint8_t **p, const uint8_t *end, int op, uint64_t *mem,
		     unsigned pages, uint64_t base, unsigned ntargets, int riscv)
{
	const unsigned page = (unsigned)fz_get(p, end, 1) % pages;
	const unsigned slot = (unsigned)fz_get(p, end, 2) % 512;
	uint64_t v;

	if (op == 'p') {
		const uint64_t target = base + (fz_get(p, end, 1) % ntargets) * 4096;

		v = fz_get(p, end, 2) & 0xfff;
		v |= fz_get(p, end, 1) << 56;
		v |= riscv ? (target >> 12) << 10 : target;
	} else {
		v = fz_get(p, end, 8);
	}
	mem[page * 512 + slot] = v;
}

static void *host_virt(void *ctx, uint64_t pa)
{
	return testmm_va(ctx, pa);
}

/* Guest RAM as physical memory of its own, for the walks over tables the
 * input wrote entirely: pages 0-15 at FZ_GPA, nothing else. */
static void *ram_virt(void *ctx, uint64_t pa)
{
	(void)ctx;
	if (pa < FZ_GPA || pa >= FZ_GPA + FZ_PAGES * FZ_PG)
		return NULL;
	return (char *)testmm_va(&fz_host, fz_ram) + (pa - FZ_GPA);
}

/* npt_translate_raw where the input wrote every table: one stage (the
 * stage-1 table alone, and the stage-2 format's table alone), and two
 * stages with a stage 2 of the input's. Nothing to compare with; the walk
 * must end, fault only as documented, and reference only memory it has. */
static int fz_raw(const struct npt_format *f1, const struct npt_format *f2, uint64_t root,
		  uint64_t root2, uint64_t va, unsigned access, const char *n1, const char *n2,
		  char *msg, size_t len)
{
	const struct npt_mm ram = { .phys_to_virt = ram_virt };
	const struct npt_format *one[2] = { f1, f2 };
	struct npt_2d o;
	unsigned i, k;
	int r;

	for (i = 0; i < 3; i++) {
		r = i < 2 ? npt_translate_raw(one[i], root, NULL, 0, &ram, va, access, &o)
			  : npt_translate_raw(f1, root, f2, root2, &ram, va, access, &o);
		if (r != o.fault)
			return fz_fail(msg, len, n1, n2, va, access, "raw: return is not the fault", &o);
		if (r && r != NPT_ERR_NOT_MAPPED && r != NPT_ERR_RESERVED && r != NPT_ERR_PERM &&
		    r != NPT_ERR_ACCESSED && r != NPT_ERR_RANGE && r != NPT_ERR_UNSUPPORTED &&
		    r != NPT_ERR_INVAL)
			return fz_fail(msg, len, n1, n2, va, access, "raw: a fault not documented", &o);
		if (o.nrefs > 35 || (i < 2 && o.nrefs > 5))
			return fz_fail(msg, len, n1, n2, va, access, "raw: too many references", &o);
		for (k = 0; k < o.nrefs; k++) {
			int last = k + 1 == o.nrefs && r == NPT_ERR_UNSUPPORTED;
			int one_stage = i < 2 || o.refs[k].stage == 2;

			/* one-stage and stage-2 references are physical: inside
			 * guest RAM, but for an entry it could not read */
			if (one_stage && !last && !ram_virt(NULL, o.refs[k].addr))
				return fz_fail(msg, len, n1, n2, va, access, "raw: read outside memory", &o);
		}
	}
	return 0;
}

static int same(const struct npt_2d *a, const struct npt_2d *b)
{
	unsigned k;

	if (a->gpa != b->gpa || a->hpa != b->hpa || a->page_size != b->page_size ||
	    a->flags != b->flags || a->fault != b->fault || a->fault_stage != b->fault_stage ||
	    a->fault_level != b->fault_level || a->fault_addr != b->fault_addr ||
	    a->nrefs != b->nrefs)
		return 0;
	for (k = 0; k < a->nrefs; k++)
		if (a->refs[k].stage != b->refs[k].stage || a->refs[k].level != b->refs[k].level ||
		    a->refs[k].addr != b->refs[k].addr)
			return 0;
	return 1;
}

static int fz_check(const struct npt_format *f1, const struct npt_table *s2, uint64_t root,
		    uint64_t va, unsigned access, int refuse, const char *n1, const char *n2,
		    char *msg, size_t len)
{
	struct npt_format_info i1, i2;
	struct npt_2d o, again;
	unsigned k, l1, max;
	int r = npt_translate_2d(f1, root, s2, va, access, &o);

	npt_format_info(f1, &i1);
	npt_format_info(npt_table_format(s2), &i2);
	if (r != o.fault)
		return fz_fail(msg, len, n1, n2, va, access, "return is not out->fault", &o);
	if (npt_translate_2d(f1, root, s2, va, access, &again) != r || !same(&o, &again))
		return fz_fail(msg, len, n1, n2, va, access, "a second walk differs", &o);
	{
		const struct npt_mm host = { .ctx = &fz_host, .phys_to_virt = host_virt };

		if (npt_translate_raw(f1, root, npt_table_format(s2), npt_root(s2), &host, va, access,
				      &again) != r ||
		    !same(&o, &again))
			return fz_fail(msg, len, n1, n2, va, access, "npt_translate_raw differs", &o);
	}
	if (r == NPT_ERR_INVAL) {
		if (o.fault_stage || o.nrefs)
			return fz_fail(msg, len, n1, n2, va, access, "refused with a walk", &o);
		return 0;
	}
	if (refuse)
		return fz_fail(msg, len, n1, n2, va, access, "walked a pair it must refuse", &o);
	if (r && r != NPT_ERR_NOT_MAPPED && r != NPT_ERR_RESERVED && r != NPT_ERR_PERM &&
	    r != NPT_ERR_ACCESSED && r != NPT_ERR_RANGE && r != NPT_ERR_UNSUPPORTED)
		return fz_fail(msg, len, n1, n2, va, access, "a fault code not documented", &o);
	if (r && (o.fault_stage < 1 || o.fault_stage > 2 ||
		  o.fault_level >= (o.fault_stage == 1 ? i1.levels : i2.levels)))
		return fz_fail(msg, len, n1, n2, va, access, "no such stage or level", &o);
	if (r && o.fault_stage == 1 && o.fault_addr != va)
		return fz_fail(msg, len, n1, n2, va, access, "stage 1 reports another address", &o);
	max = i1.levels * (i2.levels + 1) + i2.levels;
	if (o.nrefs > max || o.nrefs > NPT_2D_MAX_REFS)
		return fz_fail(msg, len, n1, n2, va, access, "too many references", &o);
	/* the order: stage-2 levels down from the root, then one stage-1
	 * entry one level below the one before */
	for (k = 0, l1 = i1.levels; k < o.nrefs; k++) {
		const struct npt_2d_ref *x = &o.refs[k];

		if (x->stage == 1) {
			uint64_t hpa;
			unsigned fl;

			if (x->level + 1 != l1)
				return fz_fail(msg, len, n1, n2, va, access, "stage-1 levels out of order", &o);
			l1 = x->level;
			if (npt_query(s2, x->addr, &hpa, &fl, NULL) || !(fl & NPT_R) || (fl & NPT_DEVICE))
				return fz_fail(msg, len, n1, n2, va, access,
					       "read a stage-1 entry stage 2 does not let it read", &o);
			if (k == 0 || o.refs[k - 1].stage != 2)
				return fz_fail(msg, len, n1, n2, va, access, "a stage-1 read without stage 2", &o);
		} else if (x->stage == 2) {
			if (x->level >= i2.levels ||
			    (k && o.refs[k - 1].stage == 2 && o.refs[k - 1].level != x->level + 1) ||
			    ((!k || o.refs[k - 1].stage == 1) && x->level != i2.levels - 1))
				return fz_fail(msg, len, n1, n2, va, access, "stage-2 levels out of order", &o);
		} else {
			return fz_fail(msg, len, n1, n2, va, access, "a reference of no stage", &o);
		}
	}
	if (!r) {
		uint64_t hpa = 0, size = 0;
		unsigned fl = 0;

		if (npt_query(s2, o.gpa, &hpa, &fl, &size) || hpa != o.hpa)
			return fz_fail(msg, len, n1, n2, va, access, "hpa is not stage 2's", &o);
		if ((access & (NPT_R | NPT_W | NPT_X)) & ~o.flags)
			return fz_fail(msg, len, n1, n2, va, access, "allowed without the rights", &o);
		if (access & (NPT_R | NPT_W | NPT_X) & ~fl)
			return fz_fail(msg, len, n1, n2, va, access, "stage 2 does not allow it", &o);
		if (!o.page_size || o.page_size > size || (o.page_size & (o.page_size - 1)) ||
		    o.page_size > (1ull << (12 + 9 * l1)))
			return fz_fail(msg, len, n1, n2, va, access, "page size", &o);
	}
	return 0;
}

static int fz_setup(void)
{
	if (fz_ready)
		return 0;
	if (testmm_init(&fz_host, 0x80000000ull, 1024))
		return -1;
	if (fz_host.mm.alloc_contig(fz_host.mm.ctx, 512, &fz_ram))
		return -1;
	fz_ready = 1;
	return 0;
}

int fzt_run(const uint8_t *data, size_t size, char *msg, size_t len)
{
	const uint8_t *p = data, *end = data + size;
	const struct npt_format *f1, *f2;
	const char *n1, *n2;
	struct npt_table *s2;
	uint64_t root;
	unsigned i, probes = 0;
	int err, rc = 0;

	if (size < 2)
		return 0;
	if (fz_setup()) {
		snprintf(msg, len, "setup failed");
		return -1;
	}
	n1 = fz_pairs[data[0] % FZ_NPAIRS][0];
	n2 = fz_pairs[data[0] % FZ_NPAIRS][1];
	f1 = npt_format_by_name(n1);
	f2 = npt_format_by_name(n2);
	root = FZ_GPA + (data[1] % FZ_PAGES) * FZ_PG + (data[1] / FZ_PAGES) * 8;
	p += 2;
	memset(testmm_va(&fz_host, fz_ram), 0, FZ_PAGES * FZ_PG);
	s2 = npt_new(f2, &fz_host.mm, &err);
	if (!s2) {
		snprintf(msg, len, "npt_new(%s): %d", n2, err);
		return -1;
	}
	for (i = 0; i < FZ_PAGES; i++) {
		/* page 15 execute-only where the format has it, else R|X */
		unsigned fl = i < 12 ? NPT_R | NPT_W | NPT_X : i == 12 ? NPT_R | NPT_X :
			      i == 14 ? NPT_R | NPT_W | NPT_DEVICE : NPT_X;
		uint64_t gpa = FZ_GPA + i * FZ_PG, hpa = fz_ram + i * FZ_PG;

		if (i != 13 && npt_map(s2, gpa, hpa, FZ_PG, fl) &&
		    npt_map(s2, gpa, hpa, FZ_PG, NPT_R | NPT_X)) {
			snprintf(msg, len, "%s: map page %u", n2, i);
			rc = -1;
			goto out;
		}
	}
	if (npt_map_region(s2, FZ_ALIAS, fz_ram, 2ull << 20, NPT_R | NPT_W | NPT_X, NPT_MAP_2M) ||
	    npt_map_region(s2, FZ_MMIO, FZ_MMIO, 16 * FZ_PG, NPT_R | NPT_W | NPT_DEVICE, 0)) {
		snprintf(msg, len, "%s: map the alias and the window", n2);
		rc = -1;
		goto out;
	}
	while (p < end && probes < 64) {
		uint8_t op = *p++;
		uint64_t *ram = testmm_va(&fz_host, fz_ram);

		if (op == 'w' || op == 'p') {
			fz_entry_record(&p, end, op, ram, FZ_PAGES, FZ_GPA, 2 * FZ_PAGES,
					!strncmp(n1, "sv", 2));
		} else if (op == 't') {
			uint64_t va = fz_get(&p, end, 8);
			unsigned access = (unsigned)fz_get(&p, end, 1);

			probes++;
			if (fz_check(f1, s2, root, va, access & 0x3f, data[0] % FZ_NPAIRS >= 9, n1,
				     n2, msg, len) ||
			    fz_raw(f1, f2, root, FZ_GPA + (access >> 6) * 4 * FZ_PG, va, access & 0x3f,
				   n1, n2, msg, len)) {
				rc = -1;
				goto out;
			}
		}
	}
out:
	npt_free(s2);
	if (!rc && testmm_live(&fz_host) != 512) {
		snprintf(msg, len, "%s: %zu frames live after npt_free, want 512", n2,
			 testmm_live(&fz_host));
		rc = -1;
	}
	return rc;
}
