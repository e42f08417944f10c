package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/goaleph/goaleph/internal/store"
	"github.com/goaleph/goaleph/internal/store/pgtest"
	"github.com/goaleph/goaleph/message"
)

func bulkRecord(i int) *store.Record {
	content := fmt.Sprintf(`{"type":"note","address":"0xA","content":{"n":%d},"time":%d}`, i, 1700000000+i)
	sum := sha256.Sum256([]byte(content))
	return &store.Record{
		Message: message.Message{ItemHash: hex.EncodeToString(sum[:]), Type: message.TypePost, Chain: "ETH",
			Sender: "0xA", Signature: "0xsig", ItemType: message.ItemInline, ItemContent: content,
			Time: float64(1700000000 + i), Channel: "TEST"},
		Size: int64(len(content)), ReceptionTime: float64(1700000000 + i), Owner: "0xA", ContentType: "note",
	}
}

func bulkPost(r *store.Record, body string) *store.Post {
	return &store.Post{ItemHash: r.ItemHash, Owner: r.Owner, Type: "note", Channel: r.Channel,
		Content: json.RawMessage(body), CreationTime: r.Time}
}

// TestBulkWrites checks that a batch's rows go out as one statement per
// table, that reads inside the transaction see queued writes, and that the
// order of dependent writes is kept.
func TestBulkWrites(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, pgtest.Start(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	const n = 100
	recs := make([]*store.Record, n)
	hashes := make([]string, n)
	for i := range recs {
		recs[i] = bulkRecord(i)
		hashes[i] = recs[i].ItemHash
	}
	err = db.Update(ctx, func(stx store.Tx) error {
		t := stx.(*tx)
		if err := t.PreloadSeen(hashes); err != nil {
			return err
		}
		for _, r := range recs {
			if s, err := t.Seen(r.ItemHash); err != nil || s != (store.Seen{}) {
				return fmt.Errorf("Seen(%s) = %+v, %v before insert", r.ItemHash, s, err)
			}
			ok, err := t.InsertMessage(r)
			if err != nil || !ok {
				return fmt.Errorf("InsertMessage = %v, %v", ok, err)
			}
			if err := t.InsertPost(bulkPost(r, `{"v":1}`)); err != nil {
				return err
			}
		}
		if len(t.queued) != 2 {
			return fmt.Errorf("%d statements queued for %d messages and posts, want 2 (one per table)", len(t.queued), n)
		}
		if s, _ := t.Seen(hashes[0]); !s.Processed || s.Signature != "0xsig" {
			return fmt.Errorf("Seen after a queued insert = %+v", s)
		}
		// A read sends the queue first.
		got, err := t.Message(ctx, hashes[n-1])
		if err != nil {
			return fmt.Errorf("read of a queued message: %w", err)
		}
		if got.ItemContent != recs[n-1].ItemContent {
			return fmt.Errorf("read back %q", got.ItemContent)
		}
		if len(t.queued) != 0 {
			return fmt.Errorf("queue not sent by a read")
		}
		// Dependent post writes keep their order: insert, delete, insert
		// again, and a second version of a row queued in the same group.
		x := bulkRecord(n)
		for _, step := range []func() error{
			func() error { return t.InsertPost(bulkPost(x, `{"v":1}`)) },
			func() error { return t.DeletePost(x.ItemHash) },
			func() error { return t.InsertPost(bulkPost(x, `{"v":2}`)) },
			func() error { return t.InsertPost(bulkPost(recs[0], `{"v":3}`)) },
			func() error { return t.InsertPost(bulkPost(recs[0], `{"v":4}`)) },
			func() error { return t.SetLatestAmend(recs[1].ItemHash, x.ItemHash) },
		} {
			if err := step(); err != nil {
				return err
			}
		}
		for hash, want := range map[string]string{x.ItemHash: `{"v":2}`, recs[0].ItemHash: `{"v":4}`} {
			p, err := t.Post(hash)
			if err != nil {
				return err
			}
			if string(p.Content) != want {
				return fmt.Errorf("post %s content %s, want %s", hash[:8], p.Content, want)
			}
		}
		if p, err := t.Post(recs[1].ItemHash); err != nil || p.LatestAmend != x.ItemHash {
			return fmt.Errorf("latest amend %+v, %v", p, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	c, err := db.Counts(ctx)
	if err != nil || c.Messages != n {
		t.Fatalf("Counts = %+v, %v; want %d messages", c, err, n)
	}
}

// TestBulkConflict: when another writer inserted a message the
// transaction knew absent, the transaction fails and stores nothing.
func TestBulkConflict(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, pgtest.Start(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	a, b := bulkRecord(1), bulkRecord(2)
	err = db.Update(ctx, func(stx store.Tx) error {
		t := stx.(*tx)
		if err := t.PreloadSeen([]string{a.ItemHash, b.ItemHash}); err != nil {
			return err
		}
		// Another writer, outside this transaction.
		if _, err := db.pool.Exec(ctx, `INSERT INTO messages (item_hash, type, chain, sender, signature, item_type, item_content,
			time, size, status, reception_time, owner) VALUES ($1, 'POST', 'ETH', '0xA', '0xother', 'inline', $2, 1, 1, 'processed', 1, '0xA')`,
			b.ItemHash, b.ItemContent); err != nil {
			return err
		}
		for _, r := range []*store.Record{a, b} {
			if _, err := t.InsertMessage(r); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "another writer") {
		t.Fatalf("Update = %v, want the conflict reported", err)
	}
	if _, err := db.Message(ctx, a.ItemHash); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("message of the failed transaction: %v, want not found", err)
	}
	if c, _ := db.Counts(ctx); c.Messages != 0 {
		t.Errorf("counter moved: %d", c.Messages)
	}
}
