package reconcile

import (
	"bytes"
	"context"
	"errors"
	"net"
	"slices"
	"testing"
	"time"
)

// pipe runs Sync and Serve concurrently over net.Pipe.
func pipe(t testing.TB, a, b Storage, opts ...Option) (Result, Result) {
	t.Helper()
	ca, cb := net.Pipe()
	defer ca.Close()
	defer cb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	type res struct {
		r   Result
		err error
	}
	done := make(chan res, 1)
	go func() {
		r, err := Serve(ctx, cb, b, opts...)
		done <- res{r, err}
	}()
	ra, err := Sync(ctx, ca, a, opts...)
	if err != nil {
		t.Fatalf("sync: %v", err)
	}
	rb := <-done
	if rb.err != nil {
		t.Fatalf("serve: %v", rb.err)
	}
	return ra, rb.r
}

func TestPipe(t *testing.T) {
	for _, s := range []sets{
		{},
		{common: 50000, onlyA: 50, onlyB: 50, cids: true},
		{common: 10, onlyA: 20000},
		{onlyB: 20000},
	} {
		a, b := s.build(9)
		ra, rb := pipe(t, snapshotOf(a), snapshotOf(b), WithMaxFrame(MinFrame))
		if !slices.Equal(sorted(ra.Have), difference(a, b)) || !slices.Equal(ra.Need, difference(b, a)) {
			t.Fatalf("%+v: initiator learnt %d/%d items", s, len(ra.Have), len(ra.Need))
		}
		if !slices.Equal(sorted(rb.Have), difference(b, a)) || !slices.Equal(rb.Need, difference(a, b)) {
			t.Fatalf("%+v: responder learnt %d/%d items", s, len(rb.Have), len(rb.Need))
		}
		if ra.Stats.Messages != rb.Stats.Messages || ra.Stats.BytesSent != rb.Stats.BytesReceived {
			t.Fatalf("stats differ: %+v %+v", ra.Stats, rb.Stats)
		}
	}
}

// TestPipeLeavesStreamOpen checks that a session consumes exactly its frames.
func TestPipeLeavesStreamOpen(t *testing.T) {
	a, b := sets{common: 1000, onlyA: 3}.build(1)
	ca, cb := net.Pipe()
	defer ca.Close()
	defer cb.Close()
	ctx := context.Background()
	go func() {
		Serve(ctx, cb, snapshotOf(b))
		cb.Write([]byte("after"))
	}()
	if _, err := Sync(ctx, ca, snapshotOf(a)); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 5)
	if _, err := ca.Read(got); err != nil || string(got) != "after" {
		t.Fatalf("read %q, %v", got, err)
	}
}

func TestPipeCancel(t *testing.T) {
	ca, cb := net.Pipe()
	defer ca.Close()
	defer cb.Close()
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		// A peer that reads the first message and never answers.
		readFrame(cb, nil, MaxFrameLimit)
		time.Sleep(50 * time.Millisecond)
		cancel()
	}()
	_, err := Sync(ctx, ca, snapshotOf(nil))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v", err)
	}
}

func TestServeRejectsLargeFrame(t *testing.T) {
	var in bytes.Buffer
	in.Write([]byte{0xff, 0xff, 0xff, 0x7f}) // 256 MiB
	_, err := Serve(context.Background(), &in, snapshotOf(nil))
	if !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("got %v", err)
	}
}

func TestServeTruncated(t *testing.T) {
	for _, in := range [][]byte{nil, {0x85}, {5, Version, 1}} {
		_, err := Serve(context.Background(), bytes.NewBuffer(in), snapshotOf(nil))
		if err == nil {
			t.Fatalf("%x: no error", in)
		}
	}
}
