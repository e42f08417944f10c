package wasm

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goaleph/goaleph/internal/compute"
	"github.com/goaleph/goaleph/internal/compute/wasm/wasmtest"
)

// startReactor starts the reactor test program; it checks that the module
// is run as a reactor.
func startReactor(t testing.TB, spec compute.Spec) compute.Instance {
	t.Helper()
	spec.Code = reactorProg(t)
	in := start(t, sharedBackend(t), spec)
	if in.(*instance).pool == nil {
		t.Fatal("the reactor module is run as a command")
	}
	return in
}

// count calls /count and returns the count the instance answered.
func count(t *testing.T, in compute.Instance, query string) int {
	t.Helper()
	resp, err := in.Call(context.Background(), get("/count", query))
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if _, err := fmt.Sscanf(string(resp.Body), "count %d", &n); err != nil {
		t.Fatalf("%q: %v", resp.Body, err)
	}
	return n
}

// echoScope is a request with everything the echo shows.
var echoScope = &compute.Scope{
	Type: "http", Method: "POST", Path: "/some/pa th", QueryString: "a=1&b=%20x",
	Headers: [][2]string{
		{"content-type", "text/plain"}, {"x-thing", "one"}, {"x-thing", "two"}, {"host", "example.org"},
		{"content-length", "999"}, {"aleph-scope-type", "spoofed"}, {"x-bad", "a\r\nInjected: 1"},
	},
	Body: []byte("the body"),
}

func TestReactorEcho(t *testing.T) {
	in := startReactor(t, compute.Spec{ProgramHash: "abc", Timeout: 10 * time.Second,
		Variables: map[string]string{"GREETING": "hello", "GATEWAY_INTERFACE": "lie"}})
	resp, err := in.Call(context.Background(), echoScope)
	e := echoOf(t, resp, err)
	if e.Method != "POST" || e.Path != "/some/pa th" || e.Query != "a=1&b=%20x" || e.Body != "the body" {
		t.Errorf("request %s %q ? %q, body %q", e.Method, e.Path, e.Query, e.Body)
	}
	for k, want := range map[string]string{
		"CONTENT_LENGTH": "8", "CONTENT_TYPE": "text/plain", "HTTP_X_THING": "one, two",
		"HTTP_ALEPH_SCOPE_TYPE": "http", "GREETING": "hello", "ALEPH_PROGRAM_HASH": "abc",
		"SERVER_PROTOCOL": "HTTP/1.1",
	} {
		if got := e.Env[k]; got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	for _, k := range []string{"HTTP_X_BAD", "HTTP_INJECTED", "GATEWAY_INTERFACE"} {
		if v, ok := e.Env[k]; ok {
			t.Errorf("%s = %q, want absent", k, v)
		}
	}

	resp, err = in.Call(context.Background(), get("/status", "code=404"))
	if err != nil {
		t.Fatal(err)
	}
	// wasmguest writes the headers sorted, with a Content-Type as
	// net/http/cgi does.
	wantH := [][2]string{{"content-type", "text/plain; charset=utf-8"}, {"location", "/elsewhere"}, {"x-multi", "a"}, {"x-multi", "b"}}
	if resp.Status != 404 || fmt.Sprint(resp.Headers) != fmt.Sprint(wantH) {
		t.Errorf("got %d %q, want 404 %q", resp.Status, resp.Headers, wantH)
	}
}

// TestReactorSameAsCommand serves the same handler through wasmguest in a
// command (CGI) and in a reactor: the answers are the same.
func TestReactorSameAsCommand(t *testing.T) {
	spec := compute.Spec{ProgramHash: "abc", Timeout: 20 * time.Second}
	reactor := startReactor(t, spec)
	spec.Code = guestCommand(t)
	command := start(t, sharedBackend(t), spec)
	if command.(*instance).pool != nil {
		t.Fatal("the command module is run as a reactor")
	}
	for _, s := range []*compute.Scope{echoScope, get("/status", "code=201"), get("/count", ""),
		{Type: "aleph.message", Method: "POST", Path: "/", Body: []byte(`{"item_hash":"x"}`),
			Headers: [][2]string{{"content-type", "application/json"}}}} {
		r, err := reactor.Call(context.Background(), s)
		if err != nil {
			t.Fatal(err)
		}
		c, err := command.Call(context.Background(), s)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != c.Status || fmt.Sprint(r.Headers) != fmt.Sprint(c.Headers) {
			t.Errorf("%s: reactor %d %q, command %d %q", s.Path, r.Status, r.Headers, c.Status, c.Headers)
		}
		if s.Path != "/some/pa th" && s.Path != "/" {
			if !bytes.Equal(r.Body, c.Body) {
				t.Errorf("%s: reactor %q, command %q", s.Path, r.Body, c.Body)
			}
			continue
		}
		// The echo differs in the environment (a command's has the CGI
		// variables), not in the request.
		var re, ce wasmtest.Echo
		if json.Unmarshal(r.Body, &re) != nil || json.Unmarshal(c.Body, &ce) != nil {
			t.Fatalf("%q %q", r.Body, c.Body)
		}
		// A value with a line break (impossible in a real request) is
		// dropped for a reactor, passed as is in a CGI variable.
		delete(ce.Headers, "HTTP_X_BAD")
		if re.Method != ce.Method || re.Path != ce.Path || re.Query != ce.Query || re.Body != ce.Body ||
			fmt.Sprint(re.Headers) != fmt.Sprint(ce.Headers) {
			t.Errorf("%s: reactor saw %+v, command %+v", s.Path, re, ce)
		}
		if want := s.Type; re.Headers["HTTP_ALEPH_SCOPE_TYPE"] != want {
			t.Errorf("%s: scope type %q, want %q", s.Path, re.Headers["HTTP_ALEPH_SCOPE_TYPE"], want)
		}
	}
}

// TestReactorReuse checks that calls share one initialised instance:
// its state persists.
func TestReactorReuse(t *testing.T) {
	in := startReactor(t, compute.Spec{Timeout: 10 * time.Second})
	for i := 1; i <= 3; i++ {
		if n := count(t, in, ""); n != i {
			t.Fatalf("call %d: count %d, want %d", i, n, i)
		}
	}
}

// TestReactorPool makes more concurrent calls than the pool has instances:
// they are served by as many instances as the program has vCPUs.
func TestReactorPool(t *testing.T) {
	in := startReactor(t, compute.Spec{VCPUs: 2, Timeout: 20 * time.Second})
	var wg sync.WaitGroup
	counts := make([]int, 5)
	for i := range counts {
		wg.Go(func() {
			resp, err := in.Call(context.Background(), get("/count", "ms=300"))
			if err != nil {
				t.Error(err)
				return
			}
			fmt.Sscanf(string(resp.Body), "count %d", &counts[i])
		})
	}
	wg.Wait()
	sort.Ints(counts)
	// Two instances, each counting its calls: 1, 1, 2, 2, 3 (or 1, 1, 2,
	// 3, 4 if one was slow to start). Never three 1s (a third instance).
	if counts[0] != 1 || counts[1] != 1 || counts[2] == 1 || counts[4] > 4 {
		t.Errorf("counts %v, want two instances sharing 5 calls", counts)
	}
	if n := len(in.(*instance).pool.idle); n != 2 {
		t.Errorf("%d idle instances, want 2", n)
	}
}

func TestReactorTrap(t *testing.T) {
	in := startReactor(t, compute.Spec{Timeout: 10 * time.Second})
	count(t, in, "")
	if n := count(t, in, ""); n != 2 {
		t.Fatalf("count %d before the trap, want 2", n)
	}
	_, err := in.Call(context.Background(), get("/trap", ""))
	if !errors.Is(err, compute.ErrExited) || !strings.Contains(err.Error(), "out of bounds") {
		t.Fatalf("%v, want ErrExited with an out of bounds access", err)
	}
	if n := count(t, in, ""); n != 1 {
		t.Fatalf("count %d after the trap, want 1 (a fresh instance)", n)
	}
	// An exit (a Go panic, os.Exit) too.
	_, err = in.Call(context.Background(), get("/exit", "code=3"))
	if !errors.Is(err, compute.ErrExited) || !strings.Contains(err.Error(), "code 3") || !strings.Contains(err.Error(), "exiting 3") {
		t.Fatalf("%v, want ErrExited with the code and stderr", err)
	}
	if n := count(t, in, ""); n != 1 {
		t.Fatalf("count %d after the exit, want 1", n)
	}
}

func TestReactorTimeout(t *testing.T) {
	// Long enough that a fresh module instance (made after each timeout)
	// starts within it under -race on two loaded cores: 300 ms was not.
	const timeout = 2 * time.Second
	in := startReactor(t, compute.Spec{Timeout: timeout})
	for _, path := range []string{"/loop", "/sleep"} {
		if n0, n := count(t, in, ""), count(t, in, ""); n != n0+1 {
			t.Fatalf("%s: counts %d then %d before, want one instance", path, n0, n)
		}
		t0 := time.Now()
		_, err := in.Call(context.Background(), get(path, ""))
		if !errors.Is(err, compute.ErrTimeout) {
			t.Errorf("%s: %v, want ErrTimeout", path, err)
		}
		if took := time.Since(t0); took > timeout+2*time.Second {
			t.Errorf("%s: returned after %s, timeout %s", path, took, timeout)
		}
		if n := count(t, in, ""); n != 1 {
			t.Fatalf("%s: count %d after the timeout, want 1 (a fresh instance)", path, n)
		}
	}
	// A sleep shorter than the timeout is served: the export may block.
	if n := count(t, in, "ms=50"); n != 2 {
		t.Fatalf("count %d, want 2", n)
	}
}

func TestReactorMemoryLimit(t *testing.T) {
	in := startReactor(t, compute.Spec{MemoryMiB: 64, Timeout: 20 * time.Second})
	for range 3 { // kept in one instance, the memory is reused
		resp, err := in.Call(context.Background(), get("/alloc", "mib=16"))
		if err != nil || !strings.Contains(string(resp.Body), "allocated 16 MiB") {
			t.Fatalf("within the limit: %v", err)
		}
	}
	_, err := in.Call(context.Background(), get("/alloc", "mib=100"))
	if !errors.Is(err, compute.ErrExited) || !strings.Contains(err.Error(), "out of memory") {
		t.Fatalf("beyond the limit: %v, want ErrExited with out of memory", err)
	}
	if resp, err := in.Call(context.Background(), get("/alloc", "mib=16")); err != nil || resp.Status != 200 {
		t.Fatalf("after: %v", err)
	}
}

func TestReactorLogs(t *testing.T) {
	in := startReactor(t, compute.Spec{Timeout: 10 * time.Second})
	if _, err := in.Call(context.Background(), get("/log", "n=3")); err != nil {
		t.Fatal(err)
	}
	logs := in.Logs()
	if len(logs) < 3 || logs[len(logs)-1].Text != "line 2" || logs[len(logs)-1].Stream != "stderr" {
		t.Fatalf("logs %+v", logs)
	}
}

func TestReactorStop(t *testing.T) {
	ctx := context.Background()
	in := startReactor(t, compute.Spec{Timeout: time.Minute})
	count(t, in, "")
	stopDuringCall(t, in)
	if n := len(in.(*instance).pool.idle); n != 0 {
		t.Errorf("%d idle instances after Stop", n)
	}
	if _, err := in.Call(ctx, get("/count", "")); !errors.Is(err, compute.ErrExited) {
		t.Errorf("call after Stop: %v", err)
	}
}

func TestWireRequest(t *testing.T) {
	b, err := wireRequest(echoScope)
	if err != nil {
		t.Fatal(err)
	}
	r, err := http.ReadRequest(bufioReader(b))
	if err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	if r.Method != "POST" || r.URL.Path != "/some/pa th" || r.URL.RawQuery != "a=1&b=%20x" || r.Host != "example.org" ||
		r.ContentLength != 8 || r.Header.Get("Aleph-Scope-Type") != "http" || r.Header.Get("Injected") != "" ||
		r.Header.Values("X-Thing")[1] != "two" {
		t.Errorf("read back %+v", r)
	}
	for _, s := range []*compute.Scope{{Method: "GE T", Path: "/"}, {Method: "", Path: "/"}} {
		if _, err := wireRequest(s); err == nil {
			t.Errorf("method %q accepted", s.Method)
		}
	}
	b, _ = wireRequest(&compute.Scope{Type: "http", Method: "GET", Path: "/", QueryString: "a=b c#d\x01"})
	if r, err := http.ReadRequest(bufioReader(b)); err != nil || r.URL.Query().Get("a") != "b c#d\x01" {
		t.Errorf("query: %v %q", err, b)
	}
}

func bufioReader(b []byte) *bufio.Reader { return bufio.NewReader(bytes.NewReader(b)) }
