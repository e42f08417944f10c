package storetest

import (
	"errors"
	"reflect"
	"testing"

	"github.com/goaleph/goaleph/internal/store"
)

// testChainSync: a reader's progress per chain, replaced on every write,
// read inside and outside transactions, and rolled back with them.
func testChainSync(t *testing.T, s store.Store) {
	if _, err := s.ChainSync(ctx, "ETH"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("ChainSync of an unread chain: %v, want ErrNotFound", err)
	}
	set := func(c store.ChainSync) {
		t.Helper()
		update(t, s, func(tx store.Tx) error { return tx.SetChainSync(&c) })
	}
	set(store.ChainSync{Chain: "ETH", Height: 10, BlockHash: "0xa"})
	set(store.ChainSync{Chain: "BSC", Height: 1 << 40, BlockHash: ""})
	set(store.ChainSync{Chain: "ETH", Height: 12, BlockHash: "0xb"})
	for _, want := range []store.ChainSync{{Chain: "ETH", Height: 12, BlockHash: "0xb"}, {Chain: "BSC", Height: 1 << 40}} {
		got, err := s.ChainSync(ctx, want.Chain)
		if err != nil || *got != want {
			t.Fatalf("ChainSync(%s) = %+v, %v; want %+v", want.Chain, got, err, want)
		}
	}
	errRollback := errors.New("rollback")
	err := s.Update(ctx, func(tx store.Tx) error {
		if err := tx.SetChainSync(&store.ChainSync{Chain: "ETH", Height: 99, BlockHash: "0xc"}); err != nil {
			return err
		}
		got, err := tx.ChainSync(ctx, "ETH")
		if err != nil || got.Height != 99 {
			t.Errorf("ChainSync inside the transaction = %+v, %v; want height 99", got, err)
		}
		return errRollback
	})
	if !errors.Is(err, errRollback) {
		t.Fatalf("Update = %v", err)
	}
	if got, err := s.ChainSync(ctx, "ETH"); err != nil || got.Height != 12 {
		t.Fatalf("after rollback ChainSync = %+v, %v; want height 12", got, err)
	}
}

// testConfirmations: confirmations are recorded once per (message, chain,
// transaction), listed per message in order, and those of dropped blocks
// removed per chain.
func testConfirmations(t *testing.T, s store.Store) {
	a, b, c := sha("a"), sha("b"), sha("c")
	conf := func(item, chain, tx string, height uint64) store.Confirmation {
		return store.Confirmation{ItemHash: item, Chain: chain, TxHash: tx, Height: height,
			BlockHash: "0xblock" + tx, Time: 1.7e9 + float64(height) + 0.25}
	}
	add := func(cs ...store.Confirmation) {
		t.Helper()
		update(t, s, func(tx store.Tx) error { return tx.AddConfirmations(cs...) })
	}
	list := func(hashes ...string) map[string][]store.Confirmation {
		t.Helper()
		got, err := s.Confirmations(ctx, hashes)
		if err != nil {
			t.Fatalf("Confirmations: %v", err)
		}
		return got
	}
	if got := list(a); len(got) != 0 {
		t.Fatalf("confirmations before any: %+v", got)
	}
	add()
	add(conf(a, "ETH", "0x2", 20), conf(a, "ETH", "0x1", 10), conf(b, "ETH", "0x1", 10), conf(a, "BSC", "0x9", 5))
	// The same confirmation again (a re-read block) changes nothing, even
	// twice in one call.
	dup := conf(a, "ETH", "0x1", 10)
	dup.Time = 1
	add(dup, dup)
	want := map[string][]store.Confirmation{
		a: {conf(a, "BSC", "0x9", 5), conf(a, "ETH", "0x1", 10), conf(a, "ETH", "0x2", 20)},
		b: {conf(b, "ETH", "0x1", 10)},
	}
	if got := list(a, b, c); !reflect.DeepEqual(got, want) {
		t.Fatalf("Confirmations = %+v\nwant %+v", got, want)
	}
	if got := list(b); !reflect.DeepEqual(got, map[string][]store.Confirmation{b: want[b]}) {
		t.Fatalf("Confirmations(b) = %+v", got)
	}
	if got := list(); len(got) != 0 {
		t.Fatalf("Confirmations() = %+v", got)
	}
	// Many hashes at once (more than one query's worth of parameters).
	many := []string{b}
	for i := range 1200 {
		many = append(many, sha(string(rune('d'+i))))
	}
	if got := list(many...); len(got) != 1 || len(got[b]) != 1 {
		t.Fatalf("Confirmations of %d hashes = %+v", len(many), got)
	}

	var n int
	update(t, s, func(tx store.Tx) error {
		var err error
		n, err = tx.DeleteConfirmations("ETH", 20)
		return err
	})
	if n != 1 {
		t.Fatalf("DeleteConfirmations(ETH, 20) removed %d, want 1", n)
	}
	want[a] = want[a][:2]
	if got := list(a, b); !reflect.DeepEqual(got, want) {
		t.Fatalf("after DeleteConfirmations(ETH, 20) = %+v\nwant %+v", got, want)
	}
	update(t, s, func(tx store.Tx) error {
		var err error
		n, err = tx.DeleteConfirmations("ETH", 0)
		return err
	})
	if n != 2 {
		t.Fatalf("DeleteConfirmations(ETH, 0) removed %d, want 2", n)
	}
	if got := list(a, b); !reflect.DeepEqual(got, map[string][]store.Confirmation{a: {conf(a, "BSC", "0x9", 5)}}) {
		t.Fatalf("after DeleteConfirmations(ETH, 0) = %+v", got)
	}
}

// testListMessagesByBlock: startBlock and endBlock select messages by the
// height of their first confirmation and leave out unconfirmed ones.
func testListMessagesByBlock(t *testing.T, s store.Store) {
	early := newRecord(msg{sender: "0xA", time: 1, contentType: "t", salt: "early"})
	late := newRecord(msg{sender: "0xA", time: 2, contentType: "t", salt: "late"})
	none := newRecord(msg{sender: "0xA", time: 3, contentType: "t", salt: "none"})
	insert(t, s, early, late, none)
	update(t, s, func(tx store.Tx) error {
		return tx.AddConfirmations(
			store.Confirmation{ItemHash: early.ItemHash, Chain: "ETH", TxHash: "0x1", Height: 10},
			store.Confirmation{ItemHash: late.ItemHash, Chain: "ETH", TxHash: "0x2", Height: 20},
			// A later confirmation does not move the first one.
			store.Confirmation{ItemHash: early.ItemHash, Chain: "BSC", TxHash: "0x3", Height: 30})
	})
	for _, tc := range []struct {
		start, end uint64
		want       []string
	}{
		{0, 0, []string{none.ItemHash, late.ItemHash, early.ItemHash}},
		{10, 0, []string{late.ItemHash, early.ItemHash}},
		{11, 0, []string{late.ItemHash}},
		{0, 20, []string{early.ItemHash}},
		{0, 21, []string{late.ItemHash, early.ItemHash}},
		{10, 20, []string{early.ItemHash}},
		{31, 0, nil},
	} {
		page, err := s.ListMessages(ctx, store.MessageFilter{StartBlock: tc.start, EndBlock: tc.end, Pagination: 20, Page: 1})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range page.Records {
			got = append(got, r.ItemHash)
		}
		if !reflect.DeepEqual(got, tc.want) || page.Total != len(tc.want) {
			t.Errorf("blocks [%d, %d): %v (total %d), want %v", tc.start, tc.end, got, page.Total, tc.want)
		}
	}
}

// testListMessagesTxTime: SortTxTime orders by the time of each message's
// first confirmation (a later one on another chain does not move it),
// unconfirmed messages first when newest first and last when oldest
// first, ties by message time then item hash; filters and pages apply.
func testListMessagesTxTime(t *testing.T, s store.Store) {
	// Message times run against confirmation times, so the two orders differ.
	first := newRecord(msg{sender: "0xA", time: 40, contentType: "t", salt: "first"})
	second := newRecord(msg{sender: "0xA", time: 30, contentType: "t", salt: "second"})
	tieOld := newRecord(msg{sender: "0xA", time: 10, contentType: "t", salt: "tie old"})
	tieNew := newRecord(msg{sender: "0xA", time: 20, contentType: "t", salt: "tie new"})
	noneOld := newRecord(msg{sender: "0xA", time: 1, contentType: "t", salt: "none old"})
	noneNew := newRecord(msg{sender: "0xA", time: 50, contentType: "t", salt: "none new"})
	other := newRecord(msg{sender: "0xB", time: 5, contentType: "t", salt: "other sender"})
	insert(t, s, first, second, tieOld, tieNew, noneOld, noneNew, other)
	conf := func(r *store.Record, chain, tx string, at float64) store.Confirmation {
		return store.Confirmation{ItemHash: r.ItemHash, Chain: chain, TxHash: tx, Height: uint64(at), BlockHash: "0xb" + tx, Time: at}
	}
	update(t, s, func(tx store.Tx) error {
		return tx.AddConfirmations(conf(first, "ETH", "0x1", 100), conf(second, "ETH", "0x2", 200),
			conf(tieOld, "ETH", "0x3", 300), conf(tieNew, "ETH", "0x3", 300), conf(other, "ETH", "0x4", 150),
			conf(first, "BSC", "0x5", 900)) // later, on another chain: first stays at 100
	})
	list := func(f store.MessageFilter) []string {
		t.Helper()
		f.SortTxTime = true
		page, err := s.ListMessages(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range page.Records {
			got = append(got, r.ItemHash)
		}
		return got
	}
	for _, tc := range []struct {
		name string
		f    store.MessageFilter
		want []*store.Record
	}{
		{"newest first", store.MessageFilter{Addresses: []string{"0xA"}, Pagination: 20, Page: 1},
			[]*store.Record{noneNew, noneOld, tieNew, tieOld, second, first}},
		{"oldest first", store.MessageFilter{Addresses: []string{"0xA"}, SortAsc: true, Pagination: 20, Page: 1},
			[]*store.Record{first, second, tieOld, tieNew, noneOld, noneNew}},
		{"page 2", store.MessageFilter{Addresses: []string{"0xA"}, SortAsc: true, Pagination: 2, Page: 2},
			[]*store.Record{tieOld, tieNew}},
		{"every sender", store.MessageFilter{SortAsc: true, Pagination: 20, Page: 1},
			[]*store.Record{first, other, second, tieOld, tieNew, noneOld, noneNew}},
	} {
		var want []string
		for _, r := range tc.want {
			want = append(want, r.ItemHash)
		}
		if got := list(tc.f); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %v\nwant %v", tc.name, got, want)
		}
	}
}

// testArchiveRetries: archives to fetch again are kept per chain, ordered
// by height and log index, updated in place (attempts) and deleted once
// done; a rolled-back transaction keeps nothing.
func testArchiveRetries(t *testing.T, s store.Store) {
	list := func(chain string) []store.ArchiveRetry {
		t.Helper()
		got, err := s.ArchiveRetries(ctx, chain)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := list("ETH"); len(got) != 0 {
		t.Fatalf("retries of a new store: %+v", got)
	}
	put := func(rs ...store.ArchiveRetry) {
		t.Helper()
		update(t, s, func(tx store.Tx) error {
			for i := range rs {
				if err := tx.PutArchiveRetry(&rs[i]); err != nil {
					return err
				}
			}
			return nil
		})
	}
	r := func(tx string, idx uint, height uint64, attempts int) store.ArchiveRetry {
		return store.ArchiveRetry{Chain: "ETH", TxHash: tx, LogIndex: idx, Height: height, CID: "Qm" + tx,
			Event: `{"tx":"` + tx + `"}`, Attempts: attempts}
	}
	put(r("0xb", 0, 20, 1), r("0xa", 3, 10, 1), r("0xa", 1, 10, 1), r("0xc", 0, 1<<40, 5))
	other := r("0xa", 1, 10, 1)
	other.Chain = "BSC"
	put(other, r("0xb", 0, 20, 2)) // attempts updated in place
	want := []store.ArchiveRetry{r("0xa", 1, 10, 1), r("0xa", 3, 10, 1), r("0xb", 0, 20, 2), r("0xc", 0, 1<<40, 5)}
	if got := list("ETH"); !reflect.DeepEqual(got, want) {
		t.Fatalf("ArchiveRetries = %+v\nwant %+v", got, want)
	}
	if got := list("BSC"); !reflect.DeepEqual(got, []store.ArchiveRetry{other}) {
		t.Fatalf("ArchiveRetries(BSC) = %+v", got)
	}
	update(t, s, func(tx store.Tx) error {
		if err := tx.DeleteArchiveRetry("ETH", "0xa", 3); err != nil {
			return err
		}
		return tx.DeleteArchiveRetry("ETH", "0xnone", 0)
	})
	errRollback := errors.New("rollback")
	if err := s.Update(ctx, func(tx store.Tx) error {
		if err := tx.DeleteArchiveRetry("ETH", "0xb", 0); err != nil {
			return err
		}
		return errRollback
	}); !errors.Is(err, errRollback) {
		t.Fatalf("Update = %v", err)
	}
	want = []store.ArchiveRetry{want[0], want[2], want[3]}
	if got := list("ETH"); !reflect.DeepEqual(got, want) {
		t.Fatalf("after deletes: %+v\nwant %+v", got, want)
	}
}
