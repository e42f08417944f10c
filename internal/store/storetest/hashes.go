package storetest

import (
	"errors"
	"testing"

	"github.com/goaleph/goaleph/internal/store"
)

// testHashes: Hashes lists processed and forgotten messages with their
// times, and nothing pending or rejected.
func testHashes(t *testing.T, s store.Store) {
	a := newRecord(msg{sender: "0xA", time: 100.25, contentType: "t", salt: "hashes-a"})
	b := newRecord(msg{sender: "0xB", time: 101.5, contentType: "t", salt: "hashes-b"})
	c := newRecord(msg{sender: "0xC", time: 102, contentType: "t", salt: "hashes-c"})
	noErr(t, s.Update(ctx, func(tx store.Tx) error {
		for _, r := range []*store.Record{a, b, c} {
			if _, err := tx.InsertMessage(r); err != nil {
				return err
			}
		}
		if err := tx.Forget(b.ItemHash, "f", 200); err != nil {
			return err
		}
		if err := tx.Reject(&store.Rejected{ItemHash: sha("rejected"), Message: []byte(`{}`), ErrorCode: 1, ReceptionTime: 1}); err != nil {
			return err
		}
		return nil
	}))
	p := &store.Pending{Message: &newRecord(msg{sender: "0xD", time: 103, salt: "hashes-d"}).Message, ReceptionTime: 1, NextAttempt: 1}
	noErr(t, s.AddPending(ctx, []*store.Pending{p}))

	got := map[string]float64{}
	noErr(t, s.Hashes(ctx, func(time float64, hash string) error {
		if _, dup := got[hash]; dup {
			t.Errorf("hash %s listed twice", hash)
		}
		got[hash] = time
		return nil
	}))
	want := map[string]float64{a.ItemHash: 100.25, b.ItemHash: 101.5, c.ItemHash: 102}
	if len(got) != len(want) {
		t.Errorf("Hashes listed %d messages, want %d: %v", len(got), len(want), got)
	}
	for h, tm := range want {
		if got[h] != tm {
			t.Errorf("hash %s: time %v, want %v", h, got[h], tm)
		}
	}

	stop := errors.New("stop")
	calls := 0
	err := s.Hashes(ctx, func(float64, string) error { calls++; return stop })
	if !errors.Is(err, stop) || calls != 1 {
		t.Errorf("Hashes after fn's error: %v after %d calls, want stop after 1", err, calls)
	}
}
