package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"

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
	// QuotaMode is that header as given: "on", "off", or "" from a node
	// that does not say (the reference node, which always enforces).
	QuotaMode string `json:"-"`
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
	p.setQuota(resp.Header)
	return &p, nil
}

func (p *Price) setQuota(h http.Header) {
	p.QuotaMode = h.Get("X-Aleph-Quota")
	p.Quota = p.QuotaMode == "on"
}

// MessagePrice returns what a processed message costs (GET
// /api/v0/price/{hash}). A forgotten or removed executable is an *Error
// with status 410.
func (c *Client) MessagePrice(ctx context.Context, hash string) (*Price, error) {
	req, err := c.newRequest(ctx, http.MethodGet, "/api/v0/price/"+url.PathEscape(hash), nil, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.send(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := readBody(resp)
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
	p.setQuota(resp.Header)
	return &p, nil
}
