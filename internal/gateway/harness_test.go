package gateway

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/goaleph/goaleph/chain/eth/ethtest"
	"github.com/goaleph/goaleph/client"
	"github.com/goaleph/goaleph/internal/compute/crn"
	"github.com/goaleph/goaleph/internal/devnet/devnettest"
	"github.com/goaleph/goaleph/internal/lifecycle/lifecycletest"
)

// startCore starts a real core node (a one-node devnet) and returns its
// API URL.
func startCore(t testing.TB) string {
	t.Helper()
	return devnettest.Core(t).APIURL()
}

// announce publishes, as a new compute node, that it runs hash at
// base+"/vm/"+hash (its executions aggregate, as crn's announcer writes
// it), with a fresh heartbeat.
func announce(t testing.TB, coreURL, base, hash string) {
	t.Helper()
	now := time.Now().Unix()
	announceEntry(t, coreURL, hash, crn.Announcement{Status: crn.StatusRunning, URL: base + "/vm/" + hash, Backend: "wasm", Since: now, Seen: now})
}

// announceEntry publishes entry for hash as a new compute node and
// returns the node's address.
func announceEntry(t testing.TB, coreURL, hash string, entry crn.Announcement) string {
	t.Helper()
	a := ethtest.Account(t)
	res, err := client.New(coreURL).UpdateAggregate(t.Context(), a, crn.AnnouncementKey,
		map[string]crn.Announcement{hash: entry}, client.WriteOptions{Sync: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != client.StatusProcessed {
		t.Fatalf("announcement %s", res.Status)
	}
	return a.Address()
}

// program is the setting of most tests: a core node, a compute node A
// (a real HTTP server) announcing testHash, and a DNS server where
// app.example.test names testHash.
type program struct {
	core string
	a    *upstream
	dns  *testDNS
}

func startProgram(t testing.TB) program {
	t.Helper()
	p := program{core: startCore(t), a: startUpstream(t, "A"), dns: startDNS(t)}
	announce(t, p.core, p.a.base, testHash)
	p.dns.setTXT("app.example.test", testHash)
	return p
}

// upstream is a real HTTP server standing for a compute node: it answers
// /vm/<hash>/… with its name, or with status fail when set, and
// /about/usage/system with availKB of memory available (unless sick).
type upstream struct {
	name    string
	srv     *http.Server
	base    string
	hits    atomic.Int64
	fail    atomic.Int32
	sick    atomic.Bool  // its health checks fail
	availKB atomic.Int64 // memory it reports available
	probes  atomic.Int64
	delay   atomic.Int64 // nanoseconds each program request takes
}

func startUpstream(t testing.TB, name string) *upstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &upstream{name: name, base: "http://" + ln.Addr().String()}
	u.availKB.Store(8 << 20)
	u.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/about/usage/system" {
			u.probes.Add(1)
			if u.sick.Load() {
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			fmt.Fprintf(w, `{"cpu":{"count":2,"load_average":{"load1":0.5}},"mem":{"total_kB":16000000,"available_kB":%d},"active":true}`, u.availKB.Load())
			return
		}
		u.hits.Add(1)
		if d := u.delay.Load(); d > 0 {
			time.Sleep(time.Duration(d)) // the program's own time to answer
		}
		if code := u.fail.Load(); code != 0 {
			w.WriteHeader(int(code))
			return
		}
		if !strings.HasPrefix(r.URL.Path, "/vm/") {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintf(w, "%s %s %s", u.name, r.URL.Path, r.Header.Get("X-Forwarded-Host"))
	})}
	go u.srv.Serve(ln)
	t.Cleanup(func() { u.srv.Close() })
	return u
}

// startGateway runs a gateway role until the test ends.
func startGateway(t testing.TB, rc RoleConfig) *Role {
	t.Helper()
	r, stop := runGateway(t, rc)
	t.Cleanup(stop)
	return r
}

// runGateway runs a gateway role (test defaults for what rc leaves
// empty) until stop is called.
func runGateway(t testing.TB, rc RoleConfig) (*Role, func()) {
	t.Helper()
	orDefault(&rc.Listen, "127.0.0.1:0")
	orDefault(&rc.MetricsListen, "127.0.0.1:0")
	orDefault(&rc.Zone, "gw.test")
	orDefault(&rc.RefreshInterval, 200*time.Millisecond)
	r, err := NewRole(t.Context(), rc)
	if err != nil {
		t.Fatal(err)
	}
	return r, lifecycletest.Start(context.Background(), t, r, "gateway")
}

// waitUpstreams waits until the gateway's directory lists n nodes for
// hash.
func waitUpstreams(t testing.TB, r *Role, hash string, n int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for len(r.Directory().Upstreams(hash)) != n {
		if time.Now().After(deadline) {
			t.Fatalf("the directory lists %v for %s, want %d nodes", r.Directory().Upstreams(hash), hash, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// hostOf is the zone host of hash.
func hostOf(t testing.TB, hash, zone string) string {
	label, err := crn.HostLabel(hash)
	if err != nil {
		t.Fatal(err)
	}
	return label + "." + zone
}

// get sends GET path to the gateway with Host host and returns the status
// and body.
func get(c *http.Client, gw, host, path string) (int, string, error) {
	req, err := http.NewRequest(http.MethodGet, gw+path, nil)
	if err != nil {
		return 0, "", err
	}
	req.Host = host
	res, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, string(b), err
}

// load sends GETs from n clients until stop is closed, counting the
// answers and the failures (an error or a status other than 200).
type load struct {
	ok, failed atomic.Int64
	mu         sync.Mutex
	firstFail  string
	wg         sync.WaitGroup
	stop       chan struct{}
	once       sync.Once
}

func startLoad(gw, host string, n int) *load {
	l := &load{stop: make(chan struct{})}
	c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: n}}
	for range n {
		l.wg.Go(func() {
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				code, body, err := get(c, gw, host, "/path")
				if err == nil && code == http.StatusOK {
					l.ok.Add(1)
					continue
				}
				if l.failed.Add(1) == 1 {
					l.mu.Lock()
					l.firstFail = fmt.Sprintf("%d %q %v", code, body, err)
					l.mu.Unlock()
				}
			}
		})
	}
	return l
}

// waitOK waits until the load has n more successes than at the call.
func (l *load) waitOK(t testing.TB, n int64) {
	t.Helper()
	want := l.ok.Load() + n
	deadline := time.Now().Add(60 * time.Second)
	for l.ok.Load() < want {
		if time.Now().After(deadline) {
			t.Fatalf("%d requests served, want %d (%d failed: %s)", l.ok.Load(), want, l.failed.Load(), l.firstFail)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// end stops the clients and waits for them (idempotent).
func (l *load) end() {
	l.once.Do(func() { close(l.stop) })
	l.wg.Wait()
}

// upstreamRequests is the gateway's count of requests sent to base.
func upstreamRequests(r *Role, base string) float64 {
	var sum float64
	for _, code := range []string{"200", "502", "503", "504", "error"} {
		sum += testutil.ToFloat64(r.proxy.metrics.requests.WithLabelValues(base, code))
	}
	return sum
}
