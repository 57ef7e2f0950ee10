#!/bin/bash
# The hello-world guest of `vmm boot` (guest/x86/hello.S) under a multiboot
# loader that is not ours: QEMU's -kernel, with isa-debug-exit at port 0xf4
# as `vmm boot` has it. The guest must print its line with the memory QEMU
# reported and exit with status (0 << 1) | 1 = 1. Skipped (77) without
# qemu-system-x86_64 or the image.
#
#   tests/test_hello_qemu.sh [BUILDDIR]
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
builddir=${1:-${NPT_BUILDDIR:-build}}
img=$builddir/guest/x86/hello.bin

if ! command -v qemu-system-x86_64 >/dev/null; then
	echo "SKIP: qemu-system-x86_64 is not installed"
	exit 77
fi
if [ ! -f "$img" ]; then
	echo "SKIP: $img is not built"
	exit 77
fi
out=$(timeout 60 qemu-system-x86_64 -nographic -no-reboot -m 64M -kernel "$img" \
	-device isa-debug-exit,iobase=0xf4,iosize=4 -monitor none 2>&1)
rc=$?
echo "$out" | tail -n 3 | sed 's/^/    /'
if [ "$rc" -ne 1 ]; then
	echo "FAIL: QEMU exited with $rc, the guest's exit through port 0xf4 gives 1"
	exit 1
fi
if ! echo "$out" | grep -qE "Hello from a multiboot guest on npt's stage 2: 6[0-3] MiB above 1 MiB"; then
	echo "FAIL: the guest's line is missing, or its memory is not QEMU's 64 MiB less the first"
	exit 1
fi
echo "hello.bin under QEMU's multiboot loader: printed its line, exit status 1"
