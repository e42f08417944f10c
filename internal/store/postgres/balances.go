package postgres

import (
	"context"
	"math/big"

	"github.com/jackc/pgx/v5"

	"github.com/goaleph/goaleph/internal/store"
	"github.com/goaleph/goaleph/internal/store/balancesql"
)

// pgBalances runs the shared balance SQL on a querier.
type pgBalances struct {
	ctx context.Context
	q   querier
}

func (c pgBalances) Exec(query string, args ...any) (int64, error) {
	tag, err := c.q.Exec(c.ctx, query, args...)
	return tag.RowsAffected(), err
}

func (c pgBalances) Query(query string, args ...any) (balancesql.Rows, error) {
	rs, err := c.q.Query(c.ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return pgRows{rs}, nil
}

// pgRows gives pgx's rows the Close of database/sql.
type pgRows struct{ pgx.Rows }

func (r pgRows) Close() error {
	r.Rows.Close()
	return nil
}

func (r reader) Balances(ctx context.Context, address string) ([]store.Balance, error) {
	return balancesql.Balances(pgBalances{ctx, r.q}, address)
}

// The writes run at once (after the queued ones): UpdateBalances needs
// its row counts, and balances are rare next to messages.

func (t *tx) UpdateBalances(bs []store.Balance) (int, error) {
	return balancesql.Update(pgBalances{t.ctx, t.q}, bs)
}

func (t *tx) SetBalances(bs []store.Balance) error {
	return balancesql.Set(pgBalances{t.ctx, t.q}, bs)
}

func (t *tx) TokenSync(chain, token string) (store.TokenSync, error) {
	return balancesql.Sync(pgBalances{t.ctx, t.q}, chain, token)
}

func (t *tx) SetTokenSync(s store.TokenSync) error {
	return balancesql.SetSync(pgBalances{t.ctx, t.q}, s)
}

func (r reader) BalancesAt(ctx context.Context, address string, at float64) ([]store.Balance, error) {
	return balancesql.BalancesAt(pgBalances{ctx, r.q}, address, at)
}

func (r reader) Costs(ctx context.Context, owner string) ([]store.Cost, error) {
	return balancesql.Costs(pgBalances{ctx, r.q}, owner)
}

func (r reader) Cost(ctx context.Context, itemHash string) (store.Cost, error) {
	return balancesql.Cost(pgBalances{ctx, r.q}, itemHash)
}

func (t *tx) PutCost(c *store.Cost) error { return balancesql.PutCost(pgBalances{t.ctx, t.q}, c) }

func (t *tx) DeleteCost(itemHash string) error {
	return balancesql.DeleteCost(pgBalances{t.ctx, t.q}, itemHash)
}

func (r reader) CostTotal(ctx context.Context, owner string, at float64) (store.CostTotal, error) {
	return balancesql.CostTotal(pgBalances{ctx, r.q}, owner, at)
}

func (r reader) FundsAt(ctx context.Context, owner string, at float64) (store.CostTotal, bool, []store.Balance, error) {
	return balancesql.FundsAt(pgBalances{ctx, r.q}, owner, at)
}

func (r reader) BalanceHistory(ctx context.Context, address string, at float64) ([]store.Balance, error) {
	return balancesql.BalanceHistory(pgBalances{ctx, r.q}, address, at)
}

func (r reader) LogClock(ctx context.Context) (float64, error) {
	return balancesql.LogClock(pgBalances{ctx, r.q})
}

func (r reader) CostOwners(ctx context.Context, paymentType string) ([]string, error) {
	return balancesql.CostOwners(pgBalances{ctx, r.q}, paymentType)
}

func (r reader) Collections(ctx context.Context, owner string) ([]store.Collection, error) {
	return balancesql.Collections(pgBalances{ctx, r.q}, owner)
}

func (r reader) Collection(ctx context.Context, itemHash string) (store.Collection, error) {
	return balancesql.Collection(pgBalances{ctx, r.q}, itemHash)
}

func (t *tx) PutCollection(c *store.Collection) error {
	return balancesql.PutCollection(pgBalances{t.ctx, t.q}, c)
}

func (t *tx) DeleteCollection(itemHash string) error {
	return balancesql.DeleteCollection(pgBalances{t.ctx, t.q}, itemHash)
}

func (r reader) CreditEntries(ctx context.Context, address string, at float64) ([]store.CreditEntry, error) {
	return balancesql.Credits(pgBalances{ctx, r.q}, address, at)
}

func (r reader) CreditsConsumed(ctx context.Context, origins []string) (map[string]*big.Int, error) {
	return balancesql.CreditsConsumed(pgBalances{ctx, r.q}, origins, true)
}

func (r reader) CreditAddresses(ctx context.Context, after string, limit int) ([]string, error) {
	return balancesql.CreditAddresses(pgBalances{ctx, r.q}, after, limit)
}

func (t *tx) PutCreditEntries(es []store.CreditEntry) error {
	return balancesql.PutCredits(pgBalances{t.ctx, t.q}, es)
}

func (t *tx) DeleteCreditEntries(ref string) error {
	return balancesql.DeleteCredits(pgBalances{t.ctx, t.q}, ref)
}
