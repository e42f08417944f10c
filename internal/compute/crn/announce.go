package crn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/goaleph/goaleph/chain/eth"
	"github.com/goaleph/goaleph/client"
)

// Announcements (docs/design/0007-executions-announcements.md): a node
// with a signing key (Config.KeyFile) publishes which programs it runs as
// the AGGREGATE "executions" of its own address, one entry per program:
//
//	{"<program hash>": {"status": "running", "url": "<public url>/vm/<hash>",
//	                    "backend": "wasm", "since": 1767225600, "seen": 1767226200}}
//
// and {"status": "stopped", "since": …} once the program's last execution
// has stopped. One worker publishes them, coalescing the changes into at
// most one message per announceInterval; requests never wait for it.
// Every announceHeartbeat it refreshes "seen" of the running entries, so
// that readers can tell the entries of a node that died: "seen" older than
// three heartbeats.

// AnnouncementKey is the aggregate key of the announcements.
const AnnouncementKey = "executions"

// Announcement statuses.
const (
	StatusRunning = "running"
	StatusStopped = "stopped"
)

// Announcement is one program's entry in the "executions" aggregate.
type Announcement struct {
	Status  string `json:"status"`
	URL     string `json:"url,omitempty"`
	Backend string `json:"backend,omitempty"`
	// Since is the Unix time (seconds) the status began.
	Since int64 `json:"since"`
	// Seen (running only) is the Unix time of the node's last heartbeat
	// for the program; past StaleAfter it is presumed dead.
	Seen int64 `json:"seen,omitempty"`
}

// Stale reports whether a running announcement's node has missed its
// heartbeats at now: its "seen" (or, before the first heartbeat, its
// "since") is older than StaleAfter.
func (e Announcement) Stale(now time.Time) bool {
	last := max(e.Seen, e.Since)
	return e.Status == StatusRunning && now.Sub(time.Unix(last, 0)) > StaleAfter
}

// AnnounceHeartbeat is how often a node refreshes its running entries;
// StaleAfter, three heartbeats, is when readers stop trusting them.
const (
	AnnounceHeartbeat = 10 * time.Minute
	StaleAfter        = 3 * AnnounceHeartbeat
)

// Timing of the announcer: at most one message per announceInterval; a
// failed publication is retried after a back-off doubling up to
// announceMaxBackoff; the final flush at shutdown waits at most
// announceFlushTimeout.
var (
	announceHeartbeat    = AnnounceHeartbeat
	announceInterval     = time.Second
	announceMaxBackoff   = time.Minute
	announceFlushTimeout = 10 * time.Second
)

// announcer publishes the node's executions. A nil announcer (no key)
// does nothing.
type announcer struct {
	c      *client.Client
	signer *eth.Account
	log    *slog.Logger

	mu        sync.Mutex
	base      string         // public URL, without a trailing slash
	running   map[string]int // ready executions per program
	pending   map[string]Announcement
	published map[string]Announcement // last published per program
	kick      chan struct{}           // buffered: something is pending
	stop      chan struct{}           // closed by close: final flush
	done      chan struct{}           // closed when the worker ended
	started   bool
}

// newAnnouncer loads (or creates) the key of cfg.KeyFile; no key file
// means no announcements.
func newAnnouncer(cfg *Config) (*announcer, error) {
	if cfg.KeyFile == "" {
		return nil, nil
	}
	key, err := loadOrCreateKey(cfg.KeyFile)
	if err != nil {
		return nil, err
	}
	return &announcer{c: cfg.Client, signer: key, log: cfg.Logger,
		base:    strings.TrimRight(cfg.PublicURL, "/"),
		running: map[string]int{}, pending: map[string]Announcement{}, published: map[string]Announcement{},
		kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}, nil
}

// loadOrCreateKey reads a hex ETH private key from path, or creates one
// (mode 0600) if the file does not exist.
func loadOrCreateKey(path string) (*eth.Account, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		a, err := eth.AccountFromHex(strings.TrimSpace(string(b)))
		if err != nil {
			return nil, fmt.Errorf("crn: key file %s: %w", path, err)
		}
		return a, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("crn: key file: %w", err)
	}
	a, err := eth.NewAccount()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("crn: key file: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) { // created meanwhile by another process
		return loadOrCreateKey(path)
	}
	if err != nil {
		return nil, fmt.Errorf("crn: key file: %w", err)
	}
	_, err = f.WriteString(a.PrivateKeyHex() + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("crn: key file: %w", err)
	}
	return a, nil
}

// Address returns the address the node announces its executions with, or
// "" without a key.
func (s *Server) Address() string {
	if s.announce == nil {
		return ""
	}
	return s.announce.signer.Address()
}

// listenURL is the URL of a listener: an unspecified IP becomes 127.0.0.1.
func listenURL(ln net.Listener) string {
	addr := ln.Addr().String()
	if host, port, err := net.SplitHostPort(addr); err == nil {
		if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
			addr = net.JoinHostPort("127.0.0.1", port)
		}
	}
	return "http://" + addr
}

// start runs the worker; base is the public URL if none was configured.
func (a *announcer) start(base string) {
	if a == nil {
		return
	}
	a.mu.Lock()
	if a.base == "" {
		a.base = strings.TrimRight(base, "/")
	}
	a.started = true
	a.mu.Unlock()
	a.log.Info("announcing executions", "address", a.signer.Address(), "url", a.base)
	go a.run()
}

// close flushes what is pending (bounded by announceFlushTimeout) and ends
// the worker.
func (a *announcer) close() {
	if a == nil {
		return
	}
	a.mu.Lock()
	started := a.started
	a.mu.Unlock()
	if !started {
		return
	}
	close(a.stop)
	<-a.done
}

// running records a ready execution of hash.
func (a *announcer) runningExec(hash, backend string) {
	if a == nil {
		return
	}
	a.mu.Lock()
	a.running[hash]++
	if a.running[hash] == 1 {
		now := time.Now().Unix()
		a.pending[hash] = Announcement{Status: StatusRunning, URL: a.base + "/vm/" + hash, Backend: backend,
			Since: now, Seen: now}
	}
	a.mu.Unlock()
	a.wake()
}

// stoppedExec records that an execution of hash stopped.
func (a *announcer) stoppedExec(hash string) {
	if a == nil {
		return
	}
	a.mu.Lock()
	a.running[hash]--
	if a.running[hash] <= 0 {
		delete(a.running, hash)
		a.pending[hash] = Announcement{Status: StatusStopped, Since: time.Now().Unix()}
	}
	a.mu.Unlock()
	a.wake()
}

func (a *announcer) wake() {
	select {
	case a.kick <- struct{}{}:
	default:
	}
}

func (a *announcer) run() {
	defer close(a.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { // the final flush gets announceFlushTimeout, whatever is under way
		select {
		case <-a.stop:
		case <-ctx.Done():
			return
		}
		t := time.NewTimer(announceFlushTimeout)
		defer t.Stop()
		select {
		case <-t.C:
			cancel()
		case <-ctx.Done():
		}
	}()
	a.withdrawStale(ctx)
	backoff := announceInterval
	var retry <-chan time.Time
	heartbeat := time.NewTicker(announceHeartbeat)
	defer heartbeat.Stop()
	for {
		select {
		case <-a.kick:
		case <-retry:
		case <-heartbeat.C:
			a.beat()
		case <-a.stop:
			a.flush(ctx)
			return
		}
		retry = nil
		if a.flush(ctx) {
			backoff = announceInterval
		} else {
			retry = time.After(backoff)
			backoff = min(2*backoff, announceMaxBackoff)
		}
		select { // at most one message per interval
		case <-time.After(announceInterval):
		case <-a.stop:
			a.flush(ctx)
			return
		}
	}
}

// beat queues a refresh of "seen" for every program announced running
// and still running.
func (a *announcer) beat() {
	now := time.Now().Unix()
	a.mu.Lock()
	defer a.mu.Unlock()
	for hash := range a.running {
		e, ok := a.published[hash]
		if _, queued := a.pending[hash]; queued || !ok || e.Status != StatusRunning {
			continue // the pending change carries a fresh "seen"
		}
		e.Seen = now
		a.pending[hash] = e
	}
}

// withdrawStale marks stopped the programs a previous run of the node
// left announced as running.
func (a *announcer) withdrawStale(ctx context.Context) {
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	raw, err := a.c.Aggregate(rctx, a.signer.Address(), AnnouncementKey)
	if err != nil {
		if !errors.Is(err, client.ErrNotFound) {
			a.log.Warn("read the announced executions", "err", err)
		}
		return
	}
	var old map[string]Announcement
	if err := json.Unmarshal(raw, &old); err != nil {
		return
	}
	a.mu.Lock()
	for hash, e := range old {
		if e.Status == StatusRunning && a.running[hash] == 0 {
			if _, ok := a.pending[hash]; !ok {
				a.pending[hash] = Announcement{Status: StatusStopped, Since: time.Now().Unix()}
			}
		}
		a.published[hash] = e
	}
	a.mu.Unlock()
	a.wake()
}

// flush publishes the pending changes in one message. On failure they
// stay pending (unless newer ones replaced them) and flush returns false.
func (a *announcer) flush(ctx context.Context) bool {
	a.mu.Lock()
	batch := map[string]Announcement{}
	for hash, e := range a.pending {
		if p := a.published[hash]; p.Status != e.Status || e.Status == StatusRunning && p.Seen != e.Seen {
			batch[hash] = e
		}
	}
	a.pending = map[string]Announcement{}
	a.mu.Unlock()
	if len(batch) == 0 {
		return true
	}
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	res, err := a.c.UpdateAggregate(pctx, a.signer, AnnouncementKey, batch, client.WriteOptions{Sync: true})
	cancel()
	if err == nil && res.Status == client.StatusRejected {
		err = errors.New("the core node rejected the message")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if err != nil {
		for hash, e := range batch {
			if _, newer := a.pending[hash]; !newer {
				a.pending[hash] = e
			}
		}
		a.log.Warn("announce executions", "programs", len(batch), "err", err)
		return false
	}
	for hash, e := range batch {
		a.published[hash] = e
	}
	a.log.Debug("announced executions", "programs", len(batch), "message", res.Message.ItemHash)
	return true
}
