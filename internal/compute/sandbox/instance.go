package sandbox

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
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/goaleph/goaleph/internal/compute"
	"github.com/goaleph/goaleph/internal/compute/guest"
	"github.com/goaleph/goaleph/internal/compute/slirp"
)

// Paths inside the sandbox.
const (
	agentPath  = "/run/aleph-guest"
	socketDir  = "/run/aleph"
	socketName = "ctl.sock"
	codeDir    = "/opt/code"
	// overlayDir holds, in bwrap's own root, the runtime (lower) and the
	// tmpfs of the program's writes (rw); the agent makes the overlay of
	// the two the root and detaches the rest (cmd/aleph-guest/root.go).
	overlayDir = "/.aleph-overlay"
	// programAddr is where an executable program serves HTTP when it has
	// its own network namespace: always, but for a program with internet
	// on a node without slirp4netns.
	programAddr = "127.0.0.1:8080"
)

// instance is one program's sandbox. Start, Ready, Call and Stop may be
// called from any goroutine; Call concurrently.
type instance struct {
	b    *Backend
	spec compute.Spec

	// Set by Start, read-only after.
	dir      string // state directory: the control socket
	cmd      *exec.Cmd
	childPid int // the sandbox's PID 1 (the agent), as seen by the host
	client   *guest.Client
	slirp    *slirp.Process // the network of a program with internet, if isolated
	netErr   error          // slirp4netns survived its stop (set before wg.Done)

	started  bool          // Start was called (guarded by mu)
	done     chan struct{} // closed when bwrap has exited
	stopOnce sync.Once
	stopErr  error
	wg       sync.WaitGroup // bwrap's waiter and the exit watcher

	mu   sync.Mutex
	logs *guest.Watch // the last cfg.LogLines lines; notices the program's exit
}

var _ compute.Instance = (*instance)(nil)

func newInstance(b *Backend, spec compute.Spec) *instance {
	return &instance{b: b, spec: spec, done: make(chan struct{}), logs: guest.NewWatch(b.cfg.LogLines)}
}

// hostname is the sandbox's host name: a prefix of the program's hash.
func hostname(hash string) string { return compute.Hostname(hash) }

// isolated tells whether the sandbox has a network namespace of its own:
// always, but for a program with internet on a node without slirp4netns.
func (in *instance) isolated() bool { return !in.spec.Internet || in.b.slirp != "" }

// args is bwrap's command line (after the fds for info and block).
func (in *instance) args(httpAddr string) []string {
	cfg := in.b.cfg
	tmpMiB := cfg.TmpMiB
	if tmpMiB <= 0 {
		tmpMiB = in.spec.MemoryMiB
	}
	size := strconv.Itoa(tmpMiB << 20)
	a := []string{
		// uid and gid 0 in the sandbox, whatever the node's: for any
		// other, bwrap nests the sandbox in a second user namespace, as
		// for --disable-userns, and the agent could not mount.
		"--unshare-user", "--uid", "0", "--gid", "0",
		"--unshare-pid", "--unshare-ipc", "--unshare-uts",
		"--hostname", hostname(in.spec.ProgramHash),
		"--die-with-parent", "--new-session", "--as-pid-1",
		// Every capability of the sandbox's user namespace, for the
		// agent's root overlay; it gives them all up before it connects
		// (the overlay keeps its mounter's for its copy-ups, as rootless
		// containers do). Not --disable-userns: it nests the sandbox in a
		// second user namespace, without power over its mounts; the agent
		// forbids nested user namespaces itself.
		"--cap-add", "ALL",
		"--clearenv",
		"--setenv", "PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"--setenv", "HOME", "/tmp",
		"--setenv", "LANG", "C.UTF-8",
		"--ro-bind", in.spec.Runtime, overlayDir + "/lower",
		"--size", size, "--tmpfs", overlayDir + "/rw",
		"--proc", "/proc",
		"--dev", "/dev",
		"--size", size, "--tmpfs", "/tmp",
		"--size", size, "--tmpfs", "/run",
		"--ro-bind", in.spec.Code, codeDir,
		"--ro-bind", cfg.Agent, agentPath,
		"--bind", in.dir, socketDir,
	}
	if in.isolated() {
		// Only lo; slirp4netns adds tap0 for a program with internet.
		a = append(a, "--unshare-net")
	}
	for _, v := range in.spec.Volumes {
		op := "--bind"
		if v.ReadOnly {
			op = "--ro-bind"
		}
		a = append(a, op, v.Source, v.Mount)
	}
	a = append(a, "--info-fd", "3", "--block-fd", "4", "--",
		agentPath, "--root-overlay", overlayDir, "--drop-caps", "--socket", socketDir+"/"+socketName, "--code-dir", codeDir, "--http-addr", httpAddr)
	if in.spec.Internet && in.isolated() {
		a = append(a, "--nameserver", slirpDNS)
	}
	return a
}

// Start starts bwrap and the agent inside, and waits for the agent's hello.
func (in *instance) Start(ctx context.Context) (err error) {
	in.mu.Lock()
	if in.started {
		in.mu.Unlock()
		return errors.New("sandbox: instance already started")
	}
	in.started = true
	in.mu.Unlock()
	defer func() {
		if err != nil {
			in.Stop(context.Background())
		}
	}()

	in.dir, err = os.MkdirTemp(in.b.cfg.StateDir, "aleph-sandbox-")
	if err != nil {
		return err
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Net: "unix", Name: filepath.Join(in.dir, socketName)})
	if err != nil {
		return err
	}
	defer ln.Close() // one connection is all we take

	httpAddr := programAddr
	if !in.isolated() {
		// The host's network namespace: port 8080 may be taken, by the
		// host or another program.
		if httpAddr, err = freeAddr(); err != nil {
			return err
		}
	}

	infoR, infoW, err := os.Pipe()
	if err != nil {
		return err
	}
	defer infoR.Close()
	blockR, blockW, err := os.Pipe()
	if err != nil {
		infoW.Close()
		return err
	}
	defer blockW.Close()

	cmd := exec.Command(in.b.bwrap, in.args(httpAddr)...)
	cmd.Env = []string{}
	cmd.ExtraFiles = []*os.File{infoW, blockR}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// bwrap's errors and the agent's own (not the program's: those come
	// as log messages).
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	err = cmd.Start()
	infoW.Close()
	blockR.Close()
	if err != nil {
		return fmt.Errorf("sandbox: starting bwrap: %w", err)
	}
	in.cmd = cmd
	in.wg.Add(1)
	go func() {
		defer in.wg.Done()
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			in.addLog(compute.LogLine{Time: time.Now(), Stream: "stderr", Text: sc.Text()})
		}
		io.Copy(io.Discard, stderr)
		cmd.Wait()
		close(in.done)
	}()

	// bwrap tells the sandbox's first process's pid, then that process
	// waits on the block fd until its limits are set.
	var info struct {
		ChildPid int `json:"child-pid"`
	}
	if err := json.NewDecoder(infoR).Decode(&info); err != nil || info.ChildPid <= 0 {
		in.waitDone(5 * time.Second)
		return fmt.Errorf("sandbox: bwrap failed: %s", in.lastLogs(5))
	}
	in.childPid = info.ChildPid
	if err := in.limit(info.ChildPid); err != nil {
		return err
	}
	if _, err := blockW.Write([]byte{1}); err != nil {
		return fmt.Errorf("sandbox: releasing the sandbox: %w", err)
	}

	type accepted struct {
		c   net.Conn
		err error
	}
	acc := make(chan accepted, 1)
	go func() {
		c, err := ln.Accept()
		acc <- accepted{c, err}
	}()
	select {
	case a := <-acc:
		if a.err != nil {
			return a.err
		}
		in.client = guest.Dial(a.c, guest.WithLogs(in.addLog))
		if in.spec.Internet && in.isolated() {
			// Not before: bwrap brings lo up once released, and
			// slirp4netns does too; the loser fails ("bwrap: loopback:
			// Failed RTM_NEWADDR"). The agent runs: bwrap is done.
			// slirp4netns sets tap0 up during the agent's hello, and
			// Start waits for both.
			if in.slirp, err = slirp.Start(in.b.slirp, in.childPid); err != nil {
				return err
			}
			in.wg.Add(1)
			go in.watchNet()
		}
	case <-in.done:
		return fmt.Errorf("sandbox: exited before the agent connected: %s", in.lastLogs(5))
	case <-ctx.Done():
		return ctx.Err()
	}
	if _, err := in.client.Ready(ctx); err != nil {
		return fmt.Errorf("sandbox: agent not ready: %w", err)
	}
	if in.slirp != nil {
		select {
		case err := <-in.slirp.Ready:
			if err != nil {
				return err
			}
		case <-in.done:
			return fmt.Errorf("sandbox: exited before its network was up: %s", in.lastLogs(5))
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	in.wg.Add(1)
	go in.watch()
	return nil
}

// watchNet stops slirp4netns when the sandbox is done, and logs its death
// if it comes first (the program has lost its network).
func (in *instance) watchNet() {
	defer in.wg.Done()
	select {
	case <-in.done:
	case <-in.slirp.Done:
		select {
		case <-in.done:
		default:
			in.addLog(compute.LogLine{Time: time.Now(), Stream: "stderr",
				Text: fmt.Sprintf("[sandbox] slirp4netns exited (%v): %s", in.slirp.Cmd.ProcessState, in.slirp.Output())})
			<-in.done
		}
	}
	in.netErr = in.slirp.Stop()
}

// limit sets the resource limits of the sandbox's first process, which the
// agent and the program inherit. See docs/design/0006-sandbox.md.
func (in *instance) limit(pid int) error {
	mem := uint64(in.spec.MemoryMiB+in.b.cfg.DataOverheadMiB) << 20
	if err := unix.Prlimit(pid, unix.RLIMIT_DATA, &unix.Rlimit{Cur: mem, Max: mem}, nil); err != nil {
		return fmt.Errorf("sandbox: RLIMIT_DATA: %w", err)
	}
	if s := in.b.cfg.CPUSeconds; s > 0 {
		// SIGXCPU at the soft limit, SIGKILL one second later.
		lim := &unix.Rlimit{Cur: uint64(s), Max: uint64(s) + 1}
		if err := unix.Prlimit(pid, unix.RLIMIT_CPU, lim, nil); err != nil {
			return fmt.Errorf("sandbox: RLIMIT_CPU: %w", err)
		}
	}
	if n := in.b.cfg.Nice; n > 0 {
		if err := unix.Setpriority(unix.PRIO_PROCESS, pid, n); err != nil {
			return fmt.Errorf("sandbox: nice: %w", err)
		}
	}
	return nil
}

// watch stops the sandbox when the program exits by itself: the instance
// is then done, as the contract says.
func (in *instance) watch() {
	defer in.wg.Done()
	select {
	case <-in.logs.Exited():
		in.stop()
	case <-in.done:
	}
}

// Ready configures the agent, which starts the program.
func (in *instance) Ready(ctx context.Context) error {
	if in.client == nil {
		return errors.New("sandbox: instance not started")
	}
	cfg := &guest.Config{
		Interface:  in.spec.Interface,
		VMHash:     in.spec.ProgramHash,
		Entrypoint: in.spec.Entrypoint,
		Variables:  in.spec.Variables,
	}
	if err := in.client.Configure(ctx, cfg); err != nil {
		return fmt.Errorf("sandbox: starting the program: %w", err)
	}
	return nil
}

// Call forwards s to the program through the agent.
func (in *instance) Call(ctx context.Context, s *compute.Scope) (*compute.Response, error) {
	if in.client == nil {
		return nil, errors.New("sandbox: instance not started")
	}
	return guest.CallProgram(ctx, in.client, in.logs, in.done, s, in.spec.Timeout)
}

// Stop halts the agent (it stops the program), then kills what is left of
// the sandbox after Config.StopTimeout or when ctx ends.
func (in *instance) Stop(ctx context.Context) error {
	in.stopWith(ctx)
	in.wg.Wait()
	return errors.Join(in.stopErr, in.netErr)
}

func (in *instance) stop() { in.stopWith(context.Background()) }

func (in *instance) stopWith(ctx context.Context) {
	in.stopOnce.Do(func() {
		in.mu.Lock()
		in.started = true // a Start after Stop fails
		in.mu.Unlock()
		ctx, cancel := context.WithTimeout(ctx, in.b.cfg.StopTimeout)
		defer cancel()
		if in.client != nil {
			if err := in.client.Halt(ctx); err != nil {
				in.addLog(compute.LogLine{Time: time.Now(), Stream: "stderr", Text: "[sandbox] halt: " + err.Error()})
			}
		}
		if in.cmd != nil {
			select {
			case <-in.done:
			case <-time.After(time.Second):
			case <-ctx.Done():
			}
			// Killing the namespace's PID 1 kills every process in it;
			// bwrap then exits.
			if in.childPid > 0 {
				unix.Kill(in.childPid, unix.SIGKILL)
			}
			unix.Kill(-in.cmd.Process.Pid, unix.SIGKILL)
			select {
			case <-in.done:
			case <-time.After(5 * time.Second):
				in.stopErr = fmt.Errorf("sandbox: bwrap %d survived SIGKILL", in.cmd.Process.Pid)
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

// waitDone waits for bwrap to exit, at most d.
func (in *instance) waitDone(d time.Duration) {
	select {
	case <-in.done:
	case <-time.After(d):
	}
}

// Done is closed when the sandbox has exited.
func (in *instance) Done() <-chan struct{} { return in.done }

func (in *instance) addLog(l compute.LogLine) { in.logs.Add(l) }

// Logs returns the last lines of the program's output and of the sandbox's
// own errors, oldest first.
func (in *instance) Logs() []compute.LogLine { return in.logs.Lines() }

func (in *instance) lastLogs(n int) string {
	logs := in.Logs()
	logs = logs[max(len(logs)-n, 0):]
	var s []string
	for _, l := range logs {
		s = append(s, l.Text)
	}
	if len(s) == 0 {
		return "no output"
	}
	return strings.Join(s, "; ")
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}
