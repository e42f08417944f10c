package api

import (
	"encoding/json"
	"math/big"
	"strings"
	"testing"

	"github.com/goaleph/goaleph/internal/store"
	"github.com/goaleph/goaleph/message"
)

// TestCreditHistory: the history lists an address's ledger entries in the
// reference's shape (expenses negative, empty fields null, prices and sizes
// strings), filtered, sorted and paged as the reference; the summary totals
// the same filtered set; bad parameters are 422, no entry 404.
func TestCreditHistory(t *testing.T) {
	e := newEnv(t)
	units := func(n int64) *big.Int { return new(big.Int).Mul(big.NewInt(n), big.NewInt(1e18)) }
	const a = "0xAAAA000000000000000000000000000000000001"
	vm := newRec(rec{typ: message.TypeStore, sender: a, time: 1780000001, fileHash: strings.Repeat("ab", 32), salt: "vm"})
	e.insert(vm)
	e.update(func(tx store.Tx) error {
		return tx.PutCreditEntries([]store.CreditEntry{
			{Ref: "d1", Address: a, Time: 1780000000, Kind: store.CreditGrant, Amount: units(1000), Price: "0.000001", TxHash: "0xt1",
				Token: "ALEPH", Chain: "ETH", Provider: "stripe", PaymentMethod: "card", BonusAmount: "20", Origin: "shop", OriginRef: "order-1"},
			{Ref: "d1", Index: 1, Address: a, Time: 1780000000, Kind: store.CreditGrant, Amount: units(500), Expiration: 1893456000000,
				Price: "0.000001", TxHash: "0xt2", Token: "ALEPH", Chain: "ETH", Provider: "promo"},
			{Ref: "x1", Address: a, Time: 1780000100.5, Kind: store.CreditExpense, Amount: units(30), OriginRef: vm.ItemHash,
				TxHash: "node1", Price: "0.5", Provider: "ALEPH", PaymentMethod: "credit_expense", ExpenseCount: "2", ExpenseSizeMiB: "1.5"},
			{Ref: "x2", Address: a, Time: 1780000200, Kind: store.CreditExpense, Amount: units(7), Origin: "exec", OriginRef: vm.ItemHash,
				Provider: "ALEPH", PaymentMethod: "credit_expense"},
			{Ref: "other", Address: "0xbbbb", Time: 1780000000, Kind: store.CreditGrant, Amount: units(1)},
		})
	})
	d1 := `{"amount":1000,"price":"0.000001","bonus_amount":20,"tx_hash":"0xt1","token":"ALEPH","chain":"ETH","provider":"stripe",` +
		`"origin":"shop","origin_ref":"order-1","payment_method":"card","credit_ref":"d1","credit_index":0,"expiration_date":null,` +
		`"message_timestamp":"2026-05-28T20:26:40Z","expense_count":null,"expense_size_mib":null}`
	d1b := `{"amount":500,"price":"0.000001","bonus_amount":null,"tx_hash":"0xt2","token":"ALEPH","chain":"ETH","provider":"promo",` +
		`"origin":null,"origin_ref":null,"payment_method":null,"credit_ref":"d1","credit_index":1,"expiration_date":"2030-01-01T00:00:00Z",` +
		`"message_timestamp":"2026-05-28T20:26:40Z","expense_count":null,"expense_size_mib":null}`
	x1 := `{"amount":-30,"price":"0.5","bonus_amount":null,"tx_hash":"node1","token":null,"chain":null,"provider":"ALEPH",` +
		`"origin":null,"origin_ref":"` + vm.ItemHash + `","payment_method":"credit_expense","credit_ref":"x1","credit_index":0,` +
		`"expiration_date":null,"message_timestamp":"2026-05-28T20:28:20.500000Z","expense_count":2,"expense_size_mib":"1.5"}`
	x2 := `{"amount":-7,"price":null,"bonus_amount":null,"tx_hash":null,"token":null,"chain":null,"provider":"ALEPH",` +
		`"origin":"exec","origin_ref":"` + vm.ItemHash + `","payment_method":"credit_expense","credit_ref":"x2","credit_index":0,` +
		`"expiration_date":null,"message_timestamp":"2026-05-28T20:30:00Z","expense_count":null,"expense_size_mib":null}`
	page := func(items []string, page, perPage, total int) string {
		return `{"address":"` + a + `","credit_history":[` + strings.Join(items, ",") + `],"pagination_page":` + itoa(page) +
			`,"pagination_total":` + itoa(total) + `,"pagination_per_page":` + itoa(perPage) + `}`
	}
	base := "/api/v0/addresses/" + a + "/credit_history"
	for _, tc := range []struct{ query, want string }{
		// Newest first; ties by ref then index, in the same direction.
		{"", page([]string{x2, x1, d1b, d1}, 1, MaxPageSize, 4)},
		{"?sort_order=1&pagination=2", page([]string{d1, d1b}, 1, 2, 4)},
		{"?sort_order=1&pagination=2&page=2", page([]string{x1, x2}, 2, 2, 4)},
		{"?sort_by=amount&sort_order=1", page([]string{x1, x2, d1b, d1}, 1, MaxPageSize, 4)},
		// Nullable keys put the entries without a value last, both ways.
		{"?sort_by=tx_hash", page([]string{x1, d1b, d1, x2}, 1, MaxPageSize, 4)},
		{"?sort_by=expiration_date&sort_order=1", page([]string{d1b, d1, x1, x2}, 1, MaxPageSize, 4)},
		{"?direction=incoming", page([]string{d1b, d1}, 1, MaxPageSize, 2)},
		{"?direction=outgoing&startDate=1780000150", page([]string{x2}, 1, MaxPageSize, 1)},
		{"?endDate=1780000100.5&start_date=1780000100", page([]string{x1}, 1, MaxPageSize, 1)},
		{"?has_expiration=true", page([]string{d1b}, 1, MaxPageSize, 1)},
		{"?provider=stripe&token=ALEPH", page([]string{d1}, 1, MaxPageSize, 1)},
		// NOT IN also drops entries without a payment method.
		{"?exclude_payment_method=card,other", page([]string{x2, x1}, 1, MaxPageSize, 2)},
		// The resource is the origin, else the ref; resourceTypes looks
		// up its message type.
		{"?resource=" + vm.ItemHash, page([]string{x1}, 1, MaxPageSize, 1)},
		{"?resourceTypes=STORE,PROGRAM", page([]string{x1}, 1, MaxPageSize, 1)},
		{"?origin=exec", page([]string{x2}, 1, MaxPageSize, 1)},
	} {
		if got := string(e.getJSON(base + tc.query)); got != tc.want {
			t.Errorf("GET %s%s:\n got %s\nwant %s", base, tc.query, got, tc.want)
		}
	}
	e.wantStatus(base+"?tx_hash=nothing", 404)
	e.wantStatus(base+"?origin=", 404) // an empty value matches no entry
	e.wantStatus("/api/v0/addresses/0xnobody/credit_history", 404)
	for _, q := range []string{"?sort_by=time", "?sort_order=0", "?direction=in", "?has_expiration=maybe", "?startDate=x",
		"?startDate=-1", "?startDate=10&endDate=5", "?resourceTypes=FILE", "?page=0", "?pagination=-1", "?cursor=abc"} {
		e.wantStatus(base+q, 422)
	}

	summary := func(query string) map[string]json.Number {
		t.Helper()
		var v map[string]json.Number
		d := json.NewDecoder(strings.NewReader(string(e.getJSON(base + "/summary" + query))))
		d.UseNumber()
		var raw map[string]any
		if err := d.Decode(&raw); err != nil {
			t.Fatal(err)
		}
		v = map[string]json.Number{}
		for k, x := range raw {
			if n, ok := x.(json.Number); ok {
				v[k] = n
			}
		}
		return v
	}
	if got := string(e.getJSON(base + "/summary")); got != `{"address":"`+a+`","entry_count":4,"total_amount":1463,"total_incoming":1500,"total_outgoing":-37}` {
		t.Errorf("summary: %s", got)
	}
	if s := summary("?direction=outgoing"); s["entry_count"] != "2" || s["total_amount"] != "-37" || s["total_incoming"] != "0" {
		t.Errorf("outgoing summary: %v", s)
	}
	if got := string(e.getJSON("/api/v0/addresses/0xnobody/credit_history/summary")); got != `{"address":"0xnobody","entry_count":0,"total_amount":0,"total_incoming":0,"total_outgoing":0}` {
		t.Errorf("empty summary: %s", got)
	}
	e.wantStatus(base+"/summary?direction=sideways", 422)
}

func itoa(n int) string { return big.NewInt(int64(n)).String() }
