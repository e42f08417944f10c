package balances

import (
	"bytes"
	"encoding/json"
	"math/big"
	"sort"

	"github.com/goaleph/goaleph/internal/store"
	"github.com/goaleph/goaleph/message"
)

// PostType is the reference's default type of balances-update posts
// (pyaleph balances.post_type).
const PostType = "balances-update"

// TrustedSenders are the addresses whose balances-update posts mainnet
// nodes apply (pyaleph balances.addresses; spec network.md §4.1): the
// balances oracle and the nodestatus "status sender".
var TrustedSenders = []string{
	"0xB34f25f2c935bCA437C061547eA12851d719dEFb",
	"0xa1B3bb7d2332383D96b7796B908fB7f7F3c2Be10",
}

// maxChainLen bounds the chain and dApp names of an update.
const maxChainLen = 64

// Update is the content of a balances-update post (content.content):
// {"chain", "main_height", "dapp"?, "balances": {address: amount}}; the
// other fields the oracle sends (platform, token_contract, …) are ignored,
// as by the reference.
type Update struct {
	Chain    string
	Height   int64
	Dapp     string
	Balances []store.Balance // by address
}

// ParseUpdate parses a balances-update post's content. Errors carry
// message.CodeInvalidFormat (the reference rejects such a post). Amounts
// may be JSON numbers or decimal strings.
func ParseUpdate(raw json.RawMessage) (*Update, error) {
	var c struct {
		Chain    *string                    `json:"chain"`
		Height   *json.Number               `json:"main_height"`
		Dapp     *string                    `json:"dapp"`
		Balances map[string]json.RawMessage `json:"balances"`
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&c); err != nil {
		return nil, invalid("content: %v", err)
	}
	if c.Chain == nil || c.Height == nil {
		return nil, invalid("missing field(s) chain and/or main_height for balance post")
	}
	u := &Update{Chain: *c.Chain}
	if u.Chain == "" || len(u.Chain) > maxChainLen {
		return nil, invalid("bad chain %q", u.Chain)
	}
	h, err := c.Height.Int64()
	if err != nil || h < 0 {
		return nil, invalid("bad main_height %s", c.Height.String())
	}
	u.Height = h
	if c.Dapp != nil {
		if len(*c.Dapp) > maxChainLen {
			return nil, invalid("dapp name too long")
		}
		u.Dapp = *c.Dapp
	}
	if c.Balances == nil {
		return nil, invalid("missing field balances")
	}
	addrs := make([]string, 0, len(c.Balances))
	for a := range c.Balances {
		addrs = append(addrs, a)
	}
	sort.Strings(addrs)
	for _, a := range addrs {
		if a == "" {
			return nil, invalid("empty address")
		}
		v, err := amountOf(c.Balances[a])
		if err != nil {
			return nil, invalid("balance of %s: %v", a, err)
		}
		u.Balances = append(u.Balances, store.Balance{Address: a, Chain: u.Chain, Dapp: u.Dapp, Amount: v, Height: u.Height})
	}
	return u, nil
}

// amountOf reads a JSON number or a string holding one.
func amountOf(raw json.RawMessage) (*big.Int, error) {
	s := string(bytes.TrimSpace(raw))
	if len(s) > 0 && s[0] == '"' {
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, err
		}
	}
	return ParseAmount(s)
}

func invalid(format string, args ...any) error {
	return message.Errorf(message.CodeInvalidFormat, format, args...)
}
