package p2p

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// alive is the alive message of the reference node (spec §8).
type alive struct {
	Address   string    `json:"address"`
	Interests *[]string `json:"interests"`
	PeerType  string    `json:"peer_type"`
	Version   string    `json:"version"`
}

// maxAlive bounds an alive message.
const maxAlive = 4096

// aliveValidator accepts well-formed alive messages from trusted authors
// (messages of unknown peers are not forwarded either).
func (s *Service) aliveValidator(_ context.Context, from peer.ID, pm *pubsub.Message) pubsub.ValidationResult {
	if from == s.host.ID() {
		return pubsub.ValidationAccept
	}
	s.m.in.WithLabelValues(AliveTopic).Inc()
	if _, ok := s.parseAlive(pm); !ok {
		return s.drop(dropAlive, pubsub.ValidationIgnore)
	}
	return pubsub.ValidationAccept
}

func (s *Service) parseAlive(pm *pubsub.Message) (alive, bool) {
	var a alive
	if len(pm.Data) > maxAlive || json.Unmarshal(pm.Data, &a) != nil {
		return a, false
	}
	author := pm.GetFrom()
	s.mu.Lock()
	trusted := len(s.cfg.TrustedPeers) == 0 || s.trusted[author]
	s.mu.Unlock()
	if !trusted {
		return a, false
	}
	switch a.PeerType {
	case peerP2P:
		// A peer announces itself only: the address must name the author.
		info, err := peer.AddrInfoFromString(a.Address)
		return a, err == nil && info.ID == author
	case peerHTTP:
		return a, validHTTPURL(a.Address)
	case "IPFS":
		return a, true // accepted and forwarded, not used (no IPFS here)
	}
	return a, false
}

// announce publishes this node's alive messages every AlivePeriod.
func (s *Service) announce(ctx context.Context, topic *pubsub.Topic) error {
	t := time.NewTicker(s.cfg.AlivePeriod)
	defer t.Stop()
	for {
		s.publishAlive(ctx, topic)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// readAlive records the peers announced by others, and dials the new ones.
func (s *Service) readAlive(ctx context.Context, sub *pubsub.Subscription) error {
	for {
		pm, err := sub.Next(ctx)
		if err != nil {
			return nil
		}
		if pm.ReceivedFrom == s.host.ID() {
			continue
		}
		a, ok := s.parseAlive(pm)
		if !ok {
			continue
		}
		now := time.Now()
		switch a.PeerType {
		case peerP2P:
			author := pm.GetFrom()
			if s.peers.addP2P(author, a.Address, "alive", now) &&
				s.host.Network().Connectedness(author) != network.Connected {
				s.wg.Go(func() { s.connect(ctx, a.Address) })
			}
		case peerHTTP:
			if strings.TrimRight(a.Address, "/") != s.selfURL {
				s.peers.addHTTP(a.Address, "alive", now)
			}
		}
	}
}

func (s *Service) publishAlive(ctx context.Context, topic *pubsub.Topic) {
	msgs := []alive{{Address: s.announceAddr(), PeerType: peerP2P, Version: s.cfg.Version}}
	if s.selfURL != "" {
		msgs = append(msgs, alive{Address: s.selfURL, PeerType: peerHTTP, Version: s.cfg.Version})
	}
	for _, a := range msgs {
		if a.Address == "" {
			continue
		}
		data, _ := json.Marshal(a)
		if err := topic.Publish(ctx, data); err != nil {
			if ctx.Err() == nil {
				s.log.Debug("publish alive", "err", err)
			}
			return
		}
		s.m.out.WithLabelValues(AliveTopic).Inc()
	}
}
