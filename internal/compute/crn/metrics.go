package crn

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the compute node's Prometheus metrics, served at /metrics.
type metrics struct {
	registry       *prometheus.Registry
	requests       *prometheus.CounterVec   // program requests by status code
	requestSeconds *prometheus.HistogramVec // program requests, warm or cold
	prepares       *prometheus.CounterVec
	prepareSeconds *prometheus.HistogramVec
	coldSeconds    prometheus.Histogram
	downloads      *prometheus.CounterVec
	reserved       prometheus.Gauge
	paymentStops   *prometheus.CounterVec // executions stopped by the payment loop, by reason
	paymentChecks  *prometheus.CounterVec // owners checked by the payment loop, by result
}

var durationBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}

func newMetrics(s *Server) *metrics {
	r := prometheus.NewRegistry()
	m := &metrics{
		registry: r,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "aleph_crn_requests_total",
			Help: "Program requests answered, by HTTP status code."}, []string{"code"}),
		requestSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "aleph_crn_request_seconds",
			Help: "Duration of program requests, from arrival to response, by start (warm or cold).", Buckets: durationBuckets},
			[]string{"start"}),
		prepares: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "aleph_crn_prepares_total",
			Help: "Executions prepared, by backend and result (ok or error)."}, []string{"backend", "result"}),
		prepareSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "aleph_crn_prepare_seconds",
			Help:    "Duration of successful preparations (message, downloads, backend prepare, start and ready), by backend.",
			Buckets: durationBuckets}, []string{"backend"}),
		coldSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "aleph_crn_cold_start_seconds",
			Help: "Time from a request that started an execution to its response.", Buckets: durationBuckets}),
		downloads: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "aleph_crn_downloads_total",
			Help: "Files asked of the cache, by result (cached, downloaded, corrupt, error)."}, []string{"result"}),
		reserved: prometheus.NewGauge(prometheus.GaugeOpts{Name: "aleph_crn_memory_reserved_mib",
			Help: "Memory reserved by executions, in MiB."}),
		paymentStops: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "aleph_crn_payment_stops_total",
			Help: "Executions stopped by the payment check, by reason (insufficient_balance, insufficient_credit, forgotten, removed)."},
			[]string{"reason"}),
		paymentChecks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "aleph_crn_payment_checks_total",
			Help: "Payment checks, by result (ok, or error when the core node could not answer)."}, []string{"result"}),
	}
	r.MustRegister(m.requests, m.requestSeconds, m.prepares, m.prepareSeconds, m.coldSeconds, m.downloads, m.reserved, m.paymentStops, m.paymentChecks,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "aleph_crn_executions", Help: "Running executions."},
			func() float64 { return float64(len(s.pool.list())) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "aleph_crn_memory_capacity_mib", Help: "Memory the node gives programs, in MiB."},
			func() float64 { return float64(s.cfg.MemoryMiB) }),
	)
	accel := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "aleph_crn_vm_accelerator",
		Help: "1 for the accelerator each VM backend runs on (kvm, or tcg: software emulation)."}, []string{"backend", "accelerator"})
	for name, a := range accelerators(s.cfg) {
		accel.WithLabelValues(name, a).Set(1)
	}
	r.MustRegister(accel)
	return m
}
