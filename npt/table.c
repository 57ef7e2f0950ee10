/*
 * A table's life: creation, frames in and out, teardown, and the argument
 * checks shared by every call.
 */
#include "internal.h"

_Static_assert(sizeof(struct npt_table) <= NPT_TABLE_SIZE, "NPT_TABLE_SIZE too small");
_Static_assert(NPT_TABLE_SIZE <= NPT_PAGE_SIZE, "npt_new keeps the handle in one frame");
_Static_assert(_Alignof(struct npt_table) <= NPT_TABLE_ALIGN, "NPT_TABLE_ALIGN too small");

size_t npt_table_size(void)
{
	return sizeof(struct npt_table);
}

void npt_panic(const struct npt_table *t, const char *msg)
{
	if (t && t->mm.panic)
		t->mm.panic(t->mm.ctx, msg);
	__builtin_trap();
}

const char *npt_strerror(int err)
{
	switch (err) {
	case NPT_OK: return "success";
	case NPT_ERR_NOMEM: return "out of memory: the frame allocator failed";
	case NPT_ERR_ALIGN: return "address or size not aligned to the page size";
	case NPT_ERR_NOT_MAPPED: return "not mapped";
	case NPT_ERR_ALREADY_MAPPED: return "already mapped";
	case NPT_ERR_HUGE: return "mapped by a huge page that the call may not split";
	case NPT_ERR_RANGE: return "address range outside the format's width, non-canonical, wrapping or empty";
	case NPT_ERR_FLAGS: return "flags the format cannot encode";
	case NPT_ERR_INVAL: return "invalid argument";
	case NPT_ERR_SHARED: return "range shared from another table";
	case NPT_ERR_UNSUPPORTED: return "not supported by this format";
	case NPT_ERR_PERM: return "the mapping does not allow the access";
	case NPT_ERR_RESERVED: return "a reserved bit or encoding in a table entry";
	case NPT_ERR_ACCESSED: return "the accessed or dirty flag is clear where the hardware faults on that";
	}
	return "unknown error";
}

/* A frame the allocator hands out must be one a table entry can point at;
 * anything else is the mm's bug, refused before it can corrupt a table. */
static void *mm_virt(const struct npt_mm *mm, uint64_t pa)
{
	if (mm->flags & NPT_MM_LINEAR)
		return (void *)(uintptr_t)(pa + mm->linear_offset);
	return mm->phys_to_virt(mm->ctx, pa);
}

static int usable(const struct npt_format *f, const struct npt_mm *mm, uint64_t pa,
		  unsigned count)
{
	uint64_t entry = npt_table_pte(f, pa, 1, 0);

	if (pa & ((uint64_t)count * NPT_PAGE_SIZE - 1))
		return 0;
	if (npt_check_output(f, pa, (uint64_t)count * NPT_PAGE_SIZE))
		return 0;
	if (npt_pte_addr(f, entry) != pa || !npt_pte_present(f, entry))
		return 0;
	return mm_virt(mm, pa) != NULL;
}

static int frame_usable(const struct npt_table *t, uint64_t pa, unsigned count)
{
	return usable(t->fmt, &t->mm, pa, count);
}

/* One frame from mm, handed back if a table entry could not point at it. */
static int mm_frame(struct npt_table *t, uint64_t *pa)
{
	if (t->mm.alloc(t->mm.ctx, pa))
		return NPT_ERR_NOMEM;
	if (!frame_usable(t, *pa, 1)) {
		t->mm.free(t->mm.ctx, *pa);
		return NPT_ERR_INVAL;
	}
	return 0;
}

/* With a frame cache set, frames come from it only (checked when they went
 * in, npt_cache_topup), and an empty cache is out of memory. */
int npt_frame_alloc(struct npt_table *t, uint64_t *pa)
{
	struct npt_frame_cache *c = t->cache;

	if (c) {
		if (!c->n)
			return NPT_ERR_NOMEM;
		*pa = c->pa[--c->n];
	} else {
		int err = mm_frame(t, pa);

		if (err)
			return err;
	}
	t->frames++;
	return 0;
}

/* A frame leaves the table: its frame word is no longer npt's to use. */
static void forget_word(struct npt_table *t, uint64_t pa)
{
	if (t->word_pa == pa)
		t->word = NULL;
}

/* The last frames npt_frame_alloc gave, undone in reverse order: back where
 * they came from, the cache exactly as it was. */
void npt_frame_unalloc(struct npt_table *t, uint64_t pa)
{
	forget_word(t, pa);
	t->frames--;
	if (t->cache) {
		NPT_CHECK(t, t->cache->n < t->cache->cap && t->cache->pa[t->cache->n] == pa);
		t->cache->n++;
	} else {
		t->mm.free(t->mm.ctx, pa);
	}
}

uint64_t npt_frames_needed(const struct npt_table *t, uint64_t va, uint64_t size)
{
	uint64_t first, last, n = 0;
	unsigned l;

	if (!t || npt_check_input(t, va, size, &first, &last))
		return 0;
	/* at most one table at level l under each level-(l + 1) entry the
	 * range touches, at every level below the root */
	for (l = 0; l < npt_root_level(t); l++)
		n += (last >> npt_level_shift(l + 1)) - (first >> npt_level_shift(l + 1)) + 1;
	return n;
}

int npt_cache_topup(struct npt_table *t, struct npt_frame_cache *c, unsigned min)
{
	int err;

	if (!t || !c || !c->pa || min > c->cap)
		return NPT_ERR_INVAL;
	while (c->n < min) {
		err = mm_frame(t, &c->pa[c->n]);
		if (err)
			return err;
		c->n++;
	}
	return 0;
}

void npt_cache_drain(struct npt_table *t, struct npt_frame_cache *c)
{
	if (!t || !c)
		return;
	while (c->n)
		t->mm.free(t->mm.ctx, c->pa[--c->n]);
}

int npt_set_frame_cache(struct npt_table *t, struct npt_frame_cache *c)
{
	if (!t || (c && (!c->pa || c->n > c->cap)))
		return NPT_ERR_INVAL;
	t->cache = c;
	return 0;
}

/* A frame the table lets go of. Readers (software, and hardware walkers until
 * the call's flush) may still be inside it: the free hook decides when it is
 * reused. */
void npt_frame_free(struct npt_table *t, uint64_t pa)
{
	forget_word(t, pa);
	t->frames--;
	if (t->free_hook && !t->tearing_down)
		t->free_hook(t->free_arg, pa);
	else
		t->mm.free(t->mm.ctx, pa);
}

void npt_set_free_hook(struct npt_table *t, void (*hook)(void *arg, uint64_t pa), void *arg)
{
	if (!t)
		return;
	t->free_hook = hook;
	t->free_arg = arg;
}

/* Physical address 0 may be a valid frame, so links are stored with bit 0
 * set and the empty list is 0. */
uint64_t npt_prealloc_take(struct npt_table *t, struct npt_prealloc *c)
{
	uint64_t pa = c->head & ~1ull;

	NPT_CHECK(t, c->head);
	c->head = *(uint64_t *)npt_virt(t, pa);
	return pa;
}

/* Frames never published: no reader can have seen them, so they skip the
 * free hook. From a frame cache: back in it, count and order as they were
 * (the list holds them in the order they were taken). */
void npt_prealloc_release(struct npt_table *t, struct npt_prealloc *c)
{
	while (c->head) {
		uint64_t pa = npt_prealloc_take(t, c);

		t->frames--;
		if (t->cache)
			t->cache->n++;
		else
			t->mm.free(t->mm.ctx, pa);
	}
}

int npt_prealloc_fill(struct npt_table *t, struct npt_prealloc *c, uint64_t n)
{
	uint64_t pa;
	int err;

	while (n--) {
		err = npt_frame_alloc(t, &pa);
		if (err) {
			npt_prealloc_release(t, c);
			return err;
		}
		*(uint64_t *)npt_virt(t, pa) = 0;
		if (c->head)
			*(uint64_t *)npt_virt(t, c->tail) = pa | 1;
		else
			c->head = pa | 1;
		c->tail = pa;
	}
	return 0;
}

/* The root, before anything else (so a pool's first frame becomes it). */
static int root_alloc(const struct npt_format *fmt, const struct npt_mm *mm, uint64_t *pa)
{
	unsigned n = npt_fmt_root_frames(fmt);

	if (n == 1) {
		if (mm->alloc(mm->ctx, pa))
			return NPT_ERR_NOMEM;
		if (!usable(fmt, mm, *pa, 1)) {
			mm->free(mm->ctx, *pa);
			return NPT_ERR_INVAL;
		}
		return 0;
	}
	if (!mm->alloc_contig || !mm->free_contig)
		return NPT_ERR_INVAL; /* the format's root needs contiguous frames */
	if (mm->alloc_contig(mm->ctx, n, pa))
		return NPT_ERR_NOMEM;
	if (!usable(fmt, mm, *pa, n)) {
		mm->free_contig(mm->ctx, *pa, n);
		return NPT_ERR_INVAL;
	}
	return 0;
}

static void root_release(const struct npt_format *fmt, const struct npt_mm *mm, uint64_t pa)
{
	unsigned n = npt_fmt_root_frames(fmt);

	if (n == 1)
		mm->free(mm->ctx, pa);
	else
		mm->free_contig(mm->ctx, pa, n);
}

/* A table on storage t around the root at root_pa. */
static void table_setup(struct npt_table *t, const struct npt_format *fmt,
			const struct npt_mm *mm, uint64_t root_pa)
{
	npt_memset(t, 0, sizeof(*t));
	t->fmt = fmt;
	t->mm = *mm;
	t->root_entries = npt_fmt_root_entries(fmt);
	t->root_frames = npt_fmt_root_frames(fmt);
	t->ia_mask = fmt->va_bits >= 64 ? ~0ull : (1ull << fmt->va_bits) - 1;
	t->va_shift = fmt->canonical ? 64u - fmt->va_bits : 0;
	t->root_pa = root_pa;
	t->frames = t->root_frames;
	t->root = npt_virt(t, root_pa);
	npt_memset(t->root, 0, (size_t)t->root_frames * NPT_PAGE_SIZE);
	npt_query_prepare(t);
}

static int mm_ok(const struct npt_format *fmt, const struct npt_mm *mm)
{
	return fmt && mm && mm->alloc && mm->free && mm->phys_to_virt;
}

struct npt_table *npt_init(void *mem, size_t size, const struct npt_format *fmt,
			   const struct npt_mm *mm, int *err)
{
	uint64_t root_pa;
	int e = NPT_ERR_INVAL;

	if (mm_ok(fmt, mm) && mem && size >= sizeof(struct npt_table) &&
	    !((uintptr_t)mem & (NPT_TABLE_ALIGN - 1)))
		e = root_alloc(fmt, mm, &root_pa);
	if (!e)
		table_setup(mem, fmt, mm, root_pa);
	if (err)
		*err = e;
	return e ? NULL : mem;
}

/* The handle in a frame of its own, taken from mm after the root: it need
 * not be one a table entry can point at, only one npt can reach. */
struct npt_table *npt_new(const struct npt_format *fmt, const struct npt_mm *mm, int *err)
{
	struct npt_table *t = NULL;
	uint64_t root_pa, pa;
	int e = NPT_ERR_INVAL;

	if (mm_ok(fmt, mm))
		e = root_alloc(fmt, mm, &root_pa);
	if (e)
		goto out;
	e = NPT_ERR_NOMEM;
	if (!mm->alloc(mm->ctx, &pa)) {
		t = mm_virt(mm, pa);
		e = NPT_ERR_INVAL;
		if (t && !((uintptr_t)t & (NPT_TABLE_ALIGN - 1)))
			e = 0;
		else
			mm->free(mm->ctx, pa);
	}
	if (e) {
		root_release(fmt, mm, root_pa);
		t = NULL;
		goto out;
	}
	table_setup(t, fmt, mm, root_pa);
	t->handle_frame = 1;
	t->handle_pa = pa;
out:
	if (err)
		*err = e;
	return t;
}

/* Gives back the handle's own frame, if it has one; t is gone afterwards. */
static void handle_release(struct npt_table *t)
{
	if (t->handle_frame) {
		struct npt_mm mm = t->mm;

		mm.free(mm.ctx, t->handle_pa);
	}
}

void npt_free(struct npt_table *t)
{
	if (!t)
		return;
	t->tearing_down = 1;
	npt_free_tables(t);
	root_release(t->fmt, &t->mm, t->root_pa);
	handle_release(t);
}

void npt_abandon(struct npt_table *t)
{
	if (t)
		handle_release(t); /* the handle only: no entry read, no table frame back */
}

uint64_t npt_root(const struct npt_table *t)
{
	return t ? t->root_pa : 0;
}

const struct npt_format *npt_table_format(const struct npt_table *t)
{
	return t ? t->fmt : NULL;
}

uint64_t npt_table_frames(const struct npt_table *t)
{
	return t ? t->frames : 0;
}
