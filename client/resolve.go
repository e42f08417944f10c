package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// ExecutionsKey is the aggregate key under which compute nodes announce
// the programs they run (docs/design/0007-executions-announcements.md).
const ExecutionsKey = "executions"

// ExecutionStaleAfter is how old a running announcement's last heartbeat
// may be before its node is presumed gone: three of the compute nodes'
// 10-minute heartbeats.
const ExecutionStaleAfter = 30 * time.Minute

// Execution is one compute node announcing that it runs a program.
type Execution struct {
	Node    string // the compute node's address (the aggregate's owner)
	URL     string // where the program answers: <node URL>/vm/<hash>
	Backend string
	Since   int64 // Unix time the program started there
	Seen    int64 // Unix time of the node's last heartbeat for it
}

type announcement struct {
	Status  string `json:"status"`
	URL     string `json:"url"`
	Backend string `json:"backend"`
	Since   int64  `json:"since"`
	Seen    int64  `json:"seen"`
}

// Executions lists the compute nodes that announce running the program
// hash with a fresh heartbeat (at most ExecutionStaleAfter old at now).
// The core node has no query by program: this reads every "executions"
// aggregate, 500 a page.
func (c *Client) Executions(ctx context.Context, hash string, now time.Time) ([]Execution, error) {
	var out []Execution
	cursor := ""
	for range 200 {
		var page struct {
			Aggregates []struct {
				Address string                  `json:"address"`
				Content map[string]announcement `json:"content"`
			} `json:"aggregates"`
			NextCursor *string `json:"next_cursor"`
		}
		q := url.Values{"keys": {ExecutionsKey}, "pagination": {"500"}, "cursor": {cursor}}
		if err := c.getJSON(ctx, "/api/v0/aggregates.json", q, &page); err != nil {
			return nil, err
		}
		for _, a := range page.Aggregates {
			e, ok := a.Content[hash]
			last := max(e.Seen, e.Since)
			if !ok || e.Status != "running" || now.Sub(time.Unix(last, 0)) > ExecutionStaleAfter ||
				!strings.HasSuffix(e.URL, "/vm/"+hash) {
				continue
			}
			if u, err := url.Parse(e.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				continue
			}
			out = append(out, Execution{Node: a.Address, URL: e.URL, Backend: e.Backend, Since: e.Since, Seen: e.Seen})
		}
		if page.NextCursor == nil || *page.NextCursor == "" {
			break
		}
		cursor = *page.NextCursor
	}
	return out, nil
}

// Defaults of a Resolver.
const (
	DefaultResolveTTL = 10 * time.Second // how long a program's nodes are kept
	DefaultEjectFor   = 30 * time.Second // how long a failed node is avoided
)

// ResolverConfig configures a Resolver; zero fields take the defaults.
type ResolverConfig struct {
	// Cores are the core nodes asked, in turn until one answers.
	Cores []*Client
	// HTTP sends the requests to the compute nodes (default a client
	// with a 60 s timeout).
	HTTP *http.Client
	// TTL is how long the nodes of a program are kept before the core
	// nodes are asked again; EjectFor how long a node that failed (no
	// connection, 502, 503, 504) is tried last.
	TTL, EjectFor time.Duration
}

// Resolver calls programs without a gateway: it asks a core node which
// compute nodes run the program (their executions announcements) and
// sends the request to one, chosen at random, failing over to the next
// when one cannot be reached or answers 502, 503 or 504. Safe for
// concurrent use.
type Resolver struct {
	cfg ResolverConfig
	now func() time.Time

	mu      sync.Mutex
	nodes   map[string]resolved  // by program hash
	ejected map[string]time.Time // node URL → until
}

type resolved struct {
	execs []Execution
	at    time.Time
}

// NewResolver returns a resolver asking cfg.Cores.
func NewResolver(cfg ResolverConfig) *Resolver {
	if cfg.HTTP == nil {
		cfg.HTTP = &http.Client{Timeout: 60 * time.Second}
	}
	if cfg.TTL <= 0 {
		cfg.TTL = DefaultResolveTTL
	}
	if cfg.EjectFor <= 0 {
		cfg.EjectFor = DefaultEjectFor
	}
	return &Resolver{cfg: cfg, now: time.Now, nodes: map[string]resolved{}, ejected: map[string]time.Time{}}
}

// ErrNoExecution is the error of a program no compute node announces.
var ErrNoExecution = errors.New("aleph: no compute node announces running this program")

// Nodes returns the compute nodes running hash, from the cache when
// fresh, else from the first core node that answers.
func (r *Resolver) Nodes(ctx context.Context, hash string) ([]Execution, error) {
	now := r.now()
	r.mu.Lock()
	res, ok := r.nodes[hash]
	r.mu.Unlock()
	if ok && now.Sub(res.at) < r.cfg.TTL {
		return res.execs, nil
	}
	var errs []error
	for _, c := range r.cfg.Cores {
		execs, err := c.Executions(ctx, hash, now)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", c.BaseURL(), err))
			continue
		}
		r.mu.Lock()
		r.nodes[hash] = resolved{execs: execs, at: now}
		r.mu.Unlock()
		return execs, nil
	}
	if len(errs) == 0 {
		return nil, errors.New("aleph: the resolver has no core node")
	}
	return nil, errors.Join(errs...)
}

// order is the nodes to try: at random, the ejected ones last.
func (r *Resolver) order(execs []Execution) []Execution {
	out := make([]Execution, len(execs))
	copy(out, execs)
	rand.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	var ok, bad []Execution
	for _, e := range out {
		if until, found := r.ejected[e.URL]; found && now.Before(until) {
			bad = append(bad, e)
		} else {
			delete(r.ejected, e.URL)
			ok = append(ok, e)
		}
	}
	return append(ok, bad...)
}

func (r *Resolver) eject(u string) {
	r.mu.Lock()
	r.ejected[u] = r.now().Add(r.cfg.EjectFor)
	r.mu.Unlock()
}

// Do sends a request to the program hash: method, path (under the
// program's root, starting with "/", with its query) and body (nil or
// replayable: failover sends it again). Requests of any method fail over
// on a connection that could not be made; idempotent ones (GET, HEAD,
// OPTIONS, PUT, DELETE) also on a 502, 503 or 504 or a connection lost
// during the exchange.
func (r *Resolver) Do(ctx context.Context, hash, method, path string, header http.Header, body []byte) (*http.Response, error) {
	execs, err := r.Nodes(ctx, hash)
	if err != nil {
		return nil, err
	}
	if len(execs) == 0 {
		return nil, ErrNoExecution
	}
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	idempotent := method == http.MethodGet || method == http.MethodHead || method == http.MethodOptions ||
		method == http.MethodPut || method == http.MethodDelete
	var lastErr error
	for i, e := range r.order(execs) {
		req, err := http.NewRequestWithContext(ctx, method, e.URL+path, bytesReader(body))
		if err != nil {
			return nil, err
		}
		for k, vs := range header {
			req.Header[k] = vs
		}
		last := i == len(execs)-1
		res, err := r.cfg.HTTP.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return nil, err
			}
			r.eject(e.URL)
			lastErr = err
			if idempotent || dialFailed(err) {
				continue
			}
			return nil, err
		}
		switch res.StatusCode {
		case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			r.eject(e.URL)
			if idempotent && !last {
				io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
				res.Body.Close()
				lastErr = fmt.Errorf("%s: %s", e.URL, res.Status)
				continue
			}
		}
		return res, nil
	}
	return nil, fmt.Errorf("aleph: no compute node running %s answered: %w", hash, lastErr)
}

// Get is Do for a GET without a body.
func (r *Resolver) Get(ctx context.Context, hash, path string) (*http.Response, error) {
	return r.Do(ctx, hash, http.MethodGet, path, nil, nil)
}

func bytesReader(b []byte) io.Reader {
	if b == nil {
		return nil
	}
	return bytes.NewReader(b)
}

// dialFailed reports whether err is a connection that was never made,
// so the request was not sent.
func dialFailed(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "dial"
}
