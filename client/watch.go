package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"strconv"

	"github.com/coder/websocket"
)

// maxFrame bounds one WebSocket frame (one message).
const maxFrame = 16 << 20

// Watch subscribes to the node's message feed (/api/ws0/messages) with
// the filters of f (Page and Pagination are ignored). The node first sends
// up to history past messages that match, oldest first (history < 0 leaves
// the node's default, 10), then every newly processed message that matches.
//
// The connection is made before Watch returns, so a refused subscription
// is an error of Watch. The returned sequence yields messages until ctx is
// done (then it stops without error), the loop breaks, or the connection
// fails (then it yields one final non-nil error). It can be ranged over
// once; the connection is closed when the loop ends or ctx is done.
func (c *Client) Watch(ctx context.Context, f MessageFilter, history int) (iter.Seq2[Message, error], error) {
	q := f.query()
	if history >= 0 {
		q.Set("history", strconv.Itoa(history))
	}
	u := c.wsURL("/api/ws0/messages", q)
	h := http.Header{}
	h.Set("User-Agent", c.userAgent)
	conn, resp, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPClient: c.http, HTTPHeader: h})
	if err != nil {
		if resp != nil && resp.StatusCode/100 != 2 && resp.StatusCode != http.StatusSwitchingProtocols {
			e := &Error{Status: resp.StatusCode, URL: u, Message: http.StatusText(resp.StatusCode)}
			return nil, e
		}
		return nil, fmt.Errorf("aleph: watch %s: %w", u, err)
	}
	conn.SetReadLimit(maxFrame)
	// Close the connection when ctx ends, even if the sequence is never
	// ranged over.
	stop := context.AfterFunc(ctx, func() { conn.CloseNow() })
	used := false
	return func(yield func(Message, error) bool) {
		defer stop()
		defer conn.CloseNow()
		if used {
			yield(Message{}, errors.New("aleph: watch sequence ranged over twice"))
			return
		}
		used = true
		for {
			typ, b, err := conn.Read(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				yield(Message{}, fmt.Errorf("aleph: watch %s: %w", u, err))
				return
			}
			if typ != websocket.MessageText {
				continue
			}
			var m Message
			if err := json.Unmarshal(b, &m); err != nil {
				if !yield(Message{}, fmt.Errorf("aleph: watch: decode frame: %w", err)) {
					return
				}
				continue
			}
			if !yield(m, nil) {
				conn.Close(websocket.StatusNormalClosure, "")
				return
			}
		}
	}, nil
}
