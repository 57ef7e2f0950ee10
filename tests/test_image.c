/*
 * The inspector's image walker (inspect/image.c) and the `npt` tool.
 *
 *  - t_dump: on every format, random tables (4 KiB runs, huge leaves,
 *    holes, several flag sets) in a testmm pool; the pool's memory is an
 *    image, as pmemsave would write it (base = the pool's first physical
 *    address), and image_dump of it must print exactly what npt_dump prints
 *    of the table. Where the build tree has the tool ($NPT_BUILDDIR/npt),
 *    the same image goes through `npt dump` and `npt translate` too.
 *  - t_refused: an image too short for the root, a root outside it, a
 *    table pointer outside it, a loop back to the root or to the table
 *    itself, a budget spent by a table shared 512 times: each a message,
 *    and not one line printed after the first bad table.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/check_main.h"
#include "lib/tutil.h"
#include "../inspect/image.c"

struct lines {
	char **text;
	unsigned n, cap;
};

static int add_line(void *arg, const char *text)
{
	struct lines *l = arg;

	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 64;
		l->text = realloc(l->text, l->cap * sizeof(*l->text));
		ck_assert_ptr_nonnull(l->text);
	}
	l->text[l->n++] = strdup(text);
	return 0;
}

static void free_lines(struct lines *l)
{
	while (l->n)
		free(l->text[--l->n]);
	free(l->text);
	memset(l, 0, sizeof(*l));
}

static void same_lines(const struct lines *a, const struct lines *b, const char *what)
{
	unsigned i;

	ck_assert_msg(a->n == b->n, "%s: %u lines, npt_dump %u", what, a->n, b->n);
	for (i = 0; i < a->n; i++)
		ck_assert_msg(!strcmp(a->text[i], b->text[i]), "%s line %u: '%s', npt_dump '%s'",
			      what, i, a->text[i], b->text[i]);
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Random maps over the context's areas: runs of 4 KiB pages with holes,
 * huge leaves of each size the format has, flags from the valid sets. */
static void fill(struct fctx *c, struct npt_table *t, uint64_t seed)
{
	uint64_t s = seed * 0x9e3779b97f4a7c15ull + 1;
	unsigned k;

	for (k = 0; k < 40; k++) {
		unsigned lv = (unsigned)(rnd(&s) % 3), fl = c->valid[rnd(&s) % c->nvalid];
		uint64_t size = lv && fctx_has_leaf(c, lv) ? lsize(lv) : PG * (1 + rnd(&s) % 40);
		/* 1 GiB leaves in GiB 8-15 of the area, the rest in GiB 0 */
		uint64_t va = fctx_area(c, lsize(2), 16 * lsize(2)) +
			      (lv == 2 ? (8 + rnd(&s) % 8) * lsize(2) : (rnd(&s) % 512) * lsize(1));
		uint64_t pa = fctx_pa(c, lsize(2), 8 * lsize(2)) & ~(lsize(2) - 1);

		if (lv && !fctx_has_leaf(c, lv))
			lv = 0;
		(void)npt_map_region(t, va & ~(size - 1), pa + (rnd(&s) % 8) * lsize(lv ? lv : 1),
				     size, fl, lv ? fctx_opts(c, 1u << lv) : 0);
	}
	ck_assert_uint_gt(npt_table_frames(t), c->info.root_frames);
}

/* `npt dump` (and a few `npt translate`) of the image in a file, when the
 * tool is built here. */
static void tool(struct fctx *c, struct npt_table *t, const struct npt_image *im,
		 const struct lines *want)
{
	const char *dir = getenv("NPT_BUILDDIR");
	char exe[256], path[] = "/tmp/npt-image-XXXXXX", cmd[1024], buf[512];
	struct lines got = { 0 };
	FILE *f, *p;
	int fd;
	unsigned k;
	uint64_t s = 7;

	if (!dir)
		return;
	snprintf(exe, sizeof(exe), "%s/npt", dir);
	if (access(exe, X_OK))
		return;
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	f = fdopen(fd, "wb");
	ck_assert_uint_eq(fwrite(im->mem, 1, im->size, f), im->size);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "%s dump --format %s --root %#llx --base %#llx %s", exe, c->name,
		 (unsigned long long)npt_root(t), (unsigned long long)im->base, path);
	p = popen(cmd, "r");
	ck_assert_ptr_nonnull(p);
	while (fgets(buf, sizeof(buf), p)) {
		buf[strcspn(buf, "\n")] = 0;
		add_line(&got, buf);
	}
	ck_assert_int_eq(pclose(p), 0);
	same_lines(&got, want, cmd);
	free_lines(&got);
	/* translate the first address of a few runs: the tool's last line is
	 * "VA -> PA flags, page N KiB" with npt_query's PA */
	for (k = 0; k < want->n && k < 40; k += 1 + (unsigned)(rnd(&s) % 4)) {
		uint64_t va = strtoull(want->text[k], NULL, 16), pa, q;
		unsigned fl;
		int status;

		ck_assert_int_eq(npt_query(t, va, &pa, &fl, NULL), 0);
		if (!(fl & (NPT_R | NPT_W | NPT_X)))
			continue; /* a leaf that allows nothing (Arm stage 2 has them) */
		snprintf(cmd, sizeof(cmd), "%s translate --format %s --root %#llx --base %#llx --access %s %s %#llx 2>&1",
			 exe, c->name, (unsigned long long)npt_root(t), (unsigned long long)im->base,
			 fl & NPT_R ? (fl & NPT_U ? "ru" : "r") : fl & NPT_X ? (fl & NPT_U ? "xu" : "x")
								       : (fl & NPT_U ? "wu" : "w"),
			 path,
			 (unsigned long long)va);
		p = popen(cmd, "r");
		ck_assert_ptr_nonnull(p);
		buf[0] = 0;
		while (fgets(buf + 256, 256, p))
			memcpy(buf, buf + 256, 256);
		status = pclose(p);
		if (!strcmp(c->name, "loongarch64"))
			continue; /* no hardware model: refused, exit 2 */
		ck_assert_msg(status == 0, "%s: exit %d, last line %s", cmd, status, buf);
		ck_assert_msg(sscanf(buf, "%*x -> %llx", (unsigned long long *)&q) == 1 && q == pa,
			      "%s: '%s', npt_query says %#llx", cmd, buf, (unsigned long long)pa);
	}
	unlink(path);
}

START_TEST(t_dump)
{
	struct fctx c;
	unsigned seed;

	for (seed = 1; seed <= 3; seed++) {
		struct lines want = { 0 }, got = { 0 };
		struct npt_image im;
		struct npt_table *t;
		char err[256];

		fctx_init(&c, _i, 4096, 1);
		t = fctx_new(&c);
		fill(&c, t, seed * 31 + _i);
		ck_assert_int_eq(npt_dump(t, 0, c.lo_end, add_line, &want), 0);
		if (c.hi_start)
			ck_assert_int_eq(npt_dump(t, c.hi_start, -c.hi_start, add_line, &want), 0);
		ck_assert_uint_gt(want.n, 3);
		im.mem = testmm_va(&c.mm, 0x40000000);
		im.size = c.mm.nframes * PG;
		im.base = 0x40000000;
		ck_assert_msg(image_dump(&im, c.fmt, npt_root(t), IMAGE_BUDGET, add_line, &got, err,
					 sizeof(err)) == 0, "%s: %s", c.name, err);
		same_lines(&got, &want, c.name);
		if (seed == 1)
			tool(&c, t, &im, &want);
		free_lines(&want);
		free_lines(&got);
		npt_free(t);
		fctx_fini(&c);
	}
}
END_TEST

static int count_line(void *arg, const char *text)
{
	(void)text;
	++*(unsigned *)arg;
	return 0;
}

START_TEST(t_refused)
{
	static uint64_t mem[6 * 512] __attribute__((aligned(4096)));
	const struct npt_format *f = npt_format_by_name("x86_64");
	struct npt_image im = { (const unsigned char *)mem, sizeof(mem), 0x100000 };
	unsigned lines = 0, i;
	char err[256];

	/* root at page 0, a level-2 table at page 1, a level-1 table at page 2,
	 * a leaf table at page 3 with one page */
	memset(mem, 0, sizeof(mem));
	mem[0] = 0x101000 | 7;
	mem[512] = 0x102000 | 7;
	mem[1024] = 0x103000 | 7;
	mem[1536] = 0x200000 | 3;
	ck_assert_int_eq(image_dump(&im, f, 0x100000, IMAGE_BUDGET, count_line, &lines, err,
				    sizeof(err)), 0);
	ck_assert_uint_eq(lines, 1);

	/* too short, and roots outside */
	im.size = 4095;
	ck_assert_int_eq(image_dump(&im, f, 0x100000, IMAGE_BUDGET, count_line, &lines, err,
				    sizeof(err)), -1);
	ck_assert_msg(strstr(err, "not inside the image"), "%s", err);
	im.size = sizeof(mem);
	ck_assert_int_eq(image_dump(&im, f, 0xff000, IMAGE_BUDGET, count_line, &lines, err,
				    sizeof(err)), -1);
	ck_assert_int_eq(image_dump(&im, f, 0x106000, IMAGE_BUDGET, count_line, &lines, err,
				    sizeof(err)), -1);
	ck_assert_int_eq(image_dump(&im, f, 0x100800, IMAGE_BUDGET, count_line, &lines, err,
				    sizeof(err)), -1);
	ck_assert_int_eq(image_dump(&im, f, ~0xfffull, IMAGE_BUDGET, count_line, &lines, err,
				    sizeof(err)), -1);

	/* a table pointer outside */
	mem[1024] = 0x900000 | 7;
	lines = 0;
	ck_assert_int_eq(image_dump(&im, f, 0x100000, IMAGE_BUDGET, count_line, &lines, err,
				    sizeof(err)), -1);
	ck_assert_msg(strstr(err, "outside the image"), "%s", err);
	ck_assert_uint_eq(lines, 0);
	mem[1024] = 0x103000 | 7;

	/* loops: back to the root, and to the table itself */
	mem[1024 + 1] = 0x100000 | 7;
	ck_assert_int_eq(image_dump(&im, f, 0x100000, IMAGE_BUDGET, count_line, &lines, err,
				    sizeof(err)), -1);
	ck_assert_msg(strstr(err, "loop"), "%s", err);
	mem[1024 + 1] = 0;
	mem[512 + 1] = 0x101000 | 7;
	ck_assert_int_eq(image_dump(&im, f, 0x100000, IMAGE_BUDGET, count_line, &lines, err,
				    sizeof(err)), -1);
	ck_assert_msg(strstr(err, "loop"), "%s", err);
	mem[512 + 1] = 0;

	/* a level-1 table shared by all 512 entries of the level-2 table: no
	 * loop, but 512 x 512 entries more than a small budget */
	for (i = 0; i < 512; i++)
		mem[512 + i] = 0x102000 | 7;
	lines = 0;
	ck_assert_int_eq(image_dump(&im, f, 0x100000, IMAGE_BUDGET, count_line, &lines, err,
				    sizeof(err)), 0);
	ck_assert_uint_eq(lines, 512);
	ck_assert_int_eq(image_dump(&im, f, 0x100000, 100000, count_line, &lines, err,
				    sizeof(err)), -1);
	ck_assert_msg(strstr(err, "more than 100000 entries"), "%s", err);

	/* a pointer to the last page of the image reaches its end exactly */
	memset(mem, 0, sizeof(mem));
	mem[0] = 0x105000 | 7;
	ck_assert_int_eq(image_dump(&im, f, 0x100000, IMAGE_BUDGET, count_line, &lines, err,
				    sizeof(err)), 0);
	im.size -= 8;
	ck_assert_int_eq(image_dump(&im, f, 0x100000, IMAGE_BUDGET, count_line, &lines, err,
				    sizeof(err)), -1);
}
END_TEST

/* npt_dump_line's refusals, and a line for a run it is given */
START_TEST(t_dump_line)
{
	struct npt_visit v = { NPT_WALK_RUNS, 1, 0x40000000, 3ull << 21, 0, 0x80000000,
			       NPT_R | NPT_W | NPT_A, 0 };
	char text[NPT_DUMP_LINE];

	memset(text, 'x', sizeof(text));
	ck_assert_int_eq(npt_dump_line(NULL, text, sizeof(text)), NPT_ERR_INVAL);
	ck_assert_int_eq(npt_dump_line(&v, NULL, sizeof(text)), NPT_ERR_INVAL);
	ck_assert_int_eq(npt_dump_line(&v, text, NPT_DUMP_LINE - 1), NPT_ERR_INVAL);
	ck_assert_int_eq(text[0], 'x'); /* nothing written */
	ck_assert_int_eq(npt_dump_line(&v, text, sizeof(text)), 0);
	ck_assert_str_eq(text, "0000000040000000-00000000405fffff 6M -> 0000000080000000 rw---a-- 2M");
}
END_TEST

static Suite *image_suite(void)
{
	Suite *s = suite_create("image");
	TCase *tc = tcase_create("image");

	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, t_dump, 0, fmt_count());
	tcase_add_test(tc, t_refused);
	tcase_add_test(tc, t_dump_line);
	suite_add_tcase(s, tc);
	return s;
}

NPT_CHECK_MAIN(image_suite)
