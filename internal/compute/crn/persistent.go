package crn

import (
	"context"
	"fmt"
	"time"
)

// Persistent programs run without waiting for a request: the node keeps
// each one running (the idle timeout does not apply to it) and starts it
// again when its instance exits, after a back-off that grows while it
// keeps dying young. Where they come from depends on Config.Persistent:
//
//   - PersistentFromMessages (the default, used by the devnet, which has
//     no scheduler): every PROGRAM with content.on.persistent = true the
//     node learns of — listed at start, or arriving on the core node's
//     WebSocket — and every program the scheduler allocates;
//   - PersistentFromScheduler (the reference's behaviour, aleph-vm): only
//     the programs the scheduler allocates (POST /control/allocations,
//     allocations.go); a persistent program reached through HTTP runs as
//     an on-demand one.
//
// A FORGET of the program ends its supervision (and the execution), as
// does an allocation that no longer lists a program the scheduler placed.
// An update of its code or runtime retires the execution like any
// other's; the supervisor then starts the new version at once. A program
// the scheduler allocates whose first start fails is not supervised: the
// allocation reports it failing, and the scheduler allocates it again.

// Back-off of a persistent program that keeps dying: it starts at
// persistentMinBackoff and doubles, up to persistentMaxBackoff, while the
// program lives less than persistentHealthy.
var (
	persistentMinBackoff = 200 * time.Millisecond
	persistentMaxBackoff = time.Minute
	persistentHealthy    = 30 * time.Second
)

// supervise keeps program hash running because the node learned of it
// from a message; in PersistentFromScheduler mode it does nothing.
func (s *Server) supervise(ctx context.Context, hash string) {
	if s.cfg.Persistent == PersistentFromScheduler {
		return
	}
	s.startSupervision(ctx, hash, nil)
}

// startSupervision keeps program hash running until ctx ends or the
// supervision is canceled (unsupervise). It runs at most once per
// program: it returns false, and does nothing, if hash is supervised
// already or ctx has ended. If first is not nil, it receives the result
// of the first start (nil once the program runs) and a failed first
// start ends the supervision instead of being retried; first must have
// room for one value.
func (s *Server) startSupervision(ctx context.Context, hash string, first chan<- error) bool {
	s.pool.mu.Lock()
	// Checked under pool.mu: Run ends the supervisors' context under it
	// too, so no supervisor is added once Run waits for them.
	if s.pool.persistent[hash] != nil || ctx.Err() != nil || s.life.Err() != nil {
		s.pool.mu.Unlock()
		return false
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	s.pool.persistent[hash] = cancel
	s.pool.supervisors[hash] = done
	s.persistentWG.Add(1)
	s.pool.mu.Unlock()
	go func() {
		defer s.persistentWG.Done()
		defer func() {
			s.pool.mu.Lock()
			if s.pool.supervisors[hash] == done {
				delete(s.pool.persistent, hash)
				delete(s.pool.supervisors, hash)
			}
			s.pool.mu.Unlock()
			cancel()
			close(done)
		}()
		report := func(err error) {
			if first != nil {
				first <- err
				first = nil
			}
		}
		defer func() { // ended before the first start
			report(fmt.Errorf("supervision ended before the program started: %w", context.Cause(ctx)))
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
				if first != nil {
					s.log.Warn("persistent program failed to start, not supervised", "hash", hash, "err", msg)
					report(err)
					return
				}
				s.log.Warn("persistent program failed to start", "hash", hash, "err", msg, "retry in", backoff)
			} else {
				s.pool.release(e) // persistent: no idle timer
				s.log.Info("persistent program running", "hash", hash)
				report(nil)
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
	return true
}

// supervisorDone returns a channel closed when the supervision of hash
// ends, or nil if hash is not supervised.
func (s *Server) supervisorDone(hash string) <-chan struct{} {
	s.pool.mu.Lock()
	defer s.pool.mu.Unlock()
	if d := s.pool.supervisors[hash]; d != nil {
		return d
	}
	return nil
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
