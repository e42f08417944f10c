package ethreader

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/goaleph/goaleph/internal/store/sqlite"
)

// StoreHeights keeps a chain's height in the node's database, across a
// reopening of it.
func TestStoreHeights(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "aleph.db")
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	h := StoreHeights{Store: db}
	if _, ok, err := h.SyncHeight(ctx, "ETH"); err != nil || ok {
		t.Fatalf("SyncHeight of a new store: ok=%v err=%v", ok, err)
	}
	if err := h.SetSyncHeight(ctx, "ETH", 41); err != nil {
		t.Fatal(err)
	}
	if err := h.SetSyncHeight(ctx, "ETH", 42); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if db, err = sqlite.Open(ctx, path); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if v, ok, err := (StoreHeights{Store: db}).SyncHeight(ctx, "ETH"); err != nil || !ok || v != 42 {
		t.Fatalf("SyncHeight after reopening = %d, %v, %v; want 42", v, ok, err)
	}
}
