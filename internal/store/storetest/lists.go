package storetest

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/goaleph/goaleph/internal/store"
	"github.com/goaleph/goaleph/message"
)

// corpus is a set of messages covering every filter of MessageFilter.
type corpus struct {
	post1, post2, amend, agg, store1, forget, prog, other *store.Record
	all                                                   []*store.Record
}

func newCorpus(t *testing.T, s store.Store) *corpus {
	c := &corpus{
		post1:  newRecord(msg{sender: "0xA", time: 100, channel: "blog", contentType: "article", ref: "topic", tags: []string{"go", "db"}, salt: "p1"}),
		post2:  newRecord(msg{sender: "0xB", owner: "0xA", time: 200, channel: "blog", contentType: "note", tags: []string{"rust"}, salt: "p2"}),
		amend:  newRecord(msg{sender: "0xA", time: 300, channel: "other", contentType: "amend", ref: "topic", chain: "SOL", salt: "am"}),
		agg:    newRecord(msg{typ: message.TypeAggregate, sender: "0xC", time: 400, key: "profile", salt: "ag"}),
		store1: newRecord(msg{typ: message.TypeStore, sender: "0xC", time: 500, fileHash: "filehash1", ref: "doc", payment: "hold", channel: "files", salt: "st"}),
		forget: newRecord(msg{typ: message.TypeForget, sender: "0xD", time: 600, salt: "fg"}),
		prog:   newRecord(msg{typ: message.TypeProgram, sender: "0xD", time: 700, payment: "credit", status: store.StatusRemoving, salt: "pr"}),
		other:  newRecord(msg{sender: "0xE", time: 800, contentType: "article", tags: []string{"db"}, nonInline: true, salt: "ot"}),
	}
	c.all = []*store.Record{c.post1, c.post2, c.amend, c.agg, c.store1, c.forget, c.prog, c.other}
	insert(t, s, c.all...)
	return c
}

func list(t *testing.T, s store.Store, f store.MessageFilter) *store.MessagePage {
	t.Helper()
	p, err := s.ListMessages(ctx, f)
	if err != nil {
		t.Fatalf("ListMessages(%+v): %v", f, err)
	}
	return p
}

func testListMessagesFilters(t *testing.T, s store.Store) {
	c := newCorpus(t, s)
	cases := []struct {
		name string
		f    store.MessageFilter
		want []*store.Record
	}{
		{"none", store.MessageFilter{}, c.all},
		{"hashes", store.MessageFilter{Hashes: recHashes(c.agg, c.forget, c.post1)}, []*store.Record{c.agg, c.forget, c.post1}},
		{"addresses", store.MessageFilter{Addresses: []string{"0xA", "0xD"}}, []*store.Record{c.post1, c.amend, c.forget, c.prog}},
		{"owners", store.MessageFilter{Owners: []string{"0xA"}}, []*store.Record{c.post1, c.post2, c.amend}},
		{"refs", store.MessageFilter{Refs: []string{"topic", "doc"}}, []*store.Record{c.post1, c.amend, c.store1}},
		{"contentHashes", store.MessageFilter{ContentHashes: []string{"filehash1"}}, []*store.Record{c.store1}},
		{"contentKeys", store.MessageFilter{ContentKeys: []string{"profile"}}, []*store.Record{c.agg}},
		{"contentTypes", store.MessageFilter{ContentTypes: []string{"article"}}, []*store.Record{c.post1, c.other}},
		{"chains", store.MessageFilter{Chains: []string{"SOL"}}, []*store.Record{c.amend}},
		{"channels", store.MessageFilter{Channels: []string{"blog", "files"}}, []*store.Record{c.post1, c.post2, c.store1}},
		{"types", store.MessageFilter{Types: []message.Type{message.TypeForget, message.TypeProgram}}, []*store.Record{c.forget, c.prog}},
		{"paymentTypes", store.MessageFilter{PaymentTypes: []string{"credit"}}, []*store.Record{c.prog}},
		{"tags", store.MessageFilter{Tags: []string{"db", "nope"}}, []*store.Record{c.post1, c.other}},
		{"tags rust", store.MessageFilter{Tags: []string{"rust"}}, []*store.Record{c.post2}},
		{"startDate", store.MessageFilter{StartDate: 500}, []*store.Record{c.store1, c.forget, c.prog, c.other}},
		{"endDate exclusive", store.MessageFilter{EndDate: 300}, []*store.Record{c.post1, c.post2}},
		{"date range", store.MessageFilter{StartDate: 200, EndDate: 500}, []*store.Record{c.post2, c.amend, c.agg}},
		{"combined", store.MessageFilter{Addresses: []string{"0xA"}, Channels: []string{"blog"}}, []*store.Record{c.post1}},
		{"no match", store.MessageFilter{Addresses: []string{"0xZ"}}, nil},
	}
	for _, tc := range cases {
		tc.f.Pagination, tc.f.Page = 20, 1
		p := list(t, s, tc.f)
		if !sameSet(hashes(p.Records), recHashes(tc.want...)) {
			t.Errorf("%s: got %v, want %v", tc.name, hashes(p.Records), recHashes(tc.want...))
		}
		if p.Total != len(tc.want) {
			t.Errorf("%s: total %d, want %d", tc.name, p.Total, len(tc.want))
		}
	}
	// Records come back whole.
	p := list(t, s, store.MessageFilter{Hashes: recHashes(c.other, c.prog), Pagination: 20, Page: 1})
	for _, r := range p.Records {
		want := c.other
		if r.ItemHash == c.prog.ItemHash {
			want = c.prog
		}
		checkRecord(t, &r, want)
	}
}

func testListMessagesOrder(t *testing.T, s store.Store) {
	// Three messages share a time: they are ordered by item_hash ascending
	// in both directions.
	var recs []*store.Record
	for i := range 3 {
		recs = append(recs, newRecord(msg{sender: "0xA", time: 50, contentType: "t", salt: fmt.Sprint("tie", i)}))
	}
	early := newRecord(msg{sender: "0xA", time: 10, contentType: "t", salt: "early"})
	late := newRecord(msg{sender: "0xA", time: 90.5, contentType: "t", salt: "late"})
	insert(t, s, append(recs, early, late)...)
	tied := recHashes(recs...)
	sort.Strings(tied)

	desc := list(t, s, store.MessageFilter{Pagination: 20, Page: 1})
	want := append(append([]string{late.ItemHash}, tied...), early.ItemHash)
	if !reflect.DeepEqual(hashes(desc.Records), want) {
		t.Errorf("newest first: got %v, want %v", hashes(desc.Records), want)
	}
	asc := list(t, s, store.MessageFilter{Pagination: 20, Page: 1, SortAsc: true})
	want = append(append([]string{early.ItemHash}, tied...), late.ItemHash)
	if !reflect.DeepEqual(hashes(asc.Records), want) {
		t.Errorf("oldest first: got %v, want %v", hashes(asc.Records), want)
	}
}

// manyRecords inserts n messages from sender at distinct times, with some
// ties, and returns them newest first (the default order).
func manyRecords(t *testing.T, s store.Store, n int, sender, channel string) []string {
	var recs []*store.Record
	for i := range n {
		recs = append(recs, newRecord(msg{sender: sender, channel: channel, time: float64(1000 + i/3), contentType: "t", salt: fmt.Sprint(sender, i)}))
	}
	insert(t, s, recs...)
	sort.Slice(recs, func(i, j int) bool {
		if recs[i].Time != recs[j].Time {
			return recs[i].Time > recs[j].Time
		}
		return recs[i].ItemHash < recs[j].ItemHash
	})
	return recHashes(recs...)
}

func testListMessagesPagination(t *testing.T, s store.Store) {
	all := manyRecords(t, s, 25, "0xA", "c1")
	manyRecords(t, s, 4, "0xB", "c2")
	for _, tc := range []struct {
		f         store.MessageFilter
		want      []string
		wantTotal int
	}{
		{store.MessageFilter{Addresses: []string{"0xA"}, Pagination: 10, Page: 1}, all[:10], 25},
		{store.MessageFilter{Addresses: []string{"0xA"}, Pagination: 10, Page: 2}, all[10:20], 25},
		{store.MessageFilter{Addresses: []string{"0xA"}, Pagination: 10, Page: 3}, all[20:], 25},
		{store.MessageFilter{Addresses: []string{"0xA"}, Pagination: 10, Page: 4}, nil, 25},
		{store.MessageFilter{Addresses: []string{"0xA"}, Pagination: 5, Page: 5}, all[20:], 25},
		{store.MessageFilter{Addresses: []string{"0xA"}, Pagination: 0, Page: 1}, all, 25},
		{store.MessageFilter{Pagination: 10, Page: 1}, nil, 29},
		{store.MessageFilter{Pagination: 10, Page: 3}, nil, 29},
		{store.MessageFilter{Pagination: 10, Page: 4}, nil, 29},
		{store.MessageFilter{Pagination: 0}, nil, 29},
	} {
		p := list(t, s, tc.f)
		if p.Total != tc.wantTotal {
			t.Errorf("%+v: total %d, want %d", tc.f, p.Total, tc.wantTotal)
		}
		if tc.want != nil && !reflect.DeepEqual(hashes(p.Records), tc.want) {
			t.Errorf("%+v: got %v, want %v", tc.f, hashes(p.Records), tc.want)
		}
		if tc.f.Addresses == nil && tc.f.Pagination > 0 {
			off := (tc.f.Page - 1) * tc.f.Pagination
			if want := max(0, min(tc.f.Pagination, tc.wantTotal-off)); len(p.Records) != want {
				t.Errorf("%+v: %d records, want %d", tc.f, len(p.Records), want)
			}
		}
	}
	// Page 0 is page 1.
	if p := list(t, s, store.MessageFilter{Addresses: []string{"0xA"}, Pagination: 10}); !reflect.DeepEqual(hashes(p.Records), all[:10]) {
		t.Errorf("page 0: %v", hashes(p.Records))
	}
}

// decodeCursorPayload returns the JSON object inside a cursor.
func decodeCursorPayload(t *testing.T, cursor string) map[string]any {
	t.Helper()
	if strings.ContainsAny(cursor, "=+/") {
		t.Errorf("cursor %q is not unpadded base64url", cursor)
	}
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		t.Fatalf("cursor %q: %v", cursor, err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("cursor payload %s: %v", raw, err)
	}
	return m
}

func testListMessagesCursor(t *testing.T, s store.Store) {
	all := manyRecords(t, s, 25, "0xA", "c1")
	manyRecords(t, s, 5, "0xB", "c2")
	for _, asc := range []bool{false, true} {
		want := all
		if asc {
			want = make([]string, len(all))
			// Ascending time, ties still by ascending hash.
			byTime := map[string]float64{}
			for _, h := range all {
				r := get(s.Message(ctx, h)).must(t)
				byTime[h] = r.Time
			}
			copy(want, all)
			sort.Slice(want, func(i, j int) bool {
				if byTime[want[i]] != byTime[want[j]] {
					return byTime[want[i]] < byTime[want[j]]
				}
				return want[i] < want[j]
			})
		}
		var got []string
		cur := ""
		for pages := 0; ; pages++ {
			if pages > 10 {
				t.Fatal("cursor pagination does not end")
			}
			p := list(t, s, store.MessageFilter{Addresses: []string{"0xA"}, Pagination: 7, SortAsc: asc, Cursor: strp(cur)})
			if p.Total != -1 {
				t.Errorf("cursor mode total = %d, want -1", p.Total)
			}
			got = append(got, hashes(p.Records)...)
			if p.NextCursor == "" {
				if len(p.Records) == 7 && len(got) < len(want) {
					t.Errorf("no next cursor after a full page")
				}
				break
			}
			m := decodeCursorPayload(t, p.NextCursor)
			last := p.Records[len(p.Records)-1]
			if len(m) != 2 || m["h"] != last.ItemHash {
				t.Errorf("cursor payload %v, want h=%s and t", m, last.ItemHash)
			}
			if ts, _ := m["t"].(string); !strings.HasSuffix(ts, "+00:00") || !strings.HasPrefix(ts, "1970-01-01T00:") {
				t.Errorf("cursor time %q is not an ISO UTC time", m["t"])
			}
			cur = p.NextCursor
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("asc=%v: cursor pages gave %v, want %v", asc, got, want)
		}
	}
	// A page that ends exactly at the last row has no next cursor.
	p := list(t, s, store.MessageFilter{Addresses: []string{"0xB"}, Pagination: 5, Cursor: strp("")})
	if len(p.Records) != 5 || p.NextCursor != "" {
		t.Errorf("exact last page: %d records, next %q", len(p.Records), p.NextCursor)
	}
	for _, bad := range []string{"%%%", base64.RawURLEncoding.EncodeToString([]byte(`{"h":"x"}`)),
		base64.RawURLEncoding.EncodeToString([]byte(`"x"`))} {
		_, err := s.ListMessages(ctx, store.MessageFilter{Pagination: 5, Cursor: strp(bad)})
		if !errors.Is(err, store.ErrBadCursor) {
			t.Errorf("cursor %q: got %v, want store.ErrBadCursor", bad, err)
		}
	}
}

func testListMessagesStatuses(t *testing.T, s store.Store) {
	processed := newRecord(msg{sender: "0xA", time: 10, channel: "c", contentType: "t", salt: "p"})
	removing := newRecord(msg{sender: "0xA", time: 20, contentType: "t", salt: "r", status: store.StatusRemoving})
	gone1 := newRecord(msg{typ: message.TypeStore, sender: "0xA", time: 30, channel: "c", fileHash: "f", payment: "credit", salt: "g1"})
	gone2 := newRecord(msg{sender: "0xB", time: 40, contentType: "t", salt: "g2"})
	insert(t, s, processed, removing, gone1, gone2)
	f1 := sha("forget")
	update(t, s, func(tx store.Tx) error {
		if err := tx.Forget(gone1.ItemHash, f1, 100); err != nil {
			return err
		}
		return tx.Forget(gone2.ItemHash, f1, 100)
	})
	page := func(st ...store.Status) *store.MessagePage {
		return list(t, s, store.MessageFilter{Statuses: st, Pagination: 20, Page: 1})
	}
	if p := page(); !sameSet(hashes(p.Records), recHashes(processed, removing)) || p.Total != 2 {
		t.Errorf("default statuses: %v total %d", hashes(p.Records), p.Total)
	}
	if p := page(store.StatusProcessed); !sameSet(hashes(p.Records), recHashes(processed)) || p.Total != 1 {
		t.Errorf("processed: %v total %d", hashes(p.Records), p.Total)
	}
	if p := page(store.StatusRemoving); !sameSet(hashes(p.Records), recHashes(removing)) || p.Total != 1 {
		t.Errorf("removing: %v total %d", hashes(p.Records), p.Total)
	}
	if p := page(store.StatusPending); len(p.Records) != 0 || p.Total != 0 {
		t.Errorf("pending: %v total %d", hashes(p.Records), p.Total)
	}
	p := page(store.StatusForgotten)
	if len(p.Records) != 0 || len(p.Forgotten) != 2 || p.Total != 2 {
		t.Fatalf("forgotten: %d records, %+v, total %d", len(p.Records), p.Forgotten, p.Total)
	}
	if p.Forgotten[0].ItemHash != gone2.ItemHash || p.Forgotten[1].ItemHash != gone1.ItemHash {
		t.Errorf("forgotten not newest first: %+v", p.Forgotten)
	}
	if fg := p.Forgotten[1]; fg.Sender != "0xA" || fg.Type != message.TypeStore || fg.PaymentType != "credit" ||
		!reflect.DeepEqual(fg.ForgottenBy, []string{f1}) || fg.Channel != "c" || fg.Time != 30 {
		t.Errorf("forgotten skeleton: %+v", fg)
	}
	for _, tc := range []struct {
		f    store.MessageFilter
		want []string
	}{
		{store.MessageFilter{Addresses: []string{"0xB"}}, []string{gone2.ItemHash}},
		{store.MessageFilter{Channels: []string{"c"}}, []string{gone1.ItemHash}},
		{store.MessageFilter{Types: []message.Type{message.TypeStore}}, []string{gone1.ItemHash}},
		{store.MessageFilter{Hashes: []string{gone2.ItemHash, processed.ItemHash}}, []string{gone2.ItemHash}},
		{store.MessageFilter{StartDate: 35}, []string{gone2.ItemHash}},
		// Content filters match nothing: the content is gone.
		{store.MessageFilter{ContentTypes: []string{"t"}}, nil},
	} {
		tc.f.Statuses, tc.f.Pagination, tc.f.Page = []store.Status{store.StatusForgotten}, 20, 1
		p := list(t, s, tc.f)
		var got []string
		for _, fg := range p.Forgotten {
			got = append(got, fg.ItemHash)
		}
		if !sameSet(got, tc.want) || p.Total != len(tc.want) {
			t.Errorf("forgotten %+v: got %v total %d, want %v", tc.f, got, p.Total, tc.want)
		}
	}
	// Cursor over forgotten skeletons.
	p = list(t, s, store.MessageFilter{Statuses: []store.Status{store.StatusForgotten}, Pagination: 1, Cursor: strp("")})
	if len(p.Forgotten) != 1 || p.NextCursor == "" {
		t.Fatalf("forgotten cursor page 1: %+v", p)
	}
	p2 := list(t, s, store.MessageFilter{Statuses: []store.Status{store.StatusForgotten}, Pagination: 1, Cursor: &p.NextCursor})
	if len(p2.Forgotten) != 1 || p2.Forgotten[0].ItemHash == p.Forgotten[0].ItemHash || p2.NextCursor != "" {
		t.Errorf("forgotten cursor page 2: %+v", p2)
	}
}

// postFixture stores original posts with their messages and amends.
type postFixture struct {
	o1, o2, o3, a1, a2 *store.Record
}

func newPostFixture(t *testing.T, s store.Store) *postFixture {
	f := &postFixture{
		o1: newRecord(msg{sender: "0xA", time: 100, channel: "blog", contentType: "article", ref: "r1", salt: "o1"}),
		o2: newRecord(msg{sender: "0xB", time: 200, channel: "news", contentType: "note", salt: "o2"}),
		o3: newRecord(msg{sender: "0xA", time: 300, channel: "blog", contentType: "article", salt: "o3"}),
	}
	f.a1 = newRecord(msg{sender: "0xA", time: 400, contentType: "amend", ref: f.o1.ItemHash, salt: "a1"})
	f.a2 = newRecord(msg{sender: "0xA", time: 500, contentType: "amend", ref: f.o1.ItemHash, salt: "a2"})
	insert(t, s, f.o1, f.o2, f.o3, f.a1, f.a2)
	update(t, s, func(tx store.Tx) error {
		for _, p := range []*store.Post{
			{ItemHash: f.o1.ItemHash, Owner: "0xA", Type: "article", Ref: "r1", Channel: "blog", Content: json.RawMessage(`{"v":1,"tags":["x"]}`), CreationTime: 100},
			{ItemHash: f.o2.ItemHash, Owner: "0xB", Type: "note", Channel: "news", Content: json.RawMessage(`{"v":2,"tags":["y"]}`), CreationTime: 200},
			{ItemHash: f.o3.ItemHash, Owner: "0xA", Type: "article", Channel: "blog", Content: json.RawMessage(`{"v":3}`), CreationTime: 300},
			// The amends' content times differ from their envelope times;
			// a2 has the later content time and is the latest amend.
			{ItemHash: f.a1.ItemHash, Owner: "0xA", Type: "amend", Ref: f.o1.ItemHash, Amends: f.o1.ItemHash, Content: json.RawMessage(`{"v":11}`), CreationTime: 250},
			{ItemHash: f.a2.ItemHash, Owner: "0xA", Type: "amend", Ref: f.o1.ItemHash, Amends: f.o1.ItemHash, Content: json.RawMessage(`{"v":12,"tags":["z"]}`), CreationTime: 350},
		} {
			if err := tx.InsertPost(p); err != nil {
				return err
			}
		}
		return tx.SetLatestAmend(f.o1.ItemHash, f.a2.ItemHash)
	})
	return f
}

func postHashes(ps []store.MergedPost) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Original.ItemHash
	}
	return out
}

func testListPosts(t *testing.T, s store.Store) {
	f := newPostFixture(t, s)
	all := get(s.ListPosts(ctx, store.PostFilter{Pagination: 20, Page: 1})).must(t)
	// Ordered by last update: o1 (amended at 350), o3 (300), o2 (200).
	if want := recHashes(f.o1, f.o3, f.o2); !reflect.DeepEqual(postHashes(all.Posts), want) || all.Total != 3 {
		t.Fatalf("posts: %v total %d, want %v", postHashes(all.Posts), all.Total, want)
	}
	m := all.Posts[0]
	checkRecord(t, &m.Original, f.o1)
	if m.Post.ItemHash != f.o1.ItemHash || m.Post.LatestAmend != f.a2.ItemHash || !jsonEqual(m.Post.Content, []byte(`{"v":1,"tags":["x"]}`)) {
		t.Errorf("original post row: %+v", m.Post)
	}
	if m.Latest == nil || m.LatestPost == nil {
		t.Fatalf("amended post without its latest amend: %+v", m)
	}
	checkRecord(t, m.Latest, f.a2)
	if m.LatestPost.ItemHash != f.a2.ItemHash || m.LatestPost.CreationTime != 350 || !jsonEqual(m.LatestPost.Content, []byte(`{"v":12,"tags":["z"]}`)) {
		t.Errorf("latest amend row: %+v", *m.LatestPost)
	}
	if p := all.Posts[1]; p.Latest != nil || p.LatestPost != nil {
		t.Errorf("post never amended has a latest amend: %+v", p)
	}
	asc := get(s.ListPosts(ctx, store.PostFilter{Pagination: 20, Page: 1, SortAsc: true})).must(t)
	if want := recHashes(f.o2, f.o3, f.o1); !reflect.DeepEqual(postHashes(asc.Posts), want) {
		t.Errorf("oldest first: %v, want %v", postHashes(asc.Posts), want)
	}
	for _, tc := range []struct {
		name string
		f    store.PostFilter
		want []*store.Record
	}{
		{"hashes of originals", store.PostFilter{Hashes: recHashes(f.o1, f.o2)}, []*store.Record{f.o1, f.o2}},
		{"hash of an amend", store.PostFilter{Hashes: recHashes(f.a1)}, nil},
		{"addresses", store.PostFilter{Addresses: []string{"0xA"}}, []*store.Record{f.o1, f.o3}},
		{"refs", store.PostFilter{Refs: []string{"r1"}}, []*store.Record{f.o1}},
		{"types", store.PostFilter{Types: []string{"note"}}, []*store.Record{f.o2}},
		{"amend type", store.PostFilter{Types: []string{"amend"}}, nil},
		{"channels", store.PostFilter{Channels: []string{"blog"}}, []*store.Record{f.o1, f.o3}},
		// Tags are read from the latest version.
		{"tags of the latest amend", store.PostFilter{Tags: []string{"z"}}, []*store.Record{f.o1}},
		{"tags of a replaced version", store.PostFilter{Tags: []string{"x"}}, nil},
		{"tags", store.PostFilter{Tags: []string{"y", "z"}}, []*store.Record{f.o1, f.o2}},
		// Dates apply to the last update.
		{"startDate", store.PostFilter{StartDate: 300}, []*store.Record{f.o1, f.o3}},
		{"endDate", store.PostFilter{EndDate: 300}, []*store.Record{f.o2}},
	} {
		tc.f.Pagination, tc.f.Page = 20, 1
		p := get(s.ListPosts(ctx, tc.f)).must(t)
		if !sameSet(postHashes(p.Posts), recHashes(tc.want...)) || p.Total != len(tc.want) {
			t.Errorf("%s: %v total %d, want %v", tc.name, postHashes(p.Posts), p.Total, recHashes(tc.want...))
		}
	}
}

func testListPostsPagination(t *testing.T, s store.Store) {
	update(t, s, func(tx store.Tx) error {
		for i := range 12 {
			r := newRecord(msg{sender: "0xA", time: float64(i), contentType: "t", salt: fmt.Sprint(i)})
			if _, err := tx.InsertMessage(r); err != nil {
				return err
			}
			if err := tx.InsertPost(&store.Post{ItemHash: r.ItemHash, Owner: "0xA", Type: "t", CreationTime: float64(i / 2)}); err != nil {
				return err
			}
		}
		return nil
	})
	// Newest first; equal times ordered by original hash.
	p := get(s.ListPosts(ctx, store.PostFilter{Pagination: 0})).must(t)
	if len(p.Posts) != 12 || p.Total != 12 {
		t.Fatalf("all posts: %d total %d", len(p.Posts), p.Total)
	}
	for i := 1; i < len(p.Posts); i++ {
		a, b := p.Posts[i-1].Post, p.Posts[i].Post
		if a.CreationTime < b.CreationTime || a.CreationTime == b.CreationTime && a.ItemHash > b.ItemHash {
			t.Fatalf("posts out of order at %d: %+v then %+v", i, a, b)
		}
	}
	order := postHashes(p.Posts)
	p1 := get(s.ListPosts(ctx, store.PostFilter{Pagination: 5, Page: 1})).must(t)
	p3 := get(s.ListPosts(ctx, store.PostFilter{Pagination: 5, Page: 3})).must(t)
	if !reflect.DeepEqual(postHashes(p1.Posts), order[:5]) || p1.Total != 12 {
		t.Errorf("page 1: %v total %d", postHashes(p1.Posts), p1.Total)
	}
	if !reflect.DeepEqual(postHashes(p3.Posts), order[10:]) || p3.Total != 12 {
		t.Errorf("page 3: %v total %d", postHashes(p3.Posts), p3.Total)
	}
	var got []string
	cur := ""
	for range 10 {
		p := get(s.ListPosts(ctx, store.PostFilter{Pagination: 5, Cursor: strp(cur)})).must(t)
		got = append(got, postHashes(p.Posts)...)
		if p.NextCursor == "" {
			break
		}
		m := decodeCursorPayload(t, p.NextCursor)
		if m["h"] != p.Posts[len(p.Posts)-1].Original.ItemHash || m["t"] == nil || len(m) != 2 {
			t.Errorf("posts cursor payload %v", m)
		}
		cur = p.NextCursor
	}
	if !reflect.DeepEqual(got, order) {
		t.Errorf("posts by cursor %v, want %v", got, order)
	}
	_, err := s.ListPosts(ctx, store.PostFilter{Pagination: 5, Cursor: strp("??")})
	if !errors.Is(err, store.ErrBadCursor) {
		t.Errorf("bad posts cursor: %v", err)
	}
}

func testListAggregates(t *testing.T, s store.Store) {
	aggs := []*store.Aggregate{
		{Owner: "0xA", Key: "profile", Content: json.RawMessage(`{"a":1}`), CreationTime: 10, LastRevisionHash: sha("1"), LastRevisionTime: 40},
		{Owner: "0xA", Key: "security", Content: json.RawMessage(`{}`), CreationTime: 20, LastRevisionHash: sha("2"), LastRevisionTime: 30},
		{Owner: "0xB", Key: "profile", Content: json.RawMessage(`{"b":1}`), CreationTime: 30, LastRevisionHash: sha("3"), LastRevisionTime: 20},
		{Owner: "0xC", Key: "settings", Content: json.RawMessage(`[]`), CreationTime: 40, LastRevisionHash: sha("4"), LastRevisionTime: 10},
		{Owner: "0xD", Key: "profile", Content: json.RawMessage(`{}`), CreationTime: 40, LastRevisionHash: sha("5"), LastRevisionTime: 10},
	}
	update(t, s, func(tx store.Tx) error {
		for _, a := range aggs {
			if err := tx.PutAggregate(a); err != nil {
				return err
			}
		}
		return nil
	})
	ids := func(p *store.AggregatePage) []string {
		var out []string
		for _, a := range p.Aggregates {
			out = append(out, a.Owner+"/"+a.Key)
		}
		return out
	}
	p := get(s.ListAggregates(ctx, store.AggregateFilter{Pagination: 20, Page: 1})).must(t)
	if got := ids(p); len(got) != 5 || got[0] != "0xA/profile" || got[1] != "0xA/security" || got[2] != "0xB/profile" || p.Total != 5 {
		t.Errorf("by last modification: %v total %d", got, p.Total)
	}
	first := p.Aggregates[0]
	if !jsonEqual(first.Content, aggs[0].Content) || first.CreationTime != 10 || first.LastRevisionHash != aggs[0].LastRevisionHash {
		t.Errorf("aggregate row: %+v", first)
	}
	p = get(s.ListAggregates(ctx, store.AggregateFilter{Pagination: 20, Page: 1, SortBy: "creation_time", SortAsc: true})).must(t)
	if got := ids(p); len(got) != 5 || got[0] != "0xA/profile" || got[2] != "0xB/profile" {
		t.Errorf("by creation time, oldest first: %v", got)
	}
	for _, tc := range []struct {
		f    store.AggregateFilter
		want []string
	}{
		{store.AggregateFilter{Keys: []string{"profile"}}, []string{"0xA/profile", "0xB/profile", "0xD/profile"}},
		{store.AggregateFilter{Addresses: []string{"0xA", "0xC"}}, []string{"0xA/profile", "0xA/security", "0xC/settings"}},
		{store.AggregateFilter{Addresses: []string{"0xA"}, Keys: []string{"security"}}, []string{"0xA/security"}},
	} {
		tc.f.Pagination, tc.f.Page = 20, 1
		p := get(s.ListAggregates(ctx, tc.f)).must(t)
		if !sameSet(ids(p), tc.want) || p.Total != len(tc.want) {
			t.Errorf("%+v: %v total %d, want %v", tc.f, ids(p), p.Total, tc.want)
		}
	}
	p = get(s.ListAggregates(ctx, store.AggregateFilter{Pagination: 2, Page: 2})).must(t)
	if len(p.Aggregates) != 2 || p.Total != 5 {
		t.Errorf("page 2 of 2: %v total %d", ids(p), p.Total)
	}
	all := ids(get(s.ListAggregates(ctx, store.AggregateFilter{})).must(t))
	for _, asc := range []bool{false, true} {
		want := all
		if asc {
			want = ids(get(s.ListAggregates(ctx, store.AggregateFilter{SortAsc: true})).must(t))
		}
		var got []string
		cur := ""
		for range 10 {
			p := get(s.ListAggregates(ctx, store.AggregateFilter{Pagination: 2, SortAsc: asc, Cursor: strp(cur)})).must(t)
			got = append(got, ids(p)...)
			if p.NextCursor == "" {
				break
			}
			m := decodeCursorPayload(t, p.NextCursor)
			last := p.Aggregates[len(p.Aggregates)-1]
			if len(m) != 3 || m["k"] != last.Key || m["o"] != last.Owner || m["t"] == nil {
				t.Errorf("aggregate cursor payload %v", m)
			}
			cur = p.NextCursor
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("asc=%v: cursor pages %v, want %v", asc, got, want)
		}
	}
}

func testAddressStats(t *testing.T, s store.Store) {
	insert(t, s,
		newRecord(msg{sender: "0xA", time: 1, contentType: "t", salt: "1"}),
		newRecord(msg{sender: "0xA", time: 2, contentType: "t", salt: "2"}),
		newRecord(msg{typ: message.TypeAggregate, sender: "0xA", time: 3, key: "k"}),
		newRecord(msg{typ: message.TypeStore, sender: "0xB", time: 4, fileHash: "f"}),
		newRecord(msg{typ: message.TypeForget, sender: "0xB", time: 5}),
		newRecord(msg{typ: message.TypeInstance, sender: "0xC", time: 6}),
	)
	zero := func() map[string]int {
		return map[string]int{"messages": 0, "aggregate": 0, "forget": 0, "instance": 0, "post": 0, "program": 0, "store": 0}
	}
	wantA, wantB := zero(), zero()
	wantA["messages"], wantA["post"], wantA["aggregate"] = 3, 2, 1
	wantB["messages"], wantB["store"], wantB["forget"] = 2, 1, 1
	got := get(s.AddressStats(ctx, []string{"0xA", "0xB", "0xNone"})).must(t)
	if !reflect.DeepEqual(got, map[string]map[string]int{"0xA": wantA, "0xB": wantB}) {
		t.Errorf("AddressStats = %v", got)
	}
	all := get(s.AddressStats(ctx, nil)).must(t)
	if len(all) != 3 || all["0xC"]["instance"] != 1 || all["0xC"]["messages"] != 1 {
		t.Errorf("AddressStats(all) = %v", all)
	}
}

func testChannels(t *testing.T, s store.Store) {
	if got := get(s.Channels(ctx)).must(t); len(got) != 0 {
		t.Errorf("channels of an empty store: %v", got)
	}
	insert(t, s,
		newRecord(msg{sender: "0xA", time: 1, channel: "b", contentType: "t", salt: "1"}),
		newRecord(msg{sender: "0xA", time: 2, channel: "a", contentType: "t", salt: "2"}),
		newRecord(msg{sender: "0xA", time: 3, channel: "b", contentType: "t", salt: "3"}),
		newRecord(msg{sender: "0xA", time: 4, contentType: "t", salt: "4"}),
	)
	if got := get(s.Channels(ctx)).must(t); !reflect.DeepEqual(got, []string{"a", "b"}) {
		t.Errorf("Channels = %v, want [a b]", got)
	}
}
