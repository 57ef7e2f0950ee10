/*
 * The dirty scenario: a migration-style loop over npt's
 * write-protect dirty logging.
 *
 * RAM above the system part is mapped 1:1 in stage 2 with 2 MiB leaves
 * (sys_end is 2 MiB aligned). Two logging cycles run on it, the first with
 * NPT_LOG_LAZY, the second with NPT_LOG_EAGER. A cycle:
 *  1. npt_log_start over the range; the slots follow (one read-only slot);
 *     eager: every leaf of the range is now 4 KiB (npt_walk counts them).
 *     A harvest right away must be empty.
 *  2. Rounds: the guest writes pseudo-random pages (a hot set and the whole
 *     range) and reads some. The scenario keeps its own model, not read
 *     from npt: the pages written this round. The first write to a page in
 *     a round must exit as an MMIO write (read-only slot); the hook calls
 *     npt_log_write_fault (a huge leaf splits to 4 KiB around the page;
 *     the page becomes writable), re-syncs the slots and returns
 *     MMIO_COMPLETE, so check.c completes the write into the host bytes
 *     stage 2 now maps (the same instruction is not re-executed). Later
 *     writes to the page in the round must not exit. Reads never exit.
 *  3. After each round: npt_log_harvest over the range must give exactly
 *     the pages the guest wrote; its flush record must cover every page it
 *     write-protected again; the slots follow and equal a fresh walk.
 *  4. npt_log_stop, npt_collapse: the range must again be exactly the
 *     2 MiB leaves it started with (npt_walk: size, output address, flags);
 *     the slots follow. The guest reads every address it ever wrote: the
 *     value it wrote last (the scenario's shadow of RAM) and the host bytes
 *     behind npt_query must agree. Then writes must no longer exit.
 * At the end every byte of the range in host memory equals the shadow: no
 * write went anywhere else. check.c's cross-checks are on for every probe.
 */
#include "scenario.h"

#define ROUNDS_LAZY 4
#define ROUNDS_EAGER 2
#define WRITES 160      /* writes per round */
#define READS 40        /* reads per round */
#define HOT 24          /* pages of the hot set (written again and again) */

struct dstate {
	struct vm *vm;
	uint64_t lo, hi, pages;
	uint64_t seed;
	uint8_t *shadow;   /* what [lo, hi) must hold: the scenario's own record */
	uint8_t *wrote;    /* per page: written this round (the model) */
	uint8_t *faulted;  /* per page: write-faulted this round (what the hook saw) */
	uint64_t *noted;   /* per 8-byte word: in addr[] */
	uint64_t *addr;    /* every distinct address written (8-byte aligned) */
	uint64_t naddr, capaddr;
	uint64_t *bitmap;
	uint64_t hot[HOT];
	int logging;
	int spare;         /* lazy: every fourth 2 MiB leaf is never written, stays whole */

	/* counts */
	unsigned rounds;
	uint64_t written, faults, splits, harvested, collapsed, reads, after;
};

/* ---- the write-fault hook ------------------------------------------------------ */

static int dirty_hook(struct vm *vm, uint64_t gpa, int is_write, void *ctx)
{
	struct dstate *d = ctx;
	uint64_t page = gpa & ~(PAGE_SIZE - 1), p, ps = 0, ps2 = 0;
	struct npt_log_fault lf;
	unsigned f = 0;
	int e;

	if (!is_write || page < d->lo || page >= d->hi || !d->logging)
		return MMIO_HOLE; /* check.c has already said what is wrong with it */
	p = (page - d->lo) / PAGE_SIZE;
	if (d->faulted[p])
		mismatch(vm, "GPA %#llx write-faulted twice in one round: npt_log_write_fault "
			 "did not leave it writable", (unsigned long long)gpa);
	if (npt_query(vm->s2, page, NULL, NULL, &ps))
		return fail(vm, "npt_query (stage 2, before the write fault)", NPT_ERR_NOT_MAPPED);
	e = npt_log_write_fault_info(vm->s2, page, &lf);
	if (e)
		return fail(vm, "npt_log_write_fault (stage 2)", e);
	/* what it says it did, against the two queries */
	if (lf.did != (NPT_LOG_GRANTED | (ps > PAGE_SIZE ? NPT_LOG_SPLIT : 0)) ||
	    lf.page_size != PAGE_SIZE)
		mismatch(vm, "GPA %#llx: npt_log_write_fault reported did %#x, a %#llx-byte leaf; "
			 "the queries saw a %#llx-byte leaf before", (unsigned long long)page,
			 lf.did, (unsigned long long)lf.page_size, (unsigned long long)ps);
	e = npt_query(vm->s2, page, NULL, &f, &ps2);
	if (e)
		return fail(vm, "npt_query (stage 2, after the write fault)", e);
	if (ps2 != PAGE_SIZE || !(f & NPT_W))
		mismatch(vm, "GPA %#llx after npt_log_write_fault: a %#llx-byte leaf%s, expected a "
			 "writable 4 KiB leaf", (unsigned long long)page, (unsigned long long)ps2,
			 (f & NPT_W) ? "" : " without NPT_W");
	if (ps > PAGE_SIZE) {
		struct npt_flush fl;

		d->splits++;
		/* The huge leaf became a table: the flush record must say so. */
		npt_last_flush(vm->s2, &fl);
		if (fl.kind == NPT_FLUSH_NONE ||
		    (fl.kind == NPT_FLUSH_RANGE && (page < fl.va || page >= fl.va + fl.size)))
			mismatch(vm, "npt_log_write_fault split the %#llx-byte leaf around GPA %#llx "
				 "but its flush record does not cover it (kind %u, %#llx+%#llx)",
				 (unsigned long long)ps, (unsigned long long)page, fl.kind,
				 (unsigned long long)fl.va, (unsigned long long)fl.size);
	}
	d->faulted[p] = 1;
	d->faults++;
	vm->c.s2_faults++;
	/* Only the page's rights changed; the 2 MiB around it re-walked anyway
	 * (cheap: unchanged runs touch no slot). */
	if (slots_sync(vm, page & ~(SZ_2M - 1), SZ_2M) < 0)
		return MMIO_ERROR;
	return MMIO_COMPLETE;
}

/* ---- table shape --------------------------------------------------------------- */

struct shape {
	uint64_t leaves, huge, small, bad;
	uint64_t first_bad;
};

static int shape_leaf(const struct npt_visit *v, void *arg)
{
	struct shape *s = arg;

	s->leaves++;
	if (v->size == SZ_2M)
		s->huge++;
	else if (v->size == PAGE_SIZE)
		s->small++;
	/* The scenario maps 1:1 and RWX: anything else is npt's doing. */
	if (v->pa != v->va || (v->flags & RWX) != RWX) {
		if (!s->bad)
			s->first_bad = v->va;
		s->bad++;
	}
	return 0;
}

static int shape_of(struct dstate *d, struct shape *s, int writable)
{
	struct vm *vm = d->vm;
	int e;

	memset(s, 0, sizeof(*s));
	e = npt_walk(vm->s2, d->lo, d->hi - d->lo, NPT_WALK_LEAF, shape_leaf, s);
	if (e)
		return fail(vm, "npt_walk (stage 2)", e);
	if (!writable)
		s->bad = 0; /* while logging, NPT_W is the log's */
	if (s->bad)
		mismatch(vm, "%llu stage-2 leaves of [%#llx, %#llx) no longer map 1:1 RWX, the first "
			 "at GPA %#llx", (unsigned long long)s->bad, (unsigned long long)d->lo,
			 (unsigned long long)d->hi, (unsigned long long)s->first_bad);
	return 0;
}

/* ---- harvest -------------------------------------------------------------------- */

static int covered(const struct npt_flush *fl, uint64_t page)
{
	if (fl->kind == NPT_FLUSH_ALL)
		return 1;
	if (fl->kind != NPT_FLUSH_RANGE)
		return 0;
	for (unsigned i = 0; i < fl->nranges; i++)
		if (page >= fl->ranges[i].va && page < fl->ranges[i].va + fl->ranges[i].size)
			return 1;
	return 0;
}

/* Harvest [lo, hi) and compare with the model: exactly the pages written. */
static int harvest(struct dstate *d, const char *when)
{
	struct vm *vm = d->vm;
	struct npt_flush fl;
	uint64_t n = 0, missing = 0, extra = 0, uncovered = 0;
	int e;

	e = npt_log_harvest(vm->s2, d->lo, d->hi - d->lo, d->bitmap);
	if (e)
		return fail(vm, "npt_log_harvest (stage 2)", e);
	npt_last_flush(vm->s2, &fl);
	for (uint64_t p = 0; p < d->pages; p++) {
		int got = (int)(d->bitmap[p / 64] >> (p % 64) & 1);
		uint64_t g = d->lo + p * PAGE_SIZE;

		n += (uint64_t)got;
		if (got && !covered(&fl, g) && !uncovered++)
			mismatch(vm, "%s: npt_log_harvest write-protected GPA %#llx again, but its flush "
				 "record (kind %u, %u runs) does not cover it", when,
				 (unsigned long long)g, fl.kind, fl.nranges);
		if (got == d->wrote[p])
			continue;
		if (got)
			extra++;
		else
			missing++;
		mismatch(vm, "%s: harvest says GPA %#llx is %s, the guest %s it", when,
			 (unsigned long long)g, got ? "dirty" : "clean",
			 d->wrote[p] ? "wrote" : "did not write");
	}
	if (missing || extra)
		mismatch(vm, "%s: harvest has %llu dirty pages: %llu written pages missing, %llu "
			 "pages never written", when, (unsigned long long)n,
			 (unsigned long long)missing, (unsigned long long)extra);
	d->harvested += n;
	/* The harvested pages are read-only again. */
	if (slots_sync(vm, d->lo, d->hi - d->lo) < 0)
		return -1;
	slots_verify(vm);
	return 0;
}

/* A page of the range; in a lazy cycle every fourth 2 MiB leaf is spared. */
static uint64_t page_at(const struct dstate *d, uint64_t p)
{
	uint64_t per = SZ_2M / PAGE_SIZE;

	if (d->spare && (p / per) % 4 == 3)
		p -= per;
	return p;
}

/* ---- a round -------------------------------------------------------------------- */

static int note_addr(struct dstate *d, uint64_t a)
{
	uint64_t w = (a - d->lo) / 8;

	if (d->noted[w / 64] >> (w % 64) & 1)
		return 0;
	d->noted[w / 64] |= 1ull << (w % 64);
	if (d->naddr == d->capaddr) {
		uint64_t cap = d->capaddr ? 2 * d->capaddr : 1024, *v;

		v = realloc(d->addr, cap * sizeof(*v));
		if (!v)
			return -1;
		d->addr = v;
		d->capaddr = cap;
	}
	d->addr[d->naddr++] = a;
	return 0;
}

static int round_once(struct dstate *d, unsigned round)
{
	struct vm *vm = d->vm;
	struct probe_out o;
	char when[32];

	snprintf(when, sizeof(when), "round %u", round);
	memset(d->wrote, 0, d->pages);
	memset(d->faulted, 0, d->pages);
	for (unsigned i = 0; i < WRITES + READS; i++) {
		uint64_t p = page_at(d, rnd(&d->seed, 3) == 0 ? d->hot[rnd(&d->seed, HOT)] :
						      rnd(&d->seed, d->pages));
		/* 8-aligned, 8 bytes inside the page; some pages get several words */
		uint64_t a = d->lo + p * PAGE_SIZE + rnd(&d->seed, PAGE_SIZE / 8) * 8;

		if (rnd(&d->seed, WRITES + READS) < READS) {
			if (pr(vm, CMD_READ, gpa_to_va(a), 0, &o))
				return -1;
			d->reads++;
			if (o.mmio)
				mismatch(vm, "%s: read of logged GPA %#llx exited", when,
					 (unsigned long long)a);
			else if (!o.faulted && o.value != rd64(d->shadow + (a - d->lo)))
				mismatch(vm, "%s: read of GPA %#llx: last written %#llx, read %#llx", when,
					 (unsigned long long)a,
					 (unsigned long long)rd64(d->shadow + (a - d->lo)),
					 (unsigned long long)o.value);
			continue;
		}
		uint64_t v = mix(a ^ ((uint64_t)round << 48) ^ i);
		int first = !d->wrote[p];

		if (pr(vm, CMD_WRITE, gpa_to_va(a), v, &o))
			return -1;
		if (o.mmio != first)
			mismatch(vm, "%s: %s write to GPA %#llx in this round %s", when,
				 first ? "the first" : "a later", (unsigned long long)a,
				 o.mmio ? "exited" : "did not exit");
		if (first && o.mmio && !d->faulted[p])
			mismatch(vm, "%s: the write to GPA %#llx exited but never reached the hook", when,
				 (unsigned long long)a);
		if (note_addr(d, a) < 0)
			return -1;
		memcpy(d->shadow + (a - d->lo), &v, 8);
		d->wrote[p] = 1;
		d->written++;
	}
	d->rounds++;
	return harvest(d, when);
}

/* ---- a logging cycle ------------------------------------------------------------ */

static int cycle(struct dstate *d, unsigned mode, unsigned rounds, unsigned *round)
{
	struct vm *vm = d->vm;
	uint64_t nhuge = (d->hi - d->lo) / SZ_2M;
	struct shape s;
	struct probe_out o;
	const char *mname = mode == NPT_LOG_EAGER ? "eager" : "lazy";
	uint64_t splits0 = d->splits;
	int e;

	e = npt_log_start(vm->s2, d->lo, d->hi - d->lo, mode);
	if (e)
		return fail(vm, "npt_log_start (stage 2)", e);
	d->logging = 1;
	d->spare = mode == NPT_LOG_LAZY;
	if (slots_sync(vm, d->lo, d->hi - d->lo) < 0)
		return -1;
	slots_verify(vm);
	if (shape_of(d, &s, 0))
		return -1;
	if (mode == NPT_LOG_EAGER ? s.small != d->pages || s.huge :
				   s.huge != nhuge || s.small)
		mismatch(vm, "npt_log_start (%s): %llu 2 MiB and %llu 4 KiB leaves, expected %llu "
			 "and %llu", mname, (unsigned long long)s.huge, (unsigned long long)s.small,
			 (unsigned long long)(mode == NPT_LOG_EAGER ? 0 : nhuge),
			 (unsigned long long)(mode == NPT_LOG_EAGER ? d->pages : 0));
	/* Nothing written yet: an empty log. */
	memset(d->wrote, 0, d->pages);
	if (harvest(d, mode == NPT_LOG_EAGER ? "eager start" : "lazy start"))
		return -1;

	for (unsigned r = 0; r < rounds; r++)
		if (round_once(d, (*round)++))
			return -1;

	/* Lazy: exactly one split per 2 MiB leaf written, the spared ones
	 * whole; eager: no split in the handler. */
	if (shape_of(d, &s, 0))
		return -1;
	if (mode == NPT_LOG_EAGER ? d->splits != splits0 : d->splits - splits0 != nhuge - s.huge)
		mismatch(vm, "%s logging: %llu splits in the write-fault handler, but %llu of the "
			 "%llu 2 MiB leaves are gone", mname,
			 (unsigned long long)(d->splits - splits0),
			 (unsigned long long)(nhuge - s.huge), (unsigned long long)nhuge);
	if (mode == NPT_LOG_LAZY && s.huge < nhuge / 4)
		mismatch(vm, "lazy logging: only %llu 2 MiB leaves left whole, %llu were never "
			 "written", (unsigned long long)s.huge, (unsigned long long)(nhuge / 4));
	d->spare = 0;

	/* Stop, collapse: the 2 MiB leaves are back, writable, 1:1. */
	e = npt_log_stop(vm->s2, d->lo, d->hi - d->lo);
	if (e)
		return fail(vm, "npt_log_stop (stage 2)", e);
	d->logging = 0;
	e = npt_collapse(vm->s2, d->lo, d->hi - d->lo);
	if (e)
		return fail(vm, "npt_collapse (stage 2)", e);
	if (shape_of(d, &s, 1))
		return -1;
	if (s.huge != nhuge || s.leaves != nhuge)
		mismatch(vm, "%s: after npt_log_stop + npt_collapse: %llu leaves (%llu of 2 MiB, "
			 "%llu of 4 KiB), expected the %llu 2 MiB leaves of the start", mname,
			 (unsigned long long)s.leaves, (unsigned long long)s.huge,
			 (unsigned long long)s.small, (unsigned long long)nhuge);
	d->collapsed += s.huge;
	if (slots_sync(vm, d->lo, d->hi - d->lo) < 0)
		return -1;
	slots_verify(vm);

	/* Every address ever written: the last value, in the guest and behind
	 * npt_query on the host side. */
	for (uint64_t k = 0; k < d->naddr; k++) {
		uint64_t a = d->addr[k], want = rd64(d->shadow + (a - d->lo)), off;

		if (pr(vm, CMD_READ, gpa_to_va(a), 0, &o))
			return -1;
		d->reads++;
		e = npt_query(vm->s2, a, &off, NULL, NULL);
		if (e)
			return fail(vm, "npt_query (stage 2, read back)", e);
		if (o.mmio || o.faulted || o.value != want || rd64(vm->ram + off) != want)
			mismatch(vm, "%s: read back GPA %#llx: wrote %#llx, the guest %s %#llx, host "
				 "offset %#llx holds %#llx", mname, (unsigned long long)a,
				 (unsigned long long)want, o.mmio ? "exited," : o.faulted ?
				 "faulted, error" : "read", o.faulted ? (unsigned long long)o.err :
				 (unsigned long long)o.value, (unsigned long long)off,
				 (unsigned long long)rd64(vm->ram + off));
	}
	/* Logging is off: the hot set is written without an exit. */
	for (unsigned i = 0; i < HOT; i++) {
		uint64_t a = d->lo + page_at(d, d->hot[i]) * PAGE_SIZE + 8 * i, v = mix(a ^ 0x570b);

		if (pr(vm, CMD_WRITE, gpa_to_va(a), v, &o))
			return -1;
		d->after++;
		if (o.mmio)
			mismatch(vm, "%s: write to GPA %#llx exited after npt_log_stop", mname,
				 (unsigned long long)a);
		if (note_addr(d, a) < 0)
			return -1;
		memcpy(d->shadow + (a - d->lo), &v, 8);
	}
	return 0;
}

int sc_dirty(struct vm *vm)
{
	struct dstate d;
	unsigned round = 0;
	int rc = -1, e;
	struct npt_format_info fi;

	memset(&d, 0, sizeof(d));
	d.vm = vm;
	d.lo = vm->sys_end;
	d.hi = vm->sys_end + ((vm->mem - vm->sys_end) & ~(SZ_2M - 1));
	d.pages = (d.hi - d.lo) / PAGE_SIZE;
	d.seed = vm->opt->seed ^ 0xd1e7;
	if (npt_format_info(npt_table_format(vm->s2), &fi) == 0 && !(fi.features & NPT_FEATURE_LOG)) {
		fprintf(stderr, "vmm: %s: stage-2 format %s has no write-protect logging\n",
			vm->scenario, fi.name);
		return -1;
	}
	if (d.hi - d.lo < 2 * SZ_2M) {
		fprintf(stderr, "vmm: %s: needs at least 4 MiB of RAM above the system part\n",
			vm->scenario);
		return -1;
	}
	d.shadow = malloc(d.hi - d.lo);
	d.wrote = calloc(d.pages, 1);
	d.faulted = calloc(d.pages, 1);
	d.noted = calloc((d.hi - d.lo) / 8 / 64, 8);
	d.bitmap = calloc((d.pages + 63) / 64, 8);
	if (!d.shadow || !d.wrote || !d.faulted || !d.noted || !d.bitmap)
		goto out;
	for (unsigned i = 0; i < HOT; i++)
		d.hot[i] = rnd(&d.seed, d.pages);

	/* Known contents: a pattern of the address. */
	for (uint64_t a = 0; a < d.hi - d.lo; a += 8) {
		uint64_t v = 0xd127700000000000ull ^ (d.lo + a);
		memcpy(d.shadow + a, &v, 8);
	}
	memcpy(vm->ram + d.lo, d.shadow, d.hi - d.lo);

	e = npt_map_region(vm->s2, d.lo, d.lo, d.hi - d.lo, RWX, NPT_MAP_2M);
	if (e) {
		fail(vm, "npt_map_region (stage 2)", e);
		goto out;
	}
	if (slots_sync(vm, d.lo, d.hi - d.lo) < 0 ||
	    s1_map_window(vm, d.lo, d.hi - d.lo, RWX, s1_huge_opts(vm)))
		goto out;
	vm->on_mmio = dirty_hook;
	vm->hook_ctx = &d;

	if (cycle(&d, NPT_LOG_LAZY, ROUNDS_LAZY, &round) ||
	    cycle(&d, NPT_LOG_EAGER, ROUNDS_EAGER, &round))
		goto out;

	/* No write landed anywhere but where the guest was told to write. */
	for (uint64_t a = 0; a < d.hi - d.lo; a += PAGE_SIZE)
		if (memcmp(vm->ram + d.lo + a, d.shadow + a, PAGE_SIZE))
			mismatch(vm, "GPA %#llx: host memory differs from what the guest wrote there",
				 (unsigned long long)(d.lo + a));

	printf("dirty:  seed %llu: %u rounds (%u lazy, %u eager), %llu logged writes (+%llu after "
	       "stop) to %llu addresses, %llu write faults, %llu splits, %llu pages harvested, "
	       "%llu reads, %llu 2 MiB leaves after collapse\n", (unsigned long long)vm->opt->seed,
	       d.rounds, ROUNDS_LAZY, ROUNDS_EAGER, (unsigned long long)d.written,
	       (unsigned long long)d.after, (unsigned long long)d.naddr, (unsigned long long)d.faults,
	       (unsigned long long)d.splits, (unsigned long long)d.harvested,
	       (unsigned long long)d.reads, (unsigned long long)d.collapsed);
	rc = 0;
out:
	vm->on_mmio = NULL;
	vm->hook_ctx = NULL;
	free(d.shadow);
	free(d.wrote);
	free(d.faulted);
	free(d.noted);
	free(d.bitmap);
	free(d.addr);
	return rc;
}
