package sqlite

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/goaleph/goaleph/internal/store"
	"github.com/goaleph/goaleph/message"
)

// benchDir holds the 1M-message database of BenchmarkListMessages1M; it is
// filled once per test binary run and removed by TestMain.
var (
	benchOnce sync.Once
	benchDB   *DB
	benchDir  string
	benchErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if benchDB != nil {
		benchDB.Close()
	}
	if benchDir != "" {
		os.RemoveAll(benchDir)
	}
	os.Exit(code)
}

const (
	fillSenders  = 1000
	fillChannels = 50
)

func fillSender(i int) string  { return fmt.Sprintf("0x%040x", i%fillSenders) }
func fillChannel(i int) string { return fmt.Sprintf("CHANNEL-%02d", i%fillChannels) }

// fill inserts n processed POST messages in one transaction, spread over
// fillSenders senders and fillChannels channels, one second apart.
func fill(ctx context.Context, db *DB, n int) error {
	return db.Update(ctx, func(tx store.Tx) error {
		for i := 0; i < n; i++ {
			sender := fillSender(i * 7)
			content := fmt.Sprintf(`{"address":%q,"time":%d.5,"type":"bench","content":{"n":%d}}`, sender, 1600000000+i, i)
			sum := sha256.Sum256([]byte(content))
			r := &store.Record{
				Message: message.Message{
					Sender: sender, Chain: "ETH", Signature: "0x00", Type: message.TypePost, ItemType: message.ItemInline,
					ItemContent: content, ItemHash: hex.EncodeToString(sum[:]), Time: float64(1600000000+i) + 0.25,
					Channel: fillChannel(i),
				},
				Size: int64(len(content)), Status: store.StatusProcessed, ReceptionTime: float64(1600000000 + i),
				Owner: sender, ContentType: "bench",
			}
			if _, err := tx.InsertMessage(r); err != nil {
				return err
			}
		}
		return nil
	})
}

func openBench(b *testing.B) *DB {
	benchOnce.Do(func() {
		benchDir, benchErr = os.MkdirTemp("", "goaleph-bench-")
		if benchErr != nil {
			return
		}
		ctx := context.Background()
		benchDB, benchErr = Open(ctx, filepath.Join(benchDir, "aleph.db"))
		if benchErr != nil {
			return
		}
		benchErr = fill(ctx, benchDB, 1_000_000)
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return benchDB
}

// BenchmarkListMessages1M measures one page of 20 messages (with its
// total) over 1,000,000 messages: unfiltered, by sender, by channel.
func BenchmarkListMessages1M(b *testing.B) {
	db := openBench(b)
	ctx := context.Background()
	cases := []struct {
		name string
		f    store.MessageFilter
	}{
		{"unfiltered", store.MessageFilter{Pagination: 20, Page: 1}},
		{"address", store.MessageFilter{Pagination: 20, Page: 1, Addresses: []string{fillSender(123)}}},
		{"channel", store.MessageFilter{Pagination: 20, Page: 1, Channels: []string{fillChannel(7)}}},
		{"address_page3", store.MessageFilter{Pagination: 20, Page: 3, Addresses: []string{fillSender(123)}}},
		{"cursor_channel", store.MessageFilter{Pagination: 20, Channels: []string{fillChannel(7)}, Cursor: new(string)}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				p, err := db.ListMessages(ctx, c.f)
				if err != nil {
					b.Fatal(err)
				}
				if len(p.Records) != 20 {
					b.Fatalf("got %d records", len(p.Records))
				}
			}
		})
	}
}

// planQuerier records the query plan of every read it runs.
type planQuerier struct {
	querier
	t     *testing.T
	plans *[]string
}

func (p planQuerier) plan(ctx context.Context, q string, args []any) {
	rows, err := p.querier.QueryContext(ctx, "EXPLAIN QUERY PLAN "+q, args...)
	if err != nil {
		p.t.Fatalf("explain %s: %v", q, err)
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			p.t.Fatal(err)
		}
		lines = append(lines, detail)
	}
	*p.plans = append(*p.plans, q+"\n  => "+strings.Join(lines, "; "))
}

func (p planQuerier) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	p.plan(ctx, q, args)
	return p.querier.QueryContext(ctx, q, args...)
}

func (p planQuerier) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	p.plan(ctx, q, args)
	return p.querier.QueryRowContext(ctx, q, args...)
}

// TestQueryPlans checks that the list queries read through an index: a
// plain "SCAN messages" (or posts, aggregates) would read every row.
func TestQueryPlans(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "aleph.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := fill(ctx, db, 2000); err != nil {
		t.Fatal(err)
	}
	var plans []string
	r := reader{q: planQuerier{querier: db.read, t: t, plans: &plans}}
	cur := ""
	filters := []store.MessageFilter{
		{Pagination: 20, Page: 1},
		{Pagination: 20, Page: 2, SortAsc: true},
		{Pagination: 20, Page: 1, Addresses: []string{fillSender(1)}},
		{Pagination: 20, Page: 1, Addresses: []string{fillSender(1), fillSender(2)}},
		{Pagination: 20, Page: 1, Owners: []string{fillSender(1)}},
		{Pagination: 20, Page: 1, Channels: []string{fillChannel(1)}},
		{Pagination: 20, Page: 1, Types: []message.Type{message.TypePost}},
		{Pagination: 20, Page: 1, ContentTypes: []string{"bench"}},
		{Pagination: 20, Page: 1, Refs: []string{"x"}},
		{Pagination: 20, Page: 1, ContentKeys: []string{"x"}},
		{Pagination: 20, Page: 1, ContentHashes: []string{"x"}},
		{Pagination: 20, Page: 1, Hashes: []string{"x"}},
		{Pagination: 20, Page: 1, StartDate: 1600000100, EndDate: 1600000200},
		{Pagination: 20, Cursor: &cur},
		{Pagination: 20, Cursor: &cur, Channels: []string{fillChannel(3)}},
		{Pagination: 20, Page: 1, Statuses: []store.Status{store.StatusForgotten}},
	}
	for _, f := range filters {
		p, err := r.ListMessages(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		if f.Cursor != nil && p.NextCursor != "" {
			f.Cursor = &p.NextCursor
			if _, err := r.ListMessages(ctx, f); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := r.ListPosts(ctx, store.PostFilter{Pagination: 20, Page: 1, Addresses: []string{"a"}}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []store.PostFilter{
		{Pagination: 20, Page: 1},
		{Pagination: 20, Page: 1, SortAsc: true},
		{Pagination: 20, Page: 1, Types: []string{"t"}},
		{Pagination: 20, Page: 1, Channels: []string{"c"}},
		{Pagination: 20, Page: 1, Refs: []string{"r"}},
		{Pagination: 20, Page: 1, Hashes: []string{"h"}},
		{Pagination: 20, Page: 1, Addresses: []string{"a"}, Channels: []string{"c"}},
		{Pagination: 20, Cursor: &cur},
	} {
		if _, err := r.ListPosts(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []store.AggregateFilter{
		{Pagination: 20, Page: 1},
		{Pagination: 20, Page: 1, SortBy: "creation_time", SortAsc: true},
		{Pagination: 20, Page: 1, Keys: []string{"security"}},
		{Pagination: 20, Page: 1, Addresses: []string{"a"}},
	} {
		if _, err := r.ListAggregates(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.AddressStats(ctx, []string{fillSender(1)}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Channels(ctx); err != nil {
		t.Fatal(err)
	}
	for _, p := range plans {
		t.Log(p)
		for _, m := range fullScan.FindAllStringSubmatch(p, -1) {
			if m[2] == "" {
				t.Errorf("full scan of %s: %s", m[1], p)
			}
		}
	}
}

// fullScan matches a table scan in a query plan; without "USING" it reads
// every row of the table.
var fullScan = regexp.MustCompile(`SCAN (\w+)( USING)?`)
