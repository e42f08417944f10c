package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/goaleph/goaleph/internal/compute"
	"github.com/goaleph/goaleph/internal/compute/guest"
)

// The tests run the agent as a host process (no sandbox) connected to a Unix
// socket the test listens on, with a small Go HTTP server as the program.
var bins struct {
	once        sync.Once
	agent, echo string
	err         error
}

func build(t *testing.T) (agent, echo string) {
	t.Helper()
	bins.once.Do(func() {
		dir, err := os.MkdirTemp("", "aleph-guest-test-")
		if err != nil {
			bins.err = err
			return
		}
		bins.agent = filepath.Join(dir, "aleph-guest")
		bins.echo = filepath.Join(dir, "echo")
		for out, pkg := range map[string]string{bins.agent: ".", bins.echo: "./testdata/echo"} {
			cmd := exec.Command("go", "build", "-o", out, pkg)
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
			if b, err := cmd.CombinedOutput(); err != nil {
				bins.err = fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
				return
			}
		}
	})
	if bins.err != nil {
		t.Fatal(bins.err)
	}
	return bins.agent, bins.echo
}

func TestMain(m *testing.M) {
	code := m.Run()
	if bins.agent != "" {
		os.RemoveAll(filepath.Dir(bins.agent))
	}
	os.Exit(code)
}

// logs collects the lines the program writes.
type logs struct {
	mu    sync.Mutex
	lines []compute.LogLine
}

func (l *logs) add(line compute.LogLine) {
	l.mu.Lock()
	l.lines = append(l.lines, line)
	l.mu.Unlock()
}

// wait waits for a line of stream containing text.
func (l *logs) wait(t *testing.T, stream, text string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		l.mu.Lock()
		for _, line := range l.lines {
			if line.Stream == stream && strings.Contains(line.Text, text) {
				l.mu.Unlock()
				return
			}
		}
		l.mu.Unlock()
		time.Sleep(20 * time.Millisecond)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	t.Fatalf("no %s line with %q in %+v", stream, text, l.lines)
}

type running struct {
	client *guest.Client
	logs   *logs
	cmd    *exec.Cmd
	exited chan error
}

// startAgent starts the agent on a fresh socket with the given flags.
func startAgent(t *testing.T, codeDir string, flags ...string) *running {
	t.Helper()
	agent, _ := build(t)
	sock := filepath.Join(t.TempDir(), "g.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	args := append([]string{"--socket", sock, "--code-dir", codeDir, "--http-addr", freeAddr(t)}, flags...)
	cmd := exec.Command(agent, args...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := &running{logs: &logs{}, cmd: cmd, exited: make(chan error, 1)}
	go func() { r.exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-r.exited
		r.exited <- nil
	})
	ln.(*net.UnixListener).SetDeadline(time.Now().Add(20 * time.Second))
	conn, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	r.client = guest.Dial(conn, guest.WithLogs(r.logs.add))
	t.Cleanup(func() { r.client.Close() })
	return r
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// codeDir returns a code directory holding the echo program as "run".
func codeDir(t *testing.T) string {
	_, echo := build(t)
	dir := t.TempDir()
	b, err := os.ReadFile(echo)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "run"), b, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

type echoed struct {
	PID    int
	Method string
	Path   string
	Query  string
	Host   string
	Header string
	Body   string
}

func decodeEcho(t *testing.T, r *compute.Response) echoed {
	t.Helper()
	var e echoed
	if err := json.Unmarshal(r.Body, &e); err != nil {
		t.Fatalf("response %d %q: %v", r.Status, r.Body, err)
	}
	return e
}

// numbered is call i of a concurrent run: method on path/i with the query
// key=i, a host, and an x-test header and a body naming i. want is what the
// echo program answers to it, but for its PID.
func numbered(method, path, key string, i int) (*compute.Scope, echoed) {
	n := strconv.Itoa(i)
	s := &compute.Scope{
		Type: "http", Method: method, Path: path + "/" + n, QueryString: key + "=" + n,
		Headers: [][2]string{{"host", "example.org"}, {"x-test", "t" + n}},
		Body:    []byte("body " + n),
	}
	return s, echoed{Method: method, Path: s.Path, Query: s.QueryString,
		Host: "example.org", Header: "t" + n, Body: "body " + n}
}

// callNumbered makes call i with the numbered scope of method, path and
// key, and returns the response, the echo it decodes to and the echo
// expected; a failed call is reported and gives ok false.
func (r *running) callNumbered(ctx context.Context, t *testing.T, method, path, key string, i int) (resp *compute.Response, e, want echoed, ok bool) {
	scope, want := numbered(method, path, key, i)
	resp, err := r.client.Call(ctx, scope)
	if err != nil {
		t.Error(err)
		return nil, e, want, false
	}
	return resp, decodeEcho(t, resp), want, true
}

func header(r *compute.Response, name string) string {
	for _, h := range r.Headers {
		if h[0] == name {
			return h[1]
		}
	}
	return ""
}

// gone waits until pid no longer exists (not even as a zombie).
func gone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	state, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	t.Fatalf("process %d still there: %s", pid, state)
}

func halt(t *testing.T, ctx context.Context, r *running) {
	t.Helper()
	if err := r.client.Halt(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-r.exited:
		r.exited <- err
		if err != nil {
			t.Fatalf("agent exit: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("agent still running after halt")
	}
}

func TestExecutable(t *testing.T) {
	ctx := testCtx(t)
	r := startAgent(t, codeDir(t))
	if err := r.client.Configure(ctx, &guest.Config{
		Interface: compute.Executable, VMHash: "h", Entrypoint: "run",
		Variables: map[string]string{"GREETING": "hello", "ECHO_DELAY": "300ms"},
	}); err != nil {
		t.Fatal(err)
	}

	// The first calls wait for the program to listen.
	const n = 50
	pids := make(chan int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			resp, e, want, ok := r.callNumbered(ctx, t, "POST", "/p", "i", i)
			if !ok {
				return
			}
			want.PID = e.PID
			if resp.Status != 201 || e != want || header(resp, "x-echo") != "1" {
				t.Errorf("call %d: %d %+v %v", i, resp.Status, e, resp.Headers)
			}
			pids <- e.PID
		})
	}
	wg.Wait()
	close(pids)
	pid := <-pids
	for p := range pids {
		if p != pid {
			t.Fatalf("two programs: %d and %d", pid, p)
		}
	}
	r.logs.wait(t, "stdout", "echo: listening")
	r.logs.wait(t, "stderr", "GREETING=hello")

	// An orphan of the program is reaped by the agent.
	resp, err := r.client.Call(ctx, &compute.Scope{Type: "http", Method: "GET", Path: "/orphan"})
	if err != nil {
		t.Fatal(err)
	}
	orphan, err := strconv.Atoi(string(resp.Body))
	if err != nil {
		t.Fatalf("orphan: %d %q", resp.Status, resp.Body)
	}
	gone(t, orphan)

	halt(t, ctx, r)
	gone(t, pid)
	r.logs.wait(t, "stdout", "echo: SIGTERM")
}

func TestProgramExits(t *testing.T) {
	ctx := testCtx(t)
	_, echo := build(t)
	code, err := os.ReadFile(echo)
	if err != nil {
		t.Fatal(err)
	}
	// The code comes inline ("plain") into an empty directory.
	r := startAgent(t, filepath.Join(t.TempDir(), "code"))
	if err := r.client.Configure(ctx, &guest.Config{
		Interface: compute.Executable, Entrypoint: "run", Encoding: "plain", Code: code,
	}); err != nil {
		t.Fatal(err)
	}
	resp, err := r.client.Call(ctx, &compute.Scope{Type: "http", Method: "GET", Path: "/exit"})
	if err != nil || resp.Status != 201 {
		t.Fatalf("exit call: %v %+v", err, resp)
	}
	r.logs.wait(t, "stderr", "program exited: status 3")
	start := time.Now()
	resp, err = r.client.Call(ctx, &compute.Scope{Type: "http", Method: "GET", Path: "/"})
	if err != nil || resp.Status != 503 {
		t.Fatalf("call after exit: %v %+v", err, resp)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("503 took %v", d)
	}
	halt(t, ctx, r)
}

func TestProgramNeverListens(t *testing.T) {
	ctx := testCtx(t)
	r := startAgent(t, codeDir(t), "--startup-timeout", "1s", "--stop-timeout", "300ms")
	if err := r.client.Configure(ctx, &guest.Config{
		Interface: compute.Executable, Entrypoint: "run",
		Variables: map[string]string{"ECHO_NO_LISTEN": "1", "ECHO_IGNORE_TERM": "1"},
	}); err != nil {
		t.Fatal(err)
	}
	resp, err := r.client.Call(ctx, &compute.Scope{Type: "http", Method: "GET", Path: "/"})
	if err != nil || resp.Status != 503 {
		t.Fatalf("call: %v %+v", err, resp)
	}
	// A scope the agent cannot forward is an error, not a crash.
	_, err = r.client.Call(ctx, &compute.Scope{Type: "aleph.message", Body: []byte("{}")})
	var pe *guest.ProgramError
	if !errors.As(err, &pe) {
		t.Fatalf("event: %v", err)
	}
	halt(t, ctx, r) // SIGTERM is ignored: SIGKILL after 300 ms
	r.logs.wait(t, "stderr", "killing it")
	r.logs.wait(t, "stderr", "program exited: signal killed")
}

func TestBadConfig(t *testing.T) {
	ctx := testCtx(t)
	r := startAgent(t, codeDir(t))
	err := r.client.Configure(ctx, &guest.Config{Interface: compute.Executable, Entrypoint: "../run"})
	var pe *guest.ProgramError
	if !errors.As(err, &pe) {
		t.Fatalf("entrypoint outside the code: %v", err)
	}
	halt(t, ctx, r)
}

const asgiApp = `
import json, sys

async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            m = await receive()
            if m["type"] == "lifespan.startup":
                print("app: startup")
                await send({"type": "lifespan.startup.complete"})
            elif m["type"] == "lifespan.shutdown":
                print("app: shutdown")
                await send({"type": "lifespan.shutdown.complete"})
                return
    m = await receive()
    print("app: request", scope["path"], file=sys.stderr)
    if scope["path"] == "/fail":
        raise ValueError("failing on purpose")
    out = {
        "method": scope["method"], "path": scope["path"],
        "query": scope["query_string"].decode(), "body": m["body"].decode(),
        "header": dict(scope["headers"]).get(b"x-test", b"").decode(),
        "host": dict(scope["headers"]).get(b"host", b"").decode(),
    }
    await send({"type": "http.response.start", "status": 202,
                "headers": [(b"content-type", b"application/json"), (b"x-app", b"asgi")]})
    await send({"type": "http.response.body", "body": json.dumps(out).encode(), "more_body": True})
    await send({"type": "http.response.body", "body": b""})
`

func TestASGI(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("python3 is missing (Debian package python3-minimal)")
		}
		t.Skip("python3 is missing (Debian package python3-minimal)")
	}
	ctx := testCtx(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.py"), []byte(asgiApp), 0o644); err != nil {
		t.Fatal(err)
	}
	r := startAgent(t, dir)
	if err := r.client.Configure(ctx, &guest.Config{Interface: compute.ASGI, Entrypoint: "main:app"}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			resp, e, want, ok := r.callNumbered(ctx, t, "PUT", "/a", "q", i)
			if !ok {
				return
			}
			if resp.Status != 202 || e != want || header(resp, "x-app") != "asgi" {
				t.Errorf("call %d: %d %+v %v", i, resp.Status, e, resp.Headers)
			}
		})
	}
	wg.Wait()
	resp, err := r.client.Call(ctx, &compute.Scope{Type: "http", Method: "GET", Path: "/fail"})
	if err != nil || resp.Status != 500 || !strings.Contains(string(resp.Body), "failing on purpose") {
		t.Fatalf("failing app: %v %+v", err, resp)
	}
	r.logs.wait(t, "stdout", "app: startup")
	r.logs.wait(t, "stderr", "app: request /a/1")
	halt(t, ctx, r)
	r.logs.wait(t, "stdout", "app: shutdown")
}
