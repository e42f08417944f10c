package lifecycletest

import (
	"context"
	"errors"
	"testing"
)

type svc struct {
	ready   chan struct{}
	stopped bool
	err     error
}

func (s *svc) Ready() <-chan struct{} { return s.ready }

func (s *svc) Run(ctx context.Context) error {
	close(s.ready)
	<-ctx.Done()
	s.stopped = true
	return s.err
}

func TestStartStop(t *testing.T) {
	s := &svc{ready: make(chan struct{})}
	stop := Start(context.Background(), t, s, "svc")
	stop()
	if !s.stopped {
		t.Fatal("Run did not return after stop")
	}
	stop() // a second call does nothing
}

func TestStopReportsRunError(t *testing.T) {
	s := &svc{ready: make(chan struct{}), err: errors.New("boom")}
	ft := &fakeT{TB: t}
	Start(context.Background(), ft, s, "svc")()
	if ft.errors != 1 {
		t.Fatalf("%d errors reported, want 1", ft.errors)
	}
}

type fakeT struct {
	testing.TB
	errors int
}

func (f *fakeT) Errorf(string, ...any) { f.errors++ }
