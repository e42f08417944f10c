package crn

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/goaleph/goaleph/chain/eth"
	"github.com/goaleph/goaleph/chain/eth/ethtest"
	"github.com/goaleph/goaleph/client"
	"github.com/goaleph/goaleph/internal/compute"
	"github.com/goaleph/goaleph/internal/compute/wasm"
	"github.com/goaleph/goaleph/internal/compute/wasm/wasmtest"
	"github.com/goaleph/goaleph/internal/devnet/devnettest"
	"github.com/goaleph/goaleph/internal/testhttp"
	"github.com/goaleph/goaleph/message"
)

// core is a real core node (a one-node devnet) and an account to publish
// with.
type core struct {
	url     string
	c       *client.Client
	a       *eth.Account
	runtime string // STORE of the WASM runtime marker
}

func startCore(t testing.TB) *core {
	t.Helper()
	a := ethtest.Account(t)
	k := &core{url: devnettest.Core(t).APIURL(), a: a}
	k.c = client.New(k.url)
	k.runtime = k.store(t, []byte(WASMRuntimeMarker), "")
	return k
}

// store publishes data as a STORE (amending ref if set) and returns the
// STORE message hash.
func (k *core) store(t testing.TB, data []byte, ref string) string {
	t.Helper()
	res, err := k.c.Store(t.Context(), k.a, bytes.NewReader(data), client.StoreParams{Sync: true, Ref: ref})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != client.StatusProcessed {
		t.Fatalf("STORE %s", res.Status)
	}
	return res.Message.ItemHash
}

// publish signs and submits a message of type typ with content and
// returns its hash, processed.
func (k *core) publish(t testing.TB, typ message.Type, content map[string]any) string {
	t.Helper()
	now := time.Now()
	content["address"] = k.a.Address()
	content["time"] = float64(now.UnixMilli()) / 1000
	b, _ := json.Marshal(content)
	m, err := message.NewInline(k.a, typ, "TEST", string(b), now)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := k.c.Submit(t.Context(), m, true); err != nil || st != client.StatusProcessed {
		t.Fatalf("submit %s: %v %v", typ, st, err)
	}
	return m.ItemHash
}

// programOpts adjust a PROGRAM content.
type programOpts struct {
	encoding, entrypoint string
	iface                string // code.interface, if set
	codeLatest           bool
	runtime              string
	memory, seconds      int
	variables            map[string]string
	on                   map[string]any // content.on (default {"http": true})
}

func (k *core) program(t testing.TB, code string, o programOpts) string {
	t.Helper()
	if o.encoding == "" {
		o.encoding = "plain"
	}
	if o.entrypoint == "" {
		o.entrypoint = "main.wasm"
	}
	if o.runtime == "" {
		o.runtime = k.runtime
	}
	if o.memory == 0 {
		o.memory = 64
	}
	if o.seconds == 0 {
		o.seconds = 5
	}
	c := map[string]any{
		"type":        "vm-function",
		"allow_amend": false,
		"code":        map[string]any{"encoding": o.encoding, "entrypoint": o.entrypoint, "ref": code, "use_latest": o.codeLatest},
		"runtime":     map[string]any{"ref": o.runtime, "use_latest": true, "comment": "WASI preview 1"},
		"on":          map[string]any{"http": true},
		"environment": map[string]any{"internet": false},
		"resources":   map[string]any{"vcpus": 1, "memory": o.memory, "seconds": o.seconds},
	}
	if o.on != nil {
		c["on"] = o.on
	}
	if o.variables != nil {
		c["variables"] = o.variables
	}
	if o.iface != "" {
		c["code"].(map[string]any)["interface"] = o.iface
	}
	return k.publish(t, message.TypeProgram, c)
}

// crnOpts adjust the compute node of a test.
type crnOpts struct {
	memory   int64
	vcpus    int
	idle     time.Duration
	resolver Resolver
	noWatch  bool
	// sandbox, if set, is the backend (DefaultBackend) of the
	// programs whose runtime is not the WASM marker.
	sandbox compute.Backend
	// adjust, if set, changes the Config last.
	adjust func(*Config)
}

type node struct {
	s    *Server
	url  string
	stop func() // stops Run and waits for it
}

func startCRN(t testing.TB, k *core, o crnOpts) *node {
	t.Helper()
	wb, err := wasm.New(wasm.Config{CacheDir: compileCacheDir(t)})
	if err != nil {
		t.Fatal(err)
	}
	backends := map[string]compute.Backend{"wasm": wb}
	var def string
	if o.sandbox != nil {
		backends[o.sandbox.Name()], def = o.sandbox, o.sandbox.Name()
	}
	cfg := Config{CoreURL: k.url, CacheDir: t.TempDir(), Domain: "crn.test",
		Backends: backends, DefaultBackend: def, MemoryMiB: o.memory, VCPUs: o.vcpus, IdleTimeout: o.idle,
		Resolver: o.resolver, NoWatch: o.noWatch, DrainTimeout: 20 * time.Second}
	if o.adjust != nil {
		o.adjust(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, ln) }()
	stopped := false
	n := &node{s: s, url: "http://" + ln.Addr().String()}
	n.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
		wb.Close(context.Background())
	}
	t.Cleanup(n.stop)
	return n
}

// compileCacheDir is where the tests' wasm backends keep compiled modules,
// outside the repository, so that each test and each run compiles the
// test programs once (a Go module takes seconds to compile under -race).
func compileCacheDir(t testing.TB) string {
	dir, err := os.UserCacheDir()
	if err != nil {
		return t.TempDir()
	}
	return filepath.Join(dir, "goaleph", "crn-test-compiled")
}

// do sends a request to the node and returns the response and its body.
func (n *node) do(t testing.TB, method, path, host string, body io.Reader) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, n.url+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	return send(t, req)
}

// send sends req and returns the response and its body.
func send(t testing.TB, req *http.Request) (*http.Response, string) {
	t.Helper()
	return testhttp.Do(t, nil, req)
}

func (n *node) get(t testing.TB, path string) (*http.Response, string) {
	t.Helper()
	return n.do(t, http.MethodGet, path, "", nil)
}

// wantError checks a JSON error answer.
func wantError(t *testing.T, resp *http.Response, body string, status int, contains string) {
	t.Helper()
	if err := testhttp.CheckError(resp, body, status, contains); err != nil {
		t.Fatal(err)
	}
}

// wasmtestProgram builds the wasmtest program and returns the module's
// bytes.
func wasmtestProgram(t testing.TB) []byte {
	t.Helper()
	module, err := wasmtest.Build(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(module)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// cgiModule is wasmtest.CGIModule: a hand-written module answering text.
func cgiModule(text string, loop bool) []byte { return wasmtest.CGIModule(text, loop) }

// eventually retries f until it returns nil or the deadline passes.
func eventually(t *testing.T, d time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var errNotYet = errors.New("not yet")
