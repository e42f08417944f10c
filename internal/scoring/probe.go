package scoring

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"
)

// Timeouts of one probe request, each stretched by a random 0-30 % as the
// reference does, so that a node cannot tell a probe by its deadline.
const (
	probeTimeout     = 10 * time.Second
	fullCheckTimeout = 20 * time.Second
	maxProbeBody     = 1 << 20
)

// userAgent is what a browser of the programs sends: probes go through
// the paths user traffic takes and look like it.
const userAgent = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"

// prober sends the probes of one round.
type prober struct {
	http *http.Client
	// diagnostic is the hash of the diagnostic program (empty: not probed).
	diagnostic string
	fullCheck  bool
	// aggregateOwner is the owner of the corechannel aggregate the core
	// node probe reads.
	aggregateOwner string
	checks         func(ctx context.Context, hash string) []AppCheck
	now            func() time.Time
}

// answer is what one probe request got.
type answer struct {
	status  int
	header  http.Header
	body    []byte
	latency float64
}

// get sends one request and reads its answer; err only when no answer
// came.
func (p *prober) do(ctx context.Context, method, url string, body string, headers map[string]string, timeout time.Duration) (*answer, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(float64(timeout)*(1+0.3*rand.Float64())))
	defer cancel()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, r)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set("Accept", "*/*")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	start := time.Now()
	res, err := p.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, maxProbeBody))
	if err != nil {
		return nil, err
	}
	return &answer{status: res.StatusCode, header: res.Header, body: b, latency: time.Since(start).Seconds()}, nil
}

// latency sends GET url and returns its latency when it answered want.
func (p *prober) latency(ctx context.Context, url string, timeout time.Duration, want ...int) (*float64, *answer) {
	a, err := p.do(ctx, http.MethodGet, url, "", nil, timeout)
	if err != nil {
		return nil, nil
	}
	for _, w := range want {
		if a.status == w {
			return &a.latency, a
		}
	}
	return nil, a
}

// crn probes a compute node at base: the reference's checks (spec
// network.md §2.1), then the app-defined checks of every program in
// programs, in a random order.
func (p *prober) crn(ctx context.Context, id, base string, programs []string) CRNMetrics {
	m := CRNMetrics{NodeID: id, URL: base, MeasuredAt: unixSeconds(p.now())}
	for range 3 {
		if a, err := p.do(ctx, http.MethodGet, base+"/", "", nil, probeTimeout); err == nil {
			if v, ok := strings.CutPrefix(a.header.Get("Server"), "aleph-vm/"); ok {
				m.Version = &v
			}
			break
		}
	}
	m.BaseLatency, _ = p.latency(ctx, base+"/about/login", probeTimeout, http.StatusUnauthorized)
	m.BaseLatencyIPv4 = m.BaseLatency
	if p.diagnostic != "" {
		m.DiagnosticVMLatency, _ = p.latency(ctx, base+"/vm/"+p.diagnostic, probeTimeout, http.StatusOK)
	}
	if p.fullCheck {
		m.FullCheckLatency, _ = p.latency(ctx, base+"/status/check/fastapi", fullCheckTimeout, http.StatusOK)
	}
	progs := append([]string(nil), programs...)
	rand.Shuffle(len(progs), func(i, j int) { progs[i], progs[j] = progs[j], progs[i] })
	for _, h := range progs {
		checks := p.checks(ctx, h)
		if len(checks) == 0 {
			continue
		}
		if m.AppChecks == nil {
			m.AppChecks, m.AppCheckErrors = map[string]*float64{}, map[string]string{}
		}
		lat, err := p.app(ctx, base, h, checks)
		m.AppChecks[h] = lat
		if err != nil {
			m.AppCheckErrors[h] = err.Error()
		}
	}
	if len(m.AppCheckErrors) == 0 {
		m.AppCheckErrors = nil
	}
	return m
}

// app runs a program's checks on the node at base and returns their total
// time, or the first failure.
func (p *prober) app(ctx context.Context, base, hash string, checks []AppCheck) (*float64, error) {
	total := 0.0
	for _, c := range checks {
		a, err := p.do(ctx, c.Method, base+"/vm/"+hash+c.Path, c.Body, c.Headers, probeTimeout)
		if err != nil {
			return nil, err
		}
		if err := c.verify(a.status, string(a.body)); err != nil {
			return nil, fmt.Errorf("%s %s: %w", c.Method, c.Path, err)
		}
		total += a.latency
	}
	return &total, nil
}

// ccn probes a core node at base (spec network.md §2.1).
func (p *prober) ccn(ctx context.Context, id, base string) CCNMetrics {
	m := CCNMetrics{NodeID: id, URL: base, MeasuredAt: unixSeconds(p.now())}
	m.BaseLatency, _ = p.latency(ctx, base+"/api/v0/info/public.json", probeTimeout, http.StatusOK)
	m.BaseLatencyIPv4 = m.BaseLatency
	// The reference reads /metrics.json; a goaleph node serves the same
	// figures in Prometheus form at /metrics, and its version at /version.
	m.MetricsLatency, _ = p.latency(ctx, base+"/metrics.json", probeTimeout, http.StatusOK)
	if m.MetricsLatency == nil {
		m.MetricsLatency, _ = p.latency(ctx, base+"/metrics", probeTimeout, http.StatusOK)
	}
	if _, a := p.latency(ctx, base+"/api/v0/version", probeTimeout, http.StatusOK); a != nil {
		var doc struct {
			Version string `json:"version"`
		}
		if json.NewDecoder(bytes.NewReader(a.body)).Decode(&doc) == nil && doc.Version != "" {
			m.Version = &doc.Version
		}
	}
	// The aggregate read goes to the database whether the registry exists
	// yet or not: a 404 is a measured answer too.
	m.AggregateLatency, _ = p.latency(ctx, base+"/api/v0/aggregates/"+p.aggregateOwner+".json?keys=corechannel&limit=50",
		probeTimeout, http.StatusOK, http.StatusNotFound)
	return m
}

func unixSeconds(t time.Time) float64 { return float64(t.UnixMilli()) / 1000 }
