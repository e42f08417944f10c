package balancesql

import (
	"encoding/json"
	"fmt"
	"math/big"

	"github.com/goaleph/goaleph/internal/store"
)

// The credit ledger (migrations SQLite 00011, PostgreSQL 00009).
const (
	creditColumns = `ref, idx, address, time, kind, amount, expiration, origin, origin_ref, price, bonus_amount,
		tx_hash, token, chain, provider, payment_method, expense_count, expense_size_mib`
	upsertCredit = `INSERT INTO credit_entries (` + creditColumns + `)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
		ON CONFLICT (ref, idx) DO UPDATE SET address = excluded.address,
		time = excluded.time, kind = excluded.kind, amount = excluded.amount, expiration = excluded.expiration,
		origin = excluded.origin, origin_ref = excluded.origin_ref, price = excluded.price,
		bonus_amount = excluded.bonus_amount, tx_hash = excluded.tx_hash, token = excluded.token,
		chain = excluded.chain, provider = excluded.provider, payment_method = excluded.payment_method,
		expense_count = excluded.expense_count, expense_size_mib = excluded.expense_size_mib`
	deleteCredits = `DELETE FROM credit_entries WHERE ref = $1`
	selectCredits = `SELECT ` + creditColumns + ` FROM credit_entries
		WHERE lower(address) = lower($1) AND time <= $2 ORDER BY time, kind <> 'grant', ref, idx`
	selectCreditAddresses = `SELECT DISTINCT address FROM credit_entries WHERE address > $1 ORDER BY address`
	// The origins are bound as one JSON array (a list of any length in one
	// placeholder, on both backends).
	creditResource       = `coalesce(nullif(origin, ''), origin_ref)`
	selectConsumedSQLite = `SELECT ` + creditResource + `, amount FROM credit_entries WHERE kind = 'expense'
		AND payment_method <> 'credit_transfer' AND ` + creditResource + ` IN (SELECT value FROM json_each($1) WHERE value <> '')`
	selectConsumedPostgres = `SELECT ` + creditResource + `, amount FROM credit_entries WHERE kind = 'expense'
		AND payment_method <> 'credit_transfer' AND ` + creditResource + ` IN (SELECT v FROM jsonb_array_elements_text($1::jsonb) AS v WHERE v <> '')`
)

// PutCredits implements store.CreditWriter.PutCreditEntries.
func PutCredits(c Conn, es []store.CreditEntry) error {
	for _, e := range es {
		if e.Amount == nil {
			return fmt.Errorf("credit entry %s/%d: %w", e.Ref, e.Index, errNoAmount)
		}
		if _, err := c.Exec(upsertCredit, e.Ref, e.Index, e.Address, e.Time, e.Kind, e.Amount.String(), e.Expiration,
			e.Origin, e.OriginRef, e.Price, e.BonusAmount, e.TxHash, e.Token, e.Chain, e.Provider, e.PaymentMethod,
			e.ExpenseCount, e.ExpenseSizeMiB); err != nil {
			return err
		}
	}
	return nil
}

// DeleteCredits implements store.CreditWriter.DeleteCreditEntries.
func DeleteCredits(c Conn, ref string) error {
	_, err := c.Exec(deleteCredits, ref)
	return err
}

// Credits implements store.CreditReader.CreditEntries.
func Credits(c Conn, address string, at float64) ([]store.CreditEntry, error) {
	var out []store.CreditEntry
	err := each(c, selectCredits, []any{address, at}, func(scan func(...any) error) error {
		var e store.CreditEntry
		var amount string
		if err := scan(&e.Ref, &e.Index, &e.Address, &e.Time, &e.Kind, &amount, &e.Expiration,
			&e.Origin, &e.OriginRef, &e.Price, &e.BonusAmount, &e.TxHash, &e.Token, &e.Chain, &e.Provider, &e.PaymentMethod,
			&e.ExpenseCount, &e.ExpenseSizeMiB); err != nil {
			return err
		}
		var err error
		if e.Amount, err = units(amount); err != nil {
			return fmt.Errorf("credit entry %s/%d: %w", e.Ref, e.Index, err)
		}
		out = append(out, e)
		return nil
	})
	return out, err
}

// CreditAddresses implements store.CreditReader.CreditAddresses.
func CreditAddresses(c Conn, after string, limit int) ([]string, error) {
	q := selectCreditAddresses
	if limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", limit)
	}
	return all(c, q, []any{after}, scanString)
}

// CreditsConsumed implements store.CreditReader.CreditsConsumed; postgres
// selects the backend's way of reading the bound list.
func CreditsConsumed(c Conn, resources []string, postgres bool) (map[string]*big.Int, error) {
	out := map[string]*big.Int{}
	if len(resources) == 0 {
		return out, nil
	}
	list, err := json.Marshal(resources)
	if err != nil {
		return nil, err
	}
	q := selectConsumedSQLite
	if postgres {
		q = selectConsumedPostgres
	}
	err = each(c, q, []any{string(list)}, func(scan func(...any) error) error {
		var origin, amount string
		if err := scan(&origin, &amount); err != nil {
			return err
		}
		v, err := units(amount)
		if err != nil {
			return fmt.Errorf("credit expense for %s: %w", origin, err)
		}
		if sum := out[origin]; sum != nil {
			sum.Add(sum, v)
		} else {
			out[origin] = v
		}
		return nil
	})
	return out, err
}
