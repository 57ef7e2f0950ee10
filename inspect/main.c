/*
 * npt: a page-table inspector over raw memory images (QEMU's pmemsave,
 * /dev/mem, a core file's RAM).
 *
 *   npt formats
 *   npt decode FORMAT LEVEL PTE
 *   npt dump --format F --root PA [--base PA] IMAGE
 *   npt translate --format F --root PA [--base PA] [--access rwxu] IMAGE VA
 *   npt translate-2d --s1 F --s1-root GPA --s2 F --s2-root PA [--base PA]
 *                    [--access rwxu] IMAGE VA
 *
 * Numbers are decimal or 0x-hex; --base is the physical address of the
 * image's first byte (default 0). Exit status 0, 1 when the tables or the
 * image are refused (or a translation faults), 2 for bad usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image.h"

static const char usage[] =
	"usage: npt formats\n"
	"       npt decode FORMAT LEVEL PTE\n"
	"       npt dump --format F --root PA [--base PA] IMAGE\n"
	"       npt translate --format F --root PA [--base PA] [--access rwxu] IMAGE VA\n"
	"       npt translate-2d --s1 F --s1-root GPA --s2 F --s2-root PA [--base PA]\n"
	"                        [--access rwxu] IMAGE VA\n";

static int bad_usage(const char *why)
{
	if (why)
		fprintf(stderr, "npt: %s\n", why);
	fputs(usage, stderr);
	return 2;
}

static int number(const char *s, uint64_t *v)
{
	char *end;

	errno = 0;
	*v = strtoull(s, &end, 0);
	return !*s || *end || errno ? -1 : 0;
}

static const struct npt_format *format(const char *name)
{
	const struct npt_format *f = npt_format_by_name(name);

	if (!f)
		fprintf(stderr, "npt: no format %s (npt formats lists them)\n", name);
	return f;
}

static void flag_letters(unsigned flags, char out[9])
{
	static const char letters[] = "rwxumadg";
	unsigned i;

	for (i = 0; i < 8; i++)
		out[i] = flags & (1u << i) ? letters[i] : '-';
	out[8] = 0;
}

static int cmd_formats(void)
{
	const char *const *n;

	for (n = npt_format_names(); *n; n++) {
		struct npt_format_info fi;
		char sizes[64] = "", *o = sizes;
		unsigned b;

		npt_format_info(npt_format_by_name(*n), &fi);
		for (b = 12; b < 64; b += 9)
			if (fi.leaf_sizes >> b & 1)
				o += sprintf(o, "%s%s", o == sizes ? "" : ",",
					     b == 12 ? "4K" : b == 21 ? "2M" : b == 30 ? "1G" : b == 39 ? "512G" : "256T");
		printf("%-14s %s, %u levels, %u-bit in, %u-bit out, leaves %s\n", *n,
		       fi.stage2 ? "stage 2" : "stage 1", fi.levels, fi.va_bits, fi.pa_bits, sizes);
		printf("%-14s %s\n", "", fi.description);
	}
	return 0;
}

static int cmd_decode(int argc, char **argv)
{
	const struct npt_format *f;
	uint64_t level, pte, pa;
	unsigned flags;
	int leaf, r;
	char fl[9];

	if (argc != 3 || number(argv[1], &level) || number(argv[2], &pte))
		return bad_usage("decode takes FORMAT LEVEL PTE");
	if (!(f = format(argv[0])))
		return 2;
	r = npt_decode(f, (unsigned)level, pte, &pa, &flags, &leaf);
	if (r == NPT_ERR_NOT_MAPPED) {
		printf("not present\n");
		return 0;
	}
	if (r) {
		fprintf(stderr, "npt: decode: %s\n", npt_strerror(r));
		return 1;
	}
	flag_letters(flags, fl);
	if (leaf)
		printf("leaf of %llu KiB -> %#llx %s\n",
		       (unsigned long long)(1ull << (2 + 9 * level)), (unsigned long long)pa, fl);
	else
		printf("table at %#llx\n", (unsigned long long)pa);
	return 0;
}

/* The options every image command takes, and its positional arguments. */
struct opts {
	const char *format, *s2, *image;
	uint64_t root, s2_root, base, va;
	int has_root, has_s2_root, has_va;
	unsigned access;
};

static int parse(int argc, char **argv, struct opts *o, int want_va)
{
	int i, npos = 0;

	memset(o, 0, sizeof(*o));
	o->access = NPT_R;
	for (i = 0; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (a[0] == '-' && a[1] == '-') {
			if (!v)
				return bad_usage("an option without its value");
			i++;
			if (!strcmp(a, "--format") || !strcmp(a, "--s1")) {
				o->format = v;
			} else if (!strcmp(a, "--s2")) {
				o->s2 = v;
			} else if (!strcmp(a, "--root") || !strcmp(a, "--s1-root")) {
				if (number(v, &o->root))
					return bad_usage("--root takes a number");
				o->has_root = 1;
			} else if (!strcmp(a, "--s2-root")) {
				if (number(v, &o->s2_root))
					return bad_usage("--s2-root takes a number");
				o->has_s2_root = 1;
			} else if (!strcmp(a, "--base")) {
				if (number(v, &o->base))
					return bad_usage("--base takes a number");
			} else if (!strcmp(a, "--access")) {
				const char *c;

				o->access = 0;
				for (c = v; *c; c++) {
					const char *p = strchr("rwxu", *c);

					if (!p)
						return bad_usage("--access takes letters of rwxu");
					o->access |= 1u << (p - "rwxu");
				}
			} else {
				return bad_usage("unknown option");
			}
		} else if (npos == 0) {
			o->image = a;
			npos++;
		} else if (npos == 1 && want_va) {
			if (number(a, &o->va))
				return bad_usage("VA is a number");
			o->has_va = 1;
			npos++;
		} else {
			return bad_usage("too many arguments");
		}
	}
	if (!o->format || !o->has_root || !o->image || (want_va && !o->has_va))
		return bad_usage("missing --format, --root, IMAGE or VA");
	return 0;
}

/* The image file, mapped read-only. */
static int load(const char *path, uint64_t base, struct npt_image *im)
{
	struct stat st;
	int fd = open(path, O_RDONLY);
	void *p;

	if (fd < 0 || fstat(fd, &st)) {
		fprintf(stderr, "npt: %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (st.st_size < 4096) {
		fprintf(stderr, "npt: %s: %lld bytes: too short to hold a table\n", path,
			(long long)st.st_size);
		close(fd);
		return -1;
	}
	p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (p == MAP_FAILED) {
		fprintf(stderr, "npt: %s: %s\n", path, strerror(errno));
		return -1;
	}
	im->mem = p;
	im->size = (uint64_t)st.st_size;
	im->base = base;
	return 0;
}

static int print_line(void *arg, const char *text)
{
	(void)arg;
	return puts(text) < 0;
}

static int cmd_dump(int argc, char **argv)
{
	struct npt_image im;
	const struct npt_format *f;
	struct opts o;
	char err[256];
	int r = parse(argc, argv, &o, 0);

	if (r)
		return r;
	if (!(f = format(o.format)))
		return 2;
	if (load(o.image, o.base, &im))
		return 1;
	if (image_dump(&im, f, o.root, IMAGE_BUDGET, print_line, NULL, err, sizeof(err))) {
		fprintf(stderr, "npt: dump: %s\n", err);
		return 1;
	}
	return 0;
}

static int cmd_translate(int argc, char **argv, int two)
{
	const struct npt_format *f, *f2 = NULL;
	struct npt_image im;
	struct npt_mm mm;
	struct npt_2d out;
	struct opts o;
	unsigned k;
	char fl[9];
	int r = parse(argc, argv, &o, 1);

	if (r)
		return r;
	if (two && (!o.s2 || !o.has_s2_root))
		return bad_usage("translate-2d needs --s2 and --s2-root");
	if (!(f = format(o.format)) || (two && !(f2 = format(o.s2))))
		return 2;
	if (load(o.image, o.base, &im))
		return 1;
	image_mm(&im, &mm);
	r = npt_translate_raw(f, o.root, f2, o.s2_root, &mm, o.va, o.access, &out);
	if (r == NPT_ERR_INVAL) {
		fprintf(stderr, "npt: %s%s%s cannot be walked this way (npt_translate_raw: %s)\n",
			o.format, two ? " over " : "", two ? o.s2 : "", npt_strerror(r));
		return 2;
	}
	for (k = 0; k < out.nrefs; k++) {
		const struct npt_2d_ref *x = &out.refs[k];
		const uint64_t *e = two && x->stage == 1 ? NULL : image_at(&im, x->addr);

		if (two)
			printf("stage %u ", x->stage);
		printf("level %u entry at %#018llx", x->level, (unsigned long long)x->addr);
		if (e)
			printf(" = %#018llx", (unsigned long long)*e);
		printf("\n");
	}
	if (r) {
		printf("fault: %s, stage %u level %u, address %#llx\n", npt_strerror(r),
		       out.fault_stage, out.fault_level, (unsigned long long)out.fault_addr);
		return 1;
	}
	flag_letters(out.flags, fl);
	if (two)
		printf("%#llx -> gpa %#llx -> hpa %#llx %s, page %llu KiB\n",
		       (unsigned long long)o.va, (unsigned long long)out.gpa,
		       (unsigned long long)out.hpa, fl, (unsigned long long)out.page_size >> 10);
	else
		printf("%#llx -> %#llx %s, page %llu KiB\n", (unsigned long long)o.va,
		       (unsigned long long)out.hpa, fl, (unsigned long long)out.page_size >> 10);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return bad_usage(NULL);
	if (!strcmp(argv[1], "formats") && argc == 2)
		return cmd_formats();
	if (!strcmp(argv[1], "decode"))
		return cmd_decode(argc - 2, argv + 2);
	if (!strcmp(argv[1], "dump"))
		return cmd_dump(argc - 2, argv + 2);
	if (!strcmp(argv[1], "translate"))
		return cmd_translate(argc - 2, argv + 2, 0);
	if (!strcmp(argv[1], "translate-2d"))
		return cmd_translate(argc - 2, argv + 2, 1);
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fputs(usage, stdout);
		return 0;
	}
	return bad_usage("unknown command");
}
