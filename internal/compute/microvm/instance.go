package microvm

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/goaleph/goaleph/internal/compute"
	"github.com/goaleph/goaleph/internal/compute/guest"
	"github.com/goaleph/goaleph/internal/compute/slirp"
)

// Files of an instance's state directory.
const (
	ctlSocket  = "ctl.sock"
	qmpSocket  = "qmp.sock"
	consoleLog = "console.log"
)

// dataOverheadMiB is added to a program's memory for its RLIMIT_DATA, as in
// the sandbox (docs/design/0006-sandbox.md).
const dataOverheadMiB = 64

// Guest network behind QEMU's user-mode NAT (its defaults).
const (
	guestIP  = "10.0.2.15"
	guestGW  = "10.0.2.2"
	guestDNS = "10.0.2.3"
)

// instance is one program's VM.
type instance struct {
	b    *Backend
	spec compute.Spec

	dir      string
	cmd      *exec.Cmd
	client   *guest.Client
	restored bool // from a snapshot: Ready gives it its identity
	qemu     *qemuProc
	slirp    *slirp.Process // the way out of a VM with internet

	started  bool
	done     chan struct{} // closed when QEMU has exited
	stopOnce sync.Once
	stopErr  error
	wg       sync.WaitGroup
	logs     *guest.Watch // the program's output; notices its exit

	mu sync.Mutex
}

var _ compute.Instance = (*instance)(nil)

func newInstance(b *Backend, spec compute.Spec) *instance {
	return &instance{b: b, spec: spec, done: make(chan struct{}), logs: guest.NewWatch(b.cfg.LogLines)}
}

// shape is what a VM's machine is made of, and so what a snapshot must
// share with the VMs restored from it.
type shape struct {
	runtime  string // the runtime's image
	memMiB   int
	vcpus    int
	internet bool
	codeMiB  int // size of the code disk
}

func (b *Backend) shapeOf(spec compute.Spec, runtimeImg string) shape {
	return shape{runtime: runtimeImg, memMiB: spec.MemoryMiB + b.cfg.OverheadMiB, vcpus: max(spec.VCPUs, 1),
		internet: spec.Internet, codeMiB: b.cfg.CodeSlotMiB}
}

// vm is how to run one QEMU.
type vm struct {
	shape
	dir      string // the state directory: sockets, console
	code     string // the code disk
	memFile  string // a file-backed memory: the snapshot's
	share    bool   // map memFile shared (making a snapshot) or private (restoring)
	incoming bool   // -incoming defer: restored by migrate-incoming
	mac      string
}

// args is QEMU's command line. A snapshot's VM and the VMs restored from
// it differ only in their files, memory sharing and -incoming: devices,
// ids and their order are the same.
func (b *Backend) args(v *vm) []string {
	cpu := "max"
	if b.accel == KVM {
		cpu = "host"
	}
	mem := strconv.Itoa(v.memMiB)
	a := []string{
		"-M", "microvm", "-accel", b.accel, "-cpu", cpu,
		"-m", mem + "M", "-smp", strconv.Itoa(v.vcpus),
		"-nodefaults", "-no-user-config", "-nographic", "-no-reboot",
		"-serial", "file:" + filepath.Join(v.dir, consoleLog),
		"-kernel", b.cfg.Kernel, "-initrd", b.initramfs,
		"-append", b.cmdline(v),
		"-qmp", "unix:" + filepath.Join(v.dir, qmpSocket) + ",server=on,wait=off",
		"-drive", "id=runtime,file=" + v.runtime + ",format=raw,if=none,readonly=on",
		"-device", "virtio-blk-device,drive=runtime,serial=runtime",
		"-drive", "id=code,file=" + v.code + ",format=raw,if=none,readonly=on",
		"-device", "virtio-blk-device,drive=code,serial=code",
		"-device", "virtio-serial-device,id=vser,max_ports=2",
		"-chardev", "socket,id=agent,path=" + filepath.Join(v.dir, ctlSocket),
		"-device", "virtserialport,chardev=agent,name=aleph,id=port0",
	}
	if v.memFile != "" {
		share := "off"
		if v.share {
			share = "on"
		}
		a = append(a, "-object", "memory-backend-file,id=mem,size="+mem+"M,mem-path="+v.memFile+",share="+share,
			"-machine", "memory-backend=mem")
	}
	if v.internet {
		// QEMU runs in a network namespace of its own, whose way out is
		// slirp4netns: its user-mode NAT's "host" (10.0.2.2) is that
		// namespace's empty loopback, not the node's.
		a = append(a, "-netdev", "user,id=net0", "-device", "virtio-net-device,netdev=net0,id=nic0,mac="+v.mac)
	}
	if v.incoming {
		a = append(a, "-incoming", "defer")
	}
	return a
}

// cmdline is the guest kernel's.
func (b *Backend) cmdline(v *vm) string {
	c := "console=ttyS0 quiet panic=-1 reboot=t rdinit=/init"
	if b.accel == TCG {
		// Without it the TSC calibration stalls under TCG.
		if khz := hostKHz(); khz > 0 {
			c += " tsc_early_khz=" + strconv.Itoa(khz)
		}
	}
	// The program's memory is bounded twice: by the VM's, and by an
	// RLIMIT_DATA of its memory plus the sandbox's overhead (a Go program
	// maps 70 MiB it never touches), so that an overrun fails its
	// allocations at once rather than thrash the VM's page cache for
	// minutes before the kernel's OOM killer acts.
	// Ready waits for the program to listen, up to 10 s (the node
	// bounds Ready to 20 s, the reference's INIT_TIMEOUT); past it, the
	// first request waits for the rest.
	return c + " -- --vm --listen-wait=10s --tmp-mib=" + strconv.Itoa(v.memMiB) +
		" --data-mib=" + strconv.Itoa(v.memMiB-b.cfg.OverheadMiB+dataOverheadMiB)
}

// hostKHz is the host CPU's frequency in kHz, from /proc/cpuinfo.
func hostKHz() int {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "cpu MHz" {
			mhz, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err == nil {
				return int(mhz * 1000)
			}
		}
	}
	return 0
}

// qemuProc is a started QEMU with the agent's connection.
type qemuProc struct {
	cmd  *exec.Cmd
	done chan struct{}
	acc  chan accepted
	out  *tail
}

type accepted struct {
	c   net.Conn
	err error
}

// start listens for the agent's port, then starts QEMU (which connects to
// it at once).
func (b *Backend) start(v *vm) (*qemuProc, error) {
	return b.startQEMU(v.dir, b.args(v), v.internet)
}

// startQEMU starts QEMU with args, the agent's port on dir's socket, in a
// network namespace of its own when netns.
func (b *Backend) startQEMU(dir string, args []string, netns bool) (*qemuProc, error) {
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Net: "unix", Name: filepath.Join(dir, ctlSocket)})
	if err != nil {
		return nil, err
	}
	p := &qemuProc{done: make(chan struct{}), acc: make(chan accepted, 1), out: &tail{max: 4096}}
	name := b.qemu
	if netns {
		// A network namespace (and user namespace, for slirp4netns to
		// join) of QEMU's own.
		name, args = "unshare", append(append(unshareArgs(), b.qemu), args...)
	}
	p.cmd = exec.Command(name, args...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		ln.Close()
		return nil, fmt.Errorf("microvm: starting QEMU: %w", err)
	}
	go func() {
		c, err := ln.Accept()
		ln.Close()
		p.acc <- accepted{c, err}
	}()
	go func() {
		p.cmd.Wait()
		ln.Close()
		close(p.done)
	}()
	return p, nil
}

// kill kills QEMU and waits for it.
func (p *qemuProc) kill() error {
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-p.done:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("microvm: QEMU %d survived SIGKILL", p.cmd.Process.Pid)
	}
}

// connect waits for QEMU's connection to the agent's port.
func (p *qemuProc) connect(ctx context.Context) (net.Conn, error) {
	select {
	case a := <-p.acc:
		return a.c, a.err
	case <-p.done:
		return nil, fmt.Errorf("microvm: QEMU exited: %s", p.out.text())
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Start boots the VM, or restores it from its runtime's snapshot, and
// waits for the agent's hello.
func (in *instance) Start(ctx context.Context) (err error) {
	in.mu.Lock()
	if in.started {
		in.mu.Unlock()
		return errors.New("microvm: instance already started")
	}
	in.started = true
	in.mu.Unlock()
	defer func() {
		if err != nil {
			in.Stop(context.Background())
		}
	}()
	b := in.b
	t0 := time.Now()
	if in.dir, err = os.MkdirTemp(b.cfg.StateDir, "aleph-vm-"); err != nil {
		return err
	}
	rt, err := b.images.runtime(ctx, in.spec.Runtime)
	if err != nil {
		return err
	}
	v := &vm{shape: b.shapeOf(in.spec, rt), dir: in.dir}
	code, fits, err := b.images.code(ctx, in.spec.Code, v.codeMiB)
	if err != nil {
		return err
	}
	v.code = code
	if v.internet {
		v.mac = randomMAC()
	}
	var tpl *template
	// No snapshots of VMs with internet yet: their QEMU's namespace and
	// NAT would have to be in the snapshot's shape too.
	if !b.cfg.NoSnapshots && !v.internet && fits {
		if tpl, err = b.template(ctx, v.shape); err != nil {
			b.cfg.Logger.Warn("microvm: no snapshot, booting", "err", err)
			tpl = nil
		}
	}
	if tpl != nil {
		v.memFile, v.incoming = tpl.mem, true
		in.restored = true
	}
	tImg := time.Now()
	p, err := b.start(v)
	if err != nil {
		return err
	}
	in.cmd = p.cmd
	in.wg.Add(1)
	go func() {
		defer in.wg.Done()
		<-p.done
		if p.cmd.ProcessState != nil && !p.cmd.ProcessState.Success() {
			in.addLog(compute.LogLine{Time: time.Now(), Stream: "stderr", Text: "[microvm] QEMU: " + p.cmd.ProcessState.String() + ": " + p.out.text()})
		}
		close(in.done)
	}()
	in.qemu = p
	if v.internet {
		if in.slirp, err = startNet(ctx, b.slirp, p.cmd.Process.Pid, p.done); err != nil {
			return err
		}
	}
	bctx, cancel := context.WithTimeout(ctx, b.cfg.BootTimeout)
	defer cancel()
	if tpl != nil {
		if err := restore(bctx, v, tpl, p.done); err != nil {
			return fmt.Errorf("%w: %s", err, readConsole(in.dir))
		}
	}
	tRest := time.Now()
	conn, err := p.connect(bctx)
	if err != nil {
		return err
	}
	in.client = guest.Dial(conn, guest.WithLogs(in.addLog))
	if _, err := in.client.Ready(bctx); err != nil {
		return fmt.Errorf("microvm: agent not ready: %w: %s", err, readConsole(in.dir))
	}
	b.cfg.Logger.Debug("microvm: started", "restored", in.restored, "images", tImg.Sub(t0),
		"qemu_and_restore", tRest.Sub(tImg), "hello", time.Since(tRest))
	in.wg.Add(1)
	go in.watch()
	return nil
}

// watch stops the VM when the program exits by itself.
func (in *instance) watch() {
	defer in.wg.Done()
	select {
	case <-in.logs.Exited():
		in.stopWith(context.Background())
	case <-in.done:
	}
}

// Ready configures the agent, which starts the program; a restored VM is
// given its own randomness, clock and MAC first.
func (in *instance) Ready(ctx context.Context) error {
	if in.client == nil {
		return errors.New("microvm: instance not started")
	}
	cfg := &guest.Config{
		Interface:  in.spec.Interface,
		VMHash:     in.spec.ProgramHash,
		Entrypoint: in.spec.Entrypoint,
		Variables:  in.spec.Variables,
		Clock:      time.Now(),
	}
	cfg.Entropy = make([]byte, 64)
	rand.Read(cfg.Entropy)
	if in.spec.Internet {
		cfg.IP, cfg.Route, cfg.DNSServers = guestIP, guestGW, []string{guestDNS}
		cfg.MAC = randomMAC()
	}
	if err := in.client.Configure(ctx, cfg); err != nil {
		return fmt.Errorf("microvm: starting the program: %w: %s", err, readConsole(in.dir))
	}
	return nil
}

// Call forwards s to the program through the agent.
func (in *instance) Call(ctx context.Context, s *compute.Scope) (*compute.Response, error) {
	if in.client == nil {
		return nil, errors.New("microvm: instance not started")
	}
	return guest.CallProgram(ctx, in.client, in.logs, in.done, s, in.spec.Timeout)
}

// Stop halts the agent, which stops the program and powers the VM off;
// QEMU is killed if it has not exited after Config.StopTimeout.
func (in *instance) Stop(ctx context.Context) error {
	in.stopWith(ctx)
	in.wg.Wait()
	return in.stopErr
}

func (in *instance) stopWith(ctx context.Context) {
	in.stopOnce.Do(func() {
		in.mu.Lock()
		in.started = true
		in.mu.Unlock()
		ctx, cancel := context.WithTimeout(ctx, in.b.cfg.StopTimeout)
		defer cancel()
		if in.client != nil {
			// The program stops; the VM has nothing to keep (its
			// writes are in its memory), so QEMU is killed then.
			if err := in.client.Halt(ctx); err != nil {
				in.addLog(compute.LogLine{Time: time.Now(), Stream: "stderr", Text: "[microvm] halt: " + err.Error()})
			}
		}
		if in.qemu != nil {
			in.stopErr = in.qemu.kill()
			if in.slirp != nil {
				in.stopErr = errors.Join(in.stopErr, in.slirp.Stop())
			}
		} else {
			close(in.done)
		}
		if in.client != nil {
			in.client.Close()
		}
		if in.dir != "" {
			os.RemoveAll(in.dir)
		}
	})
}

// Done is closed when the VM has exited.
func (in *instance) Done() <-chan struct{} { return in.done }

func (in *instance) addLog(l compute.LogLine) { in.logs.Add(l) }

// Logs returns the last lines of the program's output and the backend's
// errors, oldest first.
func (in *instance) Logs() []compute.LogLine { return in.logs.Lines() }

// padTo extends the image at p to mib MiB (sparse), telling whether it
// fits.
func padTo(p string, mib int) (bool, error) {
	st, err := os.Stat(p)
	if err != nil {
		return false, err
	}
	size := int64(mib) << 20
	if st.Size() > size {
		return false, nil
	}
	return true, os.Truncate(p, size)
}

// randomMAC is a locally administered unicast address.
func randomMAC() string {
	b := make([]byte, 6)
	rand.Read(b)
	b[0] = b[0]&0xfc | 0x02
	return net.HardwareAddr(b).String()
}

// tail keeps the last max bytes written.
type tail struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = t.b[len(t.b)-t.max:]
	}
	return len(p), nil
}

func (t *tail) text() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(t.b))
}

var _ io.Writer = (*tail)(nil)
