package crn

import (
	"context"
	"time"
)

// Persistent programs (content.on.persistent = true) run without waiting
// for a request: the node starts each one it learns of — listed at start,
// or arriving on the core node's WebSocket — keeps it running (the idle
// timeout does not apply to it) and starts it again when its instance
// exits, after a back-off that grows while it keeps dying young. A FORGET
// of the program ends its supervision (and the execution). An update of
// its code or runtime retires the execution like any other's; the
// supervisor then starts the new version at once.
//
// The reference (aleph-vm) starts persistent programs only when the
// scheduler allocates them (POST /control/allocations); this node also
// runs those it sees, since a devnet has no scheduler.

// Back-off of a persistent program that keeps dying: it starts at
// persistentMinBackoff and doubles, up to persistentMaxBackoff, while the
// program lives less than persistentHealthy.
var (
	persistentMinBackoff = 200 * time.Millisecond
	persistentMaxBackoff = time.Minute
	persistentHealthy    = 30 * time.Second
)

// supervise keeps program hash running until ctx ends or the program is
// forgotten. It runs at most once per program.
func (s *Server) supervise(ctx context.Context, hash string) {
	s.pool.mu.Lock()
	if s.pool.persistent[hash] != nil {
		s.pool.mu.Unlock()
		return
	}
	ctx, cancel := context.WithCancel(ctx)
	s.pool.persistent[hash] = cancel
	s.pool.mu.Unlock()
	s.persistentWG.Add(1)
	go func() {
		defer s.persistentWG.Done()
		defer func() {
			s.pool.mu.Lock()
			delete(s.pool.persistent, hash)
			s.pool.mu.Unlock()
			cancel()
		}()
		backoff := persistentMinBackoff
		for ctx.Err() == nil {
			start := time.Now()
			e, _, err := s.pool.acquire(ctx, hash)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				_, msg := statusOf(err)
				s.log.Warn("persistent program failed to start", "hash", hash, "err", msg, "retry in", backoff)
			} else {
				s.pool.release(e) // persistent: no idle timer
				s.log.Info("persistent program running", "hash", hash)
				select {
				case <-ctx.Done():
					return
				case <-e.inst.Done():
				}
				if time.Since(start) >= persistentHealthy {
					backoff = persistentMinBackoff
				}
				s.log.Warn("persistent program exited, restarting", "hash", hash, "in", backoff)
				s.reg.restarts.Inc()
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, persistentMaxBackoff)
		}
	}()
}

// unsupervise ends the supervision of hashes (forgotten programs).
func (s *Server) unsupervise(hashes []string) {
	s.pool.mu.Lock()
	defer s.pool.mu.Unlock()
	for _, h := range hashes {
		if cancel := s.pool.persistent[h]; cancel != nil {
			cancel()
		}
	}
}

// isPersistent reports whether hash is supervised. Under pool.mu.
func (p *pool) isPersistentLocked(hash string) bool { return p.persistent[hash] != nil }
