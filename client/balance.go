package client

import (
	"context"
	"encoding/json"
	"net/url"
)

// Balance is an address's token balance (GET
// /api/v0/addresses/{address}/balance). Amounts are whole tokens as the
// node wrote them: json.Number keeps every digit (a goaleph node writes the
// exact 18-decimal amount; the reference node writes floats).
type Balance struct {
	Address string `json:"address"`
	// Balance sums the address's holdings on every chain (or the one
	// asked for), without dApp balances.
	Balance json.Number `json:"balance"`
	// Details is the balance per chain (empty when one chain was asked).
	Details       map[string]json.Number `json:"details"`
	LockedAmount  json.Number            `json:"locked_amount"`
	CreditBalance json.Number            `json:"credit_balance"`
}

// Balance returns the token balance of address, on chain only when chain is
// not empty. An address the node knows nothing about has balance 0.
func (c *Client) Balance(ctx context.Context, address, chain string) (*Balance, error) {
	q := url.Values{}
	if chain != "" {
		q.Set("chain", chain)
	}
	var out Balance
	if err := c.getJSON(ctx, "/api/v0/addresses/"+url.PathEscape(address)+"/balance", q, &out); err != nil {
		return nil, err
	}
	if out.Details == nil {
		out.Details = map[string]json.Number{}
	}
	return &out, nil
}
