#!/bin/bash
# Builds tests/test_concurrent and the whole library with ThreadSanitizer
# (clang -fsanitize=thread) into build-tsan/ and runs it: one writer and two
# readers per format; any data race fails it.
#
#   scripts/tsan.sh
#
# Prints PASS/FAIL (or SKIP when clang has no TSan runtime here) and exits
# non-zero on a failure.
set -u
cd "$(dirname "$0")/.." || exit 1
out=build-tsan
mkdir -p "$out"
check_cflags=$(pkg-config --cflags check 2>/dev/null)
check_libs=$(pkg-config --libs check 2>/dev/null || echo "-lcheck -lsubunit -lm -lrt -lpthread")
if ! command -v clang >/dev/null ||
	! echo 'int main(void){return 0;}' | clang -fsanitize=thread -x c - -o "$out/probe" 2>/dev/null; then
	echo "SKIP: tsan test_concurrent (no clang with -fsanitize=thread)"
	exit 0
fi
# shellcheck disable=SC2086 # the pkg-config flags are lists
if ! clang -fsanitize=thread -O1 -g -std=c11 -D_GNU_SOURCE -DNPT_SIMD=1 -Wall -Wextra -Werror -Inpt \
	-Itests/lib -Iuser $check_cflags npt/*.c arch/*.c user/frames.c tests/lib/*.c tests/test_concurrent.c \
	$check_libs -lpthread -o "$out/test_concurrent" >"$out/build.log" 2>&1; then
	echo "FAIL: tsan test_concurrent (build), output:"
	sed 's/^/    /' "$out/build.log"
	exit 1
fi
start=$(date +%s)
if CK_FORK=no TSAN_OPTIONS="halt_on_error=1 exitcode=66" "$out/test_concurrent" \
	>"$out/test_concurrent.log" 2>&1; then
	echo "PASS: tsan test_concurrent ($(($(date +%s) - start))s)"
	exit 0
fi
echo "FAIL: tsan test_concurrent, output:"
sed 's/^/    /' "$out/test_concurrent.log" | tail -n 80
exit 1
