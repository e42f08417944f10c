package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/goaleph/goaleph/internal/node"
)

func TestAccountBalance(t *testing.T) {
	e := newEnv(t, "http://127.0.0.1:1")
	var oracle struct{ Address string }
	e.okJSON(&oracle, "account", "create")
	e.api = startNodeWith(t, node.Config{Balances: node.BalancesConfig{Addresses: []string{oracle.Address}}})
	const holder = "0x00000000000000000000000000000000000000Aa"
	var res writeResult
	e.okJSON(&res, "post", "create", "--type", "balances-update", "--content",
		`{"chain":"ETH","main_height":7,"balances":{"`+holder+`":1234.5,"`+oracle.Address+`":"0.000000000000000001"}}`)
	if res.Status != "processed" {
		t.Fatalf("post: %+v", res)
	}
	e.okJSON(&res, "post", "create", "--type", "balances-update", "--content",
		`{"chain":"AVAX","main_height":3,"balances":{"`+holder+`":0.25}}`)

	out := e.ok("account", "balance", strings.ToLower(holder))
	for _, want := range []string{"1234.75 ALEPH", "AVAX", "0.25", "ETH", "1234.5"} {
		if !strings.Contains(out, want) {
			t.Fatalf("account balance output lacks %q:\n%s", want, out)
		}
	}
	var b struct {
		Address string
		Balance json.Number
		Details map[string]json.Number
	}
	e.okJSON(&b, "account", "balance") // the active account
	if b.Address != oracle.Address || b.Balance != "0.000000000000000001" || b.Details["ETH"] != "0.000000000000000001" {
		t.Fatalf("own balance: %+v", b)
	}
	b.Details = nil
	e.okJSON(&b, "account", "balance", holder, "--chain", "AVAX")
	if b.Balance != "0.25" || len(b.Details) != 0 {
		t.Fatalf("AVAX balance: %+v", b)
	}
	e.fails("account", "balance", holder, "--chain", "NOPE")
}
