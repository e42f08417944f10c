package packer_test

import (
	"errors"
	"testing"
	"time"

	"github.com/goaleph/goaleph/internal/chain/packer"
)

// TestAnchor: posted messages are anchored in one batch, confirmed by the
// node's own chain reader, and their archive is served by CID.
func TestAnchor(t *testing.T) {
	b := newBench(t)
	r := b.start(nil)
	msgs := signed(t, 5)
	r.post(t, msgs, nil)
	start := time.Now()
	confs := r.waitConfirmed(t, msgs)
	t.Logf("confirmed %v after the last post (commit delay %v)", time.Since(start).Round(time.Millisecond), commitDelay)
	batches := b.checkAnchored(r, msgs, confs)
	if got := counter(t, r, "aleph_packer_batches_anchored_total"); got != float64(batches) {
		t.Errorf("batches anchored = %v, want %d", got, batches)
	}
	if got := counter(t, r, "aleph_packer_transactions_sent_total"); got != float64(batches) {
		t.Errorf("transactions sent = %v, want one per batch (%d)", got, batches)
	}
	if got := counter(t, r, "aleph_packer_messages_anchored_total"); got != 5 {
		t.Errorf("messages anchored = %v, want 5", got)
	}
	if got := counter(t, r, "aleph_packer_gas_used_total"); got < 21_000*float64(batches) {
		t.Errorf("gas used = %v, want at least 21000 per transaction", got)
	}
}

// TestCrash: a packer that stops after recording a batch (before signing
// its transaction) or after recording its signed transaction (before
// broadcasting it) and restarts emits the batch exactly once.
func TestCrash(t *testing.T) {
	for _, point := range []packer.CrashPoint{packer.AfterRecord, packer.AfterSign} {
		t.Run(string(point), func(t *testing.T) {
			b := newBench(t)
			crashed := make(chan struct{})
			errCrash := errors.New("simulated crash")
			r := b.start(func(p packer.CrashPoint) error {
				if p != point {
					return nil
				}
				close(crashed)
				return errCrash
			})
			// The crash may come before every message is posted: the
			// messages checked are those the restarted node holds.
			msgs := signed(t, 3)
			r.post(t, msgs, crashed)
			select {
			case <-crashed:
			case <-time.After(waitTimeout):
				t.Fatal("the packer never reached the crash point")
			}
			if err := <-r.done; !errors.Is(err, errCrash) {
				t.Fatalf("role stopped with %v, want the simulated crash", err)
			}
			r.cancel = nil
			if evs := b.events(); len(evs) != 0 {
				t.Fatalf("SyncEvents before the restart: %+v", evs)
			}
			r = b.start(nil)
			if msgs = r.processed(t, msgs); len(msgs) == 0 {
				t.Fatal("the node holds none of the posted messages")
			}
			confs := r.waitConfirmed(t, msgs)
			b.checkAnchored(r, msgs, confs)
		})
	}
}
