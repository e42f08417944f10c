package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/goaleph/goaleph/chain/eth/ethtest"
	"github.com/goaleph/goaleph/client"
	"github.com/goaleph/goaleph/internal/compute"
	"github.com/goaleph/goaleph/internal/compute/crn"
	"github.com/goaleph/goaleph/internal/compute/wasm"
	"github.com/goaleph/goaleph/internal/compute/wasm/wasmtest"
	"github.com/goaleph/goaleph/message"
)

// publishProgram publishes a PROGRAM message (persistent or on demand)
// running the WASM module code, which it stores first, and returns its
// hash.
func publishProgram(t testing.TB, coreURL string, code []byte, persistent bool) string {
	t.Helper()
	a := ethtest.Account(t)
	c := client.New(coreURL)
	store := func(b []byte) string {
		res, err := c.Store(t.Context(), a, bytes.NewReader(b), client.StoreParams{Sync: true})
		if err != nil || res.Status != client.StatusProcessed {
			t.Fatalf("STORE: %v %v", res, err)
		}
		return res.Message.ItemHash
	}
	runtime, codeRef := store([]byte(crn.WASMRuntimeMarker)), store(code)
	now := time.Now()
	content, _ := json.Marshal(map[string]any{
		"address": a.Address(), "time": float64(now.UnixMilli()) / 1000,
		"type": "vm-function", "allow_amend": false,
		"code":        map[string]any{"encoding": "plain", "entrypoint": "main.wasm", "ref": codeRef, "use_latest": false},
		"runtime":     map[string]any{"ref": runtime, "use_latest": true, "comment": "WASI preview 1"},
		"on":          map[string]any{"http": true, "persistent": persistent},
		"environment": map[string]any{"internet": false},
		"resources":   map[string]any{"vcpus": 1, "memory": 64, "seconds": 5},
	})
	m, err := message.NewInline(a, message.TypeProgram, "TEST", string(content), now)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := c.Submit(t.Context(), m, true); err != nil || st != client.StatusProcessed {
		t.Fatalf("PROGRAM: %v %v", st, err)
	}
	return m.ItemHash
}

// startCRN runs a real compute node (wasm backend, announcing nothing)
// reading from coreURL and returns its base URL.
func startCRN(t testing.TB, coreURL string) string {
	t.Helper()
	wb, err := wasm.New(wasm.Config{CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	s, err := crn.New(crn.Config{CoreURL: coreURL, CacheDir: t.TempDir(), Domain: "crn.test", NoWatch: true,
		Backends: map[string]compute.Backend{"wasm": wb}, DrainTimeout: 5 * time.Second})
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
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("compute node: %v", err)
		}
		wb.Close(context.Background())
	})
	return "http://" + ln.Addr().String()
}

// TestStartOnFirstRequest: a program that no compute node runs answers
// through the gateway on its first request, started on a known node with
// capacity; concurrent first requests place it once. A persistent program
// no node runs is not placed.
func TestStartOnFirstRequest(t *testing.T) {
	core := startCore(t)
	hash := publishProgram(t, core, wasmtest.CGIModule("hello from the program", false), false)
	persistent := publishProgram(t, core, wasmtest.CGIModule("persistent", false), true)
	node := startCRN(t, core)
	gw := startGateway(t, RoleConfig{CoreURL: core, DNSServer: "127.0.0.1:1", ComputeNodes: []string{node}})
	host := hostOf(t, hash, "gw.test")
	c := &http.Client{Timeout: 60 * time.Second}

	var wg sync.WaitGroup
	lat := make([]time.Duration, 4)
	for i := range lat {
		wg.Go(func() {
			start := time.Now()
			code, body, err := get(c, gw.URL(), host, "/")
			lat[i] = time.Since(start)
			if err != nil || code != 200 || !strings.Contains(body, "hello from the program") {
				t.Errorf("first request %d: %d %q %v", i, code, body, err)
			}
		})
	}
	wg.Wait()
	start := time.Now()
	if code, body, err := get(c, gw.URL(), host, "/"); err != nil || code != 200 || !strings.Contains(body, "hello") {
		t.Fatalf("next request: %d %q %v", code, body, err)
	}
	warm := time.Since(start)
	t.Logf("first requests (program started on the node): %v; the next one: %v", lat, warm)
	if n := testutil.ToFloat64(gw.proxy.metrics.placements.WithLabelValues(hash, node, "start")); n != 1 {
		t.Errorf("placed %v times, want 1", n)
	}

	// A persistent program runs only where its owner placed it.
	code, body, err := get(c, gw.URL(), hostOf(t, persistent, "gw.test"), "/")
	if err != nil || code != 503 || !strings.Contains(body, "no_upstream") {
		t.Errorf("persistent program no node runs: %d %q %v", code, body, err)
	}
	if n := testutil.ToFloat64(gw.proxy.metrics.placements.WithLabelValues(persistent, node, "start")); n != 0 {
		t.Errorf("persistent program placed %v times", n)
	}
}

// TestPlacementCapacity: the node chosen is the healthy one with room
// for the program; none with room: 503 no_capacity.
func TestPlacementCapacity(t *testing.T) {
	core := startCore(t)
	hash := publishProgram(t, core, wasmtest.CGIModule("x", false), false)
	small, big, sick := startUpstream(t, "small"), startUpstream(t, "big"), startUpstream(t, "sick")
	small.availKB.Store(32 << 10) // 32 MiB: less than the program's 64
	big.availKB.Store(4 << 20)
	sick.availKB.Store(64 << 20)
	sick.sick.Store(true)
	gw := startGateway(t, RoleConfig{CoreURL: core, DNSServer: "127.0.0.1:1", HealthInterval: 100 * time.Millisecond,
		ComputeNodes: []string{small.base, big.base, sick.base}})
	waitFor(t, "the sick node down", func() bool {
		return testutil.ToFloat64(gw.proxy.metrics.ejections.WithLabelValues(sick.base, "health")) == 1
	})
	c := &http.Client{Timeout: 30 * time.Second}
	if code, body, err := get(c, gw.URL(), hostOf(t, hash, "gw.test"), "/"); err != nil || code != 200 || !strings.HasPrefix(body, "big ") {
		t.Fatalf("%d %q %v, want big's answer", code, body, err)
	}
	other := publishProgram(t, core, wasmtest.CGIModule("y", false), false)
	big.availKB.Store(16 << 10)
	waitFor(t, "big's new usage", func() bool {
		u := gw.proxy.dir.Nodes()
		for _, up := range u {
			if up.base == big.base && up.usage.Load() != nil && up.usage.Load().Mem.AvailableKB == 16<<10 {
				return true
			}
		}
		return false
	})
	if code, body, err := get(c, gw.URL(), hostOf(t, other, "gw.test"), "/"); err != nil || code != 503 || !strings.Contains(body, "no_capacity") {
		t.Fatalf("no room: %d %q %v", code, body, err)
	}
}

// waitFor polls cond for up to 60 seconds.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestScaleOut: load past the in-flight threshold (then, apart, past the
// latency one) brings a second node into rotation, and both nodes' metrics
// show traffic; a persistent program under the same load stays where it
// runs.
func TestScaleOut(t *testing.T) {
	core := startCore(t)
	for _, tc := range []struct {
		name    string
		rc      RoleConfig
		clients int
	}{
		{"inflight", RoleConfig{ScaleInflight: 4, ScaleLatency: -1}, 16},
		{"latency", RoleConfig{ScaleInflight: -1, ScaleLatency: 20 * time.Millisecond}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hash := publishProgram(t, core, wasmtest.CGIModule(tc.name, false), false)
			a, b := startUpstream(t, "A"), startUpstream(t, "B")
			a.delay.Store(int64(50 * time.Millisecond))
			b.delay.Store(int64(50 * time.Millisecond))
			announce(t, core, a.base, hash)
			rc := tc.rc
			rc.CoreURL, rc.DNSServer, rc.ComputeNodes, rc.ScaleCooldown = core, "127.0.0.1:1", []string{b.base}, time.Hour
			gw := startGateway(t, rc)
			waitUpstreams(t, gw, hash, 1)
			l := startLoad(gw.URL(), hostOf(t, hash, "gw.test"), tc.clients)
			defer l.end()
			waitFor(t, "traffic at B", func() bool { return upstreamRequests(gw, b.base) > 10 })
			l.end()
			ra, rb := upstreamRequests(gw, a.base), upstreamRequests(gw, b.base)
			t.Logf("%s: requests A %v, B %v; %d served, %d failed", tc.name, ra, rb, l.ok.Load(), l.failed.Load())
			if ra == 0 || rb == 0 || l.failed.Load() != 0 {
				t.Errorf("A %v, B %v requests, %d failed (%s)", ra, rb, l.failed.Load(), l.firstFail)
			}
			if n := testutil.ToFloat64(gw.proxy.metrics.placements.WithLabelValues(hash, b.base, "scale_out")); n != 1 {
				t.Errorf("%v scale-outs to B, want 1", n)
			}
		})
	}

	t.Run("persistent", func(t *testing.T) {
		hash := publishProgram(t, core, wasmtest.CGIModule("p", false), true)
		a, b := startUpstream(t, "A"), startUpstream(t, "B")
		a.delay.Store(int64(50 * time.Millisecond))
		announce(t, core, a.base, hash)
		gw := startGateway(t, RoleConfig{CoreURL: core, DNSServer: "127.0.0.1:1", ComputeNodes: []string{b.base},
			ScaleInflight: 2, ScaleLatency: 10 * time.Millisecond, ScaleCooldown: time.Millisecond})
		waitUpstreams(t, gw, hash, 1)
		l := startLoad(gw.URL(), hostOf(t, hash, "gw.test"), 8)
		defer l.end()
		l.waitOK(t, 100)
		// The scale-out was considered: the program's message was read.
		waitFor(t, "the program's message read", func() bool {
			_, ok := gw.proxy.scale.infos.get(hash, time.Now())
			return ok
		})
		l.waitOK(t, 50)
		l.end()
		if n := b.hits.Load(); n != 0 {
			t.Errorf("%d requests of a persistent program reached another node", n)
		}
		if l.failed.Load() != 0 {
			t.Errorf("%d failed: %s", l.failed.Load(), l.firstFail)
		}
	})
}

// TestHealthCheck: a node whose health checks fail leaves the rotation
// (while it still answers requests) and comes back once they pass.
func TestHealthCheck(t *testing.T) {
	core := startCore(t)
	a, b := startUpstream(t, "A"), startUpstream(t, "B")
	announce(t, core, a.base, testHash)
	announce(t, core, b.base, testHash)
	gw := startGateway(t, RoleConfig{CoreURL: core, DNSServer: "127.0.0.1:1", HealthInterval: 50 * time.Millisecond,
		HealthFailures: 2})
	waitUpstreams(t, gw, testHash, 2)
	l := startLoad(gw.URL(), hostOf(t, testHash, "gw.test"), 4)
	defer l.end()
	l.waitOK(t, 100)
	if a.hits.Load() == 0 || b.hits.Load() == 0 {
		t.Fatalf("load not spread: A %d, B %d", a.hits.Load(), b.hits.Load())
	}
	b.sick.Store(true)
	up := gw.proxy.metrics.upstreamUp.WithLabelValues(b.base)
	waitFor(t, "B down", func() bool { return testutil.ToFloat64(up) == 0 })
	l.waitOK(t, 50) // requests picked before B went down have ended
	hits := b.hits.Load()
	l.waitOK(t, 200)
	if n := b.hits.Load() - hits; n != 0 {
		t.Errorf("%d requests reached B while its health checks failed", n)
	}
	b.sick.Store(false)
	waitFor(t, "B up", func() bool { return testutil.ToFloat64(up) == 1 })
	hits = b.hits.Load()
	waitFor(t, "traffic at B again", func() bool { return b.hits.Load() > hits })
	l.end()
	if n := testutil.ToFloat64(gw.proxy.metrics.ejections.WithLabelValues(b.base, "health")); n != 1 {
		t.Errorf("B taken out %v times, want 1", n)
	}
	if l.failed.Load() != 0 {
		t.Errorf("%d failed: %s", l.failed.Load(), l.firstFail)
	}
}

// TestFailoverPlacement: the only node serving an on-demand program dies
// under load; the gateway starts the program on another known node and
// no client request fails.
func TestFailoverPlacement(t *testing.T) {
	core := startCore(t)
	hash := publishProgram(t, core, wasmtest.CGIModule("f", false), false)
	a, b := startUpstream(t, "A"), startUpstream(t, "B")
	announce(t, core, a.base, hash)
	gw := startGateway(t, RoleConfig{CoreURL: core, DNSServer: "127.0.0.1:1", ComputeNodes: []string{b.base}})
	waitUpstreams(t, gw, hash, 1)
	l := startLoad(gw.URL(), hostOf(t, hash, "gw.test"), 8)
	defer l.end()
	l.waitOK(t, 200)
	if n := b.hits.Load(); n != 0 {
		t.Fatalf("B got %d requests while A served alone", n)
	}
	a.srv.Close() // SIGKILL-like
	l.waitOK(t, 300)
	l.end()
	if n := testutil.ToFloat64(gw.proxy.metrics.placements.WithLabelValues(hash, b.base, "failover")); n != 1 {
		t.Errorf("placed on B %v times after A died, want 1", n)
	}
	if b.hits.Load() == 0 || l.failed.Load() != 0 {
		t.Errorf("B %d requests; %d failed (%s)", b.hits.Load(), l.failed.Load(), l.firstFail)
	}
	t.Logf("%d served, %d failed, B %d", l.ok.Load(), l.failed.Load(), b.hits.Load())
}

func FuzzParseDomains(f *testing.F) {
	f.Add([]byte(`{"a.example.org": {"type": "program", "message_id": "` + testHash + `"}, "b.example.org": null}`))
	f.Add([]byte(`{"A.Example.Org.": {"type": "instance", "message_id": "` + strings.ToUpper(testHash) + `"}}`))
	f.Add([]byte(`{"x": {"type": "ipfs"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		for name, h := range parseDomains(b) {
			if !validName(name) || !isHexHash(h) || strings.ToLower(name) != name {
				t.Fatalf("%q → %q", name, h)
			}
		}
	})
}
