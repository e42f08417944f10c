package storetest

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/goaleph/goaleph/internal/store"
	"github.com/goaleph/goaleph/message"
)

// testPruneRejected: expiry by age and the cap on the number of rejected
// records, oldest first, in batches, touching nothing but rejected rows.
func testPruneRejected(t *testing.T, s store.Store) {
	prune := func(before float64, keep, limit int) int {
		t.Helper()
		var n int
		update(t, s, func(tx store.Tx) error {
			var err error
			n, err = tx.PruneRejected(before, keep, limit)
			return err
		})
		return n
	}
	reject := func(hash string, at float64) {
		t.Helper()
		update(t, s, func(tx store.Tx) error {
			return tx.Reject(&store.Rejected{ItemHash: hash, Message: json.RawMessage(`{"item_hash":"` + hash + `"}`),
				ErrorCode: message.CodeInvalidSignature, ReceptionTime: at})
		})
	}
	status := func(hash string) store.Status {
		t.Helper()
		st, err := s.Status(ctx, hash)
		if err != nil {
			return "unknown"
		}
		return st.Status
	}

	if n := prune(1e12, 0, 100); n != 0 {
		t.Fatalf("prune of an empty table deleted %d", n)
	}

	// Other states, all old: pruning must leave them alone.
	processed := newRecord(msg{sender: "0xA", time: 1, contentType: "t", salt: "p"})
	removing := newRecord(msg{sender: "0xA", time: 2, contentType: "t", salt: "r", status: store.StatusRemoving})
	forgotten := newRecord(msg{sender: "0xA", time: 3, contentType: "t", salt: "f"})
	pending := newRecord(msg{sender: "0xA", time: 4, contentType: "t", salt: "pe"})
	// resent was rejected long ago and is pending again (a valid copy).
	resent := newRecord(msg{sender: "0xA", time: 5, contentType: "t", salt: "re"})
	insert(t, s, processed, removing, forgotten)
	update(t, s, func(tx store.Tx) error { return tx.Forget(forgotten.ItemHash, sha("forget"), 1) })
	reject(resent.ItemHash, 1)
	noErr(t, s.AddPending(ctx, []*store.Pending{pendingOf(pending, "sig", 1), pendingOf(resent, "sig", 2)}))
	before := get(s.Counts(ctx)).must(t)

	// Ten rejected records received at 100…109.
	hashes := make([]string, 10)
	for i := range hashes {
		hashes[i] = sha(fmt.Sprint("rejected-", i))
		reject(hashes[i], float64(100+i))
	}
	gone := func(want ...int) {
		t.Helper()
		for i, h := range hashes {
			got, pruned := status(h), false
			for _, w := range want {
				pruned = pruned || w == i
			}
			if pruned && got != "unknown" {
				t.Errorf("record %d (received at %d): status %s, want pruned", i, 100+i, got)
			}
			if !pruned && got != store.StatusRejected {
				t.Errorf("record %d (received at %d): status %s, want rejected", i, 100+i, got)
			}
		}
	}

	// By age, in batches: before 105 means the resent hash's old
	// rejection (received at 1), then 100…104, two at a time.
	if n := prune(105, -1, 2); n != 2 {
		t.Fatalf("first batch deleted %d, want 2", n)
	}
	gone(0)
	if n := prune(105, -1, 2); n != 2 {
		t.Fatalf("second batch deleted %d, want 2", n)
	}
	gone(0, 1, 2)
	if n := prune(105, -1, 3); n != 2 {
		t.Fatalf("last batch deleted %d, want 2 (fewer than the limit: done)", n)
	}
	if n := prune(105, -1, 3); n != 0 {
		t.Fatalf("nothing older left, deleted %d", n)
	}
	gone(0, 1, 2, 3, 4)
	// The old rejection of the resent hash went with them; its pending copy stays.
	if got := status(resent.ItemHash); got != store.StatusPending {
		t.Errorf("resent hash: status %s, want pending", got)
	}

	// By number: keep the newest 3 of 105…109, no age limit.
	if n := prune(0, 3, 1); n != 1 {
		t.Fatalf("cap, first batch deleted %d, want 1", n)
	}
	gone(0, 1, 2, 3, 4, 5)
	if n := prune(0, 3, 100); n != 1 {
		t.Fatalf("cap, second batch deleted %d, want 1", n)
	}
	gone(0, 1, 2, 3, 4, 5, 6)
	if n := prune(0, 3, 100); n != 0 {
		t.Fatalf("under the cap, deleted %d", n)
	}

	// Ties on reception time: the cap counts rows, not times.
	a, b := sha("tie-a"), sha("tie-b")
	reject(a, 200)
	reject(b, 200)
	if n := prune(0, 4, 100); n != 1 {
		t.Fatalf("cap 4 of 5 deleted %d, want 1", n)
	}
	gone(0, 1, 2, 3, 4, 5, 6, 7)
	if status(a) != store.StatusRejected || status(b) != store.StatusRejected {
		t.Errorf("tied newest records pruned: %s %s", status(a), status(b))
	}
	if n := prune(0, 1, 100); n != 3 {
		t.Fatalf("cap 1 of 4 deleted %d, want 3", n)
	}
	lo, hi := a, b
	if hi < lo {
		lo, hi = hi, lo
	}
	if status(lo) != "unknown" || status(hi) != store.StatusRejected {
		t.Errorf("tie: kept %s=%s, %s=%s; want the greater hash kept", lo, status(lo), hi, status(hi))
	}
	// Age and number together; keep 0 empties the table.
	if n := prune(0, 0, 100); n != 1 {
		t.Fatalf("cap 0 deleted %d, want 1", n)
	}

	for hash, want := range map[string]store.Status{
		processed.ItemHash: store.StatusProcessed,
		removing.ItemHash:  store.StatusRemoving,
		forgotten.ItemHash: store.StatusForgotten,
		pending.ItemHash:   store.StatusPending,
		resent.ItemHash:    store.StatusPending,
	} {
		if got := status(hash); got != want {
			t.Errorf("%s: status %s after pruning, want %s", hash, got, want)
		}
	}
	if after := get(s.Counts(ctx)).must(t); after != before {
		t.Errorf("counts %+v after pruning, want %+v", after, before)
	}
}
