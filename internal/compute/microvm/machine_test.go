package microvm

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/goaleph/goaleph/internal/compute"
	"github.com/goaleph/goaleph/internal/compute/microvm/machinetest"
)

var instanceImage struct {
	once sync.Once
	img  string
	err  error
}

// instanceRootFS builds (or finds cached) the instance image of runtimes/.
func instanceRootFS(t testing.TB) string {
	instanceImage.once.Do(func() {
		var out string
		out, instanceImage.err = machinetest.Image(filepath.Join("..", "..", ".."))
		instanceImage.img = filepath.Join(out, "rootfs")
	})
	if instanceImage.err != nil {
		t.Fatal(instanceImage.err)
	}
	return instanceImage.img
}

// TestMachine is an instance's life on one backend, with Debian's ssh
// client: reached with the message's key, a command runs, another key is
// refused, a volume is bounded by its size, the root and the volume keep
// their files across a reboot, and Erase leaves no process, disk or port.
// One boot and one reboot (TCG is slow).
func TestMachine(t *testing.T) {
	b, _ := setup(t)
	img := instanceRootFS(t)
	dir := t.TempDir()
	key, pub := machinetest.Key(t, dir, "owner")
	wrong, _ := machinetest.Key(t, dir, "stranger")
	used, err := treeMiB(img)
	if err != nil {
		t.Fatal(err)
	}
	spec := MachineSpec{
		Hash: "cafe0123456789abcdef", RootFS: img, RootMiB: used + 256,
		MemoryMiB: 256, VCPUs: 1, AuthorizedKeys: []string{pub},
		Volumes:     []MachineVolume{{Name: "data", Mount: "/mnt/data", SizeMiB: 16}},
		Dir:         filepath.Join(dir, "instance"),
		ForwardAddr: "127.0.0.1",
	}
	m, err := b.NewMachine(spec)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	t0 := time.Now()
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("booted to SSH in %v", time.Since(t0))
	defer m.Erase(context.Background())
	port := m.SSHPort()

	out, err := machinetest.SSH(ctx, key, port, "hostname; id -u; echo kept > /mnt/data/f; echo root > /root/r; sync; df -m /mnt/data | tail -1")
	if err != nil {
		t.Fatalf("ssh with the message's key: %v\n%s\nconsole: %v", err, out, m.Logs())
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 3 || lines[0] != compute.Hostname(spec.Hash) || lines[1] != "0" {
		t.Fatalf("ssh printed %q, want the host name %s and uid 0", out, compute.Hostname(spec.Hash))
	}
	// The root disk was grown to its size.
	if out, err := machinetest.SSH(ctx, key, port, "df -m / | tail -1 | awk '{print $2}'"); err != nil {
		t.Fatal(err, out)
	} else if n, _ := strconv.Atoi(strings.TrimSpace(out)); n < spec.RootMiB*8/10 {
		t.Errorf("the root file system has %d MiB, want about %d", n, spec.RootMiB)
	}

	if out, err := machinetest.SSH(ctx, wrong, port, "true"); err == nil || !strings.Contains(out, "Permission denied") {
		t.Errorf("ssh with a key not in the message: err %v, output %q; want Permission denied", err, out)
	}

	// The volume holds its size, no more.
	out, err = machinetest.SSH(ctx, key, port, "dd if=/dev/zero of=/mnt/data/big bs=1M count=32 2>&1; s=$?; rm -f /mnt/data/big; exit $s")
	if err == nil || !strings.Contains(out, "No space left") {
		t.Errorf("writing 32 MiB to a 16 MiB volume: err %v, output %q; want No space left", err, out)
	}

	t1 := time.Now()
	if err := m.Reboot(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("rebooted to SSH in %v", time.Since(t1))
	port = m.SSHPort()
	if out, err := machinetest.SSH(ctx, key, port, "cat /mnt/data/f /root/r"); err != nil || out != "kept\nroot\n" {
		t.Errorf("after the reboot: %v %q, want the volume's and the root's files", err, out)
	}

	pids := m.Pids()
	if err := m.Erase(ctx); err != nil {
		t.Fatal(err)
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("process %d left after Erase (%v)", pid, err)
		}
	}
	if _, err := os.Stat(spec.Dir); !os.IsNotExist(err) {
		t.Errorf("the instance's disks are left: %v", err)
	}
	if c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), 5*time.Second); err == nil {
		c.Close()
		t.Errorf("port %d still open after Erase", port)
	}
}

// TestMachineSpec checks what NewMachine refuses.
func TestMachineSpec(t *testing.T) {
	b, _ := setup(t)
	ok := MachineSpec{RootFS: "img", Dir: t.TempDir(), MemoryMiB: 128, AuthorizedKeys: []string{"ssh-ed25519 AAAA"}}
	for name, mod := range map[string]func(*MachineSpec){
		"no keys":        func(s *MachineSpec) { s.AuthorizedKeys = nil },
		"key with lines": func(s *MachineSpec) { s.AuthorizedKeys = []string{"a\nb"} },
		"relative mount": func(s *MachineSpec) { s.Volumes = []MachineVolume{{Mount: "data", SizeMiB: 8}} },
		"dotdot mount":   func(s *MachineSpec) { s.Volumes = []MachineVolume{{Mount: "/a/../etc", SizeMiB: 8}} },
		"root mount":     func(s *MachineSpec) { s.Volumes = []MachineVolume{{Mount: "/", SizeMiB: 8}} },
		"tiny volume":    func(s *MachineSpec) { s.Volumes = []MachineVolume{{Mount: "/d", SizeMiB: 1}} },
		"no memory":      func(s *MachineSpec) { s.MemoryMiB = 0 },
	} {
		s := ok
		mod(&s)
		if _, err := b.NewMachine(s); !errors.Is(err, compute.ErrInvalidSpec) {
			t.Errorf("%s: %v, want ErrInvalidSpec", name, err)
		}
	}
	if _, err := b.NewMachine(ok); err != nil {
		t.Errorf("a valid spec: %v", err)
	}
}
