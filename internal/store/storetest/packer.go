package storetest

import (
	"reflect"
	"testing"

	"github.com/goaleph/goaleph/internal/store"
)

// testPacker: the packer takes processed messages no chain confirms and no
// batch holds, oldest reception first; a message joins one batch at most,
// and a batch's state survives until it is confirmed.
func testPacker(t *testing.T, s store.Store) {
	var recs []*store.Record
	for i, st := range []store.Status{store.StatusProcessed, store.StatusProcessed, store.StatusProcessed,
		store.StatusRemoving, store.StatusProcessed} {
		// Times descend: the order must come from reception, not from time.
		r := newRecord(msg{sender: "0xpacker", time: 1.7e9 - float64(i), status: st, salt: string(rune('a' + i))})
		r.ReceptionTime = 1.8e9 + float64(i)
		recs = append(recs, r)
	}
	insert(t, s, recs...)
	update(t, s, func(tx store.Tx) error {
		return tx.AddConfirmations(store.Confirmation{ItemHash: recs[1].ItemHash, Chain: "ETH", TxHash: "0xt", Height: 3, BlockHash: "0xb"})
	})
	unanchored := func(limit int, want ...*store.Record) {
		t.Helper()
		got := hashes(get(s.Unanchored(ctx, limit)).must(t))
		if w := recHashes(want...); !reflect.DeepEqual(got, w) {
			t.Fatalf("Unanchored(%d) = %v, want %v", limit, got, w)
		}
	}
	unanchored(10, recs[0], recs[2], recs[4])
	unanchored(2, recs[0], recs[2])

	b := store.Batch{Chain: "ETH", Archive: "QmArchive", Count: 2, State: store.BatchPending, Created: 1.9e9, Updated: 1.9e9}
	items := recHashes(recs[2], recs[0])
	update(t, s, func(tx store.Tx) error { return tx.InsertBatch(&b, items) })
	if b.ID == 0 {
		t.Fatal("InsertBatch left the ID 0")
	}
	unanchored(10, recs[4])
	if got := get(s.BatchItems(ctx, b.ID)).must(t); !sameSet(got, items) || len(got) != 2 || got[0] > got[1] {
		t.Fatalf("BatchItems = %v, want %v sorted", got, items)
	}
	open := func(chain string, want ...store.Batch) {
		t.Helper()
		got := get(s.OpenBatches(ctx, chain)).must(t)
		if len(got) != len(want) || (len(want) > 0 && !reflect.DeepEqual(got, want)) {
			t.Fatalf("OpenBatches(%s) = %+v, want %+v", chain, got, want)
		}
	}
	open("ETH", b)
	open("BSC")

	// A message already in a batch cannot join another: the transaction
	// fails and leaves nothing behind.
	dup := store.Batch{Chain: "ETH", Archive: "QmOther", Count: 2, State: store.BatchPending, Created: 1.9e9, Updated: 1.9e9}
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.InsertBatch(&dup, recHashes(recs[4], recs[0])) }); err == nil {
		t.Fatal("InsertBatch of a message already in a batch succeeded")
	}
	open("ETH", b)
	unanchored(10, recs[4])

	b.State, b.TxHash, b.Nonce, b.RawTx, b.Updated = store.BatchSent, "0xtx", 1<<40, "0x02f8", 1.9e9+1
	update(t, s, func(tx store.Tx) error { return tx.UpdateBatch(&b) })
	open("ETH", b)
	second := store.Batch{Chain: "ETH", Archive: "QmSecond", Count: 1, State: store.BatchPending, Created: 1.9e9 + 2, Updated: 1.9e9 + 2}
	update(t, s, func(tx store.Tx) error { return tx.InsertBatch(&second, recHashes(recs[4])) })
	open("ETH", b, second)
	unanchored(10)

	b.State, b.Height, b.GasUsed, b.Updated = store.BatchConfirmed, 12, 30_000, 1.9e9+3
	update(t, s, func(tx store.Tx) error { return tx.UpdateBatch(&b) })
	open("ETH", second)
	unanchored(10)
}
