package main

import (
	"testing"
	"time"
)

// TestReplay runs the benchmark on a small workload: the replaying node
// ends with the packer node's state, from several archives.
func TestReplay(t *testing.T) {
	res, err := run(config{n: 200, c: 8, batch: 25, commitDelay: 200 * time.Millisecond,
		blockInterval: 100 * time.Millisecond, check: true, timeout: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if !res.equal || res.messages != 200 || res.archives < 8 || res.ingest <= 0 || res.replay <= 0 {
		t.Fatalf("result %+v", res)
	}
}
