#!/bin/sh
# ninja install: scripts/install.sh BUILDDIR PREFIX, honouring $DESTDIR.
set -eu
cd "$(dirname "$0")/.."
builddir=$1 prefix=$2
dest="${DESTDIR:-}$prefix"
install -d "$dest/lib/pkgconfig" "$dest/include"
install -m 644 "$builddir/libnpt.a" "$dest/lib/libnpt.a"
install -m 755 "$builddir/libnpt.so" "$dest/lib/libnpt.so"
install -m 644 npt/npt.h "$dest/include/npt.h"
install -m 644 "$builddir/npt.pc" "$dest/lib/pkgconfig/npt.pc"
echo "installed libnpt.a, libnpt.so, npt.h, npt.pc under $dest"
