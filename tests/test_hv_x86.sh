#!/bin/bash
# npt inside a hypervisor on emulated hardware: hv (hv/x86, built with the
# freestanding engine) boots under QEMU TCG with SVM and nested paging,
# builds its own x86_64 address space (1 GiB leaves, in CR3) and its
# guest's `npt` stage 2 at run time, handles every nested page fault by
# calling npt, executes every flush record as the next VMRUN's TLB_CONTROL,
# and checks each exit against npt_query (hv/x86/main.c says what counts as
# a mismatch). This script reads its report from the serial port and
# asserts: 0 mismatches; the exit counts of each kind; dirty logging rounds
# whose harvests were the pages written; collapse back to 2 MiB leaves;
# remaps and unmaps; the permission negative control (a write permission
# cleared behind npt's back faults every time) and the flush one. Twice:
# hv.bin on 4-level paging (x86_64 in CR3, `npt` stage 2) and hv5.bin on
# 5-level paging (x86_64-la57, `npt5`: the nested walk takes the host's
# paging mode).
#
#   tests/test_hv_x86.sh [BUILDDIR]
set -uo pipefail
cd "$(dirname "$0")/.."
builddir=${1:-${NPT_BUILDDIR:-build}}
hv=$builddir/hv/x86/hv.bin
command -v qemu-system-x86_64 >/dev/null || { echo "SKIP: no qemu-system-x86_64"; exit 77; }
[ -f "$hv" ] || { echo "SKIP: $hv not built (clang-19, ld.lld-19)"; exit 77; }
failed=0
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }

# check BINARY STAGE1 STAGE2: one run of hv, its report checked
check() {
	local bin=$1 s1=$2 fmt=$3 out rc line flips seen total stale fresh
	echo "=== $bin: $s1 in CR3, $fmt stage 2"
	out=$(timeout 300 qemu-system-x86_64 -accel tcg -cpu qemu64,+svm,+npt,+pdpe1gb,+nx,+la57 \
		-m 256M -display none -vga none -nic none -no-reboot -serial stdio -monitor none \
		-device isa-debug-exit,iobase=0xf4,iosize=4 -kernel "$bin" 2>&1)
	rc=$?
	echo "$out"
	# isa-debug-exit: hv_exit(0) is status 1
	[ "$rc" -eq 1 ] || fail "$fmt: QEMU exited with $rc (hv_exit(0) gives 1)"
	field() { # field LINE-PREFIX NAME: the number after NAME on that line
		grep "^hv $fmt: $1" <<<"$out" | grep -oE "(^| )$2 [0-9]+" | grep -oE '[0-9]+$' | head -n 1
	}
	positive() { # positive PREFIX NAME...: each field is there and above 0
		local p=$1 f v
		shift
		for f in "$@"; do
			v=$(field "$p" "$f")
			[ -n "$v" ] && [ "$v" -gt 0 ] || fail "$fmt: $p $f is '${v:-missing}', want > 0"
		done
	}
	grep -q "^hv $fmt: $s1 stage 1 of 4 1 GiB leaves in CR3" <<<"$out" ||
		fail "$fmt: hv did not run on its own $s1 table"
	[ "$(field mismatches mismatches)" = 0 ] || fail "$fmt: mismatches '$(field mismatches mismatches)'"
	[ "$(field probes probes)" -ge 3000 ] 2>/dev/null || fail "$fmt: fewer than 3000 probes"
	positive probes completed faults demand perm mmio
	[ "$(field dirty rounds)" = 4 ] || fail "$fmt: dirty logging rounds '$(field dirty rounds)'"
	positive dirty pages
	[ "$(field dirty collapsed)" = 8 ] || fail "$fmt: collapse gave '$(field dirty collapsed)' leaves, want 8"
	positive remaps remaps unmaps
	line=$(grep "^hv $fmt: negative" <<<"$out")
	flips=$(grep -oE 'permission [0-9]+ of [0-9]+' <<<"$line")
	read -r _ seen _ total <<<"$flips"
	[ -n "$total" ] && [ "$total" -gt 0 ] && [ "$seen" = "$total" ] ||
		fail "$fmt: negative permission control '$flips': every cleared write permission must fault"
	stale=$(grep -oE 'stale [0-9]+' <<<"$line" | grep -oE '[0-9]+')
	fresh=$(grep -oE 'fresh [0-9]+' <<<"$line" | grep -oE '[0-9]+')
	# QEMU TCG drops its whole TLB at every VMRUN and #VMEXIT (the world
	# switch reloads CR3), so a remap whose flush hv skipped reads the new
	# page: the flush control cannot show a stale translation under this
	# emulator. Every trial must still complete.
	[ -n "$stale" ] && [ $((stale + fresh)) -eq 10 ] ||
		fail "$fmt: flush control stale '$stale' fresh '$fresh'"
	echo "qemu-tcg $fmt: $(field probes probes) probes, 0 mismatches; faults $(field probes faults)," \
		"demand $(field probes demand), dirty rounds 4; permission control $seen/$total;" \
		"flush control: stale $stale of 10 (QEMU flushes at VMRUN); $s1 with 1 GiB leaves in CR3"
}

check "$hv" x86_64 npt
check "$builddir/hv/x86/hv5.bin" x86_64-la57 npt5
[ "$failed" -eq 0 ]
