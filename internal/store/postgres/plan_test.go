package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/goaleph/goaleph/internal/store"
	"github.com/goaleph/goaleph/internal/store/pgtest"
	"github.com/goaleph/goaleph/message"
)

// planQuerier records the plan of every read before running it.
type planQuerier struct {
	conn  *pgx.Conn
	t     *testing.T
	plans *[]string
}

func (p planQuerier) plan(ctx context.Context, q string, args []any) {
	rows, err := p.conn.Query(ctx, "EXPLAIN "+q, args...)
	if err != nil {
		p.t.Fatalf("explain %s: %v", q, err)
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			p.t.Fatal(err)
		}
		lines = append(lines, strings.TrimSpace(line))
	}
	*p.plans = append(*p.plans, q+"\n  => "+strings.Join(lines, "; "))
}

func (p planQuerier) Exec(ctx context.Context, q string, args ...any) (pgconn.CommandTag, error) {
	return p.conn.Exec(ctx, q, args...)
}

func (p planQuerier) Query(ctx context.Context, q string, args ...any) (pgx.Rows, error) {
	p.plan(ctx, q, args)
	return p.conn.Query(ctx, q, args...)
}

func (p planQuerier) QueryRow(ctx context.Context, q string, args ...any) pgx.Row {
	p.plan(ctx, q, args)
	return p.conn.QueryRow(ctx, q, args...)
}

func planSender(i int) string  { return fmt.Sprintf("0x%040x", i%100) }
func planChannel(i int) string { return fmt.Sprintf("CHANNEL-%02d", i%20) }

// TestQueryPlans checks that every list query of the API can be served by
// an index: with sequential scans disabled, the planner still picks one
// only when no index fits, so a "Seq Scan on" a big table means a missing
// index.
func TestQueryPlans(t *testing.T) {
	ctx := context.Background()
	url := pgtest.Start(t)
	db, err := Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(ctx, func(tx store.Tx) error {
		for i := range 2000 {
			sender := planSender(i * 7)
			content := fmt.Sprintf(`{"address":%q,"time":%d.5,"type":"bench","content":{"n":%d,"tags":["t%d"]}}`, sender, 1600000000+i, i, i%5)
			sum := sha256.Sum256([]byte(content))
			r := &store.Record{
				Message: message.Message{Sender: sender, Chain: "ETH", Signature: "0x00", Type: message.TypePost,
					ItemType: message.ItemInline, ItemContent: content, ItemHash: hex.EncodeToString(sum[:]),
					Time: float64(1600000000+i) + 0.25, Channel: planChannel(i)},
				Size: int64(len(content)), Status: store.StatusProcessed, ReceptionTime: float64(1600000000 + i),
				Owner: sender, ContentType: "bench",
			}
			if _, err := tx.InsertMessage(r); err != nil {
				return err
			}
			if err := tx.InsertPost(&store.Post{ItemHash: r.ItemHash, Owner: sender, Type: "bench", Channel: r.Channel,
				Content: []byte(fmt.Sprintf(`{"n":%d}`, i)), CreationTime: r.Time}); err != nil {
				return err
			}
			if i%10 == 0 {
				if err := tx.PutAggregate(&store.Aggregate{Owner: sender, Key: fmt.Sprintf("k%d", i), Content: []byte(`{"a":1}`),
					CreationTime: r.Time, LastRevisionHash: r.ItemHash, LastRevisionTime: r.Time}); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.RuntimeParams["enable_seqscan"] = "off"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "ANALYZE"); err != nil {
		t.Fatal(err)
	}
	var plans []string
	r := reader{q: planQuerier{conn: conn, t: t, plans: &plans}}
	cur := ""
	for _, f := range []store.MessageFilter{
		{Pagination: 20, Page: 1},
		{Pagination: 20, Page: 2, SortAsc: true},
		{Pagination: 20, Page: 1, Addresses: []string{planSender(1)}},
		{Pagination: 20, Page: 1, Addresses: []string{planSender(1), planSender(2)}},
		{Pagination: 20, Page: 1, Owners: []string{planSender(1)}},
		{Pagination: 20, Page: 1, Channels: []string{planChannel(1)}},
		{Pagination: 20, Page: 1, Types: []message.Type{message.TypePost}},
		{Pagination: 20, Page: 1, ContentTypes: []string{"bench"}},
		{Pagination: 20, Page: 1, Refs: []string{"x"}},
		{Pagination: 20, Page: 1, ContentKeys: []string{"x"}},
		{Pagination: 20, Page: 1, ContentHashes: []string{"x"}},
		{Pagination: 20, Page: 1, Hashes: []string{"x"}},
		{Pagination: 20, Page: 1, StartDate: 1600000100, EndDate: 1600000200},
		{Pagination: 20, Cursor: &cur},
		{Pagination: 20, Cursor: &cur, Channels: []string{planChannel(3)}},
		{Pagination: 20, Page: 1, Statuses: []store.Status{store.StatusForgotten}},
	} {
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
	for _, f := range []store.PostFilter{
		{Pagination: 20, Page: 1},
		{Pagination: 20, Page: 1, SortAsc: true},
		{Pagination: 20, Page: 1, Addresses: []string{planSender(1)}},
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
	if _, err := r.Aggregates(ctx, planSender(1), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := r.AddressStats(ctx, []string{planSender(1)}); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := r.AddressFiles(ctx, planSender(1), 20, 1, false); err != nil {
		t.Fatal(err)
	}
	for _, p := range plans {
		t.Log(p)
		if m := seqScan.FindStringSubmatch(p); m != nil {
			t.Errorf("sequential scan of %s: %s", m[1], p)
		}
	}
}

// seqScan matches a sequential scan of a table that grows with the
// network (small tables such as counters may be scanned).
var seqScan = regexp.MustCompile(`Seq Scan on (messages|posts|aggregates|aggregate_elements|forgotten_messages|file_pins|files)\b`)
