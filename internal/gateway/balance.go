package gateway

import (
	"math"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"time"
)

// DefaultEjectFor is how long a failing upstream gets no traffic.
const DefaultEjectFor = 30 * time.Second

// Upstream is one compute node as the gateway sees it: its requests in
// flight and, after a failure, until when it is ejected. Safe for
// concurrent use.
type Upstream struct {
	base         string
	inflight     atomic.Int64
	ejectedUntil atomic.Int64 // Unix nanoseconds
	// down is set by the active health checks (health.go) after failed
	// probes, cleared by a good one; fails counts the failed probes in a
	// row.
	down  atomic.Bool
	fails atomic.Int32
	// latency is a moving average of the time to a response's headers
	// (nanoseconds), what scale-out compares with its threshold.
	latency atomic.Int64
	// usage is the last capacity the node reported (nil: none yet).
	usage atomic.Pointer[usage]
	// pendingKB is the memory of the programs the gateway placed on the
	// node since that report (scale.go).
	pendingKB atomic.Int64
	// weight is the node's share of traffic by its score (scores.go;
	// float64 bits, 0: no score, which weighs as 1); lowScore is set while
	// its score is below the threshold: it gets no traffic then.
	weight   atomic.Uint64
	lowScore atomic.Bool
}

// weightOf is u's weight in pick.
func (u *Upstream) weightOf() float64 {
	if b := u.weight.Load(); b != 0 {
		return math.Float64frombits(b)
	}
	return 1
}

// setUsage records a new report of the node's capacity.
func (u *Upstream) setUsage(x *usage) {
	u.usage.Store(x)
	u.pendingKB.Store(0)
}

func newUpstream(base string) *Upstream { return &Upstream{base: base} }

// healthy reports whether u takes traffic at now: not ejected after a
// failed request, not down by its health checks.
func (u *Upstream) healthy(now time.Time) bool {
	return !u.down.Load() && now.UnixNano() >= u.ejectedUntil.Load()
}

// observe adds the time d a response took to come to the moving average
// (weight 1/8 per response).
func (u *Upstream) observe(d time.Duration) {
	for {
		old := u.latency.Load()
		next := int64(d)
		if old != 0 {
			next = old + (int64(d)-old)/8
		}
		if u.latency.CompareAndSwap(old, next) {
			return
		}
	}
}

// eject takes u out of rotation until now+d; it reports whether u was
// healthy before (a new ejection).
func (u *Upstream) eject(now time.Time, d time.Duration) bool {
	until := now.Add(d).UnixNano()
	for {
		old := u.ejectedUntil.Load()
		if old >= until {
			return false
		}
		if u.ejectedUntil.CompareAndSwap(old, until) {
			return now.UnixNano() >= old
		}
	}
}

// pick chooses a target among ts for a request, never one of the
// upstreams in avoid (those the request failed on) nor one whose score
// is below the threshold: of two healthy targets drawn at random, each
// with a chance in proportion to its score, the one with fewer requests
// in flight (the "power of two choices"). When every target is ejected
// it chooses among them all rather than fail. ok is false when ts holds
// nothing but avoid and nodes of too low a score.
func pick(ts []target, avoid []*Upstream, now time.Time) (target, bool) {
	var buf [8]target
	cands := buf[:0]
	for _, t := range ts {
		if !slices.Contains(avoid, t.up) && !t.up.lowScore.Load() && t.up.healthy(now) {
			cands = append(cands, t)
		}
	}
	if len(cands) == 0 {
		for _, t := range ts {
			if !slices.Contains(avoid, t.up) && !t.up.lowScore.Load() {
				cands = append(cands, t)
			}
		}
	}
	switch len(cands) {
	case 0:
		return target{}, false
	case 1:
		return cands[0], true
	}
	i := drawWeighted(cands, -1)
	j := drawWeighted(cands, i)
	a, b := cands[i], cands[j]
	if b.up.inflight.Load() < a.up.inflight.Load() {
		return b, true
	}
	return a, true
}

// drawWeighted returns the index of a random target of ts other than
// skip, each with a chance in proportion to its weight.
func drawWeighted(ts []target, skip int) int {
	total := 0.0
	for i, t := range ts {
		if i != skip {
			total += t.up.weightOf()
		}
	}
	if total <= 0 { // every score is zero: uniform
		i := rand.IntN(len(ts) - min(skip+1, 1))
		if skip >= 0 && i >= skip {
			i++
		}
		return i
	}
	r := rand.Float64() * total
	last := -1
	for i, t := range ts {
		if i == skip {
			continue
		}
		last = i
		if r -= t.up.weightOf(); r < 0 {
			return i
		}
	}
	return last
}

// Base is the node's base URL.
func (u *Upstream) Base() string { return u.base }
