package p2p

import (
	"context"
	"encoding/json"
	"errors"
	"sync"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/goaleph/goaleph/internal/store"
	"github.com/goaleph/goaleph/message"
)

// validator returns the message topic's validator. It runs the node's
// ingestion on each received message: a message is forwarded only if the
// node accepted it (processed or pending), so a node never re-broadcasts
// what it rejected. Malformed payloads and bad signatures are dropped
// before they reach the store. Messages this node publishes are accepted
// as they are: the node processed them already.
//
// The validator is asynchronous (one goroutine per message, up to
// gossipsub's per-topic throttle), so that concurrent submissions are
// committed together by the node's writer.
func (s *Service) validator(node Node) pubsub.ValidatorEx {
	return func(ctx context.Context, from peer.ID, pm *pubsub.Message) pubsub.ValidationResult {
		if from == s.host.ID() {
			return pubsub.ValidationAccept
		}
		s.m.in.WithLabelValues(MessageTopic).Inc()
		if len(pm.Data) > MaxPayload {
			return s.drop(dropTooLarge, pubsub.ValidationReject)
		}
		m, err := parseEnvelope(pm.Data)
		if err != nil {
			if message.CodeOf(err) == message.CodeInvalidSignature {
				return s.drop(dropBadSignature, pubsub.ValidationReject)
			}
			return s.drop(dropMalformed, pubsub.ValidationReject)
		}
		// The node would record a bad signature as a rejection: check it
		// first so that forgeries never reach the store.
		if err := node.VerifySignature(m); err != nil {
			return s.drop(dropBadSignature, pubsub.ValidationReject)
		}
		// Marked before Submit: the node publishes what it processed on its
		// bus before Submit returns, and publishProcessed must skip it.
		s.recent.add(m.ItemHash)
		status, err := node.Submit(ctx, m, Origin, true)
		if status != store.StatusProcessed && status != store.StatusPending {
			s.recent.remove(m.ItemHash)
		}
		switch status {
		case store.StatusProcessed, store.StatusPending:
			return pubsub.ValidationAccept
		case store.StatusRejected:
			s.log.Debug("gossiped message rejected", "item_hash", m.ItemHash, "err", err)
			if message.CodeOf(err) == message.CodeInvalidFormat {
				return s.drop(dropMalformed, pubsub.ValidationReject)
			}
			return s.drop(dropRejected, pubsub.ValidationReject)
		case store.StatusForgotten:
			return s.drop(dropForgotten, pubsub.ValidationIgnore)
		default:
			// Nothing stored (the node is stopping, or its database is
			// down): neither forward nor blame the peer.
			if err != nil && !errors.Is(err, context.Canceled) {
				s.log.Debug("gossiped message not stored", "item_hash", m.ItemHash, "err", err)
			}
			return s.drop(dropUnavailable, pubsub.ValidationIgnore)
		}
	}
}

func (s *Service) drop(reason string, r pubsub.ValidationResult) pubsub.ValidationResult {
	s.m.dropped.WithLabelValues(reason).Inc()
	return r
}

// publishProcessed publishes the messages the node processes, except those
// that came from gossip or sync (already known to the network), and except
// while no peer is on the topic.
func (s *Service) publishProcessed(ctx context.Context, node Node, topic *pubsub.Topic) error {
	ch, cancel := node.Subscribe(8192)
	defer cancel()
	for {
		var rec *store.Record
		select {
		case <-ctx.Done():
			return nil
		case r, ok := <-ch:
			if !ok {
				return nil // the node stopped
			}
			rec = r
		}
		if s.recent.has(rec.ItemHash) {
			continue
		}
		if len(topic.ListPeers()) == 0 {
			// Nobody to tell: signing and queueing it would cost CPU
			// for nothing. Peers that connect later get it by sync.
			s.m.dropped.WithLabelValues(dropNoPeers).Inc()
			continue
		}
		data, err := json.Marshal(rec.Message)
		if err != nil {
			continue
		}
		if len(data) > MaxPayload {
			s.log.Warn("message too large to gossip", "item_hash", rec.ItemHash, "bytes", len(data))
			continue
		}
		if err := topic.Publish(ctx, data); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			s.log.Warn("publish message", "item_hash", rec.ItemHash, "err", err)
			continue
		}
		s.m.out.WithLabelValues(MessageTopic).Inc()
	}
}

// recentSet remembers the item hashes received from gossip lately, so
// that their processing is not published again. It keeps between
// recentSize and twice that many hashes.
type recentSet struct {
	mu        sync.Mutex
	cur, prev map[string]struct{}
}

const recentSize = 100_000

func (r *recentSet) add(h string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cur == nil {
		r.cur = map[string]struct{}{}
	}
	if len(r.cur) >= recentSize {
		r.prev, r.cur = r.cur, map[string]struct{}{}
	}
	r.cur[h] = struct{}{}
}

func (r *recentSet) remove(h string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.cur, h)
	delete(r.prev, h)
}

func (r *recentSet) has(h string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, a := r.cur[h]
	_, b := r.prev[h]
	return a || b
}
