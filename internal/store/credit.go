package store

import (
	"cmp"
	"context"
	"math/big"
)

// The kinds of credit ledger entries.
const (
	// CreditGrant adds a lot (a distribution, or a credit sender's
	// transfer).
	CreditGrant = "grant"
	// CreditExpense consumes lots, first in first out.
	CreditExpense = "expense"
)

// CreditEntry is one entry of a credit post (the reference's
// credit_history): a grant or an expense of one address, positioned by the
// post's time. The credit balance of an address at a position is a fold of
// its entries up to it (economy.CreditBalance).
type CreditEntry struct {
	// Ref is the credit post's item hash; Index the entry's place in it.
	Ref     string
	Index   int
	Address string
	// Time is the post's time (unix seconds): the entry's position.
	Time float64
	Kind string
	// Amount is in base units of 10⁻¹⁸ credit, positive.
	Amount *big.Int
	// Expiration is a grant's expiry in unix milliseconds (the reference's
	// unit); 0 never expires.
	Expiration int64
	// Origin and OriginRef are the reference's: a distribution's origin
	// and ref, an expense's execution_id and ref (its resource is Origin,
	// else OriginRef: Resource), a transfer's sender.
	Origin, OriginRef string
	// The rest of what the reference's credit history shows, as the post
	// wrote it; empty for none. Price, BonusAmount, ExpenseCount and
	// ExpenseSizeMiB are decimal texts.
	Price, BonusAmount             string
	TxHash, Token, Chain, Provider string
	PaymentMethod                  string
	ExpenseCount, ExpenseSizeMiB   string
}

// Resource is the message an expense pays for: Origin, else OriginRef.
func (e *CreditEntry) Resource() string {
	if e.Origin != "" {
		return e.Origin
	}
	return e.OriginRef
}

// CompareCreditEntries orders a ledger as it is folded: by time, a grant
// before an expense of the same time (a lot granted at an expense's time
// can pay it, as in the reference), then by post and place in it.
func CompareCreditEntries(a, b CreditEntry) int {
	if c := cmp.Compare(a.Time, b.Time); c != 0 {
		return c
	}
	if a.Kind != b.Kind {
		if a.Kind == CreditGrant {
			return -1
		}
		return 1
	}
	return cmp.Or(cmp.Compare(a.Ref, b.Ref), cmp.Compare(a.Index, b.Index))
}

// CreditReader reads the credit ledger. It is part of Reader.
type CreditReader interface {
	// CreditEntries returns the ledger entries of address (matched
	// case-insensitively) dated at or before at, in fold order.
	CreditEntries(ctx context.Context, address string, at float64) ([]CreditEntry, error)
	// CreditAddresses returns up to limit addresses (greater than after,
	// ascending, as stored) that have ledger entries; limit ≤ 0: all.
	CreditAddresses(ctx context.Context, after string, limit int) ([]string, error)
	// CreditsConsumed returns, for each of resources that expenses pay
	// for (CreditEntry.Resource), the sum of their amounts (what the
	// reference counts as the credits a resource consumed); resources no
	// expense names are absent.
	CreditsConsumed(ctx context.Context, resources []string) (map[string]*big.Int, error)
}

// CreditWriter writes the credit ledger. It is part of Tx.
type CreditWriter interface {
	// PutCreditEntries stores the entries of a credit post, replacing
	// those of the same (ref, index).
	PutCreditEntries(es []CreditEntry) error
	// DeleteCreditEntries deletes the entries of a credit post (a FORGET).
	DeleteCreditEntries(ref string) error
}
