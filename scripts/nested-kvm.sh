#!/bin/bash
# Runs a command of this tree under a real KVM on a machine that has none:
# QEMU's TCG emulates an AMD CPU with SVM and nested paging (-cpu max), a
# Debian kernel boots in it (a few seconds), loads kvm-amd, and runs CMD in a
# copy of the build tree packed into its initramfs, with /dev/kvm.
#
#   scripts/nested-kvm.sh BUILDDIR CMD [ARG...]      (from the top of the tree)
#
# CMD runs in a directory holding BUILDDIR/vmm, BUILDDIR/guest/ and tests/,
# under the same relative names. The KVM there is Linux's kvm_amd on QEMU's
# emulated SVM (AMD APM vol. 2 §15), so this exercises the VMM's AMD path
# whatever the host CPU is; it is several times slower than KVM on hardware.
# The kernel and busybox come from Debian's packages, downloaded once into
# BUILDDIR/nested-kvm/ (NPT_NESTED_CACHE overrides).
#
# Exit status: CMD's; 1 when the emulated machine did not report one (the
# kernel failed to boot, kvm-amd did not load, or NPT_NESTED_TIMEOUT seconds,
# default 1200, ran out).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
if [ $# -lt 2 ]; then
	echo "usage: scripts/nested-kvm.sh BUILDDIR CMD [ARG...]" >&2
	exit 2
fi
builddir=$1
shift
cache=${NPT_NESTED_CACHE:-$builddir/nested-kvm}
timeout_s=${NPT_NESTED_TIMEOUT:-1200}

die() {
	echo "nested-kvm: $*" >&2
	exit 1
}
for t in qemu-system-x86_64 cpio gzip apt-get dpkg-deb ldd; do
	command -v "$t" >/dev/null || die "$t is missing (scripts/install-deps.sh installs it)"
done
[ -x "$builddir/vmm" ] || die "$builddir/vmm is not built"

# The kernel the linux-image-amd64 metapackage names today, and busybox.
mkdir -p "$cache" || exit 1
kernel_package() {
	apt-cache depends linux-image-amd64 2>/dev/null |
		sed -n 's/^ *Depends: \(linux-image-[0-9].*-amd64\)$/\1/p' | head -n 1
}
# download PACKAGE: into the cache, unless it is there.
download() {
	ls "$cache/${1}_"*.deb >/dev/null 2>&1 ||
		(cd "$cache" && apt-get download "$1" >/dev/null 2>&1)
}
kpkg=$(kernel_package)
if [ -z "$kpkg" ] || ! download "$kpkg" || ! download busybox-static; then
	# No package lists, or lists naming a kernel the mirror no longer has.
	apt-get update >/dev/null 2>&1
	kpkg=$(kernel_package)
	[ -n "$kpkg" ] || die "apt-cache names no kernel for linux-image-amd64"
	download "$kpkg" || die "apt-get download $kpkg failed"
	download busybox-static || die "apt-get download busybox-static failed"
fi

# The root file system: busybox, the KVM modules with what they depend on
# (each module's own depends= line), and the tree's programs with the
# shared libraries ldd names for them and for bash.
work=$(mktemp -d /tmp/nested-kvm.XXXXXX) || exit 1
trap 'rm -rf "$work"' EXIT
root=$work/root
mkdir -p "$root"/{bin,mods,proc,sys,dev,tmp} "$root/npt/$builddir" "$work/k"
dpkg-deb -x "$cache/${kpkg}_"*.deb "$work/k" || die "cannot unpack $kpkg"
dpkg-deb -x "$cache/busybox-static_"*.deb "$work/bb" || die "cannot unpack busybox-static"
cp "$work/bb/bin/busybox" "$root/bin/"
kernel=$(ls "$work/k/boot/vmlinuz-"* | head -n 1)
moddir=$(ls -d "$work/k/lib/modules/"* | head -n 1)

order=()
add_module() {
	local name=$1 file dep
	for m in "${order[@]}"; do [ "$m" = "$name" ] && return 0; done
	file=$(find "$moddir" -name "$name.ko" | head -n 1)
	[ -n "$file" ] || die "kernel module $name.ko not in $kpkg"
	for dep in $(strings "$file" | sed -n 's/^depends=//p' | tr , ' '); do
		add_module "$dep"
	done
	cp "$file" "$root/mods/"
	order+=("$name")
}
add_module kvm-amd

cp "$builddir/vmm" "$root/npt/$builddir/"
[ -d "$builddir/guest" ] && cp -r "$builddir/guest" "$root/npt/$builddir/"
mkdir -p "$root/npt/tests" && cp tests/*.sh "$root/npt/tests/"
cp "$(command -v bash)" "$root/bin/"
for lib in $(ldd "$builddir/vmm" "$(command -v bash)" |
	awk '/=> \//{print $3} /^\t\/[^ ]*ld-linux/{print $1}' | sort -u); do
	mkdir -p "$root$(dirname "$lib")"
	cp -L "$lib" "$root$lib"
done
# The dynamic loader's path as the programs name it.
interp=$(ldd "$builddir/vmm" | awk '/ld-linux/{print ($3 ? $3 : $1)}' | head -n 1)
mkdir -p "$root/lib64"
[ -e "$root/lib64/$(basename "$interp")" ] || cp -L "$interp" "$root/lib64/"

printf '%q ' "$@" >"$root/npt/cmd"
cat >"$root/init" <<EOF
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin HOME=/tmp
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
for m in ${order[*]}; do
	insmod /mods/\$m.ko || echo "nested-kvm: insmod \$m failed"
done
if [ -c /dev/kvm ]; then
	cd /npt && bash ./cmd
	echo "NPT-NESTED-RC=\$?"
else
	echo "nested-kvm: no /dev/kvm in the emulated machine"
fi
poweroff -f
EOF
chmod +x "$root/init"
(cd "$root" && find . | cpio -o -H newc 2>/dev/null | gzip -1) >"$work/initrd" ||
	die "cannot pack the initramfs"

echo "nested-kvm: $kpkg under QEMU TCG (-cpu max: SVM, NPT), kvm-amd; running: $*"
log=$work/serial
timeout "$timeout_s" qemu-system-x86_64 -accel tcg -cpu max -m 2G -smp 1 -nographic \
	-nic none -monitor none -serial stdio -no-reboot -kernel "$kernel" \
	-initrd "$work/initrd" -append "console=ttyS0 panic=-1 quiet" </dev/null 2>&1 |
	sed -u 's/\r//g' | tee "$log" |
	sed -u -e '/^NPT-NESTED-RC=/d' -e 's/\x1b[^a-zA-Z]*[a-zA-Z]//g' -e '/^c$/d'
rc=$(sed -n 's/^NPT-NESTED-RC=\([0-9]*\)$/\1/p' "$log" | tail -n 1)
if [ -z "$rc" ]; then
	echo "nested-kvm: the emulated machine reported no exit status" >&2
	exit 1
fi
exit "$rc"
