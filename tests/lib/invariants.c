/* invariants — see invariants.h. */
#include "invariants.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define FRAME 4096ull

/* Frame ownership: per pool frame, 0 = not reached, else 1 + table index. */
struct inv {
	struct testmm *mm;
	struct npt_table *const *tables;
	unsigned n;
	unsigned char *owner;
	uint64_t owned[INV_MAX_TABLES];
	uint64_t handles; /* handle frames (npt_new) among the tables */
	unsigned path[NPT_MAX_LEVELS + 1];
	unsigned depth;
	char *msg;
	size_t len;
	int failed;
	/* leaf bits (address cleared) already checked by a round trip, per level */
	uint64_t ok_bits[NPT_MAX_LEVELS];
	int ok_valid[NPT_MAX_LEVELS];
};

static int fail(struct inv *v, unsigned ti, const char *fmt, ...)
{
	va_list ap;
	size_t used;
	unsigned i;

	if (v->failed)
		return -1;
	v->failed = 1;
	if (!v->msg || !v->len)
		return -1;
	used = (size_t)snprintf(v->msg, v->len, "[%s] table %u",
				ti < v->n ? v->tables[ti]->fmt->name : "?", ti);
	for (i = 0; i < v->depth && used < v->len; i++)
		used += (size_t)snprintf(v->msg + used, v->len - used, "%s%u", i ? "/" : " at ",
					 v->path[i]);
	if (used < v->len)
		used += (size_t)snprintf(v->msg + used, v->len - used, ": ");
	if (used < v->len) {
		va_start(ap, fmt);
		vsnprintf(v->msg + used, v->len - used, fmt, ap);
		va_end(ap);
	}
	return -1;
}

static int frame_index(const struct testmm *mm, uint64_t pa, size_t *idx)
{
	if (pa & (FRAME - 1) || pa < mm->base_pa || (pa - mm->base_pa) / FRAME >= mm->nframes)
		return -1;
	*idx = (size_t)((pa - mm->base_pa) / FRAME);
	return 0;
}

/* NPT_FRAME_SINGLE, _HEAD of a contiguous block or _TAIL (free: 0). */
static unsigned frame_kind(const struct testmm *mm, size_t idx)
{
	return mm->fr.state[idx];
}

/* A leaf's output address is its address field masked to the leaf size:
 * below that, some formats keep flags (LoongArch G, x86 PAT in a huge leaf),
 * so the exact bits are checked by a round trip instead: the entry must be
 * exactly what npt_encode_leaf() writes for its decoded flags and address. */
static int check_leaf(struct inv *v, unsigned ti, unsigned level, uint64_t pte)
{
	const struct npt_format *f = v->tables[ti]->fmt;
	uint64_t size = 1ull << npt_level_shift(level);
	uint64_t pa = npt_pte_addr(f, pte) & ~(size - 1), key, re;
	unsigned flags;

	if (!((f->leaf_levels >> level) & 1u))
		return fail(v, ti, "leaf 0x%llx at level %u, not a leaf level of the format",
			    (unsigned long long)pte, level);
	if (f->pa_bits < 64 && (pa + size - 1) >> f->pa_bits)
		return fail(v, ti, "level-%u leaf 0x%llx: output 0x%llx beyond %u bits", level,
			    (unsigned long long)pte, (unsigned long long)pa, f->pa_bits);
	/* leaves that differ only by address share one round trip */
	key = pte ^ npt_addr_bits(f, pa);
	if (v->ok_valid[level] && v->ok_bits[level] == key)
		return 0;
	flags = f->decode(f, level, pte);
	if (flags & ~f->flags)
		return fail(v, ti, "level-%u leaf 0x%llx decodes to flags 0x%x outside the format's 0x%x",
			    level, (unsigned long long)pte, flags, f->flags);
	if (npt_encode_leaf(f, level, pa, flags, &re) != 0)
		return fail(v, ti, "level-%u leaf 0x%llx decodes to flags 0x%x that do not encode",
			    level, (unsigned long long)pte, flags);
	if (re != pte)
		return fail(v, ti, "level-%u leaf 0x%llx: flags 0x%x at 0x%llx re-encode as 0x%llx "
			    "(stray bits or an address not aligned to 0x%llx)", level,
			    (unsigned long long)pte, flags, (unsigned long long)pa,
			    (unsigned long long)re, (unsigned long long)size);
	v->ok_bits[level] = key;
	v->ok_valid[level] = 1;
	return 0;
}

static int walk_table(struct inv *v, unsigned ti, unsigned level, const uint64_t *tbl,
		      unsigned entries, int is_root);

static int check_table_entry(struct inv *v, unsigned ti, unsigned level, uint64_t pte)
{
	struct npt_table *t = v->tables[ti];
	const struct npt_format *f = t->fmt;
	uint64_t pa = npt_pte_addr(f, pte);
	size_t idx;
	const uint64_t *child;
	unsigned i, present = 0;

	const uint64_t full = level == 1 ? pte & f->full_bit : 0;

	if (level == 0)
		return fail(v, ti, "table entry 0x%llx at level 0", (unsigned long long)pte);
	/* full_bit: only in a level-1 entry, and only over a full leaf table. */
	if ((pte & ~full) != (f->table_bits | npt_addr_bits(f, pa)))
		return fail(v, ti, "level-%u table entry 0x%llx is not table_bits | address (0x%llx)",
			    level, (unsigned long long)pte,
			    (unsigned long long)(f->table_bits | npt_addr_bits(f, pa)));
	if (frame_index(v->mm, pa, &idx))
		return fail(v, ti, "level-%u table entry 0x%llx points to 0x%llx, not a frame of the pool",
			    level, (unsigned long long)pte, (unsigned long long)pa);
	if (!testmm_is_allocated(v->mm, pa))
		return fail(v, ti, "level-%u table entry points to frame 0x%llx, which is free "
			    "(use after free)", level, (unsigned long long)pa);
	if (frame_kind(v->mm, idx) != NPT_FRAME_SINGLE)
		return fail(v, ti, "level-%u table entry points to frame 0x%llx inside a contiguous "
			    "block (a root?)", level, (unsigned long long)pa);
	if (v->owner[idx])
		return fail(v, ti, "table frame 0x%llx reached twice (first from table %u)",
			    (unsigned long long)pa, v->owner[idx] - 1u);
	v->owner[idx] = (unsigned char)(ti + 1);
	v->owned[ti]++;
	child = (const uint64_t *)testmm_va(v->mm, pa);
	for (i = 0; i < NPT_ENTRIES; i++)
		present += npt_pte_present(f, child[i]);
	if (full && present != NPT_ENTRIES)
		return fail(v, ti, "level-1 entry 0x%llx has full_bit but its leaf table at 0x%llx "
			    "holds %u entries", (unsigned long long)pte, (unsigned long long)pa,
			    present);
	for (i = 1; full && i < NPT_ENTRIES; i++)
		if (npt_pte_addr(f, child[i]) != npt_pte_addr(f, child[0]) + i * NPT_PAGE_SIZE)
			return fail(v, ti, "level-1 entry 0x%llx has full_bit but entry %u of its leaf "
				    "table at 0x%llx maps 0x%llx, out of sequence",
				    (unsigned long long)pte, i, (unsigned long long)pa,
				    (unsigned long long)npt_pte_addr(f, child[i]));
	/* Only a table another table borrows (npt_copy_from) may stay empty. */
	if (!present && !npt_is_exported(v->tables[ti], level, v->path[v->depth - 1]))
		return fail(v, ti, "level-%u table at 0x%llx is empty", level - 1,
			    (unsigned long long)pa);
	/* The counts in the leaf table's frame word (npt_mm.frame_word): its
	 * present entries and those in sequence (entry 0, or the successor of
	 * a present left neighbour), counted here independently. */
	if (level == 1 && t->mm.frame_word) {
		const uint32_t word = *t->mm.frame_word(t->mm.ctx, pa);
		unsigned good = 0;

		for (i = 0; i < NPT_ENTRIES; i++)
			good += npt_pte_present(f, child[i]) &&
				(i == 0 || (npt_pte_present(f, child[i - 1]) &&
					    npt_pte_addr(f, child[i - 1]) + NPT_PAGE_SIZE ==
						    npt_pte_addr(f, child[i])));
		if (word != (present << 16 | good))
			return fail(v, ti, "leaf table 0x%llx: frame word 0x%x, but it holds %u "
				    "entries, %u in sequence", (unsigned long long)pa, word, present,
				    good);
	}
	return walk_table(v, ti, level - 1, child, NPT_ENTRIES, 0);
}

static int walk_table(struct inv *v, unsigned ti, unsigned level, const uint64_t *tbl,
		      unsigned entries, int is_root)
{
	struct npt_table *t = v->tables[ti];
	const struct npt_format *f = t->fmt;
	unsigned i;
	int shared;

	if (v->depth > NPT_MAX_LEVELS)
		return fail(v, ti, "tables nest deeper than the format's levels");
	v->depth++;
	for (i = 0; i < entries; i++) {
		uint64_t pte = tbl[i];

		v->path[v->depth - 1] = i;
		shared = is_root && npt_is_shared(t, level, i);
		if (!npt_pte_present(f, pte)) {
			if (pte)
				return fail(v, ti, "absent level-%u entry holds 0x%llx (stale bits)",
					    level, (unsigned long long)pte);
			if (shared)
				return fail(v, ti, "root slot marked shared but empty");
			continue;
		}
		if (npt_pte_leaf(f, level, pte)) {
			if (check_leaf(v, ti, level, pte))
				return -1;
			continue;
		}
		if (shared)
			continue; /* the source table owns and checks it */
		if (check_table_entry(v, ti, level, pte))
			return -1;
	}
	v->depth--;
	return 0;
}

/* A shared table entry of t at root slot i: owned by another table of the
 * set, reached through that table's own (non-shared) slot i. */
static int check_share(struct inv *v, unsigned ti, unsigned i, uint64_t pte)
{
	const struct npt_format *f = v->tables[ti]->fmt;
	unsigned u;
	size_t idx;

	if (npt_pte_leaf(f, npt_root_level(v->tables[ti]), pte))
		return 0; /* a copied leaf: checked as a leaf, owns nothing */
	if (frame_index(v->mm, npt_pte_addr(f, pte), &idx) || !v->owner[idx] ||
	    v->owner[idx] - 1u == ti)
		return fail(v, ti, "shared root slot %u (0x%llx) points to a table no other table "
			    "owns (dangling share)", i, (unsigned long long)pte);
	u = v->owner[idx] - 1u;
	if (v->tables[u]->root[i] != pte || npt_is_shared(v->tables[u], npt_root_level(v->tables[u]), i))
		return fail(v, ti, "shared root slot %u (0x%llx) points to a table of table %u, "
			    "which does not hold it at slot %u", i, (unsigned long long)pte, u, i);
	return 0;
}

static int check_one(struct inv *v, unsigned ti)
{
	struct npt_table *t = v->tables[ti];
	const struct npt_format *f = t->fmt;
	struct npt_format_info info;
	size_t idx, k;

	v->depth = 0;
	memset(v->ok_valid, 0, sizeof(v->ok_valid));
	if (npt_format_info(f, &info) != 0)
		return fail(v, ti, "npt_format_info failed");
	if (t->root_frames != info.root_frames || t->root_entries != info.root_entries)
		return fail(v, ti, "root of %u frames / %u entries, format says %u / %u",
			    t->root_frames, t->root_entries, info.root_frames, info.root_entries);
	if (t->root_pa & ((uint64_t)t->root_frames * FRAME - 1))
		return fail(v, ti, "root 0x%llx not aligned to its %u frames",
			    (unsigned long long)t->root_pa, t->root_frames);
	if (frame_index(v->mm, t->root_pa, &idx) || idx + t->root_frames > v->mm->nframes)
		return fail(v, ti, "root 0x%llx outside the pool", (unsigned long long)t->root_pa);
	if ((void *)t->root != testmm_va(v->mm, t->root_pa))
		return fail(v, ti, "t->root is not the pool's view of root_pa");
	for (k = 0; k < t->root_frames; k++) {
		unsigned want = t->root_frames == 1 ? NPT_FRAME_SINGLE
				: k ? NPT_FRAME_TAIL : NPT_FRAME_HEAD;

		if (!testmm_is_allocated(v->mm, t->root_pa + k * FRAME) ||
		    frame_kind(v->mm, idx + k) != want)
			return fail(v, ti, "root frame %zu (0x%llx) not allocated as it should be", k,
				    (unsigned long long)(t->root_pa + k * FRAME));
		if (v->owner[idx + k])
			return fail(v, ti, "root frame 0x%llx also reached from table %u",
				    (unsigned long long)(t->root_pa + k * FRAME),
				    v->owner[idx + k] - 1u);
		v->owner[idx + k] = (unsigned char)(ti + 1);
	}
	v->owned[ti] = t->root_frames;
	if (t->handle_frame) {
		/* npt_new's handle: a frame of the pool, not a table frame */
		if (frame_index(v->mm, t->handle_pa, &idx) || !testmm_is_allocated(v->mm, t->handle_pa) ||
		    (void *)t != testmm_va(v->mm, t->handle_pa))
			return fail(v, ti, "handle frame 0x%llx is not the allocated frame holding the "
				    "handle", (unsigned long long)t->handle_pa);
		if (v->owner[idx])
			return fail(v, ti, "handle frame 0x%llx also reached from table %u",
				    (unsigned long long)t->handle_pa, v->owner[idx] - 1u);
		v->owner[idx] = (unsigned char)(ti + 1);
		v->handles++;
	}
	return walk_table(v, ti, npt_root_level(t), t->root, t->root_entries, 1);
}

static int check_set(struct inv *v, unsigned opts)
{
	uint64_t total = 0;
	unsigned ti, i;

	for (ti = 0; ti < v->n; ti++) {
		for (i = 0; i < ti; i++)
			if (v->tables[i] == v->tables[ti])
				return fail(v, ti, "listed twice");
		if (check_one(v, ti))
			return -1;
	}
	for (ti = 0; ti < v->n; ti++) {
		struct npt_table *t = v->tables[ti];

		v->depth = 0;
		if (t->frames != v->owned[ti])
			return fail(v, ti, "npt_table_frames() = %llu, but the table owns %llu frames",
				    (unsigned long long)t->frames, (unsigned long long)v->owned[ti]);
		total += v->owned[ti];
		for (i = 0; i < t->root_entries; i++) {
			if (!npt_is_shared(t, npt_root_level(t), i))
				continue;
			if (!npt_pte_present(t->fmt, t->root[i]))
				return fail(v, ti, "root slot %u marked shared but empty", i);
			if ((opts & INV_COMPLETE) && check_share(v, ti, i, t->root[i]))
				return -1;
		}
	}
	total += v->handles;
	if (opts & INV_COMPLETE) {
		v->depth = 0;
		if (testmm_live(v->mm) != total) {
			size_t k;

			for (k = 0; k < v->mm->nframes; k++)
				if (testmm_is_allocated(v->mm, v->mm->base_pa + k * FRAME) && !v->owner[k])
					return fail(v, v->n, "pool has %zu live frames, tables own %llu: "
						    "frame 0x%llx allocated but unreachable (leak)",
						    testmm_live(v->mm), (unsigned long long)total,
						    (unsigned long long)(v->mm->base_pa + k * FRAME));
			return fail(v, v->n, "pool has %zu live frames, tables own %llu",
				    testmm_live(v->mm), (unsigned long long)total);
		}
	}
	return 0;
}

int inv_check(struct testmm *mm, struct npt_table *const *tables, unsigned n, unsigned opts,
	      char *msg, size_t len)
{
	struct inv v;
	int rc;

	memset(&v, 0, sizeof(v));
	v.mm = mm;
	v.tables = tables;
	v.n = n;
	v.msg = msg;
	v.len = len;
	if (msg && len)
		msg[0] = 0;
	if (n > INV_MAX_TABLES) {
		if (msg && len)
			snprintf(msg, len, "inv_check: more than %u tables", INV_MAX_TABLES);
		return -1;
	}
	v.owner = calloc(mm->nframes, 1);
	if (!v.owner) {
		if (msg && len)
			snprintf(msg, len, "inv_check: out of memory");
		return -1;
	}
	rc = check_set(&v, opts);
	free(v.owner);
	return rc;
}

uint64_t inv_owned_frames(struct testmm *mm, struct npt_table *t)
{
	struct npt_table *const set[1] = { t };
	struct inv v;
	uint64_t r;

	memset(&v, 0, sizeof(v));
	v.mm = mm;
	v.tables = set;
	v.n = 1;
	v.owner = calloc(mm->nframes, 1);
	if (!v.owner)
		return 0;
	r = check_one(&v, 0) ? 0 : v.owned[0];
	free(v.owner);
	return r;
}

/* ---- snapshots ------------------------------------------------------------ */

/* struct npt_table without the TLB record (a failed call resets it) and the
 * encoding memos (flags -> leaf bits, the same answer whenever asked: a
 * failed call may have filled them). */
static void table_copy(void *dst, const struct npt_table *t)
{
	struct npt_table *d = dst;

	memcpy(d, t, sizeof(*d));
	memset(&d->last_flush, 0, sizeof(d->last_flush));
	d->enc_bits = 0;
	d->enc_key = 0;
	memset(d->tmpl, 0, sizeof(d->tmpl));
	d->tmpl_key = 0;
	d->word_pa = 0;
	d->word = NULL;
}

void inv_snap_take(struct inv_snap *s, struct testmm *mm, struct npt_table *const *tables,
		   unsigned n)
{
	size_t k, nalloc = 0;
	unsigned i;

	memset(s, 0, sizeof(*s));
	s->nframes = mm->nframes;
	s->state = malloc(mm->nframes);
	if (!s->state)
		abort();
	memcpy(s->state, mm->fr.state, mm->nframes);
	for (k = 0; k < mm->nframes; k++)
		nalloc += s->state[k] != NPT_FRAME_FREE;
	s->bytes = malloc(nalloc ? nalloc * FRAME : 1);
	if (!s->bytes)
		abort();
	for (k = 0; k < mm->nframes; k++)
		if (s->state[k] != NPT_FRAME_FREE) {
			memcpy(s->bytes + s->nbytes, mm->pool + k * FRAME, FRAME);
			s->nbytes += FRAME;
		}
	s->live = testmm_live(mm);
	s->n = n > INV_MAX_TABLES ? INV_MAX_TABLES : n;
	for (i = 0; i < s->n; i++) {
		s->tables[i] = malloc(sizeof(struct npt_table));
		if (!s->tables[i])
			abort();
		table_copy(s->tables[i], tables[i]);
	}
}

static int is_handle(struct npt_table *const *tables, unsigned n, uint64_t pa)
{
	unsigned i;

	for (i = 0; i < n; i++)
		if (tables[i]->handle_frame && tables[i]->handle_pa == pa)
			return 1;
	return 0;
}

int inv_snap_cmp(const struct inv_snap *s, struct testmm *mm, struct npt_table *const *tables,
		 unsigned n, char *msg, size_t len)
{
	size_t k, off = 0;
	struct npt_table cur;
	unsigned i;

	if (msg && len)
		msg[0] = 0;
#define SNAP_FAIL(...)                                          \
	do {                                                    \
		if (msg && len)                                 \
			snprintf(msg, len, __VA_ARGS__);        \
		return -1;                                      \
	} while (0)
	if (s->nframes != mm->nframes || n != s->n)
		SNAP_FAIL("snapshot of another pool or table set");
	if (testmm_live(mm) != s->live)
		SNAP_FAIL("live frames %zu -> %zu (%s)", s->live, testmm_live(mm),
			  testmm_live(mm) > s->live ? "leak" : "frames freed");
	for (k = 0; k < mm->nframes; k++)
		if (s->state[k] != mm->fr.state[k])
			SNAP_FAIL("frame 0x%llx was %s and is %s (a frame freed and another kept)",
				  (unsigned long long)(mm->base_pa + k * FRAME),
				  s->state[k] == NPT_FRAME_FREE ? "free" : "allocated",
				  mm->fr.state[k] == NPT_FRAME_FREE ? "free" : "allocated");
	for (k = 0; k < mm->nframes; k++) {
		size_t w;

		if (s->state[k] == NPT_FRAME_FREE)
			continue;
		/* a handle frame (npt_new) is compared as struct npt_table below */
		if (is_handle(tables, n, mm->base_pa + k * FRAME)) {
			off += FRAME;
			continue;
		}
		if (memcmp(s->bytes + off, mm->pool + k * FRAME, FRAME)) {
			const uint64_t *a = (const uint64_t *)(s->bytes + off);
			const uint64_t *b = (const uint64_t *)(mm->pool + k * FRAME);

			for (w = 0; w < FRAME / 8 && a[w] == b[w]; w++)
				;
			SNAP_FAIL("frame 0x%llx word %zu: 0x%llx -> 0x%llx",
				  (unsigned long long)(mm->base_pa + k * FRAME), w,
				  (unsigned long long)a[w], (unsigned long long)b[w]);
		}
		off += FRAME;
	}
	for (i = 0; i < n; i++) {
		table_copy(&cur, tables[i]);
		if (memcmp(&cur, s->tables[i], sizeof(cur))) {
			const struct npt_table *o = s->tables[i];

			SNAP_FAIL("table %u's struct npt_table changed (frames %llu -> %llu, root "
				  "0x%llx -> 0x%llx, shared bitmap %s)",
				  i, (unsigned long long)o->frames, (unsigned long long)cur.frames,
				  (unsigned long long)o->root_pa, (unsigned long long)cur.root_pa,
				  memcmp(o->shared, cur.shared, sizeof(cur.shared)) ? "changed" : "same");
		}
	}
#undef SNAP_FAIL
	return 0;
}

void inv_snap_free(struct inv_snap *s)
{
	unsigned i;

	free(s->state);
	free(s->bytes);
	for (i = 0; i < s->n; i++)
		free(s->tables[i]);
	memset(s, 0, sizeof(*s));
}
