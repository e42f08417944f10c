package node

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/goaleph/goaleph/internal/chain/devchain/chaintest"
)

// TestTokenFollowerBalance: tokens minted and transferred on the dev chain
// appear in /balance once the node's follower has polled, and its height
// is in /metrics.
func TestTokenFollowerBalance(t *testing.T) {
	ctx, c, token := chaintest.Token(t)
	a, b := c.Accounts()[1].Address, c.Accounts()[2].Address
	if _, err := c.Mint(ctx, token, a, chaintest.Tokens(100, 0)); err != nil {
		t.Fatal(err)
	}

	rc := roleConfig(t.TempDir())
	rc.NoP2P = true
	rc.Token = TokenConfig{Enabled: true, RPC: c.URL(), Address: token.Hex(), Confirmations: 1, PollInterval: 20 * time.Millisecond}
	r, err := NewRole(ctx, rc)
	if err != nil {
		t.Fatal(err)
	}
	stop, done := runRole(r)
	defer func() {
		stop()
		if err := waitRun(t, done); err != nil {
			t.Errorf("stop: %v", err)
		}
	}()

	// 12.000000000000000001 tokens from a to b (exact beyond a float64).
	rcpt, err := c.Transfer(ctx, token, 1, b, chaintest.Tokens(12, 1))
	if err != nil {
		t.Fatal(err)
	}
	get := func(path string) string {
		resp, err := http.Get(r.URL() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return string(body)
	}
	balance := func(addr string) string {
		var v struct{ Balance json.Number }
		if err := json.Unmarshal([]byte(get("/api/v0/addresses/"+addr+"/balance")), &v); err != nil {
			t.Fatal(err)
		}
		return v.Balance.String()
	}
	// The transfer needs one confirmation: nothing moves until a block
	// is sealed on top of it.
	eventually(t, 60*time.Second, "the mint in /balance", func() bool { return balance(a.Hex()) == "100.0" })
	if got := balance(b.Hex()); got != "0.0" {
		t.Fatalf("balance of b before the transfer is confirmed: %s", got)
	}
	c.Commit()
	eventually(t, 60*time.Second, "the transfer in /balance", func() bool {
		return balance(strings.ToLower(b.Hex())) == "12.000000000000000001"
	})
	if got := balance(a.Hex()); got != "87.999999999999999999" {
		t.Fatalf("balance of a = %s", got)
	}
	metrics := get("/metrics")
	for _, want := range []string{`aleph_token_follower_height{chain="ETH"} ` + rcpt.BlockNumber.String(), `aleph_balance_updates_total{source="chain"} `} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
