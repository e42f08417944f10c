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

// TestAccountBalanceCredits: `account balance` prints the credit balance
// the node folds from the credit sender's posts, the lots by expiry with
// --credits, and each message the address pays for with its cost and the
// credits it consumed; --json carries the same.
func TestAccountBalanceCredits(t *testing.T) {
	e := newEnv(t, "http://127.0.0.1:1")
	var me struct{ Address string }
	e.okJSON(&me, "account", "create")
	e.api = startNodeWith(t, node.Config{Balances: node.BalancesConfig{Addresses: []string{me.Address}},
		Economy: node.EconomyConfig{CreditSenders: []string{me.Address}}})
	var res writeResult
	e.okJSON(&res, "post", "create", "--type", "balances-update", "--content",
		`{"chain":"ETH","main_height":7,"balances":{"`+me.Address+`":100}}`)
	// 2,000,000 credits that never expire, 500 that expire in 2030.
	e.okJSON(&res, "--channel", "ALEPH_CREDIT", "post", "create", "--type", "aleph_credit_distribution", "--content",
		`{"distribution":{"token":"ALEPH","chain":"ETH","credits":[`+
			`{"address":"`+me.Address+`","amount":2000000,"price":"0.000001","tx_hash":"0x1","provider":"test"},`+
			`{"address":"`+me.Address+`","amount":500,"price":"0.000001","tx_hash":"0x2","provider":"test","expiration":1893456000000}]}}`)
	if res.Status != "processed" {
		t.Fatalf("distribution: %+v", res)
	}
	var held, paid writeResult
	e.okJSON(&held, "file", "upload", writeRandom(t, 1000))
	e.okJSON(&paid, "file", "upload", writeRandom(t, 2000), "--payment-type", "credit")
	if held.Status != "processed" || paid.Status != "processed" {
		t.Fatalf("uploads: %+v %+v", held, paid)
	}
	// The sender bills 1000 credits for the credit-paid file.
	e.okJSON(&res, "--channel", "ALEPH_CREDIT", "post", "create", "--type", "aleph_credit_expense", "--content",
		`{"expense":{"credits":[{"address":"`+me.Address+`","amount":1000,"ref":"`+paid.ItemHash+`"}]}}`)
	if res.Status != "processed" {
		t.Fatalf("expense: %+v", res)
	}

	out := e.ok("account", "balance")
	for _, want := range []string{me.Address + ": 100", "credits: 1999500", held.ItemHash + "  hold     0 ALEPH", paid.ItemHash + "  credit   0.", "credits/s", "1000\n"} {
		if !strings.Contains(out, want) {
			t.Fatalf("account balance output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "EXPIRES") {
		t.Fatalf("lots listed without --credits:\n%s", out)
	}
	out = e.ok("account", "balance", "--credits")
	for _, want := range []string{"CREDITS  EXPIRES", "1999000  never", "500      2030-01-01T00:00:00Z"} {
		if !strings.Contains(out, want) {
			t.Fatalf("account balance --credits output lacks %q:\n%s", want, out)
		}
	}
	var b struct {
		CreditBalance        json.Number `json:"credit_balance"`
		CreditBalanceDetails []struct {
			ExpirationDate *string     `json:"expiration_date"`
			Amount         json.Number `json:"amount"`
		} `json:"credit_balance_details"`
		Resources []struct {
			ItemHash        string      `json:"item_hash"`
			PaymentType     string      `json:"payment_type"`
			ConsumedCredits json.Number `json:"consumed_credits"`
			CostCredit      string      `json:"cost_credit"`
		} `json:"resources"`
	}
	e.okJSON(&b, "account", "balance", "--credits")
	if b.CreditBalance != "1999500" || len(b.CreditBalanceDetails) != 2 || b.CreditBalanceDetails[0].ExpirationDate != nil ||
		b.CreditBalanceDetails[1].Amount != "500" || len(b.Resources) != 2 {
		t.Fatalf("--json: %+v", b)
	}
	for _, r := range b.Resources {
		switch r.ItemHash {
		case held.ItemHash:
			if r.PaymentType != "hold" || r.ConsumedCredits != "0" {
				t.Fatalf("held file: %+v", r)
			}
		case paid.ItemHash:
			if r.PaymentType != "credit" || r.ConsumedCredits != "1000" || r.CostCredit == "0.000000000000000000" {
				t.Fatalf("credit-paid file: %+v", r)
			}
		default:
			t.Fatalf("unexpected resource %+v", r)
		}
	}
}
