package postgres

import (
	"context"
	"testing"

	"github.com/goaleph/goaleph/internal/store"
	"github.com/goaleph/goaleph/internal/store/pgtest"
	"github.com/goaleph/goaleph/internal/store/storetest"
)

// TestStore runs the store conformance suite, each subtest on a fresh
// database of one throwaway cluster.
func TestStore(t *testing.T) {
	cluster := pgtest.StartCluster(t)
	storetest.Run(t, func(t *testing.T) store.Store {
		db, err := Open(context.Background(), cluster.NewDatabase(t))
		if err != nil {
			t.Fatal(err)
		}
		return db
	})
}
