package ethrpc

import "sync"

// growAfter is how many calls must succeed in a row before a span shrunk
// by errors doubles again: an endpoint's limit is then met again only once
// every growAfter+1 calls.
const growAfter = 4

// Span is the number of blocks an eth_getLogs call asks for: it halves
// when a call fails (endpoints limit ranges and results) and grows back,
// doubling after growAfter successes in a row, up to its maximum. It is
// safe for concurrent use.
type Span struct {
	mu     sync.Mutex
	max    uint64
	cur    uint64
	streak int
}

// NewSpan returns a span of max blocks.
func NewSpan(max uint64) *Span { return &Span{max: max, cur: max} }

// Size is the span in use.
func (s *Span) Size() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur
}

// Failed records that the call for blocks from..to failed: the span
// becomes half that range. It reports false when the range was one block
// (nothing smaller to try) or when err says the endpoint is down (a
// smaller range will not help).
func (s *Span) Failed(from, to uint64, err error) bool {
	if to <= from || Unavailable(err) {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cur, s.streak = max((to-from+1)/2, 1), 0
	return true
}

// Succeeded records a call that succeeded.
func (s *Span) Succeeded() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur >= s.max {
		return
	}
	if s.streak++; s.streak >= growAfter {
		s.cur, s.streak = min(s.cur*2, s.max), 0
	}
}
