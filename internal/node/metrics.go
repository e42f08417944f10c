package node

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/goaleph/goaleph/internal/prom"
	"github.com/goaleph/goaleph/internal/store"
)

// metrics are the node's Prometheus metrics, served at /metrics.
type metrics struct {
	registry     *prometheus.Registry
	ingested     prometheus.Counter
	processed    *prometheus.CounterVec
	rejected     *prometheus.CounterVec
	retries      *prometheus.CounterVec
	applyBatch   prometheus.Histogram
	applySeconds prometheus.Histogram
	gcDeleted    prometheus.Counter
	// rejectedPruned counts rejected records deleted by PruneRejected.
	rejectedPruned prometheus.Counter
	// collectRemoving, collectRemoved and collectBytesFreed count what
	// collection passes did, by payment type (hold, credit).
	collectRemoving, collectRemoved, collectBytesFreed *prometheus.CounterVec
	db                                                 *dbHealth

	// lastCounts is the last answer of store.Counts, served while the
	// database does not answer.
	countsMu   sync.Mutex
	lastCounts store.Counts
}

func newMetrics(n *Node) *metrics {
	r := prometheus.NewRegistry()
	m := &metrics{
		registry:       r,
		ingested:       prom.Counter("aleph_messages_ingested_total", "Messages accepted by the API and stored (processed, pending or rejected)."),
		processed:      prom.CounterVec("aleph_messages_processed_total", "Messages processed, by type.", "type"),
		rejected:       prom.CounterVec("aleph_messages_rejected_total", "Messages rejected after ingestion, by error code.", "code"),
		retries:        prom.CounterVec("aleph_messages_retries_total", "Processing attempts that will be retried, by error code.", "code"),
		applyBatch:     prom.Histogram("aleph_apply_batch_size", "Messages applied per transaction.", prometheus.ExponentialBuckets(1, 4, 7)),
		applySeconds:   prom.Histogram("aleph_apply_batch_seconds", "Duration of apply transactions.", prometheus.DefBuckets),
		gcDeleted:      prom.Counter("aleph_gc_files_deleted_total", "Files deleted by the garbage collector."),
		rejectedPruned: prom.Counter("aleph_rejected_pruned_total", "Records of rejected messages deleted on expiry or over the cap."),
		db:             newDBHealth(),
		collectRemoving: prom.CounterVec("aleph_collection_removing_total",
			"Messages collection passes found not paid for (status removing), by payment type.", "payment"),
		collectRemoved: prom.CounterVec("aleph_collection_removed_total",
			"Messages removed by collection passes once their grace period ended, by payment type.", "payment"),
		collectBytesFreed: prom.CounterVec("aleph_collection_bytes_freed_total",
			"Sizes of the files that removed STOREs left without pins (deleted by the next garbage collection), by payment type.", "payment"),
	}
	r.MustRegister(m.ingested, m.processed, m.rejected, m.retries, m.applyBatch, m.applySeconds, m.gcDeleted, m.rejectedPruned,
		m.collectRemoving, m.collectRemoved, m.collectBytesFreed,
		m.db.up, m.db.errors,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "aleph_messages_total", Help: "Messages stored (processed or removing)."},
			func() float64 { return float64(n.counts().Messages) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "aleph_pending_messages", Help: "Messages waiting to be processed."},
			func() float64 { return float64(n.counts().Pending) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "aleph_files_total", Help: "Files known to the node."},
			func() float64 { return float64(n.counts().Files) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "aleph_file_store_bytes", Help: "Bytes in the local file store."},
			func() float64 { _, b := n.files.Usage(); return float64(b) }),
	)
	return m
}

// counts reads the stored counts for the gauges. While the database is
// down, or when the query fails, it serves the last values read, so that
// /metrics keeps answering at once during an outage.
func (n *Node) counts() store.Counts {
	m := n.metrics
	if !m.db.down.Load() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		got, err := n.store.Counts(ctx)
		cancel()
		switch {
		case err == nil:
			m.countsMu.Lock()
			m.lastCounts = got
			m.countsMu.Unlock()
			return got
		case errors.Is(err, store.ErrUnavailable):
			n.dbFailed(err)
		}
	}
	m.countsMu.Lock()
	defer m.countsMu.Unlock()
	return m.lastCounts
}
