package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/goaleph/goaleph/internal/compute/crn"
)

// DefaultRefreshInterval is how often the directory reads the
// announcements again.
const DefaultRefreshInterval = 10 * time.Second

// maxAnnouncementPages bounds one refresh (500 aggregates a page).
const maxAnnouncementPages = 200

// Directory knows which compute nodes run which program: it reads every
// "executions" aggregate from a core node (the API has no query by
// program, so it lists them all, 500 a page) and keeps the running,
// fresh entries. An Upstream outlives refreshes, so its health and load
// carry over. Safe for concurrent use.
type Directory struct {
	core     string
	http     *http.Client
	interval time.Duration
	trusted  map[string]bool // node addresses (lower case); empty: all
	log      *slog.Logger
	now      func() time.Time

	mu        sync.RWMutex
	byProgram map[string][]target
	nodes     map[string]*Upstream // announcing now, by base URL
	// pool is every compute node known (announcing now, configured, or
	// announcing before and still passing its health checks), the
	// candidates of a program no node runs yet (scale.go).
	pool   map[string]*Upstream
	static []string
	// scores (base URL → total score) and threshold are the latest of
	// the score book (scores.go); nil: none read.
	scores    map[string]float64
	threshold float64
	ready     chan struct{}
	once      sync.Once
}

// target is one node serving one program, at url (the announced
// "<public url>/vm/<hash>").
type target struct {
	up  *Upstream
	url string
}

// NewDirectory returns a directory reading coreURL every interval,
// keeping only the nodes in trusted (ETH addresses; empty: every node).
func NewDirectory(coreURL string, interval time.Duration, trusted []string, hc *http.Client, log *slog.Logger) *Directory {
	if interval <= 0 {
		interval = DefaultRefreshInterval
	}
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	d := &Directory{core: strings.TrimRight(coreURL, "/"), http: hc, interval: interval, trusted: map[string]bool{},
		log: log, now: time.Now, byProgram: map[string][]target{}, nodes: map[string]*Upstream{}, pool: map[string]*Upstream{}, ready: make(chan struct{})}
	for _, a := range trusted {
		d.trusted[strings.ToLower(a)] = true
	}
	return d
}

// Run refreshes the directory every interval until ctx ends. A failed
// refresh is logged and the previous view kept.
func (d *Directory) Run(ctx context.Context) error {
	t := time.NewTicker(d.interval)
	defer t.Stop()
	for {
		if err := d.Refresh(ctx); err != nil && ctx.Err() == nil {
			d.log.Warn("reading the executions announcements", "err", err, "core", d.core)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Ready is closed after the first successful refresh.
func (d *Directory) Ready() <-chan struct{} { return d.ready }

type aggregatesPage struct {
	Aggregates []struct {
		Address string                      `json:"address"`
		Content map[string]crn.Announcement `json:"content"`
	} `json:"aggregates"`
	NextCursor *string `json:"next_cursor"`
}

// Refresh reads the announcements now.
func (d *Directory) Refresh(ctx context.Context) error {
	now := d.now()
	progs := map[string][]target{}
	nodes := map[string]*Upstream{}
	d.mu.RLock()
	old := d.pool
	d.mu.RUnlock()
	cursor := ""
	for range maxAnnouncementPages {
		page, err := d.page(ctx, cursor)
		if err != nil {
			return err
		}
		for _, a := range page.Aggregates {
			if len(d.trusted) > 0 && !d.trusted[strings.ToLower(a.Address)] {
				continue
			}
			for hash, e := range a.Content {
				base, ok := nodeBase(e.URL, hash)
				if e.Status != crn.StatusRunning || e.Stale(now) || !ok {
					continue
				}
				up := nodes[base]
				if up == nil {
					if up = old[base]; up == nil {
						up = newUpstream(base)
					}
					nodes[base] = up
				}
				progs[hash] = append(progs[hash], target{up: up, url: e.URL})
			}
		}
		if page.NextCursor == nil || *page.NextCursor == "" {
			break
		}
		cursor = *page.NextCursor
	}
	for _, ts := range progs {
		slices.SortFunc(ts, func(a, b target) int { return strings.Compare(a.up.base, b.up.base) })
	}
	pool := maps.Clone(nodes)
	for _, base := range d.static {
		if pool[base] == nil {
			if pool[base] = old[base]; pool[base] == nil {
				pool[base] = newUpstream(base)
			}
		}
	}
	for base, up := range old { // remembered while it passes its checks
		if pool[base] == nil && !up.down.Load() {
			pool[base] = up
		}
	}
	d.mu.Lock()
	d.byProgram, d.nodes, d.pool = progs, nodes, pool
	d.mu.Unlock()
	for _, up := range pool {
		d.applyScore(up)
	}
	d.once.Do(func() { close(d.ready) })
	return nil
}

func (d *Directory) page(ctx context.Context, cursor string) (*aggregatesPage, error) {
	q := url.Values{"keys": {crn.AnnouncementKey}, "pagination": {"500"}, "cursor": {cursor}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.core+"/api/v0/aggregates.json?"+q.Encode(), nil)
	if err != nil {
		return nil, err
	}
	res, err := d.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(res.Body, 512))
		return nil, fmt.Errorf("core node: %s: %s", res.Status, b)
	}
	var p aggregatesPage
	if err := json.NewDecoder(io.LimitReader(res.Body, 256<<20)).Decode(&p); err != nil {
		return nil, fmt.Errorf("core node: aggregates: %w", err)
	}
	return &p, nil
}

// nodeBase is the node's base URL of an announced program URL
// "<base>/vm/<hash>" (an http or https URL).
func nodeBase(u, hash string) (string, bool) {
	base, ok := strings.CutSuffix(u, "/vm/"+hash)
	if !ok {
		return "", false
	}
	p, err := url.Parse(base)
	if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
		return "", false
	}
	return base, true
}

// AddNodes makes the compute nodes at bases (base URLs, http or https)
// known whether they announce anything or not: candidates for a program
// no node runs yet.
func (d *Directory) AddNodes(bases ...string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, b := range bases {
		b = strings.TrimRight(b, "/")
		if p, err := url.Parse(b); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" || p.Path != "" {
			return fmt.Errorf("gateway: compute node %q is not an http(s) base URL", b)
		}
		d.static = append(d.static, b)
		if d.pool[b] == nil {
			d.pool[b] = newUpstream(b)
		}
	}
	return nil
}

// Nodes returns every compute node known, sorted by base URL.
func (d *Directory) Nodes() []*Upstream {
	d.mu.RLock()
	out := slices.Collect(maps.Values(d.pool))
	d.mu.RUnlock()
	slices.SortFunc(out, func(a, b *Upstream) int { return strings.Compare(a.base, b.base) })
	return out
}

// targets returns the nodes serving hash (shared: do not modify).
func (d *Directory) targets(hash string) []target {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.byProgram[hash]
}

// Upstreams returns the base URLs of the nodes serving hash, sorted.
func (d *Directory) Upstreams(hash string) []string {
	var out []string
	for _, t := range d.targets(hash) {
		out = append(out, t.up.base)
	}
	return out
}

// Programs returns the hashes of the programs some compute node runs,
// sorted.
func (d *Directory) Programs() []string {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return slices.Sorted(maps.Keys(d.byProgram))
}
