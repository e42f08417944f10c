// Package balancesql holds the SQL of the balances and costs tables
// (migrations SQLite 00007 and 00009, PostgreSQL 00005 and 00007), written once for both backends: statements use
// $n placeholders, and each backend runs them through its own Conn.
package balancesql

import (
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/goaleph/goaleph/internal/store"
)

// Conn runs statements of this package on one backend (inside a
// transaction or not).
type Conn interface {
	// Exec runs a statement and returns the number of rows it changed.
	Exec(query string, args ...any) (int64, error)
	// Query runs a query; the caller closes its rows.
	Query(query string, args ...any) (Rows, error)
}

// Rows are the rows of a query (*sql.Rows is one).
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close() error
}

// each calls row for every row of query.
func each(c Conn, query string, args []any, row func(scan func(dest ...any) error) error) error {
	rows, err := c.Query(query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := row(rows.Scan); err != nil {
			return err
		}
	}
	return rows.Err()
}

// all runs query and scans every row with scanRow.
func all[T any](c Conn, query string, args []any, scanRow func(scan func(dest ...any) error) (T, error)) ([]T, error) {
	var out []T
	err := each(c, query, args, func(scan func(...any) error) error {
		v, err := scanRow(scan)
		out = append(out, v)
		return err
	})
	return out, err
}

// one runs query and scans its first row with scanRow; store.ErrNotFound
// when there is none.
func one[T any](c Conn, query string, args []any, scanRow func(scan func(dest ...any) error) (T, error)) (T, error) {
	var v T
	found := false
	err := each(c, query, args, func(scan func(...any) error) error {
		var err error
		v, err = scanRow(scan)
		found = true
		return err
	})
	if err == nil && !found {
		err = store.ErrNotFound
	}
	return v, err
}

// scanString scans a row of one text column.
func scanString(scan func(dest ...any) error) (string, error) {
	var v string
	err := scan(&v)
	return v, err
}

// SQLite rewrites $n placeholders to SQLite's ?n.
func SQLite(query string) string { return strings.ReplaceAll(query, "$", "?") }

const (
	selectBalances = `SELECT address, chain, dapp, balance, height FROM balances
		WHERE lower(address) = lower($1) ORDER BY chain, dapp`
	upsertNewer = `INSERT INTO balances (address, chain, dapp, balance, height) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (address, chain, dapp) DO UPDATE SET balance = excluded.balance, height = excluded.height
		WHERE excluded.height > balances.height`
	upsertAlways = `INSERT INTO balances (address, chain, dapp, balance, height) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (address, chain, dapp) DO UPDATE SET balance = excluded.balance, height = excluded.height`
	insertHistory = `INSERT INTO balance_history (address, chain, dapp, height, time, balance) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (address, chain, dapp, height, time) DO UPDATE SET balance = excluded.balance`
	selectHistory = `SELECT address, chain, dapp, balance, height, time FROM balance_history
		WHERE lower(address) = lower($1) AND time <= $2 ORDER BY chain, dapp, height, time`
	upsertCost = `INSERT INTO account_costs (item_hash, owner, time, payment_type, cost_hold, cost_stream, cost_credit)
		VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (item_hash) DO UPDATE SET owner = excluded.owner, time = excluded.time,
		payment_type = excluded.payment_type, cost_hold = excluded.cost_hold, cost_stream = excluded.cost_stream,
		cost_credit = excluded.cost_credit`
	costColumns = `item_hash, owner, time, payment_type, cost_hold, cost_stream, cost_credit`
	selectCosts = `SELECT ` + costColumns + ` FROM account_costs WHERE lower(owner) = lower($1) ORDER BY time, item_hash`
	selectCost  = `SELECT ` + costColumns + ` FROM account_costs WHERE item_hash = $1`
	selectSync  = `SELECT height, block_hash FROM token_sync WHERE chain = $1 AND token = $2`
	upsertSync  = `INSERT INTO token_sync (chain, token, height, block_hash) VALUES ($1, $2, $3, $4)
		ON CONFLICT (chain, token) DO UPDATE SET height = excluded.height, block_hash = excluded.block_hash`
)

// Balances implements store.BalanceReader.Balances.
func Balances(c Conn, address string) ([]store.Balance, error) {
	var out []store.Balance
	err := each(c, selectBalances, []any{address}, func(scan func(...any) error) error {
		var b store.Balance
		var amount string
		if err := scan(&b.Address, &b.Chain, &b.Dapp, &amount, &b.Height); err != nil {
			return err
		}
		var err error
		if b.Amount, err = units(amount); err != nil {
			return fmt.Errorf("balance of %s on %s: %w", b.Address, b.Chain, err)
		}
		out = append(out, b)
		return nil
	})
	return out, err
}

// scanHistory scans a balance_history row: address, chain, dapp, balance,
// height, time.
func scanHistory(scan func(dest ...any) error) (store.Balance, error) {
	var b store.Balance
	var amount string
	if err := scan(&b.Address, &b.Chain, &b.Dapp, &amount, &b.Height, &b.Time); err != nil {
		return b, err
	}
	var err error
	if b.Amount, err = units(amount); err != nil {
		return b, fmt.Errorf("balance of %s on %s: %w", b.Address, b.Chain, err)
	}
	return b, nil
}

func units(s string) (*big.Int, error) {
	v, ok := new(big.Int).SetString(s, 10)
	if !ok {
		return nil, fmt.Errorf("bad amount %q", s)
	}
	return v, nil
}

// BalancesAt implements store.BalanceReader.BalancesAt: of each chain and
// dApp's history rows dated at or before at, the last by height then time.
func BalancesAt(c Conn, address string, at float64) ([]store.Balance, error) {
	var out []store.Balance
	err := each(c, selectHistory, []any{address, at}, func(scan func(...any) error) error {
		b, err := scanHistory(scan)
		if err != nil {
			return err
		}
		if n := len(out); n > 0 && out[n-1].Chain == b.Chain && out[n-1].Dapp == b.Dapp {
			out[n-1] = b
		} else {
			out = append(out, b)
		}
		return nil
	})
	return out, err
}

func str(v *big.Int) string {
	if v == nil {
		return "0"
	}
	return v.String()
}

func scanCost(scan func(...any) error) (store.Cost, error) {
	var k store.Cost
	var hold, stream, credit string
	if err := scan(&k.ItemHash, &k.Owner, &k.Time, &k.PaymentType, &hold, &stream, &credit); err != nil {
		return k, err
	}
	var err error
	if k.Hold, err = units(hold); err == nil {
		if k.Stream, err = units(stream); err == nil {
			k.Credit, err = units(credit)
		}
	}
	return k, err
}

// Costs implements store.BalanceReader.Costs.
func Costs(c Conn, owner string) ([]store.Cost, error) {
	return all(c, selectCosts, []any{owner}, scanCost)
}

// Cost implements store.BalanceReader.Cost.
func Cost(c Conn, itemHash string) (store.Cost, error) {
	return one(c, selectCost, []any{itemHash}, scanCost)
}

// errNoAmount is returned for a balance without an amount.
var errNoAmount = errors.New("balance without amount")

func write(c Conn, query string, bs []store.Balance) (int, error) {
	n := 0
	for _, b := range bs {
		if b.Amount == nil {
			return n, fmt.Errorf("%s on %s: %w", b.Address, b.Chain, errNoAmount)
		}
		k, err := c.Exec(query, b.Address, b.Chain, b.Dapp, b.Amount.String(), b.Height)
		if err != nil {
			return n, err
		}
		n += int(k)
		if _, err := c.Exec(insertHistory, b.Address, b.Chain, b.Dapp, b.Height, b.Time, b.Amount.String()); err != nil {
			return n, err
		}
	}
	return n, nil
}

// Update implements store.BalanceWriter.UpdateBalances.
func Update(c Conn, bs []store.Balance) (int, error) { return write(c, upsertNewer, bs) }

// Set implements store.BalanceWriter.SetBalances.
func Set(c Conn, bs []store.Balance) error {
	_, err := write(c, upsertAlways, bs)
	return err
}

// Sync implements store.BalanceWriter.TokenSync.
func Sync(c Conn, chain, token string) (store.TokenSync, error) {
	s := store.TokenSync{Chain: chain, Token: token}
	found := false
	err := each(c, selectSync, []any{chain, token}, func(scan func(...any) error) error {
		found = true
		return scan(&s.Height, &s.BlockHash)
	})
	if err == nil && !found {
		err = store.ErrNotFound
	}
	return s, err
}

// SetSync implements store.BalanceWriter.SetTokenSync.
func SetSync(c Conn, s store.TokenSync) error {
	_, err := c.Exec(upsertSync, s.Chain, s.Token, s.Height, s.BlockHash)
	return err
}
