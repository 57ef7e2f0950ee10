/*
 * hv on x86-64 with AMD SVM (QEMU -m 256M), identity-mapped:
 *   1 MiB    hv itself (code, data, bss, boot tables and stack)
 *   32 MiB   frames for npt's tables
 *   64 MiB   guest RAM, 160 MiB of host pages handed out in order
 */
#ifndef HV_ARCH_H
#define HV_ARCH_H

#define HV_FRAMES_PA   (32ull << 20)
#define HV_FRAMES_SIZE (32ull << 20)
#define HV_RAM_PA      (64ull << 20)
#define HV_RAM_SIZE    (160ull << 20)

#endif
