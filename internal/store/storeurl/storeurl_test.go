package storeurl

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goaleph/goaleph/internal/store/pgtest"
)

func TestKind(t *testing.T) {
	for _, tc := range []struct{ url, kind string }{
		{"sqlite:///var/lib/aleph/aleph.db", SQLite},
		{"sqlite://data/aleph.db", SQLite},
		{"postgres://aleph@localhost/aleph", Postgres},
		{"postgresql://aleph:secret@db:5432/aleph?sslmode=disable", Postgres},
	} {
		k, err := Kind(tc.url)
		if err != nil || k != tc.kind {
			t.Errorf("Kind(%q) = %q, %v; want %q", tc.url, k, err, tc.kind)
		}
	}
	for _, bad := range []string{"", "sqlite://", "mysql://x/y", "/var/lib/aleph.db", "postgres:secret@host"} {
		if _, err := Kind(bad); err == nil {
			t.Errorf("Kind(%q): no error", bad)
		}
	}
	if _, err := Kind("mysql://u:topsecret@h/db"); err == nil || strings.Contains(err.Error(), "topsecret") {
		t.Errorf("error should hide the password: %v", err)
	}
}

func TestSQLitePaths(t *testing.T) {
	if got := sqlitePath("sqlite:///var/lib/aleph.db"); got != filepath.FromSlash("/var/lib/aleph.db") {
		t.Errorf("absolute path: %q", got)
	}
	if got := sqlitePath("sqlite://data/aleph.db"); got != filepath.FromSlash("data/aleph.db") {
		t.Errorf("relative path: %q", got)
	}
	u := SQLiteURL("data/aleph.db")
	if !strings.HasPrefix(u, "sqlite:///") || !filepath.IsAbs(sqlitePath(u)) {
		t.Errorf("SQLiteURL(relative) = %q, want an absolute sqlite URL", u)
	}
}

func TestOpenBoth(t *testing.T) {
	ctx := context.Background()
	for _, u := range []string{SQLiteURL(filepath.Join(t.TempDir(), "sub", "aleph.db")), pgtest.Start(t)} {
		db, err := Open(ctx, u)
		if err != nil {
			t.Fatalf("Open(%s): %v", Redact(u), err)
		}
		c, err := db.Counts(ctx)
		if err != nil || c.Messages != 0 {
			t.Errorf("%s: Counts = %+v, %v", Redact(u), c, err)
		}
		db.Close()
	}
}

func TestRedact(t *testing.T) {
	if got := Redact("postgres://aleph:hunter2@db/aleph"); strings.Contains(got, "hunter2") {
		t.Errorf("Redact kept the password: %s", got)
	}
	if got := Redact("sqlite:///x.db"); got != "sqlite:///x.db" {
		t.Errorf("Redact changed a URL without password: %s", got)
	}
}
