// Package backend opens a core node store from its database URL, the
// node's "database.url" setting:
//
//	sqlite:///var/lib/aleph/aleph.db   SQLite file, absolute path
//	sqlite://data/aleph.db             SQLite file, relative path
//	postgres://user:pass@host/db       PostgreSQL (postgresql:// too)
//
// The SQLite file is created when missing; a PostgreSQL database must exist
// (the schema is created or migrated on open).
package backend

import (
	"context"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/goaleph/goaleph/internal/store"
	"github.com/goaleph/goaleph/internal/store/postgres"
	"github.com/goaleph/goaleph/internal/store/sqlite"
)

// Kinds of database.
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
)

// SQLiteURL returns the URL of the SQLite database at path.
func SQLiteURL(path string) string {
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	return "sqlite://" + filepath.ToSlash(path)
}

// Kind returns SQLite or Postgres for a database URL, or an error naming
// the accepted forms.
func Kind(dbURL string) (string, error) {
	switch {
	case strings.HasPrefix(dbURL, "sqlite://"):
		if sqlitePath(dbURL) == "" {
			return "", fmt.Errorf("database URL %q: missing file path (sqlite:///path/to/aleph.db)", dbURL)
		}
		return SQLite, nil
	case strings.HasPrefix(dbURL, "postgres://"), strings.HasPrefix(dbURL, "postgresql://"):
		return Postgres, nil
	}
	return "", fmt.Errorf("database URL %q: want sqlite:///path/to/aleph.db or postgres://user@host/dbname", Redact(dbURL))
}

func sqlitePath(dbURL string) string {
	p := strings.TrimPrefix(dbURL, "sqlite://")
	if i := strings.IndexByte(p, '?'); i >= 0 {
		p = p[:i]
	}
	return filepath.FromSlash(p)
}

// Open opens the store at dbURL.
func Open(ctx context.Context, dbURL string) (store.Store, error) {
	kind, err := Kind(dbURL)
	if err != nil {
		return nil, err
	}
	switch kind {
	case SQLite:
		return sqlite.Open(ctx, sqlitePath(dbURL))
	default:
		db, err := postgres.Open(ctx, dbURL)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", Redact(dbURL), err)
		}
		return db, nil
	}
}

// Redact hides the password of a URL, for logs and errors.
func Redact(dbURL string) string {
	u, err := url.Parse(dbURL)
	if err != nil || u.User == nil {
		return dbURL
	}
	return u.Redacted()
}
