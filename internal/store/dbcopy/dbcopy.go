// Package dbcopy copies the whole database of a core node from one store
// backend to another (SQLite to PostgreSQL, PostgreSQL to SQLite, or
// between two databases of one kind): every table of the schema, row for
// row, with the same values. A node started on the copy, with the same file
// store, answers like the original.
//
// The source is read in one snapshot (a read transaction); the node should
// still be stopped, or what it writes during the copy is not copied. The
// destination is opened through store/storeurl, so its schema is created or
// migrated first, and it must hold no data unless Options.Force is set.
// Rows are streamed, into PostgreSQL with COPY, into SQLite with prepared
// multi-row inserts, in one transaction that also rebuilds the secondary
// indexes after the rows are in: a failed copy leaves the destination as
// it was. (A SQLite destination's WAL file grows to about the size of the
// database meanwhile.)
package dbcopy

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/goaleph/goaleph/internal/store"
	"github.com/goaleph/goaleph/internal/store/postgres"
	"github.com/goaleph/goaleph/internal/store/sqlite"
	"github.com/goaleph/goaleph/internal/store/storeurl"
)

// ErrNotEmpty is returned when the destination already holds rows and
// Options.Force is not set.
var ErrNotEmpty = errors.New("destination database is not empty")

// Options tune Copy. The zero value is the safe default.
type Options struct {
	// Force empties every table of the destination before copying into
	// it, instead of refusing a destination that holds rows.
	Force bool
	// Progress, when set, is called as rows are copied, with the table,
	// the rows of it copied so far and its number of rows in the source;
	// first with done = 0, last with done = total. Calls come one at a
	// time, possibly from a goroutine of the copy.
	Progress func(table string, done, total int64)
}

// TableCount is the number of rows of one table, equal in the source and
// the destination after a successful copy.
type TableCount struct {
	Table string `json:"table"`
	Rows  int64  `json:"rows"`
}

// Result describes a finished copy.
type Result struct {
	Tables   []TableCount  // every table, in copy order
	Rows     int64         // sum of Tables
	Duration time.Duration // from opening the databases to the verification
}

// rowIter streams the rows of one table. Row returns the values of the
// current row in the table's column order: nil for NULL, else string
// (text and JSON), int64, float64 or bool by column kind. The slice is
// valid until the next call to Next.
type rowIter interface {
	Next() bool
	Row() ([]any, error)
	Err() error
	Close()
}

// source is one snapshot of the database copied from.
type source interface {
	count(ctx context.Context, t *table) (int64, error)
	rows(ctx context.Context, t *table) (rowIter, error)
	close()
}

// sink is the database copied into.
type sink interface {
	// fill runs body in one write transaction, committed when body
	// returns nil. Before body, the counters table is emptied (the
	// migrations insert its row), every table too when force is set, and
	// the secondary indexes are dropped; they are built again after body,
	// which is much faster than maintaining them row by row.
	fill(ctx context.Context, force bool, body func(load loader) error) error
}

// loader copies the rows of it into table t, calling progress every
// progressEvery rows, and returns the number of rows copied.
type loader func(ctx context.Context, t *table, it rowIter, progress func(done int64)) (int64, error)

// database is an opened store with what the copy needs of it.
type database interface {
	// columns returns the columns of every table, goose's excepted.
	columns(ctx context.Context) (map[string][]string, error)
	// count counts the rows of a table, outside any snapshot.
	count(ctx context.Context, t *table) (int64, error)
	snapshot(ctx context.Context) (source, error)
	sink() sink
	kind() string
}

// Copy copies the database at fromURL into the database at toURL (see
// store/storeurl for the URL forms) and checks that every table then has as
// many rows on both sides.
func Copy(ctx context.Context, fromURL, toURL string, opts Options) (*Result, error) {
	start := time.Now()
	fromKind, err := storeurl.Kind(fromURL)
	if err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	toKind, err := storeurl.Kind(toURL)
	if err != nil {
		return nil, fmt.Errorf("destination: %w", err)
	}
	if sameDatabase(fromKind, fromURL, toKind, toURL) {
		return nil, fmt.Errorf("source and destination are the same database (%s)", storeurl.Redact(toURL))
	}
	if fromKind == storeurl.SQLite {
		// Opening a missing SQLite file would create an empty database.
		p := sqlitePath(fromURL)
		if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("source database %s does not exist", p)
		} else if err != nil {
			return nil, fmt.Errorf("source database: %w", err)
		}
	}
	srcStore, err := storeurl.Open(ctx, fromURL)
	if err != nil {
		return nil, fmt.Errorf("open source: %w", err)
	}
	defer srcStore.Close()
	dstStore, err := storeurl.Open(ctx, toURL)
	if err != nil {
		return nil, fmt.Errorf("open destination: %w", err)
	}
	defer dstStore.Close()
	src, err := wrap(srcStore)
	if err != nil {
		return nil, err
	}
	dst, err := wrap(dstStore)
	if err != nil {
		return nil, err
	}
	for _, d := range []struct {
		side string
		db   database
	}{{"source", src}, {"destination", dst}} {
		if err := checkSchema(ctx, d.db); err != nil {
			return nil, fmt.Errorf("%s: %w", d.side, err)
		}
	}
	if !opts.Force {
		if err := checkEmpty(ctx, dst); err != nil {
			return nil, err
		}
	}

	snap, err := src.snapshot(ctx)
	if err != nil {
		return nil, fmt.Errorf("read source: %w", err)
	}
	defer snap.close()
	counts := make([]TableCount, len(tables))
	for i := range tables {
		n, err := snap.count(ctx, &tables[i])
		if err != nil {
			return nil, fmt.Errorf("count %s: %w", tables[i].name, err)
		}
		counts[i] = TableCount{Table: tables[i].name, Rows: n}
	}
	err = dst.sink().fill(ctx, opts.Force, func(load loader) error {
		for i := range tables {
			t := &tables[i]
			if err := copyTable(ctx, snap, load, t, counts[i].Rows, opts.Progress); err != nil {
				return fmt.Errorf("copy %s: %w", t.name, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}

	res := &Result{Tables: counts}
	for _, c := range counts {
		t := tableNamed(c.Table)
		n, err := dst.count(ctx, t)
		if err != nil {
			return nil, fmt.Errorf("verify %s: %w", c.Table, err)
		}
		if n != c.Rows {
			return nil, fmt.Errorf("verify %s: %d rows in the source, %d in the destination", c.Table, c.Rows, n)
		}
		res.Rows += n
	}
	res.Duration = time.Since(start)
	return res, nil
}

// progressEvery is how many rows pass between two Progress calls.
const progressEvery = 1000

func copyTable(ctx context.Context, src source, load loader, t *table, total int64, progress func(string, int64, int64)) error {
	report := func(int64) {}
	if progress != nil {
		progress(t.name, 0, total)
		report = func(done int64) { progress(t.name, done, total) }
	}
	it, err := src.rows(ctx, t)
	if err != nil {
		return err
	}
	defer it.Close()
	n, err := load(ctx, t, it, report)
	if err != nil {
		return err
	}
	if n != total {
		return fmt.Errorf("copied %d rows, the source counted %d", n, total)
	}
	if progress != nil && n%progressEvery != 0 {
		progress(t.name, n, total)
	}
	return nil
}

func wrap(s store.Store) (database, error) {
	switch db := s.(type) {
	case *sqlite.DB:
		return sqliteDB{db}, nil
	case *postgres.DB:
		return pgDB{db.Pool()}, nil
	}
	return nil, fmt.Errorf("unsupported store %T", s)
}

func tableNamed(name string) *table {
	for i := range tables {
		if tables[i].name == name {
			return &tables[i]
		}
	}
	panic("dbcopy: unknown table " + name)
}

// ignoredTables are tables of the backends that are not node data.
var ignoredTables = map[string]bool{
	"goose_db_version": true, // the migrations applied, set by storeurl.Open
}

// checkSchema makes sure that db has exactly the tables and columns the
// copy knows (PostgreSQL may have its pgOnly columns more).
func checkSchema(ctx context.Context, db database) error {
	have, err := db.columns(ctx)
	if err != nil {
		return fmt.Errorf("read schema: %w", err)
	}
	for _, t := range tables {
		got, ok := have[t.name]
		if !ok {
			return fmt.Errorf("table %s missing", t.name)
		}
		want := t.columnNames()
		if db.kind() == storeurl.Postgres {
			want = append(want, t.pgOnly...)
		}
		if !sameSet(got, want) {
			return fmt.Errorf("table %s has columns %s, the copy knows %s: update internal/store/dbcopy",
				t.name, strings.Join(got, ","), strings.Join(want, ","))
		}
		delete(have, t.name)
	}
	for name := range have {
		if !ignoredTables[name] {
			return fmt.Errorf("table %s is unknown to the copy: update internal/store/dbcopy", name)
		}
	}
	return nil
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	m := map[string]bool{}
	for _, x := range a {
		m[x] = true
	}
	for _, x := range b {
		if !m[x] {
			return false
		}
	}
	return true
}

// checkEmpty returns ErrNotEmpty when a table of db other than counters
// (which always has its row) holds rows.
func checkEmpty(ctx context.Context, db database) error {
	var full []string
	for i := range tables {
		t := &tables[i]
		if t.name == "counters" {
			continue
		}
		n, err := db.count(ctx, t)
		if err != nil {
			return fmt.Errorf("destination: count %s: %w", t.name, err)
		}
		if n > 0 {
			full = append(full, fmt.Sprintf("%s: %d rows", t.name, n))
		}
	}
	if len(full) > 0 {
		return fmt.Errorf("%w (%s)", ErrNotEmpty, strings.Join(full, ", "))
	}
	return nil
}

// sqlitePath is the file of a sqlite:// URL (as store/storeurl reads it).
func sqlitePath(dbURL string) string {
	p := strings.TrimPrefix(dbURL, "sqlite://")
	if i := strings.IndexByte(p, '?'); i >= 0 {
		p = p[:i]
	}
	return filepath.FromSlash(p)
}

// sameDatabase tells whether two URLs name the same database: the same
// SQLite file, or the same PostgreSQL URL.
func sameDatabase(kindA, a, kindB, b string) bool {
	if kindA != kindB {
		return false
	}
	if kindA != storeurl.SQLite {
		norm := func(u string) string { return strings.Replace(u, "postgresql://", "postgres://", 1) }
		return norm(a) == norm(b)
	}
	pa, pb := sqlitePath(a), sqlitePath(b)
	if fa, err := os.Stat(pa); err == nil {
		if fb, err := os.Stat(pb); err == nil {
			return os.SameFile(fa, fb)
		}
	}
	aa, _ := filepath.Abs(pa)
	ab, _ := filepath.Abs(pb)
	return aa == ab
}
