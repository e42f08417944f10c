package node

import (
	"context"
	"math/big"

	"github.com/goaleph/goaleph/internal/economy"
	"github.com/goaleph/goaleph/internal/store"
)

// creditPosts applies the credit posts (distribution, expense, transfer) of
// the credit senders on the credit channel to the ledger. What it writes
// depends only on the message: entries positioned by the post's time.
type creditPosts struct {
	senders map[string]bool
	channel string
}

func newCreditPosts(cfg EconomyConfig) *creditPosts {
	cfg.defaults()
	c := &creditPosts{senders: map[string]bool{}, channel: cfg.CreditChannel}
	for _, a := range cfg.CreditSenders {
		c.senders[a] = true
	}
	return c
}

// entries returns the ledger entries a POST carries: nil unless it is a
// credit post, on the credit channel, from a credit sender (compared
// exactly, as the reference does), with a non-empty content; a credit post
// from anyone else is an ordinary post. A malformed one is an
// INVALID_FORMAT error: the check stage rejects it and nothing changes.
func (c *creditPosts) entries(it *item) ([]store.CreditEntry, error) {
	p := it.content.Post
	if c == nil || !economy.IsCreditPost(p.Type) || !c.senders[it.content.Address] ||
		it.msg.Channel != c.channel || emptyJSON(p.Content) {
		return nil, nil
	}
	return economy.ParseCreditPost(p.Type, p.Content, it.content.Address, it.msg.ItemHash, it.msg.Time)
}

// apply stores the ledger entries of a checked POST, if any.
func (c *creditPosts) apply(tx store.Tx, it *item) error {
	es, err := c.entries(it)
	if len(es) == 0 || err != nil {
		return err
	}
	return tx.PutCreditEntries(es)
}

// creditBalance is the credit balance of address at position at (unix
// seconds), in base units, with its live lots: a fold of the ledger up to
// it.
func creditBalance(ctx context.Context, r store.Reader, address string, at float64) (*big.Int, []economy.CreditLot, error) {
	es, err := r.CreditEntries(ctx, address, at)
	if err != nil {
		return nil, nil, err
	}
	total, lots := economy.CreditBalance(es, at)
	return total, lots, nil
}

// CreditBalance returns the credit balance of address at position at and
// its live lots (first to be spent first).
func (n *Node) CreditBalance(ctx context.Context, address string, at float64) (*big.Int, []economy.CreditLot, error) {
	return creditBalance(ctx, n.store, address, at)
}
