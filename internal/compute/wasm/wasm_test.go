package wasm

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goaleph/goaleph/internal/compute"
	"github.com/goaleph/goaleph/internal/compute/wasm/wasmtest"
)

// built returns a function building a test module once per test binary
// (and once per change of its sources, thanks to wasmtest's cache).
func built(build func(context.Context) (string, error)) func(testing.TB) string {
	once := sync.OnceValues(func() (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		return build(ctx)
	})
	return func(t testing.TB) string {
		t.Helper()
		path, err := once()
		if err != nil {
			t.Fatal(err)
		}
		return path
	}
}

// The test program as a command (prog), as a reactor (reactorProg), and
// as a command serving the reactor's handler through wasmguest's CGI mode
// (guestCommand).
var (
	prog         = built(wasmtest.Build)
	reactorProg  = built(wasmtest.BuildReactor)
	guestCommand = built(wasmtest.BuildGuestCommand)
)

// echoOf checks that a call of the wasmtest program succeeded with its
// echo answer (status 200, its two headers) and returns the echo.
func echoOf(t *testing.T, resp *compute.Response, err error) wasmtest.Echo {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != 200 {
		t.Errorf("status %d", resp.Status)
	}
	want := [][2]string{{"content-type", "application/json"}, {"x-echo", "1"}}
	if len(resp.Headers) != 2 || resp.Headers[0] != want[0] || resp.Headers[1] != want[1] {
		t.Errorf("headers %q, want %q", resp.Headers, want)
	}
	var e wasmtest.Echo
	if err := json.Unmarshal(resp.Body, &e); err != nil {
		t.Fatalf("%v: %q", err, resp.Body)
	}
	return e
}

// stopDuringCall stops in while a call of the test program's /loop runs,
// and checks that the call then ends with ErrExited.
func stopDuringCall(t *testing.T, in compute.Instance) {
	t.Helper()
	ctx := context.Background()
	errc := make(chan error, 1)
	go func() {
		_, err := in.Call(ctx, get("/loop", ""))
		errc <- err
	}()
	time.Sleep(100 * time.Millisecond) // let the call start
	if err := in.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, compute.ErrExited) {
			t.Errorf("call in flight: %v, want ErrExited", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("call in flight still running after Stop")
	}
}

// compileCacheDir keeps compiled modules between test runs: compiling
// the Go test program takes seconds under the race detector.
func compileCacheDir(t testing.TB) string {
	dir, err := os.UserCacheDir()
	if err != nil {
		return t.TempDir()
	}
	return filepath.Join(dir, "goaleph", "wasm-test-compiled")
}

var (
	backendOnce sync.Once
	shared      *Backend
)

// sharedBackend is one backend for the tests that do not look at
// compilation, so that they compile the test program once.
func sharedBackend(t testing.TB) *Backend {
	t.Helper()
	backendOnce.Do(func() {
		b, err := New(Config{CacheDir: compileCacheDir(t), LogLines: 50})
		if err != nil {
			t.Fatal(err)
		}
		shared = b
	})
	return shared
}

func start(t testing.TB, b *Backend, spec compute.Spec) compute.Instance {
	t.Helper()
	ctx := context.Background()
	if spec.Code == "" {
		spec.Code = prog(t)
	}
	in, err := b.Prepare(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Stop(context.Background()) })
	if err := in.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := in.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	return in
}

func get(path, query string) *compute.Scope {
	return &compute.Scope{Type: "http", Method: "GET", Path: path, QueryString: query}
}

func TestEcho(t *testing.T) {
	in := start(t, sharedBackend(t), compute.Spec{
		ProgramHash: "abc", Interface: compute.WASM, Timeout: 10 * time.Second,
		Variables: map[string]string{"GREETING": "hello", "PATH_INFO": "/lie"},
	})
	resp, err := in.Call(context.Background(), &compute.Scope{
		Type: "http", Method: "POST", Path: "/some/path", QueryString: "a=1&b=2",
		Headers: [][2]string{
			{"content-type", "text/plain"}, {"x-thing", "one"}, {"x-thing", "two"},
			{"content-length", "999"}, {"proxy", "evil"}, {"cookie", "a=1"}, {"cookie", "b=2"},
		},
		Body: []byte("the body"),
	})
	e := echoOf(t, resp, err)
	for k, want := range map[string]string{
		"REQUEST_METHOD": "POST", "PATH_INFO": "/some/path", "QUERY_STRING": "a=1&b=2",
		"CONTENT_LENGTH": "8", "CONTENT_TYPE": "text/plain", "SERVER_PROTOCOL": "HTTP/1.1",
		"HTTP_X_THING": "one, two", "HTTP_COOKIE": "a=1; b=2", "GREETING": "hello",
		"ALEPH_SCOPE_TYPE": "http", "ALEPH_PROGRAM_HASH": "abc",
	} {
		if got := e.Env[k]; got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	for _, k := range []string{"HTTP_PROXY", "HTTP_CONTENT_LENGTH", "HTTP_CONTENT_TYPE"} {
		if v, ok := e.Env[k]; ok {
			t.Errorf("%s = %q, want absent", k, v)
		}
	}
	if e.Body != "the body" {
		t.Errorf("body %q", e.Body)
	}
}

func TestStatusAndRepeatedHeaders(t *testing.T) {
	in := start(t, sharedBackend(t), compute.Spec{Timeout: 10 * time.Second})
	resp, err := in.Call(context.Background(), get("/status", "code=404"))
	if err != nil {
		t.Fatal(err)
	}
	want := [][2]string{{"location", "/elsewhere"}, {"x-multi", "a"}, {"x-multi", "b"}}
	if resp.Status != 404 || len(resp.Headers) != 3 || resp.Headers[0] != want[0] || resp.Headers[2] != want[2] {
		t.Errorf("got %d %q, want 404 %q", resp.Status, resp.Headers, want)
	}
}

func TestTimeout(t *testing.T) {
	// Long enough that a fresh module instance (made after each timeout)
	// starts within it under -race on two loaded cores: 300 ms was not.
	const timeout = 2 * time.Second
	in := start(t, sharedBackend(t), compute.Spec{Timeout: timeout})
	for _, path := range []string{"/loop", "/sleep"} {
		t0 := time.Now()
		_, err := in.Call(context.Background(), get(path, ""))
		took := time.Since(t0)
		if !errors.Is(err, compute.ErrTimeout) {
			t.Errorf("%s: %v, want ErrTimeout", path, err)
		}
		if took > timeout+2*time.Second {
			t.Errorf("%s: returned after %s, timeout %s", path, took, timeout)
		}
	}
	// The instance still serves.
	if _, err := in.Call(context.Background(), get("/", "")); err != nil {
		t.Fatal(err)
	}
}

func TestCallerCancels(t *testing.T) {
	in := start(t, sharedBackend(t), compute.Spec{Timeout: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := in.Call(ctx, get("/loop", ""))
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, compute.ErrTimeout) {
		t.Fatalf("%v, want the caller's context error", err)
	}
}

func TestMemoryLimit(t *testing.T) {
	in := start(t, sharedBackend(t), compute.Spec{MemoryMiB: 64, Timeout: 20 * time.Second})
	resp, err := in.Call(context.Background(), get("/alloc", "mib=16"))
	if err != nil || !strings.Contains(string(resp.Body), "allocated 16 MiB") {
		t.Fatalf("within the limit: %v", err)
	}
	_, err = in.Call(context.Background(), get("/alloc", "mib=100"))
	if !errors.Is(err, compute.ErrExited) || !strings.Contains(err.Error(), "out of memory") {
		t.Fatalf("beyond the limit: %v, want ErrExited with out of memory", err)
	}
	// The instance still serves; a fresh module instance has all its memory.
	if resp, err := in.Call(context.Background(), get("/alloc", "mib=16")); err != nil || resp.Status != 200 {
		t.Fatalf("after: %v", err)
	}
}

func TestMalformedResponse(t *testing.T) {
	in := start(t, sharedBackend(t), compute.Spec{Timeout: 10 * time.Second})
	_, err := in.Call(context.Background(), get("/malformed", ""))
	if !errors.Is(err, ErrBadResponse) {
		t.Fatalf("%v, want ErrBadResponse", err)
	}
}

func TestExitCode(t *testing.T) {
	in := start(t, sharedBackend(t), compute.Spec{Timeout: 10 * time.Second})
	_, err := in.Call(context.Background(), get("/exit", "code=3"))
	if !errors.Is(err, compute.ErrExited) || !strings.Contains(err.Error(), "code 3") || !strings.Contains(err.Error(), "exiting 3") {
		t.Fatalf("%v, want ErrExited with the code and stderr", err)
	}
}

func TestFiles(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "f.txt"), []byte("in the volume"), 0o644); err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("host secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	bare := start(t, sharedBackend(t), compute.Spec{Timeout: 10 * time.Second})
	for _, f := range []string{secret, "/etc/passwd", filepath.Join(dir, "f.txt")} {
		if _, err := bare.Call(ctx, get("/read", "file="+f)); !errors.Is(err, compute.ErrExited) {
			t.Errorf("no volumes, read %s: %v, want ErrExited", f, err)
		}
	}

	vol := start(t, sharedBackend(t), compute.Spec{Timeout: 10 * time.Second,
		Volumes: []compute.Volume{{Mount: "/data", Source: dir, ReadOnly: true}}})
	resp, err := vol.Call(ctx, get("/read", "file=/data/f.txt"))
	if err != nil || string(resp.Body) != "in the volume" {
		t.Fatalf("read in the volume: %v %+v", err, resp)
	}
	for _, f := range []string{secret, "/data/../../" + secret, "/etc/passwd"} {
		if _, err := vol.Call(ctx, get("/read", "file="+f)); !errors.Is(err, compute.ErrExited) {
			t.Errorf("read %s outside the volume: %v, want ErrExited", f, err)
		}
	}
}

func TestLogs(t *testing.T) {
	b, err := New(Config{CacheDir: compileCacheDir(t), LogLines: 10})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close(context.Background())
	in := start(t, b, compute.Spec{Timeout: 10 * time.Second})
	if _, err := in.Call(context.Background(), get("/log", "n=25")); err != nil {
		t.Fatal(err)
	}
	logs := in.Logs()
	if len(logs) != 10 || logs[0].Text != "line 15" || logs[9].Text != "line 24" || logs[9].Stream != "stderr" {
		t.Fatalf("logs %+v", logs)
	}
}

func TestConcurrentCalls(t *testing.T) {
	// Eight module instances at once under -race: on two cores shared with
	// other test packages a call took over 20 s, so the limit is generous
	// (the test is about isolation, not speed).
	in := start(t, sharedBackend(t), compute.Spec{Timeout: 2 * time.Minute, MemoryMiB: 64})
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 8 {
		wg.Go(func() {
			path := "/"
			if i%4 == 3 {
				path = "/alloc" // fails beside the others
			}
			resp, err := in.Call(context.Background(), get(path, "mib=200&i="+string(rune('a'+i))))
			if path == "/" {
				if err != nil {
					errs <- err
					return
				}
				var e wasmtest.Echo
				if err := json.Unmarshal(resp.Body, &e); err != nil || e.Query != "mib=200&i="+string(rune('a'+i)) {
					errs <- errors.New("echo of another call: " + string(resp.Body))
				}
			} else if !errors.Is(err, compute.ErrExited) {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestStop(t *testing.T) {
	ctx := context.Background()
	in := start(t, sharedBackend(t), compute.Spec{Timeout: time.Minute})
	stopDuringCall(t, in)
	select {
	case <-in.Done():
	default:
		t.Fatal("Done not closed after Stop")
	}
	if _, err := in.Call(ctx, get("/", "")); !errors.Is(err, compute.ErrExited) {
		t.Errorf("call after Stop: %v", err)
	}
	if err := in.Stop(ctx); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

func TestPrepareRejects(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	b := sharedBackend(t)
	for name, spec := range map[string]compute.Spec{
		"not wasm":  {Code: write("text.wasm", []byte("#!/bin/sh\necho hi\n"))},
		"truncated": {Code: write("trunc.wasm", []byte("\x00asm\x01\x00\x00\x00\x01\x05"))},
		// A module importing env.f, exporting nothing.
		"foreign import": {Code: write("import.wasm", []byte("\x00asm\x01\x00\x00\x00"+
			"\x01\x04\x01\x60\x00\x00"+ // type section: () -> ()
			"\x02\x09\x01\x03env\x01f\x00\x00"))}, // import env.f
		// A valid empty module: no _start.
		"no start":        {Code: write("empty.wasm", []byte("\x00asm\x01\x00\x00\x00"))},
		"missing":         {Code: filepath.Join(dir, "absent.wasm")},
		"interface":       {Code: prog(t), Interface: compute.ASGI},
		"volume not dir":  {Code: prog(t), Volumes: []compute.Volume{{Mount: "/x", Source: write("img", nil)}}},
		"relative mount":  {Code: prog(t), Volumes: []compute.Volume{{Mount: "x", Source: dir}}},
		"bad variable":    {Code: prog(t), Variables: map[string]string{"A=B": "c"}},
		"memory too low?": {Code: prog(t), MemoryMiB: -1}, // the default applies: accepted
	} {
		in, err := b.Prepare(context.Background(), spec)
		if name == "memory too low?" {
			if err != nil {
				t.Errorf("%s: %v", name, err)
			} else {
				in.Stop(context.Background())
			}
			continue
		}
		switch {
		case err == nil:
			in.Stop(context.Background())
			t.Errorf("%s: accepted", name)
		case errors.Is(err, compute.ErrInvalidSpec) != (name != "missing"):
			// Only the missing file is the node's fault.
			t.Errorf("%s: %v: the program's fault (ErrInvalidSpec) %v", name, err, name == "missing")
		case name != "missing" && strings.Contains(err.Error(), dir):
			t.Errorf("%s: %v names a host path", name, err)
		default:
			t.Logf("%s: %v", name, err)
		}
	}
}

func TestMemoryBelowModuleMinimum(t *testing.T) {
	// The Go program asks for more initial memory than 1 MiB: Prepare
	// refuses it.
	_, err := sharedBackend(t).Prepare(context.Background(), compute.Spec{Code: prog(t), MemoryMiB: 1})
	if err == nil || !strings.Contains(err.Error(), "over limit") {
		t.Fatalf("%v, want a memory error", err)
	}
	t.Log(err)
}

// TestCompileOnce checks that a module is compiled once per backend: the
// second Prepare, after the first instance stopped, finds it compiled, and
// so do concurrent Prepares.
func TestCompileOnce(t *testing.T) {
	b, err := New(Config{CacheDir: compileCacheDir(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close(context.Background())
	ctx := context.Background()
	spec := compute.Spec{Code: prog(t), Timeout: 10 * time.Second}
	in, err := b.Prepare(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	in.Stop(ctx)
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			in, err := b.Prepare(ctx, spec)
			if err != nil {
				t.Error(err)
				return
			}
			defer in.Stop(ctx)
			if err := in.Start(ctx); err != nil {
				t.Error(err)
			}
			if _, err := in.Call(ctx, get("/", "")); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := b.compilations.Load(); n != 1 {
		t.Errorf("%d compilations, want 1", n)
	}
}

// BenchmarkCall is a warm call of the echo program.
func BenchmarkCall(b *testing.B) {
	in := start(b, sharedBackend(b), compute.Spec{Timeout: 10 * time.Second})
	s := &compute.Scope{Type: "http", Method: "POST", Path: "/echo", Body: []byte(`{"a":1}`)}
	b.ResetTimer()
	for b.Loop() {
		if _, err := in.Call(context.Background(), s); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPrepare is a cold start of a module compiled before.
func BenchmarkPrepare(b *testing.B) {
	bk := sharedBackend(b)
	spec := compute.Spec{Code: prog(b), Timeout: 10 * time.Second}
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		in, err := bk.Prepare(ctx, spec)
		if err != nil {
			b.Fatal(err)
		}
		in.Stop(ctx)
	}
}

// TestRewrittenModule: a known file is not read again, but a file
// rewritten in place is: the next Prepare runs the new module.
func TestRewrittenModule(t *testing.T) {
	b, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close(context.Background())
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "main.wasm")
	answer := func() string {
		t.Helper()
		in, err := b.Prepare(ctx, compute.Spec{Code: path, Timeout: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		defer in.Stop(ctx)
		if err := in.Start(ctx); err != nil {
			t.Fatal(err)
		}
		r, err := in.Call(ctx, get("/", ""))
		if err != nil {
			t.Fatal(err)
		}
		return string(r.Body)
	}
	for i, text := range []string{"one", "two", "three"} {
		if err := os.WriteFile(path, wasmtest.CGIModule(text, false), 0o644); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if got := answer(); got != text {
				t.Fatalf("module %d: answered %q, want %q", i, got, text)
			}
		}
		if n := b.compilations.Load(); n != int64(i+1) {
			t.Errorf("after module %d: %d compilations, want %d", i, n, i+1)
		}
	}
	b.mu.Lock()
	n := len(b.sums)
	b.mu.Unlock()
	if n != 3 {
		t.Errorf("%d file sums remembered, want 3", n)
	}
}
