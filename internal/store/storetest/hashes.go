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

// testInsertForgotten: a skeleton of a message forgotten elsewhere is
// stored as it is, answers as forgotten, and a second FORGET is appended.
func testInsertForgotten(t *testing.T, s store.Store) {
	r := newRecord(msg{sender: "0xA", time: 100.5, contentType: "t", salt: "skeleton"})
	f := &store.Forgotten{ItemHash: r.ItemHash, Type: r.Type, Chain: r.Chain, Sender: r.Sender, Signature: r.Signature,
		ItemType: r.ItemType, Time: r.Time, Channel: "CH", Owner: "0xA", PaymentType: "hold", Size: 42,
		ForgottenAt: 200.25, ForgottenBy: []string{"f1"}, ReceptionTime: 300}
	var first, again bool
	var seen store.Seen
	noErr(t, s.Update(ctx, func(tx store.Tx) error {
		var err error
		if first, err = tx.InsertForgotten(f); err != nil {
			return err
		}
		if again, err = tx.InsertForgotten(f); err != nil {
			return err
		}
		seen, err = tx.Seen(r.ItemHash)
		return err
	}))
	if !first || again {
		t.Errorf("InsertForgotten = %v then %v, want true then false", first, again)
	}
	if !seen.Forgotten || seen.Processed {
		t.Errorf("Seen = %+v, want forgotten", seen)
	}
	got := get(s.Forgotten(ctx, r.ItemHash)).must(t)
	if got.Sender != f.Sender || got.Signature != f.Signature || got.Time != f.Time || got.Channel != "CH" || got.Size != 42 ||
		got.ForgottenAt != 200.25 || len(got.ForgottenBy) != 1 || got.ForgottenBy[0] != "f1" || got.Type != f.Type || got.Owner != "0xA" {
		t.Errorf("Forgotten = %+v, want %+v", got, f)
	}
	st := get(s.Status(ctx, r.ItemHash)).must(t)
	if st.Status != store.StatusForgotten {
		t.Errorf("status %s, want forgotten", st.Status)
	}
	noErr(t, s.Update(ctx, func(tx store.Tx) error { return tx.Forget(r.ItemHash, "f2", 400) }))
	if got := get(s.Forgotten(ctx, r.ItemHash)).must(t); len(got.ForgottenBy) != 2 || got.ForgottenBy[1] != "f2" {
		t.Errorf("forgotten_by after a second FORGET: %v", got.ForgottenBy)
	}
	if c := get(s.Counts(ctx)).must(t); c.Messages != 0 {
		t.Errorf("a skeleton counted as a message: %d", c.Messages)
	}
}
