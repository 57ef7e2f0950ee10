#!/bin/bash
# The freestanding check (tests/all.sh runs it once). For each of x86_64,
# aarch64, riscv64 and loongarch64 it
#  1. builds libnpt.a freestanding (configure.py --target T --freestanding:
#     no libc headers, the target's kernel code generation, --simd off);
#  2. asserts that the archive, linked as one object, needs nothing from
#     outside but the documented set (npt.h: memset, memcpy);
#  3. disassembles every object and asserts that none holds an instruction
#     the target's kernel ABI forbids (FP, SIMD or vector registers and
#     instructions); a negative control compiles npt/runs.c with its vector
#     kernels on and requires the scan to find them;
#  4. compiles the kernel flush helpers (npt/npt_flush_*.h) for the target;
#  5. links the engine tests against tests/fs (its own start-up, system
#     calls and C library: no libc at all) and runs them, under qemu-user
#     where the target is not this machine.
# Prints one PASS/FAIL line per check; exit status 1 if any failed. The
# targets run two at a time ($NPT_FS_JOBS, default one per CPU).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

ALLOWED="memcpy memset"
TARGETS=${NPT_FS_TARGETS:-"x86_64 aarch64 riscv64 loongarch64"}
# The engine tests each target runs through tests/fs. aarch64 and riscv64
# run every suite against real libcheck too (tests/all.sh, cross trees), so
# here they prove the no-libc link with the model-based test and two more.
fs_tests() {
	case $1 in
	aarch64 | riscv64) echo "test_random test_nomem test_inject" ;;
	*) echo "test_random test_api test_region test_nomem test_badinput test_inject" ;;
	esac
}
failed=0
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }

# forbidden T < objdump-output: prints the offending lines.
forbidden() {
	local re_mn re_op
	case $1 in
	x86_64) # SSE/AVX/AVX-512, MMX and x87 registers; x87 mnemonics
		re_op='%([xyz]mm[0-9]|mm[0-7]|st\b|st\(|k[0-7]\b)'
		re_mn='^f' ;;
	aarch64) # FP/SIMD registers (b/h/s/d/q/v n), FP and SVE mnemonics
		re_op='(^|[^a-z0-9_])([bhsdqvz][0-9]{1,2}|p[0-9]{1,2}/)([^0-9a-z_]|$)'
		re_mn='^(f[a-z]|scvtf|ucvtf|ld[1-4][^r]|st[1-4])' ;;
	riscv64) # F/D registers and instructions, the V extension
		re_op='(^|[^a-z0-9_])(f[0-9]+|ft[0-9]+|fs[0-9]+|fa[0-9]+|v[0-9]+)([^0-9a-z_]|$)'
		re_mn='^(f(l|s|m|n|a|c|d|e|r|sg)[a-z.]*|c\.f[a-z]+|v[a-z])' ;;
	loongarch64) # FP, LSX and LASX registers and instructions
		re_op='\$(f[0-9]+|f[ast][0-9]+|fcc[0-7]|vr[0-9]+|xr[0-9]+)\b'
		re_mn='^(f[a-z]|v[a-z]|xv[a-z]|movgr2fr|movfr2gr|movgr2fcsr|movfcsr2gr|movfr2cf|movcf2fr)' ;;
	esac
	awk -F'\t' -v mn="$re_mn" -v op="$re_op" '
		NF >= 2 && $1 ~ /^ *[0-9a-f]+: *$/ {
			m = $2; o = (NF >= 3 ? $3 : "")
			if (m == "fence" || m == "fence.i" || m == "fence.tso") next
			if (m ~ mn || o ~ op) print
		}'
}

# target T: the checks of one target, its lines on stdout.
target() {
	local t=$1 dir=build-fs-$1 bad vec runner p log extra
	echo "=== $t"
	if ! python3 configure.py --target "$t" --freestanding --builddir "$dir" \
		-o "$dir/build.ninja" >/dev/null ||
		! ninja -f "$dir/build.ninja" >"$dir.log" 2>&1; then
		tail -n 20 "$dir.log"
		fail "$t: freestanding build"
		return
	fi
	pass "$t: libnpt.a and tests/fs built with no libc headers"

	# 2. undefined symbols of the whole archive
	ld.lld-19 -r --whole-archive "$dir/libnpt.a" -o "$dir/libnpt-all.o"
	extra=$(llvm-nm-19 -u "$dir/libnpt-all.o" | awk '{print $2}' | sort -u |
		grep -vxF -f <(tr ' ' '\n' <<<"$ALLOWED") || true)
	if [ -z "$extra" ]; then
		pass "$t: nm -u lists only $(llvm-nm-19 -u "$dir/libnpt-all.o" | awk '{print $2}' | sort -u | tr '\n' ' ')"
	else
		fail "$t: undefined beyond '$ALLOWED': $(echo $extra)"
	fi

	# 3. no FP / vector instruction, with a negative control
	bad=$(for o in "$dir"/obj/npt/*.o "$dir"/obj/arch/*.o; do
		llvm-objdump-19 -d --no-show-raw-insn "$o" | forbidden "$t" | sed "s|^|$o: |"
	done)
	if [ -z "$bad" ]; then
		pass "$t: no FP or vector instruction in $(ls "$dir"/obj/npt/*.o "$dir"/obj/arch/*.o | wc -l) objects"
	else
		fail "$t: forbidden instructions:"; head -n 10 <<<"$bad"
	fi
	case $t in
	x86_64) vec='-mavx2' ;;
	aarch64) vec='' ;;
	riscv64) vec='-march=rv64gcv' ;;
	loongarch64) vec='-mlsx' ;;
	esac
	# shellcheck disable=SC2086
	if clang-19 --target="$(awk '/^cc = /{sub(/.*--target=/,""); print $1}' "$dir/build.ninja")" \
		-std=c11 -O2 -ffreestanding -nostdlibinc -Inpt -DNPT_SIMD=1 $vec \
		-c npt/runs.c -o "$dir/runs-vec.o" 2>"$dir/runs-vec.log" &&
		[ -n "$(llvm-objdump-19 -d --no-show-raw-insn "$dir/runs-vec.o" | forbidden "$t")" ]; then
		pass "$t: negative control: the scan finds the vector kernels of runs.c built with NPT_SIMD=1"
	else
		fail "$t: negative control: vector code built from runs.c went unnoticed"
	fi

	# 5. the engine tests, linked with no libc
	runner=$(awk -F' = ' '/^runner = /{print $2}' "$dir/build.ninja")
	for p in $(fs_tests "$t"); do
		log=$dir/tests/$p.log
		if NPT_OPS=${NPT_FS_OPS:-2000} timeout 900 $runner "$dir/tests/$p" >"$log" 2>&1; then
			pass "$t: $p, no libc ($(tail -n 1 "$log"))"
		else
			fail "$t: $p, no libc:"; tail -n 5 "$log"
		fi
	done
}

# Two targets side by side, each building and running on one core; their
# lines in the order of TARGETS.
. scripts/side-by-side.sh
# shellcheck disable=SC2086 # TARGETS is a list
side_by_side "${NPT_FS_JOBS:-$(nproc 2>/dev/null || echo 1)}" target build-fs-%s.out $TARGETS
for t in $TARGETS; do
	cat "build-fs-$t.out"
	failed=$((failed + $(grep -c "^FAIL: " "build-fs-$t.out")))
done
echo "freestanding: $failed failed"
[ $failed -eq 0 ]
