// Package lifecycle is the one lifecycle of every long-running service of a
// node (core node, p2p, compute node, and the services added later): a
// service is constructed from its config, runs until its context ends,
// may report when it is ready, and releases what it holds when it returns.
// A Group starts services in order and stops them in reverse.
package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
)

// Service is a long-running service. Run serves until ctx ends, releases
// everything the service holds before returning, and returns nil on a clean
// stop (ctx ended).
type Service interface {
	Run(ctx context.Context) error
}

// Readier is implemented by services that can say when they serve: the
// channel is closed once they do (as a listener accepting connections).
type Readier interface {
	Ready() <-chan struct{}
}

// Role is what a role of the aleph command builds: a service that says
// when it serves and that Close releases when it is never run.
type Role interface {
	Service
	Readier
	io.Closer
}

// Func adapts a function to a Service.
type Func func(ctx context.Context) error

// Run calls f(ctx).
func (f Func) Run(ctx context.Context) error { return f(ctx) }

// ErrStopped is the error of a service that returned nil while the group
// had not been asked to stop.
var ErrStopped = errors.New("stopped unexpectedly")

// Group runs services together: Run starts them in the order they were
// added and stops them in reverse. The zero Group is ready to use.
type Group struct {
	entries []entry
}

type entry struct {
	name string
	svc  Service
}

// Add appends a service to the group. It must not be called once Run has
// started.
func (g *Group) Add(name string, s Service) {
	g.entries = append(g.entries, entry{name, s})
}

type running struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// Run starts the services in order. Before starting service i+1 it waits
// until service i is ready (if it is a Readier), or has returned, or ctx
// ended. When ctx ends or any service returns (with an error, or with nil
// before the stop was asked), Run stops the services in reverse order: each
// one's context is cancelled only after every later service has returned.
// Services never started are closed if they implement io.Closer. Run
// returns the first error, prefixed with the name of its service; nil when
// ctx ended and every service stopped cleanly.
func (g *Group) Run(ctx context.Context) error {
	var (
		mu       sync.Mutex
		first    error
		stopping bool
	)
	fail := make(chan struct{})
	var failOnce sync.Once
	record := func(name string, err error) {
		mu.Lock()
		defer mu.Unlock()
		if err == nil && !stopping {
			err = ErrStopped
		}
		if err != nil && first == nil {
			first = fmt.Errorf("%s: %w", name, err)
		}
		failOnce.Do(func() { close(fail) })
	}

	started := make([]running, 0, len(g.entries))
	n := 0
start:
	for ; n < len(g.entries); n++ {
		e := g.entries[n]
		select {
		case <-ctx.Done():
			break start
		case <-fail:
			break start
		default:
		}
		sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		r := running{cancel: cancel, done: make(chan struct{})}
		started = append(started, r)
		go func() {
			defer close(r.done)
			record(e.name, e.svc.Run(sctx))
		}()
		if rd, ok := e.svc.(Readier); ok {
			select {
			case <-rd.Ready():
			case <-r.done:
			case <-ctx.Done():
			case <-fail:
			}
		}
	}
	n = len(started)
	// Close the services never started.
	for _, e := range g.entries[n:] {
		if c, ok := e.svc.(io.Closer); ok {
			if err := c.Close(); err != nil {
				mu.Lock()
				if first == nil {
					first = fmt.Errorf("%s: close: %w", e.name, err)
				}
				mu.Unlock()
			}
		}
	}

	select {
	case <-ctx.Done():
	case <-fail:
	}
	mu.Lock()
	stopping = true
	mu.Unlock()
	for i := len(started) - 1; i >= 0; i-- {
		started[i].cancel()
		<-started[i].done
	}
	mu.Lock()
	defer mu.Unlock()
	return first
}
