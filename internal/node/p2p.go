package node

import "github.com/prometheus/client_golang/prometheus"

// Registry returns the node's Prometheus registry (served at /metrics), so
// that the services composed with the node (p2p) register their metrics
// beside its own.
func (n *Node) Registry() *prometheus.Registry { return n.metrics.registry }
