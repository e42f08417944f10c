package main

// The agent as an instance's init (--instance): the VM's root is the
// instance's own ext4 disk, written in place and kept across reboots. The
// agent reads the instance's configuration from a small disk (JSON), sets
// up the host name, network, SSH keys and volumes, runs sshd and waits for
// the host's halt on the virtio-serial port. There is no program and no
// guest protocol: the owner reaches the instance by SSH. See
// docs/design/0022-instances.md.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/goaleph/goaleph/internal/compute/guest"
)

// Disks of an instance, by virtio serial.
const (
	vmRootDisk   = "rootfs"
	vmConfigDisk = "config"
)

// machineConfig is the configuration disk's JSON (internal/compute/microvm
// writes it).
type machineConfig struct {
	Hostname       string          `json:"hostname"`
	AuthorizedKeys []string        `json:"authorized_keys"`
	IP             string          `json:"ip"`
	Route          string          `json:"route"`
	DNSServers     []string        `json:"dns_servers"`
	Clock          time.Time       `json:"clock"`
	Volumes        []machineVolume `json:"volumes"`
}

type machineVolume struct {
	Serial string `json:"serial"`
	Mount  string `json:"mount"`
}

// runMachine is the agent as an instance's init; it never returns but by
// rebooting, which ends QEMU.
func runMachine() int {
	err := machine()
	if err != nil {
		fmt.Fprintln(os.Stderr, "aleph-guest: instance:", err)
	}
	unix.Sync()
	unix.Reboot(unix.LINUX_REBOOT_CMD_RESTART)
	return 1
}

func machine() error {
	for _, m := range []struct{ src, dir, fs string }{
		{"proc", "/proc", "proc"}, {"sys", "/sys", "sysfs"}, {"dev", "/dev", "devtmpfs"},
	} {
		os.MkdirAll(m.dir, 0o755)
		if err := unix.Mount(m.src, m.dir, m.fs, 0, ""); err != nil && !errors.Is(err, unix.EBUSY) {
			return fmt.Errorf("mount %s: %w", m.dir, err)
		}
	}
	if err := loadModules(vmModules); err != nil {
		return err
	}
	if err := linkUp("lo"); err != nil {
		return fmt.Errorf("lo: %w", err)
	}
	cfg, err := readMachineConfig()
	if err != nil {
		return err
	}
	root, err := findDisk(vmRootDisk, 20*time.Second)
	if err != nil {
		return err
	}
	os.MkdirAll(vmNewRoot, 0o755)
	if err := unix.Mount(root, vmNewRoot, "ext4", 0, ""); err != nil {
		return fmt.Errorf("mount the root disk: %w", err)
	}
	for _, d := range []string{"proc", "sys", "dev", "run", "tmp"} {
		os.MkdirAll(filepath.Join(vmNewRoot, d), 0o755)
	}
	for _, d := range []string{"/proc", "/sys", "/dev"} {
		if err := unix.Mount(d, vmNewRoot+d, "", unix.MS_MOVE, ""); err != nil {
			return fmt.Errorf("move %s: %w", d, err)
		}
	}
	if err := unix.Mount("tmpfs", vmNewRoot+"/run", "tmpfs", 0, "mode=755"); err != nil {
		return fmt.Errorf("mount /run: %w", err)
	}
	if err := os.Chdir(vmNewRoot); err != nil {
		return err
	}
	if err := unix.Mount(".", "/", "", unix.MS_MOVE, ""); err != nil {
		return fmt.Errorf("move the root: %w", err)
	}
	if err := unix.Chroot("."); err != nil {
		return fmt.Errorf("chroot: %w", err)
	}
	os.Chdir("/")
	os.Setenv("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
	os.Setenv("HOME", "/root")
	os.Setenv("LANG", "C.UTF-8")
	os.MkdirAll("/dev/pts", 0o755)
	if err := unix.Mount("devpts", "/dev/pts", "devpts", 0, "gid=5,mode=620,ptmxmode=666"); err != nil && !errors.Is(err, unix.EBUSY) {
		return fmt.Errorf("mount /dev/pts: %w", err)
	}
	os.Symlink("pts/ptmx", "/dev/ptmx")
	if err := configureMachine(cfg); err != nil {
		return err
	}
	r := newReaper()
	defer r.close()
	sshd, err := startSSHD(r)
	if err != nil {
		return err
	}
	port, err := findPort(vmPortName, 20*time.Second)
	if err != nil {
		return err
	}
	waitHalt(port)
	fmt.Fprintln(os.Stderr, "aleph-guest: halting")
	syscall.Kill(-sshd, syscall.SIGTERM)
	unix.Sync()
	for i := len(cfg.Volumes) - 1; i >= 0; i-- {
		unix.Unmount(cfg.Volumes[i].Mount, 0)
	}
	// The root stays mounted (it is /), read-only so that its journal is
	// clean at the next boot.
	unix.Mount("", "/", "", unix.MS_REMOUNT|unix.MS_RDONLY, "")
	return nil
}

// readMachineConfig reads the configuration disk: JSON, padded with NULs.
func readMachineConfig() (*machineConfig, error) {
	disk, err := findDisk(vmConfigDisk, 20*time.Second)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(disk)
	if err != nil {
		return nil, fmt.Errorf("reading the configuration: %w", err)
	}
	var cfg machineConfig
	if err := json.Unmarshal(bytes.TrimRight(b, "\x00"), &cfg); err != nil {
		return nil, fmt.Errorf("the configuration disk: %w", err)
	}
	return &cfg, nil
}

// configureMachine applies cfg to the mounted root: clock, host name,
// network, volumes, SSH keys (replacing the previous boot's, so that the
// message's keys are the only ones the host installs).
func configureMachine(cfg *machineConfig) error {
	if !cfg.Clock.IsZero() {
		ts := unix.NsecToTimespec(cfg.Clock.UnixNano())
		unix.ClockSettime(unix.CLOCK_REALTIME, &ts)
	}
	if cfg.Hostname != "" {
		if err := unix.Sethostname([]byte(cfg.Hostname)); err != nil {
			return fmt.Errorf("hostname: %w", err)
		}
		os.WriteFile("/etc/hostname", []byte(cfg.Hostname+"\n"), 0o644)
		os.WriteFile("/etc/hosts", []byte("127.0.0.1 localhost\n127.0.1.1 "+cfg.Hostname+"\n::1 localhost ip6-localhost\n"), 0o644)
	}
	if cfg.IP != "" {
		if err := configureNet(&guest.Config{IP: cfg.IP, Route: cfg.Route, DNSServers: cfg.DNSServers}); err != nil {
			return fmt.Errorf("network: %w", err)
		}
	}
	for _, v := range cfg.Volumes {
		disk, err := findDisk(v.Serial, 20*time.Second)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(v.Mount, 0o755); err != nil {
			return fmt.Errorf("volume %s: %w", v.Mount, err)
		}
		if err := unix.Mount(disk, v.Mount, "ext4", 0, ""); err != nil {
			return fmt.Errorf("mount the volume %s: %w", v.Mount, err)
		}
	}
	if err := os.MkdirAll("/root/.ssh", 0o700); err != nil {
		return err
	}
	keys := strings.Join(cfg.AuthorizedKeys, "\n") + "\n"
	if err := os.WriteFile("/root/.ssh/authorized_keys", []byte(keys), 0o600); err != nil {
		return fmt.Errorf("authorized_keys: %w", err)
	}
	return nil
}

// startSSHD makes the instance's host keys at its first boot and starts
// sshd, its log on the console; it returns sshd's pid.
func startSSHD(r *reaper) (int, error) {
	keygen := exec.Command("ssh-keygen", "-A")
	keygen.Stdout, keygen.Stderr = os.Stderr, os.Stderr
	done, err := r.start(keygen)
	if err != nil {
		return 0, fmt.Errorf("ssh-keygen: %w", err)
	}
	if ws := <-done; ws.ExitStatus() != 0 {
		return 0, fmt.Errorf("ssh-keygen -A: exit status %d", ws.ExitStatus())
	}
	os.MkdirAll("/run/sshd", 0o755)
	sshd := exec.Command("/usr/sbin/sshd", "-D", "-e")
	sshd.Stdout, sshd.Stderr = os.Stderr, os.Stderr
	sshd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if _, err := r.start(sshd); err != nil {
		return 0, fmt.Errorf("sshd: %w", err)
	}
	fmt.Fprintln(os.Stderr, "aleph-guest: instance ready")
	return sshd.Process.Pid, nil
}

// waitHalt returns when the host writes "halt" on the port. A port
// without a host reads EOF: it waits for the next one.
func waitHalt(device string) {
	f, err := os.OpenFile(device, os.O_RDWR, 0)
	if err != nil {
		fmt.Fprintln(os.Stderr, "aleph-guest:", err)
		select {}
	}
	p := &vmPort{f: f}
	for {
		p.waitHost(context.Background())
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if strings.TrimSpace(sc.Text()) == "halt" {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
}
