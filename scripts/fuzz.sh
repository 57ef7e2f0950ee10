#!/bin/bash
# Runs the libFuzzer targets: tests/fuzz/fuzz_npt.c (the engine against the
# reference model), tests/fuzz/fuzz_translate.c (npt_translate_2d and
# npt_translate_raw over tables the input writes), tests/fuzz/fuzz_image.c
# (the inspector's image walker) and tests/fuzz/fuzz_boot.c (the layout file
# and kernel image parsers of vmm boot).
#
#   scripts/fuzz.sh [SECONDS] [BUILDDIR]   build BUILDDIR/fuzz/fuzz_* (default
#                                          build) and fuzz each for SECONDS
#                                          (default 60)
#   scripts/fuzz.sh --run EXE...           what `ninja fuzz` calls: fuzz each
#                                          for $NPT_FUZZ_SECONDS (default 60)
#
# Each target starts from its committed seed corpus (read only):
# tests/fuzz/corpus for fuzz_npt, tests/fuzz/corpus-NAME for fuzz_NAME; what
# it finds is kept in BUILDDIR/fuzz/corpus-NAME. A crash or a failed check
# aborts the run: the input is saved as BUILDDIR/fuzz/NAME-crash-*, and
# FZ_VERBOSE=1 EXE that-file replays it (fuzz_npt prints every operation).
# The targets run side by side, one per CPU ($NPT_FUZZ_JOBS). Exit status:
# 0 when every target ran out its time without a finding.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

if [ "${1:-}" = --run ]; then
	shift
	exes=("$@")
	seconds=${NPT_FUZZ_SECONDS:-60}
else
	seconds=${1:-60}
	builddir=${2:-build}
	exes=("$builddir"/fuzz/fuzz_npt "$builddir"/fuzz/fuzz_translate "$builddir"/fuzz/fuzz_image
	      "$builddir"/fuzz/fuzz_boot)
	if [ "$builddir" = build ]; then
		ninja "${exes[@]}" || exit 1
	else
		ninja -f "$builddir/build.ninja" "${exes[@]}" || exit 1
	fi
fi
[ "${#exes[@]}" -gt 0 ] || { echo "usage: scripts/fuzz.sh --run EXE..."; exit 2; }
# one EXE: fuzzes it, its lines on stdout; exit status 1 on a finding.
one() {
	local exe=$1 dir name seeds rc
	dir=$(dirname "$exe")
	name=$(basename "$exe")
	seeds=tests/fuzz/corpus-${name#fuzz_}
	[ "$name" = fuzz_npt ] && seeds=tests/fuzz/corpus
	mkdir -p "$dir/corpus-${name#fuzz_}"
	echo "fuzz: $exe for ${seconds}s (corpus $dir/corpus-${name#fuzz_} + $seeds)"
	# -detect_leaks=0: the drivers free everything, and a leak in the engine
	# is the invariant checker's (INV_COMPLETE) or the pool's count to report.
	"$exe" -max_total_time="$seconds" -max_len=4096 -timeout=30 -rss_limit_mb=2048 \
		-detect_leaks=0 -print_final_stats=1 -artifact_prefix="$dir/$name-" \
		"$dir/corpus-${name#fuzz_}" "$seeds" 2>&1 | tee "$dir/$name.log" |
		grep -E '^(#[0-9]+ +(INITED|DONE)|npt ([a-z]+ )?fuzz|==[0-9]+==ERROR|SUMMARY|stat::number_of_executed_units|stat::peak_rss_mb|artifact_prefix|Test unit written)'
	rc=${PIPESTATUS[0]}
	if [ "$rc" -ne 0 ]; then
		echo "fuzz: $name FAILED (exit $rc); full log in $dir/$name.log"
		return 1
	fi
	echo "fuzz: $name: no crash, no failed check in ${seconds}s"
}

# One target per CPU ($NPT_FUZZ_JOBS) side by side, each single-threaded;
# their lines in the order named.
. scripts/side-by-side.sh
side_by_side "${NPT_FUZZ_JOBS:-$(nproc 2>/dev/null || echo 1)}" one %s.out "${exes[@]}"
failed=0
for exe in "${exes[@]}"; do
	cat "$exe.out"
	grep -q "^fuzz: $(basename "$exe"): no crash" "$exe.out" || failed=1
done
exit "$failed"
