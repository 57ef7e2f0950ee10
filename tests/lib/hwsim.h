/*
 * hwsim — what a translating CPU does to the leaves of an npt table, for the
 * suites of npt_harvest and npt_log_* (it needs the engine's private
 * struct npt_table and the format's leaf-state bits, so it includes
 * "internal.h").
 *
 * hw_access(t, va, write) translates va like a CPU with hardware accessed/
 * dirty management (x86 A/D, EPT with EPTP bit 6, RISC-V Svadu, Arm
 * FEAT_HAFDBS with HA = HD = 1): a missing translation or a write without
 * write permission faults; otherwise it sets the accessed bit and, on a
 * write, the dirty bit, or on Arm grants the write permission of a DBM leaf
 * (writable-clean -> writable-dirty). Bits are set with atomic ORs, as the
 * hardware's own updates are atomic.
 */
#ifndef NPT_TESTS_HWSIM_H
#define NPT_TESTS_HWSIM_H

#include <stdint.h>

#include "npt.h"

#define HW_OK 0
#define HW_FAULT_NOT_MAPPED 1
#define HW_FAULT_WRITE 2

/* The slot of the leaf that maps va (NULL if none) and its level. */
uint64_t *hw_slot(const struct npt_table *t, uint64_t va, unsigned *level);
int hw_access(const struct npt_table *t, uint64_t va, int write);
/* The raw leaf that maps va, 0 if none. */
uint64_t hw_pte(const struct npt_table *t, uint64_t va);
/* The format's leaf-state bits (format.h), for checks on raw entries. */
uint64_t hw_accessed_bit(const struct npt_table *t);
uint64_t hw_dirty_bit(const struct npt_table *t);
uint64_t hw_dbm_bit(const struct npt_table *t);
uint64_t hw_sw_log_bit(const struct npt_table *t);
int hw_writable(const struct npt_table *t, uint64_t pte);

#endif
