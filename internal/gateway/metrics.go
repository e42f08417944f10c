package gateway

import "github.com/prometheus/client_golang/prometheus"

// metrics are the gateway's Prometheus metrics (served at /metrics of
// its metrics listener).
type metrics struct {
	requests     *prometheus.CounterVec
	latency      *prometheus.HistogramVec
	ejections    *prometheus.CounterVec
	retries      prometheus.Counter
	misses       *prometheus.CounterVec
	dnsQueries   *prometheus.CounterVec
	certificates *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "aleph_gateway_upstream_requests_total",
			Help: "Requests sent to compute nodes, by upstream and status (error: no response)."}, []string{"upstream", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "aleph_gateway_upstream_request_seconds",
			Help:    "Time from sending a request to a compute node to the end of its response, by upstream.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2.5, 14)}, []string{"upstream"}),
		ejections: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "aleph_gateway_ejections_total",
			Help: "Compute nodes taken out of rotation, by upstream and reason (connect or the status)."}, []string{"upstream", "reason"}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{Name: "aleph_gateway_retries_total",
			Help: "Failed requests sent again to another compute node."}),
		misses: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "aleph_gateway_misses_total",
			Help: "Requests the gateway could not route: bad_host, no_txt, no_upstream."}, []string{"reason"}),
		dnsQueries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "aleph_gateway_dns_queries_total",
			Help: "_aleph-id TXT queries sent (cache misses), by result (found, missing)."}, []string{"result"}),
		certificates: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "aleph_gateway_certificates_total",
			Help: "Certificate events: obtained, failed, renewed, denied (on-demand requests refused before any ACME order)."}, []string{"event"}),
	}
	reg.MustRegister(m.requests, m.latency, m.ejections, m.retries, m.misses, m.dnsQueries, m.certificates)
	return m
}
