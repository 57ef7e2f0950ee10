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
# cleared behind npt's back faults every time) and the flush one.
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

out=$(timeout 300 qemu-system-x86_64 -accel tcg -cpu qemu64,+svm,+npt,+pdpe1gb,+nx -m 256M \
	-display none -vga none -nic none -no-reboot -serial stdio -monitor none \
	-device isa-debug-exit,iobase=0xf4,iosize=4 -kernel "$hv" 2>&1)
rc=$?
echo "$out"
# isa-debug-exit: hv_exit(0) is status 1
[ "$rc" -eq 1 ] || fail "QEMU exited with $rc (hv_exit(0) gives 1)"
field() { # field LINE-PREFIX NAME: the number after NAME on the line starting so
	grep "^hv npt: $1" <<<"$out" | grep -oE "(^| )$2 [0-9]+" | grep -oE '[0-9]+$' | head -n 1
}
positive() { # positive PREFIX NAME...: each of the fields is there and above 0
	local p=$1 f v
	shift
	for f in "$@"; do
		v=$(field "$p" "$f")
		[ -n "$v" ] && [ "$v" -gt 0 ] || fail "$p $f is '${v:-missing}', want > 0"
	done
}
grep -q '^hv npt: x86_64 stage 1 of 4 1 GiB leaves in CR3' <<<"$out" ||
	fail "hv did not run on its own x86_64 table"
[ "$(field mismatches mismatches)" = 0 ] || fail "mismatches: $(field mismatches mismatches)"
[ "$(field probes probes)" -ge 3000 ] 2>/dev/null || fail "fewer than 3000 probes"
positive probes completed npf demand perm mmio
[ "$(field dirty rounds)" = 4 ] || fail "dirty logging rounds: $(field dirty rounds)"
positive dirty pages
[ "$(field dirty collapsed)" = 8 ] || fail "collapse: $(field dirty collapsed) leaves, want 8"
positive remaps remaps unmaps
line=$(grep '^hv npt: negative' <<<"$out")
flips=$(grep -oE 'permission [0-9]+ of [0-9]+' <<<"$line")
read -r _ seen _ total <<<"$flips"
[ -n "$total" ] && [ "$total" -gt 0 ] && [ "$seen" = "$total" ] ||
	fail "negative permission control: '$flips', want every cleared write permission to fault"
stale=$(grep -oE 'stale [0-9]+' <<<"$line" | grep -oE '[0-9]+')
fresh=$(grep -oE 'fresh [0-9]+' <<<"$line" | grep -oE '[0-9]+')
# QEMU TCG drops its whole TLB at every VMRUN and #VMEXIT (a world switch
# reloads CR3), so a remap whose flush hv skipped reads the new page: the
# flush control cannot show a stale translation under this emulator. It
# must still have run every trial to completion.
[ -n "$stale" ] && [ $((stale + fresh)) -eq 10 ] || fail "flush control: stale '$stale' fresh '$fresh'"
if [ "$failed" -eq 0 ]; then
	echo "qemu-tcg svm npt: $(field probes probes) probes, 0 mismatches;" \
		"npf $(field probes npf), demand $(field probes demand), dirty rounds 4;" \
		"permission control $seen/$total; flush control: stale $stale of 10 (QEMU flushes at VMRUN)"
fi
[ "$failed" -eq 0 ]
