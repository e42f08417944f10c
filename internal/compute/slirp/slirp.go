// Package slirp runs slirp4netns, the user-mode NAT that gives an isolated
// network namespace (a sandbox's, a micro VM's QEMU's) its way out without
// reaching the host's loopback. See docs/design/0006-sandbox.md.
package slirp

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// slirp4netns's addresses (its defaults) and options.
const (
	// DNS is slirp4netns's resolver, which forwards to the host's.
	DNS = "10.0.2.3"
	// Tap is the device slirp4netns makes in the sandbox.
	Tap = "tap0"
)

// Flags are slirp4netns's options but its fds: set up tap0 (10.0.2.100,
// route via 10.0.2.2, DNS 10.0.2.3), the largest MTU (fastest), no way to
// the host's loopback through 10.0.2.2, and slirp4netns itself confined (an
// empty mount namespace, a seccomp filter), since it parses the program's
// packets.
var Flags = []string{"--configure", "--mtu=65520", "--disable-host-loopback", "--enable-sandbox", "--enable-seccomp"}

// Process is one namespace's slirp4netns.
type Process struct {
	Cmd   *exec.Cmd
	exitW *os.File      // closing it tells slirp4netns to exit
	Ready chan error    // receives nil when tap0 is up, or why not
	Done  chan struct{} // closed when slirp4netns has exited
	out   *capped       // its output, for errors
}

// Start starts slirp4netns on the network namespace of the process pid
// (the sandbox's PID 1; slirp4netns joins its user namespace too). It
// returns at once: ready tells when the network is up. The process exits
// when stop is called or when the node dies (its exit fd closes).
// extra are further options (--api-socket=PATH).
func Start(bin string, pid int, extra ...string) (*Process, error) {
	readyR, readyW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	exitR, exitW, err := os.Pipe()
	if err != nil {
		readyR.Close()
		readyW.Close()
		return nil, err
	}
	s := &Process{exitW: exitW, Ready: make(chan error, 1), Done: make(chan struct{}), out: &capped{max: 4096}}
	args := append([]string{}, Flags...)
	args = append(args, extra...)
	args = append(args, "--ready-fd=3", "--exit-fd=4", strconv.Itoa(pid), Tap)
	s.Cmd = exec.Command(bin, args...)
	s.Cmd.Env = []string{}
	s.Cmd.ExtraFiles = []*os.File{readyW, exitR}
	s.Cmd.Stdout, s.Cmd.Stderr = s.out, s.out
	// Its own process group: a signal to the node's does not reach it.
	s.Cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	err = s.Cmd.Start()
	readyW.Close()
	exitR.Close()
	if err != nil {
		readyR.Close()
		exitW.Close()
		return nil, fmt.Errorf("slirp: starting slirp4netns: %w", err)
	}
	go func() {
		defer readyR.Close()
		// slirp4netns writes "1" once tap0 is configured; EOF means it
		// exited first.
		b := make([]byte, 1)
		if n, _ := readyR.Read(b); n == 1 && b[0] == '1' {
			s.Ready <- nil
			return
		}
		<-s.Done
		s.Ready <- fmt.Errorf("slirp: slirp4netns failed (%v): %s", s.Cmd.ProcessState, s.out.text())
	}()
	go func() {
		s.Cmd.Wait()
		close(s.Done)
	}()
	return s, nil
}

// Stop makes slirp4netns exit, killing it if it has not after a second,
// and waits for it. It may be called more than once.
func (s *Process) Stop() error {
	s.exitW.Close()
	select {
	case <-s.Done:
		return nil
	case <-time.After(time.Second):
	}
	unix.Kill(s.Cmd.Process.Pid, unix.SIGKILL)
	select {
	case <-s.Done:
		return nil
	case <-time.After(5 * time.Second):
		return fmt.Errorf("slirp: slirp4netns %d survived SIGKILL", s.Cmd.Process.Pid)
	}
}

// capped keeps the first max bytes written to it.
type capped struct {
	mu  sync.Mutex
	max int
	buf bytes.Buffer
}

var _ io.Writer = (*capped)(nil)

func (c *capped) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n := c.max - c.buf.Len(); n > 0 {
		c.buf.Write(p[:min(n, len(p))])
	}
	return len(p), nil
}

func (c *capped) text() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := strings.TrimSpace(strings.ReplaceAll(c.buf.String(), "\n", "; "))
	if s == "" {
		return "no output"
	}
	return s
}

// Output is what slirp4netns wrote, its first bytes.
func (s *Process) Output() string { return s.out.text() }

// AddHostFwd asks the slirp4netns of the API socket api to forward TCP
// connections to hostAddr:hostPort on the host to guestPort of the
// namespace's tap0 (10.0.2.100).
func AddHostFwd(api, hostAddr string, hostPort, guestPort int) error {
	c, err := net.DialTimeout("unix", api, 5*time.Second)
	if err != nil {
		return fmt.Errorf("slirp: API socket: %w", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	req, _ := json.Marshal(map[string]any{"execute": "add_hostfwd", "arguments": map[string]any{
		"proto": "tcp", "host_addr": hostAddr, "host_port": hostPort, "guest_port": guestPort}})
	if _, err := c.Write(req); err != nil {
		return fmt.Errorf("slirp: API request: %w", err)
	}
	c.(*net.UnixConn).CloseWrite()
	b, err := io.ReadAll(c)
	if err != nil {
		return fmt.Errorf("slirp: API answer: %w", err)
	}
	var ans struct {
		Error *struct {
			Desc string `json:"desc"`
		} `json:"error"`
	}
	if err := json.Unmarshal(b, &ans); err != nil {
		return fmt.Errorf("slirp: API answer %q: %w", b, err)
	}
	if ans.Error != nil {
		return fmt.Errorf("slirp: forwarding port %d: %s", hostPort, ans.Error.Desc)
	}
	return nil
}
