/*
 * Run kernels: the loops over a run of entries of one table, where the range
 * operations (the walker's leaf-table and empty-table actions) spend their
 * time. Written with GNU vector extensions
 * (two entries per vector, four vectors per cache line, independent of one
 * another): a scalar loop is held to about one entry per cycle by its single
 * dependency chain, a quarter of what the stores and loads can do (see
 * `ninja bench`). Plain vector stores go only to tables no reader can see yet
 * (fresh tables, published afterwards); an entry readers may see is written
 * whole, with one atomic 64-bit store (npt_pte_set, internal.h) or, on x86
 * with AVX2, an atomic 16-byte store of two (below). Tables may be 8-byte
 * aligned only in virtual memory (phys_to_virt promises no more), hence
 * aligned(8).
 */
#include "runs.h"

/* Vector code is a build choice (configure.py --simd): NPT_SIMD=1 (auto, the
 * user-space default) compiles the vector kernels below, and on x86-64 the
 * AVX2 ones picked at run time; without it (off, the freestanding default)
 * every loop is plain scalar C, and the build's flags keep the compiler from
 * vectorising on its own (HACKING.md, "Targets"). */
#ifndef NPT_SIMD
#define NPT_SIMD 0
#endif

#if NPT_SIMD && defined(__GNUC__)
#define NPT_VEC 1
typedef uint64_t v2u64 __attribute__((vector_size(16), aligned(8), may_alias));
#define V2(x) ((v2u64){ (x), (x) })
#endif

/* The two entries at p[k], p[k + 1] as one vector. */
#define V2AT(p, k) (*(const v2u64 *)((p) + (k)))

/* tbl[lo..hi] = bits | (addr + k * step) for k = 0, 1, ...: a run of leaves
 * of consecutive output addresses (addr and step already in entry bits; the
 * addresses stay inside amask, the format's address field), in a table no
 * reader can see yet. */
void npt_run_fill(uint64_t *tbl, unsigned lo, unsigned hi, uint64_t bits, uint64_t addr,
			  uint64_t step, uint64_t amask)
{
	uint64_t *p = &tbl[lo];
	uint64_t *const end = &tbl[hi] + 1;

#ifdef NPT_VEC
	/* Leaf bits outside the address field (every format's encoding): then
	 * bits | addr == bits + addr, and the entries themselves can be stepped. */
	if (!(bits & amask) && end - p >= 16) {
		uint64_t pte = bits | addr;

		for (; (uintptr_t)p & 63; p++, pte += step)
			*p = pte;
		{
			const v2u64 s8 = V2(8 * step);
			v2u64 a0 = { pte, pte + step };
			v2u64 a1 = a0 + V2(2 * step), a2 = a0 + V2(4 * step), a3 = a0 + V2(6 * step);

			for (; end - p >= 8; p += 8) {
				((v2u64 *)p)[0] = a0;
				((v2u64 *)p)[1] = a1;
				((v2u64 *)p)[2] = a2;
				((v2u64 *)p)[3] = a3;
				a0 += s8, a1 += s8, a2 += s8, a3 += s8;
			}
			addr = a0[0] & ~bits;
		}
	}
#else
	(void)amask;
#endif
	for (; p < end; p++, addr += step)
		*p = bits | addr;
}


/* 1 if every entry of tbl[lo..hi] is present. */
int npt_run_all_present(const struct npt_format *f, const uint64_t *tbl, unsigned lo,
			unsigned hi)
{
	const uint64_t m = f->present_mask;
	const uint64_t *p = &tbl[lo], *const end = &tbl[hi] + 1;

#ifdef NPT_VEC
	if (end - p >= 16) {
		/* A present bit set in the AND of all entries is set in each: then
		 * all are present (one operation per two entries). With a single
		 * present bit that is also the only way; with several (EPT's R, W,
		 * X) an entry may use another, so a miss is decided exactly below. */
		const uint64_t *const start = p;
		v2u64 all = V2(~0ull);

		for (; end - p >= 8; p += 8)
			all &= V2AT(p, 0) & V2AT(p, 2) & V2AT(p, 4) & V2AT(p, 6);
		if (!(all[0] & all[1] & m)) {
			if (!(m & (m - 1)))
				return 0;
			p = start;
			if (!(m >> 63)) {
				/* x = entry & m < 2^63: x - 1 has bit 63 set iff x == 0. */
				const v2u64 vm = V2(m), one = V2(1);
				v2u64 acc = V2(0);

				for (; end - p >= 8; p += 8)
					acc |= ((V2AT(p, 0) & vm) - one) | ((V2AT(p, 2) & vm) - one) |
					       ((V2AT(p, 4) & vm) - one) | ((V2AT(p, 6) & vm) - one);
				if ((acc[0] | acc[1]) >> 63)
					return 0;
			} else {
				/* x | -x has bit 63 set iff x != 0, for any x. */
				const v2u64 vm = V2(m), zero = V2(0);
				v2u64 acc = V2(~0ull), x0, x1, x2, x3;

				for (; end - p >= 8; p += 8) {
					x0 = V2AT(p, 0) & vm;
					x1 = V2AT(p, 2) & vm;
					x2 = V2AT(p, 4) & vm;
					x3 = V2AT(p, 6) & vm;
					acc &= (x0 | (zero - x0)) & (x1 | (zero - x1)) &
					       (x2 | (zero - x2)) & (x3 | (zero - x3));
				}
				if (!(acc[0] & acc[1] & (1ull << 63)))
					return 0;
			}
		}
	}
#endif
	for (; p < end; p++)
		if (!(*p & m))
			return 0;
	return 1;
}

/* 1 if any entry of tbl[lo..hi] is present. */
int npt_run_any_present(const struct npt_format *f, const uint64_t *tbl, unsigned lo,
			unsigned hi)
{
	const uint64_t m = f->present_mask;
	const uint64_t *p = &tbl[lo], *const end = &tbl[hi] + 1;

#ifdef NPT_VEC
	if (end - p >= 16) {
		v2u64 acc = V2(0);

		for (; end - p >= 8; p += 8)
			acc |= V2AT(p, 0) | V2AT(p, 2) | V2AT(p, 4) | V2AT(p, 6);
		if ((acc[0] | acc[1]) & m)
			return 1;
	}
#endif
	for (; p < end; p++)
		if (*p & m)
			return 1;
	return 0;
}

/* tbl[i] = bits | (tbl[i] & amask) for i in [i, end), writing only the
 * entries that change (an unchanged entry is never stored to, so an A/D bit
 * the hardware sets in it meanwhile stays). Returns 1 if any entry changed. */
static int protect_entries(uint64_t *tbl, unsigned i, unsigned end, uint64_t bits,
			   uint64_t amask)
{
	int changed = 0;

	for (; i < end; i++) {
		uint64_t pte = bits | (tbl[i] & amask);
		if (pte != tbl[i]) {
			npt_pte_set(&tbl[i], pte);
			changed = 1;
		}
	}
	return changed;
}

/* ---- x86-64 with AVX2 ------------------------------------------------------
 * Entries readers may see (a live table under protect or unmap) cannot take
 * plain vector stores: only aligned 8-byte stores are promised whole. But an
 * aligned 16-byte VMOVDQA (VEX.128) store is atomic on every processor that
 * reports AVX, for cacheable memory (Intel SDM vol. 3A §10.1.1 "Guaranteed
 * Atomic Operations"; AMD APM vol. 2 §7.3.2 "Access Atomicity"), so two
 * entries at a time are never seen torn either. The stores are inline
 * assembly so that the compiler can neither merge them into a 32-byte store
 * (not promised) nor split them. Loads may be 32 bytes: protect keeps only
 * an entry's address bits from them, which nothing changes under it. On this
 * machine's bench (`ninja bench`, protect_region of 1 GiB of 4 KiB leaves):
 * read-modify-write with one 8-byte store per entry ran at 6x the memset
 * floor, with these stores at about 2.3x, and written from entry 0 without
 * reading (npt_run_protect_seq) at 1.6x. Not under ThreadSanitizer, which
 * must see every store. */
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define NPT_TSAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define NPT_TSAN 1
#endif

#if NPT_SIMD && defined(__x86_64__) && defined(__GNUC__) && !defined(NPT_TSAN)
#include <cpuid.h>
#include <immintrin.h>
#if __STDC_HOSTED__
#include <stdlib.h> /* getenv: NPT_X86_NO_AVX2, a user-space debugging aid */
#endif
#define NPT_X86_WIDE 1
/* Each kernel starts a cache line, so its loop sits the same way whatever
 * is linked before it: the loops are short enough that where they cross a
 * fetch block shows in `ninja bench`. */
#define NPT_AVX2 __attribute__((target("avx2,prfchw"), aligned(64)))
/* p[0], p[1] = v: one atomic 16-byte store (p 16-byte aligned). */
#define STORE_PAIR(p, v) __asm__("vmovdqa %1, %0" : "=m"(*(__m128i *)(p)) : "x"(v))

/* 1 if AVX2 code runs here: CPUID.01H:ECX.OSXSAVE[27] and AVX[28], XCR0
 * saving XMM and YMM state (bits 2:1), CPUID.(EAX=07H,ECX=0):EBX.AVX2[5]
 * (SDM vol. 1 §14.3 "Detection of Intel AVX Instructions"). In user space
 * NPT_X86_NO_AVX2 in the environment says no: the tests run the portable
 * kernels with it. */
static int x86_wide(void)
{
	static int known; /* 0: not asked yet, 1: no, 2: yes */
	int k = __atomic_load_n(&known, __ATOMIC_RELAXED);

	if (!k) {
		unsigned a, b, c, d, xlo, xhi;
		int ok = __get_cpuid(1, &a, &b, &c, &d) && (c >> 27 & 1) && (c >> 28 & 1);

		if (ok) {
			__asm__ volatile("xgetbv" : "=a"(xlo), "=d"(xhi) : "c"(0));
			ok = (xlo & 6) == 6;
		}
		ok = ok && __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b >> 5 & 1);
#if __STDC_HOSTED__
		ok = ok && !getenv("NPT_X86_NO_AVX2");
#endif
		k = ok ? 2 : 1;
		__atomic_store_n(&known, k, __ATOMIC_RELAXED);
	}
	return k == 2;
}

/* npt_run_protect for a 16-byte aligned table: a cache line (eight entries)
 * per step, all eight rewritten when all change (the usual case: a run of
 * pages mapped alike), else entry by entry. Each step also prefetches, for
 * reading, the same line of the next table of the range: the tables of a
 * range are scattered frames, and the hardware prefetchers do not cross a
 * page (a prefetch for reading: the line is read before it is written). */
NPT_AVX2 static int protect_avx2(uint64_t *tbl, unsigned lo, unsigned hi, uint64_t bits,
				 uint64_t amask, const uint64_t *next)
{
	const __m256i vb = _mm256_set1_epi64x((long long)bits);
	const __m256i vm = _mm256_set1_epi64x((long long)amask);
	const __m256i vn = _mm256_set1_epi64x((long long)~amask);
	uint64_t *p = &tbl[lo], *const end = &tbl[hi] + 1;
	int changed = 0;

	for (; ((p - tbl) & 7) && p < end; p++)
		changed |= protect_entries(p, 0, 1, bits, amask);
	for (; end - p >= 8; p += 8) {
		__m256i a = _mm256_loadu_si256((const __m256i *)p);
		__m256i b = _mm256_loadu_si256((const __m256i *)(p + 4));
		/* a bit outside the address set in every entry ^ bits: all change */
		const __m256i all = _mm256_and_si256(_mm256_xor_si256(a, vb), _mm256_xor_si256(b, vb));

		if (next)
			__builtin_prefetch(next + (p - tbl), 0, 3);
		if (_mm256_testz_si256(all, vn)) {
			changed |= protect_entries(p, 0, 8, bits, amask);
			continue;
		}
		a = _mm256_or_si256(_mm256_and_si256(a, vm), vb);
		b = _mm256_or_si256(_mm256_and_si256(b, vm), vb);
		STORE_PAIR(p, _mm256_castsi256_si128(a));
		STORE_PAIR(p + 2, _mm256_extracti128_si256(a, 1));
		STORE_PAIR(p + 4, _mm256_castsi256_si128(b));
		STORE_PAIR(p + 6, _mm256_extracti128_si256(b, 1));
		changed = 1;
	}
	return protect_entries(p, 0, (unsigned)(end - p), bits, amask) | changed;
}

/* npt_run_protect_seq for a 16-byte aligned table: write-only, a line per
 * step, prefetching the next table's line for writing (the range's next
 * leaf table is written next, and not read). */
NPT_AVX2 static void protect_seq_avx2(uint64_t *tbl, uint64_t bits, uint64_t addr, uint64_t step,
				      const uint64_t *next)
{
	const __m256i s8 = _mm256_set1_epi64x((long long)(8 * step));
	__m256i a = _mm256_add_epi64(_mm256_set1_epi64x((long long)(bits | addr)),
				     _mm256_set_epi64x((long long)(3 * step), (long long)(2 * step),
						       (long long)step, 0));
	__m256i b = _mm256_add_epi64(a, _mm256_set1_epi64x((long long)(4 * step)));
	uint64_t *p = tbl;

	for (; p < tbl + NPT_ENTRIES; p += 8) {
		if (next)
			__builtin_prefetch(next + (p - tbl), 1, 3);
		STORE_PAIR(p, _mm256_castsi256_si128(a));
		STORE_PAIR(p + 2, _mm256_extracti128_si256(a, 1));
		STORE_PAIR(p + 4, _mm256_castsi256_si128(b));
		STORE_PAIR(p + 6, _mm256_extracti128_si256(b, 1));
		a = _mm256_add_epi64(a, s8);
		b = _mm256_add_epi64(b, s8);
	}
}

/* npt_run_clear for a 16-byte aligned table, two entries per store. */
NPT_AVX2 static void clear_avx2(uint64_t *tbl, unsigned lo, unsigned hi)
{
	uint64_t *p = &tbl[lo], *const end = &tbl[hi] + 1;

	if ((p - tbl) & 1)
		npt_pte_set(p++, 0);
	for (; end - p >= 2; p += 2)
		STORE_PAIR(p, _mm_setzero_si128());
	if (p < end)
		npt_pte_set(p, 0);
}
#endif

int npt_run_protect(uint64_t *tbl, unsigned lo, unsigned hi, uint64_t bits, uint64_t amask,
		    const uint64_t *next)
{
	uint64_t *p = &tbl[lo], *const end = &tbl[hi] + 1;
	int changed = 0;

#ifdef NPT_X86_WIDE
	if (!(bits & amask) && !((uintptr_t)tbl & 15) && x86_wide())
		return protect_avx2(tbl, lo, hi, bits, amask, next);
#endif
	(void)next;
#ifdef NPT_VEC
	/* A line at a time where all of its entries change, as protect_avx2,
	 * each entry stored with one atomic 64-bit store. */
	if (!(bits & amask)) {
		const v2u64 vb = V2(bits), vm = V2(amask);

		for (; end - p >= 8; p += 8) {
			const v2u64 *v = (const v2u64 *)p;
			const v2u64 o0 = v[0], o1 = v[1], o2 = v[2], o3 = v[3];
			const v2u64 all = (o0 ^ vb) & (o1 ^ vb) & (o2 ^ vb) & (o3 ^ vb);
			v2u64 n0, n1, n2, n3;

			if (!(all[0] & all[1] & ~amask)) {
				changed |= protect_entries(p, 0, 8, bits, amask);
				continue;
			}
			n0 = (o0 & vm) | vb, n1 = (o1 & vm) | vb;
			n2 = (o2 & vm) | vb, n3 = (o3 & vm) | vb;
			npt_pte_set(&p[0], n0[0]), npt_pte_set(&p[1], n0[1]);
			npt_pte_set(&p[2], n1[0]), npt_pte_set(&p[3], n1[1]);
			npt_pte_set(&p[4], n2[0]), npt_pte_set(&p[5], n2[1]);
			npt_pte_set(&p[6], n3[0]), npt_pte_set(&p[7], n3[1]);
			changed = 1;
		}
	}
#endif
	return protect_entries(p, 0, (unsigned)(end - p), bits, amask) | changed;
}

void npt_run_protect_seq(uint64_t *tbl, uint64_t bits, uint64_t addr, uint64_t step,
			 const uint64_t *next)
{
	unsigned i;

	/* bits | addr == bits + addr: the address field holds no bit of bits */
#ifdef NPT_X86_WIDE
	if (!((uintptr_t)tbl & 15) && x86_wide()) {
		protect_seq_avx2(tbl, bits, addr, step, next);
		return;
	}
#endif
	(void)next;
	for (i = 0; i < NPT_ENTRIES; i++, addr += step)
		npt_pte_set(&tbl[i], bits | addr);
}

int npt_run_is_full_run(const struct npt_format *f, const uint64_t *tbl)
{
	const uint64_t amask = f->addr_mask, step = NPT_PAGE_SIZE >> f->addr_shift;
	uint64_t addr = tbl[0] & amask;
	unsigned i;

	for (i = 0; i < NPT_ENTRIES; i++, addr += step)
		if (!npt_pte_present(f, tbl[i]) || (tbl[i] & amask) != addr)
			return 0;
	return 1;
}

void npt_run_clear(uint64_t *tbl, unsigned lo, unsigned hi)
{
	unsigned i;

#ifdef NPT_X86_WIDE
	if (hi - lo >= 8 && !((uintptr_t)tbl & 15) && x86_wide()) {
		clear_avx2(tbl, lo, hi);
		return;
	}
#endif
	for (i = lo; i <= hi; i++)
		npt_pte_set(&tbl[i], 0);
}
