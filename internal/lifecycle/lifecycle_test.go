package lifecycle

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

const wait = 10 * time.Second

// log records events in order.
type log struct {
	mu     sync.Mutex
	events []string
}

func (l *log) add(s string) {
	l.mu.Lock()
	l.events = append(l.events, s)
	l.mu.Unlock()
}

func (l *log) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.events...)
}

// svc is a service that logs its start and stop, becomes ready when told,
// and may fail.
type svc struct {
	name   string
	l      *log
	ready  chan struct{}
	fail   chan error // a value makes Run return it
	closed bool
	// readyOnStart makes Run close ready once it has started.
	readyOnStart bool
}

func newSvc(name string, l *log) *svc {
	return &svc{name: name, l: l, ready: make(chan struct{}), fail: make(chan error, 1)}
}

func (s *svc) Run(ctx context.Context) error {
	s.l.add("start " + s.name)
	if s.readyOnStart {
		close(s.ready)
	}
	select {
	case <-ctx.Done():
		s.l.add("stop " + s.name)
		return nil
	case err := <-s.fail:
		s.l.add("fail " + s.name)
		return err
	}
}

func (s *svc) Ready() <-chan struct{} { return s.ready }

func (s *svc) Close() error {
	s.closed = true
	s.l.add("close " + s.name)
	return nil
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func equal(a, b []string) bool {
	return strings.Join(a, ",") == strings.Join(b, ",")
}

// expect fails t unless the events so far are want.
func (l *log) expect(t *testing.T, want ...string) {
	t.Helper()
	if got := l.get(); !equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
}

func runGroup(g *Group, ctx context.Context) chan error {
	ch := make(chan error, 1)
	go func() { ch <- g.Run(ctx) }()
	return ch
}

func result(t *testing.T, ch chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(wait):
		t.Fatal("Group.Run did not return")
		return nil
	}
}

func TestOrderAndReadiness(t *testing.T) {
	l := &log{}
	a, b, c := newSvc("a", l), newSvc("b", l), newSvc("c", l)
	var g Group
	g.Add("a", a)
	g.Add("b", b)
	g.Add("c", c)
	ctx, cancel := context.WithCancel(context.Background())
	ch := runGroup(&g, ctx)

	waitFor(t, "a started", func() bool { return len(l.get()) == 1 })
	// b is not started while a is not ready.
	time.Sleep(20 * time.Millisecond) // gives a wrong implementation the chance to fail
	if got := l.get(); !equal(got, []string{"start a"}) {
		t.Fatalf("before a is ready: %v", got)
	}
	close(a.ready)
	waitFor(t, "b started", func() bool { return len(l.get()) == 2 })
	close(b.ready)
	close(c.ready)
	waitFor(t, "c started", func() bool { return len(l.get()) == 3 })
	cancel()
	if err := result(t, ch); err != nil {
		t.Fatalf("clean stop: %v", err)
	}
	l.expect(t, "start a", "start b", "start c", "stop c", "stop b", "stop a")
}

func TestFailureStopsTheRest(t *testing.T) {
	l := &log{}
	a, b, c := newSvc("a", l), newSvc("b", l), newSvc("c", l)
	a.readyOnStart, b.readyOnStart, c.readyOnStart = true, true, true
	var g Group
	g.Add("a", a)
	g.Add("b", b)
	g.Add("c", c)
	ch := runGroup(&g, context.Background())
	waitFor(t, "all started", func() bool { return len(l.get()) == 3 })
	boom := errors.New("boom")
	b.fail <- boom
	err := result(t, ch)
	if !errors.Is(err, boom) || !strings.HasPrefix(err.Error(), "b: ") {
		t.Fatalf("err = %v, want b: boom", err)
	}
	l.expect(t, "start a", "start b", "start c", "fail b", "stop c", "stop a")
}

func TestUnexpectedNilStop(t *testing.T) {
	l := &log{}
	a := newSvc("a", l)
	a.readyOnStart = true
	var g Group
	g.Add("a", a)
	g.Add("quitter", Func(func(context.Context) error { return nil }))
	err := result(t, runGroup(&g, context.Background()))
	if !errors.Is(err, ErrStopped) || !strings.HasPrefix(err.Error(), "quitter: ") {
		t.Fatalf("err = %v, want quitter: %v", err, ErrStopped)
	}
	if got := l.get(); !equal(got, []string{"start a", "stop a"}) {
		t.Fatalf("events %v", got)
	}
}

func TestNeverStartedAreClosed(t *testing.T) {
	l := &log{}
	a, b, c := newSvc("a", l), newSvc("b", l), newSvc("c", l)
	close(b.ready)
	boom := errors.New("boom")
	a.fail <- boom // a fails before it is ready
	var g Group
	g.Add("a", a)
	g.Add("b", b)
	g.Add("c", c)
	err := result(t, runGroup(&g, context.Background()))
	if !errors.Is(err, boom) || !strings.HasPrefix(err.Error(), "a: ") {
		t.Fatalf("err = %v", err)
	}
	if a.closed || !b.closed || !c.closed {
		t.Fatalf("closed: a %v b %v c %v; want only b and c", a.closed, b.closed, c.closed)
	}
	if got := l.get(); !equal(got, []string{"start a", "fail a", "close b", "close c"}) {
		t.Fatalf("events %v", got)
	}
}

func TestContextEndedBeforeReady(t *testing.T) {
	l := &log{}
	a, b := newSvc("a", l), newSvc("b", l)
	var g Group
	g.Add("a", a)
	g.Add("b", b)
	ctx, cancel := context.WithCancel(context.Background())
	ch := runGroup(&g, ctx)
	waitFor(t, "a started", func() bool { return len(l.get()) == 1 })
	cancel() // a never became ready
	if err := result(t, ch); err != nil {
		t.Fatalf("err = %v", err)
	}
	if got := l.get(); !equal(got, []string{"start a", "close b", "stop a"}) {
		t.Fatalf("events %v", got)
	}
}

func TestNotReadierAndAlreadyCancelled(t *testing.T) {
	// A service without Ready does not gate the next one.
	l := &log{}
	var g Group
	g.Add("f", Func(func(ctx context.Context) error {
		l.add("start f")
		<-ctx.Done()
		l.add("stop f")
		return nil
	}))
	b := newSvc("b", l)
	close(b.ready)
	g.Add("b", b)
	ctx, cancel := context.WithCancel(context.Background())
	ch := runGroup(&g, ctx)
	waitFor(t, "b started", func() bool {
		for _, e := range l.get() {
			if e == "start b" {
				return true
			}
		}
		return false
	})
	cancel()
	if err := result(t, ch); err != nil {
		t.Fatal(err)
	}
	if got := l.get(); got[len(got)-2] != "stop b" || got[len(got)-1] != "stop f" {
		t.Fatalf("events %v", got)
	}

	// With a context already ended nothing starts and everything is closed.
	l2 := &log{}
	x := newSvc("x", l2)
	var g2 Group
	g2.Add("x", x)
	if err := g2.Run(ctx); err != nil || !x.closed {
		t.Fatalf("err %v closed %v", err, x.closed)
	}
}
