#!/bin/bash
# Runs the engine's test programs under valgrind:
#
#   scripts/valgrind.sh BUILDDIR [TEST...]
#
# Every BUILDDIR/tests/test_* program (or the ones named) except the QEMU
# and VMM ones, through tests/run.sh (side by side, one per CPU) with
# valgrind as the runner:
#   CK_FORK=no valgrind --error-exitcode=1 --leak-check=full ...
# (CK_FORK=no: libcheck runs the tests in the process valgrind watches). Any
# invalid access, use of uninitialised memory or leak fails the test.
#
# Reduced workload (valgrind runs code ~30x slower): test_fuzz_replay runs
# 1/40 of its operations (NPT_FUZZ_SCALE=40: the same seeds, shorter
# sequences, ~26,000 operations), test_random 400 operations per format and
# variant (NPT_OPS=400) instead of 4000; everything else runs in full.
# Logs go to BUILDDIR/valgrind/NAME.log. Prints one line per test, then
# "N passed, N failed, 0 skipped" and exits non-zero if one failed.
set -u
cd "$(dirname "$0")/.." || exit 1
builddir=${1:?usage: scripts/valgrind.sh BUILDDIR [TEST...]}
shift
command -v valgrind >/dev/null || { echo "valgrind: not installed"; exit 1; }
if [ $# -eq 0 ]; then
	for t in "$builddir"/tests/test_*; do
		case $t in *.log|*.d|*.o|*.sh|*.rc|*.new) continue ;; esac
		case $(basename "$t") in test_qemu*|test_vmm*) continue ;; esac
		[ -x "$t" ] && set -- "$@" "$t"
	done
fi
CK_FORK=no NPT_FUZZ_SCALE=40 NPT_OPS=400 CK_DEFAULT_TIMEOUT=0 \
	NPT_TEST_LOGS="$builddir/valgrind" \
	NPT_TEST_RUNNER="valgrind -q --error-exitcode=1 --leak-check=full
		--show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect" \
	exec tests/run.sh "$builddir" "$@"
