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
	/* AArch64 — aarch64, aarch64-s2: append here */
	/* RISC-V — sv39, sv48, sv57, sv39x4, sv48x4: append here */
	/* LoongArch — loongarch64: append here */
	NULL,
};
