package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/goaleph/goaleph/internal/store"
	"github.com/goaleph/goaleph/message"
)

var listedKeys = []string{"item_hash", "type", "chain", "sender", "signature", "item_type", "item_content", "content",
	"time", "channel", "size", "confirmations", "confirmed"}

func TestListMessagesShape(t *testing.T) {
	e := newEnv(t)
	post := newRec(rec{sender: "0xA", time: 1700000000.123, channel: "blog", ptype: "note", salt: "a&b"})
	stored := newRec(rec{sender: "0xB", time: 1700000001, ptype: "note", storage: true, salt: "s"})
	e.insert(post, stored)
	body := e.getJSON("/api/v0/messages.json")
	wantKeys(t, "messages.json", body, "messages", "pagination_per_page", "pagination_page", "pagination_total", "pagination_item")
	if str(t, field(t, body, "pagination_item")) != "messages" || num(t, field(t, body, "pagination_total")) != 2 ||
		num(t, field(t, body, "pagination_page")) != 1 || num(t, field(t, body, "pagination_per_page")) != 20 {
		t.Errorf("pagination fields: %s", body)
	}
	msgs := items(t, body, "messages")
	if len(msgs) != 2 {
		t.Fatalf("%d messages", len(msgs))
	}
	// Newest first: the storage message, then the post.
	s, p := msgs[0], msgs[1]
	for _, m := range msgs {
		wantKeys(t, "message", m, listedKeys...)
	}
	if str(t, field(t, p, "item_hash")) != post.ItemHash || str(t, field(t, p, "item_content")) != post.ItemContent {
		t.Errorf("post fields: %s", p)
	}
	// The content is the stored JSON, byte for byte (spaces and "&" kept).
	if got := field(t, p, "content"); !bytes.Equal(got, []byte(post.ItemContent)) {
		t.Errorf("content re-encoded:\n got %s\nwant %s", got, post.ItemContent)
	}
	if got := string(field(t, p, "time")); got != "1700000000.123" {
		t.Errorf("time %s, want 1700000000.123", got)
	}
	if got := string(field(t, s, "time")); got != "1700000001.0" {
		t.Errorf("integral time %s, want a float 1700000001.0", got)
	}
	for k, want := range map[string]string{"item_content": "null", "channel": "null", "confirmations": "[]", "confirmed": "false", "item_type": `"storage"`} {
		if got := string(field(t, s, k)); got != want {
			t.Errorf("storage message %s = %s, want %s", k, got, want)
		}
	}
	if got := string(field(t, p, "channel")); got != `"blog"` {
		t.Errorf("channel = %s", got)
	}
	if num(t, field(t, p, "size")) != float64(post.Size) || str(t, field(t, p, "signature")) != post.Signature {
		t.Errorf("size/signature: %s", p)
	}
	// excludeContent and contentFormat.
	body = e.getJSON("/api/v0/messages.json?excludeContent=true")
	for _, m := range items(t, body, "messages") {
		for _, k := range keys(t, m) {
			if k == "content" {
				t.Errorf("excludeContent kept content: %s", m)
			}
		}
	}
	body = e.getJSON("/api/v0/messages.json?contentFormat=headers&hashes=" + post.ItemHash)
	if got := field(t, items(t, body, "messages")[0], "content"); string(got) != `{"address":"0xA","type":"note"}` {
		t.Errorf("headers content %s", got)
	}
}

func TestListMessagesFilters(t *testing.T) {
	e := newEnv(t)
	p1 := newRec(rec{sender: "0xA", time: 10, channel: "blog", ptype: "note", ref: "r1", tags: []string{"x", "y"}, salt: "1"})
	p2 := newRec(rec{sender: "0xB", owner: "0xA", time: 20, channel: "news", ptype: "article", chain: "SOL", salt: "2"})
	agg := newRec(rec{typ: message.TypeAggregate, sender: "0xC", time: 30, key: "profile", salt: "3"})
	st := newRec(rec{typ: message.TypeStore, sender: "0xC", time: 40, fileHash: hashOf("file"), payment: "hold", salt: "4"})
	fg := newRec(rec{typ: message.TypeForget, sender: "0xD", time: 50, salt: "5"})
	e.insert(p1, p2, agg, st, fg)
	cases := map[string][]*store.Record{
		"":                                 {fg, st, agg, p2, p1},
		"addresses=0xA,0xD":                {fg, p1},
		"addresses[]=0xA&addresses[]=0xB":  {p2, p1},
		"owners=0xA":                       {p2, p1},
		"msgType=POST":                     {p2, p1},
		"msgTypes=AGGREGATE,STORE":         {st, agg},
		"msgType=POST&msgTypes=POST,STORE": {p2, p1},
		"msgType=FORGET&msgTypes=POST":     {},
		"channels=news,blog":               {p2, p1},
		"chains=SOL":                       {p2},
		"refs=r1":                          {p1},
		"contentTypes=article":             {p2},
		"contentKeys=profile":              {agg},
		"contentHashes=" + hashOf("file"):  {st},
		"hashes=" + agg.ItemHash + "," + p1.ItemHash: {agg, p1},
		"tags=y,z":                              {p1},
		"paymentTypes=hold":                     {st},
		"startDate=20&endDate=40":               {agg, p2},
		"sortOrder=1&startDate=30":              {agg, st, fg},
		"sortBy=tx-time&addresses=0xC":          {st, agg},
		"endBlock=100":                          {},
		"msgStatuses=processed,removing":        {fg, st, agg, p2, p1},
		"msgStatuses=removed":                   {},
		"unknown=1&hashes%5B%5D=" + p1.ItemHash: {p1},
	}
	for q, want := range cases {
		body := e.getJSON("/api/v0/messages.json?" + q)
		var got []string
		for _, m := range items(t, body, "messages") {
			got = append(got, str(t, field(t, m, "item_hash")))
		}
		var wantHashes []string
		for _, r := range want {
			wantHashes = append(wantHashes, r.ItemHash)
		}
		if !reflect.DeepEqual(got, wantHashes) {
			t.Errorf("?%s: got %v, want %v", q, got, wantHashes)
		}
		if total := num(t, field(t, body, "pagination_total")); int(total) != len(want) {
			t.Errorf("?%s: total %v, want %d", q, total, len(want))
		}
	}
}

func TestListMessagesInvalid(t *testing.T) {
	e := newEnv(t)
	for q, code := range map[string]int{
		"msgType=BAD":                     422,
		"msgTypes=POST,NOPE":              422,
		"chains=NOPE":                     422,
		"pagination=-1":                   422,
		"pagination=ten":                  422,
		"page=0":                          422,
		"sortOrder=2":                     422,
		"sortBy=size":                     422,
		"startDate=yesterday":             422,
		"startDate=-5":                    422,
		"startDate=20&endDate=10":         422,
		"hashes=nothex":                   422,
		"contentHashes=zz":                422,
		"paymentTypes=cash":               422,
		"msgStatuses=bogus":               422,
		"msgStatuses=pending":             400,
		"msgStatuses=processed,forgotten": 400,
		"cursor=%25%25":                   422,
		"cursor=eyJoIjoieCJ9":             422, // {"h":"x"}: no time
		"cursor=&sortBy=tx-time":          422,
		"excludeContent=maybe":            422,
		"contentFormat=xml":               422,
		"startBlock=10&endBlock=5":        422,
	} {
		e.wantStatus("/api/v0/messages.json?"+q, code)
	}
	e.wantStatus("/api/v0/messages/page/abc.json", 404)
}

func TestListMessagesPagination(t *testing.T) {
	e := newEnv(t)
	var all []string
	for i := range 25 {
		r := newRec(rec{sender: "0xA", time: float64(100 + i/2), ptype: "t", salt: fmt.Sprint(i)})
		e.insert(r)
		all = append(all, r.ItemHash)
	}
	list := func(target string) ([]string, []byte) {
		body := e.getJSON(target)
		var out []string
		for _, m := range items(t, body, "messages") {
			out = append(out, str(t, field(t, m, "item_hash")))
		}
		return out, body
	}
	full, _ := list("/api/v0/messages.json?pagination=0")
	if len(full) != 25 {
		t.Fatalf("pagination=0 gave %d messages", len(full))
	}
	p2, body := list("/api/v0/messages.json?pagination=10&page=2")
	if !reflect.DeepEqual(p2, full[10:20]) || num(t, field(t, body, "pagination_total")) != 25 || num(t, field(t, body, "pagination_page")) != 2 {
		t.Errorf("page 2: %v %s", p2, body)
	}
	p3, body := list("/api/v0/messages/page/3.json?pagination=10&page=1")
	if !reflect.DeepEqual(p3, full[20:]) || num(t, field(t, body, "pagination_page")) != 3 || num(t, field(t, body, "pagination_total")) != 25 {
		t.Errorf("/messages/page/3.json: %v %s", p3, body)
	}
	// Cursor mode: the same order, page by page.
	var got []string
	cursor := ""
	for i := 0; ; i++ {
		if i > 5 {
			t.Fatal("cursor pagination does not end")
		}
		page, body := list("/api/v0/messages.json?pagination=7&cursor=" + url.QueryEscape(cursor))
		wantKeys(t, "cursor page", body, "messages", "pagination_per_page", "has_more", "next_cursor")
		got = append(got, page...)
		next := field(t, body, "next_cursor")
		hasMore := string(field(t, body, "has_more"))
		if string(next) == "null" {
			if hasMore != "false" {
				t.Errorf("last page has_more = %s", hasMore)
			}
			break
		}
		if hasMore != "true" {
			t.Errorf("has_more = %s with a next cursor", hasMore)
		}
		cursor = str(t, next)
	}
	if !reflect.DeepEqual(got, full) {
		t.Errorf("cursor pages %v\nwant %v", got, full)
	}
}

// messageKeys are the keys of a processed message in GET /messages/{hash}.
var messageKeys = []string{"sender", "chain", "signature", "type", "item_content", "item_type", "item_hash", "time",
	"channel", "content", "confirmed", "confirmations"}

func TestGetMessage(t *testing.T) {
	e := newEnv(t)
	processed := newRec(rec{sender: "0xA", time: 1700000000.25, channel: "c", ptype: "note", salt: "p"})
	removing := newRec(rec{sender: "0xA", time: 2, ptype: "note", status: store.StatusRemoving, salt: "r"})
	forgotten := newRec(rec{typ: message.TypeStore, sender: "0xA", time: 3, fileHash: hashOf("f"), salt: "f"})
	pending := newRec(rec{sender: "0xA", time: 1700000004.5, ptype: "note", salt: "pe"})
	rejected := hashOf("rejected")
	forget1, forget2 := hashOf("forget1"), hashOf("forget2")
	e.insert(processed, removing, forgotten)
	e.update(func(tx store.Tx) error {
		if err := tx.Forget(forgotten.ItemHash, forget1, 100); err != nil {
			return err
		}
		if err := tx.Forget(forgotten.ItemHash, forget2, 200); err != nil {
			return err
		}
		return tx.Reject(&store.Rejected{ItemHash: rejected, Message: json.RawMessage(`{"item_hash":"x","extra":[1,2]}`),
			ErrorCode: message.CodePermissionDenied, Details: json.RawMessage(`{"errors":["no"]}`), ReceptionTime: 1700000000})
	})
	m := pending.Message
	if err := e.db.AddPending(t.Context(), []*store.Pending{{Message: &m, ReceptionTime: 1700000005, NextAttempt: 1}}); err != nil {
		t.Fatal(err)
	}

	body := e.getJSON("/api/v0/messages/" + processed.ItemHash + "?hashes%5B%5D=" + processed.ItemHash)
	wantKeys(t, "processed", body, "status", "item_hash", "reception_time", "message")
	msg := field(t, body, "message")
	wantKeys(t, "processed message", msg, messageKeys...)
	if str(t, field(t, body, "status")) != "processed" || str(t, field(t, msg, "item_hash")) != processed.ItemHash ||
		!bytes.Equal(field(t, msg, "content"), []byte(processed.ItemContent)) || string(field(t, msg, "time")) != "1700000000.25" {
		t.Errorf("processed: %s", body)
	}
	if got := str(t, field(t, body, "reception_time")); got != "2023-11-14T22:13:20.750000Z" {
		t.Errorf("reception_time %q", got)
	}

	body = e.getJSON("/api/v0/messages/" + removing.ItemHash)
	wantKeys(t, "removing", body, "status", "item_hash", "reception_time", "message", "reason")
	if str(t, field(t, body, "reason")) != "balance_insufficient" {
		t.Errorf("removing reason: %s", body)
	}

	body = e.getJSON("/api/v0/messages/" + forgotten.ItemHash)
	wantKeys(t, "forgotten", body, "status", "item_hash", "reception_time", "message", "forgotten_by")
	wantKeys(t, "forgotten message", field(t, body, "message"), "sender", "chain", "signature", "type", "item_type",
		"item_hash", "time", "channel", "owner", "payment_type", "size", "forgotten_at")
	var by []string
	json.Unmarshal(field(t, body, "forgotten_by"), &by)
	if !reflect.DeepEqual(by, []string{forget1, forget2}) || str(t, field(t, body, "message", "item_hash")) != forgotten.ItemHash {
		t.Errorf("forgotten: %s", body)
	}

	body = e.getJSON("/api/v0/messages/" + pending.ItemHash)
	wantKeys(t, "pending", body, "status", "item_hash", "reception_time", "messages")
	pm := items(t, body, "messages")
	if len(pm) != 1 {
		t.Fatalf("pending copies: %s", body)
	}
	wantKeys(t, "pending message", pm[0], "sender", "chain", "signature", "type", "item_content", "item_type", "item_hash",
		"time", "channel", "content", "reception_time")
	if got := str(t, field(t, pm[0], "time")); got != "2023-11-14T22:13:24.500000Z" {
		t.Errorf("pending time %q, want an ISO string", got)
	}
	if str(t, field(t, body, "status")) != "pending" || str(t, field(t, pm[0], "item_hash")) != pending.ItemHash {
		t.Errorf("pending: %s", body)
	}

	body = e.getJSON("/api/v0/messages/" + rejected)
	wantKeys(t, "rejected", body, "status", "item_hash", "reception_time", "message", "error_code", "details")
	if string(field(t, body, "message")) != `{"item_hash":"x","extra":[1,2]}` || string(field(t, body, "error_code")) != "2" ||
		string(field(t, body, "details")) != `{"errors":["no"]}` {
		t.Errorf("rejected: %s", body)
	}

	e.wantStatus("/api/v0/messages/"+hashOf("unknown"), 404)
	e.wantStatus("/api/v0/messages/not-a-hash", 400)
	e.wantStatus("/api/v0/messages/"+strings.ToUpper(processed.ItemHash), 400)

	// /status
	body = e.getJSON("/api/v0/messages/" + forgotten.ItemHash + "/status")
	wantKeys(t, "status", body, "status", "item_hash", "reception_time")
	if str(t, field(t, body, "status")) != "forgotten" {
		t.Errorf("status: %s", body)
	}
	e.wantStatus("/api/v0/messages/"+hashOf("unknown")+"/status", 404)
	e.wantStatus("/api/v0/messages/zz/status", 400)
}

func TestMessageContent(t *testing.T) {
	e := newEnv(t)
	post := newRec(rec{sender: "0xA", time: 1, ptype: "note", content: `{"title": "hi", "n": [1, 2]}`})
	agg := newRec(rec{typ: message.TypeAggregate, sender: "0xA", time: 2, key: "k", content: `{"a": 1}`})
	removing := newRec(rec{sender: "0xA", time: 3, ptype: "note", status: store.StatusRemoving, salt: "r"})
	e.insert(post, agg, removing)
	if got := e.getJSON("/api/v0/messages/" + post.ItemHash + "/content"); string(got) != `{"title": "hi", "n": [1, 2]}` {
		t.Errorf("POST content: %s", got)
	}
	if got := e.getJSON("/api/v0/messages/" + agg.ItemHash + "/content"); string(got) != agg.ItemContent {
		t.Errorf("AGGREGATE content: %s", got)
	}
	e.wantStatus("/api/v0/messages/"+removing.ItemHash+"/content", http.StatusUnprocessableEntity)
	e.wantStatus("/api/v0/messages/"+hashOf("x")+"/content", 404)
	e.wantStatus("/api/v0/messages/"+post.ItemHash+"/other", 404)
}

func TestListForgottenMessages(t *testing.T) {
	e := newEnv(t)
	r := newRec(rec{sender: "0xA", time: 5, ptype: "t"})
	e.insert(r)
	e.update(func(tx store.Tx) error { return tx.Forget(r.ItemHash, hashOf("f"), 9) })
	body := e.getJSON("/api/v0/messages.json?msgStatuses=forgotten")
	msgs := items(t, body, "messages")
	if len(msgs) != 1 || num(t, field(t, body, "pagination_total")) != 1 {
		t.Fatalf("forgotten list: %s", body)
	}
	wantKeys(t, "forgotten item", msgs[0], "sender", "chain", "signature", "type", "item_type", "item_hash", "time",
		"channel", "owner", "payment_type", "size", "forgotten_at")
	if str(t, field(t, msgs[0], "payment_type")) != "hold" || num(t, field(t, msgs[0], "forgotten_at")) != 9 {
		t.Errorf("forgotten item: %s", msgs[0])
	}
	if body := e.getJSON("/api/v0/messages.json"); len(items(t, body, "messages")) != 0 {
		t.Errorf("forgotten message listed by default: %s", body)
	}
}

// BenchmarkMessagesJSON measures GET /api/v0/messages.json (one page of 20
// with its total, serialised) over 100,000 messages from 1,000 senders in
// 50 channels.
func BenchmarkMessagesJSON(b *testing.B) {
	e := newEnv(b)
	e.insertN(100_000, func(i int) rec {
		return rec{sender: fmt.Sprintf("0x%040x", i*7%1000), channel: fmt.Sprintf("CH-%02d", i%50),
			time: float64(1600000000 + i), ptype: "bench", salt: fmt.Sprint(i)}
	}, nil)
	for _, q := range []string{"", "addresses=" + fmt.Sprintf("0x%040x", 123), "channels=CH-07"} {
		b.Run("q="+q, func(b *testing.B) {
			for b.Loop() {
				res := e.do(http.MethodGet, "/api/v0/messages.json?pagination=20&"+q)
				if res.StatusCode != 200 {
					b.Fatal(res.Status)
				}
			}
		})
	}
}
