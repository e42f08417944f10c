// Package storeurl opens a core node store from its database URL, the
// node's "database.url" setting:
//
//	sqlite:///var/lib/aleph/aleph.db   SQLite file, absolute path
//	sqlite://data/aleph.db             SQLite file, relative path
//	postgres://user:pass@host/db       PostgreSQL (postgresql:// too)
//
// The SQLite file is created when missing; a PostgreSQL database must exist
// (the schema is created or migrated on open). The store drivers are
// chosen by the URL's scheme through a registry (see internal/registry).
package storeurl

import (
	"context"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/goaleph/goaleph/internal/registry"
	"github.com/goaleph/goaleph/internal/store"
	"github.com/goaleph/goaleph/internal/store/postgres"
	"github.com/goaleph/goaleph/internal/store/sqlite"
)

// Kinds of database.
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
)

// Driver opens the stores of one URL scheme.
type Driver struct {
	// Kind is the kind of database (SQLite, Postgres).
	Kind string
	// Check, when set, rejects a malformed URL of the scheme before Open.
	Check func(dbURL string) error
	// Open opens the store at dbURL.
	Open func(ctx context.Context, dbURL string) (store.Store, error)
}

var drivers = registry.New[Driver]("database URL scheme")

// Register makes d the driver of the URLs scheme://…; it panics on an empty
// or duplicate scheme.
func Register(scheme string, d Driver) { drivers.Register(scheme, d) }

func init() {
	Register("sqlite", Driver{
		Kind: SQLite,
		Check: func(dbURL string) error {
			if sqlitePath(dbURL) == "" {
				return fmt.Errorf("database URL %q: missing file path (sqlite:///path/to/aleph.db)", dbURL)
			}
			return nil
		},
		Open: func(ctx context.Context, dbURL string) (store.Store, error) {
			return sqlite.Open(ctx, sqlitePath(dbURL))
		},
	})
	pg := Driver{
		Kind: Postgres,
		Open: func(ctx context.Context, dbURL string) (store.Store, error) {
			db, err := postgres.Open(ctx, dbURL)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", Redact(dbURL), err)
			}
			return db, nil
		},
	}
	Register("postgres", pg)
	Register("postgresql", pg)
}

// SQLiteURL returns the URL of the SQLite database at path.
func SQLiteURL(path string) string {
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	return "sqlite://" + filepath.ToSlash(path)
}

// driver returns the driver of dbURL, or an error naming the accepted forms.
func driver(dbURL string) (Driver, error) {
	scheme, _, ok := strings.Cut(dbURL, "://")
	if ok {
		if d, err := drivers.Lookup(scheme); err == nil {
			if d.Check != nil {
				if err := d.Check(dbURL); err != nil {
					return Driver{}, err
				}
			}
			return d, nil
		}
	}
	return Driver{}, fmt.Errorf("database URL %q: want sqlite:///path/to/aleph.db or postgres://user@host/dbname", Redact(dbURL))
}

// Kind returns SQLite or Postgres for a database URL, or an error naming
// the accepted forms.
func Kind(dbURL string) (string, error) {
	d, err := driver(dbURL)
	if err != nil {
		return "", err
	}
	return d.Kind, nil
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
	d, err := driver(dbURL)
	if err != nil {
		return nil, err
	}
	return d.Open(ctx, dbURL)
}

// Redact hides the password of a URL, for logs and errors.
func Redact(dbURL string) string {
	u, err := url.Parse(dbURL)
	if err != nil || u.User == nil {
		return dbURL
	}
	return u.Redacted()
}
