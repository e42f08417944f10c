#!/usr/bin/env bash
# Builds the root file system of INSTANCE messages: a Debian 12 (bookworm)
# system with the OpenSSH server, from Debian's own packages, as a
# directory and as a zstd squashfs image (published as a STORE, within the
# core node's 100 MiB upload limit, that rootfs.parent.ref names). The
# compute node unpacks it once and makes each instance's root disk from it:
# an ext4 file system of the message's rootfs.size_mib. The guest agent,
# the VM's init, installs the message's SSH keys, host name and network,
# then runs sshd.
#
#   runtimes/debian-12-instance/build.sh          # prints the output directory
#   OUT=/var/cache/aleph/runtimes runtimes/debian-12-instance/build.sh
#
# The result is cached outside the repository, under
# ${OUT:-${XDG_CACHE_HOME:-$HOME/.cache}/goaleph/runtimes}/debian-12-instance-<key>,
# where <key> hashes this script: a second run with the same script does
# nothing. Needs root (mmdebstrap in root mode) and the Debian mirror;
# installs mmdebstrap and squashfs-tools when they are missing.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
MIRROR=${MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm
PACKAGES=openssh-server,ca-certificates,iproute2,procps
key=$(sha256sum "$here/build.sh" | cut -c1-12)
out=${OUT:-${XDG_CACHE_HOME:-$HOME/.cache}/goaleph/runtimes}/debian-12-instance-$key

if [ -f "$out/rootfs.squashfs" ] && [ -d "$out/rootfs" ]; then
	echo "$out"
	exit 0
fi

if ((EUID != 0)); then
	if command -v sudo >/dev/null 2>&1; then
		exec sudo --preserve-env=OUT,XDG_CACHE_HOME,HOME,MIRROR "$0" "$@"
	fi
	echo "build.sh: must run as root (mmdebstrap root mode), and sudo is not installed" >&2
	exit 1
fi
missing=()
command -v mmdebstrap >/dev/null || missing+=(mmdebstrap)
command -v mksquashfs >/dev/null || missing+=(squashfs-tools)
if ((${#missing[@]} > 0)); then
	echo "build.sh: installing ${missing[*]}" >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >&2
fi

mkdir -p "$(dirname "$out")"
tmp=$(mktemp -d "$(dirname "$out")/.build-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
start=$(date +%s)
# No host keys in the image: each instance makes its own at first boot
# (ssh-keygen -A), or every instance of the image would share them.
mmdebstrap --variant=minbase --include="$PACKAGES" \
	--dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
	--dpkgopt='path-exclude=/usr/share/locale/*' \
	--customize-hook='rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/* "$1"/etc/ssh/ssh_host_*' \
	--customize-hook='mkdir -p "$1"/run/sshd "$1"/root/.ssh "$1"/mnt && chmod 700 "$1"/root/.ssh' \
	--customize-hook='printf "PasswordAuthentication no\nKbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\nUseDNS no\n" >"$1"/etc/ssh/sshd_config.d/aleph.conf' \
	"$SUITE" "$tmp/rootfs" "$MIRROR" >&2
mksquashfs "$tmp/rootfs" "$tmp/rootfs.squashfs" -comp zstd -noappend -quiet >&2
mv "$tmp" "$out.partial"
rm -rf "$out"
mv "$out.partial" "$out"
trap - EXIT
echo "build.sh: built in $(($(date +%s) - start)) s: $(du -sh "$out/rootfs" | cut -f1) directory, $(du -h "$out/rootfs.squashfs" | cut -f1) image" >&2
echo "$out"
