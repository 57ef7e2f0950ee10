#!/bin/sh
# ninja install: a release build of the library (build-release/, configured
# here whatever the calling tree's mode), installed under $PREFIX (default
# /usr/local), staged under $DESTDIR when it is set.
#
#   [DESTDIR=/stage] [PREFIX=/usr] [LIBDIR=lib/x86_64-linux-gnu] scripts/install.sh [BUILDDIR]
#
# LIBDIR is relative to PREFIX (default lib); npt.pc finds the prefix from
# its own place, as many folders up as LIBDIR/pkgconfig is deep.
#
# With BUILDDIR, that tree's library is installed as it is (the tests use
# this to stage a build they already have).
set -eu
cd "$(dirname "$0")/.."
prefix=${PREFIX:-/usr/local}
libdir=${LIBDIR:-lib}
if [ $# -ge 1 ]; then
	builddir=$1
else
	builddir=build-release
	python3 configure.py --cc "${CC:-cc}" --mode release --builddir "$builddir" \
		-o "$builddir/build.ninja" >/dev/null
	ninja -f "$builddir/build.ninja" "$builddir/libnpt.a" "$builddir/libnpt.so" \
		"$builddir/libnpt_user.a" "$builddir/npt.pc" >/dev/null
fi
version=$(sed -n 's/^Version: //p' "$builddir/npt.pc")
major=${version%%.*}
dest="${DESTDIR:-}$prefix"
lib="$dest/$libdir"
install -d "$lib/pkgconfig" "$dest/include"
install -m 644 "$builddir/libnpt.a" "$lib/libnpt.a"
install -m 644 "$builddir/libnpt.so.$version" "$lib/libnpt.so.$version"
ln -sf "libnpt.so.$version" "$lib/libnpt.so.$major"
ln -sf "libnpt.so.$major" "$lib/libnpt.so"
install -m 644 "$builddir/libnpt_user.a" "$lib/libnpt_user.a"
install -m 644 npt/npt.h "$dest/include/npt.h"
install -m 644 user/npt_user.h "$dest/include/npt_user.h"
up=$(echo "$libdir/pkgconfig" | sed 's|[^/][^/]*|..|g')
sed -e "s|^prefix=.*|prefix=\${pcfiledir}/$up|" -e "s|^libdir=.*|libdir=\${exec_prefix}/$libdir|" \
	"$builddir/npt.pc" >"$lib/pkgconfig/npt.pc"
chmod 644 "$lib/pkgconfig/npt.pc"
# the man pages, and for every other name a page's NAME lists, a .so link
install -d "$dest/share/man/man3"
for page in man/*.3; do
	base=$(basename "$page" .3)
	install -m 644 "$page" "$dest/share/man/man3/$base.3"
	for name in $(sed -n '/^\.SH NAME/,/\\-/p' "$page" | sed '1d; s/\\-.*//' | tr ',' ' '); do
		[ "$name" = "$base" ] || echo ".so man3/$base.3" >"$dest/share/man/man3/$name.3"
	done
done
echo "installed libnpt.a, libnpt.so.$version (+ .so.$major, .so), libnpt_user.a, npt.h, npt_user.h, npt.pc, man pages under $dest"
