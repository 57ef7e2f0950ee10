/*
 * What every other file of the VMM reports through: the mismatch and
 * failure lines, the names of probes and flags, and the samples behind
 * --stats. It calls nothing else of the VMM, so the files that run the
 * guest (kvm.c, slots.c, stage1.c, check.c, the scenarios) all depend on
 * it and it on none of them.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmm.h"

#define MAX_PRINTED 20 /* mismatch lines shown per scenario without -v */

void samples_add(struct samples *s, double x)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 256;
		double *v = realloc(s->v, cap * sizeof(*v));

		if (!v)
			return;
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n++] = x;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

double samples_median(struct samples *s)
{
	if (!s->n)
		return 0;
	qsort(s->v, s->n, sizeof(s->v[0]), cmp_double);
	return s->n % 2 ? s->v[s->n / 2] : (s->v[s->n / 2 - 1] + s->v[s->n / 2]) / 2;
}

void round_trips_free(struct round_trips *r)
{
	free(r->trip.v);
	free(r->vmm.v);
	free(r->npt.v);
	free(r->slots.v);
	memset(r, 0, sizeof(*r));
}

const char *probe_name(unsigned cmd)
{
	switch (cmd) {
	case CMD_READ: return "read";
	case CMD_WRITE: return "write";
	case CMD_EXEC: return "exec";
	case CMD_READ | CMD_USER: return "user read";
	case CMD_WRITE | CMD_USER: return "user write";
	case CMD_EXEC | CMD_USER: return "user exec";
	case CMD_HALT: return "halt";
	case CMD_SPIN: return "spin (self-test)";
	case CMD_CRASH: return "crash (self-test)";
	case CMD_S1: return "stage-1 call";
	default: return "?";
	}
}

unsigned probe_access(unsigned cmd)
{
	unsigned kind = cmd & 0xff;

	return (kind == CMD_WRITE ? NPT_W : kind == CMD_EXEC ? NPT_X : NPT_R) |
	       (cmd & CMD_USER ? NPT_U : 0);
}

void flags_str(unsigned flags, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s%s%s%s", flags & NPT_R ? "R" : "-", flags & NPT_W ? "W" : "-",
		 flags & NPT_X ? "X" : "-", flags & NPT_U ? "U" : "",
		 flags & NPT_DEVICE ? " dev" : "");
}

void mismatch(struct vm *vm, const char *fmt, ...)
{
	va_list ap;

	vm->c.mismatches++;
	if (vm->printed > MAX_PRINTED && !vm->opt->verbose)
		return;
	if (vm->printed++ == MAX_PRINTED && !vm->opt->verbose) {
		fprintf(stderr, "vmm: %s: further mismatches are counted, not shown\n", vm->scenario);
		return;
	}
	fprintf(stderr, "vmm: %s: MISMATCH: ", vm->scenario);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int fail(struct vm *vm, const char *what, int err)
{
	if (err == S1_BROKEN) /* the guest could not be asked: already reported */
		return -1;
	fprintf(stderr, "vmm: %s: %s: %s\n", vm->scenario, what, npt_strerror(err));
	return -1;
}
