/*
 * hv: bare-metal hypervisors that keep their guest's memory in an npt
 * stage-2 table built and changed at run time with the freestanding
 * engine, run under QEMU (tests/hv.sh). common/ is what they share:
 * the scenario (scenario.c), a frame allocator for npt (mm.c) and the bits
 * of a C library a kernel has (lib.c). Each architecture (x86/, aarch64/)
 * gives the boot code, a console, an exit, and one operation: run the
 * guest for one access and say how it ended.
 */
#ifndef HV_H
#define HV_H

#include <stddef.h>
#include <stdint.h>

#include "npt.h"
#include "hv_arch.h" /* HV_FRAMES_PA / _SIZE, HV_RAM_PA / _SIZE, the guest layout */

/* lib.c; hv_putc and hv_exit come from the architecture */
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
void hv_putc(char c);
void hv_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void hv_exit(unsigned code) __attribute__((noreturn));
uint64_t hv_rnd(void);
void hv_seed(uint64_t seed);

/* mm.c: 4 KiB frames (and aligned blocks) for npt's tables, identity-mapped
 * (NPT_MM_LINEAR, offset 0); host pages for guest RAM */
extern struct npt_mm hv_mm;
uint64_t hv_mm_live(void);
uint64_t hv_ram_page(void); /* a fresh host page for guest RAM; hv_exit(2) when none is left */
uint64_t hv_ram_block(uint64_t size, uint64_t align);

/* The accesses a probe makes, as the guest's stubs do them. */
enum { HV_LOAD, HV_STORE, HV_FETCH };

/* How one access ended. */
enum { HV_F_TRANSLATION = 1, HV_F_PERMISSION, HV_F_ACCESS,
       HV_F_UNKNOWN /* a stage-2 fault whose kind the hardware does not report */ };
struct hv_result {
	int done;        /* the access completed */
	uint8_t value;   /* a load: the byte the guest read */
	uint64_t pc;     /* a fetch: where the guest stopped */
	int fault;       /* otherwise the stage-2 fault: HV_F_* */
	uint64_t gpa;    /* its guest-physical address */
	int write;       /* the fault says the access wrote */
	int level;       /* npt's level of the entry that faulted, -1 where not reported */
	int stage;       /* with the guest's stage 1 on: 1 for a stage-1 fault (va), else 2 */
	uint64_t va;     /* a stage-1 fault's virtual address */
	const char *other; /* an exit that is neither: what it was */
};

/* What an architecture gives the scenario. */
struct hv_arch {
	const char *name;      /* for the report */
	uint64_t stubs_gpa;    /* where the guest's stubs are, identity-mapped */
	uint64_t stubs_pa;
	uint64_t stub_size;    /* bytes to map from stubs_pa, R|X */
	const uint8_t *ret;    /* what a fetch probe finds at its target: ends the access */
	unsigned ret_size;
	uint64_t w_bit;        /* a stage-2 leaf's write permission, for the negative control */
	int af_faults;         /* an access through a clear accessed flag faults (no hardware
				  management of it): npt_log_access_fault resolves it */
	/* Loads t (a table of its stage-2 format) for the guest. */
	void (*guest)(struct npt_table *t);
	/* Executes a flush record (the flush and break-before-make hooks). */
	void (*flush)(const struct npt_flush *f);
	/* Whatever flush the next run must begin with, now (after an entry was
	 * changed behind npt's back). */
	void (*flush_all)(void);
	/* One access of kind at gpa (a store writes value); with the guest's
	 * stage 1 on, gpa is a virtual address. */
	void (*run)(unsigned kind, uint64_t gpa, uint8_t value, struct hv_result *r);
	/* A stage-1 format the guest can run on (NULL: none), and turning it
	 * on with a table of it whose root is guest-physical (NULL: off). */
	const char *s1;
	void (*guest_s1)(const struct npt_table *s1);
};

/* scenario.c: the whole run over stage-2 format s2; returns its mismatches */
unsigned hv_scenario(const struct hv_arch *a, const char *s2);

#endif
