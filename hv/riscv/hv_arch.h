/*
 * hv on RISC-V in HS-mode (QEMU -M virt -cpu rv64,h=true -bios none
 * -m 256M: RAM at 0x80000000), satp bare, so every address is physical:
 *   0x80000000  hv itself (code, data, bss, stack), the VS stubs' page
 *   0x82000000  32 MiB of frames for npt's tables
 *   0x84000000  guest RAM, 192 MiB of host pages handed out in order
 */
#ifndef HV_ARCH_H
#define HV_ARCH_H

#define HV_FRAMES_PA   0x82000000ull
#define HV_FRAMES_SIZE (32ull << 20)
#define HV_RAM_PA      0x84000000ull
#define HV_RAM_SIZE    (192ull << 20)

#endif
