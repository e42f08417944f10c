package storetest

import (
	"errors"
	"fmt"
	"math/big"
	"reflect"
	"strings"
	"testing"

	"github.com/goaleph/goaleph/internal/store"
	"github.com/goaleph/goaleph/internal/store/balancesql"
)

// amount parses a decimal integer of base units.
func amount(t *testing.T, s string) *big.Int {
	t.Helper()
	v, ok := new(big.Int).SetString(s, 10)
	if !ok {
		t.Fatalf("bad amount %q", s)
	}
	return v
}

// balanceRows returns the rows of address as "chain/dapp=amount@height".
func balanceRows(t *testing.T, r store.Reader, address string) []string {
	t.Helper()
	bs, err := r.Balances(ctx, address)
	if err != nil {
		t.Fatalf("Balances(%s): %v", address, err)
	}
	var out []string
	for _, b := range bs {
		out = append(out, b.Chain+"/"+b.Dapp+"="+b.Amount.String()+"@"+big.NewInt(b.Height).String())
	}
	return out
}

func wantRows(t *testing.T, r store.Reader, address string, want ...string) {
	t.Helper()
	if got := balanceRows(t, r, address); !reflect.DeepEqual(got, want) {
		t.Fatalf("balances of %s = %q, want %q", address, got, want)
	}
}

func testBalances(t *testing.T, s store.Store) {
	const a = "0xAbCdEf0000000000000000000000000000000001"
	// 2^70 + 1 base units: beyond int64 and float64, kept exactly.
	huge := "1180591620717411303425"
	var n int
	update(t, s, func(tx store.Tx) error {
		var err error
		n, err = tx.UpdateBalances([]store.Balance{
			{Address: a, Chain: "ETH", Amount: amount(t, huge), Height: 10},
			{Address: a, Chain: "ETH", Dapp: "SABLIER", Amount: amount(t, "5"), Height: 10},
			{Address: a, Chain: "SOL", Amount: amount(t, "7"), Height: 3},
			{Address: "0xother", Chain: "ETH", Amount: amount(t, "1"), Height: 1},
		})
		return err
	})
	if n != 4 {
		t.Fatalf("UpdateBalances wrote %d rows, want 4", n)
	}
	wantRows(t, s, a, "ETH/="+huge+"@10", "ETH/SABLIER=5@10", "SOL/=7@3")
	// Addresses match whatever their case.
	wantRows(t, s, "0xabcdef0000000000000000000000000000000001", "ETH/="+huge+"@10", "ETH/SABLIER=5@10", "SOL/=7@3")
	wantRows(t, s, "0xnobody")

	// The newer height wins; the same or an older height changes nothing.
	update(t, s, func(tx store.Tx) error {
		var err error
		n, err = tx.UpdateBalances([]store.Balance{
			{Address: a, Chain: "ETH", Amount: amount(t, "1"), Height: 9},
			{Address: a, Chain: "ETH", Dapp: "SABLIER", Amount: amount(t, "6"), Height: 10},
			{Address: a, Chain: "SOL", Amount: amount(t, "0"), Height: 4},
		})
		return err
	})
	if n != 1 {
		t.Fatalf("UpdateBalances wrote %d rows, want 1 (only the newer height)", n)
	}
	wantRows(t, s, a, "ETH/="+huge+"@10", "ETH/SABLIER=5@10", "SOL/=0@4")

	// SetBalances writes whatever the stored height (a follower rewinding).
	update(t, s, func(tx store.Tx) error {
		return tx.SetBalances([]store.Balance{{Address: a, Chain: "ETH", Amount: amount(t, "-3"), Height: 2}})
	})
	wantRows(t, s, a, "ETH/=-3@2", "ETH/SABLIER=5@10", "SOL/=0@4")

	// A failed transaction leaves nothing; a balance without an amount fails.
	err := s.Update(ctx, func(tx store.Tx) error {
		_, err := tx.UpdateBalances([]store.Balance{{Address: a, Chain: "AVAX", Amount: amount(t, "1"), Height: 1}, {Address: a, Chain: "BASE", Height: 1}})
		return err
	})
	if err == nil {
		t.Fatal("a balance without an amount was stored")
	}
	wantRows(t, s, a, "ETH/=-3@2", "ETH/SABLIER=5@10", "SOL/=0@4")

	// A transaction reads its own writes.
	update(t, s, func(tx store.Tx) error {
		if err := tx.SetBalances([]store.Balance{{Address: "0xnew", Chain: "ETH", Amount: amount(t, "12"), Height: 5}}); err != nil {
			return err
		}
		wantRows(t, tx, "0xNEW", "ETH/=12@5")
		return nil
	})
}

func testTokenSync(t *testing.T, s store.Store) {
	update(t, s, func(tx store.Tx) error {
		if _, err := tx.TokenSync("ETH", "0xtoken"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("TokenSync before any: %v, want ErrNotFound", err)
		}
		for _, h := range []int64{5, 3} { // a rewind is stored too
			if err := tx.SetTokenSync(store.TokenSync{Chain: "ETH", Token: "0xtoken", Height: h, BlockHash: "0xh" + big.NewInt(h).String()}); err != nil {
				return err
			}
		}
		return tx.SetTokenSync(store.TokenSync{Chain: "ETH", Token: "0xother", Height: 9, BlockHash: "0xh9"})
	})
	update(t, s, func(tx store.Tx) error {
		got, err := tx.TokenSync("ETH", "0xtoken")
		if err != nil {
			return err
		}
		if want := (store.TokenSync{Chain: "ETH", Token: "0xtoken", Height: 3, BlockHash: "0xh3"}); got != want {
			t.Fatalf("TokenSync = %+v, want %+v", got, want)
		}
		if _, err := tx.TokenSync("SOL", "0xtoken"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("TokenSync of another chain: %v, want ErrNotFound", err)
		}
		return nil
	})
}

// balancesAt returns the rows of address at time at as "chain/dapp=amount".
func balancesAt(t *testing.T, r store.Reader, address string, at float64) []string {
	t.Helper()
	bs, err := r.BalancesAt(ctx, address, at)
	if err != nil {
		t.Fatalf("BalancesAt(%s, %v): %v", address, at, err)
	}
	var out []string
	for _, b := range bs {
		out = append(out, b.Chain+"/"+b.Dapp+"="+b.Amount.String())
	}
	return out
}

// testBalanceHistory: the balance at a time is that of the greatest height
// among the updates dated at or before it, whatever order they came in.
func testBalanceHistory(t *testing.T, s store.Store) {
	const a = "0xAbCdEf0000000000000000000000000000000002"
	write := func(bs ...store.Balance) {
		update(t, s, func(tx store.Tx) error { _, err := tx.UpdateBalances(bs); return err })
	}
	// Applied out of order: the update at time 300 (height 30) first.
	write(store.Balance{Address: a, Chain: "ETH", Amount: amount(t, "30"), Height: 30, Time: 300})
	write(store.Balance{Address: a, Chain: "ETH", Amount: amount(t, "10"), Height: 10, Time: 100},
		store.Balance{Address: a, Chain: "SOL", Amount: amount(t, "1"), Height: 1, Time: 150})
	// A later post carrying an older height does not win.
	write(store.Balance{Address: a, Chain: "ETH", Amount: amount(t, "5"), Height: 5, Time: 400})
	update(t, s, func(tx store.Tx) error {
		return tx.SetBalances([]store.Balance{{Address: a, Chain: "BASE", Amount: amount(t, "2"), Height: 7}})
	})
	for _, c := range []struct {
		at   float64
		want []string
	}{
		{50, []string{"BASE/=2"}},
		{100, []string{"BASE/=2", "ETH/=10"}},
		{299, []string{"BASE/=2", "ETH/=10", "SOL/=1"}},
		{300, []string{"BASE/=2", "ETH/=30", "SOL/=1"}},
		{1e9, []string{"BASE/=2", "ETH/=30", "SOL/=1"}},
	} {
		if got := balancesAt(t, s, strings.ToLower(a), c.at); !reflect.DeepEqual(got, c.want) {
			t.Errorf("at %v: %q, want %q", c.at, got, c.want)
		}
	}
	wantRows(t, s, a, "BASE/=2@7", "ETH/=30@30", "SOL/=1@1")
	hist, err := s.BalanceHistory(ctx, strings.ToLower(a), 1e9)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, b := range hist {
		got = append(got, fmt.Sprintf("%s/%s=%s@%d:%v", b.Chain, b.Dapp, b.Amount, b.Height, b.Time))
	}
	// SetBalances writes no history: the follower's rows count from the
	// start (BalancesAt reads them from the balances table).
	if want := []string{"BASE/=2@7:0", "ETH/=10@10:100", "SOL/=1@1:150", "ETH/=30@30:300", "ETH/=5@5:400"}; !reflect.DeepEqual(got, want) {
		t.Errorf("BalanceHistory = %q, want %q", got, want)
	}
}

func testCosts(t *testing.T, s store.Store) {
	const owner = "0xAbCdEf0000000000000000000000000000000003"
	huge := "1180591620717411303425"
	update(t, s, func(tx store.Tx) error {
		for _, c := range []store.Cost{
			{ItemHash: "h2", Owner: owner, Time: 20, PaymentType: "hold", Hold: amount(t, huge), Stream: amount(t, "2"), Credit: amount(t, "3")},
			{ItemHash: "h1", Owner: owner, Time: 10, PaymentType: "credit", Hold: amount(t, "1"), Stream: amount(t, "0"), Credit: amount(t, "7")},
			{ItemHash: "h3", Owner: "0xother", Time: 5, PaymentType: "hold", Hold: amount(t, "1")},
		} {
			if err := tx.PutCost(&c); err != nil {
				return err
			}
		}
		return nil
	})
	cs, err := s.Costs(ctx, strings.ToLower(owner))
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 2 || cs[0].ItemHash != "h1" || cs[1].ItemHash != "h2" || cs[1].Hold.String() != huge || cs[0].Credit.String() != "7" || cs[0].PaymentType != "credit" {
		t.Fatalf("costs = %+v", cs)
	}
	update(t, s, func(tx store.Tx) error { return tx.DeleteCost("h2") })
	if _, err := s.Cost(ctx, "h2"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleted cost: %v", err)
	}
	if c, err := s.Cost(ctx, "h3"); err != nil || c.Owner != "0xother" || c.Stream.Sign() != 0 {
		t.Fatalf("cost h3 = %+v, %v", c, err)
	}
}

// checkCostTotal compares the kept totals of owner with its rows added up
// (balancesql.SumCosts), at position at: absent exactly when it has no row.
func checkCostTotal(t *testing.T, r store.Reader, owner string, at float64, removed int64) {
	t.Helper()
	rows, err := r.Costs(ctx, owner)
	if err != nil {
		t.Fatal(err)
	}
	got, err := r.CostTotal(ctx, owner, at)
	checkFundsAt(t, r, owner, at, got, err == nil)
	if len(rows) == 0 {
		if !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("CostTotal(%s) without rows = %+v, %v", owner, got, err)
		}
		return
	}
	if err != nil {
		t.Fatalf("CostTotal(%s): %v", owner, err)
	}
	want := balancesql.SumCosts(rows)
	want.Removed = removed
	if got.Hold.Cmp(want.Hold) != 0 || got.Credit.Cmp(want.Credit) != 0 {
		t.Fatalf("CostTotal(%s) = hold %s credit %s, rows add up to %s %s", owner, got.Hold, got.Credit, want.Hold, want.Credit)
	}
	got.Hold, got.Credit, want.Hold, want.Credit = nil, nil, nil, nil
	if got != want {
		t.Fatalf("CostTotal(%s) = %+v, rows give %+v", owner, got, want)
	}
}

// checkFundsAt checks that FundsAt gives CostTotal's answer and
// BalanceHistory's rows.
func checkFundsAt(t *testing.T, r store.Reader, owner string, at float64, total store.CostTotal, kept bool) {
	t.Helper()
	gotTotal, gotKept, history, err := r.FundsAt(ctx, owner, at)
	if err != nil {
		t.Fatalf("FundsAt(%s, %v): %v", owner, at, err)
	}
	want, err := r.BalanceHistory(ctx, owner, at)
	if err != nil {
		t.Fatal(err)
	}
	for i := range want {
		want[i].Address = ""
	}
	if gotKept != kept || fmt.Sprint(gotTotal) != fmt.Sprint(total) || fmt.Sprint(history) != fmt.Sprint(want) {
		t.Fatalf("FundsAt(%s, %v) = %+v %v %v, want %+v %v %v", owner, at, gotTotal, gotKept, history, total, kept, want)
	}
}

// testCostTotals: the kept totals of an owner's cost rows equal the rows
// added up after new rows, a replaced row (re-processing, moving it to
// another owner), deletions (FORGET) down to none, and collection rows
// (which change no cost row, and are counted as removed by position).
func testCostTotals(t *testing.T, s store.Store) {
	const a, b = "0xAbCdEf0000000000000000000000000000000004", "0xother"
	huge := "1180591620717411303425"
	put := func(cs ...store.Cost) {
		t.Helper()
		update(t, s, func(tx store.Tx) error {
			for _, c := range cs {
				if err := tx.PutCost(&c); err != nil {
					return err
				}
			}
			return nil
		})
	}
	// check checks both owners at position at, a having removed messages
	// removed there.
	check := func(at float64, removed int64) {
		t.Helper()
		checkCostTotal(t, s, a, at, removed)
		checkCostTotal(t, s, strings.ToLower(a), at, removed)
		checkCostTotal(t, s, b, at, 0)
	}
	update(t, s, func(tx store.Tx) error {
		_, err := tx.UpdateBalances([]store.Balance{
			{Address: a, Chain: "ETH", Amount: amount(t, huge), Height: 3, Time: 40},
			{Address: strings.ToLower(a), Chain: "ETH", Amount: amount(t, "5"), Height: 1, Time: 20},
			{Address: a, Chain: "ETH", Dapp: "sablier", Amount: amount(t, "8"), Height: 2, Time: 20},
			{Address: a, Chain: "SOL", Amount: amount(t, "9"), Height: 7, Time: 60},
		})
		return err
	})
	check(0, 0)
	put(store.Cost{ItemHash: "k1", Owner: a, Time: 10, PaymentType: "hold", Hold: amount(t, huge), Stream: amount(t, "0"), Credit: amount(t, "0")},
		store.Cost{ItemHash: "k2", Owner: strings.ToLower(a), Time: 5, PaymentType: "credit", Hold: amount(t, "0"), Stream: amount(t, "0"), Credit: amount(t, "7")},
		store.Cost{ItemHash: "k3", Owner: a, Time: 30, PaymentType: "hold", Hold: amount(t, "0"), Stream: amount(t, "0"), Credit: amount(t, "0")},
		store.Cost{ItemHash: "k4", Owner: b, Time: 1, PaymentType: "superfluid", Hold: amount(t, "0"), Stream: amount(t, "9"), Credit: amount(t, "0")})
	check(100, 0)
	if got, err := s.CostTotal(ctx, a, 100); err != nil || got.Hold.String() != huge || got.Credit.String() != "7" ||
		got.Rows != 3 || got.HoldRows != 1 || got.Last != 30 || got.FirstHold != 10 {
		t.Fatalf("CostTotal = %+v, %v", got, err)
	}
	// Re-processing replaces k1 (another amount, earlier), then moves it to b.
	put(store.Cost{ItemHash: "k1", Owner: a, Time: 8, PaymentType: "hold", Hold: amount(t, "5"), Stream: amount(t, "0"), Credit: amount(t, "0")})
	check(100, 0)
	put(store.Cost{ItemHash: "k1", Owner: b, Time: 8, PaymentType: "hold", Hold: amount(t, "5"), Stream: amount(t, "0"), Credit: amount(t, "0")})
	check(100, 0)
	// Collection marks a's k3 removed at 50: no cost row changes; it counts
	// as removed from position 50 on.
	update(t, s, func(tx store.Tx) error {
		return tx.PutCollection(&store.Collection{ItemHash: "k3", Owner: a, Reason: "balance_insufficient", Since: 20, RemovedAt: 50})
	})
	check(49, 0)
	check(50, 1)
	// FORGETs delete rows down to none.
	for _, h := range []string{"k3", "k2", "k1", "k4"} {
		update(t, s, func(tx store.Tx) error { return tx.DeleteCost(h) })
		check(100, 1)
	}
}

// MigratedCosts are cost rows a test writes before the totals migration
// (SQLite 00014, PostgreSQL 00012), straight into account_costs;
// CheckMigratedCostTotals then checks that the migration filled the totals
// from them.
var MigratedCosts = []store.Cost{
	{ItemHash: "m1", Owner: "0xAbC0000000000000000000000000000000000005", Time: 30, PaymentType: "hold",
		Hold: big.NewInt(0).Lsh(big.NewInt(1), 80), Stream: new(big.Int), Credit: new(big.Int)},
	{ItemHash: "m2", Owner: "0xabc0000000000000000000000000000000000005", Time: 10, PaymentType: "hold",
		Hold: big.NewInt(7), Stream: new(big.Int), Credit: new(big.Int)},
	{ItemHash: "m3", Owner: "0xABC0000000000000000000000000000000000005", Time: 40, PaymentType: "credit",
		Hold: new(big.Int), Stream: new(big.Int), Credit: big.NewInt(11)},
	{ItemHash: "m4", Owner: "0xABC0000000000000000000000000000000000005", Time: 5, PaymentType: "hold",
		Hold: new(big.Int), Stream: new(big.Int), Credit: new(big.Int)},
	{ItemHash: "m5", Owner: "0xdef", Time: 1, PaymentType: "superfluid", Hold: new(big.Int), Stream: big.NewInt(3), Credit: new(big.Int)},
}

// CheckMigratedCostTotals checks the totals of MigratedCosts' owners, then
// that they stay kept through a new row and a deletion.
func CheckMigratedCostTotals(t *testing.T, s store.Store) {
	t.Helper()
	for _, o := range []string{MigratedCosts[0].Owner, "0xdef", "0xnobody"} {
		checkCostTotal(t, s, o, 100, 0)
	}
	if got, err := s.CostTotal(ctx, MigratedCosts[1].Owner, 100); err != nil || got.Rows != 4 || got.HoldRows != 2 ||
		got.FirstHold != 10 || got.Last != 40 || got.Credit.Int64() != 11 {
		t.Fatalf("migrated totals: %+v %v", got, err)
	}
	update(t, s, func(tx store.Tx) error {
		if err := tx.PutCost(&store.Cost{ItemHash: "m6", Owner: "0xdef", Time: 2, PaymentType: "hold", Hold: big.NewInt(4),
			Stream: new(big.Int), Credit: new(big.Int)}); err != nil {
			return err
		}
		return tx.DeleteCost("m1")
	})
	for _, o := range []string{MigratedCosts[0].Owner, "0xdef"} {
		checkCostTotal(t, s, o, 100, 0)
	}
}
