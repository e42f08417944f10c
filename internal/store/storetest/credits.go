package storetest

import (
	"fmt"
	"math/big"
	"reflect"
	"strings"
	"testing"

	"github.com/goaleph/goaleph/internal/store"
)

// creditRows returns the entries of address at at as
// "ref/index kind amount exp@time".
func creditRows(t *testing.T, r store.Reader, address string, at float64) []string {
	t.Helper()
	es, err := r.CreditEntries(ctx, address, at)
	if err != nil {
		t.Fatalf("CreditEntries(%s, %v): %v", address, at, err)
	}
	var out []string
	for _, e := range es {
		out = append(out, fmt.Sprintf("%s/%d %s %s %d@%v", e.Ref, e.Index, e.Kind, e.Amount, e.Expiration, e.Time))
	}
	return out
}

// testCreditEntries: the ledger keeps every entry exactly, reads them up to
// a position in fold order (time, grants first, ref, index) whatever order
// they were written in, and a FORGET of a post deletes its entries only.
func testCreditEntries(t *testing.T, s store.Store) {
	const a = "0xAbCdEf0000000000000000000000000000000004"
	huge := "1180591620717411303425000000000000000000" // beyond int64 and float64
	update(t, s, func(tx store.Tx) error {
		return tx.PutCreditEntries([]store.CreditEntry{
			{Ref: "r2", Index: 0, Address: a, Time: 200, Kind: store.CreditExpense, Amount: amount(t, "3")},
			{Ref: "r2", Index: 1, Address: "0xother", Time: 200, Kind: store.CreditExpense, Amount: amount(t, "1")},
		})
	})
	update(t, s, func(tx store.Tx) error {
		return tx.PutCreditEntries([]store.CreditEntry{
			{Ref: "r1", Index: 0, Address: a, Time: 100, Kind: store.CreditGrant, Amount: amount(t, huge), Expiration: 1_700_000_000_000},
			{Ref: "r3", Index: 0, Address: a, Time: 200, Kind: store.CreditGrant, Amount: amount(t, "5")},
			{Ref: "r0", Index: 2, Address: a, Time: 300, Kind: store.CreditGrant, Amount: amount(t, "7")},
		})
	})
	all := []string{"r1/0 grant " + huge + " 1700000000000@100", "r3/0 grant 5 0@200", "r2/0 expense 3 0@200", "r0/2 grant 7 0@300"}
	for _, c := range []struct {
		at   float64
		want []string
	}{
		{99, nil},
		{100, all[:1]},
		{250, all[:3]},
		{1e12, all},
	} {
		if got := creditRows(t, s, strings.ToLower(a), c.at); !reflect.DeepEqual(got, c.want) {
			t.Errorf("at %v: %q, want %q", c.at, got, c.want)
		}
	}
	// Writing an entry again replaces it.
	update(t, s, func(tx store.Tx) error {
		return tx.PutCreditEntries([]store.CreditEntry{{Ref: "r3", Index: 0, Address: a, Time: 200, Kind: store.CreditGrant, Amount: amount(t, "6")}})
	})
	if addrs, err := s.CreditAddresses(ctx, "", 0); err != nil || !reflect.DeepEqual(addrs, []string{a, "0xother"}) {
		t.Fatalf("CreditAddresses = %q, %v", addrs, err)
	}
	if addrs, err := s.CreditAddresses(ctx, a, 1); err != nil || !reflect.DeepEqual(addrs, []string{"0xother"}) {
		t.Fatalf("CreditAddresses after %s = %q, %v", a, addrs, err)
	}
	if addrs, err := s.CreditAddresses(ctx, "", 1); err != nil || !reflect.DeepEqual(addrs, []string{a}) {
		t.Fatalf("CreditAddresses limit 1 = %q, %v", addrs, err)
	}
	update(t, s, func(tx store.Tx) error { return tx.DeleteCreditEntries("r2") })
	want := []string{all[0], "r3/0 grant 6 0@200", all[3]}
	if got := creditRows(t, s, a, 1e12); !reflect.DeepEqual(got, want) {
		t.Fatalf("after deleting r2: %q, want %q", got, want)
	}
	if got := creditRows(t, s, "0xother", 1e12); got != nil {
		t.Fatalf("0xother after deleting r2: %q", got)
	}
}

// testCreditsConsumed: entries keep every history field; the credits a
// resource consumed are the sum of the expenses paying for it (origin, else
// origin_ref; grants never count, whatever their origin), exactly; a credit
// post moves the log clock.
func testCreditsConsumed(t *testing.T, s store.Store) {
	huge := "1180591620717411303425000000000000000000"
	if clock, err := s.LogClock(ctx); err != nil || clock != 0 {
		t.Fatalf("LogClock of an empty store = %v, %v", clock, err)
	}
	update(t, s, func(tx store.Tx) error {
		return tx.PutCreditEntries([]store.CreditEntry{
			{Ref: "g", Index: 0, Address: "0xa", Time: 100, Kind: store.CreditGrant, Amount: amount(t, "100"), Origin: "vm1"},
			{Ref: "e1", Index: 0, Address: "0xa", Time: 150, Kind: store.CreditExpense, Amount: amount(t, huge), Origin: "vm1"},
			{Ref: "e1", Index: 1, Address: "0xb", Time: 150, Kind: store.CreditExpense, Amount: amount(t, "2"), Origin: "vm2"},
			// A transfer's debit names its recipient: never consumption.
			{Ref: "e1", Index: 2, Address: "0xb", Time: 150, Kind: store.CreditExpense, Amount: amount(t, "5"), Origin: "vm2", PaymentMethod: "credit_transfer"},
			{Ref: "e2", Index: 0, Address: "0xa", Time: 175.5, Kind: store.CreditExpense, Amount: amount(t, "1"), OriginRef: "vm1",
				Price: "0.25", TxHash: "node", Token: "ALEPH", Chain: "ETH", Provider: "ALEPH", PaymentMethod: "credit_expense",
				ExpenseCount: "3", ExpenseSizeMiB: "1.5", BonusAmount: "7"},
			{Ref: "e2", Index: 1, Address: "0xa", Time: 175.5, Kind: store.CreditExpense, Amount: amount(t, "9")},
		})
	})
	if got := creditRows(t, s, "0xa", 1e12); len(got) != 4 {
		t.Fatalf("entries of 0xa: %q", got)
	}
	es, err := s.CreditEntries(ctx, "0xa", 1e12)
	if err != nil || es[1].Origin != "vm1" || es[3].Origin != "" {
		t.Fatalf("origins read back: %+v, %v", es, err)
	}
	// Every history field comes back as written.
	want := store.CreditEntry{Ref: "e2", Index: 0, Address: "0xa", Time: 175.5, Kind: store.CreditExpense, Amount: amount(t, "1"), OriginRef: "vm1",
		Price: "0.25", TxHash: "node", Token: "ALEPH", Chain: "ETH", Provider: "ALEPH", PaymentMethod: "credit_expense",
		ExpenseCount: "3", ExpenseSizeMiB: "1.5", BonusAmount: "7"}
	if got := es[2]; !reflect.DeepEqual(got, want) {
		t.Fatalf("history fields read back:\n%+v\nwant\n%+v", got, want)
	}
	got, err := s.CreditsConsumed(ctx, []string{"vm1", "vm2", "vm3", ""})
	if err != nil {
		t.Fatal(err)
	}
	sum := new(big.Int).Add(amount(t, huge), big.NewInt(1))
	if len(got) != 2 || got["vm1"].Cmp(sum) != 0 || got["vm2"].String() != "2" {
		t.Fatalf("CreditsConsumed = %v, want vm1 %s, vm2 2", got, sum)
	}
	if got, err := s.CreditsConsumed(ctx, nil); err != nil || len(got) != 0 {
		t.Fatalf("CreditsConsumed(nil) = %v, %v", got, err)
	}
	if clock, err := s.LogClock(ctx); err != nil || clock != 175.5 {
		t.Fatalf("LogClock after credit posts = %v, %v, want 175.5", clock, err)
	}
	// A transfer, which anyone may date in the future, leaves the clock.
	update(t, s, func(tx store.Tx) error {
		return tx.PutCreditEntries([]store.CreditEntry{
			{Ref: "t", Address: "0xc", Time: 9e9, Kind: store.CreditGrant, Amount: amount(t, "1"), PaymentMethod: "credit_transfer"},
			{Ref: "t", Index: 1, Address: "0xa", Time: 9e9, Kind: store.CreditExpense, Amount: amount(t, "1"), PaymentMethod: "credit_transfer"},
		})
	})
	if clock, err := s.LogClock(ctx); err != nil || clock != 175.5 {
		t.Fatalf("LogClock after a transfer = %v, %v, want 175.5", clock, err)
	}
}
