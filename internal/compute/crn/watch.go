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
// update may have been missed. Once connected, it lists the core node's
// PROGRAMs (again after each reconnection) to learn the message-triggered
// and persistent ones; every message of the feed then goes through the
// reactor (reactor.go), and persistent programs are started
// (persistent.go).
func (s *Server) watch(ctx context.Context) {
	backoff := 100 * time.Millisecond
	first := true
	for ctx.Err() == nil {
		seq, err := s.cfg.Client.Watch(ctx, client.MessageFilter{}, 0)
		if err == nil {
			if !first {
				s.pool.retire(func(e *execution) bool { return len(e.prog.latest) > 0 }, "update feed reconnected")
			}
			first = false
			backoff = 100 * time.Millisecond
			if n, err := s.reg.load(ctx); err != nil {
				s.log.Warn("listing programs", "err", err, "listed", n)
			}
			for _, h := range s.reg.persistentPrograms() {
				s.supervise(ctx, h)
			}
			for m, err := range seq {
				if err != nil {
					s.log.Warn("update feed", "err", err)
					break
				}
				s.onMessage(ctx, &m)
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

func (s *Server) onMessage(ctx context.Context, m *client.Message) {
	if m.Type == message.TypeProgram && s.reg.learn(m) {
		s.supervise(ctx, m.ItemHash)
	}
	s.reg.react(ctx, m)
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
		s.reg.forget(c.Hashes)
		s.unsupervise(c.Hashes)
		forgotten := map[string]bool{}
		for _, h := range c.Hashes {
			forgotten[h] = true
		}
		s.pool.retire(func(e *execution) bool { return forgotten[e.hash] }, "forgotten by "+m.ItemHash)
	}
}
