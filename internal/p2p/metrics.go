package p2p

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/goaleph/goaleph/internal/prom"
)

// Reasons for which a gossiped message is dropped (label of
// aleph_p2p_gossip_dropped_total).
const (
	dropTooLarge     = "too_large"     // payload over MaxPayload
	dropMalformed    = "malformed"     // not an envelope (JSON, fields, hash)
	dropBadSignature = "bad_signature" // missing or wrong signature
	dropRejected     = "rejected"      // the node rejected it (content, permissions…)
	dropForgotten    = "forgotten"     // a copy of a forgotten message
	dropUnavailable  = "unavailable"   // the node could not store it now
	dropAlive        = "alive_invalid" // malformed or untrusted alive message
	dropOverload     = "overload"      // validation queue full or throttled (gossipsub)
	dropSendQueue    = "send_queue"    // an RPC to a slow peer dropped (its queue is full)
	dropNoPeers      = "no_peers"      // processed here while no peer was on the topic: left to sync
)

// metrics are the service's Prometheus metrics.
type metrics struct {
	in      *prometheus.CounterVec
	out     *prometheus.CounterVec
	dropped *prometheus.CounterVec
	fetches *prometheus.CounterVec
	all     []prometheus.Collector
}

func newMetrics(s *Service) *metrics {
	m := &metrics{
		in:      prom.CounterVec("aleph_p2p_gossip_messages_in_total", "Gossip messages received from peers, by topic.", "topic"),
		out:     prom.CounterVec("aleph_p2p_gossip_messages_out_total", "Gossip messages published by this node, by topic.", "topic"),
		dropped: prom.CounterVec("aleph_p2p_gossip_dropped_total", "Gossip messages dropped and not forwarded, by reason.", "reason"),
		fetches: prom.CounterVec("aleph_p2p_content_fetches_total", "Content fetches from HTTP peers, by result: found (a peer sent bytes; the node re-hashes them), not_found, error.", "result"),
	}
	for _, r := range []string{dropTooLarge, dropMalformed, dropBadSignature, dropRejected, dropForgotten, dropUnavailable, dropAlive, dropOverload, dropSendQueue, dropNoPeers} {
		m.dropped.WithLabelValues(r)
	}
	m.all = []prometheus.Collector{m.in, m.out, m.dropped, m.fetches,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "aleph_p2p_peers_connected",
			Help: "libp2p peers connected."}, func() float64 { return float64(len(s.host.Network().Peers())) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "aleph_p2p_mesh_peers",
			Help: "Peers in the gossipsub mesh of the message topic."}, func() float64 { return float64(s.MeshPeers()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "aleph_p2p_http_peers_reachable",
			Help: "HTTP API peers that answered the last probe."}, func() float64 { return float64(len(s.peers.reachable())) }),
	}
	return m
}
