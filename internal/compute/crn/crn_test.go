package crn

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goaleph/goaleph/internal/compute/sandbox/sandboxtest"
)

// TestTinyModule runs the hand-written module through the wasm backend
// alone, so a broken generator fails here rather than in every test.
func TestTinyModule(t *testing.T) {
	k := startCore(t)
	code := k.store(t, cgiModule("hello", false), "")
	prog := k.program(t, code, programOpts{})
	n := startCRN(t, k, crnOpts{})
	resp, body := n.get(t, "/vm/"+prog+"/")
	if resp.StatusCode != 200 || body != "hello" {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
	if resp.Header.Get("Vary") != "" || resp.Header.Get("X-Program") != "test" {
		t.Errorf("headers %v", resp.Header)
	}
}

// TestProgram deploys the wasmtest program on a real core node and calls
// it through the compute node: the answer, the Aleph headers, host-based
// routing, the timeout, and the errors of bad requests.
func TestProgram(t *testing.T) {
	data := wasmtestProgram(t)
	k := startCore(t)
	code := k.store(t, data, "")
	// 3 s: long enough for a call under -race on two loaded cores (1 s was
	// not), short enough for the timeout check below.
	prog := k.program(t, code, programOpts{seconds: 3, memory: 128, variables: map[string]string{"GREETING": "hi"}})
	label, err := HostLabel(prog)
	if err != nil {
		t.Fatal(err)
	}
	n := startCRN(t, k, crnOpts{resolver: fakeResolver{"_aleph-id.app.example.org": {prog}}})

	var echo struct {
		Method, Path, Query, Body string
		Env                       map[string]string
	}
	check := func(resp *http.Response, body, path string) {
		t.Helper()
		if resp.StatusCode != 200 {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
		if err := json.Unmarshal([]byte(body), &echo); err != nil {
			t.Fatalf("%v: %s", err, body)
		}
		if echo.Method != "POST" || echo.Path != path || echo.Query != "x=1" || echo.Body != "ping" || echo.Env["GREETING"] != "hi" {
			t.Errorf("echo %+v", echo)
		}
		h := resp.Header
		if h.Get("Aleph-Program-ItemHash") != prog || h.Get("Aleph-Program-Code-Ref") != code ||
			!strings.HasPrefix(h.Get("Server"), "aleph-vm/goaleph-") {
			t.Errorf("headers %v", h)
		}
	}
	resp, body := n.do(t, "POST", "/vm/"+prog+"/hello/world?x=1", "", strings.NewReader("ping"))
	check(resp, body, "/hello/world")
	resp, body = n.do(t, "POST", "/vm/"+prog+"?x=1", "", strings.NewReader("ping"))
	check(resp, body, "/")
	resp, body = n.do(t, "POST", "/by-host?x=1", label+".crn.test", strings.NewReader("ping"))
	check(resp, body, "/by-host")
	resp, body = n.do(t, "POST", "/by-txt?x=1", "app.example.org", strings.NewReader("ping"))
	check(resp, body, "/by-txt")

	start := time.Now()
	resp, body = n.get(t, "/vm/"+prog+"/sleep")
	wantError(t, resp, body, http.StatusGatewayTimeout, "Program did not respond within resource.seconds")
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("the timeout took %s", d)
	}
	resp, body = n.get(t, "/vm/"+prog+"/exit?code=3")
	wantError(t, resp, body, http.StatusBadGateway, "code 3")

	resp, body = n.get(t, "/vm/not-a-hash/")
	wantError(t, resp, body, http.StatusBadRequest, "not an item hash")
	resp, body = n.get(t, "/vm/"+strings.Repeat("ab", 32)+"/")
	wantError(t, resp, body, http.StatusNotFound, "not found")
	resp, body = n.get(t, "/vm/"+code+"/")
	wantError(t, resp, body, http.StatusBadRequest, "not a PROGRAM")
	resp, body = n.do(t, "GET", "/", "nowhere.example.org", nil)
	wantError(t, resp, body, http.StatusNotFound, "_aleph-id")

	// About and status routes.
	resp, _ = n.get(t, "/about/login")
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("/about/login: %d", resp.StatusCode)
	}
	resp, body = n.get(t, "/about/executions/list")
	var list map[string]struct {
		VMType string `json:"vm_type"`
	}
	if json.Unmarshal([]byte(body), &list) != nil || list[prog].VMType != "microvm" || len(list) != 1 {
		t.Errorf("executions: %s", body)
	}
	resp, body = n.get(t, "/about/usage/system")
	var usage struct {
		CPU struct {
			Count int `json:"count"`
		} `json:"cpu"`
		Mem struct {
			Total int64 `json:"total_kB"`
		} `json:"mem"`
		Active bool `json:"active"`
	}
	if json.Unmarshal([]byte(body), &usage) != nil || usage.CPU.Count < 1 || usage.Mem.Total <= 0 || !usage.Active {
		t.Errorf("usage: %s", body)
	}
	resp, _ = n.get(t, "/status/check/fastapi")
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("fastapi check: %d", resp.StatusCode)
	}
	resp, _ = n.get(t, "/status/check/version?reference=0.0.1")
	if resp.StatusCode != 200 {
		t.Errorf("version check: %d", resp.StatusCode)
	}
	resp, body = n.get(t, "/metrics")
	for _, want := range []string{`aleph_crn_requests_total{code="504"} 1`, `aleph_crn_requests_total{code="200"} 4`,
		"aleph_crn_executions 1", `aleph_crn_prepare_seconds_count{backend="wasm"} 1`, "aleph_crn_cold_start_seconds_count 1"} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

type fakeResolver map[string][]string

func (f fakeResolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	if v, ok := f[name]; ok {
		return v, nil
	}
	return nil, fmt.Errorf("no TXT record for %s", name)
}

// TestUpdate amends the code of a program whose code ref has use_latest:
// the next requests see the new code, without a restart.
func TestUpdate(t *testing.T) {
	k := startCore(t)
	v1 := k.store(t, cgiModule("v1", false), "")
	prog := k.program(t, v1, programOpts{codeLatest: true})
	n := startCRN(t, k, crnOpts{})
	if resp, body := n.get(t, "/vm/"+prog+"/"); body != "v1" || resp.Header.Get("Aleph-Program-Code-Ref") != v1 {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
	v2 := k.store(t, cgiModule("v2", false), v1)
	eventually(t, 15*time.Second, func() error {
		resp, body := n.get(t, "/vm/"+prog+"/")
		if body != "v2" || resp.Header.Get("Aleph-Program-Code-Ref") != v2 {
			return fmt.Errorf("after the update: %d %q code %s", resp.StatusCode, body, resp.Header.Get("Aleph-Program-Code-Ref"))
		}
		return nil
	})

	// Without the update feed, an idle-expired execution resolves again.
	n.stop()
	n = startCRN(t, k, crnOpts{noWatch: true, idle: -1})
	if _, body := n.get(t, "/vm/"+prog+"/"); body != "v2" {
		t.Fatalf("%q", body)
	}
	k.store(t, cgiModule("v3", false), v1)
	if _, body := n.get(t, "/vm/"+prog+"/"); body != "v3" {
		t.Fatalf("the request after the update got %q", body)
	}
}

// TestMalformed: programs the node cannot run get a clear error, at once.
func TestMalformed(t *testing.T) {
	k := startCore(t)
	module := cgiModule("zipped", false)
	archive := k.store(t, sandboxtest.Zip(map[string][]byte{"app/main.wasm": module}), "")
	good := k.program(t, archive, programOpts{encoding: "zip", entrypoint: "app/main.wasm"})
	badEntry := k.program(t, archive, programOpts{encoding: "zip", entrypoint: "app/missing.wasm"})
	notMarker := k.store(t, []byte("a squashfs root file system, say"), "")
	otherRuntime := k.program(t, k.store(t, module, ""), programOpts{runtime: notMarker})
	n := startCRN(t, k, crnOpts{})

	if resp, body := n.get(t, "/vm/"+good+"/"); resp.StatusCode != 200 || body != "zipped" {
		t.Fatalf("zip: %d %q", resp.StatusCode, body)
	}
	resp, body := n.get(t, "/vm/"+badEntry+"/")
	wantError(t, resp, body, http.StatusUnprocessableEntity, `entrypoint "app/missing.wasm"`)
	resp, body = n.get(t, "/vm/"+otherRuntime+"/")
	wantError(t, resp, body, http.StatusNotImplemented, "not the WASM runtime marker")
}

// TestCapacityAndDrain: a program that does not fit gets 503; at shutdown
// new requests get 503 while the one in flight finishes.
func TestCapacityAndDrain(t *testing.T) {
	k := startCore(t)
	small := k.program(t, k.store(t, cgiModule("small", false), ""), programOpts{memory: 64})
	loop := k.program(t, k.store(t, cgiModule("", true), ""), programOpts{memory: 64, seconds: 2})
	big := k.program(t, k.store(t, cgiModule("big", false), ""), programOpts{memory: 128})
	n := startCRN(t, k, crnOpts{memory: 128})

	if resp, body := n.get(t, "/vm/"+small+"/"); body != "small" {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	var loopStatus int
	go func() {
		defer wg.Done()
		resp, _ := n.get(t, "/vm/"+loop+"/")
		loopStatus = resp.StatusCode
	}()
	eventually(t, 10*time.Second, func() error {
		if len(n.s.pool.list()) != 2 {
			return errNotYet
		}
		return nil
	})
	resp, body := n.get(t, "/vm/"+big+"/")
	wantError(t, resp, body, http.StatusServiceUnavailable, "Insufficient capacity")

	drained := make(chan error, 1)
	go func() { drained <- n.s.Drain(context.Background()) }()
	eventually(t, 5*time.Second, func() error {
		resp, body := n.get(t, "/vm/"+small+"/")
		if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "Server is draining, try another node") {
			return fmt.Errorf("during drain: %d %s", resp.StatusCode, body)
		}
		return nil
	})
	select {
	case err := <-drained:
		t.Fatalf("drain returned (%v) with a request in flight", err)
	default:
	}
	wg.Wait()
	if loopStatus != http.StatusGatewayTimeout {
		t.Errorf("request in flight: %d", loopStatus)
	}
	if err := <-drained; err != nil {
		t.Fatal(err)
	}
}

// TestIdleAndDeadExecutions: an idle execution stops after the idle
// timeout, and one whose instance died is prepared again.
func TestIdleAndDeadExecutions(t *testing.T) {
	k := startCore(t)
	prog := k.program(t, k.store(t, cgiModule("up", false), ""), programOpts{})
	n := startCRN(t, k, crnOpts{idle: 300 * time.Millisecond})
	if _, body := n.get(t, "/vm/"+prog+"/"); body != "up" {
		t.Fatal(body)
	}
	eventually(t, 10*time.Second, func() error {
		if len(n.s.pool.list()) != 0 {
			return errNotYet
		}
		return nil
	})
	if _, body := n.get(t, "/vm/"+prog+"/"); body != "up" {
		t.Fatal(body)
	}
	n.s.pool.mu.Lock()
	e := n.s.pool.execs[prog]
	n.s.pool.mu.Unlock()
	e.inst.Stop(context.Background()) // dies from outside
	if _, body := n.get(t, "/vm/"+prog+"/"); body != "up" {
		t.Fatal(body)
	}
	n.s.pool.mu.Lock()
	e2 := n.s.pool.execs[prog]
	n.s.pool.mu.Unlock()
	if e2 == e || e2 == nil {
		t.Fatal("the dead execution was reused")
	}
}
