package api

import (
	"context"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/goaleph/goaleph/internal/store"
)

// The live feed of /api/ws0: the hub holds one subscription to the node
// and hands each processed message to the open sockets; a socket writes
// from a goroutine started only while it has something to send (messages,
// a ping). An open socket then costs one goroutine, the handler that
// reads it, instead of a reader and a writer waiting on a subscription
// of its own: for a crowd of 2,000 sockets, 2,000 goroutine stacks (about
// 20 MiB at the peak) and runtime structures that are never freed.

// wsHubBuffer is how many messages the hub's fan-out may lag behind the
// node before the node drops messages for every socket.
const wsHubBuffer = 1024

// wsSocket is one open socket of the live feed.
type wsSocket struct {
	c    *websocket.Conn
	mq   *messageQuery
	send func([]byte) error // one text frame, within wsWriteTimeout

	mu      sync.Mutex
	queue   []*wsLive      // at most wsBuffer; more are lost
	sent    hashSet        // the history's messages, skipped if they come live
	live    bool           // the history is sent: the queue may be written
	ping    bool           // a ping is due
	leaving string         // the node is shutting down: close with this reason
	writing bool           // a writer runs
	closed  bool           // no more writers: the handler is leaving or a write failed
	pinger  *time.Timer    // set by goLive
	writers sync.WaitGroup // the writer running, if any
}

// wsLive is a processed message as the fan-out hands it to every
// socket: encoded once per content format, by the first writer that
// sends it in that format, rather than once per socket.
type wsLive struct {
	rec    *store.Record
	once   [contentNone + 1]sync.Once
	frames [contentNone + 1][]byte
}

func (l *wsLive) frame(f contentFormat) []byte {
	l.once[f].Do(func() {
		var out jsonw
		writeListedMessage(&out, l.rec, f)
		l.frames[f] = out.Bytes()
	})
	return l.frames[f]
}

// offer queues rec for the socket; the hub's fan-out calls it.
func (k *wsSocket) offer(rec *wsLive) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.queue) < wsBuffer {
		k.queue = append(k.queue, rec)
	}
	k.kickLocked()
}

// shutdown closes the socket with StatusGoingAway once its history is sent.
func (k *wsSocket) shutdown(reason string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.leaving = reason
	k.kickLocked()
}

// goLive lets the queue be written once the history (whose hashes are
// sent) is, and pings the client every ping from a writer: a client
// that does not answer within ping is dropped.
func (k *wsSocket) goLive(sent hashSet, ping time.Duration) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.sent, k.live = sent, true
	k.kickLocked()
	k.pinger = time.AfterFunc(ping, func() {
		k.mu.Lock()
		defer k.mu.Unlock()
		if k.closed {
			return
		}
		k.ping = true
		k.kickLocked()
		k.pinger.Reset(ping)
	})
}

// stop starts no more writers (nor pings).
func (k *wsSocket) stop() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.closed = true
	if k.pinger != nil {
		k.pinger.Stop()
	}
}

// kickLocked starts a writer if something is due and none runs.
func (k *wsSocket) kickLocked() {
	if k.closed || k.writing || !k.live || len(k.queue) == 0 && !k.ping && k.leaving == "" {
		return
	}
	k.writing = true
	k.writers.Add(1)
	go k.write()
}

// write sends what is due until nothing is. A failed write closes the
// connection, which ends the handler's read.
func (k *wsSocket) write() {
	defer k.writers.Done()
	for {
		k.mu.Lock()
		var rec *wsLive
		ping, leaving := k.ping, k.leaving
		switch {
		case leaving != "":
			k.closed = true
		case ping:
			k.ping = false
		case len(k.queue) > 0:
			rec, k.queue[0], k.queue = k.queue[0], nil, k.queue[1:]
			if len(k.queue) == 0 {
				k.queue = nil // the array the queue grew into goes too
			}
		default:
			k.writing = false
			k.mu.Unlock()
			return
		}
		k.mu.Unlock()
		var err error
		switch {
		case leaving != "":
			k.c.Close(websocket.StatusGoingAway, leaving)
			return
		case ping:
			ctx, cancel := context.WithTimeout(context.Background(), wsPingInterval)
			err = k.c.Ping(ctx)
			cancel()
		case !k.sent.has(rec.rec.ItemHash) && k.mq.matches(rec.rec):
			err = k.send(rec.frame(k.mq.format))
		}
		if err != nil {
			k.mu.Lock()
			k.closed = true
			k.mu.Unlock()
			k.c.CloseNow()
			return
		}
	}
}

// wsFeed is the hub's subscription to the node.
type wsFeed struct{ cancel func() }

// join adds k to the sockets the hub feeds, subscribing to the node for
// the first one.
func (h *wsHub) join(k *wsSocket, subscribe func(buffer int) (<-chan *store.Record, func())) {
	h.feedMu.Lock()
	defer h.feedMu.Unlock()
	if h.sockets == nil {
		h.sockets = map[*wsSocket]struct{}{}
	}
	h.sockets[k] = struct{}{}
	if h.feed == nil {
		ch, cancel := subscribe(wsHubBuffer)
		h.feed = &wsFeed{cancel: cancel}
		go h.fanOut(h.feed, ch)
	}
}

// leave removes k; the last socket to leave ends the subscription (and
// with it the fan-out goroutine).
func (h *wsHub) leave(k *wsSocket) {
	h.feedMu.Lock()
	defer h.feedMu.Unlock()
	delete(h.sockets, k)
	if len(h.sockets) > 0 {
		return
	}
	h.sockets = nil // a map keeps the size a crowd grew it to
	if h.feed != nil {
		h.feed.cancel()
		h.feed = nil
	}
}

// joined is how many sockets the hub feeds.
func (h *wsHub) joined() int {
	h.feedMu.Lock()
	defer h.feedMu.Unlock()
	return len(h.sockets)
}

// fanOut hands what f's subscription delivers to every socket until the
// subscription ends: cancelled by leave, or closed by the node when it
// shuts down, which closes the sockets.
func (h *wsHub) fanOut(f *wsFeed, ch <-chan *store.Record) {
	for rec := range ch {
		l := &wsLive{rec: rec}
		h.feedMu.Lock()
		for k := range h.sockets {
			k.offer(l)
		}
		h.feedMu.Unlock()
	}
	h.feedMu.Lock()
	defer h.feedMu.Unlock()
	if h.feed != f {
		return // cancelled by leave
	}
	h.feed = nil
	for k := range h.sockets {
		k.shutdown("node shutting down")
	}
}
