#!/bin/sh
# libcheck for riscv64, which Debian 12 does not ship (it has no riscv64
# port): Debian's own source package of check, built with the riscv64 cross
# compiler into build-deps/check-riscv64 (what configure.py --target riscv64
# looks for). Does nothing when it is there already.
set -eu
cd "$(dirname "$0")/.."
prefix=$PWD/build-deps/check-riscv64
[ -f "$prefix/lib/libcheck.a" ] && [ -f "$prefix/include/check.h" ] && exit 0

# `apt-get source` needs a deb-src line for bookworm
if ! grep -rqs '^Types: deb-src\|^deb-src ' /etc/apt/sources.list /etc/apt/sources.list.d/; then
	sudo=
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	$sudo tee /etc/apt/sources.list.d/npt-deb-src.sources >/dev/null <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
	$sudo apt-get update
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && apt-get source check >/dev/null 2>&1)
src=$(find "$work" -maxdepth 1 -type d -name 'check-*' | head -n 1)
[ -n "$src" ] || { echo "cross-check: apt-get source check failed"; exit 1; }
echo "cross-check: building $(basename "$src") for riscv64"
cd "$src"
./configure --host=riscv64-linux-gnu CC=riscv64-linux-gnu-gcc --prefix="$prefix" \
	--disable-subunit --enable-static --disable-shared --disable-timeout-tests \
	--disable-build-docs >configure.log 2>&1 || { tail -n 20 configure.log; exit 1; }
make -j2 -C lib >make.log 2>&1 && make -j2 -C src >>make.log 2>&1 || { tail -n 20 make.log; exit 1; }
make -C src install >>make.log 2>&1
install -m 644 check_stdint.h "$prefix/include/"
echo "cross-check: libcheck for riscv64 in $prefix"
