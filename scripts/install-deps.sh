#!/bin/sh
# Installs everything npt needs to build and test, on Debian 12 as root:
# the host toolchain and libcheck; clang-19, lld-19 and qemu-user for the
# cross and freestanding builds (aarch64, riscv64, loongarch64); arm64
# multiarch libcheck; the riscv64 cross libc, and libcheck for riscv64
# built from Debian's source package (scripts/cross-check.sh); QEMU and
# Bochs system emulators, and cpio for scripts/nested-kvm.sh's initramfs;
# man-db for the man page test, and debhelper and lintian for the Debian
# packages. Does nothing when everything is there.
set -eu
cd "$(dirname "$0")/.."
pkgs="gcc clang lld ninja-build pkg-config check python3 linux-libc-dev
binutils make valgrind qemu-system-arm qemu-system-misc qemu-system-x86
bochs bochsbios bochs-term vgabios clang-19 lld-19 llvm-19 qemu-user dpkg-dev
man-db groff-base debhelper fakeroot lintian cpio
gcc-aarch64-linux-gnu gcc-riscv64-linux-gnu libc6-dev-riscv64-cross
check:arm64 libc6-dev:arm64 libsubunit-dev:arm64"

sudo=
[ "$(id -u)" -eq 0 ] || sudo=sudo
export DEBIAN_FRONTEND=noninteractive
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
	$sudo dpkg --add-architecture arm64
	$sudo apt-get update
fi
missing=
for p in $pkgs; do
	case $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true) in
	"install ok installed") ;;
	*) missing="$missing $p" ;;
	esac
done
if [ -n "$missing" ]; then
	echo "install-deps: installing$missing"
	$sudo apt-get update
	# shellcheck disable=SC2086
	$sudo apt-get install -y --no-install-recommends $missing
else
	echo "install-deps: every package is installed"
fi
scripts/cross-check.sh
