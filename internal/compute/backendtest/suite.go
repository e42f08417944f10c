// Package backendtest is the conformance suite every compute backend that
// isolates programs (the sandbox, the micro VM) passes: the same programs,
// the same probes of their isolation, the same expectations. A backend's
// test calls Run with a Harness; the programs are sandboxtest's static test
// program (executable) and a small ASGI app.
package backendtest

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/goaleph/goaleph/internal/compute"
)

// Harness is what the suite needs of a backend.
type Harness struct {
	// Backend is the backend under test.
	Backend compute.Backend
	// Spec runs sandboxtest's program (Code holds it as Entrypoint) on
	// a runtime holding sandboxtest.Runtime's files at least, with
	// MemoryMiB, a Timeout of some seconds and GREETING=hello in
	// Variables.
	Spec compute.Spec
	// ASGIRuntime is a runtime with python3 (the Debian runtime of
	// runtimes/), and ASGIVolumes what the sandbox adds to it.
	ASGIRuntime string
	ASGIVolumes []compute.Volume
	// Hostname is the host name a program of hash sees.
	Hostname func(hash string) string
	// Running returns, for a running instance, a function that lists
	// what of it is left on the host (processes, files) once stopped.
	Running func(t testing.TB, in compute.Instance) (left func() []string)
}

// Run runs the suite; setup is called by each test for its harness.
func Run(t *testing.T, setup func(t testing.TB) Harness) {
	for _, c := range []struct {
		name string
		f    func(*testing.T, Harness)
	}{
		{"Executable", testExecutable},
		{"ASGI", testASGI},
		{"NoInternet", testNoInternet},
		{"Internet", testInternet},
		{"HostFilesUnreadable", testHostFiles},
		{"OutOfMemory", testOutOfMemory},
		{"Timeout", testTimeout},
		{"StopLeavesNothing", testStop},
	} {
		t.Run(c.name, func(t *testing.T) { c.f(t, setup(t)) })
	}
}

// Ctx is a test's context: 3 minutes (a micro VM's boot under emulation on
// loaded cores takes up to a minute), cancelled at its end.
func Ctx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// Start prepares, starts and readies spec; the instance is stopped at the
// test's end.
func Start(t testing.TB, b compute.Backend, spec compute.Spec) compute.Instance {
	t.Helper()
	ctx := Ctx(t)
	in, err := b.Prepare(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Stop(context.Background()) })
	if err := in.Start(ctx); err != nil {
		t.Fatalf("start: %v\nlogs: %+v", err, in.Logs())
	}
	if err := in.Ready(ctx); err != nil {
		t.Fatalf("ready: %v\nlogs: %+v", err, in.Logs())
	}
	return in
}

// Get calls GET path?query and returns the body of its 200 answer.
func Get(t testing.TB, in compute.Instance, path, query string) string {
	t.Helper()
	resp, err := in.Call(Ctx(t), &compute.Scope{Type: "http", Method: "GET", Path: path, QueryString: query})
	if err != nil {
		t.Fatalf("GET %s?%s: %v\nlogs: %+v", path, query, err, in.Logs())
	}
	if resp.Status != 200 {
		t.Fatalf("GET %s?%s: status %d: %s", path, query, resp.Status, resp.Body)
	}
	return string(resp.Body)
}

func testExecutable(t *testing.T, h Harness) {
	in := Start(t, h.Backend, h.Spec)
	resp, err := in.Call(Ctx(t), &compute.Scope{Type: "http", Method: "POST", Path: "/echo",
		QueryString: "a=1", Headers: [][2]string{{"x-test", "yes"}}, Body: []byte("ping")})
	if err != nil {
		t.Fatal(err)
	}
	var echo struct {
		Pid      int
		Hostname string
		Method   string
		Query    string
		Body     string
	}
	if err := json.Unmarshal(resp.Body, &echo); err != nil {
		t.Fatalf("%v: %s", err, resp.Body)
	}
	if resp.Status != 200 || echo.Method != "POST" || echo.Query != "a=1" || echo.Body != "ping" {
		t.Errorf("answer %d %+v", resp.Status, echo)
	}
	if ct := header(resp, "content-type"); ct != "application/json" {
		t.Errorf("content-type %q", ct)
	}
	if want := h.Hostname(h.Spec.ProgramHash); echo.Hostname != want {
		t.Errorf("hostname %q, want %q", echo.Hostname, want)
	}
	if echo.Pid <= 1 || echo.Pid > 100 {
		// The agent is PID 1 of the isolation; the program its child.
		t.Errorf("program pid %d", echo.Pid)
	}
	if got := Get(t, in, "/env", "name=GREETING"); got != "hello" {
		t.Errorf("GREETING=%q", got)
	}
	if got := Get(t, in, "/env", "name=HOSTNAME"); got != "" {
		t.Errorf("the host's environment leaks: HOSTNAME=%q", got)
	}
	if got := Get(t, in, "/read", "path=/opt/code/"+h.Spec.Entrypoint); strings.HasPrefix(got, "error") {
		t.Errorf("reading the code: %s", got)
	}
}

func header(r *compute.Response, name string) string {
	for _, kv := range r.Headers {
		if kv[0] == name {
			return kv[1]
		}
	}
	return ""
}

// asgiApp answers with its host name and GREETING.
const asgiApp = `
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain")]})
    import os, socket
    await send({"type": "http.response.body",
                "body": ("hello from %s %s" % (socket.gethostname(), os.environ.get("GREETING"))).encode()})
`

func testASGI(t *testing.T, h Harness) {
	code := t.TempDir()
	if err := os.WriteFile(filepath.Join(code, "main.py"), []byte(asgiApp), 0o644); err != nil {
		t.Fatal(err)
	}
	spec := h.Spec
	spec.Runtime, spec.Volumes = h.ASGIRuntime, h.ASGIVolumes
	spec.Code, spec.Interface, spec.Entrypoint = code, compute.ASGI, "main:app"
	in := Start(t, h.Backend, spec)
	want := "hello from " + h.Hostname(spec.ProgramHash) + " hello"
	for range 2 {
		resp, err := in.Call(Ctx(t), &compute.Scope{Type: "http", Method: "GET", Path: "/"})
		if err != nil {
			t.Fatalf("%v\nlogs: %+v", err, in.Logs())
		}
		if resp.Status != 200 || string(resp.Body) != want || header(resp, "content-type") != "text/plain" {
			t.Errorf("answer %d %v %q, want 200 text/plain %q", resp.Status, resp.Headers, resp.Body, want)
		}
	}
}

func testNoInternet(t *testing.T, h Harness) {
	// A listener on the host's loopback, which the program must not
	// reach, and one on the host's first non-loopback address.
	addrs := []string{listen(t, "127.0.0.1:0"), "1.1.1.1:443", "[::1]:22", "10.0.2.2:22"}
	if ip := hostAddr(); ip != "" {
		addrs = append(addrs, listen(t, net.JoinHostPort(ip, "0")))
	}
	in := Start(t, h.Backend, h.Spec)
	for _, addr := range addrs {
		if got := Get(t, in, "/dial", "addr="+addr); !strings.HasPrefix(got, "error") {
			t.Errorf("dial %s from the program: %s", addr, got)
		}
	}
}

func testInternet(t *testing.T, h Harness) {
	ip := hostAddr()
	if ip == "" {
		t.Fatal("the host has no non-loopback IPv4 address to test the NAT with")
	}
	public := listen(t, net.JoinHostPort(ip, "0"))
	loopback := listen(t, "127.0.0.1:0")
	_, port, _ := net.SplitHostPort(loopback)
	spec := h.Spec
	spec.Internet = true
	in := Start(t, h.Backend, spec)
	// What any machine on the host's network reaches: the host's own
	// public address.
	if got := Get(t, in, "/dial", "addr="+public); got != "connected" {
		t.Errorf("dial %s (the host's address) with internet: %s", public, got)
	}
	// Never the host's loopback: neither as such, nor through the NAT's
	// gateway (10.0.2.2), nor as the host's address on a port bound to
	// loopback.
	for _, addr := range []string{loopback, net.JoinHostPort("10.0.2.2", port), net.JoinHostPort(ip, port)} {
		if got := Get(t, in, "/dial", "addr="+addr); !strings.HasPrefix(got, "error") {
			t.Errorf("dial %s (the host's loopback) with internet: %s", addr, got)
		}
	}
}

// listen listens on addr until the test's end, accepting and closing, and
// returns its address.
func listen(t testing.TB, addr string) string {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return ln.Addr().String()
}

// hostAddr is an IPv4 address of the host's that is not loopback.
func hostAddr() string {
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() {
			return n.IP.String()
		}
	}
	return ""
}

func testHostFiles(t *testing.T, h Harness) {
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("host secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	in := Start(t, h.Backend, h.Spec)
	for _, p := range []string{secret, "/etc/hostname", "/root/.bash_history", "/usr/bin/env", "/../../etc/hostname",
		filepath.Join(h.Spec.Runtime, "etc/passwd"), filepath.Join(h.Spec.Code, h.Spec.Entrypoint)} {
		if got := Get(t, in, "/read", "path="+p); !strings.HasPrefix(got, "error") {
			t.Errorf("read %s in the program: %.80q", p, got)
		}
	}
	// The runtime's own files are there.
	if got := Get(t, in, "/read", "path=/etc/passwd"); !strings.Contains(got, "nobody") {
		t.Errorf("the runtime's /etc/passwd: %q", got)
	}
}

func testOutOfMemory(t *testing.T, h Harness) {
	spec := h.Spec
	spec.MemoryMiB = 64
	other := Start(t, h.Backend, spec)
	in := Start(t, h.Backend, spec)

	_, err := in.Call(Ctx(t), &compute.Scope{Type: "http", Method: "GET", Path: "/alloc", QueryString: "mib=256"})
	if !errors.Is(err, compute.ErrExited) {
		t.Fatalf("allocating 256 MiB of 64: %v, want ErrExited\nlogs: %+v", err, in.Logs())
	}
	select {
	case <-in.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("the instance is not done after its program died")
	}
	if _, err := in.Call(Ctx(t), &compute.Scope{Type: "http", Path: "/echo"}); !errors.Is(err, compute.ErrExited) {
		t.Errorf("call after exit: %v, want ErrExited", err)
	}
	// The other instance, and new ones, still serve.
	Get(t, other, "/echo", "")
	Get(t, other, "/alloc", "mib=16")
	Get(t, Start(t, h.Backend, spec), "/echo", "")
}

func testTimeout(t *testing.T, h Harness) {
	spec := h.Spec
	spec.Timeout = 500 * time.Millisecond
	in := Start(t, h.Backend, spec)
	Get(t, in, "/echo", "") // started
	t0 := time.Now()
	_, err := in.Call(Ctx(t), &compute.Scope{Type: "http", Method: "GET", Path: "/sleep", QueryString: "d=20s"})
	if !errors.Is(err, compute.ErrTimeout) {
		t.Fatalf("sleeping 20 s with a timeout of 500 ms: %v, want ErrTimeout", err)
	}
	if d := time.Since(t0); d > 10*time.Second {
		t.Errorf("timed out after %v", d)
	}
	Get(t, in, "/echo", "") // still serving
}

func testStop(t *testing.T, h Harness) {
	in := Start(t, h.Backend, h.Spec)
	Get(t, in, "/echo", "")
	left := h.Running(t, in)
	if err := in.Stop(Ctx(t)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-in.Done():
	default:
		t.Fatal("Stop returned before the instance was done")
	}
	if l := left(); len(l) > 0 {
		t.Errorf("left after Stop: %v", l)
	}
	if err := in.Stop(Ctx(t)); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	if _, err := in.Call(Ctx(t), &compute.Scope{Type: "http", Path: "/echo"}); !errors.Is(err, compute.ErrExited) {
		t.Errorf("call after Stop: %v, want ErrExited", err)
	}
}
