/*
 * An independent walker for the x86_64 format and for `npt dump`: QEMU's
 * own. The test builds an x86_64 table with npt -- 1 GiB, 2 MiB and 4 KiB
 * leaves, holes, NX, read-only, user, uncached and global pages, in both
 * canonical halves -- and QEMU TCG boots guest/x86/mboot.S on it (the
 * tables loaded at 0x201000, the root's address at 0x200000). Once the
 * guest has turned paging on, the QEMU monitor's `info tlb` (every leaf,
 * QEMU's walk of CR3) and `info mem` (ranges of equal rights) are read,
 * and `pmemsave` writes guest RAM to a file. Then:
 *  - `npt dump` of that image (the tool, $NPT_BUILDDIR/npt) lists the
 *    leaves npt_dump lists of the table, with the accessed and dirty
 *    flags the processor set while the guest ran (D on the leaf the guest
 *    stored to);
 *  - its leaves, one by one, are QEMU's `info tlb` lines: address, output
 *    address, NX, global, page size, uncached, user, writable;
 *  - merged by rights they are QEMU's `info mem` ranges.
 * Exits 77 (skip) without qemu-system-x86_64, the guest or the tool.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "npt.h"
#include "lib/testmm.h"

#define MAILBOX 0x200000ull
#define POOL_PA 0x201000ull
#define POOL_FRAMES 255u
#define IMAGE_SIZE (4ull << 20)
#define MAXL 4096

static int failures;

#define CHECK(cond, ...)                                         \
	do {                                                     \
		if (!(cond)) {                                   \
			printf("FAIL: " __VA_ARGS__);            \
			printf("\n");                            \
			failures++;                              \
		}                                                \
	} while (0)

struct leaf {
	uint64_t va, pa, size;
	unsigned flags; /* NPT_* */
};

struct range {
	uint64_t start, end;
	int user, write;
};

static void die(const char *what)
{
	printf("FAIL: %s\n", what);
	exit(1);
}

static void map(struct npt_table *t, uint64_t va, uint64_t pa, uint64_t size, unsigned flags,
		unsigned opts)
{
	int r = npt_map_region(t, va, pa, size, flags | NPT_A, opts);

	if (r) {
		printf("FAIL: map %#" PRIx64 ": %s\n", va, npt_strerror(r));
		exit(1);
	}
}

static void build(struct npt_table *t)
{
	const unsigned rw = NPT_R | NPT_W, rwx = rw | NPT_X;
	const uint64_t hi = 0xffff800000000000ull;
	unsigned i;

	/* the guest's code, its mailbox and the tables: identity, 2 MiB */
	map(t, 0, 0, 4ull << 20, rwx | NPT_G, NPT_MAP_2M);
	/* 1 GiB leaves: user read/write no-execute, and a supervisor one high */
	map(t, 1ull << 30, 0, 1ull << 30, rw | NPT_U, NPT_MAP_1G);
	map(t, 0xffffffffc0000000ull, 0, 1ull << 30, NPT_R | NPT_X | NPT_G, NPT_MAP_1G);
	/* 2 MiB leaves, user code, and one uncached */
	map(t, 0x80000000ull, 0x400000, 6ull << 20, rwx | NPT_U, NPT_MAP_2M);
	map(t, 0x80a00000ull, 0xa00000, 2ull << 20, rw | NPT_DEVICE, NPT_MAP_2M);
	/* 4 KiB runs with holes in the high half */
	map(t, hi, 0x1000000, 16 * 4096, rw, 0);
	map(t, hi + 19 * 4096, 0x1013000, 8 * 4096, NPT_R | NPT_X, 0);
	map(t, hi + 27 * 4096, 0x2000000, 5 * 4096, NPT_R | NPT_U | NPT_DEVICE, 0);
	for (i = 0; i < 20; i += 3)
		map(t, hi + (40 + i) * 4096, 0x3000000 + (uint64_t)i * 8192, 4096, rwx | NPT_U, 0);
	/* the top of the low half, beside a 2 MiB leaf */
	map(t, 0x7fffffe00000ull, 0x600000, 2ull << 20, rw | NPT_U, NPT_MAP_2M);
	map(t, 0x7fffffc00000ull + 0x1ff000, 0x5000, 4096, rw | NPT_U, 0);
}

/* Runs cmd and returns its output, NUL-terminated. */
static char *run(const char *cmd, int *status)
{
	FILE *p = popen(cmd, "r");
	size_t n = 0, cap = 1 << 16;
	char *out = malloc(cap);

	if (!p || !out)
		die("popen");
	for (;;) {
		size_t k;

		if (n + 4096 > cap && !(out = realloc(out, cap *= 2)))
			die("realloc");
		k = fread(out + n, 1, 4096, p);
		if (!k)
			break;
		n += k;
	}
	out[n] = 0;
	*status = pclose(p);
	return out;
}

static const char *letters = "rwxumadg";

/* npt dump lines -> leaves */
static unsigned parse_dump(char *text, struct leaf *l, char lines[][128])
{
	unsigned n = 0, nl = 0;
	char *line;

	for (line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		unsigned long long a, b, pa;
		char fl[16], sz[16];
		uint64_t leaf, k;
		unsigned flags = 0, i;

		if (sscanf(line, "%llx-%llx %*s -> %llx %15s %15s", &a, &b, &pa, fl, sz) != 5)
			continue;
		snprintf(lines[nl++], 128, "%s", line);
		leaf = !strcmp(sz, "4K") ? 4096 : !strcmp(sz, "2M") ? 2ull << 20 : 1ull << 30;
		for (i = 0; i < 8; i++)
			if (fl[i] == letters[i])
				flags |= 1u << i;
		for (k = 0; k < (b - a + 1) / leaf && n < MAXL; k++, n++)
			l[n] = (struct leaf){ a + k * leaf, pa + k * leaf, leaf, flags };
	}
	return n;
}

static int dump_line(void *arg, const char *text)
{
	char (*lines)[128] = ((char (**)[128])arg)[0];
	unsigned *n = ((unsigned **)arg)[1];

	snprintf(lines[(*n)++], 128, "%s", text);
	return 0;
}

int main(void)
{
	const char *dir = getenv("NPT_BUILDDIR") ? getenv("NPT_BUILDDIR") : "build";
	static struct leaf dump[MAXL], wantl[MAXL];
	static char dlines[MAXL][128], want[MAXL][128];
	char tables[] = "/tmp/npt-qemu-tables-XXXXXX", image[] = "/tmp/npt-qemu-image-XXXXXX";
	char guest[512], tool[512], cmd[4096];
	struct testmm m;
	struct npt_table *t;
	unsigned ndump, nwant = 0, nwantl, i, ntlb = 0, nmem = 0;
	uint64_t root, header[512] = { 0 };
	char *out, *dumped, *line, *save;
	struct range mem[MAXL], merged[MAXL];
	unsigned nmerged = 0, quirks = 0;
	void *wantarg[2] = { want, &nwant };
	FILE *f;
	int err, status, fd;

	snprintf(guest, sizeof(guest), "%s/guest/x86/mboot.bin", dir);
	snprintf(tool, sizeof(tool), "%s/npt", dir);
	if (system("command -v qemu-system-x86_64 >/dev/null 2>&1") || access(guest, R_OK) ||
	    access(tool, X_OK)) {
		printf("SKIP: qemu-system-x86_64, %s or %s missing\n", guest, tool);
		return 77;
	}

	/* the table, and the file QEMU loads at MAILBOX: the root's address,
	 * then the pool's frames */
	if (testmm_init(&m, POOL_PA, POOL_FRAMES))
		die("testmm_init");
	t = npt_new(npt_format_by_name("x86_64"), &m.mm, &err);
	if (!t)
		die("npt_new");
	build(t);
	root = npt_root(t);
	header[0] = npt_x86_cr3(t);
	if ((fd = mkstemp(tables)) < 0 || !(f = fdopen(fd, "wb")) ||
	    fwrite(header, 1, 4096, f) != 4096 ||
	    fwrite(testmm_va(&m, POOL_PA), 4096, POOL_FRAMES, f) != POOL_FRAMES || fclose(f))
		die("writing the tables");
	if ((fd = mkstemp(image)) < 0)
		die("mkstemp");
	close(fd);
	if (npt_dump(t, 0, 1ull << 47, dump_line, wantarg) ||
	    npt_dump(t, 0xffff800000000000ull, 1ull << 47, dump_line, wantarg))
		die("npt_dump");

	/* QEMU: boot (SeaBIOS, then the multiboot guest: about a second under
	 * TCG; six leave room for a loaded machine), then the monitor */
	snprintf(cmd, sizeof(cmd),
		 "(sleep 6; echo 'info tlb'; echo 'info mem'; echo 'pmemsave 0 %#llx \"%s\"'; sleep 1; "
		 "echo quit) | timeout 60 qemu-system-x86_64 -accel tcg -cpu qemu64,+pdpe1gb,+nx "
		 "-m 64M -display none -vga none -serial none -nic none -no-reboot -monitor stdio "
		 "-kernel %s -device loader,file=%s,addr=%#llx,force-raw=on 2>&1",
		 (unsigned long long)IMAGE_SIZE, image, guest, tables, (unsigned long long)MAILBOX);
	out = run(cmd, &status);
	CHECK(status == 0, "qemu exited with %d:\n%s", status, out);
	{
		uint64_t box[2] = { 0, 0 };

		f = fopen(image, "rb");
		if (!f || fseek(f, (long)MAILBOX, SEEK_SET) || fread(box, 8, 2, f) != 2) {
			printf("FAIL: no image from pmemsave; %s said:\n%s\n", cmd, out);
			unlink(tables);
			unlink(image);
			free(out);
			return 1;
		}
		fclose(f);
		if (box[1] != 0x600dc0de) {
			printf("FAIL: the guest did not turn paging on (mailbox %#llx); QEMU said:\n%s",
			       (unsigned long long)box[1], out);
			unlink(tables);
			unlink(image);
			free(out);
			return 1;
		}
	}

	/* npt dump of the image: what npt_dump prints of the table */
	snprintf(cmd, sizeof(cmd), "%s dump --format x86_64 --root %#llx %s", tool,
		 (unsigned long long)root, image);
	dumped = run(cmd, &status);
	CHECK(status == 0, "%s: exit %d: %s", cmd, status, dumped);
	ndump = parse_dump(dumped, dump, dlines);
	{
		/* the same leaves as npt_dump of the table, but for the accessed
		 * and dirty flags the processor set while the guest ran: D on
		 * the 2 MiB leaf of its mailbox store */
		char joined[MAXL * 128] = "";

		for (i = 0; i < nwant; i++)
			strcat(strcat(joined, want[i]), "\n");
		nwantl = parse_dump(joined, wantl, dlines);
	}
	CHECK(ndump > 0 && ndump == nwantl, "%u leaves in npt dump of the image, %u in npt_dump",
	      ndump, nwantl);
	for (i = 0; i < ndump && i < nwantl; i++)
		CHECK(dump[i].va == wantl[i].va && dump[i].pa == wantl[i].pa &&
			      dump[i].size == wantl[i].size &&
			      (dump[i].flags & ~(NPT_A | NPT_D)) == (wantl[i].flags & ~(NPT_A | NPT_D)),
		      "leaf %u: npt dump of the image %#llx -> %#llx flags %#x, npt_dump %#llx -> %#llx %#x",
		      i, (unsigned long long)dump[i].va, (unsigned long long)dump[i].pa, dump[i].flags,
		      (unsigned long long)wantl[i].va, (unsigned long long)wantl[i].pa, wantl[i].flags);
	for (i = 0; i < ndump; i++)
		if (dump[i].va <= MAILBOX && MAILBOX < dump[i].va + dump[i].size)
			CHECK(dump[i].flags & NPT_D, "the mailbox's leaf is not dirty in the image");

	/* QEMU's walker: every info tlb line is the next leaf of the dump */
	for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		unsigned long long va, pa, start, end, size;
		char fl[16], prot[8];

		if (sscanf(line, "%llx: %llx %15s", &va, &pa, fl) == 3 && strlen(fl) == 9) {
			/* X G P D A C T U W */
			const struct leaf *l = ntlb < ndump ? &dump[ntlb] : NULL;

			ntlb++;
			CHECK(l && l->va == va && l->pa == pa, "info tlb: %s; npt dump: %#llx -> %#llx",
			      line, l ? (unsigned long long)l->va : 0ull,
			      l ? (unsigned long long)l->pa : 0ull);
			if (!l)
				continue;
			CHECK((fl[0] == 'X') == !(l->flags & NPT_X), "NX: %s", line);
			CHECK((fl[1] == 'G') == !!(l->flags & NPT_G), "G: %s", line);
			CHECK((fl[2] == 'P') == (l->size > 4096), "PS: %s", line);
			CHECK((fl[5] == 'C' && fl[6] == 'T') == !!(l->flags & NPT_DEVICE), "PCD/PWT: %s",
			      line);
			CHECK((fl[7] == 'U') == !!(l->flags & NPT_U), "U: %s", line);
			CHECK((fl[8] == 'W') == !!(l->flags & NPT_W), "W: %s", line);
		} else if (sscanf(line, "%llx-%llx %llx %7s", &start, &end, &size, prot) == 4 &&
			   strlen(prot) == 3 && nmem < MAXL) {
			mem[nmem++] = (struct range){ start, end, prot[0] == 'u', prot[2] == 'w' };
		}
	}
	CHECK(ntlb == ndump, "info tlb lists %u leaves, npt dump %u", ntlb, ndump);

	/* info mem: the dump's leaves merged where addresses follow on and
	 * user and write rights are equal */
	for (i = 0; i < ndump; i++) {
		struct range *r = nmerged ? &merged[nmerged - 1] : NULL;
		const int u = !!(dump[i].flags & NPT_U), w = !!(dump[i].flags & NPT_W);

		if (r && r->end == dump[i].va && r->user == u && r->write == w)
			r->end += dump[i].size;
		else
			merged[nmerged++] = (struct range){ dump[i].va, dump[i].va + dump[i].size, u, w };
	}
	CHECK(nmem == nmerged, "info mem lists %u ranges, the dump merges into %u", nmem, nmerged);
	for (i = 0; i < nmem && i < nmerged; i++) {
		/* QEMU 7.2's info mem (target/i386/monitor.c, mem_info_la48) ends
		 * a range at the address of the next root entry it looks at: a
		 * range reaching the top of the low half ends at the first
		 * address of the high half, and one reaching the top of the
		 * high half at 2^48 (not sign-extended). Accepted in exactly
		 * those two forms, and counted. */
		if ((merged[i].end == 0x0000800000000000ull && mem[i].end == 0xffff800000000000ull) ||
		    (merged[i].end == 0 && mem[i].end == 0x0001000000000000ull)) {
			quirks++;
			mem[i].end = merged[i].end;
		}
		CHECK(mem[i].start == merged[i].start && mem[i].end == merged[i].end &&
			      mem[i].user == merged[i].user && mem[i].write == merged[i].write,
		      "info mem range %u: %#llx-%#llx u%d w%d, from the dump %#llx-%#llx u%d w%d", i,
		      (unsigned long long)mem[i].start, (unsigned long long)mem[i].end, mem[i].user,
		      mem[i].write, (unsigned long long)merged[i].start,
		      (unsigned long long)merged[i].end, merged[i].user, merged[i].write);
	}
	CHECK(quirks == 2, "%u info mem ends at the canonical hole and the top, want 2", quirks);
	if (!failures)
		printf("QEMU TCG walked npt's x86_64 table: %u leaves in info tlb, %u ranges in info mem "
		       "(%u range ends in QEMU's form), npt dump of its pmemsave image alike\n", ntlb,
		       nmem, quirks);
	unlink(tables);
	unlink(image);
	free(out);
	free(dumped);
	npt_abandon(t);
	testmm_destroy(&m);
	return failures ? 1 : 0;
}
