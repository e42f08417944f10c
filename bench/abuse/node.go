package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// node is the core node under test: a child process this tool started, or
// one it attached to with -url, -pid and -data-dir.
type node struct {
	url     string
	pid     int
	dataDir string
	cmd     *exec.Cmd // nil when attached
	tmp     string
	bin     string // the child's binary and arguments, for a restart
	args    []string

	mu   sync.Mutex
	logs []string // the child's output lines
	done chan struct{}
}

// buildAleph builds ./cmd/aleph into dir and returns the binary's path.
func buildAleph(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "aleph")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/aleph")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build ./cmd/aleph (run from the repository root): %w", err)
	}
	return bin, nil
}

// freePort asks the kernel for a free loopback port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// startNode runs `aleph node run --no-p2p` on a random loopback port with a
// fresh data dir under tmp and the extra flags, and waits until it
// answers.
func startNode(ctx context.Context, bin, tmp string, extra ...string) (*node, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(tmp, "data-")
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	args := append([]string{"node", "run", "--no-p2p", "--data-dir", dir, "--listen", addr}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	// The node logs to stdout or stderr: both are captured, line by line.
	stderr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	err = cmd.Start()
	if err != nil {
		pw.Close()
		stderr.Close()
		return nil, err
	}
	n := &node{url: "http://" + addr, pid: cmd.Process.Pid, dataDir: dir, cmd: cmd, tmp: dir, done: make(chan struct{}), bin: bin, args: args}
	if err := n.watch(ctx, stderr, pw); err != nil {
		return nil, err
	}
	return n, nil
}

// watch captures the child's output and waits until it answers.
func (n *node) watch(ctx context.Context, stderr *os.File, pw *os.File) error {
	pw.Close()
	go func() {
		defer close(n.done)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		for sc.Scan() {
			n.mu.Lock()
			if len(n.logs) < 200000 {
				n.logs = append(n.logs, sc.Text())
			}
			n.mu.Unlock()
		}
		_, _ = io.Copy(io.Discard, stderr)
		stderr.Close()
	}()
	if err := waitReady(ctx, n.url, 60*time.Second); err != nil {
		n.stop()
		return fmt.Errorf("node did not start: %w; log tail:\n%s", err, n.logTail(20))
	}
	return nil
}

// closedSize stops the child node (SIGTERM: it checkpoints its database
// on the way out), measures its data dir and starts it again on the same
// dir and address. A running node's data dir counts SQLite's write-ahead
// log, which holds every page written since the last checkpoint and is
// reused, not shrunk; the closed dir holds only what is kept. It returns
// -1 for an attached node, which it cannot restart.
func (n *node) closedSize(ctx context.Context) (int64, error) {
	if n.cmd == nil {
		return -1, nil
	}
	n.halt()
	size := dirSize(n.dataDir)
	cmd := exec.Command(n.bin, n.args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stderr, pw, err := os.Pipe()
	if err != nil {
		return 0, err
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		pw.Close()
		stderr.Close()
		return 0, err
	}
	<-n.done
	n.cmd, n.pid, n.done = cmd, cmd.Process.Pid, make(chan struct{})
	return size, n.watch(ctx, stderr, pw)
}

// attachNode uses a node started by someone else.
func attachNode(ctx context.Context, url string, pid int, dir string) (*node, error) {
	if pid <= 0 || dir == "" {
		return nil, errors.New("-url needs -pid and -data-dir")
	}
	if err := waitReady(ctx, url, 10*time.Second); err != nil {
		return nil, err
	}
	return &node{url: strings.TrimRight(url, "/"), pid: pid, dataDir: dir}, nil
}

func waitReady(ctx context.Context, url string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	c := &http.Client{Timeout: 2 * time.Second}
	for {
		resp, err := c.Get(url + "/api/v0/version")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s/api/v0/version not answering 200 after %s (%v)", url, limit, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// logCount is the number of log lines captured so far.
func (n *node) logCount() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.logs)
}

// logsSince returns the log lines from index i on.
func (n *node) logsSince(i int) []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if i > len(n.logs) {
		return nil
	}
	return append([]string(nil), n.logs[i:]...)
}

func (n *node) logTail(k int) string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return strings.Join(n.logs[max(0, len(n.logs)-k):], "\n")
}

// stop ends a child node (SIGTERM, then SIGKILL after 10 s) and removes its
// data dir; an attached node is left alone.
func (n *node) stop() {
	if n.cmd == nil {
		return
	}
	n.halt()
	n.cmd = nil
	if n.tmp != "" {
		_ = os.RemoveAll(n.tmp)
	}
}

// halt ends the child node and waits for it, keeping its data dir.
func (n *node) halt() {
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	exited := make(chan struct{})
	go func() { _ = n.cmd.Wait(); close(exited) }()
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		_ = n.cmd.Process.Kill()
		<-exited
	}
}
