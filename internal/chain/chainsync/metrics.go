package chainsync

import "github.com/prometheus/client_golang/prometheus"

// metrics are the service's Prometheus collectors, labelled by chain.
type metrics struct {
	s          *Service
	head       *prometheus.GaugeVec
	synced     *prometheus.GaugeVec
	lag        *prometheus.GaugeVec
	events     *prometheus.CounterVec
	messages   *prometheus.CounterVec
	archives   *prometheus.CounterVec
	pollErrors prometheus.Counter
	backoff    prometheus.Gauge
	reorgs     prometheus.Counter
}

func newMetrics(s *Service) *metrics {
	chain := prometheus.Labels{"chain": Chain}
	gauge := func(name, help string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, []string{"chain"})
	}
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, append([]string{"chain"}, labels...))
	}
	return &metrics{
		s:      s,
		head:   gauge("aleph_chain_head_height", "Height of the chain's head at the last poll."),
		synced: gauge("aleph_chain_synced_height", "Last block of the chain read and handled."),
		lag:    gauge("aleph_chain_lag_blocks", "Blocks between the chain's head and the synced height."),
		events: counter("aleph_chain_events_total",
			"AlephSync events handled, by kind (aleph, aleph-offchain, smart-contract, unknown) and outcome.", "kind", "outcome"),
		messages: counter("aleph_chain_messages_total", "Messages read from the chain, by outcome (accepted, rejected, invalid).", "outcome"),
		archives: counter("aleph_chain_archives_total", "Attempts to fetch an archive by CID, by outcome (fetched, failed).", "outcome"),
		pollErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "aleph_chain_poll_errors_total",
			Help: "Polls of the chain that failed (RPC errors, node unavailable).", ConstLabels: chain}),
		backoff: prometheus.NewGauge(prometheus.GaugeOpts{Name: "aleph_chain_poll_backoff_seconds", ConstLabels: chain,
			Help: "Wait before the next poll after failed polls (doubling with each failure); 0 while polls succeed."}),
		reorgs: prometheus.NewCounter(prometheus.CounterOpts{Name: "aleph_chain_reorgs_total",
			Help: "Reorganisations that dropped blocks already read (their confirmations were removed).", ConstLabels: chain}),
	}
}

// Register adds the service's metrics to reg (the node's registry).
func (s *Service) Register(reg prometheus.Registerer) error {
	m := s.metrics
	chain := prometheus.Labels{"chain": Chain}
	for _, c := range []prometheus.Collector{m.head, m.synced, m.lag, m.events, m.messages, m.archives, m.pollErrors, m.backoff, m.reorgs,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "aleph_chain_archives_pending", ConstLabels: chain,
			Help: "Archives that could not be fetched yet, waiting for their next attempt."},
			func() float64 { return float64(s.pendingArchives()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "aleph_chain_rpc_errors_total", ConstLabels: chain,
			Help: "Failed JSON-RPC calls to the chain."},
			func() float64 { return float64(s.reader.Stats().RPCErrors) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "aleph_chain_events_ignored_total", ConstLabels: chain,
			Help: "SyncEvents from emitters that are not authorised."},
			func() float64 { return float64(s.reader.Stats().Ignored) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "aleph_chain_logs_malformed_total", ConstLabels: chain,
			Help: "Logs of the sync contract that do not decode."},
			func() float64 { return float64(s.reader.Stats().Malformed) }),
	} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return s.client.Register(reg)
}

// observe updates the height gauges after a poll.
func (m *metrics) observe() {
	st := m.s.reader.Stats()
	if st.Head == 0 {
		return
	}
	m.head.WithLabelValues(Chain).Set(float64(st.Head))
	if st.SyncHeight > 0 {
		m.synced.WithLabelValues(Chain).Set(float64(st.SyncHeight))
		m.lag.WithLabelValues(Chain).Set(float64(st.Head - min(st.SyncHeight, st.Head)))
	}
}

func (m *metrics) event(kind, outcome string) { m.events.WithLabelValues(Chain, kind, outcome).Inc() }
