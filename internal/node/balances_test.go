package node

import (
	"context"
	"testing"

	"github.com/goaleph/goaleph/chain/eth/ethtest"
	"github.com/goaleph/goaleph/internal/store"
)

// balanceOf returns address's rows as chain/dapp=amount@height.
func balanceOf(t *testing.T, n *Node, address string) map[string]string {
	t.Helper()
	bs, err := n.Store().Balances(context.Background(), address)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, b := range bs {
		out[b.Chain+"/"+b.Dapp] = b.Amount.String()
	}
	return out
}

func TestBalancesUpdatePosts(t *testing.T) {
	oracle, stranger := ethtest.Account(t), ethtest.Account(t)
	n := testNode(t, Config{Balances: BalancesConfig{Addresses: []string{oracle.Address()}}})
	const holder = "0x00000000000000000000000000000000000000aa"
	update := func(height int, amount any, dapp string) map[string]any {
		c := map[string]any{"chain": "ETH", "main_height": height, "platform": "ALEPH_ETH", "balances": map[string]any{holder: amount}}
		if dapp != "" {
			c["dapp"] = dapp
		}
		return c
	}

	// From an untrusted sender: processed as a post, no balance.
	mustProcess(t, n, post(t, stranger, "balances-update", update(10, 1000, ""), ""))
	if got := balanceOf(t, n, holder); len(got) != 0 {
		t.Fatalf("balances after an untrusted update: %v", got)
	}
	// A trusted sender with another post type changes nothing either.
	mustProcess(t, n, post(t, oracle, "balances-updates", update(10, 1000, ""), ""))
	if got := balanceOf(t, n, holder); len(got) != 0 {
		t.Fatalf("balances after another post type: %v", got)
	}

	// From the trusted sender: applied exactly.
	mustProcess(t, n, post(t, oracle, "balances-update", update(10, 1234.5, ""), ""))
	mustProcess(t, n, post(t, oracle, "balances-update", update(10, "0.000000000000000007", "SABLIER"), ""))
	want := map[string]string{"ETH/": "1234500000000000000000", "ETH/SABLIER": "7"}
	if got := balanceOf(t, n, holder); len(got) != 2 || got["ETH/"] != want["ETH/"] || got["ETH/SABLIER"] != want["ETH/SABLIER"] {
		t.Fatalf("balances = %v, want %v", got, want)
	}
	// An older height does not overwrite a newer one; a newer one does.
	mustProcess(t, n, post(t, oracle, "balances-update", update(9, 1, ""), ""))
	if got := balanceOf(t, n, holder)["ETH/"]; got != want["ETH/"] {
		t.Fatalf("older update applied: %s", got)
	}
	mustProcess(t, n, post(t, oracle, "balances-update", update(11, 2, ""), ""))
	if got := balanceOf(t, n, holder)["ETH/"]; got != "2000000000000000000" {
		t.Fatalf("newer update not applied: %s", got)
	}

	// A malformed update from the trusted sender is rejected (code 0) and
	// changes nothing; the same from a stranger is a plain post.
	bad := map[string]any{"chain": "ETH", "balances": map[string]any{holder: 5}}
	m := post(t, oracle, "balances-update", bad, "")
	if st, _ := submit(t, n, m, true); st != store.StatusRejected {
		t.Fatalf("malformed trusted update: status %s, want rejected", st)
	}
	if st := waitStatus(t, n, m.ItemHash, store.StatusRejected); st.Rejected.ErrorCode != 0 {
		t.Fatalf("code %d, want 0", st.Rejected.ErrorCode)
	}
	mustProcess(t, n, post(t, stranger, "balances-update", bad, ""))
	if got := balanceOf(t, n, holder)["ETH/"]; got != "2000000000000000000" {
		t.Fatalf("balance changed by a rejected update: %s", got)
	}
}
