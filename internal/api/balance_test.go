package api

import (
	"encoding/json"
	"math/big"
	"strings"
	"testing"

	_ "github.com/goaleph/goaleph/chain/avax" // registers AVAX, a chain the query may name
	"github.com/goaleph/goaleph/internal/store"
)

func TestAddressBalance(t *testing.T) {
	e := newEnv(t)
	units := func(s string) *big.Int { v, _ := new(big.Int).SetString(s, 10); return v }
	const a = "0xAbC0000000000000000000000000000000000001"
	e.update(func(tx store.Tx) error {
		_, err := tx.UpdateBalances([]store.Balance{
			{Address: a, Chain: "ETH", Amount: units("1234500000000000000001"), Height: 5}, // 1234.500000000000000001
			{Address: a, Chain: "AVAX", Amount: units("2000000000000000000"), Height: 1},
			{Address: a, Chain: "ETH", Dapp: "SABLIER", Amount: units("9000000000000000000"), Height: 5},
		})
		return err
	})
	for _, tc := range []struct{ target, want string }{
		{"/api/v0/addresses/" + a + "/balance",
			`{"address":"` + a + `","balance":1236.500000000000000001,"details":{"AVAX":2.0,"ETH":1234.500000000000000001},` +
				`"locked_amount":0.0,"credit_balance":0,"credit_balance_details":null}`},
		// Case-insensitive, as the reference's ilike; the address is echoed as asked.
		{"/api/v0/addresses/0xabc0000000000000000000000000000000000001/balance?chain=AVAX",
			`{"address":"0xabc0000000000000000000000000000000000001","balance":2.0,"details":{},` +
				`"locked_amount":0.0,"credit_balance":0,"credit_balance_details":null}`},
		{"/api/v0/addresses/0xnobody/balance",
			`{"address":"0xnobody","balance":0.0,"details":{},"locked_amount":0.0,"credit_balance":0,"credit_balance_details":null}`},
	} {
		if got := string(e.getJSON(tc.target)); got != tc.want {
			t.Errorf("GET %s:\n got %s\nwant %s", tc.target, got, tc.want)
		}
	}
	e.wantStatus("/api/v0/addresses/"+a+"/balance?chain=NOPE", 422)
}

// TestCreditBalances: credit_balance and its details come from the ledger
// at the log clock (lots FIFO, expired once the log passes their expiry);
// /credit_balances lists granted addresses by address, in pages or with a
// cursor, min_balance as the reference; bad parameters are 422.
func TestCreditBalances(t *testing.T) {
	e := newEnv(t)
	units := func(n int64) *big.Int { return new(big.Int).Mul(big.NewInt(n), big.NewInt(1e18)) }
	const t0 = 1780000000.0
	const a, b, c = "0xAAAA000000000000000000000000000000000001", "0xBBBB000000000000000000000000000000000002", "0xCCCC000000000000000000000000000000000003"
	exp := int64((t0 + 1000) * 1000) // 2026-05-28T20:43:20Z
	e.update(func(tx store.Tx) error {
		return tx.PutCreditEntries([]store.CreditEntry{
			{Ref: "d1", Address: a, Time: t0, Kind: store.CreditGrant, Amount: units(1000)},
			{Ref: "d2", Address: a, Time: t0 + 10, Kind: store.CreditGrant, Amount: units(500), Expiration: exp},
			{Ref: "x1", Address: a, Time: t0 + 20, Kind: store.CreditExpense, Amount: units(200), Origin: "vm"},
			{Ref: "x1", Index: 1, Address: c, Time: t0 + 20, Kind: store.CreditExpense, Amount: units(5)},
		})
	})
	balance := func(addr, query string) string {
		t.Helper()
		var v struct {
			Credits json.RawMessage `json:"credit_balance"`
			Details json.RawMessage `json:"credit_balance_details"`
		}
		if err := json.Unmarshal(e.getJSON("/api/v0/addresses/"+addr+"/balance"+query), &v); err != nil {
			t.Fatal(err)
		}
		return string(v.Credits) + " " + string(v.Details)
	}
	// The clock is t0+20: the expense took 200 from the first lot.
	if got, want := balance(a, "?include_credit_details=true"), `1300 [{"expiration_date":null,"amount":800},{"expiration_date":"2026-05-28T20:43:20Z","amount":500}]`; got != want {
		t.Fatalf("balance of a: %s, want %s", got, want)
	}
	if got := balance(strings.ToLower(a), ""); got != "1300 null" {
		t.Fatalf("balance of a without details: %s", got)
	}
	if got := balance(c, "?include_credit_details=1"); got != "0 []" {
		t.Fatalf("balance of c (expenses only): %s", got)
	}
	// A later credit post moves the log clock past the second lot's expiry.
	e.update(func(tx store.Tx) error {
		return tx.PutCreditEntries([]store.CreditEntry{{Ref: "d3", Address: b, Time: t0 + 2000, Kind: store.CreditGrant, Amount: units(7)}})
	})
	if got, want := balance(a, "?include_credit_details=yes"), `800 [{"expiration_date":null,"amount":800}]`; got != want {
		t.Fatalf("balance of a after the expiry: %s, want %s", got, want)
	}

	list := func(query string) string {
		t.Helper()
		return string(e.getJSON("/api/v0/credit_balances" + query))
	}
	for _, tc := range []struct{ query, want string }{
		{"", `{"credit_balances":[{"address":"` + a + `","credits":800},{"address":"` + b + `","credits":7}],` +
			`"pagination_per_page":100,"pagination_page":1,"pagination_total":2,"pagination_item":"credit_balances"}`},
		{"?min_balance=8", `{"credit_balances":[{"address":"` + a + `","credits":800}],` +
			`"pagination_per_page":100,"pagination_page":1,"pagination_total":1,"pagination_item":"credit_balances"}`},
		{"?min_balance=800000000000000000000000", `{"credit_balances":[],` +
			`"pagination_per_page":100,"pagination_page":1,"pagination_total":0,"pagination_item":"credit_balances"}`},
		{"?pagination=1&page=2", `{"credit_balances":[{"address":"` + b + `","credits":7}],` +
			`"pagination_per_page":1,"pagination_page":2,"pagination_total":2,"pagination_item":"credit_balances"}`},
		{"?pagination=1&page=3", `{"credit_balances":[],` +
			`"pagination_per_page":1,"pagination_page":3,"pagination_total":2,"pagination_item":"credit_balances"}`},
		{"?pagination=1&cursor=", `{"credit_balances":[{"address":"` + a + `","credits":800}],` +
			`"pagination_per_page":1,"next_cursor":"` + store.EncodeAddressCursor(a) + `"}`},
		{"?pagination=1&cursor=" + store.EncodeAddressCursor(a), `{"credit_balances":[{"address":"` + b + `","credits":7}],` +
			`"pagination_per_page":1,"next_cursor":null}`},
		{"?pagination=500&cursor=", `{"credit_balances":[{"address":"` + a + `","credits":800},{"address":"` + b + `","credits":7}],` +
			`"pagination_per_page":200,"next_cursor":null}`},
	} {
		if got := list(tc.query); got != tc.want {
			t.Errorf("GET /api/v0/credit_balances%s:\n got %s\nwant %s", tc.query, got, tc.want)
		}
	}
	for _, q := range []string{"?min_balance=0", "?min_balance=-1", "?min_balance=1.5", "?min_balance=x", "?page=0", "?page=x",
		"?pagination=-1", "?pagination=1001", "?cursor=!!", "?cursor=e30", "?cursor=&pagination=0"} {
		e.wantStatus("/api/v0/credit_balances"+q, 422)
	}
	e.wantStatus("/api/v0/addresses/"+a+"/balance?include_credit_details=maybe", 422)
}

// TestCosts: GET /api/v0/costs totals the cost rows that match (payment
// type credit unless asked), lists them by item hash with what their
// resources consumed, and refuses bad parameters with 422.
func TestCosts(t *testing.T) {
	e := newEnv(t)
	units := func(s string) *big.Int { v, _ := new(big.Int).SetString(s, 10); return v }
	const a, o = "0xAAAA000000000000000000000000000000000001", "0xBBBB000000000000000000000000000000000002"
	e.update(func(tx store.Tx) error {
		for _, c := range []store.Cost{
			{ItemHash: "h2", Owner: a, Time: 1, PaymentType: "hold", Hold: units("1500000000000000000"), Stream: new(big.Int), Credit: new(big.Int)},
			{ItemHash: "h1", Owner: a, Time: 2, PaymentType: "hold", Hold: units("1"), Stream: new(big.Int), Credit: new(big.Int)},
			{ItemHash: "c1", Owner: a, Time: 3, PaymentType: "credit", Hold: new(big.Int), Stream: new(big.Int), Credit: units("3958333333333333")},
			{ItemHash: "c2", Owner: o, Time: 4, PaymentType: "credit", Hold: new(big.Int), Stream: new(big.Int), Credit: units("1000000000000000000")},
		} {
			if err := tx.PutCost(&c); err != nil {
				return err
			}
		}
		return tx.PutCreditEntries([]store.CreditEntry{
			{Ref: "g", Address: a, Time: 1, Kind: store.CreditGrant, Amount: units("9000000000000000000000")},
			{Ref: "x", Address: a, Time: 5, Kind: store.CreditExpense, Amount: units("42000000000000000000"), Origin: "c1"},
			{Ref: "x", Index: 1, Address: a, Time: 5, Kind: store.CreditExpense, Amount: units("8000000000000000000"), Origin: "c1"},
		})
	})
	zero := "0.000000000000000000"
	for _, tc := range []struct{ query, want string }{
		{"?address=" + a + "&payment_type=hold&include_details=1",
			`{"summary":{"total_consumed_credits":0,"total_cost_hold":"1.500000000000000001","total_cost_stream":"` + zero + `","total_cost_credit":"` + zero + `","resource_count":2},` +
				`"filters":{"address":"` + a + `","item_hash":null,"payment_type":"hold"},"resources":[` +
				`{"item_hash":"h1","owner":"` + a + `","payment_type":"hold","consumed_credits":0,"cost_hold":"0.000000000000000001","cost_stream":"` + zero + `","cost_credit":"` + zero + `","detail":null},` +
				`{"item_hash":"h2","owner":"` + a + `","payment_type":"hold","consumed_credits":0,"cost_hold":"1.500000000000000000","cost_stream":"` + zero + `","cost_credit":"` + zero + `","detail":null}],` +
				`"pagination_page":1,"pagination_total":2,"pagination_per_page":100,"pagination_item":"resources"}`},
		// Default payment type credit, every owner, summary only.
		{"",
			`{"summary":{"total_consumed_credits":50,"total_cost_hold":"` + zero + `","total_cost_stream":"` + zero + `","total_cost_credit":"1.003958333333333333","resource_count":2},` +
				`"filters":{"address":null,"item_hash":null,"payment_type":"credit"},"resources":null,` +
				`"pagination_page":null,"pagination_total":null,"pagination_per_page":null,"pagination_item":null}`},
		{"?item_hash=c1&include_details=1&pagination=10",
			`{"summary":{"total_consumed_credits":50,"total_cost_hold":"` + zero + `","total_cost_stream":"` + zero + `","total_cost_credit":"0.003958333333333333","resource_count":1},` +
				`"filters":{"address":null,"item_hash":"c1","payment_type":"credit"},"resources":[` +
				`{"item_hash":"c1","owner":"` + a + `","payment_type":"credit","consumed_credits":50,"cost_hold":"` + zero + `","cost_stream":"` + zero + `","cost_credit":"0.003958333333333333","detail":null}],` +
				`"pagination_page":1,"pagination_total":1,"pagination_per_page":10,"pagination_item":"resources"}`},
		{"?item_hash=c1&address=" + o,
			`{"summary":{"total_consumed_credits":0,"total_cost_hold":"` + zero + `","total_cost_stream":"` + zero + `","total_cost_credit":"` + zero + `","resource_count":0},` +
				`"filters":{"address":"` + o + `","item_hash":"c1","payment_type":"credit"},"resources":null,` +
				`"pagination_page":null,"pagination_total":null,"pagination_per_page":null,"pagination_item":null}`},
	} {
		if got := string(e.getJSON("/api/v0/costs" + tc.query)); got != tc.want {
			t.Errorf("GET /api/v0/costs%s:\n got %s\nwant %s", tc.query, got, tc.want)
		}
	}
	if got, want := string(e.getJSON("/api/v0/messages/c1/consumed_credits")), `{"item_hash":"c1","consumed_credits":50}`; got != want {
		t.Errorf("consumed_credits of c1: %s, want %s", got, want)
	}
	if got, want := string(e.getJSON("/api/v0/messages/h1/consumed_credits")), `{"item_hash":"h1","consumed_credits":0}`; got != want {
		t.Errorf("consumed_credits of h1: %s, want %s", got, want)
	}
	for _, q := range []string{"?payment_type=gold", "?include_details=3", "?include_details=-1", "?include_details=x", "?pagination=5",
		"?pagination=1001", "?page=0", "?include_size=maybe", "?include_details=2"} {
		e.wantStatus("/api/v0/costs"+q, 422)
	}
}
