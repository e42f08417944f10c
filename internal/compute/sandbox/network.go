package sandbox

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The network of a program with internet (docs/design/0006-sandbox.md): the
// sandbox has a network namespace of its own, and slirp4netns, a process of
// the node's, gives it a tap device behind a user-mode NAT. Addresses are
// slirp4netns's defaults.
const (
	// slirpDNS is slirp4netns's resolver, which forwards to the host's.
	slirpDNS = "10.0.2.3"
	// slirpTap is the device slirp4netns makes in the sandbox.
	slirpTap = "tap0"
)

// slirpFlags are slirp4netns's options but its fds: set up tap0 (10.0.2.100,
// route via 10.0.2.2, DNS 10.0.2.3), the largest MTU (fastest), no way to
// the host's loopback through 10.0.2.2, and slirp4netns itself confined (an
// empty mount namespace, a seccomp filter), since it parses the program's
// packets.
var slirpFlags = []string{"--configure", "--mtu=65520", "--disable-host-loopback", "--enable-sandbox", "--enable-seccomp"}

// ErrNoNetworkIsolation is returned by Prepare for a program with internet
// when slirp4netns is missing and Config.RequireNetworkIsolation is set.
var ErrNoNetworkIsolation = errors.New("sandbox: slirp4netns not found: a program with internet cannot have a network namespace of its own")

// slirp is the slirp4netns process of one sandbox.
type slirp struct {
	cmd   *exec.Cmd
	exitW *os.File      // closing it tells slirp4netns to exit
	ready chan error    // receives nil when tap0 is up, or why not
	done  chan struct{} // closed when slirp4netns has exited
	out   *capped       // its output, for errors
}

// startSlirp starts slirp4netns on the network namespace of the process pid
// (the sandbox's PID 1; slirp4netns joins its user namespace too). It
// returns at once: ready tells when the network is up. The process exits
// when stop is called or when the node dies (its exit fd closes).
func startSlirp(bin string, pid int) (*slirp, error) {
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
	s := &slirp{exitW: exitW, ready: make(chan error, 1), done: make(chan struct{}), out: &capped{max: 4096}}
	args := append([]string{}, slirpFlags...)
	args = append(args, "--ready-fd=3", "--exit-fd=4", strconv.Itoa(pid), slirpTap)
	s.cmd = exec.Command(bin, args...)
	s.cmd.Env = []string{}
	s.cmd.ExtraFiles = []*os.File{readyW, exitR}
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	// Its own process group: a signal to the node's does not reach it.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	err = s.cmd.Start()
	readyW.Close()
	exitR.Close()
	if err != nil {
		readyR.Close()
		exitW.Close()
		return nil, fmt.Errorf("sandbox: starting slirp4netns: %w", err)
	}
	go func() {
		defer readyR.Close()
		// slirp4netns writes "1" once tap0 is configured; EOF means it
		// exited first.
		b := make([]byte, 1)
		if n, _ := readyR.Read(b); n == 1 && b[0] == '1' {
			s.ready <- nil
			return
		}
		<-s.done
		s.ready <- fmt.Errorf("sandbox: slirp4netns failed (%v): %s", s.cmd.ProcessState, s.out.text())
	}()
	go func() {
		s.cmd.Wait()
		close(s.done)
	}()
	return s, nil
}

// stop makes slirp4netns exit, killing it if it has not after a second,
// and waits for it. It may be called more than once.
func (s *slirp) stop() error {
	s.exitW.Close()
	select {
	case <-s.done:
		return nil
	case <-time.After(time.Second):
	}
	unix.Kill(s.cmd.Process.Pid, unix.SIGKILL)
	select {
	case <-s.done:
		return nil
	case <-time.After(5 * time.Second):
		return fmt.Errorf("sandbox: slirp4netns %d survived SIGKILL", s.cmd.Process.Pid)
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
