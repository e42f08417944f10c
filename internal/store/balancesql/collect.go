package balancesql

import (
	"database/sql"

	"github.com/goaleph/goaleph/internal/store"
)

// The collection table (migrations SQLite 00012, PostgreSQL 00010) and the
// status of the messages it names.
const (
	selectAllHistory = `SELECT address, chain, dapp, balance, height, time FROM balance_history
		WHERE lower(address) = lower($1) AND time <= $2 ORDER BY time, chain, dapp, height`
	selectLogClock = `SELECT coalesce(max(t), 0) FROM (SELECT max(time) AS t FROM balance_history
		UNION ALL SELECT max(time) AS t FROM message_confirmations
		UNION ALL SELECT max(time) AS t FROM credit_entries WHERE payment_method <> 'credit_transfer') AS clocks`
	selectCostOwners  = `SELECT DISTINCT owner FROM account_costs WHERE payment_type = $1 ORDER BY owner`
	collectionColumns = `item_hash, owner, reason, since, removed_at`
	selectCollections = `SELECT ` + collectionColumns + ` FROM collection WHERE lower(owner) = lower($1) ORDER BY item_hash`
	selectCollection  = `SELECT ` + collectionColumns + ` FROM collection WHERE item_hash = $1`
	upsertCollection  = `INSERT INTO collection (item_hash, owner, reason, since, removed_at) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (item_hash) DO UPDATE SET owner = excluded.owner, reason = excluded.reason, since = excluded.since,
		removed_at = excluded.removed_at WHERE collection.removed_at IS NULL`
	setStatus         = `UPDATE messages SET status = $1 WHERE item_hash = $2 AND status <> 'removed'`
	decrementMessages = `UPDATE counters SET value = value - 1 WHERE name = 'messages'`
	deleteRemoving    = `DELETE FROM collection WHERE item_hash = $1 AND removed_at IS NULL`
)

// BalanceHistory implements store.BalanceReader.BalanceHistory.
func BalanceHistory(c Conn, address string, at float64) ([]store.Balance, error) {
	return all(c, selectAllHistory, []any{address, at}, scanHistory)
}

// LogClock implements store.BalanceReader.LogClock.
func LogClock(c Conn) (float64, error) {
	var clock float64
	err := each(c, selectLogClock, nil, func(scan func(...any) error) error { return scan(&clock) })
	return clock, err
}

// CostOwners implements store.BalanceReader.CostOwners.
func CostOwners(c Conn, paymentType string) ([]string, error) {
	return all(c, selectCostOwners, []any{paymentType}, scanString)
}

func scanCollection(scan func(...any) error) (store.Collection, error) {
	var k store.Collection
	var removed sql.NullFloat64
	err := scan(&k.ItemHash, &k.Owner, &k.Reason, &k.Since, &removed)
	k.RemovedAt = removed.Float64
	return k, err
}

// Collections implements store.BalanceReader.Collections.
func Collections(c Conn, owner string) ([]store.Collection, error) {
	return all(c, selectCollections, []any{owner}, scanCollection)
}

// Collection implements store.BalanceReader.Collection.
func Collection(c Conn, itemHash string) (store.Collection, error) {
	return one(c, selectCollection, []any{itemHash}, scanCollection)
}

// PutCollection implements store.BalanceWriter.PutCollection.
func PutCollection(c Conn, k *store.Collection) error {
	var removed any
	status := store.StatusRemoving
	if k.RemovedAt != 0 {
		removed, status = k.RemovedAt, store.StatusRemoved
	}
	if _, err := c.Exec(upsertCollection, k.ItemHash, k.Owner, k.Reason, k.Since, removed); err != nil {
		return err
	}
	n, err := c.Exec(setStatus, string(status), k.ItemHash)
	if err != nil || n == 0 || status != store.StatusRemoved {
		return err
	}
	// The counters row counts live messages; a removed one keeps its row.
	_, err = c.Exec(decrementMessages)
	return err
}

// DeleteCollection implements store.BalanceWriter.DeleteCollection.
func DeleteCollection(c Conn, itemHash string) error {
	n, err := c.Exec(deleteRemoving, itemHash)
	if err != nil || n == 0 {
		return err
	}
	_, err = c.Exec(setStatus, string(store.StatusProcessed), itemHash)
	return err
}
