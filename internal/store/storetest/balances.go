package storetest

import (
	"errors"
	"math/big"
	"reflect"
	"testing"

	"github.com/goaleph/goaleph/internal/store"
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
