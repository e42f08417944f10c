#!/usr/bin/env bash
# Builds the default program runtime of the compute node: a Debian 12
# (bookworm) root file system with Python 3 and an ASGI stack from Debian's
# own packages (uvicorn, FastAPI), as a directory (the sandbox backend binds
# it read-only) and as a squashfs image (micro VMs boot it; it is published
# to the network as a STORE so that PROGRAM messages reference it by hash).
#
#   runtimes/debian-12-python/build.sh            # prints the output directory
#   OUT=/var/cache/aleph/runtimes runtimes/debian-12-python/build.sh
#
# The result is cached outside the repository, under
# ${OUT:-${XDG_CACHE_HOME:-$HOME/.cache}/goaleph/runtimes}/debian-12-python-<key>,
# where <key> hashes this script: a second run with the same script does
# nothing. Needs root (mmdebstrap in root mode) and the Debian mirror;
# installs mmdebstrap and squashfs-tools when they are missing.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
MIRROR=${MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm
PACKAGES=python3,python3-uvicorn,python3-fastapi,ca-certificates
key=$(sha256sum "$here/build.sh" | cut -c1-12)
out=${OUT:-${XDG_CACHE_HOME:-$HOME/.cache}/goaleph/runtimes}/debian-12-python-$key

if [ -f "$out/rootfs.squashfs" ] && [ -d "$out/rootfs" ]; then
	echo "$out"
	exit 0
fi

if ((EUID != 0)); then
	# mmdebstrap's root mode: go through sudo when it is there, keeping the
	# caller's cache directory.
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

tmp=$(mktemp -d "$(dirname "$out")/.build-XXXXXX" 2>/dev/null || { mkdir -p "$(dirname "$out")" && mktemp -d "$(dirname "$out")/.build-XXXXXX"; })
trap 'rm -rf "$tmp"' EXIT
start=$(date +%s)
# minbase: essential packages and apt only; documentation and locales are
# left out to keep the image small.
mmdebstrap --variant=minbase --include="$PACKAGES" \
	--dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
	--dpkgopt='path-exclude=/usr/share/locale/*' \
	--customize-hook='rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/*' \
	"$SUITE" "$tmp/rootfs" "$MIRROR" >&2
# Mount points the sandbox and the guest agent use.
mkdir -p "$tmp/rootfs/opt/code" "$tmp/rootfs/opt/packages" "$tmp/rootfs/data" "$tmp/rootfs/run/aleph"
mksquashfs "$tmp/rootfs" "$tmp/rootfs.squashfs" -comp zstd -noappend -quiet >&2
mv "$tmp" "$out.partial"
rm -rf "$out"
mv "$out.partial" "$out"
trap - EXIT
echo "build.sh: built in $(($(date +%s) - start)) s: $(du -sh "$out/rootfs" | cut -f1) directory, $(du -h "$out/rootfs.squashfs" | cut -f1) image" >&2
echo "$out"
