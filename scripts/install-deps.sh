#!/usr/bin/env bash
# Installs the system tools that building and testing goaleph need, and only
# those that are missing, so that a second run does nothing. Debian packages;
# run as root or with sudo. `make test` calls it first.
#
# To add a tool, add a line to TOOLS: "<command> <debian package>". A command
# present on PATH is taken as installed, whatever its origin.
set -euo pipefail

TOOLS=(
  "node nodejs" # the official TypeScript SDK suite (compat/)
  "npm npm"     # installs compat/node_modules
  "initdb postgresql" # PostgreSQL store tests (internal/store/pgtest)
  "python3 python3"   # the ASGI launcher of the guest agent (cmd/aleph-guest)
  "bwrap bubblewrap"  # the sandbox compute backend (internal/compute/sandbox)
  "slirp4netns slirp4netns" # user-mode NAT for sandboxes with internet (internal/compute/sandbox)
  "unsquashfs squashfs-tools" # the compute node unpacks runtime images (internal/compute/crn)
  "mmdebstrap mmdebstrap"     # builds the Debian runtime (runtimes/debian-12-python)
  "chromium chromium"         # headless browser of the browser-module tests (internal/vmjs)
  "curl curl"                 # the devnet gateway test runs the curl line it prints (internal/devnet)
  "qemu-system-x86_64 qemu-system-x86" # the micro VM compute backend (internal/compute/microvm)
  "vmlinuz linux-image-cloud-amd64"    # its guest kernel and modules (/boot, /lib/modules)
  "mksquashfs squashfs-tools"          # its runtime and code disks
  "mkfs.ext4 e2fsprogs"                # the instances' root and volume disks (internal/compute/microvm)
  "ssh openssh-client"                 # the instance tests log in with Debian's ssh (internal/compute/microvm, internal/devnet TestInstanceCLI)
)

# has tells whether a command is installed. Debian keeps the PostgreSQL
# server programs off PATH, under /usr/lib/postgresql/<version>/bin.
has() {
  command -v "$1" >/dev/null 2>&1 && return 0
  case $1 in
  initdb) compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null ;;
  # A kernel the micro VMs boot, with its modules.
  vmlinuz) compgen -G "/boot/vmlinuz-*" >/dev/null && compgen -G "/lib/modules/*/modules.dep" >/dev/null ;;
  *) return 1 ;;
  esac
}

missing=()
for entry in "${TOOLS[@]}"; do
  read -r cmd pkg <<<"$entry"
  if ! has "$cmd"; then
    missing+=("$pkg")
  fi
done

if ((${#missing[@]} > 0)); then
  echo "install-deps: installing ${missing[*]}"
  sudo=()
  if ((EUID != 0)); then
    command -v sudo >/dev/null 2>&1 || {
      echo "install-deps: need root (or sudo) to install ${missing[*]}" >&2
      exit 1
    }
    sudo=(sudo)
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update
  "${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}"
fi

# Go itself is not a Debian package of the right version: it must be there.
command -v go >/dev/null 2>&1 || {
  echo "install-deps: Go is not on PATH (go.mod needs $(sed -n 's/^go //p' "$(dirname "$0")/../go.mod"))" >&2
  exit 1
}

# node --test with describe/it needs Node.js 18 or later.
major=$(node -p 'process.versions.node.split(".")[0]')
if ((major < 18)); then
  echo "install-deps: Node.js $(node --version) is too old: the SDK suite needs 18 or later" >&2
  exit 1
fi
