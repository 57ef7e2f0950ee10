/*
 * Every format npt knows, in the order npt_format_names() lists them.
 * Append new families before the NULL; never reorder (names are looked up,
 * but the order is visible through npt_format_names()).
 */
#include <stddef.h>

#include "format.h"
#include "arch.h"

const struct npt_format *const npt_formats[] = {
	/* x86 — arch/x86.c, arch/ept.c */
	&npt_fmt_x86_64,
	&npt_fmt_x86_64_la57,
	&npt_fmt_npt,
	&npt_fmt_ept,
	&npt_fmt_ept5,
	&npt_fmt_npt5,
	/* AArch64 — arch/aarch64.c */
	&npt_fmt_aarch64,
	&npt_fmt_aarch64_s2,
	&npt_fmt_aarch64_s2_48,
	/* RISC-V — arch/riscv.c */
	&npt_fmt_sv39,
	&npt_fmt_sv48,
	&npt_fmt_sv57,
	&npt_fmt_sv39x4,
	&npt_fmt_sv48x4,
	&npt_fmt_sv57x4,
	/* LoongArch — arch/loongarch.c */
	&npt_fmt_loongarch64,
	NULL,
};
