/*
 * hv on AArch64 at EL2 (QEMU -M virt,virtualization=on -m 256M: RAM at
 * 0x40000000), MMU off, so every address is physical:
 *   0x40100000  hv itself (code, data, bss, stack), the EL1 stubs' page
 *   0x42000000  32 MiB of frames for npt's tables
 *   0x44000000  guest RAM, 192 MiB of host pages handed out in order
 */
#ifndef HV_ARCH_H
#define HV_ARCH_H

#define HV_FRAMES_PA   0x42000000ull
#define HV_FRAMES_SIZE (32ull << 20)
#define HV_RAM_PA      0x44000000ull
#define HV_RAM_SIZE    (192ull << 20)

#endif
