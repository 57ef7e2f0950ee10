/*
 * The stage-2 table realised as KVM memory slots.
 *
 * The npt stage-2 table is the source of truth; KVM only ever sees slots.
 * A slot is a run of leaves contiguous in both spaces (guest-physical and
 * RAM offset) with equal flags: walking the table with npt_walk and
 * coalescing gives the slot set, whatever the format and leaf sizes. A run
 * without NPT_W becomes a KVM_MEM_READONLY slot (reads hit memory, writes
 * exit as MMIO); a hole has no slot (every access exits as MMIO).
 *
 * KVM slots know only "read-write" and "read-only", so a leaf without NPT_R
 * or NPT_X is refused rather than silently given more rights than the table
 * says; the scenarios never create one.
 *
 * After a change to [gpa, gpa + size) only the slots that differ are
 * touched: the range is widened to the old slots it overlaps or touches
 * (a run can only grow or split there: everywhere else the table is as
 * before, so the runs are too), re-walked, and old and new runs compared.
 * KVM cannot resize a slot in place or change its flags, so "differs" means
 * delete + create; deletions go first because old and new slots overlap.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "vmm.h"

/* The flags KVM can tell apart, plus the rest of what the table says: two
 * leaves differing only in hardware-maintained A/D still form one slot. */
#define SLOT_FLAGS (NPT_R | NPT_W | NPT_X | NPT_DEVICE | NPT_U | NPT_G)

struct runs {
	struct vm *vm;
	struct slot *v;
	size_t n, cap;
	uint64_t lo, hi; /* clip leaves to [lo, hi) */
	int err;
};

static int push(struct runs *r, uint64_t gpa, uint64_t size, uint64_t off, unsigned flags)
{
	if (r->n == r->cap) {
		size_t cap = r->cap ? 2 * r->cap : 16;
		struct slot *v = realloc(r->v, cap * sizeof(*v));

		if (!v)
			return -1;
		r->v = v;
		r->cap = cap;
	}
	r->v[r->n++] = (struct slot){ .gpa = gpa, .size = size, .off = off, .flags = flags };
	return 0;
}

static int visit_leaf(const struct npt_visit *v, void *arg)
{
	struct runs *r = arg;
	struct vm *vm = r->vm;
	uint64_t gpa = v->va, off = v->pa, size = v->size;
	unsigned flags = v->flags & SLOT_FLAGS;
	struct slot *last = r->n ? &r->v[r->n - 1] : NULL;

	/* A huge leaf may stick out of the range being re-synced. */
	if (gpa < r->lo) {
		off += r->lo - gpa;
		size -= r->lo - gpa;
		gpa = r->lo;
	}
	if (gpa + size > r->hi)
		size = r->hi - gpa;

	if ((flags & (NPT_R | NPT_X)) != (NPT_R | NPT_X)) {
		fprintf(stderr, "vmm: %s: stage-2 leaf at GPA %#llx lacks %s: a KVM memory slot "
			"cannot express that\n", vm->scenario, (unsigned long long)v->va,
			(flags & NPT_R) ? "NPT_X" : "NPT_R");
		r->err = -1;
		return 1;
	}
	if (off + size > vm->mem || off + size < off) {
		fprintf(stderr, "vmm: %s: stage-2 leaf at GPA %#llx maps offset %#llx + %#llx, "
			"outside the %llu MiB of guest RAM\n", vm->scenario,
			(unsigned long long)v->va, (unsigned long long)v->pa,
			(unsigned long long)v->size, (unsigned long long)(vm->mem / MIB));
		r->err = -1;
		return 1;
	}
	if (last && last->gpa + last->size == gpa && last->off + last->size == off &&
	    last->flags == flags) {
		last->size += size;
		return 0;
	}
	if (push(r, gpa, size, off, flags) < 0) {
		r->err = -1;
		return 1;
	}
	return 0;
}

/* The runs of [lo, hi) as the table says now. */
static int collect(struct vm *vm, uint64_t lo, uint64_t hi, struct runs *r)
{
	int e;

	memset(r, 0, sizeof(*r));
	r->vm = vm;
	r->lo = lo;
	r->hi = hi;
	e = npt_walk(vm->s2, lo, hi - lo, NPT_WALK_LEAF, visit_leaf, r);
	if (r->err || e) {
		if (!r->err)
			fail(vm, "npt_walk (stage 2)", e);
		free(r->v);
		r->v = NULL;
		return -1;
	}
	return 0;
}

static int set_region(struct vm *vm, const struct slot *s, uint64_t size)
{
	struct kvm_userspace_memory_region m = {
		.slot = s->id,
		.flags = (s->flags & NPT_W) ? 0 : KVM_MEM_READONLY,
		.guest_phys_addr = s->gpa,
		.memory_size = size,
		.userspace_addr = (uintptr_t)(vm->ram + s->off),
	};

	vm->c.slot_ops++;
	if (ioctl(vm->fd, KVM_SET_USER_MEMORY_REGION, &m) < 0) {
		fprintf(stderr, "vmm: %s: KVM_SET_USER_MEMORY_REGION slot %u GPA %#llx size %#llx: %s\n",
			vm->scenario, s->id, (unsigned long long)s->gpa,
			(unsigned long long)size, strerror(errno));
		return -1;
	}
	return 0;
}

static int same(const struct slot *a, const struct slot *b)
{
	return a->gpa == b->gpa && a->size == b->size && a->off == b->off && a->flags == b->flags;
}

static int get_id(struct vm *vm, uint32_t *id)
{
	struct slots *s = &vm->slots;

	if (s->nfree) {
		*id = s->free_ids[--s->nfree];
		return 0;
	}
	if (s->next_id >= s->max_ids) {
		fprintf(stderr, "vmm: %s: the stage-2 table needs more than the %u memory slots "
			"KVM offers\n", vm->scenario, s->max_ids);
		return -1;
	}
	*id = s->next_id++;
	return 0;
}

static int put_id(struct vm *vm, uint32_t id)
{
	struct slots *s = &vm->slots;

	if (s->nfree == s->next_id)
		return -1;
	s->free_ids[s->nfree++] = id;
	return 0;
}

static int ensure_cap(struct slots *s, size_t n)
{
	if (n <= s->cap)
		return 0;
	size_t cap = s->cap ? s->cap : 64;
	while (cap < n)
		cap *= 2;
	struct slot *v = realloc(s->v, cap * sizeof(*v));
	if (!v)
		return -1;
	s->v = v;
	s->cap = cap;
	return 0;
}

static int init_ids(struct vm *vm)
{
	struct slots *s = &vm->slots;
	int n;

	if (s->max_ids)
		return 0;
	n = ioctl(vm->fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_MEMSLOTS);
	s->max_ids = n > 0 ? (uint32_t)n : 32;
	s->free_ids = calloc(s->max_ids, sizeof(uint32_t));
	return s->free_ids ? 0 : -1;
}

int slots_sync(struct vm *vm, uint64_t gpa, uint64_t size)
{
	struct slots *s = &vm->slots;
	uint64_t lo = gpa, hi = gpa + size;
	size_t a, b;
	struct runs r;
	int rc = -1;

	if (size == 0)
		return 0;
	if (init_ids(vm) < 0)
		return -1;
	/* Old slots overlapping or touching the change: [a, b). */
	for (a = 0; a < s->n && s->v[a].gpa + s->v[a].size < gpa; a++)
		;
	for (b = a; b < s->n && s->v[b].gpa <= gpa + size; b++) {
		if (s->v[b].gpa < lo)
			lo = s->v[b].gpa;
		if (s->v[b].gpa + s->v[b].size > hi)
			hi = s->v[b].gpa + s->v[b].size;
	}
	if (collect(vm, lo, hi, &r) < 0)
		return -1;

	/* Both lists are sorted by gpa: a slot is kept iff an identical run
	 * exists. Delete the others first, then create what is new. */
	size_t i = a, j = 0;
	char *keep = calloc(r.n + 1, 1);
	if (!keep)
		goto out;
	while (i < b && j < r.n) {
		if (same(&s->v[i], &r.v[j])) {
			r.v[j].id = s->v[i].id;
			keep[j] = 1;
			s->v[i].size = 0; /* marks "kept" for the delete pass */
			i++, j++;
		} else if (s->v[i].gpa < r.v[j].gpa ||
			   (s->v[i].gpa == r.v[j].gpa && s->v[i].size < r.v[j].size)) {
			i++;
		} else {
			j++;
		}
	}
	for (i = a; i < b; i++) {
		if (s->v[i].size == 0)
			continue;
		if (set_region(vm, &s->v[i], 0) < 0 || put_id(vm, s->v[i].id) < 0)
			goto out;
	}
	for (j = 0; j < r.n; j++) {
		if (keep[j])
			continue;
		if (get_id(vm, &r.v[j].id) < 0 || set_region(vm, &r.v[j], r.v[j].size) < 0)
			goto out;
	}

	/* Splice the new runs in place of [a, b). */
	if (ensure_cap(s, s->n - (b - a) + r.n) < 0)
		goto out;
	if (s->n > b)
		memmove(&s->v[a + r.n], &s->v[b], (s->n - b) * sizeof(s->v[0]));
	if (r.n)
		memcpy(&s->v[a], r.v, r.n * sizeof(s->v[0]));
	s->n = s->n - (b - a) + r.n;
	rc = 0;
out:
	if (rc < 0)
		fprintf(stderr, "vmm: %s: memory slots out of step with the stage-2 table\n",
			vm->scenario);
	free(keep);
	free(r.v);
	return rc;
}

static uint64_t s2_span(const struct vm *vm)
{
	unsigned bits = vm->s2info.va_bits < 62 ? vm->s2info.va_bits : 62;

	return 1ull << bits;
}

int slots_sync_all(struct vm *vm)
{
	return slots_sync(vm, 0, s2_span(vm));
}

int slots_verify(struct vm *vm)
{
	struct slots *s = &vm->slots;
	struct runs r;
	int bad = 0;

	if (collect(vm, 0, s2_span(vm), &r) < 0)
		return -1;
	if (r.n != s->n)
		bad = 1;
	for (size_t i = 0; !bad && i < r.n; i++)
		bad = !same(&r.v[i], &s->v[i]);
	if (bad)
		mismatch(vm, "memory slots differ from a fresh walk of the stage-2 table: "
			 "expected %zu slots, have %zu", r.n, s->n);
	free(r.v);
	return bad ? -1 : 0;
}

void slots_fini(struct vm *vm)
{
	free(vm->slots.v);
	free(vm->slots.free_ids);
	memset(&vm->slots, 0, sizeof(vm->slots));
}
