package dbcopy

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/goaleph/goaleph/internal/store/storeurl"
)

type pgDB struct{ pool *pgxpool.Pool }

func (p pgDB) kind() string { return storeurl.Postgres }

func (p pgDB) columns(ctx context.Context) (map[string][]string, error) {
	rows, err := p.pool.Query(ctx, `SELECT table_name::text, column_name::text FROM information_schema.columns
		WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string][]string{}
	for rows.Next() {
		var t, c string
		if err := rows.Scan(&t, &c); err != nil {
			return nil, err
		}
		out[t] = append(out[t], c)
	}
	return out, rows.Err()
}

func (p pgDB) count(ctx context.Context, t *table) (int64, error) {
	var n int64
	err := p.pool.QueryRow(ctx, `SELECT count(*) FROM `+t.name).Scan(&n)
	return n, err
}

// snapshot opens a read-only repeatable-read transaction: one state of
// every table.
func (p pgDB) snapshot(ctx context.Context) (source, error) {
	tx, err := p.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, err
	}
	return &pgSource{tx: tx}, nil
}

func (p pgDB) sink() sink { return &pgSink{pool: p.pool} }

type pgSource struct{ tx pgx.Tx }

func (s *pgSource) close() { s.tx.Rollback(context.Background()) }

func (s *pgSource) count(ctx context.Context, t *table) (int64, error) {
	var n int64
	err := s.tx.QueryRow(ctx, `SELECT count(*) FROM `+t.name).Scan(&n)
	return n, err
}

func (s *pgSource) rows(ctx context.Context, t *table) (rowIter, error) {
	q := `SELECT ` + t.columnList() + ` FROM ` + t.name
	if t.serial != "" {
		q += ` ORDER BY ` + t.serial
	}
	rows, err := s.tx.Query(ctx, q)
	if err != nil {
		return nil, err
	}
	it := &pgRows{rows: rows, t: t, dest: make([]any, len(t.cols)), row: make([]any, len(t.cols))}
	for i, c := range t.cols {
		switch c.kind {
		case kText, kJSON:
			it.dest[i] = new(*string) // json as its text
		case kInt:
			it.dest[i] = new(*int64)
		case kFloat:
			it.dest[i] = new(*float64)
		case kBool:
			it.dest[i] = new(*bool)
		}
	}
	return it, nil
}

type pgRows struct {
	rows pgx.Rows
	t    *table
	dest []any
	row  []any
}

func (r *pgRows) Next() bool { return r.rows.Next() }
func (r *pgRows) Err() error { return r.rows.Err() }
func (r *pgRows) Close()     { r.rows.Close() }

func (r *pgRows) Row() ([]any, error) {
	if err := r.rows.Scan(r.dest...); err != nil {
		return nil, err
	}
	for i := range r.dest {
		var v any
		switch d := r.dest[i].(type) {
		case **string:
			if *d != nil {
				v = **d
			}
		case **int64:
			if *d != nil {
				v = **d
			}
		case **float64:
			if *d != nil {
				v = **d
			}
		case **bool:
			if *d != nil {
				v = **d
			}
		}
		r.row[i] = v
	}
	return r.row, nil
}

// pgSink fills the destination in one transaction, with COPY.
type pgSink struct{ pool *pgxpool.Pool }

func (s *pgSink) fill(ctx context.Context, force bool, body func(loader) error) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		q := `DELETE FROM counters`
		if force {
			q = `TRUNCATE ` + strings.Join(Tables(), ", ") + ` RESTART IDENTITY`
		}
		if _, err := tx.Exec(ctx, q); err != nil {
			return err
		}
		// The indexes the migrations created, not those of the primary
		// keys and unique constraints.
		rows, err := tx.Query(ctx, `SELECT indexname::text, indexdef FROM pg_indexes i
			WHERE schemaname = current_schema() AND tablename = ANY($1)
			AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname AND c.contype IN ('p', 'u'))
			ORDER BY indexname`, Tables())
		if err != nil {
			return err
		}
		var names, defs []string
		for rows.Next() {
			var name, def string
			if err := rows.Scan(&name, &def); err != nil {
				rows.Close()
				return err
			}
			names, defs = append(names, name), append(defs, def)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if len(names) > 0 {
			if _, err := tx.Exec(ctx, `DROP INDEX `+strings.Join(quoteAll(names), ", ")); err != nil {
				return err
			}
		}
		if err := body(func(ctx context.Context, t *table, it rowIter, progress func(int64)) (int64, error) {
			return pgLoad(ctx, tx, t, it, progress)
		}); err != nil {
			return err
		}
		for i, def := range defs {
			if _, err := tx.Exec(ctx, def); err != nil {
				return fmt.Errorf("index %s: %w", names[i], err)
			}
		}
		// The next pending message, pin or volume gets an id after the
		// copied ones.
		for _, t := range tables {
			if t.serial == "" {
				continue
			}
			q := fmt.Sprintf(`SELECT setval(pg_get_serial_sequence('%s', '%s'), (SELECT coalesce(max(%s), 0) + 1 FROM %s), false)`,
				t.name, t.serial, t.serial, t.name)
			if _, err := tx.Exec(ctx, q); err != nil {
				return fmt.Errorf("sequence of %s: %w", t.name, err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	// Statistics of the new rows for the planner, right away.
	_, err = s.pool.Exec(ctx, `ANALYZE `+strings.Join(Tables(), ", "))
	return err
}

func quoteAll(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = pgx.Identifier{n}.Sanitize()
	}
	return out
}

func pgLoad(ctx context.Context, tx pgx.Tx, t *table, it rowIter, progress func(int64)) (int64, error) {
	src := &copySource{it: it, progress: progress}
	n, err := tx.CopyFrom(ctx, pgx.Identifier{t.name}, t.columnNames(), src)
	if err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Where != "" {
			err = fmt.Errorf("%w (%s)", err, pe.Where)
		}
		return n, err
	}
	return n, nil
}

// copySource feeds COPY from a rowIter.
type copySource struct {
	it       rowIter
	progress func(int64)
	row      []any
	err      error
	done     int64
}

func (c *copySource) Next() bool {
	if !c.it.Next() {
		return false
	}
	c.row, c.err = c.it.Row()
	if c.err != nil {
		return false
	}
	c.done++
	if c.done%progressEvery == 0 {
		c.progress(c.done)
	}
	return true
}

func (c *copySource) Values() ([]any, error) { return c.row, nil }

func (c *copySource) Err() error {
	if c.err != nil {
		return c.err
	}
	return c.it.Err()
}
