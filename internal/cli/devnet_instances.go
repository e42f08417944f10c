package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// sandboxTools installs what the devnet's compute node needs on the host
// for programs on squashfs runtimes (the sandbox backend) when it is
// missing: bubblewrap, slirp4netns (the sandboxes' network) and
// squashfs-tools (the compute node unpacks the runtime images).
func sandboxTools(ctx context.Context, progress io.Writer) error {
	return installMissing(ctx, progress, sandboxHostTools)
}

var sandboxHostTools = []hostTool{
	{"bwrap", "bubblewrap", nil},
	{"slirp4netns", "slirp4netns", nil},
	{"unsquashfs", "squashfs-tools", nil},
}

// instanceTools installs what the devnet's instances need on the host
// when it is missing: QEMU, a kernel, the disk tools, slirp4netns, and
// the SSH client the README's walkthrough logs in with (ssh-keygen, ssh).
func instanceTools(ctx context.Context, progress io.Writer) error {
	return installMissing(ctx, progress, instanceHostTools)
}

var instanceHostTools = []hostTool{
	{"qemu-system-x86_64", "qemu-system-x86", nil},
	{"vmlinuz", "linux-image-cloud-amd64", hasKernel},
	{"mksquashfs", "squashfs-tools", nil},
	{"unsquashfs", "squashfs-tools", nil},
	{"mkfs.ext4", "e2fsprogs", nil},
	{"slirp4netns", "slirp4netns", nil},
	{"ssh", "openssh-client", nil},
}

// instanceImage returns the Debian 12 instance image of
// runtimes/debian-12-instance, built once and cached.
func instanceImage(ctx context.Context, progress io.Writer) (string, error) {
	return runtimeImage(ctx, "debian-12-instance", "the Debian 12 instance image", "about 2 min", progress)
}

// hostTool is a program the devnet needs and the Debian package that
// installs it; has, when set, tells whether it is there instead of PATH.
type hostTool struct {
	cmd, pkg string
	has      func() bool
}

// hasKernel tells whether a kernel the micro VMs boot is installed, with
// its modules (as the micro VM backend looks for it).
func hasKernel() bool {
	ks, _ := filepath.Glob("/boot/vmlinuz-*")
	for _, k := range ks {
		v := strings.TrimPrefix(filepath.Base(k), "vmlinuz-")
		if _, err := os.Stat(filepath.Join("/lib/modules", v, "modules.dep")); err == nil {
			return true
		}
	}
	return false
}

// installMissing installs with apt-get the packages of the tools that are
// missing, as root or with sudo without a password, and fails saying what
// to install when it cannot.
func installMissing(ctx context.Context, progress io.Writer, tools []hostTool) error {
	var pkgs []string
	seen := map[string]bool{}
	for _, t := range tools {
		ok := t.has != nil && t.has()
		if t.has == nil {
			_, err := exec.LookPath(t.cmd)
			ok = err == nil
		}
		if !ok && !seen[t.pkg] {
			seen[t.pkg] = true
			pkgs = append(pkgs, t.pkg)
		}
	}
	if len(pkgs) == 0 {
		return nil
	}
	var sudo []string
	if os.Geteuid() != 0 {
		if exec.CommandContext(ctx, "sudo", "-n", "true").Run() != nil {
			return fmt.Errorf("%s missing: install them (scripts/install-deps.sh does), or run the devnet as root", strings.Join(pkgs, ", "))
		}
		sudo = []string{"sudo", "-n"}
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		return fmt.Errorf("%s missing, and no apt-get to install them", strings.Join(pkgs, ", "))
	}
	fmt.Fprintf(progress, "devnet: installing %s (once)\n", strings.Join(pkgs, " "))
	run := func(args ...string) error {
		argv := append(append([]string{}, sudo...), args...)
		cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		out, err := cmd.CombinedOutput()
		if err != nil {
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			return fmt.Errorf("%s: %w: %s", strings.Join(args, " "), err, lines[len(lines)-1])
		}
		return nil
	}
	install := append([]string{"apt-get", "install", "-y", "--no-install-recommends"}, pkgs...)
	if err := run(install...); err != nil {
		// The package lists may be missing or stale: update them once.
		if uerr := run("apt-get", "update"); uerr != nil {
			return errors.Join(err, uerr)
		}
		if err := run(install...); err != nil {
			return err
		}
	}
	return nil
}
