package store

import (
	"context"
	"math/big"
)

// Balance is the token balance of one address on one chain, for one dApp
// or none (the reference's balances table: one row per address, chain and
// dApp).
type Balance struct {
	Address string
	Chain   string
	// Dapp is empty for the address's own holdings; a dApp's rows (e.g.
	// SABLIER streams) count for staking but not for quotas.
	Dapp string
	// Amount is exact, in base units (10⁻¹⁸ token for an 18-decimal token).
	Amount *big.Int
	// Height is the chain height the amount was last updated at.
	Height int64
	// Time is the position of the update that wrote the amount (unix
	// seconds): a balances-update post's time, or the block's. 0 (a writer
	// that does not know it) makes the amount count from the start.
	Time float64
}

// Cost is what one admitted STORE, PROGRAM or INSTANCE message costs its
// owner (the reference's account_costs, totalled per message).
type Cost struct {
	ItemHash string
	Owner    string
	// Time is the message's time: its position in the log.
	Time        float64
	PaymentType string
	// Hold is the amount held; Stream and Credit are per second. Base
	// units (10⁻¹⁸).
	Hold, Stream, Credit *big.Int
}

// CostTotal is what an owner's cost rows add up to, kept by the writes of
// cost rows (PutCost, DeleteCost) so that admission reads one row instead
// of adding up all of the owner's (migrations SQLite 00014, PostgreSQL
// 00012, which fill it from the rows already there). It covers every row of the owner, whatever its position and
// collection state: collection never changes cost rows.
type CostTotal struct {
	// Hold is the sum of Hold over the hold-paid rows; Credit the sum of
	// Credit over the credit-paid rows. Base units.
	Hold, Credit *big.Int
	// Rows counts the rows; HoldRows the hold-paid rows with a positive
	// Hold (those collection walks).
	Rows, HoldRows int64
	// Last is the greatest Time of a row; FirstHold the least Time of a
	// hold-paid row with a positive Hold (meaningful when HoldRows > 0).
	Last, FirstHold float64
	// Removed counts the owner's messages a collection pass removed at or
	// before the position asked about (CostTotal's at).
	Removed int64
}

// TokenSync is how far a token follower has read a chain: every block up
// to Height (whose hash is BlockHash) is reflected in the balances.
type TokenSync struct {
	Chain     string
	Token     string // the token contract, lower-case hex
	Height    int64
	BlockHash string
}

// BalanceReader reads balances. It is part of Reader.
type BalanceReader interface {
	// Balances returns the rows of address, matched case-insensitively,
	// ordered by chain then dApp.
	Balances(ctx context.Context, address string) ([]Balance, error)
	// BalancesAt returns the rows of address as they stood at time at:
	// for each chain and dApp, the amount of the greatest height among
	// the updates dated at or before at (whatever order they were applied
	// in), ordered by chain then dApp.
	BalancesAt(ctx context.Context, address string, at float64) ([]Balance, error)
	// Costs returns the cost rows of owner (matched case-insensitively),
	// by time then item hash.
	Costs(ctx context.Context, owner string) ([]Cost, error)
	// Cost returns the cost row of a message; ErrNotFound if none.
	Cost(ctx context.Context, itemHash string) (Cost, error)
	// CostTotal returns the totals of owner's cost rows (matched
	// case-insensitively), with Removed counted at position at;
	// ErrNotFound when the owner has no cost row.
	CostTotal(ctx context.Context, owner string, at float64) (CostTotal, error)
	// FundsAt returns, in one query, what admission reads of owner at
	// position at: CostTotal(owner, at) (found false where CostTotal gives
	// ErrNotFound) and BalanceHistory(owner, at) (rows without Address).
	FundsAt(ctx context.Context, owner string, at float64) (total CostTotal, found bool, history []Balance, err error)
	// BalanceHistory returns every balance history row of address
	// (matched case-insensitively) dated at or before at, by time then
	// chain, dApp and height.
	BalanceHistory(ctx context.Context, address string, at float64) ([]Balance, error)
	// LogClock returns the latest position the log and the chain vouch
	// for: the greatest time of a balance update, of a credit
	// distribution or expense (all from trusted senders; transfers, which
	// anyone may date, do not count) or of a confirming block (0 when
	// there is none).
	LogClock(ctx context.Context) (float64, error)
	// CostOwners returns the owners of cost rows of a payment type, sorted.
	CostOwners(ctx context.Context, paymentType string) ([]string, error)
	// Collections returns the collection rows of owner (matched
	// case-insensitively), by item hash.
	Collections(ctx context.Context, owner string) ([]Collection, error)
	// Collection returns the collection row of a message; ErrNotFound if none.
	Collection(ctx context.Context, itemHash string) (Collection, error)
}

// Collection is the state of a message whose owner stopped paying for it
// (docs/design/0018-collection.md). Positions are log positions.
type Collection struct {
	ItemHash string
	Owner    string
	// Reason is the API's reason: "balance_insufficient" or
	// "credit_insufficient".
	Reason string
	// Since is the position from which the message is not covered.
	Since float64
	// RemovedAt is the position the message was removed at; 0 while it
	// is removing.
	RemovedAt float64
}

// BalanceWriter writes balances. It is part of Tx.
type BalanceWriter interface {
	// UpdateBalances stores balances the way a balances-update post does:
	// a row already stored at the same or a greater height keeps its value
	// (the newer height wins). It returns the number of rows written.
	UpdateBalances(bs []Balance) (int, error)
	// SetBalances stores balances whatever the stored heights (the token
	// follower, which owns its rows).
	SetBalances(bs []Balance) error
	// TokenSync returns the follower position of (chain, token);
	// ErrNotFound when it never ran.
	TokenSync(chain, token string) (TokenSync, error)
	// SetTokenSync records the follower position.
	SetTokenSync(s TokenSync) error
	// PutCost stores the cost row of a message, replacing any, and keeps
	// the CostTotal of its owner (and of a replaced row's owner).
	PutCost(c *Cost) error
	// DeleteCost deletes the cost row of a message, if any, and keeps the
	// CostTotal of its owner.
	DeleteCost(itemHash string) error
	// PutCollection stores the collection row of a message and sets the
	// message's status: removing, or removed when RemovedAt is set. A
	// removed message stays removed.
	PutCollection(c *Collection) error
	// DeleteCollection deletes the collection row of a removing message
	// and sets it processed again; a removed message is left as it is.
	DeleteCollection(itemHash string) error
}
