package main

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/goaleph/goaleph/internal/store"
	"github.com/goaleph/goaleph/internal/store/sqlite"
	"github.com/goaleph/goaleph/message"
)

// TestFill fills a small data dir and reads it back through the store: the
// rows must look like the node's own.
func TestFill(t *testing.T) {
	dir := t.TempDir()
	cfg := config{dir: dir, n: 250, senders: 7, channels: 3, batch: 100, seed: 1}
	if err := run(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(dir, "aleph.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	c, err := db.Counts(ctx)
	if err != nil || c.Messages != 250 || c.Pending != 0 {
		t.Fatalf("counts %+v, %v", c, err)
	}
	page, err := db.ListMessages(ctx, store.MessageFilter{Pagination: 0})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Records) != 250 {
		t.Fatalf("%d records", len(page.Records))
	}
	times := map[float64]bool{}
	senders, channels := map[string]bool{}, map[string]bool{}
	for _, r := range page.Records {
		if r.ItemHash != message.InlineHash(r.ItemContent) {
			t.Errorf("%s: hash is not sha256(item_content)", r.ItemHash)
		}
		raw, err := r.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		m, err := message.Parse(raw)
		if err != nil {
			t.Fatalf("%s: %v", r.ItemHash, err)
		}
		if _, err := message.ParseContent(m, []byte(m.ItemContent)); err != nil {
			t.Errorf("%s: %v", r.ItemHash, err)
		}
		if r.Status != store.StatusProcessed || r.Owner != r.Sender || r.Type != message.TypePost {
			t.Errorf("%s: status %s owner %s type %s", r.ItemHash, r.Status, r.Owner, r.Type)
		}
		if times[r.Time] {
			t.Errorf("%s: time %v used twice", r.ItemHash, r.Time)
		}
		times[r.Time] = true
		senders[r.Sender], channels[r.Channel] = true, true
	}
	if len(senders) != 7 || len(channels) != 3 {
		t.Errorf("%d senders, %d channels; want 7, 3", len(senders), len(channels))
	}
	if err := run(ctx, cfg); err == nil {
		t.Error("a second fill of the same dir succeeded")
	}
}
