package ethrpc

import (
	"errors"
	"io"
	"testing"
)

// TestSpan: a failed range halves the span to half that range (not half
// a span much wider than the range), down to one block; growAfter
// successes in a row double it, up to the maximum; an unavailable
// endpoint and a one-block range are not split.
func TestSpan(t *testing.T) {
	s := NewSpan(100)
	answer := errors.New("query returned more than 10000 results")
	if !s.Failed(10, 29, answer) || s.Size() != 10 {
		t.Fatalf("after a failed 20-block range: span %d, want 10", s.Size())
	}
	if !s.Failed(10, 19, answer) || !s.Failed(10, 14, answer) || s.Size() != 2 {
		t.Fatalf("span %d, want 2", s.Size())
	}
	if s.Failed(10, 10, answer) {
		t.Fatal("a one-block range was split")
	}
	if s.Failed(10, 11, io.ErrUnexpectedEOF) || s.Size() != 2 {
		t.Fatalf("an unavailable endpoint split the range (span %d)", s.Size())
	}
	for i := range growAfter - 1 {
		s.Succeeded()
		if s.Size() != 2 {
			t.Fatalf("span %d after %d successes, want 2 until %d", s.Size(), i+1, growAfter)
		}
	}
	s.Succeeded()
	if s.Size() != 4 {
		t.Fatalf("span %d after %d successes, want 4", s.Size(), growAfter)
	}
	// A failure resets the streak.
	for range growAfter - 1 {
		s.Succeeded()
	}
	s.Failed(0, 3, answer)
	s.Succeeded()
	if s.Size() != 2 {
		t.Fatalf("span %d, want 2: the streak restarts after a failure", s.Size())
	}
	for range 10 * growAfter {
		s.Succeeded()
	}
	if s.Size() != 100 {
		t.Fatalf("span %d, want the maximum 100", s.Size())
	}
}
