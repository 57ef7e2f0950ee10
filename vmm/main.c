/*
 * vmm -- a tiny KVM VMM whose guest memory layout is owned by npt.
 *
 *   vmm list
 *   vmm run [NAME...] [--seed N] [--mem SIZE] [--format F] [--stats]
 *           [--timeout SEC] [--stub FILE] [-v]
 *   vmm boot KERNEL [--mem SIZE] [--layout FILE] [--format F] [--trace]
 *            [--timeout SEC]                              (boot_run.c)
 *
 * Everything the command line can get wrong is refused before /dev/kvm is
 * opened. Exit status: 0 every scenario ran with no mismatch; 1 a mismatch
 * or a failed scenario; 2 bad usage; 77 KVM is not usable here (for tests:
 * skipped).
 */
#include <cpuid.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vmm.h"

#ifndef NPT_BUILDDIR
#define NPT_BUILDDIR "build"
#endif
#define STUB_NAME "guest/x86/stub.bin"
#define STUB_MAX (1u << 20) /* bytes of a stub file */
#define TIMEOUT_DEFAULT_S 60
#define RUN_MAX 64 /* scenarios one run names */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: vmm list\n"
		"       vmm run [NAME...] [--seed N] [--mem SIZE] [--format F] [--stats]\n"
		"               [--timeout SEC] [--stub FILE] [-v]\n"
		"  NAME       scenarios to run (default: all but the self-tests; see vmm list)\n"
		"  --seed N   seed for the random choices (default: from the clock; printed)\n"
		"  --mem SIZE guest RAM, bytes with optional K/M/G suffix (default 64M)\n"
		"  --format F stage-2 format (default: the host's, ept on Intel, npt on AMD)\n"
		"  --stats    time to the guest's first instruction, demand's exit round trip\n"
		"  --timeout  per-scenario time limit in seconds (default %d)\n"
		"  --stub     the guest image (default: next to this program, %s)\n"
		"       vmm boot KERNEL [--mem SIZE] [--layout FILE] [--format F] [--trace]\n"
		"               [--timeout SEC]\n"
		"  KERNEL     a multiboot v1 image or an ELF64 x86-64 executable (npt-vmm(1))\n"
		"  --layout   guest-physical memory, one range a line (default: ram 0 SIZE)\n"
		"  --trace    every stage-2 exit with npt_query's answer, on stderr\n"
		"  --timeout  seconds before a guest that has not exited is stopped (default 30)\n",
		TIMEOUT_DEFAULT_S, STUB_NAME);
}

void list_stage2(FILE *f)
{
	const char *const *names = npt_format_names();
	struct npt_format_info info;

	for (size_t i = 0; names && names[i]; i++)
		if (npt_format_info(npt_format_by_name(names[i]), &info) == 0 && info.stage2)
			fprintf(f, " %s", names[i]);
}

int parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || *s == '-')
		return -1;
	switch (*end) {
	case 'k': case 'K': v <<= 10; end++; break;
	case 'm': case 'M': v <<= 20; end++; break;
	case 'g': case 'G': v <<= 30; end++; break;
	default: break;
	}
	if (*end == 'i' && end[1] == 'B')
		end += 2;
	else if (*end == 'B')
		end++;
	if (*end)
		return -1;
	*out = v;
	return 0;
}

/* The host's own stage-2 flavour: EPT on Intel, NPT on AMD (and Hygon). */
const char *host_format(char vendor[13])
{
	unsigned a, b, c, d;

	memset(vendor, 0, 13);
	if (!__get_cpuid(0, &a, &b, &c, &d))
		return NULL;
	memcpy(vendor, &b, 4);
	memcpy(vendor + 4, &d, 4);
	memcpy(vendor + 8, &c, 4);
	if (!strcmp(vendor, "GenuineIntel"))
		return "ept";
	if (!strcmp(vendor, "AuthenticAMD") || !strcmp(vendor, "HygonGenuine"))
		return "npt";
	return NULL;
}

uint8_t *load_file(const char *path, size_t max, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	uint8_t *buf = NULL, *nb;
	size_t cap = 0, n;

	*len = 0;
	if (!fp)
		return NULL;
	for (;;) {
		if (*len == cap) {
			cap = cap ? 2 * cap : 65536;
			if (cap > max + 1)
				cap = max + 1;
			nb = realloc(buf, cap);
			if (!nb || *len == cap) {
				free(nb ? nb : buf);
				fclose(fp);
				errno = nb ? EFBIG : ENOMEM;
				return NULL;
			}
			buf = nb;
		}
		n = fread(buf + *len, 1, cap - *len, fp);
		*len += n;
		if (n == 0)
			break;
	}
	if (ferror(fp)) {
		free(buf);
		fclose(fp);
		errno = EIO;
		return NULL;
	}
	fclose(fp);
	return buf;
}

/* The stub next to the program (build/vmm -> build/guest/x86/stub.bin),
 * where an install puts it beside the program's bin folder
 * (/usr/bin/npt-vmm -> /usr/lib/npt/guest/x86/stub.bin), else in the build
 * folder it was configured with. */
static uint8_t *load_stub(const char *given, size_t *size, char *path, size_t len)
{
	char exe[4096];
	ssize_t n;

	if (given) {
		snprintf(path, len, "%s", given);
		return load_file(path, STUB_MAX, size);
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = 0;
		char *slash = strrchr(exe, '/');
		if (slash) {
			*slash = 0;
			snprintf(path, len, "%s/%s", exe, STUB_NAME);
			uint8_t *b = load_file(path, STUB_MAX, size);
			if (b)
				return b;
			snprintf(path, len, "%s/../lib/npt/%s", exe, STUB_NAME);
			b = load_file(path, STUB_MAX, size);
			if (b)
				return b;
		}
	}
	snprintf(path, len, "%s/%s", NPT_BUILDDIR, STUB_NAME);
	return load_file(path, STUB_MAX, size);
}

static int cmd_list(void)
{
	printf("scenarios (vmm run with no name runs all but the self-tests):\n");
	for (const struct scenario *s = scenarios; s->name; s++)
		printf("  %-9s %s\n", s->name, s->summary);
	printf("stage-2 formats (--format):");
	list_stage2(stdout);
	printf("\n");
	return 0;
}

struct result {
	const struct scenario *sc;
	struct counters c;
	size_t slots;
	double secs;
	double boot;  /* vm_create started -> the stub's first instruction */
	double hello; /* when that first instruction exited */
	int failed;
};

static void print_header(void)
{
	printf("%-9s %7s %7s %7s %7s %5s %6s %9s %6s %8s %10s %8s\n", "scenario", "probes",
	       "io", "mmio-r", "mmio-w", "other", "#PF", "s2-fault", "slots", "slot-ops",
	       "mismatches", "time");
}

static void print_row(const struct result *r, const struct options *o)
{
	const struct counters *c = &r->c;

	printf("%-9s %7llu %7llu %7llu %7llu %5llu %6llu %9llu %6zu %8llu %10llu %6.2f s",
	       r->sc->name, (unsigned long long)c->probes, (unsigned long long)c->exits_io,
	       (unsigned long long)c->exits_mmio_r, (unsigned long long)c->exits_mmio_w,
	       (unsigned long long)c->exits_other, (unsigned long long)c->faults,
	       (unsigned long long)c->s2_faults, r->slots, (unsigned long long)c->slot_ops,
	       (unsigned long long)c->mismatches, r->secs);
	if (r->failed)
		printf("  FAILED");
	if (!strcmp(r->sc->name, "random"))
		printf("  seed %llu", (unsigned long long)o->seed);
	printf("\n");
	fflush(stdout);
}

static int run_one(const struct scenario *sc, struct options *o, struct result *r,
		   struct round_trips *rt)
{
	struct vm vm;
	double t0 = now_sec();
	int rc;

	memset(r, 0, sizeof(*r));
	r->sc = sc;
	watchdog_arm(NULL, o->timeout_ms);
	rc = vm_create(&vm, o, sc->name);
	r->boot = vm.t_hello ? vm.t_hello - vm.t_create : 0;
	r->hello = vm.t_hello;
	if (rc == 0)
		rc = sc->run(&vm);
	/* Whatever the scenario did, the slots must still be the table. */
	if (rc == 0)
		slots_verify(&vm); /* a difference is counted as a mismatch */
	if (rc == 0 && vm.s1)
		s1_verify(&vm);    /* so is one between the guest's table and the model */
	if (rc == 0)
		rc = vm_halt(&vm);
	watchdog_disarm();
	r->c = vm.c;
	r->slots = vm.slots.n;
	r->secs = now_sec() - t0;
	r->failed = rc < 0;
	if (!strcmp(sc->name, "demand")) {
		/* Keep demand's samples for --stats; vm_destroy frees the VM's. */
		*rt = vm.rt;
		memset(&vm.rt, 0, sizeof(vm.rt));
	}
	vm_destroy(&vm);
	return rc;
}

/* --mem against the stub's needs, the limit and the format's widths: 0, or
 * 2 after saying why. */
static int check_mem(uint64_t mem, const struct npt_format_info *info, const char *fmt_name)
{
	uint64_t sys = layout_sys_end(mem < MEM_MAX ? mem : MEM_MAX);

	if (mem % PAGE_SIZE) {
		fprintf(stderr, "vmm: --mem %llu: not a multiple of 4 KiB\n",
			(unsigned long long)mem);
		return 2;
	}
	if (mem < sys + MEM_MIN_TEST) {
		fprintf(stderr, "vmm: --mem %llu: too small; at least %llu MiB (%llu MiB "
			"for the stub and stage-1 tables + %llu MiB to probe)\n",
			(unsigned long long)mem, (unsigned long long)((sys + MEM_MIN_TEST) / MIB),
			(unsigned long long)(sys / MIB), (unsigned long long)(MEM_MIN_TEST / MIB));
		return 2;
	}
	if (mem > MEM_MAX) {
		fprintf(stderr, "vmm: --mem %llu: too large; at most %llu GiB\n",
			(unsigned long long)mem, (unsigned long long)(MEM_MAX / GIB));
		return 2;
	}
	/* Stage-2 outputs are offsets in guest RAM (and the stage-2 table's
	 * own frames follow RAM: kvm.c), inputs reach HOLE_TAIL past it: both
	 * must fit the format. */
	if (info->pa_bits < 64 &&
	    mem + s2pool_frames(mem + HOLE_TAIL) * PAGE_SIZE > (1ull << info->pa_bits)) {
		fprintf(stderr, "vmm: --mem %llu: larger than format %s's %u-bit output\n",
			(unsigned long long)mem, fmt_name, info->pa_bits);
		return 2;
	}
	if (info->va_bits < 64 && mem + HOLE_TAIL > (1ull << info->va_bits)) {
		fprintf(stderr, "vmm: --mem %llu: larger than format %s's %u-bit input\n",
			(unsigned long long)mem, fmt_name, info->va_bits);
		return 2;
	}
	return 0;
}

/* vmm run's command line, everything it names checked (the scenarios, the
 * format, the RAM size against it, the stub): 0 with *o filled, or the exit
 * status. */
static int run_options(int argc, char **argv, struct options *op,
		       const struct scenario *chosen[RUN_MAX], size_t *nchosen_out, char vendor[13])
{
	struct options o;
	size_t nchosen = 0;
	const char *fmt_name = NULL, *stub_arg = NULL;
	char stub_path[4200];
	int seed_given = 0, bad = 0;
	struct npt_format_info info;

	memset(&o, 0, sizeof(o));
	o.t_main = now_sec();
	o.mem = MEM_DEFAULT;
	o.timeout_ms = TIMEOUT_DEFAULT_S * 1000;
	o.kvm = -1;

	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--stats")) {
			o.stats = 1;
		} else if (!strcmp(a, "-v")) {
			o.verbose = 1;
		} else if (!strcmp(a, "--seed") || !strcmp(a, "--mem") || !strcmp(a, "--format") ||
			   !strcmp(a, "--timeout") || !strcmp(a, "--stub")) {
			if (!v) {
				fprintf(stderr, "vmm: %s needs a value\n", a);
				return 2;
			}
			i++;
			if (!strcmp(a, "--seed")) {
				char *end;
				errno = 0;
				o.seed = strtoull(v, &end, 0);
				if (errno || *end || end == v || *v == '-') {
					fprintf(stderr, "vmm: --seed %s: not a number\n", v);
					return 2;
				}
				seed_given = 1;
			} else if (!strcmp(a, "--mem")) {
				if (parse_size(v, &o.mem) < 0) {
					fprintf(stderr, "vmm: --mem %s: not a size (e.g. 64M, 1G, 16777216)\n", v);
					return 2;
				}
			} else if (!strcmp(a, "--format")) {
				fmt_name = v;
			} else if (!strcmp(a, "--timeout")) {
				char *end;
				unsigned long t = strtoul(v, &end, 10);
				if (*end || end == v || t == 0 || t > 3600) {
					fprintf(stderr, "vmm: --timeout %s: seconds, 1 to 3600\n", v);
					return 2;
				}
				o.timeout_ms = (unsigned)t * 1000;
			} else {
				stub_arg = v;
			}
		} else if (a[0] == '-') {
			fprintf(stderr, "vmm: unknown option %s\n", a);
			usage(stderr);
			return 2;
		} else {
			const struct scenario *s = scenario_find(a);
			if (!s) {
				fprintf(stderr, "vmm: unknown scenario '%s' (vmm list shows them)\n", a);
				bad = 1;
			} else if (nchosen < RUN_MAX) {
				chosen[nchosen++] = s;
			}
		}
	}
	if (bad)
		return 2;
	if (!nchosen)
		for (const struct scenario *s = scenarios; s->name; s++)
			if (!s->selftest)
				chosen[nchosen++] = s;

	/* The stage-2 format. */
	if (!fmt_name) {
		fmt_name = host_format(vendor);
		if (!fmt_name) {
			fprintf(stderr, "vmm: host CPU vendor '%s' is neither Intel nor AMD: "
				"choose a stage-2 format with --format:", vendor);
			list_stage2(stderr);
			fprintf(stderr, "\n");
			return 2;
		}
	} else {
		host_format(vendor);
	}
	o.s2fmt = npt_format_by_name(fmt_name);
	if (!o.s2fmt || npt_format_info(o.s2fmt, &info) < 0 || !info.stage2) {
		if (o.s2fmt)
			fprintf(stderr, "vmm: format '%s' is not a stage-2 format; stage-2 formats:",
				fmt_name);
		else
			fprintf(stderr, "vmm: unknown format '%s'; stage-2 formats:", fmt_name);
		list_stage2(stderr);
		fprintf(stderr, "\n");
		return 2;
	}
	o.s2name = fmt_name;

	/* Guest RAM. */
	if (check_mem(o.mem, &info, fmt_name))
		return 2;

	/* The guest image. */
	o.stub = load_stub(stub_arg, &o.stub_size, stub_path, sizeof(stub_path));
	if (!o.stub) {
		fprintf(stderr, "vmm: guest stub %s: %s (build it: ninja)\n", stub_path,
			strerror(errno ? errno : ENOENT));
		return 2;
	}
	{
		struct stub st;
		if (stub_parse(o.stub, o.stub_size, &st) < 0) {
			fprintf(stderr, "vmm: %s: not an npt guest stub for this VMM\n", stub_path);
			free((void *)o.stub);
			return 2;
		}
	}
	if (!seed_given)
		o.seed = (uint64_t)time(NULL) % 1000000;
	*op = o;
	*nchosen_out = nchosen;
	return 0;
}

static int cmd_run(int argc, char **argv)
{
	struct options o;
	const struct scenario *chosen[RUN_MAX];
	size_t nchosen = 0;
	const char *fmt_name;
	char vendor[13];
	int rc;

	rc = run_options(argc, argv, &o, chosen, &nchosen, vendor);
	if (rc)
		return rc;
	fmt_name = o.s2name;

	/* Now KVM. */
	rc = kvm_open(&o.kvm);
	if (rc) {
		free((void *)o.stub);
		return rc;
	}

	int has_1g = 0;
	unsigned maxphy = 0;
	if (kvm_cpu_info(o.kvm, &has_1g, &maxphy) < 0) {
		rc = 1;
		goto out;
	}
	if (o.mem + HOLE_TAIL > (1ull << maxphy)) {
		fprintf(stderr, "vmm: --mem %llu: beyond the guest's %u-bit physical addresses\n",
			(unsigned long long)o.mem, maxphy);
		rc = 2;
		goto out;
	}
	printf("vmm: stage 2 '%s' (host %s), %llu MiB guest RAM, stage 1 'x86_64' with 2 MiB "
	       "leaves%s\n", fmt_name, vendor, (unsigned long long)(o.mem / MIB),
	       has_1g ? " and 1 GiB leaves" : " (no 1 GiB: guest CPUID 0x80000001 EDX[26] clear)");
	print_header();

	struct result res[RUN_MAX];
	struct round_trips rt = { 0 };
	unsigned failed = 0;
	uint64_t mism = 0;

	for (size_t i = 0; i < nchosen; i++) {
		run_one(chosen[i], &o, &res[i], &rt);
		print_row(&res[i], &o);
		failed += res[i].failed;
		mism += res[i].c.mismatches;
	}
	if (failed || mism)
		printf("FAIL: %u scenario(s) failed, %llu mismatch(es)\n", failed,
		       (unsigned long long)mism);
	else
		printf("PASS: %zu scenario(s), every probe cross-checked, 0 mismatches\n", nchosen);

	struct counters w = { 0 };
	for (size_t i = 0; i < nchosen; i++) {
		w.walk_2d += res[i].c.walk_2d;
		w.walk_kvm += res[i].c.walk_kvm;
		w.walk_cpu_reserved += res[i].c.walk_cpu_reserved;
		w.walk_noncanonical += res[i].c.walk_noncanonical;
	}
	printf("walkers: %llu probes walked by npt_translate_2d, each checked against the two "
	       "queries' prediction; %llu translations compared with KVM_TRANSLATE (%llu through entries reserved "
	       "on this CPU: MAXPHYADDR %u%s), %llu non-canonical not compared\n",
	       (unsigned long long)w.walk_2d, (unsigned long long)w.walk_kvm,
	       (unsigned long long)w.walk_cpu_reserved, maxphy,
	       has_1g ? "" : ", no 1 GiB pages", (unsigned long long)w.walk_noncanonical);

	if (o.stats) {
		double boots[RUN_MAX];
		size_t nb = 0;
		for (size_t i = 0; i < nchosen; i++)
			if (res[i].boot)
				boots[nb++] = res[i].boot;
		struct samples bs = { boots, nb, nb };
		if (res[0].hello)
			printf("stats: start to the guest's first instruction: %.2f ms from program "
			       "start; VM creation to first instruction %.2f ms (median over %zu VMs "
			       "%.2f ms)\n", (res[0].hello - o.t_main) * 1e3, res[0].boot * 1e3, nb,
			       samples_median(&bs) * 1e3);
		if (rt.trip.n) {
			double trip = samples_median(&rt.trip), np = samples_median(&rt.npt);
			printf("stats: demand: %zu stage-2 faults; exit round trip (fault exit -> "
			       "npt_map + slot update -> guest resumes -> its next exit) median %.1f us; "
			       "VMM's share median %.1f us\n", rt.trip.n, trip * 1e6,
			       samples_median(&rt.vmm) * 1e6);
			printf("stats: demand: npt_map median %.2f us (%.2f%% of the round trip's "
			       "median), KVM memory-slot update median %.1f us\n", np * 1e6,
			       100 * np / trip, samples_median(&rt.slots) * 1e6);
		} else
			printf("stats: demand did not run: no exit round trip\n");
	}
	round_trips_free(&rt);
	rc = (failed || mism) ? 1 : 0;
out:
	close(o.kvm);
	free((void *)o.stub);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "list"))
		return cmd_list();
	if (!strcmp(argv[1], "run"))
		return cmd_run(argc - 2, argv + 2);
	if (!strcmp(argv[1], "boot"))
		return cmd_boot(argc - 2, argv + 2);
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(stdout);
		return 0;
	}
	fprintf(stderr, "vmm: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
