// Package machinetest helps tests of instances: the instance image of
// runtimes/, SSH keys and Debian's ssh client.
package machinetest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Image builds (or finds cached) runtimes/debian-12-instance under the
// repository root and returns its directory: the tree in rootfs/, the
// image in rootfs.squashfs.
func Image(root string) (string, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(filepath.Join(root, "runtimes", "debian-12-instance", "build.sh"))
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("runtimes/debian-12-instance/build.sh: %v\n%s", err, stderr.Bytes())
	}
	return strings.TrimSpace(stdout.String()), nil
}

// Key makes an ed25519 key pair in dir and returns the private key's path
// and the public key's line.
func Key(t testing.TB, dir, name string) (string, string) {
	t.Helper()
	p := filepath.Join(dir, name)
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", p).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v: %s", err, out)
	}
	pub, err := os.ReadFile(p + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	return p, strings.TrimSpace(string(pub))
}

// SSH runs command as root on 127.0.0.1:port with Debian's ssh client and
// the key only; it returns the output (stdout and stderr).
func SSH(ctx context.Context, key string, port int, command string) (string, error) {
	cmd := exec.CommandContext(ctx, "ssh", "-i", key, "-p", strconv.Itoa(port),
		"-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
		"-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=60",
		"-F", "/dev/null", "root@127.0.0.1", command)
	out, err := cmd.CombinedOutput()
	return string(out), err
}
