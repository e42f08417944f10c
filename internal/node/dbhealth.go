package node

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/goaleph/goaleph/internal/api"
	"github.com/goaleph/goaleph/internal/store"
)

// A database outage (store.ErrUnavailable: the server is down, restarting
// or unreachable) is not a failure of the messages being applied: the
// writer answers new submissions with a 503 (nothing was stored, the
// client retries), keeps every pending message scheduled in memory without
// spending its retries, and carries on. The outage is logged once when it
// starts and once when it ends; while it lasts a pinger polls the database
// every dbPingPeriod, and when the database answers again the parked
// pending messages are retried at once.

const (
	// dbPingPeriod is the polling interval of the pinger during an outage.
	dbPingPeriod = time.Second
	// dbMaxBackoff caps the delay before a parked message is tried again
	// (the pinger wakes them all sooner when the database is back).
	dbMaxBackoff = 30 * time.Second
	// dbWaitKey is the n.waits key of the messages parked by an outage.
	dbWaitKey = "\x00database"
)

// dbHealth is the node's view of its database, exported as metrics. down
// is read without the lock on the writer's fast path; mu guards the rest.
type dbHealth struct {
	up     prometheus.Gauge
	errors prometheus.Counter

	down    atomic.Bool
	mu      sync.Mutex
	since   time.Time // start of the outage
	pinging bool      // a pinger runs
}

func newDBHealth() *dbHealth {
	h := &dbHealth{
		up: prometheus.NewGauge(prometheus.GaugeOpts{Name: "aleph_database_up",
			Help: "1 when the database answers, 0 during an outage."}),
		errors: prometheus.NewCounter(prometheus.CounterOpts{Name: "aleph_database_errors_total",
			Help: "Database operations (including outage pings) that failed because the database was unreachable."}),
	}
	h.up.Set(1)
	return h
}

// pinger is implemented by stores that can check that their server
// answers (store/postgres); others are probed with a light read.
type pinger interface {
	Ping(ctx context.Context) error
}

// unavailable is the error a new submission gets during an outage: it
// wraps api.ErrUnavailable (503) and the store's error.
func unavailable(err error) error {
	return fmt.Errorf("%w: %w", api.ErrUnavailable, err)
}

// dbFailed records an operation that failed because the database is
// unreachable; the first one of an outage logs it and starts the pinger.
func (n *Node) dbFailed(err error) {
	h := n.metrics.db
	h.errors.Inc()
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.down.Load() {
		return
	}
	h.down.Store(true)
	h.since = time.Now()
	h.up.Set(0)
	n.log.Error("database unavailable", "err", err)
	if !h.pinging {
		h.pinging = true
		n.bg.Add(1)
		go n.runPinger()
	}
}

// dbOK records an operation the database completed; the first one after
// an outage logs its end and wakes the messages it parked.
func (n *Node) dbOK() {
	h := n.metrics.db
	if !h.down.Load() {
		return
	}
	h.mu.Lock()
	if !h.down.Load() {
		h.mu.Unlock()
		return
	}
	h.down.Store(false)
	outage := time.Since(h.since)
	h.up.Set(1)
	h.mu.Unlock()
	n.log.Info("database available again", "outage", outage.Round(time.Millisecond).String())
	n.wake(dbWaitKey)
}

// runPinger polls the database until it answers or the node stops.
func (n *Node) runPinger() {
	defer n.bg.Done()
	h := n.metrics.db
	t := time.NewTicker(dbPingPeriod)
	defer t.Stop()
	for {
		select {
		case <-n.stopped:
			h.mu.Lock()
			h.pinging = false
			h.mu.Unlock()
			return
		case <-t.C:
		}
		h.mu.Lock()
		if !h.down.Load() {
			// The writer saw it back first.
			h.pinging = false
			h.mu.Unlock()
			return
		}
		h.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), dbPingPeriod)
		err := n.ping(ctx)
		cancel()
		switch {
		case err == nil:
			n.dbOK()
		case errors.Is(err, store.ErrUnavailable):
			h.errors.Inc()
		default:
			// A timeout, or an error that does not say: still down.
			h.errors.Inc()
			n.log.Debug("database ping", "err", err)
		}
	}
}

func (n *Node) ping(ctx context.Context) error {
	if p, ok := n.store.(pinger); ok {
		return p.Ping(ctx)
	}
	_, err := n.store.Counts(ctx)
	return err
}

// park keeps a pending item whose attempt could not reach the database:
// it is retried when the database is back (dbOK wakes dbWaitKey) or, at
// the latest, after a backoff that grows with the outage. Its retry count
// is not touched: the outage is not the message's fault.
func (n *Node) park(it *item) {
	h := n.metrics.db
	h.mu.Lock()
	d := time.Since(h.since)
	h.mu.Unlock()
	n.rearm(it, min(d, dbMaxBackoff), true)
}

// rearm schedules an item again after about d (at least a second, with
// jitter), and also on dbWaitKey when parked.
func (n *Node) rearm(it *item, d time.Duration, parked bool) {
	d = max(d, time.Second)
	d = time.Duration(float64(d) * (0.5 + rand.Float64()/2))
	at := float64(time.Now().Add(d).UnixNano()) / 1e9
	n.mu.Lock()
	it.gen++
	heap.Push(&n.timers, timerEntry{at: at, it: it, gen: it.gen})
	if parked {
		w := append(n.waits[dbWaitKey], timerEntry{it: it, gen: it.gen})
		if l := len(w); l >= 1024 && l&(l-1) == 0 {
			// A long outage parks the same items again and again: drop
			// the stale entries now and then.
			live := w[:0]
			for _, e := range w {
				if e.it.gen == e.gen {
					live = append(live, e)
				}
			}
			clear(w[len(live):])
			w = live
		}
		n.waits[dbWaitKey] = w
	}
	n.mu.Unlock()
}
