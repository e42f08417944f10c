package sqlite

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/goaleph/goaleph/internal/store"
	"github.com/goaleph/goaleph/internal/store/storetest"
)

// TestStore runs the store conformance suite against a fresh database file.
func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		db, err := Open(context.Background(), filepath.Join(t.TempDir(), "aleph.db"))
		if err != nil {
			t.Fatal(err)
		}
		return db
	})
}
