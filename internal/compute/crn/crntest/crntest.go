// Package crntest runs real compute nodes for the tests of other packages:
// a crn.Server on the wasm backend that announces its executions (design
// note 0007), reached through a front that a test can kill as a crashed
// machine goes, and publishes WASM programs on a core node.
package crntest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/goaleph/goaleph/chain/eth"
	"github.com/goaleph/goaleph/chain/eth/ethtest"
	"github.com/goaleph/goaleph/client"
	"github.com/goaleph/goaleph/internal/compute"
	"github.com/goaleph/goaleph/internal/compute/crn"
	"github.com/goaleph/goaleph/internal/compute/wasm"
	"github.com/goaleph/goaleph/message"
)

// Program publishes module (a WASI command answering as a CGI program)
// as a WASM program on the core node at coreURL — runtime marker, code
// and PROGRAM, as a user deploys one — and returns the PROGRAM's hash.
func Program(t testing.TB, coreURL string, module []byte) string {
	t.Helper()
	return ProgramWith(t, coreURL, module, nil)
}

// ProgramWith is Program with extra fields of the PROGRAM's content
// (e.g. "metadata"), which replace the defaults of the same name.
func ProgramWith(t testing.TB, coreURL string, module []byte, extra map[string]any) string {
	t.Helper()
	a := ethtest.Account(t)
	c := client.New(coreURL)
	runtime := store(t, c, a, []byte(crn.WASMRuntimeMarker))
	code := store(t, c, a, module)
	now := time.Now()
	content := map[string]any{
		"type": "vm-function", "allow_amend": false, "address": a.Address(), "time": float64(now.UnixMilli()) / 1000,
		"code":        map[string]any{"encoding": "plain", "entrypoint": "main.wasm", "ref": code, "use_latest": false},
		"runtime":     map[string]any{"ref": runtime, "use_latest": true, "comment": "WASI preview 1"},
		"on":          map[string]any{"http": true},
		"environment": map[string]any{"internet": false},
		"resources":   map[string]any{"vcpus": 1, "memory": 64, "seconds": 5},
	}
	maps.Copy(content, extra)
	b, _ := json.Marshal(content)
	m, err := message.NewInline(a, message.TypeProgram, "TEST", string(b), now)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := c.Submit(t.Context(), m, true); err != nil || st != client.StatusProcessed {
		t.Fatalf("PROGRAM: %v %v", st, err)
	}
	return m.ItemHash
}

func store(t testing.TB, c *client.Client, a *eth.Account, data []byte) string {
	t.Helper()
	res, err := c.Store(t.Context(), a, bytes.NewReader(data), client.StoreParams{Sync: true})
	if err != nil || res.Status != client.StatusProcessed {
		t.Fatalf("STORE: %v %v", res, err)
	}
	return res.Message.ItemHash
}

// Node is a running compute node.
type Node struct {
	// URL is where clients reach the node (its front), as it announces.
	URL string
	// Address is the ETH address it announces with.
	Address string
	front   *front
	stop    func()
}

// Start runs a compute node reading from coreURL until the test ends.
func Start(t testing.TB, coreURL string) *Node {
	t.Helper()
	return StartWith(t, coreURL, nil)
}

// StartWith is Start with the node's HTTP handler wrapped by wrap (nil:
// none): a test patches a node's answers, as a dishonest or broken host
// would, without changing the compute node itself.
func StartWith(t testing.TB, coreURL string, wrap func(http.Handler) http.Handler) *Node {
	t.Helper()
	dir := t.TempDir()
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = dir
	}
	wb, err := wasm.New(wasm.Config{CacheDir: filepath.Join(cache, "goaleph", "crn-test-compiled")})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	target := ln.Addr().String()
	if wrap != nil {
		target = startWrap(t, target, wrap)
	}
	f := startFront(t, target)
	s, err := crn.New(crn.Config{CoreURL: coreURL, CacheDir: filepath.Join(dir, "cache"), Domain: "crn.test",
		Backends: map[string]compute.Backend{"wasm": wb}, NoWatch: true, DrainTimeout: 20 * time.Second,
		KeyFile: filepath.Join(dir, "crn-key"), PublicURL: "http://" + f.ln.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, ln) }()
	n := &Node{URL: "http://" + f.ln.Addr().String(), Address: s.Address(), front: f}
	var once sync.Once
	n.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("compute node: %v", err)
			}
			wb.Close(context.Background())
		})
	}
	t.Cleanup(n.stop)
	return n
}

// Kill makes the node unreachable at once, as a machine that crashed:
// its connections are cut and new ones reset (as a port nothing listens
// on), and it withdraws none of its announcements. The compute node
// itself runs on until the test ends.
func (n *Node) Kill() { n.front.kill() }

// ConnsAfterKill is how many connections clients tried after Kill.
func (n *Node) ConnsAfterKill() int64 {
	n.front.mu.Lock()
	defer n.front.mu.Unlock()
	return n.front.afterKill
}

// Conns is how many connections clients opened to the node.
func (n *Node) Conns() int64 {
	n.front.mu.Lock()
	defer n.front.mu.Unlock()
	return n.front.accepted
}

// Call sends GET path to the program hash on the node and returns the
// status and body (the first call starts the program, and so makes the
// node announce it).
func (n *Node) Call(t testing.TB, hash, path string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, n.URL+"/vm/"+hash+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("calling %s on %s: %v", hash, n.URL, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// front is a TCP forwarder to a compute node that can be killed.
type front struct {
	ln       net.Listener
	target   string
	mu       sync.Mutex
	conns    map[net.Conn]bool
	dead     bool // killed: connections are reset
	closed   bool
	accepted int64 // connections forwarded
	// afterKill counts the connections clients opened after the kill.
	afterKill int64
}

func startFront(t testing.TB, target string) *front {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &front{ln: ln, target: target, conns: map[net.Conn]bool{}}
	go f.serve()
	t.Cleanup(f.close)
	return f
}

func (f *front) serve() {
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		f.mu.Lock()
		dead, closed := f.dead, f.closed
		if dead {
			f.afterKill++
		}
		f.mu.Unlock()
		if closed {
			c.Close()
			return
		}
		if dead { // reset at once, as a port nothing listens on
			if tc, ok := c.(*net.TCPConn); ok {
				tc.SetLinger(0)
			}
			c.Close()
			continue
		}
		up, err := net.Dial("tcp", f.target)
		if err != nil {
			c.Close()
			continue
		}
		if !f.track(c, up) {
			c.Close()
			up.Close()
			continue
		}
		go f.pipe(c, up)
		go f.pipe(up, c)
	}
}

func (f *front) track(cs ...net.Conn) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.dead {
		return false
	}
	f.accepted++
	for _, c := range cs {
		f.conns[c] = true
	}
	return true
}

func (f *front) pipe(dst, src net.Conn) {
	io.Copy(dst, src)
	dst.Close()
	src.Close()
	f.mu.Lock()
	delete(f.conns, dst)
	delete(f.conns, src)
	f.mu.Unlock()
}

// kill cuts the connections; new ones are reset and counted.
func (f *front) kill() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.dead = true
	for c := range f.conns {
		c.Close()
	}
}

func (f *front) close() {
	f.kill()
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
	f.ln.Close()
}

// startWrap serves wrap(a reverse proxy to target) on a new local port
// until the test ends and returns its address.
func startWrap(t testing.TB, target string, wrap func(http.Handler) http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: target})
	// The node sees the requests as they came, Host included.
	director := rp.Director
	rp.Director = func(r *http.Request) {
		host := r.Host
		director(r)
		r.Host = host
	}
	srv := &http.Server{Handler: wrap(rp), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}
