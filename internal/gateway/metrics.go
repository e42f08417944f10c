package gateway

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/goaleph/goaleph/internal/prom"
)

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
		requests:     prom.CounterVec("aleph_gateway_upstream_requests_total", "Requests sent to compute nodes, by upstream and status (error: no response).", "upstream", "code"),
		latency:      prom.HistogramVec("aleph_gateway_upstream_request_seconds", "Time from sending a request to a compute node to the end of its response, by upstream.", prometheus.ExponentialBuckets(0.0005, 2.5, 14), "upstream"),
		ejections:    prom.CounterVec("aleph_gateway_ejections_total", "Compute nodes taken out of rotation, by upstream and reason (connect or the status).", "upstream", "reason"),
		retries:      prom.Counter("aleph_gateway_retries_total", "Failed requests sent again to another compute node."),
		misses:       prom.CounterVec("aleph_gateway_misses_total", "Requests the gateway could not route: bad_host, no_txt, no_upstream.", "reason"),
		dnsQueries:   prom.CounterVec("aleph_gateway_dns_queries_total", "_aleph-id TXT queries sent (cache misses), by result (found, missing).", "result"),
		certificates: prom.CounterVec("aleph_gateway_certificates_total", "Certificate events: obtained, failed, renewed, denied (on-demand requests refused before any ACME order).", "event"),
	}
	reg.MustRegister(m.requests, m.latency, m.ejections, m.retries, m.misses, m.dnsQueries, m.certificates)
	return m
}
