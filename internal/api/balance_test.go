package api

import (
	"math/big"
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
