package api

import (
	"context"
	"encoding/json"
	"hash/maphash"
	"io"
	"net/http"
	"runtime"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/goaleph/goaleph/internal/store"
)

// WebSocket limits. The reference node has a count cap on history (fewer
// than 200) and none on connections; the others are ours (see
// docs/design/0008-hostile-input.md).
const (
	// DefaultMaxWebsockets is the default cap on open /api/ws0
	// connections (Config.MaxWebsockets).
	DefaultMaxWebsockets = 10000
	// maxWSHistoryBytes bounds the history of one connection, as encoded
	// frames: the newest messages that fit are sent.
	maxWSHistoryBytes = 1 << 20
	// wsHistoryPage is how many history records are read at a time.
	wsHistoryPage = 20
	// wsHistoryLoads is how many connections may read their history at
	// once: with maxWSHistoryBytes, it bounds the memory a crowd of new
	// connections takes.
	wsHistoryLoads = 8
	wsPingInterval = 30 * time.Second
	wsWriteTimeout = 10 * time.Second
	// wsBuffer is how many live messages a slow client may lag behind
	// before it loses messages.
	wsBuffer = 64
)

// wsHub counts the open WebSocket connections and the history loads.
type wsHub struct {
	conns atomic.Int64
	max   int64
	loads chan struct{}

	mu       sync.Mutex
	peak     int64       // most connections open since the last release
	lastFree time.Time   // of the last release to the OS
	freeing  *time.Timer // a release planned, nil if none
	history  map[string]*wsHistoryEntry

	// The live feed (wsfeed.go); feedMu is taken before a socket's mu.
	feedMu  sync.Mutex
	sockets map[*wsSocket]struct{}
	feed    *wsFeed // nil when no socket is open
	// historyAge is wsHistoryCacheAge (tests lengthen it).
	historyAge time.Duration
}

// After a crowd of sockets leaves, the memory that served them is garbage
// that an idle node would only collect at its next forced GC (every two
// minutes) and return to the OS later still. When the open count falls to
// half a peak of at least wsFreePeak, the hub returns it at once, a second
// later and at most once per wsFreeEvery.
const (
	wsFreePeak  = 256
	wsFreeEvery = 10 * time.Second
)

func newWSHub(max int) *wsHub {
	if max <= 0 {
		max = DefaultMaxWebsockets
	}
	return &wsHub{max: int64(max), loads: make(chan struct{}, wsHistoryLoads), historyAge: wsHistoryCacheAge}
}

// acquire takes a connection slot; false when all are taken.
func (h *wsHub) acquire() bool {
	n := h.conns.Add(1)
	if n > h.max {
		h.conns.Add(-1)
		return false
	}
	if n >= wsFreePeak {
		h.mu.Lock()
		h.peak = max(h.peak, n)
		h.mu.Unlock()
	}
	return true
}

func (h *wsHub) release() {
	n := h.conns.Add(-1)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.peak < wsFreePeak || n > h.peak/2 || h.freeing != nil {
		return
	}
	h.peak = 0
	wait := max(time.Second, wsFreeEvery-time.Since(h.lastFree))
	h.freeing = time.AfterFunc(wait, func() {
		runtime.GC() // empties the pools' victim caches, kept by one GC
		debug.FreeOSMemory()
		h.mu.Lock()
		h.freeing, h.lastFree = nil, time.Now()
		h.mu.Unlock()
	})
}

// wsOptions are the query parameters of /api/ws0/messages.
type wsOptions struct {
	mq      *messageQuery
	history int
}

// parseWSOptions reads the filters of messages.json and history.
func parseWSOptions(p *params) wsOptions {
	mq := parseMessageQuery(p)
	return wsOptions{mq: mq, history: p.int("history", defaultWSHistory, 0, maxWSHistory)}
}

// wsMessages is GET /api/ws0/messages: the last `history` messages that
// match the filters of messages.json (oldest first, at most
// maxWSHistoryBytes of them), then every newly processed message that
// matches, one JSON text frame each, in the messages.json item shape.
// Frames from the client are ignored. Beyond the connection cap the socket
// is closed with 1013 (try again later).
func (s *Server) wsMessages(w http.ResponseWriter, r *http.Request) {
	p := newParams(r)
	opts := parseWSOptions(p)
	if p.err != nil {
		s.failQuery(w, r, p.err)
		return
	}
	// Browsers connect from any origin, as the reference node allows.
	// With small buffers in place of net/http's (wsconn.go).
	sw := &smallBufConn{ResponseWriter: w}
	c, err := websocket.Accept(sw, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		return // Accept has answered
	}
	// Over the cap, a close code a browser can see (it cannot read an
	// HTTP status of a failed handshake).
	if !s.ws.acquire() {
		c.Close(websocket.StatusTryAgainLater, "Too many connections")
		c.CloseNow()
		return
	}

	// A frame the client does not take within wsWriteTimeout closes the
	// connection, which fails the write. One timer a socket, reset per
	// frame: a context a frame (the library also hangs a callback on
	// each) made about 1 KB of garbage per frame, 100 MB for a crowd of
	// 2,000 sockets with history=50.
	stall := time.AfterFunc(time.Hour, func() { c.CloseNow() })
	stall.Stop()
	// Nothing of the socket may keep sw: it holds net/http's response,
	// and through it net/http's buffers.
	out := sw.out
	k := &wsSocket{c: c, mq: opts.mq, send: func(b []byte) error {
		stall.Reset(wsWriteTimeout)
		err := c.Write(context.Background(), websocket.MessageText, b)
		if err == nil {
			err = out.flush()
		}
		stall.Stop()
		return err
	}}

	// Join the live feed before reading the history so that nothing
	// processed in between is missed; what the history already sent is
	// skipped. What arrives meanwhile waits in the socket's queue.
	s.ws.join(k, s.cfg.Node.Subscribe)
	end := func() {
		s.ws.leave(k)
		k.stop()
		c.CloseNow() // fails a blocked write
		k.writers.Wait()
		stall.Stop()
		s.ws.release()
	}

	var hashes hashSet
	if mq := opts.mq; opts.history > 0 && !mq.none {
		frames, sent, err := s.wsHistory(r.Context(), r.URL.RawQuery, mq, opts.history)
		if err != nil {
			if r.Context().Err() != nil {
				// The client left before the hijack, while the
				// history waited or was read: not the node's error.
				s.log.Debug("websocket history", "err", err)
			} else {
				s.log.Error("websocket history", "err", err)
			}
			c.Close(websocket.StatusInternalError, "")
			end()
			return
		}
		for i := len(frames) - 1; i >= 0; i-- {
			if err := k.send(frames[i]); err != nil {
				s.log.Debug("websocket write", "err", err)
				end()
				return
			}
		}
		hashes = sent
	}
	k.goLive(hashes, wsPingInterval)

	// The handler then returns, which frees what net/http keeps for the
	// request (about 5 KB) and its goroutine's deeper stack, and a
	// goroutine of the socket's own reads: it discards client frames
	// (through io.Discard's shared buffer, not one a message) and answers
	// control frames (pongs included) until the client goes away or a
	// failed write closes the connection. It reads without a context, on
	// which the library would hang a callback that spawns a goroutine
	// when the context ends: 2,000 of them when a crowd leaves. The
	// connection's end (the client's, or the node's shutdown through the
	// feed) ends it.
	go func() {
		defer end()
		for {
			_, m, err := c.Reader(context.Background())
			if err == nil {
				_, err = io.Copy(io.Discard, m) // no buffer a message
			}
			if err != nil {
				return
			}
		}
	}()
}

// wsHistory is the history of a socket opened with the query key: read
// by loadWSHistory, at most wsHistoryLoads at once, or shared with the
// sockets that opened with the same query since the last processed
// message (and within wsHistoryCacheAge). A crowd of identical sockets
// then costs one query and one set of frames instead of one each: less
// CPU, and a heap that does not grow by the garbage of 2,000 histories
// (the runtime keeps metadata sized by its peak heap for good).
//
// Sharing is safe because the caller subscribed before calling: if no
// message was published since the shared read began, that read holds
// everything the socket's own read would have (an unpublished change,
// such as a rejection, shows at most wsHistoryCacheAge late).
func (s *Server) wsHistory(ctx context.Context, key string, mq *messageQuery, history int) ([][]byte, hashSet, error) {
	pc, _ := s.cfg.Node.(publishCounter)
	if pc == nil {
		key = "" // no cache without a publish counter
	}
	if e := s.ws.cached(key, pc); e != nil {
		return e.frames, e.hashes, nil
	}
	select {
	case s.ws.loads <- struct{}{}:
		defer func() { <-s.ws.loads }()
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
	// Those that queued behind the first read of a crowd find it here.
	if e := s.ws.cached(key, pc); e != nil {
		return e.frames, e.hashes, nil
	}
	var gen uint64
	if pc != nil {
		gen = pc.Published() // before the read: a publish during it invalidates
	}
	at := time.Now()
	frames, hashes, err := s.loadWSHistory(ctx, mq, history)
	if err == nil && key != "" {
		s.ws.store(key, &wsHistoryEntry{frames: frames, hashes: hashes, gen: gen, at: at})
	}
	return frames, hashes, err
}

// publishCounter is implemented by a Node that counts what it has
// published to subscribers; the websocket history cache needs it.
type publishCounter interface {
	// Published is the number of messages published so far.
	Published() uint64
}

// History cache limits: entries live wsHistoryCacheAge at most, and at
// most wsHistoryCacheEntries of them (each at most maxWSHistoryBytes).
const (
	wsHistoryCacheAge     = time.Second
	wsHistoryCacheEntries = 16
)

// wsHistoryEntry is one shared history; its frames and hashes are never
// modified once stored.
type wsHistoryEntry struct {
	frames [][]byte
	hashes hashSet
	gen    uint64
	at     time.Time
}

// cached returns the entry for key if nothing was published since it was
// read and it is young enough.
func (h *wsHub) cached(key string, pc publishCounter) *wsHistoryEntry {
	if key == "" {
		return nil
	}
	h.mu.Lock()
	e := h.history[key]
	h.mu.Unlock()
	if e == nil || time.Since(e.at) > h.historyAge || pc.Published() != e.gen {
		return nil
	}
	return e
}

// store keeps e for key, dropping stale entries first and, if still
// full, any one.
func (h *wsHub) store(key string, e *wsHistoryEntry) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.history == nil {
		h.history = map[string]*wsHistoryEntry{}
	}
	for k, old := range h.history {
		if time.Since(old.at) > h.historyAge || old.gen != e.gen {
			delete(h.history, k)
		}
	}
	for k := range h.history {
		if len(h.history) < wsHistoryCacheEntries {
			break
		}
		delete(h.history, k)
	}
	h.history[key] = e
	// Nothing holds an entry past its age.
	time.AfterFunc(h.historyAge, func() {
		h.mu.Lock()
		if h.history[key] == e {
			delete(h.history, key)
		}
		h.mu.Unlock()
	})
}

// loadWSHistory reads the newest `history` messages matching mq, a page at a
// time, as encoded frames of at most maxWSHistoryBytes in all, with the
// hashes of the messages sent. Frames are newest first, forgotten
// skeletons before messages: sent from the end, the messages go oldest
// first, then the skeletons, as in one messages.json page.
func (s *Server) loadWSHistory(ctx context.Context, mq *messageQuery, history int) ([][]byte, hashSet, error) {
	var records, forgotten [][]byte
	var hashes hashSet
	size := 0
	f := mq.filter
	f.Pagination = min(history, wsHistoryPage)
	for f.Page = 1; ; f.Page++ {
		res, err := s.cfg.Store.ListMessages(ctx, f)
		if err != nil {
			return nil, nil, err
		}
		want := history - (f.Page-1)*f.Pagination // still wanted, this page included
		recs, fgs := res.Records, res.Forgotten
		for i := range recs {
			if i >= want {
				break
			}
			var out jsonw
			writeListedMessage(&out, &recs[i], mq.format)
			if size += out.Len(); size > maxWSHistoryBytes {
				return append(forgotten, records...), hashes.done(), nil
			}
			records = append(records, out.Bytes())
			hashes.add(recs[i].ItemHash)
		}
		for i := range fgs {
			if i >= want {
				break
			}
			var out jsonw
			writeForgottenMessage(&out, &fgs[i])
			if size += out.Len(); size > maxWSHistoryBytes {
				return append(forgotten, records...), hashes.done(), nil
			}
			forgotten = append(forgotten, out.Bytes())
		}
		if want <= f.Pagination || len(recs)+len(fgs) < f.Pagination {
			return append(forgotten, records...), hashes.done(), nil
		}
	}
}

// hashSet is the set of item hashes a socket's history sent, kept for
// the socket's life to skip them in the live stream. It holds 8 bytes a
// hash (a seeded 64-bit hash of it, sorted) rather than the strings and a
// map: 2,000 sockets with history=50 keep 0.8 MB instead of about 10 MB.
// A collision would skip a live message: with at most 199 entries, the
// odds are about 2^-56 a message.
type hashSet []uint64

var hashSeed = maphash.MakeSeed()

func (h *hashSet) add(s string) { *h = append(*h, maphash.String(hashSeed, s)) }

// done sorts the set (and trims its spare capacity) for has.
func (h hashSet) done() hashSet {
	slices.Sort(h)
	return slices.Clip(h)
}

func (h hashSet) has(s string) bool {
	if len(h) == 0 {
		return false
	}
	_, ok := slices.BinarySearch(h, maphash.String(hashSeed, s))
	return ok
}

// matches tells whether a newly processed message passes the filters.
func (mq *messageQuery) matches(rec *store.Record) bool {
	f := &mq.filter
	if mq.none || mq.forgotten {
		return false
	}
	if len(f.Statuses) > 0 && !slices.Contains(f.Statuses, rec.Status) {
		return false
	}
	in := func(list []string, v string) bool { return len(list) == 0 || slices.Contains(list, v) }
	if !in(f.Hashes, rec.ItemHash) || !in(f.Addresses, rec.Sender) || !in(f.Owners, rec.Owner) ||
		!in(f.Refs, rec.ContentRef) || !in(f.ContentHashes, rec.ContentItemHash) || !in(f.ContentKeys, rec.ContentKey) ||
		!in(f.ContentTypes, rec.ContentType) || !in(f.Chains, rec.Chain) || !in(f.Channels, rec.Channel) ||
		!in(f.PaymentTypes, rec.PaymentType) {
		return false
	}
	if len(f.Types) > 0 && !slices.Contains(f.Types, rec.Type) {
		return false
	}
	if f.StartDate > 0 && rec.Time < f.StartDate || f.EndDate > 0 && rec.Time >= f.EndDate {
		return false
	}
	if len(f.Tags) > 0 {
		var c struct {
			Content struct {
				Tags []string `json:"tags"`
			} `json:"content"`
		}
		if json.Unmarshal(rec.Content, &c) != nil {
			return false
		}
		for _, t := range c.Content.Tags {
			if slices.Contains(f.Tags, t) {
				return true
			}
		}
		return false
	}
	return true
}
