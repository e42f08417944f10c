package dbcopy

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/goaleph/goaleph/internal/store/backend"
)

type pgDB struct{ pool *pgxpool.Pool }

func (p pgDB) kind() string { return backend.Postgres }

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
			it.dest[i] = new(*string) // jsonb as its text
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
type pgSink struct {
	pool *pgxpool.Pool
	tx   pgx.Tx
}

func (s *pgSink) begin(ctx context.Context, force bool) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	s.tx = tx
	q := `DELETE FROM counters`
	if force {
		names := make([]string, len(tables))
		for i, t := range tables {
			names[i] = t.name
		}
		q = `TRUNCATE ` + strings.Join(names, ", ") + ` RESTART IDENTITY`
	}
	if _, err := tx.Exec(ctx, q); err != nil {
		s.abort()
		return err
	}
	return nil
}

func (s *pgSink) load(ctx context.Context, t *table, it rowIter, progress func(int64)) (int64, error) {
	src := &copySource{it: it, progress: progress}
	n, err := s.tx.CopyFrom(ctx, pgx.Identifier{t.name}, t.columnNames(), src)
	if err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Where != "" {
			err = fmt.Errorf("%w (%s)", err, pe.Where)
		}
		return n, err
	}
	return n, nil
}

// finish moves the bigserial sequences past the copied ids, so that the
// next pending message or pin gets a new id, and commits. ANALYZE then
// gives the planner statistics of the new rows right away.
func (s *pgSink) finish(ctx context.Context) error {
	for _, t := range tables {
		if t.serial == "" {
			continue
		}
		q := fmt.Sprintf(`SELECT setval(pg_get_serial_sequence('%s', '%s'), (SELECT coalesce(max(%s), 0) + 1 FROM %s), false)`,
			t.name, t.serial, t.serial, t.name)
		if _, err := s.tx.Exec(ctx, q); err != nil {
			s.abort()
			return fmt.Errorf("sequence of %s: %w", t.name, err)
		}
	}
	if err := s.tx.Commit(ctx); err != nil {
		return err
	}
	_, err := s.pool.Exec(ctx, `ANALYZE `+strings.Join(Tables(), ", "))
	return err
}

// abort rolls the whole copy back.
func (s *pgSink) abort() string {
	s.tx.Rollback(context.Background())
	return ""
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
