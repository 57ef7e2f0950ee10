#!/bin/bash
# The shared library as a program links it: its SONAME and version, only
# npt.h's functions exported (nm -D against the header's declarations), and
# a DESTDIR-staged install that pkg-config finds (a relocatable npt.pc) and
# a program compiles, links and runs against.
#
#   tests/test_abi.sh [BUILDDIR]
set -uo pipefail
cd "$(dirname "$0")/.."
builddir=${1:-${NPT_BUILDDIR:-build}}
failed=0
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }

version=$(sed -n 's/^Version: //p' "$builddir/npt.pc")
so="$builddir/libnpt.so.$version"
[ -n "$version" ] && [ -f "$so" ] || { echo "FAIL: $builddir/libnpt.so.VERSION not built"; exit 1; }

# SONAME: the major version
soname=$(readelf -d "$so" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
[ "$soname" = "libnpt.so.${version%%.*}" ] || fail "SONAME '$soname', expected libnpt.so.${version%%.*}"
[ "$(readlink "$builddir/libnpt.so")" = "libnpt.so.${version%%.*}" ] || fail "libnpt.so does not link to the SONAME"

# exported functions == functions npt.h declares (static inline ones aside)
exported=$(nm -D --defined-only "$so" | awk '{print $3}' | sort -u)
declared=$(sed -e 's|/\*.*\*/||g' npt/npt.h | tr '\n' ' ' | tr ';{}' '\n\n\n' |
	grep -v 'static inline' | grep -oE '\bnpt_[a-z0-9_]+[[:space:]]*\(' |
	sed 's/[[:space:]]*(//' | sort -u)
if [ "$exported" != "$declared" ]; then
	fail "nm -D and npt.h differ (< exported only, > declared only):"
	diff <(echo "$exported") <(echo "$declared") | grep '^[<>]'
fi
n=$(echo "$exported" | wc -l)
[ "$n" -ge 50 ] || fail "only $n exported symbols: the header scan is broken"

# a staged install that pkg-config and a program can use
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
DESTDIR=$stage PREFIX=/usr scripts/install.sh "$builddir" >/dev/null || fail "staged install"
export PKG_CONFIG_PATH=$stage/usr/lib/pkgconfig
cflags=$(pkg-config --cflags npt) || fail "pkg-config --cflags npt"
libs=$(pkg-config --libs npt) || fail "pkg-config --libs npt"
inc=$(realpath -m "$(echo "$cflags" | grep -oE -- '-I[^ ]+' | head -n 1 | cut -c3-)")
lib=$(realpath -m "$(echo "$libs" | grep -oE -- '-L[^ ]+' | head -n 1 | cut -c3-)")
[ "$inc" = "$(realpath "$stage")/usr/include" ] && [ "$lib" = "$(realpath "$stage")/usr/lib" ] ||
	fail "pkg-config points outside the stage: $cflags $libs"
cat >"$stage/demo.c" <<'C'
#include <npt.h>
#include <stdio.h>
int main(void)
{
	const struct npt_format *f = npt_format_by_name("ept");
	return f && npt_strerror(NPT_ERR_NOMEM)[0] ? 0 : 1;
}
C
ninjafile=$builddir/build.ninja
[ -f "$ninjafile" ] || ninjafile=build.ninja
if [ "$(sed -n 's/^mode = //p' "$ninjafile")" = asan ]; then
	# a sanitizer build's library needs its compiler's runtime in the program
	demo_cc="$(sed -n 's/^cc = //p' "$ninjafile") -fsanitize=address,undefined"
else
	demo_cc=cc
fi
if $demo_cc -o "$stage/demo" "$stage/demo.c" $cflags $libs &&
	LD_LIBRARY_PATH=$stage/usr/lib "$stage/demo"; then
	needed=$(readelf -d "$stage/demo" | sed -n 's/.*Shared library: \[\(libnpt[^]]*\)\]/\1/p')
	[ "$needed" = "$soname" ] || fail "the program needs '$needed', not the SONAME"
else
	fail "a program against the staged install"
fi
# README's example, as it stands there, against the same install
awk '/^## Using the library/ { on = 1 } on && /^```c$/ { grab = 1; next }
	grab && /^```$/ { exit } grab' README.md >"$stage/readme.c"
grep -q 'int main' "$stage/readme.c" || fail "no C example under README's 'Using the library'"
if $demo_cc -Wall -Wextra -Werror -o "$stage/readme" "$stage/readme.c" $cflags $libs &&
	LD_LIBRARY_PATH=$stage/usr/lib "$stage/readme" >"$stage/readme.out"; then
	grep -q '^EPTP 0x' "$stage/readme.out" &&
		grep -qE '^0000000000000000-00000000bfffffff 3G -> 0000000100000000 rwx' "$stage/readme.out" &&
		grep -qE '^00000000e0000000-00000000ffffffff 512M -> 00000001e0000000 rwx' "$stage/readme.out" ||
		{ fail "README's example printed:"; cat "$stage/readme.out"; }
else
	fail "README's example does not build or run against the staged install"
fi
[ "$failed" -eq 0 ] && echo "README example OK; SONAME $soname, $n functions exported as npt.h declares them, staged install works"
[ "$failed" -eq 0 ]
