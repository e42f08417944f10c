package node

import (
	"context"
	"math/big"
	"slices"

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
// credit post on the credit channel with a non-empty content. A credit
// sender's (compared exactly, as the reference does) distribution, expense
// or transfer is parsed as is; an ordinary account's transfer moves its
// credits (economy.UserTransfer, at the post's position in the ledger
// read through r); distributions and expenses from anyone else are
// ordinary posts. A malformed post, or a transfer its sender cannot pay,
// is an INVALID_FORMAT error: the check stage rejects it and nothing
// changes.
func (c *creditPosts) entries(ctx context.Context, r store.Reader, it *item) ([]store.CreditEntry, error) {
	p, addr := it.content.Post, it.content.Address
	if c == nil || !economy.IsCreditPost(p.Type) || it.msg.Channel != c.channel || emptyJSON(p.Content) {
		return nil, nil
	}
	if c.senders[addr] {
		return economy.ParseCreditPost(p.Type, p.Content, addr, it.msg.ItemHash, it.msg.Time)
	}
	if p.Type != economy.PostCreditTransfer {
		return nil, nil
	}
	requested, err := economy.ParseCreditPost(p.Type, p.Content, addr, it.msg.ItemHash, it.msg.Time)
	if err != nil {
		return nil, err
	}
	ledger, err := r.CreditEntries(ctx, addr, it.msg.Time)
	if err != nil {
		return nil, err
	}
	// The post's own rows, were it applied before, are not the sender's
	// funds.
	ledger = slices.DeleteFunc(ledger, func(e store.CreditEntry) bool { return e.Ref == it.msg.ItemHash })
	return economy.UserTransfer(requested, addr, ledger, it.msg.Time)
}

// apply stores the ledger entries of a checked POST, if any.
func (c *creditPosts) apply(ctx context.Context, tx store.Tx, it *item) error {
	es, err := c.entries(ctx, tx, it)
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
