/*
 * Every format npt knows, in the order npt_format_names() lists them.
 * Append new families at the end; never reorder (names are looked up, but
 * the order is visible through npt_format_names()).
 */
#include <stddef.h>

#include "format.h"
#include "arch.h"

#define NPT_FORMAT_LIST(X)                                \
	/* x86 -- arch/x86.c, arch/ept.c */               \
	X(npt_fmt_x86_64) X(npt_fmt_x86_64_la57)          \
	X(npt_fmt_npt) X(npt_fmt_ept) X(npt_fmt_ept5)     \
	X(npt_fmt_npt5)                                   \
	/* AArch64 -- arch/aarch64.c */                   \
	X(npt_fmt_aarch64) X(npt_fmt_aarch64_s2)          \
	X(npt_fmt_aarch64_s2_48)                          \
	/* RISC-V -- arch/riscv.c */                      \
	X(npt_fmt_sv39) X(npt_fmt_sv48) X(npt_fmt_sv57)   \
	X(npt_fmt_sv39x4) X(npt_fmt_sv48x4)               \
	X(npt_fmt_sv57x4)                                 \
	/* LoongArch -- arch/loongarch.c */               \
	X(npt_fmt_loongarch64)

#define NPT_FORMAT_PTR(F) &F,
#define NPT_FORMAT_NAME(F) F.name,

const struct npt_format *const npt_formats[] = { NPT_FORMAT_LIST(NPT_FORMAT_PTR) NULL };
const char *const npt_format_name_list[] = { NPT_FORMAT_LIST(NPT_FORMAT_NAME) NULL };
