package sqlite

import (
	"context"
	"math/big"

	"github.com/goaleph/goaleph/internal/store"
	"github.com/goaleph/goaleph/internal/store/balancesql"
)

// balanceConn runs the shared balance SQL on a querier.
type balanceConn struct {
	ctx context.Context
	q   querier
}

func (c balanceConn) Exec(query string, args ...any) (int64, error) {
	res, err := c.q.ExecContext(c.ctx, balancesql.SQLite(query), args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (c balanceConn) Query(query string, args ...any) (balancesql.Rows, error) {
	return c.q.QueryContext(c.ctx, balancesql.SQLite(query), args...)
}

func (r reader) Balances(ctx context.Context, address string) ([]store.Balance, error) {
	return balancesql.Balances(balanceConn{ctx, r.q}, address)
}

func (t *tx) balances() balanceConn { return balanceConn{t.ctx, t.q} }

func (t *tx) UpdateBalances(bs []store.Balance) (int, error) {
	return balancesql.Update(t.balances(), bs)
}

func (t *tx) SetBalances(bs []store.Balance) error { return balancesql.Set(t.balances(), bs) }

func (t *tx) TokenSync(chain, token string) (store.TokenSync, error) {
	return balancesql.Sync(t.balances(), chain, token)
}

func (t *tx) SetTokenSync(s store.TokenSync) error { return balancesql.SetSync(t.balances(), s) }

func (r reader) BalancesAt(ctx context.Context, address string, at float64) ([]store.Balance, error) {
	return balancesql.BalancesAt(balanceConn{ctx, r.q}, address, at)
}

func (r reader) Costs(ctx context.Context, owner string) ([]store.Cost, error) {
	return balancesql.Costs(balanceConn{ctx, r.q}, owner)
}

func (r reader) Cost(ctx context.Context, itemHash string) (store.Cost, error) {
	return balancesql.Cost(balanceConn{ctx, r.q}, itemHash)
}

func (t *tx) PutCost(c *store.Cost) error { return balancesql.PutCost(t.balances(), c) }

func (t *tx) DeleteCost(itemHash string) error { return balancesql.DeleteCost(t.balances(), itemHash) }

func (r reader) CostTotal(ctx context.Context, owner string, at float64) (store.CostTotal, error) {
	return balancesql.CostTotal(balanceConn{ctx, r.q}, owner, at)
}

func (r reader) FundsAt(ctx context.Context, owner string, at float64) (store.CostTotal, bool, []store.Balance, error) {
	return balancesql.FundsAt(balanceConn{ctx, r.q}, owner, at)
}

func (r reader) BalanceHistory(ctx context.Context, address string, at float64) ([]store.Balance, error) {
	return balancesql.BalanceHistory(balanceConn{ctx, r.q}, address, at)
}

func (r reader) LogClock(ctx context.Context) (float64, error) {
	return balancesql.LogClock(balanceConn{ctx, r.q})
}

func (r reader) CostOwners(ctx context.Context, paymentType string) ([]string, error) {
	return balancesql.CostOwners(balanceConn{ctx, r.q}, paymentType)
}

func (r reader) Collections(ctx context.Context, owner string) ([]store.Collection, error) {
	return balancesql.Collections(balanceConn{ctx, r.q}, owner)
}

func (r reader) Collection(ctx context.Context, itemHash string) (store.Collection, error) {
	return balancesql.Collection(balanceConn{ctx, r.q}, itemHash)
}

func (t *tx) PutCollection(c *store.Collection) error {
	return balancesql.PutCollection(t.balances(), c)
}

func (t *tx) DeleteCollection(itemHash string) error {
	return balancesql.DeleteCollection(t.balances(), itemHash)
}

func (r reader) CreditEntries(ctx context.Context, address string, at float64) ([]store.CreditEntry, error) {
	return balancesql.Credits(balanceConn{ctx, r.q}, address, at)
}

func (r reader) CreditsConsumed(ctx context.Context, origins []string) (map[string]*big.Int, error) {
	return balancesql.CreditsConsumed(balanceConn{ctx, r.q}, origins, false)
}

func (r reader) CreditAddresses(ctx context.Context, after string, limit int) ([]string, error) {
	return balancesql.CreditAddresses(balanceConn{ctx, r.q}, after, limit)
}

func (t *tx) PutCreditEntries(es []store.CreditEntry) error {
	return balancesql.PutCredits(t.balances(), es)
}

func (t *tx) DeleteCreditEntries(ref string) error {
	return balancesql.DeleteCredits(t.balances(), ref)
}
