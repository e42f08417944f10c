package sqlite

import (
	"context"

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

func (r reader) BalanceHistory(ctx context.Context, address string) ([]store.Balance, error) {
	return balancesql.History(balanceConn{ctx, r.q}, address)
}

func (r reader) Costs(ctx context.Context, owner string) ([]store.Cost, error) {
	return balancesql.Costs(balanceConn{ctx, r.q}, owner)
}

func (r reader) Cost(ctx context.Context, itemHash string) (store.Cost, error) {
	return balancesql.Cost(balanceConn{ctx, r.q}, itemHash)
}

func (t *tx) PutCost(c *store.Cost) error { return balancesql.PutCost(t.balances(), c) }

func (t *tx) DeleteCost(itemHash string) error { return balancesql.DeleteCost(t.balances(), itemHash) }
