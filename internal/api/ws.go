package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/goaleph/goaleph/internal/store"
)

// WebSocket limits (reference node config websocket.*).
const (
	maxWSConnections = 10000
	wsPingInterval   = 30 * time.Second
	wsWriteTimeout   = 10 * time.Second
	// wsBuffer is how many live messages a slow client may lag behind
	// before it loses messages.
	wsBuffer = 256
)

// wsHub counts the open WebSocket connections.
type wsHub struct {
	conns atomic.Int64
	max   int64
}

func newWSHub() *wsHub { return &wsHub{max: maxWSConnections} }

// acquire takes a connection slot; false when all are taken.
func (h *wsHub) acquire() bool {
	if h.conns.Add(1) > h.max {
		h.conns.Add(-1)
		return false
	}
	return true
}

func (h *wsHub) release() { h.conns.Add(-1) }

// wsMessages is GET /api/ws0/messages: the last `history` messages that
// match the filters of messages.json (oldest first), then every newly
// processed message that matches, one JSON text frame each, in the
// messages.json item shape. Frames from the client are ignored.
func (s *Server) wsMessages(w http.ResponseWriter, r *http.Request) {
	p := newParams(r)
	mq := parseMessageQuery(p)
	history := p.int("history", defaultWSHistory, 0, maxWSHistory)
	if p.err != nil {
		s.failQuery(w, r, p.err)
		return
	}
	// Browsers connect from any origin, as the reference node allows.
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		return // Accept has answered
	}
	defer c.CloseNow()
	if !s.ws.acquire() {
		c.Close(websocket.StatusTryAgainLater, "Too many connections")
		return
	}
	defer s.ws.release()

	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel() // runs before wg.Wait

	// Subscribe before reading the history so that nothing processed in
	// between is missed; what the history already sent is skipped.
	live, unsubscribe := s.cfg.Node.Subscribe(wsBuffer)
	defer unsubscribe()

	// The reader discards client frames and answers control frames (pongs
	// included); it ends the connection when the client goes away.
	wg.Add(2)
	go func() {
		defer wg.Done()
		defer cancel()
		for {
			if _, _, err := c.Read(ctx); err != nil {
				return
			}
		}
	}()
	go func() {
		defer wg.Done()
		defer cancel()
		t := time.NewTicker(wsPingInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				pctx, pcancel := context.WithTimeout(ctx, wsPingInterval)
				err := c.Ping(pctx)
				pcancel()
				if err != nil {
					return
				}
			}
		}
	}()

	send := func(b []byte) error {
		wctx, wcancel := context.WithTimeout(ctx, wsWriteTimeout)
		defer wcancel()
		return c.Write(wctx, websocket.MessageText, b)
	}
	sent := map[string]bool{}
	if history > 0 && !mq.none {
		f := mq.filter
		f.Pagination, f.Page = history, 1
		res, err := s.cfg.Store.ListMessages(ctx, f)
		if err != nil {
			s.log.Error("websocket history", "err", err)
			c.Close(websocket.StatusInternalError, "")
			return
		}
		for i := len(res.Records) - 1; i >= 0; i-- {
			var out jsonw
			writeListedMessage(&out, &res.Records[i], mq.format)
			if send(out.Bytes()) != nil {
				return
			}
			sent[res.Records[i].ItemHash] = true
		}
		for i := len(res.Forgotten) - 1; i >= 0; i-- {
			var out jsonw
			writeForgottenMessage(&out, &res.Forgotten[i])
			if send(out.Bytes()) != nil {
				return
			}
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case rec, ok := <-live:
			if !ok {
				c.Close(websocket.StatusGoingAway, "node shutting down")
				return
			}
			if sent[rec.ItemHash] || !mq.matches(rec) {
				continue
			}
			var out jsonw
			writeListedMessage(&out, rec, mq.format)
			if err := send(out.Bytes()); err != nil {
				if !errors.Is(err, context.Canceled) {
					s.log.Debug("websocket write", "err", err)
				}
				return
			}
		}
	}
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
