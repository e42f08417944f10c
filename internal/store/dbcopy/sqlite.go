package dbcopy

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/goaleph/goaleph/internal/store/sqlite"
	"github.com/goaleph/goaleph/internal/store/storeurl"
)

// SQLite loading: rows go in with prepared INSERTs of up to stmtRows rows
// each (at most maxVars bound values).
const (
	stmtRows = 256
	maxVars  = 32766 // SQLITE_MAX_VARIABLE_NUMBER
)

type sqliteDB struct{ db *sqlite.DB }

func (s sqliteDB) kind() string { return storeurl.SQLite }

func (s sqliteDB) columns(ctx context.Context) (map[string][]string, error) {
	rows, err := s.db.ReadDB().QueryContext(ctx, `SELECT m.name, p.name FROM sqlite_schema m JOIN pragma_table_info(m.name) p
		WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' ORDER BY m.name, p.cid`)
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

func (s sqliteDB) count(ctx context.Context, t *table) (int64, error) {
	var n int64
	err := s.db.ReadDB().QueryRowContext(ctx, `SELECT count(*) FROM `+t.name).Scan(&n)
	return n, err
}

// snapshot opens a read transaction: in WAL mode it sees one state of the
// database from its first read to its end.
func (s sqliteDB) snapshot(ctx context.Context) (source, error) {
	tx, err := s.db.ReadDB().BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	return &sqliteSource{tx: tx}, nil
}

func (s sqliteDB) sink() sink { return &sqliteSink{db: s.db} }

type sqliteSource struct{ tx *sql.Tx }

func (s *sqliteSource) close() { s.tx.Rollback() }

func (s *sqliteSource) count(ctx context.Context, t *table) (int64, error) {
	var n int64
	err := s.tx.QueryRowContext(ctx, `SELECT count(*) FROM `+t.name).Scan(&n)
	return n, err
}

func (s *sqliteSource) rows(ctx context.Context, t *table) (rowIter, error) {
	rows, err := s.tx.QueryContext(ctx, `SELECT `+t.columnList()+` FROM `+t.name+` ORDER BY rowid`)
	if err != nil {
		return nil, err
	}
	it := &sqliteRows{rows: rows, t: t, dest: make([]any, len(t.cols)), row: make([]any, len(t.cols))}
	for i, c := range t.cols {
		switch c.kind {
		case kText, kJSON:
			it.dest[i] = new(sql.NullString)
		case kInt, kBool:
			it.dest[i] = new(sql.NullInt64)
		case kFloat:
			it.dest[i] = new(sql.NullFloat64)
		}
	}
	return it, nil
}

type sqliteRows struct {
	rows *sql.Rows
	t    *table
	dest []any // scan targets
	row  []any
}

func (r *sqliteRows) Next() bool { return r.rows.Next() }
func (r *sqliteRows) Err() error { return r.rows.Err() }
func (r *sqliteRows) Close()     { r.rows.Close() }

func (r *sqliteRows) Row() ([]any, error) {
	if err := r.rows.Scan(r.dest...); err != nil {
		return nil, err
	}
	for i, c := range r.t.cols {
		var v any
		switch d := r.dest[i].(type) {
		case *sql.NullString:
			if d.Valid {
				v = d.String
			}
		case *sql.NullInt64:
			if d.Valid {
				v = d.Int64
				if c.kind == kBool {
					v = d.Int64 != 0
				}
			}
		case *sql.NullFloat64:
			if d.Valid {
				v = d.Float64
			}
		}
		r.row[i] = v
	}
	return r.row, nil
}

type sqliteSink struct{ db *sqlite.DB }

func (s *sqliteSink) fill(ctx context.Context, force bool, body func(loader) error) error {
	return s.db.Load(ctx, func(tx *sql.Tx) error {
		for _, t := range tables {
			if !force && t.name != "counters" {
				continue
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM `+t.name); err != nil {
				return err
			}
		}
		// The indexes the migrations created (not those of the primary
		// keys, which have no SQL).
		var defs []string
		rows, err := tx.QueryContext(ctx, `SELECT name, sql FROM sqlite_schema WHERE type = 'index' AND sql IS NOT NULL ORDER BY name`)
		if err != nil {
			return err
		}
		var names []string
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
		for _, name := range names {
			if _, err := tx.ExecContext(ctx, `DROP INDEX "`+name+`"`); err != nil {
				return err
			}
		}
		if err := body(func(ctx context.Context, t *table, it rowIter, progress func(int64)) (int64, error) {
			return sqliteLoad(ctx, tx, t, it, progress)
		}); err != nil {
			return err
		}
		for i, def := range defs {
			if _, err := tx.ExecContext(ctx, def); err != nil {
				return fmt.Errorf("index %s: %w", names[i], err)
			}
		}
		return nil
	})
}

// sqliteLoad reads the rows on one goroutine and inserts them on another,
// so that decoding the source and SQLite's work overlap.
func sqliteLoad(ctx context.Context, tx *sql.Tx, t *table, it rowIter, progress func(int64)) (int64, error) {
	width := len(t.cols)
	perStmt := min(stmtRows, maxVars/width)
	batches := make(chan []any, 4)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		defer close(batches)
		batch := make([]any, 0, perStmt*width)
		send := func() bool {
			select {
			case batches <- batch:
				batch = make([]any, 0, perStmt*width)
				return true
			case <-gctx.Done():
				return false
			}
		}
		for it.Next() {
			row, err := it.Row()
			if err != nil {
				return err
			}
			for _, v := range row {
				if b, ok := v.(bool); ok {
					v = int64(0)
					if b {
						v = int64(1)
					}
				}
				batch = append(batch, v)
			}
			if len(batch) == cap(batch) && !send() {
				return gctx.Err()
			}
		}
		if err := it.Err(); err != nil {
			return err
		}
		if len(batch) > 0 && !send() {
			return gctx.Err()
		}
		return nil
	})
	var done int64
	g.Go(func() error {
		insert := func(n int) string {
			row := "(" + strings.TrimSuffix(strings.Repeat("?,", width), ",") + ")"
			return `INSERT INTO ` + t.name + ` (` + t.columnList() + `) VALUES ` +
				strings.TrimSuffix(strings.Repeat(row+",", n), ",")
		}
		st, err := tx.PrepareContext(gctx, insert(perStmt))
		if err != nil {
			return err
		}
		defer st.Close()
		for batch := range batches {
			rows := len(batch) / width
			if rows == perStmt {
				_, err = st.ExecContext(gctx, batch...)
			} else {
				_, err = tx.ExecContext(gctx, insert(rows), batch...)
			}
			if err != nil {
				return fmt.Errorf("insert: %w", err)
			}
			for range rows {
				done++
				if done%progressEvery == 0 {
					progress(done)
				}
			}
		}
		return gctx.Err() // the reader failed: do not commit
	})
	err := g.Wait()
	return done, err
}
