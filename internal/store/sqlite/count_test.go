package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/goaleph/goaleph/internal/store"
	"github.com/goaleph/goaleph/message"
)

func insertPosts(t *testing.T, db *DB, channel string, from, n int) {
	t.Helper()
	err := db.Update(context.Background(), func(tx store.Tx) error {
		for i := from; i < from+n; i++ {
			content := fmt.Sprintf(`{"address":"0xA","time":%d,"type":"t","content":%d}`, i, i)
			r := &store.Record{Message: message.Message{Sender: "0xA", Chain: "ETH", Signature: "0x", Type: message.TypePost,
				ItemType: message.ItemInline, ItemContent: content, ItemHash: message.InlineHash(content), Time: float64(i), Channel: channel},
				Status: store.StatusProcessed, Owner: "0xA", ContentType: "t", Size: int64(len(content))}
			if _, err := tx.InsertMessage(r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestCountCacheInvalidation: a cached filtered total is never served after
// a write that changes it.
func TestCountCacheInvalidation(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "a.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	insertPosts(t, db, "C", 0, 30)
	insertPosts(t, db, "D", 100, 5)
	f := store.MessageFilter{Channels: []string{"C"}, Pagination: 10, Page: 1}
	for round, want := range []int{30, 30} { // the second read comes from the cache
		page, err := db.ListMessages(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		if page.Total != want {
			t.Fatalf("round %d: total %d, want %d", round, page.Total, want)
		}
	}
	insertPosts(t, db, "C", 1000, 3)
	page, err := db.ListMessages(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	if page.Total != 33 {
		t.Fatalf("total after a write %d, want 33", page.Total)
	}
	// Another filter is cached separately.
	page, err = db.ListMessages(ctx, store.MessageFilter{Channels: []string{"D"}, Pagination: 2, Page: 1})
	if err != nil || page.Total != 5 {
		t.Fatalf("channel D total %d, %v", page.Total, err)
	}
}

// TestPreparedCacheBound: distinct query texts beyond the bound still run,
// unprepared, and the cache stops growing.
func TestPreparedCacheBound(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "a.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(ctx, func(tx store.Tx) error {
		for i := range maxPrepared + 50 {
			keys := make([]string, i%700+1)
			for j := range keys {
				keys[j] = fmt.Sprintf("k%d-%d", i, j)
			}
			if _, err := tx.Aggregates(ctx, "0xA", keys); err != nil {
				return fmt.Errorf("query %d: %w", i, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(db.cache); n > maxPrepared {
		t.Fatalf("cache holds %d statements, bound %d", n, maxPrepared)
	}
}
