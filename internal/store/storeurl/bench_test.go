package storeurl

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/goaleph/goaleph/internal/store"
	"github.com/goaleph/goaleph/internal/store/pgtest"
	"github.com/goaleph/goaleph/message"
)

// BenchmarkApplyBatch measures the store side of the node's writer: one
// transaction per batch of new POSTs, with the calls the pipeline makes
// (duplicate probe, message row, post row). It reports µs per message for
// each backend; the PostgreSQL cluster is pgtest's (fsync off), so this is
// the database work without the disk.
func BenchmarkApplyBatch(b *testing.B) {
	for _, size := range []int{16, 128} {
		b.Run(fmt.Sprintf("sqlite/batch=%d", size), func(b *testing.B) {
			benchApply(b, SQLiteURL(filepath.Join(b.TempDir(), "aleph.db")), size)
		})
		b.Run(fmt.Sprintf("postgres/batch=%d", size), func(b *testing.B) {
			benchApply(b, pgtest.Start(b), size)
		})
	}
}

func benchApply(b *testing.B, url string, size int) {
	ctx := context.Background()
	db, err := Open(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	seq := 0
	next := func() (*store.Record, *store.Post) {
		seq++
		content := fmt.Sprintf(`{"type":"note","address":"0x%040d","content":{"body":"message %d"},"time":%d.5}`, seq%100, seq, 1700000000+seq)
		sum := sha256.Sum256([]byte(content))
		r := &store.Record{Message: message.Message{ItemHash: hex.EncodeToString(sum[:]), Type: message.TypePost, Chain: "ETH",
			Sender: fmt.Sprintf("0x%040d", seq%100), Signature: "0x" + hex.EncodeToString(sum[:]) + hex.EncodeToString(sum[:]),
			ItemType: message.ItemInline, ItemContent: content, Time: float64(1700000000+seq) + .5, Channel: "BENCH"},
			Size: int64(len(content)), ReceptionTime: float64(1700000000 + seq), Owner: fmt.Sprintf("0x%040d", seq%100), ContentType: "note"}
		p := &store.Post{ItemHash: r.ItemHash, Owner: r.Owner, Type: "note", Channel: r.Channel,
			Content: json.RawMessage(fmt.Sprintf(`{"body":"message %d"}`, seq)), CreationTime: r.Time}
		return r, p
	}
	b.ResetTimer()
	for b.Loop() {
		recs := make([]*store.Record, size)
		posts := make([]*store.Post, size)
		hashes := make([]string, size)
		for i := range recs {
			recs[i], posts[i] = next()
			hashes[i] = recs[i].ItemHash
		}
		err := db.Update(ctx, func(tx store.Tx) error {
			if p, ok := tx.(interface{ PreloadSeen([]string) error }); ok {
				if err := p.PreloadSeen(hashes); err != nil {
					return err
				}
			}
			for i, r := range recs {
				if _, err := tx.Seen(r.ItemHash); err != nil {
					return err
				}
				if _, err := tx.InsertMessage(r); err != nil {
					return err
				}
				if err := tx.InsertPost(posts[i]); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*size), "µs/msg")
}
