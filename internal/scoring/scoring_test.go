package scoring

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/goaleph/goaleph/chain/eth"
	"github.com/goaleph/goaleph/chain/eth/ethtest"
	"github.com/goaleph/goaleph/client"
	"github.com/goaleph/goaleph/internal/compute/crn"
	"github.com/goaleph/goaleph/internal/compute/crn/crntest"
	"github.com/goaleph/goaleph/internal/compute/wasm/wasmtest"
	"github.com/goaleph/goaleph/internal/devnet"
	"github.com/goaleph/goaleph/internal/gateway"
	"github.com/goaleph/goaleph/internal/lifecycle/lifecycletest"
)

// Test probe cadence: a round every interval, scores over the last
// window, each period scored settle after its end.
const (
	testInterval = 2 * time.Second
	testWindow   = 3 * testInterval
	testSettle   = testInterval / 2
)

// patched is a compute node's wrapper that answers the app check of one
// program wrongly (once armed) and counts the program's requests that came
// through a gateway (those carry X-Forwarded-For; the scorers' come
// straight).
type patched struct {
	program atomic.Pointer[string]
	broken  bool
	viaGW   atomic.Int64
}

func (p *patched) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := p.program.Load()
		if h != nil && strings.HasPrefix(r.URL.Path, "/vm/"+*h) {
			if r.Header.Get("X-Forwarded-For") != "" {
				p.viaGW.Add(1)
			}
			if p.broken && r.URL.Path == "/vm/"+*h+"/health" {
				io.WriteString(w, "something else")
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// TestLyingScorerChangesNothing: of two compute nodes serving a program
// that declares an app check, one answers the check wrongly. Three core
// nodes score them, one of which lies (the broken node perfect, the good
// one dead). Within three probe rounds of the first app check, the scores
// every scorer publishes put the broken node below the threshold and keep
// the good one above it; a gateway weighing by score then sends the
// broken node no traffic.
func TestLyingScorerChangesNothing(t *testing.T) {
	nw, err := devnet.Start(t.Context(), devnet.Config{Nodes: 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := nw.Stop(); err != nil {
			t.Errorf("devnet stop: %v", err)
		}
	})
	core := nw.Nodes()[0].APIURL()
	goodP, badP := &patched{}, &patched{broken: true}
	good := crntest.StartWith(t, core, goodP.wrap)
	bad := crntest.StartWith(t, core, badP.wrap)
	hash := crntest.ProgramWith(t, core, wasmtest.CGIModule("hello from the program", false), map[string]any{
		"metadata": map[string]any{ChecksKey: []map[string]any{{"path": "/health", "body_contains": []string{"hello"}}}},
	})
	goodP.program.Store(&hash)
	badP.program.Store(&hash)
	for _, n := range []*crntest.Node{good, bad} {
		if st, body := n.Call(t, hash, "/"); st != 200 || body != "hello from the program" {
			t.Fatalf("%s: %d %q", n.URL, st, body)
		}
	}

	var scorers []*eth.Account
	var addrs []string
	for range 3 {
		a := ethtest.Account(t)
		scorers, addrs = append(scorers, a), append(addrs, a.Address())
	}
	var cores []string
	for _, n := range nw.Nodes() {
		cores = append(cores, n.APIURL())
	}
	liar := func(m *Metrics) {
		for i := range m.CRN {
			x := &m.CRN[i]
			switch x.URL {
			case bad.URL: // perfect
				fast, v := 0.001, "goaleph-test"
				x.BaseLatency, x.BaseLatencyIPv4, x.Version = &fast, &fast, &v
				for h := range x.AppChecks {
					x.AppChecks[h] = &fast
				}
				x.AppCheckErrors = nil
			case good.URL: // dead
				x.BaseLatency, x.BaseLatencyIPv4, x.Version = nil, nil, nil
				for h := range x.AppChecks {
					x.AppChecks[h] = nil
				}
			}
		}
	}
	for i, n := range nw.Nodes() {
		cfg := Config{Client: client.New(n.APIURL()), Signer: scorers[i], Interval: testInterval, Window: testWindow,
			Settle: testSettle, Spread: testInterval / 4, Scorers: addrs, CoreNodes: cores, PublishScores: true}
		if i == 2 {
			cfg.lie = liar
		}
		s, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- s.Run(ctx) }()
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("scorer %d: %v", i, err)
			}
		})
	}

	// Wait for each scorer's first scores post that marks the broken node.
	c := client.New(core)
	deadline := time.Now().Add(3 * time.Minute)
	var verdicts map[string]client.Post
	for len(verdicts) < len(addrs) {
		if time.Now().After(deadline) {
			sp := scoresPosts(t, c, ScoresPostType, addrs)
			mp := scoresPosts(t, c, MetricsPostType, addrs)
			if len(sp) > 0 {
				t.Logf("a scores post: %s", sp[0].Content)
			}
			if len(mp) > 0 {
				t.Logf("a measurements post: %s", mp[0].Content)
			}
			t.Fatalf("no scores put the broken node below %.2f for every scorer (got %d; %d scores posts, %d measurements posts)",
				threshold, len(verdicts), len(sp), len(mp))
		}
		time.Sleep(200 * time.Millisecond)
		verdicts = firstLow(t, c, addrs, bad.URL)
	}
	firstCheck := firstAppCheck(t, c, addrs[0], bad.URL)
	for i, a := range addrs {
		p := verdicts[strings.ToLower(a)]
		var sp ScoresPost
		if err := json.Unmarshal(p.Content, &sp); err != nil {
			t.Fatal(err)
		}
		badS, goodS := entry(sp.Scores.CRN, bad.URL), entry(sp.Scores.CRN, good.URL)
		t.Logf("scorer %d, period %s to %s: broken node %.3f, good node %.3f", i, sp.Period.From, sp.Period.To, badS.TotalScore, goodS.TotalScore)
		if goodS.TotalScore < threshold {
			t.Errorf("scorer %d: the good node scores %.3f (%v)", i, goodS.TotalScore, goodS.Measurements)
		}
		// Rounds of scorer 0 from its first app check of the broken node
		// up to this verdict.
		rounds := roundsBetween(t, c, addrs[0], firstCheck, p.Time)
		t.Logf("scorer %d: verdict %d probe rounds after the first app check", i, rounds)
		if rounds > 3 {
			t.Errorf("scorer %d: the broken node fell below the threshold %d rounds after its first app check", i, rounds)
		}
	}
	// The liar did lie: its measurements have the broken node pass.
	if !lied(t, c, addrs[2], bad.URL) {
		t.Fatal("the lying scorer's measurements do not say the broken node passes")
	}

	// A gateway reading the scores sends the broken node nothing, the good
	// one everything; one that does not read them uses both.
	plain := startGateway(t, gateway.RoleConfig{CoreURL: core})
	scored := startGateway(t, gateway.RoleConfig{CoreURL: core, ScoreSenders: addrs, ScoresInterval: 200 * time.Millisecond})
	for _, gw := range []*gateway.Role{plain, scored} {
		waitFor(t, "the gateway's directory lists both nodes", func() bool { return len(gw.Directory().Upstreams(hash)) == 2 })
	}
	waitFor(t, "the scored gateway reads the scores", func() bool {
		return strings.Contains(metricsOf(t, scored), `aleph_gateway_upstream_score{upstream="`+bad.URL+`"}`)
	})
	host := hostOf(t, hash)
	send := func(gw *gateway.Role, n int) {
		for range n {
			if st, body := get(t, gw.URL(), host); st != 200 || body != "hello from the program" {
				t.Fatalf("through the gateway: %d %q", st, body)
			}
		}
	}
	send(plain, 40)
	if goodP.viaGW.Load() == 0 || badP.viaGW.Load() == 0 {
		t.Fatalf("without scores: good node %d requests, broken node %d; want both", goodP.viaGW.Load(), badP.viaGW.Load())
	}
	g0, b0 := goodP.viaGW.Load(), badP.viaGW.Load()
	send(scored, 40)
	if d := badP.viaGW.Load() - b0; d != 0 {
		t.Errorf("the broken node got %d requests through the scored gateway", d)
	}
	if d := goodP.viaGW.Load() - g0; d != 40 {
		t.Errorf("the good node got %d of 40 requests through the scored gateway", d)
	}
}

// threshold is the gateway's default, in the scores' unit.
const threshold = gateway.DefaultScoreThresholdPercent / 100.0

func scoresPosts(t *testing.T, c *client.Client, typ string, addrs []string) []client.Post {
	t.Helper()
	var out []client.Post
	for page := 1; ; page++ {
		p, err := c.Posts(t.Context(), client.PostFilter{Types: []string{typ}, Channels: []string{Channel}, Addresses: addrs, Page: page, Pagination: 200})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p.Posts...)
		if len(p.Posts) == 0 || page*p.PerPage >= p.Total {
			return out
		}
	}
}

// firstLow returns, per scorer, its earliest scores post in which the
// node at url is below the threshold.
func firstLow(t *testing.T, c *client.Client, addrs []string, url string) map[string]client.Post {
	out := map[string]client.Post{}
	for _, p := range scoresPosts(t, c, ScoresPostType, addrs) {
		var sp ScoresPost
		if json.Unmarshal(p.Content, &sp) != nil {
			continue
		}
		e := entry(sp.Scores.CRN, url)
		a := strings.ToLower(p.Address)
		if e.NodeID != "" && e.TotalScore < threshold && (out[a].ItemHash == "" || p.Time < out[a].Time) {
			out[a] = p
		}
	}
	return out
}

func entry(ns []NodeScore, url string) NodeScore {
	for _, n := range ns {
		if n.URL == url {
			return n
		}
	}
	return NodeScore{}
}

// measurements returns addr's measurements posts with their time.
func measurements(t *testing.T, c *client.Client, addr string) map[float64]MetricsPost {
	out := map[float64]MetricsPost{}
	for _, p := range scoresPosts(t, c, MetricsPostType, []string{addr}) {
		var m MetricsPost
		if json.Unmarshal(p.Content, &m) == nil {
			out[p.Time] = m
		}
	}
	return out
}

// firstAppCheck is the time of addr's first round that ran an app check
// on the node at url.
func firstAppCheck(t *testing.T, c *client.Client, addr, url string) float64 {
	first := 0.0
	for at, m := range measurements(t, c, addr) {
		for _, x := range m.Metrics.CRN {
			if x.URL == url && len(x.AppChecks) > 0 && (first == 0 || at < first) {
				first = at
			}
		}
	}
	if first == 0 {
		t.Fatalf("%s never ran an app check on %s", addr, url)
	}
	return first
}

// roundsBetween counts addr's rounds published in [from, to].
func roundsBetween(t *testing.T, c *client.Client, addr string, from, to float64) int {
	n := 0
	for at := range measurements(t, c, addr) {
		if at >= from && at <= to {
			n++
		}
	}
	return n
}

// lied reports whether addr's measurements have the node at url pass its
// app checks.
func lied(t *testing.T, c *client.Client, addr, url string) bool {
	for _, m := range measurements(t, c, addr) {
		for _, x := range m.Metrics.CRN {
			if x.URL != url {
				continue
			}
			for _, l := range x.AppChecks {
				if l != nil {
					return true
				}
			}
		}
	}
	return false
}

func startGateway(t *testing.T, rc gateway.RoleConfig) *gateway.Role {
	t.Helper()
	rc.Listen, rc.MetricsListen, rc.Zone, rc.RefreshInterval = "127.0.0.1:0", "127.0.0.1:0", "gw.test", 200*time.Millisecond
	r, err := gateway.NewRole(t.Context(), rc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(lifecycletest.Start(context.Background(), t, r, "gateway"))
	return r
}

func hostOf(t *testing.T, hash string) string {
	label, err := crn.HostLabel(hash)
	if err != nil {
		t.Fatal(err)
	}
	return label + ".gw.test"
}

func get(t *testing.T, base, host string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, base+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func metricsOf(t *testing.T, r *gateway.Role) string {
	t.Helper()
	res, err := http.Get(r.MetricsURL())
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return string(b)
}

// waitFor polls cond for up to a minute.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out: %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
