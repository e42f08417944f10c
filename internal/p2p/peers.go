package p2p

import (
	"context"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Peer is an entry of the peer table.
type Peer struct {
	// ID is the libp2p peer ID (empty for an HTTP peer).
	ID peer.ID
	// Type is "P2P" or "HTTP", as in alive messages.
	Type string
	// Address is a multiaddr with /p2p/<id> (P2P) or an API base URL (HTTP).
	Address string
	// Source is where the peer was learnt: "bootstrap", "config" or "alive".
	Source string
	// LastSeen is when the peer was last announced (or configured).
	LastSeen time.Time
	// Reachable reports, for an HTTP peer, whether the last probe of
	// /api/v0/version succeeded.
	Reachable bool
}

// Peer types of alive messages.
const (
	peerP2P  = "P2P"
	peerHTTP = "HTTP"
)

// peerTable holds the known peers. Safe for concurrent use.
type peerTable struct {
	mu    sync.Mutex
	p2p   map[peer.ID]*Peer
	http  map[string]*Peer // by base URL
	newCh chan struct{}    // signals a new HTTP peer to probe
}

func newPeerTable() *peerTable {
	return &peerTable{p2p: map[peer.ID]*Peer{}, http: map[string]*Peer{}, newCh: make(chan struct{}, 1)}
}

// addP2P records a libp2p peer; it reports whether the peer is new.
func (t *peerTable) addP2P(id peer.ID, addr, source string, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	p, ok := t.p2p[id]
	if !ok {
		t.p2p[id] = &Peer{ID: id, Type: peerP2P, Address: addr, Source: source, LastSeen: now}
		return true
	}
	p.Address, p.LastSeen = addr, now
	return false
}

// addHTTP records an HTTP API peer, to be probed.
func (t *peerTable) addHTTP(base, source string, now time.Time) {
	base = strings.TrimRight(base, "/")
	t.mu.Lock()
	p, ok := t.http[base]
	if ok {
		p.LastSeen = now
	} else {
		t.http[base] = &Peer{Type: peerHTTP, Address: base, Source: source, LastSeen: now}
	}
	t.mu.Unlock()
	if !ok {
		select {
		case t.newCh <- struct{}{}:
		default:
		}
	}
}

// list returns a copy of the table.
func (t *peerTable) list() []Peer {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]Peer, 0, len(t.p2p)+len(t.http))
	for _, p := range t.p2p {
		out = append(out, *p)
	}
	for _, p := range t.http {
		out = append(out, *p)
	}
	return out
}

// redialable returns the P2P peers to keep connected to: bootstrap peers
// and peers seen within maxAge. Older learnt peers are forgotten.
func (t *peerTable) redialable(now time.Time, maxAge time.Duration) []Peer {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []Peer
	for id, p := range t.p2p {
		if p.Source == "bootstrap" || now.Sub(p.LastSeen) <= maxAge {
			out = append(out, *p)
		} else {
			delete(t.p2p, id)
		}
	}
	return out
}

// reachable returns the base URLs of the HTTP peers that answered their
// last probe.
func (t *peerTable) reachable() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []string
	for u, p := range t.http {
		if p.Reachable {
			out = append(out, u)
		}
	}
	return out
}

// fetchOrder returns the HTTP peers to ask for content: the reachable
// ones in random order (spec §8), then the others (not probed yet, or
// down at the last probe).
func (t *peerTable) fetchOrder() []string {
	t.mu.Lock()
	var up, down []string
	for u, p := range t.http {
		if p.Reachable {
			up = append(up, u)
		} else {
			down = append(down, u)
		}
	}
	t.mu.Unlock()
	rand.Shuffle(len(up), func(i, j int) { up[i], up[j] = up[j], up[i] })
	return append(up, down...)
}

// probe asks every HTTP peer for /api/v0/version and records which answer;
// learnt peers not seen for maxAge are forgotten.
func (t *peerTable) probe(ctx context.Context, client *http.Client, now time.Time, maxAge time.Duration) {
	t.mu.Lock()
	var urls []string
	for u, p := range t.http {
		if p.Source == "alive" && now.Sub(p.LastSeen) > maxAge {
			delete(t.http, u)
			continue
		}
		urls = append(urls, u)
	}
	t.mu.Unlock()
	var wg sync.WaitGroup
	results := make([]bool, len(urls))
	for i, u := range urls {
		wg.Go(func() { results[i] = probeOne(ctx, client, u) })
	}
	wg.Wait()
	t.mu.Lock()
	for i, u := range urls {
		if p, ok := t.http[u]; ok {
			p.Reachable = results[i]
		}
	}
	t.mu.Unlock()
}

// probeTimeout is the reference node's probe timeout.
const probeTimeout = time.Second

func probeOne(ctx context.Context, client *http.Client, base string) bool {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v0/version", nil)
	if err != nil {
		return false
	}
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// validHTTPURL reports whether s is an http(s) base URL.
func validHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" &&
		u.RawQuery == "" && u.Fragment == ""
}
