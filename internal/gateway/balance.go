package gateway

import (
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
}

func newUpstream(base string) *Upstream { return &Upstream{base: base} }

// healthy reports whether u takes traffic at now.
func (u *Upstream) healthy(now time.Time) bool { return now.UnixNano() >= u.ejectedUntil.Load() }

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
// upstreams in avoid (those the request failed on): the one with fewer
// requests in flight of two random healthy targets (the "power of two
// choices"). When every target is ejected it chooses among them all
// rather than fail. ok is false when ts holds nothing but avoid.
func pick(ts []target, avoid []*Upstream, now time.Time) (target, bool) {
	var buf [8]target
	cands := buf[:0]
	for _, t := range ts {
		if !slices.Contains(avoid, t.up) && t.up.healthy(now) {
			cands = append(cands, t)
		}
	}
	if len(cands) == 0 {
		for _, t := range ts {
			if !slices.Contains(avoid, t.up) {
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
	i := rand.IntN(len(cands))
	j := rand.IntN(len(cands) - 1)
	if j >= i {
		j++
	}
	a, b := cands[i], cands[j]
	if b.up.inflight.Load() < a.up.inflight.Load() {
		return b, true
	}
	return a, true
}
