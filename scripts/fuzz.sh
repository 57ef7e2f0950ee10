#!/bin/bash
# Runs the differential libFuzzer target (tests/fuzz/fuzz_npt.c).
#
#   scripts/fuzz.sh [SECONDS] [BUILDDIR]   build BUILDDIR/fuzz/fuzz_npt (default
#                                          build) and fuzz for SECONDS (default 60)
#   scripts/fuzz.sh --run EXE              what `ninja fuzz` calls: fuzz for
#                                          $NPT_FUZZ_SECONDS (default 60)
#
# Starts from the committed seed corpus (tests/fuzz/corpus, read only) and
# keeps what it finds in BUILDDIR/fuzz/corpus. A crash or a divergence from
# the reference model aborts the run: the input is saved as
# BUILDDIR/fuzz/crash-*, and FZ_VERBOSE=1 EXE that-file replays it printing
# every operation. Exit status: 0 when the time ran out without a finding.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

if [ "${1:-}" = --run ]; then
	exe=${2:?usage: scripts/fuzz.sh --run EXE}
	seconds=${NPT_FUZZ_SECONDS:-60}
else
	seconds=${1:-60}
	builddir=${2:-build}
	if [ "$builddir" = build ]; then
		ninja build/fuzz/fuzz_npt || exit 1
	else
		ninja -f "$builddir/build.ninja" "$builddir/fuzz/fuzz_npt" || exit 1
	fi
	exe=$builddir/fuzz/fuzz_npt
fi
dir=$(dirname "$exe")
mkdir -p "$dir/corpus"
echo "fuzz: $exe for ${seconds}s (corpus $dir/corpus + tests/fuzz/corpus)"
# -detect_leaks=0: the driver frees everything, and a leak in the engine is
# the invariant checker's (INV_COMPLETE) to report, with the frame named.
"$exe" -max_total_time="$seconds" -max_len=4096 -timeout=30 -rss_limit_mb=2048 \
	-detect_leaks=0 -print_final_stats=1 -artifact_prefix="$dir/" \
	"$dir/corpus" tests/fuzz/corpus 2>&1 | tee "$dir/fuzz.log" |
	grep -E '^(#[0-9]+ +(INITED|DONE)|npt fuzz|==[0-9]+==ERROR|SUMMARY|stat::number_of_executed_units|stat::peak_rss_mb|artifact_prefix|Test unit written)'
rc=${PIPESTATUS[0]}
if [ "$rc" -ne 0 ]; then
	echo "fuzz: FAILED (exit $rc); full log in $dir/fuzz.log"
	exit 1
fi
echo "fuzz: no crash, no divergence in ${seconds}s"
