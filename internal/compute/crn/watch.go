package crn

import (
	"context"
	"encoding/json"
	"time"

	"github.com/goaleph/goaleph/client"
	"github.com/goaleph/goaleph/message"
)

// watch follows the core node's message feed until ctx ends and retires
// executions made stale by a message: a STORE amend by the owner of a ref
// resolved with use_latest, or a FORGET of the program. After a broken
// connection, every execution with use_latest refs is retired, since an
// update may have been missed.
func (s *Server) watch(ctx context.Context) {
	backoff := 100 * time.Millisecond
	first := true
	for ctx.Err() == nil {
		seq, err := s.cfg.Client.Watch(ctx, client.MessageFilter{
			Types: []message.Type{message.TypeStore, message.TypeForget}}, 0)
		if err == nil {
			if !first {
				s.pool.retire(func(e *execution) bool { return len(e.prog.latest) > 0 }, "update feed reconnected")
			}
			first = false
			backoff = 100 * time.Millisecond
			for m, err := range seq {
				if err != nil {
					s.log.Warn("update feed", "err", err)
					break
				}
				s.onMessage(&m)
			}
		} else {
			s.log.Warn("update feed", "err", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 8*time.Second)
	}
}

func (s *Server) onMessage(m *client.Message) {
	var c struct {
		Address string   `json:"address"`
		Ref     string   `json:"ref"`
		Hashes  []string `json:"hashes"`
	}
	if json.Unmarshal(m.Content, &c) != nil {
		return
	}
	if c.Address == "" {
		c.Address = m.Sender
	}
	switch m.Type {
	case message.TypeStore:
		if c.Ref == "" {
			return
		}
		s.pool.retire(func(e *execution) bool {
			return e.prog.latest[c.Ref] && e.prog.owner == c.Address
		}, "new version of "+c.Ref+" in "+m.ItemHash)
	case message.TypeForget:
		forgotten := map[string]bool{}
		for _, h := range c.Hashes {
			forgotten[h] = true
		}
		s.pool.retire(func(e *execution) bool { return forgotten[e.hash] }, "forgotten by "+m.ItemHash)
	}
}
