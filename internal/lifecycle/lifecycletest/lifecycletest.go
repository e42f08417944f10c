// Package lifecycletest runs lifecycle services in tests.
package lifecycletest

import (
	"context"
	"sync"
	"testing"

	"github.com/goaleph/goaleph/internal/lifecycle"
)

// ReadyService is a service that says when it serves.
type ReadyService interface {
	lifecycle.Service
	lifecycle.Readier
}

// Start runs s in the background with a context derived from ctx and
// waits until it is ready, failing t when Run returns first. The stop it
// returns cancels that context, waits for Run and reports an error it
// returned with t.Errorf; calls after the first do nothing.
func Start(ctx context.Context, t testing.TB, s ReadyService, name string) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("%s: %v", name, err)
			}
		})
	}
	select {
	case <-s.Ready():
	case err := <-done:
		cancel()
		t.Fatalf("%s stopped before it was ready: %v", name, err)
	}
	return stop
}
