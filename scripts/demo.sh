#!/bin/sh
# The README's demo: `vmm run` (every scenario on the host's own stage-2
# format) under /dev/kvm, or, on a machine without a usable /dev/kvm, under
# the real KVM of a Linux booted in QEMU's TCG (scripts/nested-kvm.sh).
#
#   scripts/demo.sh [BUILDDIR] [VMM-RUN-ARGS...]     (BUILDDIR: build)
cd "$(dirname "$0")/.." || exit 1
builddir=build
if [ $# -gt 0 ] && [ -d "$1" ]; then
	builddir=$1
	shift
fi
if [ -c /dev/kvm ] && [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
	exec "$builddir/vmm" run "$@"
fi
echo "demo: no usable /dev/kvm here; running the VMM under the KVM of a Linux in QEMU TCG"
exec scripts/nested-kvm.sh "$builddir" "./$builddir/vmm" run "$@"
