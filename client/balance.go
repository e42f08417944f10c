package client

import (
	"context"
	"encoding/json"
	"net/url"
	"strconv"
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
	Details      map[string]json.Number `json:"details"`
	LockedAmount json.Number            `json:"locked_amount"`
	// CreditBalance is the address's credits, in whole credits (1,000,000
	// per USD), what remains of its unexpired lots.
	CreditBalance json.Number `json:"credit_balance"`
	// CreditBalanceDetails is what remains of its lots by expiry,
	// never-expiring first (only from BalanceWithCredits).
	CreditBalanceDetails []CreditLot `json:"credit_balance_details"`
}

// CreditLot is what remains of an address's credits that expire at the
// same time.
type CreditLot struct {
	// ExpirationDate is an ISO 8601 time; nil for credits that never
	// expire.
	ExpirationDate *string     `json:"expiration_date"`
	Amount         json.Number `json:"amount"`
}

// Balance returns the token balance of address, on chain only when chain is
// not empty. An address the node knows nothing about has balance 0.
func (c *Client) Balance(ctx context.Context, address, chain string) (*Balance, error) {
	return c.balance(ctx, address, chain, false)
}

// BalanceWithCredits is Balance with CreditBalanceDetails filled in.
func (c *Client) BalanceWithCredits(ctx context.Context, address, chain string) (*Balance, error) {
	return c.balance(ctx, address, chain, true)
}

func (c *Client) balance(ctx context.Context, address, chain string, credits bool) (*Balance, error) {
	q := url.Values{}
	if chain != "" {
		q.Set("chain", chain)
	}
	if credits {
		q.Set("include_credit_details", "true")
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

// CreditBalance is one address of GET /api/v0/credit_balances.
type CreditBalance struct {
	Address string      `json:"address"`
	Credits json.Number `json:"credits"`
}

// CreditBalances returns a page (from 1) of the credit balances the node
// knows, by address, of at least minBalance credits (0: every address ever
// granted credits); pagination 0 is the node's largest page. total counts
// them all.
func (c *Client) CreditBalances(ctx context.Context, minBalance int64, pagination, page int) (list []CreditBalance, total int, err error) {
	q := url.Values{}
	if minBalance > 0 {
		q.Set("min_balance", strconv.FormatInt(minBalance, 10))
	}
	q.Set("pagination", strconv.Itoa(pagination))
	if page > 0 {
		q.Set("page", strconv.Itoa(page))
	}
	var out struct {
		CreditBalances []CreditBalance `json:"credit_balances"`
		Total          int             `json:"pagination_total"`
	}
	if err := c.getJSON(ctx, "/api/v0/credit_balances", q, &out); err != nil {
		return nil, 0, err
	}
	return out.CreditBalances, out.Total, nil
}

// CostsQuery filters GET /api/v0/costs. PaymentType "" is credit, as the
// node's default.
type CostsQuery struct {
	Address, ItemHash, PaymentType string
}

// Costs is the answer of GET /api/v0/costs: the totals of the matching
// messages and the messages themselves. Costs are exact, with 18
// decimals; stream and credit costs are per second.
type Costs struct {
	Summary struct {
		TotalConsumedCredits json.Number `json:"total_consumed_credits"`
		TotalCostHold        string      `json:"total_cost_hold"`
		TotalCostStream      string      `json:"total_cost_stream"`
		TotalCostCredit      string      `json:"total_cost_credit"`
		ResourceCount        int         `json:"resource_count"`
	} `json:"summary"`
	Resources []CostResource `json:"resources"`
}

// CostResource is what one admitted message costs.
type CostResource struct {
	ItemHash        string      `json:"item_hash"`
	Owner           string      `json:"owner"`
	PaymentType     string      `json:"payment_type"`
	ConsumedCredits json.Number `json:"consumed_credits"`
	CostHold        string      `json:"cost_hold"`
	CostStream      string      `json:"cost_stream"`
	CostCredit      string      `json:"cost_credit"`
}

// Costs returns the costs of the messages matching q, every page of them.
func (c *Client) Costs(ctx context.Context, q CostsQuery) (*Costs, error) {
	v := url.Values{}
	for k, s := range map[string]string{"address": q.Address, "item_hash": q.ItemHash, "payment_type": q.PaymentType} {
		if s != "" {
			v.Set(k, s)
		}
	}
	v.Set("include_details", "1")
	v.Set("pagination", "1000")
	var all *Costs
	for page := 1; ; page++ {
		v.Set("page", strconv.Itoa(page))
		var out Costs
		if err := c.getJSON(ctx, "/api/v0/costs", v, &out); err != nil {
			return nil, err
		}
		if all == nil {
			all = &out
		} else {
			all.Resources = append(all.Resources, out.Resources...)
		}
		if len(out.Resources) == 0 || len(all.Resources) >= out.Summary.ResourceCount {
			return all, nil
		}
	}
}
