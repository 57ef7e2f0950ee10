#!/bin/bash
# The man pages: each renders with `man -l` without a warning, has the
# sections a page needs, and after an install every function npt.h and
# npt_user.h declare has a page (its family's, or a .so link to it) that
# man finds by name.
#
#   tests/test_man.sh [BUILDDIR]
set -uo pipefail
cd "$(dirname "$0")/.."
builddir=${1:-${NPT_BUILDDIR:-build}}
command -v man >/dev/null || { echo "SKIP: no man (apt-get install man-db)"; exit 77; }
failed=0
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }

pages=(man/*.[0-9])
[ "${#pages[@]}" -ge 11 ] || fail "only ${#pages[@]} pages in man/"
for page in "${pages[@]}"; do
	warnings=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$page" 2>&1 >/dev/null)
	[ -z "$warnings" ] || fail "$page: $warnings"
	for section in NAME SYNOPSIS DESCRIPTION 'SEE ALSO'; do
		grep -q "^\.SH \"\?$section" "$page" || fail "$page has no $section"
	done
done

# every declared function has a page an installed man finds
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
DESTDIR=$stage PREFIX=/usr scripts/install.sh "$builddir" >/dev/null || fail "staged install"
declared=$(cat npt/npt.h user/npt_user.h | sed -e 's|/\*.*\*/||g' | tr '\n' ' ' | tr ';{}' '\n\n\n' |
	grep -v 'static inline' | grep -oE '\bnpt_[a-z0-9_]+[[:space:]]*\(' |
	sed 's/[[:space:]]*(//' | sort -u)
n=0
for fn in $declared; do
	n=$((n + 1))
	path=$(MANPATH=$stage/usr/share/man man -w "$fn" 2>/dev/null) || { fail "no man page for $fn"; continue; }
	text=$(MANPATH=$stage/usr/share/man MANWIDTH=200 man "$fn" 2>/dev/null | sed -n '/^NAME/,/^SYNOPSIS/p')
	grep -qw "$fn" <<<"$text" || fail "man $fn ($path) does not name $fn"
done
[ "$n" -ge 55 ] || fail "only $n declared functions found: the header scan is broken"
[ "$failed" -eq 0 ] && echo "${#pages[@]} pages render without warnings; all $n functions have a page"
[ "$failed" -eq 0 ]
