#!/bin/bash
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
# set (qemu-aarch64 ... for a cross or freestanding build tree, valgrind for
# scripts/valgrind.sh), and log to $NPT_TEST_LOGS (default BUILDDIR/tests).
#
# $NPT_TEST_JOBS tests (default: one per CPU) run side by side: each is one
# process on one core, and libcheck runs a suite's cases one after another,
# so on two cores two tests take the time of one. test_vmm runs alone: its
# guests run against watchdogs and time limits, which a neighbour on the
# same core would eat into. The lines come out in the order of the tests,
# each when it and every test before it are done.
set -u
cd "$(dirname "$0")/.." || exit 1
builddir=${1:?usage: tests/run.sh BUILDDIR [TEST...]}
shift
if [ $# -eq 0 ]; then
	for t in "$builddir"/tests/test_* tests/test_*.sh; do
		case $t in *.log|*.d|*.o|*.rc|*.new) continue ;; esac
		[ -f "$t" ] && set -- "$@" "$t"
	done
fi

export NPT_BUILDDIR="$builddir"
export CK_FORK="${CK_FORK:-yes}"
timeout="${NPT_TEST_TIMEOUT:-600}"
jobs="${NPT_TEST_JOBS:-$(nproc 2>/dev/null || echo 1)}"
logs="${NPT_TEST_LOGS:-$builddir/tests}"
mkdir -p "$logs"
passed=0 failed=0 skipped=0
. scripts/side-by-side.sh

# one TEST: runs it, its output in NAME.log and its exit status and
# seconds in NAME.rc
one() {
	local t=$1 name log rc start=$SECONDS
	name=$(basename "$t" .sh)
	log="$logs/$name.log"
	case $t in
	*.sh) timeout "$timeout" bash "$t" "$builddir" >"$log" 2>&1 ;;
	*) timeout "$timeout" ${NPT_TEST_RUNNER:-} "$t" >"$log" 2>&1 ;;
	esac
	rc=$?
	[ $rc -eq 124 ] && echo "(timed out after ${timeout}s)" >>"$log"
	# whole or not at all: report reads it as soon as it is there
	echo "$rc $((SECONDS - start))" >"$logs/$name.rc.new"
	mv "$logs/$name.rc.new" "$logs/$name.rc"
}

# report TEST: its line, once its NAME.rc is there
report() {
	local name log rc secs last
	name=$(basename "$1" .sh)
	log="$logs/$name.log"
	read -r rc secs <"$logs/$name.rc"
	last=$(grep -v '^[[:space:]]*$' "$log" | tail -n 1)
	if [ "$rc" -eq 0 ]; then
		passed=$((passed + 1))
		echo "PASS: $name [${secs} s]${last:+  ($last)}"
	elif [ "$rc" -eq 77 ]; then
		skipped=$((skipped + 1))
		echo "SKIP: $name${last:+  ($last)}"
	else
		failed=$((failed + 1))
		echo "FAIL: $name (exit $rc, ${secs} s), output:"
		sed 's/^/    /' "$log"
	fi
}

for t in "$@"; do
	rm -f "$logs/$(basename "$t" .sh).rc"
done
tests=("$@")
next=0  # the first test not reported yet
for t in "${tests[@]}"; do
	if [ "$(basename "$t" .sh)" = test_vmm ]; then
		wait
		one "$t"
	else
		slot_wait "$jobs"
		one "$t" &
	fi
	# report every test that is done, in order
	while [ $next -lt ${#tests[@]} ] &&
		[ -f "$logs/$(basename "${tests[$next]}" .sh).rc" ]; do
		report "${tests[$next]}"
		next=$((next + 1))
	done
done
wait
while [ $next -lt ${#tests[@]} ]; do
	report "${tests[$next]}"
	next=$((next + 1))
done
echo "$passed passed, $failed failed, $skipped skipped"
[ $failed -eq 0 ]
