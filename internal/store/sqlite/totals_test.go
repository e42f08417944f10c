package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/pressly/goose/v3"

	"github.com/goaleph/goaleph/internal/store/storetest"
)

// TestCostTotalsMigration: migration 00014 fills the kept cost totals
// from the cost rows already there.
func TestCostTotalsMigration(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "aleph.db")
	raw, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, raw, mustSub(migrations, "migrations"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, 12); err != nil {
		t.Fatal(err)
	}
	for _, c := range storetest.MigratedCosts {
		if _, err := raw.Exec(`INSERT INTO account_costs (item_hash, owner, time, payment_type, cost_hold, cost_stream, cost_credit)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, c.ItemHash, c.Owner, c.Time, c.PaymentType, c.Hold.String(), c.Stream.String(), c.Credit.String()); err != nil {
			t.Fatal(err)
		}
	}
	if err := raw.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	storetest.CheckMigratedCostTotals(t, db)
}
