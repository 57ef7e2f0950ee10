#!/bin/bash
# The KVM VMM end to end: every scenario, several seeds of `random`, every
# stage-2 format npt has, the command-line errors, the self-tests that must
# fail (a hanging guest, a triple-faulting guest), and `vmm boot` of the
# hello-world guests. Skipped (77) where /dev/kvm cannot be used.
#
#   tests/test_vmm.sh [BUILDDIR]
set -uo pipefail
cd "$(dirname "$0")/.."
builddir=${1:-${NPT_BUILDDIR:-build}}
vmm=$builddir/vmm

if [ ! -c /dev/kvm ] || [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
	echo "SKIP: /dev/kvm is missing or not usable here"
	exit 77
fi
if [ ! -x "$vmm" ]; then
	echo "FAIL: $vmm not built"
	exit 1
fi

failed=0
ran=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# expect RC CMD...: run, show the output, check the exit status.
expect() {
	local want=$1 rc
	shift
	ran=$((ran + 1))
	echo "\$ vmm ${*#"$vmm"}"
	"$@" >"$log" 2>&1
	rc=$?
	sed 's/^/    /' "$log"
	if [ "$rc" -eq 77 ]; then
		echo "SKIP: KVM is not usable here"
		exit 77
	fi
	if [ "$rc" -ne "$want" ]; then
		echo "FAIL: exit status $rc, expected $want"
		failed=$((failed + 1))
		return 1
	fi
	return 0
}

# expect_text TEXT: the last command's output contains TEXT.
expect_text() {
	if ! grep -qF -- "$1" "$log"; then
		echo "FAIL: output lacks '$1'"
		failed=$((failed + 1))
	fi
}

# 1. Every scenario, the host's own stage-2 format (all that vmm list names
# but the self-tests).
nsc=$("$vmm" list | grep -E '^  [a-z]' | grep -vc 'self-test:')
expect 0 "$vmm" run --seed 1 --stats
expect_text "PASS: $nsc scenario(s)"
expect_text "stats: demand:"
expect_text "hostile:  seed 1:"
# Every guest-virtual probe walked twice more: npt_translate_2d against the
# two queries, and npt against KVM_TRANSLATE (vmm/walkers.c); a
# disagreement is a mismatch, and fails the run.
expect_text "probes walked by npt_translate_2d"
expect_text "translations compared with KVM_TRANSLATE"

# 2. More seeds of random.
for seed in 2 3 4; do
	expect 0 "$vmm" run random --seed "$seed"
done

# 2b. The hostile guest: more seeds (NPT_VMM_HOSTILE_SEEDS adds more, e.g.
# "$(seq 5 200)"), and stage-2 formats of other families
# (a 40-bit aarch64-s2 and a 41-bit sv39x4 stage 2 see garbage GPAs beyond
# their width). A guest that dies is an outcome; a mismatch, a crash or a
# leak (ASan build) is a failure.
for args in "--seed 2" "--seed 3 --format aarch64-s2 --mem 16M" "--seed 4 --format sv39x4 --mem 16M"; do
	# shellcheck disable=SC2086
	expect 0 "$vmm" run hostile $args
	expect_text "stage-1 cross-check on for"
	expect_text "rounds ended by:"
	expect_text "stage 2 held:"
done
for seed in ${NPT_VMM_HOSTILE_SEEDS:-}; do
	expect 0 "$vmm" run hostile --seed "$seed"
done

# 3. Every stage-2 format npt has: the table is only the slots' source of
# truth, so each must pass (smaller RAM to keep it quick).
formats=$("$vmm" list | sed -n 's/^stage-2 formats (--format)://p')
[ -n "$formats" ] || { echo "FAIL: vmm list names no stage-2 format"; failed=$((failed + 1)); }
for f in $formats; do
	expect 0 "$vmm" run holes demand random dirty --format "$f" --mem 16M --seed 9
done

# 4. Bad input: refused before anything starts.
expect 2 "$vmm" run nosuchscenario
expect_text "unknown scenario"
expect 2 "$vmm" run --format x86_64
expect_text "not a stage-2 format"
expect 2 "$vmm" run --format nosuchformat
expect_text "unknown format"
expect 2 "$vmm" run --mem 1M
expect_text "too small"
expect 2 "$vmm" run --mem 33554433
expect_text "not a multiple of 4 KiB"

# 5. Self-tests: the VMM reports the registers and the last probe, exits
# non-zero, and (under ASan) leaks nothing.
expect 1 "$vmm" run hang
expect_text "time limit exceeded"
expect_text "last probe: spin"
expect_text "rip "
expect 1 "$vmm" run triple
expect_text "triple-faulted"
expect_text "last probe: crash"

# 6. vmm boot: the hello-world guests (multiboot in 32-bit protected mode,
# ELF64 in long mode on npt's identity map), a layout with every kind of
# range, each x86 stage-2 format, and a layout refused with its line.
guests=$builddir/guest/x86
expect 1 "$vmm" boot "$guests/hello.bin"
expect_text "Hello from a multiboot guest on npt's stage 2: 63 MiB above 1 MiB"
layout=$(mktemp)
trap 'rm -f "$log" "$layout"' EXIT
printf 'ram 0 0x9f000\nrom 0xf0000 64K\nram 0x100000 31M leaf=4K\nhole 0x2000000 16M\nmmio 0xfee00000 4K\n' >"$layout"
for f in ept npt; do
	expect 1 "$vmm" boot "$guests/hello.bin" --layout "$layout" --format "$f" --trace
	expect_text "Hello from a multiboot guest on npt's stage 2: 31 MiB above 1 MiB"
	expect_text "multiboot, boot area"
done
expect 1 "$vmm" boot "$guests/hello64.elf" --mem 16M
expect_text "Hello from a long-mode guest on npt's stage 2, paging through npt's identity map"
printf 'ram 0 16M\nram 8M 4K\n' >"$layout"
expect 2 "$vmm" boot "$guests/hello.bin" --layout "$layout"
expect_text "line 2: overlaps the range of line 1"
expect 2 "$vmm" boot "$guests/stub.bin"
expect_text "neither a multiboot image"

echo
if [ "$failed" -ne 0 ]; then
	echo "vmm: $failed of $ran checks failed"
	exit 1
fi
echo "vmm: all $ran runs as expected ($nsc scenarios, random seeds 1-4, hostile seeds 1-4, formats:$formats, bad input, self-tests, vmm boot)"
