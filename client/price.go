package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/goaleph/goaleph/message"
)

// Price is what a message costs (the reference's EstimatedCostsResponse):
// Cost is exact, with 18 decimals; for hold it is the amount held, for
// superfluid and credit the amount per second.
type Price struct {
	RequiredTokens json.Number `json:"required_tokens"`
	PaymentType    string      `json:"payment_type"`
	Cost           string      `json:"cost"`
	Detail         []PriceLine `json:"detail"`
	ChargedAddress string      `json:"charged_address"`
	// Quota tells whether the node refuses what its owner cannot pay for
	// (a goaleph node's X-Aleph-Quota header; false for other nodes).
	Quota bool `json:"-"`
}

// PriceLine is one cost line of a Price.
type PriceLine struct {
	Type       string      `json:"type"`
	Name       string      `json:"name"`
	CostHold   string      `json:"cost_hold"`
	CostStream string      `json:"cost_stream"`
	CostCredit string      `json:"cost_credit"`
	SizeMiB    json.Number `json:"size_mib,omitempty"`
}

// EstimatePrice asks the node what a message of type typ with content would
// cost now (POST /api/v0/price/estimate). The content may give
// estimated_size_mib for files not uploaded yet.
func (c *Client) EstimatePrice(ctx context.Context, typ message.Type, content []byte) (*Price, error) {
	body, err := json.Marshal(map[string]any{"message": map[string]any{"type": typ, "item_content": string(content)}})
	if err != nil {
		return nil, err
	}
	resp, b, err := c.postJSON(ctx, "/api/v0/price/estimate", body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, newError(resp, b)
	}
	var p Price
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("aleph: price: %w", err)
	}
	p.Quota = resp.Header.Get("X-Aleph-Quota") == "on"
	return &p, nil
}

// MessagePrice returns what a processed message costs (GET
// /api/v0/price/{hash}).
func (c *Client) MessagePrice(ctx context.Context, hash string) (*Price, error) {
	var p Price
	if err := c.getJSON(ctx, "/api/v0/price/"+hash, nil, &p); err != nil {
		return nil, err
	}
	return &p, nil
}
