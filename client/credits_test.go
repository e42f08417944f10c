package client_test

import (
	"encoding/json"
	"testing"

	"github.com/goaleph/goaleph/chain/eth/ethtest"
	"github.com/goaleph/goaleph/client"
	"github.com/goaleph/goaleph/internal/node"
)

// TestCredits: BalanceWithCredits, CreditBalances and Costs read what the
// node folds from a credit sender's posts, exactly.
func TestCredits(t *testing.T) {
	sender, holder := ethtest.Account(t), ethtest.Account(t)
	c := client.New(startNode(t, node.Config{Economy: node.EconomyConfig{CreditSenders: []string{sender.Address()}}}))
	ctx := ctxT(t)
	res, err := c.Post(ctx, sender, client.PostParams{Type: "aleph_credit_distribution", Channel: "ALEPH_CREDIT", Sync: true,
		Content: map[string]any{"distribution": map[string]any{"token": "ALEPH", "chain": "ETH", "credits": []any{
			map[string]any{"address": holder.Address(), "amount": json.Number("123456789012345678901"), "price": "0.000001", "tx_hash": "0x1", "provider": "p"},
			map[string]any{"address": holder.Address(), "amount": 5, "price": "0.000001", "tx_hash": "0x2", "provider": "p", "expiration": 1893456000000},
		}}}})
	mustStatus(t, res, err, client.StatusProcessed)

	b, err := c.BalanceWithCredits(ctx, holder.Address(), "")
	if err != nil {
		t.Fatal(err)
	}
	if b.CreditBalance != "123456789012345678906" || len(b.CreditBalanceDetails) != 2 || b.CreditBalanceDetails[0].ExpirationDate != nil ||
		b.CreditBalanceDetails[0].Amount != "123456789012345678901" || b.CreditBalanceDetails[1].ExpirationDate == nil ||
		*b.CreditBalanceDetails[1].ExpirationDate != "2030-01-01T00:00:00Z" {
		t.Fatalf("balance with credits: %+v", b)
	}
	if b, err := c.Balance(ctx, holder.Address(), ""); err != nil || b.CreditBalance != "123456789012345678906" || b.CreditBalanceDetails != nil {
		t.Fatalf("balance: %+v %v", b, err)
	}
	list, total, err := c.CreditBalances(ctx, 6, 0, 1)
	if err != nil || total != 1 || len(list) != 1 || list[0].Address != holder.Address() || list[0].Credits != "123456789012345678906" {
		t.Fatalf("credit balances ≥ 6: %+v %d %v", list, total, err)
	}
	costs, err := c.Costs(ctx, client.CostsQuery{Address: holder.Address()})
	if err != nil || costs.Summary.ResourceCount != 0 || len(costs.Resources) != 0 || costs.Summary.TotalCostCredit != "0.000000000000000000" {
		t.Fatalf("costs of an address without messages: %+v %v", costs, err)
	}
}
