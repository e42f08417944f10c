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
	retries      *prometheus.CounterVec
	healthChecks *prometheus.CounterVec
	upstreamUp   *prometheus.GaugeVec
	// upstreamScore is each compute node's score as the gateway weighs it.
	upstreamScore *prometheus.GaugeVec
	placements    *prometheus.CounterVec
	progRequests  *prometheus.CounterVec
	progLatency   *prometheus.HistogramVec
	websockets    *prometheus.GaugeVec
	misses        *prometheus.CounterVec
	dnsQueries    *prometheus.CounterVec
	certificates  *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests:      prom.CounterVec("aleph_gateway_upstream_requests_total", "Requests sent to compute nodes, by upstream and status (error: no response).", "upstream", "code"),
		latency:       prom.HistogramVec("aleph_gateway_upstream_request_seconds", "Time from sending a request to a compute node to the end of its response, by upstream.", prometheus.ExponentialBuckets(0.0005, 2.5, 14), "upstream"),
		ejections:     prom.CounterVec("aleph_gateway_ejections_total", "Compute nodes taken out of rotation, by upstream and reason (connect or the status).", "upstream", "reason"),
		retries:       prom.CounterVec("aleph_gateway_retries_total", "Failed requests sent again to another compute node, by program.", "program"),
		healthChecks:  prom.CounterVec("aleph_gateway_health_checks_total", "Active health checks of compute nodes, by upstream and result (ok, fail).", "upstream", "result"),
		upstreamScore: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "aleph_gateway_upstream_score", Help: "Score of a compute node (median of the trusted scorers' newest scores posts); below the threshold it gets no traffic."}, []string{"upstream"}),
		upstreamUp:    prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "aleph_gateway_upstream_up", Help: "1 while a compute node passes its health checks, 0 while it is down."}, []string{"upstream"}),
		placements:    prom.CounterVec("aleph_gateway_placements_total", "Compute nodes brought into a program's rotation by the gateway, by program, upstream and reason (start: no node ran it; scale_out: load over the thresholds).", "program", "upstream", "reason"),
		progRequests:  prom.CounterVec("aleph_gateway_program_requests_total", "Requests answered through the gateway, by program and status.", "program", "code"),
		progLatency:   prom.HistogramVec("aleph_gateway_program_request_seconds", "Time from receiving a request to the end of its answer, by program.", prometheus.ExponentialBuckets(0.0005, 2.5, 14), "program"),
		websockets:    prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "aleph_gateway_websockets", Help: "Upgraded connections (websockets) open through the gateway, by upstream."}, []string{"upstream"}),
		misses:        prom.CounterVec("aleph_gateway_misses_total", "Requests the gateway could not route: bad_host, no_txt, no_upstream.", "reason"),
		dnsQueries:    prom.CounterVec("aleph_gateway_dns_queries_total", "_aleph-id TXT queries sent (cache misses), by result (found, missing).", "result"),
		certificates:  prom.CounterVec("aleph_gateway_certificates_total", "Certificate events: obtained, failed, renewed, denied (on-demand requests refused before any ACME order).", "event"),
	}
	reg.MustRegister(m.requests, m.latency, m.ejections, m.retries, m.healthChecks, m.upstreamUp, m.upstreamScore, m.placements,
		m.progRequests, m.progLatency, m.websockets, m.misses, m.dnsQueries, m.certificates)
	return m
}
