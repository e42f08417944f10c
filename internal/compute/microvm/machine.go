package microvm

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/goaleph/goaleph/internal/compute"
	"github.com/goaleph/goaleph/internal/compute/slirp"
)

// Instances (INSTANCE messages) are long-running VMs reached by SSH: the
// root is the instance's own ext4 disk, made from the instance image's
// tree (runtimes/debian-12-instance) at the message's size, written in
// place and kept across reboots with the persistent volumes; the agent is
// init with --instance (cmd/aleph-guest/machine.go). They always have a
// network (slirp4netns, as programs with internet), and their SSH port is
// forwarded from the host. See docs/design/0022-instances.md.

// Files of an instance's disk directory.
const (
	machineRoot   = "rootfs.ext4"
	machineConfig = "config.json"
	machineLog    = "console.log"
	slirpSocket   = "slirp.sock"
)

// sshPort is the instance's SSH port, forwarded from the host.
const sshPort = 22

// MachineSpec is an instance to run.
type MachineSpec struct {
	// Hash is the INSTANCE message's item hash.
	Hash string
	// RootFS is the instance image's tree (the unpacked squashfs of
	// runtimes/debian-12-instance) the root disk is made from at creation;
	// RootMiB the root disk's size (rootfs.size_mib), at least the tree's
	// and an eighth.
	RootFS  string
	RootMiB int
	// MemoryMiB and VCPUs are the message's resources.
	MemoryMiB int
	VCPUs     int
	// AuthorizedKeys are the message's authorized_keys: the only keys
	// root's authorized_keys holds.
	AuthorizedKeys []string
	// Volumes are the persistent volumes, made (empty ext4) at creation.
	Volumes []MachineVolume
	// Dir keeps the instance's disks across reboots; Erase removes it.
	Dir string
	// ForwardAddr is the host address of the SSH port forward; default
	// 0.0.0.0 (the owner reaches the node's public address).
	ForwardAddr string
}

// MachineVolume is a persistent volume of an instance or a program.
type MachineVolume struct {
	Name    string // its name in the message, for its file's name
	Mount   string // absolute path in the guest
	SizeMiB int
}

// Machine is one instance: stopped or running, its disks on the host.
type Machine struct {
	b    *Backend
	spec MachineSpec

	mu  sync.Mutex
	run *machineRun // nil while stopped
}

// machineRun is one boot of a machine.
type machineRun struct {
	dir   string // sockets: gone with the run
	qemu  *qemuProc
	slirp *slirp.Process
	conn  net.Conn // the agent's port: "halt"
	port  int      // the host port forwarded to the guest's 22
}

var mountRE = regexp.MustCompile(`^(/[A-Za-z0-9._-]+)+$`)

// NewMachine checks spec; nothing runs until Start.
func (b *Backend) NewMachine(spec MachineSpec) (*Machine, error) {
	if b.slirp == "" {
		return nil, ErrNoSlirp
	}
	if spec.Dir == "" || spec.RootFS == "" {
		return nil, errors.New("microvm: an instance needs a directory and a root image")
	}
	if spec.MemoryMiB <= 0 {
		return nil, fmt.Errorf("%w: resources.memory must be positive", compute.ErrInvalidSpec)
	}
	if len(spec.AuthorizedKeys) == 0 {
		return nil, fmt.Errorf("%w: an instance needs authorized_keys to be reached", compute.ErrInvalidSpec)
	}
	for _, k := range spec.AuthorizedKeys {
		if strings.ContainsAny(k, "\r\n") {
			return nil, fmt.Errorf("%w: an authorized key spans lines", compute.ErrInvalidSpec)
		}
	}
	seen := map[string]bool{"/": true}
	for _, v := range spec.Volumes {
		if !mountRE.MatchString(v.Mount) || strings.Contains(v.Mount, "/..") || seen[v.Mount] {
			return nil, fmt.Errorf("%w: volume mount %q is not a distinct absolute path", compute.ErrInvalidSpec, v.Mount)
		}
		seen[v.Mount] = true
		if v.SizeMiB < 8 {
			return nil, fmt.Errorf("%w: volume %q: size_mib must be at least 8", compute.ErrInvalidSpec, v.Mount)
		}
	}
	if spec.ForwardAddr == "" {
		spec.ForwardAddr = "0.0.0.0"
	}
	return &Machine{b: b, spec: spec}, nil
}

// SSHPort is the host port forwarded to the instance's SSH port; 0 while
// stopped.
func (m *Machine) SSHPort() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.run == nil {
		return 0
	}
	return m.run.port
}

// Running tells whether the instance's VM is up.
func (m *Machine) Running() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.run != nil
}

// Pids are the host processes of the running instance (QEMU, slirp4netns).
func (m *Machine) Pids() []int {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.run == nil {
		return nil
	}
	return []int{m.run.qemu.cmd.Process.Pid, m.run.slirp.Cmd.Process.Pid}
}

// Start makes the instance's disks if they do not exist yet, boots it and
// waits for its SSH server to answer on the forwarded port.
func (m *Machine) Start(ctx context.Context) (err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.run != nil {
		return nil
	}
	b, s := m.b, &m.spec
	if err := m.makeDisks(ctx); err != nil {
		return err
	}
	r := &machineRun{}
	if r.dir, err = os.MkdirTemp(b.cfg.StateDir, "aleph-instance-"); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			r.stop(b.cfg.StopTimeout)
		}
	}()
	cfg := map[string]any{
		"hostname": compute.Hostname(s.Hash), "authorized_keys": s.AuthorizedKeys,
		"ip": guestIP, "route": guestGW, "dns_servers": []string{guestDNS}, "clock": time.Now().UTC(),
	}
	var vols []map[string]string
	for i, v := range s.Volumes {
		vols = append(vols, map[string]string{"serial": volSerial(i), "mount": v.Mount})
	}
	cfg["volumes"] = vols
	cfgDisk := filepath.Join(r.dir, machineConfig)
	js, _ := json.Marshal(cfg)
	if err := os.WriteFile(cfgDisk, js, 0o600); err != nil {
		return err
	}
	if _, err := padTo(cfgDisk, 1); err != nil {
		return err
	}
	if r.qemu, err = b.startQEMU(r.dir, m.args(r.dir, cfgDisk), true); err != nil {
		return err
	}
	bctx, cancel := context.WithTimeout(ctx, 3*b.cfg.BootTimeout)
	defer cancel()
	api := filepath.Join(r.dir, slirpSocket)
	if r.slirp, err = startNet(bctx, b.slirp, r.qemu.cmd.Process.Pid, r.qemu.done, "--api-socket="+api); err != nil {
		return err
	}
	if r.conn, err = r.qemu.connect(bctx); err != nil {
		return err
	}
	// A free port, then the forward: another process may take the port
	// between the two, hence the retries.
	for try := 0; ; try++ {
		if r.port, err = freePort(s.ForwardAddr); err == nil {
			if err = slirp.AddHostFwd(api, s.ForwardAddr, r.port, sshPort); err == nil {
				break
			}
		}
		if try == 4 {
			return err
		}
	}
	if err := waitSSH(bctx, r.port, r.qemu.done); err != nil {
		return fmt.Errorf("microvm: instance not reachable: %w: %s", err, tailFile(filepath.Join(s.Dir, machineLog), 2048))
	}
	m.run = r
	return nil
}

// args is the instance's QEMU command line: its root disk read-write, its
// configuration and volumes, a NIC whose port 22 QEMU's NAT forwards from
// its namespace (where slirp4netns forwards the host's port to).
func (m *Machine) args(dir, cfgDisk string) []string {
	b, s := m.b, &m.spec
	cpu := "max"
	if b.accel == KVM {
		cpu = "host"
	}
	mem := strconv.Itoa(s.MemoryMiB)
	c := "console=ttyS0 quiet panic=-1 reboot=t rdinit=/init"
	if b.accel == TCG {
		if khz := hostKHz(); khz > 0 {
			c += " tsc_early_khz=" + strconv.Itoa(khz)
		}
	}
	a := []string{
		"-M", "microvm", "-accel", b.accel, "-cpu", cpu,
		"-m", mem + "M", "-smp", strconv.Itoa(max(s.VCPUs, 1)),
		"-nodefaults", "-no-user-config", "-nographic", "-no-reboot",
		"-chardev", "file,id=con,append=on,path=" + filepath.Join(s.Dir, machineLog), "-serial", "chardev:con",
		"-kernel", b.cfg.Kernel, "-initrd", b.initramfs,
		"-append", c + " -- --instance",
		"-qmp", "unix:" + filepath.Join(dir, qmpSocket) + ",server=on,wait=off",
		"-drive", "id=rootfs,file=" + filepath.Join(s.Dir, machineRoot) + ",format=raw,if=none,cache=writeback",
		"-device", "virtio-blk-device,drive=rootfs,serial=rootfs",
		"-drive", "id=config,file=" + cfgDisk + ",format=raw,if=none,readonly=on",
		"-device", "virtio-blk-device,drive=config,serial=config",
	}
	for i := range s.Volumes {
		id := volSerial(i)
		a = append(a, "-drive", "id="+id+",file="+m.volPath(i)+",format=raw,if=none",
			"-device", "virtio-blk-device,drive="+id+",serial="+id)
	}
	return append(a,
		"-device", "virtio-serial-device,id=vser,max_ports=2",
		"-chardev", "socket,id=agent,path="+filepath.Join(dir, ctlSocket),
		"-device", "virtserialport,chardev=agent,name=aleph,id=port0",
		"-netdev", "user,id=net0,hostfwd=tcp::"+strconv.Itoa(sshPort)+"-:"+strconv.Itoa(sshPort),
		"-device", "virtio-net-device,netdev=net0,id=nic0,mac="+randomMAC())
}

func volSerial(i int) string { return "vol" + strconv.Itoa(i) }

var volNameRE = regexp.MustCompile(`[^A-Za-z0-9_-]`)

func (m *Machine) volPath(i int) string {
	name := volNameRE.ReplaceAllString(m.spec.Volumes[i].Name, "_")
	return filepath.Join(m.spec.Dir, fmt.Sprintf("volume-%d-%.40s.ext4", i, name))
}

// makeDisks makes the root disk (the image, grown) and the volumes (empty
// ext4 of their size: the file system is the size limit) that do not
// exist yet.
func (m *Machine) makeDisks(ctx context.Context) error {
	s := &m.spec
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return err
	}
	root := filepath.Join(s.Dir, machineRoot)
	if _, err := os.Stat(root); errors.Is(err, os.ErrNotExist) {
		used, err := treeMiB(s.RootFS)
		if err != nil {
			return fmt.Errorf("microvm: the instance's root tree: %w", err)
		}
		// The tree, with room for the file system's own blocks.
		if need := used + used/8 + 16; s.RootMiB < need {
			return fmt.Errorf("%w: rootfs.size_mib %d is less than the image needs (%d MiB)", compute.ErrInvalidSpec, s.RootMiB, need)
		}
		if err := mkfs(ctx, root, s.RootMiB, "rootfs", s.RootFS); err != nil {
			return err
		}
	}
	for i, v := range s.Volumes {
		p := m.volPath(i)
		if _, err := os.Stat(p); err == nil {
			continue
		}
		if err := mkfs(ctx, p, v.SizeMiB, "", ""); err != nil {
			return err
		}
	}
	return nil
}

// mkfs makes the ext4 image p of mib MiB (sparse), with the tree dir's
// files if dir is set, atomically: p exists only complete.
func mkfs(ctx context.Context, p string, mib int, label, dir string) error {
	tmp := p + ".partial"
	if err := os.WriteFile(tmp, nil, 0o600); err != nil {
		return err
	}
	if err := os.Truncate(tmp, int64(mib)<<20); err != nil {
		return err
	}
	args := []string{"-q", "-F", "-E", "root_owner=0:0"}
	if label != "" {
		args = append(args, "-L", label)
	}
	if dir != "" {
		args = append(args, "-d", dir)
	}
	if err := run(ctx, "mkfs.ext4", append(args, tmp)...); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, p)
}

// treeMiB is the size of the files under dir, in MiB, rounded up.
func treeMiB(dir string) (int, error) {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if info, err := d.Info(); err == nil {
			n += (info.Size() + 4095) &^ 4095
		}
		return nil
	})
	return int((n + 1<<20 - 1) >> 20), err
}

func run(ctx context.Context, name string, args ...string) error {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("microvm: %s: %w: %s", name, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Stop halts the instance (the agent syncs and unmounts its disks) and
// waits for QEMU, killing it after Config.StopTimeout. The disks stay.
func (m *Machine) Stop(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.run == nil {
		return nil
	}
	err := m.run.stop(m.b.cfg.StopTimeout)
	m.run = nil
	return err
}

// Reboot stops the instance and starts it again on the same disks.
func (m *Machine) Reboot(ctx context.Context) error {
	if err := m.Stop(ctx); err != nil {
		return err
	}
	return m.Start(ctx)
}

// Erase stops the instance and removes its disks.
func (m *Machine) Erase(ctx context.Context) error {
	err := m.Stop(ctx)
	return errors.Join(err, os.RemoveAll(m.spec.Dir))
}

// Logs returns the instance's console (the agent's and sshd's output), the
// last lines of every boot, oldest first.
func (m *Machine) Logs() []compute.LogLine {
	text := tailFile(filepath.Join(m.spec.Dir, machineLog), 256<<10)
	var out []compute.LogLine
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		out = append(out, compute.LogLine{Stream: "stdout", Text: strings.TrimRight(sc.Text(), "\r")})
	}
	if n := m.b.cfg.LogLines; len(out) > n {
		out = out[len(out)-n:]
	}
	return out
}

// stop asks the agent to halt, then kills what is left.
func (r *machineRun) stop(timeout time.Duration) error {
	var err error
	if r.qemu != nil {
		if r.conn != nil {
			r.conn.SetWriteDeadline(time.Now().Add(time.Second))
			r.conn.Write([]byte("halt\n"))
		}
		select {
		case <-r.qemu.done:
		case <-time.After(timeout):
		}
		err = r.qemu.kill()
	}
	if r.conn != nil {
		r.conn.Close()
	}
	if r.slirp != nil {
		err = errors.Join(err, r.slirp.Stop())
	}
	return errors.Join(err, os.RemoveAll(r.dir))
}

// freePort is a TCP port free on addr now.
func freePort(addr string) (int, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(addr, "0"))
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// waitSSH waits for an SSH server's banner on the host's port.
func waitSSH(ctx context.Context, port int, exited <-chan struct{}) error {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	for {
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err == nil {
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			line, _ := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if strings.HasPrefix(line, "SSH-") {
				return nil
			}
		}
		select {
		case <-exited:
			return errors.New("QEMU exited")
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// tailFile is the last n bytes of the file at p.
func tailFile(p string, n int64) string {
	f, err := os.Open(p)
	if err != nil {
		return ""
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > n {
		f.Seek(-n, io.SeekEnd)
	}
	b := make([]byte, n)
	k, _ := f.Read(b)
	return string(b[:k])
}
