package packer

import "github.com/prometheus/client_golang/prometheus"

// metrics are the packer's Prometheus collectors (label chain="ETH").
type metrics struct {
	batches   prometheus.Counter
	messages  prometheus.Counter
	sent      prometheus.Counter
	pending   prometheus.Gauge
	gas       prometheus.Counter
	rpcErrors prometheus.Counter
}

func newMetrics() *metrics {
	chain := prometheus.Labels{"chain": Chain}
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help, ConstLabels: chain})
	}
	return &metrics{
		batches:  counter("aleph_packer_batches_anchored_total", "Batches whose transaction was mined deep enough."),
		messages: counter("aleph_packer_messages_anchored_total", "Messages in the batches anchored."),
		sent:     counter("aleph_packer_transactions_sent_total", "Transactions signed and broadcast (one per batch unless one had to be replaced)."),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{Name: "aleph_packer_transactions_pending", ConstLabels: chain,
			Help: "Transactions sent and not yet mined deep enough."}),
		gas:       counter("aleph_packer_gas_used_total", "Gas used by the mined transactions of the packer."),
		rpcErrors: counter("aleph_packer_rpc_errors_total", "Failed steps of the packer (RPC errors, database unavailable); each is retried after a back-off."),
	}
}

// Register adds the packer's metrics to reg (the node's registry).
func (s *Service) Register(reg prometheus.Registerer) error {
	m := s.metrics
	for _, c := range []prometheus.Collector{m.batches, m.messages, m.sent, m.pending, m.gas, m.rpcErrors} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}
