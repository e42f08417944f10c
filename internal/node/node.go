// Package node is the core node (CCN): it ingests signed messages, verifies
// them, applies them to the store in a deterministic order, keeps files and
// serves the HTTP API. New builds one from a Config; Run runs it until its
// context ends. NewRole (role.go) composes it with its p2p service.
package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/goaleph/goaleph/chain"
	_ "github.com/goaleph/goaleph/chain/avax"  // registers the AVAX verifier
	_ "github.com/goaleph/goaleph/chain/csdk"  // registers the CSDK (Cosmos) verifier
	_ "github.com/goaleph/goaleph/chain/dot"   // registers the DOT (Substrate) verifier
	_ "github.com/goaleph/goaleph/chain/eth"   // registers the EVM verifiers
	_ "github.com/goaleph/goaleph/chain/nuls2" // registers the NULS2 verifier
	_ "github.com/goaleph/goaleph/chain/sol"   // registers the SOL verifiers
	_ "github.com/goaleph/goaleph/chain/tezos" // registers the TEZOS verifier
	"github.com/goaleph/goaleph/internal/api"
	"github.com/goaleph/goaleph/internal/files"
	"github.com/goaleph/goaleph/internal/httplimit"
	"github.com/goaleph/goaleph/internal/store"
	"github.com/goaleph/goaleph/internal/store/storeurl"
	"github.com/goaleph/goaleph/message"
)

// Version is the node version reported by the API.
var Version = "0.1.0-dev"

// Config configures a core node. The zero value of a field means its default.
type Config struct {
	// DataDir holds the file store, and the SQLite database unless
	// DatabaseURL names another. Default "data".
	DataDir string
	// DatabaseURL selects the store (see store/storeurl): sqlite:///path or
	// postgres://…. Default: SQLite at DataDir/aleph.db.
	DatabaseURL string
	// Listen is the HTTP API address. Default 127.0.0.1:4024.
	Listen string
	// GracePeriod keeps unauthenticated uploads and unpinned files. Default 24 h.
	GracePeriod time.Duration
	// GCPeriod is the garbage collector interval. Default 24 h.
	GCPeriod time.Duration
	// MaxRetries before a retryable failure becomes a rejection. Default 10.
	MaxRetries int
	Rejected   RejectedConfig // expiry and cap of rejected records (gc.go)
	// MaxBackoff caps the delay between retries. Default 300 s.
	MaxBackoff time.Duration
	// VerifyWorkers check signatures in parallel. Default: the number of CPUs.
	VerifyWorkers int
	// Limits are the API upload limits. Default api.DefaultLimits.
	Limits api.Limits
	// MaxWebsockets caps the open /api/ws0 connections. Default
	// api.DefaultMaxWebsockets.
	MaxWebsockets int
	// HTTP are the API server's connection limits. Zero fields: httplimit.Defaults.
	HTTP httplimit.Config
	// Pprof serves Go's profiler under /debug/pprof/ on the API address.
	Pprof bool
	// Fetcher fetches content and STORE files missing locally from peers
	// (see fetch.go). Nil: messages wait until the file is uploaded here.
	Fetcher Fetcher
	// Balances selects the posts that update token balances (balances.go).
	Balances BalancesConfig
	// Economy configures prices and admission (economy.go).
	Economy EconomyConfig
	// Registry configures the node registry (registry.go).
	Registry RegistryConfig
	Logger   *slog.Logger
}

func (c *Config) defaults() {
	if c.DataDir == "" {
		c.DataDir = DefaultDataDir
	}
	if c.DatabaseURL == "" {
		c.DatabaseURL = storeurl.SQLiteURL(filepath.Join(c.DataDir, "aleph.db"))
	}
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.GracePeriod == 0 {
		c.GracePeriod = DefaultGracePeriod
	}
	if c.GCPeriod == 0 {
		c.GCPeriod = DefaultGCPeriod
	}
	if c.MaxRetries == 0 {
		c.MaxRetries = DefaultMaxRetries
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = 300 * time.Second
	}
	if c.VerifyWorkers == 0 {
		c.VerifyWorkers = runtime.GOMAXPROCS(0)
	}
	if c.Limits == (api.Limits{}) {
		c.Limits = api.DefaultLimits
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Node is a core node.
type Node struct {
	cfg      Config
	log      *slog.Logger
	store    store.Store
	files    *files.Store
	handlers map[message.Type]handler
	metrics  *metrics
	econ     *economyState
	// balanceClock, set when the role runs a token follower, bounds the
	// collection's log clock: the time up to which the chain's balance
	// changes are read (erc20.Follower.SyncedTime).
	balanceClock func() float64
	registry     *registry
	bus          *bus
	api          *api.Server

	submitCh chan *submission
	verifyCh chan *item
	applyCh  chan *item
	wakeCh   chan struct{}
	// stopped is closed when the writer has stopped; bg counts the
	// goroutines that re-queue items, which end then.
	stopped chan struct{}
	bg      sync.WaitGroup

	// ln, when set (by NewRole), is the listener Run serves.
	ln        net.Listener
	readyCh   chan struct{} // closed once Serve serves
	readyOnce sync.Once
	closeOnce sync.Once

	mu     sync.Mutex
	waits  map[string][]timerEntry
	timers timerHeap
	ready  []*item
}

var _ api.Node = (*Node)(nil)

// New opens the node's store (cfg.DatabaseURL) and its file store in
// cfg.DataDir.
func New(ctx context.Context, cfg Config) (*Node, error) {
	cfg.defaults()
	db, err := storeurl.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	fs, err := files.Open(filepath.Join(cfg.DataDir, "files"))
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open file store: %w", err)
	}
	return newNode(cfg, db, fs), nil
}

func newNode(cfg Config, db store.Store, fs *files.Store) *Node {
	n := &Node{
		cfg:      cfg,
		log:      cfg.Logger,
		store:    db,
		files:    fs,
		bus:      newBus(),
		submitCh: make(chan *submission, maxApplyBatch),
		verifyCh: make(chan *item, 4*maxApplyBatch),
		applyCh:  make(chan *item, 4*maxApplyBatch),
		wakeCh:   make(chan struct{}, 1),
		stopped:  make(chan struct{}),
		readyCh:  make(chan struct{}),
		waits:    map[string][]timerEntry{},
	}
	n.metrics = newMetrics(n)
	n.econ = newEconomy(cfg.Economy, n.metrics.registry)
	n.registry = newRegistry(cfg.Registry, n.metrics.registry)
	n.handlers = map[message.Type]handler{
		message.TypePost:      posts{balances: newBalanceUpdates(cfg.Balances, n.metrics.registry), credits: newCreditPosts(cfg.Economy)},
		message.TypeAggregate: aggregates{econ: n.econ},
		message.TypeStore:     stores{n: n},
		message.TypeForget:    forgets{n: n},
		message.TypeProgram:   executables{},
		message.TypeInstance:  executables{},
	}
	n.api = api.New(api.Config{Node: n, Store: db, Files: fs, Limits: cfg.Limits, MaxWebsockets: cfg.MaxWebsockets, Version: Version,
		Registry: n.metrics.registry, Logger: cfg.Logger, VirtualAggregates: n.virtualAggregates})
	return n
}

// Handler returns the HTTP API handler.
func (n *Node) Handler() http.Handler { return n.api }

// Store returns the node's store (read access for tools and tests).
func (n *Node) Store() store.Store { return n.store }

// Run starts the pipeline, the garbage collector and the HTTP API, and
// blocks until ctx ends or a service fails. It serves the listener the
// node was given by NewRole, else listens on cfg.Listen. It closes the
// stores on return. A node runs once.
func (n *Node) Run(ctx context.Context) error {
	ln := n.ln
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", n.cfg.Listen); err != nil {
			n.close()
			return err
		}
	}
	return n.Serve(ctx, ln)
}

// Ready is closed once the node serves its API (see lifecycle.Readier).
func (n *Node) Ready() <-chan struct{} { return n.readyCh }

// Close releases a node that is never run: its stores, and the listener
// NewRole gave it. Run releases them itself; Close after Run does nothing.
func (n *Node) Close() error {
	if n.ln != nil {
		n.ln.Close()
	}
	n.close()
	return nil
}

// Serve is Run on an existing listener, which it closes on return.
func (n *Node) Serve(ctx context.Context, ln net.Listener) error {
	defer n.close()
	g, gctx := errgroup.WithContext(ctx)
	for range n.cfg.VerifyWorkers {
		g.Go(func() error { return n.runVerify(gctx) })
	}
	g.Go(func() error { return n.runApply(gctx) })
	g.Go(func() error { return n.loadPending(gctx) })
	g.Go(func() error { return n.runGC(gctx) })
	if n.econ.cfg.Quota {
		g.Go(func() error { return n.runCollect(gctx) })
	}
	var handler http.Handler = n.api
	if n.cfg.Pprof {
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.Handle("/", n.api)
		handler = mux
	}
	srv := n.cfg.HTTP.Server(handler, nil)
	g.Go(func() error {
		n.log.Info("API listening", "addr", ln.Addr().String())
		if err := n.cfg.HTTP.Serve(srv, ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		n.bus.close()
		return srv.Shutdown(sctx)
	})
	// The listener is bound: connections queue until Serve accepts them.
	n.readyOnce.Do(func() { close(n.readyCh) })
	err := g.Wait()
	n.bg.Wait()
	return err
}

func (n *Node) close() {
	n.closeOnce.Do(func() {
		if err := n.store.Close(); err != nil {
			n.log.Error("close database", "err", err)
		}
		if err := n.files.Close(); err != nil {
			n.log.Error("close file store", "err", err)
		}
	})
}

// loadPending queues the messages left pending by a previous run.
func (n *Node) loadPending(ctx context.Context) error {
	var after int64
	total := 0
	for {
		ps, err := n.store.ListPending(ctx, after, 1000)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("load pending messages: %w", err)
		}
		for _, p := range ps {
			after = p.ID
			select {
			case n.verifyCh <- &item{p: p, msg: p.Message}:
			case <-ctx.Done():
				return nil
			}
		}
		total += len(ps)
		if len(ps) < 1000 {
			break
		}
	}
	if total > 0 {
		n.log.Info("resumed pending messages", "count", total)
	}
	return nil
}

// Submit ingests m; see api.Node. The signature is verified and the
// content loaded in the caller's goroutine; the writer then applies the
// message, or records it as pending or rejected, and Submit returns once
// that is committed. With wait, the status is the processing result
// (pending when the message has to wait); without, it is pending.
func (n *Node) Submit(ctx context.Context, m *message.Message, origin string, wait bool) (store.Status, error) {
	now := float64(time.Now().UnixNano()) / 1e9
	it := &item{msg: m, p: store.Pending{Message: m, ReceptionTime: now, NextAttempt: now, Origin: origin}}
	if m.ItemType == message.ItemInline {
		// Inline content is validated at ingestion: a bad content is
		// refused, never stored.
		c, err := message.ParseContent(m, []byte(m.ItemContent))
		if err != nil {
			return store.StatusRejected, err
		}
		it.content, it.size = c, inlineSize(m.ItemContent)
	}
	it.err = n.prepare(ctx, it)
	it.verified = it.err == nil
	sub := &submission{it: it, done: make(chan outcome, 1)}
	select {
	case n.submitCh <- sub:
	case <-ctx.Done():
		return "", ctx.Err()
	case <-n.stopped:
		return "", errStopped
	}
	// Once queued, the message is committed or fails; wait for that even
	// if the client leaves, so that an acknowledged message is never lost.
	var o outcome
	select {
	case o = <-sub.done:
	case <-n.stopped:
		// The writer answers what it took; what it did not is not stored.
		select {
		case o = <-sub.done:
		default:
			return "", errStopped
		}
	}
	if o.kind == outFailed {
		return "", o.err
	}
	n.metrics.ingested.Inc()
	if !wait {
		return store.StatusPending, nil
	}
	switch o.kind {
	case outProcessed, outDuplicate:
		return store.StatusProcessed, nil
	case outForgotten:
		return store.StatusForgotten, o.err
	case outRejected:
		return store.StatusRejected, o.err
	default:
		return store.StatusPending, nil
	}
}

// VerifySignature checks m's signature now.
func (n *Node) VerifySignature(m *message.Message) error {
	err := chain.VerifyMessage(m.Chain, m.Sender, m.VerificationBuffer(), m.Signature, m.Time)
	if err != nil {
		return &message.Error{Code: message.CodeInvalidSignature, Err: err}
	}
	return nil
}

// Subscribe returns processed messages as they are applied.
func (n *Node) Subscribe(buffer int) (<-chan *store.Record, func()) { return n.bus.subscribe(buffer) }

// Published is how many processed messages have been handed to
// subscribers so far. A subscriber that reads it after subscribing and
// finds it unchanged since an earlier moment has missed nothing published
// in between (the API shares websocket histories on this).
func (n *Node) Published() uint64 { return n.bus.published.Load() }

// PinUpload records an unauthenticated upload with a grace-period pin and
// wakes messages waiting for that file.
func (n *Node) PinUpload(ctx context.Context, f files.Info) error {
	now := float64(time.Now().UnixNano()) / 1e9
	err := n.store.Update(ctx, func(tx store.Tx) error {
		if err := tx.UpsertFile(&store.File{Hash: f.Hash, Size: f.Size, Type: "file"}); err != nil {
			return err
		}
		return tx.AddPin(&store.Pin{FileHash: f.Hash, Type: store.PinGracePeriod, Created: now,
			DeleteBy: now + n.cfg.GracePeriod.Seconds()})
	})
	if err != nil {
		return err
	}
	n.wake(f.Hash)
	return nil
}
