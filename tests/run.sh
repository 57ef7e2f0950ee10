#!/bin/sh
# Runs the tests and prints one line per test, then "N passed, N failed,
# N skipped". Exit status 77 means skipped.
#
#   tests/run.sh BUILDDIR [TEST...]
#
# Without TEST arguments it runs every BUILDDIR/tests/test_* program and every
# tests/test_*.sh script. Scripts get BUILDDIR as their first argument (and in
# $NPT_BUILDDIR). Each test's output goes to BUILDDIR/tests/NAME.log and is
# printed when the test fails. A test running longer than $NPT_TEST_TIMEOUT
# seconds (default 600) fails. Programs run under $NPT_TEST_RUNNER when it is
# set (qemu-aarch64 ... for a cross or freestanding build tree).
set -u
cd "$(dirname "$0")/.." || exit 1
builddir=${1:?usage: tests/run.sh BUILDDIR [TEST...]}
shift
if [ $# -eq 0 ]; then
	for t in "$builddir"/tests/test_* tests/test_*.sh; do
		case $t in *.log|*.d|*.o) continue ;; esac
		[ -f "$t" ] && set -- "$@" "$t"
	done
fi

export NPT_BUILDDIR="$builddir"
export CK_FORK="${CK_FORK:-yes}"
timeout="${NPT_TEST_TIMEOUT:-600}"
mkdir -p "$builddir/tests"
passed=0 failed=0 skipped=0
for t in "$@"; do
	name=$(basename "$t" .sh)
	log="$builddir/tests/$name.log"
	case $t in
	*.sh) timeout "$timeout" bash "$t" "$builddir" >"$log" 2>&1 ;;
	*) timeout "$timeout" ${NPT_TEST_RUNNER:-} "$t" >"$log" 2>&1 ;;
	esac
	rc=$?
	last=$(grep -v '^[[:space:]]*$' "$log" | tail -n 1)
	if [ $rc -eq 0 ]; then
		passed=$((passed + 1))
		echo "PASS: $name${last:+  ($last)}"
	elif [ $rc -eq 77 ]; then
		skipped=$((skipped + 1))
		echo "SKIP: $name${last:+  ($last)}"
	else
		failed=$((failed + 1))
		[ $rc -eq 124 ] && echo "(timed out after ${timeout}s)" >>"$log"
		echo "FAIL: $name (exit $rc), output:"
		sed 's/^/    /' "$log"
	fi
done
echo "$passed passed, $failed failed, $skipped skipped"
[ $failed -eq 0 ]
