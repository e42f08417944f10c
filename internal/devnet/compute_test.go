package devnet_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goaleph/goaleph/chain/eth"
	"github.com/goaleph/goaleph/chain/eth/ethtest"
	"github.com/goaleph/goaleph/client"
	"github.com/goaleph/goaleph/internal/compute/crn"
	"github.com/goaleph/goaleph/internal/compute/sandbox/sandboxtest"
	"github.com/goaleph/goaleph/internal/compute/wasm/wasmtest"
	"github.com/goaleph/goaleph/internal/devnet"
	_ "github.com/goaleph/goaleph/internal/devnet/devcrn"
	"github.com/goaleph/goaleph/internal/testhttp"
	"github.com/goaleph/goaleph/message"
)

// The compute acceptance tests run on a devnet of two core nodes and its
// compute node, which reads from node 0. Programs are deployed the way a
// user deploys them: code and runtime as STORE messages, then a signed
// PROGRAM; then called over HTTP through the compute node.

// computeNet is a devnet with a compute node and an account.
type computeNet struct {
	nw *devnet.Network
	a  *eth.Account
	c  []*client.Client // one per core node
}

func startComputeNet(t *testing.T) *computeNet {
	t.Helper()
	nw, err := devnet.Start(t.Context(), devnet.Config{Nodes: 2, Compute: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := nw.Stop(); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	if nw.ComputeURL() == "" {
		t.Fatal("no compute URL")
	}
	a := ethtest.Account(t)
	k := &computeNet{nw: nw, a: a}
	for _, n := range nw.Nodes() {
		k.c = append(k.c, client.New(n.APIURL()))
	}
	return k
}

// store publishes r as a STORE on node and returns the message's hash.
func (k *computeNet) store(t *testing.T, node int, r io.ReadSeeker) string {
	t.Helper()
	res, err := k.c[node].Store(t.Context(), k.a, r, client.StoreParams{Sync: true})
	if err != nil || res.Status != client.StatusProcessed {
		t.Fatalf("store: %v %v", res, err)
	}
	return res.Message.ItemHash
}

func (k *computeNet) storeFile(t *testing.T, node int, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return k.store(t, node, f)
}

// programContent is a PROGRAM's content; edit it before publishing.
func (k *computeNet) programContent(code, encoding, entrypoint, runtime string) map[string]any {
	return map[string]any{
		"type": "vm-function", "allow_amend": false,
		"code":        map[string]any{"encoding": encoding, "entrypoint": entrypoint, "ref": code, "use_latest": false},
		"runtime":     map[string]any{"ref": runtime, "use_latest": true, "comment": ""},
		"on":          map[string]any{"http": true},
		"environment": map[string]any{"internet": false},
		"resources":   map[string]any{"vcpus": 1, "memory": 128, "seconds": 10},
	}
}

// publish signs content as a PROGRAM and submits it to node; it returns
// the hash, or the error of a message the node did not process.
func (k *computeNet) publish(t *testing.T, node int, content map[string]any) (string, error) {
	t.Helper()
	now := time.Now()
	content["address"] = k.a.Address()
	content["time"] = float64(now.UnixMilli()) / 1000
	b, _ := json.Marshal(content)
	m, err := message.NewInline(k.a, message.TypeProgram, "TEST", string(b), now)
	if err != nil {
		t.Fatal(err)
	}
	st, err := k.c[node].Submit(t.Context(), m, true)
	if err == nil && st != client.StatusProcessed {
		err = fmt.Errorf("status %s", st)
	}
	return m.ItemHash, err
}

func (k *computeNet) program(t *testing.T, node int, content map[string]any) string {
	t.Helper()
	hash, err := k.publish(t, node, content)
	if err != nil {
		t.Fatalf("PROGRAM: %v", err)
	}
	return hash
}

var httpClient = &http.Client{Timeout: 2 * time.Minute}

// firstCallClient is for a program's first request when its module is
// large: the compute node compiles it first, which under -race on two
// loaded cores has taken from 54 s to over 2 min for the reactor.
var firstCallClient = &http.Client{Timeout: 10 * time.Minute}

// call does GET path on the compute node.
func (k *computeNet) call(t *testing.T, path string) (*http.Response, string) {
	t.Helper()
	return testhttp.Get(t, httpClient, k.nw.ComputeURL()+path)
}

// checkAlephHeaders checks the headers the compute node adds to a
// program's answer (spec §1.3).
func checkAlephHeaders(t *testing.T, resp *http.Response, program, code string) {
	t.Helper()
	h := resp.Header
	if h.Get("Aleph-Program-ItemHash") != program || h.Get("Aleph-Program-Code-Ref") != code ||
		!strings.HasPrefix(h.Get("Server"), "aleph-vm/") {
		t.Errorf("Aleph headers: ItemHash %q Code-Ref %q Server %q; want %s, %s, aleph-vm/…",
			h.Get("Aleph-Program-ItemHash"), h.Get("Aleph-Program-Code-Ref"), h.Get("Server"), program, code)
	}
}

// wantError checks a JSON error answer: its status and reason.
func wantError(t *testing.T, resp *http.Response, body string, status int, contains string) {
	t.Helper()
	if err := testhttp.CheckError(resp, body, status, contains); err != nil {
		t.Error(err)
	}
}

// TestCompute publishes a WASM program on node 1 and calls it through the
// devnet's compute node, which reads from node 0: the program, its code and
// runtime reach node 0 by gossip and file transfer.
func TestCompute(t *testing.T) {
	module, err := wasmtest.Build(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	k := startComputeNet(t)
	runtime := k.store(t, 1, bytes.NewReader([]byte(crn.WASMRuntimeMarker)))
	code := k.storeFile(t, 1, module)
	prog := k.program(t, 1, k.programContent(code, "plain", "main.wasm", runtime))

	// Node 0 may not have the program yet: the node answers 4xx until then.
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, body := k.call(t, "/vm/"+prog+"/hello?x=1")
		if resp.StatusCode == http.StatusOK {
			var echo wasmtest.Echo
			if err := json.Unmarshal([]byte(body), &echo); err != nil {
				t.Fatalf("answer %q: %v", body, err)
			}
			if echo.Path != "/hello" || echo.Query != "x=1" {
				t.Errorf("program saw %s ? %s, want /hello ? x=1", echo.Path, echo.Query)
			}
			checkAlephHeaders(t, resp, prog, code)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %d %s", prog, resp.StatusCode, body)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// The same handler built as a WASI reactor (wasmguest): one kept
	// instance answers every request, so its counter goes on.
	reactor, err := wasmtest.BuildReactor(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	rcode := k.storeFile(t, 0, reactor)
	rprog := k.program(t, 0, k.programContent(rcode, "plain", "main.wasm", runtime))
	for i := 1; i <= 3; i++ {
		client := httpClient
		if i == 1 {
			client = firstCallClient
		}
		start := time.Now()
		resp, body := testhttp.Get(t, client, k.nw.ComputeURL()+"/vm/"+rprog+"/count")
		t.Logf("reactor request %d: %v", i, time.Since(start))
		if want := fmt.Sprintf("count %d", i); resp.StatusCode != 200 || strings.TrimSpace(body) != want {
			t.Fatalf("reactor request %d: %d %q, want %q", i, resp.StatusCode, body, want)
		}
		checkAlephHeaders(t, resp, rprog, rcode)
	}
}

// acceptCounter counts the connections its listeners accept.
type acceptCounter struct {
	wg  sync.WaitGroup
	mu  sync.Mutex
	n   int
	lns []net.Listener
}

func (a *acceptCounter) listen(t *testing.T, addr string) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	a.lns = append(a.lns, ln)
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			a.mu.Lock()
			a.n++
			a.mu.Unlock()
			c.Close()
		}
	}()
	return ln
}

// close closes the listeners and returns how many connections they
// accepted.
func (a *acceptCounter) close() int {
	for _, ln := range a.lns {
		ln.Close()
	}
	a.wg.Wait()
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.n
}

// debianRuntime returns the squashfs image of the Debian 12 Python runtime,
// built by runtimes/debian-12-python/build.sh (cached after the first
// build), and the sandbox test program: a static HTTP server probing its
// isolation.
func debianRuntime(t *testing.T) (image, prog string) {
	t.Helper()
	if _, err := exec.LookPath("bwrap"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("bwrap is missing (install bubblewrap: scripts/install-deps.sh)")
		}
		t.Skip("bwrap is missing (install bubblewrap)")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	prog, err := sandboxtest.Program(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, filepath.Join("..", "..", "runtimes", "debian-12-python", "build.sh"))
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("runtimes/debian-12-python/build.sh (needs root or a cached build): %v\n%s", err, stderr.Bytes())
	}
	return filepath.Join(strings.TrimSpace(stdout.String()), "rootfs.squashfs"), prog
}

const fastAPIApp = `import os
from fastapi import FastAPI

app = FastAPI()


@app.get("/")
def index():
    return {"hello": "aleph", "greeting": os.environ.get("GREETING")}
`

// TestComputeSandbox deploys, on the devnet, a Python ASGI app and an
// executable HTTP server on the Debian runtime (sandbox backend), and
// checks their answers and Aleph headers, their isolation, their limits,
// and that malformed programs get a clear error.
func TestComputeSandbox(t *testing.T) {
	image, progPath := debianRuntime(t)
	progBin, err := os.ReadFile(progPath)
	if err != nil {
		t.Fatal(err)
	}
	k := startComputeNet(t)
	rt := k.storeFile(t, 0, image)

	// The executable: the static server as bin/server in a zip.
	execCode := k.store(t, 0, bytes.NewReader(sandboxtest.Zip(map[string][]byte{"bin/server": progBin}, "bin/server")))
	executable := func(internet bool, memory, seconds int) string {
		c := k.programContent(execCode, "zip", "bin/server", rt)
		c["environment"] = map[string]any{"internet": internet}
		c["resources"] = map[string]any{"vcpus": 1, "memory": memory, "seconds": seconds}
		c["metadata"] = map[string]any{"name": fmt.Sprint("executable ", internet, memory, seconds)}
		return k.program(t, 0, c)
	}
	isolated := executable(false, 128, 10)

	// The ASGI app, published on node 1: it reaches the compute node's
	// core node by gossip.
	asgiCode := k.store(t, 1, bytes.NewReader(sandboxtest.Zip(map[string][]byte{"main.py": []byte(fastAPIApp)})))
	ac := k.programContent(asgiCode, "zip", "main:app", rt)
	ac["resources"] = map[string]any{"vcpus": 1, "memory": 256, "seconds": 30}
	ac["variables"] = map[string]string{"GREETING": "hi"}
	asgi := k.program(t, 1, ac)

	t.Run("executable", func(t *testing.T) {
		resp, body := k.call(t, "/vm/"+isolated+"/echo?x=1")
		var echo struct{ Path, Query string }
		if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &echo) != nil || echo.Path != "/echo" || echo.Query != "x=1" {
			t.Fatalf("executable: %d %s", resp.StatusCode, body)
		}
		checkAlephHeaders(t, resp, isolated, execCode)
	})

	t.Run("asgi", func(t *testing.T) {
		deadline := time.Now().Add(time.Minute)
		for {
			resp, body := k.call(t, "/vm/"+asgi+"/")
			if resp.StatusCode == 200 {
				if body != `{"hello":"aleph","greeting":"hi"}` {
					t.Errorf("asgi answered %s", body)
				}
				checkAlephHeaders(t, resp, asgi, asgiCode)
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("asgi: %d %s", resp.StatusCode, body)
			}
			time.Sleep(100 * time.Millisecond)
		}
	})

	t.Run("asgi under load", func(t *testing.T) {
		// The app's route is sync: FastAPI runs it in a pool of up to 40
		// threads, whose stacks count in the program's memory limit.
		var wg sync.WaitGroup
		var mu sync.Mutex
		failed := map[int]int{}
		for range 100 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				resp, err := httpClient.Get(k.nw.ComputeURL() + "/vm/" + asgi + "/")
				code := 0
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					code = resp.StatusCode
				}
				if code != 200 {
					mu.Lock()
					failed[code]++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if len(failed) > 0 {
			t.Errorf("100 concurrent requests: failures by status %v", failed)
		}
	})

	t.Run("no network without internet", func(t *testing.T) {
		// A listener on the host's loopback: the isolated program must
		// not reach it, nor the core node, nor a public address.
		var accepts acceptCounter
		ln := accepts.listen(t, "127.0.0.1:0")
		core := strings.TrimPrefix(k.nw.Nodes()[0].APIURL(), "http://")
		for _, addr := range []string{ln.Addr().String(), core, "1.1.1.1:53", "[::1]:" + strings.Split(ln.Addr().String(), ":")[1]} {
			resp, body := k.call(t, "/vm/"+isolated+"/dial?addr="+addr)
			if resp.StatusCode != 200 || !strings.HasPrefix(body, "error: ") {
				t.Errorf("dial %s from an isolated program: %d %q, want an error", addr, resp.StatusCode, body)
			}
		}
		// A program with internet reaches the host through NAT, on an
		// address of the host that is not loopback: the probe can
		// succeed. It does not reach the host's loopback either.
		var hostIP string
		addrs, err := net.InterfaceAddrs()
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() {
				hostIP = n.IP.String()
				break
			}
		}
		if hostIP == "" {
			t.Fatal("the host has no IPv4 address but loopback")
		}
		pub := accepts.listen(t, hostIP+":0")
		open := executable(true, 128, 10)
		if resp, body := k.call(t, "/vm/"+open+"/dial?addr="+pub.Addr().String()); body != "connected" {
			t.Errorf("dial %s from a program with internet: %d %q", pub.Addr(), resp.StatusCode, body)
		}
		if resp, body := k.call(t, "/vm/"+open+"/dial?addr="+ln.Addr().String()); !strings.HasPrefix(body, "error: ") {
			t.Errorf("dial the host's loopback %s from a program with internet: %d %q, want an error", ln.Addr(), resp.StatusCode, body)
		}
		if n := accepts.close(); n != 1 {
			t.Errorf("the host listeners saw %d connections, want 1 (from the program with internet, on %s)", n, hostIP)
		}
	})

	t.Run("no host files", func(t *testing.T) {
		secret := filepath.Join(t.TempDir(), "secret")
		if err := os.WriteFile(secret, []byte("host secret"), 0o644); err != nil {
			t.Fatal(err)
		}
		exe, err := os.Executable()
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{secret, k.nw.Nodes()[0].DataDir(), exe} {
			resp, body := k.call(t, "/vm/"+isolated+"/read?path="+p)
			if resp.StatusCode != 200 || !strings.HasPrefix(body, "error: ") || strings.Contains(body, "host secret") {
				t.Errorf("read %s: %d %q, want an error", p, resp.StatusCode, body)
			}
		}
		// The runtime's own files are readable: the probe can succeed.
		if _, body := k.call(t, "/vm/"+isolated+"/read?path=/usr/bin/python3"); strings.HasPrefix(body, "error: ") {
			t.Errorf("read the runtime's python3: %q", body)
		}
	})

	t.Run("memory", func(t *testing.T) {
		small := executable(false, 64, 10)
		if resp, body := k.call(t, "/vm/"+small+"/echo"); resp.StatusCode != 200 {
			t.Fatalf("small: %d %s", resp.StatusCode, body)
		}
		var wg sync.WaitGroup
		wg.Add(1)
		var status int
		var body string
		go func() {
			defer wg.Done()
			resp, b := k.call(t, "/vm/"+small+"/alloc?mib=512")
			status, body = resp.StatusCode, b
		}()
		// Others are served meanwhile and after.
		for range 3 {
			if resp, b := k.call(t, "/vm/"+asgi+"/"); resp.StatusCode != 200 {
				t.Errorf("asgi while another program overruns its memory: %d %s", resp.StatusCode, b)
			}
		}
		wg.Wait()
		if status < 500 {
			t.Errorf("allocating 512 MiB in a 64 MiB program: %d %s, want 5xx", status, body)
		}
		if resp, b := k.call(t, "/vm/"+isolated+"/echo"); resp.StatusCode != 200 {
			t.Errorf("executable after the overrun: %d %s", resp.StatusCode, b)
		}
	})

	t.Run("timeout", func(t *testing.T) {
		slow := executable(false, 128, 2)
		start := time.Now()
		resp, body := k.call(t, "/vm/"+slow+"/sleep?d=30s")
		d := time.Since(start)
		wantError(t, resp, body, http.StatusGatewayTimeout, "resource.seconds")
		if d > 20*time.Second {
			t.Errorf("the 2 s timeout answered after %s", d)
		}
		// The program still answers within its time.
		if resp, body := k.call(t, "/vm/"+slow+"/sleep?d=10ms"); resp.StatusCode != 200 || body != "slept" {
			t.Errorf("after the timeout: %d %s", resp.StatusCode, body)
		}
	})

	t.Run("malformed", func(t *testing.T) {
		// No runtime at all: the core node refuses the message.
		c := k.programContent(execCode, "zip", "bin/server", rt)
		delete(c, "runtime")
		if _, err := k.publish(t, 0, c); err == nil || !strings.Contains(err.Error(), "runtime") {
			t.Errorf("PROGRAM without runtime: %v, want an error naming the runtime", err)
		}
		// Refs to messages the network does not have: the core node
		// keeps the PROGRAM pending until they come.
		missing := strings.Repeat("ab", 32)
		noRuntime, err := k.publish(t, 0, k.programContent(execCode, "zip", "bin/server", missing))
		if err == nil || !strings.Contains(err.Error(), "pending") {
			t.Errorf("PROGRAM with an unknown runtime: %v, want pending", err)
		}
		c = k.programContent(execCode, "zip", "bin/server", rt)
		c["volumes"] = []any{map[string]any{"mount": "/opt/extra", "ref": missing, "use_latest": false}}
		noVolume, err := k.publish(t, 0, c)
		if err == nil || !strings.Contains(err.Error(), "pending") {
			t.Errorf("PROGRAM with an unknown volume: %v, want pending", err)
		}
		badEntry := k.program(t, 0, k.programContent(execCode, "zip", "bin/nothing", rt))
		badModule := k.program(t, 0, k.programContent(asgiCode, "zip", "nothing:app", rt))
		outside := k.program(t, 0, k.programContent(execCode, "zip", "../../bin/sh", rt))
		for _, tc := range []struct {
			name, hash string
			status     int
			reason     string
		}{
			{"unknown runtime", noRuntime, http.StatusServiceUnavailable, "is still pending on the core node"},
			{"unknown volume", noVolume, http.StatusServiceUnavailable, "is still pending on the core node"},
			{"missing entrypoint", badEntry, http.StatusUnprocessableEntity, `entrypoint "bin/nothing": the code has no such executable file`},
			{"ASGI module missing", badModule, http.StatusUnprocessableEntity, `entrypoint "nothing:app": the code has no Python module`},
			{"entrypoint outside the code", outside, http.StatusUnprocessableEntity, `entrypoint "../../bin/sh" is not a path inside the code`},
		} {
			start := time.Now()
			resp, body := k.call(t, "/vm/"+tc.hash+"/")
			t.Logf("%s: %d %s in %s", tc.name, resp.StatusCode, strings.TrimSpace(body), time.Since(start).Round(time.Millisecond))
			wantError(t, resp, body, tc.status, tc.reason)
			if root := filepath.Dir(k.nw.Nodes()[0].DataDir()); strings.Contains(body, root) {
				t.Errorf("%s: the answer names a host path under %s", tc.name, root)
			}
		}
	})
}
