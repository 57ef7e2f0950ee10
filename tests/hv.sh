#!/bin/bash
# npt inside hypervisors on emulated hardware (hv/, README "npt inside a
# hypervisor"). Each hv links the freestanding engine, builds its guest's
# stage 2 at run time, handles every stage-2 fault by calling npt, executes
# every flush record, and checks each exit against npt_query
# (hv/common/scenario.c says what counts as a mismatch). This script reads
# each report from the serial port and asserts, per (emulator, format):
# 0 mismatches; exits of every kind (completed, faults, demand maps,
# permission faults, emulated MMIO); dirty logging rounds whose harvests
# were the pages written; collapse back to 2 MiB leaves; remaps and unmaps;
# the permission negative control (a write permission cleared behind npt's
# back faults every time) and the flush one.
#  - QEMU TCG x86-64 with SVM: hv.bin on 4-level paging (x86_64 with 1 GiB
#    leaves in CR3, `npt` stage 2) and hv5.bin on 5-level paging
#    (x86_64-la57, `npt5`: the nested walk follows the host's paging mode).
#  - QEMU aarch64 virt at EL2: aarch64-s2 and aarch64-s2-48, fault levels
#    checked, access-flag faults resolved with npt_log_access_fault.
#  - QEMU riscv64 virt in HS-mode: sv39x4, sv48x4 and sv57x4.
#  Each guest then runs on a stage-1 table of its own that hv builds in
#  guest memory with npt (x86_64, x86_64-la57; aarch64; sv39, sv48, sv57), and 1500
#  accesses through both stages must be what npt_translate_2d says: done at
#  its hpa, or its fault at its stage, address, kind and level.
#  - Bochs: hv.bin again, with SVM (ryzen: `npt` walked by a second,
#    independent implementation) and with VMX (tigerlake: `ept`).
#
#   tests/hv.sh [BUILDDIR]
#
# Not a test_*.sh: the hv images are the same in every build tree, so
# tests/all.sh runs this once (with build-gcc) instead of once per tree.
set -uo pipefail
cd "$(dirname "$0")/.."
builddir=${1:-${NPT_BUILDDIR:-build}}
failed=0 ran=0
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }

# report EMULATOR FORMAT STALE: one format's lines in $out, checked.
# STALE: what the flush control must show (all: every skipped flush served
# the old page; none: the emulator flushed anyway).
report() {
	local emu=$1 fmt=$2 stale_want=$3 want_two=${4:-} line flips seen total stale fresh two v f
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
	case $stale_want in
	all) [ "$stale" = 10 ] || fail "$fmt: flush control: stale '$stale' of 10, want every skipped flush seen" ;;
	none) [ -n "$stale" ] && [ $((stale + fresh)) -eq 10 ] ||
		fail "$fmt: flush control stale '$stale' fresh '$fresh'" ;;
	esac
	# the guest's own stage 1 (Arm, RISC-V): both walks against npt_translate_2d
	two=$(grep "^hv $fmt: two stages" <<<"$out")
	if [ -n "$two$want_two" ]; then
		tfield() { grep -oE "(^|[ (])$1 [0-9]+" <<<"$two" | grep -oE '[0-9]+$' | head -n 1; }
		[ "$(tfield mismatches)" = 0 ] || fail "$fmt: two stages: mismatches '$(tfield mismatches)'"
		[ "$(tfield probes)" = 1500 ] || fail "$fmt: two stages: probes '$(tfield probes)'"
		for f in completed faults walk; do
			v=$(tfield "$f")
			[ -n "$v" ] && [ "$v" -gt 0 ] || fail "$fmt: two stages: $f '$v', want > 0"
		done
		grep -qE 'stage-1 faults [1-9]' <<<"$two" || fail "$fmt: two stages: no stage-1 fault"
		grep -qE 'stage-2 faults [1-9]' <<<"$two" || fail "$fmt: two stages: no stage-2 fault"
		two=" two stages: $(grep -oE '[a-z0-9_-]+ over [a-z0-9_-]+' <<<"$two"), $(tfield probes) probes,"
		two="$two 0 npt_translate_2d mismatches;"
	fi
	echo "$emu $fmt: $(field probes probes) probes, 0 mismatches; faults $(field probes faults)," \
		"demand $(field probes demand), access-flag $(grep "^hv $fmt: accessed" <<<"$out" |
			grep -oE '[0-9]+ access' | grep -oE '[0-9]+'), dirty rounds 4;" \
		"permission control $seen/$total; flush control: stale $stale of 10;$two"
}

# x86-64, QEMU TCG with SVM and nested paging. QEMU TCG drops its whole TLB
# at every VMRUN and #VMEXIT (the world switch reloads CR3), so a remap whose
# flush hv skipped reads the new page: the flush control cannot show a
# stale translation under this emulator; every trial must still complete.
x86() {
	local bin=$1 s1=$2 fmt=$3 rc
	echo "=== $bin: $s1 in CR3, $fmt stage 2"
	out=$(timeout 120 qemu-system-x86_64 -accel tcg -cpu qemu64,+svm,+npt,+pdpe1gb,+nx,+la57 \
		-m 256M -display none -vga none -nic none -no-reboot -serial stdio -monitor none \
		-device isa-debug-exit,iobase=0xf4,iosize=4 -kernel "$bin" 2>&1)
	rc=$?
	echo "$out"
	ran=$((ran + 1))
	# isa-debug-exit: hv_exit(0) is status 1
	[ "$rc" -eq 1 ] || fail "$fmt: QEMU exited with $rc (hv_exit(0) gives 1)"
	grep -q "^hv $fmt: $s1 stage 1 of 4 1 GiB leaves in CR3" <<<"$out" ||
		fail "$fmt: hv did not run on its own $s1 table"
	report qemu-tcg "$fmt" none two
}

# AArch64, QEMU virt at EL2: QEMU keeps stage-2 translations across EL2
# and EL1 switches, so every skipped flush must serve the old page.
aarch64() {
	local bin=$1 rc
	echo "=== $bin: aarch64-s2, aarch64-s2-48"
	out=$(timeout 120 qemu-system-aarch64 -M virt,virtualization=on -cpu max -m 256M \
		-nographic -nic none -monitor none -serial stdio -semihosting -kernel "$bin" 2>&1)
	rc=$?
	echo "$out"
	ran=$((ran + 1))
	[ "$rc" -eq 0 ] || fail "aarch64: QEMU exited with $rc"
	report qemu-aarch64 aarch64-s2 all two
	report qemu-aarch64 aarch64-s2-48 all two
	for fmt in aarch64-s2 aarch64-s2-48; do
		n=$(grep "^hv $fmt: accessed" <<<"$out" | grep -oE '[0-9]+ access' | grep -oE '[0-9]+')
		[ -n "$n" ] && [ "$n" -gt 0 ] || fail "$fmt: no access-flag fault resolved"
	done
}

# RISC-V, QEMU virt with the H extension, HS-mode. QEMU 7.2 flushes its
# TLB at every switch into and out of V-mode (riscv_cpu_set_virt_enabled),
# so the flush control cannot show a stale translation there either; and
# it updates A and D in G-stage leaves itself (the privileged spec allows
# hardware updating), so a harvested accessed flag does not fault: the
# accessed phase must count those hardware updates instead.
riscv() {
	local bin=$1 rc fmt n
	echo "=== $bin: sv39x4, sv48x4, sv57x4"
	out=$(timeout 120 qemu-system-riscv64 -M virt -cpu rv64,h=true,svpbmt=on -m 256M -bios none \
		-nographic -nic none -monitor none -serial stdio -kernel "$bin" 2>&1)
	rc=$?
	echo "$out"
	ran=$((ran + 1))
	[ "$rc" -eq 0 ] || fail "riscv: QEMU exited with $rc"
	for fmt in sv39x4 sv48x4 sv57x4; do
		if grep -q "^hv $fmt: not walked here" <<<"$out"; then
			fail "$fmt: QEMU did not take the hgatp mode"
			continue
		fi
		report qemu-riscv64 "$fmt" none two
		n=$(grep "^hv $fmt: accessed" <<<"$out" | grep -oE '[0-9]+ set by' | grep -oE '[0-9]+')
		[ -n "$n" ] && [ "$n" -gt 0 ] || fail "$fmt: no accessed flag set by the hardware"
		# the two-stage quirk, counted: QEMU sets a clear G-stage A where
		# npt_translate_2d (no Svadu) faults
		n=$(grep "^hv $fmt: two stages" <<<"$out" | grep -oE 'hardware A [0-9]+' | grep -oE '[0-9]+$')
		echo "$fmt: QEMU set $n G-stage accessed flags npt_translate_2d expected to fault on"
	done
}

# x86-64 under Bochs, which walks with its own implementation: cpu model
# ryzen (SVM, `npt`: the second walker of that format) and tigerlake (VMX
# with EPT: `ept`, which nothing else here walks; hv runs ept5 too where
# IA32_VMX_EPT_VPID_CAP offers a 5-level walk, and no Bochs 2.7 model
# does). Bochs has no -kernel: guest/x86/bootsect.S loads hv.bin from a
# disk image as QEMU's multiboot loader would. Its debugger starts stopped
# (-rc: continue) and hv ends it through port 0x8900 ("Shutdown"); the
# verdict is the report on COM1. Bochs drops its TLB at every VMRUN, VM
# entry and exit, so the flush control cannot show a stale translation.
bochs_x86() {
	local model=$1 fmt=$2 hv=$3 boot=$4 dir
	echo "=== Bochs ($model): $hv, $fmt stage 2"
	dir=$(mktemp -d)
	dd if=/dev/zero of="$dir/disk.img" bs=1M count=10 status=none
	dd if="$boot" of="$dir/disk.img" conv=notrunc status=none
	dd if="$hv" of="$dir/disk.img" bs=512 seek=1 conv=notrunc status=none
	cat >"$dir/bochsrc" <<EOB
megs: 256
cpu: model=$model, count=1, ips=100000000
romimage: file=/usr/share/bochs/BIOS-bochs-latest
vgaromimage: file=/usr/share/bochs/VGABIOS-lgpl-latest
ata0-master: type=disk, path=$dir/disk.img, mode=flat, cylinders=20, heads=16, spt=63
boot: disk
display_library: rfb, options="timeout=0"
log: $dir/bochs.log
panic: action=fatal
com1: enabled=1, mode=file, dev=$dir/serial.txt
EOB
	echo continue >"$dir/rc"
	(cd "$dir" && setsid timeout 300 bochs -q -f bochsrc -rc rc >"$dir/bochs.out" 2>&1 </dev/null)
	out=$(cat "$dir/serial.txt" 2>/dev/null)
	echo "$out"
	ran=$((ran + 1))
	grep -q 'Shutdown port: shutdown requested' "$dir/bochs.out" ||
		{ fail "bochs $model: did not end through the shutdown port"; tail -n 20 "$dir/bochs.out"; }
	grep -q "^hv npt: x86_64 stage 1 of 4 1 GiB leaves in CR3" <<<"$out" ||
		fail "bochs $model: hv did not run on its own x86_64 table"
	report "bochs-$model" "$fmt" none two
	rm -rf "$dir"
}

if command -v bochs >/dev/null && [ -f /usr/share/bochs/VGABIOS-lgpl-latest ] &&
	[ -f "$builddir/hv/x86/hv.bin" ] && [ -f "$builddir/guest/x86/bootsect.bin" ]; then
	bochs_x86 ryzen npt "$builddir/hv/x86/hv.bin" "$builddir/guest/x86/bootsect.bin"
	bochs_x86 tigerlake ept "$builddir/hv/x86/hv.bin" "$builddir/guest/x86/bootsect.bin"
	grep -q "^hv ept: VMX with EPT, 5-level EPT no" <<<"$out" &&
		echo "bochs-tigerlake ept5: not offered (IA32_VMX_EPT_VPID_CAP bit 7 is 0)"
fi
if command -v qemu-system-x86_64 >/dev/null && [ -f "$builddir/hv/x86/hv.bin" ]; then
	x86 "$builddir/hv/x86/hv.bin" x86_64 npt
	x86 "$builddir/hv/x86/hv5.bin" x86_64-la57 npt5
fi
if command -v qemu-system-aarch64 >/dev/null && [ -f "$builddir/hv/aarch64/hv.elf" ]; then
	aarch64 "$builddir/hv/aarch64/hv.elf"
fi
if command -v qemu-system-riscv64 >/dev/null && [ -f "$builddir/hv/riscv/hv.elf" ]; then
	riscv "$builddir/hv/riscv/hv.elf"
fi
[ "$ran" -gt 0 ] || { echo "SKIP: no QEMU, or no hv built (clang-19, ld.lld-19)"; exit 77; }
[ "$failed" -eq 0 ]
