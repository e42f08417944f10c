package gateway

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/goaleph/goaleph/internal/compute/crn"
)

// TestRouting: a zone host and a custom domain reach the program, an
// unknown host gets 404 without a DNS query, and so does a custom domain
// without a record, once.
func TestRouting(t *testing.T) {
	p := startProgram(t)
	d := p.dns
	gw := startGateway(t, RoleConfig{CoreURL: p.core, DNSServer: d.addr})
	waitUpstreams(t, gw, testHash, 1)
	c := &http.Client{Timeout: 30 * time.Second}
	for _, host := range []string{hostOf(t, testHash, "gw.test"), "app.example.test", "APP.example.test:80"} {
		code, body, err := get(c, gw.URL(), host, "/x?q=1")
		if err != nil || code != 200 || !strings.HasPrefix(body, "A /vm/"+testHash+"/x ") {
			t.Errorf("%s: %d %q %v", host, code, body, err)
		}
	}
	queries := d.queries.Load()
	for _, host := range []string{"127.0.0.1", "nothash.gw.test", "x", "a..b"} {
		if code, body, err := get(c, gw.URL(), host, "/"); err != nil || code != 404 || !strings.Contains(body, "unknown_host") {
			t.Errorf("%s: %d %q %v", host, code, body, err)
		}
	}
	if n := d.queries.Load() - queries; n != 0 {
		t.Errorf("%d DNS queries for hosts that are not domains", n)
	}
	for range 20 {
		if code, _, err := get(c, gw.URL(), "missing.example.test", "/"); err != nil || code != 404 {
			t.Fatalf("missing.example.test: %d %v", code, err)
		}
	}
	// One query per record name: _aleph-id, then _control (the owner of
	// a domains aggregate).
	if n := d.queries.Load() - queries; n != 2 {
		t.Errorf("%d DNS queries for 20 requests to one unknown domain, want 2", n)
	}
	// A program that does not exist (no message on the core node).
	other := strings.Repeat("ab", 32)
	if code, body, err := get(c, gw.URL(), hostOf(t, other, "gw.test"), "/"); err != nil || code != 404 || !strings.Contains(body, "unknown_program") {
		t.Errorf("unknown program: %d %q %v", code, body, err)
	}
	// The zone's own page.
	if code, _, err := get(c, gw.URL(), "gw.test", "/"); err != nil || code != 200 {
		t.Errorf("zone page: %d %v", code, err)
	}
	// Oversized headers: 431.
	req, _ := http.NewRequest(http.MethodGet, gw.URL()+"/", nil)
	req.Host = "app.example.test"
	req.Header.Set("X-Big", strings.Repeat("x", 2*DefaultHTTP.MaxHeaderBytes))
	if res, err := c.Do(req); err != nil || res.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("oversized headers: %v %v", res, err)
	} else {
		res.Body.Close()
	}
}

// TestFailover: two nodes under steady GET load; one is killed, then the
// other answers 502: no client request fails, and a dead node gets no
// traffic once ejected.
func TestFailover(t *testing.T) {
	core := startCore(t)
	a, b, c := startUpstream(t, "A"), startUpstream(t, "B"), startUpstream(t, "C")
	for _, u := range []*upstream{a, b, c} {
		announce(t, core, u.base, testHash)
	}
	gw := startGateway(t, RoleConfig{CoreURL: core, DNSServer: "127.0.0.1:1"})
	waitUpstreams(t, gw, testHash, 3)
	c.srv.Close() // C is dead before any request: found at the first one
	l := startLoad(gw.URL(), hostOf(t, testHash, "gw.test"), 8)
	defer l.end()
	l.waitOK(t, 300)
	if a.hits.Load() == 0 || b.hits.Load() == 0 {
		t.Fatalf("load not spread: A %d, B %d", a.hits.Load(), b.hits.Load())
	}

	a.srv.Close() // SIGKILL-like: listener and connections closed at once
	l.waitOK(t, 300)
	sentToA := upstreamRequests(gw, a.base)
	l.waitOK(t, 300)
	if n := upstreamRequests(gw, a.base) - sentToA; n != 0 {
		t.Errorf("%v requests sent to the dead node after its ejection", n)
	}

	// A node that answers 502 is ejected the same way. A and C are still
	// ejected, so a healthy node D joins first.
	d := startUpstream(t, "D")
	announce(t, core, d.base, testHash)
	waitUpstreams(t, gw, testHash, 4)
	b.fail.Store(http.StatusBadGateway)
	l.waitOK(t, 300)
	hitsB := b.hits.Load()
	l.waitOK(t, 300)
	if n := b.hits.Load() - hitsB; n != 0 {
		t.Errorf("%d requests reached the 502 node after its ejection", n)
	}
	l.end()
	t.Logf("failover: %d requests served, %d failed; retries %v, ejections A %v, B %v",
		l.ok.Load(), l.failed.Load(), testutil.ToFloat64(gw.proxy.metrics.retries.WithLabelValues(testHash)),
		testutil.ToFloat64(gw.proxy.metrics.ejections.WithLabelValues(a.base, "connect")),
		testutil.ToFloat64(gw.proxy.metrics.ejections.WithLabelValues(b.base, "502")))
	if l.failed.Load() != 0 {
		t.Errorf("%d client requests failed (first: %s), want 0", l.failed.Load(), l.firstFail)
	}
	if testutil.ToFloat64(gw.proxy.metrics.ejections.WithLabelValues(b.base, "502")) != 1 {
		t.Errorf("B not ejected once for its 502")
	}
}

// TestSlowClient: a client that never finishes its headers is cut after
// the header timeout.
func TestSlowClient(t *testing.T) {
	rc := RoleConfig{CoreURL: "http://127.0.0.1:1", DNSServer: "127.0.0.1:1"}
	rc.HTTP.ReadHeaderTimeout = 300 * time.Millisecond
	gw := startGateway(t, rc)
	// Taken before the dial: the server's header deadline starts when it
	// accepts, which may be before Dial returns here.
	start := time.Now()
	conn, err := net.Dial("tcp", gw.HTTPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("GET / HTTP/1.1\r\nHost: app.example.test\r\nX-Slow: ")); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	b, err := io.ReadAll(conn)
	if err != nil {
		t.Fatalf("the connection was not closed: %v (read %q)", err, b)
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Errorf("closed after %v, before the header timeout", d)
	}
}

// TestDirectory: only running entries with a fresh heartbeat count, and
// --trusted-node keeps only the nodes named.
func TestDirectory(t *testing.T) {
	core := startCore(t)
	old := time.Now().Add(-time.Hour).Unix()
	now := time.Now().Unix()
	url := func(host string) string { return "http://" + host + "/vm/" + testHash }
	fresh := announceEntry(t, core, testHash, crn.Announcement{Status: crn.StatusRunning, URL: url("10.0.0.1:4020"), Since: old, Seen: now})
	announceEntry(t, core, testHash, crn.Announcement{Status: crn.StatusRunning, URL: url("10.0.0.2:4020"), Since: old, Seen: old})
	announceEntry(t, core, testHash, crn.Announcement{Status: crn.StatusStopped, Since: now})
	announceEntry(t, core, testHash, crn.Announcement{Status: crn.StatusRunning, URL: "ftp://10.0.0.3/vm/" + testHash, Since: now, Seen: now})
	other := announceEntry(t, core, testHash, crn.Announcement{Status: crn.StatusRunning, URL: url("10.0.0.4:4020"), Since: now, Seen: now})

	d := NewDirectory(core, time.Hour, nil, nil, slog.New(slog.DiscardHandler))
	if err := d.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := d.Upstreams(testHash); !slices.Equal(got, []string{"http://10.0.0.1:4020", "http://10.0.0.4:4020"}) {
		t.Errorf("upstreams %v", got)
	}
	d = NewDirectory(core, time.Hour, []string{strings.ToUpper(fresh)}, nil, slog.New(slog.DiscardHandler))
	if err := d.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := d.Upstreams(testHash); !slices.Equal(got, []string{"http://10.0.0.1:4020"}) {
		t.Errorf("trusting %s only: upstreams %v (not %s)", fresh, got, other)
	}
}
