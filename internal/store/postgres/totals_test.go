package postgres

import (
	"context"
	"database/sql"
	"io/fs"
	"testing"

	"github.com/pressly/goose/v3"

	"github.com/goaleph/goaleph/internal/store/pgtest"
	"github.com/goaleph/goaleph/internal/store/storetest"
)

// TestCostTotalsMigration: migration 00012 fills the kept cost totals
// from the cost rows already there.
func TestCostTotalsMigration(t *testing.T) {
	ctx := context.Background()
	url := pgtest.Start(t)
	raw, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, raw, sub)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, 10); err != nil {
		t.Fatal(err)
	}
	for _, c := range storetest.MigratedCosts {
		if _, err := raw.Exec(`INSERT INTO account_costs (item_hash, owner, time, payment_type, cost_hold, cost_stream, cost_credit)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, c.ItemHash, c.Owner, c.Time, c.PaymentType, c.Hold.String(), c.Stream.String(), c.Credit.String()); err != nil {
			t.Fatal(err)
		}
	}
	db, err := Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	storetest.CheckMigratedCostTotals(t, db)
}
