package sqlite

import (
	"context"
	"database/sql"
)

// ReadDB returns the query-only connection pool under the store, for tools
// that read whole tables at once (store/dbcopy). Open a read transaction on
// it to see one snapshot of every table.
func (db *DB) ReadDB() *sql.DB { return db.read }

// Load runs fn in one write transaction on the writer connection, for tools
// that fill the tables directly (store/dbcopy), and commits it when fn
// returns nil. It is serialised with Update; the cached list totals are
// dropped after the commit. fn must keep the counters table consistent
// with what it writes.
func (db *DB) Load(ctx context.Context, fn func(tx *sql.Tx) error) error {
	db.writeMu.Lock()
	defer db.writeMu.Unlock()
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	db.counts.invalidate()
	return nil
}
