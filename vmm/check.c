/*
 * Probes and the cross-checks.
 *
 * A probe is one guest access (read, write or execute, at CPL 0 or 3) that
 * the VMM asks for through the mailbox. Before it runs, the VMM predicts
 * its fate from npt alone: npt_query on the stage-1 table gives either the
 * #PF the CPU must raise (with its exact error code) or the guest-physical
 * address; npt_query on the stage-2 table at that address says whether the
 * access reaches memory or must exit as MMIO. The run is then checked
 * against the prediction and against the tables at every exit:
 *
 *  - an MMIO exit is only allowed at an address stage 2 does not map, or
 *    for a write to one mapped without NPT_W;
 *  - a value the guest reads equals the bytes behind the host address
 *    stage 2 gives (ram + offset), or what the VMM handed to an MMIO read;
 *    a value it writes is there afterwards (or, for a write that exited,
 *    was carried by the exit and left read-only memory untouched);
 *  - a #PF has CR2 == the probed address and the error code the stage-1
 *    entry implies (not present / write to read-only / user access to a
 *    supervisor page / fetch from a no-execute page);
 * and anything else is a mismatch, reported with address, expected and
 * observed, and counted: a scenario passes only with none.
 */
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "vmm.h"

/* #PF error code bits (Intel SDM vol. 3 §4.7; AMD APM vol. 2 §8.4.2). */
#define PF_P    0x01u /* protection violation (else: not present) */
#define PF_W    0x02u /* write access */
#define PF_U    0x04u /* CPL 3 */
#define PF_RSVD 0x08u /* reserved bit set in an entry */
#define PF_I    0x10u /* instruction fetch (EFER.NXE = 1) */
#define VEC_PF 14

enum { PATH_FAULT, PATH_MEM, PATH_MMIO };

struct expect {
	int path;
	unsigned err;          /* PATH_FAULT */
	uint64_t gpa;          /* stage-1 translation */
	unsigned s1flags;
	int s2_mapped;
	uint64_t off;          /* stage-2 translation: offset in guest RAM */
	unsigned s2flags;
};

struct run_state {
	int seen;              /* MMIO exits for this probe */
	int completed;         /* exits the VMM completed against a new mapping */
	uint64_t supplied;     /* what an MMIO read was given */
};

static volatile uint64_t *mailbox(struct vm *vm)
{
	return (volatile uint64_t *)(vm->ram + GPA_MAILBOX);
}

static void err_str(unsigned err, char *buf, size_t len)
{
	snprintf(buf, len, "%#x (%s%s%s%s%s)", err, err & PF_P ? "P" : "not-present",
		 err & PF_W ? "|W" : "", err & PF_U ? "|U" : "", err & PF_RSVD ? "|RSVD" : "",
		 err & PF_I ? "|I" : "");
}

/* What npt says must happen. Returns -1 if a query itself fails. */
static int predict(struct vm *vm, const struct probe *p, struct expect *e)
{
	unsigned kind = p->cmd & 0xff;
	int user = !!(p->cmd & CMD_USER);
	unsigned access = (kind == CMD_WRITE ? PF_W : 0) | (user ? PF_U : 0) |
			  (kind == CMD_EXEC ? PF_I : 0);
	int q;

	memset(e, 0, sizeof(*e));
	q = npt_query(vm->s1, p->va, &e->gpa, &e->s1flags, NULL);
	if (q == NPT_ERR_NOT_MAPPED) {
		e->path = PATH_FAULT;
		e->err = access;
		return 0;
	}
	if (q)
		return fail(vm, "npt_query (stage 1)", q);
	if ((user && !(e->s1flags & NPT_U)) || (kind == CMD_WRITE && !(e->s1flags & NPT_W)) ||
	    (kind == CMD_EXEC && !(e->s1flags & NPT_X))) {
		e->path = PATH_FAULT;
		e->err = PF_P | access;
		return 0;
	}
	q = npt_query(vm->s2, e->gpa, &e->off, &e->s2flags, NULL);
	if (q && q != NPT_ERR_NOT_MAPPED)
		return fail(vm, "npt_query (stage 2)", q);
	e->s2_mapped = q == 0;
	if (e->s2_mapped && (kind != CMD_WRITE || (e->s2flags & NPT_W)))
		e->path = PATH_MEM;
	else
		e->path = PATH_MMIO;
	return 0;
}

/* npt_translate_2d, the walk the hardware makes, against the prediction of
 * the two npt_query calls (and, in walkers.c, against KVM_TRANSLATE). */
static int check_2d(struct vm *vm, const struct probe *p, const struct expect *e)
{
	struct npt_2d d;
	int want, ok;

	if (walkers_check(vm, npt_x86_cr3(vm->s1), p->va, probe_access(p->cmd), &d) < 0)
		return -1;
	if (!vm->s2_nests_s1)
		return 0;
	switch (e->path) {
	case PATH_FAULT:
		want = e->err & PF_P ? NPT_ERR_PERM : NPT_ERR_NOT_MAPPED;
		ok = d.fault == want && d.fault_stage == 1 && d.fault_addr == p->va;
		break;
	case PATH_MEM:
		want = 0;
		ok = !d.fault && d.gpa == e->gpa && d.hpa == e->off;
		break;
	default:
		want = e->s2_mapped ? NPT_ERR_PERM : NPT_ERR_NOT_MAPPED;
		ok = d.fault == want && d.fault_stage == 2 && d.gpa == e->gpa &&
		     d.fault_addr == e->gpa;
		break;
	}
	if (!ok)
		mismatch(vm, "%s va %#llx: the two queries predict %s (error %d) at GPA %#llx, "
			 "offset %#llx; npt_translate_2d: error %d at stage %u level %u, address "
			 "%#llx, GPA %#llx, HPA %#llx", probe_name(p->cmd),
			 (unsigned long long)p->va, e->path == PATH_FAULT ? "a #PF" :
			 e->path == PATH_MEM ? "memory" : "an MMIO exit", want,
			 (unsigned long long)e->gpa, (unsigned long long)e->off, d.fault,
			 d.fault_stage, d.fault_level, (unsigned long long)d.fault_addr,
			 (unsigned long long)d.gpa, (unsigned long long)d.hpa);
	vm->c.walk_2d++;
	return 0;
}

static void describe(const struct probe *p, char *buf, size_t len)
{
	snprintf(buf, len, "%s va %#llx", probe_name(p->cmd), (unsigned long long)p->va);
}

/* An MMIO exit during probe p: check it, let the scenario act, complete it. */
static int on_mmio(struct vm *vm, const struct probe *p, const struct expect *e,
		   struct run_state *st, struct probe_out *out)
{
	struct kvm_run *run = vm->run;
	uint64_t gpa = run->mmio.phys_addr, off, data = 0;
	unsigned len = run->mmio.len, f;
	int w = run->mmio.is_write, q, h;
	unsigned kind = p->cmd & 0xff;
	char pd[64], fs[16];
	double t0 = vm->t_exit;

	describe(p, pd, sizeof(pd));
	memcpy(&data, run->mmio.data, len < 8 ? len : 8);
	st->seen++;
	out->mmio = 1;
	out->mmio_gpa = gpa;

	/* 1. Stage 2 must justify the exit. */
	q = npt_query(vm->s2, gpa, &off, &f, NULL);
	if (q == 0 && !(w && !(f & NPT_W))) {
		flags_str(f, fs, sizeof(fs));
		mismatch(vm, "%s: MMIO %s exit at GPA %#llx, but stage 2 maps it %s to offset %#llx: "
			 "expected a memory access", pd, w ? "write" : "read",
			 (unsigned long long)gpa, fs, (unsigned long long)off);
	} else if (q && q != NPT_ERR_NOT_MAPPED) {
		return fail(vm, "npt_query (stage 2, MMIO exit)", q);
	}
	/* 2. It must be this probe's access, as stage 1 translated it. */
	if (e->path == PATH_FAULT) {
		mismatch(vm, "%s: expected #PF, observed an MMIO %s exit at GPA %#llx", pd,
			 w ? "write" : "read", (unsigned long long)gpa);
	} else {
		if (gpa != e->gpa)
			mismatch(vm, "%s: MMIO exit at GPA %#llx, stage 1 translates to GPA %#llx", pd,
				 (unsigned long long)gpa, (unsigned long long)e->gpa);
		if (w != (kind == CMD_WRITE) || len != 8)
			mismatch(vm, "%s: expected an 8-byte MMIO %s, observed a %u-byte %s", pd,
				 kind == CMD_WRITE ? "write" : "read", len, w ? "write" : "read");
		if (w && data != p->value)
			mismatch(vm, "%s: MMIO write at GPA %#llx carries %#llx, the guest wrote %#llx",
				 pd, (unsigned long long)gpa, (unsigned long long)data,
				 (unsigned long long)p->value);
	}

	/* 3. The scenario's turn (demand paging, dirty tracking). */
	h = vm->on_mmio ? vm->on_mmio(vm, gpa, w, vm->hook_ctx) : MMIO_HOLE;
	if (h == MMIO_ERROR)
		return -1;
	if (h == MMIO_COMPLETE) {
		q = npt_query(vm->s2, gpa, &off, &f, NULL);
		if (q || !(f & (w ? NPT_W : NPT_R)) || off + len > vm->mem) {
			fprintf(stderr, "vmm: %s: %s: the MMIO hook did not map GPA %#llx\n",
				vm->scenario, pd, (unsigned long long)gpa);
			return -1;
		}
		if (w) {
			memcpy(vm->ram + off, run->mmio.data, len);
		} else {
			memcpy(run->mmio.data, vm->ram + off, len);
			memcpy(&st->supplied, run->mmio.data, len < 8 ? len : 8);
		}
		st->completed++;
		if (vm->record_rt)
			samples_add(&vm->rt.vmm, now_sec() - t0);
	} else if (!w) {
		/* A hole: reads see poison, writes go nowhere. */
		uint64_t v = poison(gpa);
		memcpy(run->mmio.data, &v, len < 8 ? len : 8);
		st->supplied = v;
	}
	return 0;
}

/* Check the guest's report against the prediction. */
static void verdict(struct vm *vm, const struct probe *p, const struct expect *e,
		    const struct run_state *st, uint64_t before, struct probe_out *out)
{
	volatile uint64_t *mb = mailbox(vm);
	uint64_t status = mb[MB_STATUS / 8], vec = mb[MB_VECTOR / 8];
	uint64_t err = mb[MB_ERROR / 8], cr2 = mb[MB_CR2 / 8], res = mb[MB_RESULT / 8];
	unsigned kind = p->cmd & 0xff;
	char pd[64], es[48], os[48];

	describe(p, pd, sizeof(pd));
	if (status == ST_FAULT && vec == VEC_PF) {
		out->faulted = 1;
		out->err = err;
		out->cr2 = cr2;
		vm->c.faults++;
	} else {
		out->value = res;
	}

	if (e->path == PATH_FAULT) {
		err_str(e->err, es, sizeof(es));
		if (status != ST_FAULT || vec != VEC_PF) {
			if (status == ST_FAULT)
				snprintf(os, sizeof(os), "exception %llu", (unsigned long long)vec);
			else
				snprintf(os, sizeof(os), "no fault (value %#llx)", (unsigned long long)res);
			mismatch(vm, "%s: stage 1 says #PF error %s, observed %s", pd, es, os);
		} else if (err != e->err || cr2 != p->va) {
			err_str((unsigned)err, os, sizeof(os));
			mismatch(vm, "%s: expected #PF error %s CR2 %#llx, observed error %s CR2 %#llx",
				 pd, es, (unsigned long long)p->va, os, (unsigned long long)cr2);
		}
		return;
	}
	if (status == ST_FAULT) {
		err_str((unsigned)err, os, sizeof(os));
		mismatch(vm, "%s: stage 1 maps it to GPA %#llx, observed exception %llu error %s "
			 "CR2 %#llx at RIP %#llx", pd, (unsigned long long)e->gpa,
			 (unsigned long long)vec, os, (unsigned long long)cr2,
			 (unsigned long long)mb[MB_FAULT_RIP / 8]);
		return;
	}
	if (status != ST_OK) {
		mismatch(vm, "%s: the guest reported status %llu", pd, (unsigned long long)status);
		return;
	}
	if (e->path == PATH_MMIO && !st->seen) {
		mismatch(vm, "%s: stage 2 %s GPA %#llx: expected an MMIO exit, observed none",
			 pd, e->s2_mapped ? "maps read-only" : "does not map",
			 (unsigned long long)e->gpa);
		return;
	}

	switch (kind) {
	case CMD_READ:
		if (e->path == PATH_MEM) {
			uint64_t m = rd64(vm->ram + e->off);
			if (res != m)
				mismatch(vm, "%s: GPA %#llx is host offset %#llx holding %#llx, "
					 "the guest read %#llx", pd, (unsigned long long)e->gpa,
					 (unsigned long long)e->off, (unsigned long long)m,
					 (unsigned long long)res);
		} else if (res != st->supplied) {
			mismatch(vm, "%s: the VMM answered the MMIO read at GPA %#llx with %#llx, "
				 "the guest read %#llx", pd, (unsigned long long)e->gpa,
				 (unsigned long long)st->supplied, (unsigned long long)res);
		}
		break;
	case CMD_WRITE:
		if (e->path == PATH_MEM || st->completed) {
			uint64_t off = e->off, m;
			unsigned f;
			if (st->completed && npt_query(vm->s2, e->gpa, &off, &f, NULL))
				break; /* on_mmio checked the mapping */
			m = rd64(vm->ram + off);
			if (m != p->value)
				mismatch(vm, "%s: the guest wrote %#llx, host offset %#llx (GPA %#llx) "
					 "holds %#llx", pd, (unsigned long long)p->value,
					 (unsigned long long)off, (unsigned long long)e->gpa,
					 (unsigned long long)m);
		} else if (e->s2_mapped) {
			uint64_t m = rd64(vm->ram + e->off);
			if (m != before)
				mismatch(vm, "%s: GPA %#llx is read-only in stage 2, but host offset "
					 "%#llx changed from %#llx to %#llx", pd,
					 (unsigned long long)e->gpa, (unsigned long long)e->off,
					 (unsigned long long)before, (unsigned long long)m);
		}
		break;
	case CMD_EXEC:
		if (res != p->value)
			mismatch(vm, "%s: the code at GPA %#llx returns %#llx, the guest got %#llx",
				 pd, (unsigned long long)e->gpa, (unsigned long long)p->value,
				 (unsigned long long)res);
		break;
	}
}

/* `mov rax, imm64; ret` for execute probes. */
static int place_code(struct vm *vm, const struct probe *p, const struct expect *e)
{
	uint8_t code[11] = { 0x48, 0xb8 };

	if (e->path != PATH_MEM) {
		fprintf(stderr, "vmm: %s: exec probe at va %#llx: stage 2 does not map GPA %#llx "
			"(an instruction fetch from MMIO cannot be emulated)\n", vm->scenario,
			(unsigned long long)p->va, (unsigned long long)e->gpa);
		return -1;
	}
	if ((e->off % PAGE_SIZE) + sizeof(code) > PAGE_SIZE) {
		fprintf(stderr, "vmm: %s: exec probe at va %#llx: the code would cross a page\n",
			vm->scenario, (unsigned long long)p->va);
		return -1;
	}
	memcpy(code + 2, &p->value, 8);
	code[10] = 0xc3;
	memcpy(vm->ram + e->off, code, sizeof(code));
	return 0;
}

static int post(struct vm *vm, const struct probe *p)
{
	volatile uint64_t *mb = mailbox(vm);

	/* No TLB work: the guest flushed what its own npt calls changed. */
	mb[MB_CMD / 8] = p->cmd;
	mb[MB_VA / 8] = p->va;
	mb[MB_VALUE / 8] = p->value;
	mb[MB_FLUSH / 8] = FLUSH_NONE;
	mb[MB_STATUS / 8] = ST_NONE;
	vm->last = *p;
	vm->have_last = 1;
	return 0;
}

int probe(struct vm *vm, const struct probe *p, struct probe_out *out)
{
	unsigned kind = p->cmd & 0xff;
	int checked = kind == CMD_READ || kind == CMD_WRITE || kind == CMD_EXEC;
	struct expect e;
	struct run_state st;
	uint64_t before = 0;
	double t_fault = 0;

	memset(out, 0, sizeof(*out));
	memset(&st, 0, sizeof(st));
	memset(&e, 0, sizeof(e));
	if (checked) {
		if (predict(vm, p, &e) < 0 || check_2d(vm, p, &e) < 0)
			return -1;
		if (kind == CMD_EXEC && e.path != PATH_FAULT && place_code(vm, p, &e) < 0)
			return -1;
		if (e.s2_mapped)
			before = rd64(vm->ram + e.off);
		vm->c.probes++;
	}
	if (post(vm, p) < 0)
		return -1;

	for (;;) {
		int x = vm_run(vm);

		if (x < 0)
			return -1;
		if (t_fault) {
			samples_add(&vm->rt.trip, vm->t_exit - t_fault);
			t_fault = 0;
		}
		if (x == KVM_EXIT_IO && vm->run->io.port == MB_PORT)
			break;
		if (x != KVM_EXIT_MMIO || !checked)
			return vm_unexpected_exit(vm, x);
		int done_before = st.completed;
		if (on_mmio(vm, p, &e, &st, out) < 0)
			return -1;
		/* Round trips of faults the VMM resolved (not of hole exits). */
		if (vm->record_rt && st.completed > done_before)
			t_fault = vm->t_exit;
	}
	verdict(vm, p, &e, &st, before, out);
	return 0;
}

int vm_halt(struct vm *vm)
{
	struct probe p = { .cmd = CMD_HALT };
	int x;

	if (post(vm, &p) < 0)
		return -1;
	x = vm_run(vm);
	if (x < 0)
		return -1;
	if (x != KVM_EXIT_HLT)
		return vm_unexpected_exit(vm, x);
	return 0;
}
