#!/bin/sh
# Installs everything npt needs to build and test, on Debian 12 as root.
# Does nothing when every package is already installed.
set -eu
pkgs="gcc clang lld ninja-build pkg-config check python3 linux-libc-dev
binutils make valgrind qemu-system-arm qemu-system-misc"

missing=
for p in $pkgs; do
	case $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true) in
	"install ok installed") ;;
	*) missing="$missing $p" ;;
	esac
done
if [ -z "$missing" ]; then
	echo "install-deps: everything is installed"
	exit 0
fi

sudo=
[ "$(id -u)" -eq 0 ] || sudo=sudo
echo "install-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update
# shellcheck disable=SC2086
$sudo apt-get install -y --no-install-recommends $missing
