#!/bin/sh
# ninja bench: benchmarks always run from a release build.
#
#   scripts/bench.sh            configure build-release/ (with $CC, default cc)
#                               and run `ninja bench` there
#   scripts/bench.sh --run P... run the given benchmark programs
set -eu
cd "$(dirname "$0")/.."
if [ "${1:-}" = --run ]; then
	shift
	[ $# -eq 0 ] && echo "no benchmarks (bench/*.c)"
	for b in "$@"; do
		echo "== $(basename "$b")"
		"$b"
	done
	exit 0
fi
python3 configure.py --cc "${CC:-cc}" --mode release --builddir build-release \
	-o build-release/build.ninja
exec ninja -f build-release/build.ninja bench
