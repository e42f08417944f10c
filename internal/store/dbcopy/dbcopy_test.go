package dbcopy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/goaleph/goaleph/internal/store"
	"github.com/goaleph/goaleph/internal/store/pgtest"
	"github.com/goaleph/goaleph/internal/store/postgres"
	"github.com/goaleph/goaleph/internal/store/sqlite"
	"github.com/goaleph/goaleph/internal/store/storeurl"
	"github.com/goaleph/goaleph/message"
)

// fill writes rows of every table with the edge cases of the conversions:
// NULLs, both booleans, JSON text that jsonb would rewrite, times whose last
// bits matter, pending ids with gaps, VM volumes in a given order.
func fill(t *testing.T, s store.Store) {
	t.Helper()
	ctx := context.Background()
	odd := math.Nextafter(1700000000.123456, 2e9) // needs all 52 bits
	msg := func(i int, typ message.Type, channel string) *store.Record {
		content := fmt.Sprintf(`{"address":"0xA","time":%d.5,"type":"note","content":{"z":1, "a":[1,2,{"k":"v"}]}}`, i)
		return &store.Record{
			Message: message.Message{Chain: "ETH", Sender: "0xA", Type: typ, ItemType: message.ItemInline,
				ItemContent: content, ItemHash: message.InlineHash(content), Time: odd + float64(i), Channel: channel,
				Signature: "0xsig"},
			Size: int64(len(content)), Status: store.StatusProcessed, ReceptionTime: odd + float64(i) + 0.1,
			Owner: "0xA", ContentType: "note",
		}
	}
	var pending []*store.Pending
	for i := range 5 {
		m := msg(100+i, message.TypePost, "")
		pending = append(pending, &store.Pending{Message: &m.Message, ReceptionTime: odd, NextAttempt: odd + 1, Origin: "http", Retries: i})
	}
	if err := s.AddPending(ctx, pending); err != nil {
		t.Fatal(err)
	}
	err := s.Update(ctx, func(tx store.Tx) error {
		// ids 1..5, then 2 and 4 gone: the copy keeps 1, 3, 5.
		if err := tx.DeletePending(pending[1].ID, pending[3].ID); err != nil {
			return err
		}
		inline := msg(1, message.TypePost, "")   // channel NULL, content NULL (inline)
		stored := msg(2, message.TypePost, "CH") // non-inline: content column set
		stored.ItemType, stored.ItemContent = message.ItemStorage, ""
		stored.Content = json.RawMessage(`{"time":2.5,  "address":"0xA","type":"note","content":{"b":true,"a":null}}`)
		stored.PaymentType = "hold"
		for _, r := range []*store.Record{inline, stored} {
			if _, err := tx.InsertMessage(r); err != nil {
				return err
			}
		}
		if err := tx.InsertPost(&store.Post{ItemHash: inline.ItemHash, Owner: "0xA", Type: "note", Content: json.RawMessage(`{"z":1, "a":[1,2]}`), CreationTime: odd}); err != nil {
			return err
		}
		if err := tx.InsertPost(&store.Post{ItemHash: stored.ItemHash, Owner: "0xA", Type: "amend", Ref: inline.ItemHash, Amends: inline.ItemHash, Channel: "CH", CreationTime: odd + 1}); err != nil {
			return err
		}
		if err := tx.SetLatestAmend(inline.ItemHash, stored.ItemHash); err != nil {
			return err
		}
		if err := tx.Reject(&store.Rejected{ItemHash: "r1", Message: json.RawMessage(`{"x": 1}`), ErrorCode: message.CodeInvalidSignature, ReceptionTime: odd}); err != nil {
			return err
		}
		if err := tx.Reject(&store.Rejected{ItemHash: "r2", Message: json.RawMessage(`{"x":2}`), ErrorCode: message.CodePermissionDenied, Details: json.RawMessage(`{"errors":["no", "way"]}`), ReceptionTime: odd}); err != nil {
			return err
		}
		f := msg(3, message.TypePost, "CH")
		if _, err := tx.InsertMessage(f); err != nil {
			return err
		}
		if err := tx.Forget(f.ItemHash, "forget1", odd+5); err != nil {
			return err
		}
		if err := tx.Forget(f.ItemHash, "forget2", odd+6); err != nil {
			return err
		}
		if err := tx.InsertAggregateElement(&store.AggregateElement{ItemHash: "ag1", Owner: "0xA", Key: "profile", Content: json.RawMessage(`{"name":"a", "age":3}`), CreationTime: odd}); err != nil {
			return err
		}
		if err := tx.PutAggregate(&store.Aggregate{Owner: "0xA", Key: "profile", Content: json.RawMessage(`{"name":"a","age":3}`), CreationTime: odd, LastRevisionHash: "ag1", LastRevisionTime: odd}); err != nil {
			return err
		}
		if err := tx.UpsertFile(&store.File{Hash: "f1", Size: 1 << 40, Type: "file"}); err != nil {
			return err
		}
		if err := tx.AddPin(&store.Pin{FileHash: "f1", Type: store.PinMessage, Owner: "0xA", ItemHash: stored.ItemHash, Ref: "r", Created: odd}); err != nil {
			return err
		}
		if err := tx.AddPin(&store.Pin{FileHash: "f1", Type: store.PinGracePeriod, Created: odd, DeleteBy: odd + 86400}); err != nil {
			return err
		}
		if err := tx.UpsertTag(&store.FileTag{Tag: "0xA/r", Owner: "0xA", FileHash: "f1", LastUpdated: odd}); err != nil {
			return err
		}
		if err := tx.InsertVM(&store.VM{ItemHash: "vm1", Owner: "0xA", Type: message.TypeProgram, AllowAmend: true, Volumes: []string{"z", "a", "m"}}); err != nil {
			return err
		}
		return tx.InsertVM(&store.VM{ItemHash: "vm2", Owner: "0xA", Type: message.TypeInstance, Replaces: "vm1", PaymentType: "superfluid", Volumes: []string{"b"}})
	})
	if err != nil {
		t.Fatal(err)
	}
}

// dump reads every table of the database at url, in a stable order.
func dump(t *testing.T, url string) map[string][][]any {
	t.Helper()
	ctx := context.Background()
	s, err := storeurl.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	db, err := wrap(s)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := db.snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer snap.close()
	out := map[string][][]any{}
	for i := range tables {
		it, err := snap.rows(ctx, &tables[i])
		if err != nil {
			t.Fatal(err)
		}
		for it.Next() {
			row, err := it.Row()
			if err != nil {
				t.Fatal(err)
			}
			out[tables[i].name] = append(out[tables[i].name], append([]any(nil), row...))
		}
		if err := it.Err(); err != nil {
			t.Fatal(err)
		}
		it.Close()
		if !tables[i].ordered {
			rows := out[tables[i].name]
			key := func(r []any) string { return fmt.Sprint(r...) }
			for a := 1; a < len(rows); a++ { // insertion sort: few rows
				for b := a; b > 0 && key(rows[b]) < key(rows[b-1]); b-- {
					rows[b], rows[b-1] = rows[b-1], rows[b]
				}
			}
		}
	}
	return out
}

// compare checks two dumps equal: times to the bit, JSON to the byte.
func compare(t *testing.T, a, b map[string][][]any) {
	t.Helper()
	for _, tb := range tables {
		ra, rb := a[tb.name], b[tb.name]
		if len(ra) != len(rb) {
			t.Errorf("%s: %d rows vs %d", tb.name, len(ra), len(rb))
			continue
		}
		for i := range ra {
			for j, c := range tb.cols {
				va, vb := ra[i][j], rb[i][j]
				if fa, ok := va.(float64); ok {
					if fb, ok := vb.(float64); !ok || math.Float64bits(fa) != math.Float64bits(fb) {
						t.Errorf("%s row %d %s: %v vs %v (bits)", tb.name, i, c.name, va, vb)
					}
					continue
				}
				if !reflect.DeepEqual(va, vb) {
					t.Errorf("%s row %d %s: %#v vs %#v", tb.name, i, c.name, va, vb)
				}
			}
		}
	}
}

func TestCopyBothWays(t *testing.T) {
	ctx := context.Background()
	cluster := pgtest.StartCluster(t)
	pgURL := cluster.NewDatabase(t)
	dir := t.TempDir()
	srcURL := storeurl.SQLiteURL(filepath.Join(dir, "src.db"))
	s, err := storeurl.Open(ctx, srcURL)
	if err != nil {
		t.Fatal(err)
	}
	fill(t, s)
	s.Close()
	orig := dump(t, srcURL)

	var calls []string
	res, err := Copy(ctx, srcURL, pgURL, Options{Progress: func(table string, done, total int64) {
		calls = append(calls, fmt.Sprintf("%s %d/%d", table, done, total))
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Tables) != len(tables) {
		t.Fatalf("result has %d tables", len(res.Tables))
	}
	want := map[string]int64{"messages": 2, "counters": 1, "rejected_messages": 2, "forgotten_messages": 1,
		"pending_messages": 3, "posts": 2, "aggregate_elements": 1, "aggregates": 1, "files": 1, "file_pins": 2,
		"file_tags": 1, "vms": 2, "vm_volumes": 4}
	for _, c := range res.Tables {
		if c.Rows != want[c.Table] {
			t.Errorf("%s: %d rows, want %d", c.Table, c.Rows, want[c.Table])
		}
	}
	if !strings.Contains(strings.Join(calls, ";"), "vm_volumes 4/4") || !strings.HasPrefix(calls[0], "messages 0/2") {
		t.Errorf("progress calls: %v", calls)
	}
	onPG := dump(t, pgURL)
	compare(t, orig, onPG)

	// JSON text is kept byte for byte both ways.
	back := storeurl.SQLiteURL(filepath.Join(dir, "back.db"))
	if _, err := Copy(ctx, pgURL, back, Options{}); err != nil {
		t.Fatal(err)
	}
	compare(t, onPG, dump(t, back))
	compare(t, orig, dump(t, back))

	// The stores read the copies as the original.
	for _, u := range []string{pgURL, back} {
		s, err := storeurl.Open(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		err = s.Update(ctx, func(tx store.Tx) error {
			v, err := tx.VM("vm1")
			if err != nil {
				return err
			}
			if !v.AllowAmend || !reflect.DeepEqual(v.Volumes, []string{"z", "a", "m"}) {
				t.Errorf("%s: vm1 = %+v", storeurl.Redact(u), v)
			}
			v, err = tx.VM("vm2")
			if err != nil {
				return err
			}
			if v.AllowAmend || v.Replaces != "vm1" {
				t.Errorf("vm2 = %+v", v)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		c, err := s.Counts(ctx)
		if err != nil || c.Messages != 2 || c.Pending != 3 {
			t.Errorf("counts %+v, %v", c, err)
		}
		st, err := s.Status(ctx, "r2")
		if err != nil || st.Rejected == nil || string(st.Rejected.Details) != `{"errors":["no", "way"]}` {
			t.Errorf("rejected r2: %+v, %v", st, err)
		}
		if st, err := s.Status(ctx, "r1"); err != nil || st.Rejected.Details != nil && !bytes.Equal(st.Rejected.Details, []byte("null")) {
			t.Errorf("rejected r1 details %q, %v", st.Rejected.Details, err)
		}
		// New pending rows get ids after the copied ones.
		m := message.Message{Chain: "ETH", Sender: "0xB", Type: message.TypePost, ItemType: message.ItemInline,
			ItemContent: `{}`, ItemHash: message.InlineHash(`{}`), Signature: "0x"}
		p := &store.Pending{Message: &m, Origin: "test"}
		if err := s.AddPending(ctx, []*store.Pending{p}); err != nil {
			t.Fatal(err)
		}
		if p.ID <= pending(orig) {
			t.Errorf("%s: new pending id %d, copied ids up to %d", storeurl.Redact(u), p.ID, pending(orig))
		}
		s.Close()
	}
}

// pending returns the largest pending id of a dump.
func pending(d map[string][][]any) int64 {
	var m int64
	for _, r := range d["pending_messages"] {
		m = max(m, r[0].(int64))
	}
	return m
}

func TestCopyRefuses(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	pgURL := pgtest.Start(t)
	srcURL := storeurl.SQLiteURL(filepath.Join(dir, "src.db"))
	s, err := storeurl.Open(ctx, srcURL)
	if err != nil {
		t.Fatal(err)
	}
	fill(t, s)
	s.Close()
	if _, err := Copy(ctx, srcURL, pgURL, Options{}); err != nil {
		t.Fatal(err)
	}
	// A second copy into the filled database is refused, then forced.
	if _, err := Copy(ctx, srcURL, pgURL, Options{}); !errors.Is(err, ErrNotEmpty) || !strings.Contains(err.Error(), "messages: 2 rows") {
		t.Errorf("copy into a full database: %v", err)
	}
	res, err := Copy(ctx, srcURL, pgURL, Options{Force: true})
	if err != nil || res.Rows != 23 {
		t.Fatalf("forced copy: %+v, %v", res, err)
	}
	other := storeurl.SQLiteURL(filepath.Join(dir, "other.db"))
	if _, err := Copy(ctx, pgURL, other, Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := Copy(ctx, pgURL, other, Options{}); !errors.Is(err, ErrNotEmpty) {
		t.Errorf("copy into a full SQLite database: %v", err)
	}
	if _, err := Copy(ctx, pgURL, other, Options{Force: true}); err != nil {
		t.Errorf("forced copy into SQLite: %v", err)
	}
	compare(t, dump(t, pgURL), dump(t, other))

	for _, tc := range []struct{ from, to, want string }{
		{srcURL, srcURL, "same database"},
		{srcURL, "sqlite://" + filepath.Join(dir, ".", "src.db"), "same database"},
		{"mysql://u:hunter2@h/db", pgURL, "source: database URL"},
		{srcURL, "mysql://u:hunter2@h/db", "destination: database URL"},
		{storeurl.SQLiteURL(filepath.Join(dir, "missing.db")), pgURL, "does not exist"},
	} {
		_, err := Copy(ctx, tc.from, tc.to, Options{})
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("Copy(%s, %s): %v, want %q", tc.from, tc.to, err, tc.want)
		}
	}
}

// TestIndexesRebuilt checks that the copy leaves every index of the
// migrations in place (they are dropped while the rows go in).
func TestIndexesRebuilt(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	pgURL, pgEmpty := func() (string, string) { c := pgtest.StartCluster(t); return c.NewDatabase(t), c.NewDatabase(t) }()
	srcURL := storeurl.SQLiteURL(filepath.Join(dir, "src.db"))
	s, err := storeurl.Open(ctx, srcURL)
	if err != nil {
		t.Fatal(err)
	}
	fill(t, s)
	s.Close()
	back := storeurl.SQLiteURL(filepath.Join(dir, "back.db"))
	for _, c := range [][2]string{{srcURL, pgURL}, {pgURL, back}} {
		if _, err := Copy(ctx, c[0], c[1], Options{}); err != nil {
			t.Fatal(err)
		}
	}
	fresh := storeurl.SQLiteURL(filepath.Join(dir, "fresh.db"))
	for _, pair := range [][2]string{{fresh, back}, {pgEmpty, pgURL}} {
		want, got := indexes(t, pair[0]), indexes(t, pair[1])
		if len(want) < 20 || !reflect.DeepEqual(want, got) {
			t.Errorf("indexes after the copy:\n%v\nwant\n%v", got, want)
		}
	}
}

// indexes lists the definitions of the indexes of a database.
func indexes(t *testing.T, url string) []string {
	t.Helper()
	ctx := context.Background()
	s, err := storeurl.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var out []string
	switch db := s.(type) {
	case *sqlite.DB:
		rows, err := db.ReadDB().QueryContext(ctx, `SELECT sql FROM sqlite_schema WHERE type = 'index' AND sql IS NOT NULL ORDER BY name`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var d string
			rows.Scan(&d)
			out = append(out, d)
		}
	case *postgres.DB:
		rows, err := db.Pool().Query(ctx, `SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema() ORDER BY indexname`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var d string
			rows.Scan(&d)
			out = append(out, d)
		}
	}
	return out
}
