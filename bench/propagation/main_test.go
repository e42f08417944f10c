package main

import (
	"testing"
	"time"
)

func TestPercentiles(t *testing.T) {
	var d []time.Duration
	for i := 100; i >= 1; i-- {
		d = append(d, time.Duration(i))
	}
	if got := percentiles(d); got != [4]time.Duration{51, 96, 100, 100} {
		t.Errorf("percentiles = %v", got)
	}
	if got := percentiles(nil); got != [4]time.Duration{} {
		t.Errorf("percentiles(nil) = %v", got)
	}
}

// TestRun runs a tiny benchmark end to end: two nodes, 50 messages.
func TestRun(t *testing.T) {
	err := run(t.Context(), config{nodes: 2, rate: 100, duration: 500 * time.Millisecond, conns: 4,
		senders: 3, wait: 30 * time.Second, channel: "BENCH-TEST"})
	if err != nil {
		t.Fatal(err)
	}
}
