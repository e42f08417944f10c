package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"
)

// Defaults of the active health checks.
const (
	DefaultHealthInterval = 5 * time.Second
	DefaultHealthTimeout  = 3 * time.Second
	DefaultHealthFailures = 2
)

// usagePath is the compute node's report of its capacity (spec
// compute-node.md), probed by every health check.
const usagePath = "/about/usage/system"

// usage is what the gateway reads of a node's /about/usage/system.
type usage struct {
	CPU struct {
		Count       int `json:"count"`
		LoadAverage struct {
			Load1 float64 `json:"load1"`
		} `json:"load_average"`
	} `json:"cpu"`
	Mem struct {
		TotalKB     int64 `json:"total_kB"`
		AvailableKB int64 `json:"available_kB"`
	} `json:"mem"`
	Active *bool `json:"active"`
}

// loadPerCPU is the node's one-minute load average per CPU.
func (u *usage) loadPerCPU() float64 {
	return u.CPU.LoadAverage.Load1 / float64(max(u.CPU.Count, 1))
}

// healthChecker probes every known compute node (Directory.Nodes) every
// interval: GET /about/usage/system must answer 200 with the node's
// usage (active unless it says otherwise), then each of paths must answer
// 2xx (e.g. /status/check/fastapi). A node that fails failures probes in
// a row is down (out of rotation) until a probe passes.
type healthChecker struct {
	dir      *Directory
	http     *http.Client
	interval time.Duration
	paths    []string
	failures int
	metrics  *metrics
	log      *slog.Logger
}

// Run probes until ctx ends.
func (h *healthChecker) Run(ctx context.Context) error {
	t := time.NewTicker(h.interval)
	defer t.Stop()
	for {
		h.round(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// round probes every node once, 16 at a time.
func (h *healthChecker) round(ctx context.Context) {
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for _, up := range h.dir.Nodes() {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			h.check(ctx, up)
		})
	}
	wg.Wait()
}

// check probes up once and updates its state.
func (h *healthChecker) check(ctx context.Context, up *Upstream) {
	err := h.probe(ctx, up)
	if ctx.Err() != nil {
		return
	}
	if err == nil {
		h.metrics.healthChecks.WithLabelValues(up.base, "ok").Inc()
		up.fails.Store(0)
		h.metrics.upstreamUp.WithLabelValues(up.base).Set(1)
		if up.down.CompareAndSwap(true, false) {
			h.log.Info("upstream healthy again", "upstream", up.base)
		}
		return
	}
	h.metrics.healthChecks.WithLabelValues(up.base, "fail").Inc()
	if int(up.fails.Add(1)) >= h.failures && up.down.CompareAndSwap(false, true) {
		h.metrics.upstreamUp.WithLabelValues(up.base).Set(0)
		h.metrics.ejections.WithLabelValues(up.base, "health").Inc()
		h.log.Warn("upstream down: its health checks fail", "upstream", up.base, "err", err)
	}
}

// probe runs the checks of up: its usage, then the extra paths.
func (h *healthChecker) probe(ctx context.Context, up *Upstream) error {
	u, err := fetchUsage(ctx, h.http, up.base)
	if err != nil {
		return err
	}
	up.setUsage(u)
	if u.Active != nil && !*u.Active {
		return fmt.Errorf("%s%s: not active", up.base, usagePath)
	}
	for _, p := range h.paths {
		if err := get2xx(ctx, h.http, up.base+p); err != nil {
			return err
		}
	}
	return nil
}

// fetchUsage reads base's /about/usage/system.
func fetchUsage(ctx context.Context, hc *http.Client, base string) (*usage, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+usagePath, nil)
	if err != nil {
		return nil, err
	}
	res, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s%s: %s", base, usagePath, res.Status)
	}
	var u usage
	if err := json.NewDecoder(io.LimitReader(res.Body, 1<<20)).Decode(&u); err != nil {
		return nil, fmt.Errorf("%s%s: %w", base, usagePath, err)
	}
	return &u, nil
}

// get2xx GETs u and fails unless it answers 2xx.
func get2xx(ctx context.Context, hc *http.Client, u string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	res, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	io.Copy(io.Discard, io.LimitReader(res.Body, 1<<20))
	if res.StatusCode/100 != 2 {
		return fmt.Errorf("%s: %s", u, res.Status)
	}
	return nil
}
