// Package balancesql holds the SQL of the balances tables (migrations SQLite
// 00007, PostgreSQL 00005), written once for both backends: statements use
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
	selectSync = `SELECT height, block_hash FROM token_sync WHERE chain = $1 AND token = $2`
	upsertSync = `INSERT INTO token_sync (chain, token, height, block_hash) VALUES ($1, $2, $3, $4)
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
		var ok bool
		if b.Amount, ok = new(big.Int).SetString(amount, 10); !ok {
			return fmt.Errorf("balance of %s on %s: bad amount %q", b.Address, b.Chain, amount)
		}
		out = append(out, b)
		return nil
	})
	return out, err
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
