package balancesql

import (
	"database/sql"
	"errors"
	"math/big"

	"github.com/goaleph/goaleph/internal/store"
)

// The totals of each owner's cost rows (migrations SQLite 00014,
// PostgreSQL 00012; store.CostTotal). A totals row exists for an owner
// exactly when it has cost rows (the migrations fill the table from the
// rows): PutCost adds a new row to it in one statement, with decimal_add
// (SQLite cannot add decimal text exactly: its store registers the
// function with the driver, PostgreSQL's migration defines it); a
// replaced or deleted row makes the totals be computed again from the
// rows, with big integers (rare: re-processing, FORGET), and the owner's
// last row going deletes them.
const (
	insertCostNew = `INSERT INTO account_costs (item_hash, owner, time, payment_type, cost_hold, cost_stream, cost_credit)
		VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (item_hash) DO NOTHING`
	deleteCostReturning = `DELETE FROM account_costs WHERE item_hash = $1 RETURNING owner`
	totalColumns        = `hold, credit, row_count, hold_rows, last_time, first_hold`
	addTotal            = `INSERT INTO account_cost_totals (owner_key, ` + totalColumns + `) VALUES (lower($1), $2, $3, 1, $4, $5, $6)
		ON CONFLICT (owner_key) DO UPDATE SET
		hold = decimal_add(account_cost_totals.hold, excluded.hold),
		credit = decimal_add(account_cost_totals.credit, excluded.credit),
		row_count = account_cost_totals.row_count + 1,
		hold_rows = account_cost_totals.hold_rows + excluded.hold_rows,
		last_time = CASE WHEN excluded.last_time > account_cost_totals.last_time THEN excluded.last_time
			ELSE account_cost_totals.last_time END,
		first_hold = CASE WHEN excluded.first_hold IS NULL THEN account_cost_totals.first_hold
			WHEN account_cost_totals.first_hold IS NULL OR excluded.first_hold < account_cost_totals.first_hold THEN excluded.first_hold
			ELSE account_cost_totals.first_hold END`
	selectTotalAt = `SELECT ` + totalColumns + `, (SELECT count(*) FROM collection
		WHERE lower(owner) = lower($1) AND removed_at IS NOT NULL AND removed_at <= $2)
		FROM account_cost_totals WHERE owner_key = lower($1)`
	upsertTotal = `INSERT INTO account_cost_totals (owner_key, ` + totalColumns + `) VALUES (lower($1), $2, $3, $4, $5, $6, $7)
		ON CONFLICT (owner_key) DO UPDATE SET hold = excluded.hold, credit = excluded.credit, row_count = excluded.row_count,
		hold_rows = excluded.hold_rows, last_time = excluded.last_time, first_hold = excluded.first_hold`
	deleteTotal = `DELETE FROM account_cost_totals WHERE owner_key = lower($1)`
	// selectFunds is selectTotalAt and selectAllHistory in one query, each
	// part on its index: the totals row first (kind 0), then the history
	// rows (kind 1) by time, chain, dApp and height. Columns: kind, hold |
	// balance, credit | chain, dApp, row_count | height, hold_rows,
	// removed, last_time | time, first_hold.
	selectFunds = `SELECT 0, hold, credit, CAST(NULL AS text), row_count, hold_rows,
		(SELECT count(*) FROM collection WHERE lower(owner) = lower($1) AND removed_at IS NOT NULL AND removed_at <= $2),
		last_time, first_hold FROM account_cost_totals WHERE owner_key = lower($1)
		UNION ALL
		SELECT 1, balance, chain, dapp, height, 0, 0, time, CAST(NULL AS double precision) FROM balance_history
		WHERE lower(address) = lower($1) AND time <= $2
		ORDER BY 1, 8, 3, 4, 5`
)

// PutCost implements store.BalanceWriter.PutCost. A new row (the
// pipeline's case) costs two statements: the row's insert and the add to
// the owner's totals.
func PutCost(c Conn, k *store.Cost) error {
	n, err := c.Exec(insertCostNew, costArgs(k)...)
	if err != nil {
		return err
	}
	if n == 0 { // the message has a row: replace it
		old, err := Cost(c, k.ItemHash)
		if err != nil {
			return err
		}
		if _, err := c.Exec(upsertCost, costArgs(k)...); err != nil {
			return err
		}
		if err := recomputeTotal(c, old.Owner); err != nil {
			return err
		}
		return recomputeTotal(c, k.Owner)
	}
	// The row alone, as a total, added to the owner's.
	t := SumCosts([]store.Cost{*k})
	var first any
	if t.HoldRows > 0 {
		first = t.FirstHold
	}
	_, err = c.Exec(addTotal, k.Owner, t.Hold.String(), t.Credit.String(), t.HoldRows, t.Last, first)
	return err
}

func costArgs(k *store.Cost) []any {
	return []any{k.ItemHash, k.Owner, k.Time, k.PaymentType, str(k.Hold), str(k.Stream), str(k.Credit)}
}

// DeleteCost implements store.BalanceWriter.DeleteCost.
func DeleteCost(c Conn, itemHash string) error {
	var owners []string
	err := each(c, deleteCostReturning, []any{itemHash}, func(scan func(...any) error) error {
		var o string
		err := scan(&o)
		owners = append(owners, o)
		return err
	})
	if err != nil {
		return err
	}
	for _, o := range owners {
		if err := recomputeTotal(c, o); err != nil {
			return err
		}
	}
	return nil
}

// CostTotal implements store.BalanceReader.CostTotal.
func CostTotal(c Conn, owner string, at float64) (store.CostTotal, error) {
	t, found, err := readTotal(c, selectTotalAt, owner, at)
	if err == nil && !found {
		err = store.ErrNotFound
	}
	return t, err
}

// FundsAt implements store.BalanceReader.FundsAt.
func FundsAt(c Conn, owner string, at float64) (store.CostTotal, bool, []store.Balance, error) {
	var t store.CostTotal
	var history []store.Balance
	kept := false
	err := each(c, selectFunds, []any{owner, at}, func(scan func(...any) error) error {
		var kind int
		var amount, chain string
		var dapp sql.NullString
		var count, holdRows, removed int64
		var tm float64
		var first sql.NullFloat64
		if err := scan(&kind, &amount, &chain, &dapp, &count, &holdRows, &removed, &tm, &first); err != nil {
			return err
		}
		v, err := units(amount)
		if err != nil {
			return err
		}
		if kind == 0 {
			credit, err := units(chain)
			if err != nil {
				return err
			}
			t = store.CostTotal{Hold: v, Credit: credit, Rows: count, HoldRows: holdRows, Removed: removed,
				Last: tm, FirstHold: first.Float64}
			kept = true
			return nil
		}
		history = append(history, store.Balance{Chain: chain, Dapp: dapp.String, Amount: v, Height: count, Time: tm})
		return nil
	})
	if err != nil {
		return store.CostTotal{}, false, nil, err
	}
	return t, kept, history, nil
}

// SumCosts is the CostTotal of rows (Removed left 0): what the maintained
// totals must equal.
func SumCosts(rows []store.Cost) store.CostTotal {
	t := store.CostTotal{Hold: new(big.Int), Credit: new(big.Int)}
	for _, k := range rows {
		addCost(&t, k)
	}
	return t
}

// addCost adds row k to t.
func addCost(t *store.CostTotal, k store.Cost) {
	if t.Rows == 0 || k.Time > t.Last {
		t.Last = k.Time
	}
	t.Rows++
	switch k.PaymentType {
	case "hold": // economy.PaymentHold
		if k.Hold != nil {
			t.Hold.Add(t.Hold, k.Hold)
		}
		if k.Hold != nil && k.Hold.Sign() > 0 {
			if t.HoldRows == 0 || k.Time < t.FirstHold {
				t.FirstHold = k.Time
			}
			t.HoldRows++
		}
	case "credit": // economy.PaymentCredit
		if k.Credit != nil {
			t.Credit.Add(t.Credit, k.Credit)
		}
	}
}

// recomputeTotal writes owner's totals from its rows, or deletes them
// when it has none.
func recomputeTotal(c Conn, owner string) error {
	rows, err := Costs(c, owner)
	if err != nil {
		return err
	}
	if len(rows) == 0 {
		_, err := c.Exec(deleteTotal, owner)
		return err
	}
	return writeTotal(c, owner, SumCosts(rows))
}

func writeTotal(c Conn, owner string, t store.CostTotal) error {
	var first any
	if t.HoldRows > 0 {
		first = t.FirstHold
	}
	_, err := c.Exec(upsertTotal, owner, t.Hold.String(), t.Credit.String(), t.Rows, t.HoldRows, t.Last, first)
	return err
}

// readTotal reads the totals row of owner with query (selectTotalAt, at
// as a second argument).
func readTotal(c Conn, query string, args ...any) (store.CostTotal, bool, error) {
	var t store.CostTotal
	found := false
	err := each(c, query, args, func(scan func(...any) error) error {
		var hold, credit string
		var first sql.NullFloat64
		if err := scan(&hold, &credit, &t.Rows, &t.HoldRows, &t.Last, &first, &t.Removed); err != nil {
			return err
		}
		var err error
		if t.Hold, err = units(hold); err != nil {
			return err
		}
		if t.Credit, err = units(credit); err != nil {
			return err
		}
		t.FirstHold, found = first.Float64, true
		return nil
	})
	if err != nil {
		return t, false, err
	}
	if found && t.Rows <= 0 {
		return t, false, errors.New("account_cost_totals: a row without cost rows")
	}
	return t, found, nil
}
