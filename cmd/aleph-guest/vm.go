package main

// The agent as a micro VM's init (--vm): it is the kernel's first process,
// from an initramfs holding only itself and the kernel modules it loads.
// It makes the program's root (the runtime disk under a tmpfs overlay),
// switches into it and serves the host on a virtio-serial port. See
// docs/design/0013-microvm.md.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/goaleph/goaleph/internal/compute"
	"github.com/goaleph/goaleph/internal/compute/guest"
)

// Names the host gives the VM's devices (virtio-blk serial numbers, the
// virtio-serial port's name), and where the initramfs keeps its modules.
const (
	vmRuntimeDisk = "runtime"
	vmCodeDisk    = "code"
	vmPortName    = "aleph"
	vmModules     = "/lib/modules/order" // one .ko path a line, dependencies first
	vmNewRoot     = "/mnt/root"
)

// vmSetup readies the VM's root and returns the path of the host's port.
func vmSetup(tmpMiB int) (string, error) {
	for _, m := range []struct{ src, dir, fs string }{
		{"proc", "/proc", "proc"}, {"sys", "/sys", "sysfs"}, {"dev", "/dev", "devtmpfs"},
	} {
		os.MkdirAll(m.dir, 0o755)
		if err := unix.Mount(m.src, m.dir, m.fs, 0, ""); err != nil && !errors.Is(err, unix.EBUSY) {
			return "", fmt.Errorf("mount %s: %w", m.dir, err)
		}
	}
	if err := loadModules(vmModules); err != nil {
		return "", err
	}
	if err := linkUp("lo"); err != nil {
		return "", fmt.Errorf("lo: %w", err)
	}
	disk, err := findDisk(vmRuntimeDisk, 20*time.Second)
	if err != nil {
		return "", err
	}
	size := ""
	if tmpMiB > 0 {
		size = fmt.Sprintf("size=%dm", tmpMiB)
	}
	for _, d := range []string{"/mnt/lower", "/mnt/rw", vmNewRoot} {
		os.MkdirAll(d, 0o755)
	}
	if err := unix.Mount(disk, "/mnt/lower", "squashfs", unix.MS_RDONLY, ""); err != nil {
		return "", fmt.Errorf("mount the runtime %s: %w", disk, err)
	}
	if err := unix.Mount("tmpfs", "/mnt/rw", "tmpfs", 0, size); err != nil {
		return "", fmt.Errorf("mount the overlay's tmpfs: %w", err)
	}
	os.MkdirAll("/mnt/rw/upper", 0o755)
	os.MkdirAll("/mnt/rw/work", 0o755)
	if err := unix.Mount("overlay", vmNewRoot, "overlay", 0,
		"lowerdir=/mnt/lower,upperdir=/mnt/rw/upper,workdir=/mnt/rw/work"); err != nil {
		return "", fmt.Errorf("mount the root overlay: %w", err)
	}
	for _, d := range []string{"proc", "sys", "dev", "tmp", "run", "opt/code"} {
		os.MkdirAll(filepath.Join(vmNewRoot, d), 0o755)
	}
	for _, d := range []string{"/proc", "/sys", "/dev"} {
		if err := unix.Mount(d, vmNewRoot+d, "", unix.MS_MOVE, ""); err != nil {
			return "", fmt.Errorf("move %s: %w", d, err)
		}
	}
	for _, d := range []string{"tmp", "run"} {
		if err := unix.Mount("tmpfs", filepath.Join(vmNewRoot, d), "tmpfs", 0, size); err != nil {
			return "", fmt.Errorf("mount /%s: %w", d, err)
		}
	}
	// switch_root: the initramfs stays below, reachable by no path.
	if err := os.Chdir(vmNewRoot); err != nil {
		return "", err
	}
	if err := unix.Mount(".", "/", "", unix.MS_MOVE, ""); err != nil {
		return "", fmt.Errorf("move the root: %w", err)
	}
	if err := unix.Chroot("."); err != nil {
		return "", fmt.Errorf("chroot: %w", err)
	}
	if err := os.Chdir("/"); err != nil {
		return "", err
	}
	os.Setenv("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
	os.Setenv("HOME", "/root")
	os.Setenv("LANG", "C.UTF-8")
	return findPort(vmPortName, 20*time.Second)
}

// loadModules loads each module of the list in order; one already loaded
// (or built in) is fine.
func loadModules(list string) error {
	f, err := os.Open(list)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		p := strings.TrimSpace(sc.Text())
		if p == "" {
			continue
		}
		m, err := os.Open(p)
		if err != nil {
			return err
		}
		err = unix.FinitModule(int(m.Fd()), "", 0)
		m.Close()
		if err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("loading %s: %w", p, err)
		}
	}
	return sc.Err()
}

// findDisk returns the device of the virtio disk whose serial is serial,
// waiting for the driver to probe it.
func findDisk(serial string, wait time.Duration) (string, error) {
	return findDevice("/sys/block", "serial", serial, "disk", wait)
}

// findPort returns the device of the virtio-serial port named name.
func findPort(name string, wait time.Duration) (string, error) {
	return findDevice("/sys/class/virtio-ports", "name", name, "virtio-serial port", wait)
}

// findDevice returns /dev/<entry> for the entry of the sysfs directory dir
// whose attribute attr is value, waiting up to wait for it to appear.
func findDevice(dir, attr, value, what string, wait time.Duration) (string, error) {
	deadline := time.Now().Add(wait)
	for {
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			b, err := os.ReadFile(filepath.Join(dir, e.Name(), attr))
			if err == nil && strings.TrimSpace(string(b)) == value {
				return "/dev/" + e.Name(), nil
			}
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("no %s %q", what, value)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// vmPort is the host's port, opened once: a host that goes away before
// configuring the program (a snapshot's maker) leaves it for the next.
type vmPort struct{ f *os.File }

// waitHost blocks until a host is connected: a port without one polls as
// hung up.
func (p *vmPort) waitHost(ctx context.Context) error {
	for ctx.Err() == nil {
		fds := []unix.PollFd{{Fd: int32(p.f.Fd()), Events: unix.POLLIN}}
		if _, err := unix.Poll(fds, 0); err != nil && !errors.Is(err, unix.EINTR) {
			return err
		}
		if fds[0].Revents&unix.POLLHUP == 0 {
			return nil
		}
		time.Sleep(2 * time.Millisecond)
	}
	return ctx.Err()
}

// session is one host's connection on the port; Close leaves the port
// open.
type session struct{ p *vmPort }

func (s session) Read(b []byte) (int, error)  { return s.p.f.Read(b) }
func (s session) Write(b []byte) (int, error) { return s.p.f.Write(b) }
func (s session) Close() error                { return nil }

// serveVM serves hosts on the port until one halts the agent or the
// program's host goes away. Hosts that leave before configuring the
// program are replaced by the next one to connect.
func serveVM(s settings, device string) int {
	ctx := context.Background()
	f, err := os.OpenFile(device, os.O_RDWR, 0)
	if err != nil {
		fmt.Fprintln(os.Stderr, "aleph-guest:", err)
		return 1
	}
	port := &vmPort{f: f}
	r := newReaper()
	defer r.close()
	for {
		fmt.Fprintln(os.Stderr, "aleph-guest: waiting for the host")
		if err := port.waitHost(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "aleph-guest:", err)
			return 1
		}
		fmt.Fprintln(os.Stderr, "aleph-guest: host connected")
		srv := guest.NewServer(session{port})
		a := newAgent(s, r, srv.Log)
		a.beforeConfigure = configureVM
		err := srv.Run(ctx, a)
		if err == nil {
			return 0
		}
		if a.configured() {
			hctx, cancel := context.WithTimeout(context.Background(), s.stopTimeout+6*time.Second)
			a.Halt(hctx)
			cancel()
			fmt.Fprintln(os.Stderr, "aleph-guest:", err)
			return 1
		}
		// The host left before the program started: wait for the next.
		fmt.Fprintln(os.Stderr, "aleph-guest: host left before configuring:", err)
	}
}

// configureVM gives a VM (perhaps restored from a snapshot) its identity,
// network and code before the program starts.
func configureVM(cfg *guest.Config, codeDir string) error {
	if cfg.VMHash != "" {
		h := compute.Hostname(cfg.VMHash)
		if err := unix.Sethostname([]byte(h)); err != nil {
			return fmt.Errorf("hostname: %w", err)
		}
	}
	if len(cfg.Entropy) > 0 {
		if err := reseed(cfg.Entropy); err != nil {
			return fmt.Errorf("reseeding: %w", err)
		}
	}
	if !cfg.Clock.IsZero() {
		ts := unix.NsecToTimespec(cfg.Clock.UnixNano())
		if err := unix.ClockSettime(unix.CLOCK_REALTIME, &ts); err != nil {
			return fmt.Errorf("setting the clock: %w", err)
		}
	}
	if cfg.IP != "" {
		if err := configureNet(cfg); err != nil {
			return fmt.Errorf("network: %w", err)
		}
	}
	if disk, err := findDisk(vmCodeDisk, 0); err == nil {
		// A restored VM's disk is not the snapshot's: drop what the
		// kernel read of that one (its partition scan).
		if err := flushBuffers(disk); err != nil {
			return fmt.Errorf("code disk: %w", err)
		}
		if err := unix.Mount(disk, codeDir, "squashfs", unix.MS_RDONLY, ""); err != nil {
			return fmt.Errorf("mount the code: %w", err)
		}
	}
	return nil
}

// reseed mixes b into the kernel's pool and has it reseed its generator at
// once (a restored VM would otherwise draw the snapshot's numbers).
func reseed(b []byte) error {
	f, err := os.OpenFile("/dev/urandom", os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		return err
	}
	const rndReseedCRNG = 0x5207 // RNDRESEEDCRNG, <linux/random.h>
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, f.Fd(), rndReseedCRNG, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

// configureNet sets eth0's MAC, address (/24) and default route, and the
// resolvers.
func configureNet(cfg *guest.Config) error {
	const dev = "eth0"
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if cfg.MAC != "" {
		hw, err := net.ParseMAC(cfg.MAC)
		if err != nil || len(hw) != 6 {
			return fmt.Errorf("bad MAC %q", cfg.MAC)
		}
		ifr, err := unix.NewIfreq(dev)
		if err != nil {
			return err
		}
		// ifr_hwaddr, a struct sockaddr after the name: family, address.
		raw := (*[unix.IFNAMSIZ + 24]byte)(unsafe.Pointer(ifr))
		raw[unix.IFNAMSIZ] = byte(unix.ARPHRD_ETHER)
		raw[unix.IFNAMSIZ+1] = byte(unix.ARPHRD_ETHER >> 8)
		copy(raw[unix.IFNAMSIZ+2:], hw)
		if err := unix.IoctlIfreq(fd, unix.SIOCSIFHWADDR, ifr); err != nil {
			return fmt.Errorf("MAC: %w", err)
		}
	}
	ip := net.ParseIP(cfg.IP).To4()
	if ip == nil {
		return fmt.Errorf("bad IPv4 address %q", cfg.IP)
	}
	for _, a := range []struct {
		req  uint
		addr net.IP
	}{{unix.SIOCSIFADDR, ip}, {unix.SIOCSIFNETMASK, net.IPv4(255, 255, 255, 0).To4()}} {
		ifr, err := unix.NewIfreq(dev)
		if err != nil {
			return err
		}
		if err := ifr.SetInet4Addr(a.addr); err != nil {
			return err
		}
		if err := unix.IoctlIfreq(fd, a.req, ifr); err != nil {
			return fmt.Errorf("address: %w", err)
		}
	}
	if err := linkUp(dev); err != nil {
		return err
	}
	if gw := net.ParseIP(cfg.Route).To4(); gw != nil {
		if err := addDefaultRoute(fd, gw); err != nil {
			return fmt.Errorf("route: %w", err)
		}
	}
	if len(cfg.DNSServers) > 0 {
		if err := writeResolvConf("/etc/resolv.conf", cfg.DNSServers[0]); err != nil {
			return err
		}
	}
	return nil
}

// linkUp sets the interface up (lo gets 127.0.0.1 from the kernel).
func linkUp(dev string) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq(dev)
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return err
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	return unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr)
}

// rtentry is struct rtentry of <net/route.h> on 64-bit Linux.
type rtentry struct {
	pad1    uint64
	dst     unix.RawSockaddrInet4
	gateway unix.RawSockaddrInet4
	genmask unix.RawSockaddrInet4
	flags   uint16
	pad2    int16
	pad3    uint64
	pad4    uintptr
	metric  int16
	dev     uintptr
	mtu     uint64
	window  uint64
	irtt    uint16
}

func addDefaultRoute(fd int, gw net.IP) error {
	rt := rtentry{flags: unix.RTF_UP | unix.RTF_GATEWAY}
	rt.dst.Family = unix.AF_INET
	rt.genmask.Family = unix.AF_INET
	rt.gateway.Family = unix.AF_INET
	copy(rt.gateway.Addr[:], gw)
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCADDRT, uintptr(unsafe.Pointer(&rt)))
	if errno != 0 {
		return errno
	}
	return nil
}

// flushBuffers drops the kernel's cached blocks of the disk (BLKFLSBUF).
func flushBuffers(disk string) error {
	f, err := os.Open(disk)
	if err != nil {
		return err
	}
	defer f.Close()
	const blkFlsBuf = 0x1261 // _IO(0x12, 97), <linux/fs.h>
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, f.Fd(), blkFlsBuf, 0)
	if errno != 0 {
		return errno
	}
	return nil
}
