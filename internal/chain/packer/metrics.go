package packer

import (
	"math/big"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the packer's Prometheus collectors (label chain="ETH").
type metrics struct {
	batches   prometheus.Counter
	messages  prometheus.Counter
	sent      prometheus.Counter
	pending   prometheus.Gauge
	gas       prometheus.Counter
	fees      prometheus.Counter
	price     prometheus.Gauge
	refused   prometheus.Counter
	replaced  prometheus.Counter
	rpcErrors prometheus.Counter
}

// weiFloat converts an amount of wei for a metric (Prometheus values are
// floats: display only; the exact amounts are in the receipts).
func weiFloat(v *big.Int) float64 {
	f, _ := new(big.Float).SetInt(v).Float64()
	return f
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
		gas:  counter("aleph_packer_gas_used_total", "Gas used by the mined transactions of the packer."),
		fees: counter("aleph_packer_fees_wei_total", "Fees paid by the mined transactions of the packer, in wei (gas used × effective gas price)."),
		price: prometheus.NewGauge(prometheus.GaugeOpts{Name: "aleph_packer_gas_price_wei", ConstLabels: chain,
			Help: "Effective gas price of the packer's last mined transaction, in wei."}),
		refused: counter("aleph_packer_gas_price_refused_total",
			"Transactions (new or replacements) not sent because the gas price was above chain.ethereum.max_gas_price."),
		replaced:  counter("aleph_packer_transactions_replaced_total", "Stuck transactions replaced by one with the same nonce and higher fees."),
		rpcErrors: counter("aleph_packer_rpc_errors_total", "Failed steps of the packer (RPC errors, database unavailable); each is retried after a back-off."),
	}
}

// Register adds the packer's metrics to reg (the node's registry).
func (s *Service) Register(reg prometheus.Registerer) error {
	m := s.metrics
	for _, c := range []prometheus.Collector{m.batches, m.messages, m.sent, m.pending, m.gas, m.fees, m.price, m.refused, m.replaced, m.rpcErrors} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return s.client.Register(reg)
}
