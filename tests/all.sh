#!/bin/bash
# Every test: the suite built with gcc and with clang (debug), then with
# ASan+UBSan (clang); the engine suites cross-built for aarch64 and riscv64
# and run under qemu-user, the two side by side; the freestanding check of all four targets
# (tests/freestanding.sh: no libc, no FP/vector code, the engine tests
# linked with no libc, loongarch64 included); the bare-metal hypervisors
# under QEMU and Bochs (tests/hv.sh, once); the VMM's tests under kvm-amd
# in QEMU TCG (scripts/nested-kvm.sh); the Debian packages
# (tests/debian.sh: built, their contents, lintian); the gcc build's engine tests
# on the portable kernels (NPT_X86_NO_AVX2) and under valgrind,
# test_concurrent under ThreadSanitizer (scripts/tsan.sh), the
# libFuzzer targets (fuzz_npt, fuzz_translate, fuzz_image, fuzz_boot) for $NPT_FUZZ_SECONDS (default 30) seconds each,
# and a check that the committed build.ninja is what configure.py writes. Ends with "N passed, N failed, N skipped" over all runs.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

passed=0 failed=0 skipped=0
bad=()

# build_test NAME CONFIGURE-ARGS...: configure build-NAME and run `ninja
# test` there, its output in build-NAME/test.out and its status in
# build-NAME/test.rc.
build_test() {
	local name=$1 dir=build-$1
	shift
	mkdir -p "$dir"
	rm -f "$dir/test.out" "$dir/test.rc"
	if ! python3 configure.py "$@" --builddir "$dir" -o "$dir/build.ninja" >"$dir/test.out" 2>&1; then
		echo configure >"$dir/test.rc"
		return
	fi
	ninja -f "$dir/build.ninja" test >>"$dir/test.out" 2>&1
	echo $? >"$dir/test.rc"
}

# tally NAME: print build-NAME's output and count its tests.
tally() {
	local name=$1 dir=build-$1 rc sum p f s
	cat "$dir/test.out"
	rc=$(cat "$dir/test.rc" 2>/dev/null || echo none)
	if [ "$rc" = configure ]; then
		failed=$((failed + 1)); bad+=("$name (configure)"); return
	fi
	sum=$(grep -E '^[0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$' "$dir/test.out" | tail -n 1)
	if [ -z "$sum" ]; then
		# The build failed before any test ran: count the run as one failure.
		failed=$((failed + 1)); bad+=("$name (build)"); return
	fi
	read -r p _ f _ s _ <<<"$sum"
	passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
	[ "$rc" = 0 ] && [ "$f" -eq 0 ] || bad+=("$name")
}

# run NAME CONFIGURE-ARGS...: one build tree's tests.
run() {
	local t0=$SECONDS
	echo "=== $1: ${*:2}"
	build_test "$@"
	tally "$1"
	echo "=== $1: $((SECONDS - t0)) s"
}

run gcc --cc gcc --mode debug
run clang --cc clang --mode debug
CK_TIMEOUT_MULTIPLIER=${CK_TIMEOUT_MULTIPLIER:-4} run asan --cc clang --mode asan
# The engine suites on other CPUs (clang-19, qemu-user; libcheck from arm64
# multiarch, and for riscv64 built by scripts/cross-check.sh). Each runs its
# tests one at a time on one core, so the two trees run side by side.
t0=$SECONDS
NPT_TEST_JOBS=1 CK_TIMEOUT_MULTIPLIER=${CK_TIMEOUT_MULTIPLIER:-4} build_test aarch64 --target aarch64 &
NPT_TEST_JOBS=1 CK_TIMEOUT_MULTIPLIER=${CK_TIMEOUT_MULTIPLIER:-4} build_test riscv64 --target riscv64 &
wait
echo "=== aarch64: --target aarch64"
tally aarch64
echo "=== riscv64: --target riscv64"
tally riscv64
echo "=== aarch64 and riscv64: $((SECONDS - t0)) s"

# extra NAME CMD...: one more check, counted as one test.
extra() {
	local name=$1 t0=$SECONDS
	shift
	echo "=== $name"
	if "$@"; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1)); bad+=("$name")
	fi
	echo "=== $name: $((SECONDS - t0)) s"
}

# valgrind over the engine tests of the gcc debug build (reduced workload,
# see scripts/valgrind.sh), and the libFuzzer target for 60 s.
extra "valgrind (build-gcc)" scripts/valgrind.sh build-gcc
# portable TEST...: tests of the gcc build again on the portable run kernels
# (npt/runs.c: NPT_X86_NO_AVX2 turns the AVX2 ones off).
portable() {
	local t rc=0
	for t in "$@"; do
		if NPT_X86_NO_AVX2=1 "build-gcc/tests/$t" >"build-gcc/$t.noavx2.out" 2>&1; then
			echo "PASS: $t (NPT_X86_NO_AVX2)"
		else
			echo "FAIL: $t (NPT_X86_NO_AVX2)"; tail -n 5 "build-gcc/$t.noavx2.out"; rc=1
		fi
	done
	return $rc
}
extra "engine tests, NPT_X86_NO_AVX2 (build-gcc)" portable test_api test_region test_nomem \
	test_random test_invariants test_inject test_log test_concurrent
extra "freestanding x86_64 aarch64 riscv64 loongarch64" tests/freestanding.sh
# The bare-metal hypervisors (hv/) under QEMU and Bochs: built alike in every
# host tree (clang-19, freestanding), so run once.
extra "hypervisors under QEMU and Bochs (build-gcc)" tests/hv.sh build-gcc
# The VMM under a real KVM whatever this machine has: Linux's kvm-amd on
# QEMU TCG's emulated SVM with nested paging (scripts/nested-kvm.sh), with
# the ASan build, so the AMD path runs on Intel hosts and on hosts without
# /dev/kvm too (where the trees' own test_vmm skipped).
extra "vmm under kvm-amd in QEMU TCG (build-asan)" \
	scripts/nested-kvm.sh build-asan bash tests/test_vmm.sh build-asan
# libnpt0, libnpt-dev and npt-tools from dpkg-buildpackage, checked with
# dpkg -c and lintian.
extra "debian packages" tests/debian.sh
# test_concurrent (one writer, two readers) under ThreadSanitizer.
extra "tsan test_concurrent" scripts/tsan.sh
extra "fuzz ${NPT_FUZZ_SECONDS:-30}s each" env NPT_FUZZ_SECONDS="${NPT_FUZZ_SECONDS:-30}" \
	ninja -f build-clang/build.ninja fuzz

echo "=== committed build.ninja"
if python3 configure.py --stdout | diff -u build.ninja - ; then
	passed=$((passed + 1)); echo "PASS: build.ninja is fresh"
else
	failed=$((failed + 1)); bad+=("build.ninja")
	echo "FAIL: build.ninja is stale: run python3 configure.py and commit it"
fi

echo
[ ${#bad[@]} -eq 0 ] || echo "failed: ${bad[*]}"
echo "all runs: $SECONDS s"
echo "$passed passed, $failed failed, $skipped skipped"
[ ${#bad[@]} -eq 0 ]
