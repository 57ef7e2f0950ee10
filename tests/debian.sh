#!/bin/bash
# The Debian packages: `dpkg-buildpackage -us -uc -b` on a copy of the tree
# (its files as git knows them) gives libnpt0, libnpt-dev and npt-tools
# with what each must hold (dpkg -c), lintian has nothing to say about them
# (pedantic and informational tags included), and README's example builds
# against the unpacked libnpt-dev through its pkg-config file and runs.
#
#   tests/debian.sh
set -uo pipefail
cd "$(dirname "$0")/.."
for tool in dpkg-buildpackage dh lintian fakeroot; do
	command -v $tool >/dev/null || { echo "SKIP: no $tool (scripts/install-deps.sh)"; exit 77; }
done
failed=0
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/npt"
git ls-files -co --exclude-standard | tar -cf - -T - | tar -xf - -C "$work/npt" || exit 1
if ! (cd "$work/npt" && dpkg-buildpackage -us -uc -b) >"$work/build.log" 2>&1; then
	tail -n 40 "$work/build.log"
	echo "FAIL: dpkg-buildpackage"
	exit 1
fi
version=$(dpkg-parsechangelog -l debian/changelog -S Version)
arch=$(dpkg --print-architecture)
ma=$(dpkg-architecture -qDEB_HOST_MULTIARCH)

# has PACKAGE PATH...: dpkg -c of the package lists each path
has() {
	local deb="$work/${1}_${version}_$arch.deb" list p
	shift
	[ -f "$deb" ] || { fail "$(basename "$deb") not built"; return; }
	list=$(dpkg -c "$deb" | awk '{print $6}')
	for p in "$@"; do
		grep -qxF "./$p" <<<"$list" || fail "$(basename "$deb") lacks $p"
	done
}
has libnpt0 "usr/lib/$ma/libnpt.so.$version" "usr/lib/$ma/libnpt.so.0"
has libnpt-dev usr/include/npt.h usr/include/npt_user.h "usr/lib/$ma/libnpt.a" \
	"usr/lib/$ma/libnpt_user.a" "usr/lib/$ma/libnpt.so" "usr/lib/$ma/pkgconfig/npt.pc" \
	usr/share/man/man3/npt.3.gz usr/share/man/man3/npt_map_region.3.gz \
	usr/share/man/man3/npt_query.3.gz
has npt-tools usr/bin/npt usr/bin/npt-vmm usr/lib/npt/guest/x86/stub.bin \
	usr/share/man/man1/npt.1.gz usr/share/man/man1/npt-vmm.1.gz
# the library only in libnpt0, the development files only in -dev
dpkg -c "$work/libnpt0_${version}_$arch.deb" | grep -qE '\.(h|a|pc)$' && fail "libnpt0 holds development files"

tags=$(lintian -I --pedantic --tag-display-limit 0 "$work"/*_"${version}_$arch".deb 2>&1 |
	grep -v 'running with root privileges')
[ -z "$tags" ] || fail "lintian: $tags"

# README's example against the unpacked -dev package
root="$work/root"
for p in libnpt0 libnpt-dev; do dpkg -x "$work/${p}_${version}_$arch.deb" "$root"; done
awk '/^## Using the library/ { on = 1 } on && /^```c$/ { grab = 1; next }
	grab && /^```$/ { exit } grab' README.md >"$work/demo.c"
export PKG_CONFIG_PATH="$root/usr/lib/$ma/pkgconfig"
if cc -Wall -Wextra -Werror -o "$work/demo" "$work/demo.c" $(pkg-config --cflags --libs npt) &&
	LD_LIBRARY_PATH="$root/usr/lib/$ma" "$work/demo" >"$work/demo.out"; then
	grep -q '^EPTP 0x' "$work/demo.out" || fail "README's example printed: $(cat "$work/demo.out")"
else
	fail "README's example against the unpacked libnpt-dev"
fi
[ "$failed" -eq 0 ] && echo "libnpt0, libnpt-dev and npt-tools $version built, contents as expected, lintian clean, README example builds against them"
[ "$failed" -eq 0 ]
